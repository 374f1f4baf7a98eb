"""conv1d/conv2d and Conv1d/Conv2d against PyTorch (float64) and finite differences."""
import itertools
import math
import warnings

import numpy as np
import pytest
import torch

import trainwise as tw
from trainwise import nn
from trainwise.functional import conv1d, conv2d, conv_output_size
from trainwise.testing import gradcheck, relative_error

TF = torch.nn.functional
TOL = 1e-10  # float64; the brief asks 1e-6, these agree to rounding


@pytest.fixture(autouse=True, scope="module")
def _quick_torch_reference():
    # oneDNN JIT-compiles a kernel for every new shape (~30 ms each, hundreds here): torch's
    # native convolution is the same function and answers at once. One torch thread: these
    # shapes are tiny, and on a busy 2-core machine a second spinning thread only slows them.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with torch.backends.mkldnn.flags(enabled=False):
            yield
    torch.set_num_threads(threads)


def _torch_and_ours(fn_tw, fn_torch, x, w, b, **kw):
    """Forward values and input/weight/bias gradients from both libraries, for one random upstream gradient."""
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True) if b is not None else None
    yt = fn_torch(xt, wt, bt, **kw)
    g = np.random.default_rng(1).standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(g))
    X, W = tw.Tensor(x, requires_grad=True), tw.Tensor(w, requires_grad=True)
    B = tw.Tensor(b, requires_grad=True) if b is not None else None
    y = fn_tw(X, W, B, **kw)
    assert y.shape == tuple(yt.shape)
    y.backward(g)
    pairs = [(y.data, yt.detach().numpy()), (X.grad, xt.grad.numpy()), (W.grad, wt.grad.numpy())]
    if b is not None:
        pairs.append((B.grad, bt.grad.numpy()))
    return pairs


KERNELS = [1, 3, 5, (2, 3)]
STRIDES = [1, 2, 3]
PADDINGS = [0, 1, 2, "same"]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("kernel,stride,padding", [
    c for c in itertools.product(KERNELS, STRIDES, PADDINGS) if not (c[2] == "same" and c[1] != 1)])
def test_conv2d_matches_torch(kernel, stride, padding):
    rng = np.random.default_rng(0)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    checked = 0
    # groups 1, 2 and depthwise (4 input channels, channel multiplier 2); with and without bias
    for dilation, (groups, c_out), bias in itertools.product([1, 2], [(1, 6), (2, 6), (4, 8)], [True, False]):
        x = rng.standard_normal((2, 4, 11, 10))
        w = rng.standard_normal((c_out, 4 // groups, kh, kw))
        b = rng.standard_normal(c_out) if bias else None
        pairs = _torch_and_ours(conv2d, TF.conv2d, x, w, b, stride=stride, padding=padding,
                                dilation=dilation, groups=groups)
        for ours, ref in pairs:
            assert ours.shape == ref.shape
            assert relative_error(ours, ref) < TOL
        checked += 1
    assert checked == 12


@pytest.mark.parametrize("kernel,stride,padding", [
    c for c in itertools.product([1, 2, 3, 5], STRIDES, PADDINGS) if not (c[2] == "same" and c[1] != 1)])
def test_conv1d_matches_torch(kernel, stride, padding):
    rng = np.random.default_rng(2)
    for dilation, (groups, c_out), bias in itertools.product([1, 2], [(1, 5), (2, 4), (4, 4)], [True, False]):
        x = rng.standard_normal((3, 4, 13))
        w = rng.standard_normal((c_out, 4 // groups, kernel))
        b = rng.standard_normal(c_out) if bias else None
        for ours, ref in _torch_and_ours(conv1d, TF.conv1d, x, w, b, stride=stride, padding=padding,
                                         dilation=dilation, groups=groups):
            assert ours.shape == ref.shape
            assert relative_error(ours, ref) < TOL


def test_tuple_arguments_and_valid_padding_match_torch():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 9, 12))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    for kw in [dict(stride=(2, 1), padding=(1, 2), dilation=(1, 3)), dict(padding="valid"),
               dict(padding="same", dilation=(2, 1))]:
        for ours, ref in _torch_and_ours(conv2d, TF.conv2d, x, w, b, **kw):
            assert relative_error(ours, ref) < TOL


def test_non_contiguous_input_and_partial_requires_grad():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 6, 7, 3)).transpose(0, 3, 1, 2)  # (2, 3, 6, 7), not contiguous
    w = rng.standard_normal((5, 3, 3, 3))
    ref = TF.conv2d(torch.tensor(np.ascontiguousarray(x)), torch.tensor(w), padding=1).numpy()
    W = tw.Tensor(w, requires_grad=True)
    y = conv2d(tw.Tensor(x), W, padding=1)  # only the weight needs a gradient
    assert relative_error(y.data, ref) < TOL
    y.sum().backward()
    wt = torch.tensor(w, requires_grad=True)
    TF.conv2d(torch.tensor(np.ascontiguousarray(x)), wt, padding=1).sum().backward()
    assert relative_error(W.grad, wt.grad.numpy()) < TOL
    X = tw.Tensor(np.ascontiguousarray(x), requires_grad=True)
    conv2d(X, tw.Tensor(w), padding=1).sum().backward()  # frozen weight: input gradient only
    xt = torch.tensor(np.ascontiguousarray(x), requires_grad=True)
    TF.conv2d(xt, torch.tensor(w), padding=1).sum().backward()
    assert relative_error(X.grad, xt.grad.numpy()) < TOL
    with tw.no_grad():
        assert not conv2d(X, W, padding=1).requires_grad
    # a 1x1 kernel without padding reads the (non-contiguous) input itself: every gradient still matches
    w1 = rng.standard_normal((4, 3, 1, 1))
    pairs = _torch_and_ours(conv2d, TF.conv2d, x, w1, None)
    for ours, ref in pairs:
        assert relative_error(ours, ref) < TOL


@pytest.mark.parametrize("kw", [
    dict(stride=2, padding=1, dilation=1, groups=1),
    dict(stride=1, padding="same", dilation=2, groups=2),
    dict(stride=(2, 1), padding=(0, 2), dilation=(1, 2), groups=4),
])
def test_conv2d_gradcheck(kw):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 6, 5))
    w = rng.standard_normal((4, 4 // kw["groups"], 3, 2))
    b = rng.standard_normal(4)
    assert gradcheck(lambda X, W, B: conv2d(X, W, B, **kw), x, w, b) < 1e-6


def test_conv1d_gradcheck():
    rng = np.random.default_rng(6)
    x, w, b = rng.standard_normal((2, 2, 9)), rng.standard_normal((3, 2, 3)), rng.standard_normal(3)
    assert gradcheck(lambda X, W, B: conv1d(X, W, B, stride=2, padding=2, dilation=2), x, w, b) < 1e-6


def test_module_gradcheck_over_parameters():
    layer = nn.Conv2d(2, 3, 3, stride=2, padding=1, dtype=np.float64, generator=tw.Generator(0))
    x = np.random.default_rng(7).standard_normal((2, 2, 5, 5))
    assert gradcheck(lambda X: layer(X), x, params=[layer.weight, layer.bias]) < 1e-6


# ------------------------------------------------------------------ modules
@pytest.mark.parametrize("kw", [
    dict(),
    dict(stride=2, padding=1, bias=False),
    dict(padding="same", dilation=2, groups=2),
])
def test_conv2d_state_dict_moves_from_torch(kw):
    torch.manual_seed(0)
    ref = torch.nn.Conv2d(4, 6, (3, 2), **kw).double()
    ours = nn.Conv2d(4, 6, (3, 2), dtype=np.float64, **kw)
    assert [(k, tuple(v.shape)) for k, v in ref.state_dict().items()] == \
        [(k, v.shape) for k, v in ours.state_dict().items()]
    ours.load_state_dict(ref.state_dict())
    x = np.random.default_rng(8).standard_normal((2, 4, 7, 6))
    assert relative_error(ours(x).data, ref(torch.tensor(x)).detach().numpy()) < TOL
    # and back: torch loads ours
    ours2 = nn.Conv2d(4, 6, (3, 2), dtype=np.float64, generator=tw.Generator(3), **kw)
    ref.load_state_dict({k: torch.tensor(v) for k, v in ours2.state_dict().items()})
    assert relative_error(ours2(x).data, ref(torch.tensor(x)).detach().numpy()) < TOL


def test_conv1d_state_dict_moves_from_torch():
    torch.manual_seed(1)
    ref = torch.nn.Conv1d(2, 4, 5, stride=2, padding=2).double()
    ours = nn.Conv1d(2, 4, 5, stride=2, padding=2, dtype=np.float64)
    ours.load_state_dict(ref.state_dict())
    x = np.random.default_rng(9).standard_normal((3, 2, 17))
    assert relative_error(ours(x).data, ref(torch.tensor(x)).detach().numpy()) < TOL
    assert ours.weight.shape == tuple(ref.weight.shape) == (4, 2, 5)


@pytest.mark.parametrize("shape", [(8, 3, 3, 3), (16, 2, 5, 1), (6, 1, 3), (4, 4, 2, 2)])
def test_fans_equal_torch(shape):
    ours = tw.init.calculate_fan_in_and_fan_out(tw.Tensor(np.zeros(shape)))
    assert ours == torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


@pytest.mark.parametrize("cls,args,fan_in", [
    (nn.Conv2d, (16, 32, 3), 16 * 9),
    (nn.Conv2d, (16, 32, (3, 5), 1, 0, 1, 4), 4 * 15),
    (nn.Conv1d, (8, 64, 7), 8 * 7),
])
def test_default_init_bounds_follow_pytorch(cls, args, fan_in):
    layer = cls(*args, generator=tw.Generator(0))
    ref = getattr(torch.nn, cls.__name__)(*args)
    bound = 1.0 / math.sqrt(fan_in)
    torch_bound = 1.0 / math.sqrt(torch.nn.init._calculate_fan_in_and_fan_out(ref.weight)[0])
    assert bound == pytest.approx(torch_bound)
    w, b = layer.weight.data, layer.bias.data
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert np.abs(b).max() <= bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.1)
    # PyTorch's draw has the same spread
    assert ref.weight.detach().std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)


def test_other_init_and_reproducible_generator():
    a = nn.Conv2d(3, 8, 3, init="he_normal", nonlinearity="relu", generator=tw.Generator(1))
    assert (a.bias.data == 0).all()
    assert a.weight.data.std() == pytest.approx(math.sqrt(2 / 27), rel=0.2)
    b = nn.Conv2d(3, 8, 3, generator=tw.Generator(2))
    c = nn.Conv2d(3, 8, 3, generator=tw.Generator(2))
    assert np.array_equal(b.weight.data, c.weight.data) and np.array_equal(b.bias.data, c.bias.data)


def test_float32_stays_float32():
    layer = nn.Conv2d(3, 4, 3, padding=1)
    assert layer.weight.dtype == np.float32
    x = tw.Tensor(np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32), requires_grad=True)
    y = layer(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == layer.weight.grad.dtype == layer.bias.grad.dtype == np.float32
    y1 = nn.Conv1d(3, 2, 3)(tw.Tensor(np.ones((1, 3, 5), np.float32)))
    assert y1.dtype == np.float32 and y1.shape == (1, 2, 3)


def test_output_size_formula():
    for h, k, s, p, d in itertools.product([7, 28], [1, 3, 4], [1, 2, 3], [0, 1, 2], [1, 2]):
        if h + 2 * p < d * (k - 1) + 1:
            continue
        ref = TF.conv2d(torch.zeros(1, 1, h, h), torch.zeros(1, 1, k, k), stride=s, padding=p, dilation=d).shape[-1]
        assert conv_output_size(h, k, s, p, d) == ref


def test_a_small_cnn_trains():
    # end to end: conv -> relu -> pool -> linear learns to tell a bright left half from a bright right half
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 1, 8, 8)) * 0.1
    y = rng.integers(0, 2, 32)
    x[y == 0, :, :, :4] += 1.0
    x[y == 1, :, :, 4:] += 1.0
    gen = tw.Generator(0)
    conv = nn.Conv2d(1, 4, 3, padding=1, dtype=np.float64, generator=gen)
    head = nn.Linear(4 * 16, 2, dtype=np.float64, generator=gen)
    pool = nn.MaxPool2d(2)
    params = [conv.weight, conv.bias, head.weight, head.bias]

    def loss_fn():
        h = pool(conv(x).clip(0, None))
        logits = head(h.reshape((32, -1)))
        z = logits - logits.max(axis=1, keepdims=True)
        logp = z - z.exp().sum(axis=1, keepdims=True).log()
        return -logp[np.arange(32), y].mean()

    first = loss_fn().item()
    for _ in range(30):
        for p in params:
            p.grad = None
        loss = loss_fn()
        loss.backward()
        for p in params:
            p.data -= 0.5 * p.grad
    assert loss_fn().item() < 0.3 * first


# ------------------------------------------------- layouts, blocks and the fused ReLU
import trainwise.functional.conv as conv_module  # noqa: E402


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("flat_waste,block_bytes,piece", [(0.0, 1 << 20, 10 ** 6), (1.5, 1 << 20, 10 ** 6),
                                                           (0.0, 1, 700), (1.5, 1, 700), (4.0, 3000, 5000)])
def test_layouts_and_blocks_match_torch(monkeypatch, flat_waste, block_bytes, piece):
    # the narrow and the flat backward layouts, one image per block (and a partial last block),
    # products cut into pieces: every combination gives torch's numbers
    monkeypatch.setattr(conv_module, "FLAT_WASTE", flat_waste)
    monkeypatch.setattr(conv_module, "COLUMN_BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(conv_module, "PRODUCT_MACS", piece)
    rng = np.random.default_rng(7)
    cases = [dict(padding=1), dict(padding="same", dilation=2), dict(padding=0, groups=2),
             dict(padding=(2, 0), stride=(2, 1)), dict(padding=(0, 1), stride=(1, 2), dilation=(2, 1))]
    for kw in cases:
        for kernel in [(3, 3), (2, 3)]:
            x = rng.standard_normal((5, 4, 9, 8))
            w = rng.standard_normal((6, 4 // kw.get("groups", 1)) + kernel)
            b = rng.standard_normal(6)
            for ours, ref in _torch_and_ours(conv2d, TF.conv2d, x, w, b, **kw):
                assert relative_error(ours, ref) < TOL
    x1 = rng.standard_normal((5, 4, 13))
    w1 = rng.standard_normal((6, 2, 5))
    for ours, ref in _torch_and_ours(conv1d, TF.conv1d, x1, w1, None, padding=2, groups=2):
        assert relative_error(ours, ref) < TOL


def test_images_split_between_threads_give_the_same_numbers(monkeypatch):
    # two worker ranges (odd N, one image per block in one case): the same values as one thread

    rng = np.random.default_rng(11)
    x, w, b = rng.standard_normal((5, 4, 9, 8)), rng.standard_normal((6, 4, 3, 3)), rng.standard_normal(6)
    results = []
    for threads, block_bytes in [(1, 1 << 20), (2, 1 << 20), (3, 1)]:
        monkeypatch.setattr(conv_module, "blas_threads", lambda t=threads: t)
        monkeypatch.setattr(conv_module, "THREAD_MIN_WORK", 0)
        monkeypatch.setattr(conv_module, "SPLIT_IMAGES", True)
        monkeypatch.setattr(conv_module, "COLUMN_BLOCK_BYTES", block_bytes)
        for flat in (0.0, 4.0):
            monkeypatch.setattr(conv_module, "FLAT_WASTE", flat)
            results.append(_torch_and_ours(conv2d, TF.conv2d, x, w, b, padding=1))
    for pairs in results:
        for ours, ref in pairs:
            assert relative_error(ours, ref) < TOL
    assert conv_module._image_ranges(5, 1) == [(0, 1), (1, 3), (3, 5)]  # the last setting did split


def test_split_holds_blas_to_one_thread_and_restores_it():
    # the k ranges are the k threads of the user's budget: inside them NumPy's BLAS may use
    # one thread only, and the count is back after (also when a range raises)
    from threadpoolctl import threadpool_limits

    from trainwise.backend import blas_controllers, blas_threads

    with threadpool_limits(limits=2, user_api="blas"):
        budget = blas_threads()
        seen = []
        conv_module._run([lambda: seen.append(blas_threads()), lambda: seen.append(blas_threads())])
        assert seen == [1, 1]
        assert blas_threads() == budget

        def fail():
            raise RuntimeError("range failed")

        with pytest.raises(RuntimeError, match="range failed"):
            conv_module._run([fail, lambda: None])
        assert blas_threads() == budget
        assert budget == (2 if blas_controllers() else 1)


def test_flat_layout_is_used_only_when_it_pays(monkeypatch):
    # the flat backward is taken for stride 1 with an input gradient (and a padded grid at most
    # FLAT_WASTE times the output: 14² ≤ 1.5·12²), else the narrow one
    seen = []
    real = conv_module._im2col_flat
    monkeypatch.setattr(conv_module, "_im2col_flat", lambda *a: seen.append(1) or real(*a))
    rng = np.random.default_rng(8)
    w = tw.Tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    conv2d(tw.Tensor(rng.standard_normal((2, 2, 12, 12)), requires_grad=True), w, padding=1).sum().backward()
    assert len(seen) == 1
    conv2d(tw.Tensor(rng.standard_normal((2, 2, 12, 12))), w, padding=1).sum().backward()  # no dX
    conv2d(tw.Tensor(rng.standard_normal((2, 2, 12, 12)), requires_grad=True), w, stride=2).sum().backward()
    small = tw.Tensor(rng.standard_normal((2, 2, 5, 5)), requires_grad=True)
    conv2d(small, w, padding=1).sum().backward()  # 7² > 1.5·5²
    assert len(seen) == 1


@pytest.mark.parametrize("cls,shape,kw", [(nn.Conv2d, (3, 2, 7, 6), dict(padding=1)),
                                          (nn.Conv2d, (3, 4, 7, 6), dict(stride=2, groups=2)),
                                          (nn.Conv1d, (3, 2, 11), dict(padding=2, dilation=2))])
def test_sequential_fuses_conv_relu_with_the_same_numbers(cls, shape, kw):
    rng = np.random.default_rng(9)
    x = rng.standard_normal(shape)
    x.flat[::5] = 0.0  # exact zeros: the ReLU's gradient at 0 is 0, as torch's
    gen = tw.Generator(3)
    fused = nn.Sequential(cls(shape[1], 4, 3, dtype=np.float64, generator=gen, **kw), nn.ReLU())
    plain = nn.Sequential(cls(shape[1], 4, 3, dtype=np.float64, **kw), nn.ReLU())
    plain.load_state_dict(fused.state_dict())
    calls = []
    plain[1].register_forward_hook(lambda m, i, o: calls.append(1))  # a hook turns the fusion off
    X1, X2 = tw.Tensor(x, requires_grad=True), tw.Tensor(x, requires_grad=True)
    y1, y2 = fused(X1), plain(X2)
    assert y1._op.endswith("_relu") and y2._op == "relu" and calls == [1]
    assert list(fused.state_dict()) == ["0.weight", "0.bias"]
    g = rng.standard_normal(y1.shape)
    y1.backward(g)
    y2.backward(g)
    np.testing.assert_array_equal(y1.data, y2.data)
    for a, b in [(X1.grad, X2.grad), (fused[0].weight.grad, plain[0].weight.grad),
                 (fused[0].bias.grad, plain[0].bias.grad)]:
        assert relative_error(a, b) < TOL
    # and against torch
    tconv = (torch.nn.Conv2d if cls is nn.Conv2d else torch.nn.Conv1d)(shape[1], 4, 3, dtype=torch.float64, **kw)
    tconv.load_state_dict({k[2:]: torch.tensor(v) for k, v in fused.state_dict().items()})
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.relu(tconv(xt))
    yt.backward(torch.tensor(g))
    assert relative_error(y1.data, yt.detach().numpy()) < TOL
    assert relative_error(X1.grad, xt.grad.numpy()) < TOL
    assert relative_error(fused[0].weight.grad, tconv.weight.grad.numpy()) < TOL


def test_fused_conv_relu_gradcheck():
    from trainwise.functional.conv import conv_nd

    rng = np.random.default_rng(10)
    x, w, b = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)

    def f(x, w, b):
        return conv_nd("conv2d", x, w, b, (1, 1), ((1, 1), (1, 1)), (1, 1), 1, 2, relu=True)

    assert gradcheck(f, x, w, b) < 1e-6


# ------------------------------------------------------------------- errors
def test_errors_name_the_argument():
    w4 = tw.Tensor(np.zeros((4, 3, 3, 3)))
    with pytest.raises(ValueError, match=r"Conv2d: 'input' must be 4-D \(N, C, H, W\); got shape \(3, 8, 8\)"):
        nn.Conv2d(3, 4, 3)(np.zeros((3, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"Conv1d: 'input' must be 3-D \(N, C, L\); got shape \(2, 3, 8, 8\)"):
        nn.Conv1d(3, 4, 3)(np.zeros((2, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"Conv2d: 'input' must have 3 channels \(axis 1\).*got input of shape \(2, 5, 8, 8\)"):
        nn.Conv2d(3, 4, 3)(np.zeros((2, 5, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"conv2d: the kernel's effective size \(5, 5\).*exceeds the padded input \(4, 4\)"):
        conv2d(np.zeros((1, 3, 2, 2)), w4, padding=1, dilation=2)
    with pytest.raises(ValueError, match=r"Conv2d: 'in_channels' \(6\) must be divisible by 'groups' \(4\)"):
        nn.Conv2d(6, 8, 3, groups=4)
    with pytest.raises(ValueError, match=r"Conv2d: 'out_channels' \(6\) must be divisible by 'groups' \(4\)"):
        nn.Conv2d(8, 6, 3, groups=4)
    with pytest.raises(ValueError, match=r"Conv2d: 'out_channels' must be a positive int; got 0"):
        nn.Conv2d(3, 0, 3)
    with pytest.raises(ValueError, match=r"Conv2d: 'kernel_size' must be positive; got \(3, 0\)"):
        nn.Conv2d(3, 4, (3, 0))
    with pytest.raises(ValueError, match=r"Conv2d: 'stride' must be positive; got 0"):
        nn.Conv2d(3, 4, 3, stride=0)
    with pytest.raises(ValueError, match=r"Conv2d: 'padding' must be non-negative; got -1"):
        nn.Conv2d(3, 4, 3, padding=-1)
    with pytest.raises(ValueError, match=r"'padding' must be an int, a tuple of 2 ints, 'same' or 'valid'; got 'full'"):
        nn.Conv2d(3, 4, 3, padding="full")
    with pytest.raises(ValueError, match=r"Conv2d: padding='same' needs stride 1"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"Conv1d: 'kernel_size' must be an int; got \(3, 3\)"):
        nn.Conv1d(3, 4, (3, 3))
    with pytest.raises(ValueError, match=r"Conv2d: 'groups' must be a positive int; got 0"):
        nn.Conv2d(3, 4, 3, groups=0)
    with pytest.raises(ValueError, match=r"conv2d: 'weight' must be 4-D"):
        conv2d(np.zeros((1, 3, 5, 5)), tw.Tensor(np.zeros((4, 3, 3))))
    with pytest.raises(ValueError, match=r"conv2d: 'bias' must have shape \(4,\); got \(3,\)"):
        conv2d(np.zeros((1, 3, 5, 5)), w4, tw.Tensor(np.zeros(3)))
    with pytest.raises(ValueError, match=r"conv2d: 'weight' has 4 output channels, which 'groups'=3 does not divide"):
        conv2d(np.zeros((1, 3, 5, 5)), tw.Tensor(np.zeros((4, 1, 3, 3))), groups=3)
    with pytest.raises(TypeError, match=r"conv2d: 'input' and 'weight' must have the same dtype; got float32 and float64"):
        conv2d(np.zeros((1, 3, 5, 5), np.float32), w4)
    with pytest.raises(TypeError, match=r"Conv2d: 'input' must have a floating dtype; got uint8"):
        nn.Conv2d(3, 4, 3)(np.zeros((1, 3, 5, 5), np.uint8))


# ------------------------------------------------- the backward as shifted products
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("kw", [dict(padding=1), dict(padding=0), dict(padding=(2, 0), dilation=(1, 2)),
                                dict(padding="same", dilation=2)])
@pytest.mark.parametrize("kernel", [(3, 3), (2, 3), (1, 2)])
def test_shifted_backward_matches_torch(monkeypatch, kw, kernel):
    # every stride-1 layer of 4+ input channels takes the shifted backward here, whatever its grid
    monkeypatch.setattr(conv_module, "SHIFT_MIN_POSITIONS", 0)
    monkeypatch.setattr(conv_module, "FLAT_WASTE", 100.0)
    calls = []
    real = conv_module._shifted_backward
    monkeypatch.setattr(conv_module, "_shifted_backward", lambda *a: calls.append(1) or real(*a))
    rng = np.random.default_rng(12)
    x, w, b = rng.standard_normal((3, 4, 9, 8)), rng.standard_normal((5, 4) + kernel), rng.standard_normal(5)
    for bias in (b, None):
        for ours, ref in _torch_and_ours(conv2d, TF.conv2d, x, w, bias, **kw):
            assert relative_error(ours, ref) < TOL
    assert calls == [1, 1]
    x1, w1 = rng.standard_normal((2, 6, 17)), rng.standard_normal((3, 6, 4))
    for ours, ref in _torch_and_ours(conv1d, TF.conv1d, x1, w1, b[:3], padding=1, dilation=2):
        assert relative_error(ours, ref) < TOL
    assert calls == [1, 1, 1]


def test_shifted_backward_partial_requires_grad_relu_and_threads(monkeypatch):
    from trainwise.functional.conv import conv_nd

    monkeypatch.setattr(conv_module, "SHIFT_MIN_POSITIONS", 0)
    monkeypatch.setattr(conv_module, "FLAT_WASTE", 100.0)
    rng = np.random.default_rng(13)
    x, w, b = rng.standard_normal((5, 4, 7, 6)), rng.standard_normal((3, 4, 3, 3)), rng.standard_normal(3)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch.relu(TF.conv2d(xt, wt, bt, padding=1))
    g = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(g))
    for threads in (1, 2, 3):  # images split between worker ranges: the same numbers
        monkeypatch.setattr(conv_module, "blas_threads", lambda t=threads: t)
        monkeypatch.setattr(conv_module, "THREAD_MIN_WORK", 0)
        monkeypatch.setattr(conv_module, "SPLIT_IMAGES", True)
        for need in [(True, True, True), (False, True, True), (True, False, False), (False, True, False)]:
            X, W, B = (tw.Tensor(a, requires_grad=r) for a, r in zip((x, w, b), need))
            y = conv_nd("conv2d", X, W, B, (1, 1), ((1, 1), (1, 1)), (1, 1), 1, 2, relu=True)
            assert relative_error(y.data, yt.detach().numpy()) < TOL
            y.backward(g)
            for T, ref, r in [(X, xt, need[0]), (W, wt, need[1]), (B, bt, need[2])]:
                if r:
                    assert relative_error(T.grad, ref.grad.numpy()) < TOL
                else:
                    assert T.grad is None


def test_shifted_backward_gradcheck(monkeypatch):
    from trainwise.functional.conv import conv_nd

    monkeypatch.setattr(conv_module, "SHIFT_MIN_POSITIONS", 0)
    monkeypatch.setattr(conv_module, "FLAT_WASTE", 100.0)
    rng = np.random.default_rng(14)
    x, w, b = rng.standard_normal((2, 4, 5, 5)), rng.standard_normal((3, 4, 2, 3)), rng.standard_normal(3)

    def f(x, w, b):
        return conv_nd("conv2d", x, w, b, (1, 1), ((1, 0), (1, 1)), (2, 1), 1, 2, relu=True)

    assert gradcheck(f, x, w, b) < 1e-6


def test_shifted_backward_is_taken_where_it_pays(monkeypatch):
    # cnn-small's second layer (8 channels, 30x30 padded grid) takes it; one input channel,
    # a short signal, a stride or groups keep the im2col backward
    seen = []
    real = conv_module._shifted_backward
    monkeypatch.setattr(conv_module, "_shifted_backward", lambda *a: seen.append(1) or real(*a))
    rng = np.random.default_rng(15)

    def run(xs, ws, **kw):
        f = conv2d if len(xs) == 4 else conv1d
        f(tw.Tensor(rng.standard_normal(xs), requires_grad=True), tw.Tensor(rng.standard_normal(ws)), **kw)
        return len(seen)

    assert run((2, 8, 28, 28), (16, 8, 3, 3), padding=1) == 1
    assert run((2, 1, 28, 28), (8, 1, 3, 3), padding=1) == 1
    assert run((2, 32, 40), (32, 32, 5), padding=2) == 1
    assert run((2, 8, 28, 28), (16, 8, 3, 3), padding=1, stride=2) == 1
    assert run((2, 8, 28, 28), (16, 4, 3, 3), padding=1, groups=2) == 1


def test_mid_size_products_run_on_one_blas_thread(monkeypatch):
    # backend.product, once the process has used trainwise's worker threads: between OpenBLAS's own threading threshold and SMALL_PRODUCT_MACS the
    # product runs on one thread (so OpenBLAS's worker is never woken to spin), and the count is
    # restored; outside that range, and for non-2-D operands, the budget is left alone
    from threadpoolctl import threadpool_limits

    import trainwise.backend as backend

    seen = []
    real = backend.one_blas_thread

    class Spy(real):
        def __enter__(self):
            r = super().__enter__()
            seen.append(backend.blas_threads())
            return r

    monkeypatch.setattr(backend, "one_blas_thread", Spy)
    rng = np.random.default_rng(16)
    with threadpool_limits(limits=2, user_api="blas"):
        budget = backend.blas_threads()
        a, b = rng.standard_normal((64, 3136)).astype(np.float32), rng.standard_normal((3136, 10)).astype(np.float32)
        monkeypatch.setattr(backend, "_own_threads_used", False)
        backend.product(a, b)  # no worker threads used yet: nothing to protect, no hold
        assert seen == []
        backend.run_in_threads([lambda: None, lambda: None])
        assert backend._own_threads_used
        np.testing.assert_array_equal(backend.product(a, b), a @ b)  # 2.0M multiply-adds: held
        assert seen == [1] and backend.blas_threads() == budget
        backend.product(a[:8], b)  # 0.25M: OpenBLAS keeps it on one thread by itself
        backend.product(rng.standard_normal((256, 1024)), rng.standard_normal((1024, 1024)))  # 268M
        backend.product(a[0], b)  # 1-D
        assert seen == [1] and backend.blas_threads() == budget
        assert budget == (2 if backend.blas_controllers() else 1)
