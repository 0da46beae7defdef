"""keras.utils.Progbar against real Keras 3's Progbar, byte for byte: both run the same updates
under the same fake clock, so even the ETA and per-step fields must agree."""

import io
import os
import re
import sys
import time

import pytest

from tensorflux.keras.utils import Progbar
from tensorflux.keras.utils import progbar as progbar_module


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    module = pytest.importorskip("keras", reason="real Keras 3 is the oracle")
    if not module.__version__.startswith("3."):
        pytest.skip("the oracle must be Keras 3")
    return module


class FakeClock:
    """time.time() that advances by the next scripted step on every call."""

    def __init__(self, steps):
        self.now = 1000.0
        self.steps = list(steps)
        self.index = 0

    def __call__(self):
        self.now += self.steps[self.index % len(self.steps)]
        self.index += 1
        return self.now


def _run(bar_class, monkeypatch, steps, script, dynamic=True, **kwargs):
    clock = FakeClock(steps)
    monkeypatch.setattr(time, "time", clock)
    # Keras redraws in place on any POSIX system, ours only on a terminal or in a notebook:
    # the oracle comparisons use the redrawing mode, what a user at a terminal sees.
    monkeypatch.setattr(progbar_module, "dynamic_display", lambda: dynamic)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    bar = bar_class(**kwargs)
    for current, values, finalize in script:
        bar.update(current, values, finalize=finalize)
    monkeypatch.undo()
    return out.getvalue()


SCRIPT = [
    (1, [("loss", 0.75), ("accuracy", 0.5)], None),
    (2, [("loss", 0.5), ("accuracy", 0.75)], None),
    (3, [("loss", 0.0004), ("accuracy", -0.25)], None),
    (10, [("loss", 1234.5), ("accuracy", 1.0)], None),
    (12, [("loss", 0.25), ("accuracy", 1.0), ("val_loss", 0.125)], True),
]

CASES = {
    "bar": dict(steps=[0.02, 0.3], kwargs=dict(target=12)),
    "bar_stateless_set": dict(steps=[0.1], kwargs=dict(target=12, stateless_metrics=set())),
    "bar_stateful": dict(steps=[0.1], kwargs=dict(target=12, stateful_metrics=["loss"])),
    "minutes_eta": dict(steps=[7.0], kwargs=dict(target=12)),
    "hours_eta": dict(steps=[900.0], kwargs=dict(target=12)),
    "sub_millisecond": dict(steps=[0.0002, 0.07], kwargs=dict(target=12, interval=0.0)),
    "verbose2": dict(steps=[0.2], kwargs=dict(target=12, verbose=2)),
    "unknown_target": dict(steps=[0.5], kwargs=dict(target=None)),
    "throttled": dict(steps=[0.01], kwargs=dict(target=12)),
    "samples_unit": dict(steps=[2.0], kwargs=dict(target=12, unit_name="sample", width=30)),
}


@pytest.mark.keras_oracle
@pytest.mark.parametrize("case", sorted(CASES))
def test_progbar_matches_keras_exactly(keras, monkeypatch, case):
    from keras.src.utils.progbar import Progbar as KerasProgbar

    spec = CASES[case]
    ours = _run(Progbar, monkeypatch, spec["steps"], SCRIPT, **spec["kwargs"])
    theirs = _run(KerasProgbar, monkeypatch, spec["steps"], SCRIPT, **spec["kwargs"])
    assert ours == theirs
    assert ours  # every case prints something


def test_progbar_layout_without_oracle(monkeypatch):
    # The clock reads 1000.5 at construction and 1001.0 at the update: 0.5 s over 2 steps.
    out = _run(Progbar, monkeypatch, [0.5], [(2, [("loss", 0.5)], True)], target=2,
               stateless_metrics=set())
    expected = ("\r\x1b[1m2/2\x1b[0m \x1b[32m" + "\u2501" * 20 + "\x1b[0m\x1b[37m\x1b[0m "
                "\x1b[1m0s\x1b[0m 250ms/step - loss: 0.5000\n")
    assert out == expected


def test_progbar_prints_plain_lines_when_not_on_a_terminal(monkeypatch):
    out = _run(Progbar, monkeypatch, [0.5], SCRIPT, dynamic=False, target=12)
    assert "\x1b" not in out and "\b" not in out and "\r" not in out, repr(out)
    lines = out.splitlines()
    assert len(lines) == 1, out  # only the epoch's final line, not every update
    # The time fields depend on how often the bar reads the clock; the rest is exact.
    pattern = (r"12/12 \u2501{20} \d+s \d+ms/step - loss: 0\.2500 - accuracy: 1\.0000 - "
               r"val_loss: 0\.1250")
    assert re.fullmatch(pattern, lines[0]), lines[0]


def test_progbar_rejects_both_metric_lists():
    with pytest.raises(ValueError, match="stateful_metrics"):
        Progbar(3, stateful_metrics=["a"], stateless_metrics=["b"])


def test_progbar_add_accumulates(monkeypatch):
    clock = FakeClock([0.1])
    monkeypatch.setattr(time, "time", clock)
    bar = Progbar(target=10, verbose=0)
    bar.add(1, [("loss", 1.0)])
    bar.add(3, [("loss", 3.0)])
    # Stateless values are averaged weighted by the steps each covered: (1*1 + 3*3) / 4.
    assert bar._values["loss"] == [10.0, 4]
    assert bar._seen_so_far == 4
