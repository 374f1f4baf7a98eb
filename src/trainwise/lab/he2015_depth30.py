"""Reproduction: a 30-layer ReLU network trains with He initialization and stalls with Xavier.

He, Zhang, Ren & Sun 2015 ("Delving Deep into Rectifiers", figure 3): a
30-layer ReLU model initialized with Var(W) = 2/n_in converges, while the
same model with Xavier's Var(W) = 1/n ("Xavier" for square layers, gain 1)
"completely stalls", because every ReLU layer halves the mean square of the
signal: after 30 layers it is 2^-15 ≈ 3·10⁻⁵ of the input's RMS, and the
gradient reaching the lower layers is as small. The paper's model is a
convolutional network on ImageNet; here it is 30 fully connected hidden
layers of width 64 on MNIST-1D, trained with SGD + momentum as in the paper.
Seeds 002/003 state the same rule ("ReLU family: use He initialization").
"""
from __future__ import annotations

import math

import numpy as np

from .. import optim
from . import common
from .experiment import Experiment, register
from .verdict import HOLDS, all_of, bound, fmt

LN10 = math.log(10.0)


@register
class He2015Depth30(Experiment):
    name = "he2015_depth30"
    title = "Reproduction: He et al. 2015, figure 3 (30-layer ReLU net, He vs Xavier)"
    claim = ("A 30-layer ReLU network trains when initialized with He's Var(W) = 2/n_in and stalls with "
             "Xavier's Var(W) = 2/(n_in + n_out).")
    note = "seed 002 'He Initialization: ReLU Challenge'; seed 003 'He initialization'"
    paper = "He, Zhang, Ren & Sun 2015, 'Delving Deep into Rectifiers', figure 3"
    order = 14
    expected_quick = HOLDS

    def sizes(self, quick):
        return dict(n_train=2000, epochs=4) if quick else dict(n_train=4000, epochs=15)

    def setup(self, quick):
        s = self.sizes(quick)
        return (f"MNIST-1D ({s['n_train']} training samples), 30 hidden ReLU layers of width 64, zero biases, "
                f"SGD lr 0.01 momentum 0.9, batch 64, {s['epochs']} epochs; He normal vs Xavier normal (gain 1). "
                "Measured: training loss per epoch (chance level ln 10 = 2.303) and the RMS of the activations "
                "at initialization.")

    def jobs(self, quick, seeds):
        return [{"seed": s, "init": i, **self.sizes(quick)} for s in seeds for i in ("he_normal", "xavier_normal")]

    def run_job(self, job):
        Xtr, ytr, Xte, yte = common.mnist1d()
        X, y = common.subset(Xtr, ytr, job["n_train"], job["seed"])
        model = common.build_net([40] + [64] * 30 + [10], "relu", job["init"], job["seed"])
        acts, grads = common.signal_flow(model, X[:500], y[:500])
        tr, h = common.fit(model, optim.SGD(model.parameters(), lr=0.01, momentum=0.9), (X, y), (Xte, yte),
                           epochs=job["epochs"], batch_size=64, seed=job["seed"])
        return {"loss": common.finite_or_inf(h["loss"]), "val_accuracy": h["val_accuracy"],
                "act_rms": [common.rms(a) / common.rms(X[:500]) for a in acts],
                "grad_rms": [common.rms(g) for g in grads]}

    def summarize(self, jobs, outputs, quick):
        m = {}
        for i in ("he_normal", "xavier_normal"):
            loss = np.asarray(common.per_seed(outputs, jobs, "loss", init=i))
            m[i] = {"loss": loss.tolist(), "final_loss": loss[:, -1].tolist(),
                    "val_accuracy": [v[-1] for v in common.per_seed(outputs, jobs, "val_accuracy", init=i)],
                    "act_rms": np.mean(common.per_seed(outputs, jobs, "act_rms", init=i), axis=0).tolist(),
                    "grad_rms": np.mean(common.per_seed(outputs, jobs, "grad_rms", init=i), axis=0).tolist()}
        m["table"] = [{"init": n, "final training loss": fmt(np.mean(m[i]["final_loss"])),
                       "held-out accuracy": fmt(np.mean(m[i]["val_accuracy"])),
                       "activation RMS at layer 30 / input": fmt(m[i]["act_rms"][-1])}
                      for i, n in (("he_normal", "He (2/n_in)"), ("xavier_normal", "Xavier (2/(n_in+n_out))"))]
        return m

    def judge(self, m):
        return all_of(
            bound(m["he_normal"]["final_loss"], "<", 0.9 * LN10,
                  what="He: final training loss below 90% of chance (2.07)"),
            bound(m["xavier_normal"]["final_loss"], ">", 0.98 * LN10,
                  what="Xavier: final training loss stalled within 2% of chance (> 2.26)"),
        )

    def plot(self, m, path):
        plt = common.plt()
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        for i, c, n in (("he_normal", "C3", "He init"), ("xavier_normal", "C0", "Xavier init")):
            loss = np.asarray(m[i]["loss"], dtype=float)
            ep = np.arange(1, loss.shape[1] + 1)
            for k, row in enumerate(loss):
                axes[0].plot(ep, row, color=c, alpha=0.8, label=n if k == 0 else None)
            axes[1].semilogy(np.arange(1, 31), m[i]["act_rms"], "o-", ms=3, color=c, label=n)
        axes[0].axhline(LN10, color="k", ls=":", label="chance (ln 10)")
        axes[0].set_xlabel("epoch")
        axes[0].set_ylabel("training loss (one line per seed)")
        axes[1].set_xlabel("layer")
        axes[1].set_ylabel("activation RMS / input RMS at init")
        for ax in axes:
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
        return common.fig_done(fig, path, "30-layer ReLU network: He trains, Xavier stalls (cf. He et al. 2015, fig. 3)")
