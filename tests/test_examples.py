"""The README's quickstart runs and learns (it is the first command a new user types)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quickstart_learns_two_moons():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    result = subprocess.run([sys.executable, "examples/quickstart.py"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    losses = [float(line.split("loss")[1]) for line in lines if line.startswith("step")]
    assert len(losses) >= 3 and losses[-1] < 0.5 * losses[0], result.stdout
    final = float(lines[-1].rsplit(":", 1)[1])
    assert final >= 0.9, result.stdout  # logistic regression stops near 0.88 here
