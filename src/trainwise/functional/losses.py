"""Loss functions with PyTorch's names, arguments and numbers, each one fused node.

Every loss takes ``reduction`` = ``'mean'`` (default), ``'sum'`` or ``'none'``
(the per-element or per-sample losses), as ``torch.nn.functional``. The
docstrings give the per-element loss ℓ and its derivative; the backward is
written by hand beside the forward.

The checks come before any work: the target's shape against the input's, class
indices against the number of classes (the bad value is named), dtypes and the
reduction's name. A NaN in the input is not an error: it passes through to the
loss, as in PyTorch (the doctor's NaN guard reports it).

Targets may be Tensors or arrays; a floating target that requires grad gets a
gradient too (mse, l1, the two binary cross-entropies, cross-entropy with class
probabilities). ``weight`` and ``pos_weight`` are constants.
"""
from __future__ import annotations

import numbers

from ..backend import xp
from .activations import _sigmoid, exp_neg_abs
from ..tensor import Tensor, as_tensor, make

__all__ = [
    "mse_loss", "l1_loss", "cross_entropy", "nll_loss",
    "binary_cross_entropy_with_logits", "binary_cross_entropy",
]

_REDUCTIONS = ("mean", "sum", "none")
_BCE_EPS = float(xp.float32(1e-12))  # PyTorch's guard in BCE's backward is the float32 value of 1e-12


# ----------------------------------------------------------------- validation
def check_reduction(reduction, fn: str) -> str:
    """``reduction`` must be 'mean', 'sum' or 'none'."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: 'reduction' must be one of 'mean', 'sum', 'none'; got {reduction!r}")
    return reduction


def _input(x, fn: str) -> Tensor:
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if x.data.dtype.kind != "f":
        raise TypeError(f"{fn}: 'input' must be a floating-point Tensor; got dtype {x.data.dtype}")
    return x


def _float_target(target, x: Tensor, fn: str) -> Tensor:
    """The target as a Tensor of the input's dtype and shape (a cast keeps its gradient)."""
    td = target.data if isinstance(target, Tensor) else xp.asarray(target)
    if td.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: 'target' must hold numbers; got dtype {td.dtype}")
    if td.shape != x.data.shape:
        raise ValueError(
            f"{fn}: 'target' must have the input's shape {x.data.shape}; got {td.shape} "
            f"(broadcasting them would compare every pair of elements)"
        )
    if isinstance(target, Tensor):
        return as_tensor(target, x.data.dtype)
    return Tensor(td.astype(x.data.dtype, copy=False))


def _elementwise_weight(weight, x: Tensor, fn: str, name: str = "weight", same_shape: bool = False):
    """A constant weight array in the input's dtype, broadcastable to (or equal to) the input's shape."""
    if weight is None:
        return None
    w = weight.data if isinstance(weight, Tensor) else xp.asarray(weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: '{name}' must hold numbers; got dtype {w.dtype}")
    shape = x.data.shape
    if same_shape:
        if w.shape != shape:
            raise ValueError(f"{fn}: '{name}' must have the input's shape {shape}; got {w.shape}")
    else:
        try:
            ok = xp.broadcast_shapes(w.shape, shape) == shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{fn}: '{name}' of shape {w.shape} must broadcast to the input's shape {shape}")
    return w.astype(x.data.dtype, copy=False)


def _class_weight(weight, C: int, dtype, fn: str):
    if weight is None:
        return None
    w = weight.data if isinstance(weight, Tensor) else xp.asarray(weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: 'weight' must hold numbers; got dtype {w.dtype}")
    if w.shape != (C,):
        raise ValueError(f"{fn}: 'weight' must be 1-D with one weight per class, shape ({C},); got shape {w.shape}")
    return w.astype(dtype, copy=False)


def _smoothing(value, fn: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{fn}: 'label_smoothing' must be a number in [0, 1]; got {value!r}")
    return float(value)


def _ignore_index(value, fn: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, xp.integer)):
        raise ValueError(f"{fn}: 'ignore_index' must be an int; got {value!r}")
    return int(value)


def _class_input(x: Tensor, fn: str):
    """The input as (N, C, d1, ...) data; an unbatched (C,) input gets N = 1."""
    xd = x.data
    if xd.ndim == 0:
        raise ValueError(f"{fn}: 'input' must be (C,), (N, C) or (N, C, d1, ...); got a 0-d tensor")
    unbatched = xd.ndim == 1
    if unbatched:
        xd = xd[None]
    if xd.shape[1] == 0:
        raise ValueError(f"{fn}: 'input' must have at least one class on axis 1; got shape {x.data.shape}")
    return xd, unbatched


def _index_target(target, x: Tensor, xd, unbatched: bool, C: int, ignore_index: int, fn: str):
    """Class indices as intp of shape (N, d1, ...), checked against [0, C).

    Returns (indices with ignored entries replaced by 0, mask of kept entries or None).
    """
    td = target.data if isinstance(target, Tensor) else xp.asarray(target)
    if td.dtype.kind not in "iu":
        raise TypeError(f"{fn}: class-index 'target' must be an integer array; got dtype {td.dtype}")
    expected = x.data.shape[:1] + x.data.shape[2:] if not unbatched else ()
    if td.shape != expected:
        raise ValueError(
            f"{fn}: class-index 'target' must have shape {expected} for input of shape {x.data.shape} "
            f"(the input without its class axis 1); got {td.shape}"
        )
    td = td.astype(xp.intp, copy=False)
    if unbatched:
        td = td[None]
    if td.size == 0:
        return td, None
    lo, hi = int(td.min()), int(td.max())
    if lo >= 0 and hi < C:
        if lo <= ignore_index <= hi:
            return td, td != ignore_index
        return td, None
    keep = td != ignore_index
    bad = keep & ((td < 0) | (td >= C))
    if bad.any():
        value = int(td[bad][0])
        raise ValueError(
            f"{fn}: 'target' holds class index {value}, outside [0, {C}) for an input with {C} classes "
            f"on axis 1 (ignore_index={ignore_index})"
        )
    return xp.where(keep, td, 0), keep


def _class_axis(a):
    """Per-sample values (N, d1, ...) as (N, 1, d1, ...), to broadcast over the class axis."""
    return a if a.ndim == 0 else xp.expand_dims(a, 1)


def _mask_and_denominator(per, wy, keep, reduction):
    """Zero the ignored samples; the mean's divisor is the count of kept samples, or the sum
    of their class weights when there are weights (PyTorch's weighted mean)."""
    if keep is not None:
        per = xp.where(keep, per, 0)
    if reduction != "mean":
        return per, None
    if wy is None:
        return per, (per.size if keep is None else int(keep.sum()))
    return per, (wy if keep is None else wy[keep]).sum()


def _finish(per, reduction: str, denom, unbatched: bool):
    """Reduce per-sample losses; ``denom`` is what 'mean' divides by."""
    if reduction == "none":
        return xp.asarray(per[0]) if unbatched else per
    total = per.sum()
    if reduction == "sum":
        return xp.asarray(total)
    with xp.errstate(invalid="ignore", divide="ignore"):  # all targets ignored: NaN, as PyTorch
        return xp.asarray(total / denom)


def _sample_grad(g, reduction: str, denom, unbatched: bool):
    """dL/d(per-sample loss): g/denom for 'mean', g for 'sum', g itself for 'none'."""
    if reduction == "none":
        return g[None] if unbatched else g
    if reduction == "sum":
        return g
    with xp.errstate(invalid="ignore", divide="ignore"):
        return g / denom


# ---------------------------------------------------------------- regression
def mse_loss(input: Tensor, target, reduction: str = "mean", weight=None) -> Tensor:
    """Mean squared error: ℓ_i = (x_i - y_i)², averaged over all elements by default.

    ``reduction='mean'``: (1/n) Σ (x_i - y_i)²;  ``'sum'``: Σ (y - ŷ)², the
    notes' loss of seed 004 ("Loss = Σ (y - ŷ)²", a sum of squares and not a
    mean; see seeds/ERRATA.md);  ``'none'``: the squared errors.
    Optional ``weight`` (the input's shape, as PyTorch): ℓ_i = w_i(x_i - y_i)²
    and 'mean' divides by Σ w_i.

    dℓ_i/dx_i = 2(x_i - y_i) = -dℓ_i/dy_i.  Unlike PyTorch (which warns and
    broadcasts), a target of another shape is an error.

    Example: ``mse_loss(Tensor([1.0, 2.0]), Tensor([1.0, 4.0]))`` -> 2.0.
    """
    fn = "mse_loss"
    x = _input(input, fn)
    check_reduction(reduction, fn)
    t = _float_target(target, x, fn)
    w = _elementwise_weight(weight, x, fn, same_shape=True)
    d = x.data - t.data
    per = d * d
    if w is not None:
        per *= w
    denom = per.size if w is None else w.sum()
    out = _finish(per, reduction, denom, False)

    def backward(g):
        gd = _sample_grad(g, reduction, denom, False) * 2 * d
        if w is not None:
            gd = gd * w
        return (gd if x.requires_grad else None, -gd if t.requires_grad else None)

    return make(out, (x, t), backward, "mse_loss")


def l1_loss(input: Tensor, target, reduction: str = "mean", weight=None) -> Tensor:
    """Mean absolute error: ℓ_i = |x_i - y_i| ('mean' over all elements by default).

    dℓ_i/dx_i = sign(x_i - y_i) (0 where they are equal, as PyTorch) = -dℓ_i/dy_i.
    Optional ``weight`` as in ``mse_loss``. A target of another shape is an error.

    Example: ``l1_loss(Tensor([1.0, 2.0]), Tensor([1.0, 4.0]))`` -> 1.0.
    """
    fn = "l1_loss"
    x = _input(input, fn)
    check_reduction(reduction, fn)
    t = _float_target(target, x, fn)
    w = _elementwise_weight(weight, x, fn, same_shape=True)
    d = x.data - t.data
    per = xp.abs(d)
    if w is not None:
        per *= w
    denom = per.size if w is None else w.sum()
    out = _finish(per, reduction, denom, False)

    def backward(g):
        gd = _sample_grad(g, reduction, denom, False) * xp.sign(d)
        if w is not None:
            gd = gd * w
        return (gd if x.requires_grad else None, -gd if t.requires_grad else None)

    return make(out, (x, t), backward, "l1_loss")


# ----------------------------------------------------------- classification
def cross_entropy(input: Tensor, target, weight=None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of logits, log-softmax and negative log-likelihood fused in one node.

    ``input``: logits z of shape (C,), (N, C) or (N, C, d1, ...), classes on axis 1.
    With p = softmax(z) over the classes, the per-sample loss is

        ℓ_n = -Σ_c q_{n,c} · log p_{n,c},

    where the target distribution q is, for

    - class indices y (an integer array of shape (N,) or (N, d1, ...)):
      q_c = (1-ε)·w_y·[c = y] + (ε/C)·w_c, and ℓ_n = 0 where y = ``ignore_index``;
      'mean' divides by Σ_n w_{y_n} over the kept samples (by their count
      without ``weight``), as PyTorch;
    - class probabilities t (a floating array of the input's shape):
      q_c = w_c·((1-ε)·t_c + ε/C); 'mean' divides by the number of samples.

    ε = ``label_smoothing`` (Szegedy et al. 2016), w = ``weight`` (one per class,
    all 1 by default). Backward: dℓ_n/dz_{n,c} = p_c·Σ_k q_k - q_c (= p - onehot(y)
    without weights or smoothing); for probability targets dℓ_n/dt_c = -(1-ε)·w_c·log p_c.

    log p = (z - max z) - log Σ e^(z - max z), finite for logits of 1e4.

    Example: ``cross_entropy(Tensor([[2.0, 0.0]]), xp.array([0]))`` -> 0.1269.
    """
    fn = "cross_entropy"
    if (weight is None and input.__class__ is Tensor and target.__class__ is xp.ndarray
            and label_smoothing.__class__ in (float, int) and label_smoothing == 0
            and ignore_index.__class__ is int and (reduction == "mean" or reduction == "sum")
            and input.data.ndim == 2 and input.data.dtype.kind == "f"):
        # the training-loop case, before the general validation (the plain path checks the target)
        out = _cross_entropy_plain(input, input.data, target, input.data.shape[1], ignore_index, reduction)
        if out is not None:
            return out
    x = _input(input, fn)
    check_reduction(reduction, fn)
    eps = _smoothing(label_smoothing, fn)
    ignore_index = _ignore_index(ignore_index, fn)
    xd, unbatched = _class_input(x, fn)
    C = xd.shape[1]
    w = _class_weight(weight, C, xd.dtype, fn)
    wb = None if w is None else w.reshape((1, C) + (1,) * (xd.ndim - 2))
    td = target.data if isinstance(target, Tensor) else xp.asarray(target)
    if td.dtype.kind == "f":
        return _cross_entropy_probs(x, xd, target, unbatched, w, wb, eps, ignore_index, reduction)
    if w is None and eps == 0 and reduction != "none" and not unbatched and xd.ndim == 2:
        out = _cross_entropy_plain(x, xd, td, C, ignore_index, reduction)
        if out is not None:
            return out

    t, keep = _index_target(target, x, xd, unbatched, C, ignore_index, fn)
    z = xd - xd.max(axis=1, keepdims=True)
    e = xp.exp(z)
    se = e.sum(axis=1, keepdims=True)
    lse = xp.log(se)
    idx = xp.expand_dims(t, 1)
    per = (lse - xp.take_along_axis(z, idx, axis=1))[:, 0]  # -log p_y
    wy = None
    if w is not None:
        wy = w[t]
        per *= wy
    if eps > 0:
        # -Σ_c w_c log p_c = Σ_c w_c (lse - z_c)
        if w is None:
            smooth = (C * lse - z.sum(axis=1, keepdims=True))[:, 0]
        else:
            smooth = (lse * w.sum() - (z * wb).sum(axis=1, keepdims=True))[:, 0]
        per *= 1 - eps
        per += (eps / C) * smooth
    per, denom = _mask_and_denominator(per, wy, keep, reduction)
    out = _finish(per, reduction, denom, unbatched)

    def backward(g):
        gs = _sample_grad(g, reduction, denom, unbatched)
        if keep is not None:
            gs = xp.where(keep, gs, 0)
        a = gs * (1 - eps) if eps > 0 else gs  # weight of the true class in q, times the upstream gradient
        if wy is not None:
            a = a * wy
        total = a  # Σ_c q_c, times the upstream gradient
        if eps > 0:
            b = gs * (eps / C)
            total = a + b * (C if w is None else w.sum())
        grad = e / se
        grad *= _class_axis(total)
        at_y = xp.take_along_axis(grad, idx, axis=1)
        at_y -= _class_axis(a)
        xp.put_along_axis(grad, idx, at_y, axis=1)
        if eps > 0:
            grad -= _class_axis(b) if w is None else _class_axis(b) * wb
        return (grad[0] if unbatched else grad,)

    return make(out, (x,), backward, "cross_entropy")


_ROWS: dict = {}


def _cross_entropy_plain(x, xd, td, C, ignore_index, reduction):
    """The common case in a dozen array calls: (N, C) logits, N class indices all in [0, C)
    (so none is ``ignore_index``), no weight, no smoothing, 'mean' or 'sum'.

    ℓ = Σ_n (log Σ_c e^(z_nc − m_n) − (z_{n,y_n} − m_n)) [/ N];  dℓ/dz = (softmax(z) − onehot(y)) [/ N].
    Returns None when the target does not qualify (the general path then checks it and
    names any bad value).
    """
    N, C = xd.shape
    if td.shape != (N,) or td.dtype.kind not in "iu" or N == 0 or C == 0:
        return None
    # one reduction checks both ends: negative int64 indices are huge as uint64
    top = td.view(xp.uint64).max() if td.dtype == xp.int64 else td.max() if td.dtype.kind == "u" else None
    if top is None or top >= C or 0 <= ignore_index < C:
        return None
    rows = _ROWS.get(N)
    if rows is None:
        rows = _ROWS[N] = xp.arange(N)
    z = xd - xd.max(axis=1, keepdims=True)
    e = xp.exp(z)
    se = e.sum(axis=1)
    per = xp.log(se)
    per -= z[rows, td]  # -log p_y
    total = per.sum()
    out = total / N if reduction == "mean" else total

    def backward(g):
        grad = e / se[:, None]
        grad[rows, td] -= 1
        grad *= (g / N) if reduction == "mean" else g
        return (grad,)

    return make(out, (x,), backward, "cross_entropy")


def _cross_entropy_probs(x, xd, target, unbatched, w, wb, eps, ignore_index, reduction):
    fn = "cross_entropy"
    td = target.data if isinstance(target, Tensor) else xp.asarray(target)
    if td.shape != x.data.shape:
        raise ValueError(
            f"{fn}: a floating 'target' holds class probabilities and must have the input's shape "
            f"{x.data.shape}; got {td.shape} (for class indices pass an integer array)"
        )
    if ignore_index != -100:
        raise ValueError(f"{fn}: 'ignore_index' applies only to class-index targets; got {ignore_index} "
                         f"with a class-probability target")
    t = as_tensor(target, xd.dtype) if isinstance(target, Tensor) else Tensor(td.astype(xd.dtype, copy=False))
    C = xd.shape[1]
    tp = t.data[None] if unbatched else t.data
    q = tp * (1 - eps) + eps / C if eps > 0 else tp
    if w is not None:
        q = q * wb
    z = xd - xd.max(axis=1, keepdims=True)
    e = xp.exp(z)
    se = e.sum(axis=1, keepdims=True)
    logp = z - xp.log(se)
    per = -(q * logp).sum(axis=1)
    denom = per.size if reduction == "mean" else None
    out = _finish(per, reduction, denom, unbatched)

    def backward(g):
        gs = _class_axis(_sample_grad(g, reduction, denom, unbatched))
        gx = gt = None
        if x.requires_grad:
            gx = e / se
            gx *= q.sum(axis=1, keepdims=True)
            gx -= q
            gx *= gs
            if unbatched:
                gx = gx[0]
        if t.requires_grad:
            gt = logp * (-(1 - eps))
            if w is not None:
                gt *= wb
            gt *= gs
            if unbatched:
                gt = gt[0]
        return gx, gt

    return make(out, (x, t), backward, "cross_entropy")


def nll_loss(input: Tensor, target, weight=None, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities: ℓ_n = -w_{y_n} · x_{n, y_n}.

    ``input``: log-probabilities (from ``log_softmax``) of shape (C,), (N, C) or
    (N, C, d1, ...); ``target``: class indices of shape (N,) or (N, d1, ...).
    Samples with y = ``ignore_index`` contribute 0; 'mean' divides by
    Σ_n w_{y_n} over the kept samples, as PyTorch.
    dℓ_n/dx_{n,c} = -w_{y_n}·[c = y_n].  ``cross_entropy`` = ``nll_loss(log_softmax(z, 1))``.

    Example: ``nll_loss(Tensor([[-0.1, -2.4]]), xp.array([0]))`` -> 0.1.
    """
    fn = "nll_loss"
    x = _input(input, fn)
    check_reduction(reduction, fn)
    ignore_index = _ignore_index(ignore_index, fn)
    xd, unbatched = _class_input(x, fn)
    C = xd.shape[1]
    w = _class_weight(weight, C, xd.dtype, fn)
    t, keep = _index_target(target, x, xd, unbatched, C, ignore_index, fn)
    idx = xp.expand_dims(t, 1)
    per = -xp.take_along_axis(xd, idx, axis=1)[:, 0]
    wy = None
    if w is not None:
        wy = w[t]
        per *= wy
    per, denom = _mask_and_denominator(per, wy, keep, reduction)
    out = _finish(per, reduction, denom, unbatched)

    def backward(g):
        gs = _sample_grad(g, reduction, denom, unbatched)
        if keep is not None:
            gs = xp.where(keep, gs, 0)
        if wy is not None:
            gs = gs * wy
        grad = xp.zeros(xd.shape, dtype=xd.dtype)
        xp.put_along_axis(grad, idx, -_class_axis(xp.broadcast_to(gs, t.shape)), axis=1)
        return (grad[0] if unbatched else grad,)

    return make(out, (x,), backward, "nll_loss")


# ------------------------------------------------------------------- binary
def binary_cross_entropy_with_logits(input: Tensor, target, weight=None, reduction: str = "mean",
                                     pos_weight=None) -> Tensor:
    """Binary cross-entropy of logits x with targets y ∈ [0, 1], sigmoid fused in.

    ℓ = -w·[p_w·y·log σ(x) + (1 - y)·log(1 - σ(x))], computed in the stable form
    ℓ = w·[(1 - y)·x + l·softplus(-x)], l = 1 + (p_w - 1)·y, softplus(-x) =
    max(-x, 0) + log(1 + e^(-|x|)); without ``pos_weight`` (p_w = 1) this is
    max(x, 0) - x·y + log(1 + e^(-|x|)).

    dℓ/dx = w·[(1 - y) - l·(1 - σ(x))] = w·[l·σ(x) - p_w·y] (= w·(σ(x) - y) when p_w = 1);
    dℓ/dy = w·[-x + (p_w - 1)·softplus(-x)].

    Args: ``weight`` broadcasts to the input's shape; ``pos_weight`` (one per
    class, broadcast along the last axis) weighs the positive term, e.g.
    #negatives/#positives for an imbalanced class. 'mean' averages over elements.

    Example: ``binary_cross_entropy_with_logits(Tensor([0.0]), Tensor([1.0]))`` -> ln 2.
    """
    fn = "binary_cross_entropy_with_logits"
    x = _input(input, fn)
    check_reduction(reduction, fn)
    t = _float_target(target, x, fn)
    w = _elementwise_weight(weight, x, fn)
    pw = _elementwise_weight(pos_weight, x, fn, name="pos_weight")
    xd, yd = x.data, t.data
    # softplus(-x) = -log σ(x) = max(-x, 0) + log(1 + e^(-|x|))
    sp = exp_neg_abs(xd)
    xp.log1p(sp, out=sp)
    sp += xp.maximum(-xd, 0)
    if pw is None:
        per = (1 - yd) * xd
        per += sp
    else:
        lw = (pw - 1) * yd
        lw += 1
        per = (1 - yd) * xd + lw * sp
    if w is not None:
        per = per * w
    denom = per.size
    out = _finish(per, reduction, denom, False)

    def backward(g):
        gs = _sample_grad(g, reduction, denom, False)
        if w is not None:
            gs = gs * w
        gx = gy = None
        if x.requires_grad:
            s = _sigmoid(xd)
            gx = (s - yd) if pw is None else lw * s - pw * yd  # = (1 - y) - l(1 - σ), without its cancellation
            gx = gx * gs
        if t.requires_grad:
            gy = -xd if pw is None else (pw - 1) * sp - xd
            gy = gy * gs
        return gx, gy

    return make(out, (x, t), backward, "binary_cross_entropy_with_logits")


def binary_cross_entropy(input: Tensor, target, weight=None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities x ∈ [0, 1] with targets y:

    ℓ = -w·[y·log x + (1 - y)·log(1 - x)], each log clamped at -100 as PyTorch
    (so x = 0 or 1 gives a finite loss).
    dℓ/dx = w·(x - y) / max(x(1 - x), 1e-12) (PyTorch's guard);
    dℓ/dy = w·[log(1 - x) - log x].

    Prefer ``binary_cross_entropy_with_logits`` on logits: it is stable where
    the sigmoid saturates. ``weight`` broadcasts to the input's shape.

    Example: ``binary_cross_entropy(Tensor([0.5]), Tensor([1.0]))`` -> ln 2.
    """
    fn = "binary_cross_entropy"
    x = _input(input, fn)
    check_reduction(reduction, fn)
    t = _float_target(target, x, fn)
    w = _elementwise_weight(weight, x, fn)
    xd, yd = x.data, t.data
    outside = (xd < 0) | (xd > 1)
    if outside.any():
        raise ValueError(
            f"{fn}: 'input' must hold probabilities in [0, 1]; got {float(xd[outside].flat[0])} "
            f"(for logits use binary_cross_entropy_with_logits)"
        )
    with xp.errstate(divide="ignore"):
        log_x = xp.log(xd)
        log_1mx = xp.log1p(-xd)
    per = (-yd) * xp.maximum(log_x, -100)
    per -= (1 - yd) * xp.maximum(log_1mx, -100)
    if w is not None:
        per *= w
    denom = per.size
    out = _finish(per, reduction, denom, False)

    def backward(g):
        gs = _sample_grad(g, reduction, denom, False)
        if w is not None:
            gs = gs * w
        gx = gy = None
        if x.requires_grad:
            gx = (xd - yd) / xp.maximum(xd * (1 - xd), _BCE_EPS)
            gx *= gs
        if t.requires_grad:
            with xp.errstate(invalid="ignore"):
                gy = (log_1mx - log_x) * gs
        return gx, gy

    return make(out, (x, t), backward, "binary_cross_entropy")
