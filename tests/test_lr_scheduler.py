"""Learning-rate schedules: PyTorch parity over 200 steps, exact resume, bad input."""
import copy
import json
import math
import warnings

import numpy as np
import pytest
import torch
import torch.optim.lr_scheduler as T

import trainwise
from trainwise.optim import SGD, Adam, lr_scheduler as S

STEPS = 200
LRS = (0.1, 0.03)  # two parameter groups, so per-group handling is exercised


def _ours(kind="sgd", lrs=LRS):
    groups = [{"params": [trainwise.Tensor(np.zeros(2), requires_grad=True)], "lr": lr} for lr in lrs]
    return Adam(groups, betas=(0.9, 0.999)) if kind == "adam" else SGD(groups, momentum=0.9)


def _torch(kind="sgd", lrs=LRS):
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    return torch.optim.Adam(groups, betas=(0.9, 0.999)) if kind == "adam" else torch.optim.SGD(groups, momentum=0.9)


def _record(opt, momentum):
    row = [g["lr"] for g in opt.param_groups]
    if momentum:
        row += [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]
    return row


def _sequences(make_ours, make_torch, kind="sgd", momentum=False, steps=STEPS):
    """lr (and momentum) after construction and after each of ``steps`` steps, ours and torch's."""
    o, t = _ours(kind), _torch(kind)
    so, st = make_ours(o), make_torch(t)
    a, b = [_record(o, momentum)], [_record(t, momentum)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(steps):
            t.step()
            so.step()
            st.step()
            a.append(_record(o, momentum))
            b.append(_record(t, momentum))
    assert so.get_last_lr() == [g["lr"] for g in o.param_groups]
    return np.array(a), np.array(b)


def _assert_close(a, b, rtol=1e-10):
    assert a.shape == b.shape
    zero = b == 0
    assert np.all(a[zero] == 0), "where torch's rate is exactly 0 ours must be too"
    rel = np.abs(a[~zero] - b[~zero]) / np.abs(b[~zero])
    assert rel.max() < rtol, rel.max()


PARITY = {
    "StepLR": (lambda o: S.StepLR(o, step_size=7, gamma=0.5), lambda t: T.StepLR(t, 7, 0.5)),
    "MultiStepLR": (lambda o: S.MultiStepLR(o, [10, 50, 120], gamma=0.3),
                    lambda t: T.MultiStepLR(t, [10, 50, 120], 0.3)),
    "ExponentialLR": (lambda o: S.ExponentialLR(o, gamma=0.97), lambda t: T.ExponentialLR(t, 0.97)),
    "CosineAnnealingLR": (lambda o: S.CosineAnnealingLR(o, T_max=30), lambda t: T.CosineAnnealingLR(t, 30)),
    # past T_max PyTorch's recursive form climbs back along the cosine: the closed form must too
    "CosineAnnealingLR_eta_min": (lambda o: S.CosineAnnealingLR(o, T_max=37, eta_min=1e-3),
                                  lambda t: T.CosineAnnealingLR(t, 37, eta_min=1e-3)),
    "CosineAnnealingLR_eta_min_above_lr": (lambda o: S.CosineAnnealingLR(o, T_max=3, eta_min=0.05),
                                           lambda t: T.CosineAnnealingLR(t, 3, eta_min=0.05)),
    "CosineAnnealingLR_T_max_1": (lambda o: S.CosineAnnealingLR(o, T_max=1), lambda t: T.CosineAnnealingLR(t, 1)),
    "WarmRestarts_T_mult_1": (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=13, T_mult=1, eta_min=1e-4),
                              lambda t: T.CosineAnnealingWarmRestarts(t, 13, 1, 1e-4)),
    "WarmRestarts_T_mult_2": (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=1e-4),
                              lambda t: T.CosineAnnealingWarmRestarts(t, 5, 2, 1e-4)),
    "LinearLR_warmup": (lambda o: S.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=25),
                        lambda t: T.LinearLR(t, 0.1, 1.0, 25)),
    "LinearLR_decay": (lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=60),
                       lambda t: T.LinearLR(t, 1.0, 0.05, 60)),
    "ConstantLR": (lambda o: S.ConstantLR(o, factor=0.25, total_iters=17), lambda t: T.ConstantLR(t, 0.25, 17)),
    "PolynomialLR": (lambda o: S.PolynomialLR(o, total_iters=150, power=2.0), lambda t: T.PolynomialLR(t, 150, 2.0)),
    "LambdaLR": (lambda o: S.LambdaLR(o, [lambda e: 0.95**e, lambda e: 1 / (1 + e)]),
                 lambda t: T.LambdaLR(t, [lambda e: 0.95**e, lambda e: 1 / (1 + e)])),
    "MultiplicativeLR": (lambda o: S.MultiplicativeLR(o, lambda e: 0.99 if e % 2 else 0.97),
                         lambda t: T.MultiplicativeLR(t, lambda e: 0.99 if e % 2 else 0.97)),
    "SequentialLR": (
        lambda o: S.SequentialLR(o, [S.LinearLR(o, 0.1, total_iters=20), S.CosineAnnealingLR(o, 150, 1e-3)], [20]),
        lambda t: T.SequentialLR(t, [T.LinearLR(t, 0.1, total_iters=20), T.CosineAnnealingLR(t, 150, 1e-3)], [20])),
    "SequentialLR_three": (
        lambda o: S.SequentialLR(o, [S.ConstantLR(o, 0.1, 5), S.ExponentialLR(o, 0.9),
                                     S.CosineAnnealingWarmRestarts(o, 10, 2)], [10, 40]),
        lambda t: T.SequentialLR(t, [T.ConstantLR(t, 0.1, 5), T.ExponentialLR(t, 0.9),
                                     T.CosineAnnealingWarmRestarts(t, 10, 2)], [10, 40])),
    "SequentialLR_multiplicative": (
        lambda o: S.SequentialLR(o, [S.MultiplicativeLR(o, lambda e: 0.98), S.StepLR(o, 10),
                                     S.MultiplicativeLR(o, lambda e: 0.97)], [30, 90]),
        lambda t: T.SequentialLR(t, [T.MultiplicativeLR(t, lambda e: 0.98), T.StepLR(t, 10),
                                     T.MultiplicativeLR(t, lambda e: 0.97)], [30, 90])),
}


@pytest.mark.parametrize("name", sorted(PARITY))
def test_matches_torch_over_200_steps(name):
    ours, theirs = PARITY[name]
    _assert_close(*_sequences(ours, theirs))


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_matches_torch_with_momentum_cycling(kind, strategy, three_phase):
    a, b = _sequences(
        lambda o: S.OneCycleLR(o, [1.0, 0.3], total_steps=STEPS, anneal_strategy=strategy, three_phase=three_phase),
        lambda t: T.OneCycleLR(t, [1.0, 0.3], total_steps=STEPS, anneal_strategy=strategy, three_phase=three_phase),
        kind=kind, momentum=True)
    _assert_close(a, b)
    mom = a[:, 2]
    assert mom[0] == pytest.approx(0.95) and mom.min() == pytest.approx(0.85)  # momentum moves against the rate
    assert np.argmin(mom) == np.argmax(a[:, 0])


def test_one_cycle_epochs_and_options_match_torch():
    kw = dict(epochs=10, steps_per_epoch=20, pct_start=0.25, div_factor=10.0, final_div_factor=100.0,
              base_momentum=0.8, max_momentum=0.9)
    _assert_close(*_sequences(lambda o: S.OneCycleLR(o, 0.5, **kw), lambda t: T.OneCycleLR(t, 0.5, **kw),
                              momentum=True))


def test_one_cycle_refuses_to_step_past_total_steps():
    s = S.OneCycleLR(_ours(), 0.1, total_steps=3)
    for _ in range(3):
        s.step()
    with pytest.raises(ValueError, match="total_steps=3"):
        s.step()
    assert s.last_epoch == 3  # the refused step changed nothing


def _metric_script():
    # a decreasing loss with plateaus, noise of both signs and a relapse: every branch is taken
    t = np.arange(120)
    base = 1.0 / (1 + 0.05 * t) + 0.02 * np.sin(1.7 * t) + np.where((t > 40) & (t < 70), 0.2, 0.0)
    return [float(v) for v in base]


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("threshold_mode,threshold", [("rel", 1e-2), ("abs", 5e-3)])
@pytest.mark.parametrize("cooldown,min_lr", [(0, 0.0), (3, [2e-3, 1e-3])])
def test_reduce_on_plateau_matches_torch(mode, threshold_mode, threshold, cooldown, min_lr):
    kw = dict(mode=mode, factor=0.5, patience=2, threshold=threshold, threshold_mode=threshold_mode,
              cooldown=cooldown, min_lr=min_lr)
    o, t = _ours(), _torch()
    so, st = S.ReduceLROnPlateau(o, **kw), T.ReduceLROnPlateau(t, **kw)
    sign = 1.0 if mode == "min" else -1.0
    a, b = [], []
    for m in _metric_script():
        so.step(sign * m)
        st.step(sign * m)
        a.append([g["lr"] for g in o.param_groups])
        b.append([g["lr"] for g in t.param_groups])
    a, b = np.array(a), np.array(b)
    assert np.array_equal(a, b)
    assert len(np.unique(a[:, 0])) >= 3  # it did reduce, more than once
    if min_lr:
        assert a[-1].tolist() == min_lr  # and stopped at the floor


def test_exponential_is_the_notes_e_to_the_minus_kt():
    k = 0.02
    o = _ours(lrs=(0.1,))
    s = S.ExponentialLR(o, gamma=math.exp(-k))
    for t in range(1, 50):
        s.step()
        assert o.param_groups[0]["lr"] == pytest.approx(0.1 * math.exp(-k * t), rel=1e-12)


def test_cosine_warmup_is_the_notes_formula():
    o = _ours(lrs=(0.1,))
    s = S.CosineWarmup(o, warmup_steps=10)
    lrs = [o.param_groups[0]["lr"]]
    for _ in range(15):
        s.step()
        lrs.append(o.param_groups[0]["lr"])
    want = [0.1 * 0.5 * (1 + math.cos(math.pi * (1 - min(t, 10) / 10))) for t in range(16)]
    np.testing.assert_allclose(lrs, want, rtol=1e-14, atol=1e-18)
    assert lrs[0] == pytest.approx(0.0, abs=1e-18) and lrs[10] == lrs[15] == pytest.approx(0.1)


def _hf_cosine_with_warmup(W, N):
    # Hugging Face's get_cosine_schedule_with_warmup, the familiar prior art for warmup_cosine
    def f(step):
        if step < W:
            return step / max(1, W)
        progress = (step - W) / max(1, N - W)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
    return f


def test_warmup_cosine_matches_torch_lambda_lr_of_the_usual_recipe():
    W, N = 20, STEPS
    a, b = _sequences(lambda o: S.warmup_cosine(o, W, N), lambda t: T.LambdaLR(t, _hf_cosine_with_warmup(W, N)))
    _assert_close(a, b)


@pytest.mark.parametrize("warmup,W", [("linear", 10), ("cosine", 10), ("linear", 0)])
def test_warmup_cosine_formula_with_eta_min(warmup, W):
    N, eta_min = 60, 1e-3
    o = _ours()
    s = S.warmup_cosine(o, W, N, eta_min=eta_min, warmup=warmup)
    assert isinstance(s, S.LRScheduler)
    for t in range(N + 1):
        for base, g in zip(LRS, o.param_groups):
            if t < W:
                f = t / W if warmup == "linear" else 0.5 * (1 + math.cos(math.pi * (1 - t / W)))
                want = base * f
            else:
                want = eta_min + (base - eta_min) * 0.5 * (1 + math.cos(math.pi * (t - W) / (N - W)))
            assert g["lr"] == pytest.approx(want, rel=1e-12, abs=1e-18)
        s.step()


def test_warm_restarts_fractional_epochs_match_torch():
    o, t = _ours(), _torch()
    so = S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=1e-3)
    st = T.CosineAnnealingWarmRestarts(t, T_0=3, T_mult=2, eta_min=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in np.arange(0, 20, 0.25):
            so.step(float(epoch))
            st.step(float(epoch))
            np.testing.assert_allclose(so.get_last_lr(), st.get_last_lr(), rtol=1e-12)


# ------------------------------------------------------------------- resume
RESUMABLE = {
    "StepLR": lambda o: S.StepLR(o, 7, 0.5),
    "MultiStepLR": lambda o: S.MultiStepLR(o, [10, 100, 150], 0.3),
    "ExponentialLR": lambda o: S.ExponentialLR(o, 0.98),
    "CosineAnnealingLR": lambda o: S.CosineAnnealingLR(o, 60, eta_min=1e-3),
    "WarmRestarts_T_mult_1": lambda o: S.CosineAnnealingWarmRestarts(o, 13, 1, 1e-4),
    "WarmRestarts_T_mult_2": lambda o: S.CosineAnnealingWarmRestarts(o, 5, 2, 1e-4),
    "LinearLR": lambda o: S.LinearLR(o, 0.1, 1.0, 100),
    "ConstantLR": lambda o: S.ConstantLR(o, 0.25, 90),
    "PolynomialLR": lambda o: S.PolynomialLR(o, 150, 2.0),
    "LambdaLR": lambda o: S.LambdaLR(o, lambda e: 0.99**e),
    "MultiplicativeLR": lambda o: S.MultiplicativeLR(o, lambda e: 0.99 if e % 3 else 0.95),
    "OneCycleLR": lambda o: S.OneCycleLR(o, [1.0, 0.3], total_steps=STEPS, three_phase=True),
    "CosineWarmup": lambda o: S.CosineWarmup(o, 100),
    "SequentialLR": lambda o: S.SequentialLR(
        o, [S.LinearLR(o, 0.1, total_iters=20), S.MultiplicativeLR(o, lambda e: 0.97), S.CosineAnnealingLR(o, 80)],
        [20, 100]),
    "warmup_cosine": lambda o: S.warmup_cosine(o, 30, STEPS, eta_min=1e-4, warmup="cosine"),
    "ReduceLROnPlateau": lambda o: S.ReduceLROnPlateau(o, factor=0.5, patience=2, cooldown=1, min_lr=1e-4),
}


def _step(s, i):
    if isinstance(s, S.ReduceLROnPlateau):
        s.step(1.0 / (1 + 0.01 * i) + 0.05 * math.sin(i))
    else:
        s.step()


def _opt_state(opt):
    return [{k: v for k, v in g.items() if k in ("lr", "momentum")} for g in opt.param_groups]


@pytest.mark.parametrize("order", ["optimizer_after", "optimizer_first", "scheduler_only"])
@pytest.mark.parametrize("name", sorted(RESUMABLE))
def test_resume_at_step_77_is_exact(name, order):
    build = RESUMABLE[name]
    oa = _ours()
    a = build(oa)
    for i in range(77):
        _step(a, i)
    saved = json.loads(json.dumps(a.state_dict(), allow_nan=False))  # only JSON values, no functions
    saved_opt = copy.deepcopy(oa.state_dict())
    assert not any(callable(v) for v in saved.values())

    ob = _ours()
    if order == "optimizer_first":
        ob.load_state_dict(copy.deepcopy(saved_opt))
    b = build(ob)
    b.load_state_dict(saved)
    if order == "optimizer_after":
        ob.load_state_dict(copy.deepcopy(saved_opt))
    assert _opt_state(ob) == _opt_state(oa)
    assert b.get_last_lr() == a.get_last_lr()
    for i in range(77, 200):
        _step(a, i)
        _step(b, i)
        assert _opt_state(ob) == _opt_state(oa), i
    assert b.last_epoch == a.last_epoch


def _torch_seq(opt):
    s1 = T.LinearLR(opt, start_factor=0.1, total_iters=20)
    s2 = T.CosineAnnealingLR(opt, T_max=150, eta_min=1e-3)
    return T.SequentialLR(opt, [s1, s2], milestones=[20])


def _our_seq(opt):
    return S.SequentialLR(opt, [S.LinearLR(opt, 0.1, total_iters=20), S.CosineAnnealingLR(opt, 150, 1e-3)], [20])


def test_sequential_resumes_exactly_where_torchs_does_not():
    """Restore the optimizer, build the schedulers, load the scheduler: a usual checkpoint order.

    PyTorch's SequentialLR resets group["lr"] while it is built and its
    load_state_dict does not put the saved rate back; its CosineAnnealingLR
    child then scales that wrong rate recursively for the rest of training
    (pytorch/pytorch#119168). Ours writes the saved rates back.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = {}
        for lib, make_opt, make_seq in (("torch", _torch, _torch_seq), ("ours", _ours, _our_seq)):
            opt = make_opt()
            seq = make_seq(opt)
            for _ in range(77):
                opt.step()
                seq.step()
            sd, osd = copy.deepcopy(seq.state_dict()), copy.deepcopy(opt.state_dict())
            want = []
            for _ in range(123):
                opt.step()
                seq.step()
                want.append(opt.param_groups[0]["lr"])
            opt2 = make_opt()
            opt2.load_state_dict(osd)
            seq2 = make_seq(opt2)
            seq2.load_state_dict(sd)
            resumed_at = opt2.param_groups[0]["lr"]
            got = []
            for _ in range(123):
                opt2.step()
                seq2.step()
                got.append(opt2.param_groups[0]["lr"])
            runs[lib] = np.array(got), np.array(want), resumed_at, osd["param_groups"][0]["lr"]
    got, want, resumed_at, saved_lr = runs["ours"]
    assert resumed_at == saved_lr
    assert np.array_equal(got, want)
    got_t, want_t, resumed_t, saved_t = runs["torch"]
    np.testing.assert_allclose(want_t, want, rtol=1e-10)  # the uninterrupted schedules agree
    # torch resumes from start_factor x initial_lr, where building the SequentialLR left the group ...
    assert resumed_t == pytest.approx(0.1 * LRS[0], rel=1e-12) and saved_t == pytest.approx(want[0], rel=0.05)
    # ... and its recursive cosine keeps the wrong distance to eta_min until the cosine touches it
    eta_min = 1e-3
    ratio = (got_t[:50] - eta_min) / (want_t[:50] - eta_min)
    np.testing.assert_allclose(ratio, (resumed_t - eta_min) / (saved_t - eta_min), rtol=1e-9)
    assert np.max(np.abs(got_t - want_t) / want_t) > 0.8


def test_sequential_resume_by_last_epoch():
    # PyTorch's SequentialLR(last_epoch=N) restarts its first child (pytorch/pytorch#162591); ours replays
    oa = _ours()
    a = _our_seq(oa)
    for _ in range(50):
        a.step()
    ob = _ours()
    b = S.SequentialLR(ob, [S.LinearLR(ob, 0.1, total_iters=20), S.CosineAnnealingLR(ob, 150, 1e-3)], [20],
                       last_epoch=49)
    assert b.last_epoch == a.last_epoch == 50
    assert b.get_last_lr() == a.get_last_lr()


def test_state_dict_keeps_callable_objects_like_torch():
    class Decay:
        def __init__(self):
            self.rate = 0.9

        def __call__(self, epoch):
            return self.rate**epoch

    f = Decay()
    s = S.LambdaLR(_ours(lrs=(0.1,)), f)
    f.rate = 0.5
    state = s.state_dict()
    assert state["lr_lambdas"] == [{"rate": 0.5}]
    assert S.LambdaLR(_ours(), lambda e: 1.0).state_dict()["lr_lambdas"] == [None, None]
    g = Decay()
    s2 = S.LambdaLR(_ours(lrs=(0.1,)), g)
    s2.load_state_dict(state)
    assert g.rate == 0.5


def test_load_state_dict_of_another_scheduler_is_refused():
    with pytest.raises(ValueError, match="does not belong to a CosineAnnealingLR"):
        S.CosineAnnealingLR(_ours(), 10).load_state_dict(S.StepLR(_ours(), 3).state_dict())
    with pytest.raises(ValueError, match="2 learning rates, the optimizer 1"):
        S.StepLR(_ours(lrs=(0.1,)), 3).load_state_dict(S.StepLR(_ours(), 3).state_dict())


def test_constructor_sets_initial_lr_and_performs_the_first_step():
    o = _ours()
    s = S.StepLR(o, step_size=2, gamma=0.5)
    assert [g["initial_lr"] for g in o.param_groups] == list(LRS)
    assert s.last_epoch == 0 and s.base_lrs == list(LRS) and s.get_last_lr() == list(LRS)


def test_drives_the_real_optimizer():
    # the rate a scheduler writes is the one the next SGD step uses
    p = trainwise.Tensor(np.array([1.0]), requires_grad=True)
    opt = SGD([p], lr=0.5)
    s = S.StepLR(opt, step_size=1, gamma=0.1)
    for lr in (0.5, 0.05):
        before = p.data.copy()
        p.grad = np.array([1.0])
        opt.step()
        s.step()
        assert p.data[0] == pytest.approx(before[0] - lr)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("make", [
    lambda x: S.StepLR(x, 3), lambda x: S.CosineAnnealingLR(x, 10), lambda x: S.OneCycleLR(x, 0.1, 10),
    lambda x: S.ReduceLROnPlateau(x), lambda x: S.LambdaLR(x, lambda e: 1.0),
    lambda x: S.SequentialLR(x, [], []),
])
def test_non_optimizer_is_a_type_error(make):
    with pytest.raises(TypeError, match=r"'optimizer' must be a trainwise.optim.Optimizer; got list"):
        make([{"lr": 0.1}])


@pytest.mark.parametrize("make,match", [
    (lambda o: S.StepLR(o, step_size=-1), r"StepLR: 'step_size' must be an int >= 1; got -1"),
    (lambda o: S.StepLR(o, step_size=0), r"'step_size' must be an int >= 1; got 0"),
    (lambda o: S.StepLR(o, step_size=2.5), r"'step_size' must be an int >= 1; got 2.5"),
    (lambda o: S.StepLR(o, 3, gamma=-0.1), r"StepLR: 'gamma' must be in \(0.0, inf\]; got -0.1"),
    (lambda o: S.ExponentialLR(o, gamma=-1.0), r"ExponentialLR: 'gamma' must be in"),
    (lambda o: S.MultiStepLR(o, [30, 10]), r"'milestones' must be strictly increasing; got \[30, 10\]"),
    (lambda o: S.MultiStepLR(o, [10, 10]), r"strictly increasing"),
    (lambda o: S.MultiStepLR(o, [10], gamma=-2), r"'gamma'"),
    (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=0), r"'T_0' must be an int >= 1; got 0"),
    (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=-3), r"'T_0' must be an int >= 1; got -3"),
    (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=0), r"'T_mult' must be an int >= 1"),
    (lambda o: S.CosineAnnealingLR(o, T_max=0), r"'T_max' must be in \(0.0, inf\]; got 0"),
    (lambda o: S.LinearLR(o, total_iters=0), r"LinearLR: 'total_iters' must be an int >= 1; got 0"),
    (lambda o: S.LinearLR(o, start_factor=1.5), r"'start_factor' must be in \[0.0, 1.0\]"),
    (lambda o: S.ConstantLR(o, total_iters=-2), r"ConstantLR: 'total_iters' must be an int >= 1; got -2"),
    (lambda o: S.PolynomialLR(o, total_iters=0), r"PolynomialLR: 'total_iters' must be an int >= 1"),
    (lambda o: S.CosineWarmup(o, warmup_steps=0), r"'warmup_steps' must be an int >= 1"),
    (lambda o: S.OneCycleLR(o, 0.1), r"give 'total_steps', or both 'epochs' and 'steps_per_epoch'"),
    (lambda o: S.OneCycleLR(o, 0.1, epochs=3), r"give 'total_steps', or both"),
    (lambda o: S.OneCycleLR(o, 0.1, total_steps=0), r"'total_steps' must be an int >= 1; got 0"),
    (lambda o: S.OneCycleLR(o, 0.1, 10, anneal_strategy="exp"), r"'anneal_strategy' must be 'cos' or 'linear'"),
    (lambda o: S.OneCycleLR(o, [0.1], 10), r"'max_lr' has 1 values; the optimizer has 2 parameter groups"),
    (lambda o: S.ReduceLROnPlateau(o, factor=1.0), r"'factor' must be in \[0.0, 1.0\)"),
    (lambda o: S.ReduceLROnPlateau(o, mode="up"), r"'mode' must be 'min' or 'max'"),
    (lambda o: S.ReduceLROnPlateau(o, threshold_mode="pct"), r"'threshold_mode' must be 'rel' or 'abs'"),
    (lambda o: S.ReduceLROnPlateau(o, patience=-1), r"'patience' must be an int >= 0"),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2), S.StepLR(o, 3)], [5, 6]), r"one milestone fewer"),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2), S.StepLR(o, 3), S.StepLR(o, 3)], [9, 5]), r"strictly increasing"),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2), S.ReduceLROnPlateau(o)], [5]), r"needs a metric"),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2), S.StepLR(_ours(), 3)], [5]), r"belongs to another optimizer"),
    (lambda o: S.LambdaLR(o, [lambda e: 1.0]), r"'lr_lambda' has 1 functions; the optimizer has 2 groups"),
    (lambda o: S.warmup_cosine(o, 10, 10), r"'total_steps' must exceed 'warmup_steps' \(10\); got 10"),
    (lambda o: S.warmup_cosine(o, 10, 100, warmup="exp"), r"'warmup' must be 'linear' or 'cosine'"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make(_ours())


def test_one_cycle_needs_momentum_or_betas_to_cycle():
    from trainwise.optim import Adagrad
    opt = Adagrad([trainwise.Tensor(np.zeros(2), requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="needs an optimizer with 'momentum' or 'betas'"):
        S.OneCycleLR(opt, 0.1, total_steps=10)
    S.OneCycleLR(opt, 0.1, total_steps=10, cycle_momentum=False)


def test_plateau_metric_must_be_a_number():
    s = S.ReduceLROnPlateau(_ours())
    with pytest.raises(TypeError, match="'metrics' must be a number; got 'low'"):
        s.step("low")


def test_lambda_must_be_callable():
    with pytest.raises(TypeError, match="'lr_lambda' must be a function of the epoch; got float"):
        S.LambdaLR(_ours(), 0.5)
