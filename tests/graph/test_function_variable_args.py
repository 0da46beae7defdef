"""tf.function called with tf.Variable arguments: as in TensorFlow 2.21, one trace serves every
Variable of the same shape, dtype and trainability (TF's VariableSpec), each call reading and
writing the Variable it was given. Expected values are NumPy arithmetic; tracing counts and
the aliasing rules are TF 2.21's, observed with experimental_get_tracing_count()."""

import numpy as np
import pytest

import tensorflux as tf


def _variables(count, shape=(3,), **kwargs):
    return [tf.Variable(np.arange(np.prod(shape), dtype="float32").reshape(shape) + 10 * k,
                        **kwargs) for k in range(count)]


def test_one_trace_serves_every_variable_of_a_spec():
    traced = []

    @tf.function
    def apply(v, g):
        traced.append(v)
        v.assign_sub(0.1 * g)
        return v.read_value()

    variables = _variables(5)
    expected = [v.numpy().copy() for v in variables]
    for step in range(3):  # later passes take the cached steady-state path
        for k, v in enumerate(variables):
            grad = np.full(3, k + step, "float32")
            out = apply(v, tf.constant(grad))
            expected[k] -= np.float32(0.1) * grad
            np.testing.assert_allclose(out.numpy(), expected[k], rtol=1e-6)
            np.testing.assert_allclose(v.numpy(), expected[k], rtol=1e-6)
    assert apply.experimental_get_tracing_count() == 1
    assert len(traced) == 1 and traced[0] is variables[0]  # the trace saw the real Variable


def test_shape_dtype_and_trainable_trace_apart():
    @tf.function
    def bump(v):
        v.assign_add(tf.ones_like(v))

    bump(tf.Variable([1.0, 2.0]))
    bump(tf.Variable([3.0, 4.0]))
    assert bump.experimental_get_tracing_count() == 1
    bump(tf.Variable([1.0, 2.0, 3.0]))
    assert bump.experimental_get_tracing_count() == 2
    frozen = tf.Variable([1.0, 2.0], trainable=False)
    bump(frozen)
    assert bump.experimental_get_tracing_count() == 3
    ints = tf.Variable([1, 2])
    bump(ints)
    assert bump.experimental_get_tracing_count() == 4
    np.testing.assert_array_equal(ints.numpy(), [2, 3])
    np.testing.assert_array_equal(frozen.numpy(), [2.0, 3.0])
    # A Variable whose trainability changed is keyed anew, also on the steady-state path.
    var = tf.Variable([0.0, 0.0])
    bump(var)
    var.trainable = False
    bump(var)
    assert bump.experimental_get_tracing_count() == 4  # reuses the trace of `frozen`
    np.testing.assert_array_equal(var.numpy(), [2.0, 2.0])


def test_same_variable_twice_traces_apart_from_two_variables():
    @tf.function
    def two(v, w):
        v.assign_add([1.0, 1.0])
        return w.read_value()

    a, b = tf.Variable([1.0, 2.0]), tf.Variable([5.0, 6.0])
    np.testing.assert_allclose(two(a, a).numpy(), [2.0, 3.0])  # w is v: sees the write
    np.testing.assert_allclose(two(a, b).numpy(), [5.0, 6.0])
    assert two.experimental_get_tracing_count() == 2
    np.testing.assert_allclose(two(b, b).numpy(), [6.0, 7.0])  # reuses two(a, a)
    np.testing.assert_allclose(two(b, a).numpy(), [3.0, 4.0])  # reuses two(a, b)
    assert two.experimental_get_tracing_count() == 2
    np.testing.assert_allclose(a.numpy(), [3.0, 4.0])
    np.testing.assert_allclose(b.numpy(), [7.0, 8.0])


def test_variables_in_nested_structures():
    @tf.function
    def bump_all(d):
        for v in d["vs"]:
            v.assign_add(tf.ones_like(v))
        return d["scale"] * d["vs"][0]

    a, b, c = _variables(3)
    expected = {id(v): v.numpy().copy() for v in (a, b, c)}
    for first, second in ((a, b), (b, c), (c, a)):
        out = bump_all({"vs": [first, second], "scale": tf.constant(2.0)})
        expected[id(first)] += 1
        expected[id(second)] += 1
        np.testing.assert_allclose(out.numpy(), 2 * expected[id(first)])
    for v in (a, b, c):
        np.testing.assert_allclose(v.numpy(), expected[id(v)])
    assert bump_all.experimental_get_tracing_count() == 1


def test_argument_that_is_also_captured_is_one_variable():
    # TF feeds the passed Variable to the handle the trace used for it, including where the
    # body named that Variable directly: f traced with v=x computes v + v for any v.
    x, y = tf.Variable([1.0, 2.0]), tf.Variable([10.0, 20.0])

    @tf.function
    def f(v):
        return v + x

    np.testing.assert_allclose(f(x).numpy(), [2.0, 4.0])
    np.testing.assert_allclose(f(y).numpy(), [20.0, 40.0])

    @tf.function
    def g(v):
        return v + x

    np.testing.assert_allclose(g(y).numpy(), [11.0, 22.0])
    np.testing.assert_allclose(g(x).numpy(), [2.0, 4.0])
    assert f.experimental_get_tracing_count() == g.experimental_get_tracing_count() == 1


def test_concrete_function_takes_other_variables():
    @tf.function
    def apply(v, g):
        v.assign_sub(0.5 * g)
        return v.read_value()

    a, b, c = tf.Variable([1.0, 2.0]), tf.Variable([3.0, 4.0]), tf.Variable([1.0, 2.0, 3.0])
    cf = apply.get_concrete_function(a, tf.TensorSpec([2], tf.float32))
    np.testing.assert_allclose(cf(b, tf.constant([2.0, 2.0])).numpy(), [2.0, 3.0])
    np.testing.assert_allclose(b.numpy(), [2.0, 3.0])
    np.testing.assert_allclose(a.numpy(), [1.0, 2.0])
    assert cf.variables == ()  # a passed Variable is an input, not a capture
    spec = "VariableSpec(shape=(2,), dtype=tf.float32, trainable=True)"
    assert f"v (POSITIONAL_OR_KEYWORD): {spec}" in cf.pretty_printed_signature()
    with pytest.raises(TypeError, match=r"to VariableSpec\(shape=\(2,\)"):
        cf(tf.constant([1.0, 2.0]), tf.constant([1.0, 1.0]))
    with pytest.raises(TypeError):
        cf(c, tf.constant([1.0, 1.0]))
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(cf(b, tf.constant([0.0, 0.0])) ** 2)
    np.testing.assert_allclose(tape.gradient(out, b).numpy(), 2 * b.numpy())


def test_gradients_through_a_rebound_trace():
    square_sum = tf.function(lambda v: tf.reduce_sum(v * v))

    @tf.function
    def inner_gradient(v):
        with tf.GradientTape() as tape:
            out = tf.reduce_sum(v * v * v)
        return tape.gradient(out, v)

    for v in _variables(3):
        with tf.GradientTape() as tape:
            out = square_sum(v)
        np.testing.assert_allclose(tape.gradient(out, v).numpy(), 2 * v.numpy())
        np.testing.assert_allclose(inner_gradient(v).numpy(), 3 * v.numpy() ** 2)
    assert square_sum.experimental_get_tracing_count() == 1
    assert inner_gradient.experimental_get_tracing_count() == 1


def test_returned_variable_and_inlined_calls():
    @tf.function
    def identity(v):
        return v

    @tf.function
    def apply(v, g):
        v.assign_sub(g)

    @tf.function
    def both(v, w):
        apply(v, tf.ones(3))
        apply(w, 2 * tf.ones(3))
        return identity(v) + identity(w)

    a, b = _variables(2)
    for v in (a, b):
        np.testing.assert_allclose(identity(v).numpy(), v.numpy())
    start_a, start_b = a.numpy().copy(), b.numpy().copy()
    np.testing.assert_allclose(both(a, b).numpy(), start_a - 1 + start_b - 2)
    np.testing.assert_allclose(both(b, a).numpy(), start_b - 3 + start_a - 3)
    np.testing.assert_allclose(a.numpy(), start_a - 3)
    np.testing.assert_allclose(b.numpy(), start_b - 3)
    assert both.experimental_get_tracing_count() == 1

    # A ConcreteFunction traced with one Variable, called on another inside a trace.
    cf = apply.get_concrete_function(a, tf.TensorSpec([3], tf.float32))
    outer = tf.function(lambda v: cf(v, tf.ones(3)))
    before_a, before_b = a.numpy().copy(), b.numpy().copy()
    outer(b)
    np.testing.assert_allclose(b.numpy(), before_b - 1)
    np.testing.assert_allclose(a.numpy(), before_a)


def test_variable_used_in_control_flow_stays_correct():
    # A cond or while_loop's sub-graphs hold the Variable they were traced with: such a trace
    # serves only its own Variables (TF traces once; the values are the same).
    @tf.function
    def step(v):
        if tf.reduce_sum(v) > 0:
            v.assign_add(tf.ones_like(v))
        else:
            v.assign_sub(tf.ones_like(v))
        return v.read_value()

    pos, neg = tf.Variable([1.0, 2.0]), tf.Variable([-5.0, 1.0])
    for _ in range(2):
        step(pos)
        step(neg)
    np.testing.assert_allclose(pos.numpy(), [3.0, 4.0])
    np.testing.assert_allclose(neg.numpy(), [-7.0, -1.0])


def test_jit_compile_with_variable_arguments():
    @tf.function(jit_compile=True)
    def scale(v, s):
        v.assign(v * s)

    variables = _variables(3, shape=(2, 2))
    expected = [v.numpy() * 3 for v in variables]
    for v in variables:
        scale(v, tf.constant(3.0))
    for v, want in zip(variables, expected):
        np.testing.assert_allclose(v.numpy(), want)
    assert scale.experimental_get_tracing_count() == 1
