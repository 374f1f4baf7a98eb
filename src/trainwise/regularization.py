"""Weight penalties and constraints: L1, L2, max-norm, and decay parameter groups.

Seed 002 ("Method 1: Regularization"): minimize L_reg(w) = L(w) + λ·R(w), which
prefers small weights, i.e. simpler models (Occam's razor). trainwise uses

    L1:  λ·Σ|w|            (seed 003, "L1 regularization"; Lasso)
    L2:  (λ/2)·Σw²         (seed 002, "L2 Regularization"; Ridge)

The 1/2 in L2 makes its gradient exactly λw, so with plain gradient descent

    w ← w − η(∂L/∂w + λw) = (1 − ηλ)·w − η·∂L/∂w            (seeds 001, 002)

The correct reading of that update (seed 001's prose around it is muddled,
see ``seeds/ERRATA.md``): before each gradient step the weight is multiplied
by the factor (1 − ηλ), hence the name weight decay. A larger learning rate
η or a larger λ makes the factor smaller, i.e. shrinks the weights *more* per
step; it must stay in (0, 1), so ηλ < 1. The decay is a pull towards zero
that the data gradient must keep overcoming; it does not depend on whether
the weights are currently "high" or "low".

Relation to optimizers: PyTorch's ``SGD(weight_decay=λ)`` (and ``Adam``'s)
*couples* the decay by adding λw to the gradient, which is exactly the
gradient of ``l2_penalty(params, λ)``; use one or the other, not both. With
adaptive methods the coupled form is divided by √v̂ like the rest of the
gradient, so ``AdamW`` *decouples* it (w ← w − ηλw applied directly;
Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization"). Seed 003
writes the L2 term as λ·Σw² (without 1/2); its λ is half of ours.

Which parameters are penalized: by default only *weights*, not biases or
normalization parameters (biases do not make a model more sensitive to its
input, and penalizing batch norm's γ fights the normalization). The rule for a
Module: a parameter is a weight if its own name contains ``"weight"``
(``weight``, ``in_proj_weight``, ``weight_ih_l0``), it has at least 2 axes
(matrices and convolution kernels; this also excludes PReLU's slopes), and
the module that owns it is not a normalization layer (BatchNorm*, LayerNorm,
or any class whose name contains ``"Norm"``). This is the rule of nanoGPT's
``configure_optimizers`` (2-D tensors decay, biases and norms do not), stated
by name. Embedding tables are 2-D weights and are penalized. Pass an explicit
list of parameters to penalize exactly those.
"""
from __future__ import annotations

import math
import numbers

from .backend import get_default_dtype, xp
from .nn.module import Module
from .nn.normalization import LayerNorm, _BatchNorm
from .tensor import Tensor, make, no_grad

__all__ = ["l1_penalty", "l2_penalty", "max_norm_", "decay_parameter_groups", "split_weights"]


def _is_norm_layer(m: Module) -> bool:
    return isinstance(m, (_BatchNorm, LayerNorm)) or "Norm" in type(m).__name__


def split_weights(module: Module):
    """Split ``module``'s parameters into (weights, others), each a list of (name, parameter).

    Weights: own name contains "weight", ndim ≥ 2, owner not a normalization
    layer (see the module docstring). Others: biases, normalization γ and β,
    PReLU slopes, and any other parameter. Every parameter appears once.

    Example: ``[n for n, _ in split_weights(model)[0]]`` → ``["0.weight", "2.weight"]``.
    """
    if not isinstance(module, Module):
        raise TypeError(f"split_weights: 'module' must be a Module; got {type(module).__name__}")
    weights, others, seen = [], [], set()
    for prefix, m in module.named_modules():
        norm = _is_norm_layer(m)
        for name, p in m._parameters.items():
            if p is None or id(p) in seen:
                continue
            seen.add(id(p))
            full = f"{prefix}.{name}" if prefix else name
            if "weight" in name and p.data.ndim >= 2 and not norm:
                weights.append((full, p))
            else:
                others.append((full, p))
    return weights, others


def _params(fn: str, params_or_module) -> list:
    """The tensors a penalty or constraint acts on: a Module's weights, or exactly the ones given."""
    if isinstance(params_or_module, Module):
        return [p for _, p in split_weights(params_or_module)[0]]
    if isinstance(params_or_module, Tensor):
        return [params_or_module]
    try:
        params = list(params_or_module)
    except TypeError:
        raise TypeError(
            f"{fn}: 'params_or_module' must be a Module, a Tensor or an iterable of Tensors; "
            f"got {type(params_or_module).__name__}"
        ) from None
    for p in params:
        if not isinstance(p, Tensor) or p.data.dtype.kind != "f":
            what = type(p).__name__ if not isinstance(p, Tensor) else f"a Tensor of dtype {p.data.dtype}"
            raise TypeError(f"{fn}: every parameter must be a floating Tensor; got {what}")
    return params


def _check_nonneg(fn: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) or value < 0:
        raise ValueError(f"{fn}: '{name}' must be a non-negative number; got {value!r}")
    return float(value)


def _penalty(params, value_fn, grad_fn, op):
    """One graph node: a scalar Σ_p value_fn(p) with the per-parameter gradients grad_fn(p)·g."""
    if not params:
        return Tensor(xp.zeros((), dtype=get_default_dtype()))
    dt = xp.result_type(*[p.data for p in params])
    total = 0.0
    for p in params:
        total += float(value_fn(p.data))
    out = xp.asarray(total, dtype=dt)

    def backward(g):
        return tuple(grad_fn(p.data, g) if p.requires_grad else None for p in params)

    return make(out, tuple(params), backward, op)


def l1_penalty(params_or_module, lam: float) -> Tensor:
    """The L1 penalty λ·Σ|w| as a scalar Tensor, to add to the loss (seed 003; Lasso).

    Gradient: λ·sign(w) (0 at w = 0, as ``torch.abs``), which pushes weights
    to exactly zero and so selects features. ``params_or_module``: a Module
    (its weights, by the rule in the module docstring), a Tensor, or an
    iterable of Tensors (penalized as given). ``lam`` is λ ≥ 0.
    PyTorch has no built-in L1 option; this is the usual hand-written term.

    Example: ``loss = F.cross_entropy(model(x), y) + l1_penalty(model, 1e-4)``.
    """
    lam = _check_nonneg("l1_penalty", "lam", lam)
    params = _params("l1_penalty", params_or_module)
    return _penalty(
        params,
        lambda w: lam * xp.abs(w).sum(),
        lambda w, g: xp.sign(w) * (lam * g),
        "l1_penalty",
    )


def l2_penalty(params_or_module, lam: float) -> Tensor:
    """The L2 penalty (λ/2)·Σw² as a scalar Tensor, to add to the loss (seed 002; Ridge).

    Gradient: λ·w, the same term ``torch.optim.SGD(weight_decay=λ)`` adds to the
    gradient (coupled weight decay), so plain gradient descent becomes
    w ← (1 − ηλ)·w − η·∂L/∂w: each step first shrinks the weight by the factor
    (1 − ηλ), more for larger η or λ (see the module docstring and
    ``seeds/ERRATA.md`` on seed 001's prose). Seed 003 writes λ·Σw²: its λ is
    half of this one. ``params_or_module``: a Module (its weights only), a
    Tensor, or an iterable of Tensors. ``lam`` is λ ≥ 0.

    Example: ``loss = F.mse_loss(model(x), y) + l2_penalty(model, 5e-4)``.
    """
    lam = _check_nonneg("l2_penalty", "lam", lam)
    params = _params("l2_penalty", params_or_module)

    def value(w):
        flat = w.reshape(-1)
        return (0.5 * lam) * xp.dot(flat, flat)

    return _penalty(params, value, lambda w, g: w * (lam * g), "l2_penalty")


def max_norm_(params_or_module, max_value: float, axis=None) -> float:
    """Constrain each unit's incoming weight vector to ‖w‖₂ ≤ ``max_value``, in place.

    Srivastava et al. 2014 ("Dropout: A Simple Way to Prevent Neural Networks
    from Overfitting", section 5.1) pair dropout with this max-norm constraint:
    after each update, a unit whose incoming weights have norm c > max_value is
    rescaled, w ← w·max_value/(c + 1e-7); others are left alone. Call it after
    ``optimizer.step()``.

    ``axis``: the axes the norm is taken over (Keras's ``MaxNorm(axis)``
    meaning). None (default) means all axes but 0, i.e. for PyTorch's
    (out_features, in_features) and (out, in, kH, kW) layouts, each output
    unit's incoming weights; a 1-D tensor is treated as one vector. With the
    default this equals ``torch.renorm(w, 2, 0, max_value)`` (whose ``dim`` is
    the axis that is *kept*). ``params_or_module``: a Module (its weights, see
    the module docstring), a Tensor or an iterable of Tensors.

    Returns the largest norm found before rescaling (a float), e.g. for logging.

    Example: ``optimizer.step(); max_norm_(model, 3.0)``.
    """
    if isinstance(max_value, bool) or not isinstance(max_value, numbers.Real) or not max_value > 0:
        raise ValueError(f"max_norm_: 'max_value' must be a positive number; got {max_value!r}")
    params = _params("max_norm_", params_or_module)
    largest = 0.0
    with no_grad():
        for p in params:
            w = p.data
            if axis is None:
                axes = tuple(range(1, w.ndim)) if w.ndim >= 2 else tuple(range(w.ndim))
            else:
                axes = (axis,) if isinstance(axis, (int, xp.integer)) else tuple(axis)
                if any(not -w.ndim <= a < w.ndim for a in axes):
                    raise ValueError(f"max_norm_: 'axis' {axis!r} is out of range for a weight of shape {w.shape}")
            norms = xp.sqrt(xp.sum(xp.square(w), axis=axes, keepdims=True))
            if norms.size:
                largest = max(largest, float(norms.max()))
            over = norms > max_value
            if over.any():
                w *= xp.where(over, max_value / (norms + 1e-7), 1.0).astype(w.dtype, copy=False)
    return largest


def decay_parameter_groups(model: Module, weight_decay: float) -> list:
    """Two optimizer parameter groups: weights with ``weight_decay``, everything else with 0.

    ``[{"params": weights, "weight_decay": weight_decay}, {"params": others, "weight_decay": 0.0}]``,
    the split used with AdamW so that biases and normalization parameters
    are not decayed (nanoGPT's ``configure_optimizers``; Loshchilov & Hutter
    2019). Weights follow the rule in the module docstring; either list may be
    empty (PyTorch's optimizers accept an empty group). Works with trainwise's
    and PyTorch's optimizers alike.

    Example: ``AdamW(decay_parameter_groups(model, 0.05), lr=1e-3)``.
    """
    if not isinstance(model, Module):
        raise TypeError(f"decay_parameter_groups: 'model' must be a Module; got {type(model).__name__}")
    wd = _check_nonneg("decay_parameter_groups", "weight_decay", weight_decay)
    weights, others = split_weights(model)
    return [
        {"params": [p for _, p in weights], "weight_decay": wd},
        {"params": [p for _, p in others], "weight_decay": 0.0},
    ]
