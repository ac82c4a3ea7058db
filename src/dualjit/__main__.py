"""Command line: `python -m dualjit demo` runs the tour; `dump` shows what jit makes of a function."""

from __future__ import annotations

import argparse
import sys

SECTIONS = ("ir", "plan", "llvm", "asm")
DUMP_HELP = """\
Trace MODULE:FUNCTION for arguments of the given types and print what jit makes of it: the
typed IR, the code generator's plan (kernels, fusion groups, buffers, host steps and why),
the optimized LLVM IR and the assembly. Options choose sections (default: all of them).

example:
  python -m dualjit dump mymodel:loss f32[8,3] f32[3] --plan
"""


def _parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The command line's parser and its `dump` subcommand's."""
    parser = argparse.ArgumentParser(prog="python -m dualjit", description=__doc__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("demo", help="the tour: a cubic fit of sin, imperative and in one jit "
                                     "(the default command)")
    dump = commands.add_parser("dump", help="print the IR, plan, LLVM IR and assembly of a "
                                            "function", description=DUMP_HELP,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    dump.add_argument("target", metavar="MODULE:FUNCTION",
                      help="an importable module (the current directory is searched) and a "
                           "function in it")
    dump.add_argument("types", metavar="TYPE", nargs="*",
                      help="one per argument, as the IR prints types: f32[3], f64[2,2], i32[], "
                           "bool[4]")
    for section in SECTIONS:
        dump.add_argument(f"--{section}", action="store_true",
                          help=f"print the {_TITLES[section]}")
    return parser, dump


_TITLES = {"ir": "typed IR", "plan": "code generator's plan", "llvm": "optimized LLVM IR",
           "asm": "assembly"}


def main(argv: list[str]) -> int:
    parser, dump_parser = _parsers()
    args = parser.parse_args(argv or ["demo"])
    if args.command == "dump":
        return dump(dump_parser, args)
    from .demo import run_demo

    run_demo()
    return 0


def _function(parser: argparse.ArgumentParser, target: str):
    import importlib

    module_name, _, function_name = target.partition(":")
    if not module_name or not function_name:
        parser.error(f"expected MODULE:FUNCTION, got {target!r}")
    sys.path.insert(0, ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        parser.error(f"cannot import {module_name!r}: {e}")
    fn = getattr(module, function_name, None)
    if not callable(fn):
        parser.error(f"module {module_name!r} has no function {function_name!r}")
    return fn


def _example_args(parser: argparse.ArgumentParser, specs: list[str]) -> list:
    import numpy as np

    from .ir.parser import parse_type

    arrays = []
    for spec in specs:
        try:
            t = parse_type(spec)
        except Exception as e:
            parser.error(f"bad type {spec!r} ({e}); write types as the IR does: f32[3], "
                         "f64[2,2], i32[], bool[4]")
        arrays.append(np.zeros(t.shape, t.dtype.np))
    return arrays


def dump(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .jit import jit

    fn = _function(parser, args.target)
    example = _example_args(parser, args.types)
    try:
        lowered = jit(fn).lower(*example)
    except Exception as e:  # the function's own error, for these argument types
        print(f"error: {args.target}({', '.join(args.types)}) failed: {type(e).__name__}: {e}",
              file=sys.stderr)
        return 1
    chosen = [s for s in SECTIONS if getattr(args, s)] or list(SECTIONS)
    show = {"ir": lowered.as_text, "plan": lambda: str(lowered.plan()),
            "llvm": lowered.llvm_ir, "asm": lowered.asm}
    for section in chosen:
        try:
            text = show[section]()
        except RuntimeError as e:  # no native code (DUALJIT_BACKEND=interpreter)
            text = f"({e})"
        print(f"; ---- {_TITLES[section]}\n{text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
