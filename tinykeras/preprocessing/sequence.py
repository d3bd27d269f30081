"""``keras.preprocessing.sequence``: Keras' older home of ``pad_sequences``."""
from tinykeras.utils.sequence_utils import pad_sequences

__all__ = ["pad_sequences"]


from tinykeras._missing import attribute_error_for  # noqa: E402

__getattr__ = attribute_error_for(__name__)
