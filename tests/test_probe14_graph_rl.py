"""Probe of keras.io's graph and reinforcement-learning examples (GNN node classification, GAT,
MPNN, node2vec, actor-critic, DQN, DDPG, PPO), session 14: the ops those examples trace inside
Model.fit / tf.function with sizes known only at run time. Expected values are NumPy float64
(np.pad, np.repeat, np.bincount, per-segment loops), finite differences, or real Keras 3.

Which patch each group needs (in /tmp/s14/h3/patches):
  01-pad-runtime-paddings       test_pad_*, test_partition_padding_*
  02-mha-rank4-attention-mask   test_mha_* (keras_oracle)
  03-segment-ops-run-time-ids   test_sorted_segment_*, test_unsorted_segment_prod_sqrt_n_*
  04-bincount-run-time-values   test_bincount_*
  05-repeat-run-time-repeats    test_repeat_*, test_gat_normaliser_* (also needs 04)
  06-while-gradient-keeps-side-effect-states   test_loop_gradient_*
  07-tensor-array-unknown-rank-hint            test_tensor_array_of_a_host_call_*
"""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors
from tensorflux.ops import array as array_ops
from tensorflux.ops._static import RuntimeShape
from tests.keras._oracle import assert_matches, import_keras
from tests.ops import harness
from tests.ops.harness import Row

RNG = np.random.default_rng(14)
DATA = RNG.normal(size=(7, 3))
SORTED_IDS = np.array([0, 0, 1, 3, 3, 3, 5], np.int32)
IDS = np.array([2, 0, 2, 1, 0, 4, 2], np.int32)


def _fn(build, *specs):
    """A tf.function of `build` whose inputs have unknown sizes (values known at run time)."""
    return tf.function(build, input_signature=list(specs))


def _segments(data, ids, count, reduce, empty):
    """Per-segment reductions in float64 with a plain loop (the oracle)."""
    out = np.full((count,) + data.shape[1:], empty, np.float64)
    for s in range(count):
        rows = data[ids == s]
        if len(rows):
            out[s] = reduce(rows)
    return out


# ------------------------------------------------------------------ 01: tf.pad at run time

@pytest.mark.parametrize("mode, np_mode", [
    ("CONSTANT", "constant"), ("REFLECT", "reflect"), ("symmetric", "symmetric")])
def test_pad_paddings_computed_inside_the_function(mode, np_mode):
    f = _fn(lambda x, n: tf.pad(x, [(1, n), (n, 0)], mode=mode),
            tf.TensorSpec([None, None], tf.float64), tf.TensorSpec([], tf.int32))
    for n in (0, 2):
        got = f(tf.constant(DATA), tf.constant(n))
        np.testing.assert_array_equal(got.numpy(), np.pad(DATA, [(1, n), (n, 0)], np_mode))


def test_pad_tensor_paddings_and_constant_values():
    f = _fn(lambda x, p: tf.pad(x, p, constant_values=5.0),
            tf.TensorSpec([None, 3], tf.float64), tf.TensorSpec([2, 2], tf.int64))
    got = f(tf.constant(DATA), tf.constant([[1, 0], [0, 2]], tf.int64))
    np.testing.assert_array_equal(got.numpy(),
                                  np.pad(DATA, [(1, 0), (0, 2)], constant_values=5.0))


def test_pad_keeps_the_static_dimensions_it_can():
    seen = {}

    def build(x, n):
        y = tf.pad(x, [(0, n), (1, 1)])
        seen["shape"] = y.shape.as_list()
        return y

    _fn(build, tf.TensorSpec([None, 3], tf.float32), tf.TensorSpec([], tf.int32))(
        tf.ones([2, 3]), tf.constant(4))
    assert seen["shape"] == [None, 5]


def test_pad_paddings_tensor_of_constants_keeps_static_shapes():
    seen = {}

    def build(x):
        y = tf.pad(x, tf.constant([[1, 2], [0, 3]]))
        seen["shape"] = y.shape.as_list()
        return y

    got = _fn(build, tf.TensorSpec([7, 3], tf.float64))(tf.constant(DATA))
    assert seen["shape"] == [10, 6]
    np.testing.assert_array_equal(got.numpy(), np.pad(DATA, [(1, 2), (0, 3)]))


@pytest.mark.parametrize("mode, np_mode", [("CONSTANT", "constant"), ("REFLECT", "reflect")])
def test_pad_gradient_with_run_time_paddings_matches_finite_differences(mode, np_mode):
    weights = RNG.normal(size=(7 + 1 + 2, 3 + 2))

    def numpy_loss(v):
        return float(np.sum(weights * np.pad(v, [(1, 2), (2, 0)], np_mode)))

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float64),
                                  tf.TensorSpec([], tf.int32)])
    def grad(x, n):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.constant(weights) * tf.pad(x, [(1, n), (n, 0)], mode=mode))
        return tape.gradient(loss, x)

    eps = 1e-6
    expected = np.zeros_like(DATA)
    for i in np.ndindex(DATA.shape):
        step = np.zeros_like(DATA)
        step[i] = eps
        expected[i] = (numpy_loss(DATA + step) - numpy_loss(DATA - step)) / (2 * eps)
    np.testing.assert_allclose(grad(tf.constant(DATA), tf.constant(2)).numpy(), expected,
                               rtol=1e-7, atol=1e-7)


def test_pad_bad_run_time_paddings_say_what_is_wrong():
    f = _fn(lambda x, n: tf.pad(x, [(0, n), (0, 0)]),
            tf.TensorSpec([None, 3], tf.float32), tf.TensorSpec([], tf.int32))
    with pytest.raises(errors.InvalidArgumentError, match=r"pad: paddings must be non-negative"):
        f(tf.ones([2, 3]), tf.constant(-1))
    g = _fn(lambda x, n: tf.pad(x, [(0, n), (0, 0)], mode="REFLECT"),
            tf.TensorSpec([None, 3], tf.float32), tf.TensorSpec([], tf.int32))
    with pytest.raises(errors.InvalidArgumentError, match=r"REFLECT paddings must be <"):
        g(tf.ones([2, 3]), tf.constant(2))
    with pytest.raises(errors.InvalidArgumentError, match=r"paddings must have shape \[2, 2\]"):
        _fn(lambda x, p: tf.pad(x, p), tf.TensorSpec([None, 3], tf.float32),
            tf.TensorSpec([3, 2], tf.int32))(tf.ones([2, 3]), tf.zeros([3, 2], tf.int32))


@tf.function
def _partition_padding(atom_features, molecule_indicator):
    # The MPNN example's PartitionPadding layer body (batch of 3 molecules).
    partitioned = tf.dynamic_partition(atom_features, molecule_indicator, 3)
    num_atoms = [tf.shape(f)[0] for f in partitioned]
    max_num_atoms = tf.reduce_max(num_atoms)
    stacked = tf.stack([tf.pad(f, [(0, max_num_atoms - n), (0, 0)])
                        for f, n in zip(partitioned, num_atoms)], axis=0)
    gather_indices = tf.squeeze(tf.where(tf.reduce_sum(stacked, (1, 2)) != 0), axis=-1)
    return tf.gather(stacked, gather_indices, axis=0)


@pytest.mark.parametrize("indicator", [[0, 1, 1, 2, 0, 2, 1], [2, 2, 0, 2, 0, 0, 0]])
def test_partition_padding_of_the_mpnn_example(indicator):
    indicator = np.array(indicator, np.int32)
    features = np.abs(DATA) + 1.0  # no all-zero rows
    # Molecules with no atoms (a short last batch) are dropped: their rows are all zero.
    parts = [features[indicator == m] for m in range(3) if (indicator == m).any()]
    longest = max(len(p) for p in parts)
    expected = np.stack([np.pad(p, [(0, longest - len(p)), (0, 0)]) for p in parts])
    got = _partition_padding(tf.constant(features), tf.constant(indicator))
    np.testing.assert_array_equal(got.numpy(), expected)


# ------------------------------------------------------------------ 03: segment ops at run time

SORTED_CASES = [
    ("segment_sum", lambda r: r.sum(0), 0.0),
    ("segment_mean", lambda r: r.mean(0), 0.0),
    ("segment_max", lambda r: r.max(0), 0.0),
    ("segment_min", lambda r: r.min(0), 0.0),
    ("segment_prod", lambda r: r.prod(0), 1.0),
]


@pytest.mark.parametrize("name, reduce, empty", SORTED_CASES)
def test_sorted_segment_ops_with_ids_known_at_run_time(name, reduce, empty):
    op = getattr(tf.math, name)
    f = _fn(lambda d, i: op(d, i), tf.TensorSpec([None, 3], tf.float64),
            tf.TensorSpec([None], tf.int32))
    got = f(tf.constant(DATA), tf.constant(SORTED_IDS))
    np.testing.assert_allclose(got.numpy(), _segments(DATA, SORTED_IDS, 6, reduce, empty),
                               rtol=1e-12)
    empty_got = f(tf.zeros([0, 3], tf.float64), tf.zeros([0], tf.int32))
    assert empty_got.shape == (0, 3)


def test_sorted_segment_mean_gradient_at_run_time_matches_closed_form():
    weights = RNG.normal(size=(6, 3))

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float64),
                                  tf.TensorSpec([None], tf.int32)])
    def grad(d, i):
        with tf.GradientTape() as tape:
            tape.watch(d)
            loss = tf.reduce_sum(tf.constant(weights) * tf.math.segment_mean(d, i))
        return tape.gradient(loss, d)

    counts = np.bincount(SORTED_IDS)
    # d/d data[n] of sum(w * mean) = w[ids[n]] / count(ids[n]).
    expected = weights[SORTED_IDS] / counts[SORTED_IDS][:, None]
    np.testing.assert_allclose(grad(tf.constant(DATA), tf.constant(SORTED_IDS)).numpy(),
                               expected, rtol=1e-12)


@pytest.mark.parametrize("name, reduce, empty", [
    ("unsorted_segment_prod", lambda r: r.prod(0), 1.0),
    ("unsorted_segment_sqrt_n", lambda r: r.sum(0) / np.sqrt(len(r)), 0.0),
])
def test_unsorted_segment_prod_sqrt_n_with_num_segments_at_run_time(name, reduce, empty):
    op = getattr(tf.math, name)
    f = _fn(lambda d, i, n: op(d, i, num_segments=n), tf.TensorSpec([None, 3], tf.float64),
            tf.TensorSpec([None], tf.int32), tf.TensorSpec([], tf.int32))
    got = f(tf.constant(DATA), tf.constant(IDS), tf.constant(6))
    np.testing.assert_allclose(got.numpy(), _segments(DATA, IDS, 6, reduce, empty), rtol=1e-12)


# ------------------------------------------------------------------ 04: bincount at run time

@pytest.mark.parametrize("kwargs", [{}, {"minlength": 9}, {"maxlength": 3}])
def test_bincount_of_values_known_at_run_time(kwargs):
    f = _fn(lambda a: tf.math.bincount(a, **kwargs), tf.TensorSpec([None], tf.int32))
    expected = np.bincount(IDS, minlength=kwargs.get("minlength", 0))
    if "maxlength" in kwargs:
        expected = expected[:kwargs["maxlength"]]
    got = f(tf.constant(IDS))
    assert got.dtype == tf.int32
    np.testing.assert_array_equal(got.numpy(), expected)
    assert f(tf.zeros([0], tf.int32)).numpy().tolist() == (
        [0] * kwargs.get("minlength", 0))


def test_bincount_weighted_at_run_time():
    f = _fn(lambda a, w: tf.math.bincount(a, weights=w), tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None], tf.float64))
    got = f(tf.constant(IDS), tf.constant(DATA[:, 0]))
    np.testing.assert_allclose(got.numpy(), np.bincount(IDS, weights=DATA[:, 0]), rtol=1e-12)


# ------------------------------------------------------------------ 05: repeat at run time

@pytest.mark.parametrize("repeats, axis", [
    ([2, 0, 1, 3, 0, 1, 1], 0), ([0, 0, 0, 0, 0, 0, 0], 0), ([1, 2, 0], 1), ([3], 0)])
def test_repeat_counts_known_at_run_time(repeats, axis):
    f = _fn(lambda x, r: tf.repeat(x, r, axis=axis), tf.TensorSpec([None, None], tf.float64),
            tf.TensorSpec([None], tf.int32))
    got = f(tf.constant(DATA), tf.constant(repeats, tf.int32))
    np.testing.assert_array_equal(got.numpy(), np.repeat(DATA, repeats, axis=axis))


def test_repeat_scalar_count_at_run_time_and_flattened():
    f = _fn(lambda x, r: tf.repeat(x, r), tf.TensorSpec([None, 3], tf.float64),
            tf.TensorSpec([], tf.int64))
    np.testing.assert_array_equal(f(tf.constant(DATA), tf.constant(2, tf.int64)).numpy(),
                                  np.repeat(DATA, 2))


def test_repeat_gradient_at_run_time_sums_the_copies():
    repeats = np.array([2, 0, 1, 3, 0, 1, 1], np.int32)
    weights = RNG.normal(size=(int(repeats.sum()), 3))

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float64),
                                  tf.TensorSpec([None], tf.int32)])
    def grad(x, r):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.constant(weights) * tf.repeat(x, r, axis=0))
        return tape.gradient(loss, x)

    owner = np.repeat(np.arange(7), repeats)
    expected = np.zeros_like(DATA)
    np.add.at(expected, owner, weights)
    np.testing.assert_allclose(grad(tf.constant(DATA), tf.constant(repeats)).numpy(), expected,
                               rtol=1e-12)


def test_repeat_bad_run_time_repeats_say_what_is_wrong():
    with pytest.raises(errors.InvalidArgumentError, match="repeat: repeats must be an integer"):
        _fn(lambda x, r: tf.repeat(x, r, axis=0), tf.TensorSpec([7, 3], tf.float64),
            tf.TensorSpec([4], tf.int32))(tf.constant(DATA), tf.constant([1, 1, 1, 1]))


def test_gat_normaliser_traced_with_edges_as_inputs():
    # The GAT example's attention normaliser, with the edges an input of the traced function
    # (as they are when a train step takes a batch's graph): a softmax over each target's edges.
    edges = np.array([[0, 0], [0, 2], [1, 1], [2, 0], [2, 1], [2, 2], [4, 3]], np.int32)
    scores = RNG.normal(size=len(edges))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float64),
                                  tf.TensorSpec([None, 2], tf.int32)])
    def normalise(s, e):
        s = tf.math.exp(tf.clip_by_value(s, -2, 2))
        total = tf.math.unsorted_segment_sum(s, e[:, 0], num_segments=tf.reduce_max(e[:, 0]) + 1)
        total = tf.repeat(total, tf.math.bincount(tf.cast(e[:, 0], "int32")))
        return s / total

    exp = np.exp(np.clip(scores, -2, 2))
    expected = exp / np.array([exp[edges[:, 0] == t].sum() for t in edges[:, 0]])
    np.testing.assert_allclose(normalise(tf.constant(scores), tf.constant(edges)).numpy(),
                               expected, rtol=1e-12)


# ------------------------------------------------------------------ 02: MHA with a 4-D mask

def _mha_pair(keras):
    layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    layer(np.zeros((1, 3, 5), "float32"), np.zeros((1, 3, 5), "float32"))
    return layer


@pytest.mark.keras_oracle
def test_mha_padding_mask_with_head_and_query_axes_matches_keras():
    # The MPNN example's readout: mask[:, tf.newaxis, tf.newaxis, :] of shape (B, 1, 1, S).
    real = import_keras()
    from tensorflux import keras as ours

    x = RNG.normal(size=(2, 3, 5)).astype("float32")
    x[0, 2] = 0.0  # a padded atom
    mask = np.any(x != 0.0, axis=-1)[:, None, None, :]
    theirs_layer, ours_layer = _mha_pair(real), _mha_pair(ours)
    weights = [RNG.uniform(-0.5, 0.5, size=w.shape).astype("float32")
               for w in theirs_layer.get_weights()]
    theirs_layer.set_weights(weights)
    ours_layer.set_weights(weights)
    expected = theirs_layer(x, x, attention_mask=mask)
    assert_matches(ours_layer(x, x, attention_mask=mask), expected, rtol=1e-5, atol=1e-6)
    # ... and on symbolic inputs, as a Functional model's construction calls it.
    inputs = ours.Input((None, 5))
    padding = ours.ops.any(ours.ops.not_equal(inputs, 0.0), axis=-1)[:, None, None, :]
    model = ours.Model(inputs, ours_layer(inputs, inputs, attention_mask=padding))
    assert_matches(model(x), expected, rtol=1e-5, atol=1e-6)


def test_mha_mask_that_does_not_broadcast_still_fails_clearly():
    from tensorflux import keras

    layer = _mha_pair(keras)
    x = np.ones((2, 3, 5), "float32")
    with pytest.raises(ValueError, match=r"attention_mask broadcastable to shape \(2, 2, 3, 3\)"):
        layer(x, x, attention_mask=np.ones((2, 3, 1, 3), bool))


# ------------------------------------------------------- 06: loop gradients and side effects
# TensorFlow's "Actor-Critic" tutorial steps its environment with tf.numpy_function inside a
# tf.range loop of a tf.function and differentiates through the loop. TF keeps each
# iteration's values for the gradient; replaying the body instead steps the environment
# again (and from other states), which gave wrong gradients.

def _stepping_env(observations):
    calls = []

    def step(t):
        calls.append(int(t))
        return observations[len(calls)]  # the next observation, whatever t is: stateful

    return calls, step


def test_loop_gradient_does_not_rerun_a_numpy_function_body():
    observations = RNG.normal(size=(20, 4)).astype(np.float32)
    w = tf.Variable(np.linspace(0.1, 0.4, 4, dtype=np.float32).reshape(4, 1))
    calls, step = _stepping_env(observations)

    @tf.function
    def episode():
        with tf.GradientTape() as tape:
            values = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
            state = tf.constant(observations[0])
            for t in tf.range(5):
                value = tf.matmul(tf.expand_dims(state, 0), w)
                values = values.write(t, tf.squeeze(value))
                state = tf.numpy_function(step, [t], tf.float32)
                state.set_shape([4])
            loss = tf.reduce_sum(values.stack() * tf.range(1.0, 6.0))
        return tape.gradient(loss, w)

    grad = episode()
    assert calls == [0, 1, 2, 3, 4]  # one environment step per iteration, none for the gradient
    # d/dw sum_t (t + 1) * state_t . w = sum_t (t + 1) * state_t (float64 closed form)
    expected = sum((t + 1) * observations[t].astype(np.float64) for t in range(5))
    np.testing.assert_allclose(grad.numpy().ravel(), expected, rtol=1e-5, atol=1e-6)


def test_loop_gradient_does_not_repeat_assignments_and_sees_each_iteration():
    counter = tf.Variable(0.0)
    w = tf.Variable(0.5, dtype=tf.float64)

    @tf.function
    def run(x0):
        with tf.GradientTape() as tape:
            x, total = x0, tf.constant(0.0, tf.float64)
            for _ in tf.range(4):
                counter.assign_add(1.0)
                x = x * w + 1.0  # a recurrence: each iteration's input matters
                total += x * x
        return total, tape.gradient(total, w)

    total, grad = run(tf.constant(2.0, tf.float64))
    assert float(counter.numpy()) == 4.0

    def numpy_total(wv):
        x, acc = 2.0, 0.0
        for _ in range(4):
            x = x * wv + 1.0
            acc += x * x
        return acc

    eps = 1e-6
    expected = (numpy_total(0.5 + eps) - numpy_total(0.5 - eps)) / (2 * eps)
    assert float(total) == pytest.approx(numpy_total(0.5), rel=1e-12)
    assert float(grad) == pytest.approx(expected, rel=1e-7)


def test_tensor_array_of_a_host_call_result_says_how_to_give_it_a_shape():
    # (needs 07) The tutorial writes tf.numpy_function's reward, of unknown rank, into a
    # TensorArray; TF infers its shape when the graph runs, tensorflux needs the rank traced.
    @tf.function
    def rewards():
        ta = tf.TensorArray(tf.int32, size=0, dynamic_size=True)
        for t in tf.range(3):
            reward = tf.numpy_function(lambda i: np.array(1, np.int32), [t], tf.int32)
            ta = ta.write(t, reward)
        return ta.stack()

    with pytest.raises(errors.UnimplementedError, match=r"known rank.*set_shape"):
        rewards()


# ------------------------------------------------------------------ op-table checks

# pad_dynamic and its adjoint pad_grad_dynamic (paddings known only at run time) through the
# op-table checks: forward against np.pad and against the adjoint built from np.pad's basis
# images, VJPs against central differences, shape rules, second order.
_PAIRS = ((1, 2), (2, 0))


def _pad_adjoint(g, shape, mode):
    """The transpose of x -> np.pad(x, _PAIRS, mode) applied to g, from np.pad's image of each
    basis array of `shape`."""
    out = np.zeros(shape)
    for i in np.ndindex(*shape):
        basis = np.zeros(shape)
        basis[i] = 1.0
        out[i] = np.sum(np.pad(basis, _PAIRS, mode) * g)
    return out


def _pad_rows(mode, np_mode):
    paddings = lambda: tf.constant([list(p) for p in _PAIRS])  # noqa: E731
    return [
        Row(f"pad_dynamic_{np_mode}", lambda x: array_ops._pad_dynamic.bind(
            x, paddings(), branches=RuntimeShape(array_ops._pad_kernel, (1,), mode=mode,
                                                 constant_values=0, known=None)),
            lambda x: np.pad(x, _PAIRS, np_mode), harness.uniform((4, 3)), second_order=True),
        Row(f"pad_grad_dynamic_{np_mode}", lambda g: array_ops._pad_grad_dynamic.bind(
            g, paddings(), branches=RuntimeShape(array_ops._pad_grad_kernel, (1,), mode=mode,
                                                 known=None)),
            lambda g: _pad_adjoint(g, (4, 3), np_mode), harness.uniform((7, 5)),
            second_order=True),
    ]


PAD_ROWS = _pad_rows("CONSTANT", "constant") + _pad_rows("REFLECT", "reflect")


@pytest.mark.parametrize("row", PAD_ROWS, ids=[r.name for r in PAD_ROWS])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_run_time_pad_primitives_forward(row, dtype):
    harness.check_forward(row, dtype)


@pytest.mark.parametrize("row", PAD_ROWS, ids=[r.name for r in PAD_ROWS])
def test_run_time_pad_primitives_vjp_shape_rule_and_second_order(row):
    harness.check_vjp(row)
    harness.check_shape_rules(row)
    harness.check_second_order(row)


def _stateful_loops(function, *args):
    """The Loop objects of the stateful while nodes of a tf.function's trace for args."""
    graph = function.get_concrete_function(*args).graph
    return [node.attrs["loop"] for node in graph.nodes
            if node.primitive.name == "stateful_while"]


def test_a_stateful_loop_without_a_gradient_keeps_no_iterations():
    # Keeping each iteration's loop variables is for a gradient only: a forward-only run of a
    # long loop with side effects must not hold them (memory would grow with the trip count:
    # here 200 iterations of an 8 KB vector, 1.6 MB).
    import tracemalloc

    counter = tf.Variable(0.0)

    @tf.function
    def run(x0):
        x = x0
        for _ in tf.range(200):
            counter.assign_add(1.0)
            x = x * 0.5 + 1.0
        return x

    x0 = tf.constant(np.ones(1000))
    run(x0)  # (traced and planned outside the measurement)
    tracemalloc.start()
    try:
        result = run(x0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_allclose(result.numpy(), 2.0, rtol=1e-12)
    (loop,) = _stateful_loops(run, x0)
    assert loop.keeps_states and loop._gradient is None
    assert peak < 400_000, peak
    assert float(counter.numpy()) == 400.0
