"""Numba options, in one place: the decorators every kernel uses, and the one process-wide setting.

Kernels are compiled on first use and cached on disk (``cache=True``), release the GIL, and use
numpy's error model (0 / 0 is NaN, which is how an undefined estimate comes out of a division).

The process-wide setting: on CPUs with AVX-512 popcount (``vpopcntdq``), LLVM is told not to
prefer 256-bit vectors, so that the AND-popcount loops vectorize with 512-bit ``vpopcntq``;
this about halves the pair-count time (measured in ``benchmarks/``). Numba reads its CPU
features once, when it first compiles anything in the process, so the setting is made here,
when the kernels are first imported, and holds for every Numba function the process compiles
afterwards (it keeps the host's own features and only lifts that preference). It is not made
when the user has set ``NUMBA_CPU_FEATURES`` (theirs wins) and is turned off by
``HELDOUT_WIDE_VECTORS=0``.
"""

from __future__ import annotations

import os

import numba
from numba.core import types
from numba.extending import intrinsic

WIDE_VECTORS_ENV = "HELDOUT_WIDE_VECTORS"


def _prefer_512_bit_vectors() -> bool:
    """Lift LLVM's 256-bit preference where 512-bit popcount exists (see the module docstring)."""
    if numba.config.CPU_FEATURES is not None or os.environ.get(WIDE_VECTORS_ENV, "1") == "0":
        return False
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features().flatten()
    if "+avx512vpopcntdq" not in features.split(","):
        return False
    numba.config.CPU_FEATURES = features + ",-prefer-256-bit"
    return True


WIDE_VECTORS = _prefer_512_bit_vectors()

_SERIAL = dict(nogil=True, cache=True, error_model="numpy")
_PARALLEL = dict(_SERIAL, parallel=True)

njit_serial = numba.njit(**_SERIAL)
njit_parallel = numba.njit(**_PARALLEL)


@intrinsic
def popcount64(typingctx, x):
    """Hardware population count (LLVM ``ctpop``) of a uint64."""
    if x != types.uint64:
        return None
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen
