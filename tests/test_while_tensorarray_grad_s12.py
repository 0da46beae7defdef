"""Gradients of traced while loops that carry tf.TensorArrays (hand-written RNN loops: each
step's output written to a TensorArray, the loss on the stacked outputs), against NumPy float64
references with hand-derived backward passes and closed forms."""

import numpy as np
import pytest

import tensorflux as tf
from tests.tolerances import assert_close, central_difference

T, BATCH, FEATURES, UNITS = 5, 2, 3, 4
RNG = np.random.default_rng(12)
XS = RNG.standard_normal((T, BATCH, FEATURES)).astype(np.float32)
W0 = (RNG.standard_normal((FEATURES, UNITS)) * 0.5).astype(np.float32)
U0 = (RNG.standard_normal((UNITS, UNITS)) * 0.5).astype(np.float32)
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}  # float32 through 5 recurrent steps


def numpy_rnn(xs, w, u, weights):
    """h_t = tanh(x_t w + h_{t-1} u), loss = sum_t weights[t] * sum(h_t ** 2), in float64,
    and its gradients by the hand-derived backward pass (back-propagation through time)."""
    xs, w, u = (np.asarray(a, np.float64) for a in (xs, w, u))
    hs = [np.zeros((xs.shape[1], u.shape[0]))]
    for x in xs:
        hs.append(np.tanh(x @ w + hs[-1] @ u))
    loss = sum(c * np.sum(h * h) for c, h in zip(weights, hs[1:]))
    dxs, dw, du = np.zeros_like(xs), np.zeros_like(w), np.zeros_like(u)
    carry = np.zeros_like(hs[0])
    for t in reversed(range(len(xs))):
        h = hs[t + 1]
        pre = (2.0 * weights[t] * h + carry) * (1.0 - h * h)
        dw += xs[t].T @ pre
        du += hs[t].T @ pre
        dxs[t] = pre @ w.T
        carry = pre @ u.T
    return loss, dxs, dw, du


ARRAYS = {
    "dynamic": lambda: tf.TensorArray(tf.float32, size=0, dynamic_size=True),
    "dynamic_element_shape": lambda: tf.TensorArray(
        tf.float32, size=0, dynamic_size=True, element_shape=[BATCH, UNITS]),
    "fixed": lambda: tf.TensorArray(tf.float32, size=T),
    "fixed_element_shape": lambda: tf.TensorArray(tf.float32, size=T,
                                                  element_shape=[BATCH, UNITS]),
}


def _squares(y):
    return tf.reduce_sum(y * y)


# What the loss reads from the written array, and the weight it gives each step's output.
FINISHES = {
    "stack": (lambda ta: _squares(ta.stack()), [1, 1, 1, 1, 1]),
    "concat": (lambda ta: _squares(ta.concat()), [1, 1, 1, 1, 1]),
    # (Repeated indices add up: TF 2.21's TensorList gather gradient keeps one of them.)
    "gather": (lambda ta: _squares(ta.gather([4, 1, 1])), [0, 2, 0, 0, 1]),
    "read": (lambda ta: _squares(ta.read(2)) + _squares(ta.read(4)), [0, 0, 1, 0, 1]),
}


def _rnn_step(x, h, w, u):
    return tf.tanh(tf.matmul(x, w) + tf.matmul(h, u))


def _rnn_gradients(make_array, finish, read_inputs=False, traced=True):
    w, u = tf.Variable(W0), tf.Variable(U0)

    def run(xs):
        with tf.GradientTape() as tape:
            tape.watch(xs)
            steps = tf.shape(xs)[0]
            inputs = tf.TensorArray(tf.float32, size=T).unstack(xs) if read_inputs else None

            def body(t, h, ta):
                x = inputs.read(t) if read_inputs else xs[t]
                h = _rnn_step(x, h, w, u)
                return t + 1, h, ta.write(t, h)

            _, _, ta = tf.while_loop(lambda t, h, ta: t < steps, body,
                                     [tf.constant(0), tf.zeros([BATCH, UNITS]), make_array()])
            loss = finish(ta)
        return (loss, *tape.gradient(loss, [xs, w, u]))

    run = tf.function(run) if traced else run
    return [r.numpy() for r in run(tf.constant(XS))]


@pytest.mark.parametrize("finish", sorted(FINISHES))
@pytest.mark.parametrize("kind", sorted(ARRAYS))
def test_rnn_outputs_written_in_loop_gradients_match_numpy_bptt(kind, finish):
    fn, weights = FINISHES[finish]
    got = _rnn_gradients(ARRAYS[kind], fn)
    for name, actual, expected in zip(["loss", "d xs", "d W", "d U"], got,
                                      numpy_rnn(XS, W0, U0, weights)):
        assert_close(actual, expected, what=f"{kind}/{finish} {name}", **TOLERANCE)


@pytest.mark.parametrize("kind", ["dynamic", "fixed"])
def test_rnn_reading_unstacked_inputs_in_loop_gradients_match_numpy_bptt(kind):
    got = _rnn_gradients(ARRAYS[kind], FINISHES["stack"][0], read_inputs=True)
    for name, actual, expected in zip(["loss", "d xs", "d W", "d U"], got,
                                      numpy_rnn(XS, W0, U0, [1] * T)):
        assert_close(actual, expected, what=f"{kind} {name}", **TOLERANCE)


def test_eager_loop_agrees_with_traced_loop():
    eager = _rnn_gradients(ARRAYS["dynamic"], FINISHES["stack"][0], traced=False)
    traced = _rnn_gradients(ARRAYS["dynamic"], FINISHES["stack"][0])
    for a, b in zip(eager, traced):
        assert_close(b, a, **TOLERANCE)


def test_dynamic_array_carried_with_maximum_iterations_closed_form():
    @tf.function
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            _, y, ta = tf.while_loop(
                lambda i, *rest: True, lambda i, y, ta: (i + 1, y * 2.0, ta.write(i, y)),
                [0, x, tf.TensorArray(tf.float32, 0, dynamic_size=True)], maximum_iterations=4)
            written = tf.reduce_sum(ta.stack(), axis=0)  # x (1 + 2 + 4 + 8)
            loss = tf.reduce_sum(y) + tf.reduce_sum(written * written)
        return y, tape.gradient(loss, x)

    x = np.array([1.0, 2.0, -3.0], np.float32)
    y, grad = run(tf.constant(x))
    assert_close(y.numpy(), 16.0 * x, dtype="float32")
    assert_close(grad.numpy(), 16.0 + 2.0 * 15.0 ** 2 * x, dtype="float32")


def _autograph_rnn(signature):
    w, u = tf.Variable(W0), tf.Variable(U0)

    def run(xs, n):
        with tf.GradientTape() as tape:
            tape.watch(xs)
            ta = tf.TensorArray(tf.float32, size=n)  # (n unknown when traced: it grows)
            h = tf.zeros([tf.shape(xs)[1], UNITS])
            for t in tf.range(n):
                h = _rnn_step(xs[t], h, w, u)
                ta = ta.write(t, h)
            loss = _squares(ta.stack())
        return (loss, *tape.gradient(loss, [xs, w, u]))

    fn = tf.function(run, input_signature=signature)
    return fn


@pytest.mark.parametrize("signature", [None, [tf.TensorSpec([None, BATCH, FEATURES]),
                                              tf.TensorSpec([], tf.int32)]],
                         ids=["no_signature", "unknown_time"])
def test_autograph_for_range_rnn_with_tensor_trip_count(signature):
    fn = _autograph_rnn(signature)
    for steps in (T, 3):  # the same trace, a different trip count
        got = [r.numpy() for r in fn(tf.constant(XS[:steps]), tf.constant(steps))]
        expected = numpy_rnn(XS[:steps], W0, U0, [1] * steps)
        for name, actual, want in zip(["loss", "d xs", "d W", "d U"], got, expected):
            assert_close(actual, want, what=f"{steps} steps {name}", **TOLERANCE)


def test_scan_with_unknown_length_gradient_matches_numpy_bptt():
    u = tf.Variable(U0)
    xs = RNG.standard_normal((T, BATCH, UNITS)).astype(np.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, None, UNITS])])
    def run(xs):
        with tf.GradientTape() as tape:
            tape.watch(xs)
            ys = tf.scan(lambda h, x: tf.tanh(tf.matmul(h, u) + x), xs,
                         initializer=tf.zeros_like(xs[0]))
            loss = _squares(ys)
        return (loss, *tape.gradient(loss, [xs, u]))

    got = [r.numpy() for r in run(tf.constant(xs))]
    # The same recurrence with an identity input weight.
    loss, dxs, _, du = numpy_rnn(xs, np.eye(UNITS), U0, [1] * T)
    for name, actual, expected in zip(["loss", "d xs", "d U"], got, [loss, dxs, du]):
        assert_close(actual, expected, what=name, **TOLERANCE)


def test_map_fn_with_unknown_length_gradient_matches_central_differences():
    w = tf.Variable(W0)

    @tf.function(input_signature=[tf.TensorSpec([None, None, FEATURES])])
    def run(xs):
        with tf.GradientTape() as tape:
            tape.watch(xs)
            ys = tf.map_fn(lambda x: tf.sin(tf.matmul(x, w)), xs)
            loss = _squares(ys)
        return (loss, *tape.gradient(loss, [xs, w]))

    def loss_of(xs, weights):
        return np.sum(np.sin(xs @ weights) ** 2)

    xs64, w64 = XS.astype(np.float64), W0.astype(np.float64)
    loss, dxs, dw = (r.numpy() for r in run(tf.constant(XS)))
    assert_close(loss, loss_of(xs64, w64), **TOLERANCE)
    assert_close(dxs, central_difference(lambda a: loss_of(a, w64), xs64), **TOLERANCE)
    assert_close(dw, central_difference(lambda a: loss_of(xs64, a), w64), **TOLERANCE)


@pytest.mark.parametrize("kind", ["dynamic", "fixed"])
def test_second_order_through_written_array_closed_form(kind):
    make = {"dynamic": lambda: tf.TensorArray(tf.float32, 0, dynamic_size=True),
            "fixed": lambda: tf.TensorArray(tf.float32, 3)}[kind]

    @tf.function
    def run(x):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                # Writes 1, x, x^2: the loss is the sum of 1 + x + x^2 + x^3 over x.
                _, y, ta = tf.while_loop(
                    lambda i, *rest: i < 3, lambda i, y, ta: (i + 1, y * x, ta.write(i, y)),
                    [0, tf.ones_like(x), make()])
                loss = tf.reduce_sum(ta.stack()) + tf.reduce_sum(y)
            first = inner.gradient(loss, x)
        return loss, first, outer.gradient(first, x)

    x = np.array([1.5, -2.0], np.float32)
    loss, first, second = (r.numpy() for r in run(tf.constant(x)))
    x64 = x.astype(np.float64)
    assert_close(loss, np.sum(1 + x64 + x64 ** 2 + x64 ** 3), **TOLERANCE)
    assert_close(first, 1 + 2 * x64 + 3 * x64 ** 2, **TOLERANCE)
    assert_close(second, 2 + 6 * x64, **TOLERANCE)


def test_nested_loop_writing_array_inside_outer_loop_gradient():
    """An inner while loop (carrying its own array) in an outer loop's body: the outer
    gradient re-binds the inner loop, whose array flow has an unknown static shape."""
    @tf.function
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)

            def outer_body(i, y, ta):
                _, z, inner = tf.while_loop(
                    lambda j, *rest: j < 2, lambda j, z, a: (j + 1, tf.sin(z), a.write(j, z)),
                    [0, y, tf.TensorArray(tf.float32, 0, dynamic_size=True)])
                return i + 1, z, ta.write(i, tf.reduce_sum(inner.stack(), axis=0))

            _, _, ta = tf.while_loop(lambda i, *rest: i < 2, outer_body,
                                     [0, x, tf.TensorArray(tf.float32, 0, dynamic_size=True)])
            loss = _squares(ta.stack())
        return loss, tape.gradient(loss, x)

    def loss_of(x):
        total, y = 0.0, x
        for _ in range(2):
            total += np.sum((y + np.sin(y)) ** 2)
            y = np.sin(np.sin(y))
        return total

    x = np.array([0.3, -1.2, 2.0])
    loss, grad = run(tf.constant(x.astype(np.float32)))
    assert_close(loss.numpy(), loss_of(x), **TOLERANCE)
    assert_close(grad.numpy(), central_difference(loss_of, x), **TOLERANCE)


def test_autograph_for_range_rnn_with_unknown_batch_and_time():
    fn = _autograph_rnn([tf.TensorSpec([None, None, FEATURES]), tf.TensorSpec([], tf.int32)])
    got = [r.numpy() for r in fn(tf.constant(XS), tf.constant(T))]
    for name, actual, expected in zip(["loss", "d xs", "d W", "d U"], got,
                                      numpy_rnn(XS, W0, U0, [1] * T)):
        assert_close(actual, expected, what=name, **TOLERANCE)


@pytest.mark.parametrize("element_shape", [None, [None, UNITS]])
@pytest.mark.parametrize("dynamic", [True, False])
def test_rnn_over_unstacked_inputs_of_unknown_batch_and_time(dynamic, element_shape):
    w, u = tf.Variable(W0), tf.Variable(U0)

    @tf.function(input_signature=[tf.TensorSpec([None, None, FEATURES])])
    def run(xs):
        with tf.GradientTape() as tape:
            tape.watch(xs)
            steps = tf.shape(xs)[0]
            inputs = tf.TensorArray(tf.float32, size=steps).unstack(xs)
            outputs = tf.TensorArray(tf.float32, size=0 if dynamic else steps,
                                     dynamic_size=dynamic, element_shape=element_shape)

            def body(t, h, ta):
                h = _rnn_step(inputs.read(t), h, w, u)
                return t + 1, h, ta.write(t, h)

            _, _, ta = tf.while_loop(lambda t, *rest: t < steps, body,
                                     [0, tf.zeros([tf.shape(xs)[1], UNITS]), outputs])
            loss = _squares(ta.stack())
        return (loss, *tape.gradient(loss, [xs, w, u]))

    for shape in [(T, BATCH, FEATURES), (3, 4, FEATURES)]:  # one trace, two batch sizes
        xs = RNG.standard_normal(shape).astype(np.float32)
        got = [r.numpy() for r in run(tf.constant(xs))]
        for name, actual, expected in zip(["loss", "d xs", "d W", "d U"], got,
                                          numpy_rnn(xs, W0, U0, [1] * shape[0])):
            assert_close(actual, expected, what=f"{shape} {name}", **TOLERANCE)


def _alternating_loss(x):
    """NumPy: h <- sin(h) + x five times, writing h^2 at even steps and -h at odd ones."""
    total, h = 0.0, x
    for t in range(5):
        h = np.sin(h) + x
        total += np.sum(h * h if t % 2 == 0 else -h)
    return total


X3 = np.array([0.5, -1.0, 2.0])


def _check_alternating(run):
    loss, grad = run(tf.constant(X3.astype(np.float32)))
    assert_close(loss.numpy(), _alternating_loss(X3), **TOLERANCE)
    assert_close(grad.numpy(), central_difference(_alternating_loss, X3), **TOLERANCE)


def test_cond_in_loop_body_writing_array_gradient():
    """tf.cond returning a TensorArray (its structure check once failed to describe one)."""
    @tf.function
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)

            def body(t, h, ta):
                h = tf.sin(h) + x
                ta = tf.cond(t % 2 == 0, lambda: ta.write(t, h * h), lambda: ta.write(t, -h))
                return t + 1, h, ta

            _, _, ta = tf.while_loop(lambda t, *rest: t < 5, body,
                                     [0, x, tf.TensorArray(tf.float32, 0, dynamic_size=True)])
            loss = tf.reduce_sum(ta.stack())
        return loss, tape.gradient(loss, x)

    _check_alternating(run)


def test_autograph_if_in_for_range_writing_array_gradient():
    @tf.function
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            ta = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
            h = x
            for t in tf.range(5):
                h = tf.sin(h) + x
                if t % 2 == 0:
                    ta = ta.write(t, h * h)
                else:
                    ta = ta.write(t, -h)
            loss = tf.reduce_sum(ta.stack())
        return loss, tape.gradient(loss, x)

    _check_alternating(run)


def test_cond_structure_mismatch_with_array_names_both_sides():
    @tf.function
    def run(x):
        ta = tf.TensorArray(tf.float32, size=1)
        return tf.cond(x[0] > 0, lambda: ta.write(0, x[0]), lambda: x)

    with pytest.raises(tf.errors.InvalidArgumentError, match="same structure: true_fn returned"):
        run(tf.constant([1.0]))


def test_autograph_nested_for_range_stacking_inner_array_into_outer():
    """An inner loop's stacked array (its length unknown when traced) written to an outer
    loop's array, and the gradient through both."""
    @tf.function
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            ta = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
            h = x
            for t in tf.range(3):
                inner = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
                for s in tf.range(2):
                    h = tf.tanh(h * 1.5)
                    inner = inner.write(s, h)
                ta = ta.write(t, inner.stack())
            loss = _squares(ta.stack())
        return loss, tape.gradient(loss, x)

    def loss_of(x):
        total, h = 0.0, x
        for _ in range(6):
            h = np.tanh(h * 1.5)
            total += np.sum(h * h)
        return total

    loss, grad = run(tf.constant(X3.astype(np.float32)))
    assert_close(loss.numpy(), loss_of(X3), **TOLERANCE)
    assert_close(grad.numpy(), central_difference(loss_of, X3), **TOLERANCE)
