"""keras.optimizers.MultiOptimizer / OptimizerMap against real Keras 3 (torch backend): the
same losses, weights and optimizer state after fit, the path lookup rules, and the errors."""

import numpy as np
import pytest

from tensorflux import keras as tk
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle


def _keras():
    keras = import_keras()
    if not hasattr(keras.optimizers, "MultiOptimizer"):
        pytest.skip(f"MultiOptimizer is new in Keras 3.13; found {keras.__version__}")
    return keras


def _model(keras):
    model = keras.Sequential([keras.Input((3,)),
                              keras.layers.Dense(4, activation="tanh", name="backbone"),
                              keras.layers.Dense(2, name="head")], name="net")
    rng = np.random.RandomState(0)
    model.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.5
                       for w in model.get_weights()])
    return model


def _data():
    rng = np.random.RandomState(1)
    return rng.rand(16, 3).astype("float32"), rng.rand(16, 2).astype("float32")


def _by_map(keras):
    return keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(
        keras.optimizers.SGD(0.1, momentum=0.5), {".*head/.*": keras.optimizers.Adam(0.01)}))


def _by_callable(keras):
    adam, rmsprop = keras.optimizers.Adam(0.02), keras.optimizers.RMSprop(0.005)
    return keras.optimizers.MultiOptimizer(
        lambda variable: adam if variable.path.endswith("kernel") else rmsprop)


@pytest.mark.parametrize("make", [_by_map, _by_callable], ids=["map", "callable"])
def test_fit_matches_keras(make):
    keras = _keras()
    x, y = _data()
    results = []
    for k in (tk, keras):
        model = _model(k)
        optimizer = make(k)
        model.compile(optimizer, "mse")
        history = model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False).history
        results.append((model, optimizer, history))
    (ours, our_opt, our_history), (theirs, their_opt, their_history) = results
    assert_matches(our_history["loss"], their_history["loss"], rtol=1e-5, what="loss")
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert_matches(a, b, rtol=1e-5, atol=1e-6, what="weights")
    assert [v.path for v in our_opt.variables] == [v.path for v in their_opt.variables]
    for a, b in zip(our_opt.variables, their_opt.variables):
        assert_matches(a, b, rtol=1e-5, atol=1e-7, what=a.path)
    assert [type(o).__name__ for o in our_opt.optimizers] == \
        [type(o).__name__ for o in their_opt.optimizers]
    assert int(our_opt.iterations) == int(their_opt.iterations) == 8


def test_optimizer_map_lookup_rules_match_keras():
    keras = _keras()
    for k in (tk, keras):
        mapping = k.optimizers.OptimizerMap(k.optimizers.RMSprop(name="fallback"))
        mapping["encoder/layer_0/dense"] = k.optimizers.Adam(name="exact")
        mapping["encoder/.*"] = k.optimizers.SGD(name="pattern")
        mapping["decoder"] = k.optimizers.Adam(name="decoder")
        assert [mapping[path].name for path in (
            "encoder/layer_0/dense", "encoder/layer_0/query", "decoder", "decoder/dense",
            "encoder")] == ["exact", "pattern", "decoder", "fallback", "fallback"]
        mapping["enc.*"] = k.optimizers.SGD(name="other")
        with pytest.raises(ValueError, match="Multiple optimizers"):
            mapping["encoder/layer_1"]
        assert len(mapping) == 4 and sorted(mapping)[0] == "decoder"
        del mapping["enc.*"]
        assert mapping["encoder/layer_1"].name == "pattern"


def test_bad_use_raises_like_keras():
    keras = _keras()
    for k in (tk, keras):
        mapping = k.optimizers.OptimizerMap(k.optimizers.SGD())
        with pytest.raises(TypeError):
            k.optimizers.OptimizerMap("sgd")
        with pytest.raises(TypeError):
            k.optimizers.OptimizerMap(k.optimizers.SGD(), [("a", k.optimizers.SGD())])
        mapping["a"] = k.optimizers.Adam()
        for key, value in (("a", k.optimizers.SGD()), (3, k.optimizers.SGD()), ("b", "adam"),
                           ("c", k.optimizers.LossScaleOptimizer(k.optimizers.SGD())),
                           ("d", k.optimizers.MultiOptimizer(mapping))):
            with pytest.raises(ValueError):
                mapping[key] = value
        optimizer = k.optimizers.MultiOptimizer(mapping)
        with pytest.raises(AttributeError):
            _ = optimizer.learning_rate
        with pytest.raises(AttributeError):
            optimizer.learning_rate = 0.1
        with pytest.raises(ValueError):
            k.optimizers.MultiOptimizer(mapping).apply([np.zeros(2, "float32")])
        nested = k.optimizers.MultiOptimizer(lambda variable, inner=optimizer: inner)
        with pytest.raises(ValueError):
            nested.build([k.Variable(np.zeros(2, "float32"), name="w")])


def test_loss_scale_factor_reaches_every_inner_optimizer():
    optimizer = tk.optimizers.MultiOptimizer(
        tk.optimizers.OptimizerMap(tk.optimizers.SGD(1.0), {"b": tk.optimizers.SGD(1.0)}),
        loss_scale_factor=4.0)
    assert [o.loss_scale_factor for o in optimizer.optimizers] == [4.0, 4.0]
    a = tk.Variable(np.ones(2, "float32"), name="a")
    b = tk.Variable(np.ones(2, "float32"), name="b")
    optimizer.apply([np.full(2, 4.0, "float32"), np.full(2, 8.0, "float32")], [a, b])
    np.testing.assert_allclose(a.numpy(), [0.0, 0.0])  # gradient / 4, learning rate 1
    np.testing.assert_allclose(b.numpy(), [-1.0, -1.0])


def test_compiled_model_saves_and_loads(tmp_path):
    # (A loaded Sequential's variable paths leave out the model's name, in Keras as here, so
    # the map's pattern ".*head/.*" matches before and after.)
    x, y = _data()
    model = _model(tk)
    model.compile(_by_map(tk), "mse")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    model.save(tmp_path / "m.keras")
    loaded = tk.models.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer).__name__ == "MultiOptimizer"
    assert [type(o).__name__ for o in loaded.optimizer.optimizers] == ["Adam", "SGD"]
    assert len(loaded.optimizer.variables) == len(model.optimizer.variables) == 12
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        assert a.path == b.path.replace("net_", "")
        assert_matches(a, b, what=a.path)
    # Training goes on from the restored state exactly as it would have.
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    loaded.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        assert_matches(a, b, what="weights after one more epoch")
