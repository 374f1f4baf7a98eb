"""The shared set-up of the regularization experiments: an MLP that overfits, and one regularizer at a time.

Seeds 000-003 say that dropout, L2 (weight decay), early stopping and data
augmentation fight overfitting, and seed 001 puts it as watching "the
training/validation accuracy gap". The runs make a network overfit on
purpose — a 40-256-256-10 ReLU MLP trained on 1000 MNIST-1D samples with
SGD + momentum until it fits them perfectly — and add one regularizer:

- ``dropout``: Dropout(p = 0.5) after each hidden layer (seed 002's default);
- ``l2``: the penalty (λ/2)Σw² on the weights, λ = 0.01 (seed 002), i.e.
  w ← (1 − ηλ)w − η∂L/∂w;
- ``early_stopping``: stop when the validation loss has not improved for 10
  epochs and restore the best weights (seed 002, Keras's EarlyStopping);
- ``augmentation``: every batch shifted in time by up to ±5 samples
  (``RandomShift1d``), the 1-D counterpart of translating an image (seed 002's
  table lists data augmentation; MNIST-1D's generator itself shifts digits).

The gap is train accuracy − validation accuracy, both measured in eval mode
at the end (for early stopping: with the restored weights); validation is
1000 other MNIST-1D training samples, and the MNIST-1D test set gives a third,
untouched number.
"""
from __future__ import annotations

import functools

import numpy as np

from .. import optim
from ..backend import Generator
from ..train.callbacks import Callback, EarlyStopping
from . import common
from .experiment import Experiment
from .verdict import Verdict, all_of, bound, fmt, paired

__all__ = ["overfit_run", "GapExperiment", "sizes"]


def sizes(quick: bool) -> dict:
    return dict(n_train=400, epochs=20) if quick else dict(n_train=1000, epochs=60)


class TrainLoss(Callback):
    """Training-set loss in eval mode (no dropout noise) after every epoch."""

    def __init__(self, X, y):
        self.X, self.y, self.values = X, y, []

    def on_epoch_end(self, trainer, epoch, logs):
        self.values.append(common.evaluate(trainer, self.X, self.y)["loss"])


@functools.lru_cache(maxsize=256)
def overfit_run(seed: int, variant: str, n_train: int, epochs: int) -> dict:
    """Train the overfitting MLP with one regularizer (or ``"none"``); cached per process (the baselines are shared)."""
    from ..data import DataLoader, RandomShift1d, TensorDataset

    Xtr, ytr, Xte, yte = common.mnist1d()
    X, y = common.subset(Xtr[:3000], ytr[:3000], n_train, seed)
    Xv, yv = Xtr[3000:], ytr[3000:]
    model = common.build_mlp(40, 10, (256, 256), seed, dropout=0.5 if variant == "dropout" else 0.0)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    tl = TrainLoss(X, y)
    callbacks = [tl]
    es = None
    if variant == "early_stopping":
        es = EarlyStopping("val_loss", patience=10, restore_best_weights=True)
        callbacks.append(es)
    train = (X, y)
    if variant == "augmentation":
        train = DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True, generator=Generator(seed + 1000),
                           transform=RandomShift1d(5))
    tr, h = common.fit(model, opt, train, (Xv, yv), epochs=epochs, batch_size=64, seed=seed, callbacks=callbacks,
                       l2=0.01 if variant == "l2" else 0.0)
    train_acc = common.evaluate(tr, X, y)["accuracy"]
    val_acc = common.evaluate(tr, Xv, yv)["accuracy"]
    return {"train_accuracy": train_acc, "val_accuracy": val_acc, "gap": train_acc - val_acc,
            "test_accuracy": common.evaluate(tr, Xte, yte)["accuracy"],
            "curve_train_acc": h["accuracy"], "curve_val_acc": h["val_accuracy"], "curve_val_loss": h["val_loss"],
            "train_loss_eval": tl.values, "epochs_run": len(h["loss"]),
            "best_epoch": None if es is None else es.best_epoch}


class GapExperiment(Experiment):
    """Base of the four regularizer experiments: baseline vs ``variant``, judged on the gap and on validation accuracy."""

    variant = ""
    label = ""
    expected_quick = None

    def setup(self, quick):
        s = sizes(quick)
        return (f"MNIST-1D: {s['n_train']} training samples, 1000 validation samples, 1000 test samples; MLP "
                f"40-256-256-10 ReLU (He init), SGD η = 0.05 momentum 0.9, batch 64, {s['epochs']} epochs; "
                f"without vs with {self.label}. Gap = train − validation accuracy at the end, eval mode.")

    def jobs(self, quick, seeds):
        return [{"seed": seed, "variant": v, **sizes(quick)} for seed in seeds for v in ("none", self.variant)]

    def run_job(self, job):
        return overfit_run(job["seed"], job["variant"], job["n_train"], job["epochs"])

    def summarize(self, jobs, outputs, quick):
        m = {}
        for v in ("none", self.variant):
            outs = [o for j, o in zip(jobs, outputs) if j["variant"] == v]
            m[v] = {k: [o[k] for o in outs] for k in ("train_accuracy", "val_accuracy", "gap", "test_accuracy",
                                                     "epochs_run", "best_epoch")}
            m[v]["curve_train_acc"] = outs[0]["curve_train_acc"]
            m[v]["curve_val_acc"] = outs[0]["curve_val_acc"]
        m["table"] = [{"run": n, "train accuracy": fmt(np.mean(m[v]["train_accuracy"])),
                       "validation accuracy": fmt(np.mean(m[v]["val_accuracy"])), "gap": fmt(np.mean(m[v]["gap"])),
                       "test accuracy": fmt(np.mean(m[v]["test_accuracy"]))}
                      for v, n in (("none", "no regularization"), (self.variant, self.label))]
        return m

    def judge(self, m):
        b, r = m["none"], m[self.variant]
        v = all_of(
            paired(b["gap"], r["gap"], "less", margin=0.05, names=("no regularization", self.label),
                   what="train − validation accuracy gap"),
            bound([x - y for x, y in zip(r["val_accuracy"], b["val_accuracy"])], ">", -0.005,
                  what=f"validation accuracy with {self.label} minus without (not worse: > −0.005)"),
        )
        return Verdict(v.status, v.text + f"; test accuracy {fmt(np.mean(r['test_accuracy']))} with vs "
                                          f"{fmt(np.mean(b['test_accuracy']))} without")

    def plot(self, m, path):
        plt = common.plt()
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
        for ax, v, n in ((axes[0], "none", "no regularization"), (axes[1], self.variant, self.label)):
            tr, va = m[v]["curve_train_acc"], m[v]["curve_val_acc"]
            ep = np.arange(1, len(tr) + 1)
            ax.plot(ep, tr, label="train (running, training mode)")
            ax.plot(ep, va, label="validation")
            ax.fill_between(ep, va, tr, color="C3", alpha=0.12, label="gap")
            ax.set_title(f"{n}: final gap {fmt(np.mean(m[v]['gap']))} (mean over seeds)", fontsize=10)
            ax.set_xlabel("epoch (first seed)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="lower right")
        axes[0].set_ylabel("accuracy")
        return common.fig_done(fig, path, f"Overfitting MLP on 1000 samples: without vs with {self.label}")
