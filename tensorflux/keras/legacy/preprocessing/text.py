"""tf.keras.preprocessing.text: Keras 2's word-level text tools, the Tokenizer (a vocabulary
ranked by word frequency; texts to index sequences or to bag-of-words matrices), word
splitting and hashing. Plain Python; matrices come back as NumPy arrays."""

import collections
import hashlib
import json
import math
import warnings

import tensorflux as tf

__all__ = ["Tokenizer", "hashing_trick", "one_hot", "text_to_word_sequence",
           "tokenizer_from_json"]

_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


def text_to_word_sequence(input_text, filters=_FILTERS, lower=True, split=" "):
    """The words of a text: lowercased, each character of `filters` made a separator, split
    on `split`, empty words dropped.

    >>> import tensorflux as tf
    >>> tf.keras.preprocessing.text.text_to_word_sequence("Hello, world! Hello.")
    ['hello', 'world', 'hello']
    """
    if lower:
        input_text = input_text.lower()
    input_text = input_text.translate(str.maketrans({c: split for c in filters}))
    return [word for word in input_text.split(split) if word]


def hashing_trick(text, n, hash_function=None, filters=_FILTERS, lower=True, split=" ",
                  analyzer=None):
    """Each word of `text` as an index in [1, n - 1]: its hash modulo n - 1, plus 1.
    `hash_function` is Python's `hash` by default (salted per process unless
    PYTHONHASHSEED is set), "md5" for a stable one, or any function of a string."""
    if hash_function is None:
        hash_function = hash
    elif hash_function == "md5":
        def hash_function(word):
            return int(hashlib.md5(word.encode()).hexdigest(), 16)
    words = (text_to_word_sequence(text, filters=filters, lower=lower, split=split)
             if analyzer is None else analyzer(text))
    return [hash_function(word) % (n - 1) + 1 for word in words]


def one_hot(input_text, n, filters=_FILTERS, lower=True, split=" ", analyzer=None):
    """hashing_trick with Python's `hash`: each word as an index in [1, n - 1]."""
    return hashing_trick(input_text, n, hash_function=hash, filters=filters, lower=lower,
                         split=split, analyzer=analyzer)


class Tokenizer:
    """A word index built from texts: `fit_on_texts` counts words, ranks them by frequency
    (1 for the most frequent; `oov_token` takes 1 when given), then `texts_to_sequences` and
    `texts_to_matrix` encode texts with the `num_words - 1` most frequent words.

    >>> import tensorflux as tf
    >>> tokenizer = tf.keras.preprocessing.text.Tokenizer()
    >>> tokenizer.fit_on_texts(["the cat sat", "the dog"])
    >>> tokenizer.word_index["the"], tokenizer.texts_to_sequences(["the dog sat"])
    (1, [[1, 4, 3]])
    """

    def __init__(self, num_words=None, filters=_FILTERS, lower=True, split=" ",
                 char_level=False, oov_token=None, analyzer=None, **kwargs):
        if "nb_words" in kwargs:
            warnings.warn("The `nb_words` argument in `Tokenizer` has been renamed "
                          "`num_words`.", stacklevel=2)
            num_words = kwargs.pop("nb_words")
        document_count = kwargs.pop("document_count", 0)
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments: {kwargs}")
        self.word_counts = collections.OrderedDict()
        self.word_docs = collections.defaultdict(int)
        self.filters = filters
        self.split = split
        self.lower = lower
        self.num_words = num_words
        self.document_count = document_count
        self.char_level = char_level
        self.oov_token = oov_token
        self.index_docs = collections.defaultdict(int)
        self.word_index = {}
        self.index_word = {}
        self.analyzer = analyzer

    def _words(self, text):
        """A text's words; a list of strings or a character-level text is taken as is."""
        if self.char_level or isinstance(text, list):
            if self.lower:
                text = [t.lower() for t in text] if isinstance(text, list) else text.lower()
            return text
        if self.analyzer is not None:
            return self.analyzer(text)
        return text_to_word_sequence(text, filters=self.filters, lower=self.lower,
                                     split=self.split)

    def fit_on_texts(self, texts):
        """Counts the words of `texts` (strings, or lists of words) and re-ranks the index."""
        for text in texts:
            self.document_count += 1
            words = self._words(text)
            for word in words:
                self.word_counts[word] = self.word_counts.get(word, 0) + 1
            for word in set(words):
                self.word_docs[word] += 1
        # A stable sort: words of equal counts keep the order they were first seen in.
        ranked = sorted(self.word_counts.items(), key=lambda item: item[1], reverse=True)
        vocabulary = ([] if self.oov_token is None else [self.oov_token]) + \
            [word for word, _ in ranked]
        self.word_index = {word: i for i, word in enumerate(vocabulary, 1)}
        self.index_word = {i: word for word, i in self.word_index.items()}
        for word, count in list(self.word_docs.items()):
            self.index_docs[self.word_index[word]] = count

    def fit_on_sequences(self, sequences):
        """Counts, per index, the sequences it appears in (what tfidf mode needs)."""
        self.document_count += len(sequences)
        for sequence in sequences:
            for index in set(sequence):
                self.index_docs[index] += 1

    def _in_vocabulary(self, index):
        """`index` when it is one of the `num_words - 1` kept ones, else the oov index (or
        None, dropped, without an oov_token)."""
        if index is not None and not (self.num_words and index >= self.num_words):
            return index
        return self.word_index.get(self.oov_token) if self.oov_token is not None else None

    def texts_to_sequences_generator(self, texts):
        for text in texts:
            indices = (self._in_vocabulary(self.word_index.get(w)) for w in self._words(text))
            yield [i for i in indices if i is not None]

    def texts_to_sequences(self, texts):
        """Each text as a list of word indices (unknown words dropped, or the oov index)."""
        return list(self.texts_to_sequences_generator(texts))

    def sequences_to_texts_generator(self, sequences):
        for sequence in sequences:
            indices = (self._in_vocabulary(i if i in self.index_word else None)
                       for i in sequence)
            yield " ".join(self.index_word[i] for i in indices if i is not None)

    def sequences_to_texts(self, sequences):
        """Each sequence of indices as the text of its words, joined by spaces."""
        return list(self.sequences_to_texts_generator(sequences))

    def texts_to_matrix(self, texts, mode="binary"):
        """A (texts, num_words) NumPy array: see sequences_to_matrix."""
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(self, sequences, mode="binary"):
        """A (sequences, num_words) float64 NumPy array; entry [i, j] says how index j
        appears in sequence i: "binary" (1 or 0), "count", "freq" (count / length) or
        "tfidf" ((1 + log count) * log(1 + documents / (1 + documents with j)))."""
        if self.num_words:
            num_words = self.num_words
        elif self.word_index:
            num_words = len(self.word_index) + 1
        else:
            raise ValueError("Specify a dimension (`num_words` argument), or fit on some text "
                             "data first.")
        if mode not in ("binary", "count", "freq", "tfidf"):
            raise ValueError(f"Unknown vectorization mode: {mode}; expected 'binary', "
                             "'count', 'freq' or 'tfidf'")
        if mode == "tfidf" and not self.document_count:
            raise ValueError("Fit the Tokenizer on some data before using tfidf mode.")
        positions, values = [], []
        for i, sequence in enumerate(sequences):
            counts = collections.Counter(j for j in sequence if j < num_words)
            for j, count in counts.items():
                positions.append([i, j])
                values.append(self._matrix_value(mode, count, len(sequence), j))
        matrix = tf.scatter_nd(tf.constant(positions, "int64", shape=[len(values), 2]),
                               tf.constant(values, "float64", shape=[len(values)]),
                               [len(sequences), num_words])
        return matrix.numpy()

    def _matrix_value(self, mode, count, length, index):
        if mode == "binary":
            return 1.0
        if mode == "count":
            return float(count)
        if mode == "freq":
            return count / length
        tf_value = 1.0 + math.log(count)
        return tf_value * math.log(1.0 + self.document_count / (1 + self.index_docs.get(index, 0)))

    def get_config(self):
        """The settings and the fitted tables (the tables as JSON strings)."""
        return {
            "num_words": self.num_words, "filters": self.filters, "lower": self.lower,
            "split": self.split, "char_level": self.char_level, "oov_token": self.oov_token,
            "document_count": self.document_count,
            "word_counts": json.dumps(self.word_counts),
            "word_docs": json.dumps(self.word_docs),
            "index_docs": json.dumps(self.index_docs),
            "index_word": json.dumps(self.index_word),
            "word_index": json.dumps(self.word_index),
        }

    def to_json(self, **kwargs):
        """The tokenizer as a JSON string (kwargs go to json.dumps); tokenizer_from_json
        reads it back."""
        return json.dumps({"class_name": type(self).__name__, "config": self.get_config()},
                          **kwargs)


def tokenizer_from_json(json_string):
    """The Tokenizer that `Tokenizer.to_json` wrote (plain data: nothing in it is run)."""
    config = dict(json.loads(json_string).get("config"))
    tables = {name: json.loads(config.pop(name)) for name in
              ("word_counts", "word_docs", "index_docs", "index_word", "word_index")}
    tokenizer = Tokenizer(**config)
    tokenizer.word_counts = tables["word_counts"]
    tokenizer.word_docs = tables["word_docs"]
    tokenizer.index_docs = {int(k): v for k, v in tables["index_docs"].items()}
    tokenizer.index_word = {int(k): v for k, v in tables["index_word"].items()}
    tokenizer.word_index = tables["word_index"]
    return tokenizer
