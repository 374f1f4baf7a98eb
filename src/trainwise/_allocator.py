"""Keep freed large arrays inside the process instead of handing them back to the OS (glibc).

A training step frees and reallocates the same large arrays (activations, im2col
matrices, gradients) every step. glibc's defaults serve an allocation above a
threshold (128 KiB, raised dynamically up to 32 MiB) with a fresh ``mmap`` and give
the top of the heap back to the OS once more than twice that is free there; every
step then pays page faults to map and zero that memory again. Measured on a
conv-BN-ReLU x2 CNN (28x28, 16/32 channels): 5,500 minor faults per step at batch 64
and 7,600 at batch 256, and 1.2x / 1.5x longer steps, against none with the settings
below. (The plain MLP and CNN steps of ``bench/bench.py`` fault little either way:
their arrays stay under glibc's dynamic threshold.)

``tune_malloc()`` (run once when trainwise is imported) sets, through ``mallopt``,
M_MMAP_THRESHOLD = 256 MiB and M_TRIM_THRESHOLD = 512 MiB, so arrays up to 256 MiB
are recycled from the heap and freed memory stays mapped for the next step. The
price is that the process keeps memory at its peak instead of shrinking after it.
It does nothing off glibc, when ``TRAINWISE_MALLOPT=0``, or when the user already
chose through glibc's own variables (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``, ``GLIBC_TUNABLES``).
"""
from __future__ import annotations

import ctypes
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 << 20
TRIM_THRESHOLD = 512 << 20

applied = False


def tune_malloc() -> bool:
    """Apply the settings above once; returns True if they are in force."""
    global applied
    if applied:
        return True
    if os.environ.get("TRAINWISE_MALLOPT", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    if any(v in os.environ for v in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # glibc only (musl has no such symbol)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # the mmap threshold first: setting either turns off glibc's dynamic adjustment
    applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return applied
