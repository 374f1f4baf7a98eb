"""Gradient clipping: parity with torch.nn.utils (float64), NaN/inf handling, bad input."""
import math

import numpy as np
import pytest
import torch

import trainwise as tw
from trainwise.nn.utils import clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm

SHAPES = [(4, 5), (4,), (3, 4), (3,), (2, 3)]


def _pair(scale=1.0, seed=0, none_at=(3,)):
    """The same parameters with the same gradients in both frameworks; some without a gradient."""
    rng = np.random.default_rng(seed)
    tps, rps = [], []
    for i, s in enumerate(SHAPES):
        data, grad = rng.normal(size=s), scale * rng.normal(size=s)
        t = tw.Tensor(data.copy(), requires_grad=True)
        r = torch.tensor(data.copy(), requires_grad=True)
        if i not in none_at:
            t.grad, r.grad = grad.copy(), torch.tensor(grad.copy())
        tps.append(t)
        rps.append(r)
    return tps, rps


def _same_grads(tps, rps):
    for t, r in zip(tps, rps):
        if r.grad is None:
            assert t.grad is None
        else:
            np.testing.assert_allclose(t.grad, r.grad.numpy(), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    tps, rps = _pair(scale=2.0)
    before = [None if t.grad is None else t.grad.copy() for t in tps]
    ours = clip_grad_norm_(tps, max_norm, norm_type=norm_type)
    theirs = torch.nn.utils.clip_grad_norm_(rps, max_norm, norm_type=norm_type)
    assert isinstance(ours, float)
    assert ours == pytest.approx(float(theirs), rel=1e-12)
    _same_grads(tps, rps)
    total = get_total_norm([t.grad for t in tps if t.grad is not None], norm_type)
    if max_norm < ours:
        assert total == pytest.approx(max_norm, rel=1e-5)  # clipped to the threshold
    else:
        for t, b in zip(tps, before):  # untouched below the threshold
            assert (t.grad is None and b is None) or np.array_equal(t.grad, b)


def test_clip_grad_norm_formula_from_the_notes():
    # g ← g · clip_norm / ‖g‖ when ‖g‖ > clip_norm, over all gradients as one vector
    tps, _ = _pair(scale=3.0, none_at=())
    flat = np.concatenate([t.grad.ravel() for t in tps])
    norm = np.linalg.norm(flat)
    returned = clip_grad_norm_(tps, 1.0)
    assert returned == pytest.approx(norm, rel=1e-13)
    np.testing.assert_allclose(np.concatenate([t.grad.ravel() for t in tps]), flat / (norm + 1e-6), rtol=1e-13)


def test_get_total_norm_and_clip_grads_with_norm_match_torch():
    tps, rps = _pair(scale=2.0)
    for norm_type in (2.0, 1.0, math.inf):
        ours = get_total_norm([t.grad for t in tps if t.grad is not None], norm_type)
        theirs = torch.nn.utils.get_total_norm([r.grad for r in rps if r.grad is not None], norm_type)
        assert ours == pytest.approx(float(theirs), rel=1e-12)
    total = get_total_norm([t.grad for t in tps if t.grad is not None])
    clip_grads_with_norm_(tps, 0.7, total)
    torch.nn.utils.clip_grads_with_norm_(rps, 0.7, torch.tensor(total, dtype=torch.float64))
    _same_grads(tps, rps)


def test_clip_grad_norm_input_forms_and_no_grads():
    w = tw.Tensor(np.ones(4), requires_grad=True)
    w.grad = np.full(4, 2.0)  # norm 4
    assert clip_grad_norm_(w, 1.0) == 4.0  # a single Tensor
    assert np.linalg.norm(w.grad) == pytest.approx(1.0, rel=1e-5)
    v = tw.Tensor(np.ones(2), requires_grad=True)
    v.grad = np.array([3.0, 4.0])
    assert clip_grad_norm_((p for p in [v]), 10.0) == 5.0  # a generator, like model.parameters()
    assert np.array_equal(v.grad, [3.0, 4.0])
    assert clip_grad_norm_([tw.Tensor(np.ones(2), requires_grad=True)], 1.0) == 0.0


def test_clip_keeps_float32_and_writes_in_place():
    w = tw.Tensor(np.ones((3, 3), dtype=np.float32), requires_grad=True)
    g = np.full((3, 3), 5.0, dtype=np.float32)
    w.grad = g
    norm = clip_grad_norm_([w], 1.0)
    assert w.grad is g and g.dtype == np.float32
    assert norm == pytest.approx(15.0, rel=1e-6)
    clip_grad_value_([w], 0.1)
    assert w.grad is g and g.dtype == np.float32


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nonfinite_norm(bad):
    tps, rps = _pair()
    tps[0].grad[1, 2] = bad
    rps[0].grad[1, 2] = bad
    with pytest.raises(RuntimeError, match=f"total norm of order 2.0 of the gradients is {bad}, which is not finite"):
        clip_grad_norm_(tps, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(rps, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError, match="is not finite"):
        get_total_norm([tps[0].grad], error_if_nonfinite=True)
    # without the error, the same outcome as PyTorch: NaN everywhere, or zeros (and NaN at the inf)
    ours = clip_grad_norm_(tps, 1.0)
    theirs = torch.nn.utils.clip_grad_norm_(rps, 1.0)
    assert (math.isnan(ours) and math.isnan(float(theirs))) or ours == float(theirs)
    for t, r in zip(tps, rps):
        if r.grad is not None:
            np.testing.assert_array_equal(t.grad, r.grad.numpy())


@pytest.mark.parametrize("clip_value", [0.3, 1.0, 10.0])
def test_clip_grad_value_matches_torch(clip_value):
    tps, rps = _pair(scale=1.5)
    assert clip_grad_value_(tps, clip_value) is None
    torch.nn.utils.clip_grad_value_(rps, clip_value)
    _same_grads(tps, rps)
    for t in tps:
        if t.grad is not None:
            assert np.abs(t.grad).max() <= clip_value


def test_bad_input():
    w = tw.Tensor(np.ones(2), requires_grad=True)
    w.grad = np.ones(2)
    with pytest.raises(ValueError, match=r"clip_grad_norm_: 'max_norm' must be a non-negative number; got -1.0"):
        clip_grad_norm_([w], -1.0)
    with pytest.raises(ValueError, match=r"'max_norm' must be a non-negative number; got nan"):
        clip_grad_norm_([w], float("nan"))
    with pytest.raises(ValueError, match=r"'norm_type' must be a positive number or inf; got 0"):
        clip_grad_norm_([w], 1.0, norm_type=0)
    with pytest.raises(ValueError, match=r"'norm_type' must be a positive number or inf; got 'l2'"):
        clip_grad_norm_([w], 1.0, norm_type="l2")
    with pytest.raises(ValueError, match=r"'norm_type' must be a positive number or inf; got -inf"):
        get_total_norm([w.grad], norm_type=-math.inf)
    with pytest.raises(ValueError, match=r"clip_grad_value_: 'clip_value' must be a non-negative number; got -0.5"):
        clip_grad_value_([w], -0.5)
    with pytest.raises(TypeError, match=r"'parameters' must hold Tensors; item 1 is a ndarray"):
        clip_grad_norm_([w, np.ones(2)], 1.0)
    with pytest.raises(TypeError, match=r"'parameters' must be a Tensor or an iterable of Tensors; got float"):
        clip_grad_value_(1.0, 1.0)
    assert np.array_equal(w.grad, np.ones(2))  # nothing was touched by the failed calls
