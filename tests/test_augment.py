"""trainwise.data.augment: shapes and dtypes kept, seeded, and the exact identities each transform has."""
import numpy as np
import pytest
import scipy.ndimage
import torch

from trainwise import Generator, Tensor
from trainwise.data import (
    Compose, GaussianNoise, RandomCrop, RandomHorizontalFlip, RandomRotation, RandomScale1d, RandomShift1d,
    RandomTranslation, RandomZoom,
)

RNG = np.random.default_rng(0)
IMG32 = RNG.random((6, 2, 9, 9)).astype(np.float32)
IMG64 = RNG.random((4, 3, 8, 10))
SIG = RNG.normal(size=(5, 2, 16)).astype(np.float32)
SIG2 = RNG.normal(size=(5, 16)).astype(np.float32)

IMAGE_TRANSFORMS = [
    RandomCrop(7, padding=1), RandomCrop((9, 9), padding=2, padding_mode="reflect"), RandomRotation(20),
    RandomHorizontalFlip(0.5), RandomZoom((0.8, 1.2)), RandomTranslation(2), RandomTranslation(1.5),
    GaussianNoise(0.1), Compose([RandomHorizontalFlip(0.5), RandomRotation(10), GaussianNoise(0.05)]),
]
SIGNAL_TRANSFORMS = [RandomShift1d(3), RandomShift1d(3, mode="zeros"), RandomScale1d((0.8, 1.2)),
                     RandomScale1d((0.5, 2.0), mode="amplitude"), RandomHorizontalFlip(1.0), GaussianNoise(0.2)]


@pytest.mark.parametrize("t", IMAGE_TRANSFORMS, ids=repr)
@pytest.mark.parametrize("x", [IMG32, IMG64], ids=["f32", "f64"])
def test_image_transforms_keep_dtype_are_seeded_and_leave_input(t, x):
    before = x.copy()
    a = t(x, Generator(3))
    b = t(x, Generator(3))
    c = t(x, Generator(4))
    expected_shape = x.shape if not isinstance(t, RandomCrop) else x.shape[:2] + t.size
    assert a.shape == expected_shape and a.dtype == x.dtype
    np.testing.assert_array_equal(a, b)
    if not isinstance(t, RandomHorizontalFlip):  # a flip of p=0.5 may by chance flip the same samples
        assert not np.array_equal(a, c)
    np.testing.assert_array_equal(x, before)
    assert np.all(np.isfinite(a))


@pytest.mark.parametrize("t", SIGNAL_TRANSFORMS, ids=repr)
@pytest.mark.parametrize("x", [SIG, SIG2], ids=["NCL", "NL"])
def test_signal_transforms_keep_dtype_and_are_seeded(t, x):
    a = t(x, Generator(1))
    assert a.shape == x.shape and a.dtype == x.dtype
    np.testing.assert_array_equal(a, t(x, Generator(1)))
    assert not np.array_equal(a, x)


def test_transform_on_tensor_returns_tensor():
    out = GaussianNoise(0.1)(Tensor(IMG32), Generator(0))
    assert isinstance(out, Tensor) and out.dtype == np.float32


def test_flip_twice_is_identity_and_p_bounds():
    f = RandomHorizontalFlip(0.5)
    np.testing.assert_array_equal(f(f(IMG32, Generator(2)), Generator(2)), IMG32)
    always = RandomHorizontalFlip(1.0)
    np.testing.assert_array_equal(always(IMG32, Generator(0)), IMG32[..., ::-1])
    np.testing.assert_array_equal(always(always(IMG32, Generator(0)), Generator(9)), IMG32)
    np.testing.assert_array_equal(RandomHorizontalFlip(0.0)(IMG32, Generator(0)), IMG32)
    flipped = RandomHorizontalFlip(0.5)(IMG32, Generator(5))
    which = [np.array_equal(flipped[i], IMG32[i, ..., ::-1]) for i in range(len(IMG32))]
    kept = [np.array_equal(flipped[i], IMG32[i]) for i in range(len(IMG32))]
    assert all(w or k for w, k in zip(which, kept)) and any(which) and any(kept)
    ints = np.arange(12, dtype=np.uint8).reshape(1, 1, 3, 4)
    assert always(ints).dtype == np.uint8


def test_crop_identities_and_window():
    np.testing.assert_array_equal(RandomCrop(9, padding=0)(IMG32, Generator(0)), IMG32)
    np.testing.assert_array_equal(RandomCrop((8, 10))(IMG64, Generator(0)), IMG64)
    out = RandomCrop(9, padding=2)(IMG32, Generator(1))
    padded = np.pad(IMG32, ((0, 0), (0, 0), (2, 2), (2, 2)))
    for n in range(len(IMG32)):  # each sample is some 9x9 window of its padded image
        assert any(np.array_equal(out[n], padded[n, :, a:a + 9, b:b + 9]) for a in range(5) for b in range(5))
    small = RandomCrop(5)(IMG32, Generator(1))
    assert small.shape == (6, 2, 5, 5)
    with pytest.raises(ValueError, match=r"'size' \(12, 12\) is larger than the padded image \(11, 11\)"):
        RandomCrop(12, padding=1)(IMG32)


def test_rotation_matches_rot90_and_scipy():
    x = IMG64[:, :, :, :8].copy()  # square
    np.testing.assert_allclose(RandomRotation((90, 90))(x, Generator(0)), np.rot90(x, 1, axes=(2, 3)), atol=1e-12)
    np.testing.assert_allclose(RandomRotation((-90, -90))(x, Generator(0)), np.rot90(x, -1, axes=(2, 3)), atol=1e-12)
    np.testing.assert_array_equal(RandomRotation(0)(x, Generator(0)), x)
    # an arbitrary angle: the same bilinear resampling as scipy.ndimage.rotate (order 1, zero fill)
    out = RandomRotation((30, 30))(x, Generator(0))
    ref = scipy.ndimage.rotate(x, 30, axes=(3, 2), reshape=False, order=1, mode="grid-constant", cval=0.0)
    np.testing.assert_allclose(out, ref, atol=1e-10)


def test_zoom_and_translation():
    x = IMG64
    np.testing.assert_array_equal(RandomZoom((1.0, 1.0))(x, Generator(0)), x)
    out = RandomZoom((2.0, 2.0))(x, Generator(0))
    ref = np.stack([scipy.ndimage.affine_transform(
        x[n, c], np.diag([0.5, 0.5]), offset=np.array([3.5, 4.5]) * 0.5, order=1, mode="grid-constant")
        for n in range(len(x)) for c in range(3)]).reshape(x.shape)
    np.testing.assert_allclose(out, ref, atol=1e-10)
    shifted = RandomTranslation((0, 0))(x, Generator(0))
    np.testing.assert_array_equal(shifted, x)
    g = Generator(3)
    state = g.get_state()
    out = RandomTranslation(2)(x, g)
    g.set_state(state)
    dy, dx = g.integers(-2, 3, size=len(x)), g.integers(-2, 3, size=len(x))
    for n in range(len(x)):
        ref = np.zeros_like(x[n])
        h, w = x.shape[2:]
        ref[:, max(dy[n], 0):h + min(dy[n], 0), max(dx[n], 0):w + min(dx[n], 0)] = \
            x[n, :, max(-dy[n], 0):h + min(-dy[n], 0), max(-dx[n], 0):w + min(-dx[n], 0)]
        np.testing.assert_array_equal(out[n], ref)


def test_gaussian_noise_has_requested_std():
    x = np.zeros((64, 1, 32, 32), np.float32)
    for std in (0.05, 0.5):
        out = GaussianNoise(std)(x, Generator(0))
        assert out.dtype == np.float32
        assert abs(float(out.std()) - std) < 0.02 * std
        assert abs(float(out.mean())) < 0.02 * std
    np.testing.assert_array_equal(GaussianNoise(0.0)(IMG32, Generator(0)), IMG32)


def test_shift1d_circular_and_zeros():
    g = Generator(0)
    state = g.get_state()
    out = RandomShift1d(4)(SIG, g)
    g.set_state(state)
    k = g.integers(-4, 5, size=len(SIG))
    for n in range(len(SIG)):
        np.testing.assert_array_equal(out[n], np.roll(SIG[n], k[n], axis=-1))
    g.set_state(state)
    out = RandomShift1d(4, mode="zeros")(SIG, g)
    for n in range(len(SIG)):
        ref = np.roll(SIG[n], k[n], axis=-1)
        if k[n] > 0:
            ref[:, :k[n]] = 0
        elif k[n] < 0:
            ref[:, k[n]:] = 0
        np.testing.assert_array_equal(out[n], ref)
    np.testing.assert_array_equal(RandomShift1d(0)(SIG, Generator(0)), SIG)


def test_scale1d_time_and_amplitude():
    np.testing.assert_array_equal(RandomScale1d((1.0, 1.0))(SIG, Generator(0)), SIG)
    # time scaling by 2 about the centre equals linear interpolation (np.interp) of the central half
    out = RandomScale1d((2.0, 2.0))(SIG.astype(np.float64), Generator(0))
    L = SIG.shape[-1]
    src = (np.arange(L) - (L - 1) / 2) / 2 + (L - 1) / 2
    ref = np.stack([[np.interp(src, np.arange(L), s) for s in sample] for sample in SIG.astype(np.float64)])
    np.testing.assert_allclose(out, ref, atol=1e-12)
    g = Generator(1)
    state = g.get_state()
    amp = RandomScale1d((0.5, 2.0), mode="amplitude")(SIG, g)
    g.set_state(state)
    s = g.uniform(0.5, 2.0, size=len(SIG)).astype(np.float32)
    np.testing.assert_allclose(amp, SIG * s[:, None, None], rtol=1e-6)


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match=r"RandomHorizontalFlip: 'p' must be in \[0, 1\]; got 1.5"):
        RandomHorizontalFlip(1.5)
    with pytest.raises(ValueError, match=r"GaussianNoise: 'std' must be in \[0, inf\]; got -1"):
        GaussianNoise(-1)
    with pytest.raises(ValueError, match=r"RandomZoom: 'scale_range' must be in \(0, inf\]; got 0"):
        RandomZoom((0, 1))
    with pytest.raises(ValueError, match="RandomShift1d: 'max_shift' must be a non-negative int"):
        RandomShift1d(-2)
    with pytest.raises(ValueError, match=r"RandomRotation: 'x' must be an image batch of shape \(N, C, H, W\); "
                                         r"got shape \(5, 2, 16\)"):
        RandomRotation(10)(SIG)
    with pytest.raises(ValueError, match=r"RandomShift1d: 'x' must be a signal batch.*got shape \(6, 2, 9, 9\)"):
        RandomShift1d(1)(IMG32)
    with pytest.raises(TypeError, match="RandomRotation: 'x' must be a floating array.*uint8"):
        RandomRotation(10)(np.zeros((1, 1, 4, 4), np.uint8))
    with pytest.raises(TypeError, match=r"Compose: 'transforms\[1\]' must be callable"):
        Compose([GaussianNoise(0.1), 3])


def test_crop_and_flip_match_torch_semantics():
    # torchvision is not a dependency: compare with torch's own flip and pad on the same windows
    x = torch.from_numpy(IMG64)
    np.testing.assert_array_equal(RandomHorizontalFlip(1.0)(IMG64, Generator(0)), torch.flip(x, dims=[-1]).numpy())
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect").numpy()
    g = Generator(5)
    state = g.get_state()
    out = RandomCrop((8, 10), padding=2, padding_mode="reflect")(IMG64, g)
    g.set_state(state)
    a, b = g.integers(0, 5, size=len(x)), g.integers(0, 5, size=len(x))
    for n in range(len(x)):
        np.testing.assert_array_equal(out[n], padded[n, :, a[n]:a[n] + 8, b[n]:b[n] + 10])


def test_compose_applies_in_order_with_one_generator():
    both = Compose([RandomCrop(7, padding=1), GaussianNoise(0.1)])(IMG32, Generator(8))
    g = Generator(8)
    ref = GaussianNoise(0.1)(RandomCrop(7, padding=1)(IMG32, g), g)
    assert both.shape == (6, 2, 7, 7)
    np.testing.assert_array_equal(both, ref)
    np.testing.assert_array_equal(Compose([])(IMG32, Generator(0)), IMG32)
