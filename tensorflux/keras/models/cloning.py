"""keras.models.clone_model: a new Sequential or Functional model with the same structure and
configs as an existing one, and new layers (fresh weights), as Keras 3's models/cloning.py."""

from tensorflux.keras.engine import tree
from tensorflux.keras.engine.input_layer import Input, InputLayer
from tensorflux.keras.engine.keras_tensor import KerasTensor
from tensorflux.keras.models.functional import Functional
from tensorflux.keras.models.sequential import Sequential

__all__ = ["clone_model"]


def clone_model(model, input_tensors=None, clone_function=None, call_function=None,
                recursive=False, **kwargs):
    """A copy of `model` built from new layers: the same configs, new weights (initialized
    afresh, not copied). A compiled model's clone is compiled from its compile config.

    `clone_function(layer)` makes each new layer (default:
    `layer.__class__.from_config(layer.get_config())`; return `layer` itself to share it);
    `input_tensors` gives the clone new inputs; `call_function(layer, *args, **kwargs)`
    (Functional models only) calls each new layer; `recursive=True` clones nested
    Sequential/Functional models layer by layer. A subclassed model is cloned through
    its config (`cls.from_config(model.get_config())`).

    >>> from tensorflux import keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    >>> clone = keras.models.clone_model(model)
    >>> [layer.name for layer in clone.layers], clone.layers[0] is model.layers[0]
    (['d'], False)
    """
    cache = kwargs.pop("cache", None)
    if kwargs:
        raise ValueError(f"Unexpected keyword argument(s): {tuple(kwargs)}")
    if isinstance(model, Sequential):
        if call_function is not None:
            raise ValueError("`call_function` argument is not supported with Sequential "
                             "models: in a Sequential model, layers aren't called at "
                             "model-construction time (they're merely listed). Use "
                             "`call_function` with Functional models only. Received model "
                             f"of type '{type(model).__name__}'.")
        wrapped = _wrap_clone_function(clone_function, call_function, recursive, cache)
        return _clone_sequential_model(model, wrapped, input_tensors)
    if isinstance(model, Functional):
        wrapped = _wrap_clone_function(clone_function, call_function, recursive, cache)
        if _has_default_config(model) or clone_function is not None or \
                input_tensors is not None:
            return _clone_functional_model(model, wrapped, input_tensors, call_function)
    if clone_function is not None or input_tensors is not None:
        raise ValueError("Arguments `clone_function` and `input_tensors` are only supported "
                         "for Sequential models or Functional models. Received model of "
                         f"type '{type(model).__name__}', with clone_function="
                         f"{clone_function} and input_tensors={input_tensors}")
    if call_function is not None:
        raise ValueError("Argument `call_function` is only supported for Functional models. "
                         f"Received model of type '{type(model).__name__}'.")
    from tensorflux.keras.saving.serialization import (
        deserialize_keras_object,
        serialize_keras_object,
    )

    cls = type(model)
    config = serialize_keras_object(model)
    return deserialize_keras_object(config, custom_objects={cls.__name__: cls})


def _has_default_config(model):
    return type(model).get_config is Functional.get_config


def _clone_layer(layer):
    return layer.__class__.from_config(layer.get_config())


def _wrap_clone_function(clone_function, call_function, recursive, cache):
    """The clone function, applied once per layer (a shared layer stays shared) and, with
    `recursive`, descending into nested Sequential/Functional models."""
    clone_function = clone_function or _clone_layer
    if not callable(clone_function):
        raise ValueError("Expected `clone_function` argument to be a callable. Received: "
                         f"clone_function={clone_function}")
    cache = {} if cache is None else cache

    def wrapped(layer):
        if id(layer) in cache:
            return cache[id(layer)]
        if recursive and isinstance(layer, (Sequential, Functional)):
            clone = clone_model(layer, clone_function=clone_function,
                                call_function=call_function if isinstance(layer, Functional)
                                else None, recursive=True, cache=cache)
        else:
            clone = clone_function(layer)
        cache[id(layer)] = clone
        return clone

    return wrapped


def _clone_sequential_model(model, clone_function, input_tensors=None):
    new_layers = [clone_function(layer) for layer in model.layers]
    first = model._layers[0] if model._layers else None
    if isinstance(first, InputLayer):
        name, batch_shape, dtype, optional = (first.name, first.batch_shape, first.dtype,
                                              first.optional)
    else:
        name, batch_shape, dtype, optional = None, None, None, False
    if input_tensors is not None:
        if isinstance(input_tensors, (list, tuple)):
            if len(input_tensors) != 1:
                raise ValueError("Argument `input_tensors` must contain a single tensor.")
            input_tensors = input_tensors[0]
        if not isinstance(input_tensors, KerasTensor):
            raise ValueError("Argument `input_tensors` must be a KerasTensor. Received invalid "
                             f"value: input_tensors={input_tensors}")
        new_layers = [Input(tensor=input_tensors, name=name, optional=optional)] + new_layers
    elif batch_shape is not None:
        new_layers = [Input(batch_shape=batch_shape, dtype=dtype, name=name,
                            optional=optional)] + new_layers
    clone = Sequential(new_layers, name=model.name, trainable=model.trainable)
    _compile_like(model, clone)
    return clone


def _clone_functional_model(model, clone_function, input_tensors=None, call_function=None):
    if input_tensors is not None:
        if not all(isinstance(x, KerasTensor) for x in tree.flatten(input_tensors)):
            raise ValueError("All entries in `input_tensors` must be KerasTensors. Received "
                             f"invalid values: inputs_tensors={input_tensors}")
        if len(tree.flatten(input_tensors)) != len(model.inputs):
            raise ValueError("`input_tensors` must have the same structure as model.input\n"
                             f"Reference structure: {model.input}\n"
                             f"Received structure: {input_tensors}")
        input_tensors = _like_structure(model.input, tree.flatten(input_tensors))
    else:
        input_tensors = tree.map_structure(
            lambda x: Input(batch_shape=x.shape, dtype=x.dtype, name=x.name), model.input)
    outputs = _run_through_graph(model, input_tensors, clone_function, call_function)
    if _functional_like_constructor(type(model)):
        clone = type(model)(input_tensors, outputs, name=model.name)
    else:
        clone = Functional(input_tensors, outputs, name=model.name)
    _compile_like(model, clone)
    return clone


def _like_structure(structure, flat):
    leaves = iter(flat)
    return tree.map_structure(lambda _: next(leaves), structure)


def _run_through_graph(model, inputs, clone_function, call_function):
    """Calls the cloned layers on `inputs` node by node, in the model's execution order."""
    values = {id(kt): x for kt, x in zip(model.inputs, tree.flatten(inputs))}

    def fill(x):
        return values[id(x)] if isinstance(x, KerasTensor) else x

    for node in model._run_order:
        if any(id(x) not in values for x in node.input_tensors):
            continue
        args = tree.map_structure(fill, node.call_args)
        call_kwargs = tree.map_structure(fill, node.call_kwargs)
        layer = clone_function(node.operation)
        if call_function is not None:
            outputs = call_function(layer, *args, **call_kwargs)
        else:
            outputs = layer(*args, **call_kwargs)
        for kt, value in zip(node.output_tensors, tree.flatten(outputs)):
            values[id(kt)] = value
    return tree.map_structure(lambda x: values[id(x)], model._outputs_struct)


def _functional_like_constructor(cls):
    import inspect

    parameters = list(inspect.signature(cls.__init__).parameters)[1:]
    return parameters[:2] == ["inputs", "outputs"]


def _compile_like(model, clone):
    if getattr(model, "compiled", False):
        clone.compile_from_config(model.get_compile_config())
