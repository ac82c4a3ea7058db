"""Tensor constructors with torch's signatures: tensor, zeros, arange, randn, *_like, ..."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import dtypes
from .tensor import Tensor, as_value, check_device, check_fill, make_tensor, shape_arg


class Generator:
    """A random number generator (torch.Generator); the global one is reseeded by
    manual_seed. Streams differ from PyTorch's: the distributions are the same."""

    def __init__(self, device: Any = "cpu"):
        check_device(device)
        self._rng = np.random.default_rng(0)
        self._seed = 0

    def manual_seed(self, seed: int) -> Generator:
        self._seed = int(seed)
        self._rng = np.random.default_rng(self._seed)
        return self

    def seed(self) -> int:
        self._seed = int(np.random.SeedSequence().entropy % (2 ** 63))
        self._rng = np.random.default_rng(self._seed)
        return self._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> Tensor:
        state = np.frombuffer(repr(self._rng.bit_generator.state).encode(), np.uint8)
        return make_tensor(state.astype(np.int64))

    def set_state(self, state: Tensor) -> None:
        import ast

        text = bytes(np.asarray(state.numpy(), np.uint8)).decode()
        self._rng.bit_generator.state = ast.literal_eval(text)


default_generator = Generator()


def rng(generator: Generator | None = None) -> np.random.Generator:
    from ..tracer.core import ConcretizationError, current_builder

    if current_builder() is not None:
        raise ConcretizationError("random numbers drawn while tracing (dualjit.compile or jit) "
                                  "would be fixed at trace time; draw them outside and pass "
                                  "them in (dropout does this by itself)")
    return (generator or default_generator)._rng


def manual_seed(seed: int) -> Generator:
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    return default_generator.get_state()


def set_rng_state(state: Tensor) -> None:
    default_generator.set_state(state)


def _make(value: np.ndarray, dtype: Any, requires_grad: bool, device: Any = None) -> Tensor:
    check_device(device)
    d = dtypes.to_numpy_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    t = make_tensor(np.asarray(value, dtype=d))
    return t.requires_grad_(True) if requires_grad else t


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:
    """A new leaf tensor with a copy of data (numbers, nested lists, arrays or tensors)."""
    check_device(device)
    t = make_tensor(as_value(data, dtype))
    return t.requires_grad_(True) if requires_grad else t


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """data as a tensor, sharing a NumPy array's memory when the dtype allows."""
    check_device(device)
    if isinstance(data, Tensor):
        return data if dtype is None else data.type(dtype)
    return make_tensor(as_value(data, dtype, copy=False))


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing the array's memory (changes to one show in the other)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    return make_tensor(as_value(array, None, copy=False))


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
          out: Any = None, layout: Any = None) -> Tensor:
    return _make(np.zeros(shape_arg(size)), dtype, requires_grad, device)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
         out: Any = None, layout: Any = None) -> Tensor:
    return _make(np.ones(shape_arg(size)), dtype, requires_grad, device)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
          out: Any = None, layout: Any = None, memory_format: Any = None) -> Tensor:
    return _make(np.zeros(shape_arg(size)), dtype, requires_grad, device)


def full(size: Any, fill_value: Any, dtype: Any = None, device: Any = None,
         requires_grad: bool = False, out: Any = None) -> Tensor:
    if dtype is None:
        dtype = dtypes.scalar_dtype(fill_value)
    check_fill(fill_value, dtypes.to_numpy_dtype(dtype), "full")
    return _make(np.full(shape_arg((size,)), fill_value), dtype, requires_grad, device)


def _like(t: Any, dtype: Any) -> tuple[tuple, Any]:
    value = t._value if isinstance(t, Tensor) else np.asarray(t)
    return value.shape, (value.dtype if dtype is None else dtype)


def zeros_like(input: Any, dtype: Any = None, device: Any = None,  # noqa: A002
               requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    shape, d = _like(input, dtype)  # (made in its dtype: no float64 array to convert)
    return _make(np.zeros(shape, dtypes.to_numpy_dtype(d)), d, requires_grad, device)


def ones_like(input: Any, dtype: Any = None, device: Any = None,  # noqa: A002
              requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    shape, d = _like(input, dtype)  # (made in its dtype: no float64 array to convert)
    return _make(np.ones(shape, dtypes.to_numpy_dtype(d)), d, requires_grad, device)


def empty_like(input: Any, dtype: Any = None, device: Any = None,  # noqa: A002
               requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    return zeros_like(input, dtype, device, requires_grad)


def full_like(input: Any, fill_value: Any, dtype: Any = None, device: Any = None,  # noqa: A002
              requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    shape, d = _like(input, dtype)
    return _make(np.full(shape, fill_value), d, requires_grad, device)


def rand_like(input: Any, dtype: Any = None, device: Any = None,  # noqa: A002
              requires_grad: bool = False, generator: Any = None) -> Tensor:
    shape, d = _like(input, dtype)
    return _make(rng(generator).random(shape), d, requires_grad, device)


def randn_like(input: Any, dtype: Any = None, device: Any = None,  # noqa: A002
               requires_grad: bool = False, generator: Any = None) -> Tensor:
    shape, d = _like(input, dtype)
    return _make(rng(generator).standard_normal(shape), d, requires_grad, device)


def randint_like(input: Any, low: int = 0, high: int | None = None,  # noqa: A002
                 dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    shape, d = _like(input, dtype)
    if high is None:
        low, high = 0, low
    return _make(rng().integers(low, high, shape), d, requires_grad, device)


def randn(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
          generator: Any = None, out: Any = None) -> Tensor:
    return _make(rng(generator).standard_normal(shape_arg(size)), dtype, requires_grad, device)


def rand(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
         generator: Any = None, out: Any = None) -> Tensor:
    return _make(rng(generator).random(shape_arg(size)), dtype, requires_grad, device)


def randint(low: int, high: Any = None, size: Any = None, *, dtype: Any = None,
            device: Any = None, requires_grad: bool = False, generator: Any = None) -> Tensor:
    """randint(high, size) or randint(low, high, size); int64 unless dtype says otherwise."""
    if size is None:
        low, high, size = 0, low, high
    values = rng(generator).integers(low, high, shape_arg((size,)))
    return _make(values, dtype or dtypes.int64, requires_grad, device)


def randperm(n: int, *, dtype: Any = None, device: Any = None, requires_grad: bool = False,
             generator: Any = None) -> Tensor:
    return _make(rng(generator).permutation(int(n)), dtype or dtypes.int64, requires_grad,
                 device)


def normal(mean: Any = 0.0, std: Any = 1.0, size: Any = None, *, generator: Any = None,
           dtype: Any = None, requires_grad: bool = False) -> Tensor:
    m = mean._value if isinstance(mean, Tensor) else mean
    s = std._value if isinstance(std, Tensor) else std
    shape = shape_arg((size,)) if size is not None else np.broadcast_shapes(np.shape(m),
                                                                             np.shape(s))
    d = dtype or (mean.dtype if isinstance(mean, Tensor) else
                  std.dtype if isinstance(std, Tensor) else None)
    return _make(rng(generator).normal(m, s, shape), d, requires_grad)


def bernoulli(input: Tensor, p: Any = None, *, generator: Any = None) -> Tensor:  # noqa: A002
    probs = input._value if p is None else np.full(input.shape, p)
    return _make(rng(generator).random(input.shape) < probs, input.dtype, False)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *,  # noqa: A002
                generator: Any = None) -> Tensor:
    probs = np.asarray(input._value, np.float64)
    rows = probs.reshape(-1, probs.shape[-1])
    out = np.stack([rng(generator).choice(len(r), num_samples, replace=replacement,
                                          p=r / r.sum()) for r in rows])
    return make_tensor(out.reshape(probs.shape[:-1] + (num_samples,)).astype(np.int64))


def arange(start: Any, end: Any = None, step: Any = 1, *, dtype: Any = None,
           device: Any = None, requires_grad: bool = False, out: Any = None) -> Tensor:
    if end is None:
        start, end = 0, start
    start, end, step = (x.item() if isinstance(x, Tensor) else x for x in (start, end, step))
    values = np.arange(start, end, step)
    if dtype is None:
        dtype = dtypes.int64 if all(isinstance(x, int) for x in (start, end, step)) else None
    return _make(values, dtype, requires_grad, device)


def range(start: Any, end: Any, step: Any = 1, *, dtype: Any = None,  # noqa: A001
          requires_grad: bool = False) -> Tensor:
    """Deprecated torch.range: like arange but including end; float by default."""
    n = int(np.floor((end - start) / step)) + 1
    return _make(start + step * np.arange(n), dtype, requires_grad)


def linspace(start: Any, end: Any, steps: int, *, dtype: Any = None, device: Any = None,
             requires_grad: bool = False, out: Any = None) -> Tensor:
    return _make(np.linspace(float(start), float(end), int(steps)), dtype, requires_grad,
                 device)


def logspace(start: Any, end: Any, steps: int, base: float = 10.0, *, dtype: Any = None,
             device: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(np.logspace(float(start), float(end), int(steps), base=base), dtype,
                 requires_grad, device)


def eye(n: int, m: int | None = None, *, dtype: Any = None, device: Any = None,
        requires_grad: bool = False, out: Any = None) -> Tensor:
    return _make(np.eye(int(n), None if m is None else int(m)), dtype, requires_grad, device)
