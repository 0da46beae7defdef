"""Train a small neural network with tf.GradientTape on the two-moons problem.

Two interleaved half circles of points, one per class, that no straight line separates: a
two-layer perceptron (2 -> 16 tanh -> 1) learns the boundary with full-batch gradient
descent. Runs in a couple of seconds on a laptop CPU:

    python examples/gradient_tape_two_moons.py

(Keras's `model.fit` is not part of tensorflux yet; this is the TF2 low-level style.)
"""

import math
import random

import tensorflux as tf

SEED = 0
POINTS_PER_CLASS = 200
NOISE = 0.15
HIDDEN = 16
LEARNING_RATE = 0.5
STEPS = 1000
PRINT_EVERY = 100


def two_moons(points_per_class, noise, seed):
    """Points on two interleaved half circles, with Gaussian noise; labels 0.0 and 1.0."""
    rng = random.Random(seed)
    features, labels = [], []
    for label in (0, 1):
        for i in range(points_per_class):
            angle = math.pi * i / (points_per_class - 1)
            if label == 0:
                x, y = math.cos(angle), math.sin(angle)
            else:
                x, y = 1.0 - math.cos(angle), 0.5 - math.sin(angle)
            features.append([x + rng.gauss(0.0, noise), y + rng.gauss(0.0, noise)])
            labels.append([float(label)])
    return tf.constant(features), tf.constant(labels)


def glorot_uniform(fan_in, fan_out, rng):
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return tf.constant([[rng.uniform(-limit, limit) for _ in range(fan_out)]
                        for _ in range(fan_in)])


class TwoLayerPerceptron:
    """logits = tanh(x @ w1 + b1) @ w2 + b2"""

    def __init__(self, inputs, hidden, seed):
        rng = random.Random(seed)
        self.w1 = tf.Variable(glorot_uniform(inputs, hidden, rng), name="w1")
        self.b1 = tf.Variable(tf.zeros([hidden]), name="b1")
        self.w2 = tf.Variable(glorot_uniform(hidden, 1, rng), name="w2")
        self.b2 = tf.Variable(tf.zeros([1]), name="b2")
        self.trainable_variables = [self.w1, self.b1, self.w2, self.b2]

    def __call__(self, x):
        hidden = tf.tanh(tf.matmul(x, self.w1) + self.b1)
        return tf.matmul(hidden, self.w2) + self.b2


def binary_cross_entropy_from_logits(labels, logits):
    # -[y log(sigmoid(z)) + (1 - y) log(1 - sigmoid(z))] = softplus(z) - y z, stable for any z.
    return tf.reduce_mean(tf.softplus(logits) - labels * logits)


def accuracy(labels, logits):
    predicted = tf.cast(logits > 0.0, tf.float32)
    return float(tf.reduce_mean(tf.cast(tf.equal(predicted, labels), tf.float32)))


def main():
    features, labels = two_moons(POINTS_PER_CLASS, NOISE, SEED)
    model = TwoLayerPerceptron(inputs=2, hidden=HIDDEN, seed=SEED)
    print(f"two moons: {features.shape[0]} points, a 2-{HIDDEN}-1 tanh perceptron")
    print(f"accuracy before training: {accuracy(labels, model(features)):.3f}")

    for step in range(STEPS + 1):
        with tf.GradientTape() as tape:
            loss = binary_cross_entropy_from_logits(labels, model(features))
        gradients = tape.gradient(loss, model.trainable_variables)
        for variable, gradient in zip(model.trainable_variables, gradients):
            variable.assign_sub(LEARNING_RATE * gradient)
        if step % PRINT_EVERY == 0:
            print(f"step {step:4d}  loss {float(loss):.4f}")

    final = accuracy(labels, model(features))
    print(f"accuracy after {STEPS} steps: {final:.3f}")
    return final


if __name__ == "__main__":
    main()
