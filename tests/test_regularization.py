"""L1/L2 penalties, the weight-selection rule, max-norm and decay parameter groups."""
import numpy as np
import pytest
import torch

import trainwise as tw
from trainwise import nn
from trainwise.nn.module import Module, Parameter
from trainwise.optim.optimizer import Optimizer
from trainwise.regularization import decay_parameter_groups, l1_penalty, l2_penalty, max_norm_, split_weights
from trainwise.testing import gradcheck, relative_error


class _Odd(Module):
    """Parameters named like attention and recurrent layers, plus a 1-D 'weight'."""

    def __init__(self):
        super().__init__()
        self.in_proj_weight = Parameter(np.ones((6, 2)))
        self.weight_ih_l0 = Parameter(np.ones((4, 2)))
        self.bias_ih_l0 = Parameter(np.ones(4))
        self.weight = Parameter(np.ones(3))  # PReLU-like slopes: 1-D, not penalized


def _model():
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2, bias=False), nn.LayerNorm((2,)),
                         _Odd())


def test_split_weights_rule():
    model = _model()
    model.add_module("5", nn.LayerNorm((2, 2)))  # a 2-D norm weight is still a norm weight
    weights, others = split_weights(model)
    assert [n for n, _ in weights] == ["0.weight", "2.weight", "4.in_proj_weight", "4.weight_ih_l0"]
    assert [n for n, _ in others] == ["0.bias", "1.weight", "1.bias", "3.weight", "3.bias", "4.bias_ih_l0",
                                      "4.weight", "5.weight", "5.bias"]


def _torch_params(params):
    return [torch.tensor(p.data.astype(np.float64), requires_grad=True) for p in params]


@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_penalty_values_and_gradients_match_torch(kind):
    model = _model().double()
    rng = np.random.default_rng(0)
    for p in model.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    lam = 0.3
    fn = l1_penalty if kind == "l1" else l2_penalty
    pen = fn(model, lam)
    assert pen.shape == () and pen.dtype == np.float64
    pen.backward()
    weights = [p for _, p in split_weights(model)[0]]
    tws = _torch_params(weights)
    if kind == "l1":
        ref = lam * sum(w.abs().sum() for w in tws)
    else:
        ref = lam / 2 * sum((w * w).sum() for w in tws)
    ref.backward()
    assert abs(pen.item() - ref.item()) < 1e-12 * abs(ref.item())
    for w, tw_ in zip(weights, tws):
        assert relative_error(w.grad, tw_.grad.numpy()) < 1e-14
    for _, p in split_weights(model)[1]:
        assert p.grad is None  # biases and norm parameters are not penalized


@pytest.mark.parametrize("fn", [l1_penalty, l2_penalty])
def test_penalty_gradcheck(fn):
    rng = np.random.default_rng(1)
    a = rng.uniform(0.1, 1, (3, 4)) * rng.choice([-1.0, 1.0], (3, 4))  # away from the kink of |w|
    b = rng.standard_normal(5) + 3
    assert gradcheck(lambda s, t: fn([s, t], 0.7), a, b) < 1e-6


def test_l2_gradient_equals_torch_sgd_coupled_weight_decay():
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal((4, 3))
    lam, lr = 0.05, 0.1
    w = Parameter(w0.copy())
    l2_penalty([w], lam).backward()
    tw_ = torch.nn.Parameter(torch.tensor(w0.copy()))
    tw_.grad = torch.zeros_like(tw_)  # a zero data gradient: the step is the decay alone
    torch.optim.SGD([tw_], lr=lr, weight_decay=lam).step()
    added = (w0 - tw_.detach().numpy()) / lr
    assert relative_error(w.grad, added) < 1e-12
    # and the step is w ← (1 − ηλ)·w, the notes' form with ∂L/∂w = 0
    np.testing.assert_allclose(tw_.detach().numpy(), (1 - lr * lam) * w0, rtol=1e-14)


def test_explicit_parameters_are_penalized_as_given():
    lin = nn.Linear(2, 3)
    pen = l2_penalty([lin.weight, lin.bias], 1.0)
    expect = 0.5 * (np.sum(lin.weight.data.astype(np.float64) ** 2) + np.sum(lin.bias.data.astype(np.float64) ** 2))
    assert pen.dtype == np.float32
    assert abs(pen.item() - expect) < 1e-5
    assert abs(l1_penalty(lin.bias, 2.0).item() - 2 * np.abs(lin.bias.data).sum()) < 1e-5


def test_no_weights_gives_zero():
    pen = l2_penalty(nn.LayerNorm(3), 0.1)
    assert pen.item() == 0.0 and not pen.requires_grad


def test_penalty_adds_to_a_loss_and_trains_towards_zero():
    lin = nn.Linear(3, 3, dtype=np.float64)
    start = np.linalg.norm(lin.weight.data)
    for _ in range(20):
        lin.zero_grad()
        l2_penalty(lin, 1.0).backward()
        lin.weight.data -= 0.1 * lin.weight.grad
    np.testing.assert_allclose(np.linalg.norm(lin.weight.data), start * 0.9 ** 20, rtol=1e-12)


@pytest.mark.parametrize("bad", [-0.1, "1", True, float("nan")])
def test_bad_lambda(bad):
    with pytest.raises(ValueError, match="l2_penalty: 'lam' must be a non-negative number"):
        l2_penalty(nn.Linear(2, 2), bad)


def test_bad_parameters():
    with pytest.raises(TypeError, match="l1_penalty: every parameter must be a floating Tensor; got ndarray"):
        l1_penalty([np.ones(3)], 0.1)
    with pytest.raises(TypeError, match="'params_or_module' must be a Module, a Tensor or an iterable"):
        l1_penalty(3, 0.1)


def test_max_norm_matches_torch_renorm():
    rng = np.random.default_rng(3)
    conv_like = rng.standard_normal((5, 3, 2, 2)) * rng.uniform(0.1, 1, (5, 1, 1, 1))
    mat = rng.standard_normal((6, 4)) * rng.uniform(0.1, 2, (6, 1))
    for w0 in (conv_like, mat):
        p = Parameter(w0.copy())
        largest = max_norm_(p, 1.5)
        ref = torch.renorm(torch.tensor(w0), 2, 0, 1.5).numpy()
        np.testing.assert_allclose(p.data, ref, rtol=1e-14)
        norms = np.sqrt((w0.reshape(len(w0), -1) ** 2).sum(axis=1))
        assert largest == pytest.approx(norms.max())
        assert (norms < 1.5).any() and (norms > 1.5).any()  # both branches exercised
        np.testing.assert_array_equal(p.data[norms < 1.5], w0[norms < 1.5])


def test_max_norm_axis_and_module():
    w0 = np.random.default_rng(4).standard_normal((3, 5)) * 3
    p = Parameter(w0.copy())
    max_norm_(p, 1.0, axis=0)  # Keras's meaning: norms of columns
    np.testing.assert_allclose(np.linalg.norm(p.data, axis=0), np.minimum(np.linalg.norm(w0, axis=0), 1.0),
                               rtol=1e-6)
    model = nn.Sequential(nn.Linear(4, 4, dtype=np.float64), nn.BatchNorm1d(4, dtype=np.float64))
    model[0].weight.data *= 10
    model[1].weight.data[...] = 10.0
    bias0 = model[0].bias.data.copy()
    max_norm_(model, 2.0)
    assert np.linalg.norm(model[0].weight.data, axis=1).max() <= 2.0
    np.testing.assert_array_equal(model[0].bias.data, bias0)
    assert (model[1].weight.data == 10.0).all()  # norm parameters are not constrained


def test_max_norm_errors():
    with pytest.raises(ValueError, match="max_norm_: 'max_value' must be a positive number; got 0"):
        max_norm_(nn.Linear(2, 2), 0)
    with pytest.raises(ValueError, match=r"'axis' 2 is out of range for a weight of shape \(2, 2\)"):
        max_norm_(nn.Linear(2, 2), 1.0, axis=2)


def test_decay_parameter_groups():
    model = _model()
    groups = decay_parameter_groups(model, 0.05)
    weights, others = split_weights(model)
    assert [g["weight_decay"] for g in groups] == [0.05, 0.0]
    assert [id(p) for p in groups[0]["params"]] == [id(p) for _, p in weights]
    assert [id(p) for p in groups[1]["params"]] == [id(p) for _, p in others]
    assert len(groups[0]["params"]) + len(groups[1]["params"]) == len(list(model.parameters()))
    opt = Optimizer(groups, {"lr": 0.1, "weight_decay": 0.0})
    assert [g["weight_decay"] for g in opt.param_groups] == [0.05, 0.0]
    with pytest.raises(ValueError, match="'weight_decay' must be a non-negative number; got -1"):
        decay_parameter_groups(model, -1)
    with pytest.raises(TypeError, match="'model' must be a Module"):
        decay_parameter_groups([model], 0.1)
