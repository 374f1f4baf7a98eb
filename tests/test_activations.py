"""Activations: finite-difference gradients, parity with PyTorch, stability, modules, the name tables."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import trainwise
import trainwise.nn as nn
import trainwise.nn.functional as F
from trainwise import Tensor
from trainwise.init import calculate_gain
from trainwise.testing import gradcheck, relative_error

# name, trainwise function, torch function (both take the input first), kwargs
CASES = [
    ("sigmoid", F.sigmoid, torch.sigmoid, {}),
    ("tanh", F.tanh, torch.tanh, {}),
    ("relu", F.relu, TF.relu, {}),
    ("leaky_relu", F.leaky_relu, TF.leaky_relu, {}),
    ("leaky_relu_0.2", F.leaky_relu, TF.leaky_relu, {"negative_slope": 0.2}),
    ("elu", F.elu, TF.elu, {}),
    ("elu_0.5", F.elu, TF.elu, {"alpha": 0.5}),
    ("selu", F.selu, TF.selu, {}),
    ("silu", F.silu, TF.silu, {}),
    ("softplus", F.softplus, TF.softplus, {}),
    ("softplus_beta2_thr1", F.softplus, TF.softplus, {"beta": 2.0, "threshold": 1.0}),
    ("gelu", F.gelu, TF.gelu, {}),
    ("gelu_tanh", F.gelu, TF.gelu, {"approximate": "tanh"}),
    ("softmax", F.softmax, TF.softmax, {"dim": -1}),
    ("softmax_dim0", F.softmax, TF.softmax, {"dim": 0}),
    ("softmax_dim1", F.softmax, TF.softmax, {"dim": 1}),
    ("log_softmax", F.log_softmax, TF.log_softmax, {"dim": -1}),
    ("log_softmax_dim0", F.log_softmax, TF.log_softmax, {"dim": 0}),
    ("log_softmax_dim1", F.log_softmax, TF.log_softmax, {"dim": 1}),
]
IDS = [c[0] for c in CASES]


def away_from_kinks(shape, seed=0, scale=2.0):
    """Normal samples pushed at least 1e-2 away from 0 (ReLU-family kinks)."""
    x = np.random.default_rng(seed).normal(scale=scale, size=shape)
    return x + np.where(x >= 0, 1e-2, -1e-2)


def parity(tw_fn, t_fn, x, kwargs, params=None):
    """Forward values and input gradients (under a random upstream gradient) vs torch, float64."""
    a = Tensor(x.copy(), requires_grad=True)
    out = tw_fn(a, **kwargs) if params is None else tw_fn(a, params[0], **kwargs)
    b = torch.tensor(x, requires_grad=True)
    tout = t_fn(b, **kwargs) if params is None else t_fn(b, params[1], **kwargs)
    g = np.random.default_rng(1).normal(size=out.shape)
    out.backward(g)
    tout.backward(torch.tensor(g))
    return relative_error(out.data, tout.detach().numpy()), relative_error(a.grad, b.grad.numpy())


@pytest.mark.parametrize("name,fn,tfn,kw", CASES, ids=IDS)
def test_gradcheck(name, fn, tfn, kw):
    x = away_from_kinks((3, 4, 2))
    assert gradcheck(lambda t: fn(t, **kw), x) < 1e-6


@pytest.mark.parametrize("name,fn,tfn,kw", CASES, ids=IDS)
def test_parity_with_torch(name, fn, tfn, kw):
    x = away_from_kinks((4, 5, 3), seed=2, scale=4.0)
    ev, eg = parity(fn, tfn, x, kw)
    assert ev < 1e-12 and eg < 1e-12


@pytest.mark.parametrize("name,fn,tfn,kw", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_inputs_are_finite_silent_and_equal_torch(name, fn, tfn, kw, dtype):
    x = np.array([[-1e4, -100.0, -30.0, -1.0, 0.5, 30.0, 100.0, 1e4]], dtype=dtype).T.repeat(2, axis=1)
    a = Tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = fn(a, **kw)
        out.backward(np.ones(out.shape, dtype=dtype))
    b = torch.tensor(x, requires_grad=True)
    tout = tfn(b, **kw)
    tout.backward(torch.ones_like(tout))
    assert out.dtype == dtype and a.grad.dtype == dtype
    assert np.isfinite(out.data).all() and np.isfinite(a.grad).all()
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("name,fn,tfn,kw", CASES, ids=IDS)
def test_float32_stays_float32(name, fn, tfn, kw):
    x = away_from_kinks((3, 4)).astype(np.float32)
    a = Tensor(x, requires_grad=True)
    out = fn(a, **kw)
    out.sum().backward()
    assert out.dtype == np.float32 and a.grad.dtype == np.float32


@pytest.mark.parametrize("name,fn,tfn,kw", CASES, ids=IDS)
def test_small_inputs_keep_float32_precision(name, fn, tfn, kw):
    x = np.array([[1e-6, -1e-6, 3e-5, -3e-5], [1e-3, -1e-3, 0.02, -0.02]], dtype=np.float32)
    out = fn(Tensor(x), **kw)
    ref = tfn(torch.tensor(x, dtype=torch.float64), **kw).numpy()
    np.testing.assert_allclose(out.data, ref, rtol=2e-6, atol=0)


@pytest.mark.parametrize("name,fn,tfn,kw", [c for c in CASES if "softmax" not in c[0]], ids=[i for i in IDS if "softmax" not in i])
@pytest.mark.parametrize("value", [-1.5, 2.5])
def test_zero_dim_inputs(name, fn, tfn, kw, value):
    ev, eg = parity(fn, tfn, np.array(value), kw)
    assert ev < 1e-14 and eg < 1e-14


def test_sigmoid_float32_1e4_exact_and_backward_from_output():
    x = np.array([-1e4, 0.0, 1e4], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = F.sigmoid(Tensor(x, requires_grad=True))
    assert s.data.tolist() == [0.0, 0.5, 1.0]
    a = Tensor(np.array([0.3, -2.0]), requires_grad=True)
    s = F.sigmoid(a)
    s.sum().backward()
    np.testing.assert_allclose(a.grad, s.data * (1 - s.data), rtol=0, atol=0)


def test_each_activation_is_one_graph_node():
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    for name, fn, _, kw in CASES:
        out = fn(a, **kw)
        assert out._parents == (a,), name


def test_swish_is_silu_and_formulas_of_the_notes():
    x = away_from_kinks((7,))
    assert F.swish is F.silu and nn.Swish is nn.SiLU
    np.testing.assert_allclose(F.silu(Tensor(x)).data, x / (1 + np.exp(-x)), rtol=1e-14)
    np.testing.assert_allclose(F.leaky_relu(Tensor(x)).data, np.maximum(0.01 * x, x), rtol=1e-14)
    np.testing.assert_allclose(F.softplus(Tensor(x)).data, np.log(1 + np.exp(x)), rtol=1e-14)
    np.testing.assert_allclose(F.elu(Tensor(x), alpha=0.7).data, np.where(x > 0, x, 0.7 * (np.exp(x) - 1)), rtol=1e-14)
    e = np.exp(x)
    np.testing.assert_allclose(F.softmax(Tensor(x), dim=0).data, e / e.sum(), rtol=1e-14)


def test_nan_passes_through():
    x = Tensor(np.array([[np.nan, 1.0], [0.5, -1.0]]))
    for fn in (F.relu, F.sigmoid, F.tanh, F.elu, F.softplus, F.gelu, F.silu):
        out = fn(x).data
        assert np.isnan(out[0, 0]) and np.isfinite(out[1]).all()
    assert np.isnan(F.softmax(x, dim=1).data[0]).all() and np.isfinite(F.softmax(x, dim=1).data[1]).all()


def test_relu_gradient_at_zero_is_zero_as_torch():
    a = Tensor(np.array([0.0, 1.0, -1.0]), requires_grad=True)
    F.relu(a).sum().backward()
    assert a.grad.tolist() == [0.0, 1.0, 0.0]


# --------------------------------------------------------------------- PReLU
@pytest.mark.parametrize("num_parameters", [1, 3])
def test_prelu_gradcheck_input_and_weight(num_parameters):
    x = away_from_kinks((2, 3, 2, 2), seed=3)
    w = Tensor(np.array([0.25, -0.1, 0.6])[:num_parameters].copy(), requires_grad=True)
    assert gradcheck(lambda t: F.prelu(t, w), x, params=[w]) < 1e-6


@pytest.mark.parametrize("shape,num_parameters", [((4, 3), 3), ((2, 3, 5), 3), ((2, 3, 2, 2), 1), ((6,), 1), ((2, 3, 2, 2), 3)])
def test_prelu_module_matches_torch(shape, num_parameters):
    x = away_from_kinks(shape, seed=4)
    m = nn.PReLU(num_parameters, dtype=np.float64)
    m.weight.data[...] = np.linspace(-0.3, 0.7, num_parameters)
    tm = torch.nn.PReLU(num_parameters).double()
    with torch.no_grad():
        tm.weight.copy_(torch.tensor(m.weight.data))
    a, b = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    g = np.random.default_rng(5).normal(size=shape)
    out, tout = m(a), tm(b)
    out.backward(g)
    tout.backward(torch.tensor(g))
    assert relative_error(out.data, tout.detach().numpy()) < 1e-14
    assert relative_error(a.grad, b.grad.numpy()) < 1e-14
    assert relative_error(m.weight.grad, tm.weight.grad.numpy()) < 1e-12
    assert list(dict(m.named_parameters())) == [n for n, _ in tm.named_parameters()]


def test_prelu_defaults_and_errors():
    m = nn.PReLU()
    assert m.weight.shape == (1,) and m.weight.dtype == np.float32 and float(m.weight.data[0]) == 0.25
    with pytest.raises(ValueError, match="prelu: 'weight' must hold 1 slope or one per channel"):
        nn.PReLU(4)(Tensor(np.ones((2, 3), dtype=np.float32)))
    with pytest.raises(TypeError, match="prelu: 'weight' must have the input's dtype float64; got float32"):
        nn.PReLU(3)(Tensor(np.ones((2, 3))))
    with pytest.raises(ValueError, match="num_parameters"):
        nn.PReLU(0)
    with pytest.raises(ValueError, match="prelu: 'weight' must be 1-D"):
        F.prelu(Tensor(np.ones((2, 3))), Tensor(np.ones((3, 1))))


# ------------------------------------------------------------------- modules
MODULES = [
    (nn.Sigmoid(), torch.nn.Sigmoid()),
    (nn.Tanh(), torch.nn.Tanh()),
    (nn.ReLU(), torch.nn.ReLU()),
    (nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)),
    (nn.ELU(0.8), torch.nn.ELU(0.8)),
    (nn.SELU(), torch.nn.SELU()),
    (nn.SiLU(), torch.nn.SiLU()),
    (nn.Softplus(beta=1.5, threshold=3.0), torch.nn.Softplus(beta=1.5, threshold=3.0)),
    (nn.GELU(), torch.nn.GELU()),
    (nn.GELU("tanh"), torch.nn.GELU("tanh")),
    (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
    (nn.LogSoftmax(dim=1), torch.nn.LogSoftmax(dim=1)),
]


@pytest.mark.parametrize("m,tm", MODULES, ids=[type(m).__name__ for m, _ in MODULES])
def test_modules_match_torch_nn(m, tm):
    x = away_from_kinks((3, 4, 2), seed=6, scale=3.0)
    a, b = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    g = np.random.default_rng(7).normal(size=x.shape)
    out, tout = m(a), tm(b)
    out.backward(g)
    tout.backward(torch.tensor(g))
    assert relative_error(out.data, tout.detach().numpy()) < 1e-12
    assert relative_error(a.grad, b.grad.numpy()) < 1e-12
    assert list(m.parameters()) == []


def test_module_reprs_follow_torch():
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.PReLU(3)) == "PReLU(num_parameters=3)"


# -------------------------------------------------------- the name tables
def test_activation_table_builds_every_layer():
    x = Tensor(np.array([[-1.0, 0.5]], dtype=np.float32))
    for name, cls in nn.ACTIVATIONS.items():
        assert name == name.lower()
        out = cls()(x)
        assert out.shape == (1, 2), name
    assert nn.ACTIVATIONS["swish"] is nn.SiLU and nn.ACTIVATIONS["identity"] is nn.Identity
    assert nn.ACTIVATIONS["linear"] is nn.Identity
    for key in ("relu", "leaky_relu", "tanh", "sigmoid", "elu", "selu", "silu", "swish", "gelu", "softplus"):
        assert key in nn.ACTIVATIONS


def test_activation_gain_name():
    expected = {
        "relu": "relu", "leaky_relu": "leaky_relu", "prelu": "leaky_relu", "tanh": "tanh",
        "sigmoid": "sigmoid", "selu": "selu", "silu": "relu", "swish": "relu", "gelu": "relu",
        "elu": "relu", "softplus": "relu", "identity": "linear", "linear": "linear",
    }
    for name, gain_name in expected.items():
        assert nn.activation_gain_name(name) == gain_name
        calculate_gain(gain_name)  # every answer is a name calculate_gain knows
    assert set(expected) == set(nn.ACTIVATIONS)
    assert nn.activation_gain_name("ReLU") == "relu"
    assert nn.activation_gain_name(nn.Tanh()) == "tanh" and nn.activation_gain_name(nn.LeakyReLU) == "leaky_relu"
    assert calculate_gain(nn.activation_gain_name("gelu")) == pytest.approx(2**0.5)
    with pytest.raises(ValueError, match="activation_gain_name: 'name' must be one of .* got 'mish'"):
        nn.activation_gain_name("mish")
    with pytest.raises(ValueError, match="class Linear"):
        nn.activation_gain_name(nn.Linear)


# ----------------------------------------------------------------- errors
def test_bad_arguments_raise_clear_errors():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(TypeError, match="relu: 'input' must be a floating-point Tensor; got dtype int64"):
        F.relu(Tensor(np.ones(3, dtype=np.int64)))
    with pytest.raises(ValueError, match=r"softmax: 'dim' must be an int in \[-2, 1\] for a 2-D input; got 2"):
        F.softmax(x, dim=2)
    with pytest.raises(ValueError, match="log_softmax: 'input' must have at least 1 dimension"):
        F.log_softmax(Tensor(np.float64(1.0)))
    with pytest.raises(ValueError, match="gelu: 'approximate' must be 'none' or 'tanh'; got 'fast'"):
        F.gelu(x, approximate="fast")
    with pytest.raises(ValueError, match="GELU: 'approximate'"):
        nn.GELU("erf")
    with pytest.raises(ValueError, match="softplus: 'beta' must be > 0; got 0"):
        F.softplus(x, beta=0)
    with pytest.raises(ValueError, match="LeakyReLU: 'negative_slope' must be a finite real number; got 'a'"):
        nn.LeakyReLU("a")
    with pytest.raises(ValueError, match="ELU: 'alpha' must be a finite real number; got nan"):
        nn.ELU(float("nan"))


def test_exported_names():
    for name in ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "prelu", "selu", "silu", "swish",
                 "softplus", "gelu", "softmax", "log_softmax"):
        assert callable(getattr(trainwise.nn.functional, name))
        assert callable(getattr(trainwise.functional, name))
