"""Collectives across processes: the Communicator interface that transports them, its MPI
implementation, and the tensor-level operations (all-reduce, gather, broadcast) built on it.

A Communicator moves host arrays only: `allreduce` (a sum) and `broadcast` are all a
multi-worker strategy needs, so another transport (or a test's in-process one) is a small
class. The tensor operations pack their tensors into one flat buffer per dtype with
tensorflux ops and hand the buffers to the communicator in a host call (tf.numpy_function),
so they work eagerly and inside a traced step alike: a training step costs one call, one
all-reduce per gradient dtype. Every process must run the same collectives in the same order.
"""

import os

import tensorflux as tf
from tensorflux import dtypes
from tensorflux.context import context

__all__ = ["Communicator", "MPICommunicator", "launched_by_mpi", "all_reduce", "reduce",
           "gather", "broadcast_variables", "sum_variables", "average_variables"]


class Communicator:
    """The transport of a multi-worker strategy: `rank` (this process) among `size`.

    `allreduce(array)` returns the elementwise sum of every process's `array` (same shape
    and dtype everywhere); `broadcast(array, root)` returns process `root`'s. Arrays are
    C-contiguous NumPy arrays, never modified in place.
    """

    rank = 0
    size = 1

    def allreduce(self, array):
        raise NotImplementedError(f"{type(self).__name__} does not implement allreduce")

    def broadcast(self, array, root=0):
        raise NotImplementedError(f"{type(self).__name__} does not implement broadcast")


class MPICommunicator(Communicator):
    """A Communicator over MPI (mpi4py: `pip install tensorflux[distributed]`); one process
    per replica, started by `mpirun -n N python script.py`."""

    def __init__(self, comm=None):
        try:
            from mpi4py import MPI
        except ImportError as error:
            raise ImportError(
                "MultiWorkerMirroredStrategy under mpirun needs mpi4py and an MPI library: "
                f"pip install tensorflux[distributed] ({error})") from error
        self._mpi = MPI
        self._comm = comm if comm is not None else MPI.COMM_WORLD
        self.rank = self._comm.Get_rank()
        self.size = self._comm.Get_size()

    def allreduce(self, array):
        result = array.copy()
        self._comm.Allreduce(self._mpi.IN_PLACE, result, op=self._mpi.SUM)
        return result

    def broadcast(self, array, root=0):
        result = array.copy()
        self._comm.Bcast(result, root=root)
        return result


# Variables that MPI launchers (MPICH, Open MPI, Intel MPI, MVAPICH, PMIx) set in each process.
_MPI_ENVIRONMENT = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE",
                    "MPI_LOCALNRANKS")


def launched_by_mpi():
    """Whether an MPI launcher started this process (checked without importing mpi4py)."""
    return any(name in os.environ for name in _MPI_ENVIRONMENT)


# ------------------------------------------------------------------ tensor collectives

def _wire_dtype(dtype):
    """The dtype a tensor travels in: MPI has no 16-bit floats or booleans."""
    if dtype in (dtypes.float16, dtypes.bfloat16):
        return dtypes.float32
    if dtype is dtypes.bool:
        return dtypes.int32
    return dtype


def _host_allreduce(communicator, buffers):
    """Sums each flat buffer over the processes, in one host call (eager or traced)."""
    if not buffers:
        return []
    touts = [b.dtype for b in buffers]
    results = tf.numpy_function(
        lambda *arrays: [communicator.allreduce(a) for a in arrays], buffers, Tout=touts)
    return [tf.reshape(r, b.shape.as_list() if b.shape.is_fully_defined() else tf.shape(b))
            for r, b in zip(results, buffers)]


def all_reduce(communicator, tensors, weight=None):
    """The sums over the processes of `tensors` (a list; None entries stay None).

    With `weight` (a scalar: this process's number of examples), the weighted mean instead,
    sum(weight * t) / sum(weight): the mean gradient over every example of the global batch
    when each process's gradient is the mean over its own. A process of weight 0 adds
    nothing, even where its values are not finite (an empty batch's).
    """
    groups = {}
    for index, tensor in enumerate(tensors):
        if tensor is not None:
            groups.setdefault(_wire_dtype(tensor.dtype), []).append(index)
    buffers, layouts = [], []
    for wire, indices in groups.items():
        parts = [tf.reshape(tf.cast(tensors[i], wire), [-1]) for i in indices]
        sizes = [p.shape[0] for p in parts]
        if None in sizes:  # a part of unknown size: one buffer each
            layouts.extend(([i], None) for i in indices)
            buffers.extend(parts)
            continue
        flat = tf.concat(parts, 0) if len(parts) > 1 else parts[0]
        layouts.append((indices, sizes))
        buffers.append(flat)
    if weight is not None:
        buffers = [_weighted(flat, weight) for flat in buffers]
    results = list(tensors)
    for (indices, sizes), flat in zip(layouts, _host_allreduce(communicator, buffers)):
        if weight is not None:
            count = flat.shape[0] - 1 if flat.shape[0] is not None else tf.size(flat) - 1
            flat = flat[:count] / flat[count]
        pieces = tf.split(flat, sizes) if sizes is not None and len(sizes) > 1 else [flat]
        for i, piece in zip(indices, pieces):
            shape = tensors[i].shape
            piece = tf.reshape(piece, shape if shape.is_fully_defined() else
                               tf.shape(tensors[i]))
            results[i] = tf.cast(piece, tensors[i].dtype)
    return results


def _weighted(flat, weight):
    """[weight * flat..., weight], zeros for a weight of 0."""
    weight = tf.cast(weight, flat.dtype)
    scaled = tf.where(weight > 0, flat * weight, tf.zeros_like(flat))
    return tf.concat([scaled, tf.reshape(weight, [1])], 0)


def reduce(communicator, reduce_op, value, axis):
    """"SUM" or "MEAN" of `value` over the processes, then over `axis` (None: elementwise)."""
    value = tf.convert_to_tensor(value)
    if axis is None:
        (total,) = all_reduce(communicator, [value])
        return total if reduce_op == "SUM" else total / tf.cast(communicator.size, total.dtype)
    local = tf.reduce_sum(value, axis=axis)
    if reduce_op == "SUM":
        return all_reduce(communicator, [local])[0]
    count = tf.cast(tf.reduce_prod(tf.gather(tf.shape(value), _axes(axis, value))), local.dtype)
    total, total_count = all_reduce(communicator, [local, count])
    return total / total_count


def _axes(axis, value):
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    rank = value.shape.rank
    return [a + rank if a < 0 else a for a in axes]


def gather(communicator, value, axis):
    """The processes' `value`s concatenated along `axis`, in rank order (their sizes along
    `axis` may differ; their other dimensions may not)."""
    value = tf.convert_to_tensor(value)
    axis = _axes(axis, value)[0]

    def gather_host(array):
        return _gather_arrays(communicator, tf.constant(array), axis).numpy()

    result = tf.numpy_function(gather_host, [value], Tout=value.dtype)
    shape = list(value.shape)
    if all(d is not None for i, d in enumerate(shape) if i != axis):
        shape[axis] = -1
        result = tf.reshape(result, shape)
    return result


def _gather_arrays(communicator, tensor, axis):
    """Eagerly: rank `r` puts its rows (along `axis`) into slot r of a zero buffer padded to
    the longest; one all-reduce of the sizes, one of the buffer, then the padding is cut."""
    rank, size = communicator.rank, communicator.size
    order = [axis] + [a for a in range(tensor.shape.rank) if a != axis]
    moved = tf.transpose(tensor, order) if axis else tensor
    rows = int(moved.shape[0])
    sizes = communicator.allreduce(
        tf.one_hot(rank, size, on_value=rows, off_value=0, dtype=tf.int64).numpy())
    longest = int(sizes.max()) if size else 0
    padded = tf.pad(moved, [[0, longest - rows]] + [[0, 0]] * (moved.shape.rank - 1))
    slots = tf.one_hot(rank, size, dtype=_wire_dtype(tensor.dtype))
    slots = tf.reshape(slots, [size] + [1] * moved.shape.rank)
    buffer = slots * tf.expand_dims(tf.cast(padded, slots.dtype), 0)
    total = tf.constant(communicator.allreduce(buffer.numpy()))
    parts = [total[r, :int(sizes[r])] for r in range(size)]
    joined = tf.cast(tf.concat(parts, 0), tensor.dtype)
    return tf.transpose(joined, [order.index(a) for a in range(len(order))]) if axis else joined


# ------------------------------------------------------------------ variables (eager)

class _Eager:
    """Runs its block eagerly even while a step is being traced (like TF's init_scope)."""

    def __enter__(self):
        self._saved = context.graph, context.tapes
        context.graph, context.tapes = None, []

    def __exit__(self, *exc_info):
        context.graph, context.tapes = self._saved


def _flat_groups(variables, wire_dtype):
    groups = {}
    for variable in variables:
        groups.setdefault(wire_dtype(variable.dtype), []).append(variable)
    for wire, members in groups.items():
        parts = [tf.reshape(tf.cast(v, wire), [-1]) for v in members]
        sizes = [int(p.shape[0]) for p in parts]
        yield members, sizes, (tf.concat(parts, 0) if len(parts) > 1 else parts[0])


def _assign_flat(members, sizes, flat):
    pieces = tf.split(flat, sizes) if len(members) > 1 else [flat]
    for variable, piece in zip(members, pieces):
        variable.assign(tf.cast(tf.reshape(piece, variable.shape), variable.dtype))


def _unique(variables):
    seen, found = set(), []
    for variable in variables:
        if id(variable) not in seen:
            seen.add(id(variable))
            found.append(variable)
    return found


def broadcast_variables(communicator, variables, root=0):
    """Sets every variable to process `root`'s value (the same list on every process)."""
    with _Eager():
        for members, sizes, flat in _flat_groups(_unique(variables), _wire_dtype):
            values = tf.constant(communicator.broadcast(flat.numpy(), root))
            _assign_flat(members, sizes, values)


def _wide(dtype):
    """Sums of counts and float32 totals are exact in float64; integers stay integers."""
    return dtypes.float64 if dtype.is_floating else dtypes.int64


def sum_variables(communicator, variables):
    """Sets every variable to its sum over the processes (metric states: totals, counts)."""
    with _Eager():
        for members, sizes, flat in _flat_groups(_unique(variables), _wide):
            _assign_flat(members, sizes, tf.constant(communicator.allreduce(flat.numpy())))


def average_variables(communicator, variables):
    """Sets every floating variable to its mean over the processes, computed as worker 0's
    value plus the mean difference from it, so that equal values stay bit for bit."""
    floating = [v for v in _unique(variables) if v.dtype.is_floating]
    with _Eager():
        for members, sizes, flat in _flat_groups(floating, _wide):
            first = tf.constant(communicator.broadcast(flat.numpy(), 0))
            spread = tf.constant(communicator.allreduce((flat - first).numpy()))
            _assign_flat(members, sizes, first + spread / communicator.size)
