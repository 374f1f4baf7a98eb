"""Dropout at test time: scaling the weights by the keep probability equals inverted dropout in expectation.

Seeds 001 and 004: "at test time all neurons are always ON and the weights
... will be scaled with the dropout ratio" (the original dropout of
Srivastava et al. 2014: train ỹ = r ⊙ y, test ỹ = (1 − p)·y); seed 002:
"inverted dropout" (train ỹ = r ⊙ y / (1 − p), test ỹ = y, nothing special at
test time). The two agree in expectation — E[r] = 1 − p — which is what makes
either test-time rule right. "Scaled with the dropout ratio" is ambiguous
(seeds/ERRATA.md): scaling by the keep probability 1 − p is right, by the
drop probability p is not (unless p = 0.5). The runs take a trained MLP with
a Dropout(p = 0.2) layer, average its training-mode outputs over 2000 masks,
and compare with the test-time output of each rule; then they train the
network in both modes and compare test accuracy.
"""
from __future__ import annotations

import numpy as np

from .. import nn, optim
from ..backend import Generator
from ..tensor import Tensor, no_grad
from . import common
from .experiment import Experiment, register
from .verdict import HOLDS, Verdict, all_of, bound, fmt

P = 0.2


def _net(mode, seed):
    g = Generator(seed)
    return nn.Sequential(nn.Linear(40, 128, init="he_normal", generator=g), nn.ReLU(),
                         nn.Dropout(P, mode=mode, generator=Generator(seed + 7)),
                         nn.Linear(128, 10, generator=g))


@register
class DropoutScaling(Experiment):
    name = "dropout_scaling"
    title = "Dropout at test time: original vs inverted"
    claim = ("Turning all units on at test time and scaling by the dropout ratio (original dropout) matches "
             "training-time dropout in expectation, as inverted dropout does.")
    note = "seed 001 'Guidelines to use Dropout'; seed 004; seed 002 'Inference/Test Phase'"
    paper = "Srivastava et al. 2014, 'Dropout', section 4"
    errata = ("seeds/ERRATA.md: seeds 001/004 describe the original (scale at test) form, seed 002 the inverted one; "
              "'the dropout ratio' must be the keep probability 1 − p.")
    order = 45
    expected_quick = HOLDS

    def sizes(self, quick):
        return dict(masks=500, epochs=5) if quick else dict(masks=2000, epochs=20)

    def setup(self, quick):
        s = self.sizes(quick)
        return (f"MNIST-1D, MLP 40-128-Dropout(p = {P})-10; expectation check on 200 held-out samples after training, "
                f"mean of {s['masks']} training-mode outputs of the dropout layer's successor vs the test-time output; "
                f"training: Adam η = 1e-3, batch 64, {s['epochs']} epochs in each mode.")

    def jobs(self, quick, seeds):
        return [{"seed": s, "mode": m, **self.sizes(quick)} for s in seeds for m in ("inverted", "scale_at_test")]

    def run_job(self, job):
        Xtr, ytr, Xte, yte = common.mnist1d()
        model = _net(job["mode"], job["seed"])
        tr, h = common.fit(model, optim.Adam(model.parameters(), lr=1e-3), (Xtr, ytr), (Xte, yte),
                           epochs=job["epochs"], batch_size=64, seed=job["seed"])
        x = Tensor(Xte[:200])
        with no_grad():
            model.train()
            mean = np.mean([model(x).data.astype(np.float64) for _ in range(job["masks"])], axis=0)
            model.eval()
            test = model(x).data.astype(np.float64)
            # the wrong reading of "scaled with the dropout ratio": multiply by p instead of 1 − p
            hidden = model[1](model[0](x)).data.astype(np.float64)
            W, b = model[3].weight.data.astype(np.float64), model[3].bias.data.astype(np.float64)
            wrong = (hidden * (P if job["mode"] == "scale_at_test" else P / (1 - P))) @ W.T + b
        scale = np.abs(mean).mean()
        return {"error": float(np.abs(test - mean).mean() / scale),
                "wrong_error": float(np.abs(wrong - mean).mean() / scale), "test_accuracy": h["val_accuracy"][-1]}

    def summarize(self, jobs, outputs, quick):
        m = {}
        for mode in ("inverted", "scale_at_test"):
            outs = [o for j, o in zip(jobs, outputs) if j["mode"] == mode]
            m[mode] = {k: [o[k] for o in outs] for k in ("error", "wrong_error", "test_accuracy")}
        m["masks"] = jobs[0]["masks"]
        m["table"] = [{"mode": mode,
                       "|test-time output − mean training output| (relative)": fmt(np.mean(m[mode]["error"])),
                       "same, scaling by p instead of 1 − p": fmt(np.mean(m[mode]["wrong_error"])),
                       "test accuracy": fmt(np.mean(m[mode]["test_accuracy"]))} for mode in ("inverted", "scale_at_test")]
        return m

    def judge(self, m):
        v = all_of(
            bound(m["scale_at_test"]["error"], "<", 0.05, what="scale at test by 1 − p: relative distance to the "
                                                                 "mean training-mode output"),
            bound(m["inverted"]["error"], "<", 0.05, what="inverted dropout: the same"),
        )
        acc = [a - b for a, b in zip(m["scale_at_test"]["test_accuracy"], m["inverted"]["test_accuracy"])]
        return Verdict(v.status, v.text + f". Read as 'scale by p' (= {P}) the test output is off by "
                       f"{fmt(np.mean(m['scale_at_test']['wrong_error']))} instead; test accuracy, original − inverted: "
                       + ", ".join(f"{a:+.3f}" for a in acc))

    def plot(self, m, path):
        plt = common.plt()
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
        modes = ("inverted", "scale_at_test")
        x = np.arange(2)
        axes[0].bar(x - 0.2, [np.mean(m[k]["error"]) for k in modes], 0.4, label="test rule of the mode (1 − p)")
        axes[0].bar(x + 0.2, [np.mean(m[k]["wrong_error"]) for k in modes], 0.4, label="scaling by p instead")
        axes[0].set_xticks(x, ["inverted (seed 002)", "scale at test (seeds 001/004)"])
        axes[0].set_yscale("log")
        axes[0].set_ylabel(f"|test output − mean of {m['masks']} dropout outputs|\n/ mean |output|")
        axes[0].legend(fontsize=8)
        axes[1].bar(x, [np.mean(m[k]["test_accuracy"]) for k in modes], yerr=[np.std(m[k]["test_accuracy"]) for k in modes],
                    color=["C0", "C1"], capsize=4)
        axes[1].set_xticks(x, ["inverted", "scale at test"])
        axes[1].set_ylabel("test accuracy (mean ± sd)")
        for ax in axes:
            ax.grid(alpha=0.3, which="both", axis="y")
        return common.fig_done(fig, path, f"Dropout p = {P}: both test-time rules match training in expectation")
