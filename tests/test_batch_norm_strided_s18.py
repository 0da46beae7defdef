"""Training-mode BatchNormalization's gradient kernels (numpy_norm_native.grad_sums and
combine) reading the output cotangent where it lies in a larger array (session 18): a max
pool's gradient comes as a view of its padded buffer, which the kernels read in place
through a table of its rows' offsets (row_table) rather than after a contiguous copy. Only
where each row is read from differs: the same bits as the copy's, and a float64 oracle's
values."""

import numpy as np
import pytest

from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_norm_native as nn

needs_native = pytest.mark.skipif(not nn.supports(np.zeros((1, 16), np.float32)),
                                  reason="no llvmlite, or no AVX2 with FMA")


def _same_bits(got, want, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape)
    bits = {4: np.uint32, 8: np.uint64}[got.itemsize]
    differ = np.argwhere(got.view(bits) != want.view(bits))
    assert not differ.size, f"{what}: {len(differ)} differ, first at {tuple(differ[0])}"


def _padded_view(rng, shape, pad=(1, 1), special=False):
    """A (n, h, w, c) float32 view of a (n, h + 1, w + 1, c) buffer, as max_pool2d_grad
    returns: the buffer's padding holds values that must not be read."""
    n, h, w, c = shape
    buffer = rng.standard_normal((n, h + pad[0], w + pad[1], c)).astype(np.float32)
    buffer[:, h:] = np.nan
    buffer[:, :, w:] = np.inf
    view = buffer[:, :h, :w]
    if special:
        view[0, 0, 0, :3] = [0.0, -0.0, np.inf]
    assert not view.flags.c_contiguous
    return view


def test_row_table_lists_each_rows_element_offset():
    buffer = np.zeros((3, 5, 6, 16), np.float32)
    view = buffer[:, 1:4, 2:5]
    x = np.zeros((3 * 3 * 3, 16), np.float32)
    table = nn.row_table(view, x)
    base = view.__array_interface__["data"][0]
    want = [(view[i, j, k].__array_interface__["data"][0] - base) // 4
            for i in range(3) for j in range(3) for k in range(3)]
    assert table.dtype == np.int64 and table.tolist() == want


def test_row_table_refuses_what_it_cannot_read():
    x = np.zeros((8, 16), np.float32)
    buffer = np.zeros((2, 4, 32), np.float32)
    assert nn.row_table(buffer[:, :, ::2], x) is None  # (channels not one after another)
    assert nn.row_table(buffer[:, :, :16].astype(np.float64), x) is None
    assert nn.row_table(np.zeros((2, 4, 8), np.float32), x) is None  # (other channels)
    assert nn.row_table(np.zeros((3, 4, 16), np.float32), x) is None  # (other size)


SHAPES = [(32, 8, 8, 256), (4, 16, 16, 128), (3, 5, 7, 64), (2, 3, 3, 16), (5, 1, 1, 48)]


@needs_native
@pytest.mark.parametrize("shape", SHAPES)
def test_gradient_from_a_padded_view_has_the_copys_bits(shape):
    rng = np.random.default_rng(sum(shape))
    c = shape[-1]
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    dy = _padded_view(rng, shape)
    gamma = rng.standard_normal(c).astype(np.float32)
    _, mean, variance = nb.batch_norm_training(x, gamma, np.zeros(c, np.float32), 1e-3)
    dmean, dvariance = (rng.standard_normal(c).astype(np.float32) for _ in range(2))
    args = (gamma, mean, variance)
    got = nb.batch_norm_training_grad(x, *args, dy, dmean, dvariance, 1e-3)
    want = nb.batch_norm_training_grad(x, *args, np.ascontiguousarray(dy), dmean, dvariance,
                                       1e-3)
    for g, w, what in zip(got, want, ("dx", "dgamma", "dbeta")):
        _same_bits(g, w, what)
    # the float64 oracle: dx = k dy + a (x - mean) + b (numpy_backend's formula)
    x64, dy64 = x.astype(np.float64).reshape(-1, c), dy.astype(np.float64).reshape(-1, c)
    n = x64.shape[0]
    m64, v64 = mean.astype(np.float64), variance.astype(np.float64)
    inv = 1 / np.sqrt(v64 + np.float32(1e-3))
    centred = x64 - m64
    s0, s1 = dy64.sum(0), (dy64 * centred).sum(0)
    k = gamma * inv
    dx64 = (k * dy64 + (2 * dvariance - k * inv * inv * s1) / n * centred
            + (dmean - k * s0) / n)
    # (float32 steps on O(1) terms, the sums float64 before their rounding: a few ulps of
    # the largest term)
    scale = np.abs(k * dy64).max() + np.abs(centred).max() * np.abs(inv).max() ** 2 + 1
    np.testing.assert_allclose(got[0].reshape(-1, c), dx64, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(got[1], inv * s1, rtol=1e-5, atol=1e-5 * np.abs(dy64).sum(0)
                               .max() * inv.max())
    np.testing.assert_allclose(got[2], s0, rtol=0, atol=1e-6 * np.abs(dy64).sum(0).max())


@needs_native
@pytest.mark.parametrize("shape", SHAPES[1:])
def test_kernels_on_a_view_give_the_contiguous_copys_bits(shape):
    """grad_sums and combine on a padded view (through its row table) against the same
    kernels on its contiguous copy; zeros, -0.0 and inf in dy."""
    rng = np.random.default_rng(4 + sum(shape))
    c = shape[-1]
    rows = rng.standard_normal((int(np.prod(shape[:-1])), c)).astype(np.float32)
    dy = _padded_view(rng, shape, special=True)
    copy = np.ascontiguousarray(dy).reshape(rows.shape)
    mean = rng.standard_normal(c).astype(np.float32)
    a, kd, b = (rng.standard_normal(c).astype(np.float32) for _ in range(3))
    sums = []
    for cotangent in (dy, copy):
        part = np.empty((2, c))
        nn.grad_sums(rows, cotangent, mean)(1, rows.shape[0], part)
        dx = np.full_like(rows, 7.0)
        nn.combine(rows, cotangent, dx, mean, a, kd, b)(1, rows.shape[0])
        sums.append((part, dx))
    _same_bits(sums[0][0], sums[1][0], "sums")
    _same_bits(sums[0][1], sums[1][1], "dx")
    assert (sums[0][1][0] == 7.0).all()  # (row 0 is not the pieces')


def _backend_reads_views():
    import inspect
    return "row_table" in inspect.getsource(nb.batch_norm_training_grad)


@needs_native
@pytest.mark.skipif(not _backend_reads_views(),
                    reason="numpy_backend.batch_norm_training_grad copies dy to rows first")
def test_backend_reads_a_padded_view_in_place(monkeypatch):
    """batch_norm_training_grad hands a padded view to the table kernels (no contiguous
    copy of dy); the same bits as the copy's."""
    rng = np.random.default_rng(4)
    shape = (4, 6, 6, 32)
    x = rng.standard_normal(shape).astype(np.float32)
    dy = _padded_view(rng, shape, special=True)
    c = shape[-1]
    gamma, zeros = np.ones(c, np.float32), np.zeros(c, np.float32)
    _, mean, variance = nb.batch_norm_training(x, gamma, zeros, 1e-3)
    tables = []
    real = nn.row_table
    monkeypatch.setattr(nn, "row_table", lambda *a: tables.append(1) or real(*a))
    got = nb.batch_norm_training_grad(x, gamma, mean, variance, dy, zeros, zeros, 1e-3)
    assert len(tables) == 2  # (grad_sums and combine)
    monkeypatch.setattr(nn, "row_table", real)
    want = nb.batch_norm_training_grad(x, gamma, mean, variance, np.ascontiguousarray(dy),
                                       zeros, zeros, 1e-3)
    for g, w, what in zip(got, want, ("dx", "dgamma", "dbeta")):
        _same_bits(g, w, what)
