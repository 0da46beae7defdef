"""Candidate sampling (tf.random.log_uniform_candidate_sampler, ...), the sampled losses built
on it (tf.nn.sampled_softmax_loss, tf.nn.nce_loss: word2vec's losses), and stateless seed
splitting (tf.random.split, tf.random.fold_in).

A sampler is a probability vector over [0, range_max) and one primitive that draws from it
(`random_candidates`, seeded like every tf.random op); the expected counts that the losses
subtract in logs are computed from the same vector, as TensorFlow defines them: with unique
sampling, 1 - (1 - p)^tries for the number of draws it took, else num_sampled * p.
"""

from tensorflux import dtypes, errors
from tensorflux.ops import array, composite, indexing, linalg, math, nn, reduction
from tensorflux.ops import random as _random
from tensorflux.ops._core import as_operand, aval
from tensorflux.primitive import Primitive

__all__ = ["log_uniform_candidate_sampler", "uniform_candidate_sampler",
           "fixed_unigram_candidate_sampler", "all_candidate_sampler",
           "compute_accidental_hits", "sampled_softmax_loss", "nce_loss", "split", "fold_in"]

# random_candidates: num_sampled ids drawn from a probability vector (unique: until that many
# distinct ids came up), and the number of draws; a random draw, so no gradient.
_random_candidates = Primitive(
    "random_candidates", multiple_results=True, vjp=_random._no_gradient,
    shape_rule=lambda probabilities, *seed_input, num_sampled, unique, seed: (
        aval([num_sampled], dtypes.int64), aval([], dtypes.float64)))

# float32's largest value: what TensorFlow adds to the logit of an accidental hit.
_FLOAT32_MAX = 3.4028234663852886e38


def _true_classes(op, true_classes, num_true):
    classes = as_operand(op, true_classes)
    if not classes.dtype.is_integer or classes.shape.rank != 2 or classes.shape[1] not in (
            None, num_true):
        raise errors.InvalidArgumentError(
            f"{op}: true_classes must be an integer matrix [batch, num_true={num_true}], "
            f"received {classes.dtype.name} with shape {tuple(classes.shape)}", op)
    return math.cast(classes, dtypes.int64)


def _sample(op, probabilities, true_classes, num_true, num_sampled, unique, seed):
    """(sampled ids, expected counts of the true classes, of the sampled ids)."""
    num_true = int(num_true)
    classes = _true_classes(op, true_classes, num_true)
    num_sampled = composite._int(op, num_sampled, "num_sampled")
    range_max = probabilities.shape[0]
    if num_sampled < 1 or (unique and num_sampled > range_max):
        raise errors.InvalidArgumentError(
            f"{op}: num_sampled must be in [1, range_max] (range_max = {range_max} with unique "
            f"sampling), received {num_sampled}", op)
    sampled, tries = _random._bind_draw(_random_candidates, (probabilities,),
                                        _random._op_seed(seed), num_sampled=num_sampled,
                                        unique=bool(unique))

    def expected(ids):
        p = indexing.gather(probabilities, ids)
        if not unique:
            return p * float(num_sampled)
        # As TF: when no draw was a repeat, num_sampled * p rather than 1 - (1 - p)^tries.
        return math.where(math.equal(tries, float(num_sampled)), p * float(num_sampled),
                          math.negative(math.expm1(tries * math.log1p(math.negative(p)))))

    return (sampled, math.cast(expected(classes), dtypes.float32),
            math.cast(expected(sampled), dtypes.float32))


def _range_max(op, range_max):
    count = composite._int(op, range_max, "range_max")
    if count < 1:
        raise errors.InvalidArgumentError(f"{op}: range_max must be positive, received "
                                          f"{count}", op)
    return count


def log_uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                                  seed=None, name=None):
    """Samples class ids from the log-uniform (Zipfian) distribution over [0, range_max):
    P(c) = log((c + 2) / (c + 1)) / log(range_max + 1), which suits vocabularies sorted by
    decreasing frequency. Returns (sampled_candidates, true_expected_count,
    sampled_expected_count).

    >>> import tensorflux as tf
    >>> ids, true_count, sampled_count = tf.random.log_uniform_candidate_sampler(
    ...     [[1]], 1, 4, True, 10, seed=1)
    >>> ids.shape, true_count.shape, sampled_count.shape
    (TensorShape([4]), TensorShape([1, 1]), TensorShape([4]))
    """
    op = "log_uniform_candidate_sampler"
    count = _range_max(op, range_max)
    c = array.range(0, count, dtype=dtypes.float64)
    probabilities = (math.log(c + 2.0) - math.log(c + 1.0)) / math.log(
        math.const(count + 1.0, c))
    return _sample(op, probabilities, true_classes, num_true, num_sampled, unique, seed)


def uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                              seed=None, name=None):
    """Samples class ids uniformly from [0, range_max). Returns (sampled_candidates,
    true_expected_count, sampled_expected_count).

    >>> import tensorflux as tf
    >>> _, true_count, _ = tf.random.uniform_candidate_sampler([[1, 2]], 2, 5, False, 10, seed=1)
    >>> true_count.numpy().tolist()
    [[0.5, 0.5]]
    """
    op = "uniform_candidate_sampler"
    count = _range_max(op, range_max)
    probabilities = array.ones([count], dtypes.float64) / float(count)
    return _sample(op, probabilities, true_classes, num_true, num_sampled, unique, seed)


def _vocab_counts(op, vocab_file):
    """The counts in the last comma-separated column of each line of a vocabulary file."""
    counts = []
    try:
        with open(vocab_file, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    counts.append(float(line.rsplit(",", 1)[-1]))
    except (OSError, ValueError) as error:
        raise errors.InvalidArgumentError(
            f"{op}: cannot read counts from vocab_file {vocab_file!r} ({error})", op) from error
    return counts


def fixed_unigram_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                                    vocab_file="", distortion=1.0, num_reserved_ids=0,
                                    num_shards=1, shard=0, unigrams=(), seed=None, name=None):
    """Samples class ids in proportion to given counts (`unigrams`, or the last column of
    `vocab_file`) raised to `distortion`; the first num_reserved_ids ids are never drawn.
    With num_shards, only the ids of this shard (id % num_shards == shard) are kept, and
    numbered 0, 1, ... in their order (as TF: range_max is then the shard's id count).
    Returns (sampled_candidates, true_expected_count, sampled_expected_count).

    >>> import tensorflux as tf
    >>> ids, _, _ = tf.random.fixed_unigram_candidate_sampler(
    ...     [[0]], 1, 2, True, 3, unigrams=[0.0, 1.0, 1.0], seed=1)
    >>> sorted(ids.numpy().tolist())
    [1, 2]
    """
    op = "fixed_unigram_candidate_sampler"
    count = _range_max(op, range_max)
    if bool(vocab_file) == bool(len(unigrams)):
        raise errors.InvalidArgumentError(
            f"{op}: give exactly one of vocab_file and unigrams", op)
    counts = _vocab_counts(op, vocab_file) if vocab_file else [float(u) for u in unigrams]
    reserved = int(num_reserved_ids)
    shards, shard = int(num_shards), int(shard)
    if shards < 1 or not 0 <= shard < shards:
        raise errors.InvalidArgumentError(
            f"{op}: shard must be in [0, num_shards) with num_shards >= 1, received shard "
            f"{shard} of {shards}", op)
    weights = [0.0] * reserved + [c ** float(distortion) for c in counts]
    weights = [w for i, w in enumerate(weights) if i % shards == shard]
    if len(weights) != count:
        raise errors.InvalidArgumentError(
            f"{op}: range_max ({count}) must equal the number of weights ({len(weights)}): "
            f"num_reserved_ids ({reserved}) plus the {len(counts)} counts, of which this "
            f"shard keeps every num_shards-th ({shards})", op)
    total = sum(weights)
    if total <= 0:
        raise errors.InvalidArgumentError(f"{op}: the counts must have a positive sum", op)
    probabilities = as_operand(op, [w / total for w in weights], dtypes.float64)
    return _sample(op, probabilities, true_classes, num_true, num_sampled, unique, seed)


def all_candidate_sampler(true_classes, num_true, num_sampled, unique, seed=None, name=None):
    """The candidates 0 .. num_sampled - 1, each expected once: for tests and small class
    counts. Returns (sampled_candidates, true_expected_count, sampled_expected_count).

    >>> import tensorflux as tf
    >>> tf.random.all_candidate_sampler([[2]], 1, 3, True)[0].numpy().tolist()
    [0, 1, 2]
    """
    op = "all_candidate_sampler"
    classes = _true_classes(op, true_classes, int(num_true))
    count = composite._int(op, num_sampled, "num_sampled")
    return (array.range(0, count, dtype=dtypes.int64), array.ones_like(classes, dtypes.float32),
            array.ones([count], dtypes.float32))


def _hits(true_classes, sampled):
    """[batch, num_sampled] bool: whether each sampled id is one of the row's true classes."""
    return reduction.reduce_any(math.equal(array.expand_dims(true_classes, 2),
                                           array.reshape(sampled, [1, 1, -1])), axis=1)


def compute_accidental_hits(true_classes, sampled_candidates, num_true, seed=None, name=None):
    """Where sampled candidates equal a row's true classes: (row indices, positions in the
    samples, weights of -float32.max to add to those logits).

    >>> import tensorflux as tf
    >>> rows, ids, _ = tf.nn.compute_accidental_hits([[1], [2]], [2, 5, 1], 1)
    >>> rows.numpy().tolist(), ids.numpy().tolist()
    ([0, 1], [2, 0])
    """
    op = "compute_accidental_hits"
    classes = _true_classes(op, true_classes, int(num_true))
    sampled = math.cast(as_operand(op, sampled_candidates), dtypes.int64)
    where = array.where_indices(_hits(classes, sampled))
    rows, ids = math.cast(where[:, 0], dtypes.int32), where[:, 1]
    weights = array.fill(array.shape(ids), math.const(-_FLOAT32_MAX,
                                                      as_operand(op, 0.0, dtypes.float32)))
    return rows, ids, weights


def _rows(op, params, ids):
    """The rows `ids` of a weight matrix, or of shards of one concatenated in order."""
    if isinstance(params, (list, tuple)):
        params = array.concat([as_operand(op, p) for p in params], 0) if len(params) > 1 \
            else as_operand(op, params[0])
    return indexing.gather(params, ids)


def _sampled_logits(op, weights, biases, labels, inputs, num_sampled, num_classes, num_true,
                    sampled_values, subtract_log_q, remove_accidental_hits, seed):
    """(logits [batch, num_true + num_sampled], label weights of the same shape): the true
    classes' logits then the sampled ones', each less the log of its expected count."""
    inputs = nn._float_operand(op, inputs, "inputs")
    num_true = int(num_true)
    labels = math.cast(as_operand(op, labels), dtypes.int64)
    if labels.shape.rank == 1 and num_true == 1:
        labels = array.expand_dims(labels, 1)
    if sampled_values is None:
        sampled_values = log_uniform_candidate_sampler(labels, num_true, num_sampled, True,
                                                       num_classes, seed=seed)
    sampled, true_expected, sampled_expected = (
        array.stop_gradient(as_operand(op, v)) for v in sampled_values)
    sampled = math.cast(sampled, dtypes.int64)
    ids = array.concat([array.reshape(labels, [-1]), sampled], 0)
    rows = math.cast(_rows(op, weights, ids), inputs.dtype)
    bias = math.cast(_rows(op, biases, ids), inputs.dtype)
    label_count = array.shape(labels)[0] * num_true
    true_rows, sampled_rows = rows[:label_count], rows[label_count:]
    true_bias, sampled_bias = bias[:label_count], bias[label_count:]
    dim = rows.shape[-1] if rows.shape[-1] is not None else -1
    true_rows = array.reshape(true_rows, [-1, num_true, dim])
    true_logits = (reduction.reduce_sum(array.expand_dims(inputs, 1) * true_rows, axis=2)
                   + array.reshape(true_bias, [-1, num_true]))
    sampled_logits = linalg.matmul(inputs, sampled_rows, transpose_b=True) + sampled_bias
    if remove_accidental_hits:
        hits = math.cast(_hits(labels, sampled), inputs.dtype)
        sampled_logits = sampled_logits + hits * math.const(-_FLOAT32_MAX, hits)
    if subtract_log_q:
        true_logits = true_logits - math.log(math.cast(true_expected, inputs.dtype))
        sampled_logits = sampled_logits - math.log(math.cast(sampled_expected, inputs.dtype))
    logits = array.concat([true_logits, sampled_logits], 1)
    targets = array.concat([array.ones_like(true_logits) / float(num_true),
                            array.zeros_like(sampled_logits)], 1)
    return logits, targets


def sampled_softmax_loss(weights, biases, labels, inputs, num_sampled, num_classes,
                         num_true=1, sampled_values=None, remove_accidental_hits=True,
                         seed=None, name="sampled_softmax_loss"):
    """Softmax cross-entropy over the true classes and num_sampled sampled classes only
    (log-uniform by default; pass `sampled_values` from a sampler to choose), a cheap
    estimate of the full softmax loss for training. weights are [num_classes, dim] (or a
    list of row shards), biases [num_classes], labels [batch, num_true], inputs [batch, dim];
    returns the per-example losses [batch].

    >>> import tensorflux as tf
    >>> loss = tf.nn.sampled_softmax_loss(tf.zeros([10, 3]), tf.zeros([10]), [[1], [2]],
    ...                                   tf.ones([2, 3]), num_sampled=4, num_classes=10)
    >>> loss.shape
    TensorShape([2])
    """
    logits, targets = _sampled_logits(
        "sampled_softmax_loss", weights, biases, labels, inputs, num_sampled, num_classes,
        num_true, sampled_values, True, remove_accidental_hits, seed)
    return nn.softmax_cross_entropy_with_logits(array.stop_gradient(targets), logits)


def nce_loss(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1,
             sampled_values=None, remove_accidental_hits=False, name="nce_loss"):
    """Noise-contrastive estimation: a logistic loss telling the true classes from
    num_sampled noise classes (log-uniform by default), summed per example. Arguments as
    sampled_softmax_loss; returns the per-example losses [batch].

    >>> import tensorflux as tf
    >>> loss = tf.nn.nce_loss(tf.zeros([10, 3]), tf.zeros([10]), [[1], [2]], tf.ones([2, 3]),
    ...                       num_sampled=4, num_classes=10)
    >>> loss.shape
    TensorShape([2])
    """
    logits, targets = _sampled_logits(
        "nce_loss", weights, biases, labels, inputs, num_sampled, num_classes, num_true,
        sampled_values, True, remove_accidental_hits, None)
    losses = nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)
    return reduction.reduce_sum(losses, axis=1)


# ------------------------------------------------------------------ stateless seeds

def _seed(op, seed):
    seed = as_operand(op, seed)
    if not seed.dtype.is_integer or tuple(seed.shape) != (2,):
        raise errors.InvalidArgumentError(
            f"{op}: seed must be an integer tensor of shape [2], received {seed.dtype.name} "
            f"with shape {tuple(seed.shape)}", op)
    return seed


def split(seed, num=2, alg="auto_select"):
    """`num` new stateless seeds ([num, 2], the seed's dtype) derived from one: for giving
    independent streams to several stateless draws.

    >>> import tensorflux as tf
    >>> tf.random.split(tf.constant([1, 2]), 3).shape
    TensorShape([3, 2])
    """
    seed = _seed("split", seed)
    count = composite._int("split", num, "num")
    return _random.stateless_uniform([count, 2], seed, minval=None, maxval=None,
                                     dtype=seed.dtype)


def fold_in(seed, data, alg="auto_select"):
    """A new stateless seed derived from `seed` and the integer `data` (a step or example
    index): different data give independent seeds.

    >>> import tensorflux as tf
    >>> a = tf.random.fold_in(tf.constant([1, 2]), 7)
    >>> b = tf.random.fold_in(tf.constant([1, 2]), 8)
    >>> a.shape, bool(tf.reduce_any(a != b))
    (TensorShape([2]), True)
    """
    seed = _seed("fold_in", seed)
    data = as_operand("fold_in", data)
    if data.shape.rank != 0 or data.dtype not in (dtypes.int32, dtypes.int64):
        raise errors.InvalidArgumentError(
            f"fold_in: data must be an int32 or int64 scalar, received {data.dtype.name} with "
            f"shape {tuple(data.shape)}", "fold_in")
    # As TF: [a key drawn from the seed, data], in data's dtype (a Python int gives int32
    # whatever the seed's dtype), so that different data give different seeds.
    key = _random.stateless_uniform([], seed, minval=None, maxval=None, dtype=data.dtype)
    return array.stack([key, data])

