"""The op table: every row of every table_*.py module, in one list."""

from tests.ops import (
    table_array,
    table_autodiff,
    table_graph,
    table_image,
    table_linalg,
    table_math,
    table_nn,
    table_random,
    table_reduction,
)

ROWS = (table_math.ROWS + table_reduction.ROWS + table_linalg.ROWS + table_array.ROWS
        + table_nn.ROWS + table_random.ROWS + table_autodiff.ROWS + table_graph.ROWS
        + table_image.ROWS)

_names = [row.name for row in ROWS]
_repeated = {n for n in _names if _names.count(n) > 1}
if _repeated:
    raise ValueError(f"op-table rows must have unique names; repeated: {sorted(_repeated)}")
