"""tf.train.ClusterSpec: the jobs of a cluster and the network addresses of their tasks."""

__all__ = ["ClusterSpec"]


def _tasks(job, tasks):
    """{task index: address} of one job given as a list of addresses or a dict."""
    if isinstance(tasks, dict):
        items = list(tasks.items())
    elif isinstance(tasks, (list, tuple)):
        items = list(enumerate(tasks))
    else:
        raise TypeError(f"ClusterSpec: the tasks of job {job!r} must be a list of addresses "
                        f"or a dict of task index to address, received {tasks!r}")
    for index, address in items:
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise TypeError(f"ClusterSpec: task indices of job {job!r} must be non-negative "
                            f"ints, received {index!r}")
        if not isinstance(address, str):
            raise TypeError(f"ClusterSpec: the address of task {index} of job {job!r} must be "
                            f"a string, received {address!r}")
    return dict(items)


class ClusterSpec:
    """A cluster as {job name: its tasks' addresses}: a list (task i at position i), or a
    dict {task index: address} for a job whose task indices have gaps.

    >>> import tensorflux as tf
    >>> cluster = tf.train.ClusterSpec({"worker": ["w0:2222", "w1:2222"], "ps": ["p0:2222"]})
    >>> cluster.num_tasks("worker"), cluster.task_address("worker", 1)
    (2, 'w1:2222')
    """

    def __init__(self, cluster):
        if isinstance(cluster, ClusterSpec):
            # (as TensorFlow copies one through its ClusterDef: jobs in name order)
            self._jobs = {job: dict(cluster._jobs[job]) for job in sorted(cluster._jobs)}
            return
        if not isinstance(cluster, dict):
            raise TypeError("ClusterSpec: cluster must be a dict of job names to lists of "
                            "network addresses (or dicts of task index to address), or a "
                            f"ClusterSpec, received {type(cluster).__name__}")
        self._jobs = {}
        for job, tasks in cluster.items():
            if not isinstance(job, str):
                raise TypeError(f"ClusterSpec: job names must be strings, received {job!r}")
            self._jobs[job] = _tasks(job, tasks)

    @property
    def jobs(self):
        """The job names, as a list."""
        return list(self._jobs)

    def as_dict(self):
        """{job: list of addresses}, or {job: {task index: address}} for a job whose task
        indices are not 0..n-1."""
        result = {}
        for job, tasks in self._jobs.items():
            indices = sorted(tasks)
            if indices != list(range(len(indices))):
                result[job] = dict(sorted(tasks.items()))
            else:
                result[job] = [tasks[i] for i in indices]
        return result

    def _job(self, job_name):
        tasks = self._jobs.get(job_name)
        if tasks is None:
            raise ValueError(f"No such job in cluster: {job_name!r} (the jobs are "
                             f"{sorted(self._jobs)})")
        return tasks

    def num_tasks(self, job_name):
        """The number of tasks of job_name."""
        return len(self._job(job_name))

    def task_indices(self, job_name):
        """The task indices of job_name, ascending."""
        return sorted(self._job(job_name))

    def task_address(self, job_name, task_index):
        """The address of task task_index of job_name."""
        tasks = self._job(job_name)
        if task_index not in tasks:
            raise ValueError(f"No task with index {task_index} in job {job_name!r} (its "
                             f"indices are {sorted(tasks)})")
        return tasks[task_index]

    def job_tasks(self, job_name):
        """The addresses of job_name's tasks by index, None where an index has no task."""
        tasks = self._job(job_name)
        width = max(tasks) + 1 if tasks else 0
        return [tasks.get(i) for i in range(width)]

    def __bool__(self):
        return bool(self._jobs)

    def __eq__(self, other):
        return isinstance(other, ClusterSpec) and self.as_dict() == other.as_dict()

    def __ne__(self, other):
        return not self == other

    __hash__ = None

    def __repr__(self):
        shown = {job: tasks for job, tasks in sorted(self.as_dict().items())}
        return f"ClusterSpec({shown!r})"
