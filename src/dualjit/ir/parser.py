"""Reads the printer's text form back into a Function."""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .core import DType, Eqn, Function, IRError, Literal, TensorType, Var, primitives

_DTYPES = {d.short: d for d in DType}
_DTYPE_NAMES = "|".join(sorted(_DTYPES, key=len, reverse=True))
_TYPE = re.compile(rf"^({_DTYPE_NAMES})\[([0-9,]*)\]$")
_DTYPE_WORD = re.compile(rf"\b({_DTYPE_NAMES})\b(?!\[)")


def parse_type(text: str) -> TensorType:
    m = _TYPE.match(text.strip())
    if not m:
        raise IRError(f"parse: bad type {text!r}")
    dims = tuple(int(d) for d in m.group(2).split(",") if d)
    return TensorType(_DTYPES[m.group(1)], dims)


def _split_top(text: str, sep: str = ",") -> list[str]:
    """Split on `sep` outside (), [] and <>."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([<":
            depth += 1
        elif ch in ")]>":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    tail = text[start:]
    if tail.strip():
        parts.append(tail)
    return [p.strip() for p in parts]


def _parse_value(text: str) -> Any:
    quoted = _DTYPE_WORD.sub(r"'\1'", text)
    try:
        value = ast.literal_eval(quoted)
    except (ValueError, SyntaxError):
        raise IRError(f"parse: cannot read param value {text!r}") from None
    return _dtypes_back(value)


def _dtypes_back(v: Any) -> Any:
    if isinstance(v, str) and v in _DTYPES:
        return _DTYPES[v]
    if isinstance(v, tuple):
        return tuple(_dtypes_back(x) for x in v)
    return v


_SPECIAL_FLOATS = {"nan": float("nan"), "inf": float("inf")}


def _parse_array(text: str) -> Any:
    """The nested list of an inline constant (as printed by tolist(): nan and inf are bare)."""
    def value(node: ast.expr) -> Any:
        if isinstance(node, ast.List):
            return [value(e) for e in node.elts]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand)
        if isinstance(node, ast.Name) and node.id in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[node.id]
        if isinstance(node, ast.Constant) and isinstance(node.value, (bool, int, float)):
            return node.value
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "complex" and len(node.args) == 2):
            return complex(value(node.args[0]), value(node.args[1]))
        raise IRError(f"parse: cannot read constant {text!r}")
    try:
        return value(ast.parse(text.strip(), mode="eval").body)
    except SyntaxError:
        raise IRError(f"parse: cannot read constant {text!r}") from None


_COMPLEX_LITERAL = re.compile(r"^(-?(?:nan|inf|[0-9.]+(?:e[+-]?[0-9]+)?))"
                              r"([+-](?:nan|inf|[0-9.]+(?:e[+-]?[0-9]+)?))j$")


def _parse_literal(text: str) -> Literal:
    value, dtype = text.rsplit(":", 1)
    d = _DTYPES[dtype]
    if d is DType.bool:
        return Literal(value == "True", d)
    if d.is_complex:
        m = _COMPLEX_LITERAL.match(value)
        if m is None:
            raise IRError(f"parse: cannot read complex literal {text!r}")
        return Literal(complex(float(m.group(1)), float(m.group(2))), d)
    return Literal(float(value) if d.is_float else int(value), d)


class _Lines:
    def __init__(self, text: str):
        self.lines = [ln for ln in text.splitlines() if ln.strip()]
        self.pos = 0

    def peek(self) -> str | None:
        return self.lines[self.pos] if self.pos < len(self.lines) else None

    def next(self) -> str:
        line = self.lines[self.pos]
        self.pos += 1
        return line


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _parse_function(lines: _Lines, header: str, consts: list[np.ndarray]) -> Function:
    m = re.match(r"^.*?def\s*\w*\s*\((.*)\)\s*->\s*\((.*)\):\s*$", header.strip())
    if not m:
        raise IRError(f"parse: bad function header {header!r}")
    env: dict[str, Any] = {}

    def binding(text: str) -> Var:
        name, typ = text.split(":", 1)
        var = Var(parse_type(typ))
        env[name.strip()] = var
        return var

    def atom(text: str) -> Any:
        return _parse_literal(text) if ":" in text else env[text]

    inputs = [binding(b) for b in _split_top(m.group(1))]
    body_indent = None
    const_pairs, eqns = [], []
    while True:
        line = lines.next()
        body_indent = body_indent or _indent(line)
        text = line.strip()
        if text.startswith("return"):
            outs = [atom(a) for a in _split_top(text[len("return"):])]
            return Function(inputs, const_pairs, eqns, outs)
        lhs, rhs = text.split(" = ", 1)
        if rhs.startswith("const "):
            var = binding(lhs)
            payload = rhs[len("const "):]
            if payload.startswith("<"):
                if not consts:
                    raise IRError("parse: a large constant must be supplied in consts=")
                value = np.asarray(consts.pop(0), dtype=var.type.dtype.np)
            else:
                value = np.asarray(_parse_array(payload), dtype=var.type.dtype.np)
            const_pairs.append((var, value.reshape(var.type.shape)))
            continue
        head, _, operand_text = rhs.partition(" ") if "[" not in rhs.split(" ")[0] else \
            _split_head(rhs)
        name, params = _parse_head(head)
        operands = [atom(a) for a in operand_text.split()] if operand_text.strip() else []
        outs = [binding(b) for b in _split_top(lhs)]
        while lines.peek() is not None and _indent(lines.peek()) > body_indent:
            sub_header = lines.next()
            key = sub_header.strip().split(" = ", 1)[0]
            sub = _parse_function(lines, sub_header, consts)
            km = re.match(r"^(\w+)\[(\d+)\]$", key)
            if km:
                params.setdefault(km.group(1), []).append(sub)
            else:
                params[key] = sub
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
        if name not in primitives:
            raise IRError(f"parse: unknown primitive {name!r}")
        eqns.append(Eqn(primitives[name], operands, outs, params))


def _split_head(rhs: str) -> tuple[str, str, str]:
    depth = 0
    for i, ch in enumerate(rhs):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return rhs[:i + 1], " ", rhs[i + 1:].strip()
    raise IRError(f"parse: unbalanced brackets in {rhs!r}")


def _parse_head(head: str) -> tuple[str, dict]:
    if "[" not in head:
        return head, {}
    name, rest = head.split("[", 1)
    params = {}
    for item in _split_top(rest[:-1]):
        k, v = item.split("=", 1)
        params[k.strip()] = _parse_value(v.strip())
    return name, params


def parse_function(text: str, consts: Sequence[np.ndarray] = ()) -> Function:
    """The Function whose printed text is `text`; large constants come from `consts` in order."""
    lines = _Lines(text)
    return _parse_function(lines, lines.next(), list(consts))
