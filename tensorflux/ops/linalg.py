"""Linear algebra (tf.linalg and tf.matmul): matmul, tensordot, einsum, det, inv, norm, ..."""

import string

from tensorflux import dtypes, errors
from tensorflux.context import context
from tensorflux.ops import array, math, reduction
from tensorflux.ops._core import (
    as_operand,
    aval,
    binary_operands,
    broadcast_shapes,
    normalize_axis,
    unchanged,
)
from tensorflux.ops._static import host
from tensorflux.primitive import Primitive, _new_tensor
from tensorflux.tensor import Tensor, _TensorLike, convert_to_tensor

__all__ = ["matmul", "transpose", "matrix_transpose", "adjoint", "tensordot", "einsum", "norm",
           "det", "inv", "trace", "diag", "diag_part"]


def _matrices(op, x, square=False, allowed="is_numeric"):
    """x as a tensor of rank >= 2 ([..., M, N]; M == N when `square`), or an error."""
    x = as_operand(op, x)
    if not getattr(x.dtype, allowed):
        raise errors.InvalidArgumentError(
            f"{op}: unsupported dtype {x.dtype.name} (shape {tuple(x.shape)})", op)
    shape = tuple(x.shape)
    if len(shape) < 2:
        raise errors.InvalidArgumentError(
            f"{op}: expected a tensor of rank >= 2 (matrices [..., M, N]), received shape "
            f"{shape}", op)
    if square and None not in shape[-2:] and shape[-1] != shape[-2]:
        raise errors.InvalidArgumentError(
            f"{op}: expected square matrices (shape [..., M, M]), received shape {shape}", op)
    return x


def _product(dims):
    total = 1
    for d in dims:
        total *= d
    return total


# ------------------------------------------------------------------ matmul

def _matmul_rule(a, b, transpose_a, transpose_b):
    sa, sb = list(a.shape), list(b.shape)
    m = sa[-1] if transpose_a else sa[-2]
    n = sb[-2] if transpose_b else sb[-1]
    batch = broadcast_shapes("matmul", sa[:-2], sb[:-2])
    return aval(list(batch) + [m, n], a.dtype)


def _matmul_vjp(g, a, b, out, transpose_a, transpose_b):
    # With A = op(a), B = op(b): dA = g B^H, dB = A^H g; then undo each op. Broadcast batch
    # dims come back with the broadcast shape; the walker sums them to each input's shape.
    sa = tuple(a.shape)
    if len(sa) > 2 and len(tuple(b.shape)) == 2 and not transpose_a and sa[-1] is not None \
            and tuple(g.shape)[-1] is not None:
        # rows (of any batch shape) times one matrix, as in Dense or an RNN's input
        # projection: the matrix's cotangent is one GEMM over all rows, not a batched
        # product summed over the batch afterwards
        rows = array.reshape(a, [-1, sa[-1]])
        g_rows = array.reshape(g, [-1, tuple(g.shape)[-1]])
        ga = matmul(g, b, transpose_b=not transpose_b)
        gb = (matmul(g_rows, rows, transpose_a=True) if transpose_b
              else matmul(rows, g_rows, transpose_a=True))
        if a.dtype.is_complex:
            ga, gb = math.conj(ga), math.conj(gb)
        return ga, gb
    if transpose_a:
        ga = matmul(b, g, transpose_a=transpose_b, transpose_b=True)
    else:
        ga = matmul(g, b, transpose_b=not transpose_b)
    if transpose_b:
        gb = matmul(g, a, transpose_a=True, transpose_b=transpose_a)
    else:
        gb = matmul(a, g, transpose_a=not transpose_a)
    if a.dtype.is_complex:
        ga, gb = math.conj(ga), math.conj(gb)
    return ga, gb


# matmul: batched matrix product with optional transposes (batch dims broadcast).
_matmul = Primitive("matmul", vjp=_matmul_vjp, shape_rule=_matmul_rule)


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False,
           a_is_sparse=False, b_is_sparse=False, output_type=None, name=None):
    """The matrix product of the last two dims of a and b; leading dims broadcast.

    >>> import tensorflux as tf
    >>> tf.matmul([[1.0, 2.0]], [[3.0], [4.0]]).numpy().tolist()
    [[11.0]]
    """
    if (a.__class__ is Tensor and b.__class__ is Tensor
            and not (transpose_a or transpose_b or adjoint_a or adjoint_b)):
        # Eager fast path (see Primitive.__init__): two matrices of one numeric dtype.
        if _matmul._backend is context.eager_backend and not context.tapes:
            va, vb = a._value, b._value
            if (va.dtype is vb.dtype and va.ndim >= 2 and vb.ndim >= 2
                    and va.dtype.kind in "iufc"):
                try:
                    value = _matmul._kernel_fn(va, vb, False, False)
                except Exception:  # noqa: BLE001 - the checks below explain the error
                    pass
                else:
                    out = _new_tensor(Tensor)
                    out._value = value
                    return out
    a, b = binary_operands("matmul", a, b)
    if adjoint_a:
        a, transpose_a = math.conj(a), not transpose_a
    if adjoint_b:
        b, transpose_b = math.conj(b), not transpose_b
    if a.__class__ is Tensor and b.__class__ is Tensor:  # eager: raw shapes, no TensorShape
        sa, sb = a._value.shape, b._value.shape
        numeric = a._value.dtype.kind in "iufc" or a.dtype.kind in "iufc"
    else:
        sa, sb = tuple(a.shape), tuple(b.shape)
        numeric = a.dtype.kind in "iufc"
    if len(sa) < 2 or len(sb) < 2:
        raise errors.InvalidArgumentError(
            f"matmul: both inputs must have rank >= 2, received shapes {sa} and {sb}", "matmul")
    if not numeric:
        raise errors.InvalidArgumentError(f"matmul: unsupported dtype {a.dtype.name}", "matmul")
    k_a = sa[-2] if transpose_a else sa[-1]
    k_b = sb[-1] if transpose_b else sb[-2]
    if k_a is not None and k_b is not None and k_a != k_b:
        raise errors.InvalidArgumentError(
            f"matmul: inner dimensions differ: a has shape {sa}"
            f"{' (transposed)' if transpose_a else ''} and b has shape {sb}"
            f"{' (transposed)' if transpose_b else ''}; {k_a} != {k_b}", "matmul")
    if len(sa) > 2 and len(sb) > 2:
        broadcast_shapes("matmul", sa[:-2], sb[:-2])
    return _matmul.bind(a, b, transpose_a=bool(transpose_a), transpose_b=bool(transpose_b))


# ------------------------------------------------------------------ transposes

def _inverse_permutation(perm):
    return tuple(perm.index(i) for i in range(len(perm)))


def _transpose_rule(x, perm):
    return aval([x.shape[p] for p in perm], x.dtype)


# transpose: permutes the axes; the cotangent goes back through the inverse permutation.
_transpose = Primitive("transpose", shape_rule=_transpose_rule, aliases=True,
                       vjp=lambda g, x, out, perm: (
                           _transpose.bind(g, perm=_inverse_permutation(perm)),))


def transpose(a, perm=None, conjugate=False, name="transpose"):
    """Permutes the axes of `a` (reverses them when perm is None).

    >>> import tensorflux as tf
    >>> tf.transpose([[1, 2, 3]]).numpy().tolist()
    [[1], [2], [3]]
    """
    a = as_operand("transpose", a)
    rank = a.shape.rank
    if perm is None:
        perm = tuple(reversed(range(rank)))
    else:
        if isinstance(perm, _TensorLike):
            perm = host("transpose", perm, "perm").tolist()
        try:
            perm = tuple(int(p) for p in perm)
        except (TypeError, ValueError) as error:
            raise errors.InvalidArgumentError(
                f"transpose: perm must be a list of ints, received {perm!r}",
                "transpose") from error
        if sorted(perm) != list(range(rank)):
            raise errors.InvalidArgumentError(
                f"transpose: perm {list(perm)} is not a permutation of the axes of a tensor of "
                f"rank {rank} (shape {tuple(a.shape)})", "transpose")
    if conjugate:
        a = math.conj(a)
    if perm == tuple(range(rank)):
        return unchanged(a)
    return _transpose.bind(a, perm=perm)


def matrix_transpose(a, name="matrix_transpose", conjugate=False):
    """Swaps the last two axes of a tensor of rank >= 2.

    >>> import tensorflux as tf
    >>> tf.linalg.matrix_transpose([[1, 2], [3, 4]]).numpy().tolist()
    [[1, 3], [2, 4]]
    """
    a = as_operand("matrix_transpose", a)
    rank = a.shape.rank
    if rank < 2:
        raise errors.InvalidArgumentError(
            f"matrix_transpose: expected a tensor of rank >= 2, received shape "
            f"{tuple(a.shape)}", "matrix_transpose")
    return transpose(a, list(range(rank - 2)) + [rank - 1, rank - 2], conjugate=conjugate)


def adjoint(matrix, name=None):
    """The conjugate transpose of the last two axes.

    >>> import tensorflux as tf
    >>> tf.linalg.adjoint([[1 + 1j, 2j]]).numpy().tolist()
    [[(1-1j)], [-2j]]
    """
    return matrix_transpose(matrix, conjugate=True)


# ------------------------------------------------------------------ tensordot

def _tensordot_axes(a, b, axes):
    ra, rb = a.shape.rank, b.shape.rank
    if isinstance(axes, _TensorLike):
        axes = host("tensordot", axes, "axes").tolist()
    if isinstance(axes, int):
        if not 0 <= axes <= min(ra, rb):
            raise errors.InvalidArgumentError(
                f"tensordot: axes={axes} must be in [0, {min(ra, rb)}] for shapes "
                f"{tuple(a.shape)} and {tuple(b.shape)}", "tensordot")
        return list(range(ra - axes, ra)), list(range(axes))
    if not isinstance(axes, (list, tuple)) or len(axes) != 2:
        raise errors.InvalidArgumentError(
            f"tensordot: axes must be an int or a pair of axis lists, received {axes!r}",
            "tensordot")
    a_axes, b_axes = ([x] if isinstance(x, int) else list(x) for x in axes)
    a_axes = [normalize_axis("tensordot", x, ra) for x in a_axes]
    b_axes = [normalize_axis("tensordot", x, rb) for x in b_axes]
    if len(a_axes) != len(b_axes) or len(set(a_axes)) != len(a_axes) \
            or len(set(b_axes)) != len(b_axes):
        raise errors.InvalidArgumentError(
            f"tensordot: axes {axes!r} must be two lists of distinct axes of equal length",
            "tensordot")
    return a_axes, b_axes


def tensordot(a, b, axes, name=None):
    """Sums the products of a and b over the given axes (an int N: a's last N with b's first N).

    >>> import tensorflux as tf
    >>> tf.tensordot([[1.0, 2.0], [3.0, 4.0]], [1.0, 1.0], axes=1).numpy().tolist()
    [3.0, 7.0]
    """
    a, b = binary_operands("tensordot", a, b)
    a_axes, b_axes = _tensordot_axes(a, b, axes)
    sa, sb = list(a.shape), list(b.shape)
    if any(sa[i] != sb[j] for i, j in zip(a_axes, b_axes)):
        raise errors.InvalidArgumentError(
            f"tensordot: contracted dimensions differ: axes {a_axes} of shape {tuple(sa)} and "
            f"axes {b_axes} of shape {tuple(sb)}", "tensordot")
    free_a = [i for i in range(len(sa)) if i not in a_axes]
    free_b = [i for i in range(len(sb)) if i not in b_axes]
    inner = _product(sa[i] for i in a_axes)
    a2 = array.reshape(transpose(a, free_a + a_axes), [_product(sa[i] for i in free_a), inner])
    b2 = array.reshape(transpose(b, b_axes + free_b), [inner, _product(sb[i] for i in free_b)])
    return array.reshape(matmul(a2, b2), [sa[i] for i in free_a] + [sb[i] for i in free_b])


# ------------------------------------------------------------------ einsum

def _einsum_error(message):
    return errors.InvalidArgumentError(f"einsum: {message}", "einsum")


def _explicit_equation(equation, shapes):
    """The equation with '...' replaced by letters and the output written out ('ab,bc->ac')."""
    if not isinstance(equation, str):
        raise _einsum_error(f"the equation must be a string, received {equation!r}")
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise _einsum_error(f"equation {equation!r} names {len(terms)} operands, received "
                            f"{len(shapes)}")
    spare = [c for c in string.ascii_letters if c not in eq]
    widths = []
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        letters = term.replace("...", "")
        if term.count("...") > 1 or not all(c in string.ascii_letters for c in letters):
            raise _einsum_error(f"bad subscripts {term!r} in {equation!r}")
        width = len(shape) - len(letters)
        if width < 0 or (width > 0 and "..." not in term):
            raise _einsum_error(f"operand {i} has subscripts {term!r} but shape {tuple(shape)}")
        widths.append(width)
    ellipsis = "".join(spare[:max(widths, default=0)])
    terms = [t.replace("...", ellipsis[len(ellipsis) - w:]) for t, w in zip(terms, widths)]
    if arrow:
        if rhs.count("...") > 1 or any(c not in lhs for c in rhs.replace("...", "")) \
                or len(set(rhs.replace("...", ""))) != len(rhs.replace("...", "")):
            raise _einsum_error(f"bad output subscripts {rhs!r} in {equation!r}")
        rhs = rhs.replace("...", ellipsis)
    else:
        joined = "".join(terms)
        rhs = ellipsis + "".join(sorted(c for c in set(joined)
                                        if joined.count(c) == 1 and c not in ellipsis))
    return ",".join(terms) + "->" + rhs


def _label_sizes(terms, shapes):
    """Each label's size (size-1 dims broadcast), or InvalidArgumentError on a mismatch."""
    sizes = {}
    for term, shape in zip(terms, shapes):
        for c, d in zip(term, shape):
            known = sizes.get(c, 1)
            if d is None or d == 1 or known == d:
                continue
            if known not in (1, None):
                raise _einsum_error(f"subscript {c!r} has sizes {known} and {d} (shapes "
                                    f"{[tuple(s) for s in shapes]})")
            sizes[c] = d
        for c, d in zip(term, shape):
            if d is None and sizes.get(c, 1) == 1:
                sizes[c] = None
            sizes.setdefault(c, d)
    return sizes


def _einsum_rule(*xs, equation):
    lhs, _, rhs = equation.partition("->")
    sizes = _label_sizes(lhs.split(","), [list(x.shape) for x in xs])
    return aval([sizes[c] for c in rhs], xs[0].dtype)


def _eye(n, dtype):
    return array.one_hot(convert_to_tensor(list(range(n)), dtype=dtypes.int32), n, dtype=dtype)


def _einsum_vjp(g, *operands, out, equation):
    # The cotangent of operand i is an einsum of g with the other operands, producing
    # operand i's subscripts. A label repeated in operand i (a diagonal) gets a fresh letter
    # tied to it by an identity matrix; a label only operand i has (summed there alone) gets
    # a vector of ones, which broadcasts g along it.
    lhs, _, rhs = equation.partition("->")
    terms = lhs.split(",")
    sizes = _label_sizes(terms, [list(x.shape) for x in operands])
    spare = [c for c in string.ascii_letters if c not in equation]
    grads = []
    for i, (term, x) in enumerate(zip(terms, operands)):
        if not x.dtype.is_differentiable:
            grads.append(None)
            continue
        subs = [rhs] + [t for j, t in enumerate(terms) if j != i]
        ops = [g] + [math.conj(o) for j, o in enumerate(operands) if j != i]
        target = ""
        for c in term:
            if c in target:
                fresh = spare.pop()
                subs.append(c + fresh)
                ops.append(_eye(sizes[c], x.dtype))
                c = fresh
            target += c
        present = "".join(subs)
        for c in target:
            if c not in present:
                subs.append(c)
                ops.append(array.ones([sizes[c]], dtype=x.dtype))
        grads.append(_einsum.bind(*ops, equation=",".join(subs) + "->" + target))
    return tuple(grads)


# einsum: a primitive so that one backend call (with NumPy's contraction-order optimizer)
# does the whole contraction; its gradient is an einsum again, so it nests to any order.
_einsum = Primitive("einsum", vjp=_einsum_vjp, shape_rule=_einsum_rule,
                    aliases=True)


def einsum(equation, *inputs, **kwargs):
    """Einstein summation: 'ij,jk->ik' is a matrix product; implicit form and '...' work.

    >>> import tensorflux as tf
    >>> tf.einsum("ij,j->i", [[1.0, 2.0], [3.0, 4.0]], [1.0, 1.0]).numpy().tolist()
    [3.0, 7.0]
    """
    if not inputs:
        raise _einsum_error("expected at least one operand")
    first = as_operand("einsum", inputs[0])
    operands = [first] + [binary_operands("einsum", first, x)[1] for x in inputs[1:]]
    if first.dtype.is_bool or first.dtype.kind == "S":
        raise _einsum_error(f"unsupported dtype {first.dtype.name}")
    shapes = [list(x.shape) for x in operands]
    explicit = _explicit_equation(equation, shapes)
    _label_sizes(explicit.partition("->")[0].split(","), shapes)
    return _einsum.bind(*operands, equation=explicit)


# ------------------------------------------------------------------ norms

_VECTOR_ORDS = "'euclidean', 1, 2, inf or any real p > 0"


def _is_real_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _safe_sqrt(s):
    # The double where keeps sqrt's infinite slope at 0 out of the gradient: the norm of a
    # zero vector gets the subgradient 0 (TensorFlow gives NaN there).
    positive = math.greater(s, array.zeros_like(s))
    root = math.sqrt(math.where(positive, s, array.ones_like(s)))
    return math.where(positive, root, array.zeros_like(s))


def _sum_of_squares(x, axes, keepdims):
    squares = (math.square(math.real(x)) + math.square(math.imag(x)) if x.dtype.is_complex
               else math.square(x))
    return reduction.reduce_sum(squares, axes, keepdims=keepdims)


def _vector_norm(x, ord, axes, keepdims):  # noqa: A002 - TensorFlow's argument name
    if ord in ("euclidean", 2):
        return _safe_sqrt(_sum_of_squares(x, axes, keepdims))
    magnitude = math.abs(x)
    if ord == 1:
        return reduction.reduce_sum(magnitude, axes, keepdims=keepdims)
    if ord == float("inf"):
        return reduction.reduce_max(magnitude, axes, keepdims=keepdims)
    total = reduction.reduce_sum(math.pow(magnitude, float(ord)), axes, keepdims=keepdims)
    return math.pow(total, 1.0 / ord)


def _matrix_norm(x, ord, axes, keepdims):  # noqa: A002
    rows, cols = axes
    if ord in ("euclidean", "fro"):
        return _safe_sqrt(_sum_of_squares(x, tuple(sorted(axes)), keepdims))
    if ord == 2:
        raise errors.UnimplementedError(
            "norm: the spectral matrix norm (ord=2, the largest singular value) is not "
            "supported; use ord='fro', 1 or inf", "norm")
    # ord 1: the largest column sum of |x|; ord inf: the largest row sum.
    summed, maxed = (rows, cols) if ord == 1 else (cols, rows)
    magnitude = math.abs(x)
    result = reduction.reduce_max(reduction.reduce_sum(magnitude, summed, keepdims=True),
                                  maxed, keepdims=True)
    if keepdims:
        return result
    return array.reshape(result, [d for i, d in enumerate(x.shape) if i not in axes])


def norm(tensor, ord="euclidean", axis=None, keepdims=None, name=None):  # noqa: A002
    """Vector norms (axis None or an int) and matrix norms (axis a pair), as TensorFlow.

    >>> import tensorflux as tf
    >>> tf.norm([3.0, 4.0]).numpy().tolist()
    5.0
    """
    x = as_operand("norm", tensor)
    if not x.dtype.is_differentiable:
        raise errors.InvalidArgumentError(
            f"norm: expected a floating-point or complex tensor, received dtype "
            f"{x.dtype.name} with shape {tuple(x.shape)}", "norm")
    rank = x.shape.rank
    keepdims = bool(keepdims)
    if isinstance(axis, _TensorLike):
        axis = host("norm", axis, "axis").tolist()
    if isinstance(axis, (list, tuple)) and len(axis) == 2:
        axes = tuple(normalize_axis("norm", a, rank) for a in axis)
        if axes[0] == axes[1]:
            raise errors.InvalidArgumentError(
                f"norm: a matrix norm needs two distinct axes, received {list(axis)}", "norm")
        if ord not in ("euclidean", "fro", 1, 2, float("inf")):
            raise errors.InvalidArgumentError(
                f"norm: ord must be 'euclidean', 'fro', 1, 2 or inf for a matrix norm, received "
                f"{ord!r}", "norm")
        return _matrix_norm(x, ord, axes, keepdims)
    if axis is not None and not isinstance(axis, int):
        raise errors.InvalidArgumentError(
            f"norm: axis must be None, an int, or a pair of distinct ints, received {axis!r}",
            "norm")
    if ord != "euclidean" and not (_is_real_number(ord) and ord > 0):
        raise errors.InvalidArgumentError(
            f"norm: ord must be {_VECTOR_ORDS} for a vector norm, received {ord!r}", "norm")
    axes = tuple(range(rank)) if axis is None else (normalize_axis("norm", axis, rank),)
    return _vector_norm(x, ord, axes, keepdims)


# ------------------------------------------------------------------ determinant and inverse

def _batch_rule(x):
    return aval(list(x.shape)[:-2], x.dtype)


def _det_vjp(g, x, out):
    # d det(x) / dx = det(x) inv(x)^T; conjugated for complex inputs.
    scale = array.reshape(g * math.conj(out), list(g.shape) + [1, 1])
    return (scale * adjoint(inv(x)),)


# det: the determinant of each matrix (LU in the backend).
_det = Primitive("matrix_determinant", vjp=_det_vjp, shape_rule=_batch_rule)


def det(input, name=None):  # noqa: A002 - TensorFlow's argument name
    """The determinant of each square matrix of a [..., M, M] tensor.

    >>> import tensorflux as tf
    >>> tf.linalg.det([[2.0, 0.0], [0.0, 3.0]]).numpy().tolist()
    6.0
    """
    x = _matrices("det", input, square=True, allowed="is_differentiable")
    return _det.bind(x)


def _inv_vjp(g, x, out):
    # d(x^-1) = -x^-1 dx x^-1, so the cotangent is -inv^H g inv^H.
    return (math.negative(matmul(out, matmul(g, out, adjoint_b=True), adjoint_a=True)),)


# inv: the inverse of each matrix; a singular matrix is an InvalidArgumentError.
_inv = Primitive("matrix_inverse", vjp=_inv_vjp, shape_rule=lambda x: aval(x.shape, x.dtype))


def inv(input, adjoint=False, name=None):  # noqa: A002
    """The inverse of each square matrix (of its adjoint when adjoint=True).

    >>> import tensorflux as tf
    >>> tf.linalg.inv([[2.0, 0.0], [0.0, 4.0]]).numpy().tolist()
    [[0.5, 0.0], [0.0, 0.25]]
    """
    x = _matrices("inv", input, square=True, allowed="is_differentiable")
    result = _inv.bind(x)
    return matrix_transpose(result, conjugate=True) if adjoint else result


# ------------------------------------------------------------------ diagonals

def _diag_length(rows, cols, k):
    if rows is None or cols is None:
        return None
    return max(0, min(rows + min(k, 0), cols - max(k, 0)))


def _diag_part_rule(x, k):
    shape = list(x.shape)
    return aval(shape[:-2] + [_diag_length(shape[-2], shape[-1], k)], x.dtype)


def _diag_rule(d, k, num_rows, num_cols, padding_value):
    return aval(list(d.shape)[:-1] + [num_rows, num_cols], d.dtype)


# matrix_diag_part / matrix_diag: the k-th diagonal of each matrix, and the matrix with a
# given k-th diagonal (padding elsewhere); each one's cotangent is the other applied to g.
_diag_part = Primitive("matrix_diag_part", shape_rule=_diag_part_rule,
                       vjp=lambda g, x, out, k: (_diag.bind(
                           g, k=k, num_rows=x.shape[-2], num_cols=x.shape[-1],
                           padding_value=0),))
_diag = Primitive("matrix_diag", shape_rule=_diag_rule,
                  vjp=lambda g, d, out, k, num_rows, num_cols, padding_value: (
                      _diag_part.bind(g, k=k),))


def _diagonal_index(op, k):
    if isinstance(k, (list, tuple)):
        raise errors.UnimplementedError(f"{op}: a band of diagonals (k as a pair) is not "
                                        f"supported; give one int k", op)
    try:
        return int(k)
    except (TypeError, ValueError) as error:
        raise errors.InvalidArgumentError(f"{op}: k must be an int, received {k!r}",
                                          op) from error


def _python_scalar(op, value):
    if isinstance(value, _TensorLike):
        value = host(op, value, "padding_value").item()
    if not isinstance(value, (int, float, complex)):
        raise errors.InvalidArgumentError(
            f"{op}: padding_value must be a scalar, received {value!r}", op)
    return value


def diag_part(input, name="diag_part", k=0, padding_value=0, align="RIGHT_LEFT"):  # noqa: A002
    """The k-th diagonal of each matrix of a [..., M, N] tensor.

    >>> import tensorflux as tf
    >>> tf.linalg.diag_part([[1, 2], [3, 4]]).numpy().tolist()
    [1, 4]
    """
    x = _matrices("diag_part", input, allowed="is_numeric")
    k = _diagonal_index("diag_part", k)
    rows, cols = x.shape[-2], x.shape[-1]
    if rows is not None and cols is not None and not -rows < k < max(cols, 1):
        raise errors.InvalidArgumentError(
            f"diag_part: k={k} is out of range for matrices of shape {tuple(x.shape)} "
            f"(expected {-rows} < k < {cols})", "diag_part")
    return _diag_part.bind(x, k=k)


def diag(diagonal, name="diag", k=0, num_rows=-1, num_cols=-1, padding_value=0,
         align="RIGHT_LEFT"):
    """Matrices whose k-th diagonal is `diagonal` ([..., N] -> [..., N+|k|, N+|k|]).

    >>> import tensorflux as tf
    >>> tf.linalg.diag([1, 2]).numpy().tolist()
    [[1, 0], [0, 2]]
    """
    d = as_operand("diag", diagonal)
    if d.shape.rank < 1 or d.shape[-1] is None:
        raise errors.InvalidArgumentError(
            f"diag: expected a tensor of rank >= 1 with a known last dimension, received shape "
            f"{tuple(d.shape)}", "diag")
    k = _diagonal_index("diag", k)
    length = d.shape[-1]
    min_rows, min_cols = length + max(-k, 0), length + max(k, 0)
    rows, cols = int(num_rows), int(num_cols)
    if rows == -1:
        rows = max(min_rows, min_cols) if cols == -1 else min_rows
    if cols == -1:
        cols = max(rows, min_cols) if int(num_rows) == -1 else min_cols
    if _diag_length(rows, cols, k) != length:
        raise errors.InvalidArgumentError(
            f"diag: a diagonal of length {length} (shape {tuple(d.shape)}) does not fit "
            f"diagonal k={k} of a {rows}x{cols} matrix", "diag")
    padding = _python_scalar("diag", padding_value)
    return _diag.bind(d, k=k, num_rows=rows, num_cols=cols, padding_value=padding)


def trace(x, name=None):
    """The sum of the main diagonal of each matrix of a [..., M, N] tensor.

    >>> import tensorflux as tf
    >>> tf.linalg.trace([[1.0, 2.0], [3.0, 4.0]]).numpy().tolist()
    5.0
    """
    return reduction.reduce_sum(diag_part(x), axis=-1)
