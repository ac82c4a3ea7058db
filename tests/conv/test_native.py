"""The native lowering of convolutions and window reductions (codegen/conv.py): both
convolution paths (im2col + gemm, in several example tiles, and direct loops) for random
layouts, strides, padding, dilations and groups, against the direct loop reference and the
interpreter; window reductions and the max pool's derivative pair with ties, NaN, padding
and holes; gradients of compiled models against the interpreter's."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import dualjit as dj
from dualjit import lax
from dualjit.codegen import conv_blocked_plan, conv_plan, nest_plan, threads
from dualjit.ir import interpreter
from dualjit.ir import primitives as P
from dualjit.tracer.core import bind
from dualjit.tracer.make_ir import make_ir

from . import reference
from .checks import expected as reference_conv
from .checks import fresh_compiles, same_on_one_and_two_threads
from .test_conv import conv_problems, window_problems

PATHS = {
    # (GEMM_MIN_TERMS, DIRECT_MAX_TERMS, COLUMNS_LIMIT, COL2IM_MIN_RATIO): gemm in tiles of
    # few examples, im2col always or col2im whenever the window strides are 1
    "gemm": (0, -1, 40, float("inf")),
    "gemm split": (0, -1, 40, float("inf")),  # tiles shared by two threads (conv_plan.split)
    "col2im": (0, -1, 40, 0.0),
    "direct": (1 << 62, 1 << 62, 1 << 20, float("inf")),
    "dot": (0, -1, 40, float("inf")),  # kernels longer than the output: dots along them
    "direct split": (1 << 62, 1 << 62, 1 << 20, float("inf")),  # over outputs, two threads
    "dot split": (0, -1, 40, float("inf")),
}




@pytest.fixture(params=sorted(PATHS))
def path(request, monkeypatch):
    """Convolutions lowered by one path (compiled code of the other path forgotten)."""
    gemm_min, direct_max, columns, col2im_ratio = PATHS[request.param]
    monkeypatch.setattr(conv_plan, "COL2IM_MIN_RATIO", col2im_ratio)
    monkeypatch.setattr(conv_plan, "GEMM_MIN_TERMS", gemm_min)
    monkeypatch.setattr(conv_plan, "DIRECT_MAX_TERMS", direct_max)
    monkeypatch.setattr(conv_plan, "COLUMNS_LIMIT", columns)
    monkeypatch.setattr(conv_plan, "PRODUCT_FORMS", False)  # (test_native_conv_products)
    monkeypatch.setattr(conv_blocked_plan, "FORCE", False)  # (tests/conv/test_blocked.py)
    monkeypatch.setattr(conv_plan, "ROW_DOTS", False)  # (tests/conv/test_rowdots.py)
    dots = request.param.startswith("dot")  # (the other paths never take dots)
    monkeypatch.setattr(conv_plan, "DOT_MIN_KERNEL_RUN", 1 if dots else 1 << 62)
    monkeypatch.setattr(conv_plan, "DOT_MAX_GROUP_OUTPUTS", 1 << 62 if dots else -1)
    if request.param.endswith(" split"):
        _split_every_gemm_convolution(monkeypatch)
    fresh_compiles()
    yield request.param
    fresh_compiles()


def _split_every_gemm_convolution(monkeypatch):
    """Every convolution that can be split (im2col + gemm of two tiles or more, 1x1, direct
    loops, dots) split across two threads, which take helpers even on a busy machine."""
    monkeypatch.setattr(nest_plan, "GEMM_MIN_MACS", 0)
    monkeypatch.setattr(nest_plan, "GEMM_BUSY_MACS", 0)
    monkeypatch.setattr(conv_plan, "DIRECT_CHUNK_MACS", 1)  # direct loops: a few outputs each
    monkeypatch.setenv("DUALJIT_NUM_THREADS", "2")
    monkeypatch.setattr(threads, "_pinned", 2)  # two free cores (restored afterwards)


@pytest.mark.parametrize("kernel_layout", [(0, 1, 2), (2, 1, 0)])  # canonical, or packed
def test_a_split_convolution_is_the_same_on_any_thread_count(monkeypatch, kernel_layout):
    _split_every_gemm_convolution(monkeypatch)
    fresh_compiles()
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 8, 40)).astype(np.float32)
    w = rng.standard_normal(tuple((5, 8, 3)[a] for a in np.argsort(kernel_layout)))
    w = w.astype(np.float32)
    p = dict(window_strides=(1,), padding=((1, 1),), lhs_dilation=(1,), rhs_dilation=(1,),
             dimension_numbers=((0, 1, 2), kernel_layout, (0, 1, 2)), feature_group_count=1,
             batch_group_count=1)
    same_on_one_and_two_threads(monkeypatch, x, w, p,
                                 "calls gemm; split over threads: 2 rows in 2 chunks of 1")




@pytest.mark.parametrize("lhs, rhs, padding, groups", [
    ((3, 8, 40), (8, 1, 3), ((1, 1),), 8),  # depthwise: direct loops over outputs
    ((2, 3, 200), (4, 3, 150), ((4, 5),), 1),  # a long kernel: dots over outputs
    ((4, 6, 30), (6, 6, 1), ((0, 0),), 1),  # 1x1: one gemm per example
])
def test_direct_dot_and_pointwise_splits_are_the_same_on_any_thread_count(
        monkeypatch, lhs, rhs, padding, groups):
    _split_every_gemm_convolution(monkeypatch)
    fresh_compiles()
    rng = np.random.default_rng(8)
    x, w = (rng.standard_normal(s).astype(np.float32) for s in (lhs, rhs))
    p = dict(window_strides=(1,), padding=padding, lhs_dilation=(1,), rhs_dilation=(1,),
             dimension_numbers=((0, 1, 2),) * 3, feature_group_count=groups,
             batch_group_count=1)
    same_on_one_and_two_threads(monkeypatch, x, w, p, "split over threads")


def _native(f, *args):
    """f compiled, after checking that its plan has no host step."""
    jitted = dj.jit(f)
    plan = str(jitted.lower(*args).plan())
    assert " 0 host steps" in plan.split("\n")[0], plan
    return jitted(*args), plan


# (the fixture sets thresholds once per test; every example runs under them)
fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@fixture_ok
@given(problem=conv_problems())
def test_native_conv_matches_the_loop_reference(path, problem):
    x, w, p = problem
    got, plan = _native(lambda x, w: lax.conv_general_dilated(x, w, **p), x, w)
    expected = reference_conv(x, w, p)
    if path.split()[0] not in ("direct", "dot") and expected.size:
        assert "calls gemm" in plan
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@fixture_ok
@given(problem=conv_problems())
def test_native_conv_gradients_match_the_interpreter(path, problem):
    x, w, p = problem
    ct = np.random.default_rng(0).standard_normal(reference_conv(x, w, p).shape)
    loss = lambda x, w: (lax.conv_general_dilated(x, w, **p) * ct).sum()  # noqa: E731
    grads = dj.grad(loss, argnums=(0, 1))
    native = dj.jit(grads)(x, w)
    fn = make_ir(grads)(x, w)
    expected = interpreter.eval_function(fn, x, w)
    for a, b in zip(native, expected):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_native_conv_float32_integer_and_layouts(path):
    rng = np.random.default_rng(3)
    x, w = rng.integers(-3, 4, (3, 5, 6, 4)), rng.integers(-3, 4, (2, 3, 3, 4))
    p = dict(window_strides=(2, 1), padding=((1, 2), (0, 1)), lhs_dilation=(1, 1),
             rhs_dilation=(1, 2), dimension_numbers=((0, 2, 1, 3), (3, 2, 1, 0), (1, 3, 0, 2)),
             feature_group_count=2, batch_group_count=1)
    expected = reference_conv(x, w, p)
    for dtype in (np.float32, np.int32, np.int64):
        got, _ = _native(lambda x, w: lax.conv_general_dilated(x, w, **p), x.astype(dtype),
                         w.astype(dtype))
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, expected.astype(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_native_conv_dots_along_long_kernels_match_the_loop_reference(dtype, monkeypatch):
    """Kernel-gradient shapes (a kernel longer than the output along its last axis) as dot
    products along the kernel (conv_plan.dots_along_kernel), at the default thresholds:
    padding on both sides (the in-bounds part of each dot), strides, dilations (holes take
    the per-element path), feature and batch groups, layouts."""
    rng = np.random.default_rng(5)
    cases = [  # (lhs shape, rhs shape, params)
        ((3, 4, 300), (3, 4, 200), dict(padding=((4, 5),), dimension_numbers=((1, 0, 2),) * 3,
                                        batch_group_count=4)),
        ((2, 2, 5, 260), (3, 2, 2, 140), dict(window_strides=(1, 2), padding=((1, 0), (3, 0)),
                                             rhs_dilation=(2, 1))),
        ((2, 4, 100), (4, 2, 130), dict(padding=((2, 1),), lhs_dilation=(2,),
                                        feature_group_count=2)),
        ((6, 200, 2), (180, 2, 6), dict(dimension_numbers=((2, 0, 1), (1, 2, 0), (0, 2, 1)))),
    ]
    fresh_compiles()
    for lhs, rhs, extra in cases:
        nsp = len(lhs) - 2
        p = dict(window_strides=(1,) * nsp, padding=((0, 0),) * nsp, lhs_dilation=(1,) * nsp,
                 rhs_dilation=(1,) * nsp, dimension_numbers=(tuple(range(nsp + 2)),) * 3,
                 feature_group_count=1, batch_group_count=1)
        p.update(extra)
        x, w = (rng.integers(-3, 4, s).astype(dtype) for s in (lhs, rhs))
        got, plan = _native(lambda x, w, p=p: lax.conv_general_dilated(x, w, **p), x, w)
        assert "calls gemm" not in plan, plan
        expected = reference_conv(x.astype(np.float64), w.astype(np.float64), p)
        np.testing.assert_array_equal(got, expected.astype(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_native_conv_products_in_place_match_the_loop_reference(dtype):
    """1x1 convolutions (one gemm per example) and whole-input ones (one gemm per input
    feature, accumulating), read in place (conv_plan.product_form), for layouts that make
    each operand a matrix or a transposed one, one-element axes, and their gradients."""
    rng = np.random.default_rng(6)
    cases = [  # (lhs shape, rhs shape, dimension numbers, form)
        ((3, 5, 7, 4), (6, 5, 1, 1), ((0, 1, 2, 3),) * 3, "pointwise"),
        ((5, 3, 20), (5, 6, 1), ((1, 0, 2), (1, 0, 2), (0, 1, 2)), "pointwise"),  # W^T
        ((3, 5, 20), (1, 5, 1), ((0, 1, 2), (0, 1, 2), (1, 0, 2)), "pointwise"),  # O = 1
        ((4, 3, 9), (4, 6, 9), ((1, 0, 2),) * 3, "full"),  # kernel gradient: out O x N
        ((4, 3, 9), (4, 6, 9), ((1, 0, 2), (1, 0, 2), (0, 1, 2)), "full"),  # out N x O
        ((4, 1, 3, 3), (4, 2, 3, 3), ((1, 0, 2, 3),) * 3, "full"),  # N = 1
    ]
    fresh_compiles()
    for lhs, rhs, dn, form in cases:
        nsp = len(lhs) - 2
        p = dict(window_strides=(1,) * nsp, padding=((0, 0),) * nsp, lhs_dilation=(1,) * nsp,
                 rhs_dilation=(1,) * nsp, dimension_numbers=dn, feature_group_count=1,
                 batch_group_count=1)
        eqn = make_ir(lambda x, w, p=p: lax.conv_general_dilated(x, w, **p))(
            np.ones(lhs, dtype), np.ones(rhs, dtype)).eqns[-1]
        assert conv_plan.product_form(conv_plan.ConvGeometry.of(eqn)) == form
        x, w = (rng.standard_normal(s).astype(dtype) for s in (lhs, rhs))
        got, plan = _native(lambda x, w, p=p: lax.conv_general_dilated(x, w, **p), x, w)
        tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12)
        np.testing.assert_allclose(got, reference_conv(x, w, p), **tol)
        ct = rng.standard_normal(got.shape).astype(dtype)
        grads = dj.grad(lambda x, w, p=p: (lax.conv_general_dilated(x, w, **p) * ct).sum(),
                        argnums=(0, 1))
        for a, b in zip(dj.jit(grads)(x, w), reference.conv_vjp(x, w, ct, **_vjp_args(p))):
            np.testing.assert_allclose(a, b, **tol)


def _vjp_args(p):
    return dict(strides=p["window_strides"], padding=p["padding"],
                lhs_dilation=p["lhs_dilation"], rhs_dilation=p["rhs_dilation"],
                dimension_numbers=p["dimension_numbers"],
                feature_group_count=p["feature_group_count"],
                batch_group_count=p["batch_group_count"])


def test_native_conv_empty_input_gives_zeros(path):
    x, w = np.ones((2, 1, 0)), np.ones((3, 1, 2))
    got, _ = _native(lambda x, w: lax.conv_general_dilated(x, w, (1,), ((2, 1),)), x, w)
    np.testing.assert_array_equal(got, np.zeros((2, 3, 2)))


# ---------------------------------------------------------------------------------------------
# Window reductions and the max pool's derivative pair
# ---------------------------------------------------------------------------------------------

def _gathered(t, x, p):
    where, counts = reference.first_max_positions(x, **p)
    return np.array([t[where[q]] if where[q] is not None else 0.0 for q in np.ndindex(*counts)]
                    ).reshape(counts)


def _scattered(s, x, p):
    where, _ = reference.first_max_positions(x, **p)
    out = np.zeros_like(x)
    for q, src in where.items():
        if src is not None:
            out[src] += s[q]
    return out


@given(problem=window_problems())
def test_native_window_primitives_match_the_loop_reference(problem):
    x, p = problem
    rng = np.random.default_rng(1)
    counts = reference.reduce_window(x, max, -np.inf, **p).shape
    t, s = rng.standard_normal(x.shape), rng.standard_normal(counts)

    def f(x, t, s):
        return (bind(P.reduce_window_sum_p, x, **p), bind(P.reduce_window_max_p, x, **p),
                bind(P.select_and_gather_add_p, t, x, **p),
                bind(P.select_and_scatter_add_p, s, x, **p))

    (total, best, gathered, scattered), plan = _native(f, x, t, s)
    np.testing.assert_allclose(total, reference.reduce_window(x, np.add, 0.0, **p))
    np.testing.assert_array_equal(best, reference.reduce_window(x, max, -np.inf, **p))
    np.testing.assert_array_equal(gathered, _gathered(t, x, p))
    np.testing.assert_allclose(scattered, _scattered(s, x, p), rtol=1e-12)


def test_native_max_pool_follows_the_first_nan_and_integer_range():
    x = np.array([[1.0, np.nan, 3.0, np.nan], [np.inf, 2.0, -np.inf, 5.0]])
    p = dict(window_dimensions=(2, 2), window_strides=(1, 2), padding=((0, 0), (0, 0)),
             base_dilation=(1, 1), window_dilation=(1, 1))
    s = np.array([[10.0, 20.0]])
    f = lambda x, s: (bind(P.reduce_window_max_p, x, **p),  # noqa: E731
                      bind(P.select_and_scatter_add_p, s, x, **p))
    (best, scattered), _ = _native(f, x, s)
    assert np.isnan(best).all()  # a NaN in the window: the max is NaN (as np.maximum)
    expected = np.zeros_like(x)
    expected[0, 1], expected[0, 3] = 10.0, 20.0  # the first NaN of each window
    np.testing.assert_array_equal(scattered, expected)
    ints = np.array([[-128, -128], [-128, -128]], np.int8)
    got, _ = _native(lambda x: bind(P.reduce_window_max_p, x, **{**p, "padding": ((1, 0),
                                                                                  (0, 0))}),
                     ints)
    np.testing.assert_array_equal(got, [[-128], [-128]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_native_max_pool_pair_orders_special_floats_as_the_interpreter(dtype):
    """The first maximum is searched on integer order keys (codegen/conv.order_key): signed
    zeros tie (the first wins), -NaN and NaN both beat everything, denormals, infinities and
    padding (the lowest value, winning only when first) order as the numpy implementation."""
    special = np.array([-np.inf, -2.5, -1e-40, -0.0, 0.0, 1e-40, 3.0, np.inf, np.nan,
                        -np.nan], dtype)
    rng = np.random.default_rng(7)
    zeros = rng.choice(np.array([-0.0, 0.0, -1.0], dtype), size=(3, 9, 8))  # zero ties
    x = np.concatenate([rng.choice(special, size=(3, 9, 8)), zeros])
    t = rng.standard_normal(x.shape).astype(dtype)
    for window, strides, padding in [((2, 2), (2, 2), ((0, 0), (0, 0))),
                                     ((3, 2), (2, 1), ((1, 1), (0, 1)))]:
        p = dict(window_dimensions=(1, *window), window_strides=(1, *strides),
                 padding=((0, 0), *padding), base_dilation=(1, 1, 1),
                 window_dilation=(1, 1, 1))
        counts = reference.reduce_window(x, max, -np.inf, **p).shape
        s = rng.standard_normal(counts).astype(dtype)

        def f(x, t, s, p=p):
            return (bind(P.select_and_gather_add_p, t, x, **p),
                    bind(P.select_and_scatter_add_p, s, x, **p))

        native, _ = _native(f, x, t, s)
        expected = interpreter.eval_function(make_ir(f)(x, t, s), x, t, s)
        np.testing.assert_array_equal(native[0], expected[0])
        # (overlapping windows add several cotangents into one element: in any order)
        np.testing.assert_allclose(native[1], expected[1], rtol=1e-6 if dtype == np.float32
                                   else 1e-14)
        np.testing.assert_array_equal(native[1] == 0, expected[1] == 0)


@given(problem=window_problems())
def test_native_pooling_gradients_match_the_interpreter(problem):
    x, p = problem
    x = x + np.arange(x.size).reshape(x.shape) * 1e-3

    def loss(x):
        pooled = lax.reduce_window(x, -np.inf, lax.max, **p)
        pooled = dj.numpy.where(dj.numpy.isfinite(pooled), pooled, 0.0)
        return (pooled ** 2).sum() + (lax.reduce_window(x, 0.0, lax.add, **p) ** 2).sum()

    native = dj.jit(dj.grad(loss))(x)
    expected = interpreter.eval_function(make_ir(dj.grad(loss))(x), x)[0]
    np.testing.assert_allclose(native, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride, groups", [(2, 3)])
def test_native_cnn_training_step_matches_the_interpreter(stride, groups):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 3, 12, 12)).astype(np.float32)
    w1 = rng.standard_normal((6, 3 // groups, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((4, 6, 3, 3)).astype(np.float32)

    def loss(w1, w2, x):
        h = dj.nn.relu(dj.nn.conv(x, w1, stride=stride, padding=1, groups=groups))
        h = dj.nn.max_pool(h, 2)
        return (dj.nn.avg_pool(dj.nn.conv(h, w2, padding=1), 2) ** 2).mean()

    grads = dj.grad(loss, argnums=(0, 1))
    native = dj.jit(grads)(w1, w2, x)
    expected = interpreter.eval_function(make_ir(grads)(w1, w2, x), w1, w2, x)
    for a, b in zip(native, expected):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-5)


@pytest.mark.parametrize("entries", ["builtin", "ctypes"])
@pytest.mark.parametrize("layout", ["canonical", "repacked kernel"])
@pytest.mark.parametrize("blocked", [False, True])  # im2col + gemm, or conv_blocked.py
def test_failed_scratch_allocation_raises_memory_error(monkeypatch, entries, layout, blocked):
    """malloc returning NULL for the im2col (or blocked copies') buffers makes the call raise
    MemoryError (never a write through NULL); code compiled without the failure works again."""
    from dualjit.codegen import conv, pycall

    monkeypatch.setattr(conv_blocked_plan, "FORCE", blocked)

    if entries == "ctypes":
        monkeypatch.setattr(pycall, "register_symbols", lambda: False)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 12, 12))
    w = rng.standard_normal((8, 3, 3, 3))
    dims = ("NCHW", "OIHW", "NCHW") if layout == "canonical" else ("NCHW", "HWIO", "NCHW")
    if layout != "canonical":
        w = np.ascontiguousarray(w.transpose(2, 3, 1, 0))

    def f(x, w):
        return lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)),
                                        dimension_numbers=dims) * 2.0 + 1.0

    specs = ((0, 1, 2, 3), (0, 1, 2, 3) if layout == "canonical" else (3, 2, 0, 1),
             (0, 1, 2, 3))
    expected = 2.0 * reference.conv(x, w, (1, 1), ((1, 1), (1, 1)), (1, 1), (1, 1), specs) + 1.0
    monkeypatch.setattr(conv, "FAIL_SCRATCH_ALLOCATIONS", True)
    fresh_compiles()
    assert ("calls gemm" in str(dj.jit(f).lower(x, w).plan())) != blocked
    with pytest.raises(MemoryError, match="could not allocate its scratch memory"):
        dj.jit(f)(x, w)
    monkeypatch.setattr(conv, "FAIL_SCRATCH_ALLOCATIONS", False)
    fresh_compiles()
    np.testing.assert_allclose(dj.jit(f)(x, w), expected, rtol=1e-10, atol=1e-12)
