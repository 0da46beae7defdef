"""Probe round 13, keras.io "Timeseries" and "Audio" examples condensed: classification from
scratch (Conv1D blocks, checkpoint / LR / early-stopping callbacks), a Transformer encoder
classifier, weather forecasting on timeseries_dataset_from_array windows, traffic forecasting
with a graph-convolution + LSTM layer, a Conv1DTranspose anomaly autoencoder, a DeepSpeech-style
CTC model with keras.ops.ctc_loss / ctc_decode, the STFTSpectrogram audio example on
variable-length inputs, and the speaker-recognition tf.data pipeline (wav files, decode_wav in
Dataset.map, tf.signal.fft features).

Each example runs here and in real Keras 3 (torch backend) from the same weights and batches and
must give the same logs keys, shapes and numbers; the tf.* parts are checked against NumPy. The
TensorFlow facts in comments were observed on TensorFlow 2.21 (Keras 3.15 on its TF backend)."""

import io
import os
import wave

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import (  # noqa: F401
    assert_matches,
    assert_same_results,
    fresh_names,
    history_lists,
    import_keras,
    to_numpy,
)

pytestmark = pytest.mark.keras_oracle


def _ours(k):
    return k is keras


def _init(variables, seed, scale=0.2):
    """The same deterministic values for our and Keras's float weights, in weights order
    (moving variances kept positive)."""
    rng = np.random.default_rng(seed)
    for w in variables:
        if np.dtype(getattr(w.dtype, "name", w.dtype)).kind == "f":
            value = (scale * rng.standard_normal(tuple(w.shape))).astype("float32")
            w.assign(1.0 + np.abs(value) if "variance" in w.path else value)


def _both(example, rtol=1e-4, atol=1e-4):
    assert_same_results(example(keras), example(import_keras()), rtol=rtol, atol=atol)


def test_conv1d_classifier_with_checkpoint_lr_and_early_stopping_matches_keras(tmp_path):
    rng = np.random.default_rng(0)
    x, xv = rng.standard_normal((40, 32, 1)), rng.standard_normal((10, 32, 1))
    x, xv = x.astype("float32"), xv.astype("float32")
    y, yv = (x.mean(axis=(1, 2)) > 0).astype("int64"), (xv.mean(axis=(1, 2)) > 0).astype("int64")

    def example(k):
        inputs = k.layers.Input(x.shape[1:])
        h = inputs
        for _ in range(3):
            h = k.layers.Conv1D(filters=8, kernel_size=3, padding="same")(h)
            h = k.layers.BatchNormalization()(h)
            h = k.layers.ReLU()(h)
        h = k.layers.GlobalAveragePooling1D()(h)
        model = k.models.Model(inputs, k.layers.Dense(2, activation="softmax")(h))
        _init(model.weights, 1)
        path = str(tmp_path / f"best_{'ours' if _ours(k) else 'keras'}.keras")
        callbacks = [
            k.callbacks.ModelCheckpoint(path, save_best_only=True, monitor="val_loss"),
            k.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1,
                                          min_lr=0.0001),
            k.callbacks.EarlyStopping(monitor="val_loss", patience=3),
        ]
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["sparse_categorical_accuracy"])
        history = model.fit(x, y, batch_size=8, epochs=6, callbacks=callbacks, shuffle=False,
                            validation_data=(xv, yv), verbose=0)
        best = k.models.load_model(path)
        return {"history": history_lists(history), "predict": best.predict(xv, verbose=0),
                "evaluate": best.evaluate(xv, yv, verbose=0, return_dict=True),
                "lr": np.float32(model.optimizer.learning_rate)}

    _both(example)


def test_transformer_encoder_classifier_matches_keras():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 16, 1)).astype("float32")
    y = (x.mean(axis=(1, 2)) > 0).astype("int64")

    def example(k):
        layers = k.layers

        def encoder(inputs):
            h = layers.MultiHeadAttention(key_dim=8, num_heads=2, dropout=0.0)(inputs, inputs)
            h = layers.LayerNormalization(epsilon=1e-6)(layers.Dropout(0.0)(h))
            res = h + inputs
            h = layers.Conv1D(filters=4, kernel_size=1, activation="relu")(res)
            h = layers.Conv1D(filters=inputs.shape[-1], kernel_size=1)(h)
            return layers.LayerNormalization(epsilon=1e-6)(h) + res

        inputs = k.Input(shape=x.shape[1:])
        h = encoder(encoder(inputs))
        h = layers.GlobalAveragePooling1D(data_format="channels_first")(h)
        h = layers.Dense(8, activation="relu")(h)
        model = k.Model(inputs, layers.Dense(2, activation="softmax")(h))
        _init(model.weights, 2)
        model.compile(loss="sparse_categorical_crossentropy",
                      optimizer=k.optimizers.Adam(learning_rate=1e-3),
                      metrics=["sparse_categorical_accuracy"])
        history = model.fit(x, y, validation_split=0.25, epochs=3, batch_size=6, verbose=0,
                            shuffle=False, callbacks=[
                                k.callbacks.EarlyStopping(patience=10,
                                                          restore_best_weights=True)])
        return {"history": history_lists(history), "predict": model.predict(x[:5], verbose=0),
                "pooled": tuple(model.layers[-2].input.shape)}

    _both(example)


def _windows(data, targets, length, rate, stride, start=0):
    """NumPy's sliding windows: rows start + p + k * rate for p = 0, stride, ..."""
    count = len(data) - start - (length - 1) * rate
    if targets is not None:
        count = min(count, len(targets) - start)
    positions = range(0, max(count, 0), stride)
    xs = np.stack([data[start + p: start + p + length * rate: rate] for p in positions])
    return xs, None if targets is None else np.stack([targets[start + p] for p in positions])


def test_weather_windows_match_numpy_and_their_lstm_matches_keras(tmp_path):
    rng = np.random.default_rng(3)
    raw = rng.standard_normal((320, 4)).astype("float32")
    raw = (raw - raw[:300].mean(axis=0)) / raw[:300].std(axis=0)
    dataset = keras.utils.timeseries_dataset_from_array(
        raw[:300], raw[10:310, 1], sequence_length=8, sampling_rate=2, sequence_stride=3,
        batch_size=32)
    batches = [(x.numpy(), y.numpy()) for x, y in dataset]
    assert [len(x) for x, _ in batches[:-1]] == [32] * (len(batches) - 1)
    x, y = (np.concatenate(parts) for parts in zip(*batches))
    want_x, want_y = _windows(raw[:300], raw[10:310, 1], 8, 2, 3)
    np.testing.assert_array_equal(x, want_x)
    np.testing.assert_array_equal(y, want_y)

    def example(k):
        inputs = k.layers.Input(shape=x.shape[1:])
        model = k.Model(inputs, k.layers.Dense(1)(k.layers.LSTM(32)(inputs)))
        _init(model.weights, 4, scale=0.1)
        model.compile(optimizer=k.optimizers.Adam(learning_rate=0.001), loss="mse")
        path = str(tmp_path / f"{'ours' if _ours(k) else 'keras'}.weights.h5")
        history = model.fit(x[:64], y[:64], epochs=3, batch_size=32, shuffle=False, verbose=0,
                            validation_data=(x[64:], y[64:]), callbacks=[
                                k.callbacks.EarlyStopping(monitor="val_loss", patience=5),
                                k.callbacks.ModelCheckpoint(path, monitor="val_loss",
                                                            save_weights_only=True,
                                                            save_best_only=True)])
        model.load_weights(path)
        return {"history": history_lists(history), "predict": model.predict(x[:6], verbose=0)}

    _both(example, rtol=1e-4, atol=1e-5)


def test_timeseries_window_arguments_take_whole_numbers_only():
    # TF 2.21's Keras takes sequence_length=3.0 (NumPy's arange accepts it) and gives the
    # windows of 3; 2.5 would make fractional row indices.
    data = np.arange(10)
    whole = keras.utils.timeseries_dataset_from_array(data, None, sequence_length=3.0,
                                                      sequence_stride=np.float64(2.0))
    np.testing.assert_array_equal(next(iter(whole)).numpy(), _windows(data, None, 3, 1, 2)[0])
    with pytest.raises(TypeError, match=r"`sequence_length` must be an integer.*2\.5"):
        keras.utils.timeseries_dataset_from_array(data, None, sequence_length=2.5)
    with pytest.raises(TypeError, match=r"`sampling_rate` must be an integer.*'2'"):
        keras.utils.timeseries_dataset_from_array(data, None, sequence_length=3,
                                                  sampling_rate="2")


def test_traffic_graph_conv_lstm_layer_matches_keras():
    nodes, steps, horizon, batch = 5, 6, 3, 8
    rng = np.random.default_rng(5)
    speeds = rng.standard_normal((60, nodes)).astype("float32")
    adjacency = rng.random((nodes, nodes)) < 0.4
    np.fill_diagonal(adjacency, True)
    senders, receivers = np.where(adjacency)
    inputs_ds = keras.utils.timeseries_dataset_from_array(
        speeds[:-horizon, :, None], None, sequence_length=steps, batch_size=batch)
    targets_ds = keras.utils.timeseries_dataset_from_array(
        speeds[steps:], None, sequence_length=horizon, batch_size=batch)
    train = tf.data.Dataset.zip((inputs_ds, targets_ds)).prefetch(16).cache()
    x, y = (np.concatenate([b.numpy() for b in parts]) for parts in zip(*train))
    np.testing.assert_array_equal(x, _windows(speeds[:-horizon, :, None], None, steps, 1, 1)[0])

    def example(k):
        ops, layers = k.ops, k.layers

        class GraphConv(layers.Layer):
            def __init__(self, in_feat, out_feat, **kwargs):
                super().__init__(**kwargs)
                self.weight = self.add_weight(shape=(in_feat, out_feat),
                                              initializer="glorot_uniform")

            def aggregate(self, neighbours):
                if _ours(k):  # the example's tf.math.unsorted_segment_mean
                    return tf.math.unsorted_segment_mean(neighbours, senders,
                                                         num_segments=nodes)
                total = ops.segment_sum(neighbours, senders, num_segments=nodes)
                count = ops.segment_sum(ops.ones_like(neighbours), senders, num_segments=nodes)
                return total / count

            def call(self, features):  # (nodes, batch, time, feat)
                own = (tf if _ours(k) else ops).tensordot(features, self.weight, axes=1)
                neighbours = ops.take(features, receivers, axis=0)
                messages = ops.einsum("nbtf,fo->nbto", self.aggregate(neighbours), self.weight)
                return ops.concatenate([own, messages], axis=-1)

        class LSTMGC(layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.graph_conv = GraphConv(1, 4)
                self.lstm = layers.LSTM(8, activation="relu")
                self.dense = layers.Dense(horizon)

            def call(self, inputs):
                h = self.graph_conv(ops.transpose(inputs, [2, 0, 1, 3]))
                n, b, t, f = (ops.shape(h)[i] for i in range(4))
                h = self.dense(self.lstm(ops.reshape(h, (b * n, t, f))))
                return ops.transpose(ops.reshape(h, (n, b, horizon)), [1, 2, 0])

        inputs = layers.Input((steps, nodes, 1))
        model = k.models.Model(inputs, LSTMGC()(inputs))
        _init(model.weights, 6, scale=0.3)
        model.compile(optimizer=k.optimizers.RMSprop(learning_rate=0.0002), loss="mse")
        if _ours(k):  # the example fits on the zipped tf.data windows
            history = model.fit(train, validation_data=train.take(2), epochs=3, verbose=0)
        else:
            history = model.fit(x, y, validation_data=(x[:16], y[:16]), batch_size=batch,
                                epochs=3, shuffle=False, verbose=0)
        return {"history": history_lists(history), "predict": model.predict(x[:batch], verbose=0),
                "paths": [w.path for w in model.weights]}

    _both(example, rtol=1e-4, atol=1e-5)


def test_conv1d_transpose_anomaly_autoencoder_matches_keras():
    steps = 12
    rng = np.random.default_rng(7)
    values = np.sin(np.arange(120) / 4.0) + 0.05 * rng.standard_normal(120)
    values = ((values - values.mean()) / values.std()).astype("float32")
    train = np.stack([values[i:i + steps] for i in range(len(values) - steps + 1)])[..., None]
    spiked = values.copy()
    spiked[60:64] += 4.0
    test = np.stack([spiked[i:i + steps] for i in range(len(spiked) - steps + 1)])[..., None]

    def example(k):
        layers = k.layers
        model = k.Sequential([
            layers.Input(shape=(steps, 1)),
            layers.Conv1D(8, 7, padding="same", strides=2, activation="relu"),
            layers.Dropout(rate=0.2),
            layers.Conv1D(4, 7, padding="same", strides=2, activation="relu"),
            layers.Conv1DTranspose(4, 7, padding="same", strides=2, activation="relu"),
            layers.Dropout(rate=0.2),
            layers.Conv1DTranspose(8, 7, padding="same", strides=2, activation="relu"),
            layers.Conv1DTranspose(1, 7, padding="same"),
        ])
        _init(model.weights, 8)
        model.compile(optimizer=k.optimizers.Adam(learning_rate=0.001), loss="mse")
        train_loss = np.mean(np.abs(model.predict(train, verbose=0) - train), axis=1)
        test_loss = np.mean(np.abs(model.predict(test, verbose=0) - test), axis=1)
        transposed = layers.Conv1DTranspose(3, 4, strides=3, output_padding=2)
        return {"shapes": [tuple(layer.output.shape) for layer in model.layers],
                "threshold": np.max(train_loss), "anomalies": test_loss > np.max(train_loss),
                "evaluate": model.evaluate(test, test, batch_size=16, verbose=0),
                "output_padding": tuple(transposed(np.ones((2, 5, 2), "float32")).shape)}

    _both(example, rtol=1e-4, atol=1e-5)


def test_stft_spectrogram_takes_inputs_of_unknown_length_like_keras():
    # Was: "STFTSpectrogram needs the time and channel dimensions of its input" for
    # Input((None, 1)), the variable-length audio input of keras.io's STFT example.
    def example(k):
        layers = k.layers
        audio = k.Input((None, 3))
        shapes = [tuple(layers.STFTSpectrogram(frame_length=8, frame_step=4, **kwargs)(
            audio if kwargs.get("data_format") != "channels_first" else k.Input((3, None))
        ).shape) for kwargs in ({}, {"padding": "same"}, {"expand_dims": True},
                                {"mode": "stft"}, {"data_format": "channels_first"})]
        mel = layers.MelSpectrogram(fft_length=16, sequence_stride=4, num_mel_bins=5,
                                    sampling_rate=100)(k.Input((None,)))
        return {"stft": shapes, "mel": tuple(mel.shape)}

    _both(example)
    with pytest.raises(ValueError, match="channel dimension.*None, 40, None"):
        keras.layers.STFTSpectrogram(frame_length=8)(keras.Input((40, None)))


def test_stft_audio_example_on_variable_length_audio_matches_keras():
    rate = 800
    rng = np.random.default_rng(20)
    x = rng.uniform(-1, 1, (4, 400, 1)).astype("float32")
    y = np.eye(3, dtype="float32")[[0, 2, 1, 0]]

    def example(k):
        layers = k.layers
        model1d = k.Sequential([
            layers.InputLayer((None, 1)),
            layers.STFTSpectrogram(mode="log", frame_length=rate * 40 // 1000,
                                   frame_step=rate * 15 // 1000, trainable=False),
            layers.Conv1D(8, 8, activation="relu"),
            layers.LayerNormalization(),
            layers.MaxPooling1D(2),
            layers.GlobalMaxPooling1D(),
            layers.Dense(3, activation="softmax"),
        ])
        _init(model1d.trainable_weights, 21)
        model1d.compile(optimizer=k.optimizers.Adam(1e-3), loss="categorical_crossentropy",
                        metrics=["accuracy"])
        history1d = model1d.fit(x, y, epochs=2, batch_size=2, shuffle=False, verbose=0)
        audio = layers.Input((None, 1))
        multi = layers.Concatenate(axis=-1)([
            layers.STFTSpectrogram(mode="log", frame_length=rate * size // 1000,
                                   frame_step=rate * 15 // 1000, fft_length=64,
                                   padding="same", expand_dims=True, trainable=True)(audio)
            for size in (30, 40, 50)])
        h = layers.Conv2D(4, 3, activation="relu")(layers.Resizing(16, 16)(multi))
        model2d = k.Model(audio, layers.Dense(3, activation="softmax")(
            layers.GlobalMaxPooling2D()(h)))
        _init([w for w in model2d.weights if "spectrogram" not in w.path], 22)
        model2d.compile(optimizer=k.optimizers.Adam(1e-3), loss="categorical_crossentropy")
        history2d = model2d.fit(x, y, epochs=2, batch_size=2, shuffle=False, verbose=0)
        return {"history1d": history_lists(history1d), "history2d": history_lists(history2d),
                "predict1d": model1d.predict(x[:, :250], verbose=0),
                "predict2d": model2d.predict(x[:, :300], verbose=0),
                "stft_kernels": model2d.layers[1].get_weights(),
                "multi": tuple(multi.shape)}

    _both(example, rtol=2e-4, atol=2e-4)


def test_deepspeech_style_ctc_model_and_decoders_match_keras():
    rng = np.random.default_rng(11)
    bins = 17
    spectrograms = rng.standard_normal((4, 20, bins)).astype("float32")
    labels = np.array([[3, 4, 5, 0], [1, 2, 0, 0], [6, 6, 2, 1], [7, 0, 0, 0]], "int32")

    def example(k):
        layers, ops = k.layers, k.ops

        def ctc_loss(y_true, y_pred):
            batch = ops.shape(y_true)[0]
            input_length = ops.shape(y_pred)[1] * ops.ones((batch,), "int32")
            label_length = ops.sum(ops.cast(ops.not_equal(y_true, 0), "int32"), axis=-1)
            return ops.ctc_loss(ops.cast(y_true, "int32"), y_pred, label_length, input_length,
                                mask_index=0)

        spectrogram = layers.Input((None, bins))
        h = layers.Reshape((-1, bins, 1))(spectrogram)
        h = layers.Conv2D(4, [5, 7], strides=[2, 2], padding="same", use_bias=False)(h)
        h = layers.ReLU()(layers.BatchNormalization()(h))
        h = layers.Reshape((-1, h.shape[-2] * h.shape[-1]))(h)
        h = layers.Bidirectional(layers.GRU(6, return_sequences=True, reset_after=True))(h)
        h = layers.ReLU()(layers.Dense(12)(h))
        model = k.Model(spectrogram, layers.Dense(9, activation="softmax")(h))
        _init(model.weights, 12, scale=0.3)
        model.compile(optimizer=k.optimizers.Adam(learning_rate=1e-3), loss=ctc_loss)
        history = model.fit(spectrograms, labels, batch_size=2, epochs=2, shuffle=False,
                            verbose=0)
        predictions = model.predict(spectrograms, verbose=0)
        lengths = np.full(len(predictions), predictions.shape[1])
        greedy, greedy_scores = ops.ctc_decode(predictions, lengths, strategy="greedy")
        beams, beam_scores = ops.ctc_decode(predictions, lengths.astype("int32"),
                                            strategy="beam_search", beam_width=5, top_paths=2)
        return {"history": history_lists(history), "predict": predictions, "greedy": greedy,
                "greedy_scores": greedy_scores, "beams": beams, "beam_scores": beam_scores,
                "loss": ctc_loss(ops.convert_to_tensor(labels),
                                 ops.convert_to_tensor(predictions))}

    _both(example)


def test_istft_length_clips_outside_the_torch_istft_case_like_keras():
    # Keras on TF 2.21 (and JAX) clips in every case: istft(stft(x, 16, 4, 16), length=60) of
    # 40 samples has 48; Keras on torch zero-pads only where it calls torch.istft
    # (sequence_length == fft_length, centred, a window).
    k = import_keras()
    x = np.random.default_rng(0).standard_normal((2, 40)).astype("float32")
    for length, fft, center, window in ((44, 16, False, "hann"), (60, 16, True, None),
                                        (60, 12, True, "hann"), (60, 16, True, "hann")):
        kwargs = dict(center=center, window=window)
        ours = keras.ops.istft(keras.ops.stft(x, fft, 4, 16, **kwargs), fft, 4, 16,
                               length=length, **kwargs)
        theirs = k.ops.istft(k.ops.stft(x, fft, 4, 16, **kwargs), fft, 4, 16, length=length,
                             **kwargs)
        assert_matches(ours, theirs, rtol=1e-5, atol=1e-5, what=f"istft {length, fft, kwargs}")


def _wav(samples, rate):
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as file:
        file.setnchannels(samples.shape[1])
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def test_speaker_recognition_wav_pipeline_matches_numpy(tmp_path):
    # TF 2.21 gives the same batches: decode_wav(contents, 1, 300) keeps the first channel
    # and zero-pads or cuts to 300 frames, also when traced by Dataset.map.
    rng = np.random.default_rng(0)
    paths, clips = [], []
    for i in range(4):
        samples = rng.integers(-30000, 30000, (200 + 80 * i, 1 + i % 2))
        paths.append(str(tmp_path / f"speaker{i}.wav"))
        with open(paths[-1], "wb") as file:
            file.write(_wav(samples, 1600))
        clip = np.zeros(300)
        clip[:min(300, len(samples))] = samples[:300, 0] / 32768.0
        clips.append(clip)

    def path_to_audio(path):
        audio, _ = tf.audio.decode_wav(tf.io.read_file(path), 1, 300)
        return audio

    def audio_to_fft(audio):
        audio = tf.squeeze(audio, axis=-1)
        fft = tf.signal.fft(tf.cast(tf.complex(real=audio, imag=tf.zeros_like(audio)),
                                    tf.complex64))
        return tf.math.abs(tf.expand_dims(fft, axis=-1)[:, :audio.shape[1] // 2, :])

    audio_ds = tf.data.Dataset.from_tensor_slices(paths).map(path_to_audio,
                                                             num_parallel_calls=tf.data.AUTOTUNE)
    dataset = tf.data.Dataset.zip((audio_ds, tf.data.Dataset.from_tensor_slices([0, 1, 0, 1])))
    dataset = dataset.batch(2).map(lambda x, y: (audio_to_fft(x), y)).prefetch(tf.data.AUTOTUNE)
    features = np.concatenate([x.numpy() for x, _ in dataset])
    assert features.dtype == np.float32 and features.shape == (4, 150, 1)
    want = np.abs(np.fft.fft(np.stack(clips), axis=-1))[:, :150, None]
    np.testing.assert_allclose(features, want, rtol=1e-4, atol=1e-3)


def test_keras_files_of_a_spectrogram_model_load_in_keras(tmp_path):
    k = import_keras()
    audio = keras.Input((None, 1))
    h = keras.layers.STFTSpectrogram(mode="log", frame_length=32, frame_step=16)(audio)
    model = keras.Model(audio, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling1D()(h)))
    path = os.path.join(tmp_path, "spectrogram.keras")
    model.save(path)
    x = np.random.default_rng(1).uniform(-1, 1, (2, 200, 1)).astype("float32")
    assert_matches(model.predict(x, verbose=0), k.models.load_model(path).predict(x, verbose=0),
                   rtol=1e-5, atol=1e-5, what="reloaded in Keras")
