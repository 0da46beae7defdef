"""keras.wrappers (SKLearnClassifier, SKLearnRegressor, SKLearnTransformer) inside
scikit-learn's tools: clone, Pipeline, GridSearchCV, cross_val_score, metadata routing.

Numbers are checked against real Keras 3.15.1's wrappers (torch backend) fitting models with the
same deterministic weights; shapes, classes_ and errors against sklearn's conventions.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tensorflux import keras
from tests.keras._oracle import (  # noqa: F401
    assert_matches,
    fresh_names,
    import_keras,
)

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

pytestmark = pytest.mark.keras_oracle

# Passed as dict(FIT): Keras's wrapper writes fit()'s keyword arguments into its fit_kwargs.
FIT = {"epochs": 2, "batch_size": 8, "shuffle": False, "verbose": 0}


def _data(n=24, classes=3):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((n, 4)) * 2 + 1  # float64, off-centre: StandardScaler matters
    y = np.argmax(X[:, :classes] + 0.3 * rng.standard_normal((n, classes)), axis=1)
    return X, y


def _set_weights(model, seed=0):
    rng = np.random.RandomState(seed)
    model.set_weights([(rng.standard_normal(w.shape) * 0.5).astype("float32")
                       for w in model.get_weights()])


def _classifier_builder(k):
    """A `model(X, y, **model_kwargs)` callable for framework `k`, with fixed weights."""
    def build(X, y, hidden=4, lr=0.1):
        model = k.Sequential([k.Input((X.shape[1],)), k.layers.Dense(hidden, activation="tanh"),
                              k.layers.Dense(y.shape[1], activation="softmax")])
        _set_weights(model)
        model.compile(k.optimizers.SGD(lr), "categorical_crossentropy")
        return model
    return build


def _regressor_builder(k):
    def build(X, y):
        model = k.Sequential([k.Input((X.shape[1],)), k.layers.Dense(3, activation="tanh"),
                              k.layers.Dense(y.shape[1])])
        _set_weights(model, 1)
        model.compile(k.optimizers.SGD(0.05), "mse")
        return model
    return build


def _both(name, builder, **kwargs):
    """The same wrapper around the same model, from tensorflux and from real Keras."""
    ks = import_keras()
    return (getattr(keras.wrappers, name)(builder(keras), **kwargs),
            getattr(ks.wrappers, name)(builder(ks), **kwargs))


@pytest.mark.parametrize("labels", [None, np.array(["cat", "dog", "emu"])])
def test_classifier_fit_predict_matches_keras(labels):
    """One-hot encoded training, argmax decoding to the original labels (ints or strings),
    classes_, decision_function, score and the History all match Keras's wrapper."""
    X, y = _data()
    y = y if labels is None else labels[y]
    ours, theirs = _both("SKLearnClassifier", _classifier_builder, fit_kwargs=dict(FIT))
    ours.fit(X, y)
    theirs.fit(X, y)
    assert_matches(ours.history_.history["loss"], theirs.history_.history["loss"], rtol=1e-5)
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    assert ours.classes_.dtype == theirs.classes_.dtype
    assert_matches(ours.decision_function(X), theirs.decision_function(X), rtol=1e-5, atol=1e-6)
    predicted = ours.predict(X)
    np.testing.assert_array_equal(predicted, theirs.predict(X))
    assert predicted.shape == (24,) and predicted.dtype == theirs.predict(X).dtype
    assert ours.score(X, y) == theirs.score(X, y)
    assert ours.n_features_in_ == 4 and ours.epoch_ == 2


def test_regressor_and_transformer_match_keras():
    """A regressor's 1-D targets come back 1-D (sklearn's shape), a transformer's outputs
    keep the model's (n, outputs) shape; values and R^2 match Keras."""
    X, y = _data()
    target = X @ np.array([0.5, -1.0, 0.25, 2.0]) / 4
    ours, theirs = _both("SKLearnRegressor", _regressor_builder, fit_kwargs=dict(FIT))
    ours.fit(X, target)
    theirs.fit(X, target)
    assert ours.predict(X).shape == theirs.predict(X).shape == (24,)
    assert_matches(ours.predict(X), theirs.predict(X), rtol=1e-5, atol=1e-6)
    assert ours.score(X, target) == pytest.approx(theirs.score(X, target), rel=1e-5)

    ours, theirs = _both("SKLearnTransformer", _regressor_builder, fit_kwargs=dict(FIT))
    out, expected = ours.fit_transform(X, target), theirs.fit_transform(X, target)
    assert out.shape == (24, 1)
    assert_matches(out, expected, rtol=1e-5, atol=1e-6)


def test_pipeline_with_standard_scaler_matches_keras():
    X, y = _data()
    ours, theirs = _both("SKLearnClassifier", _classifier_builder, fit_kwargs=dict(FIT))
    ours = make_pipeline(StandardScaler(), ours).fit(X, y)
    theirs = make_pipeline(StandardScaler(), theirs).fit(X, y)
    assert_matches(ours.decision_function(X), theirs.decision_function(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_cross_val_score_matches_keras():
    """Each fold fits a clone; fit arguments given to cross_val_score reach model.fit."""
    X, y = _data()
    ours, theirs = _both("SKLearnClassifier", _classifier_builder)
    params = {"epochs": 3, "batch_size": 8, "shuffle": False, "verbose": 0}
    scores = cross_val_score(ours, X, y, cv=KFold(3), params=params)
    assert_matches(scores, cross_val_score(theirs, X, y, cv=KFold(3), params=params))
    assert not hasattr(ours, "model_")  # the folds fitted clones


def test_grid_search_over_model_and_fit_kwargs_matches_keras():
    X, y = _data()
    grid = {"model_kwargs": [{"hidden": 2}, {"hidden": 5, "lr": 0.3}],
            "fit_kwargs": [{"epochs": 1, "verbose": 0, "shuffle": False},
                           {"epochs": 3, "batch_size": 6, "verbose": 0, "shuffle": False}]}
    ours, theirs = _both("SKLearnClassifier", _classifier_builder)
    ours = GridSearchCV(ours, grid, cv=KFold(2)).fit(X, y)
    theirs = GridSearchCV(theirs, grid, cv=KFold(2)).fit(X, y)
    assert_matches(ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"])
    assert ours.best_params_ == theirs.best_params_
    assert ours.best_estimator_.model_.layers[0].units == ours.best_params_["model_kwargs"][
        "hidden"]
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_fit_request_routes_sample_weight_to_model_fit():
    """With sklearn's metadata routing, set_fit_request(sample_weight=True) sends each fold's
    weights to model.fit: the scores equal fitting Keras's wrapper per fold by hand."""
    X, y = _data()
    weights = np.linspace(0.2, 2.0, len(y))
    ks = import_keras()
    with sklearn.config_context(enable_metadata_routing=True):
        ours = keras.wrappers.SKLearnClassifier(_classifier_builder(keras), fit_kwargs=dict(FIT))
        ours.set_fit_request(sample_weight=True)
        scores = cross_val_score(ours, X, y, cv=KFold(2), params={"sample_weight": weights})
    expected = []
    for train, test in KFold(2).split(X):
        theirs = ks.wrappers.SKLearnClassifier(_classifier_builder(ks), fit_kwargs=dict(FIT))
        theirs.fit(X[train], y[train], sample_weight=weights[train])
        expected.append(theirs.score(X[test], y[test]))
    assert_matches(scores, expected)
    with pytest.raises(RuntimeError, match="enable_metadata_routing"):
        ours.set_fit_request(sample_weight=True)


def test_clone_keeps_parameters_and_fit_leaves_them_alone():
    """sklearn's clone contract: same parameters, unfitted. (Keras's own clone drops
    fit_kwargs, and its fit writes fit's arguments into fit_kwargs; both are bugs that made
    GridSearchCV/cross_val_score train with default fit arguments.)"""
    X, y = _data()
    est = keras.wrappers.SKLearnClassifier(_classifier_builder(keras), model_kwargs={"lr": 0.2},
                                           fit_kwargs={"epochs": 2, "verbose": 0})
    est.fit(X, y, batch_size=6)
    assert est.fit_kwargs == {"epochs": 2, "verbose": 0}
    copy = clone(est)
    assert copy.get_params() == est.get_params()
    assert not hasattr(copy, "model_") and not hasattr(copy, "classes_")
    copy.fit(X, y)
    assert len(copy.history_.history["loss"]) == 2


def test_model_instance_is_cloned_and_warm_start_continues_training():
    """Keras's documented warm_start (its 3.15.1 code ignores the flag: every fit starts over
    from a clone or a new model)."""
    X, y = _data()
    model = _classifier_builder(keras)(X, np.eye(3)[y])
    before = [w.copy() for w in model.get_weights()]
    est = keras.wrappers.SKLearnClassifier(model, fit_kwargs=dict(FIT)).fit(X, y)
    assert est.model_ is not model and est.model_.compiled
    for w, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, b)
    est.fit(X, y)
    assert int(est.model_.optimizer.iterations.numpy()) == 6  # a new model: 2 epochs x 3

    warm = keras.wrappers.SKLearnClassifier(_classifier_builder(keras), warm_start=True,
                                            fit_kwargs=dict(FIT)).fit(X, y)
    first = warm.model_
    warm.fit(X, y)
    assert warm.model_ is first and int(first.optimizer.iterations.numpy()) == 12
    # Keras's documented warm_start: the given model itself is trained, not a clone.
    warm = keras.wrappers.SKLearnClassifier(model, warm_start=True, fit_kwargs=dict(FIT))
    assert warm.fit(X, y).model_ is model and int(model.optimizer.iterations.numpy()) == 6


def _raised(call):
    try:
        call()
    except Exception as error:  # noqa: BLE001 - the type is what is compared
        return type(error).__name__, str(error)
    raise AssertionError("no error raised")


@pytest.mark.parametrize("case", ["not_fitted", "one_class", "continuous", "multi_output",
                                  "uncompiled", "n_features", "nan", "sparse"])
def test_errors_match_keras(case):
    """Bad inputs raise sklearn's (or Keras's) exception types, with sklearn's messages where
    sklearn's validation makes them."""
    import scipy.sparse

    X, y = _data()
    ks = import_keras()

    def uncompiled(k):
        return lambda X, y: k.Sequential([k.Input((4,)), k.layers.Dense(3)])

    def call(k, kind):
        builder = uncompiled(k) if case == "uncompiled" else _classifier_builder(k)
        est = getattr(k.wrappers, kind)(builder, fit_kwargs=dict(FIT))
        if case == "not_fitted":
            return lambda: est.predict(X)
        if case == "one_class":
            return lambda: est.fit(X, np.zeros(len(y)))
        if case == "continuous":
            return lambda: est.fit(X, X[:, 0])
        if case == "multi_output":
            return lambda: est.fit(X, np.stack([y, y], axis=1))
        if case == "uncompiled":
            return lambda: est.fit(X, y)
        if case == "n_features":
            return lambda: est.fit(X, y).predict(X[:, :3])
        if case == "nan":
            return lambda: est.fit(np.where(X > 2, np.nan, X), y)
        return lambda: est.fit(scipy.sparse.csr_matrix(X), y)

    kind = "SKLearnRegressor" if case == "multi_output" else "SKLearnClassifier"
    ours, theirs = _raised(call(keras, kind)), _raised(call(ks, kind))
    assert ours[0] == theirs[0], (ours, theirs)
    if case in ("not_fitted", "multi_output", "n_features", "nan", "sparse"):
        assert ours[1] == theirs[1]  # sklearn's own validation messages
    if case in ("continuous", "one_class"):
        assert {"continuous": "'continuous'", "one_class": "two classes"}[case] in ours[1]
    if case == "not_fitted":
        assert ours[0] == NotFittedError.__name__


def test_builder_errors_name_what_was_received():
    X, y = _data()
    with pytest.raises(TypeError, match="returned str"):
        keras.wrappers.SKLearnClassifier(lambda X, y: "model").fit(X, y)
    with pytest.raises(TypeError, match="received str"):
        keras.wrappers.SKLearnRegressor("model").fit(X, X[:, 0])
    with pytest.raises(TypeError, match="unexpected keyword argument 'width'"):
        keras.wrappers.SKLearnClassifier(_classifier_builder(keras),
                                         model_kwargs={"width": 3}).fit(X, y)


def test_tags_and_feature_names_match_keras():
    pd = pytest.importorskip("pandas")
    X, y = _data()
    for name in ("SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"):
        builder = _classifier_builder if name == "SKLearnClassifier" else _regressor_builder
        ours, theirs = _both(name, builder)
        assert ours.__sklearn_tags__() == theirs.__sklearn_tags__()
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    est = keras.wrappers.SKLearnClassifier(_classifier_builder(keras), fit_kwargs=dict(FIT))
    est.fit(frame, y)
    assert list(est.feature_names_in_) == ["a", "b", "c", "d"] and est.n_features_in_ == 4
    assert est.predict(frame).shape == (24,)


def test_sklearn_is_imported_only_by_the_wrappers():
    code = ("import sys, tensorflux\nfrom tensorflux import keras\n"
            "assert 'sklearn' not in sys.modules\nkeras.wrappers.SKLearnClassifier\n"
            "assert 'sklearn' in sys.modules\n"
            "import tensorflux as tf\nassert tf.keras.wrappers.SKLearnRegressor\n")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=Path(__file__).resolve().parents[2])


def test_missing_sklearn_raises_import_error(monkeypatch):
    from tensorflux.keras.wrappers import sklearn_wrapper

    monkeypatch.setattr(sklearn_wrapper, "sklearn", None)
    with pytest.raises(ImportError, match="SKLearnTransformer requires scikit-learn"):
        keras.wrappers.SKLearnTransformer(_regressor_builder(keras))


@pytest.mark.parametrize("check", ["check_no_attributes_set_in_init", "check_get_params_invariance",
                                   "check_set_params", "check_estimators_unfitted",
                                   "check_dont_overwrite_parameters", "check_n_features_in",
                                   "check_estimators_dtypes", "check_fit2d_predict1d"])
def test_sklearn_estimator_checks(check):
    """A fast subset of sklearn's own estimator checks (Keras runs them all on its wrappers)."""
    from sklearn.utils import estimator_checks

    est = keras.wrappers.SKLearnClassifier(_classifier_builder(keras), fit_kwargs={"verbose": 0})
    getattr(estimator_checks, check)(type(est).__name__, est)
