"""Probe round 7 (NLP as keras.io writes it): tf.strings.regex_replace and regex_full_match
match whole UTF-8 characters as RE2 does (the English-to-Spanish example strips "¿" with a
re.escape'd punctuation class), and clear errors for strings given to an Embedding and for
lookups given the other kind of value.

Keras's TextVectorization and tf.strings need TensorFlow, which the suite does not have: the
expected strings and vocabularies were recorded from TensorFlow 2.21 + Keras 3.15.1 running
these very inputs (noted "recorded"), and each is small enough to check by hand.
"""

import re
import string

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.ops import strings

L = keras.layers

PAIRS = [("Go.", "[start] Ve. [end]"), ("Hi!", "[start] Hola. [end]"),
         ("Run!", "[start] ¡Corre! [end]"), ("I won!", "[start] ¡Gané! [end]"),
         ("Who are you?", "[start] ¿Quién eres? [end]"),
         ("I love it.", "[start] Me encanta. [end]")]


def _spanish_standardization(text):
    strip_chars = (string.punctuation + "¿").replace("[", "").replace("]", "")
    return tf.strings.regex_replace(tf.strings.lower(text), f"[{re.escape(strip_chars)}]", "")


# ------------------------------------------------------------------ UTF-8 aware regexes

def test_a_non_ascii_class_member_strips_that_character_only():
    # "¿" (c2 bf) and "¡" (c2 a1) share their first byte; matching bytes stripped the c2 of
    # "¡" too and left an invalid UTF-8 string behind.
    out = _spanish_standardization(tf.constant(["¡Gané!", "¿Quién ERES? [start]"]))
    assert out.numpy().tolist() == ["¡gané".encode(), "quién eres [start]".encode()]


def test_translation_vocabulary_as_recorded():
    spa = L.TextVectorization(max_tokens=30, output_sequence_length=7,
                              standardize=_spanish_standardization)
    spa.adapt([p[1] for p in PAIRS])
    # recorded
    assert spa.get_vocabulary() == ["", "[UNK]", "[start]", "[end]", "¡gané", "¡corre", "ve",
                                    "quién", "me", "hola", "eres", "encanta"]
    assert spa(["[start] ¡Corre! [end]", "[start] hola hola"]).numpy().tolist() == [
        [2, 5, 3, 0, 0, 0, 0], [2, 9, 9, 0, 0, 0, 0]]


@pytest.mark.parametrize("pattern, rewrite, expected", [
    (".", "z", [b"zzz", b"z"]),                                  # recorded
    ("[^a-z]", " ", [b"  x", b" "]),                             # recorded (first)
    (r"\W", "_", [b"__x", b"_"]),                                # recorded (first)
    (r"\w", "_", ["é¡_".encode(), "é".encode()]),                # ASCII \w, as RE2
    ("é", "e", [b"e\xc2\xa1x", b"e"]),
])
def test_character_wide_patterns_take_whole_characters(pattern, rewrite, expected):
    out = tf.strings.regex_replace(tf.constant(["é¡x", "é"]), pattern, rewrite)
    assert out.numpy().tolist() == expected


def test_first_match_only_counts_characters():
    out = tf.strings.regex_replace(tf.constant(["éé"]), ".", "e", replace_global=False)
    assert out.numpy().tolist() == ["eé".encode()]


def test_regex_full_match_takes_whole_characters():
    out = tf.strings.regex_full_match(tf.constant(["é", "¿", "ab"]), "[¿]|.")
    assert out.numpy().tolist() == [True, True, False]


def test_byte_safe_patterns_keep_the_bytewise_primitive():
    from tensorflux.keras.layers.preprocessing.text_vectorization import _STRIP_REGEX

    for pattern in (_STRIP_REGEX, "<br />", r"a\.b", "[.]", r"\\W", "[]a.]"):
        assert strings._utf8_regex("regex_replace", pattern.encode()) is None, pattern
    for pattern in ("a.b", "[^a]", r"\W", r"\S", r"\D", "¿"):
        assert strings._utf8_regex("regex_replace", pattern.encode()) is not None, pattern


def test_invalid_utf8_input_passes_through_unchanged():
    out = tf.strings.regex_replace(tf.constant([b"\xff\xfeab"]), "[¿b]", "")
    assert out.numpy().tolist() == [b"\xff\xfea"]


# --------------------------------------------------------------------------- errors

def test_embedding_of_raw_strings_names_the_layer_and_the_fix():
    layer = L.Embedding(10, 4, name="emb")
    with pytest.raises(ValueError, match=r"Embedding 'emb' expects integer token indices, "
                                         r"received a string tensor of shape \(1, 2\)"):
        layer(tf.constant([["hello", "world"]]))
    with pytest.raises(ValueError, match="TextVectorization, StringLookup"):
        layer(np.array([["hello", "world"]]))


def test_integer_lookup_of_strings_is_a_clear_value_error():
    layer = L.IntegerLookup(vocabulary=[1, 2], name="ints")
    with pytest.raises(ValueError, match=r"IntegerLookup 'ints' looks up int64 values, "
                                         r"received an input of dtype string"):
        layer(tf.constant(["a"]))


def test_string_lookup_of_integers_is_a_clear_value_error():
    layer = L.StringLookup(vocabulary=["a"], name="strs")
    with pytest.raises(ValueError, match=r"StringLookup 'strs' looks up strings, received an "
                                         r"input of dtype int64 with shape \(2,\)"):
        layer(np.array([1, 2]))
    # NumPy text arrays of any kind still look up
    for values in (np.array(["a", "b"]), np.array([b"a", b"b"]), np.array(["a", "b"], object)):
        assert layer(values).numpy().tolist() == [1, 0]


def test_an_invalid_pattern_is_an_invalid_argument_error():
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"regex_replace: invalid pattern"):
        tf.strings.regex_replace(tf.constant(["a"]), "(", "x")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"regex_full_match: invalid"):
        tf.strings.regex_full_match(tf.constant(["a"]), "[¿")


def test_substr_out_of_range_shows_the_string_once():
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"pos 5 out of range for string b'hi'$"):
        tf.strings.substr(tf.constant(["hi"]), 5, 1)


def test_text_vectorization_compute_output_shape_of_a_numeric_shape():
    # recorded: Keras answers from the shape alone; tensorflux used to trace a float input
    layer = L.TextVectorization(output_sequence_length=7)
    assert layer.compute_output_shape((None, 1)) == (None, 7)
    assert L.TextVectorization().compute_output_shape((None,)) == (None, None)


def test_string_lookup_rejects_numbers_when_learning_a_vocabulary():
    # bytes(2) used to make the token b"\x00\x00"; TensorFlow's Keras raises a ValueError
    with pytest.raises(ValueError, match=r"StringLookup 'strs' expects string tokens, "
                                         r"received 1 of type int"):
        L.StringLookup(name="strs").adapt(np.array([1, 2]))
    with pytest.raises(ValueError, match="expects string tokens"):
        L.StringLookup(vocabulary=[1, 2])
    layer = L.StringLookup()
    layer.adapt(np.array([b"a", "b", "b"], dtype=object))
    assert layer.get_vocabulary() == ["[UNK]", "b", "a"]


@pytest.mark.parametrize("kwargs, points, starts", [
    ({}, [[104, 65533, 105, 65533], [233, 1, 120]], [[0, 1, 2, 3], [0, 2, 3]]),
    ({"errors": "ignore", "replace_control_characters": True},
     [[104, 105], [233, 120]], [[0, 2], [0, 3]]),
])
def test_unicode_decode_with_offsets_as_recorded(kwargs, points, starts):
    data = tf.constant([b"h\xffi\xe2\x82", "é\x01x".encode()])
    got_points, got_starts = tf.strings.unicode_decode_with_offsets(data, "UTF-8", **kwargs)
    assert got_points.to_list() == points  # recorded
    assert got_starts.to_list() == starts  # recorded


def test_unicode_decode_with_offsets_of_a_scalar_and_of_utf16():
    points, starts = tf.strings.unicode_decode_with_offsets("🎈🎉🎊", "UTF-8")
    assert points.numpy().tolist() == [0x1F388, 0x1F389, 0x1F38A]
    assert starts.numpy().tolist() == [0, 4, 8] and starts.dtype == tf.int64
    points, starts = tf.strings.unicode_decode_with_offsets(
        tf.constant(["aé".encode("utf-16-be")]), "UTF-16-BE")
    assert (points.to_list(), starts.to_list()) == ([[97, 233]], [[0, 2]])


def test_integer_lookup_rejects_strings_when_learning_a_vocabulary():
    with pytest.raises(ValueError, match=r"IntegerLookup 'ints' expects integer tokens, "
                                         r"received 'a'"):
        L.IntegerLookup(name="ints").adapt(np.array(["a"]))
    layer = L.IntegerLookup()
    layer.adapt(np.array([3, 3, 1]))
    assert layer.get_vocabulary() == [-1, 3, 1]


@pytest.mark.keras_oracle
def test_pretrained_embedding_matrix_as_constant_saves_and_loads_both_ways(tmp_path):
    """keras.io's pretrained word embeddings: Embedding(embeddings_initializer=
    Constant(matrix), trainable=False); the file holds the matrix in the config too."""
    from tests.keras._oracle import assert_matches, import_keras

    real = import_keras()
    matrix = np.random.RandomState(0).rand(6, 3).astype("float32")
    tokens = np.array([[1, 5, 0], [2, 2, 4]])
    for saver, loader in ((keras, keras), (keras, real), (real, keras)):
        model = saver.Sequential([saver.Input((3,), dtype="int32"), saver.layers.Embedding(
            6, 3, embeddings_initializer=saver.initializers.Constant(matrix), trainable=False)])
        path = str(tmp_path / f"{saver.__name__}_{loader.__name__}.keras")
        model.save(path)
        loaded = loader.models.load_model(path)
        assert_matches(loaded.predict(tokens, verbose=0), matrix[tokens],
                       what=f"{saver.__name__} -> {loader.__name__}")
        config = loaded.layers[0].get_config()["embeddings_initializer"]["config"]["value"]
        assert config["class_name"] == "__numpy__"


def test_split_of_empty_strings_gives_tf_tokens():
    # (TF 2.21: "" split on a separator is one empty token; on whitespace, or with sep="",
    # none; checked with tf.strings.split)
    assert tf.strings.split("", sep=",").numpy().tolist() == [b""]
    assert tf.strings.split(["", "a,,b"], sep=",").to_list() == [[b""], [b"a", b"", b"b"]]
    assert tf.strings.split(["", " a  b "]).to_list() == [[], [b"a", b"b"]]
    assert tf.strings.split(["", "ab c"], sep="").to_list() == [[], [b"ab", b"c"]]
