"""keras.utils.FeatureSpace: one layer that preprocesses and encodes a dict of structured-data
features (floats, integer and string categories, hashed values and crosses of them) with the
preprocessing layers, as Keras 3's FeatureSpace does.

Each feature gets a preprocessor (Normalization, Discretization, IntegerLookup, StringLookup,
Hashing, Rescaling, or the identity); categorical results are one-hot encoded by default;
crosses hash the preprocessed values of two or more features together. `adapt` learns the
vocabularies, statistics and bins from a dataset; then the FeatureSpace is called on a dict
of arrays (batched or one sample) or mapped over a tf.data pipeline, and its symbolic form
(`get_inputs`, `get_encoded_features`) builds Functional models.

>>> from tensorflux import keras
>>> space = keras.utils.FeatureSpace(
...     {"x": "float_normalized", "color": keras.utils.FeatureSpace.string_categorical()})
>>> space.adapt({"x": [1.0, 3.0], "color": ["red", "blue"]})
>>> space({"x": [2.0, 5.0], "color": ["blue", "green"]}).numpy().tolist()
[[0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 3.0]]
"""

import tensorflux as tf
from tensorflux.keras import backend, layers
from tensorflux.keras.layers.base import Layer
from tensorflux.keras.saving.serialization import (
    deserialize_keras_object,
    export_public,
    serialize_keras_object,
)
from tensorflux.tensor import _is_dense_tensor

__all__ = ["Cross", "Feature", "FeatureSpace"]

# Where Keras defines Feature, Cross and the helper layers: the module their configs name.
_KERAS_MODULE = "keras.src.layers.preprocessing.feature_space"


def _check_mode(output_mode, allowed):
    if output_mode not in allowed:
        raise ValueError(f"Invalid value for argument `output_mode`. Expected one of "
                         f"{set(allowed)}. Received: output_mode={output_mode}")


class Cross:
    """A cross of features: the tuple of their preprocessed values hashed into
    `crossing_dim` bins, one-hot encoded unless output_mode="int"."""

    def __init__(self, feature_names, crossing_dim, output_mode="one_hot"):
        _check_mode(output_mode, ("int", "one_hot"))
        self.feature_names = tuple(feature_names)
        self.crossing_dim = crossing_dim
        self.output_mode = output_mode

    def _obj_type(self):
        return "Cross"

    @property
    def name(self):
        return "_X_".join(self.feature_names)

    def get_config(self):
        return {"feature_names": self.feature_names, "crossing_dim": self.crossing_dim,
                "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Feature:
    """One feature's input dtype, preprocessing layer and encoding ("int", "one_hot" or
    "float")."""

    def __init__(self, dtype, preprocessor, output_mode):
        _check_mode(output_mode, ("int", "one_hot", "float"))
        self.dtype = dtype
        if isinstance(preprocessor, dict):
            preprocessor = deserialize_keras_object(preprocessor)
        self.preprocessor = preprocessor
        self.output_mode = output_mode

    def _obj_type(self):
        return "Feature"

    def get_config(self):
        preprocessor = serialize_keras_object(self.preprocessor)
        if isinstance(self.preprocessor, TFDIdentity):
            # Keras names its module-private layers in `registered_name` too.
            preprocessor["registered_name"] = "TFDIdentity"
        return {"dtype": self.dtype, "preprocessor": preprocessor,
                "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _spec_config(spec):
    """A Feature's or Cross's config in Keras's object format (as Keras writes it)."""
    name = type(spec).__name__
    return {"module": _KERAS_MODULE, "class_name": name,
            "config": serialize_keras_object(spec.get_config()), "registered_name": name}


def _spec_from_config(config, cls):
    """A Feature or Cross from its object config; only those two classes are accepted."""
    if config.get("class_name") != cls.__name__ or not isinstance(config.get("config"), dict):
        raise ValueError(f"FeatureSpace: expected the config of a {cls.__name__}, received "
                         f"{config!r}")
    return cls.from_config(config["config"])


class TFDIdentity(Layer):
    """The preprocessor of plain float features: passes values through."""

    def __init__(self, **kwargs):
        # Keras's data layers take **kwargs only, so their automatic config holds just the
        # arguments given (name and dtype), not the base Layer's defaults.
        super().__init__(**kwargs)

    def call(self, x):
        return x


class TFDConcat(Layer):
    """Concatenates the encoded features along `axis`."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, xs):
        return tf.concat(list(xs), axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _cardinality(name, preprocessor):
    """How many categories a preprocessor's integer output has (for one-hot encoding)."""
    if isinstance(preprocessor, (layers.IntegerLookup, layers.StringLookup)):
        return preprocessor.vocabulary_size()
    if isinstance(preprocessor, layers.CategoryEncoding):
        return preprocessor.num_tokens
    if isinstance(preprocessor, layers.Discretization):
        if preprocessor.num_bins is not None:
            return preprocessor.num_bins
        return len(preprocessor.bin_boundaries) + 1
    if isinstance(preprocessor, (layers.Hashing, layers.HashedCrossing)):
        return preprocessor.num_bins
    raise ValueError(f"Feature '{name}' has `output_mode='one_hot'`. However it isn't a "
                     "standard feature and the dimensionality of its output space is not "
                     "known, thus it cannot be one-hot encoded. Try using `output_mode='int'`.")


class FeatureSpace(Layer):
    """Preprocesses and encodes a dict of features: `features` maps each name to a type
    name ("float", "float_normalized", "float_rescaled", "float_discretized",
    "integer_categorical", "string_categorical", "integer_hashed", "string_hashed") or to
    one of the FeatureSpace.<type>(...) specs; `crosses` lists tuples of feature names (or
    FeatureSpace.cross specs); `output_mode` "concat" gives one float vector per sample and
    "dict" the encoded features by name. Call `adapt(dataset)` before use."""

    # ---------------------------------------------------------------- feature specs
    @classmethod
    def cross(cls, feature_names, crossing_dim, output_mode="one_hot"):
        return Cross(feature_names, crossing_dim, output_mode=output_mode)

    @classmethod
    def feature(cls, dtype, preprocessor, output_mode):
        return Feature(dtype, preprocessor, output_mode)

    @classmethod
    def float(cls, name=None):  # noqa: A003 - Keras's name
        name = name or backend.auto_name("float")
        return Feature("float32", TFDIdentity(dtype="float32", name=f"{name}_preprocessor"),
                       "float")

    @classmethod
    def float_rescaled(cls, scale=1.0, offset=0.0, name=None):
        name = name or backend.auto_name("float_rescaled")
        layer = layers.Rescaling(scale=scale, offset=offset, name=f"{name}_preprocessor")
        return Feature("float32", layer, "float")

    @classmethod
    def float_normalized(cls, name=None):
        name = name or backend.auto_name("float_normalized")
        return Feature("float32", layers.Normalization(axis=-1, name=f"{name}_preprocessor"),
                       "float")

    @classmethod
    def float_discretized(cls, num_bins, bin_boundaries=None, output_mode="one_hot",
                          name=None):
        name = name or backend.auto_name("float_discretized")
        # (Keras passes both and its Discretization then refuses given bin_boundaries.)
        layer = layers.Discretization(num_bins=None if bin_boundaries else num_bins,
                                      bin_boundaries=bin_boundaries,
                                      name=f"{name}_preprocessor")
        return Feature("float32", layer, output_mode)

    @classmethod
    def integer_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot",
                            name=None):
        name = name or backend.auto_name("integer_categorical")
        layer = layers.IntegerLookup(name=f"{name}_preprocessor", max_tokens=max_tokens,
                                     num_oov_indices=num_oov_indices)
        return Feature("int32", layer, output_mode)

    @classmethod
    def string_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot",
                           name=None):
        name = name or backend.auto_name("string_categorical")
        layer = layers.StringLookup(name=f"{name}_preprocessor", max_tokens=max_tokens,
                                    num_oov_indices=num_oov_indices)
        return Feature("string", layer, output_mode)

    @classmethod
    def string_hashed(cls, num_bins, output_mode="one_hot", name=None):
        name = name or backend.auto_name("string_hashed")
        return Feature("string", layers.Hashing(name=f"{name}_preprocessor", num_bins=num_bins),
                       output_mode)

    @classmethod
    def integer_hashed(cls, num_bins, output_mode="one_hot", name=None):
        name = name or backend.auto_name("integer_hashed")
        return Feature("int32", layers.Hashing(name=f"{name}_preprocessor", num_bins=num_bins),
                       output_mode)

    # ---------------------------------------------------------------- construction
    def __init__(self, features, output_mode="concat", crosses=None, crossing_dim=32,
                 hashing_dim=32, num_discretization_bins=32, name=None):
        super().__init__(name=name)
        if not features:
            raise ValueError("The `features` argument cannot be None or empty.")
        _check_mode(output_mode, ("dict", "concat"))
        self.crossing_dim = crossing_dim
        self.hashing_dim = hashing_dim
        self.num_discretization_bins = num_discretization_bins
        self.output_mode = output_mode
        self.features = {name: self._standardize_feature(name, value)
                         for name, value in features.items()}
        self.crosses = [self._standardize_cross(cross) for cross in crosses or ()]
        self.crosses_by_name = {cross.name: cross for cross in self.crosses}
        self.inputs = {name: layers.Input(shape=(1,), dtype=feature.dtype, name=name)
                       for name, feature in self.features.items()}
        self.preprocessors = {name: feature.preprocessor
                              for name, feature in self.features.items()}
        self.crossers = {cross.name: layers.HashedCrossing(cross.crossing_dim, name=cross.name)
                         for cross in self.crosses}
        self.encoded_features = None
        self.one_hot_encoders = None  # name -> CategoryEncoding, made with the symbolic graph
        self.concat = None
        self._is_adapted = False
        self._sublayers_built = False

    def _standardize_feature(self, name, feature):
        if isinstance(feature, Feature):
            return feature
        if isinstance(feature, dict):
            return _spec_from_config(feature, Feature)
        makers = {
            "float": lambda: self.float(name=name),
            "float_normalized": lambda: self.float_normalized(name=name),
            "float_rescaled": lambda: self.float_rescaled(name=name),
            "float_discretized": lambda: self.float_discretized(
                name=name, num_bins=self.num_discretization_bins),
            "integer_categorical": lambda: self.integer_categorical(name=name),
            "string_categorical": lambda: self.string_categorical(name=name),
            "integer_hashed": lambda: self.integer_hashed(self.hashing_dim, name=name),
            "string_hashed": lambda: self.string_hashed(self.hashing_dim, name=name),
        }
        if not isinstance(feature, str) or feature not in makers:
            raise ValueError(f"Invalid feature type: {feature!r} (feature '{name}'). Expected "
                             f"a FeatureSpace.<type>() spec or one of {sorted(makers)}.")
        return makers[feature]()

    def _standardize_cross(self, cross):
        if isinstance(cross, dict):
            cross = _spec_from_config(cross, Cross)
        if not isinstance(cross, Cross):
            if not self.crossing_dim:
                raise ValueError("When specifying `crosses`, the argument `crossing_dim` "
                                 "(dimensionality of the crossing space) should be specified "
                                 "as well.")
            cross = Cross(cross, crossing_dim=self.crossing_dim)
        unknown = [name for name in cross.feature_names if name not in self.features]
        if unknown:
            raise ValueError("All features referenced in the `crosses` argument should be "
                             f"present in the `features` dict. Received unknown features: "
                             f"{unknown} in the cross {cross.feature_names}")
        return cross

    # ---------------------------------------------------------------- adapt
    def _adaptable_names(self):
        names = []
        for name, preprocessor in self.preprocessors.items():
            if isinstance(preprocessor, layers.Normalization) and \
                    preprocessor.input_mean is not None:
                continue  # given mean and variance: nothing to learn
            if isinstance(preprocessor, layers.Discretization) and preprocessor.num_bins is None:
                continue  # given bin boundaries
            if isinstance(preprocessor, layers.TextVectorization) and \
                    getattr(preprocessor, "_has_input_vocabulary", False):
                continue
            if hasattr(preprocessor, "adapt"):
                names.append(name)
        return names

    def adapt(self, dataset):
        """Learns each preprocessor's state (vocabulary, mean and variance, bins) from
        `dataset`: a tf.data.Dataset of feature dicts (batched or not) or a dict of arrays."""
        from tensorflux.data import Dataset

        if isinstance(dataset, dict):
            dataset = Dataset.from_tensor_slices(dataset)
        if not isinstance(dataset, Dataset):
            raise ValueError("`adapt()` can only be called on a tf.data.Dataset or a dict of "
                             f"arrays/lists. Received instead: {dataset!r} (of type "
                             f"{type(dataset).__name__})")
        if not isinstance(dataset.element_spec, dict):
            # (the usual slip: a dataset of (features, labels) pairs)
            raise TypeError("FeatureSpace.adapt() expects a dataset whose elements are dicts "
                            "of features, received elements of structure "
                            f"{dataset.element_spec}. Drop the labels first, e.g. "
                            "`feature_space.adapt(train_ds.map(lambda x, y: x))`.")
        for name in self._adaptable_names():
            column = dataset.map(lambda x, name=name: x[name])
            rank = next(iter(column)).shape.rank
            if rank == 0:
                column = column.batch(32)  # one sample per element
            if rank in (0, 1):
                column = column.map(lambda x: tf.expand_dims(x, -1))
            self.preprocessors[name].adapt(column)
        self._is_adapted = True
        self.get_encoded_features()  # builds the sublayers
        self.built = True
        self._sublayers_built = True

    def _check_if_adapted(self):
        if not self._is_adapted:
            if self._adaptable_names():
                raise ValueError("You need to call `.adapt(dataset)` on the FeatureSpace "
                                 "before you can start using it.")
            self._is_adapted = True

    def _check_if_built(self):
        if not self._sublayers_built:
            self._check_if_adapted()
            self.get_encoded_features()
            self._sublayers_built = True

    # ---------------------------------------------------------------- the encoding
    def get_inputs(self):
        """The dict of Keras Inputs (one per feature) of the symbolic form."""
        self._check_if_built()
        return self.inputs

    def get_encoded_features(self):
        """The encoded features as Keras tensors computed from `get_inputs()`: what a
        Functional model built on the FeatureSpace takes."""
        self._check_if_adapted()
        if self.encoded_features is None:
            preprocessed = self._preprocess_features(self.inputs)
            crossed = self._cross_features(preprocessed)
            self.encoded_features = self._merge_features(preprocessed, crossed)
        return self.encoded_features

    def _preprocess_features(self, features):
        return {name: self.preprocessors[name](features[name]) for name in self.features}

    def _cross_features(self, features):
        return {cross.name: self.crossers[cross.name](
            [features[name] for name in cross.feature_names]) for cross in self.crosses}

    def _make_encoders(self, values):
        """The one-hot encoders of the features and crosses that ask for one, checking
        that their preprocessors give integers."""
        encoders = {}
        for name, value in values.items():
            spec = self.features.get(name) or self.crosses_by_name[name]
            if spec.output_mode != "one_hot":
                continue
            dtype = backend.standardize_dtype(value.dtype)
            if not dtype.startswith("int"):
                raise ValueError(f"Feature '{name}' has `output_mode='one_hot'`. Thus its "
                                 "preprocessor should return an integer dtype. Instead it "
                                 f"returns a {dtype} dtype.")
            preprocessor = self.preprocessors.get(name) or self.crossers[name]
            encoders[name] = layers.CategoryEncoding(
                num_tokens=_cardinality(name, preprocessor), output_mode="multi_hot")
        return encoders

    def _merge_features(self, preprocessed, crossed):
        # Sorted feature names, then sorted cross names: the concatenation order.
        values = {name: preprocessed[name] for name in sorted(preprocessed)}
        values.update((name, crossed[name]) for name in sorted(crossed))
        if self.one_hot_encoders is None:
            self.one_hot_encoders = self._make_encoders(values)
        encoded = {name: self.one_hot_encoders[name](value)
                   if name in self.one_hot_encoders else value
                   for name, value in values.items()}
        if self.output_mode == "dict":
            return encoded
        if self.concat is None:
            for name, value in encoded.items():
                dtype = backend.standardize_dtype(value.dtype)
                if dtype.startswith("int") or dtype == "string":
                    raise ValueError(f"Cannot concatenate features because feature '{name}' "
                                     f"has not been encoded (it has dtype {dtype}). Consider "
                                     "using `output_mode='dict'`.")
            self.concat = TFDConcat(axis=-1)
        return self.concat(list(encoded.values()))

    # ---------------------------------------------------------------- calling
    def __call__(self, data):
        self._check_if_built()
        if not isinstance(data, dict):
            raise ValueError("A FeatureSpace can only be called with a dict. Received: "
                             f"data={data!r} (of type {type(data).__name__})")
        missing = [name for name in self.features if name not in data]
        unknown = [name for name in data if name not in self.features]
        if missing or unknown:
            raise ValueError(f"FeatureSpace '{self.name}' expected the features "
                             f"{sorted(self.features)}; missing {missing}, unknown {unknown}.")
        data = {name: _as_tensor(data[name]) for name in self.features}
        rebatched = False
        for name, x in data.items():
            if x.shape.rank == 0:
                data[name] = tf.reshape(x, (1, 1))
                rebatched = True
            elif x.shape.rank == 1:
                data[name] = tf.expand_dims(x, -1)
        preprocessed = self._preprocess_features(data)
        merged = self._merge_features(preprocessed, self._cross_features(preprocessed))
        if rebatched:
            if self.output_mode == "concat":
                return tf.squeeze(merged, axis=0)
            merged = {name: tf.squeeze(x, axis=0) if x.shape.rank == 2 and x.shape[0] == 1
                      else x for name, x in merged.items()}
        return merged

    # ---------------------------------------------------------------- saving
    def get_config(self):
        return {"features": {name: _spec_config(feature)
                             for name, feature in self.features.items()},
                "output_mode": self.output_mode,
                "crosses": [_spec_config(cross) for cross in self.crosses],
                "crossing_dim": self.crossing_dim, "hashing_dim": self.hashing_dim,
                "num_discretization_bins": self.num_discretization_bins}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_build_config(self):
        return {name: feature.preprocessor.get_build_config()
                for name, feature in self.features.items()}

    def build_from_config(self, config):
        for name, build_config in config.items():
            preprocessor = self.features[name].preprocessor
            if not preprocessor.built and build_config:
                preprocessor.build_from_config(build_config)
        self._is_adapted = True

    def save(self, filepath):
        """Saves the FeatureSpace to a `.keras` file; keras.models.load_model reloads it."""
        from tensorflux.keras.saving import saving_lib

        saving_lib.save_model(self, filepath)

    def save_own_variables(self, store):
        return

    def load_own_variables(self, store):
        return


def _as_tensor(value):
    return value if _is_dense_tensor(value) else tf.convert_to_tensor(value)


export_public("keras.utils.FeatureSpace", FeatureSpace)
for _cls in (Feature, Cross, TFDIdentity, TFDConcat):
    export_public(f"{_KERAS_MODULE}.{_cls.__name__}", _cls)
