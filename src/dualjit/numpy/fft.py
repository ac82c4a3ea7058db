"""dualjit.numpy.fft: NumPy's discrete Fourier transforms over the fft primitive.

Every transform moves its axes to the end, crops or zero-pads them to the requested lengths,
applies one `fft` equation (unnormalized forward, 1/N inverse, as NumPy's default) and scales
for `norm`. Derivatives come from the primitive's JVP and transpose rules.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as _np

from ..ir import primitives as P
from ..tracer.core import bind
from ._core import convert, operand, result_type, slice_axis
from .elementwise import conjugate, multiply
from .shapes import moveaxis, roll

__all__ = ["fft", "ifft", "rfft", "irfft", "fft2", "ifft2", "rfft2", "irfft2", "fftn", "ifftn",
           "rfftn", "irfftn", "hfft", "ihfft", "fftfreq", "rfftfreq", "fftshift", "ifftshift"]

_NORMS = (None, "backward", "ortho", "forward")


def _complex_operand(a: Any, op: str) -> Any:
    a = operand(a, op)
    dt = result_type(a)
    target = dt if dt.kind == "c" else (_np.dtype(_np.complex64) if dt == _np.float32
                                        else _np.dtype(_np.complex128))
    return convert(a, target)


def _real_operand(a: Any, op: str) -> Any:
    a = operand(a, op)
    dt = result_type(a)
    if dt.kind == "c":
        raise TypeError(f"{op}: the input must be real, got {dt}; use fft for complex input "
                        "(or pass jnp.real(a) to drop the imaginary part)")
    return convert(a, dt if dt.kind == "f" else _np.dtype(_np.float64))


def _axes_and_lengths(op: str, ndim: int, s: Any, axes: Any) -> tuple[list[int], list | None]:
    if axes is None:
        axes = list(range(ndim)) if s is None else list(range(ndim - len(s), ndim))
    axes = [int(a) for a in ((axes,) if isinstance(axes, (int, _np.integer)) else axes)]
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {a} is out of bounds for an array of dimension {ndim}")
    axes = [a % ndim for a in axes]
    if len(set(axes)) != len(axes):
        raise ValueError(f"{op}: repeated axis in axes {axes}")
    if s is not None:
        s = [int(n) for n in s]
        if len(s) != len(axes):
            raise ValueError(f"{op}: s and axes must have the same length, got {s} and {axes}")
        for n in s:
            if n < 1:
                raise ValueError(f"{op}: invalid number of FFT data points ({n}) specified")
    return axes, s


def _fit(a: Any, axis: int, n: int) -> Any:
    """`a` cropped or zero-padded along `axis` to length n (NumPy's `n` / `s`)."""
    have = _np.shape(a)[axis]
    if n < have:
        return slice_axis(a, axis, 0, n)
    if n > have:
        config = [(0, 0, 0)] * _np.ndim(a)
        config[axis] = (0, n - have, 0)
        zero = _np.zeros((), result_type(a))[()]
        return bind(P.pad_p, a, zero, padding_config=tuple(config))
    return a


def _scale(out: Any, norm: str | None, n: int, inverse: bool, op: str) -> Any:
    if norm not in _NORMS:
        raise ValueError(f'{op}: invalid norm value {norm!r}; should be "backward", "ortho" '
                         'or "forward"')
    norm = norm or "backward"
    if norm == "ortho":  # undo the primitive's 1/n on the inverse, then 1/sqrt(n) both ways
        return multiply(out, math.sqrt(n) if inverse else 1 / math.sqrt(n))
    if norm == "backward":  # the primitive's own scaling: none forward, 1/n inverse
        return out
    return multiply(out, n if inverse else 1 / n)


def _transform(a: Any, fft_type: str, axes: list[int], lengths: list[int]) -> Any:
    """One fft equation over `axes` (moved to the end and back) with the given lengths."""
    k = len(axes)
    ndim = _np.ndim(a)
    ends = list(range(ndim - k, ndim))
    moved = moveaxis(a, axes, ends)
    out = bind(P.fft_p, moved, fft_type=fft_type, fft_lengths=tuple(lengths))
    return moveaxis(out, ends, axes)


def _c2c(op: str, a: Any, s: Any, axes: Any, norm: str | None, inverse: bool) -> Any:
    a = _complex_operand(a, op)
    axes, s = _axes_and_lengths(op, _np.ndim(a), s, axes)
    if not axes:
        return a
    lengths = s if s is not None else [_np.shape(a)[ax] for ax in axes]
    for ax, n in zip(axes, lengths):
        if n < 1:
            raise ValueError(f"{op}: invalid number of FFT data points ({n}) specified")
        a = _fit(a, ax, n)
    out = _transform(a, "ifft" if inverse else "fft", axes, lengths)
    return _scale(out, norm, math.prod(lengths), inverse, op)


def _r2c(op: str, a: Any, s: Any, axes: Any, norm: str | None) -> Any:
    a = _real_operand(a, op)
    axes, s = _axes_and_lengths(op, _np.ndim(a), s, axes)
    lengths = s if s is not None else [_np.shape(a)[ax] for ax in axes]
    for ax, n in zip(axes, lengths):
        if n < 1:
            raise ValueError(f"{op}: invalid number of FFT data points ({n}) specified")
        a = _fit(a, ax, n)
    out = _transform(a, "rfft", axes, lengths)
    return _scale(out, norm, math.prod(lengths), False, op)


def _c2r(op: str, a: Any, s: Any, axes: Any, norm: str | None) -> Any:
    a = _complex_operand(a, op)
    axes, s = _axes_and_lengths(op, _np.ndim(a), s, axes)
    if s is None:
        s = [_np.shape(a)[ax] for ax in axes]
        s[-1] = 2 * (s[-1] - 1)
        if s[-1] < 1:
            raise ValueError(f"{op}: invalid number of FFT data points ({s[-1]}) specified")
    for ax, n in zip(axes[:-1], s[:-1]):
        a = _fit(a, ax, n)
    a = _fit(a, axes[-1], s[-1] // 2 + 1)
    out = _transform(a, "irfft", axes, s)
    return _scale(out, norm, math.prod(s), True, op)


def _one_axis(n: int | None, axis: int) -> tuple[list[int] | None, list[int]]:
    return (None if n is None else [n]), [axis]


def fft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    return _c2c("fft", a, *_one_axis(n, axis), norm, inverse=False)


def ifft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    return _c2c("ifft", a, *_one_axis(n, axis), norm, inverse=True)


def rfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    return _r2c("rfft", a, *_one_axis(n, axis), norm)


def irfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    return _c2r("irfft", a, *_one_axis(n, axis), norm)


def fftn(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
         norm: str | None = None) -> Any:
    return _c2c("fftn", a, s, axes, norm, inverse=False)


def ifftn(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
          norm: str | None = None) -> Any:
    return _c2c("ifftn", a, s, axes, norm, inverse=True)


def rfftn(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
          norm: str | None = None) -> Any:
    return _r2c("rfftn", a, s, axes, norm)


def irfftn(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
           norm: str | None = None) -> Any:
    return _c2r("irfftn", a, s, axes, norm)


def fft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1),
         norm: str | None = None) -> Any:
    return _c2c("fft2", a, s, axes, norm, inverse=False)


def ifft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1),
          norm: str | None = None) -> Any:
    return _c2c("ifft2", a, s, axes, norm, inverse=True)


def rfft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1),
          norm: str | None = None) -> Any:
    return _r2c("rfft2", a, s, axes, norm)


def irfft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1),
           norm: str | None = None) -> Any:
    return _c2r("irfft2", a, s, axes, norm)


_SWAPPED = {None: "forward", "backward": "forward", "forward": "backward", "ortho": "ortho"}


def _swapped(norm: str | None, op: str) -> str:
    if norm not in _SWAPPED:
        raise ValueError(f'{op}: invalid norm value {norm!r}; should be "backward", "ortho" '
                         'or "forward"')
    return _SWAPPED[norm]


def hfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """The FFT of a Hermitian-symmetric signal given by its first half: a real spectrum."""
    a = _complex_operand(a, "hfft")
    return _c2r("hfft", conjugate(a), *_one_axis(n, axis), _swapped(norm, "hfft"))


def ihfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """The inverse of hfft: the first half of the Hermitian spectrum of a real signal."""
    return conjugate(_r2c("ihfft", a, *_one_axis(n, axis), _swapped(norm, "ihfft")))


def fftfreq(n: int, d: float = 1.0, *, dtype: Any = None) -> _np.ndarray:
    """The sample frequencies of fft(n points spaced d apart): a constant array."""
    out = _np.fft.fftfreq(int(n), d)
    return out if dtype is None else out.astype(dtype)


def rfftfreq(n: int, d: float = 1.0, *, dtype: Any = None) -> _np.ndarray:
    """The sample frequencies of rfft(n points spaced d apart): a constant array."""
    out = _np.fft.rfftfreq(int(n), d)
    return out if dtype is None else out.astype(dtype)


def _shift(op: str, x: Any, axes: Any, sign: int) -> Any:
    x = operand(x, op)
    ndim = _np.ndim(x)
    axes = list(range(ndim)) if axes is None else (
        [axes] if isinstance(axes, (int, _np.integer)) else list(axes))
    shifts = [sign * (_np.shape(x)[ax] // 2) for ax in axes]
    return roll(x, shifts, axes) if axes else x


def fftshift(x: Any, axes: Any = None) -> Any:
    """The zero frequency moved to the centre (roll by n // 2 along each axis)."""
    return _shift("fftshift", x, axes, 1)


def ifftshift(x: Any, axes: Any = None) -> Any:
    """The inverse of fftshift (roll by -(n // 2))."""
    return _shift("ifftshift", x, axes, -1)
