"""Reproduction: batch norm keeps the distribution of a sigmoid's input stable during training.

Ioffe & Szegedy 2015 ("Batch Normalization", figure 1): an MNIST network of
3 fully connected hidden layers of 100 sigmoid units, batches of 60; (a) test
accuracy with and without BN against training steps; (b, c) the {15, 50,
85}th percentiles of the input to a typical sigmoid of the last hidden layer
over training — they drift without BN ("internal covariate shift") and stay
put with BN. Seeds 002/003 repeat the idea ("reduces internal covariate
shift"). The runs do the same on MNIST-1D: they record the three
percentiles of every last-layer sigmoid input on 500 fixed held-out samples
every 20 steps — with BN, the input the sigmoid sees during training,
γ·(z − μ_B)/√(σ²_B + ε) + β with the statistics of those samples — and
measure the drift: the range (max − min over time) of each percentile,
averaged over the three percentiles and the 100 units.
"""
from __future__ import annotations

import numpy as np

from .. import nn, optim
from ..backend import Generator
from ..tensor import Tensor, no_grad
from ..train.callbacks import Callback
from . import common
from .experiment import Experiment, register
from .verdict import HOLDS, all_of, fmt, paired


def sigmoid_net(bn: bool, seed: int):
    """40 → 100 → 100 → 100 → 10, sigmoid, weights N(0, 1/n_in) (small Gaussian), optional BN before each sigmoid."""
    g = Generator(seed)
    layers, w = [], 40
    for _ in range(3):
        layers.append(nn.Linear(w, 100, init="lecun_normal", generator=g))
        if bn:
            layers.append(nn.BatchNorm1d(100))
        layers.append(nn.Sigmoid())
        w = 100
    layers.append(nn.Linear(w, 10, init="lecun_normal", generator=g))
    return nn.Sequential(*layers)


class Percentiles(Callback):
    """{15, 50, 85}th percentiles of the last hidden layer's sigmoid inputs on fixed samples, every ``every`` steps."""

    def __init__(self, model, X, every=20):
        mods = list(model)
        self.model, self.X, self.every = model, Tensor(X), every
        self.linear = [m for m in mods if isinstance(m, nn.Linear)][2]
        bns = [m for m in mods if isinstance(m, nn.BatchNorm1d)]
        self.bn = bns[2] if bns else None
        self.steps, self.values = [], []

    def on_batch_end(self, trainer, step, logs):
        if step % self.every:
            return
        got = {}
        h = self.linear.register_forward_hook(lambda mod, i, o: got.update(z=o.data.astype(np.float64)))
        was = self.model.training
        self.model.eval()
        try:
            with no_grad(), np.errstate(all="ignore"):
                self.model(self.X)
        finally:
            self.model.train(was)
            h.remove()
        z = got["z"]
        if self.bn is not None:  # what the sigmoid sees in training: normalized with the batch's own statistics
            z = (z - z.mean(0)) / np.sqrt(z.var(0) + self.bn.eps) * self.bn.weight.data + self.bn.bias.data
        self.steps.append(step)
        self.values.append(np.percentile(z, [15, 50, 85], axis=0))


@register
class Ioffe2015BNSigmoid(Experiment):
    name = "ioffe2015_bn_sigmoid"
    title = "Reproduction: Ioffe & Szegedy 2015, figure 1 (sigmoid inputs with and without BN)"
    claim = ("Batch normalization keeps the distribution of a layer's inputs (the sigmoid inputs' 15/50/85th "
             "percentiles) stable during training, and the network trains faster.")
    note = "seed 002 'Normalization' / 'Batch Normalization'; seed 003 'The Problem of internal Covariance Shifting'"
    paper = "Ioffe & Szegedy 2015, 'Batch Normalization: Accelerating Deep Network Training ...', figure 1"
    order = 30
    expected_quick = HOLDS

    def sizes(self, quick):
        return dict(n_train=2000, epochs=5) if quick else dict(n_train=4000, epochs=20)

    def setup(self, quick):
        s = self.sizes(quick)
        return (f"MNIST-1D ({s['n_train']} training samples), 3 hidden layers of 100 sigmoid units, weights N(0, 1/n_in), "
                f"with or without BatchNorm1d before each sigmoid; SGD η = 0.5, batches of 60, {s['epochs']} epochs. "
                "Percentiles of the last hidden layer's sigmoid inputs on 500 held-out samples every 20 steps; drift = "
                "(max − min over time) of each percentile, averaged over the 3 percentiles and 100 units.")

    def jobs(self, quick, seeds):
        return [{"seed": s, "bn": b, **self.sizes(quick)} for s in seeds for b in (False, True)]

    def run_job(self, job):
        Xtr, ytr, Xte, yte = common.mnist1d()
        X, y = common.subset(Xtr, ytr, job["n_train"], job["seed"])
        model = sigmoid_net(job["bn"], job["seed"])
        cb = Percentiles(model, Xte[:500])
        tr, h = common.fit(model, optim.SGD(model.parameters(), lr=0.5), (X, y), (Xte, yte), epochs=job["epochs"],
                           batch_size=60, seed=job["seed"], callbacks=[cb])
        P = np.asarray(cb.values)  # (T, 3, 100)
        drift_units = (P.max(0) - P.min(0)).mean(0)  # per unit
        typical = int(np.argsort(drift_units)[len(drift_units) // 2])
        return {"drift": float(drift_units.mean()), "steps": cb.steps, "typical": P[:, :, typical].tolist(),
                "val_accuracy": h["val_accuracy"]}

    def summarize(self, jobs, outputs, quick):
        m = {}
        for b, k in ((False, "plain"), (True, "bn")):
            outs = [o for j, o in zip(jobs, outputs) if j["bn"] == b]
            m[k] = {"drift": [o["drift"] for o in outs], "final_accuracy": [o["val_accuracy"][-1] for o in outs],
                    "val_accuracy": np.mean([o["val_accuracy"] for o in outs], axis=0).tolist(),
                    "steps": outs[0]["steps"], "typical": outs[0]["typical"]}
        m["steps_per_epoch"] = -(-jobs[0]["n_train"] // 60)
        m["table"] = [{"network": n, "drift of the sigmoid-input percentiles": fmt(np.mean(m[k]["drift"])),
                       "held-out accuracy": fmt(np.mean(m[k]["final_accuracy"]))}
                      for k, n in (("plain", "without BN"), ("bn", "with BN"))]
        return m

    def judge(self, m):
        return all_of(
            paired(m["bn"]["drift"], m["plain"]["drift"], "greater", margin=2.0, scale="ratio",
                   names=("with BN", "without BN"), what="drift of the last layer's sigmoid-input percentiles"),
            paired(m["plain"]["final_accuracy"], m["bn"]["final_accuracy"], "greater", margin=0.0,
                   names=("without BN", "with BN"), what="held-out accuracy at the end"),
        )

    def plot(self, m, path):
        plt = common.plt()
        fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
        spe = m["steps_per_epoch"]
        for k, n, c in (("plain", "without BN", "C3"), ("bn", "with BN", "C0")):
            acc = m[k]["val_accuracy"]
            axes[0].plot(np.arange(1, len(acc) + 1) * spe, acc, color=c, marker="o", ms=3, label=n)
        axes[0].set_xlabel("training step")
        axes[0].set_ylabel("held-out accuracy (mean over seeds)")
        axes[0].set_title("(a) accuracy", fontsize=10)
        axes[0].legend(fontsize=8)
        lo = min(np.min(m[k]["typical"]) for k in ("plain", "bn"))
        hi = max(np.max(m[k]["typical"]) for k in ("plain", "bn"))
        for ax, k, n in ((axes[1], "plain", "(b) without BN"), (axes[2], "bn", "(c) with BN")):
            P = np.asarray(m[k]["typical"])
            for q, ls in zip((15, 50, 85), (":", "-", ":")):
                ax.plot(m[k]["steps"], P[:, (15, 50, 85).index(q)], "k", ls=ls, label=f"{q}th percentile")
            ax.set_ylim(lo - 0.2, hi + 0.2)
            ax.set_xlabel("training step")
            ax.set_ylabel("input to a typical sigmoid")
            ax.set_title(f"{n}", fontsize=10)
            ax.legend(fontsize=8)
        for ax in axes:
            ax.grid(alpha=0.3)
        return common.fig_done(fig, path, "Sigmoid inputs of the last hidden layer during training "
                                          "(cf. Ioffe & Szegedy 2015, fig. 1)")
