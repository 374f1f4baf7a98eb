import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import trainwise as tw
from trainwise import nn, optim
from trainwise.train import CheckpointError, Trainer, load_checkpoint, load_weights, save_checkpoint, save_weights
from trainwise.train.checkpoint import join_arrays, split_arrays

SCRIPT = r'''
import json, os, signal, sys
import numpy as np
import trainwise as tw
from trainwise import nn, optim
from trainwise.data import DataLoader, GaussianNoise, TensorDataset
from trainwise.train import EarlyStopping, LambdaCallback, ModelCheckpoint, Trainer

mode, ckpt, out, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rng = np.random.default_rng(0)
X = rng.normal(size=(200, 5)).astype(np.float32)
y = (X[:, 0] + 0.3 * rng.normal(size=200) > 0).astype(np.int64)
tw.manual_seed(0)
model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))
opt = optim.Adam(model.parameters(), lr=1e-2)
sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=80)
def maybe_kill(t, step, logs):
    if step == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
cbs = [EarlyStopping(monitor="val_loss", patience=100), ModelCheckpoint(ckpt, every_n_steps=3),
       LambdaCallback(on_batch_end=maybe_kill)]
loader = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True, generator=tw.Generator(7),
                    transform=GaussianNoise(0.1))
tr = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, scheduler_interval="step", callbacks=cbs,
             generator=tw.Generator(7))
h = tr.fit(loader, (X[:50], y[:50]), epochs=5, resume=ckpt if mode == "resume" else None)
np.savez(out, **model.state_dict())
with open(out + ".json", "w") as f:
    json.dump([{k: v for k, v in r.items() if k != "time"} for r in h.rows], f)
'''


def _run(tmp_path, mode, ckpt, out, kill_at):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    return subprocess.run([sys.executable, str(script), mode, str(ckpt), str(out), str(kill_at)],
                          capture_output=True, text=True, timeout=300)


def test_sigkill_mid_epoch_then_resume_is_bit_identical(tmp_path):
    full = _run(tmp_path, "fresh", tmp_path / "a.safetensors", tmp_path / "full.npz", -1)
    assert full.returncode == 0, full.stderr
    killed = _run(tmp_path, "fresh", tmp_path / "b.safetensors", tmp_path / "never.npz", 22)
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "never.npz").exists()
    _, meta = load_checkpoint(tmp_path / "b.safetensors")
    assert meta["loop"]["global_step"] == 21 and not meta["loop"]["epoch_complete"]   # mid-epoch 1 of 13 steps
    resumed = _run(tmp_path, "resume", tmp_path / "b.safetensors", tmp_path / "resumed.npz", -1)
    assert resumed.returncode == 0, resumed.stderr
    a, b = np.load(tmp_path / "full.npz"), np.load(tmp_path / "resumed.npz")
    assert sorted(a.files) == sorted(b.files)
    for k in a.files:
        assert np.array_equal(a[k], b[k]), k
    ha = json.loads((tmp_path / "full.npz.json").read_text())
    hb = json.loads((tmp_path / "resumed.npz.json").read_text())
    assert ha == hb


def _tiny():
    tw.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    return model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def test_checkpoint_round_trip_in_process(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(32, 3)).astype(np.float32), rng.integers(0, 2, 32)
    model, opt = _tiny()
    tr = Trainer(model, nn.CrossEntropyLoss(), opt)
    tr.fit((X, y), epochs=2, batch_size=8)
    tr.save_checkpoint(tmp_path / "c.safetensors", epoch_complete=True)
    model2, opt2 = _tiny()
    tr2 = Trainer(model2, nn.CrossEntropyLoss(), opt2)
    tr2.fit((X, y), epochs=3, batch_size=8, resume=tmp_path / "c.safetensors")
    tr.fit((X, y), epochs=3, batch_size=8, resume=tmp_path / "c.safetensors")
    for k, v in model.state_dict().items():
        assert np.array_equal(v, model2.state_dict()[k])
    assert len(tr2.history) == 3


def test_weights_file_round_trip(tmp_path):
    model, _ = _tiny()
    save_weights(tmp_path / "w.safetensors", model)
    other, _ = _tiny()
    for p in other.parameters():
        p.data[...] = 0
    load_weights(tmp_path / "w.safetensors", other)
    for k, v in model.state_dict().items():
        assert np.array_equal(v, other.state_dict()[k])


def test_corrupt_truncated_and_foreign_checkpoints_are_named(tmp_path):
    model, _ = _tiny()
    p = tmp_path / "w.safetensors"
    save_weights(p, model)
    raw = p.read_bytes()
    (tmp_path / "trunc.safetensors").write_bytes(raw[: len(raw) - 20])
    with pytest.raises(CheckpointError, match="truncated or not a safetensors file"):
        load_checkpoint(tmp_path / "trunc.safetensors")
    flipped = bytearray(raw)
    flipped[-3] ^= 0xFF
    (tmp_path / "flip.safetensors").write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError, match="corrupt: array '.*' does not match its checksum"):
        load_checkpoint(tmp_path / "flip.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.safetensors"):
        load_checkpoint(tmp_path / "junk.safetensors")
    from safetensors.numpy import save_file
    save_file({"x": np.zeros(3)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(CheckpointError, match="not a trainwise checkpoint"):
        load_checkpoint(tmp_path / "foreign.safetensors")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_resume_from_corrupt_checkpoint_changes_nothing(tmp_path):
    model, opt = _tiny()
    before = model.state_dict()
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 10)
    tr = Trainer(model, nn.CrossEntropyLoss(), opt)
    X, y = np.zeros((4, 3), np.float32), np.zeros(4, np.int64)
    with pytest.raises(CheckpointError):
        tr.fit((X, y), epochs=1, resume=tmp_path / "bad.safetensors")
    for k, v in before.items():
        assert np.array_equal(v, model.state_dict()[k])


def test_atomic_write_leaves_no_temp_files(tmp_path):
    save_checkpoint(tmp_path / "x.safetensors", {"a": np.arange(3.0)}, {"k": 1})
    assert os.listdir(tmp_path) == ["x.safetensors"]


def test_split_and_join_arrays_round_trip():
    obj = {"state": {0: {"step": 3, "m": np.arange(4.0)}, 1: {}}, "groups": [{"lr": 0.1, "betas": (0.9, 0.99)}]}
    arrays = {}
    js = split_arrays(obj, "o", arrays)
    json.dumps(js)
    back = join_arrays(json.loads(json.dumps(js)), arrays)
    assert back["state"][0]["step"] == 3 and np.array_equal(back["state"][0]["m"], np.arange(4.0))
    assert back["groups"][0]["betas"] == [0.9, 0.99]
