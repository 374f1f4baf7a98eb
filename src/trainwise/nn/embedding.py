"""Token embeddings and positional encodings."""
from __future__ import annotations

import math

from .. import init as _init
from ..backend import get_default_dtype, xp
from ..tensor import Tensor, make
from .linear import check_size
from .module import Module, Parameter

__all__ = ["Embedding", "SinusoidalPositionalEncoding", "LearnedPositionalEncoding"]


def _indices(input, num_embeddings: int, owner: str):
    idx = input.data if isinstance(input, Tensor) else xp.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{owner}: 'input' must hold integer indices; got dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= num_embeddings):
        bad = idx.min() if idx.min() < 0 else idx.max()
        raise IndexError(f"{owner}: 'input' indices must be in [0, num_embeddings={num_embeddings}); got {int(bad)}")
    return idx


def embedding(input, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Row lookup y[..., :] = W[input[...], :] as one node; the gradient is a scatter-add.

    dW[j] = Σ over positions with input = j of dL/dy at that position; the row
    ``padding_idx`` gets no gradient (as ``torch.nn.functional.embedding``).
    Example: ``embedding(np.array([[1, 2], [0, 3]]), W)`` -> shape (2, 2, D).
    """
    idx = _indices(input, weight.shape[0], "embedding")
    wd = weight.data
    out = wd[idx]

    def backward(g):
        gw = xp.zeros(wd.shape, dtype=g.dtype)
        xp.add.at(gw, idx.reshape(-1), g.reshape(-1, wd.shape[1]))
        if padding_idx is not None:
            gw[padding_idx] = 0
        return (gw,)

    return make(out, (weight,), backward, "embedding")


class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors of size ``embedding_dim``, as ``torch.nn.Embedding``.

    ``weight`` (num_embeddings, embedding_dim) starts as N(0, 1) (PyTorch's
    init); the row ``padding_idx`` (negative counts from the end) starts at
    zero and receives no gradient, so padding tokens stay the zero vector.
    Input: integer indices of any shape (ndarray, list or integer Tensor);
    output: that shape + (embedding_dim,).

    Example: ``Embedding(1000, 64, padding_idx=0)(np.array([[5, 7, 0]]))`` -> shape (1, 3, 64).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None, dtype=None,
                 generator=None):
        super().__init__()
        self.num_embeddings = check_size("num_embeddings", num_embeddings, "Embedding")
        self.embedding_dim = check_size("embedding_dim", embedding_dim, "Embedding")
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, xp.integer)) or \
                    not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(f"Embedding: 'padding_idx' must be an int in [-{self.num_embeddings}, "
                                 f"{self.num_embeddings}); got {padding_idx!r}")
            padding_idx = int(padding_idx) % self.num_embeddings
        self.padding_idx = padding_idx
        self.weight = Parameter(xp.empty((self.num_embeddings, self.embedding_dim), dtype=dtype or get_default_dtype()))
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None) -> None:
        """W ~ N(0, 1); the padding row ← 0."""
        _init.normal_(self.weight, 0.0, 1.0, generator)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, input) -> Tensor:
        idx = _indices(input, self.num_embeddings, "Embedding")
        return embedding(idx, self.weight, self.padding_idx)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}" + (
            f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")


def _positions(x, max_len, d_model, batch_first, owner):
    if not isinstance(x, Tensor):
        x = Tensor(xp.asarray(x))
    if x.ndim not in (2, 3) or x.shape[-1] != d_model:
        layout = "(N, T, d_model)" if batch_first else "(T, N, d_model)"
        raise ValueError(f"{owner}: 'input' must be {layout} or (T, d_model) with d_model={d_model}; "
                         f"got shape {x.shape}")
    T = x.shape[1] if (batch_first and x.ndim == 3) else x.shape[0]
    if T > max_len:
        raise ValueError(f"{owner}: the sequence is {T} steps long but 'max_len' is {max_len}")
    return x, T


class SinusoidalPositionalEncoding(Module):
    """Adds the fixed sinusoidal position code of Vaswani et al. 2017 (section 3.5) to its input.

    PE[pos, 2i] = sin(pos / 10000^(2i/d_model)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model)).
    Input (T, N, d_model), or (N, T, d_model) with ``batch_first``, or
    (T, d_model); output x + PE[:T] broadcast over the batch. PE is a
    non-persistent buffer (not in the state dict: it is recomputed).

    Example: ``SinusoidalPositionalEncoding(64, max_len=512)(Embedding(1000, 64)(tokens) * 8.0)``.
    """

    def __init__(self, d_model: int, max_len: int = 5000, batch_first: bool = False, dtype=None):
        super().__init__()
        self.d_model = check_size("d_model", d_model, "SinusoidalPositionalEncoding")
        self.max_len = check_size("max_len", max_len, "SinusoidalPositionalEncoding")
        self.batch_first = bool(batch_first)
        pos = xp.arange(self.max_len, dtype=xp.float64)[:, None]
        freq = xp.exp(xp.arange(0, self.d_model, 2, dtype=xp.float64) * (-math.log(10000.0) / self.d_model))
        pe = xp.zeros((self.max_len, self.d_model), dtype=xp.float64)
        pe[:, 0::2] = xp.sin(pos * freq)
        pe[:, 1::2] = xp.cos(pos * freq[: self.d_model // 2])
        self.register_buffer("pe", pe.astype(dtype or get_default_dtype()), persistent=False)

    def forward(self, x) -> Tensor:
        x, T = _positions(x, self.max_len, self.d_model, self.batch_first, "SinusoidalPositionalEncoding")
        pe = self.pe[:T].astype(x.dtype, copy=False)
        if x.ndim == 3:
            pe = pe[:, None, :] if not self.batch_first else pe[None]
        return make(x.data + pe, (x,), lambda g: (g,), "positional_encoding")

    def extra_repr(self):
        return f"d_model={self.d_model}, max_len={self.max_len}" + (", batch_first=True" if self.batch_first else "")


class LearnedPositionalEncoding(Module):
    """Adds a learned vector per position (as BERT and GPT-2): y[t] = x[t] + P[t].

    ``weight`` P (max_len, d_model) starts as N(0, 0.02²) (the BERT/GPT-2
    init). Input layout as ``SinusoidalPositionalEncoding``. One node: dx = g,
    dP[t] = Σ over the batch of g[t].

    Example: ``LearnedPositionalEncoding(64, max_len=128, batch_first=True)(x)``.
    """

    def __init__(self, d_model: int, max_len: int = 512, batch_first: bool = False, dtype=None, generator=None):
        super().__init__()
        self.d_model = check_size("d_model", d_model, "LearnedPositionalEncoding")
        self.max_len = check_size("max_len", max_len, "LearnedPositionalEncoding")
        self.batch_first = bool(batch_first)
        self.weight = Parameter(xp.empty((self.max_len, self.d_model), dtype=dtype or get_default_dtype()))
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None) -> None:
        _init.normal_(self.weight, 0.0, 0.02, generator)

    def forward(self, x) -> Tensor:
        x, T = _positions(x, self.max_len, self.d_model, self.batch_first, "LearnedPositionalEncoding")
        w = self.weight
        p = w.data[:T]
        if x.ndim == 3:
            p = p[:, None, :] if not self.batch_first else p[None]
        batch_axis = (0 if self.batch_first else 1) if x.ndim == 3 else None

        def backward(g):
            gw = None
            if w.requires_grad:
                gw = xp.zeros(w.data.shape, dtype=g.dtype)
                gw[:T] = g.sum(axis=batch_axis) if batch_axis is not None else g
            return (g if x.requires_grad else None), gw

        return make(x.data + p, (x, w), backward, "learned_positional_encoding")

    def extra_repr(self):
        return f"d_model={self.d_model}, max_len={self.max_len}" + (", batch_first=True" if self.batch_first else "")
