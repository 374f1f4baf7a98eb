"""The affine map y = x Wᵀ + b, alone or with a ReLU, and the Transformer's feed-forward
network (two affine maps around an activation), each as one fused graph node."""
from __future__ import annotations

from scipy import special as _special

from ..backend import get_generator, product, xp
from ..tensor import Tensor, make
from ._sums import column_sums

__all__ = ["linear", "linear_relu", "feed_forward"]


def _check(xd, wd, fn):
    if xd.ndim == 0 or xd.shape[-1] != wd.shape[1]:
        raise ValueError(
            f"{fn}: input's last axis must be in_features={wd.shape[1]}; got input of shape {xd.shape}"
        )


def _affine_backward(x, weight, bias, xd, wshape):
    """The backward of y = x Wᵀ + b: G -> (G W, Gᵀ X, 1ᵀ G = Σ_n G), skipping parents without grad.

    W is read from ``weight.data`` when the backward runs rather than kept from the
    forward: the graph then holds no reference to the parameter's array, so an optimizer
    may move it into its flat buffer (``Optimizer.flat_step``) while a graph is alive.
    (The values are the same: an update between forward and backward would change
    the array in place either way.)
    """
    if xd.ndim == 2:
        # the common case, without reshapes
        def backward(g):
            gx = _input_grad(g, weight.data, xd) if x.requires_grad else None
            gw = product(g.T, xd) if weight.requires_grad else None
            if bias is None:
                return gx, gw
            return gx, gw, (column_sums(g) if bias.requires_grad else None)

        return backward
    lead = xd.shape[:-1]

    def backward(g):
        g2 = g.reshape(-1, g.shape[-1])
        x2 = xd.reshape(-1, xd.shape[-1])
        gx = product(g2, weight.data).reshape(lead + (wshape[1],)) if x.requires_grad else None
        gw = product(g2.T, x2) if weight.requires_grad else None
        if bias is None:
            return gx, gw
        return gx, gw, (column_sums(g2) if bias.requires_grad else None)

    return backward


# OpenBLAS (threaded) runs x Wᵀ faster as (W xᵀ)ᵀ when the batch is smaller than the output
# width: measured at two threads, alternating, on this project's machine (AMD EPYC, OpenBLAS
# 0.3.31 SkylakeX): (128, 784)->256 1.06x, (128, 256)->256 1.12x, (256, 1024)->1024 1.06x,
# (64, 784)->128 1.09x, (128, 40)->256 1.30x, with the same numbers bit for bit (each output
# element is the same dot product, summed in the same order). The result is F-ordered: the
# activation is held feature-major. That pays only when the next consumer is a product too
# (an elementwise op meeting a C-ordered operand, e.g. dropout's mask, costs more than the
# product saved), so ``linear_relu`` does it only when asked (``feature_major=True``, as
# ``nn.Sequential`` asks for a Linear+ReLU followed by a Linear). The gradient of an F-ordered
# input is made F-ordered too (``_input_grad``), so the ReLU mask meets one layout.
# End to end (two threads, alternating blocks): the medium MLP's step 1.07x, the large's 1.07x.
FEATURE_MAJOR = True  # off: every product as x Wᵀ (for comparisons)
FEATURE_MAJOR_MIN_WIDTH = 128


def _feature_major(xd, wd) -> bool:
    return (FEATURE_MAJOR and xd.ndim == 2 and xd.shape[0] < wd.shape[0]
            and wd.shape[0] >= FEATURE_MAJOR_MIN_WIDTH)


def _input_grad(g, wd, xd):
    """dX = G W, made in X's layout: as (Wᵀ Gᵀ)ᵀ, F-ordered, when X is F-ordered (a feature-major
    activation); else as G W."""
    if xd.flags.f_contiguous and not xd.flags.c_contiguous:
        return product(wd.T, g.T).T
    return product(g, wd)


def _affine(xd, wd):
    """x Wᵀ with x's leading axes folded into one: a (B, T, in) input then costs one (B·T, in)
    product instead of NumPy's loop of B small ones (measured 1.3-1.5x faster for the
    Transformer layer's projections at B = 32, T = 64, in = 128)."""
    if xd.ndim > 2:
        return product(xd.reshape(-1, xd.shape[-1]), wd.T).reshape(xd.shape[:-1] + (wd.shape[0],))
    return product(xd, wd.T)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x Wᵀ + b, W of shape (out, in) as in PyTorch; x may have leading batch axes.

    Backward, with G = dL/dy flattened to (N, out) and X to (N, in):
    dX = G W, dW = Gᵀ X, db = Σ_n G.  One node instead of matmul + transpose + add.

    Example: ``linear(Tensor(np.ones((2, 3))), Tensor(np.ones((4, 3))))`` has shape (2, 4).
    """
    xd, wd = x.data, weight.data
    _check(xd, wd, "linear")
    out = _affine(xd, wd)
    if bias is not None:
        out += bias.data
    backward = _affine_backward(x, weight, bias, xd, wd.shape)
    return make(out, (x, weight) if bias is None else (x, weight, bias), backward, "linear")


def linear_relu(x: Tensor, weight: Tensor, bias: Tensor | None = None, feature_major: bool = False) -> Tensor:
    """y = max(0, x Wᵀ + b): ``relu(linear(x, weight, bias))`` as one node, the same numbers.

    Backward: with Z = x Wᵀ + b and G = dL/dy, the pre-activation gradient is
    G_Z = G ⊙ [Z > 0] (= [y > 0]; 0 at Z = 0, as PyTorch's ReLU), then the affine
    backward of ``linear``. The ReLU runs in place on the product, so the layer
    allocates one activation instead of two. ``nn.Sequential`` uses it for a
    ``Linear`` followed by a ``ReLU`` (neither with hooks); names and state dicts
    are unchanged. ``feature_major=True`` lets a 2-D output be F-ordered when that product
    is faster (batch smaller than the output width; see ``FEATURE_MAJOR``): for an output
    that goes on into another product.

    Example: ``linear_relu(x, layer.weight, layer.bias)``.
    """
    xd, wd = x.data, weight.data
    _check(xd, wd, "linear")
    out = product(wd, xd.T).T if feature_major and _feature_major(xd, wd) else _affine(xd, wd)
    if bias is not None:
        out += bias.data
    xp.maximum(out, 0, out=out)
    affine = _affine_backward(x, weight, bias, xd, wd.shape)

    def backward(g):
        return affine(g * (out > 0))

    return make(out, (x, weight) if bias is None else (x, weight, bias), backward, "linear_relu")


_INV_SQRT_2PI = 0.3989422804014327  # 1/√(2π)


def feed_forward(x: Tensor, w1: Tensor, b1: Tensor | None, w2: Tensor, b2: Tensor | None, activation: str = "relu",
                 dropout_p: float = 0.0, generator=None) -> Tensor:
    """The position-wise feed-forward network of a Transformer block as one graph node:

        FFN(x) = (φ(x W₁ᵀ + b₁) ⊙ r) W₂ᵀ + b₂      (Vaswani et al. 2017, eq. 2)

    x (rows, d_model), W₁ (d_ff, d_model), W₂ (d_model, d_ff) as PyTorch's
    ``linear1.weight``, ``linear2.weight``; φ = ReLU or exact GELU x·Φ(x);
    r the inverted-dropout mask ([u < 1 − p] / (1 − p), u ~ U[0, 1) from
    ``generator``, drawn as ``functional.dropout`` draws it) when ``dropout_p`` > 0.
    The same numbers as ``linear2(dropout(φ(linear1(x))))``, in one node instead of
    four; the activation runs in place on the hidden product. Backward, with
    H = φ(Z), Z = x W₁ᵀ + b₁ and G = dL/dy::

        dW₂ = Gᵀ (H ⊙ r),  db₂ = Σ G,  G_Z = (G W₂) ⊙ r ⊙ φ'(Z),
        dW₁ = G_Zᵀ x,  db₁ = Σ G_Z,  dx = G_Z W₁

    with φ'(Z) = [Z > 0] (ReLU; read off H > 0) or Φ(Z) + Z·φ(Z) (GELU).
    The weights are read from ``.data`` when the backward runs (see ``functional.linear``).

    Example: ``y = feed_forward(x, layer.linear1.weight, layer.linear1.bias, layer.linear2.weight, layer.linear2.bias)``.
    """
    if activation not in ("relu", "gelu"):
        raise ValueError(f"feed_forward: 'activation' must be 'relu' or 'gelu'; got {activation!r}")
    xd = x.data
    if xd.ndim != 2 or xd.shape[1] != w1.data.shape[1]:
        raise ValueError(f"feed_forward: 'x' must have shape (rows, {w1.data.shape[1]}); got {xd.shape}")
    z = xd @ w1.data.T
    if b1 is not None:
        z += b1.data
    if activation == "relu":
        h = xp.maximum(z, 0, out=z)  # Z itself is not needed again: ReLU' = [H > 0]
        cdf = None
    else:
        cdf = _special.ndtr(z)
        h = z * cdf
    keep = None
    hd = h
    if dropout_p > 0:
        u = get_generator(generator).random(h.shape, dtype=xp.float32 if h.dtype == xp.float32 else xp.float64)
        keep = xp.less(u, 1.0 - dropout_p).astype(h.dtype)
        keep *= 1.0 / (1.0 - dropout_p)
        hd = h * keep
    y = hd @ w2.data.T
    if b2 is not None:
        y += b2.data
    parents = tuple(t for t in (x, w1, b1, w2, b2) if t is not None)

    def backward(g):
        gx = gw1 = gb1 = gw2 = gb2 = None
        if w2.requires_grad:
            gw2 = g.T @ hd
        if b2 is not None and b2.requires_grad:
            gb2 = column_sums(g)
        if x.requires_grad or w1.requires_grad or (b1 is not None and b1.requires_grad):
            gz = g @ w2.data
            if keep is not None:
                gz *= keep
            if cdf is None:
                xp.multiply(gz, h > 0, out=gz)
            else:
                pdf = xp.exp(z * z * -0.5)
                pdf *= _INV_SQRT_2PI
                pdf *= z
                pdf += cdf
                gz *= pdf
            if x.requires_grad:
                gx = gz @ w1.data
            if w1.requires_grad:
                gw1 = gz.T @ xd
            if b1 is not None and b1.requires_grad:
                gb1 = column_sums(gz)
        out = [gx, gw1]
        if b1 is not None:
            out.append(gb1)
        out.append(gw2)
        if b2 is not None:
            out.append(gb2)
        return tuple(out)

    return make(y, parents, backward, "feed_forward")
