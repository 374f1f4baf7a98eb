"""Momentum beats plain SGD in ravines.

Seed 002 ("Problems with basic SGD": slow convergence on ravines,
oscillations in high-curvature directions; "Momentum SGD": accumulate
velocity in directions of persistent gradient). A ravine is a valley far
steeper across than along: plain gradient descent must keep η below 2/λ_max
to stay stable across, and then crawls along at a rate set by λ_min, taking
on the order of κ = λ_max/λ_min steps; heavy-ball momentum needs on the order
of √κ (Polyak 1964). The runs start each optimizer from random points of
two ravines — a quadratic with curvatures 0.02 and 4 (κ = 200) and
Rosenbrock's curved valley — and count the steps until f falls below a
tolerance, each optimizer with its best setting from a small grid
(learning rate, and momentum γ for momentum SGD), so that neither is judged
at a bad learning rate.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import Generator
from ..tensor import Tensor
from . import common
from .experiment import Experiment, register
from .verdict import HOLDS, all_of, fmt, paired


def ravine(p):
    """f(x, y) = 0.01 x² + 2 y²: curvatures 0.02 and 4, condition number 200; minimum f(0, 0) = 0."""
    x, y = p[0], p[1]
    return 0.01 * (x * x) + 2.0 * (y * y)


def _landscape(name):
    from ..optim import landscapes

    return {"ravine": (ravine, 1e-6), "rosenbrock": (landscapes.rosenbrock, 1e-4)}[name]


GRIDS = {
    "ravine": {"SGD": [dict(lr=v) for v in (0.05, 0.1, 0.2, 0.3, 0.4, 0.45, 0.49)],
               "Momentum": [dict(lr=v, momentum=g) for v in (0.01, 0.03, 0.1, 0.3) for g in (0.5, 0.8, 0.9, 0.95)]},
    "rosenbrock": {"SGD": [dict(lr=v) for v in (1e-4, 3e-4, 1e-3, 2e-3)],
                   "Momentum": [dict(lr=v, momentum=g) for v in (1e-4, 3e-4, 1e-3, 2e-3) for g in (0.8, 0.9, 0.95)]},
}


QUICK_GRIDS = {
    "ravine": {"SGD": [dict(lr=v) for v in (0.45, 0.49)],
               "Momentum": [dict(lr=0.1, momentum=0.9), dict(lr=0.3, momentum=0.9)]},
    "rosenbrock": {"SGD": [dict(lr=v) for v in (1e-3, 2e-3)],
                   "Momentum": [dict(lr=1e-3, momentum=0.95), dict(lr=2e-3, momentum=0.9)]},
}


def _start(name, seed):
    g = Generator(seed)
    if name == "ravine":
        a = g.uniform(0, 2 * math.pi)
        return [float(8 * math.cos(a)), float(1.5 * math.sin(a))]
    return [float(g.uniform(-2.0, -1.0)), float(g.uniform(1.0, 3.0))]


@register
class MomentumRavine(Experiment):
    name = "momentum_ravine"
    title = "Momentum vs plain SGD in ravines"
    claim = "SGD converges slowly in ravines; momentum gets through them much faster."
    note = "seed 002 'Problems with basic SGD' and 'Momentum SGD'"
    paper = "Polyak 1964 (heavy ball); Sutskever, Martens, Dahl & Hinton 2013"
    order = 20
    expected_quick = HOLDS

    def sizes(self, quick):
        return dict(steps=1000) if quick else dict(steps=5000)

    def setup(self, quick):
        s = self.sizes(quick)
        return ("Two ravines: f = 0.01x² + 2y² (κ = 200, tolerance f < 1e-6) from a random point of the ellipse "
                "(8 cos a, 1.5 sin a), and Rosenbrock (tolerance f < 1e-4) from a random point of [−2, −1]×[1, 3]. "
                f"At most {s['steps']} steps, full gradients (trainwise.optim.SGD on one float64 parameter). "
                "Each optimizer gets its best setting from a grid: SGD η ∈ "
                f"{[g['lr'] for g in GRIDS['ravine']['SGD']]} (ravine) / {[g['lr'] for g in GRIDS['rosenbrock']['SGD']]} "
                "(Rosenbrock); momentum η × γ ∈ {0.5, 0.8, 0.9, 0.95} on similar η grids"
                + (" (--quick: smaller grids)" if quick else "") + ". Measured: steps to the tolerance "
                "(not reached = the step limit).")

    def jobs(self, quick, seeds):
        return [{"seed": s, "landscape": n, "quick": quick, **self.sizes(quick)}
                for s in seeds for n in ("ravine", "rosenbrock")]

    def run_job(self, job):
        from ..optim import SGD, landscapes

        fn, tol = _landscape(job["landscape"])
        start = _start(job["landscape"], job["seed"])
        out = {"start": start}
        for opt, grid in (QUICK_GRIDS if job["quick"] else GRIDS)[job["landscape"]].items():
            best = None
            for kw in grid:
                paths, losses = landscapes.run_paths(fn, {opt: (SGD, kw)}, start=start, steps=job["steps"])
                loss = losses[opt]
                hit = np.flatnonzero(loss < tol)
                steps = int(hit[0]) if len(hit) else job["steps"]
                if best is None or steps < best[0]:
                    best = (steps, kw, paths[opt], loss)
            steps, kw, path, loss = best
            keep = min(len(path), steps + 1)
            idx = np.unique(np.geomspace(1, keep, 200).astype(int) - 1)
            out[opt] = {"steps": steps, "setting": kw, "path": path[:keep][idx].tolist(),
                        "loss_steps": idx.tolist(), "loss": loss[:keep][idx].tolist()}
        return out

    def summarize(self, jobs, outputs, quick):
        m = {"steps_limit": jobs[0]["steps"]}
        for n in ("ravine", "rosenbrock"):
            outs = [o for j, o in zip(jobs, outputs) if j["landscape"] == n]
            m[n] = {opt: {"steps": [o[opt]["steps"] for o in outs], "settings": [o[opt]["setting"] for o in outs]}
                    for opt in ("SGD", "Momentum")}
            m[n]["example"] = outs[0]
        m["table"] = [{"landscape": n, "optimizer": opt, "steps to tolerance (per seed)": str(m[n][opt]["steps"]),
                       "best setting (first seed)": str(m[n][opt]["settings"][0])}
                      for n in ("ravine", "rosenbrock") for opt in ("SGD", "Momentum")]
        return m

    def judge(self, m):
        return all_of(*[
            paired(m[n]["Momentum"]["steps"], m[n]["SGD"]["steps"], "greater", margin=2.0, scale="ratio",
                   names=("momentum", "SGD"), what=f"{n}: steps to the tolerance, each at its best setting")
            for n in ("ravine", "rosenbrock")])

    def plot(self, m, path):
        plt = common.plt()
        fig, axes = plt.subplots(1, 3, figsize=(14, 3.9))
        for ax, n, bounds in ((axes[0], "ravine", ((-9, 9), (-2, 2))), (axes[1], "rosenbrock", ((-2.2, 1.6), (-0.5, 3.2)))):
            fn, _ = _landscape(n)
            xs = np.linspace(*bounds[0], 200)
            ys = np.linspace(*bounds[1], 160)
            X, Y = np.meshgrid(xs, ys)
            Z = fn(Tensor(np.stack([X, Y]))).data
            ax.contour(X, Y, np.log10(Z + 1e-3), levels=20, cmap="Greys", linewidths=0.6)
            ex = m[n]["example"]
            for opt, c in (("SGD", "C0"), ("Momentum", "C3")):
                p = np.asarray(ex[opt]["path"])
                ax.plot(p[:, 0], p[:, 1], ".-", color=c, ms=2, lw=0.8,
                        label=f"{opt} {ex[opt]['setting']}: {ex[opt]['steps']} steps")
                axes[2].loglog(np.asarray(ex[opt]["loss_steps"]) + 1, ex[opt]["loss"], color=c,
                               ls="-" if n == "ravine" else "--", label=f"{n}, {opt}")
            ax.set_title(f"{n}: paths from one start (seed {0})", fontsize=10)
            ax.legend(fontsize=7, loc="lower right")
        axes[2].set_xlabel("step")
        axes[2].set_ylabel("f")
        axes[2].grid(alpha=0.3, which="both")
        axes[2].legend(fontsize=7)
        return common.fig_done(fig, path, "Ravines: plain SGD crawls, momentum gets through (each at its best setting)")
