"""Fixes from probing TF / keras.ops operations against TF 2.21 and Keras 3.15: gradients that
stay finite under tf.where, clip_by_value's order, bands of diagonals, tf.linalg.eig and
keras.ops.eig, NumPy's matrix norms in keras.ops.norm, Keras's dtype rules for bools and
small ints, tf.nn.pool, embedding_lookup_sparse and error types. References are NumPy float64,
central finite differences, and real Keras 3 (torch backend) for keras.ops."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import bitwise as tf_bitwise
from tensorflux import keras as tfk
from tensorflux.keras import ops
from tests.keras._oracle import assert_matches, fresh_names, import_keras, to_numpy  # noqa: F401
from tests.ops import harness
from tests.ops.harness import Row, combine, ints
from tests.tolerances import central_difference

RNG = np.random.default_rng(11)


def _distinct_real_spectrum(rng):
    return [np.diag([1.0, 2.0, 3.5]) + rng.uniform(-0.2, 0.2, (3, 3))]


def _rotation_like(rng):  # a complex pair and a real eigenvalue
    return [np.array([[1.0, 2.0, 0.0], [-2.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
            + rng.uniform(-0.2, 0.2, (3, 3))]


def _eig_rebuilt(a):
    values, vectors = tf.linalg.eig(a)
    return tf.math.real(tf.matmul(vectors * values[..., None, :], tf.linalg.inv(vectors)))


def _clamped(shift, dtype):
    return np.clip(shift, 0, np.dtype(dtype).itemsize * 8 - 1)


_INT_PAIR = combine(ints((3, 4), -100, 100, np.int16), ints((4,), -100, 100, np.int16))
_SHIFTS = combine(ints((3, 4), -100, 100, np.int16), ints((4,), -2, 20, np.int16))

# Op-table rows for the eig and bitwise primitives (forward against NumPy; eig's VJPs
# against finite differences).
ROWS = [
    Row("bitwise_and", lambda x, y: tf_bitwise.bitwise_and(x, y), np.bitwise_and, _INT_PAIR,
        dtypes=("int16",), grad=()),
    Row("bitwise_or", lambda x, y: tf_bitwise.bitwise_or(x, y), np.bitwise_or, _INT_PAIR,
        dtypes=("int16",), grad=()),
    Row("bitwise_xor", lambda x, y: tf_bitwise.bitwise_xor(x, y), np.bitwise_xor, _INT_PAIR,
        dtypes=("int16",), grad=()),
    Row("left_shift", lambda x, y: tf_bitwise.left_shift(x, y),
        lambda x, y: np.left_shift(x, _clamped(y, x.dtype)), _SHIFTS, dtypes=("int16",),
        grad=()),
    Row("right_shift", lambda x, y: tf_bitwise.right_shift(x, y),
        lambda x, y: np.right_shift(x, _clamped(y, x.dtype)), _SHIFTS, dtypes=("int16",),
        grad=()),
    Row("eig_sorted_values", lambda a: tf.sort(tf.math.real(tf.linalg.eigvals(a))),
        lambda a: np.sort(np.linalg.eigvals(a).real), _distinct_real_spectrum),
    Row("eig_rebuilt", _eig_rebuilt, lambda a: a, _rotation_like, rtol=1e-5),
    Row("eig_pair_moduli", lambda a: tf.sort(tf.abs(tf.linalg.eigvals(a))),
        lambda a: np.sort(np.abs(np.linalg.eigvals(a))), _rotation_like, rtol=1e-5),
]
_FORWARD = [(row, dtype) for row in ROWS for dtype in row.dtypes]


@pytest.mark.parametrize("row,dtype", _FORWARD, ids=[f"{r.name}-{d}" for r, d in _FORWARD])
def test_op_rows_forward(row, dtype):
    harness.check_forward(row, dtype)


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_op_rows_vjp_and_shapes(row):
    harness.check_vjp(row)
    harness.check_shape_rules(row)


def test_bitwise_namespace_and_errors():
    assert tf_bitwise.invert is tf.invert
    out = tf_bitwise.left_shift(tf.constant([1, -1], tf.int8), tf.constant([9, 3], tf.int8))
    assert out.dtype == tf.int8 and out.numpy().tolist() == [-128, -8]  # TF clamps to 7
    with pytest.raises(tf.errors.InvalidArgumentError, match="bitwise_and: expected integer"):
        tf_bitwise.bitwise_and([1.0], [2.0])


def _grad(f, value):
    x = tf.Variable(value)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(f(x))
    return tape.gradient(y, x).numpy()


# ------------------------------------------------------------------ tf ops

@pytest.mark.parametrize("fn", [tf.sqrt, tf.math.rsqrt, tf.math.reciprocal])
def test_zero_cotangent_gives_zero_gradient_at_a_pole(fn):
    # TF's kernels return 0 for a zero cotangent, so the common tf.where guard has no NaN.
    grad = _grad(lambda v: tf.where(v > 0, fn(v), tf.zeros_like(v)), np.array([0.0, 4.0]))
    reference = central_difference(lambda v: np.sum(fn(tf.constant(v)).numpy()), np.array([4.0]))
    np.testing.assert_allclose(grad, [0.0, reference[0]], rtol=1e-6)
    assert np.isinf(_grad(fn, np.array([0.0]))[0])  # a real cotangent still meets the pole


def test_clip_by_value_with_min_above_max_gives_min():
    x = np.array([1.0, 5.0, 9.0], "float32")
    out = tf.clip_by_value(x, 6.0, 2.0).numpy()
    np.testing.assert_array_equal(out, np.maximum(np.minimum(x, 2.0), 6.0))


def test_count_nonzero_counts_non_empty_strings():
    words = np.array([["", "a"], ["b", "c"]], dtype=object)
    out = tf.math.count_nonzero(tf.constant(words.tolist()), axis=1)
    assert out.dtype == tf.int64
    np.testing.assert_array_equal(out.numpy(), (words != "").sum(axis=1))


def test_matmul_output_type_accumulates_int8_in_int32():
    a = np.array([[100, -100], [7, 3]], "int8")
    out = tf.matmul(a, a, output_type=tf.int32)
    assert out.dtype == tf.int32
    np.testing.assert_array_equal(out.numpy(), a.astype("int64") @ a.astype("int64"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="output_type int32 needs"):
        tf.matmul(tf.ones((2, 2)), tf.ones((2, 2)), output_type=tf.int32)


def test_python_float_into_integer_op_is_a_type_error():
    with pytest.raises(TypeError, match="multiply: .*2.5"):
        tf.constant([1, 2]) * 2.5
    with pytest.raises(tf.errors.InvalidArgumentError):  # a list is not, as in TF
        tf.constant([1, 2]) + [2.5]


def test_approx_top_k_is_exact_along_any_dimension():
    x = RNG.normal(size=(4, 6)).astype("float32")
    values, indices = tf.math.approx_max_k(x, 2, reduction_dimension=0)
    np.testing.assert_array_equal(values.numpy(), -np.sort(-x, axis=0)[:2])
    np.testing.assert_array_equal(indices.numpy(), np.argsort(-x, axis=0, kind="stable")[:2])
    low = tf.math.approx_min_k(x, 3)
    np.testing.assert_array_equal(low.values.numpy(), np.sort(x, axis=1)[:, :3])
    assert type(low).__name__ == "ApproxTopK"


def _band_reference(x, low, high, align, pad):
    rows, cols = x.shape[-2:]
    diagonals = [np.diagonal(x, d, -2, -1) for d in range(high, low - 1, -1)]
    width = max(d.shape[-1] for d in diagonals)
    out = []
    for d, values in zip(range(high, low - 1, -1), diagonals):
        short = width - values.shape[-1]
        right = align.split("_")[0 if d >= 0 else 1] == "RIGHT"
        widths = [(0, 0)] * (values.ndim - 1) + [(short, 0) if right else (0, short)]
        out.append(np.pad(values, widths, constant_values=pad))
    return np.stack(out, axis=-2)


@pytest.mark.parametrize("shape,k,align", [
    ((3, 4), (-1, 1), "RIGHT_LEFT"), ((2, 4, 3), (-2, 1), "LEFT_RIGHT"),
    ((4, 4), (0, 2), "LEFT_LEFT"), ((3, 5), (-2, -1), "RIGHT_RIGHT")])
def test_diag_part_band_of_diagonals(shape, k, align):
    x = np.arange(np.prod(shape), dtype="float32").reshape(shape)
    out = tf.linalg.diag_part(x, k=k, align=align, padding_value=-1)
    np.testing.assert_array_equal(out.numpy(), _band_reference(x, *k, align, -1))
    weights = RNG.normal(size=out.shape)
    grad = _grad(lambda v: tf.linalg.diag_part(v, k=k, align=align) * weights, x)
    expected = central_difference(lambda v: np.sum(_band_reference(v, *k, align, 0) * weights),
                                  x.astype(np.float64))
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-5)


def test_diag_part_and_argmax_take_bools():
    flags = np.array([[True, False], [True, True]])
    np.testing.assert_array_equal(tf.linalg.diag_part(flags).numpy(), np.diagonal(flags))
    np.testing.assert_array_equal(tf.argmax(flags, axis=1).numpy(), np.argmax(flags, axis=1))
    np.testing.assert_array_equal(tf.argmin(flags, axis=0).numpy(), np.argmin(flags, axis=0))


@pytest.mark.parametrize("dtype,complex_dtype", [("float32", "complex64"),
                                                 ("float64", "complex128")])
def test_eig_values_vectors_and_dtypes(dtype, complex_dtype):
    a = RNG.normal(size=(2, 4, 4)).astype(dtype)
    values, vectors = tf.linalg.eig(a)
    assert values.dtype.name == vectors.dtype.name == complex_dtype
    tol = 1e-4 if dtype == "float32" else 1e-10
    v, e = vectors.numpy(), values.numpy()
    np.testing.assert_allclose(a @ v, v * e[:, None, :], atol=tol)
    np.testing.assert_allclose(np.linalg.norm(v, axis=-2), 1.0, atol=tol)
    np.testing.assert_allclose(np.sort_complex(tf.linalg.eigvals(a).numpy()),
                               np.sort_complex(np.linalg.eigvals(a.astype("float64"))), atol=tol)
    with pytest.raises(tf.errors.InvalidArgumentError, match="eig: expected square"):
        tf.linalg.eig(np.ones((2, 3), dtype))


def test_eig_gradients_match_central_differences():
    # A complex pair and a real eigenvalue; the sort key and phase fix make the loss smooth.
    a = np.array([[1.0, 2.0, 0.0], [-2.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    a = a + 0.3 * RNG.normal(size=(3, 3))
    c = np.array([1.0, 2.0, 3.0])

    def ours(v):
        e, vec = tf.linalg.eig(v)
        order = tf.argsort(tf.math.real(e) + 0.1 * tf.math.imag(e))
        e, vec = tf.gather(e, order), tf.gather(vec, order, axis=1)
        vec = vec / (vec[0] / tf.cast(tf.abs(vec[0]), vec.dtype))
        return (tf.reduce_sum(c * tf.math.real(e)) + tf.reduce_sum(c * tf.math.imag(e))
                + tf.reduce_sum(c * tf.abs(vec[1]) ** 2) + tf.reduce_sum(c * tf.math.imag(vec[2])))

    def reference(v):
        e, vec = np.linalg.eig(v)
        order = np.argsort(e.real + 0.1 * e.imag)
        e, vec = e[order], vec[:, order]
        vec = vec / (vec[0] / np.abs(vec[0]))
        return (np.sum(c * e.real) + np.sum(c * e.imag) + np.sum(c * np.abs(vec[1]) ** 2)
                + np.sum(c * vec[2].imag))

    np.testing.assert_allclose(_grad(ours, a),
                               central_difference(reference, np.asarray(a, np.float64)),
                               atol=1e-6)


def test_pool_is_max_pool_or_avg_pool():
    x = RNG.normal(size=(2, 5, 5, 3)).astype("float32")
    np.testing.assert_array_equal(
        tf.nn.pool(x, [3, 3], "AVG", strides=[2, 2], padding="SAME").numpy(),
        tf.nn.avg_pool2d(x, 3, 2, "SAME").numpy())
    out = tf.nn.pool(x[:, 0], [2], "MAX").numpy()  # strides default to 1
    np.testing.assert_array_equal(out, np.maximum(x[:, 0, :-1], x[:, 0, 1:]))
    with pytest.raises(ValueError, match="pooling_type must be 'MAX' or 'AVG'"):
        tf.nn.pool(x, [2, 2], "SUM")


@pytest.mark.parametrize("combiner", ["sum", "mean", "sqrtn"])
def test_embedding_lookup_sparse(combiner):
    params = RNG.normal(size=(6, 3)).astype("float32")
    indices = [[0, 0], [0, 1], [0, 2], [2, 0]]
    ids, weights = np.array([1, 3, 1, 5]), np.array([0.5, 2.0, 1.0, 3.0], "float32")
    sp_ids = tf.sparse.SparseTensor(indices, tf.constant(ids, tf.int64), [4, 3])
    sp_weights = tf.sparse.SparseTensor(indices, weights, [4, 3])
    out = tf.nn.embedding_lookup_sparse(params, sp_ids, sp_weights, combiner=combiner)
    expected = np.zeros((3, 3))  # TF stops at the last row holding an id
    for row, members in ((0, [0, 1, 2]), (2, [3])):
        w = weights[members]
        total = (params[ids[members]] * w[:, None]).sum(0)
        scale = {"sum": 1.0, "mean": w.sum(), "sqrtn": np.sqrt((w * w).sum())}[combiner]
        expected[row] = total / scale
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("length", [0, 1, 4, 7])
@pytest.mark.parametrize("beta", [0.5, 8.0, 200.0])
def test_kaiser_windows_match_numpy(length, beta):
    np.testing.assert_allclose(tf.signal.kaiser_window(length, beta, tf.float64).numpy(),
                               np.kaiser(length, beta), rtol=1e-12, atol=1e-300)
    half = length // 2
    sums = np.cumsum(np.kaiser(half + 1, beta))
    rising = np.sqrt(sums[:half] / sums[half])
    kbd = tf.signal.kaiser_bessel_derived_window(length, beta, tf.float64).numpy()
    np.testing.assert_allclose(kbd, np.concatenate([rising, rising[::-1]]), rtol=1e-12)
    assert tf.signal.kaiser_window(length, beta).dtype == tf.float32


def test_vorbis_window_matches_its_formula():
    n = np.arange(6) + 0.5
    np.testing.assert_allclose(tf.signal.vorbis_window(6, tf.float64).numpy(),
                               np.sin(np.pi / 2 * np.sin(np.pi * n / 6) ** 2), rtol=1e-14)


# (input shape, new shape, TF 2.21's result): an empty tensor infers -1 from non-zero dims.
@pytest.mark.parametrize("shape,new,expected", [
    ((0, 3), (0, -1), (0, 3)), ((2, 0, 3), (0, -1), (0, 6)), ((0, 3), (-1, 0), (3, 0)),
    ((0, 3, 4), (3, 0, -1), (3, 0, 4)), ((0, 3), (2, 0, -1), (2, 0, 1)),
    ((0, 3), (5, -1), (5, 0)), ((3, 0, 5), (-1, 5), (0, 5))])
def test_reshape_of_empty_tensors_infers_like_tf(shape, new, expected):
    assert tuple(tf.reshape(tf.zeros(shape), new).shape) == expected

    @tf.function(input_signature=[tf.TensorSpec([None] * len(shape))])
    def traced(x):
        return tf.reshape(x, tf.constant(new))

    assert tuple(traced(tf.zeros(shape)).shape) == expected


def test_reshape_of_non_empty_tensor_into_a_zero_dim_is_an_error():
    with pytest.raises(tf.errors.InvalidArgumentError, match="cannot reshape"):
        tf.reshape(tf.zeros((2, 3)), (0, -1))


def test_stack_of_python_values_takes_one_dtype_from_all():
    out = tf.stack([1, 2.5])
    assert out.dtype == tf.float32 and out.numpy().tolist() == [1.0, 2.5]
    assert tf.stack([tf.constant(1), 2]).dtype == tf.int32  # a tensor's dtype leads
    with pytest.raises(TypeError):
        tf.stack([tf.constant(1), 2.5])


def test_random_experimental_namespace():
    experimental = tf.random.experimental
    seed = tf.constant([1, 2])
    np.testing.assert_array_equal(experimental.stateless_fold_in(seed, 3).numpy(),
                                  tf.random.fold_in(seed, 3).numpy())
    assert tuple(experimental.stateless_split(seed, 3).shape) == (3, 2)
    assert experimental.Generator is tf.random.Generator
    assert "experimental" in dir(tf.random)


def test_relu6_keeps_integers_and_range_keeps_half_floats():
    out = tf.nn.relu6(tf.constant([-3, 4, 9], tf.int16))
    assert out.dtype == tf.int16 and out.numpy().tolist() == [0, 4, 6]
    assert tf.range(tf.constant(3.0, tf.float16)).dtype == tf.float16
    assert tf.range(0, tf.constant(2.0, tf.bfloat16), 0.5).dtype == tf.float32  # 0.5 is wider


def test_unique_result_is_named_like_tf():
    assert type(tf.unique(tf.constant([1, 1]))).__name__ == "Unique"


# ------------------------------------------------------------------ keras.ops (oracle)

@pytest.mark.keras_oracle
def test_keras_eig_matches_keras_and_round_trips(tmp_path):
    keras = import_keras()
    a = RNG.normal(size=(2, 3, 3)).astype("float32")
    values, vectors = ops.eig(a)
    k_values, _ = keras.ops.eig(a)
    assert values.dtype.name == str(to_numpy(k_values).dtype) == "complex64"
    np.testing.assert_allclose(np.sort_complex(values.numpy()),
                               np.sort_complex(to_numpy(k_values)), atol=1e-5)
    np.testing.assert_allclose(np.abs(vectors.numpy()).sum(-2) > 0, True)
    # Functional models with an eig node load both ways.
    inputs = tfk.Input((3, 3))
    ours = tfk.Model(inputs, ops.real(ops.sum(ops.eig(inputs)[0], axis=-1)))
    ours.save(tmp_path / "ours.keras")
    loaded = keras.models.load_model(tmp_path / "ours.keras")
    assert_matches(ours(a), loaded(a), rtol=1e-5, atol=1e-5)
    k_inputs = keras.Input((3, 3))
    theirs = keras.Model(k_inputs, keras.ops.real(keras.ops.sum(keras.ops.eig(k_inputs)[0], -1)))
    theirs.save(tmp_path / "theirs.keras")
    assert_matches(tfk.models.load_model(tmp_path / "theirs.keras")(a), theirs(a),
                   rtol=1e-5, atol=1e-5)


@pytest.mark.keras_oracle
@pytest.mark.parametrize("ord_", ["nuc", -1, -2, -np.inf, None, 2])
@pytest.mark.parametrize("axis", [(0, 1), (2, 0), (-1, -2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_keras_matrix_norms(ord_, axis, keepdims):
    keras = import_keras()
    x = RNG.normal(size=(2, 3, 4)).astype("float32")
    assert_matches(ops.norm(x, ord=ord_, axis=axis, keepdims=keepdims),
                   keras.ops.norm(x, ord=ord_, axis=axis, keepdims=keepdims), rtol=1e-5,
                   atol=1e-5)


@pytest.mark.keras_oracle
@pytest.mark.parametrize("ord_", [0, -1, -2, 0.5, 3, -np.inf, np.inf])
def test_keras_vector_norms(ord_):
    keras = import_keras()
    x = np.array([[3.0, 0.0, -1.5, 2.0], [1.0, 1.0, -4.0, 0.5]], "float32")
    for axis in (None, 0, -1):
        value = x[0] if axis is None else x
        assert_matches(ops.norm(value, ord=ord_, axis=axis),
                       keras.ops.norm(value, ord=ord_, axis=axis), rtol=1e-5, atol=1e-6)


@pytest.mark.keras_oracle
def test_keras_full_casts_a_float_fill_into_an_int_dtype():
    keras = import_keras()
    ints = np.zeros((2, 3), "int32")
    for ours, theirs in [(ops.full_like(ints, 2.7), keras.ops.full_like(ints, 2.7)),
                         (ops.full((2,), -2.5, "int32"), keras.ops.full((2,), -2.5, "int32"))]:
        assert ours.dtype.name == "int32"
        np.testing.assert_array_equal(ours.numpy(), to_numpy(theirs))


@pytest.mark.keras_oracle
def test_keras_logaddexp_infinities_and_tie_gradient():
    keras = import_keras()
    a = np.array([-np.inf, np.inf, 1.0, 2.0, 1000.0, -np.inf], "float32")
    b = np.array([-np.inf, np.inf, 1.0, -np.inf, 999.0, 3.0], "float32")
    assert_matches(ops.logaddexp(a, b), keras.ops.logaddexp(a, b))
    x = np.array([1.0, 2.0, -3.0])
    grad = _grad(lambda v: ops.logaddexp(v, np.array([1.0, 0.0, 5.0])), x)
    np.testing.assert_allclose(grad, 1 / (1 + np.exp(np.array([1.0, 0.0, 5.0]) - x)), rtol=1e-7)


@pytest.mark.keras_oracle
@pytest.mark.parametrize("name,args", [
    ("abs", (np.array([True, False]),)), ("absolute", (np.array([True, False]),)),
    ("square", (np.array([True, False]),)), ("max", (np.array([[True, False]]),)),
    ("min", (np.array([[True, False], [True, True]]),)),
    ("argmax", (np.array([False, True, True]),)), ("argmin", (np.array([True, False]),)),
    ("diagonal", (np.array([[True, False], [False, True]]),)),
    ("diff", (np.array([True, False, False, True]),)),
    ("cumsum", (np.array([1, -2, 3], "int8"),)), ("cumsum", (np.array([1, 2], "uint8"),)),
    ("cumsum", (np.array([True, True]),)), ("cumprod", (np.array([2, 3], "int16"),)),
    ("matmul", (np.array([[1, 2]], "int8"), np.array([[3], [4]], "int8"))),
    ("matmul", (np.array([[True, False]]), np.array([[1], [4]], "int8"))),
    ("matmul", (np.array([[True, False], [False, False]]), np.array([[True], [True]]))),
    ("dot", (np.array([True, False]), np.array([False, True]))),
    ("dot", (np.array([100, 2], "int8"), np.array([1, 1], "int8"))),
    ("vdot", (np.array([True, True]), np.array([False, True]))),
    ("einsum", ("ij,jk->ik", np.array([[100, 2]], "int8"), np.array([[3], [100]], "int8"))),
    ("sort", (np.array([True, False, True]),)), ("argsort", (np.array([True, False]),)),
    ("relu6", (np.array([-3, 2, 9], "int32"),)),
])
def test_keras_dtypes_of_bools_and_small_ints(name, args):
    keras = import_keras()
    ours, theirs = getattr(ops, name)(*args), getattr(keras.ops, name)(*args)
    assert tfk.backend.standardize_dtype(ours.dtype) == \
        keras.backend.standardize_dtype(theirs.dtype)
    np.testing.assert_array_equal(to_numpy(ours), to_numpy(theirs))
