"""The affine resampling kernel of data augmentation.

Over hypothesis-drawn batches (sizes from 1 pixel up, 1 to 4 channels, float32 and float64),
matrices (general, axis-aligned for the row-by-row path, integer-valued), fill modes and
source indices: the kernel equals its NumPy reference. Example tests pin the meaning: the
identity and integer shifts reproduce pixels exactly, with each fill mode extending the image
as its hand-written row says; a half-pixel shift averages neighbours; a batch split between
threads gives the results of one thread bit for bit (also for Keras' sampling, ``tap_transform``
and its transpose); the kernel runs with the JIT disabled; and it equals
``scipy.ndimage.affine_transform`` (order 1, 'wrap' as scipy's 'grid-wrap') on the batches stored
in tests/fixtures/scipy_affine_transform.npz.
"""
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinykeras.kernels import affine_transform, affine_transform_reference, tap_transform, tap_transform_backward

FILL_MODES = ["constant", "nearest", "reflect", "wrap"]
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures")


@st.composite
def batches(draw):
    """(x, matrices, indices): a batch, one matrix per output image, and the source of each."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    N, M = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    H, W, C = draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.integers(1, 4))
    x = rng.standard_normal((N, H, W, C)).astype(draw(st.sampled_from([np.float32, np.float64])))
    kind = draw(st.sampled_from(["general", "axis-aligned", "integer"]))
    linear = rng.uniform(-2.5, 2.5, (M, 2, 2))
    if kind == "axis-aligned":
        linear[:, 0, 1] = linear[:, 1, 0] = 0
    if kind == "integer":
        linear = rng.integers(-2, 3, (M, 2, 2)).astype(np.float64)
    offsets = rng.uniform(-2 * max(H, W), 2 * max(H, W), (M, 2, 1))
    if kind == "integer":
        offsets = np.round(offsets)
    return x, np.concatenate([linear, offsets], axis=2), rng.integers(0, N, M)


def sample_point(image, r, c, fill_mode, cval):
    """One bilinear sample, written out from the definition with Python ints and floats."""
    H, W = image.shape[:2]

    def extend(i, n):
        if fill_mode == "wrap":
            return i % n
        if fill_mode == "reflect":
            i %= 2 * n
            return i if i < n else 2 * n - 1 - i
        return min(max(i, 0), n - 1)

    if fill_mode == "constant":
        if not (-1e-6 <= r <= H - 1 + 1e-6 and -1e-6 <= c <= W - 1 + 1e-6):
            return np.full(image.shape[2], cval)
        r, c = min(max(r, 0), H - 1), min(max(c, 0), W - 1)
    t, lt = int(np.floor(r)), int(np.floor(c))
    fr, fc = r - t, c - lt
    corners = [(dr, dc, image[extend(t + dr, H), extend(lt + dc, W)]) for dr in (0, 1) for dc in (0, 1)]
    weight = {0: (1 - fr, 1 - fc), 1: (fr, fc)}
    return sum(weight[dr][0] * weight[dc][1] * value.astype(np.float64) for dr, dc, value in corners)


# ---- kernel against the references -----------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(batch=batches(), fill_mode=st.sampled_from(FILL_MODES), cval=st.floats(-3, 3))
def test_kernel_matches_reference(batch, fill_mode, cval):
    x, matrices, indices = batch
    out = affine_transform(x, matrices, fill_mode, cval, indices)
    assert out.shape == (len(indices),) + x.shape[1:] and out.dtype == x.dtype
    # The same float64 operations in the same order: the same numbers.
    np.testing.assert_array_equal(out, affine_transform_reference(x, matrices, fill_mode, cval, indices))


@settings(max_examples=40, deadline=None)
@given(batch=batches(), fill_mode=st.sampled_from(FILL_MODES), cval=st.floats(-3, 3))
def test_reference_matches_a_pixel_by_pixel_loop(batch, fill_mode, cval):
    x, matrices, indices = batch
    reference = affine_transform_reference(x.astype(np.float64), matrices, fill_mode, cval, indices)
    for k, (n, a) in enumerate(zip(indices, matrices)):
        for i in range(x.shape[1]):
            for j in range(x.shape[2]):
                r, c = a[0, 0] * i + a[0, 1] * j + a[0, 2], a[1, 0] * i + a[1, 1] * j + a[1, 2]
                expected = sample_point(x[n].astype(np.float64), r, c, fill_mode, cval)
                np.testing.assert_allclose(reference[k, i, j], expected, rtol=1e-9, atol=1e-9)


def test_axis_aligned_and_general_paths_agree():
    """The row-by-row path (no rotation or shear) gives what the pixel-by-pixel path gives."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 11, 7, 3))
    matrices = np.array([[[1.3, 0.0, -2.2], [0.0, -0.7, 6.1]], [[0.6, 0.0, 3.7], [0.0, 1.9, -4.4]]])
    for fill_mode in FILL_MODES:
        rows = affine_transform(x, matrices, fill_mode, 0.5)
        tilted = matrices.copy()
        tilted[:, 0, 1] = 1e-300  # forces the general path without moving any point
        np.testing.assert_array_equal(rows, affine_transform(x, tilted, fill_mode, 0.5))


# ---- exact pixels --------------------------------------------------------------------------------------

ROW = np.array([1.0, 2.0, 3.0, 4.0, 5.0])


def shifted_row(shift, fill_mode):
    """ROW sampled at positions j + shift, through one image row and the kernel."""
    x = np.tile(ROW, (1, 2, 1)).reshape(1, 2, 5, 1)
    matrices = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, shift]]])
    out = affine_transform(x, matrices, fill_mode, cval=-9.0)
    np.testing.assert_array_equal(out[0, 0], out[0, 1])
    return out[0, 0, :, 0]


@pytest.mark.parametrize(
    "fill_mode, shift, expected",
    [
        ("constant", 2, [3, 4, 5, -9, -9]),
        ("constant", -2, [-9, -9, 1, 2, 3]),
        ("nearest", 2, [3, 4, 5, 5, 5]),
        ("nearest", -3, [1, 1, 1, 1, 2]),
        ("reflect", 2, [3, 4, 5, 5, 4]),
        ("reflect", -3, [3, 2, 1, 1, 2]),
        ("reflect", 7, [3, 2, 1, 1, 2]),
        ("wrap", 2, [3, 4, 5, 1, 2]),
        ("wrap", -3, [3, 4, 5, 1, 2]),
        ("wrap", 11, [2, 3, 4, 5, 1]),
    ],
)
def test_integer_shifts_extend_the_image_as_each_fill_mode_says(fill_mode, shift, expected):
    np.testing.assert_array_equal(shifted_row(shift, fill_mode), expected)


@pytest.mark.parametrize(
    "fill_mode, expected",
    [
        ("constant", [1.5, 2.5, 3.5, 4.5, -9]),  # no blending with cval: the point is off the image
        ("nearest", [1.5, 2.5, 3.5, 4.5, 5]),
        ("reflect", [1.5, 2.5, 3.5, 4.5, 5]),
        ("wrap", [1.5, 2.5, 3.5, 4.5, 3]),
    ],
)
def test_half_pixel_shift_averages_neighbours(fill_mode, expected):
    np.testing.assert_array_equal(shifted_row(0.5, fill_mode), expected)


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_identity_returns_the_images_exactly(fill_mode, dtype):
    x = np.random.default_rng(0).standard_normal((3, 6, 5, 2)).astype(dtype)
    identity = np.tile([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], (4, 1, 1))
    out = affine_transform(x, identity, fill_mode, indices=[2, 0, 1, 2])
    np.testing.assert_array_equal(out, x[[2, 0, 1, 2]])


def test_constant_fill_keeps_points_a_rounding_error_off_the_edge():
    x = np.arange(12.0).reshape(1, 3, 4, 1)
    nudged = np.array([[[1.0, 0.0, 1e-12], [0.0, 1.0, -1e-12]]])
    np.testing.assert_allclose(affine_transform(x, nudged, "constant", cval=-1.0), x, atol=1e-9)


def test_out_argument_is_filled_and_returned():
    x = np.ones((2, 3, 3, 1), np.float32)
    out = np.empty_like(x)
    assert affine_transform(x, np.tile([[2.0, 0, 0], [0, 2.0, 0]], (2, 1, 1)), out=out) is out
    np.testing.assert_array_equal(out, x)


# ---- drivers, other implementations, errors -----------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tilt", [0.0, 0.3], ids=["axis-aligned", "general"])
def test_batches_split_between_threads_match_one_thread(split_and_whole, tilt, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 13, 10, 3)).astype(dtype)
    matrices = np.tile([[1.2, tilt, -1.5], [-tilt, 0.8, 2.5]], (9, 1, 1))
    matrices[:, :, 2] += rng.uniform(-3, 3, (9, 2))  # a different map for each image
    indices = rng.integers(0, 6, 9)
    dy = rng.standard_normal((9, 13, 10, 3)).astype(dtype)

    def call():
        return (
            affine_transform(x, matrices, "reflect", 0.0, indices),
            tap_transform(x, matrices[:6], "constant", 0.5, "bilinear"),
            tap_transform_backward(dy, matrices, "wrap", "bilinear"),
        )

    whole, split = split_and_whole(call, calls=3)
    for result_split, result_whole in zip(split, whole):
        assert result_split.dtype == dtype
        np.testing.assert_array_equal(result_split, result_whole)


# Written by tests/fixtures/make_scipy_augment_fixture.py (scipy.ndimage.affine_transform, order
# 1, one channel at a time): every fill mode times every kind of matrix times image sizes from one
# pixel to 9x9. This test needs only tinykeras.
SCIPY = np.load(os.path.join(FIXTURES, "scipy_affine_transform.npz"), allow_pickle=False)
SCIPY_CASES = sorted({key.split("/")[0] for key in SCIPY.files if "/" in key})


def matrix_kind(matrices):
    """'integer' (whole-number entries), 'axis-aligned' (zero off-diagonals) or 'general'."""
    if np.array_equal(matrices, np.round(matrices)):
        return "integer"
    return "axis-aligned" if not matrices[:, 0, 1].any() and not matrices[:, 1, 0].any() else "general"


def test_the_scipy_fixture_covers_every_fill_mode_kind_of_matrix_and_edge_size():
    stored = [(str(SCIPY[f"{case}/fill_mode"]), SCIPY[f"{case}/matrices"], SCIPY[f"{case}/x"]) for case in SCIPY_CASES]
    kinds = {(mode, matrix_kind(matrices)) for mode, matrices, _ in stored}
    assert kinds == {(mode, kind) for mode in FILL_MODES for kind in ("general", "axis-aligned", "integer")}
    assert {(1, 1), (1, 7), (6, 1), (9, 9)} <= {x.shape[1:3] for _, _, x in stored}


@pytest.mark.parametrize("case", SCIPY_CASES)
def test_kernel_matches_scipy_ndimage(case):
    def stored(key):
        return SCIPY[f"{case}/{key}"]

    fill_mode, cval = str(stored("fill_mode")), float(SCIPY["cval"])
    out = affine_transform(stored("x"), stored("matrices"), fill_mode, cval, stored("indices"))
    np.testing.assert_allclose(out, stored("expected"), atol=1e-9)


def test_non_contiguous_input_gives_the_contiguous_result(non_contiguous):
    x = np.random.default_rng(2).standard_normal((2, 5, 4, 3))
    matrices = np.tile([[0.9, 0.2, 0.5], [-0.1, 1.1, -0.3]], (2, 1, 1))
    np.testing.assert_array_equal(affine_transform(non_contiguous(x), matrices), affine_transform(x, matrices))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"x": np.zeros((4, 4, 1))}, ValueError, "shape"),
        ({"x": np.zeros((1, 4, 4, 1), np.int32)}, TypeError, "dtype"),
        ({"fill_mode": "mirror"}, ValueError, "fill_mode='mirror'"),
        ({"matrices": np.zeros((1, 3, 3))}, ValueError, "matrices.shape"),
        ({"matrices": np.full((1, 2, 3), np.nan)}, ValueError, "finite"),
        ({"indices": [1]}, ValueError, "indices"),
        ({"indices": [0.0]}, ValueError, "indices"),
        ({"out": np.zeros((1, 4, 4, 1), np.float32)}, ValueError, "out"),
    ],
)
def test_bad_arguments_raise(kwargs, error, match):
    arguments = {"x": np.zeros((1, 4, 4, 1)), "matrices": np.zeros((1, 2, 3)), **kwargs}
    with pytest.raises(error, match=match):
        affine_transform(**arguments)


NO_JIT_SCRIPT = """
import numba
import numpy as np

from tinykeras.kernels import affine_transform, affine_transform_reference, tuning

assert numba.config.DISABLE_JIT
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 5, 4, 3))
general = rng.uniform(-2, 2, (3, 2, 3))
aligned = general.copy()
aligned[:, 0, 1] = aligned[:, 1, 0] = 0
for threshold in (2**62, 0):
    tuning.SPLIT_MIN_ELEMENTS = threshold
    for matrices in (general, aligned):
        for mode in ("constant", "nearest", "reflect", "wrap"):
            out = affine_transform(x, matrices, mode, 0.5, [1, 0, 1])
            assert np.array_equal(out, affine_transform_reference(x, matrices, mode, 0.5, [1, 0, 1]))
print("ok")
"""


def test_kernel_runs_as_plain_python_with_the_jit_disabled(run_without_jit):
    run_without_jit(NO_JIT_SCRIPT)
