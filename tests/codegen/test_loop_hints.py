"""Loop hints: a kernel of many loop nests keeps LLVM from unrolling (and, for small loops,
vectorizing) them, and still computes what the reference interpreter computes."""

import numpy as np

import dualjit as dj
import dualjit.numpy as jnp
from dualjit.codegen import schedule
from dualjit.codegen.lower import emit_module
from dualjit.codegen.runtime import CompiledFunction
from dualjit.codegen.schedule import FAST, LIBM, NO_UNROLL, PLAIN, TUNED, plan_function
from dualjit.ir.interpreter import eval_function


def chain(steps):
    """A step = a reduction then an elementwise update that reads it: two loop nests each."""
    def f(small, big):
        for k in range(steps):
            small = jnp.exp(small - jnp.max(small)) + 0.25 * k
            big = big * 0.5 - jnp.mean(big) + jnp.sum(small)
        return small, big
    return f


ARGS = (np.linspace(-2.0, 2.0, 2000), np.linspace(-1.0, 3.0, 5000))  # both >= FAST_MATH_MIN


def loop_hints(steps):
    """{(the group's loops are over the big argument, Group.loops)} and the small ones' math."""
    (kernel,) = plan_function(dj.make_ir(chain(steps))(*ARGS)).kernels
    big = {g: max(a.type.size for a in [*g.values, *g.eqns[0].inputs]) >= 5000
           for g in kernel.segment.groups}
    small_math = {g.math for g in kernel.segment.groups if not big[g]}
    return {(big[g], g.loops) for g in kernel.segment.groups}, small_math


def few(small, big):
    """At most MANY_LOOPS loop nests: max(small), exp(...) summed, and the update of big."""
    small = jnp.exp(small - jnp.max(small))
    return big * 0.5 + jnp.sum(small)


def test_a_kernel_of_few_loop_nests_leaves_llvm_its_loop_choices():
    (kernel,) = plan_function(dj.make_ir(few)(*ARGS)).kernels
    groups = [g for g in kernel.segment.groups if g.library is None]
    assert 1 < len(groups) <= schedule.MANY_LOOPS
    assert {(g.loops, g.math) for g in groups} == {(TUNED, FAST)}


def test_a_kernel_of_many_loop_nests_gets_plain_small_loops_and_no_unrolling():
    assert loop_hints(12) == ({(False, PLAIN), (True, NO_UNROLL)}, {LIBM})


def test_loops_of_at_least_unroll_min_elements_stay_tuned(monkeypatch):
    monkeypatch.setattr(schedule, "UNROLL_MIN_ELEMENTS", 5000)
    assert loop_hints(12)[0] == {(False, PLAIN), (True, TUNED)}


def test_hinted_loops_carry_llvm_loop_metadata_and_compute_the_interpreters_values():
    fn = dj.make_ir(chain(12))(*ARGS)
    text = str(emit_module(plan_function(fn), False))
    assert text.count("llvm.loop.unroll.disable") == 1  # one shared option node...
    assert text.count("!llvm.loop !") > 24  # ...named by every hinted loop's own node
    assert '!"llvm.loop.vectorize.enable", i1 0' in text
    native = CompiledFunction(fn)(*ARGS)
    for got, want in zip(native, eval_function(fn, *ARGS)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
