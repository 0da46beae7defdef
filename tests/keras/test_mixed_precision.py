"""Dtype policies and mixed precision, with real Keras 3 as the oracle: DTypePolicy and the
global policy, variable autocasting in a layer's call, LossScaleOptimizer, compile's wrapping,
fit under mixed_float16 and files with mixed layers in both directions."""

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
    try:
        import_keras().config.set_dtype_policy("float32")
    except BaseException:  # noqa: BLE001 - no Keras: nothing to reset
        pass


# ---------------------------------------------------------------------- policies
@pytest.mark.parametrize("name", ["float32", "float16", "bfloat16", "float64",
                                  "mixed_float16", "mixed_bfloat16"])
def test_policy_dtypes_and_config_match_keras(name):
    K = import_keras()
    ours, theirs = keras.DTypePolicy(name), K.DTypePolicy(name)
    assert (ours.name, ours.compute_dtype, ours.variable_dtype) == \
        (theirs.name, theirs.compute_dtype, theirs.variable_dtype)
    assert repr(ours) == repr(theirs)
    assert ours.get_config() == theirs.get_config()
    assert keras.dtype_policies.serialize(ours) == K.dtype_policies.serialize(theirs)
    assert keras.dtype_policies.get(K.dtype_policies.serialize(theirs)) == ours
    assert keras.mixed_precision.Policy(name) == ours
    layer, keras_layer = keras.layers.Dense(2, dtype=name), K.layers.Dense(2, dtype=name)
    assert layer.get_config()["dtype"] == keras_layer.get_config()["dtype"]
    assert (layer.dtype, layer.compute_dtype, layer.variable_dtype) == \
        (keras_layer.dtype, keras_layer.compute_dtype, keras_layer.variable_dtype)


def test_bad_policy_name_is_a_value_error_like_keras():
    K = import_keras()
    with pytest.raises(ValueError) as theirs:
        K.DTypePolicy("float17")
    with pytest.raises(ValueError) as ours:
        keras.DTypePolicy("float17")
    assert str(ours.value) == str(theirs.value)
    with pytest.raises(ValueError):
        keras.layers.Dense(2, dtype="mixed_float17")


def test_global_policy_applies_to_layers_made_afterwards():
    K = import_keras()
    for module in (keras, K):
        before = module.layers.Dense(2)
        module.mixed_precision.set_global_policy("mixed_float16")
        assert module.mixed_precision.global_policy().name == "mixed_float16"
        assert module.config.dtype_policy().name == "mixed_float16"
        after = module.layers.Dense(2)
        explicit = module.layers.Dense(2, dtype="float32")
        assert before.dtype_policy.name == "float32"
        assert after.dtype_policy.name == "mixed_float16"
        assert (after.compute_dtype, after.variable_dtype) == ("float16", "float32")
        assert explicit.dtype_policy.name == "float32"
        module.config.set_dtype_policy(module.DTypePolicy("float32"))
        assert module.layers.Dense(2).dtype_policy.name == "float32"
    with pytest.raises(ValueError):
        keras.config.set_dtype_policy(3)


# ---------------------------------------------------------------------- autocasting
def _layer_cases(module):
    return [
        (lambda d: module.layers.Dense(3, dtype=d), (4, 10)),
        (lambda d: module.layers.Conv1D(2, 3, dtype=d), (4, 6, 3)),
        (lambda d: module.layers.Conv2D(2, 3, dtype=d), (4, 6, 6, 3)),
        (lambda d: module.layers.DepthwiseConv2D(3, dtype=d), (4, 6, 6, 3)),
        (lambda d: module.layers.SeparableConv2D(2, 3, dtype=d), (4, 6, 6, 3)),
        (lambda d: module.layers.LSTM(3, dtype=d), (4, 6, 3)),
        (lambda d: module.layers.BatchNormalization(dtype=d), (4, 6, 3)),
        (lambda d: module.layers.LayerNormalization(dtype=d), (4, 10)),
    ]


@pytest.mark.parametrize("index", range(8))
def test_mixed_float16_layer_reads_float32_variables_as_float16(index):
    K = import_keras()
    make_ours, shape = _layer_cases(keras)[index]
    make_theirs, _ = _layer_cases(K)[index]
    x = np.random.default_rng(index).normal(size=shape).astype("float32")
    theirs = make_theirs("mixed_float16")
    expected = theirs(x)
    ours = make_ours("mixed_float16")
    ours(x)
    ours.set_weights(theirs.get_weights())
    out = ours(x)
    assert out.dtype.name == "float16" == K.backend.standardize_dtype(expected.dtype)
    assert all(w.dtype.name == "float32" for w in ours.weights)
    assert all(type(w).__name__ == "KerasVariable" for w in ours.weights)  # put back after
    assert_matches(out, expected, rtol=2e-3, atol=2e-3, what=type(ours).__name__)


def test_gradients_reach_float32_variables_in_float32():
    layer = keras.layers.Dense(3, dtype="mixed_float16")
    x = np.random.default_rng(1).normal(size=(4, 5)).astype("float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.cast(layer(x), "float32"))
    grads = tape.gradient(loss, layer.trainable_weights)
    assert [g.dtype.name for g in grads] == ["float32", "float32"]
    # d(sum(x @ k + b))/dk = sum of x over the batch, to float16 rounding
    np.testing.assert_allclose(grads[0].numpy(), np.repeat(x.sum(0)[:, None], 3, 1),
                               rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(grads[1].numpy(), np.full(3, 4.0))


def test_float32_layer_inside_mixed_model_reads_float32_variables():
    K = import_keras()
    x = np.random.default_rng(2).normal(size=(4, 6)).astype("float32")

    def build(module):
        inputs = module.Input((6,))
        hidden = module.layers.Dense(5, activation="relu")(inputs)
        outputs = module.layers.Dense(3, dtype="float32")(hidden)
        return module.Model(inputs, outputs)

    K.config.set_dtype_policy("mixed_float16")
    theirs = build(K)
    keras.config.set_dtype_policy("mixed_float16")
    ours = build(keras)
    ours.set_weights(theirs.get_weights())
    out = ours(x)
    assert out.dtype.name == "float32"
    assert ours.layers[1](x).dtype.name == "float16"
    assert_matches(out, theirs(x), rtol=2e-3, atol=2e-3)


def test_default_policy_layer_stays_float32():
    layer = keras.layers.Dense(2)
    assert layer._autocast_dtype is None
    assert layer(np.ones((1, 3), "float32")).dtype.name == "float32"


# ---------------------------------------------------------------------- loss scaling
def _lso_steps(module, grads_list, **kwargs):
    w = module.Variable(np.array([1.0, -2.0, 0.5], "float32"))
    opt = module.optimizers.LossScaleOptimizer(module.optimizers.SGD(0.1, momentum=0.5),
                                               **kwargs)
    trace = []
    for grads in grads_list:
        opt.apply([np.asarray(grads, "float32")], [w])
        trace.append((float(to_numpy(opt.dynamic_scale)), int(to_numpy(opt.step_counter)),
                      int(to_numpy(opt.iterations)), to_numpy(w).copy()))
    return trace, opt


def test_loss_scale_evolution_matches_keras():
    K = import_keras()
    inf, nan = np.inf, np.nan
    grads = [[1.0, 2.0, 3.0], [1.0, inf, 0.0], [2.0, 2.0, 2.0], [0.5, 0.5, 0.5],
             [nan, 1.0, 1.0], [1.0, 1.0, 1.0], [3.0, -1.0, 2.0], [1.0, 0.0, -1.0]]
    grads = [np.asarray(g) * 2.0 ** 12 for g in grads]
    ours, opt = _lso_steps(keras, grads, initial_scale=2.0 ** 12, dynamic_growth_steps=2)
    theirs, keras_opt = _lso_steps(K, grads, initial_scale=2.0 ** 12, dynamic_growth_steps=2)
    for step, (a, b) in enumerate(zip(ours, theirs)):
        assert a[:3] == b[:3], f"step {step}: (scale, counter, iterations) {a[:3]} != {b[:3]}"
        assert_matches(a[3], b[3], rtol=1e-6, atol=1e-6, what=f"step {step} variable")
    assert [tuple(v.shape) for v in opt.variables] == \
        [tuple(v.shape) for v in keras_opt.variables]
    # (the inner optimizer's slot names follow the variable's name, which differs here)
    assert [v.path for v in opt.variables[:4]] == [v.path for v in keras_opt.variables[:4]]


def test_loss_scale_optimizer_defaults_config_and_errors():
    K = import_keras()
    ours = keras.mixed_precision.LossScaleOptimizer(keras.optimizers.Adam(1e-3))
    theirs = K.mixed_precision.LossScaleOptimizer(K.optimizers.Adam(1e-3))
    assert (ours.initial_scale, ours.dynamic_growth_steps) == (2.0 ** 15, 2000)
    config, keras_config = ours.get_config(), theirs.get_config()
    assert config.keys() == keras_config.keys()
    assert config["inner_optimizer"]["config"] == keras_config["inner_optimizer"]["config"]
    assert ours.name.startswith("loss_scale_optimizer")
    revived = keras.optimizers.deserialize(K.optimizers.serialize(theirs))
    assert type(revived).__name__ == "LossScaleOptimizer"
    assert type(revived.inner_optimizer).__name__ == "Adam"
    assert float(ours.learning_rate.numpy()) == pytest.approx(1e-3)
    assert keras.optimizers.LossScaleOptimizer is keras.mixed_precision.LossScaleOptimizer
    for bad in ({"dynamic": False}, {"clipnorm": 1.0}, {"unknown": 1}):
        with pytest.raises(ValueError):
            keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(), **bad)


def test_loss_scale_factor_on_a_base_optimizer_matches_keras():
    K = import_keras()
    results = []
    for module in (keras, K):
        w = module.Variable(np.array([1.0, 2.0], "float32"))
        opt = module.optimizers.SGD(0.1, loss_scale_factor=8.0)
        opt.apply([module.ops.convert_to_tensor(np.array([8.0, 16.0], "float32"))], [w])
        results.append((to_numpy(w), float(to_numpy(opt.scale_loss(2.0)))))
    assert_matches(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]


# ---------------------------------------------------------------------- compile and fit
def test_compile_wraps_only_under_mixed_float16():
    K = import_keras()
    for module in (keras, K):
        for policy, auto, wrapped in (("mixed_float16", True, True),
                                      ("mixed_float16", False, False),
                                      ("mixed_bfloat16", True, False),
                                      ("float32", True, False)):
            module.config.set_dtype_policy(policy)
            model = module.Sequential([module.Input((3,)), module.layers.Dense(2)])
            model.compile(module.optimizers.SGD(), "mse", auto_scale_loss=auto)
            name = type(model.optimizer).__name__
            assert (name == "LossScaleOptimizer") == wrapped, (module.__name__, policy, auto)
        module.config.set_dtype_policy("float32")


def _mixed_cnn(module):
    return module.Sequential([
        module.Input((8, 8, 3)),
        module.layers.Conv2D(4, 3, activation="relu"),
        module.layers.BatchNormalization(),
        module.layers.GlobalAveragePooling2D(),
        module.layers.Dense(8, activation="relu"),
        module.layers.Dense(4),
        module.layers.Activation("softmax", dtype="float32"),
    ])


def _fit_mixed(module, weights, x, y, optimizer=None):
    module.config.set_dtype_policy("mixed_float16")
    try:
        model = _mixed_cnn(module)
        model.set_weights(weights)
        # (SGD with a small step: an error in a gradient moves a weight in proportion, where
        # Adam, or a large step through ReLU thresholds, turns float16 rounding into a
        # visible change)
        model.compile(optimizer or module.optimizers.SGD(0.01, momentum=0.9),
                      "sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        return model, history.history
    finally:
        module.config.set_dtype_policy("float32")


def test_fit_under_mixed_float16_matches_keras():
    K = import_keras()
    rng = np.random.default_rng(5)
    x = rng.normal(size=(32, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 4, size=(32,))
    K.utils.set_random_seed(5)
    weights = _mixed_cnn(K).get_weights()
    theirs, keras_history = _fit_mixed(K, weights, x, y)
    ours, history = _fit_mixed(keras, weights, x, y)
    assert type(ours.optimizer).__name__ == type(theirs.optimizer).__name__ \
        == "LossScaleOptimizer"
    assert ours.layers[0].dtype_policy.name == "mixed_float16"
    assert all(w.dtype.name == "float32" for w in ours.weights)
    assert ours(x[:2]).dtype.name == "float32"  # the float32 softmax
    assert ours.layers[3](np.ones((2, 4), "float32")).dtype.name == "float16"
    assert_matches(history["loss"], keras_history["loss"], rtol=5e-3, atol=5e-3, what="loss")
    # (float16 rounding may flip a near-tie prediction: one sample in 32 is 1/32)
    assert_matches(history["accuracy"], keras_history["accuracy"], atol=1 / 16,
                   what="accuracy")
    assert float(ours.optimizer.dynamic_scale.numpy()) == \
        float(to_numpy(theirs.optimizer.dynamic_scale)) == 2.0 ** 15
    assert int(ours.optimizer.iterations.numpy()) == int(to_numpy(theirs.optimizer.iterations))
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert_matches(a, b, rtol=5e-3, atol=5e-3, what="weights after fit")
    assert_matches(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=5e-3,
                   atol=5e-3, what="predict")


def test_fit_skips_overflowing_steps_and_halves_the_scale_like_keras():
    """A huge initial scale makes the float16 gradients overflow: those steps change no
    weight and halve the scale, inside the traced train step."""
    K = import_keras()
    rng = np.random.default_rng(7)
    x = rng.normal(size=(32, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 4, size=(32,))
    K.utils.set_random_seed(7)
    weights = _mixed_cnn(K).get_weights()
    results = []
    for module in (K, keras):
        optimizer = module.optimizers.LossScaleOptimizer(module.optimizers.SGD(0.1),
                                                         initial_scale=2.0 ** 40,
                                                         dynamic_growth_steps=3)
        model, history = _fit_mixed(module, weights, x, y, optimizer)
        results.append((model, history, float(to_numpy(model.optimizer.dynamic_scale)),
                        int(to_numpy(model.optimizer.iterations)),
                        int(to_numpy(model.optimizer.step_counter))))
    (theirs, keras_history, *keras_state), (ours, history, *state) = results
    assert state == keras_state
    assert keras_state[0] < 2.0 ** 40 and keras_state[1] < 8  # some steps were skipped
    assert_matches(history["loss"], keras_history["loss"], rtol=5e-3, atol=5e-3)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert_matches(a, b, rtol=5e-3, atol=5e-3, what="weights after fit")


# ---------------------------------------------------------------------- files
def _small_mixed(module):
    module.config.set_dtype_policy("mixed_float16")
    try:
        model = module.Sequential([module.Input((5,)), module.layers.Dense(4, activation="relu"),
                                   module.layers.Dense(2, dtype="float16"),
                                   module.layers.Activation("linear", dtype="float32")])
        model.compile(module.optimizers.SGD(0.1), "mse")
        return model
    finally:
        module.config.set_dtype_policy("float32")


@pytest.mark.parametrize("direction", ["tensorflux_to_keras", "keras_to_tensorflux"])
def test_mixed_model_files_round_trip_with_keras(direction, tmp_path):
    K = import_keras()
    writer, reader = (keras, K) if direction == "tensorflux_to_keras" else (K, keras)
    x = np.random.default_rng(3).normal(size=(6, 5)).astype("float32")
    y = np.random.default_rng(4).normal(size=(6, 2)).astype("float32")
    model = _small_mixed(writer)
    model.fit(x, y, epochs=1, batch_size=3, verbose=0)
    path = str(tmp_path / "mixed.keras")
    model.save(path)
    loaded = reader.models.load_model(path)
    assert [layer.dtype_policy.name for layer in loaded.layers] == \
        ["mixed_float16", "float16", "float32"]
    assert [layer.get_config()["dtype"] for layer in loaded.layers] == \
        [layer.get_config()["dtype"] for layer in model.layers]
    assert type(model.optimizer).__name__ == "LossScaleOptimizer"
    # Keras revives a Sequential with the global policy (float32 here), so its compile does
    # not wrap the optimizer again (and the saved loss-scale state is skipped, with a warning)
    assert loaded.dtype_policy.name == "float32"
    assert type(loaded.optimizer).__name__ == "SGD"
    assert_matches(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-2,
                   atol=1e-2)


@pytest.mark.keras_oracle
@pytest.mark.parametrize("make", [lambda L: L.Dense(3, dtype="mixed_bfloat16"),
                                  lambda L: L.LSTM(3, dtype="mixed_bfloat16")],
                         ids=["Dense", "LSTM"])
def test_mixed_bfloat16_layers_compute_in_bfloat16_as_keras_does(make):
    # (ml_dtypes' bfloat16 matmul returns float32; the backend rounds back as TF does)
    real = import_keras()
    x = np.random.default_rng(0).normal(size=(2, 4, 5)).astype("float32")
    ours, theirs = make(keras.layers), make(real.layers)
    got = ours(x if isinstance(ours, keras.layers.LSTM) else x[:, 0])
    theirs(x if isinstance(ours, keras.layers.LSTM) else x[:, 0])
    theirs.set_weights(ours.get_weights())
    want = theirs(x if isinstance(ours, keras.layers.LSTM) else x[:, 0])
    assert got.dtype.name == "bfloat16" and "bfloat16" in str(want.dtype)
    assert all(w.dtype.name == "float32" for w in ours.weights)
    want = to_numpy(want.float())  # (torch has no NumPy bfloat16)
    assert_matches(np.asarray(tf.cast(got, tf.float32)), want, rtol=3e-2, atol=3e-2,
                   what="bfloat16 outputs")


def test_a_bfloat16_product_stays_bfloat16():
    a = tf.cast(tf.constant([[1.0, 2.0, 3.0]]), tf.bfloat16)
    b = tf.cast(tf.constant([[1.0], [0.5], [0.25]]), tf.bfloat16)
    assert tf.matmul(a, b).dtype == tf.bfloat16
    assert tf.cast(tf.matmul(a, b), tf.float32).numpy().tolist() == [[2.75]]
    batched = tf.cast(tf.ones((4, 1, 3)), tf.bfloat16)
    assert tf.matmul(batched, b).dtype == tf.bfloat16
