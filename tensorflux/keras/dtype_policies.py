"""keras.dtype_policies: DTypePolicy (a layer's compute and variable dtypes) and the global
policy that layers made without a `dtype` take.

>>> from tensorflux import keras
>>> policy = keras.dtype_policies.DTypePolicy("mixed_float16")
>>> policy.compute_dtype, policy.variable_dtype
('float16', 'float32')
"""

from tensorflux.keras import backend

__all__ = ["DTypePolicy", "FloatDTypePolicy", "deserialize", "dtype_policy", "get",
           "serialize", "set_dtype_policy"]

_MIXED = {"mixed_float16": ("float16", "float32"), "mixed_bfloat16": ("bfloat16", "float32")}
_FLOAT_NAMES = ("float16", "bfloat16", "float32", "float64")
_OTHER_NAMES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "bool", "string", "complex64", "complex128")


def parse_policy_name(name):
    """(compute dtype, variable dtype) of a policy name, or a ValueError naming the choices."""
    if not isinstance(name, str):
        raise TypeError("'name' must be a string, such as 'mixed_float16'. "
                        f"Received: name={name} (of type {type(name)})")
    pair = _MIXED.get(name)
    if pair is not None:
        return pair
    try:
        dtype = backend.standardize_dtype(name)
    except ValueError:  # not a dtype at all: the policy's own message says what is
        dtype = None
    if dtype not in _FLOAT_NAMES and dtype not in _OTHER_NAMES:
        raise ValueError(f"Cannot convert '{name}' to a mixed precision DTypePolicy. Valid "
                         "policies include 'mixed_float16', 'mixed_bfloat16', and the name of "
                         "any float dtype such as 'float32'.")
    return dtype, dtype


class DTypePolicy:
    """A layer's dtypes: `compute_dtype` for its computations and outputs, `variable_dtype`
    for its weights. "mixed_float16" and "mixed_bfloat16" compute in 16 bits and keep float32
    weights, which the layer casts to the compute dtype as its `call` reads them.

    >>> from tensorflux import keras
    >>> keras.DTypePolicy("mixed_bfloat16")
    <DTypePolicy "mixed_bfloat16">
    """

    def __init__(self, name=None):
        if name is None:
            name = dtype_policy().name
        self._name = name
        self._compute_dtype, self._variable_dtype = parse_policy_name(name)
        self._quantization_mode = None

    @property
    def name(self):
        return self._name

    @property
    def compute_dtype(self):
        return self._compute_dtype

    @property
    def variable_dtype(self):
        return self._variable_dtype

    @property
    def quantization_mode(self):
        return self._quantization_mode

    def convert_input(self, x, autocast, dtype):
        """`x` as a tensor; a floating one cast to `dtype` when `autocast` (ints untouched)."""
        from tensorflux.keras.layers.base import _convert_input

        return _convert_input(x, backend.standardize_dtype(dtype), autocast)

    def get_config(self):
        return {"name": self._name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f'<DTypePolicy "{self._name}">'

    def __eq__(self, other):
        if not isinstance(other, DTypePolicy):
            return False
        return self._name == other._name

    def __hash__(self):
        return hash(("DTypePolicy", self._name))


class FloatDTypePolicy(DTypePolicy):
    """Keras's alias of DTypePolicy."""


_ALL_OBJECTS = {"DTypePolicy": DTypePolicy, "FloatDTypePolicy": FloatDTypePolicy,
                "Policy": DTypePolicy}

# The policy set with set_dtype_policy; None means "floatx()" (read when a layer is made).
_GLOBAL = {"policy": None}


def set_dtype_policy(policy):
    """Sets the policy of the layers created from now on that are given no `dtype`.

    >>> from tensorflux import keras
    >>> keras.config.set_dtype_policy("mixed_float16")
    >>> keras.layers.Dense(2).compute_dtype
    'float16'
    >>> keras.config.set_dtype_policy("float32")
    """
    if isinstance(policy, str):
        policy = DTypePolicy(policy)
    elif not isinstance(policy, DTypePolicy):
        raise ValueError("Invalid `policy` argument. Expected the string name of a policy "
                         "(such as 'mixed_float16') or a `DTypePolicy` instance. Received: "
                         f"policy={policy} (of type {type(policy)})")
    _GLOBAL["policy"] = policy


def dtype_policy():
    """The global DTypePolicy (floatx's unless set_dtype_policy changed it)."""
    policy = _GLOBAL["policy"]
    if policy is None:
        return DTypePolicy(backend.floatx())
    return policy


def global_policy_name():
    """The global policy's name, without making a DTypePolicy (Layer.__init__ reads it)."""
    policy = _GLOBAL["policy"]
    return backend.floatx() if policy is None else policy.name


def serialize(policy):
    """Keras 3's dict form: {"module": "keras", "class_name": "DTypePolicy", ...}."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": policy.get_config(),
            "registered_name": None}


def deserialize(config, custom_objects=None):
    """A DTypePolicy from serialize's dict (classes from an allowlist only)."""
    if not isinstance(config, dict):
        raise ValueError(f"Could not interpret dtype policy config: {config!r}")
    name = config.get("class_name", "DTypePolicy")
    cls = (custom_objects or {}).get(name) or _ALL_OBJECTS.get(name)
    if cls is None:
        raise ValueError(f"Could not interpret dtype policy class {name!r}; tensorflux knows "
                         f"{sorted(_ALL_OBJECTS)}")
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier):
    """A DTypePolicy from None (the global one), a name, a config dict or a policy.

    >>> from tensorflux import keras
    >>> keras.dtype_policies.get("float16").variable_dtype
    'float16'
    """
    if identifier is None:
        return dtype_policy()
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return DTypePolicy(identifier)
    try:
        return DTypePolicy(backend.standardize_dtype(identifier))
    except (TypeError, ValueError) as error:
        raise ValueError("Cannot interpret `dtype` argument. Expected a string or an instance "
                         f"of DTypePolicy. Received: dtype={identifier}") from error
