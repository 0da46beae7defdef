"""The tensorflux checkpoint file: one zip holding a JSON index and .npy arrays, never pickle.

Layout (ZIP_STORED, each member CRC-checked on read):
  index.json         {"format": "tensorflux-checkpoint", "version": 1, "nodes": [...]}
  arrays/<n>.npy     one array per variable, written and read with allow_pickle=False

The file is written with atomic_write (temporary file, fsync, rename), so a crash or an
error mid-save leaves the previous file as it was. Reading validates member names, the
index's structure and every array's shape and dtype against the index, and turns any
damage (truncation, bad CRC, missing members) into errors.DataLossError naming the file.
"""

import io
import json
import os
import zipfile

import numpy as np

from tensorflux import errors
from tensorflux.io.atomic import atomic_write

__all__ = ["SUFFIX", "FORMAT", "data_path", "write_checkpoint_file", "read_checkpoint_file"]

SUFFIX = ".tfxckpt"
FORMAT = "tensorflux-checkpoint"
VERSION = 1
_INDEX = "index.json"
# Bounds that keep a hostile index from asking for absurd work before any array is read.
_MAX_INDEX_BYTES = 256 * 1024 * 1024
_ALLOWED_KINDS = "biuf?c"
# numpy's own bound on a .npy header (read_array's max_header_size) plus its preamble.
_MAX_NPY_HEADER = 10000 + 16


def data_path(prefix):
    """The file a checkpoint prefix names (`prefix` itself when it already ends in SUFFIX)."""
    prefix = os.fspath(prefix)
    return prefix if prefix.endswith(SUFFIX) else prefix + SUFFIX


def _storable(key, array):
    array = np.asarray(array)
    if array.dtype.kind == "O":
        # String variables: fixed-width bytes store without pickle.
        try:
            return np.asarray(array.tolist(), dtype=np.bytes_).reshape(array.shape), "string"
        except (TypeError, ValueError) as error:
            raise errors.InvalidArgumentError(
                f"checkpoint: variable {key!r} holds objects that are not bytes strings "
                f"({error})") from error
    if array.dtype.kind not in _ALLOWED_KINDS:
        raise errors.UnimplementedError(
            f"checkpoint: variable {key!r} has dtype {array.dtype}, which the tensorflux "
            "checkpoint format does not store (bool, integer, float and complex are stored)")
    # np.ascontiguousarray would make a 0-d array 1-d.
    return (array if array.flags.c_contiguous else array.copy(order="C")), None


def write_checkpoint_file(prefix, nodes, arrays):
    """Atomically writes `nodes` (a JSON-able list) and `arrays` ({key: ndarray}) to
    data_path(prefix). Returns the data file's path."""
    path = data_path(prefix)
    entries = {}
    for number, (key, array) in enumerate(arrays.items()):
        stored, kind = _storable(key, array)
        entries[key] = (f"arrays/{number}.npy", stored, kind)
    index = {"format": FORMAT, "version": VERSION, "nodes": nodes,
             "arrays": {key: {"member": member, "shape": list(stored.shape),
                              "dtype": stored.dtype.str, "kind": kind}
                        for key, (member, stored, kind) in entries.items()}}

    def write(handle):
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(_INDEX, json.dumps(index, sort_keys=True))
            for member, stored, _ in entries.values():
                with archive.open(member, "w", force_zip64=True) as out:
                    np.lib.format.write_array(out, stored, allow_pickle=False)

    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    return atomic_write(path, write)


def _corrupt(path, why):
    return errors.DataLossError(
        f"The checkpoint file {path} is corrupt or truncated ({why}); it cannot be restored. "
        "Restore an earlier checkpoint (CheckpointManager keeps max_to_keep of them).")


def read_checkpoint_file(prefix):
    """(nodes, {key: ndarray}) from data_path(prefix); DataLossError if the file is damaged,
    NotFoundError if it is missing."""
    path = data_path(prefix)
    if not os.path.isfile(path):
        raise errors.NotFoundError(
            f"Error when restoring from checkpoint at {os.fspath(prefix)}: no tensorflux "
            f"checkpoint file {path} (tensorflux reads its own format, not TensorFlow's "
            ".index/.data files)")
    try:
        with zipfile.ZipFile(path, "r") as archive:
            return _read_archive(path, archive)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, KeyError,
            UnicodeDecodeError, json.JSONDecodeError, OSError) as error:
        if isinstance(error, (FileNotFoundError, PermissionError)):
            raise
        raise _corrupt(path, f"{type(error).__name__}: {error}") from error


def _check_member_size(path, key, entry, info):
    """Before anything is read or allocated: the member is stored (tensorflux never compresses
    them, so a small file cannot expand into a large one) and holds the bytes of the shape and
    dtype the index declares (the .npy header adds at most _MAX_NPY_HEADER), so a declared
    shape can never ask for more memory than the file itself has."""
    if info.compress_type != zipfile.ZIP_STORED:
        raise _corrupt(path, f"array {key!r} is compressed; tensorflux stores arrays "
                             "uncompressed")
    shape, dtype = entry.get("shape"), entry.get("dtype")
    try:
        itemsize = np.dtype(dtype).itemsize
    except (TypeError, ValueError) as error:
        raise _corrupt(path, f"array {key!r} has dtype {dtype!r}") from error
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise _corrupt(path, f"array {key!r} has shape {shape!r}")
    size = itemsize
    for n in shape:
        size *= n
        if size > info.file_size:
            break
    if not size <= info.file_size <= size + _MAX_NPY_HEADER:
        raise _corrupt(path, f"array {key!r} declares shape {shape} of {dtype}, but its "
                             f"member holds {info.file_size} bytes")


def _read_archive(path, archive):
    info = archive.getinfo(_INDEX)
    if info.file_size > _MAX_INDEX_BYTES:
        raise _corrupt(path, f"index of {info.file_size} bytes")
    index = json.loads(archive.read(_INDEX).decode("utf-8"))
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise _corrupt(path, "not a tensorflux checkpoint index")
    if index.get("version") != VERSION:
        raise errors.UnimplementedError(
            f"{path}: tensorflux checkpoint version {index.get('version')!r} is not supported "
            f"(this tensorflux reads version {VERSION})")
    nodes, table = index.get("nodes"), index.get("arrays")
    if not isinstance(nodes, list) or not isinstance(table, dict):
        raise _corrupt(path, "index lacks nodes or arrays")
    members = set(archive.namelist())
    arrays = {}
    for key, entry in table.items():
        member = entry.get("member") if isinstance(entry, dict) else None
        if not isinstance(member, str) or member not in members or not member.startswith(
                "arrays/"):
            raise _corrupt(path, f"array {key!r} has no member in the file")
        _check_member_size(path, key, entry, archive.getinfo(member))
        with archive.open(member) as handle:
            data = io.BytesIO(handle.read())  # reading the whole member checks its CRC
        try:
            array = np.lib.format.read_array(data, allow_pickle=False)
        except ValueError as error:
            raise _corrupt(path, f"array {key!r}: {error}") from error
        if list(array.shape) != entry.get("shape") or array.dtype.str != entry.get("dtype"):
            raise _corrupt(path, f"array {key!r} is {array.dtype.str}{list(array.shape)}, "
                                 f"the index says {entry.get('dtype')}{entry.get('shape')}")
        if entry.get("kind") == "string":
            array = np.array(array.tolist(), dtype=object).reshape(array.shape)
        arrays[key] = array
    return nodes, arrays
