"""Probe round 6 (keras.io subclassing / custom loss and metric / keras.ops guides): the
behaviours a backend-agnostic Keras 3 script relies on, checked against real Keras 3 (torch
backend) or NumPy: structured xs in ops.map / vectorized_map / scan, fori_loop with a Python
accumulator, segment ids outside the range dropped, convert_to_numpy's NumPy dtypes, the
Metric stateless API, keras.random.randint's dtype check, to_categorical's NumPy indexing and
masks through symbolic merging layers."""

import numpy as np
import pytest

from tensorflux import keras
from tests.keras._oracle import assert_matches, import_keras

pytestmark = pytest.mark.keras_oracle


def _both(script):
    return script(keras), script(import_keras())


def test_map_and_vectorized_map_slice_nested_structures():
    x = np.arange(12, dtype="float32").reshape(3, 4)
    y = np.linspace(-1, 1, 12).astype("float32").reshape(3, 4)

    def script(k):
        ops = k.ops
        a = ops.map(lambda d: d["a"] * d["b"], {"a": x, "b": y})
        b = ops.map(lambda t: (t[0] + 1.0, {"s": ops.sum(t[1])}), (x, y))
        c = ops.vectorized_map(lambda t: t[0] * t[1], (ops.convert_to_tensor(x),
                                                       ops.convert_to_tensor(y)))
        return a, b[0], b[1]["s"], c

    for ours, theirs in zip(*_both(script)):
        assert_matches(ours, theirs, atol=1e-6)


def test_scan_over_a_dict_of_sequences_with_a_tuple_carry():
    xs = {"a": np.array([1.0, 2.0, 3.0], "float32"), "b": np.array([0.5, 0.25, 2.0], "float32")}

    def script(k):
        def step(carry, x):
            total, prod = carry
            return (total + x["a"], prod * x["b"]), {"t": total, "p": prod * 2.0}

        init = (k.ops.convert_to_tensor(0.0), k.ops.convert_to_tensor(1.0))
        (total, prod), ys = k.ops.scan(step, init, xs)
        (rtotal, _), rys = k.ops.scan(step, init, xs, reverse=True)
        return total, prod, ys["t"], ys["p"], rtotal, rys["t"]

    for ours, theirs in zip(*_both(script)):
        assert_matches(ours, theirs)


def test_scan_errors_name_the_mismatch():
    with pytest.raises(ValueError, match="first dimension"):
        keras.ops.scan(lambda c, x: (c, x), 0.0, (np.ones(3), np.ones(4)))
    with pytest.raises(ValueError, match="length"):
        keras.ops.scan(lambda c, x: (c, x), 0.0)


def test_fori_loop_adds_the_int_index_to_a_float_accumulator():
    ours, theirs = _both(lambda k: k.ops.fori_loop(0, 5, lambda i, acc: acc + i, 0.0))
    assert float(ours) == float(theirs) == 10.0
    ours, theirs = _both(lambda k: k.ops.fori_loop(
        1, 4, lambda i, v: v * k.ops.cast(i, "float32"), k.ops.ones((2,))))
    assert_matches(ours, theirs)


@pytest.mark.parametrize("op", ["segment_sum", "segment_max"])
def test_segment_ids_outside_the_range_are_dropped(op):
    data = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]], "float32")
    ids = np.array([0, -1, 1, 3])
    ours, theirs = _both(lambda k: getattr(k.ops, op)(data, ids, num_segments=2))
    assert_matches(ours, theirs)


def test_segment_sum_with_negative_ids_has_the_gradient_of_the_kept_rows():
    import tensorflux as tf

    x = tf.Variable([1.0, 2.0, 3.0])
    with tf.GradientTape() as tape:
        y = keras.ops.segment_sum(x * x, tf.constant([0, -1, 1]), num_segments=2)
        loss = tf.reduce_sum(y * tf.constant([1.0, 2.0]))
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), [2.0, 0.0, 12.0])


@pytest.mark.parametrize("value", [3.0, 2, [1, 2], [1.5, 2], [[1, 2], [3, 4]], True, [True],
                                   (1, 2.5)])
def test_convert_to_numpy_of_python_values_uses_numpys_dtypes(value):
    ours = keras.ops.convert_to_numpy(value)
    expected = np.array(value)
    assert isinstance(ours, np.ndarray)
    assert ours.dtype == expected.dtype and ours.shape == expected.shape
    np.testing.assert_array_equal(ours, expected)


def test_convert_to_numpy_keeps_the_dtype_of_tensors_and_arrays():
    assert keras.ops.convert_to_numpy(keras.ops.ones((2,))).dtype == np.float32
    assert keras.ops.convert_to_numpy(np.ones(2, "float16")).dtype == np.float16
    assert keras.ops.convert_to_numpy(keras.ops.convert_to_tensor([1, 2])).dtype == np.int32


def test_metric_stateless_api_leaves_the_state_alone():
    def script(k):
        m = k.metrics.Mean()
        m.update_state([5.0])
        values = m.stateless_update_state(m.variables, k.ops.convert_to_tensor([1.0, 3.0]))
        values = m.stateless_update_state(values, k.ops.convert_to_tensor([8.0]))
        reset = m.stateless_reset_state()
        return (values[0], values[1], m.stateless_result(values), m.result(),
                m.stateless_result(reset), len(reset))

    ours, theirs = _both(script)
    for a, b in zip(ours[:5], theirs[:5]):
        assert_matches(a, b)
    assert ours[5] == theirs[5] == 2


def test_metric_stateless_update_of_a_custom_metric_and_a_bad_length():
    class Count(keras.metrics.Metric):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.n = self.add_variable(shape=(), initializer="zeros", name="n")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.n.assign_add(keras.ops.cast(keras.ops.size(y_true), "float32"))

        def result(self):
            return self.n * 1.0

    m = Count()
    values = m.stateless_update_state([keras.ops.convert_to_tensor(4.0)], [1, 2, 3], [0, 0, 0])
    assert float(values[0]) == 7.0 and float(m.result()) == 0.0
    assert float(m.stateless_result(values)) == 7.0
    with pytest.raises(ValueError, match="1:1 to Count"):
        m.stateless_result([])


def test_randint_rejects_a_float_dtype_and_keeps_small_int_dtypes():
    theirs_error = None
    try:
        import_keras().random.randint((2,), 0, 5, dtype="float32")
    except ValueError as e:
        theirs_error = e
    assert theirs_error is not None
    with pytest.raises(ValueError, match="integer `dtype`.*float32"):
        keras.random.randint((2,), 0, 5, dtype="float32")
    assert keras.random.randint((3,), 0, 5, dtype="uint8", seed=1).dtype.name == "uint8"


@pytest.mark.parametrize("labels,num_classes", [([-1, 1, 0], 3), ([[-2], [1]], 2),
                                                ([-3, 2], None)])
def test_to_categorical_indexes_arrays_like_numpy(labels, num_classes):
    ours, theirs = _both(lambda k: k.utils.to_categorical(labels, num_classes))
    assert isinstance(ours, np.ndarray) and ours.dtype == theirs.dtype
    assert_matches(ours, theirs)


def test_to_categorical_out_of_range_array_raises_index_error_and_tensors_give_zero_rows():
    for labels in ([3], [-4]):
        with pytest.raises(IndexError, match="out of bounds for num_classes=3"):
            keras.utils.to_categorical(labels, 3)
    # (Keras on TensorFlow: tf.one_hot's zero rows; the torch backend raises instead)
    ours = keras.utils.to_categorical(keras.ops.convert_to_tensor(np.array([-1, 5, 1])), 3)
    assert ours.dtype.name == "float32"
    np.testing.assert_array_equal(ours.numpy(), [[0, 0, 0], [0, 0, 0], [0, 1, 0]])


def _masked_merge_model(k, merge):
    tokens = k.Input((3,), dtype="int32")
    features = k.Input((3, 2))
    embedded = k.layers.Embedding(5, 2, mask_zero=True, embeddings_initializer="ones")(tokens)
    if merge == "concat_time":
        merged = k.layers.Concatenate(axis=1)([embedded, features])
    elif merge == "concat_features":
        merged = k.layers.Concatenate()([embedded, features])
    else:  # Keras's other merges keep a mask only when every input has one
        other = k.layers.Embedding(5, 2, mask_zero=True, embeddings_initializer="ones")(tokens)
        merged = k.layers.Add()([embedded, k.layers.Multiply()([other, other])])
        merged = k.layers.Concatenate()([merged, features])
    out = k.layers.GRU(2, kernel_initializer="ones", recurrent_initializer="zeros")(merged)
    return k.Model([tokens, features], out), merged


@pytest.mark.parametrize("merge", ["concat_time", "concat_features", "add"])
def test_symbolic_merges_carry_the_mask_to_the_next_layer(merge):
    tokens = np.array([[1, 2, 0], [3, 0, 0]])
    features = np.linspace(-1, 1, 12).astype("float32").reshape(2, 3, 2)

    def script(k):
        model, merged = _masked_merge_model(k, merge)
        mask = getattr(merged, "_keras_mask", None)
        return model.predict([tokens, features], verbose=0), None if mask is None else mask.shape

    (ours, our_mask), (theirs, their_mask) = _both(script)
    assert our_mask is not None and tuple(our_mask) == tuple(their_mask)
    assert_matches(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("merge", ["Multiply", "Maximum", "Minimum", "Add", "Average"])
@pytest.mark.parametrize("both_masked", [True, False])
def test_merges_of_masked_inputs_match_keras(merge, both_masked):
    tokens = [np.array([[1, 2, 0], [3, 0, 0]]), np.array([[0, 2, 1], [4, 4, 0]])]
    table = np.linspace(-2, 2, 10).astype("float32").reshape(5, 2)
    dense = np.linspace(-1, 1, 12).astype("float32").reshape(2, 3, 2)

    def script(k):
        outs = []
        for ids in tokens:
            layer = k.layers.Embedding(5, 2, mask_zero=True)
            layer.build((None, 3))
            layer.set_weights([table[::-1] if outs else table])
            outs.append(layer(ids))
        second = outs[1] if both_masked else k.ops.convert_to_tensor(dense)
        merged = getattr(k.layers, merge)()([outs[0], second])
        mask = getattr(merged, "_keras_mask", None)
        return merged, mask

    (ours, our_mask), (theirs, their_mask) = _both(script)
    assert_matches(ours, theirs)
    assert (our_mask is None) == (their_mask is None)
    if our_mask is not None:
        assert_matches(our_mask, their_mask)


def _composite_f1(k):
    class F1(k.metrics.Metric):
        """The guides' composite metric: sub-metrics held in attributes."""

        def __init__(self, **kw):
            super().__init__(**kw)
            self.precision = k.metrics.Precision()
            self.recall = k.metrics.Recall()

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.precision.update_state(y_true, y_pred, sample_weight)
            self.recall.update_state(y_true, y_pred, sample_weight)

        def result(self):
            p, r = self.precision.result(), self.recall.result()
            return 2 * p * r / (p + r + 1e-7)

    return F1(name="f1c")


def test_a_metric_tracks_the_metrics_held_in_its_attributes():
    def script(k):
        m = _composite_f1(k)
        m.update_state([1, 0, 1, 1], [0.8, 0.6, 0.3, 0.9])
        first = m.result()
        names = [v.name for v in m.variables]
        m.reset_state()  # the default reset_state covers the sub-metrics' state
        m.update_state([1, 1], [0.9, 0.9])
        return first, m.result(), names

    (a1, a2, our_names), (b1, b2, their_names) = _both(script)
    assert_matches(a1, b1, atol=1e-6)
    assert_matches(a2, b2, atol=1e-6)
    assert our_names == their_names


def test_loading_a_loss_whose_get_config_misses_an_argument_says_so(tmp_path):
    class ScaledMSE(keras.losses.Loss):
        def __init__(self, factor, **kw):
            super().__init__(**kw)
            self.factor = factor

        def call(self, y_true, y_pred):
            return self.factor * keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile("sgd", loss=ScaledMSE(2.0))
    model.save(tmp_path / "m.keras")
    with pytest.raises(TypeError, match="ScaledMSE.*missing 1 required.*'factor'.*get_config"):
        keras.models.load_model(tmp_path / "m.keras", custom_objects={"ScaledMSE": ScaledMSE})


def test_map_and_vectorized_map_in_layers_of_a_functional_model():
    x = np.linspace(-1, 1, 30).astype("float32").reshape(5, 6)

    def script(k):
        ops = k.ops

        class RowNorms(k.layers.Layer):
            def call(self, t):
                return ops.map(lambda r: ops.sum(r * r), t)

        class Outer(k.layers.Layer):
            def call(self, t):
                return ops.vectorized_map(lambda p: ops.outer(p[0], p[1])[:2, :3], (t, t * 2.0))

        inputs = k.Input((6,))
        hidden = k.layers.Dense(6, kernel_initializer="identity", bias_initializer="ones")(inputs)
        norms, outer = RowNorms()(hidden), Outer()(hidden)
        model = k.Model(inputs, [norms, outer])
        norms_out, outer_out = model.predict(x, verbose=0, batch_size=2)
        return tuple(norms.shape), tuple(outer.shape), norms_out, outer_out

    ours, theirs = _both(script)
    assert ours[:2] == theirs[:2] == ((None,), (None, 2, 3))
    assert_matches(ours[2], theirs[2], atol=1e-5)
    assert_matches(ours[3], theirs[3], atol=1e-5)


@pytest.mark.parametrize("op", ["map", "vectorized_map", "scan", "while_loop"])
def test_control_flow_ops_take_keras_inputs(op):
    x = np.linspace(-1, 1, 24).astype("float32").reshape(4, 6)

    def script(k):
        ops = k.ops
        inputs = k.Input((6,))
        if op == "map":
            out = ops.map(lambda r: r * 2.0 + 1.0, inputs)
        elif op == "vectorized_map":
            out = ops.vectorized_map(lambda p: p[0] * p[1], (inputs, inputs))
        elif op == "scan":
            out = ops.scan(lambda c, r: (c + r, c), ops.zeros((6,)), inputs)[1]
        else:
            out = ops.while_loop(lambda v: ops.sum(v) < 100.0, lambda v: v + 1.0, inputs)
        model = k.Model(inputs, out)
        return tuple(out.shape), model.predict(x, verbose=0)

    ours, theirs = _both(script)
    assert ours[0] == theirs[0]
    assert_matches(ours[1], theirs[1], atol=1e-5)


def test_forgetting_super_init_in_a_loss_or_metric_subclass_says_so():
    class NoSuperLoss(keras.losses.Loss):
        def __init__(self, k=1.0):
            self.k = k

        def call(self, y_true, y_pred):
            return keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)

    class NoSuperMetric(keras.metrics.Metric):
        def __init__(self):
            self.v = 0

        def update_state(self, *args, **kwargs):
            pass

        def result(self):
            return 0.0

    y = np.ones((2, 2), "float32")
    with pytest.raises(RuntimeError, match="NoSuperLoss.*does not call `super\\(\\).__init__"):
        NoSuperLoss()(y, y)
    with pytest.raises(RuntimeError, match="NoSuperMetric.*does not call `super\\(\\).__init__"):
        NoSuperMetric().add_variable((), "zeros")
    assert not hasattr(NoSuperMetric(), "name")  # (hasattr stays usable)
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        _ = keras.metrics.Mean().missing


def test_set_random_seed_makes_unseeded_seed_generators_repeatable():
    def draws(k):
        k.utils.set_random_seed(7)
        generator = k.random.SeedGenerator()
        first = k.ops.convert_to_numpy(k.random.normal((3,), seed=generator))
        second = k.ops.convert_to_numpy(k.random.normal((3,), seed=generator))
        other = k.ops.convert_to_numpy(k.random.normal((3,), seed=k.random.SeedGenerator()))
        return first, second, other

    for k in (keras, import_keras()):  # (the values differ between the two; the rules agree)
        (a1, a2, a3), (b1, b2, b3) = draws(k), draws(k)
        np.testing.assert_array_equal(a2, b2)
        np.testing.assert_array_equal(a1, b1)
        np.testing.assert_array_equal(a3, b3)
        assert not np.array_equal(a1, a2) and not np.array_equal(a1, a3)
    assert keras.random.SeedGenerator().get_config() == {"seed": None}
