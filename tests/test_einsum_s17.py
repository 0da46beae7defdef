"""The NumPy backend's einsum kernel (numpy_backend.einsum, its _einsum_product plans): the
equations MultiHeadAttention and EinsumDense use, forward and as their VJPs write them, and
the other forms einsum takes (batch labels, '...', diagonals, traces, outer products, three
operands, float16/float64/complex, non-contiguous and zero-size operands), against np.einsum
in float64; gradients against central differences; and that MultiHeadAttention's products
are BLAS calls on views of their operands (no np.einsum fallback, no copy where the layout
allows one to be skipped)."""

import random

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.backends import numpy_backend

# MultiHeadAttention(4 heads, key_dim 16) on (batch 3, sequence 5/6, features 8), as Keras
# writes its equations: the projections, the scores, the context, the output projection.
MHA_FORWARD = [
    ("abc,cde->abde", (3, 5, 8), (8, 4, 16)),
    ("aecd,abcd->acbe", (3, 6, 4, 16), (3, 5, 4, 16)),
    ("acbe,aecd->abcd", (3, 4, 5, 6), (3, 6, 4, 16)),
    ("abcd,cde->abe", (3, 5, 4, 16), (4, 16, 8)),
]


def _float64_einsum(equation, *operands):
    wide = np.complex128 if any(np.iscomplexobj(x) for x in operands) else np.float64
    return np.einsum(equation, *[np.asarray(x, wide) for x in operands])


def _check(out, equation, operands, dtype):
    ref = _float64_einsum(equation, *operands)
    scale = max(1.0, float(np.max(_float64_einsum(equation, *[np.abs(x) for x in operands]),
                                  initial=0.0)))
    tol = {np.float16: 2e-3, np.float32: 2e-6, np.complex64: 2e-6}.get(dtype, 1e-13)
    assert out.dtype == dtype and out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * scale)


def _operands(rng, shapes, dtype):
    out = []
    for shape in shapes:
        x = rng.standard_normal(shape)
        if np.dtype(dtype).kind == "c":
            x = x + 1j * rng.standard_normal(shape)
        out.append(x.astype(dtype))
    return out


def _refuse(*args, **kwargs):
    """np.einsum's stand-in where a kernel must not fall back to it."""
    raise AssertionError(f"np.einsum called: {args[0]!r}")


@pytest.mark.parametrize("equation,a_shape,b_shape", MHA_FORWARD)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_attention_equations_and_their_gradients(equation, a_shape, b_shape, dtype):
    rng = np.random.default_rng(len(equation) + a_shape[-1])
    a, b = _operands(rng, [a_shape, b_shape], dtype)
    inputs, result = equation.split("->")
    a_term, b_term = inputs.split(",")
    expected = _float64_einsum(equation, a, b)
    g = rng.standard_normal(expected.shape).astype(dtype)
    ref_da = _float64_einsum(f"{result},{b_term}->{a_term}", g, b)
    ref_db = _float64_einsum(f"{result},{a_term}->{b_term}", g, a)
    ta, tb = tf.Variable(a), tf.Variable(b)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(numpy_backend.np, "einsum", _refuse)  # the BLAS path alone
        with tf.GradientTape() as tape:
            out = tf.einsum(equation, ta, tb)
        da, db = tape.gradient(out, [ta, tb], output_gradients=tf.constant(g))
    _check(out.numpy(), equation, [a, b], dtype)
    tol = 2e-6 if dtype == np.float32 else 1e-13
    for got, ref in [(da, ref_da), (db, ref_db)]:
        np.testing.assert_allclose(got.numpy(), ref, rtol=tol, atol=tol * np.abs(ref).max())


@pytest.mark.parametrize("equation,shapes", [
    ("acbe,aecd->abcd", [(2, 3, 4, 5), (2, 5, 3, 2)]),
    ("aecd,abcd->acbe", [(2, 5, 3, 2), (2, 4, 3, 2)]),
    ("abc,cde->abde", [(2, 3, 4), (4, 2, 3)]),
    ("...ij,jk->...ik", [(2, 3, 4), (4, 2)]),
])
def test_gradients_match_central_differences(equation, shapes):
    rng = np.random.default_rng(3)
    operands = _operands(rng, shapes, np.float64)
    weights = rng.standard_normal(np.einsum(equation, *operands).shape)

    def loss(*xs):
        return float(np.sum(weights * _float64_einsum(equation, *xs)))

    variables = [tf.Variable(x) for x in operands]
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(tf.constant(weights) * tf.einsum(equation, *variables))
    grads = tape.gradient(value, variables)
    eps = 1e-6
    for i, x in enumerate(operands):
        numeric = np.zeros_like(x)
        for index in np.ndindex(x.shape):
            up, down = [y.copy() for y in operands], [y.copy() for y in operands]
            up[i][index] += eps
            down[i][index] -= eps
            numeric[index] = (loss(*up) - loss(*down)) / (2 * eps)
        np.testing.assert_allclose(grads[i].numpy(), numeric, rtol=1e-7, atol=1e-8)


FORMS = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ij,kj->ik", [(3, 4), (5, 4)]),
    ("ji,jk->ik", [(4, 3), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bij,bkj->bki", [(2, 3, 4), (2, 5, 4)]),
    ("abc,acd->dba", [(2, 3, 4), (2, 4, 5)]),
    ("abcd,cde->abe", [(2, 3, 4, 5), (4, 5, 6)]),
    ("abde,abc->cde", [(2, 3, 4, 5), (2, 3, 6)]),
    ("abe,abcd->cde", [(2, 3, 6), (2, 3, 4, 5)]),
    ("abde,cde->abc", [(2, 3, 4, 5), (6, 4, 5)]),
    ("acbe,abcd->aecd", [(2, 3, 4, 5), (2, 4, 3, 6)]),
    ("abcd,acbe->aecd", [(2, 4, 3, 6), (2, 3, 4, 5)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 6)]),  # broadcast batch
    ("...i,...i->...", [(2, 3, 4), (3, 4)]),
    ("ii->", [(4, 4)]),
    ("ii->i", [(4, 4)]),
    ("iij,jk->ik", [(3, 3, 4), (4, 2)]),  # a diagonal
    ("ij,ij->", [(3, 4), (3, 4)]),
    ("ij,ij->ij", [(3, 4), (3, 4)]),
    ("i,j->ij", [(3,), (4,)]),  # outer products
    ("ab,cd->cabd", [(2, 3), (4, 5)]),
    ("ij,j->i", [(3, 4), (4,)]),
    ("i,ij->j", [(3,), (3, 4)]),
    ("ijk,k->ij", [(2, 3, 4), (4,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("ij->ji", [(3, 4)]),
    ("ab,bc", [(2, 3), (3, 4)]),  # implicit output
    ("abc,cd->abd", [(0, 3, 4), (4, 2)]),  # zero-size dimensions
    ("ab,bc->ac", [(2, 0), (0, 3)]),
    ("abc,acd->abd", [(2, 3, 0), (2, 0, 4)]),
    ("acbe,aecd->abcd", [(2, 0, 3, 4), (2, 4, 0, 5)]),
]


@pytest.mark.parametrize("equation,shapes", FORMS)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.complex64])
def test_forms_against_float64(equation, shapes, dtype):
    rng = np.random.default_rng(len(shapes) + len(equation))
    operands = _operands(rng, shapes, dtype)
    out = tf.einsum(equation, *operands).numpy()
    _check(out, equation, operands, dtype)


def _random_product(rand):
    """A random two-operand product equation (labels in random orders, sizes 1-5) and its
    operands' shapes."""
    labels = list("abcdefgh")
    rand.shuffle(labels)
    counts = [rand.randint(0, 2) for _ in range(4)]
    groups, start = [], 0
    for count in counts:
        groups.append(labels[start:start + count])
        start += count
    batch, free_a, free_b, summed = groups
    a, b, result = batch + free_a + summed, batch + summed + free_b, batch + free_a + free_b
    for term in (a, b, result):
        rand.shuffle(term)
    sizes = {c: rand.choice([1, 2, 3, 5]) for c in labels}
    return ("".join(a) + "," + "".join(b) + "->" + "".join(result),
            [tuple(sizes[c] for c in a), tuple(sizes[c] for c in b)])


@pytest.mark.parametrize("seed", range(4))
def test_random_products_and_layouts(seed):
    rand = random.Random(seed)
    rng = np.random.default_rng(seed)
    for _ in range(150):
        equation, shapes = _random_product(rand)
        dtype = rand.choice([np.float32, np.float64])
        a, b = _operands(rng, shapes, dtype)
        _check(numpy_backend.einsum(a, b, equation=equation), equation, [a, b], dtype)
        # The same operands in other layouts: Fortran order, and every other element.
        wide = [np.repeat(x, 2, axis=-1)[..., ::2] if x.ndim else x for x in (a, b)]
        fortran = [np.asfortranarray(x) if x.ndim else x for x in (a, b)]
        for x, y in [(fortran[0], b), (a, fortran[1]), tuple(wide)]:
            _check(numpy_backend.einsum(x, y, equation=equation), equation, [a, b], dtype)


def _matmul_calls(monkeypatch):
    calls = []
    matmul = np.matmul

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return matmul(*args, **kwargs)
    monkeypatch.setattr(numpy_backend.np, "matmul", spy)
    return calls


def test_attention_context_reads_and_writes_in_place(monkeypatch):
    """"acbe,aecd->abcd" (the context, and the queries' gradient of the scores): one
    np.matmul over the heads' views of the values and of the result, no copy."""
    rng = np.random.default_rng(5)
    scores, values = _operands(rng, [(4, 2, 6, 7), (4, 7, 2, 3)], np.float32)
    calls = _matmul_calls(monkeypatch)
    out = numpy_backend.einsum(scores, values, equation="acbe,aecd->abcd")
    [(args, kwargs)] = calls
    assert np.shares_memory(args[0], scores) and np.shares_memory(args[1], values)
    assert np.shares_memory(kwargs["out"], out) and out.flags.c_contiguous
    _check(out, "acbe,aecd->abcd", [scores, values], np.float32)


def test_attention_value_gradient_reads_and_writes_in_place(monkeypatch):
    rng = np.random.default_rng(6)
    scores, g = _operands(rng, [(4, 2, 6, 7), (4, 6, 2, 3)], np.float32)
    calls = _matmul_calls(monkeypatch)
    out = numpy_backend.einsum(scores, g, equation="acbe,abcd->aecd")
    [(args, kwargs)] = calls
    assert np.shares_memory(args[0], scores) and np.shares_memory(args[1], g)
    assert np.shares_memory(kwargs["out"], out)
    _check(out, "acbe,abcd->aecd", [scores, g], np.float32)


def test_attention_scores_copy_only_the_keys(monkeypatch):
    """"aecd,abcd->acbe": the queries are read in place; the keys, which BLAS would take
    transposed (slower for these small products, and other bits), are copied."""
    rng = np.random.default_rng(7)
    keys, queries = _operands(rng, [(4, 7, 2, 3), (4, 6, 2, 3)], np.float32)
    calls = _matmul_calls(monkeypatch)
    out = numpy_backend.einsum(keys, queries, equation="aecd,abcd->acbe")
    [(args, kwargs)] = calls
    assert np.shares_memory(args[0], queries) and not np.shares_memory(args[1], keys)
    _check(out, "aecd,abcd->acbe", [keys, queries], np.float32)


def test_views_change_no_bits():
    """The views make the BLAS calls the copies made (sizes and transposition flags alike):
    the same bits as the products of C-ordered copies."""
    rng = np.random.default_rng(8)
    for equation, shapes in [("acbe,aecd->abcd", [(8, 4, 64, 64), (8, 64, 4, 16)]),
                             ("acbe,abcd->aecd", [(8, 4, 64, 64), (8, 64, 4, 16)])]:
        a, b = _operands(rng, shapes, np.float32)
        inputs, result = equation.split("->")
        a_term, b_term = inputs.split(",")
        batch = [c for c in result if c in a_term and c in b_term]
        free_a = [c for c in result if c in a_term and c not in b_term]
        free_b = [c for c in result if c in b_term and c not in a_term]
        summed = [c for c in a_term if c in b_term and c not in result]
        left = a.transpose([a_term.index(c) for c in batch + free_a + summed])
        right = b.transpose([b_term.index(c) for c in batch + summed + free_b])
        made = np.matmul(np.ascontiguousarray(left), np.ascontiguousarray(right))
        expected = made.transpose([(batch + free_a + free_b).index(c) for c in result])
        np.testing.assert_array_equal(numpy_backend.einsum(a, b, equation=equation), expected)


def test_multi_head_attention_fit_runs_no_numpy_einsum(monkeypatch):
    """MultiHeadAttention's and EinsumDense's forward and gradient equations in a compiled
    training step all take the BLAS path."""
    keras.utils.set_random_seed(0)
    tokens = keras.Input(shape=(6, 8))
    h = keras.layers.MultiHeadAttention(4, 16)(tokens, tokens)
    h = keras.layers.EinsumDense("abc,cd->abd", output_shape=(None, 5), bias_axes="d")(h)
    model = keras.Model(tokens, h)
    model.compile(loss="mse", optimizer="adam")
    rng = np.random.default_rng(9)
    x = rng.standard_normal((12, 6, 8)).astype(np.float32)
    y = rng.standard_normal((12, 6, 5)).astype(np.float32)
    monkeypatch.setattr(numpy_backend.np, "einsum", _refuse)
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
