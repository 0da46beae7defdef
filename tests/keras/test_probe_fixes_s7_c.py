"""Probe round s7 (c): Keras-level details checked against real Keras 3.15.1 on torch.

Functional input rank adjustment and input-structure warnings, Model.export's formats, the
FeatureSpace `.keras` layout, a subclassed model's default build(), Keras 3 names and paths of
metric and optimizer variables, keras.Input's shape check, EinsumDense's symbolic output
shape, Layer.add_metric, unregistered custom losses on load, and the errors of
image/text_dataset_from_directory for a missing folder.
"""

import io
import warnings
import zipfile

import numpy as np
import pytest

from tensorflux import keras
from tensorflux.keras.engine.name_scope import name_scope
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle


def _outcome(fn):
    """(result or exception type, message) of fn(), with the UserWarnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn()
        except Exception as error:  # noqa: BLE001 - the outcome is what is compared
            result = (type(error).__name__, str(error))
    return result, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


# ---------------------------------------------------------------- Functional input rank
def _dense_model(lib, shape, units=2):
    x = lib.Input(shape)
    dense = lib.layers.Dense(units)
    model = lib.Model(x, dense(x))
    dense.set_weights([np.arange(shape[-1] * units, dtype="float32").reshape(-1, units),
                       np.ones(units, "float32")])
    return model


@pytest.mark.parametrize("spec,value_shape", [
    ((1,), (5,)),        # a batch of scalars for Input((1,)) gets its trailing axis
    ((1,), (1,)),        # the FeatureSpace example: convert_to_tensor([value])
    ((3,), (4, 3, 1)),   # a trailing axis of 1 too many is squeezed
    ((2,), (3, 2, 1)),
    ((3, 1), (4, 3)),
])
def test_functional_adjusts_input_rank_by_one_axis(spec, value_shape):
    k = import_keras()
    value = np.linspace(-1.0, 2.0, int(np.prod(value_shape)), dtype="float32").reshape(
        value_shape)
    ours = _dense_model(keras, spec)(value)
    theirs = _dense_model(k, spec)(value)
    assert_matches(ours, theirs)
    assert_matches(_dense_model(keras, spec).predict(value, verbose=0),
                   _dense_model(k, spec).predict(value, verbose=0))


@pytest.mark.parametrize("spec,value_shape", [((3,), (3,)), ((3,), (4, 3, 2)),
                                               ((3,), (4, 3, 1, 1)), ((), ())])
def test_functional_refuses_other_ranks_as_keras(spec, value_shape):
    k = import_keras()
    value = np.ones(value_shape, "float32")
    x = keras.Input(spec, name="x")
    with pytest.raises(ValueError) as ours:
        keras.Model(x, keras.layers.Activation("relu")(x))(value)
    kx = k.Input(spec, name="x")
    with pytest.raises(ValueError) as theirs:
        k.Model(kx, k.layers.Activation("relu")(kx))(value)
    expected = (f"with name 'x' and path ''. Expected shape {(None, *spec)}, but input has "
                f"incompatible shape ")
    assert "Invalid input shape for input" in str(theirs.value) and expected in str(theirs.value)
    assert str(ours.value).startswith("Invalid input shape for input")
    assert expected + str(value_shape) in str(ours.value)


def test_input_structure_warnings_match_keras():
    k = import_keras()
    one = np.ones((2, 1), "float32")

    def outcomes(lib):
        a, b = lib.Input((1,), name="a"), lib.Input((1,), name="b")
        concat = lib.layers.Concatenate()
        by_dict = lib.Model({"a": a, "b": b}, concat([a, b]))
        by_list = lib.Model([a, b], concat([a, b]))
        single = lib.Model(a, lib.layers.Activation("relu")(a))
        unsorted = lib.Model({"b": b, "a": a}, concat([a, b]))

        def shape(fn):
            return lambda: tuple(fn().shape)
        return [_outcome(shape(lambda: by_dict({"a": one, "b": one}))),
                _outcome(shape(lambda: by_dict({"a": one, "b": one, "c": one}))),
                _outcome(shape(lambda: by_dict([one, one]))),
                _outcome(shape(lambda: by_list({"a": one, "b": one, "c": one}))),
                _outcome(shape(lambda: by_list((one, one)))),
                _outcome(shape(lambda: single([one]))),
                _outcome(shape(lambda: single({"a": one}))),
                _outcome(shape(lambda: unsorted({"a": one, "b": one})))]

    ours, theirs = outcomes(keras), outcomes(k)
    assert ours == theirs
    assert sum(len(w) for _, w in ours) == 4  # extra key, list for dict, two for single
    # A list for a dict model whose keys are not sorted: Keras refuses (its message is
    # wrapped in Keras's call context, ours is the bare one).
    a, b = keras.Input((1,), name="a"), keras.Input((1,), name="b")
    unsorted = keras.Model({"b": b, "a": a}, keras.layers.Concatenate()([a, b]))
    with pytest.raises(ValueError, match=r"Expected: \{'b': 'b', 'a': 'a'\}\nReceived: "
                                         r"inputs=\['Tensor\(shape=\(2, 1\)\)'"):
        unsorted([one, one])


# ---------------------------------------------------------------- Model.export
def test_export_formats_are_keras_ones_and_torch_is_refused_clearly(tmp_path):
    k = import_keras()
    model = _dense_model(keras, (3,))
    with pytest.raises(ValueError) as ours:
        model.export(str(tmp_path / "m"), format="bogus")
    with pytest.raises(ValueError) as theirs:
        _dense_model(k, (3,)).export(str(tmp_path / "k"), format="bogus")
    assert str(ours.value) == str(theirs.value)
    for name in ("torch", "tf_saved_model", "litert", "openvino"):
        with pytest.raises(NotImplementedError, match=f"format='{name}' is not supported by "
                                                      "tensorflux.*use format='onnx'"):
            model.export(str(tmp_path / "m"), format=name)


# ---------------------------------------------------------------- FeatureSpace file layout
def _h5_layout(path):
    h5py = pytest.importorskip("h5py")
    with zipfile.ZipFile(path) as archive:
        data = archive.read("model.weights.h5")
    found = []
    with h5py.File(io.BytesIO(data), "r") as handle:
        handle.visititems(lambda name, obj: found.append(
            (name, dict(obj.attrs)) if isinstance(obj, h5py.Group) else (name, obj.shape)))
    return found


def test_feature_space_files_have_keras_layout_and_load_both_ways(tmp_path):
    k = import_keras()

    def space(lib):
        fs = lib.utils.FeatureSpace
        return fs({"rate": fs.float_rescaled(scale=2.0), "plain": "float"},
                  output_mode="concat")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns that the space is not built yet
        space(k).save(str(tmp_path / "k.keras"))
    space(keras).save(str(tmp_path / "x.keras"))
    assert _h5_layout(tmp_path / "x.keras") == _h5_layout(tmp_path / "k.keras")
    # Keras on torch cannot call a FeatureSpace (it needs TensorFlow); tensorflux reads its
    # file: the features concatenated in sorted-name order, `rate` scaled by 2.
    restored = keras.models.load_model(str(tmp_path / "k.keras"))
    rate, plain = np.array([0.1, 0.5], "float32"), np.array([5.0, 6.0], "float32")
    assert_matches(restored({"rate": rate, "plain": plain}),
                   np.stack([plain, 2.0 * rate], axis=1).astype(np.float64), rtol=1e-6)


# Recorded from Keras 3.15.1 with TensorFlow 2.21 (FeatureSpace.adapt needs TensorFlow):
# the groups of model.weights.h5 for the space below; the preprocessors sit under
# `preprocessors/<layer class>`, since Keras's walk skips Feature.preprocessor.
RECORDED_LAYOUT = [
    "concat", "concat/vars", "crossers", "crossers/hashed_crossing",
    "crossers/hashed_crossing/vars", "one_hot_encoders",
    *[f"one_hot_encoders/category_encoding{s}{v}" for s in ("", "_1", "_2", "_3", "_4")
      for v in ("", "/vars")],
    "preprocessors", "preprocessors/discretization", "preprocessors/discretization/vars",
    "preprocessors/hashing", "preprocessors/hashing/vars", "preprocessors/integer_lookup",
    "preprocessors/integer_lookup/vars", "preprocessors/normalization",
    "preprocessors/normalization/vars", "preprocessors/normalization/vars/0",
    "preprocessors/normalization/vars/1", "preprocessors/normalization/vars/2",
    "preprocessors/rescaling", "preprocessors/rescaling/vars", "preprocessors/string_lookup",
    "preprocessors/string_lookup/vars", "preprocessors/tfd_identity",
    "preprocessors/tfd_identity/vars", "vars"]
RECORDED_ASSETS = ["assets/preprocessors/integer_lookup/vocabulary.txt",
                   "assets/preprocessors/string_lookup/vocabulary.txt"]


def test_adapted_feature_space_file_layout_is_keras_tf_one(tmp_path):
    import tensorflux as tf

    fs = keras.utils.FeatureSpace
    data = {"num": np.array([1.0, 2.0, 3.0, 4.0], "float32"),
            "age": np.array([10.0, 20.0, 30.0, 40.0], "float32"),
            "cat": np.array(["a", "b", "a", "c"]), "code": np.array([1, 2, 2, 3], "int32"),
            "rate": np.array([0.1, 0.5, 0.7, 0.9], "float32"),
            "h": np.array(["x", "y", "z", "x"]), "plain": np.array([5.0, 6, 7, 8], "float32")}
    space = fs({"num": fs.float_normalized(), "age": fs.float_discretized(num_bins=3),
                "cat": fs.string_categorical(), "code": fs.integer_categorical(),
                "rate": fs.float_rescaled(scale=2.0), "h": fs.string_hashed(num_bins=4),
                "plain": "float"},
               crosses=[fs.cross(("cat", "code"), crossing_dim=8)], output_mode="concat")
    space.adapt(tf.data.Dataset.from_tensor_slices(data).batch(2))
    space.save(str(tmp_path / "fs.keras"))
    assert [name for name, _ in _h5_layout(tmp_path / "fs.keras")] == RECORDED_LAYOUT
    with zipfile.ZipFile(tmp_path / "fs.keras") as archive:
        assert sorted(n for n in archive.namelist() if n.startswith("assets/")) == \
            RECORDED_ASSETS


# ---------------------------------------------------------------- subclassed Model.build
def test_default_build_of_a_subclassed_model_creates_no_weights_and_warns():
    k = import_keras()

    def outcome(lib, own_build):
        class Net(lib.Model):
            def __init__(self):
                super().__init__(name="net")
                self.a = lib.layers.Dense(4)

            def call(self, x):
                return self.a(x)

        class NetWithBuild(Net):
            def build(self, input_shape):
                super().build(input_shape)  # Keras 3: creates no weights, and no warning

        model = NetWithBuild() if own_build else Net()
        (_, messages) = _outcome(lambda: model.build((None, 3)))
        built = (model.built, len(model.weights), model.a.built)
        called = tuple(model(np.ones((2, 3), "float32")).shape)
        return built, called, len(model.weights), messages

    for own_build in (False, True):
        ours, theirs = outcome(keras, own_build), outcome(k, own_build)
        assert ours == theirs
        assert ours[0] == (True, 0, False) and ours[2] == 2
    assert "does not have a `build()` method implemented" in outcome(keras, False)[3][0]


# ---------------------------------------------------------------- variable names and paths
def test_metric_and_optimizer_variables_have_keras_names_and_paths():
    k = import_keras()

    def names(lib, scope):
        class Block(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.early = lib.metrics.Mean(name="early")

            def build(self, shape):
                self.late = lib.metrics.Mean(name="late")
                self.opt = lib.optimizers.SGD(momentum=0.9)
                self.w = self.add_weight(shape=(2,))

            def call(self, x):
                return x

        block = Block(name="block")
        block(np.ones((1, 2), "float32"))
        block.opt.build([block.w])
        dense = lib.layers.Dense(2, name="dd")
        dense.build((None, 3))
        adam = lib.optimizers.Adam(amsgrad=True)
        adam.build(dense.trainable_variables)
        with scope("outer"):
            scoped = [lib.metrics.Mean(), lib.optimizers.RMSprop()]
            scoped[1].build([dense.kernel])
        found = [block.early, block.late, block.opt, adam, lib.metrics.AUC(num_thresholds=3),
                 lib.metrics.Precision(name="a/b"), *scoped]
        return [[(v.name, v.path) for v in obj.variables] for obj in found]

    assert names(keras, name_scope) == names(k, k.name_scope)
    assert names(keras, name_scope)[0] == [("total", "early/total"), ("count", "early/count")]


def test_compiled_model_metric_variables_are_named_as_keras():
    k = import_keras()

    def names(lib):
        x = lib.Input((3,))
        model = lib.Model(x, lib.layers.Dense(1)(x))
        model.compile("adam", "mse", metrics=["mae", lib.metrics.RootMeanSquaredError()])
        model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)
        return ([(v.name, v.path) for v in model.metrics_variables],
                [(v.name, v.path) for v in model.optimizer.variables])

    assert names(keras) == names(k)


# ---------------------------------------------------------------- keras.Input shapes
@pytest.mark.parametrize("kwargs", [{"shape": 4}, {"shape": 4.0}, {"shape": "4"},
                                    {"batch_shape": 4}, {"shape": (4.0,)}, {"shape": (-1,)},
                                    {"shape": (4,), "batch_size": 2.5}])
def test_input_refuses_what_keras_refuses(kwargs):
    k = import_keras()
    with pytest.raises(ValueError) as theirs:
        k.Input(**kwargs)
    with pytest.raises(ValueError) as ours:
        keras.Input(**kwargs)
    assert str(ours.value) == str(theirs.value)


def test_input_takes_what_keras_takes():
    k = import_keras()
    for kwargs in ({"shape": [4]}, {"shape": (None,)}, {"shape": (0,)},
                   {"shape": (np.int64(3),), "batch_size": 2}):
        assert keras.Input(**kwargs).shape == k.Input(**kwargs).shape


# ---------------------------------------------------------------- EinsumDense static shape
@pytest.mark.parametrize("equation,output_shape,bias_axes,input_shape", [
    ("abc,cd->abd", (None, 3), "d", (5, 4)),
    ("abc,cd->abd", (5, 3), "d", (5, 4)),
    ("ab,bc->ac", 3, "c", (4,)),
    ("abc,cde->abde", (None, 2, 3), "de", (5, 4)),
    ("...b,bc->...c", 3, None, (5, 4)),
    ("abcd,cde->abe", (None, 3), "e", (7, 2, 4)),
    ("btd,ndh->btnh", (None, 2, 8), "nh", (5, 4)),
])
def test_einsum_dense_symbolic_shape_is_keras_one(equation, output_shape, bias_axes,
                                                  input_shape):
    k = import_keras()

    def shapes(lib):
        x = lib.Input(input_shape)
        y = lib.layers.EinsumDense(equation, output_shape=output_shape, bias_axes=bias_axes)(x)
        return tuple(y.shape), tuple(lib.Model(x, y).output_shape)

    expected = shapes(k)
    assert shapes(keras) == expected
    # The values keep their real shape, which the symbolic one leaves partly unknown.
    layer = keras.layers.EinsumDense(equation, output_shape=output_shape, bias_axes=bias_axes)
    eager = tuple(layer(np.ones((2, *input_shape), "float32")).shape)
    assert len(eager) == len(expected[0])
    assert all(d is None or d == e for d, e in zip(expected[0][1:], eager[1:]))


# ---------------------------------------------------------------- add_metric, custom losses
def test_add_metric_raises_keras_migration_error():
    k = import_keras()
    with pytest.raises(NotImplementedError) as theirs:
        k.layers.Layer().add_metric(1.0)
    with pytest.raises(NotImplementedError) as ours:
        keras.layers.Layer().add_metric(1.0)
    assert str(ours.value) == str(theirs.value)


def test_loading_an_unregistered_custom_loss_raises_keras_type_error(tmp_path):
    k = import_keras()

    def custom_loss(y, p):
        return k.ops.mean(k.ops.square(y - p))

    x = k.Input((4,))
    model = k.Model(x, k.layers.Dense(2)(x))
    model.compile("adam", loss=custom_loss)
    path = str(tmp_path / "m.keras")
    model.save(path)
    del custom_loss
    with pytest.raises(TypeError) as theirs:
        k.models.load_model(path)
    with pytest.raises(TypeError) as ours:
        keras.models.load_model(path)
    # Keras's type and opening words; ours then says how to register it (and that tensorflux
    # never imports what a file names).
    opening = "Could not locate function 'custom_loss'"
    assert str(theirs.value).startswith(opening) and str(ours.value).startswith(opening)


# ---------------------------------------------------------------- dataset_from_directory
def test_dataset_from_directory_errors_match_keras(tmp_path):
    k = import_keras()
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    (tmp_path / "empty" / "b").mkdir()
    cases = [(tmp_path / "missing", {}), (tmp_path / "file.txt", {}),
             (tmp_path / "missing", {"labels": None}), (tmp_path / "empty", {}),
             (tmp_path / "empty", {"validation_split": 0.5, "subset": "both", "seed": 1})]

    def errors(lib):
        found = []
        for function in (lib.utils.image_dataset_from_directory,
                         lib.utils.text_dataset_from_directory):
            for directory, kwargs in cases:
                found.append(_outcome(lambda f=function, d=directory, kw=kwargs: f(
                    str(d), verbose=False, **kw))[0])
        return found

    ours = errors(keras)
    assert ours == errors(k)
    assert [kind for kind, _ in ours[:2]] == ["FileNotFoundError", "NotADirectoryError"]
