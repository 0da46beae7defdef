"""keras.activations against real Keras 3, plus get/serialize/deserialize."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.keras import activations
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle
keras = import_keras()

rng = np.random.default_rng(2)
X = rng.uniform(-4, 4, size=(3, 8)).astype("float32")
# Keep samples away from the kinks at 0, +-1, +-0.5, +-3 and the relu thresholds.
X = np.where(np.abs(X - np.round(X * 2) / 2) < 0.05, X + 0.1, X).astype("float32")

CASES = [
    ("relu", {}), ("relu", {"negative_slope": 0.1}), ("relu", {"max_value": 2.0}),
    ("relu", {"max_value": 6}), ("relu", {"threshold": 1.2}),
    ("relu", {"negative_slope": 0.3, "max_value": 3.0, "threshold": 0.7}),
    ("relu", {"negative_slope": 0.2, "max_value": 2.5}),
    ("leaky_relu", {}), ("leaky_relu", {"negative_slope": 0.01}), ("relu6", {}),
    ("softmax", {}), ("softmax", {"axis": 0}), ("elu", {}), ("elu", {"alpha": 0.5}),
    ("selu", {}), ("softplus", {}), ("softsign", {}), ("soft_shrink", {}),
    ("soft_shrink", {"threshold": 1.3}), ("sparse_plus", {}), ("silu", {}), ("swish", {}),
    ("squareplus", {}), ("squareplus", {"b": 2}), ("gelu", {}), ("gelu", {"approximate": True}),
    ("celu", {}), ("celu", {"alpha": 2.0}), ("glu", {}), ("glu", {"axis": 0}), ("tanh", {}),
    ("tanh_shrink", {}), ("threshold", {"threshold": 0.3, "default_value": -2.0}),
    ("sigmoid", {}), ("sparse_sigmoid", {}), ("exponential", {}), ("hard_sigmoid", {}),
    ("hard_silu", {}), ("hard_swish", {}), ("hard_tanh", {}), ("hard_shrink", {}),
    ("hard_shrink", {"threshold": 1.1}), ("linear", {}), ("mish", {}), ("log_softmax", {}),
    ("log_softmax", {"axis": 0}), ("log_sigmoid", {}), ("sparsemax", {}),
    ("sparsemax", {"axis": 0}),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_activation_matches_keras(name, kwargs):
    x = X[:2] if name == "glu" and kwargs.get("axis") == 0 else X
    ours = getattr(activations, name)(tf.constant(x), **kwargs)
    theirs = getattr(keras.activations, name)(keras.ops.convert_to_tensor(x), **kwargs)
    assert_matches(ours, theirs, rtol=2e-6, atol=2e-6, what=name)


def test_every_keras_activation_name_is_known():
    from keras.src.activations import ALL_OBJECTS_DICT

    assert set(ALL_OBJECTS_DICT) <= set(activations.ALL_OBJECTS_DICT)
    for name in ALL_OBJECTS_DICT:
        assert activations.get(name) is getattr(activations, name)
        assert activations.serialize(activations.get(name)) == keras.activations.serialize(
            keras.activations.get(name))


def test_get_and_deserialize_forms():
    assert activations.get(None) is activations.linear
    assert activations.get("swish") is activations.silu
    config = {"module": "keras.activations", "class_name": "function", "config": "relu",
              "registered_name": "relu"}
    assert activations.get(config) is activations.relu
    assert activations.deserialize(keras.saving.serialize_keras_object(
        keras.activations.gelu)) is activations.gelu

    def custom(x):
        return x * 2

    assert activations.get(custom) is custom
    with pytest.raises(ValueError, match="activation"):
        activations.get("no_such_activation")


def test_glu_odd_axis_raises():
    with pytest.raises(ValueError, match="divisible by 2"):
        activations.glu(tf.ones((2, 3)))


def test_activation_gradients():
    x = tf.Variable(X)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(activations.gelu(x) + activations.mish(x) + activations.selu(x))
    grad = tape.gradient(y, x)
    assert grad.shape == x.shape and np.all(np.isfinite(grad.numpy()))
