"""keras.utils.PyDataset: the base class for Python datasets that fit/evaluate/predict index
batch by batch (`__len__` and `__getitem__`)."""

import itertools
import warnings

__all__ = ["PyDataset"]


class PyDataset:
    """A dataset of batches: subclass it, call `super().__init__(**kwargs)`, and implement
    `__getitem__(index)` (a batch: `x`, `(x, y)` or `(x, y, sample_weight)`) and `__len__`
    (or the `num_batches` property; None there makes the dataset endless).

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

    def _check_super_called(self):
        """Fills Keras's defaults (with Keras's warning) when a subclass's __init__ did not
        call `super().__init__()`."""
        missing = False
        for name, default in (("_workers", 1), ("_use_multiprocessing", False),
                              ("_max_queue_size", 10)):
            if name not in self.__dict__:
                setattr(self, name, default)
                missing = True
        if missing:
            warnings.warn("Your `PyDataset` class should call `super().__init__(**kwargs)` in "
                          "its constructor. `**kwargs` can include `workers`, "
                          "`use_multiprocessing`, `max_queue_size`. Passing `workers` and "
                          "`max_queue_size` to `fit()` instead (Keras 2's way) works only "
                          "while the dataset keeps the default of one worker; "
                          "`use_multiprocessing` given to `fit()` is ignored (workers are "
                          "threads).", stacklevel=3)

    @property
    def workers(self):
        self._check_super_called()
        return self._workers

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        self._check_super_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        self._check_super_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement `__getitem__(index)`, "
                                  "returning the batch at that position.")

    def __iter__(self):
        """The batches in order; endless when `num_batches` is None."""
        try:
            size = self.num_batches
        except NotImplementedError:
            size = None
        indices = itertools.count() if size is None else range(size)
        for index in indices:
            yield self[index]

    @property
    def num_batches(self):
        """The number of batches: `len(self)` when the subclass defines `__len__`; a dataset
        without one overrides this property (None for an endless dataset)."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError("You need to implement the `num_batches` property:\n\n"
                                  "@property\ndef num_batches(self):\n  return ...")

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass
