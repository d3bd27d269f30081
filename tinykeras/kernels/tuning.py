"""Every tuning constant of the kernels, each with the measurement that chose it.

The kernels read these at each call (``tuning.CHUNK_BYTES``, not a copy taken at import), so a
test or a measurement can set one for a while (``monkeypatch.setattr(tuning, "CHUNK_BYTES", 1)``).
None of them changes a result: they choose how work is cut, ordered and spread over threads.
Timings are from a 2-core machine with 1 MB of L2 cache a core unless said otherwise.
"""

# ---- threads (``blas``, ``_common``) -------------------------------------------------------------

# Matrix products below this many floating-point operations (2*M*K*N) run on the calling thread:
# a product this small takes about 0.1 ms, so one thread costs little when idle and saves much
# when busy (a 3 MFLOP convolution product took 0.2 ms on one thread and up to 3.8 ms on two when
# another process kept the cores busy). A convolution whose product reaches it splits its batch
# between threads (``conv2d``).
PARALLEL_MIN_FLOPS = 5_000_000

# The fewest rows (or columns) a band of a split matrix product gets.
BAND_MIN_ROWS = 16

# How long a thread waiting for a part of a split, or for a part to end, watches for it before it
# sleeps: about 1 ms (a round of ``blas.watch`` takes about 25 ns). Training steps alternated in
# one process took 0.951x as long with the watch as without on the deep MNIST CNN, 0.950x on the
# CIFAR-10 model (0.985x with a 0.2 ms watch).
WATCH_ROUNDS = 40_000

# From this many elements touched, a kernel over a batch (of images, of a variable's values) is
# cut between tinykeras' own threads (``_common.split_range``), which sleep when idle. On 2 cores,
# 2x2 max pooling forward and backward took 0.69 times as long split as on one thread for 2.1
# million inputs (the CIFAR-10 model's first), 0.92 for 1.0 million, 1.15 for 590,000 (the deep
# MNIST CNN's); Adam's step on 262,144 values (4 arrays of them) 0.91, on 65,536 2.2.
#
# These threads are the kernels' only ones. im2col, col2im and the augmentation transforms had
# Numba ``prange`` drivers from 8 million elements; Numba's OpenMP threads keep spinning after a
# parallel loop and slow the next matrix product (on the deep MNIST CNN a training step took 41 ms
# with those drivers from 590,000 elements and 24 ms without), and they do not hold Ctrl-C back.
# Split here instead, those kernels ran about as fast. Best of 11 on 2 cores, the variants
# interleaved, in ms, prange driver / one thread / split: im2col (3x3, 'same') of 16 images of
# 64x64x64 (37.7 million elements) 9.0 / 14.7 / 13.0, of 32 images of 32x32x64 (18.9 million)
# 4.8 / 7.6 / 3.9; col2im of the same 9.5 / 13.2 / 10.1 and 3.5 / 7.1 / 7.6 (3.6 / 6.4 / 3.7 with
# calls back to back, the helper thread still watching); on 256 images of 128x128x3 (12.6
# million), affine_transform rotated 59 / 80 / 58, axis-aligned 17.9 / 18.3 / 19.2 (memory-bound:
# no faster on two threads either way), tap_transform 56 / 101 / 56, its transpose 65 / 115 / 59.
# A 512x512 float32 product (NumPy's, on OpenBLAS' two threads) right after took 2.4-10.7 ms
# (median; 4.4 or more after all but im2col's) after the prange drivers, 2.5-4.4 ms after the
# split kernels. Around this threshold,
# split over one thread: im2col and col2im 0.9-1.1 at 1.2 million elements, 0.6-0.8 at 2.4
# million; the rotating transforms 0.7-0.9 at 0.4 million; axis-aligned affine_transform 0.6-1.7
# (no gain). The machine was shared: these are the runs with both cores free.
SPLIT_MIN_ELEMENTS = 1_000_000

# ---- convolution (``conv2d``) --------------------------------------------------------------------

# A batch is convolved a chunk of images at a time, the chunk's im2col rows taking about this many
# bytes: the rows are then still in cache when the matrix product reads them, and the layer never
# holds the rows of a whole batch. On the CIFAR-10 model's 32x32x32 -> 32 convolution at batch 64
# (75 MB of rows in one piece) the forward pass took 11 ms in chunks of 4.7 MB and 28 ms in one
# piece, on one thread of im2col and two of BLAS.
CHUNK_BYTES = 4 * 2**20

# A batch whose product is large enough for several threads (``PARALLEL_MIN_FLOPS``) is split
# between them instead, each thread unfolding, multiplying and adding the bias for its part of the
# images, in chunks of PART_CHUNK_BYTES: each core then reads rows it has just written itself. On
# 2 cores, that convolution took 17-22 ms forward and 29-53 ms backward split, 36-42 ms and
# 59-82 ms not (its products on two threads). A training step of the deep MNIST CNN (batch 32)
# took 0.95 times as long in chunks of 2 MB as of 1 MB, 0.99 in 3 or 4 MB, 1.23 in one chunk per
# part; the CIFAR-10 model's (batch 64) 0.99 in 2 MB, 1.06 in 3 or 4 MB.
PART_CHUNK_BYTES = 2 * 2**20

# Images of up to this many channels are unfolded tap by tap (``im2col.prefers_tap_order``): each
# tap's column of the im2col matrix copies runs of a whole output row, where row by row each
# window is KH runs of only KW*C floats. With the product that follows, on 28x28x1 images and a
# 3x3 kernel (8 filters, one thread), tap by tap took 14 us against 22 row by row for one image,
# 30 against 64 for 4, 169 against 455 for 32, 651 against 1940 for 128 (before the copies by taps
# took unsigned offsets, which halved them). A Conv2D(32, 3, 'same', relu) layer's forward pass on
# 32 images of 32x32xC, best of 10: 2 channels 427 us against 635, 3 channels 564-623 against
# 715-757 (the CIFAR-10 model's first layer, at 64 images: 1.13 ms against 1.39, and its backward
# 1.49 against 1.85), 4 channels 825-833 against 909-911; 6 channels 1153-1176 against 1024-1060,
# 8 channels 1551-1577 against 1210-1218. Its backward pass, with the input's gradient or
# without, took 0.96-1.13 times as long row by row as tap by tap up to 4 channels.
TAP_ORDER_MAX_CHANNELS = 4

# The fewest input channels and filters for which a 3x3 stride-1 convolution runs by Winograd
# (``winograd``) rather than im2col: its products then have an inner dimension long enough to
# run near BLAS' speed. Forward and backward with ReLU, F(2x2, 3x3)'s time over im2col's, best of
# 12 alternated calls on 2 cores: the CIFAR-10 model's six convolutions of 32 to 128 channels
# 0.66-0.88, the deep MNIST CNN's 26x26x32 -> 32 0.80; at 16 channels (14x14x16 -> 16, batch 32)
# 0.98, 28x28x16 -> 32 0.96, at 8 channels 0.99: no gain below 32. F(4x4, 3x3)'s over im2col's
# (median of 12, AMD EPYC with AVX-512, OpenBLAS' Haswell then its own kernels): 26x26x32 -> 32
# 0.59 and 0.63; at 16 channels 28x28x16 -> 16 0.66 and 0.82 but 14x14x16 -> 16 0.95 and 1.27,
# at 8 channels (26x26x8 -> 8) 1.00 and 1.05: a gain below 32 in one case of two.
WINOGRAD_MIN_CHANNELS = 32

# ---- row loops (``bias``, ``normalization``) ------------------------------------------------------

# Consecutive rows of a (rows, columns) matrix are grouped into wide rows of about this many
# values, so that the inner loop is long enough to vectorise: NumPy's ``z += b`` and
# ``dz.sum(axis=0)`` over rows of 8 filters or 10 classes run several times slower than these
# loops.
WIDE_ROW = 64
