"""NumPy's index-expression helpers: r_, c_ (traced values welcome), s_, index_exp, mgrid,
ogrid."""

from __future__ import annotations

from typing import Any

import numpy as _np

from ._core import convert, operand, result_type
from .shapes import concatenate, reshape, transpose

__all__ = ["r_", "c_", "s_", "index_exp", "mgrid", "ogrid"]

s_, index_exp = _np.s_, _np.index_exp
mgrid, ogrid = _np.mgrid, _np.ogrid


class _Concatenator:
    """r_[...] / c_[...]: slices become ranges, items are joined along an axis.

    A leading string 'axis[,ndmin[,trans1d]]' sets the axis, the minimum number of
    dimensions and where the original axes of promoted 1-D items go, as in NumPy.
    """

    def __init__(self, axis: int, ndmin: int, trans1d: int):
        self.defaults = (axis, ndmin, trans1d)

    def __getitem__(self, key: Any) -> Any:
        items = key if isinstance(key, tuple) else (key,)
        axis, ndmin, trans1d = self.defaults
        if items and isinstance(items[0], str):
            axis, ndmin, trans1d = self._directive(items[0], axis, ndmin, trans1d)
            items = items[1:]
        parts = [self._item(item, ndmin, trans1d) for item in items]
        if not parts:
            return _np.zeros(0)
        dt = result_type(*parts)
        return concatenate([convert(p, dt) for p in parts], axis=axis)

    @staticmethod
    def _directive(text: str, axis: int, ndmin: int, trans1d: int) -> tuple[int, int, int]:
        if text in ("r", "c"):
            raise ValueError("r_/c_: matrix directives 'r' and 'c' are not supported")
        fields = [int(f) for f in text.split(",")]
        values = fields + [ndmin, trans1d][len(fields) - 1:]
        return tuple(values[:3])

    @staticmethod
    def _item(item: Any, ndmin: int, trans1d: int) -> Any:
        if isinstance(item, slice):
            item = _range(item)
        item = operand(item, "r_")
        nd = _np.ndim(item)
        if nd == 0:
            item, nd = reshape(item, (1,)), 1
        if nd >= ndmin:
            return item
        shape = (1,) * (ndmin - nd) + tuple(_np.shape(item))
        promoted = reshape(item, shape)
        if trans1d == -1:
            return promoted
        # the item's own axes start at position trans1d of the new shape
        k = trans1d % ndmin
        perm = list(range(ndmin - nd, ndmin))
        others = list(range(ndmin - nd))
        order = others[:k] + perm + others[k:]
        return transpose(promoted, [order.index(i) for i in range(ndmin)]) if order != list(
            range(ndmin)) else promoted


def _range(s: slice) -> _np.ndarray:
    start = 0 if s.start is None else s.start
    step = 1 if s.step is None else s.step
    if isinstance(step, complex):
        return _np.linspace(start, s.stop, int(abs(step)))
    return _np.arange(start, s.stop, step)


r_ = _Concatenator(0, 1, -1)
c_ = _Concatenator(-1, 2, 0)
