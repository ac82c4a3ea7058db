"""Tracing: pytrees, make_ir, ConcretizationError, static_argnums, the jit cache, weak types."""

import collections
import dataclasses

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp
from dualjit import lax

Point = collections.namedtuple("Point", "x y")


@dj.register_dataclass
@dataclasses.dataclass
class Params:
    w: object
    b: object


class Pair:
    def __init__(self, a, b):
        self.a, self.b = a, b


dj.register_pytree_node(Pair, lambda p: ([p.a, p.b], None), lambda _, kids: Pair(*kids))


def test_pytrees_round_trip():
    tree = {"a": (1, [2, None, Point(3, 4)]), "b": Params(5, Pair(6, 7))}
    leaves, treedef = dj.tree_flatten(tree)
    assert leaves == [1, 2, 3, 4, 5, 6, 7]
    back = dj.tree_unflatten(treedef, leaves)
    assert back["a"] == (1, [2, None, Point(3, 4)])
    assert back["b"].w == 5 and back["b"].b.b == 7
    doubled = dj.tree_map(lambda v: v * 2, tree)
    assert dj.tree_leaves(doubled) == [2, 4, 6, 8, 10, 12, 14]
    with pytest.raises(ValueError, match="structure"):
        dj.tree_map(lambda a, b: a, (1, 2), [1, 2])


def test_make_ir_over_pytrees_with_captured_consts():
    table = np.array([1.0, 2.0, 3.0])

    def f(p, pt):
        return {"out": p.w * table + p.b, "sum": pt.x + pt.y}

    fn = dj.make_ir(f)(Params(np.ones(3), 0.5), Point(1.0, 2.0))
    assert len(fn.consts) == 1 and fn.consts[0][1].tolist() == [1.0, 2.0, 3.0]
    assert [str(t) for t in fn.in_types] == ["f64[3]", "f64[]", "f64[]", "f64[]"]
    out = dj.jit(f)(Params(np.ones(3), 0.5), Point(1.0, 2.0))
    np.testing.assert_allclose(out["out"], [1.5, 2.5, 3.5])
    assert float(out["sum"]) == 3.0


@pytest.mark.parametrize("body,operation", [
    (lambda x: 1.0 if x > 0 else 2.0, "bool()"),
    (lambda x: float(x), "float()"),
    (lambda x: int(x), "int()"),
    (lambda x: [x for _ in range(3) if x][0], "bool()"),
])
def test_concretization_error_names_operation_line_and_fixes(body, operation):
    with pytest.raises(dj.ConcretizationError) as info:
        dj.jit(body)(1.0)
    message = str(info.value)
    assert operation in message and "test_tracing.py" in message
    assert "lax.cond" in message and "static_argnums" in message and "while_loop" in message
    with pytest.raises(dj.ConcretizationError):
        dj.make_ir(body)(1.0)


def test_python_control_flow_works_in_grad_outside_jit():
    def f(x):
        if x > 0:
            return x ** 2
        return -x

    assert float(dj.grad(f)(3.0)) == 6.0 and float(dj.grad(f)(-3.0)) == -1.0
    with pytest.raises(dj.ConcretizationError):
        dj.jit(dj.grad(f))(3.0)


def test_static_argnums_and_cache_counts_traces():
    traces = []

    def f(x, n):
        traces.append(1)
        return x * n

    g = dj.jit(f, static_argnums=1)
    g(np.ones(3), 2)
    g(np.ones(3) * 5, 2)
    assert len(traces) == 1
    g(np.ones(3), 3)
    g(np.ones(4), 3)
    g(np.ones(4, np.float32), 3)
    assert len(traces) == 4
    np.testing.assert_allclose(g(np.ones(2), 7), [7.0, 7.0])
    with pytest.raises(TypeError, match="not hashable"):
        g(np.ones(2), [1])


def test_lower_text_equals_make_ir():
    def f(x):
        return jnp.sum(jnp.exp(x) * 2.0)

    x = np.ones((2, 2), np.float32)
    assert dj.jit(f).lower(x).as_text() == dj.make_ir(f)(x).text


def test_weak_types():
    x32 = np.ones(3, np.float32)
    assert dj.jit(lambda x: x * 2.0)(x32).dtype == np.float32
    assert dj.jit(lambda x: x * 2)(x32).dtype == np.float32
    assert dj.jit(lambda x: x + np.ones(3))(x32).dtype == np.float64
    assert dj.jit(lambda x: x + 1.5)(np.ones(3, np.int32)).dtype == np.float64
    out = dj.jit(lambda x: lax.fori_loop(0, 3, lambda i, c: c + jnp.take(x, i), 0.0))(x32)
    assert out.dtype == np.float32
    assert np.asarray(dj.jit(lambda x: x)(0.5)).dtype == np.float64


def test_bad_inputs_give_clear_errors():
    with pytest.raises(TypeError, match="not supported"):
        dj.jit(lambda x: x)(np.array([1 + 2j]))
    with pytest.raises(TypeError, match="argument"):
        dj.jit(lambda x: x)("hello")
    with pytest.raises(TypeError, match="object"):
        dj.make_ir(lambda x: x)(np.array([object()]))
    with pytest.raises(ValueError, match=r"add: shapes \(3,\) and \(4,\) do not broadcast"):
        dj.jit(lambda a, b: jnp.add(a, b))(np.ones(3), np.ones(4))


def test_escaped_tracer_is_reported():
    from dualjit.tracer import EscapedTracerError

    leaked = []
    dj.jit(lambda x: leaked.append(x) or x)(1.0)
    with pytest.raises(EscapedTracerError):
        dj.jit(lambda y: y + leaked[0])(1.0)


def test_repeat_calls_with_parameter_tuples_match_the_first_call():
    # The second call goes through the dispatch fast path (tuples of arrays, captured
    # constants); the results must equal a fresh trace-and-run of the same function.
    data = np.linspace(-1, 1, 50)

    def step(p, scale):
        a, b = p
        g = dj.grad(lambda q: jnp.sum((q[0] + q[1] * data) ** 2))(p)
        return (a - scale * g[0], [b - scale * g[1], a * b])

    jitted = dj.jit(step)
    p = (np.float64(0.3), np.float64(-0.2))
    first = jitted(p, 0.1)
    again = jitted(p, 0.1)
    fresh = dj.jit(step)(p, 0.1)
    for x, y, z in zip(dj.tree_leaves(first), dj.tree_leaves(again), dj.tree_leaves(fresh)):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)
    assert isinstance(again, tuple) and isinstance(again[1], list)
    # a different structure or shape is a different entry, not a wrong hit
    three = jitted([np.float64(0.3), np.float64(-0.2)], 0.1)
    np.testing.assert_allclose(three[0], first[0])
    with pytest.raises(ValueError, match="do not broadcast"):
        jitted((np.ones(2), np.ones(3)), 0.1)


def test_float_arguments_read_in_place_match_the_array_path():
    # one float64 scalar argument: repeat calls pass the float object to native code without
    # making an array of it; results must equal those for the same value as a 0-d array
    f = dj.jit(lambda x: jnp.sin(x) * x + jnp.where(x > 0, 1.0, -0.5))
    g = dj.jit(lambda x: jnp.sin(x) * x + jnp.where(x > 0, 1.0, -0.5))
    values = [0.0, -0.0, 1.5, -2.25, 1e-310, 1e300, np.inf, -np.inf, np.nan, 3.0]
    f(1.0)
    assert f._float_entry is not None
    for v in values:
        for arg in (v, np.float64(v)):
            got, want = f(arg), g(np.asarray(v))
            assert type(got) is np.ndarray and got.dtype == np.float64 and got.shape == ()
            np.testing.assert_array_equal(got, want)
            assert np.signbit(got) == np.signbit(want)
