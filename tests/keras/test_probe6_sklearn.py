"""Probe round 6, scikit-learn around Keras: what sklearn's preprocessing, class weights and
model-selection tools hand to `fit`, checked against real Keras 3.15.1 (torch backend); and
pickling, which joblib and GridSearchCV(n_jobs=...) need."""

import io
import pickle

import numpy as np
import pytest

from tensorflux import keras
from tests.keras._oracle import (  # noqa: F401
    assert_matches,
    fresh_names,
    import_keras,
)

pytest.importorskip("sklearn")

pytestmark = pytest.mark.keras_oracle


def _classifier(k, n_in=4, seed=0):
    model = k.Sequential([k.Input((n_in,)), k.layers.Dense(3, activation="softmax")])
    rng = np.random.RandomState(seed)
    model.set_weights([(rng.standard_normal(w.shape) * 0.4).astype("float32")
                       for w in model.get_weights()])
    model.compile(k.optimizers.SGD(0.1), "categorical_crossentropy", metrics=["accuracy"])
    return model


def _fit_both(x, y, n_in=4, **kwargs):
    """Loss and accuracy histories of the same model fitted by tensorflux and by Keras."""
    ks = import_keras()
    sparse = kwargs.pop("loss", None) == "sparse"
    histories = []
    for k in (keras, ks):
        model = _classifier(k, n_in)
        if sparse:
            model.compile(k.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
        history = model.fit(x, y, epochs=2, batch_size=10, shuffle=False, verbose=0, **kwargs)
        histories.append(history.history)
    ours, theirs = histories
    assert sorted(ours) == sorted(theirs)
    for key in ours:
        assert_matches(ours[key], theirs[key], rtol=1e-5, what=key)


def test_compute_class_weight_dict_with_numpy_keys_matches_keras():
    """`dict(zip(np.unique(y), compute_class_weight(...)))`: numpy int64 keys, float64
    weights."""
    from sklearn.utils.class_weight import compute_class_weight

    x = np.random.RandomState(0).rand(30, 4)
    y = np.array([0] * 20 + [1] * 7 + [2] * 3)
    classes = np.unique(y)
    weights = dict(zip(classes, compute_class_weight("balanced", classes=classes, y=y)))
    _fit_both(x, np.eye(3)[y], class_weight=weights)
    _fit_both(x, y, loss="sparse", class_weight=weights)


def test_scaled_float64_features_and_scipy_sparse_inputs_match_keras():
    """StandardScaler's float64 output, OneHotEncoder's default scipy.sparse labels and a
    TfidfVectorizer's sparse features go into fit as Keras (torch) takes them: densified."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.RandomState(1)
    x = StandardScaler().fit_transform(rng.rand(20, 4) * 50)
    labels = rng.choice(["bird", "cat", "dog"], 20)
    sparse_labels = OneHotEncoder().fit_transform(labels.reshape(-1, 1))
    _fit_both(x, sparse_labels, validation_data=(x[:6], sparse_labels[:6]))
    docs = ["the cat sat", "a dog ran", "birds flew", "cat and dog", "bird, cat"] * 4
    tfidf = TfidfVectorizer().fit_transform(docs)
    _fit_both(tfidf, sparse_labels, n_in=tfidf.shape[1])


def test_pandas_frames_and_series_match_keras():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(2)
    frame = pd.DataFrame(rng.rand(20, 4), columns=list("abcd"))
    target = pd.Series(rng.randint(0, 3, 20))
    _fit_both(frame, target, loss="sparse", validation_split=0.25,
              sample_weight=pd.Series(np.linspace(0.5, 1.5, 20)))


def _build_classifier(X, y):  # (module level: pickle stores a function by its name)
    return _classifier(keras)


def test_fitted_pipeline_round_trips_through_joblib():
    """joblib.dump of a fitted Pipeline holding a Keras wrapper (how sklearn models are
    saved); Keras 3 pickles models through its .keras format."""
    joblib = pytest.importorskip("joblib")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.random.RandomState(3).rand(20, 4)
    y = np.arange(20) % 3
    pipe = make_pipeline(StandardScaler(), keras.wrappers.SKLearnClassifier(
        _build_classifier, fit_kwargs={"epochs": 1, "verbose": 0})).fit(x, y)
    buffer = io.BytesIO()
    joblib.dump(pipe, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    assert_matches(loaded.decision_function(x), pipe.decision_function(x))
    # The copy has the optimizer state too: one more epoch moves both models alike.
    original = pipe[-1].model_
    copied = pickle.loads(pickle.dumps(original))
    inputs = pipe[0].transform(x)
    for model in (original, copied):
        model.fit(inputs, np.eye(3)[y], epochs=1, verbose=0, shuffle=False)
    for a, b in zip(copied.get_weights(), original.get_weights()):
        assert_matches(a, b, what="weights after one more epoch")


def test_keras_namespaces_pickle_by_reference():
    cloudpickle = pytest.importorskip("cloudpickle")
    layers = keras.layers
    assert pickle.loads(pickle.dumps(layers)) is layers

    def build():
        return layers.Dense(2)

    assert type(cloudpickle.loads(cloudpickle.dumps(build))()).__name__ == "Dense"
