"""The backend seam: the kernel surface, loading by device, and a second backend run by every op."""

import types

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import backends
from tensorflux.backends import numpy_backend
from tensorflux.context import context
from tensorflux.primitive import registry


def _used_kernels():
    # Primitives register when their module loads, and several load on first use (tf.signal,
    # tf.image, CTC, special functions): load them all.
    import importlib
    import pkgutil

    import tensorflux.ops
    import tensorflux.signal  # noqa: F401

    for module in pkgutil.iter_modules(tensorflux.ops.__path__, "tensorflux.ops."):
        importlib.import_module(module.name)
    return {p.kernel for p in registry.values() if p.kernel is not None}


def test_every_primitive_kernel_is_on_the_documented_surface():
    missing = sorted(_used_kernels() - set(backends.KERNELS))
    assert not missing, f"kernels bound by primitives but not listed in KERNELS: {missing}"


def test_the_numpy_backend_implements_the_whole_surface():
    missing = sorted(k for k in backends.KERNELS if not callable(getattr(numpy_backend, k, None)))
    assert not missing, f"numpy backend lacks: {missing}"


def test_surface_lists_no_kernel_that_nothing_uses():
    conversion = {"asarray", "to_numpy", "copy", "infer_array", "host_array", "dlpack",
                  "all_nonzero", "any_negative", "any_nan"}
    unused = sorted(set(backends.KERNELS) - _used_kernels() - conversion)
    assert not unused, f"KERNELS lists kernels no primitive binds: {unused}"


def test_device_names_parse_and_unknown_devices_are_rejected():
    assert backends.backend_for_device("CPU:0") is backends.default_backend()
    assert backends.backend_for_device("/job:localhost/replica:0/task:0/device:CPU:0") \
        is backends.default_backend()
    with pytest.raises(ValueError, match="Unknown device"):
        backends.backend_for_device("TPU:0")


def test_a_missing_kernel_names_the_backend_and_the_kernel():
    partial = types.ModuleType("partial_backend")
    partial.fill = numpy_backend.fill
    backend = backends.Backend("partial", partial, "/device:CPU:0")
    previous = context.backend
    context.backend = backend
    try:
        with pytest.raises(tf.errors.UnimplementedError, match="partial.*'add'"):
            tf.add(tf.zeros([2]), tf.zeros([2]))
    finally:
        context.backend = previous



def _counting_backend(calls):
    """A second backend built only from the documented surface: it wraps each NumPy kernel,
    counts calls, and marks its outputs, so a leak of NumPy code around the seam shows."""
    module = types.ModuleType("counting_backend")
    for name in backends.KERNELS:
        kernel = getattr(numpy_backend, name)

        def wrapped(*args, _kernel=kernel, _name=name, **kwargs):
            calls[_name] = calls.get(_name, 0) + 1
            return _kernel(*args, **kwargs)

        setattr(module, name, wrapped)
    for helper in ("native_dtype", "dtype_of", "infer_array", "cast"):
        setattr(module, helper, getattr(module, helper, getattr(numpy_backend, helper)))
    return backends.Backend("counting", module, "/device:CPU:0")


def test_ops_run_unchanged_on_another_backend():
    calls = {}
    backend = _counting_backend(calls)
    previous = context.backend
    context.backend = backend
    try:
        x = tf.constant([[1.0, 2.0], [3.0, 4.0]])
        w = tf.Variable([[0.5], [-0.5]])
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(tf.exp(tf.matmul(x, w)) * 2.0)
        grad = tape.gradient(y, w)
    finally:
        context.backend = previous
    z = np.exp(np.array([[1.0, 2.0], [3.0, 4.0]]) @ np.array([[0.5], [-0.5]]))
    np.testing.assert_allclose(float(y), 2 * z.sum(), rtol=1e-6)
    expected = np.array([[1.0, 2.0], [3.0, 4.0]]).T @ (2 * z)
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-6)
    for kernel in ("matmul", "exp", "reduce_sum", "multiply"):
        assert calls.get(kernel, 0) >= 1, f"{kernel} did not go through the backend: {calls}"
