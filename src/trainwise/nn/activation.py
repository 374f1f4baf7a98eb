"""Activation layers with PyTorch's names (``torch.nn.ReLU`` ...).

Each layer calls the fused function of the same name in
``trainwise.functional.activations``, whose docstring gives the formula and
its derivative. As separate modules they are where the doctor's forward hooks
watch for dead ReLUs and saturated sigmoids.

``ACTIVATIONS`` maps a lowercase name to the layer class, for model builders
(``ACTIVATIONS["relu"]()``); ``activation_gain_name(name)`` maps the same
names to the ``nonlinearity`` that ``trainwise.init.calculate_gain`` knows.
"""
from __future__ import annotations

from ..backend import get_default_dtype, xp
from ..functional import activations as F
from ..tensor import Tensor
from .linear import Identity, check_size
from .module import Module, Parameter

__all__ = [
    "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "PReLU", "SELU", "SiLU", "Swish",
    "Softplus", "GELU", "Softmax", "LogSoftmax", "ACTIVATIONS", "activation_gain_name",
]


def _inplace_repr(inplace: bool) -> str:
    return "inplace=True" if inplace else ""


class Sigmoid(Module):
    """σ(x) = 1/(1 + e^(-x)); σ' = σ(1 - σ). See ``functional.sigmoid``.

    Example: ``Sigmoid()(Tensor([0.0]))`` -> 0.5.
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    """tanh(x); tanh' = 1 - tanh². See ``functional.tanh``.

    Example: ``Tanh()(Tensor([0.0]))`` -> 0.
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class ReLU(Module):
    """max(0, x); derivative 1 for x > 0, else 0. See ``functional.relu``.

    ``inplace`` is accepted for PyTorch compatibility and ignored.
    Example: ``ReLU()(Tensor([-1.0, 2.0]))`` -> [0, 2].
    """

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)

    def extra_repr(self):
        return _inplace_repr(self.inplace)


class LeakyReLU(Module):
    """x if x > 0 else a·x with a = ``negative_slope`` (0.01, seed 004's value).

    See ``functional.leaky_relu``. Example: ``LeakyReLU(0.2)(Tensor([-1.0]))`` -> -0.2.
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = F._real(negative_slope, "negative_slope", "LeakyReLU")
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    """x if x > 0 else α(e^x - 1). See ``functional.elu``.

    Example: ``ELU()(Tensor([-1.0]))`` -> -0.6321.
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = F._real(alpha, "alpha", "ELU")
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class SELU(Module):
    """λ·x if x > 0 else λα(e^x - 1) (Klambauer et al. 2017). See ``functional.selu``.

    Example: ``SELU()(Tensor([1.0]))`` -> 1.0507.
    """

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.selu(x)

    def extra_repr(self):
        return _inplace_repr(self.inplace)


class SiLU(Module):
    """x·σ(x), the notes' Swish (seed 004). See ``functional.silu``.

    Example: ``SiLU()(Tensor([1.0]))`` -> 0.7311.
    """

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x)

    def extra_repr(self):
        return _inplace_repr(self.inplace)


Swish = SiLU


class Softplus(Module):
    """(1/β)·ln(1 + e^(βx)), linear where βx > ``threshold``. See ``functional.softplus``.

    Example: ``Softplus()(Tensor([0.0]))`` -> 0.6931.
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta = F._real(beta, "beta", "Softplus", positive=True)
        self.threshold = F._real(threshold, "threshold", "Softplus")

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class GELU(Module):
    """x·Φ(x), or its tanh approximation with ``approximate='tanh'``. See ``functional.gelu``.

    Example: ``GELU()(Tensor([1.0]))`` -> 0.8413.
    """

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: 'approximate' must be 'none' or 'tanh'; got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class PReLU(Module):
    """x if x > 0 else a·x with a learnable slope ``weight`` (He et al. 2015; seed 004).

    Args: ``num_parameters`` is 1 (one slope shared by every element) or the
    number of channels C (one slope per channel, channel axis 1 as PyTorch);
    ``init`` is the starting slope (0.25, as PyTorch). PyTorch's advice holds:
    do not apply weight decay to the slopes.

    Example: ``PReLU(3)(x)`` for x of shape (N, 3, H, W).
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype=None):
        super().__init__()
        self.num_parameters = check_size("num_parameters", num_parameters, "PReLU")
        init = F._real(init, "init", "PReLU")
        self.init = init
        self.weight = Parameter(xp.full((self.num_parameters,), init, dtype=dtype or get_default_dtype()))

    def reset_parameters(self, generator=None) -> None:
        self.weight.data[...] = self.init

    def forward(self, x: Tensor) -> Tensor:
        return F.prelu(x, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class Softmax(Module):
    """e^(z_i) / Σ_j e^(z_j) along ``dim`` (seed 004). See ``functional.softmax``.

    For training a classifier, feed logits to ``CrossEntropyLoss`` instead: it
    fuses log-softmax with the loss and is stable.
    Example: ``Softmax(dim=1)(logits)``.
    """

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """z_i - log Σ_j e^(z_j) along ``dim``. See ``functional.log_softmax``.

    Example: ``LogSoftmax(dim=1)(logits)``, then ``NLLLoss``.
    """

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


ACTIVATIONS = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "prelu": PReLU,
    "elu": ELU,
    "selu": SELU,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "silu": SiLU,
    "swish": SiLU,
    "gelu": GELU,
    "softplus": Softplus,
    "identity": Identity,
    "linear": Identity,
}

# the nonlinearity whose gain (trainwise.init.calculate_gain) suits each activation.
# SiLU, GELU, ELU and softplus have no gain of their own in PyTorch's table; they are
# ReLU-like for positive inputs, so He's √2 is the usual choice.
_GAIN_NAMES = {
    "relu": "relu",
    "leaky_relu": "leaky_relu",
    "prelu": "leaky_relu",
    "elu": "relu",
    "selu": "selu",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "silu": "relu",
    "swish": "relu",
    "gelu": "relu",
    "softplus": "relu",
    "identity": "linear",
    "linear": "linear",
}


def activation_gain_name(name) -> str:
    """The ``nonlinearity`` for ``trainwise.init.calculate_gain`` that suits activation ``name``.

    relu, elu, silu/swish, gelu, softplus -> "relu"; leaky_relu, prelu ->
    "leaky_relu"; tanh -> "tanh"; sigmoid -> "sigmoid"; selu -> "selu";
    identity/linear -> "linear". ``name`` may also be an activation layer
    (class or instance) from ``ACTIVATIONS``.

    Example: ``calculate_gain(activation_gain_name("gelu"))`` -> √2.
    """
    if isinstance(name, Module):
        name = type(name)
    if isinstance(name, type):
        for key, cls in ACTIVATIONS.items():
            if cls is name:
                return _GAIN_NAMES[key]
        raise ValueError(f"activation_gain_name: 'name' must be an activation in ACTIVATIONS; got class {name.__name__}")
    if not isinstance(name, str) or name.lower() not in _GAIN_NAMES:
        raise ValueError(
            f"activation_gain_name: 'name' must be one of {', '.join(sorted(_GAIN_NAMES))}; got {name!r}"
        )
    return _GAIN_NAMES[name.lower()]
