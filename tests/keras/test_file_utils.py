"""keras.utils.get_file against a local HTTP server: cache reuse, hash checks, atomic
downloads, the offline error and safe archive extraction (never the internet)."""

import hashlib
import io
import os
import tarfile
import zipfile

import pytest

from tensorflux.keras.utils import file_utils, get_file
from tests.keras import _http
from tests.keras._http import closed_port_url

local_server = _http.local_server

BODY = bytes(range(256)) * 64


def md5(data):
    return hashlib.md5(data).hexdigest()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


def _parts(folder):
    return [p for p in os.listdir(folder) if p.endswith(".part")]


def test_downloads_into_keras_home_and_reuses_the_cache(local_server, keras_home, capsys):
    url = local_server.serve("/data/blob.bin", BODY)
    path = get_file("blob.bin", url, file_hash=sha256(BODY))
    assert path == str(keras_home / "datasets" / "blob.bin")
    assert open(path, "rb").read() == BODY
    assert "Downloading data from " + url in capsys.readouterr().out
    # A cached file whose hash matches: no request at all.
    assert get_file("blob.bin", url, file_hash=sha256(BODY)) == path
    assert len(local_server.requests) == 1
    # md5 (Applications' hashes) and the deprecated md5_hash argument.
    assert get_file("blob.bin", url, md5_hash=md5(BODY)) == path
    assert get_file(origin=url, file_hash=md5(BODY), cache_subdir="models") == \
        str(keras_home / "models" / "blob.bin")
    assert len(local_server.requests) == 2
    assert _parts(keras_home / "datasets") == []


def test_hash_mismatch_of_a_cached_file_redownloads(local_server, keras_home, capsys):
    url = local_server.serve("/blob.bin", BODY)
    target = keras_home / "datasets" / "blob.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"stale")
    get_file("blob.bin", url, file_hash=md5(BODY))
    out = capsys.readouterr().out
    assert ("A local file was found, but it seems to be incomplete or outdated because the auto "
            f"file hash does not match the original value of {md5(BODY)} so we will "
            "re-download the data.") in out
    assert target.read_bytes() == BODY


def test_downloaded_file_with_the_wrong_hash_is_refused_and_not_kept(local_server,
                                                                      keras_home):
    url = local_server.serve("/blob.bin", BODY)
    wrong = "0" * 64
    with pytest.raises(ValueError, match="Incomplete or corrupted file detected. The auto file "
                                         f"hash does not match the provided value of {wrong}"):
        get_file("blob.bin", url, file_hash=wrong)
    assert os.listdir(keras_home / "datasets") == []


def test_interrupted_download_leaves_no_partial_file_and_keeps_the_old_one(local_server,
                                                                           keras_home):
    url = local_server.serve("/big.bin", BODY, truncate=True)
    target = keras_home / "datasets" / "big.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"old")
    with pytest.raises(Exception, match="URL fetch failure on .*big.bin") as info:
        get_file("big.bin", url, file_hash=md5(BODY))
    assert str(target) in str(info.value)  # says where to place the file
    assert target.read_bytes() == b"old"
    assert _parts(target.parent) == []


def test_no_network_error_says_where_to_place_the_file(keras_home):
    url = closed_port_url("/weights.h5")
    with pytest.raises(file_utils.DownloadError) as info:
        get_file("weights.h5", url, cache_subdir="models", file_hash=md5(BODY))
    message = str(info.value)
    expected = str(keras_home / "models" / "weights.h5")
    assert f"URL fetch failure on {url}" in message
    assert f"place the file at {expected}" in message and md5(BODY) in message
    assert isinstance(info.value, Exception)
    assert os.listdir(keras_home / "models") == []


def test_http_error_is_reported(local_server, keras_home):
    url = local_server.serve("/present", BODY).replace("/present", "/missing")
    with pytest.raises(file_utils.DownloadError, match="404"):
        get_file("missing", url)


def test_fname_paths_and_missing_origin_are_refused(keras_home):
    with pytest.raises(ValueError, match="Paths are no longer accepted"):
        get_file(os.path.join("a", "b.txt"), "http://127.0.0.1/b.txt")
    with pytest.raises(ValueError, match="origin"):
        get_file("b.txt")


def _tar(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data, kind, link in members:
            info = tarfile.TarInfo(name)
            if kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, link
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _zip(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def test_extract_uses_keras3_folder_names(local_server, keras_home):
    archive = _tar([("pkg/a.txt", b"alpha", "file", None)])
    url = local_server.serve("/pkg.tar.gz", archive)
    out = get_file("pkg.tar.gz", url, extract=True, file_hash=sha256(archive))
    assert out == str(keras_home / "datasets" / "pkg_extracted")
    assert (keras_home / "datasets" / "pkg.tar.gz").exists()
    assert open(os.path.join(out, "pkg", "a.txt"), "rb").read() == b"alpha"
    # fname without a dot: extracted into datadir/fname, archive stored as <fname>_archive.
    out = get_file("pkgdir", url, extract=True)
    assert out == str(keras_home / "datasets" / "pkgdir")
    assert (keras_home / "datasets" / "pkgdir_archive").exists()
    zipped = _zip([("z/b.txt", b"beta")])
    out = get_file("z.zip", local_server.serve("/z.zip", zipped), extract=True)
    assert open(os.path.join(out, "z", "b.txt"), "rb").read() == b"beta"


@pytest.mark.parametrize("members", [
    [("../evil.txt", b"x", "file", None)],
    [("/tmp/evil_absolute.txt", b"x", "file", None)],
    [("ok/../../evil.txt", b"x", "file", None)],
    [("link", b"", "sym", "/etc/passwd")],
    [("link", b"", "sym", "../../outside")],
    [("hard", b"", "hard", "/etc/passwd")],
], ids=["dotdot", "absolute", "nested_dotdot", "symlink_abs", "symlink_rel", "hardlink"])
def test_malicious_tar_is_refused_without_side_effects(tmp_path, members):
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(_tar([("good.txt", b"fine", "file", None)] + members))
    target = tmp_path / "out" / "inner"
    with pytest.raises(ValueError, match="Refusing to extract the archive"):
        file_utils.extract_archive(str(archive), str(target))
    assert not (target / "good.txt").exists()
    assert not (tmp_path / "out" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
def test_malicious_zip_is_refused(tmp_path, name):
    archive = tmp_path / "evil.zip"
    archive.write_bytes(_zip([("good.txt", b"fine"), (name, b"x")]))
    with pytest.raises(ValueError, match="Refusing to extract the archive"):
        file_utils.extract_archive(str(archive), str(tmp_path / "out"))
    assert not (tmp_path / "out" / "good.txt").exists()
    assert not (tmp_path / "evil.txt").exists()


def test_symlink_inside_the_folder_is_accepted(tmp_path):
    archive = tmp_path / "ok.tar.gz"
    archive.write_bytes(_tar([("d/a.txt", b"alpha", "file", None),
                              ("d/link", b"", "sym", "a.txt")]))
    assert file_utils.extract_archive(str(archive), str(tmp_path / "out"))
    assert (tmp_path / "out" / "d" / "a.txt").read_bytes() == b"alpha"
