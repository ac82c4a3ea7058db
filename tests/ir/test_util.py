"""List helpers and operand layouts; the control-flow impls run their sub-Functions through a
given runner (the one host interpreter of cond, while and scan)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dualjit import lax
from dualjit.ir import impl_rules
from dualjit.ir import primitives as P
from dualjit.ir.interpreter import eval_function
from dualjit.ir.util import (
    cond_operands,
    merge_lists,
    partition_list,
    scan_operands,
    scan_results,
    split_list,
    while_operands,
)
from dualjit.tracer import make_ir


@given(st.lists(st.integers(0, 4), max_size=4), st.integers(0, 5))
def test_split_list_concatenates_back(sizes, extra):
    xs = list(range(sum(sizes) + extra))
    pieces = split_list(xs, sizes)
    assert len(pieces) == len(sizes) + 1
    assert [len(p) for p in pieces[:-1]] == sizes and len(pieces[-1]) == extra
    assert sum(pieces, []) == xs


def test_split_list_rejects_too_few_items():
    with pytest.raises(ValueError, match="need 5 items, got 3"):
        split_list([1, 2, 3], [2, 3])


@given(st.lists(st.booleans(), max_size=8))
def test_partition_and_merge_are_inverses(flags):
    xs = [f"x{i}" for i in range(len(flags))]
    falses, trues = partition_list(flags, xs)
    assert falses == [x for x, f in zip(xs, flags) if not f]
    assert trues == [x for x, f in zip(xs, flags) if f]
    assert merge_lists(flags, falses, trues) == xs


def test_merge_lists_checks_lengths():
    with pytest.raises(ValueError):
        merge_lists([True, False], [1], [])


def test_operand_views_name_the_groups():
    assert cond_operands(["i", "a", "b"]) == ("i", ["a", "b"])
    assert while_operands(list("ABcdef"), 1, 2) == (["A"], ["B", "c"], ["d", "e", "f"])
    assert scan_operands(list("cCkxy"), 2, 1) == (["c", "C"], ["k"], ["x", "y"])
    assert scan_results(list("kKy"), 2) == (["k", "K"], ["y"])


def _only_eqn(fn, prim):
    (eqn,) = [e for e in fn.eqns if e.primitive is prim]
    return eqn


def _counting_runner(calls):
    def run(fn, *args):
        calls.append(fn)
        return eval_function(fn, *args)
    return run


def test_control_flow_impls_run_sub_functions_through_the_given_runner():
    def f(x):
        y = lax.fori_loop(0, 3, lambda i, c: c * 2.0 + x, x)
        z = lax.while_loop(lambda c: c < 100.0, lambda c: c * 3.0, y)
        return lax.cond(z > 50.0, lambda v: v + 1.0, lambda v: v - 1.0, z)

    x = np.float64(0.5)
    fn = make_ir(f)(x)
    # run each control-flow equation on chosen operands through a counting runner
    scan = _only_eqn(fn, P.scan_p)
    consts, carry, xs = scan_operands(scan.inputs, scan.params["num_consts"],
                                      scan.params["num_carry"])
    assert (len(consts), len(carry), len(xs)) == (1, 2, 0)  # captured x; carry (i, val)
    calls = []
    outs = impl_rules[P.scan_p](x, np.int64(0), x, **scan.params,
                                run_function=_counting_runner(calls))
    assert len(calls) == 3 and all(c is scan.params["body"] for c in calls)
    assert np.allclose(outs[1], 0.5 * 8 + 0.5 * 7)  # x*8 + x*(4+2+1)
    cond = _only_eqn(fn, P.cond_p)
    calls = []
    impl_rules[P.cond_p](np.int32(7), np.float64(1.0), branches=cond.params["branches"],
                         run_function=_counting_runner(calls))
    assert calls == [cond.params["branches"][-1]]  # index 7 clamps to the last branch
    loop = _only_eqn(fn, P.while_p)
    calls = []
    (final,) = impl_rules[P.while_p](np.float64(2.0), **loop.params,
                                     run_function=_counting_runner(calls))
    assert final == 162.0 and len(calls) == 2 * 4 + 1  # 4 bodies, 5 conds
