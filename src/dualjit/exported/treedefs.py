"""Pytree structures as JSON, without pickle: node types by qualified name, aux data as tagged values.

A leaf is "*"; a node is {"node": kind, "aux": value, "children": [...]}, where kind is "tuple",
"list", "dict" or "None" for the built-in containers and "module:QualName" for namedtuples and
registered classes. Loading imports that module (as pickle would) and requires the class to be a
namedtuple or a registered pytree node there.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..tracer.pytree import LEAF, PyTreeDef, is_registered
from .container import DeserializationError

_BUILTIN = {tuple: "tuple", list: "list", dict: "dict", type(None): "None"}
_BUILTIN_BY_NAME = {name: kind for kind, name in _BUILTIN.items()}


class SerializationError(TypeError):
    """A value of the program (a pytree node type, its aux data) cannot be written out."""


# -- writing ------------------------------------------------------------------------------------

def treedef_to_json(td: PyTreeDef) -> Any:
    if td.kind is None:
        return "*"
    return {"node": _kind_to_name(td.kind), "aux": _aux_to_json(td.aux, td.kind),
            "children": [treedef_to_json(c) for c in td.children]}


def _kind_to_name(kind: type) -> str:
    if kind in _BUILTIN:
        return _BUILTIN[kind]
    qualname = kind.__qualname__
    if "<locals>" in qualname:
        raise SerializationError(
            f"pytree node type {qualname} is defined inside a function, so it cannot be found "
            "by name when the program is loaded; define it at module level")
    return f"{kind.__module__}:{qualname}"


def _aux_to_json(aux: Any, kind: type) -> Any:
    """Tagged values: ["n"], ["b", v], ["i", text], ["f", repr], ["s", v], ["t", [...]]."""
    if aux is None:
        return ["n"]
    if isinstance(aux, bool):
        return ["b", aux]
    if isinstance(aux, int):
        return ["i", str(aux)]  # as text: JSON readers may round big integers
    if isinstance(aux, float):
        return ["f", repr(aux)]
    if isinstance(aux, str):
        return ["s", aux]
    if isinstance(aux, tuple):
        return ["t", [_aux_to_json(a, kind) for a in aux]]
    raise SerializationError(
        f"pytree node type {kind.__qualname__} has auxiliary data of type {type(aux).__name__} "
        f"({aux!r}); an exported program can carry only None, bool, int, float, str and tuples "
        "of them (to stay free of pickle)")


# -- reading ------------------------------------------------------------------------------------

def treedef_from_json(obj: Any) -> PyTreeDef:
    if obj == "*":
        return LEAF
    if not (isinstance(obj, dict) and isinstance(obj.get("node"), str)
            and isinstance(obj.get("children"), list)):
        raise DeserializationError(f"the export is malformed: bad pytree node {obj!r:.80}")
    kind = _kind_from_name(obj["node"])
    children = tuple(treedef_from_json(c) for c in obj["children"])
    aux = _aux_from_json(obj.get("aux"))
    if kind in (tuple, list) and aux != len(children) or kind is dict and (
            not isinstance(aux, tuple) or len(aux) != len(children)):
        raise DeserializationError(f"the export is malformed: a {obj['node']} node's "
                                   "auxiliary data does not match its children")
    return PyTreeDef(kind, aux, children)


def _kind_from_name(name: str) -> type:
    if name in _BUILTIN_BY_NAME:
        return _BUILTIN_BY_NAME[name]
    module_name, _, qualname = name.partition(":")
    hint = (" (it was defined in the script that exported the program; move it to a module "
            "both sides can import)") if module_name == "__main__" else ""
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except Exception as e:  # ImportError, AttributeError, or whatever the module raised
        raise DeserializationError(
            f"the exported program's arguments or results contain pytree node type {qualname} "
            f"from module {module_name}, which cannot be imported here ({type(e).__name__}: "
            f"{e}){hint}") from None
    if not isinstance(found, type) or not (is_registered(found) or (
            issubclass(found, tuple) and hasattr(found, "_fields"))):
        raise DeserializationError(
            f"{name} is not a registered pytree node type in this process (register it with "
            "dualjit.register_pytree_node or register_dataclass when its module is imported)")
    return found


def _aux_from_json(obj: Any) -> Any:
    if not (isinstance(obj, list) and obj and isinstance(obj[0], str)):
        raise DeserializationError(f"the export is malformed: bad pytree aux data {obj!r:.80}")
    tag, rest = obj[0], obj[1:]
    try:
        if tag == "n" and not rest:
            return None
        (value,) = rest
        if tag == "b" and isinstance(value, bool):
            return value
        if tag == "i" and isinstance(value, str):
            return int(value)
        if tag == "f" and isinstance(value, str):
            return float(value)
        if tag == "s" and isinstance(value, str):
            return value
        if tag == "t" and isinstance(value, list):
            return tuple(_aux_from_json(v) for v in value)
    except (ValueError, TypeError):
        pass
    raise DeserializationError(f"the export is malformed: bad pytree aux data {obj!r:.80}")
