"""Loading the user's own data from files: ``.npz``, CSV and MNIST's IDX format.

Each loader says which file was malformed and how, before any training
starts, and refuses NaN and inf (``check_finite``). Nothing here unpickles:
``.npz`` files are read with ``allow_pickle=False`` always.
"""
from __future__ import annotations

import csv
import gzip
import os
import zipfile

from ..backend import get_default_dtype, xp
from .dataset import check_finite

__all__ = ["load_npz", "load_csv", "load_idx"]


def _existing_file(path, owner: str) -> str:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{owner}: no such file: {path!r}")
    return path


def load_npz(path, x_key: str = "x", y_key: str | None = "y"):
    """Read ``(X, y)`` from a NumPy ``.npz`` archive (``numpy.savez``), never unpickling.

    Arguments: ``path``; ``x_key`` and ``y_key`` the names of the input and
    label arrays in the archive (``y_key=None``: no labels, ``y`` is None).
    Arrays keep the dtypes they were saved with. Errors name the file: not an
    ``.npz``, a missing key (listing the keys it has), object arrays (which
    would need pickle), different numbers of samples, NaN or inf.

    Example: ``X, y = load_npz("train.npz")`` after ``np.savez("train.npz", x=X, y=y)``.
    """
    path = _existing_file(path, "load_npz")
    try:
        archive = xp.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"load_npz: {path!r} is not a readable .npz archive ({e})") from None
    if not isinstance(archive, xp.lib.npyio.NpzFile):
        raise ValueError(f"load_npz: {path!r} holds a single array (.npy), not an .npz archive of named arrays; "
                         f"save with numpy.savez(path, x=X, y=y)")
    with archive:
        keys = list(archive.files)
        out = []
        for role, key in (("x_key", x_key), ("y_key", y_key)):
            if key is None:
                out.append(None)
                continue
            if key not in keys:
                raise ValueError(f"load_npz: {path!r} has no array named {key!r} ({role}); it holds {keys}")
            try:
                out.append(archive[key])
            except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
                raise ValueError(f"load_npz: array {key!r} in {path!r} cannot be read without pickle or is "
                                 f"corrupt ({e})") from None
    X, y = out
    if X.ndim == 0:
        raise ValueError(f"load_npz: array {x_key!r} in {path!r} is a scalar; expected one row per sample")
    if y is not None and (y.ndim == 0 or y.shape[0] != X.shape[0]):
        raise ValueError(f"load_npz: {path!r}: {x_key!r} has shape {X.shape} and {y_key!r} has shape {y.shape}; "
                         f"they need the same number of samples (first dimension)")
    check_finite(X, f"{path!r}[{x_key!r}]")
    if y is not None:
        check_finite(y, f"{path!r}[{y_key!r}]")
    return X, y


def load_csv(path, label_column: str | None = "label", delimiter: str = ",", label_dtype=None):
    """Read ``(X, y)`` from a CSV file with a header row; the label column is chosen by name.

    Every other column is a feature. ``X`` is float32 (the default dtype) of
    shape (N, n_features). ``y`` is int64 when every label is a whole number
    (class labels), else float32 (regression targets); ``label_dtype``
    overrides that. ``label_column=None``: no labels, ``y`` is None.
    Errors name the file and: a missing label column (listing the columns
    there are), a row with the wrong number of fields, a non-numeric or empty
    cell (its line and column), NaN or inf (its row and column).

    Example: ``X, y = load_csv("iris.csv", label_column="species")``.
    """
    path = _existing_file(path, "load_csv")
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f, delimiter=delimiter))
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()  # trailing blank lines
    if not rows:
        raise ValueError(f"load_csv: {path!r} is empty; expected a header row and data rows")
    header = [c.strip() for c in rows[0]]
    data = rows[1:]
    if not data:
        raise ValueError(f"load_csv: {path!r} has a header but no data rows")
    if label_column is not None and label_column not in header:
        raise ValueError(f"load_csv: {path!r} has no column {label_column!r} (label_column); "
                         f"its columns are {header}")
    width = len(header)
    for i, row in enumerate(data):
        if len(row) != width:
            raise ValueError(f"load_csv: {path!r} line {i + 2} has {len(row)} fields; the header has {width}")
    try:
        table = xp.array(data, dtype=xp.float64)
    except ValueError:
        for i, row in enumerate(data):
            for j, cell in enumerate(row):
                try:
                    float(cell)
                except ValueError:
                    what = "an empty cell" if not cell.strip() else f"the non-numeric value {cell!r}"
                    raise ValueError(f"load_csv: {path!r} line {i + 2} (data row {i}), column {header[j]!r} holds "
                                     f"{what}; every cell must be a number") from None
        raise
    if label_column is None:
        X, y = table, None
    else:
        j = header.index(label_column)
        X, y = xp.delete(table, j, axis=1), table[:, j]
    check_finite(X, f"{path!r} features")
    X = X.astype(get_default_dtype())
    if y is not None:
        check_finite(y, f"{path!r} column {label_column!r}")
        if label_dtype is None:
            label_dtype = xp.int64 if bool(xp.all(y == xp.round(y))) else get_default_dtype()
        y = y.astype(label_dtype)
    return X, y


# IDX type byte -> big-endian dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT")
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_idx(path):
    """Read an array from an IDX file (the format of the MNIST files), gzipped or not.

    Layout: a 4-byte magic number ``00 00 TT DD`` (TT the element type: 08
    uint8, 09 int8, 0B int16, 0C int32, 0D float32, 0E float64; DD the number
    of dimensions), DD big-endian uint32 sizes, then the elements in C order,
    big-endian. A gzip file (first bytes ``1f 8b``) is decompressed first,
    whatever its name. Returns an ndarray in native byte order with the file's
    element type (MNIST images: uint8 of shape (N, 28, 28); labels: uint8 (N,)).
    Errors name the file: a wrong magic number (the bytes found and those
    expected), a truncated header or data (the bytes expected and found),
    trailing bytes, NaN or inf.

    Example: ``X = load_idx("train-images-idx3-ubyte.gz")``.
    """
    path = _existing_file(path, "load_idx")
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(f"load_idx: {path!r} starts like gzip but does not decompress ({e})") from None
    if len(raw) < 4:
        raise ValueError(f"load_idx: {path!r} is truncated: the magic number needs 4 bytes, found {len(raw)}")
    magic = raw[:4]
    if magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_TYPES or magic[3] == 0:
        found = " ".join(f"{b:02x}" for b in magic)
        raise ValueError(f"load_idx: {path!r} has the wrong magic number: found bytes {found}; expected "
                         f"00 00 TT DD with TT one of 08 09 0b 0c 0d 0e (element type) and DD >= 1 "
                         f"(number of dimensions), e.g. 00 00 08 03 for MNIST images")
    dtype = xp.dtype(_IDX_TYPES[magic[2]])
    ndim = magic[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"load_idx: {path!r} is truncated in its header: {ndim} dimension sizes need {header} bytes, "
                         f"found {len(raw)}")
    shape = tuple(int(s) for s in xp.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(xp.prod(shape, dtype=xp.int64)) * dtype.itemsize
    found = len(raw) - header
    if found < expected:
        raise ValueError(f"load_idx: {path!r} is truncated: shape {shape} of {dtype.name} needs {expected} bytes of "
                         f"data, found {found}")
    if found > expected:
        raise ValueError(f"load_idx: {path!r} has {found - expected} bytes after the data: shape {shape} of "
                         f"{dtype.name} needs {expected} bytes, found {found}")
    arr = xp.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    arr = arr.astype(dtype.newbyteorder("="))  # native order, and a writable copy of the buffer
    check_finite(arr, repr(path))
    return arr
