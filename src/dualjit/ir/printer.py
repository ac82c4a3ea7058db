"""The human-readable text form of a Function (the parser reads it back)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from .core import DType, Function, Literal, Var

INLINE_CONST_LIMIT = 16


def _names():
    letters = "abcdefghijklmnopqrstuvwxyz"
    for size in itertools.count(1):
        for combo in itertools.product(letters, repeat=size):
            name = "".join(combo)
            if name not in ("def", "return", "const", "inf", "nan", "True", "False", "None"):
                yield name


def var_names(fn: Function) -> dict[Var, str]:
    """The names print_function gives fn's own Vars: inputs, constants, equation outputs."""
    fresh = _names()
    variables = [*fn.inputs, *(v for v, _ in fn.consts), *(v for e in fn.eqns for v in e.outputs)]
    return {v: next(fresh) for v in dict.fromkeys(variables)}


def format_literal(lit: Literal) -> str:
    v = lit.value
    if isinstance(v, complex):
        imag = _float_text(v.imag)
        text = f"{_float_text(v.real)}{'' if imag[0] == '-' else '+'}{imag}j"
    else:
        text = _float_text(v) if isinstance(v, float) else repr(v)
    return f"{text}:{lit.type.dtype.short}"


def _float_text(v: float) -> str:
    return "nan" if math.isnan(v) else ("inf" if v == math.inf else
                                        "-inf" if v == -math.inf else repr(v))


def format_param(value: Any) -> str:
    if isinstance(value, DType):
        return value.short
    if isinstance(value, tuple):
        inner = ", ".join(format_param(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def format_array(a: np.ndarray) -> str:
    if a.size > INLINE_CONST_LIMIT:
        return f"<{a.size} values>"
    if a.dtype.kind == "c":  # complex(re, im) per element: nan and inf parts stay readable
        return _nested_text(a.tolist())
    return repr(a.tolist())


def _nested_text(x: Any) -> str:
    if isinstance(x, list):
        return "[" + ", ".join(map(_nested_text, x)) + "]"
    return f"complex({_float_text(x.real)}, {_float_text(x.imag)})"


class _Printer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def function(self, fn: Function, indent: int, header: str) -> None:
        names: dict[Var, str] = {}
        fresh = _names()
        type_texts: dict = {}  # (most values share a handful of types)

        def name(v):
            if isinstance(v, Literal):
                return format_literal(v)
            if v not in names:
                names[v] = next(fresh)
            return names[v]

        def binding(v: Var) -> str:
            text = type_texts.get(v.type)
            if text is None:
                text = type_texts[v.type] = str(v.type)
            return f"{name(v)}: {text}"

        pad = "  " * indent
        args = ", ".join(binding(v) for v in fn.inputs)
        outs = ", ".join(str(t) for t in fn.out_types)
        self.lines.append(f"{pad}{header}({args}) -> ({outs}):")
        for var, value in fn.consts:
            self.lines.append(f"{pad}  {binding(var)} = const {format_array(value)}")
        for eqn in fn.eqns:
            lhs = ", ".join([binding(v) for v in eqn.outputs])
            rhs = eqn.primitive.name + (self.params(eqn.params) if eqn.params else "")
            operands = " ".join([name(a) for a in eqn.inputs])
            self.lines.append(f"{pad}  {lhs} = {rhs}{' ' if operands else ''}{operands}")
            if eqn.params:
                self.bodies(eqn.params, indent)
        self.lines.append(f"{pad}  return {', '.join(name(v) for v in fn.outputs)}")

    @staticmethod
    def params(params: dict) -> str:
        plain = {k: v for k, v in params.items() if not _holds_function(v)}
        shown = ", ".join(f"{k}={format_param(v)}" for k, v in sorted(plain.items()))
        return f"[{shown}]" if shown else ""

    def bodies(self, params: dict, indent: int) -> None:
        for key, value in sorted(params.items()):
            if isinstance(value, Function):
                self.function(value, indent + 2, f"{key} = def ")
            elif _holds_function(value):
                for i, sub in enumerate(value):
                    self.function(sub, indent + 2, f"{key}[{i}] = def ")


def _holds_function(value: Any) -> bool:
    return isinstance(value, Function) or (
        isinstance(value, tuple) and bool(value) and all(isinstance(v, Function) for v in value))


def print_function(fn: Function, name: str = "f") -> str:
    printer = _Printer()
    printer.function(fn, 0, f"def {name}")
    return "\n".join(printer.lines)
