"""Depthwise convolution workloads: MobileNetV2 inference and a SeparableConv2D network's
training, side by side in one run, and other Keras applications' inference.

- `mobilenet`: `keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))` with
  its top, `predict` on a batch of 8 random images, images per second;
- `efficientnet`, `resnet50`: the same for EfficientNetB0 (swish, squeeze-and-excitation,
  5x5 depthwise convolutions, Rescaling and Normalization at the input) and ResNet50;
- `separable`: training steps (`fit`, Adam, batch 32) of a small network in the style of
  keras.io's "Image classification from scratch" (an Xception-like stack of SeparableConv2D,
  BatchNormalization, max pooling and 1x1 residual convolutions) on 64x64x3 inputs, samples
  per second.

Peers: tensorflux (native kernels on, then off: `numpy_llvm.enable(False)`, the NumPy path
of every kernel); Keras 3 on TensorFlow in a child process; PyTorch (MobileNetV2 and the
separable network only), the same networks built with torch.nn, channels-last:
MobileNetV2 holds tensorflux's weights, so that its output also checks tensorflux's (the
separable network only matches in shape: its rate is the point). Each number is the
median of `--passes` timed passes (epochs for training) after a warm-up; the run prints the
machine's float32 sgemm rate and the load.

    python benchmarks/mobilenet_workloads.py [--passes 5]
        [--workloads mobilenet separable efficientnet resnet50]
        [--peers tensorflux tensorflux-numpy keras torch]
"""

import argparse
import importlib.util
import os
import platform
import statistics
import time

import numpy as np
from _fit_timing import fit_rate, in_keras_child, native_kernels
from vgg16_inference import load, median_rate, sgemm_rate

from tensorflux.backends import numpy_llvm

BATCH, SIZE = 8, 224
TRAIN_BATCH, TRAIN_SAMPLES, TRAIN_SIZE = 32, 256, 64
PEERS = ("tensorflux", "tensorflux-numpy", "keras", "torch")
# The inference workloads: keras.applications' model, weights=None, with its top.
APPLICATIONS = {"mobilenet": "MobileNetV2", "efficientnet": "EfficientNetB0",
                "resnet50": "ResNet50"}
# MobileNetV2's inverted residual blocks: (expansion, output channels, repeats, first stride)
BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
          (6, 160, 3, 2), (6, 320, 1, 1))
# The separable network: the stem's filters, the residual blocks' and the last layer's.
STEM, SEPARABLE, LAST = 32, (64, 128, 256), 512


def images(seed=0):
    return np.random.default_rng(seed).random((BATCH, SIZE, SIZE, 3), dtype=np.float32)


def _application(keras, workload):
    keras.utils.set_random_seed(0)
    return getattr(keras.applications, APPLICATIONS[workload])(weights=None,
                                                                input_shape=(SIZE, SIZE, 3))


def _separable(keras):
    """keras.io's make_model, narrower (STEM, SEPARABLE, LAST), with one logit."""
    keras.utils.set_random_seed(0)
    layers = keras.layers
    inputs = keras.Input((TRAIN_SIZE, TRAIN_SIZE, 3))
    x = layers.Conv2D(STEM, 3, strides=2, padding="same")(inputs)
    x = layers.Activation("relu")(layers.BatchNormalization()(x))
    previous = x
    for size in SEPARABLE:
        for _ in range(2):
            x = layers.Activation("relu")(x)
            x = layers.BatchNormalization()(layers.SeparableConv2D(size, 3, padding="same")(x))
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(size, 1, strides=2, padding="same")(previous)
        x = previous = layers.add([x, residual])
    x = layers.SeparableConv2D(LAST, 3, padding="same")(x)
    x = layers.Activation("relu")(layers.BatchNormalization()(x))
    x = layers.Dropout(0.25)(layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, layers.Dense(1)(x))
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    return model


def training_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((TRAIN_SAMPLES, TRAIN_SIZE, TRAIN_SIZE, 3), dtype=np.float32)
    return x, rng.integers(0, 2, (TRAIN_SAMPLES, 1)).astype(np.float32)


def _keras_rate(keras, workload, passes):
    """A workload's rate under Keras 3 (run in a child process by in_keras_child)."""
    if workload in APPLICATIONS:
        model, x = _application(keras, workload), images()
        return median_rate(lambda: model.predict(x, batch_size=BATCH, verbose=0), passes)
    return fit_rate(_separable(keras), *training_data(), TRAIN_BATCH, passes)


def tensorflux_rate(model, workload, passes):
    if workload in APPLICATIONS:
        x = images()
        return median_rate(lambda: model.predict(x, batch_size=BATCH, verbose=0), passes)
    return fit_rate(model, *training_data(), TRAIN_BATCH, passes)


# ---------------------------------------------------------------------------- PyTorch


def torch_mobilenet(weights=None):
    """MobileNetV2 in torch.nn (Keras's: batch norm epsilon 1e-3, ReLU6, a stride-2 layer's
    input padded by one row and column below and to the right), channels-last, eval mode;
    `weights` (tensorflux's model.get_weights(), in its layers' order) copied in."""
    import torch
    from torch import nn
    from torch.nn import functional

    def conv_bn(cin, cout, k=1, stride=1, groups=1):
        return [nn.Conv2d(cin, cout, k, stride, padding=k // 2 if stride == 1 else 0,
                          groups=groups, bias=False), nn.BatchNorm2d(cout, eps=1e-3)]

    class Block(nn.Module):
        def __init__(self, cin, expansion, cout, stride):
            super().__init__()
            hidden = cin * expansion
            self.expand = nn.Sequential(*conv_bn(cin, hidden)) if expansion != 1 else None
            self.depthwise = nn.Sequential(*conv_bn(hidden, hidden, 3, stride, hidden))
            self.project = nn.Sequential(*conv_bn(hidden, cout))
            self.stride, self.residual = stride, cin == cout and stride == 1

        def forward(self, x):
            h = x if self.expand is None else functional.relu6(self.expand(x))
            if self.stride == 2:
                h = functional.pad(h, (0, 1, 0, 1))
            h = self.project(functional.relu6(self.depthwise(h)))
            return x + h if self.residual else h

    class MobileNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(*conv_bn(3, 32, 3, 2))
            blocks, cin = [], 32
            for expansion, cout, repeats, stride in BLOCKS:
                for k in range(repeats):
                    blocks.append(Block(cin, expansion, cout, stride if k == 0 else 1))
                    cin = cout
            self.blocks = nn.Sequential(*blocks)
            self.head = nn.Sequential(*conv_bn(cin, 1280))
            self.top = nn.Linear(1280, 1000)

        def features(self, x):
            h = functional.relu6(self.stem(functional.pad(x, (0, 1, 0, 1))))
            return functional.relu6(self.head(self.blocks(h)))

        def forward(self, x):
            return torch.softmax(self.top(self.features(x).mean((2, 3))), 1)

    torch.manual_seed(0)
    model = MobileNet().eval()
    if weights is not None:
        _copy_weights(model, weights)
    return model.to(memory_format=torch.channels_last)


def _copy_weights(model, weights):
    """Keras's weights, in its layers' order (a convolution's kernel, a batch norm's gamma,
    beta, moving mean and variance, the dense kernel and bias), into the torch modules in
    the same order."""
    import torch
    from torch import nn

    targets = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            depthwise = module.groups > 1
            targets.append((module.weight, (2, 3, 0, 1) if depthwise else (3, 2, 0, 1)))
        elif isinstance(module, nn.BatchNorm2d):
            targets += [(module.weight, None), (module.bias, None),
                        (module.running_mean, None), (module.running_var, None)]
        elif isinstance(module, nn.Linear):
            targets += [(module.weight, (1, 0)), (module.bias, None)]
    with torch.no_grad():
        for (target, axes), value in zip(targets, weights, strict=True):
            value = value if axes is None else value.transpose(axes)
            target.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def torch_separable():
    """The separable network in torch.nn (the same layers; its own weights)."""
    import torch
    from torch import nn

    def separable(cin, cout):
        return [nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False),
                nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout)]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, STEM, 3, 2, padding=1), nn.BatchNorm2d(STEM),
                                      nn.ReLU())
            self.blocks, self.residuals, cin = nn.ModuleList(), nn.ModuleList(), STEM
            for size in SEPARABLE:
                self.blocks.append(nn.Sequential(
                    nn.ReLU(), *separable(cin, size), nn.ReLU(), *separable(size, size),
                    nn.MaxPool2d(3, 2, padding=1)))
                self.residuals.append(nn.Conv2d(cin, size, 1, 2))
                cin = size
            self.last = nn.Sequential(*separable(cin, LAST), nn.ReLU())
            self.top = nn.Sequential(nn.Dropout(0.25), nn.Linear(LAST, 1))

        def forward(self, x):
            x = self.stem(x)
            for block, residual in zip(self.blocks, self.residuals, strict=True):
                x = block(x) + residual(x)
            return self.top(self.last(x).mean((2, 3)))

    torch.manual_seed(0)
    return Net().to(memory_format=torch.channels_last)


def torch_input(x):
    import torch

    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)


def torch_rate(workload, passes, weights=None):
    import torch

    if workload == "mobilenet":
        model, x = torch_mobilenet(weights), torch_input(images())
        with torch.inference_mode():
            return median_rate(lambda: model(x), passes)
    model = torch_separable()
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    loss = torch.nn.BCEWithLogitsLoss()
    x, y = (torch.from_numpy(a) for a in training_data())
    x = x.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)

    def epoch():
        for start in range(0, TRAIN_SAMPLES, TRAIN_BATCH):
            optimizer.zero_grad()
            loss(model(x[start:start + TRAIN_BATCH]), y[start:start + TRAIN_BATCH]).backward()
            optimizer.step()
    epoch()
    times = []
    for _ in range(passes):
        start = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - start)
    return TRAIN_SAMPLES / statistics.median(times)


def check_against_torch(model, keras):
    """Largest difference between tensorflux's MobileNetV2 features (the last ReLU's output:
    the probabilities of an untrained model are all 1/1000, its activations shrinking layer
    by layer to about 1e-11) and PyTorch's with the same weights, printed: a slow but wrong
    forward must not pass for a fast one."""
    import torch

    x = images()
    ours = np.asarray(keras.Model(model.input, model.get_layer("out_relu").output)(x))
    with torch.inference_mode():
        theirs = torch_mobilenet(model.get_weights()).features(torch_input(x))
    theirs = theirs.permute(0, 2, 3, 1).numpy()
    error = float(np.abs(ours - theirs).max() / np.abs(theirs).max())
    print(f"  check: tensorflux MobileNetV2 features {ours.shape} vs PyTorch's with the same "
          f"weights: max |difference| / max |value| = {error:.2e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--workloads", nargs="+", choices=(*APPLICATIONS, "separable"),
                        default=["mobilenet", "separable"])
    parser.add_argument("--peers", nargs="+", choices=PEERS, default=list(PEERS))
    args = parser.parse_args()

    print(f"Python {platform.python_version()}, NumPy {np.__version__}, {os.cpu_count()} CPUs, "
          f"load {load():.2f}; float32 sgemm {sgemm_rate():.0f} GFLOP/s; median of "
          f"{args.passes} passes after a warm-up; native kernels "
          f"{'available' if numpy_llvm.available() else 'NOT available'}")
    have_torch = importlib.util.find_spec("torch") is not None
    for workload in args.workloads:
        unit = "images/s" if workload in APPLICATIONS else "samples/s"
        print(f"\n{workload}: " + (f"{APPLICATIONS[workload]} predict, batch {BATCH}, "
                                   f"{SIZE}x{SIZE}x3" if workload in APPLICATIONS else
                                   f"separable network fit, batch {TRAIN_BATCH}, "
                                   f"{TRAIN_SIZE}x{TRAIN_SIZE}x3"))
        results, model = {}, None
        if {"tensorflux", "tensorflux-numpy"} & set(args.peers):
            from tensorflux import keras

            model = (_application(keras, workload) if workload in APPLICATIONS else
                     _separable(keras))
        for peer, on in (("tensorflux", True), ("tensorflux-numpy", False)):
            if peer in args.peers:
                with native_kernels(on):
                    name = "tensorflux" if on else "tensorflux, native kernels off"
                    results[name] = tensorflux_rate(model, workload, args.passes)
                print(f"  {name}: {results[name]:.2f} {unit}; load {load():.2f}")
        if "keras" in args.peers and importlib.util.find_spec("keras") is not None:
            backend = "tensorflow" if importlib.util.find_spec("tensorflow") else "torch"
            results[f"Keras 3 ({backend})"] = in_keras_child(
                "mobilenet_workloads", f"w._keras_rate(keras, {workload!r}, {args.passes})",
                backend)
            print(f"  (Keras done; load {load():.2f})")
        if "torch" in args.peers and have_torch and workload in ("mobilenet", "separable"):
            import torch

            weights = model.get_weights() if model is not None else None
            if workload == "mobilenet" and model is not None:
                check_against_torch(model, keras)
            results[f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)"] = (
                torch_rate(workload, args.passes, weights))
            print(f"  (PyTorch done; load {load():.2f})")
        ours = results.get("tensorflux")
        print(f"  {'':40s} {unit:>10s} {'tensorflux/peer':>16s}")
        for name, value in results.items():
            if value is None:
                print(f"  {name:40s} {'n/a':>10s}")
                continue
            ratio = "" if name == "tensorflux" or ours is None else f"{ours / value:16.2f}"
            print(f"  {name:40s} {value:10.2f} {ratio}")


if __name__ == "__main__":
    main()
