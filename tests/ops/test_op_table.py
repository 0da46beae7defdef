"""Runs the generic checks of tests/ops/harness.py on every row of the op table."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.backends import available_backends
from tests.ops import harness
from tests.ops.table import ROWS

FORWARD = [(row, dtype) for row in ROWS for dtype in row.dtypes]
GRADIENT = [row for row in ROWS if row.grad != ()]
SECOND = [row for row in ROWS if row.second_order]


@pytest.mark.parametrize("row,dtype", FORWARD, ids=[f"{r.name}-{d}" for r, d in FORWARD])
def test_forward_matches_numpy(row, dtype):
    harness.check_forward(row, dtype)


@pytest.mark.gpu
@pytest.mark.skipif("cupy" not in available_backends(), reason="no GPU with CuPy here")
@pytest.mark.parametrize("row,dtype", FORWARD, ids=[f"{r.name}-{d}" for r, d in FORWARD])
def test_forward_on_gpu_matches_numpy(row, dtype):
    with tf.device("GPU:0"):
        harness.check_forward(row, dtype)


@pytest.mark.parametrize("row", GRADIENT, ids=[r.name for r in GRADIENT])
def test_vjp_matches_finite_differences(row):
    harness.check_vjp(row)


@pytest.mark.parametrize("row", SECOND, ids=[r.name for r in SECOND])
def test_second_order_gradient(row):
    harness.check_second_order(row)


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_shape_rules_agree_with_kernels(row):
    harness.check_shape_rules(row)


def test_every_primitive_is_exercised_by_the_table():
    from tensorflux.primitive import registry

    used = set()
    for row in ROWS:
        for dtype in row.dtypes[:1] or ("float64",):
            used.update(node.primitive.name for node in harness.recorded_nodes(row, dtype))
    missing = sorted(set(registry) - used - NOT_IN_TABLE)
    assert not missing, f"primitives with no op-table row: {missing}"


# Primitives exercised by dedicated tests instead of the table, with the reason.
NOT_IN_TABLE = {
    "assign",  # mutates a Variable: tests/test_variable.py
    # CTC: tests/keras/test_ctc.py runs the op-table checks on its own rows (ROWS there).
    "ctc_loss", "ctc_loss_grad", "ctc_beam_search_decode",
    # FFTs: tests/test_signal.py runs the op-table checks on its own rows (ROWS there).
    "fft", "rfft", "irfft",
    # fused BatchNormalization training: tests/test_batchnorm_fused_s12.py runs the op-table
    # checks on its own rows (ROWS there).
    "batch_norm_training", "batch_norm_training_grad",
    # fused LayerNormalization: tests/test_layernorm_op_s17.py runs the op-table checks on its
    # own rows (ROWS there).
    "layer_norm", "layer_norm_grad",
    # run-time-shape gradients: tests/test_probe5_tutorials.py runs the op-table checks on its
    # own rows (ROWS there).
    "conv2d_backprop_input_dynamic", "avg_pool2d_grad_dynamic",
    # pad with run-time paddings: tests/test_probe14_graph_rl.py runs the op-table checks on
    # its own rows (PAD_ROWS there).
    "pad_dynamic", "pad_grad_dynamic",
    # eig and bitwise: tests/test_probe4_ops.py runs the op-table checks on its own rows (ROWS
    # there).
    "eig", "bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift",
    "random_candidates",  # random draws: tests/ops/test_tf_numeric_more.py
    # tf.math.special's functions: tests/test_probe10_tf_missing.py (SciPy in float64 and
    # float32, central differences, TF's values outside each domain).
    "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "bessel_k0e", "bessel_k1e", "dawsn",
    "expint", "fresnel_cos", "fresnel_sin", "spence",
    # Box ops: tests/test_image_more.py (float32 kernels, with references and finite
    # differences there).
    "image_non_max_suppression", "image_combined_non_max_suppression", "image_crop_and_resize",
    "image_crop_and_resize_grad_image", "image_crop_and_resize_grad_boxes",
    "image_draw_bounding_boxes", "image_sample_distorted_bounding_box",
    "string_join",  # string tensors: tests/test_tensor.py
    "string_case",  # string tensors: tests/keras/test_preprocessing.py
    "string_regex_replace",  # string tensors: tests/keras/test_preprocessing.py
    "string_split",  # string tensors: tests/keras/test_preprocessing.py
    "string_ngrams",  # string tensors: tests/keras/test_preprocessing.py
    "lookup_index",  # hash-table lookups: tests/keras/test_preprocessing.py
    # made by the passes (tests/graph/test_passes.py) and bound by eager Conv2D layers
    # (tests/test_eager_conv_fusion_s17.py: bit-equal to conv2d, add and relu, values and
    # gradients)
    "fused_conv2d",
    "fused_conv2d_backprop_filter",  # graph-only: tests/test_pool_filter_gradient.py
    "const",  # graph-only: made by tracing, tests/graph/
    "placeholder",  # graph-only: made by tracing, tests/graph/
    # Control flow, printing and graph seeds: built by tracing (or print with no outputs),
    # tested in tests/graph/test_control_flow.py and tests/graph/test_random_in_graph.py.
    "cond", "stateful_cond", "while", "stateful_while", "while_grad", "print",
    "random_seed_stream",
}


def _variable_rows():
    rows = []
    for row in ROWS:
        if "random" in row.name:
            continue
        rows.append(row)
    return rows


VARIABLE_ROWS = _variable_rows()


@pytest.mark.parametrize("row", VARIABLE_ROWS, ids=[r.name for r in VARIABLE_ROWS])
def test_ops_on_variables_return_tensors_that_later_assignments_do_not_change(row):
    """A Variable input is read at the op: outputs are Tensors, never views of its buffer."""
    rng = np.random.default_rng(0)
    arrays = harness.cast_inputs(row.sample(rng), row.dtypes[0] if row.dtypes else "float64")
    variables = [tf.Variable(a) for a in arrays]
    outs = [o for o in harness.to_list(row.fn(*variables)) if o is not None]
    for o in outs:
        assert isinstance(o, tf.Tensor), f"{row.name} returned {type(o).__name__}, not a Tensor"
    before = [np.array(o.numpy(), copy=True) for o in outs]
    for v, a in zip(variables, arrays):
        v.assign(np.ones_like(a) if a.dtype.kind != "b" else ~a)
    for o, b in zip(outs, before):
        np.testing.assert_array_equal(o.numpy(), b, err_msg=f"{row.name}: output changed when "
                                      "its input Variable was assigned")
