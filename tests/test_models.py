"""The ready-made models of ``trainwise.models`` against PyTorch references of the same architectures.

The MNIST-1D references follow the repository's ``notebooks/models.py``
(LinearBase, MLPBase, ConvBase, GRUBase; Greydanus 2020): each trainwise model
must have the same parameter names, shapes and count, and, with the torch
weights copied in, the same logits and gradients in float64.
"""
import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

import trainwise as tw
from trainwise import Tensor, models
from trainwise.data import load_dataset
from trainwise.nn.functional import cross_entropy
from trainwise.optim import Adam


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Tiny matrices: a threaded BLAS only adds synchronization (30× slower on a busy 2-core machine)."""
    with threadpool_limits(1):
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(torch_threads)


# ------------------------------------------------------------------ torch references
class TorchLogistic(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(40, 10)

    def forward(self, x):
        return self.linear(x)


class TorchMLP(torch.nn.Module):
    def __init__(self, norm=False):
        super().__init__()
        self.linear1, self.linear2, self.linear3 = (torch.nn.Linear(40, 100), torch.nn.Linear(100, 100),
                                                    torch.nn.Linear(100, 10))
        self.norm1 = torch.nn.BatchNorm1d(100) if norm else torch.nn.Identity()
        self.norm2 = torch.nn.BatchNorm1d(100) if norm else torch.nn.Identity()

    def forward(self, x):
        h = torch.relu(self.norm1(self.linear1(x)))
        h = h + torch.relu(self.norm2(self.linear2(h)))
        return self.linear3(h)


class TorchCNN(torch.nn.Module):
    def __init__(self, norm=False):
        super().__init__()
        self.conv1 = torch.nn.Conv1d(1, 25, 5, stride=2, padding=1)
        self.conv2 = torch.nn.Conv1d(25, 25, 3, stride=2, padding=1)
        self.conv3 = torch.nn.Conv1d(25, 25, 3, stride=2, padding=1)
        self.linear = torch.nn.Linear(125, 10)
        for k in (1, 2, 3):
            setattr(self, f"norm{k}", torch.nn.BatchNorm1d(25) if norm else torch.nn.Identity())

    def forward(self, x):
        h = x.view(-1, 1, x.shape[-1])
        for k in (1, 2, 3):
            h = torch.relu(getattr(self, f"norm{k}")(getattr(self, f"conv{k}")(h)))
        return self.linear(h.flatten(1))


class TorchGRU(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = torch.nn.GRU(1, 6, batch_first=True, bidirectional=True)
        self.linear = torch.nn.Linear(2 * 6 * 40, 10)

    def forward(self, x):
        out, _ = self.gru(x.view(x.shape[0], 40, 1))
        return self.linear(out.reshape(out.shape[0], -1))


class TorchDigitsCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(16, 32, 3, padding=1)
        self.linear = torch.nn.Linear(128, 10)

    def forward(self, x):
        h = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        h = torch.max_pool2d(torch.relu(self.conv2(h)), 2)
        return self.linear(h.flatten(1))


CASES = {
    "logistic": (models.mnist1d_logistic, TorchLogistic, (7, 40), 410),
    "mlp": (models.mnist1d_mlp, TorchMLP, (7, 40), 15_210),
    "cnn": (models.mnist1d_cnn, TorchCNN, (7, 40), 5_210),
    "gru": (models.mnist1d_gru, TorchGRU, (7, 40), 5_134),
    "digits_cnn": (models.digits_cnn, TorchDigitsCNN, (7, 1, 8, 8), 6_090),
}


def _rel(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


def _compare(model, tmodel, x, y):
    """Copy torch's weights in, run forward and backward in float64, compare logits and every gradient."""
    model.to(np.float64)
    tmodel.double()
    model.load_state_dict(tmodel.state_dict())
    tx = torch.tensor(x, requires_grad=True)
    tout = tmodel(tx)
    torch.nn.functional.cross_entropy(tout, torch.tensor(y)).backward()
    xt = Tensor(x, requires_grad=True)
    out = model(xt)
    cross_entropy(out, y).backward()
    assert out.shape == tuple(tout.shape)
    assert _rel(out.data, tout.detach().numpy()) < 1e-6
    assert _rel(xt.grad, tx.grad.numpy()) < 1e-6
    tgrads = {k: p.grad.numpy() for k, p in tmodel.named_parameters()}
    grads = {k: p.grad for k, p in model.named_parameters()}
    assert grads.keys() == tgrads.keys()
    # relative to the largest gradient: a bias followed by batch norm has a gradient of exactly 0 (rounding noise)
    scale = max(np.abs(g).max() for g in tgrads.values())
    for k in grads:
        assert np.abs(grads[k] - tgrads[k]).max() < 1e-6 * max(np.abs(tgrads[k]).max(), 1e-6 * scale), k


@pytest.mark.parametrize("name", list(CASES))
def test_parity_with_torch_reference(name):
    make, tmake, shape, count = CASES[name]
    torch.manual_seed(0)
    tmodel = tmake()
    model = make(generator=tw.Generator(0))
    # the same parameters, names and shapes as the reference, so state dicts move both ways
    assert {k: v.shape for k, v in model.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in tmodel.state_dict().items()}
    assert sum(p.data.size for p in model.parameters()) == sum(p.numel() for p in tmodel.parameters()) == count
    rng = np.random.default_rng(1)
    _compare(model, tmodel, rng.standard_normal(shape), rng.integers(0, 10, shape[0]))


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_batchnorm_variants_match_torch(name):
    make, tmake, shape, _ = CASES[name]
    torch.manual_seed(0)
    tmodel = tmake(norm=True)
    model = make(norm="batch", generator=tw.Generator(0))
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal(shape), rng.integers(0, 10, shape[0])
    _compare(model, tmodel, x, y)  # training mode: batch statistics
    for k, v in tmodel.state_dict().items():  # running statistics updated the same way
        if "running" in k:
            np.testing.assert_allclose(model.state_dict()[k], v.numpy(), rtol=1e-10, atol=1e-12)
    model.eval()
    tmodel.eval()
    with torch.no_grad():
        ref = tmodel(torch.tensor(x)).numpy()
    assert _rel(model(Tensor(x)).data, ref) < 1e-6


def test_input_layouts_and_dropout():
    x = np.random.default_rng(0).standard_normal((5, 40)).astype(np.float32)
    for make in (models.mnist1d_cnn, models.mnist1d_gru):
        m = make(generator=tw.Generator(0))
        np.testing.assert_array_equal(m(Tensor(x)).data, m(Tensor(x[:, None, :])).data)  # (N, L) == (N, 1, L)
    d = models.digits_cnn(generator=tw.Generator(0))
    img = x[:, :1].repeat(64, axis=1)
    np.testing.assert_array_equal(d(Tensor(img)).data, d(Tensor(img.reshape(5, 1, 8, 8))).data)
    # dropout is active in training and off in eval, where the output is the plain model's
    m = models.mnist1d_mlp(dropout=0.5, generator=tw.Generator(0))
    plain = models.mnist1d_mlp(generator=tw.Generator(0))
    assert not np.allclose(m(Tensor(x)).data, plain(Tensor(x)).data)
    m.eval()
    np.testing.assert_allclose(m(Tensor(x)).data, plain(Tensor(x)).data, rtol=1e-6)


def test_bad_input_and_arguments():
    expect = r"'input' must be \(N, 40\) or \(N, 1, 40\); got shape"
    with pytest.raises(ValueError, match=r"Mnist1dCNN: " + expect + r" \(3, 2, 40\)"):
        models.mnist1d_cnn()(Tensor(np.zeros((3, 2, 40), np.float32)))
    with pytest.raises(ValueError, match=r"Mnist1dGRU: " + expect + r" \(3, 39\)"):
        models.mnist1d_gru()(Tensor(np.zeros((3, 39), np.float32)))
    with pytest.raises(ValueError, match=r"DigitsCNN: 'input' must be \(N, 1, 8, 8\) or \(N, 64\); got shape \(3, 8"):
        models.digits_cnn()(Tensor(np.zeros((3, 8, 8), np.float32)))
    with pytest.raises(ValueError, match=r"mnist1d_mlp: 'norm' must be one of 'none', 'batch', 'layer'; got 'group'"):
        models.mnist1d_mlp(norm="group")
    with pytest.raises(ValueError, match=r"mnist1d_cnn: 'dropout' must be a number in \[0, 1\); got 1.0"):
        models.mnist1d_cnn(dropout=1.0)


def _accuracy(model, X, y):
    model.eval()
    with tw.no_grad():
        return float((model(Tensor(X)).data.argmax(axis=1) == y).mean())


def test_digits_cnn_trains():
    ds = load_dataset("digits", image=True)
    gen = tw.Generator(0)
    model = models.digits_cnn(generator=gen)
    opt = Adam(model.parameters(), lr=3e-3)
    n = len(ds.X_train)
    for _ in range(4):  # four epochs of batch 32
        order = gen.permutation(n)
        for i in range(0, n, 32):
            idx = order[i:i + 32]
            loss = cross_entropy(model(Tensor(ds.X_train[idx])), ds.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert _accuracy(model, ds.X_test, ds.y_test) >= 0.90


def test_mnist1d_cnn_trains():
    ds = load_dataset("mnist1d")
    model = models.mnist1d_cnn(generator=tw.Generator(0))
    opt = Adam(model.parameters(), lr=1e-2)
    for step in range(300):  # the repository's recipe, cut short
        b = (step * 100) % len(ds.X_train)
        loss = cross_entropy(model(Tensor(ds.X_train[b:b + 100])), ds.y_train[b:b + 100])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert _accuracy(model, ds.X_test, ds.y_test) >= 0.60
