"""Losses: finite-difference gradients, parity with PyTorch (float64), stability, modules, errors."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import trainwise.nn as nn
import trainwise.nn.functional as F
from trainwise import Tensor
from trainwise.testing import gradcheck, relative_error

REDUCTIONS = ["mean", "sum", "none"]
rng = np.random.default_rng(0)


def tt(a):
    """A torch tensor of an optional array (None stays None)."""
    return None if a is None else torch.tensor(a)


def compare(tw_fn, t_fn, x, target, grad_target=False, tol=1e-12):
    """Run both with a random upstream gradient; return errors of value, input grad and target grad."""
    a = Tensor(x.copy(), requires_grad=True)
    ta = torch.tensor(x, requires_grad=True)
    if grad_target:
        y, ty = Tensor(target.copy(), requires_grad=True), torch.tensor(target, requires_grad=True)
    else:
        y, ty = target, torch.tensor(target)
    out, tout = tw_fn(a, y), t_fn(ta, ty)
    assert out.shape == tuple(tout.shape)
    g = np.random.default_rng(3).normal(size=out.shape) + 1.0
    out.backward(g)
    tout.backward(torch.tensor(g))
    assert relative_error(out.data, tout.detach().numpy()) < tol
    assert relative_error(a.grad, ta.grad.numpy()) < tol
    if grad_target:
        assert relative_error(y.grad, ty.grad.numpy()) < tol


# ------------------------------------------------------------------ regression
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("weighted", [False, True])
def test_regression_losses(name, reduction, weighted):
    x = rng.normal(size=(4, 3))
    y = x + np.where(rng.random((4, 3)) < 0.5, -1, 1) * rng.uniform(0.1, 1.0, (4, 3))  # |x - y| > 0.1
    w = rng.uniform(0.5, 2.0, (4, 3)) if weighted else None
    fn, tfn = getattr(F, name), getattr(TF, name)
    assert gradcheck(lambda a, b: fn(a, b, reduction=reduction, weight=w), x, y) < 1e-6
    compare(lambda a, b: fn(a, b, reduction=reduction, weight=w),
            lambda a, b: tfn(a, b, reduction=reduction, weight=tt(w)), x, y, grad_target=True)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "binary_cross_entropy_with_logits", "binary_cross_entropy"])
def test_zero_dim_binary_and_regression_losses(name):
    compare(getattr(F, name), getattr(TF, name), np.array(0.3), np.array(0.8), grad_target=True)


def test_mse_sum_is_the_notes_sum_of_squares_and_mean_divides_by_n():
    y_hat, y = np.array([1.0, 2.0, 4.0]), np.array([0.0, 2.0, 1.0])
    assert F.mse_loss(Tensor(y_hat), Tensor(y), reduction="sum").item() == np.sum((y - y_hat) ** 2) == 10.0
    assert F.mse_loss(Tensor(y_hat), Tensor(y)).item() == pytest.approx(10.0 / 3)


def test_regression_target_as_array_and_float32():
    x = Tensor(np.array([[1.0, 2.0]], dtype=np.float32), requires_grad=True)
    loss = F.mse_loss(x, np.array([[0.0, 0.0]]))  # float64 array target is cast to the input's dtype
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, [[1.0, 2.0]])


# --------------------------------------------------------- cross-entropy (indices)
def _index_case(shape, seed, ignore=False):
    r = np.random.default_rng(seed)
    x = r.normal(scale=2.0, size=shape)
    C = shape[1] if len(shape) > 1 else shape[0]
    tshape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    t = r.integers(0, C, size=tshape)
    if ignore and t.ndim:
        t.reshape(-1)[::3] = 1  # ignore_index=1 below: every third target is ignored
    return x, t, r.uniform(0.3, 2.0, C)


CE_COMBOS = [  # (weighted, label_smoothing, ignore_index)
    (False, 0.0, -100), (True, 0.0, -100), (False, 0.2, -100), (True, 0.15, -100),
    (False, 0.0, 1), (True, 0.0, 1), (False, 0.1, 1), (True, 0.3, 1),
]


@pytest.mark.parametrize("weighted,smoothing,ignore_index", CE_COMBOS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2), (2, 3, 2, 2), (4,)], ids=["NC", "NCd", "NCdd", "C"])
def test_cross_entropy_index_targets_match_torch(shape, reduction, weighted, smoothing, ignore_index):
    x, t, w = _index_case(shape, seed=len(shape) * 7 + int(smoothing * 10), ignore=ignore_index == 1)
    w = w if weighted else None
    kw = dict(reduction=reduction, label_smoothing=smoothing, ignore_index=ignore_index)
    compare(lambda a, b: F.cross_entropy(a, b, weight=w, **kw),
            lambda a, b: TF.cross_entropy(a, b, weight=tt(w), **kw), x, t)


@pytest.mark.parametrize("weighted,smoothing,ignore_index", CE_COMBOS[::2] + [(True, 0.3, 1)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_index_gradcheck(reduction, weighted, smoothing, ignore_index):
    x, t, w = _index_case((4, 3, 2), seed=11, ignore=ignore_index == 1)
    w = w if weighted else None
    err = gradcheck(lambda a: F.cross_entropy(a, t, weight=w, reduction=reduction, label_smoothing=smoothing,
                                              ignore_index=ignore_index), x)
    assert err < 1e-6


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted,smoothing", [(False, 0.0), (True, 0.0), (False, 0.25), (True, 0.1)])
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 2), (4,)], ids=["NC", "NCd", "C"])
def test_cross_entropy_probability_targets(shape, reduction, weighted, smoothing):
    r = np.random.default_rng(5)
    x = r.normal(size=shape)
    p = r.uniform(0.05, 1.0, size=shape)
    p /= p.sum(axis=1 if len(shape) > 1 else 0, keepdims=True)
    C = shape[1] if len(shape) > 1 else shape[0]
    w = r.uniform(0.5, 2.0, C) if weighted else None
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    f = lambda a, b: F.cross_entropy(a, b, weight=w, **kw)  # noqa: E731
    compare(f, lambda a, b: TF.cross_entropy(a, b, weight=tt(w), **kw), x, p, grad_target=True)
    assert gradcheck(f, x, p) < 1e-6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_logits_of_1e4_are_finite_and_equal_torch(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [5e3, 1e4, -1e4]], dtype=dtype)
    t = np.array([1, 2, 0])
    for kw in ({}, {"label_smoothing": 0.1}, {"reduction": "none"}):
        a = Tensor(x, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = F.cross_entropy(a, t, **kw)
            out.backward(np.ones(out.shape, dtype=dtype))
        ta = torch.tensor(x, requires_grad=True)
        tout = TF.cross_entropy(ta, torch.tensor(t), **kw)
        tout.backward(torch.ones_like(tout))
        assert np.isfinite(out.data).all() and np.isfinite(a.grad).all()
        assert out.dtype == dtype and a.grad.dtype == dtype
        np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-6)
        np.testing.assert_allclose(a.grad, ta.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_cross_entropy_is_one_node_with_gradient_softmax_minus_onehot():
    x = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    a = Tensor(x, requires_grad=True)
    out = F.cross_entropy(a, np.array([1, 2]), reduction="sum")
    assert out._parents == (a,) and out._op == "cross_entropy"
    out.backward()
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(a.grad, p - np.eye(3)[[1, 2]], rtol=1e-14, atol=1e-15)


def test_cross_entropy_all_ignored_mean_is_nan_as_torch():
    x = np.zeros((2, 3))
    out = F.cross_entropy(Tensor(x), np.array([-100, -100]))
    assert np.isnan(out.item()) and np.isnan(TF.cross_entropy(torch.tensor(x), torch.tensor([-100, -100])).item())


def test_nan_logits_pass_through():
    x = np.array([[np.nan, 1.0], [0.0, 1.0]])
    assert np.isnan(F.cross_entropy(Tensor(x), np.array([0, 1])).item())
    assert np.isnan(F.mse_loss(Tensor(x), Tensor(np.zeros((2, 2)))).item())
    assert np.isnan(F.binary_cross_entropy_with_logits(Tensor(x), Tensor(np.zeros((2, 2)))).item())


# ------------------------------------------------------------------- nll_loss
@pytest.mark.parametrize("weighted,ignore_index", [(False, -100), (True, -100), (False, 1), (True, 1)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2), (4,)], ids=["NC", "NCd", "C"])
def test_nll_loss(shape, reduction, weighted, ignore_index):
    x, t, w = _index_case(shape, seed=9, ignore=ignore_index == 1)
    x = TF.log_softmax(torch.tensor(x), dim=1 if len(shape) > 1 else 0).numpy()
    w = w if weighted else None
    kw = dict(reduction=reduction, ignore_index=ignore_index)
    compare(lambda a, b: F.nll_loss(a, b, weight=w, **kw), lambda a, b: TF.nll_loss(a, b, weight=tt(w), **kw), x, t)
    assert gradcheck(lambda a: F.nll_loss(a, t, weight=w, **kw), x) < 1e-6


def test_cross_entropy_equals_nll_of_log_softmax():
    x, t, w = _index_case((6, 5), seed=2)
    a = Tensor(x)
    ce = F.cross_entropy(a, t, weight=w)
    nll = F.nll_loss(F.log_softmax(a, dim=1), t, weight=w)
    assert ce.item() == pytest.approx(nll.item(), rel=1e-14)


# --------------------------------------------------------------------- binary
def _binary_case(shape, seed):
    r = np.random.default_rng(seed)
    return r.normal(scale=2.0, size=shape), r.uniform(0.0, 1.0, size=shape)


@pytest.mark.parametrize("weighted,pos_weighted", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits(reduction, weighted, pos_weighted):
    x, y = _binary_case((4, 3), seed=1)
    w = np.random.default_rng(2).uniform(0.5, 2.0, (1, 3)) if weighted else None
    pw = np.array([0.5, 2.0, 3.0]) if pos_weighted else None
    f = lambda a, b: F.binary_cross_entropy_with_logits(a, b, weight=w, reduction=reduction, pos_weight=pw)  # noqa: E731
    tf = lambda a, b: TF.binary_cross_entropy_with_logits(a, b, weight=tt(w), reduction=reduction, pos_weight=tt(pw))  # noqa: E731
    compare(f, tf, x, y, grad_target=True)
    assert gradcheck(f, x, y) < 1e-6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_is_stable(dtype):
    x = np.array([-1e4, -50.0, 0.0, 50.0, 1e4], dtype=dtype)
    y = np.array([1.0, 0.0, 1.0, 1.0, 0.0], dtype=dtype)
    a = Tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = F.binary_cross_entropy_with_logits(a, y, reduction="none", pos_weight=np.array([2.0]))
        out.backward(np.ones(5, dtype=dtype))
    ta = torch.tensor(x, requires_grad=True)
    tout = TF.binary_cross_entropy_with_logits(ta, torch.tensor(y), reduction="none",
                                               pos_weight=torch.tensor([2.0], dtype=ta.dtype))
    tout.backward(torch.ones_like(tout))
    assert out.dtype == dtype and np.isfinite(out.data).all()
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(a.grad, ta.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_on_probabilities(reduction, weighted):
    x, y = _binary_case((4, 3), seed=4)
    p = 1 / (1 + np.exp(-x))
    w = np.random.default_rng(6).uniform(0.5, 2.0, (4, 1)) if weighted else None
    f = lambda a, b: F.binary_cross_entropy(a, b, weight=w, reduction=reduction)  # noqa: E731
    compare(f, lambda a, b: TF.binary_cross_entropy(a, b, weight=tt(w), reduction=reduction), p, y, grad_target=True)
    assert gradcheck(f, p, y) < 1e-6


def test_bce_clamps_log_at_minus_100_as_torch():
    p = np.array([0.0, 1.0, 0.0, 1.0, 1e-50])
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    a = Tensor(p, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = F.binary_cross_entropy(a, y, reduction="none")
        out.sum().backward()
    ta = torch.tensor(p, requires_grad=True)
    tout = TF.binary_cross_entropy(ta, torch.tensor(y), reduction="none")
    tout.sum().backward()
    np.testing.assert_array_equal(out.data, tout.detach().numpy())
    assert out.data.tolist()[:2] == [100.0, 100.0]
    np.testing.assert_allclose(a.grad, ta.grad.numpy(), rtol=1e-14)


# ------------------------------------------------------------------- modules
def _module_pairs():
    w3 = np.array([0.5, 1.0, 2.0])
    return [
        (nn.MSELoss(), torch.nn.MSELoss(), "float"),
        (nn.L1Loss(reduction="sum"), torch.nn.L1Loss(reduction="sum"), "float"),
        (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), "index"),
        (nn.CrossEntropyLoss(weight=w3, ignore_index=2, label_smoothing=0.1, reduction="mean"),
         torch.nn.CrossEntropyLoss(weight=torch.tensor(w3), ignore_index=2, label_smoothing=0.1), "index"),
        (nn.CrossEntropyLoss(weight=w3, label_smoothing=0.2), torch.nn.CrossEntropyLoss(weight=torch.tensor(w3),
                                                                                      label_smoothing=0.2), "prob"),
        (nn.NLLLoss(weight=w3, reduction="none"), torch.nn.NLLLoss(weight=torch.tensor(w3), reduction="none"), "logp"),
        (nn.BCEWithLogitsLoss(pos_weight=w3), torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(w3)), "float"),
        (nn.BCELoss(weight=w3, reduction="sum"), torch.nn.BCELoss(weight=torch.tensor(w3), reduction="sum"), "probin"),
    ]


@pytest.mark.parametrize("i", range(8))
def test_loss_modules_match_torch_nn(i):
    m, tm, kind = _module_pairs()[i]
    r = np.random.default_rng(i)
    x = r.normal(size=(6, 3))
    if kind == "index":
        y = np.array([0, 1, 2, 2, 1, 0])
    elif kind == "logp":
        x, y = TF.log_softmax(torch.tensor(x), 1).numpy(), np.array([0, 1, 2, 2, 1, 0])
    elif kind == "prob":
        y = r.dirichlet(np.ones(3), size=6)
    elif kind == "probin":
        x, y = 1 / (1 + np.exp(-x)), r.uniform(size=(6, 3))
    else:
        y = r.normal(size=(6, 3)) if isinstance(m, (nn.MSELoss, nn.L1Loss)) else r.uniform(size=(6, 3))
    compare(m, tm, x, y)
    assert set(m.state_dict()) == set(tm.state_dict())
    assert list(m.parameters()) == []


def test_loss_module_repr_and_state():
    assert repr(nn.MSELoss()) == "MSELoss()"
    assert repr(nn.CrossEntropyLoss(reduction="sum")) == "CrossEntropyLoss(reduction='sum')"
    m = nn.CrossEntropyLoss(weight=[1.0, 2.0])
    assert m.weight.dtype == np.float32 and list(m.state_dict()) == ["weight"]


# -------------------------------------------------------------------- errors
def test_bad_inputs_raise_clear_errors():
    x = Tensor(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="'reduction' must be one of 'mean', 'sum', 'none'; got 'avg'"):
        F.mse_loss(x, np.zeros((4, 3)), reduction="avg")
    with pytest.raises(ValueError, match="CrossEntropyLoss: 'reduction'"):
        nn.CrossEntropyLoss(reduction="batchmean")
    with pytest.raises(ValueError, match=r"mse_loss: 'target' must have the input's shape \(4, 3\); got \(4,\)"):
        F.mse_loss(x, np.zeros(4))
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: 'target' must have the input's shape"):
        F.binary_cross_entropy_with_logits(x, np.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"cross_entropy: 'target' holds class index 3, outside \[0, 3\)"):
        F.cross_entropy(x, np.array([0, 1, 3, 2]))
    with pytest.raises(ValueError, match=r"nll_loss: 'target' holds class index -1, outside \[0, 3\)"):
        F.nll_loss(x, np.array([0, -1, 2, 2]))
    with pytest.raises(ValueError, match=r"class-index 'target' must have shape \(4,\) .* got \(4, 1\)"):
        F.cross_entropy(x, np.zeros((4, 1), dtype=np.int64))
    with pytest.raises(ValueError, match="class probabilities and must have the input's shape .* integer array"):
        F.cross_entropy(x, np.zeros(4))
    with pytest.raises(ValueError, match="'ignore_index' applies only to class-index targets"):
        F.cross_entropy(x, np.full((4, 3), 1 / 3), ignore_index=0)
    with pytest.raises(TypeError, match="cross_entropy: class-index 'target' must be an integer array; got dtype bool"):
        F.cross_entropy(x, np.zeros(4, dtype=bool))
    with pytest.raises(TypeError, match="cross_entropy: 'input' must be a floating-point Tensor; got dtype int64"):
        F.cross_entropy(Tensor(np.zeros((4, 3), dtype=np.int64)), np.zeros(4, dtype=np.int64))
    with pytest.raises(TypeError, match="mse_loss: 'target' must hold numbers"):
        F.mse_loss(x, np.full((4, 3), "a"))
    with pytest.raises(ValueError, match=r"'weight' must be 1-D with one weight per class, shape \(3,\); got shape \(4,\)"):
        F.cross_entropy(x, np.zeros(4, dtype=np.int64), weight=np.ones(4))
    with pytest.raises(ValueError, match=r"'label_smoothing' must be a number in \[0, 1\]; got 1.5"):
        F.cross_entropy(x, np.zeros(4, dtype=np.int64), label_smoothing=1.5)
    with pytest.raises(ValueError, match="binary_cross_entropy: 'input' must hold probabilities in \\[0, 1\\]; got 1.5"):
        F.binary_cross_entropy(Tensor(np.array([0.5, 1.5])), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="'pos_weight' of shape \\(2,\\) must broadcast"):
        F.binary_cross_entropy_with_logits(x, np.zeros((4, 3)), pos_weight=np.ones(2))
    with pytest.raises(ValueError, match="mse_loss: 'weight' must have the input's shape"):
        F.mse_loss(x, np.zeros((4, 3)), weight=np.ones(3))
    with pytest.raises(ValueError, match="cross_entropy: 'input' must be"):
        F.cross_entropy(Tensor(np.float64(1.0)), np.int64(0))
