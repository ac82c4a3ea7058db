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

# The named tuples of the linear algebra and other multi-output functions (eager/linalg.py...)
_MORE_FIELDS = {
    "slogdet": ["sign", "logabsdet"], "linalg_slogdet": ["sign", "logabsdet"],
    "linalg_qr": ["Q", "R"], "qr": ["Q", "R"],
    "linalg_eigh": ["eigenvalues", "eigenvectors"],
    "linalg_svd": ["U", "S", "Vh"], "svd": ["U", "S", "V"],
    "linalg_lstsq": ["solution", "residuals", "rank", "singular_values"],
    "linalg_inv_ex": ["inverse", "info"], "linalg_solve_ex": ["result", "info"],
    "linalg_cholesky_ex": ["L", "info"],
    "linalg_lu_factor": ["LU", "pivots"], "linalg_lu_factor_ex": ["LU", "pivots", "info"],
    "linalg_lu": ["P", "L", "U"], "linalg_eig": ["eigenvalues", "eigenvectors"],
    "histogram": ["hist", "bin_edges"], "nanmedian": ["values", "indices"],
}
for _kind, _fields in _MORE_FIELDS.items():
    _cls = namedtuple(_kind, _fields)
    _cls.__module__ = "dualjit.return_types"
    _cls.__repr__ = lambda self, _kind=_kind: (
        f"dualjit.return_types.{_kind}(\n" + ",\n".join(
            f"{name}={value!r}" for name, value in zip(self._fields, self)) + ")")
    RETURN_TYPES[_kind] = globals()[_kind] = _cls
