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
