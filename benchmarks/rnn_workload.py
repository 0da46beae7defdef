"""Training throughput of W3, the IMDB-style LSTM classifier (shared/reference/workloads.md):
Embedding(20000, 128) -> LSTM(64) -> Dense(1, sigmoid), sequence length 200, batch 32,
binary cross-entropy, Adam, 512 samples per epoch, synthetic token data.

    python benchmarks/rnn_workload.py [--epochs 5]

tensorflux runs `model.fit` (its LSTM is one fused sequence primitive forward and one fused
backward-through-time primitive). Peers, each in its own process: PyTorch eager (nn.LSTM, a
hand-written loop with torch.optim.Adam; this interpreter's torch, else /tmp/benchvenv), and
Keras 3 `model.fit` on TensorFlow (/tmp/kbench, tensorflow-cpu + keras; when absent, Keras on
the torch backend, labelled so). Each number is training samples per second, the median over
`--epochs` epochs after one warm-up epoch; ratios compare numbers from this one run.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

VOCAB, DIM, UNITS, LENGTH, BATCH, SAMPLES = 20000, 128, 64, 200, 32, 512


def _data():
    rng = np.random.default_rng(0)
    x = rng.integers(1, VOCAB, size=(SAMPLES, LENGTH)).astype("int32")
    y = rng.integers(0, 2, size=(SAMPLES, 1)).astype("float32")
    return x, y


def _median_rate(times):
    return SAMPLES / statistics.median(times)


def run_keras_like(keras, epochs):
    x, y = _data()
    model = keras.Sequential([keras.Input((LENGTH,), dtype="int32"),
                              keras.layers.Embedding(VOCAB, DIM),
                              keras.layers.LSTM(UNITS),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    times = []
    for epoch in range(epochs + 1):
        start = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
        if epoch:
            times.append(time.perf_counter() - start)
    return _median_rate(times)


def run_tensorflux(epochs):
    from tensorflux import keras

    return run_keras_like(keras, epochs)


def run_torch(epochs):
    import torch

    torch.manual_seed(0)
    x, y = _data()
    x, y = torch.tensor(x, dtype=torch.long), torch.tensor(y)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(VOCAB, DIM)
            self.lstm = torch.nn.LSTM(DIM, UNITS, batch_first=True)
            self.dense = torch.nn.Linear(UNITS, 1)

        def forward(self, tokens):
            _, (h, _) = self.lstm(self.embedding(tokens))
            return torch.sigmoid(self.dense(h[-1]))

    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCELoss()
    times = []
    for epoch in range(epochs + 1):
        start = time.perf_counter()
        for i in range(0, SAMPLES, BATCH):
            optimizer.zero_grad()
            loss = loss_fn(model(x[i:i + BATCH]), y[i:i + BATCH])
            loss.backward()
            optimizer.step()
        if epoch:
            times.append(time.perf_counter() - start)
    return _median_rate(times)


def run_keras(epochs, backend):
    os.environ["KERAS_BACKEND"] = backend
    import keras

    return run_keras_like(keras, epochs)


def _worker(args):
    if args.worker == "torch":
        rate = run_torch(args.epochs)
    else:
        rate = run_keras(args.epochs, args.worker.split("-", 1)[1])
    print(json.dumps({"rate": rate}))


def _spawn(python, worker, epochs):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    try:
        out = subprocess.run([python, __file__, "--worker", worker, "--epochs", str(epochs)],
                             capture_output=True, text=True, timeout=1800, env=env)
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, str(error)
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)["rate"], None
    return None, (out.stderr.strip().splitlines() or ["no output"])[-1]


def _has(python, module):
    try:
        return subprocess.run([python, "-c", f"import {module}"], capture_output=True,
                              timeout=300).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    print(f"W3 imdb-lstm: Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs; median of {args.epochs} epochs after 1 warm-up")
    rows = [("tensorflux keras fit", run_tensorflux(args.epochs), None)]
    torch_python = sys.executable if _has(sys.executable, "torch") else "/tmp/benchvenv/bin/python"
    rate, error = _spawn(torch_python, "torch", args.epochs)
    rows.append(("PyTorch eager (nn.LSTM)", rate, error))
    if os.path.exists("/tmp/kbench/bin/python") and _has("/tmp/kbench/bin/python", "tensorflow"):
        rate, error = _spawn("/tmp/kbench/bin/python", "keras-tensorflow", args.epochs)
        rows.append(("Keras 3 on TensorFlow fit", rate, error))
    else:
        rate, error = _spawn(sys.executable, "keras-torch", args.epochs)
        rows.append(("Keras 3 on torch fit (no TensorFlow here)", rate, error))
    ours = rows[0][1]
    for name, rate, error in rows:
        if rate is None:
            print(f"  {name:42s} n/a ({error})")
        else:
            print(f"  {name:42s} {rate:9.1f} samples/s   tensorflux / this = {ours / rate:.2f}")


if __name__ == "__main__":
    main()
