"""dualjit.random: threefry against published test vectors and JAX's bits, determinism across
eager/jit/vmap, distributions (moments, Kolmogorov-Smirnov, chi-square) with fixed seeds."""

import math
import pathlib

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp
from dualjit import random

from . import make_jax_reference

# Known-answer vectors of threefry2x32 with 20 rounds (Random123's kat_vectors).
KAT = [((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6b200159, 0x99ba4efe)),
       ((0xffffffff, 0xffffffff), (0xffffffff, 0xffffffff), (0x1cb996fc, 0xbb002be7)),
       ((0x13198a2e, 0x03707344), (0x243f6a88, 0x85a308d3), (0xc4923a9c, 0x483df7a0))]


@pytest.mark.parametrize("key,counter,expected", KAT)
def test_threefry_matches_the_published_vectors(key, counter, expected):
    k0, k1 = (np.uint32(v) for v in key)
    x0, x1 = (np.array([v], np.uint32) for v in counter)
    for run in (random.threefry_2x32, dj.jit(random.threefry_2x32)):
        y0, y1 = run(k0, k1, x0, x1)
        assert (int(y0[0]), int(y1[0])) == expected


def test_keys_are_uint32_pairs_from_the_64_bit_seed():
    np.testing.assert_array_equal(random.key(42), [0, 42])
    np.testing.assert_array_equal(random.PRNGKey(2**40 + 7), [2**8, 7])
    np.testing.assert_array_equal(random.key(-1), [2**32 - 1, 2**32 - 1])
    assert random.key(0).dtype == np.uint32
    with pytest.raises(TypeError, match="expected a key"):
        random.normal(np.array([1, 2]), (3,))
    with pytest.raises(TypeError, match="vmap"):
        random.normal(random.split(random.key(0), 3), (3,))
    with pytest.raises(TypeError, match="integer scalar"):
        random.key(1.5)


# JAX is an independent implementation of the same algorithms (its default partitionable
# threefry layout; float32/int32 so that JAX's x64 mode does not matter). Its outputs for the
# calls in make_jax_reference.CALLS are recorded in jax_reference.npz (the suite runs without
# JAX); `python tests/random/make_jax_reference.py` records them again.
JAX_REFERENCE = np.load(pathlib.Path(__file__).with_name("jax_reference.npz"))
OUR_CALLS = dict(make_jax_reference.calls(random, random.key))


@pytest.mark.parametrize("name", [n for n in OUR_CALLS if n != "normal"])
def test_bit_exact_with_jax(name):
    np.testing.assert_array_equal(OUR_CALLS[name](), JAX_REFERENCE[name])


def test_normal_agrees_with_jax_to_erfinv_accuracy():
    np.testing.assert_allclose(OUR_CALLS["normal"](), JAX_REFERENCE["normal"],
                               rtol=1e-4, atol=1e-6)


def test_every_recorded_jax_output_is_checked():
    assert set(JAX_REFERENCE.files) - {"jax_version"} == set(OUR_CALLS)


def test_normal_is_sqrt2_erfinv_of_uniform_within_a_few_ulp():
    scipy_special = pytest.importorskip("scipy.special")
    for dtype in (np.float32, np.float64):
        k = random.key(11)
        u = random.uniform(k, (20000,), dtype, np.nextafter(dtype(-1), dtype(0)), 1.0)
        exact = math.sqrt(2) * scipy_special.erfinv(u.astype(np.float64))
        got = random.normal(k, (20000,), dtype)
        ulps = np.abs(got - exact) / np.spacing(np.abs(exact).astype(dtype)).astype(np.float64)
        assert ulps.max() <= 8, (dtype, ulps.max())
    x = np.array([-1.0, -0.999999999, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(random.erf_inv(x), scipy_special.erfinv(x), rtol=1e-14)


def test_same_key_same_numbers_eagerly_under_jit_and_vmap():
    k = random.key(2024)
    eager = random.normal(k, (4, 3))
    np.testing.assert_array_equal(dj.jit(lambda k: random.normal(k, (4, 3)))(k), eager)
    keys = random.split(k, 5)
    batched = dj.vmap(lambda k: random.normal(k, (4, 3)))(keys)
    np.testing.assert_array_equal(batched, np.stack([random.normal(kk, (4, 3)) for kk in keys]))
    np.testing.assert_array_equal(dj.jit(dj.vmap(lambda k: random.split(k, 3)))(keys),
                                  np.stack([random.split(kk, 3) for kk in keys]))
    steps = dj.vmap(random.fold_in, in_axes=(None, 0))(k, np.arange(4))
    np.testing.assert_array_equal(steps, np.stack([random.fold_in(k, i) for i in range(4)]))
    assert eager.dtype == np.float64  # the documented default
    assert random.randint(k, (2,), 0, 5).dtype == np.int64


def _ks_statistic(samples, cdf):
    x = np.sort(samples)
    n = len(x)
    c = cdf(x)
    return max(np.max(np.arange(1, n + 1) / n - c), np.max(c - np.arange(n) / n))


# Kolmogorov-Smirnov with n = 20000: the 0.1% critical value is 1.95 / sqrt(n) = 0.0138.
KS_LIMIT = 1.95 / math.sqrt(20000)


@pytest.mark.parametrize("name", ["uniform", "normal", "exponential", "gumbel", "laplace",
                                  "logistic", "cauchy", "truncated_normal"])
def test_distributions_pass_kolmogorov_smirnov_and_moments(name):
    stats = pytest.importorskip("scipy.stats")
    k = random.key(123)
    samplers = {
        "uniform": (lambda: random.uniform(k, (20000,), minval=-1.0, maxval=3.0),
                    stats.uniform(-1, 4), (1.0, 16 / 12)),
        "normal": (lambda: random.normal(k, (20000,)), stats.norm(), (0.0, 1.0)),
        "exponential": (lambda: random.exponential(k, (20000,)), stats.expon(), (1.0, 1.0)),
        "gumbel": (lambda: random.gumbel(k, (20000,)), stats.gumbel_r(),
                   (np.euler_gamma, np.pi ** 2 / 6)),
        "laplace": (lambda: random.laplace(k, (20000,)), stats.laplace(), (0.0, 2.0)),
        "logistic": (lambda: random.logistic(k, (20000,)), stats.logistic(),
                     (0.0, np.pi ** 2 / 3)),
        "cauchy": (lambda: random.cauchy(k, (20000,)), stats.cauchy(), None),
        "truncated_normal": (lambda: random.truncated_normal(k, -0.5, 2.0, (20000,)),
                             stats.truncnorm(-0.5, 2.0), None),
    }
    draw, dist, moments = samplers[name]
    x = draw()
    assert _ks_statistic(x, dist.cdf) < KS_LIMIT
    if moments is not None:  # the sample mean within 4 standard errors
        mean, var = moments
        assert abs(x.mean() - mean) < 4 * math.sqrt(var / len(x))
        assert abs(x.var() / var - 1) < 0.06
    if name == "truncated_normal":
        assert x.min() > -0.5 and x.max() < 2.0


@pytest.mark.parametrize("a", [0.3, 1.0, 4.5])
def test_gamma_passes_kolmogorov_smirnov_and_moments(a):
    stats = pytest.importorskip("scipy.stats")
    x = random.gamma(random.key(7), a, (20000,))
    assert _ks_statistic(x, stats.gamma(a).cdf) < KS_LIMIT
    assert abs(x.mean() - a) < 4 * math.sqrt(a / len(x))  # mean and variance are both a
    assert abs(x.var() / a - 1) < 0.08
    assert x.min() > 0


def test_gamma_beta_dirichlet_same_everywhere_and_not_differentiable_in_a():
    stats = pytest.importorskip("scipy.stats")
    k = random.key(11)
    a = np.array([[0.5], [2.0], [9.0]])
    eager = random.gamma(k, a, (3, 4), np.float32)
    assert eager.dtype == np.float32 and eager.shape == (3, 4)
    np.testing.assert_allclose(dj.jit(lambda k: random.gamma(k, a, (3, 4), np.float32))(k),
                               eager, rtol=1e-6)
    keys = random.split(k, 3)
    np.testing.assert_allclose(dj.vmap(lambda kk: random.gamma(kk, 2.0, (5,)))(keys),
                               np.stack([random.gamma(kk, 2.0, (5,)) for kk in keys]), rtol=1e-12)
    b = random.beta(k, 2.0, 5.0, (20000,))
    assert _ks_statistic(b, stats.beta(2.0, 5.0).cdf) < KS_LIMIT
    d = random.dirichlet(k, np.array([1.0, 2.0, 3.0]), (20000,))
    np.testing.assert_allclose(d.sum(-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(d.mean(0), [1 / 6, 2 / 6, 3 / 6], atol=4 * math.sqrt(0.25 / 20000))
    # a scale outside the sampler differentiates; the shape parameter says it cannot
    np.testing.assert_allclose(dj.grad(lambda s: s * random.gamma(k, 2.0))(3.0),
                               random.gamma(k, 2.0), rtol=1e-12)
    with pytest.raises(NotImplementedError, match="shape parameter"):
        dj.grad(lambda a: random.gamma(k, a))(2.0)
    with pytest.raises(NotImplementedError, match="shape parameter"):
        dj.jvp(lambda a: random.gamma(k, a), (2.0,), (1.0,))


def test_split_streams_are_independent():
    keys = random.split(random.key(0), 4)
    draws = np.stack([random.normal(k, (20000,)) for k in keys])
    corr = np.corrcoef(draws)
    off_diagonal = corr[~np.eye(4, dtype=bool)]
    assert np.abs(off_diagonal).max() < 4 / math.sqrt(20000)
    parent = random.normal(random.key(0), (20000,))
    assert abs(np.corrcoef(parent, draws[0])[0, 1]) < 4 / math.sqrt(20000)
    assert len({tuple(k) for k in random.split(random.key(0), 1000)}) == 1000


def _chi_square_ok(counts, probabilities):
    """Pearson's statistic below the 0.1% critical value (Wilson-Hilferty approximation)."""
    expected = probabilities * counts.sum()
    stat = ((counts - expected) ** 2 / expected).sum()
    dof = len(counts) - 1
    critical = dof * (1 - 2 / (9 * dof) + 3.09 * math.sqrt(2 / (9 * dof))) ** 3
    return stat < critical


def test_integer_and_discrete_samplers():
    k = random.key(9)
    r = random.randint(k, (30000,), -3, 7)
    assert r.min() == -3 and r.max() == 6
    assert _chi_square_ok(np.bincount(r + 3, minlength=10), np.full(10, 0.1))
    b = random.bernoulli(k, 0.3, (30000,))
    assert b.dtype == np.bool_ and abs(b.mean() - 0.3) < 4 * math.sqrt(0.21 / 30000)
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    c = random.categorical(k, logits, shape=(30000,))
    assert _chi_square_ok(np.bincount(c, minlength=4), np.exp(logits))
    p = np.array([0.5, 0.25, 0.25])
    assert _chi_square_ok(np.bincount(random.choice(k, 3, (30000,), p=p), minlength=3), p)
    perm = random.permutation(k, 50)
    assert sorted(perm.tolist()) == list(range(50))
    x = np.arange(24).reshape(4, 6)
    shuffled = random.permutation(k, x, axis=1)
    assert sorted(shuffled[0].tolist()) == list(range(6))
    np.testing.assert_array_equal(shuffled, x[:, shuffled[0]])  # one order for every row
    independent = random.permutation(k, x, axis=1, independent=True)
    assert all(sorted(row.tolist()) == sorted(orig.tolist()) for row, orig in zip(independent, x))
    picked = random.choice(k, x, (3,), replace=False, axis=1)
    assert picked.shape == (4, 3) and len(set(picked[0].tolist())) == 3
    assert set(random.rademacher(k, (100,)).tolist()) == {-1, 1}
    full = random.randint(k, (20000,), 0, 256, np.uint8)
    assert full.min() == 0 and full.max() == 255
    assert (random.randint(k, (10,), 5, 5) == 5).all()  # maxval <= minval gives minval


def test_float32_and_bits_dtypes():
    k = random.key(1)
    for dtype in (np.float32, np.float64):
        assert random.uniform(k, (3,), dtype).dtype == dtype
        assert random.normal(k, (3,), dtype).dtype == dtype
    for dtype in (np.uint8, np.uint16, np.uint32, np.uint64):
        assert random.bits(k, (3,), dtype).dtype == dtype
    u = random.uniform(k, (100000,), np.float32)
    assert u.min() >= 0 and u.max() < 1
    with pytest.raises(TypeError, match="float dtype"):
        random.normal(k, (3,), np.int32)
    with pytest.raises(TypeError, match="unsigned"):
        random.bits(k, (3,), np.int32)


def test_samples_compose_with_grad_and_traced_bounds():
    k = random.key(4)

    def loss(mu, lo):
        return jnp.sum(mu + random.normal(k, (5,))) + jnp.sum(random.uniform(k, (5,),
                                                                                minval=lo))
    g_mu, g_lo = dj.grad(loss, argnums=(0, 1))(1.0, 0.25)
    assert g_mu == 5.0
    u = random.uniform(k, (5,))
    np.testing.assert_allclose(g_lo, np.sum(1 - u), rtol=1e-12)


def test_multivariate_normal_and_orthogonal():
    k = random.key(8)
    cov = np.array([[2.0, 0.6], [0.6, 1.0]])
    for method in ("cholesky", "eigh", "svd"):
        x = random.multivariate_normal(k, np.array([1.0, -1.0]), cov, (40000,), method=method)
        np.testing.assert_allclose(x.mean(0), [1.0, -1.0], atol=0.03)
        np.testing.assert_allclose(np.cov(x.T), cov, atol=0.05)
    q = random.orthogonal(k, 4, (3,))
    np.testing.assert_allclose(q @ np.swapaxes(q, -1, -2), np.broadcast_to(np.eye(4), (3, 4, 4)),
                               atol=1e-12)
    if getattr(getattr(jnp, "linalg", None), "cholesky", None) is None:
        with pytest.raises(NotImplementedError, match="cholesky"):  # traced: needs linalg
            dj.jit(lambda c: random.multivariate_normal(k, np.zeros(2), c, (3,)))(cov)
