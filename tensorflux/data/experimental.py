"""tf.data.experimental: the names that moved to tf.data, kept as aliases."""

from tensorflux.data._transforms import Optional
from tensorflux.data.dataset import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset

__all__ = ["AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "Optional",
           "cardinality", "choose_from_datasets", "sample_from_datasets"]

choose_from_datasets = Dataset.choose_from_datasets
sample_from_datasets = Dataset.sample_from_datasets


def cardinality(dataset):
    """The dataset's cardinality as an int64 scalar (INFINITE -1, UNKNOWN -2).

    >>> from tensorflux import data
    >>> int(data.experimental.cardinality(data.Dataset.range(3)))
    3
    """
    return dataset.cardinality()
