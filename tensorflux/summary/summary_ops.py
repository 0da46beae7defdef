"""The summary ops (tf.summary.scalar, histogram, image, text, audio, graph, write and
experimental.write_raw_pb): each turns its data into the tensor summary TensorFlow 2 writes,
tagged with the TensorBoard plugin that displays it, and queues it on the default writer.
scalar, histogram, image, text and audio prefix their tag with the enclosing tf.name_scope
("train/loss"), as TensorFlow does; the others take their tag as given.

Without a default writer (or outside record_if's condition) an op writes nothing and
returns False, as in TensorFlow; the work of bucketing or PNG encoding is then skipped.

Inside a tf.function an op is traced as a host call that writes at every call of the
function, as TensorFlow's summary ops do: the default writer, default step and record_if
condition in force when the function is traced are the ones it uses (a Variable step, or a
tensor condition, is read at each call).
"""

import contextlib
import functools
import inspect
import re
import time

import numpy as np

from tensorflux import control, dtypes, errors, nest
from tensorflux.context import context
from tensorflux.proto import graph_pb
from tensorflux.proto.wire import decode, encode_varint
from tensorflux.summary import writer as _writer
from tensorflux.summary.event_pb import SUMMARY, SUMMARY_METADATA, encode_event
from tensorflux.summary.png import encode_png
from tensorflux.tensor import _TensorLike, convert_to_tensor

__all__ = ["audio", "graph", "histogram", "image", "scalar", "summary_scope",
           "tensor_proto", "text", "write", "write_raw_pb"]

DEFAULT_BUCKET_COUNT = 30  # tensorboard/plugins/histogram/summary_v2.py

_INVALID_SCOPE_CHARACTERS = re.compile(r"[^-_/.A-Za-z0-9]")


@contextlib.contextmanager
def summary_scope(name, default_name="summary", values=None):
    """tf.summary.experimental.summary_scope: enters a name scope for a summary and yields
    (tag, scope). The tag is `name` under the enclosing scopes, kept as given (any
    characters); the scope drops the characters a scope name may not hold.

    >>> import tensorflux as tf
    >>> with tf.name_scope("train"):
    ...     with tf.summary.experimental.summary_scope("loss (avg)") as (tag, scope):
    ...         tag, scope
    ('train/loss (avg)', 'train/lossavg/')
    """
    name = name or default_name
    tag = _scoped_tag(name)
    with control.name_scope(_INVALID_SCOPE_CHARACTERS.sub("", name) or default_name) as scope:
        yield tag, scope


def _scoped_tag(name):
    """`name` under the current tf.name_scope ("outer/inner/", kept in the execution
    context), as TensorFlow tags a summary."""
    return f"{getattr(context, 'name_scope', '')}{name}"


def _to_numpy(data):
    if hasattr(data, "numpy"):
        data = data._numpy() if hasattr(data, "_numpy") else data.numpy()
    return np.asarray(data)


def _is_string(array):
    if array.dtype.kind in "US":
        return True
    return array.dtype == object and all(isinstance(v, (str, bytes)) for v in array.flat)


def tensor_proto(array):
    """The TensorProto dict of an array: numbers as little-endian tensor_content, strings as
    string_val (UTF-8), as TensorFlow's Tensor::AsProtoTensorContent writes them."""
    array = np.asarray(array)
    shape = {"dim": [{"size": int(d)} for d in array.shape]}
    if _is_string(array):
        values = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in array.flat]
        return {"dtype": graph_pb.DATA_TYPES["string"], "tensor_shape": shape,
                "string_val": values}
    name = array.dtype.name
    if name not in graph_pb.DATA_TYPES:
        raise errors.InvalidArgumentError(f"summary: cannot write a tensor of dtype {name}")
    content = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    return {"dtype": graph_pb.DATA_TYPES[name], "tensor_shape": shape,
            "tensor_content": content}


def _runs_when_called(op):
    """The summary op `op`, traced inside a tf.function as a host call (see the module
    docstring); eagerly it is `op` itself."""
    signature = inspect.signature(op)

    @functools.wraps(op)
    def summary_op(*args, **kwargs):
        if context.graph is None:
            return op(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return _traced_summary(op, dict(bound.arguments))

    return summary_op


def _traced_summary(op, arguments):
    """What a summary op traces to: a bool tensor from a py_function that calls `op` eagerly
    with the traced writer, step and condition; False at once when the trace has no writer
    or a condition known to be false."""
    writer = _writer.current_writer()
    condition = _writer.recording_condition()
    if callable(condition):
        condition = condition()  # called when tracing, as TensorFlow does
    if writer is None or (not isinstance(condition, _TensorLike) and not condition):
        return convert_to_tensor(False)
    if "step" in arguments and arguments["step"] is None:
        arguments["step"] = _writer.get_step()
        if arguments["step"] is None:
            _writer.resolve_step(None)  # TensorFlow's "No step set" ValueError, when tracing
    if callable(arguments.get("tensor")):  # write's lazy tensor
        arguments["tensor"] = arguments["tensor"]()
    for key, value in arguments.items():
        if isinstance(value, (list, tuple)) and any(
                isinstance(leaf, _TensorLike) for leaf in nest.flatten(value)):
            arguments[key] = convert_to_tensor(value)  # a list of traced tensors, packed
    names = [k for k, v in arguments.items() if isinstance(v, _TensorLike)]
    inputs = [arguments[k] for k in names]
    if isinstance(condition, _TensorLike):
        inputs.append(condition)

    def write_now(*values):
        call = dict(arguments, **dict(zip(names, values)))
        recording = bool(values[-1]) if isinstance(condition, _TensorLike) else True
        with _writer.writing_to(writer, recording):
            return bool(op(**call))

    return control.py_function(write_now, inputs, Tout=dtypes.bool)


def _metadata(plugin_name, description=None, content=b""):
    # Every plugin's data message (ScalarPluginData, HistogramPluginData, ...) is at its
    # version-0 default, which serializes to no bytes.
    metadata = {"plugin_data": {"plugin_name": plugin_name, "content": content}}
    if description:
        metadata["summary_description"] = str(description)
    return metadata


def _write_value(tag, make_tensor, step, metadata):
    """Queues one Summary.Value on the default writer; False when nothing is recorded.
    `make_tensor` builds the TensorProto dict only when the value is written."""
    if not _writer.should_record_summaries():
        return False
    step = _writer.resolve_step(step)
    value = {"tag": str(tag), "tensor": make_tensor()}
    if metadata is not None:
        value["metadata"] = metadata
    _writer.current_writer().add_event({"wall_time": _wall_time(), "step": step,
                                        "summary": {"value": [value]}})
    return True


def _wall_time():
    return time.time()


@_runs_when_called
def write(tag, tensor, step=None, metadata=None, name=None):
    """Writes `tensor` (an array-like or a callable returning one) under `tag` at `step`.
    `metadata` is a SummaryMetadata dict, its serialized bytes, or None."""
    if isinstance(metadata, (bytes, bytearray)):
        metadata = decode(SUMMARY_METADATA, bytes(metadata))

    def make_tensor():
        return tensor_proto(_to_numpy(tensor() if callable(tensor) else tensor))

    return _write_value(tag, make_tensor, step, metadata)


@_runs_when_called
def write_raw_pb(tensor, step=None, name=None):
    """tf.summary.experimental.write_raw_pb: writes each serialized Summary proto in `tensor`
    (bytes, a list of them or a string tensor) as it is, one event each, at `step`."""
    if not _writer.should_record_summaries():
        return False
    step = _writer.resolve_step(step)
    # Object arrays throughout: NumPy's bytes dtype would drop the trailing zero bytes a
    # serialized proto may end with.
    value = tensor.numpy() if hasattr(tensor, "numpy") else tensor
    if isinstance(value, (bytes, bytearray, str)):
        items = [value]
    else:
        items = np.asarray(value, dtype=object).reshape(-1)
    writer = _writer.current_writer()
    for raw in items:
        raw = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        try:
            decode(SUMMARY, raw)
        except Exception as exc:
            raise errors.DataLossError(
                f"write_raw_pb: expected serialized Summary protos, received bytes that do not "
                f"parse as one ({exc})", "write_raw_pb") from exc
        # Event.summary (field 5, length-delimited) appended to the encoded header fields.
        writer.add_event(encode_event({"wall_time": _wall_time(), "step": step})
                         + b"\x2a" + encode_varint(len(raw)) + raw)
    return True


@_runs_when_called
def scalar(name, data, step=None, description=None):
    """Writes a scalar (cast to float32) for TensorBoard's Scalars dashboard.

    >>> import tempfile, tensorflux as tf
    >>> with tf.summary.create_file_writer(tempfile.mkdtemp()).as_default():
    ...     tf.summary.scalar("loss", 0.25, step=1)
    True
    """
    array = _to_numpy(data)
    if array.ndim != 0:
        raise errors.InvalidArgumentError(
            f"scalar: expected a scalar for summary {name!r}, received shape {array.shape}",
            "scalar")
    if _is_string(array) or array.dtype.kind not in "biuf":
        raise errors.InvalidArgumentError(
            f"scalar: expected a real number for summary {name!r}, received dtype "
            f"{array.dtype}", "scalar")
    return _write_value(_scoped_tag(name), lambda: tensor_proto(array.astype(np.float32)),
                        step, _metadata("scalars", description))


def histogram_buckets(data, bucket_count=None):
    """TensorFlow 2's histogram of `data` as a float64 [k, 3] array of (left edge, right
    edge, count): `bucket_count` (default 30) equal-width buckets from min to max, the last
    closed; all edges equal to the value when every element is the same; all zeros when
    `data` is empty; k = 0 when bucket_count <= 0. With NaN or infinite data (weights that
    diverged) the edges are NaN or infinite and the elements whose bucket is undefined are
    not counted, as in TensorFlow.

    >>> histogram_buckets([0.0, 1.0, float("inf")], 2).tolist()
    [[0.0, inf, 2.0], [inf, inf, 0.0]]
    """
    bucket_count = DEFAULT_BUCKET_COUNT if bucket_count is None else max(0, int(bucket_count))
    data = _to_numpy(data).reshape(-1).astype(np.float64)
    if data.size == 0 or bucket_count == 0:
        return np.zeros((bucket_count, 3), np.float64)
    low, high = data.min(), data.max()
    with np.errstate(invalid="ignore", over="ignore"):
        span = high - low
        if span == 0:
            counts = np.zeros(bucket_count, np.float64)
            counts[-1] = data.size
            edges = np.full(bucket_count, high)
            return np.stack([edges, edges, counts], axis=1)
        positions = np.floor((data - low) / (span / bucket_count))
        # TensorFlow's cast to int32 makes a NaN position (NaN data, inf / inf) a negative
        # index, which its one-hot count drops.
        positions = positions[np.isfinite(positions)]
        indices = np.minimum(positions.astype(np.int64), bucket_count - 1)
        counts = np.bincount(indices, minlength=bucket_count).astype(np.float64)
        edges = np.linspace(low, high, bucket_count + 1)
    edges[0], edges[-1] = low, high  # TensorFlow pins both ends (inf * 0 would make a NaN)
    return np.stack([edges[:-1], edges[1:], counts], axis=1)


@_runs_when_called
def histogram(name, data, step=None, buckets=None, description=None):
    """Writes a histogram of `data` (any shape) for the Histograms and Distributions
    dashboards, bucketed as histogram_buckets describes.

    >>> histogram_buckets([0.0, 1.0, 1.0, 3.0], 3).tolist()
    [[0.0, 1.0, 1.0], [1.0, 2.0, 2.0], [2.0, 3.0, 1.0]]
    """
    array = _to_numpy(data)
    if _is_string(array) or array.dtype.kind not in "biuf":
        # TensorFlow fails the same way casting such data to float64.
        raise errors.UnimplementedError(
            f"histogram: expected real numbers for summary {name!r}, received dtype "
            f"{array.dtype}", "histogram")
    return _write_value(_scoped_tag(name), lambda: tensor_proto(histogram_buckets(array, buckets)),
                        step, _metadata("histograms", description))


def _image_uint8(array):
    """tf.image.convert_image_dtype(array, tf.uint8, saturate=True)."""
    kind = array.dtype.kind
    if kind == "f":
        # In the pixels' own precision, as TensorFlow scales them (float16 rounds).
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = np.nan_to_num(array * array.dtype.type(255.5), nan=0.0)
        return np.trunc(np.clip(scaled, 0, 255)).astype(np.uint8)
    if kind not in "iu":
        raise errors.InvalidArgumentError(
            f"image: expected floating-point or integer pixels, received dtype {array.dtype}",
            "image")
    # Integers keep their fraction of the type's range: a power-of-two rescale (floor
    # division), negatives clamped to 0.
    bits = array.dtype.itemsize * 8 - (1 if kind == "i" else 0)
    if bits > 8:
        return np.clip((array >> (bits - 8)).astype(np.int64), 0, 255).astype(np.uint8)
    return (np.clip(array.astype(np.int64), 0, 255) << (8 - bits)).astype(np.uint8)


def _check_max_outputs(op, max_outputs):
    if int(max_outputs) < 0:
        raise errors.InvalidArgumentError(
            f"{op}: max_outputs must be non-negative, received {max_outputs}", op)


@_runs_when_called
def image(name, data, step=None, max_outputs=3, description=None):
    """Writes up to `max_outputs` images of `data` ([k, h, w, c], c in 1..4; floats in
    [0, 1] or integers) as PNGs for the Images dashboard."""
    array = _to_numpy(data)
    if array.ndim != 4 or array.shape[-1] not in (1, 2, 3, 4):
        raise errors.InvalidArgumentError(
            f"image: expected data of shape [k, height, width, channels] with 1 to 4 "
            f"channels for summary {name!r}, received shape {array.shape}", "image")
    _check_max_outputs("image", max_outputs)

    def make_tensor():
        images = _image_uint8(array)
        encoded = [encode_png(img) for img in images[:int(max_outputs)]]
        header = [str(array.shape[2]).encode(), str(array.shape[1]).encode()]
        return tensor_proto(np.array(header + encoded, dtype=object))

    return _write_value(_scoped_tag(name), make_tensor, step, _metadata("images", description))


@_runs_when_called
def text(name, data, step=None, description=None):
    """Writes a string tensor (any shape; Markdown) for the Text dashboard."""
    array = _to_numpy(data)
    if not _is_string(array):
        raise errors.InvalidArgumentError(
            f"text: expected string data for summary {name!r}, received dtype {array.dtype}",
            "text")
    return _write_value(_scoped_tag(name), lambda: tensor_proto(array), step,
                        _metadata("text", description))


@_runs_when_called
def audio(name, data, sample_rate, step=None, max_outputs=3, encoding=None, description=None):
    """Writes up to `max_outputs` clips of `data` ([k, frames, channels], floats in [-1, 1])
    as WAV files for the Audio dashboard, each with an empty label, as TensorBoard does."""
    if encoding is None:
        encoding = "wav"
    if encoding != "wav":
        raise ValueError(f"Unknown encoding: {encoding!r}")
    array = _to_numpy(data)
    if array.ndim != 3:
        raise errors.InvalidArgumentError(
            f"audio: expected data of shape [k, frames, channels] for summary {name!r}, "
            f"received shape {array.shape}", "audio")
    if array.dtype.kind != "f":
        raise errors.InvalidArgumentError(
            f"audio: expected floating-point samples in [-1, 1] for summary {name!r}, "
            f"received dtype {array.dtype}", "audio")
    _check_max_outputs("audio", max_outputs)
    rate = int(_to_numpy(sample_rate))

    def make_tensor():
        from tensorflux.io.audio import wav_bytes

        clips = [wav_bytes(clip, rate) for clip in array[:int(max_outputs)]]
        pairs = np.empty((len(clips), 2), dtype=object)
        pairs[:, 0] = clips
        pairs[:, 1] = b""
        return tensor_proto(pairs)

    # AudioPluginData{version: 0, encoding: WAV (11)}
    return _write_value(_scoped_tag(name), make_tensor, step,
                        _metadata("audio", description, content=b"\x10\x0b"))


def _graph_def_bytes(graph_data):
    if isinstance(graph_data, (bytes, bytearray)):
        return bytes(graph_data)
    if isinstance(graph_data, dict):
        return graph_pb.encode_graph_def(graph_data)
    if type(graph_data).__name__ == "GraphDef" and hasattr(graph_data, "SerializeToString"):
        return graph_data.SerializeToString()  # ours (graph.as_graph_def()) or protobuf's
    graph_object = getattr(graph_data, "graph", graph_data)  # a ConcreteFunction's graph
    if hasattr(graph_object, "to_graph_def"):
        return graph_object.to_graph_def()
    raise TypeError(f"graph: expected a tensorflux Graph, a ConcreteFunction, a GraphDef "
                    f"(message, dict or serialized bytes), received {type(graph_data).__name__}")


def graph(graph_data):
    """Writes a graph (a Graph, ConcreteFunction, GraphDef dict or its bytes) for the Graphs
    dashboard, at step 0 as TensorFlow does."""
    if not _writer.should_record_summaries():
        return False
    data = _graph_def_bytes(graph_data)
    _writer.current_writer().add_event({"wall_time": _wall_time(), "step": 0,
                                        "graph_def": data})
    return True
