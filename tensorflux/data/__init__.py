"""tf.data: input pipelines (Dataset, its iterators, specs and options) and tf.data.experimental."""

from tensorflux.data import experimental
from tensorflux.data.dataset import (
    AUTOTUNE,
    INFINITE_CARDINALITY,
    UNKNOWN_CARDINALITY,
    Dataset,
    DatasetSpec,
    Iterator,
    NumpyIterator,
)
from tensorflux.data.options import Options, ThreadingOptions
from tensorflux.data.readers import TextLineDataset
from tensorflux.data.tfrecord import FixedLengthRecordDataset, TFRecordDataset

__all__ = ["AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "Dataset", "DatasetSpec",
           "FixedLengthRecordDataset", "Iterator", "NumpyIterator", "Options", "TFRecordDataset",
           "TextLineDataset", "ThreadingOptions", "experimental"]
