"""Weight initializers, with ``torch.nn.init``'s names and semantics.

Why initialization matters (seeds 000, 001, 002): with zero or constant weights
every unit of a layer computes the same function and receives the same
gradient, so they never become different (the symmetry problem); with weights
too small the signal shrinks layer by layer (0.5^10 ≈ 0.001), too large and it
grows exponentially. The variance-preserving rules pick Var(W) so that, for a
layer ``z = W a``, Var(z) = n_in·Var(W)·Var(a) stays constant forward
(n_in·Var(W) = 1) or backward (n_out·Var(W) = 1):

========================  ==========================  ======================================
rule                      Var(W)                      source
========================  ==========================  ======================================
Xavier / Glorot           gain² · 2/(fan_in+fan_out)  Glorot & Bengio 2010, AISTATS
He / Kaiming              gain² / fan  (ReLU: 2/fan)  He et al. 2015, "Delving deep into rectifiers"
LeCun                     1/fan_in                    LeCun et al. 1998, "Efficient BackProp"
simple uniform            1/(3·fan_in)                U[-1/√n, 1/√n]; PyTorch's Linear default
========================  ==========================  ======================================

A uniform U[-a, a] has variance a²/3, so a = √3·std. Note: seed 000 swaps He
and LeCun (it writes He as N(0, 1/n_in) and LeCun as N(0, 2/n_in)); seed 003
calls U[-1/√n, 1/√n] "Xavier". trainwise implements the published forms; see
``seeds/ERRATA.md``.

Every initializer fills a Tensor's ``.data`` in place, returns the tensor, and
draws from ``generator`` (a ``trainwise.Generator``; the default one if None).
"""
from __future__ import annotations

import math

from .backend import get_generator, xp
from .tensor import Tensor, no_grad

__all__ = [
    "calculate_gain", "calculate_fan_in_and_fan_out", "uniform_", "normal_", "constant_", "zeros_", "ones_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "lecun_uniform_",
    "lecun_normal_", "simple_uniform_", "orthogonal_", "INITIALIZERS", "initialize_", "simple_uniform_bias_",
]

_LINEAR_LIKE = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                "conv_transpose2d", "conv_transpose3d", "sigmoid", "identity")


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for ``nonlinearity`` (the same table as PyTorch).

    ======================  ====================
    nonlinearity            gain
    ======================  ====================
    linear, conv*, sigmoid  1
    tanh                    5/3
    relu                    √2
    leaky_relu              √(2/(1+slope²))  (slope default 0.01)
    selu                    3/4
    ======================  ====================

    Example: ``calculate_gain("leaky_relu", 0.2)``.
    """
    if nonlinearity in _LINEAR_LIKE:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: 'param' must be a number for leaky_relu; got {param!r}")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(
        f"calculate_gain: 'nonlinearity' must be one of {', '.join(_LINEAR_LIKE + ('tanh', 'relu', 'leaky_relu', 'selu'))}; "
        f"got {nonlinearity!r}"
    )


def _data(tensor):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"'tensor' must be a trainwise Tensor or Parameter; got {type(tensor).__name__}")
    return tensor.data


def calculate_fan_in_and_fan_out(tensor) -> tuple[int, int]:
    """Fans of a weight: dense ``(out, in)`` gives (in, out); a conv kernel
    ``(out_ch, in_ch/groups, *k)`` gives (in_ch/groups·∏k, out_ch·∏k), as PyTorch."""
    shape = _data(tensor).shape
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dimensions; got shape {shape}")
    receptive = 1
    for s in shape[2:]:
        receptive *= s
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor, mode):
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    raise ValueError(f"'mode' must be 'fan_in' or 'fan_out'; got {mode!r}")


def _fill(tensor, values):
    d = _data(tensor)
    with no_grad():
        d[...] = values
    return tensor


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    """Fill with U(a, b)."""
    if not a <= b:
        raise ValueError(f"uniform_: 'a' must be <= 'b'; got a={a}, b={b}")
    return _fill(tensor, get_generator(generator).uniform(a, b, _data(tensor).shape))


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    """Fill with N(mean, std²). ``normal_(w, 0, 1)`` is the notes' "random normal" init."""
    if std < 0:
        raise ValueError(f"normal_: 'std' must be >= 0; got {std}")
    return _fill(tensor, get_generator(generator).normal(mean, std, _data(tensor).shape))


def constant_(tensor, val: float):
    """Fill with ``val``. Every unit of the layer then computes the same thing (symmetry)."""
    return _fill(tensor, val)


def zeros_(tensor):
    """Fill with 0 (the notes' zero initialization: all units stay identical)."""
    return _fill(tensor, 0.0)


def ones_(tensor):
    return _fill(tensor, 1.0)


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    """Glorot's normalized uniform: U[-a, a], a = gain·√(6/(fan_in+fan_out)).

    Var(W) = gain²·2/(fan_in+fan_out), the average of the forward and backward
    constraints (Glorot & Bengio 2010, "Understanding the difficulty of training
    deep feedforward neural networks", eq. 16). Suits tanh and sigmoid.
    Example: ``xavier_uniform_(w, gain=calculate_gain("tanh"))``.
    """
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _fill(tensor, get_generator(generator).uniform(-a, a, _data(tensor).shape))


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    """Glorot normal: N(0, σ²), σ = gain·√(2/(fan_in+fan_out)) (Glorot & Bengio 2010)."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _fill(tensor, get_generator(generator).normal(0.0, std, _data(tensor).shape))


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None):
    """He uniform: U[-b, b], b = gain·√(3/fan), gain = calculate_gain(nonlinearity, a).

    For ReLU (gain √2, mode fan_in): b = √(6/fan_in), Var(W) = 2/fan_in, which
    keeps the variance of ReLU activations constant forward (He et al. 2015,
    "Delving Deep into Rectifiers", eq. 10); ``mode="fan_out"`` keeps it
    backward (eq. 14). Example: ``kaiming_uniform_(w, nonlinearity="relu")``.
    """
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return _fill(tensor, get_generator(generator).uniform(-bound, bound, _data(tensor).shape))


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None):
    """He normal: N(0, σ²), σ = gain/√fan; for ReLU Var(W) = 2/fan_in (He et al. 2015).

    Example: ``kaiming_normal_(w, mode="fan_out", nonlinearity="relu")``.
    """
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return _fill(tensor, get_generator(generator).normal(0.0, std, _data(tensor).shape))


def lecun_uniform_(tensor, generator=None):
    """LeCun uniform: U[-b, b], b = √(3/fan_in), Var(W) = 1/fan_in (LeCun et al. 1998).

    The init that SELU's self-normalization assumes (Klambauer et al. 2017).
    """
    bound = math.sqrt(3.0 / _fan(tensor, "fan_in"))
    return _fill(tensor, get_generator(generator).uniform(-bound, bound, _data(tensor).shape))


def lecun_normal_(tensor, generator=None):
    """LeCun normal: N(0, 1/fan_in) (LeCun et al. 1998, "Efficient BackProp").

    Keras's ``lecun_normal`` truncates at 2σ; this is the plain normal the notes give.
    """
    std = 1.0 / math.sqrt(_fan(tensor, "fan_in"))
    return _fill(tensor, get_generator(generator).normal(0.0, std, _data(tensor).shape))


def simple_uniform_(tensor, generator=None):
    """The "simple" uniform rule U[-1/√n, 1/√n], n = fan_in: Var(W) = 1/(3·fan_in).

    Seed 003 calls this "Xavier"; it is the older rule Glorot & Bengio 2010
    compare against (their eq. 1), and PyTorch's default for Linear and Conv
    weights (``kaiming_uniform_(w, a=√5)`` reduces to it).
    """
    bound = 1.0 / math.sqrt(_fan(tensor, "fan_in"))
    return _fill(tensor, get_generator(generator).uniform(-bound, bound, _data(tensor).shape))


def orthogonal_(tensor, gain: float = 1.0, generator=None):
    """A (semi-)orthogonal matrix times ``gain`` (Saxe et al. 2014), as PyTorch:
    QR of a standard normal (rows, cols) matrix, signs fixed by diag(R)."""
    d = _data(tensor)
    if d.ndim < 2:
        raise ValueError(f"orthogonal_: 'tensor' must have at least 2 dimensions; got shape {d.shape}")
    rows = d.shape[0]
    cols = d.size // rows
    flat = get_generator(generator).normal(0.0, 1.0, (rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = xp.linalg.qr(flat)
    q = q * xp.sign(xp.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(d.shape))


# ------------------------------------------------------------ names for layers
def _he(fn):
    # gain = calculate_gain(nonlinearity) as torch's kaiming_*_ (leaky_relu with its 0.01 slope);
    # relu when no activation is named, since He's rule was derived for it
    return lambda t, nonlinearity="relu", generator=None: fn(
        t, a=0.01 if nonlinearity == "leaky_relu" else 0.0, mode="fan_in",
        nonlinearity=nonlinearity, generator=generator)


def _xavier(fn):
    return lambda t, nonlinearity="linear", generator=None: fn(
        t, gain=calculate_gain(nonlinearity), generator=generator)


INITIALIZERS = {
    "default": lambda t, nonlinearity=None, generator=None: simple_uniform_(t, generator),
    "simple_uniform": lambda t, nonlinearity=None, generator=None: simple_uniform_(t, generator),
    "zeros": lambda t, nonlinearity=None, generator=None: zeros_(t),
    "normal": lambda t, nonlinearity=None, generator=None: normal_(t, 0.0, 1.0, generator),
    "small_normal": lambda t, nonlinearity=None, generator=None: normal_(t, 0.0, 0.01, generator),
    "uniform": lambda t, nonlinearity=None, generator=None: uniform_(t, -1.0, 1.0, generator),
    "xavier_uniform": _xavier(xavier_uniform_),
    "xavier_normal": _xavier(xavier_normal_),
    "he_uniform": _he(kaiming_uniform_),
    "he_normal": _he(kaiming_normal_),
    "lecun_uniform": lambda t, nonlinearity=None, generator=None: lecun_uniform_(t, generator),
    "lecun_normal": lambda t, nonlinearity=None, generator=None: lecun_normal_(t, generator),
    "orthogonal": lambda t, nonlinearity=None, generator=None: orthogonal_(t, 1.0, generator),
}
INITIALIZERS["glorot_uniform"] = INITIALIZERS["xavier_uniform"]
INITIALIZERS["glorot_normal"] = INITIALIZERS["xavier_normal"]
INITIALIZERS["kaiming_uniform"] = INITIALIZERS["he_uniform"]
INITIALIZERS["kaiming_normal"] = INITIALIZERS["he_normal"]


def initialize_(tensor, name: str, nonlinearity: str | None = None, generator=None):
    """Fill ``tensor`` by the initializer called ``name`` (see ``INITIALIZERS``).

    ``nonlinearity`` (the activation that follows) sets the gain of He and
    Xavier: gain = ``calculate_gain(nonlinearity)``, ``relu`` for He and
    ``linear`` (gain 1) for Xavier when None; ``initialize_(w, "he_normal", "relu")``
    gives Var = 2/fan_in. The other rules ignore it; an unknown name is an error.
    The names: default (PyTorch's Linear default, the simple uniform),
    simple_uniform, zeros, normal (N(0,1), the notes' "random"), small_normal
    (N(0, 0.01²)), uniform (U[-1,1]), xavier_/glorot_uniform|normal,
    he_/kaiming_uniform|normal, lecun_uniform|normal, orthogonal.
    """
    fn = INITIALIZERS.get(name) if isinstance(name, str) else None
    if fn is None:
        raise ValueError(f"'init' must be one of {', '.join(sorted(INITIALIZERS))}; got {name!r}")
    kwargs = {"generator": generator}
    if nonlinearity is not None:
        calculate_gain(nonlinearity)  # an unknown activation name is an error, not a silent gain of 1
        kwargs["nonlinearity"] = nonlinearity
    return fn(tensor, **kwargs)


def simple_uniform_bias_(bias, fan_in: int, generator=None):
    """A bias ~ U[-1/√fan_in, 1/√fan_in], PyTorch's default for Linear and Conv biases."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return _fill(bias, get_generator(generator).uniform(-bound, bound, _data(bias).shape))
