"""`import tensorflux` stays light: it never pulls in heavy optional packages.

Timing is measured by benchmarks/import_time.py, not asserted here (timings are not tests).
Each check runs in a fresh interpreter, since this test process has imported plenty already.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Optional or test-only packages that `import tensorflux` (and basic eager use) must not load.
# (pickle is not listed: NumPy itself imports it; tests/test_architecture.py bans ours.)
HEAVY = ["scipy", "torch", "cupy", "cupyx", "ml_dtypes", "h5py", "hypothesis", "pandas",
         "matplotlib", "jax", "tensorflow", "keras", "pytest"]


def modules_loaded_after(code):
    """The top-level module names in sys.modules after running `code` in a fresh interpreter."""
    probe = (code + "\nimport json, sys\n"
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"the probe failed:\n{result.stderr}"
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_the_probe_sees_what_a_script_imports():
    # Guards the tests below against passing because the probe sees nothing.
    assert "decimal" in modules_loaded_after("import decimal")
    assert "decimal" not in modules_loaded_after("pass")


@pytest.mark.parametrize("code", [
    "import tensorflux",
    "import tensorflux as tf\n"
    "x = tf.constant([[1.0, 2.0]])\n"
    "with tf.GradientTape() as tape:\n"
    "    tape.watch(x)\n"
    "    y = tf.reduce_sum(tf.exp(x) * 2.0)\n"
    "tape.gradient(y, x).numpy()\n"
    "tf.bfloat16, tf.float16.max, repr(x)",
], ids=["import", "eager-use"])
def test_tensorflux_does_not_import_heavy_modules(code):
    loaded = modules_loaded_after(code)
    assert "tensorflux" in loaded
    heavy = sorted(set(HEAVY) & loaded)
    assert not heavy, f"{code.splitlines()[0]!r} imported {heavy}; import them lazily, on use"
