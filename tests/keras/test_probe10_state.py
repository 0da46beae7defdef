"""Layer and model state, checked against real Keras 3: the state lock (variables or
sub-layers added to a built layer raise instead of growing the layer on every call), which
models stay open after build, and keras.StatelessScope (mapped values read inside, assignments
captured, the real variables untouched)."""

import numpy as np
import pytest

from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras, to_numpy  # noqa: F401

pytestmark = pytest.mark.keras_oracle

X = np.arange(6, dtype="float32").reshape(2, 3) / 5


def _outcome(fn, k):
    """("ok", result) or ("raised", the exception's class name, its message)."""
    try:
        return ("ok", fn(k))
    except Exception as error:  # noqa: BLE001 - the outcome is what is compared
        return ("raised", type(error).__name__, str(error))


# ---------------------------------------------------------------- the state lock
def _weight_in_call_no_build(k):
    class Lazy(k.layers.Layer):
        def call(self, x):
            self.w = self.add_weight(shape=(3, 2), initializer="ones")
            return x @ self.w

    layer = Lazy()
    for _ in range(3):  # (it used to gain a new, never-trained weight on every call)
        layer(X)
    return len(layer.weights)


def _weight_in_call_after_build(k):
    class Scaled(k.layers.Layer):
        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(3, 2), initializer="ones")

        def call(self, x):
            self.scale = self.add_weight(shape=(2,), initializer="ones")
            return (x @ self.kernel) * self.scale

    Scaled()(X)


def _guarded_weight_in_call(k):
    class Guarded(k.layers.Layer):
        def call(self, x):
            if not hasattr(self, "w"):
                self.w = self.add_weight(shape=(3, 2), initializer="ones")
            return x @ self.w

    Guarded()(X)


def _sublayer_in_call(k):
    class Maker(k.layers.Layer):
        def call(self, x):
            self.dense = k.layers.Dense(2)
            return self.dense(x)

    Maker()(X)


def _add_weight_after_call(k):
    class InInit(k.layers.Layer):
        def __init__(self):
            super().__init__()
            self.w = self.add_weight(shape=(3, 2), initializer="ones")

        def call(self, x):
            return x @ self.w

    layer = InInit()
    layer(X)
    layer.extra = layer.add_weight(shape=(1,))


def _variable_attribute_after_build(k):
    dense = k.layers.Dense(2)
    dense.build((None, 3))
    dense.v = k.Variable(np.ones(2, "float32"))


def _layer_attribute_after_build(k):
    dense = k.layers.Dense(2)
    dense.build((None, 3))
    dense.sub = k.layers.Dense(1)


def _list_append_after_build(k):
    class Stack(k.layers.Layer):
        def __init__(self):
            super().__init__()
            self.blocks = []

        def build(self, input_shape):
            self.blocks.append(k.layers.Dense(2))

        def call(self, x):
            return self.blocks[0](x)

    layer = Stack()
    layer(X)
    layer.blocks.append(k.layers.Dense(2))


def _subclassed_model_attach_after_call(k):
    class Net(k.Model):
        def __init__(self):
            super().__init__()
            self.d = k.layers.Dense(2)

        def call(self, x):
            return self.d(x)

    model = Net()
    model(X)
    model.head = k.layers.Dense(1)


LOCKED = [_weight_in_call_no_build, _weight_in_call_after_build, _guarded_weight_in_call,
          _sublayer_in_call, _add_weight_after_call, _variable_attribute_after_build,
          _layer_attribute_after_build, _list_append_after_build,
          _subclassed_model_attach_after_call]


@pytest.mark.parametrize("case", LOCKED, ids=[c.__name__.strip("_") for c in LOCKED])
def test_state_added_to_a_built_layer_raises_as_in_keras(case):
    theirs = _outcome(case, import_keras())
    ours = _outcome(case, keras)
    assert theirs[:2] == ("raised", "ValueError"), theirs
    assert ours[:2] == theirs[:2], ours
    assert "already built" in ours[2] and "`build()`" in ours[2], ours[2]


def _super_build_first(k):
    class Extra(k.layers.Dense):
        def build(self, input_shape):
            super().build(input_shape)
            self.extra = self.add_weight(shape=(self.units,), initializer="ones", name="extra")

    class Plain(k.layers.Layer):
        def build(self, input_shape):
            super().build(input_shape)
            self.w = self.add_weight(shape=(3, 2), initializer="ones", name="w")

        def call(self, x):
            return x @ self.w

    extra, plain = Extra(2), Plain()
    extra(X)
    plain(X)
    return [w.name for w in extra.weights], [w.name for w in plain.weights]


def _plain_attributes_after_build(k):
    dense = k.layers.Dense(2)
    dense.build((None, 3))
    dense.note, dense.config_copy, dense.sizes = "hi", {"a": 1}, [1, 2]
    return dense.note, dense.config_copy, list(dense.sizes), len(dense.weights)


def _sequential_add_after_build(k):
    model = k.Sequential([k.layers.Dense(2)])
    model(X)
    model.add(k.layers.Dense(1))
    return len(model.weights), tuple(model(X).shape)


def _functional_attach_after_build(k):
    inputs = k.Input((3,))
    model = k.Model(inputs, k.layers.Dense(2)(inputs))
    model.extra = model.add_weight(shape=(1,))
    model.side = k.layers.Dense(1)
    return len(model.weights), len(model.layers)


def _sublayer_built_by_hand(k):
    class Block(k.layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = k.layers.Dense(3)

        def build(self, input_shape):
            if not self.inner.built:
                self.inner.build(input_shape)
            self.scale = self.add_weight(shape=(3,), initializer="ones", name="scale")

        def call(self, x):
            return self.inner(x) * self.scale

    block = Block()
    block(X)
    block(X)
    return [w.name for w in block.weights]


ALLOWED = [_super_build_first, _plain_attributes_after_build, _sequential_add_after_build,
           _functional_attach_after_build, _sublayer_built_by_hand]


@pytest.mark.parametrize("case", ALLOWED, ids=[c.__name__.strip("_") for c in ALLOWED])
def test_state_keras_still_allows(case):
    theirs = _outcome(case, import_keras())
    assert theirs[0] == "ok", theirs
    assert _outcome(case, keras) == theirs


def test_layers_put_into_a_dict_attribute_later_are_tracked_and_trained():
    def make(k):
        class Heads(k.layers.Layer):
            def __init__(self):
                super().__init__(name="heads")
                self.heads = {}
                for name in ("a", "b"):  # (filled after the attribute was assigned)
                    self.heads[name] = k.layers.Dense(2, name=f"head_{name}")

            def build(self, input_shape):
                self.heads.update({"c": k.layers.Dense(2, name="head_c")})

            def call(self, x):
                return self.heads["a"](x) + self.heads["b"](x) + self.heads["c"](x)

        inputs = k.Input((3,))
        model = k.Model(inputs, Heads()(inputs))
        model.compile(k.optimizers.SGD(0.1), "mse")
        before = [to_numpy(w).copy() for w in model.trainable_weights]
        model.fit(X, np.ones((2, 2), "float32"), epochs=1, verbose=0)
        moved = [bool(np.any(to_numpy(w) != b)) for w, b in zip(model.trainable_weights, before)]
        return sorted(w.path for w in model.trainable_weights), moved

    theirs, ours = make(import_keras()), make(keras)
    assert len(theirs[0]) == 6 and all(theirs[1])
    assert ours == theirs


def test_building_twice_names_the_layer_and_the_second_build():
    dense = keras.layers.Dense(2, name="twice")
    dense.build((None, 3))
    with pytest.raises(ValueError, match=r"Dense 'twice'.*second call of build\(\)"):
        dense.build((None, 3))
    assert len(dense.weights) == 2


# ---------------------------------------------------------------- keras.StatelessScope
def _mapped_and_assigned(k):
    dense = k.layers.Dense(2, kernel_initializer="ones")
    dense.build((None, 3))
    mapping = [(dense.kernel, np.full((3, 2), 2.0, "float32")),
               (dense.bias, np.ones(2, "float32"))]
    with k.StatelessScope(state_mapping=mapping) as scope:
        outputs = dense(X)
        dense.kernel.assign(dense.kernel * 3)
        inside = to_numpy(dense.kernel.value)
        during = to_numpy(scope.get_current_value(dense.kernel))
    return [to_numpy(outputs), inside, during, to_numpy(dense.kernel.value),
            to_numpy(scope.get_current_value(dense.kernel)),
            to_numpy(scope.get_current_value(dense.bias))]


def _unmapped_variable(k):
    v = k.Variable(np.ones(2, "float32"))
    untouched = k.Variable(np.zeros(2, "float32"))
    with k.StatelessScope() as scope:
        v.assign_add(np.array([1.0, 2.0], "float32"))
        v.assign_sub(np.array([0.5, 0.5], "float32"))
        inside = to_numpy(v.value)
    assert scope.get_current_value(untouched) is None
    return [inside, to_numpy(v.value), to_numpy(scope.get_current_value(v))]


def _metric_update(k):
    metric = k.metrics.Mean()
    metric.update_state([1.0, 3.0])
    zeros = [np.zeros(tuple(v.shape), "float32") for v in metric.variables]
    with k.StatelessScope(state_mapping=list(zip(metric.variables, zeros))) as scope:
        metric.update_state([10.0])
        inside = to_numpy(metric.result())
    return [inside, to_numpy(metric.result())] + \
        [to_numpy(scope.get_current_value(v)) for v in metric.variables]


def _batchnorm_training(k):
    model = k.Sequential([k.Input((3,)), k.layers.Dense(2, kernel_initializer="ones"),
                          k.layers.BatchNormalization()])
    mapping = [(v, np.full(tuple(v.shape), 0.5, "float32")) for v in model.weights]
    with k.StatelessScope(state_mapping=mapping) as scope:
        outputs = model(X, training=True)
    return [to_numpy(outputs), to_numpy(model.non_trainable_weights[0].value)] + \
        [to_numpy(scope.get_current_value(v)) for v in model.non_trainable_weights]


def _collected_losses(k):
    class Penalty(k.layers.Layer):
        def call(self, x):
            self.add_loss(k.ops.sum(x))
            return x

    layer = Penalty()
    with k.StatelessScope(collect_losses=True) as collecting:
        layer(X)
    with k.StatelessScope() as dropping:
        layer(X)
    return [np.array(len(dropping.losses))] + [to_numpy(x) for x in collecting.losses]


def _restored_after_an_error(k):
    v = k.Variable(np.ones(2, "float32"))
    with pytest.raises(RuntimeError):
        with k.StatelessScope(state_mapping=[(v, np.zeros(2, "float32"))]):
            v.assign(np.full(2, 7.0, "float32"))
            raise RuntimeError("inside the scope")
    return [to_numpy(v.value)]


SCOPES = [_mapped_and_assigned, _unmapped_variable, _metric_update, _batchnorm_training,
          _collected_losses, _restored_after_an_error]


@pytest.mark.parametrize("case", SCOPES, ids=[c.__name__.strip("_") for c in SCOPES])
def test_stateless_scope_matches_keras(case):
    theirs = case(import_keras())
    ours = case(keras)
    assert len(ours) == len(theirs)
    for index, (a, b) in enumerate(zip(ours, theirs)):
        assert_matches(a, b, rtol=1e-5, atol=1e-6, what=f"{case.__name__}[{index}]")


@pytest.mark.parametrize("bad", ["key", "shape"])
def test_stateless_scope_rejects_a_bad_mapping_as_keras_does(bad):
    def make(k):
        v = k.Variable(np.ones(2, "float32"))
        pair = (np.ones(2), np.ones(2)) if bad == "key" else (v, np.ones(3, "float32"))
        k.StatelessScope(state_mapping=[pair])

    theirs, ours = _outcome(make, import_keras()), _outcome(make, keras)
    assert theirs[:2] == ours[:2] == ("raised", "ValueError")
    assert ("Variable instances" if bad == "key" else "shape") in ours[2]


def test_stateless_scope_refuses_an_assignment_it_cannot_capture():
    import tensorflux as tf

    v = keras.Variable(1.0)

    @tf.function(autograph=False)
    def step():
        v.assign_add(1.0)
        return v.read_value()

    with keras.StatelessScope():
        with pytest.raises(NotImplementedError, match="tf.function"):
            step()
    assert float(v.numpy()) == 1.0
