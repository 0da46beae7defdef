"""The file sources of tf.data: how they name files, TextLineDataset, list_files, and CSV
(tf.data.experimental.CsvDataset and make_csv_dataset).

Every file source takes its `filenames` as TensorFlow's do: a path (str, bytes, os.PathLike
or a scalar string tensor, as `interleave` and `flat_map` hand them), a list, array or string
tensor of paths, or a Dataset of scalar strings. The CSV fields are parsed by tf.io's
decode_csv rules (tensorflux/io/codecs.py); make_csv_dataset infers column names and types
from the files as TensorFlow does.
"""

import bz2
import collections
import csv
import glob
import gzip
import itertools
import os
import re
import zlib

import numpy as np

import tensorflux as tf
from tensorflux import errors
from tensorflux.data import _structure as structure
from tensorflux.data.dataset import AUTOTUNE, Dataset
from tensorflux.io.codecs import _csv_default, _csv_fields, _csv_value
from tensorflux.tensor import _is_dense_tensor

__all__ = ["CsvDataset", "TextLineDataset", "check_filenames", "list_files",
           "make_csv_dataset"]


# ------------------------------------------------------------------ file names

def _path_list(op, filenames):
    """The paths `filenames` names (a Dataset of them is read when a pass starts)."""
    if isinstance(filenames, Dataset):
        check_filenames(op, filenames)
        return [_path(op, leaf) for leaf in filenames._iterate()]
    paths = []
    _collect_paths(op, filenames, paths)
    return paths


def check_filenames(op, filenames):
    """TypeError, when a file dataset is made, for `filenames` that are not strings."""
    if not isinstance(filenames, Dataset):
        _path_list(op, filenames)
        return
    spec = filenames.element_spec
    dtype = getattr(spec, "dtype", None)
    if dtype is not tf.string:
        got = f"`{dtype!r}`" if dtype is not None else f"`{spec!r}`"
        raise TypeError("The `filenames` argument must contain `tf.string` elements. Got a "
                        f"dataset of {got} elements.")
    if spec.shape.rank != 0:
        raise TypeError("The `filenames` argument must contain `tf.string` elements of shape "
                        "[] (i.e. scalars). Got a dataset of element shape "
                        f"{spec.shape!r}.")


def _not_strings(value):
    try:
        got = f"`{tf.convert_to_tensor(value).dtype!r}` elements"
    except Exception:  # noqa: BLE001 - only for the message
        got = f"{value!r} of type {type(value).__name__}"
    return TypeError(f"The `filenames` argument must contain `tf.string` elements. Got {got}.")


def _collect_paths(op, value, paths):
    if isinstance(value, (str, bytes, os.PathLike)):
        paths.append(_path(op, value))
    elif _is_dense_tensor(value) or isinstance(value, np.ndarray):
        array = np.asarray(value._numpy() if _is_dense_tensor(value) else value)
        if array.dtype.kind not in "OSU":
            raise _not_strings(value)
        paths.extend(_path(op, name) for name in array.reshape(-1).tolist())
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect_paths(op, item, paths)
    else:
        raise _not_strings(value)


def _path(op, name):
    if isinstance(name, np.ndarray):
        name = name.item()
    if isinstance(name, bytes):
        name = name.decode("utf-8")
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(f"{op}: `filenames` must be strings, received {name!r}")
    return os.fspath(name)


_GLOB_MAGIC = re.compile(r"[*?[]")


def glob_files(pattern):
    """The paths matching one glob pattern, named as TensorFlow names them: a pattern whose
    wildcards come before any directory part gives paths under "./"."""
    matches = glob.glob(pattern)
    magic = _GLOB_MAGIC.search(pattern)
    if magic and not any(sep in pattern[:magic.start()] for sep in ("/", os.sep)):
        matches = [os.path.join(".", path) for path in matches]
    return matches


def list_files(file_pattern, shuffle, seed):
    """The files matching one or more glob patterns, as a dataset of path strings, sorted,
    then shuffled (each pass anew) unless `shuffle=False`."""
    patterns = _path_list("list_files", file_pattern)
    matches = sorted({path for pattern in patterns for path in glob_files(pattern)})
    if not matches:
        raise errors.InvalidArgumentError(
            f"Expected 'tf.Tensor(False, shape=(), dtype=bool)' to be true. Summarized data: "
            f"b'No files matched pattern: {', '.join(patterns)}'", "list_files")
    dataset = _names_dataset(matches)
    if shuffle is None or shuffle:
        dataset = dataset.shuffle(len(matches), seed=seed)
    return dataset


def _names_dataset(paths):
    return Dataset.from_tensor_slices(np.asarray([p.encode() for p in paths], dtype=object))


# ------------------------------------------------------------------ reading files

_COMPRESSIONS = ("", "GZIP", "ZLIB", "BZ2")


def _compression(op, compression_type):
    name = compression_type.numpy().decode() if _is_dense_tensor(compression_type) else \
        (compression_type or "")
    if name.upper() not in _COMPRESSIONS[:3]:
        raise errors.InvalidArgumentError(f"Unsupported compression_type: {name}.", op)
    return name.upper()


def read_file(op, path, compression):
    """The (decompressed) bytes of one file; NotFoundError naming it if it is missing."""
    try:
        if compression == "ZLIB":
            with open(path, "rb") as handle:
                return zlib.decompress(handle.read())
        opener = {"": open, "GZIP": gzip.open, "BZ2": bz2.open}[compression]
        with opener(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise errors.NotFoundError(f"{path}; No such file or directory", op) from None


def _cell(value):
    cell = np.empty((), dtype=object)
    cell[()] = value
    return cell


def _parallel_reads(op, value):
    if value is None:
        return None
    value = int(value.numpy() if _is_dense_tensor(value) else value)
    if value != AUTOTUNE and value <= 0:
        raise errors.InvalidArgumentError(
            f"{op}: num_parallel_reads must be positive or tf.data.AUTOTUNE, received {value}",
            op)
    return value


class RecordFiles(Dataset):
    """A source whose elements are the records of a list of files, `_records(path)` each.
    With num_parallel_reads, files are read as tf.data reads them: that many interleaved
    one record at a time, in a fixed order."""

    def __init__(self, op, filenames, num_parallel_reads, spec):
        check_filenames(op, filenames)
        self._op = op
        self._filenames = filenames
        self._parallel = _parallel_reads(op, num_parallel_reads)
        self._spec = spec

    def _read(self, path):
        """The records of one file, as bytes (for the sources of string records)."""
        raise NotImplementedError

    def _records(self, path):
        for record in self._read(path):
            yield _cell(record)

    def _iterate(self):
        paths = _path_list(self._op, self._filenames)
        if self._parallel is None or not paths:
            for path in paths:
                yield from self._records(path)
            return
        files = _names_dataset(paths).interleave(
            lambda name: _OneFile(self, name.numpy().decode()), cycle_length=self._parallel,
            block_length=1, num_parallel_calls=self._parallel)
        yield from files._iterate()


class _OneFile(Dataset):
    def __init__(self, owner, path):
        self._owner = owner
        self._path = path
        self._spec = owner._spec

    def _iterate(self):
        return self._owner._records(self._path)


_LINE_ENDS = re.compile(rb"\r\n|\n|\r")


class TextLineDataset(RecordFiles):
    """The lines of one or more text files, without their line endings (\\n or \\r\\n).

    >>> import os, tempfile
    >>> from tensorflux import data
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> _ = open(path, "w").write("one\\ntwo\\n")
    >>> [line.decode() for line in data.TextLineDataset(path).as_numpy_iterator()]
    ['one', 'two']
    """

    def __init__(self, filenames, compression_type=None, buffer_size=None,
                 num_parallel_reads=None, name=None):
        super().__init__("TextLineDataset", filenames, num_parallel_reads,
                         tf.TensorSpec((), tf.string))
        self._compression_type = compression_type

    def _read(self, path):
        compression = (self._compression_type or "").upper()
        if compression not in _COMPRESSIONS:
            raise errors.InvalidArgumentError(
                f"TextLineDataset: compression_type must be '', 'GZIP' or 'ZLIB', received "
                f"{self._compression_type!r}", "TextLineDataset")
        lines = read_file("TextLineDataset", path, compression).split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        for line in lines:
            yield line[:-1] if line.endswith(b"\r") else line


# ------------------------------------------------------------------ CSV

def _csv_records(data, quoted):
    """The records of a CSV file's bytes: its lines (ended by \\n, \\r\\n or \\r), where a
    line end inside a double-quoted field (with `quoted`) stays in its record."""
    start = scanned = 0
    in_quotes = False
    for end in _LINE_ENDS.finditer(data):
        if quoted:
            in_quotes ^= data.count(b'"', scanned, end.start()) % 2 == 1
            scanned = end.end()
            if in_quotes:
                continue
        yield data[start:end.start()]
        start = end.end()
    if start < len(data):
        yield data[start:]


def _increasing(op, name, columns):
    columns = [int(c) for c in columns]
    if any(c < 0 for c in columns):
        raise errors.InvalidArgumentError(f"{name} should be non-negative indices", op)
    if any(b <= a for a, b in zip(columns, columns[1:])):
        raise errors.InvalidArgumentError(f"{name} should be strictly increasing indices", op)
    return columns


class CsvDataset(RecordFiles):
    """The records of CSV files as tuples of scalars, one per `record_defaults` entry.

    An entry is a default value (its dtype, float32, float64, int32, int64 or string, is the
    column's), or a dtype for a required column. `select_cols` (increasing indices) or
    `exclude_cols` pick the file's columns; a field that is empty or equal to `na_value`
    takes the default; with `header` the first line of each file is skipped. Fields may be
    double-quoted (then they may hold the delimiter, line ends, and "" for a quote).

    >>> import os, tempfile
    >>> import tensorflux as tf
    >>> path = os.path.join(tempfile.mkdtemp(), "a.csv")
    >>> _ = open(path, "w").write("n,x\\n1,2.5\\n2,\\n")
    >>> ds = tf.data.experimental.CsvDataset(path, [tf.int32, -1.0], header=True)
    >>> [(int(n), float(x)) for n, x in ds]
    [(1, 2.5), (2, -1.0)]
    """

    def __init__(self, filenames, record_defaults, compression_type=None, buffer_size=None,
                 header=False, field_delim=",", use_quote_delim=True, na_value="",
                 select_cols=None, exclude_cols=None, name=None):
        op = "CsvDataset"
        self._columns = [_csv_default(op, default) for default in record_defaults]
        super().__init__(op, filenames, None,
                         tuple(tf.TensorSpec((), dtype) for dtype, _ in self._columns))
        self._compression = _compression(op, compression_type)
        delim = field_delim.encode("utf-8") if isinstance(field_delim, str) else field_delim
        if len(delim) != 1:
            raise errors.InvalidArgumentError("field_delim should be only 1 char", op)
        self._delim = delim
        self._quoted = bool(use_quote_delim)
        self._na = na_value.encode("utf-8") if isinstance(na_value, str) else bytes(na_value)
        self._header = bool(header)
        self._select = None if select_cols is None else _increasing(op, "select_cols",
                                                                     select_cols)
        self._exclude = None if exclude_cols is None else _increasing(op, "exclude_cols",
                                                                      exclude_cols)
        if self._select is not None and len(self._select) != len(self._columns):
            raise errors.InvalidArgumentError("select_cols should match output size", op)
        if self._select and self._exclude:
            raise errors.InvalidArgumentError(
                "Either select_cols or exclude_cols should be empty", op)
        self._holders = [structure.numpy_dtype(dtype) for dtype, _ in self._columns]

    def _records(self, path, on_error=None):
        """The elements of one file; a bad record raises, or goes to `on_error` and is
        skipped (ignore_errors)."""
        data = read_file(self._op, path, self._compression)
        records = _csv_records(data, self._quoted)
        if self._header and next(records, None) is None:
            raise errors.InvalidArgumentError(f"Can't read header of file {path}", self._op)
        for index, record in enumerate(records):
            try:
                element = self._parse(record, index)
            except errors.InvalidArgumentError as error:
                if on_error is None:
                    raise
                on_error(error)
                continue
            yield element

    def _iterate_skipping_errors(self, on_error):
        for path in _path_list(self._op, self._filenames):
            try:
                yield from self._records(path, on_error)
            except errors.OpError as error:  # an unreadable file: on to the next one
                on_error(error)

    def _fields(self, record, index):
        fields = _csv_fields(record, self._delim, self._quoted, index) or [b""]
        count = len(self._columns)
        if self._select is not None:
            if len(fields) <= self._select[-1]:
                raise errors.InvalidArgumentError(
                    f"Expect {self._select[-1] + 1} fields but have {len(fields)} in record "
                    f"{index}", self._op)
            return [fields[c] for c in self._select]
        if self._exclude:
            count += len(self._exclude)
        if len(fields) != count:
            raise errors.InvalidArgumentError(
                f"Expect {count} fields but have {len(fields)} in record {index}", self._op)
        if self._exclude:
            excluded = set(self._exclude)
            return [f for c, f in enumerate(fields) if c not in excluded]
        return fields

    def _parse(self, record, index):
        values = []
        for column, (text, (dtype, default), holder) in enumerate(
                zip(self._fields(record, index), self._columns, self._holders)):
            if not text or text == self._na:
                if default is None:
                    raise errors.InvalidArgumentError(
                        f"Field {column} is required but missing in record {index}!",
                        self._op)
                value = default
            else:
                value = _csv_value(dtype, text, column, index)
            if dtype is tf.string:
                values.append(_cell(value.encode("utf-8") if isinstance(value, str) else value))
            else:
                values.append(np.asarray(value, dtype=holder))
        return tuple(values)


# ------------------------------------------------------------------ make_csv_dataset

def _csv_file_names(file_pattern):
    patterns = list(file_pattern) if isinstance(file_pattern, (list, tuple)) else \
        [file_pattern]
    if not patterns:
        raise ValueError("Argument `file_pattern` should not be empty.")
    names = [name for pattern in _path_list("make_csv_dataset", patterns)
             for name in glob_files(pattern)]
    if not names:
        raise ValueError(f"No files match `file_pattern` {file_pattern}.")
    return sorted(names)


class _CsvProbe:
    """Reads the first rows of CSV files (with Python's csv module, as TensorFlow does) to
    infer column names and types."""

    def __init__(self, compression_type, encoding, field_delim, use_quote_delim):
        name = (compression_type or "") if not _is_dense_tensor(compression_type) else \
            compression_type.numpy().decode()
        if name == "ZLIB":
            raise ValueError(f"`compression_type` {compression_type} is not supported for "
                             "probing columns.")
        if name not in ("", "GZIP"):
            raise ValueError(f"Received unknown `compression_type` {compression_type}. "
                             "Expected: GZIP, ZLIB or  (empty string).")
        self._compression = name
        self._encoding = encoding
        self._format = {"delimiter": field_delim,
                        "quoting": csv.QUOTE_MINIMAL if use_quote_delim else csv.QUOTE_NONE}

    def rows(self, path):
        """The rows of one file, read as it goes (the probes need only the first ones)."""
        opener = gzip.open if self._compression == "GZIP" else open
        try:
            with opener(path, "rt", encoding=self._encoding, newline="") as handle:
                yield from csv.reader(handle, **self._format)
        except FileNotFoundError:
            raise errors.NotFoundError(f"{path}; No such file or directory",
                                       "make_csv_dataset") from None

    def column_names(self, paths):
        names = None
        for path in paths:
            header = next(self.rows(path), None)
            if header is None:
                raise ValueError(f"Failed when reading the header line of {path}. Is it an "
                                 "empty file?")
            if names is None:
                names = header
            elif header != names:
                raise ValueError("All input CSV files should have the same column names in "
                                 f"the header row. File {path} has different column names.")
        return names

    def _numbered_rows(self, paths, header, count):
        for path in paths:
            rows = self.rows(path)
            if header:
                next(rows, None)
            for number, row in enumerate(rows, start=2 if header else 1):
                if len(row) != count:
                    raise ValueError(f"Problem inferring types: CSV row {number} has "
                                     f"{len(row)} number of fields. Expected: {count}.")
                yield row

    def column_types(self, paths, count, columns, header, na_value, limit):
        """The inferred dtype of each of `columns`, from the first `limit` rows (all the
        rows with None) of the files together."""
        found = [None] * len(columns)
        for row in itertools.islice(self._numbered_rows(paths, header, count), limit):
            for j, column in enumerate(columns):
                found[j] = _infer_type(row[column], na_value, found[j])
        return [t or tf.string for t in found]


_INFERABLE = (tf.int32, tf.int64, tf.float32, tf.float64, tf.string)


def _parses_as(text, dtype):
    if dtype is tf.string:
        return True
    try:
        if dtype.is_integer:
            bits = 31 if dtype is tf.int32 else 63
            return -(1 << bits) <= int(text) < (1 << bits)
        value = float(text)
    except ValueError:
        return False
    if dtype is tf.float32:
        with np.errstate(over="ignore"):
            value = np.float32(value)
    return value < np.inf


def _infer_type(text, na_value, previous):
    """The narrowest of int32, int64, float32, float64, string that holds `text` and every
    value of the column seen before (of type `previous`)."""
    if text in ("", na_value):
        return previous
    first = 0 if previous is None else _INFERABLE.index(previous)
    return next(t for t in _INFERABLE[first:] if _parses_as(text, t))


def _column_indices(select_columns, names):
    indices = []
    for column in select_columns:
        if isinstance(column, int):
            if not 0 <= column < len(names):
                raise ValueError(f"Column index {column} specified in `select_columns` should "
                                 f"be >= 0 and < {len(names)}, which is the number of "
                                 "columns.")
            indices.append(column)
        elif column in names:
            indices.append(names.index(column))
        else:
            raise ValueError(f"Column {column} specified in `select_columns` must be of one "
                             f"of the columns: {list(names)}.")
    duplicates = {names[i] for i in indices if indices.count(i) > 1}
    if duplicates:
        raise ValueError(f"The `select_columns` argument contains duplicate columns: "
                         f"{duplicates}.")
    return sorted(indices)


def make_csv_dataset(file_pattern, batch_size, column_names=None, column_defaults=None,
                     label_name=None, select_columns=None, field_delim=",",
                     use_quote_delim=True, na_value="", header=True, num_epochs=None,
                     shuffle=True, shuffle_buffer_size=10000, shuffle_seed=None,
                     prefetch_buffer_size=None, num_parallel_reads=None, sloppy=False,
                     num_rows_for_inference=100, compression_type=None, ignore_errors=False,
                     encoding="utf-8"):
    """Batches of CSV records as (features, label) pairs: `features` an OrderedDict from
    column name to a batch of values, `label` the `label_name` column (without a label
    name, the OrderedDict alone).

    Column names come from the header row unless given; column types from
    `column_defaults` or, as TensorFlow infers them, from the first
    `num_rows_for_inference` rows (int32, int64, float32, float64 or string; a missing
    value then reads as 0 or ""). The files are shuffled, then the records in a buffer of
    `shuffle_buffer_size` (unless `shuffle=False`), repeated `num_epochs` times (forever by
    default, then every batch is full) and batched.

    >>> import os, tempfile
    >>> import tensorflux as tf
    >>> path = os.path.join(tempfile.mkdtemp(), "a.csv")
    >>> _ = open(path, "w").write("x,name,y\\n1.5,a,0\\n2,b,1\\n")
    >>> ds = tf.data.experimental.make_csv_dataset(path, batch_size=2, label_name="y",
    ...                                            num_epochs=1, shuffle=False)
    >>> features, label = next(iter(ds))
    >>> list(features), features["x"].numpy().tolist(), label.dtype.name
    (['x', 'name'], [1.5, 2.0], 'int32')
    """
    paths = _csv_file_names(file_pattern)
    dataset = _names_dataset(paths)
    if shuffle:
        dataset = dataset.shuffle(len(paths), shuffle_seed)
    probe = None
    if column_names is None or column_defaults is None:
        probe = _CsvProbe(compression_type, encoding, field_delim, use_quote_delim)
    if column_names is None:
        if not header:
            raise ValueError("Expected `column_names` or `header` arguments. Neither is "
                             "provided.")
        column_names = probe.column_names(paths)
    column_names = list(column_names)
    duplicates = {n for n in column_names if column_names.count(n) > 1}
    if duplicates:
        raise ValueError("Either `column_names` argument or CSV header row contains duplicate "
                         f"column names: {duplicates}.")
    if select_columns is not None:
        select_columns = _column_indices(select_columns, column_names)
    if column_defaults is not None:
        column_defaults = list(column_defaults)
    else:
        columns = select_columns if select_columns is not None else range(len(column_names))
        types = probe.column_types(paths, len(column_names), list(columns), header, na_value,
                                   num_rows_for_inference)
        column_defaults = [tf.constant([""] if t is tf.string else [0], dtype=t)
                           for t in types]
    if select_columns is not None:
        if len(column_defaults) != len(select_columns):
            raise ValueError("If specified, `column_defaults` and `select_columns` must have "
                             f"the same length: `column_defaults` has length "
                             f"{len(column_defaults)}, `select_columns` has length "
                             f"{len(select_columns)}.")
        column_names = [column_names[i] for i in select_columns]
    if label_name is not None and label_name not in column_names:
        raise ValueError(f"`label_name` provided must be one of the columns: {column_names}. "
                         f"Received: {label_name}.")

    def file_records(filename):
        records = CsvDataset(filename, column_defaults, compression_type=compression_type,
                             header=header, field_delim=field_delim,
                             use_quote_delim=use_quote_delim, na_value=na_value,
                             select_cols=select_columns)
        return records.ignore_errors() if ignore_errors else records

    def to_features(*columns):
        features = collections.OrderedDict(zip(column_names, columns))
        if label_name is None:
            return features
        label = features.pop(label_name)
        return features, label

    if num_parallel_reads == AUTOTUNE:
        dataset = dataset.interleave(file_records, num_parallel_calls=AUTOTUNE)
    else:
        dataset = dataset.interleave(file_records, cycle_length=num_parallel_reads or 1,
                                     block_length=1)
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer_size, shuffle_seed)
    if num_epochs != 1:
        dataset = dataset.repeat(num_epochs)
    dataset = dataset.batch(batch_size, drop_remainder=num_epochs is None)
    dataset = dataset.map(to_features)
    return dataset.prefetch(AUTOTUNE if prefetch_buffer_size is None else prefetch_buffer_size)
