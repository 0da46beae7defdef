"""evaluate on arrays that make one batch (verbose=0, no callbacks) runs the test step on the
batch directly, without the epoch iterator and callback list (Trainer._evaluate_one_batch);
test_on_batch / train_on_batch reuse the metrics list they reset when the step did not
trace; metrics reset to a cached zeros tensor. These check those paths against independent
oracles (real Keras 3 on torch, NumPy float64) and against the general path (the batch loop,
taken when a callback list is given): same values, names, order and structure, no retracing,
and the general path wherever the shortcut could differ."""

import numpy as np
import pytest

from tensorflux import keras
from tests.keras._oracle import (
    assert_same_results,
    history_lists,
    import_keras,
    mlp_forward64,
)


def _data(rows=20, features=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, features)).astype(np.float32)
    y = (rng.random((rows, 1)) > 0.5).astype(np.float32)
    w = rng.random(rows).astype(np.float32)
    return x, y, w


def _layers(lib):
    return [lib.Input((8,)), lib.layers.Dense(10, activation="relu"),
            lib.layers.Dense(10, activation="relu"), lib.layers.Dense(1, activation="sigmoid")]


def _compiled(lib, weights=None, **compile_args):
    model = lib.Sequential(_layers(lib))
    if weights is not None:
        model.set_weights(weights)
    compile_args.setdefault("metrics", ["accuracy"])
    model.compile(optimizer="adam", loss="binary_crossentropy", **compile_args)
    return model


def _pair(**compile_args):
    """(ours, Keras's) with the same initial weights."""
    ours = _compiled(keras, **compile_args)
    theirs = _compiled(import_keras(), weights=ours.get_weights(), **compile_args)
    return ours, theirs


@pytest.mark.parametrize("weighted", [False, True])
def test_one_batch_evaluate_matches_keras_and_float64(weighted):
    x, y, w = _data()
    ours, theirs = _pair(weighted_metrics=["accuracy", "mse"])
    sw = w if weighted else None
    for return_dict in (False, True):
        got = ours.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=return_dict)
        want = theirs.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=return_dict)
        assert_same_results(got, want)
    # float64 oracle of the loss and the (weighted) accuracy
    p = mlp_forward64(ours, x)
    eps = 1e-7
    q = np.clip(p, eps, 1 - eps)
    per = -(y * np.log(q) + (1 - y) * np.log(1 - q)).mean(axis=-1)
    acc = ((p > 0.5) == (y > 0.5)).astype(np.float64)[:, 0]
    weights = np.ones(len(x)) if sw is None else sw.astype(np.float64)
    logs = ours.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True)
    loss = (per * weights).sum() / len(x)
    np.testing.assert_allclose(logs["loss"], loss, rtol=1e-5)
    np.testing.assert_allclose(logs["accuracy"], acc.mean(), rtol=1e-6)
    np.testing.assert_allclose(logs["weighted_accuracy"],
                               (acc * weights).sum() / weights.sum(), rtol=1e-6)


def _both_paths(model, *args, **kwargs):
    """evaluate's result by the one-batch path and by the batch loop (a callback list)."""
    fast = model.evaluate(*args, verbose=0, **kwargs)
    general = model.evaluate(*args, verbose=0, callbacks=[], **kwargs)
    return fast, general


@pytest.mark.parametrize("case", ["plain", "weights", "tensor", "float64", "full_batch",
                                  "batch_size", "x_only_custom_step"])
def test_one_batch_evaluate_equals_the_batch_loop_exactly(case):
    x, y, w = _data(rows=16)
    model = _compiled(keras, metrics=["accuracy", "mse"], weighted_metrics=["mae"])
    kwargs = {}
    args = (x, y)
    if case == "weights":
        kwargs["sample_weight"] = w
    elif case == "tensor":
        args = (keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y))
    elif case == "float64":
        args = (x.astype(np.float64), y.astype(np.float64))
        kwargs["sample_weight"] = w.astype(np.float64)
    elif case == "full_batch":
        kwargs["batch_size"] = 16
    elif case == "batch_size":
        kwargs["batch_size"] = 4  # (several batches: the loop itself)
    for return_dict in (False, True):
        fast, general = _both_paths(model, *args, return_dict=return_dict, **kwargs)
        assert fast == general and type(fast) is type(general)
    if case == "x_only_custom_step":
        seen = []

        class XOnly(keras.Sequential):
            def test_step(self, data):
                seen.append(type(data).__name__)
                y_pred = self(data, training=False)
                self._loss_tracker.update_state(keras.ops.mean(y_pred))
                return {"loss": self._loss_tracker.result()}

        custom = XOnly(_layers(keras))
        custom.compile(optimizer="adam", loss="mse")
        fast, general = _both_paths(custom, x, return_dict=True)
        assert fast == general
        assert seen == ["SymbolicTensor"]  # one structure both ways (not a tuple): one trace


def test_multiple_outputs_and_names_match_keras():
    k = import_keras()
    x, y, w = _data()

    def build(lib, weights=None):
        inp = lib.Input((8,), name="inp")
        h = lib.layers.Dense(6, activation="relu")(inp)
        a = lib.layers.Dense(1, activation="sigmoid", name="a")(h)
        b = lib.layers.Dense(2, name="b")(h)
        model = lib.Model(inp, [a, b])
        if weights is not None:
            model.set_weights(weights)
        model.compile(optimizer="adam", loss=["binary_crossentropy", "mse"],
                      metrics=[["accuracy"], ["mae"]], weighted_metrics=[[], ["mse"]])
        return model

    ours = build(keras)
    theirs = build(k, ours.get_weights())
    yb = np.stack([y[:, 0], 1 - y[:, 0]], axis=1)
    for return_dict in (False, True):
        got = ours.evaluate(x, [y, yb], sample_weight=w, verbose=0, return_dict=return_dict)
        want = theirs.evaluate(x, [y, yb], sample_weight=w, verbose=0,
                               return_dict=return_dict)
        assert_same_results(got, want)
        assert got == ours.evaluate(x, [y, yb], sample_weight=w, verbose=0, callbacks=[],
                                    return_dict=return_dict)
        got = ours.test_on_batch(x, [y, yb], sample_weight=w, return_dict=return_dict)
        want = theirs.test_on_batch(x, [y, yb], sample_weight=w, return_dict=return_dict)
        assert_same_results(got, want)


def test_on_batch_calls_match_keras_and_do_not_retrace():
    x, y, w = _data()
    ours, theirs = _pair()
    for i in range(3):
        xb, yb, wb = x[i * 5:(i + 1) * 5], y[i * 5:(i + 1) * 5], w[i * 5:(i + 1) * 5]
        for return_dict in (False, True):
            assert_same_results(ours.train_on_batch(xb, yb, return_dict=return_dict),
                                theirs.train_on_batch(xb, yb, return_dict=return_dict))
            assert_same_results(
                ours.test_on_batch(xb, yb, sample_weight=wb, return_dict=return_dict),
                theirs.test_on_batch(xb, yb, sample_weight=wb, return_dict=return_dict))
        assert_same_results(ours.evaluate(xb, yb, verbose=0),
                            theirs.evaluate(xb, yb, verbose=0))
    assert ours.train_function.experimental_get_tracing_count() == 1
    tests = ours.test_function.experimental_get_tracing_count()
    ours.evaluate(x[:5], y[:5], verbose=0)
    ours.test_on_batch(x[:5], y[:5])
    assert ours.test_function.experimental_get_tracing_count() == tests


def test_evaluate_with_batch_hooks_and_fit_validation_match_keras():
    k = import_keras()
    x, y, w = _data(rows=24)
    ours, theirs = _pair()

    def recorder(lib, seen):
        return lib.callbacks.LambdaCallback(
            on_test_batch_end=lambda batch, logs: seen.append((batch, sorted(logs))),
            on_test_end=lambda logs: seen.append(("end", sorted(logs))))

    seen_ours, seen_theirs = [], []
    got = ours.evaluate(x, y, verbose=0, callbacks=[recorder(keras, seen_ours)],
                        return_dict=True)
    want = theirs.evaluate(x, y, verbose=0, callbacks=[recorder(k, seen_theirs)],
                           return_dict=True)
    assert_same_results(got, want)
    assert seen_ours == seen_theirs
    ours_hist = ours.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0,
                         validation_data=(x[:6], y[:6], w[:6]))
    theirs_hist = theirs.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0,
                             validation_data=(x[:6], y[:6], w[:6]))
    got, want = history_lists(ours_hist), history_lists(theirs_hist)
    assert sorted(got) == sorted(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=2e-5, atol=2e-5, err_msg=key)


def test_verbose_evaluate_prints_its_progress_bar(capsys):
    x, y, _ = _data()
    model = _compiled(keras)
    quiet = model.evaluate(x, y, verbose=0)
    loud = model.evaluate(x, y, verbose=1)
    assert quiet == loud
    assert "1/1" in capsys.readouterr().out


class _UserMean(keras.metrics.Metric):
    """A user metric whose reset_state adds a metric to the model (user code in between)."""

    def __init__(self, model, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.total = self.add_variable(shape=(), name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.total.assign_add(keras.ops.sum(y_pred))

    def reset_state(self):
        self.total.assign(0.0)
        if not hasattr(self.model, "late"):
            self.model.late = keras.metrics.Sum(name="late")

    def result(self):
        return self.total.read_value()


def test_metrics_added_between_the_reset_and_the_logs_are_listed():
    x, y, _ = _data(rows=6)
    model = _compiled(keras, metrics=[])
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=[_UserMean(model, name="user")])
    model.test_on_batch(x, y)  # builds and traces
    del model.late
    values = model.test_on_batch(x, y)  # (its reset adds `late` again)
    assert [m.name for m in model.metrics] == ["loss", "compile_metrics", "late"]
    assert len(values) == 3 and values[-1] == 0.0

    # A metric a custom step creates when it traces is listed as the general path lists it.
    class Late(keras.Sequential):
        def test_step(self, data):
            if not hasattr(self, "traced_metric"):
                self.traced_metric = keras.metrics.Mean(name="traced")
            logs = super().test_step(data)
            return logs

    late = Late(_layers(keras))
    late.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    first = late.test_on_batch(x, y)
    again = late.test_on_batch(x, y)
    assert len(first) == len(again) == 3 and first[-1] == again[-1] == 0.0


def test_reset_to_cached_zeros_leaves_every_metric_at_zero():
    a, b = keras.metrics.Mean(), keras.metrics.Mean()
    a.update_state([1.0, 3.0])
    a.reset_state()
    a.update_state([5.0])  # writes into a's buffer, not into the zeros it was reset to
    b.update_state([7.0])
    b.reset_state()
    assert float(a.result()) == 5.0 and float(b.result()) == 0.0
    assert [float(v.numpy()) for v in b.variables] == [0.0, 0.0]
    acc = keras.metrics.BinaryAccuracy()
    acc.update_state([[1.0]], [[0.9]])
    assert [float(v) for v in acc.stateless_reset_state()] == [0.0, 0.0]
    assert float(acc.result()) == 1.0  # (stateless: the variables keep their values)
    s = keras.metrics.Sum()
    s.update_state(4.0)
    s.reset_state()
    s.update_state(2.0)
    assert float(s.result()) == 2.0
    auc = keras.metrics.AUC(num_thresholds=5)
    auc.update_state([0.0, 1.0], [0.2, 0.8])
    auc.reset_state()
    assert all(not np.any(v.numpy()) for v in auc.variables)


def test_the_one_batch_path_is_taken_only_where_it_applies(monkeypatch):
    from tensorflux.keras.trainers import trainer as trainer_module

    calls = []
    original = trainer_module.Trainer._evaluate_one_batch

    def spy(self, data, return_dict):
        calls.append(type(data).__name__)
        return original(self, data, return_dict)

    monkeypatch.setattr(trainer_module.Trainer, "_evaluate_one_batch", spy)
    x, y, w = _data(rows=8)
    model = _compiled(keras)
    model.evaluate(x, y, verbose=0)
    model.evaluate(x, y, sample_weight=w, verbose=0, batch_size=8)
    assert calls == ["tuple", "tuple"]
    for kwargs in ({"verbose": 1}, {"verbose": 0, "callbacks": []},
                   {"verbose": 0, "steps": 1}, {"verbose": 0, "batch_size": 4},
                   {"verbose": 0, "batch_size": np.int64(8)}):
        model.evaluate(x, y, **kwargs)
    with pytest.raises(ValueError):
        model.evaluate(x, y[:4], verbose=0)  # (the loop's cardinality error)
    model.evaluate([x], y, verbose=0)
    assert calls == ["tuple", "tuple"]


def test_mean_results_divide_as_divide_no_nan():
    import tensorflux as tf

    for values, weights in (([1.0, 2.0, 4.0], None), ([1.0, 2.0], [0.0, 0.0]),
                            ([np.inf, 1.0], None), ([np.nan, 1.0], [1.0, 1.0]),
                            ([1e-30, 3e-38], [1e-8, 1e-8]), ([-0.0], [-1.0])):
        m = keras.metrics.Mean()
        m.update_state(np.asarray(values, np.float32),
                       sample_weight=None if weights is None else np.asarray(weights, np.float32))
        want = tf.math.divide_no_nan(m.total.read_value(), m.count.read_value()).numpy()
        got = m.result().numpy()
        assert got.dtype == want.dtype and got.shape == want.shape == ()
        assert np.array_equal(got, want, equal_nan=True) and np.signbit(got) == np.signbit(want)


def _custom_fit_model(lib, weights=None):
    """keras.io's "customizing fit" pattern: its own trackers, listed by a `metrics`
    property, updated in train_step and test_step."""
    ops = lib.ops

    class Custom(lib.Sequential):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_tracker = lib.metrics.Mean(name="loss")
            self.mae_metric = lib.metrics.MeanAbsoluteError(name="mae")

        @property
        def metrics(self):
            return [self.loss_tracker, self.mae_metric]

        def test_step(self, data):
            x, y, _ = lib.utils.unpack_x_y_sample_weight(data)
            y_pred = self(x, training=False)
            self.loss_tracker.update_state(ops.mean(ops.square(ops.subtract(y, y_pred))))
            self.mae_metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    model = Custom(_layers(lib))
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer="adam", loss="mse")
    return model


def test_custom_metrics_property_matches_keras():
    k = import_keras()
    x, y, _ = _data(rows=12)
    ours = _custom_fit_model(keras)
    theirs = _custom_fit_model(k, ours.get_weights())
    for return_dict in (False, True):
        assert_same_results(ours.evaluate(x, y, verbose=0, return_dict=return_dict),
                            theirs.evaluate(x, y, verbose=0, return_dict=return_dict))
        assert_same_results(ours.test_on_batch(x[:4], y[:4], return_dict=return_dict),
                            theirs.test_on_batch(x[:4], y[:4], return_dict=return_dict))
    assert ours.evaluate(x, y, verbose=0) == ours.evaluate(x, y, verbose=0, callbacks=[])


def test_a_step_run_eagerly_lists_the_metrics_it_adds():
    import tensorflux as tf

    class Adds(keras.Sequential):
        def test_step(self, data):
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls == 2:  # (an eager step's Python runs on every call)
                self.zeta = keras.metrics.Sum(name="zeta")
                self.alpha = keras.metrics.Sum(name="alpha")
            if self.calls >= 2:
                self.zeta.update_state(1.0)
            return super().test_step(data)

    x, y, _ = _data(rows=6)
    tf.config.run_functions_eagerly(True)
    try:
        model = Adds(_layers(keras))
        model.compile(optimizer="adam", loss="binary_crossentropy")
        model.test_on_batch(x, y)
        # The listed order (zeta, then alpha, as set), not the sorted leftovers' order.
        assert model.test_on_batch(x, y)[1:] == [1.0, 0.0]
        del model.zeta, model.alpha
        model.calls = 1
        assert model.evaluate(x, y, verbose=0)[1:] == [1.0, 0.0]
    finally:
        tf.config.run_functions_eagerly(False)
