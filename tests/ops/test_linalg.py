"""Behaviour of tensorflux.ops.linalg beyond the op table: errors, edge cases, gradients."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.ops import linalg

InvalidArgument = tf.errors.InvalidArgumentError


def grad_of(fn, *xs):
    xs = [tf.constant(np.asarray(x, np.float64)) for x in xs]
    with tf.GradientTape() as tape:
        for x in xs:
            tape.watch(x)
        y = fn(*xs)
    return [g.numpy() for g in tape.gradient(y, xs)]


# ------------------------------------------------------------------ errors

@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True)])
def test_matmul_inner_mismatch_names_both_shapes(ta, tb):
    a = tf.zeros([2, 3])
    b = tf.zeros([4, 5])
    with pytest.raises(InvalidArgument) as info:
        linalg.matmul(a, b, transpose_a=ta, transpose_b=tb)
    message = str(info.value)
    assert "matmul" in message and "(2, 3)" in message and "(4, 5)" in message


def test_matmul_batch_mismatch_and_rank_errors():
    with pytest.raises(InvalidArgument, match="matmul: incompatible shapes"):
        linalg.matmul(tf.zeros([2, 3, 4]), tf.zeros([3, 4, 5]))
    with pytest.raises(InvalidArgument, match=r"matmul: .*rank >= 2.*\(3,\)"):
        linalg.matmul(tf.zeros([3]), tf.zeros([3, 2]))


@pytest.mark.parametrize("op", ["det", "inv"])
def test_det_and_inv_need_square_matrices(op):
    with pytest.raises(InvalidArgument) as info:
        getattr(linalg, op)(tf.zeros([2, 2, 3]))
    assert op in str(info.value) and "(2, 2, 3)" in str(info.value)
    with pytest.raises(InvalidArgument, match=f"{op}: expected a tensor of rank >= 2"):
        getattr(linalg, op)(tf.zeros([3]))
    with pytest.raises(InvalidArgument, match=f"{op}: unsupported dtype int32"):
        getattr(linalg, op)(tf.zeros([2, 2], tf.int32))


def test_inverse_of_a_singular_matrix_is_an_error():
    with pytest.raises(InvalidArgument, match="matrix_inverse"):
        linalg.inv(tf.constant([[1.0, 2.0], [2.0, 4.0]]))


def test_transpose_perm_is_validated():
    with pytest.raises(InvalidArgument) as info:
        linalg.transpose(tf.zeros([2, 3]), [0, 2])
    assert "transpose" in str(info.value) and "rank 2" in str(info.value)
    with pytest.raises(InvalidArgument, match="matrix_transpose: expected a tensor of rank >= 2"):
        linalg.matrix_transpose(tf.zeros([3]))


def test_tensordot_errors_name_the_shapes():
    with pytest.raises(InvalidArgument, match=r"tensordot: contracted dimensions differ.*"
                                              r"\(2, 3\).*\(2, 3\)"):
        linalg.tensordot(tf.zeros([2, 3]), tf.zeros([2, 3]), axes=1)
    with pytest.raises(InvalidArgument, match="tensordot: axes=3 must be in"):
        linalg.tensordot(tf.zeros([2, 3]), tf.zeros([3, 2]), axes=3)
    with pytest.raises(InvalidArgument, match="tensordot: axis 4 is out of range"):
        linalg.tensordot(tf.zeros([2, 3]), tf.zeros([3, 2]), axes=[[4], [0]])


@pytest.mark.parametrize("equation,shapes,text", [
    ("ij,jk->ik", [(2, 3), (4, 5)], "subscript 'j' has sizes 3 and 4"),
    ("ij,jk->ik", [(2, 3)], "names 2 operands, received 1"),
    ("ijk->i", [(2, 3)], "operand 0 has subscripts 'ijk' but shape (2, 3)"),
    ("ij->iz", [(2, 3)], "bad output subscripts"),
    ("i1->i", [(2, 3)], "bad subscripts"),
])
def test_einsum_errors(equation, shapes, text):
    with pytest.raises(InvalidArgument) as info:
        linalg.einsum(equation, *[tf.zeros(s) for s in shapes])
    assert text in str(info.value) and str(info.value).startswith("einsum")


def test_norm_argument_errors():
    x = tf.zeros([2, 3])
    with pytest.raises(InvalidArgument, match="norm: ord must be 'euclidean', 1, 2, inf"):
        linalg.norm(x, ord="fro", axis=1)
    with pytest.raises(InvalidArgument, match="norm: ord must be"):
        linalg.norm(x, ord=-1)
    with pytest.raises(InvalidArgument, match="norm: ord must be 'euclidean', 'fro', 1, 2 or"):
        linalg.norm(x, ord=3, axis=[0, 1])
    with pytest.raises(InvalidArgument, match="norm: axis 2 is out of range .* rank 2"):
        linalg.norm(x, axis=2)
    with pytest.raises(InvalidArgument, match="norm: a matrix norm needs two distinct axes"):
        linalg.norm(x, axis=[1, -1])
    with pytest.raises(InvalidArgument, match="norm: expected a floating-point"):
        linalg.norm(tf.constant([1, 2]))


def test_diag_errors():
    with pytest.raises(InvalidArgument, match=r"diag_part: k=3 is out of range .*\(2, 3\)"):
        linalg.diag_part(tf.zeros([2, 3]), k=3)
    with pytest.raises(InvalidArgument, match="diag: a diagonal of length 3"):
        linalg.diag(tf.zeros([3]), num_rows=2, num_cols=2)
    # a band (k a pair) takes a [..., 2, N] input (TF 2.21 raises InvalidArgumentError too)
    with pytest.raises(InvalidArgument, match="band"):
        linalg.diag(tf.zeros([3]), k=(0, 1))


# ------------------------------------------------------------------ semantics

def test_matmul_vjp_with_batch_broadcasting_sums_to_each_shape():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((2, 4, 5))
    ga, gb = grad_of(lambda x, y: tf.reduce_sum(linalg.matmul(x, y)), a, b)
    ones = np.ones((2, 3, 5))
    np.testing.assert_allclose(ga, np.sum(ones @ np.swapaxes(b, -1, -2), 0))
    np.testing.assert_allclose(gb, np.swapaxes(a, -1, -2) @ ones)


def test_transpose_default_conjugate_and_operator():
    x = tf.constant([[1 + 2j, 3j]])
    assert linalg.transpose(x, conjugate=True).numpy().tolist() == [[1 - 2j], [-3j]]
    assert linalg.transpose(tf.zeros([2, 3, 4])).shape == (4, 3, 2)
    assert linalg.transpose(tf.zeros([2, 3]), tf.constant([1, 0])).shape == (3, 2)


def test_einsum_forms_agree_with_numpy():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5))
    for eq, ops in [("bij,jk", (a, b)), ("...j,jk->...k", (a, b)), ("ijk->", (a,)),
                    ("ijk->kji", (a,)), ("i j k , k l -> i l j", (a, b)), ("...", (a,))]:
        got = linalg.einsum(eq, *[tf.constant(o) for o in ops]).numpy()
        np.testing.assert_allclose(got, np.einsum(eq.replace(" ", ""), *ops), rtol=1e-12)


def test_einsum_gradient_through_a_diagonal_and_a_lone_label():
    # 'iij->' sums a diagonal over j: the gradient is 1 on each diagonal, 0 elsewhere.
    (g,) = grad_of(lambda x: linalg.einsum("iij->", x), np.ones((3, 3, 2)))
    np.testing.assert_array_equal(g, np.broadcast_to(np.eye(3)[..., None], (3, 3, 2)))


def test_norm_matches_tensorflow_conventions():
    x = tf.constant([[3.0, 4.0], [-6.0, 8.0]])
    assert float(linalg.norm(x)) == pytest.approx(np.sqrt(125.0))
    assert linalg.norm(x, axis=1).numpy().tolist() == [5.0, 10.0]
    assert linalg.norm(x, keepdims=True).shape == (1, 1)
    assert float(linalg.norm(x, ord=1, axis=[0, 1])) == 12.0
    assert float(linalg.norm(x, ord=np.inf, axis=(0, 1))) == 14.0
    complex_norm = linalg.norm(tf.constant([3 + 4j, 0j]))
    assert complex_norm.dtype is tf.float64 and float(complex_norm) == pytest.approx(5.0)


def test_norm_gradient_at_zero_is_zero_not_nan():
    (g,) = grad_of(lambda x: linalg.norm(x, axis=1), [[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(g, [[0.0, 0.0], [0.6, 0.8]])


def test_det_and_inv_gradients():
    m = np.array([[2.0, 1.0], [0.5, 3.0]])
    (g,) = grad_of(linalg.det, m)
    np.testing.assert_allclose(g, np.linalg.det(m) * np.linalg.inv(m).T)
    (g,) = grad_of(lambda x: tf.reduce_sum(linalg.inv(x)), m)
    inv = np.linalg.inv(m)
    np.testing.assert_allclose(g, -inv.T @ np.ones((2, 2)) @ inv.T)
    assert float(linalg.det(tf.zeros([0, 0]))) == 1.0


def test_trace_and_diagonals():
    x = tf.constant(np.arange(6.0).reshape(2, 3))
    assert float(linalg.trace(x)) == 4.0
    assert linalg.diag_part(x, k=1).numpy().tolist() == [1.0, 5.0]
    assert linalg.diag([1.0, 2.0], padding_value=9.0).numpy().tolist() == [[1.0, 9.0],
                                                                          [9.0, 2.0]]
    assert linalg.diag(tf.zeros([2, 3]), k=-1).shape == (2, 4, 4)
