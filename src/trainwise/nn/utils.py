"""Gradient clipping and other parameter utilities (``trainwise.nn.utils``).

Clipping guards against exploding gradients (seed 002 "Practical Techniques:
Gradient Clipping"; Pascanu, Mikolov & Bengio, "On the difficulty of training
recurrent neural networks", 2013): call it between ``backward()`` and
``optimizer.step()``. Same names, arguments and numbers as
``torch.nn.utils``; the norms are returned as Python floats.
"""
from __future__ import annotations

import math

from ..backend import xp
from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm"]


def _params(parameters, owner: str) -> list:
    """A list of Tensors from a Tensor or an iterable of Tensors (e.g. ``model.parameters()``)."""
    if isinstance(parameters, Tensor):
        return [parameters]
    try:
        ps = list(parameters)
    except TypeError:
        raise TypeError(
            f"{owner}: 'parameters' must be a Tensor or an iterable of Tensors; got {type(parameters).__name__}"
        ) from None
    for i, p in enumerate(ps):
        if not isinstance(p, Tensor):
            raise TypeError(f"{owner}: 'parameters' must hold Tensors; item {i} is a {type(p).__name__}")
    return ps


def _norm_type(norm_type, owner: str) -> float:
    try:
        p = float(norm_type)  # accepts "inf", as PyTorch
    except (TypeError, ValueError):
        p = math.nan
    if isinstance(norm_type, bool) or math.isnan(p) or p <= 0:
        raise ValueError(f"{owner}: 'norm_type' must be a positive number or inf; got {norm_type!r}")
    return p


def _nonnegative(value, name: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, xp.integer, xp.floating)) \
            or math.isnan(value) or value < 0:
        raise ValueError(f"{owner}: '{name}' must be a non-negative number; got {value!r}")
    return float(value)


def _total_norm(grads, p: float) -> float:
    """‖g‖_p over all arrays together: (Σ_i Σ_j |g_ij|^p)^(1/p); max_ij |g_ij| for p = inf."""
    if not grads:
        return 0.0
    if p == 2.0:
        return math.sqrt(sum(float(xp.vdot(g.ravel(), g.ravel())) for g in grads))
    if p == math.inf:
        return max(float(xp.abs(g).max(initial=0.0)) for g in grads)
    if p == 1.0:
        return sum(float(xp.abs(g).sum()) for g in grads)
    return sum(float((xp.abs(g) ** p).sum()) for g in grads) ** (1.0 / p)


def _scale(grads, coef: float) -> None:
    """g ← g · min(1, coef) in place; a NaN coef spreads NaN, as PyTorch's clamp does."""
    if coef < 1.0 or math.isnan(coef):
        with xp.errstate(invalid="ignore"):  # an inf norm gives coef 0 and inf · 0 = NaN, as in PyTorch
            for g in grads:
                g *= coef


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> float:
    """The p-norm of all ``tensors`` (Tensors or ndarrays) taken together, as one long vector.

    ‖g‖_p = (Σ_i ‖g_i‖_p^p)^(1/p), and max_i max |g_i| for ``norm_type=inf``
    (``torch.nn.utils.get_total_norm``). Pass gradients:
    ``get_total_norm([p.grad for p in model.parameters() if p.grad is not None])``.
    With ``error_if_nonfinite`` a NaN or infinite norm raises ``RuntimeError``.
    """
    p = _norm_type(norm_type, "get_total_norm")
    if isinstance(tensors, (Tensor, xp.ndarray)):
        tensors = [tensors]
    arrays = [t.data if isinstance(t, Tensor) else xp.asarray(t) for t in tensors]
    total = _total_norm(arrays, p)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"get_total_norm: the total norm of order {norm_type} of the gradients is {total}, which is not "
            f"finite; a NaN or inf reached the gradients. Set error_if_nonfinite=False to go on anyway."
        )
    return total


def clip_grads_with_norm_(parameters, max_norm: float, total_norm: float) -> None:
    """Scale every gradient in place by min(1, max_norm / (total_norm + 1e-6)), as PyTorch.

    The second half of ``clip_grad_norm_``, for a ``total_norm`` computed
    elsewhere (``get_total_norm``). A NaN ``total_norm`` makes every gradient
    NaN and an infinite one zeroes them, as in PyTorch.
    """
    ps = _params(parameters, "clip_grads_with_norm_")
    max_norm = _nonnegative(max_norm, "max_norm", "clip_grads_with_norm_")
    _scale([p.grad for p in ps if p.grad is not None], max_norm / (float(total_norm) + 1e-6))


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> float:
    """Rescale the gradients so that their global norm is at most ``max_norm``; returns the norm before.

    Norm clipping (seed 002), over all parameters' gradients as one vector:

        g ← g                          if ‖g‖ ≤ clip_norm
        g ← g · clip_norm / ‖g‖        otherwise

    computed as PyTorch does: g ← g · min(1, max_norm / (‖g‖ + 1e-6)), in
    place (the 1e-6 keeps a zero norm harmless). ‖g‖ is the ``norm_type``-norm
    (2, 1, any p > 0, or ``inf`` for the largest absolute value). Parameters
    whose ``grad`` is None are ignored; with none at all the norm is 0.0.

    Args:
        parameters: a Tensor or an iterable of Tensors (``model.parameters()``).
        max_norm: the largest allowed norm (the notes' clip_norm), ≥ 0.
        norm_type: p of the p-norm; ``float("inf")`` or ``"inf"`` for the max norm.
        error_if_nonfinite: raise ``RuntimeError`` if the norm is NaN or inf
            instead of (as PyTorch) filling the gradients with NaN or zeros.

    Returns the total norm before clipping, as a float (PyTorch returns a
    0-d tensor). Example, between ``loss.backward()`` and ``opt.step()``:
    ``clip_grad_norm_(model.parameters(), max_norm=1.0)``
    """
    ps = _params(parameters, "clip_grad_norm_")
    max_norm = _nonnegative(max_norm, "max_norm", "clip_grad_norm_")
    p = _norm_type(norm_type, "clip_grad_norm_")
    grads = [q.grad for q in ps if q.grad is not None]
    total = _total_norm(grads, p)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}, which is not "
            f"finite, so it cannot be clipped (a NaN or inf reached the gradients: look for an overflowing "
            f"loss or a too-large learning rate). Set error_if_nonfinite=False to clip anyway."
        )
    _scale(grads, max_norm / (total + 1e-6))
    return total


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient entry to [−clip_value, clip_value], in place.

    Value clipping (seed 002): g ← max(min(g, clip_value), −clip_value),
    elementwise, as ``torch.nn.utils.clip_grad_value_``. Unlike norm clipping
    it can change the gradient's direction. Parameters whose ``grad`` is None
    are ignored.

    Example: ``clip_grad_value_(model.parameters(), clip_value=0.5)``
    """
    ps = _params(parameters, "clip_grad_value_")
    c = _nonnegative(clip_value, "clip_value", "clip_grad_value_")
    for p in ps:
        if p.grad is not None:
            xp.clip(p.grad, -c, c, out=p.grad)
