"""Random PyTorch programs over the newer parts of the API, written once against `lib`.

`api_program(lib, seed)` draws steps from API_OPS: `torch.linalg` on well-conditioned
matrices (decompositions normalized so that their sign choices do not matter, symmetric
inputs symmetrized inside the program so that the gradient is convention-free), `torch.fft`,
`torch.special` on inputs inside and at the edges of their domains, statistics, search and
shape functions (kron, cov, quantile, searchsorted, bucketize, bincount, histc, rot90,
block_diag, unique, ...), small integer dtypes (int8/uint8/int16/int32: promotion, wrap
around, bitwise ops, shifts), complex64/complex128 arithmetic, in-place variants, the new_*
methods and finfo/iinfo. Every operand is drawn fresh from the seed's streams (or, for
elementwise steps, sometimes taken from earlier results), so the program does not depend
on the library's values. The loss and the leaves' gradients are recorded as in
torch_programs.py (complex terms through view_as_real). Run by `python -m
tests.fuzz.torch_run --api`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .torch_programs import FLOATS, Program, Trace, backward_step, dtype_name, error_record, loss_of

INTS = ("int8", "uint8", "int16", "int32", "int64")
COMPLEX = ("complex64", "complex128")
LOOSE32 = 10.0   # float32 linear algebra: 10x the float32 tolerance on values
LOOSE_GRAD = 30.0  # and on the gradients and loss of a program that has such a step


def api_program(lib: Any, seed: int) -> Trace:
    prog = Program(lib, seed)
    prog.trace.kind = "api"
    rng = prog.rng
    for _ in range(rng.randint(2, 6)):
        op = rng.choice(API_OPS)
        try:
            label, value = op(prog)
        except Exception as e:  # noqa: BLE001 (an error is a result to compare)
            prog.trace.records.append(error_record(prog.pending, e))
            continue
        if value is not None:
            prog.record(label, value)
    try:
        loss = loss_of(prog)
    except Exception as e:  # noqa: BLE001
        prog.trace.records.append(error_record("loss", e))
        loss = None
    if loss is not None and prog.grad_loose > 1:
        prog.loose[prog.loss_label] = prog.grad_loose
    backward_step(prog, loss)
    for name, _ in prog.leaves:
        prog.loose.setdefault(f"{name}.grad", prog.grad_loose)
    return prog.finish()


# ----------------------------------------------------------------------------- helpers

def _leaf(prog: Program, arr: np.ndarray, grad: bool | None = None) -> tuple[str, Any]:
    """A leaf tensor of arr (its dtype), requiring grad (floats and complex: by default
    with probability 0.8); recorded and added to the pool."""
    lib = prog.lib
    if grad is None:
        grad = arr.dtype.kind in "fc" and prog.rng.random() < 0.8
    t = lib.tensor(arr, dtype=getattr(lib, str(arr.dtype)), requires_grad=grad)
    name = f"x{len(prog.leaves)}"
    prog.leaves.append((name, t))
    prog.pool.append((name, t))
    prog.record(f"{name} = leaf({arr.dtype}{arr.shape}{', grad' if grad else ''})", t)
    return name, t


def _const(prog: Program, arr: np.ndarray) -> tuple[str, Any]:
    """A tensor of arr that requires no grad (an index, a weight), spelled by its values."""
    t = prog.lib.tensor(arr, dtype=getattr(prog.lib, str(arr.dtype)))
    flat = np.array2string(arr, threshold=12, separator=",").replace("\n", "")
    return f"tensor({flat}, {arr.dtype})", t


def _call(prog: Program, label: str, fn, loose: float = 1.0):
    prog.pending = label
    value = fn()
    if loose > 1:
        prog.loose[label] = loose
        if isinstance(value, tuple):
            for i in range(len(value)):
                prog.loose[f"{label}[{i}]"] = loose
    if isinstance(value, tuple):
        for v in value:
            if hasattr(v, "requires_grad"):
                prog.add(v)
    elif hasattr(value, "requires_grad"):
        prog.add(value)
    return label, value


def _floats(prog: Program, shape, lo=-2.0, hi=2.0, dtype=None, edges=()) -> np.ndarray:
    dtype = dtype or prog.rng.choice(FLOATS)
    a = prog.data.uniform(lo, hi, shape)
    if edges and a.size and prog.rng.random() < 0.4:
        k = prog.data.integers(0, a.size, max(1, a.size // 3))
        a.reshape(-1)[k] = prog.data.choice(np.asarray(edges, np.float64), k.size)
    return a.astype(dtype)


def _shape(prog: Program, max_dims=3) -> tuple:
    nd = prog.rng.randint(0, max_dims)
    return tuple(prog.rng.choice([0, 1, 2, 3, 4]) if prog.rng.random() < 0.9 else 0
                 for _ in range(nd)) if nd else ()


def _float_operand(prog: Program, shape=None, lo=-2.0, hi=2.0, edges=()):
    """A float operand: an earlier float result (30%) or a fresh leaf."""
    if shape is None and prog.rng.random() < 0.3:
        pool = [p for p in prog.pool if dtype_name(p[1]) in FLOATS]
        if pool:
            return pool[prog.rng.randrange(len(pool))]
    shape = _shape(prog) if shape is None else shape
    return _leaf(prog, _floats(prog, shape, lo, hi, edges=edges))


# ----------------------------------------------------------------------------- linalg

def _orthogonal(prog: Program, n: int) -> np.ndarray:
    q, r = np.linalg.qr(prog.data.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def _with_singular_values(prog: Program, batch, m, n, values, sym=False) -> np.ndarray:
    """batch x m x n matrices U diag(values) V^T (values: min(m, n) of them; sym: V = U)."""
    out = np.zeros(batch + (m, n))
    for idx in np.ndindex(*batch):
        k = min(m, n)
        u = _orthogonal(prog, m)[:, :k]
        v = u if sym else _orthogonal(prog, n)[:, :k]
        out[idx] = (u * values[:k]) @ v.T
    return out


def _spectrum(prog: Program, k: int, lo=0.5) -> np.ndarray:
    """k well-separated positive values (gaps >= 0.4) in random order."""
    vals = lo + 0.5 * np.arange(k) + prog.data.uniform(0, 0.1, k)
    return prog.data.permutation(vals)


def _general(prog: Program, batch, n, dtype) -> np.ndarray:
    """Well-conditioned square matrices with both signs of determinant."""
    a = prog.data.uniform(-1, 1, batch + (n, n)) + n * np.eye(n)
    signs = prog.data.choice([-1.0, 1.0], batch + (n, 1))
    return (a * signs).astype(dtype)


def _sign_fix(lib, m, axis_vec):
    """m with each column's sign chosen so that axis_vec (a row of m) is >= 0: the
    eigenvector/singular vector sign convention made irrelevant."""
    s = lib.where(axis_vec >= 0, 1.0, -1.0).to(m.dtype)
    return m * s.unsqueeze(-2)


def op_linalg(prog: Program):
    rng, lib = prog.rng, prog.lib
    la = lib.linalg
    dtype = rng.choice(FLOATS)
    loose = LOOSE32 if dtype == "float32" else 1.0
    if loose > 1:
        prog.grad_loose = max(prog.grad_loose, LOOSE_GRAD)
    batch = rng.choice([(), (), (2,)])
    n = rng.randint(1, 4)
    res = prog.add_name()
    kind = rng.choice(["solve", "inv", "det", "slogdet", "cholesky", "qr", "eigh", "eigvalsh",
                       "svd", "svdvals", "vector_norm", "matrix_norm", "norm", "pinv", "lstsq",
                       "matrix_power", "cross", "vecdot", "matrix_exp", "solve_triangular",
                       "cond", "matrix_rank", "multi_dot", "inv_ex", "lu_factor", "det_torch"])
    if kind in ("solve", "inv", "det", "slogdet", "matrix_power", "inv_ex", "lu_factor",
                "det_torch"):
        aname, a = _leaf(prog, _general(prog, batch, n, dtype))
        if kind == "solve":
            k = rng.choice([None, 1, 2])
            bshape = batch + ((n,) if k is None else (n, k))
            bname, b = _leaf(prog, _floats(prog, bshape, dtype=rng.choice(FLOATS)))
            left = rng.random() < 0.8
            if not left:
                bname, b = _leaf(prog, _floats(prog, batch + (rng.randint(1, 2), n),
                                               dtype=dtype))
            return _call(prog, f"{res} = torch.linalg.solve({aname}, {bname}, left={left})",
                         lambda: la.solve(a, b, left=left), loose)
        if kind == "matrix_power":
            p = rng.randint(-2, 3)
            return _call(prog, f"{res} = torch.linalg.matrix_power({aname}, {p})",
                         lambda: la.matrix_power(a, p), loose)
        if kind == "slogdet":
            return _call(prog, f"{res} = torch.linalg.slogdet({aname})",
                         lambda: tuple(la.slogdet(a)), loose)
        if kind == "inv_ex":
            return _call(prog, f"{res} = torch.linalg.inv_ex({aname})",
                         lambda: tuple(la.inv_ex(a)), loose)
        if kind == "lu_factor":   # (pivots: LAPACK's, the same choice on both sides)
            return _call(prog, f"{res} = torch.linalg.lu_factor({aname})",
                         lambda: tuple(la.lu_factor(a)), loose)
        if kind == "det_torch":
            fn = rng.choice(["det", "logdet", "inverse"])
            return _call(prog, f"{res} = torch.{fn}({aname})", lambda: getattr(lib, fn)(a),
                         loose)
        return _call(prog, f"{res} = torch.linalg.{kind}({aname})",
                     lambda: getattr(la, kind)(a), loose)
    if kind in ("cholesky", "eigh", "eigvalsh"):
        sym = _with_singular_values(prog, batch, n, n, _spectrum(prog, n), sym=True)
        if kind == "eigh" and rng.random() < 0.3:
            sym = sym - 1.5 * np.eye(n)   # (negative eigenvalues too)
        aname, a = _leaf(prog, sym.astype(dtype))
        upper = rng.random() < 0.3
        uplo = "U" if upper else "L"

        def run():
            s = (a + a.mT) / 2
            if kind == "cholesky":
                return la.cholesky(s, upper=upper)
            if kind == "eigvalsh":
                return la.eigvalsh(s, UPLO=uplo)
            w, v = la.eigh(s, UPLO=uplo)
            return w, _sign_fix(lib, v, v[..., :1, :].squeeze(-2))
        return _call(prog, f"{res} = torch.linalg.{kind}(sym({aname}), {uplo}) "
                     "(eigenvectors signed by their first row)", run, loose)
    if kind in ("svd", "svdvals", "pinv", "lstsq", "cond", "matrix_rank", "matrix_norm"):
        m = rng.randint(1, 4)
        arr = _with_singular_values(prog, batch, m, n, _spectrum(prog, min(m, n)))
        aname, a = _leaf(prog, arr.astype(dtype))
        if kind == "svd":
            def run():
                u, s, vh = la.svd(a, full_matrices=False)
                sign = lib.where(u[..., :1, :].squeeze(-2) >= 0, 1.0, -1.0).to(u.dtype)
                return u * sign.unsqueeze(-2), s, vh * sign.unsqueeze(-1)
            return _call(prog, f"{res} = torch.linalg.svd({aname}, full_matrices=False) "
                         "(signed by U's first row)", run, loose)
        if kind == "lstsq":
            if m < n:
                return _call(prog, f"{res} = torch.linalg.pinv({aname})",
                             lambda: la.pinv(a), loose)
            bname, b = _leaf(prog, _floats(prog, batch + (m, rng.randint(1, 2)), dtype=dtype))
            return _call(prog, f"{res} = torch.linalg.lstsq({aname}, {bname}).solution",
                         lambda: la.lstsq(a, b).solution, loose)
        if kind == "matrix_norm":
            ord_ = rng.choice(["fro", "nuc", 1, -1, 2, -2, float("inf"), float("-inf")])
            keep = rng.random() < 0.3
            return _call(prog, f"{res} = torch.linalg.matrix_norm({aname}, {ord_!r}, "
                         f"keepdim={keep})", lambda: la.matrix_norm(a, ord_, keepdim=keep),
                         loose)
        if kind == "cond":
            p = rng.choice([None, "fro", 2, 1])
            if p not in (None, 2) and m != n:
                p = None
            return _call(prog, f"{res} = torch.linalg.cond({aname}, {p!r})",
                         lambda: la.cond(a, p), loose)
        return _call(prog, f"{res} = torch.linalg.{kind}({aname})",
                     lambda: getattr(la, kind)(a), loose)
    if kind == "qr":
        m = rng.randint(n, 4)
        arr = _with_singular_values(prog, batch, m, n, _spectrum(prog, n))
        aname, a = _leaf(prog, arr.astype(dtype))
        mode = rng.choice(["reduced", "r", "complete"]) if m == n else "reduced"

        def run():
            q, r = la.qr(a, mode=mode)
            if mode == "r":
                return (lib.abs(r),)
            sign = lib.where(lib.diagonal(r, dim1=-2, dim2=-1) >= 0, 1.0, -1.0).to(r.dtype)
            return q * sign.unsqueeze(-2), r * sign.unsqueeze(-1)
        return _call(prog, f"{res} = torch.linalg.qr({aname}, {mode!r}) (signed by diag R)",
                     run, loose)
    if kind in ("vector_norm", "norm"):
        xname, x = _float_operand(prog)
        ord_ = rng.choice([2, 1, float("inf"), float("-inf"), 0, 3, 0.5, -1])
        nd = x.dim()
        dim = None if nd == 0 or rng.random() < 0.4 else rng.randrange(-nd, nd)
        keep = rng.random() < 0.3
        if kind == "norm":
            return _call(prog, f"{res} = torch.linalg.norm({xname}, dim={dim}, keepdim={keep})",
                         lambda: la.norm(x, dim=dim, keepdim=keep))
        return _call(prog, f"{res} = torch.linalg.vector_norm({xname}, {ord_}, dim={dim}, "
                     f"keepdim={keep})", lambda: la.vector_norm(x, ord_, dim=dim, keepdim=keep))
    if kind == "cross":
        shape = batch + (rng.randint(1, 2), 3)
        xname, x = _leaf(prog, _floats(prog, shape, dtype=dtype))
        yname, y = _leaf(prog, _floats(prog, shape[-1:] if rng.random() < 0.3 else shape))
        return _call(prog, f"{res} = torch.linalg.cross({xname}, {yname})",
                     lambda: la.cross(x, y))
    if kind == "vecdot":
        shape = batch + (n,)
        xname, x = _leaf(prog, _floats(prog, shape, dtype=dtype))
        yname, y = _leaf(prog, _floats(prog, shape[-1:], dtype=dtype))
        return _call(prog, f"{res} = torch.linalg.vecdot({xname}, {yname})",
                     lambda: la.vecdot(x, y))
    if kind == "matrix_exp":
        aname, a = _leaf(prog, _floats(prog, batch + (n, n), -1, 1, dtype=dtype))
        return _call(prog, f"{res} = torch.linalg.matrix_exp({aname})",
                     lambda: la.matrix_exp(a), loose)
    if kind == "solve_triangular":
        upper = rng.random() < 0.5
        arr = _general(prog, batch, n, dtype)
        arr = np.triu(arr) if upper else np.tril(arr)
        aname, a = _leaf(prog, arr)
        bname, b = _leaf(prog, _floats(prog, batch + (n, rng.randint(1, 2)), dtype=dtype))
        unit = rng.random() < 0.2
        return _call(prog, f"{res} = torch.linalg.solve_triangular({aname}, {bname}, "
                     f"upper={upper}, unitriangular={unit})",
                     lambda: la.solve_triangular(a, b, upper=upper, unitriangular=unit), loose)
    # multi_dot
    dims = [rng.randint(1, 3) for _ in range(rng.randint(3, 4))]
    mats = []
    for i in range(len(dims) - 1):
        mats.append(_leaf(prog, _floats(prog, (dims[i], dims[i + 1]), dtype=dtype)))
    names = ", ".join(m[0] for m in mats)
    return _call(prog, f"{res} = torch.linalg.multi_dot([{names}])",
                 lambda: la.multi_dot([m[1] for m in mats]))


# ----------------------------------------------------------------------------- fft

def _complex_leaf(prog: Program, shape, dtype: str) -> tuple[str, Any]:
    """A complex operand: a complex leaf, or torch.complex of two float leaves (so the
    gradient reaching real leaves is convention-free)."""
    lib = prog.lib
    if prog.rng.random() < 0.5:
        arr = (prog.data.uniform(-2, 2, shape) + 1j * prog.data.uniform(-2, 2, shape))
        return _leaf(prog, arr.astype(dtype))
    real = "float32" if dtype == "complex64" else "float64"
    rn, re = _leaf(prog, _floats(prog, shape, dtype=real))
    iname, im = _leaf(prog, _floats(prog, shape, dtype=real))
    name = prog.add_name()
    prog.pending = f"{name} = torch.complex({rn}, {iname})"
    z = lib.complex(re, im)
    prog.add(z)
    return name, z


def op_fft(prog: Program):
    rng, lib = prog.rng, prog.lib
    fft = lib.fft
    res = prog.add_name()
    kind = rng.choice(["fft", "ifft", "rfft", "irfft", "fftn", "ifftn", "fft2", "rfftn",
                       "irfftn", "hfft", "ihfft", "fftshift", "ifftshift", "fftfreq",
                       "rfftfreq"])
    if kind in ("fftfreq", "rfftfreq"):
        n, d = rng.randint(1, 6), rng.choice([1.0, 0.5, 2])
        return _call(prog, f"{res} = torch.fft.{kind}({n}, {d})",
                     lambda: getattr(fft, kind)(n, d))
    shape = tuple(rng.randint(1, 5) for _ in range(rng.randint(1, 3)))
    real_in = kind in ("rfft", "rfftn", "ihfft") or (kind != "irfft" and kind != "hfft"
                                                    and kind != "irfftn" and rng.random() < 0.5)
    if real_in:
        r = rng.random()
        if r < 0.1:
            xname, x = _const(prog, prog.data.integers(-3, 4, shape))
        else:
            xname, x = _leaf(prog, _floats(prog, shape))
    else:
        xname, x = _complex_leaf(prog, shape, rng.choice(COMPLEX))
    norm = rng.choice([None, "ortho", "forward", "backward"])
    nd = len(shape)
    if kind in ("fftshift", "ifftshift"):
        dim = None if rng.random() < 0.5 else rng.randrange(-nd, nd)
        return _call(prog, f"{res} = torch.fft.{kind}({xname}, dim={dim})",
                     lambda: getattr(fft, kind)(x, dim=dim))
    if kind in ("fft", "ifft", "rfft", "irfft", "hfft", "ihfft"):
        n = None if rng.random() < 0.6 else rng.randint(1, 6)
        dim = rng.randrange(-nd, nd)
        return _call(prog, f"{res} = torch.fft.{kind}({xname}, n={n}, dim={dim}, norm={norm!r})",
                     lambda: getattr(fft, kind)(x, n=n, dim=dim, norm=norm))
    dims = sorted(rng.sample(range(nd), rng.randint(1, nd)))
    s = None if rng.random() < 0.6 else tuple(rng.randint(1, 5) for _ in dims)
    if kind == "fft2":
        if nd < 2:
            return _call(prog, f"{res} = torch.fft.fft2({xname}) (1-d)", lambda: fft.fft2(x))
        return _call(prog, f"{res} = torch.fft.fft2({xname}, norm={norm!r})",
                     lambda: fft.fft2(x, norm=norm))
    return _call(prog, f"{res} = torch.fft.{kind}({xname}, s={s}, dim={dims}, norm={norm!r})",
                 lambda: getattr(fft, kind)(x, s=s, dim=dims, norm=norm))


# ----------------------------------------------------------------------------- special

SPECIAL = {  # name: (low, high, edge values)
    "erf": (-3, 3, (0.0, 6.0, -6.0, np.inf, np.nan)),
    "erfc": (-3, 6, (0.0, 30.0, -30.0, np.inf, -np.inf)),
    "erfcx": (-2, 30, (0.0, 1e4, -30.0, np.inf)),
    "erfinv": (-1, 1, (-1.0, 1.0, 0.0, 1.5)),
    "ndtr": (-6, 6, (0.0, -40.0, 40.0, -np.inf)),
    "ndtri": (0, 1, (0.0, 1.0, 0.5, 1e-30)),
    "log_ndtr": (-40, 6, (-1e3, 0.0, 40.0, -np.inf)),
    "gammaln": (-4, 6, (0.0, -1.0, 1.0, 2.0, 1e-30, 200.0, -2.5)),
    "digamma": (-4, 6, (0.0, -1.0, 1.0, -2.5, 1e-8, 1e4)),
    "psi": (0.1, 5, (1.0,)),
    "i0": (-5, 5, (0.0, 30.0, -30.0)),
    "i0e": (-30, 30, (0.0, 1e3, -1e3)),
    "i1e": (-30, 30, (0.0, 1e3, -1e3)),
    "sinc": (-3, 3, (0.0, 1.0, -2.0, 1e-9)),
    "logit": (0, 1, (0.0, 1.0, 0.5)),
    "expit": (-10, 10, (0.0, 100.0, -100.0, -800.0)),
    "entr": (-0.5, 2, (0.0, -0.0, np.inf)),
    "exp2": (-5, 5, (0.0, 200.0)),
    "expm1": (-3, 3, (0.0, 1e-10)),
    "log1p": (-0.9, 3, (-1.0, 0.0, 1e-10)),
}


def op_special(prog: Program):
    rng, lib = prog.rng, prog.lib
    sp = lib.special
    res = prog.add_name()
    kind = rng.choice(list(SPECIAL) + ["xlogy", "xlog1py", "softmax", "log_softmax",
                                       "logsumexp", "polygamma", "multigammaln", "torch_fn",
                                       "int_input"])
    if kind in SPECIAL:
        lo, hi, edges = SPECIAL[kind]
        xname, x = _float_operand(prog, _shape(prog), lo, hi, edges)
        if kind == "logit" and rng.random() < 0.4:
            eps = rng.choice([1e-6, 0.1])
            return _call(prog, f"{res} = torch.special.logit({xname}, eps={eps})",
                         lambda: sp.logit(x, eps=eps))
        return _call(prog, f"{res} = torch.special.{kind}({xname})",
                     lambda: getattr(sp, kind)(x))
    if kind == "int_input":
        fn = rng.choice(["erf", "erfinv", "ndtr", "i0", "sinc", "expit", "gammaln", "digamma",
                         "log_ndtr", "entr", "exp2", "xlogy"])
        xname, x = _const(prog, prog.data.integers(-2, 3, _shape(prog, 2)).astype(
            rng.choice(["int64", "int32", "uint8", "bool"])))
        if fn == "xlogy":
            return _call(prog, f"{res} = torch.special.xlogy({xname}, {xname})",
                         lambda: sp.xlogy(x, x))
        return _call(prog, f"{res} = torch.special.{fn}({xname})", lambda: getattr(sp, fn)(x))
    if kind in ("xlogy", "xlog1py"):
        shape = _shape(prog)
        xname, x = _leaf(prog, _floats(prog, shape, -1, 2, edges=(0.0, np.nan)))
        lo = 0.0 if kind == "xlogy" else -1.0
        yshape = shape[-1:] if shape and rng.random() < 0.3 else shape
        r = rng.random()
        if r < 0.2:
            yval = rng.choice([0.0, 2.0, 0.5])
            yname = repr(yval)
        else:
            yname, yv = _leaf(prog, _floats(prog, yshape, lo, 3, edges=(lo, np.inf, np.nan)))
            yval = yv
        if r >= 0.2 and rng.random() < 0.2:   # a Python-number first operand
            xv = rng.choice([0.0, 1.5])
            return _call(prog, f"{res} = torch.special.{kind}({xv}, {yname})",
                         lambda: getattr(sp, kind)(xv, yval))
        return _call(prog, f"{res} = torch.special.{kind}({xname}, {yname})",
                     lambda: getattr(sp, kind)(x, yval))
    if kind in ("softmax", "log_softmax", "logsumexp"):
        shape = _shape(prog)
        xname, x = _float_operand(prog, shape, -3, 3, (np.inf, -np.inf, 50.0))
        nd = x.dim()
        dim = rng.randrange(-nd, nd) if nd else 0
        if kind == "logsumexp":
            return _call(prog, f"{res} = torch.special.logsumexp({xname}, {dim})",
                         lambda: sp.logsumexp(x, dim))
        dt = rng.choice([None, None, "float64", "float32"])
        return _call(prog, f"{res} = torch.special.{kind}({xname}, {dim}, dtype={dt})",
                     lambda: getattr(sp, kind)(x, dim, dtype=dt and getattr(lib, dt)))
    if kind == "polygamma":
        n = rng.randint(0, 3)
        xname, x = _float_operand(prog, _shape(prog), 0.2, 5, (1.0, -1.5))
        return _call(prog, f"{res} = torch.special.polygamma({n}, {xname})",
                     lambda: sp.polygamma(n, x))
    if kind == "multigammaln":
        p = rng.randint(1, 3)
        xname, x = _leaf(prog, _floats(prog, _shape(prog), (p - 1) / 2 + 0.1, 5))
        return _call(prog, f"{res} = torch.special.multigammaln({xname}, {p})",
                     lambda: sp.multigammaln(x, p))
    fn = rng.choice(["erfc", "erfinv", "lgamma", "digamma", "i0", "sinc", "logit", "xlogy",
                     "logaddexp", "heaviside", "deg2rad", "logcumsumexp"])
    lo, hi = (-1, 1) if fn == "erfinv" else (0, 1) if fn == "logit" else (-3, 3)
    xname, x = _float_operand(prog, _shape(prog), lo, hi, (0.0,))
    if fn in ("xlogy", "logaddexp", "heaviside"):
        yname, y = _leaf(prog, _floats(prog, tuple(x.shape), -1, 3, edges=(0.0,)))
        return _call(prog, f"{res} = {xname}.{fn}({yname})", lambda: getattr(x, fn)(y))
    if fn == "logcumsumexp":
        d = rng.randrange(-x.dim(), x.dim()) if x.dim() else 0
        return _call(prog, f"{res} = torch.logcumsumexp({xname}, {d})",
                     lambda: lib.logcumsumexp(x, d))
    return _call(prog, f"{res} = torch.{fn}({xname})", lambda: getattr(lib, fn)(x))


# ----------------------------------------------------------------------------- statistics, search

def _int_array(prog: Program, shape, lo=-3, hi=4, dtype="int64") -> np.ndarray:
    return prog.data.integers(lo, hi, shape).astype(dtype)


def op_misc(prog: Program):
    rng, lib = prog.rng, prog.lib
    res = prog.add_name()
    kind = rng.choice(["kron", "cov", "corrcoef", "quantile", "searchsorted", "bucketize",
                       "bincount", "histc", "rot90", "block_diag", "unique",
                       "unique_consecutive", "diff", "cummax", "cartesian_prod", "combinations",
                       "trapezoid", "vander", "diag_embed", "tensor_split", "nanmedian",
                       "take_along_dim", "scatter_reduce", "dist", "tril_indices", "msort",
                       "aminmax", "baddbmm", "vdot"])
    dtype = rng.choice(["float32", "float64", "float64", "int64", "int32", "bool"])

    def operand(shape, dt=None):
        dt = dt or dtype
        if dt in FLOATS:
            return _leaf(prog, _floats(prog, shape, dtype=dt))
        if dt == "bool":
            return _const(prog, prog.data.random(shape) < 0.5)
        return _const(prog, _int_array(prog, shape, dtype=dt))

    if kind == "kron":
        an, a = operand(_shape(prog))
        bn, b = operand(_shape(prog), rng.choice([dtype, "float64", "int64"]))
        return _call(prog, f"{res} = torch.kron({an}, {bn})", lambda: lib.kron(a, b))
    if kind in ("cov", "corrcoef"):
        shape = rng.choice([(3,), (2, 4), (1, 3), (3, 2), (2, 1), (0,)])
        xn, x = operand(shape)
        if kind == "corrcoef":
            return _call(prog, f"{res} = torch.corrcoef({xn})", lambda: lib.corrcoef(x))
        corr = rng.choice([0, 1, 2])
        n_obs = shape[-1]
        fw = _const(prog, _int_array(prog, (n_obs,), 0, 3)) if rng.random() < 0.3 else None
        aw = _leaf(prog, _floats(prog, (n_obs,), 0.1, 2)) if rng.random() < 0.3 else None
        return _call(prog, f"{res} = torch.cov({xn}, correction={corr}, fweights={fw and fw[0]},"
                     f" aweights={aw and aw[0]})",
                     lambda: lib.cov(x, correction=corr, fweights=fw and fw[1],
                                     aweights=aw and aw[1]))
    if kind == "quantile":
        shape = _shape(prog)
        xn, x = _leaf(prog, _floats(prog, shape, edges=(np.nan,) if rng.random() < 0.2 else ()))
        if rng.random() < 0.5:
            q = rng.choice([0.0, 0.25, 0.5, 0.9, 1.0])
            qn = repr(q)
        else:
            qn, q = _const(prog, np.sort(prog.data.uniform(0, 1, rng.randint(0, 3))).astype(
                dtype_name(x)))
        nd = len(shape)
        dim = None if nd == 0 or rng.random() < 0.4 else rng.randrange(-nd, nd)
        keep = rng.random() < 0.3
        interp = rng.choice(["linear", "lower", "higher", "midpoint", "nearest"])
        return _call(prog, f"{res} = torch.quantile({xn}, {qn}, dim={dim}, keepdim={keep}, "
                     f"interpolation={interp!r})",
                     lambda: lib.quantile(x, q, dim=dim, keepdim=keep, interpolation=interp))
    if kind in ("searchsorted", "bucketize"):
        dt = rng.choice(["float32", "float64", "int64", "int32"])
        n = rng.randint(0, 5)
        nd_seq = kind == "searchsorted" and rng.random() < 0.3
        seq_shape = (2, n) if nd_seq else (n,)
        seq = np.sort(prog.data.integers(-3, 4, seq_shape), axis=-1).astype(dt)
        sn, s = _const(prog, seq)
        vshape = (2, rng.randint(0, 3)) if nd_seq else _shape(prog, 2)
        vals = prog.data.integers(-4, 5, vshape).astype(rng.choice([dt, "float64", "int64"]))
        if vals.dtype.kind == "f":
            vals = vals + prog.data.choice([0.0, 0.5], vals.shape)
        vn, v = _const(prog, vals)
        right = rng.random() < 0.5
        i32 = rng.random() < 0.2
        if kind == "bucketize":
            return _call(prog, f"{res} = torch.bucketize({vn}, {sn}, right={right}, "
                         f"out_int32={i32})",
                         lambda: lib.bucketize(v, s, right=right, out_int32=i32))
        if rng.random() < 0.3:
            side = "right" if right else "left"
            return _call(prog, f"{res} = torch.searchsorted({sn}, {vn}, side={side!r})",
                         lambda: lib.searchsorted(s, v, side=side))
        if rng.random() < 0.2 and not nd_seq:
            scalar = rng.choice([0, 1.5, -3])
            return _call(prog, f"{res} = torch.searchsorted({sn}, {scalar})",
                         lambda: lib.searchsorted(s, scalar))
        return _call(prog, f"{res} = torch.searchsorted({sn}, {vn}, right={right}, "
                     f"out_int32={i32})", lambda: lib.searchsorted(s, v, right=right,
                                                                   out_int32=i32))
    if kind == "bincount":
        n = rng.randint(0, 6)
        xn, x = _const(prog, _int_array(prog, (n,), 0, 5, rng.choice(["int64", "int32",
                                                                     "uint8", "int8"])))
        w = None
        if rng.random() < 0.5:
            w = _leaf(prog, _floats(prog, (n,))) if rng.random() < 0.7 else \
                _const(prog, _int_array(prog, (n,)))
        ml = rng.choice([0, 0, 3, 7])
        return _call(prog, f"{res} = torch.bincount({xn}, weights={w and w[0]}, minlength={ml})",
                     lambda: lib.bincount(x, weights=w and w[1], minlength=ml))
    if kind == "histc":
        xn, x = _const(prog, _floats(prog, _shape(prog), -3, 3, edges=(0.0, 1.0, -1.0)))
        bins = rng.choice([1, 3, 4, 10])
        lo, hi = rng.choice([(0, 0), (-1, 1), (-2, 2.5), (0, 1)])
        return _call(prog, f"{res} = torch.histc({xn}, bins={bins}, min={lo}, max={hi})",
                     lambda: lib.histc(x, bins=bins, min=lo, max=hi))
    if kind == "rot90":
        shape = tuple(rng.randint(0, 3) for _ in range(rng.randint(2, 3)))
        xn, x = operand(shape)
        k = rng.randint(-5, 5)
        dims = rng.sample(range(len(shape)), 2)
        return _call(prog, f"{res} = torch.rot90({xn}, {k}, {dims})",
                     lambda: lib.rot90(x, k, dims))
    if kind == "block_diag":
        ts = [operand(rng.choice([(), (2,), (1, 3), (2, 2), (0, 2), (2, 0)]),
                      rng.choice([dtype, "float64", "int64"])) for _ in range(rng.randint(0, 3))]
        return _call(prog, f"{res} = torch.block_diag({', '.join(t[0] for t in ts)})",
                     lambda: lib.block_diag(*[t[1] for t in ts]))
    if kind in ("unique", "unique_consecutive"):
        shape = _shape(prog, 2)
        arr = prog.data.integers(-2, 3, shape).astype(
            dtype if dtype in ("int64", "int32", "bool") else rng.choice(FLOATS))
        xn, x = _const(prog, arr)
        inv, cnt = rng.random() < 0.5, rng.random() < 0.5
        dim = None if not shape or rng.random() < 0.6 else rng.randrange(len(shape))
        if kind == "unique":
            return _call(prog, f"{res} = torch.unique({xn}, return_inverse={inv}, "
                         f"return_counts={cnt}, dim={dim})",
                         lambda: lib.unique(x, return_inverse=inv, return_counts=cnt, dim=dim))
        return _call(prog, f"{res} = torch.unique_consecutive({xn}, return_inverse={inv}, "
                     f"return_counts={cnt}, dim={dim})",
                     lambda: lib.unique_consecutive(x, return_inverse=inv, return_counts=cnt,
                                                    dim=dim))
    if kind == "diff":
        shape = _shape(prog) or (3,)
        xn, x = operand(shape)
        n = rng.randint(0, 3)
        dim = rng.randrange(-len(shape), len(shape))
        pre = None
        if rng.random() < 0.3:
            pshape = list(shape)
            pshape[dim] = rng.randint(0, 2)
            pre = operand(tuple(pshape))
        return _call(prog, f"{res} = torch.diff({xn}, n={n}, dim={dim}, "
                     f"prepend={pre and pre[0]})",
                     lambda: lib.diff(x, n=n, dim=dim, prepend=pre and pre[1]))
    if kind == "cummax":
        shape = _shape(prog) or (3,)
        xn, x = operand(shape)
        fn = rng.choice(["cummax", "cummin"])
        d = rng.randrange(-len(shape), len(shape))

        def run():
            v, i = getattr(lib, fn)(x, d)
            return (v,) if dtype not in FLOATS else (v, i)   # (integer ties: any index)
        return _call(prog, f"{res} = torch.{fn}({xn}, {d})", run)
    if kind == "cartesian_prod":
        ts = [operand((rng.randint(0, 3),)) for _ in range(rng.randint(1, 3))]
        return _call(prog, f"{res} = torch.cartesian_prod({', '.join(t[0] for t in ts)})",
                     lambda: lib.cartesian_prod(*[t[1] for t in ts]))
    if kind == "combinations":
        xn, x = operand((rng.randint(0, 4),))
        r, wr = rng.randint(0, 3), rng.random() < 0.3
        return _call(prog, f"{res} = torch.combinations({xn}, {r}, with_replacement={wr})",
                     lambda: lib.combinations(x, r, with_replacement=wr))
    if kind == "trapezoid":
        shape = _shape(prog) or (3,)
        yn, y = operand(shape)
        if rng.random() < 0.5:
            dx = rng.choice([1, 0.5, 2])
            return _call(prog, f"{res} = torch.trapezoid({yn}, dx={dx})",
                         lambda: lib.trapezoid(y, dx=dx))
        xn, x = operand(shape[-1:])
        return _call(prog, f"{res} = torch.trapezoid({yn}, {xn})", lambda: lib.trapezoid(y, x))
    if kind == "vander":
        xn, x = operand((rng.randint(0, 4),))
        n = rng.choice([None, 0, 1, 3])
        inc = rng.random() < 0.5
        if inc:
            return _call(prog, f"{res} = torch.vander({xn}, N={n}, increasing=True)",
                         lambda: lib.vander(x, N=n, increasing=True))
        return _call(prog, f"{res} = torch.linalg.vander({xn}, N={n})",
                     lambda: lib.linalg.vander(x, N=n))
    if kind == "diag_embed":
        xn, x = operand(_shape(prog) or (2,))
        off = rng.randint(-1, 1)
        return _call(prog, f"{res} = torch.diag_embed({xn}, {off})",
                     lambda: lib.diag_embed(x, off))
    if kind == "tensor_split":
        shape = _shape(prog) or (4,)
        xn, x = operand(shape)
        spec = rng.choice([2, 3, [1], [0, 2], [3, 1]])
        d = rng.randrange(len(shape))
        return _call(prog, f"{res} = torch.tensor_split({xn}, {spec}, {d})",
                     lambda: tuple(lib.tensor_split(x, spec, d)))
    if kind == "nanmedian":
        shape = _shape(prog) or (3,)
        xn, x = _leaf(prog, _floats(prog, shape, edges=(np.nan,)))
        d = rng.randrange(len(shape))

        def run():
            v, i = lib.nanmedian(x, d)
            return v, i
        return _call(prog, f"{res} = torch.nanmedian({xn}, {d})", run)
    if kind == "take_along_dim":
        shape = _shape(prog) or (3,)
        xn, x = operand(shape)
        d = rng.randrange(len(shape))
        ishape = list(shape)
        ishape[d] = rng.randint(0, 3)
        idx = _const(prog, _int_array(prog, tuple(ishape), 0, max(shape[d], 1)))
        return _call(prog, f"{res} = torch.take_along_dim({xn}, {idx[0]}, {d})",
                     lambda: lib.take_along_dim(x, idx[1], d))
    if kind == "scatter_reduce":
        n = rng.randint(1, 4)
        xn, x = _leaf(prog, _floats(prog, (n,)))
        m = rng.randint(0, 5)
        idx = _const(prog, _int_array(prog, (m,), 0, n))
        sn, s = _leaf(prog, _floats(prog, (m,), dtype=dtype_name(x)))
        red = rng.choice(["sum", "prod", "mean", "amax", "amin"])
        inc = rng.random() < 0.5
        return _call(prog, f"{res} = {xn}.scatter_reduce(0, {idx[0]}, {sn}, {red!r}, "
                     f"include_self={inc})",
                     lambda: x.scatter_reduce(0, idx[1], s, red, include_self=inc))
    if kind == "dist":
        shape = _shape(prog)
        xn, x = _leaf(prog, _floats(prog, shape))
        yn, y = _leaf(prog, _floats(prog, shape[-1:] if shape else ()))
        p = rng.choice([2, 1, 0, float("inf"), 3])
        return _call(prog, f"{res} = torch.dist({xn}, {yn}, {p})", lambda: lib.dist(x, y, p))
    if kind == "tril_indices":
        r, c, off = rng.randint(0, 4), rng.randint(0, 4), rng.randint(-2, 2)
        fn = rng.choice(["tril_indices", "triu_indices"])
        return _call(prog, f"{res} = torch.{fn}({r}, {c}, {off})",
                     lambda: getattr(lib, fn)(r, c, off))
    if kind == "msort":
        xn, x = operand(_shape(prog) or (3,))
        return _call(prog, f"{res} = torch.msort({xn})", lambda: lib.msort(x))
    if kind == "aminmax":
        shape = _shape(prog)
        xn, x = operand(shape)
        d = None if not shape or rng.random() < 0.5 else rng.randrange(len(shape))
        return _call(prog, f"{res} = torch.aminmax({xn}, dim={d})",
                     lambda: tuple(lib.aminmax(x, dim=d)))
    if kind == "baddbmm":
        b, n, k, m = rng.randint(1, 2), rng.randint(0, 2), rng.randint(0, 3), rng.randint(1, 2)
        dt = rng.choice(FLOATS)
        inp = _leaf(prog, _floats(prog, (n, m), dtype=dt))
        b1 = _leaf(prog, _floats(prog, (b, n, k), dtype=dt))
        b2 = _leaf(prog, _floats(prog, (b, k, m), dtype=dt))
        beta, alpha = rng.choice([1, 0, 0.5]), rng.choice([1, -2])
        return _call(prog, f"{res} = torch.baddbmm({inp[0]}, {b1[0]}, {b2[0]}, beta={beta}, "
                     f"alpha={alpha})",
                     lambda: lib.baddbmm(inp[1], b1[1], b2[1], beta=beta, alpha=alpha))
    n = rng.randint(0, 4)
    if rng.random() < 0.5:
        an, a = _complex_leaf(prog, (n,), rng.choice(COMPLEX))
        bn, b = _complex_leaf(prog, (n,), dtype_name(a))
    else:
        an, a = operand((n,), rng.choice(FLOATS))
        bn, b = operand((n,), dtype_name(a))
    return _call(prog, f"{res} = torch.vdot({an}, {bn})", lambda: lib.vdot(a, b))


# ----------------------------------------------------------------------------- integer dtypes

def _small_ints(prog: Program, shape, dtype: str) -> np.ndarray:
    info = np.iinfo(dtype)
    if prog.rng.random() < 0.5:
        a = prog.data.integers(max(info.min, -5), 6, shape)
    else:
        a = prog.data.integers(info.min, int(info.max) + 1, shape)
    return a.astype(dtype)


INT_BINARY = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "//": lambda a, b: a // b, "%": lambda a, b: a % b, "/": lambda a, b: a / b,
    "&": lambda a, b: a & b, "|": lambda a, b: a | b, "^": lambda a, b: a ^ b,
    "<<": lambda a, b: a << b, ">>": lambda a, b: a >> b, "**": lambda a, b: a ** b,
    "<": lambda a, b: a < b, "==": lambda a, b: a == b,
}


def op_int(prog: Program):
    rng, lib = prog.rng, prog.lib
    res = prog.add_name()
    dt = rng.choice(INTS[:4] + ("int64",))
    shape = _shape(prog, 2)
    an, a = _const(prog, _small_ints(prog, shape, dt))
    kind = rng.choice(["binary", "binary", "binary", "unary", "reduce", "cast", "fn"])
    if kind == "binary":
        sym = rng.choice(list(INT_BINARY))
        r = rng.random()
        if r < 0.35:
            bn = rng.choice([1, 2, 3, -1, 7, 200, 300, 1000, -129, 0.5, True])
            if sym in ("<<", ">>", "**") and (isinstance(bn, float) or not 0 <= bn <= 9):
                bn = rng.randint(0, 9)
            b = bn
        else:
            bdt = rng.choice(list(INTS) + ["bool", "float32", "int64"])
            bshape = shape[-1:] if shape and rng.random() < 0.3 else () if r < 0.5 else shape
            if sym in ("<<", ">>", "**"):
                arr = prog.data.integers(0, 9 if sym != "**" else 4, bshape).astype(
                    bdt if bdt != "float32" else "int64")
            elif bdt == "bool":
                arr = prog.data.random(bshape) < 0.5
            elif bdt == "float32":
                arr = prog.data.uniform(-3, 3, bshape).astype(bdt)
            else:
                arr = _small_ints(prog, bshape, bdt)
                if sym in ("//", "%"):
                    arr[arr == 0] = 1   # (division by zero: tested elsewhere)
            bn, b = _const(prog, arr)
        if sym in ("//", "%") and not hasattr(b, "shape") and b == 0:
            b = 1
        swap = rng.random() < 0.25 and hasattr(b, "shape") and sym not in ("//", "%")
        x, y, sx, sy = (b, a, bn, an) if swap else (a, b, an, bn)
        return _call(prog, f"{res} = {sx} {sym} {sy}", lambda: INT_BINARY[sym](x, y))
    if kind == "unary":
        fn = rng.choice(["neg", "abs", "bitwise_not", "~", "sign", "square", "logical_not",
                         "float", "sqrt"])
        if fn == "~":
            return _call(prog, f"{res} = ~{an}", lambda: ~a)
        return _call(prog, f"{res} = torch.{fn}({an})", lambda: getattr(lib, fn)(a))
    if kind == "reduce":
        fn = rng.choice(["sum", "prod", "cumsum", "max", "amin", "mean", "cumprod", "argmax"])
        d = None if not shape or rng.random() < 0.4 else rng.randrange(len(shape))
        if fn in ("cumsum", "cumprod"):
            d = 0 if d is None else d
            return _call(prog, f"{res} = torch.{fn}({an}, {d})", lambda: getattr(lib, fn)(a, d))
        if fn == "max" and d is not None:
            return _call(prog, f"{res} = torch.max({an}, {d}).values",
                         lambda: lib.max(a, d).values)
        if fn in ("sum", "prod") and rng.random() < 0.3:
            odt = rng.choice(["int8", "int32", "float64"])
            return _call(prog, f"{res} = torch.{fn}({an}, dtype={odt})",
                         lambda: getattr(lib, fn)(a, dtype=getattr(lib, odt)))
        if d is None:
            return _call(prog, f"{res} = torch.{fn}({an})", lambda: getattr(lib, fn)(a))
        return _call(prog, f"{res} = torch.{fn}({an}, {d})", lambda: getattr(lib, fn)(a, d))
    if kind == "cast":
        to = rng.choice(INTS + ("bool", "float32", "float64", "complex64"))
        return _call(prog, f"{res} = {an}.to(torch.{to})", lambda: a.to(getattr(lib, to)))
    fn = rng.choice(["bitwise_and", "bitwise_or", "bitwise_xor", "clamp", "where", "maximum",
                     "remainder", "fmod", "div_floor", "div_trunc", "promote", "iinfo"])
    if fn == "iinfo":
        name = rng.choice(INTS)

        def run():
            i = lib.iinfo(getattr(lib, name))
            return i.min, i.max, i.bits
        return _call(prog, f"{res} = torch.iinfo(torch.{name}) (min, max, bits)", run)
    if fn == "promote":
        other = rng.choice(INTS + ("bool", "float32", "float64", "complex64"))
        return _call(prog, f"{res} = torch.promote_types(torch.{dt}, torch.{other})",
                     lambda: lib.zeros(1, dtype=lib.promote_types(getattr(lib, dt),
                                                                   getattr(lib, other))))
    bdt = rng.choice(INTS + ("bool",))
    barr = _small_ints(prog, shape, bdt) if bdt != "bool" else prog.data.random(shape) < 0.5
    if fn in ("remainder", "fmod", "div_floor", "div_trunc") and bdt != "bool":
        barr[barr == 0] = 3
    bn, b = _const(prog, barr)
    if fn == "clamp":
        lo, hi = rng.choice([(-3, 100), (0, None), (None, 5), (-200, 300), (1.5, None)])
        return _call(prog, f"{res} = torch.clamp({an}, {lo}, {hi})",
                     lambda: lib.clamp(a, lo, hi))
    if fn == "where":
        c = _const(prog, prog.data.random(shape) < 0.5)
        return _call(prog, f"{res} = torch.where({c[0]}, {an}, {bn})",
                     lambda: lib.where(c[1], a, b))
    if fn in ("div_floor", "div_trunc"):
        mode = fn[4:]
        return _call(prog, f"{res} = torch.div({an}, {bn}, rounding_mode={mode!r})",
                     lambda: lib.div(a, b, rounding_mode=mode))
    return _call(prog, f"{res} = torch.{fn}({an}, {bn})", lambda: getattr(lib, fn)(a, b))


# ----------------------------------------------------------------------------- complex

CPLX_BINARY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
               "/": lambda a, b: a / b, "**": lambda a, b: a ** b, "==": lambda a, b: a == b}


def op_complex(prog: Program):
    rng, lib = prog.rng, prog.lib
    res = prog.add_name()
    dt = rng.choice(COMPLEX)
    shape = _shape(prog, 2)
    zn, z = _complex_leaf(prog, shape, dt)
    kind = rng.choice(["binary", "binary", "unary", "unary", "reduce", "matmul", "cast",
                       "polar", "view_as_real"])
    if kind == "binary":
        sym = rng.choice(list(CPLX_BINARY))
        r = rng.random()
        if r < 0.35:
            bn = rng.choice([2, -1, 0.5, 1j, 0.5 - 2j, True, 3])
            b = bn
        else:
            bdt = rng.choice(list(COMPLEX) + ["float32", "float64", "int64", "int8", "bool"])
            bshape = shape[-1:] if shape and rng.random() < 0.3 else () if r < 0.5 else shape
            if bdt in COMPLEX:
                bn, b = _complex_leaf(prog, bshape, bdt)
            elif bdt in FLOATS:
                bn, b = _leaf(prog, _floats(prog, bshape, 0.2, 2, dtype=bdt))
            elif bdt == "bool":
                bn, b = _const(prog, prog.data.random(bshape) < 0.5)
            else:
                bn, b = _const(prog, prog.data.integers(1, 4, bshape).astype(bdt))
        if sym == "**" and not isinstance(b, (int, float, complex)):
            sym = "*"
        swap = rng.random() < 0.3
        x, y, sx, sy = (b, z, bn, zn) if swap else (z, b, zn, bn)
        return _call(prog, f"{res} = {sx} {sym} {sy}", lambda: CPLX_BINARY[sym](x, y))
    if kind == "unary":
        fn = rng.choice(["abs", "angle", "conj", "real", "imag", "exp", "log", "sqrt", "sin",
                         "tanh", "reciprocal", "sgn", "square", "neg", "rsqrt", "sigmoid",
                         "log1p", "expm1", "isfinite", "conj_physical", "resolve_conj"])
        if fn in ("real", "imag"):
            return _call(prog, f"{res} = {zn}.{fn}", lambda: getattr(z, fn))
        return _call(prog, f"{res} = torch.{fn}({zn})", lambda: getattr(lib, fn)(z))
    if kind == "reduce":
        fn = rng.choice(["sum", "mean", "prod", "cumsum", "norm", "vector_norm"])
        d = None if not shape or rng.random() < 0.4 else rng.randrange(len(shape))
        if fn == "cumsum":
            d = 0 if d is None else d
        if fn == "vector_norm":
            return _call(prog, f"{res} = torch.linalg.vector_norm({zn}, dim={d})",
                         lambda: lib.linalg.vector_norm(z, dim=d))
        if d is None:
            return _call(prog, f"{res} = torch.{fn}({zn})", lambda: getattr(lib, fn)(z))
        return _call(prog, f"{res} = torch.{fn}({zn}, {d})", lambda: getattr(lib, fn)(z, d))
    if kind == "matmul":
        k = shape[-1] if shape else 1
        wn, w = _complex_leaf(prog, (k, rng.randint(1, 3)), rng.choice(COMPLEX)) \
            if rng.random() < 0.7 else _leaf(prog, _floats(prog, (k, 2)))
        if not shape:
            return _call(prog, f"{res} = {zn} * {wn}", lambda: z * w)
        return _call(prog, f"{res} = {zn} @ {wn}", lambda: z @ w)
    if kind == "cast":
        to = rng.choice(COMPLEX + ("float32",))
        return _call(prog, f"{res} = {zn}.to(torch.{to})", lambda: z.to(getattr(lib, to)))
    if kind == "polar":
        an, a = _leaf(prog, _floats(prog, shape, 0.1, 2, dtype=rng.choice(FLOATS)))
        bn, b = _leaf(prog, _floats(prog, shape, -3, 3, dtype=dtype_name(a)))
        return _call(prog, f"{res} = torch.polar({an}, {bn})", lambda: lib.polar(a, b))
    return _call(prog, f"{res} = torch.view_as_real({zn})", lambda: lib.view_as_real(z))


# ----------------------------------------------------------------------------- in place, new_*

INPLACE_UNARY = ["tan_", "ceil_", "floor_", "trunc_", "round_", "sign_", "sigmoid_",
                 "reciprocal_", "rsqrt_", "sqrt_", "log_", "log1p_", "log2_", "expm1_",
                 "square_", "neg_", "abs_", "relu_", "exp_", "cos_", "tanh_", "fix_",
                 "absolute_", "negative_", "erfinv_", "lgamma_", "digamma_", "i0_", "sinc_",
                 "logit_", "frac_", "asin_", "atan_", "sinh_", "cosh_", "deg2rad_", "exp2_",
                 "log10_", "sgn_", "nan_to_num_"]


def op_inplace(prog: Program):
    rng = prog.rng
    dt = rng.choice(["float32", "float64", "float64", "int64", "int8", "uint8", "int32",
                     "complex64"])
    shape = _shape(prog, 2)
    if dt in FLOATS:
        xn, x0 = _leaf(prog, _floats(prog, shape, -0.9, 0.9, dtype=dt))
    elif dt in COMPLEX:
        xn, x0 = _complex_leaf(prog, shape, dt)
    else:
        xn, x0 = _const(prog, _small_ints(prog, shape, dt))
    bname = prog.add_name()
    prog.pending = f"{bname} = {xn} * 1"
    x = x0 * 1
    prog.add(x)
    res = prog.add_name()
    kind = rng.choice(["unary", "unary", "binary", "lerp_", "addcmul_", "addcdiv_",
                       "index_fill_", "fill_diagonal_", "tril_", "clamp_min_", "clamp_max_",
                       "index_copy_", "masked_scatter_", "put_", "scatter_", "index_put_",
                       "bitwise"])
    if kind == "unary":
        fn = rng.choice(INPLACE_UNARY)
        label, f = f"{bname}.{fn}()", lambda: getattr(x, fn)()
    elif kind == "binary":
        fn = rng.choice(["add_", "sub_", "mul_", "div_", "pow_", "remainder_", "fmod_",
                         "floor_divide_", "atan2_", "hypot_", "xlogy_", "true_divide_",
                         "copysign_", "float_power_", "logical_and_"])
        if rng.random() < 0.4:
            o = rng.choice([2, -1, 0.5, 3, 200, True])
            on = repr(o)
        else:
            odt = rng.choice([dt, "float32", "int64", "int8", "bool", "float64"])
            oshape = shape[-1:] if shape and rng.random() < 0.3 else shape
            if odt in FLOATS:
                on, o = _leaf(prog, _floats(prog, oshape, 0.2, 2, dtype=odt))
            elif odt == "bool":
                on, o = _const(prog, prog.data.random(oshape) < 0.5)
            else:
                on, o = _const(prog, prog.data.integers(1, 4, oshape).astype(odt))
        label, f = f"{bname}.{fn}({on})", lambda: getattr(x, fn)(o)
    elif kind == "lerp_":
        en, e = _leaf(prog, _floats(prog, shape, dtype=dt if dt in FLOATS else "float32"))
        w = rng.choice([0.5, 0.0, 1.5])
        label, f = f"{bname}.lerp_({en}, {w})", lambda: x.lerp_(e, w)
    elif kind in ("addcmul_", "addcdiv_"):
        t1n, t1 = _leaf(prog, _floats(prog, shape, 0.5, 2, dtype=dt if dt in FLOATS else
                                      "float32"))
        t2n, t2 = _leaf(prog, _floats(prog, shape[-1:] if shape else (), 0.5, 2,
                                      dtype=dtype_name(t1)))
        v = rng.choice([1, 0.5, -2])
        label, f = f"{bname}.{kind}({t1n}, {t2n}, value={v})", \
            lambda: getattr(x, kind)(t1, t2, value=v)
    elif kind in ("index_fill_", "index_copy_") and shape:
        d = rng.randrange(len(shape))
        n = rng.randint(0, shape[d]) if shape[d] else 0
        idx = _const(prog, prog.data.permutation(shape[d])[:n].astype(np.int64))
        if kind == "index_fill_":
            v = rng.choice([1.5, -1, 0])
            label, f = f"{bname}.index_fill_({d}, {idx[0]}, {v})", \
                lambda: x.index_fill_(d, idx[1], v)
        else:
            sshape = shape[:d] + (n,) + shape[d + 1:]
            sn, s = (_leaf(prog, _floats(prog, sshape, dtype=dt)) if dt in FLOATS else
                     _const(prog, np.ones(sshape, dt)))
            label, f = f"{bname}.index_copy_({d}, {idx[0]}, {sn})", \
                lambda: x.index_copy_(d, idx[1], s)
    elif kind == "fill_diagonal_" and len(shape) >= 2:
        v, wrap = rng.choice([0, 2.5, -1]), rng.random() < 0.5
        label, f = f"{bname}.fill_diagonal_({v}, wrap={wrap})", \
            lambda: x.fill_diagonal_(v, wrap=wrap)
    elif kind == "tril_" and len(shape) >= 2:
        k = rng.randint(-1, 1)
        fn = rng.choice(["tril_", "triu_"])
        label, f = f"{bname}.{fn}({k})", lambda: getattr(x, fn)(k)
    elif kind in ("clamp_min_", "clamp_max_"):
        v = rng.choice([0, 0.5, -1, 100])
        label, f = f"{bname}.{kind}({v})", lambda: getattr(x, kind)(v)
    elif kind == "masked_scatter_":
        m = _const(prog, prog.data.random(shape) < 0.5)
        sn, s = (_leaf(prog, _floats(prog, (int(np.prod(shape, dtype=int)) + 1,), dtype=dt))
                 if dt in FLOATS else _const(prog, np.arange(np.prod(shape, dtype=int) + 1)
                                             .astype(dt)))
        label, f = f"{bname}.masked_scatter_({m[0]}, {sn})", lambda: x.masked_scatter_(m[1], s)
    elif kind == "put_":
        size = int(np.prod(shape, dtype=int))
        n = rng.randint(0, 3) if size else 0
        idx = _const(prog, prog.data.integers(-size, size, n).astype(np.int64) if size else
                     np.zeros(0, np.int64))
        acc = rng.random() < 0.5
        if not acc:   # (duplicate positions: which write wins is unspecified)
            idx = _const(prog, np.unique(idx[1].numpy() % max(size, 1)).astype(np.int64))
            n = int(idx[1].shape[0])
        sn, s = (_leaf(prog, _floats(prog, (n,), dtype=dt)) if dt in FLOATS else
                 _const(prog, np.ones(n, dt)))
        label, f = f"{bname}.put_({idx[0]}, {sn}, accumulate={acc})", \
            lambda: x.put_(idx[1], s, accumulate=acc)
    elif kind == "scatter_" and shape and min(shape) > 0:
        d = rng.randrange(len(shape))
        ishape = tuple(rng.randint(0, s) for s in shape)
        idx = _const(prog, prog.data.integers(0, shape[d], ishape).astype(np.int64))
        red = rng.choice([None, "add", "multiply"])
        v = rng.choice([2, 0.5])
        if red is None:   # (duplicate indices: which write wins is unspecified)
            idx = _const(prog, np.zeros(ishape[:d] + (min(ishape[d], 1),) + ishape[d + 1:],
                                        np.int64))
            label, f = f"{bname}.scatter_({d}, {idx[0]}, {v})", \
                lambda: x.scatter_(d, idx[1], v)
        else:
            label, f = f"{bname}.scatter_({d}, {idx[0]}, {v}, reduce={red!r})", \
                lambda: x.scatter_(d, idx[1], v, reduce=red)
    elif kind == "index_put_" and shape and shape[0] > 0:
        n = rng.randint(0, 3)
        idx = _const(prog, prog.data.integers(0, shape[0], n).astype(np.int64))
        acc = rng.random() < 0.5
        if not acc:
            idx = _const(prog, np.unique(prog.data.integers(0, shape[0], n)).astype(np.int64))
        vn, v = _const(prog, np.ones(tuple(idx[1].shape) + shape[1:], dt))
        label, f = f"{bname}.index_put_(({idx[0]},), {vn}, accumulate={acc})", \
            lambda: x.index_put_((idx[1],), v, accumulate=acc)
    else:
        fn = rng.choice(["bitwise_and_", "bitwise_or_", "bitwise_xor_", "bitwise_not_",
                         "__ilshift__", "__irshift__", "__iand__", "__ixor__"])
        o = rng.randint(0, 5)
        if fn == "bitwise_not_":
            label, f = f"{bname}.bitwise_not_()", lambda: x.bitwise_not_()
        else:
            label, f = f"{bname}.{fn}({o})", lambda: getattr(x, fn)(o)
    prog.pending = label

    def run():
        out = f()
        return out if out is not None else x
    return _call(prog, f"{res} = {label}", run)


def op_new(prog: Program):
    rng, lib = prog.rng, prog.lib
    res = prog.add_name()
    dt = rng.choice(["float32", "float64", "int64", "int8", "uint8", "bool", "complex64"])
    if dt in COMPLEX:
        xn, x = _complex_leaf(prog, (2,), dt)
    elif dt in FLOATS:
        xn, x = _leaf(prog, _floats(prog, (2,), dtype=dt))
    else:
        xn, x = _const(prog, np.ones(2, dt))
    kind = rng.choice(["new_zeros", "new_ones", "new_full", "new_empty", "new_tensor", "finfo",
                       "zeros_like", "full", "arange"])
    odt = rng.choice([None, None, "float64", "int16", "uint8", "complex128"])
    kw = {} if odt is None else {"dtype": getattr(lib, odt)}
    shape = rng.choice([(), (2,), (0, 3), (1, 2)])
    if kind in ("new_zeros", "new_ones", "new_empty"):
        def run():
            out = getattr(x, kind)(shape, **kw)
            return out.zero_() if kind == "new_empty" else out
        return _call(prog, f"{res} = {xn}.{kind}({shape}, dtype={odt})"
                     f"{'.zero_()' if kind == 'new_empty' else ''}", run)
    if kind == "new_full":
        v = rng.choice([1.5, -2, True, 300])
        return _call(prog, f"{res} = {xn}.new_full({shape}, {v}, dtype={odt})",
                     lambda: x.new_full(shape, v, **kw))
    if kind == "new_tensor":
        data = rng.choice([[1, 2], [1.5, -2.0], [True, False], 3, 2.5, [[1, 2]], []])
        return _call(prog, f"{res} = {xn}.new_tensor({data}, dtype={odt})",
                     lambda: x.new_tensor(data, **kw))
    if kind == "zeros_like":
        fn = rng.choice(["zeros_like", "ones_like", "full_like"])
        if fn == "full_like":
            return _call(prog, f"{res} = torch.full_like({xn}, 2.5, dtype={odt})",
                         lambda: lib.full_like(x, 2.5, **kw))
        return _call(prog, f"{res} = torch.{fn}({xn}, dtype={odt})",
                     lambda: getattr(lib, fn)(x, **kw))
    if kind == "full":
        v = rng.choice([1.5, 2, True, 1j])
        return _call(prog, f"{res} = torch.full({shape}, {v!r}, dtype={odt})",
                     lambda: lib.full(shape, v, **kw))
    if kind == "arange":
        a, b, s = rng.choice([(0, 5, 1), (0.5, 3, 0.5), (5, 0, -2), (0, 1, 0.3)])
        return _call(prog, f"{res} = torch.arange({a}, {b}, {s}, dtype={odt})",
                     lambda: lib.arange(a, b, s, **kw))
    fd = rng.choice(["float32", "float64", "complex64", "complex128", None])

    def run():
        f = lib.finfo(getattr(lib, fd)) if fd else lib.finfo()
        return f.bits, f.eps, f.max, f.min, f.tiny, f.smallest_normal, f.resolution
    return _call(prog, f"{res} = torch.finfo({fd}) (bits, eps, max, min, tiny, "
                 "smallest_normal, resolution)", run)


API_OPS = [op_linalg, op_linalg, op_linalg, op_fft, op_fft, op_special, op_special, op_misc,
           op_misc, op_misc, op_int, op_int, op_complex, op_complex, op_inplace, op_inplace,
           op_new]
