"""Optimizers: Keras 3's update rules, step by step, against references written out here."""

import math
import warnings

import numpy as np
import pytest

from tinykeras import optimizers
from tinykeras.kernels import blas, tuning
from tinykeras.layers.base import Variable

STEPS = 4

W0 = np.array([[0.5, -1.2, 2.0], [0.0, 0.3, -0.7]])
B0 = np.array([0.1, -0.2])
# A gradient per step for each variable; the second half shrinks so amsgrad's maximum matters.
GRADS_W = [
    np.array([[1.0, -2.0, 0.5], [0.3, 0.0, -1.5]]),
    np.array([[0.8, 1.0, -0.2], [-0.6, 0.4, 2.0]]),
    np.array([[0.1, -0.1, 0.05], [0.02, 0.01, -0.1]]),
    np.array([[-0.05, 0.02, 0.01], [0.0, -0.03, 0.04]]),
    np.array([[0.01, 0.01, -0.01], [0.02, -0.02, 0.0]]),
]
GRADS_B = [
    np.array([3.0, -0.5]),
    np.array([-1.0, 0.25]),
    np.array([0.2, 0.1]),
    np.array([-0.1, 0.05]),
    np.array([0.0, 0.01]),
]


def run(optimizer, steps=STEPS):
    """Applies ``steps`` updates to two variables; returns their values after each step."""
    w, b = Variable("kernel", W0.copy()), Variable("bias", B0.copy())
    history = []
    for t in range(steps):
        optimizer.apply_gradients(zip([GRADS_W[t].copy(), GRADS_B[t].copy()], [w, b]))
        history.append((w.numpy(), b.numpy()))
    return history


def reference(step_fn, steps=STEPS):
    """Runs a scalar-by-scalar reference update ``step_fn(w, g, state, t) -> w`` on each element."""
    history = []
    values = [W0.copy(), B0.copy()]
    states = [[{} for _ in range(v.size)] for v in values]
    for t in range(1, steps + 1):
        grads = [GRADS_W[t - 1], GRADS_B[t - 1]]
        new_values = []
        for value, grad, state in zip(values, grads, states):
            flat = [
                step_fn(float(w), float(g), s, t)
                for w, g, s in zip(value.ravel(), grad.ravel(), state)
            ]
            new_values.append(np.array(flat).reshape(value.shape))
        values = new_values
        history.append(tuple(v.copy() for v in values))
    return history


def assert_same_history(actual, expected):
    assert len(actual) == len(expected)
    for step, (got, want) in enumerate(zip(actual, expected), start=1):
        for g, e in zip(got, want):
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14, err_msg=f"step {step}")


# ---- SGD --------------------------------------------------------------------------------


def test_sgd_plain():
    lr = 0.1

    def step(w, g, s, t):
        return w - lr * g

    assert_same_history(run(optimizers.SGD(learning_rate=lr)), reference(step))


def test_sgd_momentum():
    lr, mu = 0.1, 0.9

    def step(w, g, s, t):
        s["m"] = mu * s.get("m", 0.0) - lr * g
        return w + s["m"]

    assert_same_history(run(optimizers.SGD(learning_rate=lr, momentum=mu)), reference(step))


def test_sgd_nesterov():
    lr, mu = 0.05, 0.8

    def step(w, g, s, t):
        s["m"] = mu * s.get("m", 0.0) - lr * g
        return w + mu * s["m"] - lr * g

    assert_same_history(
        run(optimizers.SGD(learning_rate=lr, momentum=mu, nesterov=True)), reference(step)
    )


def test_sgd_nesterov_differs_from_plain_momentum():
    plain = run(optimizers.SGD(learning_rate=0.1, momentum=0.9))
    nesterov = run(optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True))
    assert not np.allclose(plain[-1][0], nesterov[-1][0])


@pytest.mark.parametrize("momentum", [-0.1, 1.5])
def test_sgd_rejects_momentum_outside_zero_one(momentum):
    with pytest.raises(ValueError, match="momentum"):
        optimizers.SGD(momentum=momentum)


# ---- Adam -------------------------------------------------------------------------------


def adam_step(lr, b1, b2, eps, amsgrad=False):
    def step(w, g, s, t):
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        m = s.get("m", 0.0)
        v = s.get("v", 0.0)
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        s["m"], s["v"] = m, v
        if amsgrad:
            s["vhat"] = max(s.get("vhat", 0.0), v)
            v = s["vhat"]
        return w - alpha * m / (math.sqrt(v) + eps)

    return step


def test_adam_defaults_follow_keras_update():
    assert_same_history(run(optimizers.Adam()), reference(adam_step(0.001, 0.9, 0.999, 1e-7)))


def test_adam_custom_hyperparameters():
    opt = optimizers.Adam(learning_rate=0.05, beta_1=0.8, beta_2=0.99, epsilon=1e-3)
    assert_same_history(run(opt, 5), reference(adam_step(0.05, 0.8, 0.99, 1e-3), 5))


def test_adam_amsgrad():
    opt = optimizers.Adam(learning_rate=0.05, beta_1=0.5, beta_2=0.6, amsgrad=True)
    expected = reference(adam_step(0.05, 0.5, 0.6, 1e-7, amsgrad=True), 5)
    assert_same_history(run(opt, 5), expected)
    plain = reference(adam_step(0.05, 0.5, 0.6, 1e-7), 5)
    assert not np.allclose(expected[-1][0], plain[-1][0])  # the test exercises the maximum


def test_adam_epsilon_is_the_keras_epsilon_hat():
    # Keras adds epsilon to sqrt(v) with the bias correction folded into alpha; the paper's form
    # adds it to sqrt(v_hat) and would give -g / (|g| + eps) = -0.5 here.
    g, eps = 1e-3, 1e-3
    w = Variable("w", np.array([0.0]))
    opt = optimizers.Adam(learning_rate=1.0, epsilon=eps)
    opt.apply_gradients([(np.array([g]), w)])
    alpha = math.sqrt(1 - 0.999) / (1 - 0.9)
    m, v = 0.1 * g, 0.001 * g * g
    assert w.value[0] == pytest.approx(-alpha * m / (math.sqrt(v) + eps), rel=1e-12)
    assert abs(w.value[0] + 0.5) > 0.4


def test_adam_first_step_moves_each_weight_by_about_lr():
    w = Variable("w", np.array([1.0, -1.0, 3.0]))
    optimizers.Adam(learning_rate=0.01).apply_gradients([(np.array([5.0, -0.2, 40.0]), w)])
    np.testing.assert_allclose(w.value, [0.99, -0.99, 2.99], rtol=1e-6)


# ---- RMSprop ----------------------------------------------------------------------------


def rmsprop_step(lr, rho, eps, momentum=0.0, centered=False):
    def step(w, g, s, t):
        v = rho * s.get("v", 0.0) + (1 - rho) * g * g
        s["v"] = v
        denominator = v + eps
        if centered:
            a = rho * s.get("a", 0.0) + (1 - rho) * g
            s["a"] = a
            denominator = v - a * a + eps
        increment = lr * g / math.sqrt(denominator)
        if momentum:
            s["m"] = momentum * s.get("m", 0.0) + increment
            return w - s["m"]
        return w - increment

    return step


def test_rmsprop_defaults():
    assert_same_history(run(optimizers.RMSprop()), reference(rmsprop_step(0.001, 0.9, 1e-7)))


def test_rmsprop_custom_rho_and_epsilon():
    opt = optimizers.RMSprop(learning_rate=0.01, rho=0.5, epsilon=1e-2)
    assert_same_history(run(opt, 5), reference(rmsprop_step(0.01, 0.5, 1e-2), 5))


def test_rmsprop_with_momentum():
    opt = optimizers.RMSprop(learning_rate=0.01, momentum=0.7)
    assert_same_history(run(opt), reference(rmsprop_step(0.01, 0.9, 1e-7, momentum=0.7)))


def test_rmsprop_centered():
    opt = optimizers.RMSprop(learning_rate=0.01, rho=0.8, centered=True)
    assert_same_history(run(opt), reference(rmsprop_step(0.01, 0.8, 1e-7, centered=True)))


def test_rmsprop_centered_with_momentum():
    opt = optimizers.RMSprop(learning_rate=0.02, rho=0.8, momentum=0.5, centered=True)
    expected = reference(rmsprop_step(0.02, 0.8, 1e-7, momentum=0.5, centered=True), 5)
    assert_same_history(run(opt, 5), expected)


# ---- defaults, legacy names, bookkeeping -------------------------------------------------


def test_keras_defaults():
    adam = optimizers.Adam()
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon, adam.amsgrad) == (
        0.001,
        0.9,
        0.999,
        1e-7,
        False,
    )
    sgd = optimizers.SGD()
    assert (sgd.learning_rate, sgd.momentum, sgd.nesterov) == (0.01, 0.0, False)
    rms = optimizers.RMSprop()
    assert (rms.learning_rate, rms.rho, rms.momentum, rms.epsilon, rms.centered) == (
        0.001,
        0.9,
        0.0,
        1e-7,
        False,
    )


@pytest.mark.parametrize("cls", [optimizers.SGD, optimizers.Adam, optimizers.RMSprop])
def test_lr_is_a_deprecated_alias_of_learning_rate(cls):
    with pytest.warns(DeprecationWarning, match="learning_rate"):
        opt = cls(lr=0.123)
    assert opt.learning_rate == 0.123
    assert opt.lr == 0.123
    opt.lr = 0.5
    assert opt.learning_rate == 0.5


def test_lr_changes_the_update():
    with pytest.warns(DeprecationWarning):
        opt = optimizers.SGD(lr=0.3)
    w = Variable("w", np.array([1.0]))
    opt.apply_gradients([(np.array([2.0]), w)])
    assert w.value[0] == pytest.approx(1.0 - 0.6, rel=1e-12)


def test_iterations_count_steps():
    opt = optimizers.Adam()
    run(opt, 3)
    assert opt.iterations == 3


def test_float32_variables_stay_float32_and_are_updated_in_place():
    value = np.array([1.0, 2.0], dtype=np.float32)
    w = Variable("w", value)
    opt = optimizers.Adam(learning_rate=0.1)
    for _ in range(2):
        opt.apply_gradients([(np.array([0.5, -0.5], dtype=np.float32), w)])
    assert w.value is value
    assert w.dtype == np.float32
    assert not np.allclose(value, [1.0, 2.0])


@pytest.mark.skipif(blas.split_count() < 2, reason="splitting needs more than one BLAS thread")
def test_adam_on_a_variable_split_between_threads_equals_adam_on_one(monkeypatch):
    rng = np.random.default_rng(0)
    start = rng.standard_normal(1001).astype(np.float32)
    grads = rng.standard_normal((3, 1001)).astype(np.float32)
    splits = []
    split_batch = blas.split_batch
    monkeypatch.setattr(blas, "split_batch", lambda *args: splits.append(args[2]) or split_batch(*args))
    results = []
    for threshold in (2**62, 0):
        monkeypatch.setattr(tuning, "SPLIT_MIN_ELEMENTS", threshold)
        w, opt = Variable("w", start.copy()), optimizers.Adam(learning_rate=0.01)
        for g in grads:
            opt.apply_gradients([(g, w)])
        results.append(w.value)
    assert len(splits) == len(grads) and min(splits) > 1
    np.testing.assert_array_equal(results[1], results[0])


def test_each_variable_keeps_its_own_state():
    # Updating one variable alone must give the same result as updating it beside another.
    lone = Variable("kernel", W0.copy())
    opt = optimizers.Adam(learning_rate=0.01)
    for t in range(STEPS):
        opt.apply_gradients([(GRADS_W[t], lone)])
    together = run(optimizers.Adam(learning_rate=0.01))
    np.testing.assert_allclose(lone.value, together[-1][0], rtol=1e-12)


# ---- clipping ---------------------------------------------------------------------------


def applied_gradients(**clip):
    """The gradients SGD(learning_rate=1) actually applied: w_before - w_after."""
    w, b = Variable("w", np.zeros(2)), Variable("b", np.zeros(1))
    opt = optimizers.SGD(learning_rate=1.0, **clip)
    opt.apply_gradients(zip([np.array([3.0, 4.0]), np.array([-12.0])], [w, b]))
    return -w.value, -b.value


def test_clipnorm_scales_each_gradient_separately():
    gw, gb = applied_gradients(clipnorm=1.0)
    np.testing.assert_allclose(gw, [0.6, 0.8], rtol=1e-12)
    np.testing.assert_allclose(gb, [-1.0], rtol=1e-12)


def test_clipnorm_leaves_small_gradients_alone():
    gw, gb = applied_gradients(clipnorm=100.0)
    np.testing.assert_allclose(gw, [3.0, 4.0], rtol=1e-12)
    np.testing.assert_allclose(gb, [-12.0], rtol=1e-12)


def test_clipvalue_clips_each_element():
    gw, gb = applied_gradients(clipvalue=3.5)
    np.testing.assert_allclose(gw, [3.0, 3.5], rtol=1e-12)
    np.testing.assert_allclose(gb, [-3.5], rtol=1e-12)


def test_global_clipnorm_scales_all_gradients_jointly():
    gw, gb = applied_gradients(global_clipnorm=6.5)  # joint norm sqrt(9 + 16 + 144) = 13
    np.testing.assert_allclose(gw, [1.5, 2.0], rtol=1e-12)
    np.testing.assert_allclose(gb, [-6.0], rtol=1e-12)


def test_clipping_happens_before_adam_moments():
    w = Variable("w", np.array([0.0, 0.0]))
    opt = optimizers.Adam(learning_rate=1.0, beta_1=0.5, beta_2=0.5, epsilon=0.0, clipvalue=0.1)
    opt.apply_gradients([(np.array([10.0, -0.05]), w)])
    # Step 1 on the clipped g: m = 0.5 g, v = 0.5 g^2, alpha = sqrt(1 - 0.5) / (1 - 0.5),
    # so the step is sign(g) whatever |g| is.
    np.testing.assert_allclose(w.value, [-1.0, 1.0], rtol=1e-12)
    opt.apply_gradients([(np.array([10.0, 0.1]), w)])
    assert opt.variables[2][0] == pytest.approx(0.1 * 0.5 + 0.1 * 0.5 * 0.5, rel=1e-12)


def test_only_one_clipping_argument_is_allowed():
    with pytest.raises(ValueError, match="clipnorm"):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError):
        optimizers.Adam(clipnorm=1.0, global_clipnorm=1.0)


def test_clip_settings_appear_in_the_config():
    config = optimizers.Adam(clipnorm=2.0).get_config()
    assert config["clipnorm"] == 2.0
    assert "clipvalue" not in config
    assert config["learning_rate"] == 0.001


# ---- lookup -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, cls",
    [
        ("adam", optimizers.Adam),
        ("Adam", optimizers.Adam),
        ("sgd", optimizers.SGD),
        ("SGD", optimizers.SGD),
        ("rmsprop", optimizers.RMSprop),
        ("RMSprop", optimizers.RMSprop),
    ],
)
def test_get_by_name_gives_defaults(name, cls):
    opt = optimizers.get(name)
    assert type(opt) is cls
    assert opt.learning_rate == cls().learning_rate


def test_get_returns_instances_unchanged():
    opt = optimizers.SGD(learning_rate=0.5)
    assert optimizers.get(opt) is opt


def test_unknown_optimizer_name_suggests_the_nearest():
    with pytest.raises(ValueError) as error:
        optimizers.get("adma")
    message = str(error.value)
    assert "Did you mean 'adam'" in message
    for name in ("adam", "rmsprop", "sgd"):
        assert name in message


def test_get_rejects_other_types():
    with pytest.raises(TypeError):
        optimizers.get(0.01)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: optimizers.Adam(learning_rate=float("nan")), ValueError, r"Adam: learning_rate must be non-negative and finite\. Received: learning_rate=nan"),
        (lambda: optimizers.SGD(learning_rate=float("inf")), ValueError, r"SGD: learning_rate .*inf"),
        (lambda: optimizers.RMSprop(learning_rate=-0.1), ValueError, r"RMSprop: learning_rate .*-0\.1"),
        (lambda: optimizers.Adam(learning_rate="0.01"), TypeError, r"learning_rate must be a non-negative, finite number.*Pass the number itself: learning_rate=0\.01"),
        (lambda: optimizers.Adam(learning_rate=True), TypeError, r"learning_rate=True \(a bool"),
        (lambda: optimizers.AdamW(weight_decay=None), ValueError, r"AdamW: Argument `weight_decay` must be a float\. Received: weight_decay=None"),
        (lambda: optimizers.SGD(weight_decay=-0.1), ValueError, r"SGD: weight_decay must be non-negative"),
        (lambda: optimizers.Adam(beta_1=1.0), ValueError, r"beta_1 must be in \[0, 1\)"),
        (lambda: optimizers.Adam(epsilon=-1e-7), ValueError, r"epsilon"),
        (lambda: optimizers.Adam(amsgrad=1), TypeError, r"amsgrad must be True or False"),
        (lambda: optimizers.SGD(momentum=1.5), ValueError, r"SGD: momentum must be in \[0, 1\]"),
        (lambda: optimizers.SGD(nesterov="yes"), TypeError, r"nesterov must be True or False"),
        (lambda: optimizers.RMSprop(rho=float("nan")), ValueError, r"rho"),
        (lambda: optimizers.SGD(clipnorm=0), ValueError, r"clipnorm must be positive"),
        (lambda: optimizers.SGD(lr=float("nan")), ValueError, r"learning_rate"),
    ],
)
def test_optimizer_arguments_are_checked(make, error, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # lr= is Keras 2's spelling
        with pytest.raises(error, match=message):
            make()


def test_setting_a_nan_learning_rate_is_refused():
    optimizer = optimizers.SGD()
    with pytest.raises(ValueError, match=r"lr must be non-negative and finite"):
        optimizer.lr = float("nan")
    assert optimizer.learning_rate == 0.01
