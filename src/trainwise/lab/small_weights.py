"""Weights too small: the signal shrinks geometrically with depth, "(0.5)^10 = 0.00098".

Seed 000 ("Vanishing Gradients"): "If initial weights are too small, the
signals shrink as they move through layers. Eg: (0.5)^10 = 0.00098 → almost
zero signal"; seed 003: too small an initialization leads to vanishing
gradients. A layer z = W a with W ~ N(0, σ²) multiplies the mean square of
the signal by n_in·σ² (seed 002, "Xavier Initialization: Problem Setup"), so
with σ = g/√n_in each layer scales its RMS by g (by g/√2 after a ReLU). The
runs set g = 0.5 for a linear and a tanh network (g = 0.5·√2 for ReLU, so
that the ReLU layer also halves) and measure the RMS of the activations and
of the back-propagated gradients ∂L/∂z at each of 10 layers of width 256, on
1000 MNIST-1D inputs, against 0.5^l; Xavier (tanh, linear) and He (ReLU)
are the controls.
"""
from __future__ import annotations

import math

import numpy as np

from . import common
from .experiment import Experiment, register
from .verdict import HOLDS, Verdict, all_of, bound, fmt

DEPTH, WIDTH = 10, 256
CASES = (("linear", "small"), ("tanh", "small"), ("relu", "small"), ("linear", "good"), ("tanh", "good"),
         ("relu", "good"))


@register
class SmallWeights(Experiment):
    name = "small_weights"
    title = "Too-small weights: the signal shrinks like 0.5^depth"
    claim = ("If the initial weights are too small, the signal shrinks as it moves through the layers: "
             "with a factor 0.5 per layer, (0.5)^10 ≈ 0.001 after 10 layers.")
    note = "seed 000 'Problems with Poor Weight Initialization: Vanishing Gradients'; seed 003"
    paper = None
    order = 11
    expected_quick = HOLDS

    def setup(self, quick):
        n = 250 if quick else 1000
        return (f"{DEPTH} hidden layers of width {WIDTH}, no biases' effect (zero), {n} MNIST-1D inputs. "
                "'small': W ~ N(0, (0.5/√n_in)²) (×√2 for ReLU, so every layer halves the RMS); "
                "'good': Xavier normal (linear, tanh) or He normal (ReLU). Measured: RMS of the activations "
                "a_l and of the back-propagated gradients ∂L/∂z_l (cross-entropy, true labels) per layer, "
                "at initialization; one weight draw per seed.")

    def jobs(self, quick, seeds):
        n = 250 if quick else 1000
        return [{"seed": s, "activation": a, "init": i, "n": n} for s in seeds for a, i in CASES]

    def run_job(self, job):
        from ..init import normal_

        Xtr, ytr, _, _ = common.mnist1d()
        X, y = Xtr[:job["n"]], ytr[:job["n"]]
        act = job["activation"]
        good = "he_normal" if act == "relu" else "xavier_normal"
        model = common.build_net([40] + [WIDTH] * DEPTH + [10], "tanh" if act == "linear" else act, good, job["seed"])
        if act == "linear":
            from .. import nn

            model = nn.Sequential(*[m if isinstance(m, nn.Linear) else nn.Identity() for m in model])
        if job["init"] == "small":
            from ..backend import Generator

            g = Generator(job["seed"] + 7)
            lins = [m for m in model if hasattr(m, "weight")]
            for m in lins[:-1]:
                n_in = m.weight.shape[1]
                normal_(m.weight, 0.0, 0.5 * (math.sqrt(2) if act == "relu" else 1.0) / math.sqrt(n_in), g)
        acts, grads = common.signal_flow(model, X, y)
        x_rms = common.rms(X)
        return {"act_rms": [common.rms(a) / x_rms for a in acts], "grad_rms": [common.rms(g) for g in grads]}

    def summarize(self, jobs, outputs, quick):
        m = {"depth": DEPTH, "cases": {}}
        for a, i in CASES:
            act = np.asarray(common.per_seed(outputs, jobs, "act_rms", activation=a, init=i))
            grad = np.asarray(common.per_seed(outputs, jobs, "grad_rms", activation=a, init=i))
            m["cases"][f"{a}/{i}"] = {
                "act_rms": act.mean(0).tolist(),
                "grad_rms": grad.mean(0).tolist(),
                # per seed: RMS after the last layer relative to the input, and the input layer's
                # gradient relative to the last hidden layer's
                "final_ratio": act[:, -1].tolist(),
                "grad_ratio": (grad[:, 0] / grad[:, -1]).tolist(),
            }
        m["target"] = 0.5 ** DEPTH
        m["table"] = [{"network": k, "activation RMS after 10 layers / input RMS": fmt(np.mean(v["final_ratio"])),
                       "gradient RMS at layer 1 / layer 10": fmt(np.mean(v["grad_ratio"])),
                       "0.5^10": fmt(0.5 ** DEPTH) if k.endswith("small") else ""}
                      for k, v in m["cases"].items()]
        return m

    def judge(self, m):
        c, t = m["cases"], m["target"]
        # "like 0.5^10": within a factor 2 of 0.00098 (the notes' arithmetic, on a real network)
        parts = [bound([abs(math.log2(r / t)) for r in c[f"{a}/small"]["final_ratio"]], "<", 1.0,
                       what=f"{a}, factor 0.5 per layer: |log2(measured RMS ratio / 0.5^10)| "
                            f"(measured {fmt(np.mean(c[f'{a}/small']['final_ratio']))})")
                 for a in ("linear", "tanh", "relu")]
        parts.append(bound([abs(math.log2(r)) for k in ("linear/good", "tanh/good", "relu/good")
                            for r in c[k]["grad_ratio"]], "<", 2.0,
                           what="control (Xavier/He): |log2(gradient RMS at layer 1 / layer 10)|"))
        v = all_of(*parts)
        shrink = np.mean(c["tanh/small"]["grad_ratio"])
        return Verdict(v.status, v.text + f". The back-propagated gradient shrinks the same way going down: "
                                          f"layer 1 gets {fmt(shrink)} of layer 10's gradient RMS (tanh, small)")

    def plot(self, m, path):
        plt = common.plt()
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        layers = np.arange(1, m["depth"] + 1)
        for k, v in m["cases"].items():
            style = "-" if k.endswith("small") else "--"
            axes[0].semilogy(layers, v["act_rms"], style, marker="o", ms=3, label=k)
            axes[1].semilogy(layers, v["grad_rms"], style, marker="o", ms=3, label=k)
        axes[0].semilogy(layers, 0.5 ** layers, "k:", lw=2, label="0.5^l (the notes)")
        axes[0].set_ylabel("RMS of activations / RMS of input")
        axes[1].set_ylabel("RMS of ∂L/∂z (back-propagated)")
        for ax in axes:
            ax.set_xlabel("layer l")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=7)
        return common.fig_done(fig, path, "Weights too small: signal ×0.5 per layer forward, "
                                          "gradient ×0.5 per layer backward")
