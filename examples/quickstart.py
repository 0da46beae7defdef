"""Quickstart: the classic Keras model, trained on real data with `model.fit`.

Three Dense layers (10 relu, 10 relu, 1 sigmoid), binary cross-entropy and Adam, trained on
the Breast Cancer Wisconsin (Diagnostic) data set that ships inside tensorflux (569 tumours,
30 features each; CC BY 4.0, see tensorflux/keras/datasets/data/README.md). It prints Keras's
progress bar, reports accuracy on held-out samples, and saves the trained weights.

    python examples/quickstart.py

The code is Keras code: with `from tensorflux import keras` replaced by `import keras` it runs
unchanged on Keras 3.
"""

import sys

from tensorflux import keras
from tensorflux.keras import layers
from tensorflux.keras.datasets import breast_cancer

WEIGHTS = "quickstart.weights.h5"


def main():
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = breast_cancer.load_data(test_split=0.2)
    # Standardize with the training set's statistics only.
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std

    model = keras.Sequential([
        keras.Input(shape=(breast_cancer.FEATURE_COUNT,)),
        layers.Dense(10, activation="relu"),
        layers.Dense(10, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.summary()
    history = model.fit(x_train, y_train, epochs=20, batch_size=10, validation_split=0.1,
                        verbose=2)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"\nloss went from {history.history['loss'][0]:.4f} to "
          f"{history.history['loss'][-1]:.4f} over {len(history.history['loss'])} epochs")
    print(f"held-out accuracy on {len(x_test)} tumours: {accuracy:.4f} (loss {loss:.4f})")
    try:
        model.save_weights(WEIGHTS)
    except ImportError as error:  # h5py is the optional `h5` extra
        print(f"weights not saved: {error}", file=sys.stderr)
        return 0
    print(f"weights saved to {WEIGHTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
