"""The Keras 1/2 APIs that TensorFlow's `tf.keras` still serves with Keras 3: backend
functions, preprocessing.image / text / sequence, losses.Reduction, ThresholdedReLU,
RandomHeight and RandomWidth. `tf.keras` (tensorflux.keras._tf_keras) shows them next to
Keras 3's names; `tensorflux.keras` itself stays Keras 3.

As `keras.legacy` it also has Keras 3's own `saving` (the Keras-2 serializers, the objects of
`keras.utils.legacy`).
"""
from tensorflux.keras.utils import legacy as saving  # noqa: F401 - keras.legacy.saving
