"""Session 14 Keras leftovers, each compared with real Keras 3: the Keras names of variable
updates (`assign_add(value)`), Bidirectional.compute_output_shape's parameters,
model_to_dot's expand_nested/subgraph, the lookup layers' and TextVectorization's
update_state/reset_state/finalize_state, and Model.get_state_tree/set_state_tree/
stateless_compute_loss."""

import inspect
import re

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import (
    assert_matches,
    fresh_names,  # noqa: F401 - the auto-name reset, used as a fixture
    import_keras,
    raised_by_both,
    to_numpy,
)

pytestmark = pytest.mark.keras_oracle


# ------------------------------------------------------------------ 1. variable updates

@pytest.mark.parametrize("method", ["assign", "assign_add", "assign_sub"])
def test_keras_variable_update_takes_keras_value_name(method):
    K = import_keras()
    assert list(inspect.signature(getattr(K.Variable, method)).parameters)[1] == "value"
    assert list(inspect.signature(getattr(type(keras.Variable([1.0])), method))
                .parameters)[1] == "value"
    results = []
    for lib in (keras, K):
        v = lib.Variable([1.0, 2.0], name="v")
        getattr(v, method)(value=np.array([0.5, 4.0], "float32"))
        results.append(to_numpy(v.value))
    assert_matches(results[0], results[1], what=f"{method}(value=...)")


def test_layer_weight_and_optimizer_variables_take_value_keyword():
    K = import_keras()
    results = []
    for lib in (keras, K):
        dense = lib.layers.Dense(2, kernel_initializer="ones", name="d")
        dense.build((None, 3))
        dense.kernel.assign_add(value=np.full((3, 2), 0.25, "float32"))
        dense.bias.assign_sub(value=np.array([1.0, 2.0], "float32"))
        optimizer = lib.optimizers.SGD(0.1)
        optimizer.build(dense.trainable_variables)
        optimizer.iterations.assign_add(value=3)
        results.append((to_numpy(dense.kernel.value), to_numpy(dense.bias.value),
                        int(to_numpy(optimizer.iterations.value))))
    assert_matches(results[0][0], results[1][0], what="kernel")
    assert_matches(results[0][1], results[1][1], what="bias")
    assert results[0][2] == results[1][2] == 3


def test_keras_variable_update_in_stateless_scope_matches_keras():
    K = import_keras()
    results = []
    for lib in (keras, K):
        v = lib.Variable([1.0, 2.0], name="v")
        with lib.StatelessScope(state_mapping=[(v, lib.ops.convert_to_tensor(
                np.array([10.0, 20.0], "float32")))]) as scope:
            v.assign_sub(value=np.array([1.0, 1.0], "float32"))
        results.append((to_numpy(scope.get_current_value(v)), to_numpy(v.value)))
    for ours, theirs in zip(*results):
        assert_matches(ours, theirs)


def test_keras_variable_still_takes_tf_delta_keyword_and_tf_variable_keeps_it():
    # TF 2.21: tf.Variable.assign_add(self, delta, use_locking=False, name=None,
    # read_value=True); layer weights in tensorflux are tf.Variables too, so tf.keras-style
    # `w.assign_add(delta=...)` keeps working. Expected values: NumPy arithmetic.
    assert list(inspect.signature(tf.Variable.assign_add).parameters)[1] == "delta"
    assert list(inspect.signature(tf.Variable.assign_sub).parameters)[1] == "delta"
    w = tf.Variable([1.0, 2.0])
    w.assign_add(delta=[1.0, 1.0])
    w.assign_sub(delta=[0.5, 0.5])
    np.testing.assert_allclose(w.numpy(), np.array([1.0, 2.0]) + 1.0 - 0.5)
    v = keras.Variable([1.0, 2.0])
    v.assign_add(delta=[3.0, 3.0])
    v.assign_sub(delta=[1.0, 0.0])
    np.testing.assert_allclose(v.numpy(), np.array([1.0, 2.0]) + 3.0 - np.array([1.0, 0.0]))
    with pytest.raises(TypeError, match=r"assign_add\(\) of variable .*needs its `value`"):
        v.assign_add()


# ------------------------------------------------------------------ 2. Bidirectional

def _shapes(shape):
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return tuple(_shapes(s) for s in shape)
    return tuple(shape)


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("return_state", [False, True])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", None])
def test_bidirectional_compute_output_shape_matches_keras(cell, return_sequences, return_state,
                                                          merge_mode):
    K = import_keras()
    assert list(inspect.signature(K.layers.Bidirectional.compute_output_shape).parameters) == \
        list(inspect.signature(keras.layers.Bidirectional.compute_output_shape).parameters)
    for shape in [(None, 5, 3), (4, None, 3)]:
        found = []
        for lib in (keras, K):
            layer = lib.layers.Bidirectional(
                getattr(lib.layers, cell)(2, return_sequences=return_sequences,
                                          return_state=return_state), merge_mode=merge_mode)
            found.append(_shapes(layer.compute_output_shape(sequences_shape=shape,
                                                            initial_state_shape=None)))
        assert found[0] == found[1], shape


# ------------------------------------------------------------------ 3. model_to_dot

class _FakePydot:
    """Records what Keras's model_to_dot builds (its pydot calls), so that its graph
    structure is the oracle without pydot or graphviz installed."""

    class _Graph:
        def __init__(self, graph_name="G", **attributes):
            self.name, self.attributes = graph_name, dict(attributes)
            self.nodes, self.edges, self.subgraphs = [], [], []

        def set(self, key, value):
            self.attributes[key] = value

        def set_node_defaults(self, **kwargs):
            self.attributes["node"] = kwargs

        def add_node(self, node):
            self.nodes.append(node)

        def add_edge(self, edge):
            self.edges.append(edge)

        def get_edge(self, source, destination):
            return [e for e in self.edges if (e.source, e.destination) == (source, destination)]

        def add_subgraph(self, graph):
            self.subgraphs.append(graph)

    Dot = Cluster = _Graph

    class Node:
        def __init__(self, name, label=None):
            self.id, self.label = name, label

        def set(self, key, value):
            pass

    class Edge:
        def __init__(self, source, destination):
            self.source, self.destination = source, destination

        def set(self, key, value):
            pass


def _keras_structure(graph):
    """(node names and clusters, sorted edges by layer name) of the recorded Keras graph."""
    names = {}

    def nodes(g):
        for node in g.nodes:
            names[node.id] = re.search(r"<b>(.*?)</b>", node.label).group(1)
        return [names[n.id] for n in g.nodes], {s.name: nodes(s) for s in g.subgraphs}

    def edges(g):
        found = [(names[e.source], names[e.destination]) for e in g.edges]
        for sub in g.subgraphs:
            found += edges(sub)
        return found

    tree = nodes(graph)
    return tree, sorted(edges(graph))


def _our_structure(text):
    """The same structure parsed from our dot text (clusters are `subgraph "cluster_<name>"`)."""
    names, edges, root = {}, [], ([], {})
    stack = [root]
    for line in (line.strip() for line in text.splitlines()):
        cluster = re.match(r'subgraph "cluster_(.*)" \{$', line)
        node = re.match(r'(\w+) \[label="(.*?) \(', line)
        edge = re.match(r"(\w+) -> (\w+);$", line)
        if cluster:
            stack[-1][1][cluster.group(1)] = sub = ([], {})
            stack.append(sub)
        elif line == "}":
            stack.pop()
        elif node:
            names[node.group(1)] = node.group(2)
            stack[-1][0].append(node.group(2))
        elif edge:
            edges.append(edge.groups())
    return root, sorted((names[a], names[b]) for a, b in edges)


def _nested_models(lib):
    inner_in = lib.Input((4,), name="inner_in")
    hidden = lib.layers.Dense(3, name="inner_d1")(inner_in)
    inner = lib.Model(inner_in, lib.layers.Dense(2, name="inner_d2")(hidden), name="inner")
    seq = lib.Sequential([lib.Input((2,)), lib.layers.Dense(5, name="s1"),
                          lib.layers.Dense(4, name="s2")], name="seq")
    x = lib.Input((4,), name="x")
    merged = lib.layers.Concatenate(name="cat")([seq(inner(x)), x])
    outer = lib.Model(x, lib.layers.Dense(1, name="head")(merged), name="outer")
    return {"outer": outer, "seq": seq, "inner": inner}


@pytest.fixture
def keras_visualization(monkeypatch):
    import_keras()
    from keras.src.utils import model_visualization

    monkeypatch.setattr(model_visualization, "pydot", _FakePydot)
    return model_visualization


@pytest.mark.parametrize("name", ["outer", "seq", "inner"])
@pytest.mark.parametrize("expand_nested", [False, True])
def test_model_to_dot_structure_matches_keras(keras_visualization, name, expand_nested):
    ours = _nested_models(keras)[name]
    theirs = _nested_models(import_keras())[name]
    expected = _keras_structure(keras_visualization.model_to_dot(
        theirs, expand_nested=expand_nested))
    text = keras.utils.model_to_dot(ours, expand_nested=expand_nested).to_string()
    assert _our_structure(text) == expected
    if name == "outer" and expand_nested:  # (so the comparison above has clusters in it)
        assert set(expected[0][1]) == {"inner", "seq"}


def test_model_to_dot_subgraph_is_a_dashed_cluster_as_in_keras(keras_visualization):
    theirs = keras_visualization.model_to_dot(_nested_models(import_keras())["inner"],
                                              subgraph=True)
    text = keras.utils.model_to_dot(_nested_models(keras)["inner"], subgraph=True).to_string()
    assert text.startswith(f'subgraph "cluster_{theirs.name}" {{')
    for key, value in theirs.attributes.items():
        assert f'{key}="{value}";' in text
    assert _our_structure("digraph {\n" + text + "}\n")[0][1]["inner"] == \
        _keras_structure(theirs)[0]


def test_model_to_dot_subclassed_model_is_one_box_and_unbuilt_is_refused(keras_visualization):
    def subclassed(lib):
        class Net(lib.Model):
            def __init__(self):
                super().__init__(name="net")
                self.a, self.b = lib.layers.Dense(2, name="a"), lib.layers.Dense(1, name="b")

            def call(self, x):
                return self.b(self.a(x))

        model = Net()
        model(np.ones((1, 3), "float32"))
        return model

    expected = _keras_structure(keras_visualization.model_to_dot(subclassed(import_keras())))
    assert _our_structure(keras.utils.model_to_dot(subclassed(keras)).to_string()) == expected
    ours, theirs = raised_by_both(
        lambda lib: (keras.utils.model_to_dot if lib is keras else
                     keras_visualization.model_to_dot)(lib.Sequential([lib.layers.Dense(1)])))
    assert type(ours) is type(theirs) is ValueError and "not yet been built" in str(ours)


def test_plot_model_expand_nested_writes_the_clusters(tmp_path, keras_visualization):
    target = tmp_path / "model.dot"
    keras.utils.plot_model(_nested_models(keras)["outer"], to_file=str(target),
                           show_layer_names=True, expand_nested=True)
    expected = _keras_structure(keras_visualization.model_to_dot(
        _nested_models(import_keras())["outer"], expand_nested=True))
    assert _our_structure(target.read_text()) == expected


# ------------------------------------------------------------------ 4. adapt building blocks

def _vocabulary(layer):
    return [v.decode() if isinstance(v, bytes) else v if isinstance(v, str) else int(v)
            for v in layer.get_vocabulary()]


def _encoded(layer, data):
    return np.round(to_numpy(layer(data)).astype(np.float64), 5).tolist()


def _adapt_scenarios(L, const, dataset):
    """update_state/reset_state/finalize_state sequences on StringLookup, IntegerLookup and
    TextVectorization; the same code runs on real Keras (TF backend) for the expectations."""
    out = {}
    # update_state accumulates: a rank-1 batch is one document, each row of rank 2 is one
    layer = L.StringLookup(output_mode="tf_idf")
    layer.update_state(const(["a", "b", "a"]))
    layer.update_state(const([["a", "c"], ["c", "d"]]))
    layer.finalize_state()
    out["tf_idf_vocabulary"] = _vocabulary(layer)
    out["tf_idf_output"] = _encoded(layer, const([["a", "d", "d"]]))
    # reset_state clears the counts, not the vocabulary; finalize_state with no counts keeps it
    layer.reset_state()
    layer.finalize_state()
    out["after_reset"] = _vocabulary(layer)
    layer = L.StringLookup(output_mode="tf_idf")
    layer.update_state(const(["z"]))
    layer.reset_state()
    layer.update_state(const(["y", "y", "x"]))
    layer.finalize_state()
    out["reset_between_updates"] = _vocabulary(layer)
    # finalize_state clears the counts: the next update starts afresh
    layer = L.StringLookup()
    layer.update_state(const(["a", "a", "b"]))
    layer.finalize_state()
    layer.update_state(const(["c"]))
    layer.finalize_state()
    out["second_round"] = _vocabulary(layer)
    # a constructor vocabulary makes the layer non-adaptable; set_vocabulary does not
    layer = L.StringLookup(vocabulary=["x"])
    layer.reset_state()
    layer.finalize_state()
    for what, step in (("update_state", layer.update_state), ("adapt", layer.adapt)):
        try:
            step(const(["a"]))
            out[f"static_{what}"] = "no error"
        except ValueError:
            out[f"static_{what}"] = "ValueError"
    layer = L.StringLookup()
    layer.set_vocabulary(["x"])
    layer.update_state(const(["a"]))
    layer.finalize_state()
    out["set_then_update"] = _vocabulary(layer)
    # IntegerLookup: the mask token is counted, never learned; max_tokens cuts
    layer = L.IntegerLookup(max_tokens=4, mask_token=0)
    layer.update_state(const([[1, 2, 2, 0], [3, 3, 3, 0]]))
    layer.update_state(const([5, 5, 5, 5]))
    layer.finalize_state()
    out["integer"] = _vocabulary(layer)
    # adapt: a dataset's rank-1 batches are one document each; whole rank-1 data, one per item
    layer = L.StringLookup(output_mode="tf_idf")
    layer.adapt(dataset([["a", "b"], ["a", "a"], ["c", "b"]]))
    out["adapt_dataset"] = _encoded(layer, const([["a", "b", "c"]]))
    layer = L.StringLookup(output_mode="tf_idf")
    layer.adapt(["a", "b", "a", "c"])
    out["adapt_whole"] = _encoded(layer, const([["a", "b", "c"]]))
    # TextVectorization delegates to its lookup, after standardize and split
    text = L.TextVectorization(output_mode="tf_idf")
    text.update_state(const(["the cat sat", "the dog"]))
    text.update_state(const("a cat the cat"))
    text.finalize_state()
    out["text_vocabulary"] = _vocabulary(text)
    out["text_output"] = _encoded(text, const(["the cat a"]))
    text.reset_state()
    text.finalize_state()
    out["text_after_reset"] = _vocabulary(text)
    text = L.TextVectorization(max_tokens=5)
    text.update_state(["x y z", "y z"])
    text.update_state(["z w"])
    text.finalize_state()
    out["text_max_tokens"] = _vocabulary(text)
    try:
        L.TextVectorization(vocabulary=["x"]).update_state(["a"])
        out["text_static"] = "no error"
    except ValueError:
        out["text_static"] = "ValueError"
    text = L.TextVectorization(split=None, output_mode="tf_idf")
    text.update_state(const(["a", "b", "a"]))
    text.finalize_state()
    out["unsplit_update"] = _encoded(text, const([["a"], ["b"]]))
    text = L.TextVectorization(split=None, output_mode="tf_idf")
    text.adapt(["a", "b", "a"])
    out["unsplit_adapt"] = _encoded(text, const([["a"], ["b"]]))
    return out


# Real Keras 3.15.1 on TensorFlow 2.21 (the lookup layers need TensorFlow, which the torch
# oracle environment lacks): `_adapt_scenarios(keras.layers, tf.constant,
# tf.data.Dataset.from_tensor_slices)` with `import keras, tensorflow as tf`.
KERAS_ADAPT_RESULTS = {
    "tf_idf_vocabulary": ["[UNK]", "a", "c", "d", "b"],
    "tf_idf_output": [[0.0, 0.69315, 0.0, 1.83258, 0.0]],
    "after_reset": ["[UNK]", "a", "c", "d", "b"],
    "reset_between_updates": ["[UNK]", "y", "x"],
    "second_round": ["[UNK]", "c"],
    "static_update_state": "ValueError",
    "static_adapt": "ValueError",
    "set_then_update": ["[UNK]", "a"],
    "integer": [0, -1, 5, 3],
    "adapt_dataset": [[0.0, 0.69315, 0.69315, 0.91629]],
    "adapt_whole": [[0.0, 0.8473, 1.09861, 1.09861]],
    "text_vocabulary": ["[UNK]", "the", "cat", "sat", "dog", "a"],
    "text_output": [[0.0, 0.55962, 0.69315, 0.0, 0.0, 0.91629]],
    "text_after_reset": ["[UNK]", "the", "cat", "sat", "dog", "a"],
    "text_max_tokens": ["", "[UNK]", "z", "y", "x"],
    "text_static": "ValueError",
    "unsplit_update": [[0.0, 0.40547, 0.0], [0.0, 0.0, 0.40547]],
    "unsplit_adapt": [[0.0, 0.69315, 0.0], [0.0, 0.0, 0.91629]],
}


def test_adapt_building_blocks_reproduce_keras_results():
    for name in ("update_state", "reset_state", "finalize_state"):
        for layer in (keras.layers.StringLookup, keras.layers.IntegerLookup,
                      keras.layers.TextVectorization):
            assert callable(getattr(layer, name, None)), (layer, name)
    found = _adapt_scenarios(keras.layers, tf.constant, tf.data.Dataset.from_tensor_slices)
    assert found == KERAS_ADAPT_RESULTS


def test_adapt_building_blocks_match_keras_when_tensorflow_is_there():
    real_tf = pytest.importorskip("tensorflow", reason="Keras's lookup layers need TensorFlow")
    K = import_keras()
    expected = _adapt_scenarios(K.layers, real_tf.constant,
                                real_tf.data.Dataset.from_tensor_slices)
    assert expected == KERAS_ADAPT_RESULTS
    assert _adapt_scenarios(keras.layers, tf.constant,
                            tf.data.Dataset.from_tensor_slices) == expected


def test_adapt_building_blocks_signatures_match_keras():
    K = import_keras()
    for name in ("update_state", "reset_state", "finalize_state"):
        for layer in ("StringLookup", "IntegerLookup", "TextVectorization"):
            assert list(inspect.signature(getattr(getattr(K.layers, layer), name)).parameters) \
                == list(inspect.signature(getattr(getattr(keras.layers, layer), name))
                        .parameters), (layer, name)


# ------------------------------------------------------------------ 5. Model state trees

def _tree_shapes(tree):
    return {key: _tree_shapes(value) if isinstance(value, dict) else tuple(np.shape(value))
            for key, value in tree.items()}


def _small(lib):
    model = lib.Sequential([lib.Input((2,), name="features"),
                            lib.layers.Dense(3, activation="tanh", name="hidden"),
                            lib.layers.BatchNormalization(name="bn"),
                            lib.layers.Dense(1, name="out")], name="net")
    model.compile(optimizer=lib.optimizers.Adam(0.05), loss="mse", metrics=["mae"])
    return model


_X = np.array([[0.5, -1.0], [1.5, 2.0], [-0.3, 0.7], [2.0, -2.0]], "float32")
_Y = np.array([[1.0], [0.0], [0.5], [-1.0]], "float32")
_START = [np.array([[0.3, -0.2, 0.5], [0.1, 0.4, -0.6]], "float32"), np.zeros(3, "float32"),
          np.ones(3, "float32"), np.zeros(3, "float32"), np.zeros(3, "float32"),
          np.ones(3, "float32"), np.array([[0.7], [-0.5], [0.2]], "float32"),
          np.zeros(1, "float32")]


def test_get_state_tree_has_keras_structure():
    K = import_keras()
    trees = []
    for lib in (keras, K):
        model = _small(lib)
        model.set_weights(_START)
        model.fit(_X, _Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        trees.append(model.get_state_tree(value_format="numpy_array"))
    assert _tree_shapes(trees[0]) == _tree_shapes(trees[1])
    for group in ("trainable_variables", "non_trainable_variables"):
        for ours, theirs in zip(model_leaves(trees[0][group]), model_leaves(trees[1][group])):
            assert isinstance(ours, np.ndarray)
            assert_matches(ours, theirs, rtol=1e-5, atol=1e-5, what=group)


def model_leaves(tree):
    return [leaf for key in sorted(tree) for leaf in (
        model_leaves(tree[key]) if isinstance(tree[key], dict) else [tree[key]])]


def test_set_state_tree_resumes_training_as_keras_does():
    K = import_keras()
    theirs = _small(K)
    theirs.set_weights(_START)
    theirs.fit(_X, _Y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    state = theirs.get_state_tree(value_format="numpy_array")
    theirs.fit(_X, _Y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    ours = _small(keras)
    ours.optimizer.build(ours.trainable_variables)
    ours.set_state_tree(state)  # Keras's own tree, paths and all
    assert int(ours.optimizer.iterations.numpy()) == 2
    ours.fit(_X, _Y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert_matches(a, to_numpy(b), rtol=1e-5, atol=1e-5, what="weights after resuming")
    with pytest.raises(ValueError, match="Unknown variable name"):
        ours.set_state_tree({"weights": {}})
    with pytest.raises(ValueError, match="value_format"):
        ours.get_state_tree(value_format="list")


def _stateless_model(lib):
    model = lib.Sequential([lib.Input((2,)), lib.layers.Dense(
        3, kernel_regularizer=lib.regularizers.L2(0.1), name="d"), lib.layers.Dense(1, name="o")])
    model.compile(optimizer="sgd", loss="mse")
    model.set_weights([_START[0], _START[1], _START[6], _START[7]])
    return model


def test_stateless_compute_loss_matches_keras():
    K = import_keras()
    results = []
    for lib in (keras, K):
        model = _stateless_model(lib)
        doubled = [lib.ops.convert_to_tensor(to_numpy(v.value) * 2)
                   for v in model.trainable_variables]
        y_pred, _ = model.stateless_call(doubled, [], lib.ops.convert_to_tensor(_X))
        # (the loss tracker's two metric values are left out: Keras gives None for them)
        loss, (trainable, non_trainable, metrics) = model.stateless_compute_loss(
            doubled, [], [], x=_X, y=_Y, y_pred=y_pred)
        results.append((float(to_numpy(loss)), len(trainable), non_trainable, metrics,
                        to_numpy(model.trainable_variables[0].value)))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-6)
    assert results[0][1:4] == results[1][1:4]
    assert results[0][1:3] == (4, [])
    assert_matches(results[0][4], results[1][4], what="the model's own kernel, unchanged")
    assert_matches(results[0][4], _START[0])


def test_stateless_compute_loss_refuses_too_few_trainable_values():
    # Keras zips the lists and reads the model's own values for the rest (a silently
    # different loss); here the list is refused, naming the count expected.
    model = _stateless_model(keras)
    values = [v.value for v in model.trainable_variables]
    with pytest.raises(ValueError, match="trainable_variables.*length 1, but expected 4"):
        model.stateless_compute_loss(values[:1], [], [], x=_X, y=_Y, y_pred=_Y)
