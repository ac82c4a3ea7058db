"""Our vectorizable math: ulp accuracy against numpy, special values, vectorized code.

float64 results are compared with numpy's float64 functions. float32 results are compared with
numpy's float64 result rounded to float32 (the correctly rounded value, nearly always): numpy's
own float32 log is up to 4 ulp from it, so it cannot be the reference for a 2-ulp bound."""

import numpy as np
import pytest

import dualjit as dj
import dualjit.nn
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
    "log": [(0, 2), (0.5, 1.5), (0, 1e-300), (0, 1e-310), (1, 1e300)],
    "log1p": [(-1, 1), (-1e-8, 1e-8), (-0.5, 0.5), (1, 1e300)],
    "expm1": [(-50, 709.7), (-1, 1), (-1e-8, 1e-8), (-1e-3, 1e-3)],
    "tanh": [(-30, 30), (-1, 1), (-1e-8, 1e-8), (-0.1, 0.1)],
    "sin": [(-10, 10), (-1e5, 1e5), (-1e-6, 1e-6)],
    "cos": [(-10, 10), (-1e5, 1e5), (-1e-6, 1e-6)],
    "tan": [(-10, 10), (-1e5, 1e5), (-1e-6, 1e-6), (-1.6, 1.6)],
}
F32_LIMITS = {"exp": (-103.0, 88.7), "expm1": (-103.0, 88.7), "log": (0, 3e38),
              "log1p": (-1, 3e38)}


def reference(name, *args):
    """numpy in float64, rounded once to the arguments' dtype."""
    with np.errstate(all="ignore"):
        return getattr(np, name)(*[a.astype(np.float64) for a in args]).astype(args[0].dtype)


@pytest.mark.parametrize("name", sorted(RANGES))
@pytest.mark.parametrize("dtype,max_ulp", [(np.float64, 4), (np.float32, 2)])
def test_accuracy_on_wide_ranges(name, dtype, max_ulp):
    rng = np.random.default_rng(0)
    f = dj.jit(getattr(jnp, name))
    for lo, hi in RANGES[name]:
        if dtype == np.float32:
            lo, hi = max(lo, F32_LIMITS.get(name, (-3e38, 3e38))[0]), min(
                hi, F32_LIMITS.get(name, (-3e38, 3e38))[1])
        x = rng.uniform(lo, hi, 200_000)
        if hi / max(abs(lo), 1e-300) > 1e100 and lo > 0:  # log-uniform over a huge range
            x = np.exp(rng.uniform(np.log(max(lo, 1e-300)), np.log(hi), 200_000))
        x = x.astype(dtype)
        assert ulp_distance(f(x), reference(name, x)).max() <= max_ulp, (lo, hi)


@pytest.mark.parametrize("dtype,max_ulp", [(np.float64, 4), (np.float32, 2)])
def test_atan2_accuracy(dtype, max_ulp):
    rng = np.random.default_rng(1)
    f = dj.jit(jnp.arctan2)
    for scale in (1.0, 1e-300, 1e300, 1e-5):
        if dtype == np.float32:
            scale = min(max(scale, 1e-30), 1e30)
        y = (rng.standard_normal(100_000) * scale).astype(dtype)
        x = (rng.standard_normal(100_000) * rng.choice([1, 1e-3, 1e3], 100_000)).astype(dtype)
        assert ulp_distance(f(y, x), reference("arctan2", y, x)).max() <= max_ulp, scale


@pytest.mark.parametrize("dtype,max_ulp", [(np.float64, 4), (np.float32, 2)])
def test_pow_accuracy(dtype, max_ulp):
    rng = np.random.default_rng(2)
    f = dj.jit(jnp.power)
    n = 100_000
    log_x = rng.uniform(-700, 700, n) if dtype == np.float64 else rng.uniform(-80, 80, n)
    cases = [(rng.uniform(0, 10, n), rng.uniform(-30, 30, n)),
             (rng.uniform(0.5, 2, n), rng.uniform(-1000, 1000, n)),  # |y log x| up to ~700
             (1 + rng.uniform(-1e-3, 1e-3, n), rng.uniform(-5e5, 5e5, n)),  # x near 1
             (np.exp(log_x), rng.uniform(-1, 1, n) * 700 / np.maximum(abs(log_x), 1)),
             (-rng.uniform(0, 10, n), np.round(rng.uniform(-30, 30, n)))]  # negative bases
    for x, y in cases:
        with np.errstate(over="ignore", under="ignore"):
            x, y = x.astype(dtype), y.astype(dtype)
        assert ulp_distance(f(x, y), reference("power", x, y)).max() <= max_ulp


SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-310, -1e-310, 1e10, -1e300, 3e38, 710.0,
           -746.0, -745.0, 88.8, -104.0, 1.5e5, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, 1e-20,
           -40.0, 23.0, -23.0, 709.8]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_special_values_match_numpy(dtype):
    with np.errstate(over="ignore"):  # -1e300 becomes -inf in float32, as intended
        x = np.array(SPECIAL, dtype=dtype)
    x = np.tile(x, 64)  # large enough that the loops use our math, not the C library's
    for name in RANGES:
        got = dj.jit(getattr(jnp, name))(x)
        expected = reference(name, x)
        assert (ulp_distance(got, expected) <= 2).all(), (name, x[ulp_distance(got, expected) > 2])
        numbers = ~np.isnan(expected)  # (a nan's sign bit carries no meaning)
        np.testing.assert_array_equal(np.signbit(got[numbers]), np.signbit(expected[numbers]),
                                      err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_special_values_match_numpy(dtype):
    with np.errstate(over="ignore"):
        values = np.array(SPECIAL, dtype=dtype)
    y, x = (np.tile(a.ravel(), 2) for a in np.meshgrid(values, values))  # every pair, twice
    assert y.size >= 1024  # so that the loops use our math
    names = ["arctan2", "power"]
    for name in names:
        got = dj.jit(getattr(jnp, name))(y, x)
        expected = reference(name, y, x)
        bad = ulp_distance(got, expected) > 2
        assert not bad.any(), (name, y[bad], x[bad], got[bad], expected[bad])
        numbers = ~np.isnan(expected)
        np.testing.assert_array_equal(np.signbit(got[numbers]), np.signbit(expected[numbers]),
                                      err_msg=name)


@pytest.mark.parametrize("name", ["log", "log1p", "expm1", "tanh", "arctan2", "logistic",
                                  "power"])
def test_each_function_vectorizes_without_library_calls(name):
    special = {"arctan2": lambda x: jnp.arctan2(x, x + 1.0), "logistic": dualjit.nn.sigmoid,
               "power": lambda x: jnp.power(x, x * 0.5 + 1.25)}
    fn = special[name] if name in special else getattr(jnp, name)
    text = dj.jit(fn).lower(np.ones(4096)).llvm_ir()
    assert "<4 x double>" in text or "<8 x double>" in text
    kernels = [f for f in text.split("\ndefine ")[1:] if not f.split("(")[0].endswith("_py")]
    callees = {line.split("@", 1)[1].split("(")[0] for f in kernels for line in f.splitlines()
               if " call " in line and "@" in line}
    assert callees and all(c.startswith("llvm.") for c in callees), callees


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


@pytest.mark.parametrize("name", ["exp", "tanh"])
def test_float32_exp_and_tanh_within_one_ulp_near_their_edges(name):
    """float32's own exp and tanh (shorter series, clamped arguments): within 1 ulp of the
    correctly rounded value over every binade they treat differently — tiny arguments, the
    tanh clamp at 9.5, exp's overflow to inf above 88.72 and its subnormal results."""
    rng = np.random.default_rng(7)
    magnitudes = np.exp(rng.uniform(np.log(1e-38), np.log(120.0), 400_000))
    edges = np.concatenate([np.linspace(8.5, 10.5, 20_000), np.linspace(88.0, 89.5, 20_000),
                            -np.linspace(86.0, 112.0, 40_000)])
    x = np.concatenate([magnitudes, -magnitudes, edges]).astype(np.float32)
    got = dj.jit(getattr(jnp, name))(x)
    assert ulp_distance(got, reference(name, x)).max() <= 1
    np.testing.assert_array_equal(np.signbit(got), np.signbit(reference(name, x)))


def test_float32_tanh_within_one_ulp_across_its_two_formulas():
    """tanh switches from its odd polynomial to 1 - 2/(exp(2|x|) + 1) at |x| = 1: every float32
    in [0.9, 1.2) (3.4 M values) and a stride through [2**-30, 9.6) within 1 ulp of the correctly
    rounded value, odd (tanh(-x) == -tanh(x) bit for bit)."""
    dense = np.arange(np.float32(0.9).view(np.int32), np.float32(1.2).view(np.int32),
                      dtype=np.int32).view(np.float32)
    strided = np.arange(np.float32(2.0 ** -30).view(np.int32), np.float32(9.6).view(np.int32),
                        997, dtype=np.int32).view(np.float32)
    x = np.concatenate([dense, strided])
    f = dj.jit(jnp.tanh)
    got = f(x)
    assert ulp_distance(got, reference("tanh", x)).max() <= 1
    np.testing.assert_array_equal(f(-x), -got)


@pytest.mark.parametrize("name", ["exp", "tanh"])
def test_float32_exp_and_tanh_are_computed_in_float32(name):
    """Their loops run on vectors of eight floats (sixteen on an AVX-512 host), with no
    double arithmetic (four or eight lanes)."""
    text = dj.jit(getattr(jnp, name)).lower(np.ones(1 << 16, np.float32)).llvm_ir()
    assert "<8 x float>" in text or "<16 x float>" in text
    assert "x double>" not in text and "fpext" not in text
