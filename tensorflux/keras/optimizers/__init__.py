"""tensorflux.keras.optimizers: Keras 3's optimizers, `get`, `serialize` and `deserialize`."""

from tensorflux.keras import _objects
from tensorflux.keras.optimizers import legacy, schedules
from tensorflux.keras.optimizers.adafactor import Adafactor
from tensorflux.keras.optimizers.adagrad import Adadelta, Adagrad, Ftrl
from tensorflux.keras.optimizers.adam import Adam, Adamax, AdamW, Nadam
from tensorflux.keras.optimizers.base import Optimizer
from tensorflux.keras.optimizers.lamb import Lamb
from tensorflux.keras.optimizers.lion import Lion
from tensorflux.keras.optimizers.loss_scale_optimizer import LossScaleOptimizer
from tensorflux.keras.optimizers.multi_optimizer import MultiOptimizer, OptimizerMap
from tensorflux.keras.optimizers.muon import Muon
from tensorflux.keras.optimizers.rmsprop import RMSprop
from tensorflux.keras.optimizers.schedule_free_adamw import ScheduleFreeAdamW
from tensorflux.keras.optimizers.sgd import SGD

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax",
           "Nadam", "Lion", "Ftrl", "schedules", "legacy", "get", "serialize", "deserialize"]
__all__ += ["Adafactor", "Lamb", "Muon", "ScheduleFreeAdamW"]
__all__ += ["LossScaleOptimizer", "MultiOptimizer", "OptimizerMap"]

# The allowlist a config may name (Keras resolves these case-insensitively).
ALL_OBJECTS_DICT = {cls.__name__.lower(): cls for cls in (
    SGD, RMSprop, Adam, AdamW, Adagrad, Adadelta, Adamax, Nadam, Lion, Ftrl)}
ALL_OBJECTS_DICT.update({cls.__name__.lower(): cls for cls in (
    Adafactor, Lamb, Muon, ScheduleFreeAdamW)})
ALL_OBJECTS_DICT["lossscaleoptimizer"] = LossScaleOptimizer
ALL_OBJECTS_DICT["multioptimizer"] = MultiOptimizer


def serialize(optimizer):
    """Keras 3's dict form of an optimizer.

    >>> from tensorflux.keras import optimizers
    >>> d = optimizers.serialize(optimizers.SGD(name="sgd"))
    >>> d["module"], d["class_name"], d["config"]["learning_rate"]
    ('keras.optimizers', 'SGD', 0.009999999776482582)
    """
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__,
            "config": optimizer.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None):
    """An optimizer from `serialize`'s dict; class names are looked up in an allowlist."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret optimizer config: {config!r}")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or ALL_OBJECTS_DICT.get(str(name).lower())
    if cls is None:
        cls = schedules._registered(config.get("registered_name") or name)
    if cls is None:
        hint = _objects.did_you_mean(name, ALL_OBJECTS_DICT)
        raise ValueError(f"Could not interpret optimizer identifier: {name!r}.{hint} Known "
                         f"optimizers: {sorted(ALL_OBJECTS_DICT)}")
    return cls.from_config(dict(config.get("config") or {}), custom_objects=custom_objects) \
        if _takes_custom_objects(cls) else cls.from_config(dict(config.get("config") or {}))


def _takes_custom_objects(cls):
    import inspect

    try:
        return "custom_objects" in inspect.signature(cls.from_config).parameters
    except (TypeError, ValueError):
        return False


def get(identifier):
    """An optimizer from None, a name ("adam"), a config dict or an instance.

    >>> from tensorflux.keras import optimizers
    >>> type(optimizers.get("rmsprop")).__name__
    'RMSprop'
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = deserialize({"class_name": identifier, "config": {}})
    else:
        obj = identifier
    if isinstance(obj, Optimizer):
        return obj
    raise ValueError(f"Could not interpret optimizer identifier: {identifier}")
