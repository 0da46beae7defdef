"""An eager custom training loop's optimizer step and loss call, made faster without changing a
value: `optimizer.apply_gradients` called eagerly replays its flat update as a traced plan
(Optimizer._replayed), and a Loss object's reduction divides by a cached element count.

Oracles: real Keras 3 (torch backend) for the parameters after several eager steps and for
loss values with sample weights, masks and each reduction; NumPy float64 closed forms for
gradients; and, for "bit for bit", the same steps through the eager ops path (which
tf.config.run_functions_eagerly(True) forces), compared byte for byte."""

import warnings

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.keras.optimizers import base
from tests.keras._oracle import assert_matches, import_keras

# Keras's own variables warn about NumPy 2's __array__ copy keyword; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

SHAPES = [(4, 3), (3,), (3, 2), (2,)]
STEPS = 6


def _initial(shapes=SHAPES):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(s).astype("float32") for s in shapes]


def _gradients(scale=1.0, steps=STEPS, shapes=SHAPES):
    rng = np.random.default_rng(1)
    return [[(rng.standard_normal(s) * scale).astype("float32") for s in shapes]
            for _ in range(steps)]


def _replayed(opt):
    """Whether `opt` has run a step as a traced plan (the path these tests are about)."""
    replays = base._replays.get(id(opt))
    return replays is not None and any(e[1] is not None and not e[1].failed
                                       for e in replays.entries.values())


def _run_ours(make, gradients, eager_ops=False, between=None):
    variables = [tf.Variable(v) for v in _initial([g.shape for g in gradients[0]])]
    opt = make(keras.optimizers)
    tf.config.run_functions_eagerly(eager_ops)
    try:
        for step, grads in enumerate(gradients):
            if between is not None:
                between(opt, step)
            opt.apply_gradients(zip([tf.constant(g) for g in grads], variables))
    finally:
        tf.config.run_functions_eagerly(False)
    return variables, opt


def _run_keras(real, make, gradients, between=None):
    variables = [real.Variable(v) for v in _initial()]
    opt = make(real.optimizers)
    for step, grads in enumerate(gradients):
        if between is not None:
            between(opt, step)
        opt.apply_gradients(zip([real.ops.convert_to_tensor(g) for g in grads], variables))
    return variables, opt


def _bytes(variables, opt):
    return [v.numpy().tobytes() for v in variables] + [v.numpy().tobytes()
                                                       for v in opt.variables]


CASES = {
    "adam": lambda o: o.Adam(learning_rate=0.05),
    "adam_amsgrad": lambda o: o.Adam(learning_rate=0.05, amsgrad=True),
    "adamw": lambda o: o.AdamW(learning_rate=0.05, weight_decay=0.1),
    "sgd": lambda o: o.SGD(learning_rate=0.1),
    "sgd_nesterov": lambda o: o.SGD(learning_rate=0.1, momentum=0.9, nesterov=True),
    "rmsprop": lambda o: o.RMSprop(learning_rate=0.01),
    "rmsprop_centered_momentum": lambda o: o.RMSprop(learning_rate=0.01, momentum=0.5,
                                                     centered=True),
    "adagrad": lambda o: o.Adagrad(learning_rate=0.1),
    "adamax": lambda o: o.Adamax(learning_rate=0.05),
    "nadam": lambda o: o.Nadam(learning_rate=0.05),
    "lion": lambda o: o.Lion(learning_rate=0.01),
    "adam_clipnorm": lambda o: o.Adam(learning_rate=0.05, clipnorm=0.5),
    "sgd_global_clipnorm": lambda o: o.SGD(learning_rate=0.1, global_clipnorm=0.7),
    "rmsprop_clipvalue": lambda o: o.RMSprop(learning_rate=0.01, clipvalue=0.3),
    "adam_ema": lambda o: o.Adam(learning_rate=0.05, use_ema=True, ema_overwrite_frequency=3),
    "adam_accumulate": lambda o: o.Adam(learning_rate=0.05, gradient_accumulation_steps=2),
    "sgd_loss_scale_factor": lambda o: o.SGD(learning_rate=0.1, loss_scale_factor=4.0),
    "adam_schedule": lambda o: o.Adam(
        learning_rate=o.schedules.ExponentialDecay(0.1, 2, 0.5, staircase=True)),
    "sgd_cosine_warmup": lambda o: o.SGD(
        learning_rate=o.schedules.CosineDecay(0.05, 3, warmup_target=0.2, warmup_steps=2),
        momentum=0.5),
    # Without flat buffers: variable by variable.
    "adafactor": lambda o: o.Adafactor(learning_rate=0.1),
    "lamb": lambda o: o.Lamb(learning_rate=0.05, global_clipnorm=1.0),
    "muon": lambda o: o.Muon(learning_rate=0.05),
}


@pytest.mark.keras_oracle
@pytest.mark.parametrize("case", sorted(CASES))
def test_eager_steps_match_keras_and_the_eager_ops_bit_for_bit(case):
    real = import_keras()
    make = CASES[case]
    gradients = _gradients()
    ours, opt = _run_ours(make, gradients)
    assert _replayed(opt), "the steps after the first ones should replay a traced plan"
    theirs, their_opt = _run_keras(real, make, gradients)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert_matches(a, b, rtol=2e-5, atol=2e-6, what=f"{case}: variable {i}")
    assert int(opt.iterations) == int(their_opt.iterations)
    # The same steps through the eager ops, byte for byte (the optimizer variables too).
    plain, plain_opt = _run_ours(make, gradients, eager_ops=True)
    assert not _replayed(plain_opt)
    assert _bytes(ours, opt) == _bytes(plain, plain_opt)


@pytest.mark.parametrize("case", ["adam_ema", "sgd_global_clipnorm", "adam_accumulate"])
def test_large_buffers_bit_for_bit(case):
    """Buffers long enough for the plan's chunked (and threaded) fused kernels."""
    gradients = _gradients(scale=1e-2, steps=4, shapes=[(600, 500), (500,), (500, 10)])
    ours, opt = _run_ours(CASES[case], gradients)
    plain, plain_opt = _run_ours(CASES[case], gradients, eager_ops=True)
    assert _replayed(opt)
    assert _bytes(ours, opt) == _bytes(plain, plain_opt)


def test_subnormal_values_are_kept_as_the_eager_ops_keep_them():
    # Gradients of 1e-36 make Adam's first moment 1e-37 and its velocity 1e-75 -> 0, and
    # momentum 0.1 * 1e-38 a subnormal: a compiled run of Model.fit flushes those to zero;
    # an eager loop keeps them, in the plan it replays too.
    make = lambda o: o.SGD(learning_rate=1.0, momentum=0.1)  # noqa: E731
    gradients = [[np.full(s, 1e-38, "float32") for s in SHAPES] for _ in range(4)]
    ours, opt = _run_ours(make, gradients)
    plain, plain_opt = _run_ours(make, gradients, eager_ops=True)
    assert _replayed(opt)
    momentum = opt.variables[2].numpy()
    assert 0 < abs(float(momentum.flat[0])) < np.finfo(np.float32).tiny  # a subnormal
    assert _bytes(ours, opt) == _bytes(plain, plain_opt)


@pytest.mark.keras_oracle
def test_attributes_set_between_steps_take_effect_as_in_keras():
    """A trace fixes the optimizer's Python attributes: a new value must give a new one."""
    real = import_keras()

    def between(opt, step):
        if step == 2:
            opt.beta_1 = 0.5
            opt.learning_rate = 0.01  # (a variable: read by the plan)
        if step == 4:
            opt.epsilon = 1e-3
            opt.beta_1 = 0.9

    make = lambda o: o.Adam(learning_rate=0.05)  # noqa: E731
    gradients = _gradients(steps=8)
    ours, opt = _run_ours(make, gradients, between=between)
    theirs, _ = _run_keras(real, make, gradients, between=between)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert_matches(a, b, rtol=2e-5, atol=2e-6, what=f"variable {i}")
    plain, plain_opt = _run_ours(make, gradients, eager_ops=True, between=between)
    assert _bytes(ours, opt) == _bytes(plain, plain_opt)


def test_a_new_schedule_and_schedule_attributes_take_effect():
    schedules = keras.optimizers.schedules

    def between(opt, step):
        if step == 2:
            opt._learning_rate.initial_learning_rate = 0.5
        if step == 4:
            opt.learning_rate = schedules.PiecewiseConstantDecay([5], [0.2, 0.02])

    make = lambda o: o.SGD(learning_rate=o.schedules.ExponentialDecay(0.1, 2, 0.5))  # noqa
    gradients = _gradients(steps=8)
    ours, opt = _run_ours(make, gradients, between=between)
    plain, plain_opt = _run_ours(make, gradients, eager_ops=True, between=between)
    assert _replayed(opt)
    assert _bytes(ours, opt) == _bytes(plain, plain_opt)


def test_python_of_the_users_runs_on_every_step():
    """A callable learning rate, a subclass's update_step and a constraint are Python the
    user wrote: each runs on every eager step (never frozen into a trace)."""
    calls = {"lr": 0, "update": 0}

    def lr():
        calls["lr"] += 1
        return 0.1

    class Counting(keras.optimizers.SGD):
        def update_step(self, gradient, variable, learning_rate):
            calls["update"] += 1
            super().update_step(gradient, variable, learning_rate)

    variables = [tf.Variable(v) for v in _initial()]
    for opt in (keras.optimizers.SGD(learning_rate=lr), Counting(learning_rate=0.1)):
        for grads in _gradients():
            opt.apply_gradients(zip([tf.constant(g) for g in grads], variables))
        assert not _replayed(opt)
    assert calls["lr"] == STEPS and calls["update"] == STEPS * len(SHAPES)

    # A constraint runs after each update and before the step count, as in Keras.
    seen = []
    w = tf.Variable(np.ones(3, "float32"), constraint=lambda x: (
        seen.append(int(opt.iterations)), tf.maximum(x, 0.0))[1])
    opt = keras.optimizers.Adam(learning_rate=1.0)
    for _ in range(4):
        opt.apply_gradients([(tf.constant([1.0, 1.0, 1.0]), w)])
    assert _replayed(opt)
    assert seen == [0, 1, 2, 3] and int(opt.iterations) == 4
    np.testing.assert_array_equal(w.numpy(), np.zeros(3, "float32"))


def test_errors_warnings_tapes_traces_and_stateless_calls_take_the_eager_path():
    variables = [tf.Variable(v) for v in _initial()]
    opt = keras.optimizers.Adam(learning_rate=0.1)
    grads = [tf.constant(g) for g in _gradients()[0]]
    for _ in range(3):
        opt.apply_gradients(zip(grads, variables))
    assert _replayed(opt)
    for g, given in zip(grads, _gradients()[0]):  # (the plan writes no input's buffer)
        np.testing.assert_array_equal(g.numpy(), given)
    # A gradient of another shape: the eager path's error, naming the variable.
    bad = [tf.zeros((3, 4))] + grads[1:]
    with pytest.raises(tf.errors.InvalidArgumentError, match="using a gradient with shape"):
        opt.apply_gradients(zip(bad, variables))
    # A missing gradient: Keras's warning, and the other variables still step.
    before = variables[1].numpy().copy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt.apply_gradients(zip([grads[0], None] + grads[2:], variables))
    assert any("Gradients do not exist" in str(w.message) for w in caught)
    np.testing.assert_array_equal(variables[1].numpy(), before)
    # Under a tape, inside a tf.function, and stateless: each gives what its eager ops give.
    count = int(opt.iterations)
    with tf.GradientTape():
        opt.apply_gradients(zip(grads, variables))
    tf.function(lambda: opt.apply_gradients(zip(grads, variables)))()
    assert int(opt.iterations) == count + 2
    state = [tf.identity(v) for v in opt.variables]
    new_w, new_state = opt.stateless_apply(state, grads, [tf.identity(v) for v in variables])
    assert int(opt.iterations) == count + 2 and int(new_state[0]) == count + 3


@pytest.mark.keras_oracle
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # (inf - inf, as in TF)
def test_loss_scale_optimizer_skips_a_non_finite_step_as_keras():
    real = import_keras()
    gradients = _gradients()
    gradients[3][0][0, 0] = np.inf

    def make(o):
        return o.LossScaleOptimizer(o.Adam(learning_rate=0.05), initial_scale=8.0)

    ours, opt = _run_ours(make, gradients)
    theirs, their_opt = _run_keras(real, make, gradients)
    assert _replayed(opt.inner_optimizer)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert_matches(a, b, rtol=2e-5, atol=2e-6, what=f"variable {i}")
    assert int(opt.iterations) == int(their_opt.iterations) == STEPS - 1
    assert float(opt.dynamic_scale) == float(their_opt.dynamic_scale)


# ------------------------------------------------------------------ losses

def _loss_inputs(name, rng):
    if name == "SparseCategoricalCrossentropy":
        return rng.integers(0, 5, (6,)), rng.uniform(0.05, 1.0, (6, 5)).astype("float32")
    if name == "CategoricalCrossentropy":
        return (np.eye(5)[rng.integers(0, 5, 6)].astype("float32"),
                rng.uniform(0.05, 1.0, (6, 5)).astype("float32"))
    return ((rng.uniform(size=(6, 3)) < 0.5).astype("float32"),
            rng.uniform(0.05, 0.95, (6, 3)).astype("float32"))


LOSSES = ["BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
          "MeanSquaredError", "Huber"]
REDUCTIONS = ["sum_over_batch_size", "sum", "none", "mean", "mean_with_sample_weight"]


@pytest.mark.keras_oracle
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
def test_loss_objects_match_keras_with_weights_and_masks(name, reduction):
    real = import_keras()
    from keras.src import backend as real_backend

    rng = np.random.default_rng(3)
    y_true, y_pred = _loss_inputs(name, rng)
    weights = rng.uniform(size=(6,)).astype("float32")
    mask = rng.uniform(size=(6,)) < 0.6
    for weighted in (False, True):
        for masked in (False, True):
            sw = weights if weighted else None
            ours_pred = tf.identity(tf.constant(y_pred))
            their_pred = real.ops.convert_to_tensor(y_pred)
            if masked:
                ours_pred._keras_mask = tf.constant(mask)
                real_backend.set_keras_mask(their_pred, real.ops.convert_to_tensor(mask))
            ours = getattr(keras.losses, name)(reduction=reduction)(y_true, ours_pred,
                                                                     sample_weight=sw)
            theirs = getattr(real.losses, name)(reduction=reduction)(
                y_true, their_pred, sample_weight=sw)
            what = f"{name} {reduction} weighted={weighted} masked={masked}"
            assert ours.dtype.name == "float32", what
            assert_matches(ours, theirs, rtol=1e-6, atol=1e-7, what=what)


@pytest.mark.keras_oracle
@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_loss_dtype_and_empty_batches_match_keras(dtype):
    real = import_keras()
    y = np.array([[1.0], [0.0], [1.0]], "float32")
    p = np.array([[0.8], [0.3], [0.4]], "float32")
    ours = keras.losses.BinaryCrossentropy(dtype=dtype)(y, p)
    theirs = real.losses.BinaryCrossentropy(dtype=dtype)(y, p)
    assert ours.dtype.name == dtype
    assert_matches(ours, theirs, rtol=1e-3 if dtype == "float16" else 1e-6, atol=0,
                   what=dtype)
    # Per-sample values with no elements (2, 0): the mean divides by zero elements, where
    # Keras's divide_no_nan gives 0.
    empty = np.zeros((2, 0, 3), dtype)
    for reduction in ("sum_over_batch_size", "mean", "sum"):
        ours = keras.losses.MeanSquaredError(reduction=reduction, dtype=dtype)(empty, empty)
        theirs = real.losses.MeanSquaredError(reduction=reduction, dtype=dtype)(empty, empty)
        assert ours.dtype.name == dtype and tuple(ours.shape) == tuple(theirs.shape) == ()
        assert float(ours) == float(theirs) == 0.0


def test_loss_gradient_is_the_float64_closed_form_and_the_traced_one():
    rng = np.random.default_rng(5)
    y = (rng.uniform(size=(7, 1)) < 0.5).astype("float64")
    p = rng.uniform(0.05, 0.95, (7, 1))
    w = rng.uniform(size=(7,))
    loss_fn = keras.losses.BinaryCrossentropy(dtype="float64")
    variable = tf.Variable(p)

    def loss_and_gradient():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, variable * 1.0, sample_weight=w)
        return loss, tape.gradient(loss, variable)

    loss, grad = loss_and_gradient()
    per_sample = -(y * np.log(p) + (1 - y) * np.log(1 - p))[:, 0]
    np.testing.assert_allclose(float(loss), np.sum(w * per_sample) / 7, rtol=1e-12)
    expected = (w[:, None] * (p - y) / (p * (1 - p))) / 7
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-10)
    # The traced loss (which divides with divide_no_nan) gives the same bits.
    traced_loss, traced_grad = tf.function(loss_and_gradient)()
    assert traced_loss.numpy().tobytes() == loss.numpy().tobytes()
    assert traced_grad.numpy().tobytes() == grad.numpy().tobytes()


def test_loss_constants_are_per_dtype_and_keep_the_sign_of_zero():
    from tensorflux.keras import losses

    x32, x64 = tf.constant(1.0), tf.constant(1.0, tf.float64)
    a, b = losses._const(0.0, x32), losses._const(-0.0, x32)
    assert np.signbit(b.numpy()) and not np.signbit(a.numpy())
    assert losses._const(1e-7, x64).dtype == tf.float64
    assert float(losses._const(1e-7, x64)) == 1e-7  # (not float32's 1e-7)
    # A trace gets its own constant, in its graph.
    graph_const = tf.function(lambda x: losses._const(2.0, x) * x)
    assert float(graph_const(x32)) == 2.0


def test_a_step_that_cannot_be_traced_runs_eagerly(monkeypatch):
    """Should a configuration fail to trace, its steps run as eager ops (never an error the
    eager step would not raise), and the traces of a dropped optimizer go with it."""
    from tensorflux.context import context

    original = keras.optimizers.Adam.update_step

    def update_step(self, gradient, variable, learning_rate):
        if context.graph is not None:
            raise TypeError("not traceable")
        original(self, gradient, variable, learning_rate)

    make = lambda o: o.Adam(learning_rate=0.05)  # noqa: E731
    plain, plain_opt = _run_ours(make, _gradients(), eager_ops=True)
    monkeypatch.setattr(keras.optimizers.Adam, "update_step", update_step)
    ours, opt = _run_ours(make, _gradients())
    assert not _replayed(opt)
    assert _bytes(ours, opt) == _bytes(plain, plain_opt)
    key = id(opt)
    assert key in base._replays
    del opt
    assert key not in base._replays


def test_an_attribute_changed_on_every_step_keeps_few_configurations():
    def between(opt, step):
        opt.epsilon = 1e-7 * (1 + step % 12)  # (a new configuration each step, then again)

    make = lambda o: o.Adam(learning_rate=0.05)  # noqa: E731
    gradients = _gradients(steps=30)
    ours, opt = _run_ours(make, gradients, between=between)
    plain, plain_opt = _run_ours(make, gradients, eager_ops=True, between=between)
    assert _bytes(ours, opt) == _bytes(plain, plain_opt)
    assert len(base._replays[id(opt)].entries) <= base._REPLAY_LIMIT
