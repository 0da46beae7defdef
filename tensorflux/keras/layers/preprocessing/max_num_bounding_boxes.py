"""keras.layers.MaxNumBoundingBoxes: gives every image of a batch the same number of bounding
boxes, truncating or padding."""

from tensorflux.keras.layers.preprocessing._augmentation import _AugmentationLayer

__all__ = ["MaxNumBoundingBoxes"]


def _tf():
    import tensorflux as tf

    return tf


class MaxNumBoundingBoxes(_AugmentationLayer):
    """Truncates or pads `bounding_boxes["boxes"]` ([batch, n, 4]) and `["labels"]`
    ([batch, n]) of a dict input to `max_number` boxes, padding with `fill_value`; images
    and the rest pass through. (As Keras, `get_config` leaves `fill_value` out.)

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.MaxNumBoundingBoxes(3, bounding_box_format="xyxy")
    >>> boxes = {"boxes": tf.ones((1, 1, 4)), "labels": tf.constant([[7]])}
    >>> out = layer({"images": tf.zeros((1, 4, 4, 3)), "bounding_boxes": boxes})
    >>> out["bounding_boxes"]["labels"].numpy().tolist()
    [[7, -1, -1]]
    """

    def __init__(self, max_number, fill_value=-1, **kwargs):
        super().__init__(**kwargs)
        self.max_number = int(max_number)
        self.fill_value = int(fill_value)

    def transform_images(self, images, transformation=None, training=True):
        return images

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        tf = _tf()

        def fit(values, rank):
            values = values[:, :self.max_number]
            missing = tf.maximum(self.max_number - tf.shape(values)[1], 0)
            padding = [[0, 0], [0, missing]] + [[0, 0]] * (rank - 2)
            return tf.pad(values, padding,
                          constant_values=tf.cast(self.fill_value, values.dtype))

        boxes = tf.reshape(fit(bounding_boxes["boxes"], 3), (-1, self.max_number, 4))
        labels = tf.reshape(fit(bounding_boxes["labels"], 2), (-1, self.max_number))
        return {**bounding_boxes, "boxes": boxes, "labels": labels}

    def get_config(self):
        return {**super().get_config(), "max_number": self.max_number}
