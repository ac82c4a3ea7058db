"""Tracing: pytrees, make_ir, ConcretizationError, weak types, errors of bad inputs."""

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
        dj.jit(lambda x: x)(np.array(["2020-01-01"], dtype="datetime64[D]"))
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
