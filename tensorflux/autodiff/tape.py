"""GradientTape: records eager ops that touch watched tensors, then runs the backward walker."""

import contextlib
import logging

from tensorflux import errors
from tensorflux.autodiff.backward import UnconnectedGradients, backward, differentiable_natives
from tensorflux.context import context
from tensorflux.nest import flatten, pack_with
from tensorflux.ops import array as _array
from tensorflux.primitive import Node
from tensorflux.tensor import Tensor, _TensorLike
from tensorflux.variable import Variable

__all__ = ["GradientTape"]


class GradientTape:
    """Records operations for automatic differentiation.

    >>> import tensorflux as tf
    >>> x = tf.constant(3.0)
    >>> with tf.GradientTape() as tape:
    ...     tape.watch(x)
    ...     y = x * x
    >>> float(tape.gradient(y, x))
    6.0
    """

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self._persistent = persistent
        self._watch_accessed_variables = watch_accessed_variables
        self._nodes = []
        # id -> object for everything that depends on a watched tensor; holding the objects
        # keeps their ids from being reused while the tape lives.
        self._tracked = {}
        self._watched_variables = {}
        self._recording = False
        self._used = False

    # -- context management
    def __enter__(self):
        if self._used and not self._persistent and not self._recording:
            # As TensorFlow: a non-persistent tape whose gradient was taken starts afresh
            # when entered again (one tape object reused for every training step).
            self.reset()
            self._used = False
        self._push()
        return self

    def __exit__(self, *exc_info):
        if self._recording:
            self._pop()
        return False

    def _push(self):
        if self._recording:
            raise ValueError("Tape is still recording; a GradientTape cannot be entered twice.")
        context.tapes.append(self)
        self._recording = True

    def _pop(self):
        context.tapes.remove(self)
        self._recording = False

    def stop_recording(self):
        """A context in which ops are not recorded by this tape."""
        return _StopRecording(self)

    def reset(self):
        """Forgets everything recorded so far (the tape keeps recording if it was)."""
        self._nodes = []
        self._tracked = {}
        self._watched_variables = {}

    # -- what to record
    def watch(self, tensor):
        """Ensures `tensor` (a Tensor, Variable, or nested structure of them) is traced."""
        for t in flatten(tensor):
            if not isinstance(t, _TensorLike):
                raise ValueError(f"Passed in object {t!r} of type {type(t).__name__!r}, "
                                 "not tf.Tensor or tf.Variable.")
            if not t.dtype.is_differentiable:
                # As TF: nothing is watched (its gradient will be None), with a warning.
                logging.getLogger("tensorflux").warning(
                    "The dtype of the watched tensor must be floating (e.g. tf.float32), "
                    "got tf.%s", t.dtype.name)
                continue
            t = _as_traced(t)
            self._tracked[id(t)] = t
            if isinstance(t, Variable):
                self._watched_variables[id(t)] = t

    def watched_variables(self):
        return tuple(self._watched_variables.values())

    def _record(self, primitive, inputs, attrs, outputs):
        tracked = self._tracked
        hit = False
        for x in inputs:
            if id(x) in tracked:
                hit = True
            elif (x.__class__ is not Tensor and isinstance(x, Variable)
                  and self._watch_accessed_variables and x.trainable):
                # As TensorFlow, an integer Variable is listed as watched but gets no gradient.
                self._watched_variables[id(x)] = x
                differentiable = differentiable_natives.get(x._value.dtype)
                if differentiable is None:
                    differentiable = x.dtype.is_differentiable
                if differentiable:
                    tracked[id(x)] = x
                    hit = True
        if not hit:
            return
        self._nodes.append(Node(primitive, inputs, attrs, outputs))
        if outputs.__class__ is Tensor:  # (eager, one output: the commonest record)
            native = outputs._value.dtype
            differentiable = differentiable_natives.get(native)
            if differentiable is None:
                differentiable = differentiable_natives[native] = \
                    outputs.dtype.is_differentiable
            if differentiable:
                tracked[id(outputs)] = outputs
            return
        for o in (outputs if isinstance(outputs, tuple) else (outputs,)):
            if o.dtype.is_differentiable:
                tracked[id(o)] = o

    # -- computing gradients
    def gradient(self, target, sources, output_gradients=None,
                 unconnected_gradients=UnconnectedGradients.NONE):
        """d(sum of target)/d(sources), shaped like `sources` (nested structures allowed).

        Integer and boolean sources get None, as in TensorFlow.
        """
        if self._used and not self._persistent:
            raise RuntimeError("A non-persistent GradientTape can only be used to compute one "
                               "set of gradients (or jacobians)")
        self._used = True
        unconnected = _unconnected(unconnected_gradients)
        # One tensor and a list of tensors (a loss and model.trainable_variables), the common
        # call, are their own flat forms: nest need not walk them (nor pack the list back).
        flat_targets = ([target] if target.__class__ is Tensor else
                        [_as_tensor(t, "target") for t in flatten(target)])
        listed = sources.__class__ is list and all(isinstance(s, _TensorLike) for s in sources)
        flat_sources = sources if listed else flatten(sources)
        for s in flat_sources:
            if not isinstance(s, _TensorLike):
                raise ValueError(f"Sources must be Tensors or Variables, received {s!r}")
        if context.graph is not None:
            flat_sources = [_as_traced(s) for s in flat_sources]
        if output_gradients is None:
            seeds = [_array.ones_like(t) for t in flat_targets]
        else:
            seeds = [_as_tensor(g, "output_gradients") if g is not None else None
                     for g in flatten(output_gradients)]
            seeds = [array_ones(t) if g is None else g for t, g in zip(flat_targets, seeds)]
        with self._gradient_context():
            grads = backward(list(self._nodes), flat_targets, seeds, flat_sources, unconnected)
            # A source the tape never watched gets no gradient, as in TensorFlow, even when
            # a recorded op read it (watch_accessed_variables=False, stop_recording); a
            # source that is itself a target gets its seed.
            grads = [None if g is None or not s.dtype.is_differentiable else
                     g if id(s) in self._tracked or any(s is t for t in flat_targets) else
                     array_zeros(s) if unconnected == UnconnectedGradients.ZERO else None
                     for s, g in zip(flat_sources, grads)]
        if not self._persistent:
            self._nodes = []
            self._tracked = {}
        return grads if listed else pack_with(sources, grads, _rebuild)

    def jacobian(self, target, sources, unconnected_gradients=UnconnectedGradients.NONE,
                 parallel_iterations=None, experimental_use_pfor=True):
        """The full Jacobian: shape target.shape + source.shape, for each source."""
        from tensorflux.ops import array

        if self._used and not self._persistent:
            raise RuntimeError("A non-persistent GradientTape can only be used to compute one "
                               "set of gradients (or jacobians)")
        self._used = True
        unconnected = _unconnected(unconnected_gradients)
        target = _as_tensor(target, "target")
        flat_sources = [_as_traced(s) for s in flatten(sources)]
        size = target.shape.num_elements()
        nodes = list(self._nodes)
        if size is None:
            jacobians = self._jacobian_by_loop(nodes, target, flat_sources, unconnected)
            if not self._persistent:
                self._nodes = []
                self._tracked = {}
            return pack_with(sources, jacobians, _rebuild)
        rows = [[] for _ in flat_sources]
        with self._gradient_context():
            for i in range(size):
                seed = array.reshape(array.one_hot(i, size, dtype=target.dtype), target.shape)
                grads = backward(nodes, [target], [seed], flat_sources, unconnected)
                for row, g in zip(rows, grads):
                    row.append(g)
        jacobians = []
        for source, row in zip(flat_sources, rows):
            if all(g is None for g in row) or size == 0 or id(source) not in self._tracked:
                if unconnected == UnconnectedGradients.ZERO or size == 0:
                    jacobians.append(array.zeros(_joined_shape(target, source),
                                                 dtype=source.dtype))
                else:
                    jacobians.append(None)
                continue
            row = [array.zeros_like(source) if g is None else g for g in row]
            stacked = array.stack(row)
            jacobians.append(array.reshape(stacked, _joined_shape(target, source)))
        if not self._persistent:
            self._nodes = []
            self._tracked = {}
        return pack_with(sources, jacobians, _rebuild)

    def batch_jacobian(self, target, source, unconnected_gradients=UnconnectedGradients.NONE,
                       parallel_iterations=None, experimental_use_pfor=True):
        """Per-example Jacobians: shape [batch] + target.shape[1:] + source.shape[1:]."""
        from tensorflux.ops import array, linalg, reduction

        target = _as_tensor(target, "target")
        for what, t in (("target", target), ("source", source)):
            if t.shape.rank is None or t.shape.rank < 2:
                raise ValueError(f"batch_jacobian: the {what} must have rank at least 2 (the "
                                 f"batch dimension first), received shape {t.shape}")
        if not target.shape[:1].is_compatible_with(source.shape[:1]):
            raise ValueError(f"Need first dimension of target shape ({target.shape}) and source "
                             f"shape ({source.shape}) to match.")
        if target.shape[1:].is_fully_defined():
            return self._batch_jacobian_by_rows(target, _as_traced(source), unconnected_gradients)
        # An example's target size known only at run time (traced): the full Jacobian
        # [batch, *t_rest, batch, *s_rest], summed over the target's batch axis (so the
        # same rows as above), with the source's batch axis moved first.
        full = self.jacobian(target, source, unconnected_gradients)
        if full is None:
            # As TensorFlow: unlike jacobian, an unconnected batch Jacobian is zeros, not None.
            return array.zeros(array.concat([array.shape(target), array.shape(source)[1:]], 0),
                               target.dtype)
        summed = reduction.reduce_sum(full, axis=0)
        k = target.shape.rank - 1
        perm = [k] + list(range(k)) + list(range(k + 1, summed.shape.rank))
        return linalg.transpose(summed, perm)

    def _jacobian_by_loop(self, nodes, target, flat_sources, unconnected):
        """The Jacobians for a target whose size only the run time knows (traced with
        unknown dims): its rows computed in a tf.while_loop, one backward pass each."""
        from tensorflux.graph.control_flow import while_loop
        from tensorflux.ops import array
        from tensorflux.tensor_shape import TensorShape

        if context.graph is None or any(s.shape.rank is None for s in flat_sources):
            raise errors.UnimplementedError(
                f"GradientTape.jacobian: the target's shape {target.shape} is known only at "
                f"run time, and the rank of a source is unknown; give the tf.function an "
                f"input_signature with known ranks, or use batch_jacobian", "jacobian")
        with self._gradient_context():
            # Which sources the target reaches at all (None, as TF, unless ZERO is asked).
            reached = backward(nodes, [target], [array.ones_like(target)], flat_sources,
                               unconnected)
            n, shape = array.size(target), array.shape(target)

            def body(i, *rows):
                seed = array.reshape(array.one_hot(i, n, dtype=target.dtype), shape)
                grads = backward(nodes, [target], [seed], flat_sources, unconnected)
                return (i + 1,) + tuple(
                    array.concat([r, array.reshape(
                        array.zeros_like(s) if g is None else g, [1, -1])], 0)
                    for r, s, g in zip(rows, flat_sources, grads))

            # Each source's rows, flattened: [rows so far, source size] (a source's shape
            # may itself be known only at run time).
            rows = [array.zeros(array.stack([0, array.size(s)]), s.dtype) for s in flat_sources]
            invariants = [TensorShape([])] + [
                TensorShape([None, s.shape.num_elements()]) for s in flat_sources]
            _, *rows = while_loop(lambda i, *rest: i < n, body,
                                  [array.zeros([], "int32")] + rows,
                                  shape_invariants=invariants)
        jacobians = []
        for source, g, r in zip(flat_sources, reached, rows):
            connected = g is not None and id(source) in self._tracked
            if not connected and unconnected != UnconnectedGradients.ZERO:
                jacobians.append(None)
                continue
            full_shape = array.concat([shape, array.shape(source)], 0)
            jacobians.append(array.reshape(r, full_shape) if connected
                             else array.zeros(full_shape, source.dtype))
        return jacobians

    def _batch_jacobian_by_rows(self, target, source, unconnected_gradients):
        """batch_jacobian as TensorFlow computes it: one backward pass per element of an
        example's target, seeded in every example at once, which gives each example's rows
        when examples do not interact (batch_jacobian's premise; where they do, each row is
        the gradient of that element summed over the batch, as TensorFlow's)."""
        from tensorflux.ops import array

        if self._used and not self._persistent:
            raise RuntimeError("A non-persistent GradientTape can only be used to compute one "
                               "set of gradients (or jacobians)")
        self._used = True
        unconnected = _unconnected(unconnected_gradients)
        t_rest, s_rest = list(target.shape[1:]), list(source.shape[1:])
        t_size = target.shape[1:].num_elements()
        nodes, ones = list(self._nodes), array.ones_like(target)
        rows = []
        with self._gradient_context():
            for i in range(t_size):
                picked = array.reshape(array.one_hot(i, t_size, dtype=target.dtype), [1] + t_rest)
                (g,) = backward(nodes, [target], [ones * picked], [source], unconnected)
                rows.append(g)
        if id(source) not in self._tracked:  # (as TF: unconnected gives zeros here)
            rows = [None] * t_size
        if not self._persistent:
            self._nodes = []
            self._tracked = {}
        rows = [array.zeros_like(source) if g is None else g for g in rows]
        stacked = array.stack(rows, axis=1) if rows else array.zeros_like(source)
        if None in s_rest:
            return array.reshape(stacked, array.concat(
                [[-1] + t_rest, array.shape(source)[1:]], 0))
        return array.reshape(stacked, [-1] + t_rest + s_rest)

    def _paused(self):
        return _StopRecording(self)

    def _gradient_context(self):
        # As TensorFlow: a persistent tape used inside its context records the gradient
        # computation (for higher derivatives); a non-persistent one does not.
        if self._persistent:
            return contextlib.nullcontext()
        return self._paused()


class _StopRecording:
    def __init__(self, tape):
        self._tape = tape
        self._was_recording = False

    def __enter__(self):
        self._was_recording = self._tape._recording
        if self._was_recording:
            self._tape._pop()
        return self

    def __exit__(self, *exc_info):
        if self._was_recording:
            self._tape._push()
        return False


def _as_traced(t):
    """An eager tensor used while a graph is traced is the graph's const node for it there
    (the ops recorded read that node), so watch and gradient use the same node."""
    graph = context.graph
    if graph is not None and type(t) is Tensor:
        return graph.constant(t)
    return t


def _joined_shape(target, source):
    """target.shape + source.shape: a list, or a tensor where the source's shape is known
    only at run time (traced)."""
    from tensorflux.ops import array

    if source.shape.is_fully_defined():
        return list(target.shape) + list(source.shape)
    return array.concat([list(target.shape), array.shape(source)], 0)


def array_zeros(t):
    from tensorflux.ops import array

    return array.zeros_like(t)


def array_ones(t):
    from tensorflux.ops import array

    return array.ones_like(t)


def _unconnected(value):
    value = getattr(value, "value", value)
    value = str(value).lower()
    if value not in (UnconnectedGradients.NONE, UnconnectedGradients.ZERO):
        raise ValueError(f"Unknown value for unconnected_gradients: {value!r}")
    return value


def _as_tensor(value, what):
    if isinstance(value, Tensor):
        return value
    if isinstance(value, _TensorLike):
        return value
    from tensorflux.tensor import convert_to_tensor

    try:
        return convert_to_tensor(value)
    except (TypeError, ValueError) as error:
        # TypeError, as TensorFlow's for a target of None
        raise TypeError(f"GradientTape: the {what} must be a tensor, a Variable or a nested "
                        f"structure of them, received {value!r}") from error


def _rebuild(original, packed):
    # Gradients come back as plain lists and (sorted-key) dicts; tuples keep their type.
    if isinstance(original, tuple):
        return type(original)(*packed) if hasattr(original, "_fields") else type(original)(packed)
    return packed
