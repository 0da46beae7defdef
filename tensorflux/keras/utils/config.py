"""keras.utils.Config: a dict of named settings that also reads and writes them as attributes,
can be frozen against later changes, and writes itself as JSON."""

import difflib
import json

__all__ = ["Config"]


class Config:
    """Named values, set and read as attributes or items; iterating gives the names sorted.

    >>> from tensorflux import keras
    >>> config = keras.utils.Config(learning_rate=0.1)
    >>> config.seed = 7
    >>> config["seed"], sorted(config), config.to_json()
    (7, ['learning_rate', 'seed'], '{"learning_rate": 0.1, "seed": 7}')
    >>> config.freeze()
    >>> config.seed = 8
    Traceback (most recent call last):
    ...
    ValueError: This Config is frozen: it cannot change 'seed' (call unfreeze() first).
    """

    def __init__(self, **kwargs):
        object.__setattr__(self, "_config", dict(kwargs))
        object.__setattr__(self, "_frozen", False)

    @property
    def frozen(self):
        return self._frozen

    def freeze(self):
        """Refuses every later change until `unfreeze()`."""
        object.__setattr__(self, "_frozen", True)

    def unfreeze(self):
        object.__setattr__(self, "_frozen", False)

    def _check_mutable(self, name):
        if self._frozen:
            raise ValueError(f"This Config is frozen: it cannot change {name!r} (call "
                             "unfreeze() first).")

    def as_dict(self):
        """A shallow copy of the values, as a dict."""
        return dict(self._config)

    def to_json(self):
        return json.dumps(self._config)

    def keys(self):
        return self._config.keys()

    def values(self):
        return self._config.values()

    def items(self):
        return self._config.items()

    def get(self, name, default=None):
        return self._config.get(name, default)

    def pop(self, name, *default):
        self._check_mutable(name)
        return self._config.pop(name, *default)

    def update(self, *args, **kwargs):
        self._check_mutable(", ".join(dict(*args, **kwargs)))
        self._config.update(*args, **kwargs)

    def __setattr__(self, name, value):
        if hasattr(type(self), name):  # the class's own names stay attributes
            object.__setattr__(self, name, value)
            return
        self._check_mutable(name)
        self._config[name] = value

    def __getattr__(self, name):
        config = object.__getattribute__(self, "_config")
        if name in config:
            return config[name]
        message = f"Unknown attribute: '{name}'."
        close = difflib.get_close_matches(name, [str(k) for k in config], n=1, cutoff=0.7)
        if close:
            message += f" Did you mean '{close[0]}'?"
        raise AttributeError(message)

    def __setitem__(self, name, value):
        self._check_mutable(name)
        self._config[name] = value

    def __getitem__(self, name):
        return self._config[name]

    def __delitem__(self, name):
        self._check_mutable(name)
        del self._config[name]

    def __contains__(self, name):
        return name in self._config

    def __iter__(self):
        return iter(sorted(self._config))

    def __len__(self):
        return len(self._config)

    def __repr__(self):
        return f"<Config {self._config}>"
