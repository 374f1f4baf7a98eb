"""The lab's report: one self-contained HTML page (figures embedded) plus the PNGs.

At the top, the table of claims and verdicts, each linked to its section;
then one section per experiment with the claim, where the notes and the
paper make it, what the notes get wrong (if anything), the set-up, the
figure, the verdict with its numbers and the table of measurements. Built on
``trainwise.report`` (``write_report``, ``img_tag``, ``table``).
"""
from __future__ import annotations

import datetime
import os
import platform
import time

from ..report import esc, img_tag, table, write_report
from .verdict import FAILS, HOLDS, PARTLY

__all__ = ["machine_description", "write_lab_report", "run_lab"]

_CLASS = {HOLDS: "ok", PARTLY: "warn", FAILS: "bad"}


def machine_description() -> str:
    """CPU model, core count, Python and NumPy versions, e.g. for docs/lab.md."""
    import numpy

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, NumPy {numpy.__version__}")


def _verdict_html(status: str) -> str:
    return f'<b class="{_CLASS.get(status, "")}">{esc(status)}</b>'


def write_lab_report(results, path, title: str = "trainwise lab: the notes' claims, measured",
                     elapsed: float | None = None) -> str:
    """Write the HTML report of ``results`` (a list of ``Result``) to ``path``; returns ``path``."""
    if not results:
        raise ValueError("write_lab_report: 'results' must hold at least one Result")
    quick = {r.quick for r in results}
    mode = "quick (reduced sizes, a first look)" if quick == {True} else ("full" if quick == {False} else "mixed")
    counts = {s: sum(r.verdict == s for r in results) for s in (HOLDS, PARTLY, FAILS)}
    head = [
        f"<p>{esc(datetime.datetime.now().strftime('%Y-%m-%d %H:%M'))} · {esc(machine_description())} · mode: "
        f"{esc(mode)} · {len(results)} experiments"
        + (f" · {elapsed / 60:.1f} min" if elapsed is not None else "") + "</p>",
        f"<p>{_verdict_html(HOLDS)}: {counts[HOLDS]} · {_verdict_html(PARTLY)}: {counts[PARTLY]} · "
        f"{_verdict_html(FAILS)}: {counts[FAILS]}. Each verdict is computed from runs on several seeds by the rules "
        "of <code>trainwise.lab.verdict</code>; the numbers it rests on follow it. Where the notes are wrong, "
        "the section says so with the numbers.</p>",
        "<table><tr><th>experiment</th><th>claim (as the notes make it)</th><th>verdict</th><th>source</th></tr>",
    ]
    for r in results:
        head.append(f'<tr><td><a href="#{esc(r.name)}">{esc(r.name)}</a></td><td>{esc(r.claim)}</td>'
                    f"<td>{_verdict_html(r.verdict)}</td><td>{esc(r.note)}"
                    + (f"<br><i>{esc(r.paper)}</i>" if r.paper else "") + "</td></tr>")
    head.append("</table>")
    sections = [("Claims and verdicts", "\n".join(head))]
    for r in results:
        parts = [f'<a id="{esc(r.name)}"></a>',
                 f"<p><b>Claim.</b> {esc(r.claim)}</p>",
                 f"<p><b>Where.</b> {esc(r.note)}" + (f"; <b>paper:</b> {esc(r.paper)}" if r.paper else "") + "</p>"]
        if r.errata:
            parts.append(f'<p class="warn"><b>Where the notes are wrong.</b> {esc(r.errata)}</p>')
        parts.append(f"<p><b>Set-up.</b> {esc(r.setup)} Seeds: {esc(r.seeds)}.</p>")
        parts.append(img_tag(r.figure, alt=f"figure of {r.name}"))
        parts.append(f"<p><b>Verdict: {_verdict_html(r.verdict)}.</b> {esc(r.verdict_text.rstrip('.'))}.</p>")
        rows = r.measurements.get("table") if isinstance(r.measurements, dict) else None
        if rows:
            parts.append(table(rows))
        parts.append(f"<p><small>{r.total_jobs} runs ({r.reused_jobs} reused from the run store), "
                     f"{r.runtime:.1f} s" + (f", run {esc(r.run_id)}" if r.run_id else "") + "</small></p>")
        sections.append((f"{r.title} — {r.verdict}", "\n".join(parts)))
    return write_report(str(path), title, sections)


def run_lab(names, quick: bool = False, out_dir: str = "lab-report", store=None, seeds=None, reuse: bool = True,
            workers: int = 1, progress: bool = True, log=None):
    """Run the experiments called ``names`` (or all for None), write ``out_dir/report.html`` and the PNGs.

    Returns ``(results, report_path)``. ``progress`` shows a bar over each
    experiment's runs; ``log(line)`` gets one line per experiment (default:
    print to stderr).
    """
    import sys

    from .experiment import get_experiment, list_experiments

    exps = list_experiments() if names is None else [get_experiment(n) for n in names]
    if log is None:
        def log(line):
            print(line, file=sys.stderr, flush=True)
    os.makedirs(out_dir, exist_ok=True)
    results = []
    t0 = time.perf_counter()
    for k, e in enumerate(exps, 1):
        r = e.run(quick=quick, seeds=seeds, progress=progress, out_dir=out_dir, store=store, reuse=reuse,
                  workers=workers)
        results.append(r)
        reused = f", {r.reused_jobs}/{r.total_jobs} runs reused" if r.reused_jobs else ""
        log(f"[{k}/{len(exps)}] {e.name}: {r.verdict} ({r.runtime:.1f} s{reused})")
    path = write_lab_report(results, os.path.join(out_dir, "report.html"), elapsed=time.perf_counter() - t0)
    return results, path
