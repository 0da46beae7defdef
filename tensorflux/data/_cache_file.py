"""The file format of Dataset.cache(filename): one NumPy .npz archive, no pickle.

Each leaf position of the element structure is stored as one stacked array when every
element agrees on its shape, else as one array per element; strings are stored as fixed-width
bytes. The structure itself (tuples, dicts) is JSON in the archive.
"""

import json

import numpy as np

from tensorflux.io.atomic import atomic_write

__all__ = ["read", "write"]

_FORMAT = "tensorflux.data.cache/1"


def _skeleton(element):
    if isinstance(element, dict):
        return {"dict": [[str(k), _skeleton(v)] for k, v in element.items()]}
    if isinstance(element, tuple):
        return {"tuple": [_skeleton(v) for v in element]}
    return None


def _leaves(element):
    if isinstance(element, dict):
        return [leaf for v in element.values() for leaf in _leaves(v)]
    if isinstance(element, tuple):
        return [leaf for v in element for leaf in _leaves(v)]
    return [element]


def _build(skeleton, leaves):
    if skeleton is None:
        return next(leaves)
    if "dict" in skeleton:
        return {k: _build(v, leaves) for k, v in skeleton["dict"]}
    return tuple(_build(v, leaves) for v in skeleton["tuple"])


def _storable(array):
    if not isinstance(array, np.ndarray):
        raise ValueError(f"cache(filename): elements holding {type(array).__name__}s cannot "
                         "be cached in a file; cache them in memory (cache())")
    if array.dtype.kind in "OS":  # text leaves are read back as object arrays of bytes
        return np.asarray(array.tolist() if array.ndim else array.item(), dtype=np.bytes_), True
    return array, False


def write(path, elements, compress=False):
    """Writes `elements` (structures of NumPy arrays) to `path` atomically (deflated with
    `compress`)."""
    arrays = {}
    meta = {"format": _FORMAT, "count": len(elements), "skeleton": None, "leaves": []}
    if elements:
        meta["skeleton"] = _skeleton(elements[0])
        columns = list(zip(*[_leaves(e) for e in elements]))
        for j, column in enumerate(columns):
            stored = [_storable(leaf if hasattr(leaf, "_type_spec") else np.asarray(leaf))
                      for leaf in column]
            strings = stored[0][1]
            uniform = len({(a.shape, a.dtype.str) for a, _ in stored}) == 1
            if uniform and not strings:
                arrays[f"leaf_{j}"] = np.stack([a for a, _ in stored])
            else:
                for i, (a, _) in enumerate(stored):
                    arrays[f"leaf_{j}_{i}"] = a
            meta["leaves"].append({"stacked": uniform and not strings, "strings": strings})
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    save = np.savez_compressed if compress else np.savez
    atomic_write(path, lambda handle: save(handle, **arrays))


def read(path):
    """The list of elements stored by `write` (refusing pickled object arrays)."""
    with np.load(path, allow_pickle=False) as archive:
        meta = json.loads(bytes(archive["__meta__"]).decode("utf-8"))
        if meta.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a tensorflux dataset cache file")
        count = meta["count"]
        columns = []
        for j, info in enumerate(meta["leaves"]):
            if info["stacked"]:
                stacked = archive[f"leaf_{j}"]
                columns.append([stacked[i] for i in range(count)])
                continue
            column = [archive[f"leaf_{j}_{i}"] for i in range(count)]
            if info["strings"]:
                column = [np.asarray(a.tolist(), dtype=object) if a.ndim
                          else np.asarray(a.item(), dtype=object) for a in column]
            columns.append(column)
        return [_build(meta["skeleton"], iter(row)) for row in zip(*columns)]
