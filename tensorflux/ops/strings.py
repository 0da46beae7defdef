"""String ops (tf.strings subset) for text preprocessing, and the index lookup of vocabularies.

tensorflux has no RaggedTensor: `split` and `ngrams` return a dense tensor padded with b""
plus the row lengths (int64), which is what TextVectorization needs internally. The strings
are bytes in NumPy object arrays; lower is ASCII-only (tf.strings.lower with encoding="");
regex_replace uses Python's `re` on bytes, which agrees with RE2 for ordinary patterns.
"""

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
