"""Cases for the primitives of the vmap area, joined into tests/ir/test_primitives.CASES."""

import numpy as np

from dualjit import ir
from dualjit.ir import Function, TensorType, Var
from dualjit.ir import primitives as P

rng = np.random.default_rng(3)
a34 = rng.standard_normal((3, 4))


def _sin_call():
    x, y = Var(TensorType("f64", (3, 4))), Var(TensorType("f64", (3, 4)))
    return Function([x], [], [ir.Eqn(P.sin_p, [x], [y])], [y])


def _cumsum_on_host(x):
    return np.cumsum(x, axis=-1)


def _ignore(*args):
    return None


VMAP_CASES = {
    "optimization_barrier": (P.optimization_barrier_p, [a34, np.arange(3)], {},
                             [a34, np.arange(3)]),
    "checkpoint": (P.checkpoint_p, [a34], {"call": _sin_call(), "policy": None}, [np.sin(a34)]),
    "debug_callback": (P.debug_callback_p, [a34], {"callback": _ignore}, []),
    "pure_callback": (P.pure_callback_p, [a34],
                      {"callback": _cumsum_on_host, "result_types": (TensorType("f64", (3, 4)),),
                       "vmap_method": "sequential"}, [np.cumsum(a34, axis=-1)]),
}
