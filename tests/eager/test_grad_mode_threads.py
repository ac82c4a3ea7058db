"""Grad mode is per thread. The operators test a shared set of the threads that turned
recording off (eager.tensor.threads_without_grad) before reading their own thread's flag; these
tests turn recording off in one thread by every route while another records, and check what
each thread records (the recorded gradient against its formula)."""

import importlib
import threading

import numpy as np
import pytest

import dualjit as dj

eager_tensor = importlib.import_module("dualjit.eager.tensor")  # (the module, not dj.tensor)

X = np.array([1.0, -2.0, 0.5])


def _records(op):
    w = dj.tensor(X, requires_grad=True)
    out = op(w)
    return out.requires_grad and out.grad_fn is not None


OPS = [lambda w: w * w, lambda w: w * 2.0, lambda w: 3.0 - w, lambda w: w.exp(),
       lambda w: w.pow(2), lambda w: w.sum()]


def _off_by_context(body):
    with dj.no_grad():
        body()


def _off_by_call(body):
    dj.set_grad_enabled(False)
    try:
        body()
    finally:
        dj.set_grad_enabled(True)


def _off_by_decorator(body):
    dj.no_grad()(body)()


def _off_by_inference_mode(body):
    with dj.inference_mode():
        body()


ROUTES = [_off_by_context, _off_by_call, _off_by_decorator, _off_by_inference_mode]


@pytest.mark.parametrize("route", ROUTES)
def test_recording_off_in_one_thread_leaves_another_recording(route):
    inside, release = threading.Event(), threading.Event()
    seen = {}

    def other_thread():
        def body():
            seen["other"] = [_records(op) for op in OPS]
            inside.set()
            release.wait(10)
            seen["other_after_main"] = [_records(op) for op in OPS]
        route(body)
        seen["other_on_again"] = [_records(op) for op in OPS]

    thread = threading.Thread(target=other_thread)
    thread.start()
    assert inside.wait(10)
    assert threading.get_ident() not in eager_tensor.threads_without_grad
    assert eager_tensor.threads_without_grad  # (the other thread is in it)
    main = [_records(op) for op in OPS]
    w = dj.tensor(X, requires_grad=True)
    (w * w * 2.0).sum().backward()
    release.set()
    thread.join(10)
    assert main == [True] * len(OPS)
    np.testing.assert_allclose(w.grad.numpy(), 4 * X)
    assert seen["other"] == [False] * len(OPS)
    assert seen["other_after_main"] == [False] * len(OPS)
    assert seen["other_on_again"] == [True] * len(OPS)
    assert not eager_tensor.threads_without_grad


def test_nested_modes_restore_the_outer_one():
    with dj.no_grad():
        with dj.enable_grad():
            assert _records(OPS[0])
            with dj.no_grad():
                assert not _records(OPS[0])
            assert _records(OPS[1])
        assert not _records(OPS[1])
    assert _records(OPS[2])
    assert not eager_tensor.threads_without_grad


def test_a_thread_that_ends_with_recording_off_does_not_turn_it_off_elsewhere():
    ended = []

    def leave_off():
        dj.set_grad_enabled(False)  # never turned back on in this thread
        ended.append(threading.get_ident())

    thread = threading.Thread(target=leave_off)
    thread.start()
    thread.join(10)
    try:
        assert ended[0] in eager_tensor.threads_without_grad  # (the slow, exact test then)
        assert all(_records(op) for op in OPS)
        with dj.no_grad():
            assert not any(_records(op) for op in OPS)
        assert all(_records(op) for op in OPS)
    finally:
        eager_tensor.threads_without_grad.discard(ended[0])
