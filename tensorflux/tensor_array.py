"""tf.TensorArray: a functional array of same-shaped tensors (write, read, stack, ...), usable
eagerly and as a tf.while_loop variable in a traced function.

Representation. A TensorArray is a value: every write returns a new TensorArray. Its state is
one tensor, `flow`, holding all elements with the index on the LAST axis ([*element_shape,
size]). The index goes last so that a write can broadcast a flow made before the element
shape was known (shape [size], zeros) to [*element_shape, size]: a TensorArray created
without element_shape then works as a loop variable, the loop carrying a flow of unknown
static shape whose first written value fixes it.

A TensorArray is a one-field namedtuple (the flow), which is how tf.while_loop, tf.function
and tf.nest flatten it into that one tensor and rebuild it. What is static (dtype, size,
dynamic_size, element shape) lives on a class made for each TensorArray() call and shared
by every TensorArray written from it, since rebuilding gets only the flow back.
"""

import collections

from tensorflux import dtypes, errors
from tensorflux.ops import array, indexing, linalg, math
from tensorflux.tensor import Tensor, TensorShape, _TensorLike, convert_to_tensor

__all__ = ["TensorArray"]


class _UnsetFlow(Tensor):
    """An eager flow written nowhere yet, whose element shape is still unknown."""

    __slots__ = ()


class _Static:
    """What is fixed for a TensorArray and everything written from it."""

    __slots__ = ("dtype", "size", "dynamic_size", "element_shape", "clear_after_read")

    def __init__(self, dtype, size, dynamic_size, element_shape, clear_after_read):
        self.dtype, self.size, self.dynamic_size = dtype, size, dynamic_size
        self.element_shape, self.clear_after_read = element_shape, clear_after_read


class TensorArray(collections.namedtuple("TensorArray", ["flow"])):
    """A list of tensors of one dtype and shape, written and read by index.

    >>> import tensorflux as tf
    >>> ta = tf.TensorArray(tf.float32, size=2)
    >>> ta = ta.write(0, 1.0).write(1, 2.0)
    >>> ta.stack().numpy().tolist(), int(ta.size())
    ([1.0, 2.0], 2)
    """

    __slots__ = ()
    _static = None  # set on the class made for each TensorArray() call

    def __new__(cls, dtype=None, size=None, dynamic_size=None, clear_after_read=None,
                tensor_array_name=None, handle=None, flow=None, infer_shape=True,
                element_shape=None, colocate_with_first_write_call=True, name=None):
        if isinstance(dtype, _TensorLike) and cls._static is not None:
            # Rebuilt from its flow (by tf.while_loop, tf.function or tf.nest).
            return _rebuilt(cls, dtype)
        if dtype is None:
            raise TypeError("TensorArray: dtype must be given")
        dtype = dtypes.as_dtype(dtype)
        if size is None:
            size = 0
            dynamic_size = True if dynamic_size is None else dynamic_size
        elif _maybe_static(size) is None:
            # A size known only when the graph runs (size=n inside a tf.function): the array
            # grows with its writes instead, so a loop writing 0..n-1 fills it (its size()
            # then counts the elements written).
            size, dynamic_size = 0, True
        size = _static_int("TensorArray", size, "size")
        shape = TensorShape(element_shape)
        static = _Static(dtype, size, bool(dynamic_size), shape, bool(clear_after_read))
        family = type("TensorArray", (TensorArray,), {"__slots__": (), "_static": static})
        return tuple.__new__(family, (_new_flow(static),))

    # -- what it is
    @property
    def dtype(self):
        return self._static.dtype

    @property
    def element_shape(self):
        return self._static.element_shape

    @property
    def dynamic_size(self):
        return self._static.dynamic_size

    @property
    def handle(self):
        return self.flow

    def _length(self):
        """The number of elements as a Python int; None for a traced dynamic_size array,
        whose length is known only when it runs."""
        shape = self.flow.shape
        if shape.rank is not None and shape.rank >= 1 and shape[-1] is not None:
            return shape[-1]
        return None if self._static.dynamic_size else self._static.size

    def size(self, name=None):
        """The number of elements, as an int32 scalar."""
        length = self._length()
        if length is None:
            return array.shape(self.flow)[-1]
        return convert_to_tensor(length, dtypes.int32)

    # -- writing
    def write(self, index, value, name=None):
        """A TensorArray with `value` at `index` (grown first if dynamic_size)."""
        value = self._element(value)
        flow = self.flow
        length = self._length()
        position = _maybe_static(index)
        if length is None or (position is None and self._static.dynamic_size):
            if position is not None and position < 0:
                raise errors.InvalidArgumentError(
                    f"TensorArray: tried to write to index {position}, which is negative",
                    "TensorArray.write")
            return _with_flow(self, _growing_write(flow, index, value))
        if position is not None:
            if position < 0:
                raise errors.InvalidArgumentError(
                    f"TensorArray: tried to write to index {position}, which is negative",
                    "TensorArray.write")
            if position >= length:
                if not self._static.dynamic_size:
                    raise errors.OutOfRangeError(
                        f"Tried to write to index {position} but array is not resizeable and "
                        f"size is: {length}", "TensorArray.write")
                flow = _grown(flow, value.shape, position + 1 - length, self.dtype)
                length = position + 1
        index = convert_to_tensor(index, dtypes.int32) if not isinstance(
            index, _TensorLike) else math.cast(index, dtypes.int32)
        # [*E, n]: a flow made before E was known ([n] zeros) broadcasts to it.
        full = _broadcast_like(flow, value, length)
        picked = array.one_hot(index, length, on_value=True, off_value=False,
                               dtype=dtypes.bool)
        new = math.where(picked, array.expand_dims(value, -1), full)
        return _with_flow(self, new)

    def _element(self, value):
        if isinstance(value, _TensorLike):
            if value.dtype is not self.dtype:
                raise errors.InvalidArgumentError(
                    f"TensorArray dtype is {self.dtype.name} but Op is trying to write dtype "
                    f"{value.dtype.name}", "TensorArray.write")
        else:
            value = convert_to_tensor(value, dtype=self.dtype)
        known = self._known_shape()
        if known is not None and not known.is_compatible_with(value.shape):
            raise ValueError(f"Incompatible shape for value ({_text(value.shape)}), expected "
                             f"({_text(known)})")
        if value.shape.rank is None:
            raise errors.UnimplementedError(
                f"TensorArray: elements must have a known rank, received {value.shape}; give "
                "the value its shape first (value.set_shape(...) or tf.ensure_shape), as for "
                "a tf.numpy_function or tf.py_function result", "TensorArray.write")
        if known is None or known.rank is None:
            self._static.element_shape = value.shape
        elif not known.is_fully_defined():
            self._static.element_shape = known.merge_with(value.shape)
        return value

    def _known_shape(self):
        """The element shape when known: given, inferred from a write, or the flow's."""
        shape = self._static.element_shape
        if shape.rank is not None:
            return shape
        flow = self.flow
        if isinstance(flow, _UnsetFlow) or flow.shape.rank is None:
            return None
        return flow.shape[:-1]

    def unstack(self, value, name=None):
        """A TensorArray holding value[0], value[1], ... (value's first axis)."""
        value = self._element_rows(value)
        count = value.shape[0]
        if count is not None and count != self._length() and not self._static.dynamic_size:
            raise ValueError(f"TensorArray: cannot unstack {count} elements into a TensorArray "
                             f"of size {self._length()}")
        rank = value.shape.rank
        return _with_flow(self, linalg.transpose(value, list(range(1, rank)) + [0]))

    def scatter(self, indices, value, name=None):
        """A TensorArray with value[j] written at indices[j]."""
        value = self._element_rows(value)
        if value.shape[0] is None:
            raise errors.UnimplementedError(
                "TensorArray.scatter: needs a value with a known first dimension, received "
                f"shape {value.shape}", "TensorArray.scatter")
        indices = convert_to_tensor(indices, dtypes.int32) if not isinstance(
            indices, _TensorLike) else indices
        result = self
        for j in range(value.shape[0]):
            result = result.write(indices[j], value[j])
        return result

    def split(self, value, lengths, name=None):
        """A TensorArray whose element i is the next lengths[i] rows of value. Elements share
        one shape here (the array is one dense tensor), so the lengths must be equal;
        unequal ones are an UnimplementedError (TF keeps elements of different lengths).

        >>> import tensorflux as tf
        >>> ta = tf.TensorArray(tf.float32, size=2).split([1.0, 2.0, 3.0, 4.0], [2, 2])
        >>> ta.read(1).numpy().tolist()
        [3.0, 4.0]
        """
        value = value if isinstance(value, _TensorLike) else convert_to_tensor(
            value, dtype=self.dtype)
        if value.shape.rank in (None, 0):
            raise errors.InvalidArgumentError(
                f"TensorArray.split: value must have rank >= 1, received shape {value.shape}",
                "TensorArray.split")
        sizes = lengths
        if isinstance(lengths, _TensorLike):
            from tensorflux.graph.static import get_static_value

            sizes = get_static_value(lengths)
            if sizes is None:
                raise errors.UnimplementedError(
                    "TensorArray.split: the lengths must be known when the function is "
                    "traced", "TensorArray.split")
            sizes = sizes.tolist()
        sizes = [int(n) for n in (sizes if isinstance(sizes, (list, tuple)) else [sizes])]
        rows = value.shape[0]
        if rows is not None and sum(sizes) != rows:
            raise errors.InvalidArgumentError(
                f"Expected sum of lengths to be equal to values.shape[0], but sum of lengths "
                f"is {sum(sizes)} and value's shape is: {list(value.shape)}",
                "TensorArray.split")
        if len(set(sizes)) > 1:
            raise errors.UnimplementedError(
                f"TensorArray.split: tensorflux's TensorArray holds elements of one shape, so "
                f"the lengths must be equal, received {sizes}; pad the pieces to one length "
                "or keep them in a Python list", "TensorArray.split")
        if not sizes:
            return self
        pieces = array.reshape(value, [len(sizes), sizes[0]] + list(value.shape[1:]))
        return self.unstack(pieces)

    def _element_rows(self, value):
        value = value if isinstance(value, _TensorLike) else convert_to_tensor(
            value, dtype=self.dtype)
        if value.dtype is not self.dtype:
            raise errors.InvalidArgumentError(
                f"TensorArray dtype is {self.dtype.name} but Op is trying to write dtype "
                f"{value.dtype.name}", "TensorArray")
        if value.shape.rank in (None, 0):
            raise errors.UnimplementedError(
                "TensorArray: unstack/scatter need a value of known rank >= 1, received "
                f"shape {value.shape}", "TensorArray")
        if value.shape[0] != 0:
            self._element(value[0])
        return value

    # -- reading
    def _dense(self, what):
        """The flow with its static shape [*E, n]; ValueError if E was never known."""
        flow = self.flow
        known = self._known_shape()
        if known is None:
            if isinstance(flow, _UnsetFlow) or flow.shape.rank is None:
                raise ValueError(f"TensorArray.{what}: the element shape is unknown (nothing "
                                 "was written and no element_shape was given)")
            return flow
        length = self._length()
        if not known.is_fully_defined():
            return _with_static_shape(flow, known.concatenate([length]))
        if length is None:  # (traced, dynamic_size: the flow is [*E, n] or still [n])
            if flow.shape.rank == known.rank + 1:
                return flow
            flow = array.broadcast_to(flow, array.concat(
                [convert_to_tensor(list(known), dtypes.int32), array.shape(flow)[-1:]], 0))
            flow._shape = known.concatenate([None])
            return flow
        target = list(known) + [length]
        if flow.shape.rank is None or list(flow.shape) != target:
            flow = _broadcast(flow, target)
        return flow

    def read(self, index, name=None):
        """The element at `index`."""
        position = _maybe_static(index)
        length = self._length()
        if position is not None and length is not None and not 0 <= position < length:
            raise errors.OutOfRangeError(
                f"Tried to read from index {position} but array size is: {self._length()}",
                "TensorArray.read")
        return indexing.gather(self._dense("read"), index, axis=-1)

    def gather(self, indices, name=None):
        """The elements at `indices`, stacked on a new first axis."""
        picked = indexing.gather(self._dense("gather"), indices, axis=-1)
        return _index_first(picked)

    def stack(self, name=None):
        """All elements stacked on a new first axis: [size, *element_shape]."""
        if self._length() == 0 and self._known_shape() is None:
            return array.zeros([0], self.dtype)
        return _index_first(self._dense("stack"))

    def concat(self, name=None):
        """All elements concatenated along their first axis."""
        stacked = self.stack()
        if stacked.shape.rank < 2:
            raise ValueError("TensorArray.concat: elements must have rank >= 1 (use stack for "
                             "scalars)")
        if stacked.shape[2:].is_fully_defined():
            return array.reshape(stacked, [-1] + list(stacked.shape[2:]))
        tail = array.shape(stacked)[2:]
        return array.reshape(stacked, array.concat([convert_to_tensor([-1]), tail], 0))

    # -- TF's housekeeping methods
    def identity(self):
        return self

    def close(self, name=None):
        return None

    def mark_used(self):
        return None

    def __repr__(self):
        return (f"<tf.TensorArray dtype={self.dtype.name} size={self._length()} "
                f"element_shape={self._static.element_shape}>")


def _text(shape):
    return f"({', '.join(str(d) for d in shape)}{',' if shape.rank == 1 else ''})"


def _static_int(op, value, what):
    found = _maybe_static(value)
    if found is None:
        raise errors.UnimplementedError(f"{op}: the {what} must be known when traced", op)
    return found


def _maybe_static(value):
    """A Python int for an int or a tensor whose value is known now, else None."""
    if isinstance(value, _TensorLike):
        if value._value is None:
            from tensorflux.graph.static import get_static_value

            found = get_static_value(value)
            return None if found is None else int(found)
        return int(value)
    return int(value)


def _new_flow(static):
    shape = static.element_shape
    if shape.is_fully_defined():
        flow = array.zeros(list(shape) + [static.size], static.dtype)
        if flow._value is None and static.dynamic_size:
            # Traced and growable: its length is known only at run time, so that a loop
            # may write past the end (the static shape a loop variable keeps).
            flow = array.identity(flow)
            flow._shape = shape.concatenate([None])
        return flow
    flow = array.zeros([static.size], static.dtype)
    if flow._value is not None:
        flow = array.identity(flow)
        flow.__class__ = _UnsetFlow
        return flow
    # Traced: a loop variable whose static shape is unknown, so that the loop body may
    # give it the element shape of its first write (see the module's docstring).
    flow = array.identity(flow)
    flow._shape = TensorShape(None)
    return flow


def _growing_write(flow, index, value):
    """A traced dynamic_size array's flow [*E, n] (or [n] before its first write) with
    `value` at `index`, grown to index + 1 elements first when n is smaller: the length is
    a run-time value, so a loop may write at indices it computes."""
    static = value.shape.concatenate([None])  # (the rank dynamic shapes leave unknown)
    if flow.shape.rank is None and value.shape.is_fully_defined():
        from tensorflux.graph.static import static_dims

        known = static_dims(array.shape(flow))  # (a flow made in this trace: [n], n known)
        if known is not None and None not in known:
            flow = _broadcast(flow, list(value.shape) + known[-1:])
    dims = _dims(value)
    index = math.cast(convert_to_tensor(index), dtypes.int32)
    length = array.shape(flow)[-1:]
    full = array.broadcast_to(flow, array.concat([dims, length], 0))
    extra = math.maximum(index + 1 - length, 0)
    zeros = array.zeros(array.concat([dims, extra], 0), value.dtype)
    full._shape = zeros._shape = static
    full = array.concat([full, zeros], axis=-1)
    picked = math.equal(array.range(length[0] + extra[0]), index)
    new = math.where(picked, array.expand_dims(value, -1), full)
    new._shape = static
    return new


def _dims(value):
    """The value's shape as an int32 tensor: a constant when known statically."""
    if value.shape.is_fully_defined():
        return convert_to_tensor(list(value.shape), dtypes.int32)
    return array.shape(value)


def _broadcast_like(flow, value, length):
    """The flow broadcast to [*value.shape, length] (run-time dims where the static shape
    has None: a batch size known only when the graph runs)."""
    if value.shape.is_fully_defined():
        return _broadcast(flow, list(value.shape) + [length])
    target = array.concat([array.shape(value), convert_to_tensor([length], dtypes.int32)], 0)
    full = array.broadcast_to(flow, target)
    full._shape = value.shape.concatenate([length])
    return full


def _grown(flow, element_shape, extra, dtype):
    """The flow with `extra` more (zero) elements at the end."""
    full = _broadcast(flow, list(element_shape) + [flow.shape[-1]])
    zeros = array.zeros(list(element_shape) + [extra], dtype)
    return array.concat([full, zeros], axis=-1)


def _broadcast(flow, target):
    if flow.shape.rank is None:
        # A traced loop's flow of unknown static shape: broadcast_to's checks need a rank,
        # the primitive does not (the runtime array is [n] or already [*E, n]).
        return array._broadcast_to.bind(flow, shape=tuple(target))
    return array.broadcast_to(flow, target)


def _with_static_shape(flow, shape):
    """The flow (written at least once, so [*E, n] when it runs) with its static shape: E is
    known only in part (a batch size known when the graph runs), so it cannot be built by
    broadcasting a flow still [n]."""
    if flow.shape.rank == shape.rank:
        return flow
    flow = array.identity(flow)
    flow._shape = shape
    return flow


def _with_flow(ta, flow):
    return tuple.__new__(type(ta), (flow,))


def _rebuilt(cls, flow):
    return tuple.__new__(cls, (flow,))


def _index_first(x):
    rank = x.shape.rank
    if rank == 1:
        return x
    return linalg.transpose(x, [rank - 1] + list(range(rank - 1)))
