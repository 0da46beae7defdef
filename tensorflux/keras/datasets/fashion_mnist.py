"""keras.datasets.fashion_mnist: Zalando's 28x28 clothing images, four gzipped IDX files."""

import gzip
import os

import numpy as np

from tensorflux.keras.datasets._common import ORIGIN_FOLDER
from tensorflux.keras.utils.file_utils import get_file

__all__ = ["FILES", "load_data"]

FILES = ["train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"]


def _read(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def load_data():
    """Returns `(x_train, y_train), (x_test, y_test)`: uint8 images (N, 28, 28) and uint8
    labels, from `~/.keras/datasets/fashion-mnist/` (no hash check, as in Keras)."""
    dirname = os.path.join("datasets", "fashion-mnist")
    paths = [get_file(fname, origin=ORIGIN_FOLDER + fname, cache_subdir=dirname)
             for fname in FILES]
    y_train = _read(paths[0], 8)
    x_train = _read(paths[1], 16).reshape(len(y_train), 28, 28)
    y_test = _read(paths[2], 8)
    x_test = _read(paths[3], 16).reshape(len(y_test), 28, 28)
    return (x_train, y_train), (x_test, y_test)
