"""Probe round s7, Keras side: the logs callbacks receive, the automatic config of custom
layers without get_config, and `input`/`output` of layers called more than once (real
Keras 3 is the oracle)."""

import numpy as np
import pytest

from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle

_HOOKS = ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_test_begin",
          "on_test_end", "on_predict_begin", "on_predict_end", "on_train_batch_begin",
          "on_train_batch_end", "on_test_batch_begin", "on_test_batch_end",
          "on_predict_batch_begin", "on_predict_batch_end"]


# ---------------------------------------------------------------------- A. callback logs
def _recorder(k):
    """A callback recording, for every hook, what its logs were: None, or the sorted keys
    and the type of each value."""

    class Recorder(k.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seen = []

    def hook(name):
        def record(self, *args, logs=None):
            if args and len(args) == 2:  # (batch/epoch, logs) passed positionally
                logs = args[1]
            elif args and not isinstance(args[0], int):
                logs = args[0]
            kinds = None if logs is None else [(key, type(value).__name__)
                                                for key, value in logs.items()]
            self.seen.append((name, kinds))
        return record

    for name in _HOOKS:
        setattr(Recorder, name, hook(name))
    return Recorder


def _hook_logs(k):
    model = k.Sequential([k.Input((3,)), k.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    x, y = np.ones((8, 3), "float32"), np.ones((8, 2), "float32")
    seen = {}
    for what, run in [("fit", lambda cb: model.fit(x, y, batch_size=4, epochs=1, verbose=0,
                                                   validation_split=0.5, callbacks=[cb])),
                      ("evaluate", lambda cb: model.evaluate(x, y, batch_size=4, verbose=0,
                                                             callbacks=[cb])),
                      ("predict", lambda cb: model.predict(x, batch_size=4, verbose=0,
                                                           callbacks=[cb]))]:
        recorder = _recorder(k)()
        run(recorder)
        seen[what] = recorder.seen
    return seen


def test_every_hook_gets_a_dict_of_logs_as_in_keras():
    ours, theirs = _hook_logs(keras), _hook_logs(import_keras())
    assert ours == theirs
    # (the point of the probe: no hook sees None, and predict's outputs are an ndarray)
    flat = [kinds for calls in ours.values() for _, kinds in calls]
    assert None not in flat
    assert ("on_predict_batch_end", [("outputs", "ndarray")]) in ours["predict"]


def test_on_predict_batch_end_outputs_values_match_keras():
    k = import_keras()
    x = np.arange(12, dtype="float32").reshape(4, 3)

    def outputs(lib):
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2, kernel_initializer="ones")])
        got = []

        class Keep(lib.callbacks.Callback):
            def on_predict_batch_end(self, batch, logs=None):
                got.append(logs["outputs"])

        model.predict(x, batch_size=2, verbose=0, callbacks=[Keep()])
        return got

    ours, theirs = outputs(keras), outputs(k)
    assert len(ours) == len(theirs) == 2
    for a, b in zip(ours, theirs):
        assert isinstance(a, np.ndarray)
        assert_matches(a, b)


# ---------------------------------------------------------------------- B. automatic config
def _custom_layers(lib):
    layers = lib.layers

    class Scale(layers.Layer):
        def __init__(self, factor, offsets=(0.0, 1.0), **kwargs):
            super().__init__(**kwargs)
            self.factor, self.offsets = factor, offsets

        def call(self, x):
            return x * self.factor + self.offsets[0]

    class NoKwargs(layers.Layer):
        def __init__(self, units=3, name=None):
            super().__init__(name=name)
            self.units = units

    ones = lib.initializers.Ones()

    class ObjectDefault(layers.Layer):
        def __init__(self, init=ones, **kwargs):
            super().__init__(**kwargs)

    class Variadic(layers.Layer):
        def __init__(self, *args, **kwargs):
            super().__init__(**kwargs)

    class PositionalOnly(layers.Layer):
        def __init__(self, a, /, **kwargs):
            super().__init__(**kwargs)

    class Plain(layers.Layer):
        def call(self, x):
            return x

    return {"Scale": Scale, "NoKwargs": NoKwargs, "ObjectDefault": ObjectDefault,
            "Variadic": Variadic, "PositionalOnly": PositionalOnly, "Plain": Plain}


_CASES = {
    "plain_args": ("Scale", (2.5,), {"name": "sc"}),
    "nested_values": ("Scale", (), {"factor": {"a": [1, None, True]}, "offsets": [1.5, 2],
                                    "trainable": False}),
    "no_kwargs": ("NoKwargs", (4,), {"name": "nk"}),
    "no_init": ("Plain", (), {"name": "pl", "activity_regularizer": None}),
    "variadic_empty": ("Variadic", (), {"name": "va"}),
    # Keras raises for each of these
    "array_argument": ("Scale", (np.float32(2.0),), {}),
    "object_default": ("ObjectDefault", (), {}),
    "variadic_given": ("Variadic", (1, 2), {}),
    "positional_only": ("PositionalOnly", (1,), {}),
    "policy_argument": ("Scale", (2.0,), {"dtype": "policy"}),
}


@pytest.mark.parametrize("case", sorted(_CASES))
def test_automatic_config_matches_keras(case):
    k = import_keras()
    cls_name, args, kwargs = _CASES[case]
    results = []
    for lib in (keras, k):
        given = dict(kwargs)
        if given.get("dtype") == "policy":
            given["dtype"] = lib.DTypePolicy("float32")
        layer = _custom_layers(lib)[cls_name](*args, **given)
        try:
            results.append(layer.get_config())
        except NotImplementedError as error:
            results.append(error)
    ours, theirs = results
    if isinstance(theirs, NotImplementedError):
        assert isinstance(ours, NotImplementedError), ours
        assert f"{cls_name}.get_config()" in str(ours)
        return
    assert not isinstance(ours, Exception), ours
    if case == "no_kwargs":
        # Keras also writes trainable and dtype, which NoKwargs(**config) cannot take back
        # (its file does not load); tensorflux keeps only what __init__ accepts.
        theirs = {key: value for key, value in theirs.items() if key in ("name", "units")}
    assert ours == theirs


def test_layer_without_get_config_saves_and_loads_both_ways(tmp_path):
    k = import_keras()
    models = []
    for lib in (keras, k):
        scale = _custom_layers(lib)["Scale"]
        inputs = lib.Input((3,))
        outputs = lib.layers.Dense(2)(scale(2.5, offsets=[0.5, 1.0], name="scale")(inputs))
        models.append((lib, scale, lib.Model(inputs, outputs)))
    (_, ours_cls, ours), (_, theirs_cls, theirs) = models
    theirs.set_weights(ours.get_weights())
    x = np.random.RandomState(0).rand(4, 3).astype("float32")
    expected = ours.predict(x, verbose=0)
    assert_matches(expected, theirs.predict(x, verbose=0))

    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    for path in ("ours.keras", "theirs.keras"):
        loaded = keras.models.load_model(tmp_path / path, custom_objects={"Scale": ours_cls})
        assert loaded.get_layer("scale").factor == 2.5
        assert_matches(loaded.predict(x, verbose=0), expected, what=path)
    in_keras = k.models.load_model(tmp_path / "ours.keras", custom_objects={"Scale": theirs_cls})
    assert_matches(in_keras.predict(x, verbose=0), expected, what="ours.keras in Keras")


def test_automatic_config_keeps_builtin_layers_config_unchanged():
    dense = keras.layers.Dense(3, activation="relu", name="d")
    assert "_constructor_call" not in vars(dense)
    k = import_keras()
    theirs = k.layers.Dense(3, activation="relu", name="d").get_config()
    assert sorted(dense.get_config()) == sorted(theirs)


# ---------------------------------------------------------------------- C. input/output
def _shared_and_nested(lib):
    layers = lib.layers
    shared = layers.Dense(2, name="shared", kernel_initializer="ones")
    a, b = lib.Input((3,), name="a"), lib.Input((3,), name="b")
    first, second = shared(a), shared(b)
    base = lib.Sequential([lib.Input((6,)), layers.Dense(4, name="d1"),
                           layers.Dense(3, name="d2")], name="nested_seq")
    inputs = lib.Input((6,))
    outer = lib.Model(inputs, layers.Dense(1, name="head")(base(inputs)))
    return shared, (a, b, first, second), base, outer


def test_layer_called_twice_gives_its_first_call_as_in_keras():
    k = import_keras()
    for lib in (keras, k):
        shared, (a, b, first, second), _, _ = _shared_and_nested(lib)
        assert shared.output is first and shared.input is a, lib.__name__
        assert tuple(shared.output.shape) == (None, 2)


def test_nested_sequential_output_is_its_call_in_the_outer_model():
    k = import_keras()
    x = np.random.RandomState(1).rand(5, 6).astype("float32")
    results = []
    for lib in (keras, k):
        _, _, base, outer = _shared_and_nested(lib)
        results.append((base, outer))
    (base, outer), (k_base, k_outer) = results
    k_outer.set_weights(outer.get_weights())
    features = keras.Model(outer.input, outer.get_layer("nested_seq").output)
    k_features = k.Model(k_outer.input, k_outer.get_layer("nested_seq").output)
    assert features.output_shape == k_features.output_shape == (None, 3)
    assert_matches(features.predict(x, verbose=0), k_features.predict(x, verbose=0))
    # the nested model's own graph stays reachable through `inputs`
    inner = keras.Model(base.inputs, base.get_layer("d1").output)
    k_inner = k.Model(k_base.inputs, k_base.get_layer("d1").output)
    assert_matches(inner.predict(x, verbose=0), k_inner.predict(x, verbose=0))


def test_never_called_layer_has_no_output():
    with pytest.raises(AttributeError, match="never been called"):
        _ = keras.layers.Dense(2).output
