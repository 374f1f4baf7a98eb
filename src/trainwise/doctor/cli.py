"""``trainwise doctor RUN_ID``: print a stored run's findings and draw its pictures."""
from __future__ import annotations

import json
import os
import sys

from .findings import Finding, severity_rank

__all__ = ["doctor_command"]


def doctor_command(run_id: str, home=None, min_severity: str = "info", out=None) -> int:
    """Print the findings the doctor stored for ``run_id``; write ``doctor_*.png`` and ``doctor.html``
    into the run directory from its ``doctor_stats.json``. Returns the exit code (2: no such run)."""
    from ..train.store import RunStore

    out = out or sys.stdout
    store = RunStore(home)
    try:
        run = store.get_run(run_id)
    except KeyError as e:
        print(f"trainwise doctor: {e.args[0]}", file=sys.stderr)
        return 2
    stored = run.get("artifacts", {}).get("doctor")
    if stored is None:
        print(f"trainwise doctor: run {run['id']} has no doctor findings (it ran before the doctor, or failed "
              f"before the end: status {run['status']})", file=sys.stderr)
        return 2
    findings = [Finding.from_dict(d) for d in stored]
    r = severity_rank(min_severity)
    shown = [f for f in findings if severity_rank(f.severity) >= r]
    serious = [f for f in findings if severity_rank(f.severity) >= 1]
    print(f"run {run['id']}  [{run['status']}]: {len(serious)} warning(s) or error(s), {len(findings)} finding(s)",
          file=out)
    if not serious:
        print("no warnings: nothing the doctor knows went wrong in this run", file=out)
    for f in shown:
        print(str(f), file=out)
    run_dir = run.get("run_dir") or ""
    stats_path = os.path.join(run_dir, "doctor_stats.json")
    if os.path.exists(stats_path):
        from .report import write_doctor_report

        with open(stats_path) as fh:
            stats = json.load(fh)
        paths = write_doctor_report(run_dir, findings, stats, title=f"doctor: run {run['id']}")
        for key, path in paths.items():
            print(f"{key}: {path}", file=out)
    return 0
