"""keras.layers recurrent layers: cells, RNN, SimpleRNN/LSTM/GRU, Bidirectional,
TimeDistributed and ConvLSTM."""

from tensorflux.keras.layers.rnn.cells import (
    GRUCell,
    LSTMCell,
    SimpleRNNCell,
    StackedRNNCells,
)
from tensorflux.keras.layers.rnn.conv_lstm import ConvLSTM2D, ConvLSTM2DCell
from tensorflux.keras.layers.rnn.recurrent import GRU, LSTM, SimpleRNN
from tensorflux.keras.layers.rnn.rnn import RNN
from tensorflux.keras.layers.rnn.wrappers import Bidirectional, TimeDistributed

__all__ = ["Bidirectional", "ConvLSTM2D", "ConvLSTM2DCell", "GRU", "GRUCell", "LSTM",
           "LSTMCell", "RNN", "SimpleRNN", "SimpleRNNCell", "StackedRNNCells",
           "TimeDistributed"]
