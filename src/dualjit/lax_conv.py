"""lax's convolutions and window reductions: conv_general_dilated, conv, conv_transpose,
reduce_window, with JAX's spellings of padding ('SAME', 'VALID', pairs) and dimension numbers
(strings like ('NHWC', 'HWIO', 'NHWC') or permutations)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from .ir import abstract_eval
from .ir import primitives as P
from .ir.window_impl import dilated, lowest
from .tracer.core import Tracer, abstractify, bind


class ConvDimensionNumbers(NamedTuple):
    """Axis positions, each as (batch, feature, spatial...) — for the kernel
    (out feature, in feature, spatial...)."""

    lhs_spec: tuple[int, ...]
    rhs_spec: tuple[int, ...]
    out_spec: tuple[int, ...]


def _spec_from_string(layout: str, first: str, second: str) -> tuple[int, ...]:
    spatial = [i for i, ch in enumerate(layout) if ch not in (first, second)]
    spatial.sort(key=lambda i: layout[i])  # spatial dims pair up by letter order ('H' < 'W')
    return (layout.index(first), layout.index(second), *spatial)


def conv_dimension_numbers(lhs_shape: Sequence[int], rhs_shape: Sequence[int],
                           dimension_numbers: Any) -> ConvDimensionNumbers:
    """Normalize None (channels first: NC..., OI..., NC...), three layout strings, or three
    permutations into a ConvDimensionNumbers."""
    ndim = len(lhs_shape)
    if len(rhs_shape) != ndim:
        raise ValueError(f"conv_general_dilated: lhs rank {ndim} and rhs rank {len(rhs_shape)} "
                         "differ")
    if dimension_numbers is None:
        spec = tuple(range(ndim))
        return ConvDimensionNumbers(spec, spec, spec)
    if isinstance(dimension_numbers, ConvDimensionNumbers):
        return dimension_numbers
    lhs, rhs, out = dimension_numbers
    if isinstance(lhs, str):
        if not (len(lhs) == len(rhs) == len(out) == ndim):
            raise ValueError(f"conv_general_dilated: layouts {dimension_numbers} must each have "
                             f"{ndim} letters")
        return ConvDimensionNumbers(_spec_from_string(lhs, "N", "C"),
                                    _spec_from_string(rhs, "O", "I"),
                                    _spec_from_string(out, "N", "C"))
    return ConvDimensionNumbers(tuple(map(int, lhs)), tuple(map(int, rhs)), tuple(map(int, out)))


def padtype_to_pads(in_shape: Sequence[int], window_shape: Sequence[int],
                    strides: Sequence[int], padding: Any) -> tuple[tuple[int, int], ...]:
    """'SAME' (output ceil(in / stride), extra padding high), 'SAME_LOWER' (extra low),
    'VALID' (none), or explicit (low, high) pairs."""
    if not isinstance(padding, str):
        pairs = tuple((int(lo), int(hi)) for lo, hi in padding)
        if len(pairs) != len(in_shape):
            raise ValueError(f"padding {padding} needs {len(in_shape)} (low, high) pairs")
        return pairs
    kind = padding.upper()
    if kind == "VALID":
        return ((0, 0),) * len(in_shape)
    if kind not in ("SAME", "SAME_LOWER"):
        raise ValueError(f"padding must be 'SAME', 'SAME_LOWER', 'VALID' or (low, high) pairs, "
                         f"got {padding!r}")
    pads = []
    for n, k, s in zip(in_shape, window_shape, strides):
        total = max(0, (-(-n // s) - 1) * s + k - n)
        low = total // 2 if kind == "SAME" else total - total // 2
        pads.append((low, total - low))
    return tuple(pads)


def _ints(values: Any, count: int, name: str) -> tuple[int, ...]:
    if values is None:
        return (1,) * count
    if isinstance(values, int):
        return (values,) * count
    values = tuple(int(v) for v in values)
    if len(values) != count:
        raise ValueError(f"conv_general_dilated: {name} needs {count} entries, got {values}")
    return values


def conv_general_dilated(lhs: Any, rhs: Any, window_strides: Sequence[int], padding: Any,
                         lhs_dilation: Sequence[int] | None = None,
                         rhs_dilation: Sequence[int] | None = None,
                         dimension_numbers: Any = None, feature_group_count: int = 1,
                         batch_group_count: int = 1, precision: Any = None,
                         preferred_element_type: Any = None) -> Any:
    """A general N-d convolution (cross-correlation, as in JAX and PyTorch)."""
    lhs_shape, rhs_shape = np.shape(lhs), np.shape(rhs)
    dnums = conv_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers)
    nsp = len(lhs_shape) - 2
    strides = _ints(window_strides, nsp, "window_strides")
    lhs_dilation = _ints(lhs_dilation, nsp, "lhs_dilation")
    rhs_dilation = _ints(rhs_dilation, nsp, "rhs_dilation")
    if isinstance(padding, str):
        kernel = [dilated(rhs_shape[a], d) for a, d in zip(dnums.rhs_spec[2:], rhs_dilation)]
        padding = padtype_to_pads([lhs_shape[a] for a in dnums.lhs_spec[2:]], kernel, strides,
                                  padding)
    else:
        padding = padtype_to_pads([0] * nsp, [0] * nsp, strides, padding)
    params = dict(window_strides=strides, padding=padding, lhs_dilation=lhs_dilation,
                  rhs_dilation=rhs_dilation, dimension_numbers=tuple(dnums),
                  feature_group_count=int(feature_group_count),
                  batch_group_count=int(batch_group_count))
    return _checked_bind(P.conv_general_dilated_p, [lhs, rhs], params)


def _checked_bind(prim, operands: list, params: dict) -> Any:
    """bind, after the shape rule has checked the operands (eager calls skip it otherwise)."""
    types = [abstractify(x, f"{prim.name} operand")[0] for x in operands]
    abstract_eval(prim, types, params)
    return bind(prim, *operands, **params)


def conv(lhs: Any, rhs: Any, window_strides: Sequence[int], padding: Any,
         precision: Any = None, preferred_element_type: Any = None) -> Any:
    """A convolution in channels-first layout (NC..., OI...)."""
    return conv_general_dilated(lhs, rhs, window_strides, padding)


def _conv_transpose_padding(k: int, s: int, padding: str) -> tuple[int, int]:
    """Padding of the stride-dilated input so a 'SAME'/'VALID' transposed convolution has
    output in * stride (SAME) or in * stride + max(k - stride, 0) (VALID)."""
    if padding == "SAME":
        total = k + s - 2
        low = k - 1 if s > k - 1 else -(-total // 2)
    else:
        total = k + s - 2 + max(k - s, 0)
        low = k - 1
    return low, total - low


def conv_transpose(lhs: Any, rhs: Any, strides: Sequence[int], padding: Any,
                   rhs_dilation: Sequence[int] | None = None, dimension_numbers: Any = None,
                   transpose_kernel: bool = False, precision: Any = None,
                   preferred_element_type: Any = None) -> Any:
    """The gradient-shaped 'deconvolution': the input dilated by `strides`, then convolved.
    With transpose_kernel=True the kernel is flipped and its in/out features swapped, so this
    is the transpose of conv_general_dilated with the same arguments. Default layout is JAX's
    (NC..., IO... kernel)."""
    lhs_shape, rhs_shape = np.shape(lhs), np.shape(rhs)
    ndim = len(lhs_shape)
    if dimension_numbers is None:
        dimension_numbers = ConvDimensionNumbers(tuple(range(ndim)), (1, 0) + tuple(
            range(2, ndim)), tuple(range(ndim)))
    dnums = conv_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers)
    nsp = ndim - 2
    rhs_dilation = _ints(rhs_dilation, nsp, "rhs_dilation")
    strides = _ints(strides, nsp, "strides")
    kernel = [dilated(rhs_shape[a], d) for a, d in zip(dnums.rhs_spec[2:], rhs_dilation)]
    if isinstance(padding, str):
        if padding.upper() not in ("SAME", "VALID"):
            raise ValueError(f"conv_transpose: padding must be 'SAME', 'VALID' or pairs, "
                             f"got {padding!r}")
        padding = tuple(_conv_transpose_padding(k, s, padding.upper())
                        for k, s in zip(kernel, strides))
    if transpose_kernel:
        rhs = _flip(rhs, dnums.rhs_spec[2:])
        dnums = dnums._replace(rhs_spec=(dnums.rhs_spec[1], dnums.rhs_spec[0],
                                         *dnums.rhs_spec[2:]))
    return conv_general_dilated(lhs, rhs, (1,) * nsp, padding, lhs_dilation=strides,
                                rhs_dilation=rhs_dilation, dimension_numbers=dnums)


def _flip(x: Any, axes: Sequence[int]) -> Any:
    for axis in axes:
        n = np.shape(x)[axis]
        if n > 1:
            x = bind(P.gather_p, x, np.arange(n - 1, -1, -1, dtype=np.int32), axis=axis)
    return x


# ---------------------------------------------------------------------------------------------
# Window reductions
# ---------------------------------------------------------------------------------------------

_SUM_NAMES = {"add", "sum"}
_MAX_NAMES = {"max", "maximum"}
_MIN_NAMES = {"min", "minimum"}


def _monoid(computation: Any) -> str:
    name = computation if isinstance(computation, str) else getattr(computation, "__name__", "")
    for kind, names in (("sum", _SUM_NAMES), ("max", _MAX_NAMES), ("min", _MIN_NAMES)):
        if name in names:
            return kind
    raise ValueError(f"reduce_window: computation {computation!r} is not supported; use "
                     "lax.add / 'add' (sum), lax.max / 'max' or lax.min / 'min'")


def _window_params(shape, window_dimensions, window_strides, padding, base_dilation,
                   window_dilation) -> dict:
    ndim = len(shape)
    window = _ints(window_dimensions, ndim, "window_dimensions")
    strides = _ints(window_strides, ndim, "window_strides")
    base = _ints(base_dilation, ndim, "base_dilation")
    wdil = _ints(window_dilation, ndim, "window_dilation")
    in_shape = [dilated(n, d) for n, d in zip(shape, base)]
    pads = padtype_to_pads(in_shape, [dilated(k, d) for k, d in zip(window, wdil)], strides,
                           padding)
    return dict(window_dimensions=window, window_strides=strides, padding=pads,
                base_dilation=base, window_dilation=wdil)


def reduce_window(operand: Any, init_value: Any, computation: Any,
                  window_dimensions: Sequence[int], window_strides: Sequence[int],
                  padding: Any, base_dilation: Sequence[int] | None = None,
                  window_dilation: Sequence[int] | None = None) -> Any:
    """Reduce each window with computation (add, max or min); padding takes init_value's
    role (0 for add, -inf for max), and a max/min init_value also bounds the result."""
    kind = _monoid(computation)
    params = _window_params(np.shape(operand), window_dimensions, window_strides, padding,
                            base_dilation, window_dilation)
    dtype = _dtype(operand)
    init = np.asarray(init_value).astype(dtype)
    if kind == "sum":
        if init != 0:
            raise ValueError(f"reduce_window: an add reduction needs init_value 0, got {init}")
        return _checked_bind(P.reduce_window_sum_p, [operand], params)
    # min(x) = -max(-x) for floats and ~max(~x) for integers (~ reverses their order exactly)
    flip = (lambda v: bind(P.neg_p, v)) if dtype.kind == "f" else (lambda v: bind(P.not_p, v))
    x = operand if kind == "max" else flip(operand)
    out = _checked_bind(P.reduce_window_max_p, [x], params)
    bound = init if kind == "max" else (-init if dtype.kind == "f" else ~init)
    if bound != lowest(dtype):  # a non-identity init value bounds every window
        out = bind(P.max_p, out, dtype.type(bound))
    return out if kind == "max" else flip(out)


def _dtype(x: Any) -> np.dtype:
    return x.aval.dtype.np if isinstance(x, Tracer) else np.asarray(x).dtype


# lax.add / lax.max / lax.min are dualjit.numpy's add / maximum / minimum (the computations
# reduce_window and lax.reduce recognize). lax.py reaches them through its module __getattr__:
# defined there under these names they would shadow the builtins max and min.
LAX_ELEMENTWISE = {"add": "add", "max": "maximum", "min": "minimum"}


def lax_elementwise(name: str) -> Any:
    from . import numpy as jnp

    return getattr(jnp, LAX_ELEMENTWISE[name])
