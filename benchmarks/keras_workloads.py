"""Keras training throughput (workloads W1 and W4) and single-sample latency, tensorflux vs peers.

The workloads of shared/reference/workloads.md:

- W1 seed-mlp: Dense(10, relu, input 8) -> Dense(10, relu) -> Dense(1, sigmoid), binary
  cross-entropy, Adam(1e-3), batch 10, 768 samples (77 steps per epoch).
- W4 wide-mlp: 784 -> Dense(1024, relu) -> Dense(1024, relu) -> Dense(10, softmax),
  categorical cross-entropy, Adam(1e-3), batch 256, 8192 samples (32 steps per epoch).

Peers, each in its own subprocess of this one invocation (frameworks' thread pools do not mix,
and Keras's backend is fixed per process):

- tensorflux `model.fit` (the Keras code below, with `keras` = `tensorflux.keras`), default
  compile, and jit_compile=True (tensorflux-jit: a small model's whole step compiled into one
  native call with Numba, the `jit` extra; a plan with large products keeps the NumPy runner,
  and the run says which);
- Keras 3 on TensorFlow `model.fit` (tensorflow-cpu + keras, the `benchmark` extra), default
  compile (on a CPU-only machine Keras's jit_compile="auto" means no XLA) and jit_compile=True.
  Without TensorFlow the Keras peer runs on its torch backend and is labelled so;
- PyTorch eager: a hand-written loop with torch.optim.Adam (logits + the fused loss, as a
  PyTorch user writes it);
- JAX: the whole train step (forward, grad, hand-written Adam) under one jax.jit.

Data is synthetic (seeded, float32, the same in every peer). Each number is training samples per
second, the median of --epochs epochs after a warm-up epoch (tracing, compilation, caches). The
same run measures the machine's float32 matrix-multiply rate (a large NumPy a @ b), from which
W4's limit follows: 11.2 MFLOP per training sample (3 x 2 x (784*1024 + 1024*1024 + 1024*10)
multiply-adds: forward, input gradient and weight gradient). Latency is the median wall time of
one call on one sample of the W1 (and W4) model: `model.predict(x)` and `model(x)` for the
Keras APIs, `model(x)` under torch.no_grad() and a jitted forward for JAX.

--samples N trains on N samples instead of the workload's (60000: MNIST's size). Over
several such epochs, Adam's moments of weights whose gradient stays zero decay into subnormal
floats; peers that compute with them (PyTorch, NumPy) slow down epoch after epoch, those that
flush them to zero (TensorFlow, XLA, tensorflux's compiled steps) do not. The rate of each
measured epoch is printed after the table.

    python benchmarks/keras_workloads.py [--epochs 7] [--workloads w1 w4] [--threads N]
        [--peers tensorflux tensorflux-jit keras keras-xla torch jax] [--samples N]
"""

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time


def _limit_threads_from_argv():
    """--threads N: every library's thread pool (BLAS, OpenMP, TensorFlow, XLA, tensorflux's
    kernel threads) sized N, set before any of them loads; the subprocesses inherit it. A
    machine shared with other work makes spinning multi-threaded BLAS erratic; one thread per
    peer compares more steadily."""
    if "--threads" not in sys.argv[:-1]:
        return
    n = sys.argv[sys.argv.index("--threads") + 1]
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                 "TF_NUM_INTRAOP_THREADS", "TENSORFLUX_NUM_THREADS"):
        os.environ[name] = n
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    if n == "1":
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_cpu_multi_thread_eigen=false").strip()


_limit_threads_from_argv()

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORKLOADS = {
    # name: (features, hidden units, outputs, batch, samples)
    "w1": (8, (10, 10), 1, 10, 768),
    "w4": (784, (1024, 1024), 10, 256, 8192),
}
SAMPLES = [None]  # --samples, handed on to each peer's subprocess
W4_FLOP_PER_SAMPLE = 6 * (784 * 1024 + 1024 * 1024 + 1024 * 10)  # ~11.2e6
LR, BETA1, BETA2, EPS = 1e-3, 0.9, 0.999, 1e-7
PEERS = ["tensorflux", "tensorflux-jit", "keras", "keras-xla", "torch", "jax"]
OURS = ("tensorflux", "tensorflux-jit")
MARK = "@@RESULT@@ "


def make_data(workload):
    features, _, outputs, _, samples = WORKLOADS[workload]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((samples, features)).astype(np.float32)
    if outputs == 1:
        y = (rng.uniform(size=(samples, 1)) < 0.5).astype(np.float32)
    else:
        y = np.eye(outputs, dtype=np.float32)[rng.integers(0, outputs, samples)]
    return x, y


def median_call_seconds(fn, calls=300, budget_s=3.0):
    for _ in range(20):
        fn()
    times = []
    deadline = time.perf_counter() + budget_s
    while len(times) < calls and time.perf_counter() < deadline:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ------------------------------------------------------------------ Keras API (both peers)

def keras_model(keras, workload):
    """The workload as a Keras user writes it; `keras` is tensorflux.keras or Keras 3."""
    features, hidden, outputs, _, _ = WORKLOADS[workload]
    model = keras.Sequential()
    model.add(keras.Input((features,)))
    for units in hidden:
        model.add(keras.layers.Dense(units, activation="relu"))
    model.add(keras.layers.Dense(outputs, activation="sigmoid" if outputs == 1 else "softmax"))
    return model


def keras_peer(keras, workloads, epochs, jit_compile=None):
    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    result = {}
    for workload in workloads:
        _, _, outputs, batch, samples = WORKLOADS[workload]
        x, y = make_data(workload)
        model = keras_model(keras, workload)
        kwargs = {} if jit_compile is None else {"jit_compile": jit_compile}
        model.compile(optimizer=keras.optimizers.Adam(LR),
                      loss="binary_crossentropy" if outputs == 1 else "categorical_crossentropy",
                      **kwargs)
        timer = EpochTimer()
        model.fit(x, y, batch_size=batch, epochs=epochs + 1, verbose=0, callbacks=[timer])
        result[f"{workload}_by_epoch"] = [samples / seconds for seconds in timer.seconds[1:]]
        result[workload] = statistics.median(result[f"{workload}_by_epoch"])
        if jit_compile and keras.__name__.startswith("tensorflux"):
            plans = [concrete._plan()[0]
                     for concrete in model.train_function._effects.values()]
            result[f"{workload}_native"] = "; ".join(
                (plan.native_reason or "compiled") + _segments(plan) for plan in plans) \
                or "no plan"
        if jit_compile is None:
            one = x[:1]
            result[f"{workload}_predict_s"] = median_call_seconds(
                lambda model=model, one=one: model.predict(one, verbose=0))
            result[f"{workload}_call_s"] = median_call_seconds(
                lambda model=model, one=one: model(one))
    return result


def _segments(plan):
    """How many runs of a plan's small steps its runner calls as native segments."""
    ready = [segment for segment in plan.native_segments if segment.ready]
    if not ready:
        return ""
    steps = sum(segment.steps for segment in ready)
    return f"; its small steps as {len(ready)} native segments ({steps} steps)"


def run_tensorflux(workloads, epochs, jit_compile=None):
    sys.path.insert(0, ROOT)  # the checkout this script belongs to
    from tensorflux import keras

    return keras_peer(keras, workloads, epochs, jit_compile=jit_compile)


def run_keras(workloads, epochs, jit_compile=None):
    import keras

    result = keras_peer(keras, workloads, epochs, jit_compile=jit_compile)
    result["backend"] = keras.backend.backend()
    return result


# ------------------------------------------------------------------ PyTorch eager

def run_torch(workloads, epochs):
    import torch

    result = {}
    for workload in workloads:
        features, hidden, outputs, batch, samples = WORKLOADS[workload]
        torch.manual_seed(0)
        layers, width = [], features
        for units in hidden:
            layers += [torch.nn.Linear(width, units), torch.nn.ReLU()]
            width = units
        layers.append(torch.nn.Linear(width, outputs))
        model = torch.nn.Sequential(*layers)
        optimizer = torch.optim.Adam(model.parameters(), lr=LR, betas=(BETA1, BETA2), eps=EPS)
        if outputs == 1:
            loss_fn = torch.nn.BCEWithLogitsLoss()
        else:
            ce = torch.nn.CrossEntropyLoss()

            def loss_fn(logits, y, ce=ce):  # one-hot labels, as the Keras peers get them
                return ce(logits, y)
        x, y = make_data(workload)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        steps = [(tx[i:i + batch], ty[i:i + batch]) for i in range(0, samples, batch)]

        def epoch(model=model, optimizer=optimizer, loss_fn=loss_fn, steps=steps):
            for bx, by in steps:
                optimizer.zero_grad()
                loss = loss_fn(model(bx), by)
                loss.backward()
                optimizer.step()

        result[f"{workload}_by_epoch"] = rates = _rates(epoch, samples, epochs)
        result[workload] = statistics.median(rates)
        one = tx[:1]
        probability = torch.sigmoid if outputs == 1 else (lambda z: torch.softmax(z, -1))

        def call(model=model, one=one, probability=probability):
            with torch.no_grad():
                return probability(model(one))

        result[f"{workload}_call_s"] = median_call_seconds(call)
    return result


# ------------------------------------------------------------------ JAX jit

def run_jax(workloads, epochs):
    import jax
    import jax.numpy as jnp

    result = {}
    for workload in workloads:
        features, hidden, outputs, batch, samples = WORKLOADS[workload]
        rng = np.random.default_rng(1)
        params, width = [], features
        for units in (*hidden, outputs):  # Glorot uniform, zero biases (Keras's defaults)
            limit = np.sqrt(6.0 / (width + units))
            params += [jnp.asarray(rng.uniform(-limit, limit, (width, units)), jnp.float32),
                       jnp.zeros(units, jnp.float32)]
            width = units

        def forward(params, x):
            h = x
            for i in range(0, len(params) - 2, 2):
                h = jax.nn.relu(h @ params[i] + params[i + 1])
            return h @ params[-2] + params[-1]  # logits

        def loss_fn(params, x, y, outputs=outputs):
            logits = forward(params, x)
            if outputs == 1:
                return jnp.mean(jnp.maximum(logits, 0) - logits * y +
                                jnp.log1p(jnp.exp(-jnp.abs(logits))))
            return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits), axis=-1))

        @jax.jit
        def train_step(state, x, y, loss_fn=loss_fn):
            params, ms, vs, t = state
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            t = t + 1.0
            lr = LR * jnp.sqrt(1.0 - BETA2 ** t) / (1.0 - BETA1 ** t)
            ms = [BETA1 * m + (1.0 - BETA1) * g for m, g in zip(ms, grads)]
            vs = [BETA2 * v + (1.0 - BETA2) * g * g for v, g in zip(vs, grads)]
            params = [p - lr * m / (jnp.sqrt(v) + EPS) for p, m, v in zip(params, ms, vs)]
            return (params, ms, vs, t), loss

        x, y = make_data(workload)
        steps = [(jnp.asarray(x[i:i + batch]), jnp.asarray(y[i:i + batch]))
                 for i in range(0, samples, batch)]
        holder = [(params, [jnp.zeros_like(p) for p in params],
                   [jnp.zeros_like(p) for p in params], jnp.float32(0.0))]

        def epoch(holder=holder, steps=steps, train_step=train_step):
            state = holder[0]
            for bx, by in steps:
                state, loss = train_step(state, bx, by)
            loss.block_until_ready()
            holder[0] = state

        result[f"{workload}_by_epoch"] = rates = _rates(epoch, samples, epochs)
        result[workload] = statistics.median(rates)
        activation = jax.nn.sigmoid if outputs == 1 else jax.nn.softmax
        predict = jax.jit(lambda p, x, forward=forward, activation=activation:
                          activation(forward(p, x)))
        one = jnp.asarray(x[:1])
        result[f"{workload}_call_s"] = median_call_seconds(
            lambda predict=predict, one=one, params=holder[0][0]:
            predict(params, one).block_until_ready())
    return result


def _rates(epoch, samples, epochs):
    """Samples per second of each of `epochs` epochs after a warm-up epoch."""
    epoch()  # warm-up: compilation, caches
    rates = []
    for _ in range(epochs):
        start = time.perf_counter()
        epoch()
        rates.append(samples / (time.perf_counter() - start))
    return rates


# ------------------------------------------------------------------ sgemm and the driver

def sgemm_flops(n=2048, repeats=5):
    """The machine's float32 matrix-multiply rate: the best of `repeats` n x n x n products."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    # BLAS on its own threads, as NumPy runs it: tensorflux's kernels set OpenBLAS to one
    # thread once they split work themselves (numpy_backend), and give it back in here.
    backend = sys.modules.get("tensorflux.backends.numpy_backend")
    with backend.blas_as_found() if backend else contextlib.nullcontext():
        a @ b
        best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2.0 * n ** 3 / best


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_peer(peer, workloads, epochs):
    # The sgemm rate is measured again around each peer's run: on a shared machine the rate
    # drifts, and each peer's fraction of the W4 limit is only meaningful against its own.
    before = sgemm_flops()
    if peer in OURS:
        result = run_tensorflux(workloads, epochs,
                                jit_compile=True if peer == "tensorflux-jit" else None)
    elif peer in ("keras", "keras-xla"):
        result = run_keras(workloads, epochs, jit_compile=True if peer == "keras-xla" else None)
    elif peer == "torch":
        result = run_torch(workloads, epochs)
    elif peer == "jax":
        result = run_jax(workloads, epochs)
    else:
        raise ValueError(f"unknown peer {peer!r}; choose from {PEERS}")
    result["sgemm"] = statistics.mean([before, sgemm_flops()])
    result["load"] = os.getloadavg()[0]
    return result


def spawn(peer, workloads, epochs, backend=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if backend:
        env["KERAS_BACKEND"] = backend
    command = [sys.executable, os.path.abspath(__file__), "--peer", peer, "--epochs",
               str(epochs), "--workloads", *workloads]
    if SAMPLES[0]:
        command += ["--samples", str(SAMPLES[0])]
    if "--threads" in sys.argv[:-1]:
        command += ["--threads", sys.argv[sys.argv.index("--threads") + 1]]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": last}


def versions():
    found = [f"Python {platform.python_version()}", f"NumPy {np.__version__}"]
    probe = ("import importlib.metadata as m\n"
             "for d in ['tensorflow-cpu', 'tensorflow', 'keras', 'torch', 'jax', 'jaxlib']:\n"
             "    try: print(d, m.version(d))\n"
             "    except Exception: pass\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout
    found += out.splitlines()
    return ", ".join(found) + f"; {platform.machine()}, {os.cpu_count()} CPUs"


def fmt_rate(value):
    return "n/a" if value is None else f"{value:,.0f}"


def fmt_us(seconds):
    return "n/a" if seconds is None else f"{seconds * 1e6:,.0f}"


def ratio(a, b):
    return "n/a" if a is None or b is None else f"{a / b:.2f}x"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=7)
    parser.add_argument("--workloads", nargs="+", default=["w1", "w4"], choices=list(WORKLOADS))
    parser.add_argument("--peers", nargs="+", default=PEERS, choices=PEERS)
    parser.add_argument("--threads", type=int, default=None,
                        help="size every library's thread pool (default: each library's own)")
    parser.add_argument("--samples", type=int, default=None,
                        help="training samples per epoch (default: each workload's own)")
    parser.add_argument("--peer", help=argparse.SUPPRESS)  # internal: run one peer and report
    args = parser.parse_args()
    if args.samples:
        if args.samples < 1:
            parser.error(f"--samples must be at least 1, received {args.samples}")
        SAMPLES[0] = args.samples
        for name, (features, hidden, outputs, batch, _) in WORKLOADS.items():
            WORKLOADS[name] = (features, hidden, outputs, batch, args.samples)

    if args.peer:
        print(MARK + json.dumps(run_peer(args.peer, args.workloads, args.epochs)), flush=True)
        return 0

    print(versions() + (f"; --threads {args.threads}" if args.threads else
                        "; each library's default threads"))
    sgemm_before = sgemm_flops()
    results, labels, notes = {}, {}, []
    for peer in args.peers:
        result = spawn(peer, args.workloads, args.epochs,
                       backend="tensorflow" if peer.startswith("keras") else None)
        if peer.startswith("keras") and "error" in result and "tensorflow" in result["error"]:
            notes.append(f"{peer}: TensorFlow is not importable ({result['error']}); the Keras "
                         "peer runs on its torch backend instead")
            result = spawn(peer, args.workloads, args.epochs, backend="torch")
        if "error" in result:
            notes.append(f"{peer}: not run ({result['error']})")
        results[peer] = result
        backend = result.get("backend")
        labels[peer] = peer if backend in (None, "tensorflow") else f"{peer} ({backend})"
    sgemm = max(sgemm_before, sgemm_flops())

    print(f"float32 sgemm (NumPy 2048^3 a @ b, best of 5, before and after): "
          f"{sgemm / 1e9:,.1f} GFLOP/s -> W4 limit {sgemm / W4_FLOP_PER_SAMPLE:,.0f} samples/s")
    print(f"training samples/s, median of {args.epochs} epochs after a warm-up epoch"
          + (f", {args.samples:,} samples each" if args.samples else ""))
    columns = [p for p in args.peers]
    header = f"{'':<6}" + "".join(f"{labels[p]:>18}" for p in columns)
    if "w4" in args.workloads:
        header += f"{'W4 limit':>12}"
    print(header)
    for workload in args.workloads:
        row = f"{workload.upper():<6}"
        row += "".join(f"{fmt_rate(results[p].get(workload)):>18}" for p in columns)
        if workload == "w4":
            row += f"{fmt_rate(sgemm / W4_FLOP_PER_SAMPLE):>12}"
        print(row)

    if "w4" in args.workloads:
        fractions = []
        for p in columns:
            limit = results[p].get("sgemm") and results[p]["sgemm"] / W4_FLOP_PER_SAMPLE
            fractions.append(f"{labels[p]} {ratio(results[p].get('w4'), limit)}")
        print("W4 / the limit from the sgemm rate measured around the same peer's run: "
              + ", ".join(fractions))
    for workload in args.workloads:
        print(f"{workload.upper()} samples/s by epoch: " + "; ".join(
            f"{labels[p]} " + " ".join(f"{rate / 1000:.1f}k" for rate in
                                       results[p].get(f"{workload}_by_epoch", []))
            for p in columns))
    print("load average (1 min) after each peer: " + ", ".join(
        f"{labels[p]} {results[p]['load']:.1f}" for p in columns if "load" in results[p]))

    print("\nratios (tensorflux / peer; > 1 means tensorflux is faster)")
    for mine in (p for p in OURS if p in columns):
        ours = results[mine]
        for workload in args.workloads:
            parts = [f"{labels[p]} {ratio(ours.get(workload), results[p].get(workload))}"
                     for p in columns if p not in OURS]
            if workload == "w4":
                parts.append(f"limit {ratio(ours.get(workload), sgemm / W4_FLOP_PER_SAMPLE)}")
            print(f"{mine + ' ' + workload.upper():<20}" + ", ".join(parts))
            if f"{workload}_native" in ours:
                print(f"{'':<20}(jit: {ours[f'{workload}_native']})")

    print("\nsingle-sample latency, median microseconds per call")
    no_latency = ("keras-xla", "tensorflux-jit")
    print(f"{'':<16}" + "".join(f"{labels[p]:>18}" for p in columns if p not in no_latency))
    for workload in args.workloads:
        for what in ("predict", "call"):
            row = f"{workload.upper() + ' ' + what:<16}"
            for p in columns:
                if p not in no_latency:
                    row += f"{fmt_us(results[p].get(f'{workload}_{what}_s')):>18}"
            print(row)
    print("(torch and jax have no predict(): their 'call' is a no-grad / jitted forward)")
    for note in notes:
        print("note:", note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
