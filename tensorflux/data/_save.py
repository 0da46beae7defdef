"""Dataset.save / Dataset.load: a dataset's elements in a folder, in tensorflux's own format.

The folder holds `dataset_spec.json` (the format name, the element spec as JSON, the
compression and the shards) and, per shard, NumPy .npz part files of up to _PART_ELEMENTS
elements each (written by _cache_file, no pickle). Loading reads JSON and arrays only: it
runs no code from the folder. A save replaces the folder's previous dataset only once the
new one is complete (the spec file is written last, atomically). This is not TensorFlow's
snapshot format: TensorFlow cannot load these folders, nor tensorflux TensorFlow's.
"""

import collections
import json
import os
import secrets

import numpy as np

import tensorflux as tf
from tensorflux import errors
from tensorflux.data import _cache_file
from tensorflux.data import _structure as structure
from tensorflux.data.dataset import (
    Dataset,
    DatasetSpec,
    _call_user,
    _ElementsDataset,
    _UnaryDataset,
)
from tensorflux.io.atomic import atomic_write
from tensorflux.tensor import _is_dense_tensor

__all__ = ["load", "save", "SnapshotDataset"]

_FORMAT = "tensorflux.data.save/1"
_SPEC_FILE = "dataset_spec.json"
_PART_ELEMENTS = 1024


def _compression(op, compression):
    if compression in (None, ""):
        return None
    name = str(compression).upper()
    if name not in ("GZIP", "SNAPPY"):
        raise ValueError(f"{op}: compression must be None, 'GZIP' or 'SNAPPY', received "
                         f"{compression!r}")
    return name


# ------------------------------------------------------------------ element specs as JSON

def _encode_spec(spec):
    if isinstance(spec, tf.TensorSpec):
        shape = None if spec.shape.rank is None else spec.shape.as_list()
        return {"tensor": {"shape": shape, "dtype": spec.dtype.name}}
    if isinstance(spec, dict):
        for key in spec:
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise ValueError(f"save: dict keys must be strings or numbers, received "
                                 f"{key!r}")
        return {"dict": [[key, _encode_spec(value)] for key, value in spec.items()]}
    if isinstance(spec, tuple) and hasattr(spec, "_fields"):
        return {"namedtuple": {"name": type(spec).__name__, "fields": list(spec._fields),
                               "values": [_encode_spec(v) for v in spec]}}
    if isinstance(spec, tuple):
        return {"tuple": [_encode_spec(v) for v in spec]}
    if isinstance(spec, DatasetSpec):
        raise ValueError("save: elements that hold datasets (as `window` makes) cannot be "
                         "saved; flatten them first (e.g. with flat_map)")
    raise ValueError(f"save: cannot save elements of spec {spec!r}")


def _decode_spec(encoded):
    if "tensor" in encoded:
        return tf.TensorSpec(encoded["tensor"]["shape"], encoded["tensor"]["dtype"])
    if "dict" in encoded:
        return {key: _decode_spec(value) for key, value in encoded["dict"]}
    if "namedtuple" in encoded:
        info = encoded["namedtuple"]
        kind = collections.namedtuple(info["name"], info["fields"])
        return kind(*[_decode_spec(v) for v in info["values"]])
    if "tuple" in encoded:
        return tuple(_decode_spec(v) for v in encoded["tuple"])
    raise ValueError(f"not an element spec of a saved dataset: {encoded!r}")


# ------------------------------------------------------------------ save

def _shard_of(shard_func, element):
    result = _call_user(shard_func, element)
    value = np.asarray(result._numpy() if _is_dense_tensor(result) else result)
    if value.shape != () or value.dtype != np.int64:
        raise errors.InvalidArgumentError("`shard_func` must return a scalar int64.",
                                          "SaveDataset")
    return int(value)


def _read_meta(path):
    with open(os.path.join(path, _SPEC_FILE), encoding="utf-8") as handle:
        meta = json.load(handle)
    if meta.get("format") != _FORMAT:
        raise errors.DataLossError(f"{path} does not hold a dataset saved by tensorflux "
                                   f"(format {meta.get('format')!r})", "LoadDataset")
    return meta


def save(dataset, path, compression=None, shard_func=None, checkpoint_args=None):
    """Writes the elements of `dataset` under the folder `path` (see the module docstring);
    `shard_func(element)` (a scalar int64) groups them into shards."""
    path = os.fspath(path)
    compression = _compression("save", compression)
    encoded = _encode_spec(dataset.element_spec)
    os.makedirs(path, exist_ok=True)
    run = secrets.token_hex(4)
    shards = {}  # shard index -> (part file names, element count, unwritten elements)

    def flush(index):
        files, count, pending = shards[index]
        name = f"{run}-shard{index}-part{len(files)}.npz"
        _cache_file.write(os.path.join(path, name), pending, compress=compression is not None)
        shards[index] = (files + [name], count, [])

    for element in dataset._iterate():
        index = 0 if shard_func is None else _shard_of(shard_func, element)
        files, count, pending = shards.setdefault(index, ([], 0, []))
        pending.append(element)
        shards[index] = (files, count + 1, pending)
        if len(pending) == _PART_ELEMENTS:
            flush(index)
    for index in list(shards):
        if shards[index][2]:
            flush(index)
    try:
        stale = [name for shard in _read_meta(path)["shards"] for name in shard["files"]]
    except (OSError, ValueError, KeyError, errors.DataLossError):
        stale = []
    meta = {"format": _FORMAT, "element_spec": encoded, "compression": compression,
            "cardinality": sum(count for _, count, _ in shards.values()),
            "shards": [{"index": index, "files": files, "count": count}
                       for index, (files, count, _) in sorted(shards.items())]}
    atomic_write(os.path.join(path, _SPEC_FILE), lambda handle: json.dump(meta, handle),
                 mode="w")
    for name in stale:
        try:
            os.remove(os.path.join(path, name))
        except OSError:
            pass


# ------------------------------------------------------------------ load

class _ShardDataset(Dataset):
    """The elements of one shard's part files, packed into the saved element structure."""

    def __init__(self, folder, files, count, spec):
        self._folder, self._files, self._count = folder, files, count
        self._spec = spec

    def _iterate(self):
        for name in self._files:
            for element in _cache_file.read(os.path.join(self._folder, name)):
                yield structure.pack_as(self._spec, structure.flatten(element))

    def _cardinality(self):
        return self._count


class _LoadedDataset(Dataset):
    """The shards one after another."""

    def __init__(self, shards, spec, count):
        self._shards = shards
        self._spec = spec
        self._count = count

    def _iterate(self):
        for shard in self._shards:
            yield from shard._iterate()

    def _cardinality(self):
        return self._count


def load(path, element_spec=None, compression=None, reader_func=None, wait=False):
    """The dataset that `save` wrote to `path`; `reader_func(shards)` may combine the
    dataset of shard datasets (by default they are read in shard order)."""
    path = os.fspath(path)
    if not os.path.exists(os.path.join(path, _SPEC_FILE)):
        raise errors.NotFoundError(f"tf.data saved dataset element_spec file not found: "
                                   f"{os.path.join(path, _SPEC_FILE)}.", "LoadDataset")
    meta = _read_meta(path)
    compression = _compression("load", compression)
    if compression != meta.get("compression"):
        raise errors.DataLossError(
            f"{path} was saved with compression {meta.get('compression')!r} but is loaded "
            f"with compression {compression!r}", "LoadDataset")
    spec = element_spec if element_spec is not None else _decode_spec(meta["element_spec"])
    shards = [_ShardDataset(path, shard["files"], shard["count"], spec)
              for shard in meta["shards"]]
    if reader_func is not None:
        return reader_func(_ElementsDataset(shards, DatasetSpec(spec)))
    return _LoadedDataset(shards, spec, meta["cardinality"])


# ------------------------------------------------------------------ snapshot

def _snapshot_compression(compression):
    """Dataset.snapshot's compression: 'AUTO' (TF's default: SNAPPY), 'GZIP', 'SNAPPY' or
    None/'NONE'/''; the part files are deflated for either algorithm."""
    if isinstance(compression, str) and compression.upper() == "AUTO":
        return "SNAPPY"
    if compression is None or isinstance(compression, str) and \
            compression.upper() in ("", "NONE", "GZIP", "SNAPPY"):
        return None if compression is None or compression.upper() in ("", "NONE") else \
            compression.upper()
    raise ValueError(f"snapshot: compression must be 'AUTO', 'GZIP', 'SNAPPY' or None, "
                     f"received {compression!r}")


class SnapshotDataset(_UnaryDataset):
    """Dataset.snapshot: the first complete pass yields the input's elements and then writes
    them under `path` (as Dataset.save, `shard_func(element)` a scalar int64 choosing each
    one's shard); later passes, in this program or another, read them back through
    `reader_func(shards)`, a function of the dataset of shard datasets (in shard order) that
    returns a dataset (by default the shards one after another). One snapshot is kept per
    element spec, in a subfolder named by a hash of it: TF names its runs by a fingerprint
    of the whole pipeline, which tensorflux does not compute, so a changed pipeline with the
    same element spec reads the older snapshot (use a new path)."""

    def __init__(self, input_dataset, path, compression="AUTO", reader_func=None,
                 shard_func=None):
        super().__init__(input_dataset)
        self._path = os.fspath(path)
        self._compression = _snapshot_compression(compression)
        for what, fn in (("reader_func", reader_func), ("shard_func", shard_func)):
            if fn is not None and not callable(fn):
                raise TypeError(f"snapshot: {what} must be callable or None, received "
                                f"{fn!r}")
        self._reader_func = reader_func
        self._shard_func = shard_func

    def _folder(self):
        import hashlib

        encoded = json.dumps(_encode_spec(self._input.element_spec), sort_keys=True)
        digest = hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:16]
        return os.path.join(self._path, digest)

    def _iterate(self):
        folder = self._folder()
        if os.path.exists(os.path.join(folder, _SPEC_FILE)):
            yield from self._read(folder)
            return
        collected = []
        source = iter(self._input._iterate())
        try:
            for element in source:
                if self._shard_func is not None:
                    _shard_of(self._shard_func, element)  # (a bad shard_func fails now)
                collected.append(element)
                yield element
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
        if not os.path.exists(os.path.join(folder, _SPEC_FILE)):
            save(_ElementsDataset(collected, self._input.element_spec), folder,
                 self._compression, self._shard_func)

    def _read(self, folder):
        loaded = load(folder, self._input.element_spec, self._compression,
                      self._reader_func)
        if not isinstance(loaded, Dataset):
            raise TypeError(f"snapshot: reader_func must return a tf.data.Dataset, received "
                            f"{type(loaded).__name__}")
        return loaded._iterate()
