"""Helpers the lab's experiments share: small data, small models, one training call, plots.

Everything here is plain use of the library (``trainwise.data``,
``trainwise.models``, ``trainwise.train.Trainer``); an experiment that reads
as "build the model, train it, measure" stays that short.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..backend import Generator

__all__ = ["mnist1d", "digits", "subset", "build_mlp", "build_net", "signal_flow", "rms", "fit", "evaluate", "plt",
           "finite_or_inf", "per_seed", "fig_done"]


@functools.lru_cache(maxsize=None)
def _load(name: str):
    from ..data import load_dataset

    ds = load_dataset(name)
    return (np.ascontiguousarray(ds.X_train), np.ascontiguousarray(ds.y_train),
            np.ascontiguousarray(ds.X_test), np.ascontiguousarray(ds.y_test))


def mnist1d():
    """MNIST-1D (Greydanus 2020): (X_train 4000×40, y_train, X_test 1000×40, y_test), loaded once per process."""
    return _load("mnist1d")


def digits():
    """scikit-learn's 8×8 digits as (X_train 1348×64, y_train, X_test 449×64, y_test), pixels in [0, 1]."""
    return _load("digits")


def subset(X, y, n: int, seed: int, stratify: bool = True):
    """``n`` samples of (X, y) drawn with ``Generator(seed)``, about equally many per class."""
    n = min(int(n), len(X))
    rng = Generator(seed)
    if not stratify:
        idx = rng.permutation(len(X))[:n]
        return X[idx], y[idx]
    classes = np.unique(y)
    per = [np.flatnonzero(y == c) for c in classes]
    per = [p[rng.permutation(len(p))] for p in per]
    take = []
    k = 0
    while len(take) < n:
        for p in per:
            if k < len(p) and len(take) < n:
                take.append(p[k])
        k += 1
    idx = np.asarray(take)[rng.permutation(len(take))]
    return X[idx], y[idx]


def build_mlp(in_features, out_features, hidden, seed, **kwargs):
    """``trainwise.models.mlp`` with its own ``Generator(seed)`` (weights and dropout masks)."""
    from ..models import mlp

    return mlp(in_features, out_features, hidden=tuple(hidden), generator=Generator(seed), **kwargs)


def build_net(sizes, activation, init, seed, gain: str | None = None, norm=None):
    """Linear layers ``sizes[0] → … → sizes[-1]`` with ``activation`` between them, built by hand.

    Unlike ``models.mlp`` (which matches the gain to the activation), the
    initializers keep the papers' plain rules unless ``gain`` names a
    nonlinearity: Xavier means Var(W) = 2/(n_in + n_out), He Var(W) = 2/n_in.
    ``norm`` "batch" or "layer" inserts a normalization before each activation.
    """
    from .. import nn
    from ..nn.activation import ACTIVATIONS

    g = Generator(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        layers.append(nn.Linear(a, b, init=init, nonlinearity=gain, generator=g))
        if not last:
            if norm == "batch":
                layers.append(nn.BatchNorm1d(b))
            elif norm == "layer":
                layers.append(nn.LayerNorm(b))
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def signal_flow(model, X, y):
    """Activations and back-propagated gradients, layer by layer, of a Sequential of Linear + activation.

    Forwards the batch ``X`` through ``model`` (in eval mode), takes the
    cross-entropy with labels ``y`` and back-propagates. Returns
    ``(activations, gradients)``: for each hidden layer l, the activation
    a_l = f(z_l) and the back-propagated gradient ∂L/∂z_l with respect to its
    pre-activation (Glorot & Bengio 2010's "back-propagated gradients"), as
    float64 ndarrays. ∂L/∂z_l is read from a zero "probe" added to z_l, whose
    gradient is exactly ∂L/∂z_l. Uses the mean loss over the batch, as training does.
    """
    from .. import nn
    from ..functional import cross_entropy
    from ..tensor import Tensor

    layers = list(model)
    linears = [i for i, m in enumerate(layers) if isinstance(m, nn.Linear)]
    model.eval()
    h = Tensor(X)
    probes, acts = [], []
    with np.errstate(all="ignore"):
        for i, m in enumerate(layers):
            h = m(h)
            if i in linears[:-1]:
                p = Tensor(np.zeros_like(h.data), requires_grad=True)
                h = h + p
                probes.append(p)
            elif not isinstance(m, nn.Linear) and i + 1 < len(layers) and isinstance(layers[i + 1], nn.Linear):
                acts.append(h.data.astype(np.float64))
        cross_entropy(h, Tensor(y)).backward()
    model.train()
    return acts, [p.grad.astype(np.float64) for p in probes]


def rms(a) -> float:
    """Root mean square of an array (the spread of a zero-mean signal)."""
    a = np.asarray(a, dtype=np.float64)
    return float(np.sqrt(np.mean(a * a)))


def fit(model, optimizer, train, val=None, epochs=10, batch_size=64, seed=0, callbacks=(), loss=None, **trainer_kw):
    """Train with ``Trainer`` (shuffling from ``Generator(seed + 1000)``); returns (trainer, history dict).

    Floating-point warnings are silenced: a diverging run is a measurement here
    (its NaN loss is recorded and judged), not an error.
    """
    from .. import nn
    from ..train import Trainer

    tr = Trainer(model, loss or nn.CrossEntropyLoss(), optimizer, callbacks=list(callbacks),
                 generator=Generator(seed + 1000), **trainer_kw)
    with np.errstate(all="ignore"):
        hist = tr.fit(train, val, epochs=epochs, batch_size=batch_size)
    return tr, hist.history


def evaluate(trainer, X, y) -> dict:
    """Loss and accuracy of ``trainer.model`` on (X, y) in eval mode (NaN-safe)."""
    with np.errstate(all="ignore"):
        r = trainer.evaluate((X, y))
    return {k: float(v) for k, v in r.items()}


def finite_or_inf(values):
    """Losses for judging: a NaN (diverged) loss counts as infinitely bad."""
    return [math.inf if (v is None or not math.isfinite(float(v))) else float(v) for v in values]


def per_seed(outputs, jobs, key, **match):
    """``[out[key] for each job matching **match]``, in job order (one per seed)."""
    return [o[key] for j, o in zip(jobs, outputs) if all(j.get(k) == v for k, v in match.items())]


def plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def fig_done(fig, path, title=None) -> str:
    """Title, tight layout, save at 90 dpi, close; returns ``path``."""
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt().close(fig)
    return str(path)
