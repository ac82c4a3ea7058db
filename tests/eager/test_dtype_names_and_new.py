"""The torch dtype names beyond float/int (int8 uint8 int16 short complex64 complex128 cfloat
cdouble), the refused 16-bit floats, finfo/iinfo, thread counts, inference-mode queries and
the Tensor.new_* constructors, against NumPy and PyTorch's documented behaviour."""

import numpy as np
import pytest

import dualjit as dj


@pytest.mark.parametrize("name, numpy_dtype", [
    ("int8", np.int8), ("uint8", np.uint8), ("int16", np.int16), ("short", np.int16),
    ("complex64", np.complex64), ("complex128", np.complex128), ("cfloat", np.complex64),
    ("cdouble", np.complex128)])
def test_dtype_names(name, numpy_dtype):
    d = getattr(dj, name)
    assert d == np.dtype(numpy_dtype)
    t = dj.zeros(2, 3, dtype=d)
    assert t.dtype == d and t.numpy().dtype == numpy_dtype
    assert dj.tensor([1, 2], dtype=d).dtype == d


@pytest.mark.parametrize("name", ["float16", "half", "bfloat16"])
def test_16_bit_floats_are_absent_with_advice(name):
    assert not hasattr(dj, name)
    with pytest.raises(AttributeError, match="16-bit float.*float32"):
        getattr(dj, name)


def test_small_integer_arithmetic_wraps_like_pytorch():
    # PyTorch casts the Python number to the tensor's dtype, wrapping around
    u = dj.tensor([1, 2], dtype=dj.uint8)
    np.testing.assert_array_equal((u - 3).numpy(), np.array([1, 2], np.uint8) - np.uint8(3))
    assert (u - 3).dtype == dj.uint8
    i = dj.tensor([1, 2], dtype=dj.int8)
    expected = np.array([1, 2], np.int8) * np.int64(300).astype(np.int8)
    np.testing.assert_array_equal((i * 300).numpy(), expected)
    assert i.sum().dtype == dj.int64  # (integer sums accumulate in int64, as PyTorch)


def test_promotion_of_small_integers():
    i8, u8 = dj.tensor([1], dtype=dj.int8), dj.tensor([1], dtype=dj.uint8)
    assert (i8 + u8).dtype == dj.int16  # torch.promote_types(int8, uint8)
    assert (i8 + 1.5).dtype == dj.float32
    assert (u8 + dj.tensor([1], dtype=dj.int64)).dtype == dj.int64
    assert dj.promote_types(dj.cfloat, dj.float64) == dj.complex128


def test_finfo_iinfo():
    assert dj.finfo(dj.float32).eps == np.finfo(np.float32).eps
    assert dj.finfo().bits == 32  # the default dtype
    assert dj.finfo(dj.float64).max == np.finfo(np.float64).max
    assert dj.finfo(dj.complex64).bits == 32  # a complex dtype's parts
    assert dj.finfo(dj.float32).tiny == np.finfo(np.float32).tiny
    assert dj.iinfo(dj.int8).max == 127 and dj.iinfo(dj.uint8).min == 0
    assert dj.iinfo(dj.int64).bits == 64
    with pytest.raises(TypeError, match="finfo.*integer|iinfo"):
        dj.finfo(dj.int32)
    with pytest.raises(TypeError, match="iinfo.*finfo"):
        dj.iinfo(dj.float32)


def test_num_threads(monkeypatch):
    monkeypatch.setenv("DUALJIT_NUM_THREADS", "1")
    assert dj.get_num_threads() == 1
    dj.set_num_threads(3)
    assert dj.get_num_threads() == 3
    with pytest.raises(ValueError, match="set_num_threads"):
        dj.set_num_threads(0)


def test_inference_mode_query():
    assert not dj.is_inference_mode_enabled()
    with dj.inference_mode():
        assert dj.is_inference_mode_enabled()
        assert not dj.is_grad_enabled()
        with dj.inference_mode(False):
            assert not dj.is_inference_mode_enabled()
        assert dj.is_inference_mode_enabled()
    assert not dj.is_inference_mode_enabled()
    with dj.no_grad():
        assert not dj.is_inference_mode_enabled()

    @dj.inference_mode()
    def inside():
        return dj.is_inference_mode_enabled()
    assert inside() and not dj.is_inference_mode_enabled()


@pytest.mark.parametrize("dtype", [dj.float64, dj.int32, dj.complex64])
def test_new_constructors_take_the_tensors_dtype(dtype):
    x = dj.ones(2, dtype=dtype)
    for t, expected in [(x.new_zeros(2, 3), np.zeros((2, 3))), (x.new_zeros((2, 3)),
                                                                 np.zeros((2, 3))),
                        (x.new_ones(4), np.ones(4)), (x.new_ones([1, 2]), np.ones((1, 2))),
                        (x.new_full((2,), 7), np.full(2, 7)),
                        (x.new_tensor([[1, 2]]), np.array([[1, 2]]))]:
        assert t.dtype == dtype and t.is_leaf and not t.requires_grad
        np.testing.assert_array_equal(t.numpy(), expected.astype(dtype))
    assert x.new_empty(3, 2).shape == (3, 2) and x.new_empty(3).dtype == dtype


def test_new_constructors_options():
    x = dj.ones(2, dtype=dj.float32, requires_grad=True)
    t = x.new_zeros(3, dtype=dj.float64, requires_grad=True)
    assert t.dtype == dj.float64 and t.requires_grad and t.is_leaf
    copied = x.new_tensor(x)  # a detached copy: its own storage, no history
    assert copied.grad_fn is None and not copied.requires_grad
    copied.add_(1)
    np.testing.assert_array_equal(x.detach().numpy(), [1, 1])
    assert x.new_full((2, 2), 1.5).dtype == dj.float32
    assert x.new_ones(0).shape == (0,) and x.new_zeros(()).shape == ()
    with pytest.raises(RuntimeError, match="device"):
        x.new_zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match="floating point"):
        dj.ones(2, dtype=dj.int64).new_zeros(2, requires_grad=True)
