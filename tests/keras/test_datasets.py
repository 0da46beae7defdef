"""keras.datasets loaders on small stand-in files with Keras's exact names and keys, placed
in a temporary KERAS_HOME (or served by a local HTTP server); never the internet."""

import gzip
import hashlib
import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from tensorflux.keras.datasets import (
    _safe_unpickle,
    boston_housing,
    california_housing,
    cifar10,
    cifar100,
    fashion_mnist,
    imdb,
    mnist,
    reuters,
)
from tests.keras import _http

local_server = _http.local_server


@pytest.fixture
def datasets_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    folder = tmp_path / "home" / "datasets"
    folder.mkdir(parents=True)
    return folder


def _place(folder, name, data, module, monkeypatch, attribute="FILE_HASH"):
    """Writes a stand-in and makes the loader expect its hash (Keras checks a fixed one)."""
    (folder / name).write_bytes(data)
    monkeypatch.setattr(module, attribute, hashlib.sha256(data).hexdigest())
    return folder / name


def _npz(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _ragged(rng, count, vocabulary=40):
    out = np.empty(count, dtype=object)
    for k in range(count):
        out[k] = [int(v) for v in rng.integers(1, vocabulary, size=int(rng.integers(3, 12)))]
    return out


def _keras_load(monkeypatch, module_name, path, **kwargs):
    """Real Keras's loader on the same stand-in (its get_file pointed at the file)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("keras", reason="real Keras 3 is the oracle")
    import importlib

    module = importlib.import_module(f"keras.src.datasets.{module_name}")
    monkeypatch.setattr(module, "get_file", lambda *a, **k: str(path))
    return module.load_data(**kwargs)


def _assert_same(ours, theirs):
    for a, b in zip(ours, theirs):
        for x, y in zip(a, b):
            assert x.shape == y.shape and x.dtype == y.dtype
            if x.dtype == object:
                assert [list(v) for v in x] == [list(v) for v in y]
            else:
                np.testing.assert_array_equal(x, y)


def test_mnist_downloads_from_the_origin_folder_then_reads_the_cache(local_server,
                                                                     datasets_dir,
                                                                     monkeypatch):
    rng = np.random.default_rng(0)
    data = _npz(x_train=rng.integers(0, 255, (5, 28, 28), dtype=np.uint8),
                y_train=np.arange(5, dtype=np.uint8),
                x_test=rng.integers(0, 255, (2, 28, 28), dtype=np.uint8),
                y_test=np.arange(2, dtype=np.uint8))
    url = local_server.serve("/tf-keras-datasets/mnist.npz", data)
    monkeypatch.setattr(mnist, "ORIGIN_FOLDER", url[: -len("mnist.npz")])
    monkeypatch.setattr(mnist, "FILE_HASH", hashlib.sha256(data).hexdigest())
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    assert (datasets_dir / "mnist.npz").read_bytes() == data
    assert x_train.shape == (5, 28, 28) and x_train.dtype == np.uint8
    assert y_test.tolist() == [0, 1]
    mnist.load_data()
    assert local_server.requests == ["/tf-keras-datasets/mnist.npz"]


def test_mnist_keeps_keras_hash_and_origin():
    assert mnist.FILE_HASH == "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
    assert mnist.ORIGIN_FOLDER == "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def test_fashion_mnist_reads_gzipped_idx_files(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    folder = tmp_path / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    images = np.arange(3 * 784, dtype=np.uint32).astype(np.uint8).reshape(3, 28, 28)
    for prefix, n in (("train", 3), ("t10k", 3)):
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(b"\0" * 8 + bytes(range(n))))
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(b"\0" * 16 + images.tobytes()))
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (3, 28, 28) and x_train.dtype == np.uint8
    np.testing.assert_array_equal(x_test, images)
    assert y_train.tolist() == [0, 1, 2]


@pytest.mark.keras_oracle
@pytest.mark.parametrize("kwargs", [{}, {"num_words": 20, "skip_top": 2, "maxlen": 9},
                                    {"start_char": None, "oov_char": None, "index_from": 0},
                                    {"seed": 7, "index_from": 5}])
def test_imdb_matches_keras(datasets_dir, monkeypatch, kwargs):
    rng = np.random.default_rng(1)
    data = _npz(x_train=_ragged(rng, 12), y_train=rng.integers(0, 2, 12),
                x_test=_ragged(rng, 10), y_test=rng.integers(0, 2, 10))
    path = _place(datasets_dir, "imdb.npz", data, imdb, monkeypatch)
    ours = imdb.load_data(**kwargs)
    assert ours[0][0].dtype == object and isinstance(ours[0][0][0], list)
    _assert_same(ours, _keras_load(monkeypatch, "imdb", path, **kwargs))


@pytest.mark.keras_oracle
@pytest.mark.parametrize("kwargs", [{}, {"num_words": 15, "maxlen": 10, "test_split": 0.3}])
def test_reuters_matches_keras(datasets_dir, monkeypatch, kwargs):
    rng = np.random.default_rng(2)
    data = _npz(x=_ragged(rng, 20), y=rng.integers(0, 46, 20))
    path = _place(datasets_dir, "reuters.npz", data, reuters, monkeypatch)
    _assert_same(reuters.load_data(**kwargs), _keras_load(monkeypatch, "reuters", path,
                                                          **kwargs))
    assert len(reuters.get_label_names()) == 46


@pytest.mark.keras_oracle
@pytest.mark.parametrize("module,name,kwargs", [
    (boston_housing, "boston_housing", {}),
    (boston_housing, "boston_housing", {"test_split": 0.3, "seed": 3}),
    (california_housing, "california_housing", {}),
    (california_housing, "california_housing", {"version": "small"}),
])
def test_housing_matches_keras(datasets_dir, monkeypatch, module, name, kwargs):
    rng = np.random.default_rng(3)
    n, features = (30, 13) if name == "boston_housing" else (700, 8)
    data = _npz(x=rng.normal(size=(n, features)), y=rng.normal(size=n).astype(np.float32))
    path = _place(datasets_dir, f"{name}.npz", data, module, monkeypatch)
    ours = module.load_data(**kwargs)
    _assert_same(ours, _keras_load(monkeypatch, name, path, **kwargs))


def test_housing_argument_errors(datasets_dir):
    with pytest.raises(ValueError, match="test_split"):
        boston_housing.load_data(test_split=1.0)


def _cifar_archive(root, files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            payload = pickle.dumps(content, protocol=2)
            info = tarfile.TarInfo(f"{root}/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def _batch(rng, n, **labels):
    batch = {b"batch_label": b"stand-in", b"filenames": [b"x.png"] * n,
             b"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8)}
    batch.update({key.encode(): list(map(int, value)) for key, value in labels.items()})
    return batch


def test_cifar10_reads_pickled_batches_without_pickle(datasets_dir, monkeypatch):
    rng = np.random.default_rng(4)
    files = {f"data_batch_{i}": _batch(rng, 2, labels=[i, i + 1]) for i in range(1, 6)}
    files["test_batch"] = _batch(rng, 3, labels=[7, 8, 9])
    _place(datasets_dir, "cifar-10-batches-py-target_archive",
           _cifar_archive("cifar-10-batches-py", files), cifar10, monkeypatch)
    (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    assert x_train.shape == (10, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (10, 1) and y_train.dtype == np.uint8
    assert y_test.ravel().tolist() == [7, 8, 9] and x_test.shape == (3, 32, 32, 3)
    expected = files["data_batch_1"][b"data"][0].reshape(3, 32, 32).transpose(1, 2, 0)
    np.testing.assert_array_equal(x_train[0], expected)
    assert (datasets_dir / "cifar-10-batches-py-target").is_dir()


def test_cifar100_fine_and_coarse_labels(datasets_dir, monkeypatch):
    rng = np.random.default_rng(5)
    files = {"train": _batch(rng, 4, fine_labels=[1, 2, 3, 4], coarse_labels=[0, 0, 1, 1]),
             "test": _batch(rng, 2, fine_labels=[5, 6], coarse_labels=[2, 3])}
    _place(datasets_dir, "cifar-100-python-target_archive",
           _cifar_archive("cifar-100-python", files), cifar100, monkeypatch)
    (x_train, y_train), (_, y_test) = cifar100.load_data()
    assert x_train.shape == (4, 32, 32, 3) and y_train.ravel().tolist() == [1, 2, 3, 4]
    assert cifar100.load_data("coarse")[1][1].ravel().tolist() == [2, 3]
    with pytest.raises(ValueError, match="label_mode"):
        cifar100.load_data("medium")


def test_wrong_stand_in_hash_triggers_a_download(datasets_dir, monkeypatch):
    from tensorflux.keras.utils import file_utils

    (datasets_dir / "imdb.npz").write_bytes(b"not the real file")
    monkeypatch.setattr(file_utils, "_download", lambda origin, dest: (_ for _ in ()).throw(
        OSError("network disabled in tests")))
    with pytest.raises(file_utils.DownloadError, match="imdb.npz"):
        imdb.load_data()


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("payload", [
    pickle.dumps(_Evil(), protocol=2),
    pickle.dumps([1, _Evil()], protocol=4),
    pickle.dumps({"f": eval}, protocol=3),
    pickle.dumps(set([1]), protocol=4),
], ids=["os_system", "nested", "builtins_eval", "set"])
def test_safe_unpickler_refuses_everything_else(payload):
    with pytest.raises(_safe_unpickle.UnsafePickleError):
        _safe_unpickle.loads(payload)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_safe_unpickler_reads_numpy_and_plain_data(protocol):
    value = {b"data": np.arange(6, dtype=">i4").reshape(2, 3),
             "ragged": _ragged(np.random.default_rng(6), 4),
             "mixed": [None, True, 1.5, 2 ** 70, -3, "text", b"raw", (1, 2)]}
    out = _safe_unpickle.loads(pickle.dumps(value, protocol=protocol))
    np.testing.assert_array_equal(out[b"data"], value[b"data"])
    assert out[b"data"].dtype == value[b"data"].dtype
    assert [list(v) for v in out["ragged"]] == [list(v) for v in value["ragged"]]
    assert out["mixed"] == value["mixed"]


def test_npz_with_a_malicious_object_member_is_refused(tmp_path):
    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, {"descr": "|O", "fortran_order": False,
                                                  "shape": (1,)})
    stream.write(pickle.dumps(_Evil(), protocol=2))
    path = tmp_path / "evil.npz"
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", stream.getvalue())
    with pytest.raises(_safe_unpickle.UnsafePickleError, match="posix.system|nt.system"):
        _safe_unpickle.load_npz(path)
