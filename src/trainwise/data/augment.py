"""Data augmentation for batches of images (N, C, H, W) and 1-D signals (N, C, L) or (N, L).

Seed 003 ("How to reduce Overfitting", 3. Data augmentation): "the process of
creating additional augmented data by reasonably modifying the data in the
training set", for images by cropping, rotating, flipping and zooming. Each
epoch then shows the model a slightly different version of every sample, so
it cannot memorize the exact pixels, which reduces overfitting.

Every transform is called as ``t(batch, generator) -> batch``: it draws its
random parameters (one set per sample) from the given ``trainwise.Generator``
(default: the default generator), so an augmented run is reproducible from its
seed, and returns a new array of the same shape and dtype (the input is never
modified). The geometric transforms sample the input bilinearly at
transformed coordinates for the whole batch at once (no loop over samples or
pixels); points that fall outside the input read ``fill``. ``Compose`` chains
transforms; ``DataLoader(..., transform=t)`` applies one to each input batch.
"""
from __future__ import annotations

import math

from ..backend import get_generator, xp
from ..tensor import Tensor

__all__ = ["Transform", "Compose", "RandomCrop", "RandomRotation", "RandomHorizontalFlip", "RandomZoom",
           "RandomTranslation", "GaussianNoise", "RandomShift1d", "RandomScale1d"]


def _number(owner, name, value, low=None, high=None, low_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, xp.integer, xp.floating)) or math.isnan(value):
        raise ValueError(f"{owner}: '{name}' must be a number; got {value!r}")
    if (low is not None and (value < low or (low_open and value == low))) or (high is not None and value > high):
        lo = "(" if low_open else "["
        raise ValueError(f"{owner}: '{name}' must be in {lo}{low}, {'inf' if high is None else high}]; got {value!r}")
    return value


def _range(owner, name, value, low=None, low_open=False, symmetric=False):
    """A (min, max) pair; a single number v means (-v, v) when ``symmetric``."""
    if symmetric and isinstance(value, (int, float, xp.integer, xp.floating)) and not isinstance(value, bool):
        v = _number(owner, name, value, 0)
        return (-float(v), float(v))
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: '{name}' must be a (min, max) pair{' or a number' if symmetric else ''}; "
                         f"got {value!r}") from None
    _number(owner, name, lo, low, low_open=low_open)
    _number(owner, name, hi, low, low_open=low_open)
    if lo > hi:
        raise ValueError(f"{owner}: '{name}' must have min <= max; got {value!r}")
    return (float(lo), float(hi))


def _pair(owner, name, value, low=0):
    v = (value, value) if not isinstance(value, (tuple, list)) else tuple(value)
    if len(v) != 2 or any(isinstance(a, bool) or not isinstance(a, (int, xp.integer)) or a < low for a in v):
        raise ValueError(f"{owner}: '{name}' must be an int >= {low} or a pair of them; got {value!r}")
    return (int(v[0]), int(v[1]))


class Transform:
    """Base class: ``t(x, generator=None)`` checks ``x`` and calls ``self.apply(x, generator)``.

    ``x`` is an ndarray (or a Tensor, whose data is transformed and returned
    as a new Tensor). Subclasses set ``ndims`` (the accepted ranks) and
    ``needs_float``.
    """

    ndims = (2, 3, 4)
    needs_float = False
    layout = "a batch"

    def __call__(self, x, generator=None):
        as_tensor = isinstance(x, Tensor)
        arr = x.data if as_tensor else x
        name = type(self).__name__
        if not isinstance(arr, xp.ndarray):
            raise TypeError(f"{name}: 'x' must be an ndarray batch; got {type(x).__name__}")
        if arr.ndim not in self.ndims:
            raise ValueError(f"{name}: 'x' must be {self.layout}; got shape {arr.shape}")
        if self.needs_float and arr.dtype.kind != "f":
            raise TypeError(f"{name}: 'x' must be a floating array (it is interpolated); got dtype {arr.dtype}")
        out = self.apply(arr, get_generator(generator))
        return Tensor(out) if as_tensor else out

    def apply(self, x, gen):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Compose(Transform):
    """Apply ``transforms`` in order, each drawing from the same generator.

    Example: ``Compose([RandomCrop(28, padding=2), RandomRotation(10)])(x, Generator(0))``.
    """

    ndims = tuple(range(1, 33))

    def __init__(self, transforms):
        transforms = list(transforms)
        for k, t in enumerate(transforms):
            if not callable(t):
                raise TypeError(f"Compose: 'transforms[{k}]' must be callable as t(x, generator); got {t!r}")
        self.transforms = transforms

    def apply(self, x, gen):
        for t in self.transforms:
            x = t(x, gen)
        return x


# ------------------------------------------------------------------ images
class _Image(Transform):
    ndims = (4,)
    layout = "an image batch of shape (N, C, H, W)"


def _affine_sample(x, A, shift, fill=0.0):
    """Bilinear resampling of images at affinely transformed coordinates, for the whole batch.

    out[n, c, i, j] = x[n, c](p), p = A[n]·(q − o) + o + shift[n], q = (i, j) and
    o = ((H−1)/2, (W−1)/2) the image centre; x(p) is bilinear in the four
    pixels around p, a pixel outside the image counting as ``fill``. ``A``
    is (N, 2, 2), ``shift`` (N, 2), in (row, column) coordinates.
    """
    N, C, H, W = x.shape
    oi, oj = (H - 1) / 2.0, (W - 1) / 2.0
    qi = (xp.arange(H) - oi)[None, :, None]
    qj = (xp.arange(W) - oj)[None, None, :]
    a = A[:, :, :, None, None]
    si = a[:, 0, 0] * qi + a[:, 0, 1] * qj + (oi + shift[:, 0])[:, None, None]
    sj = a[:, 1, 0] * qi + a[:, 1, 1] * qj + (oj + shift[:, 1])[:, None, None]
    i0, j0 = xp.floor(si), xp.floor(sj)
    di, dj = si - i0, sj - j0
    i0, j0 = i0.astype(xp.int64), j0.astype(xp.int64)
    flat = x.reshape(N, C, H * W)
    out = xp.zeros((N, C, H * W), dtype=x.dtype)
    outside = xp.zeros((N, H, W)) if fill != 0 else None
    for ci, cj, w in ((0, 0, (1 - di) * (1 - dj)), (0, 1, (1 - di) * dj), (1, 0, di * (1 - dj)), (1, 1, di * dj)):
        ii, jj = i0 + ci, j0 + cj
        inside = (ii >= 0) & (ii < H) & (jj >= 0) & (jj < W)
        idx = (xp.clip(ii, 0, H - 1) * W + xp.clip(jj, 0, W - 1)).reshape(N, 1, H * W)
        weight = xp.where(inside, w, 0.0).astype(x.dtype).reshape(N, 1, H * W)
        out += xp.take_along_axis(flat, idx, axis=2) * weight
        if outside is not None:
            outside += xp.where(inside, 0.0, w)
    if outside is not None:
        out += (fill * outside).astype(x.dtype).reshape(N, 1, H * W)
    return out.reshape(N, C, H, W)


class RandomCrop(_Image):
    """Pad each image by ``padding`` pixels, then cut a ``size`` window at a random place.

    For each sample an offset (a, b) is drawn uniformly from
    {0..H+2p−h} × {0..W+2p−w} and out = pad(x)[:, a:a+h, b:b+w]. The crop of
    seed 003 (augmentation): with padding p and size equal to the input, it is
    a random translation by up to p pixels. ``size``: int or (h, w);
    ``padding``: int or (p_h, p_w); ``padding_mode``: "constant" (``fill``),
    "edge" or "reflect". Works for any dtype.

    Example: ``RandomCrop(28, padding=4)(x, Generator(0))`` on (N, 1, 28, 28).
    """

    def __init__(self, size, padding=0, padding_mode="constant", fill=0):
        self.size = _pair("RandomCrop", "size", size, 1)
        self.padding = _pair("RandomCrop", "padding", padding, 0)
        if padding_mode not in ("constant", "edge", "reflect"):
            raise ValueError(f"RandomCrop: 'padding_mode' must be 'constant', 'edge' or 'reflect'; got {padding_mode!r}")
        self.padding_mode = padding_mode
        self.fill = _number("RandomCrop", "fill", fill)

    def apply(self, x, gen):
        N, C, H, W = x.shape
        (h, w), (ph, pw) = self.size, self.padding
        Hp, Wp = H + 2 * ph, W + 2 * pw
        if h > Hp or w > Wp:
            raise ValueError(f"RandomCrop: 'size' {self.size} is larger than the padded image ({Hp}, {Wp}) "
                             f"(input {H}x{W}, padding {self.padding})")
        if ph or pw:
            widths = ((0, 0), (0, 0), (ph, ph), (pw, pw))
            kw = {"constant_values": self.fill} if self.padding_mode == "constant" else {}
            x = xp.pad(x, widths, mode=self.padding_mode, **kw)
        a = gen.integers(0, Hp - h + 1, size=N)
        b = gen.integers(0, Wp - w + 1, size=N)
        rows = (a[:, None] + xp.arange(h))[:, None, :, None]
        cols = (b[:, None] + xp.arange(w))[:, None, None, :]
        return x[xp.arange(N)[:, None, None, None], xp.arange(C)[None, :, None, None], rows, cols]


class RandomRotation(_Image):
    """Rotate each image by an angle θ ~ U[−degrees, degrees] about its centre (seed 003: rotating).

    out(q) = x(R(θ)·(q − o) + o) with bilinear interpolation, R(θ) the
    rotation taking output coordinates to input coordinates in (row, column)
    order, [[cos θ, sin θ], [−sin θ, cos θ]], so that a positive θ turns the
    picture counter-clockwise as displayed. Corners that come from outside
    the image read ``fill``. ``degrees``: a number d (θ ∈ [−d, d]) or a
    (min, max) pair. Float input only.

    Example: ``RandomRotation(15)(x, Generator(0))``.
    """

    needs_float = True

    def __init__(self, degrees, fill=0.0):
        self.degrees = _range("RandomRotation", "degrees", degrees, symmetric=True)
        self.fill = float(_number("RandomRotation", "fill", fill))

    def apply(self, x, gen):
        N = x.shape[0]
        theta = xp.deg2rad(gen.uniform(self.degrees[0], self.degrees[1], size=N))
        c, s = xp.cos(theta), xp.sin(theta)
        A = xp.stack([xp.stack([c, s], axis=1), xp.stack([-s, c], axis=1)], axis=1)
        return _affine_sample(x, A, xp.zeros((N, 2)), self.fill)


class RandomHorizontalFlip(Transform):
    """Mirror each sample along its last axis with probability ``p`` (seed 003: flipping).

    out[n] = x[n, ..., ::-1] if u_n < p else x[n], u_n ~ U[0, 1). For images
    (N, C, H, W) this is a left-right flip; it also flips signals (N, C, L).
    Any dtype. Example: ``RandomHorizontalFlip(0.5)(x, Generator(0))``.
    """

    layout = "a batch of shape (N, L), (N, C, L) or (N, C, H, W)"

    def __init__(self, p=0.5):
        self.p = float(_number("RandomHorizontalFlip", "p", p, 0, 1))

    def apply(self, x, gen):
        flip = gen.random(x.shape[0]) < self.p
        out = x.copy()
        out[flip] = x[flip][..., ::-1]
        return out


class RandomZoom(_Image):
    """Zoom each image by a factor s ~ U[scale_range] about its centre (seed 003: zooming).

    out(q) = x((q − o)/s + o), bilinear: s > 1 magnifies (zooms in, the border
    is cut off), s < 1 shrinks (the border reads ``fill``). Float input only.
    Example: ``RandomZoom((0.9, 1.1))(x, Generator(0))``.
    """

    needs_float = True

    def __init__(self, scale_range=(0.9, 1.1), fill=0.0):
        self.scale_range = _range("RandomZoom", "scale_range", scale_range, low=0, low_open=True)
        self.fill = float(_number("RandomZoom", "fill", fill))

    def apply(self, x, gen):
        N = x.shape[0]
        inv = 1.0 / gen.uniform(self.scale_range[0], self.scale_range[1], size=N)
        A = xp.zeros((N, 2, 2))
        A[:, 0, 0] = A[:, 1, 1] = inv
        return _affine_sample(x, A, xp.zeros((N, 2)), self.fill)


class RandomTranslation(_Image):
    """Shift each image by (dy, dx) pixels, out(i, j) = x(i − dy, j − dx); the border reads ``fill``.

    Translation is among the "reasonable modifications" of seed 003's data
    augmentation: the class of a digit does not depend on where it sits.

    ``max_shift``: an int m (dy, dx drawn as integers from {−m..m}, an exact
    pixel shift) or a float (drawn from U[−m, m], bilinear), or a pair
    (m_y, m_x). Float input only. Cropping with padding (``RandomCrop``) is
    the integer version of the same idea. Example: ``RandomTranslation(2)(x, Generator(0))``.
    """

    needs_float = True

    def __init__(self, max_shift, fill=0.0):
        v = tuple(max_shift) if isinstance(max_shift, (tuple, list)) else (max_shift, max_shift)
        if len(v) != 2:
            raise ValueError(f"RandomTranslation: 'max_shift' must be a number or a pair; got {max_shift!r}")
        for m in v:
            _number("RandomTranslation", "max_shift", m, 0)
        self.max_shift = v
        self.fill = float(_number("RandomTranslation", "fill", fill))

    def apply(self, x, gen):
        N = x.shape[0]
        shift = xp.empty((N, 2))
        for k, m in enumerate(self.max_shift):
            if isinstance(m, (int, xp.integer)):
                shift[:, k] = gen.integers(-int(m), int(m) + 1, size=N)
            else:
                shift[:, k] = gen.uniform(-m, m, size=N)
        A = xp.broadcast_to(xp.eye(2), (N, 2, 2))
        return _affine_sample(x, A, -shift, self.fill)


class GaussianNoise(Transform):
    """Add white noise: out = x + std·ε, ε ~ N(0, 1) independently per element.

    Not in seed 003's list (crop, rotate, flip, zoom) but the same idea for any
    kind of input: the model must not rely on exact values (training with
    input noise acts like a weight penalty; Bishop 1995, "Training with noise
    is equivalent to Tikhonov regularization").

    Works for images and signals of any rank; float input only (the noise is
    drawn in float64 and cast to x's dtype). Example: ``GaussianNoise(0.05)(x, Generator(0))``.
    """

    ndims = tuple(range(1, 33))
    needs_float = True

    def __init__(self, std=0.1):
        self.std = float(_number("GaussianNoise", "std", std, 0))

    def apply(self, x, gen):
        return x + gen.normal(0.0, self.std, size=x.shape).astype(x.dtype)


# ------------------------------------------------------------------ 1-D signals
class _Signal(Transform):
    ndims = (2, 3)
    layout = "a signal batch of shape (N, L) or (N, C, L)"


class RandomShift1d(_Signal):
    """Shift each signal along time by k ~ U{−max_shift..max_shift} samples: out[t] = x[t − k].

    ``mode="circular"`` wraps around (x[(t − k) mod L]); ``mode="zeros"``
    pads with ``fill`` where t − k falls outside. The 1-D counterpart of
    translation (seed 003 augmentation); MNIST-1D's own generator translates
    its digits the same way. Any dtype. Example: ``RandomShift1d(5)(x, Generator(0))``.
    """

    def __init__(self, max_shift, mode="circular", fill=0):
        if isinstance(max_shift, bool) or not isinstance(max_shift, (int, xp.integer)) or max_shift < 0:
            raise ValueError(f"RandomShift1d: 'max_shift' must be a non-negative int; got {max_shift!r}")
        if mode not in ("circular", "zeros"):
            raise ValueError(f"RandomShift1d: 'mode' must be 'circular' or 'zeros'; got {mode!r}")
        self.max_shift, self.mode = int(max_shift), mode
        self.fill = _number("RandomShift1d", "fill", fill)

    def apply(self, x, gen):
        N, L = x.shape[0], x.shape[-1]
        k = gen.integers(-self.max_shift, self.max_shift + 1, size=N)
        src = xp.arange(L)[None, :] - k[:, None]  # (N, L)
        x3 = x.reshape(N, -1, L)
        out = xp.take_along_axis(x3, (src % L)[:, None, :], axis=2)
        if self.mode == "zeros":
            out[xp.broadcast_to(((src < 0) | (src >= L))[:, None, :], out.shape)] = self.fill
        return out.reshape(x.shape)


class RandomScale1d(_Signal):
    """Scale each signal by s ~ U[scale_range]: in time (default) or in amplitude (seed 003 augmentation).

    ``mode="time"``: out(t) = x((t − o)/s + o) with o = (L−1)/2 the centre and
    linear interpolation, s > 1 stretching the signal (the 1-D counterpart of
    ``RandomZoom``; MNIST-1D's generator scales its templates this way); samples
    from outside read ``fill``. ``mode="amplitude"``: out = s·x. Float input
    only. Example: ``RandomScale1d((0.9, 1.1))(x, Generator(0))``.
    """

    needs_float = True

    def __init__(self, scale_range=(0.9, 1.1), mode="time", fill=0.0):
        self.scale_range = _range("RandomScale1d", "scale_range", scale_range, low=0, low_open=True)
        if mode not in ("time", "amplitude"):
            raise ValueError(f"RandomScale1d: 'mode' must be 'time' or 'amplitude'; got {mode!r}")
        self.mode = mode
        self.fill = float(_number("RandomScale1d", "fill", fill))

    def apply(self, x, gen):
        N, L = x.shape[0], x.shape[-1]
        s = gen.uniform(self.scale_range[0], self.scale_range[1], size=N)
        x3 = x.reshape(N, -1, L)
        if self.mode == "amplitude":
            return (x3 * s.astype(x.dtype)[:, None, None]).reshape(x.shape)
        o = (L - 1) / 2.0
        src = (xp.arange(L)[None, :] - o) / s[:, None] + o  # (N, L)
        t0 = xp.floor(src)
        frac = src - t0
        t0 = t0.astype(xp.int64)
        out = xp.zeros(x3.shape, dtype=x.dtype)
        for dt, w in ((0, 1 - frac), (1, frac)):
            t = t0 + dt
            inside = (t >= 0) & (t < L)
            vals = xp.take_along_axis(x3, xp.clip(t, 0, L - 1)[:, None, :], axis=2)
            weight = xp.where(inside, w, 0.0)
            if self.fill != 0:
                vals = xp.where(inside[:, None, :], vals, xp.asarray(self.fill, dtype=x.dtype))
                weight = w
            out += vals * weight.astype(x.dtype)[:, None, :]
        return out.reshape(x.shape)
