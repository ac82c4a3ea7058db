"""Cases of the complex primitives, and of the real primitives on complex operands, for the
registry-wide tests (tests/ir, tests/codegen, tests/batching): (primitive, args, params, the
expected result computed independently with numpy)."""

import numpy as np

from dualjit.ir import DType
from dualjit.ir import primitives as P

rng = np.random.default_rng(16)
_re, _im = rng.standard_normal((2, 3, 4))
_z = _re + 1j * _im
_w = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
_z64 = _z.astype(np.complex64)
# the branch cuts and signed zeros of log, sqrt: -1 +- 0j on the cut, and the axes
_cut = np.array([complex(-1.0, 0.0), complex(-1.0, -0.0), complex(0.0, 0.0), complex(-0.0, -0.0),
                 complex(-4.0, 0.0), complex(-4.0, -0.0), 1j, -1j])
_m = rng.standard_normal((4, 2)) + 1j * rng.standard_normal((4, 2))

with np.errstate(divide="ignore"):  # log(0) = -inf is one of the expected values
    _cut_log = np.log(np.abs(_cut)) + 1j * np.arctan2(_cut.imag, _cut.real)

COMPLEX_CASES = {
    "real": (P.real_p, [_z], {}, _re),
    "imag": (P.imag_p, [_z], {}, _im),
    "conj": (P.conj_p, [_z], {}, _re - 1j * _im),
    "complex": (P.complex_p, [_re, _im], {}, _z),
    "complex_f32": (P.complex_p, [_re.astype(np.float32), _im.astype(np.float32)], {}, _z64),
    "complex_inf": (P.complex_p, [np.array([1.0, np.inf]), np.array([np.inf, 2.0])], {},
                    np.array([complex(1.0, np.inf), complex(np.inf, 2.0)])),
    "exp_c": (P.exp_p, [_z], {}, np.exp(_re) * (np.cos(_im) + 1j * np.sin(_im))),
    "log_c": (P.log_p, [_z], {}, np.log(np.hypot(_re, _im)) + 1j * np.arctan2(_im, _re)),
    "log_cut": (P.log_p, [_cut], {}, _cut_log),
    "sqrt_cut": (P.sqrt_p, [_cut], {},
                 np.sqrt(np.abs(_cut)) * np.exp(0.5j * np.arctan2(_cut.imag, _cut.real))),
    "sin_c": (P.sin_p, [_z], {}, (np.exp(1j * _z) - np.exp(-1j * _z)) / 2j),
    "cos_c": (P.cos_p, [_z], {}, (np.exp(1j * _z) + np.exp(-1j * _z)) / 2),
    "tanh_c": (P.tanh_p, [_z], {}, (np.exp(2 * _z) - 1) / (np.exp(2 * _z) + 1)),
    "abs_c": (P.abs_p, [_z], {}, np.hypot(_re, _im)),
    "sign_c": (P.sign_p, [np.append(_z.ravel(), 0j)], {},
               np.append(_z.ravel() / np.hypot(_re, _im).ravel(), 0j)),
    "neg_c": (P.neg_p, [_z], {}, -_re - 1j * _im),
    "add_c": (P.add_p, [_z, _w], {}, (_re + _w.real) + 1j * (_im + _w.imag)),
    "mul_c": (P.mul_p, [_z, _w], {}, (_re * _w.real - _im * _w.imag)
              + 1j * (_re * _w.imag + _im * _w.real)),
    "div_c": (P.div_p, [_z, _w], {}, _z * np.conj(_w) / np.abs(_w) ** 2),
    "pow_c": (P.pow_p, [_z, _w], {}, np.exp(_w * np.log(_z))),
    "integer_pow_c": (P.integer_pow_p, [_z], {"y": 3}, _z * _z * _z),
    "eq_c": (P.eq_p, [_z, np.where(_re > 0, _z, _w)], {}, _re > 0),
    "select_c": (P.select_p, [_re > 0, _z, _w], {}, np.where(_re > 0, _z, _w)),
    "convert_c_to_f": (P.convert_element_type_p, [_z], {"new_dtype": DType.float64}, _re),
    "convert_f_to_c": (P.convert_element_type_p, [_re], {"new_dtype": DType.complex64},
                       _re.astype(np.complex64)),
    "reduce_sum_c": (P.reduce_sum_p, [_z], {"axes": (1,)}, _re.sum(1) + 1j * _im.sum(1)),
    "dot_general_c": (P.dot_general_p, [_z, _m], {"dimension_numbers": (((1,), (0,)), ((), ()))},
                      np.einsum("ik,kj->ij", _z, _m)),
}

_x = rng.standard_normal((2, 3, 6))
_xc = _x + 1j * rng.standard_normal((2, 3, 6))
_half = np.fft.rfftn(_x, axes=(1, 2))
COMPLEX_CASES.update({
    "fft": (P.fft_p, [_xc], {"fft_type": "fft", "fft_lengths": (6,)}, np.fft.fft(_xc)),
    "ifft2": (P.fft_p, [_xc], {"fft_type": "ifft", "fft_lengths": (3, 6)},
              np.fft.ifft2(_xc)),
    "rfft2": (P.fft_p, [_x], {"fft_type": "rfft", "fft_lengths": (3, 6)}, _half),
    "irfft2": (P.fft_p, [_half], {"fft_type": "irfft", "fft_lengths": (3, 6)}, _x),
    "irfft_odd": (P.fft_p, [_xc[..., :4]], {"fft_type": "irfft", "fft_lengths": (7,)},
                  np.fft.irfft(_xc[..., :4], n=7)),
})
