"""The user's settings: $TINYKERAS_HOME/tinykeras.json, $TINYKERAS_IMAGE_DATA_FORMAT and the
set_ functions, in that order of precedence."""
import importlib
import json
import os
import subprocess
import sys
import warnings

import pytest

from tinykeras import backend, layers


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty TINYKERAS_HOME and no format variable; every setting is restored afterwards."""
    monkeypatch.setenv("TINYKERAS_HOME", str(tmp_path))
    monkeypatch.delenv("TINYKERAS_IMAGE_DATA_FORMAT", raising=False)
    saved = backend.floatx(), backend.epsilon(), backend.image_data_format()
    yield tmp_path
    backend.set_floatx(saved[0])
    backend.set_epsilon(saved[1])
    backend.set_image_data_format(saved[2])


def write_settings(home, settings):
    path = home / "tinykeras.json"
    path.write_text(settings if isinstance(settings, str) else json.dumps(settings))
    return path


def test_defaults_without_file_or_variable(home):
    assert backend.load_config() == {
        "floatx": "float32",
        "epsilon": 1e-7,
        "image_data_format": "channels_last",
    }
    assert backend.config_path() == str(home / "tinykeras.json")


def test_settings_file_is_read_at_import(home):
    write_settings(home, {"image_data_format": "channels_first", "floatx": "float64", "epsilon": 1e-5,
                          "backend": "tensorflow"})
    importlib.reload(backend)
    assert backend.image_data_format() == "channels_first"
    assert backend.floatx() == "float64" and backend.epsilon() == 1e-5
    conv = layers.Conv2D(4, 3)
    assert conv.data_format == "channels_first"


def test_environment_variable_overrides_the_file(home, monkeypatch):
    write_settings(home, {"image_data_format": "channels_last"})
    monkeypatch.setenv("TINYKERAS_IMAGE_DATA_FORMAT", "channels_first")
    assert backend.load_config()["image_data_format"] == "channels_first"
    assert backend.image_data_format() == "channels_first"


def test_set_image_data_format_overrides_both(home, monkeypatch):
    write_settings(home, {"image_data_format": "channels_first"})
    monkeypatch.setenv("TINYKERAS_IMAGE_DATA_FORMAT", "channels_first")
    backend.load_config()
    backend.set_image_data_format("channels_last")
    assert backend.image_data_format() == "channels_last"
    assert layers.MaxPooling2D().data_format == "channels_last"


def test_load_config_applies_a_changed_file(home):
    backend.load_config()
    write_settings(home, {"image_data_format": "channels_first"})
    assert backend.image_data_format() == "channels_last"  # read only when asked
    backend.load_config()
    assert backend.image_data_format() == "channels_first"


@pytest.mark.parametrize(
    ("settings", "pattern"),
    [
        (
            {"image_data_format": "NCHW"},
            (r'Ignoring "image_data_format" in the tinykeras settings file .*tinykeras\.json: '
             r"it must be one of 'channels_last', 'channels_first'\. Received: 'NCHW'\. "
             r"The default image_data_format='channels_last' is used instead"),
        ),
        (
            {"floatx": "float16"},
            (r'Ignoring "floatx" in .*tinykeras\.json: it must be one of '
             r"'float32', 'float64'\. Received: 'float16'\. The default floatx='float32'"),
        ),
        ({"epsilon": -1}, r'Ignoring "epsilon" in .*tinykeras\.json: it must be a positive number'),
        ({"epsilon": float("inf")}, r'Ignoring "epsilon" .*Received: inf'),
        ("{not json", (r"Ignoring the tinykeras settings file .*tinykeras\.json: it cannot be "
                       r"read as JSON .*The defaults are used instead .*Fix or delete the file")),
        ("[1, 2]", (r"Ignoring the tinykeras settings file .*tinykeras\.json: it must hold a "
                    r"JSON object.*Received: \[1, 2\]\. The defaults are used instead")),
    ],
)
def test_bad_settings_file_warns_names_the_file_and_uses_the_defaults(home, settings, pattern):
    write_settings(home, settings)
    with pytest.warns(UserWarning, match=pattern):
        assert backend.load_config() == {
            "floatx": "float32",
            "epsilon": 1e-7,
            "image_data_format": "channels_last",
        }
    assert backend.floatx() == "float32" and backend.image_data_format() == "channels_last"


def test_a_bad_key_is_ignored_and_the_good_keys_beside_it_apply(home):
    write_settings(home, {"image_data_format": "channels_first", "floatx": "float16",
                          "epsilon": 1e-5})
    with pytest.warns(UserWarning, match=r'Ignoring "floatx"') as record:
        settings = backend.load_config()
    assert len(record) == 1
    assert settings == {"floatx": "float32", "epsilon": 1e-5, "image_data_format": "channels_first"}


@pytest.mark.parametrize("contents", ['{"image_data_format": ', '"channels_first"',
                                      '{"floatx": "float16", "image_data_format": "channels_first"}'])
def test_import_tinykeras_succeeds_with_a_malformed_settings_file(home, contents):
    write_settings(home, contents)
    script = ("import tinykeras\n"
              "from tinykeras import backend\n"
              "print(backend.floatx(), backend.image_data_format())")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, env=dict(os.environ, TINYKERAS_HOME=str(home)))
    assert result.returncode == 0, result.stderr
    assert "UserWarning: Ignoring" in result.stderr
    assert str(home / "tinykeras.json") in result.stderr
    expected = "channels_first" if "floatx" in contents else "channels_last"
    assert result.stdout.split() == ["float32", expected]


def test_bad_environment_variable_is_named_and_ignored(home, monkeypatch):
    """A bad value never stops ``import tinykeras``: it is named in a warning, and the file's
    setting (or the default) applies."""
    (home / "tinykeras.json").write_text('{"image_data_format": "channels_first"}')
    monkeypatch.setenv("TINYKERAS_IMAGE_DATA_FORMAT", "th")
    with pytest.warns(UserWarning, match=r"Ignoring the environment variable TINYKERAS_IMAGE_DATA_FORMAT='th': "
                                         r"it must be one of 'channels_last', 'channels_first'\. The image data "
                                         r"format 'channels_first' is used instead\."):
        settings = backend.load_config()
    assert settings["image_data_format"] == backend.image_data_format() == "channels_first"


def test_keras1_image_dim_ordering(home):
    with pytest.warns(DeprecationWarning, match=r"set_image_data_format\('channels_first'\)"):
        backend.set_image_dim_ordering("th")
    assert backend.image_data_format() == "channels_first"
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert backend.image_dim_ordering() == "th"
    assert len(record) == 1 and "image_data_format()" in str(record[0].message)
    with pytest.raises(ValueError, match=r"'th' or 'tf'.*Received: 'channels_first'"):
        backend.set_image_dim_ordering("channels_first")
