"""Keras 1 argument names, accepted with one DeprecationWarning that spells the current call.

Keras 2 renamed the layer arguments (``output_dim`` -> ``units``, ``border_mode`` -> ``padding``,
``dim_ordering='th'`` -> ``data_format='channels_first'``, ...) and kept the old names working for a
while with a warning such as "Update your `Dense` call to the Keras 2 API". tinykeras does the same,
so a Keras 1 tutorial runs with only its import lines changed.
"""
import warnings

#: Keras 1 keyword -> its current name (in the order of the current signatures).
RENAMED = {
    "output_dim": "units",
    "nb_filter": "filters",
    "subsample": "strides",
    "border_mode": "padding",
    "dim_ordering": "data_format",
    "bias": "use_bias",
    "init": "kernel_initializer",
}

#: Keras 1's ``dim_ordering`` values -> ``data_format`` values ('default' follows the backend).
DIM_ORDERINGS = {"th": "channels_first", "tf": "channels_last", "default": None}


def data_format_from_dim_ordering(dim_ordering):
    """'th' -> 'channels_first', 'tf' -> 'channels_last', 'default' -> None (the backend's setting).

    Raises:
        ValueError: for any other value, naming the allowed ones.
    """
    if dim_ordering not in DIM_ORDERINGS:
        raise ValueError(
            "The `dim_ordering` argument must be one of 'th', 'tf', 'default' (Keras 1 names; "
            "prefer data_format='channels_first' or 'channels_last'). "
            f"Received: dim_ordering={dim_ordering!r}"
        )
    return DIM_ORDERINGS[dim_ordering]


def pop_legacy_arguments(layer_name, kwargs, arguments, defaults):
    """Moves the Keras 1 keywords out of ``kwargs`` into the current arguments.

    Args:
        layer_name: the class name, for the messages ('Dense').
        kwargs: the call's extra keywords; the legacy ones listed in ``RENAMED`` are removed.
        arguments: the current arguments as the call received them (name -> value).
        defaults: the current arguments' defaults (name -> value): a legacy keyword may not be
            given together with its current name set to something else.

    Returns:
        ``(arguments, renamed)``: the arguments with the legacy values in, and the legacy
        keywords found, as (old name, new name) pairs in the order of ``RENAMED``.

    Raises:
        TypeError: when a legacy keyword and its current name are both given.
    """
    arguments = dict(arguments)
    renamed = []
    for old, new in RENAMED.items():
        if old not in kwargs or new not in arguments:
            continue
        value = kwargs.pop(old)
        if new == "data_format":
            value = data_format_from_dim_ordering(value)
        if arguments[new] != defaults.get(new):
            raise TypeError(
                f"{layer_name}: got both `{old}` (the Keras 1 name) and `{new}`. "
                f"Pass only {new}={arguments[new]!r}."
            )
        arguments[new] = value
        renamed.append((old, new))
    return arguments, renamed


def warn_legacy_call(layer_name, renamed, arguments, current_name=None, positional=(), stacklevel=2):
    """One DeprecationWarning for a call that used Keras 1 names, with the current call spelled
    out: "Update your `Dense` call to the current API: `Dense(units=10)` ...".

    Args:
        layer_name: the name the call used ('Dense', 'Convolution2D').
        renamed: (old name, new name) pairs, as from :func:`pop_legacy_arguments`.
        arguments: the current arguments (name -> value) the renamed ones are read from.
        current_name: the current spelling of the layer, if not ``layer_name`` ('Conv2D').
        positional: the arguments the current call gives by position (('units',) for Dense).
        stacklevel: counted from the function that calls this one (2: the line that called it).
    """
    if not renamed:
        return
    current = [repr(arguments[name]) for name in positional]
    current += [f"{new}={arguments[new]!r}" for _, new in renamed if new not in positional]
    current = ", ".join(current)
    names = ", ".join(f"`{old}` -> `{new}`" for old, new in renamed)
    warnings.warn(
        f"Update your `{layer_name}` call to the current API: "
        f"`{current_name or layer_name}({current})` "
        f"(Keras 1 names renamed: {names}).",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )
