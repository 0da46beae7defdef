"""What fit/evaluate/predict iterate over: a DataAdapter per input kind (arrays, Python
generators, keras.utils.PyDataset, and any registered later, e.g. tf.data), the epoch iterator,
and Keras's data helpers (validation split, class weights, x/y/sample_weight packing)."""

import itertools
import math
import numbers
import operator
import sys
import types
import warnings

import tensorflux as tf
from tensorflux.keras import backend
from tensorflux.tensor import _is_dense_tensor

__all__ = [
    "ArrayDataAdapter", "DataAdapter", "DatasetAdapter", "EpochIterator", "GeneratorDataAdapter",
    "PyDatasetAdapter", "class_weight_to_sample_weights", "get_data_adapter",
    "pack_x_y_sample_weight", "register_data_adapter", "train_validation_split",
    "unpack_x_y_sample_weight",
]

# How many batches of a Python generator are read up front (Keras's
# NUM_BATCHES_FOR_TENSOR_SPEC); each pass over the generator starts with them again.
_PEEKED_BATCHES = 2


# ------------------------------------------------------------------ nested structures

def map_structure(fn, structure):
    """Applies `fn` to every leaf of nested lists/tuples/dicts; None stays None."""
    if structure is None:
        return None
    if isinstance(structure, dict):
        return type(structure)((k, map_structure(fn, v)) for k, v in structure.items())
    if isinstance(structure, (list, tuple)) and not _is_array(structure):
        mapped = [map_structure(fn, v) for v in structure]
        if hasattr(structure, "_fields"):
            return type(structure)(*mapped)
        return type(structure)(mapped)
    return fn(structure)


def flatten(structure):
    """The leaves of a nested structure in order (dict values by insertion order), no None."""
    leaves = []

    def collect(leaf):
        leaves.append(leaf)
        return leaf

    map_structure(collect, structure)
    return leaves


def _is_array(value):
    return (_is_dense_tensor(value) or isinstance(value, tf.Variable) or hasattr(value, "__array__")
            or _is_scipy_sparse(value))


def _is_scipy_sparse(value):
    """A SciPy sparse matrix or array (e.g. scikit-learn's one-hot or TF-IDF output)."""
    return type(value).__module__.startswith("scipy.sparse") and hasattr(value, "toarray")


def _floatx():
    return backend.floatx()


def _to_tensor(value):
    """A leaf as a tensorflux Tensor; floats other than floatx become floatx (as Keras does)."""
    if isinstance(value, tf.Variable):
        value = value.read_value()
    elif not _is_dense_tensor(value):
        if type(value).__name__ != "ndarray":
            module = type(value).__module__
            if module.startswith("pandas"):
                value = _pandas_to_numpy(value)
            elif module.startswith("scipy.sparse") and hasattr(value, "toarray"):
                # Dense rows, as Keras feeds a sparse matrix on its non-TensorFlow backends
                # (tensorflux layers compute on dense tensors).
                value = value.toarray()
        if getattr(getattr(value, "dtype", None), "kind", None) == "O":  # (NumPy object)
            value = _object_array_to_tensor(value)
        else:
            value = tf.convert_to_tensor(value)
    if value.dtype.is_floating and value.dtype.name != _floatx():
        value = tf.cast(value, _floatx())
    return value


def _object_array_to_tensor(value):
    """An object array of strings becomes a string tensor; one of numbers (rows of unequal
    length, a mixed pandas column) is refused with a ValueError, as Keras refuses dtype object,
    saying how to fix it."""
    try:
        return tf.convert_to_tensor(value)
    except (TypeError, ValueError) as error:
        first = next(iter(value.flat), None)
        raise ValueError(
            f"Invalid dtype: object. Received a NumPy array of shape {value.shape} and dtype "
            f"object holding {type(first).__name__} values, which cannot become a tensor "
            f"({error}). Convert it to a numeric array first, e.g. np.asarray(x, "
            "dtype='float32'); rows of unequal length need padding "
            "(keras.utils.pad_sequences).") from error


def _pandas_to_numpy(value):
    """A pandas DataFrame as its 2-D array, a Series as one column (n, 1), as Keras reads them.

    A DataFrame whose columns differ in dtype (or hold floats other than floatx) becomes
    floatx, bool and int columns included; a non-numeric column among them cannot, and is
    named in the error (Keras fails there with NumPy's "could not convert string to float").
    """
    pandas = sys.modules["pandas"]
    if isinstance(value, pandas.Series):
        return value.to_numpy()[:, None]
    if not isinstance(value, pandas.DataFrame):
        return value.to_numpy() if hasattr(value, "to_numpy") else value  # (an Index, an array)
    dtypes = list(value.dtypes)
    floatx = _floatx()
    if len(set(dtypes)) > 1 or any(d.kind == "f" and d != floatx for d in dtypes):
        try:
            value = value.astype(floatx)
        except (TypeError, ValueError) as error:
            bad = {str(name): str(d) for name, d in value.dtypes.items() if d.kind not in "biuf"}
            raise ValueError(
                f"A pandas DataFrame passed as model data has non-numeric columns {bad} beside "
                f"numeric ones; one array holds one dtype, so they cannot become {floatx} "
                f"({error}). Pass the columns as a dict keyed by Input name (`dict(df)`) and "
                "encode strings with a StringLookup layer, or convert them to numbers first."
            ) from error
    return value.to_numpy()


# ------------------------------------------------------------------ x / y / sample_weight

def unpack_x_y_sample_weight(data):
    """Splits `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)` into three values.

    >>> from tensorflux.keras.trainers.data_adapters import unpack_x_y_sample_weight
    >>> unpack_x_y_sample_weight((1, 2))
    (1, 2, None)
    """
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return (data, None, None)
    if len(data) == 1:
        return (data[0], None, None)
    if len(data) == 2:
        return (data[0], data[1], None)
    if len(data) == 3:
        return (data[0], data[1], data[2])
    raise ValueError("Data is expected to be in format `x`, `(x,)`, `(x, y)`, or "
                     f"`(x, y, sample_weight)`, found: {data}")


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """The inverse of unpack_x_y_sample_weight (a lone non-list `x` stays unwrapped)."""
    if y is None:
        return x if not isinstance(x, (tuple, list)) else (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def _class_weighted(batch, class_weight):
    """A batch of a dataset with `class_weight` applied as its sample weights."""
    if class_weight is None:
        return batch
    x, y, sample_weight = unpack_x_y_sample_weight(batch)
    if sample_weight is not None:
        raise ValueError("You cannot `class_weight` and `sample_weight` at the same time: the "
                         "dataset's batches carry sample weights and fit was given "
                         f"class_weight={class_weight}.")
    if y is None:
        return batch
    return x, y, class_weight_to_sample_weights(y, class_weight)


def class_weight_to_sample_weights(y, class_weight):
    """Per-sample weights from a {class index: weight} dict (one-hot y uses its argmax)."""
    y = _to_tensor(y)
    if y.shape.rank is not None and y.shape.rank > 1:
        y = tf.argmax(y, axis=-1) if y.shape[-1] != 1 else tf.squeeze(y, axis=-1)
    if y.dtype.is_floating:
        y = tf.round(y)
    labels = [int(v) for v in tf.cast(y, tf.int64)._numpy().tolist()]
    return tf.constant([float(class_weight.get(label, 1.0)) for label in labels],
                       dtype=_floatx())


def check_data_cardinality(data):
    """Raises when x, y and sample_weight do not all have the same number of samples."""
    sizes = {int(leaf.shape[0]) for leaf in flatten(data)}
    if len(sizes) <= 1:
        return
    message = ("Data cardinality is ambiguous. Make sure all arrays contain the same number of "
               "samples.")
    parts = data if isinstance(data, tuple) else (data,)
    for label, single in zip(["x", "y", "sample_weight"], parts):
        shown = ", ".join(str(int(leaf.shape[0])) for leaf in flatten(single))
        message += f"\n'{label}' sizes: {shown}"
    raise ValueError(message)


def check_batch_size(batch_size, argument="batch_size"):
    """Raises ValueError unless `batch_size` is a positive integer (a NumPy integer too):
    a float was truncated and a negative size gave an epoch of no batches, silently."""
    try:
        valid = not isinstance(batch_size, bool) and operator.index(batch_size) > 0
    except TypeError:
        valid = False
    if not valid:
        raise ValueError(f"`{argument}` must be a positive integer (the number of samples "
                         f"in each batch); received {argument}={batch_size!r}.")


def can_slice_array(value):
    return value is None or _is_array(value)


def train_validation_split(arrays, validation_split):
    """Splits arrays into training and validation parts; the validation part is the LAST
    `validation_split` fraction, taken before any shuffling (Keras's rule)."""
    if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real) \
            or not 0.0 <= validation_split <= 1.0:
        # (a split outside [0, 1] used to slice from the wrong end: -0.2 trained on all the
        # data and validated on none, reporting val_loss 0.0; 1.5 kept the first half)
        raise ValueError("`validation_split` is the fraction of the samples held out for "
                         "validation, a number between 0 and 1; received "
                         f"validation_split={validation_split!r}.")
    leaves = flatten(arrays)
    unsplitable = [type(t) for t in leaves if not can_slice_array(t)]
    if unsplitable:
        raise ValueError("Argument `validation_split` is only supported for tensors or NumPy "
                         f"arrays. Found incompatible type in the input: {unsplitable}")
    if not leaves:
        return arrays, arrays
    batch_dim = int(leaves[0].shape[0])
    split_at = int(math.floor(batch_dim * (1.0 - validation_split)))
    if split_at == 0 or split_at == batch_dim:
        raise ValueError(
            f"Training data contains {batch_dim} samples, which is not sufficient to split it "
            "into a validation and training set as specified by "
            f"`validation_split={validation_split}`. Either provide more data, or a different "
            "value for the `validation_split` argument.")
    tensors = map_structure(_to_tensor, arrays)
    return (map_structure(lambda t: t[:split_at], tensors),
            map_structure(lambda t: t[split_at:], tensors))


# ------------------------------------------------------------------ adapters

class DataAdapter:
    """One epoch's batches from some input kind.

    Subclasses implement `get_iterator()` (batches as structures of tensorflux tensors,
    packed like `pack_x_y_sample_weight`), `num_batches` (None when unknown), and may use the
    epoch hooks and `peek()` (the first batch, used to build the model before tracing).
    """

    def get_iterator(self):
        raise NotImplementedError

    def get_numpy_iterator(self):
        for batch in self.get_iterator():
            yield map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, batch)

    def peek(self):
        return next(iter(self.get_iterator()))

    @property
    def num_batches(self):
        return None

    @property
    def batch_size(self):
        return None

    @property
    def has_partial_batch(self):
        return None

    @property
    def partial_batch_size(self):
        return None

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass


class ArrayDataAdapter(DataAdapter):
    """NumPy arrays / tensors (nested in lists, tuples or dicts) cut into batches.

    The data is converted to tensors once; each shuffled epoch gathers one permuted copy with
    tf.random.shuffle (seeded by tf.random.set_seed), then every batch is a contiguous slice.
    """

    def __init__(self, x, y=None, sample_weight=None, batch_size=None, steps=None,
                 shuffle=False, class_weight=None):
        if batch_size:  # (0 and None take the default, as in Keras)
            check_batch_size(batch_size)
        if not all(can_slice_array(leaf) for leaf in flatten((x, y, sample_weight))):
            raise ValueError(f"Expected all elements of `x` to be array-like. Received invalid "
                             f"types: x={x}")
        x, y, sample_weight = map_structure(_to_tensor, (x, y, sample_weight))
        if sample_weight is not None:
            if class_weight is not None:
                raise ValueError("You cannot `class_weight` and `sample_weight` at the same "
                                 "time.")
            if _is_nested(y) and not _is_nested(sample_weight):
                rank = sample_weight.shape.rank
                if not (rank == 1 or (rank == 2 and sample_weight.shape[1] == 1)):
                    raise ValueError(
                        "For a model with multiple outputs, when providing a single "
                        "`sample_weight` array, it should only have one scalar score per "
                        "sample (i.e. shape `(num_samples,)`). If you want to use non-scalar "
                        "sample weights, pass a `sample_weight` argument with one array per "
                        "model output.")
                sample_weight = map_structure(lambda _: sample_weight, y)
        if class_weight is not None:
            if _is_nested(y):
                raise ValueError("`class_weight` is only supported for Models with a single "
                                 "output.")
            sample_weight = class_weight_to_sample_weights(y, class_weight)
        inputs = pack_x_y_sample_weight(x, y, sample_weight)
        check_data_cardinality(inputs)
        leaves = flatten(inputs)
        if not leaves:
            raise ValueError("Expected at least one input array, received none.")
        num_samples = int(leaves[0].shape[0])
        if not batch_size:
            batch_size = int(math.ceil(num_samples / steps)) if steps else 32
        self._inputs = inputs
        self._num_samples = num_samples
        self._batch_size = int(batch_size)
        self._size = int(math.ceil(num_samples / self._batch_size))
        self._partial_batch_size = num_samples % self._batch_size
        self._shuffle = shuffle

    def peek(self):
        stop = min(self._batch_size, self._num_samples)
        return map_structure(lambda t: t[:stop], self._inputs)

    def get_iterator(self):
        inputs = self._inputs
        sizes = [self._batch_size] * (self._num_samples // self._batch_size)
        if self._partial_batch_size:
            sizes.append(self._partial_batch_size)
        if self._shuffle and self._shuffle != "batch":
            order = tf.random.shuffle(tf.range(self._num_samples))
            if len(sizes) > 1:
                # Each batch gathered on its own: one copy of the data per epoch, not a
                # shuffled copy and then a split's copy of that.
                leaves = flatten(inputs)
                if type(inputs) is tuple and len(leaves) == len(inputs) and all(
                        type(leaf) is tf.Tensor and leaf is item
                        and type(leaf._value) is type(order._value)  # (on one device)
                        for leaf, item in zip(leaves, inputs)):
                    # (x, y) of tensors: the rows taken on the raw arrays. A permutation's
                    # indices are in range, so tf.gather's checks and dispatch (most of a
                    # small model's step) have nothing to catch.
                    permutation, start = order._value, 0
                    for size in sizes:
                        rows = permutation[start:start + size]
                        start += size
                        yield tuple(tf.Tensor(leaf._value.take(rows, axis=0))
                                    for leaf in leaves)
                    return
                for rows in tf.split(order, sizes, axis=0):
                    yield map_structure(lambda t, rows=rows: tf.gather(t, rows), inputs)
                return
            inputs = map_structure(lambda t: tf.gather(t, order), inputs)
        if self._shuffle == "batch":
            for i in range(self._size):
                start = i * self._batch_size
                stop = min(start + self._batch_size, self._num_samples)
                order = tf.random.shuffle(tf.range(start, stop))
                yield map_structure(lambda t, order=order: tf.gather(t, order), inputs)
            return
        # One split per array per epoch: the batches are views, and the per-batch Python
        # work is only packing the structure.
        leaves = flatten(inputs)
        pieces = [tf.split(leaf, sizes, axis=0) if len(sizes) > 1 else [leaf]
                  for leaf in leaves]
        if type(inputs) is tuple and len(inputs) == len(leaves) and all(
                leaf is item for leaf, item in zip(leaves, inputs)):
            # (x, y) or (x, y, sample_weight) of arrays: each batch is the tuple of pieces.
            yield from zip(*pieces)
            return
        for i in range(self._size):
            batch = iter([p[i] for p in pieces])
            yield map_structure(lambda _, batch=batch: next(batch), inputs)

    @property
    def num_batches(self):
        return self._size

    @property
    def batch_size(self):
        return self._batch_size

    @property
    def has_partial_batch(self):
        return self._partial_batch_size > 0

    @property
    def partial_batch_size(self):
        return self._partial_batch_size or None


class GeneratorDataAdapter(DataAdapter):
    """A Python generator yielding `x`, `(x, y)` or `(x, y, sample_weight)` batches.

    As Keras 3 does, the first `_PEEKED_BATCHES` batches are read when the adapter is made
    (an empty generator fails here, with Keras's message) and every pass starts with them
    again: an epoch after the generator ran out replays those batches (and warns that the
    input ran out), and `validation_steps` no larger than them validates on the same batches
    each epoch.
    """

    def __init__(self, generator):
        self._generator = generator
        self._first_batches = list(itertools.islice(generator, _PEEKED_BATCHES))
        if not self._first_batches:
            raise ValueError("When passing a Python generator to a Keras model, the generator "
                             "must yield at least one batch. Received an empty generator.")

    def peek(self):
        return _convert_batch(self._first_batches[0])

    def get_iterator(self):
        for batch in itertools.chain(self._first_batches, self._generator):
            yield _convert_batch(batch)


class PyDatasetAdapter(DataAdapter):
    """A keras.utils.PyDataset (`__len__` + `__getitem__`); `shuffle` permutes batch order.

    With `workers > 1` a pool of threads fetches up to `max_queue_size` batches ahead, handed
    out in order; `use_multiprocessing=True` is refused (it would need pickling the dataset).
    """

    def __init__(self, dataset, class_weight=None, shuffle=False):
        if getattr(dataset, "use_multiprocessing", False):
            raise NotImplementedError(
                "PyDataset(use_multiprocessing=True) is not supported by tensorflux: its "
                "workers are threads in this process (multiprocessing would need to pickle the "
                "dataset). Pass use_multiprocessing=False and workers=N: threads overlap file "
                "I/O and NumPy work, which release the GIL.")
        self._dataset = dataset
        self._class_weight = class_weight
        self._shuffle = shuffle
        self._fit_loader_args = None

    def use_fit_loader_args(self, workers=None, max_queue_size=None):
        """Keras 2's `fit(workers=..., max_queue_size=...)`, used when the dataset keeps the
        default of one worker (Keras 3 reads them from the dataset alone)."""
        self._fit_loader_args = (workers, max_queue_size)

    @property
    def num_batches(self):
        return self._dataset.num_batches

    def peek(self):
        return self._batch(0)

    def _batch(self, index):
        batch = _py_dataset_batch(self._dataset[index])
        return _convert_batch(_class_weighted(batch, self._class_weight))

    def get_iterator(self):
        size = self.num_batches
        if size == 0:
            raise ValueError(f"The PyDataset has length 0: {type(self._dataset).__name__}."
                             "__len__ (or num_batches) must give at least one batch.")
        if size is None:
            index = 0
            while True:
                yield self._batch(index)
                index += 1
        order = list(range(size))
        if self._shuffle:
            order = [int(i) for i in tf.random.shuffle(tf.range(size))._numpy().tolist()]
        workers = int(getattr(self._dataset, "workers", 1) or 1)
        queue_size = getattr(self._dataset, "max_queue_size", 10)
        if workers == 1 and self._fit_loader_args is not None:
            workers = self._fit_loader_args[0] or 1
            queue_size = self._fit_loader_args[1] or queue_size
        if workers > 1:
            from tensorflux.data._threads import parallel_map_iterator

            ahead = max(workers, int(queue_size or 1))
            yield from parallel_map_iterator(iter(order), self._batch, workers,
                                             in_flight=ahead)
            return
        for index in order:
            yield self._batch(index)

    def on_epoch_begin(self):
        hook = getattr(self._dataset, "on_epoch_begin", None)
        if hook is not None:
            hook()

    def on_epoch_end(self):
        hook = getattr(self._dataset, "on_epoch_end", None)
        if hook is not None:
            hook()


def _py_dataset_batch(batch):
    """A PyDataset item in Keras's form: a dict stays, a lone array becomes `(x,)` (so a
    custom train_step sees what it sees on Keras), a list a tuple; 1 to 3 parts only."""
    if isinstance(batch, dict):
        return batch
    if _is_array(batch):
        return (batch,)
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple) or len(batch) not in (1, 2, 3):
        raise ValueError(
            "PyDataset.__getitem__() must return a tuple or a dict. If a tuple, it must be "
            "ordered either (input,) or (inputs, targets) or (inputs, targets, "
            f"sample_weights). Received: {str(batch)[:100]}... of type {type(batch)}")
    return batch


def _convert_batch(batch):
    if isinstance(batch, list):
        batch = tuple(batch)
    return map_structure(_to_tensor, batch)


def _is_nested(value):
    return isinstance(value, (list, tuple, dict)) and not _is_array(value)


_REGISTERED = []


def register_data_adapter(predicate, factory):
    """Plugs in a new input kind: `factory(x, y, sample_weight, batch_size, steps_per_epoch,
    shuffle, class_weight)` is used for every `x` where `predicate(x)` is true."""
    _REGISTERED.append((predicate, factory))


class DatasetAdapter(DataAdapter):
    """A tensorflux.data.Dataset of batches (`x`, `(x, y)` or `(x, y, sample_weight)`).

    The dataset is iterated as it is: `shuffle` does not apply (shuffle the dataset), and its
    cardinality gives the number of batches when known.
    """

    def __init__(self, dataset, class_weight=None):
        self._dataset = dataset
        self._class_weight = class_weight
        # (first batch, the iterator it came from) after peek(): the next epoch starts with
        # them, so peeking reads no element twice (a one-shot generator loses none).
        self._peeked = None

    @property
    def num_batches(self):
        size = int(self._dataset.cardinality())
        return size if size >= 0 else None

    def _convert(self, batch):
        return _convert_batch(_class_weighted(batch, self._class_weight))

    def get_iterator(self):
        peeked, self._peeked = self._peeked, None
        if peeked is None:
            iterator = iter(self._dataset)
        else:
            first, iterator = peeked
        try:
            if peeked is not None:
                yield first
            for batch in iterator:
                yield self._convert(batch)
        finally:
            iterator.close()

    def peek(self):
        if self._peeked is None:
            iterator = iter(self._dataset)
            try:
                first = self._convert(next(iterator))
            except StopIteration as error:
                iterator.close()
                raise ValueError("The dataset passed as `x` is empty.") from error
            except BaseException:
                iterator.close()
                raise
            self._peeked = (first, iterator)
        return self._peeked[0]


def _is_tf_dataset(x):
    module = type(x).__module__ or ""
    if not module.startswith("tensorflux.data"):
        return False
    from tensorflux.data import Dataset

    return isinstance(x, Dataset)


def _dataset_adapter(x, y, sample_weight, batch_size, steps_per_epoch, shuffle, class_weight):
    if y is not None:
        _raise_unsupported_arg("y", "the targets", "tf.data.Dataset")
    if sample_weight is not None:
        _raise_unsupported_arg("sample_weights", "the sample weights", "tf.data.Dataset")
    return DatasetAdapter(x, class_weight=class_weight)


def _is_py_dataset(x):
    try:
        from tensorflux.keras.utils.py_dataset import PyDataset
    except ImportError:
        return False
    return isinstance(x, PyDataset)


def _raise_unsupported_arg(arg_name, arg_description, input_type):
    raise ValueError(f"When providing `x` as a {input_type}, `{arg_name}` should not be passed. "
                     f"Instead, {arg_description} should be included as part of the "
                     f"{input_type}.")


def get_data_adapter(x, y=None, sample_weight=None, batch_size=None, steps_per_epoch=None,
                     shuffle=False, class_weight=None):
    """The adapter for `x` (Keras's dispatch order: adapters, arrays, registered, PyDataset,
    generators)."""
    if isinstance(x, DataAdapter):
        return x
    if x is not None and all(can_slice_array(leaf) for leaf in flatten((x, y, sample_weight))):
        return ArrayDataAdapter(x, y, sample_weight=sample_weight, class_weight=class_weight,
                                shuffle=shuffle, batch_size=batch_size, steps=steps_per_epoch)
    for predicate, factory in _REGISTERED:
        if predicate(x):
            return factory(x, y, sample_weight, batch_size, steps_per_epoch, shuffle,
                           class_weight)
    if _is_py_dataset(x):
        if y is not None:
            _raise_unsupported_arg("y", "the targets", "PyDataset")
        if sample_weight is not None:
            _raise_unsupported_arg("sample_weights", "the sample weights", "PyDataset")
        return PyDatasetAdapter(x, class_weight=class_weight, shuffle=shuffle)
    if isinstance(x, types.GeneratorType):
        if y is not None:
            _raise_unsupported_arg("y", "the targets", "generator")
        if sample_weight is not None:
            _raise_unsupported_arg("sample_weights", "the sample weights", "generator")
        if class_weight is not None:
            raise ValueError("Argument `class_weight` is not supported for Python generator "
                             f"inputs. Received: class_weight={class_weight}")
        if shuffle:
            warnings.warn("`shuffle=True` was passed, but will be ignored since the data `x` "
                          "was provided as a generator. The generator is expected to yield "
                          "already-shuffled data.", stacklevel=3)
        return GeneratorDataAdapter(x)
    raise ValueError(f"Unrecognized data type: x={x} (of type {type(x)})")


register_data_adapter(_is_tf_dataset, _dataset_adapter)


# ------------------------------------------------------------------ epochs

class EpochIterator:
    """Yields (step, batch) for one epoch; with `steps_per_epoch` the underlying iterator
    carries over between epochs, as in Keras."""

    def __init__(self, x, y=None, sample_weight=None, batch_size=None, steps_per_epoch=None,
                 shuffle=False, class_weight=None, steps_per_execution=1):
        max_steps = backend.max_steps_per_epoch()  # keras.config.set_max_steps_per_epoch
        if max_steps and (not steps_per_epoch or max_steps < steps_per_epoch):
            warnings.warn(f"Limiting steps_per_epoch to {max_steps}", stacklevel=2)
            steps_per_epoch = max_steps
        self.steps_per_epoch = steps_per_epoch
        self.steps_per_execution = steps_per_execution
        self.data_adapter = get_data_adapter(
            x, y=y, sample_weight=sample_weight, batch_size=batch_size,
            steps_per_epoch=steps_per_epoch, shuffle=shuffle, class_weight=class_weight)
        self._num_batches = self.data_adapter.num_batches
        self._current_iterator = None
        self._steps_seen = 0

    def reset(self):
        """Starts over; like Keras, this ends an epoch of the adapter (a PyDataset's
        `on_epoch_end` runs once when fit or evaluate starts, before the first epoch)."""
        self._current_iterator = None
        self._num_batches = self.data_adapter.num_batches
        self._steps_seen = 0
        self.data_adapter.on_epoch_end()

    @property
    def num_batches(self):
        if self.steps_per_epoch:
            return self.steps_per_epoch
        return self._num_batches

    def peek(self):
        return self.data_adapter.peek()

    def __iter__(self):
        adapter = self.data_adapter
        adapter.on_epoch_begin()
        steps = self.steps_per_epoch or self._num_batches or -1
        if self._current_iterator is None or self.steps_per_epoch is None:
            self._current_iterator = iter(adapter.get_iterator())
            self._steps_seen = 0
        step = 0
        while steps < 0 or step < steps:
            if self._num_batches and self._steps_seen >= self._num_batches:
                if self.steps_per_epoch:
                    _interrupted_warning()
                break
            try:
                batch = next(self._current_iterator)
            except StopIteration:
                if self._num_batches is None:
                    self._num_batches = self._steps_seen
                _interrupted_warning()
                self._current_iterator = None
                break
            self._steps_seen += 1
            yield step, batch
            step += 1
        if self._num_batches and self._steps_seen >= self._num_batches:
            self._current_iterator = None
            self._steps_seen = 0
        adapter.on_epoch_end()


def _interrupted_warning():
    warnings.warn("Your input ran out of data; interrupting training. Make sure that your "
                  "dataset or generator can generate at least `steps_per_epoch * epochs` "
                  "batches. You may need to use the `.repeat()` function when building your "
                  "dataset.", stacklevel=3)


def describe_shape(value):
    """A short text for error messages: the shape(s) of a structure of arrays."""
    if value is None:
        return "None"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {describe_shape(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)) and not _is_array(value):
        return "[" + ", ".join(describe_shape(v) for v in value) + "]"
    shape = getattr(value, "shape", None)
    return str(tuple(shape)) if shape is not None else type(value).__name__
