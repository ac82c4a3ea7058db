"""No module imports another module's private names (`from .x import _helper`).

A helper that another module needs is part of its module's interface: give it a public name,
or move it to the module that uses it. Private submodules (`from . import _methods`) are
modules, not names, and may be imported by their package.
"""

from __future__ import annotations

import ast
import pathlib

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "dualjit"

# (file, name) of imports allowed for now: none (a helper landing work in progress may add its
# own here, with a comment naming who removes it).
ALLOWED: set[tuple[str, str]] = set()


def _module_dir(src: pathlib.Path, path: pathlib.Path, node: ast.ImportFrom
                ) -> pathlib.Path | None:
    """The package directory (or module path without .py) the import names, if in dualjit."""
    if node.level:
        base = path.parent
        for _ in range(node.level - 1):
            base = base.parent
    elif node.module and (node.module == "dualjit" or node.module.startswith("dualjit.")):
        base = src
    else:
        return None  # another library's private names are its business
    return base.joinpath(*node.module.split(".")) if node.module else base


def _is_submodule(target: pathlib.Path, name: str) -> bool:
    return (target / f"{name}.py").exists() or (target / name / "__init__.py").exists()


def private_imports(src: pathlib.Path = SRC) -> list[tuple[str, int, str, str]]:
    """(file, line, imported module as written, private name) of each offending import."""
    found = []
    for path in sorted((src / "dualjit").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom):
                continue
            target = _module_dir(src, path, node)
            if target is None:
                continue
            for alias in node.names:
                name = alias.name
                if name.startswith("_") and not name.startswith("__") and \
                        not _is_submodule(target, name):
                    module = "." * node.level + (node.module or "")
                    found.append((path.relative_to(src).as_posix(), node.lineno, module, name))
    return found


def test_no_private_names_imported_across_modules():
    offenders = [f"{file}:{line}: from {module} import {name}"
                 for file, line, module, name in private_imports()
                 if (file, name) not in ALLOWED]
    assert not offenders, ("private names imported from another module (make them public or "
                           "move them to their user):\n" + "\n".join(offenders))


def test_the_check_flags_private_names_not_private_modules(tmp_path):
    package = tmp_path / "dualjit"
    (package / "sub").mkdir(parents=True)
    files = {"__init__.py": "from . import _methods\n", "_methods.py": "",
             "a.py": "def _hidden(): pass\ndef shown(): pass\n",
             "b.py": "from .a import _hidden, shown\nfrom numpy._core import _internal\n",
             "sub/__init__.py": "", "sub/c.py": "from ..a import shown as _alias\n"
             "from dualjit.a import _hidden as h\n"}
    for name, text in files.items():
        (package / name).write_text(text)
    assert private_imports(tmp_path) == [("dualjit/b.py", 1, ".a", "_hidden"),
                                         ("dualjit/sub/c.py", 2, "dualjit.a", "_hidden")]
