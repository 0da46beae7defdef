"""The strategies: OneDeviceStrategy and MirroredStrategy (one replica, on one device of this
process), MultiWorkerMirroredStrategy (one replica per process, over MPI) and TPUStrategy
(which fails as TensorFlow's does off a TPU)."""

import enum
import json
import os
import re

from tensorflux.distribute import collective
from tensorflux.distribute.cluster_resolver import ClusterResolver
from tensorflux.distribute.distribute_lib import Strategy, StrategyExtended

__all__ = ["OneDeviceStrategy", "MirroredStrategy", "MultiWorkerMirroredStrategy",
           "TPUStrategy", "CommunicationImplementation", "CommunicationOptions",
           "CrossDeviceOps", "HierarchicalCopyAllReduce", "NcclAllReduce",
           "ReductionToOneDevice"]

_DEVICE = re.compile(r"^(?:.*/)?(?:device:)?(CPU|GPU)(?::(\d+))?$", re.IGNORECASE)


def _canonical_device(device):
    """TensorFlow's full device name: '/gpu:0' -> '/job:localhost/replica:0/task:0/device:GPU:0'."""
    match = _DEVICE.match(str(device).strip())
    if match is None:
        raise ValueError(f"Unknown device {device!r}: expected a name like '/cpu:0', "
                         "'GPU:0' or '/job:localhost/replica:0/task:0/device:GPU:0'")
    kind, index = match.group(1).upper(), int(match.group(2) or 0)
    return f"/job:localhost/replica:0/task:0/device:{kind}:{index}"


def _local_devices():
    """This process's devices as MirroredStrategy takes them: its GPUs, else the CPU."""
    from tensorflux import config

    gpus = config.list_logical_devices("GPU")
    return [d.name for d in gpus] or ["/device:CPU:0"]


class OneDeviceStrategy(Strategy):
    """One replica on `device`: variables made in its scope and functions it runs are
    placed there.

    >>> import tensorflux as tf
    >>> tf.distribute.OneDeviceStrategy("/cpu:0").extended.worker_devices
    ('/job:localhost/replica:0/task:0/device:CPU:0',)
    """

    def __init__(self, device):
        name = _canonical_device(device)
        super().__init__(StrategyExtended(self, [name], device=name))


class MirroredStrategy(Strategy):
    """Synchronous training on this process's devices (by default its GPUs, else the CPU).

    With one device, which is what a CPU machine or a one-GPU machine gives, there is one
    replica and training is exactly as without a strategy. Several devices in one process are
    not supported: run one process per GPU with MultiWorkerMirroredStrategy under mpirun.

    >>> import tensorflux as tf
    >>> tf.distribute.MirroredStrategy(["/cpu:0"]).num_replicas_in_sync
    1
    """

    def __init__(self, devices=None, cross_device_ops=None):
        names = [_canonical_device(d) for d in (_local_devices() if devices is None
                                                 else devices)]
        names = list(dict.fromkeys(names))
        if not names:
            raise ValueError("MirroredStrategy needs at least one device; received devices="
                             f"{devices!r}")
        if len(names) > 1:
            raise NotImplementedError(
                f"MirroredStrategy over several devices ({', '.join(names)}) is not supported: "
                "tensorflux runs one replica per process. Run one process per GPU with "
                "tf.distribute.MultiWorkerMirroredStrategy() under `mpirun -n <GPUs>`, or pass "
                "one device.")
        super().__init__(StrategyExtended(self, names, device=names[0]))


class CrossDeviceOps:
    """How MirroredStrategy combines values across the devices of one process
    (cross_device_ops=...). With one replica per process there is nothing to combine, so the
    subclasses are accepted and only recorded, for TF scripts that pass one."""

    def __init__(self, **options):
        self.options = options

    def __repr__(self):
        return f"{type(self).__name__}({self.options})"


class NcclAllReduce(CrossDeviceOps):
    def __init__(self, num_packs=1):
        super().__init__(num_packs=num_packs)


class HierarchicalCopyAllReduce(CrossDeviceOps):
    def __init__(self, num_packs=1):
        super().__init__(num_packs=num_packs)


class ReductionToOneDevice(CrossDeviceOps):
    def __init__(self, reduce_to_device=None, accumulation_fn=None):
        super().__init__(reduce_to_device=reduce_to_device, accumulation_fn=accumulation_fn)


class CommunicationImplementation(enum.Enum):
    """Which collective implementation to prefer; tensorflux always uses MPI."""

    AUTO = "AUTO"
    RING = "RING"
    NCCL = "NCCL"


class CommunicationOptions:
    """Options for a strategy's collectives (accepted; tensorflux's MPI transport has no
    settings to tune).

    >>> from tensorflux import distribute
    >>> distribute.experimental.CommunicationOptions(implementation="RING")
    Options(bytes_per_pack=0,timeout_seconds=None, implementation=CommunicationImplementation.RING)
    """

    def __init__(self, bytes_per_pack=0, timeout_seconds=None,
                 implementation=CommunicationImplementation.AUTO):
        if not isinstance(bytes_per_pack, int) or bytes_per_pack < 0:
            raise ValueError(f"bytes_per_pack must be a non-negative integer, received "
                             f"{bytes_per_pack!r}")
        if isinstance(implementation, str):
            implementation = CommunicationImplementation(implementation.upper())
        if not isinstance(implementation, CommunicationImplementation):
            raise ValueError("implementation should be a tf.distribute.experimental."
                             f"CommunicationImplementation, received {implementation!r}")
        self.bytes_per_pack = bytes_per_pack
        self.timeout_seconds = timeout_seconds
        self.implementation = implementation

    def __repr__(self):
        return (f"Options(bytes_per_pack={self.bytes_per_pack},timeout_seconds="
                f"{self.timeout_seconds}, implementation={self.implementation})")


class MultiWorkerMirroredStrategy(Strategy):
    """Synchronous data parallelism with one replica per process: launch the same script
    with `mpirun -n N python script.py` (mpi4py: `pip install tensorflux[distributed]`).

    Each process is one replica (worker `rank` of `num_replicas_in_sync`): `model.fit` starts
    every worker from worker 0's weights, trains each on its part of every global batch (the
    `batch_size` is global), averages the gradients over all the examples before each
    optimizer step, and combines metrics at each epoch's end, so the workers stay identical
    and the History matches one process training on the whole batches. In custom loops,
    `optimizer.apply_gradients` inside `strategy.run` sums the gradients over the workers, as
    TensorFlow's does (scale the loss with tf.nn.compute_average_loss).

    Started without an MPI launcher it is one worker, like OneDeviceStrategy. `communicator`
    (a tensorflux extension) gives another transport: a collective.Communicator.
    """

    def __init__(self, cluster_resolver=None, communication_options=None, communicator=None):
        if communication_options is None:
            communication_options = CommunicationOptions()
        self._communication_options = communication_options
        if communicator is None:
            communicator = _process_communicator()
        self._resolver = cluster_resolver or ClusterResolver(
            *(("worker", communicator.rank) if communicator.size > 1 else (None, None)))
        device = _local_devices()[0]
        super().__init__(StrategyExtended(
            self, [_canonical_device(device)],
            communicator=communicator if communicator.size > 1 else None))

    @property
    def cluster_resolver(self):
        return self._resolver


def _process_communicator():
    """MPI's world when an MPI launcher started this process, else a lone worker."""
    if collective.launched_by_mpi():
        return collective.MPICommunicator()
    config = os.environ.get("TF_CONFIG")
    if config:
        try:
            tasks = sum(len(v) for v in json.loads(config).get("cluster", {}).values())
        except (ValueError, AttributeError, TypeError):
            tasks = 0
        if tasks > 1:
            raise NotImplementedError(
                "TF_CONFIG describes a cluster of several tasks, but tensorflux's "
                "MultiWorkerMirroredStrategy connects its workers with MPI: start them with "
                "`mpirun -n <workers> python script.py` (and unset TF_CONFIG).")
    return collective.Communicator()


class TPUStrategy(Strategy):
    """TensorFlow's TPU strategy, which fails here with TensorFlow's off-TPU ValueError."""

    def __init__(self, tpu_cluster_resolver=None, experimental_device_assignment=None,
                 experimental_spmd_xla_partitioning=False):
        if tpu_cluster_resolver is None:
            raise ValueError("Please provide a TPU Name to connect to.")
        raise ValueError("TPUStrategy needs a TPU, and tensorflux runs on CPUs and NVIDIA GPUs "
                         "only: use tf.distribute.MirroredStrategy() or "
                         f"tf.distribute.get_strategy() (received {tpu_cluster_resolver!r}).")
