"""keras.optimizers.MultiOptimizer and OptimizerMap (Keras 3.13+): each trainable variable is
updated by the optimizer its path maps to, so a model's parts can train with different
optimizers or learning rates (a pretrained backbone slowly, a new head fast).

An OptimizerMap looks a variable's path up exactly first, then as a regular expression that
must match the whole path ("encoder/.*"), and falls back to its default optimizer. A
MultiOptimizer builds each inner optimizer on its own variables only and counts one iteration
per `apply`; its inner optimizers keep their own iterations, learning rates and state.
"""

import re
from collections.abc import MutableMapping

import tensorflux as tf
from tensorflux.keras.optimizers.base import Optimizer
from tensorflux.keras.optimizers.loss_scale_optimizer import LossScaleOptimizer
from tensorflux.keras.saving.serialization import (
    deserialize_keras_object,
    keras_export,
    serialize_keras_object,
)

__all__ = ["MultiOptimizer", "OptimizerMap"]


def _check_inner(optimizer, what):
    if not isinstance(optimizer, Optimizer):
        raise ValueError(f"{what} must be a Keras Optimizer instance, received "
                         f"{type(optimizer).__name__}: {optimizer!r}")
    if isinstance(optimizer, (LossScaleOptimizer, MultiOptimizer)):
        raise ValueError(f"{what} cannot be a {type(optimizer).__name__}: a MultiOptimizer's "
                         "inner optimizers are plain optimizers (give the MultiOptimizer "
                         "itself the loss_scale_factor)")


@keras_export("keras.optimizers.OptimizerMap")
class OptimizerMap(MutableMapping):
    """Variable paths (or whole-path regular expressions) -> optimizers, with
    `default_optimizer` for every path no key matches. Calling the map on a variable gives
    its optimizer.

    >>> from tensorflux.keras import optimizers
    >>> mapping = optimizers.OptimizerMap(optimizers.SGD(name="default"))
    >>> mapping["encoder/.*"] = optimizers.Adam(name="encoder_adam")
    >>> mapping["encoder/dense/kernel"].name, mapping["head/dense/kernel"].name
    ('encoder_adam', 'default')
    """

    def __init__(self, default_optimizer, optimizer_map=None):
        if not isinstance(default_optimizer, Optimizer):
            raise TypeError(f"OptimizerMap's default_optimizer must be a Keras Optimizer "
                            f"instance, received {type(default_optimizer).__name__}")
        if optimizer_map is not None and not isinstance(optimizer_map, dict):
            raise TypeError(f"OptimizerMap's optimizer_map must be a dict of path -> "
                            f"optimizer, received {type(optimizer_map).__name__}")
        self._default_optimizer = default_optimizer
        self._optimizer_map = dict(optimizer_map or {})

    @property
    def default_optimizer(self):
        return self._default_optimizer

    def __getitem__(self, path):
        if path in self._optimizer_map:
            return self._optimizer_map[path]
        matches = [key for key in self._optimizer_map if re.fullmatch(key, path)]
        if len(matches) > 1:
            raise ValueError(f"Multiple optimizers assigned to variable {path}: its path "
                             f"matches the patterns {matches}")
        return self._optimizer_map[matches[0]] if matches else self._default_optimizer

    def __setitem__(self, path, optimizer):
        if path in self._optimizer_map:
            raise ValueError(f"'{path}' already exists in the OptimizerMap with value "
                             f"{self._optimizer_map[path]}; each key takes one optimizer")
        if not isinstance(path, str):
            raise ValueError(f"OptimizerMap keys are variable paths or patterns (str), "
                             f"received {path!r}")
        _check_inner(optimizer, f"The optimizer for {path!r}")
        self._optimizer_map[path] = optimizer

    def __delitem__(self, path):
        del self._optimizer_map[path]

    def __len__(self):
        return len(self._optimizer_map)

    def __iter__(self):
        return iter(self._optimizer_map)

    def __call__(self, variable):
        return self[variable.path]

    def get_config(self):
        return {"default_optimizer": serialize_keras_object(self._default_optimizer),
                "optimizer_map": serialize_keras_object(self._optimizer_map)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(deserialize_keras_object(config["default_optimizer"],
                                            custom_objects=custom_objects),
                   deserialize_keras_object(config["optimizer_map"],
                                            custom_objects=custom_objects))


@keras_export("keras.optimizers.MultiOptimizer")
class MultiOptimizer(Optimizer):
    """Hands each variable's gradient to the optimizer `optimizer_map` gives it (an
    OptimizerMap, or any callable taking a variable and returning an optimizer).
    `loss_scale_factor` applies to every inner optimizer. It has no learning rate of its
    own: read or set those on `.optimizers`."""

    def __init__(self, optimizer_map, loss_scale_factor=None, name=None):
        self._inner = []
        super().__init__(learning_rate=0.0, loss_scale_factor=loss_scale_factor, name=name)
        self._optimizer_map = optimizer_map
        if isinstance(optimizer_map, OptimizerMap):
            for optimizer in [*optimizer_map.values(), optimizer_map.default_optimizer]:
                self._add_inner(optimizer)
        self._optimizer_of = {}

    def _add_inner(self, optimizer):
        if optimizer not in self._inner:
            optimizer.loss_scale_factor = self.loss_scale_factor
            self._inner.append(optimizer)
        return self._inner.index(optimizer)

    @property
    def optimizers(self):
        """The inner optimizers, in the order they were first met."""
        return self._inner

    @property
    def variables(self):
        return self._variables[:] + [v for optimizer in self._inner for v in optimizer.variables]

    @property
    def learning_rate(self):
        raise AttributeError("A MultiOptimizer has no single learning rate: read it on the "
                             "inner optimizers (`optimizer.optimizers`)")

    @learning_rate.setter
    def learning_rate(self, value):
        raise AttributeError("A MultiOptimizer has no single learning rate: set it on the "
                             "inner optimizers (`optimizer.optimizers`)")

    @property
    def loss_scale_factor(self):
        return self._loss_scale_factor

    @loss_scale_factor.setter
    def loss_scale_factor(self, value):
        self._loss_scale_factor = value
        for optimizer in self._inner:
            optimizer.loss_scale_factor = value

    @property
    def iterations(self):
        return self._iterations

    def build(self, var_list):  # (Keras's argument name)
        if self.built:
            return
        variables = list(var_list)
        groups = {}
        for variable in variables:
            optimizer = self._optimizer_map(variable)
            _check_inner(optimizer, f"The optimizer for variable {variable.path!r}")
            index = self._add_inner(optimizer)
            self._optimizer_of[id(variable)] = index
            groups.setdefault(index, []).append(variable)
        for index, optimizer in enumerate(self._inner):
            if index in groups:
                optimizer.build(groups[index])
        super().build(variables)

    def apply(self, grads, trainable_variables=None):
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError("When passing `grads` without `variables`, the optimizer "
                                 "must already be built on a list of variables. Call "
                                 "`optimizer.build(trainable_variables)` first.")
            trainable_variables = self._trainable_variables
        trainable_variables = list(trainable_variables)
        if not self.built:
            self.build(trainable_variables)
        if len(grads) != len(trainable_variables):
            raise ValueError(f"MultiOptimizer.apply got {len(grads)} gradients for "
                             f"{len(trainable_variables)} variables; give one per variable")
        self._check_variables_are_known(trainable_variables)
        pairs = [([], []) for _ in self._inner]
        for grad, variable in zip(grads, trainable_variables):
            group = pairs[self._optimizer_of[id(variable)]]
            group[0].append(grad)
            group[1].append(variable)
        for optimizer, (group_grads, group_variables) in zip(self._inner, pairs):
            if group_variables:
                optimizer.apply(group_grads, group_variables)
        self._iterations.assign_add(tf.constant(1, tf.int64))

    def finalize_variable_values(self, var_list):
        groups = {}
        for variable in var_list:
            groups.setdefault(self._optimizer_of[id(variable)], []).append(variable)
        for index, group in groups.items():
            self._inner[index].finalize_variable_values(group)

    def set_weights(self, weights):
        if not self.built:
            raise ValueError("You are calling `set_weights()` on an optimizer that has not yet "
                             "been built. Please call `optimizer.build(trainable_variables)` "
                             "to create the optimizer weights before calling `set_weights()`.")
        weights = list(weights)
        expected = len(self.variables)
        if len(weights) != expected:
            raise ValueError(f"MultiOptimizer.set_weights expects {expected} values (its own "
                             f"and its inner optimizers' variables), received {len(weights)}")
        for variable, value in zip(self.variables, weights):
            variable.assign(value)

    def get_config(self):
        return {"optimizer_map": serialize_keras_object(self._optimizer_map),
                "loss_scale_factor": self.loss_scale_factor, "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**{**config, "optimizer_map": deserialize_keras_object(
            config["optimizer_map"], custom_objects=custom_objects)})
