"""keras.losses against real Keras 3: values, reductions, sample weights, configs and errors."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors
from tensorflux.keras import losses
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle
keras = import_keras()

rng = np.random.default_rng(0)
N, C = 6, 4
PROBS = rng.dirichlet(np.ones(C), size=N).astype("float32")
ONE_HOT = np.eye(C, dtype="float32")[rng.integers(0, C, N)]
LOGITS = rng.normal(size=(N, C)).astype("float32") * 3
REG_TRUE = rng.normal(size=(N, C)).astype("float32")
REG_PRED = rng.normal(size=(N, C)).astype("float32")
POS_TRUE = rng.uniform(0.1, 2, size=(N, C)).astype("float32")
POS_PRED = rng.uniform(0.1, 2, size=(N, C)).astype("float32")
BIN_TRUE = rng.integers(0, 2, size=(N, C)).astype("float32")
BIN_PRED = rng.uniform(0, 1, size=(N, C)).astype("float32")
BIN_PRED[0, 0], BIN_PRED[1, 1] = 0.0, 1.0  # the 1e-7 clipping matters here
SPARSE = rng.integers(0, C, N)
WEIGHTS = rng.uniform(0, 2, size=N).astype("float32")

# (class name, constructor kwargs, y_true, y_pred)
CASES = [
    ("MeanSquaredError", {}, REG_TRUE, REG_PRED),
    ("MeanAbsoluteError", {}, REG_TRUE, REG_PRED),
    ("MeanAbsolutePercentageError", {}, REG_TRUE, REG_PRED),
    ("MeanSquaredLogarithmicError", {}, POS_TRUE, REG_PRED),
    ("Huber", {}, REG_TRUE, REG_PRED * 3),
    ("Huber", {"delta": 0.5}, REG_TRUE, REG_PRED * 3),
    ("LogCosh", {}, REG_TRUE, REG_PRED),
    ("CosineSimilarity", {}, REG_TRUE, REG_PRED),
    ("CosineSimilarity", {"axis": 0}, REG_TRUE, REG_PRED),
    ("Hinge", {}, BIN_TRUE, REG_PRED),
    ("Hinge", {}, BIN_TRUE * 2 - 1, REG_PRED),
    ("SquaredHinge", {}, BIN_TRUE, REG_PRED),
    ("CategoricalHinge", {}, ONE_HOT, REG_PRED),
    ("KLDivergence", {}, PROBS[::-1].copy(), PROBS),
    ("Poisson", {}, POS_TRUE, POS_PRED),
    ("BinaryCrossentropy", {}, BIN_TRUE, BIN_PRED),
    ("BinaryCrossentropy", {"label_smoothing": 0.2}, BIN_TRUE, BIN_PRED),
    ("BinaryCrossentropy", {"from_logits": True}, BIN_TRUE, LOGITS),
    ("BinaryCrossentropy", {"from_logits": True, "axis": 0}, BIN_TRUE, LOGITS),
    ("BinaryFocalCrossentropy", {}, BIN_TRUE, BIN_PRED),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "gamma": 3.0,
                                 "from_logits": True, "label_smoothing": 0.1},
     BIN_TRUE, LOGITS),
    ("CategoricalCrossentropy", {}, ONE_HOT, PROBS),
    ("CategoricalCrossentropy", {}, ONE_HOT, PROBS * 3),  # renormalized by Keras
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, ONE_HOT, LOGITS),
    ("CategoricalCrossentropy", {"from_logits": True, "axis": 0}, ONE_HOT, LOGITS),
    ("CategoricalFocalCrossentropy", {}, ONE_HOT, PROBS),
    ("CategoricalFocalCrossentropy", {"from_logits": True, "alpha": 0.5}, ONE_HOT, LOGITS),
    ("SparseCategoricalCrossentropy", {}, SPARSE, PROBS),
    ("SparseCategoricalCrossentropy", {}, SPARSE.reshape(-1, 1), PROBS),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, SPARSE, LOGITS),
    ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 2}, SPARSE, LOGITS),
    ("SparseCategoricalCrossentropy", {"ignore_class": 1}, SPARSE, PROBS),
    ("Dice", {}, BIN_TRUE, BIN_PRED),
    ("Tversky", {"alpha": 0.3, "beta": 0.7}, BIN_TRUE, BIN_PRED),
]
IDS = [f"{name}-{i}" for i, (name, *_rest) in enumerate(CASES)]


def _pair(name, kwargs, **extra):
    return getattr(losses, name)(**kwargs, **extra), getattr(keras.losses, name)(**kwargs, **extra)


@pytest.mark.parametrize("name,kwargs,y_true,y_pred", CASES, ids=IDS)
def test_loss_matches_keras(name, kwargs, y_true, y_pred):
    for reduction in ("sum_over_batch_size", "sum", "none", None, "mean",
                      "mean_with_sample_weight"):
        ours, theirs = _pair(name, kwargs, reduction=reduction)
        assert_matches(ours(y_true, y_pred), theirs(y_true, y_pred), what=f"{name} {reduction}")
        if name in ("Dice", "Tversky") or kwargs.get("axis") == 0:
            continue  # values are not per sample here, so per-sample weights do not apply
        assert_matches(ours(y_true, y_pred, sample_weight=WEIGHTS),
                       theirs(y_true, y_pred, sample_weight=WEIGHTS),
                       what=f"{name} {reduction} weighted")


@pytest.mark.parametrize("name,kwargs,y_true,y_pred", CASES, ids=IDS)
def test_loss_config_matches_keras(name, kwargs, y_true, y_pred):
    ours, theirs = _pair(name, kwargs)
    assert ours.get_config() == theirs.get_config()
    clone = type(ours).from_config(ours.get_config())
    assert clone.get_config() == ours.get_config()
    serialized = losses.serialize(ours)
    assert serialized == keras.losses.serialize(theirs)
    assert losses.deserialize(serialized).get_config() == ours.get_config()


def test_rank_one_labels_against_column_predictions():
    # (N,) labels against (N, 1) predictions: Keras expands the labels, nothing broadcasts.
    y_true = BIN_TRUE[:, 0]
    y_pred = BIN_PRED[:, :1]
    for name in ("MeanSquaredError", "BinaryCrossentropy", "Hinge", "Poisson"):
        ours, theirs = _pair(name, {})
        assert_matches(ours(y_true, y_pred), theirs(y_true, y_pred), what=name)
        assert_matches(ours(y_true, y_pred, sample_weight=WEIGHTS),
                       theirs(y_true, y_pred, sample_weight=WEIGHTS), what=name)


def test_temporal_sample_weights_match_keras():
    y_true = rng.normal(size=(3, 5, 2)).astype("float32")
    y_pred = rng.normal(size=(3, 5, 2)).astype("float32")
    weights = rng.uniform(size=(3, 5)).astype("float32")
    ours, theirs = _pair("MeanSquaredError", {})
    assert_matches(ours(y_true, y_pred, sample_weight=weights),
                   theirs(y_true, y_pred, sample_weight=weights))


FUNCTIONS = [
    ("mse", "mean_squared_error", REG_TRUE, REG_PRED, {}),
    ("mae", "mean_absolute_error", REG_TRUE, REG_PRED, {}),
    ("mape", "mean_absolute_percentage_error", REG_TRUE, REG_PRED, {}),
    ("msle", "mean_squared_logarithmic_error", POS_TRUE, POS_PRED, {}),
    ("kld", "kl_divergence", PROBS[::-1].copy(), PROBS, {}),
    ("huber", "huber", REG_TRUE, REG_PRED, {"delta": 2.0}),
    ("log_cosh", "log_cosh", REG_TRUE, REG_PRED, {}),
    ("poisson", "poisson", POS_TRUE, POS_PRED, {}),
    ("hinge", "hinge", BIN_TRUE, REG_PRED, {}),
    ("squared_hinge", "squared_hinge", BIN_TRUE, REG_PRED, {}),
    ("categorical_hinge", "categorical_hinge", ONE_HOT, REG_PRED, {}),
    ("cosine_similarity", "cosine_similarity", REG_TRUE, REG_PRED, {}),
    ("binary_crossentropy", "binary_crossentropy", BIN_TRUE, BIN_PRED, {}),
    ("binary_crossentropy", "binary_crossentropy", BIN_TRUE, LOGITS, {"from_logits": True}),
    ("binary_focal_crossentropy", "binary_focal_crossentropy", BIN_TRUE, BIN_PRED, {}),
    ("categorical_crossentropy", "categorical_crossentropy", ONE_HOT, PROBS, {}),
    ("categorical_crossentropy", "categorical_crossentropy", ONE_HOT, LOGITS,
     {"from_logits": True}),
    ("sparse_categorical_crossentropy", "sparse_categorical_crossentropy", SPARSE, PROBS, {}),
    ("sparse_categorical_crossentropy", "sparse_categorical_crossentropy", SPARSE, LOGITS,
     {"from_logits": True}),
]


@pytest.mark.parametrize("alias,keras_name,y_true,y_pred,kwargs", FUNCTIONS,
                         ids=[f[0] + str(i) for i, f in enumerate(FUNCTIONS)])
def test_loss_functions_and_aliases_match_keras(alias, keras_name, y_true, y_pred, kwargs):
    ours = losses.get(alias)
    assert ours is getattr(losses, keras_name)
    theirs = getattr(keras.losses, keras_name)
    y_true_k = y_true.astype("int32") if "sparse" in keras_name else y_true
    assert_matches(ours(y_true, y_pred, **kwargs), theirs(y_true_k, y_pred, **kwargs),
                   what=alias)


def test_get_resolves_keras_names():
    assert isinstance(losses.get("CategoricalCrossentropy"), losses.CategoricalCrossentropy)
    assert losses.get("bce") is losses.binary_crossentropy
    loss = losses.get({"class_name": "CategoricalCrossentropy", "config": {"from_logits": True}})
    assert loss.from_logits is True
    keras_loss = keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)
    keras_dict = keras.losses.serialize(keras_loss)
    assert losses.get(keras_dict).get_config() == keras_loss.get_config()
    assert losses.get(None) is None
    with pytest.raises(ValueError, match="loss"):
        losses.get("no_such_loss")
    fn_config = keras.losses.serialize(keras.losses.mean_squared_error)
    assert losses.serialize(losses.mean_squared_error) == fn_config
    assert losses.deserialize(fn_config) is losses.mean_squared_error


def test_keras_probability_clipping_example():
    # Keras's own test (losses_test.py): clipped at 1e-7, no NaN or inf.
    loss = losses.BinaryCrossentropy()([1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0])
    assert abs(float(loss) - 3.98559) < 1e-4


@pytest.mark.parametrize("name", ["MeanSquaredError", "BinaryCrossentropy",
                                  "CategoricalCrossentropy", "Hinge", "KLDivergence"])
def test_incompatible_shapes_raise_naming_loss_and_shapes(name):
    with pytest.raises(errors.InvalidArgumentError) as info:
        getattr(losses, name)()(np.zeros((4, 3), "float32"), np.zeros((4, 5), "float32"))
    message = str(info.value)
    assert name in message and "(4, 3)" in message and "(4, 5)" in message


def test_labels_that_would_broadcast_silently_raise():
    # Keras would broadcast (4,) against (4, 4) to a (4, 4) loss; this is almost always a bug.
    with pytest.raises(errors.InvalidArgumentError, match=r"\(4,\).*\(4, 4\)"):
        losses.mean_squared_error(np.zeros(4, "float32"), np.zeros((4, 4), "float32"))


def test_sample_weight_shape_mismatch_raises():
    with pytest.raises(errors.InvalidArgumentError, match="sample_weight"):
        losses.MeanSquaredError()(REG_TRUE, REG_PRED, sample_weight=np.ones(N + 1, "float32"))


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("bad", [C, -1, 99])
def test_sparse_labels_out_of_range_raise_eagerly(from_logits, bad):
    labels = SPARSE.copy()
    labels[2] = bad
    y_pred = LOGITS if from_logits else PROBS
    with pytest.raises(errors.InvalidArgumentError, match="sparse_categorical_crossentropy"):
        losses.SparseCategoricalCrossentropy(from_logits=from_logits)(labels, y_pred)
    with pytest.raises(errors.InvalidArgumentError, match=str(bad)):
        losses.sparse_categorical_crossentropy(labels, y_pred, from_logits=from_logits)


@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_labels_out_of_range_raise_in_graph(from_logits):
    loss = losses.SparseCategoricalCrossentropy(from_logits=from_logits)

    @tf.function
    def step(labels, y_pred):
        return loss(labels, y_pred)

    y_pred = tf.constant(LOGITS if from_logits else PROBS)
    assert np.isfinite(float(step(tf.constant(SPARSE.astype("int32")), y_pred)))
    labels = SPARSE.astype("int32").copy()
    labels[0] = C + 3
    with pytest.raises(errors.InvalidArgumentError):
        step(tf.constant(labels), y_pred)


def test_sparse_label_shape_mismatch_raises():
    with pytest.raises(errors.InvalidArgumentError, match=r"\(6, 2\)"):
        losses.sparse_categorical_crossentropy(np.zeros((N, 2), "int32"), PROBS)


def test_gradients_flow_through_losses():
    logits = tf.Variable(LOGITS)
    with tf.GradientTape() as tape:
        value = losses.CategoricalCrossentropy(from_logits=True)(ONE_HOT, logits)
    grad = tape.gradient(value, logits)
    expected = (np.exp(LOGITS) / np.exp(LOGITS).sum(-1, keepdims=True) - ONE_HOT) / N
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_invalid_reduction_raises():
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="avg")
