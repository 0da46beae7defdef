"""tf.print: printing tensor values when ops run (eagerly at once, in graphs at every call)."""

from tensorflux import errors
from tensorflux.ops._core import as_operand
from tensorflux.primitive import Primitive
from tensorflux.tensor import _TensorLike

__all__ = ["print"]

# print: writes its inputs, formatted as TensorFlow does, to a stream; no outputs. Stateful,
# so a traced function prints at each call (never at trace time) and passes keep the node.
_print = Primitive("print", kernel="print_tensors", shape_rule=lambda *inputs, **attrs: (),
                   multiple_results=True, stateful=True)


def print(*inputs, output_stream=None, sep=" ", end="\n", summarize=3, name=None):  # noqa: A001
    """Prints tensors and Python values when the op runs (stderr by default).

    Tensors print like TensorFlow's ([1 2 3], rows on new lines, only `summarize` items at
    each end of a long dimension). In a tf.function the print happens at every call.

    >>> import sys
    >>> import tensorflux as tf
    >>> from tensorflux.ops.logging import print as tf_print
    >>> tf_print("x:", tf.constant([1, 2, 3]), output_stream=sys.stdout)
    x: [1 2 3]
    """
    output_stream = _stream(output_stream)
    if summarize is None:
        summarize = 3
    tensors = []
    template = tuple(tuple(_parts(x, tensors, top=True)) for x in inputs)
    _print.bind(*tensors, template=template, output_stream=output_stream, sep=str(sep),
                end=str(end), summarize=int(summarize))


def _stream(output_stream):
    if output_stream is None:
        return None  # sys.stderr as it is when the print runs (test capture replaces it)
    if isinstance(output_stream, str):
        if not output_stream.startswith("file://"):
            raise errors.InvalidArgumentError(
                f"print: output_stream must be a stream (sys.stdout, sys.stderr) or a "
                f"'file://' path, received {output_stream!r}", "print")
        return output_stream
    if not callable(getattr(output_stream, "write", None)):
        raise errors.InvalidArgumentError(
            f"print: output_stream must have a write method, received {output_stream!r}",
            "print")
    return output_stream


def _parts(value, tensors, top=False):
    """The text pieces of one argument: strings, and ints indexing `tensors`."""
    if isinstance(value, _TensorLike):
        tensors.append(value)
        return [len(tensors) - 1]
    if type(value).__name__ == "ndarray" and hasattr(value, "dtype"):
        tensors.append(as_operand("print", value))
        return [len(tensors) - 1]
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        opening, closing = ("[", "]") if isinstance(value, list) else ("(", ")")
        parts = [opening]
        for i, item in enumerate(value):
            parts += ([", "] if i else []) + _parts(item, tensors)
        if isinstance(value, tuple) and len(value) == 1:
            parts.append(",")
        return parts + [closing]
    if isinstance(value, dict):
        parts = ["{"]
        for i, key in enumerate(value):
            parts += ([", "] if i else []) + [f"{key!r}: "] + _parts(value[key], tensors)
        return parts + ["}"]
    return [value if top and isinstance(value, str) else
            repr(value) if isinstance(value, str) else str(value)]
