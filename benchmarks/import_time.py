"""How long `import tensorflux` takes in a fresh interpreter, next to NumPy and PyTorch.

    python benchmarks/import_time.py [--runs 5] [--top 10]

Each import runs in a new `python -c` process; the table shows the best wall time of
`--runs` runs, minus the time of an interpreter that imports nothing, and the ratio to
`import numpy` (tensorflux's only dependency, which it loads on the first op, so
"tensorflux + first op" cannot beat it). Then the modules that
`python -X importtime -c "import tensorflux"` reports as slowest (cumulative).
"""

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def environment():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def best_wall_time(code, runs):
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=environment(), cwd=ROOT)
        best = min(best, time.perf_counter() - start)
    return best


def slowest_modules(top):
    """(cumulative microseconds, module) from -X importtime, slowest first."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", "import tensorflux"],
                            capture_output=True, text=True, check=True, env=environment(),
                            cwd=ROOT)
    rows = []
    prefix = "import time:"
    for line in result.stderr.splitlines():
        # "import time:  self [us] | cumulative | imported package", then one line per module.
        if not line.startswith(prefix) or "cumulative" in line:
            continue
        _self, cumulative, name = line[len(prefix):].split("|")
        rows.append((int(cumulative), name.strip()))
    rows.sort(reverse=True)
    return rows[:top]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args(argv)

    baseline = best_wall_time("pass", args.runs)
    # NumPy loads with the CPU backend, on the first op: the last row is what a script pays.
    targets = {"numpy": "import numpy", "tensorflux": "import tensorflux",
               "tensorflux + first op": "import tensorflux as tf; tf.constant([1.0]) + 1.0"}
    if importlib.util.find_spec("torch") is not None:
        targets["torch"] = "import torch"
    times = {name: best_wall_time(code, args.runs) - baseline for name, code in targets.items()}

    print(f"python {sys.version.split()[0]}; best of {args.runs} fresh processes; "
          f"interpreter start-up ({baseline * 1000:.1f} ms) subtracted")
    print(f"{'import':<24}{'seconds':>10}{'vs numpy':>10}")
    for name, seconds in times.items():
        print(f"{name:<24}{seconds:10.3f}{seconds / times['numpy']:10.2f}")
    if "torch" not in times:
        print("(torch is not installed: pip install -e '.[benchmark]' to compare)")

    print("\nslowest modules under `import tensorflux` (cumulative, -X importtime):")
    for micros, name in slowest_modules(args.top):
        print(f"{micros / 1000:10.1f} ms  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
