"""keras.initializers, regularizers and constraints: statistics, configs and Keras parity."""

import math

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.keras import constraints, initializers, regularizers
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle
keras = import_keras()

CONFIG_CASES = [
    ("Zeros", {}), ("Ones", {}), ("Constant", {"value": 2.5}), ("Identity", {"gain": 2.0}),
    ("RandomNormal", {"mean": 1.0, "stddev": 0.2, "seed": 3}), ("RandomUniform", {}),
    ("TruncatedNormal", {"seed": 1}), ("VarianceScaling", {"scale": 2.0, "mode": "fan_avg",
                                                           "distribution": "uniform"}),
    ("VarianceScaling", {"distribution": "normal"}), ("GlorotUniform", {}),
    ("GlorotNormal", {"seed": 5}), ("HeUniform", {}), ("HeNormal", {}), ("LecunUniform", {}),
    ("LecunNormal", {}), ("Orthogonal", {"gain": 1.5, "seed": 2}),
]


@pytest.mark.parametrize("name,kwargs", CONFIG_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CONFIG_CASES)])
def test_initializer_config_matches_keras(name, kwargs):
    ours = getattr(initializers, name)(**kwargs)
    theirs = getattr(keras.initializers, name)(**kwargs)
    assert ours.get_config() == theirs.get_config()
    assert initializers.serialize(ours) == keras.initializers.serialize(theirs)
    clone = initializers.deserialize(keras.initializers.serialize(theirs))
    assert type(clone) is type(ours) and clone.get_config() == ours.get_config()


@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_normal", "he_uniform",
                                  "lecun_normal", "lecun_uniform", "zeros", "ones", "uniform",
                                  "normal", "orthogonal", "truncated_normal", "identity",
                                  "variance_scaling", "random_normal", "zero", "one"])
def test_string_names_resolve_like_keras(name):
    ours, theirs = initializers.get(name), keras.initializers.get(name)
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.get_config() == theirs.get_config()


def test_uniform_is_keras_embedding_default():
    assert initializers.get("uniform").get_config() == {"seed": None, "minval": -0.05,
                                                        "maxval": 0.05}


def test_deterministic_initializers_match_keras():
    for ours, theirs, shape in [
        (initializers.Zeros(), keras.initializers.Zeros(), (2, 3)),
        (initializers.Ones(), keras.initializers.Ones(), (4,)),
        (initializers.Constant(0.3), keras.initializers.Constant(0.3), (2, 2)),
        (initializers.Identity(3.0), keras.initializers.Identity(3.0), (3, 4)),
    ]:
        assert_matches(ours(shape), theirs(shape))


@pytest.mark.parametrize("shape", [(64, 32), (3, 3, 16, 8), (200,)])
def test_fans_match_keras(shape):
    from keras.src.initializers.random_initializers import compute_fans

    assert initializers.compute_fans(shape) == compute_fans(shape)


@pytest.mark.parametrize("name,scale,mode,uniform", [
    ("GlorotUniform", 1.0, "fan_avg", True), ("GlorotNormal", 1.0, "fan_avg", False),
    ("HeUniform", 2.0, "fan_in", True), ("HeNormal", 2.0, "fan_in", False),
    ("LecunUniform", 1.0, "fan_in", True), ("LecunNormal", 1.0, "fan_in", False),
])
def test_variance_scaling_statistics(name, scale, mode, uniform):
    shape = (3, 3, 40, 60)
    fan_in, fan_out = 3 * 3 * 40, 3 * 3 * 60
    n = fan_in if mode == "fan_in" else (fan_in + fan_out) / 2
    w = getattr(initializers, name)(seed=11)(shape).numpy()
    assert w.shape == shape and w.dtype == np.float32
    # The variance of every variant is scale / n (the truncation is compensated by 0.8796).
    assert abs(w.var() / (scale / n) - 1) < 0.05
    assert abs(w.mean()) < 0.05 * math.sqrt(scale / n)
    if uniform:
        limit = math.sqrt(3 * scale / n)
        assert w.max() <= limit and w.min() >= -limit and w.max() > 0.99 * limit
    else:
        bound = 2 * math.sqrt(scale / n) / 0.8796256610342398
        assert np.abs(w).max() <= bound * (1 + 1e-6)


def test_random_initializer_statistics():
    w = initializers.RandomNormal(mean=1.0, stddev=0.5, seed=1)((200, 100)).numpy()
    assert abs(w.mean() - 1.0) < 0.01 and abs(w.std() - 0.5) < 0.01
    w = initializers.RandomUniform(-2.0, 3.0, seed=1)((200, 100)).numpy()
    assert w.min() >= -2.0 and w.max() < 3.0 and abs(w.mean() - 0.5) < 0.05
    w = initializers.TruncatedNormal(stddev=0.1, seed=1)((200, 100)).numpy()
    assert np.abs(w).max() <= 0.2 * (1 + 1e-6)


def test_seeds_are_reproducible_and_none_draws_fresh():
    a = initializers.GlorotUniform(seed=7)((5, 5)).numpy()
    b = initializers.GlorotUniform(seed=7)((5, 5)).numpy()
    init = initializers.GlorotUniform(seed=7)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(init((5, 5)).numpy(), init((5, 5)).numpy())
    assert not np.array_equal(a, initializers.GlorotUniform(seed=8)((5, 5)).numpy())
    fresh = initializers.GlorotUniform()
    assert not np.array_equal(fresh((5, 5)).numpy(), fresh((5, 5)).numpy())
    tf.random.set_seed(3)
    c = initializers.HeNormal()((4, 4)).numpy()
    tf.random.set_seed(3)
    np.testing.assert_array_equal(c, initializers.HeNormal()((4, 4)).numpy())
    tf.random.set_seed(None)


@pytest.mark.parametrize("shape", [(6, 6), (10, 4), (4, 10), (3, 3, 4, 8)])
def test_orthogonal(shape):
    w = initializers.Orthogonal(gain=2.0, seed=1)(shape).numpy()
    assert w.shape == shape
    flat = w.reshape(-1, shape[-1])
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(gram.shape[0]), atol=1e-5)
    with pytest.raises(ValueError, match="two-dimensional"):
        initializers.Orthogonal()((5,))


def test_initializer_dtype_and_identity_errors():
    assert initializers.GlorotUniform(seed=1)((2, 2), dtype="float64").dtype == tf.float64
    with pytest.raises(ValueError, match="2D"):
        initializers.Identity()((2, 2, 2))
    with pytest.raises(ValueError, match="mode"):
        initializers.VarianceScaling(mode="fan_max")


# ------------------------------------------------------------------ regularizers

W = np.random.default_rng(3).normal(size=(5, 4)).astype("float32")

REGULARIZERS = [("L1", {}), ("L1", {"l1": 0.3}), ("L2", {}), ("L2", {"l2": 0.5}),
                ("L1L2", {}), ("L1L2", {"l1": 0.1, "l2": 0.2}),
                ("OrthogonalRegularizer", {}), ("OrthogonalRegularizer",
                                                {"factor": 0.5, "mode": "columns"})]


@pytest.mark.parametrize("name,kwargs", REGULARIZERS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(REGULARIZERS)])
def test_regularizer_matches_keras(name, kwargs):
    ours = getattr(regularizers, name)(**kwargs)
    theirs = getattr(keras.regularizers, name)(**kwargs)
    assert_matches(ours(tf.constant(W)), theirs(keras.ops.convert_to_tensor(W)), what=name)
    assert ours.get_config() == theirs.get_config()
    assert regularizers.serialize(ours) == keras.regularizers.serialize(theirs)
    restored = regularizers.deserialize(keras.regularizers.serialize(theirs))
    assert restored.get_config() == ours.get_config()


def test_regularizer_formulas_and_names():
    assert abs(float(regularizers.L2()(W)) - 0.01 * float((W ** 2).sum())) < 1e-5
    assert abs(float(regularizers.L1()(W)) - 0.01 * float(np.abs(W).sum())) < 1e-5
    assert regularizers.get("l2").get_config() == {"l2": 0.01}
    assert regularizers.l1_l2 is regularizers.L1L2
    assert regularizers.get(None) is None
    assert regularizers.L2()(tf.Variable(W)).shape == ()
    with pytest.raises(ValueError, match="non-negative"):
        regularizers.L2(-1.0)


# ------------------------------------------------------------------ constraints

CONSTRAINTS = [("MaxNorm", {}), ("MaxNorm", {"max_value": 0.5, "axis": 1}), ("NonNeg", {}),
               ("UnitNorm", {}), ("UnitNorm", {"axis": [0, 1]}), ("MinMaxNorm", {}),
               ("MinMaxNorm", {"min_value": 1.0, "max_value": 2.0, "rate": 0.5, "axis": 1})]


@pytest.mark.parametrize("name,kwargs", CONSTRAINTS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CONSTRAINTS)])
def test_constraint_matches_keras(name, kwargs):
    ours = getattr(constraints, name)(**kwargs)
    theirs = getattr(keras.constraints, name)(**kwargs)
    assert_matches(ours(tf.constant(W)), theirs(keras.ops.convert_to_tensor(W)), what=name)
    assert ours.get_config() == theirs.get_config()
    assert constraints.serialize(ours) == keras.constraints.serialize(theirs)
    assert constraints.get(keras.constraints.serialize(theirs)).get_config() == \
        ours.get_config()


def test_constraint_names():
    assert isinstance(constraints.get("max_norm"), constraints.MaxNorm)
    assert isinstance(constraints.get("NonNeg"), constraints.NonNeg)
    assert constraints.get(None) is None
    norms = np.sqrt((constraints.MaxNorm(1.0)(W).numpy() ** 2).sum(axis=0))
    assert np.all(norms <= 1.0 + 1e-6)
