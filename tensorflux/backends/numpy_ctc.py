"""CTC kernels of the NumPy backend: the loss's forward and backward recursions, beam search.

The loss works on the lattice of extended-label states (blank, l1, blank, l2, ..., blank):
2 * max_labels + 1 states per sequence. The forward kernel runs the alpha recursion in log
space over the whole batch at once, one vectorised step per frame, and keeps every frame's
alphas; the gradient kernel runs the beta recursion the same way and turns the state
occupancies into d loss / d logits. Both compute in float64 whatever the logits' dtype, since
a long sequence's log-probabilities sum many terms. A sequence's frames past its
logit_length leave its states unchanged, and its gradient there is zero.
"""

import numpy as np

__all__ = ["ctc_loss", "ctc_loss_grad", "ctc_beam_search_decode"]


def _log_softmax(logits):
    x = logits.astype(np.float64)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _logsumexp3(a, b, c):
    """log(exp(a) + exp(b) + exp(c)) elementwise; -inf where all three are -inf."""
    top = np.maximum(np.maximum(a, b), c)
    shift = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return shift + np.log(np.exp(a - shift) + np.exp(b - shift) + np.exp(c - shift))


def _lengths(values, limit, what, limit_what):
    values = np.asarray(values).astype(np.intp).reshape(-1)
    bad = (values < 0) | (values > limit)
    if bad.any():
        raise ValueError(f"{what} must be in [0, {limit}] ({limit_what}), received "
                         f"{int(values[bad][0])}")
    return values


def _lattice(labels, logits, label_length, logit_length, blank):
    """(log-probabilities [B, T, C], each state's log-probability per frame [T, B, S], the
    states' labels [B, S], whether a state may be entered from two states back [B, S], label
    lengths, frame lengths)."""
    batch, frames, classes = logits.shape
    max_labels = labels.shape[1]
    label_length = _lengths(label_length, max_labels, "label_length",
                            "the labels' second dimension")
    logit_length = _lengths(logit_length, frames, "logit_length", "the number of frames")
    within = np.arange(max_labels) < label_length[:, None]
    labels = labels.astype(np.intp)
    bad = within & ((labels < 0) | (labels >= classes))
    if bad.any():
        raise ValueError(f"labels must be class indices in [0, {classes}), received label "
                         f"{int(labels[bad][0])}")
    states = 2 * max_labels + 1
    state_labels = np.full((batch, states), blank, np.intp)
    state_labels[:, 1::2] = np.where(within, labels, blank)
    # A label state may skip the blank before it unless it repeats the label two states back.
    skip = np.zeros((batch, states), bool)
    skip[:, 3::2] = state_labels[:, 3::2] != state_labels[:, 1:-2:2]
    log_probs = _log_softmax(logits)
    emit = np.take_along_axis(log_probs, state_labels[:, None, :], axis=2)
    emit = np.ascontiguousarray(emit.transpose(1, 0, 2))
    return log_probs, emit, state_labels, skip, label_length, logit_length


def ctc_loss(labels, logits, label_length, logit_length, *, blank):
    _, emit, _, skip, label_length, logit_length = _lattice(
        labels, logits, label_length, logit_length, blank)
    frames, batch, states = emit.shape
    # Before the first frame all mass is in state 0 ("about to emit the first blank").
    alpha = np.full((batch, states), -np.inf)
    alpha[:, 0] = 0.0
    history = np.empty((frames, batch, states))
    from_previous = np.full((batch, states), -np.inf)
    from_skip = np.full((batch, states), -np.inf)
    for t in range(frames):
        from_previous[:, 1:] = alpha[:, :-1]
        from_skip[:, 2:] = np.where(skip[:, 2:], alpha[:, :-2], -np.inf)
        stepped = _logsumexp3(alpha, from_previous, from_skip) + emit[t]
        alpha = np.where((t < logit_length)[:, None], stepped, alpha)
        history[t] = alpha
    rows = np.arange(batch)
    last = 2 * label_length
    final = alpha[rows, last]
    before = np.where(label_length > 0, alpha[rows, np.maximum(last - 1, 0)], -np.inf)
    loss = -np.logaddexp(final, before)
    return loss.astype(logits.dtype), history


def ctc_loss_grad(labels, logits, label_length, logit_length, log_alpha, loss, *, blank):
    log_probs, emit, state_labels, skip, label_length, logit_length = _lattice(
        labels, logits, label_length, logit_length, blank)
    frames, batch, states = emit.shape
    classes = log_probs.shape[-1]
    columns = np.arange(states)[None, :]
    last = 2 * label_length[:, None]
    ending = (columns == last) | ((columns == last - 1) & (label_length[:, None] > 0))
    # beta[t, s]: log-probability of the frames after t given state s at frame t; it starts
    # at each sequence's last frame.
    start = np.where(ending, 0.0, -np.inf)
    skip_ahead = np.zeros((batch, states), bool)
    skip_ahead[:, :-2] = skip[:, 2:]
    beta = start
    log_occupancy = np.empty((frames, batch, states))
    to_next = np.full((batch, states), -np.inf)
    to_skip = np.full((batch, states), -np.inf)
    for t in range(frames - 1, -1, -1):
        if t < frames - 1:
            ahead = beta + emit[t + 1]
            to_next[:, :-1] = ahead[:, 1:]
            to_skip[:, :-2] = np.where(skip_ahead[:, :-2], ahead[:, 2:], -np.inf)
            stepped = _logsumexp3(ahead, to_next, to_skip)
            beta = np.where((t + 1 < logit_length)[:, None], stepped, start)
        log_occupancy[t] = log_alpha[t] + beta
    # An impossible labelling (loss inf) gives NaN gradients, as PyTorch's and TF's CTC do.
    with np.errstate(invalid="ignore"):
        occupancy = np.exp(log_occupancy + loss.astype(np.float64)[None, :, None])
    one_hot = np.zeros((batch, states, classes))
    np.put_along_axis(one_hot, state_labels[:, :, None], 1.0, axis=2)
    expected = np.matmul(occupancy.transpose(1, 0, 2), one_hot)
    grad = np.exp(log_probs) - expected
    active = np.arange(frames)[None, :] < logit_length[:, None]
    return np.where(active[:, :, None], grad, 0.0).astype(logits.dtype)


# ---- beam search
# A prefix beam search: each prefix in the beam carries two log-probabilities, of its
# alignments ending in a blank and ending in its last label; each frame extends every prefix
# by every class, merges the candidates that spell the same prefix, and keeps the beam_width
# most probable prefixes.

def _merge(keys, scores, count):
    """Per key in [0, count): log(sum(exp(scores))) of its scores, -inf where it has none."""
    top = np.full(count, -np.inf)
    np.maximum.at(top, keys, scores)
    shift = np.where(np.isfinite(top), top, 0.0)
    total = np.bincount(keys, weights=np.exp(scores - shift[keys]), minlength=count)
    with np.errstate(divide="ignore"):
        return np.log(total) + shift


def _beam_step(paths, sizes, ends_blank, ends_label, step, labels, blank):
    """The candidates one frame makes of the beam: (paths, ending-in-blank and ending-in-label
    log-probabilities), one row per (prefix kept as is) and per (prefix, label) extension;
    different rows may spell the same prefix."""
    count, either = len(sizes), np.logaddexp(ends_blank, ends_label)
    tails = np.where(sizes > 0, paths[np.arange(count), np.maximum(sizes - 1, 0)], -1)
    # Kept as is: a blank frame after either ending, or the tail label once more.
    kept_blank = either + step[blank]
    kept_label = np.where(sizes > 0, ends_label + step[np.maximum(tails, 0)], -np.inf)
    # Extended by a label: repeating the tail needs a blank in between.
    repeat = tails[:, None] == labels[None, :]
    extended_label = np.where(repeat, ends_blank[:, None], either[:, None]) + step[labels]
    extended = np.repeat(paths, len(labels), axis=0)
    extended[np.arange(len(extended)), np.repeat(sizes, len(labels))] = np.tile(labels, count)
    return (np.concatenate([paths, extended]),
            np.concatenate([kept_blank, np.full(len(extended), -np.inf)]),
            np.concatenate([kept_label, extended_label.reshape(-1)]))


def _beam_search_one(log_probs, length, beam_width, top_paths, blank):
    frames, classes = log_probs.shape
    labels = np.array([c for c in range(classes) if c != blank], np.int32)
    # The beam starts as the empty prefix, certain, "ending in a blank".
    paths = np.full((1, frames), -1, np.int32)
    ends_blank, ends_label = np.zeros(1), np.full(1, -np.inf)
    for t in range(length):
        sizes = (paths >= 0).sum(axis=1)
        candidates, blank_scores, label_scores = _beam_step(
            paths, sizes, ends_blank, ends_label, log_probs[t], labels, blank)
        keys = candidates.view(np.dtype((np.void, 4 * frames)))[:, 0]
        unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        ends_blank = _merge(inverse, blank_scores, len(unique))
        ends_label = _merge(inverse, label_scores, len(unique))
        keep = np.argsort(-np.logaddexp(ends_blank, ends_label), kind="stable")[:beam_width]
        paths, ends_blank, ends_label = candidates[first[keep]], ends_blank[keep], ends_label[keep]
    total = np.logaddexp(ends_blank, ends_label)
    best = np.argsort(-total, kind="stable")[:top_paths]
    return paths[best], total[best]


def ctc_beam_search_decode(logits, sequence_length, *, beam_width, top_paths, blank):
    batch, frames, _ = logits.shape
    lengths = np.minimum(np.asarray(sequence_length).astype(np.intp).reshape(-1), frames)
    log_probs = _log_softmax(logits)
    decoded = np.full((top_paths, batch, frames), -1, np.int32)
    scores = np.full((batch, top_paths), -np.inf)
    for b in range(batch):
        paths, totals = _beam_search_one(log_probs[b], max(int(lengths[b]), 0), beam_width,
                                         top_paths, blank)
        decoded[:len(paths), b] = paths
        scores[b, :len(totals)] = totals
    return decoded, scores.astype(logits.dtype)
