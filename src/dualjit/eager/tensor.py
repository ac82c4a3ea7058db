"""Tensor: PyTorch's imperative autograd, recorded as IR and differentiated by the shared VJP."""

from __future__ import annotations

import itertools
import threading
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..ir import TensorType, as_dtype
from ..tracer.core import trace_flat

# ---------------------------------------------------------------------------------------------
# Grad mode
# ---------------------------------------------------------------------------------------------

class _GradMode(threading.local):
    enabled = True


_grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    return _grad_mode.enabled


class no_grad:
    """Context manager (and decorator) in which nothing is recorded for differentiation."""

    def __enter__(self) -> None:
        self._previous = _grad_mode.enabled
        _grad_mode.enabled = False

    def __exit__(self, *exc: Any) -> None:
        _grad_mode.enabled = self._previous

    def __call__(self, fn: Callable) -> Callable:
        def wrapped(*args, **kwargs):
            with no_grad():
                return fn(*args, **kwargs)
        wrapped.__name__ = getattr(fn, "__name__", "wrapped")
        return wrapped


class enable_grad(no_grad):
    def __enter__(self) -> None:
        self._previous = _grad_mode.enabled
        _grad_mode.enabled = True


# ---------------------------------------------------------------------------------------------
# Recorded operations
# ---------------------------------------------------------------------------------------------

_op_functions: dict[Any, Any] = {}
retained_refs: list[weakref.ref] = []  # non-leaf tensors whose .grad backward() fills


def _op_function(key: tuple, fn: Callable, values: Sequence[np.ndarray], params: tuple):
    """Trace the IR Function of one operation on inputs like `values` and cache it by key."""
    kwargs = dict(params)
    types = [_type(v) for v in values]
    found, captures = trace_flat(lambda *xs: [fn(*xs, **kwargs)], types)
    assert not captures
    _op_functions[key] = found
    return found


_node_counter = itertools.count()


class Node:
    """A recorded operation (a tensor's grad_fn): its IR Function and its inputs' sources.

    An input source is another Node, a leaf Tensor that requires grad, or a constant array.
    """

    __slots__ = ("name", "function", "inputs", "freed", "seq")

    def __init__(self, name: str, function: Any, inputs: list):
        self.name = name
        self.function = function
        self.inputs = inputs
        self.freed = False
        self.seq = next(_node_counter)  # creation order: a topological order of any graph

    def __repr__(self) -> str:
        return f"<{self.name}>"

    def name_(self) -> str:
        return self.name

    @property
    def next_functions(self) -> tuple:
        return tuple((src if isinstance(src, Node) else None, 0) for src in self.inputs)

    def ir(self) -> str:
        """The recorded graph behind this node as dualjit IR text."""
        from .backward import forward_function

        return forward_function(self).text


def _unwrap(x: Any) -> Any:
    return x._value if isinstance(x, Tensor) else x


def _type(x: Any) -> TensorType:
    arr = np.asarray(x)
    return TensorType(as_dtype(arr.dtype), arr.shape)


def apply_op(name: str, fn: Callable, args: Sequence[Any], params: tuple = (),
             fast: Callable | None = None) -> Tensor:
    """Run fn on the tensors' values; record it when grad mode is on and an input requires grad.

    This is the imperative per-op path, so it is written for speed: `fast` is the op in plain
    NumPy (None when it does not apply), and the IR Function is looked up by a tuple key.
    """
    values = []
    record = False
    for a in args:
        if isinstance(a, Tensor):
            values.append(a._value)
            record = record or a.requires_grad
        else:
            values.append(a)
    value = None if fast is None else fast(*values)
    if value is None:
        value = fn(*values, **dict(params))
    out = Tensor.__new__(Tensor)
    out._value = value if type(value) is np.ndarray else np.asarray(value)
    out._grad = None
    out._retains_grad = False
    if record and _grad_mode.enabled:
        key = (name, params, *[(v.dtype, v.shape) for v in values])
        function = _op_functions.get(key)
        if function is None:
            function = _op_function(key, fn, values, params)
        sources = []
        for a in args:  # each input's source: its node, itself (a leaf) or its value
            if isinstance(a, Tensor):
                a = a.grad_fn or (a if a.requires_grad else a._value)
            sources.append(a)
        out.grad_fn = Node(name, function, sources)
        out.requires_grad = True
    else:
        out.grad_fn = None
        out.requires_grad = False
    return out


def binary_method(name: str, fn: Callable, fast: Callable, reflected: bool) -> Callable:
    """A Tensor operator method: apply_binary inlined into one function (the hot path of
    imperative code: one Python call per operator, the node built without __init__)."""
    new_tensor, new_node, ndarray = Tensor.__new__, Node.__new__, np.ndarray
    functions, counter, mode = _op_functions, _node_counter, _grad_mode

    def method(self, other):
        if isinstance(other, Tensor):
            ov = other._value
            other_grad = other.requires_grad
        else:
            other = ov = _operand(other, self._value)
            other_grad = False
        sv = self._value
        xv, yv = (ov, sv) if reflected else (sv, ov)
        value = fast(xv, yv)
        out = new_tensor(Tensor)
        out._value = value if type(value) is ndarray else np.asarray(value)
        out._grad = None
        out._retains_grad = False
        if (self.requires_grad or other_grad) and mode.enabled:
            key = (name, xv.dtype, xv.shape, yv.dtype, yv.shape)
            function = functions.get(key)
            if function is None:
                function = _op_function(key, fn, [xv, yv], ())
            a = self.grad_fn or (self if self.requires_grad else sv)
            if other is ov:
                b = ov
            else:
                b = other.grad_fn or (other if other_grad else ov)
            node = new_node(Node)
            node.name = name
            node.function = function
            node.inputs = [b, a] if reflected else [a, b]
            node.freed = False
            node.seq = next(counter)
            out.grad_fn = node
            out.requires_grad = True
        else:
            out.grad_fn = None
            out.requires_grad = False
        return out
    method.__name__ = name
    return method


# ---------------------------------------------------------------------------------------------
# Tensor
# ---------------------------------------------------------------------------------------------

def _as_value(data: Any, dtype: Any) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data._value
    if dtype is not None:
        return np.array(data, dtype=as_dtype(dtype).np)
    arr = np.array(data)
    if arr.dtype.kind == "f":
        return arr.astype(np.float32) if arr.dtype != np.float32 and not isinstance(
            data, np.ndarray) else arr.astype(as_dtype(arr.dtype).np)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "b":
        return arr
    raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__} "
                    f"(dtype {arr.dtype}); use numbers, nested lists or numpy arrays")


_scalars: dict[tuple, np.ndarray] = {}  # read-only 0-d arrays of recently used Python scalars


def _operand(x: Any, like: np.ndarray) -> Any:
    """Python scalars take the tensor's dtype (PyTorch's rule); arrays pass through."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (bool, int, float)):
        key = (type(x), x, like.dtype)
        found = _scalars.get(key)
        if found is None or x == 0:  # (0.0 and -0.0 are equal keys; don't cache zeros)
            dt = like.dtype if (like.dtype.kind == "f" or not isinstance(x, float)) \
                else np.float32
            found = np.asarray(x, dtype=dt)
            found.flags.writeable = False
            if len(_scalars) > 4096:
                _scalars.clear()
            _scalars[key] = found
        return found
    if isinstance(x, np.ndarray):
        return x
    return np.asarray(x)


class Tensor:
    """An array that records the operations applied to it, for backward()."""

    __slots__ = ("_value", "requires_grad", "_grad", "grad_fn", "_retains_grad", "__weakref__")
    __array_priority__ = 1000

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False):
        self._value = _as_value(data, dtype)
        self._grad = None
        self.grad_fn = None
        self._retains_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, value: np.ndarray) -> Tensor:
        t = cls.__new__(cls)
        t._value = value
        t._grad = None
        t.grad_fn = None
        t._retains_grad = False
        t.requires_grad = False
        return t

    # -- autograd state -------------------------------------------------------------------------
    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def grad(self) -> Tensor | None:
        if self.grad_fn is not None and not self._retains_grad:
            warnings.warn("The .grad attribute of a Tensor that is not a leaf Tensor is being "
                          "accessed. Its .grad attribute won't be populated during backward(). "
                          "If you indeed want the gradient for a non-leaf Tensor, call "
                          ".retain_grad() on it before backward().", UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        self._grad = value if value is None or isinstance(value, Tensor) else Tensor(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if not self.is_leaf:
            raise RuntimeError("you can only change requires_grad flags of leaf variables; "
                               "use .detach() to get a leaf that does not require grad")
        if requires_grad and self._value.dtype.kind not in "f":
            raise RuntimeError(f"only tensors of floating point dtype can require gradients, "
                               f"got {self._value.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on a Tensor that has requires_grad=False")
        if not self.is_leaf and not self._retains_grad:
            self._retains_grad = True
            retained_refs.append(weakref.ref(self))

    def detach(self) -> Tensor:
        return Tensor._wrap(self._value)

    @property
    def data(self) -> Tensor:
        return Tensor._wrap(self._value)

    @data.setter
    def data(self, value: Any) -> None:
        self._value = _unwrap(value) if isinstance(value, Tensor) else np.asarray(value)

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        from .backward import run_backward

        run_backward(self, gradient, retain_graph)

    # -- values ---------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._value.shape

    def size(self, dim: int | None = None):
        return self._value.shape if dim is None else self._value.shape[dim]

    @property
    def dtype(self) -> np.dtype:
        return self._value.dtype

    @property
    def ndim(self) -> int:
        return self._value.ndim

    def dim(self) -> int:
        return self._value.ndim

    def numel(self) -> int:
        return self._value.size

    def numpy(self) -> np.ndarray:
        return self._value

    def item(self) -> Any:
        if self._value.size != 1:
            raise ValueError(f"item(): a Tensor with {self._value.size} elements cannot be "
                             "converted to a Python scalar")
        return self._value.item()

    def tolist(self) -> Any:
        return self._value.tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self._value if dtype is None else self._value.astype(dtype)

    def __len__(self) -> int:
        return len(self._value)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        body = np.array2string(self._value, separator=", ", prefix="tensor(")
        extras = []
        if self._value.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype={self._value.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    __hash__ = object.__hash__


Number = (int, float, bool)
