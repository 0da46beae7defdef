"""tf.test: TensorFlow's unittest base class with array assertions, device queries and
gradient checking.

>>> import tensorflux as tf
>>> class Square(tf.test.TestCase):
...     def test_square(self):
...         self.assertAllClose(tf.square([2.0, 3.0]), [4.0, 9.0])
>>> import io, unittest
>>> suite = unittest.defaultTestLoader.loadTestsFromTestCase(Square)
>>> unittest.TextTestRunner(stream=io.StringIO()).run(suite).wasSuccessful()
True
"""

import collections.abc
import contextlib
import math
import random
import re
import shutil
import tempfile
import unittest

import numpy as np

__all__ = ["TestCase", "main", "gpu_device_name", "is_gpu_available", "is_built_with_cuda",
           "is_built_with_gpu_support", "is_built_with_rocm", "is_built_with_xla",
           "compute_gradient"]

# The seed TestCase.setUp gives Python's, NumPy's and tensorflux's global generators, as
# TensorFlow's does (its DEFAULT_GRAPH_SEED), so that a test draws the same numbers each run.
_DEFAULT_SEED = 87654321


# ------------------------------------------------------------------ devices and build

def gpu_device_name():
    """'/device:GPU:0' when a GPU is visible, else ''."""
    from tensorflux import config

    gpus = config.list_logical_devices("GPU")
    return gpus[0].name if gpus else ""


def is_gpu_available(cuda_only=False, min_cuda_compute_capability=None):
    """Whether a GPU is visible (TF's deprecated form of tf.config.list_physical_devices)."""
    return bool(gpu_device_name())


def is_built_with_cuda():
    """Whether tensorflux can run on CUDA GPUs here: CuPy (tensorflux[gpu]) is installed."""
    import importlib.util

    return importlib.util.find_spec("cupy") is not None


def is_built_with_gpu_support():
    return is_built_with_cuda()


def is_built_with_rocm():
    return False


def is_built_with_xla():
    """False: tensorflux compiles tf.function graphs itself, not with XLA."""
    return False


def main(argv=None):
    """Runs the tests of the __main__ module (unittest.main) and exits with their status."""
    unittest.main(module="__main__", argv=argv)


# ------------------------------------------------------------------ gradient checking

def compute_gradient(f, x, delta=None):
    """The Jacobians of f(*x) with respect to each argument, from autodiff ("theoretical")
    and from central differences of step `delta` (default 1/1024, exact in binary): two
    tuples of 2-D arrays with one row per element of the result and one column per element
    of the argument, in the argument's dtype.

    >>> import tensorflux as tf
    >>> theoretical, numerical = tf.test.compute_gradient(lambda v: v * v, [[1.0, 2.0]])
    >>> theoretical[0].tolist()
    [[2.0, 0.0], [0.0, 4.0]]
    """
    from tensorflux.autodiff import GradientTape
    from tensorflux.tensor import convert_to_tensor

    if not isinstance(x, (list, tuple)):
        raise ValueError("`x` must be a list or tuple of values convertible to a Tensor "
                         f"(arguments to `f`), not a {type(x)}")
    delta = 1.0 / 1024 if delta is None else delta
    xs = [convert_to_tensor(v) for v in x]
    for i, v in enumerate(xs):
        if not v.dtype.is_floating:
            raise TypeError(f"compute_gradient differentiates floating arguments; argument "
                            f"{i} is {v.dtype.name}")
    with GradientTape(persistent=True) as tape:
        for v in xs:
            tape.watch(v)
        y = convert_to_tensor(f(*xs))
    if not y.dtype.is_floating:
        raise TypeError(f"compute_gradient differentiates floating results; f returned "
                        f"{y.dtype.name}")
    y_size = y.shape.num_elements()
    theoretical, numerical = [], []
    for i, v in enumerate(xs):
        native = v.numpy().dtype
        rows = np.zeros((y_size, v.shape.num_elements()), native)
        for row in range(y_size):
            seed = np.zeros(y_size, y.numpy().dtype)
            seed[row] = 1
            grad = tape.gradient(y, v, output_gradients=convert_to_tensor(
                seed.reshape(tuple(y.shape))))
            if grad is not None:
                rows[row] = np.asarray(grad).ravel()
        theoretical.append(rows)
        numerical.append(_numeric_jacobian(f, xs, i, delta, y_size))
    del tape
    return tuple(theoretical), tuple(numerical)


def _numeric_jacobian(f, xs, param, delta, y_size):
    from tensorflux.tensor import convert_to_tensor

    values = [v.numpy() for v in xs]
    point = np.array(values[param])  # a copy (0-d for a scalar), perturbed through `flat`
    flat = point.reshape(-1)
    jacobian = np.zeros((y_size, flat.size), point.dtype)

    def evaluate():
        args = [convert_to_tensor(point if k == param else values[k])
                for k in range(len(values))]
        return np.asarray(f(*args)).ravel()

    for column in range(flat.size):
        original = flat[column]
        flat[column] = original + delta
        above = evaluate()
        flat[column] = original - delta
        below = evaluate()
        flat[column] = original
        jacobian[:, column] = (above - below) / np.asarray(2 * delta, above.dtype)
    return jacobian


# ------------------------------------------------------------------ TestCase

def _as_array(value):
    """A test value as a NumPy array: tensors and Variables by their value, ragged Python
    sequences as object arrays."""
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.array(value)
    except ValueError as error:
        if "inhomogeneous" in str(error):
            return np.array(value, dtype=object)
        raise


def _where(condition):
    return np.where(condition) if np.ndim(condition) else ()


class _EagerSession:
    """What session() and cached_session() yield while executing eagerly: run() evaluates
    the fetches (there is no graph to feed)."""

    def __init__(self, test):
        self._test = test

    def run(self, fetches, feed_dict=None, **kwargs):
        if feed_dict:
            raise NotImplementedError("feed_dict has no meaning for eager tensors: compute the "
                                      "value from the inputs directly")
        return self._test.evaluate(fetches)


class TestCase(unittest.TestCase):
    """unittest.TestCase with TensorFlow's assertions on arrays, tensors and nested
    structures of them (assertAllClose, assertAllEqual, assertShapeEqual...), `evaluate`,
    and seeded random generators in setUp."""

    def setUp(self):
        super().setUp()
        from tensorflux.ops.random import set_seed

        if self.id().endswith(".test_session"):
            self.skipTest("Not a test.")  # test_session is a helper, not a test
        random.seed(_DEFAULT_SEED)
        np.random.seed(_DEFAULT_SEED)
        set_seed(_DEFAULT_SEED)
        self._temp_dir = None

    def get_temp_dir(self):
        """A directory for this test, the same one on every call, removed after it."""
        if getattr(self, "_temp_dir", None) is None:
            self._temp_dir = tempfile.mkdtemp(prefix=f"{type(self).__name__}_")
            self.addCleanup(shutil.rmtree, self._temp_dir, ignore_errors=True)
        return self._temp_dir

    def evaluate(self, tensors):
        """The NumPy values of a tensor or a nested structure of tensors (None stays None)."""
        from tensorflux import nest

        def value(item):
            if item is None:
                return None
            if hasattr(item, "numpy"):
                return item.numpy()
            raise ValueError(f"Unsupported type {type(item).__name__!r}.")

        return nest.map_structure(value, tensors)

    @contextlib.contextmanager
    def session(self, graph=None, config=None, use_gpu=True, force_gpu=False):
        yield _EagerSession(self)

    @contextlib.contextmanager
    def cached_session(self, graph=None, config=None, use_gpu=True, force_gpu=False):
        yield _EagerSession(self)

    def test_session(self, graph=None, config=None, use_gpu=True, force_gpu=False):
        return self.cached_session(graph, config, use_gpu, force_gpu)

    # -- closeness and equality
    def _assert_array_close(self, a, b, rtol, atol, msg):
        a, b = _as_array(a), _as_array(b)
        self.assertEqual(a.shape, b.shape, f"Shape mismatch: expected {a.shape}, got "
                                           f"{b.shape}" + (f" with contents {b}." if b.ndim <= 3
                                                           or b.size < 500 else "."))
        if np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True):
            return
        far = np.logical_or(np.abs(a - b) > atol + rtol * np.abs(b), np.isnan(a) != np.isnan(b))
        x, y = (a[_where(far)], b[_where(far)]) if a.ndim else (a, b)
        details = [msg, f"not close where = {_where(far)}", f"not close lhs = {x}",
                   f"not close rhs = {y}", f"not close dif = {np.abs(x - y)}",
                   f"not close tol = {atol + rtol * np.abs(y)}",
                   f"dtype = {a.dtype}, shape = {a.shape}"]
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True,
                                   err_msg="\n".join(details))

    def _assert_close_nested(self, a, b, rtol, atol, path, msg):
        where = "".join(f"[{p}]" for p in path)
        if hasattr(a, "_asdict"):
            a = a._asdict()
        if hasattr(b, "_asdict"):
            b = b._asdict()
        a_dict, b_dict = (isinstance(v, collections.abc.Mapping) for v in (a, b))
        if a_dict != b_dict:
            raise ValueError(f"Can't compare dict to non-dict, a{where} vs b{where}. {msg}")
        if a_dict:
            self.assertCountEqual(a.keys(), b.keys(), msg=f"mismatched keys: a{where} has keys "
                                  f"{list(a.keys())}, but b{where} has keys {list(b.keys())}. "
                                  f"{msg}")
            for key in a:
                self._assert_close_nested(a[key], b[key], rtol, atol, path + [key], msg)
            return
        mismatch = f"Mismatched value: a{where} is different from b{where}. {msg}"
        if isinstance(a, (list, tuple)):
            try:  # as arrays when the structure allows, else element by element
                self._assert_array_close(a, b, rtol, atol, mismatch)
                return
            except (ValueError, TypeError):
                pass
            if len(a) != len(b):
                raise ValueError(f"Mismatched length: a{where} has {len(a)} items, but b{where} "
                                 f"has {len(b)} items. {msg}") from None
            for k, (x, y) in enumerate(zip(a, b)):
                self._assert_close_nested(x, y, rtol, atol, path + [k], msg)
            return
        self._assert_array_close(a, b, rtol, atol, mismatch)

    def assertAllClose(self, a, b, rtol=1e-6, atol=1e-6, msg=None):  # noqa: N802
        """a and b (arrays, tensors, or nested dicts / lists / tuples / namedtuples of
        them) are equal within |a - b| <= atol + rtol * |b|, NaN matching NaN."""
        self._assert_close_nested(a, b, rtol, atol, [], msg or "")

    def assertAllCloseAccordingToType(self, a, b, rtol=1e-6, atol=1e-6,  # noqa: N802
                                      float_rtol=1e-6, float_atol=1e-6, half_rtol=1e-3,
                                      half_atol=1e-3, bfloat16_rtol=1e-2, bfloat16_atol=1e-2,
                                      msg=None):
        """assertAllClose with tolerances widened to the least precise dtype involved."""
        a, b = _as_array(a), _as_array(b)
        kinds = {a.dtype.name, b.dtype.name}
        if kinds & {"float32", "complex64"}:
            rtol, atol = max(rtol, float_rtol), max(atol, float_atol)
        if "float16" in kinds:
            rtol, atol = max(rtol, half_rtol), max(atol, half_atol)
        if "bfloat16" in kinds:
            rtol, atol = max(rtol, bfloat16_rtol), max(atol, bfloat16_atol)
        self.assertAllClose(a, b, rtol=rtol, atol=atol, msg=msg)

    def assertNotAllClose(self, a, b, rtol=1e-6, atol=1e-6, msg=None):  # noqa: N802
        try:
            self.assertAllClose(a, b, rtol=rtol, atol=atol, msg=msg)
        except AssertionError:
            return
        raise AssertionError(f"The two values are close at all elements. {msg or ''}")

    def assertAllEqual(self, a, b, msg=None):  # noqa: N802
        """a and b have the same shape and values (NaN equal to NaN; str equal to its UTF-8
        bytes)."""
        msg = msg or ""
        a, b = _as_array(a), _as_array(b)
        self.assertEqual(a.shape, b.shape, f"Shape mismatch: expected {a.shape}, got {b.shape}."
                         + (f" Contents: {b!r}. \n{msg}." if b.ndim <= 3 or b.size < 500
                            else f" {msg}"))
        if a.dtype.kind != b.dtype.kind and {a.dtype.kind, b.dtype.kind} <= set("USO"):
            a, b = (np.array([v.encode("utf-8") if isinstance(v, str) else v
                              for v in x.reshape(-1)], dtype=object).reshape(x.shape)
                    for x in (a, b))
        same = np.asarray(a == b)
        if a.dtype.kind in "fc" and b.dtype.kind in "fc":
            same = same | (np.isnan(a) & np.isnan(b))
        if np.all(same):
            return
        diff = ~same
        x, y = (a[_where(diff)], b[_where(diff)]) if a.ndim else (a, b)
        np.testing.assert_array_equal(a, b, err_msg="\n".join(
            [msg, f"not equal where = {_where(diff)}", f"not equal lhs = {x!r}",
             f"not equal rhs = {y!r}"]))

    def assertNotAllEqual(self, a, b, msg=None):  # noqa: N802
        try:
            self.assertAllEqual(a, b)
        except AssertionError:
            return
        raise AssertionError(f"The two values are equal at all elements. {msg or ''}")

    # -- bounds and membership
    def assertAllGreater(self, a, comparison_target):  # noqa: N802
        self.assertGreater(np.min(_as_array(a)), _scalar(comparison_target))

    def assertAllLess(self, a, comparison_target):  # noqa: N802
        self.assertLess(np.max(_as_array(a)), _scalar(comparison_target))

    def assertAllGreaterEqual(self, a, comparison_target):  # noqa: N802
        self.assertGreaterEqual(np.min(_as_array(a)), _scalar(comparison_target))

    def assertAllLessEqual(self, a, comparison_target):  # noqa: N802
        self.assertLessEqual(np.max(_as_array(a)), _scalar(comparison_target))

    def assertAllInRange(self, target, lower_bound, upper_bound,  # noqa: N802
                         open_lower_bound=False, open_upper_bound=False):
        """Every element is a number within the bounds (closed unless said open), none NaN."""
        target = _as_array(target)
        if target.dtype.kind not in "iuf":
            raise AssertionError(f"The value of {target} does not have an ordered numeric "
                                 f"type, instead it has type: {target.dtype}")
        nans = np.argwhere(np.isnan(target)) if target.dtype.kind == "f" else []
        if len(nans):
            raise AssertionError(f"{len(nans)} of the {target.size} element(s) are NaN. "
                                 "Subscripts(s) and value(s) of the NaN element(s):\n"
                                 + _subscripts(nans, target))
        below = target <= lower_bound if open_lower_bound else target < lower_bound
        above = target >= upper_bound if open_upper_bound else target > upper_bound
        outside = np.argwhere(below | above)
        if len(outside):
            bounds = (("(" if open_lower_bound else "[") + f"{lower_bound}, {upper_bound}"
                      + (")" if open_upper_bound else "]"))
            raise AssertionError(f"{len(outside)} of the {target.size} element(s) are outside "
                                 f"the range {bounds}. Subscript(s) and value(s) of the "
                                 "offending elements:\n" + _subscripts(outside, target))

    def assertAllInSet(self, target, expected_set):  # noqa: N802
        extra = np.setdiff1d(_as_array(target).reshape(-1), list(expected_set))
        if extra.size:
            raise AssertionError(f"{extra.size} unique element(s) are not in the set "
                                 f"{expected_set}: {extra}")

    def assertDTypeEqual(self, target, expected_dtype):  # noqa: N802
        """target's dtype is expected_dtype (a NumPy dtype or a tf.DType)."""
        from tensorflux import dtypes

        actual = _as_array(target).dtype
        if isinstance(expected_dtype, dtypes.DType):
            expected_dtype = expected_dtype.as_numpy_dtype
        self.assertEqual(actual, np.dtype(expected_dtype))

    def assertShapeEqual(self, input_a, input_b, msg=None):  # noqa: N802
        """Two NumPy arrays or tensors have the same (static) shape."""
        from tensorflux.tensor import _TensorLike

        for name, value in (("input_a", input_a), ("input_b", input_b)):
            if not isinstance(value, (np.ndarray, np.generic, _TensorLike)):
                raise TypeError(f"{name} must be a Numpy ndarray, Numpy scalar, or a Tensor. "
                                f"Instead received {type(value)}")
        shapes = [list(v.shape) if isinstance(v, _TensorLike) else list(np.shape(v))
                  for v in (input_a, input_b)]
        self.assertEqual(shapes[0], shapes[1], msg=msg)

    def assertNear(self, f1, f2, err, msg=None):  # noqa: N802
        """|f1 - f2| <= err (equal infinities pass)."""
        f1, f2 = float(np.squeeze(f1)), float(np.squeeze(f2))
        if f1 != f2:
            diff = math.fabs(f1 - f2)
            self.assertTrue(diff <= err, f"{f1:f} != {f2:f} +/- {err:f} (difference: {diff:g})"
                            + (f" ({msg})" if msg is not None else ""))

    def assertArrayNear(self, farray1, farray2, err, msg=None):  # noqa: N802
        self.assertEqual(len(farray1), len(farray2), msg=msg)
        for f1, f2 in zip(farray1, farray2):
            self.assertNear(float(f1), float(f2), err, msg=msg)

    def assertNDArrayNear(self, ndarray1, ndarray2, err, msg=None):  # noqa: N802
        """The Euclidean norm of the difference is below err."""
        self.assertTrue(np.linalg.norm(_as_array(ndarray1) - _as_array(ndarray2)) < err,
                        msg=msg)

    # -- errors
    @contextlib.contextmanager
    def assertRaisesWithPredicateMatch(self, exception_type,  # noqa: N802
                                       expected_err_re_or_predicate):
        """The block raises exception_type, and the predicate accepts it (or, given a
        pattern, re.search finds it in the message)."""
        predicate = expected_err_re_or_predicate
        if not callable(predicate):
            pattern = expected_err_re_or_predicate

            def predicate(error):
                text = error.message if hasattr(error, "message") else str(error)
                return re.search(pattern, str(text))
        try:
            yield
        except Exception as error:  # noqa: BLE001 - any exception is judged below
            if not isinstance(error, exception_type) or not predicate(error):
                raise AssertionError(f"Exception of type {type(error)}: {error}") from error
            return
        raise AssertionError(f"Exception of type {AssertionError}: "
                             f"{exception_type.__name__} not raised")

    def assertRaisesOpError(self, expected_err_re_or_predicate):  # noqa: N802
        from tensorflux import errors

        return self.assertRaisesWithPredicateMatch(errors.OpError,
                                                   expected_err_re_or_predicate)

    def assertRaisesIncompatibleShapesError(self, exception_type=None):  # noqa: N802
        from tensorflux import errors

        return self.assertRaisesWithPredicateMatch(
            exception_type or errors.InvalidArgumentError,
            r"Incompatible shapes|Dimensions must be equal|required broadcastable shapes|"
            r"could not be broadcast|cannot broadcast")

    # -- absltest's helpers that TensorFlow's TestCase inherits
    def assertLen(self, container, expected_len, msg=None):  # noqa: N802
        self.assertEqual(len(container), expected_len, msg=msg)

    def assertEmpty(self, container, msg=None):  # noqa: N802
        self.assertEqual(len(container), 0, msg=msg)

    def assertNotEmpty(self, container, msg=None):  # noqa: N802
        self.assertNotEqual(len(container), 0, msg=msg)

    def assertStartsWith(self, actual, expected_start, msg=None):  # noqa: N802
        self.assertTrue(actual.startswith(expected_start),
                        msg or f"{actual!r} does not start with {expected_start!r}")

    def assertEndsWith(self, actual, expected_end, msg=None):  # noqa: N802
        self.assertTrue(actual.endswith(expected_end),
                        msg or f"{actual!r} does not end with {expected_end!r}")

    def assertBetween(self, value, minv, maxv, msg=None):  # noqa: N802
        self.assertTrue(minv <= value <= maxv, msg or f"{value!r} is not in [{minv!r}, {maxv!r}]")

    def assertItemsEqual(self, expected_seq, actual_seq, msg=None):  # noqa: N802
        self.assertCountEqual(expected_seq, actual_seq, msg=msg)

    def assertSameElements(self, expected_seq, actual_seq, msg=None):  # noqa: N802
        self.assertEqual(set(expected_seq), set(actual_seq), msg=msg)

    def assertContainsSubset(self, expected_subset, actual_set, msg=None):  # noqa: N802
        missing = set(expected_subset) - set(actual_set)
        self.assertFalse(missing, msg or f"Missing elements {missing}")


def _scalar(value):
    return value.numpy() if hasattr(value, "numpy") else value


def _subscripts(positions, target, limit=10):
    lines = [f"  {list(p)} : {target[tuple(p)]}" if target.ndim else f"  [0] : {target}"
             for p in positions[:limit]]
    if len(positions) > limit:
        lines.append("  ...")
    return "\n".join(lines)
