"""Linear algebra (tf.linalg and tf.matmul): matmul, tensordot, einsum, det, inv, norm, ..."""

import string
from collections import namedtuple

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
    variable_value,
)
from tensorflux.ops._static import host
from tensorflux.primitive import Primitive, _new_tensor, record_on_tapes
from tensorflux.tensor import Tensor, _TensorLike, convert_to_tensor

__all__ = ["matmul", "transpose", "matrix_transpose", "adjoint", "tensordot", "einsum", "norm",
           "det", "inv", "trace", "diag", "diag_part", "band_part", "set_diag", "matvec", "cross",
           "solve", "triangular_solve", "cholesky", "cholesky_solve", "lstsq", "slogdet",
           "logdet", "eigh", "eigvalsh", "svd", "pinv", "qr", "expm"]


def _matrices(op, x, square=False, allowed="is_numeric"):
    """x as a tensor of rank >= 2 ([..., M, N]; M == N when `square`), or an error."""
    x = as_operand(op, x)
    if allowed is not None and not getattr(x.dtype, allowed):
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


def _matmul_vjp(g, a, b, out, transpose_a, transpose_b, wanted=(True, True)):
    # With A = op(a), B = op(b): dA = g B^H, dB = A^H g; then undo each op. Broadcast batch
    # dims come back with the broadcast shape; the walker sums them to each input's shape.
    # A side the walker does not want (`wanted`, see Primitive: the batch of inputs going
    # into a first Dense layer) is not computed: None.
    want_a, want_b = wanted
    ga = gb = None
    sa = tuple(a.shape)
    if len(sa) > 2 and len(tuple(b.shape)) == 2 and not transpose_a and sa[-1] is not None \
            and tuple(g.shape)[-1] is not None:
        # rows (of any batch shape) times one matrix, as in Dense or an RNN's input
        # projection: the matrix's cotangent is one GEMM over all rows, not a batched
        # product summed over the batch afterwards
        if want_a:
            ga = matmul(g, b, transpose_b=not transpose_b)
        if want_b:
            rows = array.reshape(a, [-1, sa[-1]])
            g_rows = array.reshape(g, [-1, tuple(g.shape)[-1]])
            gb = (matmul(g_rows, rows, transpose_a=True) if transpose_b
                  else matmul(rows, g_rows, transpose_a=True))
        return _conj_pair(a, ga, gb)
    if not want_a:
        pass
    elif transpose_a:
        ga = matmul(b, g, transpose_a=transpose_b, transpose_b=True)
    else:
        ga = matmul(g, b, transpose_b=not transpose_b)
    if not want_b:
        pass
    elif transpose_b:
        gb = matmul(g, a, transpose_a=True, transpose_b=transpose_a)
    else:
        gb = matmul(a, g, transpose_a=not transpose_a)
    return _conj_pair(a, ga, gb)


def _conj_pair(a, ga, gb):
    if a.dtype.is_complex:
        ga = None if ga is None else math.conj(ga)
        gb = None if gb is None else math.conj(gb)
    return ga, gb


# matmul: batched matrix product with optional transposes (batch dims broadcast).
_matmul = Primitive("matmul", vjp=_matmul_vjp, shape_rule=_matmul_rule, vjp_wanted=True)


def _transpose_and_adjoint(side, transposed):
    if transposed:
        raise errors.InvalidArgumentError(
            f"matmul: only one of transpose_{side} and adjoint_{side} can be True (adjoint "
            f"already transposes), received both", "matmul")


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False,
           a_is_sparse=False, b_is_sparse=False, output_type=None, grad_a=False, grad_b=False,
           name=None):
    """The matrix product of the last two dims of a and b; leading dims broadcast.
    output_type=tf.int32 accumulates (u)int8 inputs in int32, as TF's. a_is_sparse,
    b_is_sparse, grad_a and grad_b are TF's performance hints; the product is the same.

    >>> import tensorflux as tf
    >>> tf.matmul([[1.0, 2.0]], [[3.0], [4.0]]).numpy().tolist()
    [[11.0]]
    """
    if (output_type is None and not (adjoint_a or adjoint_b)
            and _matmul._backend is context.eager_backend):
        # Eager fast path (see Primitive.__init__): two matrices (plain Tensors or Variables)
        # of one numeric dtype; the kernel refuses mismatched inner or batch dims, as the
        # checks below do (which then report it).
        va = a._value if a.__class__ is Tensor else variable_value(a)
        vb = b._value if b.__class__ is Tensor else variable_value(b)
        if (va is not None and vb is not None and va.dtype is vb.dtype and va.ndim >= 2
                and vb.ndim >= 2 and va.dtype.kind in "iufc"):
            transpose_a, transpose_b = bool(transpose_a), bool(transpose_b)
            try:
                value = _matmul._kernel_fn(va, vb, transpose_a, transpose_b)
            except Exception:  # noqa: BLE001 - the checks below explain the error
                pass
            else:
                out = _new_tensor(Tensor)
                out._value = value
                if context.tapes:  # (as bind records it; see Primitive._fast_result)
                    record_on_tapes(_matmul, (a, b), {"transpose_a": transpose_a,
                                                      "transpose_b": transpose_b}, out)
                return out
    a, b = binary_operands("matmul", a, b)
    if output_type is not None and dtypes.as_dtype(output_type) != a.dtype:
        if dtypes.as_dtype(output_type) != dtypes.int32 or a.dtype.name not in ("int8", "uint8"):
            raise errors.InvalidArgumentError(
                f"matmul: output_type {dtypes.as_dtype(output_type).name} needs (u)int8 inputs "
                f"and int32 output; received inputs of dtype {a.dtype.name}", "matmul")
        a, b = math.cast(a, dtypes.int32), math.cast(b, dtypes.int32)
    if adjoint_a:
        _transpose_and_adjoint("a", transpose_a)
        a, transpose_a = math.conj(a), True
    if adjoint_b:
        _transpose_and_adjoint("b", transpose_b)
        b, transpose_b = math.conj(b), True
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
    if any(None not in (sa[i], sb[j]) and sa[i] != sb[j] for i, j in zip(a_axes, b_axes)):
        raise errors.InvalidArgumentError(
            f"tensordot: contracted dimensions differ: axes {a_axes} of shape {tuple(sa)} and "
            f"axes {b_axes} of shape {tuple(sb)}", "tensordot")
    free_a = [i for i in range(len(sa)) if i not in a_axes]
    free_b = [i for i in range(len(sb)) if i not in b_axes]
    inner = _product(sb[j] if sa[i] is None else sa[i] for i, j in zip(a_axes, b_axes))
    out = [sa[i] for i in free_a] + [sb[i] for i in free_b]
    a2 = array.reshape(transpose(a, free_a + a_axes),
                       [_product(out[:len(free_a)]) if None not in out[:len(free_a)] else -1,
                        inner])
    b2 = array.reshape(transpose(b, b_axes + free_b),
                       [inner,
                        _product(out[len(free_a):]) if None not in out[len(free_a):] else -1])
    if None in out:
        # An unknown (batch) size, as a Keras layer's symbolic call has: those dims are read
        # from the tensors when the op runs.
        out = [array.shape(a)[i] if sa[i] is None else sa[i] for i in free_a] + \
              [array.shape(b)[i] if sb[i] is None else sb[i] for i in free_b]
    return array.reshape(matmul(a2, b2), out)


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
        return _spectral_norm(x, axes, keepdims)
    # ord 1: the largest column sum of |x|; ord inf: the largest row sum.
    summed, maxed = (rows, cols) if ord == 1 else (cols, rows)
    magnitude = math.abs(x)
    result = reduction.reduce_max(reduction.reduce_sum(magnitude, summed, keepdims=True),
                                  maxed, keepdims=True)
    if keepdims:
        return result
    return array.reshape(result, [d for i, d in enumerate(x.shape) if i not in axes])


def _spectral_norm(x, axes, keepdims):
    """The largest singular value of the matrices spanning `axes` (moved last for the SVD)."""
    rank = x.shape.rank
    rows, cols = axes
    others = [i for i in range(rank) if i not in axes]
    matrices = transpose(x, others + [rows, cols])
    result = reduction.reduce_max(svd(matrices, compute_uv=False), axis=-1)
    if keepdims:
        shape = [1 if i in axes else d for i, d in enumerate(x.shape)]
        result = array.reshape(result, shape)
    return result


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
    return _int_k(op, k)


def _k_range(op, k):
    """(low, high) of a diagonal index k: one int, or a pair (also as a tensor), as TF's."""
    if isinstance(k, _TensorLike):
        k = host(op, k, "k").tolist()
    if isinstance(k, (list, tuple)):
        if len(k) == 1:
            k = k[0]
        elif len(k) == 2:
            low, high = _int_k(op, k[0]), _int_k(op, k[1])
            if low > high:
                raise errors.InvalidArgumentError(
                    f"{op}: k must be (low, high) with low <= high, received ({low}, {high})",
                    op)
            return low, high
        else:
            raise errors.InvalidArgumentError(
                f"{op}: k must be an int or a pair (low, high), received {k!r}", op)
    k = _int_k(op, k)
    return k, k


def _check_align(op, align):
    if align not in _ALIGNS:
        raise errors.InvalidArgumentError(
            f"{op}: align must be one of {list(_ALIGNS)}, received {align!r}", op)
    return align.split("_")


def _band_in_row(op, stored, d, length, width, align):
    """Diagonal d (of `length` entries) out of its row of a band of `width`: the first entries,
    or the last where `align` puts that kind of diagonal (super: first word) to the right."""
    super_align, sub_align = align.split("_")
    right = (super_align if d >= 0 else sub_align) == "RIGHT"
    start = width - length if right else 0
    return stored[..., start:start + length]


def _int_k(op, k):
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
    """The k-th diagonal of each matrix of a [..., M, N] tensor; with k = (low, high), the
    band of diagonals high..low stacked on axis -2, shorter ones padded as `align` says.

    >>> import tensorflux as tf
    >>> tf.linalg.diag_part([[1, 2], [3, 4]]).numpy().tolist()
    [1, 4]
    >>> tf.linalg.diag_part([[1, 2], [3, 4]], k=(-1, 0)).numpy().tolist()
    [[1, 4], [3, 0]]
    """
    x = _matrices("diag_part", input, allowed=None)
    _check_align("diag_part", align)
    if (isinstance(k, (list, tuple)) and len(k) == 2) or (
            isinstance(k, _TensorLike) and k.shape.rank == 1 and k.shape[0] == 2):
        low, high = _k_range("diag_part", k)
        return _diag_band(x, low, high, padding_value, align)
    k = _diagonal_index("diag_part", k)
    _check_diagonal(x, k)
    return _diag_part.bind(x, k=k)


def _check_diagonal(x, k):
    rows, cols = x.shape[-2], x.shape[-1]
    # The main diagonal always exists (empty for empty matrices, as TensorFlow).
    if k and rows is not None and cols is not None and not -rows < k < max(cols, 1):
        raise errors.InvalidArgumentError(
            f"diag_part: k={k} is out of range for matrices of shape {tuple(x.shape)} "
            f"(expected {-rows} < k < {cols})", "diag_part")


_ALIGNS = ("RIGHT_LEFT", "LEFT_RIGHT", "LEFT_LEFT", "RIGHT_RIGHT")


def _diag_band(x, low, high, padding_value, align):
    """Diagonals high..low (top row first), each padded to the longest as TF's `align` says:
    its first word places superdiagonals, its second subdiagonals."""
    if low > high:
        raise errors.InvalidArgumentError(
            f"diag_part: k must be (low, high) with low <= high, received ({low}, {high})",
            "diag_part")
    _check_align("diag_part", align)
    for d in (low, high):
        _check_diagonal(x, d)
    rows, cols = x.shape[-2], x.shape[-1]
    if rows is None or cols is None:
        raise errors.InvalidArgumentError(
            f"diag_part: a band of diagonals needs known matrix dimensions, received shape "
            f"{tuple(x.shape)}", "diag_part")
    width = max(_diag_length(rows, cols, d) for d in range(low, high + 1))
    padding = _python_scalar("diag_part", padding_value)
    rank = x.shape.rank
    super_align, sub_align = align.split("_")
    rows_out = []
    for d in range(high, low - 1, -1):
        part = _diag_part.bind(x, k=d)
        short = width - _diag_length(rows, cols, d)
        if short:
            right = (super_align if d >= 0 else sub_align) == "RIGHT"
            pads = [[0, 0]] * (rank - 2) + [[short, 0] if right else [0, short]]
            part = array.pad(part, pads, constant_values=padding)
        rows_out.append(part)
    return array.stack(rows_out, axis=-2)


def diag(diagonal, name="diag", k=0, num_rows=-1, num_cols=-1, padding_value=0,
         align="RIGHT_LEFT"):
    """Matrices whose k-th diagonal is `diagonal` ([..., N] -> [..., N+|k|, N+|k|]). With
    k = (low, high), `diagonal` holds the band high..low ([..., high-low+1, N], top row
    first), shorter diagonals placed in their row as `align` says, as TF's.

    >>> import tensorflux as tf
    >>> tf.linalg.diag([1, 2]).numpy().tolist()
    [[1, 0], [0, 2]]
    >>> tf.linalg.diag([[1, 2], [3, 0]], k=(0, 1), align="LEFT_RIGHT").numpy().tolist()
    [[3, 1], [0, 0]]
    """
    d = as_operand("diag", diagonal)
    if d.shape.rank < 1 or d.shape[-1] is None:
        raise errors.InvalidArgumentError(
            f"diag: expected a tensor of rank >= 1 with a known last dimension, received shape "
            f"{tuple(d.shape)}", "diag")
    _check_align("diag", align)
    low, high = _k_range("diag", k)
    length = d.shape[-1]
    # TF's sizes: the longest diagonal fits the band's top (high) and bottom (low) ends.
    min_rows, min_cols = length - min(high, 0), length + max(low, 0)
    rows, cols = int(num_rows), int(num_cols)
    if rows == -1:
        rows = max(min_rows, min_cols) if cols == -1 else min_rows
    if cols == -1:
        cols = max(rows, min_cols) if int(num_rows) == -1 else min_cols
    padding = _python_scalar("diag", padding_value)
    if low == high:
        if _diag_length(rows, cols, low) != length:
            raise errors.InvalidArgumentError(
                f"diag: a diagonal of length {length} (shape {tuple(d.shape)}) does not fit "
                f"diagonal k={low} of a {rows}x{cols} matrix", "diag")
        return _diag.bind(d, k=low, num_rows=rows, num_cols=cols, padding_value=padding)
    count = high - low + 1
    if d.shape.rank < 2 or d.shape[-2] != count or not (rows == min_rows or cols == min_cols):
        raise errors.InvalidArgumentError(
            f"diag: k=({low}, {high}) takes a band of shape [..., {count}, N] whose longest "
            f"diagonal fills a {rows}x{cols} matrix, received shape {tuple(d.shape)}", "diag")
    out = None
    for row, kk in enumerate(range(high, low - 1, -1)):
        size = _diag_length(rows, cols, kk)
        if size > length:
            raise errors.InvalidArgumentError(
                f"diag: diagonal k={kk} of a {rows}x{cols} matrix has {size} entries, more "
                f"than the band's width {length}", "diag")
        part = _band_in_row("diag", d[..., row, :], kk, size, length, align)
        matrix = _diag.bind(part, k=kk, num_rows=rows, num_cols=cols, padding_value=0)
        out = matrix if out is None else out + matrix
    if padding != 0:
        # Entries off the band (column - row outside [low, high]) take padding_value.
        offset = (array.reshape(array.range(cols, dtype=dtypes.int32), [1, cols])
                  - array.reshape(array.range(rows, dtype=dtypes.int32), [rows, 1]))
        inside = math.logical_and(math.greater_equal(offset, low),
                                  math.less_equal(offset, high))
        out = math.where(inside, out, array.fill(array.shape(out),
                                                 math.cast(padding, out.dtype)))
    return out


def trace(x, name=None):
    """The sum of the main diagonal of each matrix of a [..., M, N] tensor.

    >>> import tensorflux as tf
    >>> tf.linalg.trace([[1.0, 2.0], [3.0, 4.0]]).numpy().tolist()
    5.0
    """
    return reduction.reduce_sum(diag_part(x), axis=-1)


# ------------------------------------------------------------------ bands, diagonals, products
# Composites of the primitives above, so gradients come for free.

def _band_mask(op, x, num_lower, num_upper):
    """The [M, N] bool mask of the band kept by band_part (negative bounds keep everything)."""
    rows, cols = x.shape[-2], x.shape[-1]
    if rows is None or cols is None:
        raise errors.InvalidArgumentError(
            f"{op}: the matrix dimensions must be known, received shape {tuple(x.shape)}", op)
    i = array.reshape(array.range(rows, dtype=dtypes.int32), [rows, 1])
    j = array.reshape(array.range(cols, dtype=dtypes.int32), [1, cols])
    keep = array.ones([rows, cols], dtype=dtypes.bool)
    if num_lower >= 0:
        keep = math.logical_and(keep, math.less_equal(i - j, num_lower))
    if num_upper >= 0:
        keep = math.logical_and(keep, math.less_equal(j - i, num_upper))
    return keep


def band_part(input, num_lower, num_upper, name=None):  # noqa: A002 - TensorFlow's name
    """Keeps the band of each matrix with `num_lower` subdiagonals and `num_upper`
    superdiagonals (a negative count keeps that whole triangle), zeroing the rest.

    >>> import tensorflux as tf
    >>> tf.linalg.band_part([[1, 2, 3], [4, 5, 6], [7, 8, 9]], 0, -1).numpy().tolist()
    [[1, 2, 3], [0, 5, 6], [0, 0, 9]]
    """
    x = _matrices("band_part", input, allowed="is_numeric")
    lower = _diagonal_index("band_part", host("band_part", num_lower, "num_lower").item()
                            if isinstance(num_lower, _TensorLike) else num_lower)
    upper = _diagonal_index("band_part", host("band_part", num_upper, "num_upper").item()
                            if isinstance(num_upper, _TensorLike) else num_upper)
    if lower < 0 and upper < 0:
        return unchanged(x)
    keep = _band_mask("band_part", x, lower, upper)
    return math.where(keep, x, array.zeros_like(x))


def set_diag(input, diagonal, name="set_diag", k=0, align="RIGHT_LEFT"):  # noqa: A002
    """Each matrix of `input` with its k-th diagonal replaced by `diagonal`; with
    k = (low, high), the band high..low replaced by `diagonal` ([..., high-low+1, N], top
    row first, shorter diagonals placed as `align` says), as TF's.

    >>> import tensorflux as tf
    >>> tf.linalg.set_diag([[1, 2], [3, 4]], [7, 8]).numpy().tolist()
    [[7, 2], [3, 8]]
    """
    x = _matrices("set_diag", input, allowed=None)
    d = as_operand("set_diag", diagonal, x.dtype)
    _check_align("set_diag", align)
    low, high = _k_range("set_diag", k)
    rows, cols = x.shape[-2], x.shape[-1]
    if low != high:
        return _set_band(x, d, low, high, align)
    k = low
    old = diag_part(x, k=k)
    if tuple(d.shape)[-1:] != tuple(old.shape)[-1:]:
        raise errors.InvalidArgumentError(
            f"set_diag: diagonal k={k} of matrices of shape {tuple(x.shape)} has length "
            f"{old.shape[-1]}, received a diagonal of shape {tuple(d.shape)}", "set_diag")
    # x - (its diagonal) + (the new one): exact, and linear in both inputs.
    return (x - _diag.bind(old, k=k, num_rows=rows, num_cols=cols, padding_value=0)
            + _diag.bind(d + array.zeros_like(old), k=k, num_rows=rows, num_cols=cols,
                         padding_value=0))


def _set_band(x, d, low, high, align):
    """set_diag of the band of diagonals high..low."""
    op = "set_diag"
    rows, cols = x.shape[-2], x.shape[-1]
    if rows is None or cols is None:
        raise errors.InvalidArgumentError(
            f"{op}: a band of diagonals needs known matrix dimensions, received shape "
            f"{tuple(x.shape)}", op)
    for kk in (low, high):
        if kk and not -rows < kk < max(cols, 1):
            raise errors.InvalidArgumentError(
                f"{op}: k={kk} is out of range for matrices of shape {tuple(x.shape)}", op)
    count = high - low + 1
    width = max(_diag_length(rows, cols, kk) for kk in range(low, high + 1))
    if d.shape.rank < 2 or tuple(d.shape)[-2:] != (count, width):
        raise errors.InvalidArgumentError(
            f"{op}: k=({low}, {high}) of matrices of shape {tuple(x.shape)} takes a band of "
            f"shape [..., {count}, {width}], received {tuple(d.shape)}", op)
    result = x
    for row, kk in enumerate(range(high, low - 1, -1)):
        size = _diag_length(rows, cols, kk)
        part = _band_in_row(op, d[..., row, :], kk, size, width, align)
        result = set_diag(result, part, k=kk)
    return result


def matvec(a, b, transpose_a=False, adjoint_a=False, a_is_sparse=False, b_is_sparse=False,
           name=None):
    """The product of each matrix of `a` with the matching vector of `b` ([..., N] -> [..., M]).

    >>> import tensorflux as tf
    >>> tf.linalg.matvec([[1.0, 2.0], [3.0, 4.0]], [1.0, 1.0]).numpy().tolist()
    [3.0, 7.0]
    """
    a, b = binary_operands("matvec", a, b)
    if b.shape.rank is not None and b.shape.rank < 1:
        raise errors.InvalidArgumentError(
            f"matvec: b must be a vector (rank >= 1), received shape {tuple(b.shape)}",
            "matvec")
    product = matmul(a, array.expand_dims(b, -1), transpose_a=transpose_a, adjoint_a=adjoint_a)
    return array.squeeze(product, -1)


def cross(a, b, name=None):
    """The cross product of 3-vectors along the last axis (leading dims broadcast).

    >>> import tensorflux as tf
    >>> tf.linalg.cross([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]).numpy().tolist()
    [0.0, 0.0, 1.0]
    """
    a, b = binary_operands("cross", a, b)
    if tuple(a.shape)[-1:] != (3,) or tuple(b.shape)[-1:] != (3,):
        raise errors.InvalidArgumentError(
            f"cross: both inputs must have last dimension 3, received shapes "
            f"{tuple(a.shape)} and {tuple(b.shape)}", "cross")
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return array.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


def _identity_like(x):
    """Identity matrices of x's dtype and last dimension (broadcasting over any batch)."""
    n = x.shape[-1]
    return _eye(n, x.dtype)


# ------------------------------------------------------------------ solves

def _solve_rule(matrix, rhs, adjoint):
    batch = broadcast_shapes("solve", list(matrix.shape)[:-2], list(rhs.shape)[:-2])
    return aval(list(batch) + list(rhs.shape)[-2:], rhs.dtype)


def _solve_vjp(g, matrix, rhs, out, adjoint):
    # X = op(A)^-1 B: dB = op(A)^-H g, dA = -dB X^H (or -X dB^H when op is the adjoint).
    grad_rhs = _solve.bind(matrix, g, adjoint=not adjoint)
    if adjoint:
        grad_matrix = -matmul(out, grad_rhs, adjoint_b=True)
    else:
        grad_matrix = -matmul(grad_rhs, out, adjoint_b=True)
    return grad_matrix, grad_rhs


# matrix_solve: X with op(A) X = B (LU with partial pivoting in the backend); batch dims
# broadcast. A primitive because solving is faster and more accurate than inv(A) @ B.
_solve = Primitive("matrix_solve", vjp=_solve_vjp, shape_rule=_solve_rule)


def _square_system(op, matrix, rhs):
    a = _matrices(op, matrix, square=True, allowed="is_differentiable")
    b = _matrices(op, as_operand(op, rhs, a.dtype), allowed="is_differentiable")
    if b.dtype is not a.dtype:
        raise errors.InvalidArgumentError(
            f"{op}: matrix and rhs must have one dtype, received {a.dtype.name} and "
            f"{b.dtype.name}", op)
    m, rows = a.shape[-1], b.shape[-2]
    if m is not None and rows is not None and m != rows:
        raise errors.InvalidArgumentError(
            f"{op}: matrix of shape {tuple(a.shape)} needs rhs with {m} rows, received shape "
            f"{tuple(b.shape)}", op)
    broadcast_shapes(op, list(a.shape)[:-2], list(b.shape)[:-2])
    return a, b


def solve(matrix, rhs, adjoint=False, name=None):
    """Solves matrix @ X = rhs (adjoint(matrix) @ X = rhs when adjoint=True) for each matrix
    of a [..., M, M] tensor and rhs [..., M, K].

    >>> import tensorflux as tf
    >>> tf.linalg.solve([[2.0, 0.0], [0.0, 4.0]], [[2.0], [2.0]]).numpy().tolist()
    [[1.0], [0.5]]
    """
    a, b = _square_system("solve", matrix, rhs)
    return _solve.bind(a, b, adjoint=bool(adjoint))


def _triangular_solve_vjp(g, matrix, rhs, out, lower, adjoint):
    grad_rhs = _triangular_solve.bind(matrix, g, lower=lower, adjoint=not adjoint)
    if adjoint:
        grad_matrix = -matmul(out, grad_rhs, adjoint_b=True)
    else:
        grad_matrix = -matmul(grad_rhs, out, adjoint_b=True)
    # Only the triangle the solve reads gets a cotangent.
    grad_matrix = band_part(grad_matrix, -1, 0) if lower else band_part(grad_matrix, 0, -1)
    return grad_matrix, grad_rhs


# matrix_triangular_solve: X with op(T) X = B, T the lower (or upper) triangle of A; the
# other triangle is never read. Batch dims broadcast.
_triangular_solve = Primitive("matrix_triangular_solve", vjp=_triangular_solve_vjp,
                              shape_rule=lambda matrix, rhs, lower, adjoint: _solve_rule(
                                  matrix, rhs, adjoint))


def triangular_solve(matrix, rhs, lower=True, adjoint=False, name=None):
    """Solves T @ X = rhs where T is the lower (lower=True) or upper triangle of each matrix;
    the other triangle is ignored.

    >>> import tensorflux as tf
    >>> tf.linalg.triangular_solve([[2.0, 9.0], [1.0, 1.0]], [[2.0], [2.0]]).numpy().tolist()
    [[1.0], [1.0]]
    """
    a, b = _square_system("triangular_solve", matrix, rhs)
    return _triangular_solve.bind(a, b, lower=bool(lower), adjoint=bool(adjoint))


def _cholesky_vjp(g, x, out):
    # Murray (2016), as TensorFlow: with L the factor, Phi(L^H g) (lower triangle, halved
    # diagonal) pulled back through L^-H ... L^-1 and symmetrized.
    eye = _identity_like(out)
    l_inverse = _triangular_solve.bind(out, eye + array.zeros_like(out), lower=True,
                                       adjoint=False)
    middle = matmul(out, g, adjoint_a=True)
    middle = set_diag(middle, 0.5 * diag_part(middle))
    middle = band_part(middle, -1, 0)
    grad = matmul(matmul(l_inverse, middle, adjoint_a=True), l_inverse)
    return (0.5 * (grad + adjoint(grad)),)


# cholesky: the lower Cholesky factor of each Hermitian positive-definite matrix (reads the
# lower triangle); a matrix that is not positive definite is an InvalidArgumentError.
_cholesky = Primitive("cholesky", vjp=_cholesky_vjp, shape_rule=lambda x: aval(x.shape, x.dtype))


def cholesky(input, name=None):  # noqa: A002
    """The lower-triangular L with L @ adjoint(L) = input, for each Hermitian positive-definite
    matrix of a [..., M, M] tensor (only its lower triangle is read).

    >>> import tensorflux as tf
    >>> tf.linalg.cholesky([[4.0, 2.0], [2.0, 5.0]]).numpy().tolist()
    [[2.0, 0.0], [1.0, 2.0]]
    """
    return _cholesky.bind(_matrices("cholesky", input, square=True, allowed="is_differentiable"))


def cholesky_solve(chol, rhs, name=None):
    """Solves A X = rhs given chol = cholesky(A).

    >>> import tensorflux as tf
    >>> chol = tf.linalg.cholesky([[4.0, 0.0], [0.0, 9.0]])
    >>> tf.linalg.cholesky_solve(chol, [[4.0], [9.0]]).numpy().tolist()
    [[1.0], [1.0]]
    """
    a, b = _square_system("cholesky_solve", chol, rhs)
    y = _triangular_solve.bind(a, b, lower=True, adjoint=False)
    return _triangular_solve.bind(a, y, lower=True, adjoint=True)


def lstsq(matrix, rhs, l2_regularizer=0.0, fast=True, name=None):
    """The least-squares solution X of matrix @ X ~= rhs for [..., M, N] matrices and
    [..., M, K] right-hand sides (l2_regularizer adds lambda ||X||^2).

    fast=True (TensorFlow's default) solves the regularized normal equations through a
    Cholesky factorization, as TensorFlow does: the matrix must have full rank unless
    l2_regularizer > 0. fast=False returns the minimum-norm solution pinv(matrix) @ rhs
    and, as TensorFlow, ignores l2_regularizer.

    >>> import tensorflux as tf
    >>> x = tf.linalg.lstsq([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [[1.0], [2.0], [3.0]])
    >>> [round(v, 6) for v in x.numpy().ravel().tolist()]
    [1.0, 2.0]
    """
    a = _matrices("lstsq", matrix, allowed="is_differentiable")
    b = _matrices("lstsq", as_operand("lstsq", rhs, a.dtype), allowed="is_differentiable")
    m, n = a.shape[-2], a.shape[-1]
    if m is not None and b.shape[-2] is not None and m != b.shape[-2]:
        raise errors.InvalidArgumentError(
            f"lstsq: matrix of shape {tuple(a.shape)} needs rhs with {m} rows, received shape "
            f"{tuple(b.shape)}", "lstsq")
    if not fast:
        # TensorFlow ignores l2_regularizer on this path.
        return matmul(pinv(a), b)
    reg = as_operand("lstsq", l2_regularizer, a.dtype)
    if m is not None and n is not None and m < n:
        # Underdetermined: X = A^H (A A^H + lambda I)^-1 B, the minimum-norm solution.
        gram = matmul(a, a, adjoint_b=True) + reg * _eye(m, a.dtype)
        return matmul(a, cholesky_solve(cholesky(gram), b), adjoint_a=True)
    gram = matmul(a, a, adjoint_a=True) + reg * _eye(n, a.dtype)
    return cholesky_solve(cholesky(gram), matmul(a, b, adjoint_a=True))


# ------------------------------------------------------------------ determinants

def _slogdet_rule(x):
    batch = list(x.shape)[:-2]
    real = dtypes.float64 if x.dtype is dtypes.complex128 else (
        dtypes.float32 if x.dtype is dtypes.complex64 else x.dtype)
    return aval(batch, x.dtype), aval(batch, real)


def _slogdet_vjp(g, x, out):
    # d log|det x| / dx = inv(x)^H; the sign is piecewise constant (no gradient).
    g_log = g[1]
    scale = array.reshape(g_log, list(g_log.shape) + [1, 1])
    if x.dtype.is_complex:
        scale = math.cast(scale, x.dtype)
    return (scale * adjoint(inv(x)),)


# log_matrix_determinant: (sign, log|det|) of each matrix, from an LU factorization, so that
# determinants beyond the float range stay finite.
_slogdet = Primitive("log_matrix_determinant", vjp=_slogdet_vjp, shape_rule=_slogdet_rule,
                     multiple_results=True)

# What slogdet returns, as TensorFlow: unpacks as a pair and names its fields.
LogMatrixDeterminant = namedtuple("LogMatrixDeterminant", ["sign", "log_abs_determinant"])


def slogdet(input, name=None):  # noqa: A002
    """(sign, log|det|) of each square matrix: det = sign * exp(log_abs_det).

    >>> import tensorflux as tf
    >>> sign, logabs = tf.linalg.slogdet([[-2.0, 0.0], [0.0, 1.0]])
    >>> float(sign), round(float(logabs), 6)
    (-1.0, 0.693147)
    """
    x = _matrices("slogdet", input, square=True, allowed="is_differentiable")
    return LogMatrixDeterminant(*_slogdet.bind(x))


def logdet(matrix, name=None):
    """log(det(matrix)) of each Hermitian positive-definite matrix, through its Cholesky
    factor (2 * sum(log(diag(L)))), as TensorFlow.

    >>> import tensorflux as tf
    >>> round(float(tf.linalg.logdet([[4.0, 0.0], [0.0, 1.0]])), 6)
    1.386294
    """
    chol = cholesky(matrix)
    diagonal = diag_part(chol)
    if diagonal.dtype.is_complex:
        diagonal = math.real(diagonal)
    return 2.0 * reduction.reduce_sum(math.log(diagonal), axis=-1)


# ------------------------------------------------------------------ eigen and singular values

def _real_dtype(dtype):
    return {dtypes.complex64: dtypes.float32, dtypes.complex128: dtypes.float64}.get(dtype, dtype)


def _gap_reciprocal(values):
    """F[i, j] = 1 / (values[j] - values[i]) off the diagonal, 0 on it and where values repeat
    (TensorFlow gives inf * 0 = NaN there when the vectors get no cotangent)."""
    gaps = array.expand_dims(values, -2) - array.expand_dims(values, -1)
    return math.divide_no_nan(array.ones_like(gaps), gaps)


def _eigh_rule(x, compute_v):
    e = aval(list(x.shape)[:-1], _real_dtype(x.dtype))
    return (e, aval(x.shape, x.dtype)) if compute_v else (e,)


def _eigh_vjp(g, x, out, compute_v):
    if compute_v:
        e, v = out
        grad_e, grad_v = g
    else:
        e, v = _eigh.bind(x, compute_v=True)
        grad_e, grad_v = g[0], None
    middle = _diag.bind(math.cast(grad_e, x.dtype), k=0, num_rows=x.shape[-1],
                        num_cols=x.shape[-1], padding_value=0)
    if grad_v is not None:
        f = math.cast(_gap_reciprocal(e), x.dtype)
        middle = middle + f * matmul(v, grad_v, adjoint_a=True)
    grad = matmul(v, matmul(middle, v, adjoint_b=True))
    # The kernel reads only the lower triangle: symmetrize onto it, as TensorFlow.
    grad = band_part(grad + adjoint(grad), -1, 0)
    return (set_diag(grad, 0.5 * diag_part(grad)),)


# self_adjoint_eig: eigenvalues (ascending) and eigenvectors (columns) of each Hermitian
# matrix, from its lower triangle; compute_v=False gives the eigenvalues alone.
_eigh = Primitive("self_adjoint_eig", vjp=_eigh_vjp, shape_rule=_eigh_rule,
                  multiple_results=True)


def eigh(tensor, name=None):
    """(eigenvalues, eigenvectors) of each Hermitian matrix of a [..., N, N] tensor:
    eigenvalues ascending, eigenvectors as columns; only the lower triangle is read.
    Gradients assume distinct eigenvalues (as TensorFlow's).

    >>> import tensorflux as tf
    >>> e, v = tf.linalg.eigh([[2.0, 0.0], [0.0, 1.0]])
    >>> e.numpy().tolist()
    [1.0, 2.0]
    """
    x = _matrices("eigh", tensor, square=True, allowed="is_differentiable")
    return _eigh.bind(x, compute_v=True)


def eigvalsh(tensor, name=None):
    """The eigenvalues (ascending) of each Hermitian matrix of a [..., N, N] tensor.

    >>> import tensorflux as tf
    >>> tf.linalg.eigvalsh([[2.0, 1.0], [1.0, 2.0]]).numpy().tolist()
    [1.0, 3.0]
    """
    x = _matrices("eigvalsh", tensor, square=True, allowed="is_differentiable")
    return _eigh.bind(x, compute_v=False)[0]


def _svd_rule(x, full_matrices, compute_uv):
    shape = list(x.shape)
    batch, m, n = shape[:-2], shape[-2], shape[-1]
    p = None if m is None or n is None else min(m, n)
    s = aval(batch + [p], _real_dtype(x.dtype))
    if not compute_uv:
        return (s,)
    cols_u, cols_v = (m, n) if full_matrices else (p, p)
    return s, aval(batch + [m, cols_u], x.dtype), aval(batch + [n, cols_v], x.dtype)


def _svd_vjp(g, x, out, full_matrices, compute_uv):
    m, n = x.shape[-2], x.shape[-1]
    if not compute_uv:
        # Singular values alone: U diag(g) V^H, for real and complex inputs alike.
        s, u, v = _svd.bind(x, full_matrices=False, compute_uv=True)
        grad_s = g[0] if not x.dtype.is_complex else math.cast(g[0], x.dtype)
        return (matmul(u * array.expand_dims(grad_s, -2), v, adjoint_b=True),)
    if x.dtype.is_complex:
        raise errors.UnimplementedError(
            "svd: gradients of complex inputs are supported only with compute_uv=False", "svd")
    s, u, v = out
    grad_s, grad_u, grad_v = g
    if full_matrices and m != n:
        # The extra columns of the full factors are not unique; with zero cotangents on them
        # the reduced formula applies.
        p = min(m, n)
        u, v = u[..., :p], v[..., :p]
        grad_u, grad_v = grad_u[..., :p], grad_v[..., :p]
    grad_s_mat = _diag.bind(grad_s, k=0, num_rows=min(m, n), num_cols=min(m, n),
                            padding_value=0)
    # Townsend (2016) / TensorFlow's SvdGrad for the reduced SVD, written for m <= n (a tall
    # matrix goes through its transpose).
    transposed = m > n
    if transposed:
        u, v, grad_u, grad_v = v, u, grad_v, grad_u
    s_mat = _diag.bind(s, k=0, num_rows=min(m, n), num_cols=min(m, n), padding_value=0)
    f = _gap_reciprocal(math.square(s))
    f_u = f * matmul(u, grad_u, adjoint_a=True)
    f_v = f * matmul(v, grad_v, adjoint_a=True)
    inner = (grad_s_mat + matmul(f_u + adjoint(f_u), s_mat)
             + matmul(s_mat, f_v + adjoint(f_v)))
    grad = matmul(u, matmul(inner, v, adjoint_b=True))
    if min(m, n) != max(m, n):
        grad_vt = adjoint(grad_v)
        term = grad_vt - matmul(matmul(grad_vt, v), v, adjoint_b=True)
        s_inv = _diag.bind(math.divide_no_nan(array.ones_like(s), s), k=0, num_rows=min(m, n),
                           num_cols=min(m, n), padding_value=0)
        grad = grad + matmul(matmul(u, s_inv), term)
    return (adjoint(grad) if transposed else grad,)


# svd: singular values (descending) and, with compute_uv, the factors U and V of each matrix
# (x = U diag(s) V^H), reduced unless full_matrices.
_svd = Primitive("svd", vjp=_svd_vjp, shape_rule=_svd_rule, multiple_results=True)


def svd(tensor, full_matrices=False, compute_uv=True, name=None):
    """The singular value decomposition of each matrix of a [..., M, N] tensor, as
    TensorFlow: (s, u, v) with tensor = u @ diag(s) @ adjoint(v), or s alone when
    compute_uv=False. Singular values are descending; the gradient with respect to u and v
    assumes distinct singular values.

    >>> import tensorflux as tf
    >>> tf.linalg.svd([[3.0, 0.0], [0.0, -4.0]], compute_uv=False).numpy().tolist()
    [4.0, 3.0]
    """
    x = _matrices("svd", tensor, allowed="is_differentiable")
    out = _svd.bind(x, full_matrices=bool(full_matrices), compute_uv=bool(compute_uv))
    return out if compute_uv else out[0]


def pinv(a, rcond=None, validate_args=False, name=None):
    """The Moore-Penrose pseudo-inverse of each matrix, from its SVD: singular values below
    rcond * max(s) are treated as zero (rcond defaults to 10 * max(M, N) * eps, as
    TensorFlow).

    >>> import tensorflux as tf
    >>> tf.linalg.pinv([[2.0, 0.0], [0.0, 0.0]]).numpy().tolist()
    [[0.5, 0.0], [0.0, 0.0]]
    """
    x = _matrices("pinv", a, allowed="is_floating")
    m, n = x.shape[-2], x.shape[-1]
    if rcond is None:
        eps = {dtypes.float16: 2.0 ** -10, dtypes.bfloat16: 2.0 ** -7,
               dtypes.float32: 2.0 ** -23}.get(x.dtype, 2.0 ** -52)
        rcond = 10.0 * max(m, n) * eps
    s, u, v = svd(x, full_matrices=False, compute_uv=True)
    cutoff = as_operand("pinv", rcond, x.dtype) * reduction.reduce_max(s, axis=-1,
                                                                      keepdims=True)
    kept = math.greater(s, cutoff)
    s_inv = math.where(kept, math.reciprocal(math.where(kept, s, array.ones_like(s))),
                       array.zeros_like(s))
    return matmul(v * array.expand_dims(s_inv, -2), u, adjoint_b=True)


# ------------------------------------------------------------------ QR

def _qr_rule(x, full_matrices):
    shape = list(x.shape)
    batch, m, n = shape[:-2], shape[-2], shape[-1]
    k = m if full_matrices or m is None or n is None else min(m, n)
    return aval(batch + [m, k], x.dtype), aval(batch + [k, n], x.dtype)


def _upper_solve_right(x, r):
    """x @ inv(r)^H for upper-triangular r, through a triangular solve (TensorFlow's
    _TriangularSolve in QrGrad)."""
    return adjoint(_triangular_solve.bind(r, adjoint(x), lower=False, adjoint=False))


def _qr_grad_tall(q, r, grad_q, grad_r):
    """The QR cotangent for a square or tall reduced factorization (Walter & Lehmann, as
    TensorFlow's QrGrad)."""
    qdq = matmul(q, grad_q, adjoint_a=True)
    rdr = matmul(r, grad_r, adjoint_b=True)
    lower = band_part(qdq - adjoint(qdq) + rdr - adjoint(rdr), -1, 0)
    grad_a = matmul(q, grad_r + _upper_solve_right(lower, r))
    grad = grad_a + _upper_solve_right(grad_q - matmul(q, qdq), r)
    if q.dtype.is_complex:
        # R's diagonal is real, which fixes each column's phase: the imaginary part of
        # diag(rdr - qdq^H) is the phase direction the real formula above leaves out.
        phase = math.imag(diag_part(rdr - adjoint(qdq)))
        phase = diag(math.complex(array.zeros_like(phase), phase))
        grad = grad + _upper_solve_right(matmul(q, adjoint(phase)), r)
    return grad


def _qr_vjp(g, x, out, full_matrices):
    q, r = out
    grad_q, grad_r = g
    m, n = x.shape[-2], x.shape[-1]
    if m is None or n is None or (full_matrices and m > n):
        raise errors.UnimplementedError(
            f"qr: gradients need static matrix dimensions and, for matrices with more rows "
            f"than columns, the reduced factorization (full_matrices=False); received shape "
            f"{tuple(x.shape)} and full_matrices={full_matrices}", "qr")
    if m >= n:
        return (_qr_grad_tall(q, r, grad_q, grad_r),)
    # Wide input x = [x1, x2] with square x1 = q r1: x2 = q r2 only moves r2 (and feeds q's
    # cotangent through r2 = q^H x2), so the square rule covers x1.
    x2, r1, grad_r2 = x[..., :, m:], r[..., :, :m], grad_r[..., :, m:]
    grad_x1 = _qr_grad_tall(q, r1, grad_q + matmul(x2, grad_r2, adjoint_b=True),
                            grad_r[..., :, :m])
    return (array.concat([grad_x1, matmul(q, grad_r2)], axis=-1),)


# qr: Q with orthonormal columns and upper-triangular R, x = Q R (Householder in the backend).
_qr = Primitive("qr", vjp=_qr_vjp, shape_rule=_qr_rule, multiple_results=True)


def qr(input, full_matrices=False, name=None):  # noqa: A002
    """The QR decomposition of each matrix of a [..., M, N] tensor: (q, r) with input = q @ r,
    q [..., M, K] with orthonormal columns and r [..., K, N] upper triangular (K = min(M, N),
    or M with full_matrices).

    >>> import tensorflux as tf
    >>> q, r = tf.linalg.qr([[3.0], [4.0]])
    >>> [abs(round(v, 6)) for v in r.numpy().ravel().tolist()]
    [5.0]
    """
    x = _matrices("qr", input, allowed="is_differentiable")
    return _qr.bind(x, full_matrices=bool(full_matrices))


# ------------------------------------------------------------------ matrix exponential

def expm(input, name=None):  # noqa: A002
    """The matrix exponential of each square real or complex matrix: scaling and squaring
    with a degree-8 Taylor polynomial, the scaling chosen from the largest 1-norm in the
    batch (eagerly) so that the scaled matrices have norm <= 1/2. Differentiable (a
    composite of matmuls).

    >>> import tensorflux as tf
    >>> import math
    >>> round(float(tf.linalg.expm([[1.0]])[0, 0]), 6) == round(math.e, 6)
    True
    """
    x = _matrices("expm", input, square=True, allowed="is_differentiable")
    n = x.shape[-1]
    if n is None:
        raise errors.InvalidArgumentError(
            f"expm: the matrix size must be known, received shape {tuple(x.shape)}", "expm")
    norm_1 = reduction.reduce_max(reduction.reduce_sum(math.abs(x), axis=-2))
    if context.graph is not None:
        raise errors.UnimplementedError("expm: not supported inside tf.function yet", "expm")
    largest = float(host("expm", norm_1, "norm"))
    squarings = 0
    while largest > 0.5 and squarings < 64:
        largest /= 2.0
        squarings += 1
    scaled = x * (0.5 ** squarings)
    eye = _eye(n, x.dtype)
    # Horner: I + A (I + A/2 (I + A/3 (...))). A 1-norm <= 1/2 leaves a truncation error
    # below 0.5**9 / 9! ~ 5e-9 relative, refined by float64 rounding only.
    order = 12 if x.dtype in (dtypes.float64, dtypes.complex128) else 8
    result = eye
    for k in range(order, 0, -1):
        result = eye + matmul(scaled, result) * (1.0 / k)
    for _ in range(squarings):
        result = matmul(result, result)
    return result
