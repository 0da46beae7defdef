"""The Breast Cancer Wisconsin (Diagnostic) data set, shipped inside the package (CC BY 4.0)."""

import os

import numpy as np

__all__ = ["load_data", "FEATURE_COUNT"]

FEATURE_COUNT = 30
_PATH = os.path.join(os.path.dirname(__file__), "data", "breast_cancer.csv")


def load_data(test_split=0.2, seed=113):
    """Returns `(x_train, y_train), (x_test, y_test)`: float32 features of shape (n, 30) and
    float32 labels (1 = benign, 0 = malignant), shuffled with `seed` before the split.

    >>> from tensorflux.keras.datasets import breast_cancer
    >>> (x_train, y_train), (x_test, y_test) = breast_cancer.load_data()
    >>> x_train.shape, x_test.shape
    ((455, 30), (114, 30))
    """
    if not 0.0 <= test_split < 1.0:
        raise ValueError(f"test_split must be in [0, 1), received {test_split}")
    with open(_PATH, encoding="ascii") as f:
        count, features = (int(v) for v in f.readline().split(",")[:2])
        table = np.loadtxt(f, delimiter=",", dtype=np.float64)
    if table.shape != (count, features + 1):
        raise ValueError(f"{_PATH} holds {table.shape}, expected ({count}, {features + 1})")
    order = np.random.default_rng(seed).permutation(count)
    x = table[order, :features].astype(np.float32)
    y = table[order, features].astype(np.float32)
    split = count - int(round(count * test_split))
    return (x[:split], y[:split]), (x[split:], y[split:])
