"""tinykeras' folder for what it keeps between runs (datasets, settings, compiled kernels)."""
import os


def tinykeras_home():
    """The folder for caches (datasets, settings, kernels): $TINYKERAS_HOME, else ~/.tinykeras."""
    home = os.environ.get("TINYKERAS_HOME")
    if home:
        return os.path.abspath(os.path.expanduser(home))
    return os.path.join(os.path.expanduser("~"), ".tinykeras")
