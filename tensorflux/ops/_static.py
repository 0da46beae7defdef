"""Python values of tensor arguments that ops need statically (shapes, axes, paddings...),
also while tracing, where they must be computable from the graph's constants."""

__all__ = ["host"]


def host(op, x, what):
    """x as a host NumPy array; InvalidArgumentError naming `op` and `what` if x is a
    symbolic tensor whose value depends on a traced function's inputs."""
    if x._value is not None:
        return x.numpy()
    from tensorflux.graph.static import static_numpy

    return static_numpy(op, x, what)
