"""Module, Parameter, Linear, Sequential and ModuleList: registration, modes, hooks,
state dicts (also to and from PyTorch), and Linear's parity with torch.nn.Linear."""
import numpy as np
import pytest
import torch

import trainwise as tw
from trainwise import nn
from trainwise.testing import gradcheck, relative_error


class ReLU(nn.Module):
    """A parameter-free layer made from core ops, so these tests need no activation module."""

    def forward(self, x):
        return tw.maximum(x, 0.0)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4, generator=tw.Generator(1))
        self.act = ReLU()
        self.scale = nn.Parameter(np.ones(4))
        self.register_buffer("running", np.zeros(4))
        self.register_buffer("scratch", np.zeros(2), persistent=False)

    def forward(self, x):
        return self.act(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Sequential(nn.Linear(4, 2), ReLU(), nn.Linear(2, 1))
        self.tied = self.block.scale  # the same Parameter twice: listed once

    def forward(self, x):
        return self.head(self.block(x))


def mlp_pair(seed=0):
    torch.manual_seed(seed)
    theirs = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).double()
    ours = nn.Sequential(nn.Linear(5, 8), ReLU(), nn.Linear(8, 3)).double()
    return ours, theirs


# ------------------------------------------------------------------ registration
class TorchBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 4)
        self.act = torch.nn.ReLU()
        self.scale = torch.nn.Parameter(torch.ones(4))
        self.register_buffer("running", torch.zeros(4))
        self.register_buffer("scratch", torch.zeros(2), persistent=False)


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.block = TorchBlock()
        self.head = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
        self.tied = self.block.scale


def test_parameters_named_parameters_children_named_modules_match_torch():
    net, ref = Net(), TorchNet()
    names = [n for n, _ in net.named_parameters()]
    assert names == [n for n, _ in ref.named_parameters()]
    assert names == ["tied", "block.fc.weight", "block.fc.bias", "head.0.weight", "head.0.bias",
                     "head.2.weight", "head.2.bias"]  # a shared Parameter is listed once, first name wins
    assert len(list(net.parameters())) == 7
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert [type(m) for m in net.children()] == [Block, nn.Sequential]
    assert [n for n, _ in net.named_modules()] == [n for n, _ in ref.named_modules()] == [
        "", "block", "block.fc", "block.act", "head", "head.0", "head.1", "head.2"]
    assert [n for n, _ in net.block.named_parameters(recurse=False)] == ["scale"]
    assert [n for n, _ in net.named_buffers()] == [n for n, _ in ref.named_buffers()]
    sd = net.state_dict()
    assert list(sd) == list(ref.state_dict())  # the tied entry twice; non-persistent buffers left out
    assert "block.running" in sd and "block.scratch" not in sd


def test_state_dict_holds_copies():
    lin = nn.Linear(2, 2)
    sd = lin.state_dict()
    sd["weight"][...] = 7.0
    assert not np.any(lin.weight.data == 7.0)


def test_assigning_the_wrong_type_to_a_parameter_slot_is_refused():
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="cannot assign ndarray to parameter 'weight'"):
        lin.weight = np.zeros((2, 2))

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(2))

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\) before assigning attribute 'w'"):
        Early()


def test_train_and_eval_propagate_and_call_overrides():
    calls = []

    class Custom(nn.Module):
        def train(self, mode=True):
            calls.append(mode)
            return super().train(mode)

    net = nn.Sequential(Net(), nn.Sequential(Custom()))
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    assert calls == [False, True]
    with pytest.raises(ValueError, match="'mode' must be a bool; got 'yes'"):
        net.train("yes")


def test_forward_hooks_and_pre_hooks_fire_and_remove():
    lin = nn.Linear(3, 2).double()
    x = tw.Tensor(np.ones((1, 3)))
    seen = []
    h1 = lin.register_forward_pre_hook(lambda m, inputs: seen.append(("pre", inputs[0].shape)))
    h2 = lin.register_forward_hook(lambda m, inputs, out: seen.append(("post", out.shape)))
    base = lin(x).data.copy()
    assert seen == [("pre", (1, 3)), ("post", (1, 2))]
    h3 = lin.register_forward_pre_hook(lambda m, inputs: (inputs[0] * 2,))
    h4 = lin.register_forward_hook(lambda m, inputs, out: out * 0 + 5.0)
    assert np.all(lin(x).data == 5.0)
    for h in (h1, h2, h3, h4):
        h.remove()
    h4.remove()  # removing twice is harmless
    seen.clear()
    np.testing.assert_array_equal(lin(x).data, base)
    assert seen == []


def test_zero_grad_requires_grad_and_to():
    lin = nn.Linear(3, 2)
    lin(tw.Tensor(np.ones((2, 3), dtype=np.float32))).sum().backward()
    assert lin.weight.grad is not None and lin.weight.grad.dtype == np.float32
    lin.zero_grad(set_to_none=False)
    assert np.all(lin.weight.grad == 0)
    lin.zero_grad()
    assert lin.weight.grad is None
    lin.requires_grad_(False)
    assert not lin(tw.Tensor(np.ones((1, 3), dtype=np.float32))).requires_grad
    assert lin.double().weight.dtype == np.float64 and lin.float().bias.dtype == np.float32


# -------------------------------------------------------------- load_state_dict
def _snapshot(module):
    return {k: v.copy() for k, v in module.state_dict().items()}


def _assert_unchanged(module, before):
    after = module.state_dict()
    assert list(after) == list(before)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])


def test_load_state_dict_missing_key_raises_and_changes_nothing():
    ours, _ = mlp_pair()
    before = _snapshot(ours)
    sd = {k: v + 1 for k, v in before.items()}
    del sd["2.bias"]
    with pytest.raises(KeyError, match=r"missing \['2.bias'\]"):
        ours.load_state_dict(sd)
    _assert_unchanged(ours, before)


def test_load_state_dict_unexpected_key_raises_and_changes_nothing():
    ours, _ = mlp_pair()
    before = _snapshot(ours)
    sd = {k: v + 1 for k, v in before.items()}
    sd["3.weight"] = np.zeros((2, 2))
    with pytest.raises(KeyError, match=r"unexpected \['3.weight'\]"):
        ours.load_state_dict(sd)
    _assert_unchanged(ours, before)


def test_load_state_dict_misshaped_names_key_and_both_shapes_and_changes_nothing():
    ours, _ = mlp_pair()
    before = _snapshot(ours)
    sd = {k: v + 1 for k, v in before.items()}  # "0.weight" would load fine; "2.weight" cannot
    sd["2.weight"] = np.zeros((8, 3))
    with pytest.raises(ValueError, match=r"2\.weight: expected \(3, 8\), got \(8, 3\)"):
        ours.load_state_dict(sd)
    _assert_unchanged(ours, before)
    with pytest.raises(ValueError, match=r"2\.weight: expected \(3, 8\), got \(8, 3\)"):
        ours.load_state_dict(sd, strict=False)  # shapes are checked even when not strict
    _assert_unchanged(ours, before)


def test_load_state_dict_unconvertible_value_changes_nothing():
    ours, _ = mlp_pair()
    before = _snapshot(ours)
    sd = {k: v + 1 for k, v in before.items()}
    sd["2.bias"] = np.array(["a", "b", "c"])
    with pytest.raises(ValueError, match="2.bias"):
        ours.load_state_dict(sd)
    _assert_unchanged(ours, before)


def test_load_state_dict_non_strict_returns_missing_and_unexpected():
    ours, _ = mlp_pair()
    before = _snapshot(ours)
    sd = {"0.weight": before["0.weight"] + 1, "extra": np.zeros(1)}
    result = ours.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["0.bias", "2.weight", "2.bias"]
    assert result.unexpected_keys == ["extra"]
    missing, unexpected = result  # unpacks like torch's _IncompatibleKeys
    np.testing.assert_array_equal(ours[0].weight.data, before["0.weight"] + 1)
    np.testing.assert_array_equal(ours[2].weight.data, before["2.weight"])


def test_load_state_dict_writes_in_place_and_casts_to_the_parameter_dtype():
    lin = nn.Linear(2, 3)  # float32
    w = lin.weight
    buf = w.data
    lin.load_state_dict({"weight": np.ones((3, 2)), "bias": np.zeros(3)})
    assert lin.weight is w and lin.weight.data is buf and buf.dtype == np.float32
    np.testing.assert_array_equal(buf, np.ones((3, 2)))


def test_buffers_load_and_survive_state_dict_round_trip():
    a, b = Block(), Block()
    a.running[...] = 3.0
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(b.running, 3.0)


# ------------------------------------------------------------ torch interchange
def test_sequential_state_dict_keys_match_torch():
    ours, theirs = mlp_pair()
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    for k, v in theirs.state_dict().items():
        assert ours.state_dict()[k].shape == tuple(v.shape)


def test_torch_state_dict_loads_by_name_and_back():
    ours, theirs = mlp_pair(seed=3)
    ours.load_state_dict(theirs.state_dict())
    x = np.random.default_rng(0).standard_normal((6, 5))
    np.testing.assert_allclose(ours(tw.Tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-12)
    # and back: trainwise weights into a fresh torch model
    ours2, theirs2 = mlp_pair(seed=4)
    theirs2.load_state_dict({k: torch.from_numpy(v) for k, v in ours2.state_dict().items()})
    np.testing.assert_allclose(ours2(tw.Tensor(x)).data, theirs2(torch.tensor(x)).detach().numpy(), rtol=1e-12)
    assert relative_error(ours(tw.Tensor(x)).data, ours2(tw.Tensor(x)).data) > 1e-3  # the seeds differ


# ----------------------------------------------------------------------- Linear
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 5), (5,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(shape, bias):
    torch.manual_seed(0)
    theirs = torch.nn.Linear(5, 3, bias=bias).double()
    ours = nn.Linear(5, 3, bias=bias).double()
    ours.load_state_dict(theirs.state_dict())
    x = np.random.default_rng(1).standard_normal(shape)
    tx, px = tw.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, pout = ours(tx), theirs(px)
    assert out.shape == tuple(pout.shape)
    assert relative_error(out.data, pout.detach().numpy()) < 1e-12
    g = np.random.default_rng(2).standard_normal(out.shape)
    out.backward(g)
    pout.backward(torch.tensor(g))
    assert relative_error(tx.grad, px.grad.numpy()) < 1e-12
    assert relative_error(ours.weight.grad, theirs.weight.grad.numpy()) < 1e-12
    if bias:
        assert relative_error(ours.bias.grad, theirs.bias.grad.numpy()) < 1e-12
    else:
        assert ours.bias is None and list(ours.state_dict()) == ["weight"]


@pytest.mark.parametrize("shape", [(4, 3), (2, 2, 3)])
def test_linear_gradcheck(shape):
    lin = nn.Linear(3, 2, generator=tw.Generator(5)).double()
    x = np.random.default_rng(3).standard_normal(shape)
    assert gradcheck(lin, x, params=list(lin.parameters())) < 1e-6


def test_sequential_gradcheck_and_containers():
    net = nn.Sequential(nn.Linear(3, 4), ReLU(), nn.Linear(4, 2)).double()
    x = np.random.default_rng(4).standard_normal((5, 3))
    assert gradcheck(net, x, params=list(net.parameters())) < 1e-6
    assert len(net) == 3 and isinstance(net[0], nn.Linear) and isinstance(net[1:], nn.Sequential)
    assert net[-1] is net[2]
    ref = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    assert list(net[1:].state_dict()) == list(ref[1:].state_dict()) == ["2.weight", "2.bias"]
    net.append(ReLU())
    assert [n for n, _ in net.named_children()] == ["0", "1", "2", "3"]
    ml = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    assert [n for n, _ in ml.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    with pytest.raises(TypeError, match="entry 1 must be a Module; got int"):
        nn.Sequential(nn.Linear(2, 2), 3)


def test_linear_default_init_is_torchs_bound():
    lin = nn.Linear(50, 40, dtype=np.float64)
    bound = 1 / np.sqrt(50)
    assert np.abs(lin.weight.data).max() <= bound and np.abs(lin.bias.data).max() <= bound
    assert np.abs(lin.weight.data).max() > 0.95 * bound


@pytest.mark.parametrize("args,match", [
    ((0, 3), "Linear: 'in_features' must be a positive int; got 0"),
    ((3, -1), "Linear: 'out_features' must be a positive int; got -1"),
    ((2.5, 3), "Linear: 'in_features' must be a positive int; got 2.5"),
    ((True, 3), "Linear: 'in_features' must be a positive int; got True"),
])
def test_linear_bad_sizes(args, match):
    with pytest.raises(ValueError, match=match):
        nn.Linear(*args)


def test_linear_bad_init_and_nonlinearity_and_input():
    with pytest.raises(ValueError, match="Linear: 'init' must be one of .*he_normal.*; got 'he_norml'"):
        nn.Linear(3, 3, init="he_norml")
    with pytest.raises(ValueError, match="Linear: 'nonlinearity' must be one of .*; got 'rleu'"):
        nn.Linear(3, 3, init="he_normal", nonlinearity="rleu")
    with pytest.raises(ValueError, match=r"in_features=3; got input of shape \(2, 4\)"):
        nn.Linear(3, 3)(tw.Tensor(np.ones((2, 4), dtype=np.float32)))


def _torch_mlp(net):
    ref = torch.nn.Sequential(*[torch.nn.Linear(m.in_features, m.out_features) if isinstance(m, nn.Linear)
                                else torch.nn.ReLU() for m in net]).double()
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in net.state_dict().items()})
    return ref


@pytest.mark.parametrize("batch", [1, 5, 129, 300])
def test_feature_major_hidden_layers_match_torch(batch):
    # a Linear+ReLU that feeds a Linear holds its output feature-major (F-ordered) when the
    # batch is smaller than its width; the values and every gradient stay torch's
    net = nn.Sequential(nn.Linear(7, 130), nn.ReLU(), nn.Linear(130, 200), nn.ReLU(), nn.Linear(200, 3)).double()
    seen = []
    net[2].register_forward_pre_hook(lambda m, args: seen.append(args[0].data.flags.f_contiguous))
    x = np.random.default_rng(8).standard_normal((batch, 7))
    xt = tw.Tensor(x, requires_grad=True)
    out = net(xt)
    (out * out).sum().backward()
    # (the hook unfuses net[2]'s pair, not net[0]'s, whose output still goes into a Linear)
    assert seen == [batch < 130]
    assert out.data.flags.c_contiguous
    ref = _torch_mlp(net)
    xr = torch.from_numpy(x).requires_grad_()
    ro = ref(xr)
    (ro * ro).sum().backward()
    assert relative_error(out.data, ro.detach().numpy()) < 1e-12
    assert relative_error(xt.grad, xr.grad.numpy()) < 1e-12
    for (name, p), rp in zip(net.named_parameters(), ref.parameters()):
        assert relative_error(p.grad, rp.grad.numpy()) < 1e-12, name


def test_feature_major_gradcheck(monkeypatch):
    import sys

    monkeypatch.setattr(sys.modules["trainwise.functional.linear"], "FEATURE_MAJOR_MIN_WIDTH", 1)
    g = tw.Generator(3)
    net = nn.Sequential(nn.Linear(3, 6, generator=g), nn.ReLU(), nn.Linear(6, 5, generator=g), nn.ReLU(),
                        nn.Linear(5, 2, generator=g)).double()
    seen = []
    net[4].register_forward_pre_hook(lambda m, args: seen.append(args[0].data.flags.f_contiguous))
    x = np.random.default_rng(10).standard_normal((2, 3))
    assert gradcheck(net, x, params=list(net.parameters())) < 1e-6
    assert seen and all(seen)  # the path was taken


def test_feature_major_only_into_a_linear_and_can_be_switched_off(monkeypatch):
    import sys

    lin = sys.modules["trainwise.functional.linear"]
    x = tw.Tensor(np.random.default_rng(9).standard_normal((16, 20)).astype(np.float32))
    hidden = []
    into_dropout = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 4))
    into_linear = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 4))
    for net in (into_dropout, into_linear):
        net[-1].register_forward_pre_hook(lambda m, args: hidden.append(args[0].data.flags.f_contiguous))
    into_dropout.eval()
    into_dropout(x)
    into_linear(x)
    assert hidden == [False, True]
    monkeypatch.setattr(lin, "FEATURE_MAJOR", False)
    hidden.clear()
    into_linear(x)
    assert hidden == [False]
    # the same numbers either way, to float32 rounding
    monkeypatch.setattr(lin, "FEATURE_MAJOR", True)
    a = into_linear(x).data
    monkeypatch.setattr(lin, "FEATURE_MAJOR", False)
    b = into_linear(x).data
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
