"""The summary tests' shared fixture."""

import pytest

from tensorflux.summary import writer as writer_module


@pytest.fixture(autouse=True)
def _no_default_state():
    # The default writer and step are per thread: a test must not leak them to the next.
    yield
    writer_module._state.writer = None
    writer_module._state.step = None
    writer_module._state.is_recording = True
