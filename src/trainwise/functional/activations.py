"""Activation functions, each one fused graph node with a hand-written backward.

The notes (seed 004, "Activation functions") list sigmoid, tanh, ReLU, Leaky
ReLU, ELU, PReLU, Swish, Softplus and Softmax; trainwise adds SELU, GELU and
log-softmax and follows PyTorch's names, arguments and numbers
(``torch.nn.functional``). Every docstring gives the formula f(x) and its
derivative f'(x); the backward computes dL/dx = g · f'(x) with g = dL/df.

All of them are numerically stable in float32 and float64: the sigmoid never
evaluates exp of a large positive number, softmax and log-softmax subtract the
row maximum, softplus switches to the identity above ``threshold``.
A NaN in the input passes through to the output, as in PyTorch.
"""
from __future__ import annotations

import math
import numbers

from scipy import special as _special  # NumPy has no erf/expit; a CuPy backend would use cupyx.scipy.special

from ..backend import xp
from ..tensor import Tensor, make, unbroadcast

__all__ = [
    "sigmoid", "tanh", "relu", "leaky_relu", "elu", "prelu", "selu", "silu", "swish",
    "softplus", "gelu", "softmax", "log_softmax",
]

# SELU's constants (Klambauer et al. 2017), to PyTorch's precision
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_SA = SELU_SCALE * SELU_ALPHA

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


# ----------------------------------------------------------------- validation
def _input(x, fn: str) -> Tensor:
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if x.data.dtype.kind != "f":
        raise TypeError(f"{fn}: 'input' must be a floating-point Tensor; got dtype {x.data.dtype}")
    return x


def _real(value, name: str, fn: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{fn}: '{name}' must be a finite real number; got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{fn}: '{name}' must be > 0; got {value!r}")
    return float(value)


def _dim(dim, ndim: int, fn: str) -> int:
    if ndim == 0:
        raise ValueError(f"{fn}: 'input' must have at least 1 dimension; got a 0-d tensor")
    if isinstance(dim, bool) or not isinstance(dim, (int, xp.integer)) or not -ndim <= dim < ndim:
        raise ValueError(f"{fn}: 'dim' must be an int in [{-ndim}, {ndim - 1}] for a {ndim}-D input; got {dim!r}")
    return int(dim) % ndim


# ------------------------------------------------------------------ sigmoid-like
def exp_neg_abs(a):
    """e^(-|a|) as a new array (in (0, 1], never overflows); a 0-d input gives a 0-d array."""
    e = xp.abs(a, out=xp.empty_like(a))
    xp.negative(e, out=e)
    xp.exp(e, out=e)
    return e


def _sigmoid(xd):
    """σ(x) = e^min(x,0) / (1 + e^-|x|): both exponents are <= 0, so nothing overflows.

    Equal to 1/(1+e^-x) for x >= 0 and to e^x/(1+e^x) for x < 0; two exps and
    no ``where`` are about twice as fast as ``scipy.special.expit``.
    """
    den = exp_neg_abs(xd)
    den += 1
    num = xp.minimum(xd, 0, out=xp.empty_like(xd))
    xp.exp(num, out=num)
    num /= den
    return num


def sigmoid(input: Tensor) -> Tensor:
    """σ(x) = 1 / (1 + e^(-x)),   σ'(x) = σ(x)(1 - σ(x)).

    Seed 004 (1. Sigmoid). The backward reuses the saved output s: dL/dx = g·s(1-s).
    Evaluated as e^min(x,0) / (1 + e^(-|x|)), so x = ±1e4 gives exactly 0 or 1
    with no overflow warning in float32 or float64.

    Example: ``sigmoid(Tensor([0.0]))`` -> 0.5.
    """
    x = _input(input, "sigmoid")
    s = _sigmoid(x.data)

    def backward(g):
        return (g * (s * (1 - s)),)

    return make(s, (x,), backward, "sigmoid")


def tanh(input: Tensor) -> Tensor:
    """tanh(x) = (e^x - e^(-x)) / (e^x + e^(-x)),   tanh'(x) = 1 - tanh²(x).

    Seed 004 (2. tanh). The backward reuses the saved output t: dL/dx = g·(1 - t²).

    Example: ``tanh(Tensor([0.0]))`` -> 0.
    """
    x = _input(input, "tanh")
    t = xp.tanh(x.data)

    def backward(g):
        return (g * (1 - t * t),)

    return make(t, (x,), backward, "tanh")


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """SiLU / Swish: f(x) = x·σ(x),   f'(x) = σ(x)(1 + x(1 - σ(x))).

    Seed 004 (7. Swish, "self-gated"); Ramachandran et al. 2017 (Swish with
    β = 1), Elfwing et al. 2017 (SiLU). ``inplace`` is accepted for PyTorch
    compatibility and ignored: the backward needs the input.

    Example: ``silu(Tensor([1.0]))`` -> 0.7311.
    """
    x = _input(input, "silu")
    xd = x.data
    s = _sigmoid(xd)

    def backward(g):
        return (g * (s * (1 + xd * (1 - s))),)

    return make(xd * s, (x,), backward, "silu")


swish = silu


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """f(x) = (1/β)·ln(1 + e^(βx)), and f(x) = x where βx > threshold (PyTorch's rule);
    f'(x) = σ(βx) (1 where βx > threshold).

    Seed 004 (8. Softplus, with β = 1). ln(1 + e^(βx)) is computed as
    max(βx, 0) + ln(1 + e^(-|βx|)), which never overflows even for a large ``threshold``.

    Args: ``beta`` > 0 sharpens the corner; ``threshold`` is where it becomes linear.

    Example: ``softplus(Tensor([0.0]))`` -> ln 2 = 0.6931.
    """
    x = _input(input, "softplus")
    beta = _real(beta, "beta", "softplus", positive=True)
    threshold = _real(threshold, "threshold", "softplus")
    xd = x.data
    bx = xd * beta if beta != 1.0 else xd
    linear = bx > threshold
    # ln(1 + e^t) = max(t, 0) + ln(1 + e^(-|t|)): never overflows (faster than logaddexp, silent on NaN)
    sp = exp_neg_abs(bx)
    xp.log1p(sp, out=sp)
    sp += xp.maximum(bx, 0)
    if beta != 1.0:
        sp /= beta
    any_linear = bool(linear.any())
    if any_linear:  # usually no element is above the threshold, and then nothing is copied
        sp[linear] = xd[linear]

    def backward(g):
        d = _sigmoid(bx)
        if any_linear:
            d[linear] = 1
        return (g * d,)

    return make(sp, (x,), backward, "softplus")


# --------------------------------------------------------------------- ReLU family
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """ReLU(x) = max(0, x),   ReLU'(x) = 1 if x > 0 else 0 (0 at x = 0, as PyTorch).

    Seed 004 (3. ReLU Function); Nair & Hinton 2010. ``inplace`` is accepted for
    PyTorch compatibility and ignored.

    Example: ``relu(Tensor([-1.0, 2.0]))`` -> [0, 2].
    """
    x = _input(input, "relu")
    xd = x.data
    out = xp.maximum(xd, 0)

    def backward(g):
        return (g * (xd > 0),)

    return make(out, (x,), backward, "relu")


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """f(x) = x if x > 0 else a·x,   f'(x) = 1 if x > 0 else a  (a = ``negative_slope``).

    Seed 004 (4. Leaky ReLU: max(0.01x, x), i.e. a = 0.01, the default);
    Maas et al. 2013. ``inplace`` is ignored (PyTorch compatibility).

    Example: ``leaky_relu(Tensor([-1.0]), 0.1)`` -> -0.1.
    """
    x = _input(input, "leaky_relu")
    a = _real(negative_slope, "negative_slope", "leaky_relu")
    xd = x.data
    # max(x, a·x) is the notes' form for a <= 1; min(x, a·x) is the same function for a > 1
    if a == 0:
        out = xp.maximum(xd, 0)  # 0·inf would be NaN
    else:
        out = xp.maximum(xd, xd * a) if a <= 1 else xp.minimum(xd, xd * a)

    def backward(g):
        d = xp.multiply(xd > 0, 1 - a, dtype=g.dtype)  # slope: 1 where x > 0, else a
        d += a
        return (g * d,)

    return make(out, (x,), backward, "leaky_relu")


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """f(x) = x if x > 0 else α(e^x - 1),   f'(x) = 1 if x > 0 else α·e^x = f(x) + α.

    Seed 004 (5. ELU); Clevert et al. 2016. e^x - 1 is ``expm1`` of min(x, 0),
    so large positive x never overflows. ``inplace`` is ignored.

    Example: ``elu(Tensor([-1.0]))`` -> e^(-1) - 1 = -0.6321.
    """
    x = _input(input, "elu")
    alpha = _real(alpha, "alpha", "elu")
    xd = x.data
    neg = xp.expm1(xp.minimum(xd, 0))  # α(e^x - 1) on the negative side, 0 on the positive
    neg *= alpha
    out = xp.maximum(xd, 0)
    out += neg

    def backward(g):
        d = neg + (alpha - 1)  # slope: 1 + (α e^x - 1)·[x <= 0]
        d *= xd <= 0
        d += 1
        return (g * d,)

    return make(out, (x,), backward, "elu")


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """f(x) = λ·x if x > 0 else λα(e^x - 1),   f'(x) = λ if x > 0 else λα·e^x,

    with α = 1.6732632423543772, λ = 1.0507009873554805 (Klambauer et al. 2017,
    "Self-Normalizing Neural Networks"; seed 000 pairs it with LeCun init).
    ``inplace`` is ignored.

    Example: ``selu(Tensor([1.0]))`` -> 1.0507.
    """
    x = _input(input, "selu")
    xd = x.data
    neg = xp.expm1(xp.minimum(xd, 0))  # λα(e^x - 1) on the negative side, 0 on the positive
    neg *= _SA
    out = xp.maximum(xd, 0)
    out *= SELU_SCALE
    out += neg

    def backward(g):
        d = neg + (_SA - SELU_SCALE)  # slope: λ + (λα e^x - λ)·[x <= 0]
        d *= xd <= 0
        d += SELU_SCALE
        return (g * d,)

    return make(out, (x,), backward, "selu")


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """PReLU: f(x) = x if x > 0 else a_c·x, with a learnable slope a per channel.

    f'(x) = 1 if x > 0 else a_c;   ∂f/∂a_c = 0 if x > 0 else x (summed over
    every element of channel c). Seed 004 (6. PReLU, "α ... learning
    parameter"); He et al. 2015, "Delving Deep into Rectifiers".

    Args: ``weight`` holds either one slope shared by all elements or C slopes,
    one per channel, the channel axis being axis 1 (as PyTorch; a 1-D input has
    no channel axis and needs a single slope).

    Example: ``prelu(Tensor([[-2.0, 1.0]]), Tensor([0.25]))`` -> [[-0.5, 1]].
    """
    x = _input(input, "prelu")
    if not isinstance(weight, Tensor):
        weight = Tensor(xp.asarray(weight, dtype=x.data.dtype))
    xd, wd = x.data, weight.data
    if wd.ndim > 1:
        raise ValueError(f"prelu: 'weight' must be 1-D (one slope, or one per channel); got shape {wd.shape}")
    n = wd.size
    channels = xd.shape[1] if xd.ndim >= 2 else 1
    if wd.dtype != xd.dtype:
        raise TypeError(f"prelu: 'weight' must have the input's dtype {xd.dtype}; got {wd.dtype}")
    if n != 1 and n != channels:
        raise ValueError(
            f"prelu: 'weight' must hold 1 slope or one per channel (input axis 1, size {channels}); "
            f"got {n} slopes for input of shape {xd.shape}"
        )
    if n == 1 or xd.ndim < 2:
        wb = wd.reshape(())
    else:
        wb = wd.reshape((1, n) + (1,) * (xd.ndim - 2))
    xneg = xp.minimum(xd, 0)
    out = xp.maximum(xd, 0)
    out += xneg * wb

    def backward(g):
        gx = gw = None
        if x.requires_grad:
            d = (xd <= 0) * (wb - 1)  # slope: 1 + (a - 1)·[x <= 0]
            d += 1
            gx = g * d
        if weight.requires_grad:
            gw = unbroadcast(g * xneg, wb.shape).reshape(wd.shape)
        return gx, gw

    return make(out, (x, weight), backward, "prelu")


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """GELU (Hendrycks & Gimpel 2016), as ``torch.nn.functional.gelu``.

    ``approximate='none'``: f(x) = x·Φ(x) = ½x(1 + erf(x/√2)),
    f'(x) = Φ(x) + x·φ(x), φ(x) = e^(-x²/2)/√(2π).

    ``approximate='tanh'``: f(x) = ½x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³),
    f'(x) = ½(1 + tanh u) + ½x(1 - tanh²u)·√(2/π)(1 + 3·0.044715x²).

    Example: ``gelu(Tensor([1.0]))`` -> 0.8413.
    """
    x = _input(input, "gelu")
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: 'approximate' must be 'none' or 'tanh'; got {approximate!r}")
    xd = x.data
    if approximate == "none":
        cdf = _special.ndtr(xd)

        def backward(g):
            pdf = xp.exp(xd * xd * -0.5)
            pdf *= _INV_SQRT_2PI
            return (g * (cdf + xd * pdf),)

        return make(xd * cdf, (x,), backward, "gelu")

    x2 = xd * xd
    t = xp.tanh(_SQRT_2_OVER_PI * (xd + 0.044715 * (x2 * xd)))
    half1t = 0.5 * (1 + t)

    def backward_tanh(g):
        du = _SQRT_2_OVER_PI * (1 + (3 * 0.044715) * x2)
        return (g * (half1t + 0.5 * xd * (1 - t * t) * du),)

    return make(xd * half1t, (x,), backward_tanh, "gelu")


# ---------------------------------------------------------------------- softmax
def softmax(input: Tensor, dim: int = -1) -> Tensor:
    """softmax(z)_i = e^(z_i) / Σ_j e^(z_j) along ``dim`` (seed 004, 9. Softmax).

    Computed as e^(z - max z) / Σ e^(z - max z), which is equal and never
    overflows. Backward, with s the saved output: dL/dz = s ⊙ (g - Σ_j g_j s_j).

    Example: ``softmax(Tensor([0.0, 0.0]))`` -> [0.5, 0.5].
    """
    x = _input(input, "softmax")
    axis = _dim(dim, x.data.ndim, "softmax")
    xd = x.data
    s = xd - xd.max(axis=axis, keepdims=True)
    xp.exp(s, out=s)
    s /= s.sum(axis=axis, keepdims=True)

    def backward(g):
        gs = g * s
        gs -= s * gs.sum(axis=axis, keepdims=True)
        return (gs,)

    return make(s, (x,), backward, "softmax")


def log_softmax(input: Tensor, dim: int = -1) -> Tensor:
    """log_softmax(z)_i = z_i - log Σ_j e^(z_j) along ``dim``.

    Computed as (z - m) - log Σ e^(z - m), m = max z (stable for logits of 1e4).
    Backward, with the saved output l: dL/dz = g - e^l · Σ_j g_j.

    Example: ``log_softmax(Tensor([0.0, 0.0]))`` -> [-0.6931, -0.6931].
    """
    x = _input(input, "log_softmax")
    axis = _dim(dim, x.data.ndim, "log_softmax")
    xd = x.data
    z = xd - xd.max(axis=axis, keepdims=True)
    lse = xp.log(xp.exp(z).sum(axis=axis, keepdims=True))
    z -= lse

    def backward(g):
        return (g - xp.exp(z) * g.sum(axis=axis, keepdims=True),)

    return make(z, (x,), backward, "log_softmax")
