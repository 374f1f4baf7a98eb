"""Learning-rate warmup stabilizes adaptive methods early in training.

Seed 002 ("Warmup Strategies: gradual learning rate increase; prevents early
instability in adaptive methods", η_t = η·t/T_warmup; "Practical Guidelines:
Warmup: essential for large models and adaptive methods"). Early on, Adam's
second-moment estimate v̂ rests on a handful of gradients, so its steps of
size ≈ η per weight are taken in directions it knows little about; a linear
warmup keeps those first steps small (Liu et al. 2020, "On the Variance of
the Adaptive Learning Rate and Beyond", study this for Adam). The runs train
a 6-layer ReLU MLP with Adam at several learning rates, with and without a
linear warmup, and measure the early instability — the largest training
loss in the first two epochs relative to the loss at the first step — and
the final training loss.
"""
from __future__ import annotations

import numpy as np

from .. import optim
from ..optim import lr_scheduler
from ..train.callbacks import Callback
from . import common
from .experiment import Experiment, register
from .verdict import HOLDS, Verdict, all_of, fmt, paired


class StepLoss(Callback):
    def __init__(self):
        self.losses = []

    def on_batch_end(self, trainer, step, logs):
        self.losses.append(float(logs["loss"]))


@register
class Warmup(Experiment):
    name = "warmup"
    title = "Warmup for Adam"
    claim = "A learning-rate warmup prevents early instability in adaptive methods (Adam)."
    note = "seed 002 'Warmup Strategies'; 'Practical Guidelines'"
    paper = "Liu et al. 2020, 'On the Variance of the Adaptive Learning Rate and Beyond'; Goyal et al. 2017"
    order = 24
    expected_quick = None

    def sizes(self, quick):
        if quick:
            return dict(n_train=2000, epochs=3, warmup=60, lrs=[0.03])
        return dict(n_train=4000, epochs=10, warmup=200, lrs=[0.003, 0.01, 0.03])

    def setup(self, quick):
        s = self.sizes(quick)
        return (f"MNIST-1D ({s['n_train']} training samples), MLP 40-128×6-10 ReLU (He init), Adam, batch 64, "
                f"{s['epochs']} epochs, η ∈ {s['lrs']}; no warmup vs linear warmup from 0.001·η to η over the first "
                f"{s['warmup']} steps (LinearLR, stepped every batch). Early instability = largest loss over the first "
                "two epochs / loss at the first step.")

    def jobs(self, quick, seeds):
        s = self.sizes(quick)
        return [{"seed": seed, "lr": lr, "warmup": w, "n_train": s["n_train"], "epochs": s["epochs"]}
                for seed in seeds for lr in s["lrs"] for w in (0, s["warmup"])]

    def run_job(self, job):
        Xtr, ytr, Xte, yte = common.mnist1d()
        X, y = common.subset(Xtr, ytr, job["n_train"], job["seed"])
        model = common.build_mlp(40, 10, (128,) * 6, job["seed"])
        opt = optim.Adam(model.parameters(), lr=job["lr"])
        sched = (lr_scheduler.LinearLR(opt, start_factor=1e-3, end_factor=1.0, total_iters=job["warmup"])
                 if job["warmup"] else None)
        cb = StepLoss()
        tr, h = common.fit(model, opt, (X, y), (Xte, yte), epochs=job["epochs"], batch_size=64, seed=job["seed"],
                           callbacks=[cb], scheduler=sched, scheduler_interval="step")
        steps_per_epoch = -(-len(X) // 64)
        early = cb.losses[:2 * steps_per_epoch]
        loss = common.finite_or_inf(h["loss"])
        return {"spike": float(np.nanmax(early) / cb.losses[0]) if np.isfinite(early).any() else float("inf"),
                "final_loss": loss[-1], "loss": loss, "step_loss": cb.losses[:3 * steps_per_epoch],
                "val_accuracy": h["val_accuracy"][-1]}

    def summarize(self, jobs, outputs, quick):
        m = {"lrs": sorted({j["lr"] for j in jobs})}
        for lr in m["lrs"]:
            for w in (False, True):
                k = f"{lr}/{'warmup' if w else 'none'}"
                outs = [o for j, o in zip(jobs, outputs) if j["lr"] == lr and bool(j["warmup"]) == w]
                m[k] = {"spike": [o["spike"] for o in outs], "final_loss": [o["final_loss"] for o in outs],
                        "val_accuracy": [o["val_accuracy"] for o in outs], "step_loss": outs[0]["step_loss"],
                        "loss": outs[0]["loss"]}
        m["table"] = [{"η": lr, "warmup": w, "early spike (max loss / first loss)": fmt(np.mean(m[f"{lr}/{w}"]["spike"])),
                       "final training loss": fmt(np.mean(m[f"{lr}/{w}"]["final_loss"])),
                       "held-out accuracy": fmt(np.mean(m[f"{lr}/{w}"]["val_accuracy"]))}
                      for lr in m["lrs"] for w in ("none", "warmup")]
        return m

    def judge(self, m):
        hi = max(m["lrs"])
        v = all_of(
            paired(m[f"{hi}/warmup"]["spike"], m[f"{hi}/none"]["spike"], "greater", margin=2.0, scale="ratio",
                   names=("warmup", "no warmup"), what=f"η = {hi}: early instability (largest early loss / first loss)"),
            paired(m[f"{hi}/warmup"]["final_loss"], m[f"{hi}/none"]["final_loss"], "greater", margin=0.02,
                   names=("warmup", "no warmup"), what=f"η = {hi}: final training loss"),
        )
        others = [lr for lr in m["lrs"] if lr != hi]
        if others:
            v.text += "; at smaller η the final losses are " + ", ".join(
                f"η = {lr}: {fmt(np.mean(m[f'{lr}/none']['final_loss']))} without vs "
                f"{fmt(np.mean(m[f'{lr}/warmup']['final_loss']))} with warmup" for lr in others)
        return Verdict(v.status, v.text)

    def plot(self, m, path):
        plt = common.plt()
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        hi = max(m["lrs"])
        for w, c in (("none", "C3"), ("warmup", "C0")):
            l = np.asarray(m[f"{hi}/{w}"]["step_loss"], dtype=float)
            axes[0].semilogy(np.arange(1, len(l) + 1), l, color=c, lw=0.8, label=f"η = {hi}, {w}")
        axes[0].set_xlabel("step (first three epochs, first seed)")
        axes[0].set_ylabel("training loss per step")
        x = np.arange(len(m["lrs"]))
        for k, (w, c) in enumerate((("none", "C3"), ("warmup", "C0"))):
            axes[1].bar(x + (k - 0.5) * 0.38, [np.mean(m[f"{lr}/{w}"]["final_loss"]) for lr in m["lrs"]], 0.38,
                        yerr=[np.std(m[f"{lr}/{w}"]["final_loss"]) for lr in m["lrs"]], color=c, label=w)
        axes[1].set_xticks(x, [f"η = {lr}" for lr in m["lrs"]])
        axes[1].set_ylabel("final training loss (mean ± sd)")
        for ax in axes:
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
        return common.fig_done(fig, path, "Adam with and without a linear warmup")
