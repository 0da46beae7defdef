"""Variable: the only mutable tensor (assign, assign_add, assign_sub, trainable, name)."""

import enum
import itertools
import threading
import weakref

from tensorflux.context import context
from tensorflux.tensor import (
    _BY_NATIVE,
    Tensor,
    TensorShape,
    _numpy_repr,
    _TensorLike,
    _tf_key,
    convert_to_tensor,
)
from tensorflux.tensor_shape import shape_from_tuple

__all__ = ["Variable", "VariableAggregation", "VariableSynchronization"]

_uid = itertools.count()


class _Creations(threading.local):
    """Per thread: how many Variables it has created (tf.function counts its own trace's, as
    TF's variable creator scope sees only its thread's)."""

    count = 0


_creations = _Creations()


class VariableSynchronization(enum.Enum):
    """When a distributed Variable's replicas are synchronized (TF's enum and values)."""

    AUTO = 0
    NONE = 1
    ON_WRITE = 2
    ON_READ = 3


class VariableAggregationV2(enum.Enum):
    """How a distributed Variable's replica updates are combined; tf.VariableAggregation
    (TF 2 names the class VariableAggregationV2, and its repr shows it)."""

    NONE = 0
    SUM = 1
    MEAN = 2
    ONLY_FIRST_REPLICA = 3


VariableAggregation = VariableAggregationV2


def _mode(kind, enum_type, value, name):
    """`value` as a member of `enum_type`: a member or its int value, as TF accepts; anything
    else (a string such as "sum") is TF's ValueError."""
    if isinstance(value, enum_type):
        return value
    if isinstance(value, enum.Enum):  # (a compatible enum of another module: by value)
        value = value.value
    try:
        return enum_type(value)
    except (ValueError, TypeError):
        raise ValueError(f"Invalid variable {kind} mode: {value} for variable: "
                         f"{name}") from None


# ------------------------------------------------------------------ scoped reads
# keras.StatelessScope runs code on given values of variables without changing them. While
# one is open in a thread it is registered here, as an object with `reads` (id(variable) ->
# the tensor that variable reads as), `read(variable)` and `write(variable, kind, value)`.
# Then an op reading a mapped variable gets the mapped tensor itself in its place, so that a
# tape sees that tensor used (gradients reach the values passed to stateless_call) and a
# trace puts it in the graph; and an assignment goes to the scope instead of the variable.
# Primitive.bind pays one module-global test for it: its `_variable_reads` is this module's
# _read_as_mapped while a scope is open in any thread, else None.
class _ScopedReads(threading.local):
    scope = None


_scoped_reads = _ScopedReads()
_open_scopes = 0  # in all threads: while 0, reads and assignments skip the thread-local test
_open_lock = threading.Lock()


def _read_as_mapped(primitive, inputs):
    """Primitive.bind's hook while a stateless scope is open: `inputs` with each variable
    that this thread's scope maps replaced by its tensor. A stateful op (an assignment) keeps
    its variable: Variable.assign* reach the scope before any op runs."""
    scope = _scoped_reads.scope
    if scope is None or primitive.stateful:
        return inputs
    reads = scope.reads
    for x in inputs:
        if id(x) in reads:  # (the scope holds its variables: their ids are theirs alone)
            return tuple(scope.read(x) if id(x) in reads else x for x in inputs)
    return inputs


def _open_scope(scope):
    """Makes `scope` this thread's stateless scope; returns the one it replaces."""
    global _open_scopes
    from tensorflux import primitive

    outer, _scoped_reads.scope = _scoped_reads.scope, scope
    with _open_lock:
        _open_scopes += 1
        primitive._variable_reads = _read_as_mapped
    return outer


def _close_scope(outer):
    """Puts back the scope `_open_scope` replaced."""
    global _open_scopes
    from tensorflux import primitive

    _scoped_reads.scope = outer
    with _open_lock:
        _open_scopes -= 1
        if not _open_scopes:
            primitive._variable_reads = None


class Variable(_TensorLike):
    """A mutable tensor: its value changes only through `assign*`, in place.

    Ops read a Variable's current value; a GradientTape watches trainable Variables it
    sees an op read (unless `watch_accessed_variables=False`).

    >>> import tensorflux as tf
    >>> v = tf.Variable([1.0, 2.0], name="w")
    >>> _ = v.assign_add([1.0, 1.0])
    >>> v.numpy().tolist(), v.name, v.trainable
    ([2.0, 3.0], 'w:0', True)
    """

    __slots__ = ("_value", "_name", "_scope", "trainable", "_shape", "_constraint",
                 "_unique_id", "synchronization", "aggregation", "__weakref__")

    def __init__(self, initial_value=None, trainable=None, validate_shape=True,
                 caching_device=None, name=None, variable_def=None, dtype=None,
                 import_scope=None, constraint=None,
                 synchronization=VariableSynchronization.AUTO,
                 aggregation=VariableAggregation.NONE, shape=None,
                 experimental_enable_variable_lifting=True):
        if variable_def is not None:
            # (a TF1 graph's VariableDef proto; TF 2 refuses it eagerly too)
            raise ValueError("Variable: variable_def (a graph VariableDef to rebuild from) is "
                             "not supported; give initial_value, and restore values with "
                             "tf.train.Checkpoint")
        if initial_value is None:
            raise ValueError("initial_value must be specified.")
        synchronization = _mode("synchronization", VariableSynchronization, synchronization,
                                name)
        aggregation = _mode("aggregation", VariableAggregationV2, aggregation, name)
        if callable(initial_value):
            initial_value = _outside_graph(initial_value)
        value = convert_to_tensor(initial_value, dtype=dtype)
        if value._value is None:
            # Made while tracing a tf.function: TF lifts the initializer out of the graph.
            from tensorflux.graph.static import lift

            value = lift(value)
        # A variable owns its buffer: copy, so that in-place updates never alias the source.
        self._value = context_backend_copy(value._value)
        # TF2 eager does not make variable names unique; Keras layers name their own.
        self._name = name or "Variable"
        self._scope = context.name_scope  # (the tf.name_scope it was made in, for `name`)
        if trainable is None:  # (TF: an ON_READ variable, a metric's, is not trainable)
            trainable = synchronization != VariableSynchronization.ON_READ
        self.trainable = bool(trainable)
        self._shape = TensorShape(shape) if shape is not None else value.shape
        if validate_shape and not self._shape.is_compatible_with(value.shape):
            raise ValueError(f"Variable {self._name} was given shape {self._shape} but its "
                             f"initial value has shape {value.shape}")
        self._constraint = constraint
        self._unique_id = next(_uid)
        _creations.count += 1
        self.synchronization = synchronization
        self.aggregation = aggregation

    # -- what the variable is
    @property
    def name(self):
        return f"{self._scope}{self._name}:0"

    @property
    def dtype(self):
        found = _BY_NATIVE.get(self._value.dtype)
        return found if found is not None else Tensor(self._value).dtype

    @property
    def shape(self):
        if not self._shape.is_fully_defined():
            return self._shape
        return shape_from_tuple(self._value.shape)  # (a tuple of ints: nothing to check)

    def get_shape(self):
        return self.shape

    @property
    def ndim(self):
        return self._value.ndim

    @property
    def device(self):
        return Tensor(self._value).device

    @property
    def constraint(self):
        return self._constraint

    @property
    def handle(self):
        return self

    def _current(self):
        """The raw current value: the mapped tensor's inside a stateless scope mapping it."""
        scope = _scoped_reads.scope if _open_scopes else None
        if scope is not None and id(self) in scope.reads:
            return scope.read(self)._value
        return self._value

    def numpy(self):
        """A copy of the current value as a NumPy array."""
        return Tensor(self._current()).numpy()  # numpy() copies

    def __array__(self, dtype=None, copy=None):
        return Tensor(self._current()).__array__(dtype, copy=True)

    def read_value(self):
        """The current value as a new Tensor; later assignments do not change it. Inside a
        keras.StatelessScope that maps the variable: the mapped tensor itself (Keras's
        `variable.value`), so that gradients reach it."""
        scope = _scoped_reads.scope if _open_scopes else None
        if scope is not None and id(self) in scope.reads:
            return scope.read(self)
        from tensorflux.ops import array

        return array.read_variable(self)

    def value(self):
        return self.read_value()

    def __len__(self):
        return len(Tensor(self._current()))

    def __iter__(self):
        return iter(self.read_value())

    def __bool__(self):
        return bool(Tensor(self._current()))

    def __float__(self):
        return float(self._current())

    def __int__(self):
        return int(self._current())

    def __index__(self):
        return Tensor(self._current()).__index__()

    def __repr__(self):
        return (f"<tf.Variable '{self.name}' shape={self.shape} dtype={self.dtype.name}, "
                f"numpy={_numpy_repr(self.numpy())}>")

    def __deepcopy__(self, memo):
        copy = Variable(self.numpy(), trainable=self.trainable, name=self._name,
                        constraint=self._constraint)
        copy._scope = self._scope
        return copy

    # -- mutation
    def assign(self, value, use_locking=None, name=None, read_value=True):
        """Writes `value` into the variable (its dtype, a compatible shape: TF's ValueError
        otherwise) and returns it. A variable made with unknown dims (shape=[None, 2]) takes
        a value of any compatible shape."""
        if _open_scopes and _scoped_reads.scope is not None and \
                _scoped_reads.scope.write(self, "assign", value):
            return self if read_value else None
        if value.__class__ is Tensor and value._value.shape == self._value.shape:
            return _assign(self, "assign", value, read_value)  # the common case, checked there
        if isinstance(value, Variable):
            value = value.read_value()
        elif not isinstance(value, _TensorLike):
            from tensorflux.ops._core import as_operand

            value = as_operand("assign", value, self.dtype)
        if not self._shape.is_compatible_with(value.shape):
            from tensorflux import errors

            # TF's ValueError (InvalidArgumentError is one), with its message
            raise errors.InvalidArgumentError(
                f"Cannot assign value to variable '{self.name}': Shape mismatch. The "
                f"variable shape {self._shape}, and the assigned value shape {value.shape} "
                "are incompatible.", "assign")
        if (value.__class__ is Tensor and value.dtype is self.dtype
                and tuple(value.shape) != tuple(self._value.shape)):
            # (only where the declared shape has unknown dims) the value becomes a new buffer
            self._value = context_backend_copy(value._value)
            return self if read_value else None
        return _assign(self, "assign", value, read_value)

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        return _assign(self, "assign_add", delta, read_value)

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        return _assign(self, "assign_sub", delta, read_value)

    def scatter_nd_update(self, indices, updates, name=None):
        """Writes `updates` at `indices` (as tf.tensor_scatter_nd_update) and returns self."""
        from tensorflux.ops import indexing

        return self.assign(indexing.tensor_scatter_nd_update(self.read_value(), indices,
                                                             updates))

    def scatter_nd_add(self, indices, updates, name=None):
        from tensorflux.ops import indexing

        return self.assign(indexing.tensor_scatter_nd_add(self.read_value(), indices, updates))

    def scatter_nd_sub(self, indices, updates, name=None):
        from tensorflux.ops import indexing

        return self.assign(indexing.tensor_scatter_nd_sub(self.read_value(), indices, updates))

    # -- rows: reads and updates by row index (TF's sparse_read and scatter_* taking a
    # tf.IndexedSlices, as embeddings and custom optimizers with sparse gradients use them)
    def sparse_read(self, indices, name=None):
        from tensorflux.ops import indexing

        return indexing.gather(self, indices)

    def gather_nd(self, indices, name=None):
        from tensorflux.ops import indexing

        return indexing.gather_nd(self, indices)

    def scatter_update(self, sparse_delta, use_locking=False, name=None):
        return _scatter_rows(self, "update", sparse_delta)

    def scatter_add(self, sparse_delta, use_locking=False, name=None):
        return _scatter_rows(self, "add", sparse_delta)

    def scatter_sub(self, sparse_delta, use_locking=False, name=None):
        return _scatter_rows(self, "sub", sparse_delta)

    def scatter_max(self, sparse_delta, use_locking=False, name=None):
        return _scatter_rows(self, "max", sparse_delta)

    def scatter_min(self, sparse_delta, use_locking=False, name=None):
        return _scatter_rows(self, "min", sparse_delta)

    def scatter_mul(self, sparse_delta, use_locking=False, name=None):
        return _scatter_rows(self, "mul", sparse_delta)

    def scatter_div(self, sparse_delta, use_locking=False, name=None):
        return _scatter_rows(self, "div", sparse_delta)

    # -- Python's augmented assignments would rebind the name to a new tensor and leave the
    # variable as it was; TensorFlow refuses them (//=, %=, @= and the bitwise ones rebind).
    def __iadd__(self, other):
        raise _in_place("variable += value", "variable.assign_add(value)", "variable + value")

    def __isub__(self, other):
        raise _in_place("variable -= value", "variable.assign_sub(value)", "variable - value")

    def __imul__(self, other):
        raise _in_place("var *= value", "var.assign(var * value)", "var * value")

    def __itruediv__(self, other):
        raise _in_place("var /= value", "var.assign(var / value)", "var / value")

    def __ipow__(self, other):
        raise _in_place("var **= value", "var.assign(var ** value)", "var ** value")

    # -- slices: v[key] is a tensor whose .assign writes back into v (TF's sliced assign)
    def __getitem__(self, key):
        from tensorflux.ops import array

        key = _tf_key(key)
        return _mark_slice(array.getitem(self, key), self, key)

    def __hash__(self):
        raise TypeError("Variable is unhashable. Instead, use variable.ref() as the key. "
                        f"(Variable: {self!r})")

    def _as_graph_element(self):
        return self


def _in_place(statement, method, expression):
    return RuntimeError(f"`{statement}` with `tf.Variable`s is not supported. Use `{method}` "
                        f"to modify the variable, or `out = {expression}` if you need to get a "
                        "new output Tensor.")


def _scatter_rows(variable, kind, sparse_delta):
    """variable.assign of its value with the rows sparse_delta.indices combined with
    sparse_delta.values by `kind` (repeated rows: added, or multiplied for mul and div)."""
    from tensorflux.indexed_slices import IndexedSlices

    if not isinstance(sparse_delta, IndexedSlices):
        raise TypeError("Argument `sparse_delta` must be a `tf.IndexedSlices`. Received arg: "
                        f"{sparse_delta!r}")
    import tensorflux as tf

    current = variable.read_value()
    values = tf.cast(sparse_delta.values, current.dtype)
    if kind in ("mul", "div"):
        factors = tf.math.unsorted_segment_prod(values, sparse_delta.indices,
                                                tf.shape(current)[0])
        return variable.assign(current * factors if kind == "mul" else current / factors)
    scatter = getattr(tf, f"tensor_scatter_nd_{kind}")
    return variable.assign(scatter(current, tf.expand_dims(sparse_delta.indices, -1), values))


def _assign(variable, kind, value, read_value):
    from tensorflux.ops import array

    scope = _scoped_reads.scope if _open_scopes else None
    if scope is not None and kind != "assign" and scope.write(variable, kind, value):
        return variable if read_value else None  # (assign itself reached the scope first)
    array.assign_op(variable, kind, value)
    return variable if read_value else None


# ------------------------------------------------------------------ sliced assignment
# v[key] returns an ordinary tensor of the slice's value whose class also carries assign,
# assign_add and assign_sub bound to (v, key). The class is swapped in place rather than the
# tensor copied, because tapes and graphs know tensors by identity; the (variable, key) pair
# lives in _SLICES, keyed by the tensor's id and dropped with the tensor.

_SLICES = {}
_SLICE_CLASSES = {}


class _SliceAssign:
    """assign/assign_add/assign_sub of a tensor read as a slice of a Variable."""

    __slots__ = ()

    def _slice_of(self):
        entry = _SLICES.get(id(self))
        if entry is None or entry[0]() is not self:
            raise AttributeError("this tensor is no longer linked to the variable it was "
                                 "sliced from")
        return entry[1], entry[2]

    def assign(self, value, use_locking=None, name=None, read_value=True):
        """Writes `value` (broadcast to the slice's shape) into the slice of the variable."""
        variable, key = self._slice_of()
        return _assign_slice(variable, key, "assign", value, read_value)

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        variable, key = self._slice_of()
        return _assign_slice(variable, key, "assign_add", delta, read_value)

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        variable, key = self._slice_of()
        return _assign_slice(variable, key, "assign_sub", delta, read_value)


def _slice_class(cls):
    found = _SLICE_CLASSES.get(cls)
    if found is None:
        found = _SLICE_CLASSES[cls] = type(cls.__name__, (cls, _SliceAssign), {"__slots__": ()})
    return found


def _mark_slice(tensor, variable, key):
    if not isinstance(tensor, Tensor) or tensor.__class__ in _SLICE_CLASSES.values():
        return tensor
    try:
        tensor.__class__ = _slice_class(tensor.__class__)
    except TypeError:  # a tensor class whose layout forbids it: a plain read-only slice
        return tensor
    ident = id(tensor)
    _SLICES[ident] = (weakref.ref(tensor, lambda _, ident=ident: _SLICES.pop(ident, None)),
                      variable, key)
    return tensor


def _assign_slice(variable, key, kind, value, read_value):
    """Scatters the new slice values into the variable: the flat positions of the slice are
    found by slicing a tensor of positions with the same key, so every key getitem accepts
    (ints, slices, ellipsis, newaxis, tensors) works, eagerly and while tracing."""
    from tensorflux.ops import array, indexing, math

    current = variable.read_value()
    count = current.shape.num_elements()
    if count is None:
        raise ValueError(f"Variable {variable.name}: sliced assignment needs a fully known "
                         f"shape, the variable has shape {current.shape}")
    positions = array.getitem(array.reshape(array.range(count), list(current.shape)), key)
    value = convert_to_tensor(value, dtype=variable.dtype) if not isinstance(
        value, _TensorLike) else value
    if kind != "assign":
        old = array.getitem(current, key)
        value = math.add(old, value) if kind == "assign_add" else math.subtract(old, value)
    if not positions.shape.is_compatible_with(value.shape) and value.shape.rank != 0:
        raise ValueError(f"Variable {variable.name}: cannot assign a value of shape "
                         f"{value.shape} to a slice of shape {positions.shape}")
    value = array.broadcast_to(value, list(positions.shape))
    flat = indexing.tensor_scatter_nd_update(
        array.reshape(current, [-1]), array.reshape(positions, [-1, 1]),
        array.reshape(value, [-1]))
    flat = array.reshape(flat, list(current.shape))
    scope = _scoped_reads.scope
    if scope is None or not scope.write(variable, "assign", flat):
        array.assign_op(variable, "assign", flat)
    return variable if read_value else None


def _outside_graph(initializer):
    """Runs an initializer eagerly even while a tf.function is being traced (init_scope)."""
    from tensorflux.context import context

    saved = context.graph
    context.graph = None
    try:
        return initializer()
    finally:
        context.graph = saved


def context_backend_copy(raw):
    from tensorflux.backends import backend_of

    return backend_of(raw).copy(raw)

