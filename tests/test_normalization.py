"""BatchNorm1d, BatchNorm2d, LayerNorm and their functional forms: gradients, PyTorch parity, errors."""
import numpy as np
import pytest
import torch

import trainwise as tw
from trainwise import nn
from trainwise.functional import add_layer_norm, batch_norm, layer_norm
from trainwise.testing import gradcheck, relative_error

TOL = 1e-10  # float64 parity; the brief asks for 1e-6, these ops agree far tighter


def _randomize_affine(mod, rng):
    if getattr(mod, "weight", None) is not None:
        mod.weight.data[...] = rng.uniform(0.5, 1.5, mod.weight.shape)
    if getattr(mod, "bias", None) is not None:
        mod.bias.data[...] = rng.standard_normal(mod.bias.shape)


def _copy_to_torch(mod, tmod):
    tmod.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in mod.state_dict().items()})


def _assert_pair(mod, tmod, x, rng):
    """Forward values and input/γ/β gradients of ``mod`` and the torch module agree."""
    xt = tw.Tensor(x.copy(), requires_grad=True)
    out = mod(xt)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    xr = torch.tensor(x, requires_grad=True)
    ref = tmod(xr)
    ref.backward(torch.tensor(g))
    assert out.dtype == np.float64
    assert relative_error(out.data, ref.detach().numpy()) < TOL
    assert relative_error(xt.grad, xr.grad.numpy()) < TOL
    for name in ("weight", "bias"):
        p = getattr(mod, name, None)
        if p is not None:
            assert relative_error(p.grad, getattr(tmod, name).grad.numpy()) < TOL, name
            p.grad = None
    tmod.zero_grad()


CASES = [
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (6, 3)),
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (4, 3, 5)),
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (3, 2, 4, 3)),
]


# ---------------------------------------------------------------- gradient checks
@pytest.mark.parametrize("cls, _, shape", CASES)
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradcheck(cls, _, shape, training):
    rng = np.random.default_rng(0)
    bn = cls(shape[1], dtype=np.float64)
    _randomize_affine(bn, rng)
    bn.running_mean[...] = rng.standard_normal(shape[1])
    bn.running_var[...] = rng.uniform(0.5, 2.0, shape[1])
    bn.train(training)
    x = rng.standard_normal(shape) * 2 + 1
    assert gradcheck(lambda t: bn(t), x, params=[bn.weight, bn.bias]) < 1e-6


def test_batch_norm_functional_gradcheck_without_affine():
    x = np.random.default_rng(1).standard_normal((5, 4, 3))
    assert gradcheck(lambda t: batch_norm(t, None, None, training=True), x) < 1e-6


@pytest.mark.parametrize("normalized_shape, shape", [((5,), (3, 5)), ((3, 4), (2, 3, 4)), ((4,), (2, 3, 4))])
def test_layernorm_gradcheck(normalized_shape, shape):
    rng = np.random.default_rng(2)
    ln = nn.LayerNorm(normalized_shape, dtype=np.float64)
    _randomize_affine(ln, rng)
    x = rng.standard_normal(shape) * 3 - 1
    assert gradcheck(lambda t: ln(t), x, params=[ln.weight, ln.bias]) < 1e-6


def test_layer_norm_functional_gradcheck_without_affine():
    x = np.random.default_rng(3).standard_normal((4, 6))
    assert gradcheck(lambda t: layer_norm(t, 6), x) < 1e-6


# ------------------------------------------------------------------ PyTorch parity
@pytest.mark.parametrize("cls, tcls, shape", CASES)
def test_batchnorm_matches_torch_train_and_eval(cls, tcls, shape):
    rng = np.random.default_rng(4)
    bn = cls(shape[1], dtype=np.float64)
    _randomize_affine(bn, rng)
    tbn = tcls(shape[1], dtype=torch.float64)
    _copy_to_torch(bn, tbn)
    for _ in range(3):
        _assert_pair(bn, tbn, rng.standard_normal(shape) * 2 + 0.5, rng)
    bn.eval()
    tbn.eval()
    _assert_pair(bn, tbn, rng.standard_normal(shape), rng)


@pytest.mark.parametrize("cls, tcls, shape", CASES)
@pytest.mark.parametrize("momentum", [0.1, None])
def test_running_stats_match_torch_after_10_steps(cls, tcls, shape, momentum):
    rng = np.random.default_rng(5)
    bn = cls(shape[1], momentum=momentum, dtype=np.float64)
    tbn = tcls(shape[1], momentum=momentum, dtype=torch.float64)
    for _ in range(10):
        x = rng.standard_normal(shape) * rng.uniform(0.5, 3) + rng.uniform(-2, 2)
        bn(tw.Tensor(x))
        tbn(torch.tensor(x))
    assert relative_error(bn.running_mean, tbn.running_mean.numpy()) < TOL
    assert relative_error(bn.running_var, tbn.running_var.numpy()) < TOL
    assert int(bn.num_batches_tracked) == int(tbn.num_batches_tracked) == 10
    assert bn.state_dict()["num_batches_tracked"].dtype == np.int64
    # the running statistics are what evaluation mode uses
    bn.eval()
    tbn.eval()
    _assert_pair(bn, tbn, rng.standard_normal(shape), rng)


def test_running_var_uses_unbiased_batch_variance():
    x = np.random.default_rng(6).standard_normal((4, 2))
    bn = nn.BatchNorm1d(2, momentum=1.0, dtype=np.float64)
    bn(tw.Tensor(x))
    np.testing.assert_allclose(bn.running_var, x.var(axis=0, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(bn.running_mean, x.mean(axis=0), rtol=1e-12)


@pytest.mark.parametrize("kwargs", [dict(affine=False), dict(track_running_stats=False), dict(bias=False),
                                    dict(eps=1e-3, momentum=0.3)])
def test_batchnorm_options_match_torch(kwargs):
    rng = np.random.default_rng(7)
    bn = nn.BatchNorm2d(3, dtype=np.float64, **kwargs)
    _randomize_affine(bn, rng)
    tbn = torch.nn.BatchNorm2d(3, dtype=torch.float64, **kwargs)
    assert list(bn.state_dict()) == list(tbn.state_dict())
    _copy_to_torch(bn, tbn)
    for _ in range(2):
        _assert_pair(bn, tbn, rng.standard_normal((4, 3, 2, 2)), rng)
    bn.eval()
    tbn.eval()  # without running statistics, evaluation also uses the batch's
    _assert_pair(bn, tbn, rng.standard_normal((4, 3, 2, 2)), rng)
    if bn.running_mean is not None:
        assert relative_error(bn.running_var, tbn.running_var.numpy()) < TOL


@pytest.mark.parametrize("normalized_shape, shape, affine", [
    (5, (4, 5), True), ((3, 4), (2, 3, 4), True), ((4,), (2, 3, 4), False),
])
def test_layernorm_matches_torch(normalized_shape, shape, affine):
    rng = np.random.default_rng(8)
    ln = nn.LayerNorm(normalized_shape, elementwise_affine=affine, dtype=np.float64)
    _randomize_affine(ln, rng)
    tln = torch.nn.LayerNorm(normalized_shape, elementwise_affine=affine, dtype=torch.float64)
    assert list(ln.state_dict()) == list(tln.state_dict())
    _copy_to_torch(ln, tln)
    _assert_pair(ln, tln, rng.standard_normal(shape) * 2 + 3, rng)
    ln.eval()  # no running statistics: the same in both modes
    tln.eval()
    _assert_pair(ln, tln, rng.standard_normal(shape), rng)


def test_state_dict_keys_match_torch_and_load_from_torch():
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 3), nn.LayerNorm(3))
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6), torch.nn.Linear(6, 3),
                                 torch.nn.LayerNorm(3))
    assert list(model.state_dict()) == list(tmodel.state_dict())
    tmodel.train()
    tmodel(torch.randn(5, 4))
    model.load_state_dict(tmodel.state_dict())
    assert int(model[1].num_batches_tracked) == 1
    np.testing.assert_allclose(model[1].running_mean, tmodel[1].running_mean.numpy(), rtol=1e-6)
    assert list(nn.BatchNorm2d(2).state_dict()) == list(torch.nn.BatchNorm2d(2).state_dict())


# ----------------------------------------------------------------------- behaviour
def test_float32_stays_float32():
    x = tw.Tensor(np.random.default_rng(9).standard_normal((4, 3, 2)).astype(np.float32), requires_grad=True)
    bn, ln = nn.BatchNorm1d(3), nn.LayerNorm(2)
    for mod in (bn, ln):
        out = mod(x)
        assert out.dtype == np.float32
        out.sum().backward()
        assert x.grad.dtype == np.float32 and mod.weight.grad.dtype == np.float32
    assert bn.running_mean.dtype == np.float32 and bn.running_var.dtype == np.float32
    bn.eval()
    assert bn(x).dtype == np.float32


def test_training_output_is_standardized_per_channel():
    x = np.random.default_rng(10).standard_normal((8, 3, 5, 5)) * 4 + 7
    out = nn.BatchNorm2d(3, dtype=np.float64)(tw.Tensor(x)).data
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1, rtol=1e-4)  # 1 - eps/σ² from ε


def test_one_sample_with_length_is_allowed_in_training():
    # PyTorch only refuses a single value per channel; (1, C, L) has L of them
    out = nn.BatchNorm1d(3)(tw.Tensor(np.random.default_rng(11).standard_normal((1, 3, 4))))
    assert out.shape == (1, 3, 4)


def test_repr_like_torch():
    assert repr(nn.BatchNorm1d(3)) == repr(torch.nn.BatchNorm1d(3))
    assert repr(nn.BatchNorm2d(4, momentum=None, affine=False)) == repr(
        torch.nn.BatchNorm2d(4, momentum=None, affine=False))


def test_reset_running_stats():
    bn = nn.BatchNorm1d(2)
    bn(tw.Tensor(np.arange(8.0).reshape(4, 2)))
    bn.reset_running_stats()
    assert (bn.running_mean == 0).all() and (bn.running_var == 1).all() and int(bn.num_batches_tracked) == 0


# -------------------------------------------------------------------------- errors
def test_wrong_rank_names_the_expected_shape():
    with pytest.raises(ValueError, match=r"BatchNorm1d: 'input' must be 2-D or 3-D \(N, 3\) or \(N, 3, L\).*"
                                         r"got shape \(2, 3, 4, 4\)"):
        nn.BatchNorm1d(3)(tw.Tensor(np.zeros((2, 3, 4, 4))))
    with pytest.raises(ValueError, match=r"BatchNorm2d: 'input' must be 4-D \(N, 3, H, W\).*got shape \(3, 8, 8\)"):
        nn.BatchNorm2d(3)(tw.Tensor(np.zeros((3, 8, 8))))


def test_wrong_channels():
    with pytest.raises(ValueError, match=r"num_features=4 channels on axis 1; got shape \(8, 3\)"):
        nn.BatchNorm1d(4)(tw.Tensor(np.zeros((8, 3))))
    with pytest.raises(ValueError, match=r"'running_mean' must have shape \(3,\).*got shape \(4,\)"):
        batch_norm(tw.Tensor(np.zeros((2, 3))), np.zeros(4), np.ones(4), training=True)


def test_single_value_per_channel_in_training():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        bn(tw.Tensor(np.zeros((1, 3))))
    assert int(bn.num_batches_tracked) == 0  # the failed call changed nothing
    bn.eval()
    assert bn(tw.Tensor(np.ones((1, 3)))).shape == (1, 3)


def test_eval_without_running_stats_in_functional():
    with pytest.raises(ValueError, match="'running_mean' and 'running_var' must be given in evaluation mode"):
        batch_norm(tw.Tensor(np.zeros((2, 3))), None, None, training=False)


def test_layernorm_wrong_trailing_shape():
    with pytest.raises(ValueError, match=r"LayerNorm: 'input' must have shape \(\*, 3, 4\).*got shape \(2, 4, 3\)"):
        nn.LayerNorm((3, 4))(tw.Tensor(np.zeros((2, 4, 3))))
    with pytest.raises(ValueError, match=r"layer_norm: 'input' must have shape \(\*, 5\)"):
        layer_norm(tw.Tensor(np.zeros((2, 4))), 5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_features=0), "'num_features' must be a positive int; got 0"),
    (dict(num_features=3, eps=0), "'eps' must be a positive number; got 0"),
    (dict(num_features=3, momentum=1.5), r"'momentum' must be a number in \[0, 1\] or None"),
    (dict(num_features=3, affine="yes"), "'affine' must be True or False"),
])
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nn.BatchNorm1d(**kwargs)


def test_bad_normalized_shape():
    with pytest.raises(ValueError, match="'normalized_shape' must be a positive int or a non-empty tuple"):
        nn.LayerNorm(())
    with pytest.raises(ValueError, match="'normalized_shape' must be a positive int"):
        nn.LayerNorm(-2)


# ------------------------------------------------------------------ add_layer_norm (fused residual + LN)
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_add_layer_norm_matches_torch(affine):
    rng = np.random.default_rng(11)
    x, r = rng.standard_normal((3, 4, 6)), rng.standard_normal((3, 4, 6))
    w = rng.standard_normal(6) if affine != "none" else None
    b = rng.standard_normal(6) if affine == "both" else None
    xs = [tw.Tensor(a, requires_grad=True) if a is not None else None for a in (x, r, w, b)]
    ts = [torch.tensor(a, requires_grad=True) if a is not None else None for a in (x, r, w, b)]
    y = add_layer_norm(xs[0], xs[1], 6, xs[2], xs[3])
    ty = torch.nn.functional.layer_norm(ts[0] + ts[1], (6,), ts[2], ts[3])
    assert y._op == "add_layer_norm" and relative_error(y.data, ty.detach().numpy()) < TOL
    p = rng.standard_normal(y.shape)
    (y * tw.Tensor(p)).sum().backward()
    (ty * torch.tensor(p)).sum().backward()
    for a, ta in zip(xs, ts):
        if a is not None:
            assert relative_error(a.grad, ta.grad.numpy()) < TOL


def test_add_layer_norm_gradcheck_and_same_input_twice():
    rng = np.random.default_rng(12)
    w, b = tw.Tensor(rng.standard_normal(5), requires_grad=True), tw.Tensor(rng.standard_normal(5), requires_grad=True)
    x, r = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    assert gradcheck(lambda x, r: add_layer_norm(x, r, 5, w, b), x, r, params=[w, b]) < 1e-6
    # the same tensor as both summands: its two gradient contributions add up
    t = tw.Tensor(x, requires_grad=True)
    tt = torch.tensor(x, requires_grad=True)
    (add_layer_norm(t, t, 5) ** 2).sum().backward()
    (torch.nn.functional.layer_norm(tt + tt, (5,)) ** 2).sum().backward()
    assert relative_error(t.grad, tt.grad.numpy()) < TOL


def test_add_layer_norm_float32_and_bad_input():
    x = tw.Tensor(np.ones((2, 3), np.float32))
    r = tw.Tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert add_layer_norm(x, r, 3).dtype == np.float32
    with pytest.raises(ValueError, match=r"add_layer_norm: 'residual' must have the shape of 'x' \(2, 3\); got \(3, 2\)"):
        add_layer_norm(x, r.reshape(3, 2), 3)
    with pytest.raises(ValueError, match=r"add_layer_norm: 'input' must have shape \(\*, 4\)"):
        add_layer_norm(x, r, 4)
