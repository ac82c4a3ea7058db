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
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-310, -1e-310, 1e10, -1e300, 3e38,
                  710.0, -746.0, -745.0, 88.8, -104.0, 1.5e5], dtype=dtype)
    for name in ("exp", "sin", "cos"):
        with np.errstate(all="ignore"):
            expected = getattr(np, name)(x)
        got = dj.jit(getattr(jnp, name))(x)
        assert (ulp_distance(got, expected) <= 2).all(), (name, got, expected)
        np.testing.assert_array_equal(np.signbit(got[:2]), np.signbit(expected[:2]))


def test_loops_with_our_math_vectorize():
    text = dj.jit(lambda x: jnp.exp(x) * jnp.sin(x)).lower(np.ones(1024)).llvm_ir()
    assert "<4 x double>" in text or "<8 x double>" in text
    assert "@exp(" not in text and "@llvm.exp" not in text
