"""Does `fit` on a tf.data pipeline overlap input work with training? prefetch vs none.

A Dense model trains on batches from a Dataset whose `map` sleeps `--input-ms` per batch
(standing in for decoding or augmentation: work that releases the GIL, as file reads and
NumPy do). Without prefetch a step costs input + compute; with `.prefetch(AUTOTUNE)` the
next batch is made in a background thread while the current one trains, so a step should
cost about max(input, compute). A parallel map (`num_parallel_calls`) shortens the input
side itself.

    python benchmarks/input_pipeline.py [--steps 40] [--input-ms auto] [--repeat 3]

Each time is the median over `--repeat` epochs of the epoch time divided by the steps, in
milliseconds. The first epoch (tracing) is not timed. On a shared machine, pin BLAS to one
thread (OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1) so other processes do not swamp the compute
side.
"""

import argparse
import statistics
import time

import numpy as np

from tensorflux import data, keras


def build_model(width):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((width,)),
                              keras.layers.Dense(width, activation="relu"),
                              keras.layers.Dense(width, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


class EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def step_ms(model, dataset, steps, repeat):
    timer = EpochTimer()
    model.fit(dataset, epochs=repeat + 1, verbose=0, callbacks=[timer])
    return 1000 * statistics.median(timer.times[1:]) / steps


def pipeline(x, y, batch_size, input_ms, prefetch, parallel=None):
    def slow_input(features, targets):
        time.sleep(input_ms / 1000)
        return features, targets

    ds = data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    ds = ds.map(slow_input, num_parallel_calls=parallel)
    return ds.prefetch(data.AUTOTUNE) if prefetch else ds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--input-ms", default="auto",
                        help="sleep per batch in map; 'auto' matches the compute time")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.steps * args.batch_size, args.width)).astype("float32")
    y = rng.normal(size=(args.steps * args.batch_size, 1)).astype("float32")
    model = build_model(args.width)
    in_memory = data.Dataset.from_tensor_slices((x, y)).batch(args.batch_size).cache()
    compute = step_ms(model, in_memory, args.steps, args.repeat)
    input_ms = compute if args.input_ms == "auto" else float(args.input_ms)

    rows = [("arrays in memory (compute only)", 0.0, compute)]
    for label, prefetch, parallel in [("slow map, no prefetch", False, None),
                                      ("slow map + prefetch(AUTOTUNE)", True, None),
                                      ("slow map x4 threads + prefetch", True, 4)]:
        ds = pipeline(x, y, args.batch_size, input_ms, prefetch, parallel)
        rows.append((label, input_ms, step_ms(model, ds, args.steps, args.repeat)))

    print(f"batch {args.batch_size}, Dense {args.width}x{args.width}x2, {args.steps} "
          f"steps/epoch, median of {args.repeat} epochs")
    print(f"{'pipeline':34} {'input ms':>9} {'step ms':>8} {'input+compute':>14} "
          f"{'max(input,compute)':>19}")
    for label, input_cost, measured in rows:
        print(f"{label:34} {input_cost:9.1f} {measured:8.1f} {input_cost + compute:14.1f} "
              f"{max(input_cost, compute):19.1f}")


if __name__ == "__main__":
    main()
