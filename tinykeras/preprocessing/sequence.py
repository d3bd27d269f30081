"""``keras.preprocessing.sequence``: Keras' older home of ``pad_sequences``."""
from tinykeras.utils.sequence_utils import pad_sequences

__all__ = ["pad_sequences"]
