"""Every primitive's batching rule against a Python loop over the batch: values and gradients.

The sweep is generated from the primitive cases of tests/ir (one sample call per primitive):
each operand batched alone at every axis position, all batched at the front and at the back,
and (for float primitives) the vjp of the batched call against the per-member vjps.
"""

import numpy as np
import pytest

import dualjit as dj
from dualjit import ir
from dualjit.autodiff.jvp import zero_derivative
from dualjit.batching import batching_rules, vmap
from dualjit.ir import sub_functions
from dualjit.tracer import bind

from ..ir.test_primitives import CASES

SIZE = 3


def _member(arg, b):
    """Member b of a batch built from a sample operand: same values, differently arranged."""
    a = np.asarray(arg)
    if a.ndim:
        return np.roll(a.ravel(), b).reshape(a.shape)
    if a.dtype.kind == "f":
        return a + 0.25 * b
    if a.dtype.kind == "b":
        return a ^ bool(b % 2)
    return a + b


def _stacked(arg, axis):
    members = [_member(arg, b) for b in range(SIZE)]
    return np.stack(members, axis=axis)


def _loop(prim, params, args, axes):
    outs = []
    for b in range(SIZE):
        member = [np.take(a, b, axis=ax) if ax is not None else a for a, ax in zip(args, axes)]
        out = ir.impl_rules[prim](*member, **params)
        outs.append(out if prim.multiple_results else [out])
    return [np.stack([np.asarray(o[k]) for o in outs]) for k in range(len(outs[0]))]


def _patterns(args):
    """(axes per operand): each operand alone at each position, all at the front, all at the back."""
    n = len(args)
    seen = []
    for i, a in enumerate(args):
        for pos in range(np.ndim(a) + 1):
            seen.append(tuple(pos if j == i else None for j in range(n)))
    seen.append(tuple(0 for _ in args))
    seen.append(tuple(np.ndim(a) for a in args))
    return list(dict.fromkeys(seen))


# Primitives with sub-Functions in their params (control flow, custom rules) and iota (no
# operands) have their own tests.
SWEPT = {name: case for name, case in CASES.items()
         if case[1] and not sub_functions(ir.Eqn(case[0], [], [], case[2]))}


def _batched_call(prim, params, args, axes, jit=False):
    def call(*xs):
        out = bind(prim, *xs, **params)
        return tuple(out) if prim.multiple_results else (out,)
    f = vmap(call, in_axes=axes)
    return (dj.jit(f) if jit else f)(*[_stacked(a, ax) if ax is not None else a
                                        for a, ax in zip(args, axes)])


@pytest.mark.parametrize("name", sorted(SWEPT))
def test_batching_rule_matches_a_loop(name):
    prim, args, params, _ = SWEPT[name]
    args = [np.asarray(a) for a in args]
    for axes in _patterns(args):
        batched = [_stacked(a, ax) if ax is not None else a for a, ax in zip(args, axes)]
        expected = _loop(prim, params, batched, axes)
        got = _batched_call(prim, params, args, axes)
        for g, e in zip(got, expected):
            assert np.asarray(g).dtype == e.dtype, (name, axes)
            np.testing.assert_allclose(g, e, rtol=1e-12, equal_nan=True,
                                       err_msg=f"{name} with in_axes {axes}")


@pytest.mark.parametrize("name", sorted(SWEPT))
def test_batched_native_code_matches_a_loop(name):
    prim, args, params, _ = SWEPT[name]
    args = [np.asarray(a) for a in args]
    axes = tuple(np.ndim(a) for a in args)  # every operand batched at its last position
    batched = [_stacked(a, ax) for a, ax in zip(args, axes)]
    expected = _loop(prim, params, batched, axes)
    for g, e in zip(_batched_call(prim, params, args, axes, jit=True), expected):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12, equal_nan=True)


DIFFERENTIABLE = sorted(name for name, (prim, args, _, _) in SWEPT.items()
                        if prim not in zero_derivative
                        and any(np.asarray(a).dtype.kind == "f" for a in args)
                        and name not in ("rem",))  # rem's derivative jumps where members tie


def _random_cotangents(outs, rng):
    return tuple(rng.standard_normal(np.shape(o)).astype(np.asarray(o).dtype)
                 if np.asarray(o).dtype.kind == "f" else np.zeros_like(o) for o in outs)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_batched_gradient_matches_per_member_gradients(name):
    prim, args, params, _ = SWEPT[name]
    args = [np.asarray(a) for a in args]
    rng = np.random.default_rng(0)

    def f(*xs):
        out = bind(prim, *xs, **params)
        return tuple(out) if prim.multiple_results else (out,)
    for axes in [tuple(0 for _ in args)] + [p for p in _patterns(args) if None in p][:2]:
        batched = [_stacked(a, ax) if ax is not None else a for a, ax in zip(args, axes)]
        try:
            outs, pullback = dj.vjp(vmap(f, in_axes=axes), *batched)
        except TypeError as error:  # a primitive that refuses differentiation (nextafter)
            assert "is not differentiable" in str(error)
            return
        cts = _random_cotangents(outs, rng)
        got = pullback(cts)
        for i, (a, ax) in enumerate(zip(batched, axes)):
            if a.dtype.kind != "f":
                continue
            per_member = []
            for b in range(SIZE):
                member = [np.take(x, b, axis=d) if d is not None else x
                          for x, d in zip(batched, axes)]
                per_member.append(dj.vjp(f, *member)[1](tuple(c[b] for c in cts))[i])
            expected = (np.stack(per_member, axis=ax) if ax is not None
                        else np.sum(per_member, axis=0))
            np.testing.assert_allclose(got[i], expected, rtol=1e-10, atol=1e-12,
                                       err_msg=f"{name}: cotangent of operand {i}, axes {axes}")


def test_every_primitive_has_a_batching_rule_and_a_test():
    missing = sorted(p.name for p in ir.registry.values()
                     if p not in batching_rules and not getattr(p, "elementwise", False))
    from dualjit.ir.primitives import custom_lin_p
    if custom_lin_p not in batching_rules:
        missing.append(custom_lin_p.name)
    assert missing == [], f"primitives without a batching rule: {missing}"
    # Primitives the sweep cannot reach (sub-Functions in their params) have their own tests.
    own_tests = {"cond", "while", "scan", "custom_jvp_call", "custom_vjp_call", "custom_lin",
                 "iota", "checkpoint"}
    covered = {case[0].name for case in SWEPT.values()} | own_tests
    assert sorted(p.name for p in ir.registry.values() if p.name not in covered) == []


def test_patterns_cover_each_axis_position():
    assert _patterns([np.zeros((2, 3)), np.float64(1)]) == [
        (0, None), (1, None), (2, None), (None, 0), (0, 0), (2, 0)]
    assert _patterns([np.zeros(2)]) == [(0,), (1,)]


def test_loop_fallback_is_correct_and_reported(monkeypatch):
    from dualjit.batching import BatchingFallbackWarning, core
    from dualjit.ir import primitives as P

    monkeypatch.delitem(batching_rules, P.dot_general_p)
    monkeypatch.setattr(core, "_warned", set())
    a, b = np.arange(24.0).reshape(2, 3, 4), np.arange(8.0).reshape(4, 2)
    with pytest.warns(BatchingFallbackWarning, match="dot_general has no batching rule"):
        got = vmap(lambda x, y: x @ y, in_axes=(1, None))(a, b)
    np.testing.assert_allclose(got, np.stack([a[:, i] @ b for i in range(3)]))
    assert "scan" in dj.make_ir(vmap(lambda x, y: x @ y, in_axes=(1, None)))(a, b).text
