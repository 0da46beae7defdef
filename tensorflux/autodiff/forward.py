"""tf.autodiff.ForwardAccumulator: Jacobian-vector products (forward-mode derivatives).

tensorflux has reverse mode only, so a JVP is computed from it with the "double backward"
identity: g(w) = J^T w (a gradient with output_gradients w) is linear in w, and its own
gradient with respect to w, contracted with the tangents, is J v. The accumulator records
what its context computes on a persistent GradientTape; jvp(y) then runs the two backward
passes. Results match forward mode; the cost is two reverse passes instead of one forward.
"""

from tensorflux import nest
from tensorflux.autodiff.backward import UnconnectedGradients
from tensorflux.autodiff.tape import GradientTape

__all__ = ["ForwardAccumulator"]


class ForwardAccumulator:
    """Computes J v for the `primals` (tensors or Variables) along `tangents` (same
    structure and shapes) of whatever the `with` block computes from them.

    >>> import tensorflux as tf
    >>> x = tf.constant([1.0, 2.0])
    >>> with tf.autodiff.ForwardAccumulator(x, tf.constant([1.0, 0.0])) as acc:
    ...     y = tf.reduce_sum(x ** 2)
    >>> float(acc.jvp(y))
    2.0
    """

    def __init__(self, primals, tangents):
        import tensorflux as tf

        self._primals = nest.flatten(primals)
        self._tangents = [tf.convert_to_tensor(t) for t in nest.flatten(tangents)]
        if len(self._primals) != len(self._tangents):
            raise ValueError(f"ForwardAccumulator: primals and tangents must have the same "
                             f"structure, received {len(self._primals)} primals and "
                             f"{len(self._tangents)} tangents")
        for primal, tangent in zip(self._primals, self._tangents):
            if tuple(primal.shape) != tuple(tangent.shape):
                raise ValueError(f"ForwardAccumulator: a tangent of shape {tangent.shape} for "
                                 f"a primal of shape {primal.shape}; they must match")
        self._tape = GradientTape(persistent=True, watch_accessed_variables=False)

    def __enter__(self):
        self._tape.__enter__()
        for primal in self._primals:
            self._tape.watch(primal)
        return self

    def __exit__(self, *exc_info):
        return self._tape.__exit__(*exc_info)

    def jvp(self, primals, unconnected_gradients=UnconnectedGradients.NONE):
        """J v for each tensor in `primals` (a structure of tensors the block computed):
        None (or zeros, with UnconnectedGradients.ZERO) where one does not depend on the
        accumulator's primals."""
        return nest.map_structure(lambda y: self._jvp(y, unconnected_gradients), primals)

    def _jvp(self, y, unconnected_gradients):
        import tensorflux as tf

        if not y.dtype.is_differentiable:
            return None  # (an integer result has no tangent, as in TensorFlow)
        # As TensorFlow: a JVP taken inside the accumulator's context is not itself a
        # function of the primals there (so the tape pauses while it is computed).
        with self._tape.stop_recording(), GradientTape() as outer:
            w = tf.zeros_like(y)
            outer.watch(w)
            grads = self._tape.gradient(y, self._primals, output_gradients=w)
            pairs = [(g, v) for g, v in zip(grads, self._tangents) if g is not None]
            contracted = tf.add_n([tf.reduce_sum(g * tf.cast(v, g.dtype)) for g, v in pairs]
                                  ) if pairs else None
            result = None if contracted is None else outer.gradient(contracted, w)
        if result is None and unconnected_gradients == UnconnectedGradients.ZERO:
            return tf.zeros_like(y)
        return result
