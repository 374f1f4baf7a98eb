"""Initializers: their distributions (std within 2%, Kolmogorov-Smirnov against the exact
law), exact uniform bounds, gains and fans equal to PyTorch's, orthogonality, seeding,
and every name reachable through ``Linear(init=...)``."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

import trainwise as tw
from trainwise import init, nn

SHAPE = (512, 128)  # (out, in): 65,536 samples, fan_in = 128 != fan_out = 512
FAN_IN, FAN_OUT = 128, 512
TANH, RELU = 5.0 / 3, math.sqrt(2.0)


def leaky(slope):
    return math.sqrt(2.0 / (1 + slope**2))


def weight(shape=SHAPE, dtype=np.float64):
    return tw.Tensor(np.zeros(shape, dtype=dtype))


def _uniform(bound):
    return ("uniform", bound)


def _normal(std):
    return ("normal", std)


# (id, fill function, the exact law the formula gives)
CASES = [
    ("xavier_uniform", lambda w, g: init.xavier_uniform_(w, generator=g),
     _uniform(math.sqrt(6 / (FAN_IN + FAN_OUT)))),
    ("xavier_uniform-tanh", lambda w, g: init.xavier_uniform_(w, gain=init.calculate_gain("tanh"), generator=g),
     _uniform(TANH * math.sqrt(6 / (FAN_IN + FAN_OUT)))),
    ("xavier_normal", lambda w, g: init.xavier_normal_(w, generator=g), _normal(math.sqrt(2 / (FAN_IN + FAN_OUT)))),
    ("xavier_normal-relu", lambda w, g: init.xavier_normal_(w, gain=RELU, generator=g),
     _normal(RELU * math.sqrt(2 / (FAN_IN + FAN_OUT)))),
    ("lecun_uniform", lambda w, g: init.lecun_uniform_(w, generator=g), _uniform(math.sqrt(3 / FAN_IN))),
    ("lecun_normal", lambda w, g: init.lecun_normal_(w, generator=g), _normal(math.sqrt(1 / FAN_IN))),
    ("simple_uniform", lambda w, g: init.simple_uniform_(w, generator=g), _uniform(1 / math.sqrt(FAN_IN))),
    ("normal_", lambda w, g: init.normal_(w, 0.0, 0.3, generator=g), _normal(0.3)),
    ("uniform_", lambda w, g: init.uniform_(w, -0.25, 0.25, generator=g), _uniform(0.25)),
]
for _mode, _fan in (("fan_in", FAN_IN), ("fan_out", FAN_OUT)):
    for _nl, _a, _gain in (("relu", 0.0, RELU), ("leaky_relu", 0.2, leaky(0.2)), ("leaky_relu", 0.0, RELU),
                           ("tanh", 0.0, TANH)):
        _tag = f"{_mode}-{_nl}-{_a}"
        CASES.append((f"kaiming_uniform-{_tag}", lambda w, g, m=_mode, n=_nl, a=_a: init.kaiming_uniform_(
            w, a=a, mode=m, nonlinearity=n, generator=g), _uniform(_gain * math.sqrt(3 / _fan))))
        CASES.append((f"kaiming_normal-{_tag}", lambda w, g, m=_mode, n=_nl, a=_a: init.kaiming_normal_(
            w, a=a, mode=m, nonlinearity=n, generator=g), _normal(_gain / math.sqrt(_fan))))


@pytest.mark.parametrize("name,fill,law", CASES, ids=[c[0] for c in CASES])
def test_initializer_distribution(name, fill, law):
    w = fill(weight(), tw.Generator(2024))
    x = w.data.ravel()
    assert x.size >= 65536
    kind, scale = law
    if kind == "uniform":
        expected_std = scale / math.sqrt(3)
        ks = stats.kstest(x, "uniform", args=(-scale, 2 * scale))
        assert np.abs(x).max() <= scale  # the bound is exact ...
        assert np.abs(x).max() > 0.999 * scale  # ... and reached
    else:
        expected_std = scale
        ks = stats.kstest(x, "norm", args=(0.0, scale))
    assert abs(x.std() / expected_std - 1) < 0.02, f"{name}: std {x.std():.5g}, formula {expected_std:.5g}"
    assert abs(x.mean()) < 4 * expected_std / math.sqrt(x.size)
    assert ks.pvalue > 1e-4, f"{name}: KS p = {ks.pvalue:.2e}"


def test_ks_test_can_tell_the_laws_apart():
    """Guards the test above: the same samples fail against the wrong law."""
    x = init.kaiming_normal_(weight(), nonlinearity="relu", generator=tw.Generator(1)).data.ravel()
    assert stats.kstest(x, "norm", args=(0.0, math.sqrt(1 / FAN_IN))).pvalue < 1e-10  # LeCun's std
    assert stats.kstest(x, "norm", args=(0.0, math.sqrt(2 / FAN_OUT))).pvalue < 1e-10  # the wrong fan


def test_he_variance_is_2_over_fan_in_and_lecun_1_over_fan_in():
    """Seed 000 swaps these (He N(0, 1/n_in), LeCun N(0, 2/n_in)); seeds/ERRATA.md, first row.
    trainwise follows He et al. 2015 and LeCun et al. 1998: Var = 2/fan_in and 1/fan_in."""
    he = init.kaiming_normal_(weight(), nonlinearity="relu", generator=tw.Generator(3)).data
    lecun = init.lecun_normal_(weight(), generator=tw.Generator(4)).data
    assert abs(he.var() / (2 / FAN_IN) - 1) < 0.03
    assert abs(lecun.var() / (1 / FAN_IN) - 1) < 0.03
    assert abs(he.var() / lecun.var() - 2) < 0.1
    he_u = init.kaiming_uniform_(weight(), nonlinearity="relu", generator=tw.Generator(5)).data
    assert np.abs(he_u).max() <= math.sqrt(6 / FAN_IN)  # ERRATA: both bounds use fan_in
    assert abs(he_u.var() / (2 / FAN_IN) - 1) < 0.03


def test_float32_weights_keep_their_dtype_and_bound():
    w = init.xavier_uniform_(weight(dtype=np.float32), generator=tw.Generator(6))
    bound = math.sqrt(6 / (FAN_IN + FAN_OUT))
    assert w.dtype == np.float32
    assert np.abs(w.data).max() <= np.float32(bound) * (1 + 2**-23)  # at most one float32 rounding step
    assert abs(w.data.std() / (bound / math.sqrt(3)) - 1) < 0.02


# ------------------------------------------------------------ gains and fans
TORCH_NONLINEARITIES = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                        "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]


@pytest.mark.parametrize("nonlinearity", TORCH_NONLINEARITIES)
def test_calculate_gain_equals_torch_exactly(nonlinearity):
    assert init.calculate_gain(nonlinearity) == torch.nn.init.calculate_gain(nonlinearity)
    assert type(init.calculate_gain(nonlinearity)) is type(torch.nn.init.calculate_gain(nonlinearity))


@pytest.mark.parametrize("param", [None, 0.0, 0.01, 0.2, 1, 3, 0.5])
def test_leaky_relu_gain_with_params_equals_torch_exactly(param):
    assert init.calculate_gain("leaky_relu", param) == torch.nn.init.calculate_gain("leaky_relu", param)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="'nonlinearity' must be one of .*; got 'rleu'"):
        init.calculate_gain("rleu")
    with pytest.raises(ValueError, match="'param' must be a number for leaky_relu; got True"):
        init.calculate_gain("leaky_relu", True)


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (64, 16, 3, 3), (8, 4, 5), (2, 3, 4, 5, 6), (7, 1, 1, 1)])
def test_fans_equal_torch(shape):
    ours = init.calculate_fan_in_and_fan_out(tw.Tensor(np.zeros(shape)))
    theirs = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert ours == theirs


def test_conv_shaped_kaiming_uses_the_receptive_field():
    w = init.kaiming_normal_(weight((128, 32, 4, 4)), nonlinearity="relu", generator=tw.Generator(7))
    assert abs(w.data.std() / math.sqrt(2 / (32 * 16)) - 1) < 0.02


# ------------------------------------------------------------------ orthogonal
@pytest.mark.parametrize("shape", [(64, 128), (128, 64), (50, 50), (16, 4, 3, 3)])
@pytest.mark.parametrize("gain", [1.0, RELU])
def test_orthogonal(shape, gain):
    w = init.orthogonal_(weight(shape), gain=gain, generator=tw.Generator(8)).data
    flat = w.reshape(shape[0], -1)
    rows, cols = flat.shape
    gram = flat @ flat.T if rows <= cols else flat.T @ flat
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(rows, cols)), atol=1e-12)


# --------------------------------------------------------------------- seeding
def test_same_seed_same_weights_bit_for_bit():
    tw.manual_seed(123)
    a = nn.Linear(20, 10)
    tw.manual_seed(123)
    b = nn.Linear(20, 10)
    tw.manual_seed(124)
    c = nn.Linear(20, 10)
    assert a.weight.data.tobytes() == b.weight.data.tobytes() and a.bias.data.tobytes() == b.bias.data.tobytes()
    assert not np.array_equal(a.weight.data, c.weight.data)

    for name in ("he_normal", "xavier_uniform", "orthogonal", "lecun_normal"):
        u = nn.Linear(20, 10, init=name, generator=tw.Generator(9)).weight.data
        v = nn.Linear(20, 10, init=name, generator=tw.Generator(9)).weight.data
        z = nn.Linear(20, 10, init=name, generator=tw.Generator(10)).weight.data
        assert u.tobytes() == v.tobytes(), name
        assert not np.array_equal(u, z), name


def test_explicit_generator_leaves_the_default_one_alone():
    tw.manual_seed(5)
    expected = tw.randn(4, dtype=np.float64).data
    tw.manual_seed(5)
    init.normal_(weight((8, 8)), generator=tw.Generator(1))
    nn.Linear(8, 8, init="he_uniform", generator=tw.Generator(2))
    np.testing.assert_array_equal(tw.randn(4, dtype=np.float64).data, expected)


def test_generator_state_round_trip_reproduces_the_draws():
    g = tw.Generator(11)
    init.normal_(weight((4, 4)), generator=g)
    state = g.get_state()
    first = init.normal_(weight((4, 4)), generator=g).data.copy()
    g.set_state(state)
    np.testing.assert_array_equal(init.normal_(weight((4, 4)), generator=g).data, first)


# --------------------------------------------------------------- through Linear
def test_linear_he_normal_std():
    lin = nn.Linear(64, 64, init="he_normal", generator=tw.Generator(12))
    assert lin.weight.dtype == np.float32
    assert abs(lin.weight.data.std() / math.sqrt(2 / 64) - 1) < 0.05
    np.testing.assert_array_equal(lin.bias.data, 0.0)


IN, OUT = 256, 128
EXPECTED_STD = {
    "default": 1 / math.sqrt(3 * IN), "simple_uniform": 1 / math.sqrt(3 * IN), "zeros": 0.0, "normal": 1.0,
    "small_normal": 0.01, "uniform": 1 / math.sqrt(3),
    "xavier_uniform": math.sqrt(2 / (IN + OUT)), "xavier_normal": math.sqrt(2 / (IN + OUT)),
    "glorot_uniform": math.sqrt(2 / (IN + OUT)), "glorot_normal": math.sqrt(2 / (IN + OUT)),
    "he_uniform": math.sqrt(2 / IN), "he_normal": math.sqrt(2 / IN),
    "kaiming_uniform": math.sqrt(2 / IN), "kaiming_normal": math.sqrt(2 / IN),
    "lecun_uniform": math.sqrt(1 / IN), "lecun_normal": math.sqrt(1 / IN),
    "orthogonal": math.sqrt(1 / IN),  # orthonormal rows of length IN: mean square 1/IN
}


def test_every_initializer_is_listed_here():
    assert set(init.INITIALIZERS) == set(EXPECTED_STD)


@pytest.mark.parametrize("name", sorted(EXPECTED_STD))
def test_every_initializer_works_through_linear(name):
    lin = nn.Linear(IN, OUT, init=name, generator=tw.Generator(13))
    w = lin.weight.data
    assert w.shape == (OUT, IN) and w.dtype == np.float32 and np.all(np.isfinite(w))
    if EXPECTED_STD[name] == 0:
        assert np.all(w == 0)
    else:
        assert abs(w.std() / EXPECTED_STD[name] - 1) < 0.02, f"{name}: std {w.std():.5g}"
    if name == "default":  # PyTorch's bias rule U[-1/sqrt(in), 1/sqrt(in)]
        assert 0.9 / math.sqrt(IN) < np.abs(lin.bias.data).max() <= 1 / math.sqrt(IN)
    else:
        np.testing.assert_array_equal(lin.bias.data, 0.0)
    x = tw.Tensor(np.ones((2, IN), dtype=np.float32))
    assert lin(x).shape == (2, OUT)


@pytest.mark.parametrize("name,nonlinearity,std", [
    ("he_normal", "tanh", TANH / math.sqrt(IN)),
    ("he_uniform", "leaky_relu", leaky(0.01) / math.sqrt(IN)),
    ("he_normal", "linear", 1 / math.sqrt(IN)),
    ("xavier_normal", "tanh", TANH * math.sqrt(2 / (IN + OUT))),
    ("xavier_uniform", "relu", RELU * math.sqrt(2 / (IN + OUT))),
])
def test_nonlinearity_sets_the_gain_through_linear(name, nonlinearity, std):
    w = nn.Linear(IN, OUT, init=name, nonlinearity=nonlinearity, generator=tw.Generator(14)).weight.data
    assert abs(w.std() / std - 1) < 0.02


# --------------------------------------------------------------------- errors
@pytest.mark.parametrize("call,error,match", [
    (lambda: init.initialize_(weight(), "he_norml"), ValueError, "'init' must be one of .*; got 'he_norml'"),
    (lambda: init.initialize_(weight(), "he_normal", "rleu"), ValueError, "got 'rleu'"),
    (lambda: init.calculate_fan_in_and_fan_out(weight((5,))), ValueError, r"at least 2 dimensions; got shape \(5,\)"),
    (lambda: init.kaiming_normal_(weight(), mode="fan_avg"), ValueError, "'mode' must be 'fan_in' or 'fan_out'; got 'fan_avg'"),
    (lambda: init.uniform_(weight(), 1.0, -1.0), ValueError, "'a' must be <= 'b'; got a=1.0, b=-1.0"),
    (lambda: init.normal_(weight(), std=-1.0), ValueError, "'std' must be >= 0; got -1.0"),
    (lambda: init.orthogonal_(weight((5,))), ValueError, r"at least 2 dimensions; got shape \(5,\)"),
    (lambda: init.xavier_uniform_(np.zeros((3, 3))), TypeError, "'tensor' must be a trainwise Tensor"),
], ids=["init-name", "nonlinearity", "fan-1d", "mode", "uniform", "normal", "orthogonal", "ndarray"])
def test_init_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_constant_zeros_ones():
    w = weight((3, 3))
    assert np.all(init.constant_(w, 0.5).data == 0.5)
    assert np.all(init.ones_(w).data == 1.0)
    assert np.all(init.zeros_(w).data == 0.0)
