"""Plans without LLVM: fusion groups, buffers, host steps, BLAS, threads, entries, printing."""

import numpy as np
from hypothesis import given

import dualjit as dj
import dualjit.numpy as jnp
from dualjit import lax
from dualjit.codegen import blas, schedule
from dualjit.codegen.schedule import FAST, FAST_CHECKED, LIBM, LOOP, REDUCE, ROOT, plan_function
from dualjit.ir import Var
from dualjit.ir import primitives as P

from ..strategies import programs
from . import run_python


def plan(f, *args):
    return plan_function(dj.make_ir(f)(*args))


def only_kernel(p):
    assert p.host_steps == [] and len(p.kernels) == 1, str(p)
    return p.kernels[0].segment


def test_an_elementwise_chain_and_its_sum_are_one_loop_without_buffers():
    x = np.linspace(0, 1, 2000)
    seg = only_kernel(plan(lambda x: jnp.sum(jnp.sin(x) * 2.0 + jnp.exp(-x * x) * x ** 3), x))
    assert seg.temps == [] and seg.slot_bytes == []
    (group,) = seg.groups
    assert group.kind == REDUCE and group.eqns[0].primitive is P.reduce_sum_p
    assert group.math == FAST_CHECKED  # sin may meet a large argument: a libm rerun
    computed = {e.primitive for e in seg.fused_into(group)}
    assert {P.sin_p, P.exp_p, P.mul_p, P.add_p, P.integer_pow_p} <= computed


def test_math_mode_follows_loop_size_and_range_limited_functions():
    def group_math(f, n):
        return [g.math for g in only_kernel(plan(f, np.ones(n))).groups]
    assert group_math(lambda x: jnp.exp(x) * 2.0, 100) == [LIBM]
    assert group_math(lambda x: jnp.exp(x) * 2.0, 5000) == [FAST]
    assert group_math(lambda x: jnp.cos(x) * 2.0, 5000) == [FAST_CHECKED]


def test_sibling_reductions_share_a_loop_and_keep_their_input_in_registers():
    x = np.linspace(-3, 3, 2000)

    def loss(p):
        a, b, c, d = p
        return jnp.sum((a + b * x + c * x ** 2 + d * x ** 3 - np.sin(x)) ** 2)

    seg = only_kernel(plan(dj.grad(loss), (0.1, 0.2, 0.3, 0.4)))
    assert seg.temps == []
    (group,) = seg.groups
    assert group.kind == REDUCE and len(group.eqns) == 4  # four sums, one pass over the data


def test_a_reduction_read_by_its_sibling_gets_its_own_loop():
    seg = only_kernel(plan(lambda x: jnp.max(x - jnp.mean(x)), np.ones(100)))
    kinds = [(g.kind, [e.primitive for e in g.eqns]) for g in seg.groups]
    assert kinds[0] == (REDUCE, [P.reduce_sum_p])
    assert kinds[-1] == (REDUCE, [P.reduce_max_p])


def test_a_value_two_loops_read_is_stored_once():
    x = np.ones((30, 30))
    seg = only_kernel(plan(lambda x: (jnp.exp(x)[:, :5] * 2.0, jnp.exp(x)[:3] + 1.0), x))
    (stored,) = seg.temps  # exp(x), read by the loops of both outputs
    assert seg.producer[stored].primitive is P.exp_p
    assert [(g.kind, g.values[0].type.shape) for g in seg.groups] == [
        (LOOP, (30, 30)), (LOOP, (30, 5)), (LOOP, (3, 30))]


def test_a_value_used_twice_in_one_loop_stays_in_registers():
    seg = only_kernel(plan(lambda x: jnp.sin(x) * jnp.sin(x) + jnp.sin(x), np.ones(50)))
    assert seg.temps == [] and len(seg.groups) == 1


def _lifetimes(seg):
    """Independently of the planner: (first group writing, last group reading) per temporary."""
    start, end = {}, {}
    for i, group in enumerate(seg.groups):
        for e in seg.fused_into(group):
            for a in e.inputs:
                if a in seg.slot_of:
                    end[a] = i
            for v in e.outputs:
                start.setdefault(v, i)
    return {v: (start[v], max(start[v], end.get(v, start[v]))) for v in seg.temps}


def _assert_slots_respect_lifetimes(seg):
    lives = _lifetimes(seg)
    for v in seg.temps:
        size = v.type.size * v.type.dtype.np.itemsize
        assert seg.slot_bytes[seg.slot_of[v]] >= size
        for w in seg.temps:
            if v is not w and seg.slot_of[v] == seg.slot_of[w]:
                (a, b), (c, d) = lives[v], lives[w]
                assert b < c or d < a, "two live temporaries share a buffer"


def test_temporaries_with_disjoint_lifetimes_share_buffers():
    def f(x):
        for _ in range(6):
            x = jnp.sin(x) - jnp.mean(jnp.sin(x))
        return jnp.sum(x)

    p = plan(dj.grad(f), np.linspace(0, 1, 1000))
    for kernel in p.kernels:
        seg = kernel.segment
        _assert_slots_respect_lifetimes(seg)
    planned = sum(sum(k.segment.slot_bytes) for k in p.kernels)
    separate = sum(v.type.size * v.type.dtype.np.itemsize for k in p.kernels
                   for v in k.segment.temps)
    assert planned < separate / 2


@given(programs())
def test_random_programs_plan_every_equation_once_and_respect_lifetimes(program):
    f, args, _ = program
    for fn in (dj.make_ir(f)(*args), dj.make_ir(dj.grad(f, argnums=(0, 1)))(*args)):
        p = plan_function(fn)
        planned = [e for k in p.kernels for e in k.segment.eqns] + [h.eqn for h in p.host_steps]
        assert sorted(map(id, planned)) == sorted(map(id, fn.eqns))
        for kernel in p.kernels:
            seg = kernel.segment
            written = [v for g in seg.groups for v in g.values]
            assert sorted(map(id, written)) == sorted(map(id, seg.materialized))
            assert set(seg.live_out) <= set(seg.materialized)
            _assert_slots_respect_lifetimes(seg)


def test_which_kernels_split_across_threads():
    n = schedule.PARALLEL_MIN_ELEMENTS * 2
    flat = plan(lambda x: (jnp.sin(x) * 2.0, jnp.sum(x), jnp.max(x)), np.ones(n)).kernels[0].flat
    assert flat is not None and flat.n == n and flat.combine == [None, "sum", "max"]
    not_split = [
        plan(lambda x: x + x.T, np.ones((600, 600))),  # reads across indices
        plan(lambda x: x - jnp.mean(x), np.ones(n)),  # a reduction read inside the kernel
        plan(lambda x: x * 2.0, np.ones(1000)),  # too small to pay for threads
    ]
    assert all(k.flat is None for p in not_split for k in p.kernels)


def test_products_call_gemm_when_large_loop_when_small_and_numpy_when_integer(monkeypatch):
    big = plan(lambda a, b: jnp.tanh(a @ b), np.ones((70, 40)), np.ones((40, 90)))
    small = plan(lambda a, b: a @ b, np.ones((3, 4)), np.ones((4, 5)))
    (product,) = [g for g in small.kernels[0].segment.groups if g.kind == ROOT]
    assert product.library is None  # native loops
    if blas.gemms():
        (product,) = [g for g in big.kernels[0].segment.groups if g.kind == ROOT]
        assert product.library == "gemm" and big.host_steps == []
        batched = plan(jnp.matmul, np.ones((4, 64, 64)), np.ones((4, 64, 64)))
        (product,) = [g for g in batched.kernels[0].segment.groups if g.kind == ROOT]
        assert product.library == "gemm" and batched.host_steps == []
        # contracting axes 0 and 2 of the lhs are not evenly spaced: a transposed copy first
        interleaved = plan(lambda a, b: lax.dot_general(a, b, (((0, 2), (0, 1)), ((), ()))),
                           np.ones((16, 64, 16)), np.ones((16, 16, 64)))
        assert interleaved.host_steps == [] and [
            e.primitive for e in interleaved.kernels[0].segment.eqns] == [P.transpose_p,
                                                                           P.dot_general_p]
    integer = plan(jnp.matmul, np.ones((4, 64, 64), np.int64), np.ones((4, 64, 64), np.int64))
    (step,) = integer.host_steps
    assert step.eqn.primitive is P.dot_general_p and "matmul" in step.reason
    monkeypatch.setattr(blas, "_found", {})  # a numpy without OpenBLAS
    no_blas = plan(lambda a, b: jnp.tanh(a @ b), np.ones((70, 40)), np.ones((40, 90)))
    assert [h.eqn.primitive for h in no_blas.host_steps] == [P.dot_general_p]


def test_control_flow_is_native_with_planned_bodies_or_a_host_step_with_a_reason():
    def loop(x):
        return lax.fori_loop(0, 10, lambda i, c: c * 0.9 + jnp.sin(x), x)

    seg = only_kernel(plan(loop, np.ones(7)))
    (scan,) = [g for g in seg.groups if g.kind == ROOT]
    assert scan.eqns[0].primitive is P.scan_p
    ((body_fn, body),) = scan.bodies
    assert body_fn is scan.eqns[0].params["body"] and body.groups

    @dj.custom_jvp
    def softplus(x):
        return jnp.log1p(jnp.exp(x))
    softplus.defjvp(lambda primals, tangents: (softplus(primals[0]),
                                               tangents[0] * dj.nn.sigmoid(primals[0])))
    custom = plan(lambda x: softplus(x) * 2.0, np.ones(3))
    (step,) = custom.host_steps
    assert step.eqn.primitive is P.custom_jvp_call_p and "no native lowering" in step.reason
    inside = plan(lambda x: lax.fori_loop(0, 3, lambda i, c: softplus(c), x), np.ones(3))
    (step,) = inside.host_steps
    assert step.eqn.primitive is P.scan_p and "custom_jvp_call runs on the host" in step.reason
    huge = plan(lambda x: lax.fori_loop(0, 3, lambda i, c: c * 2.0, x), np.ones(200_000))
    (step,) = huge.host_steps
    assert "stack" in step.reason


def test_gil_hand_over_codegen_level_and_float_entry():
    tiny = plan(lambda x: x * 2.0 + 1.0, 1.5)
    assert not tiny.release_gil and tiny.codegen_level == 0 and tiny.kernels[0].float_entry
    big = plan(lambda x: x * 2.0 + 1.0, np.ones(100_000))
    assert big.release_gil and big.codegen_level == 3 and not big.kernels[0].float_entry
    looping = plan(lambda x: lax.while_loop(lambda c: c < 10.0, lambda c: c + 1.0, x), 1.5)
    assert looping.release_gil and looping.codegen_level == 3
    # a small result of a large operand is not a small function (a sum, a kernel gradient)
    assert plan(lambda x: (x * x).sum(), np.ones(100_000)).codegen_level == 3
    assert not plan(lambda x: x * 2.0, np.float32(1.5)).kernels[0].float_entry
    assert not plan(lambda x, y: x * y, 1.5, 2.5).kernels[0].float_entry


def test_the_plan_prints_with_the_names_of_the_ir_text():
    x = np.ones(2000)
    fn = dj.make_ir(lambda x: jnp.sum(jnp.sin(x) * x) + jnp.max(x))(x)
    text = str(plan_function(fn))
    assert text.startswith("plan: 1 kernel, 0 host steps")
    for line in fn.text.splitlines()[1:-1]:  # every equation appears, as the IR prints it
        name = line.split(":")[0].strip()
        assert f"{name} = " in text, (name, text)
    assert "reduction loop over f64[2000]" in text and "math: fast" in text
    lowered = dj.jit(lambda x: jnp.sum(jnp.sin(x) * x) + jnp.max(x)).lower(x)
    assert str(lowered.plan()) == text


def test_names_match_the_printer_for_constants_and_bodies():
    w = np.arange(20.0)
    fn = dj.make_ir(lambda x: lax.fori_loop(0, 2, lambda i, c: c * w, x))(np.ones(20))
    from dualjit.ir.printer import var_names

    names = var_names(fn)
    header = fn.text.splitlines()[0]
    assert all(f"{names[v]}: " in header for v in fn.inputs)
    assert all(f"{names[v]}: {v.type} = const" in fn.text for v, _ in fn.consts)
    assert "body (" in str(plan_function(fn))


def test_schedule_imports_and_plans_without_llvmlite():
    program = (
        "import sys, importlib.abc\n"
        "class Refuse(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'llvmlite' or name.startswith('llvmlite.'):\n"
        "            raise ImportError('llvmlite is blocked')\n"
        "sys.meta_path.insert(0, Refuse())\n"
        "import numpy as np, dualjit as dj, dualjit.numpy as jnp\n"
        "from dualjit.codegen.schedule import plan_function\n"
        "fn = dj.make_ir(lambda a, b: dj.lax.fori_loop(0, 3, lambda i, c: jnp.tanh(c @ b), a))(\n"
        "    np.ones((70, 70)), np.ones((70, 70)))\n"
        "print(plan_function(fn))\n"
        "assert not any(m.startswith('llvmlite') for m in sys.modules)\n")
    assert run_python(program).startswith("plan: 1 kernel")


def test_every_var_of_a_group_is_materialized_in_emission_order():
    seg = only_kernel(plan(lambda x: (jnp.sin(x), jnp.sum(jnp.cos(x)), x * 3.0), np.ones(10)))
    order = [v for g in seg.groups for v in g.values]
    assert order == seg.materialized
    assert all(isinstance(v, Var) for v in order)


def test_range_limited_functions_are_the_ones_vecmath_range_checks():
    from dualjit.codegen import vecmath

    assert {p.name for p in schedule.RANGE_LIMITED} == vecmath.RANGE_REDUCED


def test_values_between_steps_are_freed_after_their_last_reader():
    @dj.custom_jvp
    def clip(x):
        return jnp.minimum(x, 1.0)
    clip.defjvp(lambda primals, tangents: (clip(primals[0]), tangents[0]))

    fn = dj.make_ir(lambda x: jnp.sum(clip(jnp.sin(x)) * 2.0) + jnp.sum(clip(x)))(np.ones(4))
    p = plan_function(fn)
    assert len(p.steps) > 2 and len(p.dead_after) == len(p.steps)
    for i, dead in enumerate(p.dead_after):
        for v in dead:
            assert v not in fn.outputs and v not in fn.inputs
            later = p.steps[i + 1:]
            assert all(v not in (s.segment.live_in if hasattr(s, "segment") else s.eqn.inputs)
                       for s in later)
    assert sum(map(len, p.dead_after)) > 0 and "then frees:" in str(p)


def _fusion_depth(seg):
    """Independently of the planner: the longest chain of values computed by recursion (a
    stored value is loaded, an anchor is found in a register: both end a chain)."""
    cut, depth = set(seg.materialized) | set(seg.anchors), {}
    for e in seg.eqns:
        d = 1 + max((depth.get(a, 0) for a in e.inputs if isinstance(a, Var)), default=0)
        for v in e.outputs:
            depth[v] = 0 if v in cut else d
    return max(depth.values(), default=0)


def _long_chain(x, link, n=300):  # (at most schedule.MAX_KERNEL_EQNS equations: one kernel)
    for _ in range(n):
        x = link(x)
    return x


def test_a_long_elementwise_chain_is_cut_by_anchors_kept_in_registers():
    # lower.py emits a fused value by recursion into its operands: the plan bounds the depth
    seg = only_kernel(plan(lambda x: _long_chain(x, lambda x: jnp.sin(x) * 1.5), np.ones(8)))
    assert _fusion_depth(seg) < schedule.MAX_FUSION_DEPTH
    assert seg.temps == [] and len(seg.anchors) >= 600 // schedule.MAX_FUSION_DEPTH
    (group,) = seg.groups
    assert [v for v in group.computed if v not in group.values] == seg.anchors
    assert "anchors in registers:" in str(plan(lambda x: _long_chain(x, jnp.sin), np.ones(8)))


def test_a_long_chain_through_index_changes_is_cut_into_stored_pieces():
    # a reversed operand is read at another index than its loop's: no register holds it there
    seg = only_kernel(plan(lambda x: _long_chain(x, lambda x: jnp.sin(x[::-1]) * 1.5),
                           np.ones(8)))
    assert _fusion_depth(seg) < schedule.MAX_FUSION_DEPTH
    assert len(seg.temps) >= 900 // schedule.MAX_FUSION_DEPTH and seg.anchors == []



def _reads_own_loop_elsewhere(seg, group):
    """Independently of the planner: values of `group` that the expression of another of its
    values reads at an index other than the loop's own (through gathers, slices, ...)."""
    members, stored, found = set(group.values), set(seg.materialized), set()
    for v in group.values:
        stack, seen = [(a, True) for a in seg.producer[v].inputs], set()
        while stack:
            a, own_index = stack.pop()
            if not isinstance(a, Var) or (a, own_index) in seen or a not in seg.producer:
                continue
            seen.add((a, own_index))
            if a in members and not own_index:
                found.add(a)
            if a not in stored:
                e = seg.producer[a]
                stack += [(b, own_index and e.primitive.elementwise) for b in e.inputs]
    return found


def test_a_value_read_at_another_index_is_loaded_from_an_earlier_loop():
    # in the gradient, each reversed value is stored (sin and cos read it): a later value of
    # the same loop reading it reversed would recompute the chain behind it, not load it
    seg = only_kernel(plan(dj.grad(lambda x: jnp.sum(_long_chain(
        x, lambda x: jnp.sin(x[::-1]) * 1.5, n=40))), np.ones(8)))
    loops = [g for g in seg.groups if g.kind == LOOP]
    assert len(loops) > 1
    assert all(_reads_own_loop_elsewhere(seg, g) == set() for g in loops)


def test_a_short_chain_needs_no_cut():
    short = only_kernel(plan(lambda x: jnp.sin(jnp.sin(x) * 1.5) * 1.5, np.ones(8)))
    assert short.temps == []
    assert short.anchors == []
