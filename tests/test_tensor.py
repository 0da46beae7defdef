"""The Tensor protocol: what TF2 code expects of an eager tensor, its shape, dtype and spec."""

import copy

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors

# ---------------------------------------------------------------- repr and str


def test_repr_matches_tensorflow():
    t = tf.constant([1.0, 2.0])
    assert repr(t) == ("<tf.Tensor: shape=(2,), dtype=float32, "
                       "numpy=array([1., 2.], dtype=float32)>")


def test_repr_of_a_matrix_starts_the_array_on_a_new_line():
    t = tf.constant([[1, 2], [3, 4]])
    assert repr(t) == ("<tf.Tensor: shape=(2, 2), dtype=int32, numpy=\n"
                       "array([[1, 2],\n"
                       "       [3, 4]], dtype=int32)>")


def test_repr_of_a_scalar_shows_the_value_not_a_zero_d_array():
    # TF2: <tf.Tensor: shape=(), dtype=float32, numpy=1.5>
    text = repr(tf.constant(1.5))
    assert text.startswith("<tf.Tensor: shape=(), dtype=float32, numpy=")
    assert "1.5" in text and "array(" not in text, text


def test_str_matches_tensorflow():
    assert str(tf.constant([1.0, 2.0])) == "tf.Tensor([1. 2.], shape=(2,), dtype=float32)"
    assert str(tf.constant(3)) == "tf.Tensor(3, shape=(), dtype=int32)"


# ---------------------------------------------------------------- values and NumPy interop


def test_numpy_returns_an_array_of_the_tensor_dtype():
    value = tf.constant([[1.0, 2.0]]).numpy()
    assert isinstance(value, np.ndarray)
    assert value.dtype == np.float32 and value.shape == (1, 2)


def test_numpy_of_a_scalar_is_a_numpy_scalar():
    # As in TF2 (and as Tensor.numpy's docstring says): rank 0 gives np.float32(1.5), not array.
    value = tf.constant(1.5).numpy()
    assert isinstance(value, np.generic), type(value)
    assert value.dtype == np.float32 and value == 1.5


def test_array_protocol_and_dtype_argument():
    t = tf.constant([1, 2])
    assert np.asarray(t).tolist() == [1, 2]
    converted = np.asarray(t, dtype=np.float64)
    assert converted.dtype == np.float64 and converted.tolist() == [1.0, 2.0]
    assert np.array(t, copy=True).tolist() == [1, 2]


def test_numpy_functions_accept_tensors():
    t = tf.constant([1.0, 4.0])
    assert np.sqrt(np.asarray(t)).tolist() == [1.0, 2.0]


def test_numpy_operands_defer_to_tensor_overloads():
    result = np.array([1.0, 2.0], np.float32) + tf.constant([1.0, 1.0])
    assert tf.is_tensor(result)
    assert result.numpy().tolist() == [2.0, 3.0]


def test_dlpack_round_trip():
    t = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    back = np.from_dlpack(t)
    assert back.dtype == np.float32 and back.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert t.__dlpack_device__()[0] == 1  # kDLCPU


def test_dtype_shape_ndim_device():
    t = tf.zeros([2, 3, 4])
    assert t.dtype is tf.float32
    assert t.shape == (2, 3, 4) and t.ndim == 3 and t.get_shape() == [2, 3, 4]
    assert isinstance(t.device, str) and t.device.endswith("CPU:0"), t.device


# ---------------------------------------------------------------- Python protocols


def test_len_and_its_error_for_scalars():
    assert len(tf.constant([[1, 2], [3, 4], [5, 6]])) == 3
    with pytest.raises(TypeError):
        len(tf.constant(1.0))


def test_iteration_yields_rows():
    rows = [r.numpy().tolist() for r in tf.constant([[1, 2], [3, 4]])]
    assert rows == [[1, 2], [3, 4]]
    with pytest.raises(TypeError):
        iter(tf.constant(1.0))


def test_bool_of_one_element_and_error_for_more():
    assert bool(tf.constant([3.0])) is True
    assert bool(tf.constant(0)) is False
    with pytest.raises(ValueError, match="more than one element"):
        bool(tf.constant([1.0, 2.0]))


def test_float_int_and_index():
    assert float(tf.constant(2.5)) == 2.5
    assert int(tf.constant(7)) == 7
    assert [10, 11, 12][tf.constant(2)] == 12
    assert list(range(5))[tf.constant(1):tf.constant(3)] == [1, 2]
    with pytest.raises(TypeError, match="float32"):
        [0, 1][tf.constant(1.0)]


def test_tensors_are_unhashable_but_refs_are_keys():
    a, b = tf.constant([1.0]), tf.constant([1.0])
    with pytest.raises(TypeError):
        hash(a)
    table = {a.ref(): "a", b.ref(): "b"}
    assert table[a.ref()] == "a" and table[b.ref()] == "b"
    assert a.ref().deref() is a
    assert a.ref() == a.ref() and a.ref() != b.ref()


def test_equality_is_elementwise_and_false_against_none():
    equal = tf.constant([1, 2]) == tf.constant([1, 3])
    assert equal.dtype is tf.bool and equal.numpy().tolist() == [True, False]
    assert (tf.constant([1.0]) == None) is False  # noqa: E711 - the operator itself is tested


def test_copy_and_deepcopy_preserve_the_value():
    t = tf.constant([1.0, 2.0])
    assert copy.copy(t) is t
    deep = copy.deepcopy(t)
    assert deep is not t and deep.numpy().tolist() == [1.0, 2.0]


# ---------------------------------------------------------------- conversion and dtypes


@pytest.mark.parametrize("value,dtype", [
    (1.0, tf.float32),
    (1, tf.int32),
    (2 ** 40, tf.int64),
    (-(2 ** 40), tf.int64),
    (True, tf.bool),
    ([True, False], tf.bool),
    ([1, 2.0], tf.float32),
    (np.float64(1.0), tf.float64),
    (np.array([1.0, 2.0]), tf.float64),
    (np.array([1], np.int64), tf.int64),
    (np.float16(1.0), tf.float16),
    ("abc", tf.string),
    (["a", b"b"], tf.string),
], ids=lambda v: repr(v) if not isinstance(v, tf.DType) else v.name)
def test_convert_to_tensor_infers_tensorflow_dtypes(value, dtype):
    assert tf.convert_to_tensor(value).dtype is dtype
    assert tf.constant(value).dtype is dtype


def test_requested_dtype_converts_python_values():
    assert tf.constant([1, 2], dtype=tf.float32).numpy().tolist() == [1.0, 2.0]
    assert tf.convert_to_tensor(1.5, tf.float64).dtype is tf.float64
    assert tf.constant(1, dtype="int64").dtype is tf.int64


def test_dtype_hint_is_a_preference_not_a_cast():
    assert tf.convert_to_tensor([1, 2], dtype_hint=tf.float32).dtype is tf.float32
    assert tf.convert_to_tensor(["a"], dtype_hint=tf.float32).dtype is tf.string


@pytest.mark.parametrize("value,dtype,error", [
    ([1.5], tf.int32, TypeError),  # would lose the fraction
    (1.0, tf.int32, TypeError),  # TF refuses any Python float for an integer dtype
    ("a", tf.float32, TypeError),
], ids=["fraction-to-int", "float-to-int", "string-to-float"])
def test_lossy_conversions_raise(value, dtype, error):
    with pytest.raises(error):
        tf.constant(value, dtype=dtype)


def test_a_tensor_of_another_dtype_is_not_cast():
    t = tf.constant(1.0)
    with pytest.raises(ValueError, match="float64"):
        tf.convert_to_tensor(t, dtype=tf.float64)


def test_ops_refuse_mixed_dtypes_and_name_them():
    with pytest.raises(errors.InvalidArgumentError) as info:
        tf.add(tf.constant(1.0), tf.constant(1.0, dtype=tf.float64))
    message = str(info.value)
    assert "add" in message and "float32" in message and "float64" in message


def test_python_scalars_adapt_to_the_tensor_dtype():
    assert (tf.constant([1.0], tf.float64) * 2).dtype is tf.float64
    assert (2 + tf.constant([1], tf.int64)).dtype is tf.int64


def test_ragged_lists_raise_value_error():
    with pytest.raises(ValueError):
        tf.constant([[1], [2, 3]])


def test_constant_with_shape_fills_or_reshapes():
    assert tf.constant(0.5, shape=[2, 3]).numpy().tolist() == [[0.5] * 3] * 2
    assert tf.constant([1, 2, 3, 4], shape=[2, 2]).numpy().tolist() == [[1, 2], [3, 4]]
    assert tf.constant([7], shape=(3,)).numpy().tolist() == [7, 7, 7]
    with pytest.raises(errors.InvalidArgumentError):
        tf.constant([1, 2, 3], shape=[2, 2])


def test_is_tensor():
    assert tf.is_tensor(tf.constant(1.0)) and tf.is_tensor(tf.Variable(1.0))
    assert not tf.is_tensor(np.ones(2)) and not tf.is_tensor([1.0])


# ---------------------------------------------------------------- string tensors


def test_string_tensors_hold_bytes_and_concatenate_with_plus():
    s = tf.constant(["ab", "c"])
    assert s.dtype is tf.string and s.shape == (2,)
    assert s.numpy().tolist() == [b"ab", b"c"]
    assert (s + "x").numpy().tolist() == [b"abx", b"cx"]
    assert (s + s).numpy().tolist() == [b"abab", b"cc"]
    assert tf.constant("hi").numpy() == b"hi"


# ---------------------------------------------------------------- TensorShape


def test_tensor_shape_with_unknown_dims():
    s = tf.TensorShape([None, 3])
    assert s.rank == 2 and s.ndims == 2 and s.as_list() == [None, 3]
    assert not s.is_fully_defined() and s.num_elements() is None
    assert s == [None, 3] and s == (None, 3) and s != [2, 3]
    assert s[1] == 3 and s[0] is None and s[1:] == [3]
    assert str(s) == "(None, 3)" and repr(s) == "TensorShape([None, 3])"


def test_tensor_shape_compatibility_and_merge():
    s = tf.TensorShape([None, 3])
    assert s.is_compatible_with([2, 3]) and s.is_compatible_with((None, None))
    assert not s.is_compatible_with([2, 4]) and not s.is_compatible_with([3])
    assert s.merge_with([2, None]) == [2, 3]
    with pytest.raises(ValueError):
        s.merge_with([2, 4])


def test_unknown_rank_shape():
    s = tf.TensorShape(None)
    assert s.rank is None
    assert s.is_compatible_with([1, 2, 3])
    assert s.merge_with([1, 2]) == [1, 2]
    with pytest.raises(ValueError):
        s.as_list()


def test_fully_defined_shape_counts_elements_and_concatenates():
    s = tf.TensorShape([2, 3])
    assert s.is_fully_defined() and s.num_elements() == 6 and len(s) == 2
    assert s.concatenate([4]) == [2, 3, 4] and s + [5] == [2, 3, 5]
    assert tf.TensorShape([]).num_elements() == 1 and tf.TensorShape([]).rank == 0
    assert hash(tf.TensorShape([2, 3])) == hash(tf.TensorShape((2, 3)))


def test_shape_dimensions_must_be_non_negative_ints():
    with pytest.raises(TypeError):
        tf.TensorShape([2, -5])
    with pytest.raises(TypeError):
        tf.TensorShape([2.5])


# ---------------------------------------------------------------- TensorSpec


def test_tensor_spec():
    spec = tf.TensorSpec([None, 2], tf.float32, name="x")
    assert spec.shape == [None, 2] and spec.dtype is tf.float32 and spec.name == "x"
    assert spec.is_compatible_with(tf.constant([[1.0, 2.0]]))
    assert not spec.is_compatible_with(tf.constant([[1, 2]]))  # int32
    assert not spec.is_compatible_with(tf.constant([1.0, 2.0]))  # rank 1
    assert spec == tf.TensorSpec((None, 2), "float32", "x")
    assert spec != tf.TensorSpec((None, 2), tf.float64, "x")
    assert tf.TensorSpec.from_tensor(tf.zeros([3])) == tf.TensorSpec([3], tf.float32)
    assert hash(spec) == hash(tf.TensorSpec([None, 2], tf.float32, "x"))


# ---------------------------------------------------------------- dtypes


@pytest.mark.parametrize("value,dtype", [
    ("float32", tf.float32), ("float", tf.float32), ("double", tf.float64),
    ("half", tf.float16), ("int64", tf.int64), ("bool", tf.bool), ("string", tf.string),
    (np.float32, tf.float32), (np.int8, tf.int8), (np.bool_, tf.bool),
    (np.dtype("<f8"), tf.float64), (np.dtype("uint16"), tf.uint16),
    (float, tf.float32), (int, tf.int32), (bool, tf.bool), (complex, tf.complex128),
    (str, tf.string), (tf.float16, tf.float16),
], ids=repr)
def test_as_dtype(value, dtype):
    assert tf.as_dtype(value) is dtype


def test_as_dtype_rejects_unknown_names():
    with pytest.raises(TypeError, match="float31"):
        tf.as_dtype("float31")


def test_dtype_predicates():
    assert tf.float16.is_floating and tf.float64.is_floating and not tf.int32.is_floating
    assert tf.int8.is_integer and tf.uint64.is_integer and not tf.bool.is_integer
    assert tf.uint8.is_unsigned and not tf.int8.is_unsigned
    assert tf.complex64.is_complex and tf.complex64.real_dtype is tf.float32
    assert tf.bool.is_bool and not tf.string.is_numeric
    assert tf.float32.is_differentiable and not tf.int32.is_differentiable


def test_dtype_limits():
    assert (tf.int8.min, tf.int8.max) == (-128, 127)
    assert (tf.uint8.min, tf.uint8.max) == (0, 255)
    assert tf.int32.max == 2 ** 31 - 1 and tf.int64.min == -(2 ** 63)
    assert tf.float16.max == float(np.finfo(np.float16).max)
    assert tf.float32.max == float(np.finfo(np.float32).max)
    assert tf.float64.min == -float(np.finfo(np.float64).max)
    with pytest.raises(TypeError):
        _ = tf.string.max


def test_dtype_equality_and_names():
    assert tf.float32 == "float32" and tf.float32 == np.float32 and tf.float32 != tf.float64
    assert tf.half is tf.float16 and tf.double is tf.float64
    assert repr(tf.int32) == "tf.int32" and tf.int32.name == "int32"
    assert tf.float32.as_numpy_dtype is np.float32
    assert tf.float32.size == 4 and tf.float64.size == 8


def test_bfloat16_with_ml_dtypes():
    ml_dtypes = pytest.importorskip(
        "ml_dtypes", reason="bfloat16 tensors need the optional ml_dtypes package "
                            "(pip install tensorflux[bfloat16])")
    t = tf.constant([1.0, 2.5], dtype=tf.bfloat16)
    assert t.dtype is tf.bfloat16
    assert t.numpy().astype(np.float32).tolist() == [1.0, 2.5]
    assert tf.as_dtype(ml_dtypes.bfloat16) is tf.bfloat16


def test_bfloat16_without_ml_dtypes_says_what_to_install():
    try:
        import ml_dtypes  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("ml_dtypes is installed; test_bfloat16_with_ml_dtypes covers bfloat16")
    with pytest.raises(TypeError, match="ml_dtypes"):
        tf.constant([1.0], dtype=tf.bfloat16)
    assert tf.bfloat16.is_floating and tf.bfloat16.max > 3e38  # the DType itself needs nothing


def test_fill_accepts_string_values():
    filled = tf.fill([2], "ab")
    assert filled.dtype == tf.string and filled.numpy().tolist() == [b"ab", b"ab"]


def test_numpy_functions_on_tensors_return_arrays_and_operators_return_tensors():
    # As with TensorFlow's tensors (observed with TF 2.21): a NumPy function reads the tensor
    # and returns an ndarray; an operator with an ndarray defers to the tensor's overload.
    t = tf.constant([1.0, 4.0])
    exp = np.exp(t)
    assert type(exp) is np.ndarray and np.allclose(exp, np.exp([1.0, 4.0]))
    assert type(np.add(t, 1.0)) is np.ndarray and np.maximum(t, 2.0).tolist() == [2.0, 4.0]
    assert type(np.sqrt(tf.Variable([4.0]))) is np.ndarray
    mixed = np.ones(2, np.float32) + t
    assert isinstance(mixed, tf.Tensor) and mixed.numpy().tolist() == [2.0, 5.0]
    assert isinstance(t * np.ones(2, np.float32), tf.Tensor)
    # The tensor itself never changes through NumPy.
    np.exp(t, out=np.empty(2, np.float32))
    assert t.numpy().tolist() == [1.0, 4.0]


def test_nested_lists_of_unequal_lengths_get_tensorflows_error():
    # (TF 2.21: "Can't convert non-rectangular Python sequence to Tensor.")
    for make in (lambda: tf.constant([[1, 2], [3]]),
                 lambda: tf.constant([[1, 2], [3]], dtype=tf.float32),
                 lambda: tf.constant([[1, 2], [3]], dtype=tf.int32),
                 lambda: tf.data.Dataset.from_tensor_slices([[1, 2], [3]])):
        with pytest.raises(ValueError, match=r"non-rectangular Python sequence.*\[\[1, 2\], "
                                             r"\[3\]\].*pad_sequences"):
            make()


def test_hashing_a_tensor_says_to_use_ref_as_tensorflow_does():
    t = tf.constant([1.0])
    with pytest.raises(TypeError, match=r"Tensor is unhashable\. Instead, use tensor\.ref\(\)"):
        hash(t)
    assert {t.ref(): "kept"}[t.ref()] == "kept"
