"""keras.Variable takes Keras 3's arguments (an initializer and a shape, or a value) and gives
what real Keras 3 gives: the value, dtype, trainable flag, name and path."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras as tk
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle

CASES = {
    "array_float64": lambda k: k.Variable(np.ones((2, 2))),
    "array_cast": lambda k: k.Variable(np.ones(2), dtype="float32"),
    "python_float": lambda k: k.Variable(3.0),
    "name_initializer": lambda k: k.Variable("ones", shape=(2, 3), name="w"),
    "initializer_object": lambda k: k.Variable(
        k.initializers.Constant(2.0), shape=(2,), dtype="float16", trainable=False, name="c"),
    "callable": lambda k: k.Variable(lambda shape, dtype: np.full(shape, 7.0, "float32"),
                                     shape=(1,)),
    "callable_cast_to_dtype": lambda k: k.Variable(lambda shape, dtype: np.full(shape, 7.0),
                                                   shape=(1,)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_keras(case):
    keras = import_keras()
    ours, theirs = CASES[case](tk), CASES[case](keras)
    assert_matches(ours, theirs, what=case)
    assert ours.dtype.name == theirs.dtype
    assert ours.trainable == theirs.trainable
    assert ours.path == theirs.path and ours.name == theirs.name


def test_names_count_up_and_paths_follow_name_scopes():
    keras = import_keras()
    from tensorflux.keras.engine.name_scope import name_scope

    ours = [tk.Variable(1.0).path for _ in range(3)]
    theirs = [keras.Variable(1.0).path for _ in range(3)]
    assert ours == theirs == ["variable", "variable_1", "variable_2"]
    with name_scope("block"):
        assert tk.Variable(1.0, name="w").path == "block/w"


def test_every_variable_is_a_keras_variable():
    dense = tk.layers.Dense(2)
    dense.build((None, 3))
    optimizer = tk.optimizers.Adam()
    optimizer.build(dense.trainable_variables)
    for variable in [*dense.weights, *optimizer.variables, tf.Variable(1.0),
                     tk.Variable(1.0)]:
        assert isinstance(variable, tk.Variable) and isinstance(variable, tf.Variable)
    assert issubclass(type(dense.kernel), tk.Variable)
    assert not isinstance(tf.constant(1.0), tk.Variable)


def test_bad_arguments_raise_value_errors():
    keras = import_keras()
    for k in (tk, keras):
        with pytest.raises(ValueError, match="shape"):
            k.Variable("zeros")
        with pytest.raises(ValueError, match="/"):
            k.Variable(1.0, name="a/b")
        with pytest.raises(ValueError, match="aggregation"):
            k.Variable(1.0, aggregation="max")
        with pytest.raises(ValueError, match="synchronization"):
            k.Variable(1.0, synchronization="never")
    # Keras keeps the value's shape and drops a different `shape` silently; we say so.
    with pytest.raises(ValueError, match=r"\(2, 2\).*\(3,\)"):
        tk.Variable(np.ones((2, 2)), shape=(3,))
