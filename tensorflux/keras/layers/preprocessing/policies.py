"""keras.layers augmentation policies built from the other augmentation layers: RandAugment
(num_ops layers picked at random, applied in turn) and AugMix (random chains of layers mixed
with Dirichlet weights, then blended with the original)."""

import functools
import random

from tensorflux.keras.layers.preprocessing._augmentation import (
    _AugmentationLayer,
    _beta,
    _factor_range,
    _randint,
    _value_range,
)
from tensorflux.keras.layers.preprocessing.color import (
    RandomColorDegeneration,
    RandomPosterization,
    RandomSharpness,
    Solarization,
)
from tensorflux.keras.layers.preprocessing.geometric import RandomShear
from tensorflux.keras.layers.preprocessing.histogram import AutoContrast, Equalization
from tensorflux.keras.layers.preprocessing.image import (
    RandomContrast,
    RandomRotation,
    RandomTranslation,
)
from tensorflux.keras.layers.preprocessing.random_brightness import RandomBrightness

__all__ = ["AugMix", "RandAugment"]


def _tf():
    import tensorflux as tf

    return tf


def _augmentations(layer, names, factor, value_range, interpolation, seed, data_format):
    """The policy's sub-layers, as attributes named as Keras names them; all share the
    policy's seed and bounding box format and draw from its random source."""
    options = {"seed": seed, "data_format": data_format,
               "bounding_box_format": layer.bounding_box_format}
    colour = {"value_range": value_range, **options}
    geometric = {"interpolation": interpolation, **options}
    makers = {
        "random_shear": lambda: RandomShear(x_factor=factor, y_factor=factor, **geometric),
        "random_translation": lambda: RandomTranslation(factor, factor, **geometric),
        "random_rotation": lambda: RandomRotation(factor, **geometric),
        "random_brightness": lambda: RandomBrightness(factor, **colour),
        "random_color_degeneration": lambda: RandomColorDegeneration(factor, **colour),
        "random_contrast": lambda: RandomContrast(factor, **colour),
        "random_sharpness": lambda: RandomSharpness(factor, **colour),
        "random_posterization": lambda: RandomPosterization(max(1, int(8 * factor[1])),
                                                            **colour),
        "solarization": lambda: Solarization(addition_factor=factor, threshold_factor=factor,
                                             **colour),
        "auto_contrast": lambda: AutoContrast(value_range, data_format=data_format),
        "equalization": lambda: Equalization(value_range, data_format=data_format),
    }
    for name in names:
        setattr(layer, name, makers[name]())


class RandAugment(_AugmentationLayer):
    """While training, applies `num_ops` augmentations picked at random (one pick per op for
    the whole batch) from shear, translation, rotation, brightness, colour degeneration,
    contrast, sharpness, posterization, solarization, auto-contrast and equalization, each
    with magnitudes up to `factor`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.RandAugment(seed=1)(tf.fill((2, 8, 8, 3), 100.0)).shape
    TensorShape([2, 8, 8, 3])
    """

    _AUGMENT_LAYERS = ("random_shear", "random_translation", "random_rotation",
                       "random_brightness", "random_color_degeneration", "random_contrast",
                       "random_sharpness", "random_posterization", "solarization",
                       "auto_contrast", "equalization")

    def __init__(self, value_range=(0, 255), num_ops=2, factor=0.5, interpolation="bilinear",
                 seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = _value_range(value_range, sort=False)
        self.num_ops = num_ops
        self.factor = _factor_range(factor, (0, 1))
        self.interpolation = interpolation
        _augmentations(self, self._AUGMENT_LAYERS, self.factor, value_range, interpolation,
                       seed, data_format)

    def get_random_transformation(self, data, training=True, seed=None):
        """{"layer_idxes": the layer of each op, "transforms": every layer's draws}."""
        if not training:
            return None
        source = self._source(seed)
        picks = _randint(source, (self.num_ops,), 0, len(self._AUGMENT_LAYERS))
        transforms = {name: getattr(self, name).get_random_transformation(data, seed=source)
                      for name in self._AUGMENT_LAYERS}
        return {"transforms": transforms, "layer_idxes": picks}

    def _apply(self, method, values, transformation):
        tf = _tf()
        picks = tf.cast(tf.convert_to_tensor(transformation["layer_idxes"]), "int32")
        transforms = transformation["transforms"]

        def branch(name, values):
            return getattr(getattr(self, name), method)(values, transforms[name])

        for op in range(self.num_ops):
            values = tf.switch_case(picks[op], [functools.partial(branch, name, values)
                                                for name in self._AUGMENT_LAYERS])
        return values

    def transform_images(self, images, transformation, training=True):
        tf = _tf()
        images = tf.cast(images, self.compute_dtype)
        if training:
            images = self._apply("transform_images", images, transformation)
        return tf.cast(images, self.compute_dtype)

    def transform_segmentation_masks(self, segmentation_masks, transformation, training=True):
        if not training:
            return segmentation_masks
        return self._apply("transform_segmentation_masks", segmentation_masks, transformation)

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """While training, the boxes go through the sub-layers in their fixed order, each
        keeping its result when any op picked it (Keras's order, not the ops' order)."""
        if not training:
            return bounding_boxes
        tf = _tf()
        picks = tf.cast(tf.convert_to_tensor(transformation["layer_idxes"]), "int32")
        for index, name in enumerate(self._AUGMENT_LAYERS):
            moved = getattr(self, name).transform_bounding_boxes(
                dict(bounding_boxes), transformation["transforms"][name])
            picked = tf.reduce_any(tf.equal(picks, index))
            bounding_boxes = {
                **bounding_boxes,
                "boxes": tf.where(picked, moved["boxes"], bounding_boxes["boxes"]),
                "labels": tf.where(picked, moved["labels"], bounding_boxes["labels"])}
        return bounding_boxes

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range,
                "num_ops": self.num_ops, "factor": self.factor,
                "interpolation": self.interpolation, "seed": self.seed}


class AugMix(_AugmentationLayer):
    """While training, builds `num_chains` chains of up to `chain_depth` random augmentations
    each, mixes the chains' outputs with Dirichlet(alpha) weights, and blends the mix with
    the original by a Beta(alpha, alpha) weight; clipped to `value_range`. `all_ops=False`
    leaves out brightness, colour degeneration, contrast and sharpness. The chains' layers
    are picked when the call is drawn (as Keras, with Python's random, here seeded by
    `seed`), so a traced function keeps the picks of its trace.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.AugMix(seed=1)(tf.fill((2, 8, 8, 3), 100.0)).shape
    TensorShape([2, 8, 8, 3])
    """

    _ALL_OPS = ("random_shear", "random_translation", "random_rotation",
                "random_posterization", "solarization", "auto_contrast", "equalization",
                "random_brightness", "random_color_degeneration", "random_contrast",
                "random_sharpness")

    def __init__(self, value_range=(0, 255), num_chains=3, chain_depth=3, factor=0.3,
                 alpha=1.0, all_ops=True, interpolation="bilinear", seed=None,
                 data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = _value_range(value_range, sort=False)
        self.num_chains = num_chains
        self.chain_depth = chain_depth
        self.factor = _factor_range(factor, (0, 1))
        self.alpha = alpha
        self.all_ops = all_ops
        self.interpolation = interpolation
        self._augment_layers = list(self._ALL_OPS if all_ops else self._ALL_OPS[:7])
        self._picker = random.Random(seed)
        _augmentations(self, self._augment_layers, self.factor, value_range, interpolation,
                       seed, data_format)

    def get_random_transformation(self, data, training=True, seed=None):
        """{"chain_mixing_weights", "weight_sample", "chain_transforms": per chain, a list
        of {"layer_name", "transformation"}}."""
        if not training:
            return None
        tf = _tf()
        source = self._source(seed)
        gamma = source.gamma((self.num_chains,), self.alpha)
        weights = gamma / tf.reduce_sum(gamma, axis=-1, keepdims=True)
        weight_sample = _beta(source, (), self.alpha, self.alpha)
        chains = []
        for _ in range(self.num_chains):
            chain = []
            for _ in range(self.chain_depth):
                name = self._picker.choice(self._augment_layers + [None])
                if name is not None:
                    drawn = getattr(self, name).get_random_transformation(data, seed=source)
                    chain.append({"layer_name": name, "transformation": drawn})
            chains.append(chain)
        return {"chain_mixing_weights": weights, "weight_sample": weight_sample,
                "chain_transforms": chains}

    def _mix(self, method, values, transformation):
        tf = _tf()
        weights = tf.cast(transformation["chain_mixing_weights"], self.compute_dtype)
        weight_sample = tf.cast(transformation["weight_sample"], self.compute_dtype)
        mixed = tf.zeros_like(values)
        for index, chain in enumerate(transformation["chain_transforms"]):
            chained = values
            for step in chain:
                layer = getattr(self, step["layer_name"])
                chained = getattr(layer, method)(chained, step["transformation"])
            mixed = mixed + chained * weights[index]
        return weight_sample * values + (1 - weight_sample) * mixed

    def transform_images(self, images, transformation, training=True):
        tf = _tf()
        images = tf.cast(images, self.compute_dtype)
        if training:
            images = tf.clip_by_value(self._mix("transform_images", images, transformation),
                                      self.value_range[0], self.value_range[1])
        return tf.cast(images, self.compute_dtype)

    def transform_segmentation_masks(self, segmentation_masks, transformation, training=True):
        if not training:
            return segmentation_masks
        return self._mix("transform_segmentation_masks", segmentation_masks, transformation)

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range,
                "num_chains": self.num_chains, "chain_depth": self.chain_depth,
                "factor": self.factor, "alpha": self.alpha, "all_ops": self.all_ops,
                "interpolation": self.interpolation, "seed": self.seed}
