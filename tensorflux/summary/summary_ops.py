"""The summary ops (tf.summary.scalar, histogram, image, text, graph, write): each turns its
data into the tensor summary TensorFlow 2 writes, tagged with the TensorBoard plugin that
displays it, and queues it on the default writer.

Without a default writer (or outside record_if's condition) an op writes nothing and
returns False, as in TensorFlow; the work of bucketing or PNG encoding is then skipped.
"""

import time

import numpy as np

from tensorflux import errors
from tensorflux.proto import graph_pb
from tensorflux.proto.wire import decode
from tensorflux.summary import writer as _writer
from tensorflux.summary.event_pb import SUMMARY_METADATA
from tensorflux.summary.png import encode_png

__all__ = ["graph", "histogram", "image", "scalar", "tensor_proto", "text", "write"]

DEFAULT_BUCKET_COUNT = 30  # tensorboard/plugins/histogram/summary_v2.py


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


def write(tag, tensor, step=None, metadata=None, name=None):
    """Writes `tensor` (an array-like or a callable returning one) under `tag` at `step`.
    `metadata` is a SummaryMetadata dict, its serialized bytes, or None."""
    if isinstance(metadata, (bytes, bytearray)):
        metadata = decode(SUMMARY_METADATA, bytes(metadata))

    def make_tensor():
        return tensor_proto(_to_numpy(tensor() if callable(tensor) else tensor))

    return _write_value(tag, make_tensor, step, metadata)


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
    return _write_value(name, lambda: tensor_proto(array.astype(np.float32)), step,
                        _metadata("scalars", description))


def histogram_buckets(data, bucket_count=None):
    """TensorFlow 2's histogram of `data` as a float64 [k, 3] array of (left edge, right
    edge, count): `bucket_count` (default 30) equal-width buckets from min to max, the last
    closed; all edges equal to the value when every element is the same; all zeros when
    `data` is empty; k = 0 when bucket_count <= 0."""
    bucket_count = DEFAULT_BUCKET_COUNT if bucket_count is None else max(0, int(bucket_count))
    data = _to_numpy(data).reshape(-1).astype(np.float64)
    if data.size == 0 or bucket_count == 0:
        return np.zeros((bucket_count, 3), np.float64)
    low, high = data.min(), data.max()
    if high - low == 0:
        counts = np.zeros(bucket_count, np.float64)
        counts[-1] = data.size
        edges = np.full(bucket_count, high)
        return np.stack([edges, edges, counts], axis=1)
    width = (high - low) / bucket_count
    indices = np.minimum(np.floor((data - low) / width).astype(np.int64), bucket_count - 1)
    counts = np.bincount(indices, minlength=bucket_count).astype(np.float64)
    edges = np.linspace(low, high, bucket_count + 1)
    edges[-1] = high  # TensorFlow pins the last edge to the maximum
    return np.stack([edges[:-1], edges[1:], counts], axis=1)


def histogram(name, data, step=None, buckets=None, description=None):
    """Writes a histogram of `data` (any shape) for the Histograms and Distributions
    dashboards, bucketed as histogram_buckets describes.

    >>> histogram_buckets([0.0, 1.0, 1.0, 3.0], 3).tolist()
    [[0.0, 1.0, 1.0], [1.0, 2.0, 2.0], [2.0, 3.0, 1.0]]
    """
    return _write_value(name, lambda: tensor_proto(histogram_buckets(data, buckets)), step,
                        _metadata("histograms", description))


def _image_uint8(array):
    """tf.image.convert_image_dtype(array, tf.uint8, saturate=True)."""
    kind = array.dtype.kind
    if kind == "f":
        scaled = np.nan_to_num(array.astype(np.float64) * 255.5, nan=0.0)
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


def image(name, data, step=None, max_outputs=3, description=None):
    """Writes up to `max_outputs` images of `data` ([k, h, w, c], c in 1..4; floats in
    [0, 1] or integers) as PNGs for the Images dashboard."""
    array = _to_numpy(data)
    if array.ndim != 4 or array.shape[-1] not in (1, 2, 3, 4):
        raise errors.InvalidArgumentError(
            f"image: expected data of shape [k, height, width, channels] with 1 to 4 "
            f"channels for summary {name!r}, received shape {array.shape}", "image")
    if int(max_outputs) < 0:
        raise errors.InvalidArgumentError(
            f"image: max_outputs must be non-negative, received {max_outputs}", "image")

    def make_tensor():
        images = _image_uint8(array)
        encoded = [encode_png(img) for img in images[:int(max_outputs)]]
        header = [str(array.shape[2]).encode(), str(array.shape[1]).encode()]
        return tensor_proto(np.array(header + encoded, dtype=object))

    return _write_value(name, make_tensor, step, _metadata("images", description))


def text(name, data, step=None, description=None):
    """Writes a string tensor (any shape; Markdown) for the Text dashboard."""
    array = _to_numpy(data)
    if not _is_string(array):
        raise errors.InvalidArgumentError(
            f"text: expected string data for summary {name!r}, received dtype {array.dtype}",
            "text")
    return _write_value(name, lambda: tensor_proto(array), step, _metadata("text", description))


def _graph_def_bytes(graph_data):
    if isinstance(graph_data, (bytes, bytearray)):
        return bytes(graph_data)
    if isinstance(graph_data, dict):
        return graph_pb.encode_graph_def(graph_data)
    graph_object = getattr(graph_data, "graph", graph_data)  # a ConcreteFunction's graph
    if hasattr(graph_object, "to_graph_def"):
        return graph_object.to_graph_def()
    raise TypeError(f"graph: expected a tensorflux Graph, a ConcreteFunction, a GraphDef dict "
                    f"or serialized GraphDef bytes, received {type(graph_data).__name__}")


def graph(graph_data):
    """Writes a graph (a Graph, ConcreteFunction, GraphDef dict or its bytes) for the Graphs
    dashboard, at step 0 as TensorFlow does."""
    if not _writer.should_record_summaries():
        return False
    data = _graph_def_bytes(graph_data)
    _writer.current_writer().add_event({"wall_time": _wall_time(), "step": 0,
                                        "graph_def": data})
    return True
