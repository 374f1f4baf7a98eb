"""The run store: every run's config, status, times, per-epoch metrics and result, in SQLite.

SQLite is the embedded default: one file (``runs.db`` in the runs directory,
``$TRAINWISE_HOME`` or ``./runs``), no server. A run is created as
``running`` with the process id; it ends ``completed``, ``failed`` (with the
error), ``stopped`` or ``interrupted``. A run whose process died without
saying so (SIGKILL, power loss) is shown as ``died`` when listed.
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid

from .callbacks import Callback

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    ended REAL,
    pid INTEGER,
    host TEXT,
    run_dir TEXT,
    config TEXT,
    result TEXT,
    error TEXT
);
CREATE TABLE IF NOT EXISTS epochs (
    run_id TEXT NOT NULL REFERENCES runs(id),
    epoch INTEGER NOT NULL,
    metrics TEXT NOT NULL,
    PRIMARY KEY (run_id, epoch)
);
CREATE TABLE IF NOT EXISTS artifacts (
    run_id TEXT NOT NULL REFERENCES runs(id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);
"""


def default_home() -> str:
    return os.environ.get("TRAINWISE_HOME", os.path.join(os.getcwd(), "runs"))


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunStore:
    """``RunStore(home)``: the runs database in ``home/runs.db``."""

    def __init__(self, home: str | None = None):
        self.home = os.path.abspath(home or default_home())
        os.makedirs(self.home, exist_ok=True)
        self.path = os.path.join(self.home, "runs.db")
        with self._connect() as con:
            con.executescript(_SCHEMA)

    def _connect(self):
        con = sqlite3.connect(self.path, timeout=30)
        con.row_factory = sqlite3.Row
        return con

    def create_run(self, config: dict, kind: str = "train", name: str | None = None) -> str:
        """A new run marked ``running``; returns its id (also the name of its directory)."""
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        run_dir = os.path.join(self.home, run_id)
        os.makedirs(run_dir, exist_ok=True)
        with self._connect() as con:
            con.execute(
                "INSERT INTO runs (id, kind, name, status, created, pid, host, run_dir, config) "
                "VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)",
                (run_id, kind, name, time.time(), os.getpid(), socket.gethostname(), run_dir, json.dumps(config)),
            )
        return run_id

    def log_epoch(self, run_id: str, epoch: int, metrics: dict) -> None:
        with self._connect() as con:
            con.execute("INSERT OR REPLACE INTO epochs (run_id, epoch, metrics) VALUES (?, ?, ?)",
                        (run_id, int(epoch), json.dumps(metrics)))

    def set_artifact(self, run_id: str, key: str, value) -> None:
        with self._connect() as con:
            con.execute("INSERT OR REPLACE INTO artifacts (run_id, key, value) VALUES (?, ?, ?)",
                        (run_id, key, json.dumps(value)))

    def finish(self, run_id: str, status: str, result: dict | None = None, error: str | None = None) -> None:
        if status not in ("completed", "failed", "stopped", "interrupted"):
            raise ValueError(f"finish: 'status' must be completed, failed, stopped or interrupted; got {status!r}")
        with self._connect() as con:
            con.execute("UPDATE runs SET status = ?, ended = ?, result = ?, error = ? WHERE id = ?",
                        (status, time.time(), json.dumps(result) if result is not None else None, error, run_id))

    def _row(self, r) -> dict:
        d = dict(r)
        for k in ("config", "result"):
            d[k] = json.loads(d[k]) if d[k] else None
        if d["status"] == "running" and d["host"] == socket.gethostname() and not _pid_alive(d["pid"]):
            d["status"] = "died"
        return d

    def list_runs(self, kind: str | None = None, limit: int = 50) -> list[dict]:
        q = "SELECT * FROM runs" + (" WHERE kind = ?" if kind else "") + " ORDER BY created DESC LIMIT ?"
        with self._connect() as con:
            rows = con.execute(q, ((kind, limit) if kind else (limit,))).fetchall()
        return [self._row(r) for r in rows]

    def get_run(self, run_id: str) -> dict:
        with self._connect() as con:
            r = con.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
            if r is None:
                r = con.execute("SELECT * FROM runs WHERE id LIKE ?", (run_id + "%",)).fetchall()
                if len(r) != 1:
                    raise KeyError(f"no run with id {run_id!r}" if not r else
                                   f"run id {run_id!r} is ambiguous: {[x['id'] for x in r]}")
                r = r[0]
            run = self._row(r)
            eps = con.execute("SELECT epoch, metrics FROM epochs WHERE run_id = ? ORDER BY epoch", (run["id"],))
            run["epochs"] = [json.loads(m) for _, m in eps.fetchall()]
            arts = con.execute("SELECT key, value FROM artifacts WHERE run_id = ?", (run["id"],)).fetchall()
            run["artifacts"] = {k: json.loads(v) for k, v in arts}
        return run


class RunLogger(Callback):
    """A callback that writes each epoch's logs into the run store."""

    def __init__(self, store: RunStore, run_id: str):
        self.store, self.run_id = store, run_id

    def on_epoch_end(self, trainer, epoch, logs):
        self.store.log_epoch(self.run_id, epoch, logs)
