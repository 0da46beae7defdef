"""What the ImageNet applications share: preprocess_input's caffe/tf/torch modes,
decode_predictions, input-shape checks, padding and weight loading (Keras 3's rules)."""

import json
import os
import warnings

from tensorflux.keras import backend
from tensorflux.keras.utils import file_utils, get_source_inputs

__all__ = ["CLASS_INDEX_PATH", "decode_predictions", "obtain_input_shape", "preprocess_input"]

CLASS_INDEX_PATH = ("https://storage.googleapis.com/download.tensorflow.org/"
                    "data/imagenet_class_index.json")
CLASS_INDEX_HASH = "c2c37ea517e94d9795004a39431a14cb"
CLASS_INDEX = None

_CAFFE_MEAN = [103.939, 116.779, 123.68]
_TORCH_MEAN = [0.485, 0.456, 0.406]
_TORCH_STD = [0.229, 0.224, 0.225]


def _is_numpy_array(x):
    # Keras code never imports NumPy (DESIGN.md); NumPy arrays are recognised by type name.
    kind = type(x)
    return kind.__name__ == "ndarray" and kind.__module__ == "numpy"


def preprocess_input(x, data_format=None, mode="caffe"):
    """Scales images the way a pretrained model expects (Keras 3's modes).

    "caffe": RGB -> BGR, minus the ImageNet BGR means (no scaling); "tf": to [-1, 1];
    "torch": to [0, 1], minus the means, over the standard deviations. A NumPy float array
    is modified in place (ints are cast to floatx first), as in Keras.

    >>> import numpy as np
    >>> from tensorflux.keras.applications import imagenet_utils
    >>> x = np.full((1, 1, 1, 3), 255.0, dtype="float32")
    >>> imagenet_utils.preprocess_input(x, mode="tf").tolist()
    [[[[1.0, 1.0, 1.0]]]]
    """
    if mode not in {"caffe", "tf", "torch"}:
        raise ValueError("Expected mode to be one of `caffe`, `tf` or `torch`. "
                         f"Received: mode={mode}")
    if data_format is None:
        data_format = backend.image_data_format()
    elif data_format not in {"channels_first", "channels_last"}:
        raise ValueError("Expected data_format to be one of `channels_first` or "
                         f"`channels_last`. Received: data_format={data_format}")
    if _is_numpy_array(x):
        return _preprocess_numpy_input(x, data_format, mode)
    return _preprocess_tensor_input(x, data_format, mode)


def _preprocess(x, data_format, mode, to_bgr, center):
    """Keras's three modes, with the array kind's own channel flip and mean/std step."""
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
        mean, std = _TORCH_MEAN, _TORCH_STD
    else:
        x = to_bgr(x, data_format)
        mean, std = _CAFFE_MEAN, None
    return center(x, data_format, mean, std)


def _preprocess_numpy_input(x, data_format, mode):
    if x.dtype.kind != "f":
        x = x.astype(backend.floatx(), copy=False)
    return _preprocess(x, data_format, mode, _numpy_to_bgr, _numpy_center)


def _numpy_to_bgr(x, data_format):
    if data_format == "channels_first":
        return x[::-1, ...] if len(x.shape) == 3 else x[:, ::-1, ...]
    return x[..., ::-1]


def _numpy_center(x, data_format, mean, std):
    for c in range(3):
        if data_format == "channels_first":
            index = (c, Ellipsis) if len(x.shape) == 3 else (slice(None), c, Ellipsis)
        else:
            index = (Ellipsis, c)
        x[index] -= mean[c]
        if std is not None:
            x[index] /= std[c]
    return x


def _preprocess_tensor_input(x, data_format, mode):
    # keras.ops, not tensorflux ops: a Functional model's KerasTensor input (keras.io's
    # DeepLabV3+ calls preprocess_input on keras.Input) must come back symbolic.
    return _preprocess(x, data_format, mode, _tensor_to_bgr, _tensor_center)


def _tensor_to_bgr(x, data_format):
    from tensorflux.keras import ops

    if data_format == "channels_first":
        if len(x.shape) == 3:
            return ops.stack([x[i, ...] for i in (2, 1, 0)], axis=0)
        return ops.stack([x[:, i, :] for i in (2, 1, 0)], axis=1)
    return ops.stack([x[..., i] for i in (2, 1, 0)], axis=-1)


def _tensor_center(x, data_format, mean, std):
    from tensorflux.keras import ops

    ndim = len(x.shape)
    if data_format == "channels_first":
        shape = (3, 1, 1) if ndim == 3 else (1, 3) + (1,) * (ndim - 2)
    else:
        shape = (1,) * (ndim - 1) + (3,)
    x += ops.reshape(ops.convert_to_tensor([-m for m in mean], dtype=x.dtype), shape)
    if std is not None:
        std_shape = (-1, 1, 1) if data_format == "channels_first" else (3,)
        x /= ops.reshape(ops.convert_to_tensor(std, dtype=x.dtype), std_shape)
    return x


def _to_host(preds):
    if _is_numpy_array(preds):
        return preds
    if hasattr(preds, "numpy"):
        return preds.numpy()
    return preds


def decode_predictions(preds, top=5):
    """[[(class_name, class_description, score), ...] per sample], best first, from a
    (samples, 1000) batch; the class index comes from `imagenet_class_index.json` (Keras's
    cache folder `models`, downloaded when missing).
    """
    global CLASS_INDEX
    shape = tuple(preds.shape)
    if len(shape) != 2 or shape[1] != 1000:
        raise ValueError("`decode_predictions` expects a batch of predictions (i.e. a 2D array "
                         f"of shape (samples, 1000)). Received array with shape: {shape}")
    if CLASS_INDEX is None:
        fpath = file_utils.get_file("imagenet_class_index.json", CLASS_INDEX_PATH,
                                    cache_subdir="models", file_hash=CLASS_INDEX_HASH)
        with open(fpath) as f:
            CLASS_INDEX = json.load(f)
    results = []
    for pred in _to_host(preds):
        top_indices = pred.argsort()[-top:][::-1]
        result = [tuple(CLASS_INDEX[str(i)]) + (pred[i],) for i in top_indices]
        result.sort(key=lambda item: item[2], reverse=True)
        results.append(result)
    return results


def obtain_input_shape(input_shape, default_size, min_size, data_format, require_flatten,
                       weights=None):
    """The model's input shape from the user's, with Keras's checks and defaults."""
    if input_shape is not None:
        input_shape = tuple(input_shape)
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        channels = input_shape[0] if data_format == "channels_first" else input_shape[-1]
        if channels not in {1, 3}:
            warnings.warn("This model usually expects 1 or 3 input channels. However, it was "
                          f"passed an input_shape with {channels} input channels.",
                          stacklevel=3)
        if data_format == "channels_first":
            default_shape = (input_shape[0], default_size, default_size)
        else:
            default_shape = (default_size, default_size, input_shape[-1])
    elif data_format == "channels_first":
        default_shape = (3, default_size, default_size)
    else:
        default_shape = (default_size, default_size, 3)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and input_shape != default_shape:
            raise ValueError("When setting `include_top=True` and loading `imagenet` weights, "
                             f"`input_shape` should be {default_shape}.  Received: "
                             f"input_shape={input_shape}")
        return default_shape
    if input_shape:
        if len(input_shape) != 3:
            raise ValueError("`input_shape` must be a tuple of three integers.")
        channels, spatial = ((input_shape[0], input_shape[1:]) if data_format ==
                             "channels_first" else (input_shape[-1], input_shape[:2]))
        if channels != 3 and weights == "imagenet":
            raise ValueError(f"The input must have 3 channels; Received "
                             f"`input_shape={input_shape}`")
        if any(d is not None and d < min_size for d in spatial):
            raise ValueError(f"Input size must be at least {min_size}x{min_size}; Received: "
                             f"input_shape={input_shape}")
    elif require_flatten:
        input_shape = default_shape
    else:
        input_shape = (3, None, None) if data_format == "channels_first" else (None, None, 3)
    if require_flatten and None in input_shape:
        raise ValueError("If `include_top` is True, you should specify a static "
                         f"`input_shape`. Received: input_shape={input_shape}")
    return input_shape


def correct_pad(inputs, kernel_size):
    """ZeroPadding2D's padding so that a stride-2 'valid' convolution matches TF's 'same'."""
    img_dim = 2 if backend.image_data_format() == "channels_first" else 1
    input_size = tuple(inputs.shape)[img_dim:img_dim + 2]
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    adjust = (1, 1) if input_size[0] is None else (1 - input_size[0] % 2,
                                                     1 - input_size[1] % 2)
    correct = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1]))


def validate_activation(classifier_activation, weights):
    """Only softmax or no activation on the top of a pretrained model."""
    if weights is None:
        return
    from tensorflux.keras import activations

    fn = activations.get(classifier_activation)
    if fn not in {activations.get("softmax"), activations.get(None)}:
        raise ValueError("Only `None` and `softmax` activations are allowed for the "
                         "`classifier_activation` argument when using pretrained weights, "
                         f"with `include_top=True`; Received: "
                         f"classifier_activation={classifier_activation}")


def validate_weights(weights):
    if not (weights in {"imagenet", None} or (isinstance(weights, (str, os.PathLike)) and
                                               os.path.exists(weights))):
        raise ValueError("The `weights` argument should be either `None` (random "
                         "initialization), 'imagenet' (pre-training on ImageNet), or the path "
                         f"to the weights file to be loaded.  Received: weights={weights}")


def check_classes(weights, include_top, classes):
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError("If using `weights='imagenet'` with `include_top=True`, `classes` "
                         f"should be 1000.  Received classes={classes}")


def image_input(input_tensor, input_shape):
    """The model's input KerasTensor: a new Input, or `input_tensor` itself."""
    from tensorflux.keras.engine.input_layer import Input
    from tensorflux.keras.engine.keras_tensor import is_keras_tensor

    if input_tensor is None:
        return Input(shape=input_shape)
    if not is_keras_tensor(input_tensor):
        return Input(tensor=input_tensor, shape=input_shape)
    return input_tensor


def finish_model(img_input, input_tensor, x, name):
    from tensorflux.keras.models import Functional

    inputs = get_source_inputs(input_tensor) if input_tensor is not None else img_input
    if isinstance(inputs, list) and len(inputs) == 1:
        inputs = inputs[0]
    return Functional(inputs, x, name=name)


def pool_features(x, pooling, avg_name=None, max_name=None):
    from tensorflux.keras import layers

    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=avg_name)(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=max_name)(x)
    return x


def _legacy_layer_names(path):
    """Names of the file's layers that hold weights (legacy HDF5 layout)."""
    from tensorflux.keras.saving import _h5, legacy_h5

    h5file = _h5.open_h5_for_reading(path, path)
    try:
        return {name for name, _, weight_names in
                legacy_h5._saved_layers(legacy_h5._weights_root(h5file)) if weight_names}
    finally:
        h5file.close()


def load_weights(model, path):
    """Loads an applications weight file: legacy `.h5` files by layer name when every weighted
    layer of the model has a namesake in the file (robust to Keras's graph order), else by
    position as Keras does; other formats through `model.load_weights`."""
    path = os.fspath(path)
    if path.endswith((".h5", ".hdf5")) and not path.endswith(".weights.h5"):
        wanted = {layer.name for layer in model.layers if layer.weights}
        by_name = wanted <= _legacy_layer_names(path)
        model.load_weights(path, by_name=by_name)
    else:
        model.load_weights(path)


def load_imagenet_weights(model, file_name, origin, file_hash):
    """Fetches (or reuses from Keras's cache `models/`) and loads a pretrained weight file."""
    path = file_utils.get_file(file_name, origin, cache_subdir="models", file_hash=file_hash)
    load_weights(model, path)


def model_input(weights, include_top, classes, input_tensor, input_shape, default_size=224,
                min_size=32):
    """Checks `weights` and `classes`, settles the input shape and returns the model's image
    input (Keras's common prologue of the applications)."""
    validate_weights(weights)
    check_classes(weights, include_top, classes)
    input_shape = obtain_input_shape(
        input_shape, default_size=default_size, min_size=min_size,
        data_format=backend.image_data_format(), require_flatten=include_top, weights=weights)
    return image_input(input_tensor, input_shape)


def classifier_top(x, include_top, pooling, classes, classifier_activation, weights,
                   avg_name=None, max_name=None, top_pool_name="avg_pool"):
    """The global-average-pooled `predictions` Dense layer when `include_top`, else the
    optional `pooling` of the features."""
    from tensorflux.keras import layers

    if include_top:
        x = layers.GlobalAveragePooling2D(name=top_pool_name)(x)
        validate_activation(classifier_activation, weights)
        return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    return pool_features(x, pooling, avg_name, max_name)


def load_model_weights(model, weights, file_name, origin, file_hash):
    """Loads `weights` into `model` and returns it: "imagenet" is Keras's file `file_name`
    from `origin`, None nothing, anything else a weights file path."""
    if weights == "imagenet":
        load_imagenet_weights(model, file_name, origin, file_hash)
    elif weights is not None:
        load_weights(model, weights)
    return model
