"""Linear, Identity and Flatten layers."""
from __future__ import annotations

from .. import init as _init
from ..backend import get_default_dtype, xp
from ..functional.linear import linear
from ..tensor import Tensor
from .module import Module, Parameter


def check_size(name: str, value, layer: str) -> int:
    """A layer size must be a positive int: say which argument and what it got."""
    if isinstance(value, bool) or not isinstance(value, (int, xp.integer)) or value <= 0:
        raise ValueError(f"{layer}: '{name}' must be a positive int; got {value!r}")
    return int(value)


class Linear(Module):
    """y = x Wᵀ + b with ``weight`` of shape (out_features, in_features), as PyTorch.

    ``init`` picks the weight initializer by name (see ``trainwise.init.initialize_``):
    ``Linear(64, 64, init="he_normal")`` draws W ~ N(0, 2/64). ``nonlinearity``
    names the activation that follows, for the gain of He/Xavier (an unknown name is an
    error; see ``trainwise.init.calculate_gain``). The default
    ("default") is PyTorch's: W and b ~ U[-1/√in, 1/√in]. Biases start at zero
    for every other choice of ``init``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, init: str = "default",
                 nonlinearity: str | None = None, dtype=None, generator=None):
        super().__init__()
        self.in_features = check_size("in_features", in_features, "Linear")
        self.out_features = check_size("out_features", out_features, "Linear")
        if not isinstance(init, str) or init not in _init.INITIALIZERS:
            raise ValueError(f"Linear: 'init' must be one of {', '.join(sorted(_init.INITIALIZERS))}; got {init!r}")
        if nonlinearity is not None:
            try:
                _init.calculate_gain(nonlinearity)
            except ValueError as e:
                raise ValueError(f"Linear: {str(e).split(': ', 1)[1]}") from None
        dt = dtype or get_default_dtype()
        self.weight = Parameter(xp.empty((self.out_features, self.in_features), dtype=dt))
        self.bias = Parameter(xp.zeros(self.out_features, dtype=dt)) if bias else None
        self.init = init
        self.nonlinearity = nonlinearity
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None) -> None:
        _init.initialize_(self.weight, self.init, self.nonlinearity, generator)
        if self.bias is not None:
            if self.init == "default":
                _init.simple_uniform_bias_(self.bias, self.in_features, generator)
            else:
                _init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """Returns its input unchanged."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Flatten(Module):
    """Flattens axes ``start_dim``..``end_dim`` (default: all but the batch axis)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.start_dim, self.end_dim)
