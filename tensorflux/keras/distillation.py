"""keras.distillation: knowledge distillation (Keras 3.12+): a `Distiller` model trains a
student on its labels and on what a frozen teacher outputs, through distillation losses that
compare the two models' logits (`LogitsDistillation`) or intermediate features
(`FeatureDistillation`).

The numbers follow Keras's: the total loss is `w * student_loss + (1 - w) * sum_i(weight_i *
distillation_i)`, where each distillation loss is the mean of its loss function, summed over
the outputs it covers. A loss given by name resolves as `keras.losses.get` resolves it (a
function), so `LogitsDistillation()`'s default "kl_divergence" compares the temperature-scaled
logits directly; a `keras.losses.KLDivergence` instance compares their softmax probabilities
and scales by the squared temperature, as in Hinton et al.
"""

from tensorflux.keras import losses as losses_module
from tensorflux.keras import metrics as metrics_module
from tensorflux.keras import ops, tree
from tensorflux.keras.models import Model, Sequential
from tensorflux.keras.saving.serialization import (
    deserialize_keras_object,
    keras_export,
    serialize_keras_object,
)

__all__ = ["DistillationLoss", "Distiller", "FeatureDistillation", "LogitsDistillation"]

_FINAL = "final_output"  # the key of a model's own output among its extracted features


def _loss_function(loss):
    """A loss name resolved as keras.losses.get resolves it; anything else as it is."""
    if isinstance(loss, str):
        return losses_module.get(loss)
    return loss


def _losses(loss, owner):
    resolved = tree.map_structure(_loss_function, loss)
    if all(fn is None for fn in tree.flatten(resolved)):
        raise ValueError(f"{owner} needs at least one loss that is not None (None skips an "
                         f"output). Received: loss={loss!r}")
    return resolved


def _summed(values):
    return ops.sum(ops.stack(tree.flatten(values)))


@keras_export("keras.distillation.DistillationLoss")
class DistillationLoss:
    """The base of distillation losses: a subclass implements `compute_loss(teacher_outputs,
    student_outputs)`, returning a scalar."""

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement compute_loss("
                                  "teacher_outputs, student_outputs)")

    def validate_outputs(self, teacher_outputs, student_outputs):
        """Raises a ValueError when the two models' outputs differ in structure."""
        tree.assert_same_structure(teacher_outputs, student_outputs)

    def validate_model_compatibility(self, teacher, student):
        """Raises a ValueError when this loss cannot compare these two models."""


def _is_symbolic(model):
    return getattr(model, "inputs", None) is not None


@keras_export("keras.distillation.FeatureDistillation")
class FeatureDistillation(DistillationLoss):
    """Compares a teacher layer's output with a student layer's output (each model's final
    output where no layer is named) with `loss` ("mse" by default; a nested structure of
    losses for layers with several outputs, None skipping one).

    Naming a layer needs models with symbolic inputs (Sequential or Functional), whose
    layers' outputs can be read."""

    def __init__(self, loss="mse", teacher_layer_name=None, student_layer_name=None):
        self.teacher_layer_name = teacher_layer_name
        self.student_layer_name = student_layer_name
        self.loss = _losses(loss, "FeatureDistillation")

    def validate_model_compatibility(self, teacher, student):
        if self.teacher_layer_name is None and self.student_layer_name is None:
            return
        subclassed = [role for role, model in (("teacher", teacher), ("student", student))
                      if not _is_symbolic(model)]
        if subclassed:
            raise ValueError(
                f"FeatureDistillation reads named layers' outputs, which needs Sequential or "
                f"Functional models; the {' and '.join(subclassed)} model(s) are subclassed "
                "(no symbolic inputs). Use FeatureDistillation without layer names (final "
                "outputs only) or LogitsDistillation instead.")
        for role, model, name in (("teacher", teacher, self.teacher_layer_name),
                                  ("student", student, self.student_layer_name)):
            if name is not None:
                try:
                    model.get_layer(name=name)
                except ValueError as error:
                    raise ValueError(f"In the {role} model: {error}") from None

    def validate_outputs(self, teacher_outputs, student_outputs):
        super().validate_outputs(teacher_outputs, student_outputs)
        try:
            tree.assert_same_structure(self.loss, teacher_outputs)
        except ValueError as error:
            raise ValueError(f"FeatureDistillation's loss structure does not match the "
                             f"features' structure: {error}") from None

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        def one(loss_fn, teacher, student):
            return 0.0 if loss_fn is None else ops.mean(loss_fn(teacher, student))

        return _summed(tree.map_structure(one, self.loss, teacher_outputs, student_outputs))

    def get_config(self):
        return {"loss": serialize_keras_object(self.loss),
                "teacher_layer_name": self.teacher_layer_name,
                "student_layer_name": self.student_layer_name}

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "loss": deserialize_keras_object(config["loss"])})


@keras_export("keras.distillation.LogitsDistillation")
class LogitsDistillation(DistillationLoss):
    """Compares the two models' final logits, each divided by `temperature` (3.0), with
    `loss` ("kl_divergence"; a nested structure for several outputs, None skipping one). With
    a `keras.losses.KLDivergence` instance the scaled logits go through a softmax first and
    the loss is multiplied by temperature**2."""

    def __init__(self, temperature=3.0, loss="kl_divergence"):
        self.temperature = temperature
        self.loss = _losses(loss, "LogitsDistillation")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
            raise ValueError(f"LogitsDistillation's temperature must be a number, received "
                             f"{temperature!r} of type {type(temperature).__name__}")
        if temperature <= 0:
            raise ValueError(f"LogitsDistillation's temperature must be positive, received "
                             f"{temperature}")

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        temperature = self.temperature

        def one(loss_fn, teacher, student):
            if loss_fn is None:
                return 0.0
            teacher, student = teacher / temperature, student / temperature
            if isinstance(loss_fn, losses_module.KLDivergence):
                loss = loss_fn(ops.softmax(teacher, axis=-1), ops.softmax(student, axis=-1))
                return ops.mean(loss) * temperature ** 2
            return ops.mean(loss_fn(teacher, student))

        return _summed(tree.map_structure(one, self.loss, teacher_outputs, student_outputs))

    def get_config(self):
        return {"temperature": self.temperature, "loss": serialize_keras_object(self.loss)}

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "loss": deserialize_keras_object(config["loss"])})


def _check_number(value, name, low=None, high=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"Distiller's {name} must be a number, received {value!r} of type "
                         f"{type(value).__name__}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"Distiller's {name} must be between {low} and {high}, received "
                         f"{value}")


@keras_export("keras.distillation.Distiller")
class Distiller(Model):
    """Trains `student` on its compiled loss and on `distillation_losses` against a frozen
    `teacher` (made non-trainable here). `student_loss_weight` (0.5, within [0, 1]) weighs the
    labels' loss against the distillation losses, which `distillation_loss_weights` weigh among
    themselves (1.0 each by default). Calling the distiller calls the student; fit logs
    `student_loss`, `distillation_loss` and `total_loss` beside `loss`.

    >>> from tensorflux import keras
    >>> def mlp(name, units):
    ...     return keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, name="h"),
    ...                              keras.layers.Dense(2, name="logits")], name=name)
    >>> distiller = keras.distillation.Distiller(
    ...     mlp("teacher", 8), mlp("student", 3),
    ...     keras.distillation.LogitsDistillation(temperature=2.0))
    >>> distiller.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    >>> distiller.teacher.trainable, len(distiller.trainable_weights)
    (False, 4)
    """

    def __init__(self, teacher, student, distillation_losses, distillation_loss_weights=None,
                 student_loss_weight=0.5, name="distiller", **kwargs):
        super().__init__(name=name, **kwargs)
        for role, model in (("teacher", teacher), ("student", student)):
            if not isinstance(model, Model):
                raise ValueError(f"Distiller's {role} must be a keras.Model, received "
                                 f"{type(model).__name__}")
        _check_compatible(teacher, student)
        self.teacher = teacher
        self.student = student
        _check_number(student_loss_weight, "student_loss_weight", 0.0, 1.0)
        self.student_loss_weight = student_loss_weight
        if distillation_losses is None:
            raise ValueError("Distiller needs distillation_losses: a distillation loss such as "
                             "keras.distillation.LogitsDistillation(), or a list of them")
        if not isinstance(distillation_losses, (list, tuple)):
            distillation_losses = [distillation_losses]
        distillation_losses = list(distillation_losses)
        if distillation_loss_weights is None:
            distillation_loss_weights = [1.0] * len(distillation_losses)
        elif len(distillation_loss_weights) != len(distillation_losses):
            raise ValueError(f"Distiller got {len(distillation_loss_weights)} "
                             f"distillation_loss_weights for {len(distillation_losses)} "
                             "distillation_losses; give one weight per loss")
        self.distillation_losses = distillation_losses
        self.distillation_loss_weights = list(distillation_loss_weights)
        for loss in distillation_losses:
            loss.validate_model_compatibility(teacher, student)
        self._teacher_features = _feature_extractor(
            teacher, [getattr(loss, "teacher_layer_name", None) for loss in distillation_losses])
        self._student_features = _feature_extractor(
            student, [getattr(loss, "student_layer_name", None) for loss in distillation_losses])
        teacher.trainable = False
        self.student_loss_tracker = metrics_module.Mean(name="student_loss")
        self.distillation_loss_tracker = metrics_module.Mean(name="distillation_loss")
        self.total_loss_tracker = metrics_module.Mean(name="total_loss")

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """`loss` is the student's loss on the labels (required); it is applied here, in
        compute_loss, so the model compiles without one."""
        if loss is None:
            raise ValueError("Distiller.compile needs `loss`: the student's loss on the "
                             "labels, e.g. 'sparse_categorical_crossentropy'")
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise ValueError(f"Distiller.compile's metrics must be a list or tuple, received "
                             f"{type(metrics).__name__}")
        self._student_loss = tree.map_structure(_loss_function, loss)
        super().compile(optimizer=optimizer, loss=None, metrics=metrics, **kwargs)

    def call(self, inputs, training=None, **kwargs):
        return self.student(inputs, training=training, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y_pred is None:
            y_pred = self(x, training=training)
        weight = self.student_loss_weight
        student_loss = 0.0
        if weight > 0.0 and y is not None:
            parts = tree.flatten(tree.map_structure(lambda fn, true, pred: fn(true, pred),
                                                    self._student_loss, y, y_pred))
            student_loss = parts[0] if len(parts) == 1 else ops.sum(ops.stack(parts))
            if len(getattr(student_loss, "shape", ())) > 0:
                student_loss = ops.mean(student_loss)
        distillation_loss = 0.0
        if weight < 1.0:
            teacher = _features(self._teacher_features, self.teacher, x, False)
            student = ({_FINAL: y_pred} if self._student_features is None
                       else _features(self._student_features, self.student, x, True))
            for loss, loss_weight in zip(self.distillation_losses,
                                         self.distillation_loss_weights):
                if getattr(loss, "teacher_layer_name", None) is None:
                    pair = teacher[_FINAL], y_pred
                else:
                    pair = (teacher[loss.teacher_layer_name],
                            student[loss.student_layer_name or _FINAL])
                loss.validate_outputs(*pair)
                value = loss.compute_loss(*pair)
                if len(getattr(value, "shape", ())) > 0:
                    raise ValueError(f"{type(loss).__name__}.compute_loss must return a scalar, "
                                     f"it returned shape {tuple(value.shape)}")
                distillation_loss = ops.add(distillation_loss, ops.multiply(loss_weight, value))
        total = ops.add(ops.multiply(weight, student_loss),
                        ops.multiply(1.0 - weight, distillation_loss))
        self.student_loss_tracker.update_state(student_loss)
        self.distillation_loss_tracker.update_state(distillation_loss)
        self.total_loss_tracker.update_state(total)
        return total

    def get_config(self):
        return {**super().get_config(),
                "teacher": serialize_keras_object(self.teacher),
                "student": serialize_keras_object(self.student),
                "distillation_losses": [serialize_keras_object(loss)
                                        for loss in self.distillation_losses],
                "distillation_loss_weights": self.distillation_loss_weights,
                "student_loss_weight": self.student_loss_weight}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("teacher", "student"):
            config[key] = deserialize_keras_object(config[key], custom_objects=custom_objects)
        config["distillation_losses"] = [
            deserialize_keras_object(loss, custom_objects=custom_objects)
            for loss in config["distillation_losses"]]
        return cls(**config)


def _check_compatible(teacher, student):
    """Teacher and student of symbolic models take and give tensors of the same shapes (None
    matching anything) and dtypes."""
    for kind in ("inputs", "outputs"):
        theirs, ours = getattr(teacher, kind, None), getattr(student, kind, None)
        if theirs is None or ours is None:
            continue

        def check(a, b, kind=kind):
            a_shape, b_shape = tuple(a.shape), tuple(b.shape)
            if len(a_shape) != len(b_shape) or any(
                    x is not None and y is not None and x != y for x, y in zip(a_shape, b_shape)):
                raise ValueError(f"Distiller's teacher and student {kind} differ in shape: "
                                 f"teacher {a_shape}, student {b_shape}")
            if a.dtype != b.dtype:
                raise ValueError(f"Distiller's teacher and student {kind} differ in dtype: "
                                 f"teacher {a.dtype}, student {b.dtype}")

        tree.map_structure(check, theirs, ours)


def _feature_extractor(model, layer_names):
    """One Functional model giving `model`'s final output and the named layers' outputs (a
    dict), so every feature comes from a single forward pass; None where none is named."""
    names = list(dict.fromkeys(name for name in layer_names if name))
    if not names:
        return None
    if not _is_symbolic(model):
        raise ValueError(f"Distiller cannot read layer outputs of {model.name!r}: it has no "
                         "symbolic inputs (a subclassed model)")
    final = model.layers[-1].output if isinstance(model, Sequential) else model.output
    outputs = {_FINAL: final, **{name: model.get_layer(name=name).output for name in names}}
    return Model(inputs=model.inputs, outputs=outputs,
                 name=f"{model.name}_multi_feature_extractor")


def _features(extractor, model, x, training):
    if extractor is None:
        return {_FINAL: model(x, training=training)}
    return extractor(x, training=training)
