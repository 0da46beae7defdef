"""atomic_write: replace a file so that a crash never leaves it half written."""

import os
import tempfile

__all__ = ["atomic_write"]


def atomic_write(path, write_fn, mode="wb"):
    """Writes `path` through `write_fn(file)` into a temporary file in the same folder,
    flushes and fsyncs it, then renames it over `path` (os.replace, atomic on POSIX and
    Windows). On any error the temporary file is removed and `path` is left as it was.

    `write_fn` receives the open file object (opened with `mode`, "wb" or "w"); pass
    mode=None to receive the temporary path instead (for writers that open files
    themselves, such as HDF5 libraries). Returns `path`.

    >>> import os, tempfile
    >>> from tensorflux.io.atomic import atomic_write
    >>> target = os.path.join(tempfile.mkdtemp(), "x.txt")
    >>> _ = atomic_write(target, lambda f: f.write("hello"), mode="w")
    >>> open(target).read()
    'hello'
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                dir=folder)
    try:
        if mode is None:
            os.close(fd)
            fd = None
            write_fn(temp)
            _fsync_path(temp)
        else:
            encoding = None if "b" in mode else "utf-8"
            with os.fdopen(fd, mode, encoding=encoding) as handle:
                fd = None
                write_fn(handle)
                handle.flush()
                os.fsync(handle.fileno())
        # mkstemp creates the file readable by its owner only; give the result the
        # permissions a plain open() would (the old file's, or 0666 less the umask).
        os.chmod(temp, _permissions(path))
        os.replace(temp, path)
        _fsync_dir(folder)
    except BaseException:
        if fd is not None:
            os.close(fd)
        if os.path.exists(temp):
            os.remove(temp)
        raise
    return path


def _permissions(path):
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_path(path):
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(folder):
    """Makes the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
