"""A traced function runs the graph the graph passes' state asks for at each call: the
optimized (fused) graph with the passes on, the graph as traced within passes.disabled(),
whichever state it was traced in. The trace is shared (no retrace when the state changes or
stays), each state's plan is built once, and where the passes are bit-exact both graphs give
the same bits; both match a float64 NumPy oracle. Keras's compiled predict and train steps
follow the state the same way."""

import contextlib

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.graph import passes
from tests.tolerances import assert_close, assert_same_bits

FUSED = {"fused_conv2d", "fused_elementwise", "fused_conv2d_backprop_filter"}


def _executed(concrete):
    """The primitive of each node the plan a call now makes runs (Plan.node_steps)."""
    return [step[5].primitive.name for step in concrete._plan()[0].node_steps]


def _conv_data(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(2, 7, 7, 3)).astype("float32"),
            rng.normal(size=(3, 3, 3, 4)).astype("float32"),
            rng.normal(size=(4,)).astype("float32"))


def _conv_oracle(x, w, b):
    """relu(conv2d(x, w, SAME, stride 1) + b) in float64 NumPy."""
    x, w, b = (np.asarray(a, np.float64) for a in (x, w, b))
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros(x.shape[:3] + (w.shape[3],))
    for i in range(3):
        for j in range(3):
            out += padded[:, i:i + x.shape[1], j:j + x.shape[2], :] @ w[i, j]
    return np.maximum(out + b, 0.0)


def _conv_bias_relu():
    @tf.function
    def f(x, w, b):
        return tf.nn.relu(tf.nn.conv2d(x, w, 1, "SAME") + b)
    return f


@pytest.mark.parametrize("traced_off", [False, True], ids=["traced_on", "traced_off"])
def test_a_conv_chain_runs_fused_with_passes_on_and_unfused_within_disabled(traced_off):
    x, w, b = (tf.constant(a) for a in _conv_data())
    f = _conv_bias_relu()
    results = {}
    order = [False, True, False, True] if traced_off else [True, False, True, False]
    plans = {}
    for on in order:
        with contextlib.nullcontext() if on else passes.disabled():
            assert passes.enabled() is on
            got = f(x, w, b).numpy()
            concrete = f.get_concrete_function(x, w, b)
            executed = _executed(concrete)
            plan = concrete._plan()[0]
            graph_types = [n.type for n in concrete.graph.nodes]
        if on:
            assert "fused_conv2d" in executed and "conv2d" not in executed, executed
            assert "fused_conv2d" in graph_types
        else:
            assert not FUSED & set(executed), executed
            assert [t for t in executed if t in ("conv2d", "add", "relu")] == [
                "conv2d", "add", "relu"]
            assert "fused_conv2d" not in graph_types
        # Each state's plan is built once and reused when the state comes back.
        assert plans.setdefault(on, plan) is plan
        if on in results:
            assert_same_bits(got, results[on], f"passes on={on}, again")
        results[on] = got
    assert f.experimental_get_tracing_count() == 1
    # fused_conv2d's bias and relu are the unfused ops' (bit-exact), and both are the oracle.
    assert_same_bits(results[True], results[False], "fused against unfused")
    assert_close(results[True], _conv_oracle(*_conv_data()), "float32")


def test_no_retrace_and_no_new_plan_while_the_state_does_not_change():
    f = tf.function(lambda x: tf.nn.relu(x * 2.0 + 1.0) * 3.0)
    x = tf.constant(np.linspace(-2.0, 2.0, 12, dtype=np.float32))
    want = np.maximum(np.linspace(-2.0, 2.0, 12) * 2.0 + 1.0, 0.0) * 3.0
    f(x)
    concrete = f.get_concrete_function(x)
    plan = concrete._plan()[0]
    for _ in range(3):
        assert_close(f(x).numpy(), want, "float32")
    assert concrete._plan()[0] is plan and len(concrete._plans) == 1
    assert not concrete._plans_unoptimized
    with passes.disabled():
        for _ in range(3):
            off = f(x).numpy()
        assert len(concrete._plans_unoptimized) == 1
        off_plan = concrete._plan()[0]
        assert "fused_elementwise" not in _executed(concrete)
    assert "fused_elementwise" in _executed(concrete)
    assert concrete._plan()[0] is plan
    with passes.disabled():
        assert concrete._plan()[0] is off_plan
    assert f.experimental_get_tracing_count() == 1
    assert_same_bits(f(x).numpy(), off, "fused_elementwise against its ops")
    assert_close(off, want, "float32")


def test_a_function_traced_within_disabled_is_optimized_on_its_first_call_with_passes_on():
    f = tf.function(lambda x: tf.nn.relu(x * 2.0 + 1.0) * 3.0)
    x = tf.constant(np.linspace(-2.0, 2.0, 12, dtype=np.float32))
    with passes.disabled():
        off = f(x).numpy()
        concrete = f.get_concrete_function(x)
        assert True not in concrete._graphs  # (not optimized while the passes are off)
        traced_types = [n.type for n in concrete.graph.nodes]
    assert "fused_elementwise" not in traced_types
    on = f(x).numpy()
    assert "fused_elementwise" in [n.type for n in concrete.graph.nodes]
    assert "fused_elementwise" in _executed(concrete)
    # The optimized graph is made from the trace, which stays as it was.
    assert concrete.graph.traced is concrete._graphs[False]
    with passes.disabled():
        assert [n.type for n in concrete.graph.nodes] == traced_types
    assert f.experimental_get_tracing_count() == 1
    assert_same_bits(on, off, "fused_elementwise against its ops")


def test_variable_arguments_rebound_follow_the_state():
    """A trace that serves other Variables (a copy bound to them) makes each state's graph
    from its origin's, reading and writing the Variables of the call."""
    @tf.function
    def f(v, x):
        v.assign_add(tf.nn.relu(x * 2.0 + 1.0))
        return v.read_value() * 1.0

    x = tf.constant(np.array([-2.0, -0.25, 0.5, 1.5], np.float32))
    step = np.maximum(np.array([-2.0, -0.25, 0.5, 1.5]) * 2.0 + 1.0, 0.0)
    a = tf.Variable(np.zeros(4, np.float32))
    b = tf.Variable(np.zeros(4, np.float32))
    f(a, x)
    with passes.disabled():
        got_off = f(b, x).numpy()
        bound = f.get_concrete_function(a, x)._bound_to([b, x])
        assert not FUSED & set(_executed(bound))
    got_on = f(b, x).numpy()
    assert "fused_elementwise" in _executed(bound)
    assert f.experimental_get_tracing_count() == 1
    assert_close(got_off, step, "float32")
    assert_close(got_on, 2 * step, "float32")
    assert_close(a.numpy(), step, "float32")  # (a untouched by the calls on b)
    assert_same_bits(got_on, got_off * 2.0, "the second update, fused")


def _conv_model():
    inputs = keras.Input((8, 8, 3))
    y = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    y = keras.layers.Conv2D(2, 3, activation="relu")(y)
    model = keras.Model(inputs, keras.layers.Flatten()(y))
    rng = np.random.default_rng(5)
    model.set_weights([rng.normal(size=tuple(w.shape)).astype("float32") * 0.5
                       for w in model.weights])
    return model


def _concretes(step_function):
    """The ConcreteFunctions of a Keras compiled step (Model.predict_function...)."""
    return [c for function in step_function._functions.values()
            for c in function._cache.values()]


def test_keras_predict_compiled_outside_disabled_runs_unfused_within_it():
    model = _conv_model()
    x = np.random.default_rng(6).normal(size=(5, 8, 8, 3)).astype("float32")
    fused = model.predict(x, batch_size=5, verbose=0)
    (concrete,) = _concretes(model.predict_function)
    assert "fused_conv2d" in _executed(concrete)
    with passes.disabled():
        unfused = model.predict(x, batch_size=5, verbose=0)
        (again,) = _concretes(model.predict_function)
        assert again is concrete
        assert concrete._plans_unoptimized, "no plan was built within disabled()"
        assert not FUSED & set(_executed(concrete))
        assert "conv2d" in _executed(concrete)
        # An independent unfused path: a fresh copy compiled within disabled().
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        fresh = copy.predict(x, batch_size=5, verbose=0)
    assert_same_bits(unfused, fresh, "the model within disabled() against a fresh copy")
    assert_same_bits(fused, unfused, "fused against unfused")
    assert "fused_conv2d" in _executed(concrete)
    assert_same_bits(model.predict(x, batch_size=5, verbose=0), fused, "fused again")


def test_keras_fit_compiled_outside_disabled_trains_unfused_within_it():
    x = np.random.default_rng(7).normal(size=(6, 8, 8, 3)).astype("float32")
    y = np.random.default_rng(8).normal(size=(6, 72)).astype("float32")
    weights = []
    for switch in (True, False):
        model = _conv_model()
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        model.fit(x, y, batch_size=3, epochs=1, verbose=0, shuffle=False)
        if switch:
            concretes = _concretes(model.train_function)
            assert any(FUSED & set(_executed(c)) for c in concretes)
            with passes.disabled():
                model.fit(x, y, batch_size=3, epochs=1, verbose=0, shuffle=False)
                assert _concretes(model.train_function) == concretes  # (no retrace)
                assert all(c._plans_unoptimized for c in concretes)
                for c in concretes:
                    assert not FUSED & set(_executed(c))
        else:
            model.fit(x, y, batch_size=3, epochs=1, verbose=0, shuffle=False)
        weights.append(model.get_weights())
    # The passes are bit-exact on this step, so the epoch within disabled() ends where the
    # fused one does.
    for i, (a, b) in enumerate(zip(*weights, strict=True)):
        assert_same_bits(a, b, f"weight {i}")


def test_the_state_is_per_thread():
    """One thread within disabled() changes no other thread's calls: the other keeps the
    fused plan while the first runs the traced graph (review R1: a shared state switched
    every thread's plan, and could leave a function's 'optimized' graph unoptimized)."""
    import threading

    x, w, b = (tf.constant(a) for a in _conv_data())
    f = _conv_bias_relu()
    concrete = f.get_concrete_function(x, w, b)
    inside, release = threading.Event(), threading.Event()
    seen = {}

    def unfused_thread():
        with passes.disabled():
            seen["other enabled"] = passes.enabled()
            seen["other"] = _executed(concrete)
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=unfused_thread)
    thread.start()
    try:
        assert inside.wait(10)
        assert passes.enabled()
        here = _executed(concrete)
        got = f(x, w, b).numpy()
    finally:
        release.set()
        thread.join(10)
    assert seen["other enabled"] is False
    assert "fused_conv2d" not in seen["other"] and "fused_conv2d" in here
    assert "fused_conv2d" in [n.type for n in concrete.graph.nodes]
    assert_close(got, _conv_oracle(*_conv_data()), "float32")
