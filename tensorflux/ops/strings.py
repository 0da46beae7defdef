"""String ops (tf.strings subset) for text preprocessing, and the index lookup of vocabularies.

`split`, and `unicode_split`/`unicode_decode`/`bytes_split` of a vector, return RaggedTensors
as TensorFlow does; the elementwise ops map a RaggedTensor's flat values, and `reduce_join`
and `ngrams` take one too. `split_padded` and `ngrams_padded` work on a dense tensor padded
with b"" plus the row lengths (int64), the form TextVectorization uses internally. The strings
are bytes in NumPy object arrays; lower is ASCII-only (tf.strings.lower with encoding="");
regex_replace uses Python's `re`, on bytes or, where a pattern needs whole characters
(non-ASCII, `.`, negated classes), on the decoded UTF-8 text as RE2 does.
"""

import builtins
import codecs
import itertools

from tensorflux import dtypes, errors
from tensorflux.composite_tensor import CompositeTensor
from tensorflux.ops._core import as_operand, aval
from tensorflux.primitive import Primitive
from tensorflux.tensor import TensorShape

__all__ = ["lower", "upper", "regex_replace", "split", "split_padded", "ngrams",
           "ngrams_padded", "lookup_index"]


def _is_ragged(x):
    return hasattr(x, "flat_values") and hasattr(x, "with_flat_values")


def _ragged_elementwise(fn):
    """Lets an elementwise string op take a RaggedTensor (its first argument), as
    TensorFlow's dispatch does: the op maps the flat values, the row partitions stay."""
    import functools

    first = fn.__code__.co_varnames[0]

    @functools.wraps(fn)
    def op(*args, **kwargs):
        if not args and first in kwargs:  # (the tensor by TF's name: input=...)
            args = (kwargs.pop(first),)
        if args and _is_ragged(args[0]):
            return args[0].with_flat_values(fn(args[0].flat_values, *args[1:], **kwargs))
        return fn(*args, **kwargs)
    return op


def _strings(op, x):
    x = as_operand(op, x)
    if x.dtype is not dtypes.string:
        raise errors.InvalidArgumentError(
            f"{op}: expected a string tensor, received {x.dtype.name} with shape "
            f"{tuple(x.shape)}", op)
    return x


def _same_rule(x, **attrs):
    return aval(x.shape, x.dtype)


# string_case: ASCII lower/upper case of each string; strings carry no gradient.
_case = Primitive("string_case", shape_rule=_same_rule)
# string_regex_replace: re.sub on each string (all matches, or the first).
_regex = Primitive("string_regex_replace", shape_rule=_same_rule)


@_ragged_elementwise
def lower(input, encoding="", name=None):  # noqa: A002 - TensorFlow's argument name
    """Lowercase of each string: ASCII letters only, or every letter with encoding="utf-8"
    (Unicode's full case mapping, as TensorFlow's ICU).

    >>> import tensorflux as tf
    >>> from tensorflux.ops import strings
    >>> strings.lower(["Hello World"]).numpy().tolist()
    [b'hello world']
    >>> strings.lower(["ÉCOLE"], encoding="utf-8").numpy()[0].decode()
    'école'
    """
    return _change_case("lower", input, encoding, upper=False)


@_ragged_elementwise
def upper(input, encoding="", name=None):  # noqa: A002
    """Uppercase of each string: ASCII letters only, or every letter with encoding="utf-8".

    >>> from tensorflux.ops import strings
    >>> strings.upper(["abc"]).numpy().tolist()
    [b'ABC']
    """
    return _change_case("upper", input, encoding, upper=True)


def _change_case(op, input, encoding, upper):  # noqa: A002
    x = _strings(op, input)
    if not encoding:
        return _case.bind(x, upper=upper)
    if encoding.lower().replace("-", "") != "utf8":
        raise errors.InvalidArgumentError(
            f"{op}: encoding must be '' or 'utf-8', received {encoding!r}", op)

    def change(value):
        text = value.decode("utf-8", "replace")
        return (text.upper() if upper else text.lower()).encode("utf-8")

    return _elementwise(op, x, change, dtypes.string)


def _as_bytes(value):
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


@_ragged_elementwise
def regex_replace(input, pattern, rewrite, replace_global=True, name=None):  # noqa: A002
    """Replaces the matches of `pattern` in each string by `rewrite` (\\1 refers to groups).

    >>> from tensorflux.ops import strings
    >>> strings.regex_replace(["a.b,c"], r"[.,]", "").numpy().tolist()
    [b'abc']
    """
    x = _strings("regex_replace", input)
    pattern, rewrite = _as_bytes(pattern), _as_bytes(rewrite)
    compiled = _utf8_regex("regex_replace", pattern)
    if compiled is None:
        return _regex.bind(x, pattern=pattern, rewrite=rewrite,
                           replace_global=bool(replace_global))
    text = rewrite.decode("utf-8", "surrogateescape")
    count = 0 if replace_global else 1
    return _elementwise("regex_replace", x, lambda value: _encode(
        compiled.sub(text, _decode(value), count=count)), dtypes.string)


def _utf8_regex(op, pattern):
    """`pattern` compiled for matching decoded UTF-8 text, or None when matching bytes gives
    the same result. RE2 matches whole UTF-8 characters: a non-ASCII character (the "¿" of a
    punctuation class, say), an unescaped `.` outside a class, a negated class and \\W, \\S,
    \\D each take one character, where bytewise matching would take one byte."""
    if pattern.isascii() and not _character_wide(pattern.decode("ascii")):
        _compile(op, pattern)  # an invalid pattern fails here, not inside the kernel
        return None
    # re.ASCII keeps \\w, \\d, \\s and \\b to ASCII, as in RE2.
    return _compile(op, pattern.decode("utf-8", "surrogateescape"), ascii_classes=True)


def _compile(op, pattern, ascii_classes=False):
    import re

    try:
        return re.compile(pattern, re.ASCII if ascii_classes else 0)
    except re.error as error:
        raise errors.InvalidArgumentError(
            f"{op}: invalid pattern {pattern!r}: {error}", op) from None


def _character_wide(pattern):
    """Whether an ASCII pattern holds a piece that matches one character of any width."""
    in_class = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if pattern[i + 1:i + 2] in ("W", "S", "D"):
                return True
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            if pattern[i + 1:i + 2] == "^":
                return True
            in_class = True
            i += 2 if pattern[i + 1:i + 2] == "]" else 1  # a leading "]" is a literal
            continue
        elif c == ".":
            return True
        i += 1
    return False


def _decode(value):
    return value.decode("utf-8", "surrogateescape")


def _encode(text):
    return text.encode("utf-8", "surrogateescape")


def _split_rule(x, **attrs):
    return (aval(TensorShape(list(x.shape) + [None]), x.dtype),
            aval(x.shape, dtypes.int64))


# string_split: tokens of each string, padded with b"" to the longest row, and row lengths.
_split = Primitive("string_split", shape_rule=_split_rule, multiple_results=True)


def split(input, sep=None, maxsplit=-1, name=None):  # noqa: A002
    """The tokens of each string: a 1-D tensor for a scalar, a RaggedTensor [n, None] for a
    vector, [n, m, None] for a matrix (tf.strings.split).

    sep=None splits on runs of whitespace and drops leading/trailing whitespace; with `sep`,
    every occurrence splits (empty tokens kept). maxsplit >= 0 caps the splits per string.

    >>> import tensorflux as tf
    >>> tf.strings.split(["a b", " c "]).to_list()
    [[b'a', b'b'], [b'c']]
    """
    if _is_ragged(input):  # (TF's dispatch: each string's tokens, in the input's rows)
        return input.with_flat_values(split(input.flat_values, sep, maxsplit))
    x = _strings("split", input)
    if x.shape.rank == 2:  # (a Keras string Input of shape (1,), say)
        from tensorflux.ops.array import reshape, shape
        from tensorflux.ragged import RaggedTensor

        rows = split(reshape(x, [-1]), sep, maxsplit)
        return RaggedTensor.from_uniform_row_length(rows, shape(x, out_type="int64")[1],
                                                    nrows=shape(x, out_type="int64")[0])
    tokens, lengths = split_padded(x, sep, maxsplit)
    if tokens.shape.rank == 1:
        return tokens
    from tensorflux.ragged import RaggedTensor  # (above ops/: loaded only when used)

    return RaggedTensor.from_tensor(tokens, lengths=lengths)


def split_padded(input, sep=None, maxsplit=-1, name=None):  # noqa: A002
    """`split` as a dense tensor: (tokens padded with b"" to the longest row, row lengths).

    >>> from tensorflux.ops import strings
    >>> tokens, lengths = strings.split_padded(["a b", " c "])
    >>> tokens.numpy().tolist(), lengths.numpy().tolist()
    ([[b'a', b'b'], [b'c', b'']], [2, 1])
    """
    x = _strings("split", input)
    if x.shape.rank not in (0, 1):
        raise errors.InvalidArgumentError(
            f"split: expected a string tensor of rank 0 or 1, received shape "
            f"{tuple(x.shape)}", "split")
    # (an empty separator splits on whitespace, as None does, in TF)
    return _split.bind(x, sep=_as_bytes(sep) if sep else None, maxsplit=int(maxsplit))


def _ngrams_rule(tokens, lengths, **attrs):
    return (aval(TensorShape(list(tokens.shape[:-1]) + [None]), tokens.dtype),
            aval(lengths.shape, dtypes.int64))


# string_ngrams: the ngrams of each padded row (widths in order, as tf.strings.ngrams).
_ngrams = Primitive("string_ngrams", shape_rule=_ngrams_rule, multiple_results=True)


def ngrams_padded(tokens, lengths, ngram_width, separator=" ", name=None):
    """The ngrams of padded token rows (as from `split_padded`): (ngrams padded with b"",
    lengths).

    For each width in `ngram_width` (an int or a tuple), all the row's ngrams of that width
    joined by `separator`, widths in the given order (tf.strings.ngrams' order).

    >>> from tensorflux.ops import strings
    >>> tokens, lengths = strings.split_padded(["a b c"])
    >>> strings.ngrams_padded(tokens, lengths, (1, 2))[0].numpy().tolist()
    [[b'a', b'b', b'c', b'a b', b'b c']]
    """
    tokens = _strings("ngrams", tokens)
    lengths = as_operand("ngrams", lengths)
    widths = (ngram_width,) if isinstance(ngram_width, int) else tuple(ngram_width)
    if not widths or any(int(w) <= 0 for w in widths):
        raise errors.InvalidArgumentError(
            f"ngrams: ngram widths must be positive ints, received {ngram_width!r}", "ngrams")
    return _ngrams.bind(tokens, lengths, widths=tuple(int(w) for w in widths),
                        separator=_as_bytes(separator))


def _ngram_widths(ngram_width):
    widths = (ngram_width,) if isinstance(ngram_width, int) else tuple(ngram_width)
    if not widths or any(int(w) <= 0 for w in widths):
        raise ValueError(f"All ngram_widths must be greater than 0. Got {ngram_width}")
    return tuple(int(w) for w in widths)


def _row_ngrams(row, widths, sep, left, right, padding_width, preserve_short):
    """tf.strings.ngrams of one row of tokens (bytes): each width's ngrams in turn, each
    width padded by min(padding_width, width - 1) pad values (width - 1 when -1)."""
    grams = []
    for width in widths:
        pad = min(width - 1 if padding_width < 0 else padding_width, width - 1)
        padded = [left] * pad + row + [right] * pad
        grams.extend(sep.join(padded[i:i + width])
                     for i in range(builtins_len(padded) - width + 1))
    if preserve_short and not grams and row:
        pad = builtins.max(padding_width, 0)
        grams.append(sep.join([left] * pad + row + [right] * pad))
    return grams


def ngrams(data, ngram_width, separator=" ", pad_values=None, padding_width=None,
           preserve_short_sequences=False, name=None):
    """tf.strings.ngrams: the ngrams of the strings along the last axis of `data` (a dense
    tensor, a dense result) or of each row of a RaggedTensor (a RaggedTensor), for each
    width of `ngram_width` in turn; pad_values (one string, or a (left, right) pair) pad
    each side by padding_width (default width - 1) values.

    >>> import tensorflux as tf
    >>> tf.strings.ngrams(["a", "b", "c"], 2).numpy().tolist()
    [b'a b', b'b c']
    >>> tf.strings.ngrams(tf.strings.split(["a b c", "d"]), 2, pad_values="#").to_list()
    [[b'# a', b'a b', b'b c', b'c #'], [b'# d', b'd #']]
    """
    from tensorflux.control import numpy_function
    from tensorflux.ops.array import concat, reshape, shape

    widths = _ngram_widths(ngram_width)
    if pad_values is None:
        if padding_width is not None:
            raise ValueError("pad_values must be provided if padding_width is set.")
        left = right = b""
        padding_width = 0
    else:
        if isinstance(pad_values, (tuple, list)):
            if builtins_len(pad_values) != 2:
                raise ValueError("pad_values must be a string, tuple or list of 2 strings. "
                                 f"Got {pad_values!r}")
            left, right = (_as_bytes(v) for v in pad_values)
        else:
            left = right = _as_bytes(pad_values)
        if padding_width is None:
            padding_width = -1
        elif int(padding_width) <= 0:
            raise ValueError(f"padding_width must be greater than 0. Got {padding_width}")
    options = (widths, _as_bytes(separator), left, right, int(padding_width),
               bool(preserve_short_sequences))
    if _is_ragged(data):
        if data.ragged_rank != 1:
            raise errors.UnimplementedError(
                f"ngrams: RaggedTensors of ragged_rank 1 are supported, received ragged_rank "
                f"{data.ragged_rank}", "ngrams")
        from tensorflux.ragged import RaggedTensor

        def rows(values, splits):
            values = values.tolist()
            grams = [_row_ngrams(values[a:b], *options) for a, b in zip(splits, splits[1:])]
            lengths = [builtins_len(g) for g in grams]
            return ([g for row in grams for g in row],
                    [0] + list(itertools.accumulate(lengths)))

        flat, splits = numpy_function(rows, [_strings("ngrams", data.values), data.row_splits],
                                      Tout=[dtypes.string, dtypes.int64])
        return RaggedTensor.from_row_splits(reshape(flat, [-1]), reshape(splits, [-1]),
                                            validate=False)
    x = _strings("ngrams", data)
    if x.shape.rank == 0:
        raise ValueError("ngrams: data must be of rank >= 1 (a row of tokens, or a batch), "
                         "received a scalar string; split it first, e.g. with "
                         "tf.strings.split")
    width = x.shape[-1]

    def dense(values):
        values = values.reshape(-1, values.shape[-1]).tolist()
        return [[g for row in values for g in _row_ngrams(row, *options)]]

    flat = numpy_function(dense, [x], Tout=[dtypes.string])[0]
    if width is not None:  # every row has the same number of ngrams: a static width
        count = builtins_len(_row_ngrams([b""] * width, *options))
        if x.shape.is_fully_defined():
            return reshape(flat, list(x.shape[:-1]) + [count])
        return reshape(flat, concat([shape(x)[:-1], [count]], 0))
    return reshape(flat, concat([shape(x)[:-1], [-1]], 0))


def _lookup_rule(x, keys, **attrs):
    return aval(x.shape, dtypes.int64)


# lookup_index: the position of each element of x in the 1-D `keys` (-1 when absent).
_lookup = Primitive("lookup_index", shape_rule=_lookup_rule)


def lookup_index(x, keys, name=None):
    """The int64 index of each element of `x` in the 1-D tensor `keys`, -1 where absent
    (a static hash table lookup; `keys` and `x` share a dtype, strings or integers).

    >>> from tensorflux.ops import strings
    >>> strings.lookup_index(["b", "z"], ["a", "b"]).numpy().tolist()
    [1, -1]
    """
    x = as_operand("lookup_index", x)
    keys = as_operand("lookup_index", keys)
    if keys.shape.rank != 1:
        raise errors.InvalidArgumentError(
            f"lookup_index: keys must be 1-D, received shape {tuple(keys.shape)}",
            "lookup_index")
    if (x.dtype is dtypes.string) != (keys.dtype is dtypes.string):
        raise errors.InvalidArgumentError(
            f"lookup_index: x ({x.dtype.name}) and keys ({keys.dtype.name}) must both be "
            "strings or both numbers", "lookup_index")
    return _lookup.bind(x, keys)


# ---------------------------------------------------------------- host-computed string ops
# These run as host callbacks (numpy_function) on each element's bytes: eager and inside a
# tf.function alike; they have no gradient, and traced results take the input's shape.
__all__ += ["length", "join", "reduce_join", "to_number", "as_string", "substr", "strip",
            "regex_full_match", "bytes_split", "unicode_split"]


def _flat(values):
    """The elements of a host value as a flat list (a scalar string arrives as bytes)."""
    if isinstance(values, (bytes, str)):
        return [_as_bytes(values)]
    return values.reshape(-1).tolist()


def _elementwise(op, x, fn, out_dtype):
    from tensorflux.control import numpy_function
    from tensorflux.ops.array import reshape, shape

    def run(values):
        return [[fn(value) for value in _flat(values)]]

    flat = numpy_function(run, [x], Tout=[out_dtype])[0]
    return reshape(flat, shape(x))


@_ragged_elementwise
def length(input, unit="BYTE", name=None):  # noqa: A002
    """The length of each string in bytes (unit="BYTE") or code points ("UTF8_CHAR").

    >>> from tensorflux.ops import strings
    >>> strings.length(["héllo"], unit="UTF8_CHAR").numpy().tolist()
    [5]
    """
    if unit not in ("BYTE", "UTF8_CHAR"):
        raise errors.InvalidArgumentError(
            f"length: unit must be 'BYTE' or 'UTF8_CHAR', received {unit!r}", "length")
    x = _strings("length", input)
    if unit == "BYTE":
        return _elementwise("length", x, len, dtypes.int32)
    return _elementwise("length", x, lambda b: len(b.decode("utf-8", "replace")), dtypes.int32)


def join(inputs, separator="", name=None):
    """Elementwise concatenation of string tensors (broadcast), with `separator`.

    >>> from tensorflux.ops import strings
    >>> strings.join([["a", "b"], "x"], separator="-").numpy().tolist()
    [b'a-x', b'b-x']
    """
    from tensorflux.ops.array import broadcast_to, stack

    if any(_is_ragged(x) for x in inputs):  # (TF's dispatch: over the flat values)
        import functools

        from tensorflux.ragged.ops import elementwise

        return functools.reduce(lambda a, b: elementwise(
            "join", lambda x, y: join([x, y], separator), a, b), inputs)
    parts = [_strings("join", x) for x in inputs]
    if not parts:
        raise errors.InvalidArgumentError("join: expected at least one input", "join")
    target = parts[0].shape
    for part in parts[1:]:
        if part.shape.rank > target.rank or (part.shape.rank == target.rank and part.shape
                                             != target):
            target = part.shape
    stacked = stack([broadcast_to(p, target) if p.shape != target else p for p in parts],
                    axis=-1)
    return reduce_join(stacked, axis=-1, separator=separator)


def reduce_join(inputs, axis=None, keepdims=False, separator="", name=None):
    """Joins the strings along `axis` (all axes when None).

    >>> from tensorflux.ops import strings
    >>> strings.reduce_join([["a", "b"], ["c", "d"]], axis=1, separator=",").numpy().tolist()
    [b'a,b', b'c,d']
    """
    from tensorflux.control import numpy_function
    from tensorflux.ops.array import reshape

    if _is_ragged(inputs):
        return _reduce_join_ragged(inputs, axis, keepdims, _as_bytes(separator))
    x = _strings("reduce_join", inputs)
    sep = _as_bytes(separator)
    rank = x.shape.rank
    if axis is None:
        result = numpy_function(lambda a: sep.join(_flat(a)), [x],
                                Tout=dtypes.string)
        return reshape(result, [1] * rank) if keepdims else reshape(result, [])
    axis = int(axis) + (rank if int(axis) < 0 else 0)
    if not 0 <= axis < rank:
        raise errors.InvalidArgumentError(
            f"reduce_join: axis {axis} is out of range for rank {rank}", "reduce_join")

    def run(values):
        moved = values.swapaxes(axis, -1)
        width, count = moved.shape[-1], 1
        for d in moved.shape[:-1]:
            count *= d
        rows = moved.reshape(-1, width).tolist() if width else [[] for _ in range(count)]
        return [[sep.join(row) for row in rows]]

    flat = numpy_function(run, [x], Tout=[dtypes.string])[0]
    if x.shape.is_fully_defined():
        dims = [int(d) for d in x.shape]
        return reshape(flat, dims[:axis] + ([1] if keepdims else []) + dims[axis + 1:])
    # Dimensions known only when the traced graph runs (strings.join of gathered values).
    from tensorflux.ops.array import concat, ones, shape

    dims = shape(x)
    kept = [ones([1], dims.dtype)] if keepdims else []
    return reshape(flat, concat([dims[:axis]] + kept + [dims[axis + 1:]], 0))


def unsorted_segment_join(inputs, segment_ids, num_segments, separator="", name=None):
    """Joins the strings of `inputs` whose leading indices share a segment id: row k of the
    result joins, in order, the rows whose id is k ('' where none is). `segment_ids` has
    the shape of a prefix of `inputs`'s; ids must lie in [0, num_segments), as in TF.

    >>> from tensorflux.ops import strings
    >>> strings.unsorted_segment_join(["a", "b", "c"], [1, 0, 1], 2).numpy().tolist()
    [b'b', b'ac']
    """
    from tensorflux.control import numpy_function
    from tensorflux.ops.array import concat, reshape, shape

    op = "unsorted_segment_join"
    x = _strings(op, inputs)
    ids = as_operand(op, segment_ids)
    count = as_operand(op, num_segments)
    if not ids.dtype.is_integer or not count.dtype.is_integer or count.shape.rank != 0:
        raise errors.InvalidArgumentError(
            f"{op}: expected integer segment_ids and a scalar integer num_segments, received "
            f"{ids.dtype.name} {tuple(ids.shape)} and {count.dtype.name} "
            f"{tuple(count.shape)}", op)
    if ids.shape.rank is None or x.shape.rank is None or \
            not ids.shape.is_compatible_with(x.shape[:ids.shape.rank]):
        raise errors.InvalidArgumentError(
            f"{op}: segment_ids' shape {ids.shape} must be a prefix of the inputs' shape "
            f"{x.shape}", op)
    sep = _as_bytes(separator)
    depth = ids.shape.rank

    def run(values, keys, total):
        total = int(total)
        keys = keys.reshape(-1).tolist()
        cells = 1
        for size in values.shape[depth:]:
            cells *= size
        rows = values.reshape(len(keys), cells).tolist() if keys else []
        groups = [[[] for _ in range(cells)] for _ in range(total)]
        for key, row in zip(keys, rows):
            if not 0 <= key < total:
                raise errors.InvalidArgumentError(
                    f"{op}: segment_ids are not allowed to exceed num_segments or to have "
                    f"negative values (received {key} for {total} segments)", op)
            for parts, value in zip(groups[key], row):
                parts.append(value)
        return [[sep.join(parts) for group in groups for parts in group]]

    flat = numpy_function(run, [x, ids, count], Tout=[dtypes.string])[0]
    result = reshape(flat, concat([reshape(count, [1]), shape(x)[depth:]], 0))
    static = count.numpy() if getattr(count, "_value", None) is not None else None
    result.set_shape([None if static is None else int(static)] + list(x.shape[depth:]))
    return result


__all__ += ["unsorted_segment_join"]


def _reduce_join_ragged(rt, axis, keepdims, sep):
    """reduce_join of a RaggedTensor of ragged_rank 1 over its rows' strings (axis -1 or
    1), or over all its strings (axis None)."""
    from tensorflux.control import numpy_function
    from tensorflux.ops.array import expand_dims, reshape

    if rt.ragged_rank != 1 or rt.flat_values.shape.rank != 1:
        raise errors.UnimplementedError(
            "reduce_join: RaggedTensors of shape [rows, None] are supported, received "
            f"{rt.shape}", "reduce_join")
    values = _strings("reduce_join", rt.flat_values)
    if axis is None:
        joined = numpy_function(lambda a: sep.join(_flat(a)), [values], Tout=dtypes.string)
        return reshape(joined, [1, 1] if keepdims else [])
    if int(axis) not in (1, -1):
        raise errors.UnimplementedError(
            f"reduce_join: a RaggedTensor is joined along its ragged axis (1 or -1) or all "
            f"axes (None), received axis={axis}", "reduce_join")

    def rows(flat, splits):
        flat = _flat(flat)
        return [[sep.join(flat[a:b]) for a, b in zip(splits, splits[1:])]]

    joined = reshape(numpy_function(rows, [values, rt.row_splits], Tout=[dtypes.string])[0],
                     [-1])
    return expand_dims(joined, -1) if keepdims else joined


@_ragged_elementwise
def to_number(input, out_type=dtypes.float32, name=None):  # noqa: A002 - TF's argument name
    """Parses each string as a number of `out_type`; InvalidArgumentError on bad input.

    >>> from tensorflux.ops import strings
    >>> strings.to_number(["1.5", "-2"]).numpy().tolist()
    [1.5, -2.0]
    """
    out_type = dtypes.as_dtype(out_type)
    integer = out_type.is_integer

    def parse(value):
        text = value.decode("utf-8", "replace").strip()
        try:
            return int(text) if integer else float(text)
        except ValueError:
            raise errors.InvalidArgumentError(
                f"StringToNumberOp could not correctly convert string: {text}",
                "to_number") from None

    return _elementwise("to_number", _strings("to_number", input), parse, out_type)


@_ragged_elementwise
def as_string(input, precision=-1, scientific=False, shortest=False, width=-1,  # noqa: A002
              fill="", name=None):
    """Formats each number as a string ("%.6f" for floats by default, as TF).

    >>> from tensorflux.ops import strings
    >>> strings.as_string([1.5, 2.0]).numpy().tolist()
    [b'1.500000', b'2.000000']
    """
    x = as_operand("as_string", input)
    if x.dtype is dtypes.string:
        raise errors.InvalidArgumentError("as_string: input is already a string tensor",
                                          "as_string")
    if x.dtype is dtypes.bool:
        spec = None
    elif x.dtype.is_floating:
        kind = "g" if shortest else ("e" if scientific else "f")
        digits = "" if shortest and precision < 0 else f".{6 if precision < 0 else precision}"
        spec = f"{fill}{width if width > 0 else ''}{digits}{kind}"
    else:
        spec = f"{fill}{width if width > 0 else ''}d"

    def render(value):
        if spec is None:
            return b"true" if value else b"false"
        return builtins.format(value, spec).encode("ascii")  # `format` is tf.strings.format

    return _elementwise("as_string", x, render, dtypes.string)


@_ragged_elementwise
def substr(input, pos, len, unit="BYTE", name=None):  # noqa: A002
    """The substring of `len` bytes (or UTF-8 characters) from `pos` of each string; `pos`
    and `len` are ints, or tensors of one shape that broadcasts with the input.

    >>> from tensorflux.ops import strings
    >>> strings.substr(["hello", "ab"], 1, 3).numpy().tolist()
    [b'ell', b'b']
    >>> strings.substr(["hello", "world"], [1, 2], [2, 3]).numpy().tolist()
    [b'el', b'rld']
    """
    from tensorflux.control import numpy_function
    from tensorflux.ops.array import broadcast_to, reshape, shape

    def cut(value, start, size):
        if unit == "UTF8_CHAR":
            text = value.decode("utf-8", "replace")
            begin = start if start >= 0 else builtins_len(text) + start
            return text[begin:begin + size].encode("utf-8")
        begin = start if start >= 0 else builtins_len(value) + start
        if begin > builtins_len(value) or begin < 0:
            raise errors.InvalidArgumentError(
                f"substr: pos {start} out of range for string {value!r}", "substr")
        return value[begin:begin + size]

    x = _strings("substr", input)
    starts, sizes = as_operand("substr", pos), as_operand("substr", len)
    if starts.shape.rank == 0 and sizes.shape.rank == 0:
        start, size = int(pos), int(len)
        return _elementwise("substr", x, lambda value: cut(value, start, size), dtypes.string)
    if starts.shape != sizes.shape:
        raise errors.InvalidArgumentError(
            f"substr: pos and len should have the same shape, received {tuple(starts.shape)} "
            f"and {tuple(sizes.shape)}", "substr")
    target = x.shape
    if starts.shape.rank > target.rank or (starts.shape.rank == target.rank and
                                           starts.shape != target):
        target = starts.shape
    x, starts, sizes = (broadcast_to(t, target) if t.shape != target else t
                        for t in (x, starts, sizes))

    def run(values, begins, counts):
        return [[cut(v, int(a), int(b)) for v, a, b in
                 zip(_flat(values), _flat(begins), _flat(counts))]]

    return reshape(numpy_function(run, [x, starts, sizes], Tout=[dtypes.string])[0], shape(x))


builtins_len = builtins.len


@_ragged_elementwise
def strip(input, name=None):  # noqa: A002
    """Removes leading and trailing whitespace.

    >>> from tensorflux.ops import strings
    >>> strings.strip([" a b \\n"]).numpy().tolist()
    [b'a b']
    """
    return _elementwise("strip", _strings("strip", input), bytes.strip, dtypes.string)


@_ragged_elementwise
def regex_full_match(input, pattern, name=None):  # noqa: A002
    """True where the whole string matches `pattern` (Python `re`, RE2-compatible syntax).

    >>> from tensorflux.ops import strings
    >>> strings.regex_full_match(["abc", "abcd"], "abc").numpy().tolist()
    [True, False]
    """
    pattern = _as_bytes(pattern)
    compiled = _utf8_regex("regex_full_match", pattern)
    if compiled is None:
        match = _compile("regex_full_match", pattern).fullmatch
    else:
        def match(value):
            return compiled.fullmatch(_decode(value))
    return _elementwise("regex_full_match", _strings("regex_full_match", input),
                        lambda value: match(value) is not None, dtypes.bool)


def _split_rows(op, value, pieces, dtype=dtypes.string):
    """`pieces(bytes)` of a scalar string (a 1-D tensor) or of each string of a vector (a
    RaggedTensor of one row per string), as TensorFlow's splitting ops return them."""
    from tensorflux.control import numpy_function
    from tensorflux.ops.array import reshape

    if _is_ragged(value) or getattr(getattr(value, "shape", None), "rank", 1) != 1:
        # A RaggedTensor's strings, or a matrix's: the rows keep the input's shape in front.
        from tensorflux.ragged.array_ops import map_string_rows

        nested = map_string_rows(lambda flat: _split_rows(op, flat, pieces, dtype), value)
        if nested is not None:
            return nested
    x = _strings(op, value)
    if x.shape.rank == 0:
        return reshape(numpy_function(lambda a: [pieces(_flat(a)[0])], [x], Tout=[dtype])[0],
                       [-1])
    if x.shape.rank != 1:
        raise errors.UnimplementedError(
            f"{op}: scalar strings and vectors of strings are supported, received shape "
            f"{tuple(x.shape)}; reshape to a vector first (tf.reshape(x, [-1]))", op)
    from tensorflux.ragged import RaggedTensor

    def rows(values):
        parts = [pieces(v) for v in _flat(values)]
        return ([p for part in parts for p in part],
                [0] + list(itertools.accumulate(builtins_len(part) for part in parts)))

    flat, splits = numpy_function(rows, [x], Tout=[dtype, dtypes.int64])
    return RaggedTensor.from_row_splits(reshape(flat, [-1]), reshape(splits, [-1]),
                                        validate=False)


def bytes_split(input, name=None):  # noqa: A002
    """The bytes of a scalar string, as a 1-D string tensor (of each string of a vector,
    as a RaggedTensor).

    >>> from tensorflux.ops import strings
    >>> strings.bytes_split("ab").numpy().tolist()
    [b'a', b'b']
    """
    return _split_rows("bytes_split", input,
                         lambda b: [b[i:i + 1] for i in range(builtins_len(b))])


def unicode_split(input, input_encoding, errors="replace", replacement_char=65533,  # noqa: A002
                  name=None):
    """The characters of a scalar string, each UTF-8 encoded, as a 1-D string tensor (of
    each string of a vector, as a RaggedTensor).

    >>> from tensorflux.ops import strings
    >>> strings.unicode_split("héy", "UTF-8").numpy().tolist()
    [b'h', b'\\xc3\\xa9', b'y']
    """
    op = "unicode_split"
    encoding = _input_encoding(op, input_encoding)
    mode = _error_mode(op, errors)
    return _split_rows(op, input, lambda data: [
        _encode_points(op, [point], encoding, mode, replacement_char)
        for point in _codepoints(op, data, encoding, mode, replacement_char, False)])


def unicode_split_with_offsets(input, input_encoding, errors="replace",  # noqa: A002
                               replacement_char=65533, name=None):
    """unicode_split's characters (each in the input encoding) and the byte offset where
    each starts in its string (int64).

    >>> from tensorflux.ops import strings
    >>> chars, starts = strings.unicode_split_with_offsets("h€!", "UTF-8")
    >>> chars.numpy().tolist(), starts.numpy().tolist()
    ([b'h', b'\\xe2\\x82\\xac', b'!'], [0, 1, 4])
    """
    op = "unicode_split_with_offsets"
    encoding = _input_encoding(op, input_encoding)
    mode = _error_mode(op, errors)
    chars = _split_rows(op, input, lambda data: [
        _encode_points(op, [point], encoding, mode, replacement_char)
        for point in _codepoints(op, data, encoding, mode, replacement_char, False)])
    starts = _split_rows(op, input, lambda data: _codepoints(
        op, data, encoding, mode, replacement_char, False, offsets=True), dtypes.int64)
    return chars, starts


__all__ += ["unicode_split_with_offsets"]


# ---------------------------------------------------------------- hash buckets
__all__ += ["to_hash_bucket", "to_hash_bucket_fast", "to_hash_bucket_strong"]


def _buckets(op, num_buckets):
    count = int(num_buckets)
    if count < 1:
        raise errors.InvalidArgumentError(
            f"{op}: num_buckets must be >= 1, received {num_buckets}", op)
    return count


@_ragged_elementwise
def to_hash_bucket_fast(input, num_buckets, name=None):  # noqa: A002
    """The bucket of each string: FarmHash Fingerprint64 modulo num_buckets (int64), the
    buckets TensorFlow computes.

    >>> from tensorflux.ops import strings
    >>> strings.to_hash_bucket_fast(["hello"], 1000003).numpy().tolist()
    [497363]
    """
    from tensorflux.ops._string_hash import fingerprint64

    count = _buckets("to_hash_bucket_fast", num_buckets)
    return _elementwise("to_hash_bucket_fast", _strings("to_hash_bucket_fast", input),
                        lambda value: fingerprint64(value) % count, dtypes.int64)


@_ragged_elementwise
def to_hash_bucket_strong(input, num_buckets, key, name=None):  # noqa: A002
    """The bucket of each string under keyed SipHash-2-4; `key` is two unsigned 64-bit ints.

    >>> from tensorflux.ops import strings
    >>> strings.to_hash_bucket_strong(["hello"], 1000003, [1, 2]).numpy().tolist()
    [430577]
    """
    from tensorflux.ops._string_hash import siphash24

    op = "to_hash_bucket_strong"
    count = _buckets(op, num_buckets)
    key = list(key)
    if builtins_len(key) != 2:
        raise errors.InvalidArgumentError(
            f"{op}: key must be a list of two ints, received {key!r}", op)
    return _elementwise(op, _strings(op, input), lambda value: siphash24(key, value) % count,
                        dtypes.int64)


@_ragged_elementwise
def to_hash_bucket(input, num_buckets, name=None):  # noqa: A002 - TF's argument name
    """The bucket of each string under TensorFlow's legacy Hash64 (MurmurHash64A seeded
    0xDECAFCAFFE). Prefer to_hash_bucket_fast, as TensorFlow advises.

    >>> from tensorflux.ops import strings
    >>> strings.to_hash_bucket(["hello"], 1000003).numpy().tolist()
    [546981]
    """
    from tensorflux.ops._string_hash import hash64

    count = _buckets("to_hash_bucket", num_buckets)
    return _elementwise("to_hash_bucket", _strings("to_hash_bucket", input),
                        lambda value: hash64(value) % count, dtypes.int64)


# ---------------------------------------------------------------- Unicode
__all__ += ["unicode_decode", "unicode_decode_with_offsets", "unicode_encode",
            "unicode_transcode"]

# What the "tensorflux.mark" error handler leaves for each undecodable byte sequence: a lone
# surrogate, which no decoder produces from valid input (UTF-8/16/32 reject surrogates).
_INVALID = "\udcff"
_OUTPUT_ENCODINGS = {"UTF-8": "utf-8", "UTF-16-BE": "utf-16-be", "UTF-32-BE": "utf-32-be"}


def _mark_invalid(error):
    if isinstance(error, UnicodeDecodeError):
        return _INVALID, error.end
    raise error


codecs.register_error("tensorflux.mark", _mark_invalid)


def _input_encoding(op, encoding):
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise errors.InvalidArgumentError(
            f"{op}: unknown input_encoding {encoding!r}", op) from None


def _output_encoding(op, encoding):
    name = _OUTPUT_ENCODINGS.get(str(encoding).upper())
    if name is None:
        raise errors.InvalidArgumentError(
            f"{op}: output_encoding must be one of {sorted(_OUTPUT_ENCODINGS)}, received "
            f"{encoding!r}", op)
    return name


def _error_mode(op, mode):
    if mode not in ("strict", "replace", "ignore"):
        raise errors.InvalidArgumentError(
            f"{op}: errors must be 'strict', 'replace' or 'ignore', received {mode!r}", op)
    return mode


def _codepoints(op, data, encoding, mode, replacement, controls, strict_controls=False,
                offsets=False):
    """The code points of `data`; an invalid sequence raises (strict), is replaced by
    `replacement` (replace; one per maximal invalid subsequence, as ICU) or dropped
    (ignore). With `controls`, C0 control characters count as invalid too, except that
    strict mode replaces them unless `strict_controls` (TensorFlow's transcode raises).
    With `offsets`, the byte offsets where those code points start instead."""
    points, starts, start = [], [], 0
    for char in data.decode(encoding, "tensorflux.mark"):
        point = ord(char)
        control = controls and point <= 0x1F
        if char != _INVALID and not control:
            points.append(point)
            starts.append(start)
        elif mode == "strict" and (char == _INVALID or strict_controls):
            raise errors.InvalidArgumentError(
                f"{op}: Invalid formatting on input string {data!r}", op)
        elif mode != "ignore":
            points.append(replacement)
            starts.append(start)
        if offsets:
            start += _byte_width(data, start, char, encoding)
    return starts if offsets else points


def _byte_width(data, start, char, encoding):
    """How many bytes of `data` from `start` the decoded `char` came from."""
    if char != _INVALID:
        return builtins_len(char.encode(encoding))
    try:
        data[start:].decode(encoding)
    except UnicodeDecodeError as error:  # the sequence the "tensorflux.mark" handler took
        return error.end - error.start
    return builtins_len(data) - start


def _encode_points(op, points, encoding, mode, replacement):
    chars = []
    for point in points:
        if 0 <= point <= 0x10FFFF and not 0xD800 <= point <= 0xDFFF:
            chars.append(chr(point))
        elif mode == "strict":
            raise errors.InvalidArgumentError(
                f"{op}: Code point {point} is out of range for Unicode, or is a surrogate.", op)
        elif mode == "replace":
            chars.append(chr(replacement))
    return "".join(chars).encode(encoding)


def unicode_decode(input, input_encoding, errors="replace", replacement_char=65533,  # noqa: A002
                   replace_control_characters=False, name=None):
    """The code points of a scalar string, as a 1-D int32 tensor (of each string of a
    vector, as a RaggedTensor).

    >>> from tensorflux.ops import strings
    >>> strings.unicode_decode("h€", "UTF-8").numpy().tolist()
    [104, 8364]
    """
    op = "unicode_decode"
    encoding = _input_encoding(op, input_encoding)
    mode = _error_mode(op, errors)
    return _split_rows(op, input, lambda data: _codepoints(
        op, data, encoding, mode, replacement_char, replace_control_characters), dtypes.int32)


def unicode_decode_with_offsets(input, input_encoding, errors="replace",  # noqa: A002
                                replacement_char=65533, replace_control_characters=False,
                                name=None):
    """unicode_decode's code points and the byte offset where each starts in its string
    (int64), both 1-D for a scalar string and RaggedTensors for a vector.

    >>> from tensorflux.ops import strings
    >>> points, starts = strings.unicode_decode_with_offsets("h€!", "UTF-8")
    >>> points.numpy().tolist(), starts.numpy().tolist()
    ([104, 8364, 33], [0, 1, 4])
    """
    op = "unicode_decode_with_offsets"
    encoding = _input_encoding(op, input_encoding)
    mode = _error_mode(op, errors)

    def decoded(offsets):
        return lambda data: _codepoints(op, data, encoding, mode, replacement_char,
                                        replace_control_characters, offsets=offsets)

    return (_split_rows(op, input, decoded(False), dtypes.int32),
            _split_rows(op, input, decoded(True), dtypes.int64))


def _code_point_rows(op, value):
    x = as_operand(op, value)
    if not x.dtype.is_integer or x.shape.rank == 0:
        raise errors.InvalidArgumentError(
            f"{op}: expected an integer tensor of rank >= 1, received {x.dtype.name} with "
            f"shape {tuple(x.shape)}", op)
    return x


def unicode_encode(input, output_encoding, errors="replace", replacement_char=65533,  # noqa: A002
                   name=None):
    """Encodes rows of code points (the last axis of an int32 tensor) into strings:
    output_encoding 'UTF-8', 'UTF-16-BE' or 'UTF-32-BE'; the result drops the last axis.

    >>> from tensorflux.ops import strings
    >>> strings.unicode_encode([[104, 105], [8364, 33]], "UTF-8").numpy().tolist()
    [b'hi', b'\\xe2\\x82\\xac!']
    """
    from tensorflux.control import numpy_function
    from tensorflux.ops.array import reshape, shape

    op = "unicode_encode"
    encoding = _output_encoding(op, output_encoding)
    mode = _error_mode(op, errors)
    if _is_ragged(input):
        return _encode_ragged_rows(op, input, encoding, mode, replacement_char)
    x = _code_point_rows(op, input)

    def run(values):
        rows = 1
        for size in values.shape[:-1]:
            rows *= size
        flat = values.reshape(rows, values.shape[-1]).tolist()
        return [[_encode_points(op, row, encoding, mode, replacement_char) for row in flat]]

    flat = numpy_function(run, [x], Tout=[dtypes.string])[0]
    return reshape(flat, shape(x)[:-1])


def _encode_ragged_rows(op, rt, encoding, mode, replacement_char):
    """unicode_encode of a RaggedTensor, as TF (the unicode guide encodes the result of
    unicode_decode back): each innermost row becomes one string, the outer rows stay."""
    from tensorflux.control import numpy_function

    if rt.ragged_rank > 1:
        return rt.with_values(_encode_ragged_rows(op, rt.values, encoding, mode,
                                                  replacement_char))
    values = _code_point_rows(op, rt.values)
    if values.shape.rank != 1:
        raise errors.InvalidArgumentError(
            f"{op}: the code points of a RaggedTensor must be its innermost ragged dimension, "
            f"received flat values of shape {tuple(values.shape)}", op)

    def run(points, splits):
        points = points.tolist()
        return [[_encode_points(op, points[a:b], encoding, mode, replacement_char)
                 for a, b in zip(splits[:-1].tolist(), splits[1:].tolist())]]

    encoded = numpy_function(run, [values, rt.row_splits], Tout=[dtypes.string])[0]
    encoded.set_shape([rt.shape[0]])
    return encoded


@_ragged_elementwise
def unicode_transcode(input, input_encoding, output_encoding, errors="replace",  # noqa: A002
                      replacement_char=65533, replace_control_characters=False, name=None):
    """Re-encodes each string from input_encoding (any Python codec name, such as 'UTF-8'
    or 'ISO-8859-1') to 'UTF-8', 'UTF-16-BE' or 'UTF-32-BE'.

    >>> from tensorflux.ops import strings
    >>> strings.unicode_transcode([b"caf\\xe9"], "ISO-8859-1", "UTF-8").numpy().tolist()
    [b'caf\\xc3\\xa9']
    """
    op = "unicode_transcode"
    source = _input_encoding(op, input_encoding)
    target = _output_encoding(op, output_encoding)
    mode = _error_mode(op, errors)

    def transcode(data):
        points = _codepoints(op, data, source, mode, replacement_char,
                             replace_control_characters, strict_controls=True)
        return _encode_points(op, points, target, mode, replacement_char)

    return _elementwise(op, _strings(op, input), transcode, dtypes.string)


__all__ += ["unicode_script"]

# Built on first use from _unicode_scripts.RUNS: the first code point of each run of equal
# script, and that run's script code.
_SCRIPT_RUNS = []


def _script_runs():
    if not _SCRIPT_RUNS:
        from tensorflux.ops._unicode_scripts import RUNS

        starts, codes, start = [], [], 0
        for token in RUNS.split():
            step, code = token.split(":")
            start += int(step, 16)
            starts.append(start)
            codes.append(int(code))
        _SCRIPT_RUNS[:] = [starts, codes]
    return _SCRIPT_RUNS


@_ragged_elementwise
def unicode_script(input, name=None):  # noqa: A002
    """The script of each code point of an int32 tensor, as ICU's UScriptCode (0 Common,
    1 Inherited, 2 Arabic, 8 Cyrillic, 14 Greek, 17 Han, 19 Hebrew, 25 Latin, ..., 103
    Unknown for unassigned code points), and -1 for values that are no code point.

    >>> from tensorflux.ops import strings
    >>> strings.unicode_script([ord("a"), ord("Ж"), ord("中"), ord("!"), -5]).numpy().tolist()
    [25, 8, 17, 0, -1]
    """
    import bisect

    op = "unicode_script"
    if hasattr(input, "dtype") and hasattr(input, "shape") and input.dtype != dtypes.int32:
        raise errors.InvalidArgumentError(
            f"{op}: expected an int32 tensor of code points, received "
            f"{dtypes.as_dtype(input.dtype).name} with shape {tuple(input.shape)}", op)
    try:
        x = as_operand(op, input, dtypes.int32)
    except errors.InvalidArgumentError as error:  # a Python value of another type, as TF
        raise TypeError(str(error)) from None
    starts, codes = _script_runs()

    def script(point):
        if point < 0 or point > 0x10FFFF:
            return -1
        return codes[bisect.bisect_right(starts, point) - 1]

    return _elementwise(op, x, script, dtypes.int32)


# ---------------------------------------------------------------- format
__all__ += ["format"]


def _escape(data):
    """TensorFlow's (absl's UTF-8-safe) C escaping of a string element, quoted; bytes are
    held as the characters of the same numbers (latin-1), as in _summarize."""
    special = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x22: '\\"', 0x27: "\\'", 0x5C: "\\\\"}
    out = []
    for byte in data:
        if byte in special:
            out.append(special[byte])
        elif byte < 0x20 or byte == 0x7F:
            out.append(f"\\{byte:03o}")
        else:
            out.append(chr(byte))
    return '"' + "".join(out) + '"'


def _element_text(dtype):
    """How TensorFlow prints one element of a tensor of `dtype` (Tensor::SummarizeValue)."""
    from tensorflux.proto.message import double_text, float_text

    if dtype is dtypes.string:
        return lambda value: _escape(_as_bytes(value))
    if dtype is dtypes.bool:
        return lambda value: "1" if value else "0"
    if dtype is dtypes.float64:
        return double_text
    if dtype.is_floating:
        return lambda value: float_text(float(value))
    if dtype.is_complex:
        return lambda value: "?"
    return lambda value: str(int(value))


def _spacing(dim, rank, out):
    if dim == rank - 1:
        out.append(" ")
    else:
        out.append("\n" * (rank - dim - 1) + " " * (dim + 1))


def _print_dim(dim, dims, ends, flat, start, out, text):
    """TensorFlow's PrintOneDimV2: `ends` items at each end of every axis, '...' between."""
    if dim == builtins_len(dims):
        out.append(text(flat[start]))
        return
    out.append("[")
    count = dims[dim]
    step = 1
    for size in dims[dim + 1:]:
        step *= size
    for index in range(min(ends, count)):
        if index > 0:
            _spacing(dim, builtins_len(dims), out)
        _print_dim(dim + 1, dims, ends, flat, start + step * index, out, text)
    if count > 2 * ends:
        _spacing(dim, builtins_len(dims), out)
        out.append("...")
    for index in range(max(ends, count - ends), count):
        _spacing(dim, builtins_len(dims), out)
        _print_dim(dim + 1, dims, ends, flat, start + step * index, out, text)
    out.append("]")


def _summarize(value, dtype, summarize):
    text = _element_text(dtype)
    dims = () if isinstance(value, (bytes, str)) else tuple(value.shape)
    flat = _flat(value)
    count = builtins_len(flat)
    limit = count if summarize < 0 else min(summarize, count)
    if not dims:
        return " ".join(text(v) for v in flat[:limit]) + ("..." if count > limit else "")
    out = []
    _print_dim(0, dims, limit, flat, 0, out, text)
    return "".join(out)


def format(template, inputs, placeholder="{}", summarize=3, name=None):  # noqa: A001
    """`template` with each `placeholder` replaced by one input tensor, printed as
    TensorFlow prints tensors (`summarize` items at each end of every axis; -1: all).

    >>> import tensorflux as tf
    >>> from tensorflux.ops import strings
    >>> strings.format("x={} y={}", (1, tf.range(10))).numpy()
    b'x=1 y=[0 1 2 ... 7 8 9]'
    """
    from tensorflux.control import numpy_function
    from tensorflux.ops.array import reshape

    items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    # A RaggedTensor prints as nested rows ("[[1, 2], []]"), its text inserted as it is.
    raw = [isinstance(x, CompositeTensor) and hasattr(x, "nested_row_splits") for x in items]
    if any(raw):
        from tensorflux.ragged._format import ragged_text

        items = [ragged_text(x, summarize) if r else x for x, r in zip(items, raw)]
    tensors = [as_operand("format", x) for x in items]
    # Work on bytes as latin-1 text, so string elements that are not UTF-8 pass unchanged.
    pieces = template.encode("utf-8").decode("latin-1").split(
        placeholder.encode("utf-8").decode("latin-1"))
    if builtins_len(pieces) - 1 != builtins_len(tensors):
        raise ValueError(f"The template expects {builtins_len(pieces) - 1} tensors, but the "
                         f"inputs only has {builtins_len(tensors)}. Please ensure the number "
                         "of placeholders in template matches inputs length.")
    kinds = [None if r else t.dtype for t, r in zip(tensors, raw)]

    def run(*values):
        parts = [pieces[0]]
        for value, dtype, piece in zip(values, kinds, pieces[1:]):
            if dtype is None:  # a RaggedTensor's text
                value = value.item() if hasattr(value, "item") else value
                parts += [value.decode("latin-1") if isinstance(value, bytes) else value, piece]
                continue
            parts += [_summarize(value, dtype, int(summarize)), piece]
        return "".join(parts).encode("latin-1")

    if not tensors:
        from tensorflux.tensor import constant

        return constant(template.encode("utf-8"), dtype=dtypes.string)
    return reshape(numpy_function(run, tensors, Tout=dtypes.string), [])
