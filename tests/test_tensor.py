"""The autograd core: finite-difference gradient checks for every op, PyTorch parity,
graph semantics (accumulation, no_grad, seeds), error messages and dtype preservation."""
import numpy as np
import pytest
import torch

import trainwise as tw
from trainwise import tensor as T
from trainwise.testing import gradcheck, relative_error

TOL = 1e-6
BROADCAST_PAIRS = [
    ((3, 1), (1, 4)),
    ((2, 3, 4), (4,)),
    ((1,), (5, 1)),
    ((2, 3), (2, 3)),
    ((), (3, 2)),
    ((4, 1, 3), (2, 1)),
]


def rng(seed=0):
    return np.random.default_rng(seed)


def away_from_zero(shape, seed, low=0.3):
    """Random values with |x| in [low, low + 1], so kinks and poles are far from x ± eps."""
    r = rng(seed)
    return r.choice([-1.0, 1.0], size=shape) * (low + r.random(shape))


def positive(shape, seed, low=0.5):
    return low + rng(seed).random(shape)


# ----------------------------------------------------------- binary, broadcasting
@pytest.mark.parametrize("sa,sb", BROADCAST_PAIRS)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "where"])
def test_binary_op_gradients_with_broadcasting(op, sa, sb):
    a = away_from_zero(sa, 1)
    b = away_from_zero(sb, 2)
    if op == "pow":
        a = positive(sa, 1)  # a^b with a tensor exponent needs a > 0
    fns = {
        "add": lambda x, y: x + y,
        "sub": lambda x, y: x - y,
        "mul": lambda x, y: x * y,
        "div": lambda x, y: x / y,
        "pow": lambda x, y: x**y,
        "maximum": tw.maximum,
        "minimum": tw.minimum,
        "where": lambda x, y: tw.where(np.broadcast_to(np.arange(np.broadcast(a, b).size).reshape(
            np.broadcast(a, b).shape) % 3 == 0, np.broadcast(a, b).shape), x, y),
    }
    assert gradcheck(fns[op], a, b) < TOL


@pytest.mark.parametrize("shape", [(), (5,), (3, 1), (2, 3, 4)])
@pytest.mark.parametrize("op", ["neg", "exp", "log", "sqrt", "abs", "clip", "clip_min", "clip_max",
                                "pow2", "pow3", "pow_half", "pow_neg", "rpow", "rsub", "rdiv",
                                "scalar-arith"])
def test_unary_op_gradients(op, shape):
    x = away_from_zero(shape, 3)
    if op in ("log", "sqrt", "pow_half", "pow_neg", "scalar-arith"):
        x = positive(shape, 3)
    if op.startswith("clip"):
        # keep every value at least 0.05 from the bounds -0.6 and 0.6
        x = np.where(np.abs(np.abs(x) - 0.6) < 0.05, x * 1.3, x)
    fns = {
        "neg": lambda t: -t,
        "exp": lambda t: t.exp(),
        "log": lambda t: t.log(),
        "sqrt": lambda t: t.sqrt(),
        "abs": lambda t: t.abs(),
        "clip": lambda t: t.clip(-0.6, 0.6),
        "clip_min": lambda t: t.clip(min=-0.6),
        "clip_max": lambda t: t.clamp(max=0.6),
        "pow2": lambda t: t**2,
        "pow3": lambda t: t**3,
        "pow_half": lambda t: t**0.5,
        "pow_neg": lambda t: t**-1.5,
        "rpow": lambda t: 2.0**t,
        "rsub": lambda t: 1.0 - t,
        "rdiv": lambda t: 2.0 / t,
        "scalar-arith": lambda t: ((t + 2) * 3 - 1) / 4 + (2 + t) * (0.5 * t) - (1 - t) + 3 / t,
    }
    assert gradcheck(fns[op], x) < TOL


def test_pow_zero_exponent_has_zero_gradient_even_at_zero():
    x = tw.Tensor(np.array([0.0, 2.0, -1.0]), requires_grad=True)
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])


def test_tensor_exponent_gradient_matches_torch_at_zero_base():
    base = np.array([2.0, 0.0, 3.0])
    p = np.array([0.5, 1.5, -0.5])
    tp = tw.Tensor(p, requires_grad=True)
    (tw.Tensor(base) ** tp).sum().backward()
    pt = torch.tensor(p, requires_grad=True)
    (torch.tensor(base) ** pt).sum().backward()
    np.testing.assert_allclose(tp.grad, pt.grad.numpy(), rtol=1e-12)


# ------------------------------------------------------------------------ matmul
MATMUL_SHAPES = [
    ((3, 4), (4, 5)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((2, 3, 4), (4, 5)),
    ((3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((2, 3, 4), (4,)),
    ((4,), (2, 4, 3)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_gradients(sa, sb):
    a, b = rng(4).standard_normal(sa), rng(5).standard_normal(sb)
    assert gradcheck(lambda x, y: x @ y, a, b) < TOL


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_matches_torch(sa, sb):
    a, b = rng(4).standard_normal(sa), rng(5).standard_normal(sb)
    ta, tb = tw.Tensor(a, requires_grad=True), tw.Tensor(b, requires_grad=True)
    out = ta @ tb
    pa, pb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    pout = pa @ pb
    assert out.shape == tuple(pout.shape)
    g = rng(6).standard_normal(out.shape)
    out.backward(g)
    pout.backward(torch.tensor(g))
    assert relative_error(out.data, pout.detach().numpy()) < 1e-12
    assert relative_error(ta.grad, pa.grad.numpy()) < 1e-12
    assert relative_error(tb.grad, pb.grad.numpy()) < 1e-12


def test_matmul_with_constant_operand_only_grads_the_variable():
    w = tw.Tensor(rng(1).standard_normal((4, 3)), requires_grad=True)
    x = rng(2).standard_normal((2, 5, 4))
    (tw.Tensor(x) @ w).sum().backward()
    np.testing.assert_allclose(w.grad, x.reshape(-1, 4).sum(0)[:, None].repeat(3, 1), rtol=1e-12)


# -------------------------------------------------------------------- reductions
AXES = [None, 0, -1, 1, (0, 2), (-1, -3), (2, 0, 1)]


@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("op", ["sum", "mean", "max", "min", "var", "std"])
def test_reduction_gradients(op, axis, keepdims):
    x = rng(7).standard_normal((2, 3, 4))  # continuous draws: no ties in max/min
    assert gradcheck(lambda t: getattr(t, op)(axis=axis, keepdims=keepdims), x) < TOL


@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("op", ["sum", "mean", "max", "min", "var"])
def test_reduction_values_match_torch(op, axis, keepdims):
    x = rng(8).standard_normal((2, 3, 4))
    dim = tuple(range(3)) if axis is None else axis
    torch_fn = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax, "min": torch.amin,
                "var": torch.var}[op]
    got = getattr(tw.Tensor(x), op)(axis=axis, keepdims=keepdims)
    want = torch_fn(torch.tensor(x), dim=dim, keepdim=keepdims).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got.data, want, rtol=1e-12)


def test_var_correction_zero_and_reduction_of_size_one_axis():
    x = rng(9).standard_normal((3, 1, 4))
    got = tw.Tensor(x).var(axis=(0, 2), correction=0).data
    np.testing.assert_allclose(got, torch.tensor(x).var(dim=(0, 2), correction=0).numpy(), rtol=1e-12)
    assert gradcheck(lambda t: t.var(axis=0, correction=0), x) < TOL
    assert gradcheck(lambda t: t.sum(axis=1), x) < TOL  # a size-1 reduced axis


@pytest.mark.parametrize("op,torch_op", [("max", torch.amax), ("min", torch.amin)])
def test_extreme_ties_share_the_gradient_like_torch(op, torch_op):
    x = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, -1.0], [5.0, 1.0, 5.0, 5.0]])
    if op == "min":
        x = -x
    for axis in (None, 0, 1):
        t = tw.Tensor(x, requires_grad=True)
        p = torch.tensor(x, requires_grad=True)
        getattr(t, op)(axis=axis).sum().backward()
        dim = (0, 1) if axis is None else axis
        torch_op(p, dim=dim).sum().backward()
        np.testing.assert_allclose(t.grad, p.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("fn,torch_fn", [(tw.maximum, torch.maximum), (tw.minimum, torch.minimum)])
def test_maximum_minimum_ties_split_like_torch(fn, torch_fn):
    a = np.array([1.0, 2.0, 3.0, 2.0])
    b = np.array([1.0, 0.0, 3.0, 5.0])
    ta, tb = tw.Tensor(a, requires_grad=True), tw.Tensor(b, requires_grad=True)
    pa, pb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    fn(ta, tb).sum().backward()
    torch_fn(pa, pb).sum().backward()
    np.testing.assert_array_equal(ta.grad, pa.grad.numpy())
    np.testing.assert_array_equal(tb.grad, pb.grad.numpy())
    assert ta.grad[0] == 0.5 and tb.grad[0] == 0.5


def test_clip_and_abs_at_their_kinks_match_torch():
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    t = tw.Tensor(x, requires_grad=True)
    p = torch.tensor(x, requires_grad=True)
    (t.clip(-0.5, 0.5) + t.abs()).sum().backward()
    (p.clamp(-0.5, 0.5) + p.abs()).sum().backward()
    np.testing.assert_array_equal(t.grad, p.grad.numpy())


# ------------------------------------------------------------------------- shape
@pytest.mark.parametrize("fn", [
    lambda t: t.reshape(6, -1),
    lambda t: t.reshape((24,)),
    lambda t: t.reshape(4, 1, 6),
    lambda t: t.T,
    lambda t: t.transpose(0, 2),
    lambda t: t.transpose(-2, -1),
    lambda t: t.permute(2, 0, 1),
    lambda t: t.transpose((1, 2, 0)),
    lambda t: t.flatten(1),
    lambda t: t.unsqueeze(1).squeeze(1),
    lambda t: t.swapaxes(0, 1),
], ids=["reshape", "reshape-tuple", "reshape-size1", "T", "transpose02", "transpose-neg", "permute",
        "transpose-tuple", "flatten", "unsqueeze-squeeze", "swapaxes"])
def test_shape_op_gradients(fn):
    assert gradcheck(fn, rng(10).standard_normal((2, 3, 4))) < TOL


def test_two_axis_transpose_swaps_on_2d_like_torch():
    x = rng(11).standard_normal((2, 3))
    for args in [(0, 1), (-2, -1), (1, 0)]:
        assert tw.Tensor(x).transpose(*args).shape == tuple(torch.tensor(x).transpose(*args).shape) == (3, 2)
    np.testing.assert_array_equal(tw.Tensor(x).transpose(0, 1).data, x.T)
    assert tw.Tensor(x).permute(0, 1).shape == (2, 3)


@pytest.mark.parametrize("index", [
    (slice(1, 3), slice(None, None, 2)),
    (Ellipsis, 1),
    (None, 0),
    (slice(None, None, -1),),
    (1, 2, 3),
    np.array([0, 0, 2, 1, 0]),
    [2, -1, 2],
    (slice(None), np.array([0, 0, 3])),
    (np.array([0, 1, 1]), np.array([[1], [1]]), slice(1, 3)),
    "bool_mask",
    "row_mask",
    (np.array([True, False, True]), slice(None), 1),
], ids=["slices", "ellipsis", "newaxis", "reverse", "scalar", "int-array-repeats", "list-negative",
        "int-array-axis1", "broadcast-int-arrays", "bool-mask", "row-mask", "mask-in-tuple"])
def test_getitem_gradients(index):
    x = rng(12).standard_normal((3, 4, 5))
    if isinstance(index, str):
        index = x > 0.2 if index == "bool_mask" else np.array([True, False, True])
    assert gradcheck(lambda t: t[index], x) < TOL


def test_getitem_repeats_accumulate_and_match_torch():
    x = rng(13).standard_normal((4, 3))
    idx = np.array([[0, 3], [3, 3], [1, 0]])
    g = rng(14).standard_normal((3, 2, 3))
    t = tw.Tensor(x, requires_grad=True)
    t[tw.Tensor(idx)].backward(g)
    p = torch.tensor(x, requires_grad=True)
    p[torch.tensor(idx)].backward(torch.tensor(g))
    np.testing.assert_allclose(t.grad, p.grad.numpy(), rtol=1e-12)
    v = tw.Tensor(x[:, 0], requires_grad=True)  # the 1-D path
    v[np.array([1, 1, -1])].sum().backward()
    np.testing.assert_array_equal(v.grad, [0.0, 2.0, 0.0, 1.0])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_and_stack_gradients(axis):
    a, b, c = (rng(s).standard_normal((2, 3)) for s in (15, 16, 17))
    if axis == 0:
        b = rng(16).standard_normal((4, 3))
        assert gradcheck(lambda x, y: tw.concatenate([x, y, x], axis=0), a, b) < TOL
    else:
        b = rng(16).standard_normal((2, 1))
        assert gradcheck(lambda x, y: tw.cat([x, y], axis=axis), a, b) < TOL
    assert gradcheck(lambda x, y: tw.stack([x, y, x], axis=axis), a, c) < TOL


@pytest.mark.parametrize("width", [1, (1, 2), ((1, 2), (0, 3)), ((0, 0), (2, 1))])
def test_pad_gradient_and_values(width):
    x = rng(18).standard_normal((2, 3))
    assert gradcheck(lambda t: tw.pad(t, width, value=0.5), x) < TOL
    np.testing.assert_array_equal(tw.pad(tw.Tensor(x), width, value=0.5).data,
                                  np.pad(x, width, constant_values=0.5))


def test_cast_gradient_goes_back_in_the_source_dtype():
    x = tw.Tensor(rng(19).standard_normal((3, 2)), requires_grad=True)
    y = x.astype(np.float32)
    assert y.dtype == np.float32 and y.requires_grad
    w = rng(20).standard_normal((3, 2)).astype(np.float32)
    (y * tw.Tensor(w)).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad, w.astype(np.float64))
    assert gradcheck(lambda t: t.double() * 2.0, rng(21).standard_normal(4)) < TOL  # same-dtype cast
    # a real round trip through another dtype that loses nothing: finite differences still apply
    assert gradcheck(lambda t: (t.astype(np.longdouble) * 3.0).astype(np.float64), rng(22).standard_normal(4)) < TOL
    assert not x.astype(np.int64).requires_grad  # integers carry no gradient, as in torch


# --------------------------------------------------------------- graph semantics
def test_tensor_used_twice_accumulates():
    x = rng(22).standard_normal((3,))
    t = tw.Tensor(x, requires_grad=True)
    (t * t + t).sum().backward()
    np.testing.assert_allclose(t.grad, 2 * x + 1, rtol=1e-14)
    assert gradcheck(lambda u: (u * u).sum() * u + u.exp() * u, x) < TOL


def test_grad_accumulates_across_backward_calls_like_torch():
    x = rng(23).standard_normal((2, 2))
    t = tw.Tensor(x, requires_grad=True)
    p = torch.tensor(x, requires_grad=True)
    for _ in range(2):
        (t * t).sum().backward()
        (p * p).sum().backward()
    np.testing.assert_allclose(t.grad, 4 * x, rtol=1e-14)
    np.testing.assert_allclose(t.grad, p.grad.numpy(), rtol=1e-14)


def test_no_grad_records_nothing():
    t = tw.Tensor(np.ones(3), requires_grad=True)
    with tw.no_grad():
        y = (t * 2).sum()
        assert not tw.is_grad_enabled()
        with tw.enable_grad():
            z = (t * 2).sum()
    assert tw.is_grad_enabled()
    assert not y.requires_grad and y._parents == () and y._backward is None
    assert z.requires_grad

    @tw.no_grad()
    def f(u):
        return u * 3

    assert not f(t).requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_backward_with_a_seed_for_a_non_scalar_output():
    x = rng(24).standard_normal((2, 3))
    seed = rng(25).standard_normal((2, 3))
    t = tw.Tensor(x, requires_grad=True)
    (t.exp() * 2).backward(seed)
    np.testing.assert_allclose(t.grad, seed * 2 * np.exp(x), rtol=1e-14)
    t2 = tw.Tensor(x, requires_grad=True)
    t2.backward(tw.Tensor(seed))  # a leaf as the root, seeded with a Tensor
    np.testing.assert_array_equal(t2.grad, seed)


def test_leaf_grad_is_a_private_copy():
    t = tw.Tensor(np.ones(3), requires_grad=True)
    seed = np.full(3, 2.0)
    t.backward(seed)
    t.grad[0] = 100.0
    assert seed[0] == 2.0
    a = tw.Tensor(np.ones(3), requires_grad=True)
    b = tw.Tensor(np.ones(3), requires_grad=True)
    (a + b).sum().backward()
    a.grad += 1  # an optimizer-style in-place update must not leak into b.grad
    np.testing.assert_array_equal(b.grad, [1.0, 1.0, 1.0])


def test_data_is_always_an_ndarray():
    t = tw.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    for y in [t.sum(), t[0, 1], t.max(), (t.sum() * 2), tw.Tensor(np.ones(3)) @ tw.Tensor(np.ones(3))]:
        assert isinstance(y.data, np.ndarray) and y.shape == ()


# ------------------------------------------------------ composed parity with torch
def _tw_expression(a, b, c, d, e):
    t1 = (a + b) * c - a / (b.abs() + 1)
    t2 = (t1**2 + a.exp() * 0.1).sqrt()
    t3 = (t2 + 1).log() - (-a).clip(-0.5, 0.5) + 2.0 ** (b * 0.3) - 1.0 / (c + 3)
    t4 = tw.where(a.data > 0, t3, tw.maximum(t3, b) + tw.minimum(a, c))
    t5 = t4 @ d  # (3, 5)
    t6 = e @ t4.T  # (2, 3, 3)
    parts = [
        t6.sum(axis=0),
        t6.mean(axis=-1, keepdims=True) * t5[:, :3],
        t6.max(axis=1),
        t6.min(axis=(0, 2), keepdims=True).reshape(3, 1),
        t6.var(axis=(0, -1)) ** 0.5,
        t5.T.reshape(3, 5)[:, np.array([0, 0, 2])],
        t6.permute(2, 0, 1)[:, 0],
        tw.pad(t5, ((1, 0), (0, 2)), value=0.25)[1:, 2:5],
        tw.concatenate([t5[:1, :3], t4[:2, :3]], axis=0),
        tw.stack([t5[:, 0], t4[:, 1], t2[:, 2]], axis=1),
        t5[t5.data > 0].sum().reshape(1, 1) * t4.transpose(-2, -1)[:3, :3] ** 3,
    ]
    return parts[0] + parts[2].sum(axis=0, keepdims=True) * 0.5 + parts[3] + parts[4] + parts[5] * parts[1] + parts[6] \
        + parts[7] + parts[8] / 2 + parts[9] + parts[10]


def _torch_expression(a, b, c, d, e):
    t1 = (a + b) * c - a / (b.abs() + 1)
    t2 = (t1**2 + a.exp() * 0.1).sqrt()
    t3 = (t2 + 1).log() - (-a).clamp(-0.5, 0.5) + 2.0 ** (b * 0.3) - 1.0 / (c + 3)
    t4 = torch.where(a > 0, t3, torch.maximum(t3, b) + torch.minimum(a, c))
    t5 = t4 @ d
    t6 = e @ t4.T
    parts = [
        t6.sum(dim=0),
        t6.mean(dim=-1, keepdim=True) * t5[:, :3],
        t6.amax(dim=1),
        t6.amin(dim=(0, 2), keepdim=True).reshape(3, 1),
        t6.var(dim=(0, -1)) ** 0.5,
        t5.T.reshape(3, 5)[:, torch.tensor([0, 0, 2])],
        t6.permute(2, 0, 1)[:, 0],
        torch.nn.functional.pad(t5, (0, 2, 1, 0), value=0.25)[1:, 2:5],
        torch.cat([t5[:1, :3], t4[:2, :3]], dim=0),
        torch.stack([t5[:, 0], t4[:, 1], t2[:, 2]], dim=1),
        t5[t5 > 0].sum().reshape(1, 1) * t4.transpose(-2, -1)[:3, :3] ** 3,
    ]
    return parts[0] + parts[2].sum(dim=0, keepdim=True) * 0.5 + parts[3] + parts[4] + parts[5] * parts[1] + parts[6] \
        + parts[7] + parts[8] / 2 + parts[9] + parts[10]


def test_composed_expression_matches_torch_values_and_gradients():
    shapes = [(3, 4), (4,), (3, 1), (4, 5), (2, 3, 4)]
    arrays = [rng(30 + i).standard_normal(s) for i, s in enumerate(shapes)]
    ours = [tw.Tensor(x, requires_grad=True) for x in arrays]
    theirs = [torch.tensor(x, requires_grad=True) for x in arrays]
    out = _tw_expression(*ours)
    pout = _torch_expression(*theirs)
    assert out.shape == tuple(pout.shape) == (2, 3, 3)
    assert relative_error(out.data, pout.detach().numpy()) < 1e-12
    seed = rng(40).standard_normal(out.shape)
    out.backward(seed)
    pout.backward(torch.tensor(seed))
    for t, p in zip(ours, theirs):
        assert relative_error(t.grad, p.grad.numpy()) < 1e-12
    assert gradcheck(_tw_expression, *arrays) < TOL


# ------------------------------------------------------------------- bad input
def test_matmul_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(3, 4\) and \(5, 2\) do not align"):
        tw.Tensor(np.ones((3, 4))) @ tw.Tensor(np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"\(4,\) and \(3,\)"):
        tw.Tensor(np.ones(4)) @ tw.Tensor(np.ones(3))
    with pytest.raises(ValueError, match="batch axes"):
        tw.Tensor(np.ones((2, 3, 4))) @ tw.Tensor(np.ones((3, 4, 5)))


def test_backward_on_non_scalar_needs_a_gradient_of_its_shape():
    y = tw.Tensor(np.ones((2, 3)), requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"'gradient' must be given.*shape \(2, 3\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"'gradient' must have the tensor's shape \(2, 3\); got \(3, 2\)"):
        y.backward(np.ones((3, 2)))


def test_requires_grad_on_an_int_tensor_is_refused():
    with pytest.raises(TypeError, match="requires_grad=True' needs a floating dtype; got data of dtype int64"):
        tw.Tensor(np.arange(3), requires_grad=True)
    with pytest.raises(TypeError, match="floating dtype; got int64"):
        tw.Tensor(np.arange(3)).requires_grad_()


def test_impossible_reshape_names_shape_and_target():
    with pytest.raises(ValueError, match=r"shape \(2, 3\) \(6 elements\) into 'shape' \(4, -1\)"):
        tw.Tensor(np.ones((2, 3))).reshape(4, -1)


@pytest.mark.parametrize("call,match", [
    (lambda t: t.sum(axis=3), r"'axis' 3 is out of range for a tensor with 3 dimensions"),
    (lambda t: t.mean(axis=(0, -3)), "must not repeat"),
    (lambda t: t.max(axis=1.5), "'axis' must be None, an int or a tuple of ints; got 1.5"),
    (lambda t: t.permute(0, 1), r"'axes' must be a permutation of the 3 axes.*\(0, 1\)"),
    (lambda t: t.transpose(0, 5), "'dim1' must be an int in"),
    (lambda t: tw.concatenate([t, t], axis=3), r"'axis' must be an int in \[-3, 3\); got 3"),
    (lambda t: tw.stack([t, t[:1]]), "must all have one shape"),
    (lambda t: tw.pad(t, -1), "'pad_width' must be non-negative"),
    (lambda t: tw.pad(t, 1.5), "'pad_width' must be ints"),
    (lambda t: tw.pad(t, 1, mode="reflect"), "'mode' must be 'constant'"),
    (lambda t: t.clip(), "at least one of 'min' and 'max'"),
    (lambda t: t.var(correction=-1), "'correction' must be a non-negative number"),
    (lambda t: t + tw.Tensor(np.ones((3, 3))), r"add: shapes \(2, 3, 4\) and \(3, 3\) do not broadcast"),
    (lambda t: t * np.ones(2), r"mul: shapes \(2, 3, 4\) and \(2,\) do not broadcast"),
    (lambda t: tw.maximum(t, np.ones(5)), "maximum: shapes"),
    (lambda t: tw.where(np.ones(7) > 0, t, 0.0), "where: shapes of 'cond' \\(7,\\)"),
], ids=["axis-range", "axis-repeat", "axis-type", "permute", "transpose", "cat-axis", "stack",
        "pad-neg", "pad-float", "pad-mode", "clip", "var-correction", "add-broadcast", "mul-broadcast",
        "maximum-broadcast", "where-broadcast"])
def test_bad_arguments_are_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(tw.Tensor(np.ones((2, 3, 4))))


# ---------------------------------------------------------------------- dtypes
def _ops_with_python_scalars(w):
    return {
        "add": lambda x: x + 1.5, "radd": lambda x: 1.5 + x, "sub": lambda x: x - 2, "rsub": lambda x: 2 - x,
        "mul": lambda x: x * 0.5, "rmul": lambda x: 0.5 * x, "div": lambda x: x / 3, "rdiv": lambda x: 3.0 / x,
        "np-scalar": lambda x: x * np.float64(0.5) + np.float64(1.0),
        "pow": lambda x: x**2, "pow-float": lambda x: x**0.5, "pow-np": lambda x: x ** np.float64(1.5),
        "rpow": lambda x: 2.0**x, "pow-tensor": lambda x: x ** (x * 0.5),
        "neg": lambda x: -x, "exp": lambda x: x.exp(), "log": lambda x: x.log(), "sqrt": lambda x: x.sqrt(),
        "abs": lambda x: x.abs(), "clip": lambda x: x.clip(0.1, 0.5), "clip-np": lambda x: x.clip(np.float64(0.2)),
        "where": lambda x: tw.where(x.data > 0.5, x, 0.0), "where-left": lambda x: tw.where(x.data > 0.5, 1.0, x),
        "maximum": lambda x: tw.maximum(x, 0.3), "minimum": lambda x: tw.minimum(0.3, x),
        "matmul": lambda x: x @ w, "rmatmul": lambda x: w.T @ x.T,
        "sum": lambda x: x.sum(axis=0), "mean": lambda x: x.mean(), "max": lambda x: x.max(axis=1),
        "min": lambda x: x.min(), "var": lambda x: x.var(axis=-1), "std": lambda x: x.std(),
        "reshape": lambda x: x.reshape(-1), "T": lambda x: x.T, "getitem": lambda x: x[[0, 0], 1:],
        "mask": lambda x: x[x.data > 0.5], "cat": lambda x: tw.cat([x, x], axis=1),
        "stack": lambda x: tw.stack([x, x]), "pad": lambda x: tw.pad(x, 1, value=0.0),
        "cast-same": lambda x: x.astype(x.dtype),
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_dtype_is_kept_through_every_op(dtype):
    w = tw.Tensor(np.ones((4, 2), dtype=dtype))
    for name, fn in _ops_with_python_scalars(w).items():
        x = tw.Tensor(positive((3, 4), 50, low=0.05).astype(dtype), requires_grad=True)
        out = fn(x)
        assert out.dtype == dtype, f"{name}: output is {out.dtype}"
        out.sum().backward()
        assert x.grad is not None and x.grad.dtype == dtype, f"{name}: gradient is {x.grad.dtype}"


def test_python_floats_become_the_default_dtype():
    assert tw.Tensor([1.0, 2.0]).dtype == np.float32
    assert tw.Tensor(np.array([1.0])).dtype == np.float64  # an ndarray keeps its dtype
    assert tw.Tensor(3).dtype.kind == "i"
    assert (tw.Tensor(np.arange(3, dtype=np.int32)) + 1).dtype == np.int32


# ------------------------------------------------------- constructors, generators
def test_constructors_use_the_default_dtype_and_validate_sizes():
    assert tw.zeros(2, 3).shape == (2, 3) and tw.zeros(2, 3).dtype == np.float32
    assert tw.ones((4,), dtype=np.float64).dtype == np.float64
    assert np.all(tw.full((2, 2), 1.5).data == 1.5)
    assert tw.arange(0, 1, 0.25).dtype == np.float32 and tw.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert tw.arange(1, 7, 2).tolist() == [1, 3, 5]
    assert tw.randn(3, 4).dtype == np.float32 and tw.rand(5).data.min() >= 0
    assert tw.zeros_like(tw.ones(2, dtype=np.float64)).dtype == np.float64
    assert tw.randn(2, requires_grad=True).requires_grad
    with pytest.raises(ValueError, match=r"'size' must be non-negative ints; got \(2, -1\)"):
        tw.zeros(2, -1)
    with pytest.raises(TypeError, match="'array' must be an ndarray; got list"):
        tw.from_numpy([1.0])


def test_seeded_draws_repeat_and_state_restores():
    tw.manual_seed(7)
    a = tw.randn(5).data
    tw.manual_seed(7)
    assert tw.randn(5).data.tobytes() == a.tobytes()
    g = tw.Generator(3)
    state = g.get_state()
    first = tw.rand(4, generator=g).data
    g.set_state(state)
    assert tw.rand(4, generator=g).data.tobytes() == first.tobytes()
    with pytest.raises(ValueError, match="'state' is not a generator state"):
        g.set_state({"seed": 99, "bit_generator": "nonsense"})
    assert g.initial_seed() == 3  # a failed set_state changes nothing
    with pytest.raises(ValueError, match="'seed' must be a non-negative int; got -1"):
        tw.manual_seed(-1)
    with pytest.raises(ValueError, match="'dtype' must be one of float16, float32, float64; got 'int32'"):
        tw.set_default_dtype("int32")
