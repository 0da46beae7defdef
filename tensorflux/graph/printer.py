"""Readable text and Graphviz dot renderings of a Graph."""

from tensorflux.dtypes import DType
from tensorflux.graph.ir import SymbolicTensor
from tensorflux.variable import Variable

__all__ = ["format_graph", "to_dot"]


def _input_name(x):
    if isinstance(x, SymbolicTensor):
        return f"%{x.name}"
    if isinstance(x, Variable):
        return f"@{x.name}"
    return repr(x)


def _attr_text(attrs):
    shown = []
    for key, value in attrs.items():
        if key == "value":
            value = f"<{getattr(value, 'shape', ())} array>"
        elif isinstance(value, DType):
            value = value.name
        elif callable(value):
            value = getattr(value, "__name__", "fn")
        elif isinstance(value, str):
            value = repr(value)
        shown.append(f"{key}={value}")
    return "{" + ", ".join(shown) + "}" if shown else ""


def format_graph(graph):
    """One line per node: `%name:i = op(inputs) {attrs} : shape dtype`.

    >>> import tensorflux as tf
    >>> f = tf.function(lambda x: x + 1.0, name="fn")
    >>> print(f.get_concrete_function(tf.TensorSpec([2], tf.float32)).graph)
    graph fn(%x:0: (2,) float32) -> (%add:0)
      %x:0 = placeholder() {shape=(2,), dtype=float32} : (2,) float32
      %const:0 = const() {value=<() array>, dtype=float32} : () float32
      %add:0 = add(%x:0, %const:0) : (2,) float32
    """
    inputs = ", ".join(f"%{t.name}: {t.shape} {t.dtype.name}" for t in graph.inputs)
    outputs = ", ".join(f"%{t.name}" for t in graph.outputs if isinstance(t, SymbolicTensor))
    lines = [f"graph {graph.name}({inputs}) -> ({outputs})"]
    for node in graph.nodes:
        outs = node.output_list()
        lhs = ", ".join(f"%{o.name}" for o in outs) or "_"
        args = ", ".join(_input_name(x) for x in node.inputs)
        types = ", ".join(f"{o.shape} {o.dtype.name}" for o in outs)
        attrs = _attr_text(node.attrs)
        lines.append(f"  {lhs} = {node.primitive.name}({args}) {attrs}".rstrip()
                     + (f" : {types}" if types else ""))
    return "\n".join(lines)


def _dot_id(name):
    return '"' + name.replace('"', r"\"") + '"'


def to_dot(graph):
    """Graphviz dot text: one box per node, one edge per tensor (labelled with its shape)."""
    lines = [f"digraph {_dot_id(graph.name)} {{", "  rankdir=TB;",
             "  node [shape=box, fontname=Helvetica];"]
    variables = {}
    for node in graph.nodes:
        lines.append(f"  {_dot_id(node.name)} [label={_dot_id(node.primitive.name)}];")
        for x in node.inputs:
            if isinstance(x, SymbolicTensor):
                lines.append(f"  {_dot_id(x.node.name)} -> {_dot_id(node.name)} "
                             f"[label={_dot_id(str(x.shape))}];")
            elif isinstance(x, Variable):
                variables[id(x)] = x
                lines.append(f"  {_dot_id('var:' + x.name)} -> {_dot_id(node.name)};")
    for v in variables.values():
        lines.append(f"  {_dot_id('var:' + v.name)} [shape=ellipse, label={_dot_id(v.name)}];")
    lines.append("}")
    return "\n".join(lines)
