"""End-to-end: the README's main command and the run store around it."""
import json
import os

import numpy as np
import pytest

from trainwise.cli import main
from trainwise.train.store import RunStore

FILES = {"config.yaml", "checkpoint.safetensors", "history.json", "history.csv", "learning_curves.png", "report.html"}


def test_small_config_run_writes_everything(tmp_path, capsys):
    cfg = tmp_path / "moons.yaml"
    cfg.write_text(
        "dataset: {name: moons, n_samples: 300}\n"
        "model: {hidden: [16, 16], dropout: 0.0}\n"
        "training: {epochs: 4, batch_size: 32, patience: 2}\n"
    )
    assert main(["--home", str(tmp_path), "train", str(cfg), "--quiet", "--set", "optimizer.lr=0.01"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy:" in out
    run = RunStore(tmp_path).list_runs()[0]
    assert run["status"] == "completed"
    assert FILES <= set(os.listdir(run["run_dir"]))
    with open(os.path.join(run["run_dir"], "report.html")) as f:
        html = f.read()
    assert "data:image/png;base64," in html and "learning curves" in html.lower()
    full = RunStore(tmp_path).get_run(run["id"])
    assert len(full["epochs"]) == full["result"]["epochs_run"] >= 1
    assert main(["--home", str(tmp_path), "runs", "show", run["id"]]) == 0
    assert "learning_curves.png" in capsys.readouterr().out


def test_a_failing_run_is_marked_failed_not_running(tmp_path, monkeypatch, capsys):
    import trainwise.train.run as run_mod

    def broken(cfg, generator):
        raise ValueError("load_csv: 'data.csv' has no column 'label'; columns are: a, b")

    monkeypatch.setattr(run_mod, "prepare_data", broken)
    assert main(["--home", str(tmp_path), "train", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "has no column 'label'" in err and "Traceback" not in err
    run = RunStore(tmp_path).list_runs()[0]
    assert run["status"] == "failed" and "no column 'label'" in RunStore(tmp_path).get_run(run["id"])["error"]


def test_default_train_reaches_75_percent_on_mnist1d(tmp_path, capsys):
    """The README's first command: an MLP on MNIST-1D (published MLP baseline: 68%)."""
    assert main(["--home", str(tmp_path), "train", "--quiet"]) == 0
    run = RunStore(tmp_path).list_runs()[0]
    assert run["status"] == "completed"
    acc = run["result"]["test"]["accuracy"]
    assert acc >= 0.75, acc
    assert FILES <= set(os.listdir(run["run_dir"]))
    with open(os.path.join(run["run_dir"], "history.json")) as f:
        rows = json.load(f)["rows"]
    assert rows[-1]["accuracy"] > rows[0]["accuracy"]
    lrs = [r["lr"] for r in rows]
    assert lrs[2] > lrs[0] and lrs[-1] < max(lrs) * 0.2      # warmup, then cosine decay
    assert np.isfinite([r["val_loss"] for r in rows]).all()
