"""Nested structures (lists, tuples, namedtuples, dicts): flatten, pack and map, as tf.nest."""

__all__ = ["flatten", "map_structure", "pack_sequence_as", "is_nested",
           "assert_same_structure"]


def is_nested(value):
    return isinstance(value, (list, tuple, dict))


def flatten(structure):
    """The leaves of nested lists/tuples/dicts, dict values in sorted-key order.

    >>> from tensorflux import nest
    >>> nest.flatten({"b": [1, (2, 3)], "a": 0})
    [0, 1, 2, 3]
    """
    leaves = []
    _flatten_into(structure, leaves)
    return leaves


def _flatten_into(value, leaves):
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            _flatten_into(value[key], leaves)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _flatten_into(item, leaves)
    else:
        leaves.append(value)


def map_structure(fn, structure):
    """The same structure with `fn` applied to every leaf.

    >>> from tensorflux import nest
    >>> nest.map_structure(lambda x: x * 10, {"b": [1, (2, 3)], "a": 0})
    {'b': [10, (20, 30)], 'a': 0}
    """
    if isinstance(structure, dict):
        return type(structure)((k, map_structure(fn, v)) for k, v in structure.items())
    if _is_namedtuple(structure):
        return type(structure)(*[map_structure(fn, v) for v in structure])
    if isinstance(structure, (list, tuple)):
        return type(structure)(map_structure(fn, v) for v in structure)
    return fn(structure)


def pack_sequence_as(structure, flat_sequence):
    """Inverse of flatten: `structure` with its leaves replaced by `flat_sequence`, in order;
    containers keep their types and dicts their key order.

    >>> from tensorflux import nest
    >>> nest.pack_sequence_as({"b": [None, (None, None)], "a": None}, [0, 1, 2, 3])
    {'b': [1, (2, 3)], 'a': 0}
    """
    return pack_with(structure, flat_sequence, _sequence_like)


def pack_with(structure, flat_sequence, rebuild):
    """Packs `flat_sequence` like `structure` (leaves in flatten's order); each container is
    made by `rebuild(original, packed)`, where `packed` is a list for lists and tuples and a
    dict in sorted-key order for dicts."""
    return _pack(structure, iter(flat_sequence), rebuild)


def _pack(structure, leaves, rebuild):
    if isinstance(structure, dict):
        keys = sorted(structure, key=str)
        return rebuild(structure, {k: _pack(structure[k], leaves, rebuild) for k in keys})
    if isinstance(structure, (list, tuple)):
        return rebuild(structure, [_pack(v, leaves, rebuild) for v in structure])
    return next(leaves)


def _sequence_like(instance, packed):
    if isinstance(instance, dict):
        return type(instance)((k, packed[k]) for k in instance)
    if _is_namedtuple(instance):
        return type(instance)(*packed)
    return type(instance)(packed)


def _is_namedtuple(value):
    return isinstance(value, tuple) and hasattr(value, "_fields")


def assert_same_structure(nest1, nest2, check_types=True, expand_composites=False):
    """Raises ValueError unless the two structures nest alike (the same lengths and dict
    keys), and TypeError, with check_types, where their containers' types differ.

    >>> from tensorflux import nest
    >>> nest.assert_same_structure({"a": [1, 2]}, {"a": [3, 4]})
    >>> nest.assert_same_structure([1, 2], [1])
    Traceback (most recent call last):
    ...
    ValueError: The two structures don't have the same nested structure: [1, 2] and [1] ...
    """
    _check_same(nest1, nest2, check_types, nest1, nest2, "the top level")


def _check_same(a, b, check_types, whole1, whole2, where):
    def fail(why):
        raise ValueError(f"The two structures don't have the same nested structure: "
                         f"{whole1!r} and {whole2!r} (at {where}: {why})")

    if is_nested(a) != is_nested(b):
        fail(f"{_kind(a)} and {_kind(b)}")
    if not is_nested(a):
        return
    if check_types and type(a) is not type(b):
        raise TypeError(f"The two structures don't have the same sequence type: "
                        f"{type(a).__name__} and {type(b).__name__} at {where} of {whole1!r} "
                        f"and {whole2!r}")
    if isinstance(a, dict) != isinstance(b, dict):
        fail(f"{_kind(a)} and {_kind(b)}")
    if isinstance(a, dict):
        if set(a) != set(b):
            fail(f"dict keys {sorted(a, key=str)} and {sorted(b, key=str)}")
        for key in sorted(a, key=str):
            _check_same(a[key], b[key], check_types, whole1, whole2, f"key {key!r}")
        return
    if len(a) != len(b):
        fail(f"{_kind(a)} and {_kind(b)}")
    for i, (x, y) in enumerate(zip(a, b)):
        _check_same(x, y, check_types, whole1, whole2, f"index {i}")


def _kind(value):
    if isinstance(value, dict):
        return f"a dict of {len(value)} entries"
    if is_nested(value):
        return f"a sequence of {len(value)} element{'s' if len(value) != 1 else ''}"
    return "a leaf"
