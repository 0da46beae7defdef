"""keras.ops against real Keras 3: values, dtypes and shapes on the same inputs, ops inside a
Functional model, and gradients against central finite differences."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras as tfk
from tensorflux.keras import ops
from tests.keras._oracle import assert_matches, fresh_names, import_keras, to_numpy  # noqa: F401
from tests.tolerances import central_difference

pytestmark = pytest.mark.keras_oracle

RNG = np.random.default_rng(0)
F = RNG.normal(size=(3, 4)).astype("float32")          # floats
G = RNG.normal(size=(3, 4)).astype("float32")
P = RNG.uniform(0.1, 2.0, size=(3, 4)).astype("float32")  # positive
U = RNG.uniform(-0.9, 0.9, size=(3, 4)).astype("float32")  # in (-1, 1)
I = RNG.integers(-5, 6, size=(3, 4)).astype("int32")   # ints  # noqa: E741
J = RNG.integers(1, 6, size=(3, 4)).astype("int32")    # positive ints
V = RNG.normal(size=(4,)).astype("float32")
M = RNG.normal(size=(4, 5)).astype("float32")
SQ = (RNG.normal(size=(3, 3)) + 3 * np.eye(3)).astype("float32")
B = F > 0
IMG = RNG.normal(size=(2, 6, 6, 3)).astype("float32")
SEQ = RNG.normal(size=(2, 7, 3)).astype("float32")
LABELS = np.array([0, 2, 1], dtype="int32")
PROBS = (np.abs(F[:, :3]) + 0.1) / (np.abs(F[:, :3]) + 0.1).sum(-1, keepdims=True)
ONEHOT = np.eye(3, dtype="float32")[LABELS]
SIG = 1 / (1 + np.exp(-F))

# (id, op name, positional args, keyword args)
CASES = [
    # elementwise binary, with Keras's dtype promotion
    ("add", "add", (F, G), {}), ("add_int_float", "add", (I, F), {}),
    ("add_int_scalar", "add", (I, 2.5), {}), ("add_float_int_scalar", "add", (F, 2), {}),
    ("subtract", "subtract", (F, I), {}), ("multiply", "multiply", (I, J), {}),
    ("divide", "divide", (F, P), {}), ("divide_ints", "divide", (I, J), {}),
    ("true_divide", "true_divide", (I, J), {}), ("floor_divide", "floor_divide", (I, J), {}),
    ("floor_divide_f", "floor_divide", (F, P), {}), ("mod", "mod", (I, J), {}),
    ("mod_f", "mod", (F, P), {}), ("power", "power", (P, F), {}),
    ("power_int", "power", (J, 2), {}), ("maximum", "maximum", (F, G), {}),
    ("minimum", "minimum", (I, F), {}), ("arctan2", "arctan2", (F, G), {}),
    ("logaddexp", "logaddexp", (F, G), {}),
    ("equal", "equal", (I, J), {}), ("not_equal", "not_equal", (F, G), {}),
    ("greater", "greater", (F, G), {}), ("greater_equal", "greater_equal", (I, 0), {}),
    ("less", "less", (F, G), {}), ("less_equal", "less_equal", (I, F), {}),
    ("logical_and", "logical_and", (B, F > 0.5), {}), ("logical_or", "logical_or", (B, I), {}),
    ("logical_xor", "logical_xor", (B, F > 0.5), {}), ("logical_not", "logical_not", (B,), {}),
    ("isclose", "isclose", (F, F + 1e-7), {}),
    # elementwise unary
    ("abs", "abs", (F,), {}), ("abs_int", "abs", (I,), {}), ("absolute", "absolute", (F,), {}),
    ("negative", "negative", (I,), {}), ("square", "square", (F,), {}),
    ("square_int", "square", (I,), {}), ("sqrt", "sqrt", (P,), {}),
    ("sqrt_int", "sqrt", (J,), {}), ("exp", "exp", (F,), {}), ("exp_int", "exp", (I,), {}),
    ("log", "log", (P,), {}), ("log1p", "log1p", (P,), {}), ("expm1", "expm1", (F,), {}),
    ("log2", "log2", (P,), {}), ("log10", "log10", (P,), {}), ("exp2", "exp2", (F,), {}),
    ("sin", "sin", (F,), {}), ("cos", "cos", (F,), {}), ("tan", "tan", (U,), {}),
    ("tanh", "tanh", (F,), {}), ("sinh", "sinh", (F,), {}), ("cosh", "cosh", (F,), {}),
    ("arcsin", "arcsin", (U,), {}), ("arccos", "arccos", (U,), {}),
    ("arctan", "arctan", (F,), {}), ("sign", "sign", (F,), {}), ("sign_int", "sign", (I,), {}),
    ("floor", "floor", (F * 3,), {}), ("ceil", "ceil", (F * 3,), {}),
    ("round", "round", (F * 3,), {}), ("round_decimals", "round", (F * 3,), {"decimals": 1}),
    ("trunc", "trunc", (F * 3,), {}), ("reciprocal", "reciprocal", (P,), {}),
    ("clip", "clip", (F, -0.5, 0.5), {}), ("clip_int", "clip", (I, -2, 3), {}),
    ("isnan", "isnan", (np.array([1.0, np.nan, np.inf], "float32"),), {}),
    ("isinf", "isinf", (np.array([1.0, np.nan, -np.inf], "float32"),), {}),
    ("isfinite", "isfinite", (np.array([1.0, np.nan, np.inf], "float32"),), {}),
    ("nan_to_num", "nan_to_num", (np.array([1.0, np.nan, np.inf, -np.inf], "float32"),), {}),
    ("nan_to_num_values", "nan_to_num",
     (np.array([1.0, np.nan, np.inf, -np.inf], "float32"),),
     {"nan": 2.0, "posinf": 9.0, "neginf": -9.0}),
    ("erf", "erf", (F,), {}), ("rsqrt", "rsqrt", (P,), {}),
    ("where", "where", (B, F, G), {}), ("where_scalars", "where", (B, 1.0, 0), {}),
    ("where_int_float", "where", (B, I, F), {}),
    # reductions
    ("sum", "sum", (F,), {}), ("sum_axis", "sum", (F,), {"axis": 1, "keepdims": True}),
    ("sum_int", "sum", (I,), {"axis": 0}), ("sum_bool", "sum", (B,), {}),
    ("mean", "mean", (F,), {"axis": 0}), ("mean_int", "mean", (I,), {}),
    ("mean_axes", "mean", (IMG,), {"axis": (1, 2), "keepdims": True}),
    ("max", "max", (F,), {"axis": 1}), ("max_int", "max", (I,), {}),
    ("min", "min", (F,), {"axis": -1, "keepdims": True}), ("prod", "prod", (P,), {"axis": 0}),
    ("prod_int", "prod", (J,), {"axis": 1}), ("std", "std", (F,), {"axis": 1}),
    ("std_int", "std", (I,), {}), ("var", "var", (F,), {"axis": 0}),
    ("var_int", "var", (I,), {"axis": 1}), ("amax", "amax", (F,), {"axis": 0}),
    ("amin", "amin", (F,), {}),
    ("argmax", "argmax", (F,), {}), ("argmax_axis", "argmax", (F,), {"axis": 1}),
    ("argmax_keepdims", "argmax", (F,), {"axis": 0, "keepdims": True}),
    ("argmin", "argmin", (F,), {"axis": 0}), ("argsort", "argsort", (F,), {}),
    ("argsort_axis0", "argsort", (F,), {"axis": 0}), ("sort", "sort", (F,), {"axis": 0}),
    ("cumsum", "cumsum", (F,), {}), ("cumsum_axis", "cumsum", (F,), {"axis": 1}),
    ("cumsum_int", "cumsum", (I,), {"axis": 0}), ("cumprod", "cumprod", (P,), {"axis": 1}),
    ("all", "all", (B,), {"axis": 1}), ("any", "any", (B,), {}),
    ("all_float", "all", (F,), {}),
    ("count_nonzero", "count_nonzero", (I,), {}),
    ("count_nonzero_axis", "count_nonzero", (I,), {"axis": 0}),
    ("logsumexp", "logsumexp", (F,), {"axis": 1}), ("logsumexp_all", "logsumexp", (F,), {}),
    ("average", "average", (F,), {"axis": 1}),
    ("average_weights", "average", (F, 1), {"weights": P[0]}),
    ("diff", "diff", (F,), {}), ("diff_n2_axis0", "diff", (F,), {"n": 2, "axis": 0}),
    ("top_k", "top_k", (F, 2), {}),
    # products
    ("matmul", "matmul", (F, M), {}), ("matmul_vec", "matmul", (F, V), {}),
    ("matmul_vec_left", "matmul", (V, M), {}), ("matmul_batch", "matmul", (SEQ, M[:3]), {}),
    ("matmul_int_float", "matmul", (I, M), {}), ("dot", "dot", (F, M), {}),
    ("dot_vec", "dot", (V, V), {}), ("dot_nd", "dot", (SEQ, M[:3]), {}),
    ("tensordot", "tensordot", (F, M), {"axes": 1}),
    ("tensordot_pairs", "tensordot", (SEQ, F[:, :3]), {"axes": ([2], [1])}),
    ("einsum", "einsum", ("ij,jk->ik", F, M), {}), ("einsum_trace", "einsum", ("ii", SQ), {}),
    ("outer", "outer", (V, V[:3]), {}), ("inner", "inner", (F, G), {}),
    ("vdot", "vdot", (V, V * 2), {}), ("trace", "trace", (SQ,), {}),
    # shapes and indexing
    ("transpose", "transpose", (IMG,), {}),
    ("transpose_axes", "transpose", (IMG, (0, 3, 1, 2)), {}),
    ("reshape", "reshape", (F, (2, 6)), {}), ("reshape_minus1", "reshape", (F, (-1,)), {}),
    ("expand_dims", "expand_dims", (F, 1), {}),
    ("expand_dims_tuple", "expand_dims", (F, (0, -1)), {}),
    ("squeeze", "squeeze", (F[:1],), {}),
    ("squeeze_axis", "squeeze", (F[:1, :, None],), {"axis": -1}),
    ("concatenate", "concatenate", ([F, G],), {"axis": 1}),
    ("concatenate_promote", "concatenate", ([I, F],), {}),
    ("stack", "stack", ([F, G],), {"axis": -1}), ("split", "split", (F, 2), {"axis": 1}),
    ("split_indices", "split", (F, [1, 3]), {"axis": 1}),
    ("tile", "tile", (F, (2, 1)), {}), ("tile_more", "tile", (V, (2, 2)), {}),
    ("repeat", "repeat", (F, 2), {"axis": 0}), ("repeat_flat", "repeat", (F, 2), {}),
    ("broadcast_to", "broadcast_to", (V, (3, 4)), {}),
    ("take", "take", (F, np.array([0, 2, -1])), {"axis": 1}),
    ("take_flat", "take", (F, np.array([[0, 5], [11, 3]])), {}),
    ("take_along_axis", "take_along_axis", (F, np.argsort(F, axis=1)), {"axis": 1}),
    ("take_along_axis_0", "take_along_axis", (F, np.array([[2, 0, 1, 1]])), {"axis": 0}),
    ("pad", "pad", (F, ((1, 0), (2, 1))), {}),
    ("pad_reflect", "pad", (F, ((1, 1), (2, 2))), {"mode": "reflect"}),
    ("pad_value", "pad", (F, ((0, 1), (1, 0))), {"constant_values": 3.0}),
    ("flip", "flip", (F,), {}), ("flip_axis", "flip", (F,), {"axis": 1}),
    ("roll", "roll", (F, 1), {}), ("roll_axis", "roll", (F, -1), {"axis": 1}),
    ("roll_axes", "roll", (F, (1, 2)), {"axis": (0, 1)}),
    ("moveaxis", "moveaxis", (IMG, 3, 1), {}), ("swapaxes", "swapaxes", (IMG, 1, 3), {}),
    ("triu", "triu", (F,), {}),
    ("tril", "tril", (F,), {"k": -1}), ("triu_k", "triu", (SQ,), {"k": 1}),
    ("diag", "diag", (V,), {}), ("diag_k", "diag", (V,), {"k": 1}), ("diag_2d", "diag", (SQ,), {}),
    ("diagonal", "diagonal", (SQ,), {"offset": 1}),
    ("vstack", "vstack", ([F, G],), {}), ("hstack", "hstack", ([F, G],), {}),
    ("hstack_1d", "hstack", ([V, V],), {}), ("append", "append", (F, G), {"axis": 0}),
    ("ravel", "ravel", (F,), {}), ("copy", "copy", (F,), {}),
    ("get_item", "get_item", (F, (slice(None), 1)), {}),
    ("meshgrid", "meshgrid", (V, V[:3]), {}),
    ("meshgrid_ij", "meshgrid", (V, V[:3]), {"indexing": "ij"}),
    ("select", "select", ([F > 0.5, F < -0.5], [F, G]), {}),
    ("norm", "norm", (F,), {}), ("norm_axis", "norm", (F,), {"axis": 1}),
    ("norm_ord1", "norm", (F,), {"ord": 1, "axis": 0}),
    ("norm_fro", "norm", (F,), {"ord": "fro", "keepdims": True}),
    ("norm_int", "norm", (I,), {}), ("det", "det", (SQ,), {}), ("inv", "inv", (SQ,), {}),
    # creation
    ("zeros", "zeros", ((2, 3),), {}), ("ones_int", "ones", ((2,),), {"dtype": "int32"}),
    ("full", "full", ((2, 2), 3.0), {}), ("full_int", "full", ((2, 2), 3), {}),
    ("zeros_like", "zeros_like", (I,), {}), ("ones_like", "ones_like", (F,), {"dtype": "int32"}),
    ("full_like", "full_like", (F, 2), {}), ("arange", "arange", (5,), {}),
    ("arange_float", "arange", (0.0, 2.0, 0.5), {}), ("arange_step", "arange", (1, 9, 3), {}),
    ("linspace", "linspace", (0.0, 1.0, 5), {}),
    ("linspace_no_end", "linspace", (0, 1, 4), {"endpoint": False}),
    ("eye", "eye", (3,), {}),
    ("eye_k", "eye", (3, 4), {"k": 1}), ("identity", "identity", (3,), {}),
    ("tri", "tri", (3,), {"k": 1}),
    # nn
    ("relu", "relu", (F,), {}), ("relu_int", "relu", (I,), {}), ("relu6", "relu6", (F * 5,), {}),
    ("sigmoid", "sigmoid", (F,), {}), ("softmax", "softmax", (F,), {}),
    ("softmax_axis0", "softmax", (F,), {"axis": 0}), ("log_softmax", "log_softmax", (F,), {}),
    ("softplus", "softplus", (F,), {}), ("softsign", "softsign", (F,), {}),
    ("silu", "silu", (F,), {}), ("swish", "swish", (F,), {}), ("gelu", "gelu", (F,), {}),
    ("gelu_exact", "gelu", (F,), {"approximate": False}), ("elu", "elu", (F,), {}),
    ("elu_alpha", "elu", (F,), {"alpha": 0.5}), ("selu", "selu", (F,), {}),
    ("leaky_relu", "leaky_relu", (F,), {}),
    ("leaky_relu_slope", "leaky_relu", (F,), {"negative_slope": 0.1}),
    ("hard_sigmoid", "hard_sigmoid", (F * 4,), {}), ("hard_silu", "hard_silu", (F * 4,), {}),
    ("hard_swish", "hard_swish", (F * 4,), {}), ("log_sigmoid", "log_sigmoid", (F,), {}),
    ("celu", "celu", (F,), {}), ("glu", "glu", (F,), {}), ("hard_tanh", "hard_tanh", (F * 2,), {}),
    ("soft_shrink", "soft_shrink", (F,), {}), ("hard_shrink", "hard_shrink", (F,), {}),
    ("tanh_shrink", "tanh_shrink", (F,), {}), ("squareplus", "squareplus", (F,), {}),
    ("sparse_plus", "sparse_plus", (F,), {}), ("sparsemax", "sparsemax", (F,), {}),
    ("one_hot", "one_hot", (LABELS, 3), {}), ("one_hot_axis0", "one_hot", (LABELS, 4), {"axis": 0}),
    ("multi_hot", "multi_hot", (np.array([[0, 2], [1, 1]]), 3), {}),
    ("binary_crossentropy", "binary_crossentropy", ((F > 0).astype("float32"), SIG), {}),
    ("binary_crossentropy_logits", "binary_crossentropy", ((F > 0).astype("float32"), F),
     {"from_logits": True}),
    ("categorical_crossentropy", "categorical_crossentropy", (ONEHOT, PROBS), {}),
    ("categorical_crossentropy_logits", "categorical_crossentropy", (ONEHOT, F[:, :3]),
     {"from_logits": True}),
    ("sparse_categorical_crossentropy", "sparse_categorical_crossentropy", (LABELS, PROBS), {}),
    ("sparse_categorical_crossentropy_logits", "sparse_categorical_crossentropy",
     (LABELS, F[:, :3]), {"from_logits": True}),
    ("moments", "moments", (IMG, (0, 1, 2)), {}),
    ("moments_keepdims", "moments", (F, 1), {"keepdims": True}),
    ("normalize", "normalize", (F,), {}), ("normalize_axis0", "normalize", (F,), {"axis": 0}),
    ("normalize_l1", "normalize", (F,), {"order": 1}),
    ("batch_normalization", "batch_normalization", (F, V, np.abs(V) + 0.5, 1),
     {"offset": V * 0.1, "scale": V + 2.0}),
    ("layer_normalization", "layer_normalization", (F,), {}),
    ("rms_normalization", "rms_normalization", (F,), {}),
    ("conv2d", "conv", (IMG, RNG.normal(size=(3, 3, 3, 4)).astype("float32")), {}),
    ("conv2d_same_stride", "conv", (IMG, RNG.normal(size=(3, 3, 3, 2)).astype("float32")),
     {"strides": 2, "padding": "same"}),
    ("conv1d", "conv", (SEQ, RNG.normal(size=(2, 3, 4)).astype("float32")),
     {"dilation_rate": 2}),
    ("conv2d_channels_first",
     "conv", (IMG.transpose(0, 3, 1, 2).copy(), RNG.normal(size=(3, 3, 3, 2)).astype("float32")),
     {"data_format": "channels_first"}),
    ("depthwise_conv", "depthwise_conv", (IMG, RNG.normal(size=(3, 3, 3, 2)).astype("float32")),
     {"padding": "same"}),
    ("max_pool", "max_pool", (IMG, 2), {}),
    ("max_pool_same", "max_pool", (IMG, 3), {"strides": 2, "padding": "same"}),
    ("average_pool", "average_pool", (IMG, (2, 3)), {}),
    ("average_pool_1d", "average_pool", (SEQ, 2), {"strides": 1}),
    ("in_top_k", "in_top_k", (LABELS, F[:, :3], 2), {}),
    ("segment_sum", "segment_sum", (F, np.array([0, 0, 2])), {"num_segments": 3}),
    # core
    ("cast", "cast", (F, "int32"), {}), ("cast_bool", "cast", (I, "bool"), {}),
    ("stop_gradient", "stop_gradient", (F,), {}), ("unstack", "unstack", (F,), {"axis": 1}),
    ("scatter", "scatter", (np.array([[0, 1], [2, 3], [0, 1]]), np.array([1.0, 2.0, 3.0],
                                                                        "float32"), (3, 4)), {}),
    ("scatter_update", "scatter_update", (F, np.array([[0, 1], [2, 3]]),
                                          np.array([9.0, 8.0], "float32")), {}),
    ("slice", "slice", (F, (1, 1), (2, 2)), {}),
    ("slice_update", "slice_update", (F, (1, 2), np.ones((2, 2), "float32")), {}),
    ("convert_to_tensor", "convert_to_tensor", ([1, 2, 3],), {}),
    ("convert_to_tensor_float", "convert_to_tensor", ([1.0, 2.0],), {}),
    ("convert_to_tensor_dtype", "convert_to_tensor", (F,), {"dtype": "float16"}),
]


# Where Keras's torch backend returns torch's native dtype instead of the one Keras documents
# (and its symbolic KerasTensors report), tensorflux follows the documented one.
TORCH_DTYPES = {("top_k", 1): ("int32", "int64")}
# Ops whose Keras torch implementation needs tensors rather than NumPy arrays.
TENSOR_INPUTS = {"stop_gradient", "unstack"}


def _dtype_name(value, keras):
    if hasattr(value, "dtype") and not isinstance(value, np.ndarray):
        return keras.backend.standardize_dtype(value.dtype)
    return str(np.asarray(value).dtype)


def _leaves(value):
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_op_matches_keras(case):
    keras = import_keras()
    _, name, args, kwargs = case
    if name in TENSOR_INPUTS:
        theirs = getattr(keras.ops, name)(*map(keras.ops.convert_to_tensor, args), **kwargs)
        ours = getattr(ops, name)(*map(tf.constant, args), **kwargs)
    else:
        theirs = getattr(keras.ops, name)(*args, **kwargs)
        ours = getattr(ops, name)(*args, **kwargs)
    their_leaves, our_leaves = _leaves(theirs), _leaves(ours)
    assert len(our_leaves) == len(their_leaves), f"{name}: {len(our_leaves)} outputs"
    for index, (a, b) in enumerate(zip(our_leaves, their_leaves)):
        what = f"{name} output {index}"
        dtypes = (_dtype_name(a, keras), _dtype_name(b, keras))
        assert dtypes[0] == dtypes[1] or TORCH_DTYPES.get((name, index)) == dtypes, \
            f"{what}: dtype {dtypes[0]} != Keras {dtypes[1]}"
        assert_matches(a, b, rtol=2e-5, atol=2e-5, what=what)


def test_flat_namespace_and_submodules():
    assert ops.numpy.sum is ops.sum
    assert ops.nn.relu is ops.relu
    assert ops.linalg.norm is ops.norm
    assert ops.math.top_k is ops.top_k
    assert ops.core.cast is ops.cast
    assert ops.ndim(F) == 2 and ops.shape(F) == (3, 4) and ops.dtype(I) == "int32"
    assert ops.is_tensor(tf.constant(1.0)) and not ops.is_tensor(F)
    assert np.array_equal(ops.convert_to_numpy(tf.constant([1, 2])), np.array([1, 2]))


def test_unknown_names_raise_attribute_error_naming_them():
    with pytest.raises(AttributeError, match="no_such_op"):
        ops.no_such_op  # noqa: B018


def test_documented_absences_are_really_absent():
    for name in ops._NOT_PROVIDED:
        assert name not in ops.__all__ and name not in vars(ops), name


def test_control_flow():
    keras = import_keras()
    assert int(ops.while_loop(lambda i: i < 10, lambda i: i + 3, 0)) == int(
        keras.ops.while_loop(lambda i: i < 10, lambda i: i + 3, 0))
    ours = ops.while_loop(lambda i, s: i < 4, lambda i, s: (i + 1, s * 2.0), (0, 1.0))
    theirs = keras.ops.while_loop(lambda i, s: i < 4, lambda i, s: (i + 1, s * 2.0), (0, 1.0))
    assert float(ours[1]) == float(theirs[1])
    assert float(ops.fori_loop(0, 5, lambda i, v: ops.add(v, i), 0.0)) == float(
        keras.ops.fori_loop(0, 5, lambda i, v: keras.ops.add(v, i), 0.0))
    assert float(ops.cond(tf.constant(False), lambda: 1.0, lambda: 2.0)) == 2.0
    branches = [lambda x: x + 1.0, lambda x: x * 10.0]
    assert float(ops.switch(tf.constant(5), branches, 2.0)) == float(
        keras.ops.switch(5, branches, 2.0))


def test_ops_trace_inside_tf_function():
    f = tf.function(lambda x: ops.sum(ops.relu(x) * ops.cast(2, "float32"), axis=1))
    assert_matches(f(tf.constant(F)), np.sum(np.maximum(F, 0) * 2, axis=1), rtol=1e-6)


def _functional(module, layers_module, shape):
    """x -> a chain of keras.ops calls of `module`, used between two Dense layers."""
    x = module.Input(shape=shape)
    h = layers_module.Dense(4, name="d1")(x)
    y = module.ops.concatenate([module.ops.relu(h), module.ops.sigmoid(h)], axis=-1)
    y = module.ops.mean(module.ops.square(y), axis=-1, keepdims=True) + module.ops.sum(
        module.ops.abs(h), axis=1, keepdims=True)
    y = module.ops.where(module.ops.greater(y, 1.0), module.ops.log(y), y)
    y = module.ops.reshape(module.ops.expand_dims(y, 1), (-1, 1))
    out = layers_module.Dense(2, name="d2")(module.ops.matmul(y, module.ops.ones((1, 3))))
    return module.Model(x, module.ops.softmax(out))


def test_ops_on_keras_tensors_in_a_functional_model():
    keras = import_keras()
    ours = _functional(tfk, tfk.layers, (5,))
    theirs = _functional(keras, keras.layers, (5,))
    assert [tuple(w.shape) for w in ours.get_weights()] == \
        [tuple(w.shape) for w in theirs.get_weights()]
    ours.set_weights(theirs.get_weights())
    data = RNG.normal(size=(8, 5)).astype("float32")
    assert ours.output_shape == theirs.output_shape
    assert_matches(ours.predict(data, verbose=0), theirs.predict(data, verbose=0), rtol=1e-5,
                   atol=1e-6)
    assert len(ours.layers) == 3  # ops are nodes, not layers, as in Keras


def test_symbolic_call_gives_keras_tensor_with_keras_shape_and_dtype():
    keras = import_keras()
    for build in (lambda m, x: m.ops.argmax(x, axis=-1), lambda m, x: m.ops.mean(x, axis=1),
                  lambda m, x: m.ops.cast(x, "int32"), lambda m, x: m.ops.top_k(x, 2)[1],
                  lambda m, x: m.ops.split(x, 2, axis=1)[0]):
        ours = build(tfk, tfk.Input(shape=(4,)))
        theirs = build(keras, keras.Input(shape=(4,)))
        assert isinstance(ours, tfk.KerasTensor)
        assert (ours.shape, ours.dtype) == (theirs.shape, theirs.dtype)


@pytest.mark.parametrize("name,fn", [
    ("logsumexp", lambda x: ops.logsumexp(x)),
    ("norm", lambda x: ops.norm(x)),
    ("softmax", lambda x: ops.sum(ops.softmax(x) * ops.arange(4, dtype="float64"))),
    ("gelu", lambda x: ops.sum(ops.gelu(x))),
    ("take_along_axis", lambda x: ops.sum(ops.take_along_axis(x, np.array([[3, 0]] * 3), 1)
                                          ** 2)),
    ("roll_triu", lambda x: ops.sum(ops.triu(ops.roll(x, 1, axis=1)) ** 3)),
    ("std", lambda x: ops.std(x, axis=0)[1]),
    ("slice_update", lambda x: ops.sum(ops.slice_update(x, (1, 1), ops.ones((2, 2),
                                                                              "float64")) ** 2)),
    ("binary_crossentropy", lambda x: ops.sum(ops.binary_crossentropy(
        np.ones((3, 4)), ops.sigmoid(x)))),
    ("normalize", lambda x: ops.sum(ops.normalize(x) * np.arange(4.0))),
])
def test_gradients_match_central_differences(name, fn):
    x = RNG.normal(size=(3, 4))
    variable = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(variable)
        y = fn(variable)
    grad = tape.gradient(y, variable).numpy()
    expected = central_difference(lambda v: float(fn(tf.constant(v))), x)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6, err_msg=name)
