"""Adafactor, Lamb, Muon and ScheduleFreeAdamW against real Keras 3 (torch backend) as the
oracle: five steps on the same variables and gradients, eagerly, in tf.function and inside
Model.fit's compiled step; configs and string names."""

import re

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras as tfk
from tensorflux.keras import optimizers

from ._oracle import import_keras

STEPS = 5
NAMES = ["kernel", "wide", "conv", "bias"]
SHAPES = [(3, 2), (2, 4), (2, 3, 2), (2,)]

pytestmark = [pytest.mark.keras_oracle,
              pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]


@pytest.fixture(scope="module")
def keras():
    return import_keras()


class PathVariable(tf.Variable):
    """What Layer.add_weight returns: a Variable that knows its Keras path."""

    __slots__ = ("path",)


def _initial():
    rng = np.random.default_rng(0)
    return [rng.normal(size=s).astype("float32") for s in SHAPES]


def _gradients():
    rng = np.random.default_rng(1)
    return [[rng.normal(size=s).astype("float32") for s in SHAPES] for _ in range(STEPS)]


@pytest.fixture
def functional_torch_assign(monkeypatch, keras):
    """Keras's torch Variable assigns in place, so ScheduleFreeAdamW's `momentum.value` read
    "before any updates" sees the updated slot; on Keras's TensorFlow and JAX backends it is
    the old value, which is the published algorithm and what tensorflux does. This makes the
    torch oracle assign optimizer slots functionally (a fresh tensor per assignment) to
    compute the latter; trainable variables keep their in-place assignment, which the torch
    trainer's zero_grad relies on."""
    import torch
    from keras.src.backend.torch.core import Variable

    in_place = Variable._direct_assign

    def direct_assign(self, value):
        if self.trainable:
            return in_place(self, value)
        with torch.no_grad():
            fresh = torch.as_tensor(value, dtype=self._value.dtype).detach().clone()
            self._value = torch.nn.Parameter(fresh, requires_grad=self._value.requires_grad)

    monkeypatch.setattr(Variable, "_direct_assign", direct_assign)


def _run_keras(keras, make):
    variables = [keras.Variable(v, name=n) for n, v in zip(NAMES, _initial())]
    opt = make(keras.optimizers)
    for grads in _gradients():
        grads = [keras.ops.convert_to_tensor(g) for g in grads]
        opt.apply_gradients(list(zip(grads, variables)))
    return variables, opt


def _run_ours(make, mode):
    variables = []
    for name, value in zip(NAMES, _initial()):
        variable = PathVariable(value, name=name)
        variable.path = name
        variables.append(variable)
    opt = make(optimizers)

    def step(*grads):
        opt.apply_gradients(list(zip(grads, variables)))

    run = tf.function(step) if mode == "function" else step
    for grads in _gradients():
        run(*[tf.constant(g) for g in grads])
    return variables, opt


CASES = {
    "adafactor": lambda o: o.Adafactor(learning_rate=0.1),
    "adafactor_no_relative": lambda o: o.Adafactor(learning_rate=0.5, relative_step=False,
                                                   clip_threshold=0.5, beta_2_decay=-0.5),
    "adafactor_schedule": lambda o: o.Adafactor(
        learning_rate=o.schedules.ExponentialDecay(2.0, 2, 0.5)),
    "adafactor_weight_decay_clipnorm": lambda o: o.Adafactor(learning_rate=0.1,
                                                             weight_decay=0.1, clipnorm=0.5),
    "adafactor_accumulate": lambda o: o.Adafactor(learning_rate=0.1,
                                                  gradient_accumulation_steps=2),
    "lamb": lambda o: o.Lamb(learning_rate=0.1),
    "lamb_options": lambda o: o.Lamb(learning_rate=0.05, beta_1=0.8, beta_2=0.99,
                                     epsilon=1e-5, weight_decay=0.05, global_clipnorm=1.0),
    "lamb_ema": lambda o: o.Lamb(learning_rate=0.1, use_ema=True, ema_overwrite_frequency=2),
    "lamb_accumulate": lambda o: o.Lamb(learning_rate=0.1, gradient_accumulation_steps=2),
    "muon": lambda o: o.Muon(learning_rate=0.05),
    "muon_plain": lambda o: o.Muon(learning_rate=0.05, nesterov=False, rms_rate=None,
                                   weight_decay=None, adam_weight_decay=None, ns_steps=3),
    "muon_exclude": lambda o: o.Muon(learning_rate=0.05, exclude_layers=["wide"],
                                     adam_lr_ratio=0.1, momentum=0.9, clipvalue=0.5),
    "muon_ema_accumulate": lambda o: o.Muon(learning_rate=0.05, use_ema=True,
                                            gradient_accumulation_steps=2),
    "schedule_free_adamw": lambda o: o.ScheduleFreeAdamW(learning_rate=0.05),
    "schedule_free_adamw_options": lambda o: o.ScheduleFreeAdamW(
        learning_rate=0.05, beta_1=0.8, epsilon=1e-6, warmup_steps=3, weight_decay=0.1,
        clipnorm=1.0),
    "schedule_free_adamw_ema_accumulate": lambda o: o.ScheduleFreeAdamW(
        learning_rate=0.05, use_ema=True, gradient_accumulation_steps=2),
}


def _assert_close(ours, theirs, what):
    np.testing.assert_allclose(np.asarray(ours, "float64"), np.asarray(theirs, "float64"),
                               rtol=2e-5, atol=2e-6, err_msg=what)


def _oracle(keras, case, request):
    if case.startswith("schedule_free"):
        request.getfixturevalue("functional_torch_assign")
    return _run_keras(keras, CASES[case])


@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_keras(keras, case, mode, request):
    k_vars, k_opt = _oracle(keras, case, request)
    t_vars, t_opt = _run_ours(CASES[case], mode)
    for ours, theirs, name in zip(t_vars, k_vars, NAMES):
        _assert_close(ours.numpy(), theirs.numpy(), f"{case} {name}")
    # Same state, same order, same paths (Keras numbers repeated names globally).
    def strip(path):
        return re.sub(r"_\d+$", "", path.replace(k_opt.name, t_opt.name))

    assert [v.path for v in t_opt.variables] == [strip(v.path) for v in k_opt.variables]
    for ours, theirs in zip(t_opt.variables, k_opt.variables):
        _assert_close(ours.numpy(), theirs.numpy(), f"{case} {theirs.path}")
    assert int(t_opt.iterations.numpy()) == int(k_opt.iterations.numpy())


def test_schedule_free_flat_buffers_are_used():
    variables, opt = _run_ours(CASES["schedule_free_adamw"], "eager")
    assert opt._flat
    assert not _run_ours(CASES["lamb"], "eager")[1]._flat


@pytest.mark.parametrize("case", sorted(CASES))
def test_config_matches_keras(keras, case):
    k_opt, t_opt = CASES[case](keras.optimizers), CASES[case](optimizers)
    k_config, t_config = k_opt.get_config(), t_opt.get_config()
    k_config["name"] = t_config["name"]
    assert t_config == k_config
    assert type(t_opt).from_config(t_opt.get_config()).get_config() == t_config
    ours = optimizers.deserialize(keras.optimizers.serialize(k_opt))
    assert ours.get_config() == dict(k_config, name=k_opt.name)
    if not case.startswith("lamb"):  # Keras 3.15 leaves Lamb out of its lookup table
        restored = keras.optimizers.deserialize(optimizers.serialize(t_opt))
        assert restored.get_config() == t_config


def test_lamb_by_name(keras):
    # Keras 3.15's get("lamb") raises (Lamb is missing from its table); tensorflux accepts
    # the name, so a script that works in Keras works here too.
    with pytest.raises(ValueError):
        keras.optimizers.get("lamb")
    opt = optimizers.get("lamb")
    config = dict(keras.optimizers.Lamb().get_config(), name=opt.name)
    assert type(opt).__name__ == "Lamb" and opt.get_config() == config


@pytest.mark.parametrize("name", ["adafactor", "muon", "schedulefreeadamw", "Adafactor",
                                  "Muon", "ScheduleFreeAdamW"])
def test_string_names_match_keras(keras, name):
    k_opt, t_opt = keras.optimizers.get(name), optimizers.get(name)
    assert type(t_opt).__name__ == type(k_opt).__name__
    k_config = dict(k_opt.get_config(), name=t_opt.name)
    assert t_opt.get_config() == k_config


def _dense_model(module, seed_weights=None):
    model = module.Sequential([module.Input((4,)), module.layers.Dense(6, activation="tanh"),
                               module.layers.Dense(3, name="head")])
    if seed_weights is not None:
        model.set_weights(seed_weights)
    return model


FIT_CASES = {
    "adafactor": lambda o: o.Adafactor(learning_rate=0.05, clipnorm=1.0),
    "lamb": lambda o: o.Lamb(learning_rate=0.05, weight_decay=0.01),
    "muon": lambda o: o.Muon(learning_rate=0.05, exclude_layers=["head"], use_ema=True),
    "schedule_free_adamw": lambda o: o.ScheduleFreeAdamW(learning_rate=0.05,
                                                         gradient_accumulation_steps=2),
}


@pytest.mark.parametrize("case", sorted(FIT_CASES))
def test_fit_matches_keras(keras, case, request):
    if case.startswith("schedule_free"):
        request.getfixturevalue("functional_torch_assign")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 4)).astype("float32")
    y = rng.normal(size=(40, 3)).astype("float32")
    k_model = _dense_model(keras)
    weights = [np.asarray(w) for w in k_model.get_weights()]
    t_model = _dense_model(tfk, weights)
    k_model.compile(optimizer=FIT_CASES[case](keras.optimizers), loss="mse")
    t_model.compile(optimizer=FIT_CASES[case](optimizers), loss="mse")
    k_hist = k_model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    t_hist = t_model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for ours, theirs in zip(t_model.get_weights(), k_model.get_weights()):
        _assert_close(ours, theirs, case)
    assert t_hist.history["loss"][0] == pytest.approx(k_hist.history["loss"][0], rel=1e-5)


def test_muon_routes_variables_as_keras(keras):
    t_opt = optimizers.Muon(exclude_layers=["head"])
    k_opt = keras.optimizers.Muon(exclude_layers=["head"])
    for path, shape in [("dense/kernel", (3, 2)), ("dense/bias", (2,)),
                        ("embedding/embeddings", (5, 2)), ("head/kernel", (2, 2)),
                        ("conv/kernel", (1, 2, 2))]:
        ours = PathVariable(np.zeros(shape, "float32"), name=path.split("/")[-1])
        ours.path = path
        theirs = keras.Variable(np.zeros(shape, "float32"))
        theirs._path = path
        assert t_opt._should_use_adamw(ours) == k_opt._should_use_adamw(theirs), path


def test_muon_orthogonalization_matches_keras(keras):
    t_opt, k_opt = optimizers.Muon(), keras.optimizers.Muon()
    rng = np.random.default_rng(5)
    for shape in [(4, 7), (7, 4), (5, 5)]:
        x = rng.normal(size=shape).astype("float32")
        ours = t_opt.zeropower_via_newtonschulz5(tf.constant(x), 5).numpy()
        theirs = k_opt.zeropower_via_newtonschulz5(keras.ops.convert_to_tensor(x), 5)
        _assert_close(ours, keras.ops.convert_to_numpy(theirs), str(shape))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        t_opt.zeropower_via_newtonschulz5(tf.constant([1.0, 2.0]), 5)
