"""A GRU learns a sequence property: does a random walk's running sum ever rise above +2?

Each sample is 20 steps drawn uniformly from [-1, 1]; the label is 1 when the running sum
crosses +2 at some step. The answer depends on the whole order of the steps (shuffle them and
it changes), so a bag-of-values model cannot solve it; a small GRU can. Sequences are padded
with zeros at the end to random lengths and a Masking layer makes the GRU skip the padding.

    python examples/sequence_gru.py
"""

import numpy as np

import tensorflux as tf
from tensorflux import keras

STEPS, THRESHOLD = 20, 2.0


def make_data(count, rng):
    x = rng.uniform(-1.0, 1.0, size=(count, STEPS, 1)).astype("float32")
    lengths = rng.integers(10, STEPS + 1, size=count)
    x[np.arange(STEPS)[None, :] >= lengths[:, None]] = 0.0  # padding, masked below
    crossed = (np.cumsum(x[:, :, 0], axis=1) > THRESHOLD).any(axis=1)
    return x, crossed.astype("float32")[:, None]


def main():
    keras.utils.set_random_seed(0) if hasattr(keras.utils, "set_random_seed") else \
        tf.random.set_seed(0)
    rng = np.random.default_rng(0)
    x_train, y_train = make_data(3000, rng)
    x_test, y_test = make_data(1000, rng)
    print(f"positive fraction: train {y_train.mean():.2f}, test {y_test.mean():.2f}")

    model = keras.Sequential([
        keras.Input((STEPS, 1)),
        keras.layers.Masking(mask_value=0.0),
        keras.layers.GRU(24),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.summary()
    history = model.fit(x_train, y_train, batch_size=64, epochs=8, verbose=2)
    losses = history.history["loss"]
    print(f"loss went from {losses[0]:.4f} to {losses[-1]:.4f}")
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"held-out accuracy: {accuracy:.4f}")


if __name__ == "__main__":
    main()
