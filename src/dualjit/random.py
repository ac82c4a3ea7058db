"""dualjit.random: JAX's functional PRNG — counter-based threefry-2x32 on uint32 keys.

A key is an ordinary uint32 array of shape (2,) (JAX's "raw" keys): every transform treats it
as data. The same key gives the same numbers eagerly, under jit, under vmap and on every
machine. Bits, keys (split, fold_in) and uniform floats are JAX's, bit for bit (JAX's default
`jax_threefry_partitionable` layout); samplers built on special functions (normal, ...) agree
with JAX's to a few ulp. Samplers default to float64 and int64, as JAX does with
`jax_enable_x64`, because dualjit.numpy's defaults are NumPy's; pass dtype= for float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import numpy as jnp
from .ir import DType, as_dtype
from .ir import primitives as P
from .jit import jit
from .tracer.core import Tracer, bind

_U32 = np.uint32

# ---------------------------------------------------------------------------------------------
# uint32 arithmetic helpers (wrapping adds, rotations)
# ---------------------------------------------------------------------------------------------


def _u32(x: Any) -> Any:
    if isinstance(x, Tracer):
        return x if x.aval.dtype is DType.uint32 else bind(
            P.convert_element_type_p, x, new_dtype=DType.uint32)
    return np.asarray(x).astype(np.uint32)


def _rotl(x: Any, r: int) -> Any:
    return bind(P.or_p, bind(P.shift_left_p, x, _U32(r)),
                bind(P.shift_right_logical_p, x, _U32(32 - r)))


_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def threefry_2x32(k0: Any, k1: Any, x0: Any, x1: Any) -> tuple[Any, Any]:
    """The threefry-2x32 block cipher (20 rounds) of counters (x0, x1) under key (k0, k1).

    Elementwise over x0 and x1 (uint32 arrays of one shape); k0, k1 are uint32 scalars.
    """
    k2 = bind(P.xor_p, bind(P.xor_p, k0, k1), _U32(0x1BD11BDA))
    keys = (k0, k1, k2)
    x0, x1 = bind(P.add_p, x0, k0), bind(P.add_p, x1, k1)
    for step in range(5):
        for r in _ROTATIONS[step % 2]:
            x0 = bind(P.add_p, x0, x1)
            x1 = bind(P.xor_p, _rotl(x1, r), x0)
        x0 = bind(P.add_p, x0, keys[(step + 1) % 3])
        x1 = bind(P.add_p, bind(P.add_p, x1, keys[(step + 2) % 3]), _U32(step + 1))
    return x0, x1


# ---------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------

def _check_key(key: Any, name: str) -> Any:
    dtype = key.aval.dtype if isinstance(key, Tracer) else as_dtype(np.asarray(key).dtype)
    shape = jnp.shape(key)
    if dtype is not DType.uint32 or shape != (2,):
        hint = (" (a batch of keys: map over it with dj.vmap)" if len(shape) > 1
                and shape[-1] == 2 and dtype is DType.uint32 else
                "; make one with dj.random.key(seed)")
        raise TypeError(f"random.{name}: expected a key, a uint32 array of shape (2,), got "
                        f"{dtype.short}{list(shape)}{hint}")
    return key if isinstance(key, Tracer) else np.asarray(key)


def PRNGKey(seed: Any) -> Any:  # noqa: N802  (JAX's spelling)
    """A key from an integer seed: [high 32 bits, low 32 bits] of the 64-bit seed."""
    if isinstance(seed, Tracer):
        if seed.aval.dtype.is_float or seed.shape != ():
            raise TypeError(f"random.key: seed must be an integer scalar, got {seed.aval}")
        s = bind(P.convert_element_type_p, seed, new_dtype=DType.int64)
        s = bind(P.convert_element_type_p, s, new_dtype=DType.uint64)
        high = bind(P.shift_right_logical_p, s, np.uint64(32))
        pair = [bind(P.convert_element_type_p, h, new_dtype=DType.uint32)
                for h in (high, bind(P.and_p, s, np.uint64(0xFFFFFFFF)))]
        return jnp.stack(pair)
    value = np.asarray(seed)
    if value.shape != () or value.dtype.kind not in "iub":
        raise TypeError(f"random.key: seed must be an integer scalar, got {value.dtype}"
                        f"{list(value.shape)}")
    s = int(value) & 0xFFFFFFFFFFFFFFFF
    return np.array([s >> 32, s & 0xFFFFFFFF], np.uint32)


key = PRNGKey


def key_data(keys: Any) -> Any:
    """The uint32 data of keys (keys are raw uint32 arrays already)."""
    return keys


def wrap_key_data(data: Any) -> Any:
    return _check_key(data, "wrap_key_data")


def _counters(shape: tuple[int, ...]) -> tuple[Any, Any]:
    """(high, low) 32-bit halves of each element's flat index: JAX's partitionable layout."""
    size = math.prod(shape)
    if size >= 2**32:
        raise ValueError(f"random: {size} values in one call is too many (at most 2**32 - 1)")
    low = bind(P.iota_p, dtype=DType.uint32, shape=(size,), dimension=0)
    return _U32(0), bind(P.reshape_p, low, new_sizes=tuple(shape))


def _halves(key: Any) -> tuple[Any, Any]:
    return key[0], key[1]


def _split_impl(key, shape):
    k0, k1 = _halves(key)
    y0, y1 = threefry_2x32(k0, k1, *_counters(shape))
    return jnp.stack([y0, y1], axis=-1)


_split_jit = jit(_split_impl, static_argnums=1)


def split(key: Any, num: int | Sequence[int] = 2) -> Any:
    """`num` new keys (shape (num, 2)), independent of each other and of `key`."""
    key = _check_key(key, "split")
    shape = (int(num),) if np.ndim(num) == 0 else tuple(int(n) for n in num)
    return _split_jit(key, shape)


@jit
def _fold_in_impl(key, data):
    k0, k1 = _halves(key)
    y0, y1 = threefry_2x32(k0, k1, _U32(0), data)
    return jnp.stack([y0, y1])


def fold_in(key: Any, data: Any) -> Any:
    """A new key from `key` and an integer (e.g. a step number), as jax.random.fold_in."""
    key = _check_key(key, "fold_in")
    if isinstance(data, Tracer):
        return _fold_in_impl(key, _u32(data))
    return _fold_in_impl(key, np.uint32(int(np.asarray(data)) & 0xFFFFFFFF))


# ---------------------------------------------------------------------------------------------
# Bits
# ---------------------------------------------------------------------------------------------

_UINTS = {8: DType.uint8, 16: DType.uint16, 32: DType.uint32, 64: DType.uint64}


def _shape(shape: Any, name: str) -> tuple[int, ...]:
    if shape is None:
        return ()
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    try:
        return tuple(int(d) for d in shape)
    except TypeError:
        raise TypeError(f"random.{name}: shape must be a tuple of ints, got {shape!r}") from None


def _random_bits(key: Any, width: int, shape: tuple[int, ...]) -> Any:
    """`width`-bit unsigned random integers of `shape` (JAX's partitionable bit layout)."""
    k0, k1 = _halves(key)
    high, low = _counters(shape)
    y0, y1 = threefry_2x32(k0, k1, high, low)
    if width == 64:
        y0 = bind(P.convert_element_type_p, y0, new_dtype=DType.uint64)
        y1 = bind(P.convert_element_type_p, y1, new_dtype=DType.uint64)
        return bind(P.or_p, bind(P.shift_left_p, y0, np.uint64(32)), y1)
    mixed = bind(P.xor_p, y0, y1)
    if width == 32:
        return mixed
    return bind(P.convert_element_type_p, mixed, new_dtype=_UINTS[width])


def _bits_impl(key, shape, width):
    return _random_bits(key, width, shape)


_bits_jit = jit(_bits_impl, static_argnums=(1, 2))


def bits(key: Any, shape: Any = (), dtype: Any = np.uint32) -> Any:
    """Uniformly random unsigned integers (dtype uint8, uint16, uint32 or uint64)."""
    key = _check_key(key, "bits")
    dtype = as_dtype(dtype)
    if not dtype.is_unsigned:
        raise TypeError(f"random.bits: dtype must be unsigned (uint8..uint64), got {dtype.short}")
    return _bits_jit(key, _shape(shape, "bits"), dtype.bits)


# ---------------------------------------------------------------------------------------------
# Floats
# ---------------------------------------------------------------------------------------------

def _float_dtype(dtype: Any, name: str) -> DType:
    d = as_dtype(np.float64 if dtype is None else dtype)
    if not d.is_float:
        raise TypeError(f"random.{name}: dtype must be a float dtype, got {d.short}")
    return d


def _unit_floats(key: Any, shape: tuple[int, ...], dtype: DType) -> Any:
    """Floats in [0, 1) from the top mantissa-width bits: exactly JAX's uniform(0, 1)."""
    width, mantissa = (32, 23) if dtype is DType.float32 else (64, 52)
    raw = _random_bits(key, width, shape)
    top = bind(P.shift_right_logical_p, raw, _UINTS[width].np.type(width - mantissa))
    floats = bind(P.convert_element_type_p, top, new_dtype=dtype)
    return bind(P.mul_p, floats, dtype.np.type(2.0 ** -mantissa))


def _uniform_impl(key, minval, maxval, shape, dtype):
    dtype = as_dtype(dtype)
    lo = jnp.broadcast_to(jnp.astype(minval, dtype.np), shape)
    hi = jnp.broadcast_to(jnp.astype(maxval, dtype.np), shape)
    floats = _unit_floats(key, shape, dtype)
    return jnp.maximum(lo, floats * (hi - lo) + lo)


_uniform_jit = jit(_uniform_impl, static_argnums=(3, 4))


def uniform(key: Any, shape: Any = (), dtype: Any = None, minval: Any = 0.0,
            maxval: Any = 1.0) -> Any:
    """Uniform floats in [minval, maxval) (default dtype float64)."""
    key = _check_key(key, "uniform")
    d = _float_dtype(dtype, "uniform")
    return _uniform_jit(key, minval, maxval, _shape(shape, "uniform"), d.np)


# Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011): single precision in
# two ranges of w = -log(1 - x^2), double precision in three.
_ERFINV_F32 = (
    (5.0, 2.5, False, (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                       0.00021858087, -0.00125372503, -0.00417768164, 0.246640727,
                       1.50140941)),
    (math.inf, 3.0, True, (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
                           0.00573950773, -0.0076224613, 0.00943887047, 1.00167406,
                           2.83297682)),
)
_ERFINV_F64 = (
    (6.25, 3.125, False, (
        -3.6444120640178196996e-21, -1.685059138182016589e-19, 1.2858480715256400167e-18,
        1.115787767802518096e-17, -1.333171662854620906e-16, 2.0972767875968561637e-17,
        6.6376381343583238325e-15, -4.0545662729752068639e-14, -8.1519341976054721522e-14,
        2.6335093153082322977e-12, -1.2975133253453532498e-11, -5.4154120542946279317e-11,
        1.051212273321532285e-09, -4.1126339803469836976e-09, -2.9070369957882005086e-08,
        4.2347877827932403518e-07, -1.3654692000834678645e-06, -1.3882523362786468719e-05,
        0.0001867342080340571352, -0.00074070253416626697512, -0.0060336708714301490533,
        0.24015818242558961693, 1.6536545626831027356)),
    (16.0, 3.25, True, (
        2.2137376921775787049e-09, 9.0756561938885390979e-08, -2.7517406297064545428e-07,
        1.8239629214389227755e-08, 1.5027403968909827627e-06, -4.013867526981545969e-06,
        2.9234449089955446044e-06, 1.2475304481671778723e-05, -4.7318229009055733981e-05,
        6.8284851459573175448e-05, 2.4031110387097893999e-05, -0.0003550375203628474796,
        0.00095328937973738049703, -0.0016882755560235047313, 0.0024914420961078508066,
        -0.0037512085075692412107, 0.005370914553590063617, 1.0052589676941592334,
        3.0838856104922207635)),
    (math.inf, 5.0, True, (
        -2.7109920616438573243e-11, -2.5556418169965252055e-10, 1.5076572693500548083e-09,
        -3.7894654401267369937e-09, 7.6157012080783393804e-09, -1.4960026627149240478e-08,
        2.9147953450901080826e-08, -6.7711997758452339498e-08, 2.2900482228026654717e-07,
        -9.9298272942317002539e-07, 4.5260625972231537039e-06, -1.9681778105531670567e-05,
        7.5995277030017761139e-05, -0.00021503011930044477347, -0.00013871931833623122026,
        1.0103004648645343977, 4.8499064014085844221)),
)


def _horner(coefficients: Sequence[float], w: Any) -> Any:
    p = coefficients[0]
    for c in coefficients[1:]:
        p = c + p * w
    return p


def _erf_inv(x: Any) -> Any:
    x = jnp.asarray(x)
    # w = -log(1 - x^2), with 1 - x^2 as (1 - x)(1 + x): exact near |x| = 1.
    w = -jnp.log((1.0 - x) * (1.0 + x))
    ranges = _ERFINV_F32 if jnp.result_type(x) == np.float32 else _ERFINV_F64
    result = None
    for bound, shift, root, coefficients in reversed(ranges):
        value = _horner(coefficients, (jnp.sqrt(w) if root else w) - shift)
        result = value if result is None else jnp.where(w < bound, value, result)
    inf = jnp.result_type(x).type(np.inf)
    infinity = jnp.where(jnp.greater(x, 0), inf, -inf)
    return jnp.where(jnp.abs(x) == 1.0, infinity, result * x)


_erf_inv_jit = jit(_erf_inv)


def erf_inv(x: Any) -> Any:
    """The inverse error function on (-1, 1) (±inf at ±1), within a few ulp."""
    return _erf_inv_jit(x)


def _normal_impl(key, shape, dtype):
    dtype = as_dtype(dtype)
    lo = np.nextafter(dtype.np.type(-1.0), dtype.np.type(0.0))
    u = _uniform_impl(key, lo, dtype.np.type(1.0), shape, dtype.np)
    return dtype.np.type(math.sqrt(2.0)) * _erf_inv(u)


_normal_jit = jit(_normal_impl, static_argnums=(1, 2))


def normal(key: Any, shape: Any = (), dtype: Any = None) -> Any:
    """Standard normal samples (default dtype float64): sqrt(2) erfinv(uniform(-1, 1))."""
    key = _check_key(key, "normal")
    return _normal_jit(key, _shape(shape, "normal"), _float_dtype(dtype, "normal").np)


def _erf(x: Any) -> Any:
    """erf of concrete values (the bounds of truncated_normal)."""
    if isinstance(x, Tracer) and x.value is None:
        erf = getattr(jnp, "erf", None)
        if erf is None:
            raise TypeError("random.truncated_normal: traced bounds need dualjit.numpy.erf, "
                            "which does not exist yet; pass the bounds as numbers")
        return erf(x)
    return np.vectorize(math.erf, otypes=[np.float64])(np.asarray(x, np.float64))


def truncated_normal(key: Any, lower: Any, upper: Any, shape: Any = None,
                     dtype: Any = None) -> Any:
    """Normal samples conditioned on lower < x < upper (default dtype float64)."""
    key = _check_key(key, "truncated_normal")
    d = _float_dtype(dtype, "truncated_normal")
    shape = _shape(shape, "truncated_normal") if shape is not None else tuple(
        np.broadcast_shapes(jnp.shape(lower), jnp.shape(upper)))
    a = jnp.astype(_erf(jnp.asarray(lower) / math.sqrt(2.0)), d.np)
    b = jnp.astype(_erf(jnp.asarray(upper) / math.sqrt(2.0)), d.np)
    u = _uniform_jit(key, a, b, shape, d.np)
    out = d.np.type(math.sqrt(2.0)) * erf_inv(u)
    low = jnp.nextafter(jnp.astype(lower, d.np), d.np.type(np.inf))
    high = jnp.nextafter(jnp.astype(upper, d.np), d.np.type(-np.inf))
    return jnp.clip(out, low, high)


# ---------------------------------------------------------------------------------------------
# Samplers built on uniform floats
# ---------------------------------------------------------------------------------------------

def bernoulli(key: Any, p: Any = 0.5, shape: Any = None) -> Any:
    """Booleans that are True with probability p (shape: p's shape by default)."""
    key = _check_key(key, "bernoulli")
    p = jnp.asarray(p)
    d = jnp.result_type(p) if jnp.result_type(p).kind == "f" else np.dtype(np.float64)
    shape = _shape(shape, "bernoulli") if shape is not None else jnp.shape(p)
    return jnp.less(uniform(key, shape, d), p)


def gumbel(key: Any, shape: Any = (), dtype: Any = None) -> Any:
    """Standard Gumbel samples: -log(-log(u)) for u uniform in [tiny, 1)."""
    key = _check_key(key, "gumbel")
    d = _float_dtype(dtype, "gumbel")
    u = uniform(key, shape, d.np, minval=np.finfo(d.np).tiny, maxval=1.0)
    return -jnp.log(-jnp.log(u))


def exponential(key: Any, shape: Any = (), dtype: Any = None) -> Any:
    """Standard exponential samples: -log1p(-u)."""
    key = _check_key(key, "exponential")
    return -jnp.log1p(-uniform(key, shape, _float_dtype(dtype, "exponential").np))


def laplace(key: Any, shape: Any = (), dtype: Any = None) -> Any:
    """Standard Laplace samples."""
    key = _check_key(key, "laplace")
    d = _float_dtype(dtype, "laplace").np
    u = uniform(key, shape, d, minval=-1.0 + np.finfo(d).epsneg, maxval=1.0)
    return jnp.sign(u) * jnp.log1p(-jnp.abs(u))


def logistic(key: Any, shape: Any = (), dtype: Any = None) -> Any:
    """Standard logistic samples: log(u / (1 - u))."""
    key = _check_key(key, "logistic")
    d = _float_dtype(dtype, "logistic").np
    u = uniform(key, shape, d, minval=np.finfo(d).tiny, maxval=1.0)
    return jnp.log(u) - jnp.log1p(-u)


def cauchy(key: Any, shape: Any = (), dtype: Any = None) -> Any:
    """Standard Cauchy samples: tan(pi (u - 1/2))."""
    key = _check_key(key, "cauchy")
    d = _float_dtype(dtype, "cauchy").np
    u = uniform(key, shape, d, minval=np.finfo(d).eps, maxval=1.0)
    return jnp.tan(np.pi * (u - 0.5))


def rademacher(key: Any, shape: Any = (), dtype: Any = np.int64) -> Any:
    """-1 or +1 with equal probability."""
    key = _check_key(key, "rademacher")
    coin = bernoulli(key, 0.5, shape)
    return jnp.astype(jnp.where(coin, 1, -1), dtype)


def categorical(key: Any, logits: Any, axis: int = -1, shape: Any = None) -> Any:
    """Indices sampled with probabilities softmax(logits) along `axis` (Gumbel-max)."""
    key = _check_key(key, "categorical")
    logits = jnp.asarray(logits)
    nd = jnp.ndim(logits)
    axis = axis % nd
    batch = tuple(d for i, d in enumerate(jnp.shape(logits)) if i != axis)
    shape = batch if shape is None else _shape(shape, "categorical")
    if shape[len(shape) - len(batch):] != batch:
        raise ValueError(f"random.categorical: shape {shape} must end with the logits' batch "
                         f"shape {batch}")
    prefix = shape[:len(shape) - len(batch)]
    noise_shape = prefix + jnp.shape(logits)
    d = jnp.result_type(logits) if jnp.result_type(logits).kind == "f" else np.float64
    noise = gumbel(key, noise_shape, d)
    expanded = jnp.reshape(logits, (1,) * len(prefix) + jnp.shape(logits))
    return jnp.argmax(noise + expanded, axis=axis + len(prefix))


# ---------------------------------------------------------------------------------------------
# Integers
# ---------------------------------------------------------------------------------------------

def _rem(a: Any, span: Any) -> Any:
    """a mod span, where a span of 0 stands for 2**width (so it leaves a unchanged)."""
    zero = jnp.equal(span, 0)
    return jnp.where(zero, a, bind(P.rem_p, a, jnp.where(zero, jnp.ones_like(span), span)))


def _randint_impl(key, minval, maxval, shape, dtype):
    dtype = as_dtype(dtype)
    width = dtype.bits
    unsigned = _UINTS[width]
    info = np.iinfo(dtype.np)
    # Bounds arrive as int64: clip them into the dtype. A maxval above the dtype's range needs
    # a span one larger than the dtype can count (it wraps to 0: all 2**width values).
    top = min(int(info.max), 2**63 - 1)
    too_high = jnp.greater(maxval, top)
    lo = jnp.broadcast_to(jnp.astype(jnp.clip(minval, max(int(info.min), -2**63), top),
                                     dtype.np), shape)
    hi = jnp.broadcast_to(jnp.astype(jnp.clip(maxval, max(int(info.min), -2**63), top),
                                     dtype.np), shape)
    keys = _split_impl(key, (2,))
    higher = _random_bits(keys[0], width, shape)
    lower = _random_bits(keys[1], width, shape)
    span = bind(P.convert_element_type_p, bind(P.sub_p, hi, lo), new_dtype=unsigned)
    one = unsigned.np.type(1)
    span = jnp.where(jnp.less_equal(hi, lo), one, span)
    span = jnp.where(jnp.logical_and(too_high, jnp.greater(hi, lo)), span + one, span)
    # (2**width * high + low) mod span, with 2**width mod span = (2**(width/2) mod span)**2.
    half = _rem(unsigned.np.type(2 ** (width // 2)), span)
    multiplier = _rem(bind(P.mul_p, half, half), span)
    offset = bind(P.add_p, bind(P.mul_p, _rem(higher, span), multiplier), _rem(lower, span))
    offset = _rem(offset, span)
    return bind(P.add_p, lo, bind(P.convert_element_type_p, offset, new_dtype=dtype))


_randint_jit = jit(_randint_impl, static_argnums=(3, 4))


def randint(key: Any, shape: Any, minval: Any, maxval: Any, dtype: Any = np.int64) -> Any:
    """Integers uniform in [minval, maxval) (default dtype int64)."""
    key = _check_key(key, "randint")
    d = as_dtype(dtype)
    if not d.is_int:
        raise TypeError(f"random.randint: dtype must be an integer dtype, got {d.short}")
    minval, maxval = _wide_int(minval), _wide_int(maxval)
    shape = _shape(shape, "randint")
    if d.bits < 32:  # sampled in 32 bits (less bias), as JAX does
        info = np.iinfo(d.np)
        minval = jnp.clip(minval, int(info.min), int(info.max))
        maxval = jnp.clip(maxval, int(info.min), int(info.max) + 1)
        return jnp.astype(_randint_jit(key, minval, maxval, shape, np.dtype(np.int32)), d.np)
    return _randint_jit(key, minval, maxval, shape, d.np)


def _wide_int(x: Any) -> Any:
    """Integer bounds as int64 (the clipping to the dtype happens inside)."""
    if isinstance(x, Tracer):
        return x
    value = np.asarray(x)
    if value.dtype.kind not in "iub":
        raise TypeError(f"random.randint: bounds must be integers, got {value.dtype}")
    return np.clip(value, -2**63, 2**63 - 1).astype(np.int64) if value.dtype != np.uint64 \
        else np.minimum(value, 2**63 - 1).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Permutations and choices
# ---------------------------------------------------------------------------------------------

def _sort_by(sort_keys: Any, x: Any, axis: int) -> Any:
    return bind(P.sort_p, sort_keys, x, axis=axis, num_keys=1)[1]


def _shuffle(key: Any, x: Any, axis: int) -> Any:
    """x with each 1-d slice along `axis` permuted by sorting on random 32-bit keys; enough
    rounds that ties (which would bias the order) are unlikely, as JAX does."""
    size = max(1, math.prod(jnp.shape(x)))
    rounds = int(math.ceil(3 * math.log(size) / math.log(2**32 - 1)))
    for _ in range(rounds):
        key, subkey = split(key)
        x = _sort_by(_random_bits(subkey, 32, jnp.shape(x)), x, axis)
    return x


def permutation(key: Any, x: Any, axis: int = 0, independent: bool = False) -> Any:
    """A random permutation of range(x) (an int) or of x's entries along `axis`."""
    key = _check_key(key, "permutation")
    if np.ndim(x) == 0 and not isinstance(x, Tracer):
        n = int(x)
        return _shuffle(key, np.arange(n, dtype=np.int64), 0)
    x = jnp.asarray(x)
    axis = axis % jnp.ndim(x)
    if independent or jnp.ndim(x) == 1:
        return _shuffle(key, x, axis)
    order = _shuffle(key, np.arange(jnp.shape(x)[axis], dtype=np.int64), 0)
    return jnp.take(x, order, axis=axis)


def shuffle(key: Any, x: Any, axis: int = 0) -> Any:
    """x with its entries along `axis` shuffled independently per slice (jax.random.shuffle)."""
    key = _check_key(key, "shuffle")
    x = jnp.asarray(x)
    return _shuffle(key, x, axis % jnp.ndim(x))


def choice(key: Any, a: Any, shape: Any = (), replace: bool = True, p: Any = None,
           axis: int = 0) -> Any:
    """Samples from a (an int n means range(n)) along `axis`, with probabilities p."""
    key = _check_key(key, "choice")
    shape = _shape(shape, "choice")
    arr = None if np.ndim(a) == 0 and not isinstance(a, Tracer) else jnp.asarray(a)
    n = int(a) if arr is None else jnp.shape(arr)[axis]
    count = math.prod(shape)
    if n == 0 and count:
        raise ValueError("random.choice: cannot take a non-empty sample from an empty array")
    if not replace and count > n:
        raise ValueError(f"random.choice: cannot take {count} samples from {n} without "
                         "replacement")
    if p is None:
        if replace:
            index = randint(key, shape, 0, n)
        else:
            index = jnp.reshape(permutation(key, n)[:count], shape)
    else:
        p = jnp.asarray(p)
        if jnp.shape(p) != (n,):
            raise ValueError(f"random.choice: p must have shape ({n},), got {jnp.shape(p)}")
        if replace:
            cumulative = jnp.cumsum(p)
            r = cumulative[-1] * (1 - uniform(key, shape, jnp.result_type(p)))
            index = jnp.searchsorted(cumulative, r)
        else:
            g = gumbel(key, (n,), jnp.result_type(p)) + jnp.log(p)
            index = jnp.reshape(jnp.argsort(-g)[:count], shape)
    if arr is None:
        return index
    moved = jnp.take(arr, jnp.ravel(index), axis=axis)
    out_shape = jnp.shape(arr)[:axis] + shape + jnp.shape(arr)[axis + 1:]
    return jnp.reshape(moved, out_shape)


# ---------------------------------------------------------------------------------------------
# Gamma and what is built on it
# ---------------------------------------------------------------------------------------------

def _gamma_impl(key, a):
    """Marsaglia and Tsang's squeeze method for Gamma(a, 1), every element in one while loop
    (a proposal per element and round until each has accepted; a < 1 is boosted: a sample of
    Gamma(a + 1) times u ** (1 / a))."""
    from . import lax

    shape, dtype = jnp.shape(a), jnp.result_type(a)
    boost_key, loop_key = split(key)
    alpha = jnp.where(a < 1, a + 1, a)
    d = alpha - 1.0 / 3.0
    c = 1.0 / jnp.sqrt(9.0 * d)

    def not_done(state):
        return jnp.logical_not(jnp.all(state[1]))

    def propose(state):
        step, done, value = state
        normal_key, uniform_key = split(fold_in(loop_key, step))
        z = _normal_impl(normal_key, shape, dtype)
        u = _uniform_impl(uniform_key, np.finfo(dtype).tiny, 1.0, shape, dtype)
        v = (1.0 + c * z) ** 3
        positive = v > 0
        log_v = jnp.log(jnp.where(positive, v, 1.0))
        accept = positive & (jnp.log(u) < 0.5 * z * z + d - d * v + d * log_v)
        value = jnp.where(accept & jnp.logical_not(done), d * v, value)
        return step + np.uint32(1), done | accept, value

    start = (np.uint32(0), jnp.zeros(shape, bool), jnp.zeros(shape, dtype))
    _, _, sample = lax.while_loop(not_done, propose, start)
    u = _uniform_impl(boost_key, np.finfo(dtype).tiny, 1.0, shape, dtype)
    boost = jnp.exp(jnp.log(u) / jnp.where(a < 1, a, 1.0))
    return jnp.where(a < 1, sample * boost, sample)


_gamma_jit = jit(_gamma_impl)


def _gamma_of(key: Any, a: Any) -> Any:
    return _gamma_jit(key, a)


def _gamma_jvp(primals, tangents):
    raise NotImplementedError(
        "random.gamma: the derivative of a sample with respect to its shape parameter `a` "
        "(implicit reparametrization) is not implemented; hold `a` constant "
        "(lax.stop_gradient(a)) or use a score-function estimator")


def gamma(key: Any, a: Any, shape: Any = None, dtype: Any = None) -> Any:
    """Gamma(a, 1) samples (a > 0; default dtype float64, shape: a's shape). Not
    differentiable with respect to `a` (an error says so)."""
    from .autodiff.custom import custom_jvp

    key = _check_key(key, "gamma")
    d = _float_dtype(dtype, "gamma").np
    shape = _shape(shape, "gamma") if shape is not None else jnp.shape(a)
    a = jnp.broadcast_to(jnp.astype(a, d), shape)
    if not isinstance(a, Tracer):
        return _gamma_jit(key, a)  # a constant `a`: nothing to differentiate
    sampler = custom_jvp(_gamma_of)
    sampler.defjvp(_gamma_jvp)
    return sampler(key, a)


def beta(key: Any, a: Any, b: Any, shape: Any = None, dtype: Any = None) -> Any:
    """Beta(a, b) samples: x / (x + y) of independent Gamma(a) and Gamma(b) samples."""
    key = _check_key(key, "beta")
    shape = _shape(shape, "beta") if shape is not None else tuple(
        np.broadcast_shapes(jnp.shape(a), jnp.shape(b)))
    key_a, key_b = split(key)
    x, y = gamma(key_a, a, shape, dtype), gamma(key_b, b, shape, dtype)
    return x / (x + y)


def dirichlet(key: Any, alpha: Any, shape: Any = None, dtype: Any = None) -> Any:
    """Dirichlet(alpha) samples along the last axis: normalized Gamma(alpha_i) samples."""
    key = _check_key(key, "dirichlet")
    alpha = jnp.asarray(alpha)
    batch = _shape(shape, "dirichlet") if shape is not None else jnp.shape(alpha)[:-1]
    g = gamma(key, alpha, tuple(batch) + jnp.shape(alpha)[-1:], dtype)
    return g / jnp.sum(g, axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# Multivariate
# ---------------------------------------------------------------------------------------------

def _concrete(x: Any) -> Any:
    """x's value when it is known (a NumPy array or a concretely traced value), else None."""
    if isinstance(x, Tracer):
        return x.value
    return np.asarray(x)


def _linalg(name: str, what: str, *args: Any) -> Any:
    """dualjit.numpy.linalg's `name` on args, or NumPy's on concrete values until it exists."""
    fn = getattr(getattr(jnp, "linalg", None), name, None)
    if fn is not None:
        return fn(*args)
    values = [_concrete(a) for a in args]
    if any(v is None for v in values):
        raise NotImplementedError(f"random.{what} on traced values needs "
                                  f"dualjit.numpy.linalg.{name}, which does not exist yet; "
                                  "call it outside jit")
    return getattr(np.linalg, name)(*values)


def multivariate_normal(key: Any, mean: Any, cov: Any, shape: Any = None, dtype: Any = None,
                        method: str = "cholesky") -> Any:
    """Samples of N(mean, cov): mean + factor @ z with factor factor^T = cov (cholesky, eigh or
    svd of cov; NumPy's on concrete values until dualjit.numpy.linalg has them)."""
    key = _check_key(key, "multivariate_normal")
    d = _float_dtype(dtype, "multivariate_normal")
    mean, cov = jnp.asarray(mean), jnp.asarray(cov)
    n = jnp.shape(mean)[-1]
    if jnp.shape(cov)[-2:] != (n, n):
        raise ValueError(f"random.multivariate_normal: cov must have shape (..., {n}, {n}), "
                         f"got {jnp.shape(cov)}")
    batch = tuple(np.broadcast_shapes(jnp.shape(mean)[:-1], jnp.shape(cov)[:-2]))
    shape = batch if shape is None else _shape(shape, "multivariate_normal")
    if method == "cholesky":
        factor = _linalg("cholesky", "multivariate_normal", cov)
    elif method == "eigh":
        w, v = _linalg("eigh", "multivariate_normal", cov)
        factor = v * jnp.sqrt(jnp.maximum(w, 0.0))[..., None, :]
    elif method == "svd":
        u, s, _ = _linalg("svd", "multivariate_normal", cov)
        factor = u * jnp.sqrt(s)[..., None, :]
    else:
        raise ValueError(f"random.multivariate_normal: method must be 'cholesky', 'eigh' or "
                         f"'svd', got {method!r}")
    z = normal(key, shape + (n,), d.np)
    return mean + jnp.sum(factor * jnp.expand_dims(z, -2), axis=-1)  # factor @ z, broadcast


def orthogonal(key: Any, n: int, shape: Any = (), dtype: Any = None) -> Any:
    """Haar-random orthogonal n x n matrices (QR of a normal matrix, signs fixed)."""
    key = _check_key(key, "orthogonal")
    d = _float_dtype(dtype, "orthogonal")
    z = normal(key, _shape(shape, "orthogonal") + (n, n), d.np)
    q, r = _linalg("qr", "orthogonal", z)
    diagonal = jnp.diagonal(r, axis1=-2, axis2=-1) if hasattr(jnp, "diagonal") else \
        np.diagonal(r, axis1=-2, axis2=-1)
    return q * jnp.sign(diagonal)[..., None, :]


__all__ = ["PRNGKey", "key", "key_data", "wrap_key_data", "split", "fold_in", "bits",
           "uniform", "normal", "truncated_normal", "bernoulli", "gumbel", "exponential",
           "laplace", "logistic", "cauchy", "rademacher", "categorical", "randint",
           "permutation", "shuffle", "choice", "multivariate_normal", "orthogonal",
           "threefry_2x32", "erf_inv"]
