"""Native segments: under jit_compile, a plan too large to compile whole (a product BLAS should
run) keeps its NumPy runner, and its runs of small steps (a classifier's head, loss and their
gradients) each become one native call (numpy_native.compile_segments)."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors, keras
from tensorflux.backends import numpy_native
from tests.tolerances import assert_close

pytest.importorskip("numba")


@pytest.fixture
def hot(monkeypatch):
    """Compile a segment on its first call (a test's plans are called a few times only)."""
    monkeypatch.setattr(numpy_native, "_HOT_CALLS", 1)


@pytest.fixture
def calls(monkeypatch):
    """Counts the native calls of every segment (not the NumPy kernels run in their place)."""
    counted = {}
    call = numpy_native._Segment.__call__

    def counting(segment, *values):
        results = call(segment, *values)
        if results is not None:
            counted[id(segment)] = counted.get(id(segment), 0) + 1
        return results
    monkeypatch.setattr(numpy_native._Segment, "__call__", counting)
    return counted


def _plan(function, *args):
    return function.get_concrete_function(*args)._plan()[0]


def _head_step(total, count):
    """A large product, then a small head: softmax, a clipped cross entropy, its mean added to
    a Variable, argmax accuracy and the gradient with respect to the logits."""
    def step(x, w, labels):
        h = tf.matmul(x, w)  # (48 x 64 x 64 multiply-adds: BLAS, not a loop nest)
        logits = h[:, :5] * 0.25
        with tf.GradientTape() as tape:
            tape.watch(logits)
            p = tf.nn.softmax(logits)
            picked = tf.gather(p, labels, axis=1, batch_dims=1)
            loss = -tf.math.log(tf.clip_by_value(picked, 1e-7, 1.0))
            mean = tf.reduce_mean(loss)
        total.assign_add(mean)
        count.assign_add(tf.reduce_sum(tf.cast(
            tf.equal(tf.math.argmax(p, axis=1), labels), tf.float32)))
        return {"loss": loss, "grad": tape.gradient(mean, logits), "h": h}
    return step


def _inputs(seed=1):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(48, 64)).astype(np.float32),
            rng.normal(size=(64, 64)).astype(np.float32) * 0.3,
            rng.integers(0, 5, size=48).astype(np.int64))


def test_a_large_plan_runs_its_small_steps_as_native_segments(hot, calls):
    args = _inputs()
    results = {}
    for jit in (True, False):
        total, count = tf.Variable(0.0), tf.Variable(0.0)
        step = tf.function(_head_step(total, count), jit_compile=jit)
        got = [{k: v.numpy() for k, v in step(*args).items()} for _ in range(3)]
        results[jit] = got, total.numpy(), count.numpy()
        if jit:
            plan = _plan(step, *args)
    assert "BLAS" in plan.native_reason
    assert plan.native_segments, "no segment"
    for segment in plan.native_segments:
        assert segment.ready and segment.reason is None, segment.reason
    # The first call compiles the segments (it runs their kernels), the next two call them.
    assert sorted(calls.values()) == [2] * len(plan.native_segments)
    (native, native_total, native_count), (plain, plain_total, plain_count) = \
        results[True], results[False]
    for got, want in zip(native, plain):
        np.testing.assert_array_equal(got["h"], want["h"])  # (BLAS's, either way)
        assert_close(got["loss"], want["loss"], rtol=1e-6, atol=1e-7, what="loss")
        assert_close(got["grad"], want["grad"], rtol=1e-6, atol=1e-8, what="grad")
    assert_close(native_total, plain_total, rtol=1e-6, what="total")
    assert native_count == plain_count
    # Against float64 NumPy: the loss and its gradient with respect to the logits.
    x, w, labels = args
    logits = (x.astype(np.float64) @ w)[:, :5] * 0.25
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    picked = p[np.arange(48), labels]
    assert_close(native[-1]["loss"], -np.log(picked), rtol=1e-4, atol=1e-5, what="loss64")
    grad = p.copy()
    grad[np.arange(48), labels] -= 1.0
    assert_close(native[-1]["grad"], grad / 48, rtol=1e-3, atol=1e-6, what="grad64")


def test_a_label_out_of_range_in_a_segment_raises_the_numpy_error_and_changes_nothing(hot):
    x, w, labels = _inputs(2)
    messages = []
    for jit in (True, False):
        total, count = tf.Variable(0.0), tf.Variable(0.0)
        step = tf.function(_head_step(total, count), jit_compile=jit)
        step(x, w, labels)
        if jit:
            assert all(s.ready for s in _plan(step, x, w, labels).native_segments)
        before = total.numpy(), count.numpy()
        bad = labels.copy()
        bad[9] = 5
        with pytest.raises(errors.InvalidArgumentError) as raised:
            step(x, w, bad)
        assert (total.numpy(), count.numpy()) == before
        messages.append(str(raised.value))
        step(x, w, labels)  # still runs after a failed step
        assert total.numpy() != before[0]
    assert "indices[9] = 5 is not in [0, 5)" in messages[0]
    assert messages[0] == messages[1]


def test_a_segment_given_arguments_of_new_types_hands_its_steps_back(hot, calls):
    # A Variable's buffer replaced by one of another layout: the segment is not compiled
    # again; the runner runs the steps' kernels from then on, with the same values.
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 40)).astype(np.float32)
    start = rng.normal(size=(3, 4)).astype(np.float32)
    results = {}
    for jit in (True, False):
        small = tf.Variable(start)

        def step(x, small=small):
            h = tf.reduce_sum(tf.matmul(x, x), axis=1)  # (a product BLAS runs)
            head = tf.reshape(h[:12], (3, 4))
            return {"y": tf.tanh(head * small) + tf.exp(small) - small * 2.0}
        function = tf.function(step, jit_compile=jit)
        function(x)
        if jit:
            (segment,) = _plan(function, x).native_segments
            function(x)
            assert calls[id(segment)] == 1
        small._value = np.asfortranarray(small._value)  # (as no public API would)
        assert not small._value.flags.c_contiguous
        results[jit] = function(x)["y"].numpy(), function(x)["y"].numpy()
    assert not segment.ready and "new types" in segment.reason
    assert calls[id(segment)] == 1
    for got, want in zip(*results.values()):
        assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_a_plan_compiled_whole_has_no_segments(hot):
    step = tf.function(lambda x: {"y": tf.nn.softmax(x * 2.0) - tf.exp(x) + x},
                       jit_compile=True)
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    step(x)
    plan = _plan(step, x)
    assert plan.native_reason is None and plan.native_segments == []


def _fit(jit_compile, metrics):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(120, 24)).astype(np.float32)
    classes = (x[:, :4] @ rng.normal(size=(4, 4))).argmax(1)
    keras.utils.set_random_seed(3)
    # (a hidden layer of 24 x 64: each step's products have 40k multiply-adds, too many to
    # compile whole; the head of 4 classes, the loss and the metrics run as segments)
    model = keras.Sequential([keras.Input((24,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(4, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=metrics, jit_compile=jit_compile)
    history = model.fit(x, classes, batch_size=24, epochs=3, shuffle=False, verbose=0)
    return model, history.history, x, classes


def test_a_keras_fit_with_segments_matches_the_numpy_runner(monkeypatch, calls):
    monkeypatch.setattr(numpy_native, "_HOT_CALLS", 3)
    metrics = ["accuracy", "sparse_top_k_categorical_accuracy"]
    native, native_history, x, classes = _fit(True, metrics)
    default, default_history, _, _ = _fit(False, metrics)
    (concrete,) = set(native.train_function._effects.values())
    plan = concrete._plan()[0]
    assert "BLAS" in plan.native_reason
    assert plan.native_segments and all(s.ready for s in plan.native_segments)
    # (fit's steps run one of two runners, with the logs or without: each has segments)
    assert all(calls.get(id(segment)) for segment in plan.native_segments), calls
    assert max(calls.values()) >= 8  # (of 15 steps, compiled on the third)
    assert sorted(native_history) == sorted(default_history)
    for key, values in default_history.items():
        assert_close(native_history[key], values, rtol=1e-5, atol=1e-6, what=key)
    for got, expected in zip(native.weights, default.weights):
        assert_close(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6, what=got.name)
    assert_close(native.evaluate(x, classes, batch_size=24, verbose=0),
                 default.evaluate(x, classes, batch_size=24, verbose=0), rtol=1e-6)
    assert_close(native.predict(x, batch_size=24, verbose=0),
                 default.predict(x, batch_size=24, verbose=0), rtol=1e-6, atol=1e-7)


def _random_program(seed):
    """A random straight-line function of small (6, 7) values with large products in
    between (each 40^3 multiply-adds: BLAS, so the plan is not compiled whole), returning a
    random subset of its values: segments start, end and are read from at random places."""
    def body(x, big):
        rng = np.random.default_rng(seed)  # (the choices are made while tracing)
        values = [x]

        def pick():
            return values[int(rng.integers(len(values)))]
        for _ in range(int(rng.integers(8, 20))):
            kind = int(rng.integers(7))
            if kind == 0:
                product = tf.matmul(big, big + pick()[0, 0])
                values.append(tf.reshape(product[:6, :7], (6, 7)) * 0.01)
            elif kind == 1:
                values.append(tf.tanh(pick()) * 0.5 + pick())
            elif kind == 2:
                values.append(pick() * pick() - tf.abs(pick()))
            elif kind == 3:
                values.append(tf.reduce_sum(pick(), axis=1, keepdims=True) * 0.1 + pick())
            elif kind == 4:
                values.append(tf.nn.softmax(pick()) + tf.reduce_max(pick(), axis=0))
            elif kind == 5:
                values.append(tf.exp(tf.minimum(pick(), 2.0)) / (1.0 + tf.square(pick())))
            else:
                values.append(tf.transpose(tf.reshape(pick(), (7, 6)))[:, :1] * pick())
        kept = rng.permutation(len(values))[: int(rng.integers(1, 4))]
        return {f"v{k}": values[k] for k in sorted(kept)}
    return body


@pytest.mark.parametrize("seed", range(10))
def test_random_programs_with_segments_match_the_numpy_runner(hot, calls, seed):
    rng = np.random.default_rng(100 + seed)
    x = rng.normal(size=(6, 7)).astype(np.float32)
    big = rng.normal(size=(40, 40)).astype(np.float32) * 0.2
    native = tf.function(_random_program(seed), jit_compile=True)
    plain = tf.function(_random_program(seed))
    native(x, big)  # (compiles the segments, running the kernels)
    got = {k: v.numpy() for k, v in native(x, big).items()}
    want = {k: v.numpy() for k, v in plain(x, big).items()}
    segments = _plan(native, x, big).native_segments
    assert all(calls.get(id(segment)) == 1 for segment in segments), calls
    assert got.keys() == want.keys()
    for key in want:
        assert_close(got[key], want[key], rtol=1e-5, atol=1e-6, what=key)


def test_most_random_programs_have_segments(hot):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(6, 7)).astype(np.float32)
    big = rng.normal(size=(40, 40)).astype(np.float32)
    counts = []
    for seed in range(10):
        native = tf.function(_random_program(seed), jit_compile=True)
        native(x, big)
        counts.append(len(_plan(native, x, big).native_segments))
    assert sum(count > 0 for count in counts) >= 7, counts
