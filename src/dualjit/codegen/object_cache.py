"""Object code reused across processes: the disk cache (DUALJIT_CACHE_DIR) and the object code
that exported programs carry. Nothing reaches the linker unchecked.

Loading object code is running code, so an entry is used only when
- it is bound to the module that asks for it: its key (a hash of the module's LLVM IR, the
  llvmlite and LLVM versions and the host CPU) and its kernel symbols with their arities match;
- it is authentic: a disk entry carries an HMAC-SHA256 under a per-user secret
  (`$XDG_CONFIG_HOME/dualjit/cache.key`, default `~/.config/dualjit/cache.key`, mode 0600), so
  an entry copied, edited or planted by anyone without that secret is ignored; exported object
  code carries a SHA-256 checksum (it travels between machines; see dualjit.export);
- it is structurally an object file for this host (ELF header and section table within the
  bytes), because LLVM aborts the process on anything else.
The cache directory itself must belong to the user and be writable by nobody else (as SSH
requires of its key files); otherwise dualjit warns once and runs uncached.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import platform
import secrets
import stat
import struct
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator

CACHE_FORMAT = 2
_MAGIC = b"dualjit object cache 2\n"
_SECRET_BYTES = 32


class CacheWarning(UserWarning):
    """The disk cache of object code is unusable or unsafe; dualjit runs without it."""


class ObjectCode:
    """Object code of one LLVM module, with what binds it to that module."""

    __slots__ = ("key", "symbols", "code", "_optimized", "plan_key")

    def __init__(self, key: str, symbols: tuple, code: bytes, optimized: str | Callable[[], str],
                 plan_key: str | None = None):
        self.key = key
        self.symbols = symbols  # ((function name, number of arguments), ...) it defines
        self.code = code
        self._optimized = optimized  # the optimized LLVM IR text, or a function giving it
        self.plan_key = plan_key  # see plan_key(): set on exported object code

    @property
    def optimized_ir(self) -> str:
        if callable(self._optimized):
            self._optimized = self._optimized()
        return self._optimized


# -- keys and symbols ---------------------------------------------------------------------------

_host: tuple[str, ...] | None = None


def host_signature() -> tuple[str, ...]:
    """What object code depends on besides the IR: versions, target triple, CPU and features."""
    global _host
    if _host is None:
        import llvmlite

        from .engine import llvm

        binding = llvm()
        _host = (llvmlite.__version__, ".".join(map(str, binding.llvm_version_info)),
                 binding.get_process_triple(), binding.get_host_cpu_name(),
                 binding.get_host_cpu_features().flatten())
    return _host


def module_key(llvm_ir: str, codegen_opt: int) -> str:
    parts = [str(CACHE_FORMAT), str(codegen_opt), *host_signature(), llvm_ir]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def plan_key(fn, plan, builtin_entries: bool) -> str:
    """A key for the object code of a Function's kernels that needs no LLVM IR: the Function
    (text and constants), its plan (kernels, their arguments, loops, library calls), how
    kernels are entered, the host, and a fingerprint of the code generator's source. Equal
    keys mean this dualjit would emit the same module, so exported code can skip emission."""
    consts = hashlib.sha256()
    for _, a in fn.consts:
        consts.update(a.tobytes())
    kernels = [(k.name, k.flat is not None, k.float_entry) for k in plan.kernels]
    parts = ["plan", str(CACHE_FORMAT), *host_signature(), codegen_fingerprint(),
             str(builtin_entries), str(plan.release_gil), str(plan.codegen_level),
             repr(kernels), str(plan), fn.text, consts.hexdigest()]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


_fingerprint: str | None = None


def codegen_fingerprint() -> str:
    """A hash of the source of dualjit.codegen and dualjit.ir: what decides the code emitted."""
    global _fingerprint
    if _fingerprint is None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        digest = hashlib.sha256()
        for package in ("codegen", "ir"):
            folder = os.path.join(root, package)
            for name in sorted(os.listdir(folder)):
                if name.endswith(".py"):
                    digest.update(name.encode())
                    with open(os.path.join(folder, name), "rb") as f:
                        digest.update(f.read())
        _fingerprint = digest.hexdigest()
    return _fingerprint


def defined_symbols(module) -> tuple[tuple[str, int], ...]:
    """The functions a parsed llvmlite module defines, with their arities, in name order."""
    return tuple(sorted((f.name, len(list(f.arguments))) for f in module.functions
                        if not f.is_declaration))


# -- where object code comes from ---------------------------------------------------------------

class Supplied:
    """Object code handed in by an exported program, by module key and by plan key; counts
    what was used (and how often without emitting LLVM IR at all)."""

    def __init__(self, objects: list[ObjectCode]):
        self.objects = {o.key: o for o in objects}
        self.by_plan = {o.plan_key: o for o in objects if o.plan_key}
        self.used = 0
        self.missed = 0
        self.without_emitting = 0


_supplied = threading.local()


@contextlib.contextmanager
def supplying(source: Supplied) -> Iterator[Supplied]:
    """Within this block, modules compiled by this thread may take their code from `source`."""
    stack = _supplied.__dict__.setdefault("stack", [])
    stack.append(source)
    try:
        yield source
    finally:
        stack.pop()


def lookup_plan(fn, plan, builtin_entries: bool) -> ObjectCode | None:
    """Supplied object code for this Function and plan (see plan_key), checked; or None."""
    stack = _supplied.__dict__.get("stack")
    if not stack or not any(source.by_plan for source in stack):
        return None
    key = plan_key(fn, plan, builtin_entries)
    for source in reversed(stack):
        found = source.by_plan.get(key)
        if found is not None and is_host_object(found.code):
            return found
    return None


def lookup(key: str, symbols: tuple) -> ObjectCode | None:
    """Checked object code for the module with this key and symbols: supplied, else on disk."""
    for source in reversed(_supplied.__dict__.get("stack", ())):
        found = source.objects.get(key)
        if found is not None and found.symbols == symbols and is_host_object(found.code):
            return found
    directory = usable_cache_dir()
    return _DiskEntry(directory, key).load(symbols) if directory else None


def note_link(obj: ObjectCode | None, *, emitted: bool) -> None:
    """Count, in the active supplied sources, a module linked from `obj` (None: compiled from
    its IR), after emitting LLVM IR or not."""
    for source in _supplied.__dict__.get("stack", ()):
        if obj is not None and source.objects.get(obj.key) is obj:
            source.used += 1
            source.without_emitting += not emitted
            return
    for source in _supplied.__dict__.get("stack", ()):
        source.missed += 1


def store(obj: ObjectCode) -> None:
    directory = usable_cache_dir()
    if directory:
        _DiskEntry(directory, obj.key).store(obj)


# -- the cache directory and the secret --------------------------------------------------------

_warned: set[str] = set()
_warn_lock = threading.Lock()


def warn_once(message: str) -> None:
    with _warn_lock:
        if message in _warned:
            return
        _warned.add(message)
    warnings.warn(f"dualjit: {message}", CacheWarning, stacklevel=3)


def _others_can_change(path: str, st: os.stat_result, what: str, owners: tuple) -> str | None:
    """Why someone other than the user could change `path` (None if nobody can)."""
    if st.st_uid not in owners:
        return f"{what} {path} belongs to uid {st.st_uid}, not to you (uid {os.geteuid()})"
    sticky = what == "parent directory" and st.st_mode & stat.S_ISVTX  # like /tmp
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not sticky:
        return (f"{what} {path} is writable by its group or by everyone "
                f"(mode {st.st_mode & 0o7777:o})")
    return None


def _directory_problem(path: str) -> str | None:
    """Why object code must not be loaded from directory `path`, or None when it is safe."""
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a directory"
    if not hasattr(os, "geteuid"):
        return None  # no POSIX ownership (Windows): nothing more to check
    me = os.geteuid()
    problem = _others_can_change(path, st, "cache directory", (me,))
    parent = os.path.dirname(path)
    while problem is None and parent != path:  # a writable ancestor could swap the directory
        problem = _others_can_change(parent, os.stat(parent), "parent directory", (me, 0))
        path, parent = parent, os.path.dirname(parent)
    return problem


def usable_cache_dir() -> str | None:
    """DUALJIT_CACHE_DIR when it is set and safe to load code from; otherwise None (with a
    warning, once per reason, when it is set but unusable)."""
    setting = os.environ.get("DUALJIT_CACHE_DIR")
    if not setting:
        return None
    path = os.path.realpath(os.path.expanduser(setting))
    try:
        if not os.path.exists(path):
            os.makedirs(path, mode=0o700, exist_ok=True)
        problem = _directory_problem(path)
    except OSError as e:
        warn_once(f"DUALJIT_CACHE_DIR={setting} cannot be used ({e}); running without the "
                  "disk cache")
        return None
    if problem:
        warn_once(f"DUALJIT_CACHE_DIR={setting} is refused: {problem}. Loading object code "
                  "from a directory others can change would run their code; use a directory "
                  "only you can write (chmod 700). Running without the disk cache.")
        return None
    return path if secret() is not None else None


def secret_path() -> str:
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(config, "dualjit", "cache.key")


def secret() -> bytes | None:
    """The per-user key that authenticates disk entries (created on first use, mode 0600)."""
    path = secret_path()
    try:
        if not os.path.exists(path):
            _create_secret(path)
        st = os.stat(path)
        if hasattr(os, "geteuid") and (st.st_uid != os.geteuid() or st.st_mode & 0o077):
            warn_once(f"the disk-cache key {path} must belong to you and be readable by you "
                      f"only (mode 600; it is {st.st_mode & 0o777:o}); running without the "
                      "disk cache")
            return None
        with open(path, "rb") as f:
            key = f.read()
    except OSError as e:
        warn_once(f"the disk-cache key {path} cannot be created or read ({e}); running "
                  "without the disk cache")
        return None
    if len(key) != _SECRET_BYTES:
        warn_once(f"the disk-cache key {path} is damaged (expected {_SECRET_BYTES} bytes); "
                  "delete it to make a new one; running without the disk cache")
        return None
    return key


def _create_secret(path: str) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(_SECRET_BYTES))
        with contextlib.suppress(FileExistsError):  # another process made one first: use it
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


# -- disk entries -------------------------------------------------------------------------------

class _DiskEntry:
    """<key>.o: magic line, header length, JSON header (key, symbols, sizes), HMAC, object
    code, optimized LLVM IR. The HMAC covers everything before it and after it."""

    def __init__(self, directory: str, key: str):
        self.directory = directory
        self.key = key
        self.path = os.path.join(directory, key + ".o")

    def load(self, symbols: tuple) -> ObjectCode | None:
        key = secret()
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except OSError:
            return None
        if key is None or not data.startswith(_MAGIC):
            return None  # missing, or written by another format: compiled and rewritten
        try:
            header_text, mac, code, ir = _split_entry(data)
            header = json.loads(header_text)
        except ValueError:
            return None
        if not hmac.compare_digest(mac, _mac(key, header_text, code, ir)):
            return None  # not written by this user's dualjit, or damaged
        stored = tuple((name, arity) for name, arity in header["symbols"])
        if header["key"] != self.key or stored != symbols or not is_host_object(code):
            return None
        return ObjectCode(self.key, symbols, code, ir.decode("utf-8"))

    def store(self, obj: ObjectCode) -> None:
        key = secret()
        if key is None:
            return
        ir = obj.optimized_ir.encode("utf-8")
        header = json.dumps({"key": obj.key, "symbols": [list(s) for s in obj.symbols],
                             "code": len(obj.code), "ir": len(ir)}).encode()
        data = b"".join([_MAGIC, struct.pack("<Q", len(header)), header,
                         _mac(key, header, obj.code, ir), obj.code, ir])
        try:
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, self.path)  # atomic: readers see the old entry or the whole new one
        except OSError as e:
            warn_once(f"cannot write to the disk cache {self.directory} ({e}); running "
                      "without storing object code")


def _mac(key: bytes, header: bytes, code: bytes, ir: bytes) -> bytes:
    digest = hmac.new(key, digestmod=hashlib.sha256)
    for part in (_MAGIC, header, code, ir):
        digest.update(struct.pack("<Q", len(part)))
        digest.update(part)
    return digest.digest()


def _split_entry(data: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    at = len(_MAGIC)
    (n,) = struct.unpack_from("<Q", data, at)
    at += 8
    header = data[at:at + n]
    sizes = json.loads(header)
    at += n
    mac = data[at:at + 32]
    at += 32
    code_size, ir_size = int(sizes["code"]), int(sizes["ir"])
    code, ir = data[at:at + code_size], data[at + code_size:at + code_size + ir_size]
    if len(mac) != 32 or len(code) != code_size or len(ir) != ir_size or \
            at + code_size + ir_size != len(data):
        raise ValueError("truncated or oversized entry")
    return header, mac, code, ir


# -- is it an object file for this host? --------------------------------------------------------

_ELF_MACHINES = {"x86_64": 62, "amd64": 62, "aarch64": 183, "arm64": 183, "ppc64le": 21,
                 "ppc64": 21, "s390x": 22, "riscv64": 243, "loongarch64": 258}


def is_host_object(code: bytes) -> bool:
    """Whether `code` is a well-formed relocatable ELF object for this host (headers and every
    section inside the bytes). LLVM aborts the process on a malformed object, so anything
    else is refused here. Hosts whose objects are not ELF get False (their code is rebuilt)."""
    if len(code) < 64 or code[:4] != b"\x7fELF" or sys.platform in ("darwin", "win32"):
        return False
    is64 = sys.maxsize > 2**32
    order = "<" if sys.byteorder == "little" else ">"
    if code[4] != (2 if is64 else 1) or code[5] != (1 if order == "<" else 2):
        return False
    if is64:
        e_type, e_machine = struct.unpack_from(order + "HH", code, 16)
        shoff, = struct.unpack_from(order + "Q", code, 40)
        ehsize, _, _, shentsize, shnum, shstrndx = struct.unpack_from(order + "6H", code, 52)
        section = order + "IIQQQQIIQQ"
    else:
        e_type, e_machine = struct.unpack_from(order + "HH", code, 16)
        shoff, = struct.unpack_from(order + "I", code, 32)
        ehsize, _, _, shentsize, shnum, shstrndx = struct.unpack_from(order + "6H", code, 40)
        section = order + "IIIIIIIIII"
    machine = _ELF_MACHINES.get(platform.machine().lower())
    if e_type != 1 or (machine is not None and e_machine != machine):
        return False  # not relocatable, or for another architecture
    if shentsize != struct.calcsize(section) or shnum == 0 or shstrndx >= shnum or \
            shoff + shnum * shentsize > len(code) or ehsize > len(code):
        return False
    for i in range(shnum):
        fields = struct.unpack_from(section, code, shoff + i * shentsize)
        sh_type, sh_offset, sh_size = fields[1], fields[4], fields[5]
        if sh_type != 8 and sh_offset + sh_size > len(code):  # 8: SHT_NOBITS (.bss)
            return False
    return True


def undefined_symbols(code: bytes) -> list[str] | None:
    """The names an ELF object (already checked by is_host_object) needs from outside: libm,
    CPython, the BLAS gemm. None if its symbol table cannot be read."""
    order = "<" if sys.byteorder == "little" else ">"
    is64 = sys.maxsize > 2**32
    section = order + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
    symbol = order + ("IBBHQQ" if is64 else "IIIBBH")
    shoff, = struct.unpack_from(order + ("Q" if is64 else "I"), code, 40 if is64 else 32)
    shentsize, shnum = struct.unpack_from(order + "HH", code, 58 if is64 else 46)
    headers = [struct.unpack_from(section, code, shoff + i * shentsize) for i in range(shnum)]
    names: list[str] = []
    for h in headers:
        if h[1] != 2:  # SHT_SYMTAB
            continue
        link = h[6]
        if link >= shnum:
            return None
        strings = headers[link]
        size, entsize = h[5], struct.calcsize(symbol)
        for at in range(h[4], h[4] + size - entsize + 1, entsize):
            fields = struct.unpack_from(symbol, code, at)
            name_at, shndx = fields[0], (fields[3] if is64 else fields[5])
            if shndx == 0 and name_at:  # SHN_UNDEF, named
                start = strings[4] + name_at
                end = code.find(b"\0", start, strings[4] + strings[5])
                if end < 0:
                    return None
                names.append(code[start:end].decode("ascii", "replace"))
    return names


def symbols_resolve(code: bytes) -> bool:
    """Whether every symbol the object code needs is known to LLVM (registering the ones
    dualjit provides: CPython's and the BLAS gemm). Unresolved symbols link to address 0."""
    from . import blas, nest_parallel, pycall
    from .engine import process_symbols_searchable

    needed = undefined_symbols(code)
    if needed is None:
        return False
    binding = process_symbols_searchable()
    if any(not binding.address_of_symbol(name) for name in needed):
        pycall.register_symbols()
        nest_parallel.register_symbols()
        for gemm in blas.gemms().values():
            binding.add_symbol(gemm.symbol, gemm.address)
    return all(binding.address_of_symbol(name) for name in needed)
