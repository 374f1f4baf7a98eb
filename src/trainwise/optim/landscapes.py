"""Two-parameter test functions for watching optimizers move (seeds/002 "Visualizing Adaptive Learning Rates").

Each function takes p, a Tensor (or array) whose first axis holds (x, y),
and returns f(x, y) as a Tensor built from differentiable ops, so
``f(p).backward()`` gives ∇f. With p of shape (2, H, W) it evaluates a whole
grid at once (for contour plots).

- ``quadratic_bowl``: f = ½ pᵀ A p, A = [[0.2, 0], [0, 4]] (a ravine with
  condition number 20); minimum f(0, 0) = 0.
- ``rosenbrock``: f = (a − x)² + b (y − x²)², a = 1, b = 100 (Rosenbrock
  1960): a curved, flat-bottomed valley; minimum f(1, 1) = 0.
- ``beale``: f = (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²;
  minimum f(3, 0.5) = 0.
- ``himmelblau``: f = (x² + y − 11)² + (x + y² − 7)²; four minima with f = 0
  at (3, 2), (−2.805118, 3.131312), (−3.779310, −3.283186), (3.584428, −1.848127).
- ``rastrigin``: f = 2A + Σᵢ (pᵢ² − A cos(2π pᵢ)), A = 10: a bowl covered in
  local minima; global minimum f(0, 0) = 0.

``run_paths`` runs several optimizers from one start; ``plot_paths`` draws
their paths over the contours. ``DEFAULT_SETTINGS`` holds one documented
setting per optimizer for the Rosenbrock demonstration (see its comment).

Example::

    paths, losses = run_paths(rosenbrock, default_optimizers(), start=(-1.5, 2.0), steps=200)
    plot_paths(rosenbrock, paths, "paths.png")
"""
from __future__ import annotations

import math

from ..backend import xp
from ..nn.module import Parameter
from ..tensor import Tensor, make, no_grad

__all__ = [
    "quadratic_bowl", "rosenbrock", "beale", "himmelblau", "rastrigin", "LANDSCAPES", "DEFAULT_SETTINGS",
    "default_optimizers", "lookahead_sgd", "run_paths", "plot_paths",
]


def _cos(a: Tensor) -> Tensor:
    """cos a. d/da = −sin a."""
    ad = a.data
    return make(xp.cos(ad), (a,), lambda g: (-g * xp.sin(ad),), "cos")


def _xy(p, owner: str):
    if not isinstance(p, Tensor):
        p = Tensor(xp.asarray(p, dtype=xp.float64))
    if p.ndim == 0 or p.shape[0] != 2:
        raise ValueError(f"{owner}: 'p' must hold (x, y) along its first axis (shape (2, ...)); got shape {p.shape}")
    return p[0], p[1]


def quadratic_bowl(p) -> Tensor:
    """f(x, y) = ½ pᵀ A p = 0.1 x² + 2 y², A = [[0.2, 0], [0, 4]].

    Curvatures 0.2 and 4 (condition number 20): a long, narrow ravine along x
    where plain gradient descent zig-zags across y. Minimum f(0, 0) = 0.
    """
    x, y = _xy(p, "quadratic_bowl")
    return 0.1 * x * x + 2.0 * y * y


def rosenbrock(p, a: float = 1.0, b: float = 100.0) -> Tensor:
    """f(x, y) = (a − x)² + b (y − x²)² (Rosenbrock 1960), a = 1, b = 100.

    A banana-shaped valley: easy to fall into, slow to follow. Minimum f(a, a²) = f(1, 1) = 0.
    """
    x, y = _xy(p, "rosenbrock")
    u = a - x
    v = y - x * x
    return u * u + b * (v * v)


def beale(p) -> Tensor:
    """f(x, y) = (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)². Minimum f(3, 0.5) = 0."""
    x, y = _xy(p, "beale")
    y2 = y * y
    t1 = 1.5 - x + x * y
    t2 = 2.25 - x + x * y2
    t3 = 2.625 - x + x * (y2 * y)
    return t1 * t1 + t2 * t2 + t3 * t3


def himmelblau(p) -> Tensor:
    """f(x, y) = (x² + y − 11)² + (x + y² − 7)² (Himmelblau 1972).

    Four minima, all f = 0: (3, 2), (−2.805118, 3.131312), (−3.779310, −3.283186), (3.584428, −1.848127).
    """
    x, y = _xy(p, "himmelblau")
    u = x * x + y - 11.0
    v = x + y * y - 7.0
    return u * u + v * v


def rastrigin(p, A: float = 10.0) -> Tensor:
    """f(x, y) = 2A + (x² − A cos 2πx) + (y² − A cos 2πy) (Rastrigin 1974), A = 10.

    Local minima near every integer point; the global one is f(0, 0) = 0.
    """
    x, y = _xy(p, "rastrigin")
    tau = 2.0 * math.pi
    return 2.0 * A + x * x - A * _cos(tau * x) + y * y - A * _cos(tau * y)


# name -> (function, its minima, plotting bounds ((x0, x1), (y0, y1)))
LANDSCAPES = {
    "quadratic_bowl": (quadratic_bowl, [(0.0, 0.0)], ((-4.0, 4.0), (-2.5, 2.5))),
    "rosenbrock": (rosenbrock, [(1.0, 1.0)], ((-2.0, 2.0), (-1.0, 3.0))),
    "beale": (beale, [(3.0, 0.5)], ((-4.5, 4.5), (-4.5, 4.5))),
    "himmelblau": (himmelblau, [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848127)],
                   ((-5.0, 5.0), (-5.0, 5.0))),
    "rastrigin": (rastrigin, [(0.0, 0.0)], ((-3.0, 3.0), (-3.0, 3.0))),
}

# One setting per optimizer for Rosenbrock from (−1.5, 2), 200 steps. The rates
# are the largest round numbers each rule tolerates there; plain SGD at
# η = 1e-3 is close to its stability limit 2/λ_max ≈ 1e-3 at the start, so the
# comparison is "each optimizer at a rate that does not blow up".
DEFAULT_SETTINGS = {
    "SGD": {"lr": 1e-3},
    "Momentum": {"lr": 1e-3, "momentum": 0.9},
    "Nesterov": {"lr": 1e-3, "momentum": 0.9, "nesterov": True},
    "Adagrad": {"lr": 0.5},
    "RMSprop": {"lr": 1e-2},
    "Adam": {"lr": 0.1},
    "AdamW": {"lr": 0.1, "weight_decay": 0.01},
    "Lookahead(SGD)": {"lr": 1e-3, "momentum": 0.9, "k": 5, "alpha": 0.5},
}


def lookahead_sgd(params, k: int = 5, alpha: float = 0.5, **sgd_kwargs):
    """``Lookahead(SGD(params, **sgd_kwargs), k, alpha)``, as a factory for ``run_paths``."""
    from . import SGD, Lookahead
    return Lookahead(SGD(params, **sgd_kwargs), k=k, alpha=alpha)


def default_optimizers(names=None) -> dict:
    """{name: (factory, DEFAULT_SETTINGS[name])} for ``run_paths`` (all names, or the ones given)."""
    from . import SGD, Adagrad, Adam, AdamW, RMSprop
    factories = {"SGD": SGD, "Momentum": SGD, "Nesterov": SGD, "Adagrad": Adagrad, "RMSprop": RMSprop,
                 "Adam": Adam, "AdamW": AdamW, "Lookahead(SGD)": lookahead_sgd}
    names = list(DEFAULT_SETTINGS) if names is None else list(names)
    unknown = [n for n in names if n not in factories]
    if unknown:
        raise ValueError(f"default_optimizers: unknown name(s) {unknown}; known: {list(factories)}")
    return {n: (factories[n], dict(DEFAULT_SETTINGS[n])) for n in names}


def run_paths(fn, optimizers: dict, start=(-1.5, 2.0), steps: int = 200):
    """Run each optimizer from ``start`` on f = ``fn`` and record where it goes.

    ``optimizers`` maps a name to ``(OptimizerClass, kwargs)``; any callable
    ``factory(params, **kwargs)`` returning an optimizer works (see
    ``lookahead_sgd``). Each gets its own float64 Parameter p = start and
    takes ``steps`` steps of zero_grad, f(p).backward(), step.

    Returns ``(paths, losses)``: dicts from name to an array of shape
    (steps + 1, 2) of positions (row 0 is ``start``) and one of shape
    (steps + 1,) of f there. If f becomes NaN or infinite the run stops and
    the remaining rows are NaN.
    """
    if not callable(fn):
        raise TypeError(f"run_paths: 'fn' must be a function of p; got {type(fn).__name__}")
    if not isinstance(optimizers, dict) or not optimizers:
        raise ValueError("run_paths: 'optimizers' must be a non-empty dict name -> (OptimizerClass, kwargs)")
    for name, spec in optimizers.items():
        if not (isinstance(spec, (tuple, list)) and len(spec) == 2 and callable(spec[0]) and isinstance(spec[1], dict)):
            raise ValueError(f"run_paths: optimizers[{name!r}] must be (OptimizerClass, kwargs); got {spec!r}")
    s = xp.asarray(start, dtype=xp.float64)
    if s.shape != (2,) or not xp.all(xp.isfinite(s)):
        raise ValueError(f"run_paths: 'start' must be two finite numbers (x, y); got {start!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, xp.integer)) or steps < 1:
        raise ValueError(f"run_paths: 'steps' must be a positive int; got {steps!r}")
    paths, losses = {}, {}
    for name, (factory, kwargs) in optimizers.items():
        p = Parameter(s.copy())
        opt = factory([p], **kwargs)
        path = xp.full((steps + 1, 2), xp.nan)
        loss = xp.full(steps + 1, xp.nan)
        with xp.errstate(over="ignore", invalid="ignore"):
            for i in range(steps + 1):
                opt.zero_grad()
                f = fn(p)
                path[i], loss[i] = p.data, float(f.data)
                if i == steps or not math.isfinite(loss[i]):
                    break
                f.backward()
                opt.step()
        paths[name], losses[name] = path, loss
    return paths, losses


def plot_paths(fn, paths: dict, path_png, bounds=None, losses: dict | None = None, title: str | None = None,
               minima=None, dpi: int = 90) -> str:
    """Draw f's contours (log-spaced levels) and each optimizer's path; write a PNG.

    ``bounds`` is ((x0, x1), (y0, y1)); by default the function's entry in
    ``LANDSCAPES`` (or the paths' extent for another function). ``minima``
    (default: the known ones) are marked with a star, each path's end with a
    dot. With ``losses`` (as returned by ``run_paths``) a second panel shows
    f against the step on a log scale. Returns the file name.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    if not isinstance(paths, dict) or not paths:
        raise ValueError("plot_paths: 'paths' must be a non-empty dict name -> array (steps + 1, 2)")
    known = next((v for v in LANDSCAPES.values() if v[0] is fn), None)
    if minima is None:
        minima = known[1] if known else []
    if bounds is None:
        if known:
            bounds = known[2]
        else:
            pts = xp.concatenate([pth[xp.all(xp.isfinite(pth), axis=1)] for pth in paths.values()])
            lo, hi = pts.min(axis=0), pts.max(axis=0)
            pad = 0.1 * xp.maximum(hi - lo, 1.0)
            bounds = ((lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1]))
    (x0, x1), (y0, y1) = bounds
    gx, gy = xp.meshgrid(xp.linspace(x0, x1, 300), xp.linspace(y0, y1, 300))
    with no_grad():
        z = fn(xp.stack([gx, gy])).data
    shift = 0.0 if z.min() > 0 else 1e-3 - float(z.min())  # log-spaced levels need positive values
    z = z + shift
    levels = xp.logspace(math.log10(z.min()), math.log10(z.max()), 25)

    fig = Figure(figsize=(12 if losses else 7, 5.5), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 2 if losses else 1, 1)
    ax.contourf(gx, gy, z, levels=levels, norm=LogNorm(), cmap="viridis", alpha=0.3)
    ax.contour(gx, gy, z, levels=levels, norm=LogNorm(), cmap="viridis", linewidths=0.5)
    styles = ["-", "--", "-.", ":"]
    for i, (name, pth) in enumerate(paths.items()):
        ok = pth[xp.all(xp.isfinite(pth), axis=1)]
        color = f"C{i % 10}"
        ax.plot(ok[:, 0], ok[:, 1], styles[(i // 3) % 4], color=color, lw=1.6, label=name)
        ax.plot(ok[-1:, 0], ok[-1:, 1], "o", color=color, mec="k", ms=6)
    first = next(iter(paths.values()))[0]
    ax.plot([first[0]], [first[1]], "ks", ms=7, label="start")
    for k, (mx, my) in enumerate(minima):
        ax.plot([mx], [my], "*", color="gold", mec="k", ms=15, label="minimum" if k == 0 else None)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    steps = len(next(iter(paths.values()))) - 1
    ax.set_title(title or f"{getattr(fn, '__name__', 'f')}: {steps} steps from ({first[0]:g}, {first[1]:g})")
    ax.legend(loc="best", fontsize=8, framealpha=0.8)
    if losses:
        ax2 = fig.add_subplot(1, 2, 2)
        for i, (name, curve) in enumerate(losses.items()):
            ax2.plot(xp.arange(len(curve)), curve + shift, styles[(i // 3) % 4], color=f"C{i % 10}", lw=1.6, label=name)
        ax2.set_yscale("log")
        ax2.set_xlabel("step")
        ax2.set_ylabel("f" + (f" + {shift:.3g}" if shift else ""))
        ax2.set_title("loss along the path")
        ax2.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path_png)
    return str(path_png)
