"""The notes' own initialization formulas, taken at their word (see seeds/ERRATA.md).

Seed 000 ("Common Initialization Techniques") writes He as W ~ N(0, 1/n_in)
"specifically for ReLU ... maintaining variance of activations", and LeCun as
W ~ N(0, 2/n_in) "tailored for SELU ... self-normalization"; the two are
swapped (He et al. 2015: Var = 2/n_in; Klambauer et al. 2017: SELU needs
Var = 1/n_in). Seed 003 adds that He and Xavier "ensure that the weights are
close to 1". The runs measure, at initialization, on 1000 MNIST-1D inputs:
the RMS of the activations after 20 ReLU layers of width 256 under the notes'
He and the paper's He; the mean and variance of the activations after 20 SELU
layers under the notes' LeCun and the real one (SELU's fixed point is mean 0,
variance 1); and the typical size |w| of He and Xavier weights.
"""
from __future__ import annotations

import math

import numpy as np

from . import common
from .experiment import Experiment, register
from .verdict import FAILS, Verdict, all_of, bound, fmt

DEPTH, WIDTH = 20, 256


@register
class NotesInitFormulas(Experiment):
    name = "notes_init_formulas"
    title = "The notes' He and LeCun formulas (swapped) and 'weights close to 1'"
    claim = ("He initialization W ~ N(0, 1/n_in) keeps the variance of ReLU activations; LeCun W ~ N(0, 2/n_in) "
             "makes SELU self-normalizing; He and Xavier make the weights close to 1.")
    note = "seed 000 'Common Initialization Techniques'; seed 003 'Solution: ... initialization'"
    paper = ("He et al. 2015, 'Delving Deep into Rectifiers' (Var = 2/n_in); Klambauer et al. 2017, "
             "'Self-Normalizing Neural Networks' (Var = 1/n_in)")
    errata = ("seeds/ERRATA.md: seed 000 swaps He (2/n_in) and LeCun (1/n_in); seed 003's 'weights close to 1' "
              "is wrong: the rules fix the variance of activations and gradients, and the weights are small.")
    order = 12
    expected_quick = FAILS

    def setup(self, quick):
        n = 250 if quick else 1000
        return (f"{DEPTH} hidden layers of width {WIDTH} (first layer 40 → {WIDTH}), zero biases, {n} MNIST-1D "
                "inputs, at initialization. ReLU with N(0, 1/n_in) (the notes' 'He') vs N(0, 2/n_in) (He et al.); "
                "SELU with N(0, 2/n_in) (the notes' 'LeCun') vs N(0, 1/n_in) (LeCun, as SELU needs). "
                "Weight sizes: mean |w| of He and Xavier normal layers 256×256 and 40×256.")

    def jobs(self, quick, seeds):
        n = 250 if quick else 1000
        return [{"seed": s, "n": n} for s in seeds]

    def run_job(self, job):
        Xtr, ytr, _, _ = common.mnist1d()
        X, y = Xtr[:job["n"]], ytr[:job["n"]]
        sizes = [40] + [WIDTH] * DEPTH + [10]
        out = {}
        x_rms = common.rms(X)
        for key, act, init, gain in (("relu_notes_he", "relu", "he_normal", "linear"),   # Var = 1/n_in
                                     ("relu_he", "relu", "he_normal", None),             # Var = 2/n_in
                                     ("selu_notes_lecun", "selu", "he_normal", None),    # Var = 2/n_in
                                     ("selu_lecun", "selu", "lecun_normal", None)):      # Var = 1/n_in
            model = common.build_net(sizes, act, init, job["seed"], gain=gain)
            acts, _ = common.signal_flow(model, X, y)
            out[key] = {"rms": [common.rms(a) / x_rms for a in acts],
                        "mean": [float(a.mean()) for a in acts], "var": [float(a.var()) for a in acts]}
        sizes_w = {}
        for init in ("he_normal", "xavier_normal"):
            m = common.build_net([40, WIDTH, WIDTH], "relu", init, job["seed"])
            w = [np.abs(l.weight.data).mean() for l in m if hasattr(l, "weight")]
            sizes_w[init] = [float(v) for v in w]
        out["weights"] = sizes_w
        return out

    def summarize(self, jobs, outputs, quick):
        m = {"depth": DEPTH}
        for key in ("relu_notes_he", "relu_he", "selu_notes_lecun", "selu_lecun"):
            rows = [o[key] for o in outputs]
            m[key] = {k: np.mean([r[k] for r in rows], axis=0).tolist() for k in ("rms", "mean", "var")}
            m[key]["final_rms"] = [r["rms"][-1] for r in rows]
            m[key]["final_var"] = [r["var"][-1] for r in rows]
        m["weights"] = {k: float(np.mean([o["weights"][k] for o in outputs])) for k in ("he_normal", "xavier_normal")}
        m["max_mean_abs_w"] = [max(max(o["weights"]["he_normal"]), max(o["weights"]["xavier_normal"])) for o in outputs]
        col = f"after {DEPTH} layers"
        m["table"] = [
            {"network": "ReLU, notes' He N(0, 1/n_in)", col: f"RMS ×{fmt(np.mean(m['relu_notes_he']['final_rms']))}"},
            {"network": "ReLU, He et al. N(0, 2/n_in)", col: f"RMS ×{fmt(np.mean(m['relu_he']['final_rms']))}"},
            {"network": "SELU, notes' LeCun N(0, 2/n_in)",
             col: f"variance {fmt(np.mean(m['selu_notes_lecun']['final_var']))}"},
            {"network": "SELU, LeCun N(0, 1/n_in)", col: f"variance {fmt(np.mean(m['selu_lecun']['final_var']))}"},
            {"network": "mean |w| of a layer, He / Xavier normal",
             col: f"{fmt(m['weights']['he_normal'])} / {fmt(m['weights']['xavier_normal'])}"},
        ]
        return m

    def judge(self, m):
        he = bound([abs(math.log2(r)) for r in m["relu_notes_he"]["final_rms"]], "<", 1.0,
                   what=f"notes' He on ReLU keeps the activation RMS within a factor 2 over {DEPTH} layers: "
                        f"|log2 ratio| (ratio {fmt(np.mean(m['relu_notes_he']['final_rms']))}; the paper's He: "
                        f"{fmt(np.mean(m['relu_he']['final_rms']))})")
        lecun = bound([abs(math.log2(v)) for v in m["selu_notes_lecun"]["final_var"]], "<", 0.5,
                      what=f"notes' LeCun on SELU keeps the variance near SELU's fixed point 1: |log2 variance| "
                           f"(variance {fmt(np.mean(m['selu_notes_lecun']['final_var']))}; real LeCun: "
                           f"{fmt(np.mean(m['selu_lecun']['final_var']))})")
        close = bound([abs(v - 1) for v in m["max_mean_abs_w"]], "<", 0.5,
                      what="He/Xavier weights close to 1: |mean|w| − 1| (largest mean |w| of a layer)")
        v = all_of(he, lecun, close)
        return Verdict(v.status, v.text + ". With the published variances (2/n_in for ReLU, 1/n_in for SELU) "
                       "the signal is kept; what the rules fix is the variance, not the size of the weights.")

    def plot(self, m, path):
        plt = common.plt()
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        layers = np.arange(1, m["depth"] + 1)
        axes[0].semilogy(layers, m["relu_notes_he"]["rms"], "o-", ms=3, label="notes' 'He' N(0, 1/n_in)")
        axes[0].semilogy(layers, m["relu_he"]["rms"], "o-", ms=3, label="He et al. N(0, 2/n_in)")
        axes[0].set_title("ReLU network", fontsize=10)
        axes[0].set_ylabel("RMS of activations / RMS of input")
        axes[1].semilogy(layers, m["selu_notes_lecun"]["var"], "o-", ms=3, label="notes' 'LeCun' N(0, 2/n_in)")
        axes[1].semilogy(layers, m["selu_lecun"]["var"], "o-", ms=3, label="LeCun N(0, 1/n_in)")
        axes[1].axhline(1.0, color="k", ls=":", label="SELU fixed point (variance 1)")
        axes[1].set_title("SELU network", fontsize=10)
        axes[1].set_ylabel("variance of activations")
        for ax in axes:
            ax.set_xlabel("layer")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
        return common.fig_done(fig, path, "The notes' swapped formulas, measured (seeds/ERRATA.md)")
