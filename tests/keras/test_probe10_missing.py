"""keras.distribution, keras.SymbolicScope / RematScope and keras.utils.legacy, against real
Keras 3.15.1 (torch backend) where it serves: Keras's torch backend has no distribution
library, so the mesh, layout and layout-map classes (which need none) are compared with
Keras's, and the device-dependent parts with Keras's documented single-host behaviour."""

import numpy as np
import pytest

from tensorflux import keras
from tests.keras._oracle import import_keras

pytestmark = pytest.mark.keras_oracle

D = keras.distribution


def _outcome(fn):
    """(type name, message) of what fn raises, or ("ok", repr of its result)."""
    try:
        return "ok", repr(fn())
    except Exception as e:  # noqa: BLE001 - compared with Keras's
        return type(e).__name__, str(e)


def _mesh_cases(d, devices):
    return [
        lambda: d.DeviceMesh((1,), ["batch"], devices),
        lambda: d.DeviceMesh((1, 1), ["batch", "model"], devices).devices.shape,
        lambda: d.DeviceMesh((1, 1), ["batch"], devices),
        lambda: d.DeviceMesh((), [], devices),
        lambda: d.DeviceMesh((4,), ["batch"], devices),
        lambda: d.TensorLayout([None, "batch"], d.DeviceMesh((1,), ["batch"], devices)),
        lambda: d.TensorLayout([None, "model"], d.DeviceMesh((1,), ["batch"], devices)),
        lambda: d.TensorLayout(("model",)).axes,
        lambda: d.DataParallel(devices=devices),
        lambda: d.DataParallel(devices=devices).get_data_layout((8, 3)).axes,
        lambda: d.DataParallel(device_mesh="x"),
        lambda: d.ModelParallel(),
        lambda: d.ModelParallel(layout_map={}),
    ]


def test_mesh_layout_and_distribution_arguments_match_keras():
    k = import_keras()
    devices = ["cpu:0"]
    ours = [_outcome(c) for c in _mesh_cases(D, devices)]
    theirs = [_outcome(c) for c in _mesh_cases(k.distribution, devices)]
    assert ours == theirs


def _layout_map_trace(d, devices):
    mesh = d.DeviceMesh((1, 1), ["batch", "model"], devices)
    lm = d.LayoutMap(mesh)
    lm[".*dense.*kernel"] = (None, "model")
    lm[".*dense.*bias"] = ("model",)
    lm["conv/kernel"] = d.TensorLayout((None, None, None, "model"))
    trace = [lm["dense_1/kernel"].axes, lm["my_model/dense_2/bias"].axes,
             lm.get("conv3d/kernel"), lm["conv/kernel"].device_mesh is mesh, len(lm), list(lm),
             # re.fullmatch: a key matching only part of the path does not count
             lm["dense_1/kernel/extra"]]
    for bad in (lambda: lm.__setitem__(".*dense.*kernel", (None, None)),
                lambda: lm.__setitem__("x", [None]),
                lambda: lm.__setitem__("y", ("nope",))):
        trace.append(_outcome(bad)[0])
    lm[".*kernel"] = (None, None)
    trace.append(_outcome(lambda: lm["dense_1/kernel"]))
    del lm[".*kernel"]
    mp = d.ModelParallel(layout_map=lm, batch_dim_name="batch")
    trace += [mp.batch_dim_name, mp.num_model_replicas, mp.get_tensor_layout("dense/kernel").axes,
              mp.get_tensor_layout("other"), d.ModelParallel(layout_map=lm).batch_dim_name]
    return trace


def test_layout_map_regex_lookup_matches_keras():
    k = import_keras()
    assert _layout_map_trace(D, ["cpu:0"]) == _layout_map_trace(k.distribution, ["cpu:0"])


def test_devices_accepts_nested_lists_and_arrays():
    mesh = D.DeviceMesh((2, 2), ["batch", "model"], ["cpu:0", "cpu:1", "cpu:2", "cpu:3"])
    assert mesh.devices.shape == (2, 2) and mesh.devices.ndim == 2 and mesh.devices.size == 4
    assert mesh.devices.tolist() == [["cpu:0", "cpu:1"], ["cpu:2", "cpu:3"]]
    assert mesh.devices[1, 0] == "cpu:2"
    assert D.DeviceMesh((4,), ["batch"], np.array(mesh.devices.tolist())).devices.shape == (4,)
    assert D.DataParallel(devices=["cpu:0", "cpu:1"]).num_model_replicas == 2
    with pytest.raises(ValueError, match="same size"):  # as Keras: a 2-D list is no 1-D mesh
        D.DataParallel(devices=[["cpu:0"], ["cpu:1"]])


def test_single_host_devices_and_initialize():
    devices = D.list_devices()
    assert devices in (["cpu:0"], ["gpu:0"])
    assert D.list_devices("cpu") == ["cpu:0"] and D.get_device_count("cpu") == 1
    with pytest.raises(ValueError, match="device_type"):
        D.list_devices("npu")
    D.initialize()
    D.initialize(num_processes=1, process_id=0)
    with pytest.raises(NotImplementedError, match="num_processes=2"):
        D.initialize("10.0.0.1:1234,10.0.0.2:2345", num_processes=2, process_id=0)


def _fit_losses():
    rng = np.random.RandomState(0)
    x = rng.rand(16, 4).astype("float32")
    y = (x.sum(1, keepdims=True) > 2).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"),
                              keras.layers.Dense(1)])
    model.set_weights([np.full(w.shape, 0.1 * (i + 1), "float32")
                       for i, w in enumerate(model.get_weights())])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    return model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]


def test_fit_under_a_distribution_gives_the_same_numbers():
    plain = _fit_losses()
    strategy = D.DataParallel(devices=D.list_devices())
    with strategy.scope():
        assert D.distribution() is strategy
        scoped = _fit_losses()
    assert D.distribution() is None
    D.set_distribution(D.DataParallel(devices=D.list_devices()))
    try:
        assert isinstance(D.distribution(), D.DataParallel)
        global_ = _fit_losses()
    finally:
        D.set_distribution(None)
    assert plain == scoped == global_
    tensor = keras.ops.ones((2, 3))
    assert D.distribute_tensor(tensor, strategy.get_data_layout((2, 3))) is tensor


def test_remat_and_symbolic_scopes_match_keras():
    k = import_keras()
    from keras.src.backend.common.remat import get_current_remat_mode as theirs_mode
    from keras.src.backend.common.symbolic_scope import in_symbolic_scope as theirs_symbolic

    from tensorflux.keras.engine.scopes import get_current_remat_mode, in_symbolic_scope

    def trace_of(module, mode, symbolic):
        trace = [_outcome(lambda: module.RematScope(mode="bogus"))[0], mode()]
        with module.RematScope():
            trace.append(tuple(mode()))
            with module.RematScope(mode="list_of_layers", layer_names=["d"]):
                trace.append(tuple(mode()))
            trace.append(tuple(mode()))
        trace.append(mode())
        with module.SymbolicScope() as scope:
            trace += [symbolic(), type(scope).__name__]
        trace.append(symbolic())
        return trace

    assert (trace_of(keras, get_current_remat_mode, in_symbolic_scope)
            == trace_of(k, theirs_mode, theirs_symbolic))


def test_remat_scope_changes_no_value():
    x = np.linspace(-1, 1, 12, dtype="float32").reshape(3, 4)
    layer = keras.layers.Dense(2, kernel_initializer="ones", activation="relu")
    plain = keras.ops.convert_to_numpy(layer(x))
    with keras.RematScope(mode="full"):
        layer2 = keras.layers.Dense(2, kernel_initializer="ones", activation="relu")
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer2(x)), plain)


def test_legacy_serialization_matches_keras():
    k = import_keras()

    def trace(m):
        from_legacy = m.utils.legacy
        objects = {"Dense": m.layers.Dense, "GlorotUniform": m.initializers.GlorotUniform,
                   "SGD": m.optimizers.SGD, "relu": m.activations.relu,
                   "Zeros": m.initializers.Zeros}
        out = [from_legacy.serialize_keras_object(m.initializers.GlorotUniform(seed=3)),
               from_legacy.serialize_keras_object(m.activations.relu),
               from_legacy.serialize_keras_object(None),
               from_legacy.serialize_keras_object(m.optimizers.SGD(0.5))["config"]["momentum"]]
        dense = from_legacy.deserialize_keras_object(
            {"class_name": "Dense", "config": {"units": 3, "activation": "relu",
                                               "name": "relu"}}, module_objects=objects)
        out += [dense.units, dense.name, dense.activation.__name__]
        init = from_legacy.deserialize_keras_object(
            from_legacy.serialize_keras_object(m.initializers.GlorotUniform(seed=3)),
            module_objects=objects)
        out += [type(init).__name__, init.seed]
        out.append(_outcome(lambda: from_legacy.deserialize_keras_object(
            {"class_name": "Nope", "config": {}}, module_objects=objects))[0])
        out.append(_outcome(lambda: from_legacy.deserialize_keras_object(
            {"config": {}}, module_objects=objects))[0])
        out.append(_outcome(lambda: from_legacy.deserialize_keras_object(3))[0])
        out.append(type(from_legacy.deserialize_keras_object(
            "Zeros", custom_objects=objects)).__name__)
        return out

    assert trace(keras) == trace(k)


def test_legacy_serialization_nests_objects_in_configs():
    from tensorflux.keras.utils import legacy

    class Holder:
        def __init__(self, inner, label):
            self.inner, self.label = inner, label

        def get_config(self):
            return {"inner": self.inner, "label": self.label}

    config = legacy.serialize_keras_object(Holder(keras.initializers.Constant(2.0), "x"))
    assert config == {"class_name": "Holder", "config": {
        "inner": {"class_name": "Constant", "config": {"value": 2.0},
                  "__passive_serialization__": True}, "label": "x"}}
    back = legacy.deserialize_keras_object(
        config, module_objects={"Constant": keras.initializers.Constant},
        custom_objects={"Holder": Holder})
    assert isinstance(back.inner, keras.initializers.Constant) and back.inner.value == 2.0
    with pytest.raises(ValueError, match="Unknown activation: 'zz'"):
        legacy.deserialize_keras_object("zz", printable_module_name="activation")
