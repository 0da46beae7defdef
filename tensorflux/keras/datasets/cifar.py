"""CIFAR batch files: Python-2 pickled dicts, read by the pickle-free restricted reader."""

from tensorflux.keras.datasets._safe_unpickle import loads

__all__ = ["load_batch"]


def load_batch(fpath, label_key="labels"):
    """`(data, labels)` from one CIFAR batch: data uint8 (N, 3, 32, 32), labels a list."""
    with open(fpath, "rb") as f:
        d = loads(f.read(), encoding="bytes")
    if not isinstance(d, dict):
        raise ValueError(f"{fpath} does not hold a CIFAR batch (a dict).")
    d = {(k.decode("utf8") if isinstance(k, bytes) else k): v for k, v in d.items()}
    if "data" not in d or label_key not in d:
        raise ValueError(f"{fpath} lacks the 'data' or '{label_key}' entry of a CIFAR batch.")
    data = d["data"]
    return data.reshape(data.shape[0], 3, 32, 32), d[label_key]
