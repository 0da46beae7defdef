"""Probe round 10 (second part), tf.function: `concrete.graph.as_graph_def()` as the tf.function
guide uses it, the exception types TF 2.21 raises while tracing (dtype mismatches are
TypeErrors, a tensor used outside its loop an InaccessibleTensorError, a ValueError),
recursion on tensors, and datasets made from traced tensors. TensorFlow is not available to
the tests: values come from plain Python, and the GraphDef bytes are checked with
TensorBoard's compiled TensorFlow protos where installed.
"""

import pytest

import tensorflux as tf
from tensorflux.graph.ir import InaccessibleTensorError

try:
    from tensorboard.compat.proto import graph_pb2
except ImportError:  # tensorboard (and its protobuf) is a test extra
    graph_pb2 = None


def _matmul_add():
    @tf.function
    def f(x, y):
        return tf.matmul(x, y) + 1.0

    spec = tf.TensorSpec([2, 2], tf.float32)
    return f.get_concrete_function(spec, spec)


# ------------------------------------------------------------------ as_graph_def

def test_as_graph_def_lists_nodes_with_tf_op_names():
    graph_def = _matmul_add().graph.as_graph_def()
    assert isinstance(graph_def, tf.compat.v1.GraphDef)
    ops = [node.op for node in graph_def.node]
    assert ops.count("Placeholder") == 2 and "MatMul" in ops and "AddV2" in ops
    matmul = next(node for node in graph_def.node if node.op == "MatMul")
    placeholders = [node.name for node in graph_def.node if node.op == "Placeholder"]
    assert list(matmul.input) == placeholders
    assert matmul.attr["T"].type == 1  # DT_FLOAT
    placeholder = graph_def.node[0]
    assert placeholder.attr["dtype"].type == 1
    assert [d.size for d in placeholder.attr["shape"].shape.dim] == [2, 2]
    # As TF: shapes on the nodes only when asked for.
    assert "_output_shapes" not in placeholder.attr
    shaped = _matmul_add().graph.as_graph_def(add_shapes=True)
    assert "_output_shapes" in shaped.node[0].attr


def test_as_graph_def_serializes_and_parses_back():
    graph_def = _matmul_add().graph.as_graph_def()
    data = graph_def.SerializeToString()
    again = tf.compat.v1.GraphDef()
    again.ParseFromString(data)
    assert again == graph_def and len(again.node) == len(graph_def.node)
    text = str(graph_def)
    assert 'op: "MatMul"' in text and "node {" in text
    if graph_pb2 is not None:  # an independent parser of the bytes
        parsed = graph_pb2.GraphDef.FromString(data)
        assert [(n.name, n.op, list(n.input)) for n in parsed.node] == [
            (n.name, n.op, list(n.input)) for n in graph_def.node]


def test_as_graph_def_shows_the_graph_as_traced():
    """The tf.function guide counts nodes to show that a Python loop is unrolled: the
    GraphDef is the graph before tensorflux's optimization passes fuse the multiplies."""
    @tf.function
    def unrolled(x):
        for _ in range(5):
            x = x * 2.0
        return x

    graph = unrolled.get_concrete_function(tf.constant(1.0)).graph
    assert [node.op for node in graph.as_graph_def().node].count("Mul") == 5
    assert float(unrolled(tf.constant(1.0))) == 32.0


def test_as_graph_def_of_variables_and_loops():
    v = tf.Variable(1.0)

    @tf.function
    def step(x):
        v.assign_add(x)
        return v.read_value()

    ops = [n.op for n in step.get_concrete_function(tf.constant(1.0)).graph.as_graph_def().node]
    assert {"VarHandleOp", "AssignAddVariableOp", "ReadVariableOp"} <= set(ops)

    @tf.function
    def total(n):
        s = tf.constant(0)
        for i in tf.range(n):
            s += i
        return s

    graph_def = total.get_concrete_function(tf.TensorSpec([], tf.int32)).graph.as_graph_def()
    assert "While" in [node.op for node in graph_def.node]
    assert int(total(tf.constant(5))) == 10


def test_summary_graph_takes_the_graph_def_message(tmp_path):
    graph_def = _matmul_add().graph.as_graph_def()
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        assert tf.summary.graph(graph_def)
    written = [event.graph_def for path in tmp_path.iterdir()
               for event in tf.compat.v1.train.summary_iterator(str(path))
               if event.WhichOneof("what") == "graph_def"]
    assert [tf.compat.v1.GraphDef.FromString(data) for data in written] == [graph_def]


# ------------------------------------------------------------------ error types while tracing

def test_cond_branches_of_different_dtypes_are_a_type_error():
    @tf.function
    def f(x):
        return tf.cond(x > 0, lambda: tf.constant(1), lambda: tf.constant(1.0))

    with pytest.raises(TypeError, match="same dtypes.*int32.*float32"):
        f(tf.constant(1.0))


def test_op_dtype_mismatch_is_a_type_error_while_tracing_only():
    @tf.function
    def f(x):
        return x + tf.constant(1, tf.int32)

    with pytest.raises(TypeError, match="add: both inputs must have the same dtype"):
        f(tf.constant(1.0))
    with pytest.raises(tf.errors.InvalidArgumentError, match="same dtype"):  # eager: as TF
        tf.constant(1.0) + tf.constant(1, tf.int32)

    @tf.function
    def mm(x):
        return tf.matmul(x, tf.ones([2, 2], tf.int32))

    with pytest.raises(TypeError, match="matmul"):
        mm(tf.ones([2, 2]))


def test_while_loop_variable_changing_dtype_is_a_type_error():
    @tf.function
    def f(x):
        return tf.while_loop(lambda i: i < 3, lambda i: tf.cast(i, tf.float32) + 1.0, [x])

    with pytest.raises(TypeError, match="enters the loop as int32 but the body returns float32"):
        f(tf.constant(0))

    @tf.function
    def g(x):
        return tf.while_loop(lambda i: i < 3, lambda i: i + 1.0, [x])

    with pytest.raises(TypeError, match="int32"):
        g(tf.constant(0))


def test_tensor_used_outside_its_loop_is_an_inaccessible_tensor_error():
    @tf.function
    def f(n):
        leaked = []
        for i in tf.range(n):
            leaked.append(i * 2)
        return leaked[0]

    with pytest.raises(InaccessibleTensorError, match="out of scope") as caught:
        f(tf.constant(3))
    assert isinstance(caught.value, ValueError)
    assert not hasattr(tf.errors, "InaccessibleTensorError")  # TF does not export it


def test_recursion_on_tensors_is_a_clear_error_and_on_python_values_works():
    @tf.function
    def fact(n):
        if n <= 1:
            return tf.constant(1)
        return n * fact(n - 1)

    with pytest.raises(RecursionError, match="fact: the tf.function calls itself on tensors"):
        fact(tf.constant(4))

    @tf.function
    def fact_py(n):
        if n <= 1:
            return 1
        return n * fact_py(n - 1)

    assert int(fact_py(4)) == 24


# ------------------------------------------------------------------ datasets of traced tensors

@pytest.mark.parametrize("make, expected", [
    (lambda n: tf.data.Dataset.range(n), lambda n: sum(range(n))),
    (lambda n: tf.data.Dataset.range(1, n, 2), lambda n: sum(range(1, n, 2))),
    (lambda n: tf.data.Dataset.range(10).take(n), lambda n: sum(range(10)[:n])),
    (lambda n: tf.data.Dataset.range(10).skip(n), lambda n: sum(range(10)[n:])),
    (lambda n: tf.data.Dataset.range(n).repeat(n), lambda n: n * sum(range(n))),
    (lambda n: tf.data.Dataset.range(10).batch(n).map(tf.reduce_max),
     lambda n: sum(max(range(10)[k:k + n]) for k in range(0, 10, n))),
    (lambda n: tf.data.Dataset.from_tensor_slices(tf.range(n) * 3),
     lambda n: sum(3 * k for k in range(n))),
])
def test_dataset_made_from_traced_tensors_is_made_on_every_call(make, expected):
    @tf.function
    def total(n):
        s = tf.constant(0, tf.int64)
        for x in make(n):
            s += tf.cast(x, tf.int64)
        return s

    for n in (3, 4, 7):
        assert int(total(tf.constant(n, tf.int64))) == expected(n)
    assert total.experimental_get_tracing_count() == 1


def test_dataset_of_traced_tensors_dicts_captures_and_break():
    @tf.function
    def weighted(x, y, k):
        s = tf.constant(0.0)
        for e in tf.data.Dataset.from_tensor_slices({"a": x, "b": y}).skip(1).take(k):
            s += e["a"] * tf.cast(e["b"], tf.float32)
        return s

    x, y = [1.0, 2.0, 3.0, 5.0], [1, 2, 3, 4]
    for k in (2, 3):
        assert float(weighted(tf.constant(x), tf.constant(y), tf.constant(k, tf.int64))) == sum(
            a * b for a, b in list(zip(x, y))[1:1 + k])

    @tf.function
    def scaled(ds, c):  # a map function capturing a traced argument
        s = tf.constant(0.0)
        for e in ds.map(lambda t: t * c):
            s += e
        return s

    ds = tf.data.Dataset.from_tensor_slices([1.0, 2.0])
    assert [float(scaled(ds, tf.constant(c))) for c in (3.0, 5.0)] == [9.0, 15.0]

    @tf.function
    def until(n):
        s = tf.constant(0, tf.int64)
        for i in tf.data.Dataset.range(n):
            if i > 3:
                break
            s += i
        return s

    assert int(until(tf.constant(10, tf.int64))) == 0 + 1 + 2 + 3


def test_dataset_of_traced_tensors_reduce_cardinality_enumerate():
    @tf.function
    def fold(x):
        ds = tf.data.Dataset.from_tensor_slices(x)
        return ds.reduce((0.0, 0), lambda s, v: (s[0] + v, s[1] + 1)), ds.cardinality()

    (total, count), cardinality = fold(tf.constant([1.0, 2.0, 4.0]))
    assert (float(total), int(count), int(cardinality)) == (7.0, 3, 3)

    @tf.function
    def weighted(x):
        s = tf.constant(0.0)
        for i, v in enumerate(tf.data.Dataset.from_tensor_slices(x)):
            s += tf.cast(i, tf.float32) * v
        return s

    assert float(weighted(tf.constant([1.0, 2.0, 3.0]))) == 0 * 1.0 + 1 * 2.0 + 2 * 3.0

    specs = []

    @tf.function
    def batches(n, size):
        ds = tf.data.Dataset.range(n).batch(size, drop_remainder=True)
        specs.append(ds.element_spec)
        s = tf.constant(0, tf.int64)
        for b in ds:
            s += tf.reduce_sum(b) * tf.size(b, tf.int64)
        return s

    result = batches(tf.constant(7, tf.int64), tf.constant(3, tf.int64))
    assert int(result) == 3 * (0 + 1 + 2) + 3 * (3 + 4 + 5)  # the last, partial batch dropped
    # The batch dimension depends on a traced value: unknown (as TF's)
    assert specs == [tf.TensorSpec([None], tf.int64)]


def test_dataset_of_traced_tensors_outside_a_loop_is_a_clear_error():
    @tf.function
    def first(n):
        return next(iter(tf.data.Dataset.range(n)))

    with pytest.raises(NotImplementedError, match="RangeDataset made inside a tf.function.*"
                                                  "`for` loop"):
        first(tf.constant(3, tf.int64))


def test_dataset_made_outside_the_function_still_loops():
    @tf.function
    def f(ds):
        s = tf.constant(0, tf.int64)
        for x in ds:
            s += x
        return s

    assert int(f(tf.data.Dataset.range(5))) == 10
    assert int(f(tf.data.Dataset.range(10).take(tf.constant(3, tf.int64)))) == 3
