"""``model.summary()``: Keras 3's table of layers, output shapes and parameter counts.

The table is drawn as Keras draws it (through the rich library there): heavy header, a rule between
rows, columns at 45% / 80% / 100% of the line, the line at most 88 characters and at most the
terminal's width less 4, columns then shrunk or grown by rich's rules.
"""
import math
import shutil
import textwrap

_HEADERS = ("Layer (type)", "Output Shape", "Param #", "Connected to")
_ALIGN = ("<", "<", ">", "<")


def format_bytes(size):
    """'215.04 KB', '0.00 B': powers of 1024 with two decimals, as Keras prints them."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.2f} {unit}"
        size /= 1024


def _column_widths(line_length, positions):
    """Cell widths (padding included) for a table ``line_length`` wide with 4 border characters."""
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    wanted = [end - start + 2 for start, end in zip([0] + positions[:-1], positions)]
    room = line_length - (len(wanted) + 1)
    difference = sum(wanted) - room
    if difference > 0:  # take the excess evenly from every column
        return _distribute(wanted, -difference, [1] * len(wanted), round)
    return _distribute(wanted, -difference, wanted, math.ceil)  # grow in proportion


def _distribute(widths, amount, ratios, rounding):
    result, remaining, total_ratio = [], amount, sum(ratios)
    for width, ratio in zip(widths, ratios):
        share = rounding(ratio * remaining / total_ratio) if total_ratio else 0
        result.append(width + share)
        remaining -= share
        total_ratio -= ratio
    return result


def _fit(line, width):
    """A line cut to ``width`` with an ellipsis, as rich cuts a word longer than its column."""
    return line if len(line) <= width else line[: width - 1] + "…"


def _row(cells, widths, edge, bottom=False):
    """The lines of one table row; cells wrap at spaces (``bottom``: the shorter ones sit at the
    bottom, as rich aligns the header)."""
    wrapped = [[_fit(line, w - 2) for line in textwrap.wrap(c, w - 2, break_long_words=False)] or [""]
               for c, w in zip(cells, widths)]
    height = max(len(lines) for lines in wrapped)
    if bottom:
        wrapped = [[""] * (height - len(col)) + col for col in wrapped]
    lines = []
    for i in range(height):
        parts = [
            f" {(col[i] if i < len(col) else ''):{a}{w - 2}} "
            for col, a, w in zip(wrapped, _ALIGN, widths)  # the first len(widths) columns
        ]
        lines.append(edge + edge.join(parts) + edge)
    return lines


def _rule(widths, left, fill, middle, right):
    return left + middle.join(fill * w for w in widths) + right


def _params(variables):
    return sum(v.value.size for v in variables), sum(v.value.nbytes for v in variables)


def optimizer_params(optimizer):
    """(count, bytes) of an optimizer's state: its slots, the step count (int64) and the
    learning rate (float32), as Keras counts them; (0, 0) before it is built."""
    if optimizer is None or getattr(optimizer, "_slots", None) is None:
        return 0, 0
    slots = [array for slots in optimizer._slots.values() for array in slots.values()]
    return sum(a.size for a in slots) + 2, sum(a.nbytes for a in slots) + 8 + 4


def _builds(layer):
    """Whether Keras would show the layer as unbuilt before its first call: its class (or the
    Keras class of its name) defines build. Keras builds the others, weightless, at once."""
    from tinykeras.layers.base import Layer
    from tinykeras.saving import KERAS_LAYERS_WITH_BUILD

    own = isinstance(layer, Layer) and type(layer).build is not Layer.build
    return own or type(layer).__name__ in KERAS_LAYERS_WITH_BUILD or not isinstance(layer, Layer)


def print_summary(model, line_length=None, positions=None, print_fn=None):
    """Prints the summary table of a model: a stack's three columns, or, for a functional model
    whose layers branch or merge, a fourth saying which layers each is connected to.

    Args:
        model: the model.
        line_length: the table's width (default: 88, or 108 with the fourth column, or the
            terminal's width less 4 if smaller).
        positions: right edges of the columns, as fractions of the width or in characters.
        print_fn: function called with each line (default ``print``).
    """
    print_fn = print_fn or print
    connected = not getattr(model, "_sequential_like", lambda: True)()
    default_length, default_positions = (108, [0.3, 0.56, 0.74, 1.0]) if connected else (88, [0.45, 0.80, 1.0])
    line_length = line_length or min(default_length, shutil.get_terminal_size().columns - 4)
    widths = _column_widths(line_length, list(positions or default_positions))
    lines = [f'Model: "{model.name}"', _rule(widths, "┏", "━", "┳", "┓")]
    lines += _row(_HEADERS[: len(widths)], widths, "┃", bottom=True)
    lines.append(_rule(widths, "┡", "━", "╇", "┩"))
    for i, layer in enumerate(getattr(model, "operations", model.layers)):
        if i:
            lines.append(_rule(widths, "├", "─", "┼", "┤"))
        shape = _shape_text(layer.output_shape) if layer.built else "?"
        params = f"{layer.count_params():,}" if layer.built or not _builds(layer) else "0 (unbuilt)"
        cells = [f"{layer.name} ({type(layer).__name__})", shape, params]
        if connected:
            cells.append(model._connections(layer))
        lines += _row(cells, widths, "│")
    lines.append(_rule(widths, "└", "─", "┴", "┘"))
    trainable = _params(model.trainable_weights)
    non_trainable = _params(model.non_trainable_weights)
    optimizer = optimizer_params(getattr(model, "optimizer", None))
    total = [a + b + c for a, b, c in zip(trainable, non_trainable, optimizer)]
    lines.append(f" Total params: {total[0]:,} ({format_bytes(total[1])})")
    lines.append(f" Trainable params: {trainable[0]:,} ({format_bytes(trainable[1])})")
    lines.append(f" Non-trainable params: {non_trainable[0]:,} ({format_bytes(non_trainable[1])})")
    if optimizer[0]:
        lines.append(f" Optimizer params: {optimizer[0]:,} ({format_bytes(optimizer[1])})")
    for line in lines:
        print_fn(line)


def _shape_text(shape):
    """An output shape as Keras prints it: '(None, 3)', or a list of them for a layer giving
    several outputs."""
    if isinstance(shape, list):
        return "[" + ", ".join(str(tuple(s)) for s in shape) + "]"
    return str(tuple(shape))
