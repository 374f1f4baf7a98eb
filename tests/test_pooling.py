"""Max, average and adaptive average pooling (1-D, 2-D) against PyTorch (float64) and finite differences."""
import itertools

import numpy as np
import pytest
import torch

import trainwise as tw
from trainwise import nn
from trainwise.functional import (
    adaptive_avg_pool1d, adaptive_avg_pool2d, avg_pool1d, avg_pool2d, max_pool1d, max_pool2d,
)
from trainwise.testing import gradcheck, relative_error

TF = torch.nn.functional
TOL = 1e-12


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # tiny shapes: on a busy 2-core machine a second spinning torch thread only slows them
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _compare(ours, theirs, x, seed=0):
    """Forward values and input gradients of both libraries agree (one random upstream gradient)."""
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    if not torch.isfinite(yt).all():  # a window made of padding only (both give -inf); no gradient to compare
        assert np.array_equal(ours(x).data, yt.detach().numpy())
        return
    g = np.random.default_rng(seed).standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(g))
    X = tw.Tensor(x, requires_grad=True)
    y = ours(X)
    assert y.shape == tuple(yt.shape)
    y.backward(g)
    assert relative_error(y.data, yt.detach().numpy()) < TOL
    assert relative_error(X.grad, xt.grad.numpy()) < TOL


def _valid_for_torch(fn, x):
    try:
        fn(torch.tensor(x))
        return True
    except RuntimeError:  # e.g. padding larger than half the kernel
        return False


@pytest.mark.parametrize("kernel,stride", itertools.product([1, 2, 3, (2, 3)], [None, 1, 2, 3]))
def test_max_pool2d_matches_torch(kernel, stride):
    rng = np.random.default_rng(0)
    n = 0
    for (h, w), padding, dilation, ceil_mode in itertools.product([(7, 6), (8, 8)], [0, 1], [1, 2], [False, True]):
        x = rng.standard_normal((2, 3, h, w))
        args = (kernel, stride, padding, dilation, ceil_mode)
        if not _valid_for_torch(lambda t: TF.max_pool2d(t, *args), x):
            with pytest.raises(ValueError):
                max_pool2d(x, *args)
            continue
        _compare(lambda t: max_pool2d(t, *args), lambda t: TF.max_pool2d(t, *args), x)
        n += 1
    assert n >= 8


def test_max_pool_ties_go_to_the_first_like_torch():
    # all-zero windows (as after a ReLU) and repeated maxima, overlapping and not
    x = np.zeros((2, 3, 6, 6))
    x[0, 0, 2:4, 2:4] = 1.0
    x[1, 1, ::2, ::3] = 2.0
    for args in [(2,), (3, 1, 1), (3, 2), ((2, 3), (1, 2))]:
        _compare(lambda t: max_pool2d(t, *args), lambda t: TF.max_pool2d(t, *args), x)
    _compare(lambda t: max_pool1d(t, 3, 1, 1), lambda t: TF.max_pool1d(t, 3, 1, 1), x[:, :, 0])


def test_max_pool_padding_is_minus_infinity():
    x = -np.ones((1, 1, 4, 4)) - np.arange(16).reshape(1, 1, 4, 4)
    y = max_pool2d(x, 3, 2, 1).data
    assert (y < 0).all()  # zero padding would have produced zeros
    assert np.array_equal(y, TF.max_pool2d(torch.tensor(x), 3, 2, 1).numpy())


@pytest.mark.parametrize("kernel,stride", itertools.product([1, 2, 3, (2, 3)], [None, 1, 2, 3]))
def test_avg_pool2d_matches_torch(kernel, stride):
    rng = np.random.default_rng(1)
    n = 0
    for (h, w), padding, ceil_mode, include in itertools.product([(7, 6), (8, 8)], [0, 1], [False, True],
                                                                 [True, False]):
        x = rng.standard_normal((2, 3, h, w))
        args = (kernel, stride, padding, ceil_mode, include)
        if not _valid_for_torch(lambda t: TF.avg_pool2d(t, *args), x):
            with pytest.raises(ValueError):
                avg_pool2d(x, *args)
            continue
        _compare(lambda t: avg_pool2d(t, *args), lambda t: TF.avg_pool2d(t, *args), x)
        n += 1
    assert n >= 8


@pytest.mark.parametrize("shape", [(7, 6), (8, 8), (5, 9), (1, 3)])
def test_adaptive_avg_pool2d_matches_torch(shape):
    rng = np.random.default_rng(2)
    for output_size in [1, 2, 3, (2, 3), (None, 2), (4, None), (7, 10)]:
        x = rng.standard_normal((2, 3) + shape)
        _compare(lambda t: adaptive_avg_pool2d(t, output_size), lambda t: TF.adaptive_avg_pool2d(t, output_size), x)


@pytest.mark.parametrize("length", [9, 10, 1])
def test_pool1d_matches_torch(length):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, length))
    for k, s, p, d, c in itertools.product([1, 2, 3], [None, 2], [0, 1], [1, 2], [False, True]):
        if _valid_for_torch(lambda t: TF.max_pool1d(t, k, s, p, d, c), x):
            _compare(lambda t: max_pool1d(t, k, s, p, d, c), lambda t: TF.max_pool1d(t, k, s, p, d, c), x)
        for include in [True, False]:
            if _valid_for_torch(lambda t: TF.avg_pool1d(t, k, s, p, c, include), x):
                _compare(lambda t: avg_pool1d(t, k, s, p, c, include), lambda t: TF.avg_pool1d(t, k, s, p, c, include), x)
    for output_size in [1, 2, 4, 12]:
        _compare(lambda t: adaptive_avg_pool1d(t, output_size), lambda t: TF.adaptive_avg_pool1d(t, output_size), x)


@pytest.mark.parametrize("fn", [
    lambda t: max_pool2d(t, 3, 2, 1),
    lambda t: max_pool2d(t, 2, 1, dilation=2, ceil_mode=True),
    lambda t: avg_pool2d(t, 3, 2, 1, count_include_pad=False),
    lambda t: avg_pool2d(t, (2, 3), 1, ceil_mode=True),
    lambda t: adaptive_avg_pool2d(t, (2, 3)),
    lambda t: adaptive_avg_pool2d(t, 1),
    lambda t: max_pool1d(t[:, :, 0], 3, 2, 1),
    lambda t: avg_pool1d(t[:, :, 1], 2, 1, 1, count_include_pad=False),
    lambda t: adaptive_avg_pool1d(t[:, :, 2], 3),
])
def test_pool_gradcheck(fn):
    x = np.random.default_rng(4).standard_normal((2, 2, 5, 7))
    assert gradcheck(fn, x) < 1e-6


# ------------------------------------------------------------------ modules
@pytest.mark.parametrize("name,args,nd", [
    ("MaxPool2d", (3, 2, 1), 2), ("MaxPool2d", (2,), 2), ("MaxPool1d", (3, 2, 1, 2, False, True), 1),
    ("AvgPool2d", (3, 2, 1, True, False), 2), ("AvgPool1d", (4,), 1),
    ("AdaptiveAvgPool2d", ((3, None),), 2), ("AdaptiveAvgPool1d", (5,), 1),
])
def test_modules_equal_torch_modules(name, args, nd):
    x = np.random.default_rng(5).standard_normal((2, 3, 9, 8) if nd == 2 else (2, 3, 11))
    ours, ref = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    _compare(ours, ref, x)


def test_global_avg_pool():
    x = np.random.default_rng(6).standard_normal((2, 3, 5, 4))
    _compare(nn.GlobalAvgPool(), lambda t: t.mean(dim=(2, 3)), x)
    _compare(nn.GlobalAvgPool(), lambda t: t.mean(dim=2), x[:, :, 0])
    seq = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    assert np.allclose(seq(x).data, nn.GlobalAvgPool()(x).data, rtol=1e-14, atol=0)
    assert gradcheck(nn.GlobalAvgPool(), x) < 1e-6


def test_float32_stays_float32():
    x = tw.Tensor(np.random.default_rng(7).standard_normal((2, 3, 6, 6)).astype(np.float32), requires_grad=True)
    for layer in [nn.MaxPool2d(2), nn.AvgPool2d(3, 1, 1, count_include_pad=False), nn.AdaptiveAvgPool2d(4),
                  nn.AdaptiveAvgPool2d(1), nn.GlobalAvgPool()]:
        x.grad = None
        y = layer(x)
        assert y.dtype == np.float32
        y.sum().backward()
        assert x.grad.dtype == np.float32
    assert nn.MaxPool1d(2)(x[:, :, 0]).dtype == np.float32


def test_errors_name_the_argument():
    x = np.zeros((2, 3, 5, 5))
    with pytest.raises(ValueError, match=r"MaxPool2d: 'input' must be 4-D \(N, C, H, W\); got shape \(3, 5, 5\)"):
        nn.MaxPool2d(2)(x[0])
    with pytest.raises(ValueError, match=r"avg_pool1d: 'input' must be 3-D \(N, C, L\); got shape \(2, 3, 5, 5\)"):
        avg_pool1d(x, 2)
    with pytest.raises(ValueError, match=r"MaxPool2d: 'padding' must be at most half the effective kernel size \(1\)"):
        nn.MaxPool2d(3, padding=2)
    with pytest.raises(ValueError, match=r"AvgPool2d: 'padding' must be at most half the kernel size \(1\)"):
        nn.AvgPool2d(2, padding=2)
    with pytest.raises(ValueError, match=r"max_pool2d: the window \(size 7\) is larger than the padded input \(size 5\)"):
        max_pool2d(x, 4, dilation=2)
    with pytest.raises(ValueError, match=r"MaxPool2d: 'return_indices' must be False"):
        nn.MaxPool2d(2, 2, 0, 1, True)
    with pytest.raises(ValueError, match=r"MaxPool2d: 'stride' must be positive; got 0"):
        nn.MaxPool2d(2, stride=0)
    with pytest.raises(ValueError, match=r"MaxPool2d: 'kernel_size' must be positive; got 0"):
        nn.MaxPool2d(0)
    with pytest.raises(ValueError, match=r"AdaptiveAvgPool2d: 'output_size' must be a positive int or a tuple"):
        nn.AdaptiveAvgPool2d((0, 2))
    with pytest.raises(ValueError, match=r"adaptive_avg_pool1d: 'output_size' must be a positive int; got \(2, 2\)"):
        adaptive_avg_pool1d(x[:, :, 0], (2, 2))
    with pytest.raises(ValueError, match=r"AvgPool2d: 'count_include_pad' must be a bool; got 'yes'"):
        nn.AvgPool2d(2, count_include_pad="yes")
    with pytest.raises(ValueError, match=r"GlobalAvgPool: 'input' must be at least 3-D \(N, C, \*spatial\); got shape \(2, 3\)"):
        nn.GlobalAvgPool()(np.zeros((2, 3)))


def test_max_pool_split_between_threads_gives_the_same_numbers(monkeypatch):
    # images split into 3 ranges (the forward's argmax and the backward's scatter per range):
    # identical values and gradients to one range, with overlap, padding, ceil_mode and ties
    import trainwise.functional.conv as conv_module

    rng = np.random.default_rng(12)
    x = np.maximum(rng.standard_normal((5, 3, 9, 8)), 0)  # ReLU zeros: many tied windows
    cases = [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=3, ceil_mode=True)]
    results = []
    for threads in (1, 3):
        monkeypatch.setattr(conv_module, "blas_threads", lambda t=threads: t)
        monkeypatch.setattr(conv_module, "THREAD_MIN_WORK", 0)
        monkeypatch.setattr(conv_module, "SPLIT_IMAGES", True)
        got = []
        for kw in cases:
            X = tw.Tensor(x, requires_grad=True)
            y = max_pool2d(X, **kw)
            y.backward(np.arange(y.data.size, dtype=np.float64).reshape(y.shape))
            got.append((y.data, X.grad))
        results.append(got)
    assert conv_module._image_ranges(5, 1) == [(0, 1), (1, 3), (3, 5)]
    for (y1, g1), (y3, g3) in zip(*results):
        np.testing.assert_array_equal(y1, y3)
        np.testing.assert_array_equal(g1, g3)
