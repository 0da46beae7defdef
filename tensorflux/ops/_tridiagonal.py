"""tf.linalg.tridiagonal_solve's solvers as TF 2.21's CPU kernel runs them
(tensorflow/core/kernels/linalg/tridiagonal_solve_op.cc), on host values in plain Python:

- partial_pivoting=False: the Thomas algorithm; a zero pivot fills the solution with NaN
  (TF logs "The matrix is either not invertible, or requires pivoting" and does the same);
- the default, used here for a singular matrix only (see linalg_extra.tridiagonal_solve):
  row-pivoted elimination whose zero pivot fills the solution with NaN, as TF's;
- perturb_singular=True: a row-pivoted LU in LAPACK's xLAGTF/xLAGTS manner whose tiny pivots
  are nudged (by eps * max|U|, doubled until the division is safe) instead of failing, so a
  singular matrix gives a large but finite answer (inverse iteration for eigenvectors).

Each system is solved in float64 (complex128) Python arithmetic; the dtype's eps, tiny and
largest values set the perturbation, so float32 results agree with TF's to float32 rounding.
These are slow paths for rare cases; the default solve of a regular matrix stays a dense
pivoted solve.
"""

import math

__all__ = ["solve_batch"]

# (eps, smallest normal, largest finite) per real dtype name
_LIMITS = {
    "float16": (2.0 ** -10, 2.0 ** -14, 65504.0),
    "bfloat16": (2.0 ** -7, 2.0 ** -126, 3.3895313892515355e38),
    "float32": (2.0 ** -23, 2.0 ** -126, 3.4028234663852886e38),
    "float64": (2.0 ** -52, 2.2250738585072014e-308, 1.7976931348623157e308),
}


def _real(value):
    return value.real if isinstance(value, complex) else value


def _thomas(sup, dia, sub, rhs):
    """x for one system by the Thomas algorithm; None where a pivot is zero."""
    n = len(dia)
    if dia[0] == 0:
        return None
    u = [0.0] * n
    x = [list(row) for row in rhs]
    u[0] = sup[0] / dia[0]
    x[0] = [v / dia[0] for v in rhs[0]]
    for i in range(1, n):
        denom = dia[i] - sub[i] * u[i - 1]
        if denom == 0:
            return None
        u[i] = sup[i] / denom
        x[i] = [(r - sub[i] * p) / denom for r, p in zip(rhs[i], x[i - 1])]
    for i in range(n - 2, -1, -1):
        x[i] = [a - u[i] * b for a, b in zip(x[i], x[i + 1])]
    return x


def _pivoted(sup, dia, sub, rhs):
    """x for one system by TF's row-pivoted elimination (LAPACK's gtsv order); None where
    a pivot is zero."""
    n = len(dia)
    if n == 1:
        return None if dia[0] == 0 else [[v / dia[0] for v in rhs[0]]]
    u = [[0.0, 0.0, 0.0] for _ in range(n)]
    x = [list(row) for row in rhs]
    u[0][0], u[0][1] = dia[0], sup[0]
    for i in range(n - 1):
        if abs(u[i][0]) >= abs(sub[i + 1]):
            if u[i][0] == 0:
                return None
            factor = sub[i + 1] / u[i][0]
            u[i + 1][0] = dia[i + 1] - factor * u[i][1]
            x[i + 1] = [r - factor * p for r, p in zip(rhs[i + 1], x[i])]
            if i != n - 2:
                u[i + 1][1] = sup[i + 1]
                u[i][2] = 0.0
        else:
            factor = u[i][0] / sub[i + 1]
            u[i][0] = sub[i + 1]
            u[i + 1][0] = u[i][1] - factor * dia[i + 1]
            u[i][1] = dia[i + 1]
            x[i + 1] = [p - factor * r for p, r in zip(x[i], rhs[i + 1])]
            x[i] = list(rhs[i + 1])
            if i != n - 2:
                u[i][2] = sup[i + 1]
                u[i + 1][1] = -factor * sup[i + 1]
    if u[n - 1][0] == 0:
        return None
    x[n - 1] = [v / u[n - 1][0] for v in x[n - 1]]
    x[n - 2] = [(a - u[n - 2][1] * b) / u[n - 2][0] for a, b in zip(x[n - 2], x[n - 1])]
    for i in range(n - 3, -1, -1):
        x[i] = [(a - u[i][1] * b - u[i][2] * c) / u[i][0]
                for a, b, c in zip(x[i], x[i + 1], x[i + 2])]
    return x


def _perturbed_pivot(perturb, pivot, row, limits):
    """TF's MaybePerturbPivot: (pivot, row) so that row / pivot cannot overflow."""
    eps, tiny, largest = limits
    safemin = tiny if 1.0 / largest < tiny else (1.0 + eps) * (1.0 / largest)
    bignum = 1.0 / safemin
    size = abs(pivot)
    if size >= 1:
        return pivot, row
    perturb = math.copysign(max(abs(perturb), safemin), _real(pivot))
    peak = max(abs(v) for v in row) if row else 0.0
    while size < 1:
        if size < safemin:
            if size == 0 or peak * safemin > size:
                pivot += perturb
                perturb *= 2
            else:
                return pivot * bignum, [v * bignum for v in row]
        elif peak > size * bignum:
            pivot += perturb
            perturb *= 2
        else:
            break
        size = abs(pivot)
    return pivot, row


def _perturbed(sup, dia, sub, rhs, limits):
    """x for one system by TF's pivoted LU with perturbed singular pivots."""
    eps = limits[0]
    n = len(dia)
    if n == 1:
        pivot, row = _perturbed_pivot(eps * abs(dia[0]), dia[0], list(rhs[0]), limits)
        return [[v * (1 / pivot) for v in row]]
    u = [[0.0, 0.0, 0.0] for _ in range(n)]
    x = [list(row) for row in rhs]
    u[0][0], u[0][1] = dia[0], sup[0]
    largest_u = max(abs(u[0][0]), abs(u[0][1]))
    scale1 = abs(u[0][0]) + abs(u[0][1])
    for k in range(n - 1):
        u[k + 1][0] = dia[k + 1]
        scale2 = abs(sub[k + 1]) + abs(u[k + 1][0])
        if k < n - 2:
            scale2 += abs(sup[k + 1])
        if sub[k + 1] == 0:
            scale1 = scale2
            u[k + 1][1] = sup[k + 1]
            u[k][2] = 0.0
            x[k + 1] = list(rhs[k + 1])
        else:
            piv1 = 0.0 if u[k][0] == 0 else abs(u[k][0]) / scale1
            piv2 = abs(sub[k + 1]) / scale2
            if piv2 <= piv1:
                scale1 = scale2
                factor = sub[k + 1] / u[k][0]
                u[k + 1][0] = dia[k + 1] - factor * u[k][1]
                u[k + 1][1] = sup[k + 1]
                u[k][2] = 0.0
                x[k + 1] = [r - factor * p for r, p in zip(rhs[k + 1], x[k])]
            else:
                factor = u[k][0] / sub[k + 1]
                u[k][0] = sub[k + 1]
                u[k + 1][0] = u[k][1] - factor * dia[k + 1]
                u[k][1] = dia[k + 1]
                if k < n - 2:
                    u[k][2] = sup[k + 1]
                    u[k + 1][1] = -factor * sup[k + 1]
                x[k + 1] = [p - factor * r for p, r in zip(x[k], rhs[k + 1])]
                x[k] = list(rhs[k + 1])
        if k < n - 2:
            largest_u = max(largest_u, *(abs(v) for v in u[k]))
    largest_u = max(largest_u, abs(u[n - 1][0]))
    tol = eps * largest_u
    pivot, row = _perturbed_pivot(tol, u[n - 1][0], x[n - 1], limits)
    x[n - 1] = [v * (1 / pivot) for v in row]
    row = [a - u[n - 2][1] * b for a, b in zip(x[n - 2], x[n - 1])]
    pivot = u[n - 2][0]
    pivot, row = _perturbed_pivot(math.copysign(tol, _real(pivot)), pivot, row, limits)
    x[n - 2] = [v * (1 / pivot) for v in row]
    for k in range(n - 3, -1, -1):
        row = [a - u[k][1] * b - u[k][2] * c for a, b, c in zip(x[k], x[k + 1], x[k + 2])]
        pivot = u[k][0]
        pivot, row = _perturbed_pivot(math.copysign(tol, _real(pivot)), pivot, row, limits)
        x[k] = [v * (1 / pivot) for v in row]
    return x


def solve_batch(sup, dia, sub, rhs, dtype_name, method):
    """Solutions for nested lists: sup/dia/sub [..., M], rhs [..., M, K]; the batch dims
    are walked by recursion. `dtype_name` is the real dtype ('float32' for complex64);
    `method` 'perturb', 'thomas' or 'pivot'."""
    if dia and isinstance(dia[0], list):
        return [solve_batch(a, b, c, d, dtype_name, method)
                for a, b, c, d in zip(sup, dia, sub, rhs)]
    if not dia:
        return []
    if method == "perturb":
        return _perturbed(sup, dia, sub, rhs, _LIMITS[dtype_name])
    x = (_thomas if method == "thomas" else _pivoted)(sup, dia, sub, rhs)
    if x is None:
        # TF fills with numeric_limits<Scalar>::quiet_NaN(), which for std::complex is
        # not specialised and gives 0: a complex system that fails is all zeros there.
        fill = 0j if isinstance(dia[0], complex) else math.nan
        return [[fill] * len(row) for row in rhs]
    return x
