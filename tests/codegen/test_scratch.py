"""Kernel temporaries reused from call to call (callers.Scratch): a reused set must carry
nothing over, so every call of a compiled function with temporaries is checked against the
interpreter on fresh inputs, one after another and from several threads at once."""

import threading

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp
from dualjit import lax
from dualjit.codegen.callers import Scratch
from dualjit.ir import eval_function


def _attention_grads(q, k, v):
    def loss(q, k, v):
        scores = jnp.exp(q @ jnp.swapaxes(k, -1, -2) * 0.125)
        weights = scores / jnp.sum(scores, axis=-1, keepdims=True)
        return jnp.sum(jnp.tanh(weights @ v) ** 2)
    return dj.grad(loss, argnums=(0, 1, 2))(q, k, v)


def _conv_grads(x, w):
    def loss(x, w):
        y = lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)))
        return jnp.sum(jnp.sin(dj.nn.max_pool(y, 2)) ** 2)
    return dj.grad(loss, argnums=(0, 1))(x, w)


def _scan_sums(x):
    def body(carry, row):
        y = jnp.cos(row * carry[0]) + carry
        return y * 0.5, jnp.sum(y * y)
    return lax.scan(body, x[0], x)


CASES = {
    "attention": (_attention_grads, lambda r: [r.standard_normal((2, 3, 16, 8)) for _ in "qkv"]),
    "conv": (_conv_grads, lambda r: [r.standard_normal((3, 2, 10, 10)),
                                     r.standard_normal((4, 2, 3, 3))]),
    "scan": (_scan_sums, lambda r: [r.standard_normal((6, 40))]),
}


def _check(fn, jitted, args):
    expected = eval_function(dj.make_ir(fn)(*args), *args)
    got = jitted(*args)
    for a, b in zip(dj.tree_util.tree_leaves(got), expected):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("case", sorted(CASES))
def test_repeated_calls_match_the_interpreter(case):
    fn, inputs = CASES[case]
    rng = np.random.default_rng(7)
    jitted = dj.jit(fn)
    for _ in range(3):  # each call on new inputs: nothing of the last call's temporaries shows
        _check(fn, jitted, inputs(rng))


def test_concurrent_calls_match_the_interpreter():
    fn, inputs = CASES["attention"]
    jitted = dj.jit(fn)
    problems = [inputs(np.random.default_rng(s)) for s in range(6)]
    expected = [eval_function(dj.make_ir(fn)(*a), *a) for a in problems]
    errors = []

    def worker(i):
        try:
            for _ in range(4):
                for a, b in zip(jitted(*problems[i]), expected[i]):
                    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)
        except AssertionError as e:  # (reported below: pytest sees only the main thread)
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(problems))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_scratch_keeps_one_set_within_its_limit():
    small = Scratch([(1000, np.uint8), (24, np.float64)])
    first = small.take()
    assert [a.nbytes for a in first] == [1000, 192]
    small.give(first)
    assert small.take() is first  # reused
    assert small.take() is not first  # a concurrent call gets its own set
    small.give(first)
    small.give([np.empty(1000, np.uint8), np.empty(24)])  # only one set is kept
    assert small.take() is first and small.take() is not first
    big = Scratch([(Scratch.KEEP_MAX_BYTES + 1, np.uint8)])
    held = big.take()
    big.give(held)
    assert big.take() is not held  # too large to hold between calls
    unkept = Scratch([(1000, np.uint8)], keep=False)  # (a kernel among several)
    held = unkept.take()
    unkept.give(held)
    assert unkept.take() is not held
