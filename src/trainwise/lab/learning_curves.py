"""Learning curves tell underfitting from overfitting.

Seed 003 ("Training and Validation Curves", "Underfit Learning Curves",
"Overfit Learning Curves"): a learning curve plots the training and
validation score against the number of training examples. An underfit model
(high bias) has training and validation scores that are close and low, and
adding examples does not help; an overfit model (high variance) has a near
perfect training score far above the validation score, and the validation
score keeps improving as examples are added. Seeds 000-001 use the same
diagnosis on curves over epochs (see seeds/ERRATA.md on the two senses).

The runs draw seed 003's curve (``trainwise.train.curves.learning_curve_by_size``)
for a model built to underfit — an MLP with 2 hidden units, "a simple model
for a complex problem" — and one built to overfit — an unregularized 256-256
MLP — and check that each curve shows the signature the notes describe.
"""
from __future__ import annotations

import numpy as np

from .. import optim
from ..backend import Generator
from . import common
from .experiment import Experiment, register
from .verdict import HOLDS, all_of, bound, fmt

SIZES = (125, 250, 500, 1000, 2000, 4000)
QUICK_SIZES = (100, 400, 1600)


def _fit_and_score(kind, seed, steps, width):
    def fn(X, y, Xv, yv):
        model = common.build_mlp(40, 10, (2,) if kind == "tiny" else (width, width), seed)
        epochs = max(1, -(-steps // -(-len(X) // 64)))
        opt = optim.Adam(model.parameters(), lr=1e-2 if kind == "tiny" else 1e-3)
        tr, _ = common.fit(model, opt, (X, y), None, epochs=epochs, batch_size=64, seed=seed)
        return common.evaluate(tr, X, y)["accuracy"], common.evaluate(tr, Xv, yv)["accuracy"]
    return fn


@register
class LearningCurves(Experiment):
    name = "learning_curves"
    title = "Learning curves: underfitting vs overfitting"
    claim = ("Learning curves tell under- from overfitting: an underfit model's training and validation scores are "
             "close and low and do not improve with more data; an overfit model's training score is near perfect, "
             "far above validation, and validation improves with more data.")
    note = "seed 003 'Training and Validation Curves', 'Underfit/Overfit Learning Curves'"
    paper = None
    errata = "seeds/ERRATA.md: the notes use 'learning curve' both over training-set size (here) and over epochs."
    order = 50
    seeds_full = (0, 1, 2)
    expected_quick = HOLDS

    def sizes(self, quick):
        return (dict(sizes=list(QUICK_SIZES), steps=250, width=128) if quick
                else dict(sizes=list(SIZES), steps=1500, width=256))

    def setup(self, quick):
        s = self.sizes(quick)
        return (f"MNIST-1D, nested training subsets of {s['sizes']} samples, the 1000 test samples as validation. "
                f"Each point trains a fresh model for about {s['steps']} steps (batch 64, Adam): an MLP 40-2-10 "
                f"(η = 0.01) or an MLP 40-{s['width']}-{s['width']}-10 without regularization (η = 1e-3). "
                "Scores are accuracies in eval mode.")

    def jobs(self, quick, seeds):
        s = self.sizes(quick)
        return [{"seed": seed, "model": k, **s} for seed in seeds for k in ("tiny", "mlp")]

    def run_job(self, job):
        from ..train.curves import learning_curve_by_size

        Xtr, ytr, Xte, yte = common.mnist1d()
        c = learning_curve_by_size(_fit_and_score(job["model"], job["seed"], job["steps"], job["width"]), Xtr, ytr, Xte, yte,
                                   job["sizes"], generator=Generator(job["seed"]))
        return {"sizes": c["sizes"].tolist(), "train": c["train"].tolist(), "val": c["val"].tolist()}

    def summarize(self, jobs, outputs, quick):
        m = {}
        for k in ("tiny", "mlp"):
            outs = [o for j, o in zip(jobs, outputs) if j["model"] == k]
            tr = np.asarray([o["train"] for o in outs])
            va = np.asarray([o["val"] for o in outs])
            m[k] = {"sizes": outs[0]["sizes"], "train": tr.mean(0).tolist(), "val": va.mean(0).tolist(),
                    "train_sd": tr.std(0).tolist(), "val_sd": va.std(0).tolist(),
                    "gap_end": (tr[:, -1] - va[:, -1]).tolist(), "train_end": tr[:, -1].tolist(),
                    "val_gain_last": (va[:, -1] - va[:, -2]).tolist(),
                    "train_drop": (tr[:, 0] - tr[:, -1]).tolist()}
        m["table"] = [{"model": n, "train accuracy (largest set)": fmt(np.mean(m[k]["train_end"])),
                       "gap (largest set)": fmt(np.mean(m[k]["gap_end"])),
                       "validation gain over the last step of size": fmt(np.mean(m[k]["val_gain_last"]))}
                      for k, n in (("tiny", "MLP with 2 hidden units (built to underfit)"),
                                   ("mlp", "wide MLP, no regularization (built to overfit)"))]
        return m

    def judge(self, m):
        u, o = m["tiny"], m["mlp"]
        return all_of(
            bound(u["gap_end"], "<", 0.08, what="underfit: train − validation accuracy at the largest size (close)"),
            bound(u["val_gain_last"], "<", 0.03, what="underfit: validation gain over the last increase in size (flat)"),
            bound(u["train_drop"], ">", 0.0, what="underfit: training accuracy falls as examples are added"),
            bound(o["gap_end"], ">", 0.15, what="overfit: train − validation accuracy at the largest size (far apart)"),
            bound(o["val_gain_last"], ">", 0.03,
                  what="overfit: validation gain over the last increase in size (still rising)"),
        )

    def plot(self, m, path):
        plt = common.plt()
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
        for ax, k, n in ((axes[0], "tiny", "MLP 40-2-10: underfits"),
                         (axes[1], "mlp", "wide MLP, no regularization: overfits")):
            s = m[k]["sizes"]
            for key, lab in (("train", "train"), ("val", "validation")):
                ax.errorbar(s, m[k][key], yerr=m[k][f"{key}_sd"], marker="o", capsize=3, label=lab)
            ax.set_xscale("log")
            ax.set_xlabel("training examples")
            ax.set_title(n, fontsize=10)
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
        axes[0].set_ylabel("accuracy (mean ± sd over seeds)")
        return common.fig_done(fig, path, "Learning curves over training-set size (seed 003)")
