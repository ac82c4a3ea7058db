"""backward() skips reading a graph's version checks when no version counter was written since
its oldest node was recorded (eager.tensor.last_version_change). These tests write counters by
every route, before and after the forward pass, and check that the skip never hides a change
(the version error) and never changes a gradient (against formulas written out here)."""

import numpy as np
import pytest

import dualjit as dj

VERSION_ERROR = "modified by an inplace operation"


def leaf(values):
    return dj.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def constant(values):
    return dj.tensor(np.asarray(values, dtype=np.float64))


def add_under_no_grad(t):
    with dj.no_grad():
        t += 1.0


def add_method_under_no_grad(t):
    with dj.no_grad():
        t.add_(1.0)


def setitem_under_no_grad(t):
    with dj.no_grad():
        t[0] = 7.0


def copy_under_no_grad(t):
    with dj.no_grad():
        t.copy_(dj.tensor(np.full(t.shape, 5.0)))


def through_a_view(t):
    with dj.no_grad():
        t[1:].mul_(3.0)


WRITES = [add_under_no_grad, add_method_under_no_grad, setitem_under_no_grad,
          copy_under_no_grad, through_a_view]


@pytest.mark.parametrize("write", WRITES)
def test_a_write_after_use_raises_for_a_leaf(write):
    w = leaf([1.0, 2.0, 3.0])
    loss = (w * w).sum()
    write(w)
    with pytest.raises(RuntimeError, match=VERSION_ERROR):
        loss.backward()


@pytest.mark.parametrize("write", WRITES)
def test_a_write_after_use_raises_for_a_constant_tensor(write):
    w, c = leaf([1.0, 2.0, 3.0]), constant([4.0, 5.0, 6.0])
    loss = (w * c).sum()
    write(c)
    with pytest.raises(RuntimeError, match=VERSION_ERROR):
        loss.backward()


@pytest.mark.parametrize("write", WRITES)
def test_a_write_to_a_saved_intermediate_raises(write):
    w = leaf([1.0, 2.0, 3.0])
    h = w * 2.0
    loss = (h * h).sum()
    write(h)
    with pytest.raises(RuntimeError, match=VERSION_ERROR):
        loss.backward()


@pytest.mark.parametrize("write", WRITES)
def test_a_write_before_use_gives_the_gradient_of_the_new_values(write):
    w, c = leaf([1.0, 2.0, 3.0]), constant([4.0, 5.0, 6.0])
    write(c)  # (then the graph's nodes are all newer than the last write: the skip applies)
    expected_c = c.numpy().copy()
    loss = (w * c * w).sum()
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), 2.0 * expected_c * np.array([1.0, 2.0, 3.0]))


def test_an_accumulated_grad_used_in_a_graph_then_accumulated_again_raises():
    w, v = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (w * w).sum().backward()
    g = w.grad  # (2w, written in place by the next accumulation)
    out = (g * v).sum()
    (w * w).sum().backward()
    with pytest.raises(RuntimeError, match=VERSION_ERROR):
        out.backward()


def test_a_write_in_one_step_does_not_leak_into_the_next_steps_gradient():
    # A training loop: the parameters are written in place between steps, before each forward.
    x = np.linspace(-1.0, 1.0, 5)
    w = leaf([0.5, -0.25])
    for _ in range(3):
        a, b = w.detach().numpy().copy()
        loss = ((w[0] + w[1] * constant(x)) ** 2).sum()
        loss.backward()
        r = a + b * x
        np.testing.assert_allclose(w.grad.numpy(), [2.0 * r.sum(), 2.0 * (r * x).sum()])
        with dj.no_grad():
            w -= 0.1 * w.grad
            w.grad = None


# -- the operators' per-dtype cache of recorded Functions (False: a dtype not recorded) --------

@pytest.mark.parametrize("dtype", [dj.float32, dj.float64])
def test_an_operator_records_each_float_dtype_after_an_integer_use_of_the_same_shapes(dtype):
    ints = dj.tensor(np.array([1, 2, 3], dtype=np.int32))
    assert (ints * ints).grad_fn is None and (ints * ints).numpy().tolist() == [1, 4, 9]
    x = dj.tensor(np.array([1.0, 2.0, 3.0]), dtype=dtype, requires_grad=True)
    y = dj.tensor(np.array([0.5, -2.0, 4.0]), dtype=dtype)
    out = x * y - y * x * x
    assert out.grad_fn is not None and out.dtype == dtype
    out.sum().backward()
    xv, yv = np.array([1.0, 2.0, 3.0]), np.array([0.5, -2.0, 4.0])
    np.testing.assert_allclose(x.grad.numpy().astype(np.float64), yv - 2.0 * yv * xv,
                               rtol=1e-6)


def test_an_operator_under_no_grad_then_with_grad_records_the_second_time():
    x, y = leaf([1.0, 2.0]), constant([3.0, 4.0])
    with dj.no_grad():
        assert (x * y).grad_fn is None
    out = (x * y).sum()
    out.backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 4.0])
