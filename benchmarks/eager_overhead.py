"""Eager dispatch cost per op on small tensors: tensorflux vs NumPy itself vs PyTorch eager.

On a 4x4 tensor the arithmetic is nothing, so the time is what a framework spends between
the Python call and the kernel (argument checks, dtype rules, tape bookkeeping, wrapping the
result): the overhead every op of every training step pays. NumPy's own call is the floor
tensorflux's CPU backend cannot go below.

    python benchmarks/eager_overhead.py [--repeat 7] [--sizes 4 32]

Each cell is the median over `--repeat` timeit runs of the time per call, in microseconds.
PyTorch is measured when it is installed (pip install -e '.[benchmark]'), with one thread.
"""

import argparse
import platform
import statistics
import sys
import timeit

import numpy as np

import tensorflux as tf

try:
    import torch
except ImportError:
    torch = None


def cases(size):
    """(name, {framework: zero-argument callable}) for each measured op."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size)).astype(np.float32)
    b = rng.standard_normal((size, size)).astype(np.float32)
    ta, tb = tf.constant(a), tf.constant(b)
    calls = {
        "add": {"numpy": lambda: np.add(a, b), "tensorflux": lambda: tf.add(ta, tb)},
        "a + b": {"numpy": lambda: a + b, "tensorflux": lambda: ta + tb},
        "multiply": {"numpy": lambda: np.multiply(a, b),
                     "tensorflux": lambda: tf.multiply(ta, tb)},
        "a * 2.0": {"numpy": lambda: a * np.float32(2.0), "tensorflux": lambda: ta * 2.0},
        "exp": {"numpy": lambda: np.exp(a), "tensorflux": lambda: tf.exp(ta)},
        "matmul": {"numpy": lambda: np.matmul(a, b), "tensorflux": lambda: tf.matmul(ta, tb)},
        "reduce_sum": {"numpy": lambda: np.sum(a), "tensorflux": lambda: tf.reduce_sum(ta)},
        "reduce_sum axis=1": {"numpy": lambda: np.sum(a, axis=1),
                              "tensorflux": lambda: tf.reduce_sum(ta, axis=1)},
    }
    if torch is not None:
        pa, pb = torch.from_numpy(a), torch.from_numpy(b)
        torch_calls = {
            "add": lambda: torch.add(pa, pb), "a + b": lambda: pa + pb,
            "multiply": lambda: torch.mul(pa, pb), "a * 2.0": lambda: pa * 2.0,
            "exp": lambda: torch.exp(pa), "matmul": lambda: torch.matmul(pa, pb),
            "reduce_sum": lambda: torch.sum(pa), "reduce_sum axis=1": lambda: torch.sum(pa, 1),
        }
        for name, fn in torch_calls.items():
            calls[name]["torch"] = fn
    return calls


def median_seconds_per_call(fn, repeat):
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()  # enough calls for a run of at least 0.2 s
    number = max(1, number // 2)
    return statistics.median(t / number for t in timer.repeat(repeat=repeat, number=number))


def tape_case(size):
    """One op under an active GradientTape: what a training step's forward pass pays."""
    x = tf.constant(np.ones((size, size), np.float32))

    def run():
        with tf.GradientTape() as tape:
            tape.watch(x)
            tf.exp(x)
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 32])
    args = parser.parse_args(argv)
    if torch is not None:
        torch.set_num_threads(1)

    print(f"python {platform.python_version()}, numpy {np.__version__}, tensorflux "
          f"{tf.__tensorflux_version__}, torch {torch.__version__ if torch else 'not installed'}; "
          f"{platform.machine()} {platform.system()}")
    print("median microseconds per call over", args.repeat, "runs (float32, CPU)")
    header = (f"{'op':<20}{'shape':>8}{'numpy':>9}{'tfx':>9}{'torch':>9}"
              f"{'tfx/numpy':>11}{'tfx/torch':>11}")
    print(header)
    print("-" * len(header))
    ratios = []
    for size in args.sizes:
        for name, frameworks in cases(size).items():
            t = {k: median_seconds_per_call(fn, args.repeat) * 1e6 for k, fn in frameworks.items()}
            ratio_np = t["tensorflux"] / t["numpy"]
            ratios.append(ratio_np)
            torch_cell = f"{t['torch']:9.2f}" if "torch" in t else f"{'-':>9}"
            ratio_torch = (f"{t['tensorflux'] / t['torch']:11.2f}" if "torch" in t
                           else f"{'-':>11}")
            print(f"{name:<20}{f'{size}x{size}':>8}{t['numpy']:9.2f}{t['tensorflux']:9.2f}"
                  f"{torch_cell}{ratio_np:11.2f}{ratio_torch}")
        taped = median_seconds_per_call(tape_case(size), args.repeat) * 1e6
        print(f"{'tape + watch + exp':<20}{f'{size}x{size}':>8}{'':>9}{taped:9.2f}")
    print(f"geometric mean tfx/numpy: {statistics.geometric_mean(ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
