"""Reproduction: activations and back-propagated gradients per layer, standard vs normalized init (tanh).

Glorot & Bengio 2010 ("Understanding the difficulty of training deep
feedforward neural networks", figures 6 and 7) plot, for a tanh network of 5
hidden layers of 1000 units at initialization, the normalized histograms of
the activations and of the back-propagated gradients ∂C/∂s (s the
pre-activation) of each layer. With the "standard" initialization
W ~ U[−1/√n, 1/√n] (Var = 1/(3n)) the activations' distribution narrows from
layer to layer (the 0-peak grows with depth) and the gradients narrow going
down towards the input; with the "normalized" initialization
W ~ U[−√6/√(n_in+n_out), √6/√(n_in+n_out)] (Var = 2/(n_in + n_out)) both keep
about the same spread in every layer. Seed 003 names both rules ("Xavier" and
"normalized Xavier"); seed 002 derives the second.
"""
from __future__ import annotations

import math

import numpy as np

from . import common
from .experiment import Experiment, register
from .verdict import HOLDS, all_of, bound, fmt

LAYERS = 5


@register
class Glorot2010Spread(Experiment):
    name = "glorot2010_spread"
    title = "Reproduction: Glorot & Bengio 2010, figures 6-7 (tanh, standard vs normalized init)"
    claim = ("With the standard init U[−1/√n, 1/√n] a deep tanh network's activations shrink layer by layer "
             "and its back-propagated gradients shrink towards the input; the normalized init "
             "U[±√6/√(n_in+n_out)] keeps both about constant across layers.")
    note = "seed 003 'Xavier initialization' / 'Normalized Xavier'; seed 002 'Xavier Initialization: Derivation'"
    paper = "Glorot & Bengio 2010, 'Understanding the difficulty of training deep feedforward neural networks', figures 6-7"
    errata = "seeds/ERRATA.md: seed 003 calls U[−1/√n, 1/√n] 'Xavier'; it is the older 'standard' rule (Var = 1/(3n))."
    order = 15
    expected_quick = HOLDS

    def sizes(self, quick):
        return dict(width=300, n=300) if quick else dict(width=1000, n=1000)

    def setup(self, quick):
        s = self.sizes(quick)
        return (f"{LAYERS} tanh hidden layers of {s['width']} units (the paper: 1000), zero biases, {s['n']} "
                "MNIST-1D inputs (the paper: Shapeset-3×2), at initialization. Standard init = trainwise "
                "'simple_uniform' U[−1/√n_in, 1/√n_in]; normalized = 'xavier_uniform' (gain 1). Measured: the "
                "standard deviation of the activations and of ∂C/∂s in each layer (C: mean cross-entropy).")

    def jobs(self, quick, seeds):
        return [{"seed": s, "init": i, **self.sizes(quick)} for s in seeds for i in ("simple_uniform", "xavier_uniform")]

    def run_job(self, job):
        Xtr, ytr, _, _ = common.mnist1d()
        X, y = Xtr[:job["n"]], ytr[:job["n"]]
        model = common.build_net([40] + [job["width"]] * LAYERS + [10], "tanh", job["init"], job["seed"])
        for m in model:
            if hasattr(m, "bias") and m.bias is not None:
                m.bias.data[...] = 0.0
        acts, grads = common.signal_flow(model, X, y)
        edges_a = np.linspace(-1, 1, 51)
        out = {"act_std": [float(a.std()) for a in acts], "grad_std": [float(g.std()) for g in grads],
               "act_hist": [np.histogram(a, bins=edges_a)[0].tolist() for a in acts]}
        gmax = max(float(np.abs(g).max()) for g in grads)
        edges_g = np.linspace(-gmax, gmax, 51)
        out["grad_hist"] = [np.histogram(g, bins=edges_g)[0].tolist() for g in grads]
        out["grad_edges"] = edges_g.tolist()
        return out

    def summarize(self, jobs, outputs, quick):
        m = {"layers": LAYERS}
        for i in ("simple_uniform", "xavier_uniform"):
            a = np.asarray(common.per_seed(outputs, jobs, "act_std", init=i))
            g = np.asarray(common.per_seed(outputs, jobs, "grad_std", init=i))
            first = next(o for j, o in zip(jobs, outputs) if j["init"] == i)
            m[i] = {"act_std": a.mean(0).tolist(), "grad_std": g.mean(0).tolist(),
                    # per seed: last hidden layer's activation spread over the first's; first layer's
                    # gradient spread over the last's
                    "act_ratio": (a[:, -1] / a[:, 0]).tolist(), "grad_ratio": (g[:, 0] / g[:, -1]).tolist(),
                    "act_hist": first["act_hist"], "grad_hist": first["grad_hist"], "grad_edges": first["grad_edges"]}
        m["table"] = [{"init": n, "activation std, layers 1→5": " → ".join(fmt(v, 2) for v in m[i]["act_std"]),
                       "gradient std ∂C/∂s, layers 1→5": " → ".join(fmt(v, 2) for v in m[i]["grad_std"])}
                      for i, n in (("simple_uniform", "standard U[−1/√n, 1/√n]"),
                                   ("xavier_uniform", "normalized (Glorot)"))]
        return m

    def judge(self, m):
        s, x = m["simple_uniform"], m["xavier_uniform"]
        return all_of(
            bound(s["act_ratio"], "<", 0.5, what="standard init: activation std of layer 5 / layer 1"),
            bound(s["grad_ratio"], "<", 0.5, what="standard init: gradient std of layer 1 / layer 5"),
            bound([abs(math.log2(r)) for r in x["act_ratio"] + x["grad_ratio"]], "<", 1.0,
                  what=f"normalized init: |log2| of the same two ratios (activations "
                       f"{fmt(np.mean(x['act_ratio']))}, gradients {fmt(np.mean(x['grad_ratio']))}) within a factor 2"),
        )

    def plot(self, m, path):
        plt = common.plt()
        fig, axes = plt.subplots(2, 2, figsize=(12, 6.4))
        ea = np.linspace(-1, 1, 51)
        ca = 0.5 * (ea[1:] + ea[:-1])
        for row, (i, n) in enumerate((("simple_uniform", "standard init"), ("xavier_uniform", "normalized init"))):
            for l, h in enumerate(m[i]["act_hist"]):
                h = np.asarray(h, dtype=float)
                axes[row, 0].plot(ca, h / h.sum(), label=f"layer {l + 1}")
            eg = np.asarray(m[i]["grad_edges"])
            cg = 0.5 * (eg[1:] + eg[:-1])
            for l, h in enumerate(m[i]["grad_hist"]):
                h = np.asarray(h, dtype=float)
                axes[row, 1].plot(cg, h / h.sum(), label=f"layer {l + 1}")
            axes[row, 0].set_title(f"activation values, {n}", fontsize=10)
            axes[row, 1].set_title(f"back-propagated gradients ∂C/∂s, {n}", fontsize=10)
            axes[row, 1].ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))
        for ax in axes.ravel():
            ax.set_ylabel("fraction")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        return common.fig_done(fig, path, "tanh network at initialization, per-layer histograms "
                                          "(cf. Glorot & Bengio 2010, figs. 6-7)")
