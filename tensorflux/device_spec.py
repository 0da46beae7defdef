"""tf.DeviceSpec: a device name ("/job:worker/replica:0/task:1/device:GPU:0") as its fields."""

__all__ = ["DeviceSpec"]

_FIELDS = ("job", "replica", "task", "device_type", "device_index")


def _device_type(value):
    # TensorFlow writes the CPU and GPU types in capitals however they are given.
    if value is None:
        return None
    value = str(value)
    return value.upper() if value.upper() in ("CPU", "GPU") else value


def _optional_int(field, value):
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"DeviceSpec: {field} must be an int, received {value!r}") from None


def _components(spec):
    """The fields a device string names (those it leaves out are absent)."""
    if not isinstance(spec, str):
        raise TypeError(f"DeviceSpec.from_string: expected a string, received {spec!r}")
    found = {}
    for part in spec.split("/"):
        pieces = part.split(":")
        count, head = len(pieces), pieces[0]
        if count == 2 and head in ("job", "replica", "task"):
            found[head] = pieces[1]
        elif count in (1, 2) and head.upper() in ("CPU", "GPU"):
            found["device_type"] = head.upper()
            if count == 2 and pieces[1] != "*":
                found["device_index"] = pieces[1]
        elif count == 3 and head == "device":
            found["device_type"] = pieces[1]
            if pieces[2] != "*":
                found["device_index"] = pieces[2]
        elif head:
            raise ValueError(f"Unknown attribute {head!r} is encountered while parsing the "
                             f"device spec: {spec!r}. Expected parts like /job:NAME, "
                             "/replica:N, /task:N, /device:TYPE:N or /TYPE:N.")
    return found


class DeviceSpec:
    """An immutable device name as fields: job, replica, task, device_type, device_index
    (None where unset; a device_index of None is written "*").

    >>> import tensorflux as tf
    >>> spec = tf.DeviceSpec.from_string("/job:worker/task:1/gpu:0")
    >>> spec.task, spec.device_type, spec.to_string()
    (1, 'GPU', '/job:worker/task:1/device:GPU:0')
    """

    __slots__ = ("_job", "_replica", "_task", "_device_type", "_device_index")

    def __init__(self, job=None, replica=None, task=None, device_type=None,
                 device_index=None):
        self._job = None if job is None else str(job)
        self._replica = _optional_int("replica", replica)
        self._task = _optional_int("task", task)
        self._device_type = _device_type(device_type)
        self._device_index = _optional_int("device_index", device_index)

    @classmethod
    def from_string(cls, spec):
        """The DeviceSpec of a device string such as "/job:ps/task:0/device:CPU:0"."""
        return cls(**_components(spec))

    def parse_from_string(self, spec):
        """A new DeviceSpec of `spec` (DeviceSpecs are immutable, as TensorFlow 2's)."""
        return self.from_string(spec)

    job = property(lambda self: self._job)
    replica = property(lambda self: self._replica)
    task = property(lambda self: self._task)
    device_type = property(lambda self: self._device_type)
    device_index = property(lambda self: self._device_index)

    def _fields(self):
        return tuple(getattr(self, name) for name in _FIELDS)

    def replace(self, **kwargs):
        """A copy with the given fields changed."""
        unknown = sorted(set(kwargs) - set(_FIELDS))
        if unknown:
            raise TypeError(f"DeviceSpec.replace: unknown fields {unknown}; the fields are "
                            f"{list(_FIELDS)}")
        values = dict(zip(_FIELDS, self._fields()))
        values.update(kwargs)
        return DeviceSpec(**values)

    def make_merged_spec(self, dev):
        """A copy with the fields that `dev` (a DeviceSpec) sets taken from it."""
        if not isinstance(dev, DeviceSpec):
            raise TypeError(f"make_merged_spec: expected a DeviceSpec, received {dev!r}")
        return self.replace(**{name: value for name, value in zip(_FIELDS, dev._fields())
                               if value is not None})

    def to_string(self):
        """The device string: "/job:J/replica:R/task:T/device:TYPE:INDEX", unset parts left
        out ("" when nothing is set)."""
        parts = [f"/{name}:{value}" for name, value in
                 (("job", self._job), ("replica", self._replica), ("task", self._task))
                 if value is not None]
        if self._device_type is not None:
            index = "*" if self._device_index is None else self._device_index
            parts.append(f"/device:{self._device_type}:{index}")
        return "".join(parts)

    def __eq__(self, other):
        return isinstance(other, DeviceSpec) and self._fields() == other._fields()

    def __hash__(self):
        return hash(self._fields())

    def __repr__(self):
        return f"<DeviceSpec {self.to_string()!r}>"
