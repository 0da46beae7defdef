"""A/B of the residual-end fusion (relu(r + bn(x)) in the normalization's pass: graph.passes.
fuse_batch_norm_activations with the backend's BATCH_NORM_RESIDUALS) in one process, on
block_workloads.py's resnet: two copies of the model (the same seed, so the same weights),
one traced with the residual fusion off (BATCH_NORM_RESIDUALS emptied while it traces; the
BatchNormalization + relu fusion stays on in both), one with it on; their fit epochs then
alternate (the order swapped each round), and each side's median epoch time is reported
with the machine's load. The two sides' first (untimed) epochs have the same losses.

    python benchmarks/bn_add_relu_fusion.py [--rounds 9]
"""

import argparse
import os
import statistics
import time

import block_workloads

from tensorflux import keras
from tensorflux.backends import numpy_backend


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    batch, _ = block_workloads.WORKLOADS["resnet"]
    x, y = block_workloads._data("resnet")
    models, losses = {}, {}
    saved = numpy_backend.BATCH_NORM_RESIDUALS
    load = os.getloadavg()[0]
    for side in ("off", "on"):
        numpy_backend.BATCH_NORM_RESIDUALS = saved if side == "on" else ()
        keras.utils.set_random_seed(0)
        model = block_workloads._model(keras, "resnet")
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
        history = model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
        models[side], losses[side] = model, history.history["loss"]
    numpy_backend.BATCH_NORM_RESIDUALS = saved
    times = {"off": [], "on": []}
    for round_ in range(args.rounds):
        for side in ("off", "on") if round_ % 2 == 0 else ("on", "off"):
            start = time.perf_counter()
            models[side].fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
            times[side].append(time.perf_counter() - start)
    print(f"resnet: load before/after {load:.2f}/{os.getloadavg()[0]:.2f}")
    for side in ("off", "on"):
        print(f"  residual fusion {side:3}: median epoch "
              f"{statistics.median(times[side]) * 1e3:.0f} ms "
              f"({len(x) / statistics.median(times[side]):.1f} samples/s), epochs "
              + " ".join(f"{t * 1e3:.0f}" for t in times[side]))
    print("  first epoch's loss identical:", losses["off"] == losses["on"], losses["on"])


if __name__ == "__main__":
    main()
