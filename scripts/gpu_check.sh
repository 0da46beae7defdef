#!/usr/bin/env bash
# One device check for a lent GPU machine: the GPU tests (op table on CuPy, gradients, Keras
# training and saving against the CPU), then the GPU benchmarks, then a short table.
# Installs nothing: it runs this checkout (PYTHONPATH) with the machine's NumPy, CuPy, pytest
# and PyTorch (the benchmarks' peer). Logs go to $OUT (the device tool's folder) or /tmp.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
LOGS="${OUT:-/tmp/gpu_check}"
mkdir -p "$LOGS"
PY="${PYTHON:-python3}"

nvidia-smi -L 2>&1 | head -n 2
"$PY" - <<'PY'
import numpy
try:
    import cupy
    print("numpy", numpy.__version__, "cupy", cupy.__version__,
          "devices:", cupy.cuda.runtime.getDeviceCount())
except Exception as error:  # the table below then says the GPU path was not exercised
    print("cupy unavailable:", error)
PY

start=$(date +%s)
timeout "${TEST_TIMEOUT:-240}" "$PY" -m pytest -q -m gpu -p no:cacheprovider --tb=short -rf \
    tests/ops/test_op_table.py tests/test_gpu.py >"$LOGS/gpu_tests.log" 2>&1
test_rc=$?
test_s=$(( $(date +%s) - start ))
grep -E "^(FAILED|ERROR)" "$LOGS/gpu_tests.log" | head -n 40
tail -n 3 "$LOGS/gpu_tests.log"

start=$(date +%s)
timeout "${BENCH_TIMEOUT:-200}" "$PY" benchmarks/gpu_workloads.py --epochs 3 \
    >"$LOGS/gpu_bench.txt" 2>&1
bench_rc=$?
bench_s=$(( $(date +%s) - start ))
grep -v "^|" "$LOGS/gpu_bench.txt" | tail -n 20

echo
echo "| check | result |"
echo "| --- | --- |"
echo "| GPU tests (op table forward on CuPy; tests/test_gpu.py), rc $test_rc, ${test_s} s |" \
     "$(tail -n 1 "$LOGS/gpu_tests.log") |"
echo "| GPU benchmarks, rc $bench_rc, ${bench_s} s | see below |"
grep "^|" "$LOGS/gpu_bench.txt"
