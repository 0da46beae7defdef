"""predict / predict_on_batch on a single sample or a small batch: after the first call, the
trainer hands a lone NumPy array (or Tensor) straight to the plan of the predict function it
traced (_FlatStepFunction.lone_array_outputs). These check that path against independent
oracles (a NumPy float64 forward of the same weights, real Keras 3 on torch) and against the
general path (the batch loop, taken when a callback is given): same values, dtypes and
structures, no retracing, fresh output arrays, the caller's input untouched, and the general
path wherever a cached trace could be wrong (tapes, eager functions, floatx, bad shapes)."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.keras.trainers import trainer as trainer_module
from tests.keras._oracle import mlp_forward64


def _mlp(features=6, hidden=(16, 16), outputs=3, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((features,))] + [
        keras.layers.Dense(units, activation="relu") for units in hidden] + [
        keras.layers.Dense(outputs, activation="softmax" if outputs > 1 else "sigmoid")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model


class _Counter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = []

    def on_predict_batch_end(self, batch, logs=None):
        self.batches.append(batch)


def _lone_entries(model):
    return dict(model.predict_function._lone)


def test_single_sample_predict_matches_float64_forward_and_the_batch_loop():
    model = _mlp()
    rng = np.random.default_rng(1)
    batch = rng.standard_normal((8, 6)).astype(np.float32)
    one = batch[3:4].copy()
    first = model.predict(one, verbose=0)  # traces; fills the cache
    assert _lone_entries(model), "the lone-array path was not set up"
    for _ in range(3):  # the cached path
        again = model.predict(one, verbose=0)
        assert again.dtype == np.float32 and again.shape == (1, 3)
        np.testing.assert_array_equal(again, first)
    np.testing.assert_allclose(first, mlp_forward64(model, one), rtol=1e-5, atol=1e-6)
    # The general path (a callback: the batch loop) gives the very same array.
    counter = _Counter()
    looped = model.predict(one, verbose=0, callbacks=[counter])
    assert counter.batches == [0]
    np.testing.assert_array_equal(looped, first)
    # ...and the sample predicted within a batch gives its row (BLAS may round a one-row
    # product differently from a GEMM's row).
    np.testing.assert_allclose(model.predict(batch, verbose=0)[3:4], first, rtol=1e-6,
                               atol=1e-7)
    np.testing.assert_array_equal(model.predict_on_batch(one), first)


def test_lone_array_path_does_not_retrace_and_new_shapes_trace_once():
    model = _mlp()
    x = np.random.default_rng(2).standard_normal((5, 6)).astype(np.float32)
    for _ in range(4):
        model.predict(x[:1], verbose=0)
        model.predict(x[:2], verbose=0)
    assert model.predict_function.experimental_get_tracing_count() == 2
    for rows in (1, 2):
        np.testing.assert_allclose(model.predict(x[:rows], verbose=0),
                                   mlp_forward64(model, x[:rows]), rtol=1e-5, atol=1e-6)
    for _ in range(3):
        model.predict_on_batch(x[:1])
    # (predict_on_batch's batch is the tensor, predict's a 1-tuple: each traced once)
    assert model.predict_function.experimental_get_tracing_count() == 3


def test_outputs_are_fresh_arrays_and_the_input_is_left_alone():
    model = _mlp()
    x = np.random.default_rng(3).standard_normal((1, 6)).astype(np.float32)
    kept = x.copy()
    model.predict(x, verbose=0)
    a = model.predict(x, verbose=0)
    b = model.predict(x, verbose=0)
    assert a is not b and not np.shares_memory(a, b)
    expected = a.copy()
    a[...] = 7.0  # writing into one result changes no later one
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)
    np.testing.assert_array_equal(x, kept)
    c = model.predict_on_batch(x)
    c[...] = -1.0
    np.testing.assert_array_equal(model.predict_on_batch(x), expected)
    np.testing.assert_array_equal(x, kept)
    # An array updated in place between calls gives the new values.
    x[0, 0] += 1.0
    np.testing.assert_allclose(model.predict(x, verbose=0), mlp_forward64(model, x), rtol=1e-5,
                               atol=1e-6)


def test_inputs_of_other_types_and_dtypes_convert_as_the_general_path_does():
    model = _mlp()
    x = np.random.default_rng(4).standard_normal((2, 6))
    want = model.predict(x.astype(np.float32), verbose=0, callbacks=[_Counter()])
    for value in (x, x.astype(np.float32), x.astype(np.float16).astype(np.float64),
                  tf.constant(x.astype(np.float32)), tf.constant(x),
                  np.asfortranarray(x.astype(np.float32)), x.astype(np.float32)[:, ::1]):
        for _ in range(3):
            got = model.predict(value, verbose=0)
            assert got.dtype == np.float32 and got.shape == (2, 3)
            looped = model.predict(value, verbose=0, callbacks=[_Counter()])
            np.testing.assert_array_equal(got, looped)
            np.testing.assert_array_equal(model.predict_on_batch(value), got)
    np.testing.assert_array_equal(model.predict(x, verbose=0), want)


def test_multi_input_and_multi_output_models_keep_their_structures():
    keras.utils.set_random_seed(5)
    a = keras.Input((3,), name="a")
    b = keras.Input((2,), name="b")
    joined = keras.layers.Concatenate()([a, b])
    hidden = keras.layers.Dense(8, activation="relu")(joined)
    model = keras.Model({"a": a, "b": b}, {"score": keras.layers.Dense(1, name="score")(hidden),
                                           "probs": keras.layers.Dense(
                                               4, activation="softmax", name="probs")(hidden)})
    rng = np.random.default_rng(5)
    data = {"a": rng.standard_normal((1, 3)).astype(np.float32),
            "b": rng.standard_normal((1, 2)).astype(np.float32)}
    looped = model.predict(data, verbose=0, callbacks=[_Counter()])
    for _ in range(3):
        got = model.predict(data, verbose=0)
        assert sorted(got) == ["probs", "score"]
        for key in got:
            np.testing.assert_array_equal(got[key], looped[key])
        on_batch = model.predict_on_batch(data)
        for key in got:
            np.testing.assert_array_equal(on_batch[key], looped[key])

    # One array in, a list of outputs out: the lone-array path, the list kept.
    keras.utils.set_random_seed(6)
    inputs = keras.Input((4,))
    trunk = keras.layers.Dense(5, activation="tanh")(inputs)
    two = keras.Model(inputs, [keras.layers.Dense(2)(trunk), keras.layers.Dense(3)(trunk)])
    x = rng.standard_normal((1, 4)).astype(np.float32)
    looped = two.predict(x, verbose=0, callbacks=[_Counter()])
    for _ in range(3):
        got = two.predict(x, verbose=0)
        assert isinstance(got, list) and len(got) == 2
        for ours, theirs in zip(got, looped):
            assert ours.dtype == np.float32
            np.testing.assert_array_equal(ours, theirs)
        got = two.predict_on_batch(x)
        assert isinstance(got, list) and len(got) == 2
        for ours, theirs in zip(got, looped):
            np.testing.assert_array_equal(ours, theirs)
    # (the loop's batch is predict's 1-tuple: one trace; predict_on_batch's another)
    assert two.predict_function.experimental_get_tracing_count() == 2


def test_callbacks_and_verbose_still_take_the_loop_after_the_cache_is_filled(capsys):
    model = _mlp()
    x = np.random.default_rng(7).standard_normal((1, 6)).astype(np.float32)
    for _ in range(3):
        model.predict(x, verbose=0)
    counter = _Counter()
    model.predict(x, verbose=0, callbacks=[counter])
    assert counter.batches == [0]
    capsys.readouterr()
    model.predict(x, verbose=1)
    assert "1/1" in capsys.readouterr().out
    # steps= takes the loop too (an array with steps: one batch per step, as Keras).
    assert model.predict(x, verbose=0, steps=1).shape == (1, 3)


def test_tapes_eager_functions_and_floatx_take_the_general_path():
    model = _mlp()
    x = np.random.default_rng(8).standard_normal((1, 6)).astype(np.float32)
    want = model.predict(x, verbose=0)
    model.predict(x, verbose=0)
    with tf.GradientTape():
        np.testing.assert_array_equal(model.predict(x, verbose=0), want)

    calls = []

    class Tracked(keras.layers.Layer):
        def call(self, inputs):
            calls.append(1)
            return inputs * 2.0

    keras.utils.set_random_seed(8)
    tracked = keras.Sequential([keras.Input((6,)), Tracked()])
    tracked.predict(x, verbose=0)
    tracked.predict(x, verbose=0)
    traced = len(calls)
    tf.config.run_functions_eagerly(True)
    try:
        np.testing.assert_array_equal(tracked.predict(x, verbose=0), x * 2.0)
        np.testing.assert_array_equal(tracked.predict_on_batch(x), x * 2.0)
    finally:
        tf.config.run_functions_eagerly(False)
    assert len(calls) - traced == 2  # the Python ran: not the cached plan

    # floatx changed after the cache was filled: a float32 array is cast to float64, as the
    # general path casts it, and the step is traced for float64 (the cached float32 trace
    # does not run on it).
    traces = tracked.predict_function.experimental_get_tracing_count()
    keras.backend.set_floatx("float64")
    try:
        got = tracked.predict(x, verbose=0)
        assert tracked.predict_function.experimental_get_tracing_count() == traces + 1
        np.testing.assert_array_equal(got, tracked.predict(x, verbose=0,
                                                           callbacks=[_Counter()]))
        traces = tracked.predict_function.experimental_get_tracing_count()
    finally:
        keras.backend.set_floatx("float32")
    np.testing.assert_array_equal(tracked.predict(x, verbose=0), x * 2.0)
    assert tracked.predict_function.experimental_get_tracing_count() == traces


def test_bad_shapes_raise_naming_the_layer_before_and_after_the_cache():
    model = _mlp()
    good = np.zeros((1, 6), np.float32)
    bad = np.zeros((1, 5), np.float32)
    with pytest.raises(ValueError) as before:
        model.predict(bad, verbose=0)
    model.predict(good, verbose=0)
    model.predict(good, verbose=0)
    with pytest.raises(ValueError) as after:
        model.predict(bad, verbose=0)
    assert str(after.value) == str(before.value)
    assert "sequential" in str(after.value) or "dense" in str(after.value)
    with pytest.raises(ValueError):
        model.predict_on_batch(bad)


def test_recompiling_or_rebuilding_the_predict_function_drops_the_cache():
    model = _mlp()
    x = np.random.default_rng(9).standard_normal((1, 6)).astype(np.float32)
    model.predict(x, verbose=0)
    model.predict(x, verbose=0)
    first = model.predict_function
    model.compile(optimizer="sgd", loss="mse")
    # A new weight value is seen by the cached plan (variables are read on every run).
    dense = model.layers[0]
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel * 0.5, bias])
    np.testing.assert_allclose(model.predict(x, verbose=0), mlp_forward64(model, x), rtol=1e-5,
                               atol=1e-6)
    assert model.predict_function is not first
    model.run_eagerly = True
    np.testing.assert_allclose(model.predict(x, verbose=0), mlp_forward64(model, x), rtol=1e-5,
                               atol=1e-6)


def test_a_custom_predict_step_and_predict_function_are_respected():
    class TwoHeads(keras.Model):
        def predict_step(self, data):
            out = super().predict_step(data)
            return {"out": out, "double": out * 2.0}

    keras.utils.set_random_seed(10)
    inputs = keras.Input((3,))
    model = TwoHeads(inputs, keras.layers.Dense(2)(inputs))
    x = np.random.default_rng(10).standard_normal((1, 3)).astype(np.float32)
    for _ in range(3):
        got = model.predict(x, verbose=0)
        assert sorted(got) == ["double", "out"]
        np.testing.assert_allclose(got["double"], 2 * got["out"], rtol=1e-6)

    model.predict_function = lambda data: tf.constant([[42.0]])  # a user's own function
    assert model.predict(x, verbose=0).tolist() == [[42.0]]
    assert model.predict_on_batch(x).tolist() == [[42.0]]


def test_the_lone_array_cache_is_bounded():
    model = _mlp()
    x = np.random.default_rng(11).standard_normal((80, 6)).astype(np.float32)
    for rows in range(1, 33):
        np.testing.assert_allclose(model.predict(x[:rows], verbose=0),
                                   mlp_forward64(model, x[:rows]), rtol=1e-5, atol=1e-6)
        model.predict(x[:rows], verbose=0)
    assert len(model.predict_function._lone) <= 64
    assert trainer_module._NOT_LONE is not None


@pytest.mark.keras_oracle
def test_single_sample_predict_matches_real_keras():
    from tests.keras._oracle import import_keras

    real = import_keras()
    ours = _mlp(features=8, hidden=(32, 32), outputs=4, seed=12)
    theirs = real.Sequential([real.Input((8,)), real.layers.Dense(32, activation="relu"),
                              real.layers.Dense(32, activation="relu"),
                              real.layers.Dense(4, activation="softmax")])
    theirs.set_weights([w.numpy() for w in ours.weights])
    x = np.random.default_rng(12).standard_normal((1, 8)).astype(np.float32)
    want = theirs.predict(x, verbose=0)
    for _ in range(3):
        got = ours.predict(x, verbose=0)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ours.predict_on_batch(x), theirs.predict_on_batch(x),
                                   rtol=1e-5, atol=1e-6)


def test_a_profiler_session_sees_the_predict_function_called(tmp_path):
    from tensorflux.profiler import experimental as profiler
    from tensorflux.profiler import recorder

    model = _mlp()
    x = np.random.default_rng(13).standard_normal((1, 6)).astype(np.float32)
    want = model.predict(x, verbose=0)
    model.predict(x, verbose=0)
    profiler.start(str(tmp_path))
    try:
        got = model.predict(x, verbose=0)
        names = [(event[0], event[4]) for _, events in recorder.state.session.lines.values()
                 for event in events]
    finally:
        profiler.stop(save=False)
    np.testing.assert_array_equal(got, want)
    # tf.function's call event (stats tf_function_call), as on the general path: the cached
    # path stands aside while a profiler is on.
    assert any(name == "predict_function" and "tf_function_call" in (stats or {})
               for name, stats in names)


def test_an_output_viewing_a_weight_is_copied_and_an_input_read_in_place_is_left_alone():
    class Bias(keras.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(3,), initializer="ones")

        def call(self, inputs):
            return keras.ops.reshape(self.w, (1, 3))  # (a view of the weight's array)

    model = keras.Sequential([keras.Input((3,)), Bias()])
    x = np.zeros((1, 3), np.float32)
    for _ in range(3):
        out = model.predict(x, verbose=0)
        out[...] = 5.0
        on_batch = model.predict_on_batch(x)
        on_batch[...] = 6.0
    np.testing.assert_array_equal(model.layers[0].w.numpy(), np.ones(3, np.float32))
    np.testing.assert_array_equal(model.predict(x, verbose=0), np.ones((1, 3), np.float32))

    # Elementwise steps straight on the input: the caller's array is never written.
    keras.utils.set_random_seed(14)
    scaled = keras.Sequential([keras.Input((4,)), keras.layers.Rescaling(2.0, offset=1.0),
                               keras.layers.Activation("tanh")])
    x = np.random.default_rng(14).standard_normal((2, 4)).astype(np.float32)
    kept = x.copy()
    for _ in range(3):
        np.testing.assert_allclose(scaled.predict(x, verbose=0), np.tanh(kept * 2.0 + 1.0),
                                   rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(scaled.predict_on_batch(x), np.tanh(kept * 2.0 + 1.0),
                                   rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(x, kept)


def test_a_smaller_batch_size_than_a_cached_shape_still_loops():
    model = _mlp()
    x = np.random.default_rng(15).standard_normal((40, 6)).astype(np.float32)
    whole = model.predict(x, batch_size=64, verbose=0)
    model.predict(x, batch_size=64, verbose=0)
    traces = model.predict_function.experimental_get_tracing_count()
    in_batches = model.predict(x, batch_size=8, verbose=0)
    # (the batches of 8 were traced: the 40-row trace did not run on the whole array)
    assert model.predict_function.experimental_get_tracing_count() == traces + 1
    counter = _Counter()
    looped = model.predict(x, batch_size=8, verbose=0, callbacks=[counter])
    assert counter.batches == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(in_batches, looped)
    np.testing.assert_allclose(looped, whole, rtol=1e-6, atol=1e-7)


def test_other_array_likes_take_the_general_conversion():
    class Duck:  # (an array-like with __array__ alone: no shape, no dtype)
        def __init__(self, array):
            self.array = array

        def __array__(self, dtype=None, copy=None):
            return self.array if dtype is None else self.array.astype(dtype)

    model = _mlp()
    x = np.random.default_rng(16).standard_normal((1, 6)).astype(np.float32)
    want = model.predict(x, verbose=0, callbacks=[_Counter()])
    for _ in range(3):
        np.testing.assert_array_equal(model.predict(Duck(x), verbose=0), want)
        np.testing.assert_array_equal(model.predict_on_batch(Duck(x)), want)
    sparse = pytest.importorskip("scipy.sparse")
    for _ in range(3):
        np.testing.assert_array_equal(model.predict(sparse.csr_matrix(x), verbose=0), want)


def test_arrays_of_several_batches_match_the_loop_batch_by_batch():
    model = _mlp()
    rng = np.random.default_rng(17)
    for rows, batch_size in ((100, None), (64, 32), (33, None), (70, 8), (10, 3)):
        x = rng.standard_normal((rows, 6)).astype(np.float32)
        counter = _Counter()
        looped = model.predict(x, batch_size=batch_size, verbose=0, callbacks=[counter])
        assert len(counter.batches) == -(-rows // (batch_size or 32))
        traces = model.predict_function.experimental_get_tracing_count()
        for value in (x, tf.constant(x), x.astype(np.float64)):
            for _ in range(2):
                got = model.predict(value, batch_size=batch_size, verbose=0)
                assert got.dtype == np.float32 and got.shape == (rows, 3)
                np.testing.assert_array_equal(got, looped)
        assert model.predict_function.experimental_get_tracing_count() == traces
        np.testing.assert_allclose(looped, mlp_forward64(model, x), rtol=1e-5, atol=1e-6)
    x = rng.standard_normal((40, 6)).astype(np.float32)
    kept = x.copy()
    a = model.predict(x, batch_size=16, verbose=0)
    a[...] = 3.0
    np.testing.assert_array_equal(x, kept)
    np.testing.assert_allclose(model.predict(x, batch_size=16, verbose=0), mlp_forward64(model, x),
                               rtol=1e-5, atol=1e-6)


def test_several_batches_of_a_multi_output_model_keep_the_structure():
    keras.utils.set_random_seed(18)
    inputs = keras.Input((4,))
    trunk = keras.layers.Dense(5, activation="tanh")(inputs)
    model = keras.Model(inputs, {"a": keras.layers.Dense(2)(trunk),
                                 "b": keras.layers.Dense(3, activation="softmax")(trunk)})
    x = np.random.default_rng(18).standard_normal((50, 4)).astype(np.float32)
    looped = model.predict(x, batch_size=16, verbose=0, callbacks=[_Counter()])
    for _ in range(3):
        got = model.predict(x, batch_size=16, verbose=0)
        assert sorted(got) == ["a", "b"]
        for key in got:
            assert got[key].shape == looped[key].shape
            np.testing.assert_array_equal(got[key], looped[key])


def test_several_batches_keep_the_loops_errors_and_step_cap():
    model = _mlp()
    x = np.random.default_rng(19).standard_normal((50, 6)).astype(np.float32)
    model.predict(x, verbose=0)
    model.predict(x, verbose=0)
    model.predict(x[:1], verbose=0)
    model.predict(x[:1], verbose=0)
    for bad in (-4, 2.5, True):
        for rows in (50, 1):
            with pytest.raises(ValueError, match="batch_size"):
                model.predict(x[:rows], batch_size=bad, verbose=0)
    keras.config.set_max_steps_per_epoch(1)
    try:
        with pytest.warns(UserWarning, match="Limiting steps_per_epoch"):
            capped = model.predict(x, verbose=0)
        # (the general path's batches: the cap taken as the steps of the epoch)
        np.testing.assert_allclose(capped, mlp_forward64(model, x[:len(capped)]), rtol=1e-5,
                                   atol=1e-6)
        with pytest.warns(UserWarning, match="Limiting steps_per_epoch"):
            assert model.predict(x[:1], verbose=0).shape == (1, 3)
    finally:
        keras.config.set_max_steps_per_epoch(None)
    assert model.predict(x, verbose=0).shape == (50, 3)
