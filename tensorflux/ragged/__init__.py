"""tf.ragged: RaggedTensor (rows of different lengths) and the ops that build and map them."""

# (imported for their tf.<op> handlers: tf.reverse, tf.squeeze, tf.gather, tf.shape... of a
# RaggedTensor, and tf.experimental.DynamicRaggedShape)
from tensorflux.ragged import array_ops as _array_ops  # noqa: F401
from tensorflux.ragged.dynamic_ragged_shape import DynamicRaggedShape  # noqa: F401
from tensorflux.ragged.ops import (
    boolean_mask,
    constant,
    cross,
    cross_hashed,
    map_flat_values,
    range,  # noqa: A004 - tf.ragged.range
    row_splits_to_segment_ids,
    segment_ids_to_row_splits,
    stack,
    stack_dynamic_partitions,
)

# tf.RaggedTensor and tf.RaggedTensorSpec (TensorFlow's tf.ragged does not list them)
from tensorflux.ragged.ragged_tensor import RaggedTensor, RaggedTensorSpec  # noqa: F401

__all__ = ["boolean_mask", "constant", "cross", "cross_hashed", "map_flat_values", "range",
           "row_splits_to_segment_ids", "segment_ids_to_row_splits", "stack",
           "stack_dynamic_partitions"]
