"""What `compile(loss=..., metrics=...)` turns into: CompileLoss (one loss per model output,
weighted and summed, with a `<output>_loss` tracker per output when there are several) and
CompileMetrics (metric objects per output, named as Keras names them)."""

import tensorflux as tf
from tensorflux.context import context as _tf_context
from tensorflux.keras.trainers.data_adapters import describe_shape, flatten
from tensorflux.tensor import _is_dense_tensor

__all__ = ["CompileLoss", "CompileMetrics", "get_loss", "get_metric"]


def _losses():
    from tensorflux.keras import losses

    return losses


def _metrics():
    from tensorflux.keras import metrics

    return metrics


def _snake_case(name):
    from tensorflux.keras._objects import snake_case

    return snake_case(name)


def get_object_name(obj):
    if hasattr(obj, "name"):
        return obj.name
    if hasattr(obj, "__name__"):
        return _snake_case(obj.__name__)
    return _snake_case(type(obj).__name__)


def _set_name(metric, name):
    try:
        metric.name = name
    except AttributeError:
        metric._name = name


def _shape(value):
    return tuple(value.shape)


def is_binary_or_sparse_categorical(y_true, y_pred):
    """Keras's rule for "accuracy"/"crossentropy": (is_binary, is_sparse_categorical)."""
    t_shape, p_shape = _shape(y_true), _shape(y_pred)
    is_binary = len(p_shape) > 0 and p_shape[-1] == 1
    is_sparse = len(t_shape) < len(p_shape) or (
        len(t_shape) > 0 and t_shape[-1] == 1 and len(p_shape) > 0 and p_shape[-1] != 1
        and p_shape[-1] is not None and p_shape[-1] > 1)
    return is_binary, is_sparse


def get_metric(identifier, y_true, y_pred):
    """One metric object for `identifier` ("accuracy"/"acc" resolved from the shapes)."""
    metrics = _metrics()
    if identifier is None:
        raise ValueError("Expected metric, received `None`")
    if str(identifier).lower() not in ("accuracy", "acc"):
        metric = metrics.get(identifier)
    else:
        is_binary, is_sparse = is_binary_or_sparse_categorical(y_true, y_pred)
        if is_binary:
            metric = metrics.BinaryAccuracy(name=str(identifier))
        elif is_sparse:
            metric = metrics.SparseCategoricalAccuracy(name=str(identifier))
        else:
            metric = metrics.CategoricalAccuracy(name=str(identifier))
    name = identifier if isinstance(identifier, str) else get_object_name(metric)
    if not isinstance(metric, metrics.Metric):
        metric = metrics.MeanMetricWrapper(metric, name=name)
    _set_name(metric, name)
    return metric


def get_loss(identifier, y_true, y_pred):
    """One Loss object for `identifier` ("crossentropy"/"ce" resolved from the shapes)."""
    losses = _losses()
    if identifier is None:
        return None
    if str(identifier).lower() not in ("crossentropy", "ce"):
        loss = losses.get(identifier)
    else:
        is_binary, is_sparse = is_binary_or_sparse_categorical(y_true, y_pred)
        if is_binary:
            loss = losses.binary_crossentropy
        elif is_sparse:
            loss = losses.sparse_categorical_crossentropy
        else:
            loss = losses.categorical_crossentropy
    if not isinstance(loss, losses.Loss):
        name = identifier if isinstance(identifier, str) else get_object_name(loss)
        loss = losses.LossFunctionWrapper(loss, name=name)
    return loss


# ------------------------------------------------------------------ output alignment

class _Outputs:
    """How a model's predictions are laid out: one tensor, a list, or a dict of outputs."""

    def __init__(self, y_pred, output_names):
        if isinstance(y_pred, dict):
            self.kind = "dict"
            if output_names and set(output_names) == set(y_pred):
                self.names = list(output_names)
            else:
                self.names = sorted(y_pred)
        elif isinstance(y_pred, (list, tuple)):
            self.kind = "list"
            self.names = (list(output_names) if output_names
                          and len(output_names) == len(y_pred) else [None] * len(y_pred))
        else:
            self.kind = "single"
            self.names = [output_names[0] if output_names else None]
        self.count = len(self.names)

        # The outputs that take labels: all of them, unless the compiled loss leaves some
        # without a loss (`loss=[fn, None]`), when `y` may hold labels for the others only.
        self.labelled = list(range(self.count))

    @classmethod
    def aligned(cls, y_true, y_pred, output_names, labelled=None):
        """The layout of `y_pred`, with `y_true` and `y_pred` as flat lists in output order."""
        outputs = cls(y_pred, output_names)
        if labelled is not None:
            outputs.labelled = labelled
        return outputs, outputs.align(y_true, "y"), outputs.align(y_pred, "y_pred")

    def align(self, y, what):
        """`y` (labels, predictions or sample weights) as one entry per output."""
        if y is None:
            return [None] * self.count
        partial = what == "y" and len(self.labelled) < self.count
        if isinstance(y, dict):
            missing = [n for i, n in enumerate(self.names) if n not in y
                       and not (partial and i not in self.labelled)]
            if missing:
                raise ValueError(f"The {what} dict has keys {sorted(y)}, but the model's outputs "
                                 f"are named {self.names}")
            return [y.get(n) for n in self.names]
        if partial and _count(y) == len(self.labelled) and _count(y) != self.count:
            # As Keras: the labels go, in order, to the outputs that have a loss.
            labels = list(y) if _count(y) > 1 or isinstance(y, (list, tuple)) else [y]
            flat = [None] * self.count
            for index, label in zip(self.labelled, labels):
                flat[index] = label
            return flat
        if isinstance(y, (list, tuple)) and not _is_dense_tensor(y):
            if self.count == 1 and len(y) == 1:
                return list(y)
            if len(y) != self.count:
                raise ValueError(f"The model has {self.count} outputs, but {what} is a "
                                 f"{type(y).__name__} of {len(y)} entries")
            return list(y)
        if self.count != 1:
            if what == "sample_weight":
                return [y] * self.count
            raise ValueError(f"The model has {self.count} outputs {self.names}, but {what} is a "
                             f"single array of shape {describe_shape(y)}")
        return [y]


def _count(y):
    """How many per-output entries `y` holds: a list's or tuple's length, else one array."""
    return len(y) if isinstance(y, (list, tuple)) and not _is_dense_tensor(y) else 1


def _per_output(spec, outputs, what):
    """A user argument (one value, a list, or a dict by output name) as one entry per output."""
    if isinstance(spec, dict):
        if outputs.count == 1 and what == "metrics":
            return [list(flatten(list(spec.values())))]
        unknown = set(spec) - set(outputs.names)
        if unknown:
            raise ValueError(f"Expected keys {outputs.names} in {what} dict, but found "
                             f"{what}.keys()={list(spec.keys())}")
        return [spec.get(name) for name in outputs.names]
    if isinstance(spec, (list, tuple)):
        if what == "metrics":
            if outputs.count == 1:
                return [list(flatten(spec))]
            if len(spec) == outputs.count:
                return list(spec)
            raise ValueError(
                f"For a model with {outputs.count} outputs {outputs.names}, `{what}` should be a "
                f"list with one entry per output or a dict keyed by output name. Received: "
                f"{what}={spec}")
        if len(spec) != outputs.count:
            raise ValueError(f"The model has {outputs.count} outputs {outputs.names}, but "
                             f"`{what}` has {len(spec)} entries: {spec}")
        return list(spec)
    return [spec] * outputs.count


# ------------------------------------------------------------------ losses

class CompileLoss:
    """The compiled loss: sum over outputs of loss_weight * loss(y_true, y_pred, weight)."""

    def __init__(self, loss, loss_weights=None, reduction="sum_over_batch_size",
                 output_names=None):
        if loss_weights and not isinstance(loss_weights, (list, tuple, dict, float, int)):
            raise ValueError(
                "Expected `loss_weights` argument to be a float (single output case) or a list, "
                "tuple, or dict (multiple output case). Received instead: "
                f"loss_weights={loss_weights} of type {type(loss_weights)}")
        self._user_loss = loss
        self._user_loss_weights = loss_weights
        self.output_names = output_names
        self.reduction = reduction
        self.name = "compile_loss"
        self.built = False
        self._metrics = []
        self._entries = []

    @property
    def metrics(self):
        return list(self._metrics)

    @property
    def variables(self):
        return [v for m in self._metrics for v in m.variables]

    def labelled_outputs(self, y_pred):
        """The indices of the outputs that have a loss, hence take labels."""
        outputs = _Outputs(y_pred, self.output_names)
        return [i for i, spec in enumerate(self._per_output_losses(outputs)) if spec is not None]

    def _per_output_losses(self, outputs):
        loss = self._user_loss
        if isinstance(loss, (list, tuple)) and len(loss) == 1 and outputs.count > 1:
            loss = loss[0]
        return _per_output(loss, outputs, "loss")

    def build(self, y_true, y_pred):
        outputs, flat_true, flat_pred = _Outputs.aligned(y_true, y_pred, self.output_names,
                                                         self.labelled_outputs(y_pred))
        loss = self._user_loss
        losses = self._per_output_losses(outputs)
        weights = self._user_loss_weights
        weights = (_per_output(weights, outputs, "loss_weights") if weights is not None
                   else [None] * outputs.count)
        self._outputs = outputs
        self._entries = []
        order = range(outputs.count)
        if isinstance(loss, dict) and outputs.kind == "dict":
            # Keras takes a dict of losses for a dict of outputs in the loss dict's order: the
            # order of the per-output losses in evaluate's list, and of their sum.
            order = [outputs.names.index(key) for key in loss if key in outputs.names]
        for index in order:
            spec, weight, yt, yp, name = (losses[index], weights[index], flat_true[index],
                                          flat_pred[index], outputs.names[index])
            if spec is None:
                continue
            loss_obj = get_loss(spec, yt, yp)
            label = name if name is not None else getattr(loss_obj, "name", "loss")
            self._entries.append((index, loss_obj, weight, label))
        if len(self._entries) > 1:
            metrics = _metrics()
            self._metrics = [metrics.Mean(name=f"{label}_loss")
                             for _, _, _, label in self._entries]
        self.built = True

    def __call__(self, y_true, y_pred, sample_weight=None):
        if not self.built:
            self.build(y_true, y_pred)
        outputs = self._outputs
        flat_true = outputs.align(y_true, "y")
        flat_pred = outputs.align(y_pred, "y_pred")
        flat_weight = outputs.align(sample_weight, "sample_weight")
        total = None
        for position, (index, loss_fn, weight, label) in enumerate(self._entries):
            yt, yp = flat_true[index], flat_pred[index]
            if yt is None:
                raise ValueError(f"The model output '{label}' has a loss but no labels were "
                                 "given for it.")
            value = _call_loss(loss_fn, yt, yp, flat_weight[index], label, outputs.count,
                               outputs.count > 1 or label is not None)
            value = tf.cast(value, "float32") if value.dtype.name != "float32" else value
            if self._metrics:
                self._metrics[position].update_state(value, sample_weight=_batch_size(yp))
            if weight is not None:
                value = value * weight
            total = value if total is None else total + value
        return total


def _batch_size(tensor):
    size = tensor.shape[0] if tensor.shape.rank else None
    return size if size is not None else tf.shape(tensor)[0]


def _call_loss(loss_fn, y_true, y_pred, sample_weight, label, output_count, named):
    traced = _tf_context.graph is not None
    if traced:
        # The traced step's nodes of this loss are named after it, as a layer's are after the
        # layer, so an error when the step runs says which loss (and, of several outputs,
        # which output) it came from: "compile_loss/head/sparse_categorical_crossentropy/
        # gather: indices[2] = 9 is not in [0, 5)", not only which kernel.
        saved_scope = _tf_context.layer_scope
        parts = ["compile_loss"]
        for part in (label if output_count > 1 else None, getattr(loss_fn, "name", None)):
            if part and str(part) not in parts:
                parts.append(str(part).replace("/", "_"))
        _tf_context.layer_scope = "/".join(parts) + "/"
    try:
        return loss_fn(y_true, y_pred, sample_weight)
    except (ValueError, tf.errors.InvalidArgumentError) as error:
        where = f"model output '{label}'" if named else "the model output"
        message = (f"{error}\nWhile computing the loss for {where} of shape "
                   f"{describe_shape(y_pred)} against labels (y) of shape "
                   f"{describe_shape(y_true)}.")
        raise type(error)(message) from error
    finally:
        if traced:
            _tf_context.layer_scope = saved_scope


# ------------------------------------------------------------------ metrics

class CompileMetrics:
    """The compiled metrics of every output (and their sample-weighted twins)."""

    def __init__(self, metrics, weighted_metrics, name="compile_metrics", output_names=None,
                 compile_loss=None):
        if metrics and not isinstance(metrics, (list, tuple, dict)):
            raise ValueError("Expected `metrics` argument to be a list, tuple, or dict. Received "
                             f"instead: metrics={metrics} of type {type(metrics)}")
        if weighted_metrics and not isinstance(weighted_metrics, (list, tuple, dict)):
            raise ValueError(
                "Expected `weighted_metrics` argument to be a list, tuple, or dict. Received "
                f"instead: weighted_metrics={weighted_metrics} of type "
                f"{type(weighted_metrics)}")
        self._user_metrics = metrics
        self._user_weighted_metrics = weighted_metrics
        self.output_names = output_names
        self._compile_loss = compile_loss  # (which outputs take labels: those with a loss)
        self.name = name
        self.built = False
        self._flat_metrics = []
        self._flat_weighted_metrics = []

    @property
    def metrics(self):
        if not self.built:
            return []
        return [m for group in self._flat_metrics + self._flat_weighted_metrics
                for m in (group or [])]

    @property
    def variables(self):
        return [v for m in self.metrics for v in m.variables]

    def build(self, y_true, y_pred):
        labelled = (self._compile_loss.labelled_outputs(y_pred)
                    if self._compile_loss is not None else None)
        outputs, flat_true, flat_pred = _Outputs.aligned(y_true, y_pred, self.output_names,
                                                         labelled)
        self._outputs = outputs
        prefix_names = outputs.names if outputs.count > 1 else [None]
        self._prefixes = prefix_names
        self._flat_metrics = self._build_set(self._user_metrics, outputs, flat_true, flat_pred)
        self._flat_weighted_metrics = self._build_set(self._user_weighted_metrics, outputs,
                                                      flat_true, flat_pred)
        self.built = True

    @staticmethod
    def _build_set(spec, outputs, flat_true, flat_pred):
        if not spec:
            return [None] * outputs.count
        groups = []
        for entry, yt, yp, name in zip(_per_output(spec, outputs, "metrics"), flat_true,
                                       flat_pred, outputs.names):
            if entry is None or (isinstance(entry, (list, tuple)) and not entry):
                groups.append(None)
                continue
            if yt is None:
                raise ValueError(f"The model output {name!r} has metrics {entry} but no labels "
                                 "were given for it (it has no loss, so y does not cover it).")
            entry = entry if isinstance(entry, (list, tuple)) else [entry]
            groups.append([get_metric(m, yt, yp) for m in entry])
        return groups

    def update_state(self, y_true, y_pred, sample_weight=None):
        if not self.built:
            self.build(y_true, y_pred)
        outputs = self._outputs
        flat_true = outputs.align(y_true, "y")
        flat_pred = outputs.align(y_pred, "y_pred")
        flat_weight = outputs.align(sample_weight, "sample_weight")
        for group, yt, yp in zip(self._flat_metrics, flat_true, flat_pred):
            for m in group or []:
                m.update_state(yt, yp)
        for group, yt, yp, sw in zip(self._flat_weighted_metrics, flat_true, flat_pred,
                                     flat_weight):
            for m in group or []:
                m.update_state(yt, yp, sample_weight=sw)

    def reset_state(self):
        for m in self.metrics:
            m.reset_state()

    def result(self):
        if not self.built:
            raise ValueError("Cannot get result() since the metric has not yet been built.")
        results = {}
        counters = {}
        for group, prefix in zip(self._flat_metrics, self._prefixes):
            for m in group or []:
                name = f"{prefix}_{m.name}" if prefix else m.name
                if name not in counters:
                    counters[name] = 1
                else:
                    counters[name] += 1
                    name = f"{name}_{counters[name] - 1}"
                results[name] = m.result()
        for group, prefix in zip(self._flat_weighted_metrics, self._prefixes):
            for m in group or []:
                name = f"{prefix}_{m.name}" if prefix else m.name
                if name in counters:
                    name = f"{prefix}_weighted_{m.name}" if prefix else f"weighted_{m.name}"
                    if name not in counters:
                        counters[name] = 1
                    else:
                        counters[name] += 1
                        name = f"{name}_{counters[name] - 1}"
                else:
                    counters[name] = 1
                results[name] = m.result()
        return results
