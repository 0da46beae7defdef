"""W2 (workloads.md): the keras-io MNIST convnet, training samples per second.

Input(28, 28, 1) -> Conv2D(32, 3, relu) -> MaxPooling2D(2) -> Conv2D(64, 3, relu) ->
MaxPooling2D(2) -> Flatten -> Dropout(0.5) -> Dense(10, softmax); categorical cross-entropy,
Adam, batch 128, 2048 samples per epoch (16 steps), random MNIST-shaped data.

Measured side by side in one run: tensorflux `model.fit`, Keras 3 `model.fit` on TensorFlow
when TensorFlow is importable (else on the PyTorch backend, labelled so), and PyTorch eager
with a hand-written loop and `torch.optim.Adam`. Each number is the median of `--epochs`
timed epochs after one warm-up epoch; the ratios compare numbers from this same run.

    python benchmarks/vision_workloads.py [--epochs 5] [--kernels]

`--kernels` also times tensorflux's conv2d / max_pool2d kernels (forward and both
gradients) on the W2 shapes, next to a float32 1024x1024 NumPy matmul (the machine's GEMM
rate, the limit for the convolutions).
"""

import argparse
import importlib.util
import os
import platform
import statistics
import time

import numpy as np
from _fit_timing import fit_rate, in_keras_child

BATCH, SAMPLES = 128, 2048


def _data():
    rng = np.random.default_rng(0)
    x = rng.random((SAMPLES, 28, 28, 1), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, SAMPLES)]
    return x, y


def _keras_model(keras):
    layers = keras.layers
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])


def _rate(keras, epochs):
    """W2's training rate with `keras` (tensorflux's, or Keras 3 in a child process)."""
    keras.utils.set_random_seed(0)
    x, y = _data()
    model = _keras_model(keras)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return fit_rate(model, x, y, BATCH, epochs)


def bench_tensorflux(epochs):
    from tensorflux import keras

    return _rate(keras, epochs)


def bench_keras(epochs, backend):
    """Keras 3 in a child process (the backend is fixed at import)."""
    return in_keras_child("vision_workloads", f"w._rate(keras, {epochs})", backend)


def bench_torch(epochs):
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = _data()
    x = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    labels = torch.from_numpy(y.argmax(1))
    loss_fn = nn.CrossEntropyLoss()

    def epoch():
        order = torch.randperm(SAMPLES)
        for start in range(0, SAMPLES, BATCH):
            idx = order[start:start + BATCH]
            optimizer.zero_grad()
            loss = loss_fn(model(x[idx]), labels[idx])
            loss.backward()
            optimizer.step()

    epoch()
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - start)
    return SAMPLES / statistics.median(times)


def bench_kernels():
    from tensorflux.backends import numpy_backend as nb

    rng = np.random.default_rng(0)

    def best(fn, repeat=7):
        fn()
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return 1e3 * min(times)

    attrs = dict(strides=(1, 1), padding="VALID", dilations=(1, 1), data_format="NHWC")
    for name, xs, ws in (("conv 28x28x1 -> 32", (BATCH, 28, 28, 1), (3, 3, 1, 32)),
                         ("conv 13x13x32 -> 64", (BATCH, 13, 13, 32), (3, 3, 32, 64))):
        x, w = rng.random(xs, dtype=np.float32), rng.random(ws, dtype=np.float32)
        g = np.ones_like(nb.conv2d(x, w, **attrs))
        forward = best(lambda x=x, w=w: nb.conv2d(x, w, **attrs))
        d_filter = best(lambda x=x, g=g, ws=ws: nb.conv2d_backprop_filter(x, g, ws, **attrs))
        d_input = best(lambda w=w, g=g, xs=xs: nb.conv2d_backprop_input(w, g, xs, **attrs))
        print(f"  {name:22s} forward {forward:6.2f} ms  d_filter {d_filter:6.2f} ms  "
              f"d_input {d_input:6.2f} ms")
    pool = dict(ksize=(2, 2), strides=(2, 2), padding="VALID", data_format="NHWC")
    for shape in ((BATCH, 26, 26, 32), (BATCH, 11, 11, 64)):
        x = rng.random(shape, dtype=np.float32)
        g = np.ones_like(nb.max_pool2d(x, **pool))
        forward = best(lambda x=x: nb.max_pool2d(x, **pool))
        gradient = best(lambda x=x, g=g: nb.max_pool2d_grad(x, g, **pool))
        print(f"  max_pool2d {str(shape):18s} forward {forward:6.2f} ms  gradient "
              f"{gradient:6.2f} ms")
    a = rng.random((1024, 1024), dtype=np.float32)
    ms = best(lambda: a @ a)
    print(f"  float32 1024^3 matmul {ms:.2f} ms = {2 * 1024 ** 3 / ms / 1e6:.1f} GFLOP/s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--kernels", action="store_true")
    args = parser.parse_args()
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, "
          f"{os.cpu_count()} CPUs; W2 batch {BATCH}, {SAMPLES} samples/epoch, median of "
          f"{args.epochs} epochs")
    results = {"tensorflux": bench_tensorflux(args.epochs)}
    if importlib.util.find_spec("keras") is not None:
        backend = "tensorflow" if importlib.util.find_spec("tensorflow") else "torch"
        results[f"Keras 3 ({backend} backend)"] = bench_keras(args.epochs, backend)
    if importlib.util.find_spec("torch") is not None:
        import torch

        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
        results["PyTorch eager"] = bench_torch(args.epochs)
    ours = results["tensorflux"]
    for name, value in results.items():
        if value is None:
            print(f"{name:32s} n/a")
            continue
        ratio = "" if name == "tensorflux" else f"   tensorflux/peer = {ours / value:.2f}"
        print(f"{name:32s} {value:9.0f} samples/s{ratio}")
    if args.kernels:
        bench_kernels()


if __name__ == "__main__":
    main()
