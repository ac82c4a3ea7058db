"""The helpers derivative rules are written with: one per primitive, Python scalars typed."""

import numpy as np

from dualjit import ir
from dualjit.autodiff import ops
from dualjit.ir import primitives as P
from dualjit.tracer import make_ir


def test_every_first_order_primitive_has_a_helper_named_after_it():
    for prim in ir.registry.values():
        name = prim.name + "_" if prim.name in ("and", "or", "not") else prim.name
        assert callable(getattr(ops, name, None)) != prim.higher_order, prim.name


def test_python_scalars_take_the_array_operands_dtype():
    def f(x):
        return ops.div(1, ops.add(x, 1)), ops.select(ops.gt(x, 0), 0, x), ops.sub(2.5, x)

    fn = make_ir(f)(np.ones(3, np.float32))
    assert [str(t) for t in fn.out_types] == ["f32[3]"] * 3
    [lit] = [a for e in fn.eqns if e.primitive is P.div_p for a in e.inputs
             if isinstance(a, ir.Literal)]
    assert lit.type == ir.TensorType("f32", ()) and lit.value == 1.0


def test_helpers_compute_what_their_primitive_computes():
    x = np.array([0.25, -1.5, 3.0])
    np.testing.assert_array_equal(ops.cos(x), np.cos(x))
    np.testing.assert_array_equal(ops.mul(x, 2), 2 * x)
    np.testing.assert_array_equal(ops.reduce_max(x, axes=(0,)), 3.0)
    np.testing.assert_array_equal(ops.not_(x > 0), ~(x > 0))
