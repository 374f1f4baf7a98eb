"""Ready-made models, built from a few plain arguments (used by configs and the lab)."""
from __future__ import annotations

from . import nn
from .backend import xp
from .functional.activations import relu
from .functional.conv import conv_output_size
from .tensor import Tensor


def _activation(name: str):
    from .nn.activation import ACTIVATIONS

    if name not in ACTIVATIONS:
        raise ValueError(f"'activation' must be one of {', '.join(sorted(ACTIVATIONS))}; got {name!r}")
    return ACTIVATIONS[name]()


def mlp(in_features: int, out_features: int, hidden=(256, 256), activation: str = "relu", init: str = "he_normal",
        norm: str = "none", norm_position: str = "before", dropout: float = 0.0, residual: bool = False,
        generator=None) -> nn.Sequential:
    """A multilayer perceptron: [Linear → (norm) → activation → (norm) → Dropout] per hidden layer, then Linear.

    ``norm`` is "none", "batch" or "layer"; ``norm_position`` puts it before
    the activation (pre-activation, the usual choice) or after it (seed 001
    shows both). ``init`` is matched to the activation's gain (He for the ReLU
    family, Xavier's gain for tanh/sigmoid). With ``residual``, each hidden
    block whose input and output widths agree becomes ``Residual(block)``:
    H(x) = F(x) + x (seed 002). The output layer is a plain Linear with the
    same init and gain 1.
    """
    from .nn.activation import activation_gain_name

    if norm not in ("none", "batch", "layer"):
        raise ValueError(f"mlp: 'norm' must be 'none', 'batch' or 'layer'; got {norm!r}")
    if norm_position not in ("before", "after"):
        raise ValueError(f"mlp: 'norm_position' must be 'before' or 'after'; got {norm_position!r}")
    gain = activation_gain_name(activation)
    layers = []
    width = in_features
    for h in hidden:
        block = [nn.Linear(width, h, init=init, nonlinearity=gain, generator=generator)]
        act = _activation(activation)
        normlayer = None
        if norm == "batch":
            normlayer = nn.BatchNorm1d(h)
        elif norm == "layer":
            normlayer = nn.LayerNorm(h)
        if normlayer is not None and norm_position == "before":
            block += [normlayer, act]
        elif normlayer is not None:
            block += [act, normlayer]
        else:
            block.append(act)
        if dropout > 0:
            block.append(nn.Dropout(dropout, generator=generator))
        if residual and width == h:
            layers.append(nn.Residual(nn.Sequential(*block)))
        else:
            layers.extend(block)
        width = h
    layers.append(nn.Linear(width, out_features, init=init, nonlinearity="linear", generator=generator))
    return nn.Sequential(*layers)


def logistic(in_features: int, out_features: int, generator=None) -> nn.Sequential:
    """Multinomial logistic regression: one Linear layer (softmax is inside the loss)."""
    return nn.Sequential(nn.Linear(in_features, out_features, generator=generator))


# ------------------------------------------------------------------ MNIST-1D (Greydanus 2020) and digits
# The four baselines of "Scaling down deep learning" (Greydanus 2020, the
# MNIST-1D paper), with the attribute names of its repository's ``models.py``
# (LinearBase, MLPBase, ConvBase, GRUBase) so that a state dict moves across.
# The extra arguments (norm, dropout, ...) are off by default; the defaults are
# the published architectures exactly.

def _check_choice(owner, name, value, choices):
    if value not in choices:
        raise ValueError(f"{owner}: '{name}' must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def _check_p(owner, p):
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
        raise ValueError(f"{owner}: 'dropout' must be a number in [0, 1); got {p!r}")
    return float(p)


def _norm1d(kind, width):
    """BatchNorm1d over (N, C) or (N, C, L); LayerNorm over the features of (N, C)."""
    if kind == "batch":
        return nn.BatchNorm1d(width)
    if kind == "layer":
        return nn.LayerNorm(width)
    return None


def _signal(x, owner, length):
    """Accept (N, L) or (N, 1, L) signals and check L."""
    if not isinstance(x, Tensor):
        x = Tensor(xp.asarray(x))
    if not (x.ndim == 2 or (x.ndim == 3 and x.shape[1] == 1)) or x.shape[-1] != length:
        raise ValueError(f"{owner}: 'input' must be (N, {length}) or (N, 1, {length}); got shape {x.shape}")
    return x


class Mnist1dLogistic(nn.Module):
    """MNIST-1D's logistic regression (the repository's ``LinearBase``): logits = W x + b, 410 parameters.

    Example: ``mnist1d_logistic()(x)`` maps (N, 40) -> (N, 10).
    """

    def __init__(self, in_features: int = 40, num_classes: int = 10, generator=None):
        super().__init__()
        self.linear = nn.Linear(in_features, num_classes, generator=generator)

    def forward(self, x):
        return self.linear(x if isinstance(x, Tensor) else Tensor(xp.asarray(x)))


class Mnist1dMLP(nn.Module):
    """MNIST-1D's MLP (the repository's ``MLPBase``): two hidden layers of 100 with a residual second layer.

    h₁ = ReLU(W₁x + b₁);  h₂ = h₁ + ReLU(W₂h₁ + b₂);  logits = W₃h₂ + b₃
    (15,210 parameters at the defaults). Options for the improved recipes:
    ``norm`` ("none", "batch" or "layer") before each ReLU; ``dropout`` p on
    h₁ and h₂ (inverted dropout, seed 002).

    Example: ``mnist1d_mlp()(x)`` maps (N, 40) -> (N, 10).
    """

    def __init__(self, in_features: int = 40, num_classes: int = 10, hidden_size: int = 100, norm: str = "none",
                 dropout: float = 0.0, generator=None):
        super().__init__()
        _check_choice("mnist1d_mlp", "norm", norm, ("none", "batch", "layer"))
        p = _check_p("mnist1d_mlp", dropout)
        self.linear1 = nn.Linear(in_features, hidden_size, generator=generator)
        self.linear2 = nn.Linear(hidden_size, hidden_size, generator=generator)
        self.linear3 = nn.Linear(hidden_size, num_classes, generator=generator)
        self.norm1 = _norm1d(norm, hidden_size)
        self.norm2 = _norm1d(norm, hidden_size)
        self.drop = nn.Dropout(p, generator=generator) if p > 0 else None

    def forward(self, x):
        a = self.linear1(x if isinstance(x, Tensor) else Tensor(xp.asarray(x)))
        h = relu(a if self.norm1 is None else self.norm1(a))
        if self.drop is not None:
            h = self.drop(h)
        a = self.linear2(h)
        h = h + relu(a if self.norm2 is None else self.norm2(a))
        if self.drop is not None:
            h = self.drop(h)
        return self.linear3(h)


class Mnist1dCNN(nn.Module):
    """MNIST-1D's 1-D CNN (the repository's ``ConvBase``): three strided convolutions and a linear read-out.

    conv1: Conv1d(1, 25, 5, stride 2, padding 1)  (N, 1, 40) -> (N, 25, 19)
    conv2: Conv1d(25, 25, 3, stride 2, padding 1) -> (N, 25, 10)
    conv3: Conv1d(25, 25, 3, stride 2, padding 1) -> (N, 25, 5)
    each followed by ReLU, then flatten and ``linear``: 125 -> 10
    (5,210 parameters at the defaults). Options: ``channels``; ``norm="batch"``
    puts BatchNorm1d between each convolution and its ReLU (Ioffe & Szegedy
    2015); ``dropout`` p on the flattened features.

    Input (N, 40) or (N, 1, 40). Example: ``mnist1d_cnn()(x)`` maps (N, 40) -> (N, 10).
    """

    def __init__(self, num_classes: int = 10, channels: int = 25, length: int = 40, norm: str = "none",
                 dropout: float = 0.0, generator=None):
        super().__init__()
        _check_choice("mnist1d_cnn", "norm", norm, ("none", "batch"))
        p = _check_p("mnist1d_cnn", dropout)
        self.length = length
        self.conv1 = nn.Conv1d(1, channels, 5, stride=2, padding=1, generator=generator)
        self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1, generator=generator)
        self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1, generator=generator)
        L = conv_output_size(conv_output_size(conv_output_size(length, 5, 2, 1), 3, 2, 1), 3, 2, 1)
        self.linear = nn.Linear(channels * L, num_classes, generator=generator)
        self.norm1 = nn.BatchNorm1d(channels) if norm == "batch" else None
        self.norm2 = nn.BatchNorm1d(channels) if norm == "batch" else None
        self.norm3 = nn.BatchNorm1d(channels) if norm == "batch" else None
        self.drop = nn.Dropout(p, generator=generator) if p > 0 else None

    def forward(self, x):
        x = _signal(x, "Mnist1dCNN", self.length)
        h = x.reshape((x.shape[0], 1, self.length))
        for conv, norm in ((self.conv1, self.norm1), (self.conv2, self.norm2), (self.conv3, self.norm3)):
            a = conv(h)
            h = relu(a if norm is None else norm(a))
        h = h.reshape((h.shape[0], -1))
        if self.drop is not None:
            h = self.drop(h)
        return self.linear(h)


class Mnist1dGRU(nn.Module):
    """MNIST-1D's recurrent baseline (the repository's ``GRUBase``): a bidirectional GRU read out at every step.

    The signal is read as a sequence of T = 40 scalars; a bidirectional GRU
    with hidden size 6 (Cho et al. 2014) gives (N, 40, 12), which is
    flattened to 480 features and mapped to the logits by ``linear``
    (5,134 parameters at the defaults). Options: ``hidden_size``;
    ``dropout`` p on the flattened features.

    Input (N, 40) or (N, 1, 40). Example: ``mnist1d_gru()(x)`` maps (N, 40) -> (N, 10).
    """

    def __init__(self, num_classes: int = 10, hidden_size: int = 6, length: int = 40, bidirectional: bool = True,
                 dropout: float = 0.0, generator=None):
        super().__init__()
        p = _check_p("mnist1d_gru", dropout)
        self.length = length
        self.gru = nn.GRU(1, hidden_size, batch_first=True, bidirectional=bidirectional, generator=generator)
        D = 2 if bidirectional else 1
        self.linear = nn.Linear(D * hidden_size * length, num_classes, generator=generator)
        self.drop = nn.Dropout(p, generator=generator) if p > 0 else None

    def forward(self, x):
        x = _signal(x, "Mnist1dGRU", self.length)
        out, _ = self.gru(x.reshape((x.shape[0], self.length, 1)))
        h = out.reshape((out.shape[0], -1))
        if self.drop is not None:
            h = self.drop(h)
        return self.linear(h)


class DigitsCNN(nn.Module):
    """A small 2-D CNN for scikit-learn's 8×8 digits (LeNet-style, LeCun et al. 1998; seed 002 "CNN").

    conv1: Conv2d(1, c, 3, padding 1) → ReLU → MaxPool2d(2)   (N, 1, 8, 8) -> (N, c, 4, 4)
    conv2: Conv2d(c, 2c, 3, padding 1) → ReLU → MaxPool2d(2)  -> (N, 2c, 2, 2)
    flatten → Dropout(p) → ``linear``: 8c -> 10
    (c = 16: 6,090 parameters). Input (N, 1, 8, 8) or flat (N, 64).

    Example: ``digits_cnn()(x)`` maps (N, 1, 8, 8) -> (N, 10).
    """

    def __init__(self, num_classes: int = 10, channels: int = 16, dropout: float = 0.0, generator=None):
        super().__init__()
        p = _check_p("digits_cnn", dropout)
        self.conv1 = nn.Conv2d(1, channels, 3, padding=1, generator=generator)
        self.conv2 = nn.Conv2d(channels, 2 * channels, 3, padding=1, generator=generator)
        self.pool = nn.MaxPool2d(2)
        self.linear = nn.Linear(2 * channels * 4, num_classes, generator=generator)
        self.drop = nn.Dropout(p, generator=generator) if p > 0 else None

    def forward(self, x):
        if not isinstance(x, Tensor):
            x = Tensor(xp.asarray(x))
        if x.ndim == 2 and x.shape[1] == 64:
            x = x.reshape((x.shape[0], 1, 8, 8))
        if x.ndim != 4 or x.shape[1:] != (1, 8, 8):
            raise ValueError(f"DigitsCNN: 'input' must be (N, 1, 8, 8) or (N, 64); got shape {x.shape}")
        h = self.pool(relu(self.conv1(x)))
        h = self.pool(relu(self.conv2(h)))
        h = h.reshape((h.shape[0], -1))
        if self.drop is not None:
            h = self.drop(h)
        return self.linear(h)


def mnist1d_logistic(generator=None) -> Mnist1dLogistic:
    """MNIST-1D logistic regression, 40 -> 10 (``Mnist1dLogistic``; paper: 32% test accuracy)."""
    return Mnist1dLogistic(40, 10, generator=generator)


def mnist1d_mlp(hidden_size: int = 100, norm: str = "none", dropout: float = 0.0, generator=None) -> Mnist1dMLP:
    """MNIST-1D MLP with a residual hidden layer (``Mnist1dMLP``; paper: 68% test accuracy)."""
    return Mnist1dMLP(40, 10, hidden_size, norm, dropout, generator)


def mnist1d_cnn(channels: int = 25, norm: str = "none", dropout: float = 0.0, generator=None) -> Mnist1dCNN:
    """MNIST-1D 1-D CNN, three strided Conv1d layers (``Mnist1dCNN``; paper: 94% test accuracy)."""
    return Mnist1dCNN(10, channels, 40, norm, dropout, generator)


def mnist1d_gru(hidden_size: int = 6, dropout: float = 0.0, generator=None) -> Mnist1dGRU:
    """MNIST-1D bidirectional GRU read out at all 40 steps (``Mnist1dGRU``; paper: 91% test accuracy)."""
    return Mnist1dGRU(10, hidden_size, 40, True, dropout, generator)


def digits_cnn(channels: int = 16, dropout: float = 0.0, generator=None) -> DigitsCNN:
    """Small 2-D CNN for the 8×8 digits (``DigitsCNN``)."""
    return DigitsCNN(10, channels, dropout, generator)
