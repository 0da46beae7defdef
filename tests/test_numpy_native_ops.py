"""The native step's lowerings past the elementwise core (softmax and its cross entropies,
argmax, gather, one_hot, label checks...) and the small Keras models they let compile."""

import functools

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors, keras
from tensorflux.backends import numpy_native
from tests.tolerances import assert_close

pytest.importorskip("numba")


@pytest.fixture
def hot(monkeypatch):
    """Compile a plan on its first call (a test's plans are called a few times only)."""
    monkeypatch.setattr(numpy_native, "_HOT_CALLS", 1)


def _unwrapped(runner):
    """The runner inside the executor's wrapper that flushes subnormals
    (numpy_backend.flushing_denormals)."""
    while hasattr(runner, "__wrapped__"):  # (and the profiler's switch)
        runner = runner.__wrapped__
    return runner


def _assert_native(concrete):
    plan, _, _, runner = concrete._plan()
    runner = _unwrapped(runner)
    assert plan.native_reason is None, plan.native_reason
    assert isinstance(runner, numpy_native._Runner) and runner._function is not None


def _both(body, *args):
    """body's results as one native call (checked to be one) and with the NumPy runner."""
    native = tf.function(body, jit_compile=True)
    got = native(*args)
    _assert_native(native.get_concrete_function(*args))
    expected = tf.function(body)(*args)
    return ({k: v.numpy() for k, v in got.items()},
            {k: v.numpy() for k, v in expected.items()})


# ------------------------------------------------------------------ the ops


def _rows(x5, x20, x150, p5, k, rows, xn, ints, divisors, hot_index):
    results = {}
    # Rows of 5, 20 and 150: NumPy's sum adds them in order, in eight partial sums, and in
    # halves of those.
    for name, x in (("5", x5), ("20", x20), ("150", x150)):
        results["softmax" + name] = tf.nn.softmax(x)
    results["log_softmax5"] = tf.nn.log_softmax(x5)
    results["log_softmax150"] = tf.nn.log_softmax(x150)
    results["softmax_axis0"] = tf.nn.softmax(x5, axis=0)
    results["log_softmax_axis0"] = tf.nn.log_softmax(x5, axis=0)
    results["xent"] = tf.nn.softmax_cross_entropy_with_logits(labels=p5, logits=x5)
    results["sparse"] = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=k, logits=x5)
    return results


def _indexing(x5, x20, x150, p5, k, rows, xn, ints, divisors, hot_index):
    results = {}
    with tf.GradientTape() as tape:
        tape.watch(x5)
        picked = tf.gather(x5, k, axis=1, batch_dims=1)
        taken = tf.gather(x5, rows)  # (rows repeat: their gradients add up)
        sliced = x5[::-2, 1:]
        loss = (tf.reduce_sum(picked * picked) + tf.reduce_sum(taken * p5[: rows.shape[0]])
                + tf.reduce_sum(sliced * sliced))
    results["picked"] = picked
    results["taken"] = taken
    results["getitem"] = x5[1]
    results["getitem_slices"] = sliced
    results["getitem_newaxis"] = x5[..., None, -1]
    results["transpose"] = tf.transpose(x5)
    results["transpose_3d"] = tf.transpose(tf.reshape(x150, (3, 6, 25)), (2, 0, 1))
    results["gather_grad"] = tape.gradient(loss, x5)
    results["one_hot"] = tf.one_hot(hot_index, 5)
    results["one_hot_axis0"] = tf.one_hot(hot_index, 4, on_value=2.0, off_value=-1.0, axis=0)
    return results


def _reductions(x5, x20, x150, p5, k, rows, xn, ints, divisors, hot_index):
    return {"argmax": tf.math.argmax(xn, axis=1),
            "argmin": tf.math.argmin(xn, axis=0, output_type=tf.int32),
            "argmax_ints": tf.math.argmax(ints, axis=1, output_type=tf.int32),
            "any": tf.reduce_any(x5 > 1.0, axis=1),
            "all": tf.reduce_all(x5 > -2.0),
            "top_k": tf.math.top_k(xn, k=4)[0], "top_k_indices": tf.math.top_k(xn, k=4)[1],
            "top_k_ints": tf.math.top_k(ints, k=2)[1],
            "cumsum": tf.math.cumsum(x5, axis=1),
            "cumsum_exclusive_reverse": tf.math.cumsum(x5, axis=0, exclusive=True,
                                                       reverse=True),
            "cumprod_reverse": tf.math.cumprod(x5 * 0.5, axis=1, reverse=True)}


def _top_k64(x, k):
    """Per row: descending, NaN first, the lower index first among equals."""
    order = [sorted(range(x.shape[1]), key=lambda j: (not np.isnan(row[j]), -row[j], j))[:k]
             for row in x]
    return np.take_along_axis(x, np.array(order), axis=1), np.array(order)


def _elementwise(x5, x20, x150, p5, k, rows, xn, ints, divisors, hot_index):
    return {"broadcast": tf.broadcast_to(x5[0], (3, 6, 5)),
            "stop_gradient": tf.stop_gradient(x5) * 2.0,
            "softplus": tf.math.softplus(xn),
            "sigmoid_xent": tf.nn.sigmoid_cross_entropy_with_logits(labels=p5, logits=x5),
            "is_nan": tf.math.is_nan(xn),
            "is_inf": tf.math.is_inf(xn),
            "is_finite": tf.math.is_finite(xn),
            "round": tf.round(x5 * 2.0),
            "floordiv": tf.math.floordiv(ints, divisors),
            "floormod": tf.math.floormod(ints, divisors)}


# (Several small functions: Numba's compile time grows faster than a function's length.)
_GROUPS = {"rows": _rows, "indexing": _indexing, "reductions": _reductions,
           "elementwise": _elementwise}


def _softmax64(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax64(x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _references(x5, x20, x150, p5, k, rows, xn, ints, divisors, hot_index):
    """_ops in float64 NumPy."""
    x5, x20, x150, p5, xn = (a.astype(np.float64) for a in (x5, x20, x150, p5, xn))
    out = {}
    for name, x in (("5", x5), ("20", x20), ("150", x150)):
        out["softmax" + name] = _softmax64(x)
        out["log_softmax" + name] = _log_softmax64(x)
    out["softmax_axis0"] = _softmax64(x5, 0)
    out["log_softmax_axis0"] = _log_softmax64(x5, 0)
    out["xent"] = -(p5 * _log_softmax64(x5)).sum(-1)
    out["sparse"] = -_log_softmax64(x5)[np.arange(6), k]
    # (TensorFlow's argmax / argmin skip NaN; index 0 when all are NaN)
    out["argmax"] = np.argmax(np.where(np.isnan(xn), -np.inf, xn), axis=1)
    out["argmin"] = np.argmin(np.where(np.isnan(xn), np.inf, xn), axis=0)
    out["argmax_ints"] = np.argmax(ints, axis=1)
    picked = x5[np.arange(6), k]
    out["picked"] = picked
    out["taken"] = x5[rows]
    out["getitem"] = x5[1]
    out["getitem_slices"] = x5[::-2, 1:]
    out["getitem_newaxis"] = x5[..., None, -1]
    out["transpose"] = x5.T
    out["transpose_3d"] = x150.reshape(3, 6, 25).transpose(2, 0, 1)
    grad = np.zeros_like(x5)
    grad[np.arange(6), k] = 2 * picked
    np.add.at(grad, rows, p5[: rows.shape[0]])
    grad[::-2, 1:] += 2 * x5[::-2, 1:]
    out["gather_grad"] = grad
    out["one_hot"] = (hot_index[:, None] == np.arange(5)).astype(np.float64)
    out["one_hot_axis0"] = np.where(np.arange(4)[:, None] == hot_index, 2.0, -1.0)
    out["broadcast"] = np.broadcast_to(x5[0], (3, 6, 5))
    out["stop_gradient"] = x5 * 2
    out["any"] = (x5 > 1).any(axis=1)
    out["top_k"], out["top_k_indices"] = _top_k64(xn, 4)
    out["top_k_ints"] = _top_k64(ints.astype(np.float64), 2)[1]
    out["cumsum"] = np.cumsum(x5, axis=1)
    out["cumsum_exclusive_reverse"] = np.concatenate(
        [np.cumsum(x5[::-1], axis=0)[::-1][1:], np.zeros((1, 5))])
    out["cumprod_reverse"] = np.cumprod((x5 * 0.5)[:, ::-1], axis=1)[:, ::-1]
    out["all"] = (x5 > -2).all()
    out["softplus"] = np.logaddexp(0, xn)
    out["sigmoid_xent"] = np.maximum(x5, 0) - x5 * p5 + np.log1p(np.exp(-np.abs(x5)))
    out["is_nan"] = np.isnan(xn)
    out["is_inf"] = np.isinf(xn)
    out["is_finite"] = np.isfinite(xn)
    out["round"] = np.rint(x5 * 2)
    out["floordiv"] = np.floor_divide(ints, divisors)
    out["floormod"] = np.mod(ints, divisors)
    return out


def _inputs(dtype):
    rng = np.random.default_rng(7)
    xn = rng.normal(size=(4, 5))
    xn[1, 3] = np.nan  # argmax: the first NaN
    xn[2, :] = [np.inf, 1.0, np.inf, -np.inf, 0.0]
    xn[3, 1:3] = [np.nan, np.nan]
    xn[0, :] = [2.0, -1.0, 2.0, 0.0, -30.0]  # ties: the first; softplus of 0 and of -30
    ints = rng.integers(-9, 9, (4, 5)).astype(np.int32)
    ints[0, 1] = ints[0, 3] = 9
    ints[3] = np.iinfo(np.int32).min
    divisors = rng.integers(-4, 5, (4, 5)).astype(np.int32)
    divisors[0, :2] = 0
    divisors[3] = [-1, 1, 3, -1, 2]
    return (rng.normal(size=(6, 5)).astype(dtype) * 3,
            rng.normal(size=(2, 20)).astype(dtype) * 3,
            rng.normal(size=(3, 150)).astype(dtype) * 3,
            rng.dirichlet(np.ones(5), 6).astype(dtype),
            rng.integers(0, 5, 6).astype(np.int32),
            np.array([4, 0, 4, 2, 4], np.int64),
            xn.astype(dtype), ints, divisors,
            np.array([0, 3, -1, 5, 2, 1], np.int32))


@pytest.mark.parametrize("group, dtype", [(group, "float32") for group in _GROUPS]
                         + [("rows", "float64"), ("elementwise", "float64")])
def test_new_lowerings_against_float64_and_the_numpy_runner(hot, group, dtype):
    args = _inputs(dtype)
    with np.errstate(all="ignore"):  # (inf, NaN and the least integer over -1, on purpose)
        got, expected = _both(_GROUPS[group], *args)
        reference = _references(*args)
        for name, value in got.items():
            assert value.dtype == expected[name].dtype, name
            assert_close(value, reference[name], dtype, what=f"{name} against float64")
            # The NumPy runner: the same formulas, in the same order; exp and log may differ
            # in their last bit (NumPy's SIMD loops against the C library's).
            assert_close(value, expected[name], dtype, atol=0,
                         rtol=4e-7 if dtype == "float32" else 1e-15,
                         what=f"{name} against jit_compile=False")


# ------------------------------------------------------------------ labels out of range


def test_labels_out_of_range_raise_the_numpy_error_and_change_nothing(hot):
    counter, total = tf.Variable(0.0), tf.Variable(0.0)

    def step(logits, labels, indices):
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        counter.assign_add(tf.reduce_sum(loss))
        # (indices cast after an update: cast again and checked natively before it, as a
        # metric's labels may be)
        total.assign_add(tf.reduce_sum(tf.gather(logits, tf.cast(indices, tf.int64))))
        return {"loss": loss}

    rng = np.random.default_rng(3)
    logits = rng.normal(size=(4, 3)).astype(np.float32)
    good_labels = np.array([0, 2, 1, 2], np.int64)
    good_indices = np.array([[0, 3], [1, 1], [2, 0]], np.int32)
    native, numpy_runner = tf.function(step, jit_compile=True), tf.function(step)
    native(logits, good_labels, good_indices)
    concrete = native.get_concrete_function(logits, good_labels, good_indices)
    _assert_native(concrete)
    source = concrete._plan()[0].native_source
    assert source.index("return (np.int64(2)") < source.index("[()] = ")  # (before the writes)
    for labels, indices, message in [
            (np.array([0, 3, 1, -1], np.int64), good_indices, "received a label value of 3"),
            (np.array([0, 2, -5, 1], np.int64), good_indices, "label value of -5"),
            (good_labels, np.array([[0, 3], [1, 4], [-1, 0]], np.int32), "indices[1,1] = 4")]:
        before = counter.numpy(), total.numpy()
        with pytest.raises(errors.InvalidArgumentError) as raised:
            native(logits, labels, indices)
        assert (counter.numpy(), total.numpy()) == before
        assert message in str(raised.value)
        with pytest.raises(errors.InvalidArgumentError) as expected:
            numpy_runner(logits, labels, indices)
        assert str(raised.value) == str(expected.value)
    native(logits, good_labels, good_indices)  # still runs after a failed step
    assert counter.numpy() != 0 and total.numpy() != 0


# ------------------------------------------------------------------ small Keras models


def _classifier(hidden_activation="relu", extra=()):
    return keras.Sequential([keras.Input((8,)),
                             keras.layers.Dense(12, activation=hidden_activation), *extra,
                             keras.layers.Dense(3, activation="softmax")])


def _regressor(kernel_regularizer=None, hidden_activation="relu", extra=()):
    return keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(12, activation=hidden_activation,
                           kernel_regularizer=kernel_regularizer), *extra,
        keras.layers.Dense(1)])


def _data():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(200, 8)).astype(np.float32)
    classes = (x[:, :3] @ rng.normal(size=(3, 3))).argmax(1)
    return x, classes, (x[:, :2].sum(1, keepdims=True) * 0.5).astype(np.float32)


_MODELS = {
    "softmax_categorical": (
        _classifier, lambda: keras.optimizers.Adam(0.01), "categorical_crossentropy",
        ["accuracy"], "one_hot"),
    # (top-k accuracy gathers labels cast after the loss's update: checked before it)
    "softmax_sparse": (
        _classifier, lambda: keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
        ["accuracy", "sparse_top_k_categorical_accuracy"], "labels"),
    "sgd_nesterov_l2_mse": (
        lambda: _regressor(keras.regularizers.l2(0.01)),
        lambda: keras.optimizers.SGD(0.02, momentum=0.9, nesterov=True), "mse", ["mae"],
        "target"),
    "rmsprop_tanh_mae": (
        lambda: _regressor(hidden_activation="tanh"), lambda: keras.optimizers.RMSprop(0.005),
        "mae", ["mae"], "target"),
    "adamw_leaky_relu_mse": (
        lambda: _regressor(hidden_activation=None, extra=[keras.layers.LeakyReLU(0.1)]),
        lambda: keras.optimizers.AdamW(0.01, weight_decay=0.01), "mse", ["mae"], "target"),
    # Dropout's draws: its NumPy kernel's, made before each native step (the same masks).
    "dropout_tanh_mse": (
        lambda: _regressor(hidden_activation="tanh", extra=[keras.layers.Dropout(0.3)]),
        lambda: keras.optimizers.Adam(0.01), "mse", [], "target"),
}


def _fit(name, jit_compile):
    build, optimizer, loss, metrics, target = _MODELS[name]
    x, classes, y = _data()
    labels = {"one_hot": np.eye(3, dtype=np.float32)[classes], "labels": classes,
              "target": y}[target]
    keras.utils.set_random_seed(5)
    model = build()
    model.compile(optimizer=optimizer(), loss=loss, metrics=metrics, jit_compile=jit_compile)
    history = model.fit(x, labels, batch_size=20, epochs=2, shuffle=False, verbose=0)
    return model, history.history, x, labels


@functools.cache
def _fitted(name):
    """(native model, its History, default model, its History, x, y), fitted once a session:
    a native step compiles in about 2 s."""
    with pytest.MonkeyPatch.context() as patch:
        # The steady steps' plan compiles (9 an epoch); the epochs' last steps' do not (2).
        patch.setattr(numpy_native, "_HOT_CALLS", 3)
        native, native_history, x, y = _fit(name, True)
    default, default_history, _, _ = _fit(name, False)
    return native, native_history, default, default_history, x, y


@pytest.mark.parametrize("name", sorted(_MODELS))
def test_small_models_fit_natively_as_with_the_numpy_runner(name):
    native, native_history, default, default_history, _, _ = _fitted(name)
    (concrete,) = set(native.train_function._effects.values())
    plan = concrete._plan()[0]
    assert plan.native_reason is None, plan.native_reason
    ((runner, _),) = concrete._effects.values()
    runner = _unwrapped(runner)
    assert isinstance(runner, numpy_native._Runner) and runner._function is not None
    assert sorted(native_history) == sorted(default_history)
    for key, values in default_history.items():
        assert_close(native_history[key], values, rtol=1e-5, atol=1e-5, what=key)
    for got, expected in zip(native.weights, default.weights):
        assert_close(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5, what=got.name)


def _assert_compiled(plan):
    assert plan.native_reason is None, plan.native_reason
    assert any(isinstance(_unwrapped(runner), numpy_native._Runner)
               and _unwrapped(runner)._function is not None for runner in plan._runners.values())


def test_sparse_classifier_evaluates_predicts_and_rejects_labels_natively(monkeypatch):
    monkeypatch.setattr(numpy_native, "_HOT_CALLS", 3)
    native, _, default, _, x, labels = _fitted("softmax_sparse")
    evaluated = [model.evaluate(x, labels, batch_size=20, verbose=0)
                 for model in (native, default)]
    predicted = [model.predict(x, batch_size=20, verbose=0) for model in (native, default)]
    for function in (native.test_function, native.predict_function):
        (tf_function,) = function._functions.values()
        (concrete,) = tf_function._cache.values()
        _assert_compiled(concrete._plan()[0])
    assert_close(evaluated[0], evaluated[1], rtol=1e-6, atol=1e-7)
    assert_close(predicted[0], predicted[1], rtol=1e-6, atol=1e-7)

    bad = labels.copy()
    bad[7] = 3  # (in the first of two batches: a steady step, run natively)
    messages = []
    for model in (native, default):
        model.reset_metrics()  # (as fit does first)
        variables = model.variables + model.optimizer.variables + model.metrics_variables
        state = [v.numpy().copy() for v in variables]
        with pytest.raises(errors.InvalidArgumentError) as raised:
            model.fit(x[:40], bad[:40], batch_size=20, shuffle=False, verbose=0)
        messages.append(str(raised.value))
        for before, variable in zip(state, variables):
            np.testing.assert_array_equal(variable.numpy(), before, err_msg=variable.name)
    assert "indices[7] = 3 is not in [0, 3)" in messages[0]
    assert messages[0] == messages[1]
