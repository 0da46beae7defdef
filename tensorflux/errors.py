"""The exception classes of tensorflux, with TensorFlow's names and base classes."""

__all__ = [
    "OpError",
    "CancelledError",
    "UnknownError",
    "InvalidArgumentError",
    "DeadlineExceededError",
    "NotFoundError",
    "AlreadyExistsError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "FailedPreconditionError",
    "AbortedError",
    "OutOfRangeError",
    "UnimplementedError",
    "InternalError",
    "UnavailableError",
    "DataLossError",
    "UnauthenticatedError",
]


class OpError(Exception):
    """Base of the errors an op raises; `op` names the op that failed, when known."""

    def __init__(self, message, op=None):
        super().__init__(message)
        self.message = message
        self.op = op


class CancelledError(OpError):
    pass


class UnknownError(OpError):
    pass


class InvalidArgumentError(OpError, ValueError):
    """An argument had the wrong shape, dtype, axis or value.

    It is also a ValueError, so code written against NumPy's conventions catches it.
    """


class DeadlineExceededError(OpError):
    pass


class NotFoundError(OpError):
    pass


class AlreadyExistsError(OpError):
    pass


class PermissionDeniedError(OpError):
    pass


class ResourceExhaustedError(OpError, MemoryError):
    pass


class FailedPreconditionError(OpError):
    pass


class AbortedError(OpError):
    pass


class OutOfRangeError(OpError, IndexError):
    pass


class UnimplementedError(OpError, NotImplementedError):
    pass


class InternalError(OpError):
    pass


class UnavailableError(OpError):
    pass


class DataLossError(OpError):
    pass


class UnauthenticatedError(OpError):
    pass
