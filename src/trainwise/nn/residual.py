"""Residual connections: H(x) = F(x) + x (He et al. 2016; seed 002 "Residual connections")."""
from __future__ import annotations

from ..tensor import Tensor
from .linear import Linear, check_size
from .module import Module

__all__ = ["Residual"]


class Residual(Module):
    """Wrap a block F so that the layer computes H(x) = F(x) + x, or F(x) + P(x) with a projection P.

    Seed 002 ("The Fundamental Insight"): instead of learning H(x) directly,
    the block learns the residual F(x) = H(x) − x; when the identity is the
    best map, pushing F to zero is easier than fitting an identity with a
    stack of nonlinear layers. The skip path also carries the gradient past
    the block unchanged (dL/dx = dL/dH·(∂F/∂x + I)), so a deep stack of
    residual blocks keeps the gradient of early layers from vanishing
    (He, Zhang, Ren & Sun 2016, "Deep Residual Learning for Image Recognition").

    When F changes the shape, x must be mapped to F's output shape
    (the paper's projection shortcut W_s·x):

    - ``projection``: any module applied to x, e.g. ``Linear(4, 16, bias=False)``
      for (N, D) inputs or a 1x1 ``Conv2d`` for images;
    - ``in_features``, ``out_features``: build ``Linear(in_features, out_features,
      bias=False)`` as the projection when they differ (no projection when equal).

    Arguments: ``block`` the module F; ``projection``; ``in_features``,
    ``out_features``; ``generator`` for the projection's initial weights.
    Without a projection, F(x) must have exactly x's shape (no broadcasting).

    Example: ``Residual(Sequential(Linear(64, 64), ReLU(), Linear(64, 64)))``;
    ``Residual(Linear(4, 16), in_features=4, out_features=16)``.
    """

    def __init__(self, block: Module, projection: Module | None = None, in_features: int | None = None,
                 out_features: int | None = None, generator=None):
        super().__init__()
        if not isinstance(block, Module):
            raise TypeError(f"Residual: 'block' must be a Module; got {type(block).__name__}")
        if projection is not None and not isinstance(projection, Module):
            raise TypeError(f"Residual: 'projection' must be a Module or None; got {type(projection).__name__}")
        if (in_features is None) != (out_features is None):
            raise ValueError(
                f"Residual: give both 'in_features' and 'out_features' or neither; "
                f"got in_features={in_features!r}, out_features={out_features!r}"
            )
        if in_features is not None:
            if projection is not None:
                raise ValueError("Residual: give either 'projection' or 'in_features'/'out_features', not both")
            in_features = check_size("in_features", in_features, "Residual")
            out_features = check_size("out_features", out_features, "Residual")
            if in_features != out_features:
                projection = Linear(in_features, out_features, bias=False, generator=generator)
        self.block = block
        self.projection = projection  # a Module is registered as a child; None stays a plain attribute

    def forward(self, x: Tensor) -> Tensor:
        fx = self.block(x)
        skip = x if self.projection is None else self.projection(x)
        if fx.shape != skip.shape:
            if self.projection is None:
                raise ValueError(
                    f"Residual: the block's output shape {fx.shape} differs from the input's shape {skip.shape}; "
                    f"pass projection=<module mapping x to {fx.shape}> or in_features=..., out_features=... "
                    f"to map the skip path"
                )
            raise ValueError(
                f"Residual: the block's output shape {fx.shape} differs from the projection's output shape "
                f"{skip.shape} (input shape {x.shape})"
            )
        return fx + skip
