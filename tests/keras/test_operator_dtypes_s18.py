"""Python operators on KerasTensors (x + y, x * 2, -x) are keras.ops calls, as in Keras 3:
they never autocast their inputs to the global dtype policy. Before session 18 they were op
layers of the default float32 policy, so a float64 model's `h + r` added in float32 and cast
back (a ResNet block written with `+` lost precision silently)."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras


def _float64_residual_model():
    inputs = keras.Input((6,), dtype="float64")
    h = keras.layers.Dense(5, dtype="float64")(inputs)
    r = keras.layers.Dense(5, dtype="float64")(inputs)
    total = h + r
    scaled = total * 3.0 - r
    model = keras.Model(inputs, [total, scaled, -h])
    return model, (h, r, total, scaled)


def test_operators_keep_float64():
    model, (h, r, total, scaled) = _float64_residual_model()
    assert total.dtype == scaled.dtype == "float64"
    assert total.dtype == keras.ops.add(h, r).dtype
    x = np.random.default_rng(0).standard_normal((4, 6)) * 1e3
    got = [np.asarray(t) for t in model(tf.constant(x))]
    kernel_h, bias_h, kernel_r, bias_r = [np.asarray(w) for w in model.get_weights()]
    hx, rx = x @ kernel_h + bias_h, x @ kernel_r + bias_r
    # float64 throughout: a float32 round trip would be off by ~1e-4 at these magnitudes
    for value, expected in zip(got, [hx + rx, (hx + rx) * 3.0 - rx, -hx]):
        assert value.dtype == np.float64
        np.testing.assert_allclose(value, expected, rtol=1e-13, atol=1e-10)


def test_operators_do_not_follow_a_mixed_policy():
    """Under mixed_float16 a float32 tensor plus a float16 layer output is float32 (Keras's
    result_type), not both cast to the policy's float16."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs = keras.Input((4,), dtype="float32")
        h = keras.layers.Dense(4)(inputs)
        assert h.dtype == "float16"
        total = inputs + h
        assert total.dtype == "float32" == keras.ops.add(inputs, h).dtype
        model = keras.Model(inputs, total)
        model.set_weights([np.zeros(w.shape, np.float32) for w in model.get_weights()])
        # (1 + 2**-20 and its neighbours are not float16 numbers: a float32 input cast to the
        # policy's float16 would come out as 1.0)
        x = (1 + np.arange(12, dtype=np.float32).reshape(3, 4) * 2.0 ** -20).astype(np.float32)
        out = np.asarray(model(tf.constant(x)))
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, x)
    finally:
        keras.mixed_precision.set_global_policy(previous)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_saved_operator_model_loads_with_its_dtype(tmp_path, dtype):
    inputs = keras.Input((3,), dtype=dtype)
    h = keras.layers.Dense(3, dtype=dtype)(inputs)
    model = keras.Model(inputs, h + inputs)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    x = np.random.default_rng(2).standard_normal((2, 3)).astype(dtype)
    a, b = np.asarray(model(tf.constant(x))), np.asarray(loaded(tf.constant(x)))
    assert a.dtype == b.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(a, b)
