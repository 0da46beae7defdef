"""Adafactor (Keras 3's formula: second moments factored over the last two axes of each
variable of rank >= 2, updates clipped by their RMS, step size relative to the weights)."""

import tensorflux as tf
from tensorflux.keras.optimizers._common import base_positional, split_base_kwargs
from tensorflux.keras.optimizers.base import Optimizer, _eager, _keras_name

__all__ = ["Adafactor"]


def _rms(x):
    return tf.sqrt(tf.reduce_mean(tf.square(x)))


class Adafactor(Optimizer):
    """Adafactor: `var -= max(epsilon_2, rms(var)) * min(lr, 1/sqrt(t)) * u_hat`, where
    `u_hat` is `g / sqrt(v)` clipped to RMS `clip_threshold` and `v` is rebuilt from a row
    and a column accumulator for variables of rank >= 2.

    Row/column means are per variable, so Adafactor updates variable by variable. As in
    Keras, variables of rank < 2 get unused int32 scalars in place of row/column
    accumulators.

    >>> import tensorflux as tf
    >>> from tensorflux.keras import optimizers
    >>> w = tf.Variable([1.0, 1.0])
    >>> _ = optimizers.Adafactor().apply_gradients([(tf.constant([1.0, 1.0]), w)])
    >>> [round(x, 4) for x in w.numpy().tolist()]
    [0.999, 0.999]
    """

    @base_positional
    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30,
                 epsilon_2=1e-3, clip_threshold=1.0, relative_step=True, **kwargs):
        base, rest = split_base_kwargs(kwargs)
        super().__init__(learning_rate=learning_rate, **base, **rest)
        self.beta_2_decay = beta_2_decay
        self.epsilon_1 = epsilon_1
        self.epsilon_2 = epsilon_2
        self.clip_threshold = clip_threshold
        self.relative_step = relative_step

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._r, self._c, self._v = [], [], []
        for variable in var_list:
            shape = tuple(int(d) for d in variable.shape)
            name = _keras_name(variable)
            if len(shape) < 2:
                # Keras tracks two unused int32 scalars here; kept so that saved optimizer
                # state has Keras's variable count and order.
                self._r.append(self._placeholder(name))
                self._c.append(self._placeholder(name))
            else:
                self._r.append(self.add_variable(shape[:-1], dtype=variable.dtype, name=name))
                self._c.append(self.add_variable(shape[:-2] + shape[-1:], dtype=variable.dtype,
                                                 name=name))
            self._v.append(self.add_variable_from_reference(variable, "velocity"))

    def _placeholder(self, name):
        with _eager():
            return self._make_variable(tf.constant(0, tf.int32), name)

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = tf.cast(learning_rate, dtype)
        gradient = tf.cast(gradient, dtype)
        epsilon_2 = tf.cast(self.epsilon_2, dtype)
        local_step = tf.cast(self.iterations + 1, dtype)
        inverse_sqrt_step = 1 / tf.sqrt(local_step)
        # Keras tests `callable(self._learning_rate)`: a schedule or a function is used as is.
        if not callable(self._learning_rate) and self.relative_step:
            lr = tf.minimum(lr, inverse_sqrt_step)
        index = self._get_variable_index(variable)
        r, c, v = self._r[index], self._c[index], self._v[index]

        rho_t = tf.minimum(lr, inverse_sqrt_step)
        alpha_t = tf.maximum(epsilon_2, _rms(variable)) * rho_t
        regulated_grad_square = tf.square(gradient) + tf.cast(self.epsilon_1, dtype)
        beta_2_t = 1 - tf.pow(local_step, tf.cast(self.beta_2_decay, dtype))

        if len(variable.shape) >= 2:
            self.assign(r, beta_2_t * r
                        + (1 - beta_2_t) * tf.reduce_mean(regulated_grad_square, axis=-1))
            self.assign(c, beta_2_t * c
                        + (1 - beta_2_t) * tf.reduce_mean(regulated_grad_square, axis=-2))
            row = tf.expand_dims(r / tf.reduce_mean(r, axis=-1, keepdims=True), -1)
            self.assign(v, row * tf.expand_dims(c, -2))
        else:
            self.assign(v, beta_2_t * v + (1 - beta_2_t) * regulated_grad_square)

        u_t = gradient / tf.sqrt(v)
        u_t_hat = u_t / tf.maximum(tf.ones_like(alpha_t), _rms(u_t) / self.clip_threshold)
        self.assign_sub(variable, alpha_t * u_t_hat)

    def get_config(self):
        config = super().get_config()
        config.update({"beta_2_decay": self.beta_2_decay, "epsilon_1": self.epsilon_1,
                       "epsilon_2": self.epsilon_2, "clip_threshold": self.clip_threshold,
                       "relative_step": self.relative_step})
        return config
