"""A Keras-style eager training step, phase by phase: tensorflux vs PyTorch eager (vs Keras 3
on TensorFlow, eager, when it is installed).

The loop of Keras's "writing a training loop from scratch" guide, without `tf.function`:

    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))

on two models: `mlp` is workloads.md's W1 (8 -> Dense(10, relu) -> Dense(10, relu) ->
Dense(1, sigmoid), binary cross-entropy, Adam, batch 10) and `mnist` the guide's own
(784 -> Dense(64, relu) -> Dense(64, relu) -> Dense(10), sparse categorical cross-entropy
from logits, Adam, batch 64). PyTorch runs the same model, loss and optimizer with
`zero_grad` / `backward` / `step`, one thread each (`--threads`). Each cell is the median
microseconds of one call over `--calls` calls after a warm-up; the phases are measured
apart (model call without a tape, the forward pass and loss under a tape, the gradient of a
persistent tape, the optimizer's update alone), then the whole step, whose samples per
second and ratio to PyTorch's come last.

    python benchmarks/eager_step.py [--models mlp mnist] [--calls 2000] [--threads 1]
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

MODELS = {"mlp": (8, [10, 10], 1, 10), "mnist": (784, [64, 64], 10, 64)}  # in, hidden, out, batch
PHASES = ("call", "forward+loss", "gradient", "apply", "step")


def median_us(run, calls):
    for _ in range(max(20, calls // 20)):
        run()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def _data(name):
    inputs, _, outputs, batch = MODELS[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, inputs)).astype(np.float32)
    if outputs == 1:
        y = (rng.uniform(size=(batch, 1)) < 0.5).astype(np.float32)
    else:
        y = rng.integers(0, outputs, batch).astype(np.int64)
    return x, y


def keras_phases(keras, tf, name, calls):
    """Median microseconds per phase with `keras` (tensorflux.keras or Keras 3) and its
    `tf` (tensorflux or TensorFlow), eager."""
    inputs, hidden, outputs, _ = MODELS[name]
    keras.utils.set_random_seed(0)
    layers = [keras.Input((inputs,))] + [keras.layers.Dense(h, activation="relu")
                                          for h in hidden]
    if outputs == 1:
        layers.append(keras.layers.Dense(1, activation="sigmoid"))
        loss_fn = keras.losses.BinaryCrossentropy()
    else:
        layers.append(keras.layers.Dense(outputs))
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model = keras.Sequential(layers)
    optimizer = keras.optimizers.Adam(1e-3)
    x, y = (tf.constant(v) for v in _data(name))
    weights = model.trainable_variables
    optimizer.build(weights)

    def forward():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        return tape, loss

    with tf.GradientTape(persistent=True) as kept:
        kept_loss = loss_fn(y, model(x, training=True))
    grads = kept.gradient(kept_loss, weights)

    def step():
        tape, loss = forward()
        optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))

    return {"call": median_us(lambda: model(x), calls),
            "forward+loss": median_us(forward, calls),
            "gradient": median_us(lambda: kept.gradient(kept_loss, weights), calls),
            "apply": median_us(lambda: optimizer.apply_gradients(zip(grads, weights)), calls),
            "step": median_us(step, calls)}


def torch_phases(torch, name, calls):
    inputs, hidden, outputs, _ = MODELS[name]
    torch.manual_seed(0)
    modules, width = [], inputs
    for h in hidden:
        modules += [torch.nn.Linear(width, h), torch.nn.ReLU()]
        width = h
    modules.append(torch.nn.Linear(width, outputs))
    if outputs == 1:
        modules.append(torch.nn.Sigmoid())
        loss_fn = torch.nn.BCELoss()
    else:
        loss_fn = torch.nn.CrossEntropyLoss()
    model = torch.nn.Sequential(*modules)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3, eps=1e-7)
    x, y = (torch.from_numpy(v) for v in _data(name))

    def call():
        with torch.no_grad():
            return model(x)

    def forward():
        return loss_fn(model(x), y)

    def gradient():
        optimizer.zero_grad()
        kept.backward(retain_graph=True)

    kept = forward()
    gradient()

    def step():
        optimizer.zero_grad()
        forward().backward()
        optimizer.step()

    return {"call": median_us(call, calls), "forward+loss": median_us(forward, calls),
            "gradient": median_us(gradient, calls), "apply": median_us(optimizer.step, calls),
            "step": median_us(step, calls)}


def tf_child(name, calls, threads):
    """Keras 3 on TensorFlow, eager, in a child process (None when it is not installed)."""
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
            "import tensorflow as tf, keras, eager_step as w; "
            f"tf.config.threading.set_intra_op_parallelism_threads({threads}); "
            f"tf.config.threading.set_inter_op_parallelism_threads({threads}); "
            f"print(w.keras_phases(keras, tf, {name!r}, {calls}))")
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=1800)
    if result.returncode != 0:
        return None
    values = result.stdout.strip().splitlines()[-1]
    return {key: float(value) for key, value in
            (item.split(": ") for item in values.strip("{}").replace("'", "").split(", "))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["mlp", "mnist"])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-tf", action="store_true", help="skip Keras 3 on TensorFlow")
    args = parser.parse_args()
    os.environ.setdefault("TENSORFLUX_NUM_THREADS", str(args.threads))

    import tensorflux as tfx
    import tensorflux.keras as tfx_keras
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, "
          f"PyTorch {torch.__version__ if torch else 'not installed'}; {args.threads} thread(s)")
    for name in args.models:
        inputs, hidden, outputs, batch = MODELS[name]
        print(f"\n{name}: {inputs} -> {' -> '.join(map(str, hidden))} -> {outputs}, batch "
              f"{batch}, Adam; median microseconds per call")
        columns = {"tensorflux": keras_phases(tfx_keras, tfx, name, args.calls)}
        if torch is not None:
            columns["torch"] = torch_phases(torch, name, args.calls)
        if not args.no_tf:
            found = tf_child(name, max(200, args.calls // 10), args.threads)
            if found is not None:
                columns["keras-tf eager"] = found
        print(f"{'phase':<14}" + "".join(f"{column:>16}" for column in columns))
        for phase in PHASES:
            print(f"{phase:<14}" + "".join(f"{values[phase]:>16.1f}"
                                           for values in columns.values()))
        mine = columns["tensorflux"]["step"]
        print(f"{'samples/s':<14}" + "".join(f"{batch / values['step'] * 1e6:>16,.0f}"
                                             for values in columns.values()))
        for peer, values in columns.items():
            if peer != "tensorflux":
                print(f"step ratio tensorflux / {peer}: {values['step'] / mine:.2f}x "
                      "(> 1 means tensorflux is faster)")


if __name__ == "__main__":
    main()
