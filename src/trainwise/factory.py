"""Tensor constructors with PyTorch's names: zeros, ones, full, arange, randn, rand."""
from __future__ import annotations

from .backend import get_default_dtype, get_generator, xp
from .tensor import Tensor


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if isinstance(s, bool) or not isinstance(s, (int, xp.integer)) or s < 0:
            raise ValueError(f"'size' must be non-negative ints; got {size!r}")
    return tuple(int(s) for s in size)


def zeros(*size, dtype=None, requires_grad=False) -> Tensor:
    return Tensor(xp.zeros(_shape(size), dtype=dtype or get_default_dtype()), requires_grad)


def ones(*size, dtype=None, requires_grad=False) -> Tensor:
    return Tensor(xp.ones(_shape(size), dtype=dtype or get_default_dtype()), requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False) -> Tensor:
    return Tensor(xp.full(_shape((size,)), fill_value, dtype=dtype or get_default_dtype()), requires_grad)


def zeros_like(t, dtype=None, requires_grad=False) -> Tensor:
    data = t.data if isinstance(t, Tensor) else xp.asarray(t)
    return Tensor(xp.zeros_like(data, dtype=dtype), requires_grad)


def ones_like(t, dtype=None, requires_grad=False) -> Tensor:
    data = t.data if isinstance(t, Tensor) else xp.asarray(t)
    return Tensor(xp.ones_like(data, dtype=dtype), requires_grad)


def arange(start, stop=None, step=1, dtype=None) -> Tensor:
    """``arange(stop)`` or ``arange(start, stop, step)``; float arguments give the default float dtype."""
    if stop is None:
        start, stop = 0, start
    data = xp.arange(start, stop, step, dtype=dtype)
    if dtype is None and data.dtype.kind == "f":
        data = data.astype(get_default_dtype(), copy=False)
    return Tensor(data)


def randn(*size, dtype=None, generator=None, requires_grad=False) -> Tensor:
    """Standard normal samples from ``generator`` (the default one if None)."""
    g = get_generator(generator)
    data = g.normal(0.0, 1.0, _shape(size)).astype(dtype or get_default_dtype())
    return Tensor(data, requires_grad)


def rand(*size, dtype=None, generator=None, requires_grad=False) -> Tensor:
    """Uniform samples on [0, 1) from ``generator`` (the default one if None)."""
    g = get_generator(generator)
    data = g.random(_shape(size)).astype(dtype or get_default_dtype())
    return Tensor(data, requires_grad)


def from_numpy(array) -> Tensor:
    """Wrap an ndarray without copying (its dtype is kept)."""
    if not isinstance(array, xp.ndarray):
        raise TypeError(f"from_numpy: 'array' must be an ndarray; got {type(array).__name__}")
    return Tensor(array)
