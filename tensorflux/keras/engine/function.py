"""keras.Function: the graph of operations from some KerasTensors to others, rerun on new
values; a Functional model's graph (map_graph, run_graph) without its layer and weight API."""

from tensorflux.keras import tree as keras_tree
from tensorflux.keras.engine.keras_tensor import KerasTensor, shape_of
from tensorflux.keras.engine.operation import Operation
from tensorflux.keras.models.functional import map_graph, run_graph, run_order

__all__ = ["Function"]


class Function(Operation):
    """The computation linking `inputs` to `outputs` (KerasTensors, or nested lists, tuples
    and dicts of them), reapplied to new values: a Functional model that tracks no weights
    and is not a Layer.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> a = keras.KerasTensor((None, 2))
    >>> b = keras.KerasTensor((None, 2))
    >>> fn = keras.Function([a, b], keras.ops.sigmoid(a + b))
    >>> fn([tf.zeros((1, 2)), tf.zeros((1, 2))]).numpy().tolist()
    [[0.5, 0.5]]
    """

    def __init__(self, inputs, outputs, name=None):
        super().__init__(name=name)
        self._inputs_struct = keras_tree.map_structure(lambda x: x, inputs)
        self._outputs_struct = keras_tree.map_structure(lambda x: x, outputs)
        self._inputs = keras_tree.flatten(inputs)
        self._outputs = keras_tree.flatten(outputs)
        given = {"inputs": inputs, "outputs": outputs}
        for what, flat in (("inputs", self._inputs), ("outputs", self._outputs)):
            if not flat:
                raise ValueError(f"`{what}` argument cannot be empty. Received:\n"
                                 f"inputs={inputs}\noutputs={outputs}")
            for x in flat:
                if not isinstance(x, KerasTensor):
                    raise ValueError(f"All `{what}` of a keras.Function must be KerasTensors "
                                     "(from keras.Input, keras.KerasTensor, or calling "
                                     f"operations on them). Received: {what}={given[what]!r} "
                                     f"including {x!r} of type {type(x).__name__}")
        nodes, nodes_by_depth, operations, operations_by_depth = map_graph(self._inputs,
                                                                           self._outputs)
        self._nodes = nodes
        self._nodes_by_depth = nodes_by_depth
        self._operations = operations
        self._operations_by_depth = operations_by_depth
        self._run_order = run_order(nodes_by_depth)

    @property
    def operations(self):
        """The operations of the graph, from the inputs to the outputs (a new list)."""
        return list(self._operations)

    @property
    def inputs(self):
        """The flat list of the symbolic inputs."""
        return list(self._inputs)

    @property
    def outputs(self):
        """The flat list of the symbolic outputs."""
        return list(self._outputs)

    def call(self, inputs):
        """The outputs (in the structure of `outputs`) computed from new input values, given
        in the structure of `inputs`."""
        self._assert_input_compatibility(inputs)
        return self._run(inputs)

    def compute_output_spec(self, inputs):
        """KerasTensors for the outputs of a call on the KerasTensors `inputs`."""
        self._assert_input_compatibility(inputs)
        flat = keras_tree.flatten(inputs)
        if all(x.shape == ref.shape for x, ref in zip(flat, self._inputs)):
            return keras_tree.map_structure(lambda x: KerasTensor(x.shape, x.dtype),
                                            self._outputs_struct)
        # Other shapes: each operation's spec from its inputs', with no node recorded.
        return self._run(inputs, lambda op, args, kwargs: op.compute_output_spec(*args,
                                                                                 **kwargs))

    def compute_output_shape(self, input_shape):
        """The output shape(s) for input shape(s) in the structure of `inputs`."""
        specs = keras_tree.map_shape_structure(lambda shape: KerasTensor(shape), input_shape)
        flat = keras_tree.flatten(specs)
        for i, (x, ref) in enumerate(zip(flat, self._inputs)):
            flat[i] = KerasTensor(x.shape, ref.dtype, sparse=ref.sparse)
        specs = keras_tree.pack_sequence_as(specs, flat)
        outputs = self.compute_output_spec(specs)
        return keras_tree.map_structure(lambda x: x.shape, outputs)

    def _run(self, inputs, call=None):
        values = run_graph(self._run_order, self._inputs, keras_tree.flatten(inputs), call=call)
        flat = []
        for path, x in keras_tree.flatten_with_path(self._outputs_struct):
            if id(x) not in values:
                raise ValueError(f"Output with path `{'.'.join(map(str, path))}` is not "
                                 "connected to `inputs`")
            flat.append(values[id(x)])
        return keras_tree.pack_sequence_as(self._outputs_struct, flat)

    def _assert_input_compatibility(self, inputs):
        try:
            keras_tree.assert_same_structure(inputs, self._inputs_struct)
        except (ValueError, TypeError):
            raise ValueError("Function was called with an invalid input structure. Expected "
                             f"input structure: {self._inputs_struct}\n"
                             f"Received input structure: {inputs}") from None
        for x, ref in zip(keras_tree.flatten(inputs), self._inputs):
            shape = shape_of(x)
            if shape is None or ref.shape is None:
                continue
            if len(shape) != len(ref.shape) or any(
                    a is not None and b is not None and a != b for a, b in zip(shape, ref.shape)):
                raise ValueError(f"{type(self).__name__} was passed incompatible inputs. For "
                                 f"input '{ref.name}', expected shape {ref.shape}, but "
                                 f"received instead a tensor with shape {shape}.")
