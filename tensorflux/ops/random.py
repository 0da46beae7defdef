"""Random ops (tf.random): seeds with TensorFlow's global/op-level rules, and tf.random.Generator.

Every random primitive is a pure function of its `seed` attribute: a tuple of non-negative
ints that the backend hashes into a fresh counter-based bit generator (NumPy's SeedSequence
and Philox). The state that makes successive calls differ (the global seed, the op counter,
a Generator's key and counter) lives here, in Python, and advances on every call; the
backend holds none. So the same seed tuple gives the same numbers on any call. In a traced
graph the seed cannot be fixed at trace time (every call must draw anew): each draw there takes
its seed tuple as an input from a stateful `random_seed_stream` node, whose kernel advances the
same Python-side state at every run. Inside a cond branch or a while loop that node is bound
in the graph around it, and a loop mixes its seed with the iteration number (hoisted_seed), so
a gradient that re-runs the branch or replays the loop draws the forward's numbers. Random
draws carry no gradient; `mean`, `stddev`, `minval` and `maxval` are applied with ordinary ops,
so gradients reach them.
"""

import itertools
import secrets
import weakref

from tensorflux import dtypes, errors
from tensorflux.context import context
from tensorflux.ops import array, math
from tensorflux.ops._core import as_operand, aval, broadcast_shapes
from tensorflux.ops._static import RuntimeShape, shape_operand
from tensorflux.ops.array import _shape_list
from tensorflux.primitive import Primitive
from tensorflux.tensor import _TensorLike

__all__ = ["set_seed", "get_seed", "normal", "uniform", "truncated_normal", "shuffle",
           "categorical", "Generator", "get_global_generator", "set_global_generator", "gamma",
           "poisson", "stateless_normal", "stateless_uniform", "stateless_truncated_normal",
           "stateless_categorical", "stateless_binomial", "stateless_gamma",
           "stateless_poisson"]

_FLOATS = (dtypes.float16, dtypes.bfloat16, dtypes.float32, dtypes.float64)
_INTS = (dtypes.int32, dtypes.int64)
_MASK = 2**64 - 1
# TensorFlow's default global seed, used when only an op-level seed is given.
DEFAULT_GRAPH_SEED = 87654321
# First element of every seed tuple, so the sources of seeds never share a stream.
# (_IN_LOOP: a seed mixed with a traced while loop's iteration number, _iteration_seed.)
_OP_SEEDED, _UNSEEDED, _GENERATOR, _STATELESS, _IN_LOOP = 1, 2, 3, 4, 5


# ------------------------------------------------------------------ seeds

class _SeedState:
    """Process-wide, as TensorFlow's global seed is (not per thread)."""

    def __init__(self):
        self.global_seed = None
        self.op_counter = 0
        # (global seed, op seed) -> calls so far: TF eager caches one stateful kernel per seed
        # pair, so repeated calls with the same op seed continue one sequence.
        self.uses = {}


_seeds = _SeedState()


def set_seed(seed):
    """Sets the global random seed; calling it again restarts every seeded sequence.

    >>> import tensorflux as tf
    >>> tf.random.set_seed(7)
    >>> a = tf.random.uniform([3]).numpy().tolist()
    >>> tf.random.set_seed(7)
    >>> tf.random.uniform([3]).numpy().tolist() == a
    True
    """
    _seeds.global_seed = None if seed is None else _int_seed("set_seed", seed)
    _seeds.op_counter = 0
    _seeds.uses = {}


def get_seed(op_seed):
    """The (global seed, op seed) pair an op with `op_seed` uses, as tf.random.get_seed.

    >>> import tensorflux as tf
    >>> tf.random.set_seed(None)
    >>> tf.random.get_seed(5)
    (87654321, 5)
    """
    global_seed = _seeds.global_seed
    if global_seed is not None:
        if op_seed is None:
            op_seed = _seeds.op_counter
            _seeds.op_counter += 1
        return global_seed, _int_seed("seed", op_seed)
    if op_seed is None:
        return None, None
    return DEFAULT_GRAPH_SEED, _int_seed("seed", op_seed)


def _int_seed(op, seed):
    if isinstance(seed, _TensorLike):
        seed = seed.numpy()
    try:
        return int(seed)
    except (TypeError, ValueError) as error:
        raise errors.InvalidArgumentError(f"{op}: a seed must be an int, received {seed!r}",
                                          op) from error


def _op_seed(op_seed):
    """The seed tuple for one stateless-style draw of a tf.random.* op (eager), or the seed
    stream of a random op being traced into a graph."""
    if context.graph is not None:
        return _OpSeedStream(op_seed)
    global_seed, op_seed = get_seed(op_seed)
    if global_seed is None:
        return (_UNSEEDED, secrets.randbits(64))
    key = (global_seed, op_seed)
    count = _seeds.uses.get(key, 0)
    _seeds.uses[key] = count + 1
    return (_OP_SEEDED, global_seed & _MASK, op_seed & _MASK, count)


# ------------------------------------------------------------------ seeds in traced graphs

_stream_tokens = itertools.count()
# Root graph -> how many random ops without an op seed it holds: their graph-level op seeds.
_auto_op_seeds = weakref.WeakKeyDictionary()


def _root_graph(graph):
    while graph.outer is not None:
        graph = graph.outer
    return graph


class _OpSeedStream:
    """The seeds of one tf.random.* op of a traced graph: one tuple per run, as TensorFlow's
    stateful random kernels give. The global seed is read at run time, so tf.random.set_seed
    restarts every traced op's sequence (set_seed clears `_seeds.uses`)."""

    def __init__(self, op_seed):
        self.op_seed = None if op_seed is None else _int_seed("seed", op_seed)
        root = _root_graph(context.graph)
        # Like TF's graph-level op seeds: fixed at trace time, in trace order.
        self.auto_op_seed = _auto_op_seeds.get(root, 0)
        _auto_op_seeds[root] = self.auto_op_seed + 1
        # Each op keeps its own count, as each TF kernel keeps its own state: two ops with
        # the same seeds in one function draw the same numbers, and each run the next ones.
        self.token = next(_stream_tokens)

    def next_seed(self):
        global_seed, op_seed = _seeds.global_seed, self.op_seed
        if global_seed is None:
            if op_seed is None:
                return (_UNSEEDED, secrets.randbits(64))
            global_seed = DEFAULT_GRAPH_SEED
        elif op_seed is None:
            op_seed = self.auto_op_seed
        key = ("graph", self.token, global_seed, op_seed)
        count = _seeds.uses.get(key, 0)
        _seeds.uses[key] = count + 1
        return (_OP_SEEDED, global_seed & _MASK, op_seed & _MASK, count)

    def __repr__(self):
        return f"op_seed({self.op_seed})"


class _GeneratorSeedStream:
    """The seeds of a Generator draw traced into a graph: each run advances the generator."""

    def __init__(self, generator):
        self.generator = generator

    def next_seed(self):
        return self.generator._next_seed()

    def __repr__(self):
        return "generator"


def _stream_rule(*, source):
    return aval((None,), dtypes.uint64)


# random_seed_stream: the next seed tuple of a graph's random op, as a uint64 vector; stateful,
# so graph passes never fold, merge or drop it (every run must draw new numbers).
_random_seed_stream = Primitive("random_seed_stream", shape_rule=_stream_rule, stateful=True)


def _bind_draw(primitive, inputs, seed, **attrs):
    """Binds a draw with its seed: an attribute tuple eagerly, a stream node input in graphs."""
    if isinstance(seed, (_OpSeedStream, _GeneratorSeedStream)):
        return primitive.bind(*inputs, _seed_stream(seed), seed=None, **attrs)
    return primitive.bind(*inputs, seed=seed, **attrs)


def _seed_stream(source):
    """The stream node of a traced draw's seeds (inside a cond branch or a while loop, bound
    outside it: Graph.add_node hands it to hoisted_seed)."""
    return _random_seed_stream.bind(source=source)


def hoisted_seed(graph, source):
    """The seeds of a draw in a cond branch or a while loop's cond or body (`graph`, where
    Graph.seeds_outside): the stream node is bound in the graph around it (and so on outwards)
    and captured, so the sub-graph re-bound or replayed for its gradient draws the numbers
    the forward pass drew. In a loop the captured seed, fixed for the whole loop, is mixed
    with the iteration number, so each iteration draws new numbers and the gradient's replay
    of iteration i draws the forward's numbers of iteration i."""
    saved = context.graph, context.tapes
    context.graph, context.tapes = graph.outer, []
    try:
        seed = _random_seed_stream.bind(source=source)
    finally:
        context.graph, context.tapes = saved
    seed = graph._capture(seed)
    if not graph.in_loop:
        return seed
    saved = context.graph, context.tapes
    context.graph, context.tapes = graph, []
    try:
        return _iteration_seed(seed, graph.iteration_counter())
    finally:
        context.graph, context.tapes = saved


def _iteration_seed(seed, iteration):
    """[_IN_LOOP, *seed, iteration]: distinct for distinct (seed, iteration) pairs (strip the
    tag and the last element to get the seed back; nested loops nest the form), and never a
    seed of the other sources, whose tags differ. The backend hashes the whole vector
    (SeedSequence), so appending is as good a mix as any, and costs one small concat."""
    tag = as_operand("random", [_IN_LOOP], dtypes.uint64)
    count = array.reshape(math.cast(iteration, dtypes.uint64), [1])
    return array.concat([tag, seed, count], 0)


# ------------------------------------------------------------------ validation helpers

def _shape(op, shape):
    dims = _shape_list(op, shape)
    if any(d < 0 for d in dims):
        raise errors.InvalidArgumentError(
            f"{op}: shape must have non-negative dimensions, received {dims}", op)
    return tuple(dims)


def _dtype(op, dtype, allowed):
    dtype = dtypes.as_dtype(dtype)
    if dtype not in allowed:
        names = ", ".join(d.name for d in allowed)
        raise errors.InvalidArgumentError(
            f"{op}: dtype must be one of {names}, received {dtype.name}", op)
    return dtype


def _scaled(raw, scale, shift, dtype, op):
    """raw * scale + shift, with mean/stddev-like arguments converted to `dtype`."""
    scale = as_operand(op, scale, dtype)
    shift = as_operand(op, shift, dtype)
    return math.add(math.multiply(raw, scale), shift)


def _draw_rule(*seed_input, shape, dtype, seed):
    return aval(shape, dtype)


def _no_gradient(g, *inputs, out, **attrs):
    return (None,) * len(inputs)


# ------------------------------------------------------------------ primitives
# Each draws from the seed attribute alone and has no differentiable input, so no VJP.

# random_normal: standard normal samples of `shape`.
_random_normal = Primitive("random_normal", shape_rule=_draw_rule)
# random_uniform: floats uniform in [0, 1).
_random_uniform = Primitive("random_uniform", shape_rule=_draw_rule)
# random_truncated_normal: standard normal samples, redrawn until within 2 standard deviations.
_random_truncated_normal = Primitive("random_truncated_normal", shape_rule=_draw_rule)
# random_uniform_int: integers in [minval, maxval) (scalar int inputs, so graphs can feed them).
_random_uniform_int = Primitive(
    "random_uniform_int", vjp=_no_gradient,
    shape_rule=lambda lo, hi, *seed_input, shape, dtype, seed: aval(shape, dtype))
# random_shuffle: a random permutation along axis 0; not differentiable, as in TensorFlow.
_random_shuffle = Primitive("random_shuffle", vjp=_no_gradient,
                            shape_rule=lambda x, *seed_input, seed: aval(x.shape, x.dtype))
# random_categorical: class indices drawn from the softmax of each row of logits.
_random_categorical = Primitive(
    "random_categorical", vjp=_no_gradient,
    shape_rule=lambda logits, *seed_input, num_samples, dtype, seed: aval(
        (logits.shape[0], num_samples), dtype))


# ------------------------------------------------------------------ shapes known at run time

def _draw_kernel(backend, shape, *inputs, kernel, dtype, op):
    if any(d < 0 for d in shape):
        raise errors.InvalidArgumentError(
            f"{op}: shape must have non-negative dimensions, received {shape} at run time", op)
    return getattr(backend, kernel)(*inputs, shape=tuple(shape), dtype=dtype, seed=None)


def _dynamic_draw_rule(shape, *inputs, branches):
    from tensorflux.graph.static import static_dims

    dims = static_dims(shape)
    return aval(None if dims is None else [None if d is None or d < 0 else d for d in dims],
                branches.attrs["dtype"])


# random_draw_dynamic: any of the draws above with a shape known only at run time (the first
# input; then the draw's own inputs and its seed from the graph's seed stream).
_random_draw_dynamic = Primitive("random_draw_dynamic", kernel="cond", vjp=_no_gradient,
                                 shape_rule=_dynamic_draw_rule)


def _draw(op, primitive, inputs, seed, shape, dtype):
    """Binds a draw of `shape` (a list of ints, or an int tensor known at run time)."""
    if isinstance(shape, tuple):
        return _bind_draw(primitive, inputs, seed, shape=shape, dtype=dtype)
    if not isinstance(seed, (_OpSeedStream, _GeneratorSeedStream)):
        raise errors.InvalidArgumentError(
            f"{op}: a shape known only at run time needs a traced function", op)
    return _random_draw_dynamic.bind(shape, *inputs, _seed_stream(seed), branches=RuntimeShape(
        _draw_kernel, (0,), kernel=primitive.kernel, dtype=dtype, op=op))


def _shape_or_runtime(op, shape):
    """A draw's shape: a tuple of ints, or the int tensor holding it at run time."""
    dims, runtime = shape_operand(op, shape)
    if runtime is None:
        return _shape(op, dims)
    if dims is not None and any(d is not None and d < 0 for d in dims):
        raise errors.InvalidArgumentError(
            f"{op}: shape must have non-negative dimensions, received {dims}", op)
    return runtime


# random_gamma: Gamma(alpha, 1) samples of shape + alpha.shape. No gradient to alpha (TensorFlow
# differentiates through alpha by implicit reparameterization; not implemented here).
_random_gamma = Primitive(
    "random_gamma", vjp=_no_gradient,
    shape_rule=lambda alpha, *seed_input, shape, dtype, seed: aval(
        tuple(shape) + tuple(alpha.shape), dtype))
# random_poisson: Poisson(lam) counts of shape + lam.shape, in a float or integer dtype.
_random_poisson = Primitive(
    "random_poisson", vjp=_no_gradient,
    shape_rule=lambda lam, *seed_input, shape, dtype, seed: aval(
        tuple(shape) + tuple(lam.shape), dtype))
# random_binomial: Binomial(counts, probs) counts of `shape` (counts and probs broadcast to it).
_random_binomial = Primitive(
    "random_binomial", vjp=_no_gradient,
    shape_rule=lambda counts, probs, *seed_input, shape, dtype, seed: aval(shape, dtype))


def _normal(op, shape, mean, stddev, dtype, seed_tuple):
    shape = _shape_or_runtime(op, shape)
    dtype = _dtype(op, dtype, _FLOATS)
    raw = _draw(op, _random_normal, (), seed_tuple, shape, dtype)
    return _scaled(raw, stddev, mean, dtype, op)


def _truncated(op, shape, mean, stddev, dtype, seed_tuple):
    shape = _shape_or_runtime(op, shape)
    dtype = _dtype(op, dtype, _FLOATS)
    raw = _draw(op, _random_truncated_normal, (), seed_tuple, shape, dtype)
    return _scaled(raw, stddev, mean, dtype, op)


def _uniform(op, shape, minval, maxval, dtype, seed_tuple):
    shape = _shape_or_runtime(op, shape)
    dtype = _dtype(op, dtype, _FLOATS + _INTS)
    if dtype.is_integer:
        if maxval is None:
            raise errors.InvalidArgumentError(
                f"{op}: maxval must be given for the integer dtype {dtype.name}", op)
        lo = as_operand(op, minval, dtype)
        hi = as_operand(op, maxval, dtype)
        if lo.shape.rank != 0 or hi.shape.rank != 0:
            raise errors.InvalidArgumentError(
                f"{op}: minval and maxval must be scalars for integer dtypes, received shapes "
                f"{tuple(lo.shape)} and {tuple(hi.shape)}", op)
        if context.graph is None and int(lo.numpy()) >= int(hi.numpy()) and 0 not in shape:
            raise errors.InvalidArgumentError(
                f"{op}: need minval < maxval, received minval={int(lo.numpy())} and "
                f"maxval={int(hi.numpy())}", op)
        return _draw(op, _random_uniform_int, (lo, hi), seed_tuple, shape, dtype)
    maxval = 1 if maxval is None else maxval
    raw = _draw(op, _random_uniform, (), seed_tuple, shape, dtype)
    lo = as_operand(op, minval, dtype)
    hi = as_operand(op, maxval, dtype)
    return math.add(math.multiply(raw, math.subtract(hi, lo)), lo)


# ------------------------------------------------------------------ tf.random.* ops

def normal(shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None, name=None):
    """Samples from a normal distribution with the given mean and standard deviation.

    >>> import tensorflux as tf
    >>> tf.random.normal([2, 3], seed=1).shape
    TensorShape([2, 3])
    """
    return _normal("normal", shape, mean, stddev, dtype, _op_seed(seed))


def uniform(shape, minval=0, maxval=None, dtype=dtypes.float32, seed=None, name=None):
    """Samples uniform in [minval, maxval); integer dtypes need an explicit maxval.

    >>> import tensorflux as tf
    >>> x = tf.random.uniform([100], minval=2, maxval=5, dtype=tf.int32, seed=3).numpy()
    >>> bool(x.min() >= 2 and x.max() < 5)
    True
    """
    return _uniform("uniform", shape, minval, maxval, dtype, _op_seed(seed))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None, name=None):
    """Normal samples, with those beyond 2 standard deviations from the mean redrawn.

    >>> import tensorflux as tf
    >>> x = tf.random.truncated_normal([1000], seed=2).numpy()
    >>> bool(abs(x).max() <= 2.0)
    True
    """
    return _truncated("truncated_normal", shape, mean, stddev, dtype, _op_seed(seed))


def shuffle(value, seed=None, name=None):
    """Randomly permutes a tensor along its first dimension.

    >>> import tensorflux as tf
    >>> sorted(tf.random.shuffle([1, 2, 3, 4], seed=5).numpy().tolist())
    [1, 2, 3, 4]
    """
    value = as_operand("shuffle", value)
    return _bind_draw(_random_shuffle, (value,), _op_seed(seed))


def categorical(logits, num_samples, dtype=None, seed=None, name=None):
    """Draws `num_samples` class indices per row of `logits` ([batch, classes]).

    >>> import tensorflux as tf
    >>> tf.random.categorical([[-1e9, 0.0]], 3, seed=1).numpy().tolist()
    [[1, 1, 1]]
    """
    logits = as_operand("categorical", logits)
    if not logits.dtype.is_floating:
        raise errors.InvalidArgumentError(
            f"categorical: logits must be floating-point, received {logits.dtype.name} with "
            f"shape {tuple(logits.shape)}", "categorical")
    if logits.shape.rank != 2:
        raise errors.InvalidArgumentError(
            f"categorical: logits must be a matrix [batch_size, num_classes], received shape "
            f"{tuple(logits.shape)}", "categorical")
    if logits.shape[1] == 0:
        raise errors.InvalidArgumentError(
            f"categorical: logits must have at least one class, received shape "
            f"{tuple(logits.shape)}", "categorical")
    num_samples = _int_seed("categorical", num_samples)
    if num_samples < 0:
        raise errors.InvalidArgumentError(
            f"categorical: num_samples must be non-negative, received {num_samples}",
            "categorical")
    dtype = _dtype("categorical", dtypes.int64 if dtype is None else dtype, _INTS)
    return _bind_draw(_random_categorical, (logits,), _op_seed(seed), num_samples=num_samples,
                      dtype=dtype)


# ------------------------------------------------------------------ tf.random.Generator

class Generator:
    """A random number generator with its own state: a key and a counter.

    Each draw uses (key, counter) and advances the counter, so a generator made from a seed
    replays the same sequence; `split` makes generators with keys derived from this one's.

    >>> import tensorflux as tf
    >>> a = tf.random.Generator.from_seed(1).normal([2]).numpy().tolist()
    >>> a == tf.random.Generator.from_seed(1).normal([2]).numpy().tolist()
    True
    """

    def __init__(self, copy_from=None, state=None, alg=None):
        if copy_from is not None:
            self._key, self._counter = copy_from._key, copy_from._counter
        elif state is not None:
            values = [int(v) for v in (state.numpy().tolist()
                                       if isinstance(state, _TensorLike) else state)]
            if not values:
                raise errors.InvalidArgumentError("Generator: state must not be empty",
                                                  "Generator")
            self._counter, self._key = values[0], tuple(v & _MASK for v in values[1:]) or (0,)
        else:
            self._key, self._counter = (secrets.randbits(64),), 0
        self._alg = alg or "philox"

    @classmethod
    def from_seed(cls, seed, alg=None):
        """A generator whose sequence is determined by `seed`."""
        generator = cls(alg=alg)
        generator.reset_from_seed(seed)
        return generator

    @classmethod
    def from_non_deterministic_state(cls, alg=None):
        """A generator seeded from operating-system entropy."""
        return cls(alg=alg)

    @classmethod
    def from_state(cls, state, alg=None):
        return cls(state=state, alg=alg)

    def reset_from_seed(self, seed):
        """Restarts the sequence from `seed`."""
        self._key = (_int_seed("Generator", seed) & _MASK,)
        self._counter = 0

    @property
    def algorithm(self):
        return self._alg

    @property
    def state(self):
        """The generator's state, [counter, *key], as an int64-range list of Python ints."""
        return [self._counter] + list(self._key)

    def _next_seed(self):
        seed = (_GENERATOR,) + self._key + (self._counter,)
        self._counter += 1
        return seed

    def _draw_seed(self):
        # Traced: the generator advances when the graph runs, not when it is traced.
        if context.graph is not None:
            return _GeneratorSeedStream(self)
        return self._next_seed()

    def normal(self, shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, name=None):
        """Normal samples from this generator."""
        return _normal("Generator.normal", shape, mean, stddev, dtype, self._draw_seed())

    def uniform(self, shape, minval=0, maxval=None, dtype=dtypes.float32, name=None):
        """Uniform samples in [minval, maxval) from this generator."""
        return _uniform("Generator.uniform", shape, minval, maxval, dtype, self._draw_seed())

    def truncated_normal(self, shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, name=None):
        """Truncated normal samples (within 2 standard deviations) from this generator."""
        return _truncated("Generator.truncated_normal", shape, mean, stddev, dtype,
                          self._draw_seed())

    def make_seeds(self, count=1):
        """A [2, count] int64 tensor of seeds for stateless ops."""
        return _bind_draw(_random_uniform_int,
                          (as_operand("make_seeds", 0, dtypes.int64),
                           as_operand("make_seeds", dtypes.int64.max, dtypes.int64)),
                          self._draw_seed(), shape=(2, int(count)), dtype=dtypes.int64)

    def split(self, count=1):
        """`count` new generators, independent of this one and of each other."""
        count = _int_seed("Generator.split", count)
        if count < 0:
            raise errors.InvalidArgumentError(
                f"Generator.split: count must be non-negative, received {count}",
                "Generator.split")
        base = self._key + (self._counter,)
        self._counter += 1
        children = []
        for i in range(count):
            child = Generator(alg=self._alg)
            # Keys of different depths have different lengths, so no two keys coincide.
            child._key, child._counter = base + (i,), 0
            children.append(child)
        return children

    def __repr__(self):
        return f"<tf.random.Generator alg={self._alg!r} state={self.state}>"


_global_generator = None


def get_global_generator():
    """The global Generator, created on first use (from the global seed when one is set)."""
    global _global_generator
    if _global_generator is None:
        seed = _seeds.global_seed
        _global_generator = (Generator.from_non_deterministic_state() if seed is None
                             else Generator.from_seed(seed))
    return _global_generator


def set_global_generator(generator):
    """Replaces the global Generator."""
    global _global_generator
    if not isinstance(generator, Generator):
        raise TypeError(f"set_global_generator: expected a tf.random.Generator, received "
                        f"{type(generator).__name__}")
    _global_generator = generator


# ------------------------------------------------------------------ gamma and Poisson

def _gamma(op, shape, alpha, beta, dtype, seed):
    shape = _shape(op, shape)
    dtype = _dtype(op, dtype, _FLOATS)
    alpha = as_operand(op, alpha, dtype)
    if beta is not None:
        beta = as_operand(op, beta, dtype)
        # Samples are drawn for the broadcast shape of alpha and beta, as TensorFlow.
        alpha = alpha + array.zeros_like(beta)
    raw = _bind_draw(_random_gamma, (alpha,), seed, shape=shape, dtype=dtype)
    return raw if beta is None else math.divide(raw, beta)


def _poisson(op, shape, lam, dtype, seed):
    shape = _shape(op, shape)
    dtype = _dtype(op, dtype, _FLOATS + _INTS)
    lam = as_operand(op, lam)
    if not (lam.dtype.is_floating or lam.dtype.is_integer):
        raise errors.InvalidArgumentError(
            f"{op}: lam must be a real number or tensor, received dtype {lam.dtype.name}", op)
    return _bind_draw(_random_poisson, (lam,), seed, shape=shape, dtype=dtype)


def gamma(shape, alpha, beta=None, dtype=dtypes.float32, seed=None, name=None):
    """Gamma(alpha, beta) samples (beta a rate: mean alpha / beta) of shape
    `shape + broadcast(alpha, beta).shape`. Seeded draws follow tf.random's seed rules but use
    tensorflux's own generator, so the numbers are not TensorFlow's.

    >>> import tensorflux as tf
    >>> tf.random.gamma([4], [1.0, 2.0], seed=1).shape
    TensorShape([4, 2])
    """
    return _gamma("gamma", shape, alpha, beta, dtype, _op_seed(seed))


def poisson(shape, lam, dtype=dtypes.float32, seed=None, name=None):
    """Poisson(lam) samples of shape `shape + lam.shape` (tensorflux's own generator, with
    tf.random's seed rules).

    >>> import tensorflux as tf
    >>> tf.random.poisson([3], [0.5, 4.0], seed=1).shape
    TensorShape([3, 2])
    """
    return _poisson("poisson", shape, lam, dtype, _op_seed(seed))


# ------------------------------------------------------------------ stateless ops
# A stateless op is a pure function of its seed, a shape-[2] integer tensor: the same seed
# gives the same numbers on every call, eagerly or in a traced graph (the seed travels as a
# uint64 input, tagged so no stateful stream can coincide with it). The numbers are
# tensorflux's Philox stream, not TensorFlow's: only the contract is TensorFlow's.

def _stateless_seed(op, seed):
    seed = as_operand(op, seed)
    if not seed.dtype.is_integer or tuple(seed.shape) != (2,):
        raise errors.InvalidArgumentError(
            f"{op}: seed must be an integer tensor of shape [2], received "
            f"{seed.dtype.name} with shape {tuple(seed.shape)}", op)
    tag = as_operand(op, [_STATELESS], dtypes.uint64)
    return array.concat([tag, math.cast(seed, dtypes.uint64)], 0)


def _stateless_draw(primitive, inputs, seed_vector, **attrs):
    return primitive.bind(*inputs, seed_vector, seed=None, **attrs)


def stateless_normal(shape, seed, mean=0.0, stddev=1.0, dtype=dtypes.float32, name=None,
                     alg="auto_select"):
    """Normal samples determined by `seed` (shape [2]) alone.

    >>> import tensorflux as tf
    >>> a = tf.random.stateless_normal([3], seed=[1, 2])
    >>> bool(tf.reduce_all(a == tf.random.stateless_normal([3], seed=[1, 2])))
    True
    """
    op = "stateless_normal"
    shape, dtype = _shape(op, shape), _dtype(op, dtype, _FLOATS)
    raw = _stateless_draw(_random_normal, (), _stateless_seed(op, seed), shape=shape, dtype=dtype)
    return _scaled(raw, stddev, mean, dtype, op)


def stateless_truncated_normal(shape, seed, mean=0.0, stddev=1.0, dtype=dtypes.float32,
                               name=None, alg="auto_select"):
    """Normal samples within 2 standard deviations of the mean, determined by `seed`.

    >>> import tensorflux as tf
    >>> x = tf.random.stateless_truncated_normal([1000], seed=[3, 4]).numpy()
    >>> bool(abs(x).max() <= 2.0)
    True
    """
    op = "stateless_truncated_normal"
    shape, dtype = _shape(op, shape), _dtype(op, dtype, _FLOATS)
    raw = _stateless_draw(_random_truncated_normal, (), _stateless_seed(op, seed), shape=shape,
                          dtype=dtype)
    return _scaled(raw, stddev, mean, dtype, op)


def stateless_uniform(shape, seed, minval=0, maxval=None, dtype=dtypes.float32, name=None,
                      alg="auto_select"):
    """Uniform samples in [minval, maxval) determined by `seed`. For integer dtypes give
    both minval and maxval, or neither for (almost) the dtype's full range [min, max).

    >>> import tensorflux as tf
    >>> x = tf.random.stateless_uniform([50], [5, 6], minval=2, maxval=5, dtype=tf.int32)
    >>> sorted(set(x.numpy().tolist()))
    [2, 3, 4]
    """
    op = "stateless_uniform"
    shape, dtype = _shape(op, shape), _dtype(op, dtype, _FLOATS + _INTS)
    seed_vector = _stateless_seed(op, seed)
    if dtype.is_integer:
        if maxval is None and minval in (0, None):
            minval, maxval = dtype.min, dtype.max
        elif maxval is None or minval is None:
            raise errors.InvalidArgumentError(
                f"{op}: for the integer dtype {dtype.name} give both minval and maxval, or "
                f"neither", op)
        lo, hi = as_operand(op, minval, dtype), as_operand(op, maxval, dtype)
        if lo.shape.rank != 0 or hi.shape.rank != 0:
            raise errors.InvalidArgumentError(
                f"{op}: minval and maxval must be scalars for integer dtypes, received shapes "
                f"{tuple(lo.shape)} and {tuple(hi.shape)}", op)
        if context.graph is None and int(lo.numpy()) >= int(hi.numpy()) and 0 not in shape:
            raise errors.InvalidArgumentError(
                f"{op}: need minval < maxval, received minval={int(lo.numpy())} and "
                f"maxval={int(hi.numpy())}", op)
        return _stateless_draw(_random_uniform_int, (lo, hi), seed_vector, shape=shape,
                               dtype=dtype)
    raw = _stateless_draw(_random_uniform, (), seed_vector, shape=shape, dtype=dtype)
    lo = as_operand(op, minval, dtype)
    hi = as_operand(op, 1 if maxval is None else maxval, dtype)
    return math.add(math.multiply(raw, math.subtract(hi, lo)), lo)


def stateless_categorical(logits, num_samples, seed, dtype=dtypes.int64, name=None):
    """`num_samples` class indices per row of logits [batch, classes], determined by `seed`.

    >>> import tensorflux as tf
    >>> tf.random.stateless_categorical([[-1e9, 0.0]], 2, seed=[1, 1]).numpy().tolist()
    [[1, 1]]
    """
    op = "stateless_categorical"
    logits = as_operand(op, logits)
    if not logits.dtype.is_floating or logits.shape.rank != 2 or logits.shape[1] == 0:
        raise errors.InvalidArgumentError(
            f"{op}: logits must be a floating-point matrix [batch_size, num_classes] with at "
            f"least one class, received {logits.dtype.name} with shape {tuple(logits.shape)}",
            op)
    num_samples = _int_seed(op, num_samples)
    if num_samples < 0:
        raise errors.InvalidArgumentError(
            f"{op}: num_samples must be non-negative, received {num_samples}", op)
    dtype = _dtype(op, dtype, _INTS)
    return _stateless_draw(_random_categorical, (logits,), _stateless_seed(op, seed),
                           num_samples=num_samples, dtype=dtype)


def _broadcast_to_shape(op, x, shape, what):
    try:
        full = broadcast_shapes(op, list(x.shape), list(shape))
    except errors.InvalidArgumentError as error:
        raise errors.InvalidArgumentError(
            f"{op}: {what} of shape {tuple(x.shape)} does not broadcast to the sample shape "
            f"{tuple(shape)}", op) from error
    if tuple(full) != tuple(shape):
        raise errors.InvalidArgumentError(
            f"{op}: {what} of shape {tuple(x.shape)} does not broadcast to the sample shape "
            f"{tuple(shape)}", op)
    return array.broadcast_to(x, list(shape))


def stateless_binomial(shape, seed, counts, probs, output_dtype=dtypes.int32, name=None):
    """Binomial(counts, probs) samples of `shape` (counts and probs broadcast to it),
    determined by `seed`.

    >>> import tensorflux as tf
    >>> tf.random.stateless_binomial([3], [1, 2], counts=5.0, probs=1.0).numpy().tolist()
    [5, 5, 5]
    """
    op = "stateless_binomial"
    shape = _shape(op, shape)
    dtype = _dtype(op, output_dtype, _FLOATS + _INTS)
    counts = as_operand(op, counts)
    probs = as_operand(op, probs, counts.dtype if counts.dtype.is_floating else None)
    counts = _broadcast_to_shape(op, counts, shape, "counts")
    probs = _broadcast_to_shape(op, probs, shape, "probs")
    return _stateless_draw(_random_binomial, (counts, probs), _stateless_seed(op, seed),
                           shape=shape, dtype=dtype)


def stateless_gamma(shape, seed, alpha, beta=None, dtype=dtypes.float32, name=None):
    """Gamma(alpha, beta) samples of `shape` (alpha and beta broadcast to it, beta a rate),
    determined by `seed`.

    >>> import tensorflux as tf
    >>> tf.random.stateless_gamma([2, 3], [1, 2], alpha=[1.0, 2.0, 3.0]).shape
    TensorShape([2, 3])
    """
    op = "stateless_gamma"
    shape, dtype = _shape(op, shape), _dtype(op, dtype, _FLOATS)
    alpha = _broadcast_to_shape(op, as_operand(op, alpha, dtype), shape, "alpha")
    raw = _stateless_draw(_random_gamma, (alpha,), _stateless_seed(op, seed), shape=(),
                          dtype=dtype)
    if beta is None:
        return raw
    return math.divide(raw, _broadcast_to_shape(op, as_operand(op, beta, dtype), shape, "beta"))


def stateless_poisson(shape, seed, lam, dtype=dtypes.int32, name=None):
    """Poisson(lam) samples of `shape` (lam broadcast to it), determined by `seed`.

    >>> import tensorflux as tf
    >>> tf.random.stateless_poisson([4], [1, 2], lam=0.0).numpy().tolist()
    [0, 0, 0, 0]
    """
    op = "stateless_poisson"
    shape, dtype = _shape(op, shape), _dtype(op, dtype, _FLOATS + _INTS)
    lam = _broadcast_to_shape(op, as_operand(op, lam), shape, "lam")
    return _stateless_draw(_random_poisson, (lam,), _stateless_seed(op, seed), shape=(),
                           dtype=dtype)
