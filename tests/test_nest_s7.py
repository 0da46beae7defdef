"""tf.nest: flatten, map_structure over several structures, pack_sequence_as,
assert_same_structure, is_nested and expand_composites.

Expected values and errors (type and key message) are TensorFlow 2.21's, observed
(/tmp/kbench, TF_CPP_MIN_LOG_LEVEL=3).
"""

import collections

import numpy as np
import pytest

import tensorflux as tf

nest = tf.nest
NT = collections.namedtuple("NT", "a b")
NT2 = collections.namedtuple("NT2", "a b")


def _values(leaves):
    return [np.asarray(v).tolist() for v in leaves]


def test_is_nested():
    for value in ([1], (1,), {"a": 1}, collections.OrderedDict(a=1), NT(1, 2),
                  collections.deque([1]), range(3), bytearray(b"ab")):
        assert nest.is_nested(value), value
    for value in ("ab", b"ab", None, 1, {1}, np.array([1, 2]), tf.constant([1, 2]),
                  tf.ragged.constant([[1], [2, 3]])):
        assert not nest.is_nested(value), value


def test_flatten_orders_mappings_by_sorted_keys():
    assert nest.flatten({"b": 1, "a": 2, "c": [3, {"z": 4, "y": 5}]}) == [2, 1, 3, 5, 4]
    assert nest.flatten({10: "a", 2: "b"}) == ["b", "a"]
    assert nest.flatten({(1, 2): "a", (0, 5): "b"}) == ["b", "a"]
    assert nest.flatten(collections.OrderedDict([("b", 1), ("a", 2)])) == [2, 1]
    assert nest.flatten(None) == [None] and nest.flatten("ab") == ["ab"]
    assert nest.flatten(NT(1, [2, 3])) == [1, 2, 3]
    assert nest.flatten(collections.deque([1, (2,)])) == [1, 2]
    assert nest.flatten(range(3)) == [0, 1, 2]
    assert nest.flatten(collections.defaultdict(int)) == []
    with pytest.raises(TypeError):
        nest.flatten({1: "a", "x": "b"})


def test_map_structure_over_several_structures():
    assert nest.map_structure(lambda a, b: a + b, [1, (2, 3)], [10, (20, 30)]) == [11, (22, 33)]
    assert nest.map_structure(lambda a, b, c: a + b + c, [1], [2], [3]) == [6]
    summed = nest.map_structure(lambda a, b: a + b, {"b": 1, "a": 2}, {"a": 10, "b": 20})
    assert summed == {"b": 21, "a": 12} and list(summed) == ["b", "a"]
    assert nest.map_structure(lambda a, b: a + b, NT(1, 2), NT(3, 4)) == NT(4, 6)
    # check_types=False: the first structure's types.
    assert nest.map_structure(lambda a, b: a + b, (1, 2), [3, 4], check_types=False) == (4, 6)
    assert nest.map_structure(lambda a, b: a + b, NT(1, 2), (3, 4), check_types=False) == NT(4, 6)
    assert nest.map_structure(lambda a, b: a, {"a": 1}, [1], check_types=False) == {"a": 1}
    # Any two mappings, any two lists, and namedtuples of one name and fields are alike.
    ordered = collections.OrderedDict([("b", 1), ("a", 2)])
    both = nest.map_structure(lambda a, b: a + b, ordered, {"a": 1, "b": 2})
    assert type(both) is collections.OrderedDict and list(both.items()) == [("b", 3), ("a", 3)]
    assert nest.map_structure(lambda a, b: a + b, {"a": 1, "b": 2}, ordered) == {"a": 3, "b": 3}

    class Sublist(list):
        pass

    assert nest.map_structure(lambda a, b: a + b, Sublist([1]), [2]) == [3]
    same_name = collections.namedtuple("NT", "a b")
    assert nest.map_structure(lambda a, b: a + b, NT(1, 2), same_name(3, 4)) == NT(4, 6)
    assert nest.map_structure(lambda a, b: (a, b), None, 1) == (None, 1)
    assert nest.map_structure(lambda a: 1, [[], {}, ()]) == [[], {}, ()]


def test_map_structure_one_structure_keeps_types_and_calls_in_sorted_order():
    seen = []
    result = nest.map_structure(lambda v: seen.append(v) or v * 10, {"b": 1, "a": 2})
    assert seen == [2, 1] and list(result) == ["b", "a"]
    counts = nest.map_structure(lambda v: v + 1, collections.defaultdict(list, {"b": 1}))
    assert isinstance(counts, collections.defaultdict) and counts.default_factory is list
    assert counts == {"b": 2}
    assert nest.map_structure(lambda v: v * 2, collections.deque([1, 2])) == \
        collections.deque([2, 4])
    assert nest.map_structure(lambda v: v, ((1,),)) == ((1,),)
    assert nest.map_structure(lambda v: None, [1, {"a": 2}]) == [None, {"a": None}]


@pytest.mark.parametrize("structures, kwargs, error, message", [
    (((1, 2), [3, 4]), {}, TypeError, "don't have the same sequence type. First structure "
                                      "type=tuple str=\\(1, 2\\) has type tuple, while second "
                                      "structure type=list str=\\[3, 4\\] has type list"),
    ((NT(1, 2), (3, 4)), {}, TypeError, "same sequence type"),
    ((NT(1, 2), NT2(3, 4)), {}, TypeError, "same sequence type"),
    (({"a": 1}, [1]), {}, TypeError, "same sequence type"),
    (([], ()), {}, TypeError, "same sequence type"),
    (([1, 2], [3]), {}, ValueError, "don't have the same number of elements. First structure: "
                                    "type=list str=\\[1, 2\\]. Second structure: type=list "
                                    "str=\\[3\\]"),
    (([1, 2], 3), {}, ValueError, 'Substructure "type=list str=\\[1, 2\\]" is a sequence, '
                                  'while substructure "type=int str=3" is not'),
    ((3, [1, 2]), {}, ValueError, 'Substructure "type=list str=\\[1, 2\\]" is a sequence'),
    (({"a": 1}, {"b": 1}), {}, ValueError, "don't have the same set of keys. First structure "
                                           "has keys type=list str=\\['a'\\], while second "
                                           "structure has keys type=list str=\\['b'\\]"),
    (([1], [2], [3, 4]), {}, ValueError, "same number of elements"),
    (({"a": [1, 2]}, {"a": [1]}), {}, ValueError, "Entire first structure:\n{'a': \\[., .\\]}"),
])
def test_map_structure_mismatch_errors(structures, kwargs, error, message):
    with pytest.raises(error, match=message) as info:
        nest.map_structure(lambda *a: a[0], *structures, **kwargs)
    assert str(info.value).startswith("The two structures don't have the same nested "
                                      "structure.\n\nFirst structure: ")


def test_map_structure_argument_errors():
    with pytest.raises(ValueError, match="Must provide at least one structure"):
        nest.map_structure(lambda: 1)
    with pytest.raises(TypeError, match="func must be callable, got: 1"):
        nest.map_structure(1, [1])
    with pytest.raises(ValueError, match="Only valid keyword arguments are `check_types` and "
                                         "`expand_composites`, not: `foo`"):
        nest.map_structure(lambda a: a, [1], foo=1)
    with pytest.raises(TypeError):
        nest.flatten([1], foo=1)


def test_pack_sequence_as():
    assert nest.pack_sequence_as({"b": 0, "a": [0, 0]}, [1, 2, 3]) == {"b": 3, "a": [1, 2]}
    assert list(nest.pack_sequence_as({"b": 0, "a": 0}, [1, 2]).items()) == [("b", 2),
                                                                              ("a", 1)]
    packed = nest.pack_sequence_as(collections.OrderedDict([("b", 0), ("a", 0)]), [1, 2])
    assert packed == collections.OrderedDict([("b", 2), ("a", 1)])
    assert nest.pack_sequence_as(NT(0, [0, 0]), [1, 2, 3]) == NT(1, [2, 3])
    counts = nest.pack_sequence_as(collections.defaultdict(int, {"b": 0, "a": 0}), [1, 2])
    assert counts.default_factory is int and counts == {"b": 2, "a": 1}
    assert nest.pack_sequence_as(0, [5]) == 5
    assert nest.pack_sequence_as([0, 0], (5, 6)) == [5, 6]
    assert nest.pack_sequence_as([1, 2], range(2)) == [0, 1]
    assert nest.pack_sequence_as([1, 2], collections.deque([5, 6])) == [5, 6]
    assert nest.pack_sequence_as([], []) == []


@pytest.mark.parametrize("structure, flat, error, message", [
    ([0, [0, 0]], [1, 2], ValueError, "Could not pack sequence. Structure had 3 atoms, but "
                                      "flat_sequence had 2 items."),
    ([0, [0, 0]], [1, 2, 3, 4], ValueError, "Structure had 3 atoms, but flat_sequence had 4"),
    ([[], ()], [1], ValueError, "Structure had 0 atoms, but flat_sequence had 1 items"),
    (0, [5, 6], ValueError, "The target structure is of type `<class 'int'>`"),
    ([0], 5, TypeError, "Attempted to pack value:\n  5\ninto a structure, but found "
                        "incompatible type `<class 'int'>` instead."),
    ([0, 0], np.array([5, 6]), TypeError, "incompatible type `<class 'numpy.ndarray'>`"),
    ([1, 2], iter([3, 4]), TypeError, "incompatible type `<class 'list_iterator'>`"),
    ([1, 2], "ab", TypeError, "incompatible type `<class 'str'>`"),
])
def test_pack_sequence_as_errors(structure, flat, error, message):
    with pytest.raises(error, match=message):
        nest.pack_sequence_as(structure, flat)


def test_assert_same_structure():
    assert nest.assert_same_structure((1, 2), [1, 2], check_types=False) is None
    assert nest.assert_same_structure({"a": 1}, {"b": 2}, check_types=False) is None
    assert nest.assert_same_structure({"a": 1}, collections.OrderedDict(a=2)) is None
    assert nest.assert_same_structure("ab", 1) is None
    assert nest.assert_same_structure([1], [2], True, False) is None
    with pytest.raises(TypeError, match="same sequence type. First structure type=tuple "
                                        "str=\\(1, 2\\)"):
        nest.assert_same_structure([(1, 2)], [[1, 2]])
    with pytest.raises(ValueError, match="same set of keys"):
        nest.assert_same_structure({"a": 1}, {"b": 1})
    with pytest.raises(ValueError, match="is a sequence, while"):
        nest.assert_same_structure([1], 1)


def test_expand_composites():
    sparse = tf.SparseTensor([[0, 0]], [1.0], [2, 2])
    assert nest.flatten(sparse) == [sparse]
    assert _values(nest.flatten(sparse, expand_composites=True)) == [[[0, 0]], [1.0], [2, 2]]
    ragged = tf.ragged.constant([[1, 2], [3]])
    assert nest.map_structure(lambda t: type(t).__name__, ragged) == "RaggedTensor"
    flat = nest.flatten([ragged], expand_composites=True)
    assert _values(flat) == [[1, 2, 3], [0, 2, 3]]
    assert flat[0].dtype == tf.int32 and flat[1].dtype == tf.int64
    assert _values(nest.flatten({"r": ragged, "a": 1}, expand_composites=True)) == [
        1, [1, 2, 3], [0, 2, 3]]
    back = nest.pack_sequence_as([ragged], flat, expand_composites=True)
    assert back[0].to_list() == [[1, 2], [3]]
    spec = tf.RaggedTensorSpec([None, None], tf.int32)
    built = nest.pack_sequence_as(spec, [tf.constant([1, 2, 3]), tf.constant([0, 2, 3],
                                                                             tf.int64)],
                                  expand_composites=True)
    assert built.to_list() == [[1, 2], [3]]
    assert nest.flatten(spec, expand_composites=True)[0] == tf.TensorSpec((None,), tf.int32)
    assert nest.flatten(tf.TensorSpec([2]), expand_composites=True) == [tf.TensorSpec([2])]
    doubled = nest.map_structure(lambda t: t * 2, ragged, expand_composites=True)
    assert doubled.to_list() == [[2, 4, 6], []]
    with pytest.raises(ValueError, match="Structure had 2 atoms, but flat_sequence had 1"):
        nest.pack_sequence_as(ragged, [tf.constant([1])], expand_composites=True)


def test_assert_same_structure_compares_composite_specs():
    ragged = tf.ragged.constant([[1, 2], [3]])
    assert nest.assert_same_structure(ragged, tf.ragged.constant([[1], [2], [3]]),
                                      expand_composites=True) is None
    sparse = tf.SparseTensor([[0]], [1.0], [3])
    assert nest.assert_same_structure(sparse, tf.SparseTensor([[0]], [1.0], [4]),
                                      expand_composites=True) is None
    for other, message in [(tf.ragged.constant([[1.0]]), "Incompatible CompositeTensor "
                                                         "TypeSpecs"),
                           (tf.ragged.constant([[[1]]]), "Incompatible CompositeTensor"),
                           (sparse, "Incompatible CompositeTensor"),
                           (tf.constant([1]), "is a sequence, while")]:
        with pytest.raises(ValueError, match=message):
            nest.assert_same_structure(ragged, other, expand_composites=True)
    assert nest.assert_same_structure(ragged, tf.ragged.constant([[[1.0]]])) is None
