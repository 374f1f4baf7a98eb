"""trainwise.data built-in datasets: shapes, dtypes, classes, seeds, the mnist1d cache."""
import os
import random

import mnist1d.data
import numpy as np
import pytest

from trainwise.data import (
    DATASETS, DatasetSplits, TensorDataset, load_dataset, make_blobs, make_circles, make_moons, make_regression,
    make_spirals,
)


@pytest.fixture(scope="module")
def mnist1d_cache(tmp_path_factory):
    """Generate MNIST-1D once per session, with the cache in a temporary directory."""
    cache = tmp_path_factory.mktemp("trainwise_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRAINWISE_CACHE", str(cache))
        np.random.seed(1234)
        random.seed(1234)
        before = (np.random.random(), random.random())
        np.random.seed(1234)
        random.seed(1234)
        ds = load_dataset("mnist1d")
        after = (np.random.random(), random.random())
        yield ds, cache, before, after, mp


def test_mnist1d_default_shapes_and_classes(mnist1d_cache):
    ds, cache, _, _, _ = mnist1d_cache
    assert isinstance(ds, DatasetSplits) and ds.name == "mnist1d" and ds.task == "classification"
    assert ds.X_train.shape == (4000, 40) and ds.X_test.shape == (1000, 40)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.num_classes == 10 and ds.input_shape == (40,)
    assert set(np.unique(ds.y_train)) == set(range(10)) and set(np.unique(ds.y_test)) == set(range(10))
    files = os.listdir(cache)
    assert len(files) == 1 and files[0].startswith("mnist1d_") and files[0].endswith(".npz")  # no temp leftovers
    # the package's own make_dataset with its default args gives the same arrays
    ref = mnist1d.data.make_dataset(mnist1d.data.get_dataset_args())
    np.testing.assert_array_equal(ds.X_test, ref["x_test"].astype(np.float32))
    np.testing.assert_array_equal(ds.y_train, ref["y"])


def test_mnist1d_leaves_global_random_state_alone(mnist1d_cache):
    _, _, before, after, _ = mnist1d_cache
    assert before == after


def test_mnist1d_cache_hit_gives_identical_arrays(mnist1d_cache, monkeypatch):
    ds, cache, _, _, mp = mnist1d_cache

    def boom(*a, **k):
        raise AssertionError("make_dataset called despite a cached file")

    monkeypatch.setattr(mnist1d.data, "make_dataset", boom)
    again = load_dataset("mnist1d")
    for a, b in ((ds.X_train, again.X_train), (ds.y_train, again.y_train), (ds.X_test, again.X_test),
                 (ds.y_test, again.y_test)):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    conv = load_dataset("mnist1d", channel=True)
    assert conv.X_train.shape == (4000, 1, 40) and conv.input_shape == (1, 40)
    # another seed is another cache key: it must generate (and so calls make_dataset)
    with pytest.raises(AssertionError, match="make_dataset called"):
        load_dataset("mnist1d", seed=7)


def test_mnist1d_bad_args(mnist1d_cache):
    with pytest.raises(ValueError, match=r"unknown entries \['nosuch'\].*num_samples"):
        load_dataset("mnist1d", args={"nosuch": 1})
    with pytest.raises(TypeError, match=r"load_dataset\('mnist1d'\): unknown argument\(s\) \['noise'\]"):
        load_dataset("mnist1d", noise=0.1)


def test_digits_flat_and_image():
    ds = load_dataset("digits")
    assert ds.X_train.shape == (1348, 64) and ds.X_test.shape == (449, 64)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.X_train.min() == 0.0 and ds.X_train.max() == 1.0
    assert ds.num_classes == 10 and ds.input_shape == (64,)
    counts_all = np.bincount(np.concatenate([ds.y_train, ds.y_test]))
    counts_te = np.bincount(ds.y_test, minlength=10)
    assert np.all(np.abs(counts_te - 0.25 * counts_all) < 1)  # stratified
    img = load_dataset("digits", image=True)
    assert img.X_train.shape == (1348, 1, 8, 8) and img.input_shape == (1, 8, 8)
    np.testing.assert_array_equal(img.X_train.reshape(-1, 64), ds.X_train)  # same seed, same split
    other = load_dataset("digits", seed=1)
    assert not np.array_equal(other.y_test, ds.y_test)


@pytest.mark.parametrize("name,classes,shape", [("spirals", 2, (2,)), ("moons", 2, (2,)), ("circles", 2, (2,)),
                                                ("blobs", 3, (2,)), ("regression", None, (1,))])
def test_synthetic_datasets(name, classes, shape):
    ds = load_dataset(name, n_samples=200, seed=3)
    assert ds.name == name and ds.num_classes == classes and ds.input_shape == shape
    assert ds.X_train.shape == (150,) + shape and ds.X_test.shape == (50,) + shape
    assert ds.X_train.dtype == np.float32
    if classes is None:
        assert ds.task == "regression" and ds.y_train.dtype == np.float32 and ds.y_train.shape == (150, 1)
    else:
        assert ds.task == "classification" and ds.y_train.dtype == np.int64
        assert set(np.unique(ds.y_train)) == set(range(classes))
        assert np.all(np.bincount(ds.y_test, minlength=classes) >= 50 // classes - 1)
    again = load_dataset(name, n_samples=200, seed=3)
    np.testing.assert_array_equal(ds.X_train, again.X_train)
    other = load_dataset(name, n_samples=200, seed=4)
    assert not np.array_equal(ds.X_train, other.X_train)
    assert isinstance(ds.train, TensorDataset) and len(ds.test) == 50


def test_generators_geometry_and_noise():
    X, y = make_circles(400, noise=0.0, seed=0)
    r = np.linalg.norm(X, axis=1)
    np.testing.assert_allclose(r[y == 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(r[y == 1], 0.5, atol=1e-6)
    X, y = make_moons(400, noise=0.0, seed=0)
    np.testing.assert_allclose(np.linalg.norm(X[y == 0], axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(X[y == 1] - [1.0, 0.5], axis=1), 1.0, atol=1e-6)
    X, y = make_spirals(300, noise=0.0, seed=0, n_classes=3)
    assert np.bincount(y).tolist() == [100, 100, 100] and np.linalg.norm(X, axis=1).max() <= 1.0
    X, y = make_blobs(600, noise=0.5, seed=0, centers=4, n_features=3)
    assert X.shape == (600, 3)
    for c in range(4):
        np.testing.assert_allclose(X[y == c].std(0), 0.5, rtol=0.25)
    X, y = make_regression(2000, noise=0.0, seed=0, n_features=1)
    np.testing.assert_allclose(np.abs(y[:, 0]), np.abs(np.sin(2 * np.pi * X[:, 0])), atol=1e-5)
    _, y_noisy = make_regression(2000, noise=0.2, seed=0, n_features=1)
    assert abs(float((y_noisy - y).std()) - 0.2) < 0.02
    X, y = make_regression(100, seed=0, n_features=5, kind="linear")
    assert X.shape == (100, 5) and y.shape == (100, 1)


def test_registry_and_errors():
    assert set(DATASETS) == {"mnist1d", "digits", "spirals", "moons", "circles", "blobs", "regression"}
    assert all(isinstance(v, str) and v for v in DATASETS.values())
    with pytest.raises(ValueError, match=r"unknown dataset 'cifar'.*'blobs'"):
        load_dataset("cifar")
    with pytest.raises(TypeError, match=r"unknown argument\(s\) \['n'\]; it takes \['n_samples'"):
        load_dataset("moons", n=10)
    with pytest.raises(ValueError, match=r"'noise' must be a non-negative number; got -1"):
        load_dataset("moons", noise=-1)
    with pytest.raises(ValueError, match=r"'n_samples' must be an int >= 1; got 0"):
        make_spirals(0)
