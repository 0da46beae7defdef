"""tf.random.experimental: the stateless seed helpers under their experimental names
(stateless_fold_in, stateless_split) and the Generator API. Loaded on first use."""

from tensorflux.ops.random import Generator, get_global_generator, set_global_generator
from tensorflux.ops.sampling import fold_in as stateless_fold_in
from tensorflux.ops.sampling import split as stateless_split

__all__ = ["Generator", "get_global_generator", "set_global_generator", "stateless_fold_in",
           "stateless_split"]
