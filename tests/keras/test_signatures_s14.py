"""Session 14 signature sweep of the Keras API (/tmp/s14/h1/sweep.py compares every public
callable's inspect.signature with real Keras 3): the mismatches that change what a Keras script
does, each called in the form Keras accepts (positional order, keyword name, default) on both
libraries with the same inputs and weights."""

import inspect

import numpy as np
import pytest

from tensorflux import keras
from tests.keras._oracle import (
    assert_matches,
    fresh_names,  # noqa: F401 - the auto-name reset, used as a fixture
    import_keras,
    raised_by_both,
    to_numpy,
)

pytestmark = pytest.mark.keras_oracle


def _params(obj):
    """(name, kind, default) of each parameter but self/cls and private ones, in order."""
    return [(p.name, p.kind, repr(p.default)) for p in inspect.signature(obj).parameters.values()
            if p.name not in ("self", "cls") and not p.name.startswith("_")]


# ------------------------------------------------------------------ 1. signatures themselves

_SAME_SIGNATURE = [
    # generated Loss and Metric classes (their __init__ is *args, **kwargs underneath)
    "losses.BinaryCrossentropy", "losses.BinaryFocalCrossentropy",
    "losses.CategoricalCrossentropy", "losses.CategoricalFocalCrossentropy", "losses.CTC",
    "losses.CategoricalHinge", "losses.Circle", "losses.CosineSimilarity", "losses.Dice",
    "losses.Hinge", "losses.Huber", "losses.KLDivergence", "losses.LogCosh",
    "losses.MeanAbsoluteError", "losses.MeanSquaredError", "losses.Poisson",
    "losses.SquaredHinge", "losses.Tversky",
    "metrics.Accuracy", "metrics.BinaryAccuracy", "metrics.BinaryCrossentropy",
    "metrics.CategoricalCrossentropy", "metrics.ConcordanceCorrelation",
    "metrics.CosineSimilarity", "metrics.LogCoshError", "metrics.PearsonCorrelation",
    "metrics.SparseCategoricalCrossentropy",
    # optimizers: the base arguments after their own
    "optimizers.Adadelta", "optimizers.Adafactor", "optimizers.Adagrad", "optimizers.Adam",
    "optimizers.AdamW", "optimizers.Adamax", "optimizers.Ftrl", "optimizers.Lamb",
    "optimizers.Lion", "optimizers.Nadam", "optimizers.ScheduleFreeAdamW",
    # positional order and names
    "layers.BatchNormalization", "layers.IntegerLookup", "layers.StringLookup",
    "layers.TextVectorization", "ops.det", "ops.inv", "ops.multi_hot",
    "ops.rms_normalization", "ops.scatter_update", "utils.split_dataset",
    "utils.image_dataset_from_directory", "utils.text_dataset_from_directory",
    "saving.save_weights", "dtype_policies.serialize", "quantizers.serialize",
]


def _resolve(root, dotted):
    for part in dotted.split("."):
        root = getattr(root, part)
    return root


@pytest.mark.parametrize("name", _SAME_SIGNATURE)
def test_signature_matches_keras(name):
    k = import_keras()
    assert _params(_resolve(keras, name)) == _params(_resolve(k, name))


@pytest.mark.parametrize("cls, method", [
    ("Model", "export"), ("layers.RMSNormalization", "call"),
    ("optimizers.MultiOptimizer", "build"),
])
def test_method_signature_matches_keras(cls, method):
    k = import_keras()
    ours, theirs = (getattr(_resolve(root, cls), method) for root in (keras, k))
    assert _params(ours) == _params(theirs)


# ------------------------------------------------------------------ 2. losses and metrics

_Y_TRUE = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], "float32")
_Y_PRED = np.array([[0.7, 0.2, 0.6], [0.1, 0.8, 0.4]], "float32")


@pytest.mark.parametrize("name, args", [
    # Dice and Tversky take `axis` after `reduction` and `name` (it was first here)
    ("Dice", ("sum", "d", (1,))),
    ("Dice", ("none", "d", (1,))),
    ("Tversky", (0.3, 0.7, "none", "t", (1,))),
    ("BinaryCrossentropy", (True, 0.1, -1, "sum")),
    ("BinaryFocalCrossentropy", (True, 0.5, 3.0, False, 0.1, -1, "none")),
    ("CategoricalCrossentropy", (False, 0.2, -1, "sum")),
    ("Huber", (0.5, "none")),
])
def test_loss_positional_arguments_match_keras(name, args):
    k = import_keras()
    ours = getattr(keras.losses, name)(*args)
    theirs = getattr(k.losses, name)(*args)
    assert ours.name == theirs.name
    assert_matches(ours(_Y_TRUE, _Y_PRED), theirs(_Y_TRUE, _Y_PRED), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, args", [
    ("BinaryAccuracy", ("acc", None, 0.65)),
    ("BinaryCrossentropy", ("bce", None, True, 0.1)),
    ("CategoricalCrossentropy", ("cce", None, False, 0.2, -1)),
    ("CosineSimilarity", ("cos", None, 0)),
])
def test_metric_positional_arguments_match_keras(name, args):
    k = import_keras()
    ours, theirs = getattr(keras.metrics, name)(*args), getattr(k.metrics, name)(*args)
    ours.update_state(_Y_TRUE, _Y_PRED)
    theirs.update_state(_Y_TRUE, _Y_PRED)
    assert ours.name == theirs.name
    assert_matches(ours.result(), theirs.result(), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ 3. optimizers

@pytest.mark.parametrize("name, args", [
    # own arguments, then weight_decay, clipnorm positionally
    ("Adam", (0.1, 0.9, 0.999, 1e-7, False, 0.5, 0.3)),
    ("Adamax", (0.1, 0.9, 0.999, 1e-7, 0.5, 0.3)),
    ("Nadam", (0.1, 0.9, 0.999, 1e-7, 0.5, 0.3)),
    ("Adagrad", (0.1, 0.1, 1e-7, 0.5, 0.3)),
    ("Adadelta", (1.0, 0.95, 1e-7, 0.5, 0.3)),
    ("Lion", (0.1, 0.9, 0.99, 0.5, 0.3)),
    ("Lamb", (0.1, 0.9, 0.999, 1e-7, 0.5, 0.3)),
    ("Ftrl", (0.1, -0.5, 0.1, 0.01, 0.01, 0.0, 0.0, 0.5, 0.3)),
    # AdamW's weight_decay is its own second argument; clipnorm, clipvalue follow amsgrad
    ("AdamW", (0.1, 0.2, 0.9, 0.999, 1e-7, False, None, 0.05)),
    # ... up to `name`, the last base argument
    ("Adam", (0.1, 0.9, 0.999, 1e-7, False, None, None, None, 0.4, False, 0.99, None, None,
              None, "opt")),
])
def test_optimizer_base_arguments_by_position_match_keras(name, args):
    k = import_keras()
    start = np.array([1.0, -2.0, 3.0], "float32")
    gradient = np.array([0.5, 4.0, -1.5], "float32")
    ours_opt, theirs_opt = getattr(keras.optimizers, name)(*args), getattr(k.optimizers,
                                                                           name)(*args)
    ours_var, theirs_var = keras.Variable(start), k.Variable(start)
    for _ in range(2):
        ours_opt.apply_gradients([(keras.ops.convert_to_tensor(gradient), ours_var)])
        theirs_opt.apply_gradients([(k.ops.convert_to_tensor(gradient), theirs_var)])
    assert_matches(ours_var, theirs_var, rtol=1e-5, atol=1e-6)
    for attribute in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "name"):
        assert getattr(ours_opt, attribute) == getattr(theirs_opt, attribute), attribute


def test_optimizer_too_many_positional_arguments_is_a_type_error_as_in_keras():
    args = (0.1, 0.9, 0.999, 1e-7, False) + (None,) * 9 + ("opt", "one too many")
    ours, theirs = raised_by_both(lambda k: k.optimizers.Adam(*args))
    assert isinstance(ours, TypeError) and isinstance(theirs, TypeError), repr(ours)


def test_optimizer_argument_given_twice_is_a_type_error_as_in_keras():
    ours, theirs = raised_by_both(
        lambda k: k.optimizers.Lion(0.1, 0.9, 0.99, 0.5, weight_decay=0.5))
    assert isinstance(ours, TypeError) and isinstance(theirs, TypeError), repr(ours)
    assert "weight_decay" in str(ours)


def test_multi_optimizer_build_takes_var_list_by_keyword():
    k = import_keras()
    results = []
    for lib in (keras, k):
        w = lib.Variable(np.array([1.0, 2.0], "float32"), name="w")
        sgd = lib.optimizers.SGD(0.5)
        opt = lib.optimizers.MultiOptimizer(lambda variable, sgd=sgd: sgd)
        opt.build(var_list=[w])
        opt.apply_gradients([(lib.ops.convert_to_tensor(np.array([1.0, -2.0], "float32")),
                              w)])
        results.append(to_numpy(w))
    assert_matches(*results)


# ------------------------------------------------------------------ 4. layers

def test_batch_normalization_positional_renorm_matches_keras():
    # Keras's order ends renorm, renorm_clipping, renorm_momentum, synchronized: the 14th
    # positional argument is `renorm` (it was `synchronized` here).
    k = import_keras()
    args = (-1, 0.9, 1e-3, True, True, "zeros", "ones", "zeros", "ones", None, None, None,
            None, True, None, 0.5)
    x = np.random.default_rng(0).normal(size=(6, 3)).astype("float32") * 3 + 1
    ours, theirs = keras.layers.BatchNormalization(*args), k.layers.BatchNormalization(*args)
    assert ours.renorm and ours.renorm_momentum == 0.5 and not ours.synchronized
    assert_matches(ours(x, training=True), theirs(x, training=True), rtol=1e-5, atol=1e-5)
    for a, b in zip(ours.weights, theirs.weights):
        assert_matches(a, b, rtol=1e-5, atol=1e-6, what=b.path)


# (Keras's lookup layers need TensorFlow, absent here: their positional order is checked
# against Keras's signature above, their results against Keras's documented rule: index 0
# is the one OOV bucket, then the vocabulary in order.)

def test_integer_lookup_positional_vocabulary():
    # Keras: (max_tokens, num_oov_indices, mask_token, oov_token, vocabulary,
    # vocabulary_dtype, idf_weights, invert, output_mode, ...)
    layer = keras.layers.IntegerLookup(None, 1, None, -1, [12, 36, 7], "int64", None, False,
                                       "one_hot")
    assert layer.get_vocabulary() == [-1, 12, 36, 7]
    expected = np.eye(4, dtype="float32")[[2, 0, 1, 3]]
    assert_matches(layer(np.array([36, 5, 12, 7])), expected)


@pytest.mark.parametrize("layer, args", [
    ("StringLookup", (None, 1, None, "[UNK]", ["a", "b"], None, False, "int", False, False,
                      "utf-8", "lookup_by_position")),
    ("TextVectorization", (None, "lower_and_strip_punctuation", "whitespace", None, "int",
                           None, False, ["a", "b"], None, False, False, "utf-8",
                           "vectorize_by_position")),
])
def test_layer_name_by_position(layer, args):
    made = getattr(keras.layers, layer)(*args)
    assert made.name == args[-1]
    assert made.get_vocabulary()[-2:] == ["a", "b"]


def test_rms_normalization_layer_takes_its_input_as_x():
    k = import_keras()
    x = np.arange(6, dtype="float32").reshape(2, 3) - 2.0
    assert_matches(keras.layers.RMSNormalization()(x=x), k.layers.RMSNormalization()(x=x))


def test_resizing_refuses_a_fill_mode_keras_refuses():
    images = np.ones((1, 4, 3, 1), "float32")
    ours, theirs = raised_by_both(lambda k: k.layers.Resizing(
        2, 2, pad_to_aspect_ratio=True, fill_mode="reflect")(images))
    assert isinstance(theirs, ValueError) and isinstance(ours, ValueError), repr(ours)
    assert "fill_mode" in str(ours) and "reflect" in str(ours)


def test_optional_input_takes_none_as_in_keras():
    k = import_keras()
    x = np.array([[1.0, 2.0]], "float32")
    results = []
    for lib in (keras, k):
        class AddIfGiven(lib.layers.Layer):
            def call(self, x, y=None):
                return x * 2.0 if y is None else x + y

        a, b = lib.Input((2,)), lib.Input((2,), optional=True)
        model = lib.Model([a, b], AddIfGiven()(a, b))
        results.append((to_numpy(model([x, None])), to_numpy(model([x, x + 1.0]))))
    for ours, theirs in zip(*results):
        assert_matches(ours, theirs)


def test_none_for_a_required_input_is_a_value_error_as_in_keras():
    def build(lib):
        a, b = lib.Input((2,)), lib.Input((2,), name="second")
        model = lib.Model([a, b], lib.layers.Add()([a, b]))
        model([np.ones((1, 2), "float32"), None])

    ours, theirs = raised_by_both(build)
    assert isinstance(theirs, ValueError) and isinstance(ours, ValueError), repr(ours)
    assert "'second' is not optional" in str(ours)


# ------------------------------------------------------------------ 5. ops

@pytest.mark.parametrize("reduction", [None, "add", "max", "min", "mul", "MUL"])
@pytest.mark.parametrize("indices, updates", [
    ([[0, 1], [0, 1], [1, 2]], np.arange(12, dtype="float32").reshape(3, 4) - 3.0),
    ([[0, 1, 2], [0, 1, 2], [1, 0, 3]], np.array([2.0, -3.0, 4.0], "float32")),
])
def test_scatter_update_reduction_matches_keras(reduction, indices, updates):
    k = import_keras()
    inputs = np.arange(24, dtype="float32").reshape(2, 3, 4) - 5.0
    if reduction is None:  # (duplicates: last write wins in Keras; keep them apart here)
        indices, updates = indices[1:], updates[1:]
    assert_matches(keras.ops.scatter_update(inputs, indices, updates, reduction=reduction),
                   k.ops.scatter_update(inputs, indices, updates, reduction=reduction))


def test_scatter_update_unknown_reduction_is_a_value_error_as_in_keras():
    ours, theirs = raised_by_both(lambda k: k.ops.scatter_update(
        np.zeros(3, "float32"), [[0]], np.ones(1, "float32"), reduction="avg"))
    assert isinstance(theirs, ValueError) and isinstance(ours, ValueError), repr(ours)
    assert "avg" in str(ours)


def test_det_and_inv_take_x_by_keyword():
    k = import_keras()
    a = np.array([[4.0, 1.0], [2.0, 3.0]], "float32")
    assert_matches(keras.ops.det(x=a), k.ops.det(x=a), rtol=1e-5)
    assert_matches(keras.ops.inv(x=a), k.ops.inv(x=a), rtol=1e-5)


def test_multi_hot_num_tokens_and_missing_num_classes_as_in_keras():
    k = import_keras()
    data = np.array([[0, 3], [1, 1]], "int32")
    assert_matches(keras.ops.multi_hot(data, num_tokens=5), k.ops.multi_hot(data, num_tokens=5))
    ours, theirs = raised_by_both(lambda lib: lib.ops.multi_hot(data))
    assert isinstance(theirs, ValueError) and isinstance(ours, ValueError), repr(ours)
    assert "num_classes" in str(ours)


def test_rms_normalization_without_scale_matches_keras():
    k = import_keras()
    x = np.array([[1.0, -2.0, 3.0], [0.5, 0.0, -4.0]], "float32")
    assert_matches(keras.ops.rms_normalization(x), k.ops.rms_normalization(x), rtol=1e-5)
    scale = np.array([2.0, 0.5, -1.0], "float32")
    assert_matches(keras.ops.rms_normalization(x, scale), k.ops.rms_normalization(x, scale),
                   rtol=1e-5)


# ------------------------------------------------------------------ 6. utils and saving

def test_dataset_from_directory_format(tmp_path):
    for name, text in (("a", "one"), ("b", "two")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "0.txt").write_text(text)
    default = keras.utils.text_dataset_from_directory(tmp_path, shuffle=False, verbose=False)
    tf_format = keras.utils.text_dataset_from_directory(tmp_path, shuffle=False,
                                                        format="tf", verbose=False)
    assert [list(map(to_numpy, b)) for b in default][0][1].tolist() == \
        [list(map(to_numpy, b)) for b in tf_format][0][1].tolist() == [0, 1]
    for fn in (keras.utils.text_dataset_from_directory,
               keras.utils.image_dataset_from_directory):
        with pytest.raises(ValueError, match="grain"):
            fn(tmp_path, format="grain")
    # an unknown format: a ValueError in both (Keras checks it before reading anything)
    ours, theirs = raised_by_both(
        lambda k: k.utils.image_dataset_from_directory(tmp_path, format="torch"))
    assert isinstance(theirs, ValueError) and isinstance(ours, ValueError), repr(ours)
    assert "format" in str(ours)


def test_split_dataset_preferred_backend():
    data = np.arange(10, dtype="float32")
    left, right = keras.utils.split_dataset(data, 0.8, preferred_backend="tensorflow")
    assert [float(to_numpy(v)) for v in left] == list(range(8))
    assert [float(to_numpy(v)) for v in right] == [8.0, 9.0]
    with pytest.raises(ValueError, match="preferred_backend"):
        keras.utils.split_dataset(data, 0.8, preferred_backend="torch")


def test_save_weights_max_shard_size_by_position_is_refused_by_name(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="max_shard_size"):
        keras.saving.save_weights(model, tmp_path / "m.weights.h5", True, 1.0)
    keras.saving.save_weights(model, tmp_path / "m.weights.h5", True, None)
    assert (tmp_path / "m.weights.h5").exists()


def test_serialize_functions_take_keras_argument_names():
    k = import_keras()
    assert keras.dtype_policies.serialize(dtype_policy=keras.DTypePolicy("mixed_float16")) == \
        k.dtype_policies.serialize(dtype_policy=k.DTypePolicy("mixed_float16"))
    assert keras.quantizers.serialize(initializer=keras.quantizers.AbsMaxQuantizer(-1)) == \
        k.quantizers.serialize(initializer=k.quantizers.AbsMaxQuantizer(-1))


# ------------------------------------------------------------------ 7. keras.Variable

@pytest.mark.parametrize("autocast", [True, False])
def test_variable_autocast_flag_is_honoured_in_a_mixed_precision_call(autocast):
    k = import_keras()
    dtypes = []
    for lib in (keras, k):
        class ReadsVariable(lib.layers.Layer):
            def __init__(self, lib=lib):
                super().__init__(dtype="mixed_float16")
                self.v = lib.Variable(np.ones(2, "float32"), dtype="float32",
                                      autocast=autocast)

            def call(self, x):
                return self.v * 1.0

        out = ReadsVariable()(np.ones(2, "float32"))
        dtypes.append(to_numpy(out).dtype)
    assert dtypes[0] == dtypes[1] == np.dtype("float16" if autocast else "float32")
