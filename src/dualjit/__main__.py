"""Command line: `python -m dualjit demo` runs the tour."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "demo"
    if command == "demo":
        from .demo import run_demo

        run_demo()
        return 0
    if command == "dump":
        return dump(argv[1:])
    print(f"unknown command {command!r}; try: python -m dualjit demo", file=sys.stderr)
    return 2


def _parse_arg(spec: str):
    import numpy as np

    from .ir.parser import parse_type

    t = parse_type(spec)
    return np.zeros(t.shape, t.dtype.np)


def dump(args: list[str]) -> int:
    """python -m dualjit dump module:function f32[3] f64[2,2] ...: IR, LLVM IR and assembly."""
    import importlib

    from .jit import jit

    if not args or ":" not in args[0]:
        print("usage: python -m dualjit dump module:function TYPE... (e.g. f32[3] f64[])",
              file=sys.stderr)
        return 2
    module_name, function_name = args[0].split(":", 1)
    sys.path.insert(0, ".")
    fn = getattr(importlib.import_module(module_name), function_name)
    lowered = jit(fn).lower(*[_parse_arg(a) for a in args[1:]])
    print("; ---- dualjit IR\n" + lowered.as_text())
    print("; ---- optimized LLVM IR\n" + lowered.llvm_ir())
    print("; ---- assembly\n" + lowered.asm())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
