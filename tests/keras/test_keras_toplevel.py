"""keras.version, keras.device, keras.remat, keras.name_scope and keras.utils.Config against
real Keras 3 (torch backend) and analytic gradients."""

import json

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras as tk
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle


def test_version_is_the_keras_api_followed():
    assert tk.version() == tk.__version__ == "3.15.1"


def test_device_scopes_the_ops_within():
    with tk.device("cpu:0"):
        x = tk.ops.ones((2,))
    assert x.device.endswith("CPU:0")


def test_remat_gives_the_function_and_its_gradient():
    def f(x):
        return tf.sin(x) * x

    x = tf.constant([0.5, 1.0, 2.0], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(tk.remat(f)(x))
    values = x.numpy()
    np.testing.assert_allclose(y.numpy(), np.sum(np.sin(values) * values), rtol=1e-12)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(),
                               np.cos(values) * values + np.sin(values), rtol=1e-12)


def test_name_scope_paths_match_keras():
    keras = import_keras()
    paths = []
    for k in (tk, keras):
        with k.name_scope("encoder"):
            with k.name_scope("block"):
                dense = k.layers.Dense(2, name="proj")
                dense.build((None, 3))
                variable = k.Variable(1.0, name="scale")
        paths.append([w.path for w in dense.weights] + [variable.path])
    assert paths[0] == paths[1]


def _config_story(k):
    config = k.utils.Config(learning_rate=0.1, momentum=0.9)
    config.seed = 123
    config["use_ema"] = True
    story = [config.learning_rate, config["seed"], list(config), len(config),
             "seed" in config, sorted(config.keys()), config.get("missing", 5),
             json.loads(config.to_json()), config.as_dict() == dict(config.items())]
    config.update(momentum=0.5)
    story.append(config.pop("use_ema"))
    config.freeze()
    story.append(config.frozen)
    for change in (lambda: setattr(config, "seed", 1), lambda: config.update(seed=1),
                   lambda: config.__setitem__("seed", 1), lambda: config.pop("seed"),
                   lambda: config.__delitem__("seed")):
        with pytest.raises(ValueError):
            change()
    config.unfreeze()
    del config["seed"]
    story.append(config.as_dict())
    with pytest.raises(AttributeError, match="Did you mean 'momentum'"):
        _ = config.momentom
    return story


def test_config_behaves_as_keras_config():
    assert _config_story(tk) == _config_story(import_keras())


def test_standardize_dtype_accepts_and_refuses_what_keras_does():
    keras = import_keras()
    import numpy as np

    for dtype in ("float32", "bfloat16", "string", "bool",
                  "uint16", np.float32, np.int64, np.bool_, np.dtype("float16"), bool, float,
                  str):
        assert tk.backend.standardize_dtype(dtype) == keras.backend.standardize_dtype(dtype)
    assert tk.backend.standardize_dtype(tf.int8) == "int8"
    for bad in ("float33", "qint8", "int4", np.str_):
        with pytest.raises(ValueError):
            keras.backend.standardize_dtype(bad)
        with pytest.raises(ValueError, match="Invalid dtype"):
            tk.backend.standardize_dtype(bad)
    with pytest.raises(ValueError):  # the cast names the bad dtype instead of a TypeError
        tk.ops.cast(tk.ops.ones(2), "float33")


def _metric_holding_layer(k):
    class Inner(k.layers.Layer):
        def __init__(self):
            super().__init__()
            self.accuracy = k.metrics.BinaryAccuracy()
            self.dense = k.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    class Outer(k.layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = Inner()
            self.mean = k.metrics.Mean()

        def call(self, x):
            return self.inner(x)

    return Outer()


def test_layer_metrics_collect_what_layers_hold_as_keras():
    keras = import_keras()
    names = []
    for k in (tk, keras):
        layer = _metric_holding_layer(k)
        names.append(([m.name for m in layer.metrics], len(layer.metrics_variables),
                      k.layers.Dense(2).metrics))
    assert names[0] == names[1] == (["mean", "binary_accuracy"], 4, [])
