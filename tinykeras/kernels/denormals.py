"""Subnormal numbers flushed to zero while tinykeras trains and predicts.

A float below the smallest normal number (1.2e-38 in float32) is stored with fewer significant
bits: a subnormal. Training makes them: Adam's first moment decays by beta_1 = 0.9 each step
wherever a gradient is exactly zero (a dead ReLU unit), and reaches the subnormal range within
about 800 steps. Intel cores compute with a subnormal operand through a microcode assist, many
times slower than with normal ones.

The x86 control register MXCSR has two bits against this, per thread: FTZ (flush to zero: a
result that would be subnormal is written as zero) and DAZ (denormals are zero: a subnormal
operand is read as zero). TensorFlow's CPU kernels run with both set; so do tinykeras'
``fit``, ``evaluate`` and ``predict`` (``flushed``), and the helper threads that compute parts of
their batches take the caller's setting with each part. Outside those calls the register is as
the program had it, so NumPy code around tinykeras keeps exact IEEE arithmetic.

On other processors (ARM, whose FZ bit lives in FPCR) nothing is changed, nor with
``NUMBA_DISABLE_JIT=1``: the register is read and written by compiled code only.
"""
import contextlib
import platform

from tinykeras.kernels.compiled import intrinsic, jit_disabled, njit

#: MXCSR's FTZ (bit 15) and DAZ (bit 6).
FLUSH_BITS = 0x8040
#: Whether this processor has MXCSR.
X86 = platform.machine().lower() in ("x86_64", "amd64", "x86", "i386", "i686")
#: Whether tinykeras sets it: on x86, unless the kernels run as plain Python.
_SETS_MXCSR = X86 and not jit_disabled()


def _mxcsr_call(builder, name, slot):
    from llvmlite import ir
    from numba.core import cgutils

    pointer = ir.IntType(8).as_pointer()
    function = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [pointer]), name)
    builder.call(function, [builder.bitcast(slot, pointer)])


@intrinsic
def _read_mxcsr(typingctx):
    """The thread's MXCSR (LLVM's llvm.x86.sse.stmxcsr)."""
    from numba import types
    from numba.core import cgutils

    def codegen(context, builder, signature, args):
        from llvmlite import ir

        slot = cgutils.alloca_once(builder, ir.IntType(32))
        _mxcsr_call(builder, "llvm.x86.sse.stmxcsr", slot)
        return builder.load(slot)

    return types.uint32(), codegen


@intrinsic
def _write_mxcsr(typingctx, value):
    """Sets the thread's MXCSR (LLVM's llvm.x86.sse.ldmxcsr)."""
    from numba import types
    from numba.core import cgutils

    def codegen(context, builder, signature, args):
        from llvmlite import ir

        slot = cgutils.alloca_once(builder, ir.IntType(32))
        builder.store(args[0], slot)
        _mxcsr_call(builder, "llvm.x86.sse.ldmxcsr", slot)
        return context.get_dummy_value()

    return types.void(types.uint32), codegen


@njit(cache=True, nogil=True)
def _swap_mxcsr(value):
    previous = _read_mxcsr()
    _write_mxcsr(value)
    return previous


@njit(cache=True, nogil=True)
def _get_mxcsr():
    return _read_mxcsr()


def control():
    """This thread's floating-point control word (MXCSR), or None on a processor without it."""
    return int(_get_mxcsr()) if _SETS_MXCSR else None


def set_control(value):
    """Sets this thread's control word to ``value`` (from ``control()``); returns the previous
    one. Nothing happens for None."""
    if value is None or not _SETS_MXCSR:
        return None
    return int(_swap_mxcsr(value))


@contextlib.contextmanager
def flushed():
    """Runs the block with subnormals flushed to zero on this thread, then puts the control
    word back as it was."""
    if not _SETS_MXCSR:
        yield
        return
    previous = control()
    try:
        set_control(previous | FLUSH_BITS)
        yield
    finally:
        set_control(previous)
