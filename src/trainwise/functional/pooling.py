"""Pooling as fused graph nodes: max, average and adaptive average, 1-D and 2-D.

Pooling summarizes each window of a feature map by one number, shrinking
the map and making the features tolerant to small shifts; LeCun et al. 1998
("Gradient-based learning applied to document recognition") alternate
convolutions with such subsampling layers (seed 002, "Architecture: CNN").
Every op here has PyTorch's semantics and output size

    H_out = ⌊(H + 2p − d(k − 1) − 1) / s⌋ + 1      (⌈·⌉ with ``ceil_mode``),

with stride s = k unless given. The windows are visited by a loop over the
kH·kW kernel offsets, each a strided slice of the whole batch (never a loop
over pixels); the adaptive pool is two small matrix products (measured
faster than a reshape and a mean even when its windows tile the input).
"""
from __future__ import annotations

from ..backend import xp
from ..tensor import Tensor, make
from .conv import _INT, _image_ranges, _input, _ints, _run

__all__ = [
    "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d",
]


# ------------------------------------------------------------------ geometry
def pool_args(owner: str, kernel_size, stride, padding, dilation, nd: int, kind: str):
    """Normalized (kernel, stride, padding, dilation) nd-tuples, with PyTorch's checks.

    ``stride=None`` means ``kernel_size``. ``kind`` is "max" (padding at most
    half the effective kernel d(k−1)+1) or "avg" (at most half the kernel).
    """
    kernel = _ints(owner, "kernel_size", kernel_size, nd, 1)
    stride = kernel if stride is None or (isinstance(stride, (tuple, list)) and not stride) else \
        _ints(owner, "stride", stride, nd, 1)
    padding = _ints(owner, "padding", padding, nd, 0)
    dilation = _ints(owner, "dilation", dilation, nd, 1)
    for k, p, d in zip(kernel, padding, dilation):
        limit = ((d * (k - 1) + 1) if kind == "max" else k) // 2
        if p > limit:
            raise ValueError(f"{owner}: 'padding' must be at most half the {'effective ' if kind == 'max' else ''}"
                             f"kernel size ({limit}); got padding={padding} for kernel_size={kernel}")
    return kernel, stride, padding, dilation


def pool_geometry(owner: str, spatial, kernel, stride, padding, dilation, ceil_mode):
    """Output sizes and (before, after) padding per axis for a pooling window.

    H_out = ⌊(H + 2p − d(k−1) − 1)/s⌋ + 1, or ⌈·⌉ with ``ceil_mode``; then, as
    PyTorch, the last window must start inside the input or the left padding.
    A window that runs past the padded input gets extra "after" padding.
    """
    out, pads = [], []
    for size, k, s, p, d in zip(spatial, kernel, stride, padding, dilation):
        span = d * (k - 1) + 1
        o = (size + 2 * p - span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (o - 1) * s >= size + p:
            o -= 1
        if o < 1:
            raise ValueError(f"{owner}: the window (size {span}) is larger than the padded input (size {size + 2 * p}) "
                             f"along a spatial axis; input spatial shape {tuple(spatial)}, padding {tuple(padding)}")
        out.append(o)
        pads.append((p, p + max(0, (o - 1) * s + span - size - 2 * p)))
    return tuple(out), tuple(pads)


def _pool_args(owner, x, kernel_size, stride, padding, dilation, ceil_mode, nd, kind):
    x = _input(owner, x, nd)
    kernel, stride, padding, dilation = pool_args(owner, kernel_size, stride, padding, dilation, nd, kind)
    if not isinstance(ceil_mode, (bool, xp.bool_)):
        raise ValueError(f"{owner}: 'ceil_mode' must be a bool; got {ceil_mode!r}")
    out, pads = pool_geometry(owner, x.data.shape[2:], kernel, stride, padding, dilation, ceil_mode)
    if nd == 1:
        kernel, stride, dilation = (1,) + kernel, (1,) + stride, (1,) + dilation
        out, pads = (1,) + out, ((0, 0),) + pads
    return x, kernel, stride, dilation, out, pads


def _pad(xd, pads, value):
    """(N, C, H, W) padded with ``value``; ``xd`` itself when no padding is needed."""
    (pt, pb), (pl, pr) = pads
    if not (pt or pb or pl or pr):
        return xd
    N, C, H, W = xd.shape
    out = xp.full((N, C, H + pt + pb, W + pl + pr), value, dtype=xd.dtype)
    out[:, :, pt:pt + H, pl:pl + W] = xd
    return out


def _offsets(kernel, out_hw, stride, dilation):
    """(k, index) for each kernel offset: the strided slice of the padded input it reads."""
    (kh, kw), (oh, ow), (sh, sw), (dh, dw) = kernel, out_hw, stride, dilation
    for p in range(kh):
        rows = slice(p * dh, p * dh + sh * (oh - 1) + 1, sh)
        for q in range(kw):
            yield p * kw + q, (slice(None), slice(None), rows, slice(q * dw, q * dw + sw * (ow - 1) + 1, sw))


def _crop(dxp, pads, shape):
    (pt, _), (pl, _) = pads
    if dxp.shape == shape:
        return dxp
    return xp.ascontiguousarray(dxp[:, :, pt:pt + shape[2], pl:pl + shape[3]])


def _as4d(a, nd):
    return a[:, :, None, :] if nd == 1 else a


# ---------------------------------------------------------------------- max
# With ``conv.SPLIT_IMAGES`` (on by default) max pooling's images are split between
# threads as the convolution's (``conv._image_ranges``), from 1/16 of its threshold of
# work (counted
# as output values x kernel offsets): a pass costs little per element but the whole
# loop is ~1 ms for (64, 16, 28, 28), well above a thread hand-off.
POOL_WORK_SCALE = 16
def _max_pool(owner, x, kernel_size, stride, padding, dilation, ceil_mode, nd):
    x, kernel, stride, dilation, out_hw, pads = _pool_args(
        owner, x, kernel_size, stride, padding, dilation, ceil_mode, nd, "max")
    xd = _as4d(x.data, nd)
    xpad = _pad(xd, pads, -xp.inf)
    K = kernel[0] * kernel[1]
    N, C = xd.shape[:2]
    out = xp.empty((N, C) + out_hw, dtype=xd.dtype)
    idx = xp.zeros(out.shape, dtype=xp.int8 if K < 128 else xp.int32)
    # the images split between threads as in the convolution (each range its own slices)
    ranges = _image_ranges(N, C * out_hw[0] * out_hw[1] * K * POOL_WORK_SCALE)

    def forward_images(lo, hi):
        o, i, step = out[lo:hi], idx[lo:hi], None
        for k, sl in _offsets(kernel, out_hw, stride, dilation):
            v = xpad[lo:hi][sl]
            if step is None:
                o[...] = v
                step = xp.empty_like(i)
            else:
                # strictly greater: a tie keeps the earlier offset (row-major), as PyTorch
                better = v > o
                xp.maximum(o, v, out=o)
                # idx = k where better, as arithmetic: 20x faster than a masked copyto on random masks
                xp.subtract(k, i, out=step)
                xp.multiply(step, better, out=step)
                i += step

    _run([lambda lo=lo, hi=hi: forward_images(lo, hi) for lo, hi in ranges])
    in_shape, xshape, pshape = x.data.shape, xd.shape, xpad.shape
    del xpad

    overlap = any(s < d * (k - 1) + 1 for s, k, d in zip(stride, kernel, dilation))

    def backward(g):
        g4 = _as4d(g, nd)
        dxp = xp.zeros(pshape, dtype=g.dtype)

        # each kernel offset k passes g where it was the argmax: g·[idx = k]. Measured on
        # (64, 8, 28, 28) float32: 2×2/2 0.3 ms vs 0.7 ms for a scatter through flat indices;
        # 3×3/1 3.3 ms vs 5.6 ms for numpy.add.at (3×3/2: 1.0 ms vs 0.6 ms, not worth a second path).
        # (An infinite upstream gradient thus also leaves NaN (inf·0) beside the argmax, where
        # PyTorch leaves 0; the gradient is non-finite either way.)
        def backward_images(lo, hi):
            gr, ir, dr = g4[lo:hi], idx[lo:hi], dxp[lo:hi]
            for k, sl in _offsets(kernel, out_hw, stride, dilation):
                if overlap:
                    dr[sl] += gr * (ir == k)
                else:
                    xp.multiply(gr, ir == k, out=dr[sl])

        _run([lambda lo=lo, hi=hi: backward_images(lo, hi) for lo, hi in ranges])
        return (_crop(dxp, pads, xshape).reshape(in_shape),)

    if nd == 1:
        out = out.reshape(out.shape[0], out.shape[1], out.shape[3])
    return make(out, (x,), backward, f"max_pool{nd}d")


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False) -> Tensor:
    """2-D max pooling, y[n, c, i, j] = max over the window at (i·s_H, j·s_W) of x padded with −∞.

    The gradient goes to the window's argmax only; among equal maxima to the
    first in row-major order, as PyTorch. Output size ⌊(H + 2p − d(k−1) − 1)/s⌋ + 1
    (ceil with ``ceil_mode``). LeCun et al. 1998; seed 002, "Architecture".

    Args:
        x: (N, C, H, W).  kernel_size: int or (kH, kW).
        stride: int or pair; None means kernel_size.  padding: int or pair,
            at most half the effective kernel.  dilation: spacing of the window's taps.
        ceil_mode: round the output size up instead of down.

    Example: ``max_pool2d(x, 2)`` halves H and W: (8, 16, 28, 28) -> (8, 16, 14, 14).
    """
    return _max_pool("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode, 2)


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False) -> Tensor:
    """1-D max pooling over the last axis of x (N, C, L); see ``max_pool2d``.

    Example: ``max_pool1d(x, 2)`` maps (8, 4, 40) -> (8, 4, 20).
    """
    return _max_pool("max_pool1d", x, kernel_size, stride, padding, dilation, ceil_mode, 1)


# ------------------------------------------------------------------ average
def _window_counts(size, out, k, s, p, include_pad):
    """How many taps of each window count in its mean, along one axis (PyTorch's divisor)."""
    start = xp.arange(out) * s - p
    if include_pad:
        return xp.minimum(start + k, size + p) - start
    return xp.minimum(start + k, size) - xp.maximum(start, 0)


def _avg_pool(owner, x, kernel_size, stride, padding, ceil_mode, count_include_pad, nd):
    x, kernel, stride, dilation, out_hw, pads = _pool_args(
        owner, x, kernel_size, stride, padding, 1, ceil_mode, nd, "avg")
    if not isinstance(count_include_pad, (bool, xp.bool_)):
        raise ValueError(f"{owner}: 'count_include_pad' must be a bool; got {count_include_pad!r}")
    xd = _as4d(x.data, nd)
    xpad = _pad(xd, pads, 0)
    out = None
    for _, sl in _offsets(kernel, out_hw, stride, dilation):
        if out is None:
            out = xpad[sl].copy()
        else:
            out += xpad[sl]
    counts = [_window_counts(n, o, k, s, p, count_include_pad)
              for n, o, k, s, (p, _) in zip(xd.shape[2:], out_hw, kernel, stride, pads)]
    div = counts[0].reshape(-1, 1) * counts[1]
    if (div == div.flat[0]).all():
        scale = 1.0 / float(div.flat[0])  # a Python float keeps float32 data float32
        out *= scale
    else:
        scale = (1.0 / div).astype(xd.dtype)
        out *= scale
    in_shape, xshape, pshape = x.data.shape, xd.shape, xpad.shape
    overlap = any(s < k for s, k in zip(stride, kernel))
    del xpad

    def backward(g):
        gs = _as4d(g, nd) * scale
        dxp = xp.zeros(pshape, dtype=g.dtype)
        for _, sl in _offsets(kernel, out_hw, stride, dilation):
            if overlap:
                dxp[sl] += gs
            else:
                dxp[sl] = gs
        return (_crop(dxp, pads, xshape).reshape(in_shape),)

    if nd == 1:
        out = out.reshape(out.shape[0], out.shape[1], out.shape[3])
    return make(out, (x,), backward, f"avg_pool{nd}d")


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """2-D average pooling, y = (1/|window|) Σ_window x_pad, with zero padding.

    The divisor is kH·kW when ``count_include_pad`` (zeros of the padding
    count, PyTorch's default), else the number of real input pixels in the
    window; with ``ceil_mode`` a window running past the padded input counts
    only its part inside it (PyTorch's rule). Gradient: each input in a window
    receives g/divisor. Arguments are in PyTorch's order. LeCun et al. 1998.

    Args:
        x: (N, C, H, W).  kernel_size, stride (None: kernel_size), padding
            (at most half the kernel): ints or pairs.
        ceil_mode: round the output size up.  count_include_pad: see above.

    Example: ``avg_pool2d(x, 2)`` maps (8, 16, 28, 28) -> (8, 16, 14, 14).
    """
    return _avg_pool("avg_pool2d", x, kernel_size, stride, padding, ceil_mode, count_include_pad, 2)


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """1-D average pooling over the last axis of x (N, C, L); see ``avg_pool2d``.

    Example: ``avg_pool1d(x, 4)`` maps (8, 4, 40) -> (8, 4, 10).
    """
    return _avg_pool("avg_pool1d", x, kernel_size, stride, padding, ceil_mode, count_include_pad, 1)


# ----------------------------------------------------------------- adaptive
def adaptive_matrix(in_size: int, out_size: int, dtype):
    """A (out, in) with A[i, start_i:end_i] = 1/(end_i − start_i): row i averages window i.

    PyTorch's windows: start_i = ⌊i·in/out⌋, end_i = ⌈(i+1)·in/out⌉.
    """
    i = xp.arange(out_size)
    start = (i * in_size) // out_size
    end = ((i + 1) * in_size + out_size - 1) // out_size
    t = xp.arange(in_size)
    inside = (t >= start[:, None]) & (t < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def _adaptive_avg_pool(owner, x, output_size, nd):
    x = _input(owner, x, nd)
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * nd
    if len(sizes) != nd or any(s is not None and (isinstance(s, bool) or not isinstance(s, _INT) or s < 1)
                               for s in sizes):
        raise ValueError(f"{owner}: 'output_size' must be a positive int"
                         f"{'' if nd == 1 else f' or a tuple of {nd} positive ints (None keeps that axis)'}; "
                         f"got {output_size!r}")
    xd = _as4d(x.data, nd)
    N, C, H, W = xd.shape
    oh, ow = ((1,) if nd == 1 else ()) + tuple(int(s) if s is not None else n
                                                for s, n in zip(sizes, x.data.shape[2:]))
    in_shape = x.data.shape
    if oh == 1 and ow == 1:
        # global average pooling
        out = xd.mean(axis=(2, 3), keepdims=True)
        inv = 1.0 / (H * W)

        def backward(g):
            return (xp.broadcast_to(_as4d(g, nd) * inv, (N, C, H, W)).reshape(in_shape),)
    else:
        # y = A_H · x · A_Wᵀ per (n, c); the gradient is A_Hᵀ · g · A_W
        ah, aw = adaptive_matrix(H, oh, xd.dtype), adaptive_matrix(W, ow, xd.dtype)
        out = xp.matmul(ah, (xd.reshape(-1, W) @ aw.T).reshape(N, C, H, ow))

        def backward(g):
            gy = xp.matmul(ah.T, _as4d(g, nd))
            return ((gy.reshape(-1, ow) @ aw).reshape(in_shape),)

    if nd == 1:
        out = out.reshape(N, C, ow)
    return make(out, (x,), backward, f"adaptive_avg_pool{nd}d")


def adaptive_avg_pool2d(x, output_size) -> Tensor:
    """Average pooling to a fixed output size (oH, oW), whatever the input size.

    Window i along H covers [⌊i·H/oH⌋, ⌈(i+1)·H/oH⌉) (PyTorch's formula), so
    windows may differ in size by one and overlap; ``output_size=1`` is
    global average pooling (Lin et al. 2014, "Network in Network").
    ``None`` in the tuple keeps that axis's size.

    Example: ``adaptive_avg_pool2d(x, 1)`` maps (8, 64, 7, 7) -> (8, 64, 1, 1).
    """
    return _adaptive_avg_pool("adaptive_avg_pool2d", x, output_size, 2)


def adaptive_avg_pool1d(x, output_size) -> Tensor:
    """Average pooling of x (N, C, L) to length ``output_size``; see ``adaptive_avg_pool2d``.

    Example: ``adaptive_avg_pool1d(x, 5)`` maps (8, 4, 40) -> (8, 4, 5).
    """
    return _adaptive_avg_pool("adaptive_avg_pool1d", x, output_size, 1)
