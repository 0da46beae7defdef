"""tf.distribute: data-parallel training strategies. Loaded on first use of `tf.distribute`.

Notebook code that looks for a TPU and falls back runs as it is: TPUClusterResolver raises
TensorFlow's ValueError, MirroredStrategy() is one replica on this machine's GPU or CPU, and
`strategy.scope()` + `model.fit` train exactly as without a strategy. Several machines or GPUs
train with MultiWorkerMirroredStrategy, one process each, launched by `mpirun`.
"""

from tensorflux.distribute import cluster_resolver, experimental
from tensorflux.distribute.collective import Communicator, MPICommunicator
from tensorflux.distribute.distribute_lib import (
    InputContext,
    InputOptions,
    InputReplicationMode,
    ReduceOp,
    ReplicaContext,
    Strategy,
    StrategyExtended,
    experimental_set_strategy,
    get_replica_context,
    get_strategy,
    has_strategy,
    in_cross_replica_context,
)
from tensorflux.distribute.distribute_lib import (  # what Keras's optimizers ask
    _multi_worker_replica as _multi_worker_replica,
)
from tensorflux.distribute.input_lib import DistributedDataset, DistributedIterator
from tensorflux.distribute.strategies import (
    CrossDeviceOps,
    HierarchicalCopyAllReduce,
    MirroredStrategy,
    MultiWorkerMirroredStrategy,
    NcclAllReduce,
    OneDeviceStrategy,
    ReductionToOneDevice,
    TPUStrategy,
)

__all__ = ["cluster_resolver", "experimental", "Communicator", "MPICommunicator",
           "InputContext", "InputOptions", "InputReplicationMode", "ReduceOp", "ReplicaContext",
           "Strategy", "StrategyExtended", "DistributedDataset", "DistributedIterator",
           "experimental_set_strategy", "get_replica_context", "get_strategy", "has_strategy",
           "in_cross_replica_context", "MirroredStrategy", "MultiWorkerMirroredStrategy",
           "OneDeviceStrategy", "TPUStrategy", "CrossDeviceOps", "HierarchicalCopyAllReduce",
           "NcclAllReduce", "ReductionToOneDevice"]
