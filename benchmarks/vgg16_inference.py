"""W5 (workloads.md): VGG16 without its top, forward only, images per second.

`keras.applications.VGG16(include_top=False, weights=None, input_shape=(224, 224, 3))` on a
batch of 8 random images, measured side by side in one run:

- tensorflux: `model.predict(x, batch_size=8)` and `model(x, training=False)`, the better of
  the two as the headline; again with the native convolution kernels off
  (`numpy_llvm.enable(False)`, the NumPy im2col + GEMM path);
- Keras 3 on TensorFlow (its `predict`) in a child process (on the PyTorch backend, labelled
  so, when TensorFlow is missing);
- PyTorch: VGG16's feature layers built with torch.nn (13 Conv2d 3x3 padding 1 + ReLU,
  5 MaxPool2d 2), channels-last, under `torch.inference_mode()`, holding tensorflux's weights
  so that its output also checks tensorflux's.

Each number is the median of `--passes` timed passes after a warm-up pass. The run also
measures the machine's float32 sgemm rate (a 2048^3 NumPy product on OpenBLAS's own threads)
and prints W5's limit: VGG16's forward FLOPs (from the layer shapes) over that rate.
`--per-layer` times each layer's call on its own, tensorflux against PyTorch.

    python benchmarks/vgg16_inference.py [--passes 5] [--peers tensorflux tensorflux-numpy
        keras torch] [--per-layer]
"""

import argparse
import importlib.util
import os
import platform
import statistics
import time

import numpy as np
from _fit_timing import in_keras_child, native_kernels

from tensorflux.backends import numpy_llvm

BATCH, SIZE = 8, 224
# VGG16's feature layers: a number is a 3x3 same convolution with that many filters (+ relu),
# "M" a 2x2 max pooling with stride 2.
PLAN = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
PEERS = ("tensorflux", "tensorflux-numpy", "keras", "torch")


def layer_flops():
    """(name, forward FLOPs per image) of each convolution: 2 multiply-adds' worth per output
    element and filter tap; pooling, bias and relu (under 0.1% of the total) are left out."""
    size, channels, block, conv, out = SIZE, 3, 1, 1, []
    for item in PLAN:
        if item == "M":
            size, block, conv = size // 2, block + 1, 1
            continue
        out.append((f"block{block}_conv{conv}", 2 * size * size * 9 * channels * item))
        channels, conv = item, conv + 1
    return out


def images(seed=0):
    return np.random.default_rng(seed).random((BATCH, SIZE, SIZE, 3), dtype=np.float32)


def median_rate(fn, passes):
    """Images per second of `fn` (one forward pass of BATCH images): median of `passes`
    timed passes after one warm-up pass."""
    fn()
    times = []
    for _ in range(passes):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return BATCH / statistics.median(times)


def _model(keras):
    keras.utils.set_random_seed(0)
    return keras.applications.VGG16(include_top=False, weights=None,
                                    input_shape=(SIZE, SIZE, 3))


def _keras_rate(keras, passes):
    """W5 with Keras 3's predict (run in a child process by in_keras_child)."""
    model, x = _model(keras), images()
    return median_rate(lambda: model.predict(x, batch_size=BATCH, verbose=0), passes)


def bench_tensorflux(model, x, passes):
    """{'predict': images/s, 'call': images/s} for tensorflux's model on x."""
    expected = (BATCH, SIZE // 32, SIZE // 32, 512)
    out = model.predict(x, batch_size=BATCH, verbose=0)
    if tuple(out.shape) != expected:  # a benchmark of a wrong model means nothing
        raise SystemExit(f"tensorflux VGG16 predict gave shape {out.shape}, not {expected}")
    return {
        "predict": median_rate(lambda: model.predict(x, batch_size=BATCH, verbose=0), passes),
        "call": median_rate(lambda: model(x, training=False), passes),
    }


def torch_features(weights=None):
    """VGG16's feature layers in torch.nn, channels-last; `weights` (a list of (HWIO kernel,
    bias) NumPy pairs, tensorflux's) are copied in when given."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    modules, channels = [], 3
    for item in PLAN:
        if item == "M":
            modules.append(nn.MaxPool2d(2))
        else:
            modules += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=True)]
            channels = item
    model = nn.Sequential(*modules).eval()
    if weights is not None:
        convs = [m for m in model if isinstance(m, nn.Conv2d)]
        with torch.no_grad():
            for conv, (kernel, bias) in zip(convs, weights, strict=True):
                conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(
                    kernel.transpose(3, 2, 0, 1))))
                conv.bias.copy_(torch.from_numpy(bias))
    return model.to(memory_format=torch.channels_last)


def torch_input(x):
    import torch

    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)


def bench_torch(model, x, passes):
    import torch

    xt = torch_input(x)
    with torch.inference_mode():
        return median_rate(lambda: model(xt), passes)


def conv_weights(model):
    """tensorflux's (kernel, bias) pairs, in order, as NumPy arrays."""
    return [(np.asarray(layer.kernel), np.asarray(layer.bias)) for layer in model.layers
            if layer.name.split("_")[-1].startswith("conv")]


def check_against_torch(model, torch_model, x):
    """Largest difference between tensorflux's and PyTorch's outputs over the largest output
    (same weights), printed: a slow but wrong forward must not pass for a fast one."""
    import torch

    ours = np.asarray(model(x, training=False))
    with torch.inference_mode():
        theirs = torch_model(torch_input(x)).permute(0, 2, 3, 1).numpy()
    error = float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-30))
    print(f"check: tensorflux output {ours.shape} vs PyTorch's with the same weights: "
          f"max |difference| / max |output| = {error:.2e}")


def per_layer(model, torch_model, x, passes):
    """Each layer timed on its own (median ms) on the activations it actually sees: tensorflux
    eager (`layer(h)`: convolution, bias and relu as three ops), tensorflux traced
    (`tf.function` of the call, which predict runs: bias and relu fused into the convolution)
    and PyTorch (Conv2d + ReLU, or MaxPool2d)."""
    import torch

    import tensorflux as tf

    flops = dict(layer_flops())
    ours = [layer for layer in model.layers if not layer.name.startswith("input")]
    theirs, modules = [], list(torch_model)
    while modules:  # a Conv2d and its ReLU make one Keras layer (relu fused in Conv2D)
        module = modules.pop(0)
        theirs.append((module, modules.pop(0)) if isinstance(module, torch.nn.Conv2d)
                      else (module,))
    print(f"\nper layer (median of {passes} calls, ms; batch {BATCH}; GF/s counts the "
          "convolution only)")
    print(f"{'layer':14s} {'output':>15s} {'eager ms':>9s} {'traced ms':>10s} {'GF/s':>6s} "
          f"{'torch ms':>9s} {'GF/s':>6s} {'traced/torch':>13s}")
    h, ht = tf.constant(x), torch_input(x)
    totals = [0.0, 0.0, 0.0]
    for layer, mods in zip(ours, theirs, strict=True):
        traced = tf.function(lambda h, layer=layer: layer(h, training=False))

        def step_theirs(mods=mods, ht=ht):
            out = ht
            for m in mods:
                out = m(out)
            return out

        with torch.inference_mode():
            times = [1e3 * BATCH / median_rate(fn, passes) for fn in (
                lambda layer=layer, h=h: layer(h, training=False),
                lambda traced=traced, h=h: traced(h), step_theirs)]
            h, ht = traced(h), step_theirs()
        totals = [a + b for a, b in zip(totals, times, strict=True)]
        work = flops.get(layer.name, 0) * BATCH
        rates = [f"{work / t / 1e6:6.0f}" if work else f"{'':6s}" for t in times]
        print(f"{layer.name:14s} {str(tuple(h.shape[1:])):>15s} {times[0]:9.1f} "
              f"{times[1]:10.1f} {rates[1]} {times[2]:9.1f} {rates[2]} "
              f"{times[1] / times[2]:13.2f}")
    print(f"{'sum':14s} {'':>15s} {totals[0]:9.1f} {totals[1]:10.1f} {'':6s} {totals[2]:9.1f} "
          f"{'':6s} {totals[1] / totals[2]:13.2f}")


def sgemm_rate():
    """GFLOP/s of a float32 2048^3 NumPy product on OpenBLAS's own threads (best of 3)."""
    from tensorflux.backends import numpy_backend

    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    with numpy_backend.blas_as_found():
        a @ a
        best = min(_seconds(lambda: a @ a) for _ in range(3))
    return 2 * 2048 ** 3 / best / 1e9


def _seconds(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def load():
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--peers", nargs="+", choices=PEERS, default=list(PEERS))
    parser.add_argument("--per-layer", action="store_true",
                        help="also time each layer's call, tensorflux against PyTorch")
    args = parser.parse_args()

    have_torch = importlib.util.find_spec("torch") is not None
    flops = sum(f for _, f in layer_flops())
    sgemm = sgemm_rate()
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, {os.cpu_count()} CPUs, "
          f"load {load():.2f}; W5 batch {BATCH}, {SIZE}x{SIZE}x3, median of {args.passes} "
          "passes after a warm-up")
    print(f"float32 sgemm {sgemm:.0f} GFLOP/s; VGG16 features forward {flops / 1e9:.2f} GFLOP "
          f"per image; W5 limit {sgemm * 1e9 / flops:.2f} images/s")

    x = images()
    results, model = {}, None
    wants_ours = {"tensorflux", "tensorflux-numpy"} & set(args.peers)
    if wants_ours or args.per_layer:
        from tensorflux import keras

        model = _model(keras)
        print(f"tensorflux VGG16: output {model.output_shape}, {model.count_params()} "
              f"parameters; native kernels "
              f"{'available' if numpy_llvm.available() else 'NOT available'}")
    if "tensorflux" in args.peers:
        with native_kernels(True):
            rates = bench_tensorflux(model, x, args.passes)
        best = max(rates, key=rates.get)
        results["tensorflux"] = rates[best]
        print(f"  tensorflux predict {rates['predict']:.2f}, model(x) {rates['call']:.2f} "
              f"images/s (headline: {best}); load {load():.2f}")
    if "tensorflux-numpy" in args.peers:
        with native_kernels(False):
            rates = bench_tensorflux(model, x, args.passes)
        best = max(rates, key=rates.get)
        results["tensorflux, native kernels off"] = rates[best]
        print(f"  tensorflux (native off) predict {rates['predict']:.2f}, model(x) "
              f"{rates['call']:.2f} images/s; load {load():.2f}")
    if "keras" in args.peers and importlib.util.find_spec("keras") is not None:
        backend = "tensorflow" if importlib.util.find_spec("tensorflow") else "torch"
        results[f"Keras 3 ({backend}) predict"] = in_keras_child(
            "vgg16_inference", f"w._keras_rate(keras, {args.passes})", backend)
        print(f"  (Keras done; load {load():.2f})")
    torch_model = None
    if have_torch and ("torch" in args.peers or args.per_layer):
        import torch

        torch_model = torch_features(conv_weights(model) if model is not None else None)
        if model is not None:
            check_against_torch(model, torch_model, x)
    if "torch" in args.peers and torch_model is not None:
        results[f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)"] = (
            bench_torch(torch_model, x, args.passes))
        print(f"  (PyTorch done; load {load():.2f})")

    ours = results.get("tensorflux")
    print(f"\n{'':40s} {'images/s':>9s} {'tensorflux/peer':>16s}")
    print(f"{'limit (FLOPs / sgemm)':40s} {sgemm * 1e9 / flops:9.2f} "
          f"{ours * flops / sgemm / 1e9 if ours else float('nan'):16.2f}")
    for name, value in results.items():
        if value is None:
            print(f"{name:40s} {'n/a':>9s}")
            continue
        ratio = "" if name == "tensorflux" or ours is None else f"{ours / value:16.2f}"
        print(f"{name:40s} {value:9.2f} {ratio}")
    if args.per_layer and model is not None and torch_model is not None:
        per_layer(model, torch_model, x, args.passes)


if __name__ == "__main__":
    main()
