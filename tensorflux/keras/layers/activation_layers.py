"""keras.layers activation layers: ReLU, LeakyReLU, PReLU, ELU and Softmax."""

from tensorflux.keras import activations, constraints, initializers, regularizers
from tensorflux.keras.layers.base import InputSpec, Layer, _describe, _format_shape

__all__ = ["ELU", "LeakyReLU", "PReLU", "ReLU", "Softmax"]


def _tf():
    import tensorflux as tf

    return tf


class ReLU(Layer):
    """Rectified linear unit with Keras's options: `max_value`, `negative_slope` and
    `threshold` (f(x) = max_value for x >= max_value, x for threshold <= x < max_value,
    negative_slope * (x - threshold) otherwise).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.ReLU(max_value=1.0)(tf.constant([-1.0, 0.5, 3.0])).numpy().tolist()
    [0.0, 0.5, 1.0]
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0.0:
            raise ValueError("max_value of a ReLU layer cannot be a negative value. Received: "
                             f"max_value={max_value}")
        if negative_slope is None or negative_slope < 0.0:
            raise ValueError("negative_slope of a ReLU layer cannot be None or a negative "
                             f"value. Received: negative_slope={negative_slope}")
        if threshold is None or threshold < 0.0:
            raise ValueError("threshold of a ReLU layer cannot be None or a negative value. "
                             f"Received: threshold={threshold}")
        self.max_value = max_value
        self.negative_slope = negative_slope
        self.threshold = threshold
        self.supports_masking = True
        self.built = True

    def call(self, inputs):
        return activations.relu(inputs, negative_slope=self.negative_slope,
                                max_value=self.max_value, threshold=self.threshold)

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class LeakyReLU(Layer):
    """x for x >= 0 else negative_slope * x; the layer's default slope is 0.3 (the function
    keras.activations.leaky_relu defaults to 0.2).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.LeakyReLU()(tf.constant([-1.0, 2.0])).numpy().tolist()
    [-0.30000001192092896, 2.0]
    """

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:  # the Keras 2 name of the argument
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        if negative_slope is None or negative_slope < 0:
            raise ValueError("The negative_slope value of a Leaky ReLU layer cannot be None or "
                             f"negative value. Expected a float. Received: "
                             f"negative_slope={negative_slope}")
        self.negative_slope = negative_slope
        self.supports_masking = True
        self.built = True

    def call(self, inputs):
        # (tf.nn.leaky_relu, as Keras: its gradient has a second derivative, which WGAN-GP's
        # gradient penalty differentiates)
        return _tf().nn.leaky_relu(inputs, alpha=self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class PReLU(Layer):
    """Parametric ReLU: x for x >= 0 else alpha * x, with a learned `alpha` of the input's
    non-batch shape (axes in `shared_axes` get size 1).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.PReLU(alpha_initializer="ones", shared_axes=[1])
    >>> layer(tf.constant([[[-1.0, 2.0]]])).numpy().tolist(), tuple(layer.alpha.shape)
    ([[[-1.0, 2.0]]], (1, 2))
    """

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        elif not isinstance(shared_axes, (list, tuple)):
            self.shared_axes = [shared_axes]
        else:
            self.shared_axes = list(shared_axes)

    def build(self, input_shape):
        param_shape = list(input_shape[1:])
        if self.shared_axes is not None:
            for axis in self.shared_axes:
                if not 1 <= axis < len(input_shape):
                    raise ValueError(f"{_describe(self)}: shared axis {axis} is out of range "
                                     f"for an input of shape {_format_shape(input_shape)} "
                                     "(axes start at 1, after the batch axis)")
                param_shape[axis - 1] = 1
        if None in param_shape:
            raise ValueError(f"{_describe(self)} needs known non-batch dimensions (or "
                             f"`shared_axes` over the unknown ones), received shape "
                             f"{_format_shape(input_shape)}")
        self.alpha = self.add_weight(shape=param_shape, name="alpha",
                                     initializer=self.alpha_initializer,
                                     regularizer=self.alpha_regularizer,
                                     constraint=self.alpha_constraint)
        axes = {}
        if self.shared_axes:
            for i in range(1, len(input_shape)):
                if i not in self.shared_axes:
                    axes[i] = input_shape[i]
        self.input_spec = InputSpec(ndim=len(input_shape), axes=axes)

    def call(self, inputs):
        tf = _tf()
        return tf.nn.relu(inputs) - self.alpha * tf.nn.relu(-inputs)

    def get_config(self):
        return {**super().get_config(),
                "alpha_initializer": initializers.serialize(self.alpha_initializer),
                "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
                "alpha_constraint": constraints.serialize(self.alpha_constraint),
                "shared_axes": self.shared_axes}


class ELU(Layer):
    """Exponential linear unit: x for x > 0 else alpha * (exp(x) - 1).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.ELU()(tf.constant([0.0, 2.0])).numpy().tolist()
    [0.0, 2.0]
    """

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha
        self.supports_masking = True
        self.built = True

    def call(self, inputs):
        return activations.elu(inputs, alpha=self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


def _large_negative_number(dtype):
    return -3e4 if dtype == "float16" else -1e9


class Softmax(Layer):
    """Softmax over `axis` (an int or a tuple of axes); masked entries get probability 0.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.Softmax()(tf.constant([[0.0, 0.0]])).numpy().tolist()
    [[0.5, 0.5]]
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.supports_masking = True
        self.built = True

    def call(self, inputs, mask=None):
        tf = _tf()
        if mask is not None:
            if len(mask.shape) > len(inputs.shape):
                raise ValueError(f"{_describe(self)}: the mask must be broadcastable to the "
                                 f"inputs. Received: inputs.shape="
                                 f"{_format_shape(tuple(inputs.shape))}, mask.shape="
                                 f"{_format_shape(tuple(mask.shape))}")
            if mask.dtype.name != "bool":
                mask = tf.greater(mask, tf.cast(0.5, mask.dtype))
            mask = tf.broadcast_to(mask, tuple(inputs.shape))
            inputs = tf.where(mask, inputs, tf.fill(tuple(inputs.shape), tf.constant(
                _large_negative_number(inputs.dtype.name), inputs.dtype)))
        if isinstance(self.axis, (tuple, list)) and len(self.axis) > 1:
            axes = list(self.axis)
            outputs = tf.exp(inputs - tf.reduce_logsumexp(inputs, axis=axes, keepdims=True))
        else:
            axis = self.axis[0] if isinstance(self.axis, (tuple, list)) else self.axis
            outputs = tf.nn.softmax(inputs, axis=axis)
        if mask is not None:
            outputs = tf.where(mask, outputs, tf.zeros_like(outputs))
        return outputs

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
