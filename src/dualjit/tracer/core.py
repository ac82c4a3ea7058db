"""Tracers and the trace stack: running Python on tracers records equations into a Function."""

from __future__ import annotations

import linecache
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..ir import (
    SUPPORTED_DTYPES,
    DType,
    Eqn,
    Function,
    IRError,
    Literal,
    Primitive,
    TensorType,
    Var,
    abstract_eval,
    as_dtype,
    impl_rules,
)
from ..ir import primitives as P
from ..ir.interpreter import eval_function, literal_value
from ..ir.util import while_operands
from .shape_dtype import ShapeDtypeStruct


class ConcretizationError(Exception):
    """A Python control-flow decision needed the value of an abstract (traced) array."""


class EscapedTracerError(Exception):
    """A tracer was used after the transformation that created it finished."""


# ---------------------------------------------------------------------------------------------
# The trace stack
# ---------------------------------------------------------------------------------------------

class _State(threading.local):
    def __init__(self) -> None:
        self.stack: list[Builder] = []


_state = _State()
# The same object, public for jit's fast path, which reads `trace_state.stack` directly:
# calling tracing() costs ~0.1 us there, a sixth of a repeat call.
trace_state = _state
# Traces active in all threads, where native code can read it (codegen/dispatch.py: a jitted
# function's native entry hands the call to Python while anything is being traced).
active_traces = np.zeros(1, np.int64)
_active_lock = threading.Lock()


def current_builder() -> Builder | None:
    """The innermost active trace of this thread, or None outside every transform."""
    stack = _state.stack
    return stack[-1] if stack else None


def tracing() -> bool:
    """Whether a transform is recording on this thread (cheap enough for jit's fast path)."""
    return bool(_state.stack)


class Builder:
    """Collects the equations of one trace level; turns them into a Function at the end."""

    def __init__(self) -> None:
        self.eqns: list[Eqn] = []
        self.inputs: list[Var] = []
        self.consts: list[tuple[Var, np.ndarray]] = []
        self.captures: list[tuple[Any, Var]] = []  # (outer tracer, inner Var)
        self._captured: dict[int, Tracer] = {}
        self._const_ids: dict[int, tuple[Any, Tracer]] = {}
        self.values: dict[Var, np.ndarray] = {}  # concrete values, when tracing concretely
        self.weak: set[Var] = set()  # weakly typed values (Python-scalar carries and results)
        self.active = False

    def __enter__(self) -> Builder:
        _state.stack.append(self)
        self.active = True
        with _active_lock:
            active_traces[0] += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        popped = _state.stack.pop()
        assert popped is self
        self.active = False
        with _active_lock:
            active_traces[0] -= 1

    def value_of(self, var: Var) -> np.ndarray | None:
        return self.values.get(var)

    def new_input(self, type: TensorType, value: Any = None, weak: bool = False) -> Tracer:
        var = Var(type)
        self.inputs.append(var)
        if weak:
            self.weak.add(var)
        return Tracer(self, var, value)

    def atom(self, x: Any) -> Var | Literal:
        """The IR atom standing for `x` in this trace (capturing outer tracers and arrays)."""
        if isinstance(x, Tracer):
            if x.builder is self:
                return x.ir_var
            return self._capture(x).ir_var
        if isinstance(x, Literal):
            return x
        if isinstance(x, (bool, int, float, complex)) and not isinstance(x, np.ndarray):
            return Literal(x, _python_scalar_dtype(x))
        if isinstance(x, np.generic):
            return Literal(x.item(), as_dtype(x.dtype))
        arr = as_array(x, "operand")
        if arr.ndim == 0:
            return Literal(arr.item(), as_dtype(arr.dtype))
        return self._const(x, arr).ir_var

    def _capture(self, outer: Tracer) -> Tracer:
        if not outer.builder.active:
            raise EscapedTracerError(
                f"a traced value of type {outer.aval} is used after the transformation that "
                "created it has finished (it was probably stored in a global or a closure); "
                "return it from the function instead")
        found = self._captured.get(id(outer))
        if found is None:
            var = Var(outer.aval)
            found = Tracer(self, var, outer.value)
            self._captured[id(outer)] = found
            self.captures.append((outer, var))
        return found

    def const_tracer(self, arr: np.ndarray) -> Tracer:
        """A tracer of this trace standing for the constant array `arr`."""
        return self._const(arr, arr)

    def _const(self, original: Any, arr: np.ndarray) -> Tracer:
        found = self._const_ids.get(id(original))
        if found is None or found[0] is not original:
            var = Var(TensorType(as_dtype(arr.dtype), arr.shape))
            self.consts.append((var, arr))
            found = (original, Tracer(self, var, arr))
            self._const_ids[id(original)] = found
        return found[1]

    def build(self, outputs: Sequence[Any]) -> tuple[Function, list[Any]]:
        """The Function of this trace: inputs are [captured outer values..., own inputs...]."""
        out_atoms = [self.atom(o) for o in outputs]
        fn = Function([v for _, v in self.captures] + self.inputs, self.consts, self.eqns,
                      out_atoms)
        return fn, [t for t, _ in self.captures]


def _python_scalar_dtype(x: Any) -> DType:
    """The dtype np.asarray gives a Python scalar: ints of 2**63 and above are uint64."""
    if isinstance(x, bool):
        return DType.bool
    if isinstance(x, int):
        return DType.uint64 if x >= 2**63 else DType.int64
    return DType.complex128 if isinstance(x, complex) else DType.float64


def as_array(x: Any, what: str) -> np.ndarray:
    """`x` as a numpy array of a supported dtype, or a TypeError naming `what`."""
    if isinstance(x, Tracer):
        raise TypeError(f"{what}: expected a concrete array, got a traced value {x.aval}")
    try:
        arr = np.asarray(x)
    except Exception as e:  # ragged lists and objects numpy refuses
        raise TypeError(f"{what}: cannot convert {type(x).__name__} to an array ({e})") from None
    if arr.dtype.kind not in "biufc":
        too_big = isinstance(x, int) and arr.dtype.kind == "O"
        detail = " (a Python int outside the int64 and uint64 ranges)" if too_big else ""
        raise TypeError(f"{what}: dtype {arr.dtype} of {type(x).__name__}{detail} is not "
                        f"supported; dualjit arrays are {SUPPORTED_DTYPES}")
    dtype = as_dtype(arr.dtype)
    return arr if arr.dtype == dtype.np else arr.astype(dtype.np)


# ---------------------------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------------------------

# Concrete values of long loops (eager grad and other concrete tracing, apply_function outside
# a trace): jit.py installs an evaluator that compiles the loop's one equation, so a scan or
# while_loop of a million steps costs one native loop instead of a million interpreter steps
# (trace time does not grow with the trip count). Without it (or with
# DUALJIT_BACKEND=interpreter, which the evaluator follows) the reference interpreter runs them.
loop_evaluator: list[Callable[[Primitive, list, dict], Any]] = []
COMPILED_LOOP_MIN_STEPS = 1000  # shorter loops run in the interpreter (compiling costs more)


def evaluate(prim: Primitive, values: Sequence[Any], params: dict) -> Any:
    """impl_rules[prim](*values, **params), with long loops through the loop evaluator."""
    if loop_evaluator and prim is P.scan_p and params["length"] >= COMPILED_LOOP_MIN_STEPS:
        return loop_evaluator[0](prim, list(values), params)
    if loop_evaluator and prim is P.while_p:
        return _while_then_compiled(list(values), params)
    return impl_rules[prim](*values, **params)


def _while_then_compiled(values: list, params: dict) -> list:
    """A while_loop's trip count is known only by running it: the interpreter takes the first
    COMPILED_LOOP_MIN_STEPS steps, and a loop still running then continues from its carry as
    one compiled loop."""
    n_cond, n_body = params["cond_nconsts"], params["body_nconsts"]
    cond_consts, body_consts, carry = while_operands(values, n_cond, n_body)
    for _ in range(COMPILED_LOOP_MIN_STEPS):
        if not bool(eval_function(params["cond_fun"], *cond_consts, *carry, evaluate=evaluate)[0]):
            return list(carry)
        carry = eval_function(params["body_fun"], *body_consts, *carry, evaluate=evaluate)
    return loop_evaluator[0](P.while_p, [*cond_consts, *body_consts, *carry], params)


def bind(prim: Primitive, *args: Any, **params: Any) -> Any:
    """Apply a primitive: record it in the innermost trace, or evaluate it with numpy."""
    stack = _state.stack
    if not stack:
        return _bind_concrete(prim, args, params)
    builder = stack[-1]
    atoms = [builder.atom(a) for a in args]
    out_types = abstract_eval(prim, [a.type for a in atoms], params)
    outs = [Var(t) for t in out_types]
    builder.eqns.append(Eqn(prim, atoms, outs, params))
    values = _known_values(builder, atoms, prim, params)
    tracers = [Tracer(builder, v, None if values is None else values[i])
               for i, v in enumerate(outs)]
    return tracers if prim.multiple_results else tracers[0]


def _bind_concrete(prim: Primitive, args: tuple, params: dict) -> Any:
    """bind outside every trace: the primitive's numpy implementation on the values."""
    for a in args:  # (plain arrays of dualjit's dtypes are their own values: the common case)
        if type(a) is not np.ndarray or a.dtype not in NATIVE_DTYPES:
            args = [_concrete_value(a) for a in args]
            break
    if prim is P.scan_p or prim is P.while_p:
        out = evaluate(prim, args, params)
    else:
        out = impl_rules[prim](*args, **params)
    return [np.asarray(o) for o in out] if prim.multiple_results else np.asarray(out)


def _concrete_value(a: Any) -> Any:
    """_eager_value(a), with the shortcuts of _bind_concrete's common operands."""
    t = type(a)
    if t is np.ndarray and a.dtype in NATIVE_DTYPES:
        return a
    if t in _SCALARS_AS_ARRAYS:
        return np.asarray(a)  # (as as_array converts it)
    return _eager_value(a)


# The dtypes as_array keeps as they are: a plain array of one of these is its own eager value.
NATIVE_DTYPES = frozenset(d.np for d in DType)
# NumPy scalar types _eager_value hands to as_array (np.float64 and np.complex128 subclass
# Python's float and complex, which it passes on as they are)
_SCALARS_AS_ARRAYS = frozenset(d.type for d in NATIVE_DTYPES
                               if not issubclass(d.type, (bool, int, float, complex)))


def _eager_value(a: Any) -> Any:
    if isinstance(a, Tracer):
        if a.value is None or a.builder.active:
            raise EscapedTracerError(
                f"a traced value of type {a.aval} is used outside the transformation that "
                "created it; return it from the function instead")
        return a.value
    if isinstance(a, Literal):
        return literal_value(a)
    if isinstance(a, (bool, int, float, complex)):
        return a
    return as_array(a, "operand")


def _known_values(builder: Builder, atoms: list, prim: Primitive, params: dict) -> list | None:
    """Output values when every input value is known (concrete tracing), else None."""
    if prim.effectful:  # runs when the traced program runs, not while tracing
        return None
    values = []
    for a in atoms:
        if isinstance(a, Literal):
            values.append(literal_value(a))
            continue
        v = builder.value_of(a)
        if v is None:
            return None
        values.append(v)
    out = evaluate(prim, values, params)
    return [np.asarray(o) for o in out] if prim.multiple_results else [np.asarray(out)]


# ---------------------------------------------------------------------------------------------
# Tracers
# ---------------------------------------------------------------------------------------------

# dualjit.numpy fills this with the array methods and operators (x + y, x.sum(), x[i], ...).
array_methods: dict[str, Callable] = {}
# ...and this with the NumPy functions NumPy itself hands to the array's own method for any
# array that is not an ndarray (np.sum(x) calls x.sum(): fromnumeric's delegation), mapped to
# their dualjit.numpy versions: traced, so they work on tracers as they do on JAX's arrays.
numpy_delegates: dict[Callable, Callable] = {}


def is_weak(x: Any) -> bool:
    return isinstance(x, Tracer) and x.ir_var in x.builder.weak


def mark_weak(x: Any) -> Any:
    if isinstance(x, Tracer):
        x.builder.weak.add(x.ir_var)
    return x


class Tracer:
    """A value inside a trace: a Var of its builder, plus its concrete value when known."""

    __slots__ = ("builder", "ir_var", "__weakref__")
    __array_priority__ = 1000

    def __init__(self, builder: Builder, var: Var, value: Any = None):
        self.builder = builder
        self.ir_var = var
        if value is not None:
            builder.values[var] = value

    @property
    def value(self) -> np.ndarray | None:
        return self.builder.values.get(self.ir_var)

    @property
    def aval(self) -> TensorType:
        return self.ir_var.type

    @property
    def shape(self) -> tuple[int, ...]:
        return self.ir_var.type.shape

    @property
    def dtype(self) -> np.dtype:
        return self.ir_var.type.dtype.np

    @property
    def ndim(self) -> int:
        return self.ir_var.type.ndim

    @property
    def size(self) -> int:
        return self.ir_var.type.size

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d traced array")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d traced array")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self) -> str:
        known = "" if self.value is None else f" value={self.value!r}"
        return f"Tracer<{self.aval}>{known}"

    def _concrete(self, operation: str) -> np.ndarray:
        value = self.value
        if value is None:
            raise ConcretizationError(_concretization_message(self, operation))
        return value

    def __bool__(self) -> bool:
        return bool(self._concrete("bool()"))

    def __float__(self) -> float:
        return float(self._concrete("float()"))

    def __int__(self) -> int:
        return int(self._concrete("int()"))

    def __index__(self) -> int:
        return int(self._concrete("use as an index"))

    def __complex__(self) -> complex:
        return complex(self._concrete("complex()"))

    # NumPy cannot trace: a NumPy function would compute with the concrete value (a constant
    # to every transform: a silent zero derivative) or fail obscurely. So conversion and every
    # NumPy function raise, naming the function and its dualjit.numpy replacement, as JAX
    # does; `ndarray (op) traced` reaches __array_ufunc__ and applies the traced operator.
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(numpy_on_tracer_message("numpy.asarray (conversion to a NumPy array)",
                                                self, "asarray"))

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        operator = _UFUNC_OPERATORS.get(ufunc.__name__)
        if method == "__call__" and operator is not None and not kwargs and len(inputs) == 2:
            x, y = inputs
            return getattr(x, operator[0])(y) if isinstance(x, Tracer) else \
                getattr(y, operator[1])(x)
        name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
        raise TypeError(numpy_on_tracer_message(f"numpy.{name}", self, ufunc.__name__))

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func in _SHAPE_QUERIES:
            return _SHAPE_QUERIES[func](*args, **kwargs)
        if func in numpy_delegates:
            return numpy_delegates[func](*args, **kwargs)
        module = func.__module__.replace("numpy._core", "numpy").replace(".fromnumeric", "")
        raise TypeError(numpy_on_tracer_message(f"{module}.{func.__name__}", self,
                                                func.__name__))

    def __hash__(self) -> int:
        raise TypeError("traced arrays are not hashable")

    def item(self) -> Any:
        return self._concrete(".item()").item()

    def tolist(self) -> Any:
        return self._concrete(".tolist()").tolist()

    def __getattr__(self, name: str) -> Any:
        method = array_methods.get(name)
        if method is None:
            raise AttributeError(f"traced array has no attribute {name!r}")
        return method.__get__(self)


def _install_operator(name: str) -> None:
    def operator(self, *args):
        method = array_methods.get(name)
        if method is None:
            return NotImplemented
        return method(self, *args)
    operator.__name__ = name
    setattr(Tracer, name, operator)


for _op in ("__add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __truediv__ __rtruediv__ "
            "__floordiv__ __rfloordiv__ __mod__ __rmod__ __pow__ __rpow__ __matmul__ "
            "__rmatmul__ __neg__ __pos__ __abs__ __invert__ __and__ __rand__ __or__ __ror__ "
            "__xor__ __rxor__ __lshift__ __rlshift__ __rshift__ __rrshift__ "
            "__lt__ __le__ __gt__ __ge__ __eq__ __ne__ __getitem__").split():
    _install_operator(_op)


# ufunc name -> (method of the traced left operand, method of the traced right operand)
_UFUNC_OPERATORS = {
    "add": ("__add__", "__radd__"), "subtract": ("__sub__", "__rsub__"),
    "multiply": ("__mul__", "__rmul__"), "true_divide": ("__truediv__", "__rtruediv__"),
    "divide": ("__truediv__", "__rtruediv__"),
    "floor_divide": ("__floordiv__", "__rfloordiv__"), "remainder": ("__mod__", "__rmod__"),
    "power": ("__pow__", "__rpow__"), "matmul": ("__matmul__", "__rmatmul__"),
    "bitwise_and": ("__and__", "__rand__"), "bitwise_or": ("__or__", "__ror__"),
    "bitwise_xor": ("__xor__", "__rxor__"), "left_shift": ("__lshift__", "__rlshift__"),
    "right_shift": ("__rshift__", "__rrshift__"),
    "less": ("__lt__", "__gt__"), "less_equal": ("__le__", "__ge__"),
    "greater": ("__gt__", "__lt__"), "greater_equal": ("__ge__", "__le__"),
    "equal": ("__eq__", "__eq__"), "not_equal": ("__ne__", "__ne__"),
}

def _dtypes_of(args: Sequence[Any]) -> list[Any]:
    return [a.dtype if isinstance(a, Tracer) else a for a in args]


# NumPy functions that only read the type: answered from it
_SHAPE_QUERIES = {
    np.shape: lambda x: x.shape, np.ndim: lambda x: x.ndim,
    np.size: lambda x, axis=None: x.size if axis is None else x.shape[axis],
    np.result_type: lambda *args: np.result_type(*_dtypes_of(args)),
    np.can_cast: lambda x, *args, **kw: np.can_cast(*_dtypes_of([x]), *args, **kw),
    np.iscomplexobj: lambda x: x.dtype.kind == "c", np.isrealobj: lambda x: x.dtype.kind != "c",
}


def numpy_on_tracer_message(function: str, tracer: Tracer, name: str) -> str:
    where = _user_frame()
    location = f"\n  at {where[0]}:{where[1]}: {where[2]}" if where else ""
    return (f"{function} was called on a traced array {tracer.aval}: NumPy cannot trace, so "
            "its result would be a constant to grad, jvp, vjp and vmap (a silently wrong "
            f"derivative) and unknown under jit.{location}\nUse jnp.{name} instead "
            "(import dualjit.numpy as jnp), which works on traced and plain arrays alike.")


def _user_frame() -> tuple[str, int, str] | None:
    """The innermost stack frame outside dualjit: where the user's code made the decision."""
    frame = sys._getframe(1)
    package = __name__.rsplit(".", 2)[0].replace(".", "/")
    while frame is not None:
        filename = frame.f_code.co_filename.replace("\\", "/")
        if f"/{package}/" not in filename:
            line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
            return filename, frame.f_lineno, line
        frame = frame.f_back
    return None


def _concretization_message(tracer: Tracer, operation: str) -> str:
    where = _user_frame()
    location = f"\n  at {where[0]}:{where[1]}: {where[2]}" if where else ""
    return (f"{operation} needs the value of a traced array {tracer.aval}, but under jit / "
            f"make_ir values are abstract (only shapes and dtypes are known).{location}\n"
            "Fixes: use dualjit.lax.cond or dualjit.numpy.where instead of `if`; "
            "dualjit.lax.while_loop, fori_loop or scan instead of a Python loop on a traced "
            "value; or mark the argument static with jit(f, static_argnums=...)."
            + (_NUMPY_INDEX_HINT if operation in ("use as an index", "conversion to a numpy array")
               else ""))


_NUMPY_INDEX_HINT = (
    "\nIf this is a NumPy array indexed by a traced index (x[i] in a loop body), NumPy "
    "cannot see the trace: use dualjit.numpy.take(x, i), or pass x in as an argument.")


# ---------------------------------------------------------------------------------------------
# Tracing whole functions and replaying Functions
# ---------------------------------------------------------------------------------------------

def trace_flat(fun: Callable[..., Sequence[Any]], in_types: Sequence[TensorType],
               in_values: Sequence[Any] | None = None, weak: Sequence[bool] = (),
               ) -> tuple[Function, list[Any]]:
    """Trace `fun` (flat tracers in, flat outputs out) into a Function.

    Returns the Function and the outer values it captured: the Function's inputs are those
    captures followed by one input per entry of `in_types`.
    """
    with Builder() as builder:
        values = in_values if in_values is not None else [None] * len(in_types)
        weak = list(weak) or [False] * len(in_types)
        tracers = [builder.new_input(t, v, w) for t, v, w in zip(in_types, values, weak)]
        outs = list(fun(*tracers))
        fn, captures = builder.build(outs)
        fn.weak_outputs = [is_weak(o) or type(o) in (bool, int, float, complex) for o in outs]
    return fn, captures


def apply_function(fn: Function, *args: Any) -> list[Any]:
    """Run `fn` on `args`: inline its equations into the current trace, or evaluate with numpy."""
    if current_builder() is None:
        return eval_function(fn, *[_eager_value(a) for a in args], evaluate=evaluate)
    if len(args) != len(fn.inputs):
        raise IRError(f"function takes {len(fn.inputs)} inputs, got {len(args)}")
    if all(_atom_type(a) == v.type for a, v in zip(args, fn.inputs)):
        return _inline(current_builder(), fn, args)
    env: dict[Var, Any] = dict(zip(fn.inputs, args))
    env.update(fn.consts)

    def read(a):
        return a if isinstance(a, Literal) else env[a]

    for eqn in fn.eqns:
        outs = bind(eqn.primitive, *map(read, eqn.inputs), **eqn.params)
        if not eqn.primitive.multiple_results:
            outs = [outs]
        env.update(zip(eqn.outputs, outs))
    return [read(o) for o in fn.outputs]


def _atom_type(x: Any) -> TensorType | None:
    """The type of a traced value, IR literal or NumPy scalar (None for anything else)."""
    if isinstance(x, Tracer):
        return x.ir_var.type
    if isinstance(x, np.generic) and x.dtype.kind in "biufc":  # (becomes a Literal)
        return TensorType(as_dtype(x.dtype), ())
    return x.type if isinstance(x, Literal) else None


def _inline(builder: Builder, fn: Function, args: Sequence[Any]) -> list[Any]:
    """apply_function's path for arguments of fn's own input types: each equation is recorded
    as bind would record it, with fn's output types (shape rules are functions of the input
    types and params, so inferring them again would give the same types)."""
    given: dict[Var, Any] = dict(zip(fn.inputs, args))
    given.update(fn.consts)
    atoms: dict[Var, Any] = {}  # fn's Vars -> this trace's atoms

    def atom(a):
        if isinstance(a, Literal):
            return a
        found = atoms.get(a)
        if found is None:  # an input or a constant, on its first use (as bind converts it)
            found = atoms[a] = builder.atom(given[a])
        return found

    for eqn in fn.eqns:
        inputs = [atom(a) for a in eqn.inputs]
        outs = [Var(v.type) for v in eqn.outputs]
        builder.eqns.append(Eqn(eqn.primitive, inputs, outs, eqn.params))
        values = _known_values(builder, inputs, eqn.primitive, eqn.params)
        if values is not None:
            builder.values.update(zip(outs, values))
        atoms.update(zip(eqn.outputs, outs))
    return [o if isinstance(o, Literal) else given[o] if o in given else Tracer(builder, atoms[o])
            for o in fn.outputs]


def abstractify(x: Any, what: str) -> tuple[TensorType, Any]:
    """The type of a top-level argument and its concrete value (None for an abstract tracer)."""
    if isinstance(x, Tracer):
        return x.aval, x.value
    if isinstance(x, ShapeDtypeStruct):
        return x.aval, None
    arr = as_array(x, what)
    return TensorType(as_dtype(arr.dtype), arr.shape), arr
