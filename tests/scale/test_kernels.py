"""Long programs are planned in time linear in their length: runs of equations are cut into
kernels of at most MAX_KERNEL_EQNS equations (issue 10 item 5)."""

import os
import sys

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp
from dualjit.codegen import schedule
from dualjit.ir import Var
from dualjit.ir.interpreter import eval_function


def mixed_chain(n):
    """Unary and binary operations, the input read again, and a few reductions."""
    def f(x):
        y = x
        for i in range(n):
            k = i % 5
            if k == 0:
                y = jnp.sin(y)
            elif k == 1:
                y = y * 1.0001
            elif k == 2:
                y = jnp.cos(y) + x
            elif k == 3:
                y = jnp.tanh(y) - 0.1
            elif i % 50 == 4:
                y = y + jnp.sum(y) * 1e-3
            else:
                y = jnp.exp(-y * y)
        return jnp.sum(y)
    return f


def mixed_chain_numpy(x, n):
    y = x
    for i in range(n):
        k = i % 5
        if k == 0:
            y = np.sin(y)
        elif k == 1:
            y = y * 1.0001
        elif k == 2:
            y = np.cos(y) + x
        elif k == 3:
            y = np.tanh(y) - 0.1
        elif i % 50 == 4:
            y = y + np.sum(y) * 1e-3
        else:
            y = np.exp(-y * y)
    return np.sum(y)


@pytest.fixture
def small_kernels(monkeypatch):
    monkeypatch.setattr(schedule, "MAX_KERNEL_EQNS", 150)


def test_a_long_run_is_cut_into_kernels_of_bounded_size(small_kernels):
    x = np.linspace(-1.0, 1.0, 7)
    fn = dj.make_ir(dj.grad(mixed_chain(300)))(x)
    plan = schedule.plan_function(fn)
    assert len(plan.kernels) >= len(fn.eqns) // 150
    assert all(len(k.segment.eqns) <= 150 for k in plan.kernels)
    # every value a later kernel reads is an output of an earlier one, or an input
    made = {v for v in fn.inputs} | {v for v, _ in fn.consts}
    for k in plan.kernels:
        assert set(k.segment.live_in) <= made
        made |= set(k.segment.live_out)
    assert {a for a in fn.outputs if isinstance(a, Var)} <= made


@pytest.mark.parametrize("n", [300])
def test_values_of_a_program_split_into_kernels(small_kernels, n):
    x = np.linspace(-1.0, 1.0, 7)
    np.testing.assert_allclose(dj.jit(mixed_chain(n))(x), mixed_chain_numpy(x, n), rtol=1e-12)
    grad = dj.grad(mixed_chain(n))
    fn = dj.make_ir(grad)(x)
    expected = eval_function(fn, x)[0]
    np.testing.assert_allclose(dj.jit(grad)(x), expected, rtol=1e-12, atol=1e-300)
    h = 1e-6  # and the derivative itself, by central differences
    ref = mixed_chain_numpy
    fd = np.array([(ref(x + h * e, n) - ref(x - h * e, n)) / (2 * h) for e in np.eye(7)])
    np.testing.assert_allclose(expected, fd, rtol=1e-5, atol=1e-7)


def test_temporaries_share_buffers_in_a_long_kernel():
    # many short-lived temporaries reuse a few buffers (the free-slot search is by size)
    def f(x):
        y = x
        for _ in range(100):
            y = jnp.sin(y) + jnp.sum(jnp.cos(y)) * 1e-3
        return y
    plan = schedule.plan_function(dj.make_ir(f)(np.ones(9)))
    for k in plan.kernels:
        seg = k.segment
        assert len(seg.slot_bytes) < max(len(seg.temps), 8) // 4 + 8
        # slots of values alive at once are distinct: check each group's reads
        live_slot = {}
        for group in seg.groups:
            for v in group.values:
                if v in seg.slot_of:
                    live_slot[seg.slot_of[v]] = v
            for a in seg._reads(group.values):
                if a in seg.slot_of:
                    assert live_slot[seg.slot_of[a]] is a
    np.testing.assert_allclose(dj.jit(f)(np.ones(9)), _f_numpy(np.ones(9)), rtol=1e-12)


def _f_numpy(x):
    y = x
    for _ in range(100):
        y = np.sin(y) + np.sum(np.cos(y)) * 1e-3
    return y


def mixed_chain_tensor(t, n):
    """The same program on the imperative API (Tensors, backward())."""
    y = t
    for i in range(n):
        k = i % 5
        if k == 0:
            y = y.sin()
        elif k == 1:
            y = y * 1.0001
        elif k == 2:
            y = y.cos() + t
        elif k == 3:
            y = y.tanh() - 0.1
        elif i % 50 == 4:
            y = y + y.sum() * 1e-3
        else:
            y = (-y * y).exp()
    return y.sum()


def check_long_program(n, x):
    """jit, grad, jit(grad) and backward() of an n-operation program: values against NumPy,
    the derivative against central differences of the NumPy program, the rest against it."""
    np.testing.assert_allclose(dj.jit(mixed_chain(n))(x), mixed_chain_numpy(x, n), rtol=1e-10)
    g = dj.grad(mixed_chain(n))(x)
    h = 1e-6
    fd = np.array([(mixed_chain_numpy(x + h * e, n) - mixed_chain_numpy(x - h * e, n)) / (2 * h)
                   for e in np.eye(len(x))])
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dj.jit(dj.grad(mixed_chain(n)))(x), g, rtol=1e-10, atol=1e-300)
    t = dj.tensor(x, requires_grad=True)
    mixed_chain_tensor(t, n).backward()
    np.testing.assert_allclose(np.asarray(t.grad), g, rtol=1e-10, atol=1e-300)


def test_a_program_of_several_kernels_at_the_default_kernel_size():
    n = 600  # jit(grad) of it is ~2,900 equations: several kernels of MAX_KERNEL_EQNS
    x = np.linspace(-1.0, 1.0, 5)
    plan = schedule.plan_function(dj.make_ir(dj.grad(mixed_chain(n)))(x))
    assert len(plan.kernels) > 1
    check_long_program(n, x)


@pytest.mark.skipif(os.environ.get("DUALJIT_DEEP") != "1",
                    reason="DUALJIT_DEEP=1: 100,000 operations take minutes")
def test_a_100000_operation_program_under_the_default_recursion_limit():
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        check_long_program(100_000, np.linspace(-1.0, 1.0, 5))
    finally:
        sys.setrecursionlimit(old)


def test_a_long_chain_through_reversals_and_its_gradient_under_the_recursion_limit():
    def f(x):
        for _ in range(300):
            x = jnp.sin(x[::-1]) * 1.5
        return jnp.sum(x)

    x = np.linspace(-1.0, 1.0, 7)
    ys = [x]
    for _ in range(300):
        ys.append(np.sin(ys[-1][::-1]) * 1.5)
    g = np.ones_like(x)  # reverse mode by hand: y' = 1.5 sin(rev y), so dy = rev(1.5 cos(rev y) g')
    for y in reversed(ys[:-1]):
        g = (1.5 * np.cos(y[::-1]) * g)[::-1]
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        value = dj.jit(f)(x)
        grad = dj.jit(dj.grad(f))(x)
    finally:
        sys.setrecursionlimit(old)
    np.testing.assert_allclose(value, np.sum(ys[-1]), rtol=1e-12)
    np.testing.assert_allclose(grad, g, rtol=1e-9, atol=1e-300)
