"""What Keras 3's variables (layer weights, optimizer slots) share beyond tf.Variable."""

__all__ = ["RebindsInPlace"]


class RebindsInPlace:
    """`v += x` (and -=, *=, /=, **=) gives the new tensor `v + x`, rebinding the name, as
    Keras 3's variables do; a tf.Variable refuses these operators, as TensorFlow's does."""

    __slots__ = ()

    def __iadd__(self, other):
        return self + other

    def __isub__(self, other):
        return self - other

    def __imul__(self, other):
        return self * other

    def __itruediv__(self, other):
        return self / other

    def __ipow__(self, other):
        return self ** other
