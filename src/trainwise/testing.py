"""Checking gradients against central finite differences (float64)."""
from __future__ import annotations

import numpy as np

from .tensor import Tensor


def numerical_grad(f, arrays, index, eps=1e-6):
    """d f(arrays) / d arrays[index] by central differences; ``f`` returns a float."""
    x = arrays[index]
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        i = it.multi_index
        orig = x[i]
        x[i] = orig + eps
        fp = f()
        x[i] = orig - eps
        fm = f()
        x[i] = orig
        grad[i] = (fp - fm) / (2 * eps)
    return grad


def relative_error(a, b) -> float:
    """‖a - b‖ / max(‖a‖, ‖b‖, 1e-12): 0 for equal arrays, ~1 for unrelated ones."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    denom = max(np.linalg.norm(a), np.linalg.norm(b), 1e-12)
    return float(np.linalg.norm(a - b) / denom)


def gradcheck(fn, *arrays, params=(), eps=1e-6, seed=0):
    """Compare autograd with finite differences for ``fn(*tensors)``.

    ``arrays`` are float64 ndarrays, wrapped as Tensors with requires_grad;
    ``params`` are extra Tensors (e.g. a module's parameters) also checked.
    The output is reduced with a fixed random projection, so every output
    element's gradient counts. Returns the largest relative error.
    """
    tensors = [Tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays]
    params = list(params)
    for p in params:
        if p.data.dtype != np.float64:
            raise TypeError(f"gradcheck: 'params' must be float64 (call module.double()); got {p.data.dtype}")
        p.grad = None  # a gradient left from an earlier backward would be counted twice
    out = fn(*tensors)
    rng = np.random.default_rng(seed)
    proj = rng.standard_normal(out.shape)
    (out * Tensor(proj)).sum().backward()

    def f():
        return float((fn(*tensors).data * proj).sum())

    worst = 0.0
    for t in tensors + params:
        if t.grad is None:
            raise AssertionError(f"no gradient reached an input of shape {t.shape}")
        num = numerical_grad(f, [t.data], 0, eps)
        worst = max(worst, relative_error(t.grad, num))
    return worst
