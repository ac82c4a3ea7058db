"""IR pass: an FFT of a linear combination that holds outputs of its inverse transform.

rfft(irfft(Y)) is Y with the imaginary parts irfft ignores (zero and, for even n, the Nyquist
frequency) set to 0 (over several axes: those two planes replaced by their Hermitian parts
over the other axes), fft(ifft(Y)) = Y, ifft(fft(Y)) = Y and irfft(rfft(x)) = x. The pass
rewrites F(a·G(Y) + b·G(Z) + c·u + d·v) (F's inverse G, scalar constants a..d; transposes of
the batch axes and conjugations may come between) into a·Y' + b·Z' + F(c·u + d·v),
evaluating F of the remaining terms at compile time when they are constants. The FFT count
never grows, and the inverse transform often becomes dead: the gradient of a loss on irfft's
output, sum((irfft(w·rfft(x)) - target)**2), needs rfft(2(s - target)) in its backward pass,
which becomes 2(w·X - rfft(target)): two FFTs instead of four. Results agree with the
unrewritten program up to rounding (the round trip's own rounding is what disappears),
except that a nan or inf in Y stays where it is instead of spreading over every output of
the two transforms.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from . import primitives as P
from .core import Eqn, Function, Literal, Var, abstract_eval, impl_rules, type_of_array

INVERSE = {"rfft": "irfft", "irfft": "rfft", "fft": "ifft", "ifft": "fft"}
MAX_TERMS = 16  # a longer linear combination is left alone (the walk stays cheap)
enabled = True  # benchmarks switch the rewrite off to measure what it saves


def cancel_inverse_ffts(fn: Function) -> Function:
    """fn with every FFT of a combination holding its inverse's outputs rewritten (see the
    module docstring); fn itself when there is nothing to rewrite. Top level only."""
    if not enabled or not any(e.primitive is P.fft_p for e in fn.eqns):
        return fn
    rewriter = _Rewriter(fn)
    for eqn in fn.eqns:
        rewriter.visit(eqn)
    return rewriter.function()


class _Rewriter:
    """Rebuilds a Function equation by equation, replacing the FFTs it can rewrite (rename
    maps a replaced output to the atom that holds its value now)."""

    def __init__(self, fn: Function):
        self.fn = fn
        self.producers = {v: e for e in fn.eqns for v in e.outputs}
        self.const_values = dict(fn.consts)
        self.consts = list(fn.consts)
        self.eqns: list[Eqn] = []
        self.rename: dict[Var, Any] = {}

    def sub(self, a: Any) -> Any:
        return self.rename.get(a, a) if isinstance(a, Var) else a

    def visit(self, eqn: Eqn) -> None:
        eqn = Eqn(eqn.primitive, [self.sub(a) for a in eqn.inputs], eqn.outputs, eqn.params)
        if eqn.primitive is P.fft_p:
            result = self.rewrite_fft(eqn)
            if result is not None:
                self.rename[eqn.outputs[0]] = result
                return
        self.eqns.append(eqn)

    def function(self) -> Function:
        if not self.rename:
            return self.fn
        return Function(self.fn.inputs, self.consts, self.eqns,
                        [self.sub(a) for a in self.fn.outputs])

    # -- the linear combination feeding an FFT -----------------------------------------------

    def terms(self, atom: Any, coef: Any, budget: list[int], perm: tuple | None = None,
              conj: bool = False) -> list[Term]:
        """The value coef · conj?(transpose(atom, perm)) as Terms, through add, sub, neg,
        products with scalar constants, transposes and conj."""
        eqn = self.producers.get(atom) if isinstance(atom, Var) else None
        if eqn is None or budget[0] <= 0:
            return [Term(coef, atom, perm, conj)]
        budget[0] -= 1
        name, ins = eqn.primitive.name, eqn.inputs
        same = all(getattr(a, "type", None) == atom.type for a in ins)
        if name in ("add", "sub") and same:
            sign = 1 if name == "add" else -1
            return (self.terms(ins[0], coef, budget, perm, conj)
                    + self.terms(ins[1], sign * coef, budget, perm, conj))
        if name == "neg" and same:
            return self.terms(ins[0], -coef, budget, perm, conj)
        if name == "conj" and same:
            return self.terms(ins[0], coef, budget, perm, not conj)
        if name == "mul":
            for p in (0, 1):
                c, other = self.scalar(ins[p]), ins[1 - p]
                if c is not None and getattr(other, "type", None) == atom.type:
                    c = c.conjugate() if conj else c  # conj(c w) = conj(c) conj(w)
                    return self.terms(other, coef * c, budget, perm, conj)
        if name == "transpose":
            inner = eqn.params["permutation"]
            composed = tuple(inner[i] for i in (perm or range(len(inner))))
            identity = composed == tuple(range(len(composed)))
            return self.terms(ins[0], coef, budget, None if identity else composed, conj)
        return [Term(coef, atom, perm, conj)]

    def scalar(self, a: Any) -> Any:
        """The finite value of a scalar Literal or of a broadcast of one, else None."""
        if isinstance(a, Var) and a in self.producers:
            eqn = self.producers[a]
            if eqn.primitive is P.broadcast_in_dim_p and isinstance(eqn.inputs[0], Literal):
                a = eqn.inputs[0]
        if not isinstance(a, Literal):
            return None
        value = a.value
        return value if isinstance(value, (int, float, complex)) and _finite(value) else None

    def inverse_operand(self, term: Term, fft_eqn: Eqn) -> Any:
        """Y when the term's leaf is G(Y) for the inverse G of fft_eqn (same lengths), not
        conjugated, and its permutation keeps the transformed axes in place, else None."""
        leaf, perm = term.leaf, term.perm
        eqn = self.producers.get(leaf) if isinstance(leaf, Var) else None
        params = fft_eqn.params
        if eqn is None or eqn.primitive is not P.fft_p or term.conj:
            return None
        if (eqn.params["fft_type"] != INVERSE[params["fft_type"]]
                or tuple(eqn.params["fft_lengths"]) != tuple(params["fft_lengths"])):
            return None
        y = self.sub(eqn.inputs[0])
        out = fft_eqn.outputs[0].type
        order = perm or tuple(range(out.ndim))
        if any(order[i] != i for i in range(out.ndim - len(params["fft_lengths"]), out.ndim)):
            return None  # the transpose moves a transformed axis
        if (getattr(y, "type", None) is None or y.type.dtype is not out.dtype
                or tuple(y.type.shape[i] for i in order) != out.shape):
            return None
        return y

    # -- the rewrite ---------------------------------------------------------------------------

    def rewrite_fft(self, eqn: Eqn) -> Any:
        terms = self.terms(eqn.inputs[0], 1, [MAX_TERMS])
        found = [self.inverse_operand(term, eqn) for term in terms]
        cancelled = [(t.coef, y, t.perm) for t, y in zip(terms, found) if y is not None]
        rest = [term for term, y in zip(terms, found) if y is None]
        if not cancelled:
            return None
        if eqn.params["fft_type"] == "irfft" and any(complex(c).imag for c, _, _ in cancelled):
            return None  # irfft(c·rfft(y)) is not c·y for a complex c
        if eqn.params["fft_type"] == "irfft":
            cancelled = [(complex(c).real, y, perm) for c, y, perm in cancelled]
        out = eqn.outputs[0]
        parts = [self.scaled(c, self.transposed(self.round_trip(y, eqn), perm))
                 for c, y, perm in cancelled]
        if rest:
            parts.append(self.transform_rest(rest, eqn))
        total = parts[0]
        for part in parts[1:]:
            total = self.bind(P.add_p, total, part)
        return total if total.type == out.type else None

    def round_trip(self, y: Any, eqn: Eqn) -> Any:
        """F(G(y)) for the pair at eqn: y, or y's Hermitian part for rfft(irfft(y))."""
        if eqn.params["fft_type"] != "rfft":
            return y
        lengths = tuple(eqn.params["fft_lengths"])
        n = lengths[-1]
        planes = np.zeros(n // 2 + 1, y.type.dtype.real_dtype.np)  # what irfft reads as real
        planes[0] = 1
        if n % 2 == 0:
            planes[-1] = 1
        if len(lengths) == 1:  # zero those imaginary parts (exactly)
            kept = self.bind(P.mul_p, self.bind(P.imag_p, y), self.constant(1 - planes,
                                                                              y.type.shape))
            return self.bind(P.complex_p, self.bind(P.real_p, y), kept)
        # over several axes those planes become (Y[k] + conj(Y[-k])) / 2, k over the others
        mirrored = self.bind(P.sub_p, self.bind(P.conj_p, self.reflected(y, lengths)), y)
        half = self.constant((0.5 * planes).astype(y.type.dtype.np), y.type.shape)
        return self.bind(P.add_p, y, self.bind(P.mul_p, mirrored, half))

    def reflected(self, y: Any, lengths: tuple) -> Any:
        """y[..., -k1 % n1, ..., -k_(d-1) % n_(d-1), :] over the leading transformed axes."""
        first = y.type.ndim - len(lengths)
        for axis, length in enumerate(lengths[:-1], start=first):
            if length > 1:
                index = (-np.arange(length)) % length
                y = self.bind(P.gather_p, y, self.constant(index, index.shape), axis=axis)
        return y

    def transform_rest(self, rest: list, eqn: Eqn) -> Any:
        """F applied to the terms that did not cancel; folded when all are constants."""
        rest = [t._replace(leaf=self.sub(t.leaf)) for t in rest]
        if all(isinstance(t.leaf, Var) and t.leaf in self.const_values for t in rest):
            dtype = eqn.inputs[0].type.dtype.np
            value = sum(np.asarray(t.coef, dtype) * _value_of(t, self.const_values[t.leaf])
                        for t in rest)
            folded = impl_rules[P.fft_p](np.asarray(value, dtype), **eqn.params)
            return self.constant(np.ascontiguousarray(folded), eqn.outputs[0].type.shape)
        total = None
        for t in rest:
            leaf = self.bind(P.conj_p, t.leaf) if t.conj else t.leaf
            term = self.scaled(t.coef, self.transposed(leaf, t.perm))
            total = term if total is None else self.bind(P.add_p, total, term)
        return self.bind(P.fft_p, total, **eqn.params)

    def transposed(self, atom: Any, perm: tuple | None) -> Any:
        return atom if perm is None else self.bind(P.transpose_p, atom, permutation=perm)

    def scaled(self, coef: Any, atom: Any) -> Any:
        if coef == 1:
            return atom
        return self.bind(P.mul_p, Literal(coef, atom.type.dtype), atom)

    def constant(self, value: np.ndarray, shape: tuple) -> Var:
        """A constant of `shape`: value itself, or value broadcast along leading axes."""
        v = Var(type_of_array(value))
        self.consts.append((v, value))
        self.const_values[v] = value
        if value.shape == tuple(shape):
            return v
        dims = tuple(range(len(shape) - value.ndim, len(shape)))
        return self.bind(P.broadcast_in_dim_p, v, shape=tuple(shape), broadcast_dimensions=dims)

    def bind(self, prim, *inputs: Any, **params: Any) -> Var:
        (out_type,) = abstract_eval(prim, [a.type for a in inputs], params)
        out = Var(out_type)
        self.eqns.append(Eqn(prim, inputs, [out], params))
        return out


def _finite(value: Any) -> bool:
    return math.isfinite(value.real) and math.isfinite(value.imag)


class Term(NamedTuple):
    """coef · conj?(transpose(leaf, perm)): one term of the combination an FFT reads."""
    coef: Any
    leaf: Any
    perm: tuple | None  # None: no transpose
    conj: bool


def _value_of(term: Term, leaf_value: np.ndarray) -> np.ndarray:
    """conj?(transpose(leaf_value, perm)) for a constant leaf (without the coefficient)."""
    value = leaf_value if term.perm is None else np.transpose(leaf_value, term.perm)
    return np.conj(value) if term.conj else value
