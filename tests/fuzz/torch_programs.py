"""Random small PyTorch programs, written once against a `lib` (torch or dualjit).

A program is driven by its seed: `run_program(lib, seed)` draws every choice (operation,
operands, shapes, dims, scalars) from `random.Random(seed)` and every array from a NumPy
generator of the same seed, so `lib=torch` and `lib=dualjit` run the same program as long as
they agree on the shapes and dtypes the choices look at (where they do not, the comparison
already reports that step). Each step's result (or the exception it raised) is recorded under
a label that spells the step in PyTorch, e.g. `v4 = v1.narrow(0, 1, 2)`; the last steps record
every leaf's `.grad` after `backward()` on a scalar. Tensor programs: elementwise math with
Python scalars and mixed dtypes, reductions, shape ops and views followed by in-place ops on
the views, products.

`tests/fuzz/torch_run.py` runs both libraries and compares; `tests/fuzz/test_torch_programs.py`
checks dualjit alone (backward against finite differences, compiled against eager).
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SHAPES = [(), (1,), (3,), (0,), (2, 3), (3, 1), (1, 4), (2, 0), (2, 1, 3), (4, 4), (2, 3, 4),
          (3, 2)]
DTYPES = ["float32", "float64", "int64", "bool"]
FLOATS = ("float32", "float64")


@dataclass
class Record:
    """One recorded result: `kind` is 'value', 'none', 'error' or 'skip'."""

    label: str
    kind: str
    dtype: str = ""
    shape: tuple = ()
    array: Any = None
    error: str = ""
    error_kinds: tuple = ()  # the names of the error's classes (its type and their bases)
    # a sum's tolerance: the dtype of its least precise term and the sum of the terms' sizes
    # (the loss adds terms that may cancel: their float32 roundings are relative to them)
    tolerance_dtype: str = ""
    magnitude: float = 0.0
    loose: float = 1.0   # a factor on the tolerance (e.g. float32 linear algebra)


@dataclass
class Trace:
    seed: int
    kind: str
    records: list = field(default_factory=list)


def dtype_name(t: Any) -> str:
    return str(t.dtype).replace("torch.", "")


def to_record(label: str, value: Any) -> Record:
    if value is None:
        return Record(label, "none")
    if isinstance(value, (bool, int, float)):
        return Record(label, "value", type(value).__name__, (), np.asarray(value))
    return Record(label, "value", dtype_name(value), tuple(value.shape),
                  np.array(value.detach().numpy(), copy=True))


class Program:
    """The state of one program run: its library, random streams, values and records."""

    def __init__(self, lib: Any, seed: int, steps: int | None = None,
                 fresh_grad: bool = True, only64: bool = False):
        self.lib = lib
        self.only64 = only64  # (float32 arrays made float64: for finite differences)
        self.fresh_grad = fresh_grad  # (do fresh operands made mid-program require grad?)
        self.rng = random.Random(seed)
        self.data = np.random.default_rng(seed)
        self.trace = Trace(seed, "")
        self.tolerances: dict[str, tuple] = {}  # label -> (tolerance_dtype, magnitude)
        self.pool: list[tuple[str, Any]] = []   # (name, tensor)
        self.leaves: list[tuple[str, Any]] = []
        self.steps = steps
        self.pending = ""
        self.given: list = []   # leaf tensors passed in (a compiled program's arguments)
        self.allowed_errors: set | None = None  # (compiled runs: the labels that may raise)
        self.loose: dict[str, float] = {}  # label -> factor on its tolerance
        self.grad_loose = 1.0  # (api programs: the factor for the gradients and loss)

    # ----- values
    def array(self, shape, dtype: str) -> np.ndarray:
        if self.only64 and dtype == "float32":
            dtype = "float64"
        if dtype == "bool":
            return self.data.random(shape) < 0.5
        if dtype == "int64":
            return self.data.integers(-4, 5, shape).astype(np.int64)
        return self.data.uniform(-2.0, 2.0, shape).astype(dtype)

    def tensor(self, shape, dtype: str, requires_grad: bool = False) -> Any:
        arr = self.array(shape, dtype)
        requires_grad = requires_grad and self.fresh_grad
        return self.lib.tensor(arr, dtype=getattr(self.lib, str(arr.dtype)),
                               requires_grad=requires_grad)

    def leaf(self, shape, dtype: str) -> tuple[str, Any]:
        requires_grad = dtype in FLOATS and self.rng.random() < 0.8
        name = f"x{len(self.leaves)}"
        arr = self.array(shape, dtype)
        t = self.given.pop(0) if self.given else self.lib.tensor(
            arr, dtype=getattr(self.lib, str(arr.dtype)), requires_grad=requires_grad)
        self.leaves.append((name, t))
        self.pool.append((name, t))
        self.record(f"{name} = leaf({shape}, {dtype}, requires_grad={requires_grad})", t)
        return name, t

    def record(self, label: str, value: Any) -> None:
        """Keep a snapshot of value (a clone: later in-place ops must not change it), made a
        Record by finish() (after a compiled run, from the program's outputs)."""
        if isinstance(value, tuple):
            for i, v in enumerate(value):
                self.record(f"{label}[{i}]", v)
        elif value is None or isinstance(value, (bool, int, float)):
            self.trace.records.append(to_record(label, value))
        else:
            self.trace.records.append((label, value.detach().clone()))

    def snapshots(self) -> list:
        return [r[1] for r in self.trace.records if isinstance(r, tuple)]

    def finish(self, values: list | None = None) -> Trace:
        """Turn the snapshots into Records (values: replacements, in order, e.g. the outputs
        of the compiled program)."""
        values = iter(values if values is not None else self.snapshots())
        self.trace.records = [to_record(r[0], next(values)) if isinstance(r, tuple) else r
                              for r in self.trace.records]
        for r in self.trace.records:
            if r.label in self.tolerances:
                r.tolerance_dtype, r.magnitude = self.tolerances[r.label]
            r.loose = self.loose.get(r.label, 1.0)
        return self.trace

    def add(self, value: Any) -> str:
        name = f"v{len(self.pool)}"
        self.pool.append((name, value))
        return name

    def pick(self, want=None) -> tuple[str, Any]:
        choices = [p for p in self.pool if want is None or want(p[1])]
        if not choices:
            return self.pool[self.rng.randrange(len(self.pool))]
        return choices[self.rng.randrange(len(choices))]

    def is_float(self, t) -> bool:
        return dtype_name(t) in FLOATS

    # ----- choices that depend only on shapes
    def dim(self, t, allow_none=False):
        if t.dim() == 0 or (allow_none and self.rng.random() < 0.25):
            return None
        d = self.rng.randrange(t.dim())
        return d - t.dim() if self.rng.random() < 0.3 else d

    def broadcast_shape(self, shape) -> tuple:
        shape = list(shape)
        r = self.rng.random()
        if r < 0.3 and shape:
            shape = shape[self.rng.randrange(len(shape) + 1):]
        shape = [1 if self.rng.random() < 0.3 else s for s in shape]
        if self.rng.random() < 0.1:
            shape = [2] + shape
        return tuple(shape)

    def scalar(self):
        return self.rng.choice([2, -1, 0, 3, 0.5, -1.5, 2.0, True, False])


def run_program(lib: Any, seed: int, steps: int | None = None, compiled: bool = False,
                fresh_grad: bool = True) -> Trace:
    """The program of `seed` on lib. compiled=True (dualjit): its body (all but backward())
    runs as `lib.compile(body)(*leaves)`, three calls (eager, trace, the compiled program),
    the last one's outputs recorded; fresh operands made mid-program then cannot require
    grad (they are constants of the program), so compare with fresh_grad=False."""
    if not compiled:
        prog = Program(lib, seed, steps, fresh_grad)
        prog.trace.kind = "tensor"
        loss = tensor_program(prog)
        backward_step(prog, loss)
        return prog.finish()
    leaves = make_leaves(lib, seed)
    _RUNS.programs.clear()

    def body(*given):
        prog = _new_run(lib, seed, steps, given)
        loss = tensor_program(prog)
        return prog.snapshots() + ([] if loss is None else [loss])

    fn = lib.compile(body)
    for _ in range(3):
        out = fn(*leaves)
    prog = _RUNS.programs[-1]
    prog.leaves = [(name, t) for (name, _), t in zip(prog.leaves, leaves)]
    snaps = prog.snapshots()
    loss = out[len(snaps)] if len(out) > len(snaps) else None
    prog.trace.kind = "tensor, compiled"
    backward_step(prog, loss)
    return prog.finish(list(out[:len(snaps)]) + prog.snapshots()[len(snaps):])


# The Programs of one compiled run_program's calls, kept where dj.compile's check for side
# effects on the Python state a function reaches does not look: an object of the standard
# library (threading.local: not a configuration object, its attributes are opaque to the
# check; a change the check sees would make the call run eagerly, and the compiled program
# would go untested). The harness needs the trace's Program (its records) beside the
# compiled call's outputs.
_RUNS = threading.local()
_RUNS.programs = deque()


def _new_run(lib: Any, seed: int, steps: int | None, given: tuple) -> Program:
    prog = Program(lib, seed, steps, fresh_grad=False)
    prog.given = list(given)
    if _RUNS.programs:  # (an error the eager first call did not raise propagates, as user
        # code's would)
        prog.allowed_errors = {r.label for r in _RUNS.programs[0].trace.records
                               if isinstance(r, Record) and r.kind == "error"}
    _RUNS.programs.append(prog)
    return prog


def make_leaves(lib: Any, seed: int, only64: bool = False) -> list:
    """The leaves tensor_program(seed) starts from (the same draws)."""
    prog = Program(lib, seed, only64=only64)
    _draw_leaves(prog)
    return [t for _, t in prog.leaves]


def loss_with_leaves(lib: Any, seed: int, leaves: list, only64: bool = False):
    """The program of `seed` run eagerly from the given leaves (fresh operands require no
    grad): its loss tensor, or None."""
    prog = Program(lib, seed, fresh_grad=False, only64=only64)
    prog.given = list(leaves)
    return tensor_program(prog)


def _draw_leaves(prog: Program) -> None:
    rng = prog.rng
    for _ in range(rng.randint(1, 3)):
        prog.leaf(rng.choice(SHAPES), rng.choice(DTYPES + ["float32", "float64"]))


def tensor_program(prog: Program):
    """Runs the steps; returns the scalar loss (None when nothing requires grad)."""
    rng = prog.rng
    _draw_leaves(prog)
    for _ in range(prog.steps or rng.randint(3, 9)):
        op = rng.choice(TENSOR_OPS)
        label, value = None, None
        try:
            label, value = op(prog)
        except Exception as e:  # noqa: BLE001 (an error is a result to compare)
            label = getattr(e, "fuzz_label", None) or prog.pending
            if prog.allowed_errors is not None and label not in prog.allowed_errors:
                raise
            prog.trace.records.append(error_record(label, e))
            continue
        if value is not None:
            prog.record(label, value)
    try:
        return loss_of(prog)
    except Exception as e:  # noqa: BLE001 (e.g. PyTorch's error for a multi-output view
        # changed in place and then read)
        prog.trace.records.append(error_record("loss", e))
        return None


def error_record(label: str, e: Exception) -> Record:
    return Record(label, "error", error=type(e).__name__, array=str(e)[:200],
                  error_kinds=tuple(k.__name__ for k in type(e).__mro__))


def loss_of(prog: Program):
    """loss = sum of (v * w).sum() over the pool values that require grad (w: fixed random
    weights), or None. Each term is summed in float64 (v.double()), so that two libraries'
    float32 summation orders, which differ in the last bits, do not show as a difference of
    the loss once its terms cancel."""
    lib = prog.lib
    terms = [(n, t) for n, t in prog.pool if getattr(t, "requires_grad", False)]
    if not terms:
        return None
    loss = None
    names = []
    magnitude = 0.0
    for name, t in terms:
        if t.is_complex():  # (the real and imaginary parts, each with its own weights)
            t = lib.view_as_real(t.resolve_conj())
        w = prog.array(tuple(t.shape), dtype_name(t)).astype(np.float64)
        term = (t.double() * lib.tensor(w)).sum()
        loss = term if loss is None else loss + term
        names.append(name)
        if lib.__name__ == "torch":  # (the reference's record decides the tolerance; the
            # other side may be traced, with no values to read)
            magnitude += float(np.nansum(np.abs(t.detach().numpy() * w)))
    prog.loss_label = "loss = " + " + ".join(f"({n} * w).sum()" for n in names)
    least = "float32" if any(dtype_name(t) in ("float32", "complex64") for _, t in terms) \
        else "float64"
    prog.tolerances[prog.loss_label] = (least, magnitude)
    return loss


def backward_step(prog: Program, loss) -> None:
    """backward() on the loss; records it and every leaf's grad."""
    if loss is None:
        return
    prog.record(prog.loss_label, loss)
    try:
        loss.backward()
    except Exception as e:  # noqa: BLE001
        prog.trace.records.append(error_record("loss.backward()", e))
        return
    for name, t in prog.leaves:
        if t.requires_grad:
            prog.record(f"{name}.grad", t.grad)


# ----------------------------------------------------------------------------- operations
# Each takes the Program, sets prog.pending to the step's label before calling the library
# (so an exception is recorded under it) and returns (label, value).

def _call(prog: Program, label: str, fn):
    prog.pending = label
    value = fn()
    return label, value


def _other(prog: Program, t):
    """A second operand for a binary op: a pool value, a fresh broadcastable leaf, a 0-d
    tensor or a Python scalar. Returns (spelling, value)."""
    r = prog.rng.random()
    if r < 0.3:
        return f"{prog.scalar()!r}", None
    if r < 0.45:
        dtype = prog.rng.choice(DTYPES)
        name = prog.add(prog.tensor((), dtype))
        return name, prog.pool[-1][1]
    if r < 0.75:
        shape = prog.broadcast_shape(tuple(t.shape))
        dtype = prog.rng.choice(DTYPES + list(FLOATS))
        name = prog.add(prog.tensor(shape, dtype, dtype in FLOATS and prog.rng.random() < 0.5))
        prog.leaves.append(prog.pool[-1])
        return name, prog.pool[-1][1]
    same = [p for p in prog.pool if tuple(p[1].shape) == tuple(t.shape)]
    name, value = same[prog.rng.randrange(len(same))]
    return name, value


def op_unary(prog: Program):
    name, t = prog.pick()
    fn = prog.rng.choice(["exp", "log", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "sqrt",
                          "rsqrt", "neg", "square", "reciprocal", "sign", "floor", "round",
                          "log1p", "expm1", "erf", "logical_not"])
    lib = prog.lib
    if prog.rng.random() < 0.5:
        return _call(prog, f"{prog.add_name()} = torch.{fn}({name})",
                     lambda: _push(prog, getattr(lib, fn)(t)))
    return _call(prog, f"{prog.add_name()} = {name}.{fn}()",
                 lambda: _push(prog, getattr(t, fn)()))


def _push(prog: Program, value):
    prog.add(value)
    return value


def _add_name(self) -> str:
    return f"v{len(self.pool)}"


Program.add_name = _add_name


BINARY = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b, "//": lambda a, b: a // b, "%": lambda a, b: a % b,
    "**": lambda a, b: a ** b, "<": lambda a, b: a < b, "==": lambda a, b: a == b,
    "&": lambda a, b: a & b,
}


def op_binary(prog: Program):
    name, t = prog.pick()
    other, o = _other(prog, t)
    value = o if o is not None else eval(other)  # a Python scalar's repr
    sym = prog.rng.choice(list(BINARY) + ["max", "min", "atan2", "where"])
    swap = prog.rng.random() < 0.3
    a, b, sa, sb = (value, t, other, name) if swap else (t, value, name, other)
    lib = prog.lib
    res = prog.add_name()
    if sym in BINARY:
        return _call(prog, f"{res} = {sa} {sym} {sb}", lambda: _push(prog, BINARY[sym](a, b)))
    if sym == "where":
        cname, c = prog.pick(lambda v: dtype_name(v) == "bool")
        return _call(prog, f"{res} = torch.where({cname} > 0, {sa}, {sb})",
                     lambda: _push(prog, lib.where(c > 0, a, b)))
    fn = {"max": "maximum", "min": "minimum", "atan2": "atan2"}[sym]
    if o is None:
        b = lib.tensor(value) if not swap else b
        a = lib.tensor(value) if swap else a
        sa, sb = (f"torch.tensor({sa})", sb) if swap else (sa, f"torch.tensor({sb})")
    return _call(prog, f"{res} = torch.{fn}({sa}, {sb})",
                 lambda: _push(prog, getattr(lib, fn)(a, b)))


def op_reduce(prog: Program):
    name, t = prog.pick()
    rng, lib = prog.rng, prog.lib
    fn = rng.choice(["sum", "mean", "prod", "amax", "amin", "std", "var", "norm", "logsumexp",
                     "softmax", "log_softmax", "cumsum", "max", "min", "argmax", "argmin",
                     "all", "any", "count_nonzero"])
    d = prog.dim(t, allow_none=fn in ("sum", "mean", "prod", "std", "var", "norm", "max", "min",
                                      "argmax", "argmin", "amax", "amin"))
    keep = rng.random() < 0.4
    res = prog.add_name()
    if fn in ("softmax", "log_softmax", "cumsum"):
        d = 0 if d is None else d
        return _call(prog, f"{res} = torch.{fn}({name}, dim={d})",
                     lambda: _push(prog, getattr(lib, fn)(t, dim=d)))
    if fn in ("max", "min") and d is not None:
        label = f"{res} = {name}.{fn}(dim={d}, keepdim={keep})"

        def run():
            out = getattr(t, fn)(dim=d, keepdim=keep)
            values, indices = out
            _push(prog, values)
            if dtype_name(t) not in FLOATS:   # ties: PyTorch does not promise which index
                return (values,)
            return values, indices
        return _call(prog, label, run)
    if d is None:
        if fn in ("all", "any", "count_nonzero", "logsumexp"):
            d = 0 if t.dim() else None
        if d is None:
            return _call(prog, f"{res} = {name}.{fn}()", lambda: _push(prog, getattr(t, fn)()))
    if fn == "norm":
        p = rng.choice([2, 1, float("inf")])
        return _call(prog, f"{res} = torch.norm({name}, p={p}, dim={d}, keepdim={keep})",
                     lambda: _push(prog, lib.norm(t, p=p, dim=d, keepdim=keep)))
    if fn in ("std", "var") and rng.random() < 0.5:
        corr = rng.choice([0, 1])
        return _call(prog, f"{res} = {name}.{fn}(dim={d}, correction={corr}, keepdim={keep})",
                     lambda: _push(prog, getattr(t, fn)(dim=d, correction=corr, keepdim=keep)))
    if fn == "count_nonzero":
        return _call(prog, f"{res} = torch.count_nonzero({name}, dim={d})",
                     lambda: _push(prog, lib.count_nonzero(t, dim=d)))
    return _call(prog, f"{res} = {name}.{fn}(dim={d}, keepdim={keep})",
                 lambda: _push(prog, getattr(t, fn)(dim=d, keepdim=keep)))


def _view_of(prog: Program, base, bname: str):
    """A random view of `base` (spelling, function)."""
    rng = prog.rng
    shape = tuple(base.shape)
    kinds = ["slice", "narrow", "transpose", "view", "index", "unsqueeze", "expand", "t",
             "diagonal", "step", "reshape_t", "select", "chunk", "unbind", "permute",
             "flatten", "squeeze"]
    kind = rng.choice(kinds)
    if not shape:
        kind = rng.choice(["view", "unsqueeze", "expand"])
    if kind == "slice":
        d = rng.randrange(len(shape))
        a = rng.randint(0, shape[d])
        b = rng.randint(a, shape[d])
        idx = (slice(None),) * d + (slice(a, b),)
        text = ", ".join([":"] * d + [f"{a}:{b}"])
        return f"{bname}[{text}]", lambda: base[idx]
    if kind == "step" and shape[-1] > 0:
        return f"{bname}[..., ::2]", lambda: base[..., ::2]
    if kind == "narrow":
        d = rng.randrange(len(shape))
        a = rng.randint(0, shape[d])
        n = rng.randint(0, shape[d] - a)
        return f"{bname}.narrow({d}, {a}, {n})", lambda: base.narrow(d, a, n)
    if kind == "transpose" and len(shape) >= 2:
        d0, d1 = rng.sample(range(len(shape)), 2)
        return f"{bname}.transpose({d0}, {d1})", lambda: base.transpose(d0, d1)
    if kind == "t" and len(shape) <= 2:
        return f"{bname}.t()", lambda: base.t()
    if kind == "index" and shape[0] > 0:
        i = rng.randrange(-shape[0], shape[0])
        return f"{bname}[{i}]", lambda: base[i]
    if kind == "unsqueeze":
        d = rng.randint(0, len(shape))
        return f"{bname}.unsqueeze({d})", lambda: base.unsqueeze(d)
    if kind == "expand":
        new = tuple(3 if s == 1 else s for s in shape)
        return f"{bname}.expand({new})", lambda: base.expand(*new)
    if kind == "diagonal" and len(shape) >= 2:
        return f"{bname}.diagonal()", lambda: base.diagonal()
    if kind == "reshape_t" and len(shape) >= 2:   # (a copy unless a dimension is 1)
        return f"{bname}.transpose(0, 1).reshape(-1)", lambda: base.transpose(0, 1).reshape(-1)
    if kind == "select" and shape[-1] > 0:
        i = rng.randrange(shape[-1])
        return f"{bname}.select(-1, {i})", lambda: base.select(-1, i)
    if kind == "chunk" and shape[0] > 0:
        n = rng.randint(1, 3)
        k = rng.randrange(len(range(0, shape[0], -(-shape[0] // n))))
        return f"{bname}.chunk({n})[{k}]", lambda: base.chunk(n)[k]
    if kind == "unbind" and shape[0] > 0:
        k = rng.randrange(shape[0])
        return f"{bname}.unbind(0)[{k}]", lambda: base.unbind(0)[k]
    if kind == "permute":
        perm = list(range(len(shape)))
        rng.shuffle(perm)
        return f"{bname}.permute({perm})", lambda: base.permute(*perm)
    if kind == "flatten":
        return f"{bname}.flatten()", lambda: base.flatten()
    if kind == "squeeze":
        return f"{bname}.squeeze()", lambda: base.squeeze()
    return f"{bname}.view(-1)", lambda: base.view(-1)


def op_view_inplace(prog: Program):
    """base = x * 1 (a non-leaf), v = a view of base, an in-place op on v; records base and
    v after it, both join the pool."""
    rng, lib = prog.rng, prog.lib
    name, x = prog.pick()
    bname = prog.add_name()
    prog.pending = f"{bname} = {name} * 1"
    base = _push(prog, x * 1) if rng.random() < 0.7 else _push(prog, x.clone())
    vtext, make = _view_of(prog, base, bname)
    vname = prog.add_name()
    prog.pending = f"{vname} = {vtext}"
    view = _push(prog, make())
    prog.record(prog.pending, view)
    vshape, vdtype = tuple(view.shape), dtype_name(view)
    kind = rng.choice(["add_", "mul_", "clamp_", "setitem", "masked_fill_", "index_add_",
                       "scatter_add_", "fill_", "zero_", "copy_", "sub_", "div_", "base_add_",
                       "exp_", "sin_", "pow_", "setitem_slice", "setitem_mask", "mul_grad"])
    label = f"{vname}.{kind}"
    if kind in ("add_", "mul_", "sub_", "div_"):
        if rng.random() < 0.5:
            s = prog.scalar()
            label, fn = f"{vname}.{kind}({s!r})", lambda: getattr(view, kind)(s)
        else:
            other = prog.tensor(prog.broadcast_shape(vshape)[-len(vshape):] if vshape else (),
                                rng.choice([vdtype, "float32", "int64"]))
            oname = prog.add(other)
            label, fn = f"{vname}.{kind}({oname})", lambda: getattr(view, kind)(other)
    elif kind == "clamp_":
        lo = rng.choice([None, -0.5, 0, -1])
        hi = rng.choice([0.5, 1, 2]) if lo is None or rng.random() < 0.6 else None
        label, fn = f"{vname}.clamp_(min={lo}, max={hi})", lambda: view.clamp_(min=lo, max=hi)
    elif kind == "setitem" and vshape and vshape[0] > 0:
        i = rng.randrange(vshape[0])
        s = prog.scalar()
        use_t = rng.random() < 0.5
        val = prog.tensor(vshape[1:], vdtype) if use_t else s
        spelled = "tensor" if use_t else repr(s)

        def fn():
            view[i] = val
        label = f"{vname}[{i}] = {spelled}"
    elif kind == "masked_fill_":
        mask = prog.tensor(prog.broadcast_shape(vshape)[-len(vshape):] if vshape else (), "bool")
        s = prog.scalar()
        label, fn = f"{vname}.masked_fill_(mask, {s!r})", lambda: view.masked_fill_(mask, s)
    elif kind in ("index_add_", "scatter_add_") and vshape and min(vshape) > 0:
        d = rng.randrange(len(vshape))
        if kind == "index_add_":
            n = rng.randint(0, 4)
            index = lib.tensor(prog.data.integers(0, vshape[d], n).astype(np.int64))
            src_shape = vshape[:d] + (n,) + vshape[d + 1:]
            src = prog.tensor(src_shape, vdtype)
            alpha = rng.choice([1, 2])
            label = f"{vname}.index_add_({d}, index, src, alpha={alpha})"

            def fn():
                return view.index_add_(d, index, src, alpha=alpha)
        else:
            src_shape = tuple(rng.randint(0, s) for s in vshape)
            index = lib.tensor(prog.data.integers(0, vshape[d], src_shape).astype(np.int64))
            src = prog.tensor(src_shape, vdtype)
            label = f"{vname}.scatter_add_({d}, index{src_shape}, src)"

            def fn():
                return view.scatter_add_(d, index, src)
    elif kind == "fill_":
        s = prog.scalar()
        label, fn = f"{vname}.fill_({s!r})", lambda: view.fill_(s)
    elif kind == "copy_":
        src = prog.tensor(prog.broadcast_shape(vshape)[-len(vshape):] if vshape else (),
                          rng.choice(DTYPES))
        label, fn = f"{vname}.copy_(src)", lambda: view.copy_(src)
    elif kind in ("exp_", "sin_"):
        label, fn = f"{vname}.{kind}()", lambda: getattr(view, kind)()
    elif kind == "pow_":
        e = rng.choice([2, 3, 0.5])
        label, fn = f"{vname}.pow_({e})", lambda: view.pow_(e)
    elif kind == "mul_grad":   # (an operand that requires grad: the derivative reads view)
        w = prog.tensor(vshape[-1:] if vshape else (), rng.choice(FLOATS), True)
        prog.leaves.append((prog.add(w), w))
        label, fn = f"{vname}.mul_(w{tuple(w.shape)})", lambda: view.mul_(w)
    elif kind == "setitem_slice" and vshape:
        a = rng.randint(0, vshape[0])
        b = rng.randint(a, vshape[0])
        val = prog.tensor((b - a,) + vshape[1:], vdtype) if rng.random() < 0.5 else \
            prog.scalar()

        def fn():
            view[a:b] = val
        label = f"{vname}[{a}:{b}] = {'tensor' if not isinstance(val, (int, float)) else val}"
    elif kind == "setitem_mask":
        mask = prog.tensor(vshape, "bool")
        s = prog.scalar()

        def fn():
            view[mask] = s
        label = f"{vname}[mask] = {s!r}"
    elif kind == "base_add_":
        label, fn = f"{bname}.add_(1)", lambda: base.add_(1)
    else:
        label, fn = f"{vname}.zero_()", lambda: view.zero_()
    prog.pending = label
    fn()
    prog.record(f"{label} -> {bname}", base)
    return f"{label} -> {vname}", view


def op_shape(prog: Program):
    rng, lib = prog.rng, prog.lib
    name, t = prog.pick()
    shape = tuple(t.shape)
    res = prog.add_name()
    kind = rng.choice(["reshape", "permute", "flatten", "squeeze", "flip", "roll", "tril",
                       "triu", "repeat_interleave", "repeat", "cat", "stack", "split", "chunk",
                       "gather", "index_select", "scatter", "where_self", "contiguous_view",
                       "expand_as", "getitem_tensor", "masked_select"])
    nd = len(shape)
    d = rng.randrange(nd) if nd else 0
    if kind == "reshape":
        new = (-1,) if rng.random() < 0.5 or nd == 0 else (shape[0], -1)
        return _call(prog, f"{res} = {name}.reshape({new})", lambda: _push(prog, t.reshape(new)))
    if kind == "permute" and nd:
        perm = list(range(nd))
        rng.shuffle(perm)
        return _call(prog, f"{res} = {name}.permute({perm})",
                     lambda: _push(prog, t.permute(*perm)))
    if kind == "flatten":
        return _call(prog, f"{res} = torch.flatten({name})", lambda: _push(prog, lib.flatten(t)))
    if kind == "squeeze":
        dd = d if nd and rng.random() < 0.5 else None
        return _call(prog, f"{res} = {name}.squeeze({dd})",
                     lambda: _push(prog, t.squeeze() if dd is None else t.squeeze(dd)))
    if kind == "flip" and nd:
        return _call(prog, f"{res} = torch.flip({name}, ({d},))",
                     lambda: _push(prog, lib.flip(t, (d,))))
    if kind == "roll":
        s = rng.randint(-3, 3)
        dd = d if nd and rng.random() < 0.6 else None
        return _call(prog, f"{res} = torch.roll({name}, {s}, {dd})",
                     lambda: _push(prog, lib.roll(t, s, dd)))
    if kind in ("tril", "triu"):
        k = rng.randint(-1, 1)
        return _call(prog, f"{res} = torch.{kind}({name}, {k})",
                     lambda: _push(prog, getattr(lib, kind)(t, k)))
    if kind == "repeat_interleave":
        r = rng.randint(0, 2)
        dd = d if nd and rng.random() < 0.6 else None
        return _call(prog, f"{res} = {name}.repeat_interleave({r}, dim={dd})",
                     lambda: _push(prog, t.repeat_interleave(r, dim=dd)))
    if kind == "repeat":
        reps = tuple(rng.randint(1, 2) for _ in range(nd + rng.randint(0, 1)))
        return _call(prog, f"{res} = {name}.repeat{reps}", lambda: _push(prog, t.repeat(*reps)))
    if kind in ("cat", "stack"):
        other_shape = list(shape)
        if kind == "cat" and nd:
            other_shape[d] = rng.randint(0, 2)
        o = prog.tensor(tuple(other_shape), rng.choice([dtype_name(t), "float64", "int64"]),
                        False)
        oname = prog.add(o)
        dd = d if kind == "cat" else rng.randint(-nd - 1, nd)
        return _call(prog, f"{res} = torch.{kind}([{name}, {oname}], dim={dd})",
                     lambda: _push(prog, getattr(lib, kind)([t, o], dim=dd)))
    if kind in ("split", "chunk") and nd:
        n = rng.randint(1, 3)

        def run():
            parts = getattr(t, kind)(n, dim=d)
            for p in parts:
                prog.add(p)
            return tuple(parts)
        return _call(prog, f"{res}.. = {name}.{kind}({n}, dim={d})", run)
    if kind in ("gather", "scatter") and nd and shape[d] > 0:
        ishape = tuple(rng.randint(0, s) for s in shape)
        index = lib.tensor(prog.data.integers(0, shape[d], ishape).astype(np.int64))
        if kind == "gather":
            return _call(prog, f"{res} = torch.gather({name}, {d}, index{ishape})",
                         lambda: _push(prog, lib.gather(t, d, index)))
        src = prog.tensor(ishape, dtype_name(t))
        return _call(prog, f"{res} = {name}.scatter({d}, index{ishape}, src)",
                     lambda: _push(prog, t.scatter(d, index, src)))
    if kind == "index_select" and nd:
        n = rng.randint(0, 4)
        hi = max(shape[d], 1)
        index = lib.tensor(prog.data.integers(0, hi, n).astype(np.int64))
        return _call(prog, f"{res} = torch.index_select({name}, {d}, index[{n}] < {hi})",
                     lambda: _push(prog, lib.index_select(t, d, index)))
    if kind == "getitem_tensor" and nd:
        n = rng.randint(0, 3)
        hi = max(shape[0], 1)
        index = lib.tensor(prog.data.integers(-hi, hi, n).astype(np.int64))
        return _call(prog, f"{res} = {name}[index[{n}] in [-{hi}, {hi})]",
                     lambda: _push(prog, t[index]))
    if kind == "masked_select":
        mask = prog.tensor(shape, "bool")
        return _call(prog, f"{res} = {name}[mask]", lambda: _push(prog, t[mask]))
    if kind == "expand_as" and nd:
        big = (2,) + shape
        o = prog.tensor(big, "float32")
        return _call(prog, f"{res} = {name}.expand_as(zeros{big})",
                     lambda: _push(prog, t.expand_as(o)))
    if kind == "contiguous_view" and nd >= 2:
        return _call(prog, f"{res} = {name}.transpose(0, 1).contiguous().view(-1)",
                     lambda: _push(prog, t.transpose(0, 1).contiguous().view(-1)))
    return _call(prog, f"{res} = {name}.clone()", lambda: _push(prog, t.clone()))


def op_product(prog: Program):
    rng, lib = prog.rng, prog.lib
    name, t = prog.pick(lambda v: dtype_name(v) in FLOATS and 1 <= v.dim() <= 3)
    shape = tuple(t.shape)
    nd = len(shape)
    res = prog.add_name()
    k = shape[-1] if nd else 1
    dtype = dtype_name(t) if rng.random() < 0.85 else rng.choice(FLOATS)
    kind = rng.choice(["matmul", "mm", "bmm", "mv", "dot", "outer", "einsum", "@"])
    n = rng.randint(0, 3)
    if kind in ("matmul", "@"):
        o = prog.tensor((k, n) if rng.random() < 0.7 else (k,), dtype, rng.random() < 0.5)
        oname = prog.add(o)
        prog.leaves.append(prog.pool[-1])
        return _call(prog, f"{res} = {name} @ {oname}{tuple(o.shape)}",
                     lambda: _push(prog, t @ o if kind == "@" else lib.matmul(t, o)))
    if kind == "mm":
        o = prog.tensor((k, n), dtype, True)
        prog.leaves.append((prog.add(o), o))
        return _call(prog, f"{res} = torch.mm({name}, w{(k, n)})",
                     lambda: _push(prog, lib.mm(t, o)))
    if kind == "bmm":
        o = prog.tensor((shape[0], k, n), dtype)
        prog.add(o)
        return _call(prog, f"{res} = torch.bmm({name}, w{(shape[0], k, n)})",
                     lambda: _push(prog, lib.bmm(t, o)))
    if kind in ("mv", "dot"):
        o = prog.tensor((k,), dtype, True)
        prog.leaves.append((prog.add(o), o))
        return _call(prog, f"{res} = torch.{kind}({name}, w({k},))",
                     lambda: _push(prog, getattr(lib, kind)(t, o)))
    if kind == "outer":
        o = prog.tensor((n,), dtype, True)
        prog.leaves.append((prog.add(o), o))
        return _call(prog, f"{res} = torch.outer({name}, w({n},))",
                     lambda: _push(prog, lib.outer(t, o)))
    letters = "ijk"[:nd]
    o = prog.tensor((k, n), dtype, True)
    prog.leaves.append((prog.add(o), o))
    spec = f"{letters},{letters[-1]}z->{letters[:-1]}z"
    return _call(prog, f"{res} = torch.einsum('{spec}', {name}, w{(k, n)})",
                 lambda: _push(prog, lib.einsum(spec, t, o)))


def op_clamp(prog: Program):
    name, t = prog.pick()
    rng, lib = prog.rng, prog.lib
    lo = rng.choice([None, -1, -0.5, 0])
    hi = rng.choice([None, 1, 0.5]) if lo is not None else rng.choice([1, 0.5])
    res = prog.add_name()
    if rng.random() < 0.5:
        return _call(prog, f"{res} = torch.clamp({name}, {lo}, {hi})",
                     lambda: _push(prog, lib.clamp(t, lo, hi)))
    p = rng.choice([2, 3, 0.5, -1, 0, 2.5])
    return _call(prog, f"{res} = {name}.pow({p})", lambda: _push(prog, t.pow(p)))


def op_cast(prog: Program):
    name, t = prog.pick()
    kind = prog.rng.choice(["float", "double", "long", "bool", "int"])
    if prog.only64 and kind == "float":
        kind = "double"
    res = prog.add_name()
    if kind in ("long", "int") and prog.is_float(t):
        # (NaN and inf to an integer are undefined in C and PyTorch; dualjit's compiled code
        # saturates, as its README says: finite values only)
        return _call(prog, f"{res} = {name}.nan_to_num(0, 0, 0).{kind}()",
                     lambda: _push(prog, getattr(t.nan_to_num(0.0, 0.0, 0.0), kind)()))
    return _call(prog, f"{res} = {name}.{kind}()", lambda: _push(prog, getattr(t, kind)()))


TENSOR_OPS = [op_unary, op_unary, op_binary, op_binary, op_binary, op_reduce, op_reduce,
              op_view_inplace, op_view_inplace, op_view_inplace, op_shape, op_shape, op_shape,
              op_product, op_clamp, op_cast]
