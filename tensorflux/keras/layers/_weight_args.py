"""The `<weight>_initializer/_regularizer/_constraint` arguments of keras layers: resolving
them onto the layer, creating a weight from them and serializing them into a config."""

from tensorflux.keras import constraints, initializers, regularizers

_KINDS = (("initializer", initializers), ("regularizer", regularizers),
          ("constraint", constraints))


def set_weight_args(layer, **weights):
    """`layer.<weight>_<kind> = <kind>s.get(value)` for `weight=(initializer, regularizer,
    constraint)`; resolved kind by kind (all initializers first), Keras's order."""
    for i, (kind, module) in enumerate(_KINDS):
        for weight, values in weights.items():
            setattr(layer, f"{weight}_{kind}", module.get(values[i]))


def add_weight_from_args(layer, name, shape, weight=None, initializer=None):
    """`layer.add_weight` with the initializer, regularizer and constraint stored for `weight`
    (default `name`); `initializer` replaces the stored one when given."""
    weight = weight or name
    if initializer is None:
        initializer = getattr(layer, f"{weight}_initializer")
    return layer.add_weight(name=name, shape=shape, initializer=initializer,
                            regularizer=getattr(layer, f"{weight}_regularizer"),
                            constraint=getattr(layer, f"{weight}_constraint"))


def weight_args_config(layer, *weights, activity_regularizer=True):
    """The serialized initializers, regularizers (then the activity regularizer) and
    constraints of `weights`, in Keras's config order."""
    config = {}
    for kind, module in _KINDS:
        for weight in weights:
            config[f"{weight}_{kind}"] = module.serialize(getattr(layer, f"{weight}_{kind}"))
        if kind == "regularizer" and activity_regularizer:
            config["activity_regularizer"] = regularizers.serialize(layer.activity_regularizer)
    return config
