"""What the fused-convolution epilogue tests share (test_conv_register_epilogue_s17,
test_conv_epilogue_s18, test_conv_residual_chain_s18): the path the register epilogues
replace (the single-pass loop over the whole output), a NumPy replay of a program one
instruction at a time, the geometries and data they run on, a fixture for 1 and 2 threads,
and a counter of which path ran."""

import numpy as np
import pytest

from tensorflux.backends import numpy_backend as nb

# (the path replaced, taken before any test counts its calls)
LOOP = nb._nn_epilogue_loop

# (input shape, strides, padding): odd sizes, both strides, explicit uneven padding, and a
# wide row
GEOMETRIES = [((3, 9, 13, 5), (1, 1), "SAME"), ((1, 11, 7, 6), (2, 2), "VALID"),
              ((3, 10, 9, 3), (2, 1), ((2, 0), (1, 2))), ((1, 6, 17, 16), (1, 2), "SAME")]


@pytest.fixture(params=[1, 2])
def threads(request, monkeypatch):
    """1 and 2 threads, with the threads splitting even small outputs."""
    monkeypatch.setattr(nb, "_PARALLEL_MIN_BYTES", 1)
    nb.set_threads(request.param)
    yield request.param
    nb.set_threads(0)


def count_paths(monkeypatch, registered, kernels):
    """{"register": kernels built with an epilogue `registered(steps)` accepts, "loop":
    calls of the whole-output loops}, counted from here on: `kernels` are (module, name)
    of the kernel makers taking epilogue=(steps, ...)."""
    seen = {"register": 0, "loop": 0}

    def counting(make):
        def made(*args, **kwargs):
            run = make(*args, **kwargs)
            steps = (kwargs.get("epilogue") or ((),))[0]
            seen["register"] += bool(run is not None and steps and registered(steps))
            return run
        return made

    def counted_loop(program, n_inputs):
        real = LOOP(program, n_inputs)

        def run(*inputs, out=None):
            seen["loop"] += 1
            return real(*inputs, out=out)
        return None if real is None else run
    for module, name in kernels:
        monkeypatch.setattr(module, name, counting(getattr(module, name)))
    monkeypatch.setattr(nb, "_nn_epilogue_loop", counted_loop)
    return seen


def loop(y, program, operands):
    """The path replaced: conv2d's output y, then the single-pass loop over it."""
    inputs = tuple(np.reshape(a, -1) if np.ndim(a) > 1 and np.size(a) == np.shape(a)[-1]
                   else a for a in operands)
    return LOOP(program, len(inputs) + 1)(y, *inputs, out=None)


def numpy_steps(y, program, operands):
    """The program on (y, operands...) by NumPy's ufuncs and numpy_backend's sigmoid, relu
    and relu6 kernels, one instruction at a time."""
    values = [y, *operands]
    with np.errstate(all="ignore"):
        for op, refs, _, _ in program:
            values.append({"add": np.add, "subtract": np.subtract, "multiply": np.multiply,
                           "sigmoid": nb.sigmoid, "relu": nb.relu, "relu6": nb.relu6}[op](
                *[values[r] for r in refs]))
    return values[-1]


def conv_data(shape, channels, seed, dtype=np.float32, specials=True):
    """(NHWC input of `shape`, with a NaN, both infinities and -0.0 where `specials`; a 3x3
    filter to `channels`; the generator for the operands)."""
    rng = np.random.default_rng(seed)
    n, h, w, c = shape
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    if specials:
        x[0, 1, 2, 0] = np.nan
        x[-1, h // 2, w // 2, c - 1] = np.inf
        x[0, h - 1, 0, 1] = -np.inf
        x[-1, 0, w - 1] = -0.0
    filters = (rng.standard_normal((3, 3, c, channels)) / 3).astype(dtype)
    return x, filters, rng


def set_random_weights(model, rng):
    """Gives a Keras model uniform weights in [-0.5, 0.5), its BatchNormalizations'
    variances in [0.5, 1)."""
    weights = []
    for w in model.weights:
        value = rng.uniform(-0.5, 0.5, tuple(w.shape)).astype("float32")
        weights.append(np.abs(value) + 0.5 if "variance" in w.path else value)
    model.set_weights(weights)


def epilogue_operands(kinds, out_shape, rng, dtype=np.float32, specials=True):
    """An epilogue's operands by kind: "v" a per-channel vector (-0.0 at every 7th channel),
    "vn" one also holding a NaN and -inf, "t" a tensor of the output's shape (with
    `specials`, NaN, both infinities and -0.0 spread through it)."""
    found = []
    for kind in kinds:
        if kind[0] == "v":
            value = (rng.standard_normal(out_shape[-1]) * 3).astype(dtype)
            value[::7] = -0.0
            if kind == "vn":  # (a NaN meeting the tensor's NaNs, an infinity)
                value[3], value[5] = np.nan, -np.inf
            found.append(value.reshape(1, 1, 1, -1))
        else:
            value = (rng.standard_normal(out_shape) * 4).astype(dtype)
            if specials:
                value.reshape(-1)[::97] = np.nan  # (NaN against a NaN of the output too)
                value.reshape(-1)[5::89] = np.inf
                value.reshape(-1)[11::101] = -np.inf
                value.reshape(-1)[13::37] = -0.0
            found.append(value)
    return found
