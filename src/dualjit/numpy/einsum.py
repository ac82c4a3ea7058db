"""einsum: Einstein summation with NumPy's whole grammar, contracted pairwise in an order
chosen by cost.

The subscripts (string form with '...' and '->', or the sublist form) are normalized to one
letter per axis. Repeated letters within an operand take its diagonal, letters found in one
operand only and not in the output are summed right away, and the operands are then
contracted two at a time with dot_general, in the order `optimize` picks: 'greedy' (the
default; at each step the pair whose product is smallest relative to its inputs, like
opt_einsum's greedy), 'optimal' (an exhaustive search over contraction trees for up to ten
operands, minimizing multiply-adds), False (left to right) or an explicit path.
"""

from __future__ import annotations

import itertools
import math
import string
from collections.abc import Sequence
from typing import Any

import numpy as _np

from ..ir import primitives as P
from ..tracer.core import bind
from ._core import convert, operand, refuse_out, result_type

__all__ = ["einsum", "einsum_path"]

_LETTERS = string.ascii_letters


class _Term:
    """An operand during contraction: its value and one distinct letter per axis."""

    def __init__(self, value: Any, letters: str):
        self.value = value
        self.letters = letters

    def shape(self) -> tuple[int, ...]:
        return tuple(_np.shape(self.value))


# ---------------------------------------------------------------------------------------------
# Parsing: both call forms to (input letter strings, output letters, operands)
# ---------------------------------------------------------------------------------------------

def _parse(args: tuple) -> tuple[list[str], str | None, list[Any]]:
    if isinstance(args[0], str):
        subscripts, operands = args[0].replace(" ", ""), list(args[1:])
        inputs, arrow, output = subscripts.partition("->")
        return inputs.split(","), output if arrow else None, operands
    return _parse_sublists(args)


def _parse_sublists(args: tuple) -> tuple[list[str], str | None, list[Any]]:
    """einsum(op0, sublist0, op1, sublist1, ..., [sublist_out]) with integer labels."""
    operands, specs = list(args[0::2]), list(args[1::2])
    output = None
    if len(args) % 2 == 1:
        output = args[-1]
        operands = operands[:-1]

    def letters(sublist):
        out = []
        for label in sublist:
            if label is Ellipsis:
                out.append("...")
            elif isinstance(label, (int, _np.integer)) and 0 <= label < len(_LETTERS):
                out.append(_LETTERS[int(label)])
            else:
                raise ValueError(f"einsum: sublist labels must be ints in [0, 52) or "
                                 f"Ellipsis, got {label!r}")
        return "".join(out)

    return [letters(s) for s in specs], None if output is None else letters(output), operands


def _expand_ellipses(inputs: list[str], output: str | None, ndims: list[int]) -> tuple:
    """Replace '...' by letters unused elsewhere (aligned from the right, as broadcasting)."""
    used = set("".join(inputs) + (output or "")) - {"."}
    spare = [c for c in _LETTERS if c not in used]
    longest = 0
    for spec, nd in zip(inputs, ndims):
        named = len(spec.replace("...", ""))
        if "..." in spec:
            longest = max(longest, nd - named)
        elif named != nd:
            raise ValueError(f"einsum: subscripts {spec!r} do not fit an operand with {nd} "
                             "dimensions")
    ellipsis = "".join(spare[:longest])
    expanded = []
    for spec, nd in zip(inputs, ndims):
        if "..." in spec:
            k = nd - len(spec.replace("...", ""))
            if k < 0:
                raise ValueError(f"einsum: subscripts {spec!r} need more dimensions than the "
                                 f"operand's {nd}")
            spec = spec.replace("...", ellipsis[longest - k:])
        expanded.append(spec)
    if output is None:
        counts = {c: "".join(expanded).count(c) for c in set("".join(expanded))}
        output = ellipsis + "".join(sorted(c for c, n in counts.items()
                                           if n == 1 and c not in ellipsis))
    else:
        output = output.replace("...", ellipsis)
    return expanded, output


def _check(inputs: list[str], output: str, operands: list[Any]) -> dict[str, int]:
    if len(inputs) != len(operands):
        raise ValueError(f"einsum: {len(inputs)} operand subscripts for {len(operands)} "
                         "operands")
    for spec in inputs + [output]:
        bad = [c for c in spec if c not in _LETTERS]
        if bad:
            raise ValueError(f"einsum: invalid subscript {bad[0]!r} in {spec!r}")
    if len(set(output)) != len(output):
        raise ValueError(f"einsum: output subscript {output!r} repeats a letter")
    sizes: dict[str, int] = {}
    for spec, op in zip(inputs, operands):
        for c, d in zip(spec, _np.shape(op)):
            if c in sizes and d != sizes[c] and 1 not in (d, sizes[c]):
                raise ValueError(f"einsum: dimension {c!r} has sizes {sizes[c]} and {d}")
            sizes[c] = max(d, sizes.get(c, d))
    missing = [c for c in output if c not in sizes]
    if missing:
        raise ValueError(f"einsum: output subscript {missing[0]!r} does not appear in the "
                         "inputs")
    return sizes


# ---------------------------------------------------------------------------------------------
# One-operand steps: diagonals of repeated letters, squeezing broadcast axes, early sums
# ---------------------------------------------------------------------------------------------

def _diagonal_term(term: _Term) -> _Term:
    """Repeated letters in one operand: keep the diagonal of those axes (a gather)."""
    letters, value = term.letters, term.value
    while len(set(letters)) != len(letters):
        c = next(c for c in letters if letters.count(c) > 1)
        first, second = [i for i, x in enumerate(letters) if x == c][:2]
        value, letters = _diagonal(value, letters, first, second)
    return _Term(value, letters)


def _diagonal(value: Any, letters: str, i: int, j: int) -> tuple[Any, str]:
    shape = list(_np.shape(value))
    n = min(shape[i], shape[j])
    rest = [k for k in range(len(shape)) if k not in (i, j)]
    moved = _transpose(value, rest + [i, j])
    flat = bind(P.reshape_p, moved, new_sizes=tuple(shape[k] for k in rest) +
                (shape[i] * shape[j],))
    picked = _np.arange(n, dtype=_np.int64) * (shape[j] + 1)
    out = bind(P.gather_p, flat, picked, axis=len(rest))
    new_letters = "".join(letters[k] for k in rest) + letters[i]
    return out, new_letters


def _transpose(value: Any, perm: Sequence[int]) -> Any:
    perm = tuple(perm)
    return value if perm == tuple(range(len(perm))) else bind(P.transpose_p, value,
                                                              permutation=perm)


def _squeeze_broadcast(term: _Term, sizes: dict[str, int]) -> _Term:
    """Size-1 axes whose letter is longer elsewhere broadcast: drop them from this operand."""
    drop = [i for i, c in enumerate(term.letters) if term.shape()[i] == 1 and sizes[c] != 1]
    if not drop:
        return term
    keep = [i for i in range(len(term.letters)) if i not in drop]
    value = bind(P.reshape_p, term.value, new_sizes=tuple(term.shape()[i] for i in keep))
    return _Term(value, "".join(term.letters[i] for i in keep))


def _sum_letters(term: _Term, needed: set[str]) -> _Term:
    axes = tuple(i for i, c in enumerate(term.letters) if c not in needed)
    if not axes:
        return term
    value = bind(P.reduce_sum_p, term.value, axes=axes)
    return _Term(value, "".join(c for c in term.letters if c in needed))


# ---------------------------------------------------------------------------------------------
# Contraction order
# ---------------------------------------------------------------------------------------------

def _result_letters(a: str, b: str, others: Sequence[str], output: str) -> str:
    needed = set(output).union(*others) if others else set(output)
    return "".join(dict.fromkeys(c for c in a + b if c in needed))


def _flops(a: str, b: str, sizes: dict[str, int]) -> int:
    return math.prod(sizes[c] for c in set(a + b))


def _size(letters: str, sizes: dict[str, int]) -> int:
    return math.prod(sizes[c] for c in letters)


def _greedy_path(specs: list[str], output: str, sizes: dict[str, int]) -> list[tuple[int, int]]:
    specs, path = list(specs), []
    while len(specs) > 1:
        best = None
        for i, j in itertools.combinations(range(len(specs)), 2):
            others = [s for k, s in enumerate(specs) if k not in (i, j)]
            result = _result_letters(specs[i], specs[j], others, output)
            shares = bool(set(specs[i]) & set(specs[j]))
            key = (not shares, _size(result, sizes) - _size(specs[i], sizes)
                   - _size(specs[j], sizes), _flops(specs[i], specs[j], sizes), i, j)
            if best is None or key < best[0]:
                best = (key, i, j, result)
        _, i, j, result = best
        path.append((i, j))
        specs = [s for k, s in enumerate(specs) if k not in (i, j)] + [result]
    return path


def _optimal_path(specs: list[str], output: str, sizes: dict[str, int]) -> list[tuple[int, int]]:
    """The contraction tree with the fewest multiply-adds (dynamic programming on subsets)."""
    n = len(specs)
    if n > 10:
        return _greedy_path(specs, output, sizes)
    full = (1 << n) - 1

    def letters_of(mask: int) -> str:
        inside = "".join(specs[k] for k in range(n) if mask >> k & 1)
        outside = set(output).union(*[specs[k] for k in range(n) if not mask >> k & 1])
        return "".join(dict.fromkeys(c for c in inside if c in outside))

    best: dict[int, tuple[int, Any]] = {1 << k: (0, k) for k in range(n)}
    for mask in sorted(range(1, full + 1), key=lambda m: bin(m).count("1")):
        if mask in best:
            continue
        candidates = []
        sub = (mask - 1) & mask
        while sub:
            other = mask ^ sub
            if sub < other and sub in best and other in best:
                cost = best[sub][0] + best[other][0] + _flops(letters_of(sub), letters_of(other),
                                                               sizes)
                candidates.append((cost, (sub, other)))
            sub = (sub - 1) & mask
        best[mask] = min(candidates)
    return _tree_to_path(best, full, n)


def _tree_to_path(best: dict, full: int, n: int) -> list[tuple[int, int]]:
    """Turn the best tree into NumPy's path format (positions in the shrinking operand list)."""
    order: list[tuple[int, int]] = []

    def visit(mask):
        node = best[mask][1]
        if isinstance(node, int):
            return
        visit(node[0])
        visit(node[1])
        order.append(node)

    visit(full)
    live = [1 << k for k in range(n)]
    path = []
    for a, b in order:
        i, j = sorted((live.index(a), live.index(b)))
        path.append((i, j))
        live = [m for k, m in enumerate(live) if k not in (i, j)] + [a | b]
    return path


def _path(optimize: Any, specs: list[str], output: str, sizes: dict[str, int]) -> list:
    if isinstance(optimize, (list, tuple)):
        steps = [tuple(p) for p in optimize if p != "einsum_path"]
        if any(len(p) != 2 for p in steps):
            raise ValueError("einsum: an explicit path must contract two operands per step")
        return steps
    if optimize is False or optimize is None or optimize == "none":
        return [(0, 1)] * (len(specs) - 1)
    if optimize in (True, "greedy", "auto"):
        return _greedy_path(specs, output, sizes)
    if optimize == "optimal":
        return _optimal_path(specs, output, sizes)
    raise ValueError(f"einsum: optimize must be True, False, 'greedy', 'optimal' or a path, "
                     f"got {optimize!r}")


# ---------------------------------------------------------------------------------------------
# Contraction
# ---------------------------------------------------------------------------------------------

def _contract(a: _Term, b: _Term, result: str) -> _Term:
    """One dot_general: letters in both and in the result are batch axes, in both only are
    contracted; the rest are free."""
    needed = set(result)
    a = _sum_letters(a, needed | set(b.letters))
    b = _sum_letters(b, needed | set(a.letters))
    shared = [c for c in a.letters if c in b.letters]
    batch = [c for c in shared if c in needed]
    summed = [c for c in shared if c not in needed]
    dims = ((tuple(a.letters.index(c) for c in summed), tuple(b.letters.index(c) for c in summed)),
            (tuple(a.letters.index(c) for c in batch), tuple(b.letters.index(c) for c in batch)))
    value = bind(P.dot_general_p, a.value, b.value, dimension_numbers=dims)
    letters = ("".join(batch) + "".join(c for c in a.letters if c not in shared)
               + "".join(c for c in b.letters if c not in shared))
    return _Term(value, letters)


def _prepare(args: tuple) -> tuple[list[_Term], str, dict[str, int]]:
    inputs, output, operands = _parse(args)
    operands = [operand(o, "einsum") for o in operands]
    operands = [_np.asarray(o) if isinstance(o, (bool, int, float)) else o for o in operands]
    inputs, output = _expand_ellipses(inputs, output, [_np.ndim(o) for o in operands])
    sizes = _check(inputs, output, operands)
    dt = result_type(*operands)
    if dt.kind == "b":
        raise TypeError("einsum: bool operands are not supported; convert them to numbers")
    terms = [_diagonal_term(_Term(convert(o, dt), s)) for o, s in zip(operands, inputs)]
    terms = [_squeeze_broadcast(t, sizes) for t in terms]
    return terms, output, sizes


def einsum(*operands: Any, out: Any = None, optimize: Any = "auto", precision: Any = None,
           preferred_element_type: Any = None, dtype: Any = None, order: str = "K",
           casting: str = "safe") -> Any:
    """Einstein summation: einsum("ij,jk->ik", a, b), einsum(a, [0, 1], b, [1, 2], [0, 2]).

    Supports '...', repeated letters (diagonals and traces), implicit output, broadcasting of
    size-1 axes, and an `optimize`-chosen contraction order. Differentiable in both modes.
    """
    refuse_out("einsum", out)
    terms, output, sizes = _prepare(operands)
    for k, t in enumerate(terms):  # letters no other operand and not the output needs
        others = set(output).union(*[s.letters for j, s in enumerate(terms) if j != k])
        terms[k] = _sum_letters(t, others)
    path = _path(optimize, [t.letters for t in terms], output, sizes)
    for i, j in path:
        a, b = terms[i], terms[j]
        rest = [t for k, t in enumerate(terms) if k not in (i, j)]
        result = _result_letters(a.letters, b.letters, [t.letters for t in rest], output)
        terms = rest + [_contract(a, b, result)]
    if len(terms) != 1:
        raise ValueError("einsum: the path does not contract every operand")
    final = _sum_letters(terms[0], set(output))
    value = _transpose(final.value, [final.letters.index(c) for c in output])
    if dtype is not None or preferred_element_type is not None:
        from ..ir import as_dtype

        value = convert(value, as_dtype(dtype or preferred_element_type).np)
    return value


def einsum_path(subscripts: Any, *operands: Any, optimize: Any = "greedy") -> tuple[list, str]:
    """The contraction order einsum would use, as NumPy's (['einsum_path', (i, j), ...], report)."""
    terms, output, sizes = _prepare((subscripts, *operands))
    specs = [t.letters for t in terms]
    path = _path(optimize if optimize not in (False, None) else False, specs, output, sizes)
    lines, flops = [], 0
    for i, j in path:
        rest = [s for k, s in enumerate(specs) if k not in (i, j)]
        result = _result_letters(specs[i], specs[j], rest, output)
        flops += _flops(specs[i], specs[j], sizes)
        lines.append(f"  {specs[i]},{specs[j]}->{result}")
        specs = rest + [result]
    report = (f"  Optimized multiply-adds: {flops}\n  Contractions:\n" + "\n".join(lines))
    return ["einsum_path", *path], report
