"""Nested structures (lists, tuples, dicts) as Keras's `tree` sees them: flatten and map."""

__all__ = ["flatten", "map_structure", "pack_sequence_as", "is_nested"]


def is_nested(value):
    return isinstance(value, (list, tuple, dict))


def flatten(structure):
    """The leaves of nested lists/tuples/dicts, dict values in sorted-key order."""
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
    """The same structure with `fn` applied to every leaf."""
    if isinstance(structure, dict):
        return type(structure)((k, map_structure(fn, v)) for k, v in structure.items())
    if isinstance(structure, tuple) and hasattr(structure, "_fields"):
        return type(structure)(*[map_structure(fn, v) for v in structure])
    if isinstance(structure, (list, tuple)):
        return type(structure)(map_structure(fn, v) for v in structure)
    return fn(structure)


def pack_sequence_as(structure, flat):
    """Inverse of flatten: `structure` with its leaves replaced by `flat`, in order."""
    iterator = iter(flat)
    return _pack(structure, iterator)


def _pack(structure, iterator):
    if isinstance(structure, dict):
        values = {k: _pack(structure[k], iterator) for k in sorted(structure, key=str)}
        return type(structure)((k, values[k]) for k in structure)
    if isinstance(structure, tuple) and hasattr(structure, "_fields"):
        return type(structure)(*[_pack(v, iterator) for v in structure])
    if isinstance(structure, (list, tuple)):
        return type(structure)(_pack(v, iterator) for v in structure)
    return next(iterator)
