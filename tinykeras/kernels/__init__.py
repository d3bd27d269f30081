"""Numba kernels for the memory-bound loops of the layers, each beside a plain NumPy reference.

Every kernel compiles on its first call (and is cached on disk), never at import, unless a
library of them compiled ahead of time is there (``compiled``, built by ``python -m
tinykeras.kernels.build``). Set ``NUMBA_DISABLE_JIT=1`` to run them as plain Python, or
``TINYKERAS_KERNELS=reference`` to run their NumPy references instead (``mode``). How work is
chunked and split between threads is the kernels' own business (``conv2d``, ``blas``,
``_common.split_range``), its constants in ``tuning``. Every kernel that uses several cores does
so through tinykeras' own threads (``blas.split_batch``), which sleep when idle and hold Ctrl-C
back while parts run; none uses Numba's ``parallel=True``, whose threads keep spinning after a
loop and slow the next matrix product (``tuning.SPLIT_MIN_ELEMENTS``).
"""
from tinykeras.kernels.augment import (
    affine_transform,
    affine_transform_reference,
    tap_transform,
    tap_transform_backward,
    tap_transform_backward_reference,
    tap_transform_reference,
)
from tinykeras.kernels.im2col import (
    col2im,
    col2im_reference,
    conv_output_size,
    im2col,
    im2col_reference,
    prefers_tap_order,
    same_padding,
    window_pads,
)
from tinykeras.kernels.pooling import (
    avg_pool_backward,
    avg_pool_backward_reference,
    avg_pool_forward,
    avg_pool_forward_reference,
    max_pool_backward,
    max_pool_backward_reference,
    max_pool_forward,
    max_pool_forward_reference,
)

__all__ = [
    "affine_transform",
    "affine_transform_reference",
    "avg_pool_backward",
    "avg_pool_backward_reference",
    "avg_pool_forward",
    "avg_pool_forward_reference",
    "col2im",
    "col2im_reference",
    "conv_output_size",
    "im2col",
    "im2col_reference",
    "max_pool_backward",
    "max_pool_backward_reference",
    "max_pool_forward",
    "max_pool_forward_reference",
    "prefers_tap_order",
    "same_padding",
    "tap_transform",
    "tap_transform_backward",
    "tap_transform_backward_reference",
    "tap_transform_reference",
    "window_pads",
]
