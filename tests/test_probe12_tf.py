"""Probe round 12: TensorFlow 2 guides run with `import tensorflux as tf` (ragged tensors,
unicode strings, map_fn, random seeds, Variables, audio spectrograms, sparse tensors).

TensorFlow is not available to the tests. Values come from Python / NumPy float64 written
out here; TF-only behaviour (dtypes, error types, names shown while tracing) is what TF 2.21
printed for the same code in the probe scripts (/tmp/s12/h5/s*.py), an independent oracle,
and the comments say so.
"""

import math

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors

DIGITS = [[3, 1, 4, 1], [], [5, 9, 2], [6], []]


def _digits():
    return tf.ragged.constant(DIGITS)


def _per_row(fn, rows):
    return [[fn(v) for v in row] for row in rows]


# ------------------------------------------------------------------ ragged dispatch

def test_elementwise_ops_take_ragged_tensors_row_by_row():
    rt = _digits()
    assert tf.abs(rt - 4).to_list() == _per_row(lambda v: abs(v - 4), DIGITS)
    assert tf.math.square(rt).to_list() == _per_row(lambda v: v * v, DIGITS)
    assert tf.not_equal(rt, 1).to_list() == _per_row(lambda v: v != 1, DIGITS)
    assert tf.math.equal(rt, rt).to_list() == _per_row(lambda v: True, DIGITS)
    assert tf.maximum(rt, 3).to_list() == _per_row(lambda v: max(v, 3), DIGITS)
    assert tf.math.floordiv(rt, 2).to_list() == _per_row(lambda v: v // 2, DIGITS)
    assert tf.add(rt, rt).to_list() == _per_row(lambda v: 2 * v, DIGITS)
    assert tf.logical_not(rt > 3).to_list() == _per_row(lambda v: v <= 3, DIGITS)
    floats = tf.ragged.constant([[1.0, -2.0], [3.0]], dtype=tf.float64)
    np.testing.assert_allclose(tf.math.sigmoid(floats).flat_values.numpy(),
                               1 / (1 + np.exp(-np.array([1.0, -2.0, 3.0]))), rtol=1e-12)
    assert tf.clip_by_value(floats, 0.0, 2.0).to_list() == [[1.0, 0.0], [2.0]]
    assert tf.ones_like(rt).to_list() == _per_row(lambda v: 1, DIGITS)
    # the public names stay the same functions, and dense calls are unchanged
    assert tf.add is tf.math.add and tf.not_equal(3, 4).numpy()


def test_where_size_gather_stack_and_expand_dims_of_ragged_tensors():
    rt = _digits()
    assert tf.where(rt > 3, rt, -1).to_list() == _per_row(lambda v: v if v > 3 else -1,
                                                          DIGITS)
    assert tf.where(rt > 3, rt, rt * 10).to_list() == _per_row(
        lambda v: v if v > 3 else 10 * v, DIGITS)
    assert int(tf.size(rt)) == sum(len(r) for r in DIGITS)
    assert tf.size(rt, out_type=tf.int64).dtype == tf.int64
    assert tf.gather(rt, [2, 0]).to_list() == [DIGITS[2], DIGITS[0]]
    assert tf.stack([rt, rt]).to_list() == [DIGITS, DIGITS]
    assert tf.expand_dims(rt, 0).to_list() == [DIGITS]
    assert tf.expand_dims(rt, -1).to_list() == _per_row(lambda v: [v], DIGITS)
    # (session 14) an axis between the ragged dimensions: TF 2.21's tf.expand_dims(
    # tf.ragged.constant([[[1], [2, 3]]]), 1) is [[[[1], [2, 3]]]] of shape [1, 1, None, None]
    between = tf.expand_dims(tf.ragged.constant([[[1], [2, 3]]]), 1)
    assert between.to_list() == [[[[1], [2, 3]]]]
    assert between.shape.as_list() == [1, 1, None, None]


def test_unicode_guide_word_segmentation():
    # The unicode guide splits sentences into words where the script changes.
    sentences = ["Hello, world.", "世界こんにちは"]
    codepoints = tf.strings.unicode_decode(sentences, "UTF-8")
    script = tf.strings.unicode_script(codepoints)
    starts_word = tf.concat([tf.fill([codepoints.nrows(), 1], True),
                             tf.not_equal(script[:, 1:], script[:, :-1])], axis=1)
    word_starts = tf.squeeze(tf.where(starts_word.values), axis=1)
    words = tf.RaggedTensor.from_row_starts(values=codepoints.values, row_starts=word_starts)
    per_sentence = tf.RaggedTensor.from_row_lengths(
        values=words, row_lengths=tf.reduce_sum(tf.cast(starts_word, tf.int64), axis=1))
    encoded = tf.strings.unicode_encode(per_sentence, "UTF-8").to_list()
    expected = [[w.encode() for w in ["Hello", ", ", "world", "."]],
                [w.encode() for w in ["世界", "こんにちは"]]]
    assert encoded == expected


def test_unicode_encode_of_ragged_code_points():
    texts = ["hÃllo", "", "😊 ok"]
    rt = tf.ragged.constant([[ord(c) for c in t] for t in texts], dtype=tf.int32)
    got = tf.strings.unicode_encode(rt, "UTF-8")
    assert got.shape == (3,) and got.numpy().tolist() == [t.encode() for t in texts]
    assert tf.strings.unicode_encode(rt, "UTF-16-BE").numpy().tolist() == [
        t.encode("utf-16-be") for t in texts]
    padded = tf.RaggedTensor.from_tensor(rt.to_tensor(default_value=-1), padding=-1)
    assert tf.strings.unicode_encode(padded, "UTF-8").numpy().tolist() == [
        t.encode() for t in texts]
    nested = tf.RaggedTensor.from_row_lengths(rt, [2, 1])
    assert tf.strings.unicode_encode(nested, "UTF-8").to_list() == [
        [texts[0].encode(), b""], [texts[2].encode()]]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def shifted(s):
        return tf.strings.unicode_encode(tf.strings.unicode_decode(s, "UTF-8") + 1, "UTF-8")

    assert shifted(tf.constant(["héllo", "ab"])).numpy().tolist() == [
        "".join(chr(ord(c) + 1) for c in t).encode() for t in ["héllo", "ab"]]


def test_unsorted_segment_join_matches_a_python_grouping():
    inputs = [["a", "x"], ["b", "y"], ["c", "z"]]
    ids = [1, 0, 1]
    got = tf.strings.unsorted_segment_join(inputs, ids, 3, separator="+")
    expected = [["+".join(inputs[r][c] for r in range(3) if ids[r] == k).encode()
                 for c in range(2)] for k in range(3)]
    assert got.shape == (3, 2) and got.numpy().tolist() == expected
    two_level = tf.strings.unsorted_segment_join([["a", "x"], ["b", "y"]], [[0, 1], [1, 1]], 2)
    assert two_level.numpy().tolist() == [b"a", b"xby"]

    @tf.function
    def joined(x, i, n):
        return tf.strings.unsorted_segment_join(x, i, n, separator=",")

    assert joined(tf.constant(["a", "b", "c"]), tf.constant([1, 1, 0]),
                  tf.constant(3)).numpy().tolist() == [b"c", b"a,b", b""]
    # TF 2.21: an id outside [0, num_segments) is an InvalidArgumentError (negative too)
    for bad in ([1, -1, 1], [1, 5, 1]):
        with pytest.raises(errors.InvalidArgumentError, match="segment_ids"):
            tf.strings.unsorted_segment_join(["a", "b", "c"], bad, 2)


def test_map_fn_over_a_ragged_tensor_is_ragged_by_default():
    rt = _digits()
    assert tf.map_fn(tf.math.square, rt).to_list() == _per_row(lambda v: v * v, DIGITS)
    assert tf.map_fn(lambda r: r[:1], rt).to_list() == [r[:1] for r in DIGITS]
    assert tf.map_fn(tf.reduce_sum, rt, fn_output_signature=tf.int32).numpy().tolist() == [
        sum(r) for r in DIGITS]
    # TF 2.21 raises ValueError when fn's results do not have elems' structure, and an
    # error when they are not of elems' dtype.
    with pytest.raises(ValueError):
        tf.map_fn(lambda r: (r, r * 2), (rt, rt))
    with pytest.raises((TypeError, ValueError)):
        tf.map_fn(lambda r: tf.cast(r, tf.float32), rt)
    dense = tf.constant([[1, 2], [3, 4]])
    assert tf.map_fn(tf.reduce_sum, dense).numpy().tolist() == [3, 7]


def _merged_reference(rows, outer, inner):
    if outer > 0:
        return [_merged_reference(r, outer - 1, inner - 1) for r in rows]
    merged = rows
    for _ in range(inner):
        merged = [x for part in merged for x in part]
    return merged


def test_ragged_merge_dims_matches_flattening_python_lists():
    values = tf.RaggedTensor.from_row_splits(list(range(10, 20)), [0, 3, 3, 5, 9, 10])
    rt = tf.RaggedTensor.from_row_splits(values, [0, 1, 1, 5])
    rows = rt.to_list()
    for outer, inner in [(0, 1), (1, 2), (0, 2), (0, -1)]:
        got = rt.merge_dims(outer, inner)
        inner_pos = inner % 3
        expected = _merged_reference(rows, outer, inner_pos)
        assert (got.to_list() if hasattr(got, "to_list") else got.numpy().tolist()) == expected
    uniform = tf.RaggedTensor.from_row_lengths(tf.reshape(tf.range(12), [6, 2]), [2, 0, 4])
    urows = uniform.to_list()
    assert uniform.merge_dims(1, 2).to_list() == _merged_reference(urows, 1, 2)
    assert uniform.merge_dims(0, 1).numpy().tolist() == _merged_reference(urows, 0, 1)
    assert uniform.merge_dims(0, 2).numpy().tolist() == list(range(12))
    assert rt.merge_dims(1, 1) is rt
    with pytest.raises(ValueError):
        rt.merge_dims(2, 1)


# ------------------------------------------------------------------ random seeds

def test_fold_in_gives_a_key_then_the_data_in_the_datas_dtype():
    # TF 2.21: tf.random.fold_in(seed, 5) is [key, 5] in the dtype of the data (int32 for a
    # Python int, whatever the seed's dtype); another data gives the same key, so the seeds
    # differ in their second element.
    seed = tf.constant([1, 2], tf.int64)
    five, six = tf.random.fold_in(seed, 5), tf.random.experimental.stateless_fold_in(seed, 6)
    assert five.dtype == tf.int32 and five.shape == (2,)
    assert five.numpy()[1] == 5 and six.numpy()[1] == 6 and five.numpy()[0] == six.numpy()[0]
    wide = tf.random.fold_in(seed, tf.constant(7, tf.int64))
    assert wide.dtype == tf.int64 and wide.numpy()[1] == 7
    other = tf.random.fold_in(tf.constant([3, 4], tf.int64), 5)
    assert other.numpy()[0] != five.numpy()[0]
    draws = [tf.random.stateless_uniform([4], seed=tf.random.fold_in(seed, i)).numpy()
             for i in range(3)]
    assert not np.array_equal(draws[0], draws[1]) and not np.array_equal(draws[1], draws[2])
    with pytest.raises(errors.InvalidArgumentError, match="fold_in"):
        tf.random.fold_in(seed, [1, 2])


# ------------------------------------------------------------------ Variables

def test_variable_aggregation_and_synchronization_are_tfs_enums():
    # As TF 2.21 prints them: VariableAggregationV2.MEAN, VariableSynchronization.ON_READ;
    # ints are accepted as the enums' values, strings are a ValueError.
    v = tf.Variable(1.0, synchronization=tf.VariableSynchronization.ON_READ,
                    aggregation=tf.VariableAggregation.MEAN)
    assert str(v.synchronization) == "VariableSynchronization.ON_READ"
    assert str(v.aggregation) == "VariableAggregationV2.MEAN" and not v.trainable
    summed = tf.Variable(1.0, aggregation=1)
    assert summed.aggregation is tf.VariableAggregation.SUM and summed.trainable
    assert tf.Variable(1.0).synchronization is tf.VariableSynchronization.AUTO
    assert tf.Variable(1.0, synchronization=3).synchronization is \
        tf.VariableSynchronization.ON_READ
    assert [m.value for m in tf.VariableAggregation] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="Invalid variable aggregation mode: sum"):
        tf.Variable(1.0, aggregation="sum")
    with pytest.raises(ValueError, match="Invalid variable synchronization mode"):
        tf.Variable(1.0, synchronization="on_read")


# ------------------------------------------------------------------ audio spectrograms

def _numpy_frames(x, length, step, pad_end=False, pad_value=0.0):
    n = len(x)
    if pad_end:
        count = -(-n // step)
        need = max(0, (count - 1) * step + length - n) if count else 0
        x = np.concatenate([x, np.full(need, pad_value)])
    else:
        count = max(0, 1 + (n - length) // step)
    return np.array([x[i * step:i * step + length] for i in range(count)]).reshape(
        count, length)


@pytest.mark.parametrize("pad_end", [False, True])
def test_frame_and_stft_of_signals_whose_length_is_known_when_run(pad_end):
    # The audio tutorial computes stft spectrograms in Dataset.map of decoded WAV files.
    framed = tf.function(lambda x: tf.signal.frame(x, 5, 3, pad_end=pad_end, pad_value=-1.0),
                         input_signature=[tf.TensorSpec([None], tf.float64)])
    assert framed.get_concrete_function().structured_outputs.shape.as_list() == [None, 5]
    for n in (0, 4, 5, 11, 12):
        x = np.arange(n, dtype=np.float64)
        np.testing.assert_array_equal(framed(tf.constant(x)).numpy(),
                                      _numpy_frames(x, 5, 3, pad_end, -1.0))

    spectrogram = tf.function(lambda w: tf.abs(tf.signal.stft(w, 255, 128, pad_end=pad_end)),
                              input_signature=[tf.TensorSpec([None], tf.float64)])
    wave = np.random.default_rng(0).uniform(-1, 1, 4000)
    # TF's periodic Hann window of an odd length is the symmetric one (period 254)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(255) / 254)
    expected = np.abs(np.fft.rfft(_numpy_frames(wave, 255, 128, pad_end) * window, 256))
    np.testing.assert_allclose(spectrogram(tf.constant(wave)).numpy(), expected, atol=1e-9)
    batched = tf.function(lambda w: tf.signal.frame(w, 4, 2),
                          input_signature=[tf.TensorSpec([2, None], tf.float64)])
    rows = np.arange(18, dtype=np.float64).reshape(2, 9)
    np.testing.assert_array_equal(batched(tf.constant(rows)).numpy(),
                                  np.stack([_numpy_frames(r, 4, 2) for r in rows]))


def test_stft_in_dataset_map_of_waves_of_several_lengths():
    waves = [np.sin(np.arange(n) * 0.1).astype("float32") for n in (600, 1000)]
    ds = tf.data.Dataset.from_generator(lambda: iter(waves),
                                        output_signature=tf.TensorSpec([None], tf.float32))
    shapes = [s.shape.as_list() for s in ds.map(lambda w: tf.abs(tf.signal.stft(w, 255, 128)))]
    assert shapes == [[1 + (n - 255) // 128, 129] for n in (600, 1000)]


# ------------------------------------------------------------------ sparse tensors

def _sparse_pair():
    a = tf.sparse.SparseTensor([[0, 1], [1, 0], [2, 2]], [-1.0, 2.0, 3.0], [3, 3])
    b = tf.sparse.SparseTensor([[0, 1], [1, 1], [2, 2]], [-3.0, -2.0, 5.0], [3, 3])
    return a, b


@pytest.mark.parametrize("name, fn", [("maximum", np.maximum), ("minimum", np.minimum)])
def test_sparse_maximum_and_minimum_over_the_union_of_entries(name, fn):
    a, b = _sparse_pair()
    got = getattr(tf.sparse, name)(a, b)
    dense_a, dense_b = tf.sparse.to_dense(a).numpy(), tf.sparse.to_dense(b).numpy()
    union = sorted({tuple(i) for i in a.indices.numpy().tolist() + b.indices.numpy().tolist()})
    assert got.indices.numpy().tolist() == [list(i) for i in union]
    np.testing.assert_array_equal(got.values.numpy(),
                                  [fn(dense_a[i], dense_b[i]) for i in union])
    assert got.dense_shape.numpy().tolist() == [3, 3]
    with pytest.raises(errors.InvalidArgumentError, match=name):
        getattr(tf.sparse, name)(a, tf.sparse.SparseTensor([[0, 0]], [1.0], [4, 3]))


def test_sparse_softmax_over_the_entries_of_each_row():
    indices = [[0, 0, 0], [0, 0, 2], [1, 1, 1], [1, 0, 2], [1, 0, 0]]
    values = np.array([1.0, 2.0, 3.0, -1.0, 0.5])
    got = tf.sparse.softmax(tf.sparse.SparseTensor(indices, values, [2, 2, 3]))
    groups = {}
    for k, index in enumerate(indices):
        groups.setdefault(tuple(index[:-1]), []).append(k)
    expected = np.empty(len(values))
    for members in groups.values():
        e = np.exp(values[members] - values[members].max())
        expected[members] = e / e.sum()
    np.testing.assert_allclose(got.values.numpy(), expected, rtol=1e-12)
    assert got.indices.numpy().tolist() == indices


def test_sparse_split_and_reset_shape():
    a, _ = _sparse_pair()
    dense = tf.sparse.to_dense(a).numpy()
    for axis, count in [(1, 2), (0, 3), (-1, 2), (1, 3)]:
        pieces = tf.sparse.split(sp_input=a, num_split=count, axis=axis)
        sizes = [3 // count + (1 if i < 3 % count else 0) for i in range(count)]
        bounds = np.cumsum([0] + sizes)
        for piece, lo, hi in zip(pieces, bounds[:-1], bounds[1:]):
            part = dense[lo:hi] if axis == 0 else dense[:, lo:hi]
            np.testing.assert_array_equal(tf.sparse.to_dense(piece).numpy(), part)
    assert tf.sparse.reset_shape(a).dense_shape.numpy().tolist() == [3, 3]
    small = tf.sparse.SparseTensor([[0, 1], [1, 0]], [1.0, 2.0], [5, 5])
    assert tf.sparse.reset_shape(small).dense_shape.numpy().tolist() == [2, 2]
    assert tf.sparse.reset_shape(a, [5, 4]).dense_shape.numpy().tolist() == [5, 4]
    # TF 2.21: a smaller new_shape or one of another rank is a ValueError
    with pytest.raises(ValueError, match="new_shape"):
        tf.sparse.reset_shape(a, [2, 4])
    with pytest.raises(ValueError):
        tf.sparse.reset_shape(a, [5, 4, 1])


def test_unary_ops_that_keep_zero_take_sparse_tensors():
    # TF 2.21 dispatches these to the values of a SparseTensor; exp (1 at zero) it refuses.
    st = tf.sparse.SparseTensor([[0, 0], [1, 2]], [-0.5, 0.25], [2, 3])
    for name, ref in [("sin", math.sin), ("tan", math.tan), ("erf", math.erf),
                      ("asin", math.asin), ("atan", math.atan), ("abs", abs)]:
        got = getattr(tf.math, name)(st)
        assert isinstance(got, tf.SparseTensor)
        np.testing.assert_allclose(got.values.numpy(), [ref(-0.5), ref(0.25)], rtol=1e-6)
    with pytest.raises(ValueError):
        tf.exp(st)


def test_float64_extremes_convert_without_a_float32_detour():
    # tf.sparse.softmax's segment maximum fills empty segments with float64's lowest value:
    # converting that Python float must not go through float32 (an overflow warning).
    import warnings

    lowest = float(np.finfo(np.float64).min)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tf.constant(lowest, tf.float64).numpy() == lowest
        maxima = tf.math.unsorted_segment_max(tf.constant([1.0, 2.0], tf.float64), [0, 0], 2)
    assert maxima.numpy().tolist() == [2.0, lowest]
    with pytest.raises(TypeError):
        tf.constant(1.5, tf.int32)


def test_string_concatenation_of_scalars_in_a_function():
    # (The intro-to-graphs guide adds strings in a tf.function; a scalar result came back
    # from the kernel as bare bytes, not an array.)
    @tf.function
    def twice(a):
        return a + a

    assert twice(tf.constant("ab")).numpy() == b"abab"
    assert twice(tf.constant(["a", "bc"])).numpy().tolist() == [b"aa", b"bcbc"]


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_erfc_at_the_infinities(dtype):
    # erfc(x) = 1 - erf(x) tends to 0 and 2 (the parameterized truncated normal's far tails
    # reach these): before, the continued fraction's inf * 0 gave NaN.
    got = tf.math.erfc(tf.constant([np.inf, -np.inf, 0.5], dtype)).numpy()
    assert got[:2].tolist() == [0.0, 2.0]
    np.testing.assert_allclose(got[2], math.erfc(0.5), rtol=1e-6)
