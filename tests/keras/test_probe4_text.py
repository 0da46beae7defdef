"""Probe round s8 (text): MultiHeadAttention with Keras masks carried by its inputs, the
lookup layers' encodings (int64 outputs, mask tokens, hashed OOV slots, errors before adapt,
RaggedTensor inputs), TextVectorization with a ragged custom split, and tf.strings on
RaggedTensors (ngrams, reduce_join, unicode_split, substr).

Attention is compared live with Keras 3.15.1 on torch. Keras's lookup layers need
TensorFlow even on torch, so their expected values were recorded from Keras 3.15.1 with
TensorFlow 2.21 running these very inputs (noted "recorded"), or follow from the rule named.
"""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors, keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras, to_numpy  # noqa: F401

pytestmark = pytest.mark.keras_oracle

L = keras.layers


# ---------------------------------------------------------------- MultiHeadAttention masks

def _masked_attention_pair(rng, make):
    """The same Embedding(mask_zero) -> attention model in tensorflux and Keras, on
    sequences of unknown length (masks of unknown batch and lengths while tracing)."""
    real = import_keras()
    models = []
    for k in (keras, real):
        tokens = k.Input((None,), dtype="int32")
        h = k.layers.Embedding(7, 4, mask_zero=True)(tokens)
        out = make(k.layers)(h, h)
        models.append(k.Model(tokens, [out, k.layers.GlobalAveragePooling1D()(out)]))
    weights = [rng.standard_normal(w.shape).astype("float32") * 0.5
               for w in models[1].get_weights()]
    for model in models:
        model.set_weights(weights)
    return models


@pytest.mark.parametrize("make", [
    lambda layers: layers.MultiHeadAttention(2, 2),
    lambda layers: layers.GroupQueryAttention(head_dim=2, num_query_heads=2,
                                              num_key_value_heads=1),
], ids=["mha", "gqa"])
def test_attention_reads_the_masks_its_inputs_carry(make):
    ours, theirs = _masked_attention_pair(np.random.default_rng(0), make)
    x = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0]], "int32")
    for a, b in zip(ours.predict(x, verbose=0), theirs.predict(x, verbose=0)):
        assert_matches(a, b, rtol=1e-5, atol=1e-5, what="masked attention")


def test_mha_fully_masked_rows_as_keras_fused_and_score_paths():
    real = import_keras()
    rng = np.random.default_rng(1)
    x = rng.random((1, 5, 4)).astype("float32")
    keep = np.array([[1, 1, 1, 0, 0]], bool)
    mask = keep[:, :, None] & keep[:, None, :]  # rows 3 and 4 attend to nothing
    layers = [L.MultiHeadAttention(2, 2), real.layers.MultiHeadAttention(2, 2)]
    for layer in layers:
        layer(x, x)
    weights = [rng.standard_normal(w.shape).astype("float32") for w in layers[1].get_weights()]
    for layer in layers:
        layer.set_weights(weights)
    ours, theirs = (layer(x, x, attention_mask=mask) for layer in layers)
    assert_matches(ours, theirs, rtol=1e-5, atol=1e-5, what="fused path: uniform rows")
    assert np.abs(to_numpy(ours)[0, 3]).sum() > 0
    (ours, our_scores), (theirs, their_scores) = (
        layer(x, x, attention_mask=mask, return_attention_scores=True) for layer in layers)
    assert_matches(ours, theirs, rtol=1e-5, atol=1e-5, what="score path: zero rows")
    assert_matches(our_scores, their_scores, rtol=1e-5, atol=1e-6, what="scores")


def test_mha_without_value_is_a_type_error():
    with pytest.raises(TypeError, match="MultiHeadAttention.*missing a required argument"):
        L.MultiHeadAttention(2, 3)(np.ones((2, 4, 6), "float32"))


# ---------------------------------------------------------------- lookup layers

def test_lookup_encodings_are_int64_and_tf_idf_float32():
    # Keras encodes in the lookup's int64 value dtype (recorded: int64 arrays under TF).
    vocab = ["a", "b", "c", "d"]
    data = tf.constant([["a", "c", "d"], ["d", "z", "b"]])
    multi = L.StringLookup(vocabulary=vocab, output_mode="multi_hot")(data)
    assert multi.dtype == tf.int64
    assert multi.numpy().tolist() == [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]]
    count = L.StringLookup(vocabulary=vocab, output_mode="count")(tf.constant([["a", "a", "z"]]))
    assert count.dtype == tf.int64 and count.numpy().tolist() == [[1, 2, 0, 0, 0]]
    one_hot = L.IntegerLookup(vocabulary=[12, 36], output_mode="one_hot")(tf.constant([12, 5]))
    assert one_hot.dtype == tf.int64 and one_hot.numpy().tolist() == [[0, 1, 0], [1, 0, 0]]
    idf = L.StringLookup(vocabulary=vocab, output_mode="tf_idf",
                         idf_weights=[0.3, 0.2, 0.1, 0.4])(tf.constant([["a", "a", "z"]]))
    assert idf.dtype == tf.float32
    # the OOV slot weighs the mean idf: 0.25
    np.testing.assert_allclose(idf.numpy(), [[0.25, 0.6, 0, 0, 0]], rtol=1e-6)
    vectorize = L.TextVectorization(output_mode="multi_hot", vocabulary=["x", "y"])
    assert vectorize(["x z"]).dtype == tf.int64


def test_lookups_called_before_adapt_raise():
    with pytest.raises(errors.FailedPreconditionError, match="no vocabulary.*adapt"):
        L.StringLookup()(tf.constant(["a"]))
    with pytest.raises(errors.FailedPreconditionError, match="no vocabulary.*adapt"):
        L.TextVectorization()(["hello world"])
    with pytest.raises(RuntimeError, match="output_mode=multi_hot.*set the layer's vocab"):
        L.IntegerLookup(output_mode="multi_hot")(tf.constant([1]))
    # building a model around an un-adapted layer is fine, as in Keras
    inputs = keras.Input((1,), dtype="string")
    model = keras.Model(inputs, L.TextVectorization(output_sequence_length=3)(inputs))
    assert model.output_shape == (None, 3)


def test_hashed_oov_slots():
    # recorded from TensorFlow: FarmHash Fingerprint64 buckets (SipHash with a salt)
    vocab = ["a", "b", "c", "d"]
    layer = L.StringLookup(vocabulary=vocab, num_oov_indices=2)
    assert layer(tf.constant(["a", "zz", "yy", "q"])).numpy().tolist() == [2, 0, 1, 1]
    layer = L.StringLookup(vocabulary=["a"], num_oov_indices=3, mask_token="")
    assert layer(tf.constant(["x", "y", "zz", "a", ""])).numpy().tolist() == [3, 3, 2, 4, 0]
    salted = L.StringLookup(vocabulary=["a"], num_oov_indices=3, salt=[1, 2])
    assert salted(tf.constant(["x", "y", "zz", "a"])).numpy().tolist() == [1, 1, 1, 3]
    # IntegerLookup hashes the decimal text with oov_method="farmhash"
    farm = L.IntegerLookup(vocabulary=[5, 6], num_oov_indices=3, oov_method="farmhash")
    assert farm(tf.constant([1, 2, 3, 100, 5])).numpy().tolist() == [0, 1, 0, 0, 3]


def test_mask_token_outside_int_mode_has_no_slot_and_is_dropped():
    # Keras's rule (recorded alike): the mask takes index 0 in "int" mode only
    layer = L.StringLookup(vocabulary=["a", "b"], mask_token="", output_mode="multi_hot")
    assert layer.get_vocabulary() == ["[UNK]", "a", "b"] and layer.vocabulary_size() == 3
    assert layer(tf.constant([["a", "", "z"]])).numpy().tolist() == [[1, 1, 0]]
    counted = L.StringLookup(mask_token="[M]", output_mode="count")
    counted.adapt(tf.constant([["a", "[M]", "b", "a"]]))
    assert counted.get_vocabulary() == ["[UNK]", "a", "b"]
    assert counted(tf.constant([["a", "[M]", "[M]", "q"]])).numpy().tolist() == [[1, 1, 0]]
    ints = L.IntegerLookup(vocabulary=[5, 6], mask_token=0, output_mode="multi_hot")
    assert ints.get_vocabulary() == [-1, 5, 6]
    assert ints(tf.constant([[5, 0, 9]])).numpy().tolist() == [[1, 1, 0]]


def test_adapt_never_learns_special_tokens_and_oov_may_be_in_vocabulary():
    layer = L.StringLookup(mask_token="[M]")
    layer.adapt(tf.constant([["a", "[M]", "b", "a", "[UNK]"]]))
    assert layer.get_vocabulary() == ["[M]", "[UNK]", "a", "b"]
    # the OOV token is reserved only when invert maps indices back to it
    layer = L.StringLookup(vocabulary=["a", "[UNK]", "b"])
    assert layer(tf.constant(["b", "[UNK]"])).numpy().tolist() == [3, 2]
    with pytest.raises(ValueError, match=r"reserved token '\[UNK\]'.*index 1"):
        L.StringLookup(vocabulary=["a", "[UNK]", "b"], invert=True)
    with pytest.raises(ValueError, match=r"repeated term.*\['a'\]"):
        L.StringLookup(vocabulary=["a", "a"])


def test_lookups_take_ragged_tensors():
    # TensorFlow's "Text generation with an RNN" tutorial (recorded ids)
    vocab = sorted(set("First Citizen: Before we proceed"))
    chars = tf.strings.unicode_split(["abcdef", "xyz"], input_encoding="UTF-8")
    ids_from_chars = L.StringLookup(vocabulary=vocab, mask_token=None)
    chars_from_ids = L.StringLookup(vocabulary=ids_from_chars.get_vocabulary(), invert=True,
                                    mask_token=None)
    ids = ids_from_chars(chars)
    assert isinstance(ids, tf.RaggedTensor)
    index = {c: i + 1 for i, c in enumerate(vocab)}
    assert ids.to_list() == [[index.get(c, 0) for c in "abcdef"], [0, 0, index["z"]]]
    text = tf.strings.reduce_join(chars_from_ids(ids), axis=-1).numpy().tolist()
    assert text == [b"[UNK][UNK]cdef", b"[UNK][UNK]z"]
    multi = L.StringLookup(vocabulary=["a", "b", "c"], output_mode="count")
    counts = multi(tf.ragged.constant([["a", "a", "z"], ["c"], []]))
    assert counts.numpy().tolist() == [[1, 2, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]


def test_hashing_runs_inside_traced_calls():
    # recorded from TensorFlow: bins of "A".."E" (5 bins), and of "a", "b", "c" with salt 7
    hashing = L.Hashing(num_bins=5)
    model = keras.Sequential([keras.Input((1,), dtype="string"), hashing])
    x = tf.constant([["A"], ["B"], ["C"], ["D"], ["E"]])
    assert model.predict(x, verbose=0).tolist() == [[4], [3], [2], [0], [2]]
    salted = L.Hashing(num_bins=6, salt=7)
    pipeline = tf.data.Dataset.from_tensor_slices(["a", "b", "c"]).batch(3).map(salted)
    assert [b.numpy().tolist() for b in pipeline] == [[0, 1, 4]]
    trained = keras.Sequential([keras.Input((1,), dtype="int64"), L.Hashing(num_bins=4),
                                L.Embedding(4, 2), L.Flatten(), L.Dense(1)])
    trained.compile("sgd", "mse")
    history = trained.fit(np.array([[1], [20], [300]]), np.ones(3), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


# ---------------------------------------------------------------- TextVectorization

def test_text_vectorization_with_a_ragged_custom_split():
    # recorded: empty tokens of the split are the mask token "", index 0 / left out
    def split(s):
        return tf.strings.split(s, sep=",")
    ints = L.TextVectorization(split=split, standardize=None)
    ints.adapt(["a,b", "b,c,,"])
    assert ints.get_vocabulary() == ["", "[UNK]", "b", "c", "a"]
    assert ints(["a,c", "a,,"]).numpy().tolist() == [[4, 3, 0], [4, 0, 0]]
    counts = L.TextVectorization(split=split, standardize=None, output_mode="count")
    counts.adapt(["a,b", "b,c,,"])
    assert counts.get_vocabulary() == ["[UNK]", "b", "c", "a"]
    assert counts(["a,c", "a,,"]).numpy().tolist() == [[0, 0, 1, 1], [0, 0, 0, 1]]
    grams = L.TextVectorization(split=split, standardize=None, ngrams=2)
    grams.adapt(["a,b"])
    assert grams.get_vocabulary() == ["", "[UNK]", "b", "a b", "a"]
    assert grams(["a,b,c"]).numpy().tolist() == [[4, 2, 1, 3, 1]]


def test_adapt_reads_steps_batches_of_datasets_and_iterables():
    # Keras: `steps` batches of a Dataset or an iterable (recorded: ["", "[UNK]", "b", "a"])
    vectorize = L.TextVectorization()
    vectorize.adapt(tf.data.Dataset.from_tensor_slices(["a", "b b", "c c c"]).batch(1), steps=2)
    assert vectorize.get_vocabulary() == ["", "[UNK]", "b", "a"]

    def batches():
        yield np.array(["x", "y"])
        yield np.array(["y"])
        yield np.array(["z", "z", "z"])

    lookup = L.StringLookup()
    lookup.adapt(batches(), steps=2)
    assert lookup.get_vocabulary() == ["[UNK]", "y", "x"]
    with pytest.raises(ValueError, match="`idf_weights` argument must also be provided"):
        L.TextVectorization(output_mode="tf_idf", vocabulary=["a", "b"])


@keras.saving.register_keras_serializable(package="probe4_text")
def _strip_html(text):
    return tf.strings.regex_replace(tf.strings.lower(text), "<br />", " ")


@keras.saving.register_keras_serializable(package="probe4_text")
def _split_commas(text):
    return tf.strings.split(text, sep=",")


def test_text_vectorization_with_registered_callables_saves_and_loads(tmp_path):
    # keras.io "text classification from scratch": a custom standardize in a saved model;
    # the config holds the function's registered name, as Keras writes it
    vectorize = L.TextVectorization(standardize=_strip_html, split=_split_commas,
                                    ngrams=(1, 2), output_sequence_length=4)
    vectorize.adapt(["A,b<br />", "b,c"])
    inputs = keras.Input((1,), dtype="string")
    model = keras.Model(inputs, vectorize(inputs))
    model.save(tmp_path / "text.keras")
    loaded = keras.models.load_model(tmp_path / "text.keras")
    layer = loaded.layers[1]
    assert layer.get_config()["standardize"] is _strip_html
    assert layer.get_config()["split"] is _split_commas and layer.get_config()["ngrams"] == (1, 2)
    x = tf.constant([["a,B<br />"], ["c,a"]])
    assert loaded.predict(x, verbose=0).tolist() == model.predict(x, verbose=0).tolist()


def test_sequential_without_input_starting_with_text_layers():
    # TensorFlow's "Text classification with an RNN" tutorial: no Input layer, so the model
    # is built from the first batch with the first layer's dtype, "string" as in Keras
    encoder = L.TextVectorization(max_tokens=30)
    encoder.adapt(["the movie was great", "bad acting"])
    model = keras.Sequential([encoder, L.Embedding(30, 4, mask_zero=True),
                              L.Bidirectional(L.LSTM(3)), L.Dense(1)])
    assert model.predict(tf.constant(["great movie", "bad"]), verbose=0).shape == (2, 1)
    assert model.layers[0].compute_dtype == "string"
    assert L.IntegerLookup(vocabulary=[5]).compute_dtype == "int64"
    lookups = keras.Sequential([L.StringLookup(vocabulary=["a", "b"]), L.Embedding(4, 2)])
    assert lookups.predict(tf.constant([["a", "b", "z"]]), verbose=0).shape == (1, 3, 2)


# ---------------------------------------------------------------- tf.strings

def test_ngrams_follows_tensorflow():
    # TensorFlow's documented results (tf.strings.ngrams)
    data = tf.constant(["a", "b", "c"])
    assert tf.strings.ngrams(data, (1, 2), pad_values="P").numpy().tolist() == [
        b"a", b"b", b"c", b"P a", b"a b", b"b c", b"c P"]
    assert tf.strings.ngrams(data, 3, pad_values=("L", "R"), padding_width=1).numpy().tolist() \
        == [b"L a b", b"a b c", b"b c R"]
    assert tf.strings.ngrams(data, 2, pad_values="x", padding_width=3).numpy().tolist() == [
        b"x a", b"a b", b"b c", b"c x"]  # padding is at most width - 1
    assert tf.strings.ngrams(tf.constant(["a", "b"]), 3,
                             preserve_short_sequences=True).numpy().tolist() == [b"a b"]
    ragged = tf.ragged.constant([["a", "b"], ["c"], []])
    assert tf.strings.ngrams(ragged, 2, pad_values="#").to_list() == [
        [b"# a", b"a b", b"b #"], [b"# c", b"c #"], [b"# #"]]
    assert tf.strings.ngrams(ragged, 2, preserve_short_sequences=True).to_list() == [
        [b"a b"], [b"c"], []]
    matrix = tf.strings.ngrams(tf.constant([["a", "b", "c"], ["d", "e", "f"]]), 2, "_")
    assert matrix.shape == (2, 2) and matrix.numpy().tolist() == [[b"a_b", b"b_c"],
                                                                  [b"d_e", b"e_f"]]
    assert tf.strings.ngrams(tf.constant([["a", "b"]]), 3).shape == (1, 0)
    with pytest.raises(ValueError, match="greater than 0"):
        tf.strings.ngrams(data, 0)
    with pytest.raises(ValueError, match="pad_values must be provided"):
        tf.strings.ngrams(data, 2, padding_width=2)

    @tf.function
    def traced(x):
        return tf.strings.ngrams(tf.strings.split(x), 2).to_tensor()

    assert traced(tf.constant(["a b c", "d e"])).numpy().tolist() == [[b"a b", b"b c"],
                                                                     [b"d e", b""]]


def test_string_ops_on_ragged_tensors():
    tokens = tf.strings.split(tf.constant(["a bb", "c d e", ""]))
    assert tf.strings.reduce_join(tokens, axis=-1, separator=" ").numpy().tolist() == [
        b"a bb", b"c d e", b""]
    assert tf.strings.reduce_join(tokens).numpy() == b"abbcde"
    assert tf.strings.length(tokens).to_list() == [[1, 2], [1, 1, 1], []]
    assert tf.strings.upper(tokens).to_list() == [[b"A", b"BB"], [b"C", b"D", b"E"], []]
    assert tf.strings.unicode_split(tf.constant(["ünï", ""]), "UTF-8").to_list() == [
        ["ü".encode(), b"n", "ï".encode()], []]
    assert tf.strings.unicode_decode(tf.constant(["ab", "ü"]), "UTF-8").to_list() == [
        [97, 98], [252]]
    assert tf.strings.bytes_split(tf.constant(["ab", "c"])).to_list() == [[b"a", b"b"], [b"c"]]
    assert tf.strings.substr(tf.constant(["hello", "world"]), [1, 2], [2, 3]).numpy().tolist() \
        == [b"el", b"rld"]
    assert tf.strings.split(tf.constant([["a b"], ["c"]])).to_list() == [[[b"a", b"b"]],
                                                                       [[b"c"]]]

    @tf.function
    def traced(x):
        return tf.strings.reduce_join(tf.strings.split(x), axis=-1, separator="_")

    assert traced(tf.constant(["a b", "c d e"])).numpy().tolist() == [b"a_b", b"c_d_e"]


def test_case_changes_with_utf8_encoding():
    # recorded from TensorFlow (ICU's full case mapping; Python's str.lower/upper agree)
    text = tf.constant(["ÉCOLE Straße ΣΑΣ"])
    assert tf.strings.lower(text, encoding="utf-8").numpy()[0].decode() == "école straße σας"
    assert tf.strings.upper(tf.constant(["école ß"]), encoding="utf-8").numpy()[0].decode() \
        == "ÉCOLE SS"
    assert tf.strings.lower(text).numpy()[0].decode() == "École straße ΣΑΣ"  # ASCII only
