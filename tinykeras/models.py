"""Sequential: a stack of layers, and the training engine (compile, fit, evaluate, predict).

One training step: forward through each layer -> loss and its gradient -> backward through each
layer in reverse -> one optimizer step -> metrics and callbacks.
"""
import functools
import json
import math
import warnings

import numpy as np

from tinykeras import backend, compile_utils, functional, functional_config, optimizers, saving, subclassing
from tinykeras import losses as losses_module
from tinykeras.callbacks import CallbackList, History, ProgbarLogger
from tinykeras.kernels import blas, denormals
from tinykeras.layers.base import ActivatedLayer, Layer, assign_weights, check_protocol
from tinykeras.layers.core import InputLayer
from tinykeras.utils import structures
from tinykeras.utils import summary as summary_module
from tinykeras.utils.argument_validation import (
    check_int,
    check_number,
    check_optional_int,
    is_integer,
    is_number,
)
from tinykeras.utils.data import (
    ArrayBatches,
    batch_source,
    check_inputs,
    check_sample_weight,
    check_targets,
    class_weights,
    is_array_data,
    split_validation,
    unpack_batch,
)
from tinykeras.utils.interrupts import DeferredInterrupt, completes_before_interrupt


def _computing(method):
    """The arithmetic of fit, evaluate and predict, as Keras on TensorFlow does it: subnormal
    numbers flushed to zero (``kernels.denormals``), and overflow in a diverging run shown as a
    nan/inf loss in the logs (which TerminateOnNaN can act on) rather than as NumPy warnings.
    BLAS stays on one thread meanwhile (``blas.held_on_one_thread``: tinykeras' own threads split
    the large products), instead of being set so and back around each product."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with denormals.flushed(), blas.held_on_one_thread(), np.errstate(
            over="ignore", invalid="ignore", divide="ignore", under="ignore"
        ):
            return method(*args, **kwargs)

    return wrapper


# The methods that take inputs holding NaN or inf (fit, evaluate and the like refuse them).
_PREDICTING = ("predict", "predict_on_batch", "__call__")


class Model:
    """The training engine every model kind shares: compile, fit, evaluate, predict, callbacks,
    metrics, History, weights and files. ``Model(inputs, outputs)`` builds a functional model
    (see :class:`Functional`); :class:`Sequential` is a stack of layers.

    Every model kind is a graph of layer calls (``_graph``, a :class:`functional.Graph`): a
    Sequential builds it as a chain, a functional model records it from ``keras.Input``, and a
    subclassed model (``class MyModel(keras.Model)`` with a ``call``) traces its ``call`` on
    symbolic inputs of the data's shapes (see :mod:`tinykeras.subclassing`).
    """

    #: Whether the model is a subclass computing with its own ``call``.
    _subclassed = False
    #: A subclassed model whose call branches on ``training`` trains a graph of its own.
    _training_graph = None
    _input_keys = _output_keys = None
    #: The compiled losses and metrics (a compile_utils.Objectives), once compiled and built.
    _objectives = None

    def __new__(cls, *args, **kwargs):
        if cls is Model:
            return super().__new__(Functional)
        model = super().__new__(cls)
        model._init_arguments = (args, kwargs)  # a subclassed model's config (see get_config)
        return model

    def __init__(self, *args, **kwargs):
        """A subclassed model: ``super().__init__()`` (or ``super().__init__(name=...)``) in the
        subclass's ``__init__``, the layers set as attributes (also in lists and dicts), and
        ``call(self, inputs, training=None)`` composing them. Called with ``inputs`` and
        ``outputs``, it builds a functional model instead, as in Keras.
        """
        if args or "inputs" in kwargs or "outputs" in kwargs:
            Functional.__init__(self, *args, **kwargs)
            return
        name, trainable = kwargs.pop("name", None), kwargs.pop("trainable", True)
        _check_model_dtype(type(self).__name__, kwargs.pop("dtype", None))
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}: keras.Model.__init__() got unexpected keyword argument(s) "
                f"{sorted(kwargs)}; it takes name and trainable (or inputs and outputs)."
            )
        self._subclassed = True
        self._start(name or backend.unique_name(backend.snake_case(type(self).__name__)), [], trainable)
        self.built = False

    @property
    def layers(self):
        """The model's layers: in graph order for Sequential and functional models, in the order
        they were set as attributes for a subclassed model."""
        return subclassing.tracked_layers(self) if self._subclassed else self._layers

    @layers.setter
    def layers(self, value):
        self._layers = value

    def _start(self, name, layers, trainable):
        """The state every model kind starts with: its name and layers, and not compiled."""
        self.name = name
        self.layers = layers
        self._trainable = True
        if not trainable:
            self.trainable = False  # freezes every layer; a model built as trainable leaves them be
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self.stop_training = False
        self.history = None

    # ---- shape and variables --------------------------------------------------------------

    def _require_built(self, what):
        if not self.built:
            raise ValueError(
                f"Model '{self.name}' has not been built yet, so it has no {what}. Give the first "
                "layer an input_shape, or call the model on data first."
            )

    @property
    def weights(self):
        return [v for layer in self.layers for v in layer.weights]

    @property
    def trainable(self):
        """Whether fit updates the model's weights. Setting it sets every layer's, as in Keras."""
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for layer in getattr(self, "layers", []):
            layer.trainable = self._trainable

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [v for layer in self.layers for v in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [v for layer in self.layers for v in layer.non_trainable_weights]

    def count_params(self):
        return sum(layer.count_params() for layer in self.layers)

    def get_layer(self, name=None, index=None):
        """Returns a layer by name or by index."""
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(
            f"No such layer: {name!r}. Existing layers are: {[l.name for l in self.layers]}."
        )

    # ---- weights --------------------------------------------------------------------------

    def get_weights(self):
        """Every layer's weights, in order, as one flat list of arrays."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights):
        """Sets every layer's weights from one flat list, after checking every array.

        Raises:
            ValueError: on a count or shape mismatch; TypeError: for an array that does not
                hold real numbers. The model is then left unchanged.
        """
        variables = [v for layer in self.layers for v in layer.variables]
        assign_weights(f"Model '{self.name}'", variables, weights)

    def save_weights(self, filepath, overwrite=True):
        """Saves the weights atomically: in Keras 3's layout to a name ending in '.weights.h5',
        in Keras 2's HDF5 layout to '.h5' or '.hdf5' (as Keras 2's ``save_weights`` did)."""
        self._require_built("weights to save")
        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, *, skip_mismatch=False, by_name=False):
        """Loads weights saved by ``save_weights`` or by Keras (3's '.weights.h5', 2's '.h5');
        every shape is checked before any is set.

        Args:
            skip_mismatch: leave out, with a warning, layers whose weights do not fit.
            by_name: for Keras 2 '.h5' files, match layers by name instead of by order.
        """
        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch, by_name=by_name)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuilds an (unweighted) model from ``get_config()``'s dict or Keras 3's: a
        functional model from a config with 'input_layers' and 'output_layers', else a
        Sequential. A subclassed model's class is called with the config's entries, as Keras
        does. ``custom_objects`` ({'MyLayer': MyLayer}) names the classes of the user's layers
        the config holds (registered ones need not be)."""
        with saving.CustomObjectScope(custom_objects):
            return cls._from_config(config)

    @classmethod
    def _from_config(cls, config):
        if cls not in (Model, Functional):
            try:
                return cls(**config)
            except TypeError as error:
                raise TypeError(
                    f"Unable to revive model {cls.__name__} from its config {config}: {error}. Its "
                    "__init__ must take every entry of get_config() (pass **kwargs on to "
                    "super().__init__ for name, trainable and dtype), or the class must define "
                    "from_config(cls, config)."
                ) from error
        return saving.model_from_config(config)

    # ---- compile --------------------------------------------------------------------------

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        """Configures training.

        Args:
            optimizer: a name ('adam', 'sgd', 'rmsprop') or an optimizer object.
            loss: a name ('categorical_crossentropy', 'mse', ...), a loss function or object; for
                a model with several outputs, a list with one per output or a dict by output
                name (one loss alone serves every output).
            loss_weights: for several outputs, the weight of each output's loss in the loss fit
                minimises (a list or a dict by output name; 1 each by default).
            metrics: a list of metric names ('accuracy') or functions; for several outputs, a
                list with one entry (a metric or a list of them) per output, or a dict.
            weighted_metrics: metrics, given like ``metrics``, that weigh each sample by the
                ``sample_weight`` (or ``class_weight``) fit and evaluate receive.
            run_eagerly, jit_compile, auto_scale_loss: accepted for Keras code; tinykeras always
                computes eagerly in float32/float64, so they change nothing.

        The third positional argument is ``metrics``, as in Keras 2 (Keras 3 puts
        ``loss_weights`` there, but code passing it positionally is rare, and a list of metric
        names taken as weights would be refused).
        """
        _unsupported("compile", steps_per_execution=(steps_per_execution, 1))
        self._refuse_custom_steps()
        self.optimizer = optimizers.get(optimizer)
        self._compile_arguments = (loss, loss_weights, metrics)
        self._weighted_metrics = weighted_metrics
        self._objectives = None
        if self.built or not self._subclassed:
            self._compile_objectives()
        self.compiled = True

    def get_compile_config(self):
        """compile()'s settings as Keras 3 writes them in a '.keras' file ({} before compile)."""
        return saving.compile_config(self)

    def _compile_objectives(self):
        """The losses and metrics of each output, from compile's arguments (once the outputs of
        a subclassed model are known)."""
        loss, loss_weights, metrics = self._compile_arguments
        self._objectives = compile_utils.Objectives(self.name, self.output_names, loss, loss_weights, metrics,
                                                    added_losses=self.built and self.has_losses,
                                                    weighted_metrics=self._weighted_metrics)
        losses_given = self._objectives.losses
        self.loss = losses_given[0] if len(losses_given) == 1 else losses_given

    def _require_compiled(self, method):
        if not self.compiled:
            raise RuntimeError(
                f"You must call compile() before {method}(). For example: "
                "model.compile(optimizer='adam', loss='categorical_crossentropy', "
                "metrics=['accuracy'])."
            )

    @property
    def metrics_names(self):
        """The names of what evaluate returns, in its order."""
        if self._objectives is None:
            return []
        return [m.name for m in self._objectives.tracked()]

    @property
    def output_names(self):
        """One name per output: the layer computing it, or its key when the outputs are a dict."""
        if self._output_keys:
            return list(self._output_keys)
        return [t.node.layer.name for t in self._graph.outputs] if self.built else [self.name]

    @property
    def input_names(self):
        if self._input_keys:
            return list(self._input_keys)
        return [t.node.layer.name if t.node.layer is not None else "input_layer" for t in self._graph.inputs]

    # ---- one batch ------------------------------------------------------------------------

    def _follow_shared(self):
        """A later call of a shared layer follows the layer's ``trainable``."""
        for graph in (self._graph, self._training_graph):
            for node in graph.copies if graph is not None else ():
                node.runner.trainable = node.layer.trainable

    def _graph_for(self, training):
        """The graph that computes the model in training (or inference)."""
        return self._training_graph if training and self._training_graph is not None else self._graph

    def _runners(self):
        """The objects whose forward and backward compute the model: its layers, or for a layer
        called at several places, one per call. Calls that only outputs without a loss read
        are left out: no gradient reaches them (so they are not trained, as in Keras)."""
        self._follow_shared()
        graph = self._graph_for(training=True)
        nodes = graph.nodes
        if self._objectives is not None and None in self._objectives.losses:
            trained = [i for i, loss in enumerate(self._objectives.losses) if loss is not None]
            reached = graph.ancestors(trained)
            nodes = [node for node in nodes if id(node) in reached]
        return [node.runner for node in nodes]

    def _owners(self):
        """Each layer with trainable variables, with them, as ``trainable`` says now."""
        owners = [(layer, layer.trainable_weights) for layer in self._runners()] if self.trainable else []
        return [(layer, variables) for layer, variables in owners if variables]

    def _train_variables(self):
        """``_owners()``, with the optimizer built for their variables. Read at each call of
        train_on_batch and each epoch of fit, so that a change of ``trainable`` takes effect from
        the next one."""
        owners = self._owners()
        unique = {id(v): v for _, variables in owners for v in variables}  # shared layers: once
        self.optimizer.build(list(unique.values()))
        self._find_regularized(owners)
        return owners

    def _several(self, what):
        return len(self._graph.inputs if what == "inputs" else self._graph.outputs) > 1

    def _forward(self, x, training, mask=None):
        """The output (a list for several outputs) for the batch ``x`` (a list for several
        inputs, whose masks are ``mask``: None, or a mask or a list as ``x``)."""
        self._follow_shared()
        self._ran = self._graph_for(training)
        several = self._several("inputs")
        masks = None if mask is None else list(mask) if several and isinstance(mask, (list, tuple)) else [mask]
        outputs = self._ran.forward(x if several else [x], training, masks)
        return outputs if self._several("outputs") else outputs[0]

    def _output_masks(self):
        """Each output's mask in the last forward pass (None where none), or None when the pass
        carried no masks."""
        ran = self.__dict__.get("_ran")
        return None if ran is None else ran.output_masks

    def _logits_runner(self, index, loss):
        """The runner computing output ``index`` when ``loss`` may start from its logits (a
        softmax or sigmoid layer whose output nothing else reads), else None."""
        runner = self._ran.outputs[index].node.runner
        activation = getattr(runner, "activation", None)
        if (self._ran.exclusive[index] and _keeps_logits(runner) and not loss.from_logits
                and loss.logits_activation is not None
                and getattr(activation, "name", None) == loss.logits_activation):
            return runner
        return None

    def _losses(self, ys, outputs, backward, sample_weights=None):
        """Each output's loss on the batch (None for outputs without one), its samples weighted
        by ``sample_weights`` (None, or one array or None per output); with ``backward``, also
        back-propagates their weighted gradients through the model."""
        objectives = self._objectives
        values, grads, starts = [], [], {}
        masks = self._output_masks()
        for index, (loss, weight, y, output) in enumerate(zip(objectives.losses, objectives.loss_weights, ys, outputs)):
            if loss is None:
                values.append(None)
                grads.append(None)
                continue
            runner = self._logits_runner(index, loss)
            weights = sample_weights[index] if sample_weights is not None else None
            if masks is not None:  # a masked output weighs its padded steps 0, the others so that
                # the mean is over them
                weights = losses_module.apply_mask(weights, masks[index], loss.reduction, np.result_type(output))
            if runner is not None:
                value, grad = loss.value_and_grad_logits(y, runner.logits)
                if weights is not None:
                    value, grad = losses_module.weighted(loss.per_sample_logits(y, runner.logits), grad, weights)
                starts[index] = runner.backward_linear
            else:
                value, grad = loss.value_and_grad(y, output)
                if weights is not None:
                    value, grad = losses_module.weighted(loss.call(y, output), grad, weights)
            values.append(value)
            grads.append(grad if weight == 1 else grad * np.asarray(weight, grad.dtype))
        if backward:
            self._ran.backward(grads, starts)
        return values

    def _batch_outputs(self, x, y, training, sample_weights=None):
        """Runs the model on a batch: (per-output loss values, targets, outputs, the sum of the
        add_loss terms); ``sample_weights``: None, or one array (or None) per output."""
        output = self._forward(x, training=training)
        outputs = output if self._several("outputs") else [output]
        ys = self._objectives.prepare_targets(y if self._several("outputs") else [y], outputs)
        values = self._losses(ys, outputs, training, sample_weights)
        return values, ys, outputs, self._added_loss()

    def _added_loss(self):
        """The loss terms beside the compiled losses: the add_loss terms and activity
        regularization of the last forward pass, and the weights' regularization (0.0 for
        none)."""
        added = sum(self._ran.added_losses(), 0.0) if self._ran.has_losses else 0.0
        for variable in self._regularized:
            added += variable.regularizer(variable.value)
        return added

    #: The trained variables with a regularizer (found by _train_variables and evaluate).
    _regularized = ()

    def _find_regularized(self, owners=None):
        """Records which trained variables have a regularizer."""
        owners = self._owners() if owners is None else owners
        variables = {id(v): v for _, vs in owners for v in vs}.values()
        self._regularized = [v for v in variables if v.regularizer is not None]

    def _gradient_pairs(self, owners):
        """(gradient, variable) of every trained variable, the regularizers' gradients added."""
        pairs = functional.gradient_pairs(owners)
        if self._regularized:
            regularized = {id(v) for v in self._regularized}
            pairs = [(g + v.regularizer.gradient(v.value).astype(g.dtype, copy=False) if id(v) in regularized else g, v)
                     for g, v in pairs]
        return pairs

    def _train_batch(self, owners, x, y, sample_weights=None):
        values, ys, outputs, added = self._batch_outputs(x, y, True, sample_weights)
        self.optimizer.step(self._gradient_pairs(owners))
        self._objectives.update(values, ys, outputs, added, sample_weights, self._output_masks())

    def _test_batch(self, x, y, sample_weights=None):
        self._objectives.update(*self._batch_outputs(x, y, False, sample_weights), sample_weights,
                                self._output_masks())

    # ---- the steps of fit, evaluate and predict: seams a subclass may override ---------------

    def train_step(self, data):
        """One step of ``fit`` on a batch ``data`` = (x, y): forward, the compiled loss,
        backward, one optimizer update; returns the logs.

        A subclass may override it. tinykeras has no GradientTape: the gradients come from the
        backward pass through the forward pass that just ran, which ``loss.backward()`` runs, as
        Keras on PyTorch writes it::

            def train_step(self, data):
                x, y = data
                y_pred = self(x, training=True)
                loss = self.compute_loss(y=y, y_pred=y_pred)
                loss.backward()  # sets v.grad of every trainable weight v
                weights = self.trainable_weights
                self.optimizer.apply([v.grad for v in weights], weights)
                for metric in self.metrics:
                    if metric.name == "loss":
                        metric.update_state(loss)
                    else:
                        metric.update_state(y, y_pred)
                return {m.name: m.result() for m in self.metrics}
        """
        self._train_batch(self._train_variables(), *data)
        return self._logs()

    def test_step(self, data):
        """One step of ``evaluate`` on a batch ``data`` = (x, y) or (x, y, sample_weight);
        returns the logs. A subclass may override it (``y_pred = self(x, training=False)``, then
        the metrics)."""
        self._test_batch(*data)
        return self._logs()

    def predict_step(self, data):
        """One step of ``predict`` on a batch ``data`` = (x,); returns the outputs. A subclass may
        override it."""
        return self(data[0], training=False)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss of ``y_pred`` (what ``self(x, training=True)`` just returned)
        against the targets ``y``: the weighted sum over the outputs, as a float whose
        ``backward()`` back-propagates it through that forward pass (see :meth:`train_step`).

        Raises:
            ValueError: when ``y_pred`` is not the output of the model's last call, whose
                forward pass the backward would go through.
        """
        self._require_compiled("compute_loss")
        self._find_regularized()
        if sample_weight is not None:
            raise ValueError(f"Model '{self.name}': compute_loss(sample_weight=...) is not supported by tinykeras.")
        outputs = structures.flatten(y_pred, self.output_names, "outputs", "compute_loss", self.name)
        if [id(o) for o in outputs] != getattr(self, "_last_outputs", None):
            raise ValueError(
                f"Model '{self.name}': compute_loss(y_pred=...) takes what the model's last call "
                "returned (y_pred = self(x, training=True)), unchanged: its backward goes "
                "through that forward pass."
            )
        ys = structures.flatten(y, self.output_names, "targets", "compute_loss", self.name)
        ys = self._objectives.prepare_targets([check_targets(a, outputs[0], "compute_loss") for a in ys], outputs)
        values = self._losses(ys, outputs, backward=False)

        def backward():
            self._losses(ys, outputs, backward=True)
            for variable in self.trainable_weights:
                variable.grad = None
            for grad, variable in self._gradient_pairs(self._owners()):
                variable.grad = grad

        return LossValue(self._objectives.total_loss(values, self._added_loss()), backward)

    def add_loss(self, loss):
        """Adds ``loss``, computed inside ``call`` (a subclassed model's), to the loss fit
        minimises; see ``Layer.add_loss``."""
        functional.add_loss(self, loss)

    @property
    def losses(self):
        """The loss terms of the model's last forward pass (numbers): the add_loss terms and
        activity regularization of its layers, then its weights' regularization."""
        ran = self.__dict__.get("_ran")
        weights = {id(v): v for v in self.trainable_weights}.values()
        penalties = [v.regularizer(v.value) for v in weights if v.regularizer is not None]
        return (ran.added_losses() if ran is not None else []) + penalties

    @property
    def has_losses(self):
        """Whether a forward pass computes add_loss terms."""
        return any(g is not None and g.has_losses for g in (self.__dict__.get("_graph"), self._training_graph))

    @property
    def metrics(self):
        """The running means fit logs: the loss first, then each output's loss (several
        outputs), then the compiled metrics (empty before compile, and for a subclassed model
        before it is built)."""
        return self._objectives.tracked() if self._objectives is not None else []

    def reset_metrics(self):
        """Resets every metric in ``metrics`` (fit does at each epoch, evaluate at its start)."""
        for metric in self.metrics:
            metric.reset_state()

    def reset_states(self):
        """Zeroes the states that the model's stateful recurrent layers carry from one batch to
        the next (Keras 2's Model.reset_states; Keras 3 has each layer's reset_state), in nested
        models and wrappers too."""
        for layer in _stateful_layers(self.layers):
            layer.reset_state()

    def _overrides(self, method):
        """Whether the model's class overrides one of Model's step methods."""
        return getattr(type(self), method) is not getattr(Model, method)

    def _logs(self, prefix=""):
        return self._objectives.logs(prefix)

    def _prepare(self, x, y, method):
        """Converts and checks a batch or a whole dataset: x as one array (or a list in the
        order of the model's inputs), y likewise for the outputs.

        Raises:
            ValueError or TypeError: naming the input or output, for data that does not fit.
        """
        finite = method not in _PREDICTING  # prediction lets NaN and inf reach their rows only
        if not self.built and self._subclassed:
            self.build(subclassing.data_shapes(x))
        if not self.built:
            x = check_inputs(x, self, method, finite=finite)
            self.build((None,) + x.shape[1:])
            xs = [x]
        else:
            xs = structures.flatten(x, self.input_names, "inputs", method, self.name)
            xs = [check_inputs(a, self, method, finite=finite, index=i) for i, a in enumerate(xs)]
            structures.check_lengths(xs, self.input_names, "inputs", method)
        if y is not None:
            ys = structures.flatten(y, self.output_names, "targets", method, self.name)
            ys = [check_targets(a, xs[0], method) for a in ys]
            if self.compiled:
                self._check_targets_fit_outputs(ys, method)
            y = ys if self._several("outputs") else ys[0]
        return (xs if self._several("inputs") else xs[0]), y

    def _sample_weights(self, sample_weight, class_weight, y, method):
        """A batch's or dataset's sample weights as one float array (or None) per output, from
        ``sample_weight`` (one array for every output, or a list or dict with one per output)
        or from ``class_weight`` and the targets ``y`` (as ``_prepare`` returned them); None
        without either.

        Raises:
            ValueError: naming the argument, for both given at once, class weights for several
                outputs, or weights that are not one finite number per sample.
        """
        if class_weight is not None:
            if sample_weight is not None:
                raise ValueError(f"{method}: pass class_weight or sample_weight, not both.")
            if self._several("outputs"):
                raise ValueError(
                    f"{method}: class_weight is only supported for models with a single output; "
                    "pass sample_weight per output instead."
                )
            return [class_weights(class_weight, y, method)]
        if sample_weight is None:
            return None
        names = self.output_names
        if isinstance(sample_weight, (list, tuple, dict)) and (len(names) > 1 or isinstance(sample_weight, dict)):
            weights = structures.flatten(sample_weight, names, "sample weights", method, self.name)
        else:
            weights = [sample_weight] * len(names)
        ys = y if self._several("outputs") else [y]
        return [None if w is None else check_sample_weight(w, len(t), method, name)
                for w, t, name in zip(weights, ys, names)]

    def _check_targets_fit_outputs(self, ys, method):
        """Checks every target against its output's loss before any batch runs, naming the
        layer computing that output."""
        for tensor, loss, y in zip(self._graph.outputs, self._objectives.losses, ys):
            if loss is None or None in tensor.shape[1:]:
                continue
            output = np.broadcast_to(np.zeros((), backend.floatx()), (len(y),) + tensor.shape[1:])
            try:
                loss.prepare_targets(y, output)
            except ValueError as error:
                raise ValueError(
                    f"{method}: the targets do not fit the output of layer '{tensor.node.layer.name}' "
                    f"(output shape {tensor.shape}). {error}"
                ) from None

    @_computing
    @completes_before_interrupt
    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch (its samples weighted by ``sample_weight``, or by
        their class's weight in ``class_weight``); returns the loss, or [loss, *metrics] (or a
        dict with ``return_dict``)."""
        self._require_compiled("train_on_batch")
        x, y = self._prepare(x, y, "train_on_batch")
        weights = self._sample_weights(sample_weight, class_weight, y, "train_on_batch")
        self.reset_metrics()
        if self._overrides("train_step"):
            data = (x, y) if weights is None else (x, y, weights)
            return _step_results(_step_logs(self.train_step(data), "train_step"), return_dict)
        self._train_batch(self._train_variables(), x, y, weights)
        return self._objectives.logs() if return_dict else self._objectives.result_values()

    @_computing
    @completes_before_interrupt
    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        """The loss (and metrics) on one batch, without training."""
        self._require_compiled("test_on_batch")
        x, y = self._prepare(x, y, "test_on_batch")
        weights = self._sample_weights(sample_weight, None, y, "test_on_batch")
        self._find_regularized()
        self.reset_metrics()
        if self._overrides("test_step"):
            data = (x, y) if weights is None else (x, y, weights)
            return _step_results(_step_logs(self.test_step(data), "test_step"), return_dict)
        self._test_batch(x, y, weights)
        return self._objectives.logs() if return_dict else self._objectives.result_values()

    @_computing
    @completes_before_interrupt
    def predict_on_batch(self, x):
        """The model's output for one batch."""
        x, _ = self._prepare(x, None, "predict_on_batch")
        return self._structured([o.copy() for o in self._output_list(self._forward(x, training=False))])

    def _output_list(self, output):
        return output if self._several("outputs") else [output]

    def _structured(self, outputs):
        """The outputs (a list) as the model was built to give them: one array, a list, or a
        dict by output name."""
        if self._output_keys:
            return dict(zip(self._output_keys, outputs))
        return outputs if len(outputs) > 1 else outputs[0]

    # ---- fit / evaluate / predict ---------------------------------------------------------

    @_computing
    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        initial_epoch=0,
        steps_per_epoch=None,
        validation_steps=None,
        class_weight=None,
        sample_weight=None,
        **kwargs,
    ):
        """Trains the model for ``epochs`` passes over the data.

        Args:
            x, y: inputs and targets as NumPy arrays; or, with y None, x a sequence of (x, y)
                batches (anything with ``len()`` and ``[i]``, such as
                ``ImageDataGenerator.flow(...)``) or a generator of (x, y) batches.
            batch_size: samples per step for arrays (32 by default); a sequence or generator
                makes its own batches.
            epochs: the epoch to stop at (counting from ``initial_epoch``).
            verbose: 'auto' or 1 for a progress bar, 2 for a line per epoch, 0 for silence.
            callbacks: a list of :class:`tinykeras.callbacks.Callback`.
            validation_split: the fraction of array data, taken from the end before shuffling,
                held out to compute val_ metrics after each epoch.
            validation_data: (x_val, y_val) arrays, or a sequence or generator of batches.
            shuffle: shuffle array samples, or the order of a sequence's batches (a
                ``PyDataset``), before each epoch; a generator's order is its own.
            initial_epoch: the epoch to start from (to resume a run).
            steps_per_epoch: batches per epoch; by default all of them (for a generator: until
                it is exhausted).
            validation_steps: batches of validation data per evaluation; by default all.
            class_weight: {class index: weight}: each sample's loss weighed by its class's
                weight (the class of a one-hot target is its argmax); one output only.
            sample_weight: a weight per sample (an array of len(x); for several outputs, one
                array for all, or a list or dict with one per output), weighing its loss and
                the ``weighted_metrics``. A sequence or generator yields (x, y, weights) batches
                instead.
            nb_epoch: Keras 1's name for ``epochs``, accepted with a DeprecationWarning.

        Returns:
            A :class:`History` whose ``history`` dict maps each log name to its per-epoch values.
        """
        epochs_renamed = "nb_epoch" in kwargs
        if epochs_renamed:
            warnings.warn(
                "The `nb_epoch` argument in `fit` has been renamed `epochs`: "
                f"use fit(..., epochs={kwargs['nb_epoch']!r}).",
                DeprecationWarning,
                stacklevel=3,  # past the numeric-warnings wrapper, to the caller of fit
            )
            epochs = kwargs.pop("nb_epoch")
        if kwargs:
            raise TypeError(
                f"fit() got unexpected keyword argument(s) {sorted(kwargs)}. "
                "Check the spelling against fit's documented arguments."
            )
        self._require_compiled("fit")
        batch_size = _batch_size(batch_size, "fit")
        verbose = _verbose(verbose, "fit")
        epochs = check_int(epochs, "nb_epoch" if epochs_renamed else "epochs", "fit", minimum=0)
        initial_epoch = check_int(initial_epoch, "initial_epoch", "fit", minimum=0)
        steps_per_epoch = _steps(steps_per_epoch, "steps_per_epoch", "fit")
        validation_steps = _steps(validation_steps, "validation_steps", "fit")
        validation_split = check_number(validation_split, "validation_split", "fit", 0, 1,
                                        high_open=True)
        if validation_data is None and validation_split:
            if not is_array_data(x):
                raise ValueError(
                    "fit: validation_split works only with array data; received x of type "
                    f"{type(x).__name__}. Pass validation_data instead."
                )
            x, y = self._prepare(x, y, "fit")
            (x, y, sample_weight), validation_data = split_validation(x, y, validation_split, sample_weight)
        data = self._batches(x, y, batch_size, shuffle, steps_per_epoch, "fit", sample_weight=sample_weight,
                             class_weight=class_weight)
        validation = None
        if validation_data is not None:
            if is_array_data(validation_data):
                x_val, y_val, weights_val = _unpack_validation(validation_data)
                validation = self._batches(x_val, y_val, batch_size, False, validation_steps, "fit",
                                           sample_weight=weights_val)
            else:
                validation = self._batches(validation_data, None, batch_size, False, validation_steps, "fit")
        history = History()
        callback_list = self._callbacks(
            callbacks, history, verbose, {"epochs": epochs, "steps": data.steps, "verbose": verbose}
        )
        batch_logs = callback_list.wants("on_train_batch_end")
        custom = self._overrides("train_step")
        self.stop_training = False
        callback_list.on_train_begin()
        # A callback restoring a backup (BackupAndRestore) says where to resume.
        initial_epoch = self.__dict__.pop("_initial_epoch", None) or initial_epoch
        # Set before training, so that after an interruption it holds the finished epochs.
        self.history = history
        with DeferredInterrupt() as interrupt:
            for epoch in range(initial_epoch, epochs):
                self.reset_metrics()
                callback_list.on_epoch_begin(epoch)
                owners = None  # read once the first batch has built the model
                step, logs = -1, {}
                for step, batch in enumerate(data.epoch()):
                    callback_list.on_train_batch_begin(step)
                    if custom:
                        logs = _step_logs(self.train_step(batch), "train_step")
                    else:
                        owners = owners or self._train_variables()
                        self._train_batch(owners, *batch)
                    if batch_logs:
                        callback_list.on_train_batch_end(step, logs if custom else self._logs())
                    interrupt.check(epoch, step)
                    if self.stop_training:
                        break
                if step < 0:
                    _warn_ran_out(epochs, data.steps)
                    break
                logs = dict(logs) if custom else self._logs()
                if validation is not None:
                    callback_list.params["in_fit"] = True
                    logs.update(self._evaluate(validation, callback_list, "val_", interrupt))
                    callback_list.params["in_fit"] = False
                callback_list.on_epoch_end(epoch, logs)
                interrupt.check(epoch)
                if getattr(data, "ran_out", False):
                    _warn_ran_out(epochs, data.steps)
                    break
                if data.steps is None:
                    data.steps = callback_list.params["steps"] = step + 1
                if self.stop_training:
                    break
        callback_list.on_train_end()
        return history

    def _batches(self, x, y, batch_size, shuffle, steps, method, needs_targets=True, sample_weight=None,
                 class_weight=None):
        """The batches of x (and y, and sample weights): from arrays, a sequence of batches, or
        a generator."""
        if is_array_data(x):
            x, y = self._prepare(x, y, method)
            if y is None and needs_targets:
                raise ValueError(f"{method}: y is None. Pass the targets as y, one per sample of x.")
            weights = self._sample_weights(sample_weight, class_weight, y, method)
            return ArrayBatches(x, y, batch_size, shuffle, steps, weights)
        if y is not None or sample_weight is not None:
            raise ValueError(
                f"{method}: y and sample_weight must be None when x is a {type(x).__name__}, which "
                "yields its own (x, y) or (x, y, sample_weight) batches."
            )

        sequence = hasattr(x, "__len__") and hasattr(x, "__getitem__")
        source = f"the {type(x).__name__} sequence" if sequence else "the generator"

        def prepare(batch, number):
            try:
                x, y, weights = unpack_batch(batch, method, needs_targets)
                x, y = self._prepare(x, y, method)
                weights = self._sample_weights(weights, class_weight, y, method)
                return (x, y) if weights is None else (x, y, weights)
            except (ValueError, TypeError) as error:
                # Batches arrive one at a time, so say which one was refused.
                refused = f"Batch {number} of the epoch from {source} was refused."
                error.args = (f"{refused} {error}",)
                raise

        return batch_source(x, steps, prepare, method, shuffle)

    def _callbacks(self, callbacks, history, verbose, params):
        # Keras' order: the user's callbacks, then History, then the progress bar, so that
        # values the user's callbacks add to the logs (a learning rate) are printed too.
        callbacks = list(callbacks or [])
        if history is not None:
            callbacks.append(history)
        if verbose:
            callbacks.append(ProgbarLogger(verbose))
        return CallbackList(callbacks, self, params)

    def _evaluate(self, data, callback_list, prefix, interrupt):
        """Evaluates every batch of ``data`` (through ``test_step`` when a subclass overrides
        it); a Ctrl-C recorded by ``interrupt`` (a DeferredInterrupt) is raised between
        batches. Returns the logs, their names starting with ``prefix``."""
        self.reset_metrics()
        if self.built:
            self._find_regularized()
        callback_list.on_test_begin()
        batch_logs = callback_list.wants("on_test_batch_end")
        custom, logs = self._overrides("test_step"), {}
        for step, batch in enumerate(data.epoch()):
            callback_list.on_test_batch_begin(step)
            if custom:
                logs = _step_logs(self.test_step(batch), "test_step")
            else:
                self._test_batch(*batch)
            if batch_logs:
                callback_list.on_test_batch_end(step, logs if custom else self._logs())
            interrupt.raise_if_pending(f"Evaluation interrupted after batch {step + 1}.")
        logs = {prefix + key: value for key, value in logs.items()} if custom else self._logs(prefix)
        callback_list.on_test_end(logs)
        return logs

    @_computing
    def evaluate(
        self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None, callbacks=None,
        return_dict=False,
    ):
        """The loss and metrics on (x, y) arrays, or on a sequence or generator of (x, y) batches.

        Args:
            sample_weight: a weight per sample of x, as in ``fit``.
            steps: how many batches to evaluate; by default all.

        Returns:
            The loss alone when there are no metrics, else [loss, *metrics] (or a dict with
            ``return_dict=True``).
        """
        self._require_compiled("evaluate")
        batch_size = _batch_size(batch_size, "evaluate")
        verbose = _verbose(verbose, "evaluate")
        steps = _steps(steps, "steps", "evaluate")
        data = self._batches(x, y, batch_size, False, steps, "evaluate", sample_weight=sample_weight)
        callback_list = self._callbacks(callbacks, None, verbose, {"test_steps": data.steps, "verbose": verbose})
        with DeferredInterrupt() as interrupt:
            logs = self._evaluate(data, callback_list, "", interrupt)
        if self._overrides("test_step"):
            return _step_results(logs, return_dict)
        return logs if return_dict else self._objectives.result_values()

    @_computing
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs for x (an array, or a sequence or generator of batches whose
        targets, if any, are ignored), computed in batches (32 by default)."""
        batch_size = _batch_size(batch_size, "predict")
        verbose = _verbose(verbose, "predict")
        steps = _steps(steps, "steps", "predict")
        data = self._batches(x, None, batch_size, False, steps, "predict", needs_targets=False)
        callback_list = self._callbacks(callbacks, None, verbose, {"predict_steps": data.steps, "verbose": verbose})
        callback_list.on_predict_begin()
        batches, custom = [], self._overrides("predict_step")
        with DeferredInterrupt() as interrupt:
            for step, (xb, *_) in enumerate(data.epoch()):
                callback_list.on_predict_batch_begin(step)
                if custom:
                    outputs = self.predict_step((xb,))
                else:
                    outputs = self._structured([o.copy() for o in self._output_list(self._forward(xb, training=False))])
                batches.append(outputs)
                callback_list.on_predict_batch_end(step, {"outputs": outputs})
                interrupt.raise_if_pending(f"Prediction interrupted after batch {step + 1}.")
        callback_list.on_predict_end()
        if not batches:
            raise ValueError("predict: the input yielded no batches.")
        return batches[0] if len(batches) == 1 else _joined(batches)

    def fit_generator(
        self, generator, steps_per_epoch=None, epochs=1, verbose=1, callbacks=None,
        validation_data=None, validation_steps=None, validation_freq=1, class_weight=None,
        max_queue_size=10, workers=1, use_multiprocessing=False, shuffle=True, initial_epoch=0,
    ):
        """Keras 2's training on a generator or sequence of (x, y) batches. Deprecated: ``fit``
        takes them. With ``shuffle``, a sequence's batches come in a new order each epoch, as
        Keras 2 ordered them."""
        _deprecated("fit_generator", "fit(generator, ...)")
        _unsupported("fit_generator", validation_freq=(validation_freq, 1), class_weight=(class_weight, None))
        _read_on_this_thread("fit_generator", max_queue_size, workers, use_multiprocessing)
        return self.fit(
            generator, epochs=epochs, verbose=verbose, callbacks=callbacks, validation_data=validation_data,
            steps_per_epoch=steps_per_epoch, validation_steps=validation_steps, initial_epoch=initial_epoch,
            shuffle=shuffle,
        )

    def evaluate_generator(
        self, generator, steps=None, callbacks=None, max_queue_size=10, workers=1,
        use_multiprocessing=False, verbose=0,
    ):
        """Keras 2's evaluation on a generator or sequence of batches. Deprecated: ``evaluate``
        takes them."""
        _deprecated("evaluate_generator", "evaluate(generator, ...)")
        _read_on_this_thread("evaluate_generator", max_queue_size, workers, use_multiprocessing)
        return self.evaluate(generator, steps=steps, callbacks=callbacks, verbose=verbose)

    def predict_generator(
        self, generator, steps=None, callbacks=None, max_queue_size=10, workers=1,
        use_multiprocessing=False, verbose=0,
    ):
        """Keras 2's prediction on a generator or sequence of batches. Deprecated: ``predict``
        takes them."""
        _deprecated("predict_generator", "predict(generator, ...)")
        _read_on_this_thread("predict_generator", max_queue_size, workers, use_multiprocessing)
        return self.predict(generator, steps=steps, callbacks=callbacks, verbose=verbose)

    def predict_classes(self, x, batch_size=32, verbose=0):
        """Keras 2's class predictions: the argmax of each output row, or for a single output unit
        ``(p > 0.5).astype('int32')``. Deprecated: use ``np.argmax(model.predict(x), axis=-1)``
        (or ``(model.predict(x) > 0.5).astype('int32')`` for one sigmoid unit)."""
        warnings.warn(
            "`model.predict_classes()` is deprecated. Use `np.argmax(model.predict(x), axis=-1)` "
            "for multi-class classification (a softmax last layer), or "
            "`(model.predict(x) > 0.5).astype('int32')` for binary classification (one sigmoid unit).",
            DeprecationWarning,
            stacklevel=2,
        )
        proba = self.predict(x, batch_size=batch_size, verbose=verbose)
        if proba.shape[-1] > 1:
            return proba.argmax(axis=-1)
        return (proba > 0.5).astype("int32")

    def predict_proba(self, x, batch_size=32, verbose=0):
        """Keras 2's name for :meth:`predict` on a model with probability outputs. Deprecated: use
        ``model.predict(x)``."""
        warnings.warn(
            "`model.predict_proba()` is deprecated. Use `model.predict(x)` instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.predict(x, batch_size=batch_size, verbose=verbose)

    @_computing
    @completes_before_interrupt
    def __call__(self, x, training=False):
        """Applies the model to an array (one forward pass)."""
        if any(isinstance(v, functional.KerasTensor) for v in (x if isinstance(x, (list, tuple)) else [x])):
            return functional.call_symbolic(self, x)
        x, _ = self._prepare(x, None, "__call__")
        outputs = [o.copy() for o in self._output_list(self._forward(x, training))]
        self._last_outputs = [id(o) for o in outputs]  # what compute_loss may differentiate
        return self._structured(outputs)

    # ---- a model used as a layer of another model -------------------------------------------

    #: As a layer: the float type (the layers' own), and whether backward must return dL/dx.
    dtype = None
    input_gradient = False

    @property
    def variables(self):
        return [v for layer in self.layers for v in layer.variables]

    def __copy__(self):
        """The model for its second call in another model: the same layers and variables,
        computing through its own copies of the layers (see ``functional.Graph.with_own_runners``)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._graph = self._graph.with_own_runners()
        if self._training_graph is not None:
            clone._training_graph = self._training_graph.with_own_runners()
        return clone

    @property
    def batch_input_shape(self):
        return self.input_shape if self.built else None

    def build_for(self, input_shape):
        """Builds the model for inputs of ``input_shape`` (a list for several inputs), as a layer
        of another model; returns its output shape.

        Raises:
            ValueError: when the model was built for inputs of other shapes, or has several
                outputs (a layer gives one tensor).
        """
        if not self.built:
            self.build(input_shape)
        expected = [t.shape for t in self._graph.inputs]
        received = list(input_shape) if isinstance(input_shape, list) else [input_shape]
        if not functional._fits(expected, received):  # an axis of any size (None) takes any
            raise ValueError(
                f"Model '{self.name}' takes inputs of shape {self.input_shape}; it is called on "
                f"{input_shape}."
            )
        if self._several("outputs"):
            raise ValueError(
                f"Model '{self.name}' has {len(self._graph.outputs)} outputs: a model called as a "
                "layer of another gives one tensor in tinykeras. Call it on the tensors and take "
                "its outputs from a model with one output each."
            )
        return self.output_shape

    def compute_output_shape(self, input_shape):
        return self.build_for(input_shape)

    def forward(self, x, training=False, mask=None):
        """The model's output for the batch ``x`` (whose mask is ``mask``), as a layer of another
        model: its own layers carry the mask on. As in Keras, a model does not support masking:
        its output carries none into the model around it (which warns when a mask reaches it)."""
        return self._forward(x, training, mask)

    def backward(self, dy):
        """dL/dx given dL/doutput, as a layer of another model (a list for several inputs); sets
        ``grads``, one per trainable weight (summed over the calls of a shared layer inside)."""
        self._ran.mark_input_gradients(self.input_gradient)
        d_inputs = self._ran.backward([dy], wanted=self.input_gradient)
        summed = {id(v): g for g, v in functional.gradient_pairs(self._owners())}
        self.grads = [summed[id(v)] for v in self.trainable_weights if id(v) in summed]
        if not self.input_gradient:
            return None
        return d_inputs if self._several("inputs") else d_inputs[0]

    # ---- subclassed models -----------------------------------------------------------------

    def build(self, input_shape=None):
        """Builds a subclassed model for inputs of ``input_shape`` (the batch axis first; a list
        of shapes for several inputs, or a dict of them by name): traces its ``call``, which
        builds its layers.

        Raises:
            ValueError: without a shape; TypeError when the class defines no ``call``.
        """
        if self.built:
            return
        if input_shape is None:
            raise ValueError(
                f"Model '{self.name}' cannot be built without an input shape: call "
                "build((None, features)) or fit/predict on data."
            )
        if getattr(type(self), "call", None) is None:
            raise TypeError(
                f"{type(self).__name__} subclasses keras.Model but defines no call(self, inputs): "
                "write call to compose the layers set in __init__, or build the model with "
                "keras.Model(inputs, outputs)."
            )
        self._refuse_custom_steps()
        self._build_input_shape = input_shape
        inputs = subclassing.symbolic_inputs(input_shape)
        self._graph, self._output_keys = subclassing.trace(self, inputs, training=False)
        self._input_keys = list(inputs) if isinstance(inputs, dict) else None
        if subclassing.takes_training(self.call):
            self._training_graph, _ = subclassing.trace(self, subclassing.symbolic_inputs(input_shape), training=True)
            self._training_graph.mark_input_gradients(False)
        self._graph.mark_input_gradients(False)
        self.built = True
        if self.compiled:
            self._compile_objectives()

    def get_config(self):
        """A subclassed model's config, as Keras 3 makes it: its name, the arguments its class's
        ``__init__`` received (when they are numbers, strings, booleans, None, or lists and dicts
        of them), trainable and dtype. ``from_config`` calls the class with it; a class whose
        ``__init__`` takes other arguments (layers, say) defines its own get_config.

        Raises:
            TypeError: when the arguments cannot be written to a file, naming them.
        """
        arguments = subclassing.init_arguments(self)
        return {"name": self.name, **arguments, "trainable": self.trainable,
                "dtype": saving.dtype_policy(backend.floatx())}

    def save(self, filepath, overwrite=True):
        """Saves the whole model (architecture, weights, compile settings and the optimizer's
        state) atomically: to a '.keras' file in Keras 3's format, or to '.h5' / '.hdf5' in
        Keras 2's. ``load_model`` (or Keras') reads it back, and ``fit`` then continues where
        it stopped. A subclassed model is described by its class's registered name and
        ``get_config()`` (see ``keras.saving.register_keras_serializable``)."""
        saving.save_model(self, filepath, overwrite=overwrite)

    def to_json(self, **kwargs):
        """The model's description as JSON, as in a '.keras' file's config.json (no weights).
        ``kwargs`` go to ``json.dumps``."""
        return json.dumps(saving.serialize_model(self), **kwargs)

    def _refuse_custom_steps(self):
        """Raises for the Keras methods a subclass overrides that tinykeras cannot run: the
        default steps fuse the loss with its gradient, so an overridden compute_loss or
        compute_metrics would be silently skipped."""
        if self._overrides("train_step"):
            return
        for method in ("compute_loss", "compute_metrics"):
            if getattr(type(self), method, None) is not getattr(Model, method, None):
                raise TypeError(
                    f"{type(self).__name__} overrides {method}(): tinykeras' fit computes the "
                    "compiled loss and its gradient together, so it would not run it. Override "
                    "train_step (and test_step) instead, calling self.compute_loss there: see "
                    "Model.train_step's documentation."
                )

    @property
    def input_shape(self):
        """The shape of the input (a list of shapes for several inputs)."""
        self._require_built("input_shape")
        shapes = [t.shape for t in self._graph.inputs]
        return shapes if len(shapes) > 1 else shapes[0]

    @property
    def output_shape(self):
        """The shape of the output (a list of shapes for several outputs)."""
        self._require_built("output_shape")
        shapes = [t.shape for t in self._graph.outputs]
        return shapes if len(shapes) > 1 else shapes[0]

    def _sequential_like(self):
        """Whether the summary prints the model as a stack (without "Connected to")."""
        return True

    # ---- description ----------------------------------------------------------------------

    def summary(self, line_length=None, positions=None, print_fn=None):
        """Prints Keras' summary table: each layer's name and type, output shape and parameters."""
        summary_module.print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn)


def _stateful_layers(layers):
    """The stateful recurrent layers among ``layers`` and the layers inside them (a nested
    model's, a wrapper's, a custom layer's)."""
    for layer in layers:
        if getattr(layer, "stateful", False) and callable(getattr(layer, "reset_state", None)):
            yield layer
        elif isinstance(layer, Model):
            yield from _stateful_layers(layer.layers)
        elif hasattr(layer, "_sublayers"):
            yield from _stateful_layers(layer._sublayers())


class Sequential(Model):
    """A linear stack of layers.

    Args:
        layers: optional list of layers (an ``Input``/``InputLayer`` first gives the input shape).
        name: the model's name; 'sequential' (numbered) by default.
    """

    def __init__(self, layers=None, name=None, trainable=True):
        self._start(name or backend.unique_name("sequential"), [], trainable)
        self._input_layer = None
        self.built = False
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        """Appends a layer; the model is built as soon as its input shape is known."""
        if isinstance(layer, functional.KerasTensor) and layer.node.is_input:
            layer = layer.node.layer  # keras.Input(...): its InputLayer
        if isinstance(layer, InputLayer):
            if self.layers or self._input_layer is not None:
                raise ValueError(
                    f"Model '{self.name}': an Input can only be the first layer of a Sequential."
                )
            self._input_layer = layer
            self.build(layer.batch_input_shape)
            return
        if not isinstance(layer, (Layer, Model)):
            raise TypeError(
                f"Sequential.add expects a layer (e.g. Dense(10)); received {layer!r} "
                f"of type {type(layer).__name__}."
            )
        if isinstance(layer, Layer):
            check_protocol(layer)
        if any(existing.name == layer.name for existing in self.layers):
            raise ValueError(
                f"Model '{self.name}' already has a layer named '{layer.name}'. Layer names must "
                "be unique: give the new layer another name."
            )
        self.layers.append(layer)
        try:
            if not self.layers[:-1] and self._input_layer is None and layer.batch_input_shape:
                self.build(layer.batch_input_shape)
            elif self.built:
                layer.build_for(_one_tensor(self.layers[-2].output_shape if len(self.layers) > 1 else self._input_shape, layer))
                self._after_build()
        except (TypeError, ValueError):
            self.layers.pop()  # a layer that cannot be built leaves the model as it was
            raise

    def pop(self):
        """Removes the last layer."""
        if not self.layers:
            raise TypeError(f"Model '{self.name}' has no layers to pop.")
        layer = self.layers.pop()
        if self.built:
            self._after_build()
        return layer

    def build(self, input_shape=None):
        """Builds every layer for ``input_shape`` (batch axis first, may be None)."""
        if input_shape is None:
            first = self._input_layer or (self.layers[0] if self.layers else None)
            input_shape = first.batch_input_shape if first is not None else None
            if input_shape is None:
                raise ValueError(
                    f"Model '{self.name}' cannot be built: its input shape is unknown. Pass "
                    "input_shape=... to the first layer, start with Input(shape=...), or call "
                    "fit/predict on data."
                )
        self._input_shape = (None,) + tuple(input_shape)[1:]
        shape = self._input_shape
        for layer in self.layers:
            shape = layer.build_for(_one_tensor(shape, layer))
        self.built = True
        self._after_build()

    def _after_build(self):
        """The model's graph: its layers called one after the other on its input."""
        previous = getattr(self, "_graph", None)
        if previous is not None:
            functional.forget(previous.nodes)
        start = self._input_layer or getattr(self, "_chain_input_layer", None)
        if start is not None and tuple(start.batch_input_shape)[1:] == tuple(self._input_shape)[1:]:
            input_tensor = functional.input_tensor(start)
        else:
            input_tensor = functional.KerasTensor(self._input_shape, backend.floatx(), name="input_layer")
            input_tensor.node = functional.Node(None, [], input_tensor)
        nodes = functional.chain(input_tensor, self.layers)
        self._graph = functional.Graph([input_tensor], [nodes[-1].output if nodes else input_tensor], nodes)
        self._graph.mark_input_gradients(False)

    @property
    def inputs(self):
        """The symbolic input tensor, in a list (``Model(model.inputs, model.layers[2].output)``
        builds a model computing the Sequential's first layers)."""
        self._require_built("inputs")
        if self._graph.inputs[0].node.layer is None:  # no Input given: Keras' InputLayer, made now
            self._chain_input_layer = InputLayer(batch_input_shape=self._input_shape, name=backend.unique_name("input_layer"))
            self._after_build()
        return list(self._graph.inputs)

    @property
    def outputs(self):
        self._require_built("outputs")
        return list(self._graph.outputs)

    @property
    def input(self):
        return self.inputs[0]

    @property
    def output(self):
        return self.outputs[0]

    @property
    def input_shape(self):
        self._require_built("input_shape")
        return self._input_shape

    @property
    def output_shape(self):
        self._require_built("output_shape")
        return self.layers[-1].output_shape if self.layers else self._input_shape

    def get_config(self):
        """Keras 3's config of the model: name, trainable, dtype, one entry per layer ({'module',
        'class_name', 'config', 'registered_name'}, an InputLayer first once the input shape is
        known) and build_input_shape."""
        return saving.sequential_config(self)

    @classmethod
    def _from_config(cls, config):
        return saving.sequential_from_config(config)

    def __repr__(self):
        return f"<Sequential name={self.name}, layers={len(self.layers)}, built={self.built}>"


class Functional(Model):
    """A model built by calling layers on symbolic tensors: ``Model(inputs, outputs)``.

    Args:
        inputs: the ``keras.Input(...)`` tensor the model starts from, or a list of them, or a
            dict of them by name (then the model takes its data as a dict with those keys).
        outputs: the tensor the model gives, computed from the inputs by calling layers, or a
            list or dict of them (predict then returns a list or a dict). A dict is taken by
            sorted key, as Keras flattens it: ``model.inputs``, ``model.outputs``,
            ``output_names`` and a list of losses follow that order.
        name: the model's name; 'functional' (numbered) by default.

    A layer called at several places shares its weights between them; their gradients add up.
    The model saves as a whole (``save``, ``get_config``, ``to_json``) and its weights alone
    (``save_weights``) in Keras' formats.
    """

    def __init__(self, inputs, outputs, name=None, trainable=True):
        self._input_keys = _keys(inputs)
        self._output_keys = _keys(outputs)
        self._input_struct, self._output_struct = inputs, outputs
        inputs, outputs = _tensors(inputs, "inputs"), _tensors(outputs, "outputs")
        self._graph = functional.Graph(inputs, outputs, functional.graph(inputs, outputs))
        self.inputs, self.outputs = inputs, outputs
        # Each layer once (a shared one too), in Keras' order: by depth from the outputs.
        self._start(name or backend.unique_name("functional"), functional_config.keras_layers(self, functional=True), trainable)
        self._input_layer = inputs[0].node.layer
        self.built = True
        self._graph.mark_input_gradients(False)

    @property
    def input(self):
        """The inputs as the model was given them: a tensor, or a list or dict of them."""
        return self._input_struct

    @property
    def output(self):
        """The outputs as the model was given them: a tensor, or a list or dict of them."""
        return self._output_struct

    @property
    def operations(self):
        """The layers and the ops (``keras.ops`` called on its tensors), in Keras' order."""
        return functional_config.keras_operations(self)

    def _connections(self, layer):
        """The "Connected to" column of ``summary`` for one of ``operations``."""
        return functional.connections([node for node in self._graph.nodes if node.layer is layer])

    def _sequential_like(self):
        return len(self.inputs) == 1 and len(self.outputs) == 1 and functional.sequential_like(self._graph.nodes)

    def get_config(self):
        """Keras 3's config of a functional model: name, trainable, one entry per layer (with
        its ``name`` and ``inbound_nodes``), ``input_layers`` and ``output_layers``."""
        return functional_config.functional_config(self)

    def __repr__(self):
        return f"<Functional name={self.name}, layers={len(self.layers)}>"


def _keys(structure):
    """The keys of a dict of tensors, sorted as Keras flattens a dict (None for a tensor or a
    list)."""
    return sorted(structure) if isinstance(structure, dict) else None


def _tensors(value, what):
    """The KerasTensors of ``inputs`` or ``outputs`` (a tensor, or a list or dict of them, the
    dict's by sorted key)."""
    tensors = [value[key] for key in sorted(value)] if isinstance(value, dict) else list(value) if isinstance(value, (list, tuple)) else [value]
    if not tensors:
        raise ValueError(f"Model({what}=...) received no tensors: pass at least one.")
    for tensor in tensors:
        if not isinstance(tensor, functional.KerasTensor):
            raise TypeError(
                f"Model({what}=...) expects symbolic tensors: keras.Input(...) for inputs, and "
                f"what calling layers on them returned for outputs. Received: {type(tensor).__name__}."
            )
    if what == "inputs":
        for tensor in tensors:
            if not tensor.node.is_input:
                raise ValueError(
                    f"Model(inputs=...) takes the tensors keras.Input(...) returned; {tensor.name} "
                    f"was computed by layer '{tensor.node.layer.name}'. Pass the Input it comes from."
                )
        if len({id(t) for t in tensors}) != len(tensors):
            raise ValueError("Model(inputs=...) lists the same Input twice: list each Input once.")
    return tensors


load_model = saving.load_model  # keras.models.load_model is keras.saving.load_model


def save_model(model, filepath, overwrite=True, zipped=None, **kwargs):
    """``keras.models.save_model``: ``model.save(filepath, overwrite)``."""
    if zipped is False:
        raise ValueError("save_model: zipped=False (an unzipped '.keras' folder) is not supported by tinykeras. "
                         "Leave zipped out: the '.keras' file is a zip archive, as Keras writes by default.")
    if kwargs:
        raise ValueError(f"save_model: unexpected keyword argument(s) {sorted(kwargs)}.")
    model.save(filepath, overwrite=overwrite)


def clone_model(model, input_tensors=None, clone_function=None, call_function=None, recursive=False):
    """A new model of ``model``'s architecture made of new layers, as Keras' ``clone_model``:
    the weights are initialized anew (not copied: ``set_weights(model.get_weights())`` copies
    them), the layers keep their names, and a compiled model's clone is compiled with the same
    settings (a new optimizer).

    Args:
        model: a Sequential, functional or registered subclassed model.
        clone_function: ``layer -> new layer``, called for each layer (not the inputs) of a
            Sequential or functional model; by default ``layer.__class__.from_config(
            layer.get_config())``. It may return the layer itself, which the clone then shares.
        recursive: clone the models inside the model layer by layer too (with clone_function),
            rather than passing them to clone_function whole.
        input_tensors, call_function: Keras' ways to rewire the graph while cloning; not
            supported by tinykeras (a named error).
    """
    if input_tensors is not None or call_function is not None:
        raise ValueError(
            "clone_model: input_tensors and call_function are not supported by tinykeras. Clone the model, "
            "then call the clone on new inputs in a functional model: keras.Model(x, clone(x))."
        )
    if clone_function is not None and not callable(clone_function):
        raise ValueError(f"Expected `clone_function` argument to be a callable. Received: clone_function={clone_function!r}")
    subclassed = not isinstance(model, (Sequential, Functional))
    if subclassed and clone_function is not None:
        raise ValueError("Arguments `clone_function` and `input_tensors` are only supported for Sequential "
                         f"models or Functional models. Received model of type '{type(model).__name__}'.")
    if subclassed or (clone_function is None and not recursive):  # the config's round trip
        return saving.deserialize_model(saving.serialize_model(model), compile=model.compiled,
                                        custom_objects={type(model).__name__: type(model)} if subclassed else None)
    clone = clone_function or (lambda layer: type(layer).from_config(layer.get_config()))

    def cloned(layer):
        if recursive and isinstance(layer, (Sequential, Functional)):
            return clone_model(layer, clone_function=clone_function, recursive=True)
        return clone(layer)

    if isinstance(model, Sequential):
        start = model._input_layer
        if start is not None:
            first = [functional.Input(batch_shape=start.batch_input_shape, dtype=start.dtype, name=start.name)]
        else:
            first = [functional.Input(batch_shape=model._input_shape)] if model.built else []
        new = Sequential(first + [cloned(layer) for layer in model.layers], name=model.name, trainable=model.trainable)
    else:
        from tinykeras.functional_config import functional_from_config

        by_name = {layer.name: layer for layer in model.layers}

        def make_layer(entry, index):
            original = by_name.get(entry["name"])
            if entry["class_name"] == "InputLayer" or original is None:
                return saving.layer_from_entry(entry, index)
            return cloned(original)

        new = functional_from_config(saving.serialize_model(model)["config"], make_layer=make_layer)
    if model.compiled:
        arguments = saving._compile_arguments(model.get_compile_config())
        if arguments is not None:
            new.compile(**arguments)
    return new


def model_from_json(json_string, custom_objects=None):
    """Rebuilds a model, without its weights, from ``to_json()``'s string (or Keras 3's);
    ``custom_objects`` names the classes of the user's layers it holds."""
    serialized = saving.parse_json(json_string, "model_from_json: the string")
    return saving.deserialize_model(serialized, compile=False, custom_objects=custom_objects)


def _one_tensor(shape, layer):
    """``shape``, what the layer before ``layer`` in a Sequential gives, after checking that it
    is one tensor's (a recurrent layer with return_state=True gives several)."""
    if isinstance(shape, list):
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) follows a layer giving {len(shape)} outputs "
            f"{shape} in a Sequential model, whose layers each read one tensor. Use the functional API "
            "(keras.Model(inputs, outputs)) to pass several outputs on, or return_state=False."
        )
    return shape


def _check_model_dtype(cls_name, dtype):
    """A subclassed model's ``dtype``: None, or the float type tinykeras computes in (as a name
    or as the DTypePolicy a config holds). Another would be ignored, so it raises."""
    name = dtype.get("config", {}).get("name") if isinstance(dtype, dict) else dtype
    if name not in (None, backend.floatx()):
        raise ValueError(
            f"{cls_name}: keras.Model.__init__(dtype={name!r}) is not supported: a model computes in "
            f"backend.floatx() ({backend.floatx()!r}). Call backend.set_floatx({name!r}) before "
            "building the model instead."
        )


def _step_logs(logs, method):
    """The dict a custom ``train_step``/``test_step`` returned, its values as floats."""
    if not isinstance(logs, dict):
        raise TypeError(
            f"{method}() must return a dict of logs, e.g. {{m.name: m.result() for m in "
            f"self.metrics}}; it returned {type(logs).__name__}."
        )
    return {key: float(np.asarray(value)) if np.ndim(value) == 0 else value for key, value in logs.items()}


def _step_results(logs, return_dict):
    """What train_on_batch and evaluate return from a custom step's logs: the dict, or its
    values (one alone as a number)."""
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def _joined(batches):
    """The per-batch outputs of predict joined along the batch axis, in their structure (an
    array, a list or tuple of arrays, or a dict of them)."""
    first = batches[0]
    if isinstance(first, dict):
        return {key: np.concatenate([batch[key] for batch in batches]) for key in first}
    if isinstance(first, (list, tuple)):
        return [np.concatenate(parts) for parts in zip(*batches)]
    return np.concatenate(batches)


class LossValue(float):
    """The loss ``compute_loss`` returns: a float whose ``backward()`` back-propagates it through
    the forward pass that computed it, leaving each trainable weight's gradient in ``v.grad``."""

    def __new__(cls, value, backward):
        loss = super().__new__(cls, value)
        loss._backward = backward
        return loss

    def backward(self):
        self._backward()


def _keeps_logits(layer):
    """Whether ``layer`` computes activation(logits) as ActivatedLayer does, so that the loss may
    start from its ``logits`` and its ``backward_linear``. A subclass that overrides forward or
    backward goes through them instead: its own methods must run."""
    cls = type(layer)
    return (
        isinstance(layer, ActivatedLayer)
        and cls.forward is ActivatedLayer.forward
        and cls.backward is ActivatedLayer.backward
    )


def _deprecated(method, replacement):
    warnings.warn(
        f"`Model.{method}` is deprecated: use `Model.{replacement}`, which takes generators and "
        "sequences of batches.",
        DeprecationWarning,
        stacklevel=3,
    )


def _unsupported(method, **settings):
    """Raises ValueError for each setting (value, the one value supported) set otherwise."""
    for name, (value, supported) in settings.items():
        if value != supported:
            raise ValueError(f"{method}: {name}={value!r} is not supported by tinykeras (only {name}={supported!r}).")


def _read_on_this_thread(method, max_queue_size, workers, use_multiprocessing):
    """Keras 2 could read batches ahead on other threads or processes; tinykeras reads each
    batch when it is needed, on the calling thread, which gives the same batches. Say so when a
    program asked for more."""
    if workers not in (0, 1) or use_multiprocessing:
        warnings.warn(
            f"{method}: workers={workers!r} and use_multiprocessing={use_multiprocessing!r} have no "
            "effect: tinykeras reads each batch on the calling thread when it is needed (the "
            "batches, and so the results, are the same).",
            UserWarning,
            stacklevel=3,
        )
    check_int(max_queue_size, "max_queue_size", method, minimum=0)


def _steps(steps, name, method):
    """A number of batches: None (all of them) or a positive integer. A float is Keras 2's
    ``steps_per_epoch=len(x) / batch_size``, whose loops ran while fewer steps than it were
    done: it is taken rounded up, with a DeprecationWarning naming the integer to pass."""
    if is_number(steps) and not is_integer(steps) and math.isfinite(steps) and steps > 0:
        rounded = math.ceil(steps)
        warnings.warn(
            f"{method}: {name}={steps!r} is not an integer; it is taken as {rounded} steps, as "
            f"Keras 2 ran it. Pass {name}={rounded} (e.g. math.ceil(len(x) / batch_size)).",
            DeprecationWarning,
            stacklevel=4,
        )
        return rounded
    return check_optional_int(steps, name, method, minimum=1)


def _batch_size(batch_size, method):
    """The samples per step: 32 when ``batch_size`` is None, else ``batch_size`` checked."""
    return 32 if batch_size is None else check_int(batch_size, "batch_size", method, minimum=1)


def _verbose(verbose, method):
    """``verbose`` as 0 (silent), 1 (a progress bar) or 2 (a line per epoch); 'auto' is 1.
    True and False are taken as 1 and 0, as Keras takes them (``fit(..., verbose=False)`` is
    common in Keras 2 code).

    Raises:
        TypeError or ValueError: naming ``method`` and the values allowed.
    """
    if isinstance(verbose, str) and verbose == "auto":
        return 1
    if isinstance(verbose, (bool, np.bool_)) or (is_integer(verbose) and verbose in (0, 1, 2)):
        return int(verbose)
    error = ValueError if isinstance(verbose, str) or is_integer(verbose) else TypeError
    raise error(
        f"{method}: verbose must be 'auto', 0 (silent), 1 (a progress bar) or 2 (one line per "
        f"epoch). Received: verbose={verbose!r}."
    )


def _unpack_validation(validation_data):
    """(x_val, y_val, weights_val or None) from validation_data."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError(
            "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, val_sample_weight). "
            f"Received: {type(validation_data).__name__} of length "
            f"{len(validation_data) if hasattr(validation_data, '__len__') else '?'}."
        )
    return tuple(validation_data) + (None,) * (3 - len(validation_data))


def _warn_ran_out(epochs, steps):
    warnings.warn(
        "Your input ran out of data; interrupting training. Make sure that your dataset or "
        f"generator can generate at least `steps_per_epoch * epochs` batches ({steps} * {epochs}).",
        stacklevel=3,
    )


from tinykeras._missing import attribute_error_for  # noqa: E402

__getattr__ = attribute_error_for(__name__)
