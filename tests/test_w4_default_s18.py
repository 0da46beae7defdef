"""W4 (benchmarks/keras_workloads.py: Dense 784-1024-1024-10, softmax, categorical cross
entropy, Adam, batch 256) under model.fit: the default compile, jit_compile=True and
run_eagerly=True compute the same bits until jit_compile's native segments are compiled
(numpy_native.compile_segments, after _HOT_CALLS calls of the step); those round their head's
exp, log and sums otherwise (numpy_native's numerics), and the default compile never takes
them, whatever the step's call count."""

import numpy as np
import pytest

from tensorflux import keras
from tensorflux.backends import numpy_native
from tests.tolerances import assert_close, assert_same_bits

FEATURES, HIDDEN, CLASSES, BATCH = 784, 1024, 10, 256


def _data(steps):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps * BATCH, FEATURES)).astype(np.float32)
    y = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, steps * BATCH)]
    return x, y


def _trained(steps, **compile_kwargs):
    """The W4 model as the benchmark builds it, from seed 0, after `steps` steps of fit (in
    order): (the model, its weights and the optimizer's variables as arrays, the history)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((FEATURES,)),
        keras.layers.Dense(HIDDEN, activation="relu"),
        keras.layers.Dense(HIDDEN, activation="relu"),
        keras.layers.Dense(CLASSES, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy",
                  **compile_kwargs)
    x, y = _data(steps)
    history = model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    state = [np.array(w) for w in model.get_weights()]
    state += [np.array(v.numpy()) for v in model.optimizer.variables]
    return model, state, history.history


def _step_plan(model):
    (concrete,) = model.train_function._effects.values()
    return concrete._plan()[0]


@pytest.fixture
def hot(monkeypatch):
    """jit_compile's segments compile on a step's first call (not its 32nd)."""
    monkeypatch.setattr(numpy_native, "_HOT_CALLS", 1)


def test_default_jit_and_eager_steps_give_the_same_bits():
    # Three steps: jit_compile's segments are not compiled yet (a fit's 32nd call), so its
    # plan runs the default's NumPy kernels, the eager ops' bits.
    _, default, default_logs = _trained(3)
    _, jit, jit_logs = _trained(3, jit_compile=True)
    _, eager, eager_logs = _trained(3, run_eagerly=True)
    assert len(default) == len(jit) == len(eager) > 6
    for k, (d, j, e) in enumerate(zip(default, jit, eager)):
        assert_same_bits(d, e, what=f"default vs eager, state {k}")
        assert_same_bits(j, e, what=f"jit vs eager, state {k}")
    assert default_logs == jit_logs == eager_logs


def test_default_step_never_takes_native_segments(hot):
    pytest.importorskip("numba")
    model, default, _ = _trained(3)
    plan = _step_plan(model)
    assert plan.native_segments == [] and plan.native_reason == "not asked for"
    _, eager, _ = _trained(3, run_eagerly=True)
    for k, (d, e) in enumerate(zip(default, eager)):
        assert_same_bits(d, e, what=f"default vs eager, state {k}")


def test_jit_segments_round_otherwise_than_the_default(hot):
    pytest.importorskip("numba")
    model, jit, _ = _trained(3, jit_compile=True)
    weights = len(model.get_weights())
    plan = _step_plan(model)
    assert "BLAS" in plan.native_reason  # (the products keep the NumPy runner)
    assert plan.native_segments and all(s.ready for s in plan.native_segments), [
        s.reason for s in plan.native_segments]
    _, default, _ = _trained(3)
    # The segments' exp and log are libm's and their float sums add in float64
    # (numpy_native's numerics): the head's gradient differs by rounding, which Adam's
    # update (at most lr = 1e-3 a step, 3 steps) carries into the weights far below 1e-6.
    for k, (j, d) in enumerate(zip(jit[:weights], default[:weights])):
        assert_close(j, d, dtype="float32", rtol=0, atol=1e-6, what=f"jit vs default, weight {k}")
