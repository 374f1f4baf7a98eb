"""AdaGrad's learning rate keeps shrinking; RMSProp's does not.

Seed 002 ("AdaGrad ... Limitations: learning rate decreases too much";
"Visualizing Adaptive Learning Rates: AdaGrad: rapid decrease, then very
small; RMSProp: stable adaptation"). AdaGrad divides η by √G_t with
G_t = Σ_{s≤t} g_s², which only grows: for gradients of steady size the
per-coordinate rate η/√G_t falls like 1/√t. RMSProp divides by the root of a
moving average, which levels off. The runs train the same MLP with each
optimizer at each learning rate of a small grid and record the median over
all weights of the effective rate η/(√G_t + ε) (AdaGrad) and
η/(√E[g²]_t + ε) (RMSProp) at log-spaced steps. Each optimizer is then
judged at its best learning rate (lowest final training loss), so that the
question "does the decay hurt?" is asked fairly.
"""
from __future__ import annotations

import numpy as np

from .. import optim
from ..train.callbacks import Callback
from . import common
from .experiment import Experiment, register
from .verdict import PARTLY, Verdict, all_of, fmt, paired

GRID = {"Adagrad": (0.01, 0.03, 0.1, 0.3), "RMSprop": (3e-4, 1e-3, 3e-3, 1e-2)}
QUICK_GRID = {"Adagrad": (0.03, 0.1), "RMSprop": (1e-3, 3e-3)}
STATE_KEY = {"Adagrad": "sum", "RMSprop": "square_avg"}


class EffectiveRate(Callback):
    """Records the median effective per-coordinate rate η/(√state + ε) at chosen steps."""

    def __init__(self, opt, key, eps, marks):
        self.opt, self.key, self.eps, self.marks = opt, key, eps, set(marks)
        self.steps, self.rates = [], []

    def on_batch_end(self, trainer, step, logs):
        if step + 1 in self.marks:
            lr = self.opt.param_groups[0]["lr"]
            vals = np.concatenate([(lr / (np.sqrt(st[self.key]) + self.eps)).ravel()
                                   for st in self.opt.state.values() if self.key in st])
            self.steps.append(step + 1)
            self.rates.append(float(np.median(vals)))


@register
class AdagradDecay(Experiment):
    name = "adagrad_decay"
    title = "AdaGrad's vanishing learning rate vs RMSProp"
    claim = "AdaGrad's effective learning rate decreases too much (rapidly, then very small); RMSProp's stays stable."
    note = "seed 002 'AdaGrad: Limitations', 'RMSProp', 'Visualizing Adaptive Learning Rates'"
    paper = "Duchi, Hazan & Singer 2011 (AdaGrad); Tieleman & Hinton 2012 (RMSProp)"
    order = 21
    expected_quick = PARTLY

    def sizes(self, quick):
        return dict(n_train=1500, epochs=5) if quick else dict(n_train=4000, epochs=30)

    def setup(self, quick):
        s = self.sizes(quick)
        g = QUICK_GRID if quick else GRID
        return (f"MNIST-1D ({s['n_train']} training samples), MLP 40-128-128-10 ReLU (He init), batch 64, "
                f"{s['epochs']} epochs. AdaGrad η ∈ {list(g['Adagrad'])}; RMSProp (γ = 0.9, as the notes) η ∈ "
                f"{list(g['RMSprop'])}. Effective rate = median over all weights of η/(√G + ε); decay = its value at "
                "step 10 / its value at the last step. Each optimizer judged at its best η (lowest final training loss).")

    def jobs(self, quick, seeds):
        g = QUICK_GRID if quick else GRID
        return [{"seed": s, "optimizer": o, "lr": lr, **self.sizes(quick)} for s in seeds for o in g for lr in g[o]]

    def run_job(self, job):
        Xtr, ytr, Xte, yte = common.mnist1d()
        X, y = common.subset(Xtr, ytr, job["n_train"], job["seed"])
        model = common.build_mlp(40, 10, (128, 128), job["seed"])
        if job["optimizer"] == "Adagrad":
            opt, eps = optim.Adagrad(model.parameters(), lr=job["lr"]), 1e-10
        else:
            opt, eps = optim.RMSprop(model.parameters(), lr=job["lr"], alpha=0.9), 1e-8
        total = job["epochs"] * -(-len(X) // 64)
        marks = sorted(set(np.unique(np.geomspace(1, total, 25).astype(int)).tolist()) | {10, total})
        cb = EffectiveRate(opt, STATE_KEY[job["optimizer"]], eps, marks)
        tr, h = common.fit(model, opt, (X, y), (Xte, yte), epochs=job["epochs"], batch_size=64, seed=job["seed"],
                           callbacks=[cb])
        rate = dict(zip(cb.steps, cb.rates))
        return {"steps": cb.steps, "rates": cb.rates, "decay": rate[10] / rate[total],
                "loss": common.finite_or_inf(h["loss"]), "final_loss": common.finite_or_inf(h["loss"])[-1],
                "val_accuracy": h["val_accuracy"][-1]}

    def summarize(self, jobs, outputs, quick):
        m = {}
        seeds = sorted({j["seed"] for j in jobs})
        for o in ("Adagrad", "RMSprop"):
            best = []
            for s in seeds:
                cands = [(out["final_loss"], j["lr"], out) for j, out in zip(jobs, outputs)
                         if j["optimizer"] == o and j["seed"] == s]
                best.append(min(cands, key=lambda c: c[0]))
            m[o] = {"best_lr": [b[1] for b in best], "final_loss": [b[0] for b in best],
                    "decay": [b[2]["decay"] for b in best], "steps": best[0][2]["steps"], "rates": best[0][2]["rates"],
                    "loss": best[0][2]["loss"], "val_accuracy": [b[2]["val_accuracy"] for b in best],
                    # every learning rate of the grid, first seed: the decay is there at every η
                    "by_lr": {str(j["lr"]): {"steps": out["steps"], "rates": out["rates"], "decay": out["decay"]}
                              for j, out in zip(jobs, outputs) if j["optimizer"] == o and j["seed"] == seeds[0]}}
        m["table"] = [{"optimizer": o, "best η (per seed)": str(m[o]["best_lr"]),
                       "rate decay step 10 → end": fmt(np.mean(m[o]["decay"])),
                       "final training loss": fmt(np.mean(m[o]["final_loss"])),
                       "held-out accuracy": fmt(np.mean(m[o]["val_accuracy"]))} for o in ("Adagrad", "RMSprop")]
        return m

    def judge(self, m):
        decays = paired(m["RMSprop"]["decay"], m["Adagrad"]["decay"], "greater", margin=2.0, scale="ratio",
                        names=("RMSProp", "AdaGrad"), what="effective rate at step 10 / at the end, each at its best η")
        hurts = paired(m["RMSprop"]["final_loss"], m["Adagrad"]["final_loss"], "greater", margin=0.02,
                       names=("RMSProp", "AdaGrad"),
                       what="does the decay hurt? final training loss, each at its best η (claimed: AdaGrad higher)")
        v = all_of(decays, hurts)
        if hurts.status != "holds":
            v.text += (". The decay is real, but a larger η compensates for it over this budget: AdaGrad's best η is "
                       f"{fmt(np.median(m['Adagrad']['best_lr']))}, where its rate is still large at the end")
        return Verdict(v.status, v.text)

    def plot(self, m, path):
        plt = common.plt()
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        for o, c in (("Adagrad", "C3"), ("RMSprop", "C0")):
            for k, (lr, d) in enumerate(sorted(m[o]["by_lr"].items(), key=lambda t: float(t[0]))):
                axes[0].loglog(d["steps"], d["rates"], color=c, alpha=0.35 + 0.65 * (float(lr) in m[o]["best_lr"]),
                               label=f"{o} η={lr}")
            axes[1].plot(np.arange(1, len(m[o]["loss"]) + 1), m[o]["loss"], color=c,
                         label=f"{o}, best η={m[o]['best_lr'][0]}")
        s = np.asarray(m["Adagrad"]["steps"], dtype=float)
        r0 = m["Adagrad"]["rates"][list(m["Adagrad"]["steps"]).index(10)] if 10 in m["Adagrad"]["steps"] else 1.0
        axes[0].loglog(s, r0 * np.sqrt(10.0 / s), "k:", label="∝ 1/√t")
        axes[0].set_xlabel("step t")
        axes[0].set_ylabel("median effective rate η/(√G + ε)")
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("training loss (first seed)")
        axes[1].set_yscale("log")
        for ax in axes:
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=7)
        return common.fig_done(fig, path, "AdaGrad's per-weight rate falls like 1/√t; RMSProp's levels off")
