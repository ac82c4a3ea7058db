"""Printer, parser, verifier and passes, on hand-written and random programs."""

import numpy as np
import pytest
from hypothesis import given

import dualjit as dj
import dualjit.numpy as jnp
from dualjit import lax
from dualjit.ir import Eqn, Function, IRError, TensorType, Var, eval_function, verify
from dualjit.ir import primitives as P
from dualjit.ir.parser import parse_function
from dualjit.ir.passes import cse, dce, fold_constants, simplify

from ..strategies import programs

GOLDEN = """def f(a: f32[3], b: f32[]) -> (f32[]):
  c: f32[3] = sin a
  d: f32[3] = mul c b
  e: f32[] = reduce_sum[axes=(0,)] d
  return e"""


def test_golden_text_matches_design_and_round_trips():
    fn = dj.make_ir(lambda a, b: jnp.sum(jnp.sin(a) * b))(np.ones(3, np.float32), np.float32(1))
    assert fn.text == GOLDEN
    assert parse_function(GOLDEN).text == GOLDEN
    assert parse_function(GOLDEN) == fn


def _examples():
    x = np.arange(5.0, dtype=np.float32)
    return [
        dj.make_ir(lambda x: lax.fori_loop(0, 5, lambda i, c: c * 2.0 + jnp.take(x, i), 0.0))(x),
        dj.make_ir(lambda x: lax.cond(x.sum() > 0, lambda a: a * 2, lambda a: -a, x))(x),
        dj.make_ir(dj.grad(lambda x: jnp.sum(jnp.tanh(x) ** 2)))(x),
        dj.make_ir(lambda x: x + np.arange(5.0, dtype=np.float32))(x),
        dj.make_ir(lambda x: x + np.arange(40.0, dtype=np.float32)[:5] * np.ones(5, np.float32))(x),
        dj.make_ir(lambda x: (jnp.outer(x, x).T @ x, jnp.max(x), x[::-1], x[np.arange(5) > 1]))(x),
        dj.make_ir(lambda x: lax.while_loop(lambda c: c[0] < 10.0, lambda c: (c[0] * 2, c[1] + 1),
                                            (x[0] + 1, 0)))(x),
    ]


@pytest.mark.parametrize("k", range(7))
def test_round_trip_of_control_flow_and_consts(k):
    fn = _examples()[k]
    big = [c for _, c in fn.consts if c.size > 16]
    back = parse_function(fn.text, big)
    assert back.text == fn.text and back == fn
    verify(back)


def test_parse_errors_are_clear():
    with pytest.raises(IRError, match="unknown primitive"):
        parse_function("def f(a: f32[]) -> (f32[]):\n  b: f32[] = frobnicate a\n  return b")
    with pytest.raises(IRError, match="bad type"):
        parse_function("def f(a: f33[]) -> (f32[]):\n  return a")


def test_verifier_catches_wrong_types_and_ssa_order():
    a, b, c = Var(TensorType("f32", (3,))), Var(TensorType("f32", (3,))), Var(TensorType("f64", (3,)))
    with pytest.raises(IRError, match="shape rule"):
        verify(Function([a], [], [Eqn(P.sin_p, [a], [c])], [c]))
    with pytest.raises(IRError, match="before it is defined"):
        verify(Function([a], [], [Eqn(P.add_p, [a, b], [c])], [c]))


@given(programs())
def test_random_programs_print_parse_and_survive_passes(program):
    f, args, _ = program
    fn = dj.make_ir(f)(*args)
    verify(fn)
    assert parse_function(fn.text, [c for _, c in fn.consts if c.size > 16]) == fn
    expected = eval_function(fn, *args)
    for transform in (dce, cse, fold_constants, simplify):
        out = verify(transform(fn))
        np.testing.assert_allclose(eval_function(out, *args)[0], expected[0], rtol=1e-6)


def test_cse_dce_and_folding_shrink_programs():
    def f(x):
        dead = jnp.exp(x)  # noqa: F841
        return jnp.sin(x) + jnp.sin(x) + (np.float32(2) * np.float32(3))

    from dualjit.tracer.make_ir import trace_pytree

    raw = trace_pytree(f, (np.ones(3, np.float32),)).function
    assert len(dce(raw).eqns) == len(raw.eqns) - 1
    assert sum(e.primitive.name == "sin" for e in cse(raw).eqns) == 1
    assert [e.primitive.name for e in simplify(raw).eqns] == ["sin", "add", "add"]
