"""numpy_conv_native's direct convolutions (session 16): the kernels against NumPy float64 sums
over filter taps, bias + relu in registers against NumPy's epilogue bit for bit, the backend's
native paths against its NumPy (im2col + GEMM) paths and float64 references, the filter
gradient's bits on one and two threads, the fallbacks, and a small CNN against real Keras."""

import zlib

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_conv_native as ncn
from tensorflux.backends import numpy_llvm
from tests.tolerances import assert_same_bits

NATIVE = numpy_llvm.available()
needs_native = pytest.mark.skipif(
    not NATIVE, reason="numpy_conv_native needs llvmlite and a CPU with AVX2 and FMA")


# ---------------------------------------------------------------------------- references


def _out_hw(xp_hw, k_hw, strides, dilations):
    return tuple((n - (k - 1) * d - 1) // s + 1
                 for n, k, s, d in zip(xp_hw, k_hw, strides, dilations))


def conv64(xp, w, strides, dilations, out_hw=None):
    """conv2d of the padded NHWC xp with the HWIO w in float64: the sum over filter taps of
    the strided window slices times the tap's (c, o) matrix."""
    xp, w = np.asarray(xp, np.float64), np.asarray(w, np.float64)
    kh, kw, _, o = w.shape
    (sh, sw), (dh, dw) = strides, dilations
    ho, wo = out_hw or _out_hw(xp.shape[1:3], (kh, kw), strides, dilations)
    out = np.zeros((xp.shape[0], ho, wo, o))
    for i in range(kh):
        for j in range(kw):
            window = xp[:, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                        j * dw:j * dw + sw * (wo - 1) + 1:sw]
            out += window @ w[i, j]
    return out


def filter_grad64(xp, g, filter_shape, strides, dilations):
    """The filter gradient of conv64 for the output cotangent g, in float64."""
    xp, g = np.asarray(xp, np.float64), np.asarray(g, np.float64)
    kh, kw, c, o = filter_shape
    (sh, sw), (dh, dw) = strides, dilations
    _, ho, wo, _ = g.shape
    out = np.zeros(filter_shape)
    for i in range(kh):
        for j in range(kw):
            window = xp[:, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                        j * dw:j * dw + sw * (wo - 1) + 1:sw]
            out[i, j] = window.reshape(-1, c).T @ g.reshape(-1, o)
    return out


def input_grad64(w, g, padded_shape, pads, strides, dilations):
    """The input gradient of conv64 (each window's g @ tap^T added back where it was read),
    cropped to the unpadded input, in float64."""
    w, g = np.asarray(w, np.float64), np.asarray(g, np.float64)
    kh, kw, _, _ = w.shape
    (sh, sw), (dh, dw) = strides, dilations
    _, ho, wo, _ = g.shape
    dxp = np.zeros(padded_shape)
    for i in range(kh):
        for j in range(kw):
            dxp[:, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                j * dw:j * dw + sw * (wo - 1) + 1:sw] += g @ w[i, j].T
    (pt, pb), (pl, pr) = pads
    return dxp[:, pt:padded_shape[1] - pb, pl:padded_shape[2] - pr]


def pads_of(padding, hw, k_hw, strides, dilations):
    """TF's padding rule, written out here: SAME splits the total with the extra at the end."""
    if padding == "VALID":
        return ((0, 0), (0, 0))
    if padding == "SAME":
        pads = []
        for n, k, s, d in zip(hw, k_hw, strides, dilations):
            total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    return tuple(tuple(p) for p in padding)


def pad64(x, pads):
    return np.pad(np.asarray(x, np.float64), ((0, 0),) + tuple(pads) + ((0, 0),))


def assert_rounded(got, exact, scale, terms, dtype=None, what="value"):
    """got within a few ulps of its dtype times sqrt(terms) of the float64 `exact`, relative to
    `scale` (the root of the sum of the squared terms of each sum): a missing, doubled or
    misplaced term is off by about `scale`, far outside."""
    dtype = np.dtype(dtype or got.dtype)
    tol = 4 * np.finfo(dtype).eps * np.sqrt(max(terms, 1)) * scale + np.finfo(dtype).tiny
    err = np.abs(np.asarray(got, np.float64) - exact)
    assert got.shape == exact.shape, f"{what}: shape {got.shape} != {exact.shape}"
    assert not np.isnan(got).any(), f"{what}: NaN"
    worst = np.unravel_index(np.argmax(err - tol), err.shape)
    assert (err <= tol).all(), (f"{what}: {got[worst]} != {exact[worst]} at {worst} "
                                f"(error {err[worst]:.3g}, tolerance {tol[worst]:.3g})")


def conv_scale(xp, w, strides, dilations, out_hw=None):
    return np.sqrt(conv64(np.square(np.asarray(xp, np.float64)),
                          np.square(np.asarray(w, np.float64)), strides, dilations, out_hw))


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture
def numpy_path(monkeypatch):
    """Within the test, after calling it: the backend's NumPy paths (the native kernels
    switched off, as TENSORFLUX_NATIVE_KERNELS=0 does)."""
    def force():
        monkeypatch.setattr(numpy_llvm, "_enabled", False)
    return force


@pytest.fixture
def spy(monkeypatch):
    """Counts the native kernels made (spy.conv, spy.filter) and the pieces of rows they were
    run on (spy.conv_runs, spy.filter_runs)."""
    conv_rows, filter_rows = ncn.conv2d_rows, ncn.filter_grad_rows

    def counted(make, name):
        def wrapper(*args, **kwargs):
            run = make(*args, **kwargs)
            if run is None:
                return None
            setattr(spy, name, getattr(spy, name) + 1)

            def counting(*a):
                setattr(spy, name + "_runs", getattr(spy, name + "_runs") + 1)
                return run(*a)
            return counting
        return wrapper
    monkeypatch.setattr(ncn, "conv2d_rows", counted(conv_rows, "conv"))
    monkeypatch.setattr(ncn, "filter_grad_rows", counted(filter_rows, "filter"))

    def reset():
        spy.conv = spy.filter = spy.conv_runs = spy.filter_runs = 0
    spy.reset = reset
    reset()
    return spy


def _rng(*key):
    """A generator seeded by `key` (by its text: str's hash differs between processes)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


# ---------------------------------------------------------------------------- kernel level

# (dtype, c, o, (kh, kw), strides, dilations, wo): widths around the register block of 14
# pixels on AVX-512 (6 on AVX2): wo == 1, below a block, a whole block, and uneven blocks
# with tails (15 -> 8 + 7, 29 -> 10 + 10 + 9, 31 -> 11 + 11 + 9); channels in one, two and
# uneven blocks of two vectors (48 = 2 + 1 vectors, 80 = 2 + 2 + 1).
KERNEL_CASES = [
    ("float32", 1, 16, (3, 3), (1, 1), (1, 1), 1),
    ("float32", 3, 48, (3, 3), (1, 1), (1, 1), 15),
    ("float32", 13, 80, (5, 5), (2, 2), (1, 1), 5),
    ("float32", 40, 32, (1, 1), (1, 2), (1, 1), 29),
    ("float32", 3, 64, (2, 2), (1, 1), (2, 1), 14),
    ("float32", 40, 48, (3, 3), (2, 2), (2, 1), 31),
    ("float32", 13, 16, (2, 2), (1, 2), (2, 1), 7),
    ("float32", 1, 80, (5, 5), (1, 1), (1, 1), 13),
    ("float32", 3, 32, (1, 1), (2, 2), (1, 1), 1),
    ("float32", 13, 64, (3, 3), (1, 2), (1, 1), 15),
    ("float32", 40, 16, (5, 5), (1, 1), (2, 1), 3),
    ("float32", 1, 48, (2, 2), (2, 2), (1, 1), 29),
    ("float64", 1, 8, (3, 3), (1, 1), (1, 1), 15),
    ("float64", 13, 24, (5, 5), (2, 2), (2, 1), 1),
    ("float64", 40, 8, (2, 2), (1, 2), (1, 1), 29),
    ("float64", 3, 24, (1, 1), (1, 1), (1, 1), 5),
    ("float64", 40, 24, (3, 3), (1, 1), (2, 1), 14),
]


def _kernel_case(dtype, c, o, k_hw, strides, dilations, wo, n=2, ho=3):
    """A padded input with spare rows and columns beyond the last window (the kernel must
    stop at ho, wo), a filter, and the output shape."""
    rng = _rng(dtype, c, o, k_hw, strides, dilations, wo)
    hp = (ho - 1) * strides[0] + (k_hw[0] - 1) * dilations[0] + 1 + 1
    wp = (wo - 1) * strides[1] + (k_hw[1] - 1) * dilations[1] + 1 + 2
    xp = rng.standard_normal((n, hp, wp, c)).astype(dtype)
    w = rng.standard_normal(k_hw + (c, o)).astype(dtype)
    return xp, w, (n, ho, wo, o)


def _kid(case):
    dtype, c, o, k_hw, strides, dilations, wo = case
    return f"{dtype}-c{c}-o{o}-k{k_hw[0]}x{k_hw[1]}-s{strides}-d{dilations}-wo{wo}"


@needs_native
@pytest.mark.parametrize("case", KERNEL_CASES, ids=_kid)
def test_conv2d_rows_matches_float64_and_writes_only_its_rows(case):
    dtype, c, o, k_hw, strides, dilations, wo = case
    xp, w, out_shape = _kernel_case(*case)
    n, ho = out_shape[:2]
    assert o % numpy_llvm.lanes(dtype) == 0 and ncn.supports(xp, o)
    exact = conv64(xp, w, strides, dilations, (ho, wo))
    scale = conv_scale(xp, w, strides, dilations, (ho, wo))
    terms = k_hw[0] * k_hw[1] * c
    sentinel = np.array(-7.25e3, dtype)
    out = np.full(out_shape, sentinel)
    run = ncn.conv2d_rows(xp, w, out, strides, dilations)
    assert run is not None
    # a range from inside the first image to inside the second: rows 2 .. 4 of n * ho = 6
    run(2, 4)
    flat = out.reshape(n * ho, wo, o)
    assert (flat[:2] == sentinel).all() and (flat[4:] == sentinel).all(), \
        "run(2, 4) wrote outside its rows"
    assert_rounded(flat[2:4], exact.reshape(n * ho, wo, o)[2:4],
                   scale.reshape(n * ho, wo, o)[2:4], terms, what="rows 2..4")
    run(0, 0)  # an empty range writes nothing
    assert (flat[:2] == sentinel).all()
    run(0, 2)
    run(4, n * ho)
    assert_rounded(out, exact, scale, terms, what="whole output")


# (dtype, c, o, (kh, kw), strides, dilations, (ho, wo), (pt, pl), (hp, wp)): the input read
# as padded by pt rows above and pl columns to the left, and as far as the windows reach
# below and to the right; blocks with up to 3 pixels in the padding on either side run
# in the kernel, more pad the input first.
PADDED_CASES = [
    ("float32", 3, 16, (3, 3), (1, 1), (1, 1), (5, 7), (1, 1), (5, 7)),  # SAME
    ("float32", 13, 48, (5, 5), (1, 1), (1, 1), (4, 15), (2, 2), (4, 15)),  # SAME, 8 + 7
    ("float32", 1, 32, (3, 3), (2, 2), (1, 1), (3, 4), (1, 1), (6, 8)),  # SAME stride 2
    ("float32", 16, 32, (3, 3), (1, 1), (2, 2), (6, 5), (2, 2), (6, 5)),  # dilated
    ("float32", 16, 16, (3, 3), (1, 1), (1, 1), (3, 1), (1, 1), (3, 1)),  # one pixel wide
    ("float32", 3, 16, (3, 3), (1, 1), (1, 1), (2, 2), (2, 2), (2, 2)),  # all padding at edges
    ("float32", 5, 80, (5, 5), (1, 1), (1, 1), (7, 29), (4, 4), (7, 29)),  # past _EDGE
    ("float32", 40, 32, (2, 3), (1, 2), (2, 1), (5, 14), (2, 1), (4, 27)),  # pt > reach - 1
    ("float32", 3, 64, (1, 1), (1, 1), (1, 1), (3, 13), (0, 0), (3, 13)),  # no padding
    ("float32", 8, 16, (3, 5), (2, 1), (1, 2), (4, 31), (3, 6), (7, 27)),  # left > _EDGE
    ("float64", 3, 8, (3, 3), (1, 1), (1, 1), (6, 15), (1, 1), (6, 15)),
    ("float64", 13, 24, (5, 3), (1, 1), (2, 1), (5, 6), (4, 1), (5, 6)),
    # negative pads crop: the windows start inside x (or the kernel declines them)
    ("float32", 3, 16, (3, 3), (1, 1), (1, 1), (3, 5), (-1, -2), (6, 9)),
    ("float32", 5, 32, (3, 3), (1, 1), (1, 1), (4, 6), (-1, -1), (4, 6)),
    ("float32", 5, 16, (3, 3), (1, 1), (1, 1), (3, 14), (-1, -1), (5, 8)),
]


def _pid(case):
    dtype, c, o, k_hw, strides, dilations, out_hw, pads, hw = case
    return (f"{dtype}-c{c}-o{o}-k{k_hw[0]}x{k_hw[1]}-s{strides}-d{dilations}-out{out_hw}"
            f"-pads{pads}-in{hw}")


@needs_native
@pytest.mark.parametrize("case", PADDED_CASES, ids=_pid)
def test_conv2d_rows_reads_padding_it_is_not_given(case):
    import inspect

    if "pads" not in inspect.signature(ncn.conv2d_rows).parameters:
        pytest.skip("conv2d_rows takes no pads here")
    dtype, c, o, k_hw, strides, dilations, (ho, wo), (pt, pl), (h, wd) = case
    rng = _rng("padded", case)
    x = rng.standard_normal((2, h, wd, c)).astype(dtype)
    w = rng.standard_normal(k_hw + (c, o)).astype(dtype)
    cropped = x[:, max(0, -pt):, max(0, -pl):]
    pt_, pl_ = max(0, pt), max(0, pl)
    bottom = max(0, (ho - 1) * strides[0] + (k_hw[0] - 1) * dilations[0] + 1 - pt_
                 - cropped.shape[1])
    right = max(0, (wo - 1) * strides[1] + (k_hw[1] - 1) * dilations[1] + 1 - pl_
                - cropped.shape[2])
    xp = pad64(cropped, ((pt_, bottom), (pl_, right)))
    exact = conv64(xp, w, strides, dilations, (ho, wo))
    scale = conv_scale(xp, w, strides, dilations, (ho, wo))
    sentinel = np.array(3.5e3, dtype)
    out = np.full((2, ho, wo, o), sentinel)
    bias = rng.standard_normal(o).astype(dtype)
    run = ncn.conv2d_rows(x, w, out, strides, dilations, pads=(pt, pl))
    if run is None and min(pt, pl) < 0:
        return  # (declined: the caller pads or crops)
    assert run is not None
    run(1, ho + 1)  # the last rows of one image and the first of the next
    flat = out.reshape(2 * ho, wo, o)
    assert (flat[0] == sentinel).all() and (flat[ho + 1:] == sentinel).all(), \
        "the kernel wrote outside its rows"
    run(0, 1)
    run(ho + 1, 2 * ho)
    assert_rounded(out, exact, scale, k_hw[0] * k_hw[1] * c, what="implicitly padded")
    # the same sums as the kernel on the padded input, bit for bit (the padding's terms
    # are zeros), with bias and relu in registers too
    padded = np.empty_like(out)
    ncn.conv2d_rows(xp.astype(dtype), w, padded, strides, dilations)(0, 2 * ho)
    assert_same_bits(out, padded, "implicit padding against the padded input")
    fused = np.empty_like(out)
    ncn.conv2d_rows(x, w, fused, strides, dilations, bias, True, (pt, pl))(0, 2 * ho)
    assert_same_bits(fused, np.maximum(padded + bias, np.zeros((), dtype)), "padded, bias, relu")


@needs_native
@pytest.mark.parametrize("case", KERNEL_CASES[::2], ids=_kid)
@pytest.mark.parametrize("relu", [False, True])
def test_conv2d_rows_bias_relu_in_registers_is_numpys_epilogue(case, relu):
    dtype, c, o, k_hw, strides, dilations, wo = case
    xp, w, out_shape = _kernel_case(*case)
    rng = _rng("bias", case)
    bias = rng.standard_normal(o).astype(dtype)
    bias[::5] = -0.0
    plain = np.empty(out_shape, dtype)
    fused = np.empty(out_shape, dtype)
    ncn.conv2d_rows(xp, w, plain, strides, dilations)(0, out_shape[0] * out_shape[1])
    run = ncn.conv2d_rows(xp, w, fused, strides, dilations, bias=bias, relu=relu)
    run(0, out_shape[0] * out_shape[1])
    expected = plain + bias
    if relu:
        expected = np.maximum(expected, np.zeros((), dtype))
    assert_same_bits(fused, expected, "bias (+ relu) in registers")
    if relu:
        ncn.conv2d_rows(xp, w, fused, strides, dilations, relu=True)(
            0, out_shape[0] * out_shape[1])
        assert_same_bits(fused, np.maximum(plain, np.zeros((), dtype)), "relu alone in registers")


@needs_native
@pytest.mark.parametrize("case", KERNEL_CASES, ids=_kid)
def test_filter_grad_rows_matches_float64_over_any_rows(case):
    dtype, c, o, k_hw, strides, dilations, wo = case
    xp, w, out_shape = _kernel_case(*case, n=3)
    n, ho = out_shape[:2]
    g = _rng("g", case).standard_normal(out_shape).astype(dtype)
    run = ncn.filter_grad_rows(xp, g, w.shape, strides, dilations)
    assert run is not None
    out = np.full(w.shape, np.nan, dtype)  # every element is written, whatever was there
    for row0, row1 in [(0, n * ho), (2, 7), (4, 5)]:
        run(row0, row1, out)
        images, rows = divmod(np.arange(row0, row1), ho)
        mask = np.zeros(out_shape[:2] + (1, 1))
        mask[images, rows] = 1
        exact = filter_grad64(xp, g * mask, w.shape, strides, dilations)
        scale = np.sqrt(filter_grad64(np.square(xp.astype(np.float64)),
                                      np.square(g * mask, dtype=np.float64), w.shape, strides,
                                      dilations))
        assert_rounded(out, exact, scale, (row1 - row0) * wo, what=f"rows {row0}..{row1}")
    run(3, 3, out)
    assert (out == 0).all(), "an empty range of rows must give zeros"


@needs_native
def test_filter_grad_rows_refuses_a_wrong_target():
    xp, w, out_shape = _kernel_case("float32", 3, 16, (3, 3), (1, 1), (1, 1), 5)
    g = np.ones(out_shape, np.float32)
    run = ncn.filter_grad_rows(xp, g, w.shape, (1, 1), (1, 1))
    for bad in [np.empty(w.shape, np.float64), np.empty(w.shape[::-1], np.float32),
                np.empty(w.shape + (2,), np.float32)[..., 0]]:
        with pytest.raises(ValueError, match="filter_grad_rows"):
            run(0, 1, bad)


def test_the_kernels_decline_what_they_do_not_cover():
    x = np.ones((1, 5, 5, 3), np.float32)
    out = np.empty((1, 3, 3, 16), np.float32)
    w = np.ones((3, 3, 3, 16), np.float32)
    # output channels not whole vectors, a mixed dtype, float16, a strided view
    assert ncn.conv2d_rows(x, np.ones((3, 3, 3, 10), np.float32),
                           np.empty((1, 3, 3, 10), np.float32), (1, 1), (1, 1)) is None
    assert ncn.conv2d_rows(x, w.astype(np.float64), out, (1, 1), (1, 1)) is None
    assert ncn.conv2d_rows(x.astype(np.float16), w.astype(np.float16),
                           np.zeros(out.shape, np.float16), (1, 1), (1, 1)) is None
    wide = np.ones((1, 5, 10, 3), np.float32)
    assert ncn.conv2d_rows(wide[:, :, ::2], w, out, (1, 1), (1, 1)) is None
    assert ncn.conv2d_rows(x, w, out, (1, 1), (1, 1), bias=np.ones(15, np.float32)) is None
    assert ncn.filter_grad_rows(x, np.ones((1, 3, 3, 10), np.float32), (3, 3, 3, 10),
                                (1, 1), (1, 1)) is None
    assert not ncn.supports(x.astype(np.float16), 16)


# ---------------------------------------------------------------------------- bias/relu


def _program(*steps, dtype=tf.float32):
    return tuple((name, refs, (), dtype) for name, refs in steps)


# program, its inputs besides the convolution's output (b: the bias), the output's register
EPILOGUES = {
    "add then relu": (_program(("add", (0, 1)), ("relu", (2,))), "b", 0),
    "bias first, then relu": (_program(("add", (1, 0)), ("relu", (2,))), "b", 1),
    "add alone": (_program(("add", (0, 1))), "b", 0),
    "relu alone": (_program(("relu", (0,))), "", 0),
    "add then sigmoid": (_program(("add", (0, 1)), ("sigmoid", (2,))), "b", 0),
    "relu then add": (_program(("relu", (0,)), ("add", (1, 2))), "b", 0),
}
CONV_SAME = dict(strides=(1, 1), padding="SAME", dilations=(1, 1), data_format="NHWC")


def _epilogue_inputs(dtype=np.float32):
    """An input with NaNs and zero regions (outputs exactly 0.0, whose sign the bias's -0.0
    must not flip), a filter and a bias with -0.0s."""
    rng = _rng("epilogue")
    x = rng.standard_normal((3, 9, 11, 5)).astype(dtype)
    x[0, 2, 3, 1] = np.nan
    x[1, 4:, :, :] = 0.0
    x[2, :, :5] = -0.0
    w = rng.standard_normal((3, 3, 5, 32)).astype(dtype)
    b = rng.standard_normal(32).astype(dtype)
    b[::3] = -0.0
    b[1] = 0.0
    return x, w, b


@pytest.mark.parametrize("name", sorted(EPILOGUES))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_conv2d_epilogue_in_registers_is_the_numpy_epilogue(name, dtype, spy,
                                                                  monkeypatch):
    program, kinds, register = EPILOGUES[name]
    program = tuple(step[:3] + (tf.as_dtype(dtype),) for step in program)
    x, w, b = _epilogue_inputs(dtype)
    inputs = [b] if kinds else []
    got = nb.fused_conv2d(x, w, *inputs, program=program, register=register, **CONV_SAME)
    if NATIVE:
        assert spy.conv == 1, "the native convolution did not run"
    # The same convolution with the epilogue run by NumPy afterwards (the general path)
    monkeypatch.setattr(nb, "_nn_register_epilogue", lambda *args: None)
    expected = nb.fused_conv2d(x, w, *inputs, program=program, register=register,
                               **CONV_SAME)
    assert_same_bits(got, expected, name)
    also = nb.fused_elementwise(*inputs[:register], nb.conv2d(x, w, **CONV_SAME),
                                *inputs[register:], program=program)
    assert_same_bits(got, also, f"{name} against conv2d then fused_elementwise")
    assert np.isnan(got[0, 1:4, 2:5]).all(), "a NaN input must give NaN outputs"
    assert np.isnan(got).sum() == 9 * 32


@pytest.mark.parametrize("name", sorted(EPILOGUES))
def test_fused_conv2d_native_and_numpy_paths_agree(name, numpy_path):
    program, kinds, register = EPILOGUES[name]
    x, w, b = _epilogue_inputs()
    inputs = [b] if kinds else []
    got = nb.fused_conv2d(x, w, *inputs, program=program, register=register, **CONV_SAME)
    numpy_path()
    expected = nb.fused_conv2d(x, w, *inputs, program=program, register=register,
                               **CONV_SAME)
    assert got.dtype == expected.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=2e-5, equal_nan=True)
    # relu's zeros are +0.0 on both paths (NumPy's maximum(x, 0) where x <= 0)
    zeros = (got == 0) & (expected == 0)
    np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(expected[zeros]))
    assert not np.signbit(got[(got == 0)]).any() or "relu" not in name


# ---------------------------------------------------------------------------- backend level

# (input shape, filter shape, strides, padding, dilations)
BACKEND_CASES = [
    ((2, 9, 10, 3), (3, 3, 3, 32), (1, 1), "SAME", (1, 1)),
    ((2, 9, 10, 16), (3, 3, 16, 32), (1, 1), "VALID", (1, 1)),
    ((2, 11, 12, 16), (3, 3, 16, 16), (2, 2), "SAME", (1, 1)),
    ((2, 11, 12, 5), (3, 2, 5, 48), (2, 2), "VALID", (1, 1)),
    ((2, 10, 9, 32), (3, 3, 32, 16), (1, 1), "SAME", (2, 2)),
    ((2, 10, 9, 16), (2, 3, 16, 32), (1, 1), ((1, 2), (0, 1)), (1, 1)),
    ((2, 12, 12, 16), (3, 3, 16, 32), (1, 1), ((2, 0), (1, 1)), (2, 1)),
    ((2, 10, 13, 8), (5, 5, 8, 64), (2, 1), ((1, 1), (2, 2)), (1, 1)),
    ((1, 7, 7, 16), (1, 1, 16, 16), (1, 1), "VALID", (1, 1)),
    # strided input gradients (phases of the input; at stride 3 a 2-tap filter leaves one
    # phase no taps at all), and stride with dilation
    ((2, 11, 12, 16), (2, 2, 16, 32), (3, 3), "VALID", (1, 1)),
    ((2, 10, 9, 32), (5, 3, 32, 16), (2, 1), "SAME", (1, 1)),
    ((2, 9, 11, 16), (3, 3, 16, 16), (1, 2), ((2, 1), (0, 2)), (1, 1)),
    ((2, 12, 12, 16), (3, 3, 16, 16), (2, 2), "SAME", (2, 2)),
]


def _bid(case):
    shape, fshape, strides, padding, dilations = case
    pad = padding if isinstance(padding, str) else "explicit"
    return f"c{shape[3]}-o{fshape[3]}-k{fshape[0]}x{fshape[1]}-s{strides}-{pad}-d{dilations}"


def _backend_case(case, dtype=np.float32):
    shape, fshape, strides, padding, dilations = case
    rng = _rng("backend", _bid(case))
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(fshape).astype(dtype)
    pads = pads_of(padding, shape[1:3], fshape[:2], strides, dilations)
    xp = pad64(x, pads)
    out_hw = _out_hw(xp.shape[1:3], fshape[:2], strides, dilations)
    g = rng.standard_normal((shape[0],) + out_hw + (fshape[3],)).astype(dtype)
    attrs = dict(strides=strides, padding=padding, dilations=dilations, data_format="NHWC")
    return x, w, g, xp, pads, attrs


@pytest.mark.parametrize("case", BACKEND_CASES, ids=_bid)
def test_conv2d_both_paths_match_float64(case, spy, numpy_path):
    x, w, g, xp, pads, attrs = _backend_case(case)
    strides, dilations = attrs["strides"], attrs["dilations"]
    exact = conv64(xp, w, strides, dilations)
    scale = conv_scale(xp, w, strides, dilations)
    terms = w.shape[0] * w.shape[1] * w.shape[2]
    native = nb.conv2d(x, w, **attrs)
    assert spy.conv == (1 if NATIVE else 0)
    numpy_path()
    general = nb.conv2d(x, w, **attrs)
    for got, path in [(native, "native"), (general, "numpy")]:
        assert got.dtype == np.float32
        assert_rounded(got, exact, scale, terms, what=f"conv2d ({path} path)")


@pytest.mark.parametrize("case", BACKEND_CASES, ids=_bid)
def test_conv2d_backprop_filter_both_paths_match_float64(case, spy, numpy_path):
    x, w, g, xp, pads, attrs = _backend_case(case)
    strides, dilations = attrs["strides"], attrs["dilations"]
    exact = filter_grad64(xp, g, w.shape, strides, dilations)
    scale = np.sqrt(filter_grad64(np.square(xp), np.square(g, dtype=np.float64), w.shape,
                                  strides, dilations))
    terms = g.shape[0] * g.shape[1] * g.shape[2]
    native = nb.conv2d_backprop_filter(x, g, w.shape, **attrs)
    assert spy.filter >= (1 if NATIVE else 0)
    numpy_path()
    general = nb.conv2d_backprop_filter(x, g, w.shape, **attrs)
    for got, path in [(native, "native"), (general, "numpy")]:
        assert got.dtype == np.float32
        assert_rounded(got, exact, scale, terms, what=f"filter gradient ({path} path)")


@pytest.mark.parametrize("case", BACKEND_CASES, ids=_bid)
def test_conv2d_backprop_input_both_paths_match_float64_and_the_adjoint(case, spy,
                                                                       numpy_path):
    x, w, g, xp, pads, attrs = _backend_case(case)
    strides, dilations = attrs["strides"], attrs["dilations"]
    exact = input_grad64(w, g, xp.shape, pads, strides, dilations)
    scale = np.sqrt(input_grad64(np.square(w, dtype=np.float64),
                                 np.square(g, dtype=np.float64), xp.shape, pads, strides,
                                 dilations))
    terms = w.shape[0] * w.shape[1] * w.shape[3]
    native = nb.conv2d_backprop_input(w, g, x.shape, **attrs)
    stride_one = tuple(strides) == (1, 1)
    # (padding beyond the filter's reach, as (1, 2) for a 2-row filter, gives output rows
    # of padding only: the native input gradient declines those)
    within = all(p <= (k - 1) * d for pair, k, d in zip(pads, w.shape, dilations)
                 for p in pair)
    if NATIVE and stride_one and within and x.shape[3] % numpy_llvm.lanes(np.float32) == 0:
        assert spy.conv == 1, "the stride-1 input gradient did not run natively"
    numpy_path()
    general = nb.conv2d_backprop_input(w, g, x.shape, **attrs)
    for got, path in [(native, "native"), (general, "numpy")]:
        assert got.dtype == np.float32
        assert_rounded(got, exact, scale, terms, what=f"input gradient ({path} path)")
        # the adjoint identity <conv(v), g> == <v, dx> for a random v, in float64
        v = _rng("adjoint", _bid(case)).standard_normal(x.shape)
        left = np.vdot(conv64(pad64(v, pads), w, strides, dilations), g.astype(np.float64))
        right = np.vdot(v, got.astype(np.float64))
        assert abs(left - right) <= 1e-5 * np.sqrt(np.vdot(v, v) * np.vdot(exact, exact)), \
            f"adjoint ({path} path): {left} != {right}"


def _max_pool_route64(y, grad):
    """The 2x2/2 VALID max pool's gradient: each cotangent to its window's largest input."""
    n, h, w, o = y.shape
    ph, pw = h // 2, w // 2
    routed = np.zeros(y.shape)
    windows = y[:, :2 * ph, :2 * pw].reshape(n, ph, 2, pw, 2, o).transpose(0, 1, 3, 5, 2, 4)
    where = windows.reshape(n, ph, pw, o, 4).argmax(-1)
    i, j = divmod(where, 2)
    nn, pp, qq, oo = np.indices((n, ph, pw, o))
    routed[nn, 2 * pp + i, 2 * qq + j, oo] = grad
    return routed


@pytest.mark.parametrize("size", [(10, 12), (11, 9)])  # windows tiling the output, or not
@pytest.mark.parametrize("o", [32, 24])  # native on AVX-512 and AVX2, or not on AVX-512
@pytest.mark.parametrize("relu", [False, True])  # after relu, windows of tied zeros
def test_fused_conv2d_backprop_filter_with_a_max_pool(size, o, relu, spy, numpy_path):
    rng = _rng("pool", size, o)
    x = rng.standard_normal((3,) + size + (16,)).astype(np.float32)
    w = rng.standard_normal((3, 3, 16, o)).astype(np.float32)
    attrs = dict(strides=(1, 1), padding="SAME", dilations=(1, 1), data_format="NHWC")
    y = nb.conv2d(x, w, **attrs)
    if relu:
        y = np.maximum(y - 2, np.float32(0))  # (TF's rule: the first of tied maxima wins)
        assert (y[:, :size[0] // 2 * 2, :size[1] // 2 * 2].reshape(
            3, size[0] // 2, 2, size[1] // 2, 2, o).max(axis=(2, 4)) == 0).sum() > 50
    grad = rng.standard_normal((3, size[0] // 2, size[1] // 2, o)).astype(np.float32)
    pool = dict(pool_ksize=(2, 2), pool_strides=(2, 2), pool_padding="VALID")
    spy.reset()
    native = nb.fused_conv2d_backprop_filter(x, y, grad, w.shape, **attrs, **pool)
    if NATIVE:
        assert spy.filter >= (1 if o % numpy_llvm.lanes(np.float32) == 0 else 0)
    if NATIVE and o % numpy_llvm.lanes(np.float32) == 0:
        # the native paths sum the same pieces in the same order as the two kernels
        routed = nb.max_pool2d_grad(y, grad, (2, 2), (2, 2), "VALID", "NHWC")
        assert_same_bits(native, nb.conv2d_backprop_filter(x, routed, w.shape, **attrs),
                  "pooled filter gradient against its two kernels")
    numpy_path()
    general = nb.fused_conv2d_backprop_filter(x, y, grad, w.shape, **attrs, **pool)
    routed = _max_pool_route64(y, grad)
    xp = pad64(x, ((1, 1), (1, 1)))
    exact = filter_grad64(xp, routed, w.shape, (1, 1), (1, 1))
    scale = np.sqrt(filter_grad64(np.square(xp), np.square(routed), w.shape, (1, 1), (1, 1)))
    for got, path in [(native, "native"), (general, "numpy")]:
        assert_rounded(got, exact, scale, routed.size // o, np.float32,
                       what=f"pooled filter gradient ({path} path)")


@needs_native
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float64_and_float32_backend_paths_are_native(dtype, spy):
    case = BACKEND_CASES[4]
    x, w, g, xp, pads, attrs = _backend_case(case, dtype)
    got = nb.conv2d(x, w, **attrs)
    dx = nb.conv2d_backprop_input(w, g, x.shape, **attrs)
    dw = nb.conv2d_backprop_filter(x, g, w.shape, **attrs)
    assert spy.conv == 2 and spy.filter >= 1
    strides, dilations = attrs["strides"], attrs["dilations"]
    assert got.dtype == dx.dtype == dw.dtype == dtype
    assert_rounded(got, conv64(xp, w, strides, dilations), conv_scale(xp, w, strides,
                                                                      dilations),
                   w[..., 0].size, what="conv2d")
    exact = filter_grad64(xp, g, w.shape, strides, dilations)
    scale = np.sqrt(filter_grad64(np.square(xp), np.square(g, dtype=np.float64), w.shape,
                                  strides, dilations))
    assert_rounded(dw, exact, scale, g[..., 0].size, what="filter gradient")


# ---------------------------------------------------------------------------- determinism


@pytest.fixture
def thread_count(monkeypatch):
    """set_threads(count) for the test, with work of any size split; the count the backend
    had is restored after."""
    monkeypatch.setattr(nb, "_PARALLEL_MIN_BYTES", 1)
    before = nb._THREADS
    try:
        yield nb.set_threads
    finally:
        nb.set_threads(before)


@pytest.mark.parametrize("case", [BACKEND_CASES[0], BACKEND_CASES[3], BACKEND_CASES[6]],
                         ids=_bid)
def test_filter_gradient_bits_do_not_depend_on_threads(case, thread_count, spy,
                                                       monkeypatch):
    shape, fshape, strides, padding, dilations = case
    rng = _rng("threads", _bid(case))
    x = rng.standard_normal((12,) + shape[1:]).astype(np.float32)
    x_case = (x.shape,) + case[1:]
    _, w, g, _, _, attrs = _backend_case(x_case)
    pieces = []
    by_rows = nb._nn_filter_grad_by_rows
    monkeypatch.setattr(nb, "_nn_filter_grad_by_rows",
                        lambda *a: pieces.append(a[1]) or by_rows(*a))
    pool = dict(pool_ksize=(2, 2), pool_strides=(2, 2), pool_padding="VALID")
    y = np.maximum(nb.conv2d(x, w, **attrs), np.float32(0))
    y = np.ascontiguousarray(y[:, :y.shape[1] // 2 * 2, :y.shape[2] // 2 * 2])
    pooled_g = rng.standard_normal((12, y.shape[1] // 2, y.shape[2] // 2, w.shape[3]))
    pooled_g = pooled_g.astype(np.float32)
    pool_x = np.ascontiguousarray(x[:, :y.shape[1] + x.shape[1] - g.shape[1],
                                    :y.shape[2] + x.shape[2] - g.shape[2]]) \
        if attrs["padding"] == "VALID" else None

    def pooled():
        if pool_x is None:
            return np.zeros(1, np.float32)
        return nb.fused_conv2d_backprop_filter(pool_x, y, pooled_g, w.shape, **attrs, **pool)
    thread_count(1)
    one = nb.conv2d_backprop_filter(x, g, w.shape, **attrs)
    forward_one = nb.conv2d(x, w, **attrs)
    pooled_one = pooled()
    thread_count(2)
    two = nb.conv2d_backprop_filter(x, g, w.shape, **attrs)
    forward_two = nb.conv2d(x, w, **attrs)
    assert_same_bits(pooled_one, pooled(), "pooled filter gradient, 1 vs 2 threads")
    thread_count(0)
    default = nb.conv2d_backprop_filter(x, g, w.shape, **attrs)
    if NATIVE:
        assert spy.filter >= 3 and spy.filter_runs > 3 * 3, \
            "the native filter gradient did not run in pieces"
    assert_same_bits(one, two, "filter gradient, 1 vs 2 threads")
    assert_same_bits(one, default, "filter gradient, 1 thread vs the default")
    assert_same_bits(forward_one, forward_two, "conv2d, 1 vs 2 threads")


# ---------------------------------------------------------------------------- fallbacks


def test_fallback_output_channels_not_whole_vectors(spy):
    rng = _rng("o10")
    x = rng.standard_normal((2, 8, 9, 16)).astype(np.float32)
    w = rng.standard_normal((3, 3, 16, 10)).astype(np.float32)
    g = rng.standard_normal((2, 8, 9, 10)).astype(np.float32)
    xp = pad64(x, ((1, 1), (1, 1)))
    got = nb.conv2d(x, w, **CONV_SAME)
    dw = nb.conv2d_backprop_filter(x, g, w.shape, **CONV_SAME)
    # (the input gradient's channels, 16, are whole vectors: it may run natively)
    dx = nb.conv2d_backprop_input(w, g, x.shape, **CONV_SAME)
    assert spy.filter == 0
    assert_rounded(got, conv64(xp, w, (1, 1), (1, 1)), conv_scale(xp, w, (1, 1), (1, 1)),
                   144, what="conv2d, o = 10")
    exact = filter_grad64(xp, g, w.shape, (1, 1), (1, 1))
    scale = np.sqrt(filter_grad64(np.square(xp), np.square(g, dtype=np.float64), w.shape,
                                  (1, 1), (1, 1)))
    assert_rounded(dw, exact, scale, g[..., 0].size, what="filter gradient, o = 10")
    exact = input_grad64(w, g, xp.shape, ((1, 1), (1, 1)), (1, 1), (1, 1))
    scale = np.sqrt(input_grad64(np.square(w, dtype=np.float64),
                                 np.square(g, dtype=np.float64), xp.shape, ((1, 1), (1, 1)),
                                 (1, 1), (1, 1)))
    assert_rounded(dx, exact, scale, 90, what="input gradient, o = 10")


def test_fallback_float16_is_computed_in_float32():
    rng = _rng("f16")
    x = rng.standard_normal((2, 8, 9, 3)).astype(np.float16)
    w = rng.standard_normal((3, 3, 3, 16)).astype(np.float16)
    g = rng.standard_normal((2, 8, 9, 16)).astype(np.float16)
    xp = pad64(x, ((1, 1), (1, 1)))
    got = nb.conv2d(x, w, **CONV_SAME)
    dw = nb.conv2d_backprop_filter(x, g, w.shape, **CONV_SAME)
    assert got.dtype == dw.dtype == np.float16
    exact = conv64(xp, w, (1, 1), (1, 1))
    # float32 sums rounded once to float16: half an ulp of float16, plus float32's error
    np.testing.assert_allclose(got, exact, rtol=2 ** -11, atol=1e-3)
    np.testing.assert_allclose(dw, filter_grad64(xp, g, w.shape, (1, 1), (1, 1)),
                               rtol=2 ** -11, atol=2e-2)


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_fallback_nchw(padding, numpy_path):
    rng = _rng("nchw", padding)
    x = rng.standard_normal((2, 16, 8, 9)).astype(np.float32)
    w = rng.standard_normal((3, 3, 16, 32)).astype(np.float32)
    attrs = dict(strides=(1, 1), padding=padding, dilations=(1, 1), data_format="NCHW")
    got = nb.conv2d(x, w, **attrs)
    x_nhwc = x.transpose(0, 2, 3, 1)
    pads = pads_of(padding, x_nhwc.shape[1:3], (3, 3), (1, 1), (1, 1))
    xp = pad64(x_nhwc, pads)
    exact = conv64(xp, w, (1, 1), (1, 1)).transpose(0, 3, 1, 2)
    scale = conv_scale(xp, w, (1, 1), (1, 1)).transpose(0, 3, 1, 2)
    assert got.shape == exact.shape and got.flags.c_contiguous
    assert_rounded(got, exact, scale, 144, what=f"NCHW conv2d, {padding}")
    g = rng.standard_normal(got.shape).astype(np.float32)
    dx = nb.conv2d_backprop_input(w, g, x.shape, **attrs)
    dw = nb.conv2d_backprop_filter(x, g, w.shape, **attrs)
    numpy_path()
    np.testing.assert_allclose(dx, nb.conv2d_backprop_input(w, g, x.shape, **attrs),
                               rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(dw, nb.conv2d_backprop_filter(x, g, w.shape, **attrs),
                               rtol=1e-5, atol=1e-3)


def test_fallback_groups(spy):
    rng = _rng("groups")
    x = rng.standard_normal((2, 7, 8, 32)).astype(np.float32)
    w = rng.standard_normal((3, 3, 16, 32)).astype(np.float32)
    got = nb.conv2d(x, w, **CONV_SAME)
    g = rng.standard_normal(got.shape).astype(np.float32)
    dw = nb.conv2d_backprop_filter(x, g, w.shape, **CONV_SAME)
    dx = nb.conv2d_backprop_input(w, g, x.shape, **CONV_SAME)
    assert spy.conv == spy.filter == 0
    xp = pad64(x, ((1, 1), (1, 1)))
    for k in range(2):  # each half of the channels its own convolution
        xs, ws, gs = xp[..., 16 * k:16 * (k + 1)], w[..., 16 * k:16 * (k + 1)], \
            g[..., 16 * k:16 * (k + 1)]
        assert_rounded(got[..., 16 * k:16 * (k + 1)], conv64(xs, ws, (1, 1), (1, 1)),
                       conv_scale(xs, ws, (1, 1), (1, 1)), 144, what=f"group {k}")
        np.testing.assert_allclose(dw[..., 16 * k:16 * (k + 1)],
                                   filter_grad64(xs, gs, ws.shape, (1, 1), (1, 1)),
                                   rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(
            dx[..., 16 * k:16 * (k + 1)],
            input_grad64(ws, gs, xs.shape, ((1, 1), (1, 1)), (1, 1), (1, 1)),
            rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("padding", ["VALID", "SAME"])
def test_fallback_non_contiguous_views(padding, numpy_path):
    rng = _rng("view", padding)
    base = rng.standard_normal((2, 9, 20, 40)).astype(np.float32)
    x = base[:, :, ::2, 4:20]  # strided columns, a slice of the channels
    w_base = rng.standard_normal((3, 3, 16, 64)).astype(np.float32)
    w = w_base[..., ::2]  # a strided filter
    attrs = dict(strides=(1, 1), padding=padding, dilations=(1, 1), data_format="NHWC")
    pads = pads_of(padding, x.shape[1:3], (3, 3), (1, 1), (1, 1))
    xp = pad64(x, pads)
    got = nb.conv2d(x, w, **attrs)
    assert_rounded(got, conv64(xp, w, (1, 1), (1, 1)), conv_scale(xp, w, (1, 1), (1, 1)),
                   144, what="conv2d of views")
    g_base = rng.standard_normal(got.shape[:3] + (64,)).astype(np.float32)
    g = g_base[..., ::2]
    dw = nb.conv2d_backprop_filter(x, g, w.shape, **attrs)
    dx = nb.conv2d_backprop_input(w, g, x.shape, **attrs)
    exact = filter_grad64(xp, g, w.shape, (1, 1), (1, 1))
    scale = np.sqrt(filter_grad64(np.square(xp), np.square(g, dtype=np.float64), w.shape,
                                  (1, 1), (1, 1)))
    assert_rounded(dw, exact, scale, g[..., 0].size, what="filter gradient of views")
    exact = input_grad64(w, g, xp.shape, pads, (1, 1), (1, 1))
    scale = np.sqrt(input_grad64(np.square(w, dtype=np.float64),
                                 np.square(g, dtype=np.float64), xp.shape, pads, (1, 1),
                                 (1, 1)))
    assert_rounded(dx, exact, scale, 9 * 32, what="input gradient of views")
    assert (base[:, :, ::2, 4:20] == x).all()  # the views were only read


# ---------------------------------------------------------------------------- real Keras


def _cnn(k, first):
    layers = k.layers
    return k.Sequential([
        k.Input((12, 12, 3)),
        layers.Conv2D(first, 3, activation="relu", padding="same"),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(5),
    ])


@pytest.mark.keras_oracle
@pytest.mark.parametrize("first, optimizer", [(16, "sgd"), (32, "adam")])
def test_a_small_cnn_predicts_and_trains_as_keras(first, optimizer, spy):
    from tensorflux import keras
    from tests.keras._oracle import assert_matches, import_keras

    k = import_keras()
    ours, theirs = _cnn(keras, first), _cnn(k, first)
    rng = np.random.default_rng(11)
    weights = [rng.uniform(-0.3, 0.3, w.shape).astype("float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    x = rng.standard_normal((16, 12, 12, 3)).astype("float32")
    y = rng.integers(0, 5, 16)
    assert_matches(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5,
                   atol=1e-5, what="predictions")

    def make(lib):
        # (Adam's default epsilon, 1e-7, turns a gradient element near zero into a step of
        # its sign, which float32 rounding in either library then decides: the NumPy path
        # is off from Keras by 8e-5 there too. 1e-4 keeps the steps smooth.)
        if optimizer == "sgd":
            return lib.optimizers.SGD(0.1)
        return lib.optimizers.Adam(0.01, epsilon=1e-4)
    ours.compile(optimizer=make(keras), loss=keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    theirs.compile(optimizer=make(k), loss=k.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    for step in range(3):
        a = ours.train_on_batch(x, y)
        b = theirs.train_on_batch(x, y)
        assert abs(float(a) - float(b)) <= 1e-5 * max(1.0, abs(float(b))), \
            f"loss at step {step}: {a} != {b}"
    if NATIVE:
        assert spy.conv_runs and spy.filter_runs, "the model did not run the native kernels"
    for i, (a, b) in enumerate(zip(ours.get_weights(), theirs.get_weights())):
        assert_matches(a, b, rtol=1e-4, atol=2e-5, what=f"weight {i} after 3 steps")
    assert_matches(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-4,
                   atol=1e-4, what="predictions after training")
