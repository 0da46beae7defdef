"""mode="auto" of EarlyStopping, ReduceLROnPlateau and ModelCheckpoint against real Keras 3.

The same models (same weights, data and unshuffled batches) are trained in both libraries
with the same callbacks; each callback must pick the same direction (or fail the same way),
and so keep the same best value.
"""

import numpy as np
import pytest

from tensorflux import keras as tfk
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = [pytest.mark.keras_oracle,
              pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]
keras = import_keras()

rng = np.random.default_rng(3)
X = rng.normal(size=(32, 4)).astype("float32")
Y_REGRESSION = (X @ np.array([[0.5], [-1.0], [0.25], [2.0]], "float32") + 1.5).astype("float32")
Y_BINARY = (X[:, :1] + 0.3 * X[:, 1:2] > 0).astype("float32")


def _custom_difference(y_true, y_pred):
    return y_pred - y_true


def _regression_metrics(module):
    return ["mae", "mse", "mape", "msle", module.metrics.RootMeanSquaredError(),
            module.metrics.RootMeanSquaredError(name="rmse"), "cosine_similarity",
            module.metrics.LogCoshError(), module.metrics.R2Score(),
            module.losses.mean_squared_error, "accuracy", module.metrics.TruePositives(),
            _custom_difference]


def _classification_metrics(module):
    return ["accuracy", module.metrics.AUC(), module.metrics.AUC(curve="PR", name="pr_auc"),
            module.metrics.Precision(), module.metrics.Recall(), "binary_crossentropy",
            module.metrics.F1Score(average="micro", threshold=0.5), module.metrics.FalseNegatives()]


def _model(module, metric_list, activation=None, learning_rate=0.05):
    model = module.Sequential([module.Input((4,)),
                               module.layers.Dense(1, activation=activation)])
    loss = "binary_crossentropy" if activation == "sigmoid" else "mse"
    model.compile(optimizer=module.optimizers.SGD(learning_rate=learning_rate), loss=loss,
                  metrics=metric_list(module))
    return model


def _pair(metric_list, activation=None):
    theirs = _model(keras, metric_list, activation)
    ours = _model(tfk, metric_list, activation)
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def _callbacks(module, monitor, tmp_path, tag, mode="auto"):
    return [
        module.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=100),
        module.callbacks.ReduceLROnPlateau(monitor=monitor, mode=mode, patience=100),
        module.callbacks.ModelCheckpoint(str(tmp_path / f"{tag}.weights.h5"), monitor=monitor,
                                         mode=mode, save_best_only=True,
                                         save_weights_only=True),
    ]


def _direction(callback, less, greater):
    assert callback.monitor_op is not None
    if callback.monitor_op is less:
        return "min"
    if callback.monitor_op is greater:
        return "max"
    raise AssertionError(f"unexpected monitor_op {callback.monitor_op!r}")


def _fit(model, y, callbacks, epochs=3):
    return model.fit(X, y, batch_size=8, epochs=epochs, validation_split=0.25, shuffle=False,
                     verbose=0, callbacks=callbacks)


DECIDED_REGRESSION = ["val_loss", "loss", "val_mae", "val_mse", "val_mape", "val_msle",
                      "val_root_mean_squared_error", "val_rmse", "val_cosine_similarity",
                      "val_logcosh", "val_r2_score", "val_mean_squared_error", "val_accuracy",
                      "mae"]
DECIDED_CLASSIFICATION = ["val_accuracy", "val_auc", "val_pr_auc", "val_precision",
                          "val_recall", "val_binary_crossentropy", "val_f1_score", "val_loss"]


def _check_decided(metric_list, y, monitors, tmp_path, activation=None):
    """Every monitor gets the direction Keras picks, and the callbacks keep Keras's best."""
    ours, theirs = _pair(metric_list, activation)
    ours_callbacks = {m: _callbacks(tfk, m, tmp_path, f"ours_{i}")
                      for i, m in enumerate(monitors)}
    theirs_callbacks = {m: _callbacks(keras, m, tmp_path, f"theirs_{i}")
                        for i, m in enumerate(monitors)}
    ours_history = _fit(ours, y, [c for cs in ours_callbacks.values() for c in cs])
    theirs_history = _fit(theirs, y, [c for cs in theirs_callbacks.values() for c in cs])
    for monitor in monitors:
        assert_matches(ours_history.history[monitor], theirs_history.history[monitor],
                       rtol=1e-4, atol=1e-5, what=f"history of {monitor}")
        for ours_cb, theirs_cb in zip(ours_callbacks[monitor], theirs_callbacks[monitor]):
            what = f"{type(ours_cb).__name__}(monitor={monitor!r})"
            assert (_direction(ours_cb, _less(), _greater())
                    == _direction(theirs_cb, keras.ops.less, keras.ops.greater)), what
            assert np.sign(ours_cb.min_delta) == np.sign(theirs_cb.min_delta), what
            assert_matches(float(ours_cb.best), float(theirs_cb.best), rtol=1e-4, atol=1e-5,
                           what=f"{what}.best")
    return ours_callbacks


def _less():
    from tensorflux.keras import callbacks

    return callbacks._less


def _greater():
    from tensorflux.keras import callbacks

    return callbacks._greater


def test_auto_mode_picks_keras_direction_for_regression_metrics(tmp_path):
    chosen = _check_decided(_regression_metrics, Y_REGRESSION, DECIDED_REGRESSION, tmp_path)
    # The metrics of the bug report: minimized, except cosine similarity and R2.
    directions = {m: _direction(cbs[0], _less(), _greater()) for m, cbs in chosen.items()}
    assert directions["val_mae"] == directions["val_rmse"] == "min"
    assert directions["val_cosine_similarity"] == directions["val_r2_score"] == "max"


def test_auto_mode_picks_keras_direction_for_classification_metrics(tmp_path):
    _check_decided(_classification_metrics, Y_BINARY, DECIDED_CLASSIFICATION, tmp_path,
                   activation="sigmoid")


@pytest.mark.parametrize("monitor,metric_list,y,activation", [
    ("val_true_positives", _regression_metrics, Y_REGRESSION, None),
    ("val__custom_difference", _regression_metrics, Y_REGRESSION, None),
    ("val_not_a_metric", _regression_metrics, Y_REGRESSION, None),
    ("val_false_negatives", _classification_metrics, Y_BINARY, "sigmoid"),
], ids=["no_direction", "custom_function", "unknown", "confusion_count"])
def test_auto_mode_fails_where_keras_fails(monitor, metric_list, y, activation, tmp_path):
    ours, theirs = _pair(metric_list, activation)
    for callback_index in range(3):
        ours_cb = _callbacks(tfk, monitor, tmp_path, "ours")[callback_index]
        theirs_cb = _callbacks(keras, monitor, tmp_path, "theirs")[callback_index]
        theirs_error = ours_error = None
        try:
            _fit(theirs, y, [theirs_cb], epochs=1)
        except ValueError as error:
            theirs_error = error
        try:
            _fit(ours, y, [ours_cb], epochs=1)
        except ValueError as error:
            ours_error = error
        name = type(ours_cb).__name__
        assert theirs_error is not None and "mode='max'" in str(theirs_error), name
        assert ours_error is not None, f"{name}(monitor={monitor!r}) should fail as in Keras"
        assert monitor in str(ours_error) and "mode='max'" in str(ours_error)
        assert "mode='min'" in str(ours_error)


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("monitor", ["val_mae", "val_cosine_similarity", "val_true_positives",
                                     "val__custom_difference"])
def test_explicit_mode_wins_like_keras(mode, monitor, tmp_path):
    ours, theirs = _pair(_regression_metrics)
    ours_callbacks = _callbacks(tfk, monitor, tmp_path, "ours", mode=mode)
    theirs_callbacks = _callbacks(keras, monitor, tmp_path, "theirs", mode=mode)
    _fit(ours, Y_REGRESSION, ours_callbacks)
    _fit(theirs, Y_REGRESSION, theirs_callbacks)
    for ours_cb, theirs_cb in zip(ours_callbacks, theirs_callbacks):
        assert _direction(ours_cb, _less(), _greater()) == mode
        assert _direction(theirs_cb, keras.ops.less, keras.ops.greater) == mode
        assert_matches(float(ours_cb.best), float(theirs_cb.best), rtol=1e-4, atol=1e-5,
                       what=f"{type(ours_cb).__name__}.best")


def _two_outputs(module):
    inputs = module.Input((4,), name="features")
    value = module.layers.Dense(1, name="value")(inputs)
    flag = module.layers.Dense(1, activation="sigmoid", name="flag")(inputs)
    model = module.Model(inputs, [value, flag])
    model.compile(optimizer=module.optimizers.SGD(learning_rate=0.05),
                  loss=["mse", "binary_crossentropy"],
                  metrics={"value": ["mae"], "flag": ["accuracy"]})
    return model


@pytest.mark.parametrize("monitor", ["val_flag_accuracy", "val_value_mae", "val_flag_loss",
                                     "val_loss"])
def test_multi_output_names_behave_like_keras(monitor):
    """Keras looks the monitor up by metric name, and a per-output metric keeps its own name
    ("accuracy") while its log key is prefixed ("flag_accuracy"): only the total loss is
    decided in mode="auto"; the per-output keys need an explicit mode, in both libraries."""
    theirs, ours = _two_outputs(keras), _two_outputs(tfk)
    ours.set_weights(theirs.get_weights())
    y = [Y_REGRESSION, Y_BINARY]
    outcomes = []
    for module, model in ((keras, theirs), (tfk, ours)):
        stopper = module.callbacks.EarlyStopping(monitor=monitor, patience=100)
        try:
            history = _fit(model, y, [stopper], epochs=2)
        except ValueError as error:
            assert "mode='max'" in str(error)
            outcomes.append("error")
        else:
            outcomes.append(("fit", sorted(history.history)))
            assert stopper.best == pytest.approx(min(history.history[monitor]))
    assert outcomes[1] == outcomes[0]
    # An explicit mode works for every key.
    for module, model in ((keras, theirs), (tfk, ours)):
        stopper = module.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=100)
        history = _fit(model, y, [stopper], epochs=2)
        assert stopper.best == pytest.approx(max(history.history[monitor]))


def test_bug_report_script_runs():
    """The user's probe: EarlyStopping on val_mae with the default mode."""
    model = tfk.Sequential([tfk.Input((4,)), tfk.layers.Dense(1)])
    model.compile("sgd", "mse", metrics=["mae"])
    stopper = tfk.callbacks.EarlyStopping(monitor="val_mae")
    history = model.fit(X, Y_REGRESSION, validation_split=0.5, epochs=2, verbose=0,
                        callbacks=[stopper])
    assert stopper.monitor_op is _less()
    assert stopper.best == pytest.approx(min(history.history["val_mae"]))
