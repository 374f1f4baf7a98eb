"""Gradient clipping tames exploding gradients.

Seed 002 ("Practical Techniques: Gradient Clipping — preventing exploding
gradients"; norm clipping g ← g·c/‖g‖ when ‖g‖ > c) and seed 003 ("Solution:
... 2. Gradient Clipping (Exploding Gradients)"); seed 004: gradients grow
exponentially when large weights are multiplied layer after layer. The runs
make the gradients explode on purpose: a 10-layer ReLU network whose weights
are 1.5× He's (each layer multiplies the signal by about 1.5, so the first
layer's gradient is about 1.5^10 ≈ 58 times larger than He's), trained
with SGD + momentum at η = 0.03, with and without clipping the global
gradient norm to 1 (Pascanu, Mikolov & Bengio 2013).
"""
from __future__ import annotations

import math

import numpy as np

from .. import optim
from ..train.callbacks import Callback
from . import common
from .experiment import Experiment, register
from .verdict import HOLDS, Verdict, all_of, bound, fmt, paired

LN10 = math.log(10.0)


class GradNorm(Callback):
    """Global gradient norm (before clipping) and loss at every step."""

    def __init__(self):
        self.norms, self.losses = [], []

    def on_after_backward(self, trainer, step):
        with np.errstate(all="ignore"):
            sq = sum(float(np.sum(np.square(p.grad, dtype=np.float64)))
                     for p in trainer.model.parameters() if p.grad is not None)
        self.norms.append(math.sqrt(sq) if math.isfinite(sq) else math.inf)

    def on_batch_end(self, trainer, step, logs):
        v = logs["loss"]
        self.losses.append(v if math.isfinite(v) else math.inf)


@register
class Clipping(Experiment):
    name = "clipping"
    title = "Gradient clipping against exploding gradients"
    claim = "Clipping the gradient norm tames exploding gradients: training that diverges without it proceeds with it."
    note = "seed 002 'Practical Techniques: Gradient Clipping'; seed 003 'Gradient Clipping (Exploding Gradients)'"
    paper = "Pascanu, Mikolov & Bengio 2013, 'On the difficulty of training recurrent neural networks'"
    order = 23
    expected_quick = HOLDS

    def sizes(self, quick):
        return dict(n_train=2000, epochs=3) if quick else dict(n_train=4000, epochs=10)

    def setup(self, quick):
        s = self.sizes(quick)
        return (f"MNIST-1D ({s['n_train']} training samples), 10 hidden ReLU layers of width 64 with weights 1.5 × He "
                f"normal, SGD η = 0.03 momentum 0.9, batch 64, {s['epochs']} epochs; without clipping vs "
                "clip_grad_norm = 1. Measured: the gradient norm before clipping and the loss at every step; a "
                "NaN or infinite loss counts as diverged.")

    def jobs(self, quick, seeds):
        return [{"seed": s, "clip": c, **self.sizes(quick)} for s in seeds for c in (None, 1.0)]

    def run_job(self, job):
        Xtr, ytr, Xte, yte = common.mnist1d()
        X, y = common.subset(Xtr, ytr, job["n_train"], job["seed"])
        model = common.build_net([40] + [64] * 10 + [10], "relu", "he_normal", job["seed"])
        for p in model.parameters():
            if p.ndim == 2:
                p.data *= 1.5
        cb = GradNorm()
        tr, h = common.fit(model, optim.SGD(model.parameters(), lr=0.03, momentum=0.9), (X, y), (Xte, yte),
                           epochs=job["epochs"], batch_size=64, seed=job["seed"], callbacks=[cb],
                           clip_grad_norm=job["clip"])
        loss = common.finite_or_inf(h["loss"])
        return {"loss": loss, "final_loss": loss[-1], "diverged": not math.isfinite(loss[-1]),
                "step_loss": cb.losses, "grad_norm": cb.norms,
                "max_grad_norm": max([v for v in cb.norms if math.isfinite(v)], default=math.nan),
                "val_accuracy": h["val_accuracy"][-1]}

    def summarize(self, jobs, outputs, quick):
        m = {}
        for c, k in ((None, "plain"), (1.0, "clipped")):
            outs = [o for j, o in zip(jobs, outputs) if j["clip"] == c]
            m[k] = {key: [o[key] for o in outs] for key in ("final_loss", "diverged", "max_grad_norm", "val_accuracy")}
            m[k]["step_loss"] = outs[0]["step_loss"]
            m[k]["grad_norm"] = outs[0]["grad_norm"]
        m["table"] = [{"run": k, "diverged (per seed)": str(m[k]["diverged"]),
                       "final training loss": str([round(v, 3) if math.isfinite(v) else "inf" for v in m[k]["final_loss"]]),
                       "largest finite gradient norm": fmt(np.nanmax(m[k]["max_grad_norm"])),
                       "held-out accuracy": fmt(np.nanmean(m[k]["val_accuracy"]))} for k in ("plain", "clipped")]
        return m

    def judge(self, m):
        v = all_of(
            bound(m["plain"]["final_loss"], ">", 0.98 * LN10,
                  what="without clipping: final loss diverged (inf) or stuck at chance (> 2.26)"),
            paired(m["plain"]["final_loss"], m["clipped"]["final_loss"], "less", margin=0.2,
                   names=("no clipping", "clipping"), what="final training loss"),
        )
        return Verdict(v.status, v.text + f". Largest finite gradient norm seen without clipping: "
                                          f"{fmt(np.nanmax(m['plain']['max_grad_norm']))} (the clip threshold is 1)")

    def plot(self, m, path):
        plt = common.plt()
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        for k, c in (("plain", "C3"), ("clipped", "C0")):
            g = np.asarray(m[k]["grad_norm"], dtype=float)
            g[~np.isfinite(g)] = np.nan
            axes[0].semilogy(np.arange(1, len(g) + 1), g, color=c, lw=0.8, label=k)
            l = np.asarray(m[k]["step_loss"], dtype=float)
            l[~np.isfinite(l)] = np.nan
            axes[1].semilogy(np.arange(1, len(l) + 1), l, color=c, lw=0.8, label=k)
        axes[0].axhline(1.0, color="k", ls=":", label="clip threshold 1")
        axes[0].set_ylabel("gradient norm before clipping")
        axes[1].set_ylabel("training loss per step (gaps: NaN)")
        for ax in axes:
            ax.set_xlabel("step (first seed)")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
        return common.fig_done(fig, path, "Exploding gradients (weights 1.5× He, 10 ReLU layers): clipped vs not")
