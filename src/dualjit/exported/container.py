"""The versioned byte container of an exported program: magic, version, JSON header, sections, checksum.

    magic (8 bytes) | format version (u32 LE) | header length (u64 LE) | header (JSON, UTF-8)
    | sections (raw bytes; the header gives each one's offset and size) | SHA-256 of all before

Reading checks, in this order, that the bytes are a dualjit export at all, that this dualjit reads
their format version, and that they arrived whole; every failure is a DeserializationError that
says which, never a crash.
"""

from __future__ import annotations

import hashlib
import json
import struct
from typing import Any

MAGIC = b"\x89DJX\r\n\x1a\n"  # like PNG's: a high byte, CRLF and ^Z catch text-mode mangling
FORMAT_VERSION = 1
OLDEST_READABLE_VERSION = 1
_PREFIX = struct.Struct("<IQ")
_DIGEST = 32


class DeserializationError(ValueError):
    """Bytes that are not a whole, readable dualjit export (foreign, damaged, or another version)."""


def pack(header: dict, sections: list[bytes]) -> bytes:
    """The container of `header` and `sections`; header["sections"] is filled in here."""
    spans, offset = [], 0
    for s in sections:
        spans.append([offset, len(s)])
        offset += len(s)
    text = json.dumps({**header, "sections": spans}, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")
    body = b"".join([MAGIC, _PREFIX.pack(FORMAT_VERSION, len(text)), text, *sections])
    return body + hashlib.sha256(body).digest()


def unpack(blob: Any) -> tuple[dict, list[memoryview]]:
    """The header and sections of a container, after checking magic, version and checksum."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise TypeError(f"deserialize: expected bytes, got {type(blob).__name__}")
    data = memoryview(blob).cast("B")
    if bytes(data[:len(MAGIC)]) != MAGIC:
        raise DeserializationError(_foreign(bytes(data[:16])))
    start = len(MAGIC) + _PREFIX.size
    if len(data) < start + _DIGEST:
        raise DeserializationError(f"the export is truncated ({len(data)} bytes; even an empty "
                                   f"one has {start + _DIGEST})")
    version, header_size = _PREFIX.unpack_from(data, len(MAGIC))
    if version > FORMAT_VERSION:
        raise DeserializationError(
            f"the export has format version {version}, written by a newer dualjit; this one "
            f"reads versions {OLDEST_READABLE_VERSION} to {FORMAT_VERSION}. Upgrade dualjit "
            "here, or export with the version installed here")
    if version < OLDEST_READABLE_VERSION:
        raise DeserializationError(
            f"the export has format version {version}, which this dualjit no longer reads "
            f"(it reads {OLDEST_READABLE_VERSION} to {FORMAT_VERSION}); export the function "
            "again with this version")
    body = data[:len(data) - _DIGEST]
    if hashlib.sha256(body).digest() != bytes(data[len(data) - _DIGEST:]):
        raise DeserializationError(
            f"the export is damaged: its checksum does not match ({len(data)} bytes; truncated, "
            "or changed in transit or storage)")
    if start + header_size > len(body):
        raise DeserializationError("the export is malformed: its header overruns the data")
    try:
        header = json.loads(bytes(body[start:start + header_size]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise DeserializationError(f"the export is malformed: unreadable header ({e})") from None
    if not isinstance(header, dict):
        raise DeserializationError("the export is malformed: its header is not a JSON object")
    payload = body[start + header_size:]
    return header, _sections(header, payload)


def _sections(header: dict, payload: memoryview) -> list[memoryview]:
    spans = header.get("sections")
    if not isinstance(spans, list):
        raise DeserializationError("the export is malformed: no section table")
    out = []
    for span in spans:
        if not (isinstance(span, list) and len(span) == 2 and all(
                type(v) is int and v >= 0 for v in span) and sum(span) <= len(payload)):
            raise DeserializationError(f"the export is malformed: bad section {span!r}")
        out.append(payload[span[0]:span[0] + span[1]])
    return out


def _foreign(head: bytes) -> str:
    if head[:1] == b"\x80":
        what = "it looks like a pickle; load pickled dualjit functions with pickle.loads"
    elif head[:4] == b"\x7fELF":
        what = "it looks like an ELF object file"
    elif not head:
        what = "it is empty"
    else:
        what = f"it starts with {head!r}"
    return f"these bytes are not a dualjit export ({what})"


def field(header: dict, name: str, kind: type | tuple) -> Any:
    """header[name], checked to be of `kind`, or a DeserializationError naming the field."""
    value = header.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DeserializationError(f"the export is malformed: field {name!r} is "
                                   f"{type(value).__name__}, expected {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple) -> str:
    if isinstance(kind, tuple):
        return " or ".join(k.__name__ for k in kind)
    return kind.__name__
