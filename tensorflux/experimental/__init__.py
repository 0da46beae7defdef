"""tf.experimental: TensorFlow's experimental namespaces; `numpy` (TF's NumPy API) loads on use."""


def __getattr__(name):
    if name == "numpy":
        import importlib

        value = importlib.import_module("tensorflux.experimental.numpy")
        globals()[name] = value
        return value
    if name == "DynamicRaggedShape":
        from tensorflux.ragged.dynamic_ragged_shape import DynamicRaggedShape

        globals()[name] = DynamicRaggedShape
        return DynamicRaggedShape
    if name == "RowPartition":
        from tensorflux.ragged.row_partition import RowPartition

        globals()[name] = RowPartition
        return RowPartition
    if name == "Optional":
        from tensorflux.data import _transforms

        globals()[name] = _transforms.Optional
        return _transforms.Optional
    raise AttributeError(f"module 'tensorflux.experimental' has no attribute {name!r}")


__all__ = ["numpy", "Optional", "DynamicRaggedShape", "RowPartition"]
