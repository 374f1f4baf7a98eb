"""Convolutional layers ``Conv1d`` and ``Conv2d`` with PyTorch's arguments, shapes and default init.

A convolution shares one small kernel across all positions of the input,
so a layer with C_in·C_out·kH·kW weights sees the whole image and responds
to a pattern wherever it appears (LeCun et al. 1998, "Gradient-based
learning applied to document recognition"; seed 002, "Architecture: CNN").
The computation is ``trainwise.functional.conv2d`` (im2col + batched matrix
products, one graph node); inside ``nn.Sequential`` a Conv1d/Conv2d directly
followed by a ReLU runs as one fused node (same numbers, one activation fewer).
"""
from __future__ import annotations

from .. import init as _init
from ..backend import get_default_dtype, xp
from ..functional.conv import _ints, conv_nd, resolve_padding
from ..tensor import Tensor
from .linear import check_size
from .module import Module, Parameter

__all__ = ["Conv1d", "Conv2d"]


class _ConvNd(Module):
    _nd = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, init="default", nonlinearity=None, dtype=None, generator=None):
        super().__init__()
        name, nd = type(self).__name__, self._nd
        self.in_channels = check_size("in_channels", in_channels, name)
        self.out_channels = check_size("out_channels", out_channels, name)
        self.groups = check_size("groups", groups, name)
        if self.in_channels % self.groups:
            raise ValueError(f"{name}: 'in_channels' ({self.in_channels}) must be divisible by "
                             f"'groups' ({self.groups})")
        if self.out_channels % self.groups:
            raise ValueError(f"{name}: 'out_channels' ({self.out_channels}) must be divisible by "
                             f"'groups' ({self.groups})")
        self.kernel_size = _ints(name, "kernel_size", kernel_size, nd, 1)
        self.stride = _ints(name, "stride", stride, nd, 1)
        self.dilation = _ints(name, "dilation", dilation, nd, 1)
        self._pads = resolve_padding(name, padding, self.kernel_size, self.stride, self.dilation)
        self.padding = padding if isinstance(padding, str) else tuple(p for p, _ in self._pads)
        if not isinstance(init, str) or init not in _init.INITIALIZERS:
            raise ValueError(f"{name}: 'init' must be one of {', '.join(sorted(_init.INITIALIZERS))}; got {init!r}")
        dt = dtype or get_default_dtype()
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight = Parameter(xp.empty(shape, dtype=dt))
        self.bias = Parameter(xp.zeros(self.out_channels, dtype=dt)) if bias else None
        self.init = init
        self.nonlinearity = nonlinearity
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None) -> None:
        """PyTorch's default: W and b ~ U[-1/√fan_in, 1/√fan_in], fan_in = C_in/groups·∏k.

        With another ``init`` the weight follows it (``nonlinearity`` sets the
        gain) and the bias starts at zero.
        """
        _init.initialize_(self.weight, self.init, self.nonlinearity, generator)
        if self.bias is not None:
            if self.init == "default":
                fan_in, _ = _init.calculate_fan_in_and_fan_out(self.weight)
                _init.simple_uniform_bias_(self.bias, fan_in, generator)
            else:
                _init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return conv_nd(type(self).__name__, x, self.weight, self.bias, self.stride, self._pads,
                       self.dilation, self.groups, self._nd)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}")
        if self.padding != (0,) * self._nd:
            s += f", padding={self.padding!r}"
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """2-D convolution over (N, C_in, H, W) -> (N, C_out, H_out, W_out), as ``torch.nn.Conv2d``.

    y = W ⋆ x + b with ``weight`` (C_out, C_in/groups, kH, kW) and ``bias``
    (C_out,), the names and shapes of PyTorch's, so state dicts move across.
    H_out = ⌊(H + 2p − d(kH − 1) − 1)/s⌋ + 1. Default init is PyTorch's
    (W, b ~ U[-1/√fan_in, 1/√fan_in], fan_in = C_in/groups·kH·kW); ``init``
    and ``nonlinearity`` pick another one by name (``trainwise.init.initialize_``).

    Args:
        in_channels, out_channels: channel counts (both divisible by ``groups``).
        kernel_size, stride, dilation: int or (h, w), positive.
        padding: int or (p_H, p_W) zeros each side, "valid", or "same" (stride 1).
        groups: independent channel blocks (``groups=in_channels``: depthwise).
        bias: learn an additive bias.  dtype: parameter dtype (default float32).
        generator: ``trainwise.Generator`` for the init draws.

    Example: ``Conv2d(1, 8, 3, padding=1)(x)`` maps (N, 1, 28, 28) -> (N, 8, 28, 28).
    """

    _nd = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, init: str = "default", nonlinearity: str | None = None,
                 dtype=None, generator=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         init, nonlinearity, dtype, generator)


class Conv1d(_ConvNd):
    """1-D convolution over (N, C_in, L) -> (N, C_out, L_out), as ``torch.nn.Conv1d``.

    ``weight`` (C_out, C_in/groups, k), ``bias`` (C_out,);
    L_out = ⌊(L + 2p − d(k − 1) − 1)/s⌋ + 1; PyTorch's default init with
    fan_in = C_in/groups·k. Arguments as ``Conv2d``, one value each.

    Example: ``Conv1d(1, 16, 5, padding="same")(x)`` maps (N, 1, 40) -> (N, 16, 40).
    """

    _nd = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, init: str = "default", nonlinearity: str | None = None,
                 dtype=None, generator=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         init, nonlinearity, dtype, generator)
