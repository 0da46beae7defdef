"""Mixed precision as users write it (probe round 10), with real Keras 3 as the oracle:
LossScaleOptimizer in a custom loop (a float16 loss, Keras 2's removed names), layer dtypes
given as NumPy types, and Functional configs under autocast (no cast nodes in the graph)."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras, to_numpy  # noqa: F401

pytestmark = pytest.mark.keras_oracle


@pytest.fixture(autouse=True)
def float32_policy_after():
    yield
    keras.config.set_dtype_policy("float32")
    import_keras().config.set_dtype_policy("float32")


# ---------------------------------------------------------------------- LossScaleOptimizer
@pytest.mark.parametrize("built", [True, False], ids=["built", "unbuilt"])
def test_scale_loss_promotes_a_float16_loss_like_keras(built):
    # Keras's scale_loss is ops.multiply(loss, scale), whose TF backend casts both to
    # result_type first: a float16 loss times the float32 `dynamic_scale` is float32 (the
    # float16 product would overflow at 2**15 times a loss above 2), while a Python float
    # (`initial_scale`, unbuilt) is weak and keeps float16. (Keras on torch multiplies with
    # torch's promotion instead, so its rule, not its result, is the oracle here.)
    K = import_keras()
    opt = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1))
    if built:
        opt.build([tf.Variable([1.0])])
    loss = np.full((2,), 3.0, "float16")
    got = opt.scale_loss(tf.constant(loss))
    want_dtype = K.backend.result_type("float16", "float32" if built else float)
    assert got.dtype.name == want_dtype
    want = (loss.astype("float64") * 2.0 ** 15).astype(want_dtype)  # (inf in float16)
    np.testing.assert_array_equal(got.numpy(), want)


def test_custom_loop_with_a_float16_loss_trains_like_keras():
    # (the TF guide's loop: no float32 output layer, so the loss itself is float16)
    K = import_keras()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4)).astype("float32")
    y = rng.normal(size=(8, 1)).astype("float32")
    kernel = rng.normal(size=(4, 1)).astype("float32") * 0.5
    results = []
    for module, grad_of in ((keras, _tf_gradients), (K, _torch_gradients)):
        layer = module.layers.Dense(1, dtype="mixed_float16", use_bias=False)
        layer.build((None, 4))
        layer.set_weights([kernel])
        opt = module.optimizers.LossScaleOptimizer(module.optimizers.SGD(0.1),
                                                   initial_scale=4096.0,
                                                   dynamic_growth_steps=2)
        opt.build(layer.trainable_variables)
        scales, losses = [], []
        for _ in range(4):
            loss, grads = grad_of(module, layer, opt, x, y)
            opt.apply(grads, layer.trainable_variables)
            losses.append(loss)
            scales.append(float(to_numpy(opt.dynamic_scale)))
        results.append((scales, losses, to_numpy(layer.kernel), int(to_numpy(opt.iterations))))
    (our_scales, our_losses, our_kernel, our_steps), (scales, losses, kernel, steps) = results
    assert our_scales == scales and our_steps == steps
    assert_matches(np.array(our_losses), np.array(losses), rtol=2e-3, atol=2e-3, what="losses")
    assert_matches(our_kernel, kernel, rtol=2e-3, atol=2e-3, what="trained kernel")


def _tf_gradients(module, layer, opt, x, y):
    with tf.GradientTape() as tape:
        prediction = layer(x)
        loss = tf.reduce_mean(tf.square(prediction - tf.cast(y, prediction.dtype)))
        scaled = opt.scale_loss(loss)
    assert loss.dtype.name == "float16" and scaled.dtype.name == "float32"
    return float(loss), tape.gradient(scaled, layer.trainable_variables)


def _torch_gradients(module, layer, opt, x, y):
    import torch

    for variable in layer.trainable_variables:
        variable.value.grad = None
    prediction = layer(x)
    loss = torch.mean(torch.square(prediction - torch.as_tensor(y).to(prediction.dtype)))
    opt.scale_loss(loss).backward()
    return float(loss), [v.value.grad for v in layer.trainable_variables]


@pytest.mark.parametrize("name", ["get_scaled_loss", "get_unscaled_gradients", "loss_scale"])
def test_keras2_names_are_attribute_errors_naming_the_keras3_way(name):
    K = import_keras()
    assert not hasattr(K.optimizers.LossScaleOptimizer(K.optimizers.SGD()), name)
    opt = keras.mixed_precision.LossScaleOptimizer(keras.optimizers.SGD())
    assert not hasattr(opt, name)
    with pytest.raises(AttributeError, match=f"'{name}'.*Keras 3"):
        getattr(opt, name)
    opt.loss_scale_note = 1.0  # (other attributes stay free to set)


# ---------------------------------------------------------------------- layer dtypes
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64, np.dtype("float16")],
                         ids=["np.float32", "np.float16", "np.float64", "np.dtype"])
def test_numpy_dtypes_as_layer_dtype_like_keras(dtype):
    K = import_keras()
    ours, theirs = keras.layers.Dense(2, dtype=dtype), K.layers.Dense(2, dtype=dtype)
    assert ours.dtype_policy.name == theirs.dtype_policy.name
    assert (ours.compute_dtype, ours.variable_dtype) == \
        (theirs.compute_dtype, theirs.variable_dtype)
    assert ours.get_config()["dtype"] == theirs.get_config()["dtype"]


# ---------------------------------------------------------------------- functional configs
def _mixed_functional(module):
    L = module.layers
    module.config.set_dtype_policy("mixed_float16")
    inputs = module.Input((4,))
    hidden = L.LayerNormalization()(L.Dense(3, activation="relu")(inputs))
    outputs = L.Activation("softmax", dtype="float32")(L.Dense(2)(hidden))
    model = module.Model(inputs, outputs)
    module.config.set_dtype_policy("float32")
    return model


def _float64_input_functional(module):
    inputs = module.Input((3,), dtype="float64")
    return module.Model(inputs, module.layers.Dense(2)(inputs))


def _layer_graph(model):
    """(class, dtype config, inbound layer names) of each layer in a Functional config."""
    graph = []
    for layer in model.get_config()["layers"]:
        sources = [arg["config"]["keras_history"][0]
                   for node in layer["inbound_nodes"] for arg in node["args"]
                   if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__"]
        graph.append((layer["class_name"], layer["config"].get("dtype"), sources))
    return graph


@pytest.mark.parametrize("make", [_mixed_functional, _float64_input_functional],
                         ids=["mixed_float16", "float64_input"])
def test_autocast_leaves_no_cast_node_in_a_functional_config(make):
    # Keras records a layer's node with the caller's tensors, so the cast of an autocast
    # stays inside the layer: a model file holds no extra "Cast" layers.
    K = import_keras()
    ours, theirs = make(keras), make(K)
    strip = [(cls, dtype) for cls, dtype, _ in _layer_graph(theirs)]
    assert [(cls, dtype) for cls, dtype, _ in _layer_graph(ours)] == strip
    assert [len(sources) for *_, sources in _layer_graph(ours)] == \
        [len(sources) for *_, sources in _layer_graph(theirs)]
    assert [layer.name for layer in ours.layers][0] == _layer_graph(ours)[1][2][0]
