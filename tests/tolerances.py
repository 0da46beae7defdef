"""The one tolerance table every numeric test uses (see shared/reference/reliability.md 1.6)."""

import numpy as np

# (rtol, atol) for comparing a forward result in this dtype against a float64 NumPy reference.
FORWARD = {
    "float16": (1e-3, 1e-3),
    "bfloat16": (1.6e-2, 1e-2),
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
    "complex64": (1.3e-6, 1e-5),
    "complex128": (1e-7, 1e-7),
}
# Central finite differences in float64 (PyTorch gradcheck's defaults).
FD_EPS = 1e-6
GRAD = (1e-3, 1e-5)  # (rtol, atol)


def central_difference(fn, x, eps=FD_EPS):
    """d fn / d x by central differences: for each element of the array `x` in turn,
    (fn(x + eps there) - fn(x - eps there)) / (2 eps); `fn` gives a scalar. The steps are taken
    in x's own dtype (pass float64 for the usual reference)."""
    x = np.asarray(x)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += eps
        down[index] -= eps
        grad[index] = (fn(up) - fn(down)) / (2 * eps)
    return grad


def assert_close(actual, expected, dtype="float64", rtol=None, atol=None, what="value"):
    """Compares with the dtype's tolerance; the message gives the count and worst mismatch."""
    default_rtol, default_atol = FORWARD.get(str(dtype), (1e-7, 1e-7))
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape {actual.shape} != expected {expected.shape}")
    if actual.dtype.kind in "biu" and expected.dtype.kind in "biu":
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    a = actual.astype(np.complex128 if actual.dtype.kind == "c" else np.float64)
    e = expected.astype(np.complex128 if expected.dtype.kind == "c" else np.float64)
    same_nonfinite = (np.isnan(a) & np.isnan(e)) | ((a == e) & ~np.isfinite(e))
    diff = np.abs(a - e)
    bad = ~(diff <= atol + rtol * np.abs(e)) & ~same_nonfinite
    if bad.any():
        count = int(bad.sum())
        worst = np.unravel_index(np.argmax(np.where(bad, diff, -1)), a.shape) if a.ndim else ()
        rel = diff[worst] / max(abs(e[worst]), 1e-300)
        raise AssertionError(
            f"{what}: {count} of {a.size} elements ({100 * count / max(a.size, 1):.1f}%) differ "
            f"beyond rtol={rtol}, atol={atol}; greatest absolute difference {diff[worst]:.3e} "
            f"(relative {rel:.3e}) at index {worst}: got {a[worst]}, expected {e[worst]}")


def assert_same_bits(actual, expected, what="value", nan_bits=True):
    """Bitwise equality of two arrays of one dtype and shape, the sign of zero and NaN
    payloads included; with nan_bits False, a NaN where the other has a NaN, of any sign or
    payload (where two NaNs meet, NumPy's loops give either). The message gives the count
    and the first difference."""
    a, b = np.asarray(actual), np.asarray(expected)
    assert a.dtype == b.dtype and a.shape == b.shape, (
        f"{what}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}")

    def bytes_of(x):
        return np.ascontiguousarray(x).view(np.uint8).reshape(x.shape + (x.itemsize,))
    differ = (bytes_of(a) != bytes_of(b)).any(axis=-1)
    if not nan_bits and a.dtype.kind in "fc":
        nan = np.isnan(a)
        assert np.array_equal(nan, np.isnan(b)), f"{what}: NaN in other places"
        differ &= ~nan
    if differ.any():
        first = tuple(np.argwhere(differ)[0])
        raise AssertionError(f"{what}: {np.count_nonzero(differ)} of {a.size} differ, first at "
                             f"{first}: {a[first]!r} vs {b[first]!r}")
