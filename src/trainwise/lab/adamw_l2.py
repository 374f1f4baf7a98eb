"""AdamW (decoupled weight decay) generalizes better than Adam with an L2 penalty.

Seed 002 ("AdamW: Adam with Weight Decay"): Adam with L2 adds λθ to the
gradient, which then gets divided by √v̂ like the rest of it, so weights
with large gradients are decayed less; AdamW shrinks every weight by the same
factor (1 − ηλ) outside the adaptive step. Loshchilov & Hutter 2019
("Decoupled Weight Decay Regularization") found the decoupled form
generalizes better. Their two forms use λ on different scales, so each gets
its best λ from its own grid, picked on a validation split; the claim is
judged on the held-out test accuracy of that pick. A small training set
(1000 MNIST-1D samples) makes regularization matter.
"""
from __future__ import annotations

import numpy as np

from .. import optim
from . import common
from .experiment import Experiment, register
from .verdict import Verdict, fmt, paired

GRID = {"Adam+L2": (1e-3, 3e-3, 1e-2, 3e-2), "AdamW": (0.3, 1.0, 3.0, 10.0)}
QUICK_GRID = {"Adam+L2": (3e-3, 1e-2), "AdamW": (1.0, 3.0)}


@register
class AdamWvsL2(Experiment):
    name = "adamw_l2"
    title = "AdamW vs Adam with L2"
    claim = "AdamW (decoupled weight decay) generalizes better than Adam with an L2 penalty."
    note = "seed 002 'AdamW: Adam with Weight Decay'; 'Optimizer Performance Comparison'"
    paper = "Loshchilov & Hutter 2019, 'Decoupled Weight Decay Regularization'"
    order = 22
    expected_quick = None

    def sizes(self, quick):
        return dict(n_train=500, epochs=6) if quick else dict(n_train=1000, epochs=40)

    def setup(self, quick):
        s = self.sizes(quick)
        g = QUICK_GRID if quick else GRID
        return (f"MNIST-1D: {s['n_train']} training samples, 1000 other training samples for validation, the 1000 "
                f"test samples for the verdict. MLP 40-256-256-10 ReLU, Adam η = 1e-3, batch 64, {s['epochs']} epochs. "
                f"Adam with coupled L2 (weight_decay λ ∈ {list(g['Adam+L2'])}, g ← g + λθ) vs AdamW "
                f"(λ ∈ {list(g['AdamW'])}, θ ← (1 − ηλ)θ − η·m̂/(√v̂ + ε)); each λ picked on validation "
                "accuracy.")

    def jobs(self, quick, seeds):
        g = QUICK_GRID if quick else GRID
        jobs = [{"seed": s, "method": "Adam", "lam": 0.0, **self.sizes(quick)} for s in seeds]
        return jobs + [{"seed": s, "method": k, "lam": lam, **self.sizes(quick)} for s in seeds for k in g for lam in g[k]]

    def run_job(self, job):
        Xtr, ytr, Xte, yte = common.mnist1d()
        X, y = common.subset(Xtr[:2000], ytr[:2000], job["n_train"], job["seed"])
        Xv, yv = Xtr[2000:3000], ytr[2000:3000]
        model = common.build_mlp(40, 10, (256, 256), job["seed"])
        cls = optim.AdamW if job["method"] == "AdamW" else optim.Adam
        opt = cls(model.parameters(), lr=1e-3, weight_decay=job["lam"])
        tr, h = common.fit(model, opt, (X, y), (Xv, yv), epochs=job["epochs"], batch_size=64, seed=job["seed"])
        test = common.evaluate(tr, Xte, yte)
        return {"val_accuracy": h["val_accuracy"][-1], "test_accuracy": test["accuracy"],
                "train_loss": common.finite_or_inf(h["loss"])[-1]}

    def summarize(self, jobs, outputs, quick):
        seeds = sorted({j["seed"] for j in jobs})
        m = {"grid": {}, "best": {}}
        for k in ("Adam", "Adam+L2", "AdamW"):
            rows = [(j, o) for j, o in zip(jobs, outputs) if j["method"] == k]
            lams = sorted({j["lam"] for j, _ in rows})
            def mean_at(key, lam):
                return float(np.mean([o[key] for j, o in rows if j["lam"] == lam]))

            m["grid"][k] = {"lams": lams, "test": [mean_at("test_accuracy", lam) for lam in lams],
                            "val": [mean_at("val_accuracy", lam) for lam in lams]}
            best_lam, best_test = [], []
            for s in seeds:
                j, o = max(((j, o) for j, o in rows if j["seed"] == s), key=lambda t: t[1]["val_accuracy"])
                best_lam.append(j["lam"])
                best_test.append(o["test_accuracy"])
            m["best"][k] = {"lam": best_lam, "test": best_test}
        m["table"] = [{"method": k, "λ picked on validation (per seed)": str(m["best"][k]["lam"]),
                       "test accuracy": fmt(np.mean(m["best"][k]["test"]))} for k in ("Adam", "Adam+L2", "AdamW")]
        return m

    def judge(self, m):
        b = m["best"]
        v = paired(b["Adam+L2"]["test"], b["AdamW"]["test"], "greater", margin=0.005,
                   names=("Adam+L2", "AdamW"), what="test accuracy at the λ picked on validation")
        diff = [w - l for w, l in zip(b["AdamW"]["test"], b["Adam+L2"]["test"])]
        v.text += (f"; per seed, AdamW − Adam+L2 = {', '.join(f'{d:+.3f}' for d in diff)}; without any decay Adam "
                   f"reaches {fmt(np.mean(b['Adam']['test']))}")
        return Verdict(v.status, v.text)

    def plot(self, m, path):
        plt = common.plt()
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        base = m["grid"]["Adam"]["test"][0]
        for ax, k in zip(axes, ("Adam+L2", "AdamW")):
            g = m["grid"][k]
            ax.semilogx(g["lams"], g["test"], "o-", label="test accuracy")
            ax.semilogx(g["lams"], g["val"], "s--", label="validation accuracy")
            ax.axhline(base, color="k", ls=":", label="Adam, no decay (test)")
            ax.set_xlabel("λ (weight_decay)")
            ax.set_ylabel("accuracy (mean over seeds)")
            ax.set_title(f"{k}: picked λ → test {fmt(np.mean(m['best'][k]['test']))}", fontsize=10)
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
        return common.fig_done(fig, path, "Weight decay in Adam: coupled L2 vs decoupled (AdamW)")
