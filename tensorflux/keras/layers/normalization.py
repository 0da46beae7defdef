"""keras.layers normalization layers: BatchNormalization, LayerNormalization,
GroupNormalization, RMSNormalization, UnitNormalization and SpectralNormalization."""

from tensorflux.keras import constraints, initializers, regularizers
from tensorflux.keras.layers._weight_args import set_weight_args, weight_args_config
from tensorflux.keras.layers.base import (
    InputSpec,
    Layer,
    _describe,
    _format_shape,
    floating_input,
)
from tensorflux.keras.layers.core import Wrapper

__all__ = ["BatchNormalization", "GroupNormalization", "LayerNormalization",
           "RMSNormalization", "SpectralNormalization", "UnitNormalization"]


def _tf():
    import tensorflux as tf

    return tf


def _stats_dtype(dtype):
    """Keras computes normalization statistics in at least float32."""
    return "float64" if dtype == "float64" else "float32"



def _add_affine_weight(layer, name, shape):
    """gamma or beta of a normalization layer: trainable, kept in float32 (no autocast)."""
    return layer.add_weight(shape=shape, name=name,
                            initializer=getattr(layer, f"{name}_initializer"),
                            regularizer=getattr(layer, f"{name}_regularizer"),
                            constraint=getattr(layer, f"{name}_constraint"), trainable=True,
                            autocast=False)


def _ones_if_none(weight, x):
    return _tf().ones([x.shape[-1]], x.dtype) if weight is None else weight


def _zeros_if_none(weight, x):
    return _tf().zeros([x.shape[-1]], x.dtype) if weight is None else weight


def _check_renorm_clipping(layer, clipping):
    unknown = set(clipping) - {"rmax", "rmin", "dmax"}
    if unknown:
        raise ValueError(f"{_describe(layer)}: received invalid keys for `renorm_clipping`: "
                         f"{sorted(unknown)}. Supported keys: 'rmax', 'rmin', 'dmax'.")
    rmax, rmin, dmax = clipping.get("rmax"), clipping.get("rmin"), clipping.get("dmax")
    if rmax is not None and rmin is not None and rmax < rmin:
        raise ValueError(f"{_describe(layer)}: `renorm_clipping` rmax must be >= rmin. "
                         f"Received: rmax={rmax}, rmin={rmin}")
    if dmax is not None and dmax < 0:
        raise ValueError(f"{_describe(layer)}: `renorm_clipping` dmax must be non-negative. "
                         f"Received: dmax={dmax}")
    return clipping


class BatchNormalization(Layer):
    """Normalizes over the batch (and spatial) axes, per feature of `axis`.

    Training (`training=True` and the layer trainable): the batch's mean and biased variance
    normalize the input and update `moving_* = moving_* * momentum + batch * (1 - momentum)`.
    Otherwise, including a frozen layer (`trainable=False`) inside `fit`, the moving
    statistics are used. Output: `(x - mean) / sqrt(var + epsilon) * gamma + beta`.
    `renorm=True` adds Keras's batch renormalization (see _renorm_step). With the features on
    the last axis (the default), training runs as one fused kernel forward and one backward
    (tensorflux.ops.nn.batch_norm_training); a mask, renorm or another axis keep the composed
    ops.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> bn = keras.layers.BatchNormalization()
    >>> y = bn(tf.constant([[0.0], [2.0]]), training=True)
    >>> [round(v, 4) for v in bn.moving_mean.numpy().tolist()]
    [0.01]
    >>> [w.name for w in bn.weights]
    ['gamma', 'beta', 'moving_mean', 'moving_variance']
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, renorm=False, renorm_clipping=None,
                 renorm_momentum=0.99, synchronized=False, **kwargs):
        # Keras 2's `fused` chose a TF kernel, not the numbers; Keras 3 dropped it.
        kwargs.pop("fused", None)
        super().__init__(**kwargs)
        if renorm:
            renorm_clipping = _check_renorm_clipping(self, renorm_clipping or {})
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"{_describe(self)}: `axis` must be an int. Received: "
                            f"axis={axis!r}")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        set_weight_args(self, beta=(beta_initializer, beta_regularizer, beta_constraint),
                        gamma=(gamma_initializer, gamma_regularizer, gamma_constraint))
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        # One device only: synchronized statistics are the local ones.
        self.synchronized = synchronized
        self.renorm = renorm
        self.renorm_clipping = renorm_clipping
        self.renorm_momentum = renorm_momentum
        self.supports_masking = True
        self.gamma = None
        self.beta = None

    def build(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise ValueError(f"{_describe(self)}: axis {self.axis} is out of range for an "
                             f"input of shape {_format_shape(input_shape)}")
        channels = input_shape[self.axis]
        if channels is None:
            raise ValueError(f"{_describe(self)} needs a known size for axis {self.axis} (the "
                             f"normalized features), received shape "
                             f"{_format_shape(input_shape)}")
        shape = (channels,)
        if self.scale:
            self.gamma = _add_affine_weight(self, "gamma", shape)
        if self.center:
            self.beta = _add_affine_weight(self, "beta", shape)
        self.moving_mean = self.add_weight(shape=shape, name="moving_mean",
                                           initializer=self.moving_mean_initializer,
                                           trainable=False, autocast=False)
        self.moving_variance = self.add_weight(shape=shape, name="moving_variance",
                                               initializer=self.moving_variance_initializer,
                                               trainable=False, autocast=False)
        if self.renorm:
            self._build_renorm(shape)
        self.input_spec = InputSpec(ndim=rank, axes={self.axis: channels})
        self._reduction_axes = [i for i in range(rank) if i != self.axis % rank]

    def _build_renorm(self, shape):
        """Batch renormalization's state, as Keras: the inference statistics kept as
        moving_stddev (moving_variance follows it), and renorm_mean / renorm_stddev, the
        averages the training-time corrections r and d are measured against."""
        tf = _tf()
        variance_init = self.moving_variance_initializer

        def stddev_init(shape, dtype=None):
            return tf.sqrt(variance_init(shape, dtype=dtype))

        self.moving_stddev = self.add_weight(shape=shape, name="moving_stddev",
                                             initializer=stddev_init, trainable=False,
                                             autocast=False)
        self.renorm_mean = self.add_weight(shape=shape, name="renorm_mean",
                                           initializer=self.moving_mean_initializer,
                                           trainable=False, autocast=False)
        self.renorm_stddev = self.add_weight(shape=shape, name="renorm_stddev",
                                             initializer=stddev_init, trainable=False,
                                             autocast=False)

    def _broadcast(self, v, rank):
        shape = [1] * rank
        shape[self.axis] = -1
        return _tf().reshape(v, shape)

    def _moments(self, x, mask):
        tf = _tf()
        axes = self._reduction_axes
        if mask is None:
            mean = tf.reduce_mean(x, axis=axes, keepdims=True)
            variance = tf.reduce_mean(tf.square(x - mean), axis=axes, keepdims=True)
        else:
            weights = tf.broadcast_to(tf.cast(tf.expand_dims(mask, -1), x.dtype),
                                      tuple(x.shape))
            count = tf.reduce_sum(weights, axis=axes, keepdims=True)
            from tensorflux.keras import backend

            mean = tf.reduce_sum(x * weights, axis=axes, keepdims=True) / (
                count + backend.epsilon())
            variance = tf.reduce_sum(tf.square((x - mean) * weights), axis=axes,
                                     keepdims=True) / (count + backend.epsilon())
        return tf.reshape(mean, [-1]), tf.reshape(variance, [-1])

    def call(self, inputs, training=None, mask=None):
        tf = _tf()
        if mask is not None and len(mask.shape) != len(inputs.shape) - 1:
            raise ValueError(f"{_describe(self)}: the mask must have one dimension less than "
                             f"the inputs. Received: mask.shape={_format_shape(mask.shape)}, "
                             f"inputs.shape={_format_shape(inputs.shape)}")
        dtype = _stats_dtype(inputs.dtype.name)
        x = tf.cast(inputs, dtype)
        rank = len(x.shape)
        moving_mean = tf.cast(self.moving_mean, dtype)
        moving_variance = tf.cast(self.moving_variance, dtype)
        gamma = None if self.gamma is None else tf.cast(self.gamma, dtype)
        beta = None if self.beta is None else tf.cast(self.beta, dtype)
        if training and self.trainable and self._fused(x, mask):
            from tensorflux.ops import nn

            outputs, mean, variance = nn.batch_norm_training(
                x, _ones_if_none(gamma, x), _zeros_if_none(beta, x), self.epsilon)
            self._move_statistics(moving_mean, moving_variance, mean, variance)
            return tf.cast(outputs, self.compute_dtype)
        if training and self.trainable:
            mean, variance = self._moments(x, mask)
            if self.renorm:
                gamma, beta = self._renorm_step(mean, variance, gamma, beta)
            else:
                self._move_statistics(moving_mean, moving_variance, mean, variance)
        else:
            mean, variance = moving_mean, moving_variance
        inv = tf.math.rsqrt(variance + self.epsilon)
        if gamma is not None:
            inv = inv * gamma
        outputs = (x - self._broadcast(mean, rank)) * self._broadcast(inv, rank)
        if beta is not None:
            outputs = outputs + self._broadcast(beta, rank)
        return tf.cast(outputs, self.compute_dtype)

    def _fused(self, x, mask):
        """Whether training runs as the fused batch_norm_training kernel: the channels are
        the last axis (every other one is reduced) and nothing changes the statistics (a
        mask, renorm, synchronized); anything else keeps the composed form."""
        rank = len(x.shape)
        return (mask is None and not self.renorm and not self.synchronized and rank >= 1
                and self.axis % rank == rank - 1)

    def _move_statistics(self, moving_mean, moving_variance, mean, variance):
        tf = _tf()
        momentum = self.momentum
        self.moving_mean.assign(tf.cast(
            moving_mean * momentum + tf.stop_gradient(mean) * (1.0 - momentum),
            self.moving_mean.dtype))
        self.moving_variance.assign(tf.cast(
            moving_variance * momentum + tf.stop_gradient(variance) * (1.0 - momentum),
            self.moving_variance.dtype))

    def _renorm_step(self, mean, variance, gamma, beta):
        """Batch renormalization in training: the batch-normalized x becomes x * r + d, with
        r = batch stddev / renorm_stddev and d = (batch mean - renorm_mean) / renorm_stddev
        (clipped, no gradient), folded into gamma and beta; then every average moves."""
        tf = _tf()
        dtype = mean.dtype
        mean, variance = tf.stop_gradient(mean), tf.stop_gradient(variance)
        stddev = tf.sqrt(variance + self.epsilon)
        renorm_mean = tf.cast(self.renorm_mean, dtype)
        renorm_stddev = tf.cast(self.renorm_stddev, dtype)
        floor = tf.sqrt(tf.cast(self.epsilon, dtype))  # no division by ~0 early on
        r = stddev / tf.maximum(renorm_stddev, floor)
        d = (mean - renorm_mean) / tf.maximum(renorm_stddev, floor)
        clipping = self.renorm_clipping
        if clipping.get("rmin") is not None:
            r = tf.maximum(r, clipping["rmin"])
        if clipping.get("rmax") is not None:
            r = tf.minimum(r, clipping["rmax"])
        if clipping.get("dmax") is not None:
            d = tf.clip_by_value(d, -clipping["dmax"], clipping["dmax"])
        new_beta = d if gamma is None else d * gamma
        new_beta = new_beta if beta is None else new_beta + beta
        new_gamma = r if gamma is None else r * gamma

        def moved(variable, batch_value, momentum):
            value = tf.cast(variable, dtype) * momentum + batch_value * (1.0 - momentum)
            variable.assign(tf.cast(value, variable.dtype))
            return value

        moved(self.renorm_mean, mean, self.renorm_momentum)
        moved(self.renorm_stddev, stddev, self.renorm_momentum)
        moved(self.moving_mean, mean, self.momentum)
        moving_stddev = moved(self.moving_stddev, stddev, self.momentum)
        self.moving_variance.assign(tf.cast(
            tf.nn.relu(moving_stddev * moving_stddev - self.epsilon),
            self.moving_variance.dtype))
        return new_gamma, new_beta

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(
                self.moving_variance_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
            "synchronized": self.synchronized,
            "renorm": self.renorm,
            "renorm_clipping": self.renorm_clipping,
            "renorm_momentum": self.renorm_momentum,
        }


class LayerNormalization(Layer):
    """Normalizes each sample over `axis` (default the last): mean 0, variance 1, then
    `* gamma + beta`; epsilon 1e-3 as Keras. Over trailing axes with center (the default),
    it runs as one kernel forward and one backward (tensorflux.ops.nn.layer_norm, the same
    bits as the composed ops); rms_scaling, center=False or other axes keep the composed ops.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> y = keras.layers.LayerNormalization(epsilon=0.0)(tf.constant([[1.0, 3.0]]))
    >>> y.numpy().tolist()
    [[-1.0, 1.0]]
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 **kwargs):
        rms_scaling = kwargs.pop("rms_scaling", False)
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            self.axis = list(axis)
        elif isinstance(axis, int) and not isinstance(axis, bool):
            self.axis = axis
        else:
            raise TypeError("Expected an int or a list/tuple of ints for the argument 'axis', "
                            f"but received: {axis!r}")
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        self.rms_scaling = rms_scaling
        set_weight_args(self, beta=(beta_initializer, beta_regularizer, beta_constraint),
                        gamma=(gamma_initializer, gamma_regularizer, gamma_constraint))
        self.supports_masking = True
        self.autocast = False
        self.gamma = None
        self.beta = None

    def build(self, input_shape):
        rank = len(input_shape)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        for axis in axes:
            if not -rank <= axis < rank:
                raise ValueError(f"{_describe(self)}: axis {axis} is out of bounds for an "
                                 f"input of shape {_format_shape(input_shape)}. Received: "
                                 f"axis={self.axis}")
        # Keras keeps the axes as a sorted list from here on (its config then shows a list).
        self.axis = sorted(axes)
        shape = tuple(input_shape[d] for d in self.axis)
        if None in shape:
            raise ValueError(f"{_describe(self)} needs known sizes for the normalized axes "
                             f"{self.axis}, received shape {_format_shape(input_shape)}")
        # (a later input of another size there is refused naming the layer and both shapes,
        # rather than failing inside the normalization's reshape)
        self.input_spec = InputSpec(min_ndim=max(a + 1 if a >= 0 else -a for a in self.axis),
                                    axes=dict(zip(self.axis, shape)))
        if self.scale or self.rms_scaling:
            self.gamma = _add_affine_weight(self, "gamma", shape)
        if self.center and not self.rms_scaling:
            self.beta = _add_affine_weight(self, "beta", shape)

    def call(self, inputs):
        tf = _tf()
        dtype = _stats_dtype(inputs.dtype.name)
        x = tf.cast(inputs, dtype)
        shape = tuple(x.shape)
        rank = len(shape)
        axes = [a % rank for a in self.axis]
        broadcast_shape = [shape[d] if d in axes else 1 for d in range(rank)]

        def weight(v):
            return tf.reshape(tf.cast(v, dtype), broadcast_shape)

        if self._fused(axes, rank):
            from tensorflux.ops import nn

            gamma = (tf.ones(shape[rank - len(axes):], dtype) if self.gamma is None
                     else tf.cast(self.gamma, dtype))
            outputs = nn.layer_norm(x, gamma, tf.cast(self.beta, dtype), self.epsilon,
                                    len(axes))
            return tf.cast(outputs, self.compute_dtype)
        mean = tf.reduce_mean(x, axis=axes, keepdims=True)
        variance = tf.reduce_mean(tf.square(x - mean), axis=axes, keepdims=True)
        inv = tf.math.rsqrt(variance + self.epsilon)
        if self.rms_scaling:
            outputs = x * inv
            if self.gamma is not None:
                outputs = outputs * weight(self.gamma)
        else:
            if self.gamma is not None:
                inv = inv * weight(self.gamma)
            outputs = (x - mean) * inv
            if self.beta is not None:
                outputs = outputs + weight(self.beta)
        return tf.cast(outputs, self.compute_dtype)

    def _fused(self, axes, rank):
        """Whether call runs as the layer_norm kernel (tensorflux.ops.nn.layer_norm, the
        composed ops' bits): centred (beta), not rms_scaling, over the trailing axes of an
        input with a batch axis. (Without scale, gamma is ones: multiplying by 1 is exact.)"""
        return (self.beta is not None and not self.rms_scaling and rank >= 2
                and sorted(axes) == list(range(rank - len(axes), rank)) and len(axes) < rank)

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "rms_scaling": self.rms_scaling,
            **weight_args_config(self, "beta", "gamma", activity_regularizer=False),
        }


def _as_shape(dims):
    """A reshape target from ints and run-time scalars."""
    if all(isinstance(d, int) for d in dims):
        return dims
    return _tf().stack(dims)


class GroupNormalization(Layer):
    """Splits the channels of `axis` into `groups` groups and normalizes each sample over
    every group (its channels and all non-batch axes), then applies per-channel `gamma` and
    `beta`. `groups=-1` is instance normalization, `groups=1` layer normalization over all
    axes. Statistics as Keras's: variance = E[x^2] - E[x]^2, in at least float32.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.GroupNormalization(groups=2, epsilon=0.0)
    >>> layer(tf.constant([[1.0, 3.0, 4.0, 8.0]])).numpy().tolist()
    [[-1.0, 1.0, -1.0, 1.0]]
    """

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 **kwargs):
        if isinstance(groups, bool) or not isinstance(groups, int) or (
                groups <= 0 and groups != -1):
            raise ValueError("Received an invalid value for argument `groups`, expected a "
                             "positive integer (or `-1` for instance normalization). "
                             f"Received: groups={groups}")
        super().__init__(**kwargs)
        self.supports_masking = True
        self.autocast = False
        self.groups = groups
        self.axis = axis
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        set_weight_args(self, beta=(beta_initializer, beta_regularizer, beta_constraint),
                        gamma=(gamma_initializer, gamma_regularizer, gamma_constraint))
        self.gamma = None
        self.beta = None

    def build(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise ValueError(f"{_describe(self)}: axis {self.axis} is out of bounds for an "
                             f"input of shape {_format_shape(input_shape)}")
        dim = input_shape[self.axis]
        if dim is None:
            raise ValueError(f"Axis {self.axis} of input tensor should have a defined "
                             "dimension but the layer received an input with shape "
                             f"{_format_shape(input_shape)}.")
        if self.groups == -1:
            self.groups = dim
        if dim < self.groups:
            raise ValueError(f"Number of groups ({self.groups}) cannot be more than the "
                             f"number of channels ({dim}).")
        if dim % self.groups != 0:
            raise ValueError(f"Number of groups ({self.groups}) must be a multiple of the "
                             f"number of channels ({dim}).")
        self.input_spec = InputSpec(ndim=rank, axes={self.axis: dim})
        if self.scale:
            self.gamma = _add_affine_weight(self, "gamma", (dim,))
        if self.center:
            self.beta = _add_affine_weight(self, "beta", (dim,))

    def call(self, inputs):
        tf = _tf()
        shape = tuple(inputs.shape)
        rank = len(shape)
        axis = self.axis % rank
        # (batch, ..., groups, channels per group, ...): the group axis just before `axis`.
        original_shape = self._reshape_dims(inputs)
        grouped_shape = list(original_shape)
        grouped_shape[axis] = shape[axis] // self.groups
        grouped_shape.insert(axis, self.groups)
        dtype = _stats_dtype(inputs.dtype.name)
        x = tf.cast(tf.reshape(inputs, _as_shape(grouped_shape)), dtype)
        reduction_axes = [d for d in range(1, rank + 1) if d != axis]
        mean = tf.reduce_mean(x, axis=reduction_axes, keepdims=True)
        variance = tf.reduce_mean(tf.square(x), axis=reduction_axes, keepdims=True) - \
            tf.square(mean)
        inv = tf.math.rsqrt(variance + self.epsilon)
        broadcast_shape = [1] * (rank + 1)
        broadcast_shape[axis] = self.groups
        broadcast_shape[axis + 1] = shape[axis] // self.groups
        if self.gamma is not None:
            inv = inv * tf.cast(tf.reshape(self.gamma, broadcast_shape), dtype)
        offset = -mean * inv
        if self.beta is not None:
            offset = offset + tf.cast(tf.reshape(self.beta, broadcast_shape), dtype)
        outputs = tf.cast(x * inv + offset, inputs.dtype)
        outputs = tf.reshape(outputs, _as_shape(original_shape))
        return tf.cast(outputs, self.compute_dtype)

    @staticmethod
    def _reshape_dims(inputs):
        """The input's dimensions for a reshape: -1 for an unknown batch; other unknown
        sizes (a fully convolutional Input((None, None, c))) read at run time."""
        shape = tuple(inputs.shape)
        if None not in shape[1:]:
            return [-1 if d is None else d for d in shape]
        from tensorflux.keras.layers.convolutional import _run_time_shape

        return _run_time_shape(inputs)

    def get_config(self):
        return {
            **super().get_config(),
            "groups": self.groups,
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            **weight_args_config(self, "beta", "gamma", activity_regularizer=False),
        }


class UnitNormalization(Layer):
    """Scales each sample to unit L2 norm over `axis` (an int or a list):
    `x * min(1 / sqrt(sum(x ** 2)), 1e12)`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.UnitNormalization()(tf.constant([[3.0, 4.0]])).numpy().tolist()
    [[0.6000000238418579, 0.800000011920929]]
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            self.axis = list(axis)
        elif isinstance(axis, int) and not isinstance(axis, bool):
            self.axis = axis
        else:
            raise TypeError("Invalid value for `axis` argument: expected an int or a "
                            f"list/tuple of ints. Received: axis={axis}")
        self.supports_masking = True
        self.built = True

    def call(self, inputs):
        tf = _tf()
        x = floating_input(inputs, self.compute_dtype)
        if x.shape.rank == 0:
            x = tf.expand_dims(x, 0)
        square_sum = tf.reduce_sum(tf.square(x), axis=self.axis, keepdims=True)
        inv_norm = tf.minimum(tf.math.rsqrt(square_sum), tf.cast(1e12, x.dtype))
        return x * inv_norm

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class RMSNormalization(Layer):
    """Root-mean-square normalization (Zhang and Sennrich, 2019) over `axis`:
    `x * rsqrt(mean(x ** 2) + epsilon) * scale`, with no centering and no offset.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.RMSNormalization(epsilon=0.0)
    >>> layer(tf.constant([[4.0, 0.0, 0.0, 0.0]])).numpy().tolist()
    [[2.0, 0.0, 0.0, 0.0]]
    >>> [w.name for w in layer.weights]
    ['scale']
    """

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, (int, list, tuple)) or isinstance(axis, bool):
            raise TypeError("Expected an int or a list/tuple of ints for the argument 'axis', "
                            f"but received: {axis!r}")
        self.axis = axis
        self.epsilon = epsilon

    def build(self, input_shape):
        rank = len(input_shape)
        axes = sorted(self.axis) if isinstance(self.axis, (list, tuple)) else [self.axis]
        for axis in axes:
            if not -rank <= axis < rank:
                raise ValueError(f"{_describe(self)}: axis {axis} is out of bounds for an "
                                 f"input of shape {_format_shape(input_shape)}. Received: "
                                 f"axis={self.axis}")
        shape = tuple(input_shape[d] for d in axes)
        if None in shape:
            raise ValueError(f"{_describe(self)} needs known sizes for the normalized axes "
                             f"{axes}, received shape {_format_shape(input_shape)}")
        # Keras keeps the axes as a list from here on (its config then shows a list).
        self.axis = axes
        self.scale = self.add_weight(name="scale", shape=shape, initializer="ones")

    def call(self, x):  # (Keras's argument name)
        tf = _tf()
        dtype = x.dtype
        x = tf.cast(x, _stats_dtype(dtype.name))
        rank = len(x.shape)
        axes = [a % rank for a in self.axis]
        mean_square = tf.reduce_mean(tf.square(x), axis=axes, keepdims=True)
        scale = tf.reshape(tf.cast(self.scale, x.dtype),
                           [x.shape[d] if d in axes else 1 for d in range(rank)])
        outputs = x * tf.math.rsqrt(mean_square + self.epsilon) * scale
        return tf.cast(outputs, dtype)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


def _unit(x):
    """`x` divided by its L2 norm (at least Keras's epsilon), over all its elements."""
    from tensorflux.keras import backend

    tf = _tf()
    norm = tf.sqrt(tf.reduce_sum(tf.square(x)))
    return x / tf.maximum(norm, tf.cast(backend.epsilon(), x.dtype))


class SpectralNormalization(Wrapper):
    """Divides the kernel (or embeddings) of the wrapped layer by its spectral norm, estimated
    by `power_iterations` steps of the power method from the persistent vector `vector_u`
    (Miyato et al., 2018). Training calls update the kernel in place; other calls use it as
    it is.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.SpectralNormalization(keras.layers.Dense(2))
    >>> layer(tf.ones((1, 3)), training=True).shape
    TensorShape([1, 2])
    >>> [w.name for w in layer.weights]
    ['kernel', 'vector_u', 'bias']
    """

    def __init__(self, layer, power_iterations=1, **kwargs):
        super().__init__(layer, **kwargs)
        if power_iterations <= 0:
            raise ValueError("`power_iterations` should be greater than zero. Received: "
                             f"`power_iterations={power_iterations}`")
        self.power_iterations = power_iterations

    def build(self, input_shape):
        super().build(input_shape)
        self.input_spec = InputSpec(min_ndim=1, axes={-1: input_shape[-1]})
        if hasattr(self.layer, "kernel"):
            self.kernel = self.layer.kernel
        elif hasattr(self.layer, "embeddings"):
            self.kernel = self.layer.embeddings
        else:
            raise ValueError(f"{type(self.layer).__name__} object has no attribute 'kernel' "
                             "nor 'embeddings'")
        self.kernel_shape = tuple(self.kernel.shape)
        self.vector_u = self.add_weight(
            shape=(1, self.kernel_shape[-1]), name="vector_u", trainable=False,
            initializer=initializers.TruncatedNormal(stddev=0.02), dtype=self.kernel.dtype)

    def call(self, inputs, training=False):
        if training:
            tf = _tf()
            vector_u, kernel = self.normalized_weights()
            # An all-zero kernel has no direction to normalize: both stay as they are.
            unchanged = tf.reduce_all(tf.equal(self.kernel, 0))
            self.vector_u.assign(tf.where(unchanged, self.vector_u, vector_u))
            self.kernel.assign(tf.where(unchanged, self.kernel, kernel))
        outputs = self.layer(inputs)
        return _tf().cast(outputs, inputs.dtype)

    def normalized_weights(self):
        """(the next `vector_u`, the kernel divided by its estimated spectral norm)."""
        tf = _tf()
        weights = tf.reshape(self.kernel, [-1, self.kernel_shape[-1]])
        vector_u = tf.convert_to_tensor(self.vector_u)
        for _ in range(self.power_iterations):
            vector_v = _unit(tf.matmul(vector_u, weights, transpose_b=True))
            vector_u = _unit(tf.matmul(vector_v, weights))
        vector_u = tf.stop_gradient(vector_u)
        vector_v = tf.stop_gradient(vector_v)
        sigma = tf.matmul(tf.matmul(vector_v, weights), vector_u, transpose_b=True)
        # (an all-zero kernel, which call leaves as it is, must not divide 0 by 0)
        sigma = tf.where(tf.equal(sigma, 0), tf.ones_like(sigma), sigma)
        kernel = tf.reshape(tf.convert_to_tensor(self.kernel) / sigma, self.kernel_shape)
        return (tf.cast(vector_u, self.vector_u.dtype), tf.cast(kernel, self.kernel.dtype))

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}
