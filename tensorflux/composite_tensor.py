"""CompositeTensor and TypeSpec: values made of several tensors (SparseTensor, RaggedTensor).

A composite takes itself apart into component tensors and its spec rebuilds it from them, so
code that moves tensors around (tf.function arguments and results, tf.data elements,
tf.nest with expand_composites) can carry composites through as lists of ordinary tensors.
This module imports nothing: the op modules may check `isinstance(x, CompositeTensor)`.
"""

__all__ = ["CompositeTensor", "TypeSpec", "swap_composites"]


class TypeSpec:
    """What a composite's value is made of: its component specs, and how to rebuild it.

    Subclasses define value_type, _component_specs, _to_components(value),
    _from_components(components) and _serialize() (a hashable tuple for equality).
    """

    __slots__ = ()

    def _serialize(self):
        raise NotImplementedError

    def is_compatible_with(self, spec_or_value):
        other = spec_or_value
        if isinstance(other, CompositeTensor):
            other = other._type_spec
        if type(other) is not type(self):
            return False
        return all(_compatible(a, b) for a, b in zip(self._serialize(), other._serialize()))

    def __eq__(self, other):
        return type(other) is type(self) and self._serialize() == other._serialize()

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((type(self), self._serialize()))


def _compatible(a, b):
    if hasattr(a, "is_compatible_with"):
        return a.is_compatible_with(b)
    return a == b


class CompositeTensor:
    """Base of the tensor types made of several tensors; `_type_spec` describes the value.

    Ops that TensorFlow lets take a composite reach its handler with
    `x._dispatch(op_name, *args, **kwargs)`; any other op converting one to a dense tensor
    gets an error naming the type (the `_as_tensor` hook of convert_to_tensor).
    """

    __slots__ = ()

    # NumPy defers to the composite's reflected operators (ndarray + RaggedTensor).
    __array_ufunc__ = None

    @property
    def _type_spec(self):
        raise NotImplementedError

    def _to_components(self):
        return self._type_spec._to_components(self)

    def _dispatch(self, op, *args, **kwargs):
        handler = self._DISPATCH.get(op)
        if handler is None:  # (a ValueError, as TensorFlow's failed conversion raises)
            raise ValueError(f"{op} does not take a {type(self).__name__} (shape "
                             f"{self.shape}, {self.dtype.name}); {self._dense_hint}")
        return handler(self, *args, **kwargs)

    def _as_tensor(self, dtype=None):
        raise ValueError(f"Attempt to convert a {type(self).__name__} (shape {self.shape}, "
                         f"{self.dtype.name}) to a dense Tensor: ops take dense tensors, except "
                         f"where TensorFlow dispatches them; {self._dense_hint}")

    def ref(self):
        """A hashable reference to this object, for sets and dict keys (as Tensor.ref)."""
        from tensorflux.tensor import _Reference

        return _Reference(self)


def swap_composites(kind, part, args, kwargs):
    """(args, kwargs, found): the call's arguments with each `kind` composite among them (at
    any depth) replaced by `part(composite)`, and those composites in order; how map_values
    and map_flat_values run an op on the composites' values."""
    from tensorflux import nest

    found = []

    def swap(leaf):
        if isinstance(leaf, kind):
            found.append(leaf)
            return part(leaf)
        return leaf

    args, kwargs = nest.map_structure(swap, (list(args), dict(kwargs)))
    return args, kwargs, found
