"""Native complex arithmetic (pairs of floats in kernels): compiled code against the reference
interpreter and NumPy over drawn values with branch cuts, signed zeros, infinities and nans,
both widths; what runs in kernels and what stays on the host; zgemm/cgemm products."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dualjit as dj
import dualjit.numpy as jnp
from dualjit import ir
from dualjit.codegen import compile_function
from dualjit.codegen.schedule import COMPLEX_LIBC_CALLS, plan_function
from dualjit.ir import Eqn, Function, Var, abstract_eval
from dualjit.ir import primitives as P
from dualjit.tracer.core import bind

rng = np.random.default_rng(16)
SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e-310, 1e300, -1e300, np.inf, -np.inf, np.nan]
WIDTHS = [np.complex64, np.complex128]


def _parts(dtype):
    real = np.dtype(dtype).type(0).real.dtype
    width = 32 if real == np.float32 else 64
    return st.one_of(st.sampled_from(SPECIAL),
                     st.floats(allow_nan=True, allow_infinity=True, width=width))


def _build(re, im, dtype):
    out = np.empty(re.shape, dtype)
    out.real, out.imag = re, im  # never re + 1j * im (1j * inf makes the real part nan)
    return out


def drawn(dtype, n=6):
    parts = hnp.arrays(np.float64, (2, n), elements=_parts(dtype))
    return parts.map(lambda p: _build(p[0], p[1], dtype))


def _single(prim, args, params=None):
    params = params or {}
    ins = [Var(ir.type_of_array(np.asarray(a))) for a in args]
    outs = [Var(t) for t in abstract_eval(prim, [v.type for v in ins], params)]
    return Function(ins, [], [Eqn(prim, ins, outs, params)], outs)


@np.errstate(all="ignore")
def assert_same_values(got, expected, ulps=0):
    """Equal (nan where nan), zeros of the same sign; within `ulps` units in the last place
    when the computation's rounding may differ."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    pairs = ((got.real, expected.real), (got.imag, expected.imag)) if got.dtype.kind == "c" \
        else ((got, expected),)
    for g, e in pairs:
        if g.dtype.kind != "f":
            np.testing.assert_array_equal(g, e)
            continue
        np.testing.assert_array_equal(np.isnan(g), np.isnan(e))
        finite = np.isfinite(e)
        np.testing.assert_array_equal(g[~finite], e[~finite])
        zero = (e == 0) & (g == 0)
        np.testing.assert_array_equal(np.signbit(g[zero]), np.signbit(e[zero]))
        spacing = np.spacing(np.abs(e[finite]).astype(e.dtype))
        exact = g[finite] == e[finite]
        assert np.all(exact | (np.abs(g[finite] - e[finite]) <= ulps * spacing)), (g, e)


@np.errstate(all="ignore")
def assert_close_where_finite(got, expected, ulps=8):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    for g, e in ((got.real, expected.real), (got.imag, expected.imag)):
        finite = np.isfinite(e) & (e != 0) & np.isfinite(got) & np.isfinite(expected)
        spacing = np.spacing(np.abs(e[finite]).astype(e.dtype))
        exact = g[finite] == e[finite]
        assert np.all(exact | (np.abs(g[finite] - e[finite]) <= ulps * spacing)), (g, e)


# Each operation: its function on dualjit.numpy, on NumPy, and how many ulps native code may
# differ from the interpreter (0: the same formula, or the same C library call, as NumPy;
# None: only finite nonzero results compared, to 8 ulps).
UNARY = {
    "neg": (jnp.negative, np.negative, 0), "conj": (jnp.conj, np.conj, 0),
    "real": (jnp.real, np.real, 0), "imag": (jnp.imag, np.imag, 0),
    "abs": (jnp.abs, np.abs, 0),
    "square": (lambda z: z * z, lambda z: z * z, 0),
    # powers: within a few ulps where finite (NumPy computes some exponents by other routes)
    "cube": (lambda z: z ** 3, lambda z: z ** 3, None),
    "pow_minus_2": (lambda z: z ** -2, lambda z: np.power(z, -2.0), None),
    "pow_7": (lambda z: z ** 7, lambda z: np.power(z, 7.0), None),
}
LIBC = {
    "exp": (jnp.exp, np.exp, 0), "log": (jnp.log, np.log, 0), "sqrt": (jnp.sqrt, np.sqrt, 0),
    "sin": (jnp.sin, np.sin, 0), "cos": (jnp.cos, np.cos, 0), "tanh": (jnp.tanh, np.tanh, 0),
    "tan": (jnp.tan, np.tan, 0), "rsqrt": (lambda z: bind(P.rsqrt_p, z), lambda z: 1 / np.sqrt(z), 0),
}
BINARY = {
    "add": (jnp.add, np.add, 0), "sub": (jnp.subtract, np.subtract, 0),
    "mul": (jnp.multiply, np.multiply, 0), "div": (jnp.divide, np.divide, 0),
    "eq": (jnp.equal, np.equal, 0), "ne": (jnp.not_equal, np.not_equal, 0),
}
if COMPLEX_LIBC_CALLS:
    UNARY.update(LIBC)
    BINARY["pow"] = (jnp.power, np.power, None)


def _check(f, numpy_f, ulps, *args):
    fn = dj.make_ir(f)(*args)
    plan = plan_function(fn)
    assert not plan.host_steps, str(plan)  # the whole function is one native kernel
    with np.errstate(all="ignore"):
        expected = numpy_f(*args)
        reference = ir.eval_function(fn, *args)[0]
    native = compile_function(fn)(*args)[0]
    assert_same_values(reference, expected)
    if ulps is None:
        assert_close_where_finite(native, reference)
    else:
        assert_same_values(native, reference, ulps)


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", WIDTHS, ids=["c64", "c128"])
@given(data=st.data())
def test_unary_native_matches_interpreter_and_numpy(name, dtype, data):
    f, numpy_f, ulps = UNARY[name]
    _check(f, numpy_f, ulps, data.draw(drawn(dtype)))


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("dtype", WIDTHS, ids=["c64", "c128"])
@given(data=st.data())
def test_binary_native_matches_interpreter_and_numpy(name, dtype, data):
    f, numpy_f, ulps = BINARY[name]
    _check(f, numpy_f, ulps, data.draw(drawn(dtype)), data.draw(drawn(dtype)))


def _grid(dtype):
    """Every pair of special parts: the branch cuts, signed zeros and inf/nan corners."""
    re, im = np.meshgrid(SPECIAL, SPECIAL)
    return _build(re.ravel(), im.ravel(), dtype)


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", WIDTHS, ids=["c64", "c128"])
def test_unary_over_every_special_pair(name, dtype):
    f, numpy_f, ulps = UNARY[name]
    _check(f, numpy_f, ulps, _grid(dtype))


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("dtype", WIDTHS, ids=["c64", "c128"])
def test_binary_over_every_special_pair(name, dtype):
    f, numpy_f, ulps = BINARY[name]
    z = _grid(dtype)
    _check(f, numpy_f, ulps, np.repeat(z, z.size), np.tile(z, z.size))


@pytest.mark.parametrize("dtype", WIDTHS, ids=["c64", "c128"])
def test_parts_and_conversions(dtype):
    real = np.dtype(dtype).type(0).real.dtype
    x, y = np.array(SPECIAL, real), np.array(SPECIAL[::-1], real)
    other = np.complex128 if dtype == np.complex64 else np.complex64
    z = _build(x, y, dtype)
    cases = [
        (lambda a, b: jnp.real(a + 0j * b), None),
        (lambda a, b: a.astype(dtype) * 1, lambda a, b: a.astype(dtype)),
        (lambda a, b: (a + 1j * b) * 1, None),
        (lambda a, b: jnp.astype(jnp.astype(a, dtype), real) + b, None),
    ]
    for f, _ in cases:
        fn = dj.make_ir(f)(x, y)
        with np.errstate(all="ignore"):
            assert_same_values(compile_function(fn)(x, y)[0], ir.eval_function(fn, x, y)[0])
    for target in (other, real, np.bool_, np.int32):
        fn = _single(ir.primitives.convert_element_type_p, [z],
                     {"new_dtype": ir.as_dtype(target)})
        with np.errstate(all="ignore"):
            expected = ir.eval_function(fn, z)[0]
        assert_same_values(compile_function(fn)(z)[0], expected)
    fn = _single(ir.primitives.complex_p, [x, y])
    assert_same_values(compile_function(fn)(x, y)[0], z)


@pytest.mark.parametrize("dtype", WIDTHS, ids=["c64", "c128"])
@pytest.mark.parametrize("n", [7, 1 << 18])  # one loop; chunks on threads
def test_fused_elementwise_and_reductions_large_and_small(dtype, n):
    z = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dtype)
    w = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dtype)

    def f(z, w):
        p = z * jnp.conj(w) / (w + 2.0)
        return p, jnp.sum(p * w), jnp.real(jnp.sum(z * jnp.conj(z))), jnp.prod(z[:5])

    fn = dj.make_ir(f)(z, w)
    plan = plan_function(fn)
    assert not plan.host_steps and len(plan.kernels) == 1, str(plan)
    tol = 1e-4 if dtype == np.complex64 else 1e-11
    for g, e in zip(compile_function(fn)(z, w), f(z, w)):
        assert np.asarray(g).dtype == np.asarray(e).dtype
        np.testing.assert_allclose(g, e, rtol=tol, atol=tol * np.sqrt(n))


@pytest.mark.parametrize("dtype", WIDTHS, ids=["c64", "c128"])
@pytest.mark.parametrize("shape", [(3, 4, 2), (64, 48, 40)])  # native loops; zgemm/cgemm
def test_complex_matrix_products(dtype, shape):
    m, k, n = shape
    a = (rng.standard_normal((m, k)) + 1j * rng.standard_normal((m, k))).astype(dtype)
    b = (rng.standard_normal((k, n)) + 1j * rng.standard_normal((k, n))).astype(dtype)
    products = {"ab": lambda a, b: a @ b, "aTb": lambda a, b: a.T @ a,
                "abT": lambda a, b: b @ b.T, "conj": lambda a, b: jnp.conj(a).T @ (a * 1j)}
    for name, f in products.items():
        fn = dj.make_ir(f)(a, b)
        plan = plan_function(fn)
        assert not plan.host_steps, str(plan)
        assert ("calls gemm" in str(plan)) == (m > 10), str(plan)
        tol = 1e-4 if dtype == np.complex64 else 1e-12
        np.testing.assert_allclose(compile_function(fn)(a, b)[0], f(a, b), rtol=tol,
                                   atol=tol * k, err_msg=name)


def test_what_stays_on_the_host_says_why():
    z = rng.standard_normal(4) + 1j * rng.standard_normal(4)
    plan = str(dj.jit(lambda z: jnp.sign(z) * 2.0).lower(z).plan())
    assert "host step" in plan and "complex sign has no native lowering" in plan

    def carries_complex(z):
        return dj.lax.scan(lambda c, x: (c * x, c.real), z[0], z)

    plan = dj.jit(carries_complex).lower(z).plan()
    assert "host step" in str(plan) and "scan" in str(plan)
    for g, e in zip(dj.jit(carries_complex)(z), carries_complex(z)):
        np.testing.assert_allclose(g, e, rtol=1e-13)


def test_complex_values_from_kernels_cross_host_steps_and_back():
    z = rng.standard_normal((3, 8)) + 1j * rng.standard_normal((3, 8))

    def f(z):
        spectrum = jnp.fft.fft(z * 2.0 + 1j)  # kernel -> host step (fft) -> kernel
        return jnp.abs(spectrum) ** 2, jnp.conj(spectrum).T @ spectrum

    got = dj.jit(f)(z)
    for g, e in zip(got, f(z)):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-10)
