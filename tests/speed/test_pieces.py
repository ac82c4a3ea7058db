"""A loop nest that sums zero-padded pieces along its last axis (the gradient of slices, such as
a transformer's qkv gradient) is emitted one loop per piece (codegen/pieces.py): which
groups take that path, and values bit-identical (signs of zeros included) to the general
loop's, the interpreter's and NumPy's, for hypothesis-drawn shapes and both float widths."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dualjit as dj
import dualjit.lax as lax
import dualjit.numpy as jnp
from dualjit.codegen import pieces
from dualjit.codegen.runtime import CompiledFunction
from dualjit.ir import eval_function

from .test_kernel_passes import matches_differences


def _assembled(widths, heads, order):
    """The pieces (b, heads, s, w / heads) each transposed and merged into (b, s, w), padded
    into their columns and summed in `order`."""
    total = sum(widths)

    def f(*parts):
        padded = []
        first = 0
        for part, width in zip(parts, widths):
            b, _, s, _ = part.shape
            merged = jnp.reshape(jnp.transpose(part, (0, 2, 1, 3)), (b, s, width))
            padded.append(lax.pad(merged, 0.0, [(0, 0, 0), (0, 0, 0),
                                                (first, total - first - width, 0)]))
            first += width
        out = padded[order[0]]
        for i in order[1:]:
            out = out + padded[i]
        return out
    return f


def _numpy(parts, widths):
    merged = [np.transpose(p, (0, 2, 1, 3)).reshape(p.shape[0], p.shape[2], w)
              for p, w in zip(parts, widths)]
    return np.concatenate(merged, axis=-1) + 0.0  # (the sum turns -0.0 into +0.0)


def _runs(monkeypatch, fn, parts, use_pieces):
    seen = []
    real = pieces.emit

    def emit(k, group, found):
        seen.append(len(found))
        real(k, group, found)

    monkeypatch.setattr(pieces, "emit", emit)
    if not use_pieces:
        monkeypatch.setattr(pieces, "sum_of_pieces", lambda k, group: None)
    got = CompiledFunction(fn)(*parts)[0]
    monkeypatch.undo()
    return got, seen


def _same_bits(got, want):
    np.testing.assert_array_equal(got, want)
    assert np.array_equal(np.signbit(got), np.signbit(want))


@given(batch=st.integers(1, 3), seq=st.integers(1, 9), heads=st.integers(1, 4),
       dims=st.lists(st.integers(1, 6), min_size=2, max_size=4),
       order_seed=st.integers(0, 100), dtype=st.sampled_from([np.float32, np.float64]))
def test_pieces_match_the_general_loop_the_interpreter_and_numpy(
        batch, seq, heads, dims, order_seed, dtype):
    widths = [heads * d for d in dims]
    order = list(np.random.default_rng(order_seed).permutation(len(widths)))
    rng = np.random.default_rng(order_seed)
    parts = []
    for d in dims:
        p = rng.standard_normal((batch, heads, seq, d)).astype(dtype)
        p[rng.random(p.shape) < 0.2] = -0.0  # signs of zeros must come out as the sum's
        p[rng.random(p.shape) < 0.1] = 0.0
        parts.append(p)
    fn = dj.make_ir(_assembled(widths, heads, order))(*parts)
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast, seen = _runs(monkeypatch, fn, parts, True)
    with pytest.MonkeyPatch.context() as monkeypatch:
        general, _ = _runs(monkeypatch, fn, parts, False)
    assert seen == [len(dims)]  # the path was taken, with every piece
    _same_bits(fast, general)
    _same_bits(fast, eval_function(fn, *parts)[0])
    _same_bits(fast, _numpy(parts, widths))


@pytest.mark.parametrize("case", ["gap", "overlap", "nonzero pad", "other axis", "one piece"])
def test_sums_that_are_not_a_tiling_take_the_general_loop(monkeypatch, case):
    rng = np.random.default_rng(5)
    a, b = (rng.standard_normal((3, 4, 5)) for _ in range(2))
    lo = {"gap": 6, "overlap": 4}.get(case, 5)
    value = 1.0 if case == "nonzero pad" else 0.0

    def f(a, b):
        if case == "other axis":
            return (lax.pad(a, 0.0, [(0, 3, 0), (0, 0, 0), (0, 0, 0)])
                    + lax.pad(b, 0.0, [(3, 0, 0), (0, 0, 0), (0, 0, 0)]))
        if case == "one piece":
            return lax.pad(a, 0.0, [(0, 0, 0), (0, 0, 0), (0, 5, 0)]) * 2.0
        right = lax.pad(b, value, [(0, 0, 0), (0, 0, 0), (lo, 0, 0)])
        return lax.pad(a, 0.0, [(0, 0, 0), (0, 0, 0), (0, lo, 0)]) + right

    fn = dj.make_ir(f)(a, b)
    got, seen = _runs(monkeypatch, fn, (a, b), True)
    assert seen == []
    np.testing.assert_array_equal(got, eval_function(fn, a, b)[0])


def test_the_qkv_gradient_of_an_attention_block_is_assembled_by_pieces(monkeypatch):
    """Reverse mode's sum of the q, k and v gradients' pads takes the path; the gradient
    matches the interpreter and central differences."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 6, 16))
    w = rng.standard_normal((16, 48)) * 0.3

    def loss(w):
        qkv = x @ w
        q, k, v = (jnp.transpose(jnp.reshape(qkv[:, :, 16 * i:16 * (i + 1)], (2, 6, 2, 8)),
                                 (0, 2, 1, 3)) for i in range(3))
        att = dj.nn.softmax(q @ jnp.swapaxes(k, 2, 3), axis=-1) @ v
        return jnp.sum(jnp.reshape(jnp.transpose(att, (0, 2, 1, 3)), (2, 6, 16)) ** 2)

    fn = dj.make_ir(dj.grad(loss))(w)
    got, seen = _runs(monkeypatch, fn, (w,), True)
    assert seen == [3], str(CompiledFunction(fn).plan)
    np.testing.assert_allclose(got, eval_function(fn, w)[0], rtol=1e-12, atol=1e-12)
    matches_differences(loss, w, got, [(0, 0), (15, 47), (3, 20)])


@pytest.mark.parametrize("batch, seq", [(1, 3), (4, 8), (2, 40)])
def test_split_across_threads_the_same_bits(monkeypatch, batch, seq):
    """Split over threads (chunks lowered so small shapes split): rows from the leading axes
    take the path, rows that would cut the last axis take the general loop; the same bits for
    any thread count either way."""
    from dualjit.codegen import nest_plan, threads

    monkeypatch.setattr(nest_plan, "NEST_MIN_ELEMENTS", 16)
    monkeypatch.setattr(nest_plan, "CHUNK_ELEMENTS", 24)
    rng = np.random.default_rng(batch * 100 + seq)
    widths = [8, 8, 8]
    parts = [rng.standard_normal((batch, 2, seq, 4)) for _ in widths]
    fn = dj.make_ir(_assembled(widths, 2, [2, 0, 1]))(*parts)
    compiled = CompiledFunction(fn)
    assert "split over threads" in str(compiled.plan)
    want = _numpy(parts, widths)
    threads.set_load_reading(4)
    try:
        for count in ("1", "2", "4"):
            monkeypatch.setenv("DUALJIT_NUM_THREADS", count)
            _same_bits(compiled(*parts)[0], want)
    finally:
        threads.set_load_reading(None)
