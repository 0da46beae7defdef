"""tf.saved_model: TensorFlow's SavedModel is a serialized TensorFlow graph, which tensorflux
neither writes nor runs. The names exist so that a script reaching for them gets an error
naming what to use instead, rather than an AttributeError."""

import os

__all__ = ["contains_saved_model", "load", "save"]

_ALTERNATIVES = ("save a Keras model with model.save('model.keras') (or save_weights), the "
                 "state of a tf.Module with tf.train.Checkpoint, and export a model for "
                 "serving with model.export(path, format='onnx')")


def save(obj, export_dir, signatures=None, options=None):
    """Not supported: tensorflux writes no SavedModel."""
    raise NotImplementedError(f"tf.saved_model.save: tensorflux does not write TensorFlow "
                              f"SavedModels (to {export_dir!r}); {_ALTERNATIVES}.")


def load(export_dir, tags=None, options=None):
    """Not supported: loading a SavedModel means running a TensorFlow graph."""
    raise NotImplementedError(f"tf.saved_model.load: tensorflux cannot run the TensorFlow "
                              f"graph of the SavedModel at {export_dir!r}; load a '.keras' or "
                              f"'.h5' file with keras.models.load_model instead ({_ALTERNATIVES}).")


def contains_saved_model(export_dir):
    """Whether `export_dir` holds a SavedModel (its saved_model.pb or .pbtxt)."""
    export_dir = os.fspath(export_dir)
    return any(os.path.isfile(os.path.join(export_dir, name))
               for name in ("saved_model.pb", "saved_model.pbtxt"))
