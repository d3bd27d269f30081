"""Layers that run other layers: Bidirectional and TimeDistributed, with Keras 3's arguments.

A wrapper holds its layers as attributes (Keras' names: ``forward_layer`` and ``backward_layer``;
``layer``), so that their weights are the wrapper's, in Keras' order, and a weights file finds
them where Keras puts them ('layers/bidirectional/forward_layer/cell/vars'). Each pass goes
through the wrapped layers' own ``forward`` and ``backward``: the wrapper's backward only routes
the gradient to them and collects their weights' gradients.

Bidirectional: y = merge(f(x), reverse(b(x))), f running the sequence forwards and b (a copy of
f with ``go_backwards`` flipped) from its end; b's output sequence comes in the order it was
processed and is reversed back in time. Backward, with g = dL/dy: concat splits g along the last
axis, sum hands g to both, ave g / 2, mul g * reverse(b(x)) to f and g * f(x) to b; the part for b
is reversed in time again, and dL/dx = dL/dx_f + dL/dx_b.

TimeDistributed: folds the time axis into the batch, (batch, time, ...) -> (batch * time, ...),
runs the layer once and unfolds its output. The weights are shared by every step, so their
gradient is the sum over steps, which the layer's backward computes over the folded batch.
"""
import copy

import numpy as np

from tinykeras.layers.base import Layer, takes_mask
from tinykeras.layers.recurrent import RecurrentLayer

#: Bidirectional's ways of combining the two directions (None: a list of both outputs).
MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _refuse_activity_regularizer(wrapper, layer):
    if layer.activity_regularizer is not None:
        raise ValueError(
            f"{wrapper}: the wrapped layer '{layer.name}' has an activity_regularizer, which is not "
            "supported inside a wrapper. Pass activity_regularizer= to the wrapper itself, or add "
            "the penalty to the layer reading its output."
        )


def _without_input_shape(config):
    """A layer's config without the input shape it was given (the wrapper takes it)."""
    return {key: value for key, value in config.items() if key not in ("batch_input_shape", "input_shape")}


class _Wrapper(Layer):
    """What both wrappers share: their layers are their sublayers (weights, trainable, copies)."""

    _wrapped = ()  # the attribute names of the layers held
    #: Keras 2's '.h5' files name a wrapper's weights by their paths (see legacy_h5).
    wraps_layers = True

    def _sublayers(self):
        return [self.__dict__[name] for name in self._wrapped if name in self.__dict__]

    @property
    def variables(self):
        return [v for layer in self._sublayers() for v in layer.variables]

    def _name_variables(self):
        """Gives the wrapped layers' variables Keras' paths inside the wrapper
        ('bidirectional/forward_lstm/lstm_cell/kernel')."""
        for variable in self.variables:
            variable.path = f"{self.name}/{variable.path}"

    def _collect_gradients(self):
        """``self.grads``: the wrapped layers' gradients, in the order of trainable_weights."""
        if not self.trainable:
            self.grads = []
            return
        self.grads = [g for layer in self._sublayers() if layer.trainable for g in layer.grads]

    def __copy__(self):
        """A copy computing a second call (a shared wrapper): its layers are copies too, sharing
        the variables and keeping their own caches."""
        clone = super().__copy__()
        for name in self._wrapped:
            clone.__dict__[name] = copy.copy(self.__dict__[name])
        return clone


class Bidirectional(_Wrapper):
    """Runs a recurrent layer over the sequence in both directions and merges the two outputs.

    Args:
        layer: a SimpleRNN, LSTM or GRU. The wrapper builds its forward layer from the layer's
            config, named 'forward_<name>' (the layer itself is not used, nor its weights), as
            Keras does.
        merge_mode: how the outputs combine: 'concat' (along the last axis, the default), 'sum',
            'mul', 'ave', or None for the list [forward output, backward output].
        weights: optional initial weights, the forward layer's then the backward layer's (as
            ``get_weights`` lists them), set once the layer is built (Keras 3 accepts the
            argument and drops it; Keras 2 set them).
        backward_layer: optional recurrent layer for the backward direction; by default a copy
            of ``layer``'s config with ``go_backwards`` flipped, named 'backward_<name>'. It must
            agree with ``layer`` on return_sequences and return_state and differ on go_backwards.

    Called with ``initial_state``, its first half starts the forward layer and the second half the
    backward one. With ``return_state`` the output is ``[output, *forward states, *backward
    states]`` (``[forward output, backward output, *states]`` for merge_mode None).
    """

    _wrapped = ("forward_layer", "backward_layer")

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        for role, given in (("layer", layer), ("backward_layer", backward_layer)):
            if (role == "layer" or given is not None) and not isinstance(given, RecurrentLayer):
                raise ValueError(
                    f"Bidirectional: `{role}` must be a recurrent layer (SimpleRNN, LSTM or GRU) "
                    f"instance. Received: {role}={given!r}"
                )
        if merge_mode not in MERGE_MODES:
            raise ValueError(
                f"Bidirectional: invalid merge_mode. Expected one of 'concat', 'sum', 'mul', 'ave' "
                f"or None. Received: merge_mode={merge_mode!r}"
            )
        if layer.batch_input_shape is not None and not {"input_shape", "batch_input_shape", "input_dim"} & set(kwargs):
            kwargs["batch_input_shape"] = layer.batch_input_shape
        super().__init__(**kwargs)
        config = _without_input_shape(layer.get_config())
        self.forward_layer = type(layer)(**{**config, "name": "forward_" + layer.name.removeprefix("forward_")})
        if backward_layer is None:
            backward_layer = type(layer)(**{
                **config, "go_backwards": not layer.go_backwards,
                "name": "backward_" + layer.name.removeprefix("backward_"),
            })
        self.backward_layer = backward_layer
        self._check_directions()
        for direction in (self.forward_layer, self.backward_layer):
            _refuse_activity_regularizer("Bidirectional", direction)
            direction.zero_output_for_mask = direction.return_sequences  # as Keras forces it
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.stateful = self.forward_layer.stateful or self.backward_layer.stateful
        self._initial_weights = None if weights is None else list(weights)
        self._outputs = None

    def _check_directions(self):
        forward, backward = self.forward_layer, self.backward_layer
        if forward.go_backwards == backward.go_backwards:
            raise ValueError(
                "Bidirectional: the forward and backward layers must have different go_backwards "
                f"values. Received: layer.go_backwards={forward.go_backwards}, "
                f"backward_layer.go_backwards={backward.go_backwards}"
            )
        for attribute in ("return_sequences", "return_state"):
            if getattr(forward, attribute) != getattr(backward, attribute):
                raise ValueError(
                    f"Bidirectional: the forward and backward layers must have the same {attribute}. "
                    f"Received: layer.{attribute}={getattr(forward, attribute)}, "
                    f"backward_layer.{attribute}={getattr(backward, attribute)}"
                )

    # ---- states carried between calls (stateful) ----------------------------------------------

    @property
    def states(self):
        """Both directions' carried states (the forward layer's first), or None before they exist."""
        forward, backward = self.forward_layer.states, self.backward_layer.states
        return None if forward is None or backward is None else forward + backward

    def reset_state(self):
        """Zeroes the states both stateful directions carry between calls."""
        if not self.stateful:
            raise AttributeError(f"Bidirectional '{self.name}': reset_state needs a stateful layer (stateful=True).")
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    def reset_states(self):
        """Keras' other name of ``reset_state``."""
        self.reset_state()

    # ---- calling ------------------------------------------------------------------------------

    #: Masks reach both directions (each skips the padded steps) and travel on with the
    #: output sequences, as in Keras.
    supports_masking = True

    def __call__(self, sequences, initial_state=None, training=False, mask=None):
        """Runs both directions on ``sequences`` (an array or a symbolic tensor), from
        ``initial_state`` (the forward layer's states, then the backward layer's) or zeros,
        skipping the steps where ``mask`` ((batch, timesteps) booleans) is False."""
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            sequences = [sequences, *states]
        return super().__call__(sequences, training=training, mask=mask)

    def compute_mask(self, inputs, previous_mask=None):
        """The outputs' masks, as Keras gives them: the sequences' mask on the output sequences
        (on both with merge_mode=None), none without return_sequences, none on states."""
        mask = previous_mask[0] if isinstance(previous_mask, (list, tuple)) else previous_mask
        if self.return_sequences:
            output_mask = [mask, mask] if self.merge_mode is None else mask
        else:
            output_mask = [None, None] if self.merge_mode is None else None
        if self.return_state:
            states = [None] * (len(self.forward_layer.state_names) + len(self.backward_layer.state_names))
            return (output_mask if isinstance(output_mask, list) else [output_mask]) + states
        return output_mask

    def _split_states(self, states):
        """The initial states for (forward, backward): the first half and the second half."""
        expected = len(self.forward_layer.state_names) + len(self.backward_layer.state_names)
        if len(states) != expected:
            raise ValueError(
                f"Layer '{self.name}' (Bidirectional) takes {expected} initial states (the forward "
                f"layer's {', '.join(self.forward_layer.state_names)}, then the backward layer's); "
                f"received {len(states)}."
            )
        half = len(states) // 2
        return states[:half], states[half:]

    # ---- shapes and weights -------------------------------------------------------------------

    def build(self, input_shape):
        sequences = input_shape[0] if isinstance(input_shape, list) else input_shape
        if isinstance(input_shape, list):
            self._split_states(input_shape[1:])
        for direction in (self.forward_layer, self.backward_layer):
            if not direction.built:
                direction.build_for(tuple(sequences))
        self._name_variables()
        if self._initial_weights is not None:
            weights, self._initial_weights = self._initial_weights, None
            self.set_weights(weights)

    def compute_output_shape(self, input_shape):
        sequences = input_shape[0] if isinstance(input_shape, list) else input_shape
        shape = self.forward_layer.compute_output_shape(tuple(sequences))
        states = []
        if self.return_state:
            shape, states = shape[0], list(shape[1:])
        if self.merge_mode == "concat":
            outputs = [shape[:-1] + (2 * shape[-1],)]
        elif self.merge_mode is None:
            outputs = [shape, shape]
        else:
            outputs = [shape]
        if self.return_state or self.merge_mode is None:
            return outputs + states + states
        return outputs[0]

    # ---- forward and backward -----------------------------------------------------------------

    def forward(self, x, training=False, mask=None):
        forward_x = backward_x = x
        if isinstance(x, (list, tuple)):
            forward_states, backward_states = self._split_states(list(x[1:]))
            forward_x, backward_x = [x[0], *forward_states], [x[0], *backward_states]
        if isinstance(mask, (list, tuple)):  # the sequences' mask (states carry none)
            mask = mask[0]
        # The backward layer (go_backwards) reads the mask in its own order of steps.
        y = self.forward_layer.forward(forward_x, training, mask=mask)
        y_rev = self.backward_layer.forward(backward_x, training, mask=mask)
        states = []
        if self.return_state:
            states = y[1:] + y_rev[1:]
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]
        self._outputs = (y, y_rev)
        if self.merge_mode == "concat":
            output = [np.concatenate([y, y_rev], axis=-1)]
        elif self.merge_mode == "sum":
            output = [y + y_rev]
        elif self.merge_mode == "ave":
            output = [(y + y_rev) / 2]
        elif self.merge_mode == "mul":
            output = [y * y_rev]
        else:
            output = [y, np.ascontiguousarray(y_rev)]
        if self.return_state or self.merge_mode is None:
            return output + states
        return output[0]

    def backward(self, dy):
        y, y_rev = self._outputs
        parts = list(dy) if self.return_state or self.merge_mode is None else [dy]
        count = 2 if self.merge_mode is None else 1
        d_y, d_y_rev = self._merge_backward(parts[:count], y, y_rev)
        if self.return_sequences:
            d_y_rev = d_y_rev[:, ::-1]
        d_states = parts[count:]
        half = len(d_states) // 2
        d_inputs = []
        for direction, d_output, d_final in (
            (self.forward_layer, d_y, d_states[:half]),
            (self.backward_layer, np.ascontiguousarray(d_y_rev), d_states[half:]),
        ):
            direction.input_gradient = self.input_gradient
            d_inputs.append(direction.backward([d_output, *d_final] if self.return_state else d_output))
        self._collect_gradients()
        if not self.input_gradient:
            return None
        d_forward, d_backward = d_inputs
        if not isinstance(d_forward, list):  # no initial states given
            return d_forward + d_backward
        return [d_forward[0] + d_backward[0], *d_forward[1:], *d_backward[1:]]

    def _merge_backward(self, d_outputs, y, y_rev):
        """(dL/dy, dL/dy_rev) from the gradient of the merged output (zeros where none reaches)."""
        d_outputs = [np.zeros_like(y) if d is None else np.asarray(d) for d in d_outputs]
        if self.merge_mode is None:
            return d_outputs
        d = d_outputs[0]
        if self.merge_mode == "concat":
            units = y.shape[-1]
            return d[..., :units], d[..., units:]
        if self.merge_mode == "sum":
            return d, d
        if self.merge_mode == "ave":
            half = d / 2
            return half, half
        return d * y_rev, d * y  # mul

    # ---- description --------------------------------------------------------------------------

    def get_config(self):
        """Keras' config: merge_mode and both layers' configs (the forward one as 'layer')."""
        from tinykeras import saving

        return {
            **super().get_config(),
            "merge_mode": self.merge_mode,
            "layer": saving.layer_entry(self.forward_layer),
            "backward_layer": saving.layer_entry(self.backward_layer),
        }

    @classmethod
    def from_config(cls, config):
        from tinykeras import saving

        config = dict(config)
        config["layer"] = saving.nested_layer(config.get("layer"), "Bidirectional 'layer'")
        if config.get("backward_layer") is not None:
            config["backward_layer"] = saving.nested_layer(config["backward_layer"], "Bidirectional 'backward_layer'")
        return cls(**config)

    def __repr__(self):
        return f"<Bidirectional name={self.name}, layer={self.forward_layer.name}, merge_mode={self.merge_mode}>"


class TimeDistributed(_Wrapper):
    """Applies a layer to every step of the time axis (axis 1) of its input, with the same
    weights at every step: (batch, time, ...) -> (batch, time, ...layer's output).

    The steps are folded into the batch, so any layer that treats the samples of a batch
    independently (Dense, Conv2D, Flatten, Dropout, ...) computes what it would step by step.

    Args:
        layer: the layer to apply (one output). A BatchNormalization, whose statistics in
            training mix the samples of a batch (Keras computes them step by step), runs only in
            inference mode.
    """

    _wrapped = ("layer",)

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(
                f"TimeDistributed: `layer` must be a keras.layers.Layer instance. Received: layer={layer!r}"
            )
        _refuse_activity_regularizer("TimeDistributed", layer)
        super().__init__(**kwargs)
        self.layer = layer
        self._input_shape = None


    def _step_shape(self, input_shape):
        """The wrapped layer's input shape: (batch, ...) without the time axis."""
        if isinstance(input_shape, list) or len(input_shape) < 3:
            raise ValueError(
                f"Layer '{self.name}' (TimeDistributed) expects one input of at least 3 axes "
                f"(batch, time, ...); received input_shape={input_shape}."
            )
        return (input_shape[0], *input_shape[2:])

    def build(self, input_shape):
        self.layer.build_for(self._step_shape(input_shape))
        self._name_variables()
        if isinstance(self.layer.output_shape, list):
            raise ValueError(
                f"Layer '{self.name}' (TimeDistributed): the wrapped layer '{self.layer.name}' gives "
                f"{len(self.layer.output_shape)} outputs; TimeDistributed supports layers with one."
            )

    def compute_output_shape(self, input_shape):
        step = self.layer.compute_output_shape(self._step_shape(input_shape))
        return (step[0], input_shape[1], *step[1:])

    def forward(self, x, training=False, mask=None):
        """Applies the wrapped layer to every step. A mask ((batch, time, ...) booleans, given
        to the call or carried by the input in a model) goes to a wrapped layer that computes
        with one, each step's part of it, as Keras hands it; others ignore it, as in Keras."""
        from tinykeras.layers.normalization import BatchNormalization

        if training and self.layer.trainable and isinstance(self.layer, BatchNormalization):
            raise ValueError(
                f"Layer '{self.name}' (TimeDistributed): training a wrapped BatchNormalization is not "
                "supported (Keras normalizes each step by its own batch statistics). Freeze it "
                "(trainable=False runs it in inference mode) or normalize the whole sequence."
            )
        x = np.asarray(x)
        if x.ndim < 3:
            raise ValueError(
                f"Layer '{self.name}' (TimeDistributed) expects inputs of at least 3 axes (batch, "
                f"time, ...); received shape {x.shape}."
            )
        self._input_shape = x.shape
        steps = x.reshape((-1,) + x.shape[2:])
        if mask is not None:
            mask = np.asarray(mask)
            if mask.ndim < 2 or mask.shape[:2] != x.shape[:2]:
                raise ValueError(
                    f"Layer '{self.name}' (TimeDistributed): the `mask` must be at least 2-D and start with the "
                    f"input's (batch_size, timesteps) = {x.shape[:2]}. Received a mask of shape {mask.shape}."
                )
        if mask is not None and takes_mask(self.layer):
            y = self.layer.forward(steps, training, mask=mask.reshape((-1,) + mask.shape[2:]))
        else:
            y = self.layer.forward(steps, training)
        return y.reshape(x.shape[:2] + y.shape[1:])

    def backward(self, dy):
        dy = np.asarray(dy)
        self.layer.input_gradient = self.input_gradient
        dx = self.layer.backward(dy.reshape((-1,) + dy.shape[2:]))
        self._collect_gradients()
        if not self.input_gradient:
            return None
        return np.asarray(dx).reshape(self._input_shape)

    def get_config(self):
        """Keras' config: the wrapped layer's as 'layer'."""
        from tinykeras import saving

        return {**super().get_config(), "layer": saving.layer_entry(self.layer)}

    @classmethod
    def from_config(cls, config):
        from tinykeras import saving

        config = dict(config)
        config["layer"] = saving.nested_layer(config.get("layer"), "TimeDistributed 'layer'")
        return cls(**config)

    def __repr__(self):
        return f"<TimeDistributed name={self.name}, layer={self.layer.name}, built={self.built}>"
