"""Training throughput on an NVIDIA GPU: tensorflux's CuPy backend against PyTorch on CUDA.

The CPU workloads of shared/reference/workloads.md, run on the GPU (float32, no TF32):
W4 (784->1024->1024->10 MLP, batch 256, Adam), W2 (the keras-io MNIST convnet, batch 128,
Adam) and W3 (Embedding(20000, 128) -> LSTM(64) -> Dense(1), length 200, batch 32, Adam).
tensorflux runs `model.fit` inside `tf.device("GPU:0")` on NumPy inputs (each batch is copied
to the device, as Keras does with NumPy inputs); PyTorch runs a hand-written loop on tensors
already on the device with `torch.optim.Adam`, synchronising at the end of each epoch.
Samples per second, the median of `--epochs` epochs after one warm-up epoch, and the ratio
tensorflux/torch from this run.

    python benchmarks/gpu_workloads.py [--epochs 3] [--workloads w4 w2 w3]
"""

import argparse
import statistics
import sys
import time

import numpy as np


def _data(workload):
    rng = np.random.default_rng(0)
    if workload == "w4":
        x = rng.random((8192, 784), dtype=np.float32)
        y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 8192)]
        return x, y, 256
    if workload == "w2":
        x = rng.random((4096, 28, 28, 1), dtype=np.float32)
        y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 4096)]
        return x, y, 128
    x = rng.integers(1, 20000, (512, 200)).astype("int32")
    y = rng.integers(0, 2, (512, 1)).astype("float32")
    return x, y, 32


def _keras_model(keras, workload):
    layers = keras.layers
    if workload == "w4":
        return keras.Sequential([keras.Input((784,)), layers.Dense(1024, activation="relu"),
                                 layers.Dense(1024, activation="relu"),
                                 layers.Dense(10, activation="softmax")]), \
            "categorical_crossentropy"
    if workload == "w2":
        return keras.Sequential([
            keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2), layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2), layers.Flatten(), layers.Dropout(0.5),
            layers.Dense(10, activation="softmax")]), "categorical_crossentropy"
    return keras.Sequential([keras.Input((200,), dtype="int32"), layers.Embedding(20000, 128),
                             layers.LSTM(64), layers.Dense(1, activation="sigmoid")]), \
        "binary_crossentropy"


def _median_rate(epoch, samples, epochs):
    epoch()
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - start)
    return samples / statistics.median(times)


def bench_tensorflux(workload, epochs):
    import tensorflux as tf
    from tensorflux import keras

    x, y, batch = _data(workload)
    with tf.device("GPU:0"):
        keras.utils.set_random_seed(0)
        model, loss = _keras_model(keras, workload)
        model.compile(optimizer="adam", loss=loss)
        return _median_rate(lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0),
                            len(x), epochs)


def bench_torch(workload, epochs):
    import torch
    from torch import nn

    torch.manual_seed(0)
    device = torch.device("cuda")
    x, y, batch = _data(workload)
    if workload == "w4":
        model = nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                              nn.Linear(1024, 10))
        x, labels, loss_fn = torch.from_numpy(x), torch.from_numpy(y.argmax(1)), \
            nn.CrossEntropyLoss()
    elif workload == "w2":
        model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Dropout(0.5), nn.Linear(1600, 10))
        x = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
        labels, loss_fn = torch.from_numpy(y.argmax(1)), nn.CrossEntropyLoss()
    else:
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.embedding = nn.Embedding(20000, 128)
                self.lstm = nn.LSTM(128, 64, batch_first=True)
                self.dense = nn.Linear(64, 1)

            def forward(self, tokens):
                _, (h, _) = self.lstm(self.embedding(tokens))
                return self.dense(h[-1])

        model = Net()
        x, labels = torch.from_numpy(x).long(), torch.from_numpy(y)
        loss_fn = nn.BCEWithLogitsLoss()
    model = model.to(device)
    x, labels = x.to(device), labels.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def epoch():
        order = torch.randperm(len(x), device=device)
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            optimizer.zero_grad()
            loss_fn(model(x[idx]), labels[idx]).backward()
            optimizer.step()
        torch.cuda.synchronize()

    return _median_rate(epoch, len(x), epochs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workloads", nargs="+", default=["w4", "w2", "w3"])
    args = parser.parse_args()
    rows = []
    for workload in args.workloads:
        rates = {}
        for name, bench in (("tensorflux", bench_tensorflux), ("torch", bench_torch)):
            try:
                rates[name] = bench(workload, args.epochs)
            except Exception as error:  # report and go on: one failure must not hide the rest
                print(f"{workload} {name} failed: {type(error).__name__}: {error}",
                      file=sys.stderr)
                rates[name] = None
        rows.append((workload, rates["tensorflux"], rates["torch"]))
    print("\n| workload (GPU) | tensorflux samples/s | torch samples/s | tfx/torch |")
    print("| --- | --- | --- | --- |")
    for workload, ours, theirs in rows:
        ratio = f"{ours / theirs:.2f}" if ours and theirs else "n/a"
        print(f"| {workload} | {ours or 0:,.0f} | {theirs or 0:,.0f} | {ratio} |")


if __name__ == "__main__":
    main()
