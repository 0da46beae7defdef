"""The filter gradient of a convolution under max pooling as one kernel
(fused_conv2d_backprop_filter, made by passes.fuse_pool_gradient_filters): the pool's
gradient routed a slice of the batch at a time and contracted with the slice's columns."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.backends import numpy_backend as nb
from tensorflux.graph import passes

CONV = dict(strides=(1, 1), padding="VALID", dilations=(1, 1), data_format="NHWC")
POOL = dict(pool_ksize=(2, 2), pool_strides=(2, 2), pool_padding="VALID")


def _data(n, size, c, o, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, size, size, c)).astype(dtype)
    y = rng.integers(-2, 3, (n, size - 2, size - 2, o)).astype(dtype)  # ties in windows
    g = rng.standard_normal((n, (size - 2) // 2, (size - 2) // 2, o)).astype(dtype)
    return x, y, g


def _reference(x, y, g):
    routed = nb.max_pool2d_grad(y.astype(np.float64), g.astype(np.float64), (2, 2), (2, 2),
                                "VALID", "NHWC")
    return nb.conv2d_backprop_filter(x.astype(np.float64), routed,
                                     (3, 3, x.shape[3], y.shape[3]), **CONV)


@pytest.mark.parametrize("size", [12, 13])  # (an odd conv output: a row no window reads)
@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_fused_filter_gradient_is_the_two_kernels(monkeypatch, size, c, dtype):
    monkeypatch.setattr(nb, "_NN_SLICE_BYTES", 4096)  # several slices
    x, y, g = _data(20, size, c, 5, dtype=dtype)
    results = []
    for threads in (1, 2):
        monkeypatch.setattr(nb, "_THREADS", threads)
        monkeypatch.setattr(nb, "_PARALLEL_MIN_BYTES", 1)
        results.append(nb.fused_conv2d_backprop_filter(x, y, g, (3, 3, c, 5), **CONV,
                                                       **POOL))
    np.testing.assert_array_equal(results[0], results[1])  # slices, not threads, set the sums
    assert results[0].dtype == dtype and results[0].shape == (3, 3, c, 5)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(results[0], _reference(x, y, g), rtol=tolerance,
                               atol=tolerance)


def test_non_finite_values_and_other_pools_run_the_two_kernels():
    x, y, g = _data(6, 12, 2, 4)
    y[1, 2, 3, 1], g[0, 0, 0, 0] = np.nan, np.inf
    for y_, g_ in ((y, _data(6, 12, 2, 4)[2]), (_data(6, 12, 2, 4)[1], g)):
        expected = nb.conv2d_backprop_filter(
            x, nb.max_pool2d_grad(y_, g_, (2, 2), (2, 2), "VALID", "NHWC"), (3, 3, 2, 4),
            **CONV)
        got = nb.fused_conv2d_backprop_filter(x, y_, g_, (3, 3, 2, 4), **CONV, **POOL)
        np.testing.assert_array_equal(got, expected)
    x, y, g = _data(4, 13, 2, 4)
    g = g[:, :5, :5]  # 3x3 windows at stride 2 over the 11x11 output
    expected = nb.conv2d_backprop_filter(
        x, nb.max_pool2d_grad(y, g, (3, 3), (2, 2), "VALID", "NHWC"), (3, 3, 2, 4), **CONV)
    got = nb.fused_conv2d_backprop_filter(x, y, g, (3, 3, 2, 4), **CONV, pool_ksize=(3, 3),
                                          pool_strides=(2, 2), pool_padding="VALID")
    np.testing.assert_array_equal(got, expected)


def _first_layer_gradients(second_layer=False):
    rng = np.random.default_rng(1)
    w = tf.Variable(rng.standard_normal((3, 3, 1, 4)).astype(np.float32))
    w2 = tf.Variable(rng.standard_normal((3, 3, 4, 3)).astype(np.float32))

    def f(x):
        with tf.GradientTape() as tape:
            y = tf.nn.max_pool2d(tf.nn.relu(tf.nn.conv2d(x, w, 1, "VALID")), 2, 2, "VALID")
            if second_layer:  # the pool's gradient then also feeds the input gradient
                y = tf.nn.max_pool2d(tf.nn.conv2d(y, w2, 1, "VALID"), 2, 2, "VALID")
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, [w, w2] if second_layer else [w])
    return f


@pytest.mark.parametrize("second_layer", [False, True])
def test_a_first_layer_filter_gradient_is_fused_and_matches_eager(second_layer):
    f = _first_layer_gradients(second_layer)
    x = np.random.default_rng(2).standard_normal((6, 16, 16, 1)).astype(np.float32)
    concrete = tf.function(f).get_concrete_function(tf.TensorSpec([6, 16, 16, 1]))
    types = [n.type for n in concrete.graph.nodes]
    assert types.count("fused_conv2d_backprop_filter") == 1
    assert types.count("max_pool2d_grad") == (1 if second_layer else 0)
    eager = f(tf.constant(x))
    for got, expected in zip(concrete(tf.constant(x)), eager):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)



def test_the_fused_node_expands_into_its_primitives():
    (node,) = [n for n in tf.function(_first_layer_gradients()).get_concrete_function(
        tf.TensorSpec([6, 16, 16, 1])).graph.nodes if n.type == "fused_conv2d_backprop_filter"]
    x, y, g = _data(6, 16, 1, 4, seed=3)
    expanded = passes.expand_fused(node, [tf.constant(v) for v in (x, y, g)])
    np.testing.assert_allclose(expanded.numpy(), _reference(x, y, g), rtol=1e-5, atol=1e-5)


def test_the_pass_keeps_a_pool_gradient_that_has_another_reader():
    f = _first_layer_gradients(second_layer=True)
    g = tf.function(f).get_concrete_function(tf.TensorSpec([2, 16, 16, 1])).graph
    fused = [n for n in g.nodes if n.type == "fused_conv2d_backprop_filter"]
    kept = [n for n in g.nodes if n.type == "max_pool2d_grad"]
    assert len(fused) == 1 and len(kept) == 1
    assert [n.type for n in g.nodes if any(x is kept[0].outputs for x in n.inputs)] == [
        "conv2d_backprop_input", "conv2d_backprop_filter"]


def test_a_backend_without_the_kernel_runs_its_parts():
    from tensorflux.backends import default_backend
    from tensorflux.graph import executor

    (node,) = [n for n in tf.function(_first_layer_gradients()).get_concrete_function(
        tf.TensorSpec([6, 16, 16, 1])).graph.nodes if n.type == "fused_conv2d_backprop_filter"]
    x, y, g = _data(6, 16, 1, 4, seed=4)
    unfused = executor._unfused_conv2d_backprop_filter(default_backend())(x, y, g,
                                                                         **node.attrs)
    np.testing.assert_allclose(unfused, _reference(x, y, g), rtol=1e-5, atol=1e-5)
