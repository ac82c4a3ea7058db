"""Random programs (tests/strategies.py) under vmap, vmap of grad and grad of vmap, against loops."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import dualjit as dj
import dualjit.numpy as jnp

from ..strategies import programs

SIZE = 3


def _batch(x, axis):
    if axis is None:
        return x
    return np.stack([x + np.asarray(0.2 * b - 0.2, x.dtype) for b in range(SIZE)], axis=axis)


def _member(x, axis, b):
    return x if axis is None else np.take(x, b, axis=axis)


def _tolerance(x):
    return dict(rtol=2e-4, atol=2e-5) if x.dtype == np.float32 else dict(rtol=1e-9, atol=1e-11)


@given(programs(), st.sampled_from([(0, 0), (0, None), (None, 0), (-1, 0)]))
def test_random_programs_under_vmap_and_its_derivatives(program, axes):
    f, (x, y), _ = program
    axes = tuple(None if a is None else (a if a >= 0 else np.ndim(v))
                 for a, v in zip(axes, (x, y)))
    xs, ys = _batch(x, axes[0]), _batch(y, axes[1])
    tol = _tolerance(x)
    members = [(_member(xs, axes[0], b), _member(ys, axes[1], b)) for b in range(SIZE)]

    values = dj.vmap(f, in_axes=axes)(xs, ys)
    np.testing.assert_allclose(values, [f(*m) for m in members], **tol)
    np.testing.assert_allclose(dj.jit(dj.vmap(f, in_axes=axes))(xs, ys), values, **tol)

    per_member = dj.vmap(dj.grad(f, argnums=(0, 1)), in_axes=axes)(xs, ys)
    expected = [dj.grad(f, argnums=(0, 1))(*m) for m in members]
    for k in range(2):  # (out_axes=0: stacked in front, unmapped inputs' gradients too)
        np.testing.assert_allclose(per_member[k], np.stack([e[k] for e in expected]), **tol)

    total = dj.grad(lambda a, b: jnp.sum(dj.vmap(f, in_axes=axes)(a, b)), argnums=(0, 1))(xs, ys)
    for k, ax in enumerate(axes):
        want = [e[k] for e in expected]
        np.testing.assert_allclose(total[k], np.sum(want, axis=0) if ax is None
                                   else np.stack(want, axis=ax), **tol)
