"""keras.utils.get_file: Keras 3's download cache (same folders, names and hashes, so files
Keras already fetched are reused), atomic downloads and safe archive extraction."""

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile

from tensorflux.keras.utils import io_utils

__all__ = ["DownloadError", "extract_archive", "get_file", "hash_file", "keras_home",
           "validate_file"]

_CHUNK = 1 << 16
_TIMEOUT_S = 60


class DownloadError(Exception):
    """A file could not be fetched: the message says where to place it to work offline.

    Keras raises a bare `Exception` here; this subclass of it is caught by the same code.
    """


def keras_home():
    """Keras's cache root: `$KERAS_HOME`, else `~/.keras` (`/tmp/.keras` when `~` is not
    writable). Read at each call, where Keras reads it once at import.

    >>> from tensorflux.keras.utils import file_utils
    >>> file_utils.keras_home().endswith(".keras") or "KERAS_HOME" in __import__("os").environ
    True
    """
    home = os.environ.get("KERAS_HOME")
    if home:
        return home
    base = os.path.expanduser("~")
    if not os.access(base, os.W_OK):
        base = "/tmp"
    return os.path.join(base, ".keras")


def resolve_hasher(algorithm, file_hash=None):
    """hashlib object for "sha256", "md5" or "auto" (sha256 only for 64-hex-digit hashes)."""
    if algorithm == "sha256":
        return hashlib.sha256()
    if algorithm == "auto" and file_hash is not None and len(file_hash) == 64:
        return hashlib.sha256()
    return hashlib.md5()


def _algorithm_name(algorithm, file_hash):
    return resolve_hasher(algorithm, file_hash).name


def hash_file(fpath, algorithm="sha256", chunk_size=_CHUNK):
    """The hex digest of a file ("sha256", "md5", "auto" or a hashlib object).

    >>> import os, tempfile
    >>> from tensorflux.keras.utils import file_utils
    >>> path = os.path.join(tempfile.mkdtemp(), "empty")
    >>> open(path, "wb").close()
    >>> file_utils.hash_file(path)[:16]
    'e3b0c44298fc1c14'
    """
    hasher = resolve_hasher(algorithm) if isinstance(algorithm, str) else algorithm
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def validate_file(fpath, file_hash, algorithm="auto", chunk_size=_CHUNK):
    """Whether the file's hash equals `file_hash` (md5 or sha256, "auto" picks by length)."""
    hasher = resolve_hasher(algorithm, file_hash)
    return str(hash_file(fpath, hasher, chunk_size)) == str(file_hash)


# ---------------------------------------------------------------------- extraction
def _inside(base, path):
    try:
        return os.path.commonpath([base, path]) == base
    except ValueError:  # different drives
        return False


def _check_member(base, name, kind="file", link=None):
    """Raises ValueError for a member that would land (or point) outside `base`."""
    if not name or os.path.isabs(name) or name.startswith(("/", "\\")) or \
            (len(name) > 1 and name[1] == ":"):
        raise ValueError(f"Refusing to extract the archive: member '{name}' has an absolute "
                         "path.")
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        raise ValueError(f"Refusing to extract the archive: member '{name}' contains '..'.")
    target = os.path.realpath(os.path.join(base, name))
    if not _inside(base, target):
        raise ValueError(f"Refusing to extract the archive: member '{name}' would be written "
                         f"outside {base}.")
    if kind == "symlink":
        pointed = os.path.realpath(os.path.join(os.path.dirname(target), link))
        if os.path.isabs(link) or not _inside(base, pointed):
            raise ValueError(f"Refusing to extract the archive: symbolic link '{name}' points "
                             f"outside the extraction folder ('{link}').")
    elif kind == "hardlink":
        if os.path.isabs(link) or ".." in link.replace("\\", "/").split("/") or \
                not _inside(base, os.path.realpath(os.path.join(base, link))):
            raise ValueError(f"Refusing to extract the archive: hard link '{name}' points "
                             f"outside the extraction folder ('{link}').")
    elif kind == "special":
        raise ValueError(f"Refusing to extract the archive: member '{name}' is a device, FIFO "
                         "or other special file.")


def _check_tar(archive, base):
    for info in archive.getmembers():
        if info.issym():
            _check_member(base, info.name, "symlink", info.linkname)
        elif info.islnk():
            _check_member(base, info.name, "hardlink", info.linkname)
        elif info.isfile() or info.isdir():
            _check_member(base, info.name)
        else:
            _check_member(base, info.name, "special")


def _check_zip(archive, base):
    for info in archive.infolist():
        # Zip symlinks are stored as regular files by zipfile.extractall; only the path matters.
        _check_member(base, info.filename)


def extract_archive(file_path, path=".", archive_format="auto"):
    """Extracts a tar (.tar, .tar.gz, .tar.bz2) or zip archive into `path`; returns whether
    a matching format was found.

    Every member is checked before anything is written: absolute paths, `..` components,
    links pointing outside `path` and special files make the whole archive refused with a
    ValueError (Keras 3 skips such members with a warning; tensorflux refuses the file).
    """
    if archive_format is None:
        return False
    if archive_format == "auto":
        archive_format = ["tar", "zip"]
    if isinstance(archive_format, str):
        archive_format = [archive_format]
    file_path = os.fspath(file_path)
    path = os.fspath(path)
    for kind in archive_format:
        if kind == "tar":
            matches, opener, check = tarfile.is_tarfile, tarfile.open, _check_tar
        elif kind == "zip":
            matches, opener, check = zipfile.is_zipfile, zipfile.ZipFile, _check_zip
        else:
            raise NotImplementedError(kind)
        if not matches(file_path):
            continue
        os.makedirs(path, exist_ok=True)
        base = os.path.realpath(path)
        with opener(file_path) as archive:
            check(archive, base)
            try:
                if kind == "tar" and hasattr(tarfile, "data_filter"):
                    archive.extractall(base, filter="data")
                else:
                    archive.extractall(base)
            except (tarfile.TarError, zipfile.BadZipFile, RuntimeError, KeyboardInterrupt):
                if os.path.isfile(path):
                    os.remove(path)
                elif os.path.exists(path):
                    shutil.rmtree(path)
                raise
        return True
    return False


# ---------------------------------------------------------------------- download
def _offline_hint(target, file_hash, hash_algorithm):
    hint = f"To work offline, place the file at {target}"
    if file_hash is not None:
        hint += (f" (its {_algorithm_name(hash_algorithm, file_hash)} hash must be "
                 f"{file_hash})")
    return hint + "."


def _download(origin, destination):
    """Streams `origin` into `destination` with Keras's progress bar; raises on a short read."""
    from tensorflux.keras.utils.progbar import Progbar

    with urllib.request.urlopen(origin, timeout=_TIMEOUT_S) as response:
        total = response.headers.get("Content-Length")
        total = int(total) if total is not None and total.isdigit() else None
        bar = Progbar(total)
        done = 0
        with open(destination, "wb") as out:
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                bar.update(done if total is None or done < total else total)
            out.flush()
            os.fsync(out.fileno())
        if total is not None and done < total:
            raise urllib.error.ContentTooShortError(
                f"retrieval incomplete: got only {done} out of {total} bytes", None)


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None,
             cache_subdir="datasets", hash_algorithm="auto", extract=False,
             archive_format="auto", cache_dir=None, force_download=False):
    """Downloads `origin` into Keras's cache (`~/.keras/<cache_subdir>/<fname>`, or under
    `$KERAS_HOME`) unless a file with the expected hash is already there, and returns its path
    (the extraction folder when `extract=True`).

    Downloads go to a temporary file in the cache folder that replaces the target only once
    complete and hash-checked, so an interrupted download never leaves a partial file.

    >>> import os, tempfile
    >>> from tensorflux.keras.utils import get_file
    >>> cache = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(cache, "datasets"))
    >>> open(os.path.join(cache, "datasets", "data.txt"), "w").close()
    >>> get_file("data.txt", "https://example.invalid/data.txt", cache_dir=cache) == \\
    ...     os.path.join(cache, "datasets", "data.txt")
    True
    """
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if cache_dir is None:
        cache_dir = keras_home()
    if md5_hash is not None and file_hash is None:
        file_hash = md5_hash
        hash_algorithm = "md5"
    datadir_base = os.path.expanduser(os.fspath(cache_dir))
    if not os.path.exists(datadir_base):
        # Keras creates its home folder at import; a missing cache_dir is created likewise.
        try:
            os.makedirs(datadir_base, exist_ok=True)
        except OSError:
            pass
    if not os.access(datadir_base, os.W_OK):
        datadir_base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(),
                                    ".keras")
    datadir = os.path.join(datadir_base, cache_subdir)
    os.makedirs(datadir, exist_ok=True)

    provided_fname = fname
    fname = os.fspath(fname) if fname is not None else None
    if not fname:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(f"Can't parse the file name from the origin provided: '{origin}'."
                             "Please specify the `fname` argument.")
    elif os.sep in fname or (os.altsep and os.altsep in fname):
        raise ValueError("Paths are no longer accepted as the `fname` argument. To specify "
                         "the file's parent directory, use the `cache_dir` argument. "
                         f"Received: fname={fname}")

    if extract or untar:
        if provided_fname and "." in fname:
            download_target = os.path.join(datadir, fname)
            extraction_dir = os.path.join(datadir, f"{fname[:fname.find('.')]}_extracted")
        else:
            extraction_dir = os.path.join(datadir, fname)
            download_target = os.path.join(datadir, f"{fname}_archive")
    else:
        download_target = os.path.join(datadir, fname)

    download = True
    if not force_download and os.path.exists(download_target):
        download = False
        if file_hash is not None and not validate_file(download_target, file_hash,
                                                       algorithm=hash_algorithm):
            io_utils.print_msg(
                "A local file was found, but it seems to be incomplete or outdated because "
                f"the {hash_algorithm} file hash does not match the original value of "
                f"{file_hash} so we will re-download the data.")
            download = True

    if download:
        io_utils.print_msg(f"Downloading data from {origin}")
        handle, partial = tempfile.mkstemp(prefix=f".{fname}.", suffix=".part", dir=datadir)
        os.close(handle)
        try:
            try:
                _download(origin, partial)
            except urllib.error.HTTPError as e:
                raise DownloadError(f"URL fetch failure on {origin}: {e.code} -- {e.msg}. "
                                    + _offline_hint(download_target, file_hash,
                                                    hash_algorithm)) from e
            except urllib.error.URLError as e:
                raise DownloadError(f"URL fetch failure on {origin}: {e.errno} -- {e.reason}. "
                                    + _offline_hint(download_target, file_hash,
                                                    hash_algorithm)) from e
            except OSError as e:  # connection reset, timeout, disk full
                raise DownloadError(f"URL fetch failure on {origin}: {e.errno} -- {e}. "
                                    + _offline_hint(download_target, file_hash,
                                                    hash_algorithm)) from e
            if file_hash is not None and not validate_file(partial, file_hash,
                                                           algorithm=hash_algorithm):
                raise ValueError(
                    f"Incomplete or corrupted file detected. The {hash_algorithm} file hash "
                    f"does not match the provided value of {file_hash}. "
                    + _offline_hint(download_target, file_hash, hash_algorithm))
            os.replace(partial, download_target)
        finally:
            if os.path.exists(partial):
                os.remove(partial)

    if extract or untar:
        if untar:
            archive_format = "tar"
        if not extract_archive(download_target, extraction_dir, archive_format):
            warnings.warn("Could not extract archive.", stacklevel=2)
        return extraction_dir
    return download_target
