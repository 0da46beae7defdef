"""File compatibility, layer by layer: a small Functional model around one Keras layer is saved
by real Keras 3 (`.keras`, `.weights.h5`, legacy `.h5`) and loaded here, and saved here
(`.keras`) and loaded by Keras; both predict the same. The table is a representative subset
of the full sweep over every public `keras.layers` class (session-12 scratch script); each
entry is written against a `k` module argument so one function builds both models.
"""

import numpy as np
import pytest

from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytest.importorskip("h5py", reason="saving needs the h5 extra (pip install h5py)")
pytestmark = pytest.mark.keras_oracle

FLOAT, INT = "float32", "int32"


def _one(shape, dtype=FLOAT, kind=None):
    return {"inputs": [(shape, dtype)], "kind": kind}


def _layer(inputs, make):
    return dict(inputs, body=lambda k, ins: make(k)(ins[0]))


def _body(inputs, body):
    return dict(inputs, body=body)


def _pair(shape, qshape=None):
    return {"inputs": [(qshape or shape, FLOAT), (shape, FLOAT)], "kind": None}


def _merge(make, shape=(4,)):
    return _body(_pair(shape), lambda k, ins: make(k)([ins[0], ins[1]]))


IMG, SEQ, TOK = _one((6, 6, 3)), _one((5, 4)), _one((5,), INT, "int10")
AUG = _one((8, 8, 3), kind="img")

TABLE = {
    "Dense": _layer(_one((4,)), lambda k: k.layers.Dense(3, activation="relu")),
    "Dense:regularized": _layer(_one((4,)), lambda k: k.layers.Dense(
        3, kernel_regularizer=k.regularizers.L1L2(0.01, 0.02), bias_constraint="non_neg",
        kernel_initializer=k.initializers.HeNormal(seed=3), activation="swish")),
    "EinsumDense": _layer(SEQ, lambda k: k.layers.EinsumDense(
        "abc,cd->abd", output_shape=(None, 3), bias_axes="d")),
    "Conv1D:causal": _layer(_one((8, 3)), lambda k: k.layers.Conv1D(
        4, 3, padding="causal", dilation_rate=2)),
    "Conv2D:channels_first": _layer(_one((3, 7, 7)), lambda k: k.layers.Conv2D(
        4, 3, padding="same", dilation_rate=2, data_format="channels_first", use_bias=False)),
    "Conv2D:groups": _layer(_one((7, 7, 6)), lambda k: k.layers.Conv2D(
        4, (3, 2), strides=2, groups=2, padding="same")),
    "Conv2DTranspose": _layer(IMG, lambda k: k.layers.Conv2DTranspose(
        4, 3, strides=2, output_padding=1, padding="same")),
    "Conv3D": _layer(_one((4, 4, 4, 2)), lambda k: k.layers.Conv3D(2, 2)),
    "SeparableConv2D": _layer(IMG, lambda k: k.layers.SeparableConv2D(4, 3, depth_multiplier=2)),
    "DepthwiseConv2D": _layer(IMG, lambda k: k.layers.DepthwiseConv2D(3, depth_multiplier=2)),
    "ConvLSTM2D": _layer(_one((3, 5, 5, 2)), lambda k: k.layers.ConvLSTM2D(
        3, 3, padding="same", return_sequences=True)),
    "LSTM:states": _body(SEQ, lambda k, ins: k.layers.LSTM(
        3, return_sequences=True, return_state=True, go_backwards=True)(ins[0])),
    "GRU:reset_before": _layer(SEQ, lambda k: k.layers.GRU(3, reset_after=False)),
    "SimpleRNN": _layer(SEQ, lambda k: k.layers.SimpleRNN(3, return_sequences=True)),
    "RNN:stacked_cells": _layer(SEQ, lambda k: k.layers.RNN(
        [k.layers.SimpleRNNCell(3), k.layers.LSTMCell(2), k.layers.GRUCell(2)])),
    "Bidirectional": _layer(SEQ, lambda k: k.layers.Bidirectional(
        k.layers.LSTM(3), backward_layer=k.layers.GRU(3, go_backwards=True), merge_mode="mul")),
    "TimeDistributed": _layer(_one((3, 5, 5, 2)), lambda k: k.layers.TimeDistributed(
        k.layers.Conv2D(3, 2))),
    "Embedding:masked_LSTM": _body(TOK, lambda k, ins: k.layers.LSTM(3)(
        k.layers.Embedding(10, 4, mask_zero=True)(ins[0]))),
    "Masking:GRU": _body(_one((5, 4), kind="masked"), lambda k, ins: k.layers.GRU(3)(
        k.layers.Masking()(ins[0]))),
    "BatchNormalization": _layer(_one((3, 4, 4)), lambda k: k.layers.BatchNormalization(
        axis=1, center=False, epsilon=0.01)),
    "LayerNormalization": _layer(_one((3, 4)), lambda k: k.layers.LayerNormalization(
        axis=[1, 2])),
    "GroupNormalization": _layer(SEQ, lambda k: k.layers.GroupNormalization(groups=2)),
    "RMSNormalization": _layer(SEQ, lambda k: k.layers.RMSNormalization()),
    "UnitNormalization": _layer(_one((4,)), lambda k: k.layers.UnitNormalization()),
    "Normalization:adapted": {"inputs": [((3,), FLOAT)], "kind": None,
                              "adapt": lambda k, ins: _adapted_normalization(k)(ins[0])},
    "MultiHeadAttention": _body(_pair((5, 4), (3, 4)), lambda k, ins: k.layers.MultiHeadAttention(
        2, 3, value_dim=5, output_shape=(7,))(ins[0], ins[1], use_causal_mask=False)),
    "MultiHeadAttention:2d_axes": _body(_one((3, 4, 5)), lambda k, ins: k.layers.
                                        MultiHeadAttention(2, 3, attention_axes=(1, 2))(
                                            ins[0], ins[0])),
    "GroupQueryAttention": _body(_pair((5, 8), (3, 8)), lambda k, ins: k.layers.
                                 GroupQueryAttention(head_dim=4, num_query_heads=4,
                                                     num_key_value_heads=2)(ins[0], ins[1])),
    "Attention": _body(_pair((5, 4), (3, 4)), lambda k, ins: k.layers.Attention(
        use_scale=True)([ins[0], ins[1]], return_attention_scores=True)),
    "AdditiveAttention": _merge(lambda k: k.layers.AdditiveAttention(), (5, 4)),
    "PReLU": _layer(_one((3, 4)), lambda k: k.layers.PReLU(shared_axes=[1])),
    "LeakyReLU": _layer(_one((4,)), lambda k: k.layers.LeakyReLU(negative_slope=0.2)),
    "ReLU": _layer(_one((4,)), lambda k: k.layers.ReLU(max_value=0.5, threshold=0.1)),
    "Softmax": _layer(_one((3, 4)), lambda k: k.layers.Softmax(axis=1)),
    "Dropout": _layer(_one((3, 4)), lambda k: k.layers.Dropout(0.5, noise_shape=(None, 1, 4))),
    "SpatialDropout2D": _layer(IMG, lambda k: k.layers.SpatialDropout2D(0.2)),
    "GaussianNoise": _layer(_one((4,)), lambda k: k.layers.GaussianNoise(0.1)),
    "MaxPooling2D": _layer(IMG, lambda k: k.layers.MaxPooling2D(2)),
    "AveragePooling2D": _layer(IMG, lambda k: k.layers.AveragePooling2D(3, 1, padding="same")),
    "GlobalAveragePooling2D": _layer(IMG, lambda k: k.layers.GlobalAveragePooling2D(
        keepdims=True)),
    "GlobalMaxPooling1D": _layer(SEQ, lambda k: k.layers.GlobalMaxPooling1D()),
    "AdaptiveAveragePooling2D": _layer(IMG, lambda k: k.layers.AdaptiveAveragePooling2D((2, 3))),
    "Flatten": _layer(_one((3, 4, 2)), lambda k: k.layers.Flatten(data_format="channels_first")),
    "Reshape": _layer(_one((3, 4)), lambda k: k.layers.Reshape((-1, 2))),
    "Permute": _layer(_one((3, 4)), lambda k: k.layers.Permute((2, 1))),
    "RepeatVector": _layer(_one((4,)), lambda k: k.layers.RepeatVector(3)),
    "Cropping2D": _layer(IMG, lambda k: k.layers.Cropping2D(((1, 0), (0, 2)))),
    "ZeroPadding2D": _layer(IMG, lambda k: k.layers.ZeroPadding2D(((1, 0), (0, 2)))),
    "UpSampling2D": _layer(_one((3, 3, 2)), lambda k: k.layers.UpSampling2D(
        2, interpolation="bilinear")),
    "Concatenate": _merge(lambda k: k.layers.Concatenate(axis=1), (3, 4)),
    "Add": _merge(lambda k: k.layers.Add()),
    "Multiply": _merge(lambda k: k.layers.Multiply()),
    "Dot": _merge(lambda k: k.layers.Dot(axes=(2, 2), normalize=True), (3, 4)),
    "CategoryEncoding": _layer(_one((3,), INT, "int6"), lambda k: k.layers.CategoryEncoding(
        6, "count")),
    "Discretization": _layer(_one((3,)), lambda k: k.layers.Discretization(
        bin_boundaries=[-0.5, 0.0, 0.5])),
    "Rescaling": _layer(_one((2, 2, 3)), lambda k: k.layers.Rescaling(
        [0.5, 1.0, 2.0], offset=[0.0, 1.0, -1.0])),
    "Resizing": _layer(_one((6, 8, 3)), lambda k: k.layers.Resizing(
        4, 4, crop_to_aspect_ratio=True)),
    "RandomFlip": _layer(AUG, lambda k: k.layers.RandomFlip("horizontal", seed=4)),
    "RandomRotation": _layer(AUG, lambda k: k.layers.RandomRotation(0.1)),
    "SpectralNormalization": _layer(_one((4,)), lambda k: k.layers.SpectralNormalization(
        k.layers.Dense(3))),
    "Nested:Sequential": _body(_one((4,)), lambda k, ins: k.Sequential(
        [k.layers.Dense(3, activation="tanh"), k.layers.BatchNormalization(),
         k.layers.Dense(2)], name="inner")(ins[0])),
    "Shared:Dense": _body(_pair((4,)), lambda k, ins: (
        lambda d: k.layers.Subtract()([d(ins[0]), d(ins[1])]))(k.layers.Dense(3))),
}


def _adapted_normalization(k):
    layer = k.layers.Normalization()
    layer.adapt(np.random.default_rng(7).normal(2.0, 3.0, size=(32, 3)).astype("float32"))
    return layer


def _build(k, name):
    spec = TABLE[name]
    ins = [k.Input(shape, dtype=dtype, name=f"in{i}")
           for i, (shape, dtype) in enumerate(spec["inputs"])]
    body = spec.get("body") or spec["adapt"]
    return k.Model(ins if len(ins) > 1 else ins[0], body(k, ins), name="sweep")


def _inputs(name, batch=2):
    spec, rng = TABLE[name], np.random.default_rng(0)
    out = []
    for shape, dtype in spec["inputs"]:
        full = (batch,) + tuple(shape)
        kind = spec["kind"] or ""
        if kind == "img":
            x = rng.uniform(0, 255, size=full).astype("float32")
        elif kind.startswith("int"):
            x = rng.integers(0, int(kind[3:]), size=full).astype(dtype)
        else:
            x = rng.normal(size=full).astype(dtype)
            if kind == "masked":
                x[:, 1] = 0.0  # a fully masked step
        out.append(x)
    return out if len(out) > 1 else out[0]


def _randomize(model, seed):
    """Random trainable weights and moving statistics (variances positive), so a swapped or
    missing weight changes the prediction."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        dtype = str(getattr(v.dtype, "name", v.dtype))
        if "float" not in dtype or not (v.trainable or "moving_" in v.path):
            continue
        value = rng.uniform(0.1, 0.6, size=tuple(v.shape))
        if "variance" not in v.path:
            value *= rng.choice([-1.0, 1.0], size=value.shape)
        v.assign(value.astype(dtype))


def _same(ours, theirs, what):
    if isinstance(theirs, (list, tuple)):
        assert isinstance(ours, (list, tuple)) and len(ours) == len(theirs), what
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_matches(a, b, rtol=1e-5, atol=1e-5, what=f"{what}[{i}]")
    else:
        assert_matches(ours, theirs, rtol=1e-5, atol=1e-5, what=what)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_keras_files_load_here_and_ours_load_in_keras(name, tmp_path):
    K = import_keras()
    x = _inputs(name)
    theirs = _build(K, name)
    _randomize(theirs, 2)
    expected = theirs.predict(x, verbose=0)
    theirs.save(tmp_path / "k.keras")
    theirs.save_weights(tmp_path / "k.weights.h5")

    loaded = keras.saving.load_model(tmp_path / "k.keras")
    _same(loaded.predict(x, verbose=0), expected, f"{name}: Keras .keras loaded here")

    keras.backend.clear_session()
    built = _build(keras, name)
    built.load_weights(tmp_path / "k.weights.h5")
    _same(built.predict(x, verbose=0), expected, f"{name}: Keras .weights.h5 loaded here")

    keras.backend.clear_session()
    ours = _build(keras, name)
    _randomize(ours, 3)
    ours.save(tmp_path / "t.keras")
    K.utils.clear_session(free_memory=False)
    back = K.saving.load_model(tmp_path / "t.keras")
    _same(back.predict(x, verbose=0), ours.predict(x, verbose=0),
          f"{name}: our .keras loaded by Keras")


@pytest.mark.parametrize("name", ["Dense", "Conv2DTranspose", "Bidirectional",
                                  "GroupQueryAttention", "Nested:Sequential"])
def test_keras_legacy_h5_files_load_here(name, tmp_path):
    # GroupQueryAttention: Keras's legacy writer names the class by its Python name
    # (GroupedQueryAttention), which is not the exported name.
    K = import_keras()
    x = _inputs(name)
    theirs = _build(K, name)
    _randomize(theirs, 2)
    theirs.save(tmp_path / "k.h5")
    loaded = keras.saving.load_model(tmp_path / "k.h5")
    _same(loaded.predict(x, verbose=0), theirs.predict(x, verbose=0),
          f"{name}: Keras legacy .h5 loaded here")


@pytest.mark.parametrize("name", ["Dense:regularized", "GRU:reset_before", "BatchNormalization",
                                  "MultiHeadAttention", "Nested:Sequential"])
@pytest.mark.parametrize("direction", ["keras_to_ours", "ours_to_keras"])
def test_compiled_files_resume_training_identically(name, direction, tmp_path):
    """A compiled model trained one step, saved and loaded on the other side, trains on with
    the same optimizer state: both continue to the same weights."""
    K = import_keras()
    src, dst = (K, keras) if direction == "keras_to_ours" else (keras, K)
    x = _inputs(name)
    model = _build(src, name)
    _randomize(model, 2)
    model.compile(optimizer=src.optimizers.Adam(learning_rate=0.01), loss="mse")
    shape = np.shape(model.predict(x, verbose=0))
    y = np.random.default_rng(5).normal(size=shape).astype("float32")
    model.fit(x, y, epochs=1, batch_size=2, shuffle=False, verbose=0)
    model.save(tmp_path / "c.keras")
    loaded = dst.saving.load_model(tmp_path / "c.keras")
    assert int(np.asarray(_numpy(loaded.optimizer.iterations))) == 1
    model.fit(x, y, epochs=1, batch_size=2, shuffle=False, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=2, shuffle=False, verbose=0)
    _same(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
          f"{name}: {direction} after one more step")


def _numpy(value):
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def _h5_names(path):
    import io
    import zipfile

    import h5py

    with zipfile.ZipFile(path) as archive:
        data = archive.read("model.weights.h5")
    names = []
    with h5py.File(io.BytesIO(data), "r") as h5file:
        h5file.visititems(lambda name, obj: names.append((name, getattr(obj, "shape", None))))
    return names


def _wrapping_optimizer(k, kind):
    if kind == "loss_scale":
        return k.optimizers.LossScaleOptimizer(k.optimizers.Adam(0.01))
    return k.optimizers.MultiOptimizer(k.optimizers.OptimizerMap(
        k.optimizers.Adam(0.01), {"first/.*": k.optimizers.SGD(0.1, momentum=0.5)}))


@pytest.mark.parametrize("kind", ["loss_scale", "multi"])
def test_optimizers_inside_optimizers_are_saved_as_keras_saves_them(kind, tmp_path):
    """Keras writes a wrapping optimizer's inner optimizers again as groups of their own
    (optimizer/inner_optimizer/vars, optimizer/optimizers/adam/vars), and warns when loading
    a file without them; our files hold the same groups and load in Keras without warning."""
    import warnings

    K = import_keras()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 4)).astype("float32"), rng.normal(size=(8, 3)).astype("float32")
    for k, tag in ((K, "k"), (keras, "t")):
        i = k.Input((4,))
        model = k.Model(i, k.layers.Dense(3, name="second")(k.layers.Dense(5, name="first")(i)))
        model.compile(optimizer=_wrapping_optimizer(k, kind), loss="mse")
        model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
        model.save(tmp_path / f"{tag}.keras")
        if tag == "t":
            ours = model
    assert _h5_names(tmp_path / "t.keras") == _h5_names(tmp_path / "k.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        back = K.saving.load_model(tmp_path / "t.keras")
        mine = keras.saving.load_model(tmp_path / "t.keras")
    for a, b in zip(back.optimizer.variables, ours.optimizer.variables):
        assert_matches(a, b, what=a.path)
    for a, b in zip(mine.optimizer.variables, ours.optimizer.variables):
        assert_matches(a, b, what=a.path)


def test_files_without_the_inner_optimizer_group_still_load_silently(tmp_path):
    """Files written before the inner group was saved: the outer group holds every variable,
    so loading restores them all without a mismatch warning."""
    import io
    import warnings
    import zipfile

    import h5py

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 4)).astype("float32"), rng.normal(size=(8, 3)).astype("float32")
    i = keras.Input((4,))
    model = keras.Model(i, keras.layers.Dense(3)(i))
    model.compile(optimizer=_wrapping_optimizer(keras, "loss_scale"), loss="mse")
    model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    model.save(tmp_path / "new.keras")
    with zipfile.ZipFile(tmp_path / "new.keras") as src, \
            zipfile.ZipFile(tmp_path / "old.keras", "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "model.weights.h5":
                buffer = io.BytesIO(data)
                with h5py.File(buffer, "r+") as h5file:
                    del h5file["optimizer/inner_optimizer"]
                data = buffer.getvalue()
            dst.writestr(item, data)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        loaded = keras.saving.load_model(tmp_path / "old.keras")
    assert int(_numpy(loaded.optimizer.inner_optimizer.iterations)) == 4  # 2 epochs x 2 steps
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        assert_matches(a, b, what=a.path)


def _two_dense(k):
    i = k.Input((4,))
    hidden = k.layers.BatchNormalization()(k.layers.Dense(300, activation="tanh")(i))
    return k.Model(i, k.layers.Dense(2)(hidden))


def test_keras_sharded_weights_load_here(tmp_path):
    """Keras's `save_weights("x.weights.json", max_shard_size=...)`: a JSON map and several
    `.weights.h5` shards, one variable group spread over two of them."""
    import json

    K = import_keras()
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    theirs = _two_dense(K)
    _randomize(theirs, 2)
    theirs.save_weights(tmp_path / "m.weights.json", max_shard_size=0.003)  # GB: ~3 MB
    assert len(list(tmp_path.glob("m_*.weights.h5"))) >= 1
    theirs.save_weights(tmp_path / "s.weights.json", max_shard_size=0.00001)  # ~10 kB
    spread = json.loads((tmp_path / "s.weights.json").read_text())["weight_map"].values()
    assert any(isinstance(shards, list) and len(shards) > 1 for shards in spread)
    for name in ("m", "s"):
        ours = _two_dense(keras)
        ours.load_weights(tmp_path / f"{name}.weights.json")
        _same(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), f"{name} shards")


def test_a_shard_map_may_not_point_outside_its_folder(tmp_path):
    import json

    model = _two_dense(keras)
    (tmp_path / "m.weights.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {"/layers/dense/vars": "../elsewhere.weights.h5"}}))
    with pytest.raises(ValueError, match="not a file name beside the map"):
        model.load_weights(tmp_path / "m.weights.json")


def test_a_shard_that_is_a_link_is_refused(tmp_path):
    import json

    model = _two_dense(keras)
    model.save_weights(tmp_path / "elsewhere.weights.h5")
    (tmp_path / "m_0.weights.h5").symlink_to(tmp_path / "elsewhere.weights.h5")
    (tmp_path / "m.weights.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {"/layers/dense/vars": "m_0.weights.h5"}}))
    with pytest.raises(ValueError, match="symbolic link"):
        model.load_weights(tmp_path / "m.weights.json")


def test_keras_unzipped_model_folders_load_here(tmp_path):
    """Keras's `model.save(folder, zipped=False)` writes the archive's members into a folder,
    which Keras's load_model reads back; so do we (it is not a SavedModel)."""
    K = import_keras()
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    theirs = _two_dense(K)
    _randomize(theirs, 2)
    theirs.compile(optimizer="adam", loss="mse")
    theirs.fit(x, np.zeros((3, 2), "float32"), verbose=0)
    theirs.save(tmp_path / "folder", zipped=False)
    loaded = keras.saving.load_model(tmp_path / "folder")
    _same(loaded.predict(x, verbose=0), theirs.predict(x, verbose=0), "unzipped folder")
    assert int(_numpy(loaded.optimizer.iterations)) == 1


def test_an_unzipped_model_folder_may_not_hold_links(tmp_path):
    K = import_keras()
    _two_dense(K).save(tmp_path / "folder", zipped=False)
    config = tmp_path / "folder" / "config.json"
    config.rename(tmp_path / "elsewhere.json")
    config.symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(ValueError, match="not a regular file"):
        keras.saving.load_model(tmp_path / "folder")
