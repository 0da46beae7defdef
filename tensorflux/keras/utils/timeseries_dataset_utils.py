"""keras.utils.timeseries_dataset_from_array: sliding windows over an array as a tf.data
Dataset of batches."""

import random

__all__ = ["timeseries_dataset_from_array"]


def _whole_number(name, value):
    """value as an int: Keras also takes whole floats such as 3.0 (it feeds them to NumPy's
    arange); anything else would give fractional or meaningless row indices."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"`{name}` must be an integer. Received: {name}={value!r}")
    return value.__index__()


def _check_arguments(length, sequence_stride, sampling_rate, start_index, end_index):
    if start_index:
        if start_index < 0:
            raise ValueError("`start_index` must be 0 or greater. Received: "
                             f"start_index={start_index}")
        if start_index >= length:
            raise ValueError("`start_index` must be lower than the length of the data. "
                             f"Received: start_index={start_index}, for data of length {length}")
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError("`end_index` must be higher than `start_index`. Received: "
                             f"start_index={start_index}, and end_index={end_index} ")
        if end_index >= length:
            raise ValueError("`end_index` must be lower than the length of the data. "
                             f"Received: end_index={end_index}, for data of length {length}")
        if end_index <= 0:
            raise ValueError(f"`end_index` must be higher than 0. Received: end_index={end_index}")
    for name, value in (("sampling_rate", sampling_rate), ("sequence_stride", sequence_stride)):
        if value <= 0:
            raise ValueError(f"`{name}` must be higher than 0. Received: {name}={value}")
        if value >= length:
            raise ValueError(f"`{name}` must be lower than the length of the data. Received: "
                             f"{name}={value}, for data of length {length}")


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1,
                                  sampling_rate=1, batch_size=128, shuffle=False, seed=None,
                                  start_index=None, end_index=None,
                                  format="tf"):  # noqa: A002 - Keras's argument name
    """A Dataset of windows of `data`: window i holds the rows
    `start_index + p_i + k * sampling_rate` (k < sequence_length) for the start offsets
    `p_i = 0, sequence_stride, 2 * sequence_stride, ...`; with `targets`, each window is paired
    with `targets[start_index + p_i]`. Batched by `batch_size` (None: single windows).

    `shuffle=True` shuffles the windows with Python's `random.Random(seed)`: the same windows
    as Keras in another order (Keras draws its order from NumPy's and TensorFlow's
    generators).

    >>> from tensorflux.keras import utils
    >>> ds = utils.timeseries_dataset_from_array(list(range(10)), None, sequence_length=3,
    ...                                          batch_size=2)
    >>> next(iter(ds)).numpy().tolist()
    [[0, 1, 2], [1, 2, 3]]
    """
    import tensorflux as tf
    from tensorflux.data import Dataset

    if format != "tf":
        raise ValueError('`format` should be either "tf" or "grain". Received: '
                         f"format={format}" if format != "grain" else
                         'format="grain" is not supported by tensorflux: use format="tf"')
    length = len(data)
    sequence_length = _whole_number("sequence_length", sequence_length)
    sequence_stride = _whole_number("sequence_stride", sequence_stride)
    sampling_rate = _whole_number("sampling_rate", sampling_rate)
    _check_arguments(length, sequence_stride, sampling_rate, start_index, end_index)
    start_index = start_index or 0
    end_index = length if end_index is None else end_index
    num_seqs = end_index - start_index - (sequence_length - 1) * sampling_rate
    if targets is not None:
        num_seqs = min(num_seqs, len(targets))
    positions = list(range(0, max(num_seqs, 0), sequence_stride))
    if shuffle:
        random.Random(seed).shuffle(positions)
    steps = tf.convert_to_tensor(data)[start_index:end_index]
    labels = None if targets is None else tf.convert_to_tensor(targets)[start_index:end_index]
    index_dtype = "int32" if num_seqs < 2147483647 else "int64"
    starts = tf.constant(positions, dtype=index_dtype) if positions else \
        tf.zeros((0,), dtype=index_dtype)
    offsets = tf.range(sequence_length, dtype=index_dtype) * sampling_rate

    def windows(start):
        # (rows of one window, or of a batch of windows at once), gathered when iterated
        rows = tf.gather(steps, tf.expand_dims(start, -1) + offsets)
        return rows if labels is None else (rows, tf.gather(labels, start))

    dataset = Dataset.from_tensor_slices(starts)
    if batch_size is not None:
        dataset = dataset.batch(batch_size)
    return dataset.map(windows)
