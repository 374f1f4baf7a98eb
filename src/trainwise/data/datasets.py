"""Built-in datasets, all offline: ``load_dataset(name, **kwargs)`` and the ``DATASETS`` registry.

Real data: ``mnist1d`` (Greydanus 2020, generated locally by the ``mnist1d``
package and cached) and ``digits`` (scikit-learn's 8×8 handwritten digits,
shipped with scikit-learn). Synthetic data, seeded: ``spirals``, ``moons``,
``circles``, ``blobs`` and ``regression``. Each loader returns a
``DatasetSplits`` with a train and a test split; carve a validation split from
the training split with ``train_val_split``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import math
import os
import random as _pyrandom
import tempfile
import warnings

from ..backend import Generator, get_default_dtype, xp
from .dataset import TensorDataset
from .split import train_val_split

__all__ = ["DatasetSplits", "DATASETS", "load_dataset", "cache_dir", "make_spirals", "make_moons", "make_circles",
           "make_blobs", "make_regression"]

DATASETS = {
    "mnist1d": "MNIST-1D (Greydanus 2020): 10 digit templates as 1-D signals of length 40, 4000 train / 1000 test",
    "digits": "scikit-learn's 8x8 handwritten digits: 1797 images, 10 classes, pixels in [0, 1], stratified 25% test",
    "spirals": "two (or k) interleaved spirals in 2-D, a classic nonlinear classification task",
    "moons": "two interleaving half circles in 2-D (as scikit-learn's make_moons)",
    "circles": "a small circle inside a larger one in 2-D (as scikit-learn's make_circles)",
    "blobs": "isotropic Gaussian clusters, one per class (as scikit-learn's make_blobs)",
    "regression": "noisy regression: y = sin(2*pi*x.w) (or a linear function) of 1-D or n-D inputs",
}


@dataclasses.dataclass
class DatasetSplits:
    """A dataset's train and test splits and what a model needs to know about it.

    ``X_*`` are float32 inputs; ``y_*`` are int64 class labels (task
    ``"classification"``, ``num_classes`` classes) or float32 targets of shape
    (N, 1) (task ``"regression"``, ``num_classes`` None). ``input_shape`` is
    the shape of one sample. ``info`` records how it was made (seed, sizes).
    ``.train`` and ``.test`` wrap the splits as ``TensorDataset``.
    """

    X_train: object
    y_train: object
    X_test: object
    y_test: object
    num_classes: int | None
    input_shape: tuple
    name: str
    task: str
    info: dict = dataclasses.field(default_factory=dict)

    @property
    def train(self) -> TensorDataset:
        return TensorDataset(self.X_train, self.y_train)

    @property
    def test(self) -> TensorDataset:
        return TensorDataset(self.X_test, self.y_test)

    def __repr__(self):
        classes = f"{self.num_classes} classes" if self.num_classes else "regression"
        return (f"DatasetSplits({self.name!r}: {len(self.X_train)} train / {len(self.X_test)} test, "
                f"input_shape={self.input_shape}, {classes})")


# ------------------------------------------------------------------ validation
def _check_int(owner, name, value, low):
    if isinstance(value, bool) or not isinstance(value, (int, xp.integer)) or value < low:
        raise ValueError(f"{owner}: '{name}' must be an int >= {low}; got {value!r}")
    return int(value)


def _check_nonneg(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, xp.integer, xp.floating)) or not value >= 0:
        raise ValueError(f"{owner}: '{name}' must be a non-negative number; got {value!r}")
    return float(value)


def _counts(n, k):
    """n samples over k classes as evenly as possible (the first n % k classes get one more)."""
    return [n // k + (1 if c < n % k else 0) for c in range(k)]


def _finish(X, y, gen):
    """Shuffle the rows (the classes were made one after another) and fix the dtypes."""
    perm = gen.permutation(len(X))
    return X[perm].astype(get_default_dtype()), y[perm]


# ------------------------------------------------------------------ synthetic generators
def _spirals(n_samples, noise, gen, n_classes=2, turns=1.5):
    labels = xp.repeat(xp.arange(n_classes, dtype=xp.int64), _counts(n_samples, n_classes))
    t = xp.sqrt(gen.random(n_samples))  # radius in [0, 1], denser toward the rim than uniform in t
    angle = 2 * math.pi * turns * t + 2 * math.pi * labels / n_classes
    X = xp.stack([t * xp.cos(angle), t * xp.sin(angle)], axis=1) + noise * gen.normal(size=(n_samples, 2))
    return _finish(X, labels, gen)


def make_spirals(n_samples=1000, noise=0.05, seed=0, n_classes=2, turns=1.5):
    """``n_classes`` interleaved spiral arms in 2-D: ``(X float32 (N, 2), y int64 (N,))``.

    Arm c: radius r = √u (u ~ U[0, 1)), angle θ = 2π·turns·r + 2πc/n_classes,
    x = r(cos θ, sin θ) + noise·ε with ε ~ N(0, I). Not linearly separable: a
    model needs hidden layers. Example: ``X, y = make_spirals(500, noise=0.05, seed=1)``.
    """
    owner = "make_spirals"
    _check_int(owner, "n_samples", n_samples, 1)
    _check_int(owner, "n_classes", n_classes, 2)
    _check_nonneg(owner, "turns", turns)
    return _spirals(n_samples, _check_nonneg(owner, "noise", noise), Generator(seed), n_classes, turns)


def _moons(n_samples, noise, gen):
    labels = xp.repeat(xp.arange(2, dtype=xp.int64), _counts(n_samples, 2))
    t = math.pi * gen.random(n_samples)
    outer = xp.stack([xp.cos(t), xp.sin(t)], axis=1)
    inner = xp.stack([1 - xp.cos(t), 0.5 - xp.sin(t)], axis=1)
    X = xp.where(labels[:, None] == 0, outer, inner) + noise * gen.normal(size=(n_samples, 2))
    return _finish(X, labels, gen)


def make_moons(n_samples=1000, noise=0.1, seed=0):
    """Two interleaving half circles in 2-D: ``(X float32 (N, 2), y int64 (N,))``.

    Class 0: (cos t, sin t); class 1: (1 − cos t, 1/2 − sin t); t ~ U[0, π];
    plus noise·N(0, I). The geometry of scikit-learn's ``make_moons`` with
    random rather than evenly spaced t. Example: ``X, y = make_moons(200, 0.1, seed=0)``.
    """
    _check_int("make_moons", "n_samples", n_samples, 1)
    return _moons(n_samples, _check_nonneg("make_moons", "noise", noise), Generator(seed))


def _circles(n_samples, noise, gen, factor=0.5):
    labels = xp.repeat(xp.arange(2, dtype=xp.int64), _counts(n_samples, 2))
    t = 2 * math.pi * gen.random(n_samples)
    r = xp.where(labels == 0, 1.0, factor)
    X = r[:, None] * xp.stack([xp.cos(t), xp.sin(t)], axis=1) + noise * gen.normal(size=(n_samples, 2))
    return _finish(X, labels, gen)


def make_circles(n_samples=1000, noise=0.05, seed=0, factor=0.5):
    """A circle of radius ``factor`` (class 1) inside the unit circle (class 0), plus noise·N(0, I).

    As scikit-learn's ``make_circles``, with random angles. Returns
    ``(X float32 (N, 2), y int64 (N,))``. Example: ``X, y = make_circles(200, 0.05, seed=0)``.
    """
    _check_int("make_circles", "n_samples", n_samples, 1)
    if not (isinstance(factor, (int, float)) and 0 < factor < 1):
        raise ValueError(f"make_circles: 'factor' must be in (0, 1); got {factor!r}")
    return _circles(n_samples, _check_nonneg("make_circles", "noise", noise), Generator(seed), factor)


def _blobs(n_samples, noise, gen, centers=3, n_features=2, center_box=(-10.0, 10.0)):
    labels = xp.repeat(xp.arange(centers, dtype=xp.int64), _counts(n_samples, centers))
    mu = gen.uniform(center_box[0], center_box[1], size=(centers, n_features))
    X = mu[labels] + noise * gen.normal(size=(n_samples, n_features))
    return _finish(X, labels, gen)


def make_blobs(n_samples=1000, noise=1.0, seed=0, centers=3, n_features=2, center_box=(-10.0, 10.0)):
    """Isotropic Gaussian clusters: class c ~ N(μ_c, noise²·I), μ_c ~ U(center_box)^n_features.

    ``noise`` is the clusters' standard deviation (scikit-learn's
    ``cluster_std``). Returns ``(X float32 (N, n_features), y int64 (N,))``.
    Example: ``X, y = make_blobs(300, noise=1.0, seed=0, centers=4)``.
    """
    owner = "make_blobs"
    _check_int(owner, "n_samples", n_samples, 1)
    _check_int(owner, "centers", centers, 1)
    _check_int(owner, "n_features", n_features, 1)
    return _blobs(n_samples, _check_nonneg(owner, "noise", noise), Generator(seed), centers, n_features,
                  tuple(center_box))


def _regression(n_samples, noise, gen, n_features=1, kind="sine"):
    X = gen.uniform(-1.0, 1.0, size=(n_samples, n_features))
    w = gen.normal(size=n_features)
    if kind == "sine":
        s = X @ (w / max(float(xp.linalg.norm(w)), 1e-12))
        y = xp.sin(2 * math.pi * s)
    else:
        y = X @ w + gen.normal()
    y = (y + noise * gen.normal(size=n_samples))[:, None]
    perm = gen.permutation(n_samples)
    return X[perm].astype(get_default_dtype()), y[perm].astype(get_default_dtype())


def make_regression(n_samples=1000, noise=0.1, seed=0, n_features=1, kind="sine"):
    """Noisy regression targets of 1-D or n-D inputs: ``(X float32 (N, d), y float32 (N, 1))``.

    x ~ U[−1, 1]^d and w ~ N(0, I_d). ``kind="sine"``: y = sin(2π·x·w/‖w‖)
    + noise·ε (a ridge function, two periods across the input range, so a
    linear model underfits); ``kind="linear"``: y = x·w + b + noise·ε with
    b ~ N(0, 1). ε ~ N(0, 1). Example: ``X, y = make_regression(200, 0.1, seed=0)``.
    """
    owner = "make_regression"
    _check_int(owner, "n_samples", n_samples, 1)
    _check_int(owner, "n_features", n_features, 1)
    if kind not in ("sine", "linear"):
        raise ValueError(f"{owner}: 'kind' must be 'sine' or 'linear'; got {kind!r}")
    return _regression(n_samples, _check_nonneg(owner, "noise", noise), Generator(seed), n_features, kind)


def _synthetic(name, make, task, num_classes, n_samples, noise, seed, test_fraction, **kw):
    owner = f"load_dataset({name!r})"
    _check_int(owner, "n_samples", n_samples, 4)
    noise = _check_nonneg(owner, "noise", noise)
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ValueError(f"{owner}: 'test_fraction' must be in (0, 1); got {test_fraction!r}")
    gen = Generator(seed)
    X, y = make(n_samples, noise, gen, **kw)
    X_tr, y_tr, X_te, y_te = train_val_split(X, y, test_fraction, stratify=task == "classification", generator=gen)
    info = {"n_samples": n_samples, "noise": noise, "seed": seed, "test_fraction": test_fraction, **kw}
    return DatasetSplits(X_tr, y_tr, X_te, y_te, num_classes, X.shape[1:], name, task, info)


def _load_spirals(n_samples=1000, noise=0.05, seed=0, test_fraction=0.25, n_classes=2, turns=1.5):
    _check_int("load_dataset('spirals')", "n_classes", n_classes, 2)
    return _synthetic("spirals", _spirals, "classification", n_classes, n_samples, noise, seed, test_fraction,
                      n_classes=n_classes, turns=_check_nonneg("load_dataset('spirals')", "turns", turns))


def _load_moons(n_samples=1000, noise=0.1, seed=0, test_fraction=0.25):
    return _synthetic("moons", _moons, "classification", 2, n_samples, noise, seed, test_fraction)


def _load_circles(n_samples=1000, noise=0.05, seed=0, test_fraction=0.25, factor=0.5):
    if not (isinstance(factor, (int, float)) and 0 < factor < 1):
        raise ValueError(f"load_dataset('circles'): 'factor' must be in (0, 1); got {factor!r}")
    return _synthetic("circles", _circles, "classification", 2, n_samples, noise, seed, test_fraction, factor=factor)


def _load_blobs(n_samples=1000, noise=1.0, seed=0, test_fraction=0.25, centers=3, n_features=2):
    _check_int("load_dataset('blobs')", "centers", centers, 2)
    _check_int("load_dataset('blobs')", "n_features", n_features, 1)
    return _synthetic("blobs", _blobs, "classification", centers, n_samples, noise, seed, test_fraction,
                      centers=centers, n_features=n_features)


def _load_regression(n_samples=1000, noise=0.1, seed=0, test_fraction=0.25, n_features=1, kind="sine"):
    _check_int("load_dataset('regression')", "n_features", n_features, 1)
    if kind not in ("sine", "linear"):
        raise ValueError(f"load_dataset('regression'): 'kind' must be 'sine' or 'linear'; got {kind!r}")
    return _synthetic("regression", _regression, "regression", None, n_samples, noise, seed, test_fraction,
                      n_features=n_features, kind=kind)


# ------------------------------------------------------------------ digits
def _load_digits(seed=0, test_fraction=0.25, image=False):
    """scikit-learn's ``load_digits`` (1797 8×8 images, values 0..16) scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ValueError(f"load_dataset('digits'): 'test_fraction' must be in (0, 1); got {test_fraction!r}")
    d = load_digits()
    X = (d.data / 16.0).astype(get_default_dtype())
    y = d.target.astype(xp.int64)
    if image:
        X = X.reshape(-1, 1, 8, 8)
    X_tr, y_tr, X_te, y_te = train_val_split(X, y, test_fraction, stratify=True, generator=Generator(seed))
    info = {"seed": seed, "test_fraction": test_fraction, "image": bool(image)}
    return DatasetSplits(X_tr, y_tr, X_te, y_te, 10, X.shape[1:], "digits", "classification", info)


# ------------------------------------------------------------------ mnist1d
def cache_dir() -> str:
    """Where generated datasets are cached: ``$TRAINWISE_CACHE`` if set, else ``~/.cache/trainwise``."""
    return os.environ.get("TRAINWISE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "trainwise")


def _mnist1d_args(n_samples, seed, overrides):
    from mnist1d.data import get_dataset_args

    args = get_dataset_args(as_dict=True)
    args.pop("url", None)  # only the download function uses it, and trainwise never downloads
    unknown = sorted(set(overrides) - set(args))
    if unknown:
        raise ValueError(f"load_dataset('mnist1d'): unknown entries {unknown} in 'args'; "
                         f"mnist1d's dataset arguments are {sorted(args)}")
    args.update(overrides)
    if n_samples is not None:
        args["num_samples"] = _check_int("load_dataset('mnist1d')", "n_samples", n_samples, 10)
    if seed is not None:
        args["seed"] = _check_int("load_dataset('mnist1d')", "seed", seed, 0)
    return args


def _generate_mnist1d(args):
    """``mnist1d.data.make_dataset`` with these args, leaving the global RNG states as they were.

    The package seeds NumPy's and Python's global generators
    (``mnist1d.utils.set_seed``); trainwise draws from explicit generators
    and must not let a dataset load change anyone else's random stream.
    """
    from mnist1d.data import make_dataset
    from mnist1d.utils import ObjectView

    np_state, py_state = xp.random.get_state(), _pyrandom.getstate()
    try:
        d = make_dataset(ObjectView(dict(args)))
    finally:
        xp.random.set_state(np_state)
        _pyrandom.setstate(py_state)
    return {"x": d["x"], "y": d["y"], "x_test": d["x_test"], "y_test": d["y_test"]}


def _save_atomic(path, arrays):
    """Write an .npz so that a reader never sees a half-written file (temp file + rename)."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            xp.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _load_mnist1d(n_samples=None, seed=None, channel=False, cache=True, args=None):
    """MNIST-1D generated locally by the ``mnist1d`` package, cached as .npz keyed by its args and seed.

    ``mnist1d.data.make_dataset(get_dataset_args())``: with the default args
    (5000 samples, seed 42) 4000 train / 1000 test signals of length 40.
    ``n_samples`` and ``seed`` override the package's ``num_samples`` and
    ``seed``; ``args`` (a dict) overrides any other of its arguments.
    ``channel=True`` gives inputs of shape (N, 1, 40) for ``Conv1d``.
    """
    if args is not None and not isinstance(args, dict):
        raise TypeError(f"load_dataset('mnist1d'): 'args' must be a dict of mnist1d dataset arguments; got {args!r}")
    full = _mnist1d_args(n_samples, seed, args or {})
    key = hashlib.sha256(json.dumps(full, sort_keys=True).encode()).hexdigest()[:16]
    path = os.path.join(cache_dir(), f"mnist1d_{key}.npz")
    d = None
    if cache and os.path.isfile(path):
        try:
            with xp.load(path, allow_pickle=False) as f:
                d = {k: f[k] for k in ("x", "y", "x_test", "y_test")}
        except (OSError, ValueError, KeyError, EOFError) as e:
            warnings.warn(f"load_dataset('mnist1d'): cache file {path!r} is unreadable ({e}); regenerating")
            d = None
    if d is None:
        d = _generate_mnist1d(full)
        if cache:
            try:
                _save_atomic(path, d)
            except OSError as e:
                warnings.warn(f"load_dataset('mnist1d'): could not write the cache {path!r} ({e})")
    dtype = get_default_dtype()
    X_tr, X_te = d["x"].astype(dtype), d["x_test"].astype(dtype)
    if channel:
        X_tr, X_te = X_tr[:, None, :], X_te[:, None, :]
    y_tr, y_te = d["y"].astype(xp.int64), d["y_test"].astype(xp.int64)
    info = {"args": full, "cache_file": path if cache else None}
    return DatasetSplits(X_tr, y_tr, X_te, y_te, 10, X_tr.shape[1:], "mnist1d", "classification", info)


_LOADERS = {
    "mnist1d": _load_mnist1d,
    "digits": _load_digits,
    "spirals": _load_spirals,
    "moons": _load_moons,
    "circles": _load_circles,
    "blobs": _load_blobs,
    "regression": _load_regression,
}


def load_dataset(name: str, **kwargs) -> DatasetSplits:
    """Load a built-in dataset by name; everything is made or read offline.

    Names and their arguments (the synthetic ones all take ``n_samples``,
    ``noise``, ``seed`` and ``test_fraction=0.25``; their test split is
    stratified):

    - ``mnist1d``: ``n_samples=None`` (5000), ``seed=None`` (42),
      ``channel=False``, ``cache=True``, ``args=None`` (other mnist1d
      arguments). Generated by the ``mnist1d`` package (its download function
      is never called) and cached as .npz under ``$TRAINWISE_CACHE`` or
      ``~/.cache/trainwise``, keyed by the arguments and the seed.
      Default: 4000 train / 1000 test, 40 features, 10 classes.
    - ``digits``: ``seed=0``, ``test_fraction=0.25``, ``image=False``
      (``True``: shape (N, 1, 8, 8) instead of (N, 64)).
    - ``spirals`` (noise 0.05; ``n_classes=2``, ``turns=1.5``),
      ``moons`` (noise 0.1), ``circles`` (noise 0.05; ``factor=0.5``),
      ``blobs`` (noise = cluster std 1.0; ``centers=3``, ``n_features=2``),
      ``regression`` (noise 0.1; ``n_features=1``, ``kind="sine"|"linear"``).
      Defaults: ``n_samples=1000``, ``seed=0``.

    Returns a ``DatasetSplits``. ``DATASETS`` lists the names with a
    one-line description. Example: ``ds = load_dataset("moons", n_samples=500, seed=1)``.
    """
    if not isinstance(name, str) or name.lower() not in _LOADERS:
        raise ValueError(f"load_dataset: unknown dataset {name!r}; the built-in datasets are {sorted(_LOADERS)}")
    fn = _LOADERS[name.lower()]
    sig = inspect.signature(fn)
    unknown = [k for k in kwargs if k not in sig.parameters]
    if unknown:
        raise TypeError(f"load_dataset({name!r}): unknown argument(s) {unknown}; it takes {list(sig.parameters)}")
    return fn(**kwargs)
