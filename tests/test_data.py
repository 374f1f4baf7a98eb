"""trainwise.data: datasets, DataLoader (incl. exact resume), splits, Standardizer, file loaders."""
import gzip
import json

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import trainwise
from trainwise import Generator, Tensor
from trainwise.data import (
    DataLoader, Dataset, GaussianNoise, Standardizer, Subset, TensorDataset, check_finite, load_csv, load_idx,
    load_npz, random_split, train_val_split,
)


def _data(n=10, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), np.arange(n, dtype=np.int64)


# ------------------------------------------------------------------ TensorDataset, check_finite
def test_tensor_dataset_indexing_and_tensors():
    X, y = _data()
    ds = TensorDataset(Tensor(X), y)
    assert len(ds) == 10
    xi, yi = ds[3]
    np.testing.assert_array_equal(xi, X[3])
    assert yi == 3
    xb, yb = ds[np.array([1, 4])]
    np.testing.assert_array_equal(xb, X[[1, 4]])


def test_tensor_dataset_length_mismatch_names_lengths():
    X, y = _data()
    with pytest.raises(ValueError, match=r"same first dimension.*\[10, 9\]"):
        TensorDataset(X, y[:9])
    with pytest.raises(ValueError, match="at least one array"):
        TensorDataset()


def test_check_finite_names_first_bad_row_and_column():
    X, _ = _data()
    X[4, 2] = np.nan
    X[7, 0] = np.inf
    with pytest.raises(ValueError, match=r"X contains NaN at row 4, column 2"):
        check_finite(X)
    with pytest.raises(ValueError, match=r"contains NaN at row 4, column 2"):
        TensorDataset(X, np.arange(10))
    with pytest.raises(ValueError, match=r"y contains -inf at row 1"):
        check_finite(np.array([0.0, -np.inf]), "y")
    ok = np.ones((3, 2), np.float32)
    assert check_finite(ok) is ok
    check_finite(np.arange(5))  # integers are always finite


# ------------------------------------------------------------------ DataLoader batches
@pytest.mark.parametrize("n,bs,drop_last", [(10, 1, False), (10, 3, False), (10, 3, True), (10, 5, True),
                                            (10, 10, False), (10, 12, False), (10, 12, True), (7, None, False)])
def test_loader_batch_counts_match_torch(n, bs, drop_last):
    X, y = _data(n)
    dl = DataLoader(TensorDataset(X, y), batch_size=bs, drop_last=drop_last)
    tdl = tud.DataLoader(tud.TensorDataset(torch.from_numpy(X), torch.from_numpy(y)),
                         batch_size=n if bs is None else bs, drop_last=drop_last)
    batches = list(dl)
    assert len(dl) == len(tdl) == len(batches)
    assert [b[0].shape[0] for b in batches] == [b[0].shape[0] for b in tdl]
    for (xb, yb), (txb, tyb) in zip(batches, tdl):
        np.testing.assert_array_equal(xb.data, txb.numpy())
        np.testing.assert_array_equal(yb.data, tyb.numpy())


def test_loader_full_batch_and_sgd_modes():
    X, y = _data(10)
    full = list(DataLoader(TensorDataset(X, y), batch_size=None, shuffle=True, generator=Generator(0)))
    assert len(full) == 1
    xb, yb = full[0]
    assert isinstance(xb, Tensor) and xb.shape == (10, 3) and xb.dtype == np.float32 and yb.dtype == np.int64
    np.testing.assert_array_equal(np.sort(yb.data), y)  # every sample exactly once
    np.testing.assert_array_equal(xb.data, X[yb.data])  # rows stay paired with labels
    sgd = list(DataLoader(TensorDataset(X, y), batch_size=1, shuffle=True, generator=Generator(0)))
    assert len(sgd) == 10 and all(b[0].shape == (1, 3) for b in sgd)
    assert sorted(int(b[1].data[0]) for b in sgd) == list(range(10))


def test_loader_keeps_dtypes_and_unshuffled_views_are_read_only():
    X = np.arange(12, dtype=np.float64).reshape(6, 2)
    y = np.arange(6, dtype=np.int32)
    xb, yb = next(iter(DataLoader(TensorDataset(X, y), batch_size=4)))
    assert xb.dtype == np.float64 and yb.dtype == np.int32
    with pytest.raises(ValueError, match="read-only"):
        xb.data[0, 0] = 99.0
    assert X[0, 0] == 0.0


def test_loader_shuffle_reproducible_and_different_across_epochs():
    X, y = _data(50)

    def epochs(loader, k):
        return [np.concatenate([b[1].data for b in loader]) for _ in range(k)]

    a = epochs(DataLoader(TensorDataset(X, y), batch_size=8, shuffle=True, generator=Generator(3)), 3)
    b = epochs(DataLoader(TensorDataset(X, y), batch_size=8, shuffle=True, generator=Generator(3)), 3)
    for ea, eb in zip(a, b):
        np.testing.assert_array_equal(ea, eb)
        np.testing.assert_array_equal(np.sort(ea), y)
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[1], a[2])
    c = epochs(DataLoader(TensorDataset(X, y), batch_size=8, shuffle=True, generator=Generator(4)), 1)
    assert not np.array_equal(a[0], c[0])


def test_loader_default_generator_follows_manual_seed():
    X, y = _data(30)
    ds = TensorDataset(X, y)
    trainwise.manual_seed(11)
    a = [b[1].data for b in DataLoader(ds, batch_size=30, shuffle=True)]
    trainwise.manual_seed(11)
    b = [b[1].data for b in DataLoader(ds, batch_size=30, shuffle=True)]
    np.testing.assert_array_equal(a[0], b[0])
    # an evaluation loader (no shuffle, no transform) does not draw from the default generator
    trainwise.manual_seed(11)
    list(DataLoader(ds, batch_size=7))
    c = [b[1].data for b in DataLoader(ds, batch_size=30, shuffle=True)]
    np.testing.assert_array_equal(a[0], c[0])


class _ListDataset(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.full(2, float(i), dtype=np.float32), i


def test_loader_generic_dataset_and_subset_fast_path():
    dl = DataLoader(_ListDataset(7), batch_size=3, shuffle=True, generator=Generator(1))
    batches = list(dl)
    assert [b[0].shape for b in batches] == [(3, 2), (3, 2), (1, 2)]
    assert batches[0][0].dtype == np.float32 and batches[0][1].dtype == np.int64
    labels = np.concatenate([b[1].data for b in batches])
    np.testing.assert_array_equal(np.sort(labels), np.arange(7))
    np.testing.assert_array_equal(np.concatenate([b[0].data[:, 0] for b in batches]), labels)
    X, y = _data(20)
    sub = Subset(Subset(TensorDataset(X, y), np.arange(19, -1, -1)), [0, 2, 4])
    (xb, yb), = list(DataLoader(sub, batch_size=None))
    np.testing.assert_array_equal(yb.data, [19, 17, 15])
    np.testing.assert_array_equal(xb.data, X[[19, 17, 15]])


def test_loader_bad_arguments():
    ds = TensorDataset(*_data())
    with pytest.raises(ValueError, match=r"'batch_size' must be a positive int or None.*got 0"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(TypeError, match="'generator' must be a trainwise.Generator"):
        DataLoader(ds, generator=np.random.default_rng(0))
    with pytest.raises(TypeError, match="'transform' must be callable"):
        DataLoader(ds, transform=3)
    with pytest.raises(ValueError, match="empty"):
        DataLoader(TensorDataset(np.zeros((0, 2))))


def test_loader_transform_gets_loader_generator():
    X = np.zeros((12, 1, 4, 4), np.float32)
    y = np.arange(12)
    run = [b[0].data for b in DataLoader(TensorDataset(X, y), batch_size=5, transform=GaussianNoise(1.0),
                                          generator=Generator(2))]
    again = [b[0].data for b in DataLoader(TensorDataset(X, y), batch_size=5, transform=GaussianNoise(1.0),
                                            generator=Generator(2))]
    for a, b in zip(run, again):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    assert np.all(X == 0)  # the dataset itself is untouched


# ------------------------------------------------------------------ exact resume
def _stream(it, k):
    return [tuple(t.data.copy() for t in next(it)) for _ in range(k)]


def _flat_iter(loader):
    while True:
        yield from loader


@pytest.mark.parametrize("use_default", [False, True])
def test_loader_resume_mid_epoch_bit_for_bit(use_default):
    """2.5 epochs, save, restore into a new loader: the next batches equal the uninterrupted loader's."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(22, 1, 4, 4)).astype(np.float32)
    y = rng.integers(0, 3, 22)

    def make():
        gen = None if use_default else Generator(5)
        return DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True, generator=gen,
                          transform=GaussianNoise(0.3))

    nb = 6  # ceil(22 / 4)
    trainwise.manual_seed(123)
    ref = make()
    ref_batches = _stream(_flat_iter(ref), 5 * nb)

    trainwise.manual_seed(123)
    first = make()
    got = []
    for _ in range(2):  # two whole epochs
        got += [tuple(t.data.copy() for t in b) for b in first]
    it = iter(first)
    got += _stream(it, 3)  # half of the third
    state = json.loads(json.dumps(first.state_dict()))  # must survive JSON
    assert state["batches_yielded"] == 3 and state["epoch"] == 3
    default_state = trainwise.backend.default_generator.get_state()

    trainwise.manual_seed(999)  # a fresh process: the default generator is restored by the caller
    trainwise.backend.default_generator.set_state(default_state)
    resumed = make()
    resumed.load_state_dict(state)
    rest = [tuple(t.data.copy() for t in b) for b in resumed]
    assert len(rest) == nb - 3
    for _ in range(2):
        rest += [tuple(t.data.copy() for t in b) for b in resumed]
    got += rest
    assert len(got) == len(ref_batches)
    for (gx, gy), (rx, ry) in zip(got, ref_batches):
        np.testing.assert_array_equal(gx, rx)
        np.testing.assert_array_equal(gy, ry)


def test_loader_state_at_epoch_boundary_and_mismatch():
    X, y = _data(9)
    a = DataLoader(TensorDataset(X, y), batch_size=3, shuffle=True, generator=Generator(1))
    list(a)
    state = a.state_dict()
    b = DataLoader(TensorDataset(X, y), batch_size=3, shuffle=True, generator=Generator(77))
    b.load_state_dict(state)
    np.testing.assert_array_equal(np.concatenate([t[1].data for t in a]), np.concatenate([t[1].data for t in b]))
    c = DataLoader(TensorDataset(X, y), batch_size=2, shuffle=True, generator=Generator(1))
    with pytest.raises(ValueError, match=r"saved with batch_size=3 but this loader has batch_size=2"):
        c.load_state_dict(state)
    with pytest.raises(ValueError, match="not a DataLoader state"):
        c.load_state_dict({"epoch": 1})


# ------------------------------------------------------------------ splits
def test_random_split_lengths_match_torch_and_partition():
    X, y = _data(10)
    for lengths in ([0.5, 0.3, 0.2], [0.33, 0.33, 0.34], [0.7, 0.3], [3, 7]):
        ours = random_split((X, y), lengths, Generator(0))
        theirs = tud.random_split(range(10), lengths, torch.Generator().manual_seed(0))
        assert [len(p[1]) for p in ours] == [len(t) for t in theirs]
        np.testing.assert_array_equal(np.sort(np.concatenate([p[1] for p in ours])), y)
        for px, py in ours:
            np.testing.assert_array_equal(px, X[py])
    parts = random_split(TensorDataset(X, y), [0.8, 0.2], Generator(0))
    assert isinstance(parts[0], Subset) and [len(p) for p in parts] == [8, 2]
    again = random_split(TensorDataset(X, y), [0.8, 0.2], Generator(0))
    np.testing.assert_array_equal(parts[0].indices, again[0].indices)
    with pytest.raises(ValueError, match=r"must sum to the number of samples 10"):
        random_split(X, [3, 4], Generator(0))


def test_train_val_split_stratified_within_one_sample_per_class():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), [50, 23, 7, 120])
    y = y[rng.permutation(len(y))]
    X = np.arange(len(y), dtype=np.float32)[:, None]
    for f in (0.2, 0.25, 0.33):
        X_tr, y_tr, X_va, y_va = train_val_split(X, y, f, generator=Generator(1))
        assert len(y_va) == round(f * len(y)) and len(y_tr) + len(y_va) == len(y)
        for c in range(4):
            n_c = int((y == c).sum())
            assert abs(int((y_va == c).sum()) - f * n_c) < 1
        idx = np.concatenate([X_tr[:, 0], X_va[:, 0]]).astype(int)
        np.testing.assert_array_equal(np.sort(idx), np.arange(len(y)))  # a partition
        np.testing.assert_array_equal(y[X_va[:, 0].astype(int)], y_va)  # rows stay paired
    # the training part is not grouped by class (it keeps the random order)
    assert np.any(np.diff(y_tr) < 0)
    a = train_val_split(X, y, 0.2, generator=Generator(1))
    b = train_val_split(X, y, 0.2, generator=Generator(1))
    np.testing.assert_array_equal(a[3], b[3])


def test_train_val_split_unstratified_and_errors():
    X = np.arange(20, dtype=np.float32)[:, None]
    t = np.linspace(0, 1, 20).astype(np.float32)
    X_tr, y_tr, X_va, y_va = train_val_split(X, t, 0.25, stratify=False, generator=Generator(0))
    assert len(y_va) == 5 and len(y_tr) == 15
    with pytest.raises(ValueError, match="non-integer floats.*stratify=False"):
        train_val_split(X, t, 0.25)
    with pytest.raises(ValueError, match=r"'val_fraction' must be a number in \(0, 1\); got 1.5"):
        train_val_split(X, t, 1.5)
    with pytest.raises(ValueError, match="same number of samples"):
        train_val_split(X, t[:3])


# ------------------------------------------------------------------ Standardizer
def test_standardizer_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    X_tr = (rng.normal(size=(200, 3)) * [1, 10, 0.1] + [5, -2, 0]).astype(np.float32)
    X_va = (rng.normal(size=(50, 3)) * 7 + 100).astype(np.float32)  # a very different distribution
    X_tr[:, 2] = 4.0  # a constant feature
    s = Standardizer().fit(X_tr)
    z_tr = s.transform(X_tr)
    assert z_tr.dtype == np.float32
    np.testing.assert_allclose(z_tr[:, :2].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z_tr[:, :2].std(0), 1, atol=1e-5)
    np.testing.assert_array_equal(z_tr[:, 2], 0)  # zero variance guarded: no NaN, no inf
    z_va = s.transform(X_va)
    mu = X_tr.astype(np.float64).mean(0)
    sd = X_tr.astype(np.float64).std(0)
    np.testing.assert_allclose(z_va[:, :2], (X_va[:, :2] - mu[:2]) / sd[:2], rtol=1e-5)
    assert abs(z_va[:, 0].mean()) > 10  # with the validation set's own statistics it would be ~0
    np.testing.assert_allclose(s.inverse_transform(z_va), X_va, rtol=1e-5)
    state = json.loads(json.dumps(s.state_dict()))
    assert isinstance(state["mean"], list)
    s2 = Standardizer().load_state_dict(state)
    np.testing.assert_array_equal(s2.transform(X_va), z_va)


def test_standardizer_per_channel_and_errors():
    x = np.random.default_rng(0).normal(size=(8, 3, 4, 4)).astype(np.float32) + np.array([1, 2, 3])[:, None, None]
    z = Standardizer(axis=(0, 2, 3)).fit_transform(x)
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    with pytest.raises(RuntimeError, match=r"call fit\(X_train\) first"):
        Standardizer().transform(x)
    s = Standardizer().fit(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"shape \(4, 5\).*fit on features of shape \(3,\)"):
        s.transform(np.zeros((4, 5)))


# ------------------------------------------------------------------ file loaders
def test_load_npz_round_trip_and_errors(tmp_path):
    X, y = _data(6)
    p = tmp_path / "d.npz"
    np.savez(p, x=X, y=y)
    X2, y2 = load_npz(p)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    with pytest.raises(ValueError, match=r"d.npz' has no array named 'features' \(x_key\); it holds \['x', 'y'\]"):
        load_npz(p, x_key="features")
    bad = tmp_path / "nan.npz"
    X3 = X.copy()
    X3[2, 1] = np.nan
    np.savez(bad, x=X3, y=y)
    with pytest.raises(ValueError, match=r"nan.npz'\['x'\] contains NaN at row 2, column 1"):
        load_npz(bad)
    obj = tmp_path / "obj.npz"
    np.savez(obj, x=np.array([{"a": 1}], dtype=object), y=y[:1])
    with pytest.raises(ValueError, match="obj.npz.*pickle"):
        load_npz(obj)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="junk.npz' is not a readable .npz"):
        load_npz(junk)
    short = tmp_path / "short.npz"
    np.savez(short, x=X, y=y[:4])
    with pytest.raises(ValueError, match="same number of samples"):
        load_npz(short)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_npz(tmp_path / "missing.npz")


def test_load_csv_round_trip_and_errors(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,label,b\n1.5,0,2\n-3,2,4.25\n0,1,1e-3\n")
    X, y = load_csv(p)
    assert X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(X, np.array([[1.5, 2], [-3, 4.25], [0, 1e-3]], np.float32))
    np.testing.assert_array_equal(y, [0, 2, 1])
    X, t = load_csv(p, label_column="b")
    assert t.dtype == np.float32 and X.shape == (3, 2)
    with pytest.raises(ValueError, match=r"d.csv' has no column 'target'.*columns are \['a', 'label', 'b'\]"):
        load_csv(p, label_column="target")
    q = tmp_path / "text.csv"
    q.write_text("a,label\n1,0\n2,0\nabc,1\n")
    with pytest.raises(ValueError, match=r"text.csv' line 4 \(data row 2\), column 'a' holds the non-numeric value 'abc'"):
        load_csv(q)
    e = tmp_path / "empty_cell.csv"
    e.write_text("a,label\n1,\n")
    with pytest.raises(ValueError, match=r"column 'label' holds an empty cell"):
        load_csv(e)
    w = tmp_path / "wide.csv"
    w.write_text("a,label\n1,0\n1,0,5\n")
    with pytest.raises(ValueError, match="line 3 has 3 fields; the header has 2"):
        load_csv(w)
    n = tmp_path / "nan.csv"
    n.write_text("a,b,label\n1,2,0\n3,nan,1\n")
    with pytest.raises(ValueError, match=r"nan.csv' features contains NaN at row 1, column 1"):
        load_csv(n)


def _idx_bytes(arr, type_byte):
    header = bytes([0, 0, type_byte, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def test_load_idx_round_trip_plain_and_gzip(tmp_path):
    imgs = np.random.default_rng(0).integers(0, 256, size=(5, 4, 3)).astype(np.uint8)
    (tmp_path / "imgs-idx3-ubyte").write_bytes(_idx_bytes(imgs, 0x08))
    (tmp_path / "imgs.gz").write_bytes(gzip.compress(_idx_bytes(imgs, 0x08)))
    for name in ("imgs-idx3-ubyte", "imgs.gz"):
        out = load_idx(tmp_path / name)
        assert out.dtype == np.uint8 and out.shape == (5, 4, 3)
        np.testing.assert_array_equal(out, imgs)
    f = np.linspace(-1, 1, 6).reshape(2, 3)
    (tmp_path / "f64").write_bytes(_idx_bytes(f, 0x0E))
    out = load_idx(tmp_path / "f64")
    assert out.dtype == np.float64 and out.dtype.isnative
    np.testing.assert_array_equal(out, f)
    i32 = np.array([1, -2, 70000], dtype=np.int32)
    (tmp_path / "i32").write_bytes(_idx_bytes(i32, 0x0C))
    np.testing.assert_array_equal(load_idx(tmp_path / "i32"), i32)


def test_load_idx_malformed(tmp_path):
    imgs = np.zeros((5, 4, 3), np.uint8)
    good = _idx_bytes(imgs, 0x08)
    (tmp_path / "magic").write_bytes(b"\x00\x01\x08\x03" + good[4:])
    with pytest.raises(ValueError, match=r"magic' has the wrong magic number: found bytes 00 01 08 03; expected 00 00"):
        load_idx(tmp_path / "magic")
    (tmp_path / "type").write_bytes(b"\x00\x00\x07\x03" + good[4:])
    with pytest.raises(ValueError, match=r"found bytes 00 00 07 03"):
        load_idx(tmp_path / "type")
    (tmp_path / "trunc").write_bytes(good[:-10])
    with pytest.raises(ValueError, match=r"trunc' is truncated: shape \(5, 4, 3\) of uint8 needs 60 bytes of data, "
                                         r"found 50"):
        load_idx(tmp_path / "trunc")
    (tmp_path / "trunc.gz").write_bytes(gzip.compress(good[:-1]))
    with pytest.raises(ValueError, match=r"needs 60 bytes of data, found 59"):
        load_idx(tmp_path / "trunc.gz")
    (tmp_path / "header").write_bytes(good[:9])
    with pytest.raises(ValueError, match=r"truncated in its header: 3 dimension sizes need 16 bytes, found 9"):
        load_idx(tmp_path / "header")
    (tmp_path / "tiny").write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="needs 4 bytes, found 2"):
        load_idx(tmp_path / "tiny")
    f = np.array([1.0, np.nan], np.float32)
    (tmp_path / "nanf").write_bytes(_idx_bytes(f, 0x0D))
    with pytest.raises(ValueError, match="contains NaN at row 1"):
        load_idx(tmp_path / "nanf")

