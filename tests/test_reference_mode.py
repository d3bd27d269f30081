"""The reference mode: ``backend.set_kernels("reference")`` (or ``TINYKERAS_KERNELS=reference`` at
import) runs every layer and optimizer on the plain NumPy references of the kernels, and each
example model trains to the same losses and weights in both modes."""
import importlib.util
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import tinykeras
from tinykeras import backend
from tinykeras.kernels import mode

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")
# Each example's model, with the image data format its script sets.
EXAMPLE_MODELS = {
    "mnist_mlp": "channels_last",
    "mnist_cnn": "channels_last",
    "mnist_cnn_small": "channels_last",
    "mnist_cnn_deep": "channels_last",
    "mnist_cnn_keras1": "channels_first",
    "cifar10_cnn": "channels_last",
}


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def kernels_restored():
    yield
    backend.set_kernels("fast")


def train(name, kernels, steps=2, batch_size=6):
    """Builds the example's model in float64 from a fixed seed and trains it ``steps`` steps of
    Adam (two epochs) on fixed random data with the given kernels; returns (losses per epoch, weights)."""
    backend.set_kernels(kernels)
    backend.clear_session()
    backend.set_random_seed(0)
    backend.set_floatx("float64")
    backend.set_image_data_format(EXAMPLE_MODELS[name])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the Keras 1 example's names
        model = load_example(name).build_model()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((steps * batch_size,) + tuple(model.input_shape[1:]))
    classes = model.output_shape[-1]
    y = np.eye(classes)[rng.integers(0, classes, len(x))]
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    history = model.fit(x, y, batch_size=batch_size, epochs=2, shuffle=False, verbose=0)
    return history.history["loss"], model.get_weights()


@pytest.mark.parametrize("name", sorted(EXAMPLE_MODELS))
def test_each_example_model_trains_alike_on_the_fast_and_the_reference_kernels(name, kernels_restored):
    fast_losses, fast_weights = train(name, "fast")
    reference_losses, reference_weights = train(name, "reference")
    np.testing.assert_allclose(reference_losses, fast_losses, rtol=1e-9)
    assert len(reference_weights) == len(fast_weights)
    for reference, fast in zip(reference_weights, fast_weights):
        assert reference.dtype == fast.dtype == np.float64
        np.testing.assert_allclose(reference, fast, rtol=1e-7, atol=1e-9)


def test_the_reference_mode_runs_the_references(kernels_restored, monkeypatch):
    """In the reference mode a kernel's reference runs, not the kernel: a reference made to fail
    shows it (and the fast mode does not call it)."""
    from tinykeras.kernels import conv2d

    def failing(*args, **kwargs):
        raise AssertionError("the reference ran")

    monkeypatch.setattr(conv2d, "conv2d_forward_reference", failing)
    layer = tinykeras.layers.Conv2D(2, 3)
    x = np.ones((1, 5, 5, 1), np.float32)
    layer(x)
    backend.set_kernels("reference")
    with pytest.raises(AssertionError, match="the reference ran"):
        layer(x)


def test_every_switchable_kernel_has_its_reference_beside_it():
    """A kernel marked ``@switchable`` finds ``<name>_reference`` in its own module."""
    import tinykeras.kernels.activations
    import tinykeras.kernels.blas
    import tinykeras.kernels.conv2d
    import tinykeras.kernels.dropout
    import tinykeras.kernels.embedding
    import tinykeras.kernels.normalization
    import tinykeras.kernels.optimizers
    import tinykeras.kernels.pooling  # noqa: F401 (the modules whose kernels are listed below)

    switchable = {
        f"{module}.{name}"
        for module, loaded in sys.modules.items()
        if module.startswith("tinykeras.kernels.")
        for name, value in vars(loaded).items()
        if callable(value) and hasattr(value, "fast") and value.__module__ == module
    }
    assert {
        "tinykeras.kernels.blas.matmul",
        "tinykeras.kernels.bias.add_bias",
        "tinykeras.kernels.conv2d.conv2d_forward",
        "tinykeras.kernels.conv2d.conv2d_backward",
        "tinykeras.kernels.im2col.col2im",
        "tinykeras.kernels.pooling.max_pool_forward",
        "tinykeras.kernels.normalization.normalize_backward",
        "tinykeras.kernels.optimizers.run_fused",
    } <= switchable
    for qualified in switchable:
        module, name = qualified.rsplit(".", 1)
        assert callable(getattr(sys.modules[module], name + "_reference", None)), qualified


def test_set_kernels_refuses_an_unknown_mode_and_keeps_the_current_one(kernels_restored):
    backend.set_kernels("reference")
    with pytest.raises(ValueError, match=r"Unknown kernels 'numpy'.*'fast'.*'reference'"):
        backend.set_kernels("numpy")
    assert backend.kernels() == "reference"
    backend.set_kernels("fast")
    assert backend.kernels() == "fast"


def test_the_recurrent_layers_run_their_numpy_steps_in_the_reference_mode(kernels_restored):
    from tinykeras.kernels import recurrent

    backend.set_kernels("reference")
    assert recurrent.FUSED is False
    backend.set_kernels("fast")
    assert recurrent.FUSED is True


def _kernels_at_import(value):
    environment = {**os.environ, mode.VARIABLE: value}
    return subprocess.run(
        [sys.executable, "-c", "from tinykeras import backend; print(backend.kernels())"],
        capture_output=True, text=True, env=environment, timeout=120,
    )


def test_the_environment_variable_sets_the_mode_at_import():
    result = _kernels_at_import("reference")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "reference"


def test_an_unknown_environment_value_stops_the_import_saying_what_to_set():
    result = _kernels_at_import("slow")
    assert result.returncode != 0
    assert "TINYKERAS_KERNELS='slow' is not a kernel mode: set it to 'fast' or 'reference'" in result.stderr
