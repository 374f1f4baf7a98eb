"""Dropout: both modes, expectation, fixed-mask parity with PyTorch, generators, errors."""
import numpy as np
import pytest
import torch

import trainwise as tw
from trainwise import nn
from trainwise.functional import dropout
from trainwise.testing import gradcheck, relative_error


def _x(shape=(4, 6), seed=0):
    rng = np.random.default_rng(seed)
    # no zeros, so the kept units are exactly the nonzero outputs
    return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


@pytest.mark.parametrize("mode", ["inverted", "scale_at_test"])
@pytest.mark.parametrize("training", [True, False])
def test_gradcheck(mode, training):
    # a fresh generator with one seed per call: every evaluation draws the same mask
    err = gradcheck(lambda t: dropout(t, 0.3, training, tw.Generator(7), mode), _x())
    assert err < 1e-6


def test_module_gradcheck():
    layer = nn.Dropout(0.4)

    def f(t):
        layer.generator = tw.Generator(3)
        return layer(t)

    assert gradcheck(f, _x((3, 5))) < 1e-6


def test_train_output_and_gradient_equal_torch_with_the_same_mask():
    p = 0.35
    x = _x((5, 7), 1)
    xt = tw.Tensor(x.copy(), requires_grad=True)
    out = dropout(xt, p, training=True, generator=tw.Generator(11))
    mask = out.data != 0
    assert 0 < mask.sum() < mask.size
    g = np.random.default_rng(2).standard_normal(x.shape)
    out.backward(g)
    xr = torch.tensor(x, requires_grad=True)
    ref = xr * torch.tensor(mask, dtype=torch.float64) / (1 - p)
    ref.backward(torch.tensor(g))
    assert relative_error(out.data, ref.detach().numpy()) < 1e-14
    assert relative_error(xt.grad, xr.grad.numpy()) < 1e-14


def test_eval_equals_torch_dropout_eval():
    x = _x((3, 4), 2)
    ref = torch.nn.Dropout(0.5).eval()(torch.tensor(x)).numpy()
    layer = nn.Dropout(0.5).eval()
    xt = tw.Tensor(x)
    out = layer(xt)
    np.testing.assert_array_equal(out.data, ref)
    assert out is xt  # inverted dropout is the identity at test time, as torch


@pytest.mark.parametrize("mode, p", [("inverted", 0.5), ("inverted", 0.2), ("scale_at_test", 0.5),
                                     ("scale_at_test", 0.8)])
def test_training_output_equals_eval_output_in_expectation(mode, p):
    K = 2000
    x = _x((50,), 3)
    gen = tw.Generator(5)
    draws = np.stack([dropout(tw.Tensor(x), p, True, gen, mode).data for _ in range(K)])
    test_out = dropout(tw.Tensor(x), p, False, mode=mode).data
    keep = 1 - p
    # per element: inverted ỹ = x·r/(1-p), Var = x²·p/(1-p); original ỹ = x·r, Var = x²·p(1-p)
    std = np.abs(x) * (np.sqrt(p / keep) if mode == "inverted" else np.sqrt(p * keep))
    z = (draws.mean(axis=0) - test_out) / (std / np.sqrt(K))
    assert np.abs(z).max() < 5.0
    # the test could fail: leaving out the scale factor moves the mean by many standard errors
    wrong = draws.mean(axis=0) * (keep if mode == "inverted" else 1 / keep)
    assert np.abs((wrong - test_out) / (std / np.sqrt(K))).max() > 10
    kept = (draws != 0).mean()
    assert abs(kept - keep) < 5 * np.sqrt(keep * p / draws.size)


def test_the_two_modes_differ_by_the_factor_1_minus_p_for_one_mask():
    x, p = _x((6, 6), 4), 0.3
    inv = dropout(tw.Tensor(x), p, True, tw.Generator(9), "inverted").data
    orig = dropout(tw.Tensor(x), p, True, tw.Generator(9), "scale_at_test").data
    np.testing.assert_allclose(orig, (1 - p) * inv, rtol=1e-15)
    np.testing.assert_allclose(dropout(tw.Tensor(x), p, False, mode="scale_at_test").data, (1 - p) * x)


def test_generator_reproducibility_and_fresh_masks():
    x = tw.Tensor(_x((8, 8), 5))
    layer = nn.Dropout(0.5, generator=tw.Generator(1))
    a, b = layer(x).data, layer(x).data
    assert not np.array_equal(a != 0, b != 0)  # a new mask every call
    layer.generator = tw.Generator(1)
    np.testing.assert_array_equal(layer(x).data, a)
    tw.manual_seed(123)
    c = dropout(x, 0.5).data
    tw.manual_seed(123)
    np.testing.assert_array_equal(dropout(x, 0.5).data, c)


def test_module_train_eval_and_modes():
    x = tw.Tensor(_x((4, 4), 6))
    layer = nn.Dropout(0.25, mode="scale_at_test", generator=tw.Generator(0))
    train_out = layer(x).data
    assert set(np.unique(np.abs(train_out / x.data))) <= {0.0, 1.0}
    layer.eval()
    np.testing.assert_allclose(layer(x).data, 0.75 * x.data)
    assert repr(nn.Dropout(0.2)) == "Dropout(p=0.2)"


def test_float32_and_p_zero():
    x = tw.Tensor(_x((5, 5), 7).astype(np.float32), requires_grad=True)
    out = dropout(x, 0.5, True, tw.Generator(0))
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32
    assert set(np.unique(x.grad)) <= {np.float32(0), np.float32(2)}
    assert dropout(x, 0.0, True) is x


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5, True, "0.5", float("nan")])
def test_bad_p(p):
    with pytest.raises(ValueError, match=r"'p' \(the drop probability\) must be a number in \[0, 1\)"):
        nn.Dropout(p)
    with pytest.raises(ValueError, match="dropout: 'p'"):
        dropout(tw.Tensor(np.ones(3)), p)


def test_bad_mode():
    with pytest.raises(ValueError, match="'mode' must be one of 'inverted', 'scale_at_test'; got 'original'"):
        nn.Dropout(0.5, mode="original")


def test_integer_input_is_refused():
    with pytest.raises(TypeError, match="dropout: 'input' must be floating"):
        dropout(tw.Tensor(np.ones(3, dtype=np.int64)), 0.5)
