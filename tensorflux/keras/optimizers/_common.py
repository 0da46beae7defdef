"""The base-optimizer keyword arguments every built-in optimizer forwards unchanged."""

__all__ = ["BASE_DEFAULTS", "split_base_kwargs"]

BASE_DEFAULTS = {
    "weight_decay": None, "clipnorm": None, "clipvalue": None, "global_clipnorm": None,
    "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
    "loss_scale_factor": None, "gradient_accumulation_steps": None, "name": None,
}


def split_base_kwargs(kwargs):
    """(base optimizer kwargs with Keras's defaults, the rest)."""
    base = {k: kwargs.pop(k, v) for k, v in BASE_DEFAULTS.items()}
    return base, kwargs
