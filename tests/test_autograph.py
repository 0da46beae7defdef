"""AutoGraph: Python control flow on tensors inside tf.function becomes tf.cond/tf.while_loop.

References: each converted function against the same Python run eagerly (and NumPy float64
where there is a formula), gradients against central differences, and error messages as
TensorFlow 2.21's AutoGraph words them (run against real TF to find them).
"""

import logging

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.autograph import impl, transformer
from tests.tolerances import FD_EPS, GRAD, assert_close


def _node_types(concrete):
    return [n.primitive.name for n in concrete.graph.nodes]


def _same_as_eager(fn, *args):
    """Runs fn eagerly and as a tf.function; asserts both give the same values."""
    eager = fn(*args)
    traced = tf.function(fn)(*args)
    eager_leaves, traced_leaves = tf.nest.flatten(eager), tf.nest.flatten(traced)
    assert len(eager_leaves) == len(traced_leaves)
    for e, t in zip(eager_leaves, traced_leaves):
        np.testing.assert_allclose(np.asarray(t), np.asarray(e), rtol=1e-6)
    return traced


# ------------------------------------------------------------------ the constructs

def guide_function(x):
    s = tf.constant(0.0)
    for i in tf.range(tf.shape(x)[0]):
        if x[i] > 0:
            s += x[i]
        else:
            s -= 1.0
    while s > 100.0:
        s = s / 2
    return s


def test_loops_and_branches_on_tensors_become_graph_control_flow():
    f = tf.function(guide_function)
    for values in ([1.0, -2.0, 3.0], [100.0, 50.0, 3.0], [-1.0], []):
        x = np.asarray(values, np.float32)
        expected = sum(v if v > 0 else -1.0 for v in x.astype(np.float64))
        while expected > 100.0:
            expected /= 2
        assert_close(f(tf.constant(x)).numpy(), expected, "float32")
    # One trace for every length (shape (None,) after relaxing is not needed: the loop is a
    # graph loop, so the first dimension's value is read at run time).
    concrete = f.get_concrete_function(tf.TensorSpec([None], tf.float32))
    assert _node_types(concrete).count("while") == 2
    assert float(concrete(tf.constant([5.0, -1.0, 7.0, 300.0]))) == pytest.approx(77.75)


def branches(x):
    if x[0] > 0:
        y = x * 2.0
    elif x[1] > 0:
        y = x + 10.0
    else:
        y = -x
    sign = 1.0 if tf.reduce_sum(y) > 0 else -1.0
    both = x[0] > 0 and x[1] > 0
    either = x[0] > 0 or x[1] > 0
    neither = not either
    return y * sign, both, either, neither


@pytest.mark.parametrize("x", [[1.0, 2.0], [-1.0, 2.0], [-1.0, -2.0], [3.0, -4.0]])
def test_if_elif_else_ternary_and_boolean_operators(x):
    _same_as_eager(branches, tf.constant(x))


def test_boolean_operators_evaluate_lazily_as_python_and_tf():
    calls = []

    def right():
        calls.append(1)
        return tf.constant(True)

    @tf.function
    def f(x):
        return x > 0 and right()

    assert bool(f(tf.constant(-1.0))) is False and bool(f(tf.constant(1.0))) is True
    assert len(calls) == 1  # traced once, in the cond's branch
    assert "cond" in _node_types(f.get_concrete_function(tf.constant(1.0)))


def loops_with_jumps(x):
    total = tf.constant(0.0)
    for v in x:  # a loop over the first dimension of a tensor
        if v < 0:
            continue
        if v > 10.0:
            break
        total += v
    i = tf.constant(0)
    while i < tf.size(x):  # a tensor condition and a tensor break
        i += 1
        if x[i - 1] > 10.0:
            break
    count = 0
    for k in range(tf.shape(x)[0]):  # range() of a tensor is tf.range
        count += k
    return total, i, count


@pytest.mark.parametrize("x", [[1.0, -2.0, 3.0, 20.0, 5.0], [-1.0, -2.0], [11.0]])
def test_break_and_continue_in_tensor_loops(x):
    _same_as_eager(loops_with_jumps, tf.constant(x))


def test_a_python_loop_that_turns_into_a_tensor_loop_is_an_error():
    def f(x):
        i = tf.constant(0)
        while True:
            i += 1
            if i >= 3:
                break
        return i
    assert int(f(tf.constant(1.0))) == 3  # eagerly, plain Python
    with pytest.raises(NotImplementedError, match="started as non-Tensor, then changed"):
        tf.function(f)(tf.constant(1.0))


def for_else(x):
    s = tf.constant(0.0)
    for v in x:
        if v > 3.5:
            break
        s += v
    else:
        s = s * 100.0
    return s


@pytest.mark.parametrize("shift", [0.0, -10.0])
def test_for_else_runs_only_without_break(shift):
    _same_as_eager(for_else, tf.constant([1.0, 2.0, 4.0]) + shift)


def test_loops_over_python_values_stay_unrolled():
    @tf.function
    def f(x):
        out = []
        for k in range(3):
            if k % 2 == 0:
                out.append(x * k)
        for w in [1.0, 2.0]:
            x = x + w
        return tf.add_n(out) + x

    concrete = f.get_concrete_function(tf.constant(1.0))
    assert "while" not in _node_types(concrete) and "cond" not in _node_types(concrete)
    assert float(f(tf.constant(1.0))) == 6.0


def early_returns(x):
    if tf.reduce_sum(x) > 100.0:
        return x * 0.0
    elif x[0] > 0:
        return x + 1.0
    y = x * 2.0
    return y


@pytest.mark.parametrize("x", [[1.0, 2.0], [-1.0, 2.0], [60.0, 50.0]])
def test_returns_inside_tensor_branches(x):
    _same_as_eager(early_returns, tf.constant(x))


def test_returns_inside_python_loops():
    def first_big(x, limit):
        for k in range(3):
            if limit > k:
                return x * k
        return x

    _same_as_eager(lambda x: first_big(x, 1), tf.constant([2.0]))
    _same_as_eager(lambda x: first_big(x, 7), tf.constant([2.0]))


def test_undefined_before_a_loop_gets_a_placeholder_and_the_index_survives():
    def f(x):
        for i in tf.range(3):
            y = x * tf.cast(i, tf.float32)
        return y, i

    y, i = _same_as_eager(f, tf.constant([1.0, -2.0]))
    assert y.numpy().tolist() == [2.0, -4.0] and int(i) == 2


def test_set_loop_options_gives_shape_invariants():
    def f(x):
        for _ in tf.range(3):
            tf.autograph.experimental.set_loop_options(
                shape_invariants=[(x, tf.TensorShape([None]))])
            x = tf.concat([x, x], 0)
        return x

    assert tf.function(f)(tf.constant([1.0, 2.0])).numpy().tolist() == [1.0, 2.0] * 8


def test_maximum_iterations_from_set_loop_options():
    @tf.function
    def f(x):
        while x < 100.0:
            tf.autograph.experimental.set_loop_options(maximum_iterations=3)
            x = x + 1.0
        return x

    assert float(f(tf.constant(0.0))) == 3.0


# ------------------------------------------------------------------ gradients

def test_gradient_through_converted_loop_and_branch_matches_central_differences():
    def python_reference(values):
        s = 0.0
        for v in values:
            s += v * v * 0.5 if v > 0 else -np.sin(v)
        return s

    @tf.function
    def f(x):
        s = tf.constant(0.0, tf.float64)
        for v in x:
            if v > 0:
                s += v * v * 0.5
            else:
                s -= tf.sin(v)
        return s

    x0 = np.array([1.5, -0.7, 2.0, -0.1])
    x = tf.constant(x0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    assert_close(float(y), python_reference(x0), "float64")
    numeric = np.array([(python_reference(x0 + FD_EPS * e) - python_reference(x0 - FD_EPS * e))
                        / (2 * FD_EPS) for e in np.eye(4)])
    assert_close(tape.gradient(y, x).numpy(), numeric, rtol=GRAD[0], atol=GRAD[1])


def test_gradient_through_a_while_loop_with_a_variable():
    w = tf.Variable(0.9, dtype=tf.float64)

    @tf.function
    def f(x):
        y = x
        i = tf.constant(0)
        while i < 4:
            y = tf.tanh(y * w)
            i += 1
        return y

    def reference(wv, xv=0.8):
        for _ in range(4):
            xv = np.tanh(xv * wv)
        return xv

    with tf.GradientTape() as tape:
        y = f(tf.constant(0.8, tf.float64))
    numeric = (reference(0.9 + FD_EPS) - reference(0.9 - FD_EPS)) / (2 * FD_EPS)
    assert_close(float(y), reference(0.9))
    assert_close(float(tape.gradient(y, w)), numeric, rtol=GRAD[0], atol=GRAD[1])


# ------------------------------------------------------------------ TensorFlow's errors

def _raises(fn, error, message):
    with pytest.raises(error, match=message):
        tf.function(fn)(tf.constant([1.0, -2.0, 3.0]))


def test_errors_for_inconsistent_branches():
    def undefined_in_else(x):
        if tf.reduce_sum(x) > 0:
            y = x * 2
        return y

    def dtypes_differ(x):
        if tf.reduce_sum(x) > 0:
            y = 1
        else:
            y = 2.0
        return y

    def none_in_else(x):
        if tf.reduce_sum(x) > 0:
            y = x
        else:
            y = None
        return y

    def return_only_in_main(x):
        if x[0] > 0:
            return x

    _raises(undefined_in_else, ValueError, "'y' must also be initialized in the else branch")
    _raises(dtypes_differ, TypeError,
            "'y' has dtype int32 in the main branch, but dtype float32 in the else branch")
    _raises(none_in_else, ValueError, "'y' is None at the end of the else branch.")
    _raises(return_only_in_main, ValueError, "the else branch must also have a return")


def test_errors_for_inconsistent_loop_variables():
    def dtype_changes(x):
        s = tf.constant(0)
        for _ in tf.range(3):
            s = tf.cast(s, tf.float32)
        return s

    def shape_changes(x):
        s = x
        while tf.reduce_sum(s) < 100:
            s = tf.concat([s, s], 0)
        return s

    def read_before_defined(x):
        for _ in tf.range(3):
            s = s + 1  # noqa: F821 - read before it is defined, on purpose
        return s

    def return_in_tensor_loop(x):
        for i in tf.range(3):
            if x[i] < 0:
                return i
        return -1

    def tensor_break_in_python_loop(x):
        s = 0.0
        for k in range(3):
            if x[k] < 0:
                break
            s += x[k]
        return s

    _raises(dtype_changes, TypeError,
            "'s' has dtype int32 before the loop, but dtype float32 after one iteration")
    _raises(shape_changes, ValueError,
            r"'s' has shape \(3,\) before the loop, but shape \(6,\) after one iteration. Use "
            "tf.autograph.experimental.set_loop_options")
    _raises(read_before_defined, ValueError,
            "'s' must be defined before the loop\nNote: AutoGraph tried to define it "
            "automatically, but ran into a UnboundLocalError: 's' is used before assignment")
    _raises(return_in_tensor_loop, NotImplementedError,
            "a return statement cannot be placed inside this TensorFlow loop")
    _raises(tensor_break_in_python_loop, NotImplementedError,
            "break and return statements which depend on a TF condition are not supported "
            "in Python for loops")


def test_reading_a_variable_a_python_branch_left_unbound_is_an_unbound_local_error():
    @tf.function
    def f(x, flag):
        if flag:
            y = x
        return y

    assert float(f(tf.constant(1.0), True)) == 1.0
    with pytest.raises(UnboundLocalError, match="'y' is used before assignment"):
        f(tf.constant(1.0), False)


# ------------------------------------------------------------------ the guide's examples

def test_fizzbuzz_prints_at_run_time_and_traces_once(capsys):
    @tf.function
    def fizzbuzz(n):
        for i in tf.range(1, n + 1):
            if i % 15 == 0:
                tf.print("fizzbuzz")
            elif i % 3 == 0:
                tf.print("fizz")
            elif i % 5 == 0:
                tf.print("buzz")
            else:
                tf.print(i)

    fizzbuzz(tf.constant(5))
    fizzbuzz(tf.constant(15))
    expected = ["1", "2", "fizz", "4", "buzz"]
    expected += ["1", "2", "fizz", "4", "buzz", "fizz", "7", "8", "fizz", "buzz", "11", "fizz",
                 "13", "14", "fizzbuzz"]
    assert capsys.readouterr().err.split() == expected
    assert fizzbuzz.experimental_get_tracing_count() == 1


class _Cell:
    """A user-defined RNN cell: a callable object whose __call__ is converted too."""

    def __init__(self, kernel):
        self.kernel = tf.Variable(kernel)

    def __call__(self, x, state):
        return tf.tanh(tf.matmul(x, self.kernel) + state)


def test_dynamic_rnn_with_a_tensor_array():
    @tf.function
    def dynamic_rnn(rnn_cell, input_data, initial_state):
        input_data = tf.transpose(input_data, [1, 0, 2])
        max_seq_len = input_data.shape[0]
        states = tf.TensorArray(tf.float32, size=max_seq_len)
        state = initial_state
        for i in tf.range(max_seq_len):
            state = rnn_cell(input_data[i], state)
            states = states.write(i, state)
        return tf.transpose(states.stack(), [1, 0, 2])

    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(2, 2)).astype(np.float32)
    x = rng.normal(size=(3, 5, 2)).astype(np.float32)
    out = dynamic_rnn(_Cell(kernel), tf.constant(x), tf.zeros([3, 2]))
    state, expected = np.zeros((3, 2)), []
    for t in range(5):
        state = np.tanh(x[:, t].astype(np.float64) @ kernel + state)
        expected.append(state)
    assert_close(out.numpy(), np.stack(expected, 1), "float32")
    assert "while" in _node_types(
        dynamic_rnn.get_concrete_function(_Cell(kernel), tf.constant(x), tf.zeros([3, 2])))


def test_training_loop_over_a_dataset_inside_a_function():
    # tensorflux's Dataset iterates in Python: inside a tf.function the loop is unrolled,
    # one step per batch, with the batches as constants of the graph.
    from tensorflux import keras

    rng = np.random.default_rng(1)
    xs = rng.normal(size=(24, 3)).astype(np.float32)
    ys = (xs @ np.array([[1.0], [2.0], [-1.0]], np.float32)).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices((xs, ys)).batch(8)
    loss_fn = keras.losses.MeanSquaredError()

    def train(model, dataset, optimizer):
        total = tf.constant(0.0)
        for x, y in dataset:
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))
            if loss > 0:
                total += loss
        return total

    def make():
        model = keras.Sequential([keras.layers.Input((3,)), keras.layers.Dense(1)])
        model.layers[0].kernel.assign(np.full((3, 1), 0.5, np.float32))
        return model, keras.optimizers.SGD(0.1)

    eager_model, eager_opt = make()
    traced_model, traced_opt = make()
    traced = tf.function(train)
    for _ in range(2):
        expected = train(eager_model, dataset, eager_opt)
        assert_close(traced(traced_model, dataset, traced_opt).numpy(), expected.numpy(),
                     "float32")
    assert_close(traced_model.layers[0].kernel.numpy(), eager_model.layers[0].kernel.numpy(),
                 "float32")


# ------------------------------------------------------------------ what gets converted

_SCALE = 2.0


def _helper(v, k=3):
    if v > 0:
        return v * k
    return -v


class _Model:
    def __init__(self):
        self.bias = 1.0

    def method(self, v):
        out = _helper(v) + self.bias
        while out < 10.0:
            out = out * _SCALE
        return out

    @tf.function
    def run(self, v):
        return self.method(v)


class _Base:
    def shift(self, x):
        return x + 1.0


class _Derived(_Base):
    def shift(self, x):
        y = super().shift(x)
        if y > 2.0:
            y = y * 10.0
        return y


def _countdown(n, x):
    if n == 0:
        return x
    return _countdown(n - 1, x * 2.0 if x > 0 else x - 1.0)


def test_methods_globals_defaults_super_recursion_and_lambdas_are_converted():
    global _SCALE
    for v in (0.5, -3.0):
        assert float(_Model().run(tf.constant(v))) == float(_Model().method(tf.constant(v)))
    _SCALE = 3.0  # a global read when traced, as Python reads it
    try:
        assert float(_Model().run(tf.constant(0.5))) == 22.5
    finally:
        _SCALE = 2.0
    assert float(tf.function(_Derived().shift)(tf.constant(2.0))) == 30.0
    assert float(tf.function(lambda x: _countdown(3, x))(tf.constant(1.0))) == 8.0
    both = {"pos": lambda x: x * 2.0 if x > 0 else x * -3.0, "other": lambda: 1}
    f = tf.function(both["pos"])
    assert float(f(tf.constant(2.0))) == 4.0 and float(f(tf.constant(-2.0))) == 6.0


def test_closures_and_nested_functions_keep_their_cells():
    def outer():
        limit = 5.0

        @tf.function
        def inner(x):
            def nested(y):
                return y if y > limit else -y
            return nested(x) + (1.0 if x > 0 else 2.0)
        return inner

    inner = outer()
    assert float(inner(tf.constant(6.0))) == 7.0 and float(inner(tf.constant(1.0))) == 0.0
    assert inner.experimental_get_tracing_count() == 1


def test_functions_passed_to_higher_order_ops_are_converted():
    def helper(x):
        if tf.reduce_sum(x) > 0:
            return x * 2.0
        return x

    x = tf.constant([[1.0, 2.0], [-3.0, 1.0]])
    _same_as_eager(lambda x: tf.map_fn(helper, x), x)
    _same_as_eager(lambda x: tf.cond(x[0, 0] > 0, lambda: helper(x), lambda: x), x)


def test_decorated_functions_are_converted_through_their_wrapper():
    import functools

    def logged(fn):
        @functools.wraps(fn)
        def wrapper(*args):
            return fn(*args)
        return wrapper

    @tf.function
    @logged
    def f(x):
        return x if x > 0 else -x

    assert float(f(tf.constant(-4.0))) == 4.0


def test_autograph_false_and_do_not_convert_leave_python_as_is():
    def f(x):
        return x if x > 0 else -x

    with pytest.raises(TypeError, match="as a Python bool"):
        tf.function(f, autograph=False)(tf.constant(1.0))
    with pytest.raises(TypeError, match="as a Python bool"):
        tf.function(tf.autograph.experimental.do_not_convert(f))(tf.constant(1.0))
    assert float(tf.function(tf.autograph.to_graph(f), autograph=False)(
        tf.constant(-2.0))) == 2.0
    assert "ag__.if_exp" in tf.autograph.to_code(f)
    tf.autograph.set_verbosity(0)


def test_functions_without_source_run_as_they_are(caplog):
    namespace = {"tf": tf}
    exec("def f(x):\n    return x * 2.0\n", namespace)  # noqa: S102 - no file behind it
    with caplog.at_level(logging.WARNING, logger="tensorflux.autograph"):
        assert float(tf.function(namespace["f"])(tf.constant(2.0))) == 4.0
    assert "could not transform" in caplog.text


def test_plain_code_traces_to_the_same_graph():
    from tensorflux import keras

    layer = keras.layers.Dense(4)

    def helper(x, k):
        for _ in range(k):
            x = tf.tanh(x) * 2.0
        return x

    def plain(x, flag=True):
        y = helper(x, 2) if flag else x
        out = []
        for i in range(3):
            if i % 2 == 0 and flag:
                out.append(y * i)
        z = tf.add_n(out) + layer(x)
        if len(x.shape) == 2 and not (len(out) == 0):
            z = z + 1.0
        return tf.reduce_sum(z) * len(x)

    x = tf.constant(np.ones((5, 4), np.float32))
    converted = tf.function(plain).get_concrete_function(x)
    unconverted = tf.function(plain, autograph=False).get_concrete_function(x)
    assert str(converted.graph) == str(unconverted.graph)


def test_keras_layer_call_and_fit_are_not_converted(monkeypatch):
    # As Keras 3 on TensorFlow: Layer.__call__ is library code, so a layer's call() runs as
    # written (a tensor `if` in it fails), and fit's step is never converted.
    from tensorflux import keras

    converted = []
    convert_scope = transformer.convert_scope
    monkeypatch.setattr(transformer, "convert_scope", lambda node, *args: (
        converted.append(node), convert_scope(node, *args))[1])

    class Branchy(keras.layers.Layer):
        def call(self, x):
            if tf.reduce_sum(x) > 0:
                return x * 2.0
            return x

    layer = Branchy()
    with pytest.raises(TypeError, match="as a Python bool"):
        tf.function(lambda x: layer(x))(tf.constant([1.0]))
    model = keras.Sequential([keras.layers.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(np.ones((4, 2), np.float32), np.ones((4, 1), np.float32), verbose=0)
    assert [getattr(node, "name", "<lambda>") for node in converted] == ["<lambda>"]


def test_conversion_is_cached_per_function():
    def f(x):
        return -x if x < 0 else x

    first = impl.for_trace(f)
    assert first is not f and impl.for_trace(f) is first
    g = tf.function(f)
    g(tf.constant(1.0))
    g(tf.constant(2.0))
    g(tf.constant([1.0]))
    assert g.experimental_get_tracing_count() == 2
