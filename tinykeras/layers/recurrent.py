"""Recurrent layers: SimpleRNN, LSTM and GRU, with Keras 3's arguments, weights and gate order.

Each layer runs its cell along the time axis of a (batch, timesteps, features) input, from
initial states of zeros (or the ``initial_state`` it is called with). Its weights are Keras':
``kernel`` (features, G*units) applied to the inputs, ``recurrent_kernel`` (units, G*units)
applied to the previous output h, and ``bias``, in G blocks of ``units`` columns (one for
SimpleRNN; i, f, c, o for LSTM; z, r, h for GRU).

Forward: the inputs of all steps are projected at once, ``XW = X kernel + bias`` (one matrix
product over timesteps*batch rows); the loop over time adds ``h_{t-1} U`` (U the recurrent
kernel, one product per step) and applies the cell. In training, dropout multiplies X, and
recurrent dropout h_{t-1} where it enters that product, by masks drawn once per call; with a
mask per gate, each gate's block of columns is a product of its own (``dropped_product``).

Backward through time: the loop runs in reverse, carrying dL/dh (and LSTM's dL/dc) from each
step to the one before, and leaves the gradient of every step's pre-activations, dZ. The
weight gradients are then products over the whole sequence: ``dkernel = X^T dZ``,
``drecurrent_kernel = H_prev^T dZ`` (H_prev the outputs h_0 .. h_{T-1}), ``dbias = sum dZ`` and
``dX = dZ kernel^T``. Each cell's docstring gives its step and the derivatives it uses.

Arrays are kept time-major, (timesteps, batch, ...), so that a step reads and writes one
contiguous block; ``go_backwards`` reverses the time axis on the way in, and the output sequence
comes out in the order of processing, as in Keras. The loop runs on one thread, BLAS too (see
``_time_loop``); the products over the whole sequence before and after it use every thread
(``blas.matmul``). With Keras' default activations the gate arithmetic of LSTM and GRU runs in
the fused steps of ``kernels.recurrent``. Running the loop in parts of the batch on two threads
was slower on 2 cores (LSTM, batch 64, 50 steps, 64 units: 27.9 against 26.8 ms a forward and
backward pass), the steps' many short calls holding the GIL.
"""
import numpy as np

from tinykeras import activations, backend, initializers
from tinykeras.kernels import recurrent as cells
from tinykeras.kernels.blas import matmul, split_batch
from tinykeras.kernels.dropout import draw_bits, dropout_mask
from tinykeras.layers.base import Layer, Variable, set_weight_options, weight_options_config
from tinykeras.utils.argument_validation import check_bool, check_int, check_number, check_optional_int


#: The regularizer and constraint arguments of every recurrent layer.
RECURRENT_WEIGHT_OPTIONS = (
    "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
    "kernel_constraint", "recurrent_constraint", "bias_constraint",
)


def _rows(x):
    """x as a matrix: its leading axes stacked into rows."""
    return x.reshape(-1, x.shape[-1])


def _blocks(width, masks):
    """(columns, mask) for each of the ``len(masks)`` equal blocks of ``width`` columns."""
    size = width // len(masks)
    return [(slice(g * size, (g + 1) * size), mask) for g, mask in enumerate(masks)]


def dropped_product(x, w, masks, out=None):
    """``x W`` with inverted dropout on x: ``masks`` None (none), one mask for every column of
    W, or one per block of W's columns (a gate's), each block multiplying its own dropped copy
    of x. x is (..., batch, features), each mask (batch, features) (the same at every leading
    index: every step); the result, or ``out`` (a (..., batch, columns) array), holds the rows
    of x's leading axes."""
    result = np.empty(x.shape[:-1] + (w.shape[1],), dtype=w.dtype) if out is None else out
    rows = result.reshape(-1, w.shape[1])
    if masks is None:
        matmul(_rows(x), w, out=rows)
    else:
        for columns, mask in _blocks(w.shape[1], masks):
            matmul(_rows(x * mask), w[:, columns], out=rows[:, columns])
    return result


def dropped_product_input_gradient(d, w, masks):
    """dL/dx of ``dropped_product`` for d = dL/d(x W): ``d W^T``, block by block times the
    block's mask: ``sum_g (d_g W_g^T) * mask_g``."""
    shape = d.shape[:-1] + (w.shape[0],)
    if masks is None:
        return matmul(_rows(d), w.T).reshape(shape)
    rows, total = _rows(d), None
    for columns, mask in _blocks(w.shape[1], masks):
        part = matmul(rows[:, columns], w[:, columns].T).reshape(shape) * mask
        total = part if total is None else total + part
    return total


def dropped_product_weight_gradient(x, d, masks):
    """dL/dW of ``dropped_product`` for d = dL/d(x W), summed over x's leading axes: block by
    block, ``(x * mask_g)^T d_g``."""
    if masks is None:
        return matmul(_rows(x).T, _rows(d))
    return np.concatenate(
        [matmul(_rows(x * mask).T, _rows(d)[:, columns]) for columns, mask in _blocks(d.shape[-1], masks)], axis=1)


class RecurrentLayer(Layer):
    """What SimpleRNN, LSTM and GRU share: arguments, weights, the passes over time, outputs.

    A subclass sets ``gates`` (blocks of ``units`` columns in the kernels), ``state_names``
    (its states, h first) and ``cell_name`` (Keras' name of its cell, in the weights' paths),
    and implements one step forward and back over a range of batch rows (``_forward_rows``,
    ``_backward_rows``) and the recurrent kernel's gradient.

    Args:
        units: the size of the output and of each state.
        activation: the cell's activation (tanh by default; None means linear).
        use_bias: whether the cell adds a bias.
        kernel_initializer, recurrent_initializer, bias_initializer: initializers of the three
            weights ('glorot_uniform', 'orthogonal', 'zeros' by default).
        kernel_regularizer, recurrent_regularizer, bias_regularizer: penalties of the weights
            added to the loss (keras.regularizers; None for none).
        activity_regularizer: a penalty of the output added to the loss (not with return_state).
        kernel_constraint, recurrent_constraint, bias_constraint: projections of the weights
            after each optimizer step (keras.constraints; None for none).
        dropout: the fraction of the input features dropped during training, one mask per
            sequence shared by every step, as in Keras.
        recurrent_dropout: the fraction of the previous output's units dropped where it enters
            the recurrent product during training (``(h_{t-1} * mask) U``), one mask per
            sequence shared by every step. The output and the states themselves are not
            dropped (GRU mixes the undropped h_{t-1} into h_t).
        seed: optional integer seeding the dropout masks.
        return_sequences: return the output of every step, (batch, timesteps, units), rather than
            the last one, (batch, units).
        return_state: return ``[output, *final states]`` (h, and LSTM's c).
        go_backwards: process the sequence from its end; the output sequence is then in the
            order of processing (reversed), as in Keras.
        stateful: carry the final states of each call into the next as its initial states
            (``states``), row by row: sequence i of a batch continues sequence i of the batch
            before. Every call then takes the same batch size: the model's declared one
            (``batch_input_shape``, ``keras.Input(batch_size=...)``) or else the first call's.
            No gradient flows into the carried states. ``reset_states()`` zeroes them.
        unroll: the loop is the same either way; with a mask, a masked step's output is then
            the previous step's output (zeros before the first kept step), as Keras' unrolled
            loop gives it.
        zero_output_for_mask: with a mask, give zeros as the output of masked steps, rather than
            the output of the last kept step (the states, carried through masked steps).

    Dropout masks per gate: LSTM and GRU draw one input mask and one recurrent mask for every
    gate (each gate's block of the kernels multiplies its own dropped copy) when
    ``implementation=1``, which Keras takes whenever recurrent_dropout is set; otherwise one
    input mask serves all gates. SimpleRNN has one of each.

    Masks: the layer takes one ((batch, timesteps) booleans, False at the steps to skip) from
    the layer before it in a model (an Embedding with mask_zero, Masking) or as ``mask=``. As in
    Keras, a masked step leaves every state as it was: with ``h'_t, c'_t`` the cell's step from
    the held states, ``h_t = m_t h'_t + (1 - m_t) h_{t-1}`` (c likewise); its output is ``h_t``,
    or 0 with zero_output_for_mask. Backward, the gradient of a held state passes to
    ``h_{t-1}`` unchanged and the cell's step gets none (nor do that step's input or the
    weights). The output carries the mask with return_sequences (the input's, also with
    go_backwards, as Keras gives it), none otherwise. Called with ``initial_state`` in a model,
    the layer receives no mask from its input, as in Keras (only one given as ``mask=``).
    """

    makes_masks = False

    gates = 1
    state_names = ("h",)
    cell_name = "cell"
    #: Keras keeps a recurrent layer's weights in its cell: 'layers/lstm/cell/vars' in a weights file.
    keras_weights_group = "cell"

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        implementation = kwargs.pop("implementation", 2)
        kwargs.pop("use_cudnn", None)  # Keras' choice of a GPU kernel for one computation
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        where = type(self).__name__
        self.units = check_int(units, "units", where, minimum=1)
        self.activation = activations.get(activation)
        self.use_bias = check_bool(use_bias, "use_bias", where)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        set_weight_options(
            self, kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint)
        self.dropout = check_number(dropout, "dropout", where, 0, 1, high_open=True)
        self.recurrent_dropout = check_number(recurrent_dropout, "recurrent_dropout", where, 0, 1, high_open=True)
        if implementation not in (1, 2):
            raise ValueError(f"{where}: implementation must be 1 or 2. Received: implementation={implementation!r}")
        # As in Keras: recurrent dropout takes implementation 1, whose gates draw masks of their own.
        self.implementation = 1 if self.recurrent_dropout else implementation
        self.seed = check_optional_int(seed, "seed", where, minimum=0)
        self.return_sequences = check_bool(return_sequences, "return_sequences", where)
        self.return_state = check_bool(return_state, "return_state", where)
        if self.return_state and self.activity_regularizer is not None:
            raise ValueError(
                f"{where}: activity_regularizer with return_state=True is not supported: the penalty "
                "applies to one output. Add it to the layer reading the output instead."
            )
        self.go_backwards = check_bool(go_backwards, "go_backwards", where)
        self.stateful = check_bool(stateful, "stateful", where)
        self.states = None  # stateful: a Variable per state, made for the batch size (see build)
        self.unroll = check_bool(unroll, "unroll", where)
        self.zero_output_for_mask = check_bool(zero_output_for_mask, "zero_output_for_mask", where)
        self._rng = None if self.seed is None else np.random.default_rng(self.seed)
        self._cache = None

    # ---- calling ------------------------------------------------------------------------------

    def __call__(self, sequences, initial_state=None, training=False, mask=None):
        """Runs the layer on ``sequences`` (an array, or a symbolic tensor in a functional
        model), from ``initial_state`` (one (batch, units) array or tensor per state, h first)
        or zeros, skipping the steps where ``mask`` ((batch, timesteps) booleans) is False."""
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            sequences = [sequences, *states]
        return super().__call__(sequences, training=training, mask=mask)

    def compute_mask(self, inputs, previous_mask=None):
        """The output's mask, as Keras gives it: the input's with return_sequences, else None
        (and None for each state with return_state)."""
        mask = previous_mask[0] if isinstance(previous_mask, (list, tuple)) else previous_mask
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(self.state_names)
        return output_mask

    # ---- shapes and weights -------------------------------------------------------------------

    def _sequence_shape(self, input_shape):
        """The sequences' shape, after checking it and any initial states' shapes."""
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        sequences, states = tuple(shapes[0]), shapes[1:]
        what = f"Layer '{self.name}' ({type(self).__name__})"
        if len(sequences) != 3:
            raise ValueError(
                f"{what} expects inputs of shape (batch, timesteps, features); received input_shape="
                f"{sequences} ({len(sequences)} axes). Add the missing axis: x[:, :, None] for one "
                "feature per step, or Reshape((timesteps, features)) inside a model."
            )
        if sequences[2] is None:
            raise ValueError(f"{what} needs the feature axis (the last) of its input to be known. "
                             f"Received input_shape={sequences}.")
        if states and len(states) != len(self.state_names):
            raise ValueError(
                f"{what} has {len(self.state_names)} state(s) ({', '.join(self.state_names)}); "
                f"initial_state holds {len(states)}. Pass one (batch, {self.units}) array per state."
            )
        for name, shape in zip(self.state_names, states):
            if len(shape) != 2 or shape[1] not in (None, self.units):
                raise ValueError(
                    f"{what}: the initial state {name} must have shape (batch, {self.units}); "
                    f"received {tuple(shape)}."
                )
        return sequences

    def build(self, input_shape):
        features = self._sequence_shape(input_shape)[2]
        width = self.gates * self.units
        self.kernel = self.add_weight("kernel", (features, width), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", (self.units, width), self.recurrent_initializer,
            regularizer=self.recurrent_regularizer, constraint=self.recurrent_constraint)
        self.bias = self.add_weight(
            "bias", self._bias_shape(), self._bias_initializer(), regularizer=self.bias_regularizer,
            constraint=self.bias_constraint) if self.use_bias else None
        for variable in self._variables:  # Keras' paths: 'lstm/lstm_cell/kernel'
            variable.path = f"{self.name}/{self.cell_name}/{variable.name}"
        batch = self._sequence_shape(input_shape)[0]
        if batch is None and self.batch_input_shape is not None:
            batch = self.batch_input_shape[0]
        if self.stateful and batch is not None:
            self._make_states(batch)

    # ---- states carried between calls (stateful) ----------------------------------------------

    def _make_states(self, batch):
        """Zero states for ``batch`` sequences, as Variables outside the layer's weights (Keras
        keeps them out of its weight files too)."""
        dtype = self.kernel.dtype
        self.states = [Variable("rnn_state", np.zeros((batch, self.units), dtype), trainable=False)
                       for _ in self.state_names]

    def reset_state(self):
        """Zeroes the states a stateful layer carries between calls (the batch size stays)."""
        for state in self.states or ():
            state.value[...] = 0

    def reset_states(self):
        """Keras' other name of ``reset_state``."""
        self.reset_state()

    def _carried(self, batch):
        """A stateful layer's states for a call on ``batch`` sequences (made at the first call
        when the model declared no batch size)."""
        if self.states is None:
            self._make_states(batch)
        expected = self.states[0].shape[0]
        if batch != expected:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) is stateful: its states continue {expected} "
                f"sequences, and it received a batch of {batch}. Give every call batches of {expected} "
                f"(fit, evaluate and predict: batch_size={expected}, with a number of samples divisible by "
                "it)."
            )
        return [state.value for state in self.states]

    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def compute_output_shape(self, input_shape):
        batch, steps, _ = self._sequence_shape(input_shape)
        output = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [output] + [(batch, self.units)] * len(self.state_names)
        return output

    # ---- forward ------------------------------------------------------------------------------

    def forward(self, x, training=False, mask=None):
        if isinstance(mask, list):  # called with initial states: Keras passes call no input mask
            mask = None
        x, initial = self._inputs(x)
        steps, batch = x.shape[1], x.shape[0]
        given = initial is not None
        carried = self._carried(batch) if self.stateful else None
        if carried is not None and not given:
            initial = carried
        kept = None if mask is None else self._step_mask(mask, x.shape)
        dtype = self.kernel.dtype
        xs = x.transpose(1, 0, 2)
        xs = np.ascontiguousarray(xs[::-1] if self.go_backwards else xs, dtype=dtype)
        input_masks, recurrent_masks = self._dropout_masks(batch, xs.shape[2], dtype) if training else (None, None)
        projected = dropped_product(xs, self.kernel.value, input_masks)
        if self.use_bias:
            projected += self._input_bias()
        cache = self._allocate(steps, batch, dtype)
        cache.update(xs=xs, input_masks=input_masks, recurrent_masks=recurrent_masks, given=given,
                     projected=projected)
        cache.update(self._held_rows(kept, dtype))
        for index, name in enumerate(self.state_names):
            cache[name][0] = 0 if initial is None else initial[index]
        self._cache = cache
        self._time_loop(self._forward_steps, cache)
        if carried is not None:
            for index, name in enumerate(self.state_names):
                carried[index][...] = cache[name][-1]
        h, weights = cache["h"], cache["output_weights"]
        outputs = h[1:] if weights is None else h[1:] * weights
        output = np.ascontiguousarray(outputs.transpose(1, 0, 2)) if self.return_sequences else outputs[-1].copy()
        if self.return_state:
            return [output] + [cache[name][-1].copy() for name in self.state_names]
        return output

    def _inputs(self, x):
        """(sequences, initial states or None) of a forward call's input, checked."""
        states = None
        if isinstance(x, (list, tuple)):
            x, states = x[0], list(x[1:])
        x = np.asarray(x)
        what = f"Layer '{self.name}' ({type(self).__name__})"
        if x.ndim != 3 or x.shape[2] != self.kernel.shape[0]:
            raise ValueError(
                f"{what} was built for inputs of shape (batch, timesteps, {self.kernel.shape[0]}); "
                f"received {x.shape}."
            )
        if x.shape[1] == 0:
            raise ValueError(f"{what} received sequences of 0 timesteps (shape {x.shape}); each needs at least one.")
        if states is not None:
            self._sequence_shape([(None,) + x.shape[1:]] + [np.shape(s) for s in states])
            states = [np.asarray(s, dtype=self.kernel.dtype) for s in states]
            for name, state in zip(self.state_names, states):
                if state.shape[0] != x.shape[0]:
                    raise ValueError(f"{what}: the initial state {name} has {state.shape[0]} rows; the "
                                     f"batch has {x.shape[0]} sequences.")
        return x, states

    def _step_mask(self, mask, shape):
        """The mask as (timesteps, batch) booleans in the order of processing, checked."""
        mask = np.asarray(mask)
        if mask.shape != shape[:2]:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) received a mask of shape {mask.shape} for "
                f"sequences of shape {shape}; expected one of shape (batch, timesteps) = {shape[:2]}."
            )
        kept = mask.astype(bool, copy=False).T
        return kept[::-1] if self.go_backwards else kept

    def _held_rows(self, kept, dtype):
        """What the passes over time need of a mask: ``held``, for each step the rows whose
        states it holds as (batch, 1) booleans (None for none; ``held`` None when no step holds
        any), and
        ``output_weights``, (steps, batch, 1) factors of the outputs (None for ones): the mask
        with zero_output_for_mask, whether a row has had a kept step when unrolled."""
        found = {"held": None, "output_weights": None}
        if kept is None or kept.all():
            return found
        held = ~kept[:, :, None]
        found["held"] = [None if whole else held[t] for t, whole in enumerate(kept.all(axis=1).tolist())]
        if self.unroll:  # Keras' unrolled loop outputs the previous output, zeros at first
            found["output_weights"] = np.logical_or.accumulate(kept, axis=0)[:, :, None].astype(dtype)
        elif self.zero_output_for_mask:
            found["output_weights"] = kept[:, :, None].astype(dtype)
        return found

    @staticmethod
    def _hold(cache, t, names):
        """Forward, after step t: the rows masked at t keep the states they had before it."""
        rows = cache["held"][t]
        if rows is not None:
            for name in names:
                np.copyto(cache[name][t + 1], cache[name][t], where=rows)

    @staticmethod
    def _release(cache, t, carried):
        """Backward, before step t: for the rows masked at t, takes the gradients of the held
        states (``carried``: dL/dh_t carried from step t + 1, then LSTM's dL/dc_t) and of the
        output out of the step, which then computes no gradient for them; returns what
        ``_pass_held`` hands to step t - 1 unchanged (None when no row is masked at t)."""
        rows = cache["held"][t]
        if rows is None:
            return None
        d_out = cache["d_h"][t]
        passed = [carried[0] + d_out] + [c.copy() for c in carried[1:]]
        np.copyto(d_out, 0, where=rows)
        for c in carried:
            np.copyto(c, 0, where=rows)
        return rows, passed

    @staticmethod
    def _pass_held(released, carried):
        """Backward, after step t: the held rows' gradients go on to step t - 1."""
        if released is not None:
            rows, passed = released
            for c, value in zip(carried, passed):
                np.copyto(c, value, where=rows)

    def _dropout_masks(self, batch, features, dtype):
        """The inverted dropout masks of one training call, each shared by every step: of the
        input features, (batch, features), and of the previous output, (batch, units); a list
        of one mask, or of one per gate with implementation 1; None where the rate is 0."""
        count = self.gates if self.implementation == 1 else 1
        rng = self._rng or backend.rng()

        def masks(rate, width):
            if not rate:
                return None
            return [dropout_mask(draw_bits(rng, batch * width), (batch, width), rate, dtype) for _ in range(count)]

        return masks(self.dropout, features), masks(self.recurrent_dropout, self.units)

    def _input_bias(self):
        return self.bias.value

    @staticmethod
    def _time_loop(steps, cache):
        """Runs ``steps(cache)``, a loop over time, with BLAS on one thread (``blas.split_batch``
        in one part): a step's product is too short to share between threads. On 2 cores (busy
        with other work), an LSTM's forward pass (batch 128, 100 steps, 64 features, 128 units)
        took 256 ms (best of 6) with each step's product split in two bands by ``blas.matmul``,
        103 ms on one thread."""
        split_batch(1, lambda lo, hi: steps(cache), 1)

    def _allocate(self, steps, batch, dtype):
        """The arrays a forward pass fills: each state at every step, (steps + 1, batch, units),
        index 0 holding the initial state; a subclass adds what its backward pass reads."""
        return {name: np.empty((steps + 1, batch, self.units), dtype) for name in self.state_names}

    # ---- backward -----------------------------------------------------------------------------

    def backward(self, dy):
        cache = self._cache
        xs, h = cache["xs"], cache["h"]
        steps, batch, _ = xs.shape
        dtype = h.dtype
        parts = list(dy) if self.return_state else [dy, *([None] * len(self.state_names))]
        d_output, d_final = parts[0], parts[1:]
        d_h = np.zeros((steps, batch, self.units), dtype)  # dL/dh_t from outside the loop
        if d_output is not None:
            if self.return_sequences:
                d_h[...] = np.asarray(d_output).transpose(1, 0, 2)
            else:
                d_h[-1] = d_output
            if cache["output_weights"] is not None:
                d_h *= cache["output_weights"]
        carried = [np.zeros((batch, self.units), dtype) if d is None else np.array(d, dtype=dtype) for d in d_final]
        cache.update(d_h=d_h, carried=carried, d_projected=np.empty_like(cache["projected"]))
        self._allocate_gradients(cache)
        self._time_loop(self._backward_steps, cache)
        d_projected, input_masks = cache["d_projected"], cache["input_masks"]
        self.grads = [dropped_product_weight_gradient(xs, d_projected, input_masks), self._recurrent_gradient(cache)]
        if self.use_bias:
            self.grads.append(self._bias_gradient(cache))
        if not self.input_gradient:
            return None
        dx = dropped_product_input_gradient(d_projected, self.kernel.value, input_masks)
        dx = np.ascontiguousarray((dx[::-1] if self.go_backwards else dx).transpose(1, 0, 2))
        return [dx, *carried] if cache["given"] else dx

    def _allocate_gradients(self, cache):
        """Adds the arrays a subclass's backward pass fills besides d_projected."""

    def _fused(self):
        """Whether the steps run as the fused kernels of ``kernels.recurrent`` (written for
        Keras' default activations) rather than in NumPy."""
        return cells.FUSED and self.activation is activations.tanh and (
            getattr(self, "recurrent_activation", None) is activations.sigmoid)

    def _recurrent_gradient(self, cache):
        """dL/dU = H_prev^T dZ, summed over the steps (rows of every step stacked; H_prev
        dropped as each gate saw it)."""
        return dropped_product_weight_gradient(cache["h"][:-1], cache["d_projected"], cache["recurrent_masks"])

    def _bias_gradient(self, cache):
        return cache["d_projected"].sum(axis=(0, 1))

    # ---- description --------------------------------------------------------------------------

    def get_config(self):
        return {
            **super().get_config(),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
            "units": self.units,
            "activation": self.activation.name,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **weight_options_config(self, *RECURRENT_WEIGHT_OPTIONS),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, units={self.units}, built={self.built}>"


class SimpleRNN(RecurrentLayer):
    """A fully connected recurrence: ``h_t = activation(x_t W + h_{t-1} U + b)``.

    Backward, for g_t = dL/dh_t (from the output and from step t + 1):
    ``dz_t = g_t * activation'(z_t)``, ``dL/dh_{t-1} += dz_t U^T``.

    Args: those of :class:`RecurrentLayer`, Keras' SimpleRNN arguments in Keras' order.
    """

    cell_name = "simple_rnn_cell"

    def _allocate(self, steps, batch, dtype):
        cache = super()._allocate(steps, batch, dtype)
        cache["z"] = np.empty((steps, batch, self.units), dtype)
        return cache

    def _forward_steps(self, cache):
        h, z, projected = cache["h"], cache["z"], cache["projected"]
        u, act, masks = self.recurrent_kernel.value, self.activation, cache["recurrent_masks"]
        held = cache["held"]
        for t in range(z.shape[0]):
            dropped_product(h[t], u, masks, out=z[t])
            z[t] += projected[t]
            h[t + 1] = act.forward(z[t])
            if held is not None:
                self._hold(cache, t, self.state_names)

    def _backward_steps(self, cache):
        h, z, d_h, dz = cache["h"], cache["z"], cache["d_h"], cache["d_projected"]
        u, act, masks = self.recurrent_kernel.value, self.activation, cache["recurrent_masks"]
        g, held = cache["carried"][0], cache["held"]
        for t in range(z.shape[0] - 1, -1, -1):
            released = None if held is None else self._release(cache, t, [g])
            g = g + d_h[t]
            dz[t] = act.backward(g, z[t], h[t + 1])
            g = dropped_product_input_gradient(dz[t], u, masks)
            self._pass_held(released, [g])
        cache["carried"][0] = g


class LSTM(RecurrentLayer):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997), Keras' formulation.

    With z_t = x_t W + h_{t-1} U + b split into blocks (i, f, c, o), σ the recurrent activation
    and φ the activation::

        i = σ(z_i)   f = σ(z_f)   g = φ(z_c)   o = σ(z_o)
        c_t = f * c_{t-1} + i * g        h_t = o * φ(c_t)

    Backward, for dh = dL/dh_t and dc = dL/dc_t arriving from the output and step t + 1::

        dc += dh * o * φ'(c_t)
        dz_i = dc * g * σ'(z_i)      dz_f = dc * c_{t-1} * σ'(z_f)
        dz_c = dc * i * φ'(z_c)      dz_o = dh * φ(c_t) * σ'(z_o)
        dL/dc_{t-1} = dc * f         dL/dh_{t-1} = dz U^T

    Args: those of :class:`RecurrentLayer`, and
        recurrent_activation: σ (sigmoid by default).
        unit_forget_bias: start the forget gate's bias at 1 (the other blocks from
            bias_initializer), as Keras does by default.
    """

    gates = 4
    state_names = ("h", "c")
    cell_name = "lstm_cell"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, **kwargs):
        super().__init__(
            units, activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = check_bool(unit_forget_bias, "unit_forget_bias", "LSTM")

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, initializer = self.units, self.bias_initializer

        def forget_bias_ones(shape, dtype=None):
            ones = np.ones(units, dtype=dtype)
            return np.concatenate([initializer((units,), dtype), ones, initializer((2 * units,), dtype)])

        return forget_bias_ones

    def _allocate(self, steps, batch, dtype):
        cache = super()._allocate(steps, batch, dtype)
        cache["z"] = np.empty((steps, batch, 4 * self.units), dtype)  # pre-activations
        cache["gates"] = np.empty_like(cache["z"])  # i, f, g, o
        cache["phi_c"] = np.empty((steps, batch, self.units), dtype)  # φ(c_t)
        return cache

    def _forward_steps(self, cache):
        h, c, z, gates, phi_c, projected = (cache[k] for k in ("h", "c", "z", "gates", "phi_c", "projected"))
        u, fused, held, masks = self.recurrent_kernel.value, self._fused(), cache["held"], cache["recurrent_masks"]
        for t in range(z.shape[0]):
            rows = (z[t], projected[t], c[t], gates[t], c[t + 1], phi_c[t], h[t + 1])
            dropped_product(h[t], u, masks, out=rows[0])
            (cells.lstm_forward_step if fused else self._forward_step)(*rows)
            if held is not None:
                self._hold(cache, t, self.state_names)

    def _forward_step(self, z, xw, c_prev, gates, c, phi_c, h):
        """One step in NumPy, for any activations (the reference of ``cells.lstm_forward_step``)."""
        n, act, rec = self.units, self.activation, self.recurrent_activation
        z += xw
        gates[:, :n] = rec.forward(z[:, :n])
        gates[:, n:2 * n] = rec.forward(z[:, n:2 * n])
        gates[:, 2 * n:3 * n] = act.forward(z[:, 2 * n:3 * n])
        gates[:, 3 * n:] = rec.forward(z[:, 3 * n:])
        np.multiply(gates[:, n:2 * n], c_prev, out=c)
        c += gates[:, :n] * gates[:, 2 * n:3 * n]
        phi_c[...] = act.forward(c)
        np.multiply(gates[:, 3 * n:], phi_c, out=h)

    def _backward_steps(self, cache):
        c, z, gates, phi_c, d_h, dz = (cache[k] for k in ("c", "z", "gates", "phi_c", "d_h", "d_projected"))
        u, fused, masks = self.recurrent_kernel.value, self._fused(), cache["recurrent_masks"]
        dh, dc = cache["carried"][0].copy(), cache["carried"][1].copy()
        held = cache["held"]
        for t in range(z.shape[0] - 1, -1, -1):
            released = None if held is None else self._release(cache, t, [dh, dc])
            rows = (dh, d_h[t], dc, gates[t], c[t], phi_c[t], dz[t])
            if fused:
                cells.lstm_backward_step(*rows)
            else:
                self._backward_step(*rows, z[t], c[t + 1])
            dh = dropped_product_input_gradient(dz[t], u, masks)
            self._pass_held(released, [dh, dc])
        cache["carried"][0] = dh
        cache["carried"][1] = dc

    def _backward_step(self, dh, d_out, dc, gates, c_prev, phi_c, dz, z, c):
        """One step back in NumPy (the reference of ``cells.lstm_backward_step``)."""
        n, act, rec = self.units, self.activation, self.recurrent_activation
        dh = dh + d_out
        i, f, g, o = gates[:, :n], gates[:, n:2 * n], gates[:, 2 * n:3 * n], gates[:, 3 * n:]
        dc += act.backward(dh * o, c, phi_c)
        dz[:, :n] = rec.backward(dc * g, z[:, :n], i)
        dz[:, n:2 * n] = rec.backward(dc * c_prev, z[:, n:2 * n], f)
        dz[:, 2 * n:3 * n] = act.backward(dc * i, z[:, 2 * n:3 * n], g)
        dz[:, 3 * n:] = rec.backward(dh * phi_c, z[:, 3 * n:], o)
        dc *= f

    def get_config(self):
        config = super().get_config()
        config.update(recurrent_activation=self.recurrent_activation.name, unit_forget_bias=self.unit_forget_bias)
        return config


class GRU(RecurrentLayer):
    """Gated recurrent unit (Cho et al., 2014), Keras' formulation: blocks (z, r, h), σ the
    recurrent activation, φ the activation, and ``h_t = z * h_{t-1} + (1 - z) * ĥ``.

    With ``reset_after=True`` (Keras' default, and cuDNN's), the reset gate scales the recurrent
    product, which has a bias of its own: with xw = x_t W + b_in and rh = h_{t-1} U + b_rec,
    ``z = σ(xw_z + rh_z)``, ``r = σ(xw_r + rh_r)``, ``ĥ = φ(xw_h + r * rh_h)``. Backward, for
    dh = dL/dh_t::

        dz_z = dh * (h_{t-1} - ĥ) * σ'     da = dh * (1 - z) * φ'     dz_r = da * rh_h * σ'
        d(xw) = (dz_z, dz_r, da)           d(rh) = (dz_z, dz_r, da * r)
        dL/dh_{t-1} = dh * z + d(rh) U^T   dU = Σ h_{t-1}^T d(rh)

    With ``reset_after=False`` it scales the previous state before the product:
    ``ĥ = φ(xw_h + (r * h_{t-1}) U_h)``, U_h the h block of U, and one bias. Then
    ``dq = da U_h^T`` for q = r * h_{t-1}, ``dz_r = dq * h_{t-1} * σ'``,
    ``dL/dh_{t-1} = dh * z + (dz_z, dz_r) U_zr^T + dq * r``, and U_h's gradient is Σ q^T da.

    The bias has shape (2, 3 * units) with reset_after (input bias, then recurrent bias), else
    (3 * units,).

    Args: those of :class:`RecurrentLayer`, and
        recurrent_activation: σ (sigmoid by default).
        reset_after: where the reset gate applies (True by default, as in Keras 3).
    """

    gates = 3
    cell_name = "gru_cell"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", reset_after=True, **kwargs):
        super().__init__(
            units, activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = check_bool(reset_after, "reset_after", "GRU")

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _input_bias(self):
        return self.bias.value[0] if self.reset_after else self.bias.value

    def _allocate(self, steps, batch, dtype):
        cache = super()._allocate(steps, batch, dtype)
        cache["z"] = np.empty((steps, batch, 3 * self.units), dtype)  # pre-activations
        cache["gates"] = np.empty_like(cache["z"])  # z, r, ĥ
        # reset_after: rh = h_{t-1} U + b_rec (all blocks); else q = r * h_{t-1}.
        cache["recurrent"] = np.empty((steps, batch, 3 * self.units if self.reset_after else self.units), dtype)
        return cache

    def _allocate_gradients(self, cache):
        if self.reset_after:  # d(rh) of every step
            cache["d_recurrent"] = np.empty_like(cache["recurrent"])

    def _forward_steps(self, cache):
        h, z, gates, recurrent, projected = (cache[k] for k in ("h", "z", "gates", "recurrent", "projected"))
        u, n, fused, held = self.recurrent_kernel.value, self.units, self._fused(), cache["held"]
        masks = cache["recurrent_masks"]
        for t in range(z.shape[0]):
            previous, zt, at, xw, rt = h[t], z[t], gates[t], projected[t], recurrent[t]
            if self.reset_after:
                dropped_product(previous, u, masks, out=rt)
                if self.use_bias:
                    rt += self.bias.value[1]
                (cells.gru_forward_step if fused else self._forward_step)(zt, xw, rt, previous, at, h[t + 1])
            else:  # q = r * h_{t-1} from the h block's dropped copy of h_{t-1}
                dropped_product(previous, u[:, :2 * n], masks and masks[:2], out=zt[:, :2 * n])
                seen = previous if masks is None else previous * masks[2]
                (cells.gru_gates_step if fused else self._gates_step)(zt, xw, seen, at, rt)
                matmul(rt, u[:, 2 * n:], out=zt[:, 2 * n:])
                (cells.gru_candidate_step if fused else self._candidate_step)(zt, xw, previous, at, h[t + 1])
            if held is not None:
                self._hold(cache, t, self.state_names)

    # The steps in NumPy, for any activations: the references of cells.gru_<name of the step>.

    def _forward_step(self, z, xw, rh, h_prev, gates, h):
        n, act, rec = self.units, self.activation, self.recurrent_activation
        np.add(xw[:, :2 * n], rh[:, :2 * n], out=z[:, :2 * n])
        gates[:, :n] = rec.forward(z[:, :n])
        gates[:, n:2 * n] = rec.forward(z[:, n:2 * n])
        np.multiply(gates[:, n:2 * n], rh[:, 2 * n:], out=z[:, 2 * n:])
        z[:, 2 * n:] += xw[:, 2 * n:]
        gates[:, 2 * n:] = act.forward(z[:, 2 * n:])
        candidate = gates[:, 2 * n:]
        h[...] = candidate + gates[:, :n] * (h_prev - candidate)

    def _gates_step(self, z, xw, h_prev, gates, q):
        n, rec = self.units, self.recurrent_activation
        z[:, :2 * n] += xw[:, :2 * n]
        gates[:, :n] = rec.forward(z[:, :n])
        gates[:, n:2 * n] = rec.forward(z[:, n:2 * n])
        np.multiply(gates[:, n:2 * n], h_prev, out=q)

    def _candidate_step(self, z, xw, h_prev, gates, h):
        n = self.units
        z[:, 2 * n:] += xw[:, 2 * n:]
        gates[:, 2 * n:] = self.activation.forward(z[:, 2 * n:])
        candidate = gates[:, 2 * n:]
        h[...] = candidate + gates[:, :n] * (h_prev - candidate)

    def _backward_steps(self, cache):
        h, z, gates, recurrent, d_h, dz = (cache[k] for k in ("h", "z", "gates", "recurrent", "d_h", "d_projected"))
        u, n, fused, masks = self.recurrent_kernel.value, self.units, self._fused(), cache["recurrent_masks"]
        dh, held = cache["carried"][0].copy(), cache["held"]
        for t in range(z.shape[0] - 1, -1, -1):
            previous, at, dzt, rt = h[t], gates[t], dz[t], recurrent[t]
            released = None if held is None else self._release(cache, t, [dh])
            if self.reset_after:
                d_rh = cache["d_recurrent"][t]
                if fused:
                    cells.gru_backward_step(dh, d_h[t], previous, at, rt, dzt, d_rh)
                else:
                    self._backward_step(dh, d_h[t], previous, at, rt, dzt, d_rh, z[t])
                dh += dropped_product_input_gradient(d_rh, u, masks)
            else:
                if fused:
                    cells.gru_candidate_backward_step(dh, d_h[t], previous, at, dzt)
                else:
                    self._candidate_backward_step(dh, d_h[t], previous, at, dzt, z[t])
                # dq for q = r * (h_{t-1} * mask): the mask moves onto dq (the reset gate's
                # gradient dq * h_{t-1} * mask and dh's dq * mask * r alike)
                dq = dropped_product_input_gradient(dzt[:, 2 * n:], u[:, 2 * n:], masks and masks[2:])
                if fused:
                    cells.gru_reset_backward_step(dq, previous, at, dzt, dh)
                else:
                    self._reset_backward_step(dq, previous, at, dzt, dh, z[t])
                dh += dropped_product_input_gradient(dzt[:, :2 * n], u[:, :2 * n], masks and masks[:2])
            self._pass_held(released, [dh])
        cache["carried"][0] = dh

    def _backward_step(self, dh, d_out, h_prev, gates, rh, dxw, drh, z):
        n, act, rec = self.units, self.activation, self.recurrent_activation
        grad_h = dh + d_out
        update, reset, candidate = gates[:, :n], gates[:, n:2 * n], gates[:, 2 * n:]
        dxw[:, 2 * n:] = act.backward(grad_h * (1 - update), z[:, 2 * n:], candidate)
        dxw[:, :n] = rec.backward(grad_h * (h_prev - candidate), z[:, :n], update)
        dxw[:, n:2 * n] = rec.backward(dxw[:, 2 * n:] * rh[:, 2 * n:], z[:, n:2 * n], reset)
        drh[...] = dxw
        drh[:, 2 * n:] *= reset
        np.multiply(grad_h, update, out=dh)

    def _candidate_backward_step(self, dh, d_out, h_prev, gates, dxw, z):
        n, act, rec = self.units, self.activation, self.recurrent_activation
        grad_h = dh + d_out
        update, candidate = gates[:, :n], gates[:, 2 * n:]
        dxw[:, :n] = rec.backward(grad_h * (h_prev - candidate), z[:, :n], update)
        dxw[:, 2 * n:] = act.backward(grad_h * (1 - update), z[:, 2 * n:], candidate)
        np.multiply(grad_h, update, out=dh)

    def _reset_backward_step(self, dq, h_prev, gates, dxw, dh, z):
        n, rec = self.units, self.recurrent_activation
        reset = gates[:, n:2 * n]
        dxw[:, n:2 * n] = rec.backward(dq * h_prev, z[:, n:2 * n], reset)
        dh += dq * reset

    def _recurrent_gradient(self, cache):
        previous, masks = cache["h"][:-1], cache["recurrent_masks"]
        if self.reset_after:
            return dropped_product_weight_gradient(previous, cache["d_recurrent"], masks)
        n = self.units
        d_flat = cache["d_projected"].reshape(-1, 3 * n)
        return np.concatenate(
            [dropped_product_weight_gradient(previous, d_flat[:, :2 * n], masks and masks[:2]),
             matmul(cache["recurrent"].reshape(-1, n).T, d_flat[:, 2 * n:])],  # q holds its mask
            axis=1,
        )

    def _bias_gradient(self, cache):
        d_input = cache["d_projected"].sum(axis=(0, 1))
        if not self.reset_after:
            return d_input
        return np.stack([d_input, cache["d_recurrent"].sum(axis=(0, 1))])

    def get_config(self):
        config = super().get_config()
        config.update(recurrent_activation=self.recurrent_activation.name, reset_after=self.reset_after)
        return config
