"""The UCI 8x8 handwritten digits data set (1797 images), shipped inside the package
(CC BY 4.0)."""

import gzip
import os

import numpy as np

__all__ = ["load_data"]

_PATH = os.path.join(os.path.dirname(__file__), "data", "digits.csv.gz")
_COUNT = 1797


def load_data(test_split=0.2, seed=113):
    """Returns `(x_train, y_train), (x_test, y_test)`: uint8 images of shape (n, 8, 8) with
    pixels in 0..16 and uint8 labels 0..9, shuffled with `seed` before the split.

    >>> from tensorflux.keras.datasets import digits
    >>> (x_train, y_train), (x_test, y_test) = digits.load_data()
    >>> x_train.shape, x_test.shape, int(x_train.max()), sorted(set(y_test.tolist()))[:3]
    ((1438, 8, 8), (359, 8, 8), 16, [0, 1, 2])
    """
    if not 0.0 <= test_split < 1.0:
        raise ValueError(f"test_split must be in [0, 1), received {test_split}")
    with gzip.open(_PATH, "rt", encoding="ascii") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float64)
    if table.shape != (_COUNT, 65):
        raise ValueError(f"{_PATH} holds {table.shape}, expected ({_COUNT}, 65)")
    order = np.random.default_rng(seed).permutation(_COUNT)
    x = table[order, :64].reshape(-1, 8, 8).astype(np.uint8)
    y = table[order, 64].astype(np.uint8)
    split = _COUNT - int(round(_COUNT * test_split))
    return (x[:split], y[:split]), (x[split:], y[split:])
