"""The program file (``.hnnc``): a checked binary header, a JSON manifest and integer arrays.

Layout (little endian)::

    offset  size  field
    0       8     magic  b"HNNCPROG"
    8       2     format version (uint16), FORMAT_VERSION
    10      2     flags (uint16), must be 0
    12      4     manifest length M in bytes (uint32)
    16      8     payload length L = M + arrays length (uint64)
    24      32    SHA-256 of the payload
    56      M     manifest: UTF-8 JSON (chip spec, model settings, cores with their phases and
                  primitives, routes, layers, quantisation report)
    56 + M  L - M arrays: an uncompressed ``.npz`` of the per-core integer arrays
                  (``c{core}.weight`` int8, ``c{core}.bias`` int32, ``c{core}.table`` uint8,
                  ``c{core}.shift`` uint8: the LUT shift of each neuron; ``c{core}.alpha``
                  uint8 and ``c{core}.threshold`` int32: per-neuron LIF leak and threshold)

:func:`load_program` refuses a file whose size, magic, version, flags, lengths or digest do not
match, or whose manifest or arrays are malformed or do not fit the chip of its ``chip`` section
(every field, :mod:`hnnbio.chip.validate`), with :class:`hnnbio.errors.ProgramError`.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hnnbio.chip import validate
from hnnbio.chip.isa import CoreProgram
from hnnbio.chip.spec import ChipSpec
from hnnbio.errors import HnnbioError, ProgramError

MAGIC = b"HNNCPROG"
FORMAT_VERSION = 2
HEADER = struct.Struct("<8sHHIQ32s")
MANIFEST_KEYS = ("model", "chip", "loop", "sheet", "layers", "cores", "routes", "n_phases",
                 "ports", "lfsr_shifts_per_step", "lfsr_streams", "quantization")
ARRAY_DTYPES = {"weight": np.int8, "bias": np.int32, "table": np.uint8, "shift": np.uint8,
                "alpha": np.uint8, "threshold": np.int32}


@dataclass
class Program:
    """A compiled chip program (what the file holds, decoded)."""

    manifest: dict
    arrays: dict[str, np.ndarray]
    chip: ChipSpec = field(init=False)
    cores: list[CoreProgram] = field(init=False)

    def __post_init__(self):
        self.chip = ChipSpec.from_dict(self.manifest["chip"])
        self.cores = [CoreProgram.from_dict(c) for c in self.manifest["cores"]]

    @property
    def routes(self) -> list[dict]:
        return self.manifest["routes"]

    def __repr__(self) -> str:
        m = self.manifest
        return (f"Program(model={m['model']['name']!r}, cores={len(self.cores)}, "
                f"phases={m['n_phases']}, routes={len(m['routes'])})")


def to_bytes(program: Program) -> bytes:
    """Encode a program (header + manifest + arrays)."""
    manifest = json.dumps(program.manifest, sort_keys=True).encode("utf-8")
    buf = io.BytesIO()
    np.savez(buf, **program.arrays)
    payload = manifest + buf.getvalue()
    header = HEADER.pack(MAGIC, FORMAT_VERSION, 0, len(manifest), len(payload),
                         hashlib.sha256(payload).digest())
    return header + payload


def write_program(program: Program, path: str | Path, overwrite: bool = False) -> Path:
    """Write a program file; refuses to replace an existing file unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise ProgramError(f"output: {path} exists; pass overwrite=True (--overwrite) to "
                           "replace it")
    data = to_bytes(program)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def from_bytes(data: bytes, where: str = "program") -> Program:
    """Decode and check a program; ProgramError on any mismatch."""
    if len(data) < HEADER.size:
        raise ProgramError(f"{where}: truncated ({len(data)} bytes, header needs {HEADER.size})")
    magic, version, flags, m_len, p_len, digest = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ProgramError(f"{where}: not an hnnbio chip program (bad magic)")
    if version != FORMAT_VERSION:
        raise ProgramError(f"{where}: program format version {version} is not supported "
                           f"(this hnnbio reads version {FORMAT_VERSION}); export it again")
    if flags != 0:
        raise ProgramError(f"{where}: unknown header flags {flags:#06x}")
    payload = data[HEADER.size:]
    if len(payload) != p_len:
        kind = "truncated" if len(payload) < p_len else "has trailing bytes"
        raise ProgramError(f"{where}: {kind} (payload {len(payload)} bytes, header says {p_len})")
    if m_len > p_len:
        raise ProgramError(f"{where}: manifest length {m_len} exceeds the payload ({p_len})")
    if hashlib.sha256(payload).digest() != digest:
        raise ProgramError(f"{where}: corrupted (SHA-256 of the payload does not match the header)")
    try:
        manifest = json.loads(payload[:m_len].decode("utf-8"))
        with np.load(io.BytesIO(payload[m_len:]), allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as exc:
        raise ProgramError(f"{where}: malformed manifest or arrays "
                           f"({type(exc).__name__})") from None
    return _checked(manifest, arrays, where)


def _checked(manifest, arrays, where: str) -> Program:
    validate.check(manifest, arrays, where, MANIFEST_KEYS)  # every field against the chip
    if not isinstance(manifest, dict) or any(k not in manifest for k in MANIFEST_KEYS):
        raise ProgramError(f"{where}: manifest lacks one of {', '.join(MANIFEST_KEYS)}")
    for key, value in arrays.items():
        kind = key.rsplit(".", 1)[-1]
        if kind not in ARRAY_DTYPES or value.dtype != ARRAY_DTYPES[kind]:
            raise ProgramError(f"{where}: array {key!r} has an unexpected name or dtype "
                               f"{value.dtype}")
    try:
        program = Program(manifest, arrays)
    except HnnbioError as exc:
        raise ProgramError(f"{where}: invalid manifest ({exc})") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ProgramError(f"{where}: invalid manifest ({type(exc).__name__}: {exc})") from None
    for core in program.cores:
        for instructions in core.phases.values():
            for ins in instructions:
                for field_name in ("weights", "bias", "table", "shift", "alpha", "v_threshold"):
                    key = ins.args.get(field_name)
                    if isinstance(key, str) and key not in arrays:
                        raise ProgramError(f"{where}: core {core.core} refers to missing array "
                                           f"{key!r}")
    return program


def load_program(path: str | Path) -> Program:
    """Read and check a program file (see the module docstring for what is refused)."""
    path = Path(path)
    if not path.is_file():
        raise ProgramError(f"program: file not found: {path}; write one with `hnnbio export`")
    return from_bytes(path.read_bytes(), str(path))


def dump(path: str | Path) -> str:
    """Readable text of a program: chip, model, quantisation, cores, phases, primitives, routes."""
    program = load_program(path) if not isinstance(path, Program) else path
    m = program.manifest
    chip = program.chip
    model, loop, sheet = m["model"], m["loop"], m["sheet"]
    height, width = model["image_shape"]
    lines = [f"hnnbio chip program, format version {FORMAT_VERSION}",
             f"model   {model['name']} (dataset {model['dataset']}, image {height}x{width})",
             f"chip    {chip.name}: mesh {chip.mesh_x}x{chip.mesh_y}, "
             f"{chip.axons_per_core} axons x {chip.neurons_per_core} neurons, "
             f"{chip.memory_bytes_per_core} B per core",
             f"loop    D={loop['steps_per_cycle']} steps per cycle, {loop['cycles']} cycles, "
             f"delay {sheet['delay_steps']}, refractory {sheet['refractory_steps']}",
             f"cores   {len(program.cores)} used, {m['n_phases']} phases per step, "
             f"{len(m['routes'])} routes",
             f"window  coin thresholds {sheet['keep']}, "
             f"{'nested' if sheet.get('nested', False) else 'independent'} coins",
             "", "quantisation (relative RMS error of each layer's output):"]
    for name, rep in m["quantization"].items():
        lines.append(f"  {name:<10} error {rep['rel_rms_error']:.4f}  e_w {rep['e_w']}  "
                     f"shift {rep['shift']}  e_out {rep['e_out']}")
    lines.append("")
    for core in program.cores:
        (alo, ahi), (nlo, nhi) = core.axons, core.neurons
        lines.append(f"core {core.core} ({core.x},{core.y}) layer {core.layer} [{core.role}] "
                     f"axons {alo}:{ahi} neurons {nlo}:{nhi}")
        for phase in sorted(core.phases):
            for ins in core.phases[phase]:
                lines.append(f"  phase {phase:>2}  {ins}")
    lines += ["", "routes (src -> dst: what, values x bits, packets, hops, phase, delay):"]
    for r in m["routes"]:
        lines.append(f"  {r['src']:>3} -> {r['dst']:<3} {r['what']:<10} "
                     f"{r['values']} x {r['bits']} b, {r['packets']} packets, {r['hops']} hops, "
                     f"phase {r['phase']}, delay {r['delay']}")
    return "\n".join(lines)
