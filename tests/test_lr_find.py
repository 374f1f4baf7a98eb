"""The LR range test: a useful suggestion, exact restoration, the smoothing formula, bad input."""

import numpy as np
import pytest

import trainwise
import trainwise.nn.functional as F
from trainwise import nn
from trainwise.optim import SGD, Adam, LRFindResult, lr_find

N = 256


def _problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, 4)).astype(np.float32)
    w = rng.normal(size=(4, 1)).astype(np.float32)
    Y = (np.tanh(X @ w) + 0.1 * rng.normal(size=(N, 1))).astype(np.float32)
    return X, Y


def _model():
    # BatchNorm so that buffers (running statistics) change during the sweep and must be restored
    return nn.Sequential(nn.Linear(4, 16, generator=trainwise.Generator(1)), nn.BatchNorm1d(16), nn.Tanh(),
                         nn.Linear(16, 1, generator=trainwise.Generator(2)))


def _snapshot(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def _assert_same(model, before):
    after = model.state_dict()
    assert after.keys() == before.keys()
    for k in before:
        assert np.array_equal(after[k], before[k]), k


def _full_loss(model, X, Y):
    model.eval()
    with trainwise.no_grad():
        out = float(F.mse_loss(model(trainwise.Tensor(X)), trainwise.Tensor(Y)).data)
    model.train()
    return out


def _train(lr, X, Y, steps=40):
    model = _model()
    opt = SGD(model.parameters(), lr=lr, momentum=0.9)
    g = trainwise.Generator(5)
    start = _full_loss(model, X, Y)
    for _ in range(steps):
        idx = g.permutation(N)[:32]
        opt.zero_grad()
        F.mse_loss(model(trainwise.Tensor(X[idx])), trainwise.Tensor(Y[idx])).backward()
        opt.step()
    return start, _full_loss(model, X, Y)


def test_suggestion_trains_and_the_model_is_untouched(tmp_path):
    X, Y = _problem()
    model = _model()
    model.eval()  # the mode must come back too
    before = _snapshot(model)
    with np.errstate(all="ignore"):  # the sweep ends in overflow on purpose
        r = lr_find(model, F.mse_loss, (X, Y), generator=trainwise.Generator(3))
    _assert_same(model, before)
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    assert isinstance(r, LRFindResult) and r.diverged and r.suggestion == r.suggestion_steep
    assert 1e-7 <= r.lrs[0] < r.lrs[-1] <= 10 and len(r.lrs) == len(r.losses) <= 100
    assert r.lrs[0] < r.suggestion < r.lrs[-1]

    start, end = _train(r.suggestion, X, Y)
    assert end < 0.5 * start, (r.suggestion, start, end)  # the suggested rate trains
    start, end = _train(r.suggestion_min10, X, Y)
    assert end < 0.5 * start
    assert _train(1e-5, X, Y)[1] > 0.9 * start  # while a rate from the flat part barely moves
    with np.errstate(all="ignore"):
        assert not _train(r.lrs[-1], X, Y)[1] < start  # and the end of the sweep does not train

    png = tmp_path / "lr.png"
    r.plot(png)
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image
    img = matplotlib.image.imread(str(png))
    assert img.shape[0] > 100 and img.shape[1] > 100


def test_given_optimizer_state_and_gradients_are_restored_exactly():
    X, Y = _problem()
    model = _model()
    opt = Adam(model.parameters(), lr=3e-3)
    for i in range(3):  # give the optimizer moments and a step count worth restoring
        opt.zero_grad()
        F.mse_loss(model(trainwise.Tensor(X[:32])), trainwise.Tensor(Y[:32])).backward()
        opt.step()
    grads = [p.grad.copy() for p in model.parameters()]
    before, opt_before = _snapshot(model), opt.state_dict()
    with np.errstate(all="ignore"):
        lr_find(model, F.mse_loss, (X, Y), optimizer=opt, num_iter=30, generator=trainwise.Generator(0))
    _assert_same(model, before)
    after = opt.state_dict()
    assert after["param_groups"] == opt_before["param_groups"] and opt.param_groups[0]["lr"] == 3e-3
    for k, s in opt_before["state"].items():
        for name, v in s.items():
            assert np.array_equal(after["state"][k][name], v), name
    for p, g in zip(model.parameters(), grads):
        assert np.array_equal(p.grad, g)


def test_restored_after_an_exception():
    X, Y = _problem()
    model = _model()
    before = _snapshot(model)
    calls = []

    def loss_fn(out, y):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt("stop")
        return F.mse_loss(out, y)

    with pytest.raises(KeyboardInterrupt):
        lr_find(model, loss_fn, (X, Y), start_lr=1e-2, end_lr=1.0, num_iter=20)
    _assert_same(model, before)
    assert model.training


def test_nan_loss_stops_the_sweep_and_restores():
    X, Y = _problem()
    model = _model()
    before = _snapshot(model)
    calls = []

    def loss_fn(out, y):
        calls.append(1)
        loss = F.mse_loss(out, y)
        return loss * float("nan") if len(calls) == 12 else loss

    r = lr_find(model, loss_fn, (X, Y), num_iter=50)
    _assert_same(model, before)
    assert r.diverged and len(r.lrs) == 11 and np.all(np.isfinite(r.losses))


def test_smoothing_debiasing_and_the_schedule():
    # a scripted loss sequence (the model only supplies the graph) checks the formulas exactly
    X, Y = _problem()
    script = [1.0, 0.9, 1.1, 0.8, 0.7, 0.75, 0.6, 0.5, 0.55, 0.4]
    seen_lrs = []
    model = _model()
    opt = SGD(model.parameters(), lr=0.1)

    def loss_fn(out, y):
        seen_lrs.append(opt.param_groups[0]["lr"])
        return out.sum() * 0.0 + script[len(seen_lrs) - 1]

    r = lr_find(model, loss_fn, (X, Y), start_lr=1e-4, end_lr=1e-1, num_iter=10, optimizer=opt, smooth=0.9)
    want_lrs = [1e-4 * 1000 ** (i / 9) for i in range(10)]
    np.testing.assert_allclose(r.lrs, want_lrs, rtol=1e-12)
    np.testing.assert_allclose(seen_lrs, want_lrs, rtol=1e-12)
    avg, want = 0.0, []
    for i, v in enumerate(script):
        avg = 0.9 * avg + 0.1 * float(np.float32(v))  # the loss is a float32 tensor
        want.append(avg / (1 - 0.9 ** (i + 1)))
    np.testing.assert_allclose(r.losses, want, rtol=1e-12)
    assert r.losses[0] == pytest.approx(1.0) and not r.diverged
    assert opt.param_groups[0]["lr"] == 0.1
    # as fastai: drop the first tenth and the last 5 points, then steep is where the smoothed
    # loss falls fastest per unit of log-rate, min10 a tenth of the lowest point's rate
    lrs, losses = np.array(want_lrs[1:5]), np.array(want[1:5])
    slope = np.diff(losses) / np.diff(np.log(lrs))
    assert r.suggestion_steep == pytest.approx(lrs[int(np.argmin(slope))], rel=1e-12)
    assert r.suggestion_min10 == pytest.approx(lrs[int(np.argmin(losses))] / 10, rel=1e-12)


def test_divergence_threshold_stops_the_sweep():
    X, Y = _problem()
    script = [1.0] * 5 + [2.0, 20.0, 200.0, 2000.0] + [1.0] * 20
    model = _model()
    n = []

    def loss_fn(out, y):
        n.append(1)
        return out.sum() * 0.0 + script[len(n) - 1]

    r = lr_find(model, loss_fn, (X, Y), num_iter=25, smooth=0.5, diverge_threshold=4.0)
    assert r.diverged and r.losses[-1] > 4.0 * r.losses.min() and np.all(r.losses[:-1] <= 4.0 * r.losses.min())
    assert len(r.lrs) < 10


def test_iterable_data_is_reiterated():
    X, Y = _problem()
    batches = [(X[i:i + 64], Y[i:i + 64]) for i in range(0, 128, 64)]  # 2 batches for 12 steps
    model = _model()
    before = _snapshot(model)
    r = lr_find(model, F.mse_loss, batches, start_lr=1e-4, end_lr=1e-2, num_iter=12)
    assert len(r.lrs) == 12
    _assert_same(model, before)
    gen = ((X[i:i + 64], Y[i:i + 64]) for i in range(0, 128, 64))
    with pytest.raises(ValueError, match="'data' ran out after 2 batches"):
        lr_find(model, F.mse_loss, gen, num_iter=12)
    _assert_same(model, before)
    with pytest.raises(ValueError, match=r"every batch of 'data' must be an \(x, y\) pair"):
        lr_find(model, F.mse_loss, [X[:10]], num_iter=12)


@pytest.mark.parametrize("kwargs,err,match", [
    (dict(start_lr=0.0), ValueError, r"'start_lr' must be in \(0.0, inf\]; got 0.0"),
    (dict(start_lr=1.0, end_lr=0.5), ValueError, r"'end_lr' must be in \(1.0, inf\]; got 0.5"),
    (dict(num_iter=1), ValueError, r"'num_iter' must be an int >= 2; got 1"),
    (dict(smooth=1.0), ValueError, r"'smooth' must be in \[0.0, 1.0\); got 1.0"),
    (dict(diverge_threshold=1.0), ValueError, r"'diverge_threshold' must be in \(1.0, inf\]"),
    (dict(model=[1, 2]), TypeError, r"'model' must be a trainwise.nn.Module; got list"),
    (dict(loss_fn="mse"), TypeError, r"'loss_fn' must be callable"),
    (dict(data=(np.zeros((5, 4)), np.zeros((6, 1)))), ValueError, r"same non-zero length; got 5 and 6"),
    (dict(data=3), TypeError, r"'data' must be an iterable of \(x, y\) batches"),
    (dict(optimizer="sgd"), TypeError, r"'optimizer' must be a trainwise.optim.Optimizer; got str"),
])
def test_bad_input(kwargs, err, match):
    X, Y = _problem()
    args = dict(model=_model(), loss_fn=F.mse_loss, data=(X, Y))
    args.update(kwargs)
    with pytest.raises(err, match=match):
        lr_find(**args)
