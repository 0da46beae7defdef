"""Attention layers (MultiHeadAttention, Attention, AdditiveAttention) and EinsumDense: the
layer harness, real Keras 3 as the oracle (outputs, attention scores, gradients, weights after
three Adam steps) across masks, causal masks, cross-attention and attention_axes; errors; and
the keras-io Transformer text classifier trained end to end."""

import json
from dataclasses import dataclass, field

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401
from tests.keras.test_layers_core import (
    Case,
    _config_round_trip,
    check_layer,
    compare_with_keras,
)

RTOL, ATOL = 2e-5, 2e-6

# ---------------------------------------------------------------------- the common harness
CASES = [
    Case("EinsumDense", {"equation": "abc,cd->abd", "output_shape": (None, 4),
                         "bias_axes": "d"}, (2, 3, 5), (2, 3, 4), (2, 0)),
    Case("EinsumDense", {"equation": "ab,bc->ac", "output_shape": 4}, (3, 5), (3, 4), (1, 0)),
    Case("EinsumDense", {"equation": "...b,bc->...c", "output_shape": 4, "bias_axes": "c",
                         "activation": "tanh"}, (2, 3, 5), (2, 3, 4), (2, 0)),
    Case("EinsumDense", {"equation": "abc,cde->abde", "output_shape": (None, 2, 3),
                         "bias_axes": "de"}, (2, 3, 5), (2, 3, 2, 3), (2, 0)),
    Case("EinsumDense", {"equation": "ab...,bc->ac...", "output_shape": 4, "bias_axes": "c"},
         (2, 5, 3), (2, 4, 3), (2, 0)),
    Case("Attention", {}, [(2, 3, 4), (2, 5, 4)], (2, 3, 4)),
    Case("Attention", {"use_scale": True}, [(2, 3, 4), (2, 5, 6), (2, 5, 4)], (2, 3, 6),
         (1, 0)),
    Case("Attention", {"score_mode": "concat"}, [(2, 3, 4), (2, 5, 4)], (2, 3, 4), (1, 0)),
    Case("Attention", {"score_mode": "concat", "use_scale": True}, [(2, 3, 4), (2, 5, 4)],
         (2, 3, 4), (2, 0)),
    Case("Attention", {"dropout": 0.5, "seed": 3}, [(2, 3, 4), (2, 5, 4)], (2, 3, 4),
         random=True),
    Case("AdditiveAttention", {}, [(2, 3, 4), (2, 5, 4)], (2, 3, 4), (1, 0)),
    Case("AdditiveAttention", {"use_scale": False}, [(2, 3, 4), (2, 5, 6), (2, 5, 4)],
         (2, 3, 6)),
]
IDS = [case.id for case in CASES]


@pytest.fixture(scope="module")
def real_keras():
    return import_keras()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_layer_harness(case):
    check_layer(case)


@pytest.mark.keras_oracle
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_layer_matches_keras(case, real_keras):
    compare_with_keras(case, real_keras)


# ---------------------------------------------------------------------- MultiHeadAttention
@dataclass
class MHA:
    """One MultiHeadAttention configuration: constructor kwargs, input shapes, call kwargs.

    masks: "padding" gives query/value padding masks (Keras: masks carried by the tensors, as
    Embedding(mask_zero=True) leaves them); "attention" gives an explicit attention_mask.
    """

    kwargs: dict
    query: tuple
    value: tuple
    key: tuple = None
    call: dict = field(default_factory=dict)
    masks: tuple = ()
    id: str = ""


MHA_CASES = [
    MHA({"num_heads": 2, "key_dim": 3}, (2, 4, 5), (2, 4, 5), id="self"),
    MHA({"num_heads": 2, "key_dim": 3}, (2, 4, 5), (2, 6, 3), id="cross"),
    MHA({"num_heads": 3, "key_dim": 2, "value_dim": 4, "output_shape": 7}, (2, 4, 5),
        (2, 6, 3), (2, 6, 2), id="cross-key-value_dim-output_shape"),
    MHA({"num_heads": 2, "key_dim": 3, "use_bias": False}, (2, 4, 5), (2, 4, 5),
        id="no-bias"),
    MHA({"num_heads": 2, "key_dim": 3}, (2, 5, 4), (2, 5, 4), call={"use_causal_mask": True},
        id="causal"),
    MHA({"num_heads": 2, "key_dim": 3}, (2, 4, 5), (2, 6, 5), masks=("attention",),
        id="attention_mask"),
    MHA({"num_heads": 2, "key_dim": 3}, (2, 5, 4), (2, 5, 4), masks=("padding",),
        id="padding-masks"),
    MHA({"num_heads": 2, "key_dim": 3}, (2, 5, 4), (2, 5, 4), masks=("padding", "attention"),
        call={"use_causal_mask": True}, id="padding-attention-causal"),
    MHA({"num_heads": 2, "key_dim": 2, "attention_axes": (2,)}, (2, 3, 4, 5), (2, 3, 2, 5),
        id="attention_axes-2"),
    MHA({"num_heads": 2, "key_dim": 2, "attention_axes": (1, 2)}, (2, 3, 2, 5), (2, 2, 2, 4),
        masks=("attention",), id="attention_axes-1-2-masked"),
    MHA({"num_heads": 2, "key_dim": 3, "use_gate": True, "sliding_window": 2}, (2, 5, 4),
        (2, 5, 4), id="gate-sliding_window"),
    MHA({"num_heads": 2, "key_dim": 3, "dropout": 0.3, "seed": 1}, (2, 4, 5), (2, 4, 5),
        id="dropout-inference"),
]
MHA_IDS = [c.id for c in MHA_CASES]


def _arrays(case, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=case.query).astype("float32")
    v = rng.normal(size=case.value).astype("float32")
    k = None if case.key is None else rng.normal(size=case.key).astype("float32")
    masks = {}
    if "padding" in case.masks:
        # Trailing padding, as Embedding(mask_zero=True) marks it; sample 1 has none.
        q_mask = np.ones(case.query[:-1], bool)
        q_mask[0, -2:] = False
        v_mask = np.ones(case.value[:-1], bool)
        v_mask[0, -1:] = False
        masks.update(query_mask=q_mask, value_mask=v_mask)
    if "attention" in case.masks:
        axes = case.kwargs.get("attention_axes") or (1,)
        axes = (axes,) if isinstance(axes, int) else tuple(axes)
        rank = len(case.query)
        shape = ([d for i, d in enumerate(case.query[:-1]) if i not in axes]
                 + [case.query[i] for i in axes] + [case.value[i] for i in axes])
        mask = rng.uniform(size=shape) > 0.3
        # every query position keeps at least one key
        flat = mask.reshape(-1, int(np.prod([case.value[i] for i in axes])))
        flat[:, 0] = True
        masks["attention_mask"] = flat.reshape(shape)
        assert rank >= 3
    return q, v, k, masks


def _pair(case, k):
    """Our layer and Keras's, built on the same shapes and holding the same random weights."""
    ours = keras.layers.MultiHeadAttention(**case.kwargs)
    theirs = k.layers.MultiHeadAttention(**case.kwargs)
    q, v, key, _ = _arrays(case)
    extra = {} if key is None else {"key": key}
    ours(tf.constant(q), tf.constant(v), **{n: tf.constant(a) for n, a in extra.items()})
    theirs(q, v, **extra)
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    rng = np.random.default_rng(5)
    for w in ours.weights:
        w.assign(rng.uniform(-0.6, 0.6, size=tuple(w.shape)).astype("float32"))
    theirs.set_weights(ours.get_weights())
    return ours, theirs


def _call_ours(layer, q, v, key, masks, call, **extra):
    # (the query's mask rides on the query, as Keras reads it; value/key masks are arguments)
    kwargs = {n: tf.constant(a) for n, a in masks.items() if n != "query_mask"}
    if "query_mask" in masks:
        q._keras_mask = tf.constant(masks["query_mask"])
    if key is not None:
        kwargs["key"] = key
    return layer(q, v, **kwargs, **call, **extra)


def _call_theirs(k, layer, q, v, key, masks, call, **extra):
    """Keras reads query/value masks from the tensors (as Embedding(mask_zero=True) sets
    them); only attention_mask is an argument."""
    import torch
    from keras.src.backend import set_keras_mask

    kwargs = {}
    if "query_mask" in masks:
        set_keras_mask(q, torch.tensor(masks["query_mask"]))
        set_keras_mask(v, torch.tensor(masks["value_mask"]))
    if "attention_mask" in masks:
        kwargs["attention_mask"] = torch.tensor(masks["attention_mask"])
    if key is not None:
        kwargs["key"] = key
    return layer(q, v, **kwargs, **call, **extra)


@pytest.mark.keras_oracle
@pytest.mark.parametrize("case", MHA_CASES, ids=MHA_IDS)
def test_multi_head_attention_matches_keras(case, real_keras):
    """Outputs, attention scores and gradients (inputs and all eight weights) agree."""
    import torch

    ours, theirs = _pair(case, real_keras)
    q, v, key, masks = _arrays(case, seed=1)
    tq, tv = tf.constant(q), tf.constant(v)
    tk = None if key is None else tf.constant(key)
    with tf.GradientTape() as tape:
        tape.watch([tq, tv] + ([] if tk is None else [tk]))
        out, scores = _call_ours(ours, tq, tv, tk, masks, case.call,
                                 return_attention_scores=True)
    pq, pv = torch.tensor(q, requires_grad=True), torch.tensor(v, requires_grad=True)
    pk = None if key is None else torch.tensor(key, requires_grad=True)
    out_k, scores_k = _call_theirs(real_keras, theirs, pq, pv, pk, masks, case.call,
                                   return_attention_scores=True)
    assert_matches(out, out_k, RTOL, ATOL, f"{case.id} output")
    assert_matches(scores, scores_k, RTOL, ATOL, f"{case.id} scores")

    cotangent = np.random.default_rng(7).normal(size=tuple(out.shape)).astype("float32")
    sources = [tq, tv] + ([] if tk is None else [tk]) + list(ours.trainable_weights)
    grads = tape.gradient(out, sources, output_gradients=tf.constant(cotangent))
    (out_k * torch.tensor(cotangent)).sum().backward()
    theirs_sources = [pq, pv] + ([] if pk is None else [pk]) + [
        w.value for w in theirs.trainable_weights]
    for index, (g, t) in enumerate(zip(grads, theirs_sources)):
        expected = t.grad if t.grad is not None else torch.zeros_like(t)
        assert_matches(g, expected, RTOL, 1e-5, f"{case.id} gradient {index}")

    # The output alone (Keras may take its fused dot_product_attention path) agrees too,
    # except on padded query rows, whose values Keras's two paths do not agree on.
    out2 = _call_ours(ours, tq, tv, tk, masks, case.call)
    out2_k = _call_theirs(real_keras, theirs, torch.tensor(q), torch.tensor(v),
                          None if key is None else torch.tensor(key), masks, case.call)
    keep = masks["query_mask"][..., None] if "query_mask" in masks else True
    assert_matches(np.where(keep, out2.numpy(), 0), np.where(keep, out2_k.detach().numpy(), 0),
                   RTOL, ATOL, f"{case.id} output without scores")


@pytest.mark.keras_oracle
@pytest.mark.parametrize("case", [c for c in MHA_CASES if "dropout" not in c.kwargs],
                         ids=[c.id for c in MHA_CASES if "dropout" not in c.kwargs])
def test_multi_head_attention_adam_steps_match_keras(case, real_keras):
    """Same weights, inputs and loss: three Adam steps leave the same eight weights."""
    import torch

    ours, theirs = _pair(case, real_keras)
    q, v, key, masks = _arrays(case, seed=2)
    target = None
    opt, opt_k = keras.optimizers.Adam(0.05), real_keras.optimizers.Adam(0.05)
    for _ in range(3):
        with tf.GradientTape() as tape:
            out = _call_ours(ours, tf.constant(q), tf.constant(v),
                             None if key is None else tf.constant(key), masks, case.call,
                             return_attention_scores=True)[0]
            if target is None:
                target = np.random.default_rng(4).normal(size=tuple(out.shape)).astype(
                    "float32")
            loss = tf.reduce_mean(tf.square(out - target))
        opt.apply_gradients(zip(tape.gradient(loss, ours.trainable_weights),
                                ours.trainable_weights))
        out_k = _call_theirs(real_keras, theirs, torch.tensor(q), torch.tensor(v),
                             None if key is None else torch.tensor(key), masks, case.call,
                             return_attention_scores=True)[0]
        loss_k = torch.mean(torch.square(out_k - torch.tensor(target)))
        grads_k = torch.autograd.grad(loss_k, [w.value for w in theirs.trainable_weights])
        opt_k.apply(list(grads_k), theirs.trainable_weights)
    for w, w_k in zip(ours.weights, theirs.weights):
        if w.path.endswith("key/bias"):
            # Softmax ignores a shift shared by a query's scores, so the key bias gradient is
            # zero up to rounding, which Adam's normalisation turns into +-lr steps in both.
            assert np.abs(w.numpy() - w_k.value.detach().numpy()).max() <= 3 * 0.05 * 2
            continue
        assert_matches(w, w_k.value, rtol=1e-5, atol=2e-6, what=f"{case.id} {w.path}")


@pytest.mark.keras_oracle
@pytest.mark.parametrize("case", MHA_CASES, ids=MHA_IDS)
def test_multi_head_attention_configs_match_keras(case, real_keras):
    """get_config (before and after build), build config, and a Keras config loading here."""
    ours, theirs = _pair(case, real_keras)
    assert json.loads(json.dumps(ours.get_config())) == json.loads(json.dumps(
        theirs.get_config()))
    assert json.loads(json.dumps(ours.get_build_config())) == json.loads(json.dumps(
        theirs.get_build_config()))
    loaded = keras.layers.MultiHeadAttention.from_config(
        json.loads(json.dumps(theirs.get_config())))
    loaded.build_from_config(json.loads(json.dumps(theirs.get_build_config())))
    loaded.set_weights(theirs.get_weights())
    q, v, key, masks = _arrays(case, seed=3)
    expected = _call_ours(ours, tf.constant(q), tf.constant(v),
                          None if key is None else tf.constant(key), masks, case.call)
    got = _call_ours(loaded, tf.constant(q), tf.constant(v),
                     None if key is None else tf.constant(key), masks, case.call)
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


@pytest.mark.keras_oracle
def test_masks_from_embedding_combine_with_attention_mask(real_keras):
    """Embedding(mask_zero=True) masks on query and value AND an explicit attention_mask:
    Keras propagates the Embedding masks itself; here they are the layer's mask arguments."""
    import torch

    k = real_keras
    ids = np.array([[3, 1, 4, 0, 0], [2, 7, 1, 8, 2]], "int32")
    attention = np.ones((2, 5, 5), bool)
    attention[1, :, 3] = False
    emb, emb_k = (keras.layers.Embedding(10, 4, mask_zero=True),
                  k.layers.Embedding(10, 4, mask_zero=True))
    mha, mha_k = (keras.layers.MultiHeadAttention(2, 3),
                  k.layers.MultiHeadAttention(2, 3))
    x = emb(tf.constant(ids))
    mask = emb.compute_mask(tf.constant(ids))
    mha(x, x)
    x_k = emb_k(torch.tensor(ids))
    mha_k(x_k, x_k)
    emb_k.set_weights(emb.get_weights())
    rng = np.random.default_rng(0)
    for w in mha.weights:
        w.assign(rng.uniform(-0.6, 0.6, size=tuple(w.shape)).astype("float32"))
    mha_k.set_weights(mha.get_weights())
    out, scores = mha(x, x, query_mask=mask, value_mask=mask,
                      attention_mask=tf.constant(attention), return_attention_scores=True)
    x_k = emb_k(torch.tensor(ids))
    out_k, scores_k = mha_k(x_k, x_k, attention_mask=torch.tensor(attention),
                            return_attention_scores=True)
    assert_matches(out, out_k, RTOL, ATOL, "output")
    assert_matches(scores, scores_k, RTOL, ATOL, "scores")
    # padded keys and the masked key 3 of sample 1 get no weight on unpadded query rows
    s = scores.numpy()
    assert np.all(s[0, :, :3, 3:] == 0) and np.all(s[1, :, :, 3] == 0)


# ---------------------------------------------------------------------- behaviour
def test_multi_head_attention_weights_and_paths():
    mha = keras.layers.MultiHeadAttention(num_heads=4, key_dim=8, name="mha")
    out = mha(tf.ones((2, 6, 16)), tf.ones((2, 3, 16)))
    assert tuple(out.shape) == (2, 6, 16)
    assert [(w.path, tuple(w.shape)) for w in mha.weights] == [
        ("mha/query/kernel", (16, 4, 8)), ("mha/query/bias", (4, 8)),
        ("mha/key/kernel", (16, 4, 8)), ("mha/key/bias", (4, 8)),
        ("mha/value/kernel", (16, 4, 8)), ("mha/value/bias", (4, 8)),
        ("mha/attention_output/kernel", (4, 8, 16)), ("mha/attention_output/bias", (16,))]
    assert mha.query_dense is mha._query_dense and mha.output_dense.name == "attention_output"
    assert all(isinstance(layer, keras.layers.EinsumDense) for layer in (
        mha.query_dense, mha.key_dense, mha.value_dense, mha.output_dense))
    assert mha.count_params() == 3 * (16 * 32 + 32) + 32 * 16 + 16


def test_multi_head_attention_causal_scores_are_lower_triangular():
    mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)
    x = tf.random.normal((2, 4, 5), seed=1)
    _, scores = mha(x, x, use_causal_mask=True, return_attention_scores=True)
    s = scores.numpy()
    assert np.all(np.triu(np.ones((4, 4)), 1)[None, None] * s == 0)
    np.testing.assert_allclose(s.sum(-1), 1.0, rtol=1e-6)


def test_multi_head_attention_dropout_only_in_training_and_seeded():
    x = tf.random.normal((2, 4, 5), seed=2)
    mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, dropout=0.5, seed=3)
    inference = mha(x, x).numpy()
    np.testing.assert_array_equal(inference, mha(x, x, training=False).numpy())
    trained = mha(x, x, training=True).numpy()
    assert not np.allclose(trained, inference)
    twin = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, dropout=0.5, seed=3)
    twin(x, x)
    twin.set_weights(mha.get_weights())
    mha2 = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, dropout=0.5, seed=3)
    mha2(x, x)
    mha2.set_weights(mha.get_weights())
    np.testing.assert_array_equal(twin(x, x, training=True).numpy(),
                                  mha2(x, x, training=True).numpy())


def test_multi_head_attention_in_a_functional_model_with_config_round_trip():
    q_in, v_in = keras.Input((4, 5)), keras.Input((6, 3))
    out, scores = keras.layers.MultiHeadAttention(2, 3, name="mha")(
        q_in, v_in, return_attention_scores=True)
    assert out.shape == (None, 4, 5) and scores.shape == (None, 2, 4, 6)
    model = keras.Model([q_in, v_in], [out, scores])
    q = np.random.default_rng(0).normal(size=(2, 4, 5)).astype("float32")
    v = np.random.default_rng(1).normal(size=(2, 6, 3)).astype("float32")
    expected = model([q, v])
    clone = keras.Model.from_config(json.loads(json.dumps(model.get_config())))
    clone.set_weights(model.get_weights())
    for a, b in zip(clone([q, v]), expected):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    layer = model.get_layer("mha")
    restored = _config_round_trip(layer)
    restored.build_from_config(layer.get_build_config())
    assert [tuple(w.shape) for w in restored.weights] == [tuple(w.shape) for w in layer.weights]


def test_multi_head_attention_with_a_mask_input_trains_in_a_model():
    """attention_mask as a model input, a causal mask and dropout, with an unknown batch size
    while tracing: fit runs and lowers the loss."""
    q_in, m_in = keras.Input((4, 5)), keras.Input((4, 4), dtype="bool")
    out = keras.layers.MultiHeadAttention(2, 3, dropout=0.1, seed=1)(
        q_in, q_in, attention_mask=m_in, use_causal_mask=True)
    model = keras.Model([q_in, m_in], out)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4, 5)).astype("float32")
    mask = rng.uniform(size=(16, 4, 4)) > 0.3
    mask[..., 0] = True
    model.compile(keras.optimizers.Adam(0.01), "mse")
    losses = model.fit([x, mask], x, batch_size=4, epochs=3, verbose=0).history["loss"]
    assert losses[-1] < losses[0], losses


@pytest.mark.keras_oracle
def test_saved_files_interchange_with_keras(real_keras, tmp_path):
    """A model with MultiHeadAttention and EinsumDense: the .weights.h5 layout
    (layers/multi_head_attention/query_dense/vars/0 ...) and the .keras file load both ways."""
    k = real_keras

    def build(lib):
        q = lib.Input((4, 5))
        h = lib.layers.MultiHeadAttention(2, 3)(q, q)
        return lib.Model(q, lib.layers.EinsumDense("abc,cd->abd", (None, 2), bias_axes="d")(h))

    ours, theirs = build(keras), build(k)
    x = np.random.default_rng(0).normal(size=(2, 4, 5)).astype("float32")
    ours.save_weights(str(tmp_path / "ours.weights.h5"))
    theirs.load_weights(str(tmp_path / "ours.weights.h5"))
    assert_matches(ours(x), theirs(x), RTOL, ATOL, "weights.h5 ours -> Keras")
    ours.save(str(tmp_path / "ours.keras"))
    assert_matches(ours(x), k.models.load_model(str(tmp_path / "ours.keras"))(x), RTOL, ATOL,
                   ".keras ours -> Keras")
    theirs = build(k)
    theirs.save(str(tmp_path / "theirs.keras"))
    loaded = keras.models.load_model(str(tmp_path / "theirs.keras"))
    assert_matches(loaded(x), theirs(x), RTOL, ATOL, ".keras Keras -> ours")


def test_symbolic_masks_propagate_like_keras():
    ids = keras.Input((5,), dtype="int32")
    x = keras.layers.Embedding(10, 4, mask_zero=True)(ids)
    y = keras.layers.MultiHeadAttention(2, 3)(x, x)
    assert y._keras_mask is not None and y._keras_mask.shape == (None, 5)
    z = keras.layers.Attention()([x, x])
    assert z._keras_mask is not None and z._keras_mask.shape == (None, 5)


def test_attention_masks_follow_keras_rules():
    q = tf.constant(np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32"))
    v = tf.constant(np.random.default_rng(1).normal(size=(2, 5, 4)).astype("float32"))
    q_mask = tf.constant([[True, True, False], [True, True, True]])
    v_mask = tf.constant([[True, True, True, False, False], [True] * 5])
    layer = keras.layers.Attention()
    out, scores = layer([q, v], mask=[q_mask, v_mask], return_attention_scores=True)
    assert np.all(scores.numpy()[0, :, 3:] == 0)
    assert np.all(out.numpy()[0, 2] == 0) and np.any(out.numpy()[1, 2] != 0)
    _, causal = layer([q, v], use_causal_mask=True, return_attention_scores=True)
    assert np.all(np.triu(np.ones((3, 5)), 1)[None] * causal.numpy() == 0)


def _raises(parts, fn):
    with pytest.raises(ValueError) as info:
        fn()
    for part in parts:
        assert part in str(info.value), f"{part!r} not in: {info.value}"


def test_bad_masks_and_shapes_name_the_layer():
    x, y = tf.ones((2, 4, 5)), tf.ones((2, 6, 5))
    mha = keras.layers.MultiHeadAttention(2, 3, name="mha")
    mha(x, y)
    _raises(["MultiHeadAttention 'mha'", "attention_mask", "(2, 4, 6)", "(2, 5, 6)"],
            lambda: mha(x, y, attention_mask=tf.ones((2, 5, 6), "bool")))
    _raises(["MultiHeadAttention 'mha'", "value_mask", "(2, 6)", "(2, 4)"],
            lambda: mha(x, y, value_mask=tf.ones((2, 4), "bool")))
    _raises(["MultiHeadAttention 'mha'", "query", "(None, 4, 5)", "(2, 4, 7)"],
            lambda: mha(tf.ones((2, 4, 7)), y))
    _raises(["MultiHeadAttention 'mha'", "batch sizes", "(2, 4, 5)", "(3, 6, 5)"],
            lambda: mha(x, tf.ones((3, 6, 5))))
    _raises(["MultiHeadAttention 'm2'", "value_shape=(2, 6, 5)", "key_shape=(2, 5, 5)"],
            lambda: keras.layers.MultiHeadAttention(2, 3, name="m2")(x, y,
                                                                      key=tf.ones((2, 5, 5))))
    _raises(["invalid value for argument `num_heads`"],
            lambda: keras.layers.MultiHeadAttention(0, 3))
    att = keras.layers.Attention(name="att")
    _raises(["Attention 'att'", "same last dimension", "(2, 4, 5)", "(2, 6, 3)"],
            lambda: att([x, tf.ones((2, 6, 3))]))
    _raises(["Attention 'att'", "value mask", "(2, 6)", "(2, 5)"],
            lambda: att([x, y], mask=[None, tf.ones((2, 5), "bool")]))
    _raises(["Attention 'att'", "list of inputs"], lambda: att(x))
    _raises(["EinsumDense 'ed'", "input shape and output shape do not match", "'b'",
             "(2, 3, 5)"],
            lambda: keras.layers.EinsumDense("abc,cd->abd", (4, 2), name="ed")(x[:, :3]))
    _raises(["EinsumDense 'ed2'", "invalid einsum equation"],
            lambda: keras.layers.EinsumDense("ab,bc", 4, name="ed2")(tf.ones((2, 5))))
    _raises(["EinsumDense 'ed3'", "bias dimension 'x'"],
            lambda: keras.layers.EinsumDense("ab,bc->ac", 4, bias_axes="x", name="ed3")(
                tf.ones((2, 5))))


def test_einsum_dense_kernel_initializer_uses_einsum_fans():
    """Keras computes glorot fans of the (d, heads, key_dim) kernel over its input axis and
    output axes: limit sqrt(6 / (16 + 4 * 64))."""
    layer = keras.layers.EinsumDense("abc,cde->abde", (None, 4, 64), bias_axes="de")
    layer.build((None, 3, 16))
    limit = (6.0 / (16 + 4 * 64)) ** 0.5
    kernel = layer.kernel.numpy()
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.8 * limit
    assert layer.get_config()["kernel_initializer"]["config"]["input_axes"] is None


# ---------------------------------------------------------------------- keras-io Transformer
class TransformerBlock(keras.layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.att = keras.layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential([keras.layers.Dense(ff_dim, activation="relu"),
                                     keras.layers.Dense(embed_dim)])
        self.layernorm1 = keras.layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = keras.layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = keras.layers.Dropout(rate)
        self.dropout2 = keras.layers.Dropout(rate)

    def call(self, inputs, training=False):
        attn_output = self.att(inputs, inputs)
        attn_output = self.dropout1(attn_output, training=training)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output, training=training)
        return self.layernorm2(out1 + ffn_output)


class TokenAndPositionEmbedding(keras.layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.token_emb = keras.layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = keras.layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        # keras-io writes `ops.shape(x)[-1]`, a Python int; tensorflux has no keras.ops yet and
        # tf.range needs a static limit inside tf.function, so the static shape is used.
        maxlen = x.shape[-1]
        positions = tf.range(start=0, limit=maxlen, delta=1)
        positions = self.pos_emb(positions)
        x = self.token_emb(x)
        return x + positions


def test_keras_io_transformer_text_classifier_trains():
    """examples/nlp/text_classification_with_transformer.py on generated tokens: the class is
    whether token 1 occurs in the sequence; two epochs lower the loss."""
    vocab_size, maxlen, embed_dim, num_heads, ff_dim = 50, 12, 16, 2, 16
    rng = np.random.default_rng(0)
    x = rng.integers(2, vocab_size, size=(256, maxlen)).astype("int32")
    y = rng.integers(0, 2, size=(256,)).astype("int32")
    for row, label in zip(x, y):
        if label:
            row[rng.integers(0, maxlen)] = 1

    keras.utils.set_random_seed(0)
    inputs = keras.layers.Input(shape=(maxlen,))
    embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
    h = embedding_layer(inputs)
    transformer_block = TransformerBlock(embed_dim, num_heads, ff_dim)
    h = transformer_block(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    h = keras.layers.Dropout(0.1)(h)
    h = keras.layers.Dense(20, activation="relu")(h)
    h = keras.layers.Dropout(0.1)(h)
    outputs = keras.layers.Dense(2, activation="softmax")(h)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=3, validation_data=(x[:64], y[:64]),
                        verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0], losses
    assert len(transformer_block.trainable_weights) == 8 + 4 + 4
    probabilities = model.predict(x[:4], verbose=0)
    assert probabilities.shape == (4, 2)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)
