"""tf.sparse: SparseTensor and the ops on it (conversion, shape changes, arithmetic,
reductions, sparse-dense matmul)."""

from tensorflux.sparse.ops import (
    add,
    bincount,
    concat,
    cross,
    cross_hashed,
    expand_dims,
    eye,
    fill_empty_rows,
    from_dense,
    map_values,
    mask,
    maximum,
    minimum,
    reduce_max,
    reduce_sum,
    reorder,
    reset_shape,
    reshape,
    retain,
    segment_mean,
    segment_sqrt_n,
    segment_sum,
    slice,  # noqa: A004 - tf.sparse.slice
    softmax,
    sparse_dense_matmul,
    split,
    to_dense,
    to_indicator,
    transpose,
)

# (SparseTensorSpec is tf.SparseTensorSpec; TensorFlow has no tf.sparse.SparseTensorSpec)
from tensorflux.sparse.sparse_tensor import SparseTensor, SparseTensorSpec  # noqa: F401

__all__ = ["SparseTensor", "add", "bincount", "concat", "cross", "cross_hashed", "expand_dims",
           "eye", "fill_empty_rows", "from_dense", "map_values", "mask", "maximum", "minimum",
           "reduce_max", "reduce_sum", "reorder", "reset_shape", "reshape", "retain",
           "segment_mean", "segment_sqrt_n", "segment_sum", "slice", "softmax",
           "sparse_dense_matmul", "split", "to_dense", "to_indicator", "transpose"]
