"""Circle and CategoricalGeneralizedCrossEntropy losses, the thresholded "X at Y" metrics
(PrecisionAtRecall, RecallAtPrecision, SensitivityAtSpecificity, SpecificityAtSensitivity)
and keras.metrics' focal crossentropy functions, against real Keras 3: values, sample
weights, several batches, reset, configs, lookup by name, gradients and compiled use."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras as tfk
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = [pytest.mark.keras_oracle,
              pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]
keras = import_keras()

rng = np.random.default_rng(11)


def _embeddings(n=8, d=5):
    x = rng.normal(size=(n, d)).astype("float32")
    return x / np.linalg.norm(x, axis=1, keepdims=True)


LABELS = np.array([0, 1, 0, 2, 1, 3, 0, 2])  # label 3 appears once: no positive pair


# ------------------------------------------------------------------ Circle

@pytest.mark.parametrize("kwargs", [{}, {"remove_diagonal": False},
                                    {"gamma": 16.0, "margin": 0.25}])
def test_circle_function_and_class_match_keras(kwargs):
    y_pred = _embeddings()
    assert_matches(tfk.losses.circle(LABELS, y_pred, **kwargs),
                   keras.losses.circle(LABELS, y_pred, **kwargs), rtol=1e-5, atol=1e-5)
    weights = rng.uniform(0, 2, len(LABELS)).astype("float32")
    for reduction in ("sum_over_batch_size", "sum", "mean_with_sample_weight", None):
        theirs = keras.losses.Circle(reduction=reduction, **kwargs)
        ours = tfk.losses.Circle(reduction=reduction, **kwargs)
        assert_matches(ours(LABELS, y_pred, sample_weight=weights),
                       theirs(LABELS, y_pred, sample_weight=weights), rtol=1e-5, atol=1e-4,
                       what=f"Circle reduction={reduction}")
        assert ours.get_config() == theirs.get_config()


def test_circle_with_reference_embeddings_matches_keras():
    y_pred, refs = _embeddings(4), _embeddings(6)
    ref_labels = np.array([0, 1, 1, 2, 0, 3])
    labels = np.array([[0], [1], [2], [5]])
    for remove_diagonal in (True, False):
        kwargs = {"ref_labels": ref_labels, "ref_embeddings": refs,
                  "remove_diagonal": remove_diagonal}
        assert_matches(tfk.losses.circle(labels, y_pred, **kwargs),
                       keras.losses.circle(labels, y_pred, **kwargs), rtol=1e-5, atol=1e-5)


# A sample without positives takes the logsumexp of only -inf entries, whose kernels compute
# inf - inf on the way (as PyTorch's do) and warn under pytest's warning filters.
_INF_MINUS_INF = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")


@_INF_MINUS_INF
def test_circle_gradient_matches_keras_autograd():
    import torch

    y_pred = _embeddings()
    theirs_input = torch.tensor(y_pred, requires_grad=True)
    keras.losses.Circle(gamma=16.0)(LABELS, theirs_input).backward()
    x = tf.constant(y_pred)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tfk.losses.Circle(gamma=16.0)(LABELS, x)
    gradient = tape.gradient(loss, x)
    assert np.isfinite(gradient.numpy()).all()  # the lone label's empty positive set
    assert_matches(gradient, theirs_input.grad, rtol=1e-4, atol=1e-5, what="Circle gradient")


@_INF_MINUS_INF
def test_circle_loss_trains_a_model_like_keras():
    data = rng.normal(size=(16, 6)).astype("float32")
    labels = rng.integers(0, 4, 16)

    def build(lib):
        model = lib.Sequential([lib.Input((6,)), lib.layers.Dense(8),
                                lib.layers.UnitNormalization()])
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss=lib.losses.Circle(gamma=16.0))
        return model

    theirs, ours = build(keras), build(tfk)
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    fit = {"epochs": 2, "batch_size": 8, "shuffle": False, "verbose": 0}
    np.testing.assert_allclose(ours.fit(data, labels, **fit).history["loss"],
                               theirs.fit(data, labels, **fit).history["loss"], rtol=1e-4)


# ------------------------------------------------------------------ generalized crossentropy

def test_categorical_generalized_cross_entropy_matches_keras():
    y_pred = rng.dirichlet(np.ones(4), 6).astype("float32")
    y_true = np.array([0, 3, 1, 1, 2, 0])
    weights = rng.uniform(0, 2, 6).astype("float32")
    for q in (0.2, 0.5, 0.9):
        theirs = keras.losses.categorical_generalized_cross_entropy(
            y_true, keras.ops.convert_to_tensor(y_pred), q=q)
        assert_matches(tfk.losses.categorical_generalized_cross_entropy(y_true, y_pred, q=q),
                       theirs, rtol=1e-6)
        assert_matches(tfk.losses.CategoricalGeneralizedCrossEntropy(q=q)(
            y_true, y_pred, sample_weight=weights),
            keras.losses.CategoricalGeneralizedCrossEntropy(q=q)(
                y_true, y_pred, sample_weight=weights), rtol=1e-6)
    # (batch, 1) labels mean (batch,) (Keras 3.15 would broadcast them to (batch, batch))
    assert_matches(tfk.losses.CategoricalGeneralizedCrossEntropy()(y_true[:, None], y_pred),
                   keras.losses.CategoricalGeneralizedCrossEntropy()(y_true, y_pred), rtol=1e-6)
    loss = tfk.losses.CategoricalGeneralizedCrossEntropy(q=0.3, name="gce")
    assert loss.get_config() == keras.losses.CategoricalGeneralizedCrossEntropy(
        q=0.3, name="gce").get_config()
    revived = tfk.losses.deserialize(keras.losses.serialize(
        keras.losses.CategoricalGeneralizedCrossEntropy(q=0.3)))
    assert isinstance(revived, tfk.losses.CategoricalGeneralizedCrossEntropy)
    assert revived.q == 0.3
    with pytest.raises(ValueError, match=r"q must be in the interval \(0, 1\)"):
        tfk.losses.CategoricalGeneralizedCrossEntropy(q=1.0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="class indices in"):
        tfk.losses.categorical_generalized_cross_entropy([4], y_pred[:1], q=0.5)


def test_new_losses_are_found_by_name():
    assert tfk.losses.get("circle") is tfk.losses.circle
    assert tfk.losses.get("ctc") is tfk.losses.ctc
    assert isinstance(tfk.losses.get("Circle"), tfk.losses.Circle)
    assert isinstance(tfk.losses.get("CategoricalGeneralizedCrossEntropy"),
                      tfk.losses.CategoricalGeneralizedCrossEntropy)


# ------------------------------------------------------------------ thresholded metrics

CONSTRAINED = [("SensitivityAtSpecificity", 0.6), ("SpecificityAtSensitivity", 0.7),
               ("PrecisionAtRecall", 0.5), ("RecallAtPrecision", 0.8)]
OPTIONS = [{}, {"num_thresholds": 1}, {"num_thresholds": 2}, {"num_thresholds": 7},
           {"class_id": 1, "num_thresholds": 50}]


def _batches():
    out = []
    for _ in range(3):
        y_true = rng.integers(0, 2, (8, 3)).astype("float32")
        y_pred = rng.uniform(size=(8, 3)).astype("float32")
        y_pred[0, 0], y_pred[1, 1] = 0.0, 1.0  # on the end thresholds
        out.append((y_true, y_pred, rng.uniform(0, 2, 8).astype("float32")))
    return out


@pytest.mark.parametrize("options", OPTIONS, ids=[str(o) for o in OPTIONS])
@pytest.mark.parametrize("class_name,value", CONSTRAINED, ids=[c for c, _ in CONSTRAINED])
def test_constrained_metrics_match_keras(class_name, value, options):
    theirs = getattr(keras.metrics, class_name)(value, **options)
    ours = getattr(tfk.metrics, class_name)(value, **options)
    for y_true, y_pred, weights in _batches():
        theirs.update_state(y_true, y_pred, sample_weight=weights)
        ours.update_state(y_true, y_pred, sample_weight=weights)
        assert_matches(ours.result(), theirs.result(), what=f"{class_name} {options}")
    assert [v.name.split(":")[0] for v in ours.variables] == [v.name for v in theirs.variables]
    ours.reset_state()
    theirs.reset_state()
    assert float(ours.result()) == 0.0
    y_true, y_pred, _ = _batches()[0]
    theirs.update_state(y_true, y_pred)
    ours.update_state(y_true, y_pred)
    assert_matches(ours.result(), theirs.result(), what=f"{class_name} after reset")
    config = ours.get_config()
    assert config == theirs.get_config()
    assert type(ours).from_config(config).get_config() == config


@pytest.mark.parametrize("class_name", [c for c, _ in CONSTRAINED])
def test_constrained_metrics_check_their_arguments_and_load_from_keras_configs(class_name):
    cls = getattr(tfk.metrics, class_name)
    with pytest.raises(ValueError, match=r"must be in the range \[0, 1\]"):
        cls(1.5)
    with pytest.raises(ValueError, match="num_thresholds"):
        cls(0.5, num_thresholds=0)
    assert cls(0.5)._direction == "up"
    revived = tfk.metrics.deserialize(keras.metrics.serialize(
        getattr(keras.metrics, class_name)(0.25, num_thresholds=9, name="m")))
    assert type(revived) is cls
    assert revived.get_config() == getattr(keras.metrics, class_name)(
        0.25, num_thresholds=9, name="m").get_config()


def test_constrained_metric_as_compiled_metric_matches_keras():
    data = rng.normal(size=(24, 4)).astype("float32")
    labels = rng.integers(0, 2, (24, 1)).astype("float32")

    def build(lib):
        model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="sgd", loss="binary_crossentropy",
                      metrics=[lib.metrics.PrecisionAtRecall(0.5, name="p_at_r"),
                               lib.metrics.SensitivityAtSpecificity(0.5, num_thresholds=20)])
        return model

    theirs, ours = build(keras), build(tfk)
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    expected = theirs.evaluate(data, labels, batch_size=8, verbose=0, return_dict=True)
    got = ours.evaluate(data, labels, batch_size=8, verbose=0, return_dict=True)
    assert set(got) == set(expected)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, err_msg=key)


def test_focal_crossentropy_metric_functions_match_keras():
    y_true = rng.integers(0, 2, (5, 3)).astype("float32")
    y_pred = rng.uniform(0.05, 0.95, (5, 3)).astype("float32")
    assert_matches(tfk.metrics.binary_focal_crossentropy(y_true, y_pred),
                   keras.metrics.binary_focal_crossentropy(y_true, y_pred), rtol=1e-6)
    one_hot = np.eye(3, dtype="float32")[rng.integers(0, 3, 5)]
    probs = rng.dirichlet(np.ones(3), 5).astype("float32")
    assert_matches(tfk.metrics.categorical_focal_crossentropy(one_hot, probs),
                   keras.metrics.categorical_focal_crossentropy(one_hot, probs), rtol=1e-6)
    metric = tfk.metrics.MeanMetricWrapper(tfk.metrics.binary_focal_crossentropy)
    metric.update_state(y_true, y_pred)
    assert_matches(metric.result(), keras.ops.mean(keras.metrics.binary_focal_crossentropy(
        y_true, y_pred)), rtol=1e-6)
