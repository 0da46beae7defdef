"""tf.distribute.experimental: the collective options and the older names of strategies."""

import warnings

from tensorflux.distribute.distribute_lib import ValueContext
from tensorflux.distribute.strategies import (
    CommunicationImplementation,
    CommunicationOptions,
    MirroredStrategy,
    TPUStrategy,
)
from tensorflux.distribute.strategies import (
    MultiWorkerMirroredStrategy as _MultiWorkerMirroredStrategy,
)

__all__ = ["CentralStorageStrategy", "CommunicationImplementation", "CommunicationOptions",
           "CollectiveCommunication", "MultiWorkerMirroredStrategy", "TPUStrategy",
           "ValueContext"]

CollectiveCommunication = CommunicationImplementation


class CentralStorageStrategy(MirroredStrategy):
    """Variables on one device, computation on the compute devices: with one replica per
    process this is MirroredStrategy on the compute device (several: NotImplementedError,
    as for MirroredStrategy)."""

    def __init__(self, compute_devices=None, parameter_device=None):
        super().__init__(devices=compute_devices)


class MultiWorkerMirroredStrategy(_MultiWorkerMirroredStrategy):
    """The deprecated experimental name, which takes `communication` first."""

    def __init__(self, communication=CollectiveCommunication.AUTO, cluster_resolver=None,
                 communication_options=None, communicator=None):
        warnings.warn("tf.distribute.experimental.MultiWorkerMirroredStrategy is deprecated: "
                      "use tf.distribute.MultiWorkerMirroredStrategy instead.",
                      DeprecationWarning, stacklevel=2)
        if communication_options is None:
            communication_options = CommunicationOptions(implementation=communication)
        super().__init__(cluster_resolver, communication_options, communicator)
