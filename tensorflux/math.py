"""tf.math: elementwise math, comparisons, logic and reductions."""

from tensorflux import dtypes as _dtypes
from tensorflux.ops._lazy import lazy_attributes
from tensorflux.ops.composite import (
    bincount,
    confusion_matrix,
    in_top_k,
    l2_normalize,
    segment_sum,
    unsorted_segment_max,
    unsorted_segment_mean,
    unsorted_segment_min,
    unsorted_segment_sum,
)
from tensorflux.ops.dispatch import install as _install_dispatch
from tensorflux.ops.math import (
    abs,
    acos,
    add,
    add_n,
    angle,
    asin,
    atan,
    atan2,
    cast,
    ceil,
    clip_by_value,
    complex,
    conj,
    cos,
    cosh,
    divide,
    divide_no_nan,
    equal,
    erf,
    exp,
    expm1,
    floor,
    floordiv,
    floormod,
    greater,
    greater_equal,
    imag,
    invert,
    is_finite,
    is_inf,
    is_nan,
    less,
    less_equal,
    log,
    log1p,
    log_sigmoid,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    maximum,
    minimum,
    mod,
    multiply,
    multiply_no_nan,
    negative,
    not_equal,
    pow,
    real,
    reciprocal,
    reciprocal_no_nan,
    round,
    rsqrt,
    saturate_cast,
    scalar_mul,
    sigmoid,
    sign,
    sin,
    sinh,
    softplus,
    softsign,
    sqrt,
    square,
    squared_difference,
    subtract,
    tan,
    tanh,
    truediv,
    where,
    xlogy,
)
from tensorflux.ops.reduction import (
    argmax,
    argmin,
    count_nonzero,
    cumprod,
    cumsum,
    reduce_all,
    reduce_any,
    reduce_logsumexp,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_prod,
    reduce_std,
    reduce_sum,
    reduce_variance,
    top_k,
)

__all__ = [
    "bincount", "confusion_matrix", "in_top_k", "l2_normalize", "segment_sum",
    "unsorted_segment_max", "unsorted_segment_mean", "unsorted_segment_min",
    "unsorted_segment_sum",
    "abs", "acos", "add", "add_n", "angle", "argmax", "argmin", "asin", "atan", "atan2", "cast",
    "ceil", "clip_by_value", "complex", "conj", "cos", "cosh", "count_nonzero", "cumprod", "cumsum",
    "divide", "divide_no_nan", "equal", "erf", "exp", "expm1", "floor", "floordiv", "floormod",
    "greater", "greater_equal", "imag", "invert", "is_finite", "is_inf", "is_nan", "less",
    "less_equal", "log", "log1p", "log_sigmoid", "logical_and", "logical_not", "logical_or",
    "logical_xor", "maximum", "minimum", "mod", "multiply", "multiply_no_nan", "negative",
    "not_equal", "pow", "real", "reciprocal", "reciprocal_no_nan", "reduce_all", "reduce_any",
    "reduce_logsumexp", "reduce_max", "reduce_mean", "reduce_min", "reduce_prod", "reduce_std",
    "reduce_sum", "reduce_variance", "round", "rsqrt", "saturate_cast", "scalar_mul", "sigmoid",
    "sign", "sin", "sinh", "softplus", "softsign", "sqrt", "square", "squared_difference",
    "subtract", "tan", "tanh", "top_k", "truediv", "where", "xlogy",
]

# Names whose modules load on first use, so that `import tensorflux` stays fast.
_LAZY = {
    **{name: "tensorflux.ops.special" for name in (
        "acosh", "asinh", "atanh", "bessel_i0", "bessel_i0e", "bessel_i1", "bessel_i1e",
        "betainc", "cumulative_logsumexp", "digamma", "erfc", "erfcinv", "erfinv", "igamma",
        "igammac", "lbeta", "lgamma", "ndtri", "nextafter", "polygamma", "zeta")},
    **{name: "tensorflux.ops.math_extra" for name in (
        "accumulate_n", "approx_max_k", "approx_min_k", "invert_permutation",
        "is_non_decreasing", "is_strictly_increasing",
        "polyval", "reduce_euclidean_norm", "rint", "segment_max", "segment_mean",
        "segment_min", "segment_prod", "unsorted_segment_prod", "unsorted_segment_sqrt_n",
        "xdivy", "xlog1py", "zero_fraction")},
    "log_softmax": "tensorflux.ops.nn", "softmax": "tensorflux.ops.nn",
}
__all__ += sorted([*_LAZY, "special"])  # special: a module, loaded by __getattr__
_lazy_getattr, _lazy_dir = lazy_attributes(__name__, _LAZY)


def __getattr__(name):
    # tf.math.special, the namespace of the Bessel functions J, Y, K, dawsn, expint, ...: a
    # module of its own, loaded on first use like the functions above.
    if name == "special":
        import importlib

        module = globals()["special"] = importlib.import_module(
            "tensorflux.ops.special_functions")
        return module
    return _lazy_getattr(name)


def __dir__():
    return sorted(set(_lazy_dir()) | {"special"})


# tf.dtypes offers these casts too; dtypes.py imports no ops (tests/test_architecture.py), so
# the namespace receives them here, where tf.math is put together.
_dtypes.cast, _dtypes.complex, _dtypes.saturate_cast = cast, complex, saturate_cast

# tf.math.abs(rt), tf.math.not_equal(rt, ...) take RaggedTensors, as TensorFlow dispatches them.
_install_dispatch(globals())
