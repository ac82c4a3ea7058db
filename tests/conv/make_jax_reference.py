"""Records JAX's outputs for the JAX-spelling tests of tests/conv/test_conv.py.

The test suite must run without JAX, so the results of a fixed set of calls of
`jax.lax.conv_general_dilated` / `conv_transpose` / `reduce_window` (and gradients) are stored
in jax_reference.npz beside this file. Run this script (with JAX installed) to write the file
again: `python tests/conv/make_jax_reference.py`. The calls are listed once, in `calls`, and
the tests make the same calls on dualjit.lax.
"""

import pathlib

import numpy as np

rng = np.random.default_rng(14)
GROUPED = rng.standard_normal((2, 9, 8, 4)), rng.standard_normal((3, 2, 2, 6))
LAYOUTS = rng.standard_normal((2, 7, 8, 3)), rng.standard_normal((3, 2, 3, 5))
TRANSPOSE = rng.standard_normal((2, 3, 5, 4)), rng.standard_normal((3, 6, 3, 2))
TIES = np.array([[1.0, 3.0, 3.0, 0.0], [3.0, 2.0, 3.0, 3.0], [0.0, 0.0, 0.0, 0.0]])


def calls(lax, grad):
    """(name, thunk) pairs; `lax` is jax.lax or dualjit.lax, `grad` its grad."""
    out = []
    kw = dict(window_strides=(2, 1), padding=((1, 0), (2, 1)), lhs_dilation=(1, 2),
              rhs_dilation=(2, 1), dimension_numbers=("NHWC", "HWIO", "NHWC"),
              feature_group_count=2)
    for i in (0, 1):
        out.append((f"grouped_grad_{i}", lambda i=i: grad(
            lambda x, w: (lax.conv_general_dilated(x, w, **kw) ** 2).sum(), argnums=i)(
                *GROUPED)))
    for padding in ("SAME", "VALID", "SAME_LOWER"):
        for strides in ((1, 1), (2, 3)):
            out.append((f"layout_{padding}_{strides[0]}{strides[1]}",
                        lambda p=padding, s=strides: lax.conv_general_dilated(
                            *LAYOUTS, s, p, rhs_dilation=(1, 2),
                            dimension_numbers=("NHWC", "HWIO", "NCHW"))))
    x, w = TRANSPOSE
    for name, padding in (("SAME", "SAME"), ("VALID", "VALID"), ("explicit", ((2, 1), (0, 1)))):
        for transpose_kernel in (False, True):
            kernel = np.ascontiguousarray(w.transpose(1, 0, 2, 3)) if transpose_kernel else w
            out.append((f"transpose_{name}_{int(transpose_kernel)}",
                        lambda p=padding, t=transpose_kernel, k=kernel: lax.conv_transpose(
                            TRANSPOSE[0], k, strides=(2, 3), padding=p, transpose_kernel=t,
                            dimension_numbers=("NCHW", "IOHW", "NCHW"))))
    out.append(("max_pool_ties_grad", lambda: grad(lambda x: lax.reduce_window(
        x, -np.inf, lax.max, (2, 2), (1, 1), "SAME").sum())(TIES)))
    return out


if __name__ == "__main__":
    import jax

    jax.config.update("jax_enable_x64", True)
    results = {name: np.asarray(thunk()) for name, thunk in calls(jax.lax, jax.grad)}
    np.savez_compressed(pathlib.Path(__file__).with_name("jax_reference.npz"), **results)
