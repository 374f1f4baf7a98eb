"""The doctor's pictures and its HTML section.

The pictures that make the findings obvious, drawn from the plain statistics:

- ``plot_gradients``: the gradient norm of every layer over the steps (log
  scale): vanishing gradients show as a fan of lines decades apart, exploding
  ones as lines shooting up before the NaN;
- ``plot_activations``: histograms of each activation layer's outputs at a
  few moments of the run: dead ReLUs pile up at 0, saturated sigmoids at 0
  and 1 (tanh at ±1);
- ``plot_units``: the fraction of dead (ReLU) and saturated (sigmoid/tanh)
  units per layer over the steps, with the rules' thresholds;
- ``plot_loss``: the loss per step with the steps where findings were made.

``doctor_section`` turns findings (and repairs) into HTML for
``trainwise.report.write_report``; ``write_doctor_report`` writes the PNGs
and a stand-alone ``doctor.html``.
"""
from __future__ import annotations

import math
import os

from ..backend import xp
from .findings import severity_rank
from .rules import THRESHOLDS

__all__ = ["plot_gradients", "plot_activations", "plot_units", "plot_loss", "doctor_section",
           "write_doctor_report", "doctor_plots"]


def _figure(w, h):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _colors(n):
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(0.9 * i / max(1, n - 1)) for i in range(n)]


def _mark_nan(ax, stats):
    if stats.get("nan_step") is not None:
        ax.axvline(stats["nan_step"], color="C3", lw=1, ls="--", label=f"loss NaN (step {stats['nan_step']})")


def plot_gradients(stats: dict, path) -> str | None:
    """Gradient norm ‖∇W‖ per layer over the sampled steps (log y), first layer dark, last light."""
    names = [l["name"] for l in stats.get("layers", []) if l["name"] in stats.get("grad_norm", {})]
    if not names:
        return None
    fig = _figure(7, 4)
    ax = fig.add_subplot(1, 1, 1)
    steps = stats["steps"]
    for name, c in zip(names, _colors(len(names))):
        g = xp.asarray(stats["grad_norm"][name], dtype=float)
        g = xp.where(g > 0, g, xp.nan)
        ax.plot(steps[:len(g)], g, color=c, lw=1.2, label=f"layer {name}")
    _mark_nan(ax, stats)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("gradient norm ‖∇W‖")
    ax.set_title("gradient norm per layer (first layer dark, last light)")
    ax.legend(fontsize=7, ncol=2 if len(names) > 6 else 1, loc="best")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path)
    return str(path)


def plot_activations(stats: dict, path, max_layers: int = 12) -> str | None:
    """One panel per activation layer: histograms of its outputs at the recorded moments (early dark)."""
    hist = stats.get("hist", {})
    acts = [a for a in stats.get("activations", []) if a["name"] in hist][:max_layers]
    if not acts:
        return None
    n = len(acts)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig = _figure(3.4 * cols, 2.6 * rows + 0.5)
    for i, a in enumerate(acts):
        ax = fig.add_subplot(rows, cols, i + 1)
        caps = hist[a["name"]]
        for cap, c in zip(caps, _colors(len(caps))):
            edges = xp.asarray(cap["edges"])
            counts = xp.asarray(cap["counts"], dtype=float)
            total = counts.sum()
            ax.step(edges[:-1], counts / total if total else counts, where="post", color=c, lw=1.1,
                    label=f"step {cap['step']}")
        extra = ""
        if a["name"] in stats.get("dead_frac", {}) and stats["dead_frac"][a["name"]]:
            extra = f", dead {stats['dead_frac'][a['name']][-1]:.0%}"
        if a["name"] in stats.get("sat_frac", {}) and stats["sat_frac"][a["name"]]:
            extra = f", saturated {stats['sat_frac'][a['name']][-1]:.0%}"
        ax.set_title(f"{a['name']} ({a['kind']}{extra})", fontsize=9)
        ax.set_ylim(bottom=0)
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.legend(fontsize=6)
    fig.suptitle("activation histograms per layer (fraction of outputs; early dark, late light)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    return str(path)


def plot_units(stats: dict, path) -> str | None:
    """Dead-unit fraction (ReLU) and saturated-unit fraction (sigmoid/tanh) per layer over the steps."""
    series = [(k, name, v) for k in ("dead_frac", "sat_frac") for name, v in stats.get(k, {}).items() if v]
    if not series:
        return None
    fig = _figure(7, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    steps = stats["steps"]
    for (k, name, v), c in zip(series, _colors(len(series))):
        ax.plot(steps[:len(v)], v, color=c, lw=1.2, ls="-" if k == "dead_frac" else "--",
                label=f"{name} {'dead' if k == 'dead_frac' else 'saturated'}")
    if any(k == "dead_frac" for k, _, _ in series):
        ax.axhline(THRESHOLDS["dead_fraction"], color="C3", lw=0.8, ls=":", label="dead threshold")
    if any(k == "sat_frac" for k, _, _ in series):
        ax.axhline(THRESHOLDS["saturated_fraction"], color="C1", lw=0.8, ls=":", label="saturation threshold")
    _mark_nan(ax, stats)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("step")
    ax.set_ylabel("fraction of units")
    ax.set_title("dead (ReLU) and saturated (sigmoid/tanh) units per layer")
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return str(path)


def plot_loss(stats: dict, findings, path) -> str | None:
    """Training loss per step, with the steps at which findings were made."""
    loss = xp.asarray(stats.get("loss", []), dtype=float)
    if loss.size == 0:
        return None
    fig = _figure(7, 3.4)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(xp.arange(loss.size), loss, color="C0", lw=0.8, label="training loss")
    finite = loss[xp.isfinite(loss)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 50:
        ax.set_yscale("log")
    marked = set()
    for f in findings:
        if (f.step is not None and f.when == "during" and severity_rank(f.severity) >= 1 and f.code not in marked
                and f.code != "nan_loss"):  # the NaN has its own line
            marked.add(f.code)
            ax.axvline(f.step, color=f"C{1 + len(marked)}", lw=1, ls=":", label=f"{f.code} (step {f.step})")
    _mark_nan(ax, stats)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("training loss per step and the doctor's findings")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return str(path)


def doctor_plots(directory, stats: dict, findings, prefix: str = "doctor_") -> dict:
    """Write the four pictures into ``directory`` (``<prefix><name>.png``); {name: path} of those drawn."""
    os.makedirs(directory, exist_ok=True)
    out = {}
    for key, fn in (("gradients", lambda p: plot_gradients(stats, p)),
                    ("activations", lambda p: plot_activations(stats, p)),
                    ("units", lambda p: plot_units(stats, p)),
                    ("loss", lambda p: plot_loss(stats, findings, p))):
        path = fn(os.path.join(directory, f"{prefix}{key}.png"))
        if path:
            out[key] = path
    return out


def _esc(x):
    from ..report import esc

    return esc(x)


def doctor_section(findings, images: dict | None = None, repairs=None) -> str:
    """HTML: the findings (worst first, severity colored), what they mean and what to do; the
    repairs; the pictures."""
    from ..report import img_tag

    cls = {"error": "bad", "warning": "warn", "info": "ok"}
    parts = []
    shown = [f for f in findings]
    serious = [f for f in shown if severity_rank(f.severity) >= 1]
    if not serious:
        parts.append("<p class='ok'>No warnings: nothing the doctor knows went wrong in this run.</p>")
    if shown:
        rows = "".join(
            f"<tr><td class='{cls[f.severity]}'>{_esc(f.severity)}</td><td><code>{_esc(f.code)}</code></td>"
            f"<td>{_esc(f.where())}</td><td>{_esc(f.message)}</td></tr>" for f in shown)
        parts.append("<table><tr><th>severity</th><th>code</th><th>where</th><th>what the doctor saw</th></tr>"
                     f"{rows}</table>")
        for f in shown:
            ev = ", ".join(f"{_esc(k)} = {_esc(_fmt(v))}" for k, v in f.evidence.items())
            parts.append(
                f"<h3 class='{cls[f.severity]}'>{_esc(f.code)}: {_esc(f.title)}</h3>"
                f"<p><b>Evidence.</b> {ev or '-'}</p><p><b>Why.</b> {_esc(f.explanation)}</p>"
                f"<p><b>What to do.</b> {_esc(', '.join(f.remedies))}</p>"
                f"<p><small>Rule: {_esc(f.rule)}</small></p>")
    if repairs:
        parts.append("<h3>Repairs</h3><table><tr><th>round</th><th>changes</th><th>metric</th>"
                     "<th>before</th><th>after</th><th>kept</th></tr>" + "".join(
                         f"<tr><td>{e['round']}</td><td>{_esc('; '.join(a['change'] for a in e['applied']))}"
                         + (f"<br><small>on top of: {_esc('; '.join(e['kept_from_before']))}</small>"
                            if e.get("kept_from_before") else "") + "</td>"
                         f"<td>{_esc(e['metric'])}</td><td>{_fmt(e['score_before'])}</td>"
                         f"<td>{_fmt(e['score_after'])}</td>"
                         f"<td>{'yes' if e['accepted'] else ('built on' if e.get('explored') else 'no')}</td></tr>"
                         for e in repairs) + "</table>")
    for key, path in (images or {}).items():
        if path and os.path.exists(path):
            parts.append(img_tag(path, f"doctor {key}"))
    return "\n".join(parts)


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_fmt(x)}" for k, x in list(v.items())[:12]) + "}"
    if isinstance(v, list) and len(v) > 12:
        return "[" + ", ".join(_fmt(x) for x in v[:12]) + ", ...]"
    return str(v)


def write_doctor_report(directory, findings, stats: dict, repairs=None, title: str = "doctor",
                        original=None) -> dict:
    """The pictures plus ``doctor.html`` in ``directory``; returns {name: path} including "html".
    ``original`` = (findings, stats) of the run before a repair adds a "Before the repair" section."""
    from ..report import write_report

    images = doctor_plots(directory, stats, findings)
    sections = [("Doctor" if not repairs else "After the repair", doctor_section(findings, images, repairs))]
    out = dict(images)
    if repairs and original is not None:
        before = doctor_plots(directory, original[1], original[0], prefix="doctor_before_")
        sections.insert(0, ("Before the repair", doctor_section(original[0], before)))
        out.update({f"before_{k}": v for k, v in before.items()})
    html = os.path.join(directory, "doctor.html")
    write_report(html, title, sections)
    return {**out, "html": html}
