"""tf.nn: activations, losses (CTC included), normalization, convolution and pooling."""

from tensorflux.ops.composite import embedding_lookup, l2_normalize
from tensorflux.ops.ctc import ctc_beam_search_decoder, ctc_greedy_decoder, ctc_loss
from tensorflux.ops.nn import (
    avg_pool,
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    batch_normalization,
    bias_add,
    conv1d,
    conv2d,
    conv2d_transpose,
    conv3d,
    depthwise_conv2d,
    dropout,
    elu,
    gelu,
    gru_sequence,
    l2_loss,
    leaky_relu,
    log_softmax,
    lstm_sequence,
    max_pool,
    max_pool1d,
    max_pool2d,
    max_pool3d,
    moments,
    relu,
    relu6,
    selu,
    sigmoid,
    sigmoid_cross_entropy_with_logits,
    silu,
    softmax,
    softmax_cross_entropy_with_logits,
    softplus,
    softsign,
    sparse_softmax_cross_entropy_with_logits,
    swish,
    tanh,
)
from tensorflux.ops.reduction import (
    top_k,
)

__all__ = [
    "embedding_lookup", "l2_normalize",
    "ctc_beam_search_decoder", "ctc_greedy_decoder", "ctc_loss",
    "gru_sequence", "lstm_sequence",
    "avg_pool", "avg_pool1d", "avg_pool2d", "batch_normalization", "bias_add", "conv1d", "conv2d",
    "conv2d_transpose", "depthwise_conv2d", "dropout", "elu", "gelu", "l2_loss", "leaky_relu",
    "log_softmax", "max_pool", "max_pool1d", "max_pool2d", "moments", "relu", "relu6", "selu",
    "sigmoid", "sigmoid_cross_entropy_with_logits", "silu", "softmax",
    "softmax_cross_entropy_with_logits", "softplus", "softsign",
    "sparse_softmax_cross_entropy_with_logits", "swish", "tanh", "top_k",
    "avg_pool3d", "conv3d", "max_pool3d",
]
