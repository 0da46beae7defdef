"""keras.dtype_policies: DTypePolicy (a layer's compute and variable dtypes) and the global
policy that layers made without a `dtype` take.

>>> from tensorflux import keras
>>> policy = keras.dtype_policies.DTypePolicy("mixed_float16")
>>> policy.compute_dtype, policy.variable_dtype
('float16', 'float32')
"""

import re
from collections.abc import MutableMapping

from tensorflux.keras import backend

# Keras's public names; dtype_policy and set_dtype_policy are keras.config's, and the helpers
# the layers share (parse_policy_name, ...) are importable but not listed (see __dir__).
__all__ = ["DTypePolicy", "DTypePolicyMap", "FloatDTypePolicy", "Int4DTypePolicy",
           "QuantizedDTypePolicy", "deserialize", "get", "serialize"]

# Keras's quantization modes; tensorflux implements "int8" and "int4" (see keras.quantizers).
QUANTIZATION_MODES = ("int8", "float8", "int4", "gptq", "awq")

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


class QuantizedDTypePolicy(DTypePolicy):
    """The policy of a quantized layer, named "<mode>_from_<source>" ("int8_from_float32"):
    its float weights and computations follow the source policy, and `quantization_mode`
    tells the layer to keep its kernel quantized (`layer.quantize(mode)` sets it).

    >>> from tensorflux import keras
    >>> policy = keras.dtype_policies.get("int8_from_mixed_bfloat16")
    >>> policy, policy.quantization_mode, policy.compute_dtype
    (<QuantizedDTypePolicy "int8_from_mixed_bfloat16">, 'int8', 'bfloat16')
    """

    def __init__(self, mode, source_name=None):
        if source_name is None:
            source_name = dtype_policy().name
        super().__init__(source_name)
        if mode not in QUANTIZATION_MODES:
            raise ValueError(f"Invalid quantization mode. Expected one of "
                             f"{QUANTIZATION_MODES}. Received: mode={mode}")
        if mode == "int8" and self._compute_dtype == "float16":
            raise ValueError(f"Quantization mode='{mode}' doesn't work well with "
                             "compute_dtype='float16'.")
        self._name = f"{mode}_from_{source_name}"
        self._source_name = source_name
        self._quantization_mode = mode

    def get_config(self):
        return {"mode": self._quantization_mode, "source_name": self._source_name}

    def __repr__(self):
        return f'<{type(self).__name__} "{self._name}">'

    def __eq__(self, other):
        return type(other) is type(self) and self._name == other._name

    def __hash__(self):
        return hash((type(self).__name__, self._name))


class Int4DTypePolicy(QuantizedDTypePolicy):
    """The policy of an int4 layer, whose mode names its group size: "int4/128" (groups of
    128 input rows) or "int4/-1" (one scale per output unit).

    >>> from tensorflux import keras
    >>> keras.dtype_policies.get("int4/64_from_float32").block_size
    64
    """

    def __init__(self, mode, source_name=None):
        base, sep, size = mode.partition("/")
        if base != "int4" or not sep or "/" in size:
            raise ValueError("Invalid mode for Int4DTypePolicy. Expected format "
                             f"'int4/<block_size>', but got '{mode}'.")
        try:
            block_size = int(size)
        except ValueError:
            raise ValueError("Invalid mode for Int4DTypePolicy. <block_size> must be an "
                             f"integer. Expected format 'int4/<block_size>', but got "
                             f"'{mode}'.") from None
        if block_size < -1 or block_size == 0:
            raise ValueError("Invalid block_size in mode. Supported values are -1 "
                             "(per-channel) or a positive integer (sub-channel), but got "
                             f"{block_size} from '{mode}'.")
        super().__init__("int4", source_name)
        self._name = f"{mode}_from_{self._source_name}"
        self.mode = "int4"
        self.block_size = block_size

    def get_config(self):
        return {"mode": f"int4/{self.block_size}", "source_name": self._source_name}


class DTypePolicyMap(DTypePolicy, MutableMapping):
    """Policies by layer path, given to a layer as its `dtype` (Keras passes it on to the
    sublayers it makes): each layer takes the entry for its `path` once it has one, that is
    the key equal to the path or else the one key that matches it as a regular expression
    ("encoder/.*"), and `default_policy` when none does. Keras writes the policies of a
    partly quantized block this way.

    >>> from tensorflux import keras
    >>> policies = keras.dtype_policies.DTypePolicyMap(default_policy="float32")
    >>> policies["block/.*"] = "bfloat16"
    >>> policies["block/dense"].name, policies["head"].name, policies.name
    ('bfloat16', 'float32', 'map_float32')
    """

    def __init__(self, default_policy=None, policy_map=None):
        if isinstance(default_policy, DTypePolicyMap):
            raise ValueError("`default_policy` cannot be a `DTypePolicyMap`.")
        if policy_map is not None and not isinstance(policy_map, dict):
            raise TypeError("If specified, `policy_map` must be a dict. Received: "
                            f"policy_map={policy_map} of type {type(policy_map)}")
        # (None is kept as given: the saved map then follows the global policy on loading)
        self._default_policy_arg = default_policy
        self._default_policy = get(default_policy)
        self._policy_map = {}
        for key, policy in (policy_map or {}).items():
            self[key] = policy

    @property
    def name(self):
        return f"map_{self._default_policy.name}"

    @property
    def default_policy(self):
        """The policy of the paths no key matches (the global one when none was given)."""
        return self._default_policy

    @property
    def compute_dtype(self):
        return self._default_policy.compute_dtype

    @property
    def variable_dtype(self):
        return self._default_policy.variable_dtype

    @property
    def quantization_mode(self):
        return self._default_policy.quantization_mode

    def __getitem__(self, path):
        policy = self._policy_map.get(path)
        if policy is not None:
            return policy
        matches = [key for key in self._policy_map if re.fullmatch(key, path)]
        if len(matches) > 1:
            raise ValueError(f"Path '{path}' matches multiple dtype policy specification "
                             f"keys: {matches}. Please make sure each path only matches at "
                             "most one dtype policy specification key in the DTypePolicyMap.")
        return self._policy_map[matches[0]] if matches else self._default_policy

    def __setitem__(self, key, policy):
        if key in self._policy_map:
            raise ValueError(f"{key} already exist in the DTypePolicyMap with value "
                             f"{self._policy_map[key]}. Please make sure to not use "
                             "duplicated keys.")
        try:
            policy = get(policy)
        except Exception as error:  # noqa: BLE001 - any value get() refuses says the same
            raise ValueError("Cannot interpret the assigned value by "
                             f"`keras.dtype_policies.get`. Received: {policy} of type "
                             f"{type(policy)}") from error
        self._policy_map[key] = policy

    def __delitem__(self, key):
        del self._policy_map[key]

    def __contains__(self, key):
        return key in self._policy_map

    def __iter__(self):
        return iter(self._policy_map)

    def __len__(self):
        return len(self._policy_map)

    def get_config(self):
        # As Keras writes it: a map made without a default saves its entries without their
        # float dtypes ("name": None, "source_name": None), to follow the global policy
        # where it is loaded.
        default = self._default_policy_arg
        deferred = default is None
        return {"default_policy": serialize(default) if isinstance(default, DTypePolicy)
                else default,
                "policy_map": {key: serialize(policy, _deferred=deferred)
                               for key, policy in self._policy_map.items()}}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        entries = config.get("policy_map") or {}
        if not isinstance(entries, dict):
            raise TypeError("A DTypePolicyMap config's `policy_map` must be a dict. Received: "
                            f"{entries!r}")
        config["policy_map"] = {key: deserialize(entry, custom_objects)
                                if isinstance(entry, dict) else entry
                                for key, entry in entries.items()}
        return cls(**config)

    def __repr__(self):
        mapping = [(key, policy.name) for key, policy in self._policy_map.items()]
        return (f"<DTypePolicyMap at {hex(id(self))} default_policy="
                f"{self._default_policy.name}, mapping={mapping}>")

    def __eq__(self, other):
        return (isinstance(other, DTypePolicyMap)
                and self._default_policy == other._default_policy
                and self._policy_map == other._policy_map)

    __hash__ = None  # (mutable, as dicts are)


def _quantized_policy(name):
    """The quantized policy a name such as "int8_from_float32" describes."""
    mode, sep, source = name.partition("_from_")
    if not sep or "_from_" in source:
        raise ValueError("Cannot convert `policy` into a valid pair (`mode`, `source_name`) "
                         f"to instantiate `QuantizedDTypePolicy`. Received: policy={name}")
    if mode.startswith("int4/"):
        return Int4DTypePolicy(mode, source)
    return QuantizedDTypePolicy(mode, source)


def is_quantized_name(name):
    """Whether a policy name (or config dict) names a quantized policy."""
    if isinstance(name, dict):
        return name.get("class_name") in ("QuantizedDTypePolicy", "Int4DTypePolicy")
    # (a bare "int8" stays the plain dtype policy it has always been here)
    return isinstance(name, str) and name.startswith(QUANTIZATION_MODES) and "_from_" in name


_ALL_OBJECTS = {"DTypePolicy": DTypePolicy, "FloatDTypePolicy": FloatDTypePolicy,
                "Policy": DTypePolicy, "QuantizedDTypePolicy": QuantizedDTypePolicy,
                "Int4DTypePolicy": Int4DTypePolicy, "DTypePolicyMap": DTypePolicyMap}

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
        policy = get(policy)
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


def serialize(dtype_policy, _deferred=False):
    """Keras 3's dict form: {"module": "keras", "class_name": "DTypePolicy", ...} (a
    quantized policy's or a map's module is "keras.dtype_policies", as Keras writes it).
    `_deferred` leaves the float dtypes out, as a DTypePolicyMap without a default does."""
    policy = dtype_policy
    config = policy.get_config()
    if isinstance(policy, DTypePolicyMap):
        return {"module": "keras.dtype_policies", "class_name": "DTypePolicyMap",
                "config": config, "registered_name": None}
    if isinstance(policy, QuantizedDTypePolicy):
        if _deferred:
            config["source_name"] = None
        return {"module": "keras.dtype_policies", "class_name": type(policy).__name__,
                "config": config, "registered_name": None}
    if _deferred:
        config["name"] = None
    return {"module": "keras", "class_name": "DTypePolicy", "config": config,
            "registered_name": None}


def deserialize(config, custom_objects=None):
    """A DTypePolicy from serialize's dict (classes from an allowlist only). As in Keras, a
    string is returned as it is ("mixed_float16"), unless it names a policy class, which
    gives that class's default policy; None gives None."""
    if config is None:
        return None
    if isinstance(config, str):
        if custom_objects and custom_objects.get(config) is not None:
            return custom_objects[config]
        cls = _ALL_OBJECTS.get(config)
        return config if cls is None else cls.from_config({})
    if not isinstance(config, dict):
        raise ValueError(f"Could not interpret dtype policy config: {config!r}")
    name = config.get("class_name", "DTypePolicy")
    cls = (custom_objects or {}).get(name) or _ALL_OBJECTS.get(name)
    if cls is None:
        raise ValueError(f"Could not interpret dtype policy class {name!r}; tensorflux knows "
                         f"{sorted(_ALL_OBJECTS)}")
    if cls is DTypePolicyMap:
        return cls.from_config(dict(config.get("config") or {}), custom_objects)
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
        if is_quantized_name(identifier):
            return _quantized_policy(identifier)
        return DTypePolicy(identifier)
    try:
        return DTypePolicy(backend.standardize_dtype(identifier))
    except (TypeError, ValueError) as error:
        raise ValueError("Cannot interpret `dtype` argument. Expected a string or an instance "
                         f"of DTypePolicy. Received: dtype={identifier}") from error


def __dir__():
    return sorted(__all__)
