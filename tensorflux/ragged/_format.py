"""RaggedTensor.numpy() and the text of an eager RaggedTensor, as TensorFlow prints it.

numpy() nests host arrays: a ragged dimension is a 1-D object array of rows, a dimension
whose rows all have one length a dimension of an ordinary array. The text is NumPy's layout
of that value (75-column lines, hanging indents, "..." past 1000 elements) with elements
separated by ", " and each scalar written as str() writes it.
"""

__all__ = ["host_array", "format_array", "ragged_text"]

_LINE_WIDTH = 75
_THRESHOLD = 1000  # arrays larger than this are summarized, showing _EDGE items per end
_EDGE = 3


def host_array(flat_values, nested_row_splits):
    """The numpy() value of a RaggedTensor from its host flat values and row splits."""
    value = flat_values
    for splits in reversed(nested_row_splits):
        bounds = splits.tolist()
        lengths = [b - a for a, b in zip(bounds[:-1], bounds[1:])]
        if not lengths:
            return flat_values.__class__((0, 0) + value.shape[1:], dtype=flat_values.dtype)
        if all(n == lengths[0] for n in lengths):
            value = value.reshape((len(lengths), lengths[0]) + value.shape[1:])
            continue
        # An object array of rows, made with the host array type (tensorflux code outside
        # backends/ never imports NumPy).
        rows = flat_values.__class__((len(lengths),), dtype=object)
        for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
            rows[i] = value[a:b]
        value = rows
    return value


def format_array(value):
    """The text of a host value: arrays as NumPy lays them out with ", " separators."""
    if getattr(value, "ndim", 0) == 0:
        return str(value)
    if value.size == 0:
        return repr(value.tolist())
    summarize = value.size > _THRESHOLD
    return _block(value, (), " ", _LINE_WIDTH, summarize)


def _shown(length, summarize):
    """The positions shown along an axis: all, or both ends around a None for "..."."""
    if summarize and length > 2 * _EDGE:
        return list(range(_EDGE)) + [None] + list(range(length - _EDGE, length))
    return list(range(length))


def _block(value, index, indent, width, summarize):
    axes_left = value.ndim - len(index)
    positions = _shown(value.shape[len(index)], summarize)
    if axes_left == 1:
        text, line = "", indent
        for k, i in enumerate(positions):
            word = "..." if i is None else format_array(value[index + (i,)])
            # (room is kept for the "," or "]" that follows each word)
            text, line = _extend(text, line, word, width - 1, indent)
            if k < len(positions) - 1:
                line += ", "
        text += line
    else:
        separator = "," + "\n" * (axes_left - 1)
        text = separator.join(
            indent + ("..." if i is None else
                      _block(value, index + (i,), indent + " ", width - 1, summarize))
            for i in positions)
    return "[" + text[len(indent):] + "]"


def _extend(text, line, word, width, indent):
    """Appends `word` (maybe several lines) to the current line, wrapping to a new line when
    it would pass `width`; returns (finished text, current line)."""
    lines = word.splitlines()
    longest = max(len(part) for part in lines)
    if len(line) + longest > width and len(line) > len(indent):
        text += line.rstrip() + "\n"
        line = indent
    if len(lines) == 1:
        return text, line + word
    hang = " " * len(line)
    line += lines[0]
    for part in lines[1:]:
        text += line.rstrip() + "\n"
        line = hang + part
    return text, line + " " * (longest - len(lines[-1]))


# -- tf.strings.format's text of a RaggedTensor: nested "[a, b]" rows, each level cut to
# `summarize` items per end around "...", elements as tf.strings.as_string writes them
# (strings single-quoted, with ' and \ escaped).

def ragged_text(rt, summarize=3):
    """A scalar string tensor: `rt` as tf.strings.format prints it.

    >>> import tensorflux as tf
    >>> from tensorflux.ragged._format import ragged_text
    >>> ragged_text(tf.ragged.constant([[1, 2, 3], [], [4]])).numpy()
    b'[[1, 2, 3], [], [4]]'
    """
    import tensorflux as tf
    from tensorflux import dtypes

    if summarize is None:
        summarize = -1
    if not isinstance(summarize, int) or isinstance(summarize, bool) or (
            summarize != -1 and summarize <= 0):
        raise ValueError(f"Expected summarize to be -1 or a positive int, got {summarize!r}")
    element = _element_text(rt.dtype)

    def run(flat, *splits):
        rows = _texts(flat.tolist(), element)
        for bounds in reversed(splits):
            bounds = bounds.tolist()
            rows = [rows[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        return _nested(rows, summarize).encode("latin-1")

    text = tf.numpy_function(run, [rt.flat_values, *rt.nested_row_splits], Tout=dtypes.string)
    return tf.reshape(text, [])


def _element_text(dtype):
    if dtype.is_bool:
        return lambda v: "true" if v else "false"
    if dtype.is_complex:
        return lambda v: f"({v.real:f},{v.imag:f})"
    if dtype.is_floating:
        return lambda v: f"{v:f}"
    if dtype.is_integer:
        return lambda v: str(int(v))

    def string(v):  # (bytes read as latin-1, so that any byte passes unchanged)
        v = v.decode("latin-1") if isinstance(v, bytes) else str(v)
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return string


def _texts(items, element):
    if isinstance(items, list):
        return [_texts(item, element) for item in items]
    return element(items)


def _nested(value, summarize):
    if not isinstance(value, list):
        return value
    pieces = [_nested(item, summarize) for item in value]
    if summarize != -1 and len(pieces) > 2 * summarize:
        pieces = pieces[:summarize] + ["..."] + pieces[-summarize:]
    return "[" + ", ".join(pieces) + "]"
