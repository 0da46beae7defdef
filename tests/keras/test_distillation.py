"""keras.distillation against real Keras 3 (torch backend): the Distiller's logged losses,
evaluation and predictions after training, each distillation loss's value, the errors, and
saved files read both ways."""

import numpy as np
import pytest

from tensorflux import keras as tk
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle


def _keras():
    keras = import_keras()
    if not hasattr(keras, "distillation"):
        pytest.skip(f"keras.distillation is new in Keras 3.12; found {keras.__version__}")
    return keras


def _data():
    rng = np.random.RandomState(0)
    return rng.rand(24, 5).astype("float32"), rng.randint(0, 3, 24)


def _mlp(keras, name, units, seed):
    model = keras.Sequential([keras.Input((5,)),
                              keras.layers.Dense(units, activation="relu", name="hidden"),
                              keras.layers.Dense(3, name="logits")], name=name)
    rng = np.random.RandomState(seed)
    model.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.3
                       for w in model.get_weights()])
    return model


def _distiller(keras, losses, **kwargs):
    return keras.distillation.Distiller(_mlp(keras, "teacher", 8, 1), _mlp(keras, "student", 4, 2),
                                        losses(keras), **kwargs)


def _fit(keras, losses, student_loss=None, **kwargs):
    x, y = _data()
    distiller = _distiller(keras, losses, **kwargs)
    distiller.compile(optimizer=keras.optimizers.SGD(0.1),
                      loss=student_loss(keras) if student_loss else
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
    history = distiller.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False).history
    return distiller, history, distiller.evaluate(x, y, verbose=0, return_dict=True)


CASES = {
    "logits_default": (lambda k: k.distillation.LogitsDistillation(), {}),
    "logits_kl_instance": (lambda k: k.distillation.LogitsDistillation(
        temperature=4.0, loss=k.losses.KLDivergence()), {"student_loss_weight": 0.2}),
    "logits_and_features": (lambda k: [
        k.distillation.LogitsDistillation(temperature=2.0),
        k.distillation.FeatureDistillation(loss="mse", teacher_layer_name="logits",
                                           student_layer_name="logits")],
        {"distillation_loss_weights": [1.0, 0.5], "student_loss_weight": 0.3}),
    "features_final_cosine": (lambda k: k.distillation.FeatureDistillation(
        loss="cosine_similarity"), {"student_loss_weight": 0.0}),
    "labels_only": (lambda k: k.distillation.LogitsDistillation(), {"student_loss_weight": 1.0}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fit_logs_evaluate_and_predict_match_keras(case):
    keras = _keras()
    losses, kwargs = CASES[case]
    ours, our_history, our_eval = _fit(tk, losses, **kwargs)
    theirs, their_history, their_eval = _fit(keras, losses, **kwargs)
    assert sorted(our_history) == sorted(their_history)
    for key in their_history:
        assert_matches(our_history[key], their_history[key], rtol=1e-5, atol=1e-6, what=key)
    assert sorted(our_eval) == sorted(their_eval)
    for key in their_eval:
        assert_matches(our_eval[key], their_eval[key], rtol=1e-5, atol=1e-6, what=key)
    assert [m.name for m in ours.metrics] == [m.name for m in theirs.metrics]
    x, _ = _data()
    assert_matches(ours.predict(x[:4], verbose=0), theirs.predict(x[:4], verbose=0),
                   rtol=1e-5, atol=1e-6, what="predictions")
    assert ours.teacher.trainable is False
    assert len(ours.trainable_weights) == len(theirs.trainable_weights) == 4


def test_loss_values_with_structures_and_skipped_outputs_match_keras():
    keras = _keras()
    rng = np.random.RandomState(3)
    teacher = [rng.standard_normal((4, 3)).astype("float32") for _ in range(2)]
    student = [rng.standard_normal((4, 3)).astype("float32") for _ in range(2)]
    for make in (lambda k: k.distillation.LogitsDistillation(2.5, ["kl_divergence", None]),
                 lambda k: k.distillation.LogitsDistillation(
                     1.5, [k.losses.KLDivergence(), "categorical_crossentropy"]),
                 lambda k: k.distillation.FeatureDistillation(["mse", "mae"])):
        ours = make(tk).compute_loss(teacher, student)
        theirs = make(keras).compute_loss(teacher, student)
        assert_matches(ours, theirs, rtol=1e-5, what="distillation loss")


def test_bad_arguments_raise_value_errors_like_keras():
    keras = _keras()
    cases = [
        lambda k: k.distillation.LogitsDistillation(temperature=0),
        lambda k: k.distillation.LogitsDistillation(temperature="3"),
        lambda k: k.distillation.LogitsDistillation(loss=[None, None]),
        lambda k: k.distillation.FeatureDistillation(loss=None),
        lambda k: _distiller(k, lambda k: k.distillation.LogitsDistillation(),
                             student_loss_weight=1.5),
        lambda k: _distiller(k, lambda k: [k.distillation.LogitsDistillation()] * 2,
                             distillation_loss_weights=[1.0]),
        lambda k: _distiller(k, lambda k: None),
        lambda k: _distiller(k, lambda k: k.distillation.FeatureDistillation(
            teacher_layer_name="nope")),
        lambda k: k.distillation.Distiller(_mlp(k, "t", 8, 1), "student",
                                           k.distillation.LogitsDistillation()),
        lambda k: _distiller(k, lambda k: k.distillation.LogitsDistillation()).compile(),
        lambda k: _distiller(k, lambda k: k.distillation.LogitsDistillation()).compile(
            loss="mse", metrics="accuracy"),
    ]
    for make in cases:
        with pytest.raises(ValueError):
            make(keras)
        with pytest.raises(ValueError):
            make(tk)


def test_layer_names_need_symbolic_models():
    class Subclassed(tk.Model):
        def __init__(self):
            super().__init__()
            self.dense = tk.layers.Dense(3, name="logits")

        def call(self, x):
            return self.dense(x)

    with pytest.raises(ValueError, match="subclassed"):
        tk.distillation.Distiller(
            Subclassed(), _mlp(tk, "student", 4, 2),
            tk.distillation.FeatureDistillation(teacher_layer_name="logits",
                                                student_layer_name="logits"))


def test_teacher_and_student_shapes_must_agree():
    teacher = tk.Sequential([tk.Input((5,)), tk.layers.Dense(4)])
    with pytest.raises(ValueError, match="outputs differ in shape"):
        tk.distillation.Distiller(teacher, _mlp(tk, "student", 4, 2),
                                  tk.distillation.LogitsDistillation())


def test_saved_files_load_both_ways(tmp_path):
    keras = _keras()
    x, _ = _data()
    losses, kwargs = CASES["logits_and_features"]
    for saver, loader in ((keras, tk), (tk, keras), (tk, tk)):
        distiller, _, _ = _fit(saver, losses, **kwargs)
        path = str(tmp_path / f"{saver.__name__}_{loader.__name__}.keras")
        distiller.save(path)
        with pytest.warns(UserWarning, match="compile"):
            loaded = loader.models.load_model(path)
        assert type(loaded).__name__ == "Distiller"
        assert loaded.student_loss_weight == 0.3
        assert list(loaded.distillation_loss_weights) == [1.0, 0.5]
        assert loaded.distillation_losses[1].teacher_layer_name == "logits"
        assert_matches(loaded.predict(x[:3], verbose=0), distiller.predict(x[:3], verbose=0),
                       what=f"{saver.__name__} -> {loader.__name__}")
