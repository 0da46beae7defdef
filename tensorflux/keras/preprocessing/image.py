"""keras.preprocessing.image: the image helpers of keras.utils, plus smart_resize."""

from tensorflux.keras.utils.image_utils import (
    array_to_img,
    img_to_array,
    load_img,
    save_img,
    smart_resize,
)
from tensorflux.ops._lazy import lazy_attributes

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img", "smart_resize"]

# tf.keras's legacy names, for `from tensorflow.keras.preprocessing.image import ...` written
# with only its import changed (Keras 3's module lacks them, TF's has them); loaded on first use.
_LEGACY = (
    "DirectoryIterator", "ImageDataGenerator", "Iterator", "NumpyArrayIterator",
    "apply_affine_transform", "apply_brightness_shift", "apply_channel_shift",
    "random_brightness", "random_channel_shift", "random_rotation", "random_shear",
    "random_shift", "random_zoom",
)
__getattr__, __dir__ = lazy_attributes(
    __name__, {name: "tensorflux.keras.legacy.preprocessing.image" for name in _LEGACY})
