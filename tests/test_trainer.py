import math

import numpy as np
import pytest

import trainwise as tw
from trainwise import nn, optim
from trainwise.train import (
    Callback, CSVLogger, EarlyStopping, JSONLogger, LambdaCallback, ModelCheckpoint, TerminateOnNaN, Trainer,
)


def blobs(n=240, d=6, k=3, seed=0, spread=1.0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (k, d))
    y = rng.integers(0, k, n)
    X = (centers[y] + spread * rng.normal(size=(n, d))).astype(np.float32)
    return X, y.astype(np.int64)


def make(seed=0, hidden=32, d=6, k=3, lr=0.05, dropout=0.0):
    tw.manual_seed(seed)
    layers = [nn.Linear(d, hidden), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    model = nn.Sequential(*layers, nn.Linear(hidden, k))
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    return model, opt


def test_fit_reduces_loss_and_records_history():
    X, y = blobs()
    model, opt = make()
    tr = Trainer(model, nn.CrossEntropyLoss(), opt, generator=tw.Generator(1))
    h = tr.fit((X, y), (X[:60], y[:60]), epochs=5, batch_size=32)
    assert len(h) == 5
    assert set(h.history) >= {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"}
    assert h["loss"][-1] < h["loss"][0] * 0.5
    assert h["val_accuracy"][-1] > 0.9
    ev = tr.evaluate((X, y))
    assert ev["accuracy"] > 0.9 and ev["loss"] < h["loss"][0]
    assert tr.predict(X[:7]).shape == (7, 3)


def test_same_seed_gives_identical_history_and_weights():
    X, y = blobs()
    runs = []
    for _ in range(2):
        model, opt = make(seed=3, dropout=0.2)
        tr = Trainer(model, nn.CrossEntropyLoss(), opt, generator=tw.Generator(5))
        h = tr.fit((X, y), (X[:50], y[:50]), epochs=3, batch_size=16)
        runs.append(([{k: v for k, v in r.items() if k != "time"} for r in h.rows], model.state_dict()))
    assert runs[0][0] == runs[1][0]
    for k in runs[0][1]:
        assert np.array_equal(runs[0][1][k], runs[1][1][k])


def test_full_batch_and_single_sample_modes():
    X, y = blobs(n=40)
    model, opt = make()
    tr = Trainer(model, nn.CrossEntropyLoss(), opt)
    seen = []
    tr.callbacks.append(LambdaCallback(on_batch_begin=lambda t, s: seen.append(s)))
    tr.fit((X, y), epochs=2, batch_size=None)
    assert tr.steps_per_epoch == 1 and seen == [0, 1]
    seen.clear()
    tr.fit((X, y), epochs=1, batch_size=1)
    assert tr.steps_per_epoch == 40 and len(seen) == 40


def test_hooks_run_in_order():
    X, y = blobs(n=20)
    model, opt = make()
    calls = []

    class Rec(Callback):
        def on_fit_begin(self, t): calls.append("fit_begin")
        def on_epoch_begin(self, t, e): calls.append(f"epoch_begin{e}")
        def on_batch_begin(self, t, s): calls.append("batch_begin")
        def on_after_backward(self, t, s):
            assert all(p.grad is not None for p in t.model.parameters())
            calls.append("after_backward")
        def on_batch_end(self, t, s, logs): calls.append("batch_end")
        def on_epoch_end(self, t, e, logs): calls.append(f"epoch_end{e}")
        def on_fit_end(self, t): calls.append("fit_end")

    Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=[Rec()]).fit((X, y), epochs=2, batch_size=None)
    assert calls == ["fit_begin", "epoch_begin0", "batch_begin", "after_backward", "batch_end", "epoch_end0",
                     "epoch_begin1", "batch_begin", "after_backward", "batch_end", "epoch_end1", "fit_end"]


class ScriptedLoss(Callback):
    """Overwrite val_loss with a scripted sequence, to test early stopping exactly."""

    def __init__(self, values):
        self.values = values

    def on_epoch_end(self, trainer, epoch, logs):
        logs["val_loss"] = self.values[epoch]
        trainer.history.rows[-1]["val_loss"] = self.values[epoch]


def _weights_by_epoch():
    snaps = {}
    return snaps, LambdaCallback(on_epoch_end=lambda t, e, logs: snaps.__setitem__(e, t.model.state_dict()))


@pytest.mark.parametrize("values, patience, best, stops_at", [
    ([5, 4, 3, 3.5, 3.6, 3.7, 3.8, 3.9], 2, 2, 4),   # patience runs out
    ([5, 4, 3, 2.5, 2.8, 2.9], 10, 3, None),         # training ends first: still restored
])
def test_early_stopping_restores_best_weights_exactly(values, patience, best, stops_at):
    X, y = blobs(n=60)
    model, opt = make()
    snaps, snap = _weights_by_epoch()
    es = EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    tr = Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=[ScriptedLoss(values), snap, es])
    h = tr.fit((X, y), (X, y), epochs=len(values), batch_size=16)
    assert es.best_epoch == best
    assert len(h) == (stops_at + 1 if stops_at is not None else len(values))
    assert es.stopped_epoch == stops_at
    final = model.state_dict()
    for k, v in snaps[best].items():
        assert np.array_equal(final[k], v)
    last = max(snaps)
    assert last != best and not all(np.array_equal(final[k], snaps[last][k]) for k in final)


def test_early_stopping_modes_and_errors():
    assert EarlyStopping(monitor="val_accuracy").mode == "max"
    assert EarlyStopping(monitor="val_loss").mode == "min"
    with pytest.raises(ValueError, match="'patience' must be an int >= 0; got -1"):
        EarlyStopping(patience=-1)
    X, y = blobs(n=20)
    model, opt = make()
    tr = Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=[EarlyStopping(monitor="val_loss")])
    with pytest.raises(KeyError, match="pass validation data"):
        tr.fit((X, y), epochs=1)


def test_terminate_on_nan_stops_with_reason():
    X, y = blobs(n=64)
    model, opt = make(lr=1e6)
    X = X * 1e3
    tr = Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=[TerminateOnNaN()])
    h = tr.fit((X, y), epochs=20, batch_size=8)
    assert tr.stop_reason is not None and "loss became" in tr.stop_reason
    assert len(h) < 20


def test_clipping_l1_l2_arguments_change_training():
    X, y = blobs(n=64)
    results = {}
    for kw in ({}, {"clip_grad_norm": 1e-3}, {"l2": 0.5}, {"l1": 0.05}):
        model, opt = make(seed=1)
        Trainer(model, nn.CrossEntropyLoss(), opt, **kw, generator=tw.Generator(0)).fit((X, y), epochs=2)
        results[str(kw)] = np.sqrt(sum((p.data.astype(np.float64) ** 2).sum() for n, p in model.named_parameters()
                                       if n.endswith("weight")))
    base = results["{}"]
    assert results["{'l2': 0.5}"] < base and results["{'l1': 0.05}"] < base
    model0, _ = make(seed=1)
    w0 = np.sqrt(sum((p.data.astype(np.float64) ** 2).sum() for n, p in model0.named_parameters() if n.endswith("weight")))
    # with a tiny clip norm the weights barely move from their initial values
    assert abs(results["{'clip_grad_norm': 0.001}"] - w0) < abs(base - w0) * 0.1


def test_bad_arguments():
    model, opt = make()
    with pytest.raises(TypeError, match="'model' must be a trainwise.nn.Module"):
        Trainer(object(), nn.CrossEntropyLoss(), opt)
    with pytest.raises(ValueError, match="'clip_grad_norm' must be a positive number or None; got -1"):
        Trainer(model, nn.CrossEntropyLoss(), opt, clip_grad_norm=-1)
    tr = Trainer(model, nn.CrossEntropyLoss(), opt)
    X, y = blobs(n=10)
    with pytest.raises(ValueError, match="'epochs' must be a positive int; got 0"):
        tr.fit((X, y), epochs=0)
    with pytest.raises(ValueError, match="'batch_size' must be a positive int or None"):
        tr.fit((X, y), batch_size=0)
    with pytest.raises(TypeError, match="fit: data must be"):
        tr.fit("data.csv")


def test_nan_in_data_is_named():
    X, y = blobs(n=30)
    X[17, 2] = np.nan
    model, opt = make()
    with pytest.raises(ValueError, match="row 17"):
        Trainer(model, nn.CrossEntropyLoss(), opt).fit((X, y), epochs=1)


def test_scheduler_per_step_and_loggers(tmp_path):
    X, y = blobs(n=64)
    model, opt = make(lr=0.1)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    tr = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, scheduler_interval="step",
                 callbacks=[CSVLogger(tmp_path / "h.csv"), JSONLogger(tmp_path / "h.json")])
    h = tr.fit((X, y), epochs=2, batch_size=32)  # 2 steps per epoch
    assert h["lr"] == pytest.approx([0.1 * 0.5**2, 0.1 * 0.5**4])
    assert (tmp_path / "h.csv").read_text().count("\n") == 3
    import json
    assert len(json.loads((tmp_path / "h.json").read_text())["rows"]) == 2


def test_overfitting_on_small_set_and_regularizers_narrow_the_gap():
    """Seed 000/001: on a small training set train accuracy climbs while validation
    accuracy peaks and falls; dropout, L2 and early stopping each narrow the gap."""
    from trainwise.data import make_moons

    def sample(n, seed):
        X, y = make_moons(n_samples=n, noise=0.3, seed=seed)
        flip = np.random.default_rng(seed).random(n) < 0.15      # label noise: memorizing it is harmful
        return X.astype(np.float32), np.where(flip, 1 - y, y).astype(np.int64)

    X, y = sample(60, 1)
    Xv, yv = sample(500, 2)

    def run(dropout=0.0, l2=0.0, early=False, hidden=128):
        tw.manual_seed(0)

        def block(i, o):
            return [nn.Linear(i, o), nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else [])

        model = nn.Sequential(*block(2, hidden), *block(hidden, hidden), nn.Linear(hidden, 2))
        opt = optim.Adam(model.parameters(), lr=1e-2)
        cbs = [EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)] if early else []
        tr = Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=cbs, l2=l2, generator=tw.Generator(0))
        h = tr.fit((X, y), (Xv, yv), epochs=150, batch_size=20)
        gap = tr.evaluate((X, y))["accuracy"] - tr.evaluate((Xv, yv))["accuracy"]
        return h, gap

    h, gap = run()
    assert h["accuracy"][-1] > 0.9                               # fits the noisy training labels
    best = int(np.argmin(h["val_loss"]))
    assert best < len(h) // 2 and h["val_loss"][-1] > 2 * h["val_loss"][best]   # validation turned
    assert gap > 0.15
    peak = int(np.argmax(h["val_accuracy"]))
    assert peak < len(h) // 2 and h["val_accuracy"][peak] > h["val_accuracy"][-1] + 0.03   # peaked, then fell
    assert h["accuracy"][-1] > h["accuracy"][peak] + 0.05                                 # while train rose
    for kw in ({"dropout": 0.5}, {"l2": 0.01}, {"early": True}):
        _, g = run(**kw)
        assert g < gap - 0.08, (kw, g, gap)


def test_terminate_on_nan_together_with_early_stopping():
    """A mid-epoch stop skips validation; EarlyStopping must not crash on the missing val_loss."""
    X, y = blobs(n=64)
    model, opt = make(lr=1e6)
    tr = Trainer(model, nn.CrossEntropyLoss(), opt,
                 callbacks=[TerminateOnNaN(), EarlyStopping(monitor="val_loss", patience=3)])
    h = tr.fit((X * 1e3, y), (X, y), epochs=20, batch_size=8)
    assert tr.stop_reason is not None and len(h) < 20
