"""The fft primitive's host step: NumPy's pocketfft, a batch of transforms split over idle cores.

NumPy's transforms release the GIL, so rows of a batch can run on the shared worker threads
(parallel.pool) while the caller runs its own share. Each row is one pocketfft call either
way, so the split changes no bit of the result; it happens only when the thread policy
(threads.free_cores, parallel.threads) grants a second core and the batch is large. One long
transform stays on one thread.
"""

from __future__ import annotations

import math

import numpy as np

from ..ir import TensorType, as_dtype, impl_rules, shape_rules
from ..ir import primitives as P
from . import parallel, threads

PARALLEL_MIN_POINTS = 1 << 16  # a smaller batch runs on the calling thread
ROW_MIN_POINTS = 1 << 12  # each thread gets at least this many points


def host_fft(x, *, fft_type: str, fft_lengths: tuple) -> np.ndarray:
    """fft_p's implementation for host steps (the same values as impl_rules[P.fft_p])."""
    x = np.asarray(x)
    k = len(fft_lengths)
    rows = math.prod(x.shape[:-k])
    workers = workers_for(rows, rows * math.prod(fft_lengths))
    if workers < 2:
        return impl_rules[P.fft_p](x, fft_type=fft_type, fft_lengths=fft_lengths)
    out_type = shape_rules[P.fft_p](TensorType(as_dtype(x.dtype), x.shape), fft_type=fft_type,
                                    fft_lengths=fft_lengths)
    flat = x.reshape((rows,) + x.shape[-k:])
    out = np.empty((rows,) + out_type.shape[-k:], out_type.dtype.np)
    bounds = np.linspace(0, rows, workers + 1).astype(int)

    def part(i: int) -> None:
        a, b = bounds[i], bounds[i + 1]
        _transform_into(out[a:b], flat[a:b], fft_type, tuple(fft_lengths))

    helpers = [parallel.pool(workers - 1).submit(part, i) for i in range(1, workers)]
    part(0)
    for h in helpers:
        h.result()
    return out.reshape(out_type.shape)


_NUMPY_FFT = {"fft": np.fft.fftn, "ifft": np.fft.ifftn, "rfft": np.fft.rfftn,
              "irfft": np.fft.irfftn}
_FFT_HAS_OUT = np.lib.NumpyVersion(np.__version__) >= "2.0.0"


def _transform_into(out: np.ndarray, x: np.ndarray, fft_type: str, lengths: tuple) -> None:
    """out[...] = the transform of x, written in place where NumPy can (2.0 and later)."""
    if not _FFT_HAS_OUT:
        out[...] = impl_rules[P.fft_p](x, fft_type=fft_type, fft_lengths=lengths)
        return
    axes = tuple(range(x.ndim - len(lengths), x.ndim))
    extra = {"s": lengths} if fft_type == "irfft" else {}
    _NUMPY_FFT[fft_type](x, axes=axes, out=out, **extra)


def workers_for(rows: int, points: int) -> int:
    """Threads for a batch of `rows` transforms of `points` points in all."""
    if rows < 2 or points < PARALLEL_MIN_POINTS:
        return 1
    return max(1, min(parallel.threads(), threads.free_cores(), rows,
                      points // ROW_MIN_POINTS))
