"""keras.quantizers: Keras 3's quantizers and quantization helpers, and the machinery behind
`layer.quantize(mode)` / `model.quantize(mode)` (post-training integer weights).

"int8" follows Keras's scheme: a kernel is stored as int8 values `round(w * scale)` with one
float scale per output unit (`127 / max|w|` over the reduced axes); at call time the inputs
are quantized the same way per row and the integer product is divided by both scales.
"int4" stores values in [-8, 7] packed two per byte, by default per group of 128 input rows
with a zero point each (asymmetric), and computes with the dequantized kernel. ("float8",
"gptq" and "awq" are not implemented: NotImplementedError.)

>>> import tensorflux as tf
>>> from tensorflux import keras
>>> values, scale = keras.quantizers.abs_max_quantize(tf.constant([[0.5, -1.0]]), axis=-1)
>>> values.numpy().tolist(), values.dtype.name
([[63, -127]], 'int8')
"""

import contextlib
import re

from tensorflux.keras.dtype_policies import QUANTIZATION_MODES
from tensorflux.keras.saving.serialization import (
    deserialize_keras_object,
    keras_export,
    serialize_keras_object,
)

__all__ = ["AbsMaxQuantizer", "Int4QuantizationConfig", "Int8QuantizationConfig",
           "QuantizationConfig", "Quantizer", "abs_max_quantize",
           "abs_max_quantize_grouped_with_zero_point", "compute_float8_amax_history",
           "compute_float8_scale", "dequantize_with_sz_map", "deserialize",
           "fake_quant_with_min_max_vars", "get", "pack_int4", "quantize_and_dequantize",
           "serialize", "unpack_int4"]

SUPPORTED_MODES = ("int8", "int4")
_EPSILON = 1e-7  # keras.config.epsilon()'s default, which Keras binds at import


def _tf():
    import tensorflux as tf

    return tf


# ---------------------------------------------------------------------- quantizers
@keras_export("keras.quantizers.Quantizer", "keras.Quantizer")
class Quantizer:
    """The base class of quantizers: `quantizer(x)` returns a quantized form of `x`."""

    def __init__(self, output_dtype="int8"):
        self.output_dtype = output_dtype

    def __call__(self, x):
        return x

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_config(self):
        raise NotImplementedError(f"{self} does not implement get_config()")


def abs_max_quantize(inputs, axis, value_range=(-127, 127), dtype="int8", epsilon=_EPSILON,
                     to_numpy=False):
    """(quantized, scale): `scale = value_range[1] / (max|inputs| over axis + epsilon)`
    (kept as size-1 axes, in the inputs' dtype) and `quantized = clip(round(inputs * scale),
    *value_range)` cast to `dtype`. `to_numpy` is accepted for Keras's signature (Keras uses
    it to save device memory; the numbers are the same)."""
    tf = _tf()
    inputs = tf.convert_to_tensor(inputs)
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    peak = tf.reduce_max(tf.abs(inputs), axis=axis, keepdims=True)
    scale = tf.cast(value_range[1] / (peak + epsilon), inputs.dtype)
    outputs = tf.clip_by_value(tf.round(inputs * scale), value_range[0], value_range[1])
    return tf.cast(outputs, dtype), scale


@keras_export("keras.quantizers.AbsMaxQuantizer")
class AbsMaxQuantizer(Quantizer):
    """Quantizes with abs_max_quantize along `axis` (given to the call, else the one given
    here, else -1), to `value_range` in `output_dtype`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> values, scale = keras.quantizers.AbsMaxQuantizer()(tf.constant([[1.0, -4.0]]))
    >>> values.numpy().tolist()
    [[32, -127]]
    """

    def __init__(self, axis=None, value_range=(-127, 127), epsilon=_EPSILON,
                 output_dtype="int8"):
        super().__init__(output_dtype=output_dtype)
        self.axis = None if axis is None else tuple((axis,) if isinstance(axis, int) else axis)
        self.value_range = value_range
        self.epsilon = epsilon
        if output_dtype == "int8" and (value_range[0] < -128 or value_range[1] > 127):
            raise ValueError("Quantizer with output_dtype='int8' requires value_range to be "
                             f"within the interval [-128, 127]. Received: "
                             f"value_range={value_range}")

    def __call__(self, x, axis=None, to_numpy=False):
        if axis is None:
            axis = self.axis if self.axis is not None else -1
        return abs_max_quantize(x, axis, self.value_range, self.output_dtype, self.epsilon,
                                to_numpy)

    def get_config(self):
        config = {"value_range": self.value_range, "epsilon": self.epsilon,
                  "output_dtype": self.output_dtype}
        if self.axis is not None:
            config["axis"] = self.axis
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("value_range"), list):  # (a JSON file's list)
            config["value_range"] = tuple(config["value_range"])
        return cls(**config)


# ---------------------------------------------------------------------- int4
@keras_export("keras.quantizers.abs_max_quantize_grouped_with_zero_point")
def abs_max_quantize_grouped_with_zero_point(inputs, block_size, value_range=(-8, 7),
                                             dtype="int8", epsilon=_EPSILON, to_numpy=False):
    """(quantized, scale, zero_point) of a 2-D `(input_dim, output_dim)` tensor, quantized
    asymmetrically per group of `block_size` rows and per column: `scale = (max - min +
    epsilon) / (qmax - qmin)`, `zero_point = clip(round(-min / scale) + qmin)` and
    `quantized = clip(round(x / scale) + zero_point)`, with `(n_groups, output_dim)` scales
    and int8 zero points (rows past input_dim count as zeros in the last group)."""
    tf = _tf()
    inputs = tf.convert_to_tensor(inputs)
    input_dim, output_dim = (int(d) for d in inputs.shape)
    qmin, qmax = value_range
    n_groups = -(-input_dim // block_size)
    padding = n_groups * block_size - input_dim
    padded = inputs
    if padding:
        padded = tf.concat([inputs, tf.zeros((padding, output_dim), inputs.dtype)], axis=0)
    groups = tf.reshape(padded, (n_groups, block_size, output_dim))
    low = tf.reduce_min(groups, axis=1, keepdims=True)
    high = tf.reduce_max(groups, axis=1, keepdims=True)
    scale = (high - low + epsilon) / (qmax - qmin)
    zero_point = tf.clip_by_value(tf.round(-low / scale) + qmin, qmin, qmax)
    outputs = tf.clip_by_value(tf.round(groups / scale) + zero_point, qmin, qmax)
    outputs = tf.reshape(tf.cast(outputs, dtype), (n_groups * block_size, output_dim))
    return (outputs[:input_dim], tf.squeeze(scale, axis=1),
            tf.cast(tf.squeeze(zero_point, axis=1), "int8"))


def dequantize_with_sz_map(weights_matrix, scale, zero, g_idx, group_axis=-1):
    """`(weights - zero) * scale`, each position along `group_axis` taking the scale and
    zero of its group `g_idx[i]`."""
    tf = _tf()
    groups = tf.cast(g_idx, "int32")
    scale = tf.convert_to_tensor(scale)
    scales = tf.gather(scale, groups, axis=group_axis)
    zeros = tf.cast(tf.gather(zero, groups, axis=group_axis), scale.dtype)
    return (tf.cast(weights_matrix, scale.dtype) - zeros) * scales


def _check_nibble_dtype(dtype):
    if dtype not in ("int8", "uint8"):
        raise ValueError(f"Expected dtype to be 'int8' or 'uint8', but got '{dtype}'.")


def _axis_first(rank, axis):
    return [axis] + [i for i in range(rank) if i != axis]


@keras_export("keras.quantizers.pack_int4")
def pack_int4(arr, axis=0, dtype="int8"):
    """(packed, packed shape, original length): int4 values (`dtype` int8 in [-8, 7], or
    uint8 nibbles) packed two per byte along `axis`, the first of each pair in the low
    nibble (an odd length is padded with a zero).

    >>> import numpy as np
    >>> from tensorflux import keras
    >>> packed, shape, length = keras.quantizers.pack_int4(np.array([[-3, 7], [2, -8]],
    ...                                                             "int8"))
    >>> packed.numpy().tolist(), shape, length
    ([[45, -121]], (1, 2), 2)
    """
    tf = _tf()
    _check_nibble_dtype(dtype)
    arr = tf.convert_to_tensor(arr)
    if arr.dtype.name != dtype:
        raise TypeError(f"Expected {dtype} tensor for packing, got {arr.dtype.name}.")
    rank = arr.shape.rank
    axis = axis % rank
    order = _axis_first(rank, axis)
    values = tf.transpose(tf.cast(arr, "int32"), order)
    length = int(values.shape[0])
    if length % 2:
        values = tf.concat([values, tf.zeros((1,) + tuple(values.shape[1:]), "int32")], 0)
    pairs = tf.reshape(values, (-1, 2) + tuple(values.shape[1:]))
    byte = tf.math.floormod(pairs[:, 0], 16) + 16 * tf.math.floormod(pairs[:, 1], 16)
    if dtype == "int8":
        byte = tf.where(byte >= 128, byte - 256, byte)
    packed = tf.transpose(tf.cast(byte, dtype), sorted(range(rank), key=order.__getitem__))
    return packed, tuple(packed.shape), length


@keras_export("keras.quantizers.unpack_int4")
def unpack_int4(packed, orig_len, axis=0, dtype="int8"):
    """The reverse of pack_int4: the `orig_len` int4 values along `axis`, as `dtype` (int8
    in [-8, 7], or uint8 nibbles)."""
    tf = _tf()
    _check_nibble_dtype(dtype)
    packed = tf.convert_to_tensor(packed)
    if packed.dtype.name not in ("int8", "uint8"):
        raise TypeError(f"Expected int8 or uint8 tensor for unpacking, got {packed.dtype}")
    rank = packed.shape.rank
    axis = axis % rank
    order = _axis_first(rank, axis)
    byte = tf.math.floormod(tf.transpose(tf.cast(packed, "int32"), order), 256)
    nibbles = tf.stack([tf.math.floormod(byte, 16), tf.math.floordiv(byte, 16)], axis=1)
    if dtype == "int8":
        nibbles = tf.where(nibbles >= 8, nibbles - 16, nibbles)
    values = tf.reshape(nibbles, (-1,) + tuple(byte.shape[1:]))[:orig_len]
    return tf.transpose(tf.cast(values, dtype), sorted(range(rank), key=order.__getitem__))


# ---------------------------------------------------------------------- fake quantization
def _nudged_range(min_range, max_range, num_bits, narrow_range):
    """(nudged min, nudged max, scale, 1 / scale): TF's FakeQuant range, moved so that zero
    is exactly representable."""
    tf = _tf()
    dtype = min_range.dtype if min_range.dtype.name == "float64" else "float32"
    min_range, max_range = tf.cast(min_range, dtype), tf.cast(max_range, dtype)
    quant_max = float((1 << num_bits) - 1)
    quant_min = 1.0 if narrow_range else 0.0
    scale = (max_range - min_range) / (quant_max - quant_min)
    inv_scale = (quant_max - quant_min) / (max_range - min_range)
    zero_point = tf.round(tf.clip_by_value(quant_min - min_range / scale, quant_min,
                                           quant_max))
    return ((quant_min - zero_point) * scale, (quant_max - zero_point) * scale, scale,
            inv_scale)


@keras_export("keras.quantizers.fake_quant_with_min_max_vars")
def fake_quant_with_min_max_vars(inputs, min_vals, max_vals, num_bits=8, narrow_range=False,
                                 axis=None):
    """Quantizes `inputs` to `num_bits` levels in `[min_vals, max_vals]` (per tensor, or per
    channel along `axis` with 1-D min/max) and back to floats, as tf.quantization's
    fake_quant ops. Gradients: `inputs` get the upstream gradient inside the range (a
    straight-through estimator), `min_vals`/`max_vals` the sum of it below/above the range.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> y = keras.quantizers.fake_quant_with_min_max_vars(tf.constant([0.1, 0.52, 3.0]), 0.0,
    ...                                                   1.0, num_bits=2)
    >>> [round(v, 4) for v in y.numpy().tolist()]
    [0.0, 0.6667, 1.0]
    """
    tf = _tf()
    inputs = tf.convert_to_tensor(inputs)
    min_vals = tf.convert_to_tensor(min_vals)
    max_vals = tf.convert_to_tensor(max_vals)
    num_bits = int(num_bits)
    rank = inputs.shape.rank
    if axis is not None:
        axis = axis % rank
    channel_shape = None
    if axis is not None and min_vals.shape.rank == 1:
        channel_shape = [1] * rank
        channel_shape[axis] = -1
    reduce_axes = None if axis is None else [i for i in range(rank) if i != axis]

    @tf.custom_gradient
    def fake_quant(x, low, high):
        nudged_min, nudged_max, scale, inv_scale = _nudged_range(low, high, num_bits,
                                                                 narrow_range)
        if channel_shape is not None:
            nudged_min, nudged_max, scale, inv_scale = (
                tf.reshape(t, channel_shape) for t in (nudged_min, nudged_max, scale,
                                                       inv_scale))
        zero = tf.floor(-nudged_min * inv_scale + 0.5)
        clamped = tf.clip_by_value(tf.cast(x, nudged_min.dtype), nudged_min, nudged_max)
        result = tf.floor((clamped - nudged_min) * inv_scale - zero + 0.5) * scale
        x_wide = tf.cast(x, nudged_min.dtype)
        below = x_wide <= nudged_min
        above = x_wide >= nudged_max
        inside = tf.logical_and(x_wide >= nudged_min, x_wide <= nudged_max)

        def grad(upstream):
            zeros = tf.zeros_like(upstream)

            def edge(mask, like):
                total = tf.reduce_sum(tf.where(mask, upstream, zeros), axis=reduce_axes)
                return tf.reshape(total, tf.shape(like))

            return (tf.where(inside, upstream, zeros), edge(below, low), edge(above, high))

        return tf.cast(result, x.dtype), grad

    return fake_quant(inputs, min_vals, max_vals)


# ---------------------------------------------------------------------- float8
# (largest finite value, mantissa bits, smallest normal exponent) of the float8 formats.
_FLOAT8 = {"float8_e4m3fn": (448.0, 3, -6), "float8_e5m2": (57344.0, 2, -14)}
_FLOAT_MAX = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38,
              "float32": 3.4028234663852886e38, "float64": 1.7976931348623157e308}


def _round_to_float8(x, mantissa_bits, min_exponent):
    """x (float64, within the format's range) rounded to the nearest float8 value (ties to
    even), subnormals included."""
    tf = _tf()
    magnitude = tf.abs(x)
    exponent = tf.floor(tf.math.log(tf.maximum(magnitude, 1e-300)) / tf.math.log(
        tf.constant(2.0, "float64")))
    # (log2 can miss by one at exact powers of two: correct it)
    exponent = tf.where(tf.pow(2.0, exponent) > magnitude, exponent - 1, exponent)
    exponent = tf.where(tf.pow(2.0, exponent + 1) <= magnitude, exponent + 1, exponent)
    step = tf.pow(tf.constant(2.0, "float64"),
                  tf.maximum(exponent, float(min_exponent)) - mantissa_bits)
    return tf.round(x / step) * step


@keras_export("keras.quantizers.quantize_and_dequantize")
def quantize_and_dequantize(inputs, scale, quantized_dtype, compute_dtype):
    """`inputs / scale`, clipped to the largest finite value of `quantized_dtype` and
    rounded to it ("float8_e4m3fn", "float8_e5m2", or a float dtype), times `scale`, in
    `compute_dtype` (float8 training's quantize-dequantize step)."""
    tf = _tf()
    if quantized_dtype in _FLOAT8:
        largest = _FLOAT8[quantized_dtype][0]
    elif quantized_dtype in _FLOAT_MAX:
        largest = _FLOAT_MAX[quantized_dtype]
    else:
        raise ValueError(f"quantize_and_dequantize: `quantized_dtype` must be a float dtype "
                         f"such as 'float8_e4m3fn' or 'float8_e5m2'. Received: "
                         f"{quantized_dtype!r}")
    scale = tf.cast(scale, compute_dtype)
    x = tf.clip_by_value(tf.cast(inputs, compute_dtype) / scale,
                         -tf.cast(largest, compute_dtype), tf.cast(largest, compute_dtype))
    if quantized_dtype in _FLOAT8:
        _, mantissa_bits, min_exponent = _FLOAT8[quantized_dtype]
        x = tf.cast(_round_to_float8(tf.cast(x, "float64"), mantissa_bits, min_exponent),
                    compute_dtype)
    else:
        x = tf.cast(tf.cast(x, quantized_dtype), compute_dtype)
    return x * scale


@keras_export("keras.quantizers.compute_float8_scale")
def compute_float8_scale(amax, scale, dtype_max, margin=0):
    """The next float8 scale: `amax / dtype_max * 2**margin` where `amax` is positive and
    finite, else the current `scale`."""
    tf = _tf()
    amax = tf.convert_to_tensor(amax)
    scale = tf.convert_to_tensor(scale)
    inverse = tf.math.reciprocal(scale)
    factor = dtype_max / amax / (2 ** margin)
    factor = tf.where(amax > 0.0, factor, inverse)
    factor = tf.where(tf.math.is_finite(amax), factor, inverse)
    return tf.math.reciprocal(factor)


@keras_export("keras.quantizers.compute_float8_amax_history")
def compute_float8_amax_history(x, amax_history):
    """`amax_history` rolled one step left, with `max|x|` written at index 0."""
    tf = _tf()
    amax_history = tf.convert_to_tensor(amax_history)
    amax = tf.reshape(tf.cast(tf.reduce_max(tf.abs(x)), amax_history.dtype), [1])
    return tf.concat([amax, tf.roll(amax_history, shift=-1, axis=0)[1:]], axis=0)


# ---------------------------------------------------------------------- configs
@keras_export("keras.quantizers.QuantizationConfig")
class QuantizationConfig:
    """The base class of quantization configs: the quantizer of the weights and the one of
    the activations (None: the mode's default, or none for the activations)."""

    def __init__(self, weight_quantizer=None, activation_quantizer=None):
        self.weight_quantizer = weight_quantizer
        self.activation_quantizer = activation_quantizer

    @property
    def mode(self):
        raise NotImplementedError("Subclasses must implement this property. Do not "
                                  "instantiate QuantizationConfig directly.")

    def get_config(self):
        return {"weight_quantizer": serialize_keras_object(self.weight_quantizer),
                "activation_quantizer": serialize_keras_object(self.activation_quantizer)}

    @classmethod
    def from_config(cls, config):
        return cls(weight_quantizer=deserialize(config.get("weight_quantizer")),
                   activation_quantizer=deserialize(config.get("activation_quantizer")))

    @staticmethod
    def weight_quantizer_or_default(config, default):
        if config is not None and config.weight_quantizer is not None:
            return config.weight_quantizer
        return default

    @staticmethod
    def activation_quantizer_or_default(config, default):
        return default if config is None else config.activation_quantizer


@keras_export("keras.quantizers.Int8QuantizationConfig")
class Int8QuantizationConfig(QuantizationConfig):
    """The int8 config: `activation_quantizer="default"` quantizes the inputs of each call
    with AbsMaxQuantizer (None keeps them float: weight-only quantization).

    >>> from tensorflux import keras
    >>> keras.quantizers.Int8QuantizationConfig().mode
    'int8'
    """

    def __init__(self, weight_quantizer=None, activation_quantizer="default"):
        if isinstance(activation_quantizer, str) and activation_quantizer == "default":
            activation_quantizer = AbsMaxQuantizer()
        super().__init__(weight_quantizer, activation_quantizer)
        if weight_quantizer is not None and weight_quantizer.output_dtype != "int8":
            raise ValueError("Int8QuantizationConfig requires a weight_quantizer with "
                             f"output_dtype='int8'. Received: "
                             f"output_dtype={weight_quantizer.output_dtype}")

    @property
    def mode(self):
        return "int8"


@keras_export("keras.quantizers.Int4QuantizationConfig")
class Int4QuantizationConfig(QuantizationConfig):
    """The int4 config: weights only by default (`activation_quantizer="default"` is None),
    in groups of `block_size` input rows with a zero point each (None or -1: one symmetric
    scale per output unit, the only form that takes custom quantizers).

    >>> from tensorflux import keras
    >>> keras.quantizers.Int4QuantizationConfig(block_size=64).block_size
    64
    """

    def __init__(self, weight_quantizer=None, activation_quantizer="default", block_size=128):
        if isinstance(activation_quantizer, str) and activation_quantizer == "default":
            activation_quantizer = None
        super().__init__(weight_quantizer, activation_quantizer)
        if block_size is not None and block_size != -1 and block_size <= 0:
            raise ValueError("block_size must be None, -1, or a positive integer. Received: "
                             f"block_size={block_size}")
        self.block_size = block_size
        if (block_size is not None and block_size > 0) and (
                weight_quantizer is not None or activation_quantizer is not None):
            raise ValueError("Int4 sub-channel quantization (block_size > 0) does not support "
                             "custom quantizers. Either set block_size to None or -1 for "
                             "per-channel quantization, or remove the custom quantizer "
                             f"arguments. Received: block_size={block_size}")
        if weight_quantizer is not None:
            if tuple(weight_quantizer.value_range) != (-8, 7):
                raise ValueError("Int4QuantizationConfig requires a weight_quantizer with "
                                 "value_range=(-8, 7). Received: "
                                 f"value_range={weight_quantizer.value_range}")
            if weight_quantizer.output_dtype != "int8":
                raise ValueError("Int4QuantizationConfig requires a weight_quantizer with "
                                 "output_dtype='int8'. Received: "
                                 f"output_dtype={weight_quantizer.output_dtype}")

    @property
    def mode(self):
        return "int4"

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size}

    @classmethod
    def from_config(cls, config):
        # (files from before block_size existed hold per-channel layers)
        return cls(weight_quantizer=deserialize(config.get("weight_quantizer")),
                   activation_quantizer=deserialize(config.get("activation_quantizer")),
                   block_size=config.get("block_size"))


ALL_OBJECTS_DICT = {cls.__name__: cls for cls in (Quantizer, AbsMaxQuantizer,
                                                  QuantizationConfig,
                                                  Int8QuantizationConfig,
                                                  Int4QuantizationConfig)}
ALL_OBJECTS_DICT.update({"quantizer": Quantizer, "abs_max_quantizer": AbsMaxQuantizer})


def serialize(initializer):  # (Keras's argument name, though it is a quantizer)
    """Keras's config dict of a quantizer (or quantization config)."""
    return serialize_keras_object(initializer)


def deserialize(config, custom_objects=None):
    """The quantizer (or quantization config) a serialized dict describes."""
    return deserialize_keras_object(config, custom_objects=custom_objects,
                                    module_objects=ALL_OBJECTS_DICT)


def get(identifier, **kwargs):
    """A quantizer from None, a config dict, a class name (made with `kwargs`) or an
    instance; ValueError for anything else."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        found = deserialize(identifier)
    elif isinstance(identifier, str):
        found = ALL_OBJECTS_DICT.get(identifier)
    else:
        found = identifier
    if isinstance(found, type):
        return found(**kwargs)
    if callable(found):
        return found
    raise ValueError(f"Could not interpret quantizer identifier: {identifier}")


# ---------------------------------------------------------------------- layers and models
def mode_error(mode):
    return NotImplementedError(
        f"Quantization mode {mode!r} is not supported by tensorflux yet: it implements "
        f"{SUPPORTED_MODES} (Keras's modes are {QUANTIZATION_MODES}).")


def resolve_config(mode, config):
    """(mode, config) for a quantize call, as Keras resolves them: a mode alone gets its
    default config, a config alone gives the mode, both must agree."""
    if isinstance(config, str):
        mode, config = config, None
    if mode is not None and mode not in QUANTIZATION_MODES:
        raise ValueError(f"Invalid quantization mode. Expected one of {QUANTIZATION_MODES}. "
                         f"Received: mode={mode}")
    if config is None:
        if mode is None:
            raise ValueError("You must provide either `mode` or `config` to `quantize`.")
        if mode in ("gptq", "awq"):
            raise ValueError(f"For {mode.upper()}, you must pass a `{mode.upper()}Config` "
                             "object in the `config` argument.")
        if mode not in SUPPORTED_MODES:
            raise mode_error(mode)
        return mode, (Int8QuantizationConfig() if mode == "int8" else Int4QuantizationConfig())
    if not isinstance(config, QuantizationConfig):
        raise ValueError("Argument `config` must be an instance of `QuantizationConfig`. "
                         f"Received: config={config} (of type {type(config)})")
    if mode is not None and config.mode != mode:
        raise ValueError(f"Contradictory arguments: mode='{mode}' but "
                         f"config.mode='{config.mode}'")
    return config.mode, config


def check_layer_quantize(layer, mode, config):
    """(mode, config) once `layer` may be quantized in `mode`: Keras's checks that run
    before any layer's own `quantize` (built, not quantized yet, a valid mode)."""
    mode, config = resolve_config(mode, config)
    if not layer.built:
        raise ValueError("Cannot quantize a layer that isn't yet built. Layer "
                         f"'{layer.name}' (of type '{type(layer).__name__}') is not built "
                         "yet.")
    if getattr(layer, "_is_quantized", False):
        raise ValueError(f"Layer '{layer.name}' is already quantized with "
                         f"dtype_policy='{layer.dtype_policy.name}'. Received: mode={mode}")
    if mode == "int8" and layer.compute_dtype == "float16":
        raise ValueError(f"Quantization mode='{mode}' doesn't work well with "
                         "compute_dtype='float16'. Consider loading model/layer with another "
                         "dtype policy such as 'mixed_bfloat16' or 'mixed_float16' before "
                         "calling `quantize()`.")
    return mode, config


def begin_layer_quantize(layer, mode, config, type_check, cls):
    """(mode, config) for `cls.quantize` on `layer`: the checks, and the NotImplementedError
    Keras raises for subclasses (which may compute differently) unless type_check=False."""
    mode, config = check_layer_quantize(layer, mode, config)
    if type_check and type(layer) is not cls:
        raise NotImplementedError(f"Layer {type(layer).__name__} does not have a `quantize` "
                                  "method implemented.")
    if mode not in SUPPORTED_MODES:
        raise mode_error(mode)
    return mode, config


@contextlib.contextmanager
def unlocked_state(layer):
    """Lets a built layer create its quantized variables (Keras unlocks its tracker too)."""
    locked = layer.__dict__.get("_state_locked", False)
    object.__setattr__(layer, "_state_locked", False)
    try:
        yield
    finally:
        object.__setattr__(layer, "_state_locked", locked)


def int4_block_size(layer, config):
    """The int4 group size of `layer` (None: per-channel), from the quantize call's config,
    else from its Int4DTypePolicy ("int4/128_from_float32")."""
    if isinstance(config, Int4QuantizationConfig):
        block_size = config.block_size
    else:
        block_size = getattr(getattr(layer, "dtype_policy", None), "block_size", None)
    return None if block_size is None or block_size == -1 else block_size


def finish_layer_quantize(layer, mode, config=None):
    """Gives a newly quantized layer its "<mode>_from_<policy>" dtype policy (int4's mode
    names its group size: "int4/128", or "int4/-1" per channel)."""
    from tensorflux.keras import dtype_policies

    policy = layer.dtype_policy
    if policy.quantization_mode is None:
        if mode == "int4":
            mode = f"int4/{int4_block_size(layer, config) or -1}"
        layer.dtype_policy = dtype_policies.get(f"{mode}_from_{policy.name}")


def should_quantize_layer(layer, filters):
    """Whether `filters` (None, a regex or list of regexes searched in the layer's name, or
    a callable taking the layer) selects `layer`."""
    if filters is None:
        return True
    if isinstance(filters, str):
        return bool(re.search(filters, layer.name))
    if isinstance(filters, (list, tuple)):
        return any(re.search(pattern, layer.name) for pattern in filters)
    return bool(filters(layer))


def quantize_model(model, mode=None, config=None, filters=None, **kwargs):
    """Keras's `Model.quantize`: quantizes every layer without sublayers that `filters`
    selects and that implements `quantize` (a warning names those that do not)."""
    import warnings

    mode, config = check_layer_quantize(model, mode, config)
    type_check = kwargs.pop("type_check", True)
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments passed to {type(model).__name__}: "
                         f"{kwargs}")
    if filters is not None and not (isinstance(filters, (str, list, tuple))
                                    or callable(filters)):
        raise ValueError("The `filters` argument must be a regex string, a list of regex "
                         f"strings, or a callable. Received: {type(filters)}")
    if mode not in SUPPORTED_MODES:  # (one error, not a warning per layer)
        raise mode_error(mode)
    modified = False
    for layer in model._flatten_layers():
        if getattr(layer, "_layers", None) or not should_quantize_layer(layer, filters):
            continue
        quantize = getattr(layer, "quantize", None)
        if quantize is None:
            continue
        try:
            quantize(mode, type_check=type_check, config=config)
            modified = True
        except NotImplementedError as error:
            warnings.warn(str(error), stacklevel=2)
    if modified:
        model.train_function = model.test_function = model.predict_function = None


def quantize_kernel(weights, mode, config, axis, use_config_quantizer=True):
    """(values, scale, zero point or None) of a 2-D kernel for `mode`, as Keras's layers
    quantize theirs: one scale per column (`axis` 0, reducing the rows) or per row (`axis`
    -1); int4 with a group size takes a scale and zero point per group of rows (`axis` 0)
    or of columns (-1) instead. int4 values come packed along the last axis."""
    tf = _tf()
    block_size = int4_block_size(None, config) if mode == "int4" else None
    zero = None
    if block_size is not None:
        transpose = axis in (-1, 1)
        if transpose:
            weights = tf.transpose(weights)
        values, scale, zero = abs_max_quantize_grouped_with_zero_point(weights, block_size)
        if transpose:
            values, scale, zero = tf.transpose(values), tf.transpose(scale), tf.transpose(zero)
    else:
        value_range = (-127, 127) if mode == "int8" else (-8, 7)
        default = AbsMaxQuantizer(axis=axis, value_range=value_range)
        quantizer = (QuantizationConfig.weight_quantizer_or_default(config, default)
                     if use_config_quantizer else default)
        values, scale = quantizer(weights, to_numpy=True)
        scale = tf.squeeze(scale, axis=axis)
    if mode == "int4":
        values = pack_int4(values, axis=-1)[0]
    return values, scale, zero


def build_quantized_kernel(layer, name, shape, mode, config, per_row=False,
                           inputs_quantizer=True):
    """Creates Keras's variables of a quantized 2-D kernel `layer.<name>` of `shape`: the
    int8 values (int4: packed two per byte along the last axis), `<name>_scale` (one per
    column, or per row with `per_row`; int4 groups: one per group and column/row), and int4
    groups' int8 `<name>_zero` and float `g_idx` (each row's, or column's, group), all
    non-trainable; and the config's inputs quantizer (int8's default: AbsMaxQuantizer).
    (A leading underscore of `name` is left out of the variables' names.)"""
    tf = _tf()
    if mode not in SUPPORTED_MODES:
        raise mode_error(mode)
    public = name.lstrip("_")
    rows, columns = shape
    block_size = int4_block_size(layer, config) if mode == "int4" else None
    if inputs_quantizer:
        layer.inputs_quantizer = QuantizationConfig.activation_quantizer_or_default(
            config, AbsMaxQuantizer() if mode == "int8" else None)
    stored = tuple(shape) if mode == "int8" else (rows, (columns + 1) // 2)
    setattr(layer, name, layer.add_weight(name=public, shape=stored, initializer="zeros",
                                          dtype="int8", trainable=False))
    grouped_length, kept = (columns, rows) if per_row else (rows, columns)
    scale_shape = (kept,)
    if block_size is not None:
        groups = -(-grouped_length // block_size)
        scale_shape = (kept, groups) if per_row else (groups, kept)
    setattr(layer, f"{public}_scale", layer.add_weight(
        name=f"{public}_scale", shape=scale_shape, initializer="ones", trainable=False))
    if block_size is not None:
        setattr(layer, f"{public}_zero", layer.add_weight(
            name=f"{public}_zero", shape=scale_shape, initializer="zeros", dtype="int8",
            trainable=False))
        layer.g_idx = layer.add_weight(name="g_idx", shape=(grouped_length,),
                                       initializer="zeros", dtype="float32", trainable=False)
        layer.g_idx.assign(tf.floor(tf.range(grouped_length, dtype="float32") / block_size))
    layer._is_quantized = True
    layer._quantized_mode = mode
    layer._int4_block_size = block_size


def assign_quantized(layer, name, values, scale, zero):
    """Assigns quantize_kernel's results to build_quantized_kernel's variables."""
    public = name.lstrip("_")
    getattr(layer, name).assign(values)
    getattr(layer, f"{public}_scale").assign(scale)
    if zero is not None:
        getattr(layer, f"{public}_zero").assign(zero)


def quantized_variables(layer, name):
    """The integer kernel `layer.<name>`, its scale, and int4 groups' zero points and
    indices: what a quantized call reads."""
    public = name.lstrip("_")
    found = [getattr(layer, name), getattr(layer, f"{public}_scale")]
    if layer._int4_block_size is not None:
        found += [getattr(layer, f"{public}_zero"), layer.g_idx]
    return found


def int_product(contract, inputs, kernel, compute_dtype):
    """`contract(inputs, kernel)` of two int8 tensors, exactly (Keras accumulates in int32;
    float64 holds every such sum exactly), cast to `compute_dtype`."""
    tf = _tf()
    return tf.cast(contract(tf.cast(inputs, "float64"), tf.cast(kernel, "float64")),
                   compute_dtype)
