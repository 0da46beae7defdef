"""A/B of the BatchNormalization + relu fusion (graph.passes.fuse_batch_norm_activations) in
one process: two copies of a workload's model (the same seed, so the same weights), one
traced with the fusion off (the backend's BATCH_NORM_ACTIVATIONS emptied while it traces),
one with it on; their fit epochs then alternate, and each side's median epoch time is
reported with the machine's load. The two sides' first (untimed) epochs, each from the same
seed, have the same losses (later ones differ where Dropout draws from one shared stream).

    python benchmarks/bn_relu_fusion.py [--workload separable|resnet] [--rounds 5]
"""

import argparse
import os
import statistics
import time

import block_workloads
import mobilenet_workloads

from tensorflux import keras
from tensorflux.backends import numpy_backend


def _setup(workload):
    if workload == "separable":
        x, y = mobilenet_workloads.training_data()
        return (lambda: mobilenet_workloads._separable(keras), "binary_crossentropy", x, y,
                mobilenet_workloads.TRAIN_BATCH)
    batch, _ = block_workloads.WORKLOADS[workload]
    x, y = block_workloads._data(workload)
    return (lambda: block_workloads._model(keras, workload),
            "sparse_categorical_crossentropy", x, y, batch)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="separable", choices=("separable", "resnet"))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    make, loss, x, y, batch = _setup(args.workload)
    models, losses = {}, {}
    saved = numpy_backend.BATCH_NORM_ACTIVATIONS
    for side in ("off", "on"):
        numpy_backend.BATCH_NORM_ACTIVATIONS = saved if side == "on" else ()
        keras.utils.set_random_seed(0)
        model = make()
        model.compile(loss=loss, optimizer="adam")
        history = model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
        models[side], losses[side] = model, history.history["loss"]
    numpy_backend.BATCH_NORM_ACTIVATIONS = saved
    times = {"off": [], "on": []}
    for _ in range(args.rounds):
        for side in ("off", "on"):
            start = time.perf_counter()
            history = models[side].fit(x, y, batch_size=batch, epochs=1, verbose=0,
                                       shuffle=False)
            times[side].append(time.perf_counter() - start)
    print(f"{args.workload}: load before/after {os.getloadavg()[0]:.2f}")
    for side in ("off", "on"):
        print(f"  fusion {side:3}: median epoch {statistics.median(times[side]) * 1e3:.0f} ms "
              f"({len(x) / statistics.median(times[side]):.1f} samples/s), epochs "
              + " ".join(f"{t * 1e3:.0f}" for t in times[side]))
    print("  first epoch's loss identical:", losses["off"] == losses["on"], losses["on"])


if __name__ == "__main__":
    main()
