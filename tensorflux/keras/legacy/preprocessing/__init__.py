"""tf.keras.preprocessing's Keras 2 helpers: image (ImageDataGenerator and its iterators,
random transforms), text (Tokenizer) and sequence (TimeseriesGenerator, skipgrams)."""
