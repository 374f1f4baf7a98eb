"""Residual: H(x) = F(x) + x, projections, gradient flow through deep stacks, errors."""
import numpy as np
import pytest
import torch

import trainwise as tw
from trainwise import nn
from trainwise.tensor import make
from trainwise.testing import gradcheck, relative_error


class _Tanh(nn.Module):
    """tanh with its derivative 1 − tanh², local to the test so it depends on nothing else."""

    def forward(self, x):
        out = np.tanh(x.data)
        return make(out, (x,), lambda g: (g * (1 - out * out),), "tanh")


def _params(module):
    return [p for p in module.parameters()]


def test_identity_skip_gradcheck():
    block = nn.Sequential(nn.Linear(4, 4, dtype=np.float64, generator=tw.Generator(0)), _Tanh())
    res = nn.Residual(block)
    x = np.random.default_rng(0).standard_normal((3, 4))
    assert gradcheck(lambda t: res(t), x, params=_params(res)) < 1e-6


def test_projection_gradcheck_and_structure():
    block = nn.Linear(4, 6, dtype=np.float64, generator=tw.Generator(1))
    res = nn.Residual(block, in_features=4, out_features=6, generator=tw.Generator(2))
    res.double()
    names = [n for n, _ in res.named_parameters()]
    assert names == ["block.weight", "block.bias", "projection.weight"]  # the projection has no bias
    x = np.random.default_rng(1).standard_normal((5, 4))
    assert gradcheck(lambda t: res(t), x, params=_params(res)) < 1e-6


def test_values_match_torch():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4))
    block = nn.Linear(4, 5, dtype=np.float64)
    res = nn.Residual(block, in_features=4, out_features=5)
    res.double()
    tblock = torch.nn.Linear(4, 5, dtype=torch.float64)
    tproj = torch.nn.Linear(4, 5, bias=False, dtype=torch.float64)
    tblock.load_state_dict({k: torch.from_numpy(v) for k, v in block.state_dict().items()})
    tproj.load_state_dict({"weight": torch.from_numpy(res.projection.weight.data.copy())})
    xt = tw.Tensor(x.copy(), requires_grad=True)
    out = res(xt)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    xr = torch.tensor(x, requires_grad=True)
    ref = tblock(xr) + tproj(xr)
    ref.backward(torch.tensor(g))
    assert relative_error(out.data, ref.detach().numpy()) < 1e-12
    assert relative_error(xt.grad, xr.grad.numpy()) < 1e-12
    assert relative_error(res.projection.weight.grad, tproj.weight.grad.numpy()) < 1e-12


def test_identity_is_exact_and_equal_sizes_need_no_projection():
    block = nn.Linear(3, 3)
    res = nn.Residual(block, in_features=3, out_features=3)
    assert res.projection is None and len(list(res.children())) == 1
    x = tw.Tensor(np.random.default_rng(3).standard_normal((2, 3)))
    np.testing.assert_allclose(res(x).data, block(x).data + x.data, rtol=1e-6)


def test_any_module_as_projection():
    proj = nn.Sequential(nn.Linear(4, 2, bias=False))
    res = nn.Residual(nn.Linear(4, 2), projection=proj)
    x = tw.Tensor(np.ones((1, 4), dtype=np.float32))
    np.testing.assert_allclose(res(x).data, res.block(x).data + proj(x).data, rtol=1e-6)
    assert "projection.0.weight" in res.state_dict()


def _stack(residual, depth=20, width=16, seed=0):
    gen = tw.Generator(seed)
    layers = []
    for _ in range(depth):
        block = nn.Sequential(nn.Linear(width, width, dtype=np.float64, generator=gen), _Tanh())
        layers.append(nn.Residual(block) if residual else block)
    return nn.Sequential(*layers)


def _first_and_last_grad_norms(model):
    x = tw.Tensor(np.random.default_rng(4).standard_normal((32, 16)))
    out = model(x)
    (out * tw.Tensor(np.random.default_rng(5).standard_normal(out.shape))).sum().backward()
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return np.linalg.norm(linears[0].weight.grad), np.linalg.norm(linears[-1].weight.grad)


def test_residual_stack_keeps_the_gradient_of_early_layers():
    # seed 002: the product of many small derivatives vanishes in a plain deep stack;
    # the skip path adds the identity to every factor, so the early layers still learn
    first, last = _first_and_last_grad_norms(_stack(residual=True))
    assert 0.1 < first / last < 10
    first_plain, last_plain = _first_and_last_grad_norms(_stack(residual=False))
    assert first_plain / last_plain < 1e-2


def test_shape_mismatch_names_both_shapes():
    res = nn.Residual(nn.Linear(4, 6))
    with pytest.raises(ValueError, match=r"block's output shape \(2, 6\) differs from the input's shape \(2, 4\)"):
        res(tw.Tensor(np.zeros((2, 4), dtype=np.float32)))
    bad = nn.Residual(nn.Linear(4, 6), projection=nn.Linear(4, 5))
    with pytest.raises(ValueError, match=r"differs from the projection's output shape \(2, 5\)"):
        bad(tw.Tensor(np.zeros((2, 4), dtype=np.float32)))


def test_bad_arguments():
    with pytest.raises(ValueError, match="give both 'in_features' and 'out_features' or neither"):
        nn.Residual(nn.Linear(2, 2), in_features=2)
    with pytest.raises(ValueError, match="either 'projection' or 'in_features'/'out_features'"):
        nn.Residual(nn.Linear(2, 3), projection=nn.Linear(2, 3), in_features=2, out_features=3)
    with pytest.raises(TypeError, match="'block' must be a Module; got function"):
        nn.Residual(lambda x: x)
    with pytest.raises(ValueError, match="Residual: 'out_features' must be a positive int; got 0"):
        nn.Residual(nn.Linear(2, 2), in_features=2, out_features=0)
