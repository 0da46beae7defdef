"""TensorFlow 2.21 behaviour that TF scripts rely on: the tf.compat.v1 preamble, tf.test,
tf.__version__, soft device placement, TF's indexing and conversion rules, Variable's refused
augmented assignment and unknown-dim shapes, NaN in argmax, integer divide_no_nan and
tf.lookup. Expected values and errors were observed with TF 2.21 (CPU) running the same
code; the comments quote it where the value alone does not say so."""

import io
import logging
import unittest

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors

# ------------------------------------------------------------------ A. script preambles


def test_compat_v1_logging_verbosity_and_constants():
    log = tf.compat.v1.logging
    assert (log.DEBUG, log.INFO, log.WARN, log.ERROR, log.FATAL) == (10, 20, 30, 40, 50)
    before = logging.getLogger("tensorflux").level
    try:
        log.set_verbosity(log.ERROR)
        assert log.get_verbosity() == 40
        log.set_verbosity("INFO")  # TF accepts logging's level names too
        assert log.get_verbosity() == 20
    finally:
        logging.getLogger("tensorflux").setLevel(before)
    assert not hasattr(log, "WARNING")  # TF's module has WARN only
    with pytest.raises(NotImplementedError):
        log.flush()


def test_compat_v1_log_messages_reach_the_tensorflux_logger(caplog):
    log = tf.compat.v1.logging
    with caplog.at_level(logging.INFO, logger="tensorflux"):
        log.info("hello %s", 1)
        log.warning("careful %d", 2)
        for i in range(5):
            log.log_first_n(log.ERROR, "first %d", 2, i)
            log.log_every_n(log.ERROR, "every %d", 3, i)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[:2] == ["hello 1", "careful 2"]
    assert [m for m in messages if m.startswith("first")] == ["first 0", "first 1"]
    assert [m for m in messages if m.startswith("every")] == ["every 0", "every 3"]


def test_config_proto_records_fields_and_refuses_unknown_ones_as_protobuf():
    config = tf.compat.v1.ConfigProto(allow_soft_placement=True, device_count={"GPU": 0})
    config.gpu_options.allow_growth = True
    config.gpu_options.per_process_gpu_memory_fraction = 0.5
    config.graph_options.optimizer_options.global_jit_level = \
        tf.compat.v1.OptimizerOptions.ON_1
    # TF 2.21 prints the set fields in the text format:
    assert str(config) == ('device_count {\n  key: "GPU"\n  value: 0\n}\n'
                           "gpu_options {\n  per_process_gpu_memory_fraction: 0.5\n"
                           "  allow_growth: true\n}\nallow_soft_placement: true\n"
                           "graph_options {\n  optimizer_options {\n    global_jit_level: ON_1\n"
                           "  }\n}\n")
    assert tf.compat.v1.ConfigProto().gpu_options.allow_growth is False
    with pytest.raises(AttributeError, match='no "nonsense" field'):
        config.nonsense = 1
    with pytest.raises(ValueError, match='no "nonsense" field'):
        tf.compat.v1.ConfigProto(nonsense=1)
    with pytest.raises(AttributeError, match="Assignment not allowed"):
        config.gpu_options = tf.compat.v1.GPUOptions()
    with pytest.raises(TypeError):
        config.intra_op_parallelism_threads = 2.0
    options = tf.compat.v1.GPUOptions(allow_growth=True)
    assert str(tf.compat.v1.ConfigProto(gpu_options=options)) == \
        "gpu_options {\n  allow_growth: true\n}\n"


def test_sessions_can_be_made_but_not_run_and_tf1_graph_mode_is_refused():
    config = tf.compat.v1.ConfigProto()
    config.gpu_options.allow_growth = True
    session = tf.compat.v1.Session(config=config)  # TF 2.21 allows this
    session.close()
    tf.compat.v1.InteractiveSession().close()
    with pytest.raises(NotImplementedError, match="tf.function"):
        session.run(tf.constant(1.0))
    with pytest.raises(NotImplementedError, match="eagerly"):
        with tf.compat.v1.Session():
            pass
    with pytest.raises(NotImplementedError, match="graph mode"):
        tf.compat.v1.disable_eager_execution()
    tf.compat.v1.enable_eager_execution()
    assert tf.compat.v1.executing_eagerly()
    with pytest.raises(RuntimeError, match="not compatible with eager execution"):
        tf.compat.v1.placeholder(tf.float32, [None, 2])
    # TF 2.21's tf.compat.v1.keras is Keras 3's tf.keras namespace: no set_session
    assert tf.compat.v1.keras is tf.keras
    assert not hasattr(tf.compat.v1.keras.backend, "set_session")


def test_compat_v1_set_random_seed_is_tf_random_set_seed_and_v2_is_tensorflux():
    tf.compat.v1.set_random_seed(3)
    first = tf.random.uniform([3]).numpy()
    tf.random.set_seed(3)
    np.testing.assert_array_equal(first, tf.random.uniform([3]).numpy())
    assert tf.compat.v2 is tf


def test_compat_text_conversions():
    import pathlib

    assert tf.compat.as_bytes("héllo") == b"h\xc3\xa9llo"
    assert tf.compat.as_bytes(bytearray(b"x")) == b"x"
    assert tf.compat.as_bytes("é", encoding="latin-1") == b"\xe9"
    assert tf.compat.as_text(b"h\xc3\xa9llo") == "héllo"
    assert tf.compat.as_str(b"abc") == "abc"
    assert tf.compat.as_str_any(5) == "5" and tf.compat.as_str_any(b"5") == "5"
    assert tf.compat.path_to_str(pathlib.Path("/tmp/x")) == "/tmp/x"
    assert tf.compat.path_to_str(b"/tmp/x") == b"/tmp/x"
    for convert in (tf.compat.as_bytes, tf.compat.as_text):
        with pytest.raises(TypeError, match="Expected binary or unicode string, got 1"):
            convert(1)


def test_version_is_the_tensorflow_api_version_and_the_package_keeps_its_own():
    import importlib.metadata

    assert tf.__version__ == "2.21.0" and tf.version.VERSION == "2.21.0"
    assert tf.__tensorflux_version__ == importlib.metadata.version("tensorflux")


def test_tf_test_device_queries_without_a_gpu():
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    assert tf.test.gpu_device_name() == ""
    assert tf.test.is_gpu_available() is False
    assert tf.test.is_built_with_rocm() is False


def _run(case):
    result = unittest.TextTestRunner(stream=io.StringIO()).run(
        unittest.defaultTestLoader.loadTestsFromTestCase(case))
    return result


def test_tf_test_case_assertions_pass_and_fail_as_tensorflows():
    outcomes = {}

    class Checks(tf.test.TestCase):
        def test_passing(self):
            self.assertAllClose({"a": tf.constant([1.0]), "b": (2.0, [3.0])},
                                {"a": [1.0], "b": (2.0, [3.0 + 1e-7])})
            self.assertAllClose(float("nan"), float("nan"))
            self.assertAllEqual(tf.constant([b"a"]), ["a"])  # str equals its UTF-8 bytes
            self.assertAllEqual([float("nan")], [float("nan")])
            self.assertAllCloseAccordingToType(np.float16(1.0), np.float16(1.0005))
            self.assertShapeEqual(np.zeros((2, 3)), tf.zeros((2, 3)))
            self.assertDTypeEqual(np.array([1.0]), tf.float64)
            self.assertAllInRange([1, 4], 0, 4)
            self.assertAllInSet([1, 2], {1, 2, 3})
            self.assertAllGreater([2, 3], 1)
            self.assertNear(1.0, 1.05, 0.1)
            self.assertNotAllClose([1.0], [2.0])
            self.assertNotAllEqual([1], [2])
            with self.assertRaisesOpError("Incompatible|broadcast"):
                tf.constant([1, 2]) + tf.constant([1, 2, 3])
            self.assertEqual(self.evaluate({"x": tf.constant(2), "y": None}),
                             {"x": 2, "y": None})
            with self.cached_session() as session:
                self.assertEqual(session.run(tf.constant(3)), 3)
            self.assertEqual(self.get_temp_dir(), self.get_temp_dir())

        def test_seeded(self):
            # setUp seeds NumPy as TF's does (87654321): TF 2.21 printed this value
            outcomes["rand"] = np.random.rand()

    result = _run(Checks)
    assert result.wasSuccessful(), result.errors + result.failures
    assert len(result.skipped) == 1  # test_session, which TF's setUp skips too
    assert outcomes["rand"] == pytest.approx(0.18463433217903202, abs=0)

    failures = {
        "close": lambda t: t.assertAllClose([1.0, 2.0], [1.0, 2.1]),
        "close_shape": lambda t: t.assertAllClose([1.0, 2.0], [1.0]),
        "equal": lambda t: t.assertAllEqual([1, 2], [1, 3]),
        "range": lambda t: t.assertAllInRange([1, 5], 0, 4),
        "set": lambda t: t.assertAllInSet([1, 5], {1, 2}),
        "dtype": lambda t: t.assertDTypeEqual(tf.constant([1.0]), np.float64),
        "near": lambda t: t.assertNear(1.0, 1.2, 0.1),
        "not_close": lambda t: t.assertNotAllClose([1.0], [1.0]),
    }
    for name, check in failures.items():
        case = type("Failing", (tf.test.TestCase,), {"test_it": lambda self, c=check: c(self)})
        result = _run(case)
        assert len(result.failures) == 1, name
    with pytest.raises(ValueError, match="Can't compare dict to non-dict"):
        tf.test.TestCase().assertAllClose({"a": 1}, [1])
    with pytest.raises(TypeError, match="input_a must be a Numpy ndarray"):
        tf.test.TestCase().assertShapeEqual([1], tf.zeros((2, 4)))


def test_tf_test_compute_gradient_matches_tensorflows_layout():
    theoretical, numerical = tf.test.compute_gradient(
        lambda x, y: tf.reshape(x, [-1])[:2] * y,
        [tf.constant([[1.0, 2.0]], tf.float64), tf.constant(3.0, tf.float64)])
    # TF 2.21: one [y_size, x_size] array per argument
    assert [t.tolist() for t in theoretical] == [[[3.0, 0.0], [0.0, 3.0]], [[1.0], [2.0]]]
    for t, n in zip(theoretical, numerical):
        np.testing.assert_allclose(t, n, rtol=1e-9)
    with pytest.raises(ValueError, match="must be a list or tuple"):
        tf.test.compute_gradient(lambda x: x, tf.constant(1.0))


# ------------------------------------------------------------------ B. device placement


@pytest.fixture
def soft_placement():
    yield
    tf.config.set_soft_device_placement(True)


@pytest.mark.parametrize("name", ["/GPU:0", "gpu:0", "/device:GPU:0", "GPU:5", "GPU", "/TPU:0",
                                  "/device:XLA_CPU:0", "CPU:1", "", None, "/job:localhost",
                                  "/job:localhost/replica:0/task:0/device:GPU:0",
                                  "/device:CPU:*"])
def test_devices_that_are_not_here_run_on_the_cpu_under_soft_placement(name):
    if name and "GPU" in name.upper() and tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    with tf.device(name):
        x = tf.constant([1.0, 2.0]) * 2
    assert x.device == "/job:localhost/replica:0/task:0/device:CPU:0"
    assert x.numpy().tolist() == [2.0, 4.0]


def test_invalid_device_strings_raise_tensorflows_errors():
    with pytest.raises(ValueError, match="Unknown attribute 'foo' is encountered"):
        with tf.device("foo"):
            pass
    with pytest.raises(ValueError, match="Unknown attribute 'physical_device'"):
        with tf.device("/physical_device:GPU:0"):
            pass
    with pytest.raises(ValueError, match="invalid literal for int"):
        with tf.device("GPU:x"):
            pass
    with pytest.raises(errors.InvalidArgumentError, match="unknown device"):
        with tf.device("/job:worker/task:1"):
            pass
    with pytest.raises(errors.InvalidArgumentError, match="Malformed device specification"):
        with tf.device("GPU:-1"):
            pass


def test_without_soft_placement_a_missing_device_is_an_error(soft_placement):
    tf.config.set_soft_device_placement(False)
    for name in (["/GPU:0", "/TPU:0", "/CPU:5"] if not tf.config.list_physical_devices("GPU")
                 else ["/TPU:0", "/CPU:5"]):
        with pytest.raises(errors.InvalidArgumentError,
                           match=r"Could not satisfy device specification .*"
                                 r"enable_soft_placement=0"):
            with tf.device(name):
                pass
    with tf.device("/CPU:0"):
        assert tf.constant(1.0).device.endswith("CPU:0")


def test_a_device_inside_a_function_and_a_logical_device_object():
    @tf.function
    def f(x):
        with tf.device("/GPU:0"):
            return x * 2

    assert float(f(tf.constant(1.0))) == 2.0
    with tf.device(tf.config.list_logical_devices("CPU")[0]):
        assert tf.constant(1.0).device.endswith("CPU:0")


# ------------------------------------------------------------------ C. tensor semantics

_X = tf.reshape(tf.range(24), (2, 3, 4))


@pytest.mark.parametrize("key,shape,first", [
    ([0, 1], (4,), 4),  # TF reads a list as a tuple: x[0, 1]
    ([0], (3, 4), 0),
    ([], (2, 3, 4), 0),
    ([0, 1, 2], (), 6),
    ([0, slice(None), 1], (3,), 1),
    ([slice(0, 1), 1], (1, 4), 4),
    ([Ellipsis, 1], (2, 3), 1),
    ([None, 0], (1, 3, 4), 0),
    ([-1, -1], (4,), 20),
    ([np.int32(0), 1], (4,), 4),
    (np.int64(1), (3, 4), 12),
    (np.array(1), (3, 4), 12),
    (tf.constant(1, tf.int16), (3, 4), 12),
    ((tf.constant(0), 1), (4,), 4),
    (np.array([True, False]), (1, 3, 4), 0),  # a bool array is a mask
])
def test_getitem_reads_keys_as_tensorflow(key, shape, first):
    out = _X[key]
    assert tuple(out.shape) == shape
    assert out.numpy().reshape(-1)[0] == first


def test_getitem_lists_on_variables_and_in_functions_read_as_tuples():
    assert tf.Variable(_X)[[0, 1]].numpy().tolist() == [4, 5, 6, 7]
    assert tf.function(lambda t: t[[0, 1]])(_X).numpy().tolist() == [4, 5, 6, 7]
    v = tf.Variable(tf.reshape(tf.range(6), (2, 3)))
    v[[1, 2]].assign(7)  # TF 2.21: [[0, 1, 2], [3, 4, 7]]
    assert v.numpy().tolist() == [[0, 1, 2], [3, 4, 7]]


@pytest.mark.parametrize("key", [
    [[0, 1]], [[0], [1]], np.array([0, 1]), tf.constant([0, 1]), [0.5], "a", ["a"],
    np.bool_(True), tf.constant(1, tf.int8), tf.constant(1.0), np.array(1, np.uint8),
    ([0, 1], 0), slice(tf.constant([0]), 1), slice(0.0, 1)])
def test_getitem_refuses_what_tensorflow_refuses(key):
    with pytest.raises(TypeError, match=r"Only integers, slices \(`:`\), ellipsis"):
        _X[key]


def test_getitem_errors_for_bool_entries_scalar_masks_and_out_of_range():
    with pytest.raises(errors.InvalidArgumentError):
        _X[[True, False]]
    for key in (True, tf.constant(True)):
        with pytest.raises(ValueError, match="mask cannot be scalar"):
            _X[key]
    with pytest.raises(errors.InvalidArgumentError):
        _X[[5]]
    with pytest.raises(errors.InvalidArgumentError):
        _X[[0, 0, 0, 0]]


@pytest.mark.parametrize("value,dtype", [
    ([np.ones(2), np.zeros(2)], "float64"),
    ((np.ones(2), np.zeros(2)), "float64"),
    ([np.float64(1.0), 2.0], "float64"),  # the first scalar decides
    ([2.0, np.float64(1.0)], "float32"),
    ([np.float16(1.0), np.float16(2.0)], "float16"),
    ([np.ones(2, np.float32), np.zeros(2)], "float32"),
    ([np.array(1.0)], "float64"),
    ([[np.float64(1.0)], [2.0]], "float64"),
    ([np.uint8(1), np.uint8(2)], "int32"),
    ([np.array([1, 2]), np.array([3, 4])], "int32"),
    ([np.int64(1), 2.5], "float32"),
    ([1, 2**40], "int64"),
    ([1, True], "int32"),
    ([1.0, True], "float32"),
    ([1j, 1], "complex128"),
    ([np.str_("a")], "string"),
    ([], "float32"),
])
def test_sequences_take_tensorflows_dtype(value, dtype):
    assert tf.constant(value).dtype.name == dtype
    assert tf.convert_to_tensor(value).dtype.name == dtype


def test_float64_sequences_keep_their_precision_in_datasets_and_hints():
    data = tf.data.Dataset.from_tensor_slices([np.ones(2), np.zeros(2)])
    assert data.element_spec.dtype == tf.float64
    hinted = tf.convert_to_tensor([np.ones(2)], dtype_hint=tf.float32)
    assert hinted.dtype == tf.float32
    # a list holding tensors packs in the first tensor's dtype
    packed = tf.convert_to_tensor([tf.constant(1.0, tf.float64), 2.0])
    assert packed.dtype == tf.float64 and packed.numpy().tolist() == [1.0, 2.0]


@pytest.mark.parametrize("value,message", [
    (None, "Attempt to convert a value \\(None\\) with an unsupported type"),
    ([None], "Attempt to convert a value \\(None\\)"),
    ([1, None], "mixed types"),
    ([True, 1], "mixed types"),
    ([1, "a"], "mixed types"),
    (["a", 1], "mixed types"),
    ([1, 1j], "mixed types"),
    (2**63, "out-of-range integer"),
    (2**64, "out-of-range integer"),
    ([np.uint64(2**63)], "out-of-range integer"),
    (1e40, "out of range for a double-precision float"),
])
def test_conversion_errors_are_tensorflows_value_errors(value, message):
    with pytest.raises(ValueError, match=message):
        tf.convert_to_tensor(value)


@pytest.mark.parametrize("value,dtype,expected", [
    (2**31, tf.int32, -2**31),  # TF wraps Python ints as its cast does
    (2**32 + 5, tf.int32, 5),
    (-2**31 - 1, tf.int32, 2**31 - 1),
    ([2**31, 1], tf.int32, [-2**31, 1]),
    (300, tf.uint8, 44),
    (-1, tf.uint8, 255),
    (200, tf.int8, -56),
    (2**63 - 1, tf.int32, -1),
    ([np.uint8(5), 300], tf.uint8, [5, 44]),
    (np.float64(1.5), tf.int32, 1),  # NumPy values are cast
    (np.array([1.5]), tf.int32, [1]),
    (np.array([2, 0]), tf.bool, [True, False]),
    (True, tf.int32, 1),
    (2**64 - 1, tf.uint64, 2**64 - 1),
])
def test_requested_dtypes_wrap_and_cast_as_tensorflow(value, dtype, expected):
    assert tf.constant(value, dtype).numpy().tolist() == expected
    assert tf.convert_to_tensor(value, dtype).numpy().tolist() == expected


@pytest.mark.parametrize("value,dtype", [
    (1.5, tf.int32), (1.0, tf.int32), ([1, 2.0], tf.int64), ([np.float64(1.5)], tf.int32),
    (1, tf.bool), ([1, 0], tf.bool), (1.0, tf.bool), ("1", tf.int32), (1j, tf.float32),
    (1, tf.string)])
def test_python_values_that_do_not_suit_the_dtype_are_type_errors(value, dtype):
    with pytest.raises(TypeError, match="Cannot convert"):
        tf.constant(value, dtype)


def test_python_ints_beyond_64_bits_are_out_of_range_for_any_integer_dtype():
    for value, dtype in ((2**63, tf.int64), (2**64, tf.uint64), (-1, tf.uint64)):
        with pytest.raises(ValueError, match="out-of-range integer"):
            tf.constant(value, dtype)


def test_an_int_tensor_with_a_python_float_is_refused_as_in_tensorflow():
    with pytest.raises(errors.InvalidArgumentError):
        tf.constant([1]) + 1.0
    assert (tf.constant([1]) * np.float64(2.0)).numpy().tolist() == [2]
    assert (tf.constant([1], tf.int8) + 300).numpy().tolist() == [45]


@pytest.mark.parametrize("values,axis,argmax,argmin", [
    ([1.0, np.nan, 3.0], 0, 2, 0),
    ([np.nan, 1.0, 3.0], 0, 2, 1),
    ([1.0, 3.0, np.nan], 0, 1, 0),
    ([1.0, np.nan, 3.0, np.nan], 0, 2, 0),
    ([np.nan, np.nan], 0, 0, 0),
    ([np.inf, np.nan], 0, 0, 0),
    ([-np.inf, np.nan], 0, 0, 0),
    ([[1.0, np.nan], [3.0, 0.0]], 0, [1, 1], [0, 1]),
    ([[1.0, np.nan, 5.0], [3.0, 0.0, np.nan]], 1, [2, 0], [0, 1]),
])
def test_argmax_and_argmin_skip_nan_as_tensorflow(values, axis, argmax, argmin):
    for dtype in (tf.float16, tf.float32, tf.float64):
        x = tf.constant(values, dtype)
        assert tf.argmax(x, axis).numpy().tolist() == argmax
        assert tf.argmin(x, axis).numpy().tolist() == argmin
    assert tf.function(lambda t: tf.argmax(t, axis))(tf.constant(values)).numpy().tolist() \
        == argmax


@pytest.mark.parametrize("dtype,result", [(tf.int32, "float64"), (tf.int64, "float64"),
                                          (tf.int8, "float32"), (tf.int16, "float32"),
                                          (tf.uint8, "float32")])
def test_divide_no_nan_divides_integers_as_truediv(dtype, result):
    out = tf.math.divide_no_nan(tf.constant([1, 2, 3], dtype), tf.constant([0, 2, 4], dtype))
    assert out.dtype.name == result and out.numpy().tolist() == [0.0, 1.0, 0.75]
    assert tf.math.divide_no_nan(1, 0).dtype == tf.float64
    with pytest.raises(errors.InvalidArgumentError):
        tf.math.divide_no_nan(tf.constant([True]), tf.constant([True]))


@pytest.mark.parametrize("statement,advice", [
    ("v += 1", "variable.assign_add"), ("v -= 1", "variable.assign_sub"),
    ("v *= 2", r"var.assign\(var \* value\)"), ("v /= 2", r"var.assign\(var / value\)"),
    ("v **= 2", r"var.assign\(var \*\* value\)")])
def test_augmented_assignment_to_a_variable_is_refused_eagerly_and_in_functions(statement,
                                                                                 advice):
    v = tf.Variable(2.0)
    with pytest.raises(RuntimeError, match=f"with `tf.Variable`s is not supported. Use `{advice}"):
        exec(statement)
    assert float(v) == 2.0

    @tf.function
    def step():
        exec(statement, {"v": v})

    with pytest.raises(RuntimeError, match="is not supported"):
        step()
    w = v
    w //= 1  # TF's Variable has no in-place floordiv: the name is rebound
    assert isinstance(w, tf.Tensor) and float(v) == 2.0


def test_a_variable_with_unknown_dims_takes_any_compatible_shape():
    v = tf.Variable(tf.zeros((0, 2)), shape=tf.TensorShape([None, 2]))
    assert v.shape == tf.TensorShape([None, 2])
    v.assign(tf.ones((3, 2)))
    assert v.shape == tf.TensorShape([None, 2])
    assert tf.shape(v).numpy().tolist() == [3, 2]
    assert (v + 1).numpy().tolist() == [[2.0, 2.0]] * 3
    assert v[1].numpy().tolist() == [1.0, 1.0]
    v.assign([[5.0, 6.0]])
    assert v.numpy().tolist() == [[5.0, 6.0]]
    with pytest.raises(ValueError, match="Shape mismatch.*\\(None, 2\\).*\\(3, 3\\)"):
        v.assign(tf.ones((3, 3)))
    free = tf.Variable(tf.zeros((2,)), shape=tf.TensorShape(None))
    free.assign(tf.ones((3, 2)))
    assert free.numpy().shape == (3, 2) and free.shape.rank is None
    fixed = tf.Variable(tf.zeros((2,)))
    with pytest.raises(ValueError, match="Cannot assign value to variable"):
        fixed.assign(tf.ones(3))


# ------------------------------------------------------------------ D. tf.lookup


def _table():
    init = tf.lookup.KeyValueTensorInitializer(["a", "b", "c"], [1, 2, 3], value_dtype=tf.int64)
    return tf.lookup.StaticHashTable(init, default_value=-1)


def test_static_hash_table_eagerly_in_functions_and_in_dataset_map():
    table = _table()
    assert table.lookup(tf.constant(["a", "x", "c"])).numpy().tolist() == [1, -1, 3]
    assert table.lookup(tf.constant([["a", "x"], ["c", "b"]])).numpy().tolist() == \
        [[1, -1], [3, 2]]
    assert table[tf.constant(["b"])].numpy().tolist() == [2]
    assert int(table.size()) == 3 and int(table.default_value) == -1
    keys, values = table.export()
    assert sorted(zip(keys.numpy().tolist(), values.numpy().tolist())) == \
        [(b"a", 1), (b"b", 2), (b"c", 3)]
    assert (table.key_dtype, table.value_dtype) == (tf.string, tf.int64)
    assert tf.function(table.lookup)(tf.constant(["c", "zz"])).numpy().tolist() == [3, -1]
    data = tf.data.Dataset.from_tensor_slices(["a", "b", "q"]).map(table.lookup)
    assert [int(v) for v in data] == [1, 2, -1]


def test_static_hash_table_errors_as_tensorflow():
    table = _table()
    with pytest.raises(TypeError, match="Dtype of argument `keys` must be"):
        table.lookup(tf.constant([1, 2]))
    ints = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer([1, 2], [10.0, 20.0]),
                                     default_value=0.0)
    assert ints.key_dtype == tf.int32 and ints.lookup(tf.constant([1, 5])).numpy().tolist() \
        == [10.0, 0.0]
    with pytest.raises(TypeError, match="must be"):
        ints.lookup(tf.constant([1], tf.int64))
    with pytest.raises(errors.FailedPreconditionError,
                       match="Key 1 has 10 and trying to add value 20"):
        tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer([1, 1], [10, 20]), -1)
    with pytest.raises(errors.InvalidArgumentError, match=r"Expected shape \[2\] for value"):
        tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer([1, 2], [10]), -1)
    with pytest.raises(ValueError, match="not compatible"):
        tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer([1], [1]), [-1, -2])


def test_static_vocabulary_table_buckets_are_tensorflows_fingerprints():
    init = tf.lookup.KeyValueTensorInitializer(["emerson", "lake", "palmer"],
                                               tf.constant([0, 1, 2], tf.int64))
    table = tf.lookup.StaticVocabularyTable(init, num_oov_buckets=5)
    words = tf.constant(["emerson", "lake", "palmer", "king", "crimson", "x", ""])
    assert table.lookup(words).numpy().tolist() == [0, 1, 2, 6, 7, 3, 6]  # TF 2.21
    assert int(table.size()) == 8
    numbers = tf.lookup.StaticVocabularyTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant([10, 20], tf.int64),
                                            tf.constant([0, 1], tf.int64)), num_oov_buckets=3)
    assert numbers.lookup(tf.constant([10, 20, 30, 40, -1], tf.int64)).numpy().tolist() == \
        [0, 1, 4, 3, 2]
    narrow = tf.lookup.StaticVocabularyTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant([10, 20], tf.int64),
                                            tf.constant([0, 1], tf.int64)),
        num_oov_buckets=3, lookup_key_dtype=tf.int32)
    assert narrow.lookup(tf.constant([10, 30])).numpy().tolist() == [0, 4]
    assert tf.function(table.lookup)(tf.constant(["king"])).numpy().tolist() == [6]
    with pytest.raises(ValueError, match="must be > 0; use StaticHashTable"):
        tf.lookup.StaticVocabularyTable(init, num_oov_buckets=0)
    with pytest.raises(TypeError, match="Invalid `value_dtype`"):
        tf.lookup.StaticVocabularyTable(
            tf.lookup.KeyValueTensorInitializer(["a"], tf.constant([0])), 3)


def test_text_file_initializer(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("emerson\nlake\npalmer\n")
    index = tf.lookup.TextFileIndex
    assert (index.WHOLE_LINE, index.LINE_NUMBER) == (-2, -1)
    table = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(str(vocab), tf.string, index.WHOLE_LINE, tf.int64,
                                      index.LINE_NUMBER), -1)
    assert table.lookup(tf.constant(["lake", "palmer", "zz"])).numpy().tolist() == [1, 2, -1]
    reverse = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(vocab, tf.int64, index.LINE_NUMBER, tf.string,
                                      index.WHOLE_LINE), "UNK")
    assert reverse.lookup(tf.constant([0, 2, 5], tf.int64)).numpy().tolist() == \
        [b"emerson", b"palmer", b"UNK"]
    columns = tmp_path / "kv.txt"
    columns.write_text("a\t10\nb\t20\n")
    pairs = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(str(columns), tf.string, 0, tf.int64, 1), -1)
    assert pairs.lookup(tf.constant(["a", "b", "c"])).numpy().tolist() == [10, 20, -1]
    first_two = tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(
        str(vocab), tf.string, -2, tf.int64, -1, vocab_size=2), -1)
    assert first_two.lookup(tf.constant(["emerson", "palmer"])).numpy().tolist() == [0, -1]
    buckets = tf.lookup.StaticVocabularyTable(tf.lookup.TextFileInitializer(
        str(vocab), tf.string, -2, tf.int64, -1), 2)
    assert buckets.lookup(tf.constant(["lake", "other"])).numpy().tolist() == [1, 3]
    with pytest.raises(ValueError, match="`key_dtype` must be int64 if `key_index` is -1"):
        tf.lookup.TextFileInitializer(str(vocab), tf.string, -1, tf.int64, -2)
    with pytest.raises(errors.NotFoundError, match="No such file or directory"):
        tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(
            str(tmp_path / "nope.txt"), tf.string, -2, tf.int64, -1), -1)
    with pytest.raises(errors.InvalidArgumentError, match="expected 5 but got 3"):
        tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(
            str(vocab), tf.string, -2, tf.int64, -1, vocab_size=5), -1)
    with pytest.raises(errors.InvalidArgumentError, match="expected at least 4 got 1"):
        tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(
            str(vocab), tf.string, 3, tf.int64, -1), -1)


def test_mutable_hash_table_eagerly_and_in_functions():
    table = tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, default_value=-1)
    assert int(table.size()) == 0
    table.insert(tf.constant(["a", "b"]), tf.constant([1, 2], tf.int64))
    table.insert(["a"], [5])
    assert table.lookup(["a", "b", "c"]).numpy().tolist() == [5, 2, -1]
    assert table.lookup(tf.constant([["a"], ["b"]])).numpy().tolist() == [[5], [2]]
    keys, values = table.export()
    assert sorted(zip(keys.numpy().tolist(), values.numpy().tolist())) == [(b"a", 5), (b"b", 2)]
    table.remove(tf.constant(["a", "zzz"]))
    assert int(table.size()) == 1
    default = tf.constant([7], tf.int64)
    assert table.lookup(["zz"], dynamic_default_values=default).numpy().tolist() == [7]
    with pytest.raises(errors.InvalidArgumentError, match=r"Expected shape \[2\] for value"):
        table.insert(tf.constant(["a", "b"]), tf.constant([1], tf.int64))
    with pytest.raises(ValueError, match="Tensor conversion requested dtype int64"):
        table.insert(["q"], tf.constant([1]))
    with pytest.raises(TypeError, match="Dtype of argument `keys` must be"):
        table.remove(tf.constant([1]))

    counts = tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, -1)

    @tf.function
    def insert_then_read(k, v):
        counts.insert(k, v)
        return counts.lookup(k)

    assert insert_then_read(tf.constant(["x"]), tf.constant([3], tf.int64)).numpy().tolist() \
        == [3]

    @tf.function
    def remove_then_count(k):
        counts.remove(k)
        return counts.size()

    assert int(remove_then_count(tf.constant(["x"]))) == 0

    vectors = tf.lookup.experimental.MutableHashTable(tf.int64, tf.float32, [0.0, 0.0])
    vectors.insert(tf.constant([1, 2], tf.int64), tf.constant([[1.0, 2.0], [3.0, 4.0]]))
    assert vectors.lookup(tf.constant([2, 3], tf.int64)).numpy().tolist() == \
        [[3.0, 4.0], [0.0, 0.0]]


def test_dense_hash_table_reserves_its_empty_and_deleted_keys():
    table = tf.lookup.experimental.DenseHashTable(tf.int64, tf.int64, default_value=-1,
                                                  empty_key=0, deleted_key=-1)
    table.insert(tf.constant([5, 6], tf.int64), tf.constant([50, 60], tf.int64))
    assert table.lookup(tf.constant([5, 7], tf.int64)).numpy().tolist() == [50, -1]
    table.erase(tf.constant([5], tf.int64))
    assert int(table.size()) == 1 and table[tf.constant([6], tf.int64)].numpy().tolist() == [60]
    with pytest.raises(errors.InvalidArgumentError,
                       match="Using the empty_key as a table key is not allowed"):
        table.insert(tf.constant([0], tf.int64), tf.constant([1], tf.int64))
