"""The examples run and learn; the quickstart is the first command a new user types."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(script, cwd):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    result = subprocess.run([sys.executable, str(ROOT / "examples" / script)], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_quickstart_trains_the_seed_model_on_breast_cancer_data(tmp_path):
    out = _run("quickstart.py", tmp_path)
    assert "Epoch 20/20" in out and "dense_2 (Dense)" in out, out
    summary = [line for line in out.splitlines() if line.startswith("loss went from")][0]
    first, last = float(summary.split()[3]), float(summary.split()[5])
    assert last < 0.5 * first, summary
    accuracy = float([line for line in out.splitlines()
                      if line.startswith("held-out accuracy")][0].split(":")[1].split()[0])
    # On this split the majority class is 0.55 and logistic regression reaches 0.956 (NumPy,
    # measured once); the network must be at least 0.93.
    assert accuracy >= 0.93, out
    pytest.importorskip("h5py")
    assert (tmp_path / "quickstart.weights.h5").stat().st_size > 0


def test_gradient_tape_example_learns_two_moons(tmp_path):
    out = _run("gradient_tape_two_moons.py", tmp_path)
    lines = out.splitlines()
    losses = [float(line.split("loss")[1]) for line in lines if line.startswith("step")]
    assert len(losses) >= 3 and losses[-1] < 0.5 * losses[0], out
    final = float(lines[-1].rsplit(":", 1)[1])
    assert final >= 0.9, out  # logistic regression stops near 0.88 here


def test_digits_cnn_example_reaches_97_percent(tmp_path):
    out = _run("digits_cnn.py", tmp_path)
    assert "Epoch 30/30" in out and "conv2d (Conv2D)" in out, out
    line = [line for line in out.splitlines() if line.startswith("test accuracy")][0]
    # This CNN reached 0.981-0.986 over seeds 0-3 here; the issue asks for at least 0.97.
    assert float(line.split(":")[1].split()[0]) >= 0.97, out


def test_sequence_gru_example_learns_a_running_sum_property(tmp_path):
    out = _run("sequence_gru.py", tmp_path)
    lines = out.splitlines()
    positive = float([line for line in lines if line.startswith("positive fraction")][0]
                     .rsplit(" ", 1)[1])
    summary = [line for line in lines if line.startswith("loss went from")][0]
    first, last = float(summary.split()[3]), float(summary.split()[5])
    assert last < 0.5 * first, summary
    accuracy = float([line for line in lines if line.startswith("held-out accuracy")][0]
                     .split(":")[1])
    # the majority class is max(positive, 1 - positive) of the test set (about 0.6 here)
    assert accuracy >= 0.9 and accuracy > max(positive, 1 - positive) + 0.2, out
