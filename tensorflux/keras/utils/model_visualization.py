"""keras.utils.plot_model and model_to_dot: a model's layer graph as Graphviz dot text.

The dot text needs nothing installed; rendering it to PNG/SVG/PDF runs Graphviz's `dot`
program, which must be on the PATH (as Keras requires graphviz).
"""

import os
import shutil
import subprocess

__all__ = ["model_to_dot", "plot_model"]

_GRAPHVIZ_MISSING = ("You must install graphviz (see instructions at "
                     "https://graphviz.gitlab.io/download/) for `plot_model` to work: the `dot` "
                     "program was not found on the PATH. (Saving to a `.dot` file needs no "
                     "graphviz.)")


class Dot:
    """A graph as Graphviz dot text, with pydot's `to_string()` and `create(prog, format)`.

    `model_to_dot(..., subgraph=True)` gives one as a cluster (`subgraph "cluster_<model>"`),
    which `add_subgraph` nests in another graph, as pydot's Cluster is.
    """

    def __init__(self, source=None, dpi=None, *, name="G", cluster=False, attributes=None):
        self._source = source
        self.dpi = dpi
        self.name = name
        self.cluster = cluster
        self.attributes = dict(attributes or {})
        self.nodes = []  # (node id, label rows)
        self.edges = []  # (source id, destination id)
        self.subgraphs = []

    @property
    def source(self):
        return self.to_string()

    def add_node(self, node_id, rows):
        self.nodes.append((node_id, list(rows)))

    def add_edge(self, source, destination):
        if (source, destination) not in self.edges:
            self.edges.append((source, destination))

    def add_subgraph(self, graph):
        self.subgraphs.append(graph)

    def _lines(self, indent):
        pad = " " * indent
        lines = []
        if self.cluster:
            lines.append(f"{pad}subgraph {_quote('cluster_' + self.name)} {{")
            lines.extend(f"{pad}  {key}={_quote(value)};"
                         for key, value in self.attributes.items())
        else:
            lines.append(f"{pad}digraph {_quote(self.name)} {{")
            settings = ", ".join(f"{key}={value}" for key, value in self.attributes.items())
            lines.append(f"{pad}  graph [{settings}];")
            lines.append(f"{pad}  node [shape=record];")
        for node_id, rows in self.nodes:
            label = "\\n".join(_record_text(row) for row in rows)
            lines.append(f'{pad}  {node_id} [label="{label}"];')
        for graph in self.subgraphs:
            lines.extend(graph._lines(indent + 2))
        for source, destination in self.edges:
            lines.append(f"{pad}  {source} -> {destination};")
        lines.append(f"{pad}}}")
        return lines

    def to_string(self):
        if self._source is not None:
            return self._source
        return "\n".join(self._lines(0)) + "\n"

    def __str__(self):
        return self.to_string()

    def create(self, prog="dot", format="png"):  # noqa: A002 - pydot's argument name
        program = shutil.which(prog)
        if program is None:
            raise ImportError(_GRAPHVIZ_MISSING)
        result = subprocess.run([program, f"-T{format}"], input=self.to_string().encode("utf-8"),
                                capture_output=True, check=False, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"graphviz `{prog}` failed: "
                               f"{result.stderr.decode('utf-8', 'replace')}")
        return result.stdout

    def write(self, path, format="raw"):  # noqa: A002 - pydot's argument name
        data = self.to_string().encode("utf-8") if format in ("raw", "dot") else self.create(
            format=format)
        with open(path, "wb") as handle:
            handle.write(data)


def _quote(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _record_text(text):
    """`text` escaped for a record label, where braces, bars and angle brackets are syntax."""
    out = str(text).replace("\\", "\\\\").replace('"', '\\"')
    for char in "{}|<>":
        out = out.replace(char, "\\" + char)
    return out.replace("\n", " ")


def _structure_shape(tensors, attribute):
    from tensorflux.keras.engine import tree

    try:
        return tree.map_structure(lambda t: tuple(getattr(t, attribute))
                                  if attribute == "shape" else getattr(t, attribute), tensors)
    except (ValueError, AttributeError, TypeError):
        return None


def _format_shape(shape):
    if shape is None:
        return "?"
    if isinstance(shape, dict):
        return ", ".join(f"{key}: {value}" for key, value in shape.items())
    return str(shape)


def _label_rows(layer, options):
    class_name = type(layer).__name__
    rows = [f"{layer.name} ({class_name})" if options["show_layer_names"] else class_name]
    activation = getattr(layer, "activation", None)
    if options["show_layer_activations"] and activation is not None:
        name = getattr(activation, "name", None) or getattr(activation, "__name__", None)
        rows.append(f"Activation: {name or activation}")
    if options["show_shapes"]:
        if class_name != "InputLayer":
            rows.append("Input shape: " + _format_shape(_tensors_of(layer, "input", "shape")))
        rows.append("Output shape: " + _format_shape(_tensors_of(layer, "output", "shape")))
    if options["show_dtype"]:
        dtype = _tensors_of(layer, "output", "dtype")
        rows.append(f"Output dtype: {dtype or '?'}")
    if options["show_trainable"] and getattr(layer, "weights", None):
        rows.append("Trainable" if layer.trainable else "Non-trainable")
    return rows


def _tensors_of(layer, which, attribute):
    try:
        tensors = getattr(layer, which)
    except (ValueError, AttributeError, RuntimeError):
        return None
    return _structure_shape(tensors, attribute)


def _check_kwargs(kwargs):
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("Argument `layer_range` is no longer supported.")
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {kwargs}")


def _node_id(ids, layer):
    found = ids.get(id(layer))
    if found is None:
        found = ids[id(layer)] = f"layer_{len(ids)}"
    return found


def _kinds():
    from tensorflux.keras.models.functional import Functional
    from tensorflux.keras.models.sequential import Sequential

    return Functional, Sequential


def _network_nodes(model):
    """The node keys a model's graph holds (a Sequential's are its inner Functional's)."""
    Functional, Sequential = _kinds()
    if isinstance(model, Sequential):
        model = model._functional
    return None if model is None else model._nodes


def _graph(model, options, expand_nested, subgraph, ids, graph_attributes):
    from tensorflux.keras.models.functional import make_node_key

    Functional, Sequential = _kinds()
    if subgraph:
        dot = Dot(name=model.name, cluster=True,
                  attributes={"label": model.name, "labeljust": "l", "style": "dashed"})
    else:
        dot = Dot(name=model.name, attributes=graph_attributes, dpi=graph_attributes["dpi"])
    if isinstance(model, Sequential):
        layers = list(model.layers)
    elif isinstance(model, Functional):
        layers = list(model._operations)
    else:  # a subclassed model is one box, as in Keras
        dot.add_node(_node_id(ids, model), _label_rows(model, options))
        return dot
    for layer in layers:
        if expand_nested and isinstance(layer, (Functional, Sequential)):
            dot.add_subgraph(_graph(layer, options, True, True, ids, graph_attributes))
        else:
            dot.add_node(_node_id(ids, layer), _label_rows(layer, options))
    if isinstance(model, Sequential):
        if not expand_nested:
            for source, destination in zip(layers, layers[1:]):
                dot.add_edge(_node_id(ids, source), _node_id(ids, destination))
            return dot
        # (the first layer's input is the Sequential's own input: the edge into the model
        # from outside draws it, so the first layer's inbound edges are skipped)
        layers = layers[1:]
    nodes = _network_nodes(model)
    for layer in layers:
        for node_index, node in enumerate(layer._inbound_nodes):
            if nodes is not None and make_node_key(layer, node_index) not in nodes:
                continue
            for input_index, tensor in enumerate(node.input_tensors):
                history = getattr(tensor, "_keras_history", None)
                if history is None or history.operation is None:
                    continue
                source, output_index = history.operation, history.tensor_index
                destination = layer
                if expand_nested:
                    source, destination = _resolve(source, output_index, destination,
                                                   input_index)
                dot.add_edge(_node_id(ids, source), _node_id(ids, destination))
    return dot


def _resolve(source, output_index, destination, input_index):
    """An edge between nested models, moved onto the boxes drawn inside them: from the layer
    that makes the model's output, to the model's input layer (a Functional's) or first layer
    (a Sequential's), however deep the nesting goes."""
    Functional, Sequential = _kinds()
    while isinstance(source, (Functional, Sequential)):
        history = source.outputs[output_index]._keras_history
        source, output_index = history.operation, history.tensor_index
    while isinstance(destination, (Functional, Sequential)):
        if isinstance(destination, Functional):
            destination = destination.inputs[input_index]._keras_history.operation
        else:
            destination = destination.layers[0]
    return source, destination


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True,
                 rankdir="TB", expand_nested=False, dpi=200, subgraph=False,
                 show_layer_activations=False, show_trainable=False, splines="ortho",
                 **kwargs):
    """The model's layers and connections as a Dot object (`str()` gives the dot text).

    `expand_nested=True` draws each nested Functional or Sequential model as a dashed
    cluster of its own layers, the edges going to and from the layers inside it;
    `subgraph=True` returns the model as such a cluster. A subclassed model is one box.

    >>> from tensorflux import keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    >>> "Dense" in model_to_dot(model).to_string()
    True
    """
    if not getattr(model, "built", False):
        raise ValueError("This model has not yet been built. Build the model first by "
                         "calling `build()` or by calling the model on a batch of data.")
    _check_kwargs(kwargs)
    options = {"show_layer_names": show_layer_names,
               "show_layer_activations": show_layer_activations, "show_dtype": show_dtype,
               "show_shapes": show_shapes, "show_trainable": show_trainable}
    graph_attributes = {"rankdir": rankdir, "concentrate": "true", "dpi": dpi,
                        "splines": _quote(splines)}
    return _graph(model, options, expand_nested, subgraph, {}, graph_attributes)


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False,
               show_layer_names=False, rankdir="TB", expand_nested=False, dpi=200,
               show_layer_activations=False, show_trainable=False, splines="ortho", **kwargs):
    """Draws the model's graph into `to_file`: `.dot` writes the dot text (always works);
    other extensions (png, svg, pdf, ...) render it with Graphviz's `dot` program. A bitmap
    is also returned as an IPython Image when IPython is installed, so that a notebook shows
    it inline, as Keras does."""
    _check_kwargs(kwargs)
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype,
                       show_layer_names=show_layer_names, rankdir=rankdir,
                       expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations,
                       show_trainable=show_trainable, splines=splines)
    to_file = os.fspath(to_file)
    extension = os.path.splitext(to_file)[1][1:].lower() or "png"
    if extension in ("dot", "gv"):
        dot.write(to_file, format="raw")
    else:
        dot.write(to_file, format=extension)
    if extension in ("png", "jpg", "jpeg", "gif"):
        try:
            from IPython import display
        except ImportError:
            return None
        return display.Image(filename=to_file)
    return None
