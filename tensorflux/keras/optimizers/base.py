"""Optimizer: Keras 3's base optimizer (variables, apply, clipping, weight decay, EMA,
gradient accumulation, config), updating the variables of one dtype as one flat buffer.

At build time the trainable variables of each dtype are copied into one flat Variable and
each model Variable's buffer becomes a reshaped view of its slice (the Variable keeps its
identity, name and shape; `assign` on it writes through the view). Slots (momentum,
velocity, ...) are flat buffers too, with per-variable views listed in `variables` in Keras's
interleaved order. An update step then concatenates the gradients once and runs the update
formula on whole buffers: a few kernels however many layers the model has. Cases that need
per-variable work (a subset of the variables, missing gradients, a custom `update_step`) run
the same formula on the per-variable views, so the numbers are Keras's either way.

Called eagerly (a custom training loop), a built-in optimizer's flat update is traced once per
configuration and replayed as a compiled plan, as Model.fit runs it: the same kernels, values
bit for bit, in a fifth of the time for a small model (Optimizer._replayed).
"""

import itertools
import numbers
import operator
import re
import sys
import warnings
import weakref
from contextlib import contextmanager

import tensorflux as tf
from tensorflux.context import context, current_backend
from tensorflux.keras.engine.name_scope import current_path
from tensorflux.keras.engine.stateless_scope import in_stateless_scope
from tensorflux.keras.engine.variables import KerasAssign, RebindsInPlace
from tensorflux.tensor import Tensor
from tensorflux.variable import Variable

__all__ = ["Optimizer", "OptimizerVariable", "global_norm", "clip_by_global_norm"]


class OptimizerVariable(KerasAssign, RebindsInPlace, Variable):
    """A Variable an optimizer owns, with Keras 3's `name` ("dense_kernel_momentum", no ":0")
    and `path` ("adam/dense_kernel_momentum")."""

    __slots__ = ("path", "_flat_base")

    @property
    def name(self):
        return self._name

    @property
    def value(self):
        """The current value as a tensor: a property, as for every Keras 3 variable
        (`[v.value for v in optimizer.variables]` feeds `stateless_apply`)."""
        return self.read_value()


def _auto_name(class_name):
    """Keras's auto_name: snake case, then `adam`, `adam_1`, `adam_2`, ..., on the shared
    counters that keras.backend.clear_session resets (as Keras's does)."""
    from tensorflux.keras import backend

    return backend.auto_name(class_name)


@contextmanager
def _eager():
    """Creates state eagerly even while a tf.function is being traced (TF's init_scope)."""
    saved_graph, saved_tapes = context.graph, context.tapes
    context.graph, context.tapes = None, []
    try:
        yield
    finally:
        context.graph, context.tapes = saved_graph, saved_tapes


def _view_variable(raw, name, path, trainable=False):
    """An OptimizerVariable whose buffer is `raw` itself (a view of a flat buffer)."""
    variable = OptimizerVariable(tf.Tensor(raw), trainable=trainable, name=name)
    variable._value = raw
    variable.path = path
    variable._flat_base = None
    return variable


class _FlatGroup:
    """The model variables of one dtype laid end to end in one flat buffer."""

    def __init__(self, index, dtype, variables, positions):
        self.index = index
        self.dtype = dtype
        self.variables = variables
        self.positions = positions  # indices into the optimizer's trainable variables
        self.sizes = [max(int(_num_elements(v.shape)), 0) for v in variables]
        self.shapes = [tuple(v.shape) for v in variables]
        self.offsets = list(itertools.accumulate([0] + self.sizes[:-1]))
        self.total = sum(self.sizes)
        self.buffer = None
        self.views = []

    def slices(self, raw):
        for offset, size, variable in zip(self.offsets, self.sizes, self.variables):
            yield raw[offset:offset + size].reshape(tuple(variable.shape))


def _num_elements(shape):
    count = 1
    for dim in shape:
        count *= int(dim)
    return count


class _SlotList(list):
    """Per-variable slot views in model-variable order; `.flat[g]` is group g's buffer."""

    def __init__(self, views=(), flat=None):
        super().__init__(views)
        self.flat = flat or {}


def _initial_fill(initializer):
    """A number for the initializers a flat slot can be filled with, else None."""
    if initializer is None or initializer == "zeros":
        return 0.0
    if initializer == "ones":
        return 1.0
    if isinstance(initializer, numbers.Real) and not isinstance(initializer, bool):
        return float(initializer)
    value = getattr(initializer, "value", None)  # keras.initializers.Constant
    if isinstance(value, numbers.Real):
        return float(value)
    return None


def _initial_value(initializer, shape, dtype):
    fill = _initial_fill(initializer)
    if fill is not None:
        return tf.fill(list(shape), tf.cast(fill, dtype))
    if callable(initializer):
        return tf.cast(initializer(shape=tuple(shape), dtype=dtype), dtype)
    raise ValueError(f"Optimizer: unsupported slot initializer {initializer!r}")


class Keras2Name:
    """An optimizer attribute of Keras 2 (TF <= 2.15) that Keras 3 dropped: reading it raises
    the AttributeError Keras 3 gives, which also says what replaces it. (Setting it stores a
    plain attribute, as in Keras 3.)"""

    def __init__(self, hint):
        self.hint = hint

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        raise AttributeError(f"'{type(instance).__name__}' object has no attribute "
                             f"'{self.name}' (Keras 2's, removed in Keras 3). {self.hint}")


class Optimizer:
    """Keras 3's base optimizer: subclasses declare slots in `build` and a formula in
    `update_step(gradient, variable, learning_rate)`.

    >>> import tensorflux as tf
    >>> from tensorflux.keras import optimizers
    >>> w = tf.Variable([1.0, 2.0])
    >>> opt = optimizers.SGD(learning_rate=0.5)
    >>> _ = opt.apply_gradients([(tf.constant([1.0, 1.0]), w)])
    >>> w.numpy().tolist(), int(opt.iterations)
    ([0.5, 1.5], 1)
    """

    # Built-in optimizers whose update_step works on whole flat buffers set this.
    _supports_flat = False

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.",
                          stacklevel=2)
        if "lr" in kwargs:  # (Keras 2's name: the commonest error in scripts of that era)
            raise ValueError(f"Argument(s) not recognized: {kwargs}. `lr` is `learning_rate` "
                             f"in Keras 3: write {type(self).__name__}(learning_rate=...).")
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        self.name = name if name is not None else _auto_name(type(self).__name__)
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.global_clipnorm = global_clipnorm
        self.clipvalue = clipvalue
        self.use_ema = use_ema
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        if gradient_accumulation_steps and not gradient_accumulation_steps >= 2:
            raise ValueError("`gradient_accumulation_steps` must be an integer >= 2. "
                             f"Received: gradient_accumulation_steps="
                             f"{gradient_accumulation_steps}")
        if use_ema:
            if ema_momentum > 1 or ema_momentum < 0:
                raise ValueError("`ema_momentum` must be in the range [0, 1]. "
                                 f"Received: ema_momentum={ema_momentum}")
            if ema_overwrite_frequency and (not isinstance(ema_overwrite_frequency, int)
                                            or ema_overwrite_frequency < 1):
                raise ValueError("`ema_overwrite_frequency` must be an integer >= 1 or None. "
                                 f"Received: ema_overwrite_frequency={ema_overwrite_frequency}")
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can "
                             f"be set. Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        self.built = False
        self._variables = []
        self._trainable_variables = []
        self._trainable_variables_indices = {}
        self._groups = []
        self._flat_index = {}
        self._flat = False
        self._decay_masks = None
        with _eager():
            self._iterations = self._make_variable(tf.constant(0, tf.int64), "iteration")
        self._learning_rate = self._make_learning_rate(learning_rate)

    # Keras 2's names (old callbacks still do `K.set_value(self.model.optimizer.lr, v)`).
    lr = Keras2Name("Use `optimizer.learning_rate`.")
    decay = Keras2Name("Pass a schedule such as `keras.optimizers.schedules.InverseTimeDecay` "
                       "as `learning_rate`.")
    get_updates = Keras2Name("Use `optimizer.apply_gradients(zip(grads, variables))`.")

    # ------------------------------------------------------------------ learning rate
    def _make_learning_rate(self, learning_rate):
        from tensorflux.keras.optimizers.schedules import LearningRateSchedule

        if isinstance(learning_rate, LearningRateSchedule) or callable(learning_rate):
            return learning_rate
        if isinstance(learning_rate, Variable):
            learning_rate = float(learning_rate.numpy())
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real):
            raise ValueError(
                "Argument `learning_rate` should be float, or an instance of "
                "LearningRateSchedule, or a callable (that takes in the current iteration "
                "value and returns the corresponding learning rate value). "
                f"Received instead: learning_rate={learning_rate}")
        with _eager():
            return self._make_variable(tf.constant(float(learning_rate), tf.float32),
                                       "learning_rate")

    @property
    def learning_rate(self):
        return self._get_current_learning_rate()

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        from tensorflux.keras.optimizers.schedules import LearningRateSchedule

        previous = self._learning_rate if isinstance(self._learning_rate, Variable) else None
        if isinstance(learning_rate, LearningRateSchedule) or callable(learning_rate):
            self._learning_rate = learning_rate
        else:
            if isinstance(self._learning_rate, LearningRateSchedule):
                raise TypeError(
                    "This optimizer was created with a `LearningRateSchedule` object as its "
                    "`learning_rate` constructor argument, hence its learning rate is not "
                    "settable. If you need the learning rate to be settable, you should "
                    "instantiate the optimizer with a float `learning_rate` argument.")
            if not isinstance(self._learning_rate, Variable):
                self._learning_rate = self._make_learning_rate(float(learning_rate))
            else:
                self._learning_rate.assign(tf.cast(learning_rate, tf.float32))
        if previous is not None and not isinstance(self._learning_rate, Variable):
            self._variables = [v for v in self._variables if v is not previous]

    def _get_current_learning_rate(self):
        from tensorflux.keras.optimizers.schedules import LearningRateSchedule

        if isinstance(self._learning_rate, LearningRateSchedule):
            return self._learning_rate(self._iterations)
        if isinstance(self._learning_rate, Variable):
            return self._learning_rate
        if callable(self._learning_rate):
            return self._learning_rate()
        return self._learning_rate

    @property
    def iterations(self):
        if self.gradient_accumulation_steps:
            return tf.math.floordiv(self._iterations,
                                    tf.constant(self.gradient_accumulation_steps, tf.int64))
        return self._iterations

    @property
    def variables(self):
        return self._variables[:]

    # ------------------------------------------------------------------ variables
    def _variable_path(self, name):
        """Keras's path of a new variable: the name scopes open now, the optimizer's name,
        then the variable's ("adam/iteration"; "block/adam/iteration" in a layer's build)."""
        scope = current_path()
        return f"{scope}/{self.name}/{name}" if scope else f"{self.name}/{name}"

    def _make_variable(self, initial_value, name):
        variable = OptimizerVariable(initial_value, trainable=False, name=name)
        variable.path = self._variable_path(name)
        variable._flat_base = None
        self._variables.append(variable)
        return variable

    def _track_variable(self, variable):
        self._variables.append(variable)

    def add_variable(self, shape, initializer="zeros", dtype=None, aggregation="none",
                     layout=None, name=None):
        """A new optimizer variable of `shape`, tracked in `variables`."""
        dtype = tf.as_dtype(dtype or "float32")
        with _eager():
            return self._make_variable(_initial_value(initializer, shape, dtype),
                                       name or "variable")

    def add_variable_from_reference(self, reference_variable, name=None, initializer="zeros"):
        """A variable shaped like `reference_variable`, named `{path}_{name}` as Keras."""
        return self.add_variable(tuple(reference_variable.shape), initializer=initializer,
                                 dtype=reference_variable.dtype,
                                 name=_slot_name(reference_variable, name or "var"))

    def add_optimizer_variables(self, trainable_variables, name, initializer="zeros"):
        """One slot per model variable and per name, interleaved in `variables` as Keras
        does (m_0, v_0, m_1, v_1, ...). Returns a list per name (one list for a str name)."""
        names = [name] if isinstance(name, str) else list(name)
        inits = initializer if isinstance(initializer, (list, tuple)) else \
            [initializer] * len(names)
        trainable_variables = list(trainable_variables)
        if self._flat and self._same_as_built(trainable_variables):
            lists = self._add_flat_slots(names, inits)
        else:
            lists = tuple([] for _ in names)
            for variable in trainable_variables:
                for out, slot, init in zip(lists, names, inits):
                    out.append(self.add_variable_from_reference(variable, slot, init))
        return lists[0] if isinstance(name, str) else lists

    def _add_flat_slots(self, names, inits):
        lists = tuple(_SlotList([None] * len(self._trainable_variables)) for _ in names)
        with _eager():
            for out, slot, init in zip(lists, names, inits):
                for group in self._groups:
                    fill = _initial_fill(init)
                    buffer = OptimizerVariable(
                        tf.fill([group.total], tf.cast(fill if fill is not None else 0.0,
                                                       group.dtype)),
                        trainable=False, name=f"{slot}_flat_{group.dtype.name}")
                    buffer.path = self._variable_path(buffer._name)
                    buffer._flat_base = None
                    out.flat[group.index] = buffer
                    for position, variable, raw in zip(group.positions, group.variables,
                                                       group.slices(buffer._value)):
                        name = _slot_name(variable, slot)
                        view = _view_variable(raw, name, self._variable_path(name))
                        view._flat_base = buffer
                        if fill is None:
                            view.assign(_initial_value(init, tuple(variable.shape),
                                                       variable.dtype))
                        out[position] = view
            # Interleaved registration, for the saved order.
            for position in range(len(self._trainable_variables)):
                for out in lists:
                    self._track_variable(out[position])
        return lists

    def build(self, variables):
        """Creates the optimizer state for `variables` (the model's trainable variables)."""
        variables = list(variables)
        for i, variable in enumerate(variables):
            self._trainable_variables_indices[id(variable)] = i
        self._trainable_variables = variables[:]
        self._flat = self._flat_capable(variables)
        if self._flat:
            with _eager():
                self._flatten_model_variables(variables)
        if self.use_ema:
            self._model_variables_moving_average = self.add_optimizer_variables(
                variables, "average")
        if self.gradient_accumulation_steps:
            self._accumulated_gradients = self.add_optimizer_variables(
                variables, "gradient_accumulator")
        self._build_weight_decay_masks()
        self.built = True

    def _flat_capable(self, variables):
        if not type(self)._supports_flat or not variables:
            return False
        owner = next(k for k in type(self).__mro__ if "update_step" in vars(k))
        if not vars(owner).get("_supports_flat", False):
            return False  # a subclass wrote its own per-variable update_step
        if len({id(v) for v in variables}) != len(variables):
            return False
        return all(isinstance(v, Variable) and v.shape.is_fully_defined() for v in variables)

    def _flatten_model_variables(self, variables):
        by_dtype = {}
        for position, variable in enumerate(variables):
            by_dtype.setdefault(variable.dtype, []).append(position)
        self._groups = []
        for index, (dtype, positions) in enumerate(by_dtype.items()):
            members = [variables[p] for p in positions]
            group = _FlatGroup(index, dtype, members, positions)
            values = [tf.reshape(v, [-1]) for v in members]
            initial = tf.concat(values, 0) if values else tf.zeros([0], dtype)
            group.buffer = OptimizerVariable(initial, trainable=False,
                                             name=f"model_flat_{dtype.name}")
            group.buffer.path = self._variable_path(group.buffer._name)
            group.buffer._flat_base = None
            self._flat_index[id(group.buffer)] = index
            self._groups.append(group)
            self._attach(group)

    def _attach(self, group):
        """Points each model variable of `group` at its slice of the flat buffer."""
        group.views = list(group.slices(group.buffer._value))
        for variable, view in zip(group.variables, group.views):
            variable._value = view

    def _reattach_if_moved(self):
        """Someone replaced a model variable's buffer (another optimizer flattened it, or
        a loader): copy the current values back into our flat buffer and re-point."""
        for group in self._groups:
            for variable, view in zip(group.variables, group.views):
                if variable._value is not view:
                    break
            else:
                continue
            with _eager():
                values = [tf.reshape(v, [-1]) for v in group.variables]
                group.buffer.assign(tf.concat(values, 0))
                self._attach(group)

    def _same_as_built(self, variables):
        built = self._trainable_variables
        if len(variables) != len(built):
            return False
        for a, b in zip(variables, built):
            if a is not b:
                return False
        return True

    def _check_variables_are_known(self, variables):
        for v in variables:
            if id(v) not in self._trainable_variables_indices:
                raise ValueError(
                    f"Unknown variable: {v}. This optimizer can only be called for the "
                    "variables it was originally built with. When working with a new set of "
                    "variables, you should recreate a new optimizer instance.")

    def _get_variable_index(self, variable):
        return self._trainable_variables_indices[id(variable)]

    def _slot(self, slots, variable):
        """The slot of `variable`: its per-variable view, or the whole flat buffer when
        `variable` is a flat model buffer."""
        group = self._flat_index.get(id(variable))
        if group is not None:
            return slots.flat[group]
        return slots[self._trainable_variables_indices[id(variable)]]

    # ------------------------------------------------------------------ applying
    def apply_gradients(self, grads_and_vars):
        pairs = list(grads_and_vars)
        for pair in pairs:
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2
                    and isinstance(pair[1], Variable)):
                received = (f"a pair whose second item is a {type(pair[1]).__name__}"
                            if isinstance(pair, (tuple, list)) and len(pair) == 2
                            else f"a {type(pair).__name__}")
                raise TypeError(
                    "`apply_gradients()` takes (gradient, variable) pairs, such as "
                    f"`zip(grads, model.trainable_variables)`; it received {received}. (A "
                    "list of gradients alone goes to `apply(grads, variables)`.)")
        grads, trainable_variables = zip(*pairs)
        self.apply(grads, trainable_variables)
        return self._iterations

    def apply(self, grads, trainable_variables=None):
        """Updates the variables with the gradients (Keras 3's step order)."""
        grads = list(grads)
        if len(grads) == 0:
            return
        if trainable_variables is None and type(grads[0]) is tuple:
            raise TypeError(
                "`apply()` takes the gradients and the variables as two lists: "
                "`apply(grads, variables)`. For (gradient, variable) pairs such as "
                "`zip(grads, variables)`, call `apply_gradients()`.")
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    "When passing `grads` without `variables`, the optimizer must already be "
                    "built on a list of variables. Call `optimizer.build(trainable_variables)` "
                    "first. ")
            if len(grads) != len(self._trainable_variables_indices):
                raise ValueError(
                    "When passing `grads` as a list of gradient tensors, the gradients must "
                    "match `optimizer.variables` one-to-on. Received a list of "
                    f"{len(grads)} gradients, but the optimizer is tracking "
                    f"{len(self._trainable_variables)} trainable variables.")
            trainable_variables = self._trainable_variables
            given = False
        else:
            trainable_variables = list(trainable_variables)
            if not self.built:
                self.build(trainable_variables)
                self.built = True
            given = True
        grads, trainable_variables = self._filter_empty_gradients(grads, trainable_variables)
        if given:
            # (after the filter: a variable without a gradient, such as a BatchNormalization
            # statistic of `model.weights`, is never updated, so it need not be known; Keras
            # on TensorFlow builds on that list in the first step and accepts it too)
            self._check_variables_are_known(trainable_variables)
        grads = [g if isinstance(g, (tf.Tensor, Variable)) else tf.convert_to_tensor(g)
                 for g in grads]
        replica = multi_worker_replica()
        if replica is not None:
            grads = replica._aggregate_gradients(self, grads, trainable_variables)
        if self.loss_scale_factor is not None:
            grads = [g / self.loss_scale_factor for g in grads]
        constraints = [(v, v.constraint) for v in trainable_variables
                       if getattr(v, "constraint", None) is not None]
        counted = not constraints  # (the step count comes after the constraints)
        if replica is not None or not self._replayed(grads, trainable_variables, counted):
            self._backend_apply_gradients(grads, trainable_variables)
            counted = False
        for variable, constraint in constraints:
            variable.assign(constraint(variable))
        if not counted:
            self._iterations.assign_add(tf.constant(1, tf.int64))

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        """`apply(grads)` on the given values of the trainable and optimizer variables: returns
        (new trainable values, new optimizer values), lists in the order of
        `optimizer.build`'s variables and of `optimizer.variables`, and leaves every variable
        as it was (Keras 3's functional step, used by JAX-style training loops), eagerly or
        inside a tf.function.

        >>> from tensorflux import keras
        >>> w = keras.Variable([1.0, 2.0])
        >>> opt = keras.optimizers.SGD(learning_rate=0.5)
        >>> opt.build([w])
        >>> state = [v.value for v in opt.variables]
        >>> new_w, new_state = opt.stateless_apply(state, [keras.ops.ones(2)], [w.value])
        >>> new_w[0].numpy().tolist(), int(new_state[0]), w.numpy().tolist()
        ([0.5, 1.5], 1, [1.0, 2.0])
        """
        name = type(self).__name__
        if not self.built:
            raise ValueError(f"To call `stateless_apply`, {name} must be built (i.e. its "
                             "variables must have been created). You can build it via "
                             "`optimizer.build(trainable_variables)`.")
        optimizer_variables, trainable_variables = (list(optimizer_variables),
                                                    list(trainable_variables))
        own_optimizer, own_trainable = self.variables, list(self._trainable_variables)
        if len(optimizer_variables) != len(own_optimizer):
            raise ValueError("Argument `optimizer_variables` must be a list of tensors "
                             f"corresponding 1:1 to {name}().variables. Received list with "
                             f"length {len(optimizer_variables)}, but expected "
                             f"{len(own_optimizer)} variables.")
        if len(trainable_variables) != len(own_trainable):
            raise ValueError("Argument `trainable_variables` must be a list of tensors "
                             "corresponding 1:1 to the trainable variables list that the "
                             f"optimizer was built with. Received len(trainable_variables) == "
                             f"{len(trainable_variables)} whereas the optimizer was built with "
                             f"{len(own_trainable)} variables.")
        variables = own_trainable + own_optimizer
        values = []
        for variable, value in zip(variables, trainable_variables + optimizer_variables):
            value = tf.cast(tf.convert_to_tensor(value), variable.dtype)
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(f"{name}.stateless_apply: the value given for variable "
                                 f"'{getattr(variable, 'path', variable.name)}' has shape "
                                 f"{tuple(value.shape)}; the variable's shape is "
                                 f"{tuple(variable.shape)}.")
            values.append(value)
        # In a StatelessScope the update reads the given values and its assignments stay in
        # the scope, eagerly or inside a tf.function; the flat buffers, which the fused update
        # writes in place without assign, are left out for this step.
        from tensorflux.keras.engine.stateless_scope import StatelessScope

        flat, self._flat = self._flat, False
        try:
            with StatelessScope(state_mapping=list(zip(variables, values))) as scope:
                self.apply(grads, own_trainable)
        finally:
            self._flat = flat
        updated = [scope.get_current_value(variable) for variable in variables]
        return updated[:len(own_trainable)], updated[len(own_trainable):]

    def _filter_empty_gradients(self, grads, variables):
        kept_grads, kept_vars, missing = [], [], []
        for g, v in zip(grads, variables):
            if g is None:
                missing.append(getattr(v, "path", None) or v.name)
            else:
                kept_grads.append(g)
                kept_vars.append(v)
        if not kept_grads:
            raise ValueError("No gradients provided for any variable.")
        if missing:
            warnings.warn(f"Gradients do not exist for variables {missing} when minimizing "
                          "the loss. If using `model.compile()`, did you forget to provide a "
                          "`loss` argument?", stacklevel=3)
        return kept_grads, kept_vars

    def _backend_apply_gradients(self, grads, trainable_variables):
        flat = self._flat and self._same_as_built(trainable_variables)
        if flat:
            self._reattach_if_moved()
        if self.gradient_accumulation_steps:
            self._accumulating_step(grads, trainable_variables, flat)
        else:
            self._clip_decay_update(grads, trainable_variables, flat)
        if self.use_ema:
            self._update_model_variables_moving_average(self._trainable_variables)
            if self.ema_overwrite_frequency:
                overwrite = tf.equal(
                    tf.math.floormod(self.iterations + 1,
                                     tf.constant(self.ema_overwrite_frequency, tf.int64)), 0)
                self._overwrite_model_variables_with_average_value(
                    self._trainable_variables, overwrite)

    # ------------------------------------------------------------------ eager replay
    def _replayed(self, grads, trainable_variables, counted):
        """Runs `_backend_apply_gradients` (and, if `counted`, the step count) as a traced
        plan, as Model.fit runs it, when the call allows it; returns whether it did.

        Eagerly, that step is ~25 ops of a few microseconds each (the flat gradient, then the
        formula on whole buffers; more, per variable, without flat buffers); traced once, it
        replays as one compiled plan that runs the same kernels on the same buffers in the
        same order, so the values are the eager ones, bit for bit (see
        tests/keras/test_eager_optimizer_loss_s15.py). What a trace fixes is checked on every
        call: only built-in optimizers (whose steps read nothing but their own attributes,
        their variables and a built-in schedule), on the variables they were built on
        (tensorflux's own classes where the update assigns them one by one), with gradients
        that are plain eager tensors of each variable's shape and dtype (anything else takes
        the eager path, which gives the errors and warnings), outside any trace, tape or
        StatelessScope; and one trace per configuration: the optimizer's attributes (plain
        values by value, other objects by identity) and the schedule's."""
        if (context.graph is not None or context.tapes or not self.built
                or not _replays_class(type(self)) or tf.config.functions_run_eagerly()
                or in_stateless_scope()
                or not self._same_as_built(trainable_variables)):
            return False
        replays = _replays.get(id(self))
        if replays is None:
            replays = _replays[id(self)] = _Replays()
            weakref.finalize(self, _replays.pop, id(self), None)
        signature = replays.signature(self)
        if signature is None:
            return False
        for g, (dtype, shape) in zip(grads, signature):
            # (an eager Tensor's shape is its array's: g.shape without making a TensorShape)
            if type(g) is not Tensor or g._value.shape != shape or g.dtype is not dtype:
                return False
        schedule = self._learning_rate
        if isinstance(schedule, Variable):
            schedule = held = ()
        elif _replays_class(type(schedule)):
            held = tuple(vars(schedule).values())
            schedule = _attributes_key(schedule)
        else:
            return False  # (a callable or a schedule of the user's: its Python runs per step)
        entries = replays.entries
        key = (counted, schedule, replays.attributes_key(self))
        entry = entries.get(key)
        if entry is None:
            if len(entries) >= _REPLAY_LIMIT:
                for old in [k for k, e in entries.items() if e[1] is None]:
                    del entries[old]  # (configurations seen once, never traced)
                if len(entries) >= _REPLAY_LIMIT:
                    return False
            # The entry holds the attribute values so that the ids in its key stay theirs.
            entries[key] = [1, None, replays.values, self._learning_rate, held]
            return False
        replay = entry[1]
        if replay is None:
            entry[0] += 1
            if entry[0] < _REPLAY_AFTER or _tracing_summary():
                return False
            replay = entry[1] = _Replay(self, counted)
        if replay.failed:
            return False
        self._reattach_if_moved()  # (Python: the plan reads the flat buffers it was traced on)
        return replay.run(grads)

    def _clip_decay_update(self, grads, trainable_variables, flat):
        if self.clipnorm and self.clipnorm > 0:
            grads = [self._clip_by_norm(g) for g in grads]
        if flat:
            variables = [group.buffer for group in self._groups]
            grads = self._flat_gradients(grads)
        else:
            variables = trainable_variables
        if not (self.clipnorm and self.clipnorm > 0):
            grads = self._clip_gradients(grads)
        self._apply_weight_decay(variables)
        self._backend_update_step(grads, variables, self.learning_rate)

    def _flat_gradients(self, grads):
        flat = []
        for group in self._groups:
            parts = []
            for position, variable, shape in zip(group.positions, group.variables,
                                                  group.shapes):
                g = grads[position]
                if g.dtype is not variable.dtype:
                    g = tf.cast(g, variable.dtype)
                if g.shape._dims != shape and not g.shape.is_compatible_with(shape):
                    # (flattened, a gradient of the same size would otherwise pass silently)
                    name = getattr(variable, "path", None) or variable.name
                    raise tf.errors.InvalidArgumentError(
                        f"Cannot update variable {name!r} with shape "
                        f"{tuple(variable.shape)} using a gradient with shape "
                        f"{tuple(g.shape)}, shapes must be equal.", "apply_gradients")
                parts.append(tf.reshape(g, [-1]))
            flat.append(tf.concat(parts, 0) if len(parts) > 1 else parts[0])
        return flat

    def _accumulating_step(self, grads, trainable_variables, flat):
        """Keras's cond(update step, apply the averaged gradients, accumulate) written with
        selects, so that one traced graph serves both branches."""
        steps = self.gradient_accumulation_steps
        is_update = tf.equal(tf.math.floormod(self._iterations + 1,
                                              tf.constant(steps, tf.int64)), 0)
        accumulators = [self._accumulated_gradients[self._get_variable_index(v)]
                        for v in trainable_variables]
        state = self._state_buffers()
        saved = [tf.identity(s) for s in state]
        averaged = [(g + a) / steps for g, a in zip(grads, accumulators)]
        sums = [g + a for g, a in zip(grads, accumulators)]
        self._clip_decay_update(averaged, trainable_variables, flat)
        for buffer, old in zip(state, saved):
            buffer.assign(tf.where(is_update, buffer, old))
        for accumulator, total in zip(accumulators, sums):
            accumulator.assign(tf.where(is_update, tf.zeros_like(total), total))

    def _state_buffers(self):
        """Every buffer an update step may write, except the gradient accumulators."""
        skip = set()
        for slot_list in [getattr(self, "_accumulated_gradients", None)]:
            if slot_list is not None:
                skip.update(id(v) for v in slot_list)
                skip.update(id(v) for v in getattr(slot_list, "flat", {}).values())
        if self._flat:
            found = [group.buffer for group in self._groups]
            seen = {id(v) for v in found}
            for variable in self._variables[1:]:
                base = getattr(variable, "_flat_base", None)
                target = base if base is not None else variable
                if id(target) not in skip and id(target) not in seen:
                    seen.add(id(target))
                    found.append(target)
        else:
            found = list(self._trainable_variables) + list(self._variables[1:])
            found = [v for v in found if id(v) not in skip]
        return [v for v in found if v is not self._learning_rate]

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        for grad, variable in zip(grads, trainable_variables):
            self.update_step(grad, variable, learning_rate)

    def update_step(self, gradient, variable, learning_rate):
        raise NotImplementedError

    def assign(self, variable, value):
        variable.assign(value)

    def assign_add(self, variable, value):
        variable.assign_add(value)

    def assign_sub(self, variable, value):
        variable.assign_sub(value)

    # ------------------------------------------------------------------ clipping
    def _clip_gradients(self, grads):
        if self.clipnorm and self.clipnorm > 0:
            return [self._clip_by_norm(g) for g in grads]
        if self.global_clipnorm and self.global_clipnorm > 0:
            return clip_by_global_norm(grads, self.global_clipnorm)
        if self.clipvalue and self.clipvalue > 0:
            v = self.clipvalue
            return [tf.clip_by_value(g, -v, v) for g in grads]
        return grads

    def _clip_by_norm(self, values):
        l2sum = tf.reduce_sum(tf.square(values), keepdims=True)
        pred = l2sum > 0
        l2sum_safe = tf.where(pred, l2sum, tf.ones_like(l2sum))
        l2norm = tf.where(pred, tf.sqrt(l2sum_safe), l2sum)
        return values * self.clipnorm / tf.maximum(l2norm, self.clipnorm)

    # ------------------------------------------------------------------ weight decay
    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Variables (or name fragments) that weight decay skips; call before build."""
        if self.built:
            raise ValueError("`exclude_from_weight_decay()` can only be configured before "
                             "the optimizer is built.")
        self._exclude_from_weight_decay = {id(v) for v in var_list} if var_list else set()
        self._exclude_from_weight_decay_pattern = (
            re.compile("|".join(set(var_names))) if var_names else None)

    def _use_weight_decay(self, variable):
        if id(variable) in getattr(self, "_exclude_from_weight_decay", set()):
            return False
        pattern = getattr(self, "_exclude_from_weight_decay_pattern", None)
        if pattern is not None and re.search(pattern, _keras_name(variable)) is not None:
            return False
        return True

    def _build_weight_decay_masks(self):
        """For flat buffers with some variables excluded: a 0/1 mask per buffer."""
        self._decay_masks = None
        if self.weight_decay is None or not self._flat:
            return
        if all(self._use_weight_decay(v) for v in self._trainable_variables):
            return
        with _eager():
            self._decay_masks = []
            for group in self._groups:
                parts = [tf.fill([size], tf.cast(1.0 if self._use_weight_decay(v) else 0.0,
                                                 group.dtype))
                         for v, size in zip(group.variables, group.sizes)]
                self._decay_masks.append(tf.concat(parts, 0))

    def _apply_weight_decay(self, variables):
        if self.weight_decay is None:
            return
        for variable in variables:
            group = self._flat_index.get(id(variable))
            if group is None and not self._use_weight_decay(variable):
                continue
            lr = tf.cast(self.learning_rate, variable.dtype)
            wd = tf.cast(self.weight_decay, variable.dtype)
            decay = variable * wd * lr
            if group is not None and self._decay_masks is not None:
                decay = decay * self._decay_masks[group]
            variable.assign(variable - decay)

    # ------------------------------------------------------------------ EMA
    def _ema_pairs(self, trainable_variables):
        averages = self._model_variables_moving_average
        if self._flat and self._same_as_built(list(trainable_variables)):
            return [(g.buffer, averages.flat[g.index]) for g in self._groups]
        return list(zip(trainable_variables, averages))

    def _update_model_variables_moving_average(self, trainable_variables):
        if not self.use_ema:
            return
        for variable, average in self._ema_pairs(trainable_variables):
            not_first_step = tf.cast(tf.not_equal(self.iterations, 0), variable.dtype)
            momentum = not_first_step * self.ema_momentum
            average.assign(momentum * average + (1 - momentum) * variable)

    def _overwrite_model_variables_with_average_value(self, trainable_variables, when=None):
        if len(trainable_variables) != len(self._model_variables_moving_average):
            raise ValueError(
                f"The length of model variables ({len(trainable_variables)}) to override "
                "does not match the length of model variables stored in the optimizer "
                f"({len(self._model_variables_moving_average)}). Please check if the "
                "optimizer was called on your model.")
        for variable, average in self._ema_pairs(trainable_variables):
            value = average if when is None else tf.where(when, average, variable)
            variable.assign(value)

    def finalize_variable_values(self, var_list):
        """With use_ema, writes the moving averages into the model variables."""
        if self.use_ema:
            self._overwrite_model_variables_with_average_value(list(var_list))

    # ------------------------------------------------------------------ state
    def scale_loss(self, loss):
        if self.loss_scale_factor is not None:
            return loss * self.loss_scale_factor
        return loss

    def set_weights(self, weights):
        if not self.built:
            raise ValueError(
                "You are calling `set_weights()` on an optimizer that has not yet been built. "
                "Please call `optimizer.build(trainable_variables)` to create the optimizer "
                "weights before calling `set_weights()`.")
        for variable, weight in zip(self._variables, weights):
            shape = tuple(getattr(weight, "shape", ()))
            if tuple(variable.shape) != shape:
                raise ValueError(f"Optimizer variable {variable.path} has shape "
                                 f"{tuple(variable.shape)} not compatible with provided "
                                 f"weight shape {shape}.")
            variable.assign(tf.cast(tf.convert_to_tensor(weight), variable.dtype))

    def get_weights(self):
        return [v.numpy() for v in self._variables]

    def save_own_variables(self, store):
        for i, variable in enumerate(self.variables):
            store[str(i)] = variable.numpy()

    def load_own_variables(self, store):
        if len(store.keys()) != len(self.variables):
            msg = (f"Skipping variable loading for optimizer '{self.name}', because it has "
                   f"{len(self.variables)} variables whereas the saved optimizer has "
                   f"{len(store.keys())} variables. ")
            if len(self.variables) == 0:
                msg += "This is likely because the optimizer has not been called/built yet."
            warnings.warn(msg, stacklevel=2)
            return
        for i, variable in enumerate(self.variables):
            variable.assign(tf.cast(tf.convert_to_tensor(store[str(i)]), variable.dtype))

    # ------------------------------------------------------------------ config
    def get_config(self):
        from tensorflux.keras.optimizers import schedules

        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            learning_rate = schedules.serialize(lr)
        elif isinstance(lr, Variable):
            learning_rate = float(lr.numpy())
        elif callable(lr):
            learning_rate = _serialize_callable(lr)
        else:
            learning_rate = 0.5
        return {
            "name": self.name,
            "learning_rate": learning_rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from tensorflux.keras.optimizers import schedules

        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"],
                                                            custom_objects=custom_objects)
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


# ------------------------------------------------------------------ eager replay
# See Optimizer._replayed. An optimizer's configurations and their traced functions live here,
# not on the optimizer, so that copying, pickling and tracking its attributes never meet them.
# (By id, dropped when the optimizer is: a dict lookup, where a WeakKeyDictionary makes a
# weak reference on each.)
_replays = {}  # id(optimizer) -> its _Replays
_REPLAY_AFTER = 2  # calls in one configuration before it is traced (a one-off call is not)
_REPLAY_LIMIT = 8  # configurations kept per optimizer
_PLAIN = (bool, int, float, str, type(None))
_OWN_MODULE = __name__.rsplit(".", 1)[0] + "."


def _replays_class(cls):
    """Whether `cls` is one of tensorflux's optimizers or schedules (a subclass of the
    user's may do anything in Python on each step)."""
    return cls.__module__.startswith(_OWN_MODULE)


class _Replays:
    """An optimizer's traced configurations, and its attributes' key as last computed."""

    __slots__ = ("entries", "values", "count", "key", "groups", "expected")

    def __init__(self):
        self.groups = self.expected = None
        # key -> [eager calls, Function or None, the attribute values, learning rate, the
        # schedule's attribute values]
        self.entries = {}
        self.values = ()
        self.count = -1
        self.key = None

    def signature(self, optimizer):
        """(dtype, shape) of each trainable variable, in order: from the flat groups, or the
        variables themselves (a shape with an unknown dim matches no gradient); None where
        the update must run eagerly."""
        groups = optimizer._groups if optimizer._flat else optimizer._trainable_variables
        if groups is not self.groups:
            if optimizer._flat:
                expected = [None] * len(optimizer._trainable_variables)
                for group in groups:
                    for position, shape in zip(group.positions, group.shapes):
                        expected[position] = (group.dtype, shape)
            elif all(type(v).__module__.startswith("tensorflux.") for v in groups):
                expected = [(v.dtype, tuple(v.shape) if v.shape.rank is not None else None)
                            for v in groups]
            else:  # (the update assigns each variable: a class of the user's may do more)
                expected = None
            self.groups, self.expected = groups, expected
        return self.expected

    def attributes_key(self, optimizer):
        """_attributes_key(optimizer) and the number of its variables; the last one when
        every attribute is the very object it was then (the common case: nothing set)."""
        values = tuple(vars(optimizer).values())
        count = len(optimizer._variables)
        last = self.values
        if count != self.count or len(values) != len(last) or not all(
                map(operator.is_, values, last)):
            self.values, self.count = values, count
            self.key = (count, _attributes_key(optimizer))
        return self.key


def _attributes_key(obj):
    """`obj`'s attributes: plain values (and tuples and lists of them) as they are, with
    their type (1 == 1.0 == True) and a float's sign (0.0 == -0.0), other objects by
    identity, with the length of lists and dicts."""
    key = []
    for name, value in vars(obj).items():
        kind = type(value)
        if kind in _PLAIN:
            key.append((name, kind, value.hex() if kind is float else value))
        elif kind is list or kind is tuple or kind is dict or kind is set:
            if kind is not dict and kind is not set and all(type(x) in _PLAIN
                                                            for x in value):
                key.append((name, kind, tuple((type(x), x.hex() if type(x) is float else x)
                                              for x in value)))
            else:
                key.append((name, kind, id(value), len(value)))
        else:
            key.append((name, id(value)))
    return tuple(key)


def _tracing_summary():
    """Whether tf.summary.trace_on is recording traced graphs (this one is not the user's)."""
    trace = sys.modules.get("tensorflux.summary.trace")
    return trace is not None and trace._trace is not None


class _Replay:
    """One configuration's update step, traced, and its ConcreteFunction for the backend."""

    __slots__ = ("function", "backend", "concrete", "failed")

    def __init__(self, optimizer, counted):
        owner = weakref.ref(optimizer)  # (the cache is keyed by the optimizer: held weakly)

        def step(*grads):
            self = owner()
            self._backend_apply_gradients(list(grads), self._trainable_variables)
            if counted:
                self._iterations.assign_add(tf.constant(1, tf.int64))

        self.function = tf.function(step, autograph=False)
        self.backend = None
        self.failed = False

    def run(self, grads):
        """Runs the step on `grads`; False (nothing run) where it cannot be traced."""
        backend = current_backend()
        if backend is not self.backend:
            try:
                concrete = self.function.get_concrete_function(*grads)
                concrete._plan()
            except Exception:  # noqa: BLE001 - the eager path runs it, or raises the error
                self.failed = True  # (a trace only builds a graph: nothing has changed)
                return False
            self.concrete, self.backend = concrete, backend
        # A compiled run flushes subnormal floats to zero, as Model.fit's steps do (see
        # numpy_denormals); eager ops keep them, and so does this one (flush=False): the
        # same values as the eager step, in the caller's floating-point mode.
        self.concrete._run_for_effects([g._value for g in grads], flush=False)
        return True


def multi_worker_replica():
    """The tf.distribute replica context whose gradients an optimizer combines over the
    worker processes before applying them (a multi-worker `strategy.run`, or Model.fit under
    MultiWorkerMirroredStrategy); None otherwise, without loading tensorflux.distribute."""
    distribute = sys.modules.get("tensorflux.distribute")
    return None if distribute is None else distribute._multi_worker_replica()


def _keras_name(variable):
    """A variable's Keras-style name ("kernel", not TensorFlow's "kernel:0")."""
    name = variable.name
    return name[:-2] if name.endswith(":0") else name


def _slot_name(reference_variable, slot):
    path = getattr(reference_variable, "path", None)
    if isinstance(path, str):
        return f"{path.replace('/', '_')}_{slot}"
    return f"{str(reference_variable.name).replace('/', '_').replace(':', '_')}_{slot}"


def _serialize_callable(fn):
    return {"module": "builtins", "class_name": "function", "config": fn.__name__,
            "registered_name": "function"}


def global_norm(value_list):
    """sqrt of the sum of squares of every element of every tensor in the list."""
    squared = [tf.reduce_sum(tf.square(v)) for v in value_list if v is not None]
    return tf.sqrt(tf.add_n(squared) if len(squared) > 1 else squared[0])


def clip_by_global_norm(value_list, clip_norm):
    """Keras's clip_by_global_norm: scales by clip_norm / max(norm, clip_norm); NaN for a
    non-finite norm."""
    use_norm = global_norm(value_list)
    scale_for_finite = clip_norm * tf.minimum(1.0 / use_norm, 1.0 / clip_norm)
    scale = scale_for_finite + (use_norm - use_norm)
    return [v * tf.cast(scale, v.dtype) if v is not None else v for v in value_list]
