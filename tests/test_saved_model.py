"""tf.saved_model: no SavedModel support, and errors that say what to use instead."""

import pytest

import tensorflux as tf


def test_save_and_load_name_the_alternatives(tmp_path):
    module = tf.Module()
    with pytest.raises(NotImplementedError, match=r"model\.save\('model\.keras'\).*onnx"):
        tf.saved_model.save(module, str(tmp_path / "m"))
    with pytest.raises(NotImplementedError, match="load_model"):
        tf.saved_model.load(str(tmp_path / "m"))
    assert not (tmp_path / "m").exists()


def test_contains_saved_model_looks_for_the_graph_file(tmp_path):
    assert not tf.saved_model.contains_saved_model(tmp_path)
    (tmp_path / "saved_model.pb").write_bytes(b"")
    assert tf.saved_model.contains_saved_model(str(tmp_path))
