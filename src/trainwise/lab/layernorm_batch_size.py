"""Layer norm is independent of the batch size; batch norm is not.

Seed 002 ("Batch Normalization: Limitations — batch size dependent";
"Layer Normalization: normalizes across features within each sample;
independent of batch size; ideal for ... small batches"). Ba, Kiros & Hinton
2016 introduced layer norm for that reason. Two measurements:

1. the output for one sample in training mode, computed inside 20 different
   random batches of 8: with LN it is the same whatever the other samples
   are, with BN it changes (it is normalized with the batch's statistics);
2. held-out accuracy of the same MLP trained with Adam at several batch
   sizes: BN's accuracy collapses at tiny batches, LN's does not. (Every
   run gets the same number of epochs, so small batches take more steps —
   which helps LN; the comparison is between the two norms at each size.)
"""
from __future__ import annotations

import numpy as np

from .. import optim
from ..backend import Generator
from ..tensor import Tensor, no_grad
from . import common
from .experiment import Experiment, register
from .verdict import HOLDS, all_of, bound, fmt, paired


def batch_dependence(model, X, gen, n_batches=20, batch=8):
    """Largest change of sample 0's training-mode output across random batches it shares, relative to its size."""
    outs = []
    model.train()
    with no_grad():
        for _ in range(n_batches):
            idx = np.concatenate([[0], 1 + gen.permutation(len(X) - 1)[:batch - 1]])
            outs.append(model(Tensor(X[idx])).data[0].astype(np.float64))
    outs = np.asarray(outs)
    return float(np.abs(outs - outs[0]).max() / (np.abs(outs).mean() + 1e-30))


@register
class LayerNormBatchSize(Experiment):
    name = "layernorm_batch_size"
    title = "Layer norm vs batch norm at small batch sizes"
    claim = ("Layer normalization is independent of the batch size; batch normalization depends on it "
             "(fails at small batches).")
    note = "seed 002 'Batch Normalization: Properties (limitations)', 'Layer Normalization'"
    paper = "Ba, Kiros & Hinton 2016, 'Layer Normalization'; Ioffe & Szegedy 2015"
    order = 32
    expected_quick = HOLDS

    def sizes(self, quick):
        return dict(n_train=300, epochs=3, sizes=[2, 64]) if quick else dict(n_train=2000, epochs=4, sizes=[2, 8, 64])

    def setup(self, quick):
        s = self.sizes(quick)
        return (f"MNIST-1D ({s['n_train']} training samples), MLP 40-128-128-10 ReLU with BatchNorm1d or LayerNorm before "
                f"each ReLU; Adam η = 1e-3, {s['epochs']} epochs at batch sizes {s['sizes']}. Batch dependence = "
                "max |Δ output of one sample| over 20 random batches of 8 / mean |output|, in training mode, at init.")

    def jobs(self, quick, seeds):
        s = self.sizes(quick)
        return [{"seed": seed, "norm": n, "batch_size": b, "n_train": s["n_train"], "epochs": s["epochs"]}
                for seed in seeds for n in ("batch", "layer") for b in s["sizes"]]

    def run_job(self, job):
        Xtr, ytr, Xte, yte = common.mnist1d()
        X, y = common.subset(Xtr, ytr, job["n_train"], job["seed"])
        model = common.build_mlp(40, 10, (128, 128), job["seed"], norm=job["norm"])
        dep = batch_dependence(model, X, Generator(job["seed"] + 99))
        tr, h = common.fit(model, optim.Adam(model.parameters(), lr=1e-3), (X, y), (Xte, yte), epochs=job["epochs"],
                           batch_size=job["batch_size"], seed=job["seed"])
        return {"dependence": dep, "val_accuracy": h["val_accuracy"][-1]}

    def summarize(self, jobs, outputs, quick):
        seeds = sorted({j["seed"] for j in jobs})
        sizes = sorted({j["batch_size"] for j in jobs})
        m = {"sizes": sizes}
        for n in ("batch", "layer"):
            acc = [[next(o["val_accuracy"] for j, o in zip(jobs, outputs) if j["seed"] == s and j["norm"] == n
                         and j["batch_size"] == b) for b in sizes] for s in seeds]
            m[n] = {"accuracy": acc, "drop": [a[-1] - a[0] for a in acc],
                    # measured at init, so the same for every batch size: one value per seed
                    "dependence": [o["dependence"] for j, o in zip(jobs, outputs)
                                   if j["norm"] == n and j["batch_size"] == sizes[0]]}
        m["table"] = [{"norm": n, "batch dependence of one sample's output": fmt(max(m[n]["dependence"])),
                       **{f"accuracy, batch {b}": fmt(np.mean([a[i] for a in m[n]["accuracy"]]))
                          for i, b in enumerate(sizes)}} for n in ("batch", "layer")]
        return m

    def judge(self, m):
        small, big = m["sizes"][0], m["sizes"][-1]
        return all_of(
            bound(m["layer"]["dependence"], "<", 1e-5, what="LayerNorm: change of one sample's output with its batch"),
            bound(m["batch"]["dependence"], ">", 1e-2, what="BatchNorm (control): the same"),
            paired(m["layer"]["drop"], m["batch"]["drop"], "greater", margin=0.05,
                   names=("LayerNorm", "BatchNorm"),
                   what=f"accuracy lost going from batch {big} to batch {small} (claimed: BN loses more)"),
        )

    def plot(self, m, path):
        plt = common.plt()
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        for n, c in (("batch", "C3"), ("layer", "C0")):
            acc = np.asarray(m[n]["accuracy"])
            axes[0].errorbar(m["sizes"], acc.mean(0), yerr=acc.std(0), marker="o", capsize=3, color=c,
                             label=f"{n} norm")
        axes[0].set_xscale("log", base=2)
        axes[0].set_xlabel("batch size")
        axes[0].set_ylabel("held-out accuracy (mean ± sd)")
        axes[0].legend(fontsize=8)
        dep = [max(m["batch"]["dependence"]), max(m["layer"]["dependence"])]
        axes[1].bar(["batch norm", "layer norm"], dep, color=["C3", "C0"])
        for i, d in enumerate(dep):
            axes[1].annotate("exactly 0" if d == 0 else f"{d:.3g}", (i, d), ha="center", va="bottom", fontsize=9)
        axes[1].set_ylabel("change of one sample's output\nacross batches (relative)")
        for ax in axes:
            ax.grid(alpha=0.3, which="both")
        return common.fig_done(fig, path, "Batch norm depends on the batch, layer norm does not")
