"""The compile worker: LLVM IR in, optimized object code out, in a process of its own.

Why a process: LLVM keeps part of what every optimization pipeline run allocates (llvmlite's
pass builder leaves its instrumentation callbacks behind, ~0.1-0.2 MB a compile), so a program
compiling thousands of specializations would grow by hundreds of MB however carefully it drops
them. engine.py sends IR here and links the object code it gets back, which frees fully; this
process is replaced after a few hundred compiles, so what it leaks ends with it.

Run by engine.py as a script (it needs llvmlite only). On stdin/stdout, repeatedly:
request `<QBB` (IR bytes, codegen level, want the optimized IR's text) then the IR;
reply `<BQQ` (1 if compiled, code bytes, text bytes) then the code and the text (on failure
no code and the error message as text).
"""

from __future__ import annotations

import struct
import sys

import llvmlite.binding as llvm

REQUEST = struct.Struct("<QBB")
REPLY = struct.Struct("<BQQ")


_host: tuple | None = None  # (target, CPU name, CPU features): asked of LLVM once


def host_target_machine(opt: int):
    """A TargetMachine for the host CPU; `opt` is the machine-code generation level."""
    global _host
    if _host is None:  # (the feature query alone costs about as much as making the machine)
        _host = (llvm.Target.from_triple(llvm.get_process_triple()), llvm.get_host_cpu_name(),
                 llvm.get_host_cpu_features().flatten())
    target, cpu, features = _host
    return target.create_target_machine(cpu=cpu, features=features, opt=opt, jit=True)


# Function attributes that machine_code.py sets on a light kernel's functions.
FAST_MACHINE_CODE = b'"dualjit-fast-machine-code"'
UNOPTIMIZED = b'"dualjit-unoptimized"'


class BrokenByOptimizer(RuntimeError):
    """LLVM's pipeline left a function that no longer verifies: an LLVM bug, not ours (the
    module verified before it). Seen with the SLP vectorizer on a fori/scan gradient (fuzz seed
    61427: a vector `fadd` used before the block defining it); LLVM's code generator would
    abort the whole process on such a function, so it is caught here."""


def optimize(module, tm, slp: bool = True) -> None:
    """O3 with loop vectorization, in place; SLP vectorization too unless `slp` is false or
    functions are marked (machine_code.py: a light kernel, whose straight-line code is glue
    between loops that are not unrolled, so SLP finds nothing worth its ~10 ms). Functions
    marked UNOPTIMIZED (an unoptimized kernel's function, a light kernel's Python entries) get
    `optnone` first: LLVM leaves their IR as it is and generates their machine code at its
    fastest level; those marked
    FAST_MACHINE_CODE get it after the pipeline: optimized, with fast machine code. Raises
    BrokenByOptimizer when the result does not verify (the check costs ~4 ms on W8's 1 MB
    module, whose compile takes hundreds)."""
    unoptimized, fast = _marked(module, UNOPTIMIZED), _marked(module, FAST_MACHINE_CODE)
    for fn in unoptimized:
        _no_optimization(fn)
    tuning = llvm.create_pipeline_tuning_options(speed_level=3)
    tuning.loop_vectorization = True
    tuning.slp_vectorization = slp and not (unoptimized or fast)
    builder = llvm.create_pass_builder(tm, tuning)
    builder.getModulePassManager().run(module, builder)
    for fn in _marked(module, FAST_MACHINE_CODE):  # (again: the pipeline may delete functions)
        _no_optimization(fn)
    try:
        module.verify()
    except RuntimeError as error:
        raise BrokenByOptimizer(f"LLVM's optimizer produced invalid IR: {error}") from None


def optimize_parsed(parse, parsed: tuple | None = None) -> tuple:
    """(module, target machine) from `parse()` (or `parsed`, a fresh parse), optimized; when
    LLVM's pipeline breaks the module, parsed again and optimized without SLP vectorization
    (BrokenByOptimizer if even that fails: an error, never a crash)."""
    module, tm = parsed if parsed is not None else parse()
    try:
        optimize(module, tm)
    except BrokenByOptimizer:
        module, tm = parse()
        optimize(module, tm, slp=False)
    return module, tm


def _marked(module, mark: bytes) -> list:
    return [fn for fn in module.functions if not fn.is_declaration
            and any(mark in a for a in fn.attributes)]


def _no_optimization(fn) -> None:
    if not any(b"optnone" in a for a in fn.attributes):
        fn.add_function_attribute("noinline")  # (optnone requires it)
        fn.add_function_attribute("optnone")


def compile_ir(llvm_ir: str, codegen_opt: int, want_text: bool) -> tuple[bytes, str]:
    """(object code, the optimized IR's text or "") of a module given as text."""
    def parse():
        module = llvm.parse_assembly(llvm_ir, context=llvm.create_context())
        module.name = "dualjit"
        module.verify()
        tm = host_target_machine(codegen_opt)
        module.triple = llvm.get_process_triple()
        module.data_layout = str(tm.target_data)
        return module, tm
    module, tm = optimize_parsed(parse)
    return tm.emit_object(module), str(module) if want_text else ""


def serve(requests, replies) -> None:
    while header := requests.read(REQUEST.size):
        size, codegen_opt, want_text = REQUEST.unpack(header)
        llvm_ir = requests.read(size).decode()
        try:
            code, text = compile_ir(llvm_ir, codegen_opt, bool(want_text))
            ok = 1
        except Exception as e:  # (the caller compiles in its own process and reports it)
            code, text, ok = b"", f"{type(e).__name__}: {e}", 0
        data = text.encode()
        replies.write(REPLY.pack(ok, len(code), len(data)) + code + data)
        replies.flush()


if __name__ == "__main__":
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    serve(sys.stdin.buffer, sys.stdout.buffer)
