"""keras.Model: a Layer with training methods (from the Trainer mixin), `layers`, `summary`;
`Model(inputs, outputs)` builds a Functional model, as in Keras."""

import inspect
import warnings

from tensorflux.keras.engine import tree
from tensorflux.keras.engine.keras_tensor import KerasTensor, shape_of
from tensorflux.keras.layers.base import Layer, _is_plain, _names

__all__ = ["Model"]

try:  # The training mixin is written separately; the engine works without it.
    from tensorflux.keras.trainers.trainer import Trainer
except ImportError:  # pragma: no cover - only while keras.trainers does not exist yet
    class Trainer:
        """Placeholder until tensorflux.keras.trainers.trainer.Trainer exists."""

        compiled = False
        optimizer = None

        def __init__(self):
            pass


def _trainer_init(model):
    init = getattr(Trainer, "__init__", None)
    if init is not None and init is not object.__init__:
        init(model)


def functional_init_arguments(args, kwargs):
    return ((len(args) == 2) or (len(args) == 1 and "outputs" in kwargs)
            or ("inputs" in kwargs and "outputs" in kwargs))


def inject_functional_model_class(cls):
    """Swaps Model for Functional in a subclass's bases (`class M(Model)` + M(inputs, outputs))."""
    from tensorflux.keras.models.functional import Functional

    if cls is Model:
        return Functional
    if cls is object:
        return object
    if issubclass(cls, Functional):
        return cls
    cls.__bases__ = tuple(inject_functional_model_class(base) for base in cls.__bases__)
    return cls


def _warn_generator_method(old, new):
    warnings.warn(f"`Model.{old}` is Keras 2's (deprecated, removed in Keras 3): use "
                  f"`Model.{new}`, which takes generators and keras.utils.Sequence.",
                  DeprecationWarning, stacklevel=3)


class Model(Trainer, Layer):
    """A model: subclass it (layers in `__init__`, the forward pass in `call`) or call it as
    `Model(inputs, outputs)` to get a Functional model.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> class Net(keras.Model):
    ...     def __init__(self):
    ...         super().__init__(name="net")
    ...         self.hidden = keras.layers.Layer(name="noop")
    ...     def call(self, x, training=None):
    ...         return x * 2.0
    >>> Net()(tf.constant([1.0])).numpy().tolist()
    [2.0]
    """

    def __new__(cls, *args, **kwargs):
        if cls is Model and functional_init_arguments(args, kwargs):
            from tensorflux.keras.models.functional import Functional

            return Functional.__new__(Functional, *args, **kwargs)
        instance = object.__new__(cls)
        # What the constructor received, for the config of a subclass without get_config
        # (Keras's auto-config); object.__setattr__ skips the layer tracking not set up yet.
        object.__setattr__(instance, "_constructor_arguments", _bind_arguments(cls, args,
                                                                               kwargs))
        return instance

    def __init__(self, *args, **kwargs):
        if functional_init_arguments(args, kwargs):
            from tensorflux.keras.models.functional import Functional

            inject_functional_model_class(self.__class__)
            Functional.__init__(self, *args, **kwargs)
            return
        _trainer_init(self)
        Layer.__init__(self, *args, **kwargs)

    @property
    def layers(self):
        return list(self._layers)

    @layers.setter
    def layers(self, _):
        raise AttributeError("`Model.layers` attribute is reserved and should not be used. "
                             "Please use another name.")

    def get_layer(self, name=None, index=None):
        """A layer by name or by its index in `model.layers`."""
        if index is not None and name is not None:
            raise ValueError("Provide only a layer name or a layer index. Received: "
                             f"index={index}, name={name}.")
        if index is not None:
            if len(self.layers) <= index:
                raise ValueError(f"Was asked to retrieve layer at index {index} but model "
                                 f"only has {len(self.layers)} layers.")
            return self.layers[index]
        if name is not None:
            for layer in self.layers:
                if layer.name == name:
                    return layer
            raise ValueError(f"No such layer: {name}. Existing layers are: "
                             f"{[layer.name for layer in self.layers]}.")
        raise ValueError("Provide either a layer name or layer index at `get_layer`.")

    def quantize(self, mode=None, config=None, filters=None, **kwargs):
        """Quantizes the weights of the model's layers that support it (Dense, EinsumDense,
        Embedding) in `mode` ("int8" or "int4"; or as `config`, a
        keras.quantizers.QuantizationConfig); the model must be built. `filters` (a regex, a
        list of them, or a callable taking a layer) selects the layers."""
        from tensorflux.keras.quantizers import quantize_model

        quantize_model(self, mode, config=config, filters=filters, **kwargs)

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Prints Keras's summary table (layers, output shapes, parameter counts)."""
        from tensorflux.keras.models.summary import print_summary

        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable,
                      layer_range=layer_range)

    def build(self, input_shape=None):
        """Keras 3's default build: marks the model built and creates no weights; its
        layers build on the first call. Called on a model whose class has no build of its
        own while some of its layers are unbuilt, it warns as Keras does."""
        if type(self).build is Model.build and any(not layer.built for layer in self._layers):
            warnings.warn(
                f"`build()` was called on layer '{self.name}', however the layer does not "
                "have a `build()` method implemented and it looks like it has unbuilt state. "
                "This will cause the layer to be marked as built, despite not being actually "
                "built, which may cause failures down the line. Make sure to implement a "
                "proper `build()` method.", stacklevel=3)  # (the caller of the build wrapper)
        self.built = True

    def _maybe_build(self, args, kwargs, first):
        if type(self).build is not Model.build:
            Layer._maybe_build(self, args, kwargs, first)
            return
        # The first call of a model without a build of its own traces `call` on symbolic
        # inputs first, so that its layers build.
        self._build_by_run(tree.map_structure(shape_of, first) if first is not None else None)

    def _build_by_run(self, input_shape):
        """Keras's build by run: records `input_shape` and traces `call` once on symbolic
        inputs of that shape, so that the layers build. True when every layer got built."""
        Layer.build(self, input_shape)  # (Layer's default build is this build by run)
        return all(layer.built for layer in self._layers)

    def compute_output_shape(self, input_shape):
        if not self.built and type(self).build is Model.build:
            self._build_by_run(input_shape)  # (not build(): that would only warn)
        return Layer.compute_output_shape(self, input_shape)

    def build_from_config(self, config):
        """Rebuilds a loaded model from its build config: by tracing `call` when its class
        has no build of its own, else with its build; warns as Keras does when neither
        works."""
        if not config:
            return
        built = False
        if type(self).build is Model.build and "input_shape" in config:
            built = self._build_by_run(config["input_shape"])
        elif type(self).build is not Model.build:
            try:
                Layer.build_from_config(self, config)
                built = True
            except Exception:  # noqa: BLE001 - Keras: a failed build only warns
                pass
        if not built:
            warnings.warn(
                f"Model '{self.name}' had a build config, but the model cannot be built "
                "automatically in `build_from_config(config)`. You should implement `def "
                "build_from_config(self, config)`, and you might also want to implement the "
                "method  that generates the config at saving time, `def "
                "get_build_config(self)`. The method `build_from_config()` is meant to create "
                "the state of the model (i.e. its variables) upon deserialization.",
                stacklevel=2)

    # ------------------------------------------------------------------ saving
    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        """Saves the model to `x.keras` (Keras 3 zip) or `x.h5` (legacy HDF5), atomically."""
        from tensorflux.keras.saving import saving_api

        saving_api.save_model(self, filepath, overwrite=overwrite, zipped=zipped, **kwargs)

    def __reduce_ex__(self, protocol):
        """pickle (joblib, sklearn pipelines, multiprocessing) and copy.deepcopy of a built
        model go through the `.keras` format, as in Keras 3: the copy has the same
        architecture, weights, compile settings and optimizer state, and loading it runs no
        code from the bytes (the safe loader; a custom class must be registered)."""
        if not self.built:
            return super().__reduce_ex__(protocol)
        import os
        import tempfile

        from tensorflux.keras.saving import saving_lib

        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.keras")
            saving_lib.save_model(self, path)
            with open(path, "rb") as handle:
                return _model_from_keras_bytes, (handle.read(),)

    # Keras 2's generator methods: Keras 3 removed them (its fit, evaluate and predict take
    # generators and Sequences); tf_keras keeps them as deprecated aliases, and so do these,
    # so Keras 2 scripts run. max_queue_size, workers and use_multiprocessing go on to fit,
    # evaluate and predict, which warn when one is given (their defaults, None, stand for
    # tf_keras's 10, 1 and False).
    def fit_generator(self, generator, steps_per_epoch=None, epochs=1, verbose=1,
                      callbacks=None, validation_data=None, validation_steps=None,
                      validation_freq=1, class_weight=None, max_queue_size=None, workers=None,
                      use_multiprocessing=None, shuffle=True, initial_epoch=0):
        """Keras 2's name for `fit(generator, ...)` (deprecated; Keras 3 removed it)."""
        _warn_generator_method("fit_generator", "fit")
        return self.fit(generator, steps_per_epoch=steps_per_epoch, epochs=epochs,
                        verbose=verbose, callbacks=callbacks, validation_data=validation_data,
                        validation_steps=validation_steps, validation_freq=validation_freq,
                        class_weight=class_weight,
                        # (a Python generator yields its own order: Keras 3 warns on shuffle)
                        shuffle=shuffle and not inspect.isgenerator(generator),
                        initial_epoch=initial_epoch, max_queue_size=max_queue_size,
                        workers=workers, use_multiprocessing=use_multiprocessing)

    def evaluate_generator(self, generator, steps=None, callbacks=None, max_queue_size=None,
                           workers=None, use_multiprocessing=None, verbose=0):
        """Keras 2's name for `evaluate(generator, ...)` (deprecated; Keras 3 removed it)."""
        _warn_generator_method("evaluate_generator", "evaluate")
        return self.evaluate(generator, steps=steps, callbacks=callbacks, verbose=verbose,
                             max_queue_size=max_queue_size, workers=workers,
                             use_multiprocessing=use_multiprocessing)

    def predict_generator(self, generator, steps=None, callbacks=None, max_queue_size=None,
                          workers=None, use_multiprocessing=None, verbose=0):
        """Keras 2's name for `predict(generator, ...)` (deprecated; Keras 3 removed it)."""
        _warn_generator_method("predict_generator", "predict")
        return self.predict(generator, steps=steps, callbacks=callbacks, verbose=verbose,
                            max_queue_size=max_queue_size, workers=workers,
                            use_multiprocessing=use_multiprocessing)

    # Removed before Keras 3 (TF 2.6): an AttributeError that says what to write instead.
    @property
    def predict_classes(self):
        raise AttributeError(
            f"'{type(self).__name__}' object has no attribute 'predict_classes' (removed in "
            "TF 2.6): use np.argmax(model.predict(x), axis=-1) for a softmax output, or "
            "(model.predict(x) > 0.5).astype('int32') for a sigmoid one")

    @property
    def predict_proba(self):
        raise AttributeError(
            f"'{type(self).__name__}' object has no attribute 'predict_proba' (removed in "
            "TF 2.6): model.predict(x) returns the probabilities")

    def save_weights(self, filepath, overwrite=True, max_shard_size=None):
        """Saves the weights (and optimizer state) to `x.weights.h5`, atomically."""
        from tensorflux.keras.saving import saving_api

        saving_api.save_weights(self, filepath, overwrite=overwrite,
                                max_shard_size=max_shard_size)

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        """Loads weights from `.weights.h5`, `.keras` or a legacy `.h5` (by_name=...); on any
        error the model's weights are left unchanged."""
        from tensorflux.keras.saving import saving_api

        saving_api.load_weights(self, filepath, skip_mismatch=skip_mismatch, **kwargs)

    # ------------------------------------------------------------------ state trees
    def get_state_tree(self, value_format="backend_tensor"):
        """The model's variables as nested dicts by path: {"trainable_variables": ...,
        "non_trainable_variables": ..., "optimizer_variables": ..., "metrics_variables":
        ...}, e.g. tree["trainable_variables"]["model"]["dense"]["kernel"]; the leaves are
        tensors, or NumPy arrays with value_format="numpy_array"."""
        if value_format not in ("backend_tensor", "numpy_array"):
            raise ValueError("Invalid `value_format` argument. Expected one of "
                             "{'numpy_array', 'backend_tensor'}. Received: "
                             f"value_format={value_format!r}")
        groups = (("trainable_variables", self.trainable_variables),
                  ("non_trainable_variables", self.non_trainable_variables),
                  ("optimizer_variables", self._compiled_optimizer_for("get_state_tree")
                   .variables),
                  ("metrics_variables", self.metrics_variables))
        return {key: _nested_by_path(variables, value_format) for key, variables in groups}

    def set_state_tree(self, state_tree):
        """Assigns the values of a tree as get_state_tree() returns (any of its four groups,
        any subset of paths) to the variables with those paths."""
        for key, subtree in state_tree.items():
            if key == "trainable_variables":
                variables = self.trainable_variables
            elif key == "non_trainable_variables":
                variables = self.non_trainable_variables
            elif key == "optimizer_variables":
                optimizer = getattr(self, "optimizer", None)
                variables = optimizer.variables if optimizer is not None else []
            elif key == "metrics_variables":
                variables = self.metrics_variables
            else:
                raise ValueError(f"Unknown variable name: {key!r}. The keys of a state tree "
                                 "are 'trainable_variables', 'non_trainable_variables', "
                                 "'optimizer_variables' and 'metrics_variables'.")
            by_path = {}
            for variable in variables:
                by_path.setdefault(variable.path, []).append(variable)
            for path, value in _flat_by_path(subtree).items():
                for variable in by_path.get(path, ()):
                    variable.assign(value)

    def _compiled_optimizer_for(self, what):
        optimizer = getattr(self, "optimizer", None)
        if optimizer is None:
            raise AttributeError(f"{type(self).__name__} '{self.name}' has no optimizer: "
                                 f"compile() the model before calling {what}()")
        return optimizer

    def export(self, filepath, format="tf_saved_model", verbose=None,  # noqa: A002 - Keras
               input_signature=None, **kwargs):
        """Exports the model for inference: format="onnx" writes an ONNX file (opset 17;
        `opset_version=` 13 to 17), atomically. Keras's other formats need TensorFlow,
        OpenVINO, LiteRT or PyTorch and raise NotImplementedError."""
        available = ("tf_saved_model", "onnx", "openvino", "litert", "torch")
        if format not in available:
            raise ValueError(f"Unrecognized format={format}. Supported formats are: "
                             f"{list(available)}.")
        if format != "onnx":
            raise NotImplementedError(
                f"Model.export: format={format!r} is not supported by tensorflux (it needs "
                "TensorFlow, OpenVINO, LiteRT or PyTorch); use format='onnx'.")
        from tensorflux.keras.export.onnx import export_onnx

        # (verbose=None is Keras's "the format's default", True for ONNX)
        export_onnx(self, filepath, verbose=True if verbose is None else verbose,
                    input_signature=input_signature, **kwargs)

    def get_config(self):
        """The model's config. A subclass that does not override get_config gets Keras's
        automatic one: its constructor's arguments, when each is a plain value (a number,
        string, bool, None, or a list/dict of them) that `cls(**config)` can take back;
        otherwise NotImplementedError, before a file that could not be loaded is written."""
        config = Layer.get_config(self)
        if type(self).get_config is not Model.get_config or _is_graph_model(self):
            return config
        return _auto_config(self, config)

    def to_json(self, **kwargs):
        """The model's Keras 3 config (`serialize_keras_object(model)`) as a JSON string;
        `kwargs` go to `json.dumps`.

        >>> from tensorflux import keras
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> keras.models.model_from_json(model.to_json()).count_params()
        3
        """
        from tensorflux.keras.saving import saving_api

        return saving_api.model_to_json(self, **kwargs)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A Functional config revives the graph when the class takes Functional's
        constructor arguments; any other config (a subclass's own get_config, even one
        whose __init__ builds a graph) goes to `cls(**config)`, as in Keras."""
        from tensorflux.keras.models.functional import Functional, functional_from_config

        if "layers" in config and "input_layers" in config and "output_layers" in config \
                and _revivable_as_functional(cls, Functional):
            return functional_from_config(cls if cls is not Model else Functional, config,
                                          custom_objects)
        try:
            return cls(**config)
        except TypeError as error:
            raise TypeError(f"Unable to revive model from config. When overriding the "
                            f"`get_config()` method, make sure that the returned config "
                            f"contains all items used as arguments in the constructor to "
                            f"{cls.__name__}, or define a `from_config(cls, config)` class "
                            f"method that creates it from its config.\n\nReceived "
                            f"config={config}\n\nError encountered during "
                            f"deserialization: {error}") from error

    def _symbolic_inputs_like(self, shape):
        return tree.map_structure(KerasTensor, shape)


def _revivable_as_functional(cls, functional):
    """Whether `cls(inputs, outputs, name=...)` rebuilds the class from a graph: Model,
    Functional, or a subclass whose constructor starts with (inputs, outputs) or takes
    (*args, **kwargs). (Keras also needs `name` there; a subclass taking (inputs, outputs,
    **kwargs) is revived here too, where Keras's loader fails.)"""
    if cls in (Model, functional):
        return True
    try:
        spec = inspect.getfullargspec(cls.__init__)
    except TypeError:
        return False
    return spec.args[1:3] == ["inputs", "outputs"] or \
        (spec.varargs == "args" and spec.varkw == "kwargs")


# ---------------------------------------------------------------------- state trees
def _nested_by_path(variables, value_format):
    """{"model": {"dense": {"kernel": value}}} from the variables' paths ("model/dense/kernel")."""
    tree, seen = {}, set()
    for variable in variables:
        path = variable.path
        if path in seen:
            raise ValueError(f"The following variable path is found twice in the model: "
                             f"'{path}'. `get_state_tree()` can only be called when all "
                             "variable paths are unique. Make sure to give unique names to "
                             "your layers (and other objects).")
        seen.add(path)
        value = variable.numpy() if value_format == "numpy_array" else variable.read_value()
        *parents, leaf = path.split("/")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def _flat_by_path(tree, prefix=""):
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flat_by_path(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# ---------------------------------------------------------------------- automatic config
_MISSING = object()


def _bind_arguments(cls, args, kwargs):
    """{parameter: value} for a subclass's constructor call, defaults applied and **kwargs
    spread; None when the call cannot be bound."""
    try:
        signature = inspect.signature(cls.__init__)
        bound = signature.bind(None, *args, **kwargs)
    except (TypeError, ValueError):
        return None
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    parameters = list(signature.parameters.values())
    arguments.pop(parameters[0].name, None)
    for parameter in parameters:
        if parameter.kind is parameter.VAR_KEYWORD:
            arguments.update(arguments.pop(parameter.name, {}))
        elif parameter.kind is parameter.VAR_POSITIONAL:
            arguments[parameter.name] = tuple(arguments.get(parameter.name, ()))
    return arguments


def _is_graph_model(model):
    from tensorflux.keras.models.functional import Functional
    from tensorflux.keras.models.sequential import Sequential

    return isinstance(model, (Functional, Sequential))


def _auto_config(model, base_config):
    """Keras's automatic config for a subclassed model: raises, naming the class, when the
    constructor has arguments a config cannot carry back (Keras raises in the same cases:
    a parameter without a default, positional-only or *args parameters); else the recorded
    argument values plus the base keys the constructor accepts."""
    cls = type(model)
    try:
        parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        return base_config
    arguments = getattr(model, "_constructor_arguments", None)
    required = [p.name for p in parameters if p.default is p.empty and
                p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    positional = [p.name for p in parameters if p.kind is p.POSITIONAL_ONLY or
                  (p.kind is p.VAR_POSITIONAL and arguments and arguments.get(p.name))]
    if required or positional or arguments is None:
        why = (f"its __init__() takes {_names(required)}, which must be given (Keras "
               "does not recover constructor arguments without defaults)" if required else
               f"its __init__() takes positional-only or *args parameters "
               f"({_names(positional)})" if positional else
               "its constructor arguments could not be recorded")
        raise NotImplementedError(_override_message(cls, why))
    variadic = {p.name for p in parameters if p.kind is p.VAR_POSITIONAL}
    values = {k: v for k, v in arguments.items() if k != "name" and k not in variadic}
    not_plain = [k for k, v in values.items() if not _is_plain(v)]
    if not_plain:
        raise NotImplementedError(_override_message(
            cls, f"the value of {_names(not_plain)} is not a plain value (a number, string, "
                 "bool, None, or a list or dict of them) that a config can hold"))
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in parameters)
    accepted = {p.name for p in parameters}
    config = {k: v for k, v in base_config.items() if accepts_any or k in accepted}
    config.update(values)
    return config


def _override_message(cls, why):
    return (f"{cls.__name__}.get_config() cannot be generated automatically: {why}. A "
            f"subclassed Model whose constructor takes arguments must override get_config() "
            f"to return them (and from_config() if cls(**config) cannot rebuild it), so "
            f"that a saved {cls.__name__} can be loaded. For example:\n\n"
            f"    def get_config(self):\n"
            f"        return {{**super().get_config(), \"units\": self.units}}")


def _model_from_keras_bytes(data):
    """The model of a `.keras` file's bytes (what Model.__reduce_ex__ pickles)."""
    import os
    import tempfile

    from tensorflux.keras.saving import saving_lib

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        with open(path, "wb") as handle:
            handle.write(data)
        return saving_lib.load_model(path)
