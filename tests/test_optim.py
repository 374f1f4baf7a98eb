"""Optimizers: parity with torch.optim (float64), closed forms, state round trips, Lookahead, bad input."""
import math

import numpy as np
import pytest
import torch

import trainwise as tw
from trainwise.optim import SGD, Adagrad, Adam, AdamW, Lookahead, Optimizer, RMSprop
from trainwise.testing import relative_error

# --------------------------------------------------------------------------- a tiny network in both frameworks
SHAPES = [(4, 5), (4,), (3, 4), (3,)]  # Linear(5, 4) - tanh - Linear(4, 3)


def _init_arrays(seed=0):
    rng = np.random.default_rng(seed)
    params = [rng.normal(0, 0.5, s) for s in SHAPES]
    x = rng.normal(size=(8, 5))
    y = rng.normal(size=(8, 3))
    return params, x, y


def _tw_tanh(z):
    return 1.0 - 2.0 / ((z * 2.0).exp() + 1.0)


def tw_loss(ps, x, y):
    w1, b1, w2, b2 = ps
    h = _tw_tanh(tw.Tensor(x) @ w1.T + b1)
    out = h @ w2.T + b2
    return ((out - tw.Tensor(y)) ** 2).mean()


def torch_loss(ps, x, y):
    w1, b1, w2, b2 = ps
    h = torch.tanh(torch.from_numpy(x) @ w1.T + b1)
    out = h @ w2.T + b2
    return ((out - torch.from_numpy(y)) ** 2).mean()


def _groups(ps, grouped, lr):
    if not grouped:
        return ps
    return [{"params": ps[:2]}, {"params": ps[2:], "lr": lr * 0.5}]


TW = {"SGD": SGD, "Adagrad": Adagrad, "RMSprop": RMSprop, "Adam": Adam, "AdamW": AdamW}
TORCH = {"SGD": torch.optim.SGD, "Adagrad": torch.optim.Adagrad, "RMSprop": torch.optim.RMSprop,
         "Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW}

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.01, momentum=0.8, weight_decay=0.01, nesterov=True, maximize=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.05)),
    ("SGD", dict(lr=0.01, momentum=0.5, dampening=0.5, weight_decay=0.1, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.2, eps=1e-6)),
    ("Adagrad", dict(lr=0.05, weight_decay=0.1, lr_decay=0.01, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.005, alpha=0.9, centered=True)),
    ("RMSprop", dict(lr=0.005, momentum=0.9)),
    ("RMSprop", dict(lr=0.005, alpha=0.95, momentum=0.5, centered=True, weight_decay=0.1, eps=1e-6)),
    ("RMSprop", dict(lr=0.01, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, betas=(0.8, 0.99))),
    ("Adam", dict(lr=0.01, weight_decay=0.05, amsgrad=True, maximize=True, eps=1e-6)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.2, betas=(0.5, 0.9), maximize=True)),
]
VARIANTS = ["plain", "groups", "lr_by_hand", "none_grad"]


def _run_parity(name, kwargs, variant, steps=50):
    arrays, x, y = _init_arrays()
    tp = [tw.Tensor(a.copy(), requires_grad=True) for a in arrays]
    rp = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    lr = kwargs["lr"]
    grouped = variant == "groups"
    topt = TW[name](_groups(tp, grouped, lr), **kwargs)
    ropt = TORCH[name](_groups(rp, grouped, lr), foreach=False, **kwargs)
    for step in range(steps):
        if variant == "lr_by_hand":
            new_lr = lr * (1.0 + 0.5 * math.sin(step))
            for og in (topt.param_groups, ropt.param_groups):
                for g in og:
                    g["lr"] = new_lr
        topt.zero_grad()
        ropt.zero_grad()
        tw_loss(tp, x, y).backward()
        torch_loss(rp, x, y).backward()
        if variant == "none_grad":
            drop = [1] if step % 3 == 1 else ([2] if step % 7 == 0 else [])
            for i in drop:
                tp[i].grad = None
                rp[i].grad = None
        topt.step()
        ropt.step()
        if step % 5 == 4:
            for i, (a, b) in enumerate(zip(tp, rp)):
                err = relative_error(a.data, b.detach().numpy())
                assert err < 1e-7, f"{name} {kwargs} {variant}: parameter {i} differs by {err:.2e} at step {step}"
                np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-7, atol=1e-9)
    return tp, arrays


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_matches_torch(name, kwargs, variant):
    tp, start = _run_parity(name, kwargs, variant)
    assert any(not np.allclose(p.data, a) for p, a in zip(tp, start)), "the parameters did not move"


def test_defaults_match_torch():
    p = [torch.zeros(2, requires_grad=True)]
    q = [tw.Tensor(np.zeros(2), requires_grad=True)]
    for name in TW:
        ours, theirs = TW[name](q).defaults, TORCH[name](p).defaults
        for k, v in ours.items():
            assert theirs[k] == v, f"{name}: default {k}={v!r}, torch {theirs[k]!r}"


# --------------------------------------------------------------------------- closed forms
def test_sgd_on_quadratic_is_geometric_exactly():
    # f(w) = a w²: w_t = (1 − 2ηa)^t w_0. With a = 3, η = 1/16 the factor is 5/8 and every
    # intermediate value is exactly representable, so float64 must agree bit for bit.
    a, lr = 3.0, 0.0625
    w0 = np.array([1.0, -2.0, 0.5])
    w = tw.Tensor(w0.copy(), requires_grad=True)
    opt = SGD([w], lr=lr)
    for t in range(1, 21):
        opt.zero_grad()
        (a * w ** 2).sum().backward()
        opt.step()
        assert np.array_equal(w.data, (1 - 2 * lr * a) ** t * w0), f"step {t}: {w.data}"


def test_adam_first_step_size():
    # m̂_1 = g and v̂_1 = g², so the first step is η g / (|g| + ε) per coordinate.
    g = np.array([3.0, -0.5, 1e-3, -1e-9, 2e-8, 0.0])
    lr, eps = 0.01, 1e-8
    w = tw.Tensor(np.zeros(6), requires_grad=True)
    w.grad = g.copy()
    Adam([w], lr=lr, eps=eps).step()
    np.testing.assert_allclose(-w.data, lr * g / (np.abs(g) + eps), rtol=1e-12, atol=0)
    assert abs(w.data[0]) == pytest.approx(lr, rel=1e-8)  # large |g|: a step of ≈ η whatever |g| is


def test_gd_sgd_and_minibatch_are_the_same_optimizer():
    rng = np.random.default_rng(1)
    n = 32
    X = rng.normal(size=(n, 3))
    Y = X @ np.array([[1.5], [-2.0], [0.5]]) + 0.3 + 0.01 * rng.normal(size=(n, 1))

    def full_loss(w, b):
        return float(np.mean((X @ w + b - Y) ** 2))

    def train(batch, epochs, lr):
        w = tw.Tensor(np.zeros((3, 1)), requires_grad=True)
        b = tw.Tensor(np.zeros(1), requires_grad=True)
        opt = SGD([w, b], lr=lr)
        order_rng = np.random.default_rng(2)
        for _ in range(epochs):
            order = order_rng.permutation(n)
            for s in range(0, n, batch):
                idx = order[s:s + batch]
                opt.zero_grad()
                (((tw.Tensor(X[idx]) @ w + b) - tw.Tensor(Y[idx])) ** 2).mean().backward()
                opt.step()
        return w.data, b.data

    # full batch: every step is exactly the closed-form gradient of the MSE, 2/n Xᵀ(Xw + b − y)
    lr = 0.1
    w = tw.Tensor(np.zeros((3, 1)), requires_grad=True)
    b = tw.Tensor(np.zeros(1), requires_grad=True)
    opt = SGD([w, b], lr=lr)
    wr, br = np.zeros((3, 1)), np.zeros(1)
    for _ in range(20):
        opt.zero_grad()
        (((tw.Tensor(X) @ w + b) - tw.Tensor(Y)) ** 2).mean().backward()
        opt.step()
        r = X @ wr + br - Y
        wr = wr - lr * (2 / n) * X.T @ r
        br = br - lr * (2 / n) * r.sum(axis=0)
        np.testing.assert_allclose(w.data, wr, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(b.data, br, rtol=1e-12, atol=1e-14)

    start = full_loss(np.zeros((3, 1)), np.zeros(1))
    for batch, lr, epochs in [(n, 0.1, 30), (1, 0.01, 3), (8, 0.05, 5)]:
        wf, bf = train(batch, epochs, lr)
        assert full_loss(wf, bf) < 0.1 * start, f"batch size {batch} did not reduce the loss"


# --------------------------------------------------------------------------- behaviour
def test_none_grad_skips_and_leaves_state_untouched():
    a = tw.Tensor(np.ones(3), requires_grad=True)
    b = tw.Tensor(np.ones(2), requires_grad=True)
    opt = Adam([a, b], lr=0.1)
    a.grad, b.grad = np.ones(3), None
    opt.step()
    assert b not in opt.state and np.array_equal(b.data, np.ones(2))
    b.grad = np.ones(2)
    opt.step()
    saved = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in opt.state[b].items()}
    before = b.data.copy()
    b.grad = None
    opt.step()
    assert np.array_equal(b.data, before)
    for k, v in saved.items():
        assert np.array_equal(opt.state[b][k], v), k
    assert opt.state[a]["step"] == 3 and opt.state[b]["step"] == 1


@pytest.mark.parametrize("make", [
    lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True),
    lambda ps: Adagrad(ps, weight_decay=0.1, maximize=True),
    lambda ps: RMSprop(ps, momentum=0.9, centered=True, weight_decay=0.1),
    lambda ps: Adam(ps, amsgrad=True, weight_decay=0.1),
    lambda ps: AdamW(ps, amsgrad=True),
], ids=["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_updates_in_place_and_keep_float32(make):
    rng = np.random.default_rng(0)
    ps = [tw.Tensor(rng.normal(size=s).astype(np.float32), requires_grad=True) for s in [(6, 5), (5,)]]
    datas = [p.data for p in ps]
    opt = make(ps)
    grads = [rng.normal(size=p.shape).astype(np.float32) for p in ps]
    for p, g in zip(ps, grads):
        p.grad = g.copy()
    opt.step()
    bufs = {id(v) for p in ps for v in opt.state[p].values() if isinstance(v, np.ndarray)}
    for _ in range(3):
        opt.step()
    for p, d, g in zip(ps, datas, grads):
        assert p.data is d and p.data.dtype == np.float32
        assert np.array_equal(p.grad, g), "the step must not write into the gradient"
        for v in opt.state[p].values():
            if isinstance(v, np.ndarray):
                assert v.dtype == np.float32 and id(v) in bufs
    assert all(v.dtype == np.float32 for v in opt._scratch.values())


def test_closure_is_evaluated_and_returned():
    w = tw.Tensor(np.array([2.0]), requires_grad=True)
    opt = SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss.data) == 4.0 and w.data[0] == 1.0


def test_param_groups_inherit_defaults_and_lr_is_read_each_step():
    a = tw.Tensor(np.zeros(1), requires_grad=True)
    b = tw.Tensor(np.zeros(1), requires_grad=True)
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.0)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert isinstance(opt, Optimizer)
    a.grad, b.grad = np.ones(1), np.ones(1)
    opt.step()
    opt.param_groups[0]["lr"] = 1.0
    opt.step()
    assert a.data[0] == pytest.approx(-1.1) and b.data[0] == pytest.approx(-1.0)


def test_zero_grad():
    w = tw.Tensor(np.ones(2), requires_grad=True)
    opt = SGD([w], lr=0.1)
    w.grad = np.ones(2)
    opt.zero_grad(set_to_none=False)
    assert np.array_equal(w.grad, np.zeros(2))
    opt.zero_grad()
    assert w.grad is None


# --------------------------------------------------------------------------- state round trip
def _plain(value):
    """Everything a state dict holds must serialize without pickle."""
    if isinstance(value, dict):
        return all(isinstance(k, (int, str)) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return isinstance(value, (np.ndarray, int, float, bool, str, type(None)))


ROUND_TRIP = {
    "SGD": lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    "SGD-dampening": lambda ps: SGD([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.02}], lr=0.05,
                                    momentum=0.9, dampening=0.1),
    "Adagrad": lambda ps: Adagrad(ps, lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1),
    "RMSprop": lambda ps: RMSprop(ps, lr=0.01, momentum=0.9, centered=True),
    "Adam": lambda ps: Adam(ps, lr=0.01, amsgrad=True, weight_decay=0.01),
    "AdamW": lambda ps: AdamW(ps, lr=0.01),
    "Lookahead": lambda ps: Lookahead(Adam(ps, lr=0.01), k=3, alpha=0.6),
    "Lookahead-SGD": lambda ps: Lookahead(SGD(ps, lr=0.05, momentum=0.9), k=4, alpha=0.5),
}


@pytest.mark.parametrize("name", list(ROUND_TRIP))
def test_state_dict_round_trip_is_bit_identical(name):
    arrays, x, y = _init_arrays(3)
    ps = [tw.Tensor(a.copy(), requires_grad=True) for a in arrays]
    opt = ROUND_TRIP[name](ps)

    def step(o, params):
        o.zero_grad()
        tw_loss(params, x, y).backward()
        o.step()

    for _ in range(10):
        step(opt, ps)
    sd = opt.state_dict()
    assert _plain(sd)
    qs = [tw.Tensor(p.data.copy(), requires_grad=True) for p in ps]
    fresh = ROUND_TRIP[name](qs)
    fresh.load_state_dict(sd)
    for _ in range(10):
        step(opt, ps)
        step(fresh, qs)
        for p, q in zip(ps, qs):
            assert np.array_equal(p.data, q.data)
    a, b = opt.state_dict(), fresh.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for i, s in a["state"].items():
        for k, v in s.items():
            assert np.array_equal(v, b["state"][i][k]), (i, k)


def test_load_state_dict_from_a_file_like_form():
    # what a checkpoint reads back: JSON-style string keys, lists for tuples, 0-d arrays for counters
    ps = [tw.Tensor(np.ones(3), requires_grad=True)]
    opt = Adam(ps, lr=0.01)
    ps[0].grad = np.arange(3.0)
    opt.step()
    sd = opt.state_dict()
    disk = {
        "state": {"0": {k: (np.asarray(v) if k == "step" else v.tolist()) for k, v in sd["state"][0].items()}},
        "param_groups": [{**sd["param_groups"][0], "betas": list(sd["param_groups"][0]["betas"])}],
    }
    qs = [tw.Tensor(ps[0].data.copy(), requires_grad=True)]
    fresh = Adam(qs, lr=0.01)
    fresh.load_state_dict(disk)
    st = fresh.state[qs[0]]
    assert type(st["step"]) is int and st["exp_avg"].dtype == np.float64
    assert fresh.param_groups[0]["betas"] == (0.9, 0.999)
    ps[0].grad = qs[0].grad = np.ones(3)
    opt.step()
    fresh.step()
    assert np.array_equal(ps[0].data, qs[0].data)


def test_load_state_dict_errors():
    ps = [tw.Tensor(np.ones(3), requires_grad=True), tw.Tensor(np.ones(2), requires_grad=True)]
    opt = SGD(ps, lr=0.1, momentum=0.9)
    for p in ps:
        p.grad = np.ones(p.shape)
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="1 parameter groups, the optimizer 2"):
        SGD([{"params": ps[:1]}, {"params": ps[1:]}], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="2 parameters in the state and 1"):
        SGD(ps[:1], lr=0.1).load_state_dict(sd)
    bad = {"state": {0: {"momentum_buffer": np.ones(4)}}, "param_groups": sd["param_groups"]}
    with pytest.raises(ValueError, match=r"'momentum_buffer' has shape \(4,\), its parameter \(3,\)"):
        SGD(ps, lr=0.1).load_state_dict(bad)
    bad = {"state": {}, "param_groups": [{**sd["param_groups"][0], "lr": -1.0}]}
    with pytest.raises(ValueError, match="'lr' must be in"):
        SGD(ps, lr=0.1).load_state_dict(bad)
    with pytest.raises(ValueError, match="needs 'state' and 'param_groups'"):
        SGD(ps, lr=0.1).load_state_dict({"foo": 1})
    with pytest.raises(ValueError, match="'lookahead' entry"):
        Lookahead(SGD(ps, lr=0.1)).load_state_dict(sd)


# --------------------------------------------------------------------------- Lookahead
def _quadratic(seed=0, n=4):
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(n, n))
    return m @ m.T / n + np.eye(n), rng.normal(size=n), rng.normal(size=n)


def test_lookahead_matches_numpy_reference_over_three_cycles():
    # f(θ) = ½θᵀAθ − bᵀθ, ∇f = Aθ − b; inner optimizer SGD with momentum (PyTorch's form)
    A, b, theta0 = _quadratic()
    lr, mu, k, alpha = 0.1, 0.9, 5, 0.5
    w = tw.Tensor(theta0.copy(), requires_grad=True)
    opt = Lookahead(SGD([w], lr=lr, momentum=mu), k=k, alpha=alpha)

    theta, phi, buf = theta0.copy(), theta0.copy(), None
    history = []
    for t in range(1, 3 * k + 3):
        g = A @ theta - b
        buf = g.copy() if buf is None else mu * buf + g
        theta = theta - lr * buf
        if t % k == 0:
            phi = phi + alpha * (theta - phi)
            theta = phi.copy()
        history.append(theta)
    for t, ref in enumerate(history, start=1):
        w.grad = A @ w.data - b
        opt.step()
        np.testing.assert_allclose(w.data, ref, rtol=1e-12, atol=1e-14, err_msg=f"step {t}")
        if t % k == 0:
            np.testing.assert_array_equal(opt.slow[w], w.data)
    assert opt.step_count == 3 * k + 2
    # it differs from the base optimizer alone: the slow updates did something
    v = tw.Tensor(theta0.copy(), requires_grad=True)
    plain = SGD([v], lr=lr, momentum=mu)
    for _ in range(3 * k + 2):
        v.grad = A @ v.data - b
        plain.step()
    assert not np.allclose(v.data, w.data)


def test_lookahead_exposes_base_param_groups_and_state():
    w = tw.Tensor(np.ones(2), requires_grad=True)
    base = Adam([w], lr=0.1)
    la = Lookahead(base)
    assert isinstance(la, Optimizer)
    assert la.param_groups is base.param_groups
    la.param_groups[0]["lr"] = 0.01
    assert base.param_groups[0]["lr"] == 0.01
    w.grad = np.ones(2)
    la.step()
    assert la.state is base.state and base.state[w]["step"] == 1
    la.zero_grad()
    assert w.grad is None
    extra = tw.Tensor(np.ones(3), requires_grad=True)
    la.add_param_group({"params": [extra], "lr": 0.5})
    assert len(base.param_groups) == 2
    extra.grad = np.ones(3)
    for _ in range(5):
        la.step()
    assert extra in la.slow


# --------------------------------------------------------------------------- bad input
def _p():
    return [tw.Tensor(np.ones(2), requires_grad=True)]


@pytest.mark.parametrize("make,match", [
    (lambda: SGD(_p(), lr=-0.1), r"SGD: 'lr' must be in \[0.0, inf\]; got -0.1"),
    (lambda: SGD(_p(), lr=float("nan")), r"SGD: 'lr' must be a number; got nan"),
    (lambda: SGD(_p(), lr="0.1"), r"SGD: 'lr' must be a number; got '0.1'"),
    (lambda: SGD(_p(), momentum=-0.9), r"'momentum' must be in \[0.0, inf\]; got -0.9"),
    (lambda: SGD(_p(), weight_decay=-1e-4), r"'weight_decay' must be in \[0.0, inf\]; got -0.0001"),
    (lambda: SGD(_p(), dampening=1.5), r"'dampening' must be in \[0.0, 1.0\]; got 1.5"),
    (lambda: SGD(_p(), nesterov=True), r"'nesterov=True' requires momentum > 0 and dampening == 0; got momentum=0"),
    (lambda: SGD(_p(), momentum=0.9, dampening=0.1, nesterov=True), r"got momentum=0.9, dampening=0.1"),
    (lambda: SGD(_p(), momentum=0.9, nesterov=1), r"'nesterov' must be True or False; got 1"),
    (lambda: SGD(_p(), maximize="yes"), r"'maximize' must be True or False"),
    (lambda: Adagrad(_p(), lr_decay=-1), r"Adagrad: 'lr_decay' must be in \[0.0, inf\]; got -1"),
    (lambda: Adagrad(_p(), initial_accumulator_value=-0.1), r"'initial_accumulator_value' must be in"),
    (lambda: Adagrad(_p(), eps=-1e-10), r"Adagrad: 'eps' must be in \[0.0, inf\]; got -1e-10"),
    (lambda: Adagrad(_p(), weight_decay=-1), r"Adagrad: 'weight_decay'"),
    (lambda: RMSprop(_p(), alpha=1.5), r"RMSprop: 'alpha' must be in \[0.0, 1.0\]; got 1.5"),
    (lambda: RMSprop(_p(), alpha=-0.1), r"RMSprop: 'alpha' must be in \[0.0, 1.0\]; got -0.1"),
    (lambda: RMSprop(_p(), momentum=-0.5), r"RMSprop: 'momentum' must be in"),
    (lambda: RMSprop(_p(), eps=-1.0), r"RMSprop: 'eps' must be in"),
    (lambda: RMSprop(_p(), centered=None), r"'centered' must be True or False; got None"),
    (lambda: Adam(_p(), betas=(1.0, 0.999)), r"Adam: 'betas\[0\]' must be in \[0.0, 1.0\); got 1.0"),
    (lambda: Adam(_p(), betas=(0.9, -0.1)), r"Adam: 'betas\[1\]' must be in \[0.0, 1.0\); got -0.1"),
    (lambda: Adam(_p(), betas=0.9), r"Adam: 'betas' must be a pair \(beta1, beta2\), each in \[0, 1\); got 0.9"),
    (lambda: Adam(_p(), eps=-1e-8), r"Adam: 'eps' must be in \[0.0, inf\]; got -1e-08"),
    (lambda: Adam(_p(), lr=-1e-3), r"Adam: 'lr' must be in"),
    (lambda: AdamW(_p(), weight_decay=-0.01), r"AdamW: 'weight_decay' must be in \[0.0, inf\]; got -0.01"),
    (lambda: Adam(_p(), amsgrad=0), r"'amsgrad' must be True or False; got 0"),
    (lambda: Lookahead(SGD(_p()), k=0), r"Lookahead: 'k' must be a positive int; got 0"),
    (lambda: Lookahead(SGD(_p()), k=2.5), r"Lookahead: 'k' must be a positive int; got 2.5"),
    (lambda: Lookahead(SGD(_p()), alpha=0.0), r"Lookahead: 'alpha' must be in \(0.0, 1.0\]; got 0.0"),
    (lambda: Lookahead(SGD(_p()), alpha=1.5), r"Lookahead: 'alpha' must be in \(0.0, 1.0\]; got 1.5"),
])
def test_bad_hyper_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_params():
    w = tw.Tensor(np.ones(2), requires_grad=True)
    v = tw.Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"SGD: parameter 1 \(shape \(2,\)\) is the same tensor as parameter 0"):
        SGD([w, w])
    with pytest.raises(ValueError, match=r"Adam: parameter 0 \(shape \(2,\)\) of the new group is already in another"):
        Adam([{"params": [w, v]}, {"params": [w]}])
    with pytest.raises(ValueError, match="unknown option"):
        SGD([{"params": [w], "momentun": 0.9}])
    with pytest.raises(ValueError, match=r"'momentum' must be in \[0.0, inf\]; got -1"):
        SGD([{"params": [w]}, {"params": [v], "momentum": -1}], lr=0.1)
    with pytest.raises(TypeError, match="got a single Tensor"):
        SGD(w)
    with pytest.raises(ValueError, match="empty list"):
        Adam([])
    with pytest.raises(TypeError, match="parameter 1 is a ndarray"):
        SGD([w, np.ones(2)])
    with pytest.raises(TypeError, match="parameter 0 has dtype int64"):
        SGD([tw.Tensor(np.arange(3))])
    with pytest.raises(TypeError, match="'base_optimizer' must be a trainwise Optimizer; got SGD"):
        Lookahead(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1))


def test_work_buffers_grow_for_a_larger_parameter():
    # the shared work buffers are sized by the first parameter seen; a larger one added later must still be right
    rng = np.random.default_rng(5)
    small, large = rng.normal(size=2), rng.normal(size=(7, 6))
    tp = [tw.Tensor(small.copy(), requires_grad=True)]
    rp = [torch.tensor(small.copy(), requires_grad=True)]
    topt = Adam(tp, lr=0.1, weight_decay=0.1)
    ropt = torch.optim.Adam(rp, lr=0.1, weight_decay=0.1, foreach=False)
    for step in range(6):
        if step == 2:
            tp.append(tw.Tensor(large.copy(), requires_grad=True))
            rp.append(torch.tensor(large.copy(), requires_grad=True))
            topt.add_param_group({"params": [tp[-1]], "lr": 0.05})
            ropt.add_param_group({"params": [rp[-1]], "lr": 0.05})
        for t, r in zip(tp, rp):
            g = np.sin(t.data * 3.0 + step)
            t.grad, r.grad = g, torch.tensor(g)
        topt.step()
        ropt.step()
        for t, r in zip(tp, rp):
            np.testing.assert_allclose(t.data, r.detach().numpy(), rtol=1e-12)


# --------------------------------------------------------------------------- threaded step
SPLIT_CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.01, momentum=0.5, dampening=0.5, weight_decay=0.1, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.005, alpha=0.95, momentum=0.5, centered=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.05, amsgrad=True, maximize=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
]


def _split_run(name, kwargs, threads, chunk, monkeypatch):
    from trainwise.optim import optimizer as optimizer_module

    monkeypatch.setattr(optimizer_module, "blas_threads", lambda: threads)
    monkeypatch.setattr(optimizer_module, "shorten_blas_spin", lambda: True)  # threads=None then means the budget
    rng = np.random.default_rng(3)
    shapes = [(40, 50), (7,), (3001,), (5, 3)]
    ps = [tw.Tensor(rng.normal(size=s).astype(np.float32), requires_grad=True) for s in shapes]
    opt = TW[name](ps, **kwargs)
    opt.flat_max_elements = 0  # the per-parameter path, where large parameters are split
    opt.threads = None  # as many as the (patched) BLAS budget allows
    opt.thread_min_elements = 0  # for every parameter that is split
    opt.split_min_elements = 1000  # (40, 50) and (3001,) are cut into ranges; the others are not
    opt.chunk_elements = chunk
    for step in range(5):
        for i, p in enumerate(ps):
            missing = (step == 2 and i == 0) or (step == 3 and i == 2)
            p.grad = None if missing else rng.normal(size=p.shape).astype(np.float32)
        opt.step()
    return ps, opt.state_dict()["state"]


@pytest.mark.parametrize("name,kwargs", SPLIT_CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SPLIT_CONFIGS)])
def test_threaded_split_is_bit_identical_to_one_thread(name, kwargs, monkeypatch):
    # the rules are elementwise: updating a parameter range by range (ranges of at most
    # ``chunk`` elements, on 1 to 3 threads) must give the numbers of one whole-array update
    # bit for bit, state included (created at the first step)
    ref_ps, ref_state = _split_run(name, kwargs, 1, 1 << 40, monkeypatch)
    for threads, chunk in ((1, 700), (2, 1 << 40), (3, 700)):
        ps, state = _split_run(name, kwargs, threads, chunk, monkeypatch)
        for i, (a, b) in enumerate(zip(ref_ps, ps)):
            assert a.data.dtype == b.data.dtype == np.float32
            assert np.array_equal(a.data, b.data), f"{name} {threads} threads, chunk {chunk}: parameter {i} differs"
        assert ref_state.keys() == state.keys()
        for i in ref_state:
            assert ref_state[i].keys() == state[i].keys()
            for k, v in ref_state[i].items():
                if isinstance(v, np.ndarray):
                    assert v.shape == state[i][k].shape and np.array_equal(v, state[i][k]), (name, i, k)
                else:
                    assert v == state[i][k], (name, i, k)


def test_threaded_split_reraises_a_worker_error(monkeypatch):
    from trainwise.optim import optimizer as optimizer_module

    class Picky(Optimizer):
        def __init__(self, params):
            super().__init__(params, dict(lr=0.1))

        def _step_group(self, group):
            def rule(param, grad, state, *, lr, scratch):
                if armed and param.size and param[0] == 1.0:  # only the second range starts at 1
                    raise FloatingPointError("range starting at 1.0")
                param -= lr * grad

            self.apply_rule(group, rule, lr=group["lr"])

    monkeypatch.setattr(optimizer_module, "blas_threads", lambda: 2)
    p = tw.Tensor(np.r_[np.zeros(2000), np.ones(2000)].astype(np.float32), requires_grad=True)
    p.grad = np.ones(4000, dtype=np.float32)
    opt = Picky([p])
    opt.threads = 2
    opt.flat_max_elements = 0
    opt.split_min_elements = 1000
    armed = False
    opt.step()  # a parameter's first step runs whole
    p.data[:] = np.r_[np.zeros(2000), np.ones(2000)]
    armed = True
    with pytest.raises(FloatingPointError, match="range starting at 1.0"):
        opt.step()
    p.data[2000] = 0.5  # the second range no longer raises: the pool works after an error
    before = p.data.copy()
    opt.step()
    np.testing.assert_array_equal(p.data, before - np.float32(0.1))


def test_a_parameters_first_step_runs_whole_and_later_steps_in_ranges(monkeypatch):
    # the first step makes the state arrays whole (made range by range, they would be put
    # together afterwards, the state held twice at that moment); later steps go range by range
    from trainwise.optim import optimizer as optimizer_module

    sizes = []

    class Recording(Optimizer):
        def __init__(self, params):
            super().__init__(params, dict(lr=0.1))

        def _step_group(self, group):
            def rule(param, grad, state, *, lr, scratch):
                sizes.append(param.size)
                if "buf" not in state:
                    state["buf"] = np.zeros_like(param)
                state["buf"] += grad
                param -= lr * state["buf"]

            self.apply_rule(group, rule, lr=group["lr"])

    monkeypatch.setattr(optimizer_module, "blas_threads", lambda: 2)
    p = tw.Tensor(np.zeros(4000, dtype=np.float32), requires_grad=True)
    p.grad = np.ones(4000, dtype=np.float32)
    opt = Recording([p])
    opt.threads, opt.flat_max_elements, opt.split_min_elements = 2, 0, 1000
    opt.step()
    assert sizes == [4000]
    buf = opt.state[p]["buf"]
    opt.step()
    assert sorted(sizes[1:]) == [2000, 2000]
    assert opt.state[p]["buf"] is buf  # updated in place through the ranges' views
    np.testing.assert_array_equal(buf, np.full(4000, 2, dtype=np.float32))
    np.testing.assert_allclose(p.data, np.full(4000, -0.3, dtype=np.float32), rtol=1e-6)


def test_worker_threads_let_go_of_their_job():
    # a worker keeps no reference to the job it ran: the arrays its closure held (an optimizer
    # step's gradient ranges) are freed when the caller lets go of them
    import gc
    import weakref

    from trainwise import backend

    class Payload:
        pass

    payload = Payload()
    ref = weakref.ref(payload)
    seen = []
    backend.run_in_threads([lambda: None, lambda x=payload: seen.append(x is not None)])
    del payload
    gc.collect()
    assert seen == [True] and ref() is None


@pytest.mark.parametrize("threads,budget", [(1, 2), (2, 1), (None, 1)])
def test_threaded_split_respects_the_thread_budget(threads, budget, monkeypatch):
    # no worker thread unless both the optimizer (``threads``) and NumPy's BLAS budget allow one
    from trainwise.optim import optimizer as optimizer_module

    def refuse(jobs):
        raise AssertionError("a worker thread was used")

    monkeypatch.setattr(optimizer_module, "blas_threads", lambda: budget)
    monkeypatch.setattr(optimizer_module, "run_in_threads", refuse)
    p = tw.Tensor(np.ones(5000, dtype=np.float32), requires_grad=True)
    p.grad = np.ones(5000, dtype=np.float32)
    opt = SGD([p], lr=0.5, momentum=0.9)
    opt.threads, opt.flat_max_elements, opt.split_min_elements, opt.chunk_elements = threads, 0, 1000, 1000
    opt.step()
    opt.step()
    np.testing.assert_array_equal(p.data, np.float32(1) - np.float32(0.5) - np.float32(0.5) * np.float32(1.9))


@pytest.mark.parametrize("spin_short,size,used", [(True, 5000, False), (True, 40000, True), (False, 40000, False)])
def test_threads_none_only_for_large_parameters_and_a_short_spin(spin_short, size, used, monkeypatch):
    # threads=None: worker threads only for parameters of thread_min_elements and
    # more, and only while OpenBLAS's idle spin is short (else the second range waits for it)
    from trainwise.optim import optimizer as optimizer_module

    calls = []
    real = optimizer_module.run_in_threads
    monkeypatch.setattr(optimizer_module, "blas_threads", lambda: 2)
    monkeypatch.setattr(optimizer_module, "shorten_blas_spin", lambda: spin_short)
    monkeypatch.setattr(optimizer_module, "run_in_threads", lambda jobs: calls.append(len(jobs)) or real(jobs))
    p = tw.Tensor(np.ones(size, dtype=np.float32), requires_grad=True)
    p.grad = np.ones(size, dtype=np.float32)
    opt = SGD([p], lr=0.5)
    opt.threads = None
    opt.flat_max_elements, opt.split_min_elements, opt.chunk_elements, opt.thread_min_elements = 0, 1000, 1000, 20000
    opt.step()
    assert calls == []  # a parameter's first step runs whole
    opt.step()
    assert calls == ([2] if used else [])
    np.testing.assert_array_equal(p.data, np.zeros(size, dtype=np.float32))


def test_shorten_blas_spin_keeps_the_numbers():
    # cutting OpenBLAS's idle spin restarts its workers: products give the same numbers after
    import os

    from trainwise import backend

    rng = np.random.default_rng(21)
    a, b = rng.standard_normal((300, 400)), rng.standard_normal((400, 500))
    before = a @ b
    ours = str(backend.BLAS_SPIN_LOG2_CYCLES)
    unset = os.environ.get("OPENBLAS_THREAD_TIMEOUT") in (None, ours)  # not set by the user (or set by us)
    short = backend.shorten_blas_spin()
    assert backend.shorten_blas_spin() is short  # decided once
    if unset and any(c.internal_api == "openblas" for c in backend.blas_controllers()):
        assert short is True and os.environ["OPENBLAS_THREAD_TIMEOUT"] == ours
    np.testing.assert_array_equal(a @ b, before)
