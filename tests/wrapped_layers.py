"""Helpers for checking a layer's gradients through a layer around it: ``Around`` runs the
inner layer (whose weights it shows as its own) and passes its gradients back, and a test's
subclass changes how it is called (a fixed mask, fixed starting states, several outputs seen as
one); ``with_random_weights`` builds a layer with weights that keep gates out of saturation."""
from tinykeras.layers import Layer


class Around(Layer):
    """Runs ``inner``: forward and backward pass straight through, the weights are the inner
    layer's. Subclasses override ``forward`` (and ``backward`` when they reshape outputs)."""

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    def build(self, input_shape):
        self.inner.build_for(input_shape)

    @property
    def trainable_weights(self):
        return self.inner.trainable_weights

    def forward(self, x, training=False):
        return self.inner.forward(x, training)

    def backward(self, dy):
        dx = self.inner.backward(dy)
        self.grads = self.inner.grads
        return dx


def with_random_weights(layer, rng, input_shape):
    """The layer built for ``input_shape`` with weights of a scale that keeps the gates away
    from saturation."""
    layer.build_for(input_shape)
    layer.set_weights([rng.standard_normal(w.shape) * 0.6 for w in layer.get_weights()])
    return layer

