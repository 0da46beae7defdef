"""The CuPy backend end to end: gradients, Keras training and saving on a GPU against the CPU.

Each test runs the same computation on the NumPy backend and inside `tf.device("GPU:0")` and
compares; the CPU result is the reference (itself checked against NumPy float64 and real Keras
elsewhere). Skipped where no GPU with CuPy is present.
"""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.backends import available_backends

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif("cupy" not in available_backends(),
                                 reason="no GPU with CuPy here")]

# float32 on two devices: different summation orders (cuBLAS, CUB reductions), no TF32.
RTOL, ATOL = 1e-4, 1e-5


def _on(device, fn):
    with tf.device(device):
        return fn()


def _both(fn):
    return _on("CPU:0", fn), _on("GPU:0", fn)


def _values(tree):
    return [np.asarray(t.numpy() if hasattr(t, "numpy") else t) for t in tree]


def test_tensors_made_inside_the_gpu_scope_live_on_the_gpu():
    with tf.device("GPU:0"):
        x = tf.constant([[1.0, 2.0], [3.0, 4.0]])
        y = tf.matmul(x, x) + 1.0
    assert y.device.endswith("GPU:0")
    np.testing.assert_array_equal(y.numpy(), [[8.0, 11.0], [16.0, 23.0]])


def test_gradient_tape_on_gpu_matches_cpu():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((16, 8)).astype(np.float32)
    w = rng.standard_normal((8, 5)).astype(np.float32)
    labels = rng.integers(0, 5, 16)
    images = rng.standard_normal((2, 9, 9, 3)).astype(np.float32)
    filters = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)

    def run():
        x, v = tf.constant(a), tf.Variable(w)
        im, f = tf.constant(images), tf.Variable(filters)
        with tf.GradientTape() as tape:
            logits = tf.matmul(tf.nn.relu(x), v)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.constant(labels), logits=logits))
            conv = tf.nn.conv2d(im, f, strides=1, padding="SAME")
            loss = loss + tf.reduce_sum(tf.nn.max_pool2d(conv, 2, 2, "VALID") ** 2) * 1e-3
        return [loss] + tape.gradient(loss, [v, f])

    cpu, gpu = _both(run)
    for c, g in zip(_values(cpu), _values(gpu)):
        np.testing.assert_allclose(g, c, rtol=RTOL, atol=ATOL)


def _fit_history(build, x, y, loss, epochs=3, batch_size=16):
    keras.utils.set_random_seed(0)
    model = build()
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
    return history.history, model


def _assert_same_history(cpu, gpu):
    assert cpu.keys() == gpu.keys()
    for key in cpu:
        np.testing.assert_allclose(gpu[key], cpu[key], rtol=1e-3, atol=1e-5, err_msg=key)


def test_mlp_fit_on_gpu_matches_cpu_and_keeps_weights_on_gpu():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((96, 8)).astype(np.float32)
    y = (x[:, :1] + x[:, 1:2] > 0).astype(np.float32)

    def build():
        return keras.Sequential([keras.Input((8,)), keras.layers.Dense(10, activation="relu"),
                                 keras.layers.Dense(10, activation="relu"),
                                 keras.layers.Dense(1, activation="sigmoid")])

    (cpu, _), (gpu, model) = _both(lambda: _fit_history(build, x, y, "binary_crossentropy"))
    _assert_same_history(cpu, gpu)
    assert all(w.device.endswith("GPU:0") for w in model.weights)
    with tf.device("GPU:0"):
        predicted = model.predict(x[:4], verbose=0)
    assert predicted.shape == (4, 1)


def test_convnet_fit_on_gpu_matches_cpu():
    rng = np.random.default_rng(2)
    x = rng.random((64, 12, 12, 1), dtype=np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 64)]

    def build():
        layers = keras.layers
        return keras.Sequential([
            keras.Input((12, 12, 1)), layers.Conv2D(8, 3, activation="relu"),
            layers.MaxPooling2D(2), layers.Conv2D(8, 3, padding="same", activation="relu"),
            layers.BatchNormalization(), layers.GlobalAveragePooling2D(),
            layers.Dense(3, activation="softmax")])

    (cpu, _), (gpu, _) = _both(lambda: _fit_history(build, x, y, "categorical_crossentropy"))
    _assert_same_history(cpu, gpu)


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_recurrent_fit_on_gpu_matches_cpu(cell):
    rng = np.random.default_rng(3)
    x = rng.integers(1, 50, (48, 12))
    x[:, -3:] = 0  # padding, masked
    y = (x[:, 0] > 25).astype(np.float32)[:, None]

    def build():
        layers = keras.layers
        return keras.Sequential([
            keras.Input((12,), dtype="int64"), layers.Embedding(50, 8, mask_zero=True),
            getattr(layers, cell)(6), layers.Dense(1, activation="sigmoid")])

    (cpu, _), (gpu, _) = _both(lambda: _fit_history(build, x, y, "binary_crossentropy"))
    _assert_same_history(cpu, gpu)


def test_a_model_trained_on_gpu_saves_and_reloads_on_cpu(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((32, 5)).astype(np.float32)
    y = rng.standard_normal((32, 2)).astype(np.float32)
    with tf.device("GPU:0"):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="tanh"),
                                  keras.layers.Dense(2)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, epochs=2, verbose=0)
        expected = model.predict(x, verbose=0)
        model.save(tmp_path / "m.keras")
    restored = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(restored.predict(x, verbose=0), expected, rtol=RTOL, atol=ATOL)


def test_fused_elementwise_chains_match_cpu_at_the_edges():
    # A traced chain of elementwise ops becomes one generated CUDA kernel on the GPU; its
    # NaN, inf and overflow behaviour must be the NumPy kernels'.
    x = np.array([-np.inf, -100.0, -1.0, -0.0, 0.0, 0.5, 100.0, np.inf, np.nan], np.float32)
    y = np.array([1.0, np.nan, 2.0, -3.0, 0.0, np.inf, -1.0, 4.0, 5.0], np.float32)

    @tf.function
    def chain(a, b):
        pos = tf.cast(a > b, a.dtype)
        return (tf.nn.relu(a) * 0.5 + tf.maximum(a, b) - tf.minimum(b, a) * pos
                + tf.sigmoid(a) + tf.where(a < b, tf.exp(-tf.abs(a)), tf.square(b)))

    cpu, gpu = _both(lambda: chain(tf.constant(x), tf.constant(y)).numpy())
    np.testing.assert_allclose(gpu, cpu, rtol=1e-6, equal_nan=True)
