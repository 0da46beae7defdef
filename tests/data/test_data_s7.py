"""File datasets inside interleave/flat_map, CsvDataset and make_csv_dataset, tf.data.Options,
Dataset.counter / save / load / rejection_resample, and the tf.data.experimental helpers.

Expected values, element specs, cardinalities and errors are TensorFlow 2.21's, observed
(/tmp/kbench, TF_CPP_MIN_LOG_LEVEL=3); random streams differ from TF's, so sampled outputs
are checked statistically.
"""

import collections
import gzip
import os
import pathlib
import threading
import time
import zlib

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import data, errors

D = data.Dataset
E = data.experimental
S = tf.TensorSpec


def _values(ds):
    return [tf.nest.map_structure(lambda v: np.asarray(v).tolist(), e)
            for e in ds.as_numpy_iterator()]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.txt").write_text("a1\na2\na3\n")
    (tmp_path / "b.txt").write_text("b1\nb2\n")
    with tf.io.TFRecordWriter(str(tmp_path / "r.tfrecord")) as writer:
        writer.write(b"x1")
        writer.write(b"x2")
    (tmp_path / "f.bin").write_bytes(b"abcdef")
    return tmp_path


# ------------------------------------------------------------------ file names

def test_file_datasets_take_scalar_string_tensors_in_interleave(folder):
    names = D.from_tensor_slices(["a.txt", "b.txt"])
    ds = names.interleave(data.TextLineDataset, cycle_length=2)
    assert ds.element_spec == S((), tf.string)
    assert _values(ds) == [b"a1", b"b1", b"a2", b"b2", b"a3"]
    assert _values(names.flat_map(data.TextLineDataset)) == [b"a1", b"a2", b"a3", b"b1", b"b2"]
    tfr = D.from_tensor_slices(["r.tfrecord"] * 2).interleave(data.TFRecordDataset,
                                                               cycle_length=2)
    assert _values(tfr) == [b"x1", b"x1", b"x2", b"x2"]
    fixed = D.from_tensor_slices(["f.bin"]).interleave(
        lambda f: data.FixedLengthRecordDataset(f, 3))
    assert _values(fixed) == [b"abc", b"def"]
    listed = D.list_files("*.txt").interleave(data.TextLineDataset, cycle_length=2)
    assert sorted(_values(listed)) == [b"a1", b"a2", b"a3", b"b1", b"b2"]


@pytest.mark.parametrize("names", [
    ["a.txt", "b.txt"], [b"a.txt", "b.txt"], [tf.constant("a.txt"), tf.constant("b.txt")],
    [["a.txt"], ["b.txt"]], np.array(["a.txt", "b.txt"]), tf.constant(["a.txt", "b.txt"]),
    D.from_tensor_slices(["a.txt", "b.txt"])])
def test_text_line_dataset_filename_forms(folder, names):
    assert _values(data.TextLineDataset(names)) == [b"a1", b"a2", b"a3", b"b1", b"b2"]


def test_single_filename_forms_and_parallel_reads(folder):
    for name in (b"a.txt", pathlib.Path("a.txt"), tf.constant("a.txt")):
        assert _values(data.TextLineDataset(name)) == [b"a1", b"a2", b"a3"]
    assert _values(data.FixedLengthRecordDataset(b"f.bin", 3)) == [b"abc", b"def"]
    assert _values(data.TFRecordDataset(D.from_tensor_slices(["r.tfrecord"]))) == [b"x1", b"x2"]
    parallel = data.TextLineDataset(["a.txt", "b.txt"], num_parallel_reads=2)
    assert _values(parallel) == [b"a1", b"b1", b"a2", b"b2", b"a3"]


def test_filename_type_errors(folder):
    with pytest.raises(TypeError, match=r"must contain `tf.string` elements. Got `tf.int32`"):
        data.TextLineDataset(3)
    with pytest.raises(TypeError, match="Got a dataset of `tf.int64` elements"):
        data.TextLineDataset(D.range(2))
    with pytest.raises(TypeError, match="of shape \\[\\] \\(i.e. scalars\\)"):
        data.TFRecordDataset(D.from_tensors(["a.txt", "b.txt"]))
    with pytest.raises(errors.NotFoundError, match="zz.txt; No such file or directory"):
        _values(data.TextLineDataset("zz.txt"))


def test_list_files_names_as_tensorflow(folder):
    (folder / "sub").mkdir()
    (folder / "sub" / "c.txt").write_text("c\n")

    def listed(pattern):
        return _values(D.list_files(pattern, shuffle=False))

    assert listed("*.txt") == [b"./a.txt", b"./b.txt"]
    assert listed(["a.txt", "b.txt"]) == [b"a.txt", b"b.txt"]
    assert listed(tf.constant("a*")) == [b"./a.txt"]
    assert listed("sub/*.txt") == [b"sub/c.txt"]
    assert listed("*/*.txt") == [b"./sub/c.txt"]
    assert listed(str(folder / "*.txt")) == [str(folder / n).encode() for n in ("a.txt",
                                                                                "b.txt")]


# ------------------------------------------------------------------ CsvDataset

def _csv(folder, name, text):
    (folder / name).write_bytes(text.encode() if isinstance(text, str) else text)
    return name


def test_csv_dataset_values_spec_and_columns(folder):
    path = _csv(folder, "t.csv", 'a,b,c\n1,2.5,x\n3,,"y,z"\n5,6,w\n')
    ds = E.CsvDataset(path, [0, 0.0, ""], header=True)
    assert ds.element_spec == (S((), tf.int32), S((), tf.float32), S((), tf.string))
    assert int(ds.cardinality()) == -2
    assert _values(ds) == [(1, 2.5, b"x"), (3, 0.0, b"y,z"), (5, 6.0, b"w")]
    assert _values(E.CsvDataset(path, [[0], [-1.0], [""]], header=True))[1] == (3, -1.0, b"y,z")
    assert _values(E.CsvDataset(path, [0, ""], header=True, select_cols=[0, 2])) == [
        (1, b"x"), (3, b"y,z"), (5, b"w")]
    assert _values(E.CsvDataset(path, [0, ""], header=True, exclude_cols=[1])) == [
        (1, b"x"), (3, b"y,z"), (5, b"w")]
    assert _values(E.CsvDataset(path, [0, -9.0, ""], header=True, na_value="6")) == [
        (1, 2.5, b"x"), (3, -9.0, b"y,z"), (5, -9.0, b"w")]
    spec = E.CsvDataset(path, [tf.int64, tf.float64, tf.string], header=True).element_spec
    assert spec == (S((), tf.int64), S((), tf.float64), S((), tf.string))
    assert _values(E.CsvDataset(path, [""] * 3))[0] == (b"a", b"b", b"c")
    # A float default makes a float column.
    assert _values(E.CsvDataset(path, [0.5, 0.0, ""], header=True))[0] == (1.0, 2.5, b"x")


def test_csv_dataset_quoting_line_ends_and_compression(folder):
    quoted = _csv(folder, "q.csv", '1,"a\nb"\n2,"c""d"\r\n3,e\n\n4,f')
    read = []
    with pytest.raises(errors.InvalidArgumentError, match="Expect 2 fields but have 1"):
        for element in E.CsvDataset(quoted, [0, ""]).as_numpy_iterator():
            read.append(element)
    assert read == [(1, b"a\nb"), (2, b'c"d'), (3, b"e")]
    # ignore_errors skips the bad (empty) record and goes on, as TF's does.
    assert _values(E.CsvDataset(quoted, [0, ""]).ignore_errors()) == [
        (1, b"a\nb"), (2, b'c"d'), (3, b"e"), (4, b"f")]
    assert _values(E.CsvDataset(_csv(folder, "cr.csv", b"1,a\r2,b\r"), [0, ""])) == [
        (1, b"a"), (2, b"b")]
    assert _values(E.CsvDataset(_csv(folder, "s.csv", "1;x\n2;y\n"), [0, ""],
                                field_delim=";")) == [(1, b"x"), (2, b"y")]
    assert _values(E.CsvDataset(_csv(folder, "sp.csv", " 1 , x \n2,y\n"), [0, ""])) == [
        (1, b" x "), (2, b"y")]
    assert _values(E.CsvDataset(_csv(folder, "tr.csv", "1,x,\n"), [0, "", ""])) == [
        (1, b"x", b"")]
    (folder / "g.csv.gz").write_bytes(gzip.compress(b"1,x\n2,y\n"))
    assert _values(E.CsvDataset("g.csv.gz", [0, ""], compression_type="GZIP")) == [
        (1, b"x"), (2, b"y")]
    (folder / "z.csv").write_bytes(zlib.compress(b"1,x\n2,y\n"))
    assert _values(E.CsvDataset("z.csv", [0, ""], compression_type="ZLIB")) == [
        (1, b"x"), (2, b"y")]
    two = _csv(folder, "h.csv", "a,b\n1,2\n")
    assert _values(E.CsvDataset([two, two], [0, 0], header=True)) == [(1, 2), (1, 2)]


@pytest.mark.parametrize("text, defaults, kwargs, message", [
    ("a,b\n1,\n", [tf.int32, tf.int32], {"header": True}, "Field 1 is required but missing"),
    ("1,2,3\n", [0, 0], {}, "Expect 2 fields but have"),
    ("1,2.5\n", [0, 0], {}, "Field 1 in record.*is not a valid int32: 2.5"),
    ("3000000000,1\n", [0, 0], {}, "is not a valid int32: 3000000000"),
    ("1_0,2\n", [0, 0], {}, "is not a valid int32: 1_0"),
    ('1,ab"c\n', [0, ""], {}, "Unquoted fields cannot have quotes"),
    ("", [0, 0], {"header": True}, "Can't read header of file"),
])
def test_csv_dataset_record_errors(folder, text, defaults, kwargs, message):
    ds = E.CsvDataset(_csv(folder, "e.csv", text), defaults, **kwargs)
    with pytest.raises(errors.InvalidArgumentError, match=message):
        _values(ds)


def test_csv_dataset_construction_errors(folder):
    path = _csv(folder, "x.csv", "1,2,3\n")
    for kwargs, message in [({"select_cols": [2, 0]}, "strictly increasing"),
                            ({"select_cols": [-1, 0]}, "non-negative"),
                            ({"select_cols": [0]}, "should match output size"),
                            ({"exclude_cols": [2, 0]}, "strictly increasing"),
                            ({"field_delim": ";;"}, "should be only 1 char"),
                            ({"compression_type": "BZ"}, "Unsupported compression_type: BZ")]:
        with pytest.raises(errors.InvalidArgumentError, match=message):
            E.CsvDataset(path, [0, 0], **kwargs)
    assert _values(E.CsvDataset(path, [0], select_cols=[2])) == [(3,)]
    assert _values(E.CsvDataset(path, [0], exclude_cols=[0, 2])) == [(2,)]
    assert _values(E.CsvDataset(path, [0], select_cols=[0])) == [(1,)]


# ------------------------------------------------------------------ make_csv_dataset

_TITANIC = ("survived,sex,age,fare,town\n0,male,22.0,7.25,Southampton\n"
            "1,female,38,71.2833,Cherbourg\n1,female,26,7.925,\n0,male,,8.05,Queenstown\n"
            "1,female,35.5,53.1,Southampton\n")


def _f32(values):
    return np.asarray(values, np.float32).tolist()


def test_make_csv_dataset_batches_features_and_label(folder):
    _csv(folder, "titanic.csv", _TITANIC)
    ds = E.make_csv_dataset("titanic.csv", batch_size=2, label_name="survived", num_epochs=1,
                            shuffle=False)
    features_spec = collections.OrderedDict([
        ("sex", S((None,), tf.string)), ("age", S((None,), tf.float32)),
        ("fare", S((None,), tf.float32)), ("town", S((None,), tf.string))])
    assert ds.element_spec == (features_spec, S((None,), tf.int32))
    assert isinstance(ds.element_spec[0], collections.OrderedDict)
    assert int(ds.cardinality()) == -2
    batches = _values(ds)
    assert [label for _, label in batches] == [[0, 1], [1, 0], [1]]
    features = batches[1][0]
    assert isinstance(features, collections.OrderedDict) and list(features) == [
        "sex", "age", "fare", "town"]
    assert features["age"] == [26.0, 0.0] and features["town"] == [b"", b"Queenstown"]
    assert features["fare"] == _f32([7.925, 8.05])
    # num_epochs=None: forever, every batch full.
    forever = E.make_csv_dataset("titanic.csv", batch_size=2, label_name="survived",
                                 shuffle=False)
    assert forever.element_spec[1] == S((2,), tf.int32)
    assert int(forever.cardinality()) == -1
    assert [lab for _, lab in _values(forever.take(4))] == [[0, 1], [1, 0], [1, 0], [1, 1]]


def test_make_csv_dataset_columns_defaults_and_inference(folder):
    _csv(folder, "titanic.csv", _TITANIC)

    def first(**kwargs):
        return _values(E.make_csv_dataset("titanic.csv", batch_size=6, num_epochs=1,
                                          shuffle=False, **kwargs))[0]

    assert list(first()) == ["survived", "sex", "age", "fare", "town"]
    features, label = first(label_name="survived", select_columns=["age", "survived"])
    assert list(features) == ["age"] and label == [0, 1, 1, 0, 1]
    assert list(first(select_columns=[3, 0])) == ["survived", "fare"]
    assert first(column_defaults=[0, "", 0.0, 0.0, "?"])["town"][2] == b"?"
    assert list(first(column_names=list("abcde"))) == list("abcde")
    no_header = first(column_names=list("abcde"), header=False)
    assert no_header["a"][:2] == [b"survived", b"0"]
    assert first(na_value="male")["sex"] == [b"", b"female", b"female", b"", b"female"]
    _csv(folder, "types.csv", "a,b,c,d,e,f\n1,3000000000,1.5,1e39,nan,2\n2,4,2,3,inf,2.5\n")
    ds = E.make_csv_dataset("types.csv", batch_size=5, num_epochs=1, shuffle=False)
    assert [s.dtype for s in ds.element_spec.values()] == [
        tf.int32, tf.int64, tf.float32, tf.float64, tf.string, tf.float32]
    assert _values(ds)[0]["e"] == [b"nan", b"inf"]
    _csv(folder, "empty_cols.csv", "a,b\n,\n,\n")
    assert _values(E.make_csv_dataset("empty_cols.csv", 5, num_epochs=1, shuffle=False)) == [
        collections.OrderedDict([("a", [b"", b""]), ("b", [b"", b""])])]
    _csv(folder, "rows.csv", "a\n1\n1\n1\nx\n")
    late = E.make_csv_dataset("rows.csv", 5, num_epochs=1, shuffle=False,
                              num_rows_for_inference=3)
    with pytest.raises(errors.InvalidArgumentError, match="not a valid int32: x"):
        _values(late)
    only = E.make_csv_dataset("rows.csv", 5, num_epochs=1, shuffle=False, label_name="a",
                              column_defaults=[""])
    assert _values(only) == [(collections.OrderedDict(), [b"1", b"1", b"1", b"x"])]


def test_make_csv_dataset_files_and_errors(folder):
    _csv(folder, "t1.csv", "x,y\n1,2\n")
    _csv(folder, "t2.csv", "x,y\n3,4\n5,6\n")
    _csv(folder, "other.csv", "p,q\n1,2\n")
    both = E.make_csv_dataset(["t2.csv", "t1.csv"], batch_size=5, num_epochs=1, shuffle=False)
    assert _values(both)[0]["x"] == [1, 3, 5]  # the files sorted
    glob = E.make_csv_dataset("t*.csv", batch_size=5, num_epochs=2, shuffle=False,
                              num_parallel_reads=2)
    assert sorted(_values(glob)[0]["x"] + _values(glob)[1]["x"]) == [1, 1, 3, 3, 5, 5]
    (folder / "g.csv.gz").write_bytes(gzip.compress(b"a,b\n1,x\n"))
    assert _values(E.make_csv_dataset("g.csv.gz", 5, num_epochs=1, shuffle=False,
                                      compression_type="GZIP")) == [
        collections.OrderedDict([("a", [1]), ("b", [b"x"])])]
    _csv(folder, "bad.csv", "a,b\n1,2\n3\n4,5\n")
    skipped = E.make_csv_dataset("bad.csv", 5, num_epochs=1, shuffle=False,
                                 column_defaults=[0, 0], ignore_errors=True)
    assert _values(skipped) == [collections.OrderedDict([("a", [1, 4]), ("b", [2, 5])])]
    for kwargs, message in [
            ({"file_pattern": "nomatch*.csv"}, "No files match `file_pattern` nomatch"),
            ({"file_pattern": []}, "`file_pattern` should not be empty"),
            ({"file_pattern": ["t1.csv", "other.csv"]}, "same column names in the header"),
            ({"header": False}, "Expected `column_names` or `header`"),
            ({"column_names": ["a", "a"]}, "duplicate column names: {'a'}"),
            ({"select_columns": ["nope"]}, "Column nope specified in `select_columns`"),
            ({"select_columns": [9]}, "Column index 9 specified in `select_columns`"),
            ({"select_columns": [0, "x"]}, "duplicate columns"),
            ({"label_name": "nope"}, "`label_name` provided must be one of the columns"),
            ({"select_columns": ["x"], "column_defaults": [0, 0]}, "must have the same length"),
            ({"file_pattern": "bad.csv"}, "CSV row 3 has 1 number of fields. Expected: 2."),
            ({"compression_type": "ZLIB"}, "not supported for probing columns")]:
        kwargs = {"file_pattern": "t1.csv", **kwargs}
        with pytest.raises(ValueError, match=message):
            E.make_csv_dataset(batch_size=2, **kwargs)


def test_make_csv_dataset_shuffles_with_its_seed(folder):
    _csv(folder, "n.csv", "n\n" + "".join(f"{i}\n" for i in range(20)))

    def order(seed):
        ds = E.make_csv_dataset("n.csv", 20, num_epochs=1, shuffle_seed=seed)
        return _values(ds)[0]["n"]

    assert sorted(order(3)) == list(range(20)) and order(3) == order(3)
    assert order(3) != list(range(20))


# ------------------------------------------------------------------ Options

def test_options_attributes_types_and_defaults():
    options = data.Options()
    assert options.deterministic is None and options.experimental_slack is None
    assert options.threading is options.experimental_threading
    assert options.experimental_distribute.auto_shard_policy is E.AutoShardPolicy.AUTO
    assert options.experimental_optimization.map_fusion is None
    assert options.autotune.enabled is None and options.threading.private_threadpool_size is None
    assert [(m.name, int(m)) for m in E.AutoShardPolicy] == [
        ("OFF", -1), ("AUTO", 0), ("FILE", 1), ("DATA", 2), ("HINT", 3)]
    options.experimental_distribute.auto_shard_policy = E.AutoShardPolicy.DATA
    options.experimental_deterministic = False
    assert options.deterministic is False
    with pytest.raises(AttributeError, match="Cannot set the property foo on Options"):
        options.foo = 1
    with pytest.raises(AttributeError):
        _ = options.foo
    for group, name, value, kind in [
            (options, "deterministic", 1, "<class 'bool'>"),
            (options, "deterministic", None, "<class 'bool'>"),
            (options.threading, "private_threadpool_size", 2.0, "<class 'int'>"),
            (options.experimental_distribute, "auto_shard_policy", 1,
             "<enum 'AutoShardPolicy'>"),
            (options.autotune, "ram_budget", 2.5, "<class 'int'>"),
            (options.experimental_optimization, "map_fusion", 1, "<class 'bool'>")]:
        with pytest.raises(TypeError, match=f'Property "{name}" must be of type {kind}'):
            setattr(group, name, value)
    options.experimental_optimization = E.OptimizationOptions()
    options.threading = data.ThreadingOptions()
    assert data.Options() == data.Options() and options != data.Options()
    with pytest.raises(TypeError):
        hash(options)


def test_with_options_round_trip_merge_and_propagation():
    first = data.Options()
    first.deterministic = False
    first.threading.private_threadpool_size = 4
    base = D.range(3)
    ds = base.with_options(first)
    assert ds is not base and base.options().deterministic is None
    assert ds.options() == first and ds.options() is not first
    assert _values(ds) == [0, 1, 2] and ds.element_spec == S((), tf.int64)
    second = data.Options()
    second.deterministic = True
    second.experimental_optimization.map_fusion = True
    merged = ds.with_options(second).options()
    assert (merged.deterministic, merged.experimental_optimization.map_fusion,
            merged.threading.private_threadpool_size) == (True, True, 4)
    assert first.merge(second).threading.private_threadpool_size == 4
    assert ds.map(lambda x: x).options().deterministic is False
    assert ds.batch(2).options().threading.private_threadpool_size == 4
    assert D.zip((ds, base)).options().deterministic is False
    assert base.concatenate(ds).options().deterministic is False
    assert base.interleave(lambda x: ds).options().deterministic is None
    with pytest.raises(TypeError, match="tf.data.Options"):
        base.with_options(3)


def _slow_first(x):
    def work(value):
        if int(value) == 0:
            time.sleep(0.3)
        return value

    return tf.py_function(work, [x], tf.int64)


def test_options_deterministic_orders_a_parallel_map():
    mapped = D.range(4).map(_slow_first, num_parallel_calls=2)
    assert _values(mapped) == [0, 1, 2, 3]
    relaxed = data.Options()
    relaxed.deterministic = False
    # Set after the map, as set at the source: the whole pipeline's options.
    assert _values(mapped.with_options(relaxed))[0] != 0
    assert _values(D.range(4).with_options(relaxed).map(_slow_first,
                                                        num_parallel_calls=2))[0] != 0
    # The map's own argument wins over the options.
    pinned = D.range(4).map(_slow_first, num_parallel_calls=2, deterministic=True)
    assert _values(pinned.with_options(relaxed)) == [0, 1, 2, 3]


def test_options_private_threadpool_size_caps_an_autotuned_map():
    threads = set()

    def record(x):
        threads.add(threading.get_ident())
        time.sleep(0.01)
        return x

    capped = data.Options()
    capped.threading.private_threadpool_size = 1
    ds = D.range(8).map(record, num_parallel_calls=data.AUTOTUNE).prefetch(2)
    assert _values(ds.with_options(capped)) == list(range(8))
    assert len(threads) == 1


# ------------------------------------------------------------------ new Dataset methods

def test_counter():
    assert _values(D.counter().take(3)) == [0, 1, 2]
    assert D.counter().element_spec == S((), tf.int64) and int(D.counter().cardinality()) == -1
    ds = D.counter(start=5, step=-2, dtype=tf.int32)
    assert ds.element_spec == S((), tf.int32) and _values(ds.take(3)) == [5, 3, 1]
    assert _values(D.counter(0.5, dtype=tf.float32).take(2)) == [0.5, 1.5]
    assert _values(D.counter(1, 0).take(2)) == [1, 1]
    assert _values(D.counter(tf.constant(3, tf.int64)).take(2)) == [3, 4]
    assert _values(E.Counter(2).take(2)) == [2, 3]


def test_assert_cardinality():
    checked = D.range(3).filter(lambda x: True).apply(E.assert_cardinality(3))
    assert int(checked.cardinality()) == 3 and len(checked) == 3
    assert _values(checked) == [0, 1, 2]
    for make, message in [
            (lambda: D.range(3).apply(E.assert_cardinality(5)),
             "expected to contain 5 elements but contained only 3 elements."),
            (lambda: D.range(10).apply(E.assert_cardinality(5)),
             "expected to contain 5 elements but contained at least 6 elements."),
            (lambda: D.range(2).apply(E.assert_cardinality(data.INFINITE_CARDINALITY)),
             "an infinite number of elements but contained only 2 elements."),
            (lambda: D.range(2).apply(E.assert_cardinality(-2)),
             "expected to contain -2 elements but contained at least 1 element.")]:
        with pytest.raises(errors.FailedPreconditionError, match=message):
            _values(make())
    forever = D.range(2).repeat().apply(E.assert_cardinality(-1))
    assert _values(forever.take(3)) == [0, 1, 0]
    assert not hasattr(D, "assert_cardinality")


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_experimental_ignore_errors():
    ds = D.from_tensor_slices([1.0, 0.0, 2.0]).map(
        lambda x: tf.debugging.check_numerics(1.0 / x, "err"))
    assert _values(ds.apply(E.ignore_errors())) == [1.0, 0.5]


def test_rejection_resample():
    ds = D.range(4).rejection_resample(lambda x: tf.cast(x % 2, tf.int32), [0.5, 0.5],
                                       [0.5, 0.5])
    assert ds.element_spec == (S((), tf.int32), S((), tf.int64))
    assert _values(ds) == [(0, 0), (1, 1), (0, 2), (1, 3)] and int(ds.cardinality()) == 4
    only_zero = D.range(6).rejection_resample(lambda x: tf.cast(x % 2, tf.int32), [1.0, 0.0],
                                              [0.5, 0.5])
    assert _values(only_zero) == [(0, 0), (0, 2), (0, 4)]
    pairs = D.from_tensor_slices(([0, 1], [5, 6])).apply(E.rejection_resample(
        lambda a, b: tf.cast(a, tf.int32), [0.5, 0.5], [0.5, 0.5]))
    assert _values(pairs) == [(0, (0, 5)), (1, (1, 6))]
    assert pairs.element_spec == (S((), tf.int32), (S((), tf.int32), S((), tf.int32)))
    skewed = D.from_tensor_slices(np.array([0] * 80 + [1] * 20)).repeat(50)
    for initial in ([0.8, 0.2], None):
        out = skewed.rejection_resample(lambda x: tf.cast(x, tf.int32), [0.5, 0.5], initial,
                                        seed=1)
        counts = np.bincount([c for c, _ in out.as_numpy_iterator()], minlength=2)
        assert counts.sum() > 1000 and abs(counts[0] / counts.sum() - 0.5) < 0.06
    with pytest.raises(TypeError):
        _values(D.range(4).rejection_resample(lambda x: tf.cast(x, tf.float32), [0.5, 0.5],
                                              [0.4, 0.6]))


def test_save_and_load_round_trip(tmp_path):
    point = collections.namedtuple("Point", "p q")
    ds = D.from_tensor_slices(({"b": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], "a": [1, 2, 3]},
                               ["x", "y", "z"]))
    path = str(tmp_path / "saved")
    assert ds.save(path) is None
    loaded = D.load(path)
    assert loaded.element_spec == ds.element_spec and int(loaded.cardinality()) == 3
    assert _values(loaded) == _values(ds)
    ds.save(path)  # over the last one: its files are replaced
    assert len(os.listdir(path)) == 2 and _values(D.load(path)) == _values(ds)
    nested = D.from_tensors(point(1, (2.0, "s")))
    nested.save(str(tmp_path / "nt"))
    back = D.load(str(tmp_path / "nt"))
    assert type(back.element_spec).__name__ == "Point"
    assert back.element_spec.p == S((), tf.int32) and _values(back) == [(1, (2.0, b"s"))]
    ragged_rows = D.range(1, 3).map(lambda x: tf.range(x))
    ragged_rows.save(str(tmp_path / "rows"), compression="GZIP")
    rows = D.load(str(tmp_path / "rows"), compression="GZIP")
    assert rows.element_spec == S((None,), tf.int64) and _values(rows) == [[0], [0, 1]]
    with pytest.raises(errors.DataLossError, match="compression"):
        D.load(str(tmp_path / "rows"))
    D.range(0).save(str(tmp_path / "empty"))
    empty = D.load(str(tmp_path / "empty"))
    assert _values(empty) == [] and empty.element_spec == S((), tf.int64)
    E.save(D.range(2), str(tmp_path / "exp"))
    assert _values(E.load(str(tmp_path / "exp"))) == [0, 1]
    with pytest.raises(errors.NotFoundError, match="element_spec file not found"):
        D.load(str(tmp_path / "nosuch"))


def test_save_shards_and_reader_func(tmp_path):
    path = str(tmp_path / "sharded")
    D.range(6).save(path, shard_func=lambda x: x % 3)
    loaded = D.load(path)
    assert sorted(_values(loaded)) == list(range(6)) and int(loaded.cardinality()) == 6
    interleaved = D.load(path, reader_func=lambda shards: shards.interleave(
        lambda shard: shard, cycle_length=3))
    assert _values(interleaved) == [0, 1, 2, 3, 4, 5]
    with pytest.raises(errors.InvalidArgumentError, match="must return a scalar int64"):
        D.range(6).save(str(tmp_path / "bad"), shard_func=lambda x: tf.cast(x, tf.int32))
    with pytest.raises(ValueError, match="datasets"):
        D.range(4).window(2).save(str(tmp_path / "windows"))


def test_load_reads_data_only(tmp_path):
    path = tmp_path / "forged"
    path.mkdir()
    (path / "dataset_spec.json").write_text('{"format": "pickle", "shards": []}')
    with pytest.raises(errors.DataLossError, match="not hold a dataset saved by tensorflux"):
        D.load(str(path))


# ------------------------------------------------------------------ experimental helpers

def test_experimental_functions():
    assert _values(D.range(2).apply(E.enumerate_dataset(3))) == [(3, 0), (4, 1)]
    assert int(E.get_single_element(D.range(1))) == 0
    assert _values(D.range(5).apply(E.map_and_batch(lambda x: x * 2, 2))) == [
        [0, 2], [4, 6], [8]]
    fused = D.range(5).apply(E.map_and_batch(lambda x: x * 2, 2, drop_remainder=True))
    assert fused.element_spec == S((2,), tf.int64)
    assert _values(D.range(1, 4).apply(E.parallel_interleave(
        lambda x: D.from_tensors(x).repeat(2), cycle_length=2))) == [1, 2, 1, 2, 3, 3]
    assert sorted(_values(D.range(3).apply(E.shuffle_and_repeat(3, count=2, seed=1)))) == [
        0, 0, 1, 1, 2, 2]
    listed = E.from_list([(1, "a"), (2, "b")])
    assert listed.element_spec == (S((), tf.int32), S((), tf.string))
    assert _values(listed) == [(1, b"a"), (2, b"b")] and int(listed.cardinality()) == 2
    assert E.from_list([[1, 2], [3]]).element_spec == S((None,), tf.int32)
    with pytest.raises(ValueError, match="should not be empty"):
        E.from_list([])
    with pytest.raises(ValueError):
        E.from_list([1, (2, 3)])
    assert E.get_structure(D.range(2)) == S((), tf.int64)
    with pytest.raises(TypeError):
        E.get_structure(3)
    assert int(E.at(D.range(5), 2)) == 2
    with pytest.raises(errors.OutOfRangeError, match=r"Index out of range \[0, 5\):7"):
        E.at(D.range(5), 7)
    padded = D.from_tensor_slices({"a": [1, 2]}).apply(E.pad_to_cardinality(4))
    assert padded.element_spec == {"a": S((), tf.int32), "valid": S((), tf.bool)}
    assert _values(padded) == [{"a": 1, "valid": True}, {"a": 2, "valid": True},
                               {"a": 0, "valid": False}, {"a": 0, "valid": False}]
    for make, message in [(lambda: D.range(2), "requires its input dataset to be a dict"),
                          (lambda: D.from_tensor_slices({"a": [1, 2, 3]}), "less than"),
                          (lambda: D.from_tensor_slices({"a": [1]}).filter(lambda d: True),
                           "must have a known cardinalty")]:
        with pytest.raises(ValueError, match=message):
            make().apply(E.pad_to_cardinality(2))
    assert _values(D.from_tensors([1, 2]).apply(E.unbatch())) == [1, 2]
    assert _values(D.range(5).apply(E.take_while(lambda x: x < 2))) == [0, 1]
    assert _values(D.range(4).apply(E.group_by_window(lambda x: x % 2,
                                                      lambda k, w: w.batch(2), 2))) == [
        [0, 2], [1, 3]]


def test_repeat_forever_of_unknown_size_is_infinite():
    assert int(D.range(10).filter(lambda x: True).repeat().cardinality()) == -1
    assert int(D.range(10).filter(lambda x: True).repeat(2).cardinality()) == -2
    assert int(D.range(0).repeat().cardinality()) == 0


def test_dataset_has_tensorflow_methods():
    wanted = {"counter", "load", "save", "rejection_resample", "ignore_errors", "random",
              "choose_from_datasets", "sample_from_datasets", "options", "with_options"}
    assert wanted <= set(dir(D))
    assert {"AutoShardPolicy", "CsvDataset", "make_csv_dataset", "Counter",
            "assert_cardinality", "ignore_errors", "ThreadingOptions",
            "OptimizationOptions", "DistributeOptions"} <= set(dir(E))


# ------------------------------------------------------------------ ragged elements

def _rows(ds):
    return [e.to_list() for e in ds]


def test_ragged_batch():
    ranges = D.range(1, 4).map(tf.range)
    ds = ranges.ragged_batch(2)
    assert ds.element_spec == tf.RaggedTensorSpec([None, None], tf.int64, 1, tf.int64)
    assert int(ds.cardinality()) == 2 and _rows(ds) == [[[0], [0, 1]], [[0, 1, 2]]]
    assert type(next(iter(ds))).__name__ == "RaggedTensor"
    assert ranges.ragged_batch(2, drop_remainder=True).element_spec == tf.RaggedTensorSpec(
        [2, None], tf.int64, 1, tf.int64)
    assert ranges.ragged_batch(2, row_splits_dtype=tf.int32).element_spec == \
        tf.RaggedTensorSpec([None, None], tf.int64, 1, tf.int32)
    # Fully known shapes batch densely.
    assert D.range(3).ragged_batch(2).element_spec == S((None,), tf.int64)
    fixed = D.from_tensors([1, 2]).repeat(3).ragged_batch(2)
    assert fixed.element_spec == S((None, 2), tf.int32)
    assert _values(fixed) == [[[1, 2], [1, 2]], [[1, 2]]]
    wide = D.range(1, 3).map(lambda x: tf.ones([x, 2])).ragged_batch(2)
    assert wide.element_spec == tf.RaggedTensorSpec([None, None, 2], tf.float32, 1, tf.int64)
    pairs = D.range(1, 3).map(lambda x: (tf.range(x), x)).ragged_batch(2)
    assert pairs.element_spec == (tf.RaggedTensorSpec([None, None], tf.int64, 1, tf.int64),
                                  S((None,), tf.int64))

    def two_unknown():
        yield np.ones((1, 2), np.float32)
        yield np.ones((2, 3), np.float32)

    grid = D.from_generator(two_unknown, output_signature=S((None, None), tf.float32))
    assert grid.ragged_batch(2).element_spec == tf.RaggedTensorSpec([None, None, None],
                                                                    tf.float32, 2, tf.int64)
    assert _rows(grid.ragged_batch(2)) == [[[[1.0, 1.0]], [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]]]
    assert _rows(ranges.apply(E.dense_to_ragged_batch(2))) == [[[0], [0, 1]], [[0, 1, 2]]]


def test_ragged_elements_through_a_pipeline():
    ds = D.range(1, 4).map(tf.range).ragged_batch(2)
    doubled = ds.map(lambda x: x * 2)
    assert doubled.element_spec == tf.RaggedTensorSpec([None, None], tf.int64, 1, tf.int64)
    assert _rows(doubled) == [[[0], [0, 2]], [[0, 2, 4]]]
    assert [v.numpy().tolist() for v in ds.map(lambda r: r.row_lengths())] == [[1, 2], [3]]
    rows = ds.unbatch()
    assert rows.element_spec == tf.RaggedTensorSpec([None], tf.int64, 0, tf.int64)
    assert [r.numpy().tolist() for r in rows] == [[0], [0, 1], [0, 1, 2]]
    nested = D.range(1, 4).map(tf.range).ragged_batch(1).batch(2)
    assert nested.element_spec == tf.RaggedTensorSpec([None, None, None], tf.int64, 2,
                                                      tf.int64)
    assert _rows(nested) == [[[[0]], [[0, 1]]], [[[0, 1, 2]]]]
    assert _rows(ds.cache()) == _rows(ds) == _rows(ds.prefetch(1))
    assert _rows(D.range(1, 4).map(tf.range).ragged_batch(1).filter(
        lambda x: x.nrows() > 0)) == [[[0]], [[0, 1]], [[0, 1, 2]]]
    numpy_rows = next(ds.as_numpy_iterator())
    assert [r.tolist() for r in numpy_rows] == [[0], [0, 1]]
    with pytest.raises(TypeError, match="not a subclass of TensorSpec"):
        _values(ds.padded_batch(2))
    slices = D.from_tensor_slices(tf.ragged.constant([[1, 2], [3]]))
    assert slices.element_spec == tf.RaggedTensorSpec([None], tf.int32, 0, tf.int64)
    assert [v.numpy().tolist() for v in slices] == [[1, 2], [3]]
    assert D.from_tensors(tf.ragged.constant([[1, 2], [3]])).element_spec == \
        tf.RaggedTensorSpec([2, None], tf.int32, 1, tf.int64)
    assert D.zip((ds, D.range(2))).element_spec[0] == ds.element_spec
