"""tf.train.Checkpoint / CheckpointManager: round trips, TF's observed behaviour (TF 2.21
printed the expected values written here), deferred optimizer slots, and damaged files."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors, keras, train
from tensorflux.io import checkpoint_file

ROOT = Path(__file__).resolve().parent.parent


class Net(tf.Module):
    def __init__(self):
        super().__init__()
        self.w = tf.Variable([[1.0, 2.0], [3.0, 4.0]])
        self.inner = tf.Module()
        self.inner.b = tf.Variable([0.5, -0.5])
        self.items = [tf.Variable(1), {"x": tf.Variable(2.5, dtype=tf.float64)}]


def _values(module):
    return [v.numpy().copy() for v in module.variables]


def test_save_names_with_counter_and_round_trips(tmp_path):
    net, step = Net(), tf.Variable(0)
    ckpt = train.Checkpoint(step=step, net=net)
    # TF: ckpt.save(prefix) -> prefix-1, then prefix-2; the save_counter counts them.
    first = ckpt.save(str(tmp_path / "ckpt"))
    assert os.path.basename(first) == "ckpt-1"
    before = _values(net)
    step.assign(5)
    for v in net.variables:
        v.assign(v * 0 + 9)
    second = ckpt.save(str(tmp_path / "ckpt"))
    assert os.path.basename(second) == "ckpt-2" and int(ckpt.save_counter) == 2
    status = ckpt.restore(first)
    status.assert_consumed()
    assert int(step) == 0
    for got, want in zip(_values(net), before):
        np.testing.assert_array_equal(got, want)
    assert int(ckpt.save_counter) == 1  # restored with the rest, as in TF


def test_write_does_not_count_or_record(tmp_path):
    ckpt = train.Checkpoint(v=tf.Variable(1.0))
    ckpt.save(str(tmp_path / "ckpt"))
    assert ckpt.write(str(tmp_path / "w")) == str(tmp_path / "w")
    assert int(ckpt.save_counter) == 1  # TF: write leaves save_counter alone
    assert os.path.basename(train.latest_checkpoint(str(tmp_path))) == "ckpt-1"


def test_latest_checkpoint_and_list_variables(tmp_path):
    assert train.latest_checkpoint(str(tmp_path)) is None
    ckpt = train.Checkpoint(v=tf.Variable(1.0))
    ckpt.save(str(tmp_path / "ckpt"))
    path = ckpt.save(str(tmp_path / "ckpt"))
    assert train.latest_checkpoint(str(tmp_path)) == path
    # TF's keys (less its _CHECKPOINTABLE_OBJECT_GRAPH entry).
    assert train.list_variables(path) == [("save_counter/.ATTRIBUTES/VARIABLE_VALUE", []),
                                          ("v/.ATTRIBUTES/VARIABLE_VALUE", [])]
    assert float(train.load_variable(path, "v")) == 1.0
    assert tf.train.Checkpoint is train.Checkpoint


def test_non_trackable_value_is_refused():
    with pytest.raises(ValueError, match="was expecting x to be a trackable object"):
        train.Checkpoint(x=5)


def test_restore_reports_unmatched_and_shape_errors(tmp_path):
    path = train.Checkpoint(v=tf.Variable(1.0)).save(str(tmp_path / "ckpt"))
    extra = train.Checkpoint(v=tf.Variable(0.0), w=tf.Variable(2.0))
    status = extra.restore(path)
    assert float(extra.v) == 1.0
    with pytest.raises(AssertionError, match="not bound to checkpointed values"):
        status.assert_consumed()
    assert status.expect_partial() is status
    wrong = train.Checkpoint(v=tf.Variable([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"incompatible tensor with shape \(\) .* shape \(2,\)"):
        wrong.restore(path)
    with pytest.raises(errors.NotFoundError):
        extra.restore(str(tmp_path / "nope"))


def test_checkpoint_manager_keeps_max_to_keep_and_recovers(tmp_path):
    ckpt = train.Checkpoint(v=tf.Variable(1.0))
    manager = train.CheckpointManager(ckpt, str(tmp_path), max_to_keep=2)
    names = [os.path.basename(manager.save()) for _ in range(4)]
    assert names == ["ckpt-1", "ckpt-2", "ckpt-3", "ckpt-4"]
    assert [os.path.basename(p) for p in manager.checkpoints] == ["ckpt-3", "ckpt-4"]
    assert os.path.basename(manager.latest_checkpoint) == "ckpt-4"
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "ckpt-3.tfxckpt", "ckpt-4.tfxckpt"]
    # TF: an explicit number names the file and still increments save_counter (to 5).
    assert os.path.basename(manager.save(checkpoint_number=10)) == "ckpt-10"
    assert int(ckpt.save_counter) == 5
    again = train.CheckpointManager(train.Checkpoint(v=tf.Variable(0.0)), str(tmp_path), 2)
    assert [os.path.basename(p) for p in again.checkpoints] == ["ckpt-4", "ckpt-10"]
    assert again.restore_or_initialize() == again.latest_checkpoint
    assert float(again.checkpoint.v) == 1.0
    with pytest.raises(ValueError, match="positive integer or `None` for `max_to_keep`"):
        train.CheckpointManager(ckpt, str(tmp_path), max_to_keep=0)


def _train_step(model, optimizer):
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(tf.ones((1, 2))))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))


def _model():
    return keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])


def test_keras_model_and_optimizer_with_deferred_slots(tmp_path):
    model, optimizer = _model(), keras.optimizers.Adam()
    _train_step(model, optimizer)
    path = train.Checkpoint(model=model, optimizer=optimizer).save(str(tmp_path / "k"))
    model2, optimizer2 = _model(), keras.optimizers.Adam()
    status = train.Checkpoint(model=model2, optimizer=optimizer2).restore(path)
    # As in TF: before the first step the slots do not exist, so assert_consumed fails,
    # existing objects match, and the step count is already restored.
    with pytest.raises(AssertionError, match="Unresolved"):
        status.assert_consumed()
    status.assert_existing_objects_matched()
    assert int(optimizer2.iterations) == 1
    _train_step(model2, optimizer2)
    assert int(optimizer2.iterations) == 2
    status.assert_consumed()
    _train_step(model, optimizer)
    for a, b in zip(model.variables + optimizer.variables,
                    model2.variables + optimizer2.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_model_alone_restores_from_a_model_and_optimizer_checkpoint(tmp_path):
    model, optimizer = _model(), keras.optimizers.SGD(0.1)
    _train_step(model, optimizer)
    path = train.Checkpoint(model=model, optimizer=optimizer).save(str(tmp_path / "k"))
    model2 = _model()
    train.Checkpoint(model=model2).restore(path).expect_partial()
    for a, b in zip(model.variables, model2.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_truncated_and_corrupt_files_give_a_clear_error(tmp_path):
    path = train.Checkpoint(v=tf.Variable(np.arange(1000.0))).save(str(tmp_path / "ckpt"))
    data = checkpoint_file.data_path(path)
    raw = Path(data).read_bytes()
    Path(data).write_bytes(raw[: len(raw) // 2])
    with pytest.raises(errors.DataLossError, match="corrupt or truncated"):
        train.Checkpoint(v=tf.Variable(np.zeros(1000))).restore(path)
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0xFF  # inside the array's bytes: the CRC catches it
    Path(data).write_bytes(bytes(flipped))
    with pytest.raises(errors.DataLossError):
        train.Checkpoint(v=tf.Variable(np.zeros(1000))).restore(path)


def test_object_arrays_are_never_unpickled(tmp_path):
    path = train.Checkpoint(v=tf.Variable(1.0)).write(str(tmp_path / "c"))
    data = checkpoint_file.data_path(path)
    with zipfile.ZipFile(data) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    import io as std_io
    buffer = std_io.BytesIO()
    np.lib.format.write_array(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(data, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, buffer.getvalue() if name.startswith("arrays/") else content)
    with pytest.raises(errors.DataLossError):
        train.Checkpoint(v=tf.Variable(0.0)).restore(path)


def test_a_failed_save_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    v = tf.Variable([1.0, 2.0])
    ckpt = train.Checkpoint(v=v)
    path = ckpt.write(str(tmp_path / "c"))
    v.assign([7.0, 8.0])

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", broken)
    with pytest.raises(OSError, match="disk full"):
        ckpt.write(path)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["c.tfxckpt"]  # no temporary file left behind
    status = ckpt.restore(path)
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])
    # TF too: write() saves no save_counter, so restore's new save_counter is unmatched.
    with pytest.raises(AssertionError, match="save_counter"):
        status.assert_consumed()


def test_a_killed_save_leaves_the_previous_checkpoint(tmp_path):
    script = f"""
import os, numpy as np
import tensorflux as tf
v = tf.Variable(np.arange(100000.0))
ckpt = tf.train.Checkpoint(v=v)
ckpt.write({str(tmp_path / "c")!r})
v.assign(v * 2.0)
original = np.lib.format.write_array
def dying(handle, array, **kwargs):
    handle.write(b"x" * 4096)
    os._exit(9)  # the process dies mid-write, as under SIGKILL
np.lib.format.write_array = dying
ckpt.write({str(tmp_path / "c")!r})
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, timeout=120)
    assert result.returncode == 9
    v = tf.Variable(np.zeros(100000))
    train.Checkpoint(v=v).restore(str(tmp_path / "c")).expect_partial()
    np.testing.assert_array_equal(v.numpy(), np.arange(100000.0))
