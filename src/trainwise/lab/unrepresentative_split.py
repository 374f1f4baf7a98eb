"""Learning curves expose an unrepresentative training or validation split.

Seed 003 ("Diagnosing Unrepresentative Datasets"): an unrepresentative
*training* set — too few examples compared with the validation set — shows
as a training curve far better than the validation curve that does not come
together; an unrepresentative *validation* set — too few examples compared
with the training set — shows as a noisy validation curve that cannot be
trusted (it may even sit on the wrong side of the training curve). The runs
train the same MLP on three splits of MNIST-1D — representative (3000 /
1000), small training set (100 / 1000), small validation set (3000 / 20) —
and measure on the epoch curves: the final gap between validation and
training loss, and the noise of the validation accuracy (standard deviation
of its epoch-to-epoch changes over the second half of training). The MNIST-1D
test set (1000 samples, never used) shows how far each validation estimate is
from the truth.
"""
from __future__ import annotations

import numpy as np

from .. import optim
from . import common
from .experiment import Experiment, register
from .verdict import HOLDS, all_of, fmt, paired

SPLITS = {"representative": (3000, 1000), "small train": (100, 1000), "small validation": (3000, 20)}


@register
class UnrepresentativeSplit(Experiment):
    name = "unrepresentative_split"
    title = "Learning curves expose unrepresentative splits"
    claim = ("Learning curves expose an unrepresentative split: a training set too small leaves a gap that does not "
             "close; a validation set too small gives a noisy, untrustworthy validation curve.")
    note = "seed 003 'Diagnosing Unrepresentative Datasets', '... Train Datasets', 'Unrepresentative Validation Dataset'"
    paper = None
    order = 51
    expected_quick = HOLDS

    def sizes(self, quick):
        return dict(epochs=20, scale=3) if quick else dict(epochs=30, scale=1)

    def setup(self, quick):
        s = self.sizes(quick)
        splits = {k: (v[0] // s["scale"] if k != "small train" else v[0], v[1]) for k, v in SPLITS.items()}
        return (f"MNIST-1D; training / validation sizes {splits}; MLP 40-128-128-10 ReLU with dropout 0.2, Adam "
                f"η = 1e-3, batch 64, {s['epochs']} epochs. Gap = validation loss − training loss at the end; noise = "
                "sd of the epoch-to-epoch change of validation accuracy over the second half.")

    def jobs(self, quick, seeds):
        s = self.sizes(quick)
        return [{"seed": seed, "split": k, "n_train": v[0] // s["scale"] if k != "small train" else v[0],
                 "n_val": v[1], "epochs": s["epochs"]} for seed in seeds for k, v in SPLITS.items()]

    def run_job(self, job):
        Xtr, ytr, Xte, yte = common.mnist1d()
        X, y = common.subset(Xtr[:3000], ytr[:3000], job["n_train"], job["seed"])
        Xv, yv = common.subset(Xtr[3000:], ytr[3000:], job["n_val"], job["seed"] + 1)
        model = common.build_mlp(40, 10, (128, 128), job["seed"], dropout=0.2)
        tr, h = common.fit(model, optim.Adam(model.parameters(), lr=1e-3), (X, y), (Xv, yv), epochs=job["epochs"],
                           batch_size=64, seed=job["seed"])
        va = np.asarray(h["val_accuracy"])
        half = len(va) // 2
        return {"loss": h["loss"], "val_loss": h["val_loss"], "accuracy": h["accuracy"], "val_accuracy": h["val_accuracy"],
                "gap": float(h["val_loss"][-1] - h["loss"][-1]), "noise": float(np.std(np.diff(va[half:]))),
                "estimate_error": abs(float(va[-1]) - common.evaluate(tr, Xte, yte)["accuracy"])}

    def summarize(self, jobs, outputs, quick):
        m = {}
        for k in SPLITS:
            outs = [o for j, o in zip(jobs, outputs) if j["split"] == k]
            m[k] = {key: [o[key] for o in outs] for key in ("gap", "noise", "estimate_error")}
            m[k]["curves"] = {key: outs[0][key] for key in ("loss", "val_loss", "accuracy", "val_accuracy")}
        m["table"] = [{"split": k, "validation − training loss (end)": fmt(np.mean(m[k]["gap"])),
                       "noise of the validation accuracy": fmt(np.mean(m[k]["noise"])),
                       "|validation accuracy − test accuracy|": fmt(np.mean(m[k]["estimate_error"]))} for k in SPLITS]
        return m

    def judge(self, m):
        r = m["representative"]
        v = all_of(
            paired(r["gap"], m["small train"]["gap"], "greater", margin=0.3, names=("representative", "small train"),
                   what="validation − training loss at the end"),
            paired(r["noise"], m["small validation"]["noise"], "greater", margin=3.0, scale="ratio",
                   names=("representative", "small validation"), what="noise of the validation-accuracy curve"),
        )
        err = np.mean(m["small validation"]["estimate_error"])
        v.text += (f"; the small validation set misjudges the test accuracy by {fmt(err)} "
                   f"on average (representative split: {fmt(np.mean(r['estimate_error']))})")
        return v

    def plot(self, m, path):
        plt = common.plt()
        fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
        for ax, k in zip(axes, SPLITS):
            c = m[k]["curves"]
            ep = np.arange(1, len(c["loss"]) + 1)
            ax.plot(ep, c["loss"], label="train loss")
            ax.plot(ep, c["val_loss"], label="validation loss")
            ax2 = ax.twinx()
            ax2.plot(ep, c["val_accuracy"], color="C2", ls=":", label="validation accuracy")
            ax2.set_ylim(0, 1)
            ax.set_title(f"{k}", fontsize=10)
            ax.set_xlabel("epoch (first seed)")
            ax.grid(alpha=0.3)
            h1, l1 = ax.get_legend_handles_labels()
            h2, l2 = ax2.get_legend_handles_labels()
            ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper right")
        axes[0].set_ylabel("loss")
        return common.fig_done(fig, path, "Learning curves of three splits (seed 003's unrepresentative datasets)")
