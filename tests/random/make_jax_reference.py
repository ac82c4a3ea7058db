"""Records JAX's random outputs for tests/random/test_random.py (TestAgainstJAX).

The test suite must run without JAX, so the outputs of `jax.random` for a fixed set of calls are
stored in jax_reference.npz beside this file. Run this script (with JAX installed) to write the
file again: `python tests/random/make_jax_reference.py`. The calls are listed once, in CALLS, and
the test makes the same calls on dualjit.random.
"""

import pathlib

import numpy as np

LOGITS = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
P = np.array([0.1, 0.2, 0.3, 0.4], np.float32)


def calls(r, key):
    """(name, thunk) pairs; `r` is a random module (jax.random or dualjit.random), `key` makes a
    key from a seed."""
    out = []
    for seed in (0, 42, 2**31 - 1):
        out.append((f"key_{seed}", lambda s=seed: key(s)))
        out.append((f"split_{seed}", lambda s=seed: r.split(key(s), 5)))
        out.append((f"fold_in_{seed}", lambda s=seed: r.fold_in(key(s), 123)))
    for dtype in (np.uint8, np.uint16, np.uint32):
        out.append((f"bits_{np.dtype(dtype).name}",
                    lambda d=dtype: r.bits(key(7), (4, 33), d)))
    k = lambda: key(3)  # noqa: E731
    out += [
        ("uniform", lambda: r.uniform(k(), (1000,), np.float32)),
        ("uniform_range", lambda: r.uniform(k(), (50,), np.float32, -2.0, 3.0)),
        ("randint_int32", lambda: r.randint(k(), (500,), -5, 17, np.int32)),
        ("randint_int8", lambda: r.randint(k(), (500,), -300, 300, np.int8)),
        ("randint_uint8", lambda: r.randint(k(), (500,), 0, 256, np.uint8)),
        ("bernoulli", lambda: r.bernoulli(k(), np.float32(0.3), (100,))),
        ("categorical", lambda: r.categorical(k(), LOGITS, shape=(3, 4))),
        ("permutation", lambda: r.permutation(k(), 20)),
        ("choice_p", lambda: r.choice(k(), 4, (30,), p=P)),
        ("choice_noreplace", lambda: r.choice(k(), 9, (5,), replace=False)),
        ("normal", lambda: r.normal(key(5), (10000,), np.float32)),
    ]
    return out


def main():
    import jax
    import jax.random as jr

    arrays = {name: np.asarray(thunk()) for name, thunk in calls(jr, jr.PRNGKey)}
    path = pathlib.Path(__file__).with_name("jax_reference.npz")
    np.savez_compressed(path, jax_version=np.array(jax.__version__), **arrays)
    print(f"wrote {len(arrays)} arrays from jax {jax.__version__} to {path}")


if __name__ == "__main__":
    main()
