"""List helpers and named operand layouts, so transforms index by role instead of by arithmetic.

Control-flow equations pack several groups into one operand list (a scan's consts, carry and
scanned arrays); the views below name those groups once for every layer (ir, autodiff, codegen).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def split_list(xs: Sequence[T], sizes: Sequence[int]) -> list[list[T]]:
    """xs cut into consecutive pieces of the given sizes, plus the rest: len(sizes) + 1 lists."""
    pieces, start = [], 0
    for n in sizes:
        pieces.append(list(xs[start:start + n]))
        start += n
    if start > len(xs):
        raise ValueError(f"split_list: sizes {list(sizes)} need {start} items, got {len(xs)}")
    pieces.append(list(xs[start:]))
    return pieces


def partition_list(flags: Sequence[bool], xs: Sequence[T]) -> tuple[list[T], list[T]]:
    """(the xs whose flag is false, the xs whose flag is true), each in order."""
    if len(flags) != len(xs):
        raise ValueError(f"partition_list: {len(flags)} flags for {len(xs)} items")
    lists: tuple[list[T], list[T]] = ([], [])
    for flag, x in zip(flags, xs):
        lists[bool(flag)].append(x)
    return lists


def merge_lists(flags: Sequence[bool], falses: Sequence[T], trues: Sequence[T]) -> list[T]:
    """The inverse of partition_list: interleave the two lists back in `flags` order."""
    if len(falses) + len(trues) != len(flags):
        raise ValueError(f"merge_lists: {len(falses)} + {len(trues)} items for "
                         f"{len(flags)} flags")
    sources = (iter(falses), iter(trues))
    return [next(sources[bool(flag)]) for flag in flags]


def unzip2(pairs: Sequence[tuple[Any, Any]]) -> tuple[list[Any], list[Any]]:
    """[(a, b), ...] as ([a, ...], [b, ...])."""
    firsts, seconds = [], []
    for a, b in pairs:
        firsts.append(a)
        seconds.append(b)
    return firsts, seconds


# ---------------------------------------------------------------------------------------------
# Operand layouts of the control-flow primitives
# ---------------------------------------------------------------------------------------------

def cond_operands(args: Sequence[T]) -> tuple[T, list[T]]:
    """cond's operands: (branch index, operands passed to the branch)."""
    return args[0], list(args[1:])


def while_operands(args: Sequence[T], cond_nconsts: int, body_nconsts: int
                   ) -> tuple[list[T], list[T], list[T]]:
    """while's operands: (cond_fun's consts, body_fun's consts, initial carry)."""
    cond_consts, body_consts, carry = split_list(args, [cond_nconsts, body_nconsts])
    return cond_consts, body_consts, carry


def scan_operands(args: Sequence[T], num_consts: int, num_carry: int
                  ) -> tuple[list[T], list[T], list[T]]:
    """scan's operands (and its body's inputs): (consts, carry, scanned xs)."""
    consts, carry, xs = split_list(args, [num_consts, num_carry])
    return consts, carry, xs


def scan_results(outs: Sequence[T], num_carry: int) -> tuple[list[T], list[T]]:
    """scan's results (and its body's outputs): (final carry, stacked ys)."""
    carry, ys = split_list(outs, [num_carry])
    return carry, ys
