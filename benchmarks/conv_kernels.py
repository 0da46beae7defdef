"""Convolution kernels one by one: tensorflux's native direct convolutions (the `jit` extra's
llvmlite), its NumPy im2col + GEMM path, and PyTorch's CPU convolutions (oneDNN), on the
layers of W2 (the MNIST convnet), the CIFAR residual block of block_workloads.py and a
VGG16 stage.

For each layer: the forward convolution, the filter gradient and the input gradient, in
milliseconds (median of --repeat calls after a warm-up) and GFLOP/s (2 * output pixels *
filter size per kernel), with the ratios native/NumPy path and native/PyTorch from this one
run. PyTorch runs channels-last (NHWC, as tensorflux) with its default thread count; the
float32 GEMM rate of a 2048^3 NumPy product is printed as the machine's limit.

    python benchmarks/conv_kernels.py [--repeat 9] [--layers w2-1 w2-2 resnet vgg-3 vgg-5]
"""

import argparse
import importlib.util
import os
import statistics
import time

import numpy as np
from _fit_timing import native_kernels

from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_llvm

# name: (input NHWC, filter HWIO, padding)
LAYERS = {
    "w2-1": ((128, 28, 28, 1), (3, 3, 1, 32), "VALID"),
    "w2-2": ((128, 13, 13, 32), (3, 3, 32, 64), "VALID"),
    "resnet": ((64, 32, 32, 32), (3, 3, 32, 32), "SAME"),
    "vgg-3": ((8, 56, 56, 128), (3, 3, 128, 256), "SAME"),
    "vgg-5": ((8, 14, 14, 512), (3, 3, 512, 512), "SAME"),
}


def timed(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def tensorflux_times(x, w, padding, repeat):
    attrs = dict(strides=(1, 1), padding=padding, dilations=(1, 1), data_format="NHWC")
    g = np.random.default_rng(1).standard_normal(nb.conv2d(x, w, **attrs).shape,
                                                 dtype=np.float32)
    return (timed(lambda: nb.conv2d(x, w, **attrs), repeat),
            timed(lambda: nb.conv2d_backprop_filter(x, g, w.shape, **attrs), repeat),
            timed(lambda: nb.conv2d_backprop_input(w, g, x.shape, **attrs), repeat))


def torch_times(x, w, padding, repeat):
    import torch

    pad = 0 if padding == "VALID" else w.shape[0] // 2
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
    wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))).contiguous(
        memory_format=torch.channels_last)
    with torch.no_grad():
        y = torch.nn.functional.conv2d(xt, wt, padding=pad)
        g = torch.randn(y.shape).contiguous(memory_format=torch.channels_last)
        return (timed(lambda: torch.nn.functional.conv2d(xt, wt, padding=pad), repeat),
                timed(lambda: torch.nn.grad.conv2d_weight(xt, wt.shape, g, padding=pad),
                      repeat),
                timed(lambda: torch.nn.grad.conv2d_input(xt.shape, wt, g, padding=pad),
                      repeat))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--layers", nargs="+", choices=list(LAYERS), default=list(LAYERS))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    a = rng.random((2048, 2048), dtype=np.float32)
    with nb.blas_as_found():
        sgemm = 2 * 2048 ** 3 / timed(lambda: a @ a, 3) / 1e6
    have_torch = importlib.util.find_spec("torch") is not None
    print(f"{os.cpu_count()} CPUs; float32 sgemm {sgemm:.0f} GFLOP/s; native kernels "
          f"{'available' if numpy_llvm.available() else 'NOT available'}; "
          f"PyTorch {'present' if have_torch else 'absent'}")
    print(f"{'layer':8s} {'kernel':8s} {'native ms':>10s} {'GF/s':>6s} {'numpy ms':>9s} "
          f"{'torch ms':>9s} {'numpy/native':>12s} {'torch/native':>12s}")
    for name in args.layers:
        x_shape, w_shape, padding = LAYERS[name]
        x = rng.standard_normal(x_shape, dtype=np.float32)
        w = rng.standard_normal(w_shape, dtype=np.float32)
        with native_kernels(True):
            ours = tensorflux_times(x, w, padding, args.repeat)
        with native_kernels(False):
            numpy_path = tensorflux_times(x, w, padding, args.repeat)
        peer = torch_times(x, w, padding, args.repeat) if have_torch else (None,) * 3
        ho = x_shape[1] - (w_shape[0] - 1 if padding == "VALID" else 0)
        flops = 2 * x_shape[0] * ho * ho * np.prod(w_shape)
        for kernel, mine, theirs, torch_ms in zip(("forward", "d_filter", "d_input"), ours,
                                                  numpy_path, peer):
            torch_text = f"{torch_ms:9.2f}" if torch_ms else f"{'n/a':>9s}"
            ratio = f"{torch_ms / mine:12.2f}" if torch_ms else f"{'n/a':>12s}"
            print(f"{name:8s} {kernel:8s} {mine:10.2f} {flops / mine / 1e6:6.0f} "
                  f"{theirs:9.2f} {torch_text} {theirs / mine:12.2f} {ratio}")


if __name__ == "__main__":
    main()
