"""Two blocks users train beyond workloads.md's W1-W5, training samples per second.

- transformer: the keras.io text classifier's Transformer block: Input(64) int tokens ->
  Embedding(5000, 64) -> MultiHeadAttention(4 heads, key_dim 16) + residual ->
  LayerNormalization -> Dense(128, relu) -> Dense(64) + residual -> LayerNormalization ->
  GlobalAveragePooling1D -> Dense(2, softmax); sparse categorical cross-entropy, Adam,
  batch 32, 2048 samples per epoch.
- resnet: a CIFAR-shaped residual network: Input(32, 32, 3) -> Conv2D(32, 3, same) -> two
  blocks of [Conv2D(32, 3, same) -> BatchNormalization -> relu -> Conv2D(32, 3, same) ->
  BatchNormalization, + the block's input, relu] -> GlobalAveragePooling2D ->
  Dense(10, softmax); sparse categorical cross-entropy, Adam, batch 64, 1024 samples per
  epoch.

Measured side by side in one run: tensorflux `model.fit` and Keras 3 `model.fit` on
TensorFlow when it is importable (else on the PyTorch backend, labelled so), each Keras run in
a child process. Each number is the median of `--epochs` timed epochs after a warm-up epoch;
the ratios compare numbers from this same run.

    python benchmarks/block_workloads.py [--epochs 5] [--workloads transformer resnet]
"""

import argparse
import importlib.util
import os
import platform

import numpy as np
from _fit_timing import fit_rate, in_keras_child

WORKLOADS = {"transformer": (32, 2048), "resnet": (64, 1024)}  # (batch, samples per epoch)


def _data(workload):
    rng = np.random.default_rng(0)
    _, samples = WORKLOADS[workload]
    if workload == "transformer":
        return rng.integers(0, 5000, (samples, 64)), rng.integers(0, 2, samples)
    return rng.random((samples, 32, 32, 3), dtype=np.float32), rng.integers(0, 10, samples)


def _model(keras, workload):
    layers = keras.layers
    if workload == "transformer":
        tokens = keras.Input(shape=(64,), dtype="int32")
        h = layers.Embedding(5000, 64)(tokens)
        h = layers.LayerNormalization()(h + layers.MultiHeadAttention(4, 16)(h, h))
        f = layers.Dense(64)(layers.Dense(128, activation="relu")(h))
        h = layers.LayerNormalization()(h + f)
        out = layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling1D()(h))
        return keras.Model(tokens, out)
    images = keras.Input(shape=(32, 32, 3))
    h = layers.Conv2D(32, 3, padding="same")(images)
    for _ in range(2):
        r = layers.Activation("relu")(layers.BatchNormalization()(
            layers.Conv2D(32, 3, padding="same")(h)))
        r = layers.BatchNormalization()(layers.Conv2D(32, 3, padding="same")(r))
        h = layers.Activation("relu")(h + r)
    out = layers.Dense(10, activation="softmax")(layers.GlobalAveragePooling2D()(h))
    return keras.Model(images, out)


def _time_fit(keras, workload, epochs):
    keras.utils.set_random_seed(0)
    x, y = _data(workload)
    model = _model(keras, workload)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    return fit_rate(model, x, y, WORKLOADS[workload][0], epochs)


def bench_keras(workload, epochs, backend):
    """Keras 3 in a child process (the backend is fixed at import)."""
    return in_keras_child("block_workloads", f"w._time_fit(keras, {workload!r}, {epochs})",
                          backend)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS),
                        default=sorted(WORKLOADS, reverse=True))
    args = parser.parse_args()
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, {os.cpu_count()} "
          f"CPUs; median of {args.epochs} epochs after a warm-up epoch")
    backend = None
    if importlib.util.find_spec("keras") is not None:
        backend = "tensorflow" if importlib.util.find_spec("tensorflow") else "torch"
    from tensorflux import keras

    for workload in args.workloads:
        batch, samples = WORKLOADS[workload]
        ours = _time_fit(keras, workload, args.epochs)
        peer = bench_keras(workload, args.epochs, backend) if backend else None
        line = f"{workload:12s} batch {batch:3d}  tensorflux {ours:9,.0f} samples/s"
        if peer is not None:
            line += (f"   Keras 3 ({backend} backend) {peer:9,.0f} samples/s   "
                     f"tensorflux/Keras = {ours / peer:.2f}")
        print(line)


if __name__ == "__main__":
    main()
