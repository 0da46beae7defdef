#!/usr/bin/env bash
# One device check for a lent GPU machine: the GPU tests, then a short table. Installs nothing
# beyond the project (CuPy must already be on the machine, or be carried in a venv).
set -uo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e '.[test]' >/dev/null 2>&1 || echo "pip install -e .[test] failed"
python3 - <<'PY'
try:
    import cupy
    print("cupy", cupy.__version__, "devices:", cupy.cuda.runtime.getDeviceCount())
except Exception as error:  # the table below says the GPU path was not exercised
    print("cupy unavailable:", error)
PY
python3 -m pytest -q -m gpu -p no:cacheprovider 2>&1 | tail -n 15 | tee /tmp/gpu_tests.txt
echo
echo "| check | result |"
echo "| --- | --- |"
echo "| GPU op-table forward vs NumPy | $(tail -n 1 /tmp/gpu_tests.txt) |"
