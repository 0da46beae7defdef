"""tf.keras.layers.experimental (TF 2.3-2.15): Keras 2's path to layers that became stable,
for `from tensorflow.keras.layers.experimental import preprocessing` code. The names are the
stable layers themselves (the same classes), so such code builds, and saves, what
`keras.layers.X` does. Keras 3 has no such module; TF 2.16+'s tf.keras neither.

>>> import tensorflux as tf
>>> P = tf.keras.layers.experimental.preprocessing
>>> P.Rescaling is tf.keras.layers.Rescaling
True
"""

from tensorflux.keras.layers.einsum_dense import EinsumDense

__all__ = ["EinsumDense"]

# Experimental names with no stable layer of their own: what to write instead, added to the
# AttributeError that old code gets.
_REMOVED = {
    "SyncBatchNormalization": "use keras.layers.BatchNormalization(synchronized=True)",
    "RandomFourierFeatures": "Keras 3 dropped it; write it as a layer computing "
                             "cos(x @ W + b) with a fixed random W and b (trainable=False)",
}


def __getattr__(name):
    if name == "preprocessing":
        from tensorflux.keras.layers.experimental import preprocessing

        return preprocessing
    hint = _REMOVED.get(name)
    raise AttributeError(f"module 'tf.keras.layers.experimental' has no attribute {name!r}"
                         + (f" ({hint})" if hint else ""))
