"""tf.autograph: converts Python control flow that depends on tensors (`if`, `while`, `for`,
`break`, `continue`, `return`, `and`/`or`/`not`, `a if c else b`) into tf.cond and
tf.while_loop when a tf.function traces it, as TensorFlow's AutoGraph does.

tf.function converts the function it traces (autograph=True, the default) and, recursively,
the user functions it calls; library code (tensorflux, NumPy, the standard library) runs as
it is. Statements whose conditions are Python values run as plain Python.

>>> import tensorflux as tf
>>> @tf.function
... def collatz_steps(n):
...     steps = 0
...     while n != 1:
...         n = n // 2 if n % 2 == 0 else 3 * n + 1
...         steps += 1
...     return steps
>>> int(collatz_steps(tf.constant(6)))
8
"""

from tensorflux.autograph import experimental
from tensorflux.autograph.impl import do_not_convert, set_verbosity, to_code, to_graph, trace

__all__ = ["experimental", "do_not_convert", "set_verbosity", "to_code", "to_graph", "trace"]
