"""gradcheck steps every element of an input whatever its memory layout (a transposed clone
is not C-contiguous: stepping a reshaped copy of it left the function unchanged, so the
numerical Jacobian came out zero and a right derivative was reported wrong)."""

import numpy as np

import dualjit as dj
from dualjit.autograd import gradcheck


def test_non_contiguous_input():
    x = dj.tensor(np.arange(6.0).reshape(2, 3) + 1, dtype=dj.float64).mT.clone()
    assert not x.is_contiguous()
    x.requires_grad_()
    assert gradcheck(lambda x: (x * x).sum(0), (x,))
    wrong = dj.autograd.Function  # a derivative off by a factor 2 is still caught

    class Twice(wrong):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 4 * x * g

    assert not gradcheck(lambda x: Twice.apply(x), (x,), raise_exception=False)
