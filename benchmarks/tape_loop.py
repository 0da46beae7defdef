"""Custom training loops (GradientTape + apply_gradients), eager and in tf.function, with the
graph passes on and within `passes.disabled()`: median microseconds per step and samples/s.

    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))

Models: `mlp` (784 -> 64 -> 64 -> 10, batch 64), `conv` (4 Conv2D(16..32, 3x3, relu) on
28x28x1 -> Flatten -> Dense(10), batch 32) and `gap` (the same convolutions, 32 and 64
filters, then GlobalAveragePooling2D -> Dense(10)), all Adam and sparse categorical
cross-entropy.
Each configuration gets a fresh model and optimizer (the optimizer's update is traced on its
first call, in the configuration's passes state).

    python benchmarks/tape_loop.py [--models mlp conv] [--steps 200] [--repeat 3]
"""

import argparse
import contextlib
import statistics
import time

import numpy as np


def build(tf, keras, name):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    if name == "mlp":
        model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(64, activation="relu"),
                                  keras.layers.Dense(64, activation="relu"),
                                  keras.layers.Dense(10)])
        x = rng.standard_normal((64, 784)).astype(np.float32)
        y = rng.integers(0, 10, 64)
    else:
        wide = 2 if name == "gap" else 1
        head = (keras.layers.GlobalAveragePooling2D() if name == "gap"
                else keras.layers.Flatten())
        model = keras.Sequential([
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(16 * wide, 3, activation="relu"),
            keras.layers.Conv2D(16 * wide, 3, activation="relu"),
            keras.layers.Conv2D(32 * wide, 3, strides=2, activation="relu"),
            keras.layers.Conv2D(32 * wide, 3, activation="relu"),
            head, keras.layers.Dense(10)])
        x = rng.standard_normal((32, 28, 28, 1)).astype(np.float32)
        y = rng.integers(0, 10, 32)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return model, keras.optimizers.Adam(1e-3), loss_fn, tf.constant(x), tf.constant(y)


def make_step(tf, model, optimizer, loss_fn, wrapped):
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    return tf.function(step) if wrapped else step


def measure(name, wrapped, off, steps):
    import tensorflux as tf
    from tensorflux import keras
    from tensorflux.graph import passes

    model, optimizer, loss_fn, x, y = build(tf, keras, name)
    with passes.disabled() if off else contextlib.nullcontext():
        step = make_step(tf, model, optimizer, loss_fn, wrapped)
        for _ in range(10):
            step(x, y)
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            step(x, y)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6, int(x.shape[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mlp", "conv", "gap"])
    parser.add_argument("--modes", nargs="+", default=["eager", "function"])
    parser.add_argument("--passes", nargs="+", default=["on", "off"])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'model':<6}{'mode':<10}{'passes':<9}{'us/step':>12}{'samples/s':>12}")
    for name in args.models:
        for wrapped in [mode == "function" for mode in args.modes]:
            for off in [state == "off" for state in args.passes]:
                runs = [measure(name, wrapped, off, args.steps) for _ in range(args.repeat)]
                us = statistics.median(r[0] for r in runs)
                mode = "function" if wrapped else "eager"
                print(f"{name:<6}{mode:<10}{'off' if off else 'on':<9}{us:>12.1f}"
                      f"{runs[0][1] / us * 1e6:>12,.0f}", flush=True)


if __name__ == "__main__":
    main()
