"""codegen/fft.py: a batch of transforms split over threads gives NumPy's values bit for bit,
whatever the thread count and load reading; small or single transforms stay on one thread."""

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp
from dualjit.codegen import fft as host
from dualjit.codegen import parallel, threads

rng = np.random.default_rng(1617)


@pytest.fixture
def two_free_cores(monkeypatch):
    monkeypatch.setenv("DUALJIT_NUM_THREADS", "2")
    threads.set_load_reading(2)
    yield
    threads.set_load_reading(None)


@pytest.fixture
def counted_pool(monkeypatch):
    calls = []
    real_pool = parallel.pool

    def pool(workers):
        calls.append(workers)
        return real_pool(workers)

    monkeypatch.setattr(parallel, "pool", pool)
    return calls


CASES = [
    ("rfft", lambda x: jnp.fft.rfft(x), lambda x: np.fft.rfft(x), np.float64),
    ("irfft", lambda x: jnp.fft.irfft(x, n=4097), lambda x: np.fft.irfft(x, n=4097),
     np.complex128),
    ("fft float32", lambda x: jnp.fft.fft(x), lambda x: np.fft.fft(x), np.complex64),
    ("ifft2", lambda x: jnp.fft.ifft2(x), lambda x: np.fft.ifft2(x), np.complex128),
]


@pytest.mark.parametrize("name,f,reference,dtype", CASES, ids=[c[0] for c in CASES])
def test_split_batches_give_numpys_bits(two_free_cores, counted_pool, name, f, reference,
                                        dtype):
    shape = (3, 8, 64, 64) if name == "ifft2" else (5, 4, 4097)
    x = rng.standard_normal(shape) + (1j * rng.standard_normal(shape) if dtype != np.float64
                                      else 0)
    x = x.astype(dtype)
    got = dj.jit(f)(x)
    assert counted_pool, "the batch was not split"
    expected = reference(x)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    threads.set_load_reading(1)  # no free core: one thread, same bits
    np.testing.assert_array_equal(dj.jit(f)(x), got)


def test_small_batches_and_single_transforms_stay_on_one_thread(two_free_cores, counted_pool):
    small = rng.standard_normal((4, 100))
    np.testing.assert_array_equal(dj.jit(jnp.fft.rfft)(small), np.fft.rfft(small))
    single = rng.standard_normal(1 << 17)
    np.testing.assert_array_equal(dj.jit(jnp.fft.rfft)(single), np.fft.rfft(single))
    assert counted_pool == []


def test_worker_count_follows_the_policy(two_free_cores):
    assert host.workers_for(rows=8, points=1 << 20) == 2
    assert host.workers_for(rows=1, points=1 << 20) == 1
    assert host.workers_for(rows=8, points=1000) == 1
    threads.set_load_reading(1)
    assert host.workers_for(rows=8, points=1 << 20) == 1
