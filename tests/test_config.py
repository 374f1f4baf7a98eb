import subprocess
import sys

import pytest

from trainwise.config import ConfigError, defaults, load_config, parse_override


def test_defaults_validate():
    cfg = load_config()
    assert cfg == load_config(None, [])
    assert cfg["dataset"]["name"] == "mnist1d"
    assert cfg["model"]["init"] == "he_normal"
    assert cfg["optimizer"]["name"] == "adamw"
    assert cfg["schedule"]["name"] == "warmup_cosine"
    assert cfg["training"]["early_stopping"] is True
    assert defaults()["seed"] == 0


def test_yaml_file_and_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model:\n  hidden: [32, 16]\n  activation: tanh\noptimizer:\n  lr: 0.01\n")
    cfg = load_config(p, ["optimizer.lr=0.05", "training.batch_size=null", "model.dropout=0"])
    assert cfg["model"]["hidden"] == [32, 16]
    assert cfg["model"]["activation"] == "tanh"
    assert cfg["optimizer"]["lr"] == 0.05
    assert cfg["training"]["batch_size"] is None
    assert cfg["model"]["dropout"] == 0.0 and isinstance(cfg["model"]["dropout"], float)


@pytest.mark.parametrize("override, match", [
    ("model.hiden=[3]", r"unknown key 'model.hiden' \(did you mean 'model.hidden'\?\)"),
    ("optimiser.lr=0.1", r"unknown key 'optimiser' \(did you mean 'optimizer'\?\)"),
    ("optimizer.lr=-1", r"'optimizer.lr' must be in \(0.0, inf\]; got -1"),
    ("optimizer.lr=fast", r"'optimizer.lr' must be a number .*got 'fast'"),
    ("model.activation=relux", r"'model.activation' must be one of .*got 'relux' \(did you mean 'relu'\?\)"),
    ("model.hidden=[64, 0]", r"'model.hidden\[1\]' must be an int in \[1, inf\]; got 0"),
    ("training.epochs=2.5", r"'training.epochs' must be an int"),
    ("model.dropout=1.0", r"'model.dropout' must be in \[0.0, 1.0\); got 1.0"),
    ("training.early_stopping=3", r"'training.early_stopping' must be true or false; got 3"),
    ("lr", r"expected key=value"),
])
def test_bad_overrides_name_key_value_and_expectation(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, [override])


def test_bad_yaml_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    p.write_text("model:\n  widths: [3]\n")
    with pytest.raises(ConfigError, match="unknown key 'model.widths'"):
        load_config(p)


def test_parse_override_nested():
    assert parse_override("a.b.c=[1, 2]") == {"a": {"b": {"c": [1, 2]}}}
    assert parse_override("x=hello") == {"x": "hello"}


def test_cli_config_typo_exit_code_2_one_line_no_run(tmp_path):
    r = subprocess.run([sys.executable, "-m", "trainwise.cli", "--home", str(tmp_path), "train",
                        "--set", "model.activaton=relu"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert "unknown key 'model.activaton'" in lines[0] and "Traceback" not in r.stderr
    # validation happens before a run is created: the store holds no run at all
    assert not (tmp_path / "runs.db").exists() or "running" not in subprocess.run(
        [sys.executable, "-m", "trainwise.cli", "--home", str(tmp_path), "runs"], capture_output=True, text=True
    ).stdout
