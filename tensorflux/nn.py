"""tf.nn: activations, losses (CTC included), normalization, convolution and pooling."""

from tensorflux.ops._lazy import lazy_attributes
from tensorflux.ops.composite import embedding_lookup, in_top_k, l2_normalize
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
    "gru_sequence", "lstm_sequence",
    "avg_pool", "avg_pool1d", "avg_pool2d", "batch_normalization", "bias_add", "conv1d", "conv2d",
    "conv2d_transpose", "depthwise_conv2d", "dropout", "elu", "gelu", "l2_loss", "leaky_relu",
    "log_softmax", "max_pool", "max_pool1d", "max_pool2d", "moments", "relu", "relu6", "selu",
    "sigmoid", "sigmoid_cross_entropy_with_logits", "silu", "softmax",
    "softmax_cross_entropy_with_logits", "softplus", "softsign",
    "sparse_softmax_cross_entropy_with_logits", "swish", "tanh", "top_k",
    "avg_pool3d", "conv3d", "max_pool3d", "in_top_k",
]

# Names whose modules load on first use, so that `import tensorflux` stays fast.
_LAZY = {
    **{name: "tensorflux.ops.nn_extra" for name in (
        "atrous_conv2d", "atrous_conv2d_transpose", "conv1d_transpose",
        "conv3d_transpose", "conv_transpose", "convolution", "crelu", "depth_to_space",
        "dilation2d", "embedding_lookup_sparse", "erosion2d", "local_response_normalization",
        "log_poisson_loss", "lrn",
        "max_pool_with_argmax", "normalize_moments", "pool",
        "separable_conv2d", "space_to_depth", "sufficient_statistics",
        "weighted_cross_entropy_with_logits", "weighted_moments")},
    **{name: "tensorflux.ops.sampling" for name in (
        "all_candidate_sampler", "compute_accidental_hits", "fixed_unigram_candidate_sampler",
        "nce_loss", "sampled_softmax_loss")},
    **{name: "tensorflux.ops.nn_more" for name in (
        "approx_max_k", "approx_min_k", "batch_norm_with_global_normalization",
        "collapse_repeated", "depthwise_conv2d_backprop_filter",
        "depthwise_conv2d_backprop_input", "fractional_avg_pool", "fractional_max_pool",
        "isotonic_regression", "learned_unigram_candidate_sampler",
        "safe_embedding_lookup_sparse")},
    # (per replica of the current tf.distribute strategy, as TF's)
    **{name: "tensorflux.distribute.losses" for name in (
        "compute_average_loss", "scale_regularization_loss")},
    **{name: "tensorflux.ops.ctc" for name in (
        "ctc_beam_search_decoder", "ctc_greedy_decoder", "ctc_loss", "ctc_unique_labels")},
    "space_to_batch": "tensorflux.ops.array_extra",
    "zero_fraction": "tensorflux.ops.math_extra",
}
__all__ += sorted(_LAZY)
__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)

# tf.nn.relu(rt), tf.nn.softmax(rt), tf.nn.embedding_lookup(params, rt)... take RaggedTensors,
# as TensorFlow dispatches them.
from tensorflux.ops.dispatch import install as _install_dispatch  # noqa: E402

_install_dispatch(globals())
