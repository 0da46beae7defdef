"""tf.TypeSpec: the public base of the specs that describe values (TensorSpec, the
composite specs, DatasetSpec).

tensorflux's specs do not share one class: composite_tensor.TypeSpec marks the composites'
specs, and code all over the package reads `isinstance(spec, composite_tensor.TypeSpec)` as
"a spec made of several tensors", so TensorSpec must stay outside it. tf.TypeSpec is
therefore an abstract class that the existing spec classes count as subclasses of.
"""

import abc
import sys

__all__ = ["TypeSpec"]


def _spec_classes():
    from tensorflux.composite_tensor import TypeSpec as CompositeSpec
    from tensorflux.tensor import TensorSpec

    classes = [TensorSpec, CompositeSpec]
    # DatasetSpec only once tf.data is loaded: this check must not import the pipeline
    # (and no DatasetSpec can exist before it is).
    dataset = sys.modules.get("tensorflux.data.dataset")
    if dataset is not None:
        classes.append(dataset.DatasetSpec)
    return tuple(classes)


class TypeSpec(abc.ABC):
    """The base of the specs describing values: isinstance(tf.TensorSpec(...), tf.TypeSpec)
    and isinstance(tf.SparseTensorSpec(...), tf.TypeSpec) both hold.

    A class subclassing it directly gets no machinery: tensorflux has no ExtensionType, so
    functions and datasets do not take such a spec's values apart.

    >>> import tensorflux as tf
    >>> isinstance(tf.TensorSpec([2], tf.float32), tf.TypeSpec)
    True
    """

    @property
    @abc.abstractmethod
    def value_type(self):
        """The Python type of the values this spec describes."""

    @classmethod
    def __subclasshook__(cls, candidate):
        if cls is TypeSpec and issubclass(candidate, _spec_classes()):
            return True
        return NotImplemented
