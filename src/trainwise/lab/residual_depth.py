"""Deeper plain networks train worse than shallow ones; residual networks do not.

Seed 002 ("The Deep Learning Paradox: very deep networks often perform
worse; training error increases with depth"; "Residual Connections: ...
facilitates training of very deep networks"; H(x) = F(x) + x). He, Zhang,
Ren & Sun 2016 ("Deep Residual Learning", figures 1 and 4) show the
*degradation problem*: a 56-layer plain network has higher training error
than a 20-layer one — with batch norm, so it is not vanishing gradients —
while with identity shortcuts the deeper network is better. The runs build
blocks of two Linear-BN layers, x → ReLU(BN(W₂ ReLU(BN(W₁ x))) [+ x]), stack
few or many of them, and compare the training loss after the same budget.
"""
from __future__ import annotations

import numpy as np

from .. import nn, optim
from ..backend import Generator
from . import common
from .experiment import Experiment, register
from .verdict import HOLDS, all_of, bound, fmt, paired

WIDTH = 64


def block_net(blocks: int, residual: bool, seed: int):
    """Stem Linear(40, 64)+ReLU, ``blocks`` blocks [Linear-BN-ReLU-Linear-BN (+x)]-ReLU, head Linear(64, 10)."""
    g = Generator(seed)
    layers = [nn.Linear(40, WIDTH, init="he_normal", generator=g), nn.ReLU()]
    for _ in range(blocks):
        body = nn.Sequential(nn.Linear(WIDTH, WIDTH, init="he_normal", generator=g), nn.BatchNorm1d(WIDTH), nn.ReLU(),
                             nn.Linear(WIDTH, WIDTH, init="he_normal", generator=g), nn.BatchNorm1d(WIDTH))
        layers += [nn.Residual(body) if residual else body, nn.ReLU()]
    layers.append(nn.Linear(WIDTH, 10, generator=g))
    return nn.Sequential(*layers)


@register
class ResidualDepth(Experiment):
    name = "residual_depth"
    title = "Depth: plain vs residual networks (degradation)"
    claim = ("Very deep plain networks train worse than shallower ones (training error increases with depth); "
             "residual connections remove the problem.")
    note = "seed 002 'The Deep Learning Paradox', 'Residual Connections', 'The Fundamental Insight'"
    paper = "He, Zhang, Ren & Sun 2016, 'Deep Residual Learning for Image Recognition', figures 1 and 4"
    order = 33
    seeds_full = (0, 1, 2)
    expected_quick = HOLDS

    def sizes(self, quick):
        return dict(n_train=600, epochs=4, depths=[1, 8]) if quick else dict(n_train=4000, epochs=15, depths=[2, 16])

    def setup(self, quick):
        s = self.sizes(quick)
        return (f"MNIST-1D ({s['n_train']} training samples); {s['depths'][0]} vs {s['depths'][1]} blocks of two "
                f"Linear({WIDTH})-BatchNorm layers ({2 * s['depths'][0] + 2} vs {2 * s['depths'][1] + 2} weight layers), "
                f"plain or with identity shortcuts; He init; SGD η = 0.02 momentum 0.9, batch 64, {s['epochs']} epochs. "
                "Measured: training loss on the whole training set in eval mode after training.")

    def jobs(self, quick, seeds):
        s = self.sizes(quick)
        return [{"seed": seed, "blocks": b, "residual": r, "n_train": s["n_train"], "epochs": s["epochs"]}
                for seed in seeds for r in (False, True) for b in s["depths"]]

    def run_job(self, job):
        Xtr, ytr, Xte, yte = common.mnist1d()
        X, y = common.subset(Xtr, ytr, job["n_train"], job["seed"])
        model = block_net(job["blocks"], job["residual"], job["seed"])
        tr, h = common.fit(model, optim.SGD(model.parameters(), lr=0.02, momentum=0.9), (X, y), (Xte, yte),
                           epochs=job["epochs"], batch_size=64, seed=job["seed"])
        ev = common.evaluate(tr, X, y)
        return {"train_loss": common.finite_or_inf([ev["loss"]])[0], "train_accuracy": ev["accuracy"],
                "loss": common.finite_or_inf(h["loss"]), "val_accuracy": h["val_accuracy"][-1]}

    def summarize(self, jobs, outputs, quick):
        depths = sorted({j["blocks"] for j in jobs})
        m = {"depths": depths}
        for r, k in ((False, "plain"), (True, "residual")):
            for d in depths:
                outs = [o for j, o in zip(jobs, outputs) if j["residual"] == r and j["blocks"] == d]
                m[f"{k}/{d}"] = {"train_loss": [o["train_loss"] for o in outs],
                                 "val_accuracy": [o["val_accuracy"] for o in outs],
                                 "loss": np.mean([o["loss"] for o in outs], axis=0).tolist()}
        m["table"] = [{"network": f"{k}, {d} blocks ({2 * d + 2} layers)",
                       "training loss (eval mode)": fmt(np.mean(m[f"{k}/{d}"]["train_loss"])),
                       "held-out accuracy": fmt(np.mean(m[f"{k}/{d}"]["val_accuracy"]))}
                      for k in ("plain", "residual") for d in depths]
        return m

    def judge(self, m):
        a, b = m["depths"]
        deg_res = [deep - shallow for deep, shallow
                   in zip(m[f"residual/{b}"]["train_loss"], m[f"residual/{a}"]["train_loss"])]
        return all_of(
            paired(m[f"plain/{a}"]["train_loss"], m[f"plain/{b}"]["train_loss"], "greater", margin=0.1,
                   names=(f"plain {a} blocks", f"plain {b} blocks"), what="plain: training loss, deep vs shallow"),
            paired(m[f"plain/{b}"]["train_loss"], m[f"residual/{b}"]["train_loss"], "less", margin=0.1,
                   names=(f"plain {b} blocks", f"residual {b} blocks"), what="deep: residual vs plain training loss"),
            bound(deg_res, "<", 0.1,
                  what=f"residual: training loss of {b} blocks − of {a} blocks (no degradation: < 0.1)"),
        )

    def plot(self, m, path):
        plt = common.plt()
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
        for ax, k in zip(axes, ("plain", "residual")):
            for d, ls in zip(m["depths"], ("--", "-")):
                loss = m[f"{k}/{d}"]["loss"]
                ax.plot(np.arange(1, len(loss) + 1), loss, ls, marker="o", ms=3, label=f"{2 * d + 2} layers")
            ax.set_title(f"{k} network", fontsize=10)
            ax.set_xlabel("epoch")
            ax.set_yscale("log")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
        axes[0].set_ylabel("training loss (running, mean over seeds)")
        return common.fig_done(fig, path, "Degradation with depth: plain vs residual (cf. He et al. 2016, fig. 4)")
