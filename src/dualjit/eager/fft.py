"""dualjit.fft: PyTorch's torch.fft on Tensors, each transform one recorded operation whose IR
is the dualjit.numpy.fft composition (so gradients, create_graph and dj.compile work).

PyTorch's dtype rules: real float32 input gives complex64, float64 gives complex128, and
integers and bools compute in the default float dtype; the r* transforms refuse complex input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import numpy as jnp
from . import dtypes
from .errors import DimensionError
from .tensor import Tensor, apply_op, as_tensor_arg, make_tensor

__all__ = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "ifft2", "rfft2", "irfft2",
           "fftn", "ifftn", "rfftn", "irfftn", "fftfreq", "rfftfreq", "fftshift", "ifftshift"]

_NORMS = (None, "backward", "ortho", "forward")


def _input(x: Any, op: str, real: bool) -> Tensor:
    t = as_tensor_arg(x, f"fft.{op} input")
    if real and t.dtype.kind == "c":
        raise RuntimeError(f"fft.{op} expects a real input tensor, but got {t.dtype}; use "
                           "fft.fft for complex input")
    return t if t.dtype.kind in "fc" else t.type(dtypes.get_default_dtype())


def _norm(norm: Any, op: str) -> Any:
    if norm not in _NORMS:
        raise RuntimeError(f'fft.{op}: Invalid normalization mode: "{norm}"; use "backward", '
                           '"ortho" or "forward"')
    return norm


_NUMPY_DTYPES = tuple(np.dtype(t) for t in ("float32", "float64", "complex64", "complex128"))


def _numpy_one_axis(op: str):
    """fast for fft, ifft, rfft, irfft: NumPy's function, the same pocketfft call as the fft
    primitive's implementation on the same padded or cropped values (so the same values),
    without the composition's moveaxis and bind steps (75 -> 20 us on 1,024 floats). None (the
    composition decides, with its errors) for other norms, whose scaling the composition does
    as a separate multiply, and for arguments it rejects."""
    transform = getattr(np.fft, op)
    real_out = op == "irfft"

    def fast(a, n, axis, norm, transform_name):
        if norm not in (None, "backward") or a.dtype not in _NUMPY_DTYPES or a.ndim == 0 or \
                not -a.ndim <= axis < a.ndim:
            return None
        if (n if n is not None else 2 * (a.shape[axis] - 1) if real_out else 1) < 1:
            return None
        if op != "rfft" and a.dtype.kind == "f":  # (complex first, as the composition: NumPy's
            a = a.astype(np.result_type(a.dtype, np.complex64))  # real input path differs)
        out = transform(a, n, axis)
        want = np.finfo(a.dtype).dtype if real_out else np.result_type(a.dtype, np.complex64)
        return out.astype(want, copy=False)
    return fast


def _one_axis(name: str, op: str, real: bool):
    transform = getattr(jnp.fft, op)
    fast = _numpy_one_axis(op) if op in ("fft", "ifft", "rfft", "irfft") else None

    def fn(a, n, axis, norm, transform_name):
        return transform(a, n, axis, norm)

    def function(input: Any, n: int | None = None, dim: int = -1,  # noqa: A002
                 norm: str | None = None, *, out: Any = None) -> Tensor:
        t = _input(input, op, real)
        # (transform_name: fft and ifft share PyTorch's node name; the recorded operations
        # are cached by name and parameters, so the parameters must tell them apart)
        params = (("n", None if n is None else int(n)), ("axis", int(dim)),
                  ("norm", _norm(norm, op)), ("transform_name", op))
        return apply_op(name, fn, [t], params, fast=fast)
    function.__name__ = function.__qualname__ = op
    function.__doc__ = f"torch.fft.{op}(input, n=None, dim=-1, norm=None): " \
        f"{transform.__doc__.splitlines()[0] if transform.__doc__ else op}"
    return function


def _dims(dim: Any) -> Any:
    if dim is None:
        return None
    return (int(dim),) if isinstance(dim, (int, np.integer)) else tuple(int(d) for d in dim)


def _many_axes(name: str, op: str, real: bool, default_dim: Any):
    transform = getattr(jnp.fft, op)

    def fn(a, s, axes, norm, transform_name):
        return transform(a, s, axes, norm)

    def function(input: Any, s: Sequence[int] | None = None,  # noqa: A002
                 dim: Any = default_dim, norm: str | None = None, *, out: Any = None) -> Tensor:
        t = _input(input, op, real)
        axes = _dims(dim)
        if axes is None and s is not None:  # (PyTorch: the last len(s) dimensions)
            axes = tuple(range(-len(s), 0))
        for d in axes or ():
            if not -max(t.ndim, 1) <= d < max(t.ndim, 1):  # (PyTorch's IndexError)
                raise DimensionError(f"fft.{op}: dimension {d} is out of range for a "
                                     f"{t.ndim}-d input")
        params = (("s", None if s is None else tuple(int(n) for n in s)), ("axes", axes),
                  ("norm", _norm(norm, op)), ("transform_name", op))
        return apply_op(name, fn, [t], params)
    function.__name__ = function.__qualname__ = op
    function.__doc__ = f"torch.fft.{op}(input, s=None, dim={default_dim}, norm=None)"
    return function


fft = _one_axis("FftC2CBackward", "fft", False)
ifft = _one_axis("FftC2CBackward", "ifft", False)
rfft = _one_axis("FftR2CBackward", "rfft", True)
irfft = _one_axis("FftC2RBackward", "irfft", False)
hfft = _one_axis("FftC2RBackward", "hfft", False)
ihfft = _one_axis("FftR2CBackward", "ihfft", True)
fft2 = _many_axes("FftC2CBackward", "fft2", False, (-2, -1))
ifft2 = _many_axes("FftC2CBackward", "ifft2", False, (-2, -1))
rfft2 = _many_axes("FftR2CBackward", "rfft2", True, (-2, -1))
irfft2 = _many_axes("FftC2RBackward", "irfft2", False, (-2, -1))
fftn = _many_axes("FftC2CBackward", "fftn", False, None)
ifftn = _many_axes("FftC2CBackward", "ifftn", False, None)
rfftn = _many_axes("FftR2CBackward", "rfftn", True, None)
irfftn = _many_axes("FftC2RBackward", "irfftn", False, None)


def _frequencies(values: np.ndarray, dtype: Any, requires_grad: bool) -> Tensor:
    d = dtypes.get_default_dtype() if dtype is None else dtypes.to_numpy_dtype(dtype)
    t = make_tensor(values.astype(d))
    return t.requires_grad_(True) if requires_grad else t


def fftfreq(n: int, d: float = 1.0, *, dtype: Any = None, device: Any = None,
            requires_grad: bool = False, **unused: Any) -> Tensor:
    """The sample frequencies of an n-point fft with spacing d (the default float dtype)."""
    return _frequencies(np.fft.fftfreq(int(n), d), dtype, requires_grad)


def rfftfreq(n: int, d: float = 1.0, *, dtype: Any = None, device: Any = None,
             requires_grad: bool = False, **unused: Any) -> Tensor:
    """The sample frequencies of an n-point rfft with spacing d."""
    return _frequencies(np.fft.rfftfreq(int(n), d), dtype, requires_grad)


def fftshift(input: Any, dim: Any = None) -> Tensor:  # noqa: A002
    """The zero frequency moved to the centre: a roll by n // 2 along each of dim (all)."""
    t = as_tensor_arg(input)
    dims = list(range(t.ndim)) if dim is None else list(_dims(dim))
    return t.roll([t.shape[d] // 2 for d in dims], dims) if dims else t.clone()


def ifftshift(input: Any, dim: Any = None) -> Tensor:  # noqa: A002
    """The inverse of fftshift: a roll by -(n // 2)."""
    t = as_tensor_arg(input)
    dims = list(range(t.ndim)) if dim is None else list(_dims(dim))
    return t.roll([-(t.shape[d] // 2) for d in dims], dims) if dims else t.clone()
