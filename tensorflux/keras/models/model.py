"""keras.Model: a Layer with training methods (from the Trainer mixin), `layers`, `summary`;
`Model(inputs, outputs)` builds a Functional model, as in Keras."""

from tensorflux.keras.engine import tree
from tensorflux.keras.engine.keras_tensor import KerasTensor
from tensorflux.keras.layers.base import Layer

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
        return object.__new__(cls)

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

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Prints Keras's summary table (layers, output shapes, parameter counts)."""
        from tensorflux.keras.models.summary import print_summary

        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable,
                      layer_range=layer_range)

    def build(self, input_shape=None):
        Layer.build(self, input_shape)

    # ------------------------------------------------------------------ saving
    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        """Saves the model to `x.keras` (Keras 3 zip) or `x.h5` (legacy HDF5), atomically."""
        from tensorflux.keras.saving import saving_api

        saving_api.save_model(self, filepath, overwrite=overwrite, zipped=zipped, **kwargs)

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

    def export(self, filepath, format="tf_saved_model", verbose=True,  # noqa: A002 - Keras
               input_signature=None, **kwargs):
        """Exports the model for inference: format="onnx" writes an ONNX file (opset 17;
        `opset_version=` 13 to 17), atomically. Keras's other formats need TensorFlow,
        OpenVINO or LiteRT and raise NotImplementedError."""
        if format == "onnx":
            from tensorflux.keras.export.onnx import export_onnx

            export_onnx(self, filepath, verbose=verbose, input_signature=input_signature,
                        **kwargs)
            return
        if format in ("tf_saved_model", "openvino", "litert"):
            raise NotImplementedError(
                f"Model.export: format={format!r} is not supported by tensorflux (it needs "
                "TensorFlow, OpenVINO or LiteRT); use format='onnx'.")
        raise ValueError(f"Unrecognized format={format!r}. Supported formats are: "
                         "'tf_saved_model', 'onnx', 'openvino', 'litert' (tensorflux "
                         "implements 'onnx').")

    def get_config(self):
        return Layer.get_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from tensorflux.keras.models.functional import Functional, functional_from_config

        if "layers" in config and "input_layers" in config and "output_layers" in config:
            if cls is Model or issubclass(cls, Functional):
                return functional_from_config(cls if cls is not Model else Functional,
                                              config, custom_objects)
        return cls(**config)

    def _symbolic_inputs_like(self, shape):
        return tree.map_structure(KerasTensor, shape)
