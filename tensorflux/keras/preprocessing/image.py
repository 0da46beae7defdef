"""keras.preprocessing.image: the image helpers of keras.utils, plus smart_resize."""

from tensorflux.keras.utils.image_utils import (
    array_to_img,
    img_to_array,
    load_img,
    save_img,
    smart_resize,
)

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img", "smart_resize"]


def __getattr__(name):
    """tf.keras's legacy names (ImageDataGenerator, ...), for `from tensorflow.keras.preprocessing.
    image import ...` written with only its import changed: Keras 3's module lacks them, TF's
    has them."""
    from tensorflux.keras.legacy.preprocessing import image as legacy

    if not name.startswith("__") and name in legacy.__all__:
        return getattr(legacy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
