"""Coverage of the API NumPy and jax.numpy share: the number cannot regress, every function
present is exercised by the sweep (or by a dedicated test named here)."""

import types

import numpy as np

import dualjit.numpy as jnp

from .shared_names import EXCLUDED, PENDING, SHARED
from .sweep_table import STATIC_CALLS, TABLE

# Present names that are not functions of arrays: types, constants, modules and objects.
NOT_FUNCTIONS = {
    "bool", "bool_", "double", "dtype", "float32", "float64", "floating", "generic", "inexact",
    "int8", "int16", "int32", "int64", "int_", "integer", "ndarray", "number", "signedinteger",
    "single", "uint", "uint8", "uint16", "uint32", "uint64",
    "unsignedinteger", "e", "euler_gamma", "inf", "nan", "pi", "newaxis", "linalg", "ufunc",
    "vectorize", "c_", "r_", "s_", "index_exp", "mgrid", "ogrid", "complex64", "complex128", "fft",
}
# Checked by their own tests rather than the sweep table.
DEDICATED = {
    "vectorize": "tests/numpy/test_functions.py", "ufunc": "tests/numpy/test_functions.py",
    "r_": "tests/numpy/test_functions.py", "c_": "tests/numpy/test_functions.py",
    "fft": "tests/complex/test_fft.py",
}


def _counted() -> list[str]:
    return [n for n in SHARED if n not in EXCLUDED]


def test_coverage_of_the_shared_api_cannot_regress():
    counted = _counted()
    missing = {n for n in counted if not hasattr(jnp, n)}
    assert missing == set(PENDING), (
        f"newly missing: {sorted(missing - set(PENDING))}; now present (remove from "
        f"PENDING): {sorted(set(PENDING) - missing)}")
    present = len(counted) - len(missing)
    assert present / len(counted) >= 0.97, present / len(counted)
    assert len(SHARED) == 395 and len(EXCLUDED) == 15


def test_excluded_names_are_really_out_of_scope():
    assert set(EXCLUDED) <= set(SHARED) and set(PENDING) <= set(SHARED)
    assert not set(EXCLUDED) & set(PENDING)


def test_every_present_function_is_in_the_sweep():
    swept = {op.name for op in TABLE} | set(STATIC_CALLS)
    functions = [n for n in _counted() if hasattr(jnp, n) and n not in NOT_FUNCTIONS]
    unswept = [n for n in functions if n not in swept and n not in DEDICATED]
    assert unswept == []
    for n in functions:
        assert isinstance(getattr(jnp, n), types.FunctionType), n


def test_types_and_constants_are_numpys():
    for n in ["pi", "e", "inf", "euler_gamma"]:
        assert getattr(jnp, n) == getattr(np, n)
    assert np.isnan(jnp.nan) and jnp.newaxis is None
    for n in ["float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16",
              "uint32", "uint64", "bool_", "floating", "integer",
              "number", "generic", "inexact", "signedinteger", "unsignedinteger", "dtype",
              "ndarray"]:
        assert getattr(jnp, n) is getattr(np, n), n
    assert jnp.bool is np.bool_ and jnp.int_ is np.int64 and jnp.double is np.float64
    assert jnp.single is np.float32
