"""The NumPy backend's kernel threads (numpy_backend._in_parallel): kernels that split their
work give the same numbers on one thread and on several, and failures reach the caller."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.backends import numpy_backend as nb


@pytest.fixture
def threads(monkeypatch):
    """Sets the thread count, with split thresholds and slice sizes small enough for
    test-sized arrays; `threads.splits` counts the splits into more than one piece."""
    monkeypatch.setattr(nb, "_NN_SLICE_BYTES", 4096)
    monkeypatch.setattr(nb, "_NN_COLS_BYTES", 1 << 15)
    monkeypatch.setattr(nb, "_FUSED_BLOCK_BYTES", 1 << 14)
    monkeypatch.setattr(nb, "_NN_EPILOGUE_MIN_BYTES", 0)
    monkeypatch.setattr(nb, "_NN_EPILOGUE_PIECE_MIN_BYTES", 0)
    monkeypatch.setattr(nb, "_PARALLEL_SOFTMAX_MIN", 1 << 10)
    in_parallel = nb._in_parallel

    def counted(run, pieces, nbytes):
        use.splits += len(pieces) > 1
        return in_parallel(run, pieces, nbytes)
    monkeypatch.setattr(nb, "_in_parallel", counted)

    def use(count, min_bytes=1):
        monkeypatch.setattr(nb, "_THREADS", count)
        monkeypatch.setattr(nb, "_PARALLEL_MIN_BYTES", min_bytes)
    use.splits = 0
    return use


def _both(threads, fn):
    threads(1, min_bytes=1 << 62)
    serial = fn()
    threads(2)
    threads.splits = 0
    split = fn()
    assert threads.splits, "the kernel did not split its work"
    return serial, split


CONV = dict(strides=(1, 1), padding="VALID", dilations=(1, 1), data_format="NHWC")
POOL = dict(ksize=(2, 2), strides=(2, 2), padding="VALID", data_format="NHWC")
rng = np.random.default_rng(0)
X1 = rng.standard_normal((40, 12, 12, 1), dtype=np.float32)
X4 = rng.standard_normal((40, 12, 12, 4), dtype=np.float32)
W4 = rng.standard_normal((3, 3, 4, 6), dtype=np.float32)
G = rng.standard_normal((40, 10, 10, 6), dtype=np.float32)
X5 = rng.standard_normal((40, 11, 11, 4), dtype=np.float32)
G12 = rng.standard_normal((40, 12, 12, 6), dtype=np.float32)
A = rng.standard_normal((300, 70), dtype=np.float32)
B = rng.standard_normal((70, 90), dtype=np.float32)
C = rng.standard_normal((100, 70), dtype=np.float32)

KERNELS = {
    "conv2d one channel": lambda: nb.conv2d(X1, W4[:, :, :1], **CONV),
    "conv2d": lambda: nb.conv2d(X4, W4, **CONV),
    "conv2d with a bias and relu by pieces": lambda: nb.fused_conv2d(
        X4, W4, W4[0, 0, 0], program=(("add", (0, 1), (), tf.float32),
                                      ("relu", (2,), (), tf.float32)), register=0, **CONV),
    "conv2d_backprop_filter": lambda: nb.conv2d_backprop_filter(X4, G, W4.shape, **CONV),
    "conv2d_backprop_input": lambda: nb.conv2d_backprop_input(W4, G, X4.shape, **CONV),
    "conv2d_backprop_input dilated, SAME": lambda: nb.conv2d_backprop_input(
        W4, G12, X4.shape, strides=(1, 1), padding="SAME", dilations=(2, 2),
        data_format="NHWC"),
    "max_pool2d": lambda: nb.max_pool2d(X4, **POOL),
    "max_pool2d_grad 2x2": lambda: nb.max_pool2d_grad(X4, X4[:, ::2, ::2], **POOL),
    "max_pool2d_grad general, its forward split": lambda: nb.max_pool2d_grad(
        X5, X5[:, :5, :5], ksize=(3, 3), strides=(2, 2), padding="VALID", data_format="NHWC"),
    "avg_pool2d_grad": lambda: nb.avg_pool2d_grad(X4[:, ::2, ::2], X4.shape, **POOL),
    "softmax by blocks of rows": lambda: nb.softmax(np.tile(X4, (8, 1, 1, 1)), -1),
    "a lone ufunc by rows": lambda: nb._by_rows_or_whole(np.multiply)(
        np.tile(X4, (8, 1, 1, 1)), X4[0, 0]),
    "fused by rows": lambda: nb.fused_elementwise(
        np.tile(X4, (8, 1, 1, 1)), X4[0, 0, 0],
        program=(("add", (0, 1), (), tf.float32), ("relu", (2,), (), tf.float32))),
}


def _into(matmul_into, a, b):
    out = np.full((a.shape[0], 2 * b.shape[0]), np.nan, np.float32)
    matmul_into(a, b, out[:, ::2])  # a strided target, as a piece of a concat
    assert np.isnan(out[:, 1::2]).all()
    return out[:, ::2]


GEMMS = {
    "matmul split by rows": (lambda: nb.matmul(A, B, False, False), lambda: A @ B),
    "matmul split by columns": (lambda: nb.matmul(B, A, True, True), lambda: B.T @ A.T),
    "matmul of a transposed operand": (lambda: nb.matmul(A, A[:, :50].copy(), True, False),
                                       lambda: A.T @ A[:, :50]),
    "traced matmul into a buffer": (
        lambda: _into(nb.writer("matmul", {"transpose_a": False, "transpose_b": True}, 2,
                                1 << 20), A, C),
        lambda: A @ C.T),
    "conv2d with its GEMM split": (lambda: nb.conv2d(X4, W4, **CONV), None),
}


@pytest.mark.parametrize("name", sorted(GEMMS))
def test_split_gemms_give_the_product_and_the_same_bits_every_time(threads, monkeypatch,
                                                                  name):
    # BLAS may round the edge rows of a piece differently from the whole product (its
    # register blocks fall elsewhere), so a split GEMM is checked against float64 and against
    # itself, not bit for bit against one thread.
    monkeypatch.setattr(nb, "_GEMM_SPLIT_MIN", 1 << 12)
    kernel, reference = GEMMS[name]
    serial, split = _both(threads, kernel)
    expected = serial.astype(np.float64) if reference is None else reference().astype(
        np.float64)
    assert split.dtype == serial.dtype and split.shape == expected.shape
    np.testing.assert_allclose(split, expected, rtol=1e-5, atol=1e-4 * np.abs(expected).max())
    np.testing.assert_array_equal(kernel(), split)


def test_a_matmul_of_an_array_with_its_own_transpose_is_not_split(threads, monkeypatch):
    # NumPy runs a.T @ a as one syrk; split into GEMMs it would round differently.
    monkeypatch.setattr(nb, "_GEMM_SPLIT_MIN", 1 << 12)
    threads(2)
    threads.splits = 0
    np.testing.assert_array_equal(nb._gemm(A.T, A), A.T.dot(A))
    assert threads.splits == 0


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_split_kernels_give_the_same_bits_on_two_threads(threads, name):
    serial, split = _both(threads, KERNELS[name])
    assert split.dtype == serial.dtype and split.shape == serial.shape
    np.testing.assert_array_equal(split, serial)


def test_convolutions_of_large_images_by_output_rows_match_whole_images(threads, monkeypatch):
    # Images with more im2col columns than a piece holds are cut into pieces of output rows
    # (the filter gradient sums the pieces' products); the input gradient keeps whole images.
    x = rng.standard_normal((2, 30, 30, 4)).astype(np.float32)
    g = rng.standard_normal((2, 28, 28, 6)).astype(np.float32)
    kernels = [lambda: nb.conv2d(x, W4, **CONV),
               lambda: nb.conv2d_backprop_filter(x, g, W4.shape, **CONV),
               lambda: nb.conv2d_backprop_input(W4, g, x.shape, **CONV)]
    threads(1, min_bytes=1 << 62)
    monkeypatch.setattr(nb, "_NN_COLS_BYTES", 1 << 62)
    whole = [kernel() for kernel in kernels]
    threads(2)
    monkeypatch.setattr(nb, "_NN_COLS_BYTES", 1 << 12)
    assert len(nb._nn_pieces((2, 28, 28, 3, 3, 4), 6, 4)[0]) > 2
    threads.splits = 0
    for kernel, expected in zip(kernels, whole):
        split = kernel()
        assert split.dtype == expected.dtype and split.shape == expected.shape
        np.testing.assert_allclose(split, expected, rtol=1e-5,
                                   atol=1e-5 * np.abs(expected).max())
        np.testing.assert_array_equal(kernel(), split)
    assert threads.splits >= 3


def test_max_pool_gradient_keeps_the_nan_and_inf_rules_on_two_threads(threads):
    x = X4.copy()
    x[3, 0, 0, 0] = np.nan
    g = X4[:, ::2, ::2].copy()
    g[30, 1, 1, 1] = np.inf
    serial, split = _both(threads, lambda: nb.max_pool2d_grad(x, g, **POOL))
    np.testing.assert_array_equal(split, serial)


def test_chunked_update_of_a_long_buffer_is_the_same_on_two_threads(threads, monkeypatch):
    monkeypatch.setattr(nb, "_FUSED_CHUNKS_PER_PIECE", 1)
    program = (("multiply", (0, 1), (), tf.float32), ("sqrt", (2,), (), tf.float32),
               ("add", (4, 3), (), tf.float32))
    n = 5 * nb._FUSED_CHUNK + 17
    m, v = rng.standard_normal(n).astype(np.float32), np.abs(rng.standard_normal(n))
    v = v.astype(np.float32)

    def update():
        out = np.empty(n, np.float32)
        assert nb.fused_elementwise(np.float32(0.9), m, v, program=program, out=out) is out
        return out
    serial, split = _both(threads, update)
    np.testing.assert_array_equal(split, serial)


def test_a_group_of_flat_updates_is_the_same_on_two_threads(threads, monkeypatch):
    monkeypatch.setattr(nb, "_FUSED_CHUNKS_PER_PIECE", 1)
    n = nb._FUSED_CHUNKED_MIN_SIZE + nb._FUSED_CHUNK // 3
    add = (("add", (0, 1), (), tf.float32),)  # target += x
    scale = (("multiply", (0, 1), (), tf.float32), ("add", (3, 2), (), tf.float32))
    parts = [(add, 2, True), (scale, 3, True)]  # the second reads what the first wrote
    group = nb.fused_update_group(parts, [None, None], n)
    x = rng.standard_normal(n).astype(np.float32)

    def update():
        u, v = np.ones(n, np.float32), np.full(n, 2, np.float32)
        group(x, u, np.float32(0.5), u, v)
        return np.stack([u, v])
    serial, split = _both(threads, update)
    np.testing.assert_array_equal(split, serial)
    np.testing.assert_array_equal(split[0], 1 + x)


def test_a_product_and_the_update_reading_it_overlap_with_the_numbers_of_both(threads,
                                                                             monkeypatch):
    monkeypatch.setattr(nb, "_GEMM_SPLIT_MIN", 1 << 12)
    monkeypatch.setattr(nb, "_FUSED_CHUNK", 512)
    monkeypatch.setattr(nb, "_FUSED_CHUNKED_MIN_SIZE", 2048)
    monkeypatch.setattr(nb, "_FUSED_CHUNKS_PER_PIECE", 1)
    a = rng.standard_normal((64, 300), dtype=np.float32)
    b = rng.standard_normal((64, 90), dtype=np.float32)
    offset, size = 1000, 300 * 90  # the product among the other gradients of the buffer
    n = offset + size + 777
    add = (("add", (0, 1), (), tf.float32),)  # u += buffer
    scale = (("multiply", (0, 1), (), tf.float32), ("add", (3, 2), (), tf.float32))  # v += u/2
    group = nb.fused_update_group([(add, 2, True), (scale, 3, True)], [None, None], n)
    write = nb.writer("matmul", {"transpose_a": True, "transpose_b": False}, 2, size)
    combined = nb.update_after_product(write, offset, size, (300, 90), group)
    gradients = rng.standard_normal(n).astype(np.float32)

    def run():
        buffer, u, v = gradients.copy(), np.ones(n, np.float32), np.full(n, 2, np.float32)
        assert combined(a, b, buffer, buffer, u, np.float32(0.5), u, v) == ()
        return buffer, u, v

    def check(buffer, u, v):
        np.testing.assert_array_equal(np.delete(buffer, np.s_[offset:offset + size]),
                                      np.delete(gradients, np.s_[offset:offset + size]))
        expected = a.T.astype(np.float64) @ b
        np.testing.assert_allclose(buffer[offset:offset + size].reshape(300, 90), expected,
                                   rtol=1e-5, atol=1e-4 * np.abs(expected).max())
        # The updates are exactly the group's over the buffer as written.
        np.testing.assert_array_equal(u, 1 + buffer)
        np.testing.assert_array_equal(v, 2 + u * np.float32(0.5))
    threads(2)
    threads.splits = 0
    check(*run())
    assert threads.splits == 1
    check(*run())  # again, with the pieces the first call built
    assert threads.splits == 2
    threads(1, min_bytes=1 << 62)
    buffer, u, v = run()
    check(buffer, u, v)
    np.testing.assert_array_equal(buffer[offset:offset + size].reshape(300, 90), a.T @ b)


@pytest.mark.parametrize("count", [2, 4])
def test_the_products_first_block_takes_the_share_of_the_other_updates(monkeypatch, count):
    # This thread computes the first block while the workers update the other variables:
    # it is larger by the updates' share, so that the threads end together; the blocks
    # cover every row once, in order, in multiples of 16, and depend on the shapes only.
    monkeypatch.setattr(nb, "_THREADS", count)
    for rows, columns, depth, others in ((784, 1024, 256, 1_060_874), (784, 1024, 256, 0),
                                         (300, 90, 64, 10_000), (100, 1024, 256, 10 ** 9)):
        blocks = nb._product_blocks(rows, columns, depth, others)
        assert blocks == nb._product_blocks(rows, columns, depth, others)
        assert [b.start for b in blocks] == [0] + [b.stop for b in blocks[:-1]]
        assert blocks[-1].stop == rows and len(blocks) <= count
        assert all(b.stop % 16 == 0 for b in blocks[:-1])
        sizes = [b.stop - b.start for b in blocks]
        work = rows * columns * depth + nb._UPDATE_COST * others
        # the first block's share of all the work is within 16 rows of 1/count
        assert abs(sizes[0] * columns * depth - min(work / count, rows * columns * depth)) \
            <= 16 * columns * depth
        if others == 0:
            assert max(sizes) - min(sizes) <= 16 * (count - 1)
    monkeypatch.setattr(nb, "_THREADS", 1)
    assert nb._product_blocks(784, 1024, 256, 10 ** 6) == [slice(0, 784)]


def test_a_failing_product_updates_nothing_it_did_not_write(threads, monkeypatch):
    monkeypatch.setattr(nb, "_GEMM_SPLIT_MIN", 1 << 12)
    monkeypatch.setattr(nb, "_FUSED_CHUNK", 512)
    monkeypatch.setattr(nb, "_FUSED_CHUNKED_MIN_SIZE", 2048)
    n = 4096
    add = (("add", (0, 1), (), tf.float32),)
    group = nb.fused_update_group([(add, 2, True), (add, 2, True)], [None, None], n)
    write = nb.writer("matmul", {"transpose_a": False, "transpose_b": False}, 2, 1 << 14)
    combined = nb.update_after_product(write, 0, 64 * 64, (64, 64), group)
    threads(2)
    buffer, u, w = np.zeros(n, np.float32), np.zeros(n, np.float32), np.zeros(n, np.float32)
    with pytest.raises(ValueError):
        combined(np.ones((64, 3), np.float32), np.ones((4, 64), np.float32), buffer, buffer,
                 u, buffer, w)
    assert not u[:64 * 64].any()  # the rows it failed to write were never read


def test_two_products_as_one_split_give_the_bits_of_each_split_alone(threads, monkeypatch):
    monkeypatch.setattr(nb, "_GEMM_SPLIT_MIN", 1 << 12)
    attrs = {"transpose_a": False, "transpose_b": True}
    write = nb.writer("matmul", {"transpose_a": True, "transpose_b": False}, 2, 300 * 90)

    def write_piece(a, b, buffer):  # as the plan's piece of a concat buffer
        write(a, b, out=buffer[500:500 + 300 * 90].reshape(300, 90))
        return ()
    write_piece.piece = (write, 500, 300 * 90, (300, 90))
    together = nb.products_together((nb.matmul, 2, attrs), (write_piece, 3, None))
    x = rng.standard_normal((64, 300), dtype=np.float32)
    rows = rng.standard_normal((64, 90), dtype=np.float32)

    def run():
        buffer = np.full(500 + 300 * 90 + 7, np.nan, np.float32)
        (product,) = together(C, A, x, rows, buffer)
        return product, buffer
    for count in (2, 1):
        threads(count)
        threads.splits = 0
        product, buffer = run()
        assert threads.splits == (count > 1)  # one split for both
        np.testing.assert_array_equal(product, nb.matmul(C, A, False, True))
        expected = np.full_like(buffer, np.nan)
        write_piece(x, rows, expected)
        np.testing.assert_array_equal(buffer, expected)


def test_two_products_too_small_to_split_run_whole_beside_each_other(threads, monkeypatch):
    # (W4's 256x1024x10 products: the gradient for the layer below and the kernel's.)
    monkeypatch.setattr(nb, "_PAIRED_WHOLE_MIN", 1 << 10)
    below = {"transpose_a": False, "transpose_b": True}
    kernel = {"transpose_a": True, "transpose_b": False}
    together = nb.products_together((nb.matmul, 2, below), (nb.matmul, 2, kernel))
    g = rng.standard_normal((64, 10), dtype=np.float32)
    w = rng.standard_normal((90, 10), dtype=np.float32)
    x = rng.standard_normal((64, 90), dtype=np.float32)
    for count in (2, 1):
        threads(count)
        threads.splits = 0
        first, second = together(g, w, x, g)
        assert threads.splits == (count > 1)  # the two products as the two pieces of a split
        np.testing.assert_array_equal(first, nb.matmul(g, w, False, True))
        np.testing.assert_array_equal(second, nb.matmul(x, g, True, False))
    monkeypatch.setattr(nb, "_PAIRED_WHOLE_MIN", 1 << 62)  # too small: one after the other
    threads(2)
    threads.splits = 0
    first, second = together(g, w, x, g)
    assert threads.splits == 0
    np.testing.assert_array_equal(second, nb.matmul(x, g, True, False))


def test_an_error_in_a_worker_reaches_the_caller_and_the_pool_still_works(threads):
    threads(2)
    done = []

    def run(piece):
        if piece == 5:
            raise ZeroDivisionError("piece 5")
        done.append(piece)
    with pytest.raises(ZeroDivisionError, match="piece 5"):
        nb._in_parallel(run, list(range(12)), 1 << 30)
    assert sorted(done) == [p for p in range(12) if p != 5]  # every other piece ran
    done.clear()
    nb._in_parallel(done.append, list(range(12)), 1 << 30)
    assert sorted(done) == list(range(12))


def test_nested_and_concurrent_splits_run_every_piece_once(threads):
    threads(2)
    counts = np.zeros(64, int)
    lock = threading.Lock()

    def inner(piece):
        with lock:
            counts[piece] += 1

    def outer(block):
        nb._in_parallel(inner, list(range(block * 8, block * 8 + 8)), 1 << 30)
    callers = [threading.Thread(target=nb._in_parallel, args=(outer, list(range(8)), 1 << 30))
               for _ in range(3)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    np.testing.assert_array_equal(counts, 3)


def test_the_backend_takes_openblas_to_one_thread_and_gives_its_count_back():
    # In a child process: what OpenBLAS reports before the first split, after it, after the
    # threads are set to one (asked for: BLAS stays on one, as TensorFlow's intra-op setting
    # of 1 makes its kernels single-threaded), and after a default of one (a machine of one
    # core: BLAS gets its own count back).
    code = """if True:
        import os
        from tensorflux.backends import numpy_backend as nb
        found = nb._find_openblas()
        if found is None:
            print("none")
        else:
            before = found[1]()
            nb._in_parallel(lambda piece: None, [0, 1, 2, 3], 1 << 30)
            during = found[1]()
            with nb.blas_as_found():
                inside = found[1]()
            after = found[1]()
            nb.set_threads(1)
            asked = found[1]()
            del os.environ["TENSORFLUX_NUM_THREADS"]
            nb._default_threads = lambda: 1
            nb.set_threads(0)
            print(before, during, inside, after, asked, found[1](), nb._THREADS)"""
    env = dict(os.environ, TENSORFLUX_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    if out.stdout.strip() == "none":
        pytest.skip("NumPy does not run on OpenBLAS here")
    assert out.stdout.split() == ["2", "1", "2", "1", "1", "2", "1"]


@pytest.mark.parametrize("threads, expected", [("2", "1"), ("1", "1"), ("01", "1"),
                                               ("default of one", "2")])
def test_the_first_product_takes_openblas_to_one_thread(threads, expected):
    # A process whose products are all too small to split (an MLP's) holds OpenBLAS to one
    # thread from its first product on, not from a first split that never comes; so does one
    # thread asked for. A default of one (a machine of one core) leaves BLAS its threads.
    setup = ("nb._default_threads = lambda: 1; nb.set_threads(0)"
             if threads == "default of one" else "pass")
    code = f"""if True:
        import numpy as np
        from tensorflux.backends import numpy_backend as nb
        found = nb._find_openblas()
        if found is None:
            print("none")
        else:
            {setup}
            a = np.ones((4, 4), np.float32)
            nb.matmul(a, a, False, False)
            print(found[1](), nb._THREADS)"""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    env.pop("TENSORFLUX_NUM_THREADS", None)
    if threads != "default of one":
        env["TENSORFLUX_NUM_THREADS"] = threads
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    if out.stdout.strip() == "none":
        pytest.skip("NumPy does not run on OpenBLAS here")
    assert out.stdout.split() == [expected, "1" if threads != "2" else "2"]


def test_the_thread_count_comes_from_the_environment():
    code = "from tensorflux.backends import numpy_backend as nb; print(nb._THREADS)"
    env = dict(os.environ, TENSORFLUX_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "1"
    env["TENSORFLUX_NUM_THREADS"] = "two"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "TENSORFLUX_NUM_THREADS" in out.stderr


def test_config_threading_sets_the_kernel_threads_and_checks_its_argument():
    threading_ = tf.config.threading
    default = nb._thread_count()
    try:
        threading_.set_intra_op_parallelism_threads(1)
        assert threading_.get_intra_op_parallelism_threads() == 1 and nb._THREADS == 1
        threading_.set_intra_op_parallelism_threads(3)
        assert nb._THREADS == 3
        for bad in (-1, 1.5, "2", True, None):
            with pytest.raises(ValueError, match="whole number of threads.*received"):
                threading_.set_intra_op_parallelism_threads(bad)
            with pytest.raises(ValueError, match="inter_op"):
                threading_.set_inter_op_parallelism_threads(bad)
        assert nb._THREADS == 3  # a refused value changes nothing
        threading_.set_inter_op_parallelism_threads(2)
        assert threading_.get_inter_op_parallelism_threads() == 2
    finally:
        threading_.set_intra_op_parallelism_threads(0)
        threading_.set_inter_op_parallelism_threads(0)
    assert threading_.get_intra_op_parallelism_threads() == 0 and nb._THREADS == default


def test_a_few_rows_over_a_large_matrix_run_on_blas_threads_and_give_them_back(monkeypatch):
    # Single-sample inference: too small to split, but a pass over a large matrix; OpenBLAS
    # gets its own thread count for that one call (recorded here by a stand-in setter).
    calls = []
    monkeypatch.setattr(nb, "_blas", (calls.append, lambda: 1, 7))
    monkeypatch.setattr(nb, "_THREADS", 2)
    monkeypatch.setattr(nb, "_BLAS_THREADS_MIN_SIZE", B.size)
    x = A[:1]
    np.testing.assert_array_equal(nb.matmul(x, B, False, False), x.dot(B))
    assert calls == [7, 1]
    with pytest.raises(ValueError):
        nb._gemm(A[:1, :5], B)  # a refused product still gives the threads back
    assert calls == [7, 1, 7, 1]
    np.testing.assert_array_equal(nb.matmul(x, B[:, :-1].copy(), False, False),
                                  x.dot(B[:, :-1]))
    assert calls == [7, 1, 7, 1]  # a smaller matrix stays on this thread
