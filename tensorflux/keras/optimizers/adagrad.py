"""Adagrad, Adadelta and Ftrl (Keras 3's formulas)."""

import tensorflux as tf
from tensorflux.keras.optimizers._common import base_positional, split_base_kwargs
from tensorflux.keras.optimizers.base import Optimizer

__all__ = ["Adagrad", "Adadelta", "Ftrl"]


class Adagrad(Optimizer):
    """`acc += g^2; var -= lr*g/sqrt(acc + epsilon)` with acc starting at 0.1.

    >>> import tensorflux as tf
    >>> from tensorflux.keras import optimizers
    >>> w = tf.Variable([1.0])
    >>> _ = optimizers.Adagrad(learning_rate=0.1).apply_gradients([(tf.constant([1.0]), w)])
    >>> round(float(w[0]), 5)
    0.90465
    """

    _supports_flat = True

    @base_positional
    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 **kwargs):
        base, rest = split_base_kwargs(kwargs)
        super().__init__(learning_rate=learning_rate, **base, **rest)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._accumulators = self.add_optimizer_variables(
            var_list, "accumulator", initializer=float(self.initial_accumulator_value))

    def update_step(self, gradient, variable, learning_rate):
        lr = tf.cast(learning_rate, variable.dtype)
        gradient = tf.cast(gradient, variable.dtype)
        accumulator = self._slot(self._accumulators, variable)
        self.assign_add(accumulator, tf.square(gradient))
        self.assign_sub(variable, lr * gradient / tf.sqrt(accumulator + self.epsilon))

    def get_config(self):
        config = super().get_config()
        config.update({"initial_accumulator_value": self.initial_accumulator_value,
                       "epsilon": self.epsilon})
        return config


class Adadelta(Optimizer):
    """Adadelta: steps scaled by the ratio of running RMS of updates and of gradients.

    >>> import tensorflux as tf
    >>> from tensorflux.keras import optimizers
    >>> w = tf.Variable([1.0])
    >>> _ = optimizers.Adadelta(learning_rate=1.0).apply_gradients([(tf.constant([1.0]), w)])
    >>> round(float(w[0]), 6)
    0.998586
    """

    _supports_flat = True

    @base_positional
    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        base, rest = split_base_kwargs(kwargs)
        super().__init__(learning_rate=learning_rate, **base, **rest)
        self.rho = rho
        self.epsilon = epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._accumulated_grads, self._accumulated_delta_vars = self.add_optimizer_variables(
            var_list, ["accumulated_grad", "accumulated_delta_var"])

    def update_step(self, grad, variable, learning_rate):
        lr = tf.cast(learning_rate, variable.dtype)
        grad = tf.cast(grad, variable.dtype)
        rho = self.rho
        accumulated_grad = self._slot(self._accumulated_grads, variable)
        accumulated_delta_var = self._slot(self._accumulated_delta_vars, variable)

        def rms(x):
            return tf.sqrt(x + self.epsilon)

        self.assign(accumulated_grad, rho * accumulated_grad + (1 - rho) * tf.square(grad))
        delta_var = -(rms(accumulated_delta_var) * grad / rms(accumulated_grad))
        self.assign(accumulated_delta_var,
                    rho * accumulated_delta_var + (1 - rho) * tf.square(delta_var))
        self.assign_add(variable, lr * delta_var)

    def get_config(self):
        config = super().get_config()
        config.update({"rho": self.rho, "epsilon": self.epsilon})
        return config


class Ftrl(Optimizer):
    """Follow The Regularized Leader (Keras 3's formula, with l1/l2/shrinkage and beta).

    >>> import tensorflux as tf
    >>> from tensorflux.keras import optimizers
    >>> w = tf.Variable([1.0])
    >>> _ = optimizers.Ftrl(learning_rate=0.1).apply_gradients([(tf.constant([1.0]), w)])
    >>> round(float(w[0]), 5)
    0.60314
    """

    _supports_flat = True

    @base_positional
    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5,
                 initial_accumulator_value=0.1, l1_regularization_strength=0.0,
                 l2_regularization_strength=0.0, l2_shrinkage_regularization_strength=0.0,
                 beta=0.0, **kwargs):
        base, rest = split_base_kwargs(kwargs)
        super().__init__(learning_rate=learning_rate, **base, **rest)
        checks = [
            (initial_accumulator_value < 0.0, "`initial_accumulator_value` needs to be "
             f"positive or zero. Received: initial_accumulator_value="
             f"{initial_accumulator_value}."),
            (learning_rate_power > 0.0, "`learning_rate_power` needs to be negative or "
             f"zero. Received: learning_rate_power={learning_rate_power}."),
            (l1_regularization_strength < 0.0, "`l1_regularization_strength` needs to be "
             f"positive or zero. Received: l1_regularization_strength="
             f"{l1_regularization_strength}."),
            (l2_regularization_strength < 0.0, "`l2_regularization_strength` needs to be "
             f"positive or zero. Received: l2_regularization_strength="
             f"{l2_regularization_strength}."),
            (l2_shrinkage_regularization_strength < 0.0, "`l2_shrinkage_regularization_"
             "strength` needs to be positive or zero. Received: "
             f"l2_shrinkage_regularization_strength={l2_shrinkage_regularization_strength}."),
        ]
        for failed, message in checks:
            if failed:
                raise ValueError(message)
        self.learning_rate_power = learning_rate_power
        self.initial_accumulator_value = initial_accumulator_value
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self.beta = beta

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._accumulators, self._linears = self.add_optimizer_variables(
            var_list, ["accumulator", "linear"],
            initializer=[float(self.initial_accumulator_value), "zeros"])

    def update_step(self, gradient, variable, learning_rate):
        lr = tf.cast(learning_rate, variable.dtype)
        gradient = tf.cast(gradient, variable.dtype)
        accum = self._slot(self._accumulators, variable)
        linear = self._slot(self._linears, variable)
        lr_power = self.learning_rate_power
        l2_reg = self.l2_regularization_strength + self.beta / (2.0 * lr)
        grad_to_use = gradient + 2 * self.l2_shrinkage_regularization_strength * variable
        new_accum = accum + tf.square(gradient)
        self.assign_add(linear, grad_to_use - (tf.pow(new_accum, -lr_power)
                                               - tf.pow(accum, -lr_power)) / lr * variable)
        quadratic = tf.pow(new_accum, -lr_power) / lr + 2 * l2_reg
        l1 = self.l1_regularization_strength
        linear_clipped = tf.clip_by_value(linear, -l1, l1)
        self.assign(variable, (linear_clipped - linear) / quadratic)
        self.assign(accum, new_accum)

    def get_config(self):
        config = super().get_config()
        config.update({
            "learning_rate_power": self.learning_rate_power,
            "initial_accumulator_value": self.initial_accumulator_value,
            "l1_regularization_strength": self.l1_regularization_strength,
            "l2_regularization_strength": self.l2_regularization_strength,
            "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
            "beta": self.beta,
        })
        return config
