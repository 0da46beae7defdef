"""numpy_pool_native's overlapping max-pool gradient (the 3x3, stride-2, SAME pools of the
separable benchmark's network, keras.io's "Image classification from scratch"): bit for bit
against the NumPy path it replaces (forced by switching the kernel off), against a float64
routing oracle, and a training step against real Keras."""

import numpy as np
import pytest

from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_llvm
from tensorflux.backends import numpy_pool_native as pn
from tests.test_pool_native_s16 import _routed64, _tied
from tests.tolerances import assert_same_bits

NATIVE = numpy_llvm.available()


def _numpy_grad(monkeypatch, *args):
    with monkeypatch.context() as patch:
        patch.setattr(pn, "pool_grad_overlap", lambda *a, **k: None)
        return nb.max_pool2d_grad(*args)


CASES = [  # (shape, ksize, strides, padding): the network's three pools, then others
    ((4, 32, 32, 64), (3, 3), (2, 2), "SAME"),
    ((4, 16, 16, 128), (3, 3), (2, 2), "SAME"),
    ((4, 8, 8, 256), (3, 3), (2, 2), "SAME"),
    ((2, 9, 10, 32), (3, 3), (2, 2), "SAME"),
    ((2, 9, 10, 16), (3, 3), (2, 2), "VALID"),
    ((2, 6, 7, 16), (3, 2), (1, 1), "VALID"),
    ((2, 7, 7, 16), (2, 3), (1, 2), "SAME"),
    ((2, 6, 6, 3), (3, 3), (2, 2), "SAME"),  # channels not whole vectors: the NumPy path
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, ksize, strides, padding", CASES)
@pytest.mark.parametrize("special", ["finite", "nan", "inf", "nan_g", "inf_g"])
def test_overlap_grad_same_bits(shape, ksize, strides, padding, dtype, special, monkeypatch):
    rng = np.random.default_rng(len(special) + sum(shape))
    x = _tied(rng, shape, dtype, nan=3 if special == "nan" else 0,
              inf=3 if special == "inf" else 0)
    out_shape = nb.max_pool2d(x, ksize, strides, padding, "NHWC").shape
    g = rng.standard_normal(out_shape).astype(dtype)
    g.reshape(-1)[::7] *= -0.0  # signed zeros in g too
    if special == "nan_g":
        g[-1, -1, -1, -1] = np.nan
    if special == "inf_g":
        g[0, 0, 0, -1], g[0, 0, 1, -1] = np.inf, -np.inf
    got = nb.max_pool2d_grad(x, g, ksize, strides, padding, "NHWC")
    assert got.dtype == dtype
    assert_same_bits(got, _numpy_grad(monkeypatch, x, g, ksize, strides, padding, "NHWC"))
    if special in ("finite", "nan", "inf"):  # (sums of up to 4 values: float64's differ)
        expected = _routed64(x, g.astype(np.float64), ksize, strides, padding)
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_nchw_and_split_over_threads_same_bits(monkeypatch):
    rng = np.random.default_rng(3)
    x = _tied(rng, (6, 32, 11, 13), np.float32, nan=2)
    g = rng.standard_normal((6, 32, 6, 7)).astype(np.float32)
    args = (x, g, (3, 3), (2, 2), "SAME", "NCHW")
    whole = nb.max_pool2d_grad(*args)
    assert_same_bits(whole, _numpy_grad(monkeypatch, *args))
    monkeypatch.setattr(nb, "_NN_POOL_SPLIT_BYTES", 0)
    monkeypatch.setattr(nb, "_PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(nb, "_THREADS", 2)
    assert_same_bits(nb.max_pool2d_grad(*args), whole)


@pytest.mark.skipif(not NATIVE, reason="needs llvmlite")
def test_kernel_runs_on_the_network_shapes(monkeypatch):
    """The kernel applies where the network runs it (a silent fallback would pass every
    test above)."""
    ran = []
    real = pn.pool_grad_overlap

    def spy(*args, **kwargs):
        run = real(*args, **kwargs)
        ran.append(run is not None)
        return run
    monkeypatch.setattr(pn, "pool_grad_overlap", spy)
    rng = np.random.default_rng(0)
    for shape in ((32, 32, 32, 64), (32, 16, 16, 128), (32, 8, 8, 256)):
        x = rng.standard_normal(shape).astype(np.float32)
        n, h, w, c = shape
        g = rng.standard_normal((n, h // 2, w // 2, c)).astype(np.float32)
        nb.max_pool2d_grad(x, g, (3, 3), (2, 2), "SAME", "NHWC")
    assert ran == [True, True, True]


def test_training_step_matches_keras():
    """A SeparableConv2D, batch norm and 3x3 stride-2 SAME max-pool network's SGD steps
    against real Keras (torch backend) from the same weights."""
    from tests.keras._oracle import assert_matches, import_keras

    real = import_keras()
    from tensorflux import keras as ours

    def build(keras):
        keras.utils.set_random_seed(0)
        layers = keras.layers
        inputs = keras.Input((12, 12, 3))
        x = layers.SeparableConv2D(16, 3, padding="same")(inputs)
        x = layers.Activation("relu")(layers.BatchNormalization()(x))
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        x = layers.GlobalAveragePooling2D()(x)
        model = keras.Model(inputs, layers.Dense(1)(x))
        model.compile(optimizer=keras.optimizers.SGD(0.1),
                      loss=keras.losses.BinaryCrossentropy(from_logits=True))
        return model

    rng = np.random.default_rng(1)
    x = rng.random((16, 12, 12, 3), dtype=np.float32)
    y = rng.integers(0, 2, (16, 1)).astype(np.float32)
    mine, theirs = build(ours), build(real)
    theirs.set_weights(mine.get_weights())
    mine.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    theirs.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    for a, b in zip(mine.get_weights(), theirs.get_weights()):
        assert_matches(a, b, rtol=1e-4, atol=1e-5, what="weights after 4 steps")
