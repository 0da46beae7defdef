"""keras.wrappers: Keras models as scikit-learn estimators (classifier, regressor, transformer),
so that they work inside sklearn's tools: Pipeline, clone, GridSearchCV, cross_val_score.

scikit-learn (>= 1.6) is optional: this module imports it, `tensorflux.keras` does not, and the
wrappers raise ImportError when constructed without it. Input checks (`n_features_in_`,
`feature_names_in_`, NaN and sparse rejection) and label encoding are sklearn's own.
"""

from tensorflux.keras.models.cloning import clone_model
from tensorflux.keras.models.model import Model

try:
    import sklearn
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
    from sklearn.utils.validation import validate_data  # (new in scikit-learn 1.6)
except ImportError:  # the classes still import; constructing one names the missing package
    sklearn = None
    BaseEstimator = type("BaseEstimator", (), {})
    ClassifierMixin = type("ClassifierMixin", (), {})
    RegressorMixin = type("RegressorMixin", (), {})
    TransformerMixin = type("TransformerMixin", (), {})

__all__ = ["SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"]


def _check_model(model, builder):
    """Raises unless `model` is a compiled Keras model, naming what `builder` gave."""
    if not isinstance(model, Model):
        raise TypeError(f"The `model` callable {builder!r} must return a compiled keras Model; "
                        f"it returned {type(model).__name__}: {model!r}")
    if not model.compiled or not model.loss or not model.optimizer:
        raise RuntimeError(f"The wrapped model {model.name!r} is not compiled with a loss and "
                           "an optimizer; call model.compile(optimizer=..., loss=...) before "
                           "handing it over (or before the `model` callable returns it).")


class SKLBase(BaseEstimator):
    """What the three wrappers share: building and fitting the model, predicting, targets.

    Args:
        model: a compiled keras `Model` (cloned with `keras.models.clone_model` for each fit
            unless `warm_start`), or a callable `model(X=X, y=y, **model_kwargs)` returning a
            compiled one. `X` and `y` are the validated training arrays (a classifier's `y`
            one-hot encoded), so the callable can size the input and output layers from them.
        warm_start: if True, a given `Model` is trained itself (not a clone), and a refit
            continues training the fitted `model_` instead of starting from a new model.
        model_kwargs: dict of keyword arguments for the `model` callable.
        fit_kwargs: dict of keyword arguments for `model.fit` (epochs, batch_size, verbose,
            callbacks, ...). Keyword arguments given to `fit` itself take precedence.

    Attributes (after fit): `model_` (the fitted model), `history_` (the `History` that
    `model.fit` returned), `n_features_in_` (and `feature_names_in_` for DataFrames).
    Training is not deterministic unless seeded (`keras.utils.set_random_seed`).
    """

    def __init__(self, model, warm_start=False, model_kwargs=None, fit_kwargs=None):
        if sklearn is None:
            raise ImportError(f"{type(self).__name__} requires scikit-learn (>= 1.6). "
                              "Install it with `pip install scikit-learn`.")
        self.model = model
        self.warm_start = warm_start
        self.model_kwargs = model_kwargs
        self.fit_kwargs = fit_kwargs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True
        return tags

    @property
    def epoch_(self):
        """The number of epochs the last `fit` ran (0 before fitting)."""
        history = getattr(self, "history_", None)
        return len(history.epoch) if history is not None else 0

    def set_fit_request(self, **kwargs):
        """Asks sklearn's metadata routing to pass the named `fit` arguments (for example
        `sample_weight=True`) from a meta-estimator's `fit` to this wrapper's `fit`, and so to
        `model.fit`. Needs `sklearn.set_config(enable_metadata_routing=True)`. Returns self."""
        if not sklearn.get_config().get("enable_metadata_routing", False):
            raise RuntimeError("set_fit_request is only available when metadata routing is "
                               "enabled: call sklearn.set_config(enable_metadata_routing=True) "
                               "first.")
        from sklearn.utils.metadata_routing import MetadataRequest

        self._metadata_request = MetadataRequest(owner=self)
        for param, alias in kwargs.items():
            self._metadata_request.fit.add_request(param=param, alias=alias)
        return self

    def _get_model(self, X, y):
        if self.warm_start and hasattr(self, "model_"):
            return self.model_
        if isinstance(self.model, Model):
            return self.model if self.warm_start else clone_model(self.model)
        if not callable(self.model):
            raise TypeError("`model` must be a compiled keras Model or a callable that "
                            f"returns one; received {type(self.model).__name__}: "
                            f"{self.model!r}")
        return self.model(X=X, y=y, **(self.model_kwargs or {}))

    def fit(self, X, y, **kwargs):
        """Fits a new model (or, with `warm_start`, the fitted one) on `X` (n_samples,
        n_features) and `y` (n_samples,); `kwargs` go to `model.fit`. Returns self."""
        X, y = validate_data(self, X, y)
        y = self._process_target(y, reset=True)
        model = self._get_model(X, y)
        _check_model(model, self.model)
        self.history_ = model.fit(X, y, **{**(self.fit_kwargs or {}), **kwargs})
        self.model_ = model
        return self

    def predict(self, X):
        """The model's predictions for `X`, as targets of the kind `fit` was given."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self._reverse_process_target(self.model_.predict(X))

    def _process_target(self, y, reset=False):
        """`y` as the model is trained on it: one column (sklearn's validation made it 1-D)."""
        _check_target_type(y)
        return y.reshape(-1, 1)

    def _reverse_process_target(self, y):
        """Model outputs as 1-D targets; a ValueError when the model has several outputs."""
        return y.squeeze(axis=1) if y.ndim == 2 else y


def _check_target_type(y):
    """sklearn's target type of `y`; a ValueError for a target sklearn cannot classify."""
    from sklearn.utils.multiclass import type_of_target

    target_type = type_of_target(y)
    if target_type == "unknown":
        raise ValueError(f"scikit-learn cannot tell what kind of target this is: {y!r}")
    return target_type


class SKLearnClassifier(ClassifierMixin, SKLBase):
    """A Keras classifier as a scikit-learn estimator (see `SKLBase` for the arguments).

    `fit` one-hot encodes the labels (any sklearn binary or multiclass labels: ints, strings),
    so the model's output needs one unit per class (softmax and categorical cross-entropy);
    `predict` returns the label of each row's largest output, `decision_function` the raw
    outputs, `score` the accuracy. `classes_` holds the sorted labels.

    Example, sizing the model from the data it is fitted on:

        def build(X, y, hidden=16):
            model = keras.Sequential([keras.Input((X.shape[1],)),
                                      keras.layers.Dense(hidden, activation="relu"),
                                      keras.layers.Dense(y.shape[1], activation="softmax")])
            model.compile(optimizer="adam", loss="categorical_crossentropy")
            return model

        clf = keras.wrappers.SKLearnClassifier(build, model_kwargs={"hidden": 32},
                                               fit_kwargs={"epochs": 10, "verbose": 0})
        clf.fit(X_train, y_train).score(X_test, y_test)
    """

    def decision_function(self, X):
        """The model's raw outputs for `X`, one column per class."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        return self.model_.predict(validate_data(self, X, reset=False))

    def _process_target(self, y, reset=False):
        """`y` one-hot encoded over `classes_`."""
        target_type = _check_target_type(y)
        if target_type not in ("binary", "multiclass"):
            raise ValueError(f"{type(self).__name__} trains on binary or multiclass labels; "
                             f"these labels are {target_type!r} (sklearn's type_of_target)")
        column = y.reshape(-1, 1)
        if reset:
            from sklearn.preprocessing import OneHotEncoder

            self._target_encoder = OneHotEncoder(sparse_output=False).fit(column)
            self.classes_ = self._target_encoder.categories_[0]
            if len(self.classes_) == 1:
                raise ValueError(f"{type(self).__name__} needs at least two classes to "
                                 f"train; every label is {self.classes_[0]!r}")
        return self._target_encoder.transform(column)

    def _reverse_process_target(self, y):
        """Each row's label: the class of its largest output."""
        return super()._reverse_process_target(self._target_encoder.inverse_transform(y))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        return tags


class SKLearnRegressor(RegressorMixin, SKLBase):
    """A Keras regressor as a scikit-learn estimator (see `SKLBase` for the arguments).

    `predict` returns the model's outputs (1-D when `fit` was given 1-D `y` and the model has
    one output unit); `score` is the R^2 of sklearn's RegressorMixin.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True
        return tags


class SKLearnTransformer(TransformerMixin, SKLBase):
    """A Keras model as a scikit-learn transformer (see `SKLBase` for the arguments): `fit`
    trains it on (X, y), `transform(X)` returns its outputs, for example embeddings that a
    later Pipeline step consumes. (A transformer in sklearn's sense, not the architecture.)
    Wrap it in `sklearn.frozen.FrozenEstimator` to use an already trained model unchanged.
    """

    def transform(self, X):
        """The model's outputs for `X`, shape (n_samples, n_outputs)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        return self.model_.predict(validate_data(self, X, reset=False))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        return tags
