"""The affine map y = x Wᵀ + b as one fused graph node."""
from __future__ import annotations

from ..tensor import Tensor, make


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x Wᵀ + b, W of shape (out, in) as in PyTorch; x may have leading batch axes.

    Backward, with G = dL/dy flattened to (N, out) and X to (N, in):
    dX = G W, dW = Gᵀ X, db = Σ_n G.  One node instead of matmul + transpose + add.
    """
    xd, wd = x.data, weight.data
    if xd.ndim == 0 or xd.shape[-1] != wd.shape[1]:
        raise ValueError(
            f"linear: input's last axis must be in_features={wd.shape[1]}; got input of shape {xd.shape}"
        )
    out = xd @ wd.T
    if bias is not None:
        out += bias.data
    lead = xd.shape[:-1]

    def backward(g):
        g2 = g.reshape(-1, g.shape[-1]) if g.ndim != 2 else g
        x2 = xd.reshape(-1, xd.shape[-1]) if xd.ndim != 2 else xd
        gx = (g2 @ wd).reshape(lead + (wd.shape[1],)) if x.requires_grad else None
        gw = g2.T @ x2 if weight.requires_grad else None
        if bias is None:
            return gx, gw
        return gx, gw, (g2.sum(axis=0) if bias.requires_grad else None)

    parents = (x, weight) if bias is None else (x, weight, bias)
    return make(out, parents, backward, "linear")
