"""Helpers for error messages that suggest what the user probably meant."""
import difflib


def closest_names(name, valid):
    """Returns " Did you mean 'x'?" for the nearest valid name, or "" when none is close.

    The close names are difflib's; among them the fewest edits wins ('adma' is 'adam' with two
    letters swapped, though difflib scores 'adamax' higher)."""
    if not isinstance(name, str):
        return ""
    name = name.lower()
    matches = difflib.get_close_matches(name, [v.lower() for v in valid], n=3, cutoff=0.6)
    if not matches:
        return ""
    best = min(matches, key=lambda match: _edits(name, match))
    original = next(v for v in valid if v.lower() == best)
    return f" Did you mean {original!r}?"


def _edits(a, b):
    """The fewest insertions, deletions, substitutions and swaps of neighbours turning ``a`` into
    ``b`` (the optimal string alignment distance)."""
    previous, current = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        before, previous, current = previous, current, [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
    return current[-1]


def lookup(kind, identifier, registry, aliases=None):
    """Finds ``identifier`` in ``registry`` (case-insensitive), else raises a ValueError that lists
    the valid names and suggests the nearest one.

    Args:
        kind: what is looked up, for the message ('optimizer', 'loss', ...).
        identifier: the name the user gave.
        registry: dict from canonical name to value.
        aliases: optional dict from alternative name to canonical name.
    """
    aliases = aliases or {}
    key = identifier.lower() if isinstance(identifier, str) else identifier
    key = aliases.get(key, key)
    if key in registry:
        return registry[key]
    valid = sorted(k for k in set(registry) | set(aliases) if isinstance(k, str))
    raise ValueError(
        f"Unknown {kind}: {identifier!r}.{closest_names(identifier, valid)} "
        f"Valid {kind} names: {', '.join(valid)}."
    )
