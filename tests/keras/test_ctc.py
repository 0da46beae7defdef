"""CTC: tf.nn.ctc_loss and the decoders, keras.ops.ctc_loss / ctc_decode, keras.losses.CTC.

The op-table rows (ROWS, checked here with the table's harness) take their expected values
from enumerating every alignment in float64; the Keras tests compare with real Keras 3 on
torch (losses, PyTorch autograd gradients, decodings, and a small captcha-style Functional
model trained a few steps with the CTC loss added by a custom layer)."""

import itertools

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras as tfk
from tensorflux.ops import ctc
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401
from tests.ops import harness
from tests.ops.harness import Row

pytestmark = [pytest.mark.keras_oracle,
              pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]


# ------------------------------------------------------------------ float64 references

def _log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _collapse(path, blank):
    labels, previous = [], None
    for c in path:
        if c != previous and c != blank:
            labels.append(int(c))
        previous = c
    return tuple(labels)


def _alignments(logits, frames, blank):
    """Every alignment of the first `frames` frames: (paths [N, frames], probabilities [N],
    the labelling each spells)."""
    classes = logits.shape[-1]
    paths = np.array(list(itertools.product(range(classes), repeat=frames)), np.intp)
    paths = paths.reshape(-1, frames)
    log_probs = _log_softmax(logits[:frames])
    probs = np.exp(log_probs[np.arange(frames), paths].sum(axis=1))
    return paths, probs, [_collapse(p, blank) for p in paths]


def _ref_ctc_loss(labels, logits, label_length, logit_length, blank=0):
    losses = []
    for b in range(len(labels)):
        _, probs, spelled = _alignments(logits[b], logit_length[b], blank)
        target = tuple(int(v) for v in labels[b, :label_length[b]])
        losses.append(-np.log(sum(p for p, s in zip(probs, spelled) if s == target)))
    return np.array(losses)


def _ref_ctc_grad(labels, logits, label_length, logit_length, blank=0):
    """d loss_b / d logits from the definition: softmax minus the target's alignments'
    expected class counts per frame."""
    grad = np.zeros_like(logits)
    for b in range(len(labels)):
        frames = logit_length[b]
        paths, probs, spelled = _alignments(logits[b], frames, blank)
        target = tuple(int(v) for v in labels[b, :label_length[b]])
        chosen = np.array([s == target for s in spelled])
        weights = probs * chosen / (probs * chosen).sum()
        counts = np.zeros((frames, logits.shape[-1]))
        for t in range(frames):
            np.add.at(counts[t], paths[:, t], weights)
        grad[b, :frames] = np.exp(_log_softmax(logits[b, :frames])) - counts
    return grad


def _ref_best_labellings(logits, lengths, top_paths, blank):
    frames = logits.shape[1]
    decoded = np.full((top_paths, len(logits), frames), -1, np.int32)
    scores = np.full((len(logits), top_paths), -np.inf)
    for b in range(len(logits)):
        _, probs, spelled = _alignments(logits[b], lengths[b], blank)
        totals = {}
        for p, s in zip(probs, spelled):
            totals[s] = totals.get(s, 0.0) + p
        best = sorted(totals.items(), key=lambda item: -item[1])[:top_paths]
        for k, (labels, p) in enumerate(best):
            decoded[k, b, :len(labels)] = labels
            scores[b, k] = np.log(p)
    return decoded, scores


def _ref_greedy(logits, lengths, blank):
    decoded = np.full(logits.shape[:2], -1, np.int32)
    for b in range(len(logits)):
        labels = _collapse(logits[b, :lengths[b]].argmax(axis=-1), blank)
        decoded[b, :len(labels)] = labels
    scores = -np.array([[logits[b, :lengths[b]].max(axis=-1).sum()] for b in range(len(logits))])
    return decoded, scores


# ------------------------------------------------------------------ op-table rows

LABELS = np.array([[1, 2, 2], [3, 1, 0], [2, 0, 0]], np.int32)  # a repeat; padding; none
LABEL_LENGTH = np.array([3, 2, 0], np.int32)
LOGIT_LENGTH = np.array([5, 4, 3], np.int32)


def _loss_sample(rng):
    return [LABELS, rng.uniform(-2, 2, (3, 5, 4)), LABEL_LENGTH, LOGIT_LENGTH]


def _loss_fn(labels, logits, label_length, logit_length):
    return tf.nn.ctc_loss(labels, logits, label_length, logit_length, logits_time_major=False)


def _grad_fn(labels, logits, label_length, logit_length, cotangent):
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = _loss_fn(labels, logits, label_length, logit_length)
    return tape.gradient(loss, logits, output_gradients=cotangent)


def _grad_ref(labels, logits, label_length, logit_length, cotangent):
    return cotangent[:, None, None] * _ref_ctc_grad(labels, logits, label_length, logit_length)


def _decode_sample(rng):
    return [rng.uniform(-2, 2, (3, 5, 3)), np.array([5, 3, 1], np.int32)]


ROWS = [
    Row("nn_ctc_loss", _loss_fn, _ref_ctc_loss, _loss_sample, grad=(1,)),
    Row("nn_ctc_loss_grad", _grad_fn, _grad_ref,
        harness.combine(_loss_sample, lambda rng: [rng.uniform(-1, 1, 3)]), grad=()),
    Row("nn_ctc_beam_search_decode",
        lambda x, n: list(ctc.ctc_beam_search_decode_dense(x, n, beam_width=100, top_paths=3,
                                                           blank_index=0)),
        lambda x, n: list(_ref_best_labellings(x, n, 3, 0)), _decode_sample, grad=()),
    Row("nn_ctc_greedy_decode",
        lambda x, n: list(ctc.ctc_greedy_decode_dense(x, n)),
        lambda x, n: list(_ref_greedy(x, n, 2)), _decode_sample, grad=()),
]
_FORWARD = [(row, dtype) for row in ROWS for dtype in row.dtypes]


@pytest.mark.parametrize("row,dtype", _FORWARD, ids=[f"{r.name}-{d}" for r, d in _FORWARD])
def test_rows_forward_match_alignment_enumeration(row, dtype):
    harness.check_forward(row, dtype)


def test_loss_vjp_matches_finite_differences():
    harness.check_vjp(ROWS[0])


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_rows_shape_rules_agree_with_kernels(row):
    harness.check_shape_rules(row)


# ------------------------------------------------------------------ tf.nn API

def test_tf_ctc_loss_defaults_to_time_major_logits_and_blank_zero():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3, 5, 4))
    expected = _ref_ctc_loss(LABELS, logits, LABEL_LENGTH, LOGIT_LENGTH)
    got = tf.nn.ctc_loss(LABELS, np.transpose(logits, (1, 0, 2)), LABEL_LENGTH, LOGIT_LENGTH)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    # blank_index=-1 is the last class: the same loss with the classes rotated by one
    rotated = np.roll(logits, -1, axis=-1)
    got = tf.nn.ctc_loss(LABELS - 1, rotated, LABEL_LENGTH, LOGIT_LENGTH,
                         logits_time_major=False, blank_index=-1)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


def test_tf_ctc_loss_half_precision_computes_in_float32():
    logits = np.zeros((1, 2, 2), np.float16)
    loss = tf.nn.ctc_loss([[1]], logits, [1], [2], logits_time_major=False)
    assert loss.dtype == tf.float32
    np.testing.assert_allclose(loss.numpy(), [-np.log(0.75)], rtol=1e-6)


def test_tf_ctc_loss_impossible_labelling_is_infinite_with_nan_gradient():
    logits = tf.constant(np.zeros((1, 2, 3)))
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = tf.nn.ctc_loss([[1, 1]], logits, [2], [2], logits_time_major=False)
    assert np.isinf(loss.numpy()[0])  # "1 1" needs a blank between: three frames
    assert np.isnan(tape.gradient(loss, logits).numpy()).all()


def test_tf_ctc_loss_traced_matches_eager():
    logits = tf.constant(np.random.default_rng(2).normal(size=(3, 5, 4)).astype("float32"))

    def loss_and_grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(_loss_fn(LABELS, x, LABEL_LENGTH, LOGIT_LENGTH))
        return loss, tape.gradient(loss, x)

    eager = loss_and_grad(logits)
    traced = tf.function(loss_and_grad)(logits)
    for a, b in zip(eager, traced):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("call,message", [
    (lambda: _loss_fn([[1, 9]], np.zeros((1, 4, 4)), [2], [4]), r"labels must be class"),
    (lambda: _loss_fn([[1]], np.zeros((1, 4, 4)), [1], [5]), r"logit_length must be in"),
    (lambda: _loss_fn([[1]], np.zeros((1, 4, 4)), [2], [4]), r"label_length must be in"),
    (lambda: _loss_fn([1], np.zeros((1, 4, 4)), [1], [4]), r"labels must have shape"),
    (lambda: _loss_fn([[1]], np.zeros((4, 4)), [1], [4]), r"logits must have rank 3"),
    (lambda: _loss_fn([[1], [2]], np.zeros((1, 4, 4)), [1, 1], [4]), r"one entry per sequence"),
    (lambda: _loss_fn([[1]], np.zeros((1, 4, 4)), [1.0], [4]), r"must be an integer tensor"),
    (lambda: tf.nn.ctc_loss([[1]], np.zeros((4, 1, 4)), [1], [4], blank_index=4),
     r"blank_index must be in"),
])
def test_tf_ctc_loss_bad_inputs_fail_clearly(call, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        call()


def test_tf_ctc_loss_sparse_labels_need_blank_index():
    sparse = ctc.SparseTensorValue([[0, 0]], [1], [1, 1])
    with pytest.raises(ValueError, match="blank_index must be given with sparse labels"):
        tf.nn.ctc_loss(sparse, np.zeros((4, 1, 3)), None, [4])


def test_tf_decoders_return_sparse_values_of_time_major_logits():
    rng = np.random.default_rng(3)
    logits = rng.uniform(-2, 2, (3, 5, 3))
    lengths = np.array([5, 3, 1], np.int32)
    time_major = np.transpose(logits, (1, 0, 2))
    (decoded,), scores = tf.nn.ctc_greedy_decoder(time_major, lengths)
    dense, expected_scores = _ref_greedy(logits, lengths, 2)
    rows, columns = np.nonzero(dense >= 0)
    np.testing.assert_array_equal(decoded.indices.numpy(), np.stack([rows, columns], 1))
    np.testing.assert_array_equal(decoded.values.numpy(), dense[rows, columns])
    assert decoded.values.dtype == tf.int64
    np.testing.assert_array_equal(decoded.dense_shape.numpy(), [3, (dense >= 0).sum(1).max()])
    np.testing.assert_allclose(scores.numpy(), expected_scores, rtol=1e-12)
    paths, log_probability = tf.nn.ctc_beam_search_decoder(time_major, lengths, top_paths=2)
    best, best_scores = _ref_best_labellings(logits, lengths, 2, 2)
    for k in range(2):
        rows, columns = np.nonzero(best[k] >= 0)
        np.testing.assert_array_equal(paths[k].values.numpy(), best[k][rows, columns])
    np.testing.assert_allclose(log_probability.numpy(), best_scores, rtol=1e-10)
    with pytest.raises(tf.errors.InvalidArgumentError, match="top_paths must be at most"):
        tf.nn.ctc_beam_search_decoder(time_major, lengths, beam_width=2, top_paths=3)


# ------------------------------------------------------------------ against real Keras

def _keras_case(seed, dtype="float32"):
    rng = np.random.default_rng(seed)
    target = rng.integers(1, 6, (4, 5)).astype("int32")
    target[0, 1] = target[0, 0]  # a repeated label
    target[2, 3:] = 0
    target_length = np.array([5, 4, 3, 0], "int32")
    output = rng.normal(size=(4, 12, 6)).astype(dtype)
    output_length = np.array([12, 9, 7, 5], "int32")
    return target, output, target_length, output_length


def _torch_ctc_loss(target, output, target_length, output_length, mask_index):
    """PyTorch's own CTC loss of batch-major logits, in their dtype (Keras on torch computes
    float64 logits in float32; tensorflux keeps float64)."""
    import torch

    log_probs = torch.nn.functional.log_softmax(output, dim=-1).transpose(0, 1)
    return torch.nn.functional.ctc_loss(
        log_probs, torch.tensor(target, dtype=torch.long), torch.tensor(output_length),
        torch.tensor(target_length), blank=mask_index, reduction="none")


@pytest.mark.parametrize("mask_index,dtype", [(0, "float32"), (3, "float32"), (0, "float64")])
def test_ops_ctc_loss_and_its_gradient_match_keras_and_torch(mask_index, dtype):
    import torch

    keras = import_keras()
    target, output, target_length, output_length = _keras_case(mask_index + 1, dtype)
    if mask_index:  # labels avoid the blank
        target = np.where(target == mask_index, 5, target).astype("int32")
    weights = np.array([1.0, -0.5, 2.0, 0.75])
    theirs_input = torch.tensor(output, requires_grad=True)
    oracle = keras.ops.ctc_loss if dtype == "float32" else _torch_ctc_loss
    theirs = oracle(target, theirs_input, target_length, output_length, mask_index)
    (theirs * torch.tensor(weights, dtype=theirs.dtype)).sum().backward()
    x = tf.constant(output)
    with tf.GradientTape() as tape:
        tape.watch(x)
        ours = tfk.ops.ctc_loss(target, x, target_length, output_length, mask_index=mask_index)
        total = tf.reduce_sum(ours * weights.astype(dtype))
    assert ours.dtype.name == dtype
    tolerance = 1e-5 if dtype == "float32" else 1e-12
    assert_matches(ours, theirs, rtol=tolerance, atol=tolerance, what="ctc_loss")
    gradient = tape.gradient(total, x)
    assert_matches(gradient, theirs_input.grad, rtol=tolerance, atol=tolerance,
                   what="ctc_loss gradient")
    assert not gradient.numpy()[1, 9:].any()  # nothing past a sequence's output_length


@pytest.mark.parametrize("kwargs", [
    {}, {"merge_repeated": False}, {"mask_index": 2}, {"mask_index": None},
    {"strategy": "beam_search", "beam_width": 3, "top_paths": 2},
    {"strategy": "beam_search", "beam_width": 16, "top_paths": 3, "mask_index": 5},
])
def test_ops_ctc_decode_matches_keras(kwargs):
    keras = import_keras()
    rng = np.random.default_rng(4)
    inputs = (2 * rng.normal(size=(3, 9, 6))).astype("float32")
    inputs[0, 1] = inputs[0, 0]  # a repeated best class
    lengths = np.array([9, 6, 2], "int32")
    theirs = keras.ops.ctc_decode(inputs, lengths, **kwargs)
    ours = tfk.ops.ctc_decode(inputs, lengths, **kwargs)
    assert_matches(ours[0], theirs[0], what="decoded")
    assert_matches(ours[1], theirs[1], rtol=1e-5, atol=1e-5, what="scores")


def test_ctc_loss_class_and_function_match_keras():
    keras = import_keras()
    target, output, _, _ = _keras_case(5)
    target[1, 2:] = 0  # keras.losses.ctc reads the label length from the zeros
    weights = np.array([1.0, 0.0, 2.0, 0.5], "float32")
    assert_matches(tfk.losses.ctc(target, output), keras.losses.ctc(target, output),
                   rtol=1e-5, what="ctc")
    for reduction in ("sum_over_batch_size", "sum", None):
        theirs = keras.losses.CTC(reduction=reduction)(target, output, sample_weight=weights)
        ours = tfk.losses.CTC(reduction=reduction)(target, output, sample_weight=weights)
        assert_matches(ours, theirs, rtol=1e-5, what=f"CTC reduction={reduction}")
    loss = tfk.losses.CTC(name="seq")
    assert loss.get_config() == keras.losses.CTC(name="seq").get_config()
    assert isinstance(tfk.losses.get("CTC"), tfk.losses.CTC)
    revived = tfk.losses.deserialize(keras.losses.serialize(keras.losses.CTC()))
    assert isinstance(revived, tfk.losses.CTC) and revived.name == "ctc"
    with pytest.raises(ValueError, match=r"y_true.shape"):
        tfk.losses.ctc(target[0], output)


def _captcha_model(lib, loss_kind):
    """The keras.io OCR-captcha pattern, small: the CTC loss added by a custom layer that
    passes the logits through, compiled without a loss."""
    ops = lib.ops

    class CTCLayer(lib.layers.Layer):
        def call(self, y_true, y_pred):
            if loss_kind == "class":
                loss = lib.losses.CTC()(y_true, y_pred)
            else:
                batch = ops.shape(y_pred)[0]
                input_length = ops.shape(y_pred)[1] * ops.ones((batch,), dtype="int32")
                label_length = ops.sum(ops.cast(ops.not_equal(y_true, 0), "int32"), axis=-1)
                loss = ops.mean(ops.ctc_loss(y_true, y_pred, label_length, input_length))
            self.add_loss(loss)
            return y_pred

    image = lib.Input((10, 6), name="image")
    labels = lib.Input((4,), name="label", dtype="float32")
    x = lib.layers.Dense(16, activation="relu", name="dense")(image)
    x = lib.layers.Dense(5, name="logits")(x)
    model = lib.Model([image, labels], CTCLayer(name="ctc_loss")(labels, x))
    model.compile(optimizer=lib.optimizers.Adam(0.01))
    return model


@pytest.mark.parametrize("loss_kind", ["ops", "class"])
def test_captcha_style_model_trains_like_keras(loss_kind):
    keras = import_keras()
    rng = np.random.default_rng(6)
    images = rng.normal(size=(12, 10, 6)).astype("float32")
    labels = rng.integers(1, 5, (12, 4)).astype("float32")
    labels[::3, 3] = 0
    labels[1::4, 2:] = 0
    theirs = _captcha_model(keras, loss_kind)
    ours = _captcha_model(tfk, loss_kind)
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    fit = {"epochs": 3, "batch_size": 4, "shuffle": False, "verbose": 0}
    expected = theirs.fit([images, labels], **fit).history["loss"]
    got = ours.fit([images, labels], **fit).history["loss"]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert got[-1] < got[0]
    # then decode the predictions greedily, as the example does
    predict_theirs = keras.Model(theirs.inputs[0], theirs.get_layer("logits").output)
    predict_ours = tfk.Model(ours.inputs[0], ours.get_layer("logits").output)
    logits = predict_ours.predict(images, verbose=0)
    assert_matches(logits, predict_theirs.predict(images, verbose=0), rtol=1e-5, atol=1e-5)
    lengths = np.full(12, 10)
    assert_matches(tfk.ops.ctc_decode(logits, lengths)[0],
                   keras.ops.ctc_decode(logits, lengths)[0], what="decoded predictions")


def test_model_with_ctc_op_nodes_saves_for_keras(tmp_path):
    keras = import_keras()
    logits = tfk.Input((7, 4), name="logits")
    lengths = tfk.Input((), dtype="int32", name="lengths")
    decoded, scores = tfk.ops.ctc_decode(logits, lengths, strategy="beam_search",
                                         beam_width=5, top_paths=2, mask_index=3)
    model = tfk.Model([logits, lengths], [decoded, scores])
    data = [np.random.default_rng(8).normal(size=(2, 7, 4)).astype("float32"),
            np.array([7, 4], "int32")]
    path = tmp_path / "ctc.keras"
    model.save(path)
    expected = model(data)
    loaded = keras.models.load_model(path)
    for ours, theirs in zip(expected, loaded(data)):
        assert_matches(ours, theirs, rtol=1e-5, atol=1e-5, what="Keras-loaded ctc_decode")
