"""Imports real Keras 3 (torch backend) for the oracle tests, or skips the module."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")


def import_keras():
    keras = pytest.importorskip("keras", reason="real Keras 3 is the oracle for these tests")
    if not keras.__version__.startswith("3."):
        pytest.skip(f"needs Keras 3, found {keras.__version__}")
    return keras


def to_numpy(x):
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    elif hasattr(x, "numpy"):
        x = x.numpy()
    return np.asarray(x)


def assert_matches(ours, theirs, rtol=1e-6, atol=1e-6, what="value"):
    a, b = to_numpy(ours), to_numpy(theirs)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != Keras {b.shape}"
    np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=rtol, atol=atol,
                               err_msg=what)


def assert_same_results(ours, theirs, where="result", rtol=2e-5, atol=2e-5):
    """Recursive equality of two libraries' results: dict keys, list lengths, strings, bools
    and None exactly, arrays by shape, dtype and values to the tolerance (a NaN in Keras's
    result means a broken test, not a match)."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and sorted(ours) == sorted(theirs), (
            f"{where}: keys {sorted(ours)} != Keras {sorted(theirs)}")
        for key in theirs:
            assert_same_results(ours[key], theirs[key], f"{where}[{key!r}]", rtol, atol)
    elif isinstance(theirs, (list, tuple)):
        assert isinstance(ours, (list, tuple)) and len(ours) == len(theirs), (
            f"{where}: {ours!r} != Keras {theirs!r}")
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same_results(a, b, f"{where}[{i}]", rtol, atol)
    elif isinstance(theirs, (str, bool)) or theirs is None:
        assert ours == theirs, f"{where}: {ours!r} != Keras {theirs!r}"
    else:
        a, b = to_numpy(ours), to_numpy(theirs)
        assert not (b.dtype.kind == "f" and np.isnan(b).any()), f"{where}: NaN in Keras"
        assert a.dtype == b.dtype, f"{where}: dtype {a.dtype} != Keras {b.dtype}"
        assert_matches(a, b, rtol=rtol, atol=atol, what=where)


def mlp_forward64(model, x):
    """A tensorflux MLP's forward in NumPy float64 from its weights (an independent oracle):
    its Dense layers with relu between them, then a sigmoid for one output, else a softmax."""
    from tensorflux import keras as tfx_keras

    h = np.asarray(x, np.float64)
    dense = [layer for layer in model.layers if isinstance(layer, tfx_keras.layers.Dense)]
    for i, layer in enumerate(dense):
        kernel, bias = (np.asarray(w.numpy(), np.float64) for w in layer.weights)
        h = h @ kernel + bias
        if i < len(dense) - 1:
            h = np.maximum(h, 0)
    if h.shape[-1] == 1:
        return 1 / (1 + np.exp(-h))
    e = np.exp(h - h.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def history_lists(history):
    """A History's logs as plain lists of floats, comparable across the two libraries."""
    return {key: [float(v) for v in values] for key, values in history.history.items()}


def raised(fn):
    """The exception fn() raises (the test fails if it raises none)."""
    with pytest.raises(Exception) as info:
        fn()
    return info.value


def raised_by_both(build):
    """The exceptions our keras and real Keras raise for build(keras), in that order."""
    from tensorflux import keras

    return raised(lambda: build(keras)), raised(lambda: build(import_keras()))


def weight_specs(layer):
    """(path, shape, dtype name, trainable) of each of a layer's weights, ours or Keras's: two
    layers with the same list have the same weights in the same order."""
    return [(v.path, tuple(v.shape), np.dtype(getattr(v.dtype, "name", v.dtype)).name,
             bool(v.trainable)) for v in layer.weights]


def _reset_names():
    from tensorflux.keras import backend

    backend.clear_session()
    keras = import_keras()
    keras.utils.clear_session(free_memory=False)


@pytest.fixture(autouse=True)
def fresh_names():
    """Resets Keras auto-naming counters (ours and Keras's) before and after a test, so a test
    sees "auc", not "auc_24", whichever modules ran before it (some do not use this fixture,
    and they advance the two libraries' counters by different amounts)."""
    _reset_names()
    yield
    _reset_names()
