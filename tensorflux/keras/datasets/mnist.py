"""keras.datasets.mnist: 60,000 + 10,000 28x28 grey digits, from Keras's cache or origin."""

import numpy as np

from tensorflux.keras.datasets._common import ORIGIN_FOLDER
from tensorflux.keras.utils.file_utils import get_file

__all__ = ["load_data"]

FILE_HASH = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def load_data(path="mnist.npz"):
    """Returns `(x_train, y_train), (x_test, y_test)`: uint8 images (N, 28, 28) and uint8
    labels (N,), read from `~/.keras/datasets/<path>` (downloaded when missing)."""
    path = get_file(fname=path, origin=f"{ORIGIN_FOLDER}mnist.npz", file_hash=FILE_HASH)
    with np.load(path, allow_pickle=False) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
