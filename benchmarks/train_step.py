"""Training throughput of the seed MLP (workload W1): tf.function vs eager vs PyTorch vs JAX.

The model of shared/reference/workloads.md W1: Dense(8->10, relu) -> Dense(10->10, relu) ->
Dense(10->1, sigmoid), binary cross-entropy, Adam(1e-3), batch 10, 768 samples (77 steps per
epoch, the last one of 8 samples). Every framework runs the same hand-written step: forward,
gradients, and Adam written with the framework's own ops (tensorflux: Variables updated with
assign ops, so the traced step is one graph), on the same synthetic float32 data and
initial weights.

    python benchmarks/train_step.py [--epochs 7]

Each cell is training samples per second, the median over `--epochs` epochs after one
warm-up epoch (which includes tracing and jit compilation). PyTorch (pip install -e
'.[benchmark]') and JAX are optional: 'n/a' when not installed. Ratios compare numbers from
this one run.
"""

import argparse
import platform
import statistics
import sys
import time

import numpy as np

import tensorflux as tf

try:
    import torch
except ImportError:
    torch = None
try:
    import jax
    import jax.numpy as jnp
except ImportError:
    jax = None

BATCH, SAMPLES, LAYERS = 10, 768, [(8, 10), (10, 10), (10, 1)]
LR, BETA1, BETA2, EPS, CLIP = 1e-3, 0.9, 0.999, 1e-7, 1e-7


def data_and_weights():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((SAMPLES, 8)).astype(np.float32)
    y = (rng.uniform(size=(SAMPLES, 1)) < 0.5).astype(np.float32)
    weights = []
    for fan_in, fan_out in LAYERS:  # Glorot uniform, zero biases (Keras' Dense defaults)
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        weights.append(rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32))
        weights.append(np.zeros(fan_out, np.float32))
    return x, y, weights


def batches(x, y):
    return [(x[i:i + BATCH], y[i:i + BATCH]) for i in range(0, SAMPLES, BATCH)]


def time_epochs(run_epoch, epochs):
    run_epoch()  # warm-up: tracing, jit compilation, caches
    rates = []
    for _ in range(epochs):
        start = time.perf_counter()
        run_epoch()
        rates.append(SAMPLES / (time.perf_counter() - start))
    return statistics.median(rates)


# ------------------------------------------------------------------ tensorflux

def tensorflux_step(weights):
    params = [tf.Variable(w) for w in weights]
    ms = [tf.Variable(np.zeros_like(w)) for w in weights]
    vs = [tf.Variable(np.zeros_like(w)) for w in weights]
    step = tf.Variable(0.0)

    def train_step(x, y):
        with tf.GradientTape() as tape:
            h = tf.nn.relu(tf.matmul(x, params[0]) + params[1])
            h = tf.nn.relu(tf.matmul(h, params[2]) + params[3])
            p = tf.sigmoid(tf.matmul(h, params[4]) + params[5])
            p = tf.clip_by_value(p, CLIP, 1.0 - CLIP)
            loss = -tf.reduce_mean(y * tf.math.log(p) + (1.0 - y) * tf.math.log(1.0 - p))
        grads = tape.gradient(loss, params)
        step.assign_add(1.0)
        t = step.read_value()
        lr = LR * tf.sqrt(1.0 - tf.pow(BETA2, t)) / (1.0 - tf.pow(BETA1, t))
        for param, m, v, g in zip(params, ms, vs, grads):
            m.assign(BETA1 * m + (1.0 - BETA1) * g)
            v.assign(BETA2 * v + (1.0 - BETA2) * tf.square(g))
            param.assign_sub(lr * m / (tf.sqrt(v) + EPS))
        return loss

    return train_step


def tensorflux_epoch(step, data):
    def run():
        for x, y in data:
            step(x, y)
    return run


# ------------------------------------------------------------------ PyTorch

def torch_epoch(weights, data):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 10), torch.nn.ReLU(),
                                torch.nn.Linear(10, 10), torch.nn.ReLU(),
                                torch.nn.Linear(10, 1), torch.nn.Sigmoid())
    with torch.no_grad():
        for layer, (w, b) in zip([model[0], model[2], model[4]], zip(weights[::2], weights[1::2])):
            layer.weight.copy_(torch.from_numpy(w.T))
            layer.bias.copy_(torch.from_numpy(b))
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, betas=(BETA1, BETA2), eps=EPS)
    loss_fn = torch.nn.BCELoss()
    tensors = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in data]

    def run():
        for x, y in tensors:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
    return run


# ------------------------------------------------------------------ JAX

def jax_epoch(weights, data):
    def loss_fn(params, x, y):
        h = jax.nn.relu(x @ params[0] + params[1])
        h = jax.nn.relu(h @ params[2] + params[3])
        p = jnp.clip(jax.nn.sigmoid(h @ params[4] + params[5]), CLIP, 1.0 - CLIP)
        return -jnp.mean(y * jnp.log(p) + (1.0 - y) * jnp.log(1.0 - p))

    @jax.jit
    def train_step(state, x, y):
        params, ms, vs, t = state
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        t = t + 1.0
        lr = LR * jnp.sqrt(1.0 - BETA2 ** t) / (1.0 - BETA1 ** t)
        ms = [BETA1 * m + (1.0 - BETA1) * g for m, g in zip(ms, grads)]
        vs = [BETA2 * v + (1.0 - BETA2) * g * g for v, g in zip(vs, grads)]
        params = [p - lr * m / (jnp.sqrt(v) + EPS) for p, m, v in zip(params, ms, vs)]
        return (params, ms, vs, t), loss

    state = ([jnp.asarray(w) for w in weights], [jnp.zeros_like(w) for w in weights],
             [jnp.zeros_like(w) for w in weights], jnp.float32(0.0))
    arrays = [(jnp.asarray(x), jnp.asarray(y)) for x, y in data]
    holder = [state]

    def run():
        state = holder[0]
        for x, y in arrays:
            state, loss = train_step(state, x, y)
        loss.block_until_ready()
        holder[0] = state
    return run


# ------------------------------------------------------------------ main

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=7)
    args = parser.parse_args()
    x, y, weights = data_and_weights()
    data = batches(x, y)

    traced = tf.function(tensorflux_step(weights),
                         input_signature=[tf.TensorSpec([None, 8], tf.float32),
                                          tf.TensorSpec([None, 1], tf.float32)])
    tf_data = [(tf.constant(bx), tf.constant(by)) for bx, by in data]
    rates = {
        "tensorflux tf.function": time_epochs(tensorflux_epoch(traced, tf_data), args.epochs),
        "tensorflux eager": time_epochs(tensorflux_epoch(tensorflux_step(weights), tf_data),
                                        args.epochs),
        "PyTorch eager": (time_epochs(torch_epoch(weights, data), args.epochs)
                          if torch is not None else None),
        "JAX jit": time_epochs(jax_epoch(weights, data), args.epochs) if jax else None,
    }
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, "
          f"PyTorch {torch.__version__ if torch else 'n/a'} "
          f"({torch.get_num_threads() if torch else '-'} threads), "
          f"JAX {jax.__version__ if jax else 'n/a'}, {platform.machine()}")
    print(f"W1 seed-mlp: batch {BATCH}, {SAMPLES} samples ({len(data)} steps) per epoch; "
          f"median of {args.epochs} epochs after a warm-up epoch")
    print(f"{'':<24}{'samples/s':>12}")
    for name, rate in rates.items():
        print(f"{name:<24}{'n/a' if rate is None else f'{rate:,.0f}':>12}")
    ours = rates["tensorflux tf.function"]
    for label, other in [("traced/eager", "tensorflux eager"), ("traced/torch", "PyTorch eager"),
                         ("traced/jax", "JAX jit")]:
        value = rates[other]
        print(f"{label:<24}{'n/a' if value is None else f'{ours / value:.2f}x':>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
