"""Datasets: the ``Dataset`` protocol, ``TensorDataset``, ``Subset`` and ``check_finite``.

A dataset is anything with ``__len__`` and ``__getitem__(i)`` returning one
sample, as in PyTorch (``torch.utils.data.Dataset``). The common case is a
``TensorDataset`` over in-memory arrays, which the ``DataLoader`` batches by
fancy-indexing the arrays with a slice of the permutation, never by a Python
loop over samples.
"""
from __future__ import annotations

from ..backend import xp
from ..tensor import Tensor

__all__ = ["Dataset", "TensorDataset", "Subset", "check_finite"]


def _as_array(a, owner: str, name: str):
    """The ndarray behind ``a`` (a Tensor's ``.data``, an ndarray as is, else ``xp.asarray``)."""
    if isinstance(a, Tensor):
        return a.data
    if isinstance(a, xp.ndarray):
        return a
    try:
        arr = xp.asarray(a)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{owner}: '{name}' must be an ndarray or Tensor; got {type(a).__name__} ({e})") from None
    if arr.dtype == object:
        raise TypeError(f"{owner}: '{name}' must be a numeric array; got {type(a).__name__} of Python objects")
    return arr


def check_finite(X, name: str = "X"):
    """Raise ``ValueError`` if ``X`` holds NaN or ±inf, naming the first bad row (and column).

    Rows are the first axis (samples). For 2-D data the column is the feature
    index; for higher-rank data it is the position inside the sample. Integer
    and boolean arrays are always finite and pass at once. Returns ``X``.

    NaN in the inputs silently turns every loss and gradient it touches into
    NaN, so the library refuses such data where it enters (``TensorDataset``,
    the file loaders) instead of diagnosing a NaN loss many steps later.

    Example: ``check_finite(np.array([[1., np.nan]]), "X")`` raises
    ``ValueError: X contains NaN at row 0, column 1``.
    """
    arr = X.data if isinstance(X, Tensor) else X
    if not isinstance(arr, xp.ndarray):
        arr = xp.asarray(arr)
    if arr.dtype.kind not in "fc" or arr.size == 0:
        return X
    # two reductions and no temporary: min/max propagate NaN and expose ±inf
    if xp.isfinite(arr.min()) and xp.isfinite(arr.max()):
        return X
    bad = ~xp.isfinite(arr)
    if arr.ndim == 0:
        raise ValueError(f"{name} is {arr.item()}; data must be finite (no NaN or inf)")
    rows = bad.reshape(arr.shape[0], -1).any(axis=1)
    r = int(xp.argmax(rows))
    if arr.ndim == 1:
        v, where = arr[r], f"row {r}"
    else:
        pos = xp.unravel_index(int(xp.argmax(bad[r].ravel())), arr.shape[1:])
        pos = tuple(int(p) for p in pos)
        v = arr[(r,) + pos]
        where = f"row {r}, column {pos[0]}" if arr.ndim == 2 else f"row {r}, position {pos}"
    kind = "NaN" if xp.isnan(v) else ("inf" if v > 0 else "-inf")
    n_bad = int(rows.sum())
    raise ValueError(
        f"{name} contains {kind} at {where} ({n_bad} of {arr.shape[0]} rows are not finite); "
        f"data must be finite: drop or impute those rows"
    )


class Dataset:
    """Base class of map-style datasets: ``__len__`` and ``__getitem__(i) -> sample``.

    A sample is a tuple of arrays or numbers (for example ``(x, y)``); the
    ``DataLoader`` stacks samples field by field. Subclass it for data that is
    made or read per sample; use ``TensorDataset`` for arrays in memory.
    Same protocol as ``torch.utils.data.Dataset``.
    """

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")


class TensorDataset(Dataset):
    """Samples are the rows of equally long arrays: ``dataset[i] = (a[i] for a in arrays)``.

    ``TensorDataset(X, y)`` with ndarrays or Tensors whose first dimensions
    (the number of samples) agree; the arrays are kept without a copy (a
    Tensor's ``.data``). Floating arrays are checked for NaN and inf
    (``check_finite``). Indexing with an int gives one sample; with an index
    array or slice it gives a batch, which is how the ``DataLoader`` reads it.
    As ``torch.utils.data.TensorDataset``.

    Example: ``TensorDataset(np.zeros((10, 3), np.float32), np.arange(10))[2]``.
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset: needs at least one array; got none")
        arrs = []
        for k, a in enumerate(arrays):
            arr = _as_array(a, "TensorDataset", f"arrays[{k}]")
            if arr.ndim == 0:
                raise ValueError(f"TensorDataset: 'arrays[{k}]' must have a sample axis; got a 0-d array")
            arrs.append(arr)
        lengths = [a.shape[0] for a in arrs]
        if len(set(lengths)) > 1:
            raise ValueError(
                f"TensorDataset: all arrays must have the same first dimension (number of samples); "
                f"got lengths {lengths} for shapes {[a.shape for a in arrs]}"
            )
        for k, a in enumerate(arrs):
            check_finite(a, "X" if k == 0 else ("y" if k == 1 and len(arrs) == 2 else f"arrays[{k}]"))
        self.arrays = tuple(arrs)

    @property
    def tensors(self):
        """The arrays, under PyTorch's attribute name."""
        return self.arrays

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)

    def __repr__(self):
        return f"TensorDataset({len(self)} samples, shapes {[a.shape[1:] for a in self.arrays]})"


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order (as ``torch.utils.data.Subset``).

    ``random_split`` returns these. A ``DataLoader`` over a ``Subset`` of a
    ``TensorDataset`` still batches by fancy indexing (it composes the indices).
    """

    def __init__(self, dataset, indices):
        idx = xp.asarray(indices)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise ValueError(f"Subset: 'indices' must be a 1-D array of ints; got shape {idx.shape}, dtype {idx.dtype}")
        n = len(dataset)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"Subset: 'indices' must be in [0, {n}) for a dataset of {n} samples; "
                             f"got range [{idx.min()}, {idx.max()}]")
        self.dataset = dataset
        self.indices = idx.astype(xp.int64, copy=False)

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __getitem__(self, index):
        if isinstance(index, (int, xp.integer)):
            return self.dataset[int(self.indices[index])]
        return self.dataset[self.indices[index]]

    def __repr__(self):
        return f"Subset({len(self)} of {len(self.dataset)} samples)"


def _resolve_arrays(dataset):
    """``(arrays, indices)`` if ``dataset`` is a TensorDataset or a chain of Subsets of one, else None.

    ``indices`` is None for the TensorDataset itself; for Subsets it is the
    composed index into the arrays, so a batch is ``a[indices[batch]]``.
    """
    idx = None
    while isinstance(dataset, Subset):
        idx = dataset.indices if idx is None else dataset.indices[idx]
        dataset = dataset.dataset
    if isinstance(dataset, TensorDataset):
        return dataset.arrays, idx
    return None
