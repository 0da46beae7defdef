"""LoRA (`layer.enable_lora(rank)`, `lora_rank=`) on Dense, EinsumDense, Embedding and
Conv1D/2D/3D, checked against real Keras 3.15 (torch backend): the same weights, names,
order and trainability, the same effective kernel and outputs, configs, errors, fine-tuning
losses, LoRA on int8/int4-quantized layers, and files that move both ways (Keras saves the
kernel with the LoRA update merged, and loading resets the LoRA factors to zeros).

(The files' layout hooks into saving/saving_lib.py's `_own_variables`.)
"""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras, to_numpy, weight_specs  # noqa: F401

pytestmark = pytest.mark.keras_oracle


@pytest.fixture(scope="module")
def k():
    return import_keras()


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _set_same(ours, theirs, scale=0.5):
    """Gives both the same nonzero weights (LoRA's b included, so that it shows)."""
    values = [_rand(*tuple(w.shape), seed=i) * scale for i, w in enumerate(theirs.weights)]
    values = [v.astype(np.dtype(getattr(w.dtype, "name", w.dtype)).name)
              for v, w in zip(values, theirs.weights)]
    theirs.set_weights(values)
    ours.set_weights(values)


# The layers that have enable_lora in Keras 3.15, with an input shape and a sample input.
LAYERS = {
    "dense": (lambda m: m.layers.Dense(5), (None, 4), (3, 4)),
    "einsum": (lambda m: m.layers.EinsumDense("abc,cde->abde", output_shape=(None, 2, 3),
                                              bias_axes="e"), (None, 6, 4), (2, 6, 4)),
    "embedding": (lambda m: m.layers.Embedding(7, 3), (None, 4), None),
    "conv1d": (lambda m: m.layers.Conv1D(3, 2, padding="causal"), (None, 5, 2), (2, 5, 2)),
    "conv2d": (lambda m: m.layers.Conv2D(4, 3, strides=2), (None, 7, 7, 2), (1, 7, 7, 2)),
    "conv3d": (lambda m: m.layers.Conv3D(2, 2), (None, 3, 3, 3, 2), (1, 3, 3, 3, 2)),
}
IDS = np.array([[0, 6, 3, 3], [2, 1, 5, 0]], "int32")


def _sample(shape):
    return IDS if shape is None else _rand(*shape, seed=9)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_enable_lora_matches_keras(k, kind):
    make, input_shape, sample_shape = LAYERS[kind]
    ours, theirs = make(keras), make(k)
    ours.build(input_shape)
    theirs.build(input_shape)
    ours.enable_lora(2, lora_alpha=3.0)
    theirs.enable_lora(2, lora_alpha=3.0)
    assert weight_specs(ours) == weight_specs(theirs)
    assert [v.name for v in ours.trainable_weights] == [v.name for v in theirs.trainable_weights]
    assert (ours.lora_enabled, ours.lora_rank, ours.lora_alpha) == (True, 2, 3.0)
    assert ours.get_config() == theirs.get_config()
    _set_same(ours, theirs)
    name = "embeddings" if kind == "embedding" else "kernel"
    assert_matches(getattr(ours, name), getattr(theirs, name), what=f"effective {name}")
    x = _sample(sample_shape)
    assert_matches(ours(x), theirs(x), rtol=1e-5, atol=1e-5, what="outputs")


def test_effective_kernel_is_kernel_plus_scaled_product():
    layer = keras.layers.Dense(3)
    layer.build((None, 4))
    layer.enable_lora(2, lora_alpha=6)
    a, b = _rand(4, 2, seed=1), _rand(2, 3, seed=2)
    layer.lora_kernel_a.assign(a)
    layer.lora_kernel_b.assign(b)
    base = layer._kernel.numpy().astype(np.float64)
    expected = base + 3.0 * (a.astype(np.float64) @ b)
    np.testing.assert_allclose(layer.kernel.numpy(), expected, rtol=1e-6, atol=1e-6)
    x = _rand(5, 4, seed=3)
    np.testing.assert_allclose(layer(x).numpy(), x.astype(np.float64) @ expected +
                               layer.bias.numpy(), rtol=1e-5, atol=1e-5)


def test_b_starts_at_zeros_and_a_is_he_uniform():
    layer = keras.layers.Dense(4)
    layer.build((None, 50))
    before = layer.kernel.numpy()
    layer.enable_lora(8)
    assert not layer.lora_kernel_b.numpy().any()
    a = layer.lora_kernel_a.numpy()
    limit = np.sqrt(6.0 / 50)  # he_uniform: fan_in of (50, 8) is 50
    assert np.abs(a).max() <= limit and np.abs(a).max() > limit / 2
    np.testing.assert_array_equal(layer.kernel.numpy(), before)


@pytest.mark.parametrize("kind", ["dense", "einsum", "embedding", "conv2d"])
def test_lora_rank_argument_and_config_round_trip_match_keras(k, kind):
    make, input_shape, _ = LAYERS[kind]
    ours = make(keras).__class__.from_config({**make(keras).get_config(), "lora_rank": 2,
                                               "lora_alpha": 8})
    theirs = make(k).__class__.from_config({**make(k).get_config(), "lora_rank": 2,
                                             "lora_alpha": 8})
    ours.build(input_shape)
    theirs.build(input_shape)
    # (Keras's Dense and Embedding enable LoRA in build without lora_alpha: it becomes rank)
    assert (ours.lora_enabled, ours.lora_rank, ours.lora_alpha) == \
        (theirs.lora_enabled, theirs.lora_rank, theirs.lora_alpha)
    assert weight_specs(ours) == weight_specs(theirs)
    config = ours.get_config()
    assert config == theirs.get_config()
    again = type(ours).from_config(config)
    again.build(input_shape)
    assert again.lora_enabled and again.lora_rank == 2
    assert [v.name for v in again.trainable_weights] == [v.name for v in ours.trainable_weights]


def test_no_lora_keys_in_a_plain_config(k):
    assert "lora_rank" not in keras.layers.Dense(2).get_config()
    assert "lora_rank" not in k.layers.Dense(2).get_config()


def _error(fn):
    try:
        fn()
    except Exception as error:  # noqa: BLE001 - the type is what is compared
        return error
    return None


def _built(m, **kwargs):
    layer = m.layers.Dense(3, **kwargs)
    layer.build((None, 4))
    return layer


def _twice(m):
    layer = _built(m)
    layer.enable_lora(2)
    layer.enable_lora(2)


@pytest.mark.parametrize("case", [
    lambda m: m.layers.Dense(3).enable_lora(2),
    lambda m: _built(m, kernel_constraint="non_neg").enable_lora(2),
    _twice,
    lambda m: m.layers.Embedding(4, 2, embeddings_constraint="unit_norm").enable_lora(1),
    lambda m: m.layers.Conv2D(2, 1).enable_lora(1),
], ids=["unbuilt", "constraint", "twice", "embedding-constraint", "conv-unbuilt"])
def test_errors_match_keras(k, case):
    ours, theirs = _error(lambda: case(keras)), _error(lambda: case(k))
    assert theirs is not None and type(ours) is type(theirs), (ours, theirs)


def test_error_messages_name_the_layer():
    layer = keras.layers.Dense(3, name="head")
    assert "head" in str(_error(lambda: layer.enable_lora(2)))
    layer.build((None, 4))
    layer.enable_lora(2)
    assert "already enabled" in str(_error(lambda: layer.enable_lora(2)))
    with pytest.raises(ValueError, match="rank"):
        _built(keras).enable_lora(0)


def test_non_trainable_layer_gets_non_trainable_factors(k):
    ours, theirs = _built(keras), _built(k)
    ours.trainable = theirs.trainable = False
    ours.enable_lora(2)
    theirs.enable_lora(2)
    assert [v.trainable for v in ours.weights] == [v.trainable for v in theirs.weights]


def test_only_keras_lora_conv_classes_have_enable_lora(k):
    for name in ("Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose",
                 "DepthwiseConv2D", "SeparableConv2D"):
        assert hasattr(getattr(keras.layers, name), "enable_lora") == \
            hasattr(getattr(k.layers, name), "enable_lora"), name


# ---------------------------------------------------------------------- fine-tuning
def _tuning_model(m):
    inputs = m.Input((6,), dtype="int32")
    x = m.layers.Embedding(10, 4, name="emb")(inputs)
    x = m.layers.Conv1D(5, 3, padding="same", activation="relu", name="conv")(x)
    x = m.layers.EinsumDense("abc,cd->abd", (6, 4), bias_axes="d", activation="tanh",
                             name="ein")(x)
    x = m.layers.Flatten()(x)
    outputs = m.layers.Dense(3, name="head")(x)
    return m.Model(inputs, outputs)


def _enable_all(model, rank=2):
    for layer in model.layers:
        if hasattr(layer, "enable_lora"):
            layer.enable_lora(rank, lora_alpha=4)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fit_trains_only_lora_weights_like_keras(k, optimizer):
    ours, theirs = _tuning_model(keras), _tuning_model(k)
    _enable_all(ours)
    _enable_all(theirs)
    _set_same(ours, theirs, scale=0.3)
    assert [v.path for v in ours.trainable_weights] == [v.path for v in theirs.trainable_weights]
    frozen = [v.numpy().copy() for v in ours.non_trainable_weights]
    rng = np.random.default_rng(5)
    x = rng.integers(0, 10, size=(16, 6)).astype("int32")
    y = rng.normal(size=(16, 3)).astype("float32")
    histories = []
    for model, m in ((ours, keras), (theirs, k)):
        opt = m.optimizers.SGD(0.05) if optimizer == "sgd" else m.optimizers.Adam(0.01)
        model.compile(optimizer=opt, loss="mse")
        histories.append(model.fit(x, y, batch_size=4, epochs=3, shuffle=False,
                                   verbose=0).history["loss"])
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-5, atol=1e-6)
    assert histories[0][-1] < histories[0][0]
    for before, variable in zip(frozen, ours.non_trainable_weights):
        np.testing.assert_array_equal(variable.numpy(), before)
    for a, b in zip(ours.weights, theirs.weights):
        assert_matches(a, b, rtol=1e-4, atol=1e-5, what=a.path)


# ---------------------------------------------------------------------- quantized layers
def _quantized_pair(k, make, input_shape, mode, lora_first):
    pair = []
    for m in (keras, k):
        layer = make(m)
        layer.build(input_shape)
        layer.set_weights([_rand(*tuple(w.shape), seed=i) for i, w in enumerate(layer.weights)])
        if lora_first:
            layer.enable_lora(2)
        layer.quantize(mode)
        if not lora_first:
            layer.enable_lora(2)
        pair.append(layer)
    ours, theirs = pair
    for i, (a, b) in enumerate(zip(ours.weights, theirs.weights)):
        if a.trainable:
            value = _rand(*tuple(a.shape), seed=20 + i) * 0.3
            a.assign(value)
            b.assign(value)
    return ours, theirs


@pytest.mark.parametrize("kind,mode,lora_first", [
    ("dense", "int8", False), ("dense", "int8", True), ("dense", "int4", False),
    ("einsum", "int8", False), ("einsum", "int4", True), ("embedding", "int8", False),
    ("embedding", "int4", True)])
def test_lora_on_quantized_layers_matches_keras(k, kind, mode, lora_first):
    make, input_shape, sample_shape = LAYERS[kind]
    ours, theirs = _quantized_pair(k, make, input_shape, mode, lora_first)
    assert weight_specs(ours) == weight_specs(theirs)
    assert [v.name for v in ours.trainable_weights] == [v.name for v in theirs.trainable_weights]
    x = _sample(sample_shape)
    assert_matches(ours(x), theirs(x), rtol=1e-5, atol=1e-5, what="outputs")
    if kind == "embedding":
        return
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(ours(x) ** 2)
    grads = tape.gradient(loss, [x] + ours.trainable_weights)
    import torch

    tx = torch.tensor(x.numpy(), requires_grad=True)
    theirs_loss = (theirs(tx) ** 2).sum()
    theirs_grads = torch.autograd.grad(theirs_loss, [tx] + [v.value for v in
                                                            theirs.trainable_weights])
    for a, b in zip(grads, theirs_grads):
        assert_matches(a, b, rtol=1e-4, atol=1e-4, what="gradient")


# ---------------------------------------------------------------------- files
def _file_model(m, quantize=False, lora=True, seed=None):
    """A model with every kind of LoRA layer; `seed`: its float weights (before quantizing)
    and LoRA factors drawn from it."""
    inputs = m.Input((4,), dtype="int32")
    x = m.layers.Embedding(9, 4, name="emb")(inputs)
    x = m.layers.Conv1D(3, 2, name="conv")(x)
    x = m.layers.EinsumDense("abc,cd->abd", (3, 5), bias_axes="d", name="ein")(x)
    x = m.layers.Flatten()(x)
    outputs = m.layers.Dense(2, name="dense")(x)
    model = m.Model(inputs, outputs)
    if seed is not None:
        model.set_weights([_rand(*tuple(w.shape), seed=seed + i) * 0.5
                           for i, w in enumerate(model.weights)])
    if quantize:
        for name in ("dense", "emb", "ein"):
            model.get_layer(name).quantize("int8")
    if lora:
        _enable_all(model)
        if seed is not None:
            for i, variable in enumerate(model.weights):
                if "lora_" in variable.path:
                    variable.assign(_rand(*tuple(variable.shape), seed=seed + 50 + i) * 0.3)
    return model


@pytest.mark.parametrize("suffix,quantize", [(".keras", False), (".weights.h5", False),
                                             (".keras", True), (".weights.h5", True)])
def test_lora_files_move_both_ways_with_keras(k, tmp_path, suffix, quantize):
    pytest.importorskip("h5py")
    ours, theirs = _file_model(keras, quantize, seed=0), _file_model(k, quantize, seed=0)
    expected = to_numpy(theirs(IDS))
    assert_matches(ours(IDS), expected, rtol=1e-5, atol=1e-5, what="before saving")
    theirs_path, ours_path = tmp_path / f"theirs{suffix}", tmp_path / f"ours{suffix}"
    theirs.save(theirs_path) if suffix == ".keras" else theirs.save_weights(theirs_path)
    ours.save(ours_path) if suffix == ".keras" else ours.save_weights(ours_path)
    if suffix == ".keras":
        reference = k.models.load_model(theirs_path)
        here = keras.models.load_model(theirs_path)
        there = k.models.load_model(ours_path)
        back = keras.models.load_model(ours_path)
    else:
        reference, there = _file_model(k, quantize), _file_model(k, quantize)
        here, back = _file_model(keras, quantize), _file_model(keras, quantize)
        for model, path in ((reference, theirs_path), (here, theirs_path), (there, ours_path),
                            (back, ours_path)):
            model.load_weights(path)
    # Files hold the merged kernels (quantized again for int8 layers), and loading resets
    # every LoRA factor to zeros, as in Keras.
    if not quantize:
        assert_matches(reference(IDS), expected, rtol=1e-5, atol=1e-5, what="Keras reloaded")
    expected = to_numpy(reference(IDS))
    for model, what in ((here, "loaded here"), (there, "loaded in Keras"), (back, "reloaded")):
        assert [weight_specs(layer) for layer in model.layers] == \
            [weight_specs(layer) for layer in theirs.layers], what
        assert_matches(model(IDS), expected, rtol=1e-5, atol=1e-4, what=what)
        for variable in model.weights:
            if "lora_" in variable.path:
                assert not to_numpy(variable).any(), f"{what}: {variable.path}"
        for a, b in zip(model.weights, reference.weights):
            assert_matches(a, b, rtol=1e-6, atol=1e-6, what=f"{what}: {a.path}")


def test_plain_and_lora_models_share_files(k, tmp_path):
    pytest.importorskip("h5py")
    theirs = _file_model(k, lora=False, seed=0)
    theirs.save_weights(tmp_path / "plain.weights.h5")
    ours = _file_model(keras)
    ours.load_weights(tmp_path / "plain.weights.h5")
    assert_matches(ours(IDS), theirs(IDS), rtol=1e-5, atol=1e-5, what="plain into LoRA")
    for variable in ours.trainable_weights:
        if "lora_" in variable.path:
            variable.assign(_rand(*tuple(variable.shape), seed=3) * 0.3)
    expected = ours(IDS).numpy()
    ours.save_weights(tmp_path / "lora.weights.h5")
    plain = _file_model(k, lora=False)
    plain.load_weights(tmp_path / "lora.weights.h5")
    assert_matches(plain(IDS), expected, rtol=1e-5, atol=1e-5, what="LoRA into plain")


def test_untied_reversible_embedding_files_match_keras(k, tmp_path):
    pytest.importorskip("h5py")
    models = []
    for m in (keras, k):
        inputs = m.Input((4,), dtype="int32")
        outputs = m.layers.ReversibleEmbedding(9, 3, tie_weights=False, name="rev")(inputs)
        model = m.Model(inputs, outputs)
        model.get_layer("rev").enable_lora(2)
        models.append(model)
    ours, theirs = models
    _set_same(ours, theirs, scale=0.4)
    assert weight_specs(ours.get_layer("rev")) == weight_specs(theirs.get_layer("rev"))
    ours.save_weights(tmp_path / "ours.weights.h5")
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    ours.load_weights(tmp_path / "theirs.weights.h5")
    theirs.load_weights(tmp_path / "ours.weights.h5")
    for a, b in zip(ours.weights, theirs.weights):
        assert_matches(a, b, rtol=1e-6, atol=1e-6, what=a.path)
    assert_matches(ours(IDS), theirs(IDS), rtol=1e-6, atol=1e-6)
