"""Connectionist Temporal Classification (tf.nn.ctc_*): the CTC loss of padded dense labels,
and the greedy and beam-search decoders, with the batch-major padded forms keras.ops uses."""

import collections

from tensorflux import dtypes, errors
from tensorflux.ops import array, indexing, linalg, math, reduction
from tensorflux.ops._core import as_operand, aval
from tensorflux.primitive import Primitive
from tensorflux.tensor import _TensorLike

__all__ = ["ctc_loss", "ctc_greedy_decoder", "ctc_beam_search_decoder", "SparseTensorValue",
           "ctc_unique_labels",
           "ctc_greedy_decode_dense", "ctc_beam_search_decode_dense"]

# What TensorFlow's decoders return each decoded batch as: the (indices, values, dense_shape)
# triple of a sparse tensor (tensorflux has no SparseTensor type; this is TF's value form).
SparseTensorValue = collections.namedtuple("SparseTensorValue",
                                           ["indices", "values", "dense_shape"])


# ------------------------------------------------------------------ operands

def _logits_operand(op, logits, what="logits"):
    logits = as_operand(op, logits)
    if not logits.dtype.is_floating:
        raise errors.InvalidArgumentError(
            f"{op}: {what} must be a floating-point tensor, received dtype "
            f"{logits.dtype.name}", op)
    if logits.shape.rank != 3:
        raise errors.InvalidArgumentError(
            f"{op}: {what} must have rank 3, received shape {tuple(logits.shape)}", op)
    # As TensorFlow, half-precision logits are computed (and the results given) in float32.
    if logits.dtype.size < 4:
        logits = math.cast(logits, dtypes.float32)
    return logits


def _integer_operand(op, x, rank, what, expected):
    if x is None:
        raise errors.InvalidArgumentError(f"{op}: {what} is required", op)
    x = as_operand(op, x)
    if not x.dtype.is_integer:
        raise errors.InvalidArgumentError(
            f"{op}: {what} must be an integer tensor, received dtype {x.dtype.name}", op)
    if x.shape.rank != rank:
        raise errors.InvalidArgumentError(
            f"{op}: {what} must have shape {expected}, received shape {tuple(x.shape)}", op)
    return x


def _check_batch(op, batch, x, what):
    found = x.shape[0]
    if batch is not None and found is not None and found != batch:
        raise errors.InvalidArgumentError(
            f"{op}: {what} must have one entry per sequence of the batch ({batch}), received "
            f"shape {tuple(x.shape)}", op)


def _blank(op, blank_index, classes, default):
    """blank_index (negative counts from the end) as an index in [0, classes)."""
    if blank_index is None:
        return default
    blank = int(blank_index)
    if blank < 0:
        if classes is None:
            raise errors.InvalidArgumentError(
                f"{op}: a negative blank_index needs a known number of classes", op)
        blank += classes
    if blank < 0 or (classes is not None and blank >= classes):
        raise errors.InvalidArgumentError(
            f"{op}: blank_index must be in [-{classes}, {classes}) for {classes} classes, "
            f"received {blank_index}", op)
    return blank


def _batch_major(logits, time_major):
    return linalg.transpose(logits, [1, 0, 2]) if time_major else logits


# ------------------------------------------------------------------ loss

def _ctc_loss_rule(labels, logits, label_length, logit_length, blank):
    batch, frames, _ = logits.shape
    width = labels.shape[1]
    states = None if width is None else 2 * width + 1
    return aval((batch,), logits.dtype), aval((frames, batch, states), dtypes.float64)


def _ctc_loss_vjp(g, labels, logits, label_length, logit_length, out, blank):
    loss, log_alpha = out
    grad = _ctc_loss_grad.bind(labels, logits, label_length, logit_length, log_alpha, loss,
                               blank=blank)
    return None, grad * array.reshape(g[0], [-1, 1, 1]), None, None


# ctc_loss: (per-sequence negative log-likelihood, every frame's log alphas [T, B, S]) from
# batch-major logits, one kernel for the whole log-space forward recursion (numerically safe
# where a composite of per-frame ops would be slow); its VJP is ctc_loss_grad, the backward
# (beta) recursion, which gives d loss / d logits = softmax - state occupancy per class.
_ctc_loss = Primitive("ctc_loss", vjp=_ctc_loss_vjp, shape_rule=_ctc_loss_rule,
                      multiple_results=True)
_ctc_loss_grad = Primitive(
    "ctc_loss_grad",
    shape_rule=lambda labels, logits, *rest, blank: aval(logits.shape, logits.dtype))


def _dense_labels(sparse):
    """Sparse labels as dense [batch, max_label_length] labels and their label_length (the
    entries of each row)."""
    indices = as_operand("ctc_loss", sparse.indices, dtypes.int64)
    shape = as_operand("ctc_loss", sparse.dense_shape, dtypes.int64)
    values = math.cast(as_operand("ctc_loss", sparse.values), dtypes.int32)
    dense = indexing.scatter_nd(indices, values, shape)
    rows = indexing.scatter_nd(indices[:, :1], array.ones_like(values), shape[:1])
    return dense, rows


def ctc_loss(labels, logits, label_length, logit_length, logits_time_major=True, unique=None,
             blank_index=None, name=None):
    """The CTC loss (negative log-likelihood of each label sequence) of a batch.

    labels: dense int [batch, max_label_length], the first label_length entries of each row
    used; logits: [frames, batch, classes] ([batch, frames, classes] when not time major);
    logit_length: the frames of each sequence. blank_index defaults to 0 (negative counts
    from the last class). `unique` (TF's TPU hint) is not needed. Sparse labels (a
    SparseTensor; label_length then unused) need an explicit blank_index, as TensorFlow.

    >>> import tensorflux as tf
    >>> loss = tf.nn.ctc_loss([[1]], tf.zeros([2, 1, 2]), [1], [2])
    >>> round(float(loss[0]), 6)  # -log(3/4): three of the four paths spell "1"
    0.287682
    """
    op = "ctc_loss"
    if not isinstance(labels, _TensorLike) and all(
            hasattr(labels, key) for key in ("indices", "values", "dense_shape")):
        if blank_index is None:
            raise errors.InvalidArgumentError(
                f"{op}: blank_index must be given with sparse labels (TensorFlow's v1 CTC "
                "used the last class; pass blank_index=-1 for that)", op)
        labels, label_length = _dense_labels(labels)
    logits = _batch_major(_logits_operand(op, logits), logits_time_major)
    labels = _integer_operand(op, labels, 2, "labels", "[batch, max_label_length]")
    label_length = _integer_operand(op, label_length, 1, "label_length", "[batch]")
    logit_length = _integer_operand(op, logit_length, 1, "logit_length", "[batch]")
    batch, _, classes = logits.shape
    for x, what in ((labels, "labels"), (label_length, "label_length"),
                    (logit_length, "logit_length")):
        _check_batch(op, batch, x, what)
    blank = _blank(op, blank_index, classes, 0)
    loss, _ = _ctc_loss.bind(labels, logits, label_length, logit_length, blank=blank)
    return loss


def ctc_unique_labels(labels, name=None):
    """Each row's distinct labels in first-seen order, zero-padded (int64), and each entry's
    position among them (int32): TensorFlow's `unique=` hint for ctc_loss.

    >>> from tensorflux.ops.ctc import ctc_unique_labels
    >>> unique, idx = ctc_unique_labels([[3, 4, 4, 3, 0]])
    >>> unique.numpy().tolist(), idx.numpy().tolist()
    ([[3, 4, 0, 0, 0]], [[0, 1, 1, 0, 2]])
    """
    op = "ctc_unique_labels"
    labels = _integer_operand(op, labels, 2, "labels", "[batch, max_label_length]")
    width = labels.shape[-1] if labels.shape[-1] is not None else array.shape(labels)[-1]
    same = math.cast(math.equal(array.expand_dims(labels, 2), array.expand_dims(labels, 1)),
                     dtypes.int32)
    first = reduction.argmax(same, axis=2, output_type=dtypes.int32)  # first equal entry
    is_first = math.equal(first, array.expand_dims(array.range(width, dtype=dtypes.int32), 0))
    rank = reduction.cumsum(math.cast(is_first, dtypes.int32), axis=1) - 1
    idx = indexing.gather(rank, first, batch_dims=1)
    slot = array.one_hot(math.where(is_first, rank, -1), width, dtype=dtypes.int64)
    unique = reduction.reduce_sum(slot * array.expand_dims(math.cast(labels, dtypes.int64), 2),
                                  axis=1)
    return [unique, idx]


# ------------------------------------------------------------------ decoders

def _sequence_lengths(op, sequence_length, logits):
    lengths = _integer_operand(op, sequence_length, 1, "sequence_length", "[batch]")
    _check_batch(op, logits.shape[0], lengths, "sequence_length")
    return lengths


def ctc_greedy_decode_dense(logits, sequence_length, merge_repeated=True, blank_index=None):
    """Best-path decoding of batch-major logits [batch, frames, classes]: the most likely
    class of each frame, repeats merged (when merge_repeated) and blanks removed.

    Returns (decoded [batch, frames] int32, each row's labels followed by -1, and
    neg_sum_logits [batch, 1], minus the sum over its frames of each sequence's largest
    logit). blank_index defaults to the last class.

    >>> from tensorflux.ops import ctc
    >>> logits = [[[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]]
    >>> decoded, _ = ctc.ctc_greedy_decode_dense(logits, [4])
    >>> decoded.numpy().tolist()
    [[1, 0, -1, -1]]
    """
    op = "ctc_greedy_decoder"
    logits = _logits_operand(op, logits, "inputs")
    lengths = _sequence_lengths(op, sequence_length, logits)
    frames, classes = logits.shape[1], logits.shape[2]
    blank = _blank(op, blank_index, classes, None if classes is None else classes - 1)
    if blank is None:
        raise errors.InvalidArgumentError(f"{op}: the default blank (the last class) needs a "
                                          "known number of classes", op)
    if frames is None:
        frames = array.shape(logits)[1]
    best = reduction.argmax(logits, axis=-1, output_type=dtypes.int32)
    valid = math.less(array.range(frames, dtype=lengths.dtype), array.expand_dims(lengths, -1))
    best = math.where(valid, best, blank)
    score = math.where(valid, reduction.reduce_max(logits, axis=-1), 0.0)
    if merge_repeated:
        repeat = math.equal(best[:, 1:], best[:, :-1])
        best = math.where(array.concat([array.zeros_like(repeat[:, :1]), repeat], 1), blank,
                          best)
    kept = math.not_equal(best, blank)
    # Each row's kept labels moved to its front, in order: sort frame positions, the dropped
    # ones keyed past the end.
    keys = math.where(kept, array.range(frames, dtype=dtypes.int32), frames)
    order = array.argsort(keys, axis=-1, stable=True)
    decoded = indexing.gather(math.where(kept, best, -1), order, batch_dims=1)
    return decoded, math.negative(reduction.reduce_sum(score, axis=-1, keepdims=True))


def _beam_search_rule(logits, lengths, beam_width, top_paths, blank):
    batch, frames, _ = logits.shape
    return aval((top_paths, batch, frames), dtypes.int32), aval((batch, top_paths),
                                                                logits.dtype)


# ctc_beam_search_decode: a prefix beam search over batch-major logits, one kernel (a
# per-prefix search with data-dependent merging has no efficient composite); no gradient.
_ctc_beam_search = Primitive("ctc_beam_search_decode", shape_rule=_beam_search_rule,
                             vjp=lambda g, *inputs, out, **attrs: (None, None),
                             multiple_results=True)


def _positive_int(op, value, what):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise errors.InvalidArgumentError(f"{op}: {what} must be a positive integer, "
                                          f"received {value!r}", op)
    return value


def ctc_beam_search_decode_dense(logits, sequence_length, beam_width=100, top_paths=1,
                                 blank_index=None):
    """Prefix beam search over batch-major logits [batch, frames, classes], keeping the
    beam_width most probable label prefixes at each frame.

    Returns (decoded [top_paths, batch, frames] int32, the best paths first, each row's
    labels followed by -1, and their log-probabilities [batch, top_paths]). blank_index
    defaults to the last class.

    >>> from tensorflux.ops import ctc
    >>> logits = [[[0.0, 2.0, 0.0], [0.0, 0.0, 2.0], [2.0, 0.0, 0.0]]]
    >>> decoded, _ = ctc.ctc_beam_search_decode_dense(logits, [3], beam_width=4)
    >>> decoded.numpy().tolist()
    [[[1, 0, -1]]]
    """
    op = "ctc_beam_search_decoder"
    logits = _logits_operand(op, logits, "inputs")
    lengths = _sequence_lengths(op, sequence_length, logits)
    classes = logits.shape[2]
    blank = _blank(op, blank_index, classes, None if classes is None else classes - 1)
    if blank is None:
        raise errors.InvalidArgumentError(f"{op}: the default blank (the last class) needs a "
                                          "known number of classes", op)
    return _ctc_beam_search.bind(logits, lengths,
                                 beam_width=_positive_int(op, beam_width, "beam_width"),
                                 top_paths=_positive_int(op, top_paths, "top_paths"),
                                 blank=blank)


def _sparse(decoded):
    """A [batch, frames] decoding padded with -1 as TensorFlow's sparse (indices, values,
    dense_shape), dense_shape [batch, longest decoding]."""
    kept = math.greater_equal(decoded, 0)
    indices = math.where(kept)
    values = math.cast(indexing.gather_nd(decoded, indices), dtypes.int64)
    longest = reduction.reduce_max(reduction.reduce_sum(math.cast(kept, dtypes.int64), axis=1))
    batch = math.cast(array.shape(decoded)[0], dtypes.int64)
    from tensorflux.sparse import SparseTensor  # (above ops/: loaded when a decoder runs)

    return SparseTensor(indices, values, array.stack([batch, longest]))


def ctc_greedy_decoder(inputs, sequence_length, merge_repeated=True, blank_index=None):
    """TensorFlow's greedy (best-path) decoder of time-major logits [frames, batch, classes].

    Returns ([decoded], neg_sum_logits [batch, 1]); decoded is a SparseTensorValue of int64
    labels. blank_index defaults to the last class.

    >>> import tensorflux as tf
    >>> logits = [[[0.0, 1.0, 0.0]], [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]]]
    >>> (decoded,), _ = tf.nn.ctc_greedy_decoder(logits, [3])
    >>> decoded.values.numpy().tolist()
    [1, 0]
    """
    logits = _logits_operand("ctc_greedy_decoder", inputs, "inputs")
    decoded, scores = ctc_greedy_decode_dense(linalg.transpose(logits, [1, 0, 2]),
                                              sequence_length, merge_repeated, blank_index)
    return [_sparse(decoded)], scores


def ctc_beam_search_decoder(inputs, sequence_length, beam_width=100, top_paths=1, name=None):
    """TensorFlow's beam-search decoder of time-major logits [frames, batch, classes], the
    last class being the blank.

    Returns (decoded, log_probability [batch, top_paths]); decoded lists top_paths
    SparseTensorValue of int64 labels, the most probable first.

    >>> import tensorflux as tf
    >>> logits = [[[0.0, 2.0, 0.0]], [[0.0, 0.0, 2.0]], [[2.0, 0.0, 0.0]]]
    >>> decoded, _ = tf.nn.ctc_beam_search_decoder(logits, [3], beam_width=4)
    >>> decoded[0].values.numpy().tolist()
    [1, 0]
    """
    op = "ctc_beam_search_decoder"
    if _positive_int(op, top_paths, "top_paths") > _positive_int(op, beam_width, "beam_width"):
        raise errors.InvalidArgumentError(
            f"{op}: top_paths must be at most beam_width, received top_paths={top_paths} and "
            f"beam_width={beam_width}", op)
    logits = _logits_operand(op, inputs, "inputs")
    decoded, log_probability = ctc_beam_search_decode_dense(
        linalg.transpose(logits, [1, 0, 2]), sequence_length, beam_width, top_paths)
    return [_sparse(decoded[k]) for k in range(top_paths)], log_probability
