"""Op-table rows for tensorflux.ops.image (resize and the projective transform).

References are per-pixel loops written from TensorFlow's kernel definitions
(resize_bilinear/nearest/bicubic with half-pixel centers; ImageProjectiveTransformV3 with
its fill modes), not from the vectorized kernels. The projective transform's gradient
primitive goes through the table via a row whose function takes the gradient itself.
"""

import math as pymath

import numpy as np

import tensorflux as tf
from tensorflux.ops import image
from tests.ops.harness import Row, uniform


def _resize_axis(in_size, out_size, method):
    """Taps (index, weight) of each output position along one axis."""
    scale = in_size / out_size
    taps = []
    for o in range(out_size):
        if method == "nearest":
            taps.append([(min(int(pymath.floor((o + 0.5) * scale)), in_size - 1), 1.0)])
            continue
        pos = (o + 0.5) * scale - 0.5
        base = pymath.floor(pos)
        frac = pos - base
        if method == "bilinear":
            taps.append([(max(base, 0), 1 - frac), (min(pymath.ceil(pos), in_size - 1), frac)])
            continue
        frac = round(frac * 1024) / 1024  # TF's bicubic weight table
        row = []
        for k, d in enumerate((1 + frac, frac, 1 - frac, 2 - frac)):
            d = abs(d)
            w = (1.5 * d - 2.5) * d * d + 1 if d <= 1 else \
                ((-0.5 * d + 2.5) * d - 4) * d + 2 if d < 2 else 0.0
            if 0 <= base - 1 + k < in_size:
                row.append((base - 1 + k, w))
        total = sum(w for _, w in row)
        taps.append([(i, w / total) for i, w in row])
    return taps


def _ref_resize(x, size, method):
    b, h, w, c = x.shape
    rows, cols = _resize_axis(h, size[0], method), _resize_axis(w, size[1], method)
    out = np.zeros((b, size[0], size[1], c))
    for i, row_taps in enumerate(rows):
        for j, col_taps in enumerate(cols):
            for r, wr in row_taps:
                for q, wq in col_taps:
                    out[:, i, j, :] += wr * wq * x[:, r, q, :]
    return out


def _map(coord, size, mode):
    if mode == "constant":
        return coord
    if size <= 1:
        return 0.0
    if mode == "reflect":
        if coord < 0:
            size2 = 2 * size
            coord = size2 * int(-coord / size2) + coord
            coord = coord + size2 if coord < -size else -coord - 1
        elif coord > size - 1:
            size2 = 2 * size
            coord -= size2 * int(coord / size2)
            if coord >= size:
                coord = size2 - coord - 1
    elif mode == "wrap":
        if coord < 0:
            coord += size * (int(-coord / (size - 1)) + 1)
        elif coord > size - 1:
            coord -= size * int(coord / (size - 1))
    return min(max(coord, 0.0), size - 1.0)


def _ref_affine(x, transforms, interpolation, fill_mode, fill_value=0.0):
    b, h, w, c = x.shape
    out = np.zeros_like(x)

    def read(n, r, q):
        if 0 <= r <= h - 1 and 0 <= q <= w - 1:
            return x[n, int(r), int(q)]
        return np.full(c, fill_value)

    for n in range(b):
        t = transforms[n if len(transforms) > 1 else 0]
        for yo in range(h):
            for xo in range(w):
                k = t[6] * xo + t[7] * yo + 1
                xi = _map((t[0] * xo + t[1] * yo + t[2]) / k, w, fill_mode)
                yi = _map((t[3] * xo + t[4] * yo + t[5]) / k, h, fill_mode)
                if interpolation == "nearest":
                    out[n, yo, xo] = read(n, np.sign(yi) * pymath.floor(abs(yi) + 0.5),
                                          np.sign(xi) * pymath.floor(abs(xi) + 0.5))
                    continue
                y0, x0 = pymath.floor(yi), pymath.floor(xi)
                top = (x0 + 1 - xi) * read(n, y0, x0) + (xi - x0) * read(n, y0, x0 + 1)
                bottom = (x0 + 1 - xi) * read(n, y0 + 1, x0) + \
                    (xi - x0) * read(n, y0 + 1, x0 + 1)
                out[n, yo, xo] = (y0 + 1 - yi) * top + (yi - y0) * bottom
    return out


_T = [[0.9, -0.3, 1.6, 0.35, 1.1, -2.2, 0.0, 0.0],
      [1.3, 0.1, -3.4, 0.05, 0.8, 1.7, 0.01, -0.02]]


def _affine_row(name, fill_mode, interpolation="bilinear", fill_value=0.0):
    transforms = np.array(_T)

    def fn(x):
        return image.affine_transform(x, tf.constant(transforms, dtype=x.dtype),
                                      interpolation=interpolation, fill_mode=fill_mode,
                                      fill_value=fill_value)

    return Row(name, fn,
               lambda x: _ref_affine(x, transforms, interpolation, fill_mode, fill_value),
               uniform((2, 3, 4, 2)), grad=(0,), second_order=interpolation == "bilinear")


def _affine_grad_fn(x, g):
    transforms = tf.constant(np.array(_T), dtype=x.dtype)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = image.affine_transform(x, transforms, fill_mode="reflect")
    return tape.gradient(y, x, output_gradients=g)


def _ref_affine_grad(x, g):
    # The transpose of the (linear) sampling, column by column.
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        basis = np.zeros_like(x)
        basis[index] = 1.0
        grad[index] = (_ref_affine(basis, np.array(_T), "bilinear", "reflect") * g).sum()
    return grad


ROWS = [
    Row("image_resize_bilinear_up", lambda x: image.resize(x, (5, 7)),
        lambda x: _ref_resize(x, (5, 7), "bilinear"), uniform((1, 3, 4, 2))),
    Row("image_resize_bilinear_down", lambda x: image.resize(x, (2, 3)),
        lambda x: _ref_resize(x, (2, 3), "bilinear"), uniform((2, 5, 4, 1))),
    Row("image_resize_nearest", lambda x: image.resize(x, (5, 2), method="nearest"),
        lambda x: _ref_resize(x, (5, 2), "nearest"), uniform((1, 3, 4, 2))),
    Row("image_resize_bicubic", lambda x: image.resize(x, (4, 6), method="bicubic"),
        lambda x: _ref_resize(x, (4, 6), "bicubic"), uniform((1, 3, 5, 1))),
    _affine_row("image_affine_constant", "constant", fill_value=0.5),
    _affine_row("image_affine_reflect", "reflect"),
    _affine_row("image_affine_wrap", "wrap"),
    _affine_row("image_affine_nearest_fill", "nearest"),
    _affine_row("image_affine_nearest_sampling", "reflect", interpolation="nearest"),
    Row("image_affine_transform_grad", _affine_grad_fn, _ref_affine_grad,
        uniform((2, 3, 4, 2), (2, 3, 4, 2)), grad=(1,)),
]
