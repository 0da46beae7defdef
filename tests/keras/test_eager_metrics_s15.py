"""keras.metrics used eagerly, as in Keras's "training loop from scratch" guide: update_state
every step, result() and reset_state() per epoch. The metrics' eager shortcuts (no shape ops
for a known batch size, integer label comparison where exact, one division for a result with
no zero count, cached threshold constants) must give Keras's values: real Keras 3 (torch) is
the oracle, over label shapes (N,), (N, 1) and one-hot, int and float labels, sample weights,
masks and resets; and the same metrics inside tf.function and model.fit/evaluate, checked
against NumPy float64.
"""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras as tfk
from tensorflux.keras import metrics
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle
keras = import_keras()

N, C = 16, 6


def _rng(seed=0):
    return np.random.default_rng(seed)


def _labels(rng, shape, dtype):
    return rng.integers(0, C, N).reshape(shape).astype(dtype)


def _drive(ours, theirs, batches, what):
    """Several updates (weights on every other batch), a reset, then one more update: the
    results must match Keras's after each step."""
    for i, args in enumerate(batches):
        ours.update_state(*args)
        theirs.update_state(*args)
        assert_matches(ours.result(), theirs.result(), rtol=1e-6, atol=1e-7,
                       what=f"{what} after batch {i}")
    ours.reset_state()
    theirs.reset_state()
    assert_matches(ours.result(), theirs.result(), what=f"{what} after reset")
    ours.update_state(*batches[-1])
    theirs.update_state(*batches[-1])
    assert_matches(ours.result(), theirs.result(), rtol=1e-6, atol=1e-7,
                   what=f"{what} after reset and update")


def _weights(rng, kind):
    if kind is None:
        return None
    if kind == "scalar":
        return np.float32(rng.uniform(0.5, 2))
    if kind == "column":
        return rng.uniform(0, 2, (N, 1)).astype("float32")
    return rng.uniform(0, 2, N).astype("float32")


@pytest.mark.parametrize("label_shape", [(N,), (N, 1)])
@pytest.mark.parametrize("label_dtype", ["int32", "int64", "float32", "uint8"])
@pytest.mark.parametrize("weights", [None, "vector", "column", "scalar"])
def test_sparse_categorical_accuracy_matches_keras(label_shape, label_dtype, weights):
    rng = _rng(1)
    batches = []
    for _ in range(3):
        y = _labels(rng, label_shape, label_dtype)
        p = rng.standard_normal((N, C)).astype("float32")
        p[0, :] = 0.5  # a tie in the first row: argmax takes the first
        batches.append((y, p, _weights(rng, weights)))
    _drive(metrics.SparseCategoricalAccuracy(), keras.metrics.SparseCategoricalAccuracy(),
           batches, f"SCA {label_shape} {label_dtype} weights={weights}")


def test_sparse_categorical_accuracy_tensors_and_python_lists():
    rng = _rng(2)
    for y in (tf.constant(rng.integers(0, C, N)), tf.constant(rng.integers(0, C, N), tf.int32),
              rng.integers(0, C, N).tolist()):
        p = rng.standard_normal((N, C)).astype("float32")
        ours, theirs = metrics.SparseCategoricalAccuracy(), \
            keras.metrics.SparseCategoricalAccuracy()
        ours.update_state(y, tf.constant(p))
        theirs.update_state(np.asarray(y), p)
        assert_matches(ours.result(), theirs.result())


def test_sparse_categorical_accuracy_out_of_range_and_nan_predictions():
    # Labels outside 0..C-1 never match; a NaN row's argmax is that of its other entries
    # (TF's rule, which tensorflux's argmax follows in both the integer and the float path).
    y = np.array([-1, C, 2 ** 31 - 1, 2, 3, 0], "int64")
    p = np.zeros((6, C), "float32")
    p[:, 2] = 1.0
    p[4, :] = np.nan
    p[5, 0] = np.nan
    p[5, 1] = 5.0
    fast = metrics.SparseCategoricalAccuracy()
    general = metrics.SparseCategoricalAccuracy()
    fast.update_state(y, p)
    general.update_state(y.astype("float32"), p)  # float labels: Keras's casts
    assert float(fast.result()) == float(general.result()) == pytest.approx(1 / 6)


def test_labels_that_round_together_in_float16_match_keras():
    # Past 2048 classes float16 cannot tell 2048 from 2049: Keras compares the labels cast to
    # y_pred's dtype, so label 2049 "matches" an argmax of 2048. The integer shortcut must not
    # apply there.
    classes = 3000
    p = np.zeros((2, classes), "float16")
    p[:, 2048] = 1.0
    y = np.array([2049, 7], "int64")
    ours, theirs = metrics.SparseCategoricalAccuracy(), keras.metrics.SparseCategoricalAccuracy()
    ours.update_state(y, p)
    theirs.update_state(y, p)
    assert_matches(ours.result(), theirs.result())
    assert float(ours.result()) == 0.5
    ours, theirs = metrics.CategoricalAccuracy(), keras.metrics.CategoricalAccuracy()
    one_hot = np.zeros((2, classes), "float16")
    one_hot[0, 2049] = one_hot[1, 7] = 1.0
    ours.update_state(one_hot, p)
    theirs.update_state(one_hot, p)
    assert_matches(ours.result(), theirs.result())


@pytest.mark.parametrize("label_dtype", ["float32", "int32", "int64"])
@pytest.mark.parametrize("weights", [None, "vector"])
def test_categorical_accuracy_one_hot_matches_keras(label_dtype, weights):
    rng = _rng(3)
    batches = []
    for _ in range(3):
        y = np.eye(C, dtype=label_dtype)[rng.integers(0, C, N)]
        p = rng.dirichlet(np.ones(C), N).astype("float32")
        batches.append((y, p, _weights(rng, weights)))
    _drive(metrics.CategoricalAccuracy(), keras.metrics.CategoricalAccuracy(), batches,
           f"CategoricalAccuracy {label_dtype} weights={weights}")


@pytest.mark.parametrize("name,kind", [
    ("BinaryAccuracy", "binary_vector"), ("BinaryAccuracy", "binary_column"),
    ("Accuracy", "exact"), ("MeanSquaredError", "regression"),
    ("MeanAbsoluteError", "regression"), ("RootMeanSquaredError", "regression"),
    ("TopKCategoricalAccuracy", "one_hot"), ("SparseTopKCategoricalAccuracy", "sparse"),
    ("SparseTopKCategoricalAccuracy", "sparse_column"),
    ("SparseCategoricalCrossentropy", "sparse"),
])
@pytest.mark.parametrize("weights", [None, "vector", "column"])
def test_wrapper_metrics_match_keras(name, kind, weights):
    rng = _rng(4)
    batches = []
    for _ in range(3):
        if kind.startswith("binary"):
            shape = (N,) if kind == "binary_vector" else (N, 1)
            y = rng.integers(0, 2, shape).astype("float32")
            p = rng.uniform(size=shape).astype("float32")
        elif kind == "exact":
            y = rng.integers(0, 3, N).astype("float32")
            p = rng.integers(0, 3, N).astype("float32")
        elif kind == "regression":
            y = rng.standard_normal((N, 3)).astype("float32")
            p = rng.standard_normal((N, 3)).astype("float32")
        elif kind == "one_hot":
            y = np.eye(C, dtype="float32")[rng.integers(0, C, N)]
            p = rng.dirichlet(np.ones(C), N).astype("float32")
        else:
            y = _labels(rng, (N,) if kind == "sparse" else (N, 1), "int64")
            p = rng.dirichlet(np.ones(C), N).astype("float32")
        batches.append((y, p, _weights(rng, weights)))
    kwargs = {"k": 2} if "TopK" in name else {}
    _drive(getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs), batches,
           f"{name} {kind} weights={weights}")


@pytest.mark.parametrize("name", ["Mean", "Sum"])
def test_mean_and_sum_of_scalars_vectors_and_columns_match_keras(name):
    rng = _rng(5)
    batches = [(1.0,), (np.float32(-2.5),), (rng.standard_normal(N).astype("float32"),),
               (rng.standard_normal((N, 1)).astype("float32"),),
               (rng.standard_normal((N, 3)).astype("float32"),
                rng.uniform(0, 2, N).astype("float32")),
               (rng.standard_normal((N, 3)).astype("float32"),
                rng.uniform(0, 2, (N, 3)).astype("float32")),
               (rng.standard_normal(N).astype("float32"), np.float32(0.5)),
               (tf.constant(3.0),), (tf.constant([[1.0, 2.0]]),), (7,)]
    _drive(getattr(metrics, name)(), getattr(keras.metrics, name)(), batches, name)


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_mean_in_other_dtypes_matches_keras(dtype):
    rng = _rng(6)
    batches = [(rng.standard_normal(N).astype(dtype),), (0.25,),
               (rng.standard_normal((N, 2)).astype(dtype), rng.uniform(0, 2, N).astype(dtype))]
    _drive(metrics.Mean(dtype=dtype), keras.metrics.Mean(dtype=dtype), batches, f"Mean {dtype}")
    m = metrics.Mean(dtype=dtype)
    m.update_state(rng.standard_normal(N).astype(dtype))
    assert m.result().dtype.name == dtype and m.count.numpy() == N


def test_results_with_zero_count_zero_weights_and_nan():
    # divide_no_nan's cases: nothing counted (0), weights summing to 0 (0), a NaN value (NaN).
    for ours, theirs in ((metrics.Mean(), keras.metrics.Mean()),
                         (metrics.SparseCategoricalAccuracy(),
                          keras.metrics.SparseCategoricalAccuracy())):
        assert_matches(ours.result(), theirs.result(), what="before any update")
    m, k = metrics.Mean(), keras.metrics.Mean()
    for mm in (m, k):
        mm.update_state([1.0, 2.0], sample_weight=[0.0, 0.0])
    assert float(m.result()) == 0.0 and not np.signbit(m.result().numpy())
    assert_matches(m.result(), k.result())
    for mm in (m, k):
        mm.update_state([np.nan, 2.0])
    assert np.isnan(m.result().numpy()) and np.isnan(keras.ops.convert_to_numpy(k.result()))
    m = metrics.Mean()
    m.update_state(np.float32(-0.0))
    assert m.result().numpy() == 0.0
    p = metrics.Precision()
    p.update_state([0.0, 0.0], [0.1, 0.2])  # no predicted positives: 0
    assert float(p.result()) == 0.0


def test_mean_metric_wrapper_with_a_keras_mask_matches_keras():
    rng = _rng(7)
    y = rng.standard_normal((N, 3)).astype("float32")
    p = rng.standard_normal((N, 3)).astype("float32")
    mask = rng.uniform(size=N) > 0.3
    ours_pred = tf.constant(p)
    ours_pred._keras_mask = tf.constant(mask)
    theirs_pred = keras.ops.convert_to_tensor(p)
    theirs_pred._keras_mask = keras.ops.convert_to_tensor(mask)
    for weights in (None, rng.uniform(0, 2, N).astype("float32")):
        ours, theirs = metrics.MeanSquaredError(), keras.metrics.MeanSquaredError()
        ours.update_state(y, ours_pred, sample_weight=weights)
        theirs.update_state(y, theirs_pred, sample_weight=weights)
        assert_matches(ours.result(), theirs.result(), rtol=1e-6)


@pytest.mark.parametrize("name,kwargs,multi", [
    ("Precision", {}, False), ("Recall", {}, False),
    ("Precision", {"thresholds": [0.2, 0.5, 0.8]}, False),
    ("Recall", {"thresholds": [0.0, 0.5, 1.0]}, False),
    ("Precision", {"top_k": 2}, True), ("Recall", {"class_id": 1}, True),
    ("TruePositives", {}, False), ("FalseNegatives", {"thresholds": [0.3, 0.6]}, False),
    ("TrueNegatives", {}, False), ("FalsePositives", {}, False),
    ("AUC", {}, False), ("AUC", {"curve": "PR"}, False),
    ("AUC", {"thresholds": [0.1, 0.5, 0.9]}, False),
    ("AUC", {"multi_label": True}, True), ("AUC", {"label_weights": [2.0]}, False),
    ("SensitivityAtSpecificity", {"specificity": 0.5}, False),
    ("PrecisionAtRecall", {"recall": 0.6, "num_thresholds": 1}, False),
])
@pytest.mark.parametrize("weights", [None, "vector"])
def test_confusion_matrix_metrics_match_keras(name, kwargs, multi, weights):
    rng = _rng(8)
    batches = []
    for _ in range(3):
        shape = (N, 3) if multi else (N, 1)
        y = rng.integers(0, 2, shape).astype("float32")
        p = rng.uniform(size=shape).astype("float32")
        p[0] = 0.0  # a prediction of exactly 0 (bucket -1 without the epsilon thresholds)
        batches.append((y, p, _weights(rng, weights)))
    _drive(getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs), batches,
           f"{name} {kwargs} weights={weights}")


def _update(metric, data, binary, i, weighted):
    y, p, w = data[i]
    w = w if weighted else None
    if isinstance(metric, metrics.MeanMetricWrapper):
        if isinstance(metric, metrics.MeanSquaredError):
            return metric.update_state(p, p[::-1], sample_weight=w)
        return metric.update_state(y, p, sample_weight=w)
    if isinstance(metric, metrics.Mean):
        return metric.update_state(p, sample_weight=w)
    return metric.update_state(*binary[i], sample_weight=w)


def _traced_step(metric, data, binary):
    @tf.function
    def step(i, weighted):
        _update(metric, data, binary, i, weighted)
        return metric.result()

    return step


def test_metrics_inside_tf_function_equal_the_eager_ones():
    rng = _rng(9)
    data = [(rng.integers(0, C, N), rng.standard_normal((N, C)).astype("float32"),
             rng.uniform(0, 2, N).astype("float32")) for _ in range(3)]
    binary = [(rng.integers(0, 2, (N, 1)).astype("float32"),
               rng.uniform(size=(N, 1)).astype("float32")) for _ in range(3)]
    for make in (metrics.SparseCategoricalAccuracy, metrics.Mean, metrics.Precision,
                 metrics.AUC, metrics.MeanSquaredError):
        eager, traced = make(), make()
        step = _traced_step(traced, data, binary)
        for i in range(3):
            _update(eager, data, binary, i, i % 2 == 1)
            in_graph = step(i, i % 2 == 1)
            assert np.array_equal(eager.result().numpy(), in_graph.numpy()), make.__name__
            assert np.array_equal(eager.result().numpy(), traced.result().numpy())


def test_result_under_a_gradient_tape_keeps_its_gradient():
    m = metrics.Mean()
    m.update_state([1.0, 2.0, 6.0])
    with tf.GradientTape() as tape:
        tape.watch(m.total)
        tape.watch(m.count)
        r = m.result()
    g_total, g_count = tape.gradient(r, [m.total, m.count])
    assert float(r) == 3.0
    assert float(g_total) == pytest.approx(1 / 3)
    assert float(g_count) == pytest.approx(-9.0 / 9.0)


def test_stateless_updates_match_update_state():
    rng = _rng(10)
    y, p = rng.integers(0, C, N), rng.standard_normal((N, C)).astype("float32")
    m = metrics.SparseCategoricalAccuracy()
    values = m.stateless_update_state([v.read_value() for v in m.variables], y, p)
    assert m.count.numpy() == 0.0
    m.update_state(y, p)
    assert [float(v) for v in values] == [float(v) for v in m.variables]
    assert float(m.stateless_result(values)) == float(m.result())


def _numpy_accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, verbose=0), -1) == y))


def test_compiled_metrics_in_fit_and_evaluate_match_numpy():
    rng = _rng(11)
    x = rng.standard_normal((64, 5)).astype("float32")
    y = rng.integers(0, 3, 64)
    tfk.utils.set_random_seed(0)
    model = tfk.Sequential([tfk.Input((5,)), tfk.layers.Dense(3)])
    model.compile(optimizer=tfk.optimizers.SGD(learning_rate=0.0),
                  loss=tfk.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy", tfk.metrics.SparseTopKCategoricalAccuracy(k=2)])
    logits = model.predict(x, verbose=0).astype(np.float64)
    expected_acc = _numpy_accuracy(model, x, y)
    top2 = np.argsort(-logits, axis=-1)[:, :2]
    expected_top2 = float(np.mean([y[i] in top2[i] for i in range(64)]))
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    expected_loss = float(-np.mean(log_probs[np.arange(64), y]))
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)  # (learning rate 0)
    for epoch in range(2):
        assert history.history["accuracy"][epoch] == pytest.approx(expected_acc, abs=1e-6)
        assert history.history["sparse_top_k_categorical_accuracy"][epoch] == pytest.approx(
            expected_top2, abs=1e-6)
        assert history.history["loss"][epoch] == pytest.approx(expected_loss, rel=1e-5)
    scores = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert scores["accuracy"] == pytest.approx(expected_acc, abs=1e-6)
    # (compile's `metrics` are not weighted, as in Keras: `weighted_metrics` are)
    weights = rng.uniform(0, 2, 64).astype("float32")
    model.compile(optimizer=tfk.optimizers.SGD(learning_rate=0.0),
                  loss=tfk.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], weighted_metrics=[tfk.metrics.SparseCategoricalAccuracy(
                      name="weighted_acc")])
    scores = model.evaluate(x, y, sample_weight=weights, batch_size=16, verbose=0,
                            return_dict=True)
    hits = (np.argmax(logits, -1) == y).astype(np.float64)
    assert scores["accuracy"] == pytest.approx(expected_acc, abs=1e-6)
    assert scores["weighted_acc"] == pytest.approx(
        float((hits * weights).sum() / weights.sum()), abs=1e-6)


def test_training_loop_from_scratch_metrics_match_numpy():
    # The guide's loop: update_state per step, result() and reset_state() per epoch.
    rng = _rng(12)
    x = rng.standard_normal((48, 4)).astype("float32")
    y = rng.integers(0, 3, 48)
    model = tfk.Sequential([tfk.Input((4,)), tfk.layers.Dense(3)])
    optimizer = tfk.optimizers.SGD(learning_rate=0.1)
    loss_fn = tfk.losses.SparseCategoricalCrossentropy(from_logits=True)
    acc, mean_loss = metrics.SparseCategoricalAccuracy(), metrics.Mean()
    for _ in range(2):
        hits, losses = [], []
        for start in range(0, 48, 16):
            xb, yb = x[start:start + 16], y[start:start + 16]
            with tf.GradientTape() as tape:
                logits = model(xb, training=True)
                loss = loss_fn(yb, logits)
            grads = tape.gradient(loss, model.trainable_weights)
            optimizer.apply_gradients(zip(grads, model.trainable_weights))
            acc.update_state(yb, logits)
            mean_loss.update_state(loss)
            hits.extend(np.argmax(logits.numpy(), -1) == yb)
            losses.append(float(loss))
        assert float(acc.result()) == pytest.approx(np.mean(hits), abs=1e-7)
        assert float(mean_loss.result()) == pytest.approx(np.mean(losses), rel=1e-6)
        acc.reset_state()
        mean_loss.reset_state()
        assert float(acc.result()) == 0.0 and float(mean_loss.result()) == 0.0



def _update_with(metric, inputs, weighted):
    """update_state(*inputs), the last input being the sample weights when `weighted`."""
    if weighted:
        return metric.update_state(*inputs[:-1], sample_weight=inputs[-1])
    return metric.update_state(*inputs)


def _function_of(metric, signature, weighted):
    def step(*inputs):
        _update_with(metric, inputs, weighted)
        return metric.result()

    return tf.function(step, input_signature=signature)


def test_unknown_batch_sizes_inside_tf_function_equal_the_eager_ones():
    # (input_signature with None dims: the count, reshapes and weight broadcasts fall back to
    # shapes known only at run time)
    rng = _rng(13)
    y = rng.integers(0, C, N)
    p = rng.standard_normal((N, C)).astype("float32")
    w = rng.uniform(0, 2, N).astype("float32")
    yb = rng.integers(0, 2, (N, 1)).astype("float32")
    pb = rng.uniform(size=(N, 1)).astype("float32")
    weights = tf.TensorSpec([None], tf.float32)
    column = tf.TensorSpec([None, 1], tf.float32)
    cases = [
        (metrics.SparseCategoricalAccuracy, (y, p, w), True,
         [tf.TensorSpec([None], tf.int64), tf.TensorSpec([None, C], tf.float32), weights]),
        (metrics.Mean, (p, w), True, [tf.TensorSpec([None, C], tf.float32), weights]),
        (metrics.Mean, (p[:, 0],), False, [weights]),
        (metrics.Precision, (yb, pb, w), True, [column, column, weights]),
        (metrics.AUC, (yb, pb, w), True, [column, column, weights]),
        (metrics.AUC, (yb, pb), False, [column, column]),
    ]
    for make, inputs, weighted, signature in cases:
        eager, traced = make(), make()
        function = _function_of(traced, signature, weighted)
        for _ in range(2):
            _update_with(eager, inputs, weighted)
            out = function(*[tf.constant(x) for x in inputs])
            assert np.array_equal(eager.result().numpy(), out.numpy()), make.__name__
