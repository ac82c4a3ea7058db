"""How codegen's source reads: no function in src/dualjit/codegen over FUNCTION_LINES lines."""

import ast
from pathlib import Path

import dualjit.codegen

FUNCTION_LINES = 50  # issue 9: short functions, each one thing a reader can hold at once
CODEGEN = Path(dualjit.codegen.__file__).parent


def long_functions(source: str, path: str, limit: int = FUNCTION_LINES) -> list[str]:
    """'path:line name (n lines)' for every function or method in source longer than limit,
    decorators and docstring included, nested functions counted within their parent too."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            lines = node.end_lineno - first + 1
            if lines > limit:
                found.append(f"{path}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_codegen_function_is_longer_than_the_limit():
    offenders = [f for p in sorted(CODEGEN.rglob("*.py"))
                 for f in long_functions(p.read_text(), str(p.relative_to(CODEGEN.parent)))]
    assert not offenders, (f"functions over {FUNCTION_LINES} lines in codegen (split them "
                           f"into named parts): {', '.join(offenders)}")


def test_the_check_names_a_long_function_and_passes_a_short_one():
    def lines(n: int, pad: str) -> str:
        return "".join(f"{pad}x{i} = {i}\n" for i in range(n))
    long_source = "class K:\n    @staticmethod\n    def too_long():\n" + lines(FUNCTION_LINES, " " * 8)
    short_source = "def short():\n" + lines(FUNCTION_LINES - 1, " " * 4)
    assert long_functions(long_source, "k.py") == ["k.py:3 too_long (52 lines)"]
    assert long_functions(short_source, "s.py") == []


def test_each_convolution_module_imports_first_in_a_fresh_interpreter():
    """conv.py imports the conv_* lowerings at its end and they import each other: whichever
    of them a program imports first must load (names taken from a module still loading fail
    with ImportError; conv_rowdots did, imported alone)."""
    import os
    import subprocess
    import sys

    modules = sorted(p.stem for p in CODEGEN.glob("conv*.py"))
    assert "conv_rowdots" in modules
    src = str(CODEGEN.parent.parent)
    for name in modules:
        done = subprocess.run([sys.executable, "-c", f"import dualjit.codegen.{name}"],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": src})
        assert done.returncode == 0, (name, done.stderr[-2000:])
