"""keras.preprocessing.text as tf.keras has it (Keras 3 dropped the module): the legacy
Tokenizer and text helpers, for `from tensorflow.keras.preprocessing.text import Tokenizer`
written with only its import changed."""

from tensorflux.keras.legacy.preprocessing.text import *  # noqa: F403
from tensorflux.keras.legacy.preprocessing.text import __all__  # noqa: F401
