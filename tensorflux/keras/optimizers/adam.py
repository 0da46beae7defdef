"""Adam, AdamW, Adamax and Nadam (Keras 3's formulas: Adam's epsilon is not bias-corrected)."""

import tensorflux as tf
from tensorflux.keras.optimizers._common import base_positional, split_base_kwargs
from tensorflux.keras.optimizers.base import Optimizer

__all__ = ["Adam", "AdamW", "Adamax", "Nadam"]


def _power(base, step, dtype):
    return tf.pow(tf.cast(base, dtype), step)


class _AdamFamily(Optimizer):
    """Shared by Adam, Adamax and Nadam: beta_1, beta_2 and epsilon with their config, and
    the casts every update step starts with."""

    @base_positional
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 **kwargs):
        base, rest = split_base_kwargs(kwargs)
        super().__init__(learning_rate=learning_rate, **base, **rest)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def _step_inputs(self, gradient, variable, learning_rate):
        """(dtype, learning rate, gradient, step number t) in the variable's dtype."""
        dtype = variable.dtype
        return (dtype, tf.cast(learning_rate, dtype), tf.cast(gradient, dtype),
                tf.cast(self.iterations + 1, dtype))

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config


class Adam(_AdamFamily):
    """`var -= m * lr*sqrt(1-b2^t)/(1-b1^t) / (sqrt(v) + epsilon)` (epsilon outside the sqrt).

    >>> import tensorflux as tf
    >>> from tensorflux.keras import optimizers
    >>> w = tf.Variable([1.0])
    >>> _ = optimizers.Adam(learning_rate=0.1).apply_gradients([(tf.constant([2.0]), w)])
    >>> round(float(w[0]), 5)
    0.9
    """

    _supports_flat = True

    @base_positional
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, **kwargs)
        self.amsgrad = amsgrad

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"])
        if self.amsgrad:
            self._velocity_hats = self.add_optimizer_variables(var_list, "velocity_hat")

    def update_step(self, gradient, variable, learning_rate):
        dtype, lr, gradient, local_step = self._step_inputs(gradient, variable, learning_rate)
        beta_1_power = _power(self.beta_1, local_step, dtype)
        beta_2_power = _power(self.beta_2, local_step, dtype)
        m = self._slot(self._momentums, variable)
        v = self._slot(self._velocities, variable)
        alpha = lr * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        self.assign_add(m, (gradient - m) * (1 - self.beta_1))
        self.assign_add(v, (tf.square(gradient) - v) * (1 - self.beta_2))
        if self.amsgrad:
            v_hat = self._slot(self._velocity_hats, variable)
            self.assign(v_hat, tf.maximum(v_hat, v))
            v = v_hat
        self.assign_sub(variable, m * alpha / (tf.sqrt(v) + self.epsilon))

    def get_config(self):
        config = super().get_config()
        config["amsgrad"] = self.amsgrad
        return config


class AdamW(Adam):
    """Adam with decoupled weight decay (`var -= var*weight_decay*lr` before each step).

    >>> from tensorflux.keras import optimizers
    >>> optimizers.AdamW().weight_decay
    0.004
    """

    @base_positional
    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, amsgrad=amsgrad, weight_decay=weight_decay, **kwargs)
        if self.weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: "
                             "weight_decay=None")


class Adamax(_AdamFamily):
    """Adam with the infinity norm: `u = max(b2*u, |g|); var -= lr*m/((1-b1^t)*(u+eps))`.

    >>> import tensorflux as tf
    >>> from tensorflux.keras import optimizers
    >>> w = tf.Variable([1.0])
    >>> _ = optimizers.Adamax(learning_rate=0.1).apply_gradients([(tf.constant([2.0]), w)])
    >>> round(float(w[0]), 5)
    0.9
    """

    _supports_flat = True

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._m, self._u = self.add_optimizer_variables(var_list, ["momentum", "norm"])

    def update_step(self, gradient, variable, learning_rate):
        dtype, lr, gradient, local_step = self._step_inputs(gradient, variable, learning_rate)
        beta_1_power = _power(self.beta_1, local_step, dtype)
        m = self._slot(self._m, variable)
        u = self._slot(self._u, variable)
        self.assign_add(m, (gradient - m) * (1 - self.beta_1))
        self.assign(u, tf.maximum(self.beta_2 * u, tf.abs(gradient)))
        self.assign_sub(variable, lr * m / ((1 - beta_1_power) * (u + self.epsilon)))


class Nadam(_AdamFamily):
    """Adam with Nesterov momentum and Keras's momentum schedule
    `u_t = beta_1 * (1 - 0.5 * 0.96^t)`.

    >>> import tensorflux as tf
    >>> from tensorflux.keras import optimizers
    >>> w = tf.Variable([1.0])
    >>> _ = optimizers.Nadam(learning_rate=0.1).apply_gradients([(tf.constant([2.0]), w)])
    >>> round(float(w[0]), 4)
    0.8937
    """

    _supports_flat = True

    def build(self, var_list):
        if self.built:
            return
        dtype = var_list[0].dtype if var_list else tf.float32
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"])
        self._u_product = self.add_variable((), initializer=1.0, dtype=dtype, name="variable")

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        dtype = self._u_product.dtype
        decay = 1.0 - 0.5 * tf.pow(tf.constant(0.96, dtype),
                                   tf.cast(self.iterations + 1, dtype))
        self.assign(self._u_product, self._u_product * self.beta_1 * decay)
        super()._backend_update_step(grads, trainable_variables, learning_rate)

    def update_step(self, gradient, variable, learning_rate):
        dtype, lr, gradient, local_step = self._step_inputs(gradient, variable, learning_rate)
        next_step = tf.cast(self.iterations + 2, dtype)
        decay = tf.constant(0.96, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        u_t = beta_1 * (1.0 - 0.5 * tf.pow(decay, local_step))
        u_t_1 = beta_1 * (1.0 - 0.5 * tf.pow(decay, next_step))
        u_product_t = tf.cast(self._u_product, dtype)
        u_product_t_1 = u_product_t * u_t_1
        beta_2_power = tf.pow(beta_2, local_step)
        m = self._slot(self._momentums, variable)
        v = self._slot(self._velocities, variable)
        self.assign_add(m, (gradient - m) * (1 - beta_1))
        self.assign_add(v, (tf.square(gradient) - v) * (1 - beta_2))
        m_hat = u_t_1 * m / (1 - u_product_t_1) + (1 - u_t) * gradient / (1 - u_product_t)
        v_hat = v / (1 - beta_2_power)
        self.assign_sub(variable, m_hat * lr / (tf.sqrt(v_hat) + self.epsilon))
