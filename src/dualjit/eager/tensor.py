"""Tensor: PyTorch's imperative autograd, recorded as IR and differentiated by the shared VJP.

Every operation on Tensors runs at once (NumPy) and, when an input requires grad, records a
Node: the operation's IR Function (traced once per operation and input types), the sources
of its inputs (other Nodes, leaf Tensors, or constant arrays) and its output value. backward()
(eager/backward.py) composes the Nodes' VJPs into one IR Function.

In-place operations write into the tensor's storage (so NumPy views see them, as PyTorch's
views do), bump the storage's version counter, and record a new Node for the tensor; an
in-place operation on a view records the change on the view's base ("CopySlices").
"""

from __future__ import annotations

import itertools
import math
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import numpy as jnp
from ..ir import TensorType, as_dtype
from ..nn import functions as nnf
from ..tracer.core import Tracer, trace_flat
from . import array_ops as A
from . import dtypes
from . import torch_rules as R
from .errors import (
    DimensionError,
    DtypeError,
    DtypeNotImplementedError,
    EmptyReductionError,
    IndexRangeError,
    ShapeError,
    torch_error,
)
from .kernels import eager_kernel, float32_formula, special_erf

ndarray = np.ndarray
_erf_kernel = eager_kernel(special_erf, "erf", numpy=A.np_erf,  # (Tensor.erf's forward)
                           float32=float32_formula("erf"))

# ---------------------------------------------------------------------------------------------
# Grad mode
# ---------------------------------------------------------------------------------------------

class _GradMode(threading.local):
    enabled = True  # (written only by set_grad_mode)


_grad_mode = _GradMode()

# The threads that have recording off (by threading.get_ident()). Every write of a thread's
# flag goes through set_grad_mode, which keeps this set (one set.add or set.discard call, so
# threads need no lock), so while it is empty recording is on in every thread: the operators'
# hot paths test it first (reading a thread-local attribute costs them more). A thread that
# ends with recording off stays in it: then the flag is read, which is still exact.
threads_without_grad: set[int] = set()
_thread_id = threading.get_ident


def set_grad_mode(enabled: bool) -> None:
    """Turn recording on or off in this thread."""
    _set_thread_mode(bool(enabled), _thread_id())


def _set_thread_mode(enabled: bool, thread: int) -> None:
    if enabled:  # (flag first: the thread is in the set whenever its flag is off)
        _grad_mode.enabled = True
        threads_without_grad.discard(thread)
    else:
        threads_without_grad.add(thread)
        _grad_mode.enabled = False


class _NativeSteps(threading.local):
    """Whether backward() and optimizer steps compile native code. dj.compile turns it off
    for its first, eager call, which only creates state: compiling code that the traced
    program replaces would only add to the compile time (they run on the interpreter)."""
    enabled = True


native_steps = _NativeSteps()


def is_grad_enabled() -> bool:
    return _grad_mode.enabled


class set_grad_enabled:
    """Turn recording on or off, as a function call, context manager or decorator."""

    def __init__(self, mode: bool = True):
        self._mode = bool(mode)
        self._previous = _grad_mode.enabled
        set_grad_mode(self._mode)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: Any) -> None:
        set_grad_mode(self._previous)

    def __call__(self, fn: Callable) -> Callable:
        mode = self._mode
        set_grad_mode(self._previous)  # used as a decorator: don't change the mode now

        def wrapped(*args, **kwargs):
            previous = _grad_mode.enabled
            set_grad_mode(mode)
            try:
                return fn(*args, **kwargs)
            finally:
                set_grad_mode(previous)
        wrapped.__name__ = getattr(fn, "__name__", "wrapped")
        wrapped.__doc__ = getattr(fn, "__doc__", None)
        return wrapped


class no_grad:
    """Context manager (and decorator) in which nothing is recorded for differentiation."""

    _mode = False

    # (set_grad_mode, inlined: a training step enters one. Adding or discarding again changes
    # nothing; the order keeps "off, and not in the set" from ever holding, as there.)
    def __enter__(self) -> None:
        self._previous = _grad_mode.enabled
        self._thread = thread = _thread_id()
        _set_thread_mode(self._mode, thread)

    def __exit__(self, *exc: Any) -> None:
        _set_thread_mode(self._previous, self._thread)

    def __call__(self, fn: Callable) -> Callable:
        mode = self._mode

        def wrapped(*args, **kwargs):
            previous = _grad_mode.enabled
            set_grad_mode(mode)
            try:
                return fn(*args, **kwargs)
            finally:
                set_grad_mode(previous)
        wrapped.__name__ = getattr(fn, "__name__", "wrapped")
        wrapped.__doc__ = getattr(fn, "__doc__", None)
        return wrapped


class enable_grad(no_grad):
    _mode = True


class _InferenceMode(threading.local):
    depth = 0  # inference_mode(True) blocks this thread is inside


_inference_mode = _InferenceMode()


class inference_mode(no_grad):
    """Like no_grad (dualjit has no separate inference tensors)."""

    def __init__(self, mode: bool = True):
        self._mode = not mode

    def __enter__(self) -> None:
        super().__enter__()
        self._depth = _inference_mode.depth
        _inference_mode.depth = self._depth + 1 if not self._mode else 0

    def __exit__(self, *exc: Any) -> None:
        _inference_mode.depth = self._depth
        super().__exit__(*exc)

    def __call__(self, fn: Callable) -> Callable:
        enabled = not self._mode

        def wrapped(*args, **kwargs):
            with inference_mode(enabled):
                return fn(*args, **kwargs)
        wrapped.__name__ = getattr(fn, "__name__", "wrapped")
        wrapped.__doc__ = getattr(fn, "__doc__", None)
        return wrapped


def is_inference_mode_enabled() -> bool:
    """Whether this thread is inside an inference_mode() block (PyTorch's query)."""
    return _inference_mode.depth > 0


# ---------------------------------------------------------------------------------------------
# Recorded operations
# ---------------------------------------------------------------------------------------------

_node_counter = itertools.count()

# The creation number (a Node.seq) drawn right after the latest write to any version counter:
# a graph whose oldest node is newer saw no in-place change since it was recorded, so
# backward() can skip reading its version checks. Every write to a counter must call
# note_version_change() after it (then a node that read the old version is older).
last_version_change = [-1]


def note_version_change() -> None:
    last_version_change[0] = next(_node_counter)


class Node:
    """A recorded operation (a tensor's grad_fn).

    `function` is the operation's IR Function (one output). `inputs` holds each input's source:
    another Node, a leaf Tensor that requires grad, or a constant array. `checks` is a flat
    tuple of (input position, version counter, version) triples for inputs that were Tensors
    not produced by a Node, so backward() can tell when one was modified in place after use.
    `value` is the output as computed, kept for the derivatives that read it: a node made by
    `record_op` keeps its own; the operators' and one-tensor operations' nodes leave it to
    their consumers, each of which stores the value of an input node its derivative reads
    (`read_mask`), so values nothing reads are not held until backward() (None then).
    `counter`/`version` are its storage's version counter and the version the value was
    written at; `counter` is None while no tensor holding the value has a counter (an
    operation's fresh output, version 0, until `version_counter` makes the one its output
    tensors and this node share).
    """

    __slots__ = ("name", "function", "inputs", "checks", "value", "counter", "version", "freed",
                 "seq", "extras", "__weakref__")

    def __init__(self, name: str, function: Any, inputs: Sequence, checks: tuple, value: Any,
                 counter: list | None):
        self.name = name
        self.function = function
        self.inputs = inputs
        self.checks = checks
        self.value = value
        self.counter = counter
        self.version = 0 if counter is None else counter[0]
        self.freed = False
        self.seq = next(_node_counter)  # creation order: a topological order of any graph
        self.extras = None  # (hooks, retained): see the properties below

    @property
    def hooks(self) -> list | None:
        """Tensor hooks of the (non-leaf) tensor this node produced."""
        return self.extras[0] if self.extras else None

    @hooks.setter
    def hooks(self, hooks: list | None) -> None:
        self.extras = (hooks, self.retained)

    @property
    def retained(self) -> Any:
        """A weakref to the non-leaf tensor that called retain_grad(), or None."""
        return self.extras[1] if self.extras else None

    @retained.setter
    def retained(self, ref: Any) -> None:
        self.extras = (self.hooks, ref)

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

    def register_hook(self, hook: Callable) -> None:
        raise NotImplementedError("hooks on grad_fn nodes are not supported; use "
                                  "Tensor.register_hook on the tensor instead")


def _backward_module() -> Any:
    """eager.backward, which imports this module (imported here on first use, then kept)."""
    global _backward_module
    from . import backward

    _backward_module = lambda: backward  # noqa: E731
    return backward


_op_functions: dict[Any, Any] = {}


def _type(x: Any) -> TensorType:
    return TensorType(as_dtype(x.dtype), tuple(x.shape))


def op_function(key: tuple, fn: Callable, values: Sequence[Any], params: tuple):
    """The IR Function of one operation on inputs like `values`, traced once per key."""
    found = _op_functions.get(key)
    if found is None:
        kwargs = dict(params)
        found, captures = trace_flat(lambda *xs: [fn(*xs, **kwargs)], [_type(v) for v in values])
        if captures:
            raise RuntimeError(f"internal error: the recorded operation {key[0]} captured "
                               "a traced value")
        _op_functions[key] = found
    return found


def read_mask(function: Any, wrt: tuple[int, ...]) -> int:
    """Bit i is set when the derivative of `function` with respect to inputs `wrt` reads
    input i (so the recorded node must keep that input's value)."""
    if not wrt:
        return 0
    try:
        _, reads = _backward_module().node_vjp(function, wrt)
    except Exception:  # noqa: BLE001 (no derivative rule: backward() raises it; keep all)
        return (1 << len(function.inputs)) - 1
    return sum(1 << i for i in reads if i < len(function.inputs))


def make_tensor(value: Any, grad_fn: Node | None = None, counter: list | None = None) -> Tensor:
    """The one place that makes a Tensor object (constructors, operations, views)."""
    t = _tensor_new(Tensor)
    t._value = value
    t.grad_fn = grad_fn
    t.requires_grad = grad_fn is not None
    t._grad = None
    t._counter = counter  # None until a version is needed (version_counter)
    t._extra = None
    return t


_tensor_new = _new_node = object.__new__


def version_counter(t: Tensor) -> list:
    """The tensor's storage version counter, a one-element list shared by its views, made on
    first use. A tensor with a grad_fn shares its node's counter (the node's check of its
    saved output reads it), which an operation leaves to this function to make (Node)."""
    c = t._counter
    if c is None:
        node = t.grad_fn
        if node is None:
            c = [0]
        else:
            c = node.counter
            if c is None:
                c = node.counter = [node.version]
        t._counter = c
    return c


def current_value(t: Tensor) -> Any:
    """t's value, re-read from its base first if t is a view whose base changed in place
    (a traced view holds no shared storage)."""
    extra = t._extra
    if extra is not None and extra.base is not None:
        _sync_view(t)
    return t._value


def source_of(t: Tensor) -> Any:
    """What a recorded node keeps for an input tensor: its node, itself (a leaf), or its value."""
    extra = t._extra
    if extra is not None and extra.base is not None:
        _sync_view(t)
    if t.grad_fn is not None:
        return t.grad_fn
    return t if t.requires_grad else t._value


def record_op(name: str, function: Any, args: Sequence[Any], value: Any,
              counter: list | None = None) -> Tensor:
    """A new tensor holding `value`, produced by a Node applying `function` to `args`."""
    sources = []
    checks = ()
    i = 0
    for a in args:
        if isinstance(a, Tensor):
            src = source_of(a)
            if type(src) is not Node:
                c = a._counter or version_counter(a)
                checks += (i, c, c[0])
            elif src.value is None and not src.freed:
                src.value = a._value  # (a node from the operators: see Node.value)
            sources.append(src)
        else:
            sources.append(a)
        i += 1
    node = Node(name, function, sources, checks, value, counter)
    return make_tensor(value, node, counter)


def _matches(value: Any, function: Any) -> Any:
    """The eager value in the recorded Function's output type (NumPy and the IR may pick
    different dtypes for the same operation; the IR's is the one backward() relies on)."""
    out = function.outputs[0].type
    if type(value) is ndarray:
        dtype = out.dtype.np
        if value.dtype is not dtype and value.dtype != dtype:
            value = value.astype(dtype)
        if value.shape != out.shape:
            raise RuntimeError(f"internal error: eager value of shape {value.shape} for an "
                               f"operation whose IR gives {out}")
    return value


_NO_KWARGS: dict = {}


def apply_op(name: str, fn: Callable, args: Sequence[Any], params: tuple = (),
             fast: Callable | None = None, view: bool = False, bound: bool = False) -> Tensor:
    """Run fn on the tensors' values; record it when grad mode is on and an input requires grad.

    `fast` is the same operation in plain NumPy (called with the same parameters); None
    means fn (a dualjit.numpy composition) computes the value too; `bound` says fast holds
    the parameters already (as defaults: it is called with the values only). `view` marks
    operations whose result may share the input's storage (reshape, slicing, transpose...).
    """
    if len(args) == 1 and not view:
        x = args[0]
        if isinstance(x, Tensor) and x._extra is None and type(x._value) is ndarray:
            return _unary_op(name, fn, x, params, fast, bound)
    values = []
    record = False
    concrete = True
    for a in args:
        if isinstance(a, Tensor):
            if a._extra is not None and a._extra.base is not None:
                _sync_view(a)
            v = a._value
            if a.requires_grad:
                record = True
        else:
            v = a
        if type(v) is not ndarray:
            concrete = False
        values.append(v)
    kwargs = dict(params) if params else _NO_KWARGS
    value = None
    try:  # (NumPy's and dualjit.numpy's errors, as PyTorch's types: errors.py)
        if fast is not None and concrete:
            value = fast(*values) if bound else fast(*values, **kwargs)
        if value is None:
            value = fn(*values, **kwargs)
    except (ValueError, TypeError, IndexError) as e:
        raise torch_error(e) from e.__cause__
    if type(value) is not ndarray and not isinstance(value, Tracer):
        value = np.asarray(value)
    counter = None
    if view:
        counter = _view_counter(args[0], value, fast, kwargs, bound)
    elif concrete and value.base is not None:
        value = _unshared(value, values)
    if record and _grad_mode.enabled and value.dtype.kind in "fc":
        key = (name, params, *[(v.dtype, v.shape) for v in values])
        function = _op_functions.get(key) or op_function(key, fn, values, params)
        out = record_op(name, function, args, _matches(value, function), counter)
    else:
        out = make_tensor(value, None, counter)
    if counter is not None:
        # (the map from base to view in NumPy, so positions stay concrete while tracing)
        if fast is not None:
            _mark_view(out, args[0], fast, _NO_KWARGS if bound else kwargs)
        else:
            _mark_view(out, args[0], fn, kwargs)
    return out


def _unary_op(name: str, fn: Callable, x: Tensor, params: tuple, fast: Callable | None,
              bound: bool) -> Tensor:
    """apply_op for its most common case, one tensor (not a view) holding a NumPy array: the
    same steps with the loops over inputs unrolled, as binary_method does for operators."""
    xv = x._value
    try:
        if fast is None:
            value = None
        elif bound:
            value = fast(xv)
        else:
            value = fast(xv, **dict(params)) if params else fast(xv)
        if value is None:
            value = fn(xv, **dict(params))
    except (ValueError, TypeError, IndexError) as e:
        raise torch_error(e) from e.__cause__
    if type(value) is not ndarray:
        if not isinstance(value, Tracer):
            value = np.asarray(value)
    elif value.base is not None and np.may_share_memory(value, xv):
        value = value.copy()  # (a non-view operation gives fresh storage: _unshared)
    out = _tensor_new(Tensor)
    out._grad = None
    out._extra = None
    if x.requires_grad and (not threads_without_grad or _grad_mode.enabled) and \
            value.dtype.kind in "fc":
        key = (name, params, (xv.dtype, xv.shape))
        entry = _unary_entries.get(key)
        if entry is None:
            function = op_function(key, fn, [xv], params)
            out_type = function.outputs[0].type
            entry = _unary_entries[key] = (function, read_mask(function, (0,)),
                                           out_type.dtype.np, out_type.shape)
        function = entry[0]
        if type(value) is not ndarray or value.dtype is not entry[2] or \
                value.shape != entry[3]:
            value = _matches(value, function)  # (cast to the IR's dtype, or the shape error)
        node = _new_node(Node)  # (Node.__init__, inlined)
        node.name = name
        node.function = function
        node.value = None
        node.counter = None
        node.version = 0
        node.freed = False
        node.seq = next(_node_counter)
        node.extras = None
        source = x.grad_fn
        if source is None:  # a leaf: its version is checked by backward()
            c = x._counter or version_counter(x)
            node.inputs = (x,)
            node.checks = (0, c, c[0])
        else:
            if entry[1] and source.value is None:  # (the derivative reads x: Node.value)
                source.value = xv
            node.inputs = (source,)
            node.checks = ()
        out._counter = None
        out.grad_fn = node
        out.requires_grad = True
    else:
        out._counter = None
        out.grad_fn = None
        out.requires_grad = False
    out._value = value
    return out


# _unary_op's (Function, read_mask, output's NumPy dtype and shape) by op_function key
_unary_entries: dict[tuple, tuple] = {}


def _unshared(value: ndarray, inputs: list) -> ndarray:
    """A copy of `value` if NumPy returned a view of an input from a non-view operation
    (PyTorch gives such operations fresh storage)."""
    for v in inputs:
        if type(v) is ndarray and np.may_share_memory(value, v):
            return value.copy()
    return value


def binary_method(name: str, fn: Callable, fast: Callable, reflected: bool = False) -> Callable:
    """A Tensor arithmetic operator: x (op) y for a Tensor x and a Tensor or Python number y,
    with PyTorch's promotion.

    This is the hot path of imperative code (one call per operator). Its common case, a
    tensor and a tensor or Python float, not views, holding NumPy arrays of one dtype (a float
    dtype, for division), runs first, with the Tensor and Node built inline (the one inlined
    copy of make_tensor and record_op); anything else (views, promotion, integers, traced
    values) takes the general path, `_binary_general`, which does the same for every case.
    """
    new_tensor, mode, without_grad = _tensor_new, _grad_mode, threads_without_grad
    new_node, node_counter = object.__new__, _node_counter
    # This operator's (recorded Function, read masks) by (dtype, shapes), or False for operands
    # of a dtype it does not record (not float or complex). The read masks (read_mask) are a
    # tuple indexed by the wrt mask (bit 0: x requires grad, bit 1: y).
    entries: dict[tuple, Any] = {}
    true_division = name == "DivBackward"  # (int / int gives the default float dtype)
    general = _binary_general(name, fn, fast, reflected)
    t_bit, o_bit = (2, 1) if reflected else (1, 2)  # (wrt and read-mask bits of t and other)

    def method(t, other):  # t: the Tensor whose method this is; x (op) y is t (op) other
        if t._extra is not None:  # (or, reflected, other (op) t)
            return general(t, other)
        tv = t._value
        if type(other) is Tensor or isinstance(other, Tensor):
            if other._extra is not None:
                return general(t, other)
            ov = other._value
            o_grad = other.requires_grad
        elif type(other) is float:
            ov = _scalar_operand(other, tv)  # (of tv's dtype when that is a float)
            o_grad = None  # (not a tensor)
        else:
            return general(t, other)
        dtype = tv.dtype
        if dtype is not ov.dtype or type(tv) is not ndarray or type(ov) is not ndarray or (
                true_division and dtype.kind not in "fc"):
            return general(t, other)
        try:
            value = fast(ov, tv) if reflected else fast(tv, ov)
        except (ValueError, TypeError, IndexError) as e:
            raise torch_error(e) from e.__cause__
        if type(value) is not ndarray:
            value = np.asarray(value)  # (a 0-d result is a NumPy scalar)
        out = new_tensor(Tensor)
        out._value = value
        out._grad = None
        out._extra = None
        out._counter = None  # (made when needed: version_counter)
        t_grad = t.requires_grad
        if (t_grad or o_grad) and (not without_grad or mode.enabled):
            key = (dtype, ov.shape, tv.shape) if reflected else (dtype, tv.shape, ov.shape)
            entry = entries.get(key)
            if entry is None:
                entry = _binary_entry(entries, key, name, fn, *((ov, tv) if reflected else
                                                                (tv, ov)))
            if entry is not False:
                function, masks = entry
                node = new_node(Node)  # (Node.__init__ and record_op, inlined; one store a
                node.name = name       # line: a, b = c, d packs a tuple first)
                node.function = function
                node.value = None
                node.counter = None
                node.version = 0
                node.freed = False
                node.seq = next(node_counter)
                node.extras = None
                # Each input's source (its node, itself as a leaf, or its value), the version
                # checks of inputs not produced by a node (a check is (position, counter,
                # version)), and the values of input nodes the derivative reads (Node.value).
                t_source = t.grad_fn
                if t_source is None:
                    c = t._counter or version_counter(t)
                    if not t_grad:
                        t_source = tv
                    else:
                        t_source = t
                else:
                    c = None
                    # (t requires grad: it has a node)
                    if t_source.value is None and masks[t_bit + o_bit if o_grad else t_bit] \
                            & t_bit:
                        t_source.value = tv
                if o_grad is None:  # a Python number
                    o_source, d = ov, None
                else:
                    o_source = other.grad_fn
                    if o_source is None:
                        d = other._counter or version_counter(other)
                        if not o_grad:
                            o_source = ov
                        else:
                            o_source = other
                    else:
                        d = None
                        # (other requires grad: it has a node)
                        if o_source.value is None and \
                                masks[o_bit + t_bit if t_grad else o_bit] & o_bit:
                            o_source.value = ov
                if reflected:
                    node.inputs = (o_source, t_source)
                    c, d = d, c  # (now the counters of x and y)
                else:
                    node.inputs = (t_source, o_source)
                if c is None:
                    node.checks = () if d is None else (1, d, d[0])
                else:
                    node.checks = (0, c, c[0]) if d is None else (0, c, c[0], 1, d, d[0])
                out.grad_fn = node
                out.requires_grad = True
                return out
        out.grad_fn = None
        out.requires_grad = False
        return out
    method.__name__ = name
    return method


def _binary_entry(entries: dict, key: tuple, name: str, fn: Callable, xv: Any, yv: Any) -> Any:
    """binary_method's (Function, read masks) for operands like xv and yv of one dtype, or
    False when that dtype is not recorded (the result of same-dtype operands has their dtype,
    so the dtype decides), kept in the operator's `entries`."""
    dtype = xv.dtype
    if dtype.kind not in "fc":
        entry = False
    else:
        function = op_function((name, dtype, xv.shape, dtype, yv.shape), fn, [xv, yv], ())
        entry = (function, (0, *(read_mask(function, wrt) for wrt in ((0,), (1,), (0, 1)))))
    entries[key] = entry
    return entry


def _binary_general(name: str, fn: Callable, fast: Callable, reflected: bool) -> Callable:
    """binary_method's path for every case: Python numbers, views, promotion, traced values."""
    true_division = name == "DivBackward"
    subtraction = name == "SubBackward"

    def general(t, other):
        given = other
        if t._extra is not None and t._extra.base is not None:
            _sync_view(t)  # (before reading the value: a traced view re-reads its base)
        tv = t._value
        if isinstance(other, Tensor):
            if other._extra is not None and other._extra.base is not None:
                _sync_view(other)
            ov = other._value
            record = t.requires_grad or other.requires_grad
        else:
            other = ov = _scalar_operand(other, tv)
            record = t.requires_grad
        x, y, xv, yv = (other, t, ov, tv) if reflected else (t, other, tv, ov)
        dtype = xv.dtype
        if subtraction and _bool_operand(t, given):
            raise DtypeError("Subtraction, the `-` operator, with a bool tensor is not "
                             "supported; use the `~` or logical_not() operator to invert a mask")
        if (dtype is not yv.dtype and dtype != yv.dtype) or (true_division and
                                                             dtype.kind not in "fc"):
            return _promoted_binary(name, fn, fast, x, y, xv, yv)
        try:
            value = fast(xv, yv) if type(xv) is ndarray is type(yv) else fn(xv, yv)
        except (ValueError, TypeError, IndexError) as e:
            raise torch_error(e) from e.__cause__
        if type(value) is not ndarray and not isinstance(value, Tracer):
            value = np.asarray(value)
        if not (record and _grad_mode.enabled and dtype.kind in "fc"):
            return make_tensor(value)
        function = op_function((name, dtype, xv.shape, dtype, yv.shape), fn, [xv, yv], ())
        return record_op(name, function, (x, y), value)
    return general


def binary_op(name: str, fn: Callable, fast: Callable, x: Any, y: Any,
              reflected: bool = False) -> Tensor:
    """x (op) y as a function call (the operators use binary_method)."""
    key = (name, fn, fast, reflected)
    method = _binary_methods.get(key)
    if method is None:
        method = _binary_methods[key] = binary_method(name, fn, fast, reflected)
    return method(x, y)


_binary_methods: dict[tuple, Callable] = {}


def _promoted_binary(name, fn, fast, x, y, xv, yv) -> Tensor:
    rt = dtypes.result_type(x if isinstance(x, Tensor) else xv, y if isinstance(y, Tensor) else yv)
    if name == "DivBackward":
        rt = dtypes.float_result(rt)
    return apply_op(name, _cast_then(fn), [x, y], (("dtype", rt),), fast=_cast_then(fast))


_cast_fns: dict[Any, Callable] = {}


def _cast_then(fn: Callable) -> Callable:
    """fn applied after casting both operands to `dtype` (inside the recorded Function, so
    gradients flow back in each operand's own dtype)."""
    found = _cast_fns.get(fn)
    if found is None:
        def found(x, y, dtype):
            return fn(A.astype(x, dtype), A.astype(y, dtype))
        _cast_fns[fn] = found
    return found


_scalars: dict[tuple, ndarray] = {}  # read-only 0-d arrays of recently used Python scalars


def _scalar_operand(x: Any, like: ndarray) -> ndarray:
    """A Python number as an operand beside a tensor: weak, so it takes the tensor's dtype
    unless it is of a higher category (a float with an integer tensor gives the default
    float dtype, as in PyTorch)."""
    kind = type(x)
    if kind is not float and kind is not int and kind is not bool and kind is not complex:
        return _array_operand(x)
    key = (kind, x, like.dtype)
    found = _scalars.get(key)
    if found is None or x == 0:  # (0.0 and -0.0 are equal keys; don't cache zeros)
        weak = dtypes.scalar_dtype(x)
        dt = like.dtype if dtypes.category(weak) <= dtypes.category(like.dtype) else \
            dtypes.promote_types(like.dtype, weak)
        try:
            found = np.asarray(x, dtype=dt)
        except OverflowError:  # (PyTorch wraps: uint8 tensor - 3, int8 tensor * 300)
            found = np.asarray(np.asarray(x, np.int64).astype(dt))
        found.flags.writeable = False
        if len(_scalars) > 4096:
            _scalars.clear()
        if found.dtype == like.dtype:  # (a promoted dtype depends on the default dtype)
            _scalars[key] = found
    return found


def _array_operand(x: Any) -> Any:
    """A NumPy array, NumPy scalar or nested list beside a tensor: a constant (as PyTorch
    makes a tensor of it)."""
    if isinstance(x, (ndarray, Tracer)):
        return x
    if isinstance(x, np.generic):
        return np.asarray(x)
    if isinstance(x, (list, tuple)):
        return as_value(x, None)
    raise TypeError(f"unsupported operand type {type(x).__name__} for a Tensor operation; use "
                    "a Tensor, a NumPy array or a Python number")


# ---------------------------------------------------------------------------------------------
# Views and in-place operations
# ---------------------------------------------------------------------------------------------

class _Extra:
    """Rarely used tensor state: a view's base and how to get it from the base's storage;
    hooks on a leaf; whether a non-leaf retains its grad."""

    __slots__ = ("base", "view_fn", "view_version", "hooks", "retains_grad", "alias_of",
                 "traced_views")
    # view_fn is (the parent view's view_fn or None, operation, its keyword arguments).

    def __init__(self):
        self.base = None
        self.view_fn = None
        self.view_version = 0
        self.hooks = None
        self.retains_grad = False
        self.alias_of = None  # (traced values only) the tensor whose storage this one shares
        self.traced_views = None  # (a base, traced values only) its views, re-read on writes


def extra_of(t: Tensor) -> _Extra:
    if t._extra is None:
        t._extra = _Extra()
    return t._extra


def _view_counter(base: Tensor, value: Any, fast: Callable | None = None,
                  kwargs: dict = _NO_KWARGS, bound: bool = False) -> list | None:
    """The base's version counter if `value` shares its storage (then it is a view: the NumPy
    fast path of a view operation reads only its input, so any base of the result is it). A
    traced value (dj.compile) is a view where the eager run would have made one: the fast
    path applied to an array laid out as the input is in eager mode tells."""
    # (NumPy's reshape that must copy returns a view of its copy: `.base` alone is not enough)
    if type(value) is ndarray:
        shares = value.base is not None and (np.may_share_memory(value, base._value) or (
            value.size == 0 and _root_array(value) is _root_array(base._value)))
        return version_counter(base) if shares else None
    if isinstance(value, Tracer) and fast is not None:
        proxy = _layout_proxy(base)
        try:
            out = fast(proxy) if bound else fast(proxy, **kwargs)
        except Exception:  # noqa: BLE001 (undecidable: treated as a copy, as before)
            return None
        if type(out) is ndarray and np.may_share_memory(out, proxy):
            return version_counter(base)
    return None


def _root_array(a: ndarray) -> Any:
    """The array that owns a's memory (an empty view shares no bytes with its base, so
    np.may_share_memory cannot tell it from a copy; the chain of `.base` can)."""
    while isinstance(a, ndarray) and a.base is not None:
        a = a.base
    return a


def _no_complex_order(t: Tensor, op: str, lo: Any, hi: Any) -> None:
    """PyTorch's error for clamp of a complex tensor (NumPy orders complex numbers
    lexicographically, which clamp would silently use), and an error for an integer bound
    outside an integer tensor's range (PyTorch wraps it around: uint8 clamped to min=-3 is
    clamped to 253)."""
    dt = t._value.dtype
    if dt.kind == "c":
        raise DtypeNotImplementedError(f"{op} is not supported for complex types")
    if dt.kind in "iu":
        info = np.iinfo(dt)
        for name, bound in (("min", lo), ("max", hi)):
            if isinstance(bound, int) and not isinstance(bound, bool) and \
                    not info.min <= bound <= info.max:
                raise DtypeError(f"{op}: {name}={bound} is out of the range of {dt} "
                                 f"[{info.min}, {info.max}]; convert the tensor to a wider "
                                 "dtype first")


def _real_only(t: Tensor, op: str) -> None:
    """PyTorch's error for rounding functions of complex tensors (they were returned
    unchanged, and frac gave 0)."""
    if t._value.dtype.kind == "c":
        raise DtypeNotImplementedError(f"{op} is not supported for complex inputs")


def _aliased_dims(t: Tensor) -> tuple:
    """The dimensions along which a view repeats one element of its base's storage (an
    expand's), or ()."""
    if t._extra is None or t._extra.base is None:
        return ()
    layout = _layout(t)
    return tuple(d for d, (s, n) in enumerate(zip(layout.strides, layout.shape))
                 if s == 0 and n > 1)


def _fill_locations(t: Tensor, mask: Any, value: Any) -> Tensor:
    """Fill the base's storage locations of view t (those of its elements where mask holds,
    all when None) with value, each location once, then re-read t from its base."""
    positions = view_positions(t)
    if mask is not None:
        positions = positions[mask]
    flat = t._extra.base.view(-1)
    flat.index_fill_(0, make_tensor(np.unique(positions).astype(np.int64)), value)
    _sync_view(t)
    return t


def _overlaps(view: Tensor) -> bool:
    """Whether a (traced) view repeats an element of its base, as an expand() does: eager
    mode's array of it is read-only."""
    proxy = _layout_proxy(view)
    return any(s == 0 and n > 1 for s, n in zip(proxy.strides, proxy.shape))


def _layout(t: Tensor) -> ndarray:
    """t's NumPy array, or while tracing an array laid out as it would be (flags, strides)."""
    return t._value if type(t._value) is ndarray else _layout_proxy(t)


def _layout_proxy(t: Tensor) -> ndarray:
    """A 1-byte array of t's shape laid out as t is in eager mode: a view of its base's
    (contiguous) storage with the strides its positions in the base show, else contiguous."""
    shape = tuple(t.shape)
    extra = t._extra
    if extra is None or extra.base is None:
        return np.empty(shape, np.int8)
    positions = view_positions(t)
    if positions.size == 0:
        return np.empty(shape, np.int8)
    start = int(positions.flat[0])
    strides = []
    for d, n in enumerate(shape):
        step = (0,) * d + (1,) + (0,) * (len(shape) - d - 1)
        strides.append(int(positions[step]) - start if n > 1 else 0)
    storage = np.empty(int(np.prod(extra.base.shape)), np.int8)
    return np.lib.stride_tricks.as_strided(storage[start:], shape, strides)


def _mark_view(out: Tensor, parent: Tensor, fn: Callable, kwargs: dict) -> None:
    """Remember that `out` is a view of parent's base, and the map from base to view."""
    pe = parent._extra
    extra = extra_of(out)
    if pe is not None and pe.base is not None:
        extra.base, extra.view_fn = pe.base, (pe.view_fn, fn, kwargs)
    else:
        extra.base, extra.view_fn = parent, (None, fn, kwargs)
    extra.view_version = out._counter[0]
    if type(out._value) is not ndarray:  # traced: no shared storage, the base updates it
        base_extra = extra_of(extra.base)
        if base_extra.traced_views is None:
            base_extra.traced_views = []
        base_extra.traced_views.append(out)


def _unbound_views(t: Tensor, d: int) -> tuple:
    """t.select(d, i) for every i, made as __getitem__ makes each (the same NumPy views,
    version counter and view bookkeeping) without indexing's per-call parsing; for concrete
    values when nothing records (a recorded unbind records each select)."""
    if t.ndim == 0:
        raise DimensionError("unbind: a 0-d tensor has no dimension to unbind")
    if t._extra is not None and t._extra.base is not None:
        _sync_view(t)
    value = t._value
    head = (("s", None, None, None),) * d
    keys = [(slice(None),) * d + (i, Ellipsis) for i in range(value.shape[d])]
    if not keys:
        return ()
    counter = _view_counter(t, value[keys[0]])
    out = []
    for i, key in enumerate(keys):
        view = make_tensor(value[key], None, counter)
        if counter is not None:
            _mark_view(view, t, A.np_getitem, {"spec": head + (i,)})
        out.append(view)
    return tuple(out)


def expanded_views(ts: Sequence[Tensor], shape: tuple,
                   view_shapes: Sequence[tuple | None]) -> tuple | None:
    """t.reshape(view).expand(shape) for each tensor (just t.expand(shape) where view is None),
    made as those view operations make them (the same NumPy views, version counters and view
    records, the two steps as one) without their per-call dispatch; None when a tensor is
    traced or records (then the caller takes the operations one by one)."""
    if any(type(t._value) is not ndarray for t in ts) or (
            _grad_mode.enabled and any(t.requires_grad for t in ts)):
        return None
    out = []
    for t, view in zip(ts, view_shapes):
        if t._extra is not None and t._extra.base is not None:
            _sync_view(t)
        target = A.expanded_shape(t.shape if view is None else view, shape)
        kwargs = {"newshape": t.shape if view is None else view, "shape": target}
        value = _reshaped_expand(t._value, **kwargs)
        counter = _view_counter(t, value)
        result = make_tensor(value, None, counter)
        if counter is not None:
            _mark_view(result, t, _reshaped_expand, kwargs)
        out.append(result)
    return tuple(out)


def _reshaped_expand(x: ndarray, newshape: tuple, shape: tuple) -> ndarray:
    reshaped = np.reshape(x, newshape)
    if reshaped.shape == shape:  # (np_expand's view, writable as x, without broadcast_to)
        return reshaped
    return A.np_expand(reshaped, shape)


def view_positions(t: Tensor) -> ndarray:
    """For a view, the flat position in its base of each of its elements."""
    extra = t._extra
    base = extra.base
    positions = np.arange(base._value.size).reshape(base._value.shape)
    chain = []
    step = extra.view_fn
    while step is not None:  # (parent's chain, fn, kwargs), innermost first
        chain.append(step[1:])
        step = step[0]
    for fn, kwargs in reversed(chain):
        positions = fn(positions, **kwargs)
    return np.asarray(positions)


def _sync_view(t: Tensor) -> None:
    """After its base was modified in place (its storage's version moved on), a view's
    grad_fn must read the base's new graph: regenerate it as a gather from the base."""
    extra = t._extra
    version = version_counter(t)[0]
    if extra.view_version == version:
        return
    extra.view_version = version
    base = extra.base
    if type(t._value) is not ndarray:  # traced: no shared storage; re-read it from the base
        t._value = A.gather_positions(base._value, view_positions(t))
    if base.requires_grad and _grad_mode.enabled:
        positions = view_positions(t)
        function = op_function(("AsStridedBackward", positions.shape, base._value.dtype,
                                base._value.shape), A.gather_positions,
                               [base._value, positions], ())
        node = record_op("AsStridedBackward", function, [base, positions], t._value,
                       version_counter(t)).grad_fn
        t.grad_fn, t.requires_grad = node, True


def _alias(t: Tensor, alias: Tensor) -> Tensor:
    """alias shares t's storage; with traced values (no storage) its in-place changes are
    forwarded to t."""
    if type(t._value) is not ndarray:
        extra_of(alias).alias_of = t
    return alias


def _check_inplace(t: Tensor) -> None:
    if not _grad_mode.enabled:
        return
    if t.requires_grad and t.grad_fn is None:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                           "operation. Update parameters inside `with dualjit.no_grad():` or "
                           "through `.data` (e.g. w.data -= lr * w.grad), which keep w a leaf.")
    extra = t._extra
    if extra is not None and extra.base is not None:
        base = extra.base
        if base.requires_grad and base.grad_fn is None:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in "
                               "an in-place operation; do it under `with dualjit.no_grad():` "
                               "or on .data")


check_inplace = _check_inplace  # (public: the in-place methods of eager/more_functions.py)


# In-place arithmetic whose result has the operands' dtype when both have the same float dtype.
_SAME_DTYPE_UFUNCS = frozenset((np.add, np.subtract, np.multiply, np.true_divide))


def inplace_op(t: Tensor, name: str, fn: Callable, others: Sequence[Any], params: tuple = (),
               fast: Callable | None = None) -> Tensor:
    """t <- fn(t, *others), written into t's storage and recorded as a new node for t."""
    if fast in _SAME_DTYPE_UFUNCS and t._extra is None and len(others) == 1 and \
            _unrecorded_update(t, fast, others[0]):
        return t
    _check_inplace(t)
    if t._extra is not None and t._extra.base is not None:
        _sync_view(t)
    kwargs = dict(params)
    values = [t._value] + [o._value if isinstance(o, Tensor) else o for o in others]
    concrete = all(type(v) is ndarray for v in values)
    try:
        new = fast(*values, **kwargs) if fast is not None and concrete else None
        if new is None:
            new = fn(*values, **kwargs)
    except (ValueError, TypeError, IndexError) as e:
        raise torch_error(e) from e.__cause__
    dt = t._value.dtype
    if np.dtype(new.dtype) != dt:
        if new.dtype.kind == "f" and dt.kind != "f" or new.dtype.kind in "iu" and dt.kind == "b":
            raise RuntimeError(f"result type {new.dtype} can't be cast to the desired output "
                               f"type {dt} of the in-place operation {name}")
        new = A.astype(new, dt)
    record = _grad_mode.enabled and dt.kind in "fc" and (
        t.requires_grad or any(isinstance(o, Tensor) and o.requires_grad for o in others))
    if record:
        key = (name, params, *[(np.dtype(v.dtype), np.shape(v)) for v in values])
        function = op_function(key, _cast_result(fn, dt), values, params)
        is_view = t._extra is not None and t._extra.base is not None
        old = _base_before(t, function, others) if is_view else _original(t, function, others)
    write_storage(t, new)
    if record:
        if is_view:
            _rebase(t, name, function, old, others)
        else:
            node = record_op(name, function, [old, *others], t._value, version_counter(t)).grad_fn
            t.grad_fn, t.requires_grad = node, True
    return t


def inplace_arithmetic(t: Tensor, name: str, fn: Callable, ufunc: Any, other: Any) -> Tensor:
    """t += other (or -=, *=, /=: `ufunc` is the NumPy one): inplace_op, tried first as an
    unrecorded update."""
    if t._extra is None:
        operand = other if isinstance(other, Tensor) else weak_operand(other, t._value)
        if _unrecorded_update(t, ufunc, operand):
            return t
    return inplace_op(t, name, fn, [weak_operand(other, t._value)], fast=ufunc)


def inplace_method(name: str, fn: Callable, ufunc: Any) -> Callable:
    """Tensor.__iadd__ and the like: inplace_arithmetic, with its commonest case (a tensor
    operand, an optimizer's step) going straight to _unrecorded_update."""
    def method(t, other):
        if t._extra is None and type(other) is Tensor and _unrecorded_update(t, ufunc, other):
            return t
        return inplace_arithmetic(t, name, fn, ufunc, other)
    method.__name__ = name
    return method


def _unrecorded_update(t: Tensor, ufunc: Any, other: Any) -> bool:
    """The common in-place update (an optimizer step: p -= lr * g under no_grad) done
    directly: t is not a view, nothing is recorded, both operands hold NumPy arrays of t's
    float dtype and other's shape is t's or a scalar's. Returns False (nothing done) when the
    general path of inplace_op must run."""
    grad_on = not threads_without_grad or _grad_mode.enabled
    if isinstance(other, Tensor):
        if other._extra is not None or (other.requires_grad and grad_on):
            return False
        other = other._value
    value = t._value
    if (t.requires_grad and grad_on) or type(value) is not ndarray or type(other) is not ndarray:
        return False
    dtype = value.dtype
    if (other.dtype is not dtype and other.dtype != dtype) or dtype.kind not in "fc" or \
            (other.shape != value.shape and other.ndim != 0):
        return False
    try:
        if value.ndim:
            ufunc(value, other, out=value)
        else:  # (NumPy's out= costs twice the operation on a 0-d array)
            value[()] = ufunc(value, other)
    except ValueError:
        if value.flags.writeable:
            raise
        return False  # (read-only storage: the general path raises its error)
    counter = t._counter or version_counter(t)
    counter[0] += 1
    last_version_change[0] = next(_node_counter)  # (note_version_change, inlined)
    return True


def _original(t: Tensor, function: Any, others: Sequence[Any]) -> Tensor:
    """t as it is before an in-place operation overwrites it. When the operation's own
    derivative reads it (x.mul_(w) needs the old x for w's gradient), a copy is kept, as
    PyTorch saves the original for the operation; other users of the old value get the
    version-counter error if their derivative reads it."""
    from .backward import reads_input

    wrt = tuple(i for i, a in enumerate([t, *others]) if isinstance(a, Tensor) and a.requires_grad)
    if type(t._value) is ndarray and reads_input(function, wrt, 0):
        if t.grad_fn is None:
            return make_tensor(t._value.copy())
        snapshot = record_op("CloneBackward", _identity_function(function.in_types[0]), [t],
                           t._value.copy())
        return snapshot
    old = make_tensor(t._value, t.grad_fn, version_counter(t))
    old.requires_grad = t.requires_grad
    return old


def _base_before(view: Tensor, function: Any, others: Sequence[Any]) -> Tensor:
    """The base of `view` as it is before an in-place operation on the view overwrites part
    of it (_original for the base: a copy when the operation's derivative reads its input)."""
    from .backward import reads_input

    base = view._extra.base
    wrt = tuple(i for i, a in enumerate([view, *others])
                if isinstance(a, Tensor) and a.requires_grad)
    if reads_input(function, wrt, 0):  # (traced too: the alias would fail the version check)
        return base.clone()
    old = make_tensor(base._value, base.grad_fn, version_counter(base))
    old.requires_grad = base.requires_grad
    return old


_identities: dict[Any, Any] = {}


def _identity_function(t: TensorType) -> Any:
    found = _identities.get(t)
    if found is None:
        found = _identities[t] = trace_flat(lambda x: [x], [t])[0]
    return found


def _cast_result(fn: Callable, dtype: np.dtype) -> Callable:
    def cast(*args, **kwargs):
        return A.astype(fn(*args, **kwargs), dtype)
    return cast


def write_storage(t: Tensor, new: Any) -> None:
    """Store `new` into t's storage (views see it) and bump its version."""
    value = t._value
    if type(value) is ndarray and type(new) is not Tracer:
        if not value.flags.writeable and value.size:  # (an empty one: nothing overlaps)
            raise RuntimeError("unsupported operation: this tensor's storage is read-only (more "
                               "than one element of an expanded tensor may refer to a single "
                               "memory location); clone() it first")
        try:  # (a result of another shape: PyTorch's RuntimeError, errors.py)
            if value.flags.writeable:
                np.copyto(value, new, casting="unsafe")
            else:
                np.broadcast_to(new, value.shape)  # (the shape check copyto makes)
        except ValueError as e:
            raise torch_error(e) from None
    else:  # a traced value (dj.compile): there is no storage, rebind
        extra = t._extra
        if extra is not None and extra.base is not None and _overlaps(t):
            raise RuntimeError("unsupported operation: more than one element of the written-"
                               "to tensor refers to a single memory location (an expanded "
                               "tensor); clone() it first")
        t._value = new
        root = t
        if extra is not None and extra.base is not None:
            root = extra.base
            root._value = A.scatter_positions(root._value, new, view_positions(t))
        if extra is not None and extra.alias_of is not None:  # .data / detach() of a tensor
            extra.alias_of._value = new
        if root._extra is not None and root._extra.traced_views:
            for view in root._extra.traced_views:  # (what shared storage does eagerly)
                if view is not t:
                    view._value = A.gather_positions(root._value, view_positions(view))
    bump_version(t)


def bump_version(t: Tensor) -> None:
    """Count a write to t's storage: its version counter, the mark of the newest write that
    backward() reads (note_version_change), and a view's record of the version it saw."""
    counter = version_counter(t)
    counter[0] += 1
    note_version_change()
    if t._extra is not None:
        t._extra.view_version = counter[0]


def _rebase(view: Tensor, name: str, function: Any, old_base: Tensor, others: Sequence) -> None:
    """An in-place operation on a view changes its base: record base <- base with the view's
    elements replaced by function(view, *others) (PyTorch's CopySlices), then make the view
    a gather from the new base. `old_base` is the base before the write (_original: a copy
    when the function's derivative reads its input, e.g. clamp_ or exp_ on a view)."""
    base = view._extra.base
    positions = view_positions(view)
    other_values = [o._value if isinstance(o, Tensor) else o for o in others]
    index = A.placement_index(positions, base._value.size)
    params = (("inner", function),)
    key = ("CopySlices", id(function), base._value.dtype, base._value.shape, positions.shape,
           *[(np.dtype(v.dtype), np.shape(v)) for v in other_values])
    rebased = op_function(key, A.copy_slices, [base._value, positions, index, *other_values],
                          params)
    node = record_op("CopySlices", rebased, [old_base, positions, index, *others], base._value,
                   version_counter(base)).grad_fn
    base.grad_fn, base.requires_grad = node, True
    view._extra.view_version = -1  # force _sync_view to regenerate the view's grad_fn
    _sync_view(view)


def weak_operand(x: Any, like: Any) -> Any:
    """A non-Tensor operand beside a tensor: Python numbers are weak, arrays pass."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (bool, int, float)):
        return _scalar_operand(x, like if type(like) is ndarray else np.asarray(0, like.dtype))
    if isinstance(x, (ndarray, Tracer)):
        return x
    return np.asarray(x)


def as_tensor_arg(x: Any, name: str = "input") -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (bool, int, float, list, tuple, np.ndarray, np.generic)):
        return make_tensor(as_value(x, None))
    raise TypeError(f"{name} must be a Tensor, got {type(x).__name__}")


# ---------------------------------------------------------------------------------------------
# Tensor
# ---------------------------------------------------------------------------------------------

def as_value(data: Any, dtype: Any, copy: bool = True) -> ndarray:
    """`data` as a fresh array: PyTorch's inference (Python floats -> the default float dtype,
    ints -> int64, bools -> bool; NumPy arrays keep their dtype)."""
    if isinstance(data, Tensor):
        data = data._value
    elif isinstance(data, (list, tuple)):
        data = _nested_values(data)
    if dtype is not None:
        d = dtypes.to_numpy_dtype(dtype)
        return np.array(data, dtype=d, copy=copy or None)
    if isinstance(data, ndarray):
        arr = np.array(data, copy=copy or None)
    else:
        arr = np.array(data)
        if arr.dtype.kind == "f":
            arr = arr.astype(dtypes.get_default_dtype())
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__} "
                        f"(dtype {arr.dtype}); use numbers, nested lists or numpy arrays")
    try:
        native = as_dtype(arr.dtype).np
    except TypeError as e:
        raise TypeError(f"tensor: {e}") from None
    return arr if arr.dtype == native else arr.astype(native)


def _nested_values(data: list | tuple) -> Any:
    if any(isinstance(d, Tensor) for d in data):
        return [d._value if isinstance(d, Tensor) else d for d in data]
    if any(isinstance(d, (list, tuple)) for d in data):
        return [_nested_values(d) if isinstance(d, (list, tuple)) else d for d in data]
    return data


def shape_arg(shape: tuple) -> tuple[int, ...]:
    """A shape given as sizes (f(2, 3)) or as one sequence (f((2, 3))), as a tuple of ints."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(d) for d in shape)


def _dim(dim: Any) -> Any:
    if dim is None:
        return None
    if isinstance(dim, (list, tuple)):
        return tuple(int(d) for d in dim)
    return int(dim)


_GRAD_UFUNC_OPERATORS = {}  # filled below the class: ufunc -> Tensor method name


class Tensor:
    """An array that records the operations applied to it, for backward()."""

    __slots__ = ("_value", "requires_grad", "_grad", "grad_fn", "_counter", "_extra",
                 "__weakref__")
    __array_priority__ = 1000

    def __init__(self, *data: Any, dtype: Any = None, requires_grad: bool = False):
        if len(data) == 1 and not isinstance(data[0], int):
            value = as_value(data[0], dtype)
            if dtype is None and value.dtype.kind in "iub" and not isinstance(data[0], ndarray):
                value = value.astype(dtypes.get_default_dtype())  # torch.Tensor is float
        elif all(isinstance(d, int) for d in data):  # torch.Tensor(2, 3): a shape
            value = np.zeros(shape_arg(data), dtypes.to_numpy_dtype(dtype) if dtype is not None
                             else dtypes.get_default_dtype())
        else:
            raise TypeError("Tensor(data) or Tensor(*sizes)")
        self._value = value
        self._grad = None
        self.grad_fn = None
        self._counter = None
        self._extra = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # -- autograd state -------------------------------------------------------------------------
    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def grad(self) -> Tensor | None:
        if self.grad_fn is not None and not (self._extra and self._extra.retains_grad):
            warnings.warn("The .grad attribute of a Tensor that is not a leaf Tensor is being "
                          "accessed. Its .grad attribute won't be populated during backward(). "
                          "If you indeed want the gradient for a non-leaf Tensor, call "
                          ".retain_grad() on it before backward().", UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                value = Tensor(value)
            if value._value.shape != self._value.shape:
                raise RuntimeError(f"assigned grad has shape {value.shape}, but the tensor has "
                                   f"shape {self.shape}")
        self._grad = value

    @property
    def retains_grad(self) -> bool:
        return bool(self._extra and self._extra.retains_grad)

    @property
    def _version(self) -> int:
        return version_counter(self)[0]

    @property
    def _base(self) -> Tensor | None:
        return self._extra.base if self._extra is not None else None

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if not self.is_leaf:
            if requires_grad:
                return self
            raise RuntimeError("you can only change requires_grad flags of leaf variables; "
                               "use .detach() to get a leaf that does not require grad")
        if requires_grad and self._value.dtype.kind not in "fc":
            raise RuntimeError(f"only tensors of floating point and complex dtype can require "
                               f"gradients, "
                               f"got {self._value.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        from .backward import retain

        retain(self)

    def register_hook(self, hook: Callable) -> Any:
        """Call hook(grad) when backward() computes this tensor's gradient; a returned tensor
        replaces the gradient."""
        from .backward import register_hook

        return register_hook(self, hook)

    def detach(self) -> Tensor:
        """A tensor sharing this one's storage and version counter, outside the graph."""
        return _alias(self, make_tensor(self._value, None, version_counter(self)))

    def detach_(self) -> Tensor:
        if self._extra is not None and self._extra.base is not None:
            raise RuntimeError("can't detach_() a view; use detach()")
        version_counter(self)  # (shared with grad_fn's check of its output, which it keeps)
        self.grad_fn = None
        self.requires_grad = False
        return self

    @property
    def data(self) -> Tensor:
        """A tensor sharing this one's storage, outside the graph, whose in-place changes are
        not seen by autograd's version checks (PyTorch's .data)."""
        return _alias(self, make_tensor(self._value))

    @data.setter
    def data(self, value: Any) -> None:
        self._value = value._value if isinstance(value, Tensor) else as_value(value, None)

    def backward(self, gradient: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: Any = None) -> None:
        engine = _backward_module()
        if gradient is None and inputs is None and not create_graph and \
                engine.backward_of_scalar(self, bool(retain_graph)):
            return
        engine.backward([self], None if gradient is None else [gradient], retain_graph,
                        create_graph, inputs)

    # -- values ---------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return Size(self._value.shape)

    def size(self, dim: int | None = None) -> Any:
        return Size(self._value.shape) if dim is None else self._value.shape[dim]

    @property
    def dtype(self) -> np.dtype:
        return self._value.dtype

    @property
    def device(self) -> str:
        return device("cpu")

    is_cuda = False
    layout = "strided"

    @property
    def ndim(self) -> int:
        return self._value.ndim

    def dim(self) -> int:
        return self._value.ndim

    ndimension = dim

    def numel(self) -> int:
        return int(self._value.size)

    nelement = numel

    def element_size(self) -> int:
        return self._value.dtype.itemsize

    def is_floating_point(self) -> bool:
        return self._value.dtype.kind == "f"

    def is_contiguous(self) -> bool:
        return bool(_layout(self).flags.c_contiguous)

    def stride(self, dim: int | None = None) -> Any:
        strides = tuple(s // self._value.itemsize for s in self._value.strides)
        return strides if dim is None else strides[dim]

    def data_ptr(self) -> int:
        return self._value.__array_interface__["data"][0]

    def numpy(self, force: bool = False) -> ndarray:
        """The values as a NumPy array sharing this tensor's storage (also on a tensor that
        requires grad: the values are read, nothing is recorded)."""
        return concrete_value(self, ".numpy()")

    def item(self) -> Any:
        value = concrete_value(self, ".item()")
        if value.size != 1:
            raise ValueError(f"item(): a Tensor with {value.size} elements cannot be "
                             "converted to a Python scalar")
        return value.item()

    def tolist(self) -> Any:
        return concrete_value(self, ".tolist()").tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> ndarray:
        if self.requires_grad:
            raise RuntimeError("Can't convert a Tensor that requires grad to a NumPy array: "
                               "NumPy would drop its gradient. Use tensor.detach().numpy() "
                               "for the values, or dualjit's functions to keep the gradient.")
        value = concrete_value(self, "conversion to a NumPy array")
        return value if dtype is None else value.astype(dtype)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        # ndarray (op) Tensor lands here: let the Tensor operator record it.
        operator = _GRAD_UFUNC_OPERATORS.get(ufunc)
        if method == "__call__" and operator is not None and not kwargs and len(inputs) == 2:
            x, y = inputs
            if isinstance(x, Tensor):
                return getattr(x, operator[0])(y)
            return getattr(y, operator[1])(x)
        return _numpy_on_tensors(f"numpy.{ufunc.__name__}", ufunc if method == "__call__"
                                 else getattr(ufunc, method), inputs, kwargs, wrap=True)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        name = f"{func.__module__.split('.')[0]}.{func.__name__}"
        return _numpy_on_tensors(name, func, args, kwargs, wrap=False)

    def __len__(self) -> int:
        if self._value.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._value)

    def __iter__(self):
        if self._value.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self._value)))

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._value.dtype.kind not in "iu" or self._value.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an "
                            "index")
        return int(self.item())

    def __bool__(self) -> bool:
        value = concrete_value(self, "bool()")
        if value.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with {value.size} elements is "
                               "ambiguous")
        return bool(value)

    def __repr__(self) -> str:
        if isinstance(self._value, Tracer):
            return f"tensor(<traced {self._value.aval}>)"
        body = np.array2string(self._value, separator=", ", prefix="tensor(")
        extras = []
        if self._value.dtype not in (dtypes.get_default_dtype(), np.int64, np.bool_) or (
                self._value.size == 0 and self._value.dtype != np.float32):
            extras.append(f"dtype=dualjit.{self._value.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    __hash__ = object.__hash__

    def __deepcopy__(self, memo: dict) -> Tensor:
        if self.grad_fn is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) "
                               "support the deepcopy protocol")
        out = type(self).__new__(type(self))
        Tensor.__init__(out, self._value.copy())
        out.requires_grad = self.requires_grad
        if self._grad is not None:
            out._grad = make_tensor(self._grad._value.copy())
        memo[id(self)] = out
        return out

    def __reduce_ex__(self, protocol: int):
        return (_rebuild, (self._value, self.requires_grad))

    # -- conversions ----------------------------------------------------------------------------
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """to(dtype), to(device), to(device, dtype), to(other): a copy only when the dtype
        changes (the only device is the CPU)."""
        dtype = kwargs.get("dtype")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, (np.dtype, type)) or (isinstance(a, str) and a not in (
                    "cpu",) and not a.startswith("cpu")):
                dtype = a
            else:
                check_device(a)
        if "device" in kwargs:
            check_device(kwargs["device"])
        if dtype is None:
            return self
        return self.type(dtype)

    def type(self, dtype: Any = None) -> Any:
        if dtype is None:
            return f"dualjit.{self._value.dtype}Tensor"
        d = dtypes.to_numpy_dtype(dtype)
        if d == self._value.dtype:
            return self
        return apply_op("ToCopyBackward", A.astype, [self], (("dtype", d),),
                        fast=A.np_astype)

    def type_as(self, other: Tensor) -> Tensor:
        return self.type(other.dtype)

    def float(self) -> Tensor:
        return self.type(dtypes.float32)

    def double(self) -> Tensor:
        return self.type(dtypes.float64)

    def long(self) -> Tensor:
        return self.type(dtypes.int64)

    def int(self) -> Tensor:
        return self.type(dtypes.int32)

    def bool(self) -> Tensor:
        return self.type(dtypes.bool_)

    def cpu(self) -> Tensor:
        return self

    def cuda(self, *args: Any, **kwargs: Any) -> Tensor:
        raise RuntimeError("dualjit runs on the CPU only; there is no CUDA device")

    def contiguous(self, memory_format: Any = None) -> Tensor:
        if _layout(self).flags.c_contiguous:
            return self
        return apply_op("CloneBackward", A.identity, [self], fast=np.ascontiguousarray)

    def clone(self, memory_format: Any = None) -> Tensor:
        return apply_op("CloneBackward", A.identity, [self], fast=A.np_clone)

    def pin_memory(self) -> Tensor:
        return self

    def share_memory_(self) -> Tensor:
        return self

    # -- arithmetic operators -------------------------------------------------------------------
    __add__ = binary_method("AddBackward", jnp.add, np.add)
    __radd__ = binary_method("AddBackward", jnp.add, np.add, reflected=True)
    __sub__ = binary_method("SubBackward", jnp.subtract, np.subtract)
    __rsub__ = binary_method("SubBackward", jnp.subtract, np.subtract, reflected=True)
    __mul__ = binary_method("MulBackward", jnp.multiply, np.multiply)
    __rmul__ = binary_method("MulBackward", jnp.multiply, np.multiply, reflected=True)
    __truediv__ = binary_method("DivBackward", jnp.divide, np.true_divide)
    __rtruediv__ = binary_method("DivBackward", jnp.divide, np.true_divide, reflected=True)

    def __floordiv__(self, other):
        return binary_op("FloorDivideBackward", R.floor_divide, R.np_floor_divide, self,
                         other)

    def __rfloordiv__(self, other):
        return binary_op("FloorDivideBackward", R.floor_divide, R.np_floor_divide, self,
                         other, reflected=True)

    def __mod__(self, other):
        return binary_op("RemainderBackward", R.remainder, R.np_remainder, self, other)

    def __rmod__(self, other):
        return binary_op("RemainderBackward", R.remainder, R.np_remainder, self, other,
                         reflected=True)

    def __matmul__(self, other):
        if not isinstance(other, Tensor):
            other = as_tensor_arg(other, "matmul operand")
        return binary_op("MatmulBackward", jnp.matmul, A.np_matmul, self, other)

    def __rmatmul__(self, other):
        return as_tensor_arg(other, "matmul operand") @ self

    def __pow__(self, exponent):
        if isinstance(exponent, bool) and self._value.dtype == np.bool_:  # (bool, as PyTorch)
            return self.clone() if exponent else self.logical_or(self.logical_not())
        if isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
            params, fast = A.pow_rule(exponent, self._value.dtype)
            if self._extra is None and type(self._value) is ndarray:  # (apply_op's test)
                return _unary_op("PowBackward", A.power_by, self, params, fast, True)
            return apply_op("PowBackward", A.power_by, [self], params, fast=fast, bound=True)
        return binary_op("PowBackward", R.power, R.np_power, self, exponent)

    def __rpow__(self, base):
        return binary_op("PowBackward", R.power, R.np_power, self, base, reflected=True)

    def __neg__(self):
        if self._value.dtype == np.bool_:
            raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported; "
                               "use the `~` or logical_not() operator instead")
        return apply_op("NegBackward", jnp.negative, [self], fast=np.negative)

    def __pos__(self):
        return self

    def __abs__(self):
        return self.abs()

    def __invert__(self):
        if self._value.dtype != np.bool_:
            return apply_op("BitwiseNot", jnp.invert, [self], fast=np.invert)
        return apply_op("LogicalNot", jnp.logical_not, [self], fast=np.logical_not)

    def __and__(self, other):
        return _logical(self, other, jnp.bitwise_and, np.bitwise_and)

    __rand__ = __and__

    def __or__(self, other):
        return _logical(self, other, jnp.bitwise_or, np.bitwise_or)

    __ror__ = __or__

    def __xor__(self, other):
        return _logical(self, other, jnp.bitwise_xor, np.bitwise_xor)

    __rxor__ = __xor__

    # -- comparisons (never recorded: their values are bool) ------------------------------------
    def __lt__(self, other):
        return _compare(self, other, jnp.less, np.less)

    def __le__(self, other):
        return _compare(self, other, jnp.less_equal, np.less_equal)

    def __gt__(self, other):
        return _compare(self, other, jnp.greater, np.greater)

    def __ge__(self, other):
        return _compare(self, other, jnp.greater_equal, np.greater_equal)

    def __eq__(self, other):
        return _compare(self, other, jnp.equal, np.equal)

    def __ne__(self, other):
        return _compare(self, other, jnp.not_equal, np.not_equal)

    lt, le, gt, ge, eq, ne = __lt__, __le__, __gt__, __ge__, __eq__, __ne__
    less, less_equal, greater, greater_equal, not_equal = lt, le, gt, ge, ne

    def equal(self, other: Tensor) -> bool:
        a, b = self._value, other._value
        if type(a) is ndarray and type(b) is ndarray:  # (np.array_equal's test, ~2 us less)
            return a.shape == b.shape and bool((a == b).all())
        return self.shape == other.shape and bool(np.array_equal(a, b))

    def allclose(self, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8,
                 equal_nan: bool = False) -> bool:
        return bool(np.allclose(self._value, _unwrap(other), rtol, atol, equal_nan))

    def isclose(self, other: Any, rtol: float = 1e-5, atol: float = 1e-8,
                equal_nan: bool = False) -> Tensor:
        return make_tensor(np.isclose(self._value, _unwrap(other), rtol, atol, equal_nan))

    def logical_not(self) -> Tensor:
        return make_tensor(np.logical_not(concrete_value(self, "logical_not")))

    def logical_and(self, other: Any) -> Tensor:
        return make_tensor(np.logical_and(self._value, _unwrap(other)))

    def logical_or(self, other: Any) -> Tensor:
        return make_tensor(np.logical_or(self._value, _unwrap(other)))

    def logical_xor(self, other: Any) -> Tensor:
        return make_tensor(np.logical_xor(self._value, _unwrap(other)))

    def isnan(self) -> Tensor:
        return apply_op("IsNan", jnp.isnan, [self], fast=np.isnan)

    def isinf(self) -> Tensor:
        return apply_op("IsInf", jnp.isinf, [self], fast=np.isinf)

    def isfinite(self) -> Tensor:
        return apply_op("IsFinite", jnp.isfinite, [self], fast=np.isfinite)

    def any(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return apply_op("Any", jnp.any, [self], (("axis", _dim(dim)), ("keepdims", keepdim)),
                        fast=np.any)

    def all(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return apply_op("All", jnp.all, [self], (("axis", _dim(dim)), ("keepdims", keepdim)),
                        fast=np.all)

    # -- named arithmetic -----------------------------------------------------------------------
    def add(self, other, alpha=1):
        return self + (other * alpha if alpha != 1 else other)

    def sub(self, other, alpha=1):
        return self - (other * alpha if alpha != 1 else other)

    subtract = sub

    def mul(self, other):
        return self * other

    multiply = mul

    def div(self, other, rounding_mode: str | None = None):
        if rounding_mode is None:
            return self / other
        if rounding_mode == "floor":
            return self // other
        if rounding_mode == "trunc":
            if dtypes.result_type(self, other).kind in "iu":
                # (exactly, in the promoted integer dtype: through floats, int64 values
                # beyond 2**53 lost digits; a - fmod(a, b) is a multiple of b)
                return (self - self.fmod(other)) // other
            return (self / other).trunc()
        raise ValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', "
                         f"got {rounding_mode!r}")

    divide = true_divide = div

    def floor_divide(self, other):
        return self // other

    def remainder(self, other):
        return self % other

    def fmod(self, other):
        return binary_op("FmodBackward", jnp.fmod, R.np_fmod, self, other)

    def pow(self, exponent):
        return self ** exponent

    def float_power(self, exponent):
        return self.double() ** (exponent.double() if isinstance(exponent, Tensor) else exponent)

    def matmul(self, other):
        return self @ other

    def mm(self, other):
        if self.ndim != 2 or _ndim(other) != 2:
            raise RuntimeError(f"mm: both arguments must be 2-D, got {self.ndim}-D and "
                               f"{_ndim(other)}-D")
        return self @ other

    def bmm(self, other):
        if self.ndim != 3 or _ndim(other) != 3:
            raise RuntimeError(f"bmm: both arguments must be 3-D, got {self.ndim}-D and "
                               f"{_ndim(other)}-D")
        return self @ other

    def mv(self, vec):
        if self.ndim != 2 or _ndim(vec) != 1:  # (matmul would batch a 3-d one)
            kind = DimensionError if 0 in (self.ndim, _ndim(vec)) else ShapeError
            raise kind(f"mv: expected a matrix and a vector, got a {self.ndim}-d and a "
                       f"{_ndim(vec)}-d tensor")
        return self @ vec

    def dot(self, other):
        if self.ndim != 1 or _ndim(other) != 1:
            raise RuntimeError("1D tensors expected, but got "
                               f"{self.ndim}D and {_ndim(other)}D tensors")
        return self @ other

    inner = dot

    def outer(self, other):
        other = as_tensor_arg(other)
        if self.ndim != 1 or other.ndim != 1:  # (NumPy's outer flattens; PyTorch refuses)
            raise ShapeError(f"outer: expected two 1-d tensors, got {self.ndim}-d and "
                             f"{other.ndim}-d")
        return self.reshape(-1, 1) * other.reshape(1, -1)

    ger = outer

    def maximum(self, other):
        return binary_op("MaximumBackward", R.maximum, R.np_maximum, self, other)

    def minimum(self, other):
        return binary_op("MinimumBackward", R.minimum, R.np_minimum, self, other)

    def fmax(self, other):
        return binary_op("FmaxBackward", R.fmax, R.np_fmax, self, other)

    def fmin(self, other):
        return binary_op("FminBackward", R.fmin, R.np_fmin, self, other)

    def atan2(self, other):
        rt = dtypes.float_result(dtypes.result_type(self, other))  # (int operands: float32)
        x = self if self._value.dtype == rt else self.type(rt)
        return binary_op("Atan2Backward", jnp.arctan2, np.arctan2, x, other)

    arctan2 = atan2

    def hypot(self, other):
        return (self * self + other * other).sqrt()

    def lerp(self, end, weight):
        return self + (end - self) * weight

    def addmm(self, mat1, mat2, beta=1, alpha=1):
        if beta == 0:  # (PyTorch ignores self then, its NaN and inf included)
            from .more_functions import scaled_sum

            return scaled_sum(self, mat1 @ mat2, beta, alpha)
        return self * beta + (mat1 @ mat2) * alpha if (beta, alpha) != (1, 1) else \
            self + mat1 @ mat2

    def addcmul(self, tensor1, tensor2, value=1):
        return self + tensor1 * tensor2 * value

    def addcdiv(self, tensor1, tensor2, value=1):
        return self + tensor1 / tensor2 * value

    # -- elementwise math -----------------------------------------------------------------------
    def exp(self):
        return apply_op("ExpBackward", jnp.exp, [_float(self)], fast=np.exp)

    def exp2(self):
        return apply_op("Exp2Backward", jnp.exp2, [_float(self)], fast=np.exp2)

    def expm1(self):
        return apply_op("Expm1Backward", A.expm1, [_float(self)], fast=np.expm1)

    def log(self):
        return apply_op("LogBackward", jnp.log, [_float(self)], fast=np.log)

    def log2(self):
        return apply_op("Log2Backward", jnp.log2, [_float(self)], fast=np.log2)

    def log10(self):
        return apply_op("Log10Backward", jnp.log10, [_float(self)], fast=np.log10)

    def log1p(self):
        return apply_op("Log1pBackward", A.log1p, [_float(self)], fast=np.log1p)

    def sin(self):
        return apply_op("SinBackward", jnp.sin, [_float(self)], fast=np.sin)

    def cos(self):
        return apply_op("CosBackward", jnp.cos, [_float(self)], fast=np.cos)

    def tan(self):
        return apply_op("TanBackward", jnp.tan, [_float(self)], fast=np.tan)

    def asin(self):
        return apply_op("AsinBackward", jnp.arcsin, [_float(self)], fast=np.arcsin)

    def acos(self):
        return apply_op("AcosBackward", jnp.arccos, [_float(self)], fast=np.arccos)

    def atan(self):
        return apply_op("AtanBackward", jnp.arctan, [_float(self)], fast=np.arctan)

    arcsin, arccos, arctan = asin, acos, atan

    def sinh(self):
        return apply_op("SinhBackward", jnp.sinh, [_float(self)], fast=np.sinh)

    def cosh(self):
        return apply_op("CoshBackward", jnp.cosh, [_float(self)], fast=np.cosh)

    def tanh(self):
        return apply_op("TanhBackward", jnp.tanh, [_float(self)], fast=np.tanh)

    def asinh(self):
        return apply_op("AsinhBackward", A.asinh, [_float(self)], fast=np.arcsinh)

    def acosh(self):
        return apply_op("AcoshBackward", A.acosh, [_float(self)], fast=np.arccosh)

    def atanh(self):
        return apply_op("AtanhBackward", A.atanh, [_float(self)], fast=np.arctanh)

    arcsinh, arccosh, arctanh = asinh, acosh, atanh

    def sqrt(self):
        return apply_op("SqrtBackward", jnp.sqrt, [_float(self)], fast=np.sqrt)

    def rsqrt(self):
        return apply_op("RsqrtBackward", R.rsqrt, [_float(self)], fast=R.np_rsqrt)

    def square(self):
        return self.pow(2)  # (a bool tensor squares to int64, as PyTorch's pow)

    def reciprocal(self):
        return apply_op("ReciprocalBackward", A.reciprocal, [_float(self)],
                        fast=np.reciprocal)

    def abs(self):
        return apply_op("AbsBackward", jnp.abs, [self], fast=np.abs)

    # complex numbers (complex area); backward follows PyTorch's convention (eager/backward.py)
    def conj(self):
        if self._value.dtype.kind != "c":
            return self
        return apply_op("ConjBackward", jnp.conj, [self], fast=np.conj)

    def angle(self):
        return apply_op("AngleBackward", R.angle, [self], fast=R.np_angle)

    def is_complex(self) -> bool:
        return self._value.dtype.kind == "c"

    @property
    def real(self):
        if self._value.dtype.kind != "c":
            return self
        return apply_op("RealBackward", jnp.real, [self], fast=np.real)

    @property
    def imag(self):
        if self._value.dtype.kind != "c":
            raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")
        return apply_op("ImagBackward", jnp.imag, [self], fast=np.imag)

    absolute = abs

    def neg(self):
        return -self

    negative = neg

    def sign(self):
        if self._value.dtype == np.bool_:  # (PyTorch: a bool tensor is its own sign)
            return self.clone()
        return apply_op("SignBackward", R.sign, [self], fast=R.np_sign)

    def sgn(self):
        return self.sign()

    def signbit(self):
        return make_tensor(np.signbit(self._value))

    def floor(self):
        _real_only(self, "floor")
        if self._value.dtype.kind != "f":
            return self.clone()
        return apply_op("FloorBackward", jnp.floor, [self], fast=np.floor)

    def ceil(self):
        _real_only(self, "ceil")
        if self._value.dtype.kind != "f":
            return self.clone()
        return apply_op("CeilBackward", jnp.ceil, [self], fast=np.ceil)

    def round(self, decimals: int = 0):
        _real_only(self, "round")
        if decimals:
            scale = 10.0 ** decimals
            return (self * scale).round() / scale
        if self._value.dtype == np.bool_:  # (NumPy's round of bools is float16)
            raise DtypeNotImplementedError("round: not implemented for bool tensors")
        return apply_op("RoundBackward", jnp.round, [self], fast=np.round)

    def trunc(self):
        _real_only(self, "trunc")
        if self._value.dtype.kind != "f":
            return self.clone()
        return apply_op("TruncBackward", A.trunc, [self], fast=np.trunc)

    fix = trunc

    def frac(self):
        return self - self.trunc()

    def sigmoid(self):
        if self._value.dtype.kind == "c":  # (the IR's logistic is real: its formula)
            return 1 / (1 + (-self).exp())
        return apply_op("SigmoidBackward", nnf.sigmoid, [_float(self)], fast=nnf.np_sigmoid)

    def logit(self, eps: float | None = None):
        x = self if eps is None else self.clamp(eps, 1 - eps)
        return (x / (1 - x)).log()

    def relu(self):
        return apply_op("ReluBackward", nnf.relu, [self], fast=A.np_relu)

    def softmax(self, dim: int = -1, dtype: Any = None):
        x = self if dtype is None else self.type(dtype)
        if x._value.dtype.kind not in "fc":
            return _softmax_of_integers(x, "softmax")
        if x.ndim == 0 or x.numel() == 0:  # (PyTorch's: 0-d gives 1, empty gives empty)
            e = _float(x).unsqueeze(0).exp()
            return (e / e.sum(int(dim) if x.ndim else 0, keepdim=True)).squeeze(0) \
                if x.ndim == 0 else _float(x).exp() / _float(x).exp().sum(dim, keepdim=True)
        return apply_op("SoftmaxBackward", nnf.softmax, [x], (("axis", int(dim)),),
                        fast=nnf.np_softmax)

    def log_softmax(self, dim: int = -1, dtype: Any = None):
        x = self if dtype is None else self.type(dtype)
        if x._value.dtype.kind not in "fc":
            return _softmax_of_integers(x, "log_softmax")
        if x.ndim == 0 or x.numel() == 0:
            return x.softmax(dim).log()
        return apply_op("LogSoftmaxBackward", nnf.log_softmax, [x], (("axis", int(dim)),),
                        fast=nnf.np_log_softmax)

    def erf(self):
        return apply_op("ErfBackward", A.erf, [_float(self)], fast=_erf_kernel)

    def clamp(self, min: Any = None, max: Any = None):  # noqa: A002
        if min is None and max is None:
            raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
        _no_complex_order(self, "clamp", min, max)
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            return _clamp_by_tensors(self, min, max)
        params = (("lo", min), ("hi", max))
        dt = _clamp_dtype(self._value.dtype, min, max)
        x = self if dt == self._value.dtype else self.type(dt)
        return apply_op("ClampBackward", R.clamp_numbers, [x], params,
                        fast=R.np_clamp_numbers)

    clip = clamp

    def clamp_min(self, min):  # noqa: A002
        return self.clamp(min=min)

    def clamp_max(self, max):  # noqa: A002
        return self.clamp(max=max)

    def where(self, condition, other):
        return where(condition, self, other)

    def nan_to_num(self, nan: float = 0.0, posinf: float | None = None,
                   neginf: float | None = None):
        info = np.finfo(self._value.dtype) if self.is_floating_point() else None
        posinf = info.max if posinf is None and info is not None else posinf
        neginf = info.min if neginf is None and info is not None else neginf
        params = (("nan", nan), ("posinf", posinf), ("neginf", neginf))
        return apply_op("NanToNumBackward", A.nan_to_num, [self], params, fast=A.np_nan_to_num)

    # -- reductions -----------------------------------------------------------------------------
    def sum(self, dim: Any = None, keepdim: bool = False, dtype: Any = None):
        x = _int64_accumulator(self, dtype)
        params, fast = A.reduction_rule(False, dim, keepdim)
        if x._extra is None and type(x._value) is ndarray:  # (apply_op's test)
            out = _unary_op("SumBackward", jnp.sum, x, params, fast, True)
        else:
            out = apply_op("SumBackward", jnp.sum, [x], params, fast=fast, bound=True)
        return _in_dtype(out, x)

    def nansum(self, dim: Any = None, keepdim: bool = False):
        return self.nan_to_num(0.0, float("inf"), float("-inf")).sum(dim, keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False, dtype: Any = None):
        x = self if dtype is None else self.type(dtype)
        if x._value.dtype.kind not in "fc":
            raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be "
                               f"either a floating point or complex dtype. Got: {x.dtype}")
        params, fast = A.reduction_rule(True, dim, keepdim)
        return apply_op("MeanBackward", jnp.mean, [x], params, fast=fast, bound=True)

    def nanmean(self, dim: Any = None, keepdim: bool = False):
        keep = ~self.isnan()
        return self.nan_to_num(0.0, float("inf"), float("-inf")).sum(dim, keepdim) / \
            keep.sum(dim, keepdim)

    def prod(self, dim: Any = None, keepdim: bool = False, dtype: Any = None):
        x = _int64_accumulator(self, dtype)
        return _in_dtype(apply_op("ProdBackward", jnp.prod, [x],
                                  (("axis", _dim(dim)), ("keepdims", bool(keepdim))),
                                  fast=np.prod), x)

    def var(self, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
            correction: Any = None):
        ddof = A.correction(unbiased, correction)
        return apply_op("VarBackward", jnp.var, [_float(self)],
                        (("axis", _dim(dim)), ("ddof", ddof), ("keepdims", bool(keepdim))),
                        fast=np.var)

    def std(self, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
            correction: Any = None):
        ddof = A.correction(unbiased, correction)
        return apply_op("StdBackward", R.std, [_float(self)],
                        (("axis", _dim(dim)), ("ddof", ddof), ("keepdims", bool(keepdim))),
                        fast=np.std)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: Any = None):
        x = _float(self if dtype is None else self.type(dtype))
        if x._value.dtype.kind == "c":  # (a norm is real: that of the magnitudes)
            x = x.abs()
        if p in ("fro", 2, 2.0, None):
            return apply_op("NormBackward", A.norm2, [x],
                            (("axis", _dim(dim)), ("keepdims", bool(keepdim))), fast=A.np_norm2)
        if p == float("inf"):
            return x.abs().amax(dim, keepdim) if dim is not None else x.abs().max()
        if p == float("-inf"):
            return x.abs().amin(dim, keepdim) if dim is not None else x.abs().min()
        if p == 0:  # (recorded, as PyTorch: the result requires grad, its gradient is 0)
            from .linalg import vector_norm

            return vector_norm(x, 0, dim=dim, keepdim=keepdim)
        if p == 1:
            return x.abs().sum(dim, keepdim)
        return (x.abs() ** p).sum(dim, keepdim) ** (1.0 / p)

    def logsumexp(self, dim: Any, keepdim: bool = False):
        if self.ndim == 0 or self.numel() == 0:  # (an empty sum's log is -inf, as PyTorch)
            x = _float(self)
            return x.exp().sum(dim if x.ndim else (), keepdim).log() if x.ndim else x * 1
        return apply_op("LogsumexpBackward", nnf.logsumexp, [_float(self)],
                        (("axis", _dim(dim)), ("keepdims", bool(keepdim))))

    def amax(self, dim: Any = (), keepdim: bool = False):
        axis = None if dim == () or dim is None else _dim(dim)
        _check_reducible(self, "amax", axis)
        return apply_op("AmaxBackward", jnp.max, [self], (("axis", axis),
                                                          ("keepdims", bool(keepdim))),
                        fast=np.max)

    def amin(self, dim: Any = (), keepdim: bool = False):
        axis = None if dim == () or dim is None else _dim(dim)
        _check_reducible(self, "amin", axis)
        return apply_op("AminBackward", jnp.min, [self], (("axis", axis),
                                                          ("keepdims", bool(keepdim))),
                        fast=np.min)

    def aminmax(self, *, dim: Any = None, keepdim: bool = False):
        from .functions import aminmax

        return aminmax(self, dim=dim, keepdim=keepdim)

    def max(self, dim: Any = None, keepdim: bool = False):
        """max() of all elements, max(other) elementwise, or max(dim) as (values, indices)."""
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        _check_reducible(self, "max", dim)
        if dim is None:
            return apply_op("MaxBackward", R.max_of_all, [self], fast=np.max)
        return _select_along(self, "MaxBackward", A.np_argmax, int(dim), keepdim, "max")

    def min(self, dim: Any = None, keepdim: bool = False):
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        _check_reducible(self, "min", dim)
        if dim is None:
            return apply_op("MinBackward", R.min_of_all, [self], fast=np.min)
        return _select_along(self, "MinBackward", A.np_argmin, int(dim), keepdim, "min")

    def argmax(self, dim: Any = None, keepdim: bool = False):
        return make_tensor(_arg_index(self, "argmax", dim, keepdim))

    def argmin(self, dim: Any = None, keepdim: bool = False):
        return make_tensor(_arg_index(self, "argmin", dim, keepdim))

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        order = A.np_argsort(concrete_value(self, "sort"), int(dim), descending)
        return return_pair("sort", take_along_dim(self, order, dim), make_tensor(order))

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        return make_tensor(A.np_argsort(concrete_value(self, "argsort"), int(dim), descending))

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
        order = A.np_argsort(concrete_value(self, "topk"), int(dim), largest)
        order = np.take(order, np.arange(int(k)), axis=int(dim))
        return return_pair("topk", take_along_dim(self, order, dim), make_tensor(order))

    def kthvalue(self, k: int, dim: int = -1, keepdim: bool = False):
        order = A.np_argsort(concrete_value(self, "kthvalue"), int(dim), False)
        index = np.take(order, [int(k) - 1], axis=int(dim))
        return _selected(self, "kthvalue", index, int(dim), keepdim)

    def median(self, dim: Any = None, keepdim: bool = False):
        """The lower median (of an even count, the smaller middle value), as PyTorch."""
        if dim is None:
            flat = self.reshape(-1)
            value = concrete_value(flat, "median")
            if value.size == 0:
                return make_tensor(np.array(np.nan, value.dtype))
            return flat[A.np_median_index(value, False)]
        d = int(dim) % max(self.ndim, 1)
        value = concrete_value(self, "median")
        order = A.np_argsort(value, d, False)
        index = np.take(order, [(self.shape[d] - 1) // 2], axis=d)
        if value.dtype.kind in "fc" and self.ndim:  # (a NaN: its first, as PyTorch)
            nan = np.isnan(value)
            has_nan = nan.any(axis=d, keepdims=True)
            index = np.where(has_nan, np.argmax(nan, axis=d, keepdims=True), index)
        return _selected(self, "median", index, d, keepdim)

    def mode(self, dim: int = -1, keepdim: bool = False):
        value = concrete_value(self, "mode")
        d = int(dim) % max(self.ndim, 1)
        index = np.expand_dims(A.np_mode_index(value, d), d)
        return _selected(self, "mode", index, d, keepdim)

    def cumsum(self, dim: int, dtype: Any = None):
        x = _int64_accumulator(self, dtype)
        if x._value.dtype.kind == "c":  # (the IR's scan is real: the parts one by one)
            return complex_parts(x.real.cumsum(dim), x.imag.cumsum(dim))
        if x.ndim == 0:  # (NumPy's cumsum of a 0-d array is 1-d; PyTorch's is 0-d)
            return x.unsqueeze(0).cumsum(dim).squeeze(0)
        return apply_op("CumsumBackward", A.cumsum, [x], (("axis", int(dim)),),
                        fast=R.np_cumsum)

    def cumprod(self, dim: int, dtype: Any = None):
        x = _int64_accumulator(self, dtype)
        if x.ndim == 0:
            return x.unsqueeze(0).cumprod(dim).squeeze(0)
        return apply_op("CumprodBackward", A.cumprod, [x], (("axis", int(dim)),),
                        fast=R.np_cumprod)

    def cummax(self, dim: int):
        return A.cumulative_extreme(self, int(dim), np.maximum, "cummax")

    def cummin(self, dim: int):
        return A.cumulative_extreme(self, int(dim), np.minimum, "cummin")

    def count_nonzero(self, dim: Any = None):
        return make_tensor(np.asarray(np.count_nonzero(self._value, axis=_dim(dim)),
                                      np.int64))

    def diff(self, n: int = 1, dim: int = -1, prepend: Any = None, append: Any = None):
        from .functions import cat

        out = self
        if n == 0:  # (PyTorch: the input itself, prepend and append ignored)
            return self
        if prepend is not None or append is not None:
            parts = [p for p in (prepend, out, append) if p is not None]
            if not all(isinstance(p, Tensor) for p in parts):
                raise TypeError("diff(): prepend and append must be tensors")
            out = cat(parts, dim)
        for _ in range(n):
            later, earlier = out.narrow(dim, 1, out.shape[dim] - 1), \
                out.narrow(dim, 0, out.shape[dim] - 1)
            out = later != earlier if out.dtype == np.bool_ else later - earlier  # (PyTorch: xor)
        return out

    def trace(self):
        return self.diagonal().sum()

    # -- shapes ---------------------------------------------------------------------------------
    def view(self, *shape: Any):
        if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list, Size)):
            return self.type(shape[0])  # view(dtype)
        shape = shape_arg(shape)
        if not _layout(self).flags.c_contiguous:
            raise RuntimeError("view size is not compatible with input tensor's size and "
                               "stride (at least one dimension spans across two contiguous "
                               "subspaces). Use .reshape(...) instead.")
        return apply_op("ViewBackward", jnp.reshape, [self], (("newshape", shape),),
                        fast=A.np_reshape, view=True)

    def reshape(self, *shape: Any):
        return apply_op("ReshapeBackward", jnp.reshape, [self],
                        (("newshape", shape_arg(shape)),), fast=A.np_reshape, view=True)

    def view_as(self, other: Tensor):
        return self.view(other.shape)

    def reshape_as(self, other: Tensor):
        return self.reshape(other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        shape = self.shape
        if not shape:
            return self.reshape(1)
        start, end = start_dim % len(shape), end_dim % len(shape)
        if start == end:  # (nothing to flatten: PyTorch returns the tensor itself)
            return self
        if start > end:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after "
                               f"end_dim (got {start_dim} and {end_dim})")
        new = shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:]
        return self.reshape(new)

    def unflatten(self, dim: int, sizes: Sequence[int]):
        d = dim % self.ndim
        return self.reshape(self.shape[:d] + tuple(sizes) + self.shape[d + 1:])

    def ravel(self):
        return self.reshape(-1)

    def squeeze(self, dim: Any = None):
        if dim is None:
            axis = tuple(i for i, n in enumerate(self.shape) if n == 1)
        else:
            dims = (dim,) if isinstance(dim, int) else tuple(dim)
            axis = tuple(d % max(self.ndim, 1) for d in dims if self.ndim and
                         self.shape[d % self.ndim] == 1)
        if not axis:
            return apply_op("SqueezeBackward", A.identity, [self], fast=A.np_view, view=True)
        return apply_op("SqueezeBackward", jnp.squeeze, [self], (("axis", axis),),
                        fast=np.squeeze, view=True)

    def unsqueeze(self, dim: int):
        d = int(dim)
        if d < 0:
            d += self.ndim + 1
        return apply_op("UnsqueezeBackward", jnp.expand_dims, [self], (("axis", d),),
                        fast=np.expand_dims, view=True)

    def transpose(self, dim0: int, dim1: int):
        return apply_op("TransposeBackward", jnp.swapaxes, [self],
                        (("axis1", int(dim0)), ("axis2", int(dim1))), fast=np.swapaxes,
                        view=True)

    swapaxes = swapdims = transpose

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is "
                               f"{self.ndim}D")
        return apply_op("TBackward", jnp.transpose, [self], fast=np.transpose, view=True)

    @property
    def T(self):
        return apply_op("PermuteBackward", jnp.transpose, [self], fast=np.transpose, view=True)

    @property
    def mT(self):
        return self.transpose(-2, -1)

    def permute(self, *args: Any, dims: Any = None):
        dims = _dims_given("permute", args, dims)
        return apply_op("PermuteBackward", jnp.transpose, [self], (("axes", shape_arg(dims)),),
                        fast=np.transpose, view=True)

    def movedim(self, source: Any, destination: Any):
        return apply_op("MovedimBackward", jnp.moveaxis, [self],
                        (("source", _dim(source)), ("destination", _dim(destination))),
                        fast=np.moveaxis, view=True)

    moveaxis = movedim

    def expand(self, *sizes: Any):
        sizes = shape_arg(sizes)
        shape = A.expanded_shape(self.shape, sizes)
        return apply_op("ExpandBackward", jnp.broadcast_to, [self], (("shape", shape),),
                        fast=A.np_expand, view=True)

    def expand_as(self, other: Tensor):
        return self.expand(other.shape)

    def broadcast_to(self, shape: Any):
        return self.expand(shape)

    def repeat(self, *sizes: Any):
        reps = shape_arg(sizes)
        if len(reps) < self.ndim:
            raise RuntimeError("Number of dimensions of repeat dims can not be smaller than "
                               "number of dimensions of tensor")
        return apply_op("RepeatBackward", jnp.tile, [self], (("reps", reps),), fast=np.tile)

    def tile(self, *dims: Any):
        return apply_op("TileBackward", jnp.tile, [self], (("reps", shape_arg(dims)),),
                        fast=np.tile)

    def repeat_interleave(self, repeats: Any, dim: int | None = None):
        if isinstance(repeats, Tensor):
            repeats = repeats._value
        x = self.reshape(-1) if dim is None else self
        axis = 0 if dim is None else int(dim) % x.ndim
        index = np.repeat(np.arange(x.shape[axis]), repeats)
        return x.index_select(axis, index)

    def flip(self, *args: Any, dims: Any = None):
        dims = _dims_given("flip", args, dims)
        return apply_op("FlipBackward", jnp.flip, [self], (("axis", shape_arg(dims)),),
                        fast=np.flip)

    def fliplr(self):
        return self.flip(1)

    def flipud(self):
        return self.flip(0)

    def roll(self, shifts: Any, dims: Any = None):
        return apply_op("RollBackward", A.roll, [self],
                        (("shift", _dim(shifts)), ("axis", _dim(dims))), fast=np.roll)

    def narrow(self, dim: int, start: int, length: int):
        d = int(dim) % self.ndim
        start = int(start) % self.shape[d] if start < 0 else int(start)
        key = (slice(None),) * d + (slice(start, start + int(length)),)
        return self[key]

    def select(self, dim: int, index: int):
        d = int(dim) % self.ndim
        return self[(slice(None),) * d + (int(index),)]

    def unbind(self, dim: int = 0):
        if not -self.ndim <= int(dim) < max(self.ndim, 1):
            raise DimensionError(f"unbind: dimension {dim} is out of range for a "
                                 f"{self.ndim}-d tensor")
        d = int(dim) % max(self.ndim, 1)
        if type(self._value) is ndarray and not (self.requires_grad and _grad_mode.enabled):
            return _unbound_views(self, d)
        return tuple(self.select(d, i) for i in range(self.shape[d]))

    def split(self, split_size: Any, dim: int = 0):
        d = int(dim) % self.ndim
        n = self.shape[d]
        sizes = [split_size] * (n // split_size) + ([n % split_size] if n % split_size else []) \
            if isinstance(split_size, int) else list(split_size)
        if not sizes and n == 0:
            sizes = [0]  # (a size-0 dimension splits into one empty piece, as in PyTorch)
        if sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} "
                               f"(input tensor's size at dimension {d}), but got "
                               f"split_sizes={sizes}")
        starts = np.cumsum([0] + sizes[:-1])
        return tuple(self.narrow(d, int(s), int(k)) for s, k in zip(starts, sizes))

    def chunk(self, chunks: int, dim: int = 0):
        n = self.shape[int(dim)]
        size = -(-n // int(chunks))
        # (a size-0 dimension gives `chunks` empty pieces, as in PyTorch)
        return self.split(size, dim) if n else self.split([0] * int(chunks), dim)

    def tensor_split(self, sections: Any, dim: int = 0):
        d = int(dim) % self.ndim
        return tuple(self[(slice(None),) * d + (slice(a, b),)]
                     for a, b in A.split_bounds(self.shape[d], sections))

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1):
        return apply_op("DiagonalBackward", A.diagonal, [self],
                        (("offset", int(offset)), ("axis1", int(dim1)), ("axis2", int(dim2))),
                        fast=A.np_diagonal, view=True)

    def diag(self, diagonal: int = 0):
        if self.ndim == 1:
            return apply_op("DiagBackward", A.diag_embed, [self], (("k", int(diagonal)),),
                            fast=A.np_diag)
        return self.diagonal(diagonal).clone()  # (a copy, unlike diagonal's view)

    def tril(self, diagonal: int = 0):
        _check_matrices(self, "tril")
        return apply_op("TrilBackward", A.tril, [self], (("k", int(diagonal)),), fast=np.tril)

    def triu(self, diagonal: int = 0):
        _check_matrices(self, "triu")
        return apply_op("TriuBackward", A.triu, [self], (("k", int(diagonal)),), fast=np.triu)

    # -- indexing -------------------------------------------------------------------------------
    def __getitem__(self, key):
        whole = _zero_d_mask(key)
        if whole is not None:  # (a new leading axis: of size 1 for True, 0 for False)
            return self.unsqueeze(0) if whole else self.unsqueeze(0)[0:0]
        spec, arrays, np_key = A.split_index(key, self.ndim)
        basic = not arrays
        return apply_op("IndexBackward" if not basic else "SliceBackward", A.getitem,
                        [self, *arrays], (("spec", spec),), fast=A.np_getitem, view=basic)

    def __setitem__(self, key, value):
        whole = _zero_d_mask(key)
        if whole is not None:  # (True: every element; False: none)
            if whole:
                self[...] = value
            return
        if isinstance(key, Tensor) and key.dtype == np.bool_ and key.shape == self.shape and \
                not (isinstance(value, Tensor) and value.ndim) and _aliased_dims(self):
            self.masked_fill_(key, value)  # (an expanded tensor: PyTorch allows a mask)
            return
        spec, arrays, np_key = A.split_index(key, self.ndim)
        if type(self._value) is ndarray and not self._value.flags.writeable and \
                not self._value[np_key].size:  # (an expanded tensor, no element written:
            return                             # PyTorch allows it)
        if isinstance(value, Tensor):
            if value.dtype != self.dtype:
                value = value.type(self.dtype)
        elif isinstance(value, (int, float, bool)):
            value = np.asarray(_scalar_operand(value, self._value), self._value.dtype)
        else:
            value = as_tensor_arg(value).type(self.dtype)
        recording = _grad_mode.enabled and (self.requires_grad or (
            isinstance(value, Tensor) and value.requires_grad))
        if not recording and type(self._value) is ndarray:
            _check_inplace(self)
            if self._extra is not None and self._extra.base is not None:
                _sync_view(self)
            if not self._value.flags.writeable:
                write_storage(self, self._value)  # (raises the read-only error)
            try:
                if self._value.size:  # (an empty expanded tensor is read-only: nothing to write)
                    self._value[np_key] = _unwrap(value)
            except ValueError as e:  # (shapes that do not fit: PyTorch's RuntimeError)
                raise torch_error(e) from None
            bump_version(self)
            return
        positions = np.arange(self._value.size).reshape(self._value.shape)[np_key]
        index = A.placement_index(positions, self._value.size)
        inplace_op(self, "IndexPutBackward", A.place, [value, index],
                   (("positions_shape", positions.shape),), fast=A.np_place)

    def index_select(self, dim: int, index: Any):
        idx = _index_values(index)
        return apply_op("IndexSelectBackward", A.take, [self, idx], (("axis", int(dim)),),
                        fast=A.np_take)

    def gather(self, dim: int, index: Any):
        return take_along_dim(self, _index_values(index), dim)

    def take(self, index: Any):
        return self.reshape(-1).index_select(0, _index_values(index).reshape(-1)).reshape(
            np.shape(_index_values(index)))

    def masked_select(self, mask: Any):
        m = _bool_values(mask)
        x, m = (self, m) if m.shape == self.shape else (self.expand(
            np.broadcast_shapes(self.shape, m.shape)), np.broadcast_to(
                m, np.broadcast_shapes(self.shape, m.shape)))
        return x[m]

    def masked_fill(self, mask: Any, value: Any):
        m = _bool_values(mask)
        fill = value if isinstance(value, Tensor) else _scalar_operand(value, self._value)
        return where(make_tensor(m), fill, self)

    def nonzero(self, as_tuple: bool = False):
        found = np.nonzero(concrete_value(self, "nonzero"))
        if as_tuple:
            return tuple(make_tensor(i.astype(np.int64)) for i in found)
        return make_tensor(np.stack(found, axis=1).astype(np.int64))

    def scatter(self, dim: int, index: Any, src: Any = None, value: Any = None,
                reduce: str | None = None):
        return self.clone().scatter_(dim, index, src if src is not None else value, reduce)

    def scatter_add(self, dim: int, index: Any, src: Any):
        return self.clone().scatter_add_(dim, index, src)

    def index_add(self, dim: int, index: Any, source: Any, alpha: Any = 1):
        return self.clone().index_add_(dim, index, source, alpha=alpha)

    def index_fill(self, dim: int, index: Any, value: Any):
        return self.clone().index_fill_(dim, index, value)

    def index_copy(self, dim: int, index: Any, source: Any):
        return self.clone().index_copy_(dim, index, source)

    def put(self, index: Any, source: Any, accumulate: bool = False):
        return self.clone().put_(index, source, accumulate)

    # -- in-place operations --------------------------------------------------------------------
    __iadd__ = inplace_method("AddBackward", jnp.add, np.add)
    __isub__ = inplace_method("SubBackward", jnp.subtract, np.subtract)
    __imul__ = inplace_method("MulBackward", jnp.multiply, np.multiply)
    __itruediv__ = inplace_method("DivBackward", jnp.divide, np.true_divide)

    def __ipow__(self, other):
        if isinstance(other, (int, float)) and not isinstance(other, bool) and \
                self._value.dtype.kind == "f":
            return inplace_op(self, "PowBackward", A.power_by, [],
                              (("exponent", other), ("dtype", None)), fast=A.np_power_by)
        return inplace_op(self, "PowBackward", R.power, [weak_operand(other, self._value)],
                          fast=R.np_power)

    def add_(self, other, alpha=1):
        return self.__iadd__(other * alpha if alpha != 1 else other)

    def sub_(self, other, alpha=1):
        if _bool_operand(self, other):
            raise DtypeError("Subtraction, the `-` operator, with a bool tensor is not "
                             "supported; use the `~` or logical_not() operator to invert a mask")
        return self.__isub__(other * alpha if alpha != 1 else other)

    def mul_(self, other):
        return self.__imul__(other)

    def div_(self, other, rounding_mode: str | None = None):
        if rounding_mode is not None:
            return self.copy_(self.div(other, rounding_mode=rounding_mode))
        return self.__itruediv__(other)

    def pow_(self, exponent):
        return self.__ipow__(exponent)

    def addcmul_(self, tensor1, tensor2, value=1):
        return self.add_(tensor1 * tensor2 * value if value != 1 else tensor1 * tensor2)

    def addcdiv_(self, tensor1, tensor2, value=1):
        return self.add_(tensor1 / tensor2 * value if value != 1 else tensor1 / tensor2)

    def lerp_(self, end, weight):
        return self.add_((end - self) * weight)

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        if _aliased_dims(self):  # (an expanded tensor: PyTorch fills it, each location once)
            return _fill_locations(self, None, value)
        v = value if isinstance(value, Tensor) else _scalar_operand(value, self._value)
        return inplace_op(self, "FillBackward", A.fill_like, [v], fast=A.np_fill_like)

    def copy_(self, src, non_blocking: bool = False):
        s = src if isinstance(src, Tensor) else as_tensor_arg(src)
        if s.dtype != self.dtype:
            s = s.type(self.dtype)
        return inplace_op(self, "CopyBackwards", A.copy_from, [s], fast=A.np_copy_from)

    def clamp_(self, min=None, max=None):  # noqa: A002
        if min is None and max is None:
            raise RuntimeError("clamp_: at least one of 'min' or 'max' must not be None")
        _no_complex_order(self, "clamp_", min, max)
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            return _clamp_by_tensors(self, min, max, in_place=True)
        dt = _clamp_dtype(self._value.dtype, min, max)
        if dt != self._value.dtype:  # (a float bound of an integer tensor was truncated)
            raise DtypeError(f"clamp_: result type {dt} can't be cast to the desired output "
                             f"type {self._value.dtype}")
        return inplace_op(self, "ClampBackward", R.clamp_numbers, [], (("lo", min), ("hi", max)),
                          fast=R.np_clamp_numbers)

    clip_ = clamp_

    def clamp_min_(self, min):  # noqa: A002
        return self.clamp_(min=min)

    def clamp_max_(self, max):  # noqa: A002
        return self.clamp_(max=max)

    def masked_fill_(self, mask, value):
        if _aliased_dims(self) and not (isinstance(value, Tensor) and value.ndim):
            # (an expanded tensor, as PyTorch: a location takes the value when the mask
            # selects any of the elements that share it)
            m = concrete_value(as_tensor_arg(mask, "masked_fill_ mask"), "masked_fill_")
            return _fill_locations(self, np.broadcast_to(m, self._value.shape), value)
        return self.copy_(self.masked_fill(mask, value))

    def index_add_(self, dim: int, index: Any, source: Any, alpha: Any = 1):
        idx = _index_values(index)
        if type(idx) is ndarray and idx.size and self.ndim:  # (PyTorch refuses negative
            # indices here; the recorded derivative read them at the wrong place)
            size = self.shape[int(dim)]
            if idx.min() < 0 or idx.max() >= size:
                raise IndexRangeError(f"index_add_: index out of range [0, {size}) along "
                                      f"dimension {dim}")
        src = source * alpha if alpha != 1 else source
        src = as_tensor_arg(src)
        return inplace_op(self, "IndexAddBackward", A.index_add, [src, idx],
                          (("axis", int(dim)),), fast=A.np_index_add)

    def index_fill_(self, dim: int, index: Any, value: Any):
        d = int(dim) % self.ndim
        key = (slice(None),) * d + (_index_values(index),)
        self[key] = value
        return self

    def index_copy_(self, dim: int, index: Any, source: Any):
        d = int(dim) % self.ndim
        self[(slice(None),) * d + (_index_values(index),)] = source
        return self

    def scatter_add_(self, dim: int, index: Any, src: Any):
        idx = _index_values(index)
        src = as_tensor_arg(src)
        return inplace_op(self, "ScatterAddBackward", A.scatter_add_along, [src, idx],
                          (("axis", int(dim)),), fast=A.np_scatter_add_along)

    def scatter_(self, dim: int, index: Any, src: Any = None, value: Any = None,
                 reduce: str | None = None):
        if src is None:
            src = value
        idx = _index_values(index)
        if reduce == "add":
            return self.scatter_add_(dim, idx, src if isinstance(src, Tensor) else
                                     full_like(make_tensor(idx), src, dtype=self.dtype))
        if reduce is not None:
            raise NotImplementedError(f"scatter_: reduce={reduce!r} is not supported (use "
                                      "'add' or None)")
        positions = A.along_positions(self.shape, idx, int(dim))
        if isinstance(src, Tensor):
            values = src[tuple(slice(0, n) for n in idx.shape)]
        else:
            values = src
        if self.is_contiguous():
            self.view(-1)[positions] = values
        else:  # (a permuted or sliced tensor: the positions as one index array per dim)
            self[tuple(np.unravel_index(np.asarray(positions), tuple(self.shape)))] = values
        return self

    def put_(self, index: Any, source: Any, accumulate: bool = False):
        flat = self.view(-1)
        idx = _index_values(index).reshape(-1)
        if type(idx) is ndarray and idx.size:  # (negative positions count from the end)
            n = flat.shape[0]
            if idx.min() < -n or idx.max() >= n:
                raise IndexRangeError(f"put_: index out of range for a tensor of {n} elements")
            idx = np.where(idx < 0, idx + n, idx)
        if accumulate:
            flat.index_add_(0, idx, as_tensor_arg(source).reshape(-1))
        else:
            flat[idx] = as_tensor_arg(source).reshape(-1)
        return self

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator: Any = None):
        from .factories import rng

        return self._fill_random(rng(generator).uniform(a, b, self.shape))

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator: Any = None):
        from .factories import rng

        return self._fill_random(rng(generator).normal(mean, std, self.shape))

    def bernoulli_(self, p: float = 0.5, generator: Any = None):
        from .factories import rng

        return self._fill_random(rng(generator).random(self.shape) < p)

    def exponential_(self, lambd: float = 1.0, generator: Any = None):
        from .factories import rng

        return self._fill_random(rng(generator).exponential(1.0 / lambd, self.shape))

    def random_(self, low: int = 0, high: int | None = None, generator: Any = None):
        from .factories import rng

        if high is None:
            low, high = 0, low if low else 2 ** 24
        return self._fill_random(rng(generator).integers(low, high, self.shape))

    def _fill_random(self, values: ndarray) -> Tensor:
        _check_inplace(self)
        write_storage(self, np.asarray(values).astype(self._value.dtype))
        return self

    # -- new tensors like this one (new_zeros, ...): this dtype unless dtype= says otherwise --
    def new_tensor(self, data: Any, *, dtype: Any = None, device: Any = None,
                   requires_grad: bool = False, **unused: Any) -> Tensor:
        """A new leaf holding a copy of data (a tensor's values are copied, detached)."""
        dtype = self._value.dtype if dtype is None else dtype
        return self._new(as_value(data, dtype), dtype, device, requires_grad)

    def new_zeros(self, *size: Any, dtype: Any = None, device: Any = None,
                  requires_grad: bool = False, **unused: Any) -> Tensor:
        return self._new(np.zeros(shape_arg(size)), dtype, device, requires_grad)

    def new_ones(self, *size: Any, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False, **unused: Any) -> Tensor:
        return self._new(np.ones(shape_arg(size)), dtype, device, requires_grad)

    def new_empty(self, *size: Any, dtype: Any = None, device: Any = None,
                  requires_grad: bool = False, **unused: Any) -> Tensor:
        return self._new(np.zeros(shape_arg(size)), dtype, device, requires_grad)

    def new_full(self, size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False, **unused: Any) -> Tensor:
        fill_value = _unwrap(fill_value)
        check_fill(fill_value, self._value.dtype if dtype is None else
                   dtypes.to_numpy_dtype(dtype), "new_full")
        return self._new(np.full(shape_arg((size,)), fill_value), dtype, device,
                         requires_grad)

    # -- more of PyTorch's properties ----------------------------------------------------------
    @property
    def mH(self):
        """The conjugate transpose of the last two dimensions."""
        return self.transpose(-2, -1).conj()

    @property
    def H(self):
        if self.ndim > 2:
            raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got "
                               f"{self.ndim}-D tensor; use .mH for a batch of matrices")
        return self.t().conj() if self.ndim == 2 else self.conj()

    @property
    def itemsize(self) -> int:
        return self._value.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return int(self._value.size) * self._value.dtype.itemsize

    def storage_offset(self) -> int:
        """Elements between the storage's start and this tensor's first element."""
        value = concrete_value(self, "storage_offset()")
        root = value
        while isinstance(root.base, ndarray):
            root = root.base
        start = root.__array_interface__["data"][0]
        return (value.__array_interface__["data"][0] - start) // value.dtype.itemsize

    def _new(self, value: ndarray, dtype: Any, device: Any, requires_grad: bool) -> Tensor:
        check_device(device)
        d = self._value.dtype if dtype is None else dtypes.to_numpy_dtype(dtype)
        t = make_tensor(np.array(value, dtype=d))
        return t.requires_grad_(True) if requires_grad else t


# ---------------------------------------------------------------------------------------------
# Helpers the Tensor class uses
# ---------------------------------------------------------------------------------------------

def _int64_accumulator(t: Tensor, dtype: Any) -> Tensor:
    """t as sum/prod/cumsum/cumprod read it: in `dtype` when given, else bool and every
    integer dtype (uint8 too) accumulate in int64, as PyTorch's."""
    if dtype is not None:
        return t.type(dtype)
    if t._value.dtype.kind in "biu" and t._value.dtype != np.int64:
        return t.long()
    return t


def _in_dtype(out: Tensor, x: Tensor) -> Tensor:
    """A sum's or product's result in its operand's dtype (NumPy's sum of a small integer
    dtype is int64; PyTorch's sum(dtype=int8) wraps around in int8)."""
    return out if out._value.dtype == x._value.dtype else out.type(x.dtype)


def complex_parts(real: Tensor, imag: Tensor) -> Tensor:
    """real + 1j * imag, recorded (gradients reach both parts)."""
    from .more_functions import complex as make_complex

    return make_complex(real, imag)


def check_fill(value: Any, dtype: np.dtype, op: str) -> None:
    """PyTorch's error for a complex fill value of a real tensor (NumPy would drop the
    imaginary part)."""
    if isinstance(value, (complex, np.complexfloating)) and dtype.kind != "c":
        raise RuntimeError(f"{op}: value {value!r} cannot be converted to type {dtype} "
                           "without overflow; give a complex dtype")


class Size(tuple):
    """A tensor's shape (torch.Size): a tuple of ints with numel()."""

    def numel(self) -> int:
        n = 1
        for d in self:
            n *= d
        return n

    def __repr__(self) -> str:
        return f"dualjit.Size({list(self)})"


class device:
    """torch.device('cpu'): the only device."""

    def __init__(self, kind: Any = "cpu", index: Any = None):
        if isinstance(kind, device):
            kind = kind.type
        check_device(kind)
        self.type = "cpu"
        self.index = None

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, device) or other == "cpu"

    def __hash__(self) -> int:
        return hash("cpu")

    def __repr__(self) -> str:
        return "device(type='cpu')"

    def __str__(self) -> str:
        return "cpu"


def check_device(d: Any) -> None:
    """Raise unless `d` names the CPU (the one device dualjit has), or is None."""
    if d is None or isinstance(d, device):
        return
    if isinstance(d, str) and (d == "cpu" or d.startswith("cpu:")):
        return
    raise RuntimeError(f"device {d!r} is not available: dualjit runs on the CPU only "
                       "(use 'cpu')")


def _rebuild(value: ndarray, requires_grad: bool) -> Tensor:
    t = make_tensor(value)
    t.requires_grad = requires_grad
    return t


def _unwrap(x: Any) -> Any:
    return x._value if isinstance(x, Tensor) else x


def _ndim(x: Any) -> int:
    return x.ndim if isinstance(x, Tensor) else np.ndim(x)


def _bool_operand(t: Tensor, other: Any) -> bool:
    """Whether a subtraction has a bool operand (PyTorch refuses them all)."""
    return t._value.dtype == np.bool_ or isinstance(other, bool) or (
        isinstance(other, Tensor) and other._value.dtype == np.bool_)


def _check_matrices(x: Tensor, name: str) -> None:
    if x.ndim < 2:  # (NumPy's tril/triu make a 1-d input a matrix)
        raise ShapeError(f"{name}: input tensor must have at least 2 dimensions, got "
                         f"{x.ndim}")


def _zero_d_mask(key: Any) -> bool | None:
    """The value of a 0-d boolean tensor used as the whole index, else None."""
    if isinstance(key, Tensor) and type(key._value) is ndarray and key._value.ndim == 0 and \
            key._value.dtype == np.bool_:
        return bool(key._value)
    return None


def _softmax_of_integers(x: Tensor, name: str) -> Tensor:
    """PyTorch has no softmax of integer or bool tensors; an empty one passes (its dtype)."""
    if x.numel():
        raise DtypeNotImplementedError(
            f"{name}: not implemented for {x.dtype} tensors; pass dtype=dualjit.float32 or "
            "convert the input with .float()")
    return x.clone()


def _clamp_by_tensors(x: Tensor, lo: Any, hi: Any, in_place: bool = False) -> Tensor:
    """clamp with a tensor bound (the other a tensor, a number or None): PyTorch's value and
    derivative (torch_rules.clamp), in the result dtype of all operands."""
    given = [b for b in (lo, hi) if b is not None]
    params = (("which", "both" if len(given) == 2 else ("lo" if hi is None else "hi")),
              ("dtype", dtypes.result_type(x, *given)))
    bounds = [weak_operand(b, x._value) for b in given]
    if in_place:
        return inplace_op(x, "ClampBackward", _clamp_cast, bounds, params, fast=_np_clamp_cast)
    return apply_op("ClampBackward", _clamp_cast, [x, *bounds], params, fast=_np_clamp_cast)


def _clamp_cast(x: Any, *bounds: Any, which: str, dtype: Any) -> Any:
    x, *bounds = (A.astype(v, dtype) for v in (x, *bounds))
    lo, hi = (bounds[0], None) if which == "lo" else \
        ((None, bounds[0]) if which == "hi" else bounds)
    return R.clamp(x, lo, hi)


def _np_clamp_cast(x: ndarray, *bounds: ndarray, which: str, dtype: Any) -> ndarray:
    x, *bounds = (v if v.dtype == dtype else v.astype(dtype) for v in (x, *bounds))
    lo, hi = (bounds[0], None) if which == "lo" else \
        ((None, bounds[0]) if which == "hi" else bounds)
    out = R.np_clamp(x, lo, hi)
    if all(b.shape == x.shape for b in bounds):  # (np.broadcast_shapes costs ~10 us)
        return out
    return np.asarray(np.broadcast_to(out, np.broadcast_shapes(x.shape, *(b.shape for b in bounds))))


def _clamp_dtype(dt: Any, lo: Any, hi: Any) -> Any:
    """clamp's result dtype: the tensor's, unless a bound's (weak) number is of a higher
    category (an int64 tensor clamped to 0.5 gives the default float dtype, a bool one to -1
    int64), as PyTorch's result_type."""
    for bound in (lo, hi):
        if bound is not None:
            weak = dtypes.scalar_dtype(bound)
            if dtypes.category(weak) > dtypes.category(dt):
                dt = dtypes.promote_types(dt, weak)
    return dt


def _float(t: Tensor) -> Tensor:
    """t itself if it has a float or complex dtype, else (integers, bools) t converted to
    the default float dtype."""
    return t if t._value.dtype.kind in "fc" else t.type(dtypes.get_default_dtype())


def concrete_value(t: Tensor, operation: str) -> ndarray:
    """t's value as a NumPy array, for an operation that needs concrete values (a traced
    value raises, naming `operation`)."""
    value = t._value
    if type(value) is not ndarray:
        if isinstance(value, Tracer):
            return value._concrete(operation)
        return np.asarray(value)
    return value


def _numpy_on_tensors(name: str, func: Callable, args: Any, kwargs: dict, wrap: bool) -> Any:
    """A NumPy function called on Tensors: refused when one requires grad (NumPy would drop the
    gradient silently); otherwise run on their values."""
    tensors = []

    def unwrap(x):
        if isinstance(x, Tensor):
            tensors.append(x)
            return concrete_value(x, f"{name}()")
        if isinstance(x, (list, tuple)):
            return type(x)(unwrap(v) for v in x)
        return x

    args = unwrap(list(args))
    kwargs = {k: unwrap(v) for k, v in kwargs.items()}
    if any(t.requires_grad for t in tensors):
        raise RuntimeError(f"{name}() was called on a Tensor that requires grad: NumPy cannot "
                           "record it, so the gradient would be lost. Use the dualjit function "
                           f"or Tensor method instead (e.g. dualjit.{name.split('.')[-1]}(t) or "
                           f"t.{name.split('.')[-1]}()), or {name}(t.detach().numpy()) if you "
                           "want the values without a gradient.")
    out = func(*args, **kwargs)
    if wrap and isinstance(out, ndarray):
        return make_tensor(out)
    return out


def _compare(x: Tensor, y: Any, fn: Callable, fast: Callable) -> Tensor:
    xv = x._value
    yv = y._value if isinstance(y, Tensor) else _scalar_operand(y, xv) if isinstance(
        y, (bool, int, float)) else np.asarray(y) if not isinstance(y, Tracer) else y
    if xv.dtype != yv.dtype:
        rt = dtypes.result_type(x, y if isinstance(y, Tensor) else yv)
        xv, yv = A.astype(xv, rt), A.astype(yv, rt)
    if type(xv) is ndarray and type(yv) is ndarray:
        return make_tensor(np.asarray(fast(xv, yv)))
    return make_tensor(fn(xv, yv))


def _logical(x: Tensor, y: Any, fn: Callable, fast: Callable) -> Tensor:
    xv = x._value
    # (a Python int is weak but of a higher category than bool: bool & 2 is int64, 1 & 2 = 0;
    # it was cast to bool, True & True)
    yv = y._value if isinstance(y, Tensor) else _scalar_operand(y, xv) if isinstance(
        y, (bool, int)) else np.asarray(y)
    if xv.dtype.kind in "fc" or yv.dtype.kind in "fc":
        raise DtypeNotImplementedError("bitwise and logical operators (&, |, ^) need bool or "
                                       "integer tensors")
    if xv.dtype != yv.dtype:  # (PyTorch's promotion: uint8 tensor & int64 0-d is uint8)
        rt = dtypes.result_type(x, y if isinstance(y, Tensor) else yv)
        xv, yv = A.astype(xv, rt), A.astype(yv, rt)
    if type(xv) is ndarray and type(yv) is ndarray:
        return make_tensor(np.asarray(fast(xv, yv)))
    return make_tensor(fn(xv, yv))


def _index_values(index: Any) -> Any:
    v = index._value if isinstance(index, Tensor) else index if isinstance(
        index, Tracer) else np.asarray(index)
    if v.dtype.kind not in "iu":
        raise IndexError(f"index tensors must be integer (int64), got {v.dtype}")
    return v.astype(np.int64) if type(v) is ndarray and v.dtype != np.int64 else v


def _bool_values(mask: Any) -> Any:
    v = mask._value if isinstance(mask, Tensor) else np.asarray(mask)
    if v.dtype != np.bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{v.dtype}")
    return v



# In-place elementwise methods (t.exp_(), t.relu_(), ...): t <- f(t), recorded as f applied to
# t's old value (kept for the derivative), as PyTorch's in-place functions are.
_IN_PLACE_UNARY = {
    "exp_": ("ExpBackward", jnp.exp, np.exp), "expm1_": ("Expm1Backward", A.expm1, np.expm1),
    "log_": ("LogBackward", jnp.log, np.log), "log1p_": ("Log1pBackward", A.log1p, np.log1p),
    "log2_": ("Log2Backward", jnp.log2, np.log2), "sin_": ("SinBackward", jnp.sin, np.sin),
    "cos_": ("CosBackward", jnp.cos, np.cos), "tan_": ("TanBackward", jnp.tan, np.tan),
    "tanh_": ("TanhBackward", jnp.tanh, np.tanh), "sigmoid_": ("SigmoidBackward", nnf.sigmoid, None),
    "relu_": ("ReluBackward", nnf.relu, A.np_relu), "sqrt_": ("SqrtBackward", jnp.sqrt, np.sqrt),
    "rsqrt_": ("RsqrtBackward", R.rsqrt, R.np_rsqrt),
    "reciprocal_": ("ReciprocalBackward", A.reciprocal, np.reciprocal),
    "abs_": ("AbsBackward", jnp.abs, np.abs), "neg_": ("NegBackward", jnp.negative, np.negative),
    "sign_": ("SignBackward", R.sign, R.np_sign), "floor_": ("FloorBackward", jnp.floor, np.floor),
    "ceil_": ("CeilBackward", jnp.ceil, np.ceil), "round_": ("RoundBackward", jnp.round, np.round),
    "trunc_": ("TruncBackward", A.trunc, np.trunc),
}


# (their results are floats: PyTorch refuses them in place on integer and bool tensors;
# NumPy's reciprocal of an integer array is an integer one, 1 // x)
_FLOAT_VALUED = {"exp_", "expm1_", "log_", "log1p_", "log2_", "sin_", "cos_", "tan_", "tanh_",
                 "sigmoid_", "sqrt_", "rsqrt_", "reciprocal_"}
_ROUNDING = {"floor_", "ceil_", "round_", "trunc_"}


def _in_place_unary(method: str, name: str, fn: Callable, fast: Callable | None) -> Callable:
    float_valued = method in _FLOAT_VALUED

    def in_place(self):
        if method in _ROUNDING:
            _real_only(self, method)
        if method == "sigmoid_" and self._value.dtype.kind == "c":
            return self.copy_(self.sigmoid())
        if float_valued and self._value.dtype.kind not in "fc":
            raise RuntimeError(f"{method}: result type {dtypes.float_result(self._value.dtype)} "
                               f"can't be cast to the desired output type {self.dtype}")
        return inplace_op(self, name, fn, [], fast=fast)
    in_place.__name__ = in_place.__qualname__ = method
    in_place.__doc__ = f"In place: self <- {method[:-1]}(self)."
    return in_place


for _method, (_name, _fn, _fast) in _IN_PLACE_UNARY.items():
    setattr(Tensor, _method, _in_place_unary(_method, _name, _fn, _fast))
Tensor.negative_, Tensor.absolute_, Tensor.fix_ = Tensor.neg_, Tensor.abs_, Tensor.trunc_
Tensor.square_ = lambda self: self.mul_(self.clone())  # (mul_ keeps the old value)


def take_along_dim(x: Tensor, indices: Any, dim: Any) -> Tensor:
    """x's values at `indices` along dim (torch.gather), recorded as a gather, so the
    gradient goes to exactly the chosen positions."""
    idx = _index_values(indices)
    return apply_op("GatherBackward", A.take_along_axis, [x, idx], (("axis", int(dim)),),
                    fast=A.np_take_along_axis)


def _check_reducible(t: Tensor, kind: str, dim: Any) -> None:
    """PyTorch's errors for max/min/argmax/argmin of no elements: over all of an empty tensor
    (RuntimeError; IndexError for argmax/argmin) or along a dimension of size 0 (IndexError)."""
    shape = t.shape
    if 0 not in shape:
        return
    if dim is None:
        cls = EmptyReductionError if kind.startswith("arg") else ShapeError
        raise cls(f"{kind}(): Expected reduction dim to be specified for input.numel() == 0; "
                  "specify the reduction dim with the 'dim' argument")
    for d in (dim if isinstance(dim, tuple) else (dim,)):
        if shape and -len(shape) <= d < len(shape) and shape[d] == 0:
            raise EmptyReductionError(f"{kind}(): Expected reduction dim {d} to have non-zero "
                                      f"size (shape {tuple(shape)})")


def _arg_index(t: Tensor, kind: str, dim: Any, keepdim: bool) -> Any:
    """argmax / argmin indices (int64; the first of equal values, NaN as the largest): NumPy's
    on values, the IR's argmax/argmin while tracing (dj.compile), which pick the same."""
    _check_reducible(t, kind, None if dim is None else int(dim))
    if isinstance(t._value, Tracer):
        return getattr(jnp, kind)(t._value, axis=None if dim is None else int(dim),
                                  keepdims=keepdim)
    return A.np_arg(getattr(np, kind), concrete_value(t, kind), dim, keepdim)


def _select_along(x: Tensor, name: str, arg: Callable, dim: int, keepdim: bool, kind: str):
    """max(dim) / min(dim): the values at the arg index, recorded as a gather."""
    if not x.ndim:
        return _selected(x, kind, np.zeros((), np.int64), dim, keepdim)
    index = _arg_index(x, "argmax" if kind == "max" else "argmin", dim, True)
    return _selected(x, kind, index, dim, keepdim)


def _selected(x: Tensor, kind: str, index: ndarray, dim: int, keepdim: bool):
    """(values, indices) of a selecting reduction from the chosen index (kept dimension)."""
    if x.ndim == 0:
        return return_pair(kind, x.clone(), make_tensor(np.zeros((), np.int64)))
    d = dim % x.ndim
    values = take_along_dim(x, index, d)
    indices = make_tensor(A.astype(index, np.int64))
    if not keepdim:
        values, indices = values.squeeze(d), indices.squeeze(d)
    return return_pair(kind, values, indices)


def return_pair(kind: str, values: Tensor, indices: Tensor):
    """(values, indices) as the named tuple PyTorch returns for `kind` (max, sort, ...)."""
    from .return_types import RETURN_TYPES

    return RETURN_TYPES[kind](values, indices)


def where(condition: Any, input: Any, other: Any) -> Tensor:  # noqa: A002
    cond = condition._value if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        cond = cond.astype(bool)
    rt = dtypes.result_type(input, other)
    xs = [_cast_operand(a, rt) for a in (input, other)]
    return apply_op("WhereBackward", jnp.where, [cond, *xs], fast=np.where)


def _cast_operand(a: Any, dtype: np.dtype) -> Any:
    if isinstance(a, Tensor):
        return a if a.dtype == dtype else a.type(dtype)
    return np.asarray(a, dtype=dtype)


def full_like(t: Tensor, value: Any, dtype: Any = None) -> Tensor:
    d = t.dtype if dtype is None else dtypes.to_numpy_dtype(dtype)
    return make_tensor(np.full(t.shape, value, d))


_GRAD_UFUNC_OPERATORS.update({
    np.add: ("__add__", "__radd__"), np.subtract: ("__sub__", "__rsub__"),
    np.multiply: ("__mul__", "__rmul__"), np.true_divide: ("__truediv__", "__rtruediv__"),
    np.matmul: ("__matmul__", "__rmatmul__"), np.power: ("__pow__", "__rpow__"),
    np.floor_divide: ("__floordiv__", "__rfloordiv__"), np.remainder: ("__mod__", "__rmod__"),
    np.less: ("__lt__", "__gt__"), np.less_equal: ("__le__", "__ge__"),
    np.greater: ("__gt__", "__lt__"), np.greater_equal: ("__ge__", "__le__"),
    np.equal: ("__eq__", "__eq__"), np.not_equal: ("__ne__", "__ne__"),
})


def _dims_given(method: str, args: tuple, dims: Any) -> Any:
    """The dimensions given to permute/flip positionally (t.flip(0, 1)) or as dims=, as PyTorch."""
    if dims is None:
        return args
    if args:
        raise TypeError(f"Tensor.{method}() got dimensions both positionally and as dims=")
    return dims
