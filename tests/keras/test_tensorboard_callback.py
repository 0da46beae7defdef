"""keras.callbacks.TensorBoard: Keras 3's run layout and tags, read back by TensorBoard's own
event loader after a real fit."""

import os

import numpy as np
import pytest

from tensorflux import keras

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
tensor_util = pytest.importorskip("tensorboard.util.tensor_util")

KEEP_ALL = {"tensors": 0}


def load(logdir):
    accumulator = event_accumulator.EventAccumulator(str(logdir), size_guidance=KEEP_ALL)
    accumulator.Reload()
    return accumulator


def series(accumulator, tag):
    return [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in accumulator.Tensors(tag)]


def scalars(accumulator, tag):
    return [(step, value.item()) for step, value in series(accumulator, tag)]


def f32(values):
    return [np.float32(v).item() for v in values]


def make_model():
    model = keras.Sequential([keras.Input((3,)),
                              keras.layers.Dense(4, activation="relu", name="hidden"),
                              keras.layers.Dense(1, name="out")])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    return model


def data(n=12):
    rng = np.random.default_rng(0)
    return (rng.normal(size=(n, 3)).astype("float32"),
            rng.normal(size=(n, 1)).astype("float32"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One fit with every kind of log: 3 epochs of 3 batches, validation, histograms,
    images, per-batch scalars every 2 batches."""
    log_dir = tmp_path_factory.mktemp("tb")
    model = make_model()
    x, y = data(16)
    callback = keras.callbacks.TensorBoard(log_dir=log_dir, histogram_freq=2,
                                           write_images=True, update_freq=2)
    history = model.fit(x, y, epochs=3, batch_size=4, validation_split=0.25, verbose=0,
                        callbacks=[callback])
    return log_dir, model, history.history


def test_run_layout(trained):
    log_dir, _, _ = trained
    assert sorted(os.listdir(log_dir)) == ["train", "validation"]
    for run in ("train", "validation"):
        (name,) = os.listdir(log_dir / run)
        assert name.startswith("events.out.tfevents.")


def test_epoch_scalars_match_history(trained):
    log_dir, _, history = trained
    train, validation = load(log_dir / "train"), load(log_dir / "validation")
    for name in ("loss", "mae"):
        assert scalars(train, f"epoch_{name}") == list(enumerate(f32(history[name])))
        assert scalars(validation, f"epoch_{name}") == list(
            enumerate(f32(history[f"val_{name}"])))
    assert scalars(train, "epoch_learning_rate") == [(e, np.float32(0.05).item())
                                                     for e in range(3)]
    assert train.SummaryMetadata("epoch_loss").plugin_data.plugin_name == "scalars"
    assert "epoch_learning_rate" not in validation.Tags()["tensors"]


def test_batch_scalars_every_update_freq_batches(trained):
    log_dir, _, _ = trained
    train = load(log_dir / "train")
    # 12 training samples in batches of 4: global batches 1..9, recorded when step % 2 == 0.
    assert [step for step, _ in scalars(train, "batch_loss")] == [2, 4, 6, 8]
    assert [step for step, _ in scalars(train, "batch_mae")] == [2, 4, 6, 8]


def test_evaluation_vs_iterations(trained):
    log_dir, _, history = trained
    validation = load(log_dir / "validation")
    assert scalars(validation, "evaluation_loss_vs_iterations") == list(
        zip([3, 6, 9], f32(history["val_loss"])))


def test_weight_histograms_and_images(trained):
    log_dir, model, _ = trained
    train = load(log_dir / "train")
    tags = set(train.Tags()["tensors"])
    for layer in model.layers:
        for weight in layer.weights:
            tag = f"{weight.path}/histogram"  # (Keras's tag: the weight's path)
            assert tag.startswith(f"{model.name}/{layer.name}/")
            assert tag in tags
            points = series(train, tag)
            assert [step for step, _ in points] == [0, 2]  # histogram_freq=2
            buckets = points[-1][1]
            assert buckets.shape == (30, 3)
            assert buckets[:, 2].sum() == np.prod(weight.shape)
            final = weight.numpy()
            assert buckets[0, 0] == final.min() and buckets[-1, 1] == final.max()
    prefix = f"{model.name}/hidden"
    assert train.SummaryMetadata(f"{prefix}/kernel/histogram").plugin_data.plugin_name == \
        "histograms"
    # A dense kernel (3, 4) is shown as one [1, 3, 4, 1] image; a bias (4,) as [1, 4, 1, 1].
    (_, kernel_image) = series(train, f"{prefix}/kernel/image")[-1]
    assert (int(kernel_image[0]), int(kernel_image[1])) == (4, 3)
    (_, bias_image) = series(train, f"{prefix}/bias/image")[-1]
    assert (int(bias_image[0]), int(bias_image[1])) == (1, 4)


def test_train_graph(trained):
    log_dir, _, _ = trained
    train = load(log_dir / "train")
    assert train.Tags()["graph"]
    graph_def = train.Graph()
    ops = [node.op for node in graph_def.node]
    assert ops.count("Placeholder") >= 2  # x and y
    assert "MatMul" in ops
    assert "VarHandleOp" in ops and "ReadVariableOp" in ops
    assert any(op.startswith("Assign") for op in ops)  # the optimizer's updates


def test_epoch_update_freq_writes_no_batch_scalars_and_no_graph_when_asked(tmp_path):
    model = make_model()
    x, y = data()
    model.fit(x, y, epochs=2, batch_size=4, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(tmp_path, write_graph=False)])
    assert os.listdir(tmp_path) == ["train"]  # no validation data, no validation run
    train = load(tmp_path / "train")
    assert set(train.Tags()["tensors"]) == {"epoch_loss", "epoch_mae", "epoch_learning_rate"}
    assert not train.Tags()["graph"]


def test_run_eagerly_has_no_graph_and_steps_per_second(tmp_path):
    model = make_model()
    model.run_eagerly = True
    x, y = data()
    model.fit(x, y, epochs=1, batch_size=4, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(tmp_path, write_steps_per_second=True,
                                                     update_freq="batch")])
    train = load(tmp_path / "train")
    assert not train.Tags()["graph"]
    assert [s for s, _ in scalars(train, "batch_loss")] == [1, 2, 3]
    assert [s for s, _ in scalars(train, "batch_steps_per_second")] == [1, 2, 3]
    ((step, rate),) = scalars(train, "epoch_steps_per_second")
    assert step == 0 and rate > 0


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="profile_batch"):
        keras.callbacks.TensorBoard(tmp_path, profile_batch=(4, 2))
    with pytest.raises(ValueError, match="update_freq"):
        keras.callbacks.TensorBoard(tmp_path, update_freq=0)
