"""Where a workload's training step spends its time: a few `model.fit` steps of one workload
under tf.profiler.experimental, then its kernels' time by op type and the slowest nodes (from
the profile's Chrome trace), as a guide for performance work.

Workloads: w1, w4 (keras_workloads.py), w2 (vision_workloads.py, the MNIST convnet),
transformer and resnet (block_workloads.py). The profile itself stays in --logdir (a
temporary folder by default) for TensorBoard's Profile tab or Perfetto.

    python benchmarks/profile_step.py resnet [--steps 6] [--top 15] [--jit] [--logdir DIR]

Times are those of one profiled run (each kernel timed on its own, so a little slower than
an unprofiled step); compare shares, not absolute numbers.
"""

import argparse
import collections
import glob
import gzip
import json
import tempfile

import block_workloads
import keras_workloads
import vision_workloads

import tensorflux as tf
from tensorflux import keras

CHOICES = ("w1", "w4", "w2", "transformer", "resnet")


def _workload(name):
    """(model compiled as its benchmark compiles it, x, y, batch size)."""
    keras.utils.set_random_seed(0)
    if name in ("w1", "w4"):
        _, _, outputs, batch, _ = keras_workloads.WORKLOADS[name]
        x, y = keras_workloads.make_data(name)
        model = keras_workloads.keras_model(keras, name)
        loss = "binary_crossentropy" if outputs == 1 else "categorical_crossentropy"
        return model, loss, x, y, batch
    if name == "w2":
        x, y = vision_workloads._data()
        return vision_workloads._keras_model(keras), "categorical_crossentropy", x, y, 128
    batch, _ = block_workloads.WORKLOADS[name]
    x, y = block_workloads._data(name)
    return (block_workloads._model(keras, name), "sparse_categorical_crossentropy", x, y,
            batch)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=CHOICES)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--jit", action="store_true", help="compile with jit_compile=True")
    parser.add_argument("--logdir", default=None)
    args = parser.parse_args()

    model, loss, x, y, batch = _workload(args.workload)
    model.compile(loss=loss, optimizer="adam", **({"jit_compile": True} if args.jit else {}))
    warm = batch * (40 if args.jit else 4)  # (a jit step compiles after 32 calls)
    model.fit(x[:warm], y[:warm], batch_size=batch, epochs=1, verbose=0)
    logdir = args.logdir or tempfile.mkdtemp(prefix="tensorflux-profile-")
    n = batch * args.steps
    with tf.profiler.experimental.Profile(logdir):
        model.fit(x[:n], y[:n], batch_size=batch, epochs=1, verbose=0, shuffle=False)

    (path,) = glob.glob(f"{logdir}/plugins/profile/*/*.trace.json.gz")
    with gzip.open(path) as handle:
        events = [e for e in json.load(handle)["traceEvents"] if e["ph"] == "X"]
    runs = [e for e in events if e["name"] == "train_function"]
    kernels = [e for e in events if ":" in e["name"] and not e.get("args", {}).get("is_eager")]
    by_type, count, by_node = (collections.Counter(), collections.Counter(),
                               collections.Counter())
    for e in kernels:
        kind = e["name"].rsplit(":", 1)[1]
        by_type[kind] += e["dur"]
        count[kind] += 1
        by_node[e["name"]] += e["dur"]
    run_us = sum(e["dur"] for e in runs)
    kernel_us = sum(by_type.values())
    share = 100 * kernel_us / max(run_us, 1)
    print(f"{args.workload}: {len(runs)} steps of batch {batch}, {run_us / 1e3:.1f} ms in the "
          f"steps, {kernel_us / 1e3:.1f} ms of it in kernels ({share:.0f}%)")
    print(f"{'op type':28s} {'ms':>9s} {'share':>6s} {'calls':>6s}")
    for kind, us in by_type.most_common(args.top):
        print(f"{kind:28s} {us / 1e3:9.2f} {100 * us / max(kernel_us, 1):5.1f}% {count[kind]:6d}")
    print("slowest nodes:")
    for node, us in by_node.most_common(args.top):
        print(f"  {node[:80]:80s} {us / 1e3:8.2f} ms")
    print(f"profile: {logdir} (TensorBoard's Profile tab; the .trace.json.gz opens in Perfetto)")


if __name__ == "__main__":
    main()
