"""tf.lookup: key-value tables, eagerly, in tf.function and in Dataset.map.

Static tables (StaticHashTable, StaticVocabularyTable) hold their keys and values as
constant tensors and look keys up with the `lookup_index` kernel, so a traced function
captures them like any constant. Mutable tables (experimental.MutableHashTable and
DenseHashTable) hold a Python dict that host calls (tf.py_function) read and write, in
program order inside a tf.function too.

>>> import tensorflux as tf
>>> table = tf.lookup.StaticHashTable(
...     tf.lookup.KeyValueTensorInitializer(["a", "b"], [1, 2]), default_value=-1)
>>> table.lookup(tf.constant(["b", "z"])).numpy().tolist()
[2, -1]
"""

import os
import types

from tensorflux import dtypes, errors
from tensorflux.tensor import _TensorLike, convert_to_tensor

__all__ = ["KeyValueTensorInitializer", "TextFileInitializer", "TextFileIndex",
           "StaticHashTable", "StaticVocabularyTable", "experimental"]


def _ops():
    from tensorflux.ops import array, indexing, math, strings

    return array, indexing, math, strings


def _flat(tensor):
    """A tensor's values as a flat host array (strings as bytes)."""
    return _ops()[0].reshape(tensor, [-1]).numpy()


def _checked_keys(keys, key_dtype):
    """Keys to look up as a tensor of the table's key dtype (Python values converted to
    it); a tensor of another dtype is TF's TypeError."""
    if not isinstance(keys, _TensorLike):
        keys = convert_to_tensor(keys, dtype_hint=key_dtype)
    if keys.dtype is not key_dtype:
        raise TypeError(f"Dtype of argument `keys` must be {key_dtype!r}, received: "
                        f"{keys.dtype!r}")
    return keys


def _duplicate_check(keys, values):
    """TF's error for a key given two different values (the same value twice is fine)."""
    seen = {}
    for key, value in zip(keys.tolist(), values.tolist()):
        if key in seen and seen[key] != value:
            shown = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
            raise errors.FailedPreconditionError(
                f"HashTable has different value for same key. Key {shown} has {seen[key]} "
                f"and trying to add value {value}", "LookupTableImport")
        seen[key] = value


class _Typed:
    """Key and value dtypes set at construction, as tables and file initializers give them."""

    _key_dtype = _value_dtype = None

    @property
    def key_dtype(self):
        return self._key_dtype

    @property
    def value_dtype(self):
        return self._value_dtype


# ------------------------------------------------------------------ initializers

class KeyValueTensorInitializer:
    """A table's contents from a tensor of keys and a tensor of values of the same size
    (both flattened).

    >>> import tensorflux as tf
    >>> init = tf.lookup.KeyValueTensorInitializer(["a"], [7])
    >>> init.key_dtype, init.value_dtype
    (tf.string, tf.int32)
    """

    def __init__(self, keys, values, key_dtype=None, value_dtype=None, name=None):
        self._keys = _as_tensor(keys, key_dtype)
        self._values = _as_tensor(values, value_dtype)
        self._name = name

    @property
    def key_dtype(self):
        return self._keys.dtype

    @property
    def value_dtype(self):
        return self._values.dtype

    def _contents(self):
        keys, values = _flat(self._keys), _flat(self._values)
        if keys.shape != values.shape:
            raise errors.InvalidArgumentError(
                f"Expected shape {list(keys.shape)} for value, got {list(values.shape)}",
                "LookupTableImport")
        return keys, values


def _as_tensor(value, dtype):
    """A tensor of `value`, cast to `dtype` when it is one of another dtype (as TF's
    initializers accept), else converted to it."""
    if isinstance(value, _TensorLike):
        if dtype is not None and value.dtype is not dtypes.as_dtype(dtype):
            from tensorflux.ops.math import cast

            return cast(value, dtype)
        return convert_to_tensor(value)
    return convert_to_tensor(value, dtype=dtype)


class TextFileIndex:
    """Where a text-file table reads a key or value: a column number (>= 0) of each line
    split at the delimiter, or one of these."""

    WHOLE_LINE = -2
    LINE_NUMBER = -1


class TextFileInitializer(_Typed):
    """A table's contents from a text file, one entry per line: the key and the value are
    each the whole line (WHOLE_LINE), the line number (LINE_NUMBER, plus value_index_offset
    for values) or a column of the line split at `delimiter`; only the first `vocab_size`
    lines when given.

    >>> import os, tempfile, tensorflux as tf
    >>> path = os.path.join(tempfile.mkdtemp(), "vocab.txt")
    >>> _ = open(path, "w").write("cat\\ndog\\n")
    >>> init = tf.lookup.TextFileInitializer(path, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
    ...                                      tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER)
    >>> tf.lookup.StaticHashTable(init, -1).lookup(tf.constant(["dog"])).numpy().tolist()
    [1]
    """

    def __init__(self, filename, key_dtype, key_index, value_dtype, value_index,
                 vocab_size=None, delimiter="\t", name=None, value_index_offset=0):
        self._key_dtype = dtypes.as_dtype(key_dtype)
        self._value_dtype = dtypes.as_dtype(value_dtype)
        for what, index, dtype in (("key", key_index, self._key_dtype),
                                   ("value", value_index, self._value_dtype)):
            if index < TextFileIndex.WHOLE_LINE:
                raise ValueError(f"`{what}_index` should be >= -2, received: {index}.")
            if index == TextFileIndex.LINE_NUMBER and dtype is not dtypes.int64:
                raise ValueError(f"`{what}_dtype` must be int64 if `{what}_index` is -1, "
                                 f"received: {dtype!r}")
            if index == TextFileIndex.WHOLE_LINE and not (dtype.is_integer
                                                          or dtype is dtypes.string):
                raise ValueError(f"`{what}_dtype` should be either integer or string for "
                                 f"`{what}_index` -2, received: {dtype!r}")
        if vocab_size is not None and vocab_size <= 0:
            raise ValueError(f"`vocab_size` should be > 0, received: {vocab_size}")
        if isinstance(filename, _TensorLike):
            filename = filename.numpy()
        self._filename = os.fsdecode(filename)
        self._key_index, self._value_index = key_index, value_index
        self._vocab_size = vocab_size
        self._delimiter = delimiter
        self._offset = value_index_offset
        self._name = name

    def _contents(self):
        try:
            with open(self._filename, "rb") as handle:
                lines = handle.read().split(b"\n")
        except FileNotFoundError:
            raise errors.NotFoundError(f"{self._filename}; No such file or directory",
                                       "InitializeTableFromTextFile") from None
        if lines and lines[-1] == b"":
            lines.pop()  # the newline ending the last line
        if self._vocab_size is not None:
            if len(lines) < self._vocab_size:
                raise errors.InvalidArgumentError(
                    f"Invalid vocab_size in {self._filename}: expected {self._vocab_size} "
                    f"but got {len(lines)}", "InitializeTableFromTextFile")
            lines = lines[:self._vocab_size]
        delimiter = self._delimiter.encode("utf-8")
        keys, values = [], []
        for number, line in enumerate(lines):
            if not line:
                raise errors.InvalidArgumentError(
                    f"Invalid content in {self._filename}: empty line found at position "
                    f"{number + 1}.", "InitializeTableFromTextFile")
            columns = line.split(delimiter)
            keys.append(self._field(line, columns, number, self._key_index, self._key_dtype, 0))
            values.append(self._field(line, columns, number, self._value_index,
                                      self._value_dtype, self._offset))
        return (_flat(convert_to_tensor(keys, dtype=self._key_dtype)),
                _flat(convert_to_tensor(values, dtype=self._value_dtype)))

    def _field(self, line, columns, number, index, dtype, offset):
        if index == TextFileIndex.LINE_NUMBER:
            return number + offset
        if index == TextFileIndex.WHOLE_LINE:
            text = line
        elif index < len(columns):
            text = columns[index]
        else:
            raise errors.InvalidArgumentError(
                f"Invalid number of columns in {self._filename} line {number} "
                f"({line.decode('utf-8', 'replace')}) : expected at least {index + 1} got "
                f"{len(columns)}", "InitializeTableFromTextFile")
        if dtype is dtypes.string:
            return text
        try:
            return int(text) if dtype.is_integer else float(text)
        except ValueError:
            raise errors.InvalidArgumentError(
                f"Field {text.decode('utf-8', 'replace')} in line {number} is not a valid "
                f"{dtype.name}.", "InitializeTableFromTextFile") from None


# ------------------------------------------------------------------ static tables

class _Table(_Typed):
    """What every table offers: its dtypes, `table[keys]` for lookup, and a name."""

    _name = None

    @property
    def name(self):
        return self._name

    def __getitem__(self, keys):
        return self.lookup(keys)


class StaticHashTable(_Table):
    """An immutable table filled by an initializer; keys it lacks map to default_value
    (a scalar of the value dtype).

    >>> import tensorflux as tf
    >>> table = tf.lookup.StaticHashTable(
    ...     tf.lookup.KeyValueTensorInitializer([3, 5], [0.5, 1.5]), default_value=0.0)
    >>> table.lookup(tf.constant([5, 4])).numpy().tolist(), int(table.size())
    ([1.5, 0.0], 2)
    """

    def __init__(self, initializer, default_value, name=None, experimental_is_anonymous=False):
        self._key_dtype, self._value_dtype = initializer.key_dtype, initializer.value_dtype
        keys, values = initializer._contents()
        _duplicate_check(keys, values)
        self._default_value = convert_to_tensor(default_value, dtype=self._value_dtype)
        if self._default_value.shape.rank != 0:
            raise ValueError(f"Shapes {self._default_value.shape} and () are not compatible: "
                             "a StaticHashTable's default_value is a scalar")
        self._keys = convert_to_tensor(keys, dtype=self._key_dtype)
        self._values = convert_to_tensor(values, dtype=self._value_dtype)
        self._name = name
        self._initializer = initializer

    @property
    def default_value(self):
        return self._default_value

    def size(self, name=None):
        """The number of entries (int64)."""
        return convert_to_tensor(int(self._keys.shape[0]), dtype=dtypes.int64)

    def lookup(self, keys, name=None):
        """The value of each key (any shape), default_value where the table lacks it."""
        keys = _checked_keys(keys, self._key_dtype)
        return _static_lookup(keys, self._keys, self._values, self._default_value)

    def export(self, name=None):
        """(keys, values): every entry, as two 1-D tensors."""
        return self._keys, self._values


def _static_lookup(keys, table_keys, table_values, default):
    """Each key's value in the 1-D table, or `default` (a scalar tensor) where absent."""
    array, indexing, math, strings = _ops()
    fallback = array.broadcast_to(default, array.shape(keys))
    if table_keys.shape[0] == 0:
        return fallback
    position = strings.lookup_index(keys, table_keys)
    found = indexing.gather(table_values, math.maximum(position, 0))
    return math.where(math.greater_equal(position, 0), found, fallback)


class StaticVocabularyTable(_Table):
    """An immutable table from string or int64 keys to int64 ids: the initializer's ids for
    the keys it has, and for the others one of num_oov_buckets ids after the table's size,
    chosen by FarmHash Fingerprint64 of the key (of its decimal text for integers), as
    TensorFlow's buckets.

    >>> import tensorflux as tf
    >>> init = tf.lookup.KeyValueTensorInitializer(["a", "b"], tf.constant([0, 1], tf.int64))
    >>> table = tf.lookup.StaticVocabularyTable(init, num_oov_buckets=3)
    >>> table.lookup(tf.constant(["b", "zebra"])).numpy().tolist(), int(table.size())
    ([1, 4], 5)
    """

    def __init__(self, initializer, num_oov_buckets, lookup_key_dtype=None, name=None,
                 experimental_is_anonymous=False):
        if num_oov_buckets <= 0:
            raise ValueError("`num_oov_buckets` must be > 0; use StaticHashTable.")
        key_dtype, value_dtype = initializer.key_dtype, initializer.value_dtype
        if key_dtype not in (dtypes.int64, dtypes.string):
            raise TypeError(f"Invalid `key_dtype`, expected one of (tf.int64, tf.string), but "
                            f"got {key_dtype!r}.")
        if value_dtype is not dtypes.int64:
            raise TypeError(f"Invalid `value_dtype`, expected {dtypes.int64!r} but got "
                            f"{value_dtype!r}.")
        if lookup_key_dtype is not None:
            lookup_key_dtype = dtypes.as_dtype(lookup_key_dtype)
            if key_dtype is dtypes.string or not lookup_key_dtype.is_integer:
                raise TypeError(f"Invalid `lookup_key_dtype` {lookup_key_dtype!r} for a table "
                                f"of {key_dtype!r} keys")
        self._table = StaticHashTable(initializer, -1)
        self._num_oov_buckets = int(num_oov_buckets)
        self._key_dtype = lookup_key_dtype or key_dtype
        self._value_dtype = dtypes.int64
        self._name = name

    def size(self, name=None):
        """The number of ids: the table's entries plus the OOV buckets (int64)."""
        return convert_to_tensor(int(self._table.size()) + self._num_oov_buckets,
                                 dtype=dtypes.int64)

    def lookup(self, keys, name=None):
        array, indexing, math, strings = _ops()
        keys = _checked_keys(keys, self._key_dtype)
        if keys.dtype is not self._table.key_dtype:
            keys = math.cast(keys, self._table.key_dtype)
        ids = self._table.lookup(keys)
        text = keys if keys.dtype is dtypes.string else strings.as_string(keys)
        buckets = math.add(strings.to_hash_bucket_fast(text, self._num_oov_buckets),
                           self._table.size())
        return math.where(math.greater_equal(ids, 0), ids, buckets)


# ------------------------------------------------------------------ mutable tables

class MutableHashTable(_Table):
    """A table that insert and remove change; keys it lacks map to default_value, whose
    shape is the shape of each value. Its entries live in a Python dict that host calls
    read and write, so changes made inside a tf.function happen in program order.

    >>> import tensorflux as tf
    >>> table = tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, default_value=-1)
    >>> table.insert(["a", "b"], tf.constant([1, 2], tf.int64))
    >>> table.remove(["a"])
    >>> table.lookup(["a", "b"]).numpy().tolist(), int(table.size())
    ([-1, 2], 1)
    """

    def __init__(self, key_dtype, value_dtype, default_value, name="MutableHashTable",
                 checkpoint=True, experimental_is_anonymous=False):
        self._key_dtype = dtypes.as_dtype(key_dtype)
        self._value_dtype = dtypes.as_dtype(value_dtype)
        self._default = convert_to_tensor(default_value, dtype=self._value_dtype)
        self._value_shape = self._default.shape
        self._name = name
        self._entries = {}

    # -- host-side work on the dict: eager tensors in, Python lists out
    def _rows(self, tensor, shape):
        """A tensor's values as a list of rows of `shape` (scalars for shape [])."""
        return _flat(tensor).reshape([-1] + list(shape)).tolist()

    def _check_keys(self, keys):
        """Refuses keys the table may not hold (DenseHashTable's reserved keys)."""

    def _host_insert(self, keys, values):
        expected = list(keys.shape) + list(self._value_shape)
        if list(values.shape) != expected:
            raise errors.InvalidArgumentError(
                f"Expected shape {expected} for value, got {list(values.shape)}",
                "LookupTableInsert")
        keys = self._rows(keys, [])
        self._check_keys(keys)
        self._entries.update(zip(keys, self._rows(values, self._value_shape)))

    def _host_remove(self, keys):
        keys = self._rows(keys, [])
        self._check_keys(keys)
        for key in keys:
            self._entries.pop(key, None)

    def _host_lookup(self, keys, defaults):
        """Each key's row; where absent, `defaults`' row (one for all keys, or one per
        key)."""
        keys = self._rows(keys, [])
        defaults = self._rows(defaults, self._value_shape)
        shared = len(defaults) != len(keys)
        return [self._entries.get(key, defaults[0] if shared else defaults[i])
                for i, key in enumerate(keys)]

    def _call(self, func, inputs, touts):
        from tensorflux.control import py_function

        return py_function(func, inputs, touts)

    # -- the public methods
    def size(self, name=None):
        """The number of entries (int64)."""
        count = self._call(lambda: len(self._entries), [], dtypes.int64)
        return _ops()[0].reshape(count, [])

    def insert(self, keys, values, name=None):
        """Sets the value of each key (values: keys' shape + the value shape)."""
        keys = convert_to_tensor(keys, dtype=self._key_dtype)
        values = convert_to_tensor(values, dtype=self._value_dtype)
        self._call(self._host_insert, [keys, values], None)

    def remove(self, keys, name=None):
        """Removes the keys that are present (the others are ignored)."""
        keys = _checked_keys(keys, self._key_dtype)
        self._call(self._host_remove, [keys], None)

    def lookup(self, keys, dynamic_default_values=None, name=None):
        """The value of each key (keys' shape + the value shape); where absent,
        default_value, or the matching entry of dynamic_default_values when given."""
        keys = convert_to_tensor(keys, dtype=self._key_dtype)
        default = self._default if dynamic_default_values is None else convert_to_tensor(
            dynamic_default_values, dtype=self._value_dtype)
        (found,) = self._call(lambda k, d: [self._host_lookup(k, d)], [keys, default],
                              [self._value_dtype])
        return _shaped(found, keys, self._value_shape)

    def export(self, name=None):
        """(keys, values) of every entry, in insertion order."""
        keys, values = self._call(lambda: (list(self._entries), list(self._entries.values())),
                                  [], [self._key_dtype, self._value_dtype])
        array = _ops()[0]
        return (array.reshape(keys, [-1]),
                array.reshape(values, [-1] + list(self._value_shape)))


def _shaped(result, keys, value_shape):
    """A host call's result with its static shape, keys' shape + the value shape (a traced
    host call's result shape is unknown)."""
    array = _ops()[0]
    value_shape = list(value_shape)
    if keys.shape.is_fully_defined():
        return array.reshape(result, list(keys.shape) + value_shape)
    target = array.concat([array.shape(keys), convert_to_tensor(value_shape, dtype=dtypes.int32)],
                          axis=0)
    return array.reshape(result, target)


class DenseHashTable(MutableHashTable):
    """MutableHashTable with two reserved keys, empty_key and deleted_key, that may not be
    inserted (TensorFlow's open-addressing table; export gives the entries, not buckets)."""

    def __init__(self, key_dtype, value_dtype, default_value, empty_key, deleted_key,
                 initial_num_buckets=None, name="MutableDenseHashTable", checkpoint=True,
                 experimental_is_anonymous=False):
        super().__init__(key_dtype, value_dtype, default_value, name, checkpoint)
        self._reserved = {}
        for what, key in (("empty_key", empty_key), ("deleted_key", deleted_key)):
            self._reserved[what] = _flat(convert_to_tensor(key, dtype=self._key_dtype)).tolist()[0]
        if self._reserved["empty_key"] == self._reserved["deleted_key"]:
            raise errors.InvalidArgumentError("Empty and deleted keys must have different "
                                              "values", "MutableDenseHashTable")

    def _check_keys(self, keys):
        for what, reserved in self._reserved.items():
            if reserved in keys:
                raise errors.InvalidArgumentError(
                    f"Using the {what} as a table key is not allowed", "LookupTableInsert")

    def erase(self, keys, name=None):
        """Removes the keys that are present (TF's name for DenseHashTable.remove)."""
        self.remove(keys)

    insert_or_assign = MutableHashTable.insert


experimental = types.SimpleNamespace(MutableHashTable=MutableHashTable,
                                     DenseHashTable=DenseHashTable)
