"""Optimizer test landscapes: values, gradients (finite differences and torch), paths, the picture."""
import math

import numpy as np
import pytest
import torch

import trainwise
from trainwise.optim import SGD, Adam
from trainwise.optim import landscapes as L
from trainwise.testing import gradcheck

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _torch_fns():
    pi = math.pi
    return {
        "quadratic_bowl": lambda x, y: 0.1 * x**2 + 2.0 * y**2,
        "rosenbrock": lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2,
        "beale": lambda x, y: (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2,
        "himmelblau": lambda x, y: (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2,
        "rastrigin": lambda x, y: 20 + x**2 - 10 * torch.cos(2 * pi * x) + y**2 - 10 * torch.cos(2 * pi * y),
    }


POINTS = np.random.default_rng(0).uniform(-2.5, 2.5, size=(6, 2))


@pytest.mark.parametrize("name", sorted(L.LANDSCAPES))
def test_values_and_gradients_match_torch(name):
    fn = L.LANDSCAPES[name][0]
    tfn = _torch_fns()[name]
    for pt in POINTS:
        p = trainwise.Tensor(pt.copy(), requires_grad=True)
        f = fn(p)
        f.backward()
        tp = torch.tensor(pt, dtype=torch.float64, requires_grad=True)
        tf = tfn(tp[0], tp[1])
        tf.backward()
        assert float(f.data) == pytest.approx(tf.item(), rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("name", sorted(L.LANDSCAPES))
def test_gradients_match_finite_differences(name):
    fn = L.LANDSCAPES[name][0]
    for pt in POINTS[:3]:
        assert gradcheck(fn, pt) < 1e-6


@pytest.mark.parametrize("name", sorted(L.LANDSCAPES))
def test_documented_minima(name):
    fn, minima, _ = L.LANDSCAPES[name]
    for m in minima:
        p = trainwise.Tensor(np.array(m, dtype=np.float64), requires_grad=True)
        f = fn(p)
        f.backward()
        assert float(f.data) < 1e-9  # the himmelblau minima are given to 6 decimals
        assert np.abs(p.grad).max() < 1e-3
        # and it is a minimum: every nearby point is higher
        for d in ([1e-2, 0], [0, 1e-2], [-1e-2, 0], [0, -1e-2]):
            assert float(fn(np.array(m) + d).data) > float(f.data)


def test_grid_evaluation_matches_pointwise():
    gx, gy = np.meshgrid(np.linspace(-2, 2, 5), np.linspace(-1, 3, 4))
    with trainwise.no_grad():
        z = L.rosenbrock(np.stack([gx, gy])).data
    assert z.shape == (4, 5)
    assert z[2, 3] == pytest.approx(float(L.rosenbrock(np.array([gx[2, 3], gy[2, 3]])).data))


def test_bad_point_shape():
    with pytest.raises(ValueError, match=r"rosenbrock: 'p' must hold \(x, y\) along its first axis .*got shape \(3,\)"):
        L.rosenbrock(np.zeros(3))


def test_every_default_optimizer_descends_rosenbrock():
    paths, losses = L.run_paths(L.rosenbrock, L.default_optimizers(), start=(-1.5, 2.0), steps=200)
    assert set(paths) == set(L.DEFAULT_SETTINGS)
    for name in paths:
        path, loss = paths[name], losses[name]
        assert path.shape == (201, 2) and loss.shape == (201,)
        assert np.array_equal(path[0], [-1.5, 2.0]) and loss[0] == pytest.approx(12.5)
        assert np.all(np.isfinite(loss)), name
        assert loss[-1] < loss[0], name
        assert loss[-1] == pytest.approx(float(L.rosenbrock(path[-1]).data), rel=1e-12)
    # the picture's story, in numbers: momentum travels the valley, AdaGrad's step dies, Adam gets ahead of both
    assert losses["Momentum"][-1] < 0.2 and losses["Nesterov"][-1] < 0.2
    ada_steps = np.linalg.norm(np.diff(paths["Adagrad"], axis=0), axis=1)
    assert ada_steps[-20:].mean() < 0.01 * ada_steps[:5].mean()
    assert losses["Adam"][-1] < 0.5 * min(losses["Adagrad"][-1], losses["SGD"][-1])


def test_paths_match_torch_optimizers():
    # the whole chain (landscape gradients + optimizer) against torch on Rosenbrock
    ours = {"Momentum": (SGD, {"lr": 1e-3, "momentum": 0.9}), "Adam": (Adam, {"lr": 0.1})}
    paths, _ = L.run_paths(L.rosenbrock, ours, steps=50)
    for name, make in (("Momentum", lambda p: torch.optim.SGD([p], lr=1e-3, momentum=0.9)),
                       ("Adam", lambda p: torch.optim.Adam([p], lr=0.1))):
        p = torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)
        opt = make(p)
        want = [p.detach().numpy().copy()]
        for _ in range(50):
            opt.zero_grad()
            _torch_fns()["rosenbrock"](p[0], p[1]).backward()
            opt.step()
            want.append(p.detach().numpy().copy())
        np.testing.assert_allclose(paths[name], np.array(want), rtol=1e-9, atol=1e-12)


def test_divergence_leaves_nan_rows():
    paths, losses = L.run_paths(L.rosenbrock, {"hot": (SGD, {"lr": 0.05})}, steps=30)
    k = int(np.argmax(~np.isfinite(losses["hot"])))
    assert 0 < k and np.all(np.isnan(paths["hot"][k + 1:]))


def _check_png(path):
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    import matplotlib.image
    img = matplotlib.image.imread(str(path))
    assert img.ndim == 3 and img.shape[0] >= 200 and img.shape[1] >= 300
    assert img[..., :3].std() > 0.05  # not a blank canvas


def test_plot_paths_writes_png(tmp_path):
    paths, losses = L.run_paths(L.rosenbrock, L.default_optimizers(["SGD", "Momentum", "Adagrad", "Adam"]),
                                steps=60)
    out = tmp_path / "rosen.png"
    assert L.plot_paths(L.rosenbrock, paths, out, losses=losses) == str(out)
    _check_png(out)
    # a function with minimum 0 at a grid point (log levels need a shift), and one not in LANDSCAPES
    paths, _ = L.run_paths(L.rastrigin, {"Adam": (Adam, {"lr": 0.05})}, start=(1.3, -0.8), steps=40)
    L.plot_paths(L.rastrigin, paths, tmp_path / "r.png")
    _check_png(tmp_path / "r.png")
    paths, _ = L.run_paths(lambda p: L.rosenbrock(p, a=2.0), {"Adam": (Adam, {"lr": 0.05})}, steps=20)
    L.plot_paths(lambda p: L.rosenbrock(p, a=2.0), paths, tmp_path / "c.png", bounds=((-2, 3), (-1, 5)))
    _check_png(tmp_path / "c.png")


@pytest.mark.parametrize("kwargs,match", [
    (dict(optimizers={}), r"'optimizers' must be a non-empty dict"),
    (dict(optimizers={"x": SGD}), r"optimizers\['x'\] must be \(OptimizerClass, kwargs\)"),
    (dict(start=(1.0,)), r"'start' must be two finite numbers"),
    (dict(start=(1.0, float("nan"))), r"'start' must be two finite numbers"),
    (dict(steps=0), r"'steps' must be a positive int; got 0"),
])
def test_run_paths_bad_input(kwargs, match):
    args = dict(fn=L.rosenbrock, optimizers={"SGD": (SGD, {"lr": 1e-3})})
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        L.run_paths(**args)


def test_default_optimizers_unknown_name():
    with pytest.raises(ValueError, match=r"unknown name\(s\) \['LBFGS'\]"):
        L.default_optimizers(["Adam", "LBFGS"])
