"""tf.keras.preprocessing.sequence's Keras 2 tools: TimeseriesGenerator (windows of a series
as batches, a PyDataset that fit accepts), and word2vec's make_sampling_table and skipgrams.
Random draws use Python's `random`, as Keras's do."""

import json
import random

import tensorflux as tf
from tensorflux.keras.utils.py_dataset import PyDataset

__all__ = ["TimeseriesGenerator", "make_sampling_table", "skipgrams"]


class TimeseriesGenerator(PyDataset):
    """Batches of windows of `data` and the target after each: the sample for target row r
    is data[r - length : r : sampling_rate], for the rows r from start_index + length to
    end_index (default: the last) every `stride` rows, `batch_size` at a time (`shuffle`
    draws the rows at random; `reverse` gives each window last step first).

    >>> import tensorflux as tf
    >>> data = [[float(i)] for i in range(10)]
    >>> generator = tf.keras.preprocessing.sequence.TimeseriesGenerator(
    ...     data, data, length=3, batch_size=2)
    >>> x, y = generator[0]
    >>> len(generator), x.shape, x[1, :, 0].tolist(), y[:, 0].tolist()
    (4, (2, 3, 1), [1.0, 2.0, 3.0], [3.0, 4.0])
    """

    def __init__(self, data, targets, length, sampling_rate=1, stride=1, start_index=0,
                 end_index=None, shuffle=False, reverse=False, batch_size=128, **kwargs):
        super().__init__(**kwargs)
        if len(data) != len(targets):
            raise ValueError("Data and targets have to be of same length. Data length is "
                             f"{len(data)} while target length is {len(targets)}")
        self.data = data
        self.targets = targets
        self.length = length
        self.sampling_rate = sampling_rate
        self.stride = stride
        self.start_index = start_index + length
        self.end_index = len(data) - 1 if end_index is None else end_index
        self.shuffle = shuffle
        self.reverse = reverse
        self.batch_size = batch_size
        if self.start_index > self.end_index:
            raise ValueError(f"`start_index+length={self.start_index} > end_index="
                             f"{self.end_index}` is disallowed, as no part of the sequence "
                             "would be left to be used as current step.")
        self._data = tf.convert_to_tensor(data)
        self._targets = tf.convert_to_tensor(targets)

    def __len__(self):
        step = self.batch_size * self.stride
        return (self.end_index - self.start_index + step) // step

    def __getitem__(self, index):
        if self.shuffle:
            rows = [random.randint(self.start_index, self.end_index)
                    for _ in range(self.batch_size)]
        else:
            first = self.start_index + self.batch_size * self.stride * index
            rows = list(range(first, min(first + self.batch_size * self.stride,
                                         self.end_index + 1), self.stride))
        offsets = tf.range(-self.length, 0, self.sampling_rate)
        windows = tf.constant(rows, "int32")[:, None] + offsets[None, :]
        samples = tf.gather(self._data, windows)
        if self.reverse:
            samples = tf.reverse(samples, [1])
        return samples.numpy(), tf.gather(self._targets, rows).numpy()

    def get_config(self):
        """The settings, with data and targets as JSON strings."""
        def as_json(values, what):
            values = values.tolist() if hasattr(values, "tolist") else values
            try:
                return json.dumps(values)
            except TypeError as error:
                raise TypeError(f"{what} not JSON Serializable: {values}") from error

        return {"data": as_json(self.data, "Data"),
                "targets": as_json(self.targets, "Targets"),
                "length": self.length, "sampling_rate": self.sampling_rate,
                "stride": self.stride, "start_index": self.start_index,
                "end_index": self.end_index, "shuffle": self.shuffle, "reverse": self.reverse,
                "batch_size": self.batch_size}

    def to_json(self, **kwargs):
        return json.dumps({"class_name": type(self).__name__, "config": self.get_config()},
                          **kwargs)


def make_sampling_table(size, sampling_factor=1e-5):
    """For word ranks 0..size-1 (0 counted as rank 1), the probability word2vec keeps a word
    of that rank: min(1, sqrt(sampling_factor * f)), where 1 / f is Zipf's estimate of the
    word's frequency, rank * (log(rank) + 0.577) + 1/2 - 1/(12 rank).

    >>> import tensorflux as tf
    >>> tf.keras.preprocessing.sequence.make_sampling_table(4).round(4).tolist()
    [0.0032, 0.0032, 0.0055, 0.0074]
    """
    rank = tf.maximum(tf.range(size, dtype="float64"), 1.0)
    inverse_frequency = rank * (tf.math.log(rank) + 0.577) + 0.5 - 1.0 / (12.0 * rank)
    return tf.minimum(1.0, tf.sqrt(sampling_factor * inverse_frequency)).numpy()


def skipgrams(sequence, vocabulary_size, window_size=4, negative_samples=1.0, shuffle=True,
              categorical=False, sampling_table=None, seed=None):
    """word2vec training pairs of a sequence of word indices (0 is skipped): each word with
    each other word at most `window_size` away, label 1; then `negative_samples` times as
    many pairs of a word with a random index in [1, vocabulary_size), label 0 ([0, 1] and
    [1, 0] with `categorical`). A word of rank i is kept with probability
    sampling_table[i]. Returns (couples, labels), shuffled alike.

    >>> import tensorflux as tf
    >>> tf.keras.preprocessing.sequence.skipgrams([1, 2], 3, negative_samples=0,
    ...                                            shuffle=False)
    ([[1, 2], [2, 1]], [1, 1])
    """
    couples, labels = [], []
    for i, word in enumerate(sequence):
        if not word or (sampling_table is not None and sampling_table[word] < random.random()):
            continue
        for j in range(max(0, i - window_size), min(len(sequence), i + window_size + 1)):
            if j != i and sequence[j]:
                couples.append([word, sequence[j]])
                labels.append([0, 1] if categorical else 1)
    if negative_samples > 0:
        count = int(len(labels) * negative_samples)
        words = [couple[0] for couple in couples]
        random.shuffle(words)
        couples += [[words[i % len(words)], random.randint(1, vocabulary_size - 1)]
                    for i in range(count)]
        labels += [[1, 0] if categorical else 0 for _ in range(count)]
    if shuffle:
        if seed is None:
            seed = random.randint(0, 10_000_000)
        # The same seed shuffles both lists alike.
        random.seed(seed)
        random.shuffle(couples)
        random.seed(seed)
        random.shuffle(labels)
    return couples, labels
