"""LossScaleOptimizer: Keras 3's dynamic loss scaling around another optimizer, for float16
training (`compile` wraps the optimizer in one under the "mixed_float16" policy)."""

from contextlib import nullcontext

import tensorflux as tf
from tensorflux.keras.optimizers.base import Keras2Name as _Keras2Name
from tensorflux.keras.optimizers.base import Optimizer, _eager, multi_worker_replica

__all__ = ["LossScaleOptimizer"]

# Base-optimizer arguments a LossScaleOptimizer refuses unless they hold their defaults
# (older Keras configs wrote them all).
_INNER_ONLY_DEFAULTS = {
    "weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
    "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
    "loss_scale_factor": None, "gradient_accumulation_steps": None,
}


class LossScaleOptimizer(Optimizer):
    """Scales the loss by a dynamic factor so that float16 gradients do not underflow.

    The trainer multiplies the loss by `dynamic_scale` (`scale_loss`); `apply` divides the
    gradients by it and hands them to `inner_optimizer`. A step whose gradients hold an inf
    or a NaN is skipped (no variable changes, the inner optimizer's `iterations` included)
    and halves the scale; after `dynamic_growth_steps` finite steps in a row the scale
    doubles.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> opt = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.5))
    >>> w = tf.Variable([1.0])
    >>> opt.apply([tf.constant([float("inf")])], [w])
    >>> float(opt.dynamic_scale), w.numpy().tolist(), int(opt.iterations)
    (16384.0, [1.0], 0)
    """

    def __init__(self, inner_optimizer, initial_scale=2.0 ** 15, dynamic_growth_steps=2000,
                 name=None, **kwargs):
        if not kwargs.pop("dynamic", True):
            raise ValueError("LossScaleOptimizer no longer supports `dynamic=False`. Instead, "
                             "simply set `loss_scale_factor` directly on the "
                             "`inner_optimizer`.")
        for argument, default in _INNER_ONLY_DEFAULTS.items():
            if argument in kwargs and kwargs.pop(argument) != default:
                raise ValueError(f"LossScaleOptimizer does not support `{argument}`. Instead, "
                                 f"set `{argument}` on the `inner_optimizer`.")
        if kwargs:
            raise ValueError("LossScaleOptimizer does not support arguments: "
                             f"`{'`, `'.join(kwargs)}`.")
        if not isinstance(inner_optimizer, Optimizer):
            raise ValueError("LossScaleOptimizer wraps a keras optimizer; received "
                             f"inner_optimizer={inner_optimizer!r}")
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = inner_optimizer
        self.initial_scale = initial_scale
        self.dynamic_growth_steps = dynamic_growth_steps
        # The inner optimizer must not scale the gradients a second time.
        self.inner_optimizer.loss_scale_factor = None

    def build(self, var_list):
        if self.built:
            return
        var_list = list(var_list)
        self.step_counter = self.add_variable((), initializer="zeros",
                                              dtype=self._iterations.dtype,
                                              name="step_counter")
        self.dynamic_scale = self.add_variable((), initializer=float(self.initial_scale),
                                               dtype="float32", name="dynamic_scale")
        if not self.inner_optimizer.built:
            self.inner_optimizer.build(var_list)
        super().build(var_list)

    @property
    def variables(self):
        return self._variables[:] + list(self.inner_optimizer.variables)

    # ------------------------------------------------------------------ applying
    def apply(self, grads, trainable_variables=None):
        """Unscales `grads` and applies them with the inner optimizer when all are finite;
        then updates the scale as Keras does."""
        grads = list(grads)
        if trainable_variables is None:
            if not self.built:
                raise ValueError("When passing `grads` without `variables`, the optimizer "
                                 "must already be built on a list of variables.")
            trainable_variables = list(self._trainable_variables)
        else:
            trainable_variables = list(trainable_variables)
        if not self.built:
            with _eager():
                self.build(trainable_variables)
        grads = [g if g is None or isinstance(g, (tf.Tensor, tf.Variable))
                 else tf.convert_to_tensor(g) for g in grads]
        replica = multi_worker_replica()
        if replica is not None:  # combined here, so that every worker sees the same `finite`
            grads = replica._aggregate_gradients(self.inner_optimizer, grads,
                                                 trainable_variables)
        finite = self.check_finite(grads)
        scale = self.dynamic_scale
        unscaled = [g if g is None or getattr(v, "overwrite_with_gradient", False)
                    else g / tf.cast(scale, g.dtype)
                    for g, v in zip(grads, trainable_variables)]
        # One step for both outcomes (the trainer traces it once): apply, then put back the
        # previous state where a gradient was not finite.
        state = self._inner_state(trainable_variables)
        saved = [tf.identity(buffer) for buffer in state]
        with replica._aggregated() if replica is not None else nullcontext():
            self.inner_optimizer.apply(unscaled, trainable_variables)
        for buffer, old in zip(state, saved):
            buffer.assign(tf.where(finite, buffer, old))
        self._update_scale(finite)

    def _update_scale(self, finite):
        counter = self.step_counter
        grow = tf.logical_and(finite, tf.equal(counter, tf.cast(self.dynamic_growth_steps - 1,
                                                                counter.dtype)))
        scale = self.dynamic_scale
        new_scale = tf.where(finite, tf.where(grow, scale * 2.0, scale), scale * 0.5)
        zero = tf.zeros_like(counter)
        new_counter = tf.where(tf.logical_and(finite, tf.logical_not(grow)),
                               counter + tf.ones_like(counter), zero)
        self.dynamic_scale.assign(new_scale)
        self.step_counter.assign(new_counter)

    def _inner_state(self, trainable_variables):
        """Every buffer the inner optimizer's apply may write: the model variables (their
        flat buffers when it keeps them flat) and its own variables, iterations included."""
        inner = self.inner_optimizer
        found, seen = [], set()

        def add(variable):
            if id(variable) not in seen:
                seen.add(id(variable))
                found.append(variable)

        if getattr(inner, "_flat", False):  # (the model variables are views of these)
            for group in inner._groups:
                add(group.buffer)
        else:
            for variable in trainable_variables:
                add(variable)
        for variable in inner._variables:
            if variable is inner._learning_rate:
                continue
            base = getattr(variable, "_flat_base", None)
            add(base if base is not None else variable)
        return found

    def check_finite(self, grads):
        """A scalar bool: whether every gradient is free of infs and NaNs."""
        checks = [tf.reduce_all(tf.math.is_finite(g)) for g in grads if g is not None]
        if not checks:
            return tf.constant(True)
        return tf.reduce_all(tf.stack(checks)) if len(checks) > 1 else checks[0]

    def scale_loss(self, loss):
        """`loss` times the current scale, promoted as keras.ops.multiply does: a float16 loss
        times the float32 scale is float32, which holds the product (float16 would overflow
        at 2**15 times a loss above 2)."""
        from tensorflux.keras import ops

        return ops.multiply(loss, self.dynamic_scale if self.built else self.initial_scale)

    get_scaled_loss = _Keras2Name("Use `scale_loss(loss)`.")
    get_unscaled_gradients = _Keras2Name(
        "Pass the gradients of the scaled loss to `apply_gradients` (or `apply`) as they are: "
        "it unscales them.")
    loss_scale = _Keras2Name("The current scale is the `dynamic_scale` variable.")
    dynamic_counter = _Keras2Name("The finite steps since the scale last changed are "
                                  "`step_counter`.")

    # ------------------------------------------------------------------ delegation
    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    def get_config(self):
        from tensorflux.keras import optimizers

        return {"name": self.name,
                "inner_optimizer": optimizers.serialize(self.inner_optimizer),
                "initial_scale": self.initial_scale,
                "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from tensorflux.keras import optimizers

        config = dict(config)
        inner = config.pop("inner_optimizer")
        inner = optimizers.deserialize(inner, custom_objects=custom_objects) \
            if isinstance(inner, dict) else optimizers.get(inner)
        return cls(inner, **config)
