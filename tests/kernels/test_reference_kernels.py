"""Each kernel equals its plain NumPy reference (the one ``TINYKERAS_KERNELS=reference`` runs) on
random shapes: the convolution's passes, the matrix product, bias and ReLU, dropout, batch
normalization's input gradient, softmax and its cross-entropy, and the optimizers' fused updates; the convolution by im2col and
by Winograd's F(2x2, 3x3). (im2col, col2im, pooling,
the other normalization kernels and the embedding's scatter are checked against their references
in their own test files.)"""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tinykeras.kernels import activations, bias, blas, conv2d, dropout, normalization, optimizers, softmax, tuning, winograd
from tinykeras.kernels.im2col import window_pads

seeds = st.integers(0, 2**32 - 1)
dtypes = st.sampled_from([np.float32, np.float64])


def tolerance(dtype):
    return {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-11, "atol": 1e-11}


@st.composite
def convolutions(draw):
    """(x, kernel, bias or None, Geometry) of a small convolution."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (1, 1) if max(strides) > 1 else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(["valid", "same"]))
    spatial = (draw(st.integers(3, 7)), draw(st.integers(3, 7)))
    shape = (draw(st.integers(1, 4)), *spatial, draw(st.integers(1, 3)))
    filters = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(seeds))
    dtype = draw(dtypes)
    # 'valid' needs the dilated window inside the image
    assume(padding == "same" or all((k - 1) * d < n for k, d, n in zip(kernel, dilation, spatial)))
    pads = window_pads(spatial, kernel, strides, dilation, padding)
    geometry = conv2d.Geometry.of(shape, filters, kernel, strides, dilation, pads)
    x = rng.standard_normal(shape).astype(dtype)
    weights = rng.standard_normal(kernel + (shape[3], filters)).astype(dtype)
    b = rng.standard_normal(filters).astype(dtype) if draw(st.booleans()) else None
    return x, weights, b, geometry


@settings(max_examples=40, deadline=None)
@given(case=convolutions(), relu=st.booleans(), input_gradient=st.booleans(), seed=seeds)
def test_conv2d_forward_and_backward_equal_their_references(case, relu, input_gradient, seed):
    check_conv2d_against_the_reference(case, relu, input_gradient, seed, tolerance(case[0].dtype))


def check_conv2d_against_the_reference(case, relu, input_gradient, seed, tol):
    x, kernel, b, geometry = case
    z, saved = conv2d.conv2d_forward(x, kernel, b, geometry, relu)
    expected_z, expected_saved = conv2d.conv2d_forward_reference(x, kernel, b, geometry, relu)
    assert z.shape == geometry.output_shape and z.dtype == x.dtype
    np.testing.assert_allclose(z, expected_z, **tol)
    dz = np.random.default_rng(seed).standard_normal(z.shape).astype(x.dtype)
    relu_output = z if relu else None
    got = conv2d.conv2d_backward(dz, kernel, saved, relu_output, b is not None, input_gradient)
    expected = conv2d.conv2d_backward_reference(dz, kernel, expected_saved, relu_output, b is not None, input_gradient)
    for actual, wanted in zip(got, expected):
        if wanted is None:
            assert actual is None
        else:
            assert actual.shape == wanted.shape and actual.dtype == x.dtype
            np.testing.assert_allclose(actual, wanted, **tol)


@st.composite
def winograd_convolutions(draw):
    """(x, kernel, bias or None, Geometry) of a small 3x3, stride-1 convolution with any pads of
    0 to 2 a side (odd outputs leave tiles hanging over the edge)."""
    pads = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(2))
    spatial = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    assume(all(size + sum(pad) >= 3 for size, pad in zip(spatial, pads)))
    shape = (draw(st.integers(1, 3)), *spatial, draw(st.integers(1, 5)))
    filters = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(seeds))
    dtype = draw(dtypes)
    geometry = conv2d.Geometry.of(shape, filters, (3, 3), (1, 1), (1, 1), pads)
    x = rng.standard_normal(shape).astype(dtype)
    weights = rng.standard_normal((3, 3, shape[3], filters)).astype(dtype)
    b = rng.standard_normal(filters).astype(dtype) if draw(st.booleans()) else None
    return x, weights, b, geometry


@pytest.mark.parametrize("tile", [2, 4])
@settings(max_examples=60, deadline=None)
@given(case=winograd_convolutions(), relu=st.booleans(), input_gradient=st.booleans(), seed=seeds)
def test_winograd_convolution_equals_the_reference(tile, case, relu, input_gradient, seed):
    """Winograd's F(2x2, 3x3) and F(4x4, 3x3), forced on for any channel count, give im2col's
    reference output and gradients, whatever the pads. In float32, F(4x4)'s transforms (factors
    up to 8 and down to 1/24) round about ten times as much as the direct sums."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tuning, "WINOGRAD_MIN_CHANNELS", 1)
        patch.setattr(winograd, "tiling", lambda geometry: winograd.TILINGS[tile])
        x, kernel, b, geometry = case
        the_plan = conv2d.plan(geometry, x.itemsize)
        assert (the_plan.algorithm, the_plan.tile) == ("winograd", tile)
        tol = tolerance(x.dtype)
        if tile == 4 and x.dtype == np.float32:
            tol = {"rtol": 1e-4, "atol": 1e-4}
        check_conv2d_against_the_reference(case, relu, input_gradient, seed, tol)


@pytest.mark.parametrize(
    "kernel, strides, dilation, channels, expected",
    [
        ((3, 3), (1, 1), (1, 1), 32, True),
        ((3, 3), (1, 1), (1, 1), 31, False),
        ((3, 3), (2, 2), (1, 1), 64, False),
        ((3, 3), (1, 1), (2, 2), 64, False),
        ((5, 5), (1, 1), (1, 1), 64, False),
        ((3, 1), (1, 1), (1, 1), 64, False),
    ],
)
def test_the_plan_takes_winograd_for_3x3_stride_1_kernels_on_enough_channels(kernel, strides, dilation, channels, expected):
    assert tuning.WINOGRAD_MIN_CHANNELS == 32
    geometry = conv2d.Geometry.of((4, 12, 12, channels), 64, kernel, strides, dilation, ((1, 1), (1, 1)))
    assert (conv2d.plan(geometry, 4).algorithm == "winograd") == expected
    narrow = conv2d.Geometry.of((4, 12, 12, 64), channels, kernel, strides, dilation, ((1, 1), (1, 1)))
    assert (conv2d.plan(narrow, 4).algorithm == "winograd") == expected


@pytest.mark.parametrize("tile", [2, 4])
def test_winograd_kernel_transform_is_g_g_gt_and_its_gradient_the_adjoint(tile):
    """``U[xi, nu] = (G g G^T)[xi, nu]`` for every channel and filter; the kernel gradient is the
    transposed map: ``<U(g), dU> = <g, kernel_gradient(dU)>``."""
    rng = np.random.default_rng(7)
    t = winograd.TILINGS[tile]
    kernel = rng.standard_normal((3, 3, 5, 6))
    u = t.kernel_transform(kernel)
    expected = np.einsum("xa,abcf,nb->xncf", t.g, kernel, t.g).reshape(t.points, 5, 6)
    np.testing.assert_allclose(u, expected, rtol=1e-13, atol=1e-13)
    du = rng.standard_normal(u.shape)
    np.testing.assert_allclose(np.vdot(u, du), np.vdot(kernel, t.kernel_gradient(du)), rtol=1e-12)


def test_winograd_backward_reuses_the_kernel_forward_transformed(monkeypatch):
    """``U = G g G^T`` is computed once a step: backward multiplies by forward's."""
    monkeypatch.setattr(tuning, "WINOGRAD_MIN_CHANNELS", 1)
    calls = []
    transform = winograd.Tiling.kernel_transform
    monkeypatch.setattr(winograd.Tiling, "kernel_transform", lambda t, k: calls.append(t.m) or transform(t, k))
    rng = np.random.default_rng(3)
    geometry = conv2d.Geometry.of((2, 8, 8, 4), 5, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)))
    x, kernel = rng.standard_normal((2, 8, 8, 4)), rng.standard_normal((3, 3, 4, 5))
    z, saved = conv2d.conv2d_forward(x, kernel, None, geometry)
    conv2d.conv2d_backward(np.ones_like(z), kernel, saved)
    assert calls == [winograd.tiling(geometry).m]


@pytest.mark.parametrize(
    "output, tile",
    [((32, 32), 4), ((8, 8), 4), ((24, 26), 4), ((3, 3), 4), ((2, 2), 2), ((2, 9), 2), ((1, 1), 2)],
)
def test_winograd_takes_the_tiling_with_the_fewest_multiplications(output, tile):
    """F(4x4): 36 products per 4x4 tile, F(2x2): 16 per 2x2 tile; the output decides."""
    geometry = conv2d.Geometry.of((2, output[0] + 2, output[1] + 2, 32), 32, (3, 3), (1, 1), (1, 1), ((0, 0), (0, 0)))
    assert geometry.output == output
    assert winograd.tiling(geometry).m == tile
    assert conv2d.plan(geometry, 4).tile == tile


def test_the_geometry_names_the_output_of_explicit_pads():
    geometry = conv2d.Geometry.of((2, 7, 6, 3), 4, (3, 3), (2, 1), (1, 1), ((1, 1), (0, 0)))
    assert geometry.output == (4, 4)
    assert geometry.output_shape == (2, 4, 4, 4)
    assert (geometry.rows_per_image, geometry.depth) == (16, 27)


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(1, 120), inner=st.integers(1, 30), columns=st.integers(1, 30), dtype=dtypes, seed=seeds)
def test_matmul_bias_and_relu_equal_their_references(rows, inner, columns, dtype, seed):
    rng = np.random.default_rng(seed)
    a, w = rng.standard_normal((rows, inner)).astype(dtype), rng.standard_normal((inner, columns)).astype(dtype)
    np.testing.assert_allclose(blas.matmul(a, w), blas.matmul_reference(a, w), **tolerance(dtype))
    z, b = rng.standard_normal((rows, columns)).astype(dtype), rng.standard_normal(columns).astype(dtype)
    z[0, 0] = np.nan
    for relu in (False, True):
        np.testing.assert_array_equal(bias.add_bias(z.copy(), b, relu), bias.add_bias_reference(z.copy(), b, relu))
    np.testing.assert_allclose(bias.bias_gradient(z[1:]), bias.bias_gradient_reference(z[1:]), **tolerance(dtype))
    dy = rng.standard_normal((rows, columns)).astype(dtype)
    sums, expected_sums = np.ones(columns), np.ones(columns)
    out = bias.relu_gradient(dy, z, np.empty_like(dy), sums)
    np.testing.assert_array_equal(out, bias.relu_gradient_reference(dy, z, np.empty_like(dy), expected_sums))
    # Summed in float64 in another order: a column whose terms cancel (a sum of 7e-4 from terms
    # of order 1) differs by a few ulps of its terms, not of the sum.
    np.testing.assert_allclose(sums, expected_sums, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(activations.relu_forward(z), activations.relu_forward_reference(z))
    np.testing.assert_array_equal(activations.relu_backward(dy, z), activations.relu_backward_reference(dy, z))


@settings(max_examples=30, deadline=None)
@given(size=st.integers(1, 500), rate=st.floats(0, 0.9), dtype=dtypes, seed=seeds)
def test_dropout_equals_its_reference(size, rate, dtype, seed):
    rng = np.random.default_rng(seed)
    x, bits = rng.standard_normal(size).astype(dtype), dropout.draw_bits(rng, size)
    for made, expected in zip(dropout.dropout_forward(x, bits, rate), dropout.dropout_forward_reference(x, bits, rate)):
        np.testing.assert_array_equal(made, expected)
        assert made.dtype == expected.dtype == dtype
    np.testing.assert_array_equal(dropout.dropout_mask(bits, (size,), rate, dtype),
                                  dropout.dropout_mask_reference(bits, (size,), rate, dtype))


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(1, 200), columns=st.integers(1, 40), dtype=dtypes, seed=seeds)
def test_normalize_backward_equals_its_reference(rows, columns, dtype, seed):
    rng = np.random.default_rng(seed)
    dy, x = (rng.standard_normal((rows, columns)).astype(dtype) for _ in range(2))
    mu, a, c, d = (rng.standard_normal(columns) for _ in range(4))
    np.testing.assert_allclose(normalization.normalize_backward(dy, x, mu, a, c, d),
                               normalization.normalize_backward_reference(dy, x, mu, a, c, d), **tolerance(dtype))


@st.composite
def class_scores(draw):
    """Logits of shape (..., classes), some rows holding a NaN, an inf or huge values, and soft
    targets of the same shape (rows summing to 1 or not)."""
    rng = np.random.default_rng(draw(seeds))
    dtype = draw(dtypes)
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=0, max_size=2))) + (draw(st.integers(1, 12)),)
    z = (rng.standard_normal(shape) * draw(st.sampled_from([1.0, 30.0, 1e4]))).astype(dtype)
    flat = z.reshape(-1)
    for special in draw(st.lists(st.sampled_from([np.nan, np.inf, -np.inf]), max_size=2)):
        flat[rng.integers(flat.size)] = special
    y = rng.random(shape).astype(dtype)
    if draw(st.booleans()):
        y /= y.sum(axis=-1, keepdims=True)
    return y, z


@settings(max_examples=60, deadline=None)
@given(case=class_scores(), contiguous=st.booleans())
def test_softmax_and_its_cross_entropy_equal_their_references(case, contiguous):
    y, z = case
    if not contiguous:  # a transposed copy seen back in the original order
        z = np.asfortranarray(z)
    tol = tolerance(z.dtype)
    with np.errstate(all="ignore"):
        expected = softmax.softmax_reference(z)
        expected_loss, expected_grad = softmax.softmax_cross_entropy_reference(y, z)
        p = softmax.softmax(z)
        loss, grad = softmax.softmax_cross_entropy(y, z)
    assert p.shape == z.shape and p.dtype == z.dtype and grad.shape == z.shape and grad.dtype == z.dtype
    # NaN in the same places (a row with a NaN or inf-inf is NaN throughout in both)
    np.testing.assert_allclose(p, expected, **tol)
    np.testing.assert_allclose(grad, expected_grad, **tol)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-4 if z.dtype == np.float32 else 1e-10, atol=tol["atol"])


def test_softmax_of_other_inputs_is_the_references():
    np.testing.assert_array_equal(softmax.softmax(np.array([1, 2, 3])), softmax.softmax_reference(np.array([1, 2, 3])))
    assert softmax.softmax(np.zeros((0, 3))).shape == (0, 3)
    assert softmax.softmax_cross_entropy(np.zeros((0, 3)), np.zeros((0, 3)))[0] == 0
    y, z = np.eye(3, dtype=np.float32), np.ones((3, 3))  # mixed dtypes: NumPy's promotion
    assert softmax.softmax_cross_entropy(y, z)[1].dtype == np.float64


UPDATES = {
    "adam_update": 4,
    "adadelta_update": 4,
    "adamax_update": 5,
    "nadam_update": 9,
    "lion_update": 5,
}


@settings(max_examples=30, deadline=None)
@given(size=st.integers(1, 300), name=st.sampled_from(sorted(UPDATES)), dtype=dtypes, seed=seeds)
def test_the_fused_updates_give_the_bits_of_their_references(size, name, dtype, seed):
    """The fused loops and their NumPy forms run the same operations in the same precision."""
    rng = np.random.default_rng(seed)
    slots = 1 if name == "lion_update" else 2
    value, grad, *state = (rng.standard_normal(size).astype(dtype) for _ in range(2 + slots))
    state = [np.abs(s) for s in state]
    constants = tuple(dtype(c) for c in rng.uniform(0.1, 0.9, UPDATES[name]))
    fast = [a.copy() for a in (value, *state)]
    reference = [a.copy() for a in (value, *state)]
    optimizers.run_fused(getattr(optimizers, name), fast[0], grad, fast[1:], constants)
    optimizers.run_fused_reference(getattr(optimizers, name), reference[0], grad, reference[1:], constants)
    for actual, wanted in zip(fast, reference):
        np.testing.assert_allclose(actual, wanted, rtol=1e-6 if dtype == np.float32 else 1e-14)
    decayed, expected = value.copy(), value.copy()
    optimizers.weight_decay_update(decayed, dtype(0.01), dtype(0.1))
    optimizers.weight_decay_update_reference(expected, dtype(0.01), dtype(0.1))
    np.testing.assert_array_equal(decayed, expected)
