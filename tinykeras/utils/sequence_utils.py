"""``keras.utils.pad_sequences``: lists of different lengths as one rectangular array."""
import numpy as np


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Pads (or truncates) each sequence to the same length, as Keras does.

    Sequences longer than ``maxlen`` lose values at the start (``truncating='pre'``) or at the
    end ('post'); shorter ones are filled with ``value`` before (``padding='pre'``) or after
    ('post'). Values are converted with NumPy to ``dtype`` (so 1.7 becomes 1 in 'int32').

    Args:
        sequences: a list of sequences (lists or arrays); each element may itself be an array
            (all of one shape), which becomes the trailing axes of the result.
        maxlen: the length of the result; by default the longest sequence's.
        dtype: the result's type; ``object`` for strings.
        padding: 'pre' or 'post'.
        truncating: 'pre' or 'post'.
        value: the padding value.

    Returns:
        An array of shape ``(len(sequences), maxlen) + element_shape``.

    Raises:
        ValueError: for sequences that are not a list of iterables, elements of different
            shapes, an unknown ``padding`` or ``truncating``, or a string ``value`` with a
            numeric ``dtype``.
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable.")
    lengths, sample_shape = [], None
    for sequence in sequences:
        try:
            lengths.append(len(sequence))
        except TypeError as error:
            raise ValueError(f"`sequences` must be a list of iterables. Found non-iterable: {sequence}") from error
        if sample_shape is None and len(sequence):
            sample_shape = np.asarray(sequence).shape[1:]
    sample_shape = sample_shape or ()
    if maxlen is None:
        maxlen = max(lengths, default=0)
    textual = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not textual:
        raise ValueError(
            f"`dtype` {dtype} is not compatible with `value`'s type: {type(value)}\n"
            "You should set `dtype=object` for variable length strings."
        )
    result = np.full((len(lengths), maxlen, *sample_shape), value, dtype=dtype)
    for index, sequence in enumerate(sequences):
        if not len(sequence):
            continue
        if truncating == "pre":
            kept = sequence[len(sequence) - maxlen:] if len(sequence) > maxlen else sequence
        elif truncating == "post":
            kept = sequence[:maxlen]
        else:
            raise ValueError(f'Truncating type "{truncating}" not understood')
        kept = np.asarray(kept, dtype=dtype)
        if kept.shape[1:] != sample_shape:
            raise ValueError(
                f"Shape of sample {kept.shape[1:]} of sequence at position {index} is different "
                f"from expected shape {sample_shape}"
            )
        if not len(kept):
            continue
        if padding == "post":
            result[index, : len(kept)] = kept
        elif padding == "pre":
            result[index, -len(kept):] = kept
        else:
            raise ValueError(f'Padding type "{padding}" not understood')
    return result
