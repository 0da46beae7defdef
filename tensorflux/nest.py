"""Nested structures, as tf.nest: flatten, pack, map and compare them.

A structure's nodes are sequences (lists, tuples, namedtuples, deques; not strings), mappings
(dicts, OrderedDicts, defaultdicts) and, with `expand_composites=True`, composite tensors
(SparseTensor, RaggedTensor) and their specs, taken apart into their component tensors.
Everything else, None included, is a leaf. A mapping's values come in sorted-key order; a
rebuilt mapping keeps the key order of the structure it copies.
"""

import collections
import collections.abc

from tensorflux.composite_tensor import CompositeTensor, TypeSpec

__all__ = ["assert_same_structure", "flatten", "is_nested", "map_structure",
           "pack_sequence_as"]

# What each type is, decided once per type (the hot paths call this for every value).
_LEAF, _SEQUENCE, _NAMEDTUPLE, _MAPPING, _COMPOSITE, _SPEC = range(6)
_KINDS = {list: _SEQUENCE, tuple: _SEQUENCE, dict: _MAPPING, str: _LEAF, bytes: _LEAF,
          int: _LEAF, float: _LEAF, bool: _LEAF, type(None): _LEAF}


def _kind_of_type(kind_type):
    if issubclass(kind_type, (str, bytes)):
        return _LEAF
    if issubclass(kind_type, tuple) and hasattr(kind_type, "_fields"):
        return _NAMEDTUPLE
    if issubclass(kind_type, collections.abc.Mapping):
        return _MAPPING
    if issubclass(kind_type, collections.abc.Sequence):
        return _SEQUENCE
    if issubclass(kind_type, CompositeTensor):
        return _COMPOSITE
    if issubclass(kind_type, TypeSpec):
        return _SPEC
    return _LEAF


def _kind(value):
    kind = _KINDS.get(type(value))
    if kind is None:
        kind = _KINDS[type(value)] = _kind_of_type(type(value))
    return kind


def _node_kind(value, expand_composites):
    """The value's kind, with composites and specs as leaves unless expanding them."""
    kind = _kind(value)
    if kind >= _COMPOSITE and not expand_composites:
        return _LEAF
    return kind


def is_nested(seq):
    """Whether `seq` is a node of a structure (a sequence other than a string, or a mapping).

    >>> from tensorflux import nest
    >>> nest.is_nested([1]), nest.is_nested({"a": 1}), nest.is_nested("ab"), nest.is_nested(1)
    (True, True, False, False)
    """
    return _SEQUENCE <= _kind(seq) <= _MAPPING


def _sorted_keys(mapping):
    try:
        return sorted(mapping)
    except TypeError:
        raise TypeError(f"nest only supports mappings with sortable keys, received the keys "
                        f"{list(mapping)!r}") from None


def _children(value, kind):
    """A node's children in flattening order."""
    if kind == _MAPPING:
        return [value[key] for key in _sorted_keys(value)]
    if kind == _COMPOSITE:
        return value._type_spec._to_components(value)
    if kind == _SPEC:
        return value._component_specs
    return value


def flatten(structure, expand_composites=False):
    """The leaves of `structure`, depth first, mapping values in sorted-key order.

    >>> from tensorflux import nest
    >>> nest.flatten({"b": [1, (2, 3)], "a": 0})
    [0, 1, 2, 3]
    >>> nest.flatten(None)
    [None]
    """
    leaves = []
    _flatten_into(structure, leaves, expand_composites)
    return leaves


def _flatten_into(value, leaves, expand_composites):
    kind = _KINDS.get(type(value))  # (_kind and _node_kind inlined: this runs per leaf)
    if kind is None:
        kind = _kind(value)
    if kind == _LEAF or (kind >= _COMPOSITE and not expand_composites):
        leaves.append(value)
    elif kind == _SEQUENCE or kind == _NAMEDTUPLE:
        for item in value:
            _flatten_into(item, leaves, expand_composites)
    else:
        for item in _children(value, kind):
            _flatten_into(item, leaves, expand_composites)


def map_structure(func, *structure, **kwargs):
    """The structure of the first argument with `func` applied to the leaves of all the
    arguments, position by position; the structures must match (assert_same_structure with
    `check_types` and `expand_composites`, the only keyword arguments).

    >>> from tensorflux import nest
    >>> nest.map_structure(lambda x: x * 10, {"b": [1, (2, 3)], "a": 0})
    {'b': [10, (20, 30)], 'a': 0}
    >>> nest.map_structure(lambda a, b: a + b, [1, (2, 3)], [10, (20, 30)])
    [11, (22, 33)]
    """
    if len(structure) == 1 and not kwargs and callable(func):  # the common case, kept fast
        return _map_one(func, structure[0], False)
    if not callable(func):
        raise TypeError(f"func must be callable, got: {func!r}")
    if not structure:
        raise ValueError("Must provide at least one structure")
    check_types = kwargs.pop("check_types", True)
    expand_composites = kwargs.pop("expand_composites", False)
    if kwargs:
        raise ValueError("Only valid keyword arguments are `check_types` and "
                         f"`expand_composites`, not: `{'`, `'.join(kwargs)}`")
    first = structure[0]
    if len(structure) == 1:
        return _map_one(func, first, expand_composites)
    for other in structure[1:]:
        assert_same_structure(first, other, check_types=check_types,
                              expand_composites=expand_composites)
    columns = zip(*[flatten(s, expand_composites) for s in structure])
    return pack_sequence_as(first, [func(*column) for column in columns],
                            expand_composites=expand_composites)


def _map_one(func, value, expand_composites):
    """map_structure of one structure: `func` called in flattening order."""
    kind = _KINDS.get(type(value))  # (_kind and _node_kind inlined: this runs per leaf)
    if kind is None:
        kind = _kind(value)
    if kind == _LEAF or (kind >= _COMPOSITE and not expand_composites):
        return func(value)
    if type(value) is list:
        return [_map_one(func, v, expand_composites) for v in value]
    if type(value) is tuple:
        return tuple([_map_one(func, v, expand_composites) for v in value])
    if type(value) is dict:  # `func` in sorted-key order; the result keeps the dict's order
        keys = _sorted_keys(value)
        mapped = {key: _map_one(func, value[key], expand_composites) for key in keys}
        return mapped if keys == list(value) else {key: mapped[key] for key in value}
    if kind == _MAPPING:
        mapped = {key: _map_one(func, value[key], expand_composites)
                  for key in _sorted_keys(value)}
    else:
        mapped = [_map_one(func, v, expand_composites) for v in _children(value, kind)]
    return _rebuild(value, kind, mapped)


def _rebuild(instance, kind, packed):
    """A node like `instance` holding `packed` (a list, or a dict for a mapping)."""
    if kind == _MAPPING:
        if isinstance(instance, collections.defaultdict):
            result = type(instance)(instance.default_factory)
            for key in instance:
                result[key] = packed[key]
            return result
        return type(instance)((key, packed[key]) for key in instance)
    if kind == _NAMEDTUPLE:
        return type(instance)(*packed)
    if kind == _COMPOSITE:
        return instance._type_spec._from_components(packed)
    if kind == _SPEC:
        return instance._from_components(packed)
    return type(instance)(packed)


def pack_sequence_as(structure, flat_sequence, expand_composites=False):
    """Inverse of flatten: `structure` with its leaves replaced by `flat_sequence`, in order;
    containers keep their types and mappings their key order.

    >>> from tensorflux import nest
    >>> nest.pack_sequence_as({"b": [None, (None, None)], "a": None}, [0, 1, 2, 3])
    {'b': [1, (2, 3)], 'a': 0}
    """
    if not is_nested(flat_sequence):
        raise TypeError(f"Attempted to pack value:\n  {flat_sequence}\ninto a structure, "
                        f"but found incompatible type `{type(flat_sequence)}` instead.")
    flat = list(flat_sequence)
    if _node_kind(structure, expand_composites) == _LEAF:
        if len(flat) != 1:
            raise ValueError(f"The target structure is of type `{type(structure)}`\n  "
                             f"{structure!r}\nHowever the input is a sequence "
                             f"({type(flat_sequence)}) of length {len(flat)}.\n  {flat!r}\n"
                             "nest cannot guarantee that it is safe to map one to the other.")
        return flat[0]
    leaves = iter(flat)
    try:
        packed = _pack(structure, leaves, _rebuild, expand_composites)
        extra = next(leaves, _END) is not _END
    except StopIteration:
        extra = True
    if extra:
        count = len(flatten(structure, expand_composites))
        raise ValueError(f"Could not pack sequence. Structure had {count} atoms, but "
                         f"flat_sequence had {len(flat)} items.  Structure: {structure!r}, "
                         f"flat_sequence: {flat!r}.")
    return packed


_END = object()


def pack_with(structure, flat_sequence, rebuild):
    """Packs `flat_sequence` like `structure` (leaves in flatten's order); each container is
    made by `rebuild(original, packed)`, where `packed` is a list for sequences and a dict
    in sorted-key order for mappings."""
    return _pack(structure, iter(flat_sequence), lambda node, kind, packed: rebuild(
        node, packed), False)


def _pack(structure, leaves, rebuild, expand_composites):
    kind = _node_kind(structure, expand_composites)
    if kind == _LEAF:
        return next(leaves)
    if kind == _MAPPING:
        packed = {key: _pack(structure[key], leaves, rebuild, expand_composites)
                  for key in _sorted_keys(structure)}
    else:
        packed = [_pack(v, leaves, rebuild, expand_composites)
                  for v in _children(structure, kind)]
    return rebuild(structure, kind, packed)


# ------------------------------------------------------------------ comparing structures

def assert_same_structure(nest1, nest2, check_types=True, expand_composites=False):
    """Raises ValueError unless the two structures nest alike (the same lengths and mapping
    keys) and, with `check_types`, TypeError where their sequence types differ (any two
    mappings, any two lists, and namedtuples of one name and fields count as alike).

    >>> from tensorflux import nest
    >>> nest.assert_same_structure({"a": [1, 2]}, {"a": [3, 4]})
    >>> try:
    ...     nest.assert_same_structure([1, 2], [1])
    ... except ValueError as error:
    ...     print(str(error).splitlines()[0])
    The two structures don't have the same nested structure.
    """
    problem = _difference(nest1, nest2, check_types, expand_composites)
    if problem is not None:
        error_type, detail = problem
        raise error_type(
            f"The two structures don't have the same nested structure.\n\n"
            f"First structure: {_describe(nest1)}\n\nSecond structure: {_describe(nest2)}\n\n"
            f"More specifically: {detail}\nEntire first structure:\n"
            f"{_outline(nest1, expand_composites)}\nEntire second structure:\n"
            f"{_outline(nest2, expand_composites)}")


def _describe(value):
    return f"type={type(value).__name__} str={value!r}"


def _outline(structure, expand_composites):
    if _node_kind(structure, expand_composites) >= _COMPOSITE:
        return "."
    try:
        return repr(_map_one(lambda _: _Dot(), structure, False))
    except Exception:  # noqa: BLE001 - an outline is only a help in the message
        return "."


class _Dot:
    def __repr__(self):
        return "."


def _same_sequence_type(a, b, kind_a, kind_b):
    if kind_a == _NAMEDTUPLE and kind_b == _NAMEDTUPLE:
        return (type(a).__name__ == type(b).__name__
                and tuple(type(a)._fields) == tuple(type(b)._fields))
    if kind_a == _MAPPING and kind_b == _MAPPING:
        return True
    if isinstance(a, list) and isinstance(b, list):
        return True
    return type(a) is type(b)


def _difference(a, b, check_types, expand_composites):
    """None where `a` and `b` nest alike, else (error type, what differs)."""
    kind_a = _node_kind(a, expand_composites)
    kind_b = _node_kind(b, expand_composites)
    if kind_a == _LEAF and kind_b == _LEAF:
        return None
    if kind_a == _LEAF or kind_b == _LEAF:
        nested, leaf = (a, b) if kind_b == _LEAF else (b, a)
        return ValueError, (f'Substructure "{_describe(nested)}" is a sequence, while '
                            f'substructure "{_describe(leaf)}" is not')
    if kind_a >= _COMPOSITE or kind_b >= _COMPOSITE:
        spec_a, spec_b = _spec_of(a, kind_a), _spec_of(b, kind_b)
        if spec_a is None or spec_b is None or not _specs_compatible(spec_a, spec_b):
            return ValueError, (f"Incompatible CompositeTensor TypeSpecs: {_describe(spec_a)} "
                                f"vs. {_describe(spec_b)}")
        return None
    if check_types and not _same_sequence_type(a, b, kind_a, kind_b):
        return TypeError, (f"The two namedtuples don't have the same sequence type. First "
                           f"structure {_describe(a)} has type {type(a).__name__}, while "
                           f"second structure {_describe(b)} has type {type(b).__name__}")
    if check_types and kind_a == _MAPPING and set(a) != set(b):
        return ValueError, (f"The two dictionaries don't have the same set of keys. First "
                            f"structure has keys {_describe(list(a))}, while second "
                            f"structure has keys {_describe(list(b))}")
    if len(a) != len(b):
        return ValueError, (f"The two structures don't have the same number of elements. "
                            f"First structure: {_describe(a)}. Second structure: "
                            f"{_describe(b)}")
    if kind_a == _MAPPING and kind_b == _MAPPING and check_types:
        pairs = [(a[key], b[key]) for key in _sorted_keys(a)]
    else:
        pairs = zip(_children(a, kind_a), _children(b, kind_b))
    for x, y in pairs:
        problem = _difference(x, y, check_types, expand_composites)
        if problem is not None:
            return problem
    return None


def _spec_of(value, kind):
    if kind == _COMPOSITE:
        return value._type_spec
    return value if kind == _SPEC else None


def _specs_compatible(a, b):
    """Whether two composite specs describe values of one kind: the same spec type and the
    same fields (dtypes, ragged rank) but their shapes, which may differ (as in TF, where
    any two shapes have a common, less specific shape)."""
    if type(a) is not type(b):
        return False
    return all(hasattr(x, "rank") or x == y for x, y in zip(a._serialize(), b._serialize()))
