"""The named tuples reductions return (torch.return_types): values and indices."""

from __future__ import annotations

from collections import namedtuple

_KINDS = ("max", "min", "sort", "topk", "kthvalue", "median", "mode", "cummax", "cummin",
          "aminmax")

RETURN_TYPES = {kind: namedtuple(kind, ["values", "indices"] if kind != "aminmax"
                                 else ["min", "max"]) for kind in _KINDS}
for _kind, _cls in RETURN_TYPES.items():
    _cls.__module__ = "dualjit.return_types"
    _cls.__repr__ = lambda self, _kind=_kind: (
        f"dualjit.return_types.{_kind}(\n" + ",\n".join(
            f"{name}={value!r}" for name, value in zip(self._fields, self)) + ")")
    globals()[_kind] = _cls
