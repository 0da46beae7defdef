"""Dataset.element_spec reads no data: it comes from output_signature and from tracing map
functions on symbolic tensors, as in tf.data; where a function cannot be traced, the element
run for the spec is kept and handed out by the next pass. Generator pulls and side effects are
counted; expected values are TensorFlow 2.21's.
"""

import time

import numpy as np

import tensorflux as tf
from tensorflux import keras
from tensorflux.data import Dataset


def values(ds):
    return [np.asarray(v).tolist() for v in ds.as_numpy_iterator()]


def is_data(x):
    """Whether a map function was called on an element (not on a symbolic trace input)."""
    try:
        x.numpy()
    except Exception:
        return False
    return True


def test_one_shot_generator_keeps_its_first_element():
    it = iter(range(5))
    ds = Dataset.from_generator(lambda: it, output_signature=tf.TensorSpec((), tf.int32))
    ds = ds.map(lambda x: x * 10)
    assert ds.element_spec == tf.TensorSpec((), tf.int32)
    assert values(ds) == [0, 10, 20, 30, 40]


def test_element_spec_does_not_call_the_generator():
    calls = []

    def gen():
        calls.append(1)
        yield from range(3)

    ds = Dataset.from_generator(gen, output_signature=tf.TensorSpec((), tf.int32))
    ds = ds.map(lambda x: x * 2)
    assert ds.element_spec == tf.TensorSpec((), tf.int32)
    assert calls == []
    assert values(ds) == [0, 2, 4]
    assert len(calls) == 1


def test_variable_side_effect_runs_once_per_element():
    counter = tf.Variable(0)

    def f(x):
        counter.assign_add(1)
        return x

    ds = Dataset.range(3).map(f)
    assert ds.element_spec == tf.TensorSpec((), tf.int64)
    assert int(counter.numpy()) == 0
    values(ds)
    assert int(counter.numpy()) == 3


def test_map_function_sees_each_element_once():
    seen = []

    def f(x):
        if is_data(x):
            seen.append(int(x.numpy()))
        return x + 1

    ds = Dataset.range(4).map(f)
    _ = ds.element_spec
    assert seen == []
    assert values(ds) == [1, 2, 3, 4]
    assert seen == [0, 1, 2, 3]


def test_data_dependent_length_is_unknown():
    ds = Dataset.from_tensor_slices([3, 1, 2]).map(lambda n: tf.range(n))
    assert ds.element_spec == tf.TensorSpec((None,), tf.int32)
    assert values(ds) == [[0, 1, 2], [0], [0, 1]]


def test_traced_shapes_and_dtypes():
    ds = Dataset.range(5).map(lambda x: (tf.cast(x, tf.float32) * 2.0, x)).batch(2)
    assert [str(s.shape) for s in ds.element_spec] == ["(None,)", "(None,)"]
    ds = Dataset.range(3).map(lambda x: tf.random.uniform([2]))
    assert ds.element_spec == tf.TensorSpec((2,), tf.float32)
    ds = Dataset.from_tensor_slices(np.zeros((4, 3), np.float32)).batch(2)
    ds = ds.map(lambda x: tf.reduce_sum(x, axis=1))
    assert ds.element_spec == tf.TensorSpec((None,), tf.float32)
    assert Dataset.range(3).map(lambda x: 5).element_spec == tf.TensorSpec((), tf.int32)
    ds = Dataset.from_tensor_slices({"a": [1, 2], "b": [3, 4]})
    ds = ds.map(lambda d: {**d, "c": d["a"] + d["b"]})
    assert ds.element_spec["c"] == tf.TensorSpec((), tf.int32)


def test_spec_of_an_empty_filtered_dataset():
    ds = Dataset.range(5).map(lambda x: tf.cast(x, tf.float32)).filter(lambda x: x > 100.0)
    assert ds.element_spec == tf.TensorSpec((), tf.float32)
    assert values(ds) == []


def test_spec_is_cheap_on_a_large_shuffled_pipeline():
    ds = Dataset.range(100000).shuffle(100000).map(lambda x: x)
    start = time.perf_counter()
    assert ds.element_spec == tf.TensorSpec((), tf.int64)
    assert time.perf_counter() - start < 1.0


def test_untraceable_function_keeps_the_element_it_ran_for_the_spec():
    # .numpy() inside map fails in TF (no value while tracing); tensorflux runs the function
    # eagerly, so it falls back to the first element, which the next pass then starts with.
    calls, seen = [], []

    def gen():
        calls.append(1)
        yield from range(4)

    def f(x):
        seen.append(int(x.numpy()))
        return x.numpy() + 1

    it = gen()
    ds = Dataset.from_generator(lambda: it, output_signature=tf.TensorSpec((), tf.int32))
    ds = ds.map(f)
    assert ds.element_spec == tf.TensorSpec((), tf.int32)
    assert values(ds) == [1, 2, 3, 4]
    assert seen == [0, 1, 2, 3]
    assert len(calls) == 1


def test_interleave_spec_keeps_the_one_shot_input():
    it = iter(range(4))
    ds = Dataset.from_generator(lambda: it, output_signature=tf.TensorSpec((), tf.int32))
    ds = ds.interleave(lambda x: Dataset.from_tensors(x).repeat(2), cycle_length=1)
    assert ds.element_spec == tf.TensorSpec((), tf.int32)
    assert values(ds) == [0, 0, 1, 1, 2, 2, 3, 3]


def test_concatenate_of_one_shot_pipelines_loses_nothing():
    first, second = iter(range(3)), iter(range(10, 12))
    spec = tf.TensorSpec((), tf.int32)
    a = Dataset.from_generator(lambda: first, output_signature=spec).map(lambda x: x + 0)
    b = Dataset.from_generator(lambda: second, output_signature=spec).map(lambda x: x + 0)
    ds = a.concatenate(b)
    assert ds.element_spec == spec
    assert values(ds) == [0, 1, 2, 10, 11]


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    return model


def _counting_dataset(seen):
    def gen():
        for i in range(6):
            seen.append(i)
            yield np.ones((3,), np.float32) * i, np.float32(i)

    spec = (tf.TensorSpec((3,), tf.float32), tf.TensorSpec((), tf.float32))
    return Dataset.from_generator(gen, output_signature=spec).map(
        lambda x, y: (x / 10.0, y)).batch(3)


def test_fit_pulls_each_generator_element_once_per_epoch():
    seen = []
    history = _model().fit(_counting_dataset(seen), epochs=1, verbose=0)
    assert seen == [0, 1, 2, 3, 4, 5]
    assert len(history.history["loss"]) == 1
    seen.clear()
    _model().fit(_counting_dataset(seen), epochs=2, verbose=0)
    assert seen == [0, 1, 2, 3, 4, 5] * 2


def test_fit_on_a_one_shot_dataset_sees_every_batch():
    it = iter([(np.ones((2, 3), np.float32) * i, np.full((2,), float(i), np.float32))
               for i in range(4)])
    spec = (tf.TensorSpec((None, 3), tf.float32), tf.TensorSpec((None,), tf.float32))
    ds = Dataset.from_generator(lambda: it, output_signature=spec)
    batches = []

    class Count(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches.append(batch)

    _model().fit(ds, epochs=1, verbose=0, callbacks=[Count()])
    assert batches == [0, 1, 2, 3]


def test_evaluate_and_predict_pull_each_element_once():
    seen = []
    model = _model()
    model.evaluate(_counting_dataset(seen), verbose=0)
    assert seen == [0, 1, 2, 3, 4, 5]
    seen.clear()
    out = model.predict(_counting_dataset(seen).map(lambda x, y: x), verbose=0)
    assert seen == [0, 1, 2, 3, 4, 5]
    assert out.shape == (6, 1)
