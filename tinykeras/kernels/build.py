"""Compiles the kernels ahead of time into one library (``python -m tinykeras.kernels.build``).

With the library in ``$TINYKERAS_HOME/kernels/<key>/`` (``compiled``), tinykeras runs its
kernels without importing Numba: ``import tinykeras`` took 0.15 s less on the MNIST MLP, its
first step 0.12 s less, and the process about 100 MB less memory. Building took 40 s here (2
cores) and needs what Numba's ahead-of-time compiler (``numba.pycc``) needs: setuptools and a C
compiler.

The build runs in a process of its own, where the kernels are Numba's just-in-time ones:

1. ``exercise`` trains, evaluates and predicts with small models of every kind of layer the
   examples use (dense, convolutional with each algorithm, pooling, normalization, dropout,
   recurrent, embedding, one-dimensional convolution), with each optimizer and data
   augmentation, in float32. Numba compiles each kernel for the types it meets, and the
   kernels it calls, into an empty cache of the build's own (from the user's cache it would
   load the kernels without compiling those they call, and the library would hold fewer).
2. Each of those signatures is compiled again by ``numba.pycc``, for this CPU, with the kernel's
   own options, into one extension module; ``index.json`` beside it says which compiled kernel
   serves which argument types.
3. Both are written to a new folder, which then takes the old library's place: a process that
   starts meanwhile loads the old library or the new one (or, in the instant between the two
   renames, none), never a module with another build's index (``compiled.TOKEN_SYMBOL``).

A kernel met later with other types (float64, another layout) is compiled by Numba when first
called, as without the library.
"""
import argparse
import copy
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from tinykeras.kernels import compiled

#: The options of ``njit`` the build carries into the library, with the values it accepts (None:
#: any). Any other option or value is refused, so that none is silently dropped: ``cache`` and
#: ``inline`` do not change a compiled kernel's code as a caller sees it, ``nopython`` and an unset
#: ``boundscheck`` are how the library compiles anyway; ``nogil`` and ``error_model`` become the
#: compiler's flags.
CARRIED_OPTIONS = {
    "cache": None, "inline": None, "nopython": (True,), "boundscheck": (None, False),
    "nogil": None, "error_model": None,
}


def exercise(seed=0):
    """Runs every kind of layer, optimizer and augmentation the examples use, briefly, in float32,
    so that Numba compiles the kernels for the types they take there."""
    import tinykeras as keras
    from tinykeras import layers

    keras.backend.set_floatx("float32")
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)

    def images(count, shape):
        return rng.random((count, *shape), dtype=np.float32)

    def one_hot(count, classes):
        return keras.utils.to_categorical(rng.integers(0, classes, count), classes).astype("float32")

    def run(model, x, y, loss="categorical_crossentropy", optimizer="adam"):
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
        model.fit(x, y, batch_size=8, epochs=1, validation_split=0.25, verbose=0)
        model.evaluate(x, y, batch_size=8, verbose=0)
        model.predict(x[:3], verbose=0)

    for optimizer in ("adam", "sgd", keras.optimizers.SGD(momentum=0.9, nesterov=True), "rmsprop",
                      "adagrad", "adadelta", "adamax", "nadam", "adamw"):
        mlp = keras.Sequential([
            layers.Input((20,)), layers.Dense(16, activation="relu"), layers.Dropout(0.2),
            layers.Dense(16, activation="tanh"), layers.Dense(10, activation="softmax"),
        ])
        run(mlp, images(32, (20,)), one_hot(32, 10), optimizer=optimizer)

    mnist_cnn = keras.Sequential([
        layers.Input((28, 28, 1)), layers.Conv2D(8, 3, activation="relu"),
        layers.Conv2D(8, (3, 3), activation="relu"), layers.MaxPooling2D(), layers.Dropout(0.25),
        layers.Conv2D(8, 5, padding="same", activation="relu"), layers.AveragePooling2D(),
        layers.Conv2D(8, 3, strides=2, activation="relu"), layers.Flatten(),
        layers.Dense(16, activation="relu"), layers.Dropout(0.5), layers.Dense(10, activation="softmax"),
    ])
    run(mnist_cnn, images(32, (28, 28, 1)), one_hot(32, 10), optimizer="adadelta")

    def block(x, filters):
        y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        y = layers.BatchNormalization()(y)
        y = layers.Activation("relu")(y)
        y = layers.Conv2D(filters, 3, padding="same")(y)
        return layers.Activation("relu")(layers.Add()([x, y]))

    inputs = keras.Input((32, 32, 3))
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
    x = layers.BatchNormalization()(x)
    x = block(x, 32)  # 32 channels and filters: Winograd's (tuning.WINOGRAD_MIN_CHANNELS)
    x = layers.MaxPooling2D()(x)
    x = layers.Dropout(0.2)(x)
    for size in (16, 8, 4, 2):  # both Winograd tilings meet the sizes each is chosen for
        x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
        if size > 2:
            x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(10, activation="softmax")(layers.Dense(16, activation="relu")(x))
    run(keras.Model(inputs, outputs), images(32, (32, 32, 3)), one_hot(32, 10))

    sizes = keras.Sequential([
        layers.Input((12, 12, 3)), layers.Conv2D(4, 3, padding="valid", activation="relu"),
        layers.Conv2D(4, 3, padding="same"), layers.GlobalMaxPooling2D(), layers.Dense(2, activation="softmax"),
    ])
    run(sizes, images(16, (12, 12, 3)), one_hot(16, 2))

    words = rng.integers(1, 200, (32, 24)).astype("int32")
    labels = rng.integers(0, 2, 32).astype("float32")
    for recurrent in (layers.LSTM(8), layers.GRU(8), layers.SimpleRNN(8),
                      layers.LSTM(8, dropout=0.2, recurrent_dropout=0.2),
                      layers.Bidirectional(layers.LSTM(4, return_sequences=True))):
        text = keras.Sequential([layers.Input((24,), dtype="int32"), layers.Embedding(200, 8), recurrent])
        if isinstance(recurrent, layers.Bidirectional):
            text.add(layers.GlobalMaxPooling1D())
        text.add(layers.Dense(1, activation="sigmoid"))
        run(text, words, labels, loss="binary_crossentropy")
    conv_text = keras.Sequential([
        layers.Input((24,), dtype="int32"), layers.Embedding(200, 8), layers.Dropout(0.2),
        layers.Conv1D(8, 5, activation="relu"), layers.MaxPooling1D(2), layers.Conv1D(8, 3, padding="same"),
        layers.GlobalMaxPooling1D(), layers.Dense(8, activation="relu"), layers.Dense(1, activation="sigmoid"),
    ])
    run(conv_text, words, labels, loss="binary_crossentropy")

    augmenter = keras.preprocessing.image.ImageDataGenerator(
        rotation_range=15, width_shift_range=0.2, height_shift_range=0.2, zoom_range=0.2,
        shear_range=0.1, horizontal_flip=True, fill_mode="nearest",
    )
    for x in (images(8, (32, 32, 3)), images(8, (28, 28, 1))):
        next(augmenter.flow(x, batch_size=8, seed=seed))


# ---- from Numba's kernels to the library -----------------------------------------------------


def describe(numba_type):
    """The index's description of one argument type (``compiled.keys_of`` reads it), or None for
    a type the library cannot tell at a call."""
    from numba.core import types
    from numba.np import numpy_support

    if isinstance(numba_type, types.Array) and numba_type.aligned:  # Numba types every array as aligned
        return {
            "kind": "array", "dtype": numpy_support.as_dtype(numba_type.dtype).str, "ndim": numba_type.ndim,
            "layout": numba_type.layout, "readonly": not numba_type.mutable,
        }
    if isinstance(numba_type, (types.Integer, types.Float, types.Boolean)):
        return {"kind": "scalar", "type": str(numba_type)}
    if isinstance(numba_type, types.NoneType):
        return {"kind": "none"}
    if isinstance(numba_type, types.UniTuple) and numba_type.dtype == types.int64:
        return {"kind": "int_tuple", "length": numba_type.count}
    return None


def signatures():
    """Every (dispatcher, signature, index entry) Numba compiled in this process for tinykeras'
    kernels, in a fixed order; signatures whose arguments ``describe`` cannot tell are left out."""
    from numba.core.registry import CPUDispatcher

    found = []
    for module_name in sorted(name for name in sys.modules if name.startswith("tinykeras.kernels.")):
        for name, value in sorted(vars(sys.modules[module_name]).items()):
            if not isinstance(value, CPUDispatcher) or value.py_func.__module__ != module_name:
                continue
            unknown = {
                option: setting for option, setting in value.targetoptions.items()
                if option not in CARRIED_OPTIONS
                or (CARRIED_OPTIONS[option] is not None and setting not in CARRIED_OPTIONS[option])
            }
            if unknown:
                raise ValueError(
                    f"The kernel {module_name}.{name} is compiled with the options {unknown}, which the "
                    f"ahead-of-time build does not carry into the library (it carries {CARRIED_OPTIONS}). "
                    "Teach tinykeras.kernels.build to carry them before building."
                )
            for number, argument_types in enumerate(value.signatures):
                described = [describe(argument) for argument in argument_types]
                if None in described:
                    continue
                symbol = f"{module_name.rsplit('.', 1)[1]}__{name}__{number}"
                entry = {"symbol": symbol, "arguments": described}
                found.append((value, value.overloads[argument_types].signature, f"{module_name}.{value.__qualname__}", entry))
    return found


def _returning(token):
    """A function that returns ``token`` (compiled into the library as its ``TOKEN_SYMBOL``)."""

    def library_token():
        return token

    return library_token


def compile_library(found, folder, token):
    """Compiles ``found`` (``signatures()``) into the extension module in ``folder``, with each
    kernel's ``nogil`` and error model, for this CPU's model and features (as Numba's JIT), and
    a function that returns ``token`` (which the index repeats: ``compiled`` loads a module only
    with the index written beside it)."""
    import numba.pycc.compiler as pycc_compiler
    from numba.core.codegen import AOTCPUCodegen
    from numba.pycc import CC

    options = {dispatcher.py_func: dispatcher.targetoptions for dispatcher, _, _, _ in found}
    compile_extra = pycc_compiler.compile_extra

    def compile_with_options(typing_context, target_context, function, args, return_type, flags, locals, library):
        flags = copy.copy(flags)
        flags.release_gil = bool(options.get(function, {}).get("nogil", False))
        if "error_model" in options.get(function, {}):
            flags.error_model = options[function]["error_model"]
        return compile_extra(typing_context, target_context, function, args, return_type, flags,
                             locals=locals, library=library)

    features = AOTCPUCodegen._customize_tm_features
    pycc_compiler.compile_extra = compile_with_options
    AOTCPUCodegen._customize_tm_features = lambda codegen: codegen._get_host_cpu_features()
    try:
        cc = CC(compiled.MODULE_NAME)
        cc.output_dir = folder
        cc.output_file = os.path.basename(compiled.library_file(folder))
        cc.target_cpu = "host"
        for dispatcher, signature, _, entry in found:
            cc.export(entry["symbol"], signature)(dispatcher.py_func)
        cc.export(compiled.TOKEN_SYMBOL, "int64()")(_returning(token))
        cc.compile()
    finally:
        pycc_compiler.compile_extra = compile_extra
        AOTCPUCodegen._customize_tm_features = features


def build_here(verbose=True):
    """Builds the library in this process (its kernels must be Numba's: ``build`` runs this in a
    process of its own). Returns the library's folder."""
    if compiled.ahead_of_time():
        raise RuntimeError(
            "build_here() needs the just-in-time kernels, and this process loaded the library: "
            "call tinykeras.kernels.build.build(), which builds in a process of its own."
        )
    from numba.pycc.platform import Toolchain

    Toolchain()  # raises at once, before the exercise, without a C compiler
    start = time.perf_counter()
    exercise()
    found = signatures()
    if verbose:
        print(f"Exercised the kernels: {len(found)} signatures of {len({e[2] for e in found})} kernels "
              f"in {time.perf_counter() - start:.1f} s", flush=True)
    folder = compiled.library_folder()
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".building-", dir=parent)
    try:
        start = time.perf_counter()
        token = secrets.randbits(62)
        compile_library(found, staging, token)
        index = {"format": compiled.INDEX_FORMAT, "key": os.path.basename(folder), "token": token, "kernels": {}}
        for _, _, name, entry in found:
            index["kernels"].setdefault(name, []).append(entry)
        with open(os.path.join(staging, compiled.INDEX_NAME), "w", encoding="utf-8") as f:
            json.dump(index, f, indent=1)
        _replace_folder(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if verbose:
        print(f"Compiled them ahead of time in {time.perf_counter() - start:.1f} s: {folder}", flush=True)
    return folder


def _replace_folder(new, folder):
    """Puts the folder ``new`` in ``folder``'s place: renamed in one step when there is none; an
    old one is first renamed aside (a process that reads the library meanwhile finds it whole or
    finds none, and then compiles just in time), then removed."""
    old = None
    if os.path.exists(folder):
        old = f"{folder}.replaced-{secrets.token_hex(4)}"
        os.rename(folder, old)
    os.rename(new, folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build(verbose=True):
    """Builds the library of kernels compiled ahead of time for this machine, in a process of its
    own; returns its folder. Raises RuntimeError (with the build's own error) if it fails."""
    environment = dict(os.environ, **{compiled.VARIABLE: "0"})
    environment.pop("NUMBA_DISABLE_JIT", None)
    code = f"from tinykeras.kernels import build; build.build_here(verbose={bool(verbose)})"
    with tempfile.TemporaryDirectory(prefix="tinykeras-build-") as cache:
        # An empty cache of its own: Numba then compiles every kernel the exercise calls, and the
        # kernels those call, whatever its cache holds, so the library's kernels are always the same.
        environment["NUMBA_CACHE_DIR"] = cache
        result = subprocess.run([sys.executable, "-c", code], env=environment, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            "Compiling the kernels ahead of time failed; tinykeras keeps compiling them with Numba "
            "when first called. Numba's ahead-of-time compiler needs setuptools and a C compiler "
            f"(cc). The build said:\n{result.stderr.strip()[-4000:]}"
        )
    return compiled.library_folder()


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m tinykeras.kernels.build",
        description="Compiles tinykeras' kernels ahead of time into $TINYKERAS_HOME/kernels, so that "
        "tinykeras runs them without importing Numba (a faster start, about 100 MB less memory).",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    args = parser.parse_args(argv)
    try:
        build(verbose=not args.quiet)
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
