"""The torch functions and Tensor methods beyond functions.py (eager/more_functions.py): every
name of the survey exists, values against NumPy and SciPy, gradients against central
differences (gradcheck, float64), PyTorch's dtype rules, errors and edge cases; results
without a derivative (unique, searchsorted, bincount counts, ...) carry no gradient."""

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st

import dualjit as dj
from dualjit.autograd import gradcheck

rng = np.random.default_rng(1)

FUNCTIONS = """addbmm addmv baddbmm angle argwhere bincount bitwise_and bitwise_or bitwise_not
bitwise_xor block_diag bucketize cartesian_prod combinations complex conj corrcoef cov deg2rad
rad2deg det diag_embed diagflat digamma dist dsplit vsplit hsplit erfc erfinv heaviside histc
inverse is_complex is_nonzero isneginf isposinf isreal kron lgamma logaddexp logaddexp2
logcumsumexp logdet matrix_exp msort nanmedian polar quantile real imag resolve_conj rot90
scatter_reduce searchsorted sinc slogdet svd take_along_dim trapezoid tril_indices
triu_indices unique unique_consecutive vander vdot view_as_complex view_as_real xlogy finfo
iinfo is_inference_mode_enabled get_num_threads set_num_threads i0""".split()

METHODS = """new_empty new_full new_ones new_tensor new_zeros fill_diagonal_ squeeze_ unsqueeze_ t_
transpose_ tril_ triu_ addmm_ erfinv bitwise_and argwhere cross logcumsumexp msort
take_along_dim index_put_ xlogy mH H itemsize nbytes unique unfold masked_scatter_
storage_offset""".split()


def test_every_name_exists():
    assert [n for n in FUNCTIONS if not callable(getattr(dj, n, None))] == []
    assert [n for n in METHODS if not hasattr(dj.Tensor, n)] == []


def t64(a, grad=True):
    return dj.tensor(np.asarray(a, np.float64), requires_grad=grad)


def close(t, expected, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(np.asarray(t.detach().numpy()), expected, rtol=rtol, atol=atol)


# -- elementwise --------------------------------------------------------------------------------

UNARY = {
    "erfc": (scipy.special.erfc, rng.uniform(-2, 2, 5)),
    "erfinv": (scipy.special.erfinv, rng.uniform(-0.9, 0.9, 5)),
    "lgamma": (scipy.special.gammaln, rng.uniform(0.5, 4, 5)),
    "digamma": (scipy.special.digamma, rng.uniform(0.5, 4, 5)),
    "i0": (scipy.special.i0, rng.uniform(-2, 2, 5)),
    "sinc": (np.sinc, np.array([0.0, 0.25, -1.5, 2.2, 1e-4])),
    "deg2rad": (np.deg2rad, rng.uniform(-360, 360, 5)),
    "rad2deg": (np.rad2deg, rng.uniform(-4, 4, 5)),
}


@pytest.mark.parametrize("name", UNARY)
def test_unary_values_gradients_dtypes(name):
    reference, x = UNARY[name]
    f = getattr(dj, name)
    close(f(t64(x, False)), reference(x), rtol=1e-9)
    assert gradcheck(f, (t64(x),))
    assert f(dj.tensor(x, dtype=dj.float32)).dtype == dj.float32
    assert f(dj.tensor([1, 2])).dtype == dj.float32  # integers: the default float dtype
    close(getattr(t64(x, False), name)(), reference(x), rtol=1e-9)  # the Tensor method


BINARY = {
    "xlogy": (scipy.special.xlogy, rng.uniform(0, 2, 6), rng.uniform(0.5, 3, 6)),
    "logaddexp": (np.logaddexp, rng.uniform(-3, 3, 6), rng.uniform(-3, 3, 6)),
    "logaddexp2": (np.logaddexp2, rng.uniform(-3, 3, 6), rng.uniform(-3, 3, 6)),
}


@pytest.mark.parametrize("name", BINARY)
def test_binary_values_gradients(name):
    reference, x, y = BINARY[name]
    f = getattr(dj, name)
    close(f(t64(x, False), t64(y, False)), reference(x, y), rtol=1e-9)
    assert gradcheck(f, (t64(x), t64(y)))
    close(f(t64(x, False), 2.0), reference(x, 2.0), rtol=1e-9)  # a number operand
    assert f(dj.tensor([1.0], dtype=dj.float32), 2).dtype == dj.float32


def test_xlogy_zero_cases():
    out = dj.xlogy(dj.tensor([0.0, 0.0, 1.0, 0.0]), dj.tensor([0.0, 5.0, 0.0, np.nan]))
    np.testing.assert_array_equal(out.numpy(), [0.0, 0.0, -np.inf, np.nan])
    np.testing.assert_allclose(dj.xlogy(2, dj.tensor([3.0])).numpy(), [2 * np.log(3)])
    assert dj.tensor([2.0]).xlogy(dj.tensor([3.0])).item() == pytest.approx(2 * np.log(3))


def test_logaddexp_extremes():
    x = dj.tensor([1000.0, -1000.0, -np.inf])
    np.testing.assert_allclose(dj.logaddexp(x, x).numpy(), np.logaddexp(x.numpy(), x.numpy()))


def test_predicates_and_heaviside():
    x = dj.tensor([-np.inf, -1.0, 0.0, np.inf, np.nan])
    assert dj.isneginf(x).tolist() == [True, False, False, False, False]
    assert dj.isposinf(x).tolist() == [False, False, False, True, False]
    assert dj.isposinf(dj.tensor([1, 2])).tolist() == [False, False]
    assert dj.isreal(dj.tensor([1 + 0j, 1j])).tolist() == [True, False]
    assert dj.isreal(dj.tensor([1.0])).tolist() == [True]
    h = dj.heaviside(dj.tensor([-1.0, 0.0, 2.0]), dj.tensor([0.5]))
    np.testing.assert_array_equal(h.numpy(), np.heaviside([-1.0, 0.0, 2.0], 0.5))
    with pytest.raises(RuntimeError, match="different"):
        dj.heaviside(dj.tensor([1.0]), dj.tensor([1], dtype=dj.int64))
    assert dj.is_nonzero(dj.tensor([2.0])) and not dj.is_nonzero(dj.tensor(0))
    with pytest.raises(RuntimeError, match="more than one"):
        dj.is_nonzero(dj.ones(2))
    with pytest.raises(RuntimeError, match="no values"):
        dj.is_nonzero(dj.ones(0))


# -- complex ------------------------------------------------------------------------------------

def test_complex_construction_and_views():
    re, im = rng.standard_normal(3), rng.standard_normal(3)
    z = dj.complex(t64(re, False), t64(im, False))
    assert z.dtype == dj.complex128
    close(z, re + 1j * im)
    assert dj.complex(dj.ones(1), dj.ones(1)).dtype == dj.complex64
    close(dj.polar(t64(np.abs(re), False), t64(im, False)), np.abs(re) * np.exp(1j * im))
    close(dj.view_as_real(z), np.stack([re, im], -1))
    close(dj.view_as_complex(dj.view_as_real(z)), re + 1j * im)
    close(dj.real(z), re)
    close(dj.imag(z), im)
    close(dj.conj(z), re - 1j * im)
    assert dj.resolve_conj(z) is z
    close(dj.angle(dj.tensor([-1, 2])), [np.pi, 0.0], rtol=1e-6)
    assert dj.is_complex(z) and not dj.is_complex(dj.ones(1))
    with pytest.raises(RuntimeError, match="one dtype"):
        dj.complex(dj.ones(1), dj.ones(1, dtype=dj.float64))


def test_complex_gradients_reach_the_parts():
    re, im = t64(rng.standard_normal(3)), t64(rng.standard_normal(3))
    assert gradcheck(lambda a, b: dj.view_as_real(dj.complex(a, b) * dj.complex(b, a)),
                     (re, im))
    r, theta = t64(rng.uniform(0.5, 2, 3)), t64(rng.standard_normal(3))
    assert gradcheck(lambda r, t: dj.view_as_real(dj.polar(r, t)), (r, theta))


# -- bitwise -------------------------------------------------------------------------------------

def test_bitwise():
    a, b = np.array([5, 3, -8]), np.array([3, 6, 7])
    A, B = dj.tensor(a), dj.tensor(b)
    np.testing.assert_array_equal(dj.bitwise_and(A, B).numpy(), a & b)
    np.testing.assert_array_equal(dj.bitwise_or(A, B).numpy(), a | b)
    np.testing.assert_array_equal(dj.bitwise_xor(A, 3).numpy(), a ^ 3)
    np.testing.assert_array_equal(dj.bitwise_not(A).numpy(), ~a)
    np.testing.assert_array_equal(A.bitwise_and(B).numpy(), a & b)
    assert dj.bitwise_not(dj.tensor([True, False])).tolist() == [False, True]
    for call in (lambda: dj.bitwise_and(dj.ones(2), dj.ones(2)),
                 lambda: dj.bitwise_not(dj.ones(2)), lambda: dj.bitwise_or(A, 1.5)):
        with pytest.raises((RuntimeError, TypeError), match="integer"):
            call()


# -- products -----------------------------------------------------------------------------------

def test_scaled_products():
    c, b1, b2 = rng.standard_normal((3, 4)), rng.standard_normal((2, 3, 5)), \
        rng.standard_normal((2, 5, 4))
    close(dj.addbmm(t64(c, False), t64(b1, False), t64(b2, False), beta=0.5, alpha=2),
          0.5 * c + 2 * np.einsum("bij,bjk->ik", b1, b2))
    assert gradcheck(lambda c, x, y: dj.addbmm(c, x, y, beta=0.5), (t64(c), t64(b1), t64(b2)))
    bc = rng.standard_normal((2, 3, 4))
    close(dj.baddbmm(t64(bc, False), t64(b1, False), t64(b2, False), alpha=3),
          bc + 3 * (b1 @ b2))
    m, v, c1 = rng.standard_normal((3, 5)), rng.standard_normal(5), rng.standard_normal(3)
    close(dj.addmv(t64(c1, False), t64(m, False), t64(v, False)), c1 + m @ v)
    nan = dj.full((3,), np.nan, dtype=dj.float64)
    close(dj.addmv(nan, t64(m, False), t64(v, False), beta=0), m @ v)  # beta 0 ignores NaN
    assert gradcheck(lambda c, m, v: dj.addmv(c, m, v, beta=2, alpha=-1),
                     (t64(c1), t64(m), t64(v)))


@settings(max_examples=15, deadline=None)
@given(sa=st.lists(st.integers(1, 3), min_size=1, max_size=3),
       sb=st.lists(st.integers(1, 3), min_size=1, max_size=3))
def test_kron_matches_numpy(sa, sb):
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    close(dj.kron(t64(a, False), t64(b, False)), np.kron(a, b))


def test_products_gradients_and_shapes():
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 2))
    assert gradcheck(dj.kron, (t64(a), t64(b)))
    x, y = rng.standard_normal(3) + 1j * rng.standard_normal(3), rng.standard_normal(3) + 0j
    close(dj.vdot(dj.tensor(x), dj.tensor(y)), np.vdot(x, y))
    with pytest.raises(RuntimeError, match="same dtype"):
        dj.vdot(dj.ones(2), dj.ones(2, dtype=dj.float64))
    blocks = [np.array(2.0), np.array([1.0, 2.0]), rng.standard_normal((2, 1))]
    import scipy.linalg

    close(dj.block_diag(*[t64(x, False) for x in blocks]),
          scipy.linalg.block_diag(*[np.atleast_2d(x) for x in blocks]))
    assert gradcheck(lambda p, q: dj.block_diag(p, q), (t64(a), t64(b)))
    assert dj.block_diag(dj.tensor([1, 2]), dj.tensor([[3]])).dtype == dj.int64
    prod = dj.cartesian_prod(dj.tensor([1, 2]), dj.tensor([3, 4, 5]))
    assert prod.tolist() == [[1, 3], [1, 4], [1, 5], [2, 3], [2, 4], [2, 5]]
    import itertools

    v = dj.tensor([1.0, 2.0, 3.0, 4.0])
    assert dj.combinations(v, 3).tolist() == [list(c) for c in itertools.combinations(
        [1.0, 2.0, 3.0, 4.0], 3)]
    assert dj.combinations(v, 2, with_replacement=True).shape == (10, 2)
    assert dj.combinations(v, 5).shape == (0, 5)
    assert gradcheck(lambda v: dj.combinations(v, 2), (t64([1.0, 2.0, 3.0]),))


# -- statistics and scans ----------------------------------------------------------------------

@settings(max_examples=15, deadline=None)
@given(variables=st.integers(1, 4), observations=st.integers(2, 6), correction=st.integers(0, 1))
def test_cov_corrcoef_match_numpy(variables, observations, correction):
    x = rng.standard_normal((variables, observations))
    close(dj.cov(t64(x, False), correction=correction), np.cov(x, ddof=correction), rtol=1e-9)
    if variables > 1:
        close(dj.corrcoef(t64(x, False)), np.corrcoef(x), rtol=1e-9)


def test_cov_weights_and_gradients():
    x = rng.standard_normal((2, 5))
    fw, aw = np.array([1, 2, 1, 3, 1]), rng.uniform(0.5, 2, 5)
    close(dj.cov(t64(x, False), fweights=dj.tensor(fw), aweights=t64(aw, False)),
          np.cov(x, fweights=fw, aweights=aw), rtol=1e-9)
    close(dj.cov(t64(x[0], False)), np.cov(x[0]), rtol=1e-9)
    assert gradcheck(dj.cov, (t64(x),))
    assert gradcheck(dj.corrcoef, (t64(x),))


def test_quantile_nanmedian():
    x = rng.standard_normal((3, 5))
    for q in (0.0, 0.3, 1.0):
        for method in ("linear", "lower", "higher", "midpoint", "nearest"):
            close(dj.quantile(t64(x, False), q, dim=1, interpolation=method),
                  np.quantile(x, q, axis=1, method=method), rtol=1e-9)
    q = np.array([0.25, 0.5])
    close(dj.quantile(t64(x, False), t64(q, False), dim=0, keepdim=True),
          np.quantile(x, q, axis=0, keepdims=True), rtol=1e-9)
    close(dj.quantile(t64(x, False), 0.4), np.quantile(x, 0.4), rtol=1e-9)
    assert gradcheck(lambda x: dj.quantile(x, 0.3, dim=1), (t64(x),))
    with pytest.raises(RuntimeError, match="range"):
        dj.quantile(t64(x, False), 1.5)
    with pytest.raises(RuntimeError, match="float"):
        dj.quantile(dj.tensor([1, 2]), 0.5)
    with pytest.raises(RuntimeError, match="same dtype"):
        dj.quantile(t64(x, False), dj.tensor([0.5]))  # float32 q, float64 input
    y = np.array([[1.0, np.nan, 3.0, 4.0], [np.nan, np.nan, np.nan, np.nan]])
    assert dj.nanmedian(dj.tensor(y[0])).item() == 3.0  # the lower median of 1, 3, 4
    values, indices = dj.nanmedian(dj.tensor(y), dim=1)
    assert values[0].item() == 3.0 and indices[0].item() == 2 and np.isnan(values[1].item())
    assert dj.nanmedian(dj.tensor([1.0, 2.0, 3.0, 4.0])).item() == 2.0  # lower, as median
    g = t64(y[0])
    dj.nanmedian(g).backward()
    assert g.grad.tolist() == [0.0, 0.0, 1.0, 0.0]


def test_histc_bincount():
    x = rng.uniform(-1, 4, 50)
    close(dj.histc(t64(x, False), bins=5, min=0, max=3),
          np.histogram(x[(x >= 0) & (x <= 3)], bins=5, range=(0, 3))[0])
    close(dj.histc(dj.tensor([1.0, 2.0, 1.0]), bins=4, min=0, max=3), [0.0, 2.0, 1.0, 0.0])
    close(dj.histc(dj.tensor([1.0, 1.0]), bins=2), [0.0, 2.0])  # min == max: widened by 1
    assert dj.histc(dj.tensor([1.0], dtype=dj.float64)).dtype == dj.float64
    i = np.array([0, 1, 1, 3])
    assert dj.bincount(dj.tensor(i)).tolist() == np.bincount(i).tolist()
    assert dj.bincount(dj.tensor(i), minlength=6).tolist() == np.bincount(i, minlength=6).tolist()
    assert dj.bincount(dj.tensor(i)).dtype == dj.int64
    assert dj.bincount(dj.tensor(np.zeros(0, np.int64))).shape == (0,)
    w = t64([1.0, 2.0, 3.0, 4.0])
    counted = dj.bincount(dj.tensor(i), w)
    close(counted, np.bincount(i, [1.0, 2.0, 3.0, 4.0]))
    assert gradcheck(lambda w: dj.bincount(dj.tensor(i), w), (w,))  # linear: exact
    with pytest.raises(RuntimeError, match="non-negative integral"):
        dj.bincount(dj.tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="non-negative"):
        dj.bincount(dj.tensor([-1, 2]))


def test_dist_trapezoid_logcumsumexp_msort():
    x, y = rng.standard_normal(4), rng.standard_normal(4)
    for p in (1, 2, 3.5, np.inf):
        close(dj.dist(t64(x, False), t64(y, False), p), np.linalg.norm(x - y, p), rtol=1e-9)
    assert gradcheck(lambda a, b: dj.dist(a, b, 3), (t64(x), t64(y)))
    s = rng.standard_normal((3, 4))
    close(dj.trapezoid(t64(s, False)), np.trapezoid(s), rtol=1e-9)
    close(dj.trapezoid(t64(s, False), dx=2.0, dim=0), np.trapezoid(s, dx=2.0, axis=0))
    pts = np.cumsum(rng.uniform(0.1, 1, 4))
    close(dj.trapezoid(t64(s, False), t64(pts, False)), np.trapezoid(s, pts), rtol=1e-9)
    assert gradcheck(lambda s, p: dj.trapezoid(s, p), (t64(s), t64(pts)))
    z = np.array([-1000.0, 0.0, 1.0, 1000.0])
    close(dj.logcumsumexp(t64(z, False), 0), np.logaddexp.accumulate(z))
    close(dj.logcumsumexp(t64(s, False), 1), np.logaddexp.accumulate(s, axis=1), rtol=1e-9)
    assert gradcheck(lambda s: dj.logcumsumexp(s, 0), (t64(s),))
    assert t64(s).logcumsumexp(-1).grad_fn is not None
    from dualjit.eager.more_functions import _logcumsumexp  # the IR's scan, not NumPy's

    np.testing.assert_allclose(np.asarray(_logcumsumexp(z, axis=0)), np.logaddexp.accumulate(z))
    close(dj.msort(t64(s, False)), np.sort(s, axis=0))
    close(t64(s, False).msort(), np.sort(s, axis=0))


# -- sets and search ----------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.integers(-3, 3), max_size=12))
def test_unique_matches_numpy(values):
    a = np.array(values, np.int64)
    u, inverse, counts = dj.unique(dj.tensor(a), return_inverse=True, return_counts=True)
    eu, einv, ecounts = np.unique(a, return_inverse=True, return_counts=True)
    assert u.tolist() == eu.tolist() and inverse.tolist() == einv.reshape(-1).tolist()
    assert counts.tolist() == ecounts.tolist()
    runs = dj.unique_consecutive(dj.tensor(a), return_inverse=True, return_counts=True)
    starts = [i for i in range(len(a)) if i == 0 or a[i] != a[i - 1]]
    assert runs[0].tolist() == [int(a[i]) for i in starts]
    assert runs[2].tolist() == np.diff(starts + [len(a)]).tolist()
    assert (runs[0][runs[1]] if len(a) else runs[0]).tolist() == a.tolist()


def test_unique_forms():
    x = dj.tensor([[1, 2], [1, 2], [0, 1]])
    assert dj.unique(x, dim=0).tolist() == [[0, 1], [1, 2]]
    assert dj.unique(x).tolist() == [0, 1, 2]
    u, inv = dj.unique(x, return_inverse=True)
    assert inv.shape == (3, 2) and (u[inv] == x).all().item()
    f = t64([2.0, 1.0, 2.0])
    values = f.unique()
    assert values.tolist() == [1.0, 2.0] and not values.requires_grad
    assert dj.unique(dj.ones(0)).shape == (0,)
    assert dj.unique_consecutive(dj.tensor([[1, 1], [1, 1], [2, 2]]), dim=0).tolist() == \
        [[1, 1], [2, 2]]


@settings(max_examples=25, deadline=None)
@given(boundaries=st.lists(st.integers(-5, 5), min_size=1, max_size=8),
       values=st.lists(st.integers(-6, 6), max_size=8), right=st.booleans())
def test_searchsorted_bucketize_match_numpy(boundaries, values, right):
    b, v = np.sort(np.array(boundaries)), np.array(values, np.int64)
    side = "right" if right else "left"
    expected = np.searchsorted(b, v, side=side)
    assert dj.searchsorted(dj.tensor(b), dj.tensor(v), right=right).tolist() == expected.tolist()
    assert dj.searchsorted(dj.tensor(b), dj.tensor(v), side=side).tolist() == expected.tolist()
    assert dj.bucketize(dj.tensor(v), dj.tensor(b), right=right).tolist() == expected.tolist()


def test_searchsorted_forms():
    seq = dj.tensor([[1, 3, 5], [2, 4, 6]])
    assert dj.searchsorted(seq, dj.tensor([[3], [3]])).tolist() == [[1], [1]]
    assert dj.searchsorted(dj.tensor([1, 3]), dj.tensor(2), out_int32=True).dtype == dj.int32
    found = dj.searchsorted(t64([0.0, 1.0]), t64([0.5]))
    assert found.dtype == dj.int64 and not found.requires_grad
    with pytest.raises(RuntimeError, match="opposites"):
        dj.searchsorted(dj.tensor([1]), dj.tensor([1]), right=True, side="left")
    assert dj.argwhere(dj.tensor([[0, 1], [1, 0]])).tolist() == [[0, 1], [1, 0]]
    assert not dj.argwhere(t64([0.0, 2.0])).requires_grad


# -- shapes and indexing ------------------------------------------------------------------------

def test_splits_rotations_diagonals():
    x = dj.arange(12).reshape(4, 3)
    assert [p.tolist() for p in dj.vsplit(x, 2)] == [a.tolist() for a in np.vsplit(
        np.arange(12).reshape(4, 3), 2)]
    with pytest.raises(RuntimeError, match="divisible"):
        dj.vsplit(x, 3)
    y = np.arange(24).reshape(2, 3, 4)
    assert [p.tolist() for p in dj.dsplit(dj.tensor(y), [1, 3])] == \
        [a.tolist() for a in np.dsplit(y, [1, 3])]
    assert [p.tolist() for p in dj.hsplit(dj.tensor(y), 3)] == \
        [a.tolist() for a in np.hsplit(y, 3)]
    with pytest.raises(RuntimeError, match="at least 3"):
        dj.dsplit(x, 1)
    for k in range(-2, 6):
        assert dj.rot90(dj.tensor(y), k, (1, 2)).tolist() == np.rot90(y, k, (1, 2)).tolist()
    m = rng.standard_normal((2, 3))
    for offset in (-2, 0, 1):
        expected = np.stack([np.diag(r, offset) for r in m])
        close(dj.diag_embed(t64(m, False), offset), expected)
    close(dj.diag_embed(t64(m, False), 0, 0, 2), np.moveaxis(np.stack([np.diag(r) for r in m]),
                                                             (1, 2), (0, 2)))
    assert gradcheck(lambda m: dj.diag_embed(m, 1), (t64(m),))
    close(dj.diagflat(t64(m, False), -1), np.diagflat(m, -1))
    for row, col, offset in ((3, 3, 0), (3, 4, 1), (4, 2, -1), (0, 3, 0)):
        assert dj.tril_indices(row, col, offset).tolist() == \
            [list(a) for a in np.tril_indices(row, offset, col)]
        assert dj.triu_indices(row, col, offset).tolist() == \
            [list(a) for a in np.triu_indices(row, offset, col)]
    assert dj.vander(dj.tensor([1, 2, 3])).tolist() == np.vander([1, 2, 3]).tolist()
    assert dj.vander(dj.tensor([1.0, 2.0]), N=3, increasing=True).tolist() == \
        np.vander([1.0, 2.0], 3, increasing=True).tolist()


def test_take_along_dim_and_scatter_reduce():
    x = rng.standard_normal((3, 4))
    i = np.argsort(x, axis=1)
    close(dj.take_along_dim(t64(x, False), dj.tensor(i), 1), np.take_along_axis(x, i, 1))
    close(t64(x, False).take_along_dim(dj.tensor(i), dim=1), np.take_along_axis(x, i, 1))
    flat = np.array([3, 0])
    close(dj.take_along_dim(t64(x, False), dj.tensor(flat)), x.reshape(-1)[flat])
    row = np.array([[0, 2]])  # broadcast over the first dimension
    close(dj.take_along_dim(t64(x, False), dj.tensor(row), 1), x[:, [0, 2]])
    assert gradcheck(lambda t: dj.take_along_dim(t, dj.tensor(row), 1), (t64(x),))
    with pytest.raises(RuntimeError, match="int64"):
        dj.take_along_dim(t64(x, False), dj.tensor([0.0]))
    index = np.array([0, 0, 2, 1, 0])
    src = rng.standard_normal(5)
    base = rng.standard_normal(3)
    for reduce in ("sum", "prod", "mean", "amax", "amin"):
        for include_self in (True, False):
            expected = base.copy()
            for j in range(3):
                chosen = list(src[index == j]) + ([base[j]] if include_self else [])
                if (index == j).any():
                    expected[j] = {"sum": np.sum, "prod": np.prod, "mean": np.mean,
                                   "amax": np.max, "amin": np.min}[reduce](chosen)
            got = dj.scatter_reduce(t64(base, False), 0, dj.tensor(index), t64(src, False),
                                    reduce, include_self=include_self)
            close(got, expected)
            if reduce in ("sum", "prod", "mean"):
                assert gradcheck(lambda b, s: dj.scatter_reduce(
                    b, 0, dj.tensor(index), s, reduce, include_self=include_self),
                    (t64(base), t64(src)))
    with pytest.raises(RuntimeError, match="reduce"):
        dj.scatter_reduce(t64(base), 0, dj.tensor(index), t64(src), "max")


# -- Tensor methods -------------------------------------------------------------------------------

def test_shape_changing_in_place_methods():
    x = dj.tensor(np.arange(6.0).reshape(2, 3))
    x.t_()
    assert x.tolist() == np.arange(6.0).reshape(2, 3).T.tolist()
    x.transpose_(0, 1)
    x.unsqueeze_(0)
    assert x.shape == (1, 2, 3)
    x.squeeze_(0)
    assert x.shape == (2, 3)
    x.squeeze_()
    w = t64(rng.standard_normal((2, 1)))
    h = w * 2  # a non-leaf: its history moves with it
    h.squeeze_(1)
    h.unsqueeze_(0)  # (twice in a row: no view was left behind)
    h.squeeze_(0)
    assert h.shape == (2,)
    h.sum().backward()
    assert w.grad.tolist() == [[2.0], [2.0]]
    with pytest.raises(RuntimeError, match="leaf"):
        t64([[1.0]]).squeeze_()
    base = dj.ones(2, 3)
    view = base[0]
    with pytest.raises(RuntimeError, match="view"):
        base.unsqueeze_(0)
    with pytest.raises(RuntimeError, match="view"):
        view.unsqueeze_(0)


def test_value_changing_in_place_methods():
    a = rng.standard_normal((3, 3))
    t = t64(a, False)
    t.tril_(-1)
    close(t, np.tril(a, -1))
    t = t64(a, False)
    t.triu_(1)
    close(t, np.triu(a, 1))
    m1, m2 = rng.standard_normal((3, 2)), rng.standard_normal((2, 3))
    t = t64(a, False)
    t.addmm_(t64(m1, False), t64(m2, False), beta=0.5, alpha=2)
    close(t, 0.5 * a + 2 * m1 @ m2)
    leaf = t64(m1)
    t = t64(a, False) * 1
    t.addmm_(leaf, t64(m2, False))
    t.sum().backward()
    close(leaf.grad, np.ones((3, 3)) @ m2.T)
    f = dj.zeros(5, 2)
    f.fill_diagonal_(1, wrap=True)
    expected = np.zeros((5, 2))
    np.fill_diagonal(expected, 1, wrap=True)
    assert f.tolist() == expected.tolist()
    acc = dj.zeros(3)
    acc.index_put_((dj.tensor([0, 0, 2]),), dj.tensor([1.0, 2.0, 3.0]), accumulate=True)
    assert acc.tolist() == [3.0, 0.0, 3.0]
    put = dj.zeros(2, 2)
    put.index_put_((dj.tensor([0, 1]), dj.tensor([1, 0])), dj.tensor(5.0))
    assert put.tolist() == [[0.0, 5.0], [5.0, 0.0]]
    s = dj.zeros(2, 3)
    s.masked_scatter_(dj.tensor([[True, False, True], [False, True, False]]), dj.arange(10.0))
    assert s.tolist() == [[0.0, 0.0, 1.0], [0.0, 2.0, 0.0]]
    src = t64(np.arange(4.0))
    out = dj.zeros(2, 2, dtype=dj.float64) * 1
    out.masked_scatter_(dj.tensor([[True, False], [True, True]]), src)
    out.sum().backward()
    assert src.grad.tolist() == [1.0, 1.0, 1.0, 0.0]


def test_unfold_and_cross_methods():
    x = np.arange(10.0).reshape(2, 5)
    u = t64(x, False).unfold(1, 2, 2)
    assert u.shape == (2, 2, 2) and u.tolist() == [[[0, 1], [2, 3]], [[5, 6], [7, 8]]]
    assert gradcheck(lambda t: t.unfold(1, 3, 1), (t64(x),))
    assert t64(x, False).unfold(0, 1, 1).shape == (2, 5, 1)
    a, b = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    close(t64(a, False).cross(t64(b, False)), np.cross(a, b, axis=0))  # first dim of size 3
    close(t64(a, False).cross(t64(b, False), dim=0), np.cross(a, b, axis=0))


def test_properties():
    z = rng.standard_normal((2, 3, 4)) + 1j * rng.standard_normal((2, 3, 4))
    close(dj.tensor(z).mH, np.conj(np.swapaxes(z, -1, -2)))
    close(dj.tensor(z[0]).H, z[0].conj().T)
    close(dj.tensor(z[0, 0]).H, z[0, 0].conj())
    with pytest.raises(RuntimeError, match="mH"):
        _ = dj.tensor(z).H
    x = dj.arange(12.0).reshape(3, 4)
    assert x.itemsize == 4 and x.nbytes == 48 and dj.ones(3, dtype=dj.int16).nbytes == 6
    assert x.storage_offset() == 0 and x[1:].storage_offset() == 4
    assert x[:, 2].storage_offset() == 2 and x[2, 1:].storage_offset() == 9
    g = t64(rng.standard_normal((2, 3)))
    assert gradcheck(lambda t: t.mH, (g,))
