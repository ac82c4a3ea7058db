"""dualjit.fft (torch.fft) and dualjit.special (torch.special): values against NumPy and SciPy,
gradients against central differences (gradcheck, float64), PyTorch's dtypes and errors."""

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st

import dualjit as dj
from dualjit.autograd import gradcheck

rng = np.random.default_rng(2)

FFT_NAMES = ("fft ifft rfft irfft fft2 ifft2 rfft2 irfft2 fftn ifftn rfftn irfftn fftfreq "
             "rfftfreq fftshift ifftshift hfft ihfft").split()
SPECIAL_NAMES = ("erf erfc erfinv expit logit xlogy xlog1py gammaln digamma polygamma i0 ndtr "
                 "ndtri log_ndtr log_softmax softmax logsumexp entr sinc psi erfcx i0e i1e "
                 "multigammaln exp2 expm1 log1p round").split()


def test_every_name_exists():
    assert [n for n in FFT_NAMES if not callable(getattr(dj.fft, n, None))] == []
    assert [n for n in SPECIAL_NAMES if not callable(getattr(dj.special, n, None))] == []


def t64(a, grad=True):
    return dj.tensor(np.asarray(a), requires_grad=grad) if np.iscomplexobj(a) else \
        dj.tensor(np.asarray(a, np.float64), requires_grad=grad)


def close(t, expected, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(t.detach().numpy(), expected, rtol=rtol, atol=atol)


# -- fft ----------------------------------------------------------------------------------------

@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3),
       n=st.one_of(st.none(), st.integers(1, 7)),
       norm=st.sampled_from([None, "backward", "ortho", "forward"]))
def test_one_axis_transforms_match_numpy(shape, n, norm):
    x = rng.standard_normal(shape)
    z = x + 1j * rng.standard_normal(shape)
    close(dj.fft.fft(t64(z, False), n, -1, norm), np.fft.fft(z, n, -1, norm), 1e-9, 1e-10)
    close(dj.fft.ifft(t64(z, False), n, 0, norm), np.fft.ifft(z, n, 0, norm), 1e-9, 1e-10)
    close(dj.fft.rfft(t64(x, False), n, -1, norm), np.fft.rfft(x, n, -1, norm), 1e-9, 1e-10)
    if n is None and shape[-1] == 1:  # 2 * (1 - 1) = 0 output points: an error, as both
        with pytest.raises((ValueError, RuntimeError), match="0"):
            dj.fft.irfft(t64(z, False))
        return
    close(dj.fft.irfft(t64(z, False), n, -1, norm), np.fft.irfft(z, n, -1, norm), 1e-9, 1e-10)
    close(dj.fft.hfft(t64(z, False), n, -1, norm), np.fft.hfft(z, n, -1, norm), 1e-9, 1e-10)
    close(dj.fft.ihfft(t64(x, False), n, -1, norm), np.fft.ihfft(x, n, -1, norm), 1e-9, 1e-10)


def test_many_axes_transforms_match_numpy():
    x = rng.standard_normal((3, 4, 5))
    z = x + 1j * rng.standard_normal((3, 4, 5))
    close(dj.fft.fft2(t64(z, False)), np.fft.fft2(z), 1e-9)
    close(dj.fft.ifft2(t64(z, False), s=(3, 6)), np.fft.ifft2(z, s=(3, 6)), 1e-9)
    close(dj.fft.fftn(t64(z, False)), np.fft.fftn(z), 1e-9)
    close(dj.fft.fftn(t64(z, False), dim=(0, 2), norm="ortho"),
          np.fft.fftn(z, axes=(0, 2), norm="ortho"), 1e-9)
    close(dj.fft.ifftn(t64(z, False), s=(2, 2)), np.fft.ifftn(z, s=(2, 2), axes=(-2, -1)), 1e-9)
    close(dj.fft.rfft2(t64(x, False)), np.fft.rfft2(x), 1e-9)
    close(dj.fft.rfftn(t64(x, False)), np.fft.rfftn(x), 1e-9)
    close(dj.fft.irfft2(t64(z, False)), np.fft.irfft2(z), 1e-9)
    close(dj.fft.irfftn(t64(z, False), s=(4, 6)), np.fft.irfftn(z, s=(4, 6)), 1e-9)
    close(dj.fft.irfftn(dj.fft.rfftn(t64(x, False)), s=x.shape), x, 1e-9)


def test_fft_dtypes_and_errors():
    assert dj.fft.fft(dj.ones(4)).dtype == dj.complex64
    assert dj.fft.fft(dj.ones(4, dtype=dj.float64)).dtype == dj.complex128
    assert dj.fft.fft(dj.tensor([1, 2, 3])).dtype == dj.complex64  # integers: default float
    assert dj.fft.rfft(dj.ones(4)).dtype == dj.complex64
    assert dj.fft.irfft(dj.fft.rfft(dj.ones(4))).dtype == dj.float32
    with pytest.raises(RuntimeError, match="real input"):
        dj.fft.rfft(dj.tensor([1j]))
    with pytest.raises(RuntimeError, match="normalization"):
        dj.fft.fft(dj.ones(4), norm="nope")
    freq = dj.fft.fftfreq(5, d=0.5)
    close(freq, np.fft.fftfreq(5, 0.5), 1e-6)
    assert freq.dtype == dj.float32 and dj.fft.rfftfreq(4, dtype=dj.float64).dtype == dj.float64
    close(dj.fft.rfftfreq(6), np.fft.rfftfreq(6), 1e-6)
    y = np.arange(12).reshape(3, 4)
    assert dj.fft.fftshift(dj.tensor(y)).tolist() == np.fft.fftshift(y).tolist()
    assert dj.fft.ifftshift(dj.tensor(y), dim=1).tolist() == np.fft.ifftshift(y, 1).tolist()
    assert dj.fft.fftshift(dj.tensor(y), dim=(0,)).tolist() == np.fft.fftshift(y, 0).tolist()


@pytest.mark.parametrize("name, make", [
    ("fft", lambda x: dj.view_as_real(dj.fft.fft(x, 6, norm="ortho"))),
    ("ifft", lambda x: dj.view_as_real(dj.fft.ifft(x))),
    ("rfft", lambda x: dj.view_as_real(dj.fft.rfft(x))),
    ("irfft", lambda x: dj.fft.irfft(dj.fft.rfft(x) * dj.fft.rfft(x), 5)),
    ("fft2", lambda x: dj.view_as_real(dj.fft.fft2(x.reshape(1, 5)))),
    ("rfftn", lambda x: dj.view_as_real(dj.fft.rfftn(x.reshape(5, 1)))),
    ("fftshift", lambda x: dj.fft.fftshift(x)),
])
def test_fft_gradients_match_finite_differences(name, make):
    assert gradcheck(make, (t64(rng.standard_normal(5)),))


def test_fft_gradient_of_complex_parts():
    re, im = t64(rng.standard_normal(4)), t64(rng.standard_normal(4))
    assert gradcheck(lambda a, b: dj.view_as_real(dj.fft.fft(dj.complex(a, b))), (re, im))
    assert gradcheck(lambda a, b: dj.fft.irfft(dj.complex(a, b)), (re, im))


# -- special -------------------------------------------------------------------------------------

UNARY = {
    "erf": (scipy.special.erf, (-2, 2)), "erfc": (scipy.special.erfc, (-2, 2)),
    "erfcx": (scipy.special.erfcx, (-1, 3)), "erfinv": (scipy.special.erfinv, (-0.9, 0.9)),
    "expit": (scipy.special.expit, (-5, 5)), "logit": (scipy.special.logit, (0.05, 0.95)),
    "gammaln": (scipy.special.gammaln, (0.2, 5)), "digamma": (scipy.special.digamma, (0.2, 5)),
    "psi": (scipy.special.psi, (0.2, 5)), "i0": (scipy.special.i0, (-3, 3)),
    "i0e": (scipy.special.i0e, (-3, 3)), "i1e": (scipy.special.i1e, (-3, 3)),
    "ndtr": (scipy.special.ndtr, (-3, 3)), "ndtri": (scipy.special.ndtri, (0.05, 0.95)),
    "log_ndtr": (scipy.special.log_ndtr, (-6, 3)), "entr": (scipy.special.entr, (0.1, 3)),
    "sinc": (np.sinc, (-2, 2)), "exp2": (np.exp2, (-2, 2)), "expm1": (np.expm1, (-2, 2)),
    "log1p": (np.log1p, (-0.5, 2)),
}


@pytest.mark.parametrize("name", UNARY)
def test_special_unary(name):
    reference, (lo, hi) = UNARY[name]
    x = rng.uniform(lo, hi, 6)
    f = getattr(dj.special, name)
    close(f(t64(x, False)), reference(x), rtol=1e-9, atol=1e-12)
    assert gradcheck(f, (t64(x),))
    assert f(dj.tensor(x, dtype=dj.float32)).dtype == dj.float32


def test_special_others():
    x, y = rng.uniform(0.1, 2, 5), rng.uniform(-0.5, 2, 5)
    close(dj.special.xlog1py(t64(x, False), t64(y, False)), scipy.special.xlog1py(x, y), 1e-9)
    assert gradcheck(dj.special.xlog1py, (t64(x), t64(y)))
    close(dj.special.xlogy(t64(x, False), t64(y + 1, False)), scipy.special.xlogy(x, y + 1))
    for n in (0, 1, 3):
        close(dj.special.polygamma(n, t64(x, False)), scipy.special.polygamma(n, x), 1e-8)
    assert gradcheck(lambda x: dj.special.polygamma(1, x), (t64(x),))
    with pytest.raises(RuntimeError, match="negative"):
        dj.special.polygamma(-1, t64(x, False))
    close(dj.special.multigammaln(t64(x + 2, False), 3),
          [scipy.special.multigammaln(v + 2, 3) for v in x], 1e-9)
    close(dj.special.logit(t64([0.0, 0.5, 1.0], False), eps=0.1),
          scipy.special.logit(np.array([0.1, 0.5, 0.9])), 1e-9)
    m = rng.standard_normal((2, 3))
    close(dj.special.softmax(t64(m, False), 1), scipy.special.softmax(m, 1), 1e-9)
    close(dj.special.log_softmax(t64(m, False), 0), scipy.special.log_softmax(m, 0), 1e-9)
    close(dj.special.logsumexp(t64(m, False), 1), scipy.special.logsumexp(m, 1), 1e-9)
    assert dj.special.softmax(dj.ones(3), 0, dtype=dj.float64).dtype == dj.float64
    close(dj.special.round(t64([1.2345], False), decimals=2), [1.23], 1e-9)
    assert dj.special.erf(dj.tensor([1, 2])).dtype == dj.float32
    edge = dj.special.entr(dj.tensor([0.0, -1.0]))
    assert edge.tolist() == [0.0, -np.inf]
