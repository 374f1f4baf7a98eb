"""Pooling layers with PyTorch's names and arguments; the ops are in ``trainwise.functional.pooling``.

Pooling shrinks a feature map by summarizing windows (max or mean), which
cuts computation and makes features tolerant to small shifts (LeCun et al.
1998; seed 002, "Architecture: CNN"). Output size per axis:
⌊(H + 2p − d(k − 1) − 1)/s⌋ + 1, stride s = kernel size unless given.
"""
from __future__ import annotations

from ..functional.conv import _INT
from ..functional.pooling import _adaptive_avg_pool, _avg_pool, _max_pool, pool_args
from ..tensor import Tensor, as_tensor
from .module import Module

__all__ = [
    "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "GlobalAvgPool",
]


def _flag(owner, name, value):
    if not isinstance(value, bool):
        raise ValueError(f"{owner}: '{name}' must be a bool; got {value!r}")
    return value


def _shown(t):
    return t[0] if len(set(t)) == 1 else t


class _MaxPoolNd(Module):
    _nd = 2

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        name = type(self).__name__
        self.kernel_size, self.stride, self.padding, self.dilation = pool_args(
            name, kernel_size, stride, padding, dilation, self._nd, "max")
        if return_indices is not False:
            raise ValueError(f"{name}: 'return_indices' must be False (returning the argmax indices is not "
                             f"supported); got {return_indices!r}")
        self.ceil_mode = _flag(name, "ceil_mode", ceil_mode)

    def forward(self, x: Tensor) -> Tensor:
        return _max_pool(type(self).__name__, x, self.kernel_size, self.stride, self.padding, self.dilation,
                         self.ceil_mode, self._nd)

    def extra_repr(self):
        return (f"kernel_size={_shown(self.kernel_size)}, stride={_shown(self.stride)}, "
                f"padding={_shown(self.padding)}, dilation={_shown(self.dilation)}, ceil_mode={self.ceil_mode}")


class MaxPool2d(_MaxPoolNd):
    """Max over each kH×kW window of (N, C, H, W), as ``torch.nn.MaxPool2d``.

    The gradient flows only to each window's maximum (the first one on ties,
    as PyTorch). Args, in PyTorch's order: kernel_size; stride (None:
    kernel_size); padding (−∞, at most half the effective kernel); dilation;
    return_indices (must be False: not supported); ceil_mode. See
    ``trainwise.functional.max_pool2d``.

    Example: ``MaxPool2d(2)(x)`` maps (N, 16, 28, 28) -> (N, 16, 14, 14).
    """

    _nd = 2


class MaxPool1d(_MaxPoolNd):
    """Max over each window of length k of (N, C, L), as ``torch.nn.MaxPool1d``.

    Example: ``MaxPool1d(2)(x)`` maps (N, 8, 40) -> (N, 8, 20).
    """

    _nd = 1


class _AvgPoolNd(Module):
    _nd = 2

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__()
        name = type(self).__name__
        self.kernel_size, self.stride, self.padding, _ = pool_args(
            name, kernel_size, stride, padding, 1, self._nd, "avg")
        self.ceil_mode = _flag(name, "ceil_mode", ceil_mode)
        self.count_include_pad = _flag(name, "count_include_pad", count_include_pad)

    def forward(self, x: Tensor) -> Tensor:
        return _avg_pool(type(self).__name__, x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                         self.count_include_pad, self._nd)

    def extra_repr(self):
        return (f"kernel_size={_shown(self.kernel_size)}, stride={_shown(self.stride)}, "
                f"padding={_shown(self.padding)}")


class AvgPool2d(_AvgPoolNd):
    """Mean over each kH×kW window of (N, C, H, W), as ``torch.nn.AvgPool2d`` (same argument order).

    ``count_include_pad`` (default True): padding zeros count in the divisor.
    See ``trainwise.functional.avg_pool2d``.

    Example: ``AvgPool2d(2)(x)`` maps (N, 16, 28, 28) -> (N, 16, 14, 14).
    """

    _nd = 2


class AvgPool1d(_AvgPoolNd):
    """Mean over each window of length k of (N, C, L), as ``torch.nn.AvgPool1d``.

    Example: ``AvgPool1d(4)(x)`` maps (N, 8, 40) -> (N, 8, 10).
    """

    _nd = 1


def _output_size(owner, value, nd):
    items = value if isinstance(value, (tuple, list)) else (value,) * nd
    if len(items) != nd or any(v is not None and (isinstance(v, bool) or not isinstance(v, _INT) or v < 1)
                               for v in items):
        raise ValueError(f"{owner}: 'output_size' must be a positive int"
                         f"{'' if nd == 1 else f' or a tuple of {nd} positive ints or None'}; got {value!r}")
    return value


class AdaptiveAvgPool2d(Module):
    """Average-pool (N, C, H, W) to a fixed (oH, oW), as ``torch.nn.AdaptiveAvgPool2d``.

    Window i covers [⌊i·H/oH⌋, ⌈(i+1)·H/oH⌉) along H (PyTorch's formula); any
    input size works, which lets one classifier head follow inputs of several
    sizes. ``AdaptiveAvgPool2d(1)`` is global average pooling, kept 4-D.

    Example: ``AdaptiveAvgPool2d((2, 2))(x)`` maps (N, 64, 7, 7) -> (N, 64, 2, 2).
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = _output_size(type(self).__name__, output_size, 2)

    def forward(self, x: Tensor) -> Tensor:
        return _adaptive_avg_pool("AdaptiveAvgPool2d", x, self.output_size, 2)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(Module):
    """Average-pool (N, C, L) to a fixed length, as ``torch.nn.AdaptiveAvgPool1d``.

    Example: ``AdaptiveAvgPool1d(1)(x)`` maps (N, 8, 40) -> (N, 8, 1).
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = _output_size(type(self).__name__, output_size, 1)

    def forward(self, x: Tensor) -> Tensor:
        return _adaptive_avg_pool("AdaptiveAvgPool1d", x, self.output_size, 1)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class GlobalAvgPool(Module):
    """Global average pooling: the mean over every spatial axis, (N, C, *spatial) -> (N, C).

    y[n, c] = (1/|S|) Σ_{s ∈ S} x[n, c, s]. The same numbers as
    ``AdaptiveAvgPool2d(1)`` followed by ``Flatten()`` (Keras calls it
    GlobalAveragePooling2D); it replaces large fully connected heads with no
    parameters (Lin et al. 2014, "Network in Network").

    Example: ``GlobalAvgPool()(x)`` maps (N, 64, 7, 7) -> (N, 64).
    """

    def forward(self, x: Tensor) -> Tensor:
        x = as_tensor(x)
        if x.data.ndim < 3:
            raise ValueError(f"GlobalAvgPool: 'input' must be at least 3-D (N, C, *spatial); got shape {x.data.shape}")
        if x.data.dtype.kind != "f":
            raise TypeError(f"GlobalAvgPool: 'input' must have a floating dtype; got {x.data.dtype}")
        return x.mean(axis=tuple(range(2, x.data.ndim)))
