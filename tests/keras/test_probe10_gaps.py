"""Small Keras API gaps found by the session 10 probes: keras.dtype_policies.DTypePolicyMap (a
layer's policies by path) and the module's public listing, and the Keras 2 names old scripts
still use (`optimizer.lr`, `from tensorflow.keras.layers import ThresholdedReLU`,
`tf.keras.losses.Reduction`). Real Keras 3 (torch backend) is the oracle; TF-only behaviour is
checked against NumPy."""

import copy
import json
import pickle
import sys

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle

X = np.random.default_rng(0).standard_normal((5, 4)).astype("float32")


def _numpy(value):
    return value.detach().numpy() if hasattr(value, "detach") else np.asarray(value)


def _both():
    return keras, import_keras()


def _lookups(k):
    """What a DTypePolicyMap answers, as plain values (Keras's docstring example)."""
    dp = k.dtype_policies
    policies = dp.DTypePolicyMap(default_policy=dp.DTypePolicy("float32"))
    policies["encoder/layer_0/dense"] = dp.DTypePolicy("bfloat16")
    policies["encoder/.*"] = dp.DTypePolicy("float16")
    policies["decoder"] = "mixed_bfloat16"
    found = [policies[path].name for path in
             ("encoder/layer_0/dense", "encoder/attention/query", "decoder", "decoder/x", "")]
    found += [policies.name, len(policies), list(policies), "decoder" in policies,
              "decoder/x" in policies, policies.compute_dtype, policies.variable_dtype,
              policies.quantization_mode, isinstance(policies, dp.DTypePolicy)]
    del policies["decoder"]
    found.append(policies["decoder"].name)
    policies["encoder/attention/.*"] = "bfloat16"
    with pytest.raises(ValueError, match="matches multiple dtype policy") as info:
        policies["encoder/attention/query"]
    found.append(str(info.value).split(":")[0])
    return found


def test_policy_map_looks_up_paths_as_keras_does():
    ours, theirs = _both()
    assert _lookups(ours) == _lookups(theirs)


def _errors(k):
    dp = k.dtype_policies
    made = []
    for make, kind in ((lambda: dp.DTypePolicyMap(policy_map=[("a", "float16")]), TypeError),
                       (lambda: dp.DTypePolicyMap(default_policy=dp.DTypePolicyMap()),
                        ValueError),
                       (lambda: dp.DTypePolicyMap().__setitem__("a", 3), ValueError),
                       (lambda: dp.DTypePolicyMap(policy_map={"a": "float16"}).__setitem__(
                           "a", "float32"), ValueError)):
        with pytest.raises(kind) as info:
            make()
        made.append(str(info.value).split(" ")[:3])
    with pytest.raises(KeyError):
        del dp.DTypePolicyMap()["nope"]
    return made


def test_policy_map_refuses_what_keras_refuses():
    ours, theirs = _both()
    assert _errors(ours) == _errors(theirs)


def _configs(k):
    dp = k.dtype_policies
    given = dp.DTypePolicyMap(default_policy="mixed_float16",
                              policy_map={"x": dp.DTypePolicy("bfloat16"),
                                          "q": dp.QuantizedDTypePolicy("int8", "float32")})
    # (without a default, Keras saves the entries without their float dtypes, so that they
    # follow the global policy where the map is loaded)
    deferred = dp.DTypePolicyMap()
    deferred["a/dense"] = "bfloat16"
    deferred["a/.*"] = dp.QuantizedDTypePolicy("int8", "bfloat16")
    configs = [json.loads(json.dumps(dp.serialize(p))) for p in (given, deferred)]
    out = list(configs)
    for config in configs:
        back = dp.deserialize(config)
        out.append([type(back).__name__, back.default_policy.name,
                    [(key, type(p).__name__, p.name) for key, p in back.items()]])
    return out


def test_policy_map_config_and_its_loading_are_keras_s():
    ours, theirs = _both()
    assert _configs(ours) == _configs(theirs)


def test_deserialize_and_the_public_listing_are_keras_s():
    ours, theirs = _both()
    for dp in (ours.dtype_policies, theirs.dtype_policies):
        assert dp.deserialize("mixed_float16") == "mixed_float16"
        assert dp.deserialize("float32") == "float32" and dp.deserialize(None) is None
        assert repr(dp.deserialize("DTypePolicy")) == '<DTypePolicy "float32">'
    listed = {name for name in dir(ours.dtype_policies) if not name.startswith("_")}
    keras_listed = {name for name in dir(theirs.dtype_policies) if not name.startswith("_")}
    # (all of Keras's but the quantization modes tensorflux does not implement)
    assert listed == keras_listed - {"AWQDTypePolicy", "GPTQDTypePolicy",
                                     "QuantizedFloat8DTypePolicy"}
    # (the helpers the layers share stay importable)
    assert callable(ours.dtype_policies.parse_policy_name)


def _dense_with_map(k):
    dp = k.dtype_policies
    policies = dp.DTypePolicyMap(default_policy="mixed_float16")
    policies["x"] = "bfloat16"
    layer = k.layers.Dense(2, dtype=policies, name="x")
    seen = [layer.compute_dtype, layer.variable_dtype, layer.path]
    layer.build((None, 3))
    seen += [layer.path, layer.compute_dtype, layer.variable_dtype,
             layer.kernel.dtype if isinstance(layer.kernel.dtype, str)
             else k.backend.standardize_dtype(layer.kernel.dtype),
             type(layer.dtype_policy).__name__, layer.dtype_policy is policies]
    config = layer.get_config()
    seen.append(json.loads(json.dumps(config["dtype"])))
    rebuilt = k.layers.Dense.from_config(config)
    seen += [type(rebuilt.dtype_policy).__name__, rebuilt.dtype_policy["x"].name]
    layer.dtype_policy = "float16"  # (changes the layer's own entry in the map)
    seen += [policies["x"].name, layer.compute_dtype, layer.dtype_policy is policies]
    return seen


def test_a_layer_given_a_map_takes_its_path_s_policy_as_keras():
    ours, theirs = _both()
    assert _dense_with_map(ours) == _dense_with_map(theirs)


def _block_class(k):
    class Block(k.layers.Layer):
        """Passes its `dtype` on to its sublayers; saves the quantized ones' policies by path
        (the pattern Keras's DTypePolicyMap docstring shows)."""

        def __init__(self, dtype=None, name="block", **kwargs):
            super().__init__(dtype=dtype, name=name, **kwargs)
            self.dense = k.layers.Dense(3, dtype=dtype, name="block_dense")
            self.head = k.layers.Dense(2, dtype=dtype, name="block_head")

        def call(self, x):
            return self.head(self.dense(x))

        def get_config(self):
            config = super().get_config()
            policies = k.dtype_policies.DTypePolicyMap()
            for layer in self._flatten_layers():
                if layer.quantization_mode is not None:
                    policies[layer.path] = layer.dtype_policy
            if len(policies):
                config["dtype"] = policies
            return config

    return Block


def test_sublayers_given_the_map_take_their_entries_on_the_first_call():
    ours, theirs = _both()
    found = []
    for k in (ours, theirs):
        policies = k.dtype_policies.DTypePolicyMap()
        policies["block/block_dense"] = "float16"
        block = _block_class(k)(dtype=policies)
        inputs = k.Input((4,))
        model = k.Model(inputs, block(inputs))
        y = model(X)
        found.append([block.dense.path, block.head.path, block.dense.compute_dtype,
                      block.dense.kernel.dtype if isinstance(block.dense.kernel.dtype, str)
                      else k.backend.standardize_dtype(block.dense.kernel.dtype),
                      block.head.compute_dtype, block.compute_dtype,
                      k.backend.standardize_dtype(y.dtype)])
    assert found[0] == found[1]


def _quantized_model(k):
    inputs = k.Input((4,))
    model = k.Model(inputs, _block_class(k)()(inputs))
    rng = np.random.default_rng(1)
    model.set_weights([rng.standard_normal(w.shape).astype("float32")
                       for w in model.get_weights()])
    with pytest.warns(UserWarning):  # (InputLayer has no quantize)
        model.quantize("int8")
    return model


@pytest.mark.filterwarnings("ignore:`build\\(\\)` was called")
def test_a_saved_map_of_quantized_sublayers_loads_both_ways_with_keras(tmp_path):
    ours, theirs = _both()
    for source, target in ((ours, theirs), (theirs, ours)):
        model = _quantized_model(source)
        expected = _numpy(model(X))
        saved = model.layers[1].get_config()["dtype"]
        assert type(saved).__name__ == "DTypePolicyMap"
        assert list(saved) == ["block/block_dense", "block/block_head"]
        path = tmp_path / f"{source.__name__.split('.')[0]}.keras"
        model.save(path)
        loaded = target.models.load_model(path, custom_objects={"Block": _block_class(target)})
        block = loaded.layers[1]
        assert type(block.dtype_policy).__name__ == "DTypePolicyMap"
        assert block.dense.quantization_mode == "int8" and block.head.quantization_mode == "int8"
        assert_matches(_numpy(loaded(X)), expected, rtol=1e-5, atol=1e-5,
                       what=f"{source.__name__} -> {target.__name__}")


# ---------------------------------------------------------------------- Keras 2 names
def test_optimizer_lr_says_to_use_learning_rate():
    optimizer = keras.optimizers.Adam(0.01)
    # TF 2.21 (Keras 3): AttributeError "'Adam' object has no attribute 'lr'"
    with pytest.raises(AttributeError, match=r"'Adam' object has no attribute 'lr'.*"
                                             r"optimizer\.learning_rate"):
        optimizer.lr  # noqa: B018
    assert not hasattr(optimizer, "lr")  # (Keras 2 callbacks check it)
    with pytest.raises(AttributeError, match="InverseTimeDecay"):
        optimizer.decay  # noqa: B018
    optimizer.lr = 0.5  # (as in Keras 3, a plain attribute that changes nothing)
    assert optimizer.lr == 0.5 and float(optimizer.learning_rate) == pytest.approx(0.01)
    del optimizer.lr

    # An old LearningRateScheduler-style callback gets the hint in the middle of fit.
    class OldScheduler(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            tf.keras.backend.set_value(self.model.optimizer.lr, 0.5)

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(AttributeError, match="learning_rate"):
        model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=1, verbose=0,
                  callbacks=[OldScheduler()])
    # (copies still work: the hook is only reached for missing names)
    copied = pickle.loads(pickle.dumps(copy.deepcopy(optimizer)))
    assert float(copied.learning_rate) == pytest.approx(0.01)


def test_tf_keras_s_legacy_layers_and_reduction_import_from_the_package():
    from tensorflux.keras.layers import RandomHeight, ThresholdedReLU
    from tensorflux.keras.losses import Reduction

    layers, losses = sys.modules["tensorflux.keras.layers"], sys.modules["tensorflux.keras.losses"]
    assert ThresholdedReLU is tf.keras.layers.ThresholdedReLU
    assert RandomHeight is tf.keras.layers.RandomHeight and Reduction is tf.keras.losses.Reduction
    # (the package's listing stays Keras 3's)
    assert "ThresholdedReLU" not in dir(layers) and "Reduction" not in dir(losses)
    assert "ThresholdedReLU" not in layers.__all__
    with pytest.raises(AttributeError, match="has no attribute 'Thresholded'"):
        layers.Thresholded  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute 'Reductions'"):
        losses.Reductions  # noqa: B018
    x = np.array([[-1.0, 0.2, 0.5, 0.7, 1.5]], "float32")
    np.testing.assert_array_equal(ThresholdedReLU(theta=0.5)(x).numpy(), np.where(x > 0.5, x, 0))
    loss = keras.losses.MeanSquaredError(reduction=Reduction.SUM)
    assert float(loss(np.ones((2, 2)), np.zeros((2, 2)))) == 2.0


def test_mha_passes_its_policy_map_to_sublayers():
    found = []
    for k in (keras, import_keras()):
        m = k.dtype_policies.DTypePolicyMap()
        m["mha/query"] = k.dtype_policies.QuantizedDTypePolicy("int8", "float32")
        mha = k.layers.MultiHeadAttention(2, 4, dtype=m, name="mha")
        mha.build((1, 3, 4), (1, 3, 4))
        found.append(mha._query_dense.quantization_mode)
    assert found == ["int8", "int8"]
