"""Convolution as one fused graph node: im2col, batched matrix products, col2im.

A convolutional layer (LeCun et al. 1998, "Gradient-based learning applied to
document recognition"; seed 002, "Architecture: Convolutional neural network
(CNN): Image") slides a small kernel over the image and, at every position,
takes the dot product of the kernel with the patch under it. PyTorch computes
cross-correlation (the kernel is not flipped) and so does trainwise:

    y[n, o, i, j] = b[o] + Σ_{c, p, q} W[o, c, p, q] · x_pad[n, g(o)·C_g + c, i·s_H + p·d_H, j·s_W + q·d_W]

with stride s, dilation d, zero padding, and ``groups`` splitting the C_in
input and C_out output channels into blocks that see only each other
(C_g = C_in/groups; groups = C_in is a depthwise convolution). Each spatial
output size is

    H_out = ⌊(H + p_before + p_after − d·(k − 1) − 1) / s⌋ + 1.

The im2col idea: copy every receptive field of image n into a column of a
matrix cols_n of shape (C_g·kH·kW, H_out·W_out) per group. The convolution is
then the matrix product Y_n = W·cols_n with W reshaped to (C_out/groups,
C_g·kH·kW); one batched ``matmul`` over a block of images writes Y straight
into the output's (N, C_out, H_out·W_out) layout, so no transpose copy
follows. The columns are read from the padded input through an
``as_strided`` view (no copy) and materialized a block of images at a time
(COLUMN_BLOCK_BYTES, about 1 MiB, so they are still in the L2 cache when the
product reads them), then dropped. Backward, with G_n the output gradient of
image n in the same layout:

    dW = Σ_n G_n·cols_nᵀ,   db = Σ G,   dcols_n = Wᵀ·G_n,

where the backward rebuilds each block's columns (one copy) instead of
keeping N·C·kH·kW·H_out·W_out values alive from the forward, and col2im
scatters dcols back onto the input, summing where receptive fields overlap,
with one slice-add per kernel offset (kH·kW of them; never a loop over
pixels). For stride 1 (when the input needs a gradient) the backward uses the
"flat" layout: it computes the products on the whole padded grid, position
t = i·W_p + j of the flattened padded image, with G zero outside the real
outputs; kernel offset (p, q) is then the shift p·d_H·W_p + q·d_W, so each
offset's columns, and its col2im slice-add, are one contiguous run per image
instead of H_out runs of W_out values. With ``relu`` the node also applies
max(0, ·) in place and masks G with [y > 0] (``nn.Sequential`` fuses a
convolution and the ReLU after it). A stride-1 layer of one group with at
least SHIFT_MIN_CHANNELS input channels on a grid of at least
SHIFT_MIN_POSITIONS positions takes its backward as kH·kW shifted products
instead, without rebuilding the columns (``_shifted_backward``). Images are
split between threads (``SPLIT_IMAGES``, on by default: see there).
"""
from __future__ import annotations

from ..backend import blas_threads, one_blas_thread, run_in_threads, xp
from ..tensor import Tensor, as_tensor, make

__all__ = ["conv1d", "conv2d", "conv_output_size"]

_as_strided = xp.lib.stride_tricks.as_strided
_INT = (int, xp.integer)


# ------------------------------------------------------------ argument checks
def _ints(owner: str, name: str, value, n: int, low: int) -> tuple:
    """``value`` (an int or a sequence of ``n`` ints, each >= ``low``) as an n-tuple."""
    if isinstance(value, _INT) and not isinstance(value, bool):
        vals = (int(value),) * n
    elif (isinstance(value, (tuple, list)) and len(value) == n
          and all(isinstance(v, _INT) and not isinstance(v, bool) for v in value)):
        vals = tuple(int(v) for v in value)
    else:
        what = "an int" if n == 1 else f"an int or a tuple of {n} ints"
        raise ValueError(f"{owner}: '{name}' must be {what}; got {value!r}")
    if any(v < low for v in vals):
        kind = "positive" if low == 1 else "non-negative"
        raise ValueError(f"{owner}: '{name}' must be {kind}; got {value!r}")
    return vals


_LAYOUT = {1: "3-D (N, C, L)", 2: "4-D (N, C, H, W)"}
_WLAYOUT = {1: "3-D (C_out, C_in/groups, k)", 2: "4-D (C_out, C_in/groups, kH, kW)"}


def _input(owner: str, x, nd: int) -> Tensor:
    """``x`` as a floating Tensor with nd spatial axes after (N, C), or a clear error."""
    x = as_tensor(x)
    if x.data.ndim != nd + 2:
        raise ValueError(f"{owner}: 'input' must be {_LAYOUT[nd]}; got shape {x.data.shape}")
    if x.data.dtype.kind != "f":
        raise TypeError(f"{owner}: 'input' must have a floating dtype; got {x.data.dtype}")
    return x


def resolve_padding(owner: str, padding, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
    """Padding per spatial axis as (before, after) pairs.

    An int or tuple pads both sides equally. ``"valid"`` is no padding;
    ``"same"`` (stride 1 only, as PyTorch) pads d·(k−1) in total, the odd one
    after: before = ⌊d(k−1)/2⌋, after = d(k−1) − before.
    """
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{owner}: padding='same' needs stride 1 (as PyTorch); got stride={stride}")
            pads = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise ValueError(f"{owner}: 'padding' must be an int, a tuple of {n} ints, 'same' or 'valid'; got {padding!r}")
    return tuple((p, p) for p in _ints(owner, "padding", padding, n, 0))


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """⌊(H + 2p − d(k−1) − 1)/s⌋ + 1, the output length of a convolution along one axis.

    Example: ``conv_output_size(28, 3, padding=1) == 28``; ``conv_output_size(28, 2, 2) == 14``.
    """
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


# --------------------------------------------------------- array-level pieces
# Images per im2col block: the block's columns (about this many bytes) stay in the
# L2 cache between the copy that builds them and the products that read them.
COLUMN_BLOCK_BYTES = 1 << 20
# The backward's flat layout (stride 1, only when dX is wanted: it speeds up col2im)
# computes every position of the padded grid, H_p·W_p per image instead of
# H_out·W_out; past this ratio the narrow layout is used.
FLAT_WASTE = 1.5
# Products are cut along the output positions into pieces of at most this many
# multiply-adds per image: OpenBLAS (0.3.30/31) runs products up to 10^6 of them
# through its small-matrix kernels, and the larger path was 2x slower on these
# skinny shapes (16 x 900 by 900 x 72, one thread: 0.31 ms for 4 images in one
# piece, 0.14 ms in two).
PRODUCT_MACS = 1_000_000


def _pad(xd, pads, tail=0):
    """(N, C, H, W) zero-padded to (N, C, H + pt + pb, W + pl + pr), followed in memory by
    ``tail`` more zeros (which the flat columns read past the last image's end).
    ``xd`` itself when there is neither padding nor tail."""
    (pt, pb), (pl, pr) = pads
    if not (pt or pb or pl or pr or tail):
        return xd
    N, C, H, W = xd.shape
    shape = (N, C, H + pt + pb, W + pl + pr)
    size = N * C * shape[2] * shape[3]
    out = xp.zeros(size + tail, dtype=xd.dtype)[:size].reshape(shape)
    out[:, :, pt:pt + H, pl:pl + W] = xd
    return out


def _flat_offsets(kernel, dilation, Wp):
    """p·d_H·W_p + q·d_W for each kernel offset (p, q), row-major: its shift on the flat padded grid."""
    return [p * dilation[0] * Wp + q * dilation[1] for p in range(kernel[0]) for q in range(kernel[1])]


def _im2col_flat(xpad, groups, kernel, dilation):
    """The read-only view cols[n, g, p, q, c, t] = xpad_flat[n, g·C_g + c, t + p·d_H·W_p + q·d_W].

    t runs over the whole padded grid (H_p·W_p positions; output (i, j) is
    t = i·W_p + j, the other positions are computed and dropped), so for each
    image, group and kernel offset the C_g·H_p·W_p values are one contiguous
    run of ``xpad``, and consecutive images continue it: a block of images is
    copied with ``ascontiguousarray(view[a:b])`` as kH·kW long runs (no
    intermediate arrays). Stride 1 only. The rows are ordered (p, q, c), so the
    weight is permuted to (C_out, kH, kW, C_in/groups) to match.
    """
    N, C, Hp, Wp = xpad.shape
    e, Cg = xpad.itemsize, C // groups
    return _as_strided(
        xpad, shape=(N, groups, kernel[0], kernel[1], Cg, Hp * Wp),
        strides=(C * Hp * Wp * e, Cg * Hp * Wp * e, dilation[0] * Wp * e, dilation[1] * e, Hp * Wp * e, e),
        writeable=False,
    )


def _im2col_view(xpad, kernel, out_hw, stride, dilation):
    """The read-only view cols[n, c, p, q, i, j] = xpad[n, c, i·s_H + p·d_H, j·s_W + q·d_W] (any stride).

    A block of images is materialized with ``ascontiguousarray(view[a:b])``.
    """
    N, C = xpad.shape[:2]
    s0, s1, s2, s3 = xpad.strides
    return _as_strided(
        xpad, shape=(N, C, kernel[0], kernel[1], out_hw[0], out_hw[1]),
        strides=(s0, s1, s2 * dilation[0], s3 * dilation[1], s2 * stride[0], s3 * stride[1]),
        writeable=False,
    )


def _col2im_add(dx, dcols, pads, stride, dilation):
    """The adjoint of ``_im2col_view``, cropped: dx += col2im(dcols) on the unpadded input.

    dcols is (n, C, kH, kW, H_out, W_out) and dx (n, C, H, W). Kernel offset
    (p, q) sends dcols[:, :, p, q, i, j] to input pixel (i·s_H + p·d_H − pt,
    j·s_W + q·d_W − pl); the outputs i whose pixel falls in the padding are
    clipped away, so there is no padded buffer to crop. One strided slice-add
    per offset (kH·kW of them; never a loop over pixels).
    """
    H, W = dx.shape[2:]
    kh, kw, oh, ow = dcols.shape[2:]
    for p in range(kh):
        rows = _clip(p * dilation[0] - pads[0][0], stride[0], oh, H)
        if rows is None:
            continue
        for q in range(kw):
            cols = _clip(q * dilation[1] - pads[1][0], stride[1], ow, W)
            if cols is not None:
                dx[:, :, rows[0], cols[0]] += dcols[:, :, p, q, rows[1], cols[1]]


def _clip(offset, s, n_out, size):
    """(input slice, output slice) of the outputs i < n_out with 0 <= i·s + offset < size, or None."""
    i0 = max(0, -(offset // s) if offset < 0 else 0)
    i1 = min(n_out, (size - 1 - offset) // s + 1) if size - 1 - offset >= 0 else 0
    if i1 <= i0:
        return None
    a = i0 * s + offset
    return slice(a, a + (i1 - i0 - 1) * s + 1, s), slice(i0, i1)


# Splitting a convolution's (and max pooling's) images between threads. History: it made
# the second convolution of `cnn-small` 1.3-1.8x faster alone, but the whole step 5-8%
# slower (79 against 84 steps/s), because OpenBLAS's own worker, woken by a threaded
# product elsewhere in the step (the Linear layer's), spins on the other core for ~0.1 s
# after the call, whatever the thread count is set to next. Since ``backend.product``
# keeps products that small on one BLAS thread, nothing in such a step wakes that worker,
# and the split pays: `cnn-small` at two threads 8.2-9.5 ms a step against 12.4-13.5 ms
# unsplit (interleaved, quiet machine). While the ranges run, ``_run`` holds NumPy's BLAS
# to one thread, so the k = blas_threads() Python threads are all the threads used (the
# user's budget). A step that also has threaded products (a wide Linear layer) can still
# meet a spinning worker; set False there if it measures slower.
SPLIT_IMAGES = True
# Split only above this many multiply-adds (C_out·C·kH·kW·H_out·W_out per image, times
# N): below it the hand-off costs more. 2^20 rather than 2^22 lets `cnn-small`'s first
# layer (3.6M) split too: its step 7.13 against 7.48 ms and 8.65 against 8.93 ms (two
# interleaved runs at two threads, quiet machine); the 1-D CNN was level either way.
THREAD_MIN_WORK = 1 << 20


def _pieces(T: int, macs_per_position: int) -> list:
    """Slices cutting 0..T into equal pieces of at most PRODUCT_MACS multiply-adds."""
    k = max(1, -(-T * macs_per_position // PRODUCT_MACS))
    return [slice(T * i // k, T * (i + 1) // k) for i in range(k)]


def _image_ranges(N: int, work_per_image: int):
    """[(lo, hi)]: the images split evenly between the threads NumPy's BLAS may use
    (with SPLIT_IMAGES; else one range).

    The per-image products are small enough that OpenBLAS runs each on one thread,
    so the second core is put to work by running image ranges on worker
    threads (``backend.run_in_threads``) (NumPy releases the GIL inside its loops and products); every
    range writes its own images and its own partial dW and db, summed in range
    order, so the result never depends on the threads' timing. The budget is read
    here, before ``_run`` holds the BLAS to one thread.
    """
    k = max(1, min(N, blas_threads())) if SPLIT_IMAGES and N * work_per_image >= THREAD_MIN_WORK else 1
    return [(N * j // k, N * (j + 1) // k) for j in range(k)]


def _run(jobs):
    """Runs the jobs of ``_image_ranges``: one on the caller, the others on the worker
    threads. With more than one, NumPy's BLAS is held to one thread meanwhile, so that the
    k threads running the ranges are all the threads in use (the user's budget is k)."""
    if len(jobs) == 1:
        jobs[0]()
    else:
        with one_blas_thread():
            run_in_threads(jobs)


def _summed(parts, i):
    """Σ_j parts[j][i], added in range order (so the result never depends on the threads' timing)."""
    total = parts[0][i]
    for part in parts[1:]:
        total += part[i]
    return total


# ---------------------------------------------- the backward as shifted products
# A stride-1 convolution of one group with at least this many input channels and this
# many positions on its padded grid takes its backward as kH·kW shifted products
# (``_shifted_backward``) instead of rebuilding the im2col columns. Measured on
# `cnn-small`'s second layer (64 images, 8 -> 16 channels, 3x3, 28x28, ReLU fused;
# one thread, best of 60): backward 4.6 against 5.4 ms. The forward stays im2col: as 9
# shifted products of inner dimension C_in = 8 it took 3.8 against 2.6 ms (each product
# writes the whole output again). With one input channel, or on the 1-D CNN's 40
# positions per image, the shifted products were no faster, so those keep im2col.
SHIFT_MIN_CHANNELS = 4
SHIFT_MIN_POSITIONS = 256


def _shifted_backward(x, weight, bias, out4, xpad, in4, wshape4, pads, offsets, relu, ranges):
    """The backward of a stride-1, one-group convolution as kH·kW shifted products, no im2col.

    On the flattened padded image (position t = i·W_p + j, T = H_p·W_p) kernel
    offset k = (p, q) reads the input shifted by s_k = p·d_H·W_p + q·d_W, so the
    forward is Y_n = Σ_k W_k · X_n[:, s_k : s_k + T] (W_k = W[:, :, p, q],
    C_out × C_in; the positions off the outputs are dropped). With G the output
    gradient placed on the padded grid (zero off the outputs) after s_max zeros:

        dW_k = Σ_n G_n · X_n[:, s_k : s_k + T]ᵀ,    dX_n = Σ_k W_kᵀ · G_n[:, −s_k : T − s_k],

    the second being col2im as kH·kW shifted products. A read past a channel's
    end (t + s_k ≥ T) only pairs with positions t that are not outputs (G = 0
    there); a read before a channel's start (t − s_k < 0) meets the end of the
    previous channel's G, whose last s_max positions are never outputs, or the
    leading zeros. ``xpad`` is the padded input, C-ordered and followed in memory
    by s_max zeros (``_pad(.., tail)``; None when W needs no gradient), ``in4`` the
    input's shape as 4-D (N, C, H, W), ``out4`` the forward's output (the ReLU's
    mask when ``relu``); images split between threads as ``ranges``.
    """
    N, C, H, W = in4
    (pt, pb), (pl, pr) = pads
    Hp, Wp = H + pt + pb, W + pl + pr
    O, kernel = wshape4[0], wshape4[2:]
    oh, ow = out4.shape[2:]
    T, tail, kk = Hp * Wp, offsets[-1], len(offsets)
    e = out4.itemsize
    flat = None if xpad is None else xpad.reshape(-1)
    want_w, want_x = weight.requires_grad, x.requires_grad

    def backward(g):
        g4 = g.reshape(N, O, oh, ow)
        want_b = bias is not None and bias.requires_grad
        # W read now, not kept from the forward (see conv_nd): Wᵀ_k, (C_in, C_out) each
        wkt = xp.ascontiguousarray(weight.data.reshape(wshape4).transpose(2, 3, 1, 0)).reshape(kk, C, O) \
            if want_x else None
        dx = xp.empty((N, C, H, W), dtype=g.dtype) if want_x else None
        parts = [None] * len(ranges)

        def backward_images(j, lo, hi):
            n = hi - lo
            gbuf = xp.zeros(tail + n * O * T, dtype=g.dtype)
            G = gbuf[tail:].reshape(n, O, Hp, Wp)
            if relu:
                xp.multiply(g4[lo:hi], out4[lo:hi] > 0, out=G[:, :, :oh, :ow])
            else:
                G[:, :, :oh, :ow] = g4[lo:hi]
            G3 = G.reshape(n, O, T)
            gb = xp.matmul(G3, xp.ones(T, dtype=g.dtype)).sum(axis=0) if want_b else None
            gw = None
            if want_w:
                gw = xp.empty((kk, O, C), dtype=g.dtype)
                for k, off in enumerate(offsets):
                    xs = _as_strided(flat[lo * C * T + off:], shape=(n, T, C), strides=(C * T * e, e, T * e),
                                     writeable=False)
                    xp.matmul(G3, xs).sum(axis=0, out=gw[k])
            if want_x:
                d = term = None
                for k, off in enumerate(offsets):
                    gs = _as_strided(gbuf[tail - off:], shape=(n, O, T), strides=(O * T * e, T * e, e),
                                     writeable=False)
                    if d is None:
                        d = xp.matmul(wkt[k], gs)
                        term = xp.empty_like(d)
                    else:
                        xp.matmul(wkt[k], gs, out=term)
                        d += term
                dx[lo:hi] = d.reshape(n, C, Hp, Wp)[:, :, pt:pt + H, pl:pl + W]
            parts[j] = (gw, gb)

        _run([lambda j=j, lo=lo, hi=hi: backward_images(j, lo, hi) for j, (lo, hi) in enumerate(ranges)])
        gx = dx.reshape(x.data.shape) if want_x else None
        gw = gb = None
        if want_w:
            gw = _summed(parts, 0)
            gw = xp.ascontiguousarray(gw.reshape(kernel + (O, C)).transpose(2, 3, 0, 1)).reshape(weight.data.shape)
        if want_b:
            gb = _summed(parts, 1)
        if bias is None:
            return gx, gw
        return gx, gw, gb

    return backward


# ------------------------------------------------------------------ the node
def conv_nd(owner: str, x, weight, bias, stride: tuple, pads: tuple, dilation: tuple, groups: int, nd: int,
            relu: bool = False) -> Tensor:
    """The convolution node for nd = 1 or 2 spatial axes, arguments already normalized.

    ``stride``/``dilation`` are nd-tuples of positive ints, ``pads`` nd
    (before, after) pairs. Checks the shapes of input, weight and bias
    against each other (so the layers get the same messages), then runs the
    2-D kernel (a 1-D convolution is a 2-D one with H = 1). With ``relu`` the
    node computes max(0, conv(x)) (``nn.Sequential`` fuses a convolution and
    the ReLU after it): the same numbers as the two ops, one activation fewer.
    """
    x = _input(owner, x, nd)
    xd, wd = x.data, weight.data
    if wd.ndim != nd + 2:
        raise ValueError(f"{owner}: 'weight' must be {_WLAYOUT[nd]}; got shape {wd.shape}")
    if wd.dtype != xd.dtype:
        raise TypeError(f"{owner}: 'input' and 'weight' must have the same dtype; got {xd.dtype} and {wd.dtype} "
                        f"(cast the input with .astype, or the layer with .to)")
    O, Cg = wd.shape[:2]
    if O % groups:
        raise ValueError(f"{owner}: 'weight' has {O} output channels, which 'groups'={groups} does not divide")
    if xd.shape[1] != Cg * groups:
        raise ValueError(f"{owner}: 'input' must have {Cg * groups} channels (axis 1) for a weight of shape "
                         f"{wd.shape} with groups={groups}; got input of shape {xd.shape}")
    if bias is not None and bias.data.shape != (O,):
        raise ValueError(f"{owner}: 'bias' must have shape ({O},); got {bias.data.shape}")
    spatial, kernel = xd.shape[2:], wd.shape[2:]
    padded = tuple(s + a + b for s, (a, b) in zip(spatial, pads))
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(k > p for k, p in zip(span, padded)):
        raise ValueError(f"{owner}: the kernel's effective size {span} (dilation·(k−1)+1) exceeds the padded input "
                         f"{padded} (input {tuple(spatial)} plus padding {pads}); use a smaller kernel or more padding")
    if nd == 1:
        xd, wd = xd[:, :, None, :], wd[:, :, None, :]
        stride, dilation, pads = (1,) + stride, (1,) + dilation, ((0, 0),) + pads
        padded, span = (1,) + padded, (1,) + span
    N, C, H, W = xd.shape
    kernel = wd.shape[2:]
    out_hw = tuple((p - k) // s + 1 for p, k, s in zip(padded, span, stride))
    oh, ow = out_hw
    Hp, Wp = padded
    (pt, _), (pl, _) = pads
    kk = kernel[0] * kernel[1]
    Og, K, L = O // groups, Cg * kk, oh * ow
    # what the backward computes is fixed now: dW needs the input kept, dX picks the layout
    want_w, want_x = weight.requires_grad, x.requires_grad
    # Flat layout (stride 1; see _im2col_flat): im2col and col2im are kH·kW long
    # contiguous runs per block of images, at the price of computing the whole
    # padded grid (H_p·W_p ≤ FLAT_WASTE·H_out·W_out). Otherwise the narrow layout,
    # whose rows are W_out long.
    flat = stride == (1, 1) and Hp * Wp <= FLAT_WASTE * L and want_x
    # the backward as shifted products (see _shifted_backward) on the flat layout's padded buffer
    shifted = (stride == (1, 1) and groups == 1 and kk > 1 and C >= SHIFT_MIN_CHANNELS
               and SHIFT_MIN_POSITIONS <= Hp * Wp <= FLAT_WASTE * L)
    flat = flat or shifted
    T = Hp * Wp if flat else L
    offsets = _flat_offsets(kernel, dilation, Wp) if flat else [0]
    tail = offsets[-1]
    xpad = _pad(xd, pads, tail)
    if flat and not xpad.flags.c_contiguous:
        xpad = xp.ascontiguousarray(xpad)  # the flat view's strides assume C order (1x1 kernel, no padding)
    block = max(1, min(N, COLUMN_BLOCK_BYTES // (K * groups * T * xd.itemsize)))
    pieces = _pieces(T, Og * K)

    # Y_n = W · cols_n for each image n, in the narrow layout (rows of W_out; the flat
    # one's extra positions and crop cost more here than its faster copy saves): the
    # product lands in (N, C_out, H_out·W_out), the output's own layout, so no
    # transpose copy follows. The columns are built and multiplied a block of images
    # at a time and then dropped: the backward rebuilds them (one copy) rather than
    # holding C·kH·kW values per output pixel.
    xview = _im2col_view(xpad, kernel, out_hw, stride, dilation)
    w3 = wd.reshape(groups, Og, K)
    y = xp.empty((N, groups, Og, oh, ow), dtype=xd.dtype)
    b3 = None if bias is None else bias.data.reshape(groups, Og, 1, 1)
    fblock = max(1, min(N, COLUMN_BLOCK_BYTES // (K * groups * L * xd.itemsize)))
    fpieces = _pieces(L, Og * K)

    def forward_images(lo, hi):
        for a in range(lo, hi, fblock):
            yb = y[a:min(hi, a + fblock)]
            n = yb.shape[0]
            cols = xp.ascontiguousarray(xview[a:a + n]).reshape(n, groups, K, L)
            y3 = yb.reshape(n, groups, Og, L)
            for sl in fpieces:
                xp.matmul(w3, cols[..., sl], out=y3[..., sl])
            if b3 is not None:
                yb += b3
            if relu:
                xp.maximum(yb, 0, out=yb)

    ranges = _image_ranges(N, O * K * L)
    _run([lambda lo=lo, hi=hi: forward_images(lo, hi) for lo, hi in ranges])
    out = y.reshape((N, O) + (out_hw[1:] if nd == 1 else out_hw))
    if shifted:
        backward = _shifted_backward(x, weight, bias, y.reshape(N, O, oh, ow), xpad if want_w else None, xd.shape,
                                     wd.shape, pads, offsets, relu, ranges)
        parents = (x, weight) if bias is None else (x, weight, bias)
        return make(out, parents, backward, f"conv{nd}d_relu" if relu else f"conv{nd}d")
    if not want_w:
        del xpad, xview  # only dW needs the input again
    elif flat:
        xview = _im2col_flat(xpad, groups, kernel, dilation)
    in_shape = x.data.shape

    def backward(g):
        g5 = g.reshape(N, groups, Og, oh, ow)
        want_b = bias is not None and bias.requires_grad
        wt = None
        if want_x:
            # W read now, not kept from the forward: the graph holds no reference to the
            # parameter's array, so an optimizer may move it into its flat buffer
            wd_now = weight.data.reshape(groups, Og, Cg, kk)
            wt = (wd_now.transpose(0, 1, 3, 2) if flat else wd_now).reshape(groups, Og, K).transpose(0, 2, 1)
            dx = xp.empty((N, C, H, W), dtype=g.dtype) if flat else xp.zeros((N, C, H, W), dtype=g.dtype)
        parts = [None] * len(ranges)
        ones = xp.ones(T, dtype=g.dtype) if want_b else None

        def backward_images(j, lo, hi):
            gb = xp.zeros((groups, Og), dtype=g.dtype) if want_b else None
            gwt = xp.zeros((groups, K, Og), dtype=g.dtype) if want_w else None
            if flat:
                # the block's output gradient on the padded grid, zero off the outputs, so the
                # positions computed and dropped in the forward get no gradient
                Gw = xp.zeros((min(block, hi - lo), groups, Og, Hp, Wp), dtype=g.dtype)
                if want_x:
                    # col2im on the flat padded grid of images lo..hi: kernel offset k adds to
                    # the buffer shifted by offsets[k] (each range has its own buffer, so the
                    # zeros that spill past an image's end never race with another thread)
                    size = (hi - lo) * C * T
                    buf = xp.zeros(size + tail, dtype=g.dtype)
                    targets = [buf[off:off + size].reshape(hi - lo, groups, Cg * T) for off in offsets]
            for a in range(lo, hi, block):
                gb5 = g5[a:min(hi, a + block)]
                n = gb5.shape[0]
                if flat:
                    Gb = Gw[:n]
                    if relu:
                        xp.multiply(gb5, y[a:a + n] > 0, out=Gb[:, :, :, :oh, :ow])
                    else:
                        Gb[:, :, :, :oh, :ow] = gb5
                elif relu:
                    Gb = gb5 * (y[a:a + n] > 0)
                else:
                    Gb = gb5
                G = Gb.reshape(n, groups, Og, T)
                if want_b:
                    gb += xp.matmul(G, ones).sum(axis=0)  # a product with ones: 2-5x faster than .sum here
                if want_w:
                    # dWᵀ = Σ_n cols_n · G_nᵀ (this orientation: 1.2 vs 1.7 ms for the 1-D CNN's
                    # second layer, the same for the 2-D one)
                    cols = xp.ascontiguousarray(xview[a:a + n]).reshape(n, groups, K, T)
                    for sl in pieces:
                        gwt += xp.matmul(cols[..., sl], G[..., sl].transpose(0, 1, 3, 2)).sum(axis=0)
                if want_x:
                    # dcols_n = Wᵀ · G_n, then col2im onto the block's images
                    dcols = xp.empty((n, groups, K, T), dtype=g.dtype)
                    for sl in pieces:
                        xp.matmul(wt, G[..., sl], out=dcols[..., sl])
                    if flat:
                        dcols = dcols.reshape(n, groups, kk, Cg * T)
                        for k, target in enumerate(targets):
                            target[a - lo:a - lo + n] += dcols[:, :, k]
                    else:
                        _col2im_add(dx[a:a + n], dcols.reshape((n, C) + tuple(kernel) + out_hw), pads, stride,
                                    dilation)
            if want_x and flat:
                dx[lo:hi] = buf[:size].reshape(hi - lo, C, Hp, Wp)[:, :, pt:pt + H, pl:pl + W]
            parts[j] = (gwt, gb)

        _run([lambda j=j, lo=lo, hi=hi: backward_images(j, lo, hi) for j, (lo, hi) in enumerate(ranges)])
        gx = dx.reshape(in_shape) if want_x else None
        gw = gb = None
        if want_w:
            gwt = _summed(parts, 0)
            gw3 = gwt.transpose(0, 2, 1)
            if flat:
                gw3 = gw3.reshape(groups, Og, kk, Cg).transpose(0, 1, 3, 2)
            gw = xp.ascontiguousarray(gw3).reshape(weight.data.shape)
        if want_b:
            gb = _summed(parts, 1)
            gb = gb.reshape(O)
        if bias is None:
            return gx, gw
        return gx, gw, gb

    parents = (x, weight) if bias is None else (x, weight, bias)
    return make(out, parents, backward, f"conv{nd}d_relu" if relu else f"conv{nd}d")


def _conv_public(owner, x, weight, bias, stride, padding, dilation, groups, nd):
    if isinstance(groups, bool) or not isinstance(groups, _INT) or groups < 1:
        raise ValueError(f"{owner}: 'groups' must be a positive int; got {groups!r}")
    stride = _ints(owner, "stride", stride, nd, 1)
    dilation = _ints(owner, "dilation", dilation, nd, 1)
    wd = weight.data if isinstance(weight, Tensor) else None
    if wd is None:
        raise TypeError(f"{owner}: 'weight' must be a Tensor; got {type(weight).__name__}")
    if wd.ndim != nd + 2:
        raise ValueError(f"{owner}: 'weight' must be {_WLAYOUT[nd]}; got shape {wd.shape}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"{owner}: 'bias' must be a Tensor or None; got {type(bias).__name__}")
    pads = resolve_padding(owner, padding, wd.shape[2:], stride, dilation)
    return conv_nd(owner, x, weight, bias, stride, pads, dilation, int(groups), nd)


def conv2d(x, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation) with PyTorch's semantics, one fused graph node.

    y[n, o] = b[o] + Σ_c W[o, c] ⋆ x_pad[n, c] over the C_in/groups channels
    of o's group; output size ⌊(H + 2p − d(k−1) − 1)/s⌋ + 1 per axis. Forward
    is im2col + the product W·cols_n per image (batched); backward
    dW = Σ_n G_n·cols_nᵀ, dcols_n = Wᵀ·G_n, then col2im (see the module
    docstring). LeCun et al. 1998;
    seed 002, "Architecture".

    Args:
        x: input of shape (N, C_in, H, W).
        weight: kernel of shape (C_out, C_in/groups, kH, kW).
        bias: (C_out,) or None.
        stride, dilation: int or (s_H, s_W), positive.
        padding: int or (p_H, p_W) zeros on both sides, or "valid" (none), or
            "same" (stride 1 only; output size = input size, any odd padding after).
        groups: splits channels into ``groups`` independent blocks (C_in for depthwise).

    Example: ``conv2d(x, w, b, padding=1)`` with x (8, 3, 32, 32), w (16, 3, 3, 3) gives (8, 16, 32, 32).
    """
    return _conv_public("conv2d", x, weight, bias, stride, padding, dilation, groups, 2)


def conv1d(x, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """1-D convolution with PyTorch's semantics: a 2-D convolution with H = 1, one graph node.

    y[n, o, t] = b[o] + Σ_{c, q} W[o, c, q] · x_pad[n, c, t·s + q·d]; output
    length ⌊(L + 2p − d(k−1) − 1)/s⌋ + 1. LeCun et al. 1998; seed 002.

    Args:
        x: input of shape (N, C_in, L).
        weight: (C_out, C_in/groups, k).  bias: (C_out,) or None.
        stride, padding, dilation, groups: as ``conv2d``, one value each.

    Example: ``conv1d(x, w, padding="same")`` with x (8, 1, 40), w (4, 1, 5) gives (8, 4, 40).
    """
    return _conv_public("conv1d", x, weight, bias, stride, padding, dilation, groups, 1)
