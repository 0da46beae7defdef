"""numpy_reduce_native's spatial mean (reduce_mean over an NHWC image's height and width) and
its gradient: bit for bit against NumPy's mean (the path they stand in for), against float64
oracles, and the gradient of reduce_mean by central finite differences."""

import warnings

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_llvm
from tensorflux.backends import numpy_reduce_native as rn
from tests.tolerances import assert_same_bits

NATIVE = numpy_llvm.available()
native_only = pytest.mark.skipif(not NATIVE, reason="native kernels unavailable here")

# (n, h, w, c): EfficientNetB0's squeezes and head, channel counts that leave vectors and
# scalars over (below a vector, odd, one past a block), pixel counts that are not multiples
# of 8 or 16 (NumPy's pairwise blocks) and above 128 (its pairwise block size).
SHAPES = [(8, 112, 112, 32), (3, 56, 56, 96), (2, 28, 28, 144), (2, 14, 14, 672),
          (4, 7, 7, 1152), (8, 7, 7, 1280), (2, 3, 5, 3), (3, 9, 13, 17), (2, 11, 3, 33),
          (1, 1, 200, 7), (2, 150, 1, 2), (1, 17, 19, 130), (5, 2, 2, 255), (1, 1, 1, 9)]


def _images(rng, shape, dtype=np.float32):
    """Values of mixed scale and sign (so that the order of the additions shows in the last
    bits), an offset per channel."""
    x = rng.standard_normal(shape) * rng.uniform(0.01, 100.0, shape[-1]) + rng.uniform(
        -5.0, 5.0, shape[-1])
    return x.astype(dtype)


def _native_mean(x, keepdims, pieces=1):
    n, c = x.shape[0], x.shape[3]
    out = np.empty((n, 1, 1, c) if keepdims else (n, c), x.dtype)
    run = rn.spatial_mean_images(x, out)
    assert run is not None
    cuts = np.linspace(0, n, pieces + 1).astype(int)
    for start, stop in zip(cuts[:-1], cuts[1:]):
        run(int(start), int(stop))
    return out


@native_only
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_mean_same_bits_as_numpy(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    x = _images(rng, shape, dtype)
    for keepdims in (False, True):
        expected = np.mean(x, axis=(1, 2), keepdims=keepdims)
        assert_same_bits(_native_mean(x, keepdims), expected, f"mean {shape}")
        # The backend's own NumPy path (add.reduce, then a division by the count).
        assert_same_bits(np.true_divide(np.add.reduce(x, (1, 2), dtype, None, keepdims),
                                        dtype(shape[1] * shape[2])), expected)


@native_only
@pytest.mark.parametrize("shape", [(8, 112, 112, 32), (5, 9, 13, 17), (3, 7, 7, 40)])
def test_mean_in_pieces_and_threads(shape):
    x = _images(np.random.default_rng(1), shape)
    expected = np.mean(x, axis=(1, 2))
    for pieces in (2, 3, shape[0]):
        assert_same_bits(_native_mean(x, False, pieces), expected, f"{pieces} pieces")
    out = np.empty(expected.shape, x.dtype)
    run = rn.spatial_mean_images(x, out)
    n = shape[0]
    nb._in_parallel(lambda images: run(*images.indices(n)[:2]),
                    [slice(k, k + 1) for k in range(n)], 1 << 30)
    assert_same_bits(out, expected, "threads")


@native_only
def test_mean_close_to_float64():
    x = _images(np.random.default_rng(2), (4, 56, 56, 24))
    exact = x.astype(np.float64).mean(axis=(1, 2))
    scale = np.abs(x.astype(np.float64)).mean(axis=(1, 2))
    # A sequential float32 sum of 3136 terms: within 3136 roundings of the running sum.
    bound = 3136 * np.finfo(np.float32).eps * scale
    assert np.all(np.abs(_native_mean(x, False) - exact) <= bound)


@native_only
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_signed_zeros_one_pixel_nan_inf():
    x = np.full((2, 1, 1, 20), -0.0, np.float32)
    # +0.0, as NumPy's sum from its identity gives (not the -0.0 of x itself).
    assert_same_bits(_native_mean(x, True), np.mean(x, axis=(1, 2), keepdims=True))
    assert not np.signbit(_native_mean(x, False)).any()
    rng = np.random.default_rng(3)
    x = _images(rng, (3, 6, 7, 37))
    flat = x.reshape(-1)
    flat[rng.choice(flat.size, 20, replace=False)] = np.nan
    flat[rng.choice(flat.size, 30, replace=False)] = np.inf
    flat[rng.choice(flat.size, 30, replace=False)] = -np.inf
    flat[rng.choice(flat.size, 5, replace=False)] = np.finfo(np.float32).max
    assert_same_bits(_native_mean(x, False), np.mean(x, axis=(1, 2)), nan_bits=False)


def test_declines_what_it_does_not_cover():
    x = np.ones((2, 4, 4, 8), np.float32)
    out = np.empty((2, 8), np.float32)
    assert rn.spatial_mean_images(x[:, ::2], np.empty((2, 8), np.float32)) is None
    assert rn.spatial_mean_images(x[..., :1].copy(), np.empty((2, 1), np.float32)) is None
    assert rn.spatial_mean_images(np.ones((2, 0, 4, 8), np.float32), out) is None
    assert rn.spatial_mean_images(x.astype(np.float16), out.astype(np.float16)) is None
    assert rn.spatial_mean_images(x, np.empty((2, 9), np.float32)) is None
    assert rn.spatial_mean_images(x, np.empty((2, 8), np.float64)) is None


@pytest.mark.parametrize("keepdims", [False, True])
def test_backend_reduce_mean_same_bits_as_numpy(keepdims):
    """The backend's reduce_mean (native where hooked and available, else NumPy's) on
    contiguous, non-contiguous, empty, one-channel and integer inputs."""
    rng = np.random.default_rng(4)
    x = _images(rng, (3, 10, 9, 19))
    cases = [x, x[:, ::2], x[..., ::2], np.asfortranarray(x), x[..., :1].copy(),
             np.zeros((2, 0, 3, 4), np.float32), np.zeros((0, 3, 3, 4), np.float32),
             x.astype(np.float64), x.astype(np.float16)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (the mean of an empty slice)
        for case in cases:
            expected = np.true_divide(
                np.add.reduce(case, (1, 2), case.dtype, None, keepdims),
                case.dtype.type(case.shape[1] * case.shape[2]))
            assert_same_bits(nb.reduce_mean(case, (1, 2), keepdims), expected,
                             f"{case.dtype}{case.shape}", nan_bits=False)
            if case.dtype == np.float32 and case.size:
                # (a tensor holds a C-contiguous copy: NumPy's order over that)
                copy = np.ascontiguousarray(case)
                assert_same_bits(np.asarray(tf.reduce_mean(tf.constant(case), axis=[1, 2],
                                                           keepdims=keepdims)),
                                 np.mean(copy, axis=(1, 2), keepdims=keepdims))
    integers = rng.integers(-9, 9, (2, 3, 3, 5)).astype(np.int32)
    assert nb.reduce_mean(integers, (1, 2), keepdims).dtype == np.int32


def test_global_average_pooling_same_bits_eager_and_compiled():
    x = _images(np.random.default_rng(5), (4, 7, 7, 40))
    layer = keras.layers.GlobalAveragePooling2D()
    expected = np.mean(x, axis=(1, 2))
    assert_same_bits(np.asarray(layer(tf.constant(x))), expected, "eager")
    compiled = tf.function(lambda t: layer(t))
    assert_same_bits(np.asarray(compiled(tf.constant(x))), expected, "compiled")
    keep = keras.layers.GlobalAveragePooling2D(keepdims=True)
    assert_same_bits(np.asarray(tf.function(lambda t: keep(t))(tf.constant(x))),
                     np.mean(x, axis=(1, 2), keepdims=True), "compiled, keepdims")


def test_reduce_mean_gradient_by_finite_differences():
    rng = np.random.default_rng(7)
    x = tf.constant(rng.standard_normal((2, 3, 4, 5)))  # float64
    weights = rng.standard_normal((2, 5))

    def loss(value):
        return np.sum(np.mean(value, axis=(1, 2)) * weights)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(tf.reduce_mean(x, axis=[1, 2]) * tf.constant(weights))
    grad = np.asarray(tape.gradient(y, x))
    base = np.asarray(x)
    numeric = np.empty_like(base)
    step = 1e-6
    for index in np.ndindex(base.shape):
        up, down = base.copy(), base.copy()
        up[index] += step
        down[index] -= step
        numeric[index] = (loss(up) - loss(down)) / (2 * step)
    np.testing.assert_allclose(grad, numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("keepdims", [False, True])
def test_reduce_mean_gradient_same_bits_as_broadcast_then_divide(keepdims):
    """The cotangent of a spatial mean: g / (h * w) at every pixel, the bits of NumPy's
    broadcast of g divided by the count (eagerly and in a traced function)."""
    rng = np.random.default_rng(8)
    x = tf.constant(_images(rng, (3, 9, 7, 21)))
    g = rng.standard_normal((3, 1, 1, 21) if keepdims else (3, 21)).astype(np.float32)
    expected = np.broadcast_to(g.reshape(3, 1, 1, 21), (3, 9, 7, 21)) / np.float32(63)

    def gradient(value):
        with tf.GradientTape() as tape:
            tape.watch(value)
            y = tf.reduce_mean(value, axis=[1, 2], keepdims=keepdims)
        return tape.gradient(y, value, output_gradients=tf.constant(g))
    assert_same_bits(np.asarray(gradient(x)), expected, "eager")
    assert_same_bits(np.asarray(tf.function(gradient)(x)), expected, "traced")
