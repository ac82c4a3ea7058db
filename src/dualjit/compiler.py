"""dualjit.compile: trace a Module's forward, or a whole training step (forward, backward,
optimizer update), into ONE jit-compiled program, like torch.compile.

The traced call runs the ordinary eager code on Tensors whose values are tracers: the
recorded backward is inlined (the fused backward Function applied to traced values) and the
optimizer's update kernel is inlined too, so the program is forward + backward + update.
State the function reaches — parameters, buffers, gradients and optimizer state of the
Modules and Optimizers in its closure, its globals and its `self` — becomes inputs and
outputs of the program (written back in place after each call); arguments are inputs.
Values that must change between calls without being tensors (learning rates, dropout masks)
are drawn afresh each call as extra inputs (`dynamic_input`).

Guards: a program is reused only for the same argument structure, shapes, dtypes and
requires_grad, the same static (non-tensor) arguments, the same state tensors with the same
shapes, dtypes and requires_grad, which of them have gradients, the same modules (identity)
and training flags, the same optimizers and parameter groups with the same structural
options and state counts, and the grad mode. The first call with a new guard key runs
eagerly (it creates optimizer state and lazily built buffers); the second traces and
compiles. Where tracing is impossible (a Python decision on a tensor's value, `.item()`,
NumPy on a tensor) the call runs eagerly and the reason is logged once (logger
"dualjit.compile").

The Python values a trace reads are constants of its program, so the key holds them too:
those reached by name (the function's globals and closure, its non-tensor arguments, the
attributes of the modules reached) and those read by the user code the trace ran, which
the trace records (_Recorder: the globals, closure cells and argument objects' attributes
that code names; they are read at every call afterwards).

Computing the key walks every module, optimizer and state tensor. A call with positional
tensor arguments first asks the latest program's _Guard, which re-reads the same facts from
the registries themselves (identities of their contents, sizes, flags, options, the state
tensors' dtypes and shapes) without building the key; any difference, including a registry
changed behind the Module API's back, sends the call to the full key.
"""

from __future__ import annotations

import collections
import functools
import gc
import logging
import operator
import random
import sys
import threading
import types
import weakref
from collections.abc import Callable
from operator import is_not
from typing import Any

import numpy as np

from .eager.dtypes import get_default_dtype
from .eager.tensor import (
    Tensor,
    bump_version,
    current_value,
    is_grad_enabled,
    make_tensor,
    native_steps,
    note_version_change,
    record_op,
    version_counter,
    write_storage,
)
from .ir import Function, TensorType, as_dtype
from .tracer.core import Builder, Tracer, current_builder

log = logging.getLogger("dualjit.compile")


class _Context(threading.local):
    trace = None  # the _Trace being recorded, if any


_context = _Context()


def is_compiling() -> bool:
    return _context.trace is not None


def dynamic_input(key: Any, make: Callable[[], np.ndarray], shape: tuple, dtype: Any) -> Any:
    """Inside a compiled trace: a program input of this shape and dtype whose value make()
    computes afresh at every call (a learning rate read from a param group, a dropout mask).
    Outside a trace: make(). A key of None takes a fresh one (random draws)."""
    trace = _context.trace
    if trace is None or current_builder() is not trace.builder:
        return make()
    return trace.dynamic(key, make, TensorType(as_dtype(dtype), tuple(shape)))


def store_result(t: Tensor, new: Any, fresh: bool) -> None:
    """Make `new` t's value, as an in-place write would. When `new` is `fresh` (an array no
    one else holds, e.g. a compiled program's new output) and no one else can see t's storage
    (no view, no alias, no other reference to the array), t takes `new` itself: the swap
    cannot be observed and saves a copy of every parameter at every step. Otherwise `new` is
    copied into the storage (write_storage)."""
    if fresh and _unshared(t) and _same_layout(t._value, new):
        t._value = new
        bump_version(t)
        return
    write_storage(t, new)


def _unshared(t: Tensor) -> bool:
    """Whether no one but t can see t's storage: an array owning its memory, writeable,
    with no other reference (so no view, alias, saved graph or user name), t no view or
    alias of another tensor."""
    extra = t._extra
    if extra is not None and (extra.base is not None or extra.alias_of is not None):
        return False
    value = t._value
    if type(value) is not np.ndarray or value.base is not None or not value.flags.writeable:
        return False
    del value
    return _references(t) == _SOLE_OWNER_REFERENCES


def _swap(t: Tensor, new: Any) -> bool:
    """store_result's swap for a fresh `new`, in one call: when nothing but t can see its
    storage (_unshared) and `new` has its layout (_same_layout; `flags.carray` is
    C-contiguous, aligned and writeable), t takes `new` and its version is bumped (the
    caller calls note_version_change() after its last swap). False: nothing was done."""
    old = t._value
    extra = t._extra
    if type(old) is not np.ndarray or type(new) is not np.ndarray or old.base is not None \
            or new.base is not None or old.shape != new.shape or old.dtype != new.dtype \
            or not old.flags.carray or not new.flags.carray or extra is not None and (
                extra.base is not None or extra.alias_of is not None) \
            or sys.getrefcount(old) != _SOLE_OWNER_REFERENCES:  # (counted as _references)
        return False
    del old
    t._value = new
    counter = t._counter or version_counter(t)
    counter[0] += 1
    if extra is not None:
        extra.view_version = counter[0]
    return True


def _output_references(outs: Any) -> list[int]:
    """sys.getrefcount of each output, counted the same way at every call."""
    return [sys.getrefcount(out) for out in outs]


def _same_layout(old: Any, new: Any) -> bool:
    return (type(new) is np.ndarray and new.base is None and new.flags.writeable
            and old.flags.c_contiguous and new.flags.c_contiguous
            and old.dtype == new.dtype and old.shape == new.shape)


def _references(t: Any) -> int:
    """sys.getrefcount of t's array, counted the same way for any t (the interpreter's own
    temporary references are the same at every call)."""
    value = t._value
    return sys.getrefcount(value)


class _Owner:
    __slots__ = ("_value",)


def _sole_owner_references() -> int:
    """What _references reads for an array that only its owner holds (measured, not
    assumed: interpreters differ in the temporary references they take)."""
    owner = _Owner()
    owner._value = np.empty(1)
    return _references(owner)


_SOLE_OWNER_REFERENCES = _sole_owner_references()
# what _output_references reads for an output that only the outputs' list holds
_FRESH_REFERENCES = _output_references([np.empty(1)])[0]


# ---------------------------------------------------------------------------------------------
# Finding the state a function reaches
# ---------------------------------------------------------------------------------------------

def _referenced_objects(fn: Callable, functions: list | None = None) -> list[Any]:
    """Objects fn can reach by name: its closure, the globals its code names, `self`, and
    the same of the functions of yours it reaches that way (a helper reading a global
    model), three levels deep. `functions`, when given, receives those functions (fn
    included)."""
    found: list[Any] = []
    _reach(fn, found, functions if functions is not None else [], set(), 0)
    return found


def _reach(fn: Callable, found: list, functions: list, seen: set, depth: int) -> None:
    if isinstance(fn, functools.partial):  # (its bound arguments, then its function)
        found += (*fn.args, *fn.keywords.values())
        _reach(fn.func, found, functions, seen, depth)
        return
    if _plain_object(fn) and callable(fn):  # an object of yours with a __call__ method
        fn = types.MethodType(type(fn).__call__, fn)
    if isinstance(fn, types.MethodType):
        obj = fn.__self__
        if isinstance(obj, (Tensor, *_state_types())) or not _plain_object(obj):
            found.append(obj)  # (an object of yours: only the attributes below)
        if hasattr(obj, "__dict__"):  # (of your classes: the attributes its code names)
            names = _class_names(type(obj), _names(fn.__func__.__code__)) \
                if _user_function(fn.__func__) and hasattr(fn.__func__, "__code__") else None
            found.extend(v for k, v in vars(obj).items() if names is None or k in names)
        fn = fn.__func__
    code = getattr(fn, "__code__", None)
    if code is None or id(fn) in seen:
        return
    seen.add(id(fn))
    functions.append(fn)
    start = len(found)
    for cell in fn.__closure__ or ():
        try:
            found.append(cell.cell_contents)
        except ValueError:
            pass
    globals_ = getattr(fn, "__globals__", {})
    for name in _names(code):
        if name in globals_:
            found.append(globals_[name])
    if depth < 3:
        for v in found[start:]:
            if type(v) is types.FunctionType and _user_function(v):
                _reach(v, found, functions, seen, depth + 1)


def _user_function(fn: Any) -> bool:
    """A function of the program's own, not of dualjit, NumPy or the standard library."""
    module = getattr(fn, "__module__", None) or ""
    return module.split(".")[0] not in ("dualjit", "numpy", "builtins", "functools", "math")


@functools.lru_cache(maxsize=256)
def _names(code: types.CodeType) -> frozenset[str]:
    """The global names code (and the functions it defines) may read."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return frozenset(names)


@functools.lru_cache(maxsize=256)
def _codes_in(code: types.CodeType) -> frozenset[types.CodeType]:
    """code and the code of the functions (lambdas, comprehensions) it defines."""
    return frozenset({code}).union(*(_codes_in(c) for c in code.co_consts
                                     if isinstance(c, types.CodeType)))


# The Python values a traced call read become constants of its program: a float attribute
# (`self.scale`), a flag (`self.use_tanh`), a global or closure value, a forward hook. So
# the key holds them: plain data by value (_snapshot), anything else by identity (a function
# or an object rebound to another), read from the compiled function's referenced objects,
# every reached module's attributes and hooks, and the globals and closure of the forward of
# each reached module whose class is not dualjit's own.
PLAIN_ITEMS = 256  # plain data with more items (in all) is compared by identity
_SCALARS = frozenset({bool, int, float, complex, str, bytes, type(None)})
_MODULE_BOOKKEEPING = frozenset({"training", "_parameters", "_buffers", "_modules",
                                 "_non_persistent_buffers_set", "_forward_hooks",
                                 "_forward_pre_hooks"})
_OPAQUE = object()


def _snapshot(v: Any, room: list[int]) -> Any:
    """A hashable copy of plain data v: None, bools, numbers, strings, NumPy scalars,
    dtypes and small arrays, and tuples, lists, dicts and sets of these (at most room[0]
    items in all), each with its type (1, 1.0 and True trace differently); _OPAQUE for
    anything else."""
    room[0] -= 1
    if room[0] < 0:
        return _OPAQUE
    t = type(v)
    if t in _SCALARS:
        return (t, "nan") if v != v else (t, v)  # (NaN: equal to itself here)
    if isinstance(v, np.dtype):
        return v
    if isinstance(v, (np.generic, np.ndarray)) and v.dtype.kind in "biufcUS?":
        if v.size > room[0]:
            return _OPAQUE
        room[0] -= v.size
        return (t, v.dtype, v.shape, v.tobytes())
    if t in (tuple, list, set, frozenset):
        items = sorted(v, key=_set_order) if t in (set, frozenset) else v
        parts = tuple(_snapshot_item(x, room) for x in items)
        return _OPAQUE if _OPAQUE in parts else (t, parts)
    if t is dict:
        parts = tuple((_snapshot_item(k, room), _snapshot_item(x, room)) for k, x in v.items())
        return _OPAQUE if any(_OPAQUE in pair for pair in parts) else (t, parts)
    attributes = _attributes(v)
    if attributes is not None:  # a configuration object: its attributes
        pairs = list(attributes.items())
        parts = tuple((k, _snapshot(x, room)) for k, x in pairs)
        return (_Same(v), tuple((k, _Same(x) if snap is _OPAQUE else snap)
                                for (k, snap), (_, x) in zip(parts, pairs)))
    return _OPAQUE


def _snapshot_item(x: Any, room: list[int]) -> Any:
    """An item of a container in its snapshot: its own snapshot, or x by identity (a
    function in a dict of functions, a module in a list: replacing it changes the
    snapshot); _OPAQUE once the room is used up."""
    snap = _snapshot(x, room)
    return _Same(x) if snap is _OPAQUE and room[0] >= 0 else snap


def _set_order(x: Any) -> tuple:
    """A set's items in an order that does not depend on how the set was built: plain
    values by repr, other objects by identity (their repr can be long or change)."""
    return (0, repr(x)) if type(x) in _SCALARS or isinstance(x, (tuple, np.generic)) \
        else (1, id(x))


def _plain_object(v: Any) -> bool:
    """An instance of a user class holding attributes (a config object, a dataclass), not
    a function, class, Python module, or an object of dualjit's, NumPy's or builtins."""
    t = type(v)
    return (hasattr(v, "__dict__") and not isinstance(v, (type, types.ModuleType,
                                                           types.FunctionType,
                                                           types.MethodType,
                                                           functools.partial, Tensor,
                                                           *_state_types()))
            and (t.__module__.split(".")[0] not in _NOT_PLAIN_MODULES
                 or t.__qualname__ in ("Namespace", "SimpleNamespace")))


# classes whose objects are not configuration objects: the standard library's (a logger, a
# lock, a file), dualjit's and NumPy's (their state is found and guarded otherwise)
_NOT_PLAIN_MODULES = frozenset({"dualjit", "numpy", *sys.stdlib_module_names})


def _attributes(v: Any) -> Any:
    """The attributes of a configuration object as a dict (vars(v)), or as a _SlotView for
    an object of a class of yours with __slots__ (`@dataclass(slots=True)`); else None."""
    if _plain_object(v):
        return vars(v)
    t = type(v)
    if not hasattr(v, "__dict__") and _slot_names(t) and not isinstance(v, Tensor) and \
            t.__module__.split(".")[0] not in _NOT_PLAIN_MODULES:
        return _SlotView(v)
    return None


@functools.lru_cache(maxsize=256)
def _slot_names(cls: type) -> tuple[str, ...]:
    """The attribute names the __slots__ of cls and its bases declare (mangled as Python
    stores them: `__x` in class C is `_C__x`)."""
    names: list[str] = []
    for base in cls.__mro__:
        slots = base.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name.startswith("__") and not name.endswith("__"):
                name = f"_{base.__name__.lstrip('_')}{name}"
            if name not in ("__dict__", "__weakref__") and name not in names:
                names.append(name)
    return tuple(names)


class _SlotView:
    """The set slots of an object without a __dict__, read and written as a dict is (the
    snapshot, the side-effect check and the sources read attributes through it)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any):
        self.obj = obj

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self.obj, name, default) if name in _slot_names(type(self.obj)) \
            else default

    def items(self) -> list:
        obj = self.obj
        return [(n, getattr(obj, n)) for n in _slot_names(type(obj)) if hasattr(obj, n)]

    def keys(self) -> list:
        return [n for n, _ in self.items()]

    def values(self) -> list:
        return [v for _, v in self.items()]

    def __contains__(self, name: str) -> bool:
        return name in _slot_names(type(self.obj)) and hasattr(self.obj, name)

    def __setitem__(self, name: str, value: Any) -> None:
        setattr(self.obj, name, value)

    def pop(self, name: str, default: Any = None) -> Any:
        value = self.get(name, default)
        if name in self:
            delattr(self.obj, name)
        return value

    def clear(self) -> None:
        for name in self.keys():
            delattr(self.obj, name)

    def update(self, pairs: Any) -> None:
        for name, value in pairs:
            setattr(self.obj, name, value)


class _Same:
    """An object inside a snapshot, compared by identity (and kept alive by it)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any):
        self.obj = obj

    def __eq__(self, other: Any) -> bool:
        return type(other) is _Same and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


def _read_value(v: Any, keep: list) -> Any:
    """v's part of the key: its snapshot, or its identity (v appended to `keep`, which the
    program holds, so the id is not reused while the key is in use)."""
    snap = _snapshot(v, [PLAIN_ITEMS])
    if snap is _OPAQUE:
        keep.append(v)
        return ("id", id(v))
    return snap


def _values_read(objects: list, modules: list, keep: list) -> tuple:
    """The key's part for the values a trace may have read (see above): per referenced
    object that is not a module, optimizer or tensor, per module its attributes other than
    tensors, submodules and registries, and its hooks, and for modules of user classes the
    objects their forward references."""
    module_type, optimizer_type = _state_types()
    parts: list = []
    for v in objects:
        if not isinstance(v, (module_type, optimizer_type, Tensor)):
            parts.append(_read_value(v, keep))
    for m in modules:
        attributes = tuple((name, _read_value(v, keep)) for name, v in _module_attributes(m)
                           if not isinstance(v, (module_type, Tensor)))
        hooks = (*m._forward_pre_hooks.values(), *m._forward_hooks.values())
        keep.extend(hooks)
        parts.append((attributes, tuple(map(id, hooks))))
        if _user_class(m):
            parts.extend(_read_value(v, keep) for v in _referenced_objects(type(m).forward)
                         if not isinstance(v, (module_type, optimizer_type, Tensor)))
    return tuple(parts)


def _user_class(m: Any) -> bool:
    return not type(m).__module__.startswith("dualjit.")


def _module_attributes(m: Any) -> list:
    """(name, value) of a module's attributes outside its registries that its code may read:
    all of them for dualjit's own modules; for a module of your class, those whose names
    its forward and the methods it calls on itself name (a `self.history` list it never
    reads is not part of the program)."""
    items = [(k, v) for k, v in m.__dict__.items() if k not in _MODULE_BOOKKEEPING]
    if not _user_class(m):
        return items
    names = _class_names(type(m), _names(type(m).forward.__code__))
    return [(k, v) for k, v in items if k in names]


@functools.lru_cache(maxsize=256)
def _class_names(cls: type, names: frozenset) -> frozenset:
    """`names` and, to a fixed point, the names read by the methods (and properties) of cls
    among them: the attributes code reading `names` can reach on an object of cls."""
    out, todo, seen = set(names), list(names), set()
    while todo:
        name = todo.pop()
        attribute = getattr(cls, name, None)
        function = attribute.fget if isinstance(attribute, property) else attribute
        code = getattr(function, "__code__", None)
        if code is None or name in seen:
            continue
        seen.add(name)
        for new in _names(code) - out:
            out.add(new)
            todo.append(new)
    return frozenset(out)


def _contents(objects: list, modules: list) -> list:
    """(value, snapshot) of the values _values_read reads whose contents can change in place
    (lists, dicts, sets, arrays, containers holding them): an identity check does not see
    that."""
    values = list(objects)
    for m in modules:
        values += (v for _, v in _module_attributes(m))
        if _user_class(m):
            values += _referenced_objects(type(m).forward)
    out = []
    for v in values:
        if type(v) not in _SCALARS and not isinstance(v, (np.dtype, Tensor)):
            snap = _snapshot(v, [PLAIN_ITEMS])
            if snap is not _OPAQUE:
                out.append((v, snap))
    return out


MAX_INSIDE = 1024  # items looked at inside containers per call (more: the call runs eagerly)
_CONTAINERS = (list, tuple, set, frozenset, collections.deque)  # (and dict)


def _inside(objects: list, modules: list, room: list[int]) -> list | None:
    """The modules, optimizers and tensors held inside what a call reaches, in a stable
    order: inside the lists, tuples, dicts, sets and configuration objects among `objects`
    (`layers = [nn.Linear(...)]`, `cfg["mask"]`), and in `modules`' attributes outside their
    registries (a tensor attribute that is not a buffer, modules in a plain list), nested up
    to four levels. None when more than room[0] items would be looked at."""
    out: list[Any] = []
    for v in objects:
        if _scannable(v) and not _walk(v, out, room, 0):
            return None
    for m in modules:
        for _, v in _module_attributes(m):
            if isinstance(v, Tensor):
                out.append(v)
            elif _scannable(v) and not _walk(v, out, room, 0):
                return None
    return out


def _held_by(containers: list) -> list | None:
    """What _walk finds in each of `containers`, in order (None: more than MAX_INSIDE)."""
    out: list[Any] = []
    room = [MAX_INSIDE]
    for v in containers:
        if not _walk(v, out, room, 0):
            return None
    return out


def _scannable(v: Any) -> bool:
    return _items(v) is not None


def _items(v: Any) -> Any:
    """What a container holds (a dict's values; a list's, tuple's, set's or deque's items,
    subclasses included; a configuration object's attribute values), or None."""
    if isinstance(v, dict):
        return v.values()
    if isinstance(v, _CONTAINERS):
        return v
    attributes = _attributes(v)
    return None if attributes is None else attributes.values()


def _walk(v: Any, out: list, room: list[int], depth: int) -> bool:
    module_type, optimizer_type = _state_types()
    for x in _items(v):
        room[0] -= 1
        if room[0] < 0:
            return False
        if isinstance(x, (module_type, optimizer_type, Tensor)):
            out.append(x)
        elif depth < 3 and _scannable(x) and not _walk(x, out, room, depth + 1):
            return False
    return True


class _State:
    """The modules, optimizers and tensors a call reaches, in a stable order (each module's
    parameters in module pre-order, then its buffers, then the optimizers' parameters and
    state tensors). Walked at every call: this is the guard's view of the state."""

    def __init__(self, objects: list[Any]):
        module_type, optimizer_type = _state_types()
        self.objects = objects
        self.modules: list[Any] = []  # every module reached, submodules included
        self.optimizers: list[Any] = []
        found: list[Any] = []  # tensors in order, repeats and None included
        room = [MAX_INSIDE]
        # what lists, dicts, config objects and modules' plain attributes hold (_inside)
        self.inside = _inside(objects, [], room)
        seen: set[int] = set()
        roots: list[Any] = []
        held: list[Any] = []  # tensors held outside registries (after every registry's)

        def take(obj: Any, tensors: list) -> None:
            if id(obj) in seen:
                return
            seen.add(id(obj))
            if isinstance(obj, module_type):
                roots.append(obj)
            elif isinstance(obj, optimizer_type):
                self.optimizers.append(obj)
            elif isinstance(obj, Tensor):
                tensors.append(obj)
        for obj in objects:
            take(obj, found)
        for obj in self.inside or ():
            take(obj, held)
        visited: set[int] = set()
        for root in roots:  # (grows: modules held in modules' plain attributes)
            tree: list[Any] = []
            _preorder(root, tree, set())
            new = [m for m in tree if id(m) not in visited]
            for m in tree:
                found.extend(m._parameters.values())
            for m in tree:
                found.extend(m._buffers.values())
            self.modules += new
            visited.update(id(m) for m in tree)
            attributes = _inside([], new, room) if self.inside is not None else None
            if attributes is None:
                self.inside = None
                break
            self.inside += attributes
            for obj in attributes:
                take(obj, held)
        if self.inside is None:
            raise CompileFallback(f"the function reaches containers of more than {MAX_INSIDE} "
                                  "items in all (their modules and tensors are guarded at "
                                  "every call); keep data and logs (a list of batches or of "
                                  "losses) out of what it references: pass batches as "
                                  "arguments")
        for opt in self.optimizers:
            for group in opt.param_groups:
                for p in group["params"]:
                    found.append(p)
                    per_parameter = opt.state.get(p)
                    if per_parameter:
                        found.extend(v for v in per_parameter.values() if isinstance(v, Tensor))
        found += held
        self.tensors = _distinct_arrays(found)
        # a reached tensor without an array (skipped above) may get one later: a call
        # cannot then be admitted by the structure check alone (_Guard)
        self.complete = len(self.tensors) == len({id(t) for t in found if t is not None})

    def key(self) -> tuple:
        """What a program depends on: each state tensor (identity: a program updates the
        tensors it was traced with, which it keeps alive, so an id is never reused), its
        dtype, shape, requires_grad, whether it has a grad and its hooks; every module
        (identity: a module without tensors, ReLU for Tanh, changes the program too) and its training
        flag; each optimizer and parameter group (identity: the program reads the
        hyperparameters of the group it was traced with), their structural options and
        state counts; the Python values a trace may read (_values_read). The program keeps
        the modules, optimizers, groups and values compared by identity alive
        (_Program.reached)."""
        self.values_kept: list = [h for t in self.tensors for h in _tensor_hooks(t)]
        parts = [tuple((id(t), t._value.dtype, t._value.shape, t.requires_grad,
                        t._grad is None, tuple(map(id, _tensor_hooks(t))))
                       for t in self.tensors),
                 tuple((id(m), m.training) for m in self.modules)]
        for opt in self.optimizers:
            parts.append((id(opt), len(opt.state),
                          tuple((id(g), opt.static(g)) for g in opt.param_groups)))
        parts.append(_values_read(self.objects, self.modules, self.values_kept))
        return tuple(parts)

    def reached(self) -> list:
        """The objects whose ids key() reads besides the tensors (after key())."""
        return [*self.modules, *self.optimizers,
                *[g for opt in self.optimizers for g in opt.param_groups],
                *self.values_kept]


def _tensor_hooks(t: Tensor) -> list:
    """The hooks registered on a leaf tensor (Tensor.register_hook): a trace applies them."""
    extra = t._extra
    return extra.hooks if extra is not None and extra.hooks else []


def _distinct_arrays(found: list) -> list[Tensor]:
    """The tensors of `found` holding arrays, each once, in order (a NumPy scalar value is
    given storage first, so the program can update it)."""
    ids: set[int] = set()
    tensors = []
    for t in found:
        if t is None or id(t) in ids:
            continue
        value = t._value
        if type(value) is not np.ndarray:
            if isinstance(value, np.generic):
                value = t._value = np.asarray(value)
            elif not isinstance(value, np.ndarray):
                continue
        ids.add(id(t))
        tensors.append(t)
    return tensors


def _preorder(module: Any, out: list, seen: set) -> None:
    """module and its submodules, depth first, each once (Module.modules()'s order)."""
    if id(module) in seen:
        return
    seen.add(id(module))
    out.append(module)
    for child in module._modules.values():
        if child is not None:
            _preorder(child, out, seen)


@functools.cache
def _state_types() -> tuple[type, type]:
    from .nn.module import Module
    from .optim.optimizer import Optimizer

    return Module, Optimizer


# ---------------------------------------------------------------------------------------------
# Re-checking a key without re-walking
# ---------------------------------------------------------------------------------------------

_END = object()  # closes each registry's run of objects in _structure's `held`


def _structure(state: _State) -> tuple[list, list]:
    """What _State's walk read, as two lists: objects to compare by identity (each module's
    parameters, buffers and submodules, attribute values (its training flag among them) and
    hooks, each closed by _END, and for a user class the objects its forward references; each
    optimizer group, its parameters and their state values) and facts to compare by value
    (the optimizers' state counts, group sizes and structural options). Equal lists, the
    same reached objects and modules: the walk would find the same tensors in the same
    order, and the key would read the same module and optimizer parts."""
    held: list = []
    for m in state.modules:  # (its __dict__ holds its training flag and other attributes)
        held += (*m._parameters.values(), _END, *m._buffers.values(), _END,
                 *m._modules.values(), _END, *m.__dict__.values(), _END,
                 *m._forward_pre_hooks.values(), *m._forward_hooks.values(), _END)
        if _user_class(m):  # (the values _values_read reads, by identity)
            held += (*_referenced_objects(type(m).forward), _END)
    facts: list = []
    for opt in state.optimizers:
        per_parameter, groups = opt.state, opt.param_groups
        facts += (len(per_parameter), len(groups))
        for group in groups:
            params = group["params"]
            held.append(group)
            facts += (len(params), opt.static(group))
            for p in params:
                values = per_parameter.get(p)
                held += (p, *values.values(), _END) if values else (p, _END)
    return held, facts


def _tensor_facts(tensors: list[Tensor]) -> list | None:
    """Per state tensor, what the key reads: its value's dtype and shape, its requires_grad,
    whether it has a grad. None if a value is not an array."""
    facts: list = []
    for t in tensors:
        v = t._value
        if type(v) is not np.ndarray:
            return None
        extra = t._extra
        facts += (v.dtype, v.shape, t.requires_grad, t._grad is None,
                  tuple(extra.hooks) if extra is not None and extra.hooks else ())
    return facts


class _Guard:
    """The program of the latest key, with what that key was computed from, in a form that
    is cheap to check again: a call whose arguments are tensors of the same dtypes, shapes
    and requires_grad, whose function reaches the same objects, whose modules and
    optimizers hold the same tensors, options, flags and state (_structure), whose state
    tensors read the same (_tensor_facts), in the same grad mode, would compute the same key.
    Any difference sends the call to the full key (CompiledFunction.__call__)."""

    __slots__ = ("program", "objects", "state", "held", "facts", "tensor_facts", "arguments",
                 "grad_mode", "contents", "containers", "inside")

    def __init__(self, program: _Program, objects: list, state: _State, args: list[Tensor],
                 grad_mode: tuple):
        self.program = program
        self.objects = objects  # (compared by identity, as `held` is)
        self.state = state
        self.held, self.facts = _structure(state)
        self.tensor_facts = _tensor_facts(state.tensors)
        self.arguments = [(a._value.dtype, a._value.shape, a.requires_grad) for a in args]
        self.grad_mode = grad_mode
        # the contents of the Python values the key read (_values_read) that can change in
        # place (_structure compares the values themselves by identity)
        self.contents = _contents(objects, state.modules)
        # the containers and configuration objects whose contents _inside read (their
        # identities are compared with `objects` and by _structure), and what they held
        self.containers = [v for v in objects if _scannable(v)]
        self.containers += [v for m in state.modules for _, v in _module_attributes(m)
                            if _scannable(v)]
        self.inside = _held_by(self.containers)

    @staticmethod
    def possible(structure: Any, args: list[Tensor], state: _State) -> bool:
        """Whether a key can be re-checked this way: every argument a positional tensor,
        every tensor the walk reached holding an array."""
        positional = ("tuple", (("tuple", tuple(("$t", i) for i in range(len(args)))),
                                ("dict", ())))
        return structure == positional and state.complete

    def admits(self, args: tuple, objects: list) -> bool:
        """Whether a call of these positional arguments, reaching these objects, has the
        key this guard was made for (False may also mean: compute the key to know)."""
        if _modes() != self.grad_mode or len(args) != len(self.arguments):
            return False
        for a, (dtype, shape, requires_grad) in zip(args, self.arguments):
            if not isinstance(a, Tensor):
                return False
            v = a._value
            if type(v) is not np.ndarray or v.shape != shape or \
                    a.requires_grad is not requires_grad or (v.dtype is not dtype and
                                                             v.dtype != dtype):
                return False
        if len(objects) != len(self.objects) or any(map(is_not, objects, self.objects)):
            return False
        held, facts = _structure(self.state)
        return facts == self.facts and len(held) == len(self.held) and \
            not any(map(is_not, held, self.held)) and \
            _tensor_facts(self.state.tensors) == self.tensor_facts and \
            all(_snapshot(v, [PLAIN_ITEMS]) == snap for v, snap in self.contents) and \
            self._same_inside(objects)

    def _same_inside(self, objects: list) -> bool:
        if not self.containers:
            return True
        inside = _held_by(self.containers)
        return inside is not None and len(inside) == len(self.inside) and \
            not any(map(is_not, inside, self.inside))


# ---------------------------------------------------------------------------------------------
# Tracing a call
# ---------------------------------------------------------------------------------------------

class CompileFallback(Exception):
    """The call cannot be traced into one program; it runs eagerly."""


MAX_ARGUMENT_DEPTH = 100  # containers nested deeper than this run eagerly


def _flatten(obj: Any, tensors: list[Tensor], depth: int = 0) -> Any:
    """The structure of obj with each Tensor replaced by its index in `tensors` (as a tagged
    tuple); other values must be hashable (they are part of the guard key)."""
    if isinstance(obj, Tensor):
        tensors.append(obj)
        return ("$t", len(tensors) - 1)
    if isinstance(obj, (list, tuple, dict)) and depth == MAX_ARGUMENT_DEPTH:
        raise CompileFallback(f"the arguments nest containers more than {MAX_ARGUMENT_DEPTH} "
                              "deep (their structure is part of the guard key)")
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, tuple(_flatten(v, tensors, depth + 1) for v in obj))
    if isinstance(obj, dict):
        return ("dict", tuple((k, _flatten(v, tensors, depth + 1)) for k, v in obj.items()))
    try:
        hash(obj)
    except TypeError:
        raise CompileFallback(f"an argument of type {type(obj).__name__} is neither a tensor "
                              "nor hashable") from None
    return ("static", obj)


def _unflatten(structure: Any, tensors: list[Any]) -> Any:
    kind, body = structure
    if kind == "$t":
        return tensors[body]
    if kind in ("list", "tuple"):
        items = [_unflatten(s, tensors) for s in body]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        return {k: _unflatten(s, tensors) for k, s in body}
    return body


class _Trace:
    """One trace in progress: the builder, lifted state, dynamic inputs."""

    def __init__(self, builder: Builder):
        self.builder = builder
        self.dynamics: list[tuple[Any, Callable]] = []
        self.dynamic_tracers: dict[Any, Tracer] = {}

    def dynamic(self, key: Any, make: Callable[[], np.ndarray], t: TensorType) -> Tracer:
        if key is None:
            key = ("fresh", len(self.dynamics))
        found = self.dynamic_tracers.get(key)
        if found is None:
            found = self.builder.new_input(t, None)
            self.dynamics.append((key, make, t))
            self.dynamic_tracers[key] = found
        return found


class _Program:
    """A compiled call: how to gather its inputs, run it, and scatter its outputs."""

    def __init__(self, function: Function, n_args: int, state: list[Tensor], grads: list[bool],
                 dynamics: list, outputs: list, result: Any, record: bool):
        self.function = function
        self.n_args = n_args
        self.state = state
        self.grads = grads  # which state tensors had their grad lifted
        self.dynamics = dynamics
        self.outputs = outputs  # ("result", i) | ("value", k) | ("grad", k) | ("grad-none", k)
        self.result = result
        self.record = record
        self.compiled = None
        self.reached: list = []  # modules, optimizers, groups whose ids the key holds
        # precomputed for run(): the tensors whose grads are inputs (after every state value:
        # _trace_call's order), and where each output goes
        self.lifted = [t for t, lifted in zip(state, grads) if lifted]
        self.makers = [(make, t.dtype.np) for _, make, t in dynamics]
        self.value_stores = [(i, state[k]) for i, (kind, k) in enumerate(outputs)
                             if kind == "value"]
        self.grad_stores = [(i, state[k]) for i, (kind, k) in enumerate(outputs)
                            if kind == "grad"]
        self.cleared = [state[k] for kind, k in outputs if kind == "grad-none"]
        self.n_results = sum(kind == "result" for kind, _ in outputs)  # (the first outputs)

    def run(self, args: Any) -> Any:
        values = [a._value for a in args]
        values += [t._value for t in self.state]
        values += [t._grad._value for t in self.lifted]
        values += [np.asarray(make(), dtype) for make, dtype in self.makers]
        if self.compiled is None:
            self.compiled = self._compile()
        outs = self.compiled(values)
        if not self.record:
            values = None  # (drops this frame's references to the old state arrays)
        # an output is fresh when nothing but `outs` holds it: not an input passed through
        # (the caller's tensors hold those), not one value twice, not a constant the
        # compiled function keeps
        references = _output_references(outs)
        swapped = False
        for i, t in self.value_stores:
            if references[i] == _FRESH_REFERENCES and _swap(t, outs[i]):
                swapped = True
            else:
                write_storage(t, outs[i])
        for i, t in self.grad_stores:
            grad = t._grad
            fresh = references[i] == _FRESH_REFERENCES
            if grad is None:
                t._grad = make_tensor(outs[i] if fresh else np.array(outs[i]))
            elif fresh and _swap(grad, outs[i]):
                swapped = True
            else:
                write_storage(grad, outs[i])
        if swapped:
            note_version_change()
        for t in self.cleared:
            t._grad = None
        tensors = [make_tensor(np.asarray(outs[i])) for i in range(self.n_results)]
        if self.record and is_grad_enabled():
            tensors = self._recorded(args, values, tensors)
        return _unflatten(self.result, tensors)

    def _compile(self) -> Callable:
        from .eager.backward import compile_function

        compiled = compile_function(self.function)
        # a one-kernel program's checked caller (shapes, dtypes, strides of every argument;
        # codegen/callers.py), without the general step loop and its copies
        fast_call = getattr(compiled, "fast_call", None)
        return fast_call or (lambda values: compiled(*values))

    def _recorded(self, args: list[Tensor], values: list, tensors: list[Tensor]) -> list:
        """Forward-only programs called with grad enabled: each float result is a recorded
        node applying the program (projected to that result), so backward() works outside."""
        from .eager.backward import output_projection

        inputs: list[Any] = [*args, *self.state]
        inputs += [t._grad._value for t in self.lifted]
        inputs += values[len(inputs):]
        out = []
        for j, t in enumerate(tensors):
            if t._value.dtype.kind == "f" and any(isinstance(a, Tensor) and a.requires_grad
                                                  for a in inputs):
                t = record_op("CompiledFunctionBackward", output_projection(self.function, j),
                              inputs, t._value)
            out.append(t)
        return out


class _PythonState:
    """Shallow copies of the Python state a traced call could change as a side effect: the
    globals and closure cells of the functions it reaches by name (`functions`, _Covered),
    the attributes (outside registries) of the
    modules it reaches, and the contents of the lists, dicts, sets and configuration objects
    it reaches (_inside's containers). A program repeats only the tensor work of its trace:
    an append to a list, a counter in a global or an attribute set by the trace would happen
    once, with traced values, and never again. So a trace that changes any of these is
    undone (restore) and the call runs eagerly; a trace that fails is undone too (its
    eager rerun would do the side effects twice)."""

    def __init__(self, functions: list, state: _State):
        self.global_values = [(f.__globals__, n, f.__globals__.get(n, _OPAQUE))
                              for f in functions for n in _names(f.__code__)]
        self.cells = [(c, _cell_value(c)) for f in functions for c in f.__closure__ or ()]
        self.containers: list = []
        seen: set[int] = set()
        for root in [*state.objects, *state.modules]:
            _containers_in(root, self.containers, seen, 0)
        self.copies = [_shallow(c) for c in self.containers]

    def changed(self) -> bool:
        if any(g.get(n, _OPAQUE) is not v for g, n, v in self.global_values):
            return True
        if any(_cell_value(c) is not v for c, v in self.cells):
            return True
        return any(not _same_shallow(_shallow(c), copy)
                   for c, copy in zip(self.containers, self.copies))

    def restore(self) -> None:
        for g, n, v in self.global_values:
            if v is _OPAQUE:
                g.pop(n, None)
            else:
                g[n] = v
        for c, v in self.cells:
            if v is not _OPAQUE:
                c.cell_contents = v
        for c, copy in zip(self.containers, self.copies):
            _restore_shallow(c, copy)


def _cell_value(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # (an empty cell)
        return _OPAQUE


def _containers_in(v: Any, out: list, seen: set, depth: int) -> None:
    """The lists, dicts, sets, configuration objects and modules reachable from v (through
    containers and module attributes, four levels), each once."""
    module_type, optimizer_type = _state_types()
    if id(v) in seen or depth > 4:
        return
    if isinstance(v, module_type):
        items = [x for k, x in v.__dict__.items() if k not in _MODULE_BOOKKEEPING]
    else:
        items = _items(v)
        if items is None:
            return
    seen.add(id(v))
    if not isinstance(v, (tuple, frozenset)):  # (what a trace can change)
        out.append(v)
    if len(out) > MAX_INSIDE:
        return
    for x in list(items):
        if not isinstance(x, (optimizer_type, Tensor)):
            _containers_in(x, out, seen, depth + 1)


def _shallow(c: Any) -> Any:
    module_type, _ = _state_types()
    if isinstance(c, dict):
        return list(c.items())
    if isinstance(c, (list, set, collections.deque)):
        return list(c)
    if isinstance(c, module_type):
        return [(k, v) for k, v in c.__dict__.items() if k not in _MODULE_BOOKKEEPING]
    return list(_attributes(c).items())


def _same_shallow(now: list, before: list) -> bool:
    if len(now) != len(before):
        return False
    for a, b in zip(now, before):
        if type(a) is tuple and type(b) is tuple and len(a) == 2 == len(b):  # (key, value)
            if a[0] is not b[0] or a[1] is not b[1]:  # (identity: keys may be tensors)
                return False
        elif a is not b:
            return False
    return True


def _restore_shallow(c: Any, copy: list) -> None:
    module_type, _ = _state_types()
    if isinstance(c, list):
        c[:] = copy
    elif isinstance(c, (dict, set)):
        c.clear()
        c.update(copy)
    elif isinstance(c, collections.deque):
        c.clear()
        c.extend(copy)
    else:
        attributes = c.__dict__ if isinstance(c, module_type) else _attributes(c)
        keep = {k: v for k, v in attributes.items()
                if isinstance(c, module_type) and k in _MODULE_BOOKKEEPING}
        attributes.clear()
        attributes.update(copy)
        attributes.update(keep)


# ---------------------------------------------------------------------------------------------
# The code a trace runs
# ---------------------------------------------------------------------------------------------

# The values read by code the compiled function reaches other than by name — a method of an
# object passed in or held in state, a callback argument, a function taken from a dict or by
# getattr, a lambda held in an attribute — are constants of its program too. So a trace
# records the user code that runs (_Recorder: a trace hook on calls, or a profile hook
# when a debugger or coverage tool holds the trace hook) and what that code names: its globals, the entries of
# your Python modules it names (`helpers.act`), the attributes of the objects of your
# classes passed to it (`self` included) and the closure cells of the functions it ran.
# These become the compiled function's sources, read at every call into the objects its
# key reads (CompiledFunction._objects), guarded as the values reached by name are.
MAX_SOURCES = 256  # sources one compiled function reads at every call (more: eager)
_LIBRARIES = frozenset({"dualjit", "numpy", "torch", "llvmlite", *sys.stdlib_module_names})


def _library(module_name: Any) -> bool:
    """Whether code of this module is a library's (its values are not the program's)."""
    return isinstance(module_name, str) and module_name.partition(".")[0] in _LIBRARIES


def _user_object(v: Any) -> bool:
    """An object of your class whose attributes your code reads (a plain object, a module of
    your class)."""
    return _attributes(v) is not None or isinstance(v, _state_types()[0]) and _user_class(v)


@functools.lru_cache(maxsize=256)
def _rebinds_free_variable(code: types.CodeType) -> bool:
    """Whether code assigns a variable of its closure (`nonlocal n; n += 1`)."""
    import dis

    return any(i.opname in ("STORE_DEREF", "DELETE_DEREF") and i.argval in code.co_freevars
               for i in dis.get_instructions(code))


def _alive(obj: Any) -> Callable[[], Any]:
    """A weak reference to obj (a strong one if it takes none)."""
    try:
        return weakref.ref(obj)
    except TypeError:
        return lambda: obj


class _Covered:
    """What the key already reads by name, which the recorded code need not add: the
    functions reached by name (their globals and closure cells), and per object the
    attributes read of it (a reached module's, the `self` of a compiled method)."""

    def __init__(self, fn: Callable, leaves: list, state: _State):
        self.functions: list = []
        for root in (fn, *filter(_user_callable, leaves)):
            _referenced_objects(root, self.functions)
        for cls in {type(m) for m in state.modules if _user_class(m)}:
            _referenced_objects(cls.forward, self.functions)
        self.globals = {(code, id(f.__globals__)) for f in self.functions
                        for code in _codes_in(f.__code__)}  # (_names reads nested code too)
        own = {f.__code__ for f in self.functions}
        # the code of functions the functions reached by name make: made afresh at each
        # call, their closure is that call's (a closure stored for later is a side effect)
        self.made = {code for f in self.functions for code in _codes_in(f.__code__)} - own
        self.names: dict[int, Any] = {}  # id(object) -> the names read of it (None: all)
        for m in state.modules:
            self.names[id(m)] = _class_names(type(m), _names(type(m).forward.__code__)) \
                if _user_class(m) else None
        if isinstance(fn, types.MethodType) and hasattr(fn.__func__, "__code__") and \
                _user_function(fn.__func__):  # (a compiled method: _reach read its `self`)
            owner = fn.__self__
            self.names[id(owner)] = _class_names(type(owner), _names(fn.__func__.__code__))

    def closure(self, code: types.CodeType, values: tuple) -> bool:
        """Whether a function reached by name runs code with these closure values."""
        return any(f.__code__ is code and len(f.__closure__ or ()) == len(values) and
                   all(map(operator.is_, map(_cell_value, f.__closure__), values))
                   for f in self.functions)


class _Recorder:
    """The user code a trace runs (not dualjit's, NumPy's, torch's or the standard
    library's), recorded at each call of it: the globals its code names, the Python modules
    of yours among them, the objects of your classes passed to it and the values of its
    closure. After the trace: whether that code changed any of these (a side effect a program
    would not repeat: `changed`, `restore`) and the sources to read at every call
    (`sources`). A function reached other than by name that rebinds a variable of its
    closure stops the trace at once (its cells cannot be found to be restored), unless a
    function reached by name made it (during this call: _Covered.made)."""

    def __init__(self, covered: _Covered):
        self.covered = covered
        self.user: dict[types.CodeType, bool] = {}  # code -> whether it is user code
        self.globals: dict[types.CodeType, dict] = {}  # user code run -> its globals
        self.items: dict[tuple, tuple] = {}  # (id(mapping), name) -> (mapping, name, value
        #                                      when first seen, whose it is)
        self.containers: list[tuple] = []  # (container, shallow copy, whose it is)
        self.seen_containers: set[int] = set()
        self.objects: dict[tuple, tuple] = {}  # (id(obj), code) -> (alive, obj's __dict__)
        self.closures: dict[types.CodeType, list[tuple]] = {}  # code -> its closure values
        self.made: dict[int, Any] = {}  # objects whose __init__ ran in the trace, by id
        self.seen_objects: set[int] = set()
        self.keep: list = []  # the objects seen, alive while the trace runs (ids stay theirs)
        self.failure: str | None = None

    def __enter__(self) -> _Recorder:
        # a trace hook is called at calls only (a profile hook at returns and C calls too),
        # so it is the cheaper one; a debugger or coverage tool holds it: then a profile hook
        known = self.user.get
        event = self._event

        def on_call(frame: types.FrameType, kind: str, arg: Any) -> None:
            if kind == "call" and known(frame.f_code) is not False:
                event(frame)
        if sys.gettrace() is None:
            self.install = sys.settrace
        elif sys.getprofile() is None:
            self.install = sys.setprofile
        else:
            raise CompileFallback("a tracer and a profiler are both active: the code the "
                                  "function runs cannot be recorded")
        # the collector runs code at its own times (gc.callbacks, finalizers of objects in
        # reference cycles): not the function's work, so not during the trace
        self.collecting = gc.isenabled()
        gc.disable()
        self.install(on_call)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.install(None)
        if self.collecting:
            gc.enable()
        self.keep = []  # (the objects the trace made die now: not state, not sources)
        self.made = {}

    def _event(self, frame: types.FrameType) -> None:
        code = frame.f_code
        user = self.user.get(code)
        try:
            if user is None:
                user = self.user[code] = not _library(frame.f_globals.get("__name__"))
                if user:
                    self._first_call(frame, code)
            if user:
                self._call(frame, code)
        except CompileFallback:
            raise
        except Exception as e:  # (the trace stops: its values could not all be guarded)
            self.failure = f"recording the code it runs failed ({type(e).__name__}: {e})"
            raise CompileFallback(self.failure) from None

    def _first_call(self, frame: types.FrameType, code: types.CodeType) -> None:
        globals_ = self.globals[code] = frame.f_globals
        for name in _names(code):
            value = globals_.get(name, _OPAQUE)
            self._item(globals_, name, value, None)
            if _user_module(value):
                entries = vars(value)
                for attribute in _names(code) & entries.keys():
                    self._item(entries, attribute, entries[attribute], None)

    def _call(self, frame: types.FrameType, code: types.CodeType) -> None:
        count = code.co_argcount + code.co_kwonlyargcount
        free = code.co_freevars
        if not count and not free:
            return
        local = frame.f_locals
        if code.co_name == "__init__" and count:  # (an object the trace makes: not state)
            made = local.get(code.co_varnames[0])
            if id(made) not in self.seen_objects:
                self.made.setdefault(id(made), made)
        for name in code.co_varnames[:count]:
            v = local.get(name)
            if (id(v), code) not in self.objects and id(v) not in self.made and \
                    _user_object(v):
                self.seen_objects.add(id(v))
                self.keep.append(v)
                alive = _alive(v)
                attributes = vars(v) if hasattr(v, "__dict__") else _attributes(v)
                self.objects[(id(v), code)] = (alive, attributes)
                for attribute in _attribute_names(code, attributes):
                    self._item(attributes, attribute, attributes.get(attribute, _OPAQUE), alive)
        if free and free != ("__class__",) and code not in self.covered.made and \
                code.co_name not in _COMPREHENSIONS:
            values = tuple(local.get(n, _OPAQUE) for n in free)
            if self.covered.closure(code, values):
                return
            if _rebinds_free_variable(code):
                self.failure = ("a function it reaches other than by name rebinds a variable "
                                f"of its closure ({code.co_name}: nonlocal "
                                f"{', '.join(code.co_freevars)}); a program would not repeat "
                                "that")
                raise CompileFallback(self.failure)
            self.closures.setdefault(code, []).append(values)

    def _item(self, mapping: Any, name: str, value: Any, alive: Any) -> None:
        key = (id(mapping.obj if type(mapping) is _SlotView else mapping), name)
        if key in self.items:
            return
        self.items[key] = (mapping, name, value, alive)
        if _scannable(value):
            found: list = []
            _containers_in(value, found, self.seen_containers, 0)
            self.containers += [(c, _shallow(c), alive) for c in found]

    def check(self) -> None:
        if self.failure is not None:  # (also when the traced code caught the exception)
            raise CompileFallback(self.failure)

    def changed(self) -> bool:
        if not self._changes():
            return False
        gc.collect(1)  # (objects the trace made, in a reference cycle, are not state)
        return self._changes()

    def _changes(self) -> bool:
        return any(_live(alive) and mapping.get(name, _OPAQUE) is not value
                   for mapping, name, value, alive in self.items.values()) or \
            any(_live(alive) and not _same_shallow(_shallow(c), copy)
                for c, copy, alive in self.containers)

    def restore(self) -> None:
        for mapping, name, value, alive in self.items.values():
            if _live(alive) and mapping.get(name, _OPAQUE) is not value:
                if value is _OPAQUE:
                    mapping.pop(name, None)
                else:
                    mapping[name] = value
        for c, copy, alive in self.containers:
            if _live(alive):
                _restore_shallow(c, copy)

    def sources(self) -> tuple[list, list]:
        """(mapping, name) of each value the recorded code read that the key does not read
        by name (a global, an entry of a Python module, an attribute of a live object),
        and the closure cells of the functions it ran."""
        items: list = []
        for code, globals_ in self.globals.items():
            names = _names(code)
            if (code, id(globals_)) not in self.covered.globals:
                items += [(globals_, n) for n in names if n in globals_]
            for module in (globals_.get(n) for n in names):
                if _user_module(module):
                    entries = vars(module)
                    items += [(entries, a) for a in names if a in entries]
        for (_, code), (alive, attributes) in self.objects.items():
            obj = alive()
            if obj is None:  # (an object the trace made)
                continue
            read = self.covered.names.get(id(obj), frozenset())
            if read is not None:
                items += [(attributes, n) for n in _attribute_names(code, attributes)
                          if n in attributes and n not in read]
        return items, self._cells()

    def _cells(self) -> list:
        """The cells of the live functions that ran with the recorded closure values (found
        by their code among all objects: a frame does not give its function)."""
        if not self.closures:
            return []
        covered = {id(f) for f in self.covered.functions}
        cells = []
        for f in gc.get_referrers(*self.closures):
            if type(f) is not types.FunctionType or id(f) in covered or \
                    f.__code__ not in self.closures:
                continue
            values = tuple(map(_cell_value, f.__closure__))
            if any(all(map(operator.is_, values, seen)) for seen in self.closures[f.__code__]):
                cells += [c for c, n in zip(f.__closure__, f.__code__.co_freevars)
                          if n != "__class__"]
        return cells


def _attribute_names(code: types.CodeType, attributes: dict) -> Any:
    """The attributes code may read of an object passed to it: those it names, all of them
    if it reads attributes by computed names (getattr, vars, __dict__)."""
    names = _names(code)
    return names.union(attributes.keys()) if names & _DYNAMIC_READS else names


_DYNAMIC_READS = frozenset({"getattr", "vars", "__dict__", "__getattribute__"})


_COMPREHENSIONS = frozenset({"<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>"})


def _live(alive: Any) -> bool:
    return alive is None or alive() is not None


def _user_module(v: Any) -> bool:
    """A Python module of yours (not a library's)."""
    return type(v) is types.ModuleType and not _library(getattr(v, "__name__", None))


class _RandomDraws:
    """Whether a trace drew numbers from Python's `random` or NumPy's global generator: a
    program would keep the numbers of its trace at every call (dualjit's own draws, dj.rand
    and dropout, are program inputs drawn at each call)."""

    def __init__(self):
        self.python = random.getstate()
        self.numpy = np.random.get_state(legacy=False)

    def check(self) -> None:
        state = np.random.get_state(legacy=False)
        if random.getstate() != self.python or state["state"]["pos"] != \
                self.numpy["state"]["pos"] or state["has_gauss"] != self.numpy["has_gauss"] or \
                not np.array_equal(state["state"]["key"], self.numpy["state"]["key"]):
            random.setstate(self.python)  # (the eager run draws the trace's numbers)
            np.random.set_state(self.numpy)
            raise CompileFallback("the function draws from Python's random or NumPy's global "
                                  "generator (a program would repeat its trace's numbers); use "
                                  "dualjit's (dj.rand, dj.randn, dj.randint, dropout)")


def _trace_call(fn: Callable, args: list[Tensor], structure: Any, state: _State,
                covered: _Covered) -> tuple[_Program, tuple[list, list]]:
    """The program of one call of fn, and the sources the code it ran reads (_Recorder)."""
    lifted_values: dict[int, Tracer] = {}
    saved = [(t, t._value, t._grad, None if t._grad is None else t._grad._value,
              None if t._counter is None else t._counter[0]) for t in state.tensors]
    arg_saved = [(a, a._value, a._grad, None if a._grad is None else a._grad._value,
                  None if a._counter is None else a._counter[0]) for a in args]
    builder = Builder()
    trace = _Trace(builder)
    grads = []
    with builder:
        for a in args:
            a._value = builder.new_input(TensorType(as_dtype(a._value.dtype), a._value.shape))
        arg_inputs = [a._value for a in args]
        for t in state.tensors:
            t._value = lifted_values[id(t)] = builder.new_input(
                TensorType(as_dtype(t._value.dtype), t._value.shape))
        for t in state.tensors:  # (after every value: _Program.run gathers them so)
            lifted = t._grad is not None
            grads.append(lifted)
            if lifted:
                t._grad._value = builder.new_input(
                    TensorType(as_dtype(t._grad._value.dtype), t._grad._value.shape))
        grad_inputs = {id(t): t._grad._value for t in state.tensors if t._grad is not None}
        previous, _context.trace = _context.trace, trace
        drawn = _RandomDraws()
        python_state = _PythonState(covered.functions, state)
        recorder = _Recorder(covered)
        try:
            positional, keywords = _unflatten(structure, args)
            try:
                with recorder:
                    result = fn(*positional, **keywords)
                recorder.check()
            except BaseException:
                recorder.restore()  # (the eager rerun does the side effects once)
                python_state.restore()
                raise
            if recorder.changed() or python_state.changed():
                recorder.restore()  # (then the values from before the trace)
                python_state.restore()
                raise CompileFallback("the function changes Python state it reaches (a "
                                      "list, dict or set, a global, a closure variable or "
                                      "an attribute): a program would not repeat that")
            sources = recorder.sources()
            drawn.check()
            for a, atom, (_, _, grad, grad_value, _) in zip(args, arg_inputs, arg_saved):
                if a._value is not atom or a._grad is not grad or \
                        (grad is not None and grad._value is not grad_value):
                    raise CompileFallback("the function changes an argument tensor in place "
                                          "or sets its .grad (pass it as module state, or "
                                          "return the new value)")
            outputs, out_atoms, result_structure = _collect(result, state, lifted_values,
                                                            grad_inputs)
            fn_ir, captures = builder.build(out_atoms)
        finally:
            _context.trace = previous
            for t, value, grad, grad_value, version in (*saved, *arg_saved):
                t._value, t._grad = value, grad
                if grad is not None:
                    grad._value = grad_value
                if version is not None:
                    t._counter[0] = version
                    note_version_change()
    if captures:
        raise CompileFallback("the function uses a value traced by an enclosing transform")
    from .ir.passes import simplify
    from .ir.verifier import check

    fn_ir = check(simplify(fn_ir))
    # A call that produced gradients is a training step; otherwise (a forward) its results
    # are recorded as nodes when called with grad enabled, so backward() works outside.
    step = any(kind in ("grad", "grad-none") for kind, _ in outputs)
    record = not step and any(kind == "result" for kind, _ in outputs)
    program = _Program(fn_ir, len(args), state.tensors, grads, trace.dynamics, outputs,
                       result_structure, record)
    program.reached = state.reached()  # (their ids are in the key: kept alive)
    return program, sources


def _argument_leaves(structure: Any) -> list:
    """The non-tensor values among a call's arguments (a callback, an object, a module)."""
    kind, body = structure
    if kind == "static":
        return [body]
    if kind in ("list", "tuple"):
        return [v for s in body for v in _argument_leaves(s)]
    if kind == "dict":
        return [v for _, s in body for v in _argument_leaves(s)]
    return []


def _argument_objects(structure: Any) -> list:
    """What a call reaches through its arguments: each non-tensor argument that is not a
    plain value (a module passed in is state; an object's attributes and a callback's
    identity are read) and what a callable among them reaches by name (its globals and
    closure, as for the compiled function)."""
    out: list = []
    for v in _argument_leaves(structure):
        if type(v) not in _SCALARS:
            out.append(v)
            if _user_callable(v):
                out += _referenced_objects(v)
    return out


def _user_callable(v: Any) -> bool:
    """A function, method, partial or callable object of yours (a library's function
    passed in, `dj.tanh`, is not followed into its module's globals)."""
    while isinstance(v, functools.partial):
        v = v.func
    if isinstance(v, types.MethodType):
        v = v.__func__
    return _plain_object(v) and callable(v) or \
        isinstance(v, types.FunctionType) and not _library(v.__module__)


def _same_state(a: _State, b: _State) -> bool:
    """Whether two walks found the same tensors, modules and optimizers."""
    return all(len(x) == len(y) and not any(map(is_not, x, y))
               for x, y in ((a.tensors, b.tensors), (a.modules, b.modules),
                            (a.optimizers, b.optimizers)))


def _collect(result: Any, state: _State, lifted: dict, grad_inputs: dict) -> tuple:
    """Program outputs: the result's tensors, then every state value or gradient that the
    call changed."""
    tensors: list[Tensor] = []
    structure = _flatten(result, tensors)
    outputs, atoms = [], []
    for i, t in enumerate(tensors):
        outputs.append(("result", i))
        atoms.append(current_value(t))  # (a view whose base changed reads it again)
    for k, t in enumerate(state.tensors):
        if t._value is not lifted[id(t)]:
            outputs.append(("value", k))
            atoms.append(t._value)
        g = t._grad
        if g is None:
            if id(t) in grad_inputs:
                outputs.append(("grad-none", k))
        elif g._value is not grad_inputs.get(id(t)):
            outputs.append(("grad", k))
            atoms.append(g._value)
    for v in atoms:
        if isinstance(v, Tracer) and v.builder is not current_builder():
            raise CompileFallback("a traced value from another trace reached the result")
    return outputs, atoms, structure


# ---------------------------------------------------------------------------------------------
# The compiled callable
# ---------------------------------------------------------------------------------------------

def _modes() -> tuple:
    """The global modes a trace reads: grad mode and the default float dtype (the dtype of
    tensors made from Python floats)."""
    return is_grad_enabled(), get_default_dtype()


_EAGER = object()
MAX_PROGRAMS = 8  # programs one compiled function keeps (torch.compile's cache_size_limit)


class CompiledFunction:
    """What dj.compile returns for a function (or, wrapped by CompiledModule, a forward)."""

    def __init__(self, fn: Callable, owners: tuple = ()):
        self.fn = fn
        self.owners = owners  # objects whose state is reached besides fn's references
        self._programs: dict[Any, Any] = {}
        self._guard: _Guard | None = None  # the latest program run, re-checked cheaply
        self._warmed: set = set()
        self._logged: set = set()
        # what the code traces ran reads besides what fn reaches by name (_Recorder): a
        # global or an attribute ((mapping, name)), a closure cell; read at every call
        self._items: list[tuple[dict, str]] = []
        self._cells: list = []
        self._sources: set[tuple] = set()
        functools.update_wrapper(self, fn)

    def _objects(self) -> list:
        """What a call reaches before its arguments: the owners, fn's references and the
        sources' values (__call__ inlines this)."""
        objects = [*self.owners, *_referenced_objects(self.fn)]
        if self._items or self._cells:
            objects += self._source_values()
        return objects

    def _source_values(self) -> list:
        return [*(mapping.get(name, _OPAQUE) for mapping, name in self._items),
                *map(_cell_value, self._cells)]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if _context.trace is not None or current_builder() is not None:
            return self.fn(*args, **kwargs)
        objects = [*self.owners, *_referenced_objects(self.fn)]  # (self._objects())
        if self._items or self._cells:
            objects += self._source_values()
        guard = self._guard
        if guard is not None and not kwargs and guard.admits(args, objects):
            return guard.program.run(args)
        try:
            tensors, structure, state, key = self._key(args, kwargs, objects)
        except CompileFallback as e:
            self._log(None, str(e))
            return self.fn(*args, **kwargs)
        program = self._programs.get(key)
        if program is None:
            if key not in self._warmed:  # the first call runs eagerly: it creates state
                return self._warm_up(key, args, kwargs)
            if len(self._programs) >= MAX_PROGRAMS:  # (a value that changes at every call)
                self._log("limit", f"{MAX_PROGRAMS} programs compiled already (the guards "
                          "keep changing: a shape, a Python value the function reads); new "
                          "keys run eagerly")
                return self.fn(*args, **kwargs)
            program, objects, state = self._compile(key, args, kwargs, tensors, structure,
                                                    objects, state)
        if program is _EAGER:
            return self.fn(*args, **kwargs)
        # the next call with this key is recognized without walking (_Guard)
        self._guard = _Guard(program, objects, state, tensors, _modes()) \
            if _Guard.possible(structure, tensors, state) else None
        return program.run(tensors)

    def _key(self, args: tuple, kwargs: dict, objects: list) -> tuple:
        """The call's argument tensors, structure, state (reached from `objects` and the
        non-tensor arguments) and guard key."""
        tensors: list[Tensor] = []
        structure = _flatten((args, kwargs), tensors)
        if any(not isinstance(t._value, np.ndarray) for t in tensors):
            raise CompileFallback("an argument holds a traced value")
        state = _State([*objects, *_argument_objects(structure)])
        key = (structure, tuple((t._value.dtype, t._value.shape, t.requires_grad)
                                for t in tensors), state.key(), _modes())
        hash(key)
        return tensors, structure, state, key

    def _warm_up(self, key: Any, args: tuple, kwargs: dict) -> Any:
        """Run fn eagerly (without native code) to create its state; the next call with these
        guards, as they read now that the state exists, traces and compiles."""
        if len(self._warmed) >= 64 * MAX_PROGRAMS:  # (keys that never repeat: forget them)
            self._warmed.clear()
        self._warmed.add(key)
        previous, native_steps.enabled = native_steps.enabled, False
        try:
            result = self.fn(*args, **kwargs)
        finally:
            native_steps.enabled = previous
        try:
            self._warmed.add(self._key(args, kwargs, self._objects())[3])
        except CompileFallback:
            pass  # (the next call logs why it runs eagerly)
        return result

    def _compile(self, key: Any, args: tuple, kwargs: dict, tensors: list[Tensor],
                 structure: Any, objects: list, state: _State) -> tuple:
        """Trace and compile the call: (its program or _EAGER, the objects and state its
        guard reads). A trace whose code reads new sources is keyed with them; if they hold
        state the trace did not lift (a module read by a method of an argument), it traces
        again (the sources only grow, so this ends)."""
        from .ir import IRError
        from .tracer.core import ConcretizationError

        for _ in range(3):
            # (what the IR cannot express, e.g. bool + bool or an integer power of an integer
            # array, runs eagerly as NumPy does it; a user's error is raised again by that run)
            try:
                covered = _Covered(self.fn, _argument_leaves(structure), state)
                program, (items, cells) = _trace_call(self.fn, tensors, structure, state,
                                                      covered)
                if not self._add_sources(items, cells):
                    break
                objects = self._objects()
                tensors, structure, new_state, key = self._key(args, kwargs, objects)
            except (CompileFallback, ConcretizationError, IRError, RuntimeError, TypeError,
                    ValueError) as e:
                self._log(key, f"{type(e).__name__}: {str(e).splitlines()[0]}")
                program = _EAGER
                break
            same = _same_state(new_state, state)
            state = new_state
            if same:
                program.reached = state.reached()  # (the new key's objects)
                break
        else:
            self._log(key, "the state the function reaches kept changing while tracing")
            program = _EAGER
        self._programs[key] = program
        return program, objects, state

    def _add_sources(self, items: list, cells: list) -> bool:
        """Add the sources not read yet; False if there were none."""
        new = False
        for mapping, name in items:
            key = (id(mapping.obj if type(mapping) is _SlotView else mapping), name)
            if key not in self._sources:
                self._sources.add(key)
                self._items.append((mapping, name))
                new = True
        for cell in cells:
            if (id(cell),) not in self._sources:
                self._sources.add((id(cell),))
                self._cells.append(cell)
                new = True
        if len(self._sources) > MAX_SOURCES:
            raise CompileFallback(f"the code it runs reads more than {MAX_SOURCES} Python "
                                  "values other than by name (globals, attributes, closure "
                                  "variables), each read at every call")
        return new

    def _log(self, key: Any, reason: str) -> None:
        if key in self._logged or reason in self._logged:  # (once per key and per reason)
            return
        self._logged.update((key, reason))
        log.warning("dualjit.compile(%s) runs eagerly: %s", getattr(self.fn, "__name__", "fn"),
                    reason)


class CompiledModule:
    """dj.compile(module): calls run the compiled forward; attributes are the module's."""

    def __init__(self, module: Any):
        object.__setattr__(self, "_orig_mod", module)
        object.__setattr__(self, "_forward", CompiledFunction(module.forward, (module,)))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._forward(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._orig_mod, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._orig_mod, name, value)

    def __getitem__(self, index: Any) -> Any:
        return self._orig_mod[index]

    def __len__(self) -> int:
        return len(self._orig_mod)

    def __iter__(self):
        return iter(self._orig_mod)

    def __repr__(self) -> str:
        return f"OptimizedModule(\n  (_orig_mod): {self._orig_mod!r}\n)".replace(
            "\n)\n)", "\n  )\n)")


def compile(model: Any = None, *, fullgraph: bool = False, dynamic: Any = None,  # noqa: A001
            backend: Any = "inductor", mode: Any = None, options: Any = None,
            disable: bool = False) -> Any:
    """Compile a Module (its forward) or a function (e.g. a whole training step) into one
    native program per guard key; see the module docstring. Usable as a decorator."""
    if model is None:
        return functools.partial(compile, fullgraph=fullgraph, dynamic=dynamic,
                                 backend=backend, mode=mode, options=options, disable=disable)
    if disable:
        return model
    from .nn.module import Module

    if isinstance(model, Module):
        return CompiledModule(model)
    if not callable(model):
        raise TypeError(f"dualjit.compile expects a Module or a callable, got "
                        f"{type(model).__name__}")
    return CompiledFunction(model)
