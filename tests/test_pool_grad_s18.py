"""numpy_pool_native's max pool and overlapping-window gradient reading the unpadded input as
padded (no padded copy; the gradient written whole and contiguous): bit for bit against the
NumPy paths they replace (forced by switching the kernels off), on geometries with padding
above and to the left as well as below and to the right, windows in -inf and NaN, and against
float64 oracles."""

import numpy as np
import pytest

from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_llvm
from tensorflux.backends import numpy_pool_native as pn
from tests.test_pool_native_s16 import _routed64, _tied, _windows64
from tests.tolerances import assert_same_bits

NATIVE = numpy_llvm.available()


def _numpy(monkeypatch, f, *args):
    """f(*args) with the native max-pool kernels switched off (the NumPy paths)."""
    with monkeypatch.context() as patch:
        for name in ("pool_max_rows", "pool_grad_overlap", "pool_grad_2x2"):
            patch.setattr(pn, name, lambda *a, **k: None)
        return f(*args)


CASES = [  # (shape, ksize, strides, padding)
    ((3, 32, 32, 64), (3, 3), (2, 2), "SAME"),  # the separable network's pools: pads below
    ((3, 8, 8, 256), (3, 3), (2, 2), "SAME"),
    ((2, 9, 11, 16), (3, 3), (2, 2), "SAME"),  # odd sizes: a row above, a column left
    ((2, 7, 6, 16), (3, 3), (1, 1), "SAME"),  # stride 1: padding on every side
    ((2, 5, 9, 32), (3, 2), (1, 2), "SAME"),
    ((2, 10, 9, 16), (4, 4), (2, 3), "SAME"),
    ((2, 9, 10, 16), (3, 3), (2, 2), "VALID"),  # no padding; a column in no window
    ((2, 4, 4, 16), (5, 5), (1, 1), "SAME"),  # windows larger than the input
    ((2, 7, 7, 16), (2, 2), (2, 2), "SAME"),  # 2x2 (the forward kernel; disjoint windows)
]
SPECIAL = ["finite", "nan", "inf", "lowest", "nan_g", "inf_g"]


def _input(rng, shape, dtype, special):
    x = _tied(rng, shape, dtype, nan=3 if special == "nan" else 0,
              inf=3 if special == "inf" else 0)
    if special == "lowest":  # whole windows of -inf, at the borders too: ties with the padding
        x[rng.random(shape) < 0.7] = -np.inf
        x[:, :2, :2] = -np.inf
        x[:, -2:, -2:] = -np.inf
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, ksize, strides, padding", CASES)
@pytest.mark.parametrize("special", ["finite", "nan", "inf", "lowest"])
def test_max_pool_same_bits(shape, ksize, strides, padding, dtype, special, monkeypatch):
    rng = np.random.default_rng(sum(shape) + len(special))
    x = _input(rng, shape, dtype, special)
    got = nb.max_pool2d(x, ksize, strides, padding, "NHWC")
    assert_same_bits(got, _numpy(monkeypatch, nb.max_pool2d, x, ksize, strides, padding,
                                 "NHWC"))
    windows, _ = _windows64(x, ksize, strides, padding)
    expected = np.where(np.isnan(windows).any(axis=3), np.nan, windows.max(axis=3))
    np.testing.assert_array_equal(got, expected.astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, ksize, strides, padding",
                         [case for case in CASES if case[1] != (2, 2)])
@pytest.mark.parametrize("special", SPECIAL)
def test_overlap_grad_same_bits(shape, ksize, strides, padding, dtype, special, monkeypatch):
    rng = np.random.default_rng(sum(shape) + 7 * len(special))
    x = _input(rng, shape, dtype, special)
    out_shape = nb.max_pool2d(x, ksize, strides, padding, "NHWC").shape
    g = rng.standard_normal(out_shape).astype(dtype)
    g.reshape(-1)[::7] *= -0.0  # signed zeros in g too
    if special == "nan_g":
        g[-1, -1, -1, -1] = np.nan
    if special == "inf_g":
        g[0, 0, 0, -1], g[0, 0, -1, 0] = np.inf, -np.inf
    args = (x, g, ksize, strides, padding, "NHWC")
    got = nb.max_pool2d_grad(*args)
    assert got.dtype == dtype
    if NATIVE and ksize[0] * ksize[1] <= 16:  # (the kernel's: larger windows run NumPy's)
        assert got.flags.c_contiguous
    assert_same_bits(got, _numpy(monkeypatch, nb.max_pool2d_grad, *args))
    if special in ("finite", "nan", "inf"):  # (sums of a few values: float64's may differ)
        expected = _routed64(x, g.astype(np.float64), ksize, strides, padding)
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_padding_first_in_a_window_takes_its_cotangent():
    """A window whose first tap lies in the padding and whose input is all -inf routes its
    cotangent to the padding (nowhere), as the padded NumPy path does: the float64 oracle."""
    x = np.full((1, 3, 3, 16), -np.inf, np.float32)
    g = np.ones((1, 3, 3, 16), np.float32)
    got = nb.max_pool2d_grad(x, g, (3, 3), (1, 1), "SAME", "NHWC")
    expected = _routed64(x, g.astype(np.float64), (3, 3), (1, 1), "SAME")
    np.testing.assert_array_equal(got, expected)
    # (the five windows of the first row and column start in the padding: theirs are lost)
    np.testing.assert_array_equal(got[0, :, :, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])


def test_nchw_strided_and_split_over_threads_same_bits(monkeypatch):
    rng = np.random.default_rng(3)
    x = _tied(rng, (6, 32, 11, 13), np.float32, nan=2)
    g = rng.standard_normal((6, 32, 6, 7)).astype(np.float32)
    for args in ((x, (3, 3), (2, 2), "SAME", "NCHW"),
                 (x.transpose(0, 2, 3, 1)[:, ::-1], (3, 3), (2, 2), "SAME", "NHWC")):
        whole = nb.max_pool2d(*args)
        assert_same_bits(whole, _numpy(monkeypatch, nb.max_pool2d, *args))
        cotangent = g if args[-1] == "NCHW" else g.transpose(0, 2, 3, 1)
        grad_args = (args[0], cotangent) + args[1:]
        grad = nb.max_pool2d_grad(*grad_args)
        assert_same_bits(grad, _numpy(monkeypatch, nb.max_pool2d_grad, *grad_args))
        with monkeypatch.context() as patch:
            patch.setattr(nb, "_NN_POOL_SPLIT_BYTES", 0)
            patch.setattr(nb, "_PARALLEL_MIN_BYTES", 0)
            patch.setattr(nb, "_THREADS", 2)
            assert_same_bits(nb.max_pool2d(*args), whole)
            assert_same_bits(nb.max_pool2d_grad(*grad_args), grad)


@pytest.mark.skipif(not NATIVE, reason="needs llvmlite")
def test_kernels_run_unpadded_on_the_network_shapes(monkeypatch):
    """Both kernels apply to the network's pools and take the input itself (a silent
    fallback, or a padded copy, would pass every test above)."""
    seen = []

    def spy(name):
        real = getattr(pn, name)

        def call(x, *args, **kwargs):
            run = real(x, *args, **kwargs)
            seen.append((name, run is not None, x.shape))
            return run
        monkeypatch.setattr(pn, name, call)
    spy("pool_max_rows")
    spy("pool_grad_overlap")
    rng = np.random.default_rng(0)
    shapes = ((32, 32, 32, 64), (32, 16, 16, 128), (32, 8, 8, 256))
    for shape in shapes:
        x = rng.standard_normal(shape).astype(np.float32)
        n, h, w, c = shape
        g = rng.standard_normal((n, h // 2, w // 2, c)).astype(np.float32)
        nb.max_pool2d(x, (3, 3), (2, 2), "SAME", "NHWC")
        nb.max_pool2d_grad(x, g, (3, 3), (2, 2), "SAME", "NHWC")
    assert seen == [(name, True, shape) for shape in shapes
                    for name in ("pool_max_rows", "pool_grad_overlap")]
