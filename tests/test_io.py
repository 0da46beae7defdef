"""tf.io: read_file / write_file (atomic), gfile, serialize_tensor / parse_tensor."""

import os

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors


def test_write_then_read_file_and_missing_folders(tmp_path):
    path = str(tmp_path / "sub" / "a.bin")
    tf.io.write_file(path, tf.constant(b"\x00abc"))  # TF creates the missing folder too
    got = tf.io.read_file(path)
    assert got.dtype == tf.string and got.shape == () and got.numpy() == b"\x00abc"
    with pytest.raises(errors.NotFoundError):
        tf.io.read_file(str(tmp_path / "missing"))


def test_write_file_is_atomic_on_failure(tmp_path, monkeypatch):
    path = str(tmp_path / "a.txt")
    tf.io.write_file(path, b"old")
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("boom")))
    with pytest.raises(OSError, match="boom"):
        tf.io.write_file(path, b"new")
    monkeypatch.undo()
    assert open(path, "rb").read() == b"old" and os.listdir(tmp_path) == ["a.txt"]


def test_gfile(tmp_path):
    gfile = tf.io.gfile
    folder = str(tmp_path / "a" / "b")
    gfile.makedirs(folder)
    assert gfile.exists(folder) and gfile.isdir(folder)
    with gfile.GFile(os.path.join(folder, "x.txt"), "w") as handle:
        handle.write("line1\nline2\n")
    with gfile.GFile(os.path.join(folder, "x.txt")) as handle:
        assert list(handle) == ["line1\n", "line2\n"]
    assert gfile.glob(os.path.join(folder, "*.txt")) == [os.path.join(folder, "x.txt")]
    assert gfile.listdir(folder) == ["x.txt"]
    gfile.remove(os.path.join(folder, "x.txt"))
    assert not gfile.exists(os.path.join(folder, "x.txt"))
    with pytest.raises(errors.NotFoundError):
        gfile.remove(os.path.join(folder, "x.txt"))
    with pytest.raises(errors.NotFoundError):
        gfile.GFile(os.path.join(folder, "nope"))


@pytest.mark.parametrize("value, dtype", [
    ([[1.5, -2.0], [0.0, 3.25]], tf.float32), (7, tf.int64), ([], tf.float64),
    ([b"a", b"", b"\xff"], tf.string), ([True, False], tf.bool)])
def test_serialize_parse_round_trip(value, dtype):
    tensor = tf.constant(value, dtype=dtype)
    data = tf.io.serialize_tensor(tensor)
    assert data.dtype == tf.string and data.shape == ()
    back = tf.io.parse_tensor(data, dtype)
    assert back.dtype == dtype and back.shape == tensor.shape
    np.testing.assert_array_equal(back.numpy(), tensor.numpy())


def test_parse_tensor_errors():
    data = tf.io.serialize_tensor(tf.constant([1.0]))
    with pytest.raises(errors.InvalidArgumentError, match="Type mismatch"):
        tf.io.parse_tensor(data, tf.int32)
    with pytest.raises(errors.InvalidArgumentError):
        tf.io.parse_tensor(b"not a tensor", tf.float32)
    truncated = data.numpy()[:-3]
    with pytest.raises(errors.InvalidArgumentError):
        tf.io.parse_tensor(truncated, tf.float32)
