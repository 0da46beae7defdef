"""Flush-to-zero on the CPU: the NumPy backend's compiled runs treat subnormal floats as zero.

TensorFlow and XLA run every CPU kernel with the processor's flush-to-zero and
denormals-are-zero modes on, so Keras on TensorFlow and JAX never compute with subnormal
numbers (below 1.2e-38 in float32): `0.1 * tiny` is 0 there. Without them a CPU takes a slow
microcode path for each one, 10-20x slower per element. They appear in training where a value
decays geometrically: Adam's first moment of a weight whose gradient is zero (a dead ReLU
unit, an embedding row not in the batch) falls by beta_1 each step, below 1e-38 within a few
epochs, and W4's step then takes twice as long.

The mode is a per-thread register (x86's MXCSR, Arm's FPCR), reached through the C library's
fegetenv/fesetenv on the platforms whose fenv_t layout is known below; elsewhere nothing
changes and subnormals are kept, as NumPy and PyTorch keep them. A self-test on first use
checks that the mode took effect, else leaves it off.

The backend turns it on for the duration of a compiled run (a tf.function call, a Keras
step) on the calling thread, restoring the thread's previous state after, and has its worker
threads follow the caller's state: results do not depend on which thread computed a piece.
Eager ops outside a compiled run keep subnormals. The user's own NumPy code, which runs
outside these calls, is unaffected.
"""

import ctypes
import platform
import sys
import threading

__all__ = ["flushing", "flushing_now", "set_flushing", "enable", "enabled"]

# platform -> (index of the control register's low 32 bits in fenv_t read as 32-bit words,
# the bits that flush): x86's MXCSR has flush-to-zero (bit 15) and denormals-are-zero (bit 6);
# Arm's FPCR has FZ (bit 24), which does both.
_LAYOUTS = {
    ("linux", "x86_64"): (7, 0x8040),  # glibc and musl: 28 bytes of x87 state, then MXCSR
    ("linux", "aarch64"): (0, 1 << 24),  # glibc: fpcr, fpsr
    ("darwin", "x86_64"): (1, 0x8040),  # x87 control and status (16 bits each), MXCSR
    ("darwin", "arm64"): (2, 1 << 24),  # 64-bit fpsr, then fpcr (little-endian)
}
# A fenv_t in 32-bit words: more than any layout above needs.
_Env = ctypes.c_uint32 * 16

_state = None  # None: not looked up yet; False: unavailable; else (get, set, index, bits)
_local = threading.local()  # .on: a call on this thread turned flushing on and runs
_enabled = [True]  # tf.config.experimental.enable_flush_denormals
_TINY = [2.2250738585072014e-308]  # the smallest normal float64, in a list: not constant-folded


def _look_up():
    global _state
    machine = platform.machine().lower()
    if sys.platform == "linux":
        machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    layout = _LAYOUTS.get((sys.platform, machine))
    _state = False
    if layout is None:
        return
    try:
        library = ctypes.CDLL(None)  # the C library is already loaded: nothing new runs
        get, set_ = library.fegetenv, library.fesetenv
    except (OSError, AttributeError):
        return
    get.restype = set_.restype = ctypes.c_int
    index, bits = layout
    env = _Env()
    if get(env):
        return
    before = env[index]
    try:
        env[index] = before | bits
        if set_(env):
            return
        works = _TINY[0] * 0.5 == 0.0  # flushed
    finally:
        env[index] = before
        set_(env)
    if works and _TINY[0] * 0.5 != 0.0:  # and back
        _state = (get, set_, index, bits)


def enable(on):
    """Whether compiled runs flush from now on (tf.config.experimental.enable_flush_denormals)."""
    _enabled[0] = bool(on)


def enabled():
    """Whether compiled runs flush where the platform allows."""
    return _enabled[0]


def _found():
    if _state is None:
        _look_up()
    return _state


def flushing_now():
    """Whether this thread now flushes subnormals (False where the mode is unavailable)."""
    state = _found()
    if not state:
        return False
    get, _, index, bits = state
    env = _Env()
    get(env)
    return env[index] & bits == bits


def set_flushing(on):
    """Turns flushing on or off on this thread (for the backend's worker threads)."""
    state = _found()
    if not state:
        return
    get, set_, index, bits = state
    env = _Env()
    get(env)
    env[index] = env[index] | bits if on else env[index] & ~bits
    set_(env)


def flushing(run):
    """`run` wrapped to run with subnormals flushed on the calling thread, which gets its
    previous floating-point state back after; a call within another finds the mode on and
    just runs. `run` itself where the mode is unavailable."""
    state = _found()
    if not state:
        return run
    get, set_, index, bits = state
    local, on = _local, _enabled

    def flushed_run(*args):
        if not on[0] or getattr(local, "on", False):
            return run(*args)
        env = _Env()
        get(env)
        before = env[index]
        if before & bits == bits:  # (the caller's own setting)
            return run(*args)
        env[index] = before | bits
        set_(env)
        local.on = True
        try:
            return run(*args)
        finally:
            local.on = False
            env[index] = before
            set_(env)
    flushed_run.__wrapped__ = run
    return flushed_run
