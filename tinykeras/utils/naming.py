"""Helpers for error messages that suggest what the user probably meant."""
import difflib


def closest_names(name, valid):
    """Returns " Did you mean 'x'?" for the nearest valid name, or "" when none is close."""
    if not isinstance(name, str):
        return ""
    match = difflib.get_close_matches(name.lower(), [v.lower() for v in valid], n=1, cutoff=0.6)
    if not match:
        return ""
    original = next(v for v in valid if v.lower() == match[0])
    return f" Did you mean {original!r}?"


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
