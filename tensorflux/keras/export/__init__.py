"""keras.export: writing models for other runtimes (ONNX).

>>> from tensorflux import keras
>>> keras.export.ExportArchive()
Traceback (most recent call last):
...
NotImplementedError: keras.export.ExportArchive writes TensorFlow SavedModels, ...format='onnx')...
"""

from tensorflux.keras.export.onnx import export_onnx

__all__ = ["ExportArchive", "export_onnx"]


class ExportArchive:
    """Keras's SavedModel builder. A SavedModel is TensorFlow's own format, so tensorflux
    cannot write one; constructing this raises, naming the format tensorflux exports."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            "keras.export.ExportArchive writes TensorFlow SavedModels, which needs TensorFlow; "
            "tensorflux exports ONNX: model.export(path, format='onnx') or "
            "keras.export.export_onnx(model, path).")
