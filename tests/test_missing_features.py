"""A name Keras 3 has and tinykeras lacks raises an AttributeError that names the Keras
feature and says what to do instead (tinykeras/_missing.py, keras_api_names.json)."""
import importlib

import pytest

import tinykeras
from tinykeras import _missing

NAMESPACES = _missing.namespaces()


def module_for(namespace):
    return importlib.import_module(".".join(filter(None, ("tinykeras", namespace))))


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_every_keras_name_is_there_or_named_in_the_error(namespace):
    module = module_for(namespace)
    for name in _missing.keras_names(namespace):
        try:
            getattr(module, name)
        except AttributeError as error:
            keras_name = ".".join(filter(None, ("keras", namespace, name)))
            assert str(error).startswith(f"{keras_name} is not available in tinykeras. "), error
            assert len(str(error)) > len(keras_name) + 40  # says what to do instead


def test_the_error_says_what_to_write_instead():
    with pytest.raises(AttributeError, match=r"keras\.layers\.MultiHeadAttention is not available in tinykeras\. "
                                             r"Write it as a custom layer: subclass keras\.layers\.Layer"):
        tinykeras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    with pytest.raises(AttributeError, match=r"keras\.optimizers\.Ftrl .* tinykeras has SGD, Adam"):
        tinykeras.optimizers.Ftrl()
    with pytest.raises(AttributeError, match=r"keras\.applications .* no pretrained models"):
        tinykeras.applications.ResNet50()


def test_names_keras_lacks_too_keep_python_s_message():
    with pytest.raises(AttributeError, match=r"module 'tinykeras.layers' has no attribute 'Dense2'"):
        tinykeras.layers.Dense2


def test_hasattr_and_getattr_with_a_default_still_work():
    assert not hasattr(tinykeras.layers, "MultiHeadAttention")
    assert getattr(tinykeras.callbacks, "TensorBoard", None) is None
    assert hasattr(tinykeras.layers, "Dense")


def test_from_import_of_a_missing_name_raises_import_error_naming_it():
    with pytest.raises(ImportError, match="MultiHeadAttention"):
        exec("from tinykeras.layers import MultiHeadAttention", {})


def test_the_names_file_is_keras_3s():
    assert "Dense" in _missing.keras_names("layers") and "Adam" in _missing.keras_names("optimizers")
    assert len(_missing.keras_names("ops")) > 300
