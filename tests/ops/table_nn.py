"""Op-table rows for tensorflux.ops.nn.

Convolution and pooling references are explicit loops over output positions (and kernel
offsets), written from the definitions, not from the vectorized kernels. Rows whose `fn`
takes a gradient themselves put the gradient primitives (conv2d_backprop_*, max_pool2d_grad,
max_pool2d_gather, avg_pool2d_grad) through the forward, VJP and shape-rule checks too.
"""

import math as pymath

import numpy as np

import tensorflux as tf
from tensorflux.ops import nn
from tests.ops.harness import Row, away_from, combine, ints, positive, uniform

_erf = np.vectorize(pymath.erf)


def _gradient(fn, x, seed):
    """The VJP of fn at x for the cotangent `seed`, taken inside the row's function."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    return tape.gradient(y, x, output_gradients=seed)


# ------------------------------------------------------------------ references

def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def _sigmoid_xent(z, x):
    p = 1.0 / (1.0 + np.exp(-x))
    return -z * np.log(p) - (1.0 - z) * np.log(1.0 - p)


def _sparse_xent(labels, logits):
    out = np.zeros(labels.shape)
    for i in np.ndindex(labels.shape):
        row = logits[i]
        out[i] = np.log(np.sum(np.exp(row - row.max()))) + row.max() - row[labels[i]]
    return out


def _selu(x):
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    return scale * np.where(x > 0, x, alpha * np.expm1(x))


def _same_before(size, k, stride, dilation):
    out = -(-size // stride)
    total = max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return total // 2, out


def _geometry(size, k, stride, dilation, padding, dim):
    """(pad before, output size) for one spatial dim, from TF's documented rules."""
    if padding == "SAME":
        return _same_before(size, k, stride, dilation)
    before, after = (0, 0) if padding == "VALID" else padding[dim]
    return before, (size + before + after - (k - 1) * dilation - 1) // stride + 1


def _nhwc(x, fmt):
    return x.transpose(0, 2, 3, 1) if fmt == "NCHW" else x


def _from_nhwc(x, fmt):
    return x.transpose(0, 3, 1, 2) if fmt == "NCHW" else x


def ref_conv2d(x, w, strides=(1, 1), padding="VALID", dilations=(1, 1), fmt="NHWC"):
    x = _nhwc(x, fmt)
    n, h, wd, c = x.shape
    kh, kw, depth, o = w.shape
    per_group = o // (c // depth)
    top, ho = _geometry(h, kh, strides[0], dilations[0], padding, 0)
    left, wo = _geometry(wd, kw, strides[1], dilations[1], padding, 1)
    out = np.zeros((n, ho, wo, o))
    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                for oc in range(o):
                    first = (oc // per_group) * depth
                    for a in range(kh):
                        for e in range(kw):
                            r = i * strides[0] + a * dilations[0] - top
                            s = j * strides[1] + e * dilations[1] - left
                            if 0 <= r < h and 0 <= s < wd:
                                out[b, i, j, oc] += np.dot(x[b, r, s, first:first + depth],
                                                           w[a, e, :, oc])
    return _from_nhwc(out, fmt)


def ref_conv2d_transpose(x, w, output_shape, strides, padding):
    """Each input element scatters x * filter into the output (the adjoint of conv2d)."""
    n, h, wd, c = output_shape
    kh, kw, _, _ = w.shape
    top, _ = _geometry(h, kh, strides[0], 1, padding, 0)
    left, _ = _geometry(wd, kw, strides[1], 1, padding, 1)
    out = np.zeros(output_shape)
    for b in range(x.shape[0]):
        for i in range(x.shape[1]):
            for j in range(x.shape[2]):
                for a in range(kh):
                    for e in range(kw):
                        r, s = i * strides[0] + a - top, j * strides[1] + e - left
                        if 0 <= r < h and 0 <= s < wd:
                            out[b, r, s, :] += w[a, e] @ x[b, i, j, :]
    return out


def ref_conv2d_filter_grad(x, g, kernel, strides, padding):
    """d<conv2d(x, w), g>/dw by summing x * g over every output position."""
    n, h, wd, c = x.shape
    kh, kw = kernel
    top, ho = _geometry(h, kh, strides[0], 1, padding, 0)
    left, wo = _geometry(wd, kw, strides[1], 1, padding, 1)
    out = np.zeros((kh, kw, c, g.shape[-1]))
    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                for a in range(kh):
                    for e in range(kw):
                        r, s = i * strides[0] + a - top, j * strides[1] + e - left
                        if 0 <= r < h and 0 <= s < wd:
                            out[a, e] += np.outer(x[b, r, s], g[b, i, j])
    return out


def ref_depthwise(x, w, strides, padding):
    n, h, wd, c = x.shape
    kh, kw, _, mult = w.shape
    top, ho = _geometry(h, kh, strides, 1, padding, 0)
    left, wo = _geometry(wd, kw, strides, 1, padding, 1)
    out = np.zeros((n, ho, wo, c * mult))
    for b, i, j, ch, m in np.ndindex(n, ho, wo, c, mult):
        for a, e in np.ndindex(kh, kw):
            r, s = i * strides + a - top, j * strides + e - left
            if 0 <= r < h and 0 <= s < wd:
                out[b, i, j, ch * mult + m] += x[b, r, s, ch] * w[a, e, ch, m]
    return out


def _pool_out_shape(shape, ksize, strides, padding):
    n, h, wd, c = shape
    _, ho = _geometry(h, ksize[0], strides[0], 1, padding, 0)
    _, wo = _geometry(wd, ksize[1], strides[1], 1, padding, 1)
    return n, ho, wo, c


def _windows(shape, ksize, strides, padding):
    """Yields (b, i, j, ch, [(r, s) real positions of the window]) per output element."""
    n, h, wd, c = shape
    top, _ = _geometry(h, ksize[0], strides[0], 1, padding, 0)
    left, _ = _geometry(wd, ksize[1], strides[1], 1, padding, 1)
    _, ho, wo, _ = _pool_out_shape(shape, ksize, strides, padding)
    for b, i, j, ch in np.ndindex(n, ho, wo, c):
        cells = [(i * strides[0] + a - top, j * strides[1] + e - left)
                 for a in range(ksize[0]) for e in range(ksize[1])]
        yield b, i, j, ch, [(r, s) for r, s in cells if 0 <= r < h and 0 <= s < wd]


def ref_pool(x, ksize, strides, padding, kind, fmt="NHWC"):
    x = _nhwc(x, fmt)
    out = np.zeros(_pool_out_shape(x.shape, ksize, strides, padding))
    for b, i, j, ch, cells in _windows(x.shape, ksize, strides, padding):
        values = [x[b, r, s, ch] for r, s in cells]
        out[b, i, j, ch] = max(values) if kind == "max" else sum(values) / len(values)
    return _from_nhwc(out, fmt)


def _argmax_cell(x, b, ch, cells):
    best = cells[0]
    for r, s in cells:
        if x[b, r, s, ch] > x[b, best[0], best[1], ch]:
            best = (r, s)
    return best


def ref_max_pool_grad(x, g, ksize, strides, padding):
    dx = np.zeros_like(x)
    for b, i, j, ch, cells in _windows(x.shape, ksize, strides, padding):
        r, s = _argmax_cell(x, b, ch, cells)
        dx[b, r, s, ch] += g[b, i, j, ch]
    return dx


def ref_max_pool_gather(x, v, ksize, strides, padding):
    """v read, per window, where x has its (first) max."""
    out = np.zeros(_pool_out_shape(x.shape, ksize, strides, padding))
    for b, i, j, ch, cells in _windows(x.shape, ksize, strides, padding):
        r, s = _argmax_cell(x, b, ch, cells)
        out[b, i, j, ch] = v[b, r, s, ch]
    return out


def ref_avg_pool_grad(x_shape, g, ksize, strides, padding):
    dx = np.zeros(x_shape)
    for b, i, j, ch, cells in _windows(x_shape, ksize, strides, padding):
        for r, s in cells:
            dx[b, r, s, ch] += g[b, i, j, ch] / len(cells)
    return dx


def ref_conv3d(x, w, strides, padding, dilations=(1, 1, 1), fmt="NDHWC"):
    """Direct loops over every output position and kernel tap (grouped as conv2d)."""
    if fmt == "NCDHW":
        x = x.transpose(0, 2, 3, 4, 1)
    n, d, h, wd, c = x.shape
    kd, kh, kw, depth, o = w.shape
    per_group = o // (c // depth)
    geo = [_geometry(size, k, s, dl, padding, 0) for size, k, s, dl in
           zip((d, h, wd), (kd, kh, kw), strides, dilations)]
    out = np.zeros((n,) + tuple(g[1] for g in geo) + (o,))
    for b, i, j, m, oc in np.ndindex(out.shape):
        first = (oc // per_group) * depth
        for a, e, f in np.ndindex(kd, kh, kw):
            pos = [q * s + t * dl - g[0] for q, s, t, dl, g in
                   zip((i, j, m), strides, (a, e, f), dilations, geo)]
            if all(0 <= p < size for p, size in zip(pos, (d, h, wd))):
                out[b, i, j, m, oc] += np.dot(x[b, pos[0], pos[1], pos[2], first:first + depth],
                                              w[a, e, f, :, oc])
    return out.transpose(0, 4, 1, 2, 3) if fmt == "NCDHW" else out


def ref_pool3d(x, ksize, strides, padding, kind):
    """Max or mean of the real elements of every 3-D window (NDHWC)."""
    n, d, h, wd, c = x.shape
    geo = [_geometry(size, k, s, 1, padding, 0) for size, k, s in
           zip((d, h, wd), ksize, strides)]
    out = np.zeros((n,) + tuple(g[1] for g in geo) + (c,))
    for b, i, j, m, ch in np.ndindex(out.shape):
        values = []
        for a, e, f in np.ndindex(*ksize):
            pos = [q * s + t - g[0] for q, s, t, g in zip((i, j, m), strides, (a, e, f), geo)]
            if all(0 <= p < size for p, size in zip(pos, (d, h, wd))):
                values.append(x[b, pos[0], pos[1], pos[2], ch])
        out[b, i, j, m, ch] = max(values) if kind == "max" else sum(values) / len(values)
    return out


def _distribution(shape):
    def sample(rng):
        p = rng.uniform(0.1, 1.0, size=shape)
        return [p / p.sum(axis=-1, keepdims=True)]
    return sample


# ------------------------------------------------------------------ rows

_ACTIVATIONS = [
    Row("nn_relu", nn.relu, lambda x: np.maximum(x, 0), away_from((3, 4)), second_order=True),
    Row("nn_relu6", nn.relu6, lambda x: np.clip(x, 0, 6),
        away_from((12,), points=(0.0, 6.0), low=-2, high=8), second_order=True),
    Row("nn_leaky_relu", lambda x: nn.leaky_relu(x, alpha=0.3),
        lambda x: np.where(x > 0, x, 0.3 * x), away_from((3, 4)), second_order=True),
    Row("nn_elu", nn.elu, lambda x: np.where(x > 0, x, np.expm1(x)), away_from((3, 4)),
        second_order=True),
    Row("nn_selu", nn.selu, _selu, away_from((3, 4)), second_order=True),
    Row("nn_gelu", nn.gelu, lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))), uniform((3, 4)),
        second_order=True),
    Row("nn_gelu_approximate", lambda x: nn.gelu(x, approximate=True),
        lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))),
        uniform((3, 4)), second_order=True),
    Row("nn_silu", nn.silu, lambda x: x / (1 + np.exp(-x)), uniform((3, 4)),
        second_order=True),
    Row("nn_swish_beta", lambda x: nn.swish(x, beta=1.5), lambda x: x / (1 + np.exp(-1.5 * x)),
        uniform((6,))),
]

_SOFTMAX = [
    Row("nn_softmax", nn.softmax, _softmax, uniform((3, 4)), second_order=True),
    Row("nn_softmax_axis0", lambda x: nn.softmax(x, axis=0), lambda x: _softmax(x, 0),
        uniform((3, 4))),
    Row("nn_softmax_vjp", lambda x, g: _gradient(nn.softmax, x, g),
        lambda x, g: _softmax(x) * (g - np.sum(g * _softmax(x), axis=-1, keepdims=True)),
        uniform((2, 4), (2, 4))),
    Row("nn_log_softmax", nn.log_softmax, _log_softmax, uniform((3, 4)), second_order=True),
    Row("nn_log_softmax_axis1", lambda x: nn.log_softmax(x, axis=1),
        lambda x: _log_softmax(x, 1), uniform((2, 3, 2))),
    Row("nn_sigmoid_xent", lambda z, x: nn.sigmoid_cross_entropy_with_logits(z, x),
        _sigmoid_xent, combine(uniform((3, 4), low=0, high=1), uniform((3, 4), low=-4, high=4)),
        second_order=True),
    Row("nn_softmax_xent", nn.softmax_cross_entropy_with_logits,
        lambda z, x: -np.sum(z * _log_softmax(x), axis=-1),
        combine(_distribution((3, 4)), uniform((3, 4))), second_order=True),
    Row("nn_softmax_xent_unnormalized_labels_axis0",
        lambda z, x: nn.softmax_cross_entropy_with_logits(z, x, axis=0),
        lambda z, x: -np.sum(z * _log_softmax(x, 0), axis=0),
        combine(uniform((4, 3), low=0, high=1), uniform((4, 3)))),
    Row("nn_sparse_softmax_xent", nn.sparse_softmax_cross_entropy_with_logits, _sparse_xent,
        combine(ints((3,), 0, 4), uniform((3, 4)))),
    Row("nn_sparse_softmax_xent_int64_rank3", nn.sparse_softmax_cross_entropy_with_logits,
        _sparse_xent, combine(ints((2, 2), 0, 3, np.int64), uniform((2, 2, 3)))),
]

_NORMALIZATION = [
    Row("nn_l2_loss", nn.l2_loss, lambda x: np.sum(x * x) / 2, uniform((3, 4)),
        second_order=True),
    Row("nn_moments", lambda x: nn.moments(x, axes=[0]),
        lambda x: [x.mean(axis=0), x.var(axis=0)], uniform((5, 3)), second_order=True),
    Row("nn_moments_keepdims", lambda x: nn.moments(x, axes=[0, 2], keepdims=True),
        lambda x: [x.mean(axis=(0, 2), keepdims=True), x.var(axis=(0, 2), keepdims=True)],
        uniform((2, 3, 4))),
    Row("nn_batch_normalization",
        lambda x, m, v, o, s: nn.batch_normalization(x, m, v, o, s, 1e-3),
        lambda x, m, v, o, s: (x - m) / np.sqrt(v + 1e-3) * s + o,
        combine(uniform((3, 4), (4,)), positive((4,)), uniform((4,)), positive((4,))),
        second_order=True),
    Row("nn_batch_normalization_no_affine",
        lambda x, m, v: nn.batch_normalization(x, m, v, None, None, 0.01),
        lambda x, m, v: (x - m) / np.sqrt(v + 0.01),
        combine(uniform((2, 3), (3,)), positive((3,)))),
    Row("nn_bias_add", nn.bias_add, lambda x, b: x + b, uniform((2, 3, 4), (4,))),
    Row("nn_bias_add_nchw", lambda x, b: nn.bias_add(x, b, data_format="NCHW"),
        lambda x, b: x + b[:, None, None], uniform((2, 3, 2, 2), (3,))),
]

_CONV = [
    Row("nn_conv2d_valid", lambda x, w: nn.conv2d(x, w, 1, "VALID"), ref_conv2d,
        uniform((2, 5, 5, 2), (3, 3, 2, 3)), second_order=True),
    Row("nn_conv2d_same_stride2", lambda x, w: nn.conv2d(x, w, 2, "SAME"),
        lambda x, w: ref_conv2d(x, w, (2, 2), "SAME"), uniform((2, 5, 5, 2), (3, 3, 2, 3))),
    Row("nn_conv2d_dilated_same", lambda x, w: nn.conv2d(x, w, 1, "SAME", dilations=2),
        lambda x, w: ref_conv2d(x, w, padding="SAME", dilations=(2, 2)),
        uniform((1, 5, 5, 2), (3, 3, 2, 3))),
    Row("nn_conv2d_explicit_padding",
        lambda x, w: nn.conv2d(x, w, [1, 2, 1, 1], [[0, 0], [1, 2], [0, 1], [0, 0]]),
        lambda x, w: ref_conv2d(x, w, (2, 1), ((1, 2), (0, 1))),
        uniform((1, 5, 4, 2), (3, 2, 2, 3))),
    Row("nn_conv2d_nchw_same",
        lambda x, w: nn.conv2d(x, w, [1, 1, 2, 1], "SAME", data_format="NCHW"),
        lambda x, w: ref_conv2d(x, w, (2, 1), "SAME", fmt="NCHW"),
        uniform((1, 2, 5, 5), (3, 3, 2, 2))),
    Row("nn_conv2d_grouped", lambda x, w: nn.conv2d(x, w, 1, "VALID"), ref_conv2d,
        uniform((1, 4, 4, 4), (3, 3, 2, 4)), second_order=True),
    Row("nn_conv1d_same_stride2", lambda x, w: nn.conv1d(x, w, 2, "SAME"),
        lambda x, w: ref_conv2d(x[:, None], w[None], (1, 2), "SAME")[:, 0],
        uniform((2, 6, 2), (3, 2, 3))),
    Row("nn_conv1d_ncw_dilated",
        lambda x, w: nn.conv1d(x, w, 1, "VALID", data_format="NCW", dilations=2),
        lambda x, w: ref_conv2d(x[:, :, None], w[None], dilations=(1, 2), fmt="NCHW")[:, :, 0],
        uniform((1, 2, 7), (2, 2, 2))),
    Row("nn_depthwise_conv2d", lambda x, w: nn.depthwise_conv2d(x, w, [1, 1, 1, 1], "SAME"),
        lambda x, w: ref_depthwise(x, w, 1, "SAME"), uniform((1, 4, 4, 2), (3, 3, 2, 2)),
        second_order=True),
    Row("nn_depthwise_conv2d_stride2_valid",
        lambda x, w: nn.depthwise_conv2d(x, w, [1, 2, 2, 1], "VALID"),
        lambda x, w: ref_depthwise(x, w, 2, "VALID"), uniform((1, 5, 5, 2), (2, 2, 2, 3))),
    Row("nn_conv2d_transpose_same_stride2",
        lambda x, w: nn.conv2d_transpose(x, w, [1, 5, 5, 2], 2, "SAME"),
        lambda x, w: ref_conv2d_transpose(x, w, (1, 5, 5, 2), (2, 2), "SAME"),
        uniform((1, 3, 3, 3), (3, 3, 2, 3)), second_order=True),
    Row("nn_conv2d_transpose_valid",
        lambda x, w: nn.conv2d_transpose(x, w, [2, 4, 4, 2], 1, "VALID"),
        lambda x, w: ref_conv2d_transpose(x, w, (2, 4, 4, 2), (1, 1), "VALID"),
        uniform((2, 2, 2, 3), (3, 3, 2, 3))),
    Row("nn_conv2d_filter_gradient",
        lambda x, w, g: _gradient(lambda v: nn.conv2d(x, v, 2, "SAME"), w, g),
        lambda x, w, g: ref_conv2d_filter_grad(x, g, (3, 3), (2, 2), "SAME"),
        uniform((1, 5, 5, 2), (3, 3, 2, 2), (1, 3, 3, 2)), grad=(0, 2), second_order=True),
    Row("nn_conv3d_valid", lambda x, w: nn.conv3d(x, w, [1, 1, 1, 1, 1], "VALID"),
        lambda x, w: ref_conv3d(x, w, (1, 1, 1), "VALID"),
        uniform((1, 3, 3, 3, 1), (2, 2, 2, 1, 2)), second_order=True),
    Row("nn_conv3d_same_strided",
        lambda x, w: nn.conv3d(x, w, [1, 2, 1, 2, 1], "SAME"),
        lambda x, w: ref_conv3d(x, w, (2, 1, 2), "SAME"),
        uniform((1, 3, 2, 3, 2), (2, 2, 2, 2, 2))),
    Row("nn_conv3d_grouped_dilated_ncdhw",
        lambda x, w: nn.conv3d(x, w, 1, "VALID", data_format="NCDHW", dilations=[1, 1, 2, 1, 1]),
        lambda x, w: ref_conv3d(x, w, (1, 1, 1), "VALID", (2, 1, 1), "NCDHW"),
        uniform((1, 2, 3, 2, 2), (2, 1, 1, 1, 4))),
]

_POOL = [
    Row("nn_max_pool2d_valid", lambda x: nn.max_pool2d(x, 2, 2, "VALID"),
        lambda x: ref_pool(x, (2, 2), (2, 2), "VALID", "max"), uniform((2, 4, 4, 2)),
        second_order=True),
    Row("nn_max_pool2d_same_overlapping", lambda x: nn.max_pool2d(x, 3, 2, "SAME"),
        lambda x: ref_pool(x, (3, 3), (2, 2), "SAME", "max"), uniform((1, 5, 5, 2))),
    Row("nn_max_pool2d_nchw",
        lambda x: nn.max_pool2d(x, [1, 1, 2, 3], [1, 1, 1, 2], "VALID", data_format="NCHW"),
        lambda x: ref_pool(x, (2, 3), (1, 2), "VALID", "max", fmt="NCHW"),
        uniform((1, 2, 4, 5))),
    Row("nn_max_pool2d_explicit_padding",
        lambda x: nn.max_pool2d(x, 2, 2, [[0, 0], [1, 0], [0, 1], [0, 0]]),
        lambda x: ref_pool(x, (2, 2), (2, 2), ((1, 0), (0, 1)), "max"), uniform((1, 5, 5, 1))),
    Row("nn_avg_pool2d_valid", lambda x: nn.avg_pool2d(x, 2, 2, "VALID"),
        lambda x: ref_pool(x, (2, 2), (2, 2), "VALID", "avg"), uniform((2, 4, 4, 2)),
        second_order=True),
    Row("nn_avg_pool2d_same_counts_real_elements", lambda x: nn.avg_pool2d(x, 3, 2, "SAME"),
        lambda x: ref_pool(x, (3, 3), (2, 2), "SAME", "avg"), uniform((1, 5, 5, 2))),
    Row("nn_avg_pool2d_nchw_same",
        lambda x: nn.avg_pool2d(x, [1, 1, 3, 2], 1, "SAME", data_format="NCHW"),
        lambda x: ref_pool(x, (3, 2), (1, 1), "SAME", "avg", fmt="NCHW"),
        uniform((1, 2, 4, 4))),
    Row("nn_max_pool1d", lambda x: nn.max_pool1d(x, 3, 2, "SAME"),
        lambda x: ref_pool(x[:, None], (1, 3), (1, 2), "SAME", "max")[:, 0],
        uniform((2, 7, 2))),
    Row("nn_avg_pool1d_ncw", lambda x: nn.avg_pool1d(x, 2, 1, "VALID", data_format="NCW"),
        lambda x: ref_pool(x[:, :, None], (1, 2), (1, 1), "VALID", "avg", fmt="NCHW")[:, :, 0],
        uniform((2, 2, 5))),
    Row("nn_max_pool_generic_rank4", lambda x: nn.max_pool(x, 2, 1, "SAME"),
        lambda x: ref_pool(x, (2, 2), (1, 1), "SAME", "max"), uniform((1, 3, 3, 2))),
    Row("nn_avg_pool_generic_rank3", lambda x: nn.avg_pool(x, 2, 2, "SAME"),
        lambda x: ref_pool(x[:, None], (1, 2), (1, 2), "SAME", "avg")[:, 0],
        uniform((1, 5, 2))),
    Row("nn_max_pool2d_grad",
        lambda x, g: _gradient(lambda v: nn.max_pool2d(v, 3, 2, "SAME"), x, g),
        lambda x, g: ref_max_pool_grad(x, g, (3, 3), (2, 2), "SAME"),
        uniform((1, 5, 5, 2), (1, 3, 3, 2))),
    Row("nn_max_pool2d_grad_2x2_odd_size",
        lambda x, g: _gradient(lambda v: nn.max_pool2d(v, 2, 2, "VALID"), x, g),
        lambda x, g: ref_max_pool_grad(x, g, (2, 2), (2, 2), "VALID"),
        uniform((2, 5, 7, 3), (2, 2, 3, 3))),
    Row("nn_max_pool2d_gather",
        lambda x, v: _max_pool_gather(x, v),
        lambda x, v: ref_max_pool_gather(x, v, (2, 2), (1, 1), "VALID"),
        uniform((1, 4, 4, 2), (1, 4, 4, 2))),
    Row("nn_avg_pool2d_grad",
        lambda x, g: _gradient(lambda v: nn.avg_pool2d(v, 3, 2, "SAME"), x, g),
        lambda x, g: ref_avg_pool_grad(x.shape, g, (3, 3), (2, 2), "SAME"),
        uniform((1, 5, 5, 2), (1, 3, 3, 2)), grad=(1,)),
    Row("nn_max_pool3d_valid", lambda x: nn.max_pool3d(x, 2, 2, "VALID"),
        lambda x: ref_pool3d(x, (2, 2, 2), (2, 2, 2), "VALID", "max"),
        uniform((1, 2, 4, 2, 2)), second_order=True),
    Row("nn_max_pool3d_same_overlapping", lambda x: nn.max_pool3d(x, [2, 3, 2], 1, "SAME"),
        lambda x: ref_pool3d(x, (2, 3, 2), (1, 1, 1), "SAME", "max"), uniform((1, 2, 3, 3, 1))),
    Row("nn_avg_pool3d_same", lambda x: nn.avg_pool3d(x, [2, 2, 3], [1, 2, 2], "SAME"),
        lambda x: ref_pool3d(x, (2, 2, 3), (1, 2, 2), "SAME", "avg"),
        uniform((1, 3, 3, 3, 1)), second_order=True),
    Row("nn_avg_pool3d_ncdhw", lambda x: nn.avg_pool(x, 2, 1, "VALID", data_format="NCDHW"),
        lambda x: ref_pool3d(x.transpose(0, 2, 3, 4, 1), (2, 2, 2), (1, 1, 1), "VALID",
                             "avg").transpose(0, 4, 1, 2, 3),
        uniform((1, 2, 2, 3, 3))),
    Row("nn_max_pool2d_grad_disjoint",
        lambda x, g: _gradient(lambda v: nn.max_pool2d(v, 2, 2, "VALID"), x, g),
        lambda x, g: ref_max_pool_grad(x, g, (2, 2), (2, 2), "VALID"),
        uniform((1, 5, 4, 2), (1, 2, 2, 2))),
    Row("nn_max_pool2d_grad_tiled",
        lambda x, g: _gradient(lambda v: nn.max_pool2d(v, 2, 2, "VALID"), x, g),
        lambda x, g: ref_max_pool_grad(x, g, (2, 2), (2, 2), "VALID"),
        uniform((2, 4, 6, 3), (2, 2, 3, 3))),
    Row("nn_max_pool2d_grad_nchw_overlapping",
        lambda x, g: _gradient(lambda v: nn.max_pool2d(v, 2, 1, "SAME", data_format="NCHW"),
                               x, g),
        lambda x, g: ref_max_pool_grad(x.transpose(0, 2, 3, 1), g.transpose(0, 2, 3, 1),
                                       (2, 2), (1, 1), "SAME").transpose(0, 3, 1, 2),
        uniform((1, 2, 3, 3), (1, 2, 3, 3))),
]


def _max_pool_gather(x, v):
    """d<max_pool2d_grad(x, g), v>/dg: v read at each window's max of x."""
    g = tf.zeros([1, 3, 3, 2], dtype=x.dtype)
    with tf.GradientTape() as outer:
        outer.watch(g)
        dx = _gradient(lambda t: nn.max_pool2d(t, 2, 1, "VALID"), x, g)
        total = tf.reduce_sum(dx * v)
    return outer.gradient(total, g)


ROWS = _ACTIVATIONS + _SOFTMAX + _NORMALIZATION + _CONV + _POOL


# ------------------------------------------------------------------ recurrent sequences (helper)
# References: plain float64 loops over time with the Keras cell formulas (sigmoid as
# 1/(1+exp(-x))). The *_grad rows take the fused VJP inside `fn` and compare it with central
# differences of the reference loop, which puts the backward kernels through the table too.

def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _ref_lstm(xw, h0, c0, k, mask=None, go_backwards=False):
    b, t, w = xw.shape
    u = w // 4
    h, c, hs, cs = h0, c0, [], []
    for s in range(t):
        i = t - 1 - s if go_backwards else s
        z = xw[:, i] + h @ k
        ig, fg, gg, og = (z[:, :u], z[:, u:2 * u], z[:, 2 * u:3 * u], z[:, 3 * u:])
        c_new = _sig(fg) * c + _sig(ig) * np.tanh(gg)
        h_new = _sig(og) * np.tanh(c_new)
        if mask is not None:
            m = mask[:, i:i + 1] > 0
            h_new, c_new = np.where(m, h_new, h), np.where(m, c_new, c)
        h, c = h_new, c_new
        hs.append(h)
        cs.append(c)
    return [np.stack(hs, 1), np.stack(cs, 1)]


def _ref_gru(xw, h0, k, bias, mask=None, reset_after=True, go_backwards=False):
    b, t, w = xw.shape
    u = w // 3
    h, hs = h0, []
    for s in range(t):
        i = t - 1 - s if go_backwards else s
        x = xw[:, i]
        if reset_after:
            hu = h @ k + bias
            z = _sig(x[:, :u] + hu[:, :u])
            r = _sig(x[:, u:2 * u] + hu[:, u:2 * u])
            hh = np.tanh(x[:, 2 * u:] + r * hu[:, 2 * u:])
        else:
            z = _sig(x[:, :u] + h @ k[:, :u])
            r = _sig(x[:, u:2 * u] + h @ k[:, u:2 * u])
            hh = np.tanh(x[:, 2 * u:] + (r * h) @ k[:, 2 * u:])
        h_new = z * h + (1 - z) * hh
        if mask is not None:
            h_new = np.where(mask[:, i:i + 1] > 0, h_new, h)
        h = h_new
        hs.append(h)
    return np.stack(hs, 1)


def _fd_grads(ref, arrays, cot, eps=1e-6):
    """Central differences of sum(ref(*arrays) * cot) with respect to every array."""
    def loss(args):
        outs = ref(*args)
        outs = outs if isinstance(outs, list) else [outs]
        return sum(float(np.sum(o * c)) for o, c in zip(outs, cot))

    grads = []
    for index, a in enumerate(arrays):
        g = np.zeros_like(a)
        for pos in np.ndindex(a.shape):
            args = [x.copy() for x in arrays]
            args[index][pos] += eps
            up = loss(args)
            args[index][pos] -= 2 * eps
            g[pos] = (up - loss(args)) / (2 * eps)
        grads.append(g)
    return grads


def _tape_grads(fn, inputs, cot):
    with tf.GradientTape() as tape:
        for x in inputs:
            tape.watch(x)
        outs = fn(*inputs)
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
    return tape.gradient(outs, list(inputs), output_gradients=list(cot))


_MASK = np.array([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])


def _lstm_sample(rng):
    return [rng.uniform(-1.5, 1.5, (2, 3, 8)), rng.uniform(-1, 1, (2, 2)),
            rng.uniform(-1, 1, (2, 2)), rng.uniform(-1, 1, (2, 8))]


def _gru_sample(rng):
    return [rng.uniform(-1.5, 1.5, (2, 3, 6)), rng.uniform(-1, 1, (2, 2)),
            rng.uniform(-1, 1, (2, 6)), rng.uniform(-0.5, 0.5, (6,))]


def _lstm_cot(rng):
    return [rng.uniform(-1, 1, (2, 3, 2)), rng.uniform(-1, 1, (2, 3, 2))]


def _lstm_grad_fn(mask, go_backwards):
    def fn(xw, h0, c0, k, g1, g2):
        m = None if mask is None else tf.constant(mask.astype(xw.dtype.name))
        return _tape_grads(lambda *a: nn.lstm_sequence(*a, mask=m, go_backwards=go_backwards),
                           [xw, h0, c0, k], [g1, g2])
    return fn


def _lstm_grad_ref(mask, go_backwards):
    return lambda xw, h0, c0, k, g1, g2: _fd_grads(
        lambda *a: _ref_lstm(*a, mask=mask, go_backwards=go_backwards), [xw, h0, c0, k],
        [g1, g2])


def _gru_grad_fn(mask, reset_after, go_backwards):
    def fn(xw, h0, k, bias, g):
        m = None if mask is None else tf.constant(mask.astype(xw.dtype.name))
        return _tape_grads(lambda *a: nn.gru_sequence(*a, mask=m, reset_after=reset_after,
                                                      go_backwards=go_backwards),
                           [xw, h0, k, bias], [g])
    return fn


def _gru_grad_ref(mask, reset_after, go_backwards):
    def ref(xw, h0, k, bias, g):
        grads = _fd_grads(lambda *a: _ref_gru(*a, mask=mask, reset_after=reset_after,
                                              go_backwards=go_backwards),
                          [xw, h0, k, bias], [g])
        if not reset_after:
            grads[3] = np.zeros_like(bias)  # the recurrent bias is unused before the reset
        return grads
    return ref


_RNN_TOL = {"rtol": 1e-5, "atol": 1e-6}
_RNN = [
    Row("nn_lstm_sequence", lambda xw, h, c, k: list(nn.lstm_sequence(xw, h, c, k)),
        _ref_lstm, _lstm_sample),
    Row("nn_lstm_sequence_masked_backwards",
        lambda xw, h, c, k: list(nn.lstm_sequence(
            xw, h, c, k, mask=tf.constant(_MASK.astype(xw.dtype.name)), go_backwards=True)),
        lambda xw, h, c, k: _ref_lstm(xw, h, c, k, _MASK, True), _lstm_sample),
    Row("nn_gru_sequence", lambda xw, h, k, b: nn.gru_sequence(xw, h, k, b),
        _ref_gru, _gru_sample),
    Row("nn_gru_sequence_reset_before_masked",
        lambda xw, h, k, b: nn.gru_sequence(
            xw, h, k, b, mask=tf.constant(_MASK > 0), reset_after=False),
        lambda xw, h, k, b: _ref_gru(xw, h, k, b, _MASK, False), _gru_sample, grad=(0, 1, 2)),
    Row("nn_gru_sequence_backwards_masked",
        lambda xw, h, k, b: nn.gru_sequence(
            xw, h, k, b, mask=tf.constant(_MASK.astype(xw.dtype.name)), go_backwards=True),
        lambda xw, h, k, b: _ref_gru(xw, h, k, b, _MASK, True, True), _gru_sample),
    Row("nn_lstm_sequence_grad", _lstm_grad_fn(None, False), _lstm_grad_ref(None, False),
        combine(_lstm_sample, _lstm_cot), grad=(), **_RNN_TOL),
    Row("nn_lstm_sequence_grad_masked_backwards", _lstm_grad_fn(_MASK, True),
        _lstm_grad_ref(_MASK, True), combine(_lstm_sample, _lstm_cot), grad=(), **_RNN_TOL),
    Row("nn_gru_sequence_grad", _gru_grad_fn(None, True, False),
        _gru_grad_ref(None, True, False),
        combine(_gru_sample, lambda rng: [rng.uniform(-1, 1, (2, 3, 2))]), grad=(), **_RNN_TOL),
    Row("nn_gru_sequence_grad_reset_before_masked_backwards", _gru_grad_fn(_MASK, False, True),
        _gru_grad_ref(_MASK, False, True),
        combine(_gru_sample, lambda rng: [rng.uniform(-1, 1, (2, 3, 2))]), grad=(), **_RNN_TOL),
]

ROWS += _RNN
