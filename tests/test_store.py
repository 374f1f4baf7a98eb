import subprocess
import sys

import pytest

from trainwise.cli import main
from trainwise.train.store import RunStore


def test_store_lifecycle(tmp_path):
    s = RunStore(tmp_path)
    rid = s.create_run({"a": 1}, name="first")
    assert s.list_runs()[0]["status"] == "running"
    s.log_epoch(rid, 0, {"loss": 1.0})
    s.log_epoch(rid, 1, {"loss": 0.5})
    s.finish(rid, "completed", {"test": {"accuracy": 0.9}})
    run = s.get_run(rid[:17])
    assert run["status"] == "completed" and run["config"] == {"a": 1}
    assert [e["loss"] for e in run["epochs"]] == [1.0, 0.5]
    with pytest.raises(KeyError, match="no run with id"):
        s.get_run("nope")
    with pytest.raises(ValueError, match="'status' must be"):
        s.finish(rid, "done")


def test_a_killed_run_shows_as_died(tmp_path):
    code = ("from trainwise.train.store import RunStore; import os, signal; "
            f"RunStore({str(tmp_path)!r}).create_run({{}}); os.kill(os.getpid(), signal.SIGKILL)")
    subprocess.run([sys.executable, "-c", code], timeout=60)
    assert RunStore(tmp_path).list_runs()[0]["status"] == "died"


def test_runs_cli(tmp_path, capsys):
    s = RunStore(tmp_path)
    rid = s.create_run({"x": 1}, name="demo")
    s.log_epoch(rid, 0, {"epoch": 0, "loss": 0.7, "val_loss": 0.8})
    s.finish(rid, "completed", {"test": {"accuracy": 0.8125}, "epochs_run": 1})
    assert main(["--home", str(tmp_path), "runs"]) == 0
    out = capsys.readouterr().out
    assert rid in out and "completed" in out and "0.8125" in out
    assert main(["--home", str(tmp_path), "runs", "show", rid]) == 0
    out = capsys.readouterr().out
    assert "val_loss" in out and "0.8" in out
    assert main(["--home", str(tmp_path), "runs", "show", "missing"]) == 2
