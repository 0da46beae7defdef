"""Optimizers and learning-rate schedules against real Keras 3 (torch backend) as the oracle,
plus the flat-buffer mechanics, config round trips and errors."""

import os
import re

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.keras import optimizers
from tensorflux.keras.optimizers import schedules

STEPS = 5

# Keras's own variables warn about NumPy 2's __array__ copy keyword; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    module = pytest.importorskip("keras", reason="real Keras 3 is the oracle")
    if not module.__version__.startswith("3."):
        pytest.skip("the oracle must be Keras 3")
    return module


class PathVariable(tf.Variable):
    """What Layer.add_weight returns: a Variable that knows its Keras path."""

    __slots__ = ("path",)


def _initial():
    rng = np.random.default_rng(0)
    return [rng.normal(size=(3, 2)).astype("float32"), rng.normal(size=(2,)).astype("float32")]


def _gradients():
    rng = np.random.default_rng(1)
    return [[rng.normal(size=(3, 2)).astype("float32"), rng.normal(size=(2,)).astype("float32")]
            for _ in range(STEPS)]


def _our_variables():
    out = []
    for name, value in zip(["kernel", "bias"], _initial()):
        v = PathVariable(value, name=name)
        v.path = name
        out.append(v)
    return out


def _keras_variables(keras):
    return [keras.Variable(value, name=name)
            for name, value in zip(["kernel", "bias"], _initial())]


def _run_keras(keras, make, missing=None):
    variables = _keras_variables(keras)
    opt = make(keras.optimizers)
    for step, grads in enumerate(_gradients()):
        grads = [None if (step, i) in (missing or ()) else keras.ops.convert_to_tensor(g)
                 for i, g in enumerate(grads)]
        opt.apply_gradients(list(zip(grads, variables)))
    return variables, opt


def _run_ours(make, mode, missing=None):
    variables = _our_variables()
    opt = make(optimizers)

    def step(g0, g1, skip=None):
        grads = [g0, g1]
        if skip is not None:
            grads[skip] = None
        opt.apply_gradients(list(zip(grads, variables)))

    traced = tf.function(step)
    for index, grads in enumerate(_gradients()):
        skip = next((i for (s, i) in (missing or ()) if s == index), None)
        g0, g1 = tf.constant(grads[0]), tf.constant(grads[1])
        if mode == "function":
            traced(g0, g1, skip)
        else:
            step(g0, g1, skip)
    return variables, opt


CASES = {
    "sgd": lambda o: o.SGD(learning_rate=0.1),
    "sgd_momentum": lambda o: o.SGD(learning_rate=0.1, momentum=0.9),
    "sgd_nesterov": lambda o: o.SGD(learning_rate=0.1, momentum=0.9, nesterov=True),
    "sgd_weight_decay": lambda o: o.SGD(learning_rate=0.1, weight_decay=0.1),
    "sgd_clipvalue": lambda o: o.SGD(learning_rate=0.1, clipvalue=0.3),
    "sgd_loss_scale": lambda o: o.SGD(learning_rate=0.1, loss_scale_factor=4.0),
    "rmsprop": lambda o: o.RMSprop(learning_rate=0.01),
    "rmsprop_momentum_centered": lambda o: o.RMSprop(learning_rate=0.01, momentum=0.5,
                                                     centered=True),
    "rmsprop_global_clipnorm": lambda o: o.RMSprop(learning_rate=0.01, global_clipnorm=0.7),
    "adam": lambda o: o.Adam(learning_rate=0.1),
    "adam_amsgrad": lambda o: o.Adam(learning_rate=0.1, amsgrad=True),
    "adam_clipnorm": lambda o: o.Adam(learning_rate=0.1, clipnorm=0.5),
    "adam_ema": lambda o: o.Adam(learning_rate=0.1, use_ema=True, ema_overwrite_frequency=2),
    "adam_accumulate": lambda o: o.Adam(learning_rate=0.1, gradient_accumulation_steps=2),
    "adamw": lambda o: o.AdamW(learning_rate=0.1),
    "adamw_strong": lambda o: o.AdamW(learning_rate=0.1, weight_decay=0.3, amsgrad=True),
    "adagrad": lambda o: o.Adagrad(learning_rate=0.1),
    "adadelta": lambda o: o.Adadelta(learning_rate=1.0),
    "adamax": lambda o: o.Adamax(learning_rate=0.1),
    "nadam": lambda o: o.Nadam(learning_rate=0.1),
    "lion": lambda o: o.Lion(learning_rate=0.01),
    "ftrl": lambda o: o.Ftrl(learning_rate=0.1),
    "ftrl_regularized": lambda o: o.Ftrl(learning_rate=0.1, l1_regularization_strength=0.01,
                                         l2_regularization_strength=0.02,
                                         l2_shrinkage_regularization_strength=0.03, beta=0.1),
    "adam_exponential_decay": lambda o: o.Adam(
        learning_rate=o.schedules.ExponentialDecay(0.1, 2, 0.5, staircase=True)),
    "sgd_cosine_warmup": lambda o: o.SGD(
        learning_rate=o.schedules.CosineDecay(0.05, 3, warmup_target=0.2, warmup_steps=2),
        momentum=0.5),
    "rmsprop_piecewise": lambda o: o.RMSprop(
        learning_rate=o.schedules.PiecewiseConstantDecay([1, 3], [0.1, 0.05, 0.01])),
}


def _assert_close(ours, theirs, what):
    np.testing.assert_allclose(ours, theirs, rtol=2e-5, atol=2e-6, err_msg=what)


@pytest.mark.keras_oracle
@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_keras(keras, case, mode):
    make = CASES[case]
    k_vars, k_opt = _run_keras(keras, make)
    t_vars, t_opt = _run_ours(make, mode)
    for ours, theirs, name in zip(t_vars, k_vars, ["kernel", "bias"]):
        _assert_close(ours.numpy(), np.asarray(theirs.numpy()), f"{case} {name}")
    # Same optimizer state, in the same order, with the same paths.
    # (Keras numbers unnamed variables globally: Nadam's "variable", "variable_1", ...)
    assert [v.path for v in t_opt.variables] == [
        re.sub(r"/variable_\d+$", "/variable", v.path.replace(k_opt.name, t_opt.name))
        for v in k_opt.variables]
    for ours, theirs in zip(t_opt.variables, k_opt.variables):
        _assert_close(ours.numpy().astype("float64"),
                      np.asarray(theirs.numpy()).astype("float64"), f"{case} {theirs.path}")
    assert int(t_opt.iterations.numpy()) == int(k_opt.iterations.numpy())


@pytest.mark.keras_oracle
@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.parametrize("case", ["adam", "sgd_momentum", "rmsprop_momentum_centered",
                                  "adamw"])
def test_missing_gradients_match_keras(keras, case, mode):
    # Step 1 lacks the bias gradient, step 3 the kernel one: the per-variable path.
    missing = {(1, 1), (3, 0)}
    make = CASES[case]
    with pytest.warns(UserWarning):
        k_vars, _ = _run_keras(keras, make, missing)
    with pytest.warns(UserWarning, match="Gradients do not exist"):
        t_vars, _ = _run_ours(make, mode, missing)
    for ours, theirs in zip(t_vars, k_vars):
        _assert_close(ours.numpy(), np.asarray(theirs.numpy()), case)


@pytest.mark.keras_oracle
@pytest.mark.parametrize("case", sorted(CASES))
def test_config_matches_keras(keras, case):
    k_opt = CASES[case](keras.optimizers)
    t_opt = CASES[case](optimizers)
    k_config, t_config = k_opt.get_config(), t_opt.get_config()
    k_config["name"] = t_config["name"]
    assert t_config == k_config
    clone = type(t_opt).from_config(t_opt.get_config())
    assert clone.get_config() == t_config
    # Our serialized form loads in Keras, and Keras's in ours.
    restored = keras.optimizers.deserialize(optimizers.serialize(t_opt))
    assert restored.get_config() == t_config
    ours = optimizers.deserialize(keras.optimizers.serialize(k_opt))
    assert ours.get_config() == dict(k_config, name=k_opt.name)


@pytest.mark.keras_oracle
@pytest.mark.parametrize("make", [
    lambda s: s.ExponentialDecay(0.1, 3, 0.7),
    lambda s: s.ExponentialDecay(0.1, 3, 0.7, staircase=True),
    lambda s: s.PiecewiseConstantDecay([2, 5, 9], [1.0, 0.5, 0.25, 0.125]),
    lambda s: s.PolynomialDecay(0.1, 7, end_learning_rate=0.01, power=2.0),
    lambda s: s.PolynomialDecay(0.1, 4, cycle=True),
    lambda s: s.InverseTimeDecay(0.1, 3, 0.5),
    lambda s: s.InverseTimeDecay(0.1, 3, 0.5, staircase=True),
    lambda s: s.CosineDecay(0.1, 8, alpha=0.1),
    lambda s: s.CosineDecay(0.0, 8, warmup_target=0.2, warmup_steps=3),
    lambda s: s.CosineDecayRestarts(0.1, 3),
    lambda s: s.CosineDecayRestarts(0.1, 3, t_mul=1.0, m_mul=0.5, alpha=0.05),
])
def test_schedules_match_keras(keras, make):
    theirs, ours = make(keras.optimizers.schedules), make(schedules)
    for step in [0, 1, 2, 3, 4, 5, 7, 8, 10, 13, 20]:
        expected = float(np.asarray(theirs(step)))
        assert float(ours(step)) == pytest.approx(expected, rel=1e-6, abs=1e-9), step
        # The optimizer passes its int64 iteration Variable, inside tf.function too.
        counter = tf.Variable(tf.constant(step, tf.int64))
        assert float(tf.function(lambda c=counter: ours(c))()) == pytest.approx(
            expected, rel=1e-6, abs=1e-9)
    assert schedules.serialize(ours) == keras.optimizers.schedules.serialize(theirs)
    again = schedules.deserialize(schedules.serialize(ours))
    assert again.get_config() == ours.get_config()


# ---------------------------------------------------------------- mechanics (no oracle)

def test_variables_share_the_flat_buffer():
    variables = _our_variables()
    opt = optimizers.Adam(name="adam")
    opt.build(variables)
    assert len(opt._groups) == 1
    buffer = opt._groups[0].buffer
    np.testing.assert_array_equal(buffer.numpy(), np.concatenate([v.ravel() for v in
                                                                  _initial()]))
    variables[1].assign([7.0, 8.0])  # writes through the view
    assert buffer.numpy()[-2:].tolist() == [7.0, 8.0]
    assert variables[0].shape == (3, 2) and variables[0].name == "kernel:0"
    names = [v.path for v in opt.variables]
    assert names == ["adam/iteration", "adam/learning_rate", "adam/kernel_momentum",
                     "adam/kernel_velocity", "adam/bias_momentum",
                     "adam/bias_velocity"]
    assert opt.iterations.dtype == tf.int64 and int(opt.iterations) == 0
    assert opt.learning_rate.dtype == tf.float32


def test_flat_update_is_a_few_kernels_in_a_traced_step():
    many = [tf.Variable(tf.ones([4])) for _ in range(30)]
    opt = optimizers.Adam(learning_rate=0.1)

    @tf.function
    def step():
        opt.apply([tf.ones([4])] * len(many), many)

    step()
    graph = step.get_concrete_function().graph
    assigns = [n for n in graph.nodes if n.primitive.name == "assign"]
    # m, v, the flat variable and the iteration counter; not 3 per model variable.
    assert len(assigns) == 4
    assert all(float(v[0]) == pytest.approx(0.9, abs=1e-5) for v in many)


def test_mixed_dtypes_get_one_buffer_each():
    a = tf.Variable([1.0, 2.0])
    b = tf.Variable(tf.constant([1.0, 2.0], tf.float64))
    opt = optimizers.SGD(learning_rate=0.5, momentum=0.5)
    opt.apply_gradients([(tf.constant([1.0, 1.0]), a),
                         (tf.constant([2.0, 2.0], tf.float64), b)])
    assert len(opt._groups) == 2
    assert a.numpy().tolist() == [0.5, 1.5]
    assert b.numpy().tolist() == [0.0, 1.0]


def test_learning_rate_setter_and_schedule_errors():
    opt = optimizers.SGD(learning_rate=0.1)
    opt.learning_rate = 0.05
    assert float(opt.learning_rate) == pytest.approx(0.05)
    scheduled = optimizers.SGD(learning_rate=schedules.ExponentialDecay(0.1, 1, 0.5))
    assert [v.path for v in scheduled.variables] == ["sgd_1/iteration"] or \
        [v.path.split("/")[1] for v in scheduled.variables] == ["iteration"]
    with pytest.raises(TypeError, match="not settable"):
        scheduled.learning_rate = 0.5
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.SGD(learning_rate="fast")


def test_constructor_errors():
    with pytest.raises(ValueError, match="Only one of"):
        optimizers.Adam(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="momentum"):
        optimizers.SGD(momentum=2.0)
    with pytest.raises(ValueError, match="weight_decay"):
        optimizers.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match="not recognized"):
        optimizers.Adam(betas=0.5)
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
        optimizers.Adam(gradient_accumulation_steps=1)


def test_unknown_variable_and_no_gradients():
    v, w = tf.Variable([1.0]), tf.Variable([2.0])
    opt = optimizers.SGD()
    opt.apply_gradients([(tf.constant([1.0]), v)])
    with pytest.raises(ValueError, match="Unknown variable"):
        opt.apply_gradients([(tf.constant([1.0]), w)])
    with pytest.raises(ValueError, match="No gradients"):
        opt.apply_gradients([(None, v)])


def test_get_resolves_names_dicts_and_instances():
    for name, cls in [("adam", optimizers.Adam), ("sgd", optimizers.SGD),
                      ("rmsprop", optimizers.RMSprop), ("adamw", optimizers.AdamW),
                      ("adagrad", optimizers.Adagrad), ("adadelta", optimizers.Adadelta),
                      ("adamax", optimizers.Adamax), ("nadam", optimizers.Nadam),
                      ("lion", optimizers.Lion), ("ftrl", optimizers.Ftrl)]:
        assert type(optimizers.get(name)) is cls
    opt = optimizers.get({"class_name": "SGD", "config": {"learning_rate": 0.5},
                          "module": "keras.optimizers", "registered_name": None})
    assert opt.get_config()["learning_rate"] == 0.5
    assert optimizers.get(opt) is opt and optimizers.get(None) is None
    with pytest.raises(ValueError, match="Could not interpret"):
        optimizers.get("os.system")


def test_weight_decay_exclusions_keep_the_flat_path():
    kernel, bias = _our_variables()
    opt = optimizers.SGD(learning_rate=0.5, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bias"])
    zeros = [tf.zeros([3, 2]), tf.zeros([2])]
    opt.apply(zeros, [kernel, bias])
    assert opt._flat
    np.testing.assert_allclose(kernel.numpy(), _initial()[0] * 0.75, rtol=1e-6)
    np.testing.assert_allclose(bias.numpy(), _initial()[1], rtol=1e-6)


def test_set_weights_and_reattach_after_buffer_replacement():
    variables = _our_variables()
    opt = optimizers.Adam()
    opt.build(variables)
    opt.set_weights([w * 0 + 1 for w in opt.get_weights()])
    assert opt._groups[0].buffer is not None
    assert float(opt.variables[2].numpy()[0, 0]) == 1.0
    # Another object replaces a variable's buffer: the next step copies it back in.
    sgd = optimizers.SGD(learning_rate=1.0)
    sgd.build(variables)
    variables[1]._value = tf.constant([5.0, 6.0])._value.copy()
    sgd.apply([tf.zeros([3, 2]), tf.ones([2])])
    assert sgd._groups[0].buffer.numpy()[-2:].tolist() == [4.0, 5.0]
    assert variables[1].numpy().tolist() == [4.0, 5.0]


def test_traced_reads_after_a_flat_update_see_the_new_values():
    # The model variable is a view of the optimizer's flat buffer: graph passes must not
    # merge or move its reads across an assignment to the buffer.
    kernel = tf.Variable([1.0, 2.0])
    opt = optimizers.SGD(learning_rate=1.0)
    opt.build([kernel])

    @tf.function
    def step():
        before = tf.reduce_sum(kernel * 2.0)
        opt.apply([tf.ones([2])], [kernel])
        after = tf.reduce_sum(kernel * 2.0)
        return before, after

    assert [float(x) for x in step()] == [6.0, 2.0]
    assert [float(x) for x in step()] == [2.0, -2.0]
