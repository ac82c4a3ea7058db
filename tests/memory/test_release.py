"""What a dropped jit function leaves behind, checked object by object (in this process)."""

import gc
import weakref

import numpy as np

import dualjit as dj
import dualjit.numpy as jnp
from dualjit.codegen import runtime


def _compiled_of(f):
    (entry,) = f._cache.values()
    return entry.compiled


def test_a_dropped_closure_frees_its_code_and_its_constants():
    big = np.arange(300_000.0)  # 2.4 MB: above what the reuse cache may keep
    f = dj.jit(lambda a: a + jnp.sum(big * big))
    np.testing.assert_allclose(f(np.ones(2)), 1 + np.sum(big * big))
    compiled = _compiled_of(f)
    frozen = next(a for _, a in compiled.function.consts if a.size == big.size)
    refs = [weakref.ref(x) for x in (compiled, compiled.compiled, frozen)]
    del f, compiled, frozen
    gc.collect()
    assert [r() for r in refs] == [None, None, None]  # CompiledFunction, its LLVM module, copy


def test_the_reuse_cache_is_bounded_and_holds_only_small_functions():
    for k in range(runtime.CACHE_SIZE + 8):
        dj.jit(lambda a, k=k: jnp.sin(a) * k + k * k)(np.ones(3))
    gc.collect()
    assert len(runtime._recent) <= runtime.CACHE_SIZE
    assert all(sum(a.nbytes for _, a in fn.consts) <= runtime.CACHE_CONST_BYTES
               for fn in runtime._recent)


def test_an_equal_program_reuses_the_compiled_code_while_it_is_held():
    x = np.ones(4)
    f = dj.jit(lambda a: jnp.cos(a) * 3.5)
    g = dj.jit(lambda a: jnp.cos(a) * 3.5)
    f(x), g(x)
    assert _compiled_of(f) is _compiled_of(g)


def test_function_keys_hold_digests_not_copies_of_constants():
    big = np.arange(100_000.0)
    fn = dj.make_ir(lambda a: a + jnp.sum(big))(np.ones(2))
    assert all(not isinstance(part, bytes) or len(part) <= 64
               for _, _, part in fn._key[1])
    same = dj.make_ir(lambda a: a + jnp.sum(big.copy()))(np.ones(2))
    other = big.copy()
    other[-1] += 1
    different = dj.make_ir(lambda a: a + jnp.sum(other))(np.ones(2))
    assert fn == same and hash(fn) == hash(same)
    assert fn != different


def test_compiled_code_dropped_in_a_reference_cycle_is_freed_without_a_crash():
    # The garbage collector finalizes a cycle's LLVM objects in any order; disposing a
    # module's context before the engine that owns the module deleted it twice (a segfault).
    # In a fresh interpreter, so that a crash fails this test instead of the run.
    from tests.codegen import run_python

    out = run_python("""
import gc, weakref
import numpy as np
import dualjit as dj
from dualjit.codegen.runtime import CompiledFunction

refs = []
for i in range(20):
    fn = dj.make_ir(lambda x: x * float(i) + 1.0)(np.ones(3))
    compiled = CompiledFunction(fn)
    assert np.array_equal(compiled(np.ones(3))[0], np.full(3, i + 1.0))
    refs.append(weakref.ref(compiled.compiled))
    cycle = [compiled]
    cycle.append(cycle)
    del compiled, cycle
    gc.collect()
print(sum(r() is None for r in refs))
""")
    assert out.split() == ["20"]  # every module freed, none twice
