"""Batch normalization and layer normalization, each one fused graph node.

Both standardize a group of values and then apply a learnable affine map
(seed 002, "Batch Normalization (BN)" and "Layer Normalization (LN)"):

    x̂ = (x - μ) / √(σ² + ε),      y = γ·x̂ + β

They differ in which values form the group. Batch norm (Ioffe & Szegedy 2015,
"Batch Normalization: Accelerating Deep Network Training by Reducing Internal
Covariate Shift") takes μ_B, σ²_B per channel over the batch (and any spatial
axes); layer norm (Ba, Kiros & Hinton 2016, "Layer Normalization") takes μ_L,
σ²_L per sample over its trailing feature axes, so it does not depend on the
batch size and suits recurrent networks.

With N the number of values in a group and G = dL/dy, both share the backward
(derived once, instead of recorded as a dozen small ops):

    dγ = Σ G·x̂,   dβ = Σ G,
    dx = (1/N)·(γ/σ)·(N·G − Σ G − x̂·Σ(G·x̂))         with σ = √(σ² + ε)

where the sums run over the group (for layer norm γ is elementwise, so γ·G
replaces G inside the bracket). σ² is the biased (divide-by-N) variance.
"""
from __future__ import annotations

import math
import numbers

from ..backend import xp
from ..tensor import Tensor, make
from ._sums import column_sums, row_sums

__all__ = ["batch_norm", "layer_norm", "add_layer_norm"]


def _channel_dot(a, b):
    """Σ a·b per channel (axis 1), as a vector: einsum makes no temporary the size of the input."""
    s = "abcdefghijklmnopqrstuvwxyz"[: a.ndim]
    return xp.einsum(f"{s},{s}->b", a, b)


def _as_array(value):
    return value.data if isinstance(value, Tensor) else value


def _check_vector(fn: str, name: str, value, size: int, what: str):
    if value is None:
        return
    shape = getattr(_as_array(value), "shape", None)
    if shape != (size,):
        raise ValueError(f"{fn}: '{name}' must have shape ({size},), one value per {what}; got shape {shape}")


def batch_norm(x: Tensor, running_mean=None, running_var=None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Batch normalization over axis 1 (channels) of an input (N, C, *) as one graph node.

    For each channel c, over the N·(spatial) values of the batch (seed 002,
    "Batch Normalization (BN)"; Ioffe & Szegedy 2015):

        μ_B = mean(x),  σ²_B = mean((x − μ_B)²),
        x̂ = (x − μ_B) / √(σ²_B + ε),   y = γ·x̂ + β

    In training mode (``training=True``) the batch statistics are used and the
    running statistics, when given, are updated in place with PyTorch's rule

        running_mean ← (1 − momentum)·running_mean + momentum·μ_B
        running_var  ← (1 − momentum)·running_var  + momentum·σ²_B·N/(N − 1)

    (the running variance takes the *unbiased* batch variance, as PyTorch).
    ``momentum`` must be a number here; ``BatchNorm*(momentum=None)`` computes
    the cumulative-average factor 1/num_batches_tracked and passes it in.
    In evaluation mode the running statistics replace μ_B and σ²_B, and the
    layer is the per-channel affine map y = x·γ/σ + (β − μ·γ/σ).

    Backward (training mode), with sums over the channel's N values:
    dx = (1/N)·(γ/σ)·(N·dy − Σdy − x̂·Σ(dy·x̂)),  dγ = Σ dy·x̂,  dβ = Σ dy.

    Arguments: ``x`` of shape (N, C) or (N, C, L) or (N, C, H, W) or any (N, C, *);
    ``running_mean``, ``running_var`` ndarrays of shape (C,) or None (updated
    in place in training mode; required in evaluation mode); ``weight`` (γ)
    and ``bias`` (β) Tensors of shape (C,) or None; ``eps`` added to the
    variance. Same signature and numbers as ``torch.nn.functional.batch_norm``.

    Example: ``y = batch_norm(x, rm, rv, gamma, beta, training=True)``.
    """
    xd = x.data
    if xd.ndim < 2:
        raise ValueError(f"batch_norm: 'input' must be at least 2-D (N, C, *); got shape {xd.shape}")
    C = xd.shape[1]
    _check_vector("batch_norm", "running_mean", running_mean, C, f"channel (input has C={C})")
    _check_vector("batch_norm", "running_var", running_var, C, f"channel (input has C={C})")
    _check_vector("batch_norm", "weight", weight, C, f"channel (input has C={C})")
    _check_vector("batch_norm", "bias", bias, C, f"channel (input has C={C})")
    if not isinstance(eps, numbers.Real) or not eps > 0:
        raise ValueError(f"batch_norm: 'eps' must be a positive number; got {eps!r}")
    axes = (0,) + tuple(range(2, xd.ndim))
    n = xd.size // C if C else 0
    bshape = (1, C) + (1,) * (xd.ndim - 2)
    w = weight.data.reshape(bshape) if weight is not None else None
    b = bias.data.reshape(bshape) if bias is not None else None

    if training:
        if n <= 1:
            raise ValueError(
                f"batch_norm: Expected more than 1 value per channel when training, got input of shape "
                f"{xd.shape}; use a batch of at least 2 samples (or call .eval())"
            )
        if running_mean is not None or running_var is not None:
            if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) or not 0 <= momentum <= 1:
                raise ValueError(f"batch_norm: 'momentum' must be a number in [0, 1]; got {momentum!r}")
        mean = xd.sum(axis=axes, keepdims=True) / n
        xhat = xd - mean
        var = (_channel_dot(xhat, xhat) / n).reshape(bshape)
        inv_std = 1.0 / xp.sqrt(var + eps)
        xhat *= inv_std  # xhat held x − μ; now it holds x̂ (one buffer, no copy)
        if running_mean is not None:
            rm = _as_array(running_mean)
            rm *= 1.0 - momentum
            rm += momentum * mean.reshape(C)
        if running_var is not None:
            rv = _as_array(running_var)
            rv *= 1.0 - momentum
            rv += (momentum * n / (n - 1)) * var.reshape(C)
        if w is not None:
            out = xhat * w
            if b is not None:
                out += b
        else:
            out = xhat + b if b is not None else xhat.copy()

        def backward(g):
            gx = gw = gb = None
            need_x = x.requires_grad
            sum_g = g.sum(axis=axes, keepdims=True) if (need_x or (bias is not None and bias.requires_grad)) else None
            sum_gx = (
                _channel_dot(g, xhat).reshape(bshape)
                if (need_x or (weight is not None and weight.requires_grad)) else None
            )
            if need_x:
                gx = xhat * (sum_gx / n)
                gx += sum_g / n
                xp.subtract(g, gx, out=gx)
                gx *= inv_std if w is None else inv_std * w
            if weight is not None and weight.requires_grad:
                gw = sum_gx.reshape(C)
            if bias is not None and bias.requires_grad:
                gb = sum_g.reshape(C)
            return _grads(gx, gw, gb, weight, bias)
    else:
        if running_mean is None or running_var is None:
            raise ValueError(
                "batch_norm: 'running_mean' and 'running_var' must be given in evaluation mode "
                "(training=False); got None"
            )
        dt = xd.dtype
        mean = _as_array(running_mean).astype(dt, copy=False).reshape(bshape)
        inv_std = 1.0 / xp.sqrt(_as_array(running_var).astype(dt, copy=False).reshape(bshape) + eps)
        scale = inv_std if w is None else inv_std * w
        shift = -mean * scale
        if b is not None:
            shift += b
        out = xd * scale
        out += shift

        def backward(g):
            gx = g * scale if x.requires_grad else None
            gw = gb = None
            if weight is not None and weight.requires_grad:
                gw = _channel_dot(g, xd - mean) * inv_std.reshape(C)
            if bias is not None and bias.requires_grad:
                gb = g.sum(axis=axes)
            return _grads(gx, gw, gb, weight, bias)

    return make(out, _parents(x, weight, bias), backward, "batch_norm")


def _parents(x, weight, bias):
    return (x,) + tuple(t for t in (weight, bias) if t is not None)


def _grads(gx, gw, gb, weight, bias):
    out = (gx,)
    if weight is not None:
        out += (gw,)
    if bias is not None:
        out += (gb,)
    return out


def _normalized_shape(fn: str, normalized_shape) -> tuple:
    if isinstance(normalized_shape, (int, xp.integer)) and not isinstance(normalized_shape, bool):
        normalized_shape = (normalized_shape,)
    try:
        shape = tuple(normalized_shape)
    except TypeError:
        shape = None
    if (not shape or any(isinstance(s, bool) or not isinstance(s, (int, xp.integer)) or s <= 0 for s in shape)):
        raise ValueError(
            f"{fn}: 'normalized_shape' must be a positive int or a non-empty tuple of positive ints; "
            f"got {normalized_shape!r}"
        )
    return tuple(int(s) for s in shape)


def _check_layer_norm(fn, xd, normalized_shape, weight, bias, eps):
    shape = _normalized_shape(fn, normalized_shape)
    k = len(shape)
    if xd.shape[xd.ndim - k:] != shape or xd.ndim < k:
        raise ValueError(
            f"{fn}: 'input' must have shape (*, {', '.join(map(str, shape))}) for normalized_shape={shape}; "
            f"got shape {xd.shape}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.data.shape != shape:
            raise ValueError(f"{fn}: '{name}' must have shape normalized_shape={shape}; got {t.data.shape}")
    if not isinstance(eps, numbers.Real) or not eps > 0:
        raise ValueError(f"{fn}: 'eps' must be a positive number; got {eps!r}")
    return shape


def _layer_norm_node(xhat, shape, weight, bias, eps, parents, op, out_shape):
    """Normalize ``xhat`` (rows, K) in place (it holds x, and becomes x̂) and build the node.

    Every parent in ``parents`` before weight and bias receives the same dx: one
    for ``layer_norm``, the two summands for ``add_layer_norm``.
    """
    K = xhat.shape[1]
    xhat -= row_sums(xhat) / K
    inv_std = 1.0 / xp.sqrt(xp.einsum("ij,ij->i", xhat, xhat)[:, None] / K + eps)
    xhat *= inv_std
    w = weight.data.reshape(K) if weight is not None else None
    b = bias.data.reshape(K) if bias is not None else None
    if w is not None:
        out = xhat * w
        if b is not None:
            out += b
    else:
        out = xhat + b if b is not None else xhat.copy()
    inputs = parents[: len(parents) - (weight is not None) - (bias is not None)]

    def backward(g):
        g2 = g.reshape(-1, K)
        gx = gw = gb = None
        if any(t.requires_grad for t in inputs):
            gh = g2 * w if w is not None else g2.copy()
            gx = xhat * (xp.einsum("ij,ij->i", gh, xhat)[:, None] / K)
            gh -= row_sums(gh) / K
            gh -= gx
            gh *= inv_std
            gx = gh.reshape(out_shape)
        if weight is not None and weight.requires_grad:
            gw = xp.einsum("ij,ij->j", g2, xhat).reshape(shape)
        if bias is not None and bias.requires_grad:
            gb = column_sums(g2).reshape(shape)
        return (gx,) * len(inputs) + _grads(gx, gw, gb, weight, bias)[1:]

    return make(out.reshape(out_shape), parents, backward, op)


def layer_norm(x: Tensor, normalized_shape, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Layer normalization over the trailing ``normalized_shape`` axes, as one graph node.

    For each sample (every index of the leading axes), over its K = prod(normalized_shape)
    values (seed 002, "Layer Normalization (LN)"; Ba, Kiros & Hinton 2016):

        μ_L = mean(x),  σ²_L = mean((x − μ_L)²),
        x̂ = (x − μ_L) / √(σ²_L + ε),   y = γ ⊙ x̂ + β

    with γ, β of shape ``normalized_shape`` (elementwise). There are no running
    statistics: training and evaluation compute the same thing.

    Backward, with ĝ = γ ⊙ dy and means over the K values of a sample:
    dx = (1/σ)·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)),  dγ = Σ_samples dy·x̂,  dβ = Σ_samples dy.

    Arguments: ``x`` of shape (*, *normalized_shape); ``normalized_shape`` an
    int or a tuple; ``weight`` and ``bias`` Tensors of shape ``normalized_shape``
    or None. Same numbers as ``torch.nn.functional.layer_norm``.

    Example: ``y = layer_norm(x, (64,), gamma, beta)`` for x of shape (B, T, 64).
    """
    xd = x.data
    shape = _check_layer_norm("layer_norm", xd, normalized_shape, weight, bias, eps)
    xhat = xd.reshape(-1, math.prod(shape)).copy()
    return _layer_norm_node(xhat, shape, weight, bias, eps, _parents(x, weight, bias), "layer_norm", xd.shape)


def add_layer_norm(x: Tensor, residual: Tensor, normalized_shape, weight: Tensor | None = None,
                   bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """y = LayerNorm(x + residual): the residual connection and the layer norm of a post-norm
    Transformer block (Vaswani et al. 2017, "Add & Norm") as one graph node.

    The same numbers as ``layer_norm(x + residual, ...)``; the sum x + r is the
    buffer that becomes x̂, so the block allocates one array fewer and the
    graph has one node fewer. Backward: x and r both receive the layer norm's
    dx = (1/σ)·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) (ĝ = γ ⊙ dy); dγ, dβ as ``layer_norm``.

    Arguments: ``x`` and ``residual`` of the same shape (*, *normalized_shape);
    the rest as ``layer_norm``.

    Example: ``h = add_layer_norm(x, attn_out, (64,), gamma, beta)``.
    """
    xd, rd = x.data, residual.data
    if rd.shape != xd.shape:
        raise ValueError(f"add_layer_norm: 'residual' must have the shape of 'x' {xd.shape}; got {rd.shape}")
    shape = _check_layer_norm("add_layer_norm", xd, normalized_shape, weight, bias, eps)
    xhat = xp.add(xd, rd).reshape(-1, math.prod(shape))
    return _layer_norm_node(xhat, shape, weight, bias, eps, (x, residual) + _parents(x, weight, bias)[1:],
                            "add_layer_norm", xd.shape)
