"""Probe round 6 (sequence models): TextVectorization(ragged=True), the RNN layers' errors
for initial states of the wrong batch and for empty sequences, and a Keras mask meeting an
explicit initial state in a functional model.

Keras's TextVectorization needs TensorFlow even on torch, so its ragged outputs were recorded
from Keras 3.15.1 with TensorFlow 2.21 running these very inputs (noted "recorded"); each
ragged row is also the dense output cut to its row's token count. The RNN numerics are
compared live with Keras 3.15.1 on torch.
"""

import json

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors, keras
from tests.keras._oracle import (  # noqa: F401
    assert_matches,
    fresh_names,
    import_keras,
    to_numpy,
)

pytestmark = pytest.mark.keras_oracle

L = keras.layers
TEXTS = ["The movie was great, great fun!", "Terrible plot. Bad acting...", "I loved it",
         "worst film ever made", "an ok movie", "great acting and a great plot"]


# ---------------------------------------------------------------- TextVectorization ragged

def test_ragged_rows_are_the_dense_rows_unpadded():
    ragged = L.TextVectorization(max_tokens=20, ragged=True)
    dense = L.TextVectorization(max_tokens=20)
    ragged.adapt(TEXTS)
    dense.adapt(TEXTS)
    out = ragged(TEXTS[:3])
    assert isinstance(out, tf.RaggedTensor)
    assert out.dtype.name == "int64" and tuple(out.shape.as_list()) == (3, None)
    # recorded
    assert out.to_list() == [[8, 4, 7, 2, 2, 15], [9, 3, 18, 5], [14, 12, 13]]
    assert out.row_lengths().numpy().tolist() == [6, 4, 3]
    padded = dense(TEXTS[:3]).numpy()
    for row, length, full in zip(out.to_list(), [6, 4, 3], padded):
        assert row == full[:length].tolist() and not full[length:].any()


def test_ragged_with_a_given_vocabulary_ngrams_and_characters():
    layer = L.TextVectorization(vocabulary=["great", "movie"], ragged=True)
    out = layer(["great movie great", "nothing"])
    assert out.to_list() == [[2, 3, 2], [1]]  # recorded
    assert out.to_tensor().numpy().tolist() == [[2, 3, 2], [1, 0, 0]]
    ngrams = L.TextVectorization(vocabulary=["a", "b", "a b"], ragged=True, ngrams=2)
    assert ngrams(["a b c", "b"]).to_list() == [[2, 3, 1, 4, 1], [3]]  # recorded
    chars = L.TextVectorization(vocabulary=["a", "b"], ragged=True, split="character")
    assert chars(["ab", "bba"]).to_list() == [[2, 3], [3, 3, 2]]  # recorded


def test_ragged_cuts_rows_to_output_sequence_length_without_padding():
    layer = L.TextVectorization(vocabulary=["great", "movie"], ragged=True,
                                output_sequence_length=2)
    assert layer(["great movie great", "nothing"]).to_list() == [[2, 3], [1]]
    # a (batch, 1) column is split like a vector, as for the dense output
    column = layer(np.array([["great movie great"], ["x"]]))
    assert column.to_list() == [[2, 3], [1]]


def test_ragged_scalar_input_stays_dense():
    out = L.TextVectorization(vocabulary=["great", "movie"], ragged=True)("great movie ok")
    assert not isinstance(out, tf.RaggedTensor)
    assert out.numpy().tolist() == [2, 3, 1]  # recorded (an EagerTensor in TensorFlow)


def test_ragged_custom_split_and_dataset_map():
    split = L.TextVectorization(vocabulary=["great", "movie"], ragged=True,
                                split=lambda s: tf.strings.split(s))
    assert split(["great movie great", "nothing"]).to_list() == [[2, 3, 2], [1]]
    layer = L.TextVectorization(vocabulary=["good", "bad", "movie"], ragged=True)
    ds = tf.data.Dataset.from_tensor_slices(["good movie", "bad bad bad movie", "x"])
    batch = next(iter(ds.batch(3).map(layer)))
    assert isinstance(batch, tf.RaggedTensor)
    assert batch.to_list() == [[2, 4], [3, 3, 3, 4], [1]]
    assert next(iter(ds.map(layer).padded_batch(3))).numpy().tolist() == \
        [[2, 4, 0, 0], [3, 3, 3, 4], [1, 0, 0, 0]]


def test_ragged_in_a_functional_model():
    layer = L.TextVectorization(vocabulary=["great", "movie"], ragged=True)
    inputs = keras.Input((1,), dtype="string")
    indices = layer(inputs)
    # Keras's symbolic output is dense (ragged=False) of unknown length; the call is ragged.
    assert tuple(indices.shape) == (None, None) and not indices.ragged
    model = keras.Model(inputs, indices)
    assert model(tf.constant([["great movie"], ["a"]])).to_list() == [[2, 3], [1]]


def test_ragged_config_round_trip_and_errors():
    config = L.TextVectorization(vocabulary=["a"], ragged=True).get_config()
    assert config["ragged"] is True
    clone = L.TextVectorization.from_config(json.loads(json.dumps(config)))
    assert clone(["a b"]).to_list() == [[2, 1]]
    with pytest.raises(ValueError, match="ragged=True.*output_mode='int'.*multi_hot"):
        L.TextVectorization(ragged=True, output_mode="multi_hot")


def test_adapt_on_numbers_is_a_value_error_naming_the_layer():
    # Keras: ValueError "Failed to convert a NumPy array to a Tensor (Unsupported object type
    # int)"; the call on numbers was already a ValueError here
    layer = L.TextVectorization(name="words")
    with pytest.raises(ValueError, match="TextVectorization 'words' expected string inputs, "
                                         "received dtype int64"):
        layer.adapt(np.array([1, 2, 3]))


# ---------------------------------------------------------------- RNN input errors

def test_initial_state_of_another_batch_names_the_layer():
    x = np.ones((10, 5, 3), "float32")
    layer = L.GRU(4, name="decoder")
    # TensorFlow raises InvalidArgumentError from inside the cell; ours is also a ValueError
    with pytest.raises(errors.InvalidArgumentError,
                       match=r"GRU 'decoder'.*\(2, 4\).*\(10, 5, 3\).*batch size, 10"):
        layer(x, initial_state=[tf.zeros((2, 4))])
    with pytest.raises(ValueError, match="LSTM 'enc'.*batch size, 10"):
        L.LSTM(4, name="enc")(x, initial_state=[tf.zeros((10, 4)), tf.zeros((3, 4))])
    # the matching batch still runs
    assert tuple(layer(x, initial_state=[tf.zeros((10, 4))]).shape) == (10, 4)


def test_bidirectional_initial_state_count_names_the_wrapper():
    # Keras: IndexError from inside LSTMCell.call() for 2 or 3 states
    x = np.ones((2, 4, 3), "float32")
    layer = L.Bidirectional(L.LSTM(2), name="bi")
    for count in (2, 3):
        with pytest.raises(ValueError, match=r"Bidirectional 'bi' expects 4 initial state "
                                             rf"tensors.* 2 .* 2, received {count}"):
            layer(x, initial_state=[tf.zeros((2, 2))] * count)


def test_bidirectional_initial_state_split_by_the_forward_layers_count():
    real = import_keras()
    rng = np.random.RandomState(4)
    x = rng.standard_normal((2, 4, 3)).astype("float32")
    states = [rng.standard_normal((2, n)).astype("float32") for n in (2, 2, 3)]
    layer = L.Bidirectional(L.LSTM(2, return_sequences=True),
                            backward_layer=L.GRU(3, return_sequences=True, go_backwards=True))
    out = layer(x, initial_state=states)
    # each direction alone, as Keras runs it, with the weights of ours
    forward, backward = real.layers.LSTM(2, return_sequences=True), real.layers.GRU(
        3, return_sequences=True, go_backwards=True)
    forward.build((2, 4, 3))
    backward.build((2, 4, 3))
    forward.set_weights(layer.forward_layer.get_weights())
    backward.set_weights(layer.backward_layer.get_weights())
    expected = np.concatenate(
        [to_numpy(forward(x, initial_state=states[:2])),
         to_numpy(backward(x, initial_state=states[2:]))[:, ::-1]], axis=-1)
    assert_matches(out, expected, rtol=1e-5, atol=1e-6)


def test_zero_timesteps_names_the_layer():
    with pytest.raises(errors.InvalidArgumentError, match="LSTM 'empty'.*0 timesteps"):
        L.LSTM(2, name="empty")(np.ones((1, 0, 2), "float32"))


# ---------------------------------------------------------------- masks and initial states

def _masked_decoder(k, weights=None):
    tokens = k.Input((6,), dtype="int32")
    state = k.Input((2,))
    embedded = k.layers.Embedding(10, 3, mask_zero=True)(tokens)
    outputs = k.layers.SimpleRNN(2, return_sequences=True)(embedded, initial_state=[state])
    model = k.Model([tokens, state], outputs)
    if weights is not None:
        model.set_weights(weights)
    return model


def test_functional_initial_state_call_gets_no_automatic_mask():
    """Keras hands `mask=` automatically only to a call with one tensor argument: an RNN given
    `initial_state` tensors runs over the padding (a seq2seq decoder's usual setup)."""
    real = import_keras()
    rng = np.random.RandomState(3)
    theirs = _masked_decoder(real)
    weights = [rng.standard_normal(w.shape).astype("float32") * 0.4
               for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours = _masked_decoder(keras, weights)
    tokens = np.array([[1, 2, 3, 0, 0, 0], [1, 0, 0, 0, 0, 0]])
    state = np.full((2, 2), 0.5, "float32")
    expected = theirs.predict([tokens, state], verbose=0)
    assert_matches(ours.predict([tokens, state], verbose=0), expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- pad_sequences dtypes

@pytest.mark.parametrize("dtype", [int, float, bool, "float16", "int64"])
def test_pad_sequences_python_scalar_types_are_numpys(dtype):
    real = import_keras()
    seqs = [[1, 0, 3], [2]]
    ours = keras.utils.pad_sequences(seqs, dtype=dtype, maxlen=4)
    theirs = real.utils.pad_sequences(seqs, dtype=dtype, maxlen=4)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("dtype", ["<U5", "U3", np.dtype("<U4")])
def test_pad_sequences_numpy_string_dtypes(dtype):
    real = import_keras()
    seqs = [["ab", "c"], ["d"], ["e", "fg", "h"]]
    ours = keras.utils.pad_sequences(seqs, dtype=dtype, value="-", padding="post", maxlen=2)
    theirs = real.utils.pad_sequences(seqs, dtype=dtype, value="-", padding="post", maxlen=2)
    assert ours.dtype.kind == "U" and ours.tolist() == theirs.tolist()


def test_pad_sequences_negative_maxlen_names_it():
    with pytest.raises(ValueError, match="maxlen=-1"):
        keras.utils.pad_sequences([[1, 2]], maxlen=-1)


@pytest.mark.parametrize("dtype", ["str", np.str_])
def test_pad_sequences_widthless_str_keeps_whole_strings(dtype):
    # Keras fills a NumPy array as wide as `value` ('<U1' here) and so cuts "ab" to "a";
    # tensorflux keeps the strings whole, in a str array as wide as the longest.
    out = keras.utils.pad_sequences([["ab", "c"], ["d"]], dtype=dtype, value="-")
    assert out.dtype == np.dtype("<U2") and out.tolist() == [["ab", "c"], ["-", "d"]]


# ---------------------------------------------------------------- timeseries windows

def _numpy_windows(data, targets, length, stride, rate, start, end):
    """The windows Keras documents, from NumPy float64 indexing."""
    count = end - start - (length - 1) * rate
    if targets is not None:
        count = min(count, len(targets))
    starts = range(0, max(count, 0), stride)
    xs = [data[start + p + np.arange(length) * rate] for p in starts]
    ys = None if targets is None else [targets[start + p] for p in starts]
    return xs, ys


@pytest.mark.parametrize("batch_size", [None, 3])
def test_timeseries_windows_are_gathered_per_batch(batch_size):
    data = np.arange(60, dtype="float64").reshape(30, 2)
    targets = np.arange(30) * 10
    ds = keras.utils.timeseries_dataset_from_array(
        data, targets, sequence_length=4, sequence_stride=2, sampling_rate=3, batch_size=batch_size,
        start_index=2, end_index=27)
    xs, ys = _numpy_windows(data, targets, 4, 2, 3, 2, 27)
    got_x, got_y = [], []
    for x, y in ds:
        x, y = x.numpy(), y.numpy()
        if batch_size is None:
            x, y = x[None], y[None]
        assert x.shape[1:] == (4, 2) and len(x) <= 3
        got_x.extend(x)
        got_y.extend(y)
    np.testing.assert_array_equal(np.stack(got_x), np.stack(xs))
    np.testing.assert_array_equal(np.array(got_y), np.array(ys))
    spec = ds.element_spec[0]
    assert tuple(spec.shape)[-2:] == (4, 2) and spec.dtype.name == "float64"


def test_timeseries_shuffle_keeps_each_window_with_its_target():
    data = np.arange(50)
    ds = keras.utils.timeseries_dataset_from_array(data, data * 2, sequence_length=5,
                                                   batch_size=8, shuffle=True, seed=1)
    x = np.concatenate([b[0].numpy() for b in ds])
    y = np.concatenate([b[1].numpy() for b in ds])
    assert sorted(x[:, 0].tolist()) == list(range(46))
    np.testing.assert_array_equal(x, x[:, :1] + np.arange(5))
    np.testing.assert_array_equal(y, x[:, 0] * 2)
