"""Our vectorizable exp/sin/cos: ulp accuracy against numpy, special values, vectorized code."""

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp


def ulp_distance(a, b):
    """Distance in units in the last place: floats mapped monotonically onto the integers."""
    a, b = np.asarray(a), np.asarray(b)
    bits = 8 * a.dtype.itemsize
    itype = np.int64 if bits == 64 else np.int32

    def key(x):
        i = x.view(itype).astype(np.int64)
        magnitude = i & ((1 << (bits - 1)) - 1)
        return np.where(i < 0, -magnitude, magnitude)

    both_nan = np.isnan(a) & np.isnan(b)
    return np.where(both_nan, 0, np.abs(key(a) - key(b)))


RANGES = {
    "exp": [(-745.2, 709.8), (-1, 1), (-1e-8, 1e-8)],
    "sin": [(-10, 10), (-1e5, 1e5), (-1e-6, 1e-6)],
    "cos": [(-10, 10), (-1e5, 1e5), (-1e-6, 1e-6)],
}


@pytest.mark.parametrize("name", sorted(RANGES))
@pytest.mark.parametrize("dtype,max_ulp", [(np.float64, 4), (np.float32, 2)])
def test_accuracy_on_wide_ranges(name, dtype, max_ulp):
    rng = np.random.default_rng(0)
    f = dj.jit(getattr(jnp, name))
    for lo, hi in RANGES[name]:
        if dtype == np.float32 and name == "exp":
            lo, hi = max(lo, -103.0), min(hi, 88.7)
        x = rng.uniform(lo, hi, 200_000).astype(dtype)
        with np.errstate(all="ignore"):
            expected = getattr(np, name)(x)
        assert ulp_distance(f(x), expected).max() <= max_ulp, (lo, hi)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_special_values_match_numpy(dtype):
    with np.errstate(over="ignore"):  # -1e300 becomes -inf in float32, as intended
        x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-310, -1e-310, 1e10, -1e300, 3e38,
                      710.0, -746.0, -745.0, 88.8, -104.0, 1.5e5], dtype=dtype)
    x = np.tile(x, 128)  # large enough that the loops use our math, not the C library's
    for name in ("exp", "sin", "cos"):
        with np.errstate(all="ignore"):
            expected = getattr(np, name)(x)
        got = dj.jit(getattr(jnp, name))(x)
        assert (ulp_distance(got, expected) <= 2).all(), (name, got, expected)
        np.testing.assert_array_equal(np.signbit(got[:2]), np.signbit(expected[:2]))


def test_loops_with_our_math_vectorize_and_small_loops_use_libm():
    text = dj.jit(lambda x: jnp.exp(x) * jnp.sin(x)).lower(np.ones(4096)).llvm_ir()
    functions = text.split("\ndefine ")[1:]
    main = [f for f in functions if ".slow" not in f.split("(")[0]]
    slow = [f for f in functions if ".slow" in f.split("(")[0]]
    assert main and slow
    assert all("@exp(" not in f and "@sin(" not in f for f in main)
    assert any("<4 x double>" in f or "<8 x double>" in f for f in main)
    assert any("@sin(" in f or "@llvm.sin" in f for f in slow)  # the cold rerun
    small = dj.jit(lambda x: jnp.exp(x) * jnp.sin(x)).lower(np.ones(16)).llvm_ir()
    assert ("@exp(" in small or "@llvm.exp" in small) and ("@sin(" in small or "@llvm.sin" in small)
