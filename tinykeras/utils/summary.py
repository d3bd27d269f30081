"""``model.summary()``: Keras 3's table of layers, output shapes and parameter counts."""


def format_bytes(size):
    """'215.04 KB', '0.00 B': sizes in powers of 1024 with two decimals, as Keras prints them."""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024


def _count(variables):
    return sum(v.value.size for v in variables), sum(v.value.nbytes for v in variables)


def _shape(shape):
    return str(tuple(shape)) if shape is not None else "?"


def print_summary(model, line_length=None, positions=None, print_fn=None):
    """Prints the summary table of a Sequential model.

    Args:
        model: the model.
        line_length: total width of the table (default 79).
        positions: relative or absolute right edges of the three columns.
        print_fn: function to print each line with (default ``print``).
    """
    print_fn = print_fn or print
    line_length = line_length or 79
    positions = positions or [0.45, 0.75, 1.0]
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    widths = [positions[0] - 3, positions[1] - positions[0] - 3, positions[2] - positions[1] - 4]

    def row(cells, left, middle, right, align=("<", "<", ">")):
        padded = [f" {c:{a}{w}} " for c, a, w in zip(cells, align, widths)]
        return left + middle.join(padded) + right

    def rule(left, fill, middle, right):
        return left + middle.join(fill * (w + 2) for w in widths) + right

    lines = [f'Model: "{model.name}"']
    lines.append(rule("┏", "━", "┳", "┓"))
    lines.append(row(["Layer (type)", "Output Shape", "Param #"], "┃", "┃", "┃"))
    lines.append(rule("┡", "━", "╇", "┩"))
    rows = []
    for layer in model.layers:
        output = _shape(layer.output_shape) if layer.built else "?"
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        rows.append(row([f"{layer.name} ({type(layer).__name__})", output, params], "│", "│", "│"))
    lines.append(f"\n{rule('├', '─', '┼', '┤')}\n".join(rows) if rows else row(["", "", ""], "│", "│", "│"))
    lines.append(rule("└", "─", "┴", "┘"))
    total = _count(model.weights)
    trainable = _count(model.trainable_weights)
    non_trainable = _count(model.non_trainable_weights)
    lines.append(f" Total params: {total[0]:,} ({format_bytes(total[1])})")
    lines.append(f" Trainable params: {trainable[0]:,} ({format_bytes(trainable[1])})")
    lines.append(f" Non-trainable params: {non_trainable[0]:,} ({format_bytes(non_trainable[1])})")
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(optimizer, "_slots", None) is not None:
        slots = [a for s in optimizer._slots for a in s.values()]
        count = sum(a.size for a in slots) + 1
        size = sum(a.nbytes for a in slots) + 8
        lines.append(f" Optimizer params: {count:,} ({format_bytes(size)})")
    for line in "\n".join(lines).split("\n"):
        print_fn(line)
