"""`import dualjit` loads what jit, grad, dualjit.numpy and lax need; every other public name
(PyTorch-style API, nn, scipy, export, vmap, random, ...) loads on first use and is the same
object as before."""

import inspect
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import dualjit
import dualjit.numpy as jnp

SRC = os.path.dirname(os.path.dirname(dualjit.__file__))
LAZY_MODULES = ("dualjit.eager", "dualjit.nn", "dualjit.scipy", "dualjit.exported",
                "dualjit.batching", "dualjit.random", "dualjit.optim", "dualjit.autograd",
                "dualjit.codegen", "llvmlite",
                "hashlib",  # (OpenSSL's hashes: ~3 ms; only hashing a constant needs them)
                "dualjit.lax_conv", "dualjit.numpy.linalg", "dualjit.numpy.fft",
                *(f"dualjit.numpy.{m}" for m in jnp._LAZY_MODULES))


def _fresh(code: str) -> str:
    env = dict(os.environ, PYTHONPATH=SRC)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_loads_only_the_jit_path():
    out = _fresh("import sys, dualjit\n"
                 f"print([m for m in {LAZY_MODULES!r} if m in sys.modules])")
    assert out.strip() == "[]"


def test_lazy_names_load_on_first_use_as_the_defining_modules_objects():
    out = _fresh("import sys, dualjit as dj\n"
                 "import dualjit.eager.tensor, dualjit.batching, dualjit.exported\n"
                 "m = sys.modules\n"
                 "print(dj.Tensor is m['dualjit.eager.tensor'].Tensor,\n"
                 "      dj.vmap is m['dualjit.batching'].vmap,\n"
                 "      dj.export is m['dualjit.exported'].export,\n"
                 "      dj.nn is m['dualjit.nn'], dj.float32 is dj.eager.float32)")
    assert out.split() == ["True"] * 5


def test_every_listed_name_resolves_and_eager_names_are_listed():
    names = dir(dualjit)
    for name in names:
        getattr(dualjit, name)  # raises AttributeError if a listed name does not resolve
    import dualjit.eager as eager

    assert set(eager.__all__) <= set(names)
    for name in eager.__all__:
        assert getattr(dualjit, name) is getattr(eager, name), name
    assert {"jit", "grad", "vmap", "Tensor", "nn", "scipy", "optim", "export"} <= set(names)


def test_star_import_binds_the_lazy_names():
    namespace = {}
    exec("from dualjit import *", namespace)
    assert namespace["Tensor"] is dualjit.Tensor and namespace["vmap"] is dualjit.vmap
    assert namespace["jit"] is dualjit.jit and namespace["nn"] is dualjit.nn


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        dualjit.no_such_name  # noqa: B018
    assert not hasattr(dualjit, "__no_such_dunder__")


def test_out_refusal_matches_the_signatures():
    """dualjit.numpy wraps the functions without an out= parameter (to refuse out=); the check
    reads code objects instead of inspect.signature: both must agree on every function."""
    checked = 0
    for name in dir(jnp):
        value = getattr(jnp, name)
        if name.startswith("_") or not isinstance(value, types.FunctionType):
            continue
        inner = inspect.unwrap(value)
        assert jnp._takes_out(value) == ("out" in inspect.signature(inner).parameters), name
        checked += 1
    assert checked > 100


def test_lazy_numpy_names_are_their_modules_all():
    """dualjit.numpy's table of names that load on first use is each theme's __all__, so no
    name is missing from jnp (or dir(jnp)) before its module is loaded."""
    import importlib

    for module, names in jnp._LAZY_MODULES.items():
        defining = importlib.import_module(f"dualjit.numpy.{module}")
        assert set(names) == set(defining.__all__), module
        for name in names:
            got = getattr(jnp, name)
            assert inspect.unwrap(got) is getattr(defining, name), name
            assert name in dir(jnp)


def test_lazy_names_work_from_a_fresh_interpreter():
    out = _fresh("import sys, numpy as np, dualjit as dj, dualjit.numpy as jnp\n"
                 "f = dj.jit(lambda x: (np.argsort(x), np.cumsum(x), jnp.linalg.norm(x)))\n"
                 "i, c, n = f(np.array([3.0, 1.0, 2.0]))\n"
                 "print(i.tolist(), c.tolist(), round(float(n) ** 2, 9))\n"
                 "ns = {}\n"
                 "exec('from dualjit.numpy import *', ns)\n"
                 "print(ns['sort'] is jnp.sort, ns['einsum'] is jnp.einsum, 'pad' in ns)\n"
                 "import dualjit.lax as lax\n"
                 "print(lax.conv is sys.modules['dualjit.lax_conv'].conv, 'conv' in dir(lax))")
    lines = out.split("\n")
    assert lines[0] == "[1, 2, 0] [3.0, 4.0, 6.0] 14.0"  # np.* delegates load sorting, cumsum
    assert lines[1].split() == ["True"] * 3 and lines[2].split() == ["True"] * 2


def test_import_system_questions_load_nothing():
    """The import system asks modules for __path__ and the like: lazy modules stay unloaded."""
    out = _fresh("import sys, dualjit, dualjit.lax as lax, dualjit.numpy as jnp\n"
                 "print(hasattr(lax, '__path__'), hasattr(jnp, '__wrapped__'), "
                 "'dualjit.lax_conv' in sys.modules, 'dualjit.numpy.sorting' in sys.modules)")
    assert out.split() == ["False"] * 4


def test_out_is_refused_by_lazy_names_too():
    with pytest.raises(TypeError, match="out="):
        jnp.sort(np.ones(3), out=np.empty(3))  # sorting.sort has no out parameter
