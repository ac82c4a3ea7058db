"""Wrong answers the differential fuzzer's programs over the newer API found
(`python -m tests.fuzz.torch_run --api`), each checked here against NumPy/SciPy or values
computed by hand from PyTorch's documented behaviour (no PyTorch needed)."""

import numpy as np
import pytest

import dualjit as dj


def _complex_grad(op, x, w, **kw):
    """The .grad of a complex leaf x for the real loss sum(Re(op(x)) Re(w) + Im(op(x)) Im(w))."""
    t = dj.tensor(x, requires_grad=True)
    y = op(t, **kw)
    weights = dj.tensor(np.stack([w.real, w.imag], -1))
    (dj.view_as_real(y) * weights).sum().backward()
    return t.grad.numpy()


@pytest.mark.parametrize("first, second", [("fft", "ifft"), ("ifft", "fft"),
                                           ("fftn", "ifftn"), ("fft2", "ifft2")])
def test_transforms_sharing_a_node_name_keep_their_own_gradients(first, second):
    """fft and ifft (both FftC2CBackward, as PyTorch names them) with the same shape, dtype
    and norm shared one cached recorded operation: the second one's gradient was the
    first one's (torch fuzz --api seed 167 after 127)."""
    rng = np.random.default_rng(0)
    shape = (3,) if first in ("fft", "ifft") else (2, 3)
    x = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    w = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    for name in (first, second):
        grad = _complex_grad(getattr(dj.fft, name), x, w, norm="forward")
        # y = F x (F linear): PyTorch's gradient of a real loss is F^H applied to w
        flat = int(np.prod(shape))
        basis = np.eye(flat).reshape((flat,) + shape)
        f = np.stack([getattr(np.fft, name)(b, norm="forward").reshape(-1) for b in basis], 1)
        expected = (f.conj().T @ w.reshape(-1)).reshape(shape)
        np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-12)


def test_complex_true_division_stays_complex():
    """complex64 / complex64 of different shapes went through the integer path of true
    division and gave float32, the imaginary parts dropped (seed 171)."""
    a = np.array([[1 + 1j, 2 - 1j]], np.complex64)
    b = np.array([1 + 2j, 3j], np.complex64)
    out = dj.tensor(b) / dj.tensor(a)
    assert out.dtype == dj.complex64
    np.testing.assert_allclose(out.numpy(), b / a, rtol=1e-6)
    assert (dj.tensor(np.array([1, 2])) / (2 + 0j)).dtype == dj.complex64


def test_python_complex_numbers_are_weak_operands():
    """A Python complex number beside a tensor raised TypeError; PyTorch's rule: it keeps a
    float tensor's precision, and gives the default complex dtype beside integers."""
    x32, x64 = dj.tensor(np.array([1.0, 2.0], np.float32)), dj.tensor(np.array([1.0, 2.0]))
    assert (x32 * 1j).dtype == dj.complex64
    assert (x64 * (1 + 1j)).dtype == dj.complex128
    assert (dj.tensor(np.array([1, 2], np.int8)) * 1j).dtype == dj.complex64
    np.testing.assert_allclose((1j - x32).numpy(), 1j - np.array([1.0, 2.0]))


def test_a_complex_zero_dim_tensor_keeps_a_float_tensors_precision():
    """float32 tensor * complex128 0-d tensor is complex64 in PyTorch (the 0-d operand
    decides the category, the dimensioned one the precision); it was complex128 (seed 315)."""
    z128 = dj.tensor(np.array(1 + 1j))
    assert (z128 * dj.tensor(np.ones(2, np.float32))).dtype == dj.complex64
    assert (z128 * dj.tensor(np.ones(2, np.int64))).dtype == dj.complex128
    z64 = dj.tensor(np.array(1 + 1j, np.complex64))
    assert (z64 * dj.tensor(np.ones(2))).dtype == dj.complex128


def test_full_with_a_complex_fill():
    """full((), 1j) was float32 (the imaginary part dropped); a complex fill of a real dtype
    raises, as PyTorch (NumPy would drop the imaginary part silently)."""
    t = dj.full((2,), 1j)
    assert t.dtype == dj.complex64
    np.testing.assert_array_equal(t.numpy(), [1j, 1j])
    with pytest.raises(RuntimeError, match="uint8"):
        dj.full((2,), 1j, dtype=dj.uint8)
    with pytest.raises(RuntimeError, match="complex"):
        dj.ones(2).new_full((2,), 2j)


def test_new_tensor_honours_its_dtype_argument():
    """x.new_tensor(data, dtype=...) gave x's dtype (seeds 109, 155, 208)."""
    x = dj.tensor(np.ones(2, np.int8))
    assert x.new_tensor([1.5], dtype=dj.float64).dtype == dj.float64
    assert x.new_tensor(2.5, dtype=dj.complex128).numpy() == 2.5
    assert x.new_tensor([3]).dtype == dj.int8


def test_complex_mean_norm_and_cumsum():
    """mean of a complex tensor raised, norm gave a complex dtype, cumsum raised an IR error
    (seeds 56, 64, 91)."""
    z = np.array([[1 + 2j, -1j], [3 + 0j, 0.5 - 0.5j]], np.complex64)
    t = dj.tensor(z, requires_grad=True)
    np.testing.assert_allclose(t.mean().detach().numpy(), z.mean(), rtol=1e-6)
    np.testing.assert_allclose(t.mean(0).detach().numpy(), z.mean(0), rtol=1e-6)
    n = dj.norm(t)
    assert n.dtype == dj.float32
    np.testing.assert_allclose(n.detach().numpy(), np.linalg.norm(z), rtol=1e-6)
    c = t.cumsum(1)
    assert c.dtype == dj.complex64
    np.testing.assert_allclose(c.detach().numpy(), np.cumsum(z, 1), rtol=1e-6)
    w = np.array([[1 - 1j, 2j], [0.5, -1 + 1j]])
    (dj.view_as_real(c) * dj.tensor(np.stack([w.real, w.imag], -1))).sum().backward()
    # d/dz of sum_j Re(conj(w_j) c_j), c_j = sum_{k<=j} z_k: PyTorch's grad is a reversed
    # cumulative sum of w
    np.testing.assert_allclose(t.grad.numpy(), np.cumsum(w[:, ::-1], 1)[:, ::-1], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.bool_])
def test_integer_sums_and_products_accumulate_in_int64(dtype):
    """sum/prod/cumsum/cumprod of uint8 gave uint64, cumprod of int8 stayed int8 (PyTorch:
    int64 for every integer and bool dtype); sum(dtype=int8) gave int64 (seeds 102, 108)."""
    a = np.array([[100, 3], [7, 1]]).astype(dtype)
    t = dj.tensor(a)
    wide = a.astype(np.int64)
    for got, want in ((t.sum(), wide.sum()), (t.prod(), wide.prod()),
                      (t.cumsum(0), np.cumsum(wide, 0)), (t.cumprod(1), np.cumprod(wide, 1)),
                      (t.sum(1), wide.sum(1))):
        assert got.dtype == dj.int64
        np.testing.assert_array_equal(got.numpy(), want)
    if dtype is not np.bool_:
        small = dj.sum(dj.tensor(np.array([200, 100], np.uint8)), dtype=dj.int8)
        assert small.dtype == dj.int8 and small.item() == np.int8(np.int64(300).astype(np.int8))


def test_finfo_fields_are_python_numbers():
    """finfo's eps was a NumPy float32 scalar, so `1.0 + finfo.eps / 2` computed in float32
    (= 1.0); PyTorch's fields are Python floats (seeds 43, 145)."""
    info = dj.finfo(dj.float32)
    assert type(info.eps) is float and type(info.bits) is int
    assert info.eps == float(np.finfo(np.float32).eps)
    assert info.max == float(np.finfo(np.float32).max)
    assert info.tiny == info.smallest_normal == float(np.finfo(np.float32).tiny)
    assert 1.0 + info.eps / 2 != 1.0
    assert dj.finfo(dj.complex128).eps == float(np.finfo(np.float64).eps)


@pytest.mark.parametrize("method", ["reciprocal_", "rsqrt_", "sqrt_", "sinh_", "erfinv_"])
def test_float_valued_in_place_functions_refuse_integer_tensors(method):
    """int32.reciprocal_() wrote NumPy's integer reciprocal (1 // x: 0 for 2) in place;
    PyTorch refuses a float result in an integer tensor (seeds 9, 219)."""
    t = dj.tensor(np.array([1, 2], np.int32))
    with pytest.raises(RuntimeError, match="can't be cast"):
        getattr(t, method)()
    np.testing.assert_array_equal(t.numpy(), [1, 2])


def test_shifts():
    """<<, >> and bitwise_left_shift/right_shift were missing. In range they are C's shifts
    (wrapping in the dtype); PyTorch defines a shift by the width or more (or a negative
    count) as 0 to the left and the sign to the right."""
    a = np.array([100, -128, 127, -1], np.int8)
    t = dj.tensor(a)
    np.testing.assert_array_equal((t << 1).numpy(), (a.astype(np.int64) * 2).astype(np.int8))
    np.testing.assert_array_equal((t >> 1).numpy(), a // 2)
    np.testing.assert_array_equal((t << 9).numpy(), [0, 0, 0, 0])
    np.testing.assert_array_equal((t >> 9).numpy(), [0, -1, 0, -1])
    counts = dj.tensor(np.array([1, 2, 3, -1], np.int8))
    np.testing.assert_array_equal(dj.bitwise_right_shift(t, counts).numpy(), [50, -32, 15, -1])
    np.testing.assert_array_equal((3 << dj.tensor([1, 2])).numpy(), [6, 12])
    assert (t << 1).dtype == dj.int8
    with pytest.raises(NotImplementedError):
        dj.tensor([1.5]) << 1


def test_in_place_bitwise_operators_write_through_views():
    """`v &= 1`, `v <<= 2`, ... on a view rebound v to a new tensor (Tensor had no __iand__,
    __ilshift__, ...): the base did not change, unlike PyTorch."""
    base = dj.tensor(np.array([100, 7, 5, 6], np.int16))
    view = base[1:]
    view &= 3
    view <<= 2
    view |= 1
    view ^= 4
    view >>= 1
    expected = np.array([100, 7, 5, 6], np.int16)
    part = expected[1:]
    part &= 3
    part <<= 2
    part |= 1
    part ^= 4
    part >>= 1
    np.testing.assert_array_equal(base.numpy(), expected)


def test_in_place_forms_of_more_functions():
    """asin_, sinh_, xlogy_, hypot_, bitwise_and_, remainder_, ... were missing (seeds 13,
    16, 20, ...): each is the function written back, with its gradient."""
    x = dj.tensor([0.5, -0.25], requires_grad=True)
    y = x * 1
    y.asin_()
    y.sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), np.arcsin([0.5, -0.25]), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), 1 / np.sqrt(1 - np.array([0.5, -0.25]) ** 2),
                               rtol=1e-6)
    z = dj.tensor([3.0, 4.0])
    z.hypot_(dj.tensor([4.0, 3.0]))
    np.testing.assert_allclose(z.numpy(), [5.0, 5.0])
    i = dj.tensor(np.array([7, -7], np.int32))
    i.remainder_(3)
    np.testing.assert_array_equal(i.numpy(), np.remainder([7, -7], 3))
    i.bitwise_and_(2)
    np.testing.assert_array_equal(i.numpy(), np.remainder([7, -7], 3) & 2)
    with pytest.raises(RuntimeError, match="can't be cast"):
        dj.tensor([1, 2]).xlogy_(dj.tensor([3.0, 4.0]))


def test_cov_of_one_variable_and_weight_dtypes():
    """cov of a one-row matrix was 1x1 (PyTorch and NumPy: 0-d); float64 aweights of a
    float32 input gave float32 (PyTorch widens); cov of bools was computed (PyTorch
    refuses) (seeds 53, 123, 138, 175)."""
    x = np.array([[1.0, 2.0, 4.0]], np.float32)
    out = dj.cov(dj.tensor(x))
    assert out.shape == ()
    np.testing.assert_allclose(out.numpy(), np.cov(x), rtol=1e-6)
    assert dj.corrcoef(dj.tensor(x)).shape == ()
    data = np.array([[2.0, -3.0, 1.0], [1.0, 2.0, 0.5]], np.float32)
    aw = np.array([0.5, 1.0, 2.0])
    out = dj.cov(dj.tensor(data), aweights=dj.tensor(aw))
    assert out.dtype == dj.float64
    np.testing.assert_allclose(out.numpy(), np.cov(data.astype(np.float64), aweights=aw),
                               rtol=1e-6)
    with pytest.raises(RuntimeError, match="bool"):
        dj.cov(dj.tensor([[True, False]]))


def test_bincount_of_integer_weights_is_float64():
    """Integer weights gave the default float dtype; PyTorch sums them as float64 (seeds 81,
    120, 231)."""
    x, w = np.array([1, 4, 1, 0, 2]), np.array([-2, -3, 1, -1, 1])
    out = dj.bincount(dj.tensor(x), weights=dj.tensor(w))
    assert out.dtype == dj.float64
    np.testing.assert_array_equal(out.numpy(), np.bincount(x, weights=w))
    w32 = np.array([0.5, 1, 2, 3, 4], np.float32)
    assert dj.bincount(dj.tensor(x), weights=dj.tensor(w32)).dtype == dj.float32


def test_diff_prepend_append():
    """diff had no prepend/append (seed 39)."""
    a = np.array([[1, 2, 4], [0, 5, 3]])
    out = dj.diff(dj.tensor(a), n=2, dim=1, prepend=dj.tensor([[0], [1]]),
                  append=dj.tensor([[10], [11]]))
    np.testing.assert_array_equal(out.numpy(),
                                  np.diff(a, n=2, axis=1, prepend=[[0], [1]], append=[[10], [11]]))


def test_combinations_block_diag_masked_scatter_edges():
    """combinations(r=0) and block_diag with a (0, 2) block raised a NumPy reshape error;
    masked_scatter_ of a 0-d tensor raised IndexError (seeds 135, 179, 202)."""
    assert dj.combinations(dj.tensor([3, 4]), 0).shape == (0,)
    out = dj.block_diag(dj.tensor([]), dj.zeros(0, 2), dj.ones(2, 0), dj.tensor(3.0))
    expected = np.zeros((4, 3))
    expected[3, 2] = 3.0  # (rows: 1 + 0 + 2 + 1; columns: 0 + 2 + 0 + 1)
    np.testing.assert_array_equal(out.numpy(), expected)
    t = dj.tensor(1.0)
    t.masked_scatter_(dj.tensor(True), dj.tensor([5.0, 6.0]))
    assert t.item() == 5.0
    t.masked_scatter_(dj.tensor(False), dj.tensor([7.0]))
    assert t.item() == 5.0


def test_quantile_of_an_empty_tensor_raises():
    """It gave NaN (NumPy's answer); PyTorch refuses (seed 4)."""
    with pytest.raises(RuntimeError, match="non-empty"):
        dj.quantile(dj.zeros(0, 3), 0.5, dim=1)


def test_entr_derivative_is_pytorchs_at_and_below_zero():
    """entr's derivative -(1 + log x) is +inf at 0 and NaN below (PyTorch); it was 0 there
    (JAX's rule) (seeds 77, 162)."""
    x = dj.tensor([-1.0, 0.0, 0.5, 2.0], requires_grad=True)
    dj.special.entr(x).sum().backward()
    g = x.grad.numpy()
    assert np.isnan(g[0]) and g[1] == np.inf
    np.testing.assert_allclose(g[2:], -(1 + np.log([0.5, 2.0])), rtol=1e-6)


def test_complex_sigmoid():
    """sigmoid of a complex tensor dropped the imaginary part or raised an IR error (seeds
    414, 427): it is 1 / (1 + exp(-z)), with its gradient (PyTorch's convention: the
    conjugate of the derivative times the cotangent)."""
    z = np.array([0.3 + 0.8j, -1 + 2j])
    t = dj.tensor(z, requires_grad=True)
    y = dj.sigmoid(t)
    np.testing.assert_allclose(y.detach().numpy(), 1 / (1 + np.exp(-z)), rtol=1e-12)
    dj.view_as_real(y).sum().backward()
    s = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(t.grad.numpy(), np.conj(s * (1 - s)) * (1 + 1j), rtol=1e-12)
    u = dj.tensor(z)
    u.sigmoid_()
    np.testing.assert_allclose(u.numpy(), s, rtol=1e-12)


def test_integer_division_rounding_toward_zero_is_exact():
    """div(rounding_mode='trunc') of integers went through floats (int64 beyond 2**53 lost
    digits: seed 495) and kept the first operand's dtype (int16 / int64 gave int16: seed
    843); an integer tensor by a float gave an integer tensor."""
    big = 6353056563071657555
    out = dj.div(dj.tensor([big, -big]), dj.tensor(np.array([29, 29], np.int8)),
                 rounding_mode="trunc")
    assert out.dtype == dj.int64
    assert out.tolist() == [big // 29, -(big // 29)]
    a = np.array([5, -7, 7, -5], np.int16)
    b = np.array([2, 2, -2, -2])
    out = dj.div(dj.tensor(a), dj.tensor(b), rounding_mode="trunc")
    assert out.dtype == dj.int64
    np.testing.assert_array_equal(out.numpy(), np.trunc(a / b).astype(np.int64))
    out = dj.div(dj.tensor([5, -5]), 2.5, rounding_mode="trunc")
    assert out.dtype == dj.float32
    np.testing.assert_array_equal(out.numpy(), [2.0, -2.0])


def test_bitwise_operators_promote_as_pytorch():
    """uint8 tensor & int64 0-d tensor was int64 (NumPy's promotion); PyTorch: the
    dimensioned tensor decides within a category (seed 666)."""
    out = dj.tensor(np.array([2, 6, 4], np.uint8)) & dj.tensor(6)
    assert out.dtype == dj.uint8
    np.testing.assert_array_equal(out.numpy(), [2, 6, 4])
    out = dj.tensor(np.array([2, 2], np.uint8)) | dj.tensor(np.array([1, -1], np.int8))
    assert out.dtype == dj.int16
    np.testing.assert_array_equal(out.numpy(), [3, -1])


def test_addmm_and_baddbmm_with_beta_zero():
    """beta=0 ignores input, NaN included (addmm gave NaN), and input stays in the graph
    with a zero gradient (baddbmm's result did not require grad: seed 505)."""
    for fn, a, b in ((dj.addmm, dj.ones(1, 2), dj.ones(2, 2)),
                     (dj.baddbmm, dj.ones(1, 1, 2), dj.ones(1, 2, 2))):
        x = dj.tensor([[float("nan"), 1.0]], requires_grad=True)
        y = fn(x, a, b, beta=0)
        assert y.requires_grad
        np.testing.assert_array_equal(y.detach().numpy().reshape(-1), [2.0, 2.0])
        y.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 0.0]])


@pytest.mark.parametrize("name", ["floor", "ceil", "trunc", "round", "frac"])
def test_rounding_functions_refuse_complex_tensors(name):
    """floor/ceil/trunc of a complex tensor returned it unchanged and frac gave 0 (seed
    350); PyTorch refuses them."""
    z = dj.tensor(np.array([1.5 + 2.7j]))
    with pytest.raises(NotImplementedError):
        getattr(z, name)()
    if name != "frac":
        with pytest.raises(NotImplementedError):
            getattr(z, name + "_")()


@pytest.mark.parametrize("method", ["clamp", "clamp_", "clamp_min", "clamp_max_"])
def test_clamp_refuses_complex_tensors(method):
    """clamp of complex gave NumPy's lexicographic clamp (1+1j clamped to max=0 was 0j:
    seed 721); PyTorch refuses."""
    with pytest.raises(NotImplementedError):
        getattr(dj.tensor(np.array([1 + 1j])), method)(0)


def test_diff_of_bools_trapezoid_of_nothing_cov_of_zero_weights():
    """diff of bools raised (PyTorch: consecutive elements differ, xor: seed 41); trapezoid
    over no samples raised an IR error (PyTorch: 0: seed 135); cov whose weights sum to 0
    gave NaN (PyTorch refuses: seeds 158, 298)."""
    a = np.array([False, True, True, False])
    np.testing.assert_array_equal(dj.diff(dj.tensor(a), n=2).numpy(),
                                  (a[1:] != a[:-1])[1:] != (a[1:] != a[:-1])[:-1])
    out = dj.trapezoid(dj.zeros(2, 0), dj.zeros(0))
    np.testing.assert_array_equal(out.numpy(), [0.0, 0.0])
    with pytest.raises(RuntimeError, match="sum to zero"):
        dj.cov(dj.tensor([[1.0, 2.0]]), fweights=dj.tensor([0, 0]))


def test_power_derivative_with_a_complex_exponent():
    """backward() through x ** z with a complex exponent raised (complex numbers have no
    order: the zero-base test compared z >= 0; PyTorch compares its real part: seed 498)."""
    z0 = 1 + 1j
    z = dj.tensor(np.array(z0), requires_grad=True)
    y = dj.tensor(2.0) ** z
    dj.view_as_real(y).sum().backward()
    # d(2**z)/dz = 2**z log 2; PyTorch's gradient of Re + Im: conj(derivative) * (1 + 1j)
    np.testing.assert_allclose(z.grad.numpy(), np.conj(2 ** z0 * np.log(2)) * (1 + 1j),
                               rtol=1e-12)


def test_fills_of_an_expanded_tensor():
    """fill_, zero_, masked_fill_ and mask assignment of a scalar to an expanded tensor
    raised; PyTorch writes each shared storage location once (a location takes the value
    when the mask selects any element sharing it). Other in-place ops still raise."""
    base = dj.zeros(3, 1)
    base.expand(3, 4).fill_(2.0)
    np.testing.assert_array_equal(base.numpy(), [[2.0], [2.0], [2.0]])
    base.expand(3, 4).zero_()
    np.testing.assert_array_equal(base.numpy(), [[0.0], [0.0], [0.0]])
    mask = np.zeros((3, 4), bool)
    mask[1, 2] = True
    view = base.expand(3, 4)
    view.masked_fill_(dj.tensor(mask), 5.0)
    np.testing.assert_array_equal(base.numpy(), [[0.0], [5.0], [0.0]])
    np.testing.assert_array_equal(view.numpy(), np.repeat([[0.0], [5.0], [0.0]], 4, 1))
    view[dj.tensor(np.roll(mask, 1, 0))] = 1.0
    np.testing.assert_array_equal(base.numpy(), [[0.0], [5.0], [1.0]])
    x = dj.tensor([[1.0], [2.0], [3.0]], requires_grad=True)
    v = (x * 1).expand(3, 4)
    v.masked_fill_(dj.tensor(mask), 5.0)
    (v * dj.arange(12.0).reshape(3, 4)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0 + 1 + 2 + 3], [0.0], [8 + 9 + 10 + 11]])
    with pytest.raises(RuntimeError):
        dj.zeros(3, 1).expand(3, 4).add_(1)
    empty = dj.zeros(3, 1).expand(3, 4)
    empty[3:3] = dj.ones(0, 4)  # (nothing written: allowed, as PyTorch; torch fuzz seed 888)
    recorded = (dj.tensor([[1.0, 2.0]], requires_grad=True) * 1).expand(3, 2)
    recorded[3:3] = dj.ones(0, 2)
    with pytest.raises(RuntimeError):
        empty[0:1] = 1.0


def test_clamp_bound_outside_an_integer_dtype_raises():
    """A bound outside an integer tensor's range raised NumPy's OverflowError (PyTorch wraps
    it around: uint8 clamped to min=-3 becomes min=253, so 5 -> 100 with max=100); a clear
    error saying to widen the dtype instead (seeds 159, 938)."""
    u = dj.tensor(np.array([5, 200], np.uint8))
    with pytest.raises(RuntimeError, match="out of the range of uint8"):
        u.clamp(-3, 100)
    with pytest.raises(RuntimeError, match="out of the range of uint8"):
        u.clone().clamp_(max=-1)
    np.testing.assert_array_equal(u.clamp(0, 100).numpy(), np.clip([5, 200], 0, 100))


def test_trapezoid_with_spacing_over_no_samples_and_fft2_of_a_vector():
    """trapezoid(dx=) over a size-0 dimension raised an IR error (seed 967); fft2 of a 1-d
    tensor raises an error that is also PyTorch's IndexError (it was a ShapeError only)."""
    np.testing.assert_array_equal(dj.trapezoid(dj.zeros(2, 0), dx=2.0).numpy(), [0.0, 0.0])
    with pytest.raises(IndexError):
        dj.fft.fft2(dj.ones(3))


def test_float_power_in_place():
    """float_power_ was missing (seed 847): float64 ** exponent in place, refused (as
    PyTorch) for a float32 tensor, whose dtype cannot hold float_power's float64 result."""
    x = dj.tensor(np.array([2.0, 3.0]))
    x.float_power_(dj.tensor(np.array([2], np.int8)))
    np.testing.assert_array_equal(x.numpy(), [4.0, 9.0])
    with pytest.raises(RuntimeError, match="float_power_"):
        dj.tensor(np.array([2.0], np.float32)).float_power_(2)


@pytest.mark.parametrize("exponent", [0.5, -0.5, 2.5, -1, 0, 3])
def test_complex_tensor_to_a_python_number_power(exponent):
    """complex ** 0.5 was cast to the default float dtype (the imaginary part dropped: NaN
    for -4) and complex ** -1 raised 'Integers to negative integer powers' (seed 1095)."""
    z = np.array([1 + 1j, -4 + 0j, 0.5 - 2j])
    t = dj.tensor(z, requires_grad=True)
    y = t ** exponent
    assert y.dtype == dj.complex128
    np.testing.assert_allclose(y.detach().numpy(), z ** exponent, rtol=1e-12)
    dj.view_as_real(y).sum().backward()
    derivative = exponent * z ** (exponent - 1) if exponent else 0 * z
    np.testing.assert_allclose(t.grad.numpy(), np.conj(derivative) * (1 + 1j), rtol=1e-12,
                               atol=1e-15)


def test_xlogy_of_zero_and_a_negative_number_is_zero():
    """xlogy(0, y < 0) and xlog1py(0, y < -1) gave NaN (log of a negative number times 0);
    SciPy's and PyTorch's are 0 (seed 1463); dualjit.scipy.special had the same answer."""
    import dualjit.scipy.special as jss

    x = np.array([0.0, 0.0, 0.0, 0.0, 1.0])
    y = np.array([-1.0, np.nan, np.inf, 0.0, -1.0])
    expected = np.array([0.0, np.nan, 0.0, 0.0, np.nan])  # SciPy's xlogy on these
    np.testing.assert_array_equal(dj.special.xlogy(dj.tensor(x), dj.tensor(y)).numpy(),
                                  expected)
    np.testing.assert_array_equal(np.asarray(jss.xlogy(x, y)), expected)
    np.testing.assert_array_equal(
        dj.special.xlog1py(dj.tensor(x), dj.tensor(y - 1)).numpy(), expected)


def test_quantile_of_a_zero_dim_tensor_and_searchsorted_of_empty_rows():
    """quantile of a 0-d tensor with keepdim gave an extra dimension (seed 1359);
    searchsorted with a (2, 0) sorted_sequence raised a NumPy reshape error (seed 1036)."""
    x = dj.tensor(1.5)
    q = dj.tensor(np.array([0.2, 0.4], np.float32))
    assert dj.quantile(x, q, keepdim=True).shape == (2,)
    assert dj.quantile(x, 0.3, dim=0, keepdim=True).shape == ()
    out = dj.searchsorted(dj.zeros(2, 0), dj.tensor([[4.0], [0.5]]))
    np.testing.assert_array_equal(out.numpy(), [[0], [0]])


def test_vector_norm_below_one_has_a_zero_derivative_at_zero_entries():
    """The derivative of the p-norm (0 < p < 1) was NaN everywhere once an entry was 0
    (|x| ** p's slope is inf there, times sign 0); PyTorch's is 0 at zero entries (seed
    1293). Elsewhere: d/dx_i = |x_i| ** (p - 1) sign(x_i) * norm ** (1 - p)."""
    a = np.array([[0.0, 1.5, -2.0], [0.0, 0.0, 3.0]])
    x = dj.tensor(a, requires_grad=True)
    n = dj.linalg.vector_norm(x, 0.5)
    n.backward()
    norm = np.sum(np.abs(a) ** 0.5) ** 2
    np.testing.assert_allclose(n.item(), norm, rtol=1e-12)
    safe = np.where(a == 0, 1.0, np.abs(a))
    expected = np.where(a == 0, 0.0, safe ** -0.5 * np.sign(a) * norm ** 0.5)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)


def test_put_and_index_add_with_negative_indices():
    """put_(index=-1, accumulate=True) wrote the value at the last element but its
    recorded derivative read the source's cotangent at another place (seed 1790): put_'s
    negative positions count from the end (value and gradient); index_add_ refuses negative
    indices, as PyTorch."""
    x4 = dj.tensor([0.3], requires_grad=True)
    v = dj.tensor([[-0.2], [0.4]]) * 1
    v.put_(dj.tensor([-1]), x4, accumulate=True)
    (v * dj.tensor([[1.0], [2.0]])).sum().backward()
    np.testing.assert_allclose(v.detach().numpy(), [[-0.2], [0.7]], rtol=1e-6)
    assert x4.grad.item() == 2.0
    with pytest.raises(IndexError):
        dj.zeros(3).index_add_(0, dj.tensor([-1]), dj.ones(1))
    with pytest.raises(IndexError):
        dj.zeros(3).put_(dj.tensor([3]), dj.ones(1))
    assert dj.diff(dj.tensor([1, 4]), n=0, prepend=dj.tensor([0])).tolist() == [1, 4]


def test_kron_promotes_a_zero_dim_operand_in_full():
    """kron(int32 matrix, int64 0-d) was int32 (the 0-d rule of elementwise promotion);
    PyTorch reshapes both operands to one rank first, so the result is int64 (seed 1666)."""
    a = np.array([[-2, -2], [1, -2]], np.int32)
    out = dj.kron(dj.tensor(a), dj.tensor(2))
    assert out.dtype == dj.int64
    np.testing.assert_array_equal(out.numpy(), np.kron(a, 2))
    assert dj.kron(dj.ones(2), dj.tensor(2.0, dtype=dj.float64)).dtype == dj.float64


def test_zero_norm_is_recorded():
    """norm(x, 0) (the count of nonzero elements) did not require grad, so backward()
    through it raised; PyTorch records it with a zero gradient (seeds 857, 1883, 2014)."""
    a = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]])
    x = dj.tensor(a, requires_grad=True)
    y = dj.norm(x, 0, dim=1, keepdim=True)
    np.testing.assert_array_equal(y.detach().numpy(), np.count_nonzero(a, 1)[:, None])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 3)))


def test_index_put_accumulate_with_fewer_index_tensors_than_dimensions():
    """index_put_((rows,), values, accumulate=True) of a matrix raised NotImplementedError
    (14 of the 34 steps only dualjit refused); PyTorch adds whole rows, repeated rows
    adding up."""
    w = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    rows = np.array([3, 1, 3])
    expected = np.zeros((4, 2))
    np.add.at(expected, rows, w)
    wt = dj.tensor(w, requires_grad=True)
    y = dj.zeros(4, 2) * 1
    y.index_put_((dj.tensor(rows),), wt, accumulate=True)
    np.testing.assert_array_equal(y.detach().numpy(), expected)
    weights = np.arange(8.0).reshape(4, 2)
    (y * dj.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(wt.grad.numpy(), weights[rows])
    with pytest.raises(IndexError):
        dj.zeros(4, 2).index_put_((dj.tensor([4]),), dj.tensor(1.0), accumulate=True)
