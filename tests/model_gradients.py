"""Checks a compiled model's weight gradients against finite differences of its loss."""
import numpy as np

from tinykeras.utils import numerical_gradient


def assert_weight_gradients_match(model, x, y, rtol=1e-6, atol=1e-8):
    """One forward and backward pass in training mode on (x, y) (float64 data, dropout-free
    models), then each trainable weight's gradient, summed over shared calls, against central
    differences of the compiled loss (with the add_loss terms)."""
    model._batch_outputs(x, y, training=True)
    analytic = {id(v): g for g, v in model._gradient_pairs(model._owners())}

    def loss():
        values, _, _, added = model._batch_outputs(x, y, training=False)
        return model._objectives.total_loss(values, added)

    assert set(analytic) == {id(v) for v in model.trainable_weights}
    for variable in model.trainable_weights:
        np.testing.assert_allclose(analytic[id(variable)], numerical_gradient(loss, variable.value), rtol=rtol, atol=atol)
