"""Learning curves in both of the notes' senses, as data and as PNG plots.

Seed 003 defines the learning curve over the number of training examples
(scikit-learn's sense); seeds 000/001 plot accuracy against epochs. Both tell
under- from overfitting: a train curve far above the validation curve is
overfitting (high variance), both curves low and close is underfitting (high
bias), and (seed 003) a validation curve that is erratic or below the train
curve in odd ways points at an unrepresentative split. See ``seeds/ERRATA.md``.
"""
from __future__ import annotations

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(history, path, title: str = "learning curves") -> str:
    """Loss (and each metric) against epochs, train vs validation, to a PNG. Returns ``path``."""
    plt = _plt()
    h = history.history if hasattr(history, "history") else history
    epochs = np.asarray(h.get("epoch", range(len(h.get("loss", []))))) + 1
    metrics = [k for k in h if not k.startswith("val_") and k not in ("epoch", "lr", "time")]
    fig, axes = plt.subplots(1, len(metrics) + 1, figsize=(4.2 * (len(metrics) + 1), 3.4))
    axes = np.atleast_1d(axes)
    for ax, m in zip(axes, metrics):
        ax.plot(epochs, h[m], label=f"train {m}", color="C0")
        if f"val_{m}" in h:
            ax.plot(epochs, h[f"val_{m}"], label=f"validation {m}", color="C1")
        ax.set_xlabel("epoch")
        ax.set_ylabel(m)
        if m == "loss" and all(v is not None and v > 0 for v in h[m]):
            ax.set_yscale("log")
        ax.legend()
        ax.grid(alpha=0.3)
    ax = axes[-1]
    if "lr" in h:
        ax.plot(epochs, h["lr"], color="C2")
        ax.set_xlabel("epoch")
        ax.set_ylabel("learning rate (end of epoch)")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return str(path)


def learning_curve_by_size(fit_and_score, X, y, X_val, y_val, sizes, generator=None):
    """Train on growing subsets and score train and validation (seed 003's learning curve).

    ``fit_and_score(X_sub, y_sub, X_val, y_val) -> (train_score, val_score)``
    builds a fresh model, trains it and returns the two scores. ``sizes`` are
    counts or fractions of ``len(X)``. Subsets are nested (each contains the
    previous), drawn once from ``generator``. Returns a dict of arrays:
    ``sizes``, ``train``, ``val``.
    """
    from ..backend import get_generator

    n = len(X)
    counts = [int(round(s * n)) if isinstance(s, float) and s <= 1 else int(s) for s in sizes]
    for c in counts:
        if not 1 <= c <= n:
            raise ValueError(f"learning_curve_by_size: every entry of 'sizes' must give 1..{n} samples; got {c}")
    order = get_generator(generator).permutation(n)
    train, val = [], []
    for c in counts:
        idx = order[:c]
        a, b = fit_and_score(X[idx], y[idx], X_val, y_val)
        train.append(a)
        val.append(b)
    return {"sizes": np.asarray(counts), "train": np.asarray(train), "val": np.asarray(val)}


def plot_learning_curve_by_size(curve: dict, path, metric: str = "accuracy", title: str | None = None) -> str:
    """Train and validation score against training-set size, to a PNG."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.plot(curve["sizes"], curve["train"], "o-", label=f"train {metric}")
    ax.plot(curve["sizes"], curve["val"], "o-", label=f"validation {metric}")
    ax.set_xlabel("training examples")
    ax.set_ylabel(metric)
    ax.set_title(title or "learning curve (seed 003)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return str(path)
