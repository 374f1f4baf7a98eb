"""Ready-made models, built from a few plain arguments (used by configs and the lab)."""
from __future__ import annotations

from . import nn


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
