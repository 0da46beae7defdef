"""Random ops (tf.random): seeds with TensorFlow's global/op-level rules, and tf.random.Generator.

Every random primitive is a pure function of its `seed` attribute: a tuple of non-negative
ints that the backend hashes into a fresh counter-based bit generator (NumPy's SeedSequence
and Philox). The state that makes successive calls differ (the global seed, the op counter,
a Generator's state words: a Python list, or its int64 state Variable once that is asked
for) lives here, in Python, and advances on every call; the backend holds none. So the same
seed tuple gives the same numbers on any call. In a traced graph the seed cannot be fixed at
trace time (every call must draw anew): each draw there takes its seed tuple as an input
from a stateful `random_seed_stream` node, whose kernel advances the same Python-side state
at every run. Inside a cond branch or a while loop that node is bound
in the graph around it, and a loop mixes its seed with the iteration number (hoisted_seed), so
a gradient that re-runs the branch or replays the loop draws the forward's numbers. Random
draws carry no gradient; `mean`, `stddev`, `minval` and `maxval` are applied with ordinary ops,
so gradients reach them.
"""

import enum
import itertools
import secrets
import weakref

from tensorflux import dtypes, errors
from tensorflux.context import context
from tensorflux.ops import array, indexing, math
from tensorflux.ops._core import as_operand, aval, broadcast_shapes
from tensorflux.ops._static import RuntimeShape, shape_operand
from tensorflux.ops.array import _shape_list
from tensorflux.ops.framework import init_scope
from tensorflux.primitive import Primitive
from tensorflux.tensor import _TensorLike
from tensorflux.variable import Variable

__all__ = ["set_seed", "get_seed", "normal", "uniform", "truncated_normal", "shuffle",
           "categorical", "Algorithm", "Generator", "create_rng_state", "get_global_generator",
           "set_global_generator", "gamma", "poisson", "stateless_normal", "stateless_uniform",
           "stateless_truncated_normal", "stateless_parameterized_truncated_normal",
           "stateless_categorical", "stateless_binomial", "stateless_gamma",
           "stateless_poisson", "stateless_shuffle", "index_shuffle"]

_FLOATS = (dtypes.float16, dtypes.bfloat16, dtypes.float32, dtypes.float64)
_INTS = (dtypes.int32, dtypes.int64)
_UINTS = (dtypes.uint32, dtypes.uint64)
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


def _stream_rule(*, source):
    return aval((None,), dtypes.uint64)


# random_seed_stream: the next seed tuple of a graph's random op, as a uint64 vector; stateful,
# so graph passes never fold, merge or drop it (every run must draw new numbers).
_random_seed_stream = Primitive("random_seed_stream", shape_rule=_stream_rule, stateful=True)


class _StatelessSeed:
    """A stateless op's seed: a uint64 vector tensor, bound as the draw's last input."""

    def __init__(self, vector):
        self.vector = vector


def _bind_draw(primitive, inputs, seed, **attrs):
    """Binds a draw with its seed: an attribute tuple eagerly, a stream node input in graphs,
    a stateless op's seed vector as an input."""
    if isinstance(seed, _StatelessSeed):
        return primitive.bind(*inputs, seed.vector, seed=None, **attrs)
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

class Algorithm(enum.Enum):
    """The counter-based algorithms a Generator's state is laid out for (tf.random.Algorithm).
    tensorflux draws every stream with its own Philox, whatever the algorithm: the algorithm
    fixes the state's layout (THREEFRY: [counter, key]; PHILOX and AUTO_SELECT: a 128-bit
    counter in two words, then the key), not the numbers."""

    PHILOX = 1
    THREEFRY = 2
    AUTO_SELECT = 3


_STATE_SIZES = {Algorithm.PHILOX.value: 3, Algorithm.THREEFRY.value: 2,
                Algorithm.AUTO_SELECT.value: 3}


def _unsupported_alg(alg):
    return errors.InvalidArgumentError(
        f"Argument `alg` got unsupported value {alg}. Supported values are philox for the "
        "Philox algorithm, threefry for the ThreeFry algorithm, and auto_select for "
        "auto-selection.", "alg")


def _alg_value(alg):
    """`alg` (an Algorithm, its int, or a name such as "philox" or "auto_select") as an int."""
    if isinstance(alg, Algorithm):
        return alg.value
    if isinstance(alg, _TensorLike):
        alg = alg.numpy().tolist()
    if isinstance(alg, str):
        names = {"philox": 1, "threefry": 2, "autoselect": 3}
        value = names.get(alg.strip().lower().replace("-", "").replace("_", ""))
        if value is None:
            raise _unsupported_alg(alg)
        return value
    if isinstance(alg, int) and not isinstance(alg, bool) and alg in _STATE_SIZES:
        return alg
    raise _unsupported_alg(alg)


def _signed(word):
    word &= _MASK
    return word - (1 << 64) if word >> 63 else word


def _state_words(op, seed, size):
    """`seed` as `size` int64 state words, as TF's create_rng_state lays them out: an int is
    cut into 64-bit words, lowest first (a negative one sign-extended); a vector keeps its
    first `size` elements and is padded with zeros on the left (so a short seed lands in the
    key, and two small seeds never give overlapping counters of one key)."""
    if isinstance(seed, _TensorLike):
        seed = seed.numpy().tolist()
    if isinstance(seed, int) and not isinstance(seed, bool):
        words = []
        for _ in range(size):
            words.append(seed & _MASK)
            seed >>= 64
    elif isinstance(seed, (list, tuple)) and all(
            isinstance(s, int) and not isinstance(s, bool) for s in seed):
        words = [s & _MASK for s in seed][:size]
        words = [0] * (size - len(words)) + words
    else:
        raise errors.InvalidArgumentError(
            f"{op}: a seed must be an int or a vector of ints, received {seed!r}", op)
    return [_signed(w) for w in words]


def create_rng_state(seed, alg):
    """The int64 state vector a Generator of algorithm `alg` starts from for `seed`.

    >>> import tensorflux as tf
    >>> tf.random.create_rng_state(1234, "philox").numpy().tolist()
    [1234, 0, 0]
    >>> tf.random.create_rng_state([12, 34], "threefry").numpy().tolist()
    [12, 34]
    """
    words = _state_words("create_rng_state", seed, _STATE_SIZES[_alg_value(alg)])
    return as_operand("create_rng_state", words, dtypes.int64)


class _GeneratorSeedStream:
    """The seeds of a Generator draw traced into a graph: each run advances the generator by
    `count` (1 for a draw), as the eager call does."""

    def __init__(self, generator, count=1):
        self.generator, self.count = generator, count

    def next_seed(self):
        return self.generator._next_seed(self.count)

    def __repr__(self):
        return "generator"


class Generator:
    """A random number generator whose state is an int64 Variable ([counter, key] words,
    tf.random.create_rng_state's layout).

    A draw hashes the whole current state into its seed (tensorflux's Philox stream, not
    TensorFlow's numbers) and adds 1 to the counter, whatever its size: states one apart
    give independent streams, as the state is hashed, not counted through. So `skip(n)`
    leaves the state n draws would (TF adds an unspecified amount per value drawn). A
    generator made from the same seed or state replays the same sequence, and `split` makes
    generators with keys drawn from this one. tf.train.Checkpoint saves and restores the
    state.

    >>> import tensorflux as tf
    >>> g = tf.random.Generator.from_seed(1)
    >>> g.state.numpy().tolist(), g.algorithm
    ([1, 0, 0], 1)
    >>> a = g.normal([2]).numpy().tolist()
    >>> a == tf.random.Generator.from_seed(1).normal([2]).numpy().tolist()
    True
    >>> g.state.numpy().tolist()
    [2, 0, 0]
    """

    # tf.train.Checkpoint saves the state under this name (tensorflux/train.py, _has_state).
    _CHECKPOINT_ATTRIBUTE = "RNG_STATE"

    def __init__(self, copy_from=None, state=None, alg=None):
        # The state lives in a Python list until `state` is first asked for (or a Variable is
        # given): then in that Variable, which draws read and advance. Generators that are
        # made per call inside traced code (Keras's seeded initializers) so make no Variable.
        self._state_var, self._words = None, None
        if copy_from is not None:
            if state is not None or alg is not None:
                raise errors.InvalidArgumentError(
                    "Generator: give copy_from alone, or state and alg", "Generator")
            self._alg = copy_from._alg
            self._words = copy_from._read_state()
            return
        if state is None or alg is None:
            raise errors.InvalidArgumentError(
                "Generator: give copy_from, or both state and alg (or use Generator.from_seed "
                "or Generator.from_non_deterministic_state)", "Generator")
        self._alg = _alg_value(alg)
        if isinstance(state, Variable):
            self._check_state(state.dtype, tuple(state.shape))
            self._state_var = state
        else:
            self._words = self._state_list(state)

    def _check_state(self, dtype, shape):
        size = _STATE_SIZES[self._alg]
        if shape != (size,) or (dtype is not None and dtype != dtypes.int64):
            received = f"shape {shape}" if dtype is None else f"{dtype.name} with shape {shape}"
            raise errors.InvalidArgumentError(
                f"Generator: the state of algorithm {self._alg} must be an int64 vector of shape "
                f"[{size}], received {received}", "Generator")

    def _state_list(self, state):
        dtype = state.dtype if isinstance(state, _TensorLike) else None
        if dtype is not None and not dtype.is_integer:
            self._check_state(dtype, tuple(state.shape))
        values = state.numpy().tolist() if isinstance(state, _TensorLike) else state
        if hasattr(values, "tolist"):  # a NumPy array, say
            values = values.tolist()
        if not isinstance(values, (list, tuple)):
            self._check_state(None, ())
        self._check_state(None, (len(values),))
        return [_signed(_int_seed("Generator", v)) for v in values]

    # -- constructors
    @classmethod
    def from_seed(cls, seed, alg=None):
        """A generator whose sequence is determined by `seed` (its state create_rng_state's)."""
        alg = Algorithm.PHILOX if alg is None else alg
        return cls(state=create_rng_state(seed, alg), alg=alg)

    @classmethod
    def from_non_deterministic_state(cls, alg=None):
        """A generator whose state comes from operating-system entropy."""
        alg = _alg_value(Algorithm.PHILOX if alg is None else alg)
        return cls(state=[_signed(secrets.randbits(64)) for _ in range(_STATE_SIZES[alg])],
                   alg=alg)

    @classmethod
    def from_state(cls, state, alg):
        """A generator starting from `state` (a Variable is used, not copied)."""
        return cls(state=state, alg=alg)

    @classmethod
    def from_key_counter(cls, key, counter, alg):
        """A generator with state counter + [key] (counter: 2 words for Philox, 1 for
        ThreeFry)."""
        alg = _alg_value(alg)
        return cls(state=_key_counter_state(key, counter, alg), alg=alg)

    # -- the state
    @property
    def state(self):
        """The state: an int64 Variable, [counter, key] words."""
        if self._state_var is None:
            with init_scope():
                self._state_var = Variable(self._words, dtype=dtypes.int64, trainable=False,
                                           name="StateVar")
            self._words = None
        return self._state_var

    @property
    def algorithm(self):
        """The algorithm id: 1 Philox, 2 ThreeFry, 3 auto-select."""
        return self._alg

    @property
    def key(self):
        """The key word of the state, a scalar int64 tensor."""
        return self.state[-1]

    def reset(self, state):
        """Replaces the state with `state` (a vector of the algorithm's state size)."""
        self._write_state(self._state_list(state))

    def reset_from_seed(self, seed):
        """Restarts the sequence from `seed`, as from_seed would."""
        self._write_state(create_rng_state(seed, self._alg).numpy().tolist())

    def reset_from_key_counter(self, key, counter):
        """Sets the state to counter + [key]."""
        self._write_state(_key_counter_state(key, counter, self._alg))

    def skip(self, delta):
        """Advances the counter by `delta` (the state after skip(n) is that after a draw of
        n values) and returns the state before it."""
        delta = _int_seed("Generator.skip", delta)
        if context.graph is not None:
            old = _seed_stream(_GeneratorSeedStream(self, delta))
            return math.cast(indexing.slice(old, [2], [-1]), dtypes.int64)
        old = as_operand("Generator.skip", self._read_state(), dtypes.int64)
        self._next_seed(delta)
        return old

    def _next_seed(self, count=1):
        """The seed tuple of a draw from the current state; adds `count` to the counter. Runs
        eagerly, also from a traced graph's seed stream at run time."""
        words = [w & _MASK for w in self._read_state()]
        counter_words = len(words) - 1
        counter = sum(w << (64 * i) for i, w in enumerate(words[:counter_words]))
        counter = (counter + count) % (1 << (64 * counter_words))
        self._write_state([_signed(counter >> (64 * i)) for i in range(counter_words)]
                          + [_signed(words[-1])])
        # (the length first: NumPy's SeedSequence pads its entropy with zeros, so a ThreeFry
        # state [c, 0] and a Philox one [c, 0, 0] would otherwise seed the same stream)
        return (_GENERATOR, len(words)) + tuple(words)

    def _read_state(self):
        """The state as a list of int64-range Python ints."""
        if self._state_var is None:
            return list(self._words)
        return self._state_var.numpy().tolist()

    def _write_state(self, words):
        if self._state_var is None:
            self._words = list(words)
            return
        # Eagerly and off the tapes, also when a graph's seed stream runs inside a trace or
        # under a GradientTape: the state is no value of the graph.
        with init_scope():
            self._state_var.assign(words)

    def _draw_seed(self):
        # Traced: the generator advances when the graph runs, not when it is traced.
        if context.graph is not None:
            return _GeneratorSeedStream(self)
        return self._next_seed(1)

    # -- tf.train.Checkpoint (tensorflux/train.py saves objects with these, as _has_state)
    def _checkpoint_state(self):
        return self.state.numpy()

    def _restore_checkpoint_state(self, state):
        self.reset(state.tolist())

    # -- draws
    def normal(self, shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, name=None):
        """Normal samples from this generator."""
        return _normal("Generator.normal", shape, mean, stddev, dtype, self._draw_seed())

    def truncated_normal(self, shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, name=None):
        """Normal samples within 2 standard deviations of the mean, from this generator."""
        return _truncated("Generator.truncated_normal", shape, mean, stddev, dtype,
                          self._draw_seed())

    def uniform(self, shape, minval=0, maxval=None, dtype=dtypes.float32, name=None):
        """Uniform samples in [minval, maxval); for an integer dtype give both bounds, or
        neither (minval=None, maxval=None) for its full range."""
        op = "Generator.uniform"
        dtype = dtypes.as_dtype(dtype)
        if dtype.is_integer and minval is None and maxval is None:
            return self.uniform_full_int(shape, dtype)
        if dtype.is_integer and (minval is None or maxval is None):
            raise errors.InvalidArgumentError(
                f"{op}: for the integer dtype {dtype.name} give both minval and maxval, or "
                f"neither; received minval={minval} and maxval={maxval}", op)
        return _uniform(op, shape, minval, maxval, dtype, self._draw_seed())

    def uniform_full_int(self, shape, dtype=dtypes.uint64, name=None):
        """Integers uniform over the whole range of `dtype` (int32, int64, uint32, uint64)."""
        op = "Generator.uniform_full_int"
        dtype = _dtype(op, dtype, _INTS + _UINTS)
        shape = _shape_or_runtime(op, shape)
        return _full_int(op, shape, dtype, self._draw_seed())

    def binomial(self, shape, counts, probs, dtype=dtypes.int32, name=None):
        """Binomial(counts, probs) samples of `shape`; counts and probs are floating-point
        and broadcast to `shape`."""
        op = "Generator.binomial"
        shape = _shape(op, shape)
        dtype = _dtype(op, dtype, _FLOATS + _INTS)
        counts, probs = _binomial_params(op, counts, probs, shape, floats_only=True)
        return _bind_draw(_random_binomial, (counts, probs), self._draw_seed(), shape=shape,
                          dtype=dtype)

    def make_seeds(self, count=1):
        """A [2, count] int64 tensor of seeds for stateless ops (column i: seed i)."""
        count = _count("Generator.make_seeds", count)
        keys = _full_int("Generator.make_seeds", (count,), dtypes.int64, self._draw_seed())
        return array.stack([keys, array.zeros_like(keys)])

    def split(self, count=1):
        """`count` new generators, independent of this one and of each other: their keys are
        drawn from this generator (which advances), their counters start at zero. Runs eagerly
        (inside a tf.function, once, when it is traced), as the new generators' Variables are
        made then."""
        count = _count("Generator.split", count)
        counter_words = _STATE_SIZES[self._alg] - 1
        with init_scope():
            keys = _full_int("Generator.split", (count,), dtypes.int64, self._next_seed(1))
            return [Generator(state=[0] * counter_words + [key], alg=self._alg)
                    for key in keys.numpy().tolist()]

    def __repr__(self):
        return (f"<tf.random.Generator alg={self._alg} "
                f"state={self._read_state()}>")


def _count(op, count):
    count = _int_seed(op, count)
    if count < 0:
        raise errors.InvalidArgumentError(
            f"{op}: count must be non-negative, received {count}", op)
    return count


def _key_counter_state(key, counter, alg):
    op = "Generator.from_key_counter"
    if isinstance(key, _TensorLike):
        key = key.numpy().tolist()
    if isinstance(counter, _TensorLike):
        counter = counter.numpy().tolist()
    size = _STATE_SIZES[alg] - 1
    if not isinstance(key, int) or not isinstance(counter, (list, tuple)) or len(counter) != size:
        raise errors.InvalidArgumentError(
            f"{op}: need a scalar int key and a counter of {size} ints for algorithm {alg}, "
            f"received key={key!r} and counter={counter!r}", op)
    return [_signed(_int_seed(op, c)) for c in counter] + [_signed(key)]


def _full_int(op, shape, dtype, seed):
    """Integers over `dtype`'s range: drawn as int64 in [lo, hi) and cast, exactly for the
    32-bit types; int64 and uint64 (the int64 draw reinterpreted) miss one value of 2**64."""
    if dtype.size == 4:
        lo, hi = (dtype.min, dtype.max + 1)
    else:
        lo, hi = dtypes.int64.min, dtypes.int64.max
    bounds = (as_operand(op, lo, dtypes.int64), as_operand(op, hi, dtypes.int64))
    draw = _draw(op, _random_uniform_int, bounds, seed, shape, dtypes.int64)
    return draw if dtype == dtypes.int64 else math.cast(draw, dtype)


def _binomial_params(op, counts, probs, shape, floats_only=False):
    counts = as_operand(op, counts)
    if floats_only and not counts.dtype.is_floating:
        raise errors.InvalidArgumentError(
            f"{op}: counts must be floating-point (float16, float32 or float64), received "
            f"{counts.dtype.name}", op)
    probs = as_operand(op, probs, counts.dtype if counts.dtype.is_floating else None)
    return (_broadcast_to_shape(op, counts, shape, "counts"),
            _broadcast_to_shape(op, probs, shape, "probs"))


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
    _alg_value(alg)
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
    _alg_value(alg)
    shape, dtype = _shape(op, shape), _dtype(op, dtype, _FLOATS)
    raw = _stateless_draw(_random_truncated_normal, (), _stateless_seed(op, seed), shape=shape,
                          dtype=dtype)
    return _scaled(raw, stddev, mean, dtype, op)


def stateless_uniform(shape, seed, minval=0, maxval=None, dtype=dtypes.float32, name=None,
                      alg="auto_select"):
    """Uniform samples in [minval, maxval) determined by `seed`. For integer dtypes give
    both minval and maxval, or neither for the dtype's full range (the only choice for
    uint32 and uint64).

    >>> import tensorflux as tf
    >>> x = tf.random.stateless_uniform([50], [5, 6], minval=2, maxval=5, dtype=tf.int32)
    >>> sorted(set(x.numpy().tolist()))
    [2, 3, 4]
    >>> tf.random.stateless_uniform([2], [5, 6], minval=None, maxval=None, dtype=tf.uint32).dtype
    tf.uint32
    """
    op = "stateless_uniform"
    _alg_value(alg)
    shape, dtype = _shape(op, shape), _dtype(op, dtype, _FLOATS + _INTS + _UINTS)
    seed_vector = _stateless_seed(op, seed)
    if dtype.is_integer:
        # (tensorflux also takes the default minval=0 without maxval as the full range,
        # where TF asks for both to be None)
        if maxval is None and minval in (0, None):
            return _full_int(op, shape, dtype, _StatelessSeed(seed_vector))
        if dtype in _UINTS:
            raise errors.InvalidArgumentError(
                f"{op}: the unsigned dtype {dtype.name} takes only the full range "
                f"(minval=None, maxval=None), received minval={minval}, maxval={maxval}", op)
        if maxval is None or minval is None:
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


def stateless_parameterized_truncated_normal(shape, seed, means=0.0, stddevs=1.0, minvals=-2.0,
                                             maxvals=2.0, name=None):
    """Normal(means, stddevs) samples truncated to [minvals, maxvals], determined by `seed`.
    The parameters broadcast to `shape`; the dtype is that of `means` (float32 for a Python
    number). Drawn by inverting the normal CDF between the bounds, in float64, on the side
    of the mean where the tail probabilities keep their precision; bounds beyond ~37
    standard deviations use the exponential tail the density tends to there.

    >>> import tensorflux as tf
    >>> x = tf.random.stateless_parameterized_truncated_normal(
    ...     [1000], [1, 2], means=1.0, stddevs=2.0, minvals=0.0, maxvals=1.5).numpy()
    >>> bool(x.min() >= 0.0 and x.max() <= 1.5)
    True
    """
    from tensorflux.ops import reduction, special

    op = "stateless_parameterized_truncated_normal"
    shape = _shape(op, shape)
    means = as_operand(op, means)
    dtype = means.dtype if means.dtype.is_floating else dtypes.float32
    _dtype(op, dtype, _FLOATS)
    params = [means, stddevs, minvals, maxvals]
    for i, (what, value) in enumerate(zip(("means", "stddevs", "minvals", "maxvals"), params)):
        value = as_operand(op, value, None if isinstance(value, _TensorLike) else dtype)
        if value.dtype != dtype:
            raise errors.InvalidArgumentError(
                f"{op}: {what} must have the dtype of means, {dtype.name}, received "
                f"{value.dtype.name}", op)
        params[i] = math.cast(_broadcast_to_shape(op, value, shape, what), dtypes.float64)
    mu, sd, lo, hi = params
    if context.graph is None and 0 not in shape:
        bad = math.logical_or(math.less_equal(sd, 0.0), math.greater_equal(lo, hi))
        if bool(reduction.reduce_any(bad).numpy()):
            raise errors.InvalidArgumentError(
                f"{op}: need stddevs > 0 and minvals < maxvals", op)
    a, b = (lo - mu) / sd, (hi - mu) / sd
    # Mirror intervals above the mean to below it: there Phi(x) = erfc(-x / sqrt 2) / 2 keeps
    # its relative precision down to ~1e-308, where 1 - Phi would round to 0.
    flip = math.greater(a, 0.0)
    low = math.where(flip, -b, a)
    high = math.where(flip, -a, b)

    def cdf(x):
        # (bounds clipped to +-1000 sd, where the CDF is exactly 0 or 1: erfc(+-inf) is NaN)
        x = math.minimum(math.maximum(x, -1000.0), 1000.0)
        return 0.5 * special.erfc(-x * 0.7071067811865476)

    u = stateless_uniform(shape, seed, dtype=dtypes.float64)
    p_low, p_high = cdf(low), cdf(high)
    z = special.ndtri(p_low + u * (p_high - p_low))
    z = math.minimum(math.maximum(z, low), high)
    z = math.where(flip, -z, z)
    # Both tail probabilities underflow (the nearer bound m = -high beyond ~37 standard
    # deviations): there the density of y = -z is proportional to exp(-m (y - m)) to first
    # order, an exponential from m, cut at the interval's width w.
    deep = math.equal(p_high, 0.0)
    m = math.where(deep, -high, array.ones_like(high) * 40.0)  # (40: any safe divisor)
    width = high - low
    y = m - math.log1p(u * math.expm1(-m * width)) / m
    y = math.minimum(y, m + width)
    z = math.where(deep, math.where(flip, y, -y), z)
    return math.cast(mu + sd * z, dtype)


def stateless_shuffle(value, seed, alg="auto_select", name=None):
    """A permutation of `value` along its first dimension, determined by `seed`.

    >>> import tensorflux as tf
    >>> x = tf.random.experimental.stateless_shuffle(tf.range(5), seed=[1, 2])
    >>> sorted(x.numpy().tolist()) == [0, 1, 2, 3, 4]
    True
    """
    op = "stateless_shuffle"
    _alg_value(alg)
    return _shuffled(op, as_operand(op, value), seed)


def _shuffled(op, value, seed):
    return _stateless_draw(_random_shuffle, (value,), _stateless_seed(op, seed))


def index_shuffle(index, seed, max_index):
    """The position of `index` in the permutation of [0, max_index] that `seed` determines:
    index_shuffle(range(n), seed, n - 1) is a permutation of range(n). `index` is a scalar or
    a vector of int32/int64/uint32/uint64 values in [0, max_index]; `max_index` a scalar of
    its dtype. (tensorflux builds the permutation, so it costs O(max_index) memory.)

    >>> import tensorflux as tf
    >>> x = tf.random.experimental.index_shuffle(tf.range(4), seed=[5, 9], max_index=3)
    >>> sorted(x.numpy().tolist())
    [0, 1, 2, 3]
    """
    op = "index_shuffle"
    index = as_operand(op, index)
    if index.dtype not in _INTS + _UINTS or index.shape.rank not in (0, 1):
        raise errors.InvalidArgumentError(
            f"{op}: index must be an int32, int64, uint32 or uint64 scalar or vector, "
            f"received {index.dtype.name} with shape {tuple(index.shape)}", op)
    max_index = as_operand(op, max_index, None if isinstance(max_index, _TensorLike)
                           else index.dtype)
    if max_index.dtype != index.dtype or max_index.shape.rank != 0:
        raise errors.InvalidArgumentError(
            f"{op}: max_index must be a scalar of index's dtype {index.dtype.name}, received "
            f"{max_index.dtype.name} with shape {tuple(max_index.shape)}", op)
    if context.graph is None:
        top, values = int(max_index.numpy()), index.numpy().reshape(-1).tolist()
        if values and (min(values) < 0 or max(values) > top):
            raise errors.InvalidArgumentError(
                f"{op}: index must be in [0, max_index={top}], received values from "
                f"{min(values)} to {max(values)}", op)
    wide = math.cast(max_index, dtypes.int64)
    order = _shuffled(op, array.range(wide + 1, dtype=dtypes.int64), seed)
    return math.cast(indexing.gather(order, math.cast(index, dtypes.int64)), index.dtype)
