"""Each primitive: shape rule against its numpy result, and semantics against independent numpy."""

import numpy as np
import pytest

from dualjit import ir
from dualjit.ir import Function, IRError, Literal, TensorType, Var, abstract_eval, eval_function
from dualjit.ir import primitives as P

from ..batching.primitive_cases import VMAP_CASES
from ..complex.cases import COMPLEX_CASES
from ..conv.cases import CONV_CASES
from ..linalg.cases import LINALG_CASES
from ..numpy.primitive_cases import NUMPY_CASES

rng = np.random.default_rng(0)
a34 = rng.standard_normal((3, 4))
b34 = rng.standard_normal((3, 4))
pos = rng.random((3, 4)) + 0.5
i34 = rng.integers(-5, 6, (3, 4))
j34 = rng.integers(-5, 6, (3, 4))
mask = a34 > 0
idx = np.array([[2, 0], [1, 1]])


def _sub(name, n_in):
    v = [Var(TensorType("f64", ())) for _ in range(n_in)]
    out = Var(TensorType("f64", ()))
    return Function(v, [], [ir.Eqn(P.binary_primitives.get(name) or P.unary_primitives[name],
                                   v, [out])], [out])


# (primitive, args, params, independent numpy reference of the expected result)
CASES = {
    "neg": (P.neg_p, [a34], {}, -a34), "exp": (P.exp_p, [a34], {}, np.exp(a34)),
    "log": (P.log_p, [pos], {}, np.log(pos)), "log1p": (P.log1p_p, [pos], {}, np.log1p(pos)),
    "expm1": (P.expm1_p, [a34], {}, np.expm1(a34)), "sin": (P.sin_p, [a34], {}, np.sin(a34)),
    "cos": (P.cos_p, [a34], {}, np.cos(a34)), "tan": (P.tan_p, [a34], {}, np.tan(a34)),
    "tanh": (P.tanh_p, [a34], {}, np.tanh(a34)),
    "logistic": (P.logistic_p, [a34], {}, 1 / (1 + np.exp(-a34))),
    "sqrt": (P.sqrt_p, [pos], {}, np.sqrt(pos)), "rsqrt": (P.rsqrt_p, [pos], {}, pos ** -0.5),
    "abs": (P.abs_p, [i34], {}, np.abs(i34)), "sign": (P.sign_p, [a34], {}, np.sign(a34)),
    "floor": (P.floor_p, [a34 * 3], {}, np.floor(a34 * 3)),
    "ceil": (P.ceil_p, [a34 * 3], {}, np.ceil(a34 * 3)),
    "round": (P.round_p, [np.array([0.5, 1.5, -2.5, 2.6])], {}, np.array([0.0, 2.0, -2.0, 3.0])),
    "not": (P.not_p, [mask], {}, ~mask),
    "add": (P.add_p, [a34, b34], {}, a34 + b34), "sub": (P.sub_p, [a34, b34], {}, a34 - b34),
    "mul": (P.mul_p, [a34, b34], {}, a34 * b34), "div": (P.div_p, [a34, pos], {}, a34 / pos),
    "div_int": (P.div_p, [np.array([7, -7, 7, 5]), np.array([2, 2, -2, 0])], {},
                np.array([3, -3, -3, 0])),
    "rem": (P.rem_p, [np.array([7.5, -7.5]), np.array([2.0, 2.0])], {}, np.array([1.5, -1.5])),
    "rem_int": (P.rem_p, [np.array([7, -7, 3]), np.array([2, 2, 0])], {}, np.array([1, -1, 0])),
    "pow": (P.pow_p, [pos, b34], {}, pos ** b34),
    "max": (P.max_p, [np.array([1.0, np.nan, 3.0]), np.array([2.0, 0.0, np.nan])], {},
            np.array([2.0, np.nan, np.nan])),
    "min": (P.min_p, [a34, b34], {}, np.minimum(a34, b34)),
    "atan2": (P.atan2_p, [a34, b34], {}, np.arctan2(a34, b34)),
    "and": (P.and_p, [mask, b34 > 0], {}, mask & (b34 > 0)),
    "or": (P.or_p, [mask, b34 > 0], {}, mask | (b34 > 0)),
    "xor": (P.xor_p, [i34, j34], {}, i34 ^ j34),
    "eq": (P.eq_p, [i34, j34], {}, i34 == j34), "ne": (P.ne_p, [i34, j34], {}, i34 != j34),
    "lt": (P.lt_p, [a34, b34], {}, a34 < b34), "le": (P.le_p, [i34, j34], {}, i34 <= j34),
    "gt": (P.gt_p, [a34, b34], {}, a34 > b34), "ge": (P.ge_p, [i34, j34], {}, i34 >= j34),
    "select": (P.select_p, [mask, a34, b34], {}, np.where(mask, a34, b34)),
    "integer_pow": (P.integer_pow_p, [a34], {"y": 3}, a34 * a34 * a34),
    "integer_pow_neg": (P.integer_pow_p, [pos], {"y": -2}, 1 / (pos * pos)),
    "convert_element_type": (P.convert_element_type_p, [a34 * 3], {"new_dtype": ir.DType.int32},
                             np.trunc(a34 * 3).astype(np.int32)),
    "broadcast_in_dim": (P.broadcast_in_dim_p, [a34[:, :1]],
                         {"shape": (2, 3, 4), "broadcast_dimensions": (1, 2)},
                         np.stack([np.repeat(a34[:, :1], 4, 1)] * 2)),
    "reshape": (P.reshape_p, [a34], {"new_sizes": (2, 6)}, a34.reshape(2, 6)),
    "transpose": (P.transpose_p, [a34], {"permutation": (1, 0)}, a34.T),
    "slice": (P.slice_p, [a34], {"start_indices": (1, 0), "limit_indices": (3, 4),
                                 "strides": (1, 2)}, a34[1:3, 0:4:2]),
    "pad": (P.pad_p, [np.array([1.0, 2.0, 3.0]), np.float64(0.0)],
            {"padding_config": ((1, -1, 1),)}, np.array([0.0, 1.0, 0.0, 2.0, 0.0])),
    "concatenate": (P.concatenate_p, [a34, b34], {"dimension": 1}, np.hstack([a34, b34])),
    "gather": (P.gather_p, [a34, idx], {"axis": 1}, a34[:, idx]),
    "gather_clamped": (P.gather_p, [np.arange(4.0), np.array([-3, 9])], {"axis": 0},
                       np.array([0.0, 3.0])),
    "scatter_add": (P.scatter_add_p, [np.zeros(3), np.array([0, 2, 0]), np.array([1.0, 2.0, 3.0])],
                    {"axis": 0}, np.array([4.0, 0.0, 2.0])),
    "dynamic_slice": (P.dynamic_slice_p, [a34, np.int64(2), np.int64(-1)],
                      {"slice_sizes": (2, 2)}, a34[1:3, 0:2]),
    "dynamic_update_slice": (P.dynamic_update_slice_p, [np.zeros((3, 3)), np.ones((2, 2)),
                                                        np.int64(5), np.int64(1)], {},
                             np.array([[0, 0, 0], [0, 1, 1], [0, 1, 1.0]])),
    "reduce_sum": (P.reduce_sum_p, [a34], {"axes": (1,)}, a34.sum(1)),
    "reduce_max": (P.reduce_max_p, [a34], {"axes": (0, 1)}, a34.max()),
    "reduce_min": (P.reduce_min_p, [i34], {"axes": (0,)}, i34.min(0)),
    "reduce_prod": (P.reduce_prod_p, [pos], {"axes": (1,)}, np.prod(pos, 1)),
    "argmax": (P.argmax_p, [a34], {"axis": 1, "index_dtype": ir.DType.int64}, a34.argmax(1)),
    "argmin": (P.argmin_p, [a34], {"axis": 0, "index_dtype": ir.DType.int32},
               a34.argmin(0).astype(np.int32)),
    "dot_general": (P.dot_general_p, [a34, b34], {"dimension_numbers": (((1,), (1,)), ((), ()))},
                    a34 @ b34.T),
    "dot_general_batch": (P.dot_general_p, [np.stack([a34, b34]), np.stack([b34.T, a34.T])],
                          {"dimension_numbers": (((2,), (1,)), ((0,), (0,)))},
                          np.stack([a34 @ b34.T, b34 @ a34.T])),
    "iota": (P.iota_p, [], {"dtype": ir.DType.int32, "shape": (2, 3), "dimension": 1},
             np.array([[0, 1, 2], [0, 1, 2]], np.int32)),
    "stop_gradient": (P.stop_gradient_p, [a34], {}, a34),
    "cond": (P.cond_p, [np.int32(1), np.float64(2.0), np.float64(3.0)],
             {"branches": (_sub("add", 2), _sub("mul", 2))}, [np.float64(6.0)]),
    "custom_jvp_call": (P.custom_jvp_call_p, [np.float64(2.0)],
                        {"call": _sub("exp", 1), "jvp": None, "num_consts": 0}, [np.exp(2.0)]),
    "custom_vjp_call": (P.custom_vjp_call_p, [np.float64(2.0)],
                        {"call": _sub("sin", 1), "fwd": _sub("sin", 1), "bwd": None,
                         "num_res": 0, "num_consts": 0}, [np.sin(2.0)]),
}


def _while_case():
    c = Var(TensorType("f64", ()))
    lt = Var(TensorType("bool", ()))
    cond = Function([c], [], [ir.Eqn(P.lt_p, [c, Literal(100.0, "f64")], [lt])], [lt])
    body = _sub("mul", 2)
    body = Function([body.inputs[0]], [], [ir.Eqn(P.mul_p, [body.inputs[0], Literal(3.0, "f64")],
                                                  body.outputs)], body.outputs)
    return (P.while_p, [np.float64(1.0)], {"cond_fun": cond, "body_fun": body, "cond_nconsts": 0,
                                           "body_nconsts": 0}, [np.float64(243.0)])


def _scan_case():
    c, x, s = Var(TensorType("f64", ())), Var(TensorType("f64", ())), Var(TensorType("f64", ()))
    body = Function([c, x], [], [ir.Eqn(P.add_p, [c, x], [s])], [s, s])
    xs = np.array([1.0, 2.0, 3.0])
    return (P.scan_p, [np.float64(0.0), xs], {"body": body, "length": 3, "num_consts": 0,
                                              "num_carry": 1, "reverse": True},
            [np.float64(6.0), np.array([6.0, 5.0, 3.0])])


CASES.update(NUMPY_CASES)  # the numpy area's primitives (tests/numpy/primitive_cases.py)
CASES.update(VMAP_CASES)  # the vmap area's primitives (tests/batching/primitive_cases.py)
CASES["while"] = _while_case()
CASES["scan"] = _scan_case()
CASES.update(LINALG_CASES)  # tests/linalg/cases.py: the linear-algebra primitives
CASES.update(CONV_CASES)  # tests/conv/cases.py: convolution and window primitives (speed)
CASES.update(COMPLEX_CASES)  # tests/complex/cases.py: complex primitives and operands

# Integer bit operations (dtypes area), expected values worked out bit by bit.
_i8 = np.array([-128, -1, 64, 5], np.int8)
CASES.update({
    "shift_left": (P.shift_left_p, [np.array([0b1011_0001, 1, 1, 255], np.uint8),
                                    np.array([1, 7, 8, 200], np.uint8)], {},
                   np.array([0b0110_0010, 128, 0, 0], np.uint8)),
    "shift_right_logical": (P.shift_right_logical_p, [_i8, np.array([1, 7, 9, 0], np.int8)], {},
                            np.array([64, 1, 0, 5], np.int8)),
    "shift_right_arithmetic": (P.shift_right_arithmetic_p, [_i8, np.array([1, 7, 9, -1], np.int8)],
                               {}, np.array([-64, -1, 0, 0], np.int8)),
    "population_count": (P.population_count_p, [np.array([0, -1, 7, 2**31], np.int64)], {},
                         np.array([0, 64, 3, 1])),
    "clz": (P.clz_p, [np.array([0, 1, 0x8000, 0x00FF], np.uint16)], {},
            np.array([16, 15, 0, 8], np.uint16)),
})


@pytest.mark.parametrize("name", sorted(CASES))
def test_primitive_semantics_and_shape_rule(name):
    prim, args, params, expected = CASES[name]
    out = ir.impl_rules[prim](*args, **params)
    outs = out if prim.multiple_results else [out]
    expected = expected if prim.multiple_results else [expected]
    in_types = [ir.type_of_array(np.asarray(a)) for a in args]
    types = abstract_eval(prim, in_types, params)
    for o, e, t in zip(outs, expected, types):
        o = np.asarray(o)
        np.testing.assert_allclose(o, e, rtol=1e-12, equal_nan=True)
        assert t == ir.type_of_array(o), f"shape rule says {t}, numpy gives {o.dtype}{o.shape}"


# Primitives whose impl refuses to run, with the error that says why and what to use instead.
REFUSING = {
    # the tangent map of a custom_vjp call: only its transpose (bwd) is known
    "custom_lin": (P.custom_lin_p, [np.ones(3), np.ones(3)],
                   {"bwd": _sub("mul", 2), "num_res": 1, "out_types": (TensorType("f64", (3,)),)},
                   "forward-mode differentiation .* custom_vjp .* use custom_jvp, or reverse"),
}


@pytest.mark.parametrize("name", sorted(REFUSING))
def test_refusing_primitives_type_their_outputs_and_raise_a_clear_error(name):
    prim, args, params, message = REFUSING[name]
    in_types = [ir.type_of_array(np.asarray(a)) for a in args]
    assert abstract_eval(prim, in_types, params) == list(params["out_types"])
    with pytest.raises(TypeError, match=message):
        ir.impl_rules[prim](*args, **params)


def test_every_primitive_has_a_case_and_rules():
    names = {p.name for p in ir.registry.values()}
    covered = {CASES[k][0].name for k in CASES} | {REFUSING[k][0].name for k in REFUSING}
    assert names - covered == set()
    for p in ir.registry.values():
        assert p in ir.shape_rules and p in ir.impl_rules, p.name


@pytest.mark.parametrize("prim,types,params,message", [
    (P.add_p, [TensorType("f32", (3,)), TensorType("f32", (4,))], {}, "shapes do not match"),
    (P.add_p, [TensorType("f32", (3,)), TensorType("f64", (3,))], {}, "dtypes differ"),
    (P.sin_p, [TensorType("i32", (3,))], {}, "not supported"),
    (P.reshape_p, [TensorType("f32", (3,))], {"new_sizes": (2, 2)}, "cannot reshape"),
    (P.dot_general_p, [TensorType("f32", (3, 2)), TensorType("f32", (3, 2))],
     {"dimension_numbers": (((1,), (0,)), ((), ()))}, "do not fit"),
    (P.transpose_p, [TensorType("f32", (3, 2))], {"permutation": (0, 0)}, "not a permutation"),
])
def test_shape_rule_errors_name_the_operation(prim, types, params, message):
    with pytest.raises(IRError, match=message) as info:
        abstract_eval(prim, types, params)
    assert prim.name in str(info.value)


def test_interpreter_runs_functions_with_literals_and_consts():
    x, k, y, z = (Var(TensorType("f64", (3,))) for _ in range(4))
    fn = Function([x], [(k, np.array([1.0, 2.0, 3.0]))],
                  [ir.Eqn(P.mul_p, [x, k], [y]), ir.Eqn(P.add_p, [y, Literal(0.5, "f64")], [z])],
                  [z])
    ir.verify(fn)
    np.testing.assert_allclose(eval_function(fn, np.ones(3))[0], [1.5, 2.5, 3.5])
