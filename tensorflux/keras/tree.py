"""keras.tree: nested structures as Keras 3 sees them (flatten, pack, map, traverse, compare).

The nodes are lists, tuples, namedtuples, dicts (plain, OrderedDict, defaultdict) and deques;
everything else, None and strings included, is a leaf. A plain dict or defaultdict gives its
values in sorted-key order and an OrderedDict in its own order, while a rebuilt dict keeps the
key order of the structure it copies. tf.nest (tensorflux.nest) differs on both points (it
sorts every mapping, by the keys' strings), so Keras code gets this module.

>>> from tensorflux import keras
>>> keras.tree.flatten({"b": [1, (2, 3)], "a": 0})
[0, 1, 2, 3]
>>> keras.tree.map_structure(lambda x: x * 10, {"b": [1, (2, 3)], "a": 0})
{'b': [10, (20, 30)], 'a': 0}
"""

import collections
import warnings

from tensorflux.keras.layers.base import _TrackedList

__all__ = ["MAP_TO_NONE", "assert_same_paths", "assert_same_structure", "flatten",
           "flatten_with_path", "is_nested", "lists_to_tuples", "map_shape_structure",
           "map_structure", "map_structure_up_to", "pack_sequence_as", "traverse"]


class MAP_TO_NONE:  # noqa: N801 - Keras's name
    """Return this from a `traverse` function to put None in place of a subtree."""


_MAPPINGS = (dict, collections.OrderedDict, collections.defaultdict)
# A layer's list attributes are _TrackedLists, which Keras registers as list nodes.
_SEQUENCES = (list, tuple, collections.deque, _TrackedList)


def _is_namedtuple(value):
    return isinstance(value, tuple) and hasattr(type(value), "_fields")


def is_nested(structure):
    """True for a list, tuple, namedtuple, dict or deque (a node of a structure).

    >>> from tensorflux import keras
    >>> keras.tree.is_nested({"a": 1}), keras.tree.is_nested(None), keras.tree.is_nested("ab")
    (True, False, False)
    """
    kind = type(structure)
    return kind in _MAPPINGS or kind in _SEQUENCES or _is_namedtuple(structure)


def _keys(node):
    """The child keys of a node, in flattening order: indices, or dict keys (sorted unless
    the dict is an OrderedDict; keys that cannot be sorted keep their insertion order)."""
    if type(node) in _MAPPINGS:
        if type(node) is collections.OrderedDict:
            return list(node)
        try:
            return sorted(node)
        except TypeError:
            return list(node)
    return list(range(len(node)))


def _children(node):
    if type(node) in _MAPPINGS:
        return [node[key] for key in _keys(node)]
    return list(node)


def _rebuild(node, children):
    """A node of the same kind as `node` holding `children` (in `_keys(node)` order)."""
    kind = type(node)
    if kind in _MAPPINGS:
        by_key = dict(zip(_keys(node), children))
        values = [(key, by_key[key]) for key in node]  # the original key order
        if kind is collections.defaultdict:
            return collections.defaultdict(node.default_factory, values)
        return kind(values)
    if _is_namedtuple(node):
        return kind(*children)
    if kind is collections.deque:
        return collections.deque(children, maxlen=node.maxlen)
    if kind is tuple:
        return tuple(children)
    return list(children)


def _describe(node):
    return type(node).__name__


def _kind(node):
    """What two nodes must share to match: any two dict kinds match, a tracked list is a
    list, and each namedtuple class is its own kind."""
    if type(node) in _MAPPINGS:
        return dict
    return list if type(node) is _TrackedList else type(node)


def _check_same_node(a, b, path):
    """Raises ValueError unless nodes `a` and `b` have the same kind and keys."""
    if _kind(a) is not _kind(b):
        raise ValueError("The two structures don't have the same nested structure: at path "
                         f"{path}, a {_describe(a)} and a {_describe(b)}.")
    if _kind(a) is dict:
        if set(a) != set(b):
            raise ValueError("The two structures don't have the same nested structure: at "
                             f"path {path}, dicts with keys {sorted(a, key=str)} and "
                             f"{sorted(b, key=str)}.")
    elif len(a) != len(b):
        raise ValueError("The two structures don't have the same nested structure: at path "
                         f"{path}, a {_describe(a)} of length {len(a)} and one of length "
                         f"{len(b)}.")


def _walk(structure, path, visit, is_leaf=None):
    """Calls visit(path, leaf) for each leaf, in flattening order."""
    if (is_leaf is not None and is_leaf(structure)) or not is_nested(structure):
        visit(path, structure)
        return
    for key, child in zip(_keys(structure), _children(structure)):
        _walk(child, path + (key,), visit, is_leaf)


def flatten(structure):
    """The leaves of `structure`, in order (dict values by sorted key).

    >>> from tensorflux import keras
    >>> keras.tree.flatten({100: "world!", 6: "Hello"}), keras.tree.flatten(None)
    (['Hello', 'world!'], [None])
    """
    leaves = []
    _walk(structure, (), lambda path, leaf: leaves.append(leaf))
    return leaves


def flatten_with_path(structure):
    """(path, leaf) pairs in flatten's order; a path is the tuple of indices and dict keys
    leading to the leaf.

    >>> from tensorflux import keras
    >>> keras.tree.flatten_with_path([{"foo": 42}])
    [((0, 'foo'), 42)]
    """
    pairs = []
    _walk(structure, (), lambda path, leaf: pairs.append((path, leaf)))
    return pairs


def pack_sequence_as(structure, flat_sequence):
    """`structure` with its leaves replaced, in flatten's order, by `flat_sequence`.

    >>> from tensorflux import keras
    >>> keras.tree.pack_sequence_as({"key3": "", "key1": "", "key2": ""}, [1, 2, 3])
    {'key3': 3, 'key1': 1, 'key2': 2}
    """
    try:
        flat = list(flat_sequence)
    except TypeError:
        raise TypeError("pack_sequence_as: `flat_sequence` must be a sequence. Received: "
                        f"{type(flat_sequence).__name__}") from None
    expected = len(flatten(structure))
    if len(flat) != expected:
        raise ValueError(f"pack_sequence_as: the structure has {expected} leaves but "
                         f"`flat_sequence` has {len(flat)} items.")
    leaves = iter(flat)

    def pack(node):
        if not is_nested(node):
            return next(leaves)
        return _rebuild(node, [pack(child) for child in _children(node)])

    return pack(structure)


def map_structure(func, *structures, none_is_leaf=True):
    """`func` applied to the leaves of `structures` (all nested alike), in a structure like
    the first. With `none_is_leaf=False`, None entries stay None and `func` never sees them.

    >>> from tensorflux import keras
    >>> keras.tree.map_structure(lambda x, y: x * y, [[1], [2]], [[3], [4]])
    [[3], [8]]
    """
    if not structures:
        raise ValueError("map_structure: must provide at least one structure.")
    if not callable(func):
        raise TypeError(f"map_structure: `func` must be callable. Received: {func!r}")

    def apply(path, nodes):
        first = nodes[0]
        if first is None and not none_is_leaf:
            if any(node is not None for node in nodes):
                raise ValueError("The two structures don't have the same nested structure: "
                                 f"at path {path}, None and a value.")
            return None
        if not is_nested(first):
            for other in nodes[1:]:
                if is_nested(other):
                    raise ValueError("The two structures don't have the same nested "
                                     f"structure: at path {path}, a leaf and a "
                                     f"{_describe(other)}.")
            return func(*nodes)
        for other in nodes[1:]:
            _check_same_node(first, other, path)
        keys = _keys(first)
        children = [apply(path + (key,), [node[key] for node in nodes]) for key in keys]
        return _rebuild(first, children)

    return apply((), structures)


def map_structure_up_to(shallow_structure, func, *structures):
    """Like map_structure, but only down to the leaves of `shallow_structure`: `func` gets
    the (possibly nested) parts of `structures` found there.

    >>> from tensorflux import keras
    >>> keras.tree.map_structure_up_to([None, [None, None]], str, [[1, 1], [2, 2]])
    ['[1, 1]', ['2', '2']]
    """
    if not structures:
        raise ValueError("map_structure_up_to: must provide at least one structure.")

    def apply(path, shallow, nodes):
        if not is_nested(shallow):
            return func(*nodes)
        for node in nodes:
            if not is_nested(node):
                raise ValueError("The two structures don't have the same nested structure: "
                                 f"at path {path}, the shallow structure has a "
                                 f"{_describe(shallow)} where a structure has a leaf.")
            _check_same_node(shallow, node, path)
        children = [apply(path + (key,), shallow[key], [node[key] for node in nodes])
                    for key in _keys(shallow)]
        return _rebuild(shallow, children)

    return apply((), shallow_structure, structures)


def assert_same_structure(a, b, check_types=None):
    """Raises ValueError unless `a` and `b` are nested alike: the same node kinds (list,
    tuple, a namedtuple class, deque; any dict kind) with the same lengths and keys.

    >>> from tensorflux import keras
    >>> keras.tree.assert_same_structure([(0, 1)], [(2, 3)])
    """
    if check_types is not None:
        warnings.warn("The `check_types` argument is deprecated and has no effect; "
                      "keras.tree.assert_same_paths() is the looser check that treats lists, "
                      "tuples, namedtuples and deques alike.", DeprecationWarning, stacklevel=2)
    map_structure(lambda *leaves: None, a, b)


def assert_same_paths(a, b):
    """Raises ValueError unless `a` and `b` have the same set of leaf paths, whatever their
    node kinds (a list and a tuple of one length match).

    >>> from tensorflux import keras
    >>> keras.tree.assert_same_paths([0, 1], (2, 3))
    """
    a_paths = {path for path, _ in flatten_with_path(a)}
    b_paths = {path for path, _ in flatten_with_path(b)}
    if a_paths != b_paths:
        message = "`a` and `b` don't have the same paths."
        if a_paths - b_paths:
            message += f"\nPaths in `a` missing in `b`:\n{a_paths - b_paths}"
        if b_paths - a_paths:
            message += f"\nPaths in `b` missing in `a`:\n{b_paths - a_paths}"
        raise ValueError(message)


def traverse(func, structure, top_down=True):
    """Calls `func` on every subtree, depth first, and returns the structure rebuilt from
    its answers: None keeps (top down: descends into) the subtree, MAP_TO_NONE puts None,
    anything else replaces it. Bottom up, `func` sees subtrees already rebuilt.

    >>> from tensorflux import keras
    >>> seen = []
    >>> keras.tree.traverse(seen.append, [(1, 2), {"a": 3}])
    [(1, 2), {'a': 3}]
    >>> seen
    [[(1, 2), {'a': 3}], (1, 2), 1, 2, {'a': 3}, 3]
    """
    if not callable(func):
        raise TypeError(f"traverse: `func` must be callable. Received: {func!r}")

    def children_traversed(node):
        if not is_nested(node):
            return node
        return _rebuild(node, [visit(child) for child in _children(node)])

    def visit(node):
        if top_down:
            result = func(node)
            if result is None:
                return children_traversed(node)
        else:
            node = children_traversed(node)
            result = func(node)
            if result is None:
                return node
        return None if result is MAP_TO_NONE else result

    return visit(structure)


def lists_to_tuples(structure):
    """`structure` with every list made a tuple.

    >>> from tensorflux import keras
    >>> keras.tree.lists_to_tuples([1, [2, {"a": [3]}]])
    (1, (2, {'a': (3,)}))
    """
    return traverse(lambda node: tuple(node) if isinstance(node, list) else None,
                    structure, top_down=False)


def _is_shape(value):
    return isinstance(value, (list, tuple)) and all(
        isinstance(item, int) or item is None for item in value)


def map_shape_structure(func, structure):
    """map_structure where a list or tuple of ints and Nones is one leaf (a shape).

    >>> from tensorflux import keras
    >>> keras.tree.map_shape_structure(len, {"x": (None, 3), "y": [(2,), (4, 5)]})
    {'x': 2, 'y': [1, 2]}
    """
    if _is_shape(structure) or not is_nested(structure):
        return func(structure)
    return _rebuild(structure, [map_shape_structure(func, child)
                                for child in _children(structure)])
