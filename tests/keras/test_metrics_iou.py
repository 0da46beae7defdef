"""keras.metrics' IoU family and correlation metrics against real Keras 3: results over several
update_state calls (with and without sample weights), configs, names, directions, and use in
compile/fit/evaluate."""

import warnings

import numpy as np
import pytest

from tensorflux import keras
from tensorflux.keras import metrics
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = [pytest.mark.keras_oracle,
              pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]

RNG = np.random.default_rng(7)


def _batches(kind, count=3):
    """(y_true, y_pred, sample_weight) batches for a metric kind; weights are integers where
    the metric's default integer dtype would truncate fractional ones."""
    out = []
    for _ in range(count):
        if kind == "sparse":
            y_true = RNG.integers(-1, 5, size=(4, 6))  # -1 and 4 fall outside 4 classes
            y_pred = RNG.integers(0, 4, size=(4, 6))
            weight = RNG.integers(0, 4, size=(4, 6))
        elif kind == "onehot":
            y_true = np.eye(4)[RNG.integers(0, 4, size=(8,))]
            y_pred = RNG.random((8, 4)).astype("float32")
            weight = RNG.integers(0, 4, size=(8,))
        elif kind == "binary":
            y_true = RNG.integers(0, 2, size=(10, 1))
            y_pred = RNG.random((10, 1)).astype("float32")
            weight = RNG.integers(0, 3, size=(10, 1))
        else:  # regression
            y_true = RNG.normal(size=(6, 5)).astype("float32")
            y_pred = (y_true + RNG.normal(scale=0.7, size=(6, 5))).astype("float32")
            weight = RNG.random(6).astype("float32")
        out.append((y_true, y_pred, weight))
    return out


CASES = [
    ("IoU", dict(num_classes=4, target_class_ids=[0, 2]), "sparse"),
    ("IoU", dict(num_classes=4, target_class_ids=[3], ignore_class=1), "sparse"),
    ("IoU", dict(num_classes=4, target_class_ids=[1, 2], sparse_y_pred=False), "onehot_pred"),
    ("MeanIoU", dict(num_classes=4), "sparse"),
    ("MeanIoU", dict(num_classes=4, ignore_class=0, dtype="float32"), "sparse"),
    ("MeanIoU", dict(num_classes=4, sparse_y_true=False, sparse_y_pred=False), "onehot"),
    ("BinaryIoU", dict(), "binary"),
    ("BinaryIoU", dict(target_class_ids=[1], threshold=0.3), "binary"),
    ("BinaryIoU", dict(target_class_ids=[0], threshold=0.7, dtype="float32"), "binary"),
    ("OneHotIoU", dict(num_classes=4, target_class_ids=[0, 3]), "onehot"),
    ("OneHotIoU", dict(num_classes=4, target_class_ids=[1], ignore_class=2), "onehot"),
    ("OneHotMeanIoU", dict(num_classes=4), "onehot"),
    ("OneHotMeanIoU", dict(num_classes=4, dtype="float64"), "onehot"),
    ("PearsonCorrelation", dict(), "regression"),
    ("PearsonCorrelation", dict(axis=0), "regression_axis0"),
    ("ConcordanceCorrelation", dict(), "regression"),
    ("ConcordanceCorrelation", dict(axis=0, dtype="float64"), "regression_axis0"),
]


def _data(kind):
    if kind == "onehot_pred":  # sparse labels, one-hot-like (probability) predictions
        return [(np.argmax(t, -1), p, w) for t, p, w in _batches("onehot")]
    if kind == "regression_axis0":  # one value per column: one weight per column
        return [(t, p, RNG.random(t.shape[1]).astype("float32"))
                for t, p, _ in _batches("regression")]
    return _batches(kind)


@pytest.mark.parametrize("class_name, kwargs, kind", CASES)
@pytest.mark.parametrize("weighted", [False, True])
def test_results_match_keras_over_several_updates(class_name, kwargs, kind, weighted):
    k = import_keras()
    ours = getattr(metrics, class_name)(**kwargs)
    theirs = getattr(k.metrics, class_name)(**kwargs)
    for y_true, y_pred, weight in _data(kind):
        sample_weight = weight if weighted else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours.update_state(y_true, y_pred, sample_weight=sample_weight)
            theirs.update_state(y_true, y_pred, sample_weight=sample_weight)
        assert_matches(ours.result(), theirs.result(), rtol=1e-5, atol=1e-6,
                       what=f"{class_name}({kwargs}) result")
        if hasattr(theirs, "total_cm"):
            assert_matches(ours.total_cm, theirs.total_cm, what="confusion matrix")
    ours.reset_state()
    theirs.reset_state()
    for ours_var, their_var in zip(ours.variables, theirs.variables):
        assert_matches(ours_var, their_var, what="state after reset_state")


def test_fractional_weights_truncate_under_the_default_integer_dtype_with_a_warning():
    k = import_keras()
    y_true, y_pred = [0, 0, 1, 1], [0, 1, 0, 1]
    weight = np.array([0.3, 2.7, 1.0, 0.5])
    ours, theirs = metrics.MeanIoU(num_classes=2), k.metrics.MeanIoU(num_classes=2)
    with pytest.warns(UserWarning):
        ours.update_state(y_true, y_pred, sample_weight=weight)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs.update_state(y_true, y_pred, sample_weight=weight)
    assert_matches(ours.total_cm, theirs.total_cm, what="truncated confusion matrix")
    assert_matches(ours.result(), theirs.result(), what="result")


def _normalized_dtype(config):
    # Keras's "int" default is int32 on its torch backend, int64 on TensorFlow's; we use int64.
    return {key: ("int" if key == "dtype" and str(value).startswith("int") else value)
            for key, value in config.items()}


@pytest.mark.parametrize("class_name, kwargs, kind", CASES)
def test_config_direction_and_round_trip_match_keras(class_name, kwargs, kind):
    k = import_keras()
    kwargs = dict(kwargs, name="m")
    ours = getattr(metrics, class_name)(**kwargs)
    theirs = getattr(k.metrics, class_name)(**kwargs)
    config = ours.get_config()
    assert _normalized_dtype(config) == _normalized_dtype(theirs.get_config())
    assert list(config) == list(theirs.get_config())
    assert ours._direction == theirs._direction == "up"
    clone = type(ours).from_config(config)
    assert clone.get_config() == config
    restored = metrics.deserialize(metrics.serialize(ours))
    assert type(restored) is type(ours) and restored.get_config() == config
    # Keras reads our config.
    assert _normalized_dtype(getattr(k.metrics, class_name).from_config(config).get_config()) \
        == _normalized_dtype(config)


def test_default_names_and_dtypes_follow_keras():
    k = import_keras()
    pairs = [(metrics.IoU(3, [0]), k.metrics.IoU(3, [0])),
             (metrics.MeanIoU(3), k.metrics.MeanIoU(3)),
             (metrics.BinaryIoU(), k.metrics.BinaryIoU()),
             (metrics.OneHotIoU(3, [1]), k.metrics.OneHotIoU(3, [1])),
             (metrics.OneHotMeanIoU(3), k.metrics.OneHotMeanIoU(3)),
             (metrics.PearsonCorrelation(), k.metrics.PearsonCorrelation()),
             (metrics.ConcordanceCorrelation(), k.metrics.ConcordanceCorrelation())]
    for ours, theirs in pairs:
        assert ours.name == theirs.name
        assert ours.dtype[:3] == theirs.dtype[:3]


@pytest.mark.parametrize("identifier", ["binary_io_u", "BinaryIoU", "pearson_correlation",
                                        "PearsonCorrelation", "concordance_correlation",
                                        "ConcordanceCorrelation"])
def test_string_identifiers_resolve_as_in_keras(identifier):
    k = import_keras()
    assert type(metrics.get(identifier)).__name__ == type(k.metrics.get(identifier)).__name__


@pytest.mark.parametrize("identifier", ["IoU", "MeanIoU", "one_hot_io_u", "OneHotMeanIoU"])
def test_string_identifiers_needing_num_classes_fail_as_in_keras(identifier):
    k = import_keras()
    with pytest.raises(TypeError):
        k.metrics.get(identifier)
    with pytest.raises(TypeError):
        metrics.get(identifier)


def test_correlation_functions_match_keras():
    k = import_keras()
    for y_true, y_pred, _ in _batches("regression", 2):
        for axis in (-1, 0):
            assert_matches(metrics.pearson_correlation(y_true, y_pred, axis=axis),
                           k.metrics.pearson_correlation(y_true, y_pred, axis=axis),
                           rtol=1e-5, what="pearson_correlation")
            assert_matches(metrics.concordance_correlation(y_true, y_pred, axis=axis),
                           k.metrics.concordance_correlation(y_true, y_pred, axis=axis),
                           rtol=1e-5, what="concordance_correlation")


def test_target_class_out_of_range_is_refused():
    k = import_keras()
    with pytest.raises(ValueError):
        k.metrics.IoU(num_classes=2, target_class_ids=[2])
    with pytest.raises(ValueError, match="out of range"):
        metrics.IoU(num_classes=2, target_class_ids=[2])


def _compiled(k, weights=None):
    inputs = k.Input((5,), name="x")
    classes = k.layers.Dense(3, activation="softmax", name="cls")(inputs)
    values = k.layers.Dense(4, name="reg")(inputs)
    model = k.Model(inputs, {"cls": classes, "reg": values}, name="two_heads")
    if weights is not None:
        model.set_weights(weights)
    model.compile(
        optimizer="sgd", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
        metrics={"cls": [k.metrics.MeanIoU(3, sparse_y_pred=False, name="miou"),
                         k.metrics.IoU(3, [1, 2], sparse_y_pred=False, name="iou")],
                 "reg": [k.metrics.PearsonCorrelation(name="pcc"), "concordance_correlation"]},
        weighted_metrics={"cls": [k.metrics.MeanIoU(3, sparse_y_pred=False,
                                                    dtype="float32", name="wmiou")]})
    return model


def test_compile_evaluate_and_fit_match_keras():
    k = import_keras()
    x = RNG.normal(size=(48, 5)).astype("float32")
    y = {"cls": RNG.integers(0, 3, size=(48,)),
         "reg": RNG.normal(size=(48, 4)).astype("float32")}
    sample_weight = {"cls": RNG.random(48).astype("float32"), "reg": np.ones(48, "float32")}
    theirs = _compiled(k)
    weights = [RNG.normal(size=w.shape).astype("float32") for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours = _compiled(keras, weights)
    for kwargs in ({}, {"sample_weight": sample_weight}):
        expected = theirs.evaluate(x, y, batch_size=16, verbose=0, return_dict=True, **kwargs)
        got = ours.evaluate(x, y, batch_size=16, verbose=0, return_dict=True, **kwargs)
        assert sorted(got) == sorted(expected)
        for key in expected:
            assert_matches(got[key], expected[key], rtol=1e-4, atol=1e-5, what=key)
    expected = theirs.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False).history
    got = ours.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False).history
    assert sorted(got) == sorted(expected)
    for key in expected:
        assert_matches(got[key], expected[key], rtol=1e-3, atol=1e-4, what=key)
