"""keras Functional models: a graph of layer calls from Input KerasTensors to outputs,
ordered as Keras's map_graph, run node by node (`run_graph`, which keras.Function shares),
serialized in Keras 3's config format."""

import collections
import copy
import warnings

from tensorflux.keras import tree as keras_tree
from tensorflux.keras.engine import tree
from tensorflux.keras.engine.keras_tensor import KerasTensor, shape_of, trace_state
from tensorflux.keras.engine.name_scope import current_path
from tensorflux.keras.engine.op_layers import OpLayer
from tensorflux.keras.engine.operation import Operation
from tensorflux.keras.layers.base import Layer, _format_shape, _set_mask
from tensorflux.keras.models.model import Model, _trainer_init
from tensorflux.tensor import Tensor as _Tensor
from tensorflux.tensor import _is_dense_tensor

__all__ = ["Functional", "functional_from_config", "map_graph", "run_graph", "run_order"]


def make_node_key(operation, node_index):
    return f"{operation.name}_ib-{node_index}"


def _build_map(inputs, outputs):
    finished, in_progress, ordered, indices = set(), set(), [], {}
    flat_inputs = tree.flatten(inputs)

    def visit(tensor):
        if tensor._keras_history is None:  # (a bare KerasTensor: an entry of a keras.Function)
            return
        operation, node_index, _ = tensor._keras_history
        node = operation._inbound_nodes[node_index]
        if id(node) in finished:
            return
        if not node.is_input and any(tensor is x for x in flat_inputs):
            finished.add(id(node))
            return
        if id(node) in in_progress:
            raise ValueError(f"Tensor {tensor} from operation '{operation.name}' is part of a "
                             "cycle.")
        if operation not in indices:
            indices[operation] = len(indices)
        in_progress.add(id(node))
        if not node.is_input:
            for input_tensor in node.input_tensors:
                visit(input_tensor)
        finished.add(id(node))
        in_progress.discard(id(node))
        ordered.append(node)

    for output in tree.flatten(outputs):
        visit(output)
    return ordered, indices


def map_graph(inputs, outputs):
    """(node keys, nodes_by_depth, operations, operations_by_depth), exactly as Keras 3's
    `keras/src/ops/function.py::map_graph`: operations by depth descending, ties in DFS
    first-visit order."""
    ordered, indices = _build_map(inputs, outputs)
    in_graph = {id(n) for n in ordered}
    network_nodes = {make_node_key(n.operation, n.operation._inbound_nodes.index(n))
                     for n in ordered}
    node_depths = {}
    nodes_by_id = {}
    op_depths = {}
    for node in reversed(ordered):
        nodes_by_id[id(node)] = node
        depth = node_depths.setdefault(id(node), 0)
        depth = max(depth, op_depths.get(node.operation, 0))
        op_depths[node.operation] = depth
        node_depths[id(node)] = depth
        for parent in node.parent_nodes:
            if id(parent) not in in_graph:
                continue
            nodes_by_id[id(parent)] = parent
            node_depths[id(parent)] = max(depth + 1, node_depths.get(id(parent), 0))
    for x in inputs:
        if x._keras_history is None:
            continue
        operation, node_index, _ = x._keras_history
        if operation not in op_depths:
            node = operation._inbound_nodes[node_index]
            if node.is_input:
                op_depths[operation] = 0
                indices[operation] = -1
                node_depths[id(node)] = 0
                nodes_by_id[id(node)] = node
                network_nodes.add(make_node_key(operation, node_index))
    nodes_by_depth = collections.defaultdict(list)
    for node_id, depth in node_depths.items():
        nodes_by_depth[depth].append(nodes_by_id[node_id])
    ops_by_depth = collections.defaultdict(list)
    for operation, depth in op_depths.items():
        ops_by_depth[depth].append(operation)
    operations = []
    for depth in sorted(ops_by_depth, reverse=True):
        operations.extend(sorted(ops_by_depth[depth], key=lambda op: indices[op]))
    computable = {id(x) for x in inputs}
    accessed = []
    for depth in sorted(nodes_by_depth, reverse=True):
        for node in nodes_by_depth[depth]:
            for x in node.input_tensors:
                if id(x) not in computable:
                    raise ValueError(f"Graph disconnected: cannot find parent for tensor {x} "
                                     f"at layer '{node.operation.name}'. The following "
                                     "previous layers were accessed without issue: "
                                     f"{accessed}")
            accessed.append(node.operation.name)
            for x in node.output_tensors:
                computable.add(id(x))
    declared = {id(x) for x in inputs}
    for depth_nodes in nodes_by_depth.values():
        for node in depth_nodes:
            if node.is_input and not any(id(t) in declared for t in node.output_tensors):
                raise ValueError(f"Graph disconnected: the outputs depend on the input "
                                 f"'{node.operation.name}', which is not among the model's "
                                 "`inputs`.")
    names = [op.name for op in operations]
    for name in names:
        if names.count(name) != 1:
            raise ValueError(f'The name "{name}" is used {names.count(name)} times in the '
                             "model. All operation names should be unique.")
    return network_nodes, dict(nodes_by_depth), operations, dict(ops_by_depth)


def _check_keras_tensors(structure, what):
    for x in tree.flatten(structure):
        if not isinstance(x, KerasTensor) or x._keras_history is None:
            raise ValueError(f"All `{what}` values must be KerasTensors (from keras.Input or "
                             f"from calling layers on them). Received: {what}={structure!r} "
                             f"including invalid value {x!r} of type {type(x)}")


def _is_one_sample(expected, shape):
    """Whether `shape` is exactly one sample of an input of shape `expected` (batch axis
    first), every dimension known: the usual `model.predict(image)` mistake."""
    return len(expected) >= 3 and len(shape) == len(expected) - 1 and all(
        a is not None and a == b for a, b in zip(expected[1:], shape))


class Functional(Model):
    """A model defined by its input and output KerasTensors.

    >>> from tensorflux import keras
    >>> x = keras.Input((4,), name="x")
    >>> model = keras.Model(x, x * 2.0, name="double")
    >>> [layer.name for layer in model.layers]
    ['x']
    """

    # Whether a call checks only the last (feature) axis of each input against its Input,
    # not all of them as Keras's input_spec does. A Sequential's inner graph does: Keras leaves
    # a Sequential's checks to its layers, so a fully convolutional one takes images of any
    # size and an RNN any number of steps, while every layer pins its feature axis.
    _checks_last_axis_only = False
    # Unlike other layers, a Functional model stays open to new state once built (Keras: a
    # layer can be attached to it outside its graph).
    _locks_state = False

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, inputs, outputs, name=None, **kwargs):
        trainable = kwargs.pop("trainable", True)
        if kwargs:
            raise TypeError(f"Functional got unexpected keyword arguments {sorted(kwargs)}")
        if isinstance(inputs, dict):
            for value in inputs.values():
                if not isinstance(value, KerasTensor):
                    raise ValueError("When providing `inputs` as a dict, all values in the "
                                     f"dict must be KerasTensors. Received: inputs={inputs} "
                                     f"including invalid value {value} of type {type(value)}")
        _check_keras_tensors(inputs, "inputs")
        _check_keras_tensors(outputs, "outputs")
        _trainer_init(self)
        Layer.__init__(self, name=name, trainable=trainable)
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self._inputs = tree.flatten(inputs)
        self._outputs = tree.flatten(outputs)
        nodes, nodes_by_depth, operations, _ = map_graph(self._inputs, self._outputs)
        self._nodes = nodes
        self._nodes_by_depth = nodes_by_depth
        self._operations = operations
        self._layers = _layers_of(operations)
        self._run_order = run_order(nodes_by_depth)
        self._build_shapes_dict = {"input_shape": None}
        # Built here, as Keras's Functional builds in its constructor: its path is its name
        # below the scopes open now.
        with self._open_name_scope():
            object.__setattr__(self, "_path", current_path())
        self.built = True
        if not self._trainable:
            Layer.trainable.fset(self, False)

    # ------------------------------------------------------------------ structure
    @property
    def operations(self):
        return list(self._operations)

    @property
    def layers(self):
        return _layers_of(self._operations)

    @layers.setter
    def layers(self, _):
        raise AttributeError("`Model.layers` attribute is reserved and should not be used. "
                             "Please use another name.")

    @property
    def inputs(self):
        return list(self._inputs)

    @property
    def outputs(self):
        return list(self._outputs)

    @property
    def output_names(self):
        """Names of the layers producing the outputs, in flattened output order (Keras's
        Functional attribute; assignable, as in Keras)."""
        names = self.__dict__.get("_output_names")
        if names is None:
            names = [x._keras_history.operation.name for x in self._outputs]
        return list(names)

    @output_names.setter
    def output_names(self, names):
        self._output_names = list(names)

    @property
    def input(self):
        return self._inputs_struct

    @property
    def output(self):
        return self._outputs_struct

    @property
    def input_shape(self):
        return tree.map_structure(lambda x: x.shape, self._inputs_struct)

    @property
    def output_shape(self):
        return tree.map_structure(lambda x: x.shape, self._outputs_struct)

    # ------------------------------------------------------------------ running
    def _convert_inputs(self, args, kwargs, plain=None):
        return tuple(args), dict(kwargs)

    def _standardize_inputs(self, inputs):
        import tensorflux as tf

        struct = self._inputs_struct
        as_keras_sees = inputs  # the inputs as Keras compares them with the model's structure
        if isinstance(struct, dict) and isinstance(inputs, dict):
            missing = [k for k in struct if k not in inputs]
            if missing:
                raise ValueError(f"Functional '{self.name}' is missing the inputs {missing}; "
                                 f"it received the keys {sorted(inputs)}")
            flat = [inputs[k] for k in sorted(struct, key=str)]
        elif isinstance(inputs, dict):
            # A model built on a list of Inputs (or one) takes a dict by the Inputs' names, as
            # Keras does; other keys (an id column, say) are left alone.
            names = [kt.name for kt in self._inputs]
            missing = [name for name in names if name not in inputs]
            if missing:
                raise ValueError(
                    f"Functional '{self.name}' takes its inputs {names} from a dict by name, "
                    f"but the dict has no {'key' if len(missing) == 1 else 'keys'} "
                    f"{', '.join(repr(name) for name in missing)}; it has the keys "
                    f"{sorted(map(str, inputs))}")
            flat = as_keras_sees = [inputs[name] for name in names]
        else:
            flat = tree.flatten(inputs)
            if isinstance(struct, list) and len(struct) == 1 and _is_dense_tensor(inputs):
                as_keras_sees = [inputs]
        if not trace_state.depth:  # (Keras checks eager calls only, not symbolic ones)
            # A dict model whose keys are not in sorted order cannot take its inputs by
            # position: Keras refuses a list there rather than guess the order.
            refuse = isinstance(struct, dict) and not isinstance(inputs, dict) and \
                list(struct) != sorted(struct)
            self._maybe_warn_inputs_struct_mismatch(as_keras_sees, refuse)
        if len(flat) != len(self._inputs):
            raise ValueError(f"{self._describe_for_errors()} expects {len(self._inputs)} "
                             f"input(s) {[x.name for x in self._inputs]}, but it received "
                             f"{len(flat)} input tensors.")
        converted = []
        for spec, x in zip(self._inputs, flat):
            if isinstance(x, KerasTensor) or (x is None and _is_optional(spec)):
                # (an Input(optional=True) may be given None: its layers receive None)
                converted.append(x)
                continue
            if x is None:
                raise ValueError(f"{self._describe_for_errors()}: its input '{spec.name}' is not "
                                 "optional, but None was passed; pass a tensor, or make the "
                                 "input with keras.Input(..., optional=True).")
            if not isinstance(x, tf.Tensor) or x.__class__ is not tf.Tensor:
                x = tf.convert_to_tensor(x) if not hasattr(x, "read_value") else x
            if x.dtype.name == "string" and spec.dtype != "string":
                # (the cast to the Input's dtype would fail inside the traced step, naming
                # only a cast node and NumPy's "could not convert string to float")
                raise ValueError(
                    f"{self._describe_for_errors()} expects {spec.dtype} values for its input "
                    f"'{spec.name}' (shape {_format_shape(spec.shape)}), but received strings "
                    f"(a string tensor of shape {_format_shape(shape_of(x))}). Turn the text "
                    "into numbers first, or start the model with keras.Input(dtype='string') "
                    "followed by a TextVectorization or StringLookup layer.")
            if x.dtype.name != spec.dtype and (x.dtype.is_floating or
                                               spec.dtype.startswith("float")):
                x = tf.cast(x, spec.dtype)
            x = self._adjust_input_rank(spec, x)
            self._check_input_shape(spec, x)
            converted.append(x)
        return converted

    def _maybe_warn_inputs_struct_mismatch(self, inputs, raise_exception=False):
        """Keras's warning (or, with `raise_exception`, ValueError) for inputs nested unlike
        the model's Inputs: a one-tensor list for a single Input, a list for a dict, extra
        keys. Lists and tuples count as alike."""
        if _flat_alike(inputs, self._inputs_struct):  # (the usual case, without a tree walk)
            return
        try:
            keras_tree.assert_same_structure(keras_tree.lists_to_tuples(inputs),
                                             keras_tree.lists_to_tuples(self._inputs_struct))
            return
        except (ValueError, TypeError):
            pass

        def describe(x):
            if x is None:
                return "None"
            shape = shape_of(x)
            return f"Tensor(shape={_format_shape(shape) if shape is not None else None})"

        expected = keras_tree.map_structure(lambda x: x.name, self._inputs_struct)
        message = ("The structure of `inputs` doesn't match the expected structure.\n"
                   f"Expected: {expected}\n"
                   f"Received: inputs={keras_tree.map_structure(describe, inputs)}")
        if raise_exception:
            raise ValueError(message)
        warnings.warn(message, stacklevel=2)

    def _adjust_input_rank(self, spec, x):
        """Keras's one-axis leniency: an input one rank short of its Input gets a trailing
        axis when the Input's last dimension is 1 (a batch of scalars for `Input((1,))`), and
        one a rank over loses a trailing axis of size 1; any other rank is an error."""
        import tensorflux as tf

        shape = shape_of(x)
        if spec.shape is None or shape is None or len(shape) == len(spec.shape):
            return x
        one_sample = _is_one_sample(spec.shape, shape)
        if len(shape) == len(spec.shape) + 1 and shape[-1] == 1:
            adjusted = tf.squeeze(x, axis=-1)
        elif len(shape) == len(spec.shape) - 1 and spec.shape[-1] == 1 and not (
                one_sample and (len(spec.shape) >= 4 or not self._checks_last_axis_only)):
            adjusted = tf.expand_dims(x, axis=-1)
        else:
            # (one image given without its batch axis would get a trailing axis and fail
            # later in a layer, far from the cause; it is refused here with the fix)
            path = next(p for p, leaf in keras_tree.flatten_with_path(self._inputs_struct)
                        if leaf is spec)
            hint = (" It looks like a single sample without its batch axis: add one, e.g. "
                    "x[None] or np.expand_dims(x, 0).") if one_sample else ""
            described = f"Tensor(shape={_format_shape(shape)}, dtype={x.dtype.name})"
            raise ValueError(
                f"Invalid input shape for input {described} with name '{spec.name}' and path "
                f"'{'.'.join(map(str, path))}'. Expected shape {_format_shape(spec.shape)}, "
                f"but input has incompatible shape {_format_shape(shape)}.{hint}")
        mask = getattr(x, "_keras_mask", None)
        if mask is not None:
            _set_mask(adjusted, mask)
        return adjusted

    def _check_input_shape(self, spec, x):
        shape = shape_of(x)
        if spec.shape is None or shape is None:
            return
        # Keras checks inputs against shape_with_no_batch_size: a model first built on a batch
        # of 32 (a deferred Sequential) must still take the last, partial batch.
        first = max(1, len(shape) - 1) if self._checks_last_axis_only else 1
        bad = len(shape) != len(spec.shape) or any(
            a is not None and b is not None and a != b
            for a, b in zip(spec.shape[first:], shape[first:]))
        if bad:
            raise ValueError(self._input_shape_message(spec, shape))

    def _input_shape_message(self, spec, shape):
        """Names the model, its input, the first layer that takes it and the axis that
        differs, as Keras's message names the layer."""
        message = (f"{self._describe_for_errors()} expected an input of shape "
                   f"{_format_shape(spec.shape)} for input '{spec.name}', received shape "
                   f"{_format_shape(shape)}")
        if len(shape) != len(spec.shape):
            return message
        axis = next(i for i, (a, b) in enumerate(zip(spec.shape, shape))
                    if i and a is not None and b is not None and a != b)
        axis = axis - len(shape) if axis == len(shape) - 1 else axis
        layer = next((node.operation for node in self._run_order
                      if any(x is spec for x in node.input_tensors)), None)
        where = "" if layer is None else \
            f"; this input feeds layer '{layer.name}' ({type(layer).__name__})"
        return (f"{message}: expected axis {axis} of the input shape to have value "
                f"{spec.shape[axis]}, but received {shape[axis]}{where}")

    def _describe_for_errors(self):
        return getattr(self, "_error_name", None) or f"{type(self).__name__} '{self.name}'"

    def call(self, inputs, training=None, mask=None):
        flat = self._standardize_inputs(inputs)
        # Keras masks (Embedding(mask_zero=True), Masking) ride on the symbolic tensors;
        # their values are computed here, only along the paths where the graph has them.
        masks = {}
        if mask is not None:
            for kt, x, value in zip(self._inputs, flat, tree.flatten(mask)):
                if value is not None:
                    masks[id(kt)] = value
                    _set_mask(x, value)
        values = run_graph(self._run_order, self._inputs, flat, training=training, masks=masks)
        outputs = tree.map_structure(lambda x: values[id(x)], self._outputs_struct)
        if masks:  # the outputs carry their masks, for the losses and metrics (as in Keras)
            for kt in self._outputs:
                mask = masks.get(id(kt))
                if mask is not None and getattr(values[id(kt)], "_keras_mask", None) is None:
                    _set_mask(values[id(kt)], mask)
        if not trace_state.depth and isinstance(outputs, (list, tuple)) and len(outputs) == 1:
            # Keras unpacks a one-output list (`Model(inputs=[x], outputs=[y])`) when the
            # model runs, so predict returns an array; a symbolic call keeps the list.
            return outputs[0]
        return outputs

    @staticmethod
    def _propagate_masks(node, args, kwargs, in_mask, masks, flat_outputs):
        operation = node.operation
        if not getattr(operation, "supports_masking", False):
            return
        # A layer's call leaves its outputs' masks on them (Layer.__call__).
        attached = [getattr(value, "_keras_mask", None) for value in flat_outputs]
        if any(mask is None for mask, kt in zip(attached, node.output_tensors)
               if kt._keras_mask is not None):
            first = args[0] if args else None
            out_masks = operation.compute_mask(first, kwargs.get("mask", in_mask))
            if out_masks is None:
                return
            attached = tree.flatten(out_masks)
        for kt, value in zip(node.output_tensors, attached):
            if value is not None and kt._keras_mask is not None:
                masks[id(kt)] = value

    def compute_output_shape(self, input_shape):
        return tree.map_structure(lambda x: x.shape, self._outputs_struct)

    # ------------------------------------------------------------------ config
    def get_config(self):
        from tensorflux.keras.saving.serialization import serialize_keras_object

        config = {"name": self.name, "trainable": self.trainable}
        reindex = {}
        for operation in self._operations:
            kept = 1 if isinstance(operation, Functional) else 0
            for index, _ in enumerate(operation._inbound_nodes):
                key = make_node_key(operation, index)
                if key in self._nodes:
                    reindex[key] = kept
                    kept += 1
        layer_configs = []
        for operation in self._operations:
            inbound = []
            for index, node in enumerate(operation._inbound_nodes):
                if make_node_key(operation, index) in self._nodes:
                    data = self._serialize_node(node)
                    if data is not None:
                        inbound.append(data)
            layer_config = serialize_keras_object(operation)
            layer_config["name"] = operation.name
            layer_config["inbound_nodes"] = inbound
            layer_configs.append(layer_config)
        config["layers"] = layer_configs

        def tensor_config(tensor):
            operation, node_index, tensor_index = tensor._keras_history
            return [operation.name, reindex[make_node_key(operation, node_index)], tensor_index]

        config["input_layers"] = tree.map_structure(tensor_config, self._inputs_struct)
        config["output_layers"] = tree.map_structure(tensor_config, self._outputs_struct)
        return copy.deepcopy(config)

    def _serialize_node(self, node):
        from tensorflux.keras.saving.serialization import serialize_keras_object

        if not node.input_tensors:
            return None

        def serialize_tensor(x):
            if not isinstance(x, KerasTensor):
                return x
            operation, node_index, tensor_index = x._keras_history
            irrelevant = sum(1 for i in range(node_index)
                             if make_node_key(operation, i) not in self._nodes)
            return {"class_name": "__keras_tensor__",
                    "config": {"shape": list(x.shape) if x.shape is not None else None,
                               "dtype": x.dtype,
                               "keras_history": [operation.name, node_index - irrelevant,
                                                 tensor_index]}}

        args = tree.map_structure(serialize_tensor, node.call_args)
        kwargs = tree.map_structure(serialize_tensor, node.call_kwargs)
        return {"args": serialize_keras_object(tuple(args)),
                "kwargs": serialize_keras_object(kwargs)}


def run_order(nodes_by_depth):
    """The nodes of `map_graph`'s `nodes_by_depth` that compute something, in the order they
    run: deepest (nearest the inputs) first."""
    return [node for depth in sorted(nodes_by_depth, reverse=True)
            for node in nodes_by_depth[depth] if not node.is_input]


def _is_optional(input_tensor):
    """Whether `input_tensor` is the output of an InputLayer made with optional=True."""
    history = input_tensor._keras_history
    return bool(history is not None and getattr(history[0], "optional", False))


def run_graph(nodes, inputs, values, training=None, masks=None, call=None):
    """Runs each of `nodes` (in `run_order`) whose input tensors have values, starting from
    `values` for the KerasTensors `inputs`; returns {id(KerasTensor): value} for every tensor
    computed. `training`, when not None, overrides each layer call's flag; `masks` maps
    id(KerasTensor) to its mask and gains the masks computed; `call(operation, args, kwargs)`
    replaces calling each operation (compute_output_spec, for a keras.Function's specs)."""
    values = {id(kt): value for kt, value in zip(inputs, values)}
    masks = {} if masks is None else masks

    def fill(x):
        return values[id(x)] if isinstance(x, KerasTensor) else x

    for node in nodes:
        first = node.single_input
        if first is not None:
            if id(first) not in values:
                continue
            args, kwargs = (values[id(first)],), {}
        else:
            if any(id(x) not in values for x in node.input_tensors):
                continue
            args = tree.map_structure(fill, node.call_args)
            kwargs = tree.map_structure(fill, node.call_kwargs)
            first = node.call_args[0] if node.call_args else None
        in_mask = masks.get(id(first)) if isinstance(first, KerasTensor) else None
        operation = node.operation
        # (only to a call of one tensor argument, as Keras and our eager calls decide:
        # `LSTM()(x, initial_state=[h, c])` runs without x's mask)
        takes_mask = getattr(operation, "_takes_inputs_mask", None)
        if in_mask is not None and takes_mask is not None and takes_mask(args, kwargs):
            kwargs["mask"] = in_mask
        if training is not None and getattr(operation, "_call_has_training_arg", False):
            # Keras 3: the model call's training flag overrides one given to a layer
            # when the graph was built (`base(x, training=False)` trains in fit; a frozen
            # BatchNormalization keeps inference mode through `trainable=False`).
            kwargs["training"] = training
        outputs = operation(*args, **kwargs) if call is None else call(operation, args, kwargs)
        flat_outputs = [outputs] if outputs.__class__ is _Tensor else tree.flatten(outputs)
        for kt, value in zip(node.output_tensors, flat_outputs):
            values[id(kt)] = value
        if call is None and any(kt._keras_mask is not None for kt in node.output_tensors):
            Functional._propagate_masks(node, args, kwargs, in_mask, masks, flat_outputs)
    return values


def _layers_of(operations):
    """The operations that are layers (Model.layers): neither the op layers of Python
    operators and keras.ops nor plain keras.Operations, as Keras lists them."""
    return [op for op in operations if isinstance(op, Layer) and not isinstance(op, OpLayer)]


def _legacy_tensor(value, created):
    """A tensor that tf.keras 2 wrote in a node's keyword arguments as [layer name, node
    index, tensor index] (`mha(query, value=v)`); any other value as it is."""
    if (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
            and value[0] in created and all(isinstance(i, int) for i in value[1:])):
        nodes = created[value[0]]._inbound_nodes
        if value[1] < len(nodes) and value[2] < len(nodes[value[1]].output_tensors):
            return nodes[value[1]].output_tensors[value[2]]
    return value


def _deserialize_node(node_data, created):
    from tensorflux.keras.saving.serialization import deserialize_keras_object

    if not node_data:
        return [], {}
    if isinstance(node_data, list):  # Keras 2: [[layer, node, tensor, kwargs?], ...]
        tensors = []
        kwargs = {}
        for entry in node_data:
            layer = created.get(entry[0])
            if layer is None:
                raise ValueError(f"Invalid Functional model configuration. Missing node: "
                                 f"{entry[0]}")
            if len(layer._inbound_nodes) <= entry[1]:
                raise IndexError(f"Layer node index out of bounds ({entry[0]}[{entry[1]}])")
            tensors.append(layer._inbound_nodes[entry[1]].output_tensors[entry[2]])
            if len(entry) == 4:
                kwargs = {key: _legacy_tensor(value, created)
                          for key, value in (entry[3] or {}).items()}
        return [tensors[0] if len(tensors) == 1 else tensors], kwargs
    args = deserialize_keras_object(node_data["args"])
    kwargs = deserialize_keras_object(node_data["kwargs"])

    def revive(x):
        if isinstance(x, KerasTensor):
            history = getattr(x, "_pre_serialization_keras_history", None)
            if history is None:
                return x
            layer = created.get(history[0])
            if layer is None:
                raise ValueError(f"Unknown layer: {history[0]}")
            if len(layer._inbound_nodes) <= history[1]:
                raise IndexError(f"Layer node index out of bounds ({history[0]}[{history[1]}])")
            return layer._inbound_nodes[history[1]].output_tensors[history[2]]
        return x

    return tree.map_structure(revive, args), tree.map_structure(revive, kwargs)


def functional_from_config(cls, config, custom_objects=None):
    """A Functional model (or subclass `cls`) from Keras 3's (or Keras 2's) config."""
    from tensorflux.keras.saving.serialization import (
        deserialize_keras_object,
        legacy_layer_config,
    )

    created = {}
    pending = {}
    config = dict(config)
    for layer_data in config["layers"]:
        layer = deserialize_keras_object(legacy_layer_config(layer_data),
                                         custom_objects=custom_objects)
        if not isinstance(layer, Operation):
            raise ValueError("Unexpected object from deserialization, expected a layer or "
                             f"operation, got a {type(layer)}")
        created[layer_data["name"]] = layer
        pending[layer_data["name"]] = list(layer_data.get("inbound_nodes") or [])
    while any(pending.values()):
        progressed = False
        for layer_data in config["layers"]:
            name = layer_data["name"]
            nodes = pending[name]
            while nodes:
                try:
                    args, kwargs = _deserialize_node(nodes[0], created)
                except IndexError:
                    break
                created[name](*args, **kwargs)
                nodes.pop(0)
                progressed = True
        if not progressed:
            raise ValueError("Invalid Functional model configuration. The graph of the "
                             "Functional model either has loops or disconnected nodes. The "
                             f"following nodes failed to be resolved: "
                             f"{ {k: v for k, v in pending.items() if v} }")

    def get_tensor(layer_name, node_index, tensor_index):
        layer = created[layer_name]
        if isinstance(layer, Functional):
            node_index -= 1
        return layer._inbound_nodes[node_index].output_tensors[tensor_index]

    def map_tensors(tensors):
        if isinstance(tensors, list) and len(tensors) == 3 and isinstance(tensors[0], str):
            return get_tensor(*tensors)
        if isinstance(tensors, dict):
            return {k: map_tensors(v) for k, v in tensors.items()}
        if isinstance(tensors, tuple):
            return tuple(map_tensors(v) for v in tensors)
        return [map_tensors(v) for v in tensors]

    inputs = map_tensors(config["input_layers"])
    outputs = map_tensors(config["output_layers"])
    kwargs = {"name": config.get("name")}
    if config.get("trainable") is not None:
        kwargs["trainable"] = config["trainable"]
    return cls(inputs=inputs, outputs=outputs, **kwargs)


_NESTS = (list, tuple, dict)


def _flat_alike(inputs, struct):
    """Whether `inputs` and `struct` are both one leaf, or both a list or tuple of the same
    number of leaves: the same structure, as Keras compares them."""
    if not isinstance(inputs, _NESTS) and not isinstance(struct, _NESTS):
        return True
    return (isinstance(inputs, (list, tuple)) and isinstance(struct, (list, tuple))
            and len(inputs) == len(struct)
            and not any(isinstance(x, _NESTS) for x in inputs)
            and not any(isinstance(x, _NESTS) for x in struct))
