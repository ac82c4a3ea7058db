"""Tensor operators and methods: each is a dualjit.numpy composition, recorded by apply_op."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import numpy as jnp
from ..nn import functions as nn
from .tensor import Tensor, _grad_mode, _operand, _unwrap, apply_op, binary_method


def _binary(name: str, fn, fast):
    return (binary_method(name, fn, fast, reflected=False),
            binary_method(name, fn, fast, reflected=True))


_SMALL_POWERS = [np.ones_like, np.positive, np.square, lambda x: x * x * x,
                 lambda x: np.square(np.square(x))]


def _power_by(x, exponent):
    return jnp.power(x, exponent)


_pow_cache: dict[tuple, tuple] = {}  # (type, exponent) -> (params, NumPy fast path)


def _pow_rule(e) -> tuple:
    key = (type(e), e)
    found = _pow_cache.get(key)
    if found is None:
        is_int = isinstance(e, int) or float(e).is_integer()
        params = (("exponent", int(e) if is_int else float(e)),)
        if is_int and 0 <= e <= 4:  # NumPy's float pow is slow; short products are exact
            fast = _SMALL_POWERS[int(e)]
        else:
            def fast(x):
                return np.power(x, x.dtype.type(e))
        found = (params, fast)
        if len(_pow_cache) < 1024:
            _pow_cache[key] = found
    return found


def _pow(self, exponent):
    if isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
        params, fast = _pow_rule(exponent)
        return apply_op("PowBackward", _power_by, [self], params, fast=fast)
    other = _operand(exponent, self._value)
    return apply_op("PowBackward", jnp.power, [self, other], fast=np.power)


def _rpow(self, base):
    base = _operand(base, self._value)
    return apply_op("PowBackward", jnp.power, [base, self], fast=np.power)


Tensor.__add__, Tensor.__radd__ = _binary("AddBackward", jnp.add, np.add)
Tensor.__sub__, Tensor.__rsub__ = _binary("SubBackward", jnp.subtract, np.subtract)
Tensor.__mul__, Tensor.__rmul__ = _binary("MulBackward", jnp.multiply, np.multiply)
Tensor.__truediv__, Tensor.__rtruediv__ = _binary("DivBackward", jnp.divide, np.true_divide)
Tensor.__matmul__, Tensor.__rmatmul__ = _binary("MatmulBackward", jnp.matmul, np.matmul)
Tensor.__pow__ = _pow
Tensor.__rpow__ = _rpow
Tensor.__neg__ = lambda self: apply_op("NegBackward", jnp.negative, [self], fast=np.negative)
Tensor.__pos__ = lambda self: self


def _compare(fn):
    return lambda self, other: Tensor._wrap(np.asarray(fn(self._value, _unwrap(other))))


Tensor.__lt__ = _compare(np.less)
Tensor.__le__ = _compare(np.less_equal)
Tensor.__gt__ = _compare(np.greater)
Tensor.__ge__ = _compare(np.greater_equal)
Tensor.__eq__ = _compare(np.equal)
Tensor.__ne__ = _compare(np.not_equal)


# -- in-place operations ------------------------------------------------------------------------

def _check_inplace(t: Tensor) -> None:
    if _grad_mode.enabled and t.requires_grad and t.is_leaf:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                           "operation. Update parameters inside `with dualjit.no_grad():` or "
                           "through `.data` (e.g. w.data -= lr * w.grad), which keep w a leaf.")


def _inplace(binary_name: str, numpy_fn):
    def op(self, other):
        if _grad_mode.enabled and (self.requires_grad or (isinstance(other, Tensor)
                                                          and other.requires_grad)):
            _check_inplace(self)
            # A non-leaf updated in place: record the op and move this tensor onto the result.
            result = getattr(Tensor, binary_name)(self, other)
            self._value, self.grad_fn, self.requires_grad = (
                result._value, result.grad_fn, result.requires_grad)
            return self
        value = self._value
        other_value = other._value if isinstance(other, Tensor) else _operand(other, value)
        numpy_fn(value, other_value, out=value)  # (a ufunc's default casting: same_kind)
        return self
    return op


Tensor.__iadd__ = _inplace("__add__", np.add)
Tensor.__isub__ = _inplace("__sub__", np.subtract)
Tensor.__imul__ = _inplace("__mul__", np.multiply)
Tensor.__itruediv__ = _inplace("__truediv__", np.true_divide)
Tensor.add_ = lambda self, other, alpha=1: Tensor.__iadd__(self, other * alpha if alpha != 1
                                                           else other)
Tensor.sub_ = lambda self, other, alpha=1: Tensor.__isub__(self, other * alpha if alpha != 1
                                                           else other)
Tensor.mul_ = Tensor.__imul__
Tensor.div_ = Tensor.__itruediv__


def _zero_(self):
    _check_inplace(self)
    self._value[...] = 0
    return self


Tensor.zero_ = _zero_


# -- reductions and shapes ----------------------------------------------------------------------

def _axis_param(dim):
    return None if dim is None else (tuple(dim) if isinstance(dim, (list, tuple)) else int(dim))


def _float_reduction(mean: bool, axis, keepdims):
    """NumPy's sum or mean as the eager fast path (floats only: integer sums promote otherwise).

    np.add.reduce is what np.sum runs (pairwise summation), without np.sum's Python layer.
    """
    def fast(x):
        if x.dtype.kind != "f":
            return None
        total = np.add.reduce(x, axis=axis, keepdims=keepdims)
        if not mean:
            return total
        count = x.size if axis is None else int(np.prod([x.shape[a] for a in (
            axis if isinstance(axis, tuple) else (axis,))]))
        return np.true_divide(total, count, dtype=x.dtype) if count else None
    return fast


_reduction_cache: dict[tuple, tuple] = {}  # (mean, axis, keepdims) -> (params, fast path)


def _reduction_rule(mean: bool, dim, keepdim) -> tuple:
    key = (mean, dim if isinstance(dim, (int, type(None))) else tuple(np.ravel(dim).tolist()),
           keepdim)
    found = _reduction_cache.get(key)
    if found is None:
        axis, keepdims = _axis_param(dim), bool(keepdim)
        found = ((("axis", axis), ("keepdims", keepdims)),
                 _float_reduction(mean, axis, keepdims))
        if len(_reduction_cache) < 1024:
            _reduction_cache[key] = found
    return found


def _sum(self, dim=None, keepdim=False):
    params, fast = _reduction_rule(False, dim, keepdim)
    return apply_op("SumBackward", jnp.sum, [self], params, fast=fast)


def _mean(self, dim=None, keepdim=False):
    params, fast = _reduction_rule(True, dim, keepdim)
    return apply_op("MeanBackward", jnp.mean, [self], params, fast=fast)


def _max(self, dim=None, keepdim=False):
    params = (("axis", _axis_param(dim)), ("keepdims", bool(keepdim)))
    return apply_op("MaxBackward", jnp.max, [self], params)


def _min(self, dim=None, keepdim=False):
    params = (("axis", _axis_param(dim)), ("keepdims", bool(keepdim)))
    return apply_op("MinBackward", jnp.min, [self], params)


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(d) for d in shape)


def _view(self, *shape):
    return apply_op("ViewBackward", jnp.reshape, [self], (("newshape", _shape_arg(shape)),))


def _reshape(self, *shape):
    return apply_op("ReshapeBackward", jnp.reshape, [self], (("newshape", _shape_arg(shape)),))


def _t(self):
    if self.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is "
                           f"{self.ndim}D")
    return apply_op("TBackward", jnp.transpose, [self])


def _transpose(self, dim0, dim1):
    return apply_op("TransposeBackward", jnp.swapaxes, [self],
                    (("axis1", int(dim0)), ("axis2", int(dim1))))


def _getitem(self, key):
    key = _static_key(key)
    return apply_op("IndexBackward", lambda x, key: jnp.getitem(x, _restore_key(key)), [self],
                    (("key", key),))


def _static_key(key):
    """An index made hashable (slices and lists become tuples) so it can key the op cache."""
    items = key if isinstance(key, tuple) else (key,)
    out = []
    for k in items:
        if isinstance(k, slice):
            out.append(("slice", k.start, k.stop, k.step))
        elif isinstance(k, (list, np.ndarray, Tensor)):
            out.append(("array", tuple(np.asarray(_unwrap(k)).ravel().tolist()),
                        np.shape(_unwrap(k))))
        else:
            out.append(k)
    return tuple(out)


def _restore_key(key):
    out = []
    for k in key:
        if isinstance(k, tuple) and k and k[0] == "slice":
            out.append(slice(*k[1:]))
        elif isinstance(k, tuple) and k and k[0] == "array":
            out.append(np.asarray(k[1]).reshape(k[2]))
        else:
            out.append(k)
    return tuple(out)


Tensor.sum = _sum
Tensor.mean = _mean
Tensor.max = _max
Tensor.min = _min
Tensor.view = _view
Tensor.reshape = _reshape
Tensor.t = _t
Tensor.T = property(_t)
Tensor.transpose = _transpose
Tensor.__getitem__ = _getitem
Tensor.pow = _pow
Tensor.matmul = lambda self, other: self @ other
Tensor.add = lambda self, other: self + other
Tensor.sub = lambda self, other: self - other
Tensor.mul = lambda self, other: self * other
Tensor.div = lambda self, other: self / other
Tensor.flatten = lambda self: _reshape(self, -1)
Tensor.squeeze = lambda self, dim=None: apply_op("SqueezeBackward", jnp.squeeze, [self],
                                                 (("axis", dim),))
Tensor.unsqueeze = lambda self, dim: apply_op("UnsqueezeBackward", jnp.expand_dims, [self],
                                              (("axis", int(dim)),))


def _unary(name, fn, fast=None):
    return lambda self: apply_op(name, fn, [self], fast=fast)


Tensor.exp = _unary("ExpBackward", jnp.exp, np.exp)
Tensor.log = _unary("LogBackward", jnp.log, np.log)
Tensor.sin = _unary("SinBackward", jnp.sin, np.sin)
Tensor.cos = _unary("CosBackward", jnp.cos, np.cos)
Tensor.tanh = _unary("TanhBackward", jnp.tanh, np.tanh)
Tensor.sqrt = _unary("SqrtBackward", jnp.sqrt, np.sqrt)
Tensor.abs = _unary("AbsBackward", jnp.abs, np.abs)
Tensor.__abs__ = Tensor.abs
Tensor.sigmoid = _unary("SigmoidBackward", nn.sigmoid)
Tensor.relu = _unary("ReluBackward", nn.relu)


def matmul(a: Any, b: Any) -> Tensor:
    a = a if isinstance(a, Tensor) else Tensor(a)
    return a @ b
