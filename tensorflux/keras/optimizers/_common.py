"""The base-optimizer keyword arguments every built-in optimizer forwards unchanged."""

import functools
import inspect

__all__ = ["BASE_DEFAULTS", "base_positional", "split_base_kwargs"]

BASE_DEFAULTS = {
    "weight_decay": None, "clipnorm": None, "clipvalue": None, "global_clipnorm": None,
    "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
    "loss_scale_factor": None, "gradient_accumulation_steps": None, "name": None,
}


def split_base_kwargs(kwargs):
    """(base optimizer kwargs with Keras's defaults, the rest)."""
    base = {k: kwargs.pop(k, v) for k, v in BASE_DEFAULTS.items()}
    return base, kwargs


def base_positional(init):
    """An optimizer `__init__(self, <own params>, **kwargs)` that also takes the base
    arguments (weight_decay, clipnorm, ..., name) positionally after its own, in Keras's
    order, as Keras's signatures list them; inspect.signature shows that full signature."""
    own = [p for p in inspect.signature(init).parameters.values()
           if p.kind is p.POSITIONAL_OR_KEYWORD]
    own_names = {p.name for p in own}
    extra = [name for name in BASE_DEFAULTS if name not in own_names]
    most = len(own) - 1  # (without self)

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        if len(args) > most:
            spill = args[most:]
            if len(spill) > len(extra):
                raise TypeError(f"{type(self).__name__}() takes at most "
                                f"{most + len(extra)} positional arguments, received "
                                f"{len(args)}")
            for name, value in zip(extra, spill):
                if name in kwargs:
                    raise TypeError(f"{type(self).__name__}() got multiple values for "
                                    f"argument {name!r}")
                kwargs[name] = value
            args = args[:most]
        return init(self, *args, **kwargs)

    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    wrapper.__signature__ = inspect.Signature(
        own + [inspect.Parameter(name, kind, default=BASE_DEFAULTS[name]) for name in extra]
        + [inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)])
    return wrapper
