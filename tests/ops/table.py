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
    test_image_additions,
    test_linalg_additions,
    test_stateless_random,
    test_tf_numeric_more,
)

ROWS = (table_math.ROWS + table_reduction.ROWS + table_linalg.ROWS + table_array.ROWS
        + table_nn.ROWS + table_random.ROWS + table_autodiff.ROWS + table_graph.ROWS
        + table_image.ROWS + test_linalg_additions.ROWS + test_image_additions.ROWS
        + test_stateless_random.ROWS
        + test_tf_numeric_more.ROWS)

_names = [row.name for row in ROWS]
_repeated = {n for n in _names if _names.count(n) > 1}
if _repeated:
    raise ValueError(f"op-table rows must have unique names; repeated: {sorted(_repeated)}")
