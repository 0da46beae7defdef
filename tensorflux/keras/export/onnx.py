"""ONNX export: a Keras model (Sequential, Functional, or subclassed with traceable calls) as
an ONNX ModelProto (opset 17), written with tensorflux's own protobuf codec (no `onnx`
package at run time).

Each Keras layer maps to a few ONNX operators in inference mode (Dropout is the identity,
BatchNormalization uses its moving statistics). Weights become float32 initializers (raw
little-endian data); the batch dimension of every input is the symbolic "batch". Layers are
channels-last in Keras and channels-first in ONNX's Conv/Pool operators, so those are wrapped
in Transposes. A user's Layer subclass is exported as the graph its call builds from
Keras layers, keras.ops and Python operators; any other layer without a mapping raises
NotImplementedError naming it.

>>> import os, tempfile
>>> from tensorflux import keras
>>> model = keras.Sequential([keras.Input((3,), name="x"),
...                           keras.layers.Dense(2, activation="relu", name="d")], name="m")
>>> path = os.path.join(tempfile.mkdtemp(), "m.onnx")
>>> model.export(path, format="onnx", verbose=False)
>>> from tensorflux.keras.export import onnx_proto
>>> graph = onnx_proto.decode_model(open(path, "rb").read())["graph"]
>>> [node["op_type"] for node in graph["node"]]
['MatMul', 'Add', 'Relu', 'Identity']
"""

import inspect
import math

from tensorflux.keras.engine import tree
from tensorflux.keras.export import onnx_proto

__all__ = ["export_onnx", "model_to_onnx_bytes", "SUPPORTED_OPSETS"]

SUPPORTED_OPSETS = (13, 14, 15, 16, 17)
DEFAULT_OPSET = 17
IR_VERSION = 8  # the IR of opset 17 (ONNX 1.12), read by every onnxruntime since 1.12
_INT64_MAX = (1 << 63) - 1
_INT64_MIN = -(1 << 63)
# NumPy dtype strings for each exported dtype: explicit little-endian, as ONNX raw_data is.
_RAW_FORMATS = {"float32": "<f4", "float64": "<f8", "float16": "<f2", "int64": "<i8",
                "int32": "<i4", "int16": "<i2", "int8": "i1", "uint8": "u1", "bool": "?"}


def _tf():
    import tensorflux as tf

    return tf


class ExportError(NotImplementedError):
    """A model or layer that the ONNX exporter cannot express."""


def _describe(layer):
    return f"{type(layer).__name__} '{layer.name}'"


class _Sym:
    """A value of the ONNX graph: its name and the Keras shape and dtype it carries."""

    __slots__ = ("name", "shape", "dtype")

    def __init__(self, name, shape=None, dtype="float32"):
        self.name = name
        self.shape = None if shape is None else tuple(shape)
        self.dtype = dtype

    @property
    def rank(self):
        return None if self.shape is None else len(self.shape)

    def __repr__(self):
        return f"_Sym({self.name!r}, {self.shape}, {self.dtype})"


def _attribute(name, value):
    if isinstance(value, bool) or isinstance(value, int):
        return {"name": name, "i": int(value), "type": onnx_proto.ATTRIBUTE_TYPES["int"]}
    if isinstance(value, float):
        return {"name": name, "f": value, "type": onnx_proto.ATTRIBUTE_TYPES["float"]}
    if isinstance(value, str):
        return {"name": name, "s": value.encode("utf-8"),
                "type": onnx_proto.ATTRIBUTE_TYPES["string"]}
    if isinstance(value, (list, tuple)) and value:
        if all(isinstance(v, str) for v in value):
            return {"name": name, "strings": [v.encode("utf-8") for v in value],
                    "type": onnx_proto.ATTRIBUTE_TYPES["strings"]}
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return {"name": name, "ints": [int(v) for v in value],
                    "type": onnx_proto.ATTRIBUTE_TYPES["ints"]}
        return {"name": name, "floats": [float(v) for v in value],
                "type": onnx_proto.ATTRIBUTE_TYPES["floats"]}
    raise TypeError(f"ONNX export: cannot encode attribute {name}={value!r}")


class _Builder:
    """Collects nodes and initializers; names every value uniquely under the current scope
    (the Keras layer being converted)."""

    def __init__(self):
        self.nodes = []
        self.initializers = []
        self.scope = ""
        self._used = set()
        self._weights = {}
        self._kept = []  # the weights of _weights (see weight)
        self._constants = {}

    def unique(self, hint):
        name = hint or "value"
        index = 1
        while name in self._used:
            name = f"{hint}_{index}"
            index += 1
        self._used.add(name)
        return name

    def op(self, op_type, inputs, outputs=1, **attrs):
        """Adds a node; returns its output name (a list of names when outputs > 1)."""
        hint = f"{self.scope}/{op_type}" if self.scope else op_type
        first = self.unique(hint)
        names = [first] + [self.unique(f"{first}:{k}") for k in range(1, outputs)]
        node = {"input": [i if isinstance(i, str) else i.name for i in inputs],
                "output": names, "name": first, "op_type": op_type}
        attributes = [_attribute(k, v) for k, v in sorted(attrs.items()) if v is not None]
        if attributes:
            node["attribute"] = attributes
        self.nodes.append(node)
        return names if outputs > 1 else first

    def tensor(self, value, hint, dtype="float32"):
        """An initializer holding a tensorflux tensor (or anything tf.constant accepts)."""
        tf = _tf()
        if not isinstance(value, tf.Tensor):
            value = tf.constant(value, dtype=dtype)
        elif value.dtype.name != dtype:
            value = tf.cast(value, dtype)
        array = value.numpy()
        raw = array.astype(_RAW_FORMATS[dtype]).tobytes()
        dims = [int(d) for d in array.shape]
        key = (dtype, tuple(dims), raw)
        if len(raw) <= 256 and key in self._constants:
            return self._constants[key]
        name = self.unique(hint)
        self.initializers.append({"dims": dims, "data_type": onnx_proto.DATA_TYPES[dtype],
                                  "name": name, "raw_data": raw})
        if len(raw) <= 256:
            self._constants[key] = name
        return name

    def const(self, value, dtype="float32"):
        hint = f"{self.scope}/const" if self.scope else "const"
        return self.tensor(value, hint, dtype)

    def ints(self, values):
        return self.const([int(v) for v in values], "int64")

    def weight(self, variable, transform=None, hint=None):
        """A layer weight as a float32 initializer (optionally rearranged by `transform`, a
        function of tensorflux tensors); one initializer per (variable, transform)."""
        tf = _tf()
        key = (id(variable), hint)
        if key in self._weights:
            return self._weights[key]
        value = tf.convert_to_tensor(variable)
        if transform is not None:
            value = transform(value)
        # (A LoRA layer's kernel is a tensor with the update merged: no path, no name.)
        path = getattr(variable, "path", None) or \
            f"{self.scope}/{getattr(variable, 'name', None) or 'weight'}"
        name = self.tensor(value, path if hint is None else f"{path}:{hint}")
        self._weights[key] = name
        self._kept.append(variable)  # (so that no later tensor takes its id, the key)
        return name


# ---------------------------------------------------------------- small op helpers

def _transpose(b, x, perm):
    if list(perm) == list(range(len(perm))):
        return x
    return b.op("Transpose", [x], perm=list(perm))


def _unsqueeze(b, x, axes):
    return b.op("Unsqueeze", [x, b.ints(axes)])


def _squeeze(b, x, axes):
    return b.op("Squeeze", [x, b.ints(axes)])


def _reverse(b, x, axis):
    return b.op("Slice", [x, b.ints([-1]), b.ints([_INT64_MIN]), b.ints([axis]),
                          b.ints([-1])])


def _slice(b, x, starts, ends, axes):
    return b.op("Slice", [x, b.ints(starts), b.ints(ends), b.ints(axes)])


def _channels_first(b, x, rank):
    """NWC/NHWC/NDHWC -> NCW/NCHW/NCDHW."""
    return _transpose(b, x, [0, rank + 1] + list(range(1, rank + 1)))


def _channels_last(b, x, rank):
    return _transpose(b, x, [0] + list(range(2, rank + 2)) + [1])


def _softmax(b, x, axis):
    if isinstance(axis, (list, tuple)):
        if len(axis) == 1:
            axis = axis[0]
        else:
            # exp(x - logsumexp(x)) over several axes, as tensorflux's Softmax layer.
            lse = b.op("ReduceLogSumExp", [x], axes=list(axis), keepdims=1)
            return b.op("Exp", [b.op("Sub", [x, lse])])
    return b.op("Softmax", [x], axis=int(axis))


# ---------------------------------------------------------------- activations

def _activation_table():
    from tensorflux.keras import activations as a

    def gelu(b, x, approximate=False):
        if approximate:
            cube = b.op("Mul", [b.op("Mul", [x, x]), x])
            inner = b.op("Mul", [b.const(math.sqrt(2 / math.pi)),
                                 b.op("Add", [x, b.op("Mul", [b.const(0.044715), cube])])])
            half = b.op("Mul", [b.const(0.5), b.op("Add", [b.const(1.0),
                                                           b.op("Tanh", [inner])])])
            return b.op("Mul", [x, half])
        erf = b.op("Erf", [b.op("Div", [x, b.const(math.sqrt(2.0))])])
        return b.op("Div", [b.op("Mul", [x, b.op("Add", [erf, b.const(1.0)])]),
                            b.const(2.0)])

    def unary(op_type, **attrs):
        return lambda b, x: b.op(op_type, [x], **attrs)

    def clip(low, high):
        return lambda b, x: b.op("Clip", [x, b.const(low), b.const(high)])

    table = {
        "linear": lambda b, x: x,
        "relu": unary("Relu"),
        "relu6": clip(0.0, 6.0),
        "sigmoid": unary("Sigmoid"),
        "tanh": unary("Tanh"),
        "softmax": lambda b, x: b.op("Softmax", [x], axis=-1),
        "log_softmax": lambda b, x: b.op("LogSoftmax", [x], axis=-1),
        "elu": unary("Elu", alpha=1.0),
        "selu": unary("Selu", alpha=1.6732632423543772, gamma=1.0507009873554805),
        "softplus": unary("Softplus"),
        "softsign": unary("Softsign"),
        "silu": lambda b, x: b.op("Mul", [x, b.op("Sigmoid", [x])]),
        "gelu": gelu,
        "exponential": unary("Exp"),
        "hard_sigmoid": unary("HardSigmoid", alpha=1.0 / 6.0, beta=0.5),
        "hard_silu": lambda b, x: b.op("Mul", [x, b.op("HardSigmoid", [x], alpha=1.0 / 6.0,
                                                        beta=0.5)]),
        "hard_tanh": clip(-1.0, 1.0),
        "leaky_relu": unary("LeakyRelu", alpha=0.2),
        "mish": lambda b, x: b.op("Mul", [x, b.op("Tanh", [b.op("Softplus", [x])])]),
        "log_sigmoid": lambda b, x: b.op("Neg", [b.op("Softplus", [b.op("Neg", [x])])]),
        "celu": unary("Celu", alpha=1.0),
        "tanh_shrink": lambda b, x: b.op("Sub", [x, b.op("Tanh", [x])]),
    }
    return {getattr(a, name): fn for name, fn in table.items() if hasattr(a, name)}


_ACTIVATIONS = None


def _activation(b, fn, x, owner):
    global _ACTIVATIONS
    if fn is None:
        return x
    if _ACTIVATIONS is None:
        _ACTIVATIONS = _activation_table()
    converter = _ACTIVATIONS.get(fn)
    if converter is None:
        name = getattr(fn, "__name__", repr(fn))
        raise ExportError(f"ONNX export: {_describe(owner)} uses the activation {name!r}, "
                          "which has no ONNX mapping. Mapped activations: "
                          f"{sorted(f.__name__ for f in _ACTIVATIONS)}")
    return converter(b, x)


# ---------------------------------------------------------------- core layers

def _dense(b, layer, x, training=None):
    y = b.op("MatMul", [x, b.weight(layer.kernel)])
    if layer.bias is not None:
        y = b.op("Add", [y, b.weight(layer.bias)])
    return _activation(b, layer.activation, y, layer)


def _einsum_dense(b, layer, x, training=None):
    y = b.op("Einsum", [x, b.weight(layer._kernel)], equation=layer.equation)
    if layer.bias is not None:
        y = b.op("Add", [y, b.weight(layer.bias)])
    return _activation(b, layer.activation, y, layer)


def _activation_layer(b, layer, x):
    return _activation(b, layer.activation, x, layer)


def _identity(b, layer, x, *args, **kwargs):
    return b.op("Identity", [x])


def _embedding(b, layer, x):
    if x.dtype not in ("int32", "int64"):
        x = _Sym(b.op("Cast", [x], to=onnx_proto.DATA_TYPES["int32"]), x.shape, "int32")
    return b.op("Gather", [b.weight(layer.embeddings), x], axis=0)


def _relu_layer(b, layer, x):
    slope, high, threshold = layer.negative_slope, layer.max_value, layer.threshold
    if slope == 0 and threshold == 0:
        y = b.op("Relu", [x])
        return y if high is None else b.op("Clip", [y, b.const(0.0), b.const(float(high))])
    if threshold == 0 and high is None and 0 <= slope <= 1:
        return b.op("LeakyRelu", [x], alpha=float(slope))
    thr = b.const(float(threshold))
    if threshold != 0:
        y = b.op("Where", [b.op("Greater", [x, thr]), x, b.const(0.0)])
    else:
        y = b.op("Relu", [x])
    if high is not None:
        y = b.op("Clip", [y, b.const(0.0), b.const(float(high))])
    if slope != 0:
        negative = b.op("Relu", [b.op("Sub", [thr, x])])
        y = b.op("Sub", [y, b.op("Mul", [b.const(float(slope)), negative])])
    return y


def _leaky_relu_layer(b, layer, x):
    slope = b.const(float(layer.negative_slope))
    return b.op("Where", [b.op("GreaterOrEqual", [x, b.const(0.0)]), x,
                          b.op("Mul", [x, slope])])


def _prelu(b, layer, x):
    return b.op("PRelu", [x, b.weight(layer.alpha)])


def _elu_layer(b, layer, x):
    return b.op("Elu", [x], alpha=float(layer.alpha))


def _softmax_layer(b, layer, x, mask=None):
    return _softmax(b, x, layer.axis)


def _rescaling(b, layer, x):
    if x.dtype != "float32":
        x = b.op("Cast", [x], to=onnx_proto.DATA_TYPES["float32"])
    y = b.op("Mul", [x, b.const(layer.scale)])
    return b.op("Add", [y, b.const(layer.offset)])


def _normalization(b, layer, x):
    tf = _tf()
    from tensorflux.keras import backend

    if layer.input_mean is None:
        mean = tf.reshape(layer.adapt_mean, layer._broadcast_shape)
        variance = tf.reshape(layer.adapt_variance, layer._broadcast_shape)
    else:
        mean, variance = layer.mean, layer.variance
    mean = tf.cast(mean, "float32")
    scale = tf.maximum(tf.sqrt(tf.cast(variance, "float32")), backend.epsilon())
    if x.dtype != "float32":
        x = b.op("Cast", [x], to=onnx_proto.DATA_TYPES["float32"])
    mean_name = b.tensor(mean, f"{layer.name}/mean")
    scale_name = b.tensor(scale, f"{layer.name}/scale")
    if layer.invert:
        return b.op("Add", [mean_name, b.op("Mul", [x, scale_name])])
    return b.op("Div", [b.op("Sub", [x, mean_name]), scale_name])


def _batch_norm(b, layer, x, training=None, mask=None):
    tf = _tf()
    rank = x.rank
    axis = layer.axis % rank
    shape = [-1] + [1] * (rank - 1 - axis)
    inv = tf.math.rsqrt(tf.convert_to_tensor(layer.moving_variance) + layer.epsilon)
    if layer.gamma is not None:
        inv = inv * tf.convert_to_tensor(layer.gamma)
    mean = b.weight(layer.moving_mean, lambda v: tf.reshape(v, shape), "bcast")
    scale = b.tensor(tf.reshape(inv, shape), f"{layer.name}/scale")
    y = b.op("Mul", [b.op("Sub", [x, mean]), scale])
    if layer.beta is not None:
        y = b.op("Add", [y, b.weight(layer.beta, lambda v: tf.reshape(v, shape), "bcast")])
    return y


def _layer_norm(b, layer, x):
    tf = _tf()
    rank = x.rank
    axes = sorted(a % rank for a in layer.axis)
    bshape = [x.shape[d] if d in axes else 1 for d in range(rank)]

    def weight(v):
        return b.weight(v, lambda t: tf.reshape(t, bshape), "bcast")

    mean = b.op("ReduceMean", [x], axes=axes, keepdims=1)
    centered = b.op("Sub", [x, mean])
    variance = b.op("ReduceMean", [b.op("Mul", [centered, centered])], axes=axes, keepdims=1)
    inv = b.op("Reciprocal", [b.op("Sqrt", [b.op("Add", [variance,
                                                         b.const(float(layer.epsilon))])])])
    if layer.rms_scaling:
        y = b.op("Mul", [x, inv])
        return y if layer.gamma is None else b.op("Mul", [y, weight(layer.gamma)])
    if layer.gamma is not None:
        inv = b.op("Mul", [inv, weight(layer.gamma)])
    y = b.op("Mul", [centered, inv])
    return y if layer.beta is None else b.op("Add", [y, weight(layer.beta)])


def _group_norm(b, layer, x, mask=None):
    """Channels split into (groups, channels per group) by a run-time Reshape, statistics
    over every axis but the batch and group ones, then the per-channel affine."""
    tf = _tf()
    rank = x.rank
    axis = layer.axis % rank
    shape = b.op("Shape", [x])
    parts = [b.ints([int(layer.groups), x.shape[axis] // layer.groups])]
    if axis > 0:
        parts.insert(0, _slice(b, shape, [0], [axis], [0]))
    if axis < rank - 1:
        parts.append(_slice(b, shape, [axis + 1], [_INT64_MAX], [0]))
    grouped = b.op("Reshape", [x, b.op("Concat", parts, axis=0)])
    axes = [d for d in range(1, rank + 1) if d != axis]
    mean = b.op("ReduceMean", [grouped], axes=axes, keepdims=1)
    centered = b.op("Sub", [grouped, mean])
    variance = b.op("ReduceMean", [b.op("Mul", [centered, centered])], axes=axes, keepdims=1)
    inv = b.op("Reciprocal", [b.op("Sqrt", [b.op("Add", [variance,
                                                         b.const(float(layer.epsilon))])])])
    y = b.op("Reshape", [b.op("Mul", [centered, inv]), shape])
    bshape = [-1 if d == axis else 1 for d in range(rank)]
    if layer.gamma is not None:
        y = b.op("Mul", [y, b.weight(layer.gamma, lambda v: tf.reshape(v, bshape), "bcast")])
    if layer.beta is not None:
        y = b.op("Add", [y, b.weight(layer.beta, lambda v: tf.reshape(v, bshape), "bcast")])
    return y


def _layer_scale(b, layer, x):
    return b.op("Mul", [x, b.weight(layer.gamma)])


def _unit_norm(b, layer, x, mask=None):
    axes = layer.axis if isinstance(layer.axis, list) else [layer.axis]
    square_sum = b.op("ReduceSumSquare", [x], axes=[int(a) for a in axes], keepdims=1)
    inv = b.op("Min", [b.op("Reciprocal", [b.op("Sqrt", [square_sum])]), b.const(1e12)])
    return b.op("Mul", [x, inv])


# ---------------------------------------------------------------- reshaping

def _flatten(b, layer, x):
    if layer.data_format == "channels_first" and x.rank > 2:
        x = _transpose(b, x, [0] + list(range(2, x.rank)) + [1])
    return b.op("Flatten", [x], axis=1)


def _reshape(b, layer, x):
    return b.op("Reshape", [x, b.ints([0] + list(layer.target_shape))])


def _permute(b, layer, x):
    return _transpose(b, x, [0] + list(layer.dims))


def _repeat_vector(b, layer, x):
    return b.op("Expand", [_unsqueeze(b, x, [1]), b.ints([1, layer.n, 1])])


def _repeat_axis(b, x, rank, axis, times):
    """Each element repeated `times` along `axis` (nearest-neighbour upsampling)."""
    if times == 1:
        return x
    expanded = b.op("Expand", [_unsqueeze(b, x, [axis + 1]),
                               b.ints([times if d == axis + 1 else 1 for d in range(rank + 1)])])
    factors = b.ints([times if d == axis else 1 for d in range(rank)])
    shape = b.op("Mul", [b.op("Shape", [x]), factors])
    return b.op("Reshape", [expanded, shape])


def _spatial_axes(data_format, rank):
    first = data_format == "channels_first"
    return list(range(2, rank + 2)) if first else list(range(1, rank + 1))


def _zero_padding(b, layer, x):
    rank = x.rank - 2
    pairs = [layer.padding] if rank == 1 else list(layer.padding)
    begins, ends = [0] * x.rank, [0] * x.rank
    for axis, (before, after) in zip(_spatial_axes(layer.data_format, rank), pairs):
        begins[axis], ends[axis] = int(before), int(after)
    return b.op("Pad", [x, b.ints(begins + ends)], mode="constant")


def _cropping(b, layer, x):
    rank = x.rank - 2
    pairs = [layer.cropping] if rank == 1 else list(layer.cropping)
    data_format = getattr(layer, "data_format", "channels_last")
    axes = _spatial_axes(data_format, rank)
    starts = [int(p[0]) for p in pairs]
    ends = [-int(p[1]) if p[1] else _INT64_MAX for p in pairs]
    return _slice(b, x, starts, ends, axes)


def _upsampling1d(b, layer, x):
    return _repeat_axis(b, x, 3, 1, int(layer.size))


def _upsampling2d(b, layer, x):
    h_axis, w_axis = _spatial_axes(layer.data_format, 2)
    if layer.interpolation == "nearest":
        y = _repeat_axis(b, x, 4, h_axis, layer.size[0])
        return _repeat_axis(b, y, 4, w_axis, layer.size[1])
    from tensorflux.keras.layers.reshaping import _bilinear_matrix

    height, width = x.shape[h_axis], x.shape[w_axis]
    if height is None or width is None:
        raise ExportError(f"ONNX export: {_describe(layer)} ({layer.interpolation}) needs the "
                          f"spatial size, received shape {x.shape}")
    rows = b.const(_bilinear_matrix(height, layer.size[0], layer.interpolation))
    cols = b.const(_bilinear_matrix(width, layer.size[1], layer.interpolation))
    equation = ("ih,nchw,jw->ncij" if layer.data_format == "channels_first"
                else "ih,nhwc,jw->nijc")
    return b.op("Einsum", [rows, x, cols], equation=equation)


def _upsampling3d(b, layer, x):
    y = x.name
    for axis, size in zip(_spatial_axes(layer.data_format, 3), layer.size):
        y = _repeat_axis(b, y, 5, axis, int(size))
    return y


def _image_hw(layer, x):
    """The static (height axis, width axis, height, width) of an image layer's input."""
    if x.rank != 4:
        raise ExportError(f"ONNX export: {_describe(layer)} exports batched images (rank 4), "
                          f"received shape {x.shape}")
    h_axis, w_axis = _spatial_axes(layer.data_format, 2)
    return h_axis, w_axis, x.shape[h_axis], x.shape[w_axis]


def _center_crop(b, layer, x):
    h_axis, w_axis, height, width = _image_hw(layer, x)
    if height is None or width is None or height < layer.height or width < layer.width:
        raise ExportError(f"ONNX export: {_describe(layer)} exports crops of images of a known "
                          f"size at least ({layer.height}, {layer.width}), received shape "
                          f"{x.shape}")
    top, left = (height - layer.height) // 2, (width - layer.width) // 2
    return _slice(b, x, [top, left], [top + layer.height, left + layer.width],
                  [h_axis, w_axis])


def _resizing(b, layer, x):
    """ONNX Resize with half-pixel coordinates, TensorFlow's resize without antialiasing
    (nearest: half-pixel rounded up, as tf.image.resize)."""
    modes = {"bilinear": "linear", "nearest": "nearest"}
    if (layer.interpolation not in modes or layer.antialias or layer.crop_to_aspect_ratio
            or layer.pad_to_aspect_ratio):
        raise ExportError(f"ONNX export: {_describe(layer)} exports bilinear or nearest "
                          "resizing without antialias or aspect-ratio crop/pad, received "
                          f"interpolation={layer.interpolation!r}, antialias={layer.antialias}, "
                          f"crop_to_aspect_ratio={layer.crop_to_aspect_ratio}, "
                          f"pad_to_aspect_ratio={layer.pad_to_aspect_ratio}")
    _image_hw(layer, x)
    first = layer.data_format == "channels_first"
    if x.dtype != "float32":
        x = _Sym(b.op("Cast", [x], to=onnx_proto.DATA_TYPES["float32"]), x.shape, "float32")
    y = x.name if first else _channels_first(b, x, 2)
    sizes = b.op("Concat", [_slice(b, b.op("Shape", [y]), [0], [2], [0]),
                            b.ints([layer.height, layer.width])], axis=0)
    y = b.op("Resize", [y, "", "", sizes], mode=modes[layer.interpolation],
             coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_ceil")
    return y if first else _channels_last(b, y, 2)


# ---------------------------------------------------------------- merging

def _merge_inputs(b, layer, inputs):
    inputs = list(inputs)
    if getattr(layer, "_reshape_required", False):
        top = max(s.rank for s in inputs)
        inputs = [s if s.rank == top else
                  _Sym(_unsqueeze(b, s, list(range(1, 1 + top - s.rank))), None, s.dtype)
                  for s in inputs]
    return inputs


def _chain(op_type):
    def convert(b, layer, inputs):
        inputs = _merge_inputs(b, layer, inputs)
        y = inputs[0]
        for other in inputs[1:]:
            y = b.op(op_type, [y, other])
        return y

    return convert


def _average(b, layer, inputs):
    y = _chain("Add")(b, layer, inputs)
    return b.op("Div", [y, b.const(float(len(inputs)))])


def _concatenate(b, layer, inputs):
    return b.op("Concat", list(inputs), axis=int(layer.axis))


def _dot(b, layer, inputs):
    from tensorflux.keras import backend

    x, y = inputs
    axes = layer._resolve_axes(x.rank, y.rank)
    if 0 in axes:
        raise ExportError(f"ONNX export: {_describe(layer)} contracts the batch axis")

    def normalize(v, axis):
        norm = b.op("ReduceSum", [b.op("Mul", [v, v]), b.ints([axis])], keepdims=1)
        inv = b.op("Min", [b.op("Reciprocal", [b.op("Sqrt", [norm])]),
                           b.const(1.0 / backend.epsilon())])
        return b.op("Mul", [v, inv])

    xn, yn = x.name, y.name
    if layer.normalize:
        xn, yn = normalize(xn, axes[0]), normalize(yn, axes[1])
    letters = iter("bcdefghijklmnopq")
    x_letters = ["a"] + [next(letters) for _ in range(x.rank - 1)]
    y_letters = ["a"] + [next(letters) for _ in range(y.rank - 1)]
    y_letters[axes[1]] = "z"
    x_letters[axes[0]] = "z"
    out = ["a"] + [c for c in x_letters[1:] if c != "z"] + [c for c in y_letters[1:] if c != "z"]
    equation = f"{''.join(x_letters)},{''.join(y_letters)}->{''.join(out)}"
    result = b.op("Einsum", [xn, yn], equation=equation)
    return _unsqueeze(b, result, [1]) if len(out) == 1 else result


# ---------------------------------------------------------------- convolutions

def _same_pads(sizes, kernel, strides, dilation):
    """TensorFlow's 'same' padding (the extra element at the end), or None when a spatial
    size is unknown."""
    begins, ends = [], []
    for n, k, s, d in zip(sizes, kernel, strides, dilation):
        if n is None:
            return None
        span = (k - 1) * d + 1
        total = max((-(-n // s) - 1) * s + span - n, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return begins + ends


def _pads_attrs(padding, sizes, kernel, strides, dilation):
    rank = len(kernel)
    if padding == "valid":
        return {"pads": [0] * (2 * rank)}
    if padding == "causal":
        return {"pads": [(kernel[0] - 1) * dilation[0], 0]}
    pads = _same_pads(sizes, kernel, strides, dilation)
    return {"auto_pad": "SAME_UPPER"} if pads is None else {"pads": pads}


def _conv_core(b, layer, x, kernel_name, group, rank, strides, padding, dilation, bias=None):
    """Conv on a Keras-layout input; returns the Keras-layout output."""
    last = layer.data_format != "channels_first"
    sizes = list(x.shape[1:-1]) if last else list(x.shape[2:])
    xin = _channels_first(b, x, rank) if last else x
    kernel_size = layer.kernel_size
    inputs = [xin, kernel_name] + ([bias] if bias is not None else [])
    y = b.op("Conv", inputs, kernel_shape=list(kernel_size), strides=list(strides),
             dilations=list(dilation), group=int(group),
             **_pads_attrs(padding, sizes, kernel_size, strides, dilation))
    return _channels_last(b, y, rank) if last else y


def _oihw(rank):
    return lambda k: _tf().transpose(k, [rank + 1, rank] + list(range(rank)))


def _bias(b, layer):
    return None if layer.bias is None else b.weight(layer.bias)


def _conv(b, layer, x):
    rank = layer.rank
    y = _conv_core(b, layer, x, b.weight(layer.kernel, _oihw(rank), "oihw"), layer.groups,
                   rank, layer.strides, layer.padding, layer.dilation_rate, _bias(b, layer))
    return _activation(b, layer.activation, y, layer)


def _depthwise_kernel(rank, channels, multiplier):
    def transform(k):
        k = _tf().reshape(k, tuple(k.shape[:rank]) + (1, channels * multiplier))
        return _oihw(rank)(k)

    return transform


def _depthwise(b, layer, x):
    rank = layer.rank
    channels = x.shape[1] if layer.data_format == "channels_first" else x.shape[-1]
    kernel = b.weight(layer.kernel, _depthwise_kernel(rank, channels, layer.depth_multiplier),
                      "oihw")
    y = _conv_core(b, layer, x, kernel, channels, rank, layer.strides, layer.padding,
                   layer.dilation_rate, _bias(b, layer))
    return _activation(b, layer.activation, y, layer)


def _separable(b, layer, x):
    rank = layer.rank
    channels = x.shape[1] if layer.data_format == "channels_first" else x.shape[-1]
    depthwise = b.weight(layer.depthwise_kernel,
                         _depthwise_kernel(rank, channels, layer.depth_multiplier), "oihw")
    last = layer.data_format != "channels_first"
    sizes = list(x.shape[1:-1]) if last else list(x.shape[2:])
    xin = _channels_first(b, x, rank) if last else x
    y = b.op("Conv", [xin, depthwise], kernel_shape=list(layer.kernel_size),
             strides=list(layer.strides), dilations=list(layer.dilation_rate),
             group=int(channels),
             **_pads_attrs(layer.padding, sizes, layer.kernel_size, layer.strides,
                           layer.dilation_rate))
    pointwise = b.weight(layer.pointwise_kernel, _oihw(rank), "oihw")
    inputs = [y, pointwise] + ([_bias(b, layer)] if layer.bias is not None else [])
    y = b.op("Conv", inputs, kernel_shape=[1] * rank, strides=[1] * rank)
    y = _channels_last(b, y, rank) if last else y
    return _activation(b, layer.activation, y, layer)


def _conv_transpose(b, layer, x):
    from tensorflux.keras.layers.convolutional import transpose_output_length

    rank = layer.rank
    last = layer.data_format != "channels_first"
    # The crops and output padding below do not depend on the input length (it cancels
    # out), so an unknown length (Input((None, None, c))) is computed as any known one.
    sizes = [8 if n is None else n for n in (x.shape[1:-1] if last else x.shape[2:])]
    extras = layer.output_padding or (None,) * rank
    begins, ends, out_padding = [], [], []
    for n, k, s, d, e in zip(sizes, layer.kernel_size, layer.strides, layer.dilation_rate,
                             extras):
        out = transpose_output_length(n, k, s, layer.padding, e, d)
        span = (k - 1) * d + 1
        full = (n - 1) * s + span
        # The transposed conv is the gradient of a conv from `out` to `n`: TF pads that
        # conv by `before` at the start, which crops the full transposed output.
        before = 0 if layer.padding == "valid" else max((n - 1) * s + span - out, 0) // 2
        after = full - out - before
        begins.append(before)
        ends.append(max(after, 0))
        out_padding.append(max(-after, 0))
    xin = _channels_first(b, x, rank) if last else x
    inputs = [xin, b.weight(layer.kernel, _oihw(rank), "iohw")]
    if layer.bias is not None:
        inputs.append(b.weight(layer.bias))
    y = b.op("ConvTranspose", inputs, kernel_shape=list(layer.kernel_size),
             strides=list(layer.strides), dilations=list(layer.dilation_rate),
             pads=begins + ends,
             output_padding=out_padding if any(out_padding) else None)
    y = _channels_last(b, y, rank) if last else y
    return _activation(b, layer.activation, y, layer)


def _pooling(b, layer, x):
    rank = layer.rank
    last = layer.data_format != "channels_first"
    sizes = list(x.shape[1:-1]) if last else list(x.shape[2:])
    xin = _channels_first(b, x, rank) if last else x
    attrs = _pads_attrs(layer.padding.lower(), sizes, layer.pool_size, layer.strides,
                        (1,) * rank)
    if layer.pool_mode == "max":
        y = b.op("MaxPool", [xin], kernel_shape=list(layer.pool_size),
                 strides=list(layer.strides), **attrs)
    else:
        # count_include_pad=0: 'same' averages only the real elements, as TensorFlow does.
        y = b.op("AveragePool", [xin], kernel_shape=list(layer.pool_size),
                 strides=list(layer.strides), count_include_pad=0, **attrs)
    return _channels_last(b, y, rank) if last else y


def _global_pooling(b, layer, x, mask=None):
    op_type = "ReduceMax" if layer.mode == "max" else "ReduceMean"
    return b.op(op_type, [x], axes=layer._axes(), keepdims=int(bool(layer.keepdims)))


# ---------------------------------------------------------------- recurrent layers

_RNN_ACTIVATIONS = {"sigmoid": ("Sigmoid", None, None), "tanh": ("Tanh", None, None),
                    "relu": ("Relu", None, None), "softsign": ("Softsign", None, None),
                    "softplus": ("Softplus", None, None),
                    "hard_sigmoid": ("HardSigmoid", 1.0 / 6.0, 0.5),
                    "linear": ("Affine", 1.0, 0.0)}


def _rnn_activations(layer, functions):
    from tensorflux.keras import activations

    names, alphas, betas = [], [], []
    for fn in functions:
        name = getattr(fn, "__name__", None)
        entry = _RNN_ACTIVATIONS.get(name)
        if entry is None or getattr(activations, name, None) is not fn:
            raise ExportError(f"ONNX export: {_describe(layer)} uses the activation "
                              f"{name or fn!r}, which ONNX's recurrent operators do not "
                              f"offer (supported: {sorted(_RNN_ACTIVATIONS)})")
        names.append(entry[0])
        alphas.append(0.0 if entry[1] is None else entry[1])
        betas.append(0.0 if entry[2] is None else entry[2])
    needs = any(_RNN_ACTIVATIONS[fn.__name__][1] is not None for fn in functions)
    return {"activations": names, "activation_alpha": alphas if needs else None,
            "activation_beta": betas if needs else None}


def _gate_blocks(order, units):
    """A function reordering the last axis of a Keras gate-blocked weight."""
    def transform(w):
        tf = _tf()
        parts = [w[..., g * units:(g + 1) * units] for g in order]
        return tf.concat(parts, axis=-1)

    return transform


def _rnn(b, layer, x, initial_state=None, mask=None, training=None):
    from tensorflux.keras.layers.rnn.cells import GRUCell, LSTMCell, SimpleRNNCell

    tf = _tf()
    if mask is not None:
        raise ExportError(f"ONNX export: {_describe(layer)} is called with a mask, which the "
                          "ONNX recurrent operators cannot apply")
    if getattr(layer, "stateful", False):
        raise ExportError(f"ONNX export: {_describe(layer)} is stateful; export a copy built "
                          "with stateful=False")
    cell = layer.cell
    units = cell.units
    if isinstance(cell, LSTMCell):
        op_type, order, gates = "LSTM", (0, 3, 1, 2), 4  # Keras [i,f,c,o] -> ONNX [i,o,f,c]
        functions = [cell.recurrent_activation, cell.activation, cell.activation]
    elif isinstance(cell, GRUCell):
        op_type, order, gates = "GRU", (0, 1, 2), 3  # [z, r, h] in both
        functions = [cell.recurrent_activation, cell.activation]
    elif type(cell) is SimpleRNNCell:
        op_type, order, gates = "RNN", (0,), 1
        functions = [cell.activation]
    else:
        raise ExportError(f"ONNX export: {_describe(layer)} has a {type(cell).__name__} cell; "
                          "only LSTM, GRU and SimpleRNN cells are mapped")
    reorder = _gate_blocks(order, units)

    def stacked(w):  # (in, gates*u) Keras -> (1, gates*u, in) ONNX
        return tf.expand_dims(tf.transpose(reorder(w)), 0)

    weights = [b.weight(cell.kernel, stacked, "W"), b.weight(cell.recurrent_kernel, stacked, "R")]
    zeros = tf.zeros((gates * units,), "float32")
    reset_after = isinstance(cell, GRUCell) and cell.reset_after
    if cell.bias is None:
        bias = b.tensor(tf.zeros((1, 2 * gates * units), "float32"), f"{layer.name}/B")
    elif reset_after:
        bias = b.weight(cell.bias, lambda v: tf.reshape(reorder(v), (1, -1)), "B")
    else:
        bias = b.weight(cell.bias, lambda v: tf.expand_dims(tf.concat([reorder(v), zeros], 0),
                                                            0), "B")
    inputs = [_transpose(b, x, [1, 0, 2])] + weights + [bias]
    if initial_state is not None:
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) \
            else [initial_state]
        inputs += [""] + [_unsqueeze(b, s, [0]) for s in states]
    outputs = 3 if op_type == "LSTM" else 2
    attrs = dict(hidden_size=int(units),
                 direction="reverse" if layer.go_backwards else "forward",
                 **_rnn_activations(layer, functions))
    if op_type == "GRU":
        attrs["linear_before_reset"] = int(reset_after)
    results = b.op(op_type, inputs, outputs=outputs, **attrs)
    states = [_squeeze(b, s, [0]) for s in results[1:]]
    if layer.return_sequences:
        # Y is (time, directions, batch, units); Keras returns the outputs in the order the
        # steps ran, so a backwards layer's sequence is reversed in time.
        output = _transpose(b, _squeeze(b, results[0], [1]), [1, 0, 2])
        if layer.go_backwards:
            output = _reverse(b, output, 1)
    else:
        output = states[0]
    if layer.return_state:
        return [output] + states
    return output


class _CellRun:
    """One cell of an RNN(StackedRNNCells) seen as a layer of its own, for _rnn."""

    def __init__(self, layer, index, cell, return_sequences):
        self.name = f"{layer.name}/cell_{index}"
        self.cell = cell
        self.return_sequences = return_sequences
        self.go_backwards = self.stateful = self.return_state = False


def _generic_rnn(b, layer, x, initial_state=None, mask=None, training=None):
    """keras.layers.RNN over an LSTM, GRU or SimpleRNN cell, or a list of them (each cell
    then runs over the whole sequence of the previous one, as stacked layers)."""
    cells = getattr(layer.cell, "cells", None)
    if cells is None:
        return _rnn(b, layer, x, initial_state, mask)
    if initial_state is not None or layer.return_state or layer.go_backwards or mask is not None:
        raise ExportError(f"ONNX export: {_describe(layer)} over stacked cells is exported "
                          "without initial_state, return_state, go_backwards and masks")
    y = x
    for index, cell in enumerate(cells):
        last = index == len(cells) - 1
        y = _rnn(b, _CellRun(layer, index, cell, layer.return_sequences or not last), y)
    return y


def _bidirectional(b, layer, x, initial_state=None, mask=None, training=None):
    forward_state = backward_state = None
    if initial_state is not None:
        half = len(initial_state) // 2
        forward_state, backward_state = list(initial_state[:half]), list(initial_state[half:])
    scope = b.scope
    b.scope = f"{scope}/forward"
    y = _rnn(b, layer.forward_layer, x, forward_state, mask)
    b.scope = f"{scope}/backward"
    y_rev = _rnn(b, layer.backward_layer, x, backward_state, mask)
    b.scope = scope
    states = []
    if layer.return_state:
        states = list(y[1:]) + list(y_rev[1:])
        y, y_rev = y[0], y_rev[0]
    if layer.return_sequences:
        y_rev = _reverse(b, y_rev, 1)
    mode = layer.merge_mode
    if mode == "concat":
        output = [b.op("Concat", [y, y_rev], axis=-1)]
    elif mode == "sum":
        output = [b.op("Add", [y, y_rev])]
    elif mode == "ave":
        output = [b.op("Div", [b.op("Add", [y, y_rev]), b.const(2.0)])]
    elif mode == "mul":
        output = [b.op("Mul", [y, y_rev])]
    else:
        output = [y, y_rev]
    if layer.return_state or mode is None:
        return output + states
    return output[0]


def _time_distributed(b, layer, x, training=None, mask=None):
    inner = layer.layer
    flat_shape = (None,) + tuple(x.shape[2:])
    flat = _Sym(b.op("Reshape", [x, b.ints([-1] + [0 if d is None else d
                                                   for d in x.shape[2:]])]),
                flat_shape, x.dtype)
    if None in x.shape[2:]:
        raise ExportError(f"ONNX export: {_describe(layer)} needs the per-step shape of its "
                          f"input, received shape {x.shape}")
    y = _convert_call(b, inner, (flat,), {})
    if not isinstance(y, str):
        raise ExportError(f"ONNX export: {_describe(layer)} wraps a layer with several outputs")
    head = _slice(b, b.op("Shape", [x]), [0], [2], [0])
    tail = _slice(b, b.op("Shape", [y]), [1], [_INT64_MAX], [0])
    return b.op("Reshape", [y, b.op("Concat", [head, tail], axis=0)])


# ---------------------------------------------------------------- attention

def _mha(b, layer, query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
         attention_mask=None, return_attention_scores=False, training=None,
         use_causal_mask=False):
    tf = _tf()
    if query_mask is not None or value_mask is not None or key_mask is not None:
        raise ExportError(f"ONNX export: {_describe(layer)} is called with Keras masks "
                          "(query/value/key_mask), which are not exported; pass an explicit "
                          "attention_mask input instead")
    if getattr(layer, "_sliding_window", None) is not None:
        raise ExportError(f"ONNX export: {_describe(layer)} uses sliding_window, which is not "
                          "exported")
    key = value if key is None else key
    gate = _einsum_dense(b, layer._gate_dense, query) if layer._use_gate else None
    q = _einsum_dense(b, layer._query_dense, query)
    k = _einsum_dense(b, layer._key_dense, key)
    v = _einsum_dense(b, layer._value_dense, value)
    q = b.op("Mul", [q, b.const(float(layer._inverse_sqrt_key_dim))])
    scores = b.op("Einsum", [k, q], equation=layer._dot_product_equation)
    mask = None
    if attention_mask is not None:
        mask = attention_mask.name
        if attention_mask.dtype != "bool":
            mask = b.op("Cast", [mask], to=onnx_proto.DATA_TYPES["bool"])
    if use_causal_mask:
        rows, cols = query.shape[1], value.shape[1]
        if rows is None or cols is None:
            raise ExportError(f"ONNX export: {_describe(layer)} with use_causal_mask needs "
                              f"known sequence lengths, received query {query.shape} and "
                              f"value {value.shape}")
        causal = b.const(tf.greater_equal(tf.range(rows)[:, None], tf.range(cols)[None, :])
                         [None], "bool")
        mask = causal if mask is None else b.op("And", [mask, causal])
    axes = layer._softmax.axis
    if mask is not None:
        rank_scores = len(layer._attention_axes) * 2 + 2
        rank_mask = 3 if attention_mask is None else attention_mask.rank
        insert = -len(layer._attention_axes) * 2 - 1
        for _ in range(rank_scores - rank_mask):
            # Unsqueeze at a negative axis counts from the end of the output.
            mask = _unsqueeze(b, mask, [insert])
        scores = b.op("Where", [mask, scores, b.const(-1e9)])
        probabilities = _softmax(b, scores, axes)
        probabilities = b.op("Where", [mask, probabilities, b.const(0.0)])
    else:
        probabilities = _softmax(b, scores, axes)
    output = b.op("Einsum", [probabilities, v], equation=layer._combine_equation)
    if gate is not None:
        output = b.op("Mul", [output, gate])
    output = _einsum_dense(b, layer._output_dense, output)
    if return_attention_scores:
        return [output, probabilities]
    return output


def _attention(b, layer, inputs, mask=None, return_attention_scores=False,
               use_causal_mask=False):
    """Attention and AdditiveAttention (dot or concat scores) without Keras masks."""
    tf = _tf()
    if mask is not None:
        raise ExportError(f"ONNX export: {_describe(layer)} is called with Keras masks, which "
                          "are not exported")
    query, value = inputs[0], inputs[1]
    key = inputs[2] if len(inputs) > 2 else value
    from tensorflux.keras.layers.attention import AdditiveAttention

    additive = isinstance(layer, AdditiveAttention)
    if additive or layer.score_mode == "concat":
        summed = b.op("Add", [_unsqueeze(b, query, [-2]), _unsqueeze(b, key, [-3])])
        if additive:
            terms = b.op("Tanh", [summed])
            if layer.scale is not None:
                terms = b.op("Mul", [terms, b.weight(layer.scale)])
            scores = b.op("ReduceSum", [terms, b.ints([-1])], keepdims=0)
        else:
            if layer.scale is not None:
                summed = b.op("Mul", [summed, b.weight(layer.scale)])
            scores = b.op("ReduceSum", [b.op("Tanh", [summed]), b.ints([-1])], keepdims=0)
            scores = b.op("Mul", [scores, b.weight(layer.concat_score_weight)])
    else:
        perm = list(range(key.rank - 2)) + [key.rank - 1, key.rank - 2]
        scores = b.op("MatMul", [query, _transpose(b, key, perm)])
        if layer.scale is not None:
            scores = b.op("Mul", [scores, b.weight(layer.scale)])
    if use_causal_mask:
        rows, cols = query.shape[-2], key.shape[-2]
        if rows is None or cols is None:
            raise ExportError(f"ONNX export: {_describe(layer)} with use_causal_mask needs "
                              f"known sequence lengths, received query {query.shape} and "
                              f"key {key.shape}")
        causal = b.const(tf.greater_equal(tf.range(rows)[:, None], tf.range(cols)[None, :]),
                         "bool")
        scores = b.op("Where", [causal, scores, b.op("Sub", [scores, b.const(1e9)])])
    weights = b.op("Softmax", [scores], axis=-1)
    output = b.op("MatMul", [weights, value])
    return [output, weights] if return_attention_scores else output


# ---------------------------------------------------------------- op layers (x + y, x[...])

def _operand(b, value, like):
    if isinstance(value, _Sym):
        return value.name
    return b.const(value, like.dtype if isinstance(like, _Sym) else "float32")


_BINARY = {"add": "Add", "subtract": "Sub", "multiply": "Mul", "true_divide": "Div",
           "power": "Pow", "matmul": "MatMul", "less": "Less", "less_equal": "LessOrEqual",
           "greater": "Greater", "greater_equal": "GreaterOrEqual", "equal": "Equal"}


def _op_layer(b, layer, *args):
    name = layer.op_name
    if name in _BINARY:
        like = args[0] if isinstance(args[0], _Sym) else args[1]
        return b.op(_BINARY[name], [_operand(b, a, like) for a in args])
    if name == "not_equal":
        like = args[0] if isinstance(args[0], _Sym) else args[1]
        return b.op("Not", [b.op("Equal", [_operand(b, a, like) for a in args])])
    if name == "negative":
        return b.op("Neg", [args[0]])
    if name == "absolute":
        return b.op("Abs", [args[0]])
    if name == "cast":
        dtype = getattr(layer, "target_dtype", None) or layer._op_config["dtype"]
        return b.op("Cast", [args[0]], to=onnx_proto.DATA_TYPES[dtype])
    if name == "reshape":
        shape = args[1] if len(args) > 1 else layer._op_config["newshape"]
        return b.op("Reshape", [args[0], b.ints([-1 if d is None else d for d in shape])])
    if name == "get_item":
        return _get_item(b, layer, args[0], args[1])
    if hasattr(layer, "_op_config"):
        result = _keras_op(b, layer, name, dict(layer._op_config), args)
        if result is not None:
            return result
    raise ExportError(f"ONNX export: the operation {_describe(layer)} has no ONNX mapping")


_UNARY = {"sqrt": "Sqrt", "exp": "Exp", "log": "Log", "tanh": "Tanh", "sigmoid": "Sigmoid",
          "relu": "Relu", "abs": "Abs", "floor": "Floor", "ceil": "Ceil", "sign": "Sign",
          "sin": "Sin", "cos": "Cos", "erf": "Erf", "reciprocal": "Reciprocal"}
_ELEMENTWISE = {"maximum": "Max", "minimum": "Min", "divide": "Div"}
_REDUCE = {"mean": "ReduceMean", "sum": "ReduceSum", "max": "ReduceMax", "min": "ReduceMin",
           "prod": "ReduceProd"}


def _axes_list(axis):
    return None if axis is None else [int(a) for a in
                                      (axis if isinstance(axis, (list, tuple)) else [axis])]


def _keras_op(b, layer, name, config, args):
    """A keras.ops node (its attributes in `config`), or None for an op without a mapping."""
    if name in _UNARY:
        return b.op(_UNARY[name], [args[0]])
    if name == "square":
        return b.op("Mul", [args[0], args[0]])
    if name in _ELEMENTWISE:
        like = args[0] if isinstance(args[0], _Sym) else args[1]
        return b.op(_ELEMENTWISE[name], [_operand(b, a, like) for a in args])
    if name in _REDUCE and config.get("initial") is None:
        axes = _axes_list(config.get("axis"))
        keepdims = int(bool(config.get("keepdims")))
        if name == "sum":  # ReduceSum takes its axes as an input from opset 13
            return b.op("ReduceSum", [args[0]] + ([b.ints(axes)] if axes else []),
                        keepdims=keepdims)
        return b.op(_REDUCE[name], [args[0]], axes=axes, keepdims=keepdims)
    if name == "concatenate":
        return b.op("Concat", list(args[0]), axis=int(config["axis"]))
    if name == "stack":
        axis = int(config["axis"])
        return b.op("Concat", [_unsqueeze(b, x, [axis]) for x in args[0]], axis=axis)
    if name == "expand_dims":
        return _unsqueeze(b, args[0], _axes_list(config["axis"]))
    if name == "squeeze":
        axes = _axes_list(config.get("axis"))
        return b.op("Squeeze", [args[0]] + ([b.ints(axes)] if axes else []))
    if name == "transpose":
        axes = config.get("axes")
        perm = list(range(args[0].rank))[::-1] if axes is None else [int(a) for a in axes]
        return _transpose(b, args[0], perm)
    if name == "clip":
        return b.op("Clip", [args[0], _operand(b, config["x_min"], args[0]),
                             _operand(b, config["x_max"], args[0])])
    if name == "where" and len(args) == 3:
        like = args[1] if isinstance(args[1], _Sym) else args[2]
        condition = args[0]
        if condition.dtype != "bool":
            condition = b.op("Cast", [condition], to=onnx_proto.DATA_TYPES["bool"])
        return b.op("Where", [condition] + [_operand(b, a, like) for a in args[1:]])
    if name in ("softmax", "log_softmax"):
        axis = config.get("axis", -1)
        if name == "softmax":
            return _softmax(b, args[0], axis)
        return b.op("LogSoftmax", [args[0]], axis=int(axis))
    if name in ("argmax", "argmin") and config.get("axis") is not None:
        index = b.op("ArgMax" if name == "argmax" else "ArgMin", [args[0]],
                     axis=int(config["axis"]), keepdims=int(bool(config.get("keepdims"))))
        return b.op("Cast", [index], to=onnx_proto.DATA_TYPES["int32"])
    return None


def _get_item(b, layer, x, key):
    key = tuple(key) if isinstance(key, (list, tuple)) else (key,)
    starts, ends, axes, steps, squeeze, new_axes = [], [], [], [], [], []
    axis = position = 0
    for item in key:
        if item is None:
            new_axes.append(position)
            position += 1
            continue
        if isinstance(item, slice):
            if item != slice(None):
                step = 1 if item.step is None else int(item.step)
                default_start, default_end = (0, _INT64_MAX) if step > 0 else (-1, _INT64_MIN)
                starts.append(default_start if item.start is None else int(item.start))
                ends.append(default_end if item.stop is None else int(item.stop))
                axes.append(axis)
                steps.append(step)
            position += 1
        elif isinstance(item, int) and not isinstance(item, bool):
            starts.append(item)
            ends.append(item + 1 if item != -1 else _INT64_MAX)
            axes.append(axis)
            steps.append(1)
            squeeze.append(axis)
        else:
            raise ExportError(f"ONNX export: {_describe(layer)} indexes with {item!r}, which "
                              "is not exported (use slices, integers and None)")
        axis += 1
    y = x.name
    if axes:
        y = b.op("Slice", [y, b.ints(starts), b.ints(ends), b.ints(axes), b.ints(steps)])
    if squeeze:
        y = _squeeze(b, y, squeeze)
    if new_axes:
        y = _unsqueeze(b, y, new_axes)
    return y if y != x.name else b.op("Identity", [y])


# ---------------------------------------------------------------- the table

def _converters():
    from tensorflux.keras import layers as L  # noqa: N812
    from tensorflux.keras.applications.convnext import LayerScale, StochasticDepth
    from tensorflux.keras.engine.op_layers import OpLayer
    from tensorflux.keras.layers import convolutional as C  # noqa: N812
    from tensorflux.keras.layers import pooling as P  # noqa: N812
    from tensorflux.keras.layers.einsum_dense import EinsumDense
    from tensorflux.keras.layers.rnn.recurrent import GRU, LSTM, SimpleRNN

    table = {
        L.Dense: _dense, EinsumDense: _einsum_dense, L.Activation: _activation_layer,
        L.Identity: _identity, L.Dropout: _identity, L.SpatialDropout1D: _identity,
        L.SpatialDropout2D: _identity, L.SpatialDropout3D: _identity,
        L.GaussianDropout: _identity, L.GaussianNoise: _identity,
        L.ActivityRegularization: _identity, L.Embedding: _embedding, L.ReLU: _relu_layer,
        L.LeakyReLU: _leaky_relu_layer, L.PReLU: _prelu, L.ELU: _elu_layer,
        L.Softmax: _softmax_layer, L.Rescaling: _rescaling, L.Normalization: _normalization,
        L.BatchNormalization: _batch_norm, L.LayerNormalization: _layer_norm,
        L.Flatten: _flatten, L.Reshape: _reshape, L.Permute: _permute,
        L.RepeatVector: _repeat_vector, L.ZeroPadding1D: _zero_padding,
        L.ZeroPadding2D: _zero_padding, L.Cropping1D: _cropping, L.Cropping2D: _cropping,
        L.UpSampling1D: _upsampling1d, L.UpSampling2D: _upsampling2d,
        L.UpSampling3D: _upsampling3d, L.ZeroPadding3D: _zero_padding,
        L.Cropping3D: _cropping, L.CenterCrop: _center_crop, L.Resizing: _resizing,
        L.GroupNormalization: _group_norm, L.UnitNormalization: _unit_norm,
        L.AlphaDropout: _identity, L.Attention: _attention,
        L.AdditiveAttention: _attention, StochasticDepth: _identity,
        LayerScale: _layer_scale,
        L.Add: _chain("Add"), L.Subtract: _chain("Sub"), L.Multiply: _chain("Mul"),
        L.Maximum: _chain("Max"), L.Minimum: _chain("Min"), L.Average: _average,
        L.Concatenate: _concatenate, L.Dot: _dot,
        C.BaseConv: _conv, C.BaseConvTranspose: _conv_transpose,
        C.BaseDepthwiseConv: _depthwise, C.BaseSeparableConv: _separable,
        P.BasePooling: _pooling, P.BaseGlobalPooling: _global_pooling,
        LSTM: _rnn, GRU: _rnn, SimpleRNN: _rnn, L.RNN: _generic_rnn,
        L.Bidirectional: _bidirectional,
        L.TimeDistributed: _time_distributed, L.MultiHeadAttention: _mha,
        OpLayer: _op_layer,
    }
    return table


_TABLE = None


def _find_converter(layer):
    global _TABLE
    if _TABLE is None:
        _TABLE = _converters()
    for cls in type(layer).__mro__:
        converter = _TABLE.get(cls)
        if converter is None:
            continue
        # A subclass that overrides `call` computes something else: refuse rather than
        # export the parent's computation.
        for klass in type(layer).__mro__:
            if klass is cls:
                break
            if "call" in vars(klass) and klass.__module__.split(".")[0] != "tensorflux":
                return None
        return converter
    return None


def _user_layer(layer):
    """Whether `layer` is a user's Layer subclass with no mapped Keras class among its
    ancestors (a subclass of a mapped layer overriding `call` is refused instead)."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _converters()
    if type(layer).__module__.split(".")[0] == "tensorflux":
        return False
    return not any(cls in _TABLE for cls in type(layer).__mro__)


def _mapped_names():
    global _TABLE
    if _TABLE is None:
        _TABLE = _converters()
    return sorted(cls.__name__ for cls in _TABLE)


# ---------------------------------------------------------------- graphs and models

def _check_masks(node, layer):
    for tensor in node.input_tensors:
        if tensor._keras_mask is not None and getattr(layer, "_call_has_mask_arg", False):
            raise ExportError(
                f"ONNX export: {_describe(layer)} receives a Keras mask (from "
                "Embedding(mask_zero=True) or Masking), and masked computation is not "
                "exported. Remove the mask (mask_zero=False) or pass explicit masks as inputs.")


def _convert_call(b, layer, args, kwargs):
    """The ONNX names of one layer call's outputs (the structure `call` returns)."""
    from tensorflux.keras.models.model import Model

    scope = b.scope
    b.scope = f"{scope}/{layer.name}" if scope else layer.name
    try:
        if isinstance(layer, Model):
            inputs = args[0] if len(args) == 1 else list(args)
            result = _convert_model(b, layer, inputs)
            return tree.map_structure(lambda s: s.name, result)
        dtype = getattr(layer, "compute_dtype", "float32")
        if dtype not in ("float32", None):
            raise ExportError(f"ONNX export: {_describe(layer)} computes in {dtype}; the "
                              "exporter writes float32 models only")
        converter = _find_converter(layer)
        if converter is None and _user_layer(layer) and len(args) == 1 and not [
                k for k in kwargs if k != "training"]:
            # A user's layer made of Keras layers and operators: exported as the graph
            # its call builds, as a subclassed model.
            result = _trace_subclassed(b, layer, args[0])
            return tree.map_structure(lambda s: s.name, result)
        if converter is None:
            raise ExportError(
                f"ONNX export: {_describe(layer)} has no ONNX mapping (mapped layers: "
                f"{', '.join(_mapped_names())}; Sequential, Functional and subclassed models "
                "made of them are exported too)")
        kwargs = {k: v for k, v in kwargs.items() if k != "training"}
        try:
            return converter(b, layer, *args, **kwargs)
        except TypeError as error:
            raise ExportError(f"ONNX export: {_describe(layer)} was called with arguments the "
                              f"exporter does not map ({error})") from None
    finally:
        b.scope = scope


def _run_nodes(b, nodes, inputs, syms, outputs):
    values = {id(kt): sym for kt, sym in zip(inputs, syms)}

    def fill(x):
        from tensorflux.keras.engine.keras_tensor import KerasTensor

        if isinstance(x, KerasTensor):
            if id(x) not in values:
                raise ExportError(f"ONNX export: the graph uses the symbolic tensor {x.name} "
                                  "before it is computed")
            return values[id(x)]
        return x

    for node in nodes:
        if node.is_input:
            continue
        layer = node.operation
        _check_masks(node, layer)
        args = tree.map_structure(fill, node.call_args)
        kwargs = tree.map_structure(fill, node.call_kwargs)
        if kwargs.get("mask") is not None:
            raise ExportError(f"ONNX export: {_describe(layer)} is called with an explicit "
                              "mask, which is not exported")
        kwargs.pop("mask", None)
        result = _convert_call(b, layer, args, kwargs)
        names = tree.flatten(result)
        if len(names) != len(node.output_tensors):
            raise ExportError(f"ONNX export: {_describe(layer)} produced {len(names)} values "
                              f"for {len(node.output_tensors)} outputs")
        for kt, name in zip(node.output_tensors, names):
            values[id(kt)] = _Sym(name, kt.shape, kt.dtype)
    return [fill(kt) for kt in outputs]


def _convert_model(b, model, inputs):
    """The output _Syms of `model` called on the _Sym structure `inputs`."""
    from tensorflux.keras.models.functional import Functional
    from tensorflux.keras.models.sequential import Sequential

    if isinstance(model, Sequential):
        if model._functional is None:
            raise ExportError(f"ONNX export: Sequential '{model.name}' is not built; give it "
                              "an Input or call it on data first")
        model = model._functional
    flat = tree.flatten(inputs)
    if isinstance(model, Functional):
        if len(flat) != len(model._inputs):
            raise ExportError(f"ONNX export: Functional '{model.name}' expects "
                              f"{len(model._inputs)} inputs, received {len(flat)}")
        outs = _run_nodes(b, model._run_order, model._inputs, flat, model._outputs)
        return tree.pack_sequence_as(model._outputs_struct, outs)
    return _trace_subclassed(b, model, inputs)


def _trace_subclassed(b, model, inputs):
    """A subclassed model's `call` run on KerasTensors, then exported as the layer graph it
    builds (layers and Python operators only)."""
    from tensorflux.keras.engine.input_layer import Input
    from tensorflux.keras.models.functional import _build_map

    flat = tree.flatten(inputs)
    tensors = [Input(batch_shape=s.shape, dtype=s.dtype) for s in flat]
    structured = tree.pack_sequence_as(inputs, tensors)
    kwargs = {}
    try:
        if "training" in inspect.signature(model.call).parameters:
            kwargs["training"] = False
    except (TypeError, ValueError):
        pass
    try:
        outputs = model.call(structured, **kwargs)
    except Exception as error:
        raise ExportError(f"ONNX export: the call of {_describe(model)} could not be traced "
                          "with symbolic inputs (its call must use Keras layers and Python "
                          f"operators only): {type(error).__name__}: {error}") from error
    flat_outputs = tree.flatten(outputs)
    from tensorflux.keras.engine.keras_tensor import KerasTensor

    if not all(isinstance(x, KerasTensor) for x in flat_outputs):
        raise ExportError(f"ONNX export: the call of {_describe(model)} returned values that "
                          "are not symbolic tensors")
    ordered, _ = _build_map(tensors, flat_outputs)
    try:
        result = _run_nodes(b, ordered, tensors, flat, flat_outputs)
    finally:
        _forget_nodes(ordered)
    return tree.pack_sequence_as(outputs, result)


def _forget_nodes(nodes):
    """Removes the nodes a trace added from the layers' histories, so that exporting
    leaves the model as it was."""
    for node in reversed(nodes):
        inbound = node.operation._inbound_nodes
        if inbound and inbound[-1] is node:
            inbound.pop()
        for tensor in node.input_tensors:
            history = tensor._keras_history
            if history is not None:
                outbound = history.operation._outbound_nodes
                if node in outbound:
                    outbound.remove(node)


def _model_inputs(model, input_signature):
    """[(name, shape, dtype)] of the model's inputs, and their structure."""
    from tensorflux.keras.models.functional import Functional
    from tensorflux.keras.models.sequential import Sequential

    if input_signature is not None:
        specs = input_signature
        if hasattr(specs, "shape") or (isinstance(specs, (list, tuple)) and all(
                isinstance(d, int) or d is None for d in specs)):
            specs = [specs]
        entries = []
        for index, spec in enumerate(specs):
            if hasattr(spec, "shape"):
                shape = spec.shape
                shape = tuple(shape.as_list()) if hasattr(shape, "as_list") else tuple(shape)
                dtype = getattr(spec, "dtype", None) or "float32"
                dtype = getattr(dtype, "name", dtype)
                name = getattr(spec, "name", None) or f"input_{index}"
            elif isinstance(spec, (list, tuple)):
                shape, dtype, name = tuple(spec), "float32", f"input_{index}"
            else:
                raise ValueError("ONNX export: input_signature must hold shapes or specs "
                                 f"with .shape and .dtype, received {spec!r}")
            entries.append((name, shape, str(dtype)))
        return entries, [None] * len(entries) if len(entries) > 1 else None
    target = model._functional if isinstance(model, Sequential) else model
    if isinstance(target, Functional):
        return [(kt._keras_history.operation.name, kt.shape, kt.dtype)
                for kt in target._inputs], target._inputs_struct
    shape = None
    build = getattr(model, "_build_shapes_dict", None) or {}
    if len(build) == 1:
        shape = next(iter(build.values()))
    if shape is None or not model.built:
        raise ExportError(f"ONNX export: {_describe(model)} has no known input shape; call "
                          "it on data first or pass input_signature=[keras.InputSpec(...)] / "
                          "[tf.TensorSpec(shape, dtype)]")
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return [(f"input_{i}", tuple(s), "float32") for i, s in enumerate(shape)], \
            [None] * len(shape)
    return [("input", tuple(shape), "float32")], None


def _value_info(name, shape, dtype, dim_names):
    dims = []
    for index, dim in enumerate(shape or ()):
        if index == 0:
            dims.append({"dim_param": "batch"})
        elif dim is None:
            dims.append({"dim_param": dim_names(index)} if dim_names else {})
        else:
            dims.append({"dim_value": int(dim)})
    if dtype not in onnx_proto.DATA_TYPES:
        raise ExportError(f"ONNX export: the dtype {dtype!r} of {name!r} has no ONNX type")
    tensor_type = {"elem_type": onnx_proto.DATA_TYPES[dtype]}
    if shape is not None:
        tensor_type["shape"] = {"dim": dims}
    return {"name": name, "type": {"tensor_type": tensor_type}}


def model_to_onnx_bytes(model, input_signature=None, opset_version=None):
    """The ONNX ModelProto bytes of a Keras model (see the module docstring)."""
    opset = DEFAULT_OPSET if opset_version is None else int(opset_version)
    if opset not in SUPPORTED_OPSETS:
        raise ValueError(f"ONNX export: opset_version must be one of {SUPPORTED_OPSETS}, "
                         f"received {opset_version!r}")
    entries, structure = _model_inputs(model, input_signature)
    b = _Builder()
    syms = []
    graph_inputs = []
    for name, shape, dtype in entries:
        if dtype in ("float16", "float64", "bfloat16"):
            raise ExportError(f"ONNX export: the input {name!r} is {dtype}; the exporter "
                              "writes float32 models only")
        name = b.unique(name)
        syms.append(_Sym(name, shape, dtype))
        graph_inputs.append(_value_info(name, shape, dtype,
                                        lambda i, n=name: f"{n}_dim{i}"))
    if structure is not None:
        inputs = tree.pack_sequence_as(structure, syms)
    else:
        inputs = syms[0]
    outputs = tree.flatten(_convert_model(b, model, inputs))
    graph_outputs = []
    for index, sym in enumerate(outputs):
        base = sym.name.split("/")[0] if "/" in sym.name else f"output_{index}"
        name = b.unique(base if base not in [s.name for s in syms] else f"output_{index}")
        b.nodes.append({"input": [sym.name], "output": [name], "name": name,
                        "op_type": "Identity"})
        graph_outputs.append(_value_info(name, sym.shape, sym.dtype, None))
    graph = {"node": b.nodes, "name": model.name, "initializer": b.initializers,
             "input": graph_inputs, "output": graph_outputs}
    from tensorflux import __tensorflux_version__ as version

    proto = {"ir_version": IR_VERSION, "producer_name": "tensorflux",
             "producer_version": str(version), "graph": graph,
             "opset_import": [{"domain": "", "version": opset}]}
    return onnx_proto.encode_model(proto)


def export_onnx(model, filepath, verbose=True, input_signature=None, opset_version=None,
                **kwargs):
    """Writes `model` as an ONNX file at `filepath` (atomically: a crash leaves any old file
    in place)."""
    import os

    from tensorflux.io.atomic import atomic_write

    if kwargs:
        raise TypeError(f"export(format='onnx') got unexpected keyword arguments "
                        f"{sorted(kwargs)}")
    data = model_to_onnx_bytes(model, input_signature=input_signature,
                               opset_version=opset_version)
    atomic_write(os.fspath(filepath), lambda f: f.write(data))
    if verbose:
        from tensorflux.keras.utils.io_utils import print_msg

        print_msg(f"Saved artifact at '{filepath}'.")
