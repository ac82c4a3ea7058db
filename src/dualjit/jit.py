"""jit: trace once per (pytree structure, types, static args), compile, cache, and call."""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .ir import Eqn, Function, Primitive, TensorType, Var, abstract_eval, as_dtype, eval_function, verify
from .ir.passes import simplify
from .ir.verifier import check
from .tracer import apply_function, current_builder, tree_flatten, tree_unflatten
from .tracer import core as tracer_core
from .tracer.core import as_array, trace_state
from .tracer.make_ir import normalize_argnums, trace_pytree


def _interpreter_backend(fn: Function) -> Callable[..., list[np.ndarray]]:
    def call(*args):
        from .codegen.callers import unaliased

        return unaliased(eval_function(fn, *args), args)
    return call


def _default_backend(fn: Function) -> Callable[..., list[np.ndarray]]:
    """Native code through llvmlite (imported on first compile, so `import dualjit` stays fast);
    DUALJIT_BACKEND=interpreter selects the reference interpreter."""
    if os.environ.get("DUALJIT_BACKEND", "native") == "interpreter":
        return _interpreter_backend(fn)
    from .autodiff.remat import inline_checkpoints
    from .codegen import compile_function

    inlined = inline_checkpoints(fn)  # (checkpoints and custom rules are calls once passes ran)
    return compile_function(simplify(inlined) if inlined is not fn else fn)


_backend: dict[str, Callable] = {"compile": _default_backend}


def set_backend(compile_function: Callable[[Function], Callable[..., list[np.ndarray]]]) -> None:
    """Install the compiler jit uses: Function -> callable(*arrays) -> list of arrays."""
    _backend["compile"] = compile_function


def get_backend() -> Callable[[Function], Callable[..., list[np.ndarray]]]:
    """The compiler jit uses (native code, or the interpreter with DUALJIT_BACKEND=interpreter)."""
    return _backend["compile"]


def _compiled_loop(prim: Primitive, values: list, params: dict) -> list[np.ndarray]:
    """One loop equation on concrete values, compiled by jit's backend (the tracer's loop
    evaluator: eager grad of a million-step scan runs it natively, not step by step)."""
    arrays = [np.asarray(v) for v in values]
    ins = [Var(TensorType(as_dtype(a.dtype), a.shape)) for a in arrays]
    outs = [Var(t) for t in abstract_eval(prim, [v.type for v in ins], params)]
    fn = Function(ins, [], [Eqn(prim, ins, outs, params)], outs)
    return _backend["compile"](fn)(*arrays)


tracer_core.loop_evaluator[:] = [_compiled_loop]


def native_backend() -> bool:
    """Whether jit compiles to native code now: the default backend is installed and
    DUALJIT_BACKEND does not select the interpreter."""
    return _backend["compile"] is _default_backend and os.environ.get(
        "DUALJIT_BACKEND", "native") != "interpreter"


def _log_compiles() -> bool:
    return os.environ.get("DUALJIT_LOG_COMPILES", "") not in ("", "0")


class Lowered:
    """A traced (and compiled on demand) jit specialization, for reading dumps."""

    def __init__(self, function: Function, compiled: Any, in_tree: Any = None,
                 out_tree: Any = None, static_argnums: tuple = ()):
        self.function = function
        self._compiled = compiled
        self._trees = (in_tree, out_tree, static_argnums)

    def compile(self) -> Compiled:
        """The compiled specialization, callable on arguments of the lowered types."""
        return Compiled(self)

    def cost_analysis(self) -> dict:
        """Flops, transcendental operations and bytes accessed, in total and per kernel."""
        from .costs import cost_analysis

        return cost_analysis(self.function, self.plan())

    def as_text(self) -> str:
        return self.function.text

    def llvm_ir(self) -> str:
        return self._native("llvm_ir")

    def asm(self) -> str:
        return self._native("asm")

    def plan(self):
        """What the code generator decided (kernels, fusion groups, buffers, host steps);
        print it to see why something was or was not fused."""
        from .codegen.schedule import plan_function

        return getattr(self._compiled, "plan", None) or plan_function(self.function)

    def _native(self, what: str) -> str:
        getter = getattr(self._compiled, what, None)
        if getter is None:
            raise RuntimeError(f"{what}: this function runs on the reference interpreter "
                               "(no native code was generated)")
        return getter()


class Compiled:
    """jit(f).lower(*args).compile(): one compiled specialization, called without dispatch."""

    def __init__(self, lowered: Lowered):
        self.lowered = lowered
        self.in_tree, self.out_tree, self.static_argnums = lowered._trees

    def __call__(self, *args: Any) -> Any:
        dynamic = [a for i, a in enumerate(args) if i not in self.static_argnums]
        leaves, in_tree = tree_flatten(dynamic)
        if self.in_tree is not None and in_tree != self.in_tree:
            raise TypeError(f"Compiled: arguments have structure {in_tree}, the lowered "
                            f"function takes {self.in_tree}")
        outs = self.lowered._compiled(*leaves)
        return outs if self.out_tree is None else tree_unflatten(self.out_tree, outs)

    def cost_analysis(self) -> dict:
        return self.lowered.cost_analysis()

    def as_text(self) -> str:
        return self.lowered.as_text()


_FLOAT64 = np.float64
_NDARRAY = np.ndarray
_NUMPY_SCALARS = frozenset((np.float64, np.float32, np.int64, np.int32, np.bool_))
_SCALARS = frozenset((float, int, bool)) | _NUMPY_SCALARS


def _fast_caller(entry: _Entry, dtypes: list[np.dtype]) -> Callable:
    """Call a compiled entry on a sequence of arrays, skipping pytree handling when possible.

    `dtypes` are the leaves' dtypes in the dispatch key this caller is stored under: every
    call that reaches it has arrays of exactly these dtypes (and the key's shapes)."""
    compiled, consts, out_tree = entry.compiled, list(entry.const_args), entry.out_tree
    direct = getattr(compiled, "fast_call", None)
    if direct is None:
        def direct(args):
            return compiled(*args)
    single = out_tree.kind is None
    flat_kind = out_tree.kind if out_tree.kind in (tuple, list) and all(
        c.kind is None for c in out_tree.children) else None
    typed = getattr(compiled, "typed_call", None)
    if consts:
        def call(args):
            return tree_unflatten(out_tree, direct([*consts, *args]))
    elif single and typed is not None and compiled.spec.key_fits(dtypes):
        return typed  # the key guarantees the contract's dtypes and shapes (callers.py)
    elif single:
        def call(args):
            return direct(args)[0]
    elif flat_kind is not None:
        def call(args):
            return flat_kind(direct(args))
    else:
        def call(args):
            return tree_unflatten(out_tree, direct(args))
    return call


@contextlib.contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector while compiling: a compile allocates many
    long-lived IR objects, and young-generation passes over them cost ~10% of the compile.
    Garbage made meanwhile is collected after, as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_ONE_ARRAY = (None,)
_FLOAT64_SCALAR_KEY = (_ONE_ARRAY, np.dtype(np.float64), ())


def _fast_key(leaves: list, structure: tuple) -> tuple:
    key = [structure]
    for a in leaves:
        key.append(a.dtype)
        key.append(a.shape)
    return tuple(key)


def _shallow_flatten(args: tuple) -> tuple[list, tuple] | None:
    """Leaves and a structure key for arguments that are arrays, scalars, or tuples/lists of
    them (the usual parameter tuple); None for anything else (the general pytree path)."""
    leaves: list = []
    structure = []
    for a in args:
        kind = type(a)
        if kind is np.ndarray:
            leaves.append(a)
            structure.append(None)
        elif kind in _SCALARS:
            leaves.append(np.asarray(a))
            structure.append(None)
        elif kind is tuple or kind is list:
            for x in a:
                if type(x) is np.ndarray:
                    leaves.append(x)
                elif type(x) in _SCALARS:
                    leaves.append(np.asarray(x))
                else:
                    return None
            structure.append((kind, len(a)))
        else:
            return None
    return leaves, tuple(structure)


class _Entry:
    __slots__ = ("function", "compiled", "out_tree", "const_args")

    def __init__(self, function, compiled, out_tree, const_args):
        self.function = function
        self.compiled = compiled
        self.out_tree = out_tree
        self.const_args = const_args


class Jitted:
    """The callable jit(f) returns."""

    def __init__(self, fun: Callable, static_argnums: int | Sequence[int] = (),
                 static_argnames: str | Sequence[str] = (),
                 donate_argnums: int | Sequence[int] = (),
                 donate_argnames: str | Sequence[str] = ()):
        self.fun = fun
        self.static_argnums, self._static_names = _resolve_statics(fun, static_argnums,
                                                                   static_argnames)
        self.donate_argnums = _as_tuple(donate_argnums)
        self.donate_argnames = _as_tuple(donate_argnames)
        self._keyword_jits: dict[Any, Jitted] = {}
        self._cache: dict[Any, _Entry] = {}
        self._fast: dict[Any, Callable] = {}
        self._float_entry: Callable | None = None  # for one float / float64 scalar argument
        self._lock = threading.Lock()
        self._exported: dict[Any, Any] = {}  # unpickled specializations, compiled on first use
        functools.update_wrapper(self, fun)

    def _split(self, args: Sequence[Any]) -> tuple[tuple[int, ...], list[Any], tuple]:
        nums = normalize_argnums(self.static_argnums, len(args), "static_argnums") \
            if self.static_argnums != () else ()
        statics = []
        for i in nums:
            try:
                hash(args[i])
            except TypeError:
                raise TypeError(f"jit: static argument {i} of type {type(args[i]).__name__} "
                                "is not hashable; static arguments key the compile cache") from None
            statics.append((i, args[i]))
        dynamic = [a for i, a in enumerate(args) if i not in nums]
        return nums, dynamic, tuple(statics)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        fast = self._fast
        if fast and not (kwargs or trace_state.stack):
            # Fast path: numpy arrays and scalars, or tuples/lists of them; no transform
            # active; seen before. The key holds every leaf's dtype and shape.
            if len(args) == 1:
                a = args[0]
                kind = type(a)
                if kind is not _NDARRAY:  # (an array first: the commonest, fewest tests)
                    float_entry = self._float_entry
                    if float_entry is not None and (kind is float or kind is _FLOAT64):
                        return float_entry(a)  # the object's double, read in place
                    if kind in _NUMPY_SCALARS:
                        a = a.__array__()  # a 0-d array, faster than np.asarray
                        args = (a,)
                    elif kind in _SCALARS:
                        a = np.asarray(a)
                        args = (a,)
                if type(a) is _NDARRAY:
                    entry = fast.get((_ONE_ARRAY, a.dtype, a.shape))
                    if entry is not None:
                        return entry(args)
            flat = _shallow_flatten(args)
            if flat is not None:
                entry = fast.get(_fast_key(*flat))
                if entry is not None:
                    return entry(flat[0])
        if kwargs:
            return self._keyword_jit(len(args), kwargs)(*args, *self._dynamic_values(kwargs))
        return self._call_general(args)

    def _call_general(self, args: tuple) -> Any:
        nums, dynamic, statics = self._split(args)
        if current_builder() is not None:  # inside another transform: inline the trace
            traced = trace_pytree(self.fun, args, static_argnums=nums, name="jit")
            leaves = tree_flatten(dynamic)[0]
            outs = apply_function(traced.function, *traced.captures, *leaves)
            return tree_unflatten(traced.out_tree, outs)
        leaves, in_tree = tree_flatten(dynamic)
        arrays = [a if type(a) is np.ndarray else as_array(a, f"jit: argument leaf {i}")
                  for i, a in enumerate(leaves)]
        key = (in_tree, tuple((a.dtype, a.shape) for a in arrays), statics)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._compile(key, args, nums)
            flat = _shallow_flatten(args) if not statics else None
            if flat is not None and [(a.dtype, a.shape) for a in flat[0]] == [
                    (a.dtype, a.shape) for a in arrays]:
                key = _fast_key(*flat)
                self._fast[key] = _fast_caller(entry, [a.dtype for a in flat[0]])
                float_call = getattr(entry.compiled, "float_call", None)
                if (key == _FLOAT64_SCALAR_KEY and float_call is not None
                        and not entry.const_args and entry.out_tree.kind is None):
                    self._float_entry = float_call
                    self._install_native_call(entry.compiled)
        outs = entry.compiled(*entry.const_args, *arrays)
        return tree_unflatten(entry.out_tree, outs)

    def _install_native_call(self, compiled) -> None:
        """Calls with one float go straight to native code (codegen/dispatch.py), which hands
        every other call to Jitted.__call__; installed in a class of this object's own."""
        found = getattr(compiled, "float_entry", None)
        if found is None or os.environ.get("DUALJIT_NATIVE_DISPATCH", "1") == "0":
            return
        from .codegen.dispatch import float_dispatcher

        address, shape, dtype = found
        native = float_dispatcher(address, compiled, shape, dtype,
                                  functools.partial(Jitted.__call__, self))
        if native is not None:
            if type(self) is Jitted:
                self.__class__ = type("Jitted", (Jitted,), {"__module__": Jitted.__module__,
                                                           "__doc__": Jitted.__doc__})
            type(self).__call__ = native

    def _compile(self, key, args, nums) -> _Entry:
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None:
                return entry
            exported = self._exported.pop(key, None)
            if exported is not None:  # arrived by pickle: its program, without tracing
                entry = _Entry(exported.function, exported.compiled(), exported.out_tree, [])
                self._cache[key] = entry
                return entry
            t0 = time.perf_counter()
            with _gc_paused():
                traced = trace_pytree(self.fun, args, static_argnums=nums, name="jit")
                fn = check(_prepared(traced.function))
                t1 = time.perf_counter()
                compiled = _backend["compile"](fn)
            t2 = time.perf_counter()
            if _log_compiles():
                reason = "first call" if not self._cache else "new argument types or static args"
                name = getattr(self.fun, "__name__", "function")
                timings = getattr(compiled, "timings", {})
                detail = " ".join(f"{k}={v * 1e3:.1f}ms" for k, v in timings.items())
                print(f"[dualjit] compiled {name} ({reason}: {key[1]}, static={key[2]}) "
                      f"trace={1e3 * (t1 - t0):.1f}ms compile={1e3 * (t2 - t1):.1f}ms {detail}",
                      file=sys.stderr)
            const_args = [as_array(c, "captured value") for c in traced.captures]
            entry = _Entry(fn, compiled, traced.out_tree, const_args)
            self._cache[key] = entry
            return entry

    # -- pickling (dualjit.exported.pickling): each compiled specialization travels exported
    def __reduce__(self):
        from .exported.pickling import reduce_jitted

        return reduce_jitted(self)

    def _specializations(self) -> list[tuple[tuple, Any, _Entry]]:
        """(static arguments, input pytree structure, entry) of each compiled specialization."""
        return [(statics, in_tree, entry) for (in_tree, _, statics), entry in self._cache.items()]

    def _adopt(self, statics: tuple, in_tree: Any, exported: Any) -> None:
        """Use `exported` (an Exported) for calls with these static args, structure and types."""
        key = (in_tree, tuple((a.dtype, a.shape) for a in exported.in_avals), statics)
        if key not in self._cache:
            self._exported[key] = exported

    def profile(self, *args: Any, repeats: int = 10, nests: bool = False) -> Any:
        """Time `repeats` calls on args step by step: a table of kernels (with their BLAS
        calls) and host steps, each with its median time and share (speed area; see
        codegen/profile.py). nests=True also times each loop nest and gemm call inside the
        kernels (compiles a probed copy of them first). Needs the native backend."""
        lowered = self.lower(*args)
        compiled = lowered._compiled
        if not hasattr(compiled, "profile"):
            raise RuntimeError("profile: this function runs on the reference interpreter "
                               "(DUALJIT_BACKEND=interpreter); there are no kernels to time")
        dynamic = [a for i, a in enumerate(args) if i not in lowered._trees[2]]
        return compiled.profile(*tree_flatten(dynamic)[0], repeats=repeats, nests=nests)

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        if kwargs:
            return self._keyword_jit(len(args), kwargs).lower(*args,
                                                              *self._dynamic_values(kwargs))
        nums, dynamic, statics = self._split(args)
        traced = trace_pytree(self.fun, args, static_argnums=nums, name="jit")
        fn = verify(_prepared(traced.function))
        in_tree = tree_flatten(dynamic)[1]
        return Lowered(fn, _backend["compile"](fn), in_tree, traced.out_tree, nums)

    # -- keyword arguments: one positional jit per (keywords, static keyword values) -----------
    def _dynamic_values(self, kwargs: dict) -> list:
        return [kwargs[k] for k in sorted(kwargs) if k not in self._static_names]

    def _keyword_jit(self, n_args: int, kwargs: dict) -> Jitted:
        statics = []
        for k in sorted(kwargs):
            if k in self._static_names:
                try:
                    hash(kwargs[k])
                except TypeError:
                    raise TypeError(f"jit: static argument {k!r} of type "
                                    f"{type(kwargs[k]).__name__} is not hashable; static "
                                    "arguments key the compile cache") from None
                statics.append((k, kwargs[k]))
        names = tuple(k for k in sorted(kwargs) if k not in self._static_names)
        key = (n_args, names, tuple(statics))
        inner = self._keyword_jits.get(key)
        if inner is None:
            fun, fixed = self.fun, dict(statics)

            def positional(*values):
                return fun(*values[:n_args], **fixed, **dict(zip(names, values[n_args:])))
            positional.__name__ = getattr(fun, "__name__", "function")
            nums = tuple(i % n_args for i in _as_tuple(self.static_argnums)
                         if -n_args <= i < n_args)  # (static ones given by name are fixed)
            inner = self._keyword_jits[key] = Jitted(positional, nums)
        return inner


def _prepared(fn: Function) -> Function:
    """A traced program simplified, with the FFT round trips transforms create cancelled
    (ir/fft_pairs.py)."""
    from .ir.fft_pairs import cancel_inverse_ffts  # (at the first compile, not at import)

    fn = simplify(fn)
    paired = cancel_inverse_ffts(fn)
    return simplify(paired) if paired is not fn else fn


def _as_tuple(x: Any) -> tuple:
    if x is None:
        return ()
    return (x,) if isinstance(x, (int, str)) else tuple(x)


def _resolve_statics(fun: Callable, nums: Any, names: Any) -> tuple[Any, frozenset]:
    """static_argnums and static_argnames completed from each other through fun's signature
    (a positional parameter is static by either its position or its name)."""
    nums, names = _as_tuple(nums), set(_as_tuple(names))
    if not names:
        return (nums if len(nums) != 1 else nums[0]) if nums else (), frozenset()
    import inspect

    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        params = []
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY,
                                                       p.POSITIONAL_OR_KEYWORD)]
    nums = tuple(sorted(set(nums) | {positional.index(n) for n in names if n in positional}))
    names |= {positional[i] for i in nums if 0 <= i < len(positional)}
    return nums, frozenset(names)


def jit(fun: Callable, static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = (), donate_argnums: int | Sequence[int] = (),
        donate_argnames: str | Sequence[str] = ()) -> Jitted:
    """Compile `fun` for each new (pytree structure, shapes, dtypes, static args) it is called with.

    static_argnums / static_argnames: arguments that are Python values keying the cache
    (hashable), by position or by name. Keyword arguments are traced like positional ones.
    donate_argnums / donate_argnames: arguments the caller will not use again, so their
    buffers may be reused for outputs (accepted as in JAX; dualjit does not reuse them yet)."""
    return Jitted(fun, static_argnums, static_argnames, donate_argnums, donate_argnames)
