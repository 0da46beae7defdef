"""tf.distribute.cluster_resolver: who the workers are. tensorflux's multi-worker training is
one MPI process per worker, so its resolver reads the MPI rank; TPUs cannot be reached, and
TPUClusterResolver says so with TensorFlow's ValueError (what `try: ... except ValueError:`
TPU-detection code expects off a TPU)."""

__all__ = ["ClusterResolver", "TPUClusterResolver"]


class ClusterResolver:
    """This process's place in a cluster: `task_type` and `task_id` (None, None alone)."""

    def __init__(self, task_type=None, task_id=None, rpc_layer=None):
        self.task_type = task_type
        self.task_id = task_id
        self.rpc_layer = rpc_layer

    @property
    def environment(self):
        return ""

    def master(self, task_type=None, task_id=None, rpc_layer=None):
        return ""

    def num_accelerators(self, task_type=None, task_id=None, config_proto=None):
        """{"GPU": count} for this process's GPUs (empty on a CPU-only machine)."""
        from tensorflux import config

        gpus = len(config.list_logical_devices("GPU"))
        return {"GPU": gpus} if gpus else {}


class TPUClusterResolver(ClusterResolver):
    """TensorFlow's TPU resolver, which fails here: tensorflux runs on CPUs and NVIDIA GPUs.

    >>> import tensorflux as tf
    >>> tf.distribute.cluster_resolver.TPUClusterResolver()
    Traceback (most recent call last):
    ...
    ValueError: Please provide a TPU Name to connect to.
    """

    def __init__(self, tpu=None, zone=None, project=None, job_name="worker",
                 coordinator_name=None, coordinator_address=None, credentials="default",
                 service=None, discovery_url=None):
        if not tpu:
            raise ValueError("Please provide a TPU Name to connect to.")
        raise ValueError(f"Cannot connect to the TPU {tpu!r}: tensorflux runs on CPUs and "
                         "NVIDIA GPUs only. Use tf.distribute.MirroredStrategy() or "
                         "tf.distribute.get_strategy() instead.")

    @staticmethod
    def connect(tpu=None, zone=None, project=None):
        return TPUClusterResolver(tpu, zone, project)
