"""Model files are data: hostile `.keras`, legacy `.h5` and checkpoint files built in the test
(vocabulary paths in configs, duplicate archive members, HDF5 links reached through names
with "/", shape and zip bombs in checkpoints) fail with a clear error and change nothing.
Expected behaviour follows Keras 3's loader (its index_lookup refuses vocabulary files in safe
mode with a ValueError) and DESIGN.md "Files"."""

import io
import json
import zipfile

import numpy as np
import pytest

h5py = pytest.importorskip("h5py", reason="saving needs the h5 extra (pip install h5py)")

import tensorflux as tf  # noqa: E402
from tensorflux import errors, keras  # noqa: E402
from tensorflux.keras.saving._h5 import CorruptFileError  # noqa: E402


def _dense_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    model.set_weights([np.arange(6, dtype="float32").reshape(3, 2), np.ones(2, "float32")])
    return model


def _lookup_config(vocabulary):
    return {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None], "dtype": "string"}},
        {"class_name": "StringLookup", "config": {"name": "sl", "vocabulary": vocabulary}}]}}


# ---------------------------------------------------------------- configs
def test_a_vocabulary_path_in_a_model_file_is_not_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("alpha\nbeta\n")
    model = keras.Sequential([keras.Input((1,), dtype="string"),
                              keras.layers.StringLookup(vocabulary=str(secret), name="sl")])
    assert model.layers[0].get_vocabulary() == ["[UNK]", "alpha", "beta"]  # in code: fine
    # As Keras, the file keeps the vocabulary as an asset, not the path: it loads anywhere.
    path = tmp_path / "lookup.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
        members = {name: archive.read(name) for name in archive.namelist()}
    assert config["config"]["layers"][1]["config"]["vocabulary"] is None
    assert members["assets/layers/string_lookup/vocabulary.txt"] == b"[UNK]\nalpha\nbeta"
    secret.unlink()
    assert keras.models.load_model(path).layers[0].get_vocabulary() == ["[UNK]", "alpha",
                                                                         "beta"]
    # A file naming a path (here one of the user's files) is refused: Keras's ValueError.
    secret.write_text("password\n")
    config["config"]["layers"][1]["config"]["vocabulary"] = str(secret)
    hostile = tmp_path / "hostile.keras"
    with zipfile.ZipFile(hostile, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, json.dumps(config) if name == "config.json" else data)
    with pytest.raises(ValueError, match=r"StringLookup 'sl'.*vocabulary file.*secret\.txt"):
        keras.models.load_model(hostile)
    with pytest.raises(ValueError, match="vocabulary file"):
        keras.models.model_from_json(json.dumps(_lookup_config(str(secret))))
    legacy = tmp_path / "lookup.h5"
    _dense_model().save(legacy)
    with h5py.File(legacy, "a") as f:
        f.attrs["model_config"] = json.dumps(_lookup_config(str(secret)))
    with pytest.raises(ValueError, match="vocabulary file"):
        keras.models.load_model(legacy)
    # safe_mode=False is the user's own decision, as in Keras, where the archive's asset then
    # replaces the file's vocabulary (the archive, rewritten with writestr, stores its assets
    # with bare permissions and no file type: they load).
    loaded = keras.models.load_model(hostile, safe_mode=False)
    assert loaded.layers[0].get_vocabulary() == ["[UNK]", "alpha", "beta"]


def test_duplicate_archive_members_are_refused(tmp_path):
    path = tmp_path / "m.keras"
    _dense_model().save(path)
    with zipfile.ZipFile(path) as archive:
        members = [(name, archive.read(name)) for name in archive.namelist()]
    hostile = tmp_path / "dup.keras"
    with zipfile.ZipFile(hostile, "w") as archive, pytest.warns(UserWarning, match="Duplicate"):
        for name, data in members:
            archive.writestr(name, data)
        archive.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {
            "name": "other", "layers": []}}))
    with pytest.raises(CorruptFileError, match="'config.json' more than once"):
        keras.models.load_model(hostile)


# ---------------------------------------------------------------- HDF5 names with "/"
def _other_file(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("grp/d/kernel:0", data=np.full((3, 2), 42, "float32"))
        f.create_dataset("grp/d/bias:0", data=np.full((2,), 42, "float32"))
        f["grp"].attrs["weight_names"] = np.array([b"d/kernel:0", b"d/bias:0"])
    return other


def test_a_layer_name_with_a_slash_never_follows_an_external_link(tmp_path):
    model = _dense_model()
    path = tmp_path / "legacy.h5"
    model.save(path)
    other = _other_file(tmp_path)
    with h5py.File(path, "a") as f:
        weights = f["model_weights"]
        weights["evil"] = h5py.ExternalLink(str(other), "/")
        weights.attrs["layer_names"] = np.array([b"evil/grp"])
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(CorruptFileError, match="'evil': it is an HDF5 external link"):
        model.load_weights(path)
    with pytest.raises(CorruptFileError, match="external link"):
        keras.models.load_model(path)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_a_weight_name_with_a_slash_never_follows_a_soft_link(tmp_path):
    model = _dense_model()
    path = tmp_path / "legacy.h5"
    model.save(path)
    with h5py.File(path, "a") as f:
        layer = f["model_weights/d"]
        f.create_dataset("elsewhere/d/kernel:0", data=np.full((3, 2), 7, "float32"))
        f.create_dataset("elsewhere/d/bias:0", data=np.full((2,), 7, "float32"))
        layer["hop"] = h5py.SoftLink("/elsewhere")
        layer.attrs["weight_names"] = np.array([b"hop/d/kernel:0", b"hop/d/bias:0"])
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(CorruptFileError, match="soft link"):
        model.load_weights(path)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_dot_names_are_refused(tmp_path):
    model = _dense_model()
    path = tmp_path / "legacy.h5"
    model.save(path)
    with h5py.File(path, "a") as f:
        f["model_weights"].attrs["layer_names"] = np.array([b"."])
    with pytest.raises(CorruptFileError, match="not a member name"):
        model.load_weights(path)


# ---------------------------------------------------------------- checkpoints
def _rewrite_checkpoint(source, target, array_bytes, shape, compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(source) as archive:
        index = json.loads(archive.read("index.json"))
    ((key, entry),) = index["arrays"].items()
    index["arrays"] = {key: dict(entry, shape=list(shape))}
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("index.json", json.dumps(index))
        archive.writestr(zipfile.ZipInfo(entry["member"]), array_bytes,
                         compress_type=compress)


def test_checkpoint_shape_and_zip_bombs_fail_before_allocating(tmp_path):
    variable = tf.Variable(np.ones((2, 3), "float32"))
    source = tf.train.Checkpoint(v=variable).write(str(tmp_path / "ck")) + ".tfxckpt"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (10**6, 10**6)})
    # A 4 TB array declared in a 150-byte file: refused before numpy allocates it.
    _rewrite_checkpoint(source, tmp_path / "bomb.tfxckpt", header.getvalue() + bytes(24),
                        (10**6, 10**6))
    with pytest.raises(errors.DataLossError, match=r"declares shape \[1000000, 1000000\]"):
        tf.train.Checkpoint(v=variable).read(str(tmp_path / "bomb"))
    # A member that expands (tensorflux stores arrays uncompressed).
    packed = io.BytesIO()
    np.lib.format.write_array(packed, np.zeros((2, 3), "float32"))
    _rewrite_checkpoint(source, tmp_path / "zip.tfxckpt", packed.getvalue(), (2, 3),
                        compress=zipfile.ZIP_DEFLATED)
    with pytest.raises(errors.DataLossError, match="compressed"):
        tf.train.Checkpoint(v=variable).read(str(tmp_path / "zip"))
    np.testing.assert_array_equal(variable.numpy(), np.ones((2, 3)))


def test_a_failed_restore_changes_no_variable(tmp_path):
    saved = tf.train.Checkpoint(a=tf.Variable(np.full((2,), 5.0, "float32")),
                                b=tf.Variable(np.full((3,), 5.0, "float32")))
    path = saved.write(str(tmp_path / "two"))
    target = tf.train.Checkpoint(a=tf.Variable(np.zeros((2,), "float32")),
                                 b=tf.Variable(np.zeros((4,), "float32")))
    with pytest.raises(ValueError, match=r"incompatible tensor with shape \(3,\).*\(4,\)"):
        target.read(path)
    np.testing.assert_array_equal(target.a.numpy(), np.zeros(2))  # not half-restored
    target.b = tf.Variable(np.zeros((3,), "float32"))
    target.read(path).assert_consumed()
    np.testing.assert_array_equal(target.a.numpy(), np.full(2, 5.0))


# ---------------------------------------------------------------- ONNX / protobuf
def test_deeply_nested_onnx_bytes_fail_with_a_decode_error():
    from tensorflux.keras.export import onnx_proto
    from tensorflux.proto import wire

    def field(number, payload):  # a length-delimited field
        return wire.encode_varint(number << 3 | wire.LENGTH) + \
            wire.encode_varint(len(payload)) + payload

    graph = b""
    for _ in range(2000):  # graph.node[0].attribute[0].g = graph ... (ONNX field numbers)
        graph = field(1, field(5, field(6, graph)))
    with pytest.raises(wire.DecodeError, match="nested more than 100 levels"):
        onnx_proto.decode_model(field(7, graph))
    shallow = field(7, field(1, field(5, field(6, b""))))
    assert onnx_proto.decode_model(shallow)["graph"]["node"][0]["attribute"][0]["g"] == {}


@pytest.mark.keras_oracle
def test_a_saved_model_folder_gets_keras_error_type_and_says_what_to_do(tmp_path):
    from tests.keras._oracle import import_keras

    real = import_keras()
    folder = tmp_path / "exported"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"")
    with pytest.raises(ValueError, match="SavedModel") as theirs:
        real.models.load_model(folder)
    with pytest.raises(type(theirs.value), match=r"SavedModel folder.*re-save the model"):
        keras.models.load_model(folder)


def test_numpy_configs_cannot_declare_huge_item_sizes():
    from tensorflux.keras.saving.serialization import deserialize_keras_object

    def numpy_config(dtype, value=("ab", "c")):
        return {"class_name": "__numpy__", "config": {"value": list(value), "dtype": dtype}}

    # 2 GB of padding asked for by a 90-byte config: the values' own width is used.
    wide = deserialize_keras_object(numpy_config("U500000000"))
    assert wide.dtype == np.dtype("<U2") and wide.tolist() == ["ab", "c"]
    assert deserialize_keras_object(numpy_config("|S3")).dtype == np.dtype("S3")
    assert deserialize_keras_object(numpy_config("<U2")).dtype == np.dtype("<U2")
    assert deserialize_keras_object(numpy_config("float32", [1, 2])).dtype == np.float32
    for raw in ("V1000000000", "(100000000,)f4"):
        with pytest.raises(ValueError, match="raw-byte dtype"):
            deserialize_keras_object(numpy_config(raw, [1, 2]))


def test_a_dataset_declaring_gigabytes_it_does_not_store_is_never_read(tmp_path, monkeypatch):
    model = _dense_model()
    path = tmp_path / "bomb.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "a") as f:  # 2 GiB of fill value declared in a few kilobytes
        f["layers/dense/vars"].create_dataset("9", shape=(2**29,), dtype="float32",
                                              chunks=(2**20,))

    read = h5py.Dataset.__getitem__

    def small_reads_only(self, *args):
        assert self.size < 2**20, "the declared 2 GiB were read"
        return read(self, *args)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", small_reads_only)
    with pytest.raises(CorruptFileError, match=r"declares 2147483648 bytes.*stores only 0"):
        keras.saving.KerasFileEditor(path)
