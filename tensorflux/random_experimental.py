"""tf.random.experimental: the stateless seed helpers under their experimental names
(stateless_fold_in, stateless_split), stateless_shuffle, index_shuffle and the Generator API.
Loaded on first use."""

from tensorflux.ops.random import (
    Algorithm,
    Generator,
    create_rng_state,
    get_global_generator,
    index_shuffle,
    set_global_generator,
    stateless_shuffle,
)
from tensorflux.ops.sampling import fold_in as stateless_fold_in
from tensorflux.ops.sampling import split as stateless_split

__all__ = ["Algorithm", "Generator", "create_rng_state", "get_global_generator", "index_shuffle",
           "set_global_generator", "stateless_fold_in", "stateless_shuffle", "stateless_split"]
