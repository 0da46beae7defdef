"""keras.export: writing models for other runtimes (ONNX)."""

from tensorflux.keras.export.onnx import export_onnx

__all__ = ["export_onnx"]
