"""Nested element structures of tf.data (tuples, namedtuples, dicts) and their leaves.

Inside a pipeline a leaf is a host NumPy array, a composite tensor (a RaggedTensor, as
`ragged_batch` makes) or a Dataset (for `window`); user functions see tensorflux Tensors.
Lists are values, not structure, as in tf.data: `[1, 2]` is one tensor.
"""

import collections

import numpy as np

import tensorflux as tf
from tensorflux.composite_tensor import CompositeTensor, TypeSpec
from tensorflux.tensor import _convert_owned, _is_dense_tensor

__all__ = ["flatten", "map_structure", "pack_as", "same_structure", "spec_of", "to_leaf",
           "to_numpy_structure", "to_tensor_structure"]


def _is_namedtuple(value):
    return isinstance(value, tuple) and hasattr(value, "_fields")


def is_nested(value):
    return isinstance(value, (tuple, dict))


def map_structure(fn, structure):
    """Applies `fn` to each leaf; tuples, namedtuples and dicts (OrderedDicts stay so) are
    rebuilt around the results."""
    if isinstance(structure, dict):
        return like(structure, {key: map_structure(fn, structure[key]) for key in structure})
    if _is_namedtuple(structure):
        return type(structure)(*[map_structure(fn, v) for v in structure])
    if isinstance(structure, tuple):
        return tuple(map_structure(fn, v) for v in structure)
    return fn(structure)


def like(mapping, items):
    """`items` (a dict) as an OrderedDict where `mapping` is one: elements keep that type."""
    return collections.OrderedDict(items) if isinstance(mapping, collections.OrderedDict) \
        else items


def flatten(structure):
    """The leaves in order (dict values by insertion order)."""
    leaves = []
    map_structure(leaves.append, structure)
    return leaves


def pack_as(structure, leaves):
    """Rebuilds `structure` with `leaves` (an iterable in flatten's order)."""
    leaves = iter(leaves)
    return map_structure(lambda _: next(leaves), structure)


def same_structure(a, b):
    """Whether two structures have the same nesting, keys and number of leaves."""
    if isinstance(a, dict) or isinstance(b, dict):
        return (isinstance(a, dict) and isinstance(b, dict) and list(a) == list(b)
                and all(same_structure(a[k], b[k]) for k in a))
    if isinstance(a, tuple) or isinstance(b, tuple):
        return (isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b)
                and all(same_structure(x, y) for x, y in zip(a, b)))
    return True


def _is_dataset(value):
    from tensorflux.data.dataset import Dataset

    return isinstance(value, Dataset)


def to_leaf(value, dtype=None):
    """One leaf as a host NumPy array, with TensorFlow's conversion rules (Python floats are
    float32, ints int32, strings bytes objects); Datasets stay Datasets.

    A leaf is never written into and never shares memory with an array the user may still
    write into: a user's NumPy array is copied (read-only), a Tensor's own array is kept (a
    tensor is immutable), a Variable's value is a snapshot.
    """
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc?" and dtype is None:
        return read_only(value.copy())
    if isinstance(value, CompositeTensor) and dtype is None:
        return value
    if _is_dense_tensor(value):
        if dtype is not None and tf.as_dtype(dtype) is not value.dtype:
            value = tf.cast(value, dtype)
        return np.asarray(value._numpy())
    if _is_dataset(value):
        return value
    if isinstance(value, np.generic) and dtype is None and value.dtype.kind in "biufc?":
        return np.asarray(value)
    if dtype is not None and tf.as_dtype(dtype) is not tf.string:
        return np.asarray(tf.constant(value, dtype=dtype)._numpy())
    return np.asarray(tf.convert_to_tensor(value)._numpy())


def read_only(array):
    """`array`, flagged read-only: a pipeline's arrays are shared between passes and tensors."""
    array.flags.writeable = False
    return array


def read_only_view(array):
    """What a consumer may hold of a pipeline's array: a view it cannot write through."""
    if not isinstance(array, np.ndarray) or not array.flags.writeable:
        return array
    view = array.view()
    view.flags.writeable = False
    return view


def to_numpy_structure(value):
    """A user value (tensors, arrays, Python values, nested) as an element of NumPy leaves;
    lists returned by map functions become tuples, as tf.data does."""
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(value, dict):
        return like(value, {key: to_numpy_structure(value[key]) for key in value})
    if _is_namedtuple(value):
        return type(value)(*[to_numpy_structure(v) for v in value])
    if isinstance(value, tuple):
        return tuple(to_numpy_structure(v) for v in value)
    return to_leaf(value)


def to_tensor(leaf):
    if _is_dataset(leaf) or isinstance(leaf, CompositeTensor):
        return leaf
    # A leaf is the pipeline's own array (to_leaf copied what came from the user), and a
    # Tensor never writes into its array: no copy.
    return _convert_owned(leaf)


def to_tensor_structure(element):
    return map_structure(to_tensor, element)


def spec_of(leaf, drop_first=False):
    """The TensorSpec (or DatasetSpec) of one leaf; drop_first for the slices of a leaf."""
    if _is_dataset(leaf):
        from tensorflux.data.dataset import DatasetSpec

        return DatasetSpec(leaf.element_spec)
    if isinstance(leaf, CompositeTensor):
        return leaf._type_spec._unbatch() if drop_first else leaf._type_spec
    shape = tuple(leaf.shape)[1:] if drop_first else tuple(leaf.shape)
    return tf.TensorSpec(shape, dtype_of(leaf))


def is_composite(leaf):
    """Whether a leaf is a composite tensor (a RaggedTensor, ...)."""
    return isinstance(leaf, CompositeTensor)


def is_composite_spec(spec):
    """Whether a leaf spec describes composite tensors (RaggedTensorSpec, ...)."""
    return isinstance(spec, TypeSpec)


def rank_of(leaf):
    """The rank of a pipeline leaf (None where unknown)."""
    if isinstance(leaf, CompositeTensor):
        return leaf.shape.rank
    return leaf.ndim


def length_of(leaf):
    """The size of a leaf's first dimension."""
    if isinstance(leaf, CompositeTensor):
        size = leaf.shape[0]
        return int(size) if size is not None else int(leaf.nrows())
    return leaf.shape[0]


def dtype_of(array):
    if array.dtype.kind in "OSU":
        return tf.string
    return tf.as_dtype(array.dtype)


def numpy_dtype(dtype):
    """The NumPy dtype that holds a tensorflux dtype on the host."""
    dtype = tf.as_dtype(dtype)
    if dtype is tf.string:
        return np.dtype(object)
    with tf.init_scope():  # (eagerly, also for a dataset made inside a tf.function)
        return tf.zeros([0], dtype)._numpy().dtype
