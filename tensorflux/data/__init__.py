"""tf.data: input pipelines (Dataset, its iterators and specs) and tf.data.experimental."""

from tensorflux.data import experimental
from tensorflux.data._transforms import TextLineDataset
from tensorflux.data.dataset import (
    AUTOTUNE,
    INFINITE_CARDINALITY,
    UNKNOWN_CARDINALITY,
    Dataset,
    DatasetSpec,
    Iterator,
    Options,
)
from tensorflux.data.tfrecord import FixedLengthRecordDataset, TFRecordDataset

__all__ = ["AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "Dataset", "DatasetSpec",
           "Iterator", "Options", "TextLineDataset", "experimental"]
__all__ += ["FixedLengthRecordDataset", "TFRecordDataset"]
