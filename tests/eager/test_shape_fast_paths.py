"""Fast paths of matrix-building, shape and order-statistic functions (diag_embed, vander,
combinations, unbind, flatten, median, quantile): values against independent NumPy/itertools
references (bit for bit), the compositions where they remain (quantile), views that still share
storage, and gradients against central differences."""

import itertools

import numpy as np
import pytest

import dualjit as dj
from dualjit.autograd import gradcheck
from dualjit.eager import more_functions

from ..bits import same

rng = np.random.default_rng(11)


def edge_values(dtype, n=7):
    x = rng.standard_normal(n).astype(dtype)
    if np.dtype(dtype).kind == "f":
        x[:5] = [0.0, -0.0, np.nan, np.inf, -np.inf]
    return x


# -- diag_embed, diagflat ---------------------------------------------------------------------

def diag_embed_reference(x, offset, dim1, dim2):
    n, k = x.shape[-1], abs(offset)
    out = np.zeros(x.shape[:-1] + (n + k, n + k), x.dtype)
    for i in range(n):
        out[..., i + max(-offset, 0), i + max(offset, 0)] = x[..., i]
    nd = out.ndim
    return np.moveaxis(out, (-2, -1), (dim1 % nd, dim2 % nd))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_, np.complex64])
@pytest.mark.parametrize("offset", [0, 1, -2])
@pytest.mark.parametrize("dims", [(-2, -1), (0, 2), (2, 0), (-1, 1)])
def test_diag_embed_values(dtype, offset, dims):
    x = (rng.standard_normal((2, 5)) * 3).astype(dtype)
    if np.dtype(dtype).kind == "f":
        x[0, :3] = [-0.0, np.nan, np.inf]
    same(dj.diag_embed(dj.tensor(x), offset, *dims).numpy(),
         diag_embed_reference(x, offset, *dims))


def test_diagflat_and_edge_shapes():
    x = edge_values(np.float32)
    for offset in (0, 3, -1):
        same(dj.diagflat(dj.tensor(x), offset).numpy(), np.diagflat(x, offset))
    same(dj.diagflat(dj.tensor(x.reshape(7, 1))).numpy(), np.diagflat(x))
    same(dj.diag_embed(dj.tensor(np.float32(2.5))).numpy(), np.full((1, 1), 2.5, np.float32))
    assert dj.diag_embed(dj.zeros(3, 0)).shape == (3, 0, 0)
    with pytest.raises(RuntimeError, match="identical"):
        dj.diag_embed(dj.ones(2, 3), 0, 1, -2)


@pytest.mark.parametrize("offset,dims", [(0, (-2, -1)), (1, (0, 2)), (-1, (2, 1))])
def test_diag_embed_gradient(offset, dims):
    x = dj.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    assert gradcheck(lambda t: dj.diag_embed(t, offset, *dims), (x,))
    assert gradcheck(lambda t: dj.diagflat(t, offset), (x,))


# -- vander -----------------------------------------------------------------------------------

def vander_reference(x, n):
    """Decreasing powers x ** (n - 1), ..., x, 1 as repeated products in x's dtype (NumPy's
    vander computes float32 in float64)."""
    n = len(x) if n is None else n
    columns = [np.ones_like(x)]
    while len(columns) < n:
        columns.append(x if len(columns) == 1 else columns[-1] * x)
    return np.stack(columns[:n][::-1], -1) if n else np.zeros((len(x), 0), x.dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32])
def test_vander_values(dtype):
    x = edge_values(dtype) if np.dtype(dtype).kind == "f" else np.arange(-3, 4).astype(dtype)
    x = x if np.dtype(dtype).kind == "f" else x.astype(np.int64)
    for n in (None, 0, 1, 2, 9):
        expected = vander_reference(x, n)
        if dtype == np.float64:
            same(expected, np.vander(x, n))
        same(dj.vander(dj.tensor(x), n).numpy(), expected)
        same(dj.vander(dj.tensor(x), n, increasing=True).numpy(), expected[:, ::-1])
        same(dj.linalg.vander(dj.tensor(x), N=n).numpy(), expected[:, ::-1])
    batch = rng.standard_normal((2, 3, 4))
    same(dj.linalg.vander(dj.tensor(batch)).numpy(),
         np.stack([np.vander(row, increasing=True) for row in batch.reshape(-1, 4)])
         .reshape(2, 3, 4, 4))
    same(dj.vander(dj.tensor([True, False]), 3).numpy(), np.array([[1, 1, 1], [0, 0, 1]]))


def test_vander_gradient_at_zero():
    x = dj.tensor(np.array([0.0, 1.5, -2.0]), requires_grad=True)
    assert gradcheck(lambda t: dj.vander(t, 4), (x,))
    assert gradcheck(lambda t: dj.linalg.vander(t.reshape(1, 3)), (x,))


# -- combinations -----------------------------------------------------------------------------

@pytest.mark.parametrize("with_replacement", [False, True])
def test_combinations_follow_itertools(with_replacement):
    pick = itertools.combinations_with_replacement if with_replacement else \
        itertools.combinations
    for n in range(0, 7):
        x = rng.standard_normal(n)
        for r in range(0, 5):
            got = dj.combinations(dj.tensor(x), r, with_replacement).numpy()
            rows = list(pick(x.tolist(), r))
            if r == 0:
                assert got.shape == (0,)
            else:
                same(got, np.array(rows, np.float64).reshape(-1, r))


def test_combinations_gradient():
    x = dj.tensor(rng.standard_normal(4), requires_grad=True)
    assert gradcheck(lambda t: dj.combinations(t, 3), (x,))


# -- unbind, flatten --------------------------------------------------------------------------

@pytest.mark.parametrize("dim", [0, 1, -1, 2])
def test_unbind_views(dim):
    base = rng.standard_normal((3, 4, 5))
    t = dj.tensor(base.copy())
    parts = t.unbind(dim)
    assert len(parts) == base.shape[dim]
    for i, part in enumerate(parts):
        same(part.numpy(), np.take(base, i, axis=dim))
    parts[1].add_(1.0)  # (views: writes reach the base, and the base's writes reach them)
    expected = base.copy()
    np.moveaxis(expected, dim, 0)[1] += 1.0
    same(t.numpy(), expected)
    t.zero_()
    assert not parts[0].numpy().any()


def test_unbind_edges_and_gradient():
    x = edge_values(np.float32)
    parts = dj.tensor(x).unbind()
    assert all(p.shape == () for p in parts)
    same(np.stack([p.numpy() for p in parts]), x)
    assert dj.zeros(0, 3).unbind() == ()
    assert [p.shape for p in dj.zeros(2, 0).unbind()] == [(0,), (0,)]
    with pytest.raises(IndexError):
        dj.tensor(1.0).unbind()
    with pytest.raises(IndexError):
        dj.zeros(2, 3).unbind(2)
    view = dj.tensor(rng.standard_normal((4, 3))).t()  # (unbinding a view of a view)
    same(np.stack([p.numpy() for p in view.unbind(1)], 1), view.numpy())
    x = dj.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    assert gradcheck(lambda t: t.unbind(1)[2] * 2 + t.unbind(1)[0], (x,))


def test_flatten():
    t = dj.tensor(rng.standard_normal(5))
    assert t.flatten() is t and dj.flatten(t) is t  # (nothing to flatten: PyTorch's own)
    m = dj.tensor(rng.standard_normal((2, 3, 4)))
    assert m.flatten(1, 1) is m
    assert m.flatten().shape == (24,) and m.flatten(1).shape == (2, 12)
    assert m.flatten(0, 1).shape == (6, 4)
    assert dj.tensor(2.0).flatten().shape == (1,)
    with pytest.raises(RuntimeError, match="start_dim cannot come after end_dim"):
        m.flatten(2, 0)


# -- median, nanmedian ------------------------------------------------------------------------

def stable_median_index(x, ignore_nan):
    """The old rule: a stable argsort's middle (NaN sorts last)."""
    order = np.argsort(x, kind="stable")
    count = int(np.sum(~np.isnan(x))) if x.dtype.kind == "f" else x.size
    return int(order[max(count - 1, 0) // 2] if ignore_nan else order[(x.size - 1) // 2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_median_picks_the_stable_middle(dtype):
    for n in (1, 2, 5, 6, 33, 1000):
        for _ in range(5):
            x = rng.integers(-3, 4, n).astype(dtype)  # (many ties)
            if np.dtype(dtype).kind == "f" and n > 2:
                x[x == 0] = rng.choice([0.0, -0.0], int(np.sum(x == 0)))
            t = dj.tensor(x)
            same(dj.median(t).numpy(), x[stable_median_index(x, False)])
            same(dj.nanmedian(t).numpy(), x[stable_median_index(x, True)])
            if np.dtype(dtype).kind == "f" and n > 2:
                y = x.copy()
                y[rng.integers(0, n, 2)] = np.nan
                same(dj.nanmedian(dj.tensor(y)).numpy(), y[stable_median_index(y, True)])
                assert np.isnan(dj.median(dj.tensor(y)).item())


def test_median_of_nan_is_nan_as_pytorch():
    x = np.array([1.0, np.nan, 2.0, np.nan, 0.5])
    t = dj.tensor(x, requires_grad=True)
    m = dj.median(t)
    assert np.isnan(m.item())
    m.backward()
    same(t.grad.numpy(), np.array([0.0, 1.0, 0.0, 0.0, 0.0]))  # (the first NaN)
    values, indices = dj.median(dj.tensor([[1.0, np.nan, 2.0, np.nan], [3, 1, 2, 2]]), 1)
    assert np.isnan(values[0].item()) and values[1].item() == 2.0
    assert indices.tolist() == [1, 2]
    assert dj.nanmedian(dj.tensor(x)).item() == 1.0
    assert np.isnan(dj.nanmedian(dj.tensor([np.nan, np.nan])).item())
    assert np.isnan(dj.median(dj.tensor(np.zeros(0, np.float32))).item())


def test_median_gradient_reaches_the_chosen_element():
    x = np.array([3.0, 1.0, 2.0, 1.0, 5.0, 2.0])
    t = dj.tensor(x, requires_grad=True)
    dj.median(t).backward()
    expected = np.zeros(6)
    expected[stable_median_index(x, False)] = 1.0
    same(t.grad.numpy(), expected)


# -- quantile ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["linear", "lower", "higher", "midpoint", "nearest"])
def test_quantile_is_the_composition(dtype, method):
    qs = (np.asarray(0.5, dtype), np.asarray([0, 0.25, 0.5, 1 / 3, 0.999, 1], dtype),
          rng.uniform(0, 1, 11).astype(dtype))
    for shape, dim in [((1024,), None), ((7, 9), 1), ((7, 9), 0), ((7, 9), None),
                       ((3, 4, 5), -1), ((5,), 0), ((), None), ((2, 6), -2)]:
        x = rng.standard_normal(shape).astype(dtype)
        if x.size > 4:
            x.flat[:4] = [-0.0, 0.0, x.flat[3], x.flat[3]]
        with_nan = x.copy()
        if x.size > 5:
            with_nan.flat[5] = np.nan
        for q in qs:
            for keepdim in (False, True):
                for v in (x, with_nan):
                    got = dj.quantile(dj.tensor(v), dj.tensor(q), dim, keepdim,
                                      interpolation=method).numpy()
                    # (a 0-d input keeps no dimension, as PyTorch: q's shape)
                    same(got, np.asarray(more_functions._quantile(v, q, dim,
                                                                  keepdim and v.ndim > 0,
                                                                  method)))
                    if v is x and v.ndim:
                        np.testing.assert_allclose(
                            got, np.quantile(v, q, axis=dim, keepdims=keepdim, method=method),
                            rtol=2e-6 if dtype == np.float32 else 1e-14, atol=1e-6)


def test_quantile_gradient_and_empty():
    x = dj.tensor(rng.standard_normal((3, 5)), requires_grad=True)
    q = dj.tensor(np.array([0.1, 0.5, 0.8]))
    assert gradcheck(lambda t: dj.quantile(t, q, 1), (x,))
    with pytest.raises(RuntimeError, match="non-empty"):  # (PyTorch refuses it)
        dj.quantile(dj.zeros(0), 0.5)


# -- trapezoid, unique_consecutive ------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_trapezoid_is_the_composition(dtype):
    for shape in [(1024,), (5, 7), (3, 4, 6), (1,), (0,), (4, 0)]:
        y = rng.standard_normal(shape).astype(dtype)
        if y.size > 3:
            y.flat[:3] = [np.nan, -0.0, np.inf]
        for dim in range(-len(shape), len(shape)):
            for dx in (None, 0.1, -2.5):
                got = dj.trapezoid(dj.tensor(y), dx=dx, dim=dim).numpy()
                same(got, np.asarray(more_functions._trapezoid_dx(
                    y, 1.0 if dx is None else dx, dim)))
            for x in (rng.standard_normal(shape[dim]).astype(dtype),
                      rng.standard_normal(shape).astype(dtype)):
                got = dj.trapezoid(dj.tensor(y), dj.tensor(x), dim=dim).numpy()
                same(got, np.asarray(more_functions._trapezoid_x(y, x, dim)))
    y, x = rng.standard_normal((3, 8)), np.sort(rng.standard_normal(8))
    np.testing.assert_allclose(dj.trapezoid(dj.tensor(y), dj.tensor(x)).numpy(),
                               np.trapezoid(y, x), rtol=1e-13)
    yt = dj.tensor(y, requires_grad=True)
    assert gradcheck(lambda t: dj.trapezoid(t, dx=0.5, dim=0), (yt,))


def test_unique_consecutive_runs():
    x = np.array([1.0, 1.0, np.nan, np.nan, 2.0, 2.0, 2.0, -0.0, 0.0, 3.0])
    values, inverse, counts = dj.unique_consecutive(dj.tensor(x), return_inverse=True,
                                                    return_counts=True)
    same(values.numpy(), np.array([1.0, np.nan, np.nan, 2.0, -0.0, 3.0]))  # (NaN != NaN)
    same(inverse.numpy(), np.array([0, 0, 1, 2, 3, 3, 3, 4, 4, 5]))
    same(counts.numpy(), np.array([2, 1, 1, 3, 2, 1]))
    m = np.array([[1, 1, 2, 2], [1, 1, 2, 3]])
    values, counts = dj.unique_consecutive(dj.tensor(m), dim=1, return_counts=True)
    same(values.numpy(), np.array([[1, 2, 2], [1, 2, 3]]))
    same(counts.numpy(), np.array([2, 1, 1]))
    same(dj.unique_consecutive(dj.tensor(m)).numpy(), np.array([1, 2, 1, 2, 3]))
    assert dj.unique_consecutive(dj.zeros(0)).shape == (0,)


# -- block_diag, broadcast_tensors, meshgrid --------------------------------------------------

def test_block_diag_matches_scipy():
    import scipy.linalg

    a = np.array([[1.0, -0.0], [np.nan, 2.0]])
    blocks = [a, np.array([3.0, 4.0]), np.float64(5.0), np.zeros((0, 2)), np.ones((3, 1))]
    same(dj.block_diag(*[dj.tensor(b) for b in blocks]).numpy(),
         scipy.linalg.block_diag(*blocks))
    mixed = dj.block_diag(dj.tensor(np.float32([1.5])), dj.tensor(np.array([[2, 3]])),
                          dj.tensor([True]))
    assert mixed.dtype == dj.float32
    same(mixed.numpy(), np.array([[1.5, 0, 0, 0], [0, 2, 3, 0], [0, 0, 0, 1]], np.float32))
    assert dj.block_diag().shape == (1, 0) and dj.block_diag(dj.zeros(0)).shape == (1, 0)
    with pytest.raises(RuntimeError, match="2 or fewer"):
        dj.block_diag(dj.zeros(1, 1, 1))
    x, y = (dj.tensor(rng.standard_normal(s), requires_grad=True) for s in ((2, 3), (2,)))
    assert gradcheck(lambda p, q: dj.block_diag(p, q, dj.zeros(0, 2, dtype=dj.float64)), (x, y))


def test_broadcast_tensors_are_views():
    a, b = dj.tensor(np.arange(3.0)), dj.tensor(np.arange(4.0).reshape(4, 1))
    p, q = dj.broadcast_tensors(a, b)
    expected = np.broadcast_arrays(np.arange(3.0), np.arange(4.0).reshape(4, 1))
    same(p.numpy(), expected[0])
    same(q.numpy(), expected[1])
    a.add_(1.0)  # (views: the base's writes show)
    same(p.numpy(), expected[0] + 1.0)
    c, d = dj.tensor(np.ones(5)), dj.tensor(np.zeros(5))
    c2, d2 = dj.broadcast_tensors(c, d)
    d2.add_(2.0)  # (same shapes: a writable view, as expand's; the write reaches the input)
    same(d.numpy(), np.full(5, 2.0))
    with pytest.raises(ValueError):
        dj.broadcast_tensors(dj.ones(2), dj.ones(3))
    x = dj.tensor(rng.standard_normal((3, 1)), requires_grad=True)
    y = dj.tensor(rng.standard_normal(4), requires_grad=True)
    assert gradcheck(lambda s, t: dj.broadcast_tensors(s, t)[0] * 2 + dj.broadcast_tensors(s, t)[1],
                     (x, y))


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid_matches_numpy(indexing):
    xs = [np.arange(3.0), np.array([10.0, 20.0]), np.array([-0.0, np.nan, 1.0, 2.0])]
    for count in (1, 2, 3):
        got = dj.meshgrid(*[dj.tensor(x) for x in xs[:count]], indexing=indexing)
        for g, e in zip(got, np.meshgrid(*xs[:count], indexing=indexing)):
            same(g.numpy(), e)
    base = dj.tensor(np.arange(6.0).reshape(2, 3))
    g1, g2 = dj.meshgrid(base.t(), dj.tensor(1.0))  # (flattened: a transposed copy)
    same(g1.numpy(), np.arange(6.0).reshape(2, 3).T.reshape(-1, 1))
    v = dj.tensor(np.arange(3.0))
    grid = dj.meshgrid(v, dj.tensor(np.arange(2.0)))[0]
    v.mul_(2.0)
    same(grid.numpy(), np.repeat((np.arange(3.0) * 2)[:, None], 2, 1))
    x = dj.tensor(rng.standard_normal(3), requires_grad=True)
    y = dj.tensor(rng.standard_normal(2), requires_grad=True)
    assert gradcheck(lambda s, t: dj.meshgrid(s, t, indexing=indexing)[0] *
                     dj.meshgrid(s, t, indexing=indexing)[1], (x, y))
