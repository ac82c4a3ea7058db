"""complex64/complex128 through the layers: dtypes, promotion, printing, the interpreter against
compiled code, refused orderings, and derivatives against complex finite differences."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dualjit as dj
import dualjit.numpy as jnp
from dualjit import ir
from dualjit.codegen.schedule import plan_function
from dualjit.ir import DType, IRError, Literal
from dualjit.ir import primitives as P
from dualjit.ir.parser import parse_function

rng = np.random.default_rng(7)
Z = rng.standard_normal(5) + 1j * rng.standard_normal(5)
W = rng.standard_normal(5) + 1j * rng.standard_normal(5)


# ---------------------------------------------------------------------------------------------
# Dtypes, promotion, printing
# ---------------------------------------------------------------------------------------------

def test_dtypes_and_their_parts():
    assert ir.as_dtype(np.complex64) is DType.complex64
    assert ir.as_dtype(complex) is DType.complex128
    assert ir.as_dtype(">c16") is DType.complex128
    assert DType.complex64.real_dtype is DType.float32
    assert DType.float64.complex_dtype is DType.complex128
    assert DType.complex64.is_inexact and not DType.complex64.is_float
    assert DType.complex128.bits == 128


@pytest.mark.parametrize("x,y", [
    (np.ones(2, np.float32), 1j), (np.ones(2, np.int32), 1j), (np.ones(2, np.complex64), 2.0),
    (np.ones(2, np.complex64), np.ones(2, np.float64)), (np.ones(2, np.uint8), 1j),
    (np.ones(2, np.complex64), np.float32(1)), (np.ones(2, np.bool_), 1j),
])
def test_promotion_follows_numpy_with_weak_python_complex(x, y):
    expected = (x + y).dtype
    assert jnp.add(x, y).dtype == expected
    assert dj.jit(lambda a: a + y)(x).dtype == expected
    assert jnp.result_type(x, y) == expected


def test_weak_complex_scalar_keeps_a_traced_float32_single_precision():
    f = dj.jit(lambda a: a * 1j)
    out = f(np.ones(3, np.float32))
    assert out.dtype == np.complex64
    np.testing.assert_array_equal(out, 1j * np.ones(3, np.complex64))


def test_print_parse_round_trip_of_complex_literals_and_constants():
    special = np.array([complex(1.5, -0.0), complex(np.nan, np.inf), complex(-0.0, -np.inf),
                        complex(1e-300, 2.5e10)])

    def f(z):
        return z * complex(-0.0, 2.5) + special + complex(np.nan, -np.inf)

    fn = dj.make_ir(f)(Z[:4])
    again = parse_function(fn.text)
    assert again.text == fn.text
    for a, b in zip(ir.eval_function(fn, Z[:4]), ir.eval_function(again, Z[:4])):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(np.signbit(a.real), np.signbit(b.real))


def test_complex_literal_keeps_signed_zeros():
    assert Literal(complex(0.0, -0.0), "c64") != Literal(complex(0.0, 0.0), "c64")
    assert Literal(complex(np.nan, 1), "c128") == Literal(complex(np.nan, 1), "c128")


# ---------------------------------------------------------------------------------------------
# Values: interpreter = numpy = compiled code
# ---------------------------------------------------------------------------------------------

def _program(z, w, x):
    a = jnp.exp(z) * w - jnp.sqrt(z) / (w + 2.0) + z ** 3 + jnp.power(z, w)
    b = jnp.abs(a) + jnp.angle(w) + jnp.real(z * jnp.conj(w)) + jnp.imag(jnp.log(z))
    c = jnp.tanh(z) + jnp.sin(w) * jnp.cos(z) + jnp.sign(z) + x * 1j
    return a, b + x, c, (z[:, None] * w[None, :]) @ w, jnp.sum(c * w), jnp.var(z)


def _numpy_program(z, w, x):
    a = np.exp(z) * w - np.sqrt(z) / (w + 2.0) + z ** 3 + np.power(z, w)
    b = np.abs(a) + np.angle(w) + np.real(z * np.conj(w)) + np.imag(np.log(z))
    c = np.tanh(z) + np.sin(w) * np.cos(z) + np.sign(z) + x * 1j
    return a, b + x, c, (z[:, None] * w[None, :]) @ w, np.sum(c * w), np.var(z)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_program_matches_numpy_eager_and_compiled(dtype):
    z, w = Z.astype(dtype), W.astype(dtype)
    x = np.linspace(-1, 1, 5).astype(dtype(0).real.dtype)
    expected = _numpy_program(z, w, x)
    tol = 1e-5 if dtype == np.complex64 else 1e-12
    for got in (_program(z, w, x), dj.jit(_program)(z, w, x)):
        for g, e in zip(got, expected):
            assert np.asarray(g).dtype == e.dtype
            np.testing.assert_allclose(g, e, rtol=tol, atol=tol)


def test_complex_arithmetic_runs_in_kernels_as_pairs_of_floats():
    # the contract since native complex arithmetic: no host step for elementwise complex
    # arithmetic, its parts and reductions (tests/complex/test_native.py tests the values)
    fn = dj.make_ir(lambda z, x: (jnp.abs(z * 2.0) + x * 3.0, jnp.real(z) - x,
                                  jnp.sum(z * jnp.conj(z))))(Z, Z.real)
    plan = plan_function(fn)
    assert not plan.host_steps and len(plan.kernels) == 1, str(plan)
    assert any(v.type.dtype.is_complex for v in plan.kernels[0].segment.live_in)


def test_control_flow_carrying_complex_values_runs_on_the_host_correctly():
    def f(z):
        def body(carry, x):
            return carry * x + 1j, carry.real
        return dj.lax.scan(body, z[0], z)

    got = dj.jit(f)(Z)
    expected = f(Z)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-13)


@pytest.mark.parametrize("op", [jnp.less, jnp.less_equal, jnp.greater, jnp.greater_equal,
                                jnp.maximum, jnp.minimum, lambda a, b: jnp.max(a),
                                lambda a, b: jnp.argmin(a)])
def test_ordering_of_complex_numbers_is_refused(op):
    with pytest.raises(TypeError, match="complex numbers have no order"):
        op(Z, W)
    with pytest.raises(TypeError, match="complex numbers have no order"):
        dj.jit(lambda a: op(a, 1.0))(Z)


@pytest.mark.parametrize("prim", [P.lt_p, P.ge_p, P.max_p, P.min_p])
def test_ordering_primitives_refuse_complex_operands_in_the_ir(prim):
    t = ir.TensorType("c64", (3,))
    with pytest.raises(IRError, match="complex numbers have no order"):
        ir.abstract_eval(prim, [t, t], {})


def test_equality_of_complex_numbers_is_allowed():
    np.testing.assert_array_equal(jnp.equal(Z, np.where(Z.real > 0, Z, W)), Z.real > 0)
    np.testing.assert_array_equal(jnp.isreal(np.array([1 + 0j, 1j])), [True, False])


def test_branch_cuts_and_signed_zeros_under_jit():
    cut = np.array([complex(-1, 0.0), complex(-1, -0.0), complex(-0.0, 0.0), complex(-0.0, -0.0),
                    complex(0.0, -0.0)])
    f = dj.jit(lambda z: (jnp.log(z), jnp.sqrt(z), jnp.angle(z)))
    with np.errstate(divide="ignore"):
        for g, e in zip(f(cut), (np.log(cut), np.sqrt(cut), np.angle(cut))):
            np.testing.assert_array_equal(g, e)
            np.testing.assert_array_equal(np.signbit(np.imag(g)), np.signbit(np.imag(e)))


# ---------------------------------------------------------------------------------------------
# Derivatives against complex finite differences (JAX's conventions)
# ---------------------------------------------------------------------------------------------

H = 1e-6


def _fd_directional(f, z, t):
    """(f(z + h t) - f(z - h t)) / 2h: the derivative along the complex direction t."""
    return (np.asarray(f(z + H * t)) - np.asarray(f(z - H * t))) / (2 * H)


NONHOLOMORPHIC = {
    "abs": lambda z: jnp.abs(z) * z,
    "conj": lambda z: jnp.conj(z) * jnp.exp(z),
    "real_imag": lambda z: jnp.real(z) ** 2 + 1j * jnp.imag(z) * jnp.real(z),
    "sign": lambda z: jnp.sign(z) * 2.0,
    "angle": lambda z: jnp.angle(z) + 0j,
    "complex_from_parts": lambda z: jnp.log(jnp.abs(z) + 1.0) + 1j * jnp.cos(jnp.real(z)),
}
HOLOMORPHIC = {
    "poly": lambda z: z ** 3 - 2.0 * z + 1j,
    "exp_log": lambda z: jnp.exp(z) * jnp.log(z),
    "trig": lambda z: jnp.sin(z) / jnp.cos(z) + jnp.tanh(z),
    "sqrt_pow": lambda z: jnp.sqrt(z) + jnp.power(z, 1.5 + 0.5j),
    "div": lambda z: 1.0 / (z + 2j),
}


@pytest.mark.parametrize("name", sorted(NONHOLOMORPHIC) + sorted(HOLOMORPHIC))
def test_jvp_matches_finite_differences_along_complex_directions(name):
    f = {**NONHOLOMORPHIC, **HOLOMORPHIC}[name]
    for t in (np.ones(5) + 0j, 1j * np.ones(5), W):
        _, t_out = dj.jvp(f, (Z,), (t,))
        np.testing.assert_allclose(t_out, _fd_directional(f, Z, t), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(NONHOLOMORPHIC) + sorted(HOLOMORPHIC))
def test_vjp_is_the_transpose_of_jvp_in_jax_pairing(name):
    # JAX carries the cotangent of z = x + iy as dL/dx - i dL/dy, so for every t and u:
    #   Re sum(u * (J t)) = Re sum(vjp(u) * t)     (no conjugation on either side)
    f = {**NONHOLOMORPHIC, **HOLOMORPHIC}[name]
    out, pullback = dj.vjp(f, Z)
    u = rng.standard_normal(5) + 1j * rng.standard_normal(5)
    (ct,) = pullback(u.astype(np.asarray(out).dtype))
    for t in (np.ones(5) + 0j, 1j * np.ones(5), W):
        lhs = np.real(np.sum(u * _fd_directional(f, Z, t)))
        np.testing.assert_allclose(np.real(np.sum(ct * t)), lhs, rtol=1e-6, atol=1e-7)
        jit_ct = dj.jit(lambda z, u: dj.vjp(f, z)[1](u)[0])(Z, u.astype(np.asarray(out).dtype))
        np.testing.assert_allclose(jit_ct, ct, rtol=1e-12, atol=1e-12)


def test_grad_of_a_real_function_of_complex_input_is_jax_convention():
    def loss(z):
        return jnp.sum(jnp.abs(z * W + 1.0) ** 2 + jnp.real(z) * jnp.imag(z))

    def numpy_loss(z):
        return np.sum(np.abs(z * W + 1.0) ** 2 + z.real * z.imag)

    g = dj.grad(loss)(Z)
    d_dx = np.array([_fd_directional(numpy_loss, Z, np.eye(5)[i]) for i in range(5)])
    d_dy = np.array([_fd_directional(numpy_loss, Z, 1j * np.eye(5)[i]) for i in range(5)])
    np.testing.assert_allclose(g, d_dx - 1j * d_dy, rtol=1e-6, atol=1e-7)
    # closed form: JAX's gradient is 2 dL/dz (Wirtinger, z-bar held fixed)
    np.testing.assert_allclose(g, 2 * W * np.conj(Z * W + 1.0) + (Z.imag - 1j * Z.real),
                               rtol=1e-12)
    assert dj.jit(dj.grad(loss))(Z).dtype == np.complex128


def test_grad_holomorphic_is_the_complex_derivative():
    def f(z):
        return jnp.sin(z) * z + jnp.exp(2j * z)

    for z0 in (0.3 + 0.7j, -1.2 - 0.1j):
        g = dj.grad(f, holomorphic=True)(z0)
        np.testing.assert_allclose(g, np.cos(z0) * z0 + np.sin(z0) + 2j * np.exp(2j * z0),
                                   rtol=1e-12)
        np.testing.assert_allclose(g, _fd_directional(lambda z: np.sin(z) * z + np.exp(2j * z),
                                                      z0, 1.0), rtol=1e-7)


def test_jacobians_holomorphic_both_modes():
    def f(z):
        return jnp.exp(z) * z[::-1] + z ** 2

    expected = np.diag(np.exp(Z) * Z[::-1] + 2 * Z) + np.fliplr(np.diag(np.exp(Z)))
    for jac in (dj.jacfwd, dj.jacrev):
        got = jac(f, holomorphic=True)(Z)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dj.jacfwd(f, holomorphic=True)(Z.astype(np.complex64)),
                               expected, rtol=1e-5)


def test_jacrev_of_real_output_with_complex_input_matches_grad():
    def f(z):
        return jnp.abs(z) ** 2 * jnp.arange(1.0, 6.0)

    np.testing.assert_allclose(dj.jacrev(f)(Z), np.diag(2 * np.conj(Z) * np.arange(1.0, 6.0)),
                               rtol=1e-12)


@pytest.mark.parametrize("call,message", [
    (lambda: dj.grad(lambda z: jnp.sum(z * z))(Z), "holomorphic=True"),
    (lambda: dj.grad(lambda z: jnp.sum(z * 1j), holomorphic=True)(Z.real), "complex inputs"),
    (lambda: dj.grad(lambda z: jnp.sum(jnp.abs(z)), holomorphic=True)(Z), "complex output"),
    (lambda: dj.jacfwd(lambda z: z * 2.0)(Z), "holomorphic=True"),
    (lambda: dj.jacrev(lambda z: z * 2.0)(Z), "holomorphic=True"),
    (lambda: dj.jacfwd(lambda z: z * 2.0, holomorphic=True)(Z.real), "must be complex"),
])
def test_complex_differentiation_misuse_is_refused_with_the_fix(call, message):
    with pytest.raises(TypeError, match=message):
        call()


# ---------------------------------------------------------------------------------------------
# Random programs: compiled (host steps + kernels) = interpreter, both dtypes, any shape
# ---------------------------------------------------------------------------------------------

UNARY = [jnp.exp, jnp.sin, jnp.cos, jnp.tanh, jnp.conj, jnp.negative, lambda z: z * z,
         lambda z: z / (jnp.abs(z) + 1.0), lambda z: jnp.sqrt(z) + jnp.log(z + 2.0),
         lambda z: jnp.real(z) + 1j * jnp.imag(z) * 0.5, lambda z: z + jnp.abs(z),
         lambda z: jnp.sum(z, axis=0, keepdims=True) + z, lambda z: z ** 2.5,
         lambda z: jnp.where(jnp.real(z) > 0, z, 1j * z)]


@given(st.lists(st.integers(0, len(UNARY) - 1), min_size=1, max_size=5),
       st.sampled_from([np.complex64, np.complex128]),
       st.lists(st.integers(1, 4), min_size=1, max_size=2), st.integers(0, 2**31))
def test_random_complex_programs_compiled_match_the_interpreter(ops, dtype, shape, seed):
    r = np.random.default_rng(seed)
    z = (r.standard_normal(shape) + 1j * r.standard_normal(shape)).astype(dtype)

    def program(z):
        for i in ops:
            z = UNARY[i](z)
        return z

    fn = dj.make_ir(program)(z)
    expected = ir.eval_function(fn, z)[0]
    got = dj.jit(program)(z)
    assert got.dtype == expected.dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=1e-6 if dtype == np.complex64 else 1e-13,
                               atol=1e-6 if dtype == np.complex64 else 1e-13, equal_nan=True)


def test_host_step_views_are_laid_out_for_the_kernels_that_read_them():
    # transpose of a complex value runs on the host (a numpy view); the real part then feeds
    # a native kernel, which reads C-ordered memory
    z = rng.standard_normal((3, 5)) + 1j * rng.standard_normal((3, 5))
    got = dj.jit(lambda z: jnp.real(jnp.transpose(z)) * 2.0 + jnp.imag(z.T))(z)
    np.testing.assert_array_equal(got, z.real.T * 2.0 + z.imag.T)


@pytest.mark.parametrize("call", [  # (solve inv det slogdet eigh svd: test_linalg_complex.py)
    lambda a, b: jnp.linalg.lstsq(a, b), lambda a, b: jnp.linalg.norm(a),
    lambda a, b: jnp.linalg.cholesky(a), lambda a, b: jnp.linalg.pinv(a),
])
def test_linalg_refuses_complex_matrices_rather_than_dropping_the_imaginary_part(call):
    a = np.array([[2 + 1j, 1.0], [0.5j, 3.0]])
    b = np.array([1.0, 2j])
    with pytest.raises(TypeError, match="complex matrices are not supported yet"):
        call(a, b)
    with pytest.raises(TypeError, match="complex matrices are not supported yet"):
        dj.jit(call)(a, b)
