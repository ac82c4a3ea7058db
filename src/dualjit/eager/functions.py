"""The torch-spelled functions on Tensors (dualjit.exp(t), dualjit.cat([...]), ...), recording
autograd like the Tensor methods they mostly are."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import numpy as jnp
from . import dtypes
from .tensor import Size, Tensor, apply_op, as_tensor_arg, expanded_views, make_tensor, where  # noqa: F401,E501

__all__ = [
    "abs", "absolute", "acos", "acosh", "add", "addcdiv", "addcmul", "addmm", "all", "allclose",
    "amax", "amin", "aminmax", "any", "arccos", "arccosh", "arcsin", "arcsinh", "arctan",
    "arctan2", "arctanh", "argmax", "argmin", "argsort", "asin", "asinh", "atan", "atan2",
    "atanh", "bmm", "broadcast_shapes", "broadcast_tensors", "broadcast_to", "can_cast", "cat",
    "cdist", "ceil", "chunk", "clamp", "clamp_max", "clamp_min", "clip", "clone",
    "column_stack", "concat", "cos", "cosh", "count_nonzero", "cross", "cummax", "cummin",
    "cumprod", "cumsum", "detach", "diag", "diagonal", "diff", "div", "divide", "dot", "dstack",
    "einsum", "eq", "equal", "erf", "exp", "exp2", "expm1", "fix", "flatten", "flip", "fliplr",
    "flipud", "float_power", "floor", "floor_divide", "fmax", "fmin", "fmod", "frac", "gather",
    "ge", "ger", "greater", "greater_equal", "gt", "hstack", "hypot", "index_add", "index_copy",
    "index_fill", "index_select", "inner", "is_floating_point", "is_tensor", "isclose",
    "isfinite", "isinf", "isnan", "kthvalue", "le", "lerp", "less", "less_equal", "log",
    "log10", "log1p", "log2", "log_softmax", "logical_and", "logical_not", "logical_or",
    "logical_xor", "logit", "logsumexp", "lt", "masked_fill", "masked_select", "matmul", "max",
    "maximum", "mean", "median", "meshgrid", "min", "minimum", "mm", "mode", "moveaxis",
    "movedim", "mul", "multiply", "mv", "nan_to_num", "nanmean", "nansum", "narrow", "ne",
    "neg", "negative", "nonzero", "norm", "not_equal", "numel", "outer", "permute", "pow",
    "prod", "promote_types", "ravel", "reciprocal", "relu", "remainder", "repeat_interleave",
    "reshape", "result_type", "roll", "round", "row_stack", "rsqrt", "scatter", "scatter_add",
    "select", "set_printoptions", "sgn", "sigmoid", "sign", "signbit", "sin", "sinh", "softmax",
    "sort", "split", "sqrt", "square", "squeeze", "stack", "std", "std_mean", "sub", "subtract",
    "sum",
    "swapaxes", "swapdims", "t", "take", "tan", "tanh", "tensor_split", "tensordot", "tile",
    "topk", "trace", "transpose", "tril", "triu", "true_divide", "trunc", "unbind", "unflatten",
    "unsqueeze", "var", "var_mean", "vstack",
]


def _method(name: str):
    """The function spelling of Tensor.<name>: name(input, *args, **kwargs)."""
    def function(input: Any, *args: Any, out: Any = None, **kwargs: Any) -> Any:  # noqa: A002
        if out is not None:
            raise TypeError(f"{name}: out= is not supported; use the returned tensor")
        return getattr(as_tensor_arg(input), name)(*args, **kwargs)
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"dualjit.{name}(input, ...) is input.{name}(...)."
    return function


# Elementwise math
exp, exp2, expm1, log, log2, log10, log1p = map(
    _method, ("exp", "exp2", "expm1", "log", "log2", "log10", "log1p"))
sin, cos, tan, asin, acos, atan = map(_method, ("sin", "cos", "tan", "asin", "acos", "atan"))
arcsin, arccos, arctan = asin, acos, atan
sinh, cosh, tanh, asinh, acosh, atanh = map(
    _method, ("sinh", "cosh", "tanh", "asinh", "acosh", "atanh"))
arcsinh, arccosh, arctanh = asinh, acosh, atanh
sqrt, rsqrt, square, reciprocal, abs, absolute, neg, negative = map(  # noqa: A001
    _method, ("sqrt", "rsqrt", "square", "reciprocal", "abs", "abs", "neg", "neg"))
sign, sgn, signbit, floor, ceil, round, trunc, fix, frac = map(  # noqa: A001
    _method, ("sign", "sgn", "signbit", "floor", "ceil", "round", "trunc", "trunc", "frac"))
sigmoid, relu, erf, logit, nan_to_num = map(
    _method, ("sigmoid", "relu", "erf", "logit", "nan_to_num"))
clamp, clip, clamp_min, clamp_max = map(_method, ("clamp", "clamp", "clamp_min", "clamp_max"))
add, sub, subtract, mul, multiply, div, divide, true_divide = map(
    _method, ("add", "sub", "sub", "mul", "mul", "div", "div", "div"))
floor_divide, remainder, fmod, pow, float_power = map(  # noqa: A001
    _method, ("floor_divide", "remainder", "fmod", "pow", "float_power"))
maximum, minimum, fmax, fmin, atan2, arctan2, hypot, lerp = map(
    _method, ("maximum", "minimum", "fmax", "fmin", "atan2", "atan2", "hypot", "lerp"))
addmm, addcmul, addcdiv = map(_method, ("addmm", "addcmul", "addcdiv"))

# Reductions
sum, mean, prod, nansum, nanmean = map(  # noqa: A001
    _method, ("sum", "mean", "prod", "nansum", "nanmean"))
max, min, amax, amin, argmax, argmin = map(  # noqa: A001
    _method, ("max", "min", "amax", "amin", "argmax", "argmin"))
std, var, norm, logsumexp = map(_method, ("std", "var", "norm", "logsumexp"))
softmax, log_softmax = map(_method, ("softmax", "log_softmax"))
cumsum, cumprod, cummax, cummin = map(_method, ("cumsum", "cumprod", "cummax", "cummin"))
sort, argsort, topk, kthvalue, median, mode = map(
    _method, ("sort", "argsort", "topk", "kthvalue", "median", "mode"))
count_nonzero, diff, trace = map(_method, ("count_nonzero", "diff", "trace"))
any, all = map(_method, ("any", "all"))  # noqa: A001

# Products
matmul, mm, bmm, mv, dot, inner, outer, ger = map(
    _method, ("matmul", "mm", "bmm", "mv", "dot", "inner", "outer", "outer"))

# Shapes and indexing
reshape, flatten, unflatten, ravel, squeeze, unsqueeze = map(
    _method, ("reshape", "flatten", "unflatten", "ravel", "squeeze", "unsqueeze"))
transpose, swapaxes, swapdims, permute, movedim, moveaxis, t = map(
    _method, ("transpose", "transpose", "transpose", "permute", "movedim", "movedim", "t"))
narrow, select, unbind, split, chunk, tensor_split = map(
    _method, ("narrow", "select", "unbind", "split", "chunk", "tensor_split"))
gather, scatter, scatter_add, index_select, masked_select, masked_fill = map(
    _method, ("gather", "scatter", "scatter_add", "index_select", "masked_select",
              "masked_fill"))
index_add, index_fill, index_copy, take, nonzero = map(
    _method, ("index_add", "index_fill", "index_copy", "take", "nonzero"))
tril, triu, flip, fliplr, flipud, roll, repeat_interleave, tile = map(
    _method, ("tril", "triu", "flip", "fliplr", "flipud", "roll", "repeat_interleave", "tile"))
diag, diagonal, broadcast_to, clone, detach = map(
    _method, ("diag", "diagonal", "broadcast_to", "clone", "detach"))

# Comparison and logic
eq, ne, lt, le, gt, ge = map(_method, ("eq", "ne", "lt", "le", "gt", "ge"))
less, less_equal, greater, greater_equal, not_equal = lt, le, gt, ge, ne
equal, allclose, isclose = map(_method, ("equal", "allclose", "isclose"))
isnan, isinf, isfinite = map(_method, ("isnan", "isinf", "isfinite"))
logical_not, logical_and, logical_or, logical_xor = map(
    _method, ("logical_not", "logical_and", "logical_or", "logical_xor"))


def _tensors(tensors: Sequence[Any], op: str) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}(): expected a sequence of Tensors, got {type(tensors).__name__}")
    if not tensors:
        raise RuntimeError(f"{op}(): expected a non-empty list of Tensors")
    ts = [as_tensor_arg(x, f"{op} operand") for x in tensors]
    dt = dtypes.result_type(*ts)
    return [x if x.dtype == dt else x.type(dt) for x in ts]


def _concatenate(*xs, axis):
    return jnp.concatenate(xs, axis=axis)


def _np_concatenate(*xs, axis):
    return np.concatenate(xs, axis=axis)


def cat(tensors: Sequence[Any], dim: int = 0, *, out: Any = None) -> Tensor:
    given = _tensors(tensors, "cat")
    skipped = [x.ndim == 1 and x.numel() == 0 for x in given]  # (PyTorch skips these)
    ts = [x for x, skip in zip(given, skipped) if not skip] or given[:1]
    d = int(dim) % ts[0].ndim if ts[0].ndim else 0
    # a skipped operand that requires grad still joins the graph (its gradient is empty, not
    # None): as an empty slice of the others' shape
    empty = ts[0].shape[:d] + (0,) + ts[0].shape[d + 1:]
    ts += [x.reshape(empty) for x, skip in zip(given, skipped)
           if skip and x.requires_grad and ts[0].ndim and x is not ts[0]]
    return apply_op("CatBackward", _concatenate, ts, (("axis", d),), fast=_np_concatenate)


concat = concatenate = cat


def _stack(*xs, axis):
    return jnp.stack(xs, axis=axis)


def _np_stack(*xs, axis):
    return np.stack(xs, axis=axis)


def stack(tensors: Sequence[Any], dim: int = 0, *, out: Any = None) -> Tensor:
    ts = _tensors(tensors, "stack")
    d = int(dim) % (ts[0].ndim + 1)
    return apply_op("StackBackward", _stack, ts, (("axis", d),), fast=_np_stack)


def hstack(tensors: Sequence[Any]) -> Tensor:
    ts = _tensors(tensors, "hstack")
    return cat(ts, 0 if ts[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Any]) -> Tensor:
    return cat([x.reshape(1, -1) if x.ndim < 2 else x for x in _tensors(tensors, "vstack")], 0)


row_stack = vstack


def dstack(tensors: Sequence[Any]) -> Tensor:
    ts = _tensors(tensors, "dstack")
    return cat([x.reshape(1, -1, 1) if x.ndim == 1 else x.unsqueeze(-1) if x.ndim == 2 else x
                for x in ts], 2)


def column_stack(tensors: Sequence[Any]) -> Tensor:
    return cat([x.reshape(-1, 1) if x.ndim < 2 else x for x in _tensors(tensors,
                                                                         "column_stack")], 1)


def _einsum(*xs, equation):
    return jnp.einsum(equation, *xs)


def _np_einsum(*xs, equation):
    """NumPy's einsum, made C-contiguous in the operands' dtype (its optimized path can return
    a transposed layout, on which PyTorch's view-making ops would then copy instead, and
    float64 for empty operands)."""
    return np.ascontiguousarray(np.einsum(equation, *xs, optimize=True),
                                dtype=np.result_type(*xs))


def einsum(equation: str, *operands: Any) -> Tensor:
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    ts = _tensors(operands, "einsum")
    return apply_op("EinsumBackward", _einsum, ts, (("equation", equation.replace(" ", "")),),
                    fast=_np_einsum)


def tensordot(a: Tensor, b: Tensor, dims: Any = 2) -> Tensor:
    ts = _tensors([a, b], "tensordot")
    axes = dims if isinstance(dims, int) else tuple(tuple(d) for d in dims)
    return apply_op("TensordotBackward", _tensordot, ts, (("axes", axes),), fast=_np_tensordot)


def _tensordot(a, b, axes):
    return jnp.tensordot(a, b, axes=axes)


def _np_tensordot(a, b, axes):
    return np.tensordot(a, b, axes=axes)


def broadcast_tensors(*tensors: Tensor) -> tuple[Tensor, ...]:
    shape = np.broadcast_shapes(*(t.shape for t in tensors))
    ts = [as_tensor_arg(t) for t in tensors]
    return expanded_views(ts, shape, [None] * len(ts)) or tuple(t.expand(shape) for t in ts)


def broadcast_shapes(*shapes: Any) -> Size:
    return Size(np.broadcast_shapes(*shapes))


def meshgrid(*tensors: Tensor, indexing: str = "ij") -> tuple[Tensor, ...]:
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    originals = [as_tensor_arg(t) for t in tensors]
    shape = [t.numel() for t in originals]
    if indexing == "xy" and len(originals) >= 2:
        shape[0], shape[1] = shape[1], shape[0]
    views = []
    for i, t in enumerate(originals):
        view = [1] * len(originals)
        axis = i if indexing == "ij" or len(originals) < 2 else {0: 1, 1: 0}.get(i, i)
        view[axis] = t.numel()
        views.append(tuple(view))
    fast = expanded_views(originals, tuple(shape), views)
    if fast is not None:
        return fast
    return tuple(t.reshape(-1).reshape(view).expand(shape) for t, view in zip(originals, views))


def aminmax(input: Tensor, *, dim: Any = None, keepdim: bool = False):  # noqa: A002
    from .return_types import RETURN_TYPES

    return RETURN_TYPES["aminmax"](input.amin(dim if dim is not None else (), keepdim),
                                   input.amax(dim if dim is not None else (), keepdim))


def var_mean(input: Tensor, dim: Any = None, unbiased: Any = None,  # noqa: A002
             keepdim: bool = False, *, correction: Any = None):
    """(var, mean) over dim, a plain tuple as torch.var_mean returns."""
    return (input.var(dim, unbiased, keepdim, correction=correction),
            input.mean(dim, keepdim))


def std_mean(input: Tensor, dim: Any = None, unbiased: Any = None,  # noqa: A002
             keepdim: bool = False, *, correction: Any = None):
    """(std, mean) over dim, a plain tuple as torch.std_mean returns."""
    return (input.std(dim, unbiased, keepdim, correction=correction),
            input.mean(dim, keepdim))


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0) -> Tensor:
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)
    return diff.norm(p, dim=-1)


def cross(input: Tensor, other: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    a = [input.select(dim, i) for i in range(3)]
    b = [other.select(dim, i) for i in range(3)]
    return stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                  a[0] * b[1] - a[1] * b[0]], dim=dim % input.ndim)


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, Tensor)


def is_floating_point(input: Tensor) -> bool:  # noqa: A002
    return input.is_floating_point()


def numel(input: Tensor) -> int:  # noqa: A002
    return input.numel()


def result_type(tensor1: Any, tensor2: Any) -> np.dtype:
    return dtypes.result_type(tensor1, tensor2)


def promote_types(type1: Any, type2: Any) -> np.dtype:
    return dtypes.promote_types(dtypes.to_numpy_dtype(type1), dtypes.to_numpy_dtype(type2))


def can_cast(from_: Any, to: Any) -> bool:
    a, b = dtypes.to_numpy_dtype(from_), dtypes.to_numpy_dtype(to)
    return dtypes.category(a) <= dtypes.category(b)


def set_printoptions(precision: int | None = None, threshold: int | None = None,
                     edgeitems: int | None = None, linewidth: int | None = None,
                     profile: str | None = None, sci_mode: bool | None = None) -> None:
    """Printing options for tensors (NumPy's, which tensors print with)."""
    options = {k: v for k, v in dict(precision=precision, threshold=threshold,
                                     edgeitems=edgeitems, linewidth=linewidth).items()
               if v is not None}
    if sci_mode is not None:
        options["suppress"] = not sci_mode
    np.set_printoptions(**options)
