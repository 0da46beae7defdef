"""The NumPy backend's products, reductions and softmax that a Transformer block and a
BatchNormalization layer spend their step in: two-operand einsums run as one matmul with
C-ordered results, the softmax by blocks of rows, means over leading axes as a GEMV. Each is
checked against NumPy in float64 (einsum, means) or against softmax's own formula computed
whole by NumPy (the same operations, so the same bits)."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.backends import numpy_backend as nb

rng = np.random.default_rng(0)

# (equation, shape of a, shape of b, whether it is one product)
EQUATIONS = [
    # MultiHeadAttention's projections, scores and their gradients
    ("abc,cde->abde", (4, 6, 8), (8, 2, 3), True),
    ("abde,cde->abc", (4, 6, 2, 3), (8, 2, 3), True),
    ("abde,abc->cde", (4, 6, 2, 3), (4, 6, 8), True),
    ("aecd,abcd->acbe", (2, 5, 3, 4), (2, 6, 3, 4), True),
    ("acbe,aecd->abcd", (2, 3, 6, 5), (2, 5, 3, 4), True),
    ("abcd,cde->abe", (2, 5, 3, 4), (3, 4, 7), True),
    # ellipses, batches, outer and inner products, results in another order
    ("...b,bc->...c", (3, 5, 7), (7, 2), True),
    ("...ij,...jk->...ik", (2, 3, 4, 5), (2, 3, 5, 6), True),
    ("...ij,jk->...ik", (2, 3, 4, 5), (5, 6), True),
    ("ij,...jk->...ik", (4, 5), (2, 5, 6), True),
    ("bhqk,bkhd->bqhd", (2, 3, 4, 5), (2, 5, 3, 6), True),
    ("ijk,jil->kl", (2, 3, 4), (3, 2, 5), True),
    ("ij,jk->ki", (3, 4), (4, 5), True),
    ("ij,kl->ijkl", (2, 3), (4, 5), True),
    ("ij,ij->", (3, 4), (3, 4), True),
    ("ij,ij->ij", (3, 4), (3, 4), True),
    ("ij,j->i", (3, 4), (4,), True),
    ("i,i->", (5,), (5,), True),
    ("ij,k->ijk", (2, 3), (4,), True),
    ("ij,jk->ik", (0, 3), (3, 4), True),
    # not one product: NumPy's einsum
    ("ij,jk", (2, 3), (3, 4), False),  # implicit result
    ("ii,ij->j", (3, 3), (3, 4), False),  # a diagonal
    ("bij,bjk->bik", (2, 3, 4), (1, 4, 5), False),  # a batch of 1 broadcast
    ("ij,jk->k", (2, 3), (3, 4), False),  # i summed in one operand only
]


@pytest.mark.parametrize("equation, a_shape, b_shape, product", EQUATIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64])
def test_two_operand_einsums_match_numpy_in_float64(equation, a_shape, b_shape, product,
                                                    dtype):
    a = rng.standard_normal(a_shape).astype(dtype)
    b = rng.standard_normal(b_shape).astype(dtype)
    if np.iscomplexobj(a):
        a = a + 1j * rng.standard_normal(a_shape).astype(np.float32)
        b = b - 1j * rng.standard_normal(b_shape).astype(np.float32)
    wide = np.complex128 if np.iscomplexobj(a) else np.float64
    expected = np.einsum(equation, a.astype(wide), b.astype(wide))
    nb._EINSUM_PRODUCTS.clear()
    got = nb.einsum(a, b, equation=equation)
    assert (nb._EINSUM_PRODUCTS.get((equation, a_shape, b_shape)) is not None) == product
    assert got.dtype == dtype and got.shape == expected.shape
    # Elementwise kernels walk a mix of layouts many times slower: results are C-ordered.
    assert got.flags.c_contiguous
    tolerance = 1e-12 if dtype is np.float64 else 1e-5
    np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance)


def test_einsum_of_three_operands_and_to_a_scalar_keep_numpys_shapes_c_ordered():
    a, b, c = (rng.standard_normal(s).astype(np.float32) for s in ((3, 4), (4, 5), (5, 3)))
    got = nb.einsum(a, b, c, equation="ij,jk,ki->")
    assert got.shape == () and got.dtype == np.float32
    np.testing.assert_allclose(got, np.einsum("ij,jk,ki->", *(x.astype(np.float64)
                                                                for x in (a, b, c))),
                               rtol=1e-5)
    # NumPy returns this one as a transposed view; the kernel's result is C-ordered.
    transposed = nb.einsum(a, equation="ij->ji")
    assert transposed.flags.c_contiguous
    np.testing.assert_array_equal(transposed, a.T)


def test_einsum_gradients_through_the_product_path_match_central_differences():
    from tests.tolerances import central_difference

    a0 = rng.standard_normal((2, 5, 3, 4))
    b0 = rng.standard_normal((2, 6, 3, 4))

    def f(a, b):
        return tf.reduce_sum(tf.sin(tf.einsum("aecd,abcd->acbe", a, b)))

    a, b = tf.constant(a0), tf.constant(b0)
    with tf.GradientTape() as tape:
        tape.watch([a, b])
        y = f(a, b)
    ga, gb = tape.gradient(y, [a, b])
    np.testing.assert_allclose(
        ga.numpy(), central_difference(lambda v: f(tf.constant(v), b).numpy(), a0),
        rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(
        gb.numpy(), central_difference(lambda v: f(a, tf.constant(v)).numpy(), b0),
        rtol=1e-6, atol=1e-8)


def _softmax_formula(x):
    """softmax's own steps, whole, in x's dtype."""
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.add.reduce(e, axis=-1, keepdims=True)


@pytest.mark.parametrize("row", [1, 3, 7, 10, 33, 64, 65, 100])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_by_blocks_of_rows_gives_the_bits_of_its_formula(row, dtype):
    x = (5 * rng.standard_normal((2 * (35000 // row + 1), row))).astype(dtype)
    flat = x.reshape(-1)
    flat[::97] = np.nan
    flat[5::101] = -np.inf
    flat[7::103] = np.inf
    assert x.size >= nb._PARALLEL_SOFTMAX_MIN
    with np.errstate(all="ignore"):
        expected = _softmax_formula(x)
    got = nb.softmax(x, -1)
    assert got.dtype == dtype and got.shape == x.shape
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(nb.softmax(x.reshape(2, -1, row)[:, :10], -1),
                                  _softmax_formula(x.reshape(2, -1, row)[:, :10]))


@pytest.mark.parametrize("n", list(range(1, 70)) + [128, 300])
def test_the_maximum_of_short_rows_by_halving_is_numpys(n):
    x = rng.standard_normal((40, n)).astype(np.float32)
    x[3, n // 2] = np.nan
    x[5, n - 1] = np.inf
    x[6, :] = -np.inf
    got = nb._max_last(x)
    assert got.shape == (40, 1)
    np.testing.assert_array_equal(got, np.max(x, axis=-1, keepdims=True))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axes", [(0,), (0, 1), (0, 1, 2)])
def test_means_and_sums_over_leading_axes_match_float64(axes, keepdims):
    # BatchNormalization's moments over a batch of images: a GEMV with a ones vector.
    x = rng.standard_normal((16, 8, 8, 32)).astype(np.float32) + 3
    assert x.size >= nb._SUM_ROWS_BY_DOT_MIN
    for kernel, reference in ((nb.reduce_mean, np.mean), (nb.reduce_sum, np.sum)):
        got = kernel(x, axes, keepdims)
        expected = reference(x.astype(np.float64), axis=axes, keepdims=keepdims)
        assert got.dtype == np.float32 and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-5)


def test_a_traced_step_runs_large_lone_ufuncs_and_means_with_numpys_values():
    x0 = rng.standard_normal((64, 16, 16, 32)).astype(np.float32)
    y0 = rng.standard_normal((1, 1, 1, 32)).astype(np.float32)

    @tf.function
    def step(x, y):
        centred = x - tf.reduce_mean(x, axis=[0, 1, 2], keepdims=True)
        return tf.square(centred), centred * y

    square, product = step(tf.constant(x0), tf.constant(y0))
    centred = x0.astype(np.float64) - x0.astype(np.float64).mean(axis=(0, 1, 2), keepdims=True)
    np.testing.assert_allclose(square.numpy(), centred ** 2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(product.numpy(), centred * y0, rtol=1e-5, atol=1e-5)
    assert x0.size > nb._FUSED_BLOCK_BYTES >> 3
    assert nb.specialize("square", {}, 1, result_size=x0.size) is not None
    assert nb.specialize("square", {}, 1, result_size=16) is None
    assert nb.specialize("matmul", {}, 2, result_size=x0.size) is None
