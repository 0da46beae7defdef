"""String ops (tf.strings subset) for text preprocessing, and the index lookup of vocabularies.

tensorflux has no RaggedTensor: `split` and `ngrams` return a dense tensor padded with b""
plus the row lengths (int64), which is what TextVectorization needs internally. The strings
are bytes in NumPy object arrays; lower is ASCII-only (tf.strings.lower with encoding="");
regex_replace uses Python's `re` on bytes, which agrees with RE2 for ordinary patterns.
"""

import builtins

from tensorflux import dtypes, errors
from tensorflux.ops._core import as_operand, aval
from tensorflux.primitive import Primitive
from tensorflux.tensor import TensorShape

__all__ = ["lower", "upper", "regex_replace", "split", "ngrams", "lookup_index"]


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


def lower(input, encoding="", name=None):  # noqa: A002 - TensorFlow's argument name
    """ASCII lowercase of each string.

    >>> import tensorflux as tf
    >>> from tensorflux.ops import strings
    >>> strings.lower(["Hello World"]).numpy().tolist()
    [b'hello world']
    """
    return _case.bind(_strings("lower", input), upper=False)


def upper(input, encoding="", name=None):  # noqa: A002
    """ASCII uppercase of each string.

    >>> from tensorflux.ops import strings
    >>> strings.upper(["abc"]).numpy().tolist()
    [b'ABC']
    """
    return _case.bind(_strings("upper", input), upper=True)


def _as_bytes(value):
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def regex_replace(input, pattern, rewrite, replace_global=True, name=None):  # noqa: A002
    """Replaces the matches of `pattern` in each string by `rewrite` (\\1 refers to groups).

    >>> from tensorflux.ops import strings
    >>> strings.regex_replace(["a.b,c"], r"[.,]", "").numpy().tolist()
    [b'abc']
    """
    x = _strings("regex_replace", input)
    return _regex.bind(x, pattern=_as_bytes(pattern), rewrite=_as_bytes(rewrite),
                       replace_global=bool(replace_global))


def _split_rule(x, **attrs):
    return (aval(TensorShape(list(x.shape) + [None]), x.dtype),
            aval(x.shape, dtypes.int64))


# string_split: tokens of each string, padded with b"" to the longest row, and row lengths.
_split = Primitive("string_split", shape_rule=_split_rule, multiple_results=True)


def split(input, sep=None, maxsplit=-1, name=None):  # noqa: A002
    """Splits each string of a rank-0 or rank-1 tensor: (tokens padded with b"", lengths).

    sep=None splits on runs of whitespace and drops leading/trailing whitespace, as
    tf.strings.split; a ragged result is returned in this padded form.

    >>> from tensorflux.ops import strings
    >>> tokens, lengths = strings.split(["a b", " c "])
    >>> tokens.numpy().tolist(), lengths.numpy().tolist()
    ([[b'a', b'b'], [b'c', b'']], [2, 1])
    """
    x = _strings("split", input)
    if x.shape.rank not in (0, 1):
        raise errors.InvalidArgumentError(
            f"split: expected a string tensor of rank 0 or 1, received shape "
            f"{tuple(x.shape)}", "split")
    return _split.bind(x, sep=None if sep is None else _as_bytes(sep), maxsplit=int(maxsplit))


def _ngrams_rule(tokens, lengths, **attrs):
    return (aval(TensorShape(list(tokens.shape[:-1]) + [None]), tokens.dtype),
            aval(lengths.shape, dtypes.int64))


# string_ngrams: the ngrams of each padded row (widths in order, as tf.strings.ngrams).
_ngrams = Primitive("string_ngrams", shape_rule=_ngrams_rule, multiple_results=True)


def ngrams(tokens, lengths, ngram_width, separator=" ", name=None):
    """The ngrams of padded token rows (as from `split`): (ngrams padded with b"", lengths).

    For each width in `ngram_width` (an int or a tuple), all the row's ngrams of that width
    joined by `separator`, widths in the given order (tf.strings.ngrams' order).

    >>> from tensorflux.ops import strings
    >>> tokens, lengths = strings.split(["a b c"])
    >>> strings.ngrams(tokens, lengths, (1, 2))[0].numpy().tolist()
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
    dims = [int(d) for d in x.shape]
    out_shape = dims[:axis] + ([1] if keepdims else []) + dims[axis + 1:]

    def run(values):
        moved = values.swapaxes(axis, -1)
        rows = moved.reshape(-1, dims[axis]).tolist() if dims[axis] else [
            [] for _ in range(moved.size // max(dims[axis], 1))]
        return [[sep.join(row) for row in rows]]

    order = [d for d in range(rank) if d != axis] + [axis]
    flat = numpy_function(run, [x], Tout=[dtypes.string])[0]
    moved = [dims[d] for d in order[:-1]]
    result = reshape(flat, moved)
    return reshape(result, out_shape)


def to_number(string_tensor, out_type=dtypes.float32, name=None):
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

    return _elementwise("to_number", _strings("to_number", string_tensor), parse, out_type)


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
        return format(value, spec).encode("ascii")

    return _elementwise("as_string", x, render, dtypes.string)


def substr(input, pos, len, unit="BYTE", name=None):  # noqa: A002
    """The substring of `len` bytes (or UTF-8 characters) from `pos` of each string.

    >>> from tensorflux.ops import strings
    >>> strings.substr(["hello", "ab"], 1, 3).numpy().tolist()
    [b'ell', b'b']
    """
    start, size = int(pos), int(len)

    def cut(value):
        if unit == "UTF8_CHAR":
            text = value.decode("utf-8", "replace")
            begin = start if start >= 0 else builtins_len(text) + start
            return text[begin:begin + size].encode("utf-8")
        begin = start if start >= 0 else builtins_len(value) + start
        if begin > builtins_len(value) or begin < 0:
            raise errors.InvalidArgumentError(
                f"substr: pos {start} out of range for string b'{value!r}'", "substr")
        return value[begin:begin + size]

    return _elementwise("substr", _strings("substr", input), cut, dtypes.string)


builtins_len = builtins.len


def strip(input, name=None):  # noqa: A002
    """Removes leading and trailing whitespace.

    >>> from tensorflux.ops import strings
    >>> strings.strip([" a b \\n"]).numpy().tolist()
    [b'a b']
    """
    return _elementwise("strip", _strings("strip", input), bytes.strip, dtypes.string)


def regex_full_match(input, pattern, name=None):  # noqa: A002
    """True where the whole string matches `pattern` (Python `re`, RE2-compatible syntax).

    >>> from tensorflux.ops import strings
    >>> strings.regex_full_match(["abc", "abcd"], "abc").numpy().tolist()
    [True, False]
    """
    import re

    compiled = re.compile(_as_bytes(pattern))
    return _elementwise("regex_full_match", _strings("regex_full_match", input),
                        lambda value: compiled.fullmatch(value) is not None, dtypes.bool)


def _split_scalar(op, value, pieces):
    from tensorflux.control import numpy_function

    x = _strings(op, value)
    if x.shape.rank != 0:
        raise errors.UnimplementedError(
            f"{op}: only scalar strings are supported (tensorflux has no RaggedTensor)", op)
    return numpy_function(lambda a: [pieces(_flat(a)[0])], [x],
                          Tout=[dtypes.string])[0]


def bytes_split(input, name=None):  # noqa: A002
    """The bytes of a scalar string, as a 1-D string tensor.

    >>> from tensorflux.ops import strings
    >>> strings.bytes_split("ab").numpy().tolist()
    [b'a', b'b']
    """
    return _split_scalar("bytes_split", input,
                         lambda b: [b[i:i + 1] for i in range(builtins_len(b))])


def unicode_split(input, input_encoding, errors="replace", replacement_char=65533,  # noqa: A002
                  name=None):
    """The characters of a scalar string, each UTF-8 encoded, as a 1-D string tensor.

    >>> from tensorflux.ops import strings
    >>> strings.unicode_split("héy", "UTF-8").numpy().tolist()
    [b'h', b'\\xc3\\xa9', b'y']
    """
    encoding = input_encoding.lower()
    return _split_scalar("unicode_split", input,
                         lambda b: [c.encode(encoding) for c in b.decode(encoding, "replace")])
