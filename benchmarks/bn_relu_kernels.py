"""BatchNormalization + relu, forward and gradient, unfused (batch_norm_training then relu;
relu's gradient mask as the graph's one-pass fused_elementwise, then batch_norm_training_grad)
against fused (activation="relu"; the gradient reading y, or finding its sign from x and
beta: "backward-x"), on the NumPy backend's kernels in one process: the two alternated
`--rounds` times, each round the median of `--reps` calls, medians reported with the
machine's load. Shapes: the separable network's and the CIFAR residual block's.

    python benchmarks/bn_relu_kernels.py [--rounds 5] [--reps 15]
"""

import argparse
import os
import statistics
import time

import numpy as np

import tensorflux as tf
from tensorflux.backends import numpy_backend as nb

SHAPES = [(32, 32, 32, 32), (32, 32, 32, 64), (32, 16, 16, 128), (64, 32, 32, 32)]
_MASK = (("greater", (1, 2), (), tf.bool), ("cast", (3,), (("dtype", tf.float32),), tf.float32),
         ("multiply", (0, 4), (), tf.float32))


def _cases(shape):
    rng = np.random.default_rng(0)
    c = shape[-1]
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    gamma, beta, zeros = np.ones(c, np.float32), np.zeros(c, np.float32), np.zeros(c, np.float32)
    y, mean, variance = nb.batch_norm_training(x, gamma, beta, 1e-3, activation="relu")
    zero = np.zeros((), np.float32)

    def forward_unfused():
        return nb.relu(nb.batch_norm_training(x, gamma, beta, 1e-3)[0])

    def forward_fused():
        return nb.batch_norm_training(x, gamma, beta, 1e-3, activation="relu")[0]

    def backward_unfused():
        dy = nb.fused_elementwise(g, y, zero, program=_MASK)
        return nb.batch_norm_training_grad(x, gamma, mean, variance, dy, zeros, zeros, 1e-3)

    def backward_fused():
        return nb.batch_norm_training_grad(x, gamma, mean, variance, g, zeros, zeros, y,
                                           epsilon=1e-3, activation="relu")
    def backward_from_x():
        return nb.batch_norm_training_grad(x, gamma, mean, variance, g, zeros, zeros, y, beta,
                                           epsilon=1e-3, activation="relu")
    np.testing.assert_array_equal(forward_unfused(), forward_fused())
    for a, b, c in zip(backward_unfused(), backward_fused(), backward_from_x()):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    return {"forward": (forward_unfused, forward_fused),
            "backward": (backward_unfused, backward_fused),
            "backward-x": (backward_unfused, backward_from_x)}


def _time(fn, reps):
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()
    print(f"load {os.getloadavg()[0]:.2f}")
    for shape in SHAPES:
        for what, (unfused, fused) in _cases(shape).items():
            a, b = [], []
            for _ in range(args.rounds):
                a.append(_time(unfused, args.reps))
                b.append(_time(fused, args.reps))
            print(f"{str(shape):18} {what:8} unfused {statistics.median(a) * 1e3:6.2f} ms  "
                  f"fused {statistics.median(b) * 1e3:6.2f} ms  (rounds "
                  + " ".join(f"{u * 1e3:.2f}/{f * 1e3:.2f}" for u, f in zip(a, b)) + ")")
    print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
