"""A pickle reader that never imports `pickle` and never calls anything a file names.

The IMDB/Reuters `.npz` files store ragged int lists as NumPy object arrays and the CIFAR
batches are pickled dicts holding a uint8 array; both need pickle's format. This interpreter
understands only the opcodes that data made of ints, floats, strings, bytes, None/bools,
lists, tuples and dicts uses, plus NumPy's array protocol (`_reconstruct` + BUILD, `dtype`,
`_frombuffer`, `_codecs.encode` for protocol-2 bytes), which it evaluates itself with
NumPy. Any other opcode or global (os.system, builtins.eval, ...) is refused with
UnsafePickleError before anything runs.
"""

import struct

import numpy as np

__all__ = ["UnsafePickleError", "load_npz", "loads"]

MAX_ELEMENTS = 1 << 31


class UnsafePickleError(ValueError):
    """The stream holds something this reader refuses to rebuild."""


class _Global:
    def __init__(self, name):
        self.name = name


_RECONSTRUCT = _Global("_reconstruct")
_NDARRAY = _Global("ndarray")
_DTYPE = _Global("dtype")
_ENCODE = _Global("encode")
_FROMBUFFER = _Global("_frombuffer")
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _DTYPE,
    ("_codecs", "encode"): _ENCODE,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
}


class _PendingArray:
    """`_reconstruct(ndarray, ...)`'s empty array, filled in by BUILD."""

    def __init__(self):
        self.value = None


class _PendingDtype:
    def __init__(self, typestr):
        self.typestr = typestr
        self.value = None


class _Mark:
    pass


_MARK = _Mark()


def _as_text(value):
    return value.decode("latin1") if isinstance(value, (bytes, bytearray)) else value


def _dtype_of(value):
    if isinstance(value, _PendingDtype):
        value = value.value if value.value is not None else np.dtype(value.typestr)
    if not isinstance(value, np.dtype):
        raise UnsafePickleError(f"Expected a dtype in the array's state, found {type(value)}.")
    return value


def _make_dtype(args):
    if not isinstance(args, tuple) or not args:
        raise UnsafePickleError("Malformed numpy.dtype arguments.")
    typestr = _as_text(args[0])
    if not isinstance(typestr, str) or len(typestr) > 8:
        raise UnsafePickleError(f"Unexpected dtype spelling {typestr!r}.")
    try:
        dtype = np.dtype(typestr)
    except TypeError as error:
        raise UnsafePickleError(f"Unknown dtype {typestr!r}.") from error
    if dtype.fields is not None or dtype.subdtype is not None:
        raise UnsafePickleError("Structured dtypes are refused.")
    return _PendingDtype(typestr)


def _build_dtype(pending, state):
    if not isinstance(state, tuple) or len(state) < 5:
        raise UnsafePickleError("Malformed dtype state.")
    order = _as_text(state[1])
    if any(part is not None for part in state[2:5]):
        raise UnsafePickleError("Structured or subarray dtypes are refused.")
    dtype = np.dtype(pending.typestr)
    if order in ("<", ">") and dtype.itemsize > 1:
        dtype = dtype.newbyteorder(order)
    pending.value = dtype


def _count(shape):
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise UnsafePickleError(f"Malformed array shape {shape!r}.")
    total = 1
    for dim in shape:
        total *= dim
    if total > MAX_ELEMENTS:
        raise UnsafePickleError(f"Array shape {shape} is too large.")
    return total


def _build_array(pending, state):
    if not isinstance(state, tuple) or len(state) not in (4, 5):
        raise UnsafePickleError("Malformed ndarray state.")
    if len(state) == 5:
        state = state[1:]
    shape, dtype, fortran, data = state
    dtype = _dtype_of(dtype)
    size = _count(shape)
    order = "F" if fortran else "C"
    if dtype.hasobject:
        if not isinstance(data, list) or len(data) != size:
            raise UnsafePickleError("An object array's items do not match its shape.")
        array = np.empty(size, dtype=object)
        for k, item in enumerate(data):
            array[k] = item
        pending.value = array.reshape(shape, order=order)
        return
    if isinstance(data, str):
        data = data.encode("latin1")
    if not isinstance(data, (bytes, bytearray)) or len(data) != size * dtype.itemsize:
        raise UnsafePickleError(f"An array of shape {shape} and dtype {dtype} needs "
                                f"{size * dtype.itemsize} bytes of data.")
    pending.value = np.frombuffer(bytes(data), dtype=dtype).reshape(shape, order=order).copy()


def _reduce(func, args):
    if not isinstance(args, tuple):
        raise UnsafePickleError("REDUCE needs a tuple of arguments.")
    if func is _RECONSTRUCT:
        if len(args) != 3 or args[0] is not _NDARRAY:
            raise UnsafePickleError("_reconstruct may only rebuild numpy.ndarray.")
        _count(args[1])
        return _PendingArray()
    if func is _DTYPE:
        return _make_dtype(args)
    if func is _ENCODE:
        if len(args) != 2 or not isinstance(args[0], str) or args[1] != "latin1":
            raise UnsafePickleError("_codecs.encode is only accepted as encode(str, 'latin1').")
        return args[0].encode("latin1")
    if func is _FROMBUFFER:
        if len(args) != 4:
            raise UnsafePickleError("Malformed _frombuffer arguments.")
        buffer, dtype, shape, order = args
        dtype = _dtype_of(dtype)
        size = _count(shape)
        if not isinstance(buffer, (bytes, bytearray)) or dtype.hasobject or \
                len(buffer) != size * dtype.itemsize:
            raise UnsafePickleError("Malformed _frombuffer arguments.")
        return np.frombuffer(bytes(buffer), dtype=dtype).reshape(
            shape, order="F" if _as_text(order) == "F" else "C").copy()
    raise UnsafePickleError(f"Refusing to call {getattr(func, 'name', type(func).__name__)}.")


_CONTAINERS = (list, tuple, dict)


def _resolve(value):
    """Replaces built arrays' placeholders by the arrays, through lists, tuples and dicts;
    containers without placeholders are returned as they are (no copy)."""
    if isinstance(value, (_PendingArray, _PendingDtype)):
        if value.value is None:
            raise UnsafePickleError("An array or dtype was never given its state.")
        return value.value
    if isinstance(value, _Global):
        raise UnsafePickleError(f"A bare reference to {value.name} is refused.")
    if isinstance(value, dict):
        return {_resolve(k): _resolve(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        changed = None
        for k, item in enumerate(value):
            if isinstance(item, (_PendingArray, _PendingDtype, _Global) + _CONTAINERS):
                new = _resolve(item)
                if new is not item:
                    if changed is None:
                        changed = list(value)
                    changed[k] = new
        if changed is None:
            return value
        return changed if isinstance(value, list) else tuple(changed)
    return value


class _Reader:
    def __init__(self, data, encoding):
        self.data = memoryview(data)
        self.pos = 0
        self.encoding = encoding

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise UnsafePickleError("Truncated pickle stream.")
        chunk = self.data[self.pos:self.pos + n].tobytes()
        self.pos += n
        return chunk

    def line(self):
        end = bytes(self.data[self.pos:]).find(b"\n")
        if end < 0:
            raise UnsafePickleError("Truncated pickle stream.")
        return self.take(end + 1)[:-1]

    def string(self, raw):
        if self.encoding == "bytes":
            return raw
        return raw.decode(self.encoding)


def _pop_mark(stack):
    for k in range(len(stack) - 1, -1, -1):
        if stack[k] is _MARK:
            items = stack[k + 1:]
            del stack[k:]
            return items
    raise UnsafePickleError("MARK expected on the stack.")


def _pop(stack):
    if not stack or stack[-1] is _MARK:
        raise UnsafePickleError("Stack underflow.")
    return stack.pop()


def loads(data, encoding="ASCII"):
    """Rebuilds a pickle made of plain data and NumPy arrays (see the module docstring).

    `encoding` decodes Python 2 `str` objects ("bytes" keeps them as bytes), as in
    `pickle.loads`.
    """
    r = _Reader(data, encoding)
    stack, memo = [], {}
    unpack = struct.unpack
    while True:
        op = r.take(1)[0]
        if op == 0x80:  # PROTO
            r.take(1)
        elif op == 0x95:  # FRAME
            r.take(8)
        elif op == 0x2E:  # STOP
            if len(stack) != 1:
                raise UnsafePickleError("Malformed pickle: STOP with a bad stack.")
            return _resolve(stack[0])
        elif op == 0x28:  # MARK
            stack.append(_MARK)
        elif op == 0x5D:  # EMPTY_LIST
            stack.append([])
        elif op == 0x7D:  # EMPTY_DICT
            stack.append({})
        elif op == 0x29:  # EMPTY_TUPLE
            stack.append(())
        elif op == 0x6C:  # LIST
            stack.append(list(_pop_mark(stack)))
        elif op == 0x74:  # TUPLE
            stack.append(tuple(_pop_mark(stack)))
        elif op in (0x85, 0x86, 0x87):  # TUPLE1..3
            n = op - 0x84
            if len(stack) < n or any(v is _MARK for v in stack[-n:]):
                raise UnsafePickleError("Stack underflow.")
            items = tuple(stack[-n:])
            del stack[-n:]
            stack.append(items)
        elif op == 0x64:  # DICT
            items = _pop_mark(stack)
            stack.append(dict(zip(items[::2], items[1::2])))
        elif op == 0x61:  # APPEND
            item = _pop(stack)
            target = stack[-1] if stack else None
            if not isinstance(target, list):
                raise UnsafePickleError("APPEND on a non-list.")
            target.append(item)
        elif op == 0x65:  # APPENDS
            items = _pop_mark(stack)
            if not stack or not isinstance(stack[-1], list):
                raise UnsafePickleError("APPENDS on a non-list.")
            stack[-1].extend(items)
        elif op in (0x73, 0x75):  # SETITEM, SETITEMS
            if op == 0x73:
                value = _pop(stack)
                items = [_pop(stack), value]
            else:
                items = _pop_mark(stack)
            if not stack or not isinstance(stack[-1], dict) or len(items) % 2:
                raise UnsafePickleError("SETITEM(S) on a non-dict.")
            for key, value in zip(items[::2], items[1::2]):
                if isinstance(key, (list, dict)):
                    raise UnsafePickleError("Unhashable dict key.")
                stack[-1][key] = value
        elif op == 0x4A:  # BININT
            stack.append(unpack("<i", r.take(4))[0])
        elif op == 0x4B:  # BININT1
            stack.append(r.take(1)[0])
        elif op == 0x4D:  # BININT2
            stack.append(unpack("<H", r.take(2))[0])
        elif op in (0x8A, 0x8B):  # LONG1, LONG4
            n = r.take(1)[0] if op == 0x8A else unpack("<i", r.take(4))[0]
            if n > 64:
                raise UnsafePickleError("Integer too long.")
            stack.append(int.from_bytes(r.take(n), "little", signed=True))
        elif op == 0x49:  # INT (protocol 0; "01"/"00" are True/False)
            text = r.line()
            stack.append(text == b"01" if text in (b"01", b"00") else int(text))
        elif op == 0x4C:  # LONG (protocol 0)
            stack.append(int(r.line().rstrip(b"L")))
        elif op == 0x47:  # BINFLOAT
            stack.append(unpack(">d", r.take(8))[0])
        elif op == 0x4E:  # NONE
            stack.append(None)
        elif op == 0x88:
            stack.append(True)
        elif op == 0x89:
            stack.append(False)
        elif op == 0x55:  # SHORT_BINSTRING (Python 2 str)
            stack.append(r.string(r.take(r.take(1)[0])))
        elif op == 0x54:  # BINSTRING
            stack.append(r.string(r.take(unpack("<i", r.take(4))[0])))
        elif op == 0x43:  # SHORT_BINBYTES
            stack.append(r.take(r.take(1)[0]))
        elif op == 0x42:  # BINBYTES
            stack.append(r.take(unpack("<I", r.take(4))[0]))
        elif op == 0x8E:  # BINBYTES8
            stack.append(r.take(unpack("<Q", r.take(8))[0]))
        elif op == 0x96:  # BYTEARRAY8
            stack.append(bytearray(r.take(unpack("<Q", r.take(8))[0])))
        elif op == 0x8C:  # SHORT_BINUNICODE
            stack.append(r.take(r.take(1)[0]).decode("utf-8", "surrogatepass"))
        elif op == 0x58:  # BINUNICODE
            stack.append(r.take(unpack("<I", r.take(4))[0]).decode("utf-8", "surrogatepass"))
        elif op == 0x8D:  # BINUNICODE8
            stack.append(r.take(unpack("<Q", r.take(8))[0]).decode("utf-8", "surrogatepass"))
        elif op in (0x71, 0x72, 0x94, 0x70):  # BINPUT, LONG_BINPUT, MEMOIZE, PUT
            if not stack:
                raise UnsafePickleError("Stack underflow.")
            if op == 0x71:
                key = r.take(1)[0]
            elif op == 0x72:
                key = unpack("<I", r.take(4))[0]
            elif op == 0x70:
                key = int(r.line())
            else:
                key = len(memo)
            memo[key] = stack[-1]
        elif op in (0x68, 0x6A, 0x67):  # BINGET, LONG_BINGET, GET
            if op == 0x68:
                key = r.take(1)[0]
            elif op == 0x6A:
                key = unpack("<I", r.take(4))[0]
            else:
                key = int(r.line())
            if key not in memo:
                raise UnsafePickleError("Memo key not found.")
            stack.append(memo[key])
        elif op in (0x63, 0x93):  # GLOBAL, STACK_GLOBAL
            if op == 0x63:
                module, name = r.line().decode("ascii", "replace"), \
                    r.line().decode("ascii", "replace")
            else:
                name, module = _pop(stack), _pop(stack)
            found = _ALLOWED.get((module, name))
            if found is None:
                raise UnsafePickleError(f"Refusing to load `{module}.{name}`: only NumPy "
                                        "array reconstruction is allowed in dataset files. "
                                        "The file may be corrupted or malicious.")
            stack.append(found)
        elif op == 0x52:  # REDUCE
            args = _pop(stack)
            func = _pop(stack)
            stack.append(_reduce(func, args))
        elif op == 0x62:  # BUILD
            state = _resolve_state(_pop(stack))
            target = stack[-1] if stack else None
            if isinstance(target, _PendingArray) and target.value is None:
                _build_array(target, state)
            elif isinstance(target, _PendingDtype) and target.value is None:
                _build_dtype(target, state)
            else:
                raise UnsafePickleError("BUILD is only accepted on NumPy arrays and dtypes.")
        else:
            raise UnsafePickleError(f"Refusing pickle opcode {bytes([op])!r} at byte "
                                    f"{r.pos - 1}.")


def _resolve_state(state):
    """A BUILD state's dtype placeholder stays as is; nested finished arrays are resolved."""
    if isinstance(state, tuple):
        return tuple(v if isinstance(v, _PendingDtype) else _resolve(v) for v in state)
    return _resolve(state)


def _read_npy(raw, name):
    """One `.npy` member: numeric arrays through NumPy with pickle disabled, object arrays
    through `loads`."""
    import io

    buffer = io.BytesIO(raw)
    try:
        return np.lib.format.read_array(buffer, allow_pickle=False)
    except ValueError as error:
        if "allow_pickle" not in str(error):
            raise
    buffer.seek(0)
    version = np.lib.format.read_magic(buffer)
    if version[0] == 1:
        shape, _, dtype = np.lib.format.read_array_header_1_0(buffer)
    elif version[0] in (2, 3):
        shape, _, dtype = np.lib.format.read_array_header_2_0(buffer)
    else:
        raise ValueError(f"Unsupported .npy version {version} in member '{name}'.")
    array = loads(raw[buffer.tell():], encoding="latin1")
    if not isinstance(array, np.ndarray) or array.shape != tuple(shape) or \
            array.dtype != dtype:
        raise UnsafePickleError(f"Member '{name}' does not hold the array its header "
                                "describes.")
    return array


def load_npz(path):
    """{name: array} from an `.npz`, object arrays included, without pickle."""
    import zipfile

    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if member.endswith(".npy"):
                with archive.open(member) as raw:
                    arrays[member[:-4]] = _read_npy(raw.read(), member)
    return arrays
