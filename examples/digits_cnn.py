"""A small convolutional network on the UCI 8x8 handwritten digits.

Conv2D -> Conv2D -> MaxPooling2D -> Conv2D -> Flatten -> Dropout -> Dense(10, softmax),
trained with Adam on the 1797 digit images that ship inside tensorflux (CC BY 4.0, see
tensorflux/keras/datasets/data/README.md), then evaluated on the 20% held out.

    python examples/digits_cnn.py

The code is Keras code: with `from tensorflux import keras` replaced by `import keras` (and
the data loaded from scikit-learn) it runs unchanged on Keras 3.
"""

import time

from tensorflux import keras
from tensorflux.keras import layers
from tensorflux.keras.datasets import digits


def main():
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = digits.load_data(test_split=0.2)
    # Pixels are 0..16; add the channel axis the convolutions expect.
    x_train = (x_train / 16.0).astype("float32")[..., None]
    x_test = (x_test / 16.0).astype("float32")[..., None]

    model = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])
    model.summary()
    model.compile(optimizer=keras.optimizers.Adam(2e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=64, epochs=30, verbose=2)
    print(f"trained in {time.perf_counter() - start:.1f} s")
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy: {accuracy:.4f} (loss {loss:.4f}) on {len(x_test)} images")


if __name__ == "__main__":
    main()
