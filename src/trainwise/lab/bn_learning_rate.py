"""Batch normalization permits higher learning rates.

Seed 002 ("Batch Normalization: Properties — faster convergence, higher
learning rates"; "Normalization: benefits — higher learning rates"). Ioffe &
Szegedy 2015 (section 3.3) argue that BN makes a layer's output invariant to
the scale of its weights, so large steps do not blow activations up. The runs
sweep the learning rate of SGD + momentum for the same MLP with and without
BN, and record for each network the largest learning rate that still trains:
the largest η whose held-out accuracy reaches 80% of that network's best
accuracy over the sweep.
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import optim
from . import common
from .experiment import Experiment, register
from .verdict import HOLDS, Verdict, fmt, paired

LRS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
QUICK_LRS = (0.1, 0.3, 1.0)


def largest_trainable(lrs, accs, fraction=0.8):
    """The largest η in ``lrs`` whose accuracy is at least ``fraction`` × the best accuracy over all η."""
    best = max(a for a in accs if a == a)
    return max(lr for lr, a in zip(lrs, accs) if a >= fraction * best)


@register
class BNLearningRate(Experiment):
    name = "bn_learning_rate"
    title = "Batch norm permits higher learning rates"
    claim = "Batch normalization allows (much) higher learning rates."
    note = "seed 002 'Batch Normalization: Properties'; 'Normalization: Benefits'"
    paper = "Ioffe & Szegedy 2015, 'Batch Normalization', section 3.3"
    order = 31
    expected_quick = HOLDS

    def sizes(self, quick):
        return dict(n_train=800, epochs=4, lrs=list(QUICK_LRS)) if quick else dict(n_train=2000, epochs=8, lrs=list(LRS))

    def setup(self, quick):
        s = self.sizes(quick)
        return (f"MNIST-1D ({s['n_train']} training samples), MLP 40-128×4-10 ReLU (He init), with BatchNorm1d before "
                f"each ReLU or without; SGD momentum 0.9, batch 64, {s['epochs']} epochs, η ∈ {s['lrs']}. "
                "Largest trainable η = the largest η whose held-out accuracy is ≥ 80% of that network's best.")

    def jobs(self, quick, seeds):
        s = self.sizes(quick)
        return [{"seed": seed, "bn": b, "lr": lr, "n_train": s["n_train"], "epochs": s["epochs"]}
                for seed in seeds for b in (False, True) for lr in s["lrs"]]

    def run_job(self, job):
        Xtr, ytr, Xte, yte = common.mnist1d()
        X, y = common.subset(Xtr, ytr, job["n_train"], job["seed"])
        model = common.build_mlp(40, 10, (128,) * 4, job["seed"], norm="batch" if job["bn"] else "none")
        tr, h = common.fit(model, optim.SGD(model.parameters(), lr=job["lr"], momentum=0.9), (X, y), (Xte, yte),
                           epochs=job["epochs"], batch_size=64, seed=job["seed"])
        return {"val_accuracy": h["val_accuracy"][-1], "final_loss": common.finite_or_inf(h["loss"])[-1]}

    def summarize(self, jobs, outputs, quick):
        seeds = sorted({j["seed"] for j in jobs})
        lrs = sorted({j["lr"] for j in jobs})
        m = {"lrs": lrs}
        for b, k in ((False, "plain"), (True, "bn")):
            acc = [[next(o["val_accuracy"] for j, o in zip(jobs, outputs) if j["seed"] == s and j["bn"] == b
                         and j["lr"] == lr) for lr in lrs] for s in seeds]
            loss = [[next(o["final_loss"] for j, o in zip(jobs, outputs) if j["seed"] == s and j["bn"] == b
                          and j["lr"] == lr) for lr in lrs] for s in seeds]
            m[k] = {"accuracy": acc, "final_loss": loss, "largest_lr": [largest_trainable(lrs, a) for a in acc],
                    "best_accuracy": [max(a) for a in acc]}
        m["table"] = [{"network": n, "largest trainable η (per seed)": str(m[k]["largest_lr"]),
                       "best held-out accuracy": fmt(np.mean(m[k]["best_accuracy"]))}
                      for k, n in (("plain", "without BN"), ("bn", "with BN"))]
        return m

    def judge(self, m):
        v = paired(m["plain"]["largest_lr"], m["bn"]["largest_lr"], "greater", margin=2.0, scale="ratio",
                   names=("without BN", "with BN"), what="largest trainable learning rate")
        v.text += (f"; best held-out accuracy {fmt(np.mean(m['bn']['best_accuracy']))} with BN vs "
                   f"{fmt(np.mean(m['plain']['best_accuracy']))} without")
        return Verdict(v.status, v.text)

    def plot(self, m, path):
        plt = common.plt()
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        for k, n, c in (("plain", "without BN", "C3"), ("bn", "with BN", "C0")):
            acc = np.asarray(m[k]["accuracy"], dtype=float)
            loss = np.asarray(m[k]["final_loss"], dtype=float)
            loss[~np.isfinite(loss)] = np.nan
            axes[0].errorbar(m["lrs"], acc.mean(0), yerr=acc.std(0), color=c, marker="o", capsize=3, label=n)
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                axes[1].semilogx(m["lrs"], np.nanmean(loss, 0), color=c, marker="o", label=n)
            axes[0].axvline(np.median(m[k]["largest_lr"]), color=c, ls=":", lw=1)
        axes[0].set_xscale("log")
        axes[0].set_ylabel("held-out accuracy (mean ± sd)")
        axes[1].set_ylabel("final training loss (NaN = diverged, not drawn)")
        for ax in axes:
            ax.set_xlabel("learning rate η")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
        return common.fig_done(fig, path, "Learning-rate sweep with and without batch norm (dotted: largest trainable η)")
