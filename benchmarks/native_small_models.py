"""Fit step time of small Keras models, jit_compile=True (the native step) against the default.

Models (8 inputs, Dense(12) hidden, batch 32, 3200 samples), each fitted 2 epochs after a
first epoch that traces and compiles, the two compiles alternated 4 times (best of each):

- a: softmax classifier, categorical cross-entropy, accuracy, Adam
- b: the same with integer labels, sparse categorical cross-entropy
- c1: regressor, SGD(momentum, nesterov), l2(0.01) kernel regularizer, mse, metrics mae
- c2: tanh regressor, RMSprop, mae, metrics mae
- c3: LeakyReLU regressor, AdamW, mse, metrics mae
- d: tanh regressor with Dropout(0.3) (its draws made by the NumPy kernel), Adam, mse

    PYTHONPATH=$PWD env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python benchmarks/native_small_models.py [a b c1 ...]
"""

import sys
import time

import numpy as np

from tensorflux import keras


def _model(hidden, extra, outputs, activation, kernel_regularizer=None):
    return keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(12, activation=hidden, kernel_regularizer=kernel_regularizer),
        *extra, keras.layers.Dense(outputs, activation=activation)])


def main(only):
    rng = np.random.default_rng(0)
    n, batch = 3200, 32
    x = rng.normal(size=(n, 8)).astype(np.float32)
    classes = (x[:, :3] @ rng.normal(size=(3, 3))).argmax(1)
    y = (x[:, :2].sum(1, keepdims=True) * 0.5).astype(np.float32)
    models = {
        "a": (lambda: _model("relu", [], 3, "softmax"), lambda: keras.optimizers.Adam(0.01),
              "categorical_crossentropy", ["accuracy"], np.eye(3, dtype=np.float32)[classes]),
        "b": (lambda: _model("relu", [], 3, "softmax"), lambda: keras.optimizers.Adam(0.01),
              "sparse_categorical_crossentropy", ["accuracy"], classes),
        "c1": (lambda: _model("relu", [], 1, None, keras.regularizers.l2(0.01)),
               lambda: keras.optimizers.SGD(0.02, momentum=0.9, nesterov=True), "mse",
               ["mae"], y),
        "c2": (lambda: _model("tanh", [], 1, None), lambda: keras.optimizers.RMSprop(0.005),
               "mae", ["mae"], y),
        "c3": (lambda: _model(None, [keras.layers.LeakyReLU(0.1)], 1, None),
               lambda: keras.optimizers.AdamW(0.01, weight_decay=0.01), "mse", ["mae"], y),
        "d": (lambda: _model("tanh", [keras.layers.Dropout(0.3)], 1, None),
              lambda: keras.optimizers.Adam(0.01), "mse", [], y),
    }
    for name, (build, optimizer, loss, metrics, labels) in models.items():
        if only and name not in only:
            continue
        fitted = {}
        for jit in (False, True):
            model = build()
            model.compile(optimizer=optimizer(), loss=loss, metrics=metrics, jit_compile=jit)
            model.fit(x, labels, batch_size=batch, epochs=1, verbose=0)  # trace and compile
            fitted[jit] = model
        times = {False: [], True: []}
        for round_ in range(4):
            for jit in (False, True) if round_ % 2 == 0 else (True, False):
                start = time.perf_counter()
                fitted[jit].fit(x, labels, batch_size=batch, epochs=2, verbose=0)
                times[jit].append((time.perf_counter() - start) / (2 * n / batch) * 1e6)
        default, native = min(times[False]), min(times[True])
        concrete = next(iter(fitted[True].train_function._effects.values()))
        reason = concrete._plan()[0].native_reason
        print(f"{name}: default {default:.1f} us/step, jit {native:.1f} us/step "
              f"(x{default / native:.2f}); native_reason: {reason}")


if __name__ == "__main__":
    main(sys.argv[1:])
