"""tf.compat: text/bytes conversions, the v1 preamble subset (tf.compat.v1) and tf.compat.v2.

`tf.compat.v2` is tensorflux itself (its API is TF2's). `tf.compat.v1` holds the TF1 names
that TF2 scripts still call at the top (logging verbosity, ConfigProto, set_random_seed); the
graph-and-session API itself raises errors that say what to use instead.

>>> import tensorflux as tf
>>> tf.compat.as_bytes("é"), tf.compat.as_text(b"\\xc3\\xa9")
(b'\\xc3\\xa9', 'é')
"""

import numbers as _numbers
import os as _os

__all__ = ["as_bytes", "as_text", "as_str", "as_str_any", "path_to_str", "bytes_or_text_types",
           "integral_types", "real_types", "complex_types", "dimension_value",
           "dimension_at_index", "forward_compatible", "forward_compatibility_horizon", "v1",
           "v2"]

# (NumPy registers its scalar types with these abstract base classes.)
bytes_or_text_types = (bytes, str)
integral_types = (_numbers.Integral,)
real_types = (_numbers.Real,)
complex_types = (_numbers.Complex,)


def as_bytes(bytes_or_text, encoding="utf-8"):
    """`bytes_or_text` as bytes: str is encoded, bytes and bytearray are returned as bytes."""
    if isinstance(bytes_or_text, bytearray):
        return bytes(bytes_or_text)
    if isinstance(bytes_or_text, str):
        return bytes_or_text.encode(encoding)
    if isinstance(bytes_or_text, bytes):
        return bytes_or_text
    raise TypeError(f"Expected binary or unicode string, got {bytes_or_text!r}")


def as_text(bytes_or_text, encoding="utf-8"):
    """`bytes_or_text` as str: bytes are decoded, str is returned as it is."""
    if isinstance(bytes_or_text, str):
        return bytes_or_text
    if isinstance(bytes_or_text, bytes):
        return bytes_or_text.decode(encoding)
    raise TypeError(f"Expected binary or unicode string, got {bytes_or_text!r}")


as_str = as_text


def as_str_any(value, encoding="utf-8"):
    """str(value), with bytes decoded rather than shown as b'...'."""
    if isinstance(value, bytes):
        return as_str(value, encoding)
    return str(value)


def path_to_str(path):
    """A path-like object (pathlib.Path) as its str (bytes paths stay bytes)."""
    if isinstance(path, _os.PathLike):
        return _os.fspath(path)
    return path


def dimension_value(dimension):
    """The int (or None) of a TensorShape entry; tensorflux's entries already are ints."""
    return getattr(dimension, "value", dimension)


def dimension_at_index(shape, index):
    """shape[index] of a TensorShape-like `shape`, None when its rank is unknown."""
    from tensorflux.tensor_shape import TensorShape

    shape = TensorShape(shape)
    if shape.rank is None:
        return None
    return shape[index]


def forward_compatible(year, month, day):
    """True: tensorflux has no forward-compatibility window to wait for."""
    return True


def forward_compatibility_horizon(year, month, day):
    """A context manager that changes nothing (see forward_compatible)."""
    import contextlib

    return contextlib.nullcontext()


def __getattr__(name):
    import importlib
    import sys

    if name == "v1":
        value = importlib.import_module("tensorflux.compat.v1")
    elif name == "v2":
        value = sys.modules["tensorflux"]
    else:
        raise AttributeError(f"module 'tensorflux.compat' has no attribute {name!r}")
    globals()[name] = value
    return value
