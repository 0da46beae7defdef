"""tf.strings additions; expected values are TensorFlow 2.21's printed results."""

import pytest

import tensorflux as tf
from tensorflux import errors

s = tf.strings


def test_length_units():
    x = tf.constant(["héllo", "ab", ""])
    assert s.length(x).numpy().tolist() == [6, 2, 0]
    assert s.length(x, unit="UTF8_CHAR").numpy().tolist() == [5, 2, 0]


def test_join_and_reduce_join():
    assert s.join([["a", "b"], "x"], separator="-").numpy().tolist() == [b"a-x", b"b-x"]
    grid = [["a", "b"], ["c", "d"]]
    assert s.reduce_join(grid, axis=1, separator=",").numpy().tolist() == [b"a,b", b"c,d"]
    assert s.reduce_join(grid, axis=0).numpy().tolist() == [b"ac", b"bd"]
    assert s.reduce_join(["a", "b"]).numpy() == b"ab"


def test_to_number_and_as_string():
    assert s.to_number(["1.5", "-2"]).numpy().tolist() == [1.5, -2.0]
    assert s.to_number(["3"], out_type=tf.int32).numpy().tolist() == [3]
    with pytest.raises(errors.InvalidArgumentError, match="could not correctly convert"):
        s.to_number(["x"])
    assert s.as_string([1.5, 2.0]).numpy().tolist() == [b"1.500000", b"2.000000"]
    assert s.as_string([3]).numpy().tolist() == [b"3"]
    assert s.as_string([1.23456], precision=2).numpy().tolist() == [b"1.23"]
    assert s.as_string([True]).numpy().tolist() == [b"true"]
    assert s.as_string([1e10, 1e-5, 0.1]).numpy().tolist() == [
        b"10000000000.000000", b"0.000010", b"0.100000"]


def test_substr_strip_regex_full_match_and_splits():
    assert s.substr(["hello", "ab"], 1, 3).numpy().tolist() == [b"ell", b"b"]
    assert s.strip([" a b \n"]).numpy().tolist() == [b"a b"]
    assert s.regex_full_match(["abc", "abcd"], "abc").numpy().tolist() == [True, False]
    assert s.unicode_split("héy", "UTF-8").numpy().tolist() == [b"h", b"\xc3\xa9", b"y"]
    assert s.bytes_split("ab").numpy().tolist() == [b"a", b"b"]
