"""What a name Keras 3 has and tinykeras lacks answers: an AttributeError that names the Keras
feature, says tinykeras does not have it and what to write instead, rather than Python's bare
"module has no attribute".

Each public module of tinykeras whose Keras twin is a namespace (``keras.layers``,
``keras.losses``, ...) sets ``__getattr__ = attribute_error_for(__name__)``: Python
calls it only for names the module does not define. Keras' names come from
``keras_api_names.json`` (written from real Keras 3 by
tests/fixtures/make_keras_api_names.py).
"""
import json
import os

_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_api_names.json")
_NAMES = None

#: What to do instead, per Keras namespace.
ADVICE = {
    "": "The README's API table lists what tinykeras has.",
    "layers": "Write it as a custom layer: subclass keras.layers.Layer and compute its call with keras.ops "
              "(the gradient comes from the ops), or compose it from the layers tinykeras has (README, API table).",
    "losses": "Pass a function loss(y_true, y_pred) written with keras.ops, or a keras.losses.Loss subclass "
              "with call(y_true, y_pred): its gradient comes from the ops.",
    "metrics": "Pass a function metric(y_true, y_pred) returning one value per sample, or subclass "
               "keras.metrics.Metric (update_state, result, reset_state).",
    "optimizers": "tinykeras has SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam and Lion.",
    "optimizers.schedules": "Subclass keras.optimizers.schedules.LearningRateSchedule (__call__(step)), or pass "
                            "a function of the step as learning_rate.",
    "callbacks": "Subclass keras.callbacks.Callback; CSVLogger writes each epoch's logs to a file.",
    "activations": "Pass a function written with keras.ops as the activation.",
    "initializers": "Pass an array through layer.set_weights, or a function (shape, dtype) returning the values.",
    "regularizers": "Pass a function of the weight written with keras.ops as the regularizer.",
    "constraints": "Pass a function of the weight returning the constrained values as the constraint.",
    "ops": "Compose it from the ops tinykeras has (listed in tinykeras/ops/__init__.py); each has its gradient.",
    "random": "tinykeras.random has normal, uniform, truncated_normal, randint, dropout, shuffle and SeedGenerator.",
    "datasets": "Load the arrays with NumPy and pass them to fit.",
    "applications": "tinykeras has no pretrained models: build the network from layers and train it, or use Keras "
                    "for pretrained weights.",
}


def _names():
    global _NAMES
    if _NAMES is None:
        with open(_PATH) as f:
            _NAMES = json.load(f)["names"]
    return _NAMES


def namespaces():
    """The Keras namespaces whose names are known ('' for ``keras`` itself, 'layers', ...)."""
    return sorted(_names())


def keras_names(namespace):
    """The public names of ``keras.<namespace>`` ('' for ``keras`` itself)."""
    return _names().get(namespace, ())


def attribute_error_for(module_name):
    """A module ``__getattr__`` for tinykeras' module ``module_name``: it raises an
    AttributeError naming the Keras feature when Keras has the name, Python's usual one
    otherwise."""
    namespace = module_name.removeprefix("tinykeras").lstrip(".")

    def __getattr__(name):
        if name.startswith("_") or name not in keras_names(namespace):
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        keras_name = ".".join(filter(None, ("keras", namespace, name)))
        advice = ADVICE.get(name if namespace == "" and name in ADVICE else namespace, ADVICE[""])
        raise AttributeError(f"{keras_name} is not available in tinykeras. {advice}")

    return __getattr__
