"""The exception types of the PyTorch layer: PyTorch's (RuntimeError, NotImplementedError)
that stay instances of the NumPy-style types dualjit raised before (ValueError, TypeError,
IndexError), so that `except RuntimeError` written for PyTorch and `except ValueError`
written for dualjit both catch them."""

from __future__ import annotations


class ShapeError(ValueError, RuntimeError):
    """Shapes an operation cannot take (PyTorch: RuntimeError)."""


class DtypeError(TypeError, RuntimeError):
    """A dtype an operation refuses (PyTorch: RuntimeError)."""


class DtypeNotImplementedError(TypeError, NotImplementedError):
    """An operation PyTorch has no kernel for at this dtype (NotImplementedError there)."""


class IndexRangeError(IndexError, RuntimeError):
    """An index out of range inside an operation such as index_select or gather (PyTorch:
    RuntimeError; indexing with [] keeps IndexError)."""


class DimensionError(ShapeError, IndexError):
    """A dimension a tensor does not have, such as a 0-d tensor's (PyTorch: IndexError)."""


class EmptyReductionError(ValueError, IndexError, RuntimeError):
    """max/min/argmax/argmin over no elements (PyTorch: IndexError from the reductions,
    RuntimeError from those built on them, such as norm(p=inf))."""


class ZeroDivisionRuntimeError(ZeroDivisionError, RuntimeError):
    """Integer division by zero (PyTorch: RuntimeError "ZeroDivisionError")."""


_NAMED = {ValueError: ShapeError, TypeError: DtypeError, IndexError: IndexRangeError}
_derived: dict[type, type] = {}


def torch_error(e: Exception) -> Exception:
    """e as an exception of a type that is also PyTorch's RuntimeError (the same exception
    when it is one already, or a kind PyTorch shares, such as NumPy's AxisError, an
    IndexError as PyTorch's dimension errors)."""
    kind = type(e)
    if isinstance(e, RuntimeError) or not isinstance(e, (ValueError, TypeError, IndexError)) \
            or (isinstance(e, IndexError) and isinstance(e, ValueError)):
        return e
    new_kind = _NAMED.get(kind) or _derived.get(kind)
    if new_kind is None:
        new_kind = _derived[kind] = type(kind.__name__, (kind, RuntimeError),
                                         {"__module__": __name__})
    try:
        new = new_kind(*e.args)
    except Exception:  # noqa: BLE001 (a constructor with other arguments: keep e)
        return e
    new.__cause__ = e.__cause__
    new.__traceback__ = e.__traceback__
    return new
