"""The serialized form: damaged, truncated, foreign, older/newer and malformed bytes give a clear
DeserializationError, never another exception and never a crash."""

import hashlib
import json
import pickle
import random
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dualjit as dj
import dualjit.numpy as jnp
from dualjit.exported import container

OFFSET = np.geomspace(1e-30, 1e30, 20).astype(np.float32)  # out of line (> 16 values)


def program(x, w):
    return {"y": jnp.tanh(x @ w) + OFFSET, "n": jnp.sum(x)}


def blob(object_code=False):
    exported = dj.export(program)(np.ones((4, 3), np.float32),
                                  np.linspace(0, 1, 60).reshape(3, 20).astype(np.float32))
    return exported.serialize(object_code=object_code)


BLOB = blob()


def repack(data: bytes, *, version=None, header=None) -> bytes:
    """`data` with its version or header replaced and its checksum made right again."""
    body = bytearray(data[:-32])
    old_version, size = struct.unpack_from("<IQ", body, 8)
    if header is not None:
        text = json.dumps(header).encode()
        body[20:20 + size] = text
        struct.pack_into("<Q", body, 12, len(text))
    if version is not None:
        struct.pack_into("<I", body, 8, version)
    return bytes(body) + hashlib.sha256(body).digest()


def header_and_sections(data: bytes):
    return container.unpack(data)


def test_the_blob_round_trips_and_is_deterministic():
    assert dj.deserialize(BLOB).serialize(object_code=False) == BLOB
    assert blob() == BLOB


@pytest.mark.parametrize("cut", [0, 1, 7, 8, 12, 19, 20, 100, len(BLOB) // 2, len(BLOB) - 33,
                                 len(BLOB) - 32, len(BLOB) - 1])
def test_truncated_bytes_are_reported(cut):
    with pytest.raises(dj.DeserializationError, match="truncated|damaged|not a dualjit export"):
        dj.deserialize(BLOB[:cut])


def test_every_truncation_and_random_bit_flips_are_detected():
    for cut in range(len(BLOB)):
        with pytest.raises(dj.DeserializationError):
            dj.deserialize(BLOB[:cut])
    rng = random.Random(0)
    for _ in range(300):
        damaged = bytearray(BLOB)
        at = rng.randrange(len(damaged))
        damaged[at] ^= 1 << rng.randrange(8)
        with pytest.raises(dj.DeserializationError, match="damaged|not a dualjit|format version"):
            dj.deserialize(bytes(damaged))


@pytest.mark.parametrize("data, reason", [
    (b"", "it is empty"),
    (pickle.dumps({"a": 1}), "looks like a pickle"),
    (b"\x7fELF\x02\x01\x01" + bytes(60), "ELF object"),
    (b"def f(a: f32[3]) -> (f32[3]):\n  return a\n", "starts with b'def f"),
    (bytes(random.Random(1).randrange(256) for _ in range(500)), "not a dualjit export"),
])
def test_foreign_bytes_are_named(data, reason):
    with pytest.raises(dj.DeserializationError, match=reason):
        dj.deserialize(data)


def test_text_mode_mangling_is_caught_by_the_magic():
    with pytest.raises(dj.DeserializationError, match="not a dualjit export"):
        dj.deserialize(BLOB.replace(b"\r\n", b"\n"))


def test_newer_and_older_format_versions_say_what_to_do():
    with pytest.raises(dj.DeserializationError, match="newer dualjit.*Upgrade"):
        dj.deserialize(repack(BLOB, version=container.FORMAT_VERSION + 1))
    with pytest.raises(dj.DeserializationError, match="no longer reads.*export the function again"):
        dj.deserialize(repack(BLOB, version=container.OLDEST_READABLE_VERSION - 1))


def test_not_bytes_is_a_type_error():
    with pytest.raises(TypeError, match="expected bytes"):
        dj.deserialize("a string")


def test_a_type_that_cannot_be_imported_is_named(tmp_path):
    header, _ = header_and_sections(BLOB)
    header["in_tree"] = {"node": "no_such_module_xyz:Params", "aux": ["n"], "children": ["*"]}
    with pytest.raises(dj.DeserializationError, match="Params from module no_such_module_xyz"):
        dj.deserialize(repack(BLOB, header=header))
    header["in_tree"] = {"node": "collections:OrderedDict", "aux": ["n"], "children": []}
    with pytest.raises(dj.DeserializationError, match="not a registered pytree node"):
        dj.deserialize(repack(BLOB, header=header))


class Box:
    def __init__(self, v):
        self.v = v


dj.register_pytree_node(Box, lambda b: ([b.v], frozenset({1})), lambda aux, kids: Box(kids[0]))


def test_unserializable_pytree_nodes_are_refused_at_export():
    exported = dj.export(lambda b: b.v * 2)(Box(np.ones(2)))
    with pytest.raises(TypeError, match="Box has auxiliary data of type frozenset"):
        exported.serialize()

    class Local(tuple):
        pass

    dj.register_pytree_node(Local, lambda t: (list(t), None), lambda _, kids: Local(kids))
    exported = dj.export(lambda t: t[0] * 2)(Local([np.ones(2)]))
    with pytest.raises(TypeError, match="defined inside a function"):
        exported.serialize()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 2**40) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=10)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def _replace(value, path, new):
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = _replace(value[head], rest, new)
    return copy


HEADER = header_and_sections(BLOB)[0]
HEADER_PATHS = [p for p in _paths(HEADER) if p]


@given(st.sampled_from(HEADER_PATHS), JSON_VALUES)
def test_a_malformed_header_with_a_valid_checksum_is_an_error_or_a_valid_program(path, new):
    data = repack(BLOB, header=_replace(HEADER, path, new))
    try:
        exported = dj.deserialize(data)
    except dj.DeserializationError:
        return
    assert isinstance(exported, dj.Exported)  # the change happened to be harmless


@given(st.integers(0, len(HEADER["function"]) - 1), st.sampled_from(list("abf0123 :=[](),\n<>-.")))
def test_edited_ir_text_is_an_error_or_a_valid_program(at, char):
    text = HEADER["function"]
    data = repack(BLOB, header={**HEADER, "function": text[:at] + char + text[at + 1:]})
    try:
        exported = dj.deserialize(data)
    except dj.DeserializationError:
        return
    assert isinstance(exported, dj.Exported)


def test_constants_travel_exactly():
    exported = dj.deserialize(BLOB)
    (const,) = [a for _, a in exported.function.consts]
    assert const.dtype == np.float32 and const.dtype.isnative
    np.testing.assert_array_equal(const, OFFSET)
    x, w = np.ones((4, 3), np.float32), np.linspace(0, 1, 60).reshape(3, 20).astype(np.float32)
    np.testing.assert_array_equal(exported.call(x, w)["y"], dj.jit(program)(x, w)["y"])
