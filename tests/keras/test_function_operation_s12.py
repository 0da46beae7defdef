"""keras.Operation and keras.Function, with real Keras 3 as the oracle: the same Operation
subclass written against both libraries gives the same outputs, in eager calls and in
Functional models (predict, fit, save and load); a Function over Dense layers with copied
weights gives Keras's outputs; isinstance checks and errors are Keras's."""

import numpy as np
import pytest

from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle


def _libs():
    return keras, import_keras()


def _scaled_sum_class(lib):
    """The same user Operation, written against `lib`: (x + y) * factor, with its spec."""

    class ScaledSum(lib.Operation):
        def __init__(self, factor=2.0, name=None):
            super().__init__(name=name)
            self.factor = factor

        def call(self, x, y):
            return lib.ops.multiply(lib.ops.add(x, y), self.factor)

        def compute_output_spec(self, x, y):
            return lib.KerasTensor(x.shape, x.dtype)

        def get_config(self):
            return {"name": self.name, "factor": self.factor}

    return ScaledSum


def _scale_class(lib):
    """A one-input Operation without compute_output_spec (inferred from call), registered
    so that a model holding it saves and loads."""

    @lib.saving.register_keras_serializable(package="s12_test")
    class Scale(lib.Operation):
        def __init__(self, factor=0.5, name=None):
            super().__init__(name=name)
            self.factor = factor

        def call(self, x):
            return lib.ops.tanh(x) * self.factor

    return Scale


def _data(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _copy_weights(ours, theirs):
    for mine, keras_layer in zip(ours, theirs):
        mine.set_weights([np.asarray(w) for w in keras_layer.get_weights()])


# ---------------------------------------------------------------------- keras.Operation
def test_an_operation_runs_call_on_values_as_keras():
    x, y = _data(2, 3), _data(2, 3, seed=1)
    results = [_scaled_sum_class(lib)(1.5)(x, y) for lib in _libs()]
    assert_matches(results[0], results[1], what="eager ScaledSum")


def test_an_operation_on_keras_tensors_records_a_node_as_keras():
    for lib in _libs():
        op = _scaled_sum_class(lib)(name="ssum")
        x, y = lib.Input((3,), name="x"), lib.Input((5, 3), name="y")
        out = op(x, y)
        assert isinstance(out, lib.KerasTensor)
        assert out.shape == (None, 3) and out.dtype == "float32"
        assert out._keras_history.operation is op and len(op._inbound_nodes) == 1
        assert op.input == [x, y] and op.output is out
        assert (op.name, repr(op)) == ("ssum", "<Operation name=ssum>")


def test_an_operation_without_compute_output_spec_infers_it_from_call():
    specs = []
    for lib in _libs():
        out = _scale_class(lib)()(lib.Input((4, 2), dtype="float32"))
        specs.append((out.shape, out.dtype))
    assert specs[0] == specs[1] == ((None, 4, 2), "float32")


def test_a_model_with_an_operation_predicts_fits_and_lists_it_as_keras():
    x, y = _data(16, 3), _data(16, 1, seed=1)
    predictions, after_fit, listed = [], [], []
    for lib in _libs():
        inputs = lib.Input((3,), name="x")
        hidden = lib.layers.Dense(4, name="hidden")(inputs)
        scaled = _scale_class(lib)(0.5, name="scale")(hidden)
        outputs = lib.layers.Dense(1, name="head")(scaled)
        model = lib.Model(inputs, outputs)
        predictions.append(model)
        listed.append(([layer.name for layer in model.layers],
                       [op.name for op in model.operations]))
    ours, theirs = predictions
    _copy_weights([ours.get_layer("hidden"), ours.get_layer("head")],
                  [theirs.get_layer("hidden"), theirs.get_layer("head")])
    assert listed[0] == listed[1]  # the Operation is an operation of the model, not a layer
    assert_matches(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), what="predict")
    for model in (ours, theirs):
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        after_fit.append(model.predict(x, verbose=0))
    assert_matches(after_fit[0], after_fit[1], rtol=1e-5, atol=1e-5, what="after fit")


def test_a_registered_operation_saves_and_loads_across_libraries(tmp_path):
    x = _data(4, 3)
    models = []
    for lib in _libs():
        inputs = lib.Input((3,), name="x")
        hidden = lib.layers.Dense(4, name="hidden")(inputs)
        models.append(lib.Model(inputs, _scale_class(lib)(0.25, name="scale")(hidden)))
    ours, theirs = models
    _copy_weights([ours.get_layer("hidden")], [theirs.get_layer("hidden")])
    expected = theirs.predict(x, verbose=0)
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    for name in ("ours.keras", "theirs.keras"):
        loaded = keras.saving.load_model(tmp_path / name)
        assert [op.name for op in loaded.operations] == ["x", "hidden", "scale"]
        assert_matches(loaded.predict(x, verbose=0), expected, what=f"{name} in tensorflux")
    in_keras = import_keras().saving.load_model(tmp_path / "ours.keras")
    assert_matches(in_keras.predict(x, verbose=0), expected, what="ours.keras in Keras")


def test_operation_config_is_keras_s():
    configs = []
    for lib in _libs():
        op = _scaled_sum_class(lib)(3.0, name="s")
        again = type(op).from_config(op.get_config())

        class Plain(lib.Operation):  # no get_config: Keras's automatic config
            def __init__(self, units=2, kind="a", name=None):
                super().__init__(name=name)

        class Nameless(lib.Operation):  # (its __init__ takes no name: none in the config)
            def __init__(self, w=1):
                super().__init__()

        configs.append((op.get_config(), again.factor, again.name,
                        Plain(5, name="p").get_config(), Nameless(3).get_config()))
        with pytest.raises(NotImplementedError):
            Plain(units=object()).get_config()
    assert configs[0] == configs[1]


def test_isinstance_and_subclass_relations_are_keras_s():
    def relations(lib):
        inputs = lib.Input((2,))
        model = lib.Model(inputs, lib.layers.Dense(1)(inputs))
        function = lib.Function(inputs, inputs * 2.0)
        objects = [lib.layers.Dense(2), lib.layers.Layer(), model, lib.Sequential(),
                   function, inputs, _scale_class(lib)()]
        return ([isinstance(o, lib.Operation) for o in objects],
                [isinstance(o, lib.layers.Layer) for o in objects],
                issubclass(lib.layers.Layer, lib.Operation),
                issubclass(lib.Function, lib.Operation),
                issubclass(lib.Function, lib.layers.Layer),
                issubclass(lib.Operation, lib.layers.Layer))

    ours, theirs = relations(keras), relations(import_keras())
    assert ours == theirs
    assert ours[0] == [True, True, True, True, True, False, True]  # Layer subclasses Operation


def test_operation_errors_are_keras_s():
    for lib in _libs():
        with pytest.raises(ValueError, match="cannot contain character `/`"):
            _scale_class(lib)(name="a/b")
        with pytest.raises(NotImplementedError):
            lib.Operation()(_data(2))

        class Broken(lib.Operation):
            def call(self, x):
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="Could not automatically infer the output"):
            Broken()(lib.Input((2,)))
        with pytest.raises(AttributeError, match="never been called"):
            _ = _scale_class(lib)().input


# ---------------------------------------------------------------------- keras.Function
def _dense_function(lib, structure):
    """A Function over two Dense layers (and an op) in the given input/output structure."""
    first = lib.layers.Dense(4, name="first")
    second = lib.layers.Dense(2, name="second")
    a, b = lib.Input((3,), name="a"), lib.Input((3,), name="b")
    h = first(a)
    out = second(h) + second(first(b))
    if structure == "single":
        return lib.Function(a, second(h)), (first, second)
    if structure == "list":
        return lib.Function([a, b], [out, lib.ops.relu(h)]), (first, second)
    return lib.Function({"a": a, "b": b}, {"sum": out, "parts": [h]}), (first, second)


@pytest.mark.parametrize("structure", ["single", "list", "dict"])
def test_a_function_over_dense_layers_gives_keras_outputs(structure):
    (ours, our_layers), (theirs, their_layers) = [_dense_function(lib, structure)
                                                  for lib in _libs()]
    _copy_weights(our_layers, their_layers)
    a, b = _data(5, 3), _data(5, 3, seed=1)
    given = {"single": a, "list": [a, b], "dict": {"a": a, "b": b}}[structure]
    mine, expected = ours(given), theirs(given)

    def nesting(value):  # the structure, with its leaves left out
        if isinstance(value, dict):
            return {key: nesting(v) for key, v in value.items()}
        return [nesting(v) for v in value] if isinstance(value, list) else "leaf"

    assert nesting(mine) == nesting(expected)
    flat_mine, flat_expected = keras.tree.flatten(mine), import_keras().tree.flatten(expected)
    assert len(flat_mine) == len(flat_expected) == {"single": 1}.get(structure, 2)
    for got, want in zip(flat_mine, flat_expected):
        assert_matches(got, want, rtol=1e-5, atol=1e-5, what=structure)
    assert [op.name for op in ours.operations] == [op.name for op in theirs.operations]
    assert len(ours.inputs) == len(theirs.inputs) and len(ours.outputs) == len(theirs.outputs)
    assert [x.shape for x in ours.outputs] == [x.shape for x in theirs.outputs]


def test_a_function_of_bare_keras_tensors_and_intermediate_inputs_is_keras_s():
    x1, x2 = _data(4, 2, 3), _data(4, 2, 3, seed=1)
    results = []
    for lib in _libs():
        a, b = lib.KerasTensor((None, 2, 3)), lib.KerasTensor((None, 2, 3))
        fn = lib.Function([a, b], lib.ops.sigmoid(a + b), name="fn")
        # (a Function may start at an intermediate tensor: the ops before it are not its own)
        c = lib.Input((3,), name="c")
        doubled = c * 2.0
        tail = lib.Function(doubled, lib.ops.exp(doubled) - 1.0)
        results.append((fn([x1, x2]), fn.name, [type(op).__name__ for op in fn.operations],
                        tail(x1[:, 0]), len(tail.operations)))
    ours, theirs = results
    assert_matches(ours[0], theirs[0], what="sigmoid(a + b)")
    assert_matches(ours[3], theirs[3], rtol=1e-5, what="from an intermediate tensor")
    assert ours[1:3] == theirs[1:3] and ours[4] == theirs[4] == 2


def test_function_output_specs_and_shapes_are_keras_s():
    results = []
    for lib in _libs():
        fn, _ = _dense_function(lib, "list")
        same = fn.compute_output_spec([lib.KerasTensor((None, 3)), lib.KerasTensor((None, 3))])
        other = fn.compute_output_spec([lib.KerasTensor((7, 3)), lib.KerasTensor((7, 3))])
        shapes = fn.compute_output_shape([(9, 3), (9, 3)])
        results.append(([(x.shape, x.dtype) for x in same], [(x.shape, x.dtype) for x in other],
                        shapes, len(fn.operations[-1]._inbound_nodes)))
    assert results[0] == results[1]
    assert results[0][1] == [((7, 2), "float32"), ((7, 4), "float32")]


def test_a_function_called_on_keras_tensors_is_an_operation_of_a_model():
    x = _data(6, 3)
    outputs = []
    for lib in _libs():
        fn, layers = _dense_function(lib, "single")
        inputs = lib.Input((3,), name="z")
        model = lib.Model(inputs, lib.ops.relu(fn(inputs)))
        outputs.append((model, layers, [type(op).__name__ for op in model.operations]))
    (ours, our_layers, our_ops), (theirs, their_layers, their_ops) = outputs
    _copy_weights(our_layers, their_layers)
    assert our_ops == their_ops
    assert_matches(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5,
                   atol=1e-5, what="a model calling a Function")


def _build_bad_function(lib, case):
    a, b = lib.Input((3,), name="a"), lib.Input((3,), name="b")
    if case == "empty inputs":
        return lib.Function([], a)
    if case == "empty outputs":
        return lib.Function(a, [])
    if case == "bare tensor disconnected":
        return lib.Function(a, a + lib.KerasTensor((None, 3)))
    if case == "input disconnected":
        return lib.Function(a, a + b)
    if case == "duplicate names":
        return lib.Function(a, lib.layers.Dense(3, name="a")(a))
    return lib.Function(a, a * 2.0, name="f/g")


_BAD_FUNCTIONS = {"empty inputs": "`inputs` argument cannot be empty",
                  "empty outputs": "`outputs` argument cannot be empty",
                  "bare tensor disconnected": "Graph disconnected",
                  "input disconnected": "connected",  # (Keras: "not connected to `inputs`")
                  "duplicate names": 'The name "a" is used 2 times',
                  "slash in name": "cannot contain character `/`"}


@pytest.mark.parametrize("case", sorted(_BAD_FUNCTIONS))
def test_building_a_bad_function_raises_as_keras(case):
    for lib in _libs():
        with pytest.raises(ValueError, match=_BAD_FUNCTIONS[case]):
            _build_bad_function(lib, case)


def _call_badly(lib, case):
    one, two = _data(2, 3), _data(2, 3, seed=1)
    a, b = lib.Input((3,), name="a"), lib.Input((3,), name="b")
    single = lib.Function(a, a * 2.0)
    pair = lib.Function([a, b], a + b)
    if case == "list for one input":
        return single([one])
    if case == "one for a list":
        return pair(one)
    if case == "tuple for list":
        return pair((one, two))
    if case == "missing key":
        return lib.Function({"a": a, "b": b}, a - b)({"a": one})
    if case == "wrong last axis":
        return single(_data(2, 4))
    return pair([one, _data(2, 3, 1)])


_BAD_CALLS = {"list for one input": "invalid input structure",
              "one for a list": "invalid input structure",
              "tuple for list": "invalid input structure",
              "missing key": "invalid input structure",
              "wrong last axis": "incompatible inputs. For input 'a'",
              "wrong rank": "incompatible inputs"}


@pytest.mark.parametrize("case", sorted(_BAD_CALLS))
def test_calling_a_function_on_bad_inputs_raises_as_keras(case):
    for lib in _libs():
        with pytest.raises(ValueError, match=_BAD_CALLS[case]):
            _call_badly(lib, case)
