"""keras.utils.PyDataset: the base class for Python datasets that fit/evaluate/predict index
batch by batch (`__len__` and `__getitem__`)."""

__all__ = ["PyDataset"]


class PyDataset:
    """A dataset of batches: subclass it, call `super().__init__(**kwargs)`, and implement
    `__getitem__(index)` (a batch: `x`, `(x, y)` or `(x, y, sample_weight)`) and `__len__`.

    With `workers > 1`, fit/evaluate/predict fetch batches in that many threads, up to
    `max_queue_size` ahead, in order; `use_multiprocessing=True` is not supported (fit raises
    NotImplementedError): tensorflux never pickles a dataset into other processes.

    >>> from tensorflux.keras.utils import PyDataset
    >>> class Two(PyDataset):
    ...     def __len__(self):
    ...         return 2
    ...     def __getitem__(self, index):
    ...         return [float(index)], [0.0]
    >>> Two().num_batches
    2
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    @property
    def workers(self):
        return getattr(self, "_workers", 1)

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        return getattr(self, "_use_multiprocessing", False)

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        return getattr(self, "_max_queue_size", 10)

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError

    @property
    def num_batches(self):
        """The number of batches, or None for an infinite dataset (no `__len__`)."""
        if hasattr(self, "__len__"):
            try:
                return len(self)
            except NotImplementedError:
                return None
        return None

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass
