"""Splitting data (``random_split``, ``train_val_split``) and input standardization.

The validation set watches generalization while the training set moves the
weights (seed 002, "Early Stopping": training set for weight updates,
validation set for monitoring). Both must come from the same distribution:
a stratified split keeps every class's share equal in both, and statistics
such as the mean and standard deviation of the inputs are learned from the
training split alone.
"""
from __future__ import annotations

import math

from ..backend import get_generator, xp
from ..tensor import Tensor
from .dataset import Dataset, Subset, _as_array

__all__ = ["random_split", "train_val_split", "Standardizer"]


def _take(a, idx):
    """Rows ``idx`` of an ndarray or a Tensor, returned as the same kind."""
    return Tensor(a.data[idx]) if isinstance(a, Tensor) else a[idx]


def _split_lengths(n: int, lengths, owner: str):
    """Integer lengths from lengths or fractions, as ``torch.utils.data.random_split``.

    Fractions (summing to 1) get ``floor(n * f)`` each and the remainder is
    handed out one sample at a time round-robin from the first split.
    """
    try:
        lengths = [v for v in lengths]
    except TypeError:
        raise TypeError(f"{owner}: 'lengths' must be a list of ints or of fractions; got {lengths!r}") from None
    if not lengths:
        raise ValueError(f"{owner}: 'lengths' is empty")
    for v in lengths:
        if isinstance(v, bool) or not isinstance(v, (int, float, xp.integer, xp.floating)) or v < 0:
            raise ValueError(f"{owner}: 'lengths' must hold non-negative ints or fractions; got {lengths!r}")
    if math.isclose(sum(lengths), 1) and sum(lengths) <= n and any(
            not float(v).is_integer() for v in lengths):
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        return counts
    if any(not float(v).is_integer() for v in lengths):
        raise ValueError(f"{owner}: fractions in 'lengths' must sum to 1; got {lengths!r} (sum {sum(lengths)})")
    counts = [int(v) for v in lengths]
    if sum(counts) != n:
        raise ValueError(f"{owner}: 'lengths' must sum to the number of samples {n}; got {counts} (sum {sum(counts)})")
    return counts


def random_split(dataset_or_arrays, lengths, generator=None):
    """Split data at random into parts of the given sizes (as ``torch.utils.data.random_split``).

    Arguments:
        dataset_or_arrays: a ``Dataset`` (the parts are ``Subset`` objects), one
            ndarray or Tensor (the parts are arrays), or a tuple/list of arrays
            with equal first dimension such as ``(X, y)`` (each part is a tuple).
        lengths: sizes that add up to N, or fractions that add up to 1
            (``floor(N·f)`` each, the remainder handed out round-robin).
        generator: ``trainwise.Generator`` for the permutation (default: the
            default generator).

    The same numbers as PyTorch for the sizes; the permutation comes from
    trainwise's generator. Example: ``train, val = random_split((X, y), [0.8, 0.2], Generator(0))``.
    """
    if isinstance(dataset_or_arrays, Dataset):
        kind, n = "dataset", len(dataset_or_arrays)
    elif isinstance(dataset_or_arrays, (tuple, list)):
        arrays = list(dataset_or_arrays)
        if not arrays:
            raise ValueError("random_split: 'dataset_or_arrays' is an empty sequence")
        ns = [len(a) for a in arrays]
        if len(set(ns)) > 1:
            raise ValueError(f"random_split: the arrays must have the same first dimension; got lengths {ns}")
        kind, n = "arrays", ns[0]
    elif isinstance(dataset_or_arrays, (xp.ndarray, Tensor)):
        kind, n = "array", len(dataset_or_arrays)
    else:
        raise TypeError(f"random_split: 'dataset_or_arrays' must be a Dataset, an array or a tuple of arrays; "
                        f"got {type(dataset_or_arrays).__name__}")
    counts = _split_lengths(n, lengths, "random_split")
    perm = get_generator(generator).permutation(sum(counts))
    parts, offset = [], 0
    for c in counts:
        idx = perm[offset:offset + c]
        offset += c
        if kind == "dataset":
            parts.append(Subset(dataset_or_arrays, idx))
        elif kind == "arrays":
            parts.append(tuple(_take(a, idx) for a in arrays))
        else:
            parts.append(_take(dataset_or_arrays, idx))
    return parts


def _stratified_val_mask(labels, fraction: float, n_val: int, perm, gen):
    """Boolean mask over ``perm`` positions: which permuted samples go to validation.

    Class c with n_c samples gets floor(f·n_c) validation samples, and the
    ``n_val − Σ floor`` classes with the largest remainders f·n_c − floor(f·n_c)
    one more (ties broken at random): every class is within one sample of
    the requested fraction and the total is ``n_val = round(f·N)``.
    """
    classes, inv = xp.unique(labels, return_inverse=True)
    inv = inv.reshape(-1)
    counts = xp.bincount(inv, minlength=len(classes))
    exact = counts * fraction
    k = xp.floor(exact).astype(xp.int64)
    extra = n_val - int(k.sum())
    tie = gen.random(len(classes))
    if extra > 0:
        order = xp.lexsort((tie, -(exact - k)))
        k[order[:extra]] += 1
    lab = inv[perm]
    order = xp.argsort(lab, kind="stable")  # grouped by class, random within a class
    starts = xp.concatenate([[0], xp.cumsum(counts)[:-1]])
    rank = xp.arange(len(lab)) - starts[lab[order]]
    mask = xp.empty(len(lab), dtype=bool)
    mask[order] = rank < k[lab[order]]
    return mask


def train_val_split(X, y, val_fraction=0.2, stratify=True, generator=None):
    """Split ``(X, y)`` at random into ``(X_train, y_train, X_val, y_val)``.

    ``round(val_fraction · N)`` samples go to validation. With ``stratify``
    (the default) each class keeps its proportion: a class of n_c samples puts
    ``floor(val_fraction·n_c)`` or one more into validation, so the class
    shares of both parts are within one sample of the whole's (as
    scikit-learn's ``train_test_split(..., stratify=y)``). An unrepresentative
    split (a class missing from validation) makes the validation curve lie.
    Stratifying needs class labels; for regression targets pass
    ``stratify=False``. Both parts keep the random order of the permutation.

    Arguments: ``X``, ``y`` ndarrays or Tensors with equal first dimension
    (the parts are of the same kind); ``val_fraction`` in (0, 1);
    ``generator`` a ``trainwise.Generator`` (default: the default generator).

    Example: ``X_tr, y_tr, X_va, y_va = train_val_split(X, y, 0.2, generator=Generator(0))``.
    """
    xa = _as_array(X, "train_val_split", "X")
    ya = _as_array(y, "train_val_split", "y")
    if xa.ndim == 0 or ya.ndim == 0 or xa.shape[0] != ya.shape[0]:
        raise ValueError(f"train_val_split: 'X' and 'y' must have the same number of samples (first dimension); "
                         f"got shapes {xa.shape} and {ya.shape}")
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float, xp.floating)) or not (
            0 < val_fraction < 1):
        raise ValueError(f"train_val_split: 'val_fraction' must be a number in (0, 1); got {val_fraction!r}")
    n = xa.shape[0]
    n_val = int(round(val_fraction * n))
    if n_val < 1 or n_val > n - 1:
        raise ValueError(f"train_val_split: val_fraction={val_fraction} of {n} samples leaves {n_val} for validation "
                         f"and {n - n_val} for training; both need at least one")
    labels = None
    if stratify:
        labels = ya if ya.ndim == 1 else (ya.reshape(n) if ya.size == n else None)
        if labels is None:
            raise ValueError(f"train_val_split: stratify=True needs one class label per sample; 'y' has shape {ya.shape}"
                             f"; pass stratify=False")
        if labels.dtype.kind == "f" and not bool(xp.all(labels == xp.round(labels))):
            raise ValueError("train_val_split: stratify=True needs class labels, but 'y' holds non-integer floats "
                             "(regression targets?); pass stratify=False")
    gen = get_generator(generator)
    perm = gen.permutation(n)
    if labels is None:
        val_idx, train_idx = perm[:n_val], perm[n_val:]
    else:
        mask = _stratified_val_mask(labels, float(val_fraction), n_val, perm, gen)
        val_idx, train_idx = perm[mask], perm[~mask]
    return _take(X, train_idx), _take(y, train_idx), _take(X, val_idx), _take(y, val_idx)


class Standardizer:
    """Per-feature standardization x̂ = (x − μ) / σ, with μ and σ learned from the training split.

    The notes' input normalization (seed 003, "Normalization and
    standardization of Data": ``x_i = (x_i − μ)/σ`` with μ and σ the mean and
    standard deviation of the feature). σ is the population standard deviation
    (ddof=0, as scikit-learn's ``StandardScaler``); a feature whose σ ≤ ``eps``
    (constant on the training split) is divided by 1 instead, so it maps to 0
    rather than to NaN or a huge number.

    Fit on the training split only. μ and σ are part of the model: computed
    on all data (or on the validation or test split) they carry information
    about the held-out samples into training (*leakage*), and the validation
    and test scores then overstate how the model does on data it has never
    seen. Fit once on ``X_train``, then ``transform`` every split with those
    same numbers.

    Arguments: ``axis`` the sample axes to reduce over (0: one μ, σ per
    feature, or per pixel for images; ``(0, 2, 3)`` for one per channel of
    (N, C, H, W) images); ``eps`` the zero-variance guard. μ and σ are
    computed in float64 and applied in the data's dtype.
    ``state_dict()`` gives them as plain lists (JSON).

    Example: ``s = Standardizer().fit(X_train); X_val = s.transform(X_val)``.
    """

    def __init__(self, axis=0, eps: float = 1e-8):
        axes = (axis,) if isinstance(axis, (int, xp.integer)) else tuple(axis)
        if not axes or 0 not in axes or any(isinstance(a, bool) or not isinstance(a, (int, xp.integer)) for a in axes):
            raise ValueError(f"Standardizer: 'axis' must be 0 or a tuple of ints that includes 0 (the sample axis); "
                             f"got {axis!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
            raise ValueError(f"Standardizer: 'eps' must be a non-negative number; got {eps!r}")
        self.axis = tuple(int(a) for a in axes)
        self.eps = float(eps)
        self.mean = None
        self.std = None
        self.scale = None

    def _check(self, X, what):
        arr = _as_array(X, f"Standardizer.{what}", "X")
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"Standardizer.{what}: 'X' must be numeric; got dtype {arr.dtype}")
        if arr.ndim < 1 or max(self.axis) >= arr.ndim:
            raise ValueError(f"Standardizer.{what}: 'X' of shape {arr.shape} has no axis {max(self.axis)} "
                             f"(axis={self.axis})")
        return arr

    def fit(self, X) -> "Standardizer":
        """Learn μ and σ of each feature from ``X`` (the training split). Returns self."""
        arr = self._check(X, "fit")
        if arr.shape[0] < 1:
            raise ValueError("Standardizer.fit: 'X' has no samples")
        x64 = arr.astype(xp.float64, copy=False)
        self.mean = x64.mean(axis=self.axis, keepdims=True)
        self.std = x64.std(axis=self.axis, keepdims=True)
        self.scale = xp.where(self.std > self.eps, self.std, 1.0)
        return self

    def _ready(self, X, what):
        if self.mean is None:
            raise RuntimeError(f"Standardizer.{what}: call fit(X_train) first")
        arr = self._check(X, what)
        want = tuple(s for i, s in enumerate(self.mean.shape) if i not in self.axis)
        got = tuple(s for i, s in enumerate(arr.shape) if i not in self.axis)
        if arr.ndim != self.mean.ndim or want != got:
            raise ValueError(f"Standardizer.{what}: 'X' has shape {arr.shape} but the standardizer was fit on "
                             f"features of shape {want} (axis={self.axis})")
        dtype = arr.dtype if arr.dtype.kind == "f" else xp.dtype(xp.float32)
        return arr, dtype

    def transform(self, X):
        """(X − μ) / σ with the fitted μ, σ; keeps a float dtype (integers become float32)."""
        arr, dtype = self._ready(X, "transform")
        out = (arr - self.mean.astype(dtype)) / self.scale.astype(dtype)
        return Tensor(out) if isinstance(X, Tensor) else out

    def fit_transform(self, X):
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def inverse_transform(self, X):
        """X·σ + μ: back to the original units (e.g. regression predictions)."""
        arr, dtype = self._ready(X, "inverse_transform")
        out = arr * self.scale.astype(dtype) + self.mean.astype(dtype)
        return Tensor(out) if isinstance(X, Tensor) else out

    def state_dict(self) -> dict:
        """``{"mean", "std", "axis", "eps"}`` as plain (nested) lists and numbers."""
        if self.mean is None:
            raise RuntimeError("Standardizer.state_dict: call fit(X_train) first")
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "axis": list(self.axis), "eps": self.eps}

    def load_state_dict(self, state: dict) -> "Standardizer":
        try:
            mean = xp.asarray(state["mean"], dtype=xp.float64)
            std = xp.asarray(state["std"], dtype=xp.float64)
            axis, eps = tuple(int(a) for a in state["axis"]), float(state["eps"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"Standardizer.load_state_dict: 'state' is not a Standardizer state ({e!r})") from None
        if mean.shape != std.shape:
            raise ValueError(f"Standardizer.load_state_dict: 'mean' and 'std' shapes differ: {mean.shape} vs {std.shape}")
        self.axis, self.eps, self.mean, self.std = axis, eps, mean, std
        self.scale = xp.where(std > eps, std, 1.0)
        return self

    def __repr__(self):
        fitted = "unfitted" if self.mean is None else f"fitted on features {self.mean.shape}"
        return f"Standardizer(axis={self.axis}, eps={self.eps}, {fitted})"
