"""tf.io.gfile: local file-system helpers with TensorFlow's names (no remote file systems)."""

import glob as _glob
import os
import shutil

from tensorflux import errors

__all__ = ["GFile", "copy", "exists", "glob", "isdir", "listdir", "makedirs", "mkdir",
           "remove", "rename", "rmtree", "stat", "walk"]


def exists(path):
    """True if `path` exists.

    >>> from tensorflux.io import gfile
    >>> gfile.exists("/")
    True
    """
    return os.path.exists(os.fspath(path))


def isdir(path):
    return os.path.isdir(os.fspath(path))


def glob(pattern):
    """The paths matching `pattern`, sorted (TF's order is unspecified)."""
    patterns = [pattern] if isinstance(pattern, (str, bytes, os.PathLike)) else list(pattern)
    found = set()
    for item in patterns:
        found.update(_glob.glob(os.fsdecode(item)))
    return sorted(found)


def listdir(path):
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise errors.NotFoundError(f"Could not find directory {path}")
    return sorted(os.listdir(path))


def makedirs(path):
    os.makedirs(os.fspath(path), exist_ok=True)


def mkdir(path):
    path = os.fspath(path)
    if os.path.exists(path):
        raise errors.AlreadyExistsError(f"{path} already exists")
    os.mkdir(path)


def remove(path):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise errors.NotFoundError(f"{path}; No such file or directory")
    os.remove(path)


def rmtree(path):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise errors.NotFoundError(f"{path}; No such file or directory")
    shutil.rmtree(path)


def rename(src, dst, overwrite=False):
    src, dst = os.fspath(src), os.fspath(dst)
    if not overwrite and os.path.exists(dst):
        raise errors.AlreadyExistsError(f"file already exists: {dst}")
    os.replace(src, dst)


def copy(src, dst, overwrite=False):
    src, dst = os.fspath(src), os.fspath(dst)
    if not overwrite and os.path.exists(dst):
        raise errors.AlreadyExistsError(f"file already exists: {dst}")
    shutil.copyfile(src, dst)


def stat(path):
    return os.stat(os.fspath(path))


def walk(top, topdown=True, onerror=None):
    yield from os.walk(os.fspath(top), topdown=topdown, onerror=onerror)


class GFile:
    """A file object like open(); modes "r", "rb", "w", "wb", "a", "ab". Text modes use UTF-8.

    >>> import os, tempfile
    >>> from tensorflux.io import gfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> with gfile.GFile(path, "w") as f:
    ...     _ = f.write("hi")
    >>> gfile.GFile(path).read()
    'hi'
    """

    def __init__(self, name, mode="r"):
        self.name = os.fspath(name)
        self.mode = mode
        if "r" in mode and not os.path.exists(self.name):
            raise errors.NotFoundError(f"{self.name}; No such file or directory")
        self._file = open(self.name, mode, encoding=None if "b" in mode else "utf-8")

    def __getattr__(self, name):
        return getattr(self.__dict__["_file"], name)

    def __iter__(self):
        return iter(self._file)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()
        return False

    def size(self):
        return os.path.getsize(self.name)
