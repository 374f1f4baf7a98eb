"""Zero or constant initialization: the units of a layer learn the same feature.

Seeds 000 ("Breaking Symmetry", "Zero Initialization"), 001 ("What happens
when weight is initialized with W=0?"), 003 (constant α) and 004 say that
if all weights start equal, every unit of a layer gets the same gradient and
the units stay copies of each other. The runs train one MLP three ways —
all weights zero, all weights 0.1 (biases zero), Xavier normal — and measure
the spread of the first two hidden layers' incoming weight vectors,

    spread = max_i ‖w_i − w̄‖ / mean_i ‖w_i‖     (w_i: row i of W, w̄: the mean row),

which is exactly 0 when all units are copies. Seed 001 adds that W = 0 makes
the network "no better than a linear model": logistic regression on the same
data is trained for comparison.
"""
from __future__ import annotations

import numpy as np

from .. import optim
from ..train.callbacks import Callback
from . import common
from .experiment import Experiment, register
from .verdict import HOLDS, all_of, bound, fmt, mean_sd

INITS = ("zeros", "constant", "xavier_normal", "logistic")
LABELS = {"zeros": "all zero", "constant": "all 0.1", "xavier_normal": "Xavier normal", "logistic": "logistic regression"}


def spread(W) -> float:
    W = np.asarray(W, dtype=np.float64)
    d = np.linalg.norm(W - W.mean(axis=0, keepdims=True), axis=1).max()
    return float(d / max(np.linalg.norm(W, axis=1).mean(), 1e-30))


@register
class ZeroInit(Experiment):
    name = "zero_init"
    title = "Zero and constant initialization: symmetric units"
    claim = ("If all weights start with the same value (zero or a constant), the units of a layer "
             "learn the same feature and stay identical.")
    note = "seed 000 'Breaking Symmetry'; seed 001 'W=0'; seed 003 (constant α); seed 004 'Zero initialization'"
    paper = None
    order = 10
    expected_quick = HOLDS

    def sizes(self, quick):
        return dict(hidden=(32, 32), epochs=3) if quick else dict(hidden=(64, 64), epochs=30)

    def setup(self, quick):
        s = self.sizes(quick)
        return (f"MNIST-1D (4000 train / 1000 held out), MLP 40-{'-'.join(map(str, s['hidden']))}-10 with tanh, "
                f"SGD lr 0.1 momentum 0.9, batch 64, {s['epochs']} epochs; weights all 0, all 0.1 "
                "(biases 0) or Xavier normal; logistic regression for comparison. Spread = max‖w_i − w̄‖ / "
                "mean‖w_i‖ over the rows of each hidden layer's weight matrix (0 = identical units).")

    def jobs(self, quick, seeds):
        s = self.sizes(quick)
        return [{"seed": seed, "init": i, "quick": quick, **s} for seed in seeds for i in INITS]

    def run_job(self, job):
        from .. import nn

        Xtr, ytr, Xte, yte = common.mnist1d()
        if job["init"] == "logistic":
            from ..backend import Generator
            from ..models import logistic

            model = logistic(40, 10, generator=Generator(job["seed"]))
        else:
            model = common.build_mlp(40, 10, job["hidden"], job["seed"], activation="tanh",
                                     init="zeros" if job["init"] == "zeros" else "xavier_normal")
            if job["init"] == "constant":
                for p in model.parameters():
                    if p.ndim == 2:
                        p.data[...] = 0.1
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        spreads = []

        class Spread(Callback):
            def on_epoch_end(self, trainer, epoch, logs):
                spreads.append([spread(m.weight.data) for m in linears[:-1]])

        tr, h = common.fit(model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9), (Xtr, ytr), (Xte, yte),
                           epochs=job["epochs"], batch_size=64, seed=job["seed"], callbacks=[Spread()])
        out = {"val_accuracy": h["val_accuracy"], "train_accuracy": h["accuracy"]}
        if job["init"] != "logistic":
            out["spread"] = spreads
            out["final_spread"] = max(spreads[-1])
            out["W1"] = np.round(linears[0].weight.data[:16].astype(float), 4).tolist()
        return out

    def summarize(self, jobs, outputs, quick):
        m = {"seeds": sorted({j["seed"] for j in jobs}), "epochs": jobs[0]["epochs"]}
        for i in INITS:
            m[i] = {
                "val_accuracy": common.per_seed(outputs, jobs, "val_accuracy", init=i),
                "final_val_accuracy": [v[-1] for v in common.per_seed(outputs, jobs, "val_accuracy", init=i)],
            }
            if i != "logistic":
                m[i]["final_spread"] = common.per_seed(outputs, jobs, "final_spread", init=i)
                m[i]["spread"] = common.per_seed(outputs, jobs, "spread", init=i)[0]
                m[i]["W1"] = common.per_seed(outputs, jobs, "W1", init=i)[0]
        m["table"] = [{"init": LABELS[i], "max spread of hidden units (end)":
                       (mean_sd(m[i]["final_spread"]) if i != "logistic" else ""),
                       "held-out accuracy": mean_sd(m[i]["final_val_accuracy"])} for i in INITS]
        return m

    def judge(self, m):
        v = all_of(
            bound(m["zeros"]["final_spread"], "<", 1e-6, what="spread of the units after training from all-zero"),
            bound(m["constant"]["final_spread"], "<", 1e-6, what="spread after training from all-0.1"),
            bound(m["xavier_normal"]["final_spread"], ">", 0.1, what="spread after training from Xavier (control)"),
        )
        z = np.mean(m["zeros"]["final_val_accuracy"])
        lin = np.mean(m["logistic"]["final_val_accuracy"])
        v.text += (f". Seed 001's 'no better than a linear model' is, if anything, generous: from all-zero weights "
                   f"the tanh network reaches {fmt(z)} held-out accuracy (only the output bias learns), "
                   f"logistic regression {fmt(lin)}")
        return v

    def plot(self, m, path):
        plt = common.plt()
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        for ax, i in zip(axes[:2], ("constant", "xavier_normal")):
            W = np.asarray(m[i]["W1"])
            lim = np.abs(W).max() or 1.0
            ax.imshow(W, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_title(f"first-layer weights after training\n(16 units × 40 inputs), init {LABELS[i]}", fontsize=9)
            ax.set_xlabel("input")
            ax.set_ylabel("hidden unit")
        ax = axes[2]
        for i in INITS:
            acc = np.asarray(m[i]["val_accuracy"], dtype=float)
            ax.plot(np.arange(1, acc.shape[1] + 1), acc.mean(0), label=LABELS[i])
        ax.set_xlabel("epoch")
        ax.set_ylabel("held-out accuracy (mean over seeds)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        return common.fig_done(fig, path, "Equal initial weights: every unit of a layer stays a copy of the others")
