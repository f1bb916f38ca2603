"""Load-time validation: every field of a program checked against the chip it declares.

:func:`check` runs when a program is read (:func:`hnnbio.chip.program.from_bytes`), after the
header and the digest, before anything is built from the manifest. A valid digest only says that
the file is what its writer wrote; these checks say that what it wrote runs on the chip of its
``chip`` section. Every refusal is a :class:`hnnbio.errors.ProgramError` of one line naming the
field, and the core, phase and op where there is one, e.g.
``program: core 2, phase 0, lif.refractory_steps: 100 is outside [0, 15]``.

What is checked (the semantics are those of :mod:`hnnbio.chip.isa`):

- ``chip``: a :class:`ChipSpec` (its own ranges and the caps :data:`hnnbio.chip.spec.MAXIMA`);
- ``model``, ``loop``, ``sheet``: known keys only, each of its type (an int is never a bool nor
  a float, a number is finite), sizes positive and bounded (:data:`LIMITS`); ``image_shape``
  holds ``n_pixels``; refractory within ``refractory_bits``; the window's coin codes ``keep``
  1 to 15 values (the 4-bit age counter) in 0..256; delays within ``delay_slots``;
- ``n_phases`` in 1..``max_phases``, ``lfsr_shifts_per_step`` in 1..``lfsr_bits``,
  ``lfsr_streams`` holds every LFSR buffer's streams, which never overlap;
- ``cores``: at most the mesh's cores, distinct ids and positions on the mesh, axon and neuron
  labels within the core's limits; buffers (isa.check_buffer) of at most
  ``max(axons_per_core, neurons_per_core)`` elements; phases within ``n_phases``, at most one op
  per block, in block order; **every field of every op by its rule in**
  :data:`hnnbio.chip.field_rules.FIELD_RULES`
  (one table keyed by op name, then field: buffers that exist, of the size, signedness and width
  the op needs; array keys of the right dtype, shape and values; registers within their bits);
- ``send`` destinations: a core of the program, a buffer of it, elements within both buffers, a
  value range (``bits``, the sender's signedness) that the destination holds; no two routes, nor
  a route and an input port, write one element (except a ``steps`` port under a route delayed by
  at least its steps); ``routes`` equal the rows the sends give (hops of X-then-Y routing,
  packets of ``packet_bytes``);
- ``ports``: inputs and outputs name existing buffers and elements, input modes and steps;
- memory: what each core holds (:func:`core_memory_bytes`: buffers, arrays, delay rings) fits
  ``memory_bytes_per_core``, and so does the manifest's ``memory``;
- ``layers`` (labels for reports) list existing cores once; every array is used by exactly one
  instruction field.
"""

from __future__ import annotations

import math
import re

import numpy as np

from hnnbio.chip import isa
from hnnbio.chip.field_rules import (  # noqa: F401  (FIELD_RULES, STATE_BYTES: the public table)
    FIELD_RULES,
    LIMITS,
    STATE_BYTES,
    boolean,
    choice,
    integer,
    is_int,
    keep,
    number,
    part_problem,
    text,
)
from hnnbio.chip.spec import ChipSpec
from hnnbio.errors import HnnbioError, ProgramError

OPTIONAL_MANIFEST_KEYS = ("memory",)
#: Keys of each manifest section: required, then optional.
SECTIONS = {
    "model": (("name", "dataset", "image_shape"), ("nodes",)),
    "loop": (("steps_per_cycle", "cycles", "readout_cycles", "dt_ms"), ()),
    "sheet": (("n_pixels", "refractory_steps", "keep", "delay_steps"),
              ("nested", "attention_exponent")),
}
CORE_KEYS = ("core", "x", "y", "layer", "role", "neurons", "axons", "buffers", "phases")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


class _Site:
    """Where a rule looks: the program-wide context plus one core, phase and instruction."""

    def __init__(self, ctx, core=None, phase=None, op=None, args=None):
        self.ctx, self.core, self.phase, self.op, self.args = ctx, core, phase, op, args or {}

    @property
    def chip(self) -> ChipSpec:
        return self.ctx.chip

    def buffer(self, name) -> dict | None:
        """The spec of the core's buffer ``name`` (None for a null or unknown name)."""
        buffers = self.core["buffers"] if self.core else {}
        return buffers.get(name) if isinstance(name, str) else None

    def size(self, field: str) -> int | None:
        """Size of the buffer that field ``field`` of the instruction names."""
        spec = self.buffer(self.args.get(field))
        return spec["size"] if spec else None


# --- the checks ---------------------------------------------------------------------------------

class _Context:
    def __init__(self, manifest, arrays, where, chip):
        self.manifest, self.arrays, self.where, self.chip = manifest, arrays, where, chip
        self.cores: dict[int, dict] = {}
        self.used_arrays: dict[str, list] = {}

    def fail(self, place: str, detail: str):
        raise ProgramError(f"{self.where}: {place}: {detail}")


def _section(ctx, name: str, rules: dict) -> dict:
    value = ctx.manifest[name]
    if not isinstance(value, dict):
        ctx.fail(name, f"must be a table, got {type(value).__name__}")
    required, optional = SECTIONS[name]
    for key in required:
        if key not in value:
            ctx.fail(f"{name}.{key}", "missing")
    for key in value:
        if key not in required and key not in optional:
            ctx.fail(f"{name}.{key}", f"not a key of {name} ({', '.join(required + optional)})")
    site = _Site(ctx)
    for key, rule in rules.items():
        if key in value:
            problem = rule(value[key], site)
            if problem:
                ctx.fail(f"{name}.{key}", problem)
    return value


def _pair(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(is_int(v) for v in value)


def check(manifest: dict, arrays: dict, where: str = "program",
          required_keys: tuple[str, ...] = ()) -> None:
    """Refuse (ProgramError, one line naming the field) a program the chip cannot run."""
    if not isinstance(manifest, dict):
        raise ProgramError(f"{where}: manifest: must be a table")
    for key in required_keys:
        if key not in manifest:
            raise ProgramError(f"{where}: {key}: missing from the manifest")
    for key in manifest:
        if key not in required_keys and key not in OPTIONAL_MANIFEST_KEYS:
            raise ProgramError(f"{where}: {key}: not a manifest key")
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray) or value.dtype.hasobject:
            raise ProgramError(f"{where}: arrays.{key}: not a numeric array")
    if not isinstance(manifest.get("chip"), dict):
        raise ProgramError(f"{where}: chip: must be a table")
    try:
        chip = ChipSpec.from_dict(manifest["chip"])
    except HnnbioError as exc:
        raise ProgramError(f"{where}: chip.{exc}") from None
    except TypeError as exc:
        raise ProgramError(f"{where}: chip: {exc}") from None
    ctx = _Context(manifest, arrays, where, chip)
    _check_top(ctx)
    _check_cores(ctx)
    _check_writes(ctx)
    _check_routes(ctx)
    _check_layers(ctx)
    _check_memory(ctx)
    for key in arrays:
        users = ctx.used_arrays.get(key, [])
        if len(users) != 1:
            ctx.fail(f"arrays.{key}", "used by no instruction" if not users else
                     f"used by {len(users)} instructions (cores "
                     f"{', '.join(str(s.core['core']) for s in users)}); each array has one")


def _check_top(ctx):
    chip = ctx.chip
    sheet_rules = {"n_pixels": integer(1, chip.n_cores * chip.neurons_per_core),
                   "refractory_steps": integer(0, chip.refractory_max), "keep": keep,
                   "delay_steps": integer(1, chip.delay_slots), "nested": boolean,
                   "attention_exponent": integer(0, LIMITS["attention_exponent"])}
    sheet = _section(ctx, "sheet", sheet_rules)
    model = _section(ctx, "model", {"name": text, "dataset": text})
    shape = model["image_shape"]
    if not _pair(shape) or min(shape) < 1 or shape[0] * shape[1] != sheet["n_pixels"]:
        ctx.fail("model.image_shape", f"must be [height, width] of {sheet['n_pixels']} pixels "
                 f"(sheet.n_pixels), got {shape!r}")
    nodes = model.get("nodes", {})
    if not isinstance(nodes, dict) or any(text(v, None) or text(k, None) for k, v in nodes.items()):
        ctx.fail("model.nodes", f"must map roles to node names (strings), got {nodes!r}")
    loop = _section(ctx, "loop", {"steps_per_cycle": integer(1, LIMITS["steps_per_cycle"]),
                                  "cycles": integer(1, LIMITS["cycles"]),
                                  "dt_ms": number(0, LIMITS["dt_ms"], low_open=True)})
    problem = integer(1, loop["cycles"])(loop["readout_cycles"], None)
    if problem:
        ctx.fail("loop.readout_cycles", problem)
    most = chip.n_cores * max(chip.neurons_per_core, chip.axons_per_core)
    for key, rule in (("n_phases", integer(1, chip.max_phases)),
                      ("lfsr_shifts_per_step", integer(1, chip.lfsr_bits)),
                      ("lfsr_streams", integer(1, most))):
        if key in ctx.manifest:
            problem = rule(ctx.manifest[key], None)
            if problem:
                ctx.fail(key, problem)
    report = ctx.manifest["quantization"]
    if not isinstance(report, dict):
        ctx.fail("quantization", "must be a table of layers")
    for name, rep in report.items():
        if not isinstance(rep, dict) or any(k not in rep for k in ("e_w", "shift", "e_out")):
            ctx.fail(f"quantization.{name}", "must hold rel_rms_error, e_w, shift, e_out")
        problem = number(0, math.inf)(rep.get("rel_rms_error"), None)
        if problem:
            ctx.fail(f"quantization.{name}.rel_rms_error", problem)


def _check_cores(ctx):
    chip, cores = ctx.chip, ctx.manifest["cores"]
    if not isinstance(cores, list) or not cores:
        ctx.fail("cores", "must be a non-empty list")
    if len(cores) > chip.n_cores:
        ctx.fail("cores", f"{len(cores)} cores, the mesh has {chip.n_cores}")
    positions = {}
    largest = max(chip.axons_per_core, chip.neurons_per_core)
    for i, core in enumerate(cores):
        if not isinstance(core, dict):
            ctx.fail(f"cores[{i}]", "must be a table")
        for key in CORE_KEYS:
            if key not in core:
                ctx.fail(f"cores[{i}].{key}", "missing")
        extra = set(core) - set(CORE_KEYS)
        if extra:
            ctx.fail(f"cores[{i}].{sorted(extra)[0]}", "not a key of a core")
        cid = core["core"]
        problem = integer(0, chip.n_cores - 1)(cid, None)
        if problem:
            ctx.fail(f"cores[{i}].core", problem)
        place = f"core {cid}"
        if cid in ctx.cores:
            ctx.fail(place, "listed twice")
        for key, high in (("x", chip.mesh_x - 1), ("y", chip.mesh_y - 1)):
            problem = integer(0, high)(core[key], None)
            if problem:
                ctx.fail(f"{place}, {key}", problem)
        if (core["x"], core["y"]) in positions:
            ctx.fail(f"{place}, x, y", f"({core['x']}, {core['y']}) is also core "
                     f"{positions[core['x'], core['y']]}'s place")
        positions[core["x"], core["y"]] = cid
        for key in ("layer", "role"):
            problem = text(core[key], None)
            if problem:
                ctx.fail(f"{place}, {key}", problem)
        for key, most in (("neurons", chip.neurons_per_core), ("axons", chip.axons_per_core)):
            r = core[key]
            if not _pair(r) or not 0 <= r[0] < r[1] or r[1] - r[0] > most or r[1] > 1 << 31:
                ctx.fail(f"{place}, {key}", f"must be [first, last) with 1 to {most} "
                         f"{key} (the core's limit), got {r!r}")
        buffers = core["buffers"]
        if not isinstance(buffers, dict) or len(buffers) > 256:
            ctx.fail(f"{place}, buffers", "must be a table of at most 256 buffers")
        for name, spec in buffers.items():
            try:
                isa.check_buffer(cid, name, spec)
            except ProgramError as exc:
                ctx.fail(f"{place}, buffers.{name}", str(exc))
            if spec["size"] > largest:
                ctx.fail(f"{place}, buffers.{name}", f"{spec['size']} elements, a core holds at "
                         f"most {largest} per buffer (max of axons and neurons per core)")
        if not isinstance(core["phases"], dict):
            ctx.fail(f"{place}, phases", "must be a table of phase -> instructions")
        ctx.cores[cid] = core
    for core in ctx.cores.values():  # the instructions' structure first: a send's rules read
        for key, instructions in core["phases"].items():  # other cores' buffers
            _check_structure(ctx, core, key, instructions)
    for core in ctx.cores.values():
        for key, instructions in core["phases"].items():
            _check_fields(ctx, core, int(key), instructions)
    streams = sorted((spec["stream"], spec["stream"] + spec["size"], cid, name)
                     for cid, core in ctx.cores.items() for name, spec in core["buffers"].items()
                     if "stream" in spec)
    total = ctx.manifest.get("lfsr_streams")
    for (lo, hi, cid, name), nxt in zip(streams, [*streams[1:], None][:len(streams)], strict=True):
        if total is not None and hi > total:
            ctx.fail(f"core {cid}, buffers.{name}.stream", f"streams {lo}:{hi} beyond "
                     f"lfsr_streams {total}")
        if nxt is not None and nxt[0] < hi:
            ctx.fail(f"core {nxt[2]}, buffers.{nxt[3]}.stream", f"streams {nxt[0]}:{nxt[1]} "
                     f"overlap those of core {cid}'s {name!r} ({lo}:{hi}): the same random bits")


def _check_structure(ctx, core, key, instructions):
    cid, n_phases = core["core"], ctx.manifest["n_phases"]
    if not isinstance(key, str) or not key.isdigit() or not 0 <= int(key) < n_phases:
        ctx.fail(f"core {cid}, phases", f"phase {key!r} is not in 0..{n_phases - 1} (n_phases)")
    place = f"core {cid}, phase {int(key)}"
    if not isinstance(instructions, list) or len(instructions) > len(isa.BLOCKS):
        ctx.fail(place, f"must list at most {len(isa.BLOCKS)} instructions (one per block)")
    last = -1
    for ins in instructions:
        if not isinstance(ins, dict) or set(ins) != {"block", "op", "args"}:
            ctx.fail(place, f"an instruction must hold block, op and args, got {ins!r}")
        block, op, args = ins["block"], ins["op"], ins["args"]
        if not isinstance(block, str) or not isinstance(op, str):
            ctx.fail(place, f"block and op must be names, got {block!r}, {op!r}")
        try:
            isa.check_instruction(block, op, args)
        except ProgramError as exc:
            ctx.fail(place, str(exc))
        order = isa.BLOCKS.index(block)
        if order <= last:
            ctx.fail(place, f"block {block} after {isa.BLOCKS[last]}: blocks run once each, "
                     f"in the order {', '.join(isa.BLOCKS)}")
        last = order


def _check_fields(ctx, core, phase, instructions):
    place = f"core {core['core']}, phase {phase}"
    for ins in instructions:
        op, args = ins["op"], ins["args"]
        rules = FIELD_RULES.get(op, {})
        site = _Site(ctx, core, phase, op, args)
        for name in sorted(args, key=lambda k: k not in ("what", "bits")):
            if name not in rules:
                ctx.fail(f"{place}, {op}.{name}", "no load-time rule for this field "
                         "(hnnbio.chip.field_rules.FIELD_RULES)")
            problem = rules[name](args[name], site)
            if problem:
                ctx.fail(f"{place}, {op}.{name}", problem)
        written = [b for f in isa.WRITES.get(op, ()) for b in
                   (args[f] if isinstance(args[f], list) else [args[f]]) if b is not None]
        if len(set(written)) != len(written):
            ctx.fail(f"{place}, {op}", f"writes one buffer twice ({', '.join(written)})")


def _check_ports(ctx):
    """Input and output ports; returns the writes of the input ports."""
    ports, chip = ctx.manifest["ports"], ctx.chip
    if not isinstance(ports, dict) or set(ports) != {"inputs", "outputs"}:
        ctx.fail("ports", "must hold exactly inputs and outputs")
    most = chip.n_cores * max(chip.neurons_per_core, chip.axons_per_core)
    writes = []
    for kind in ("inputs", "outputs"):
        if not isinstance(ports[kind], list) or len(ports[kind]) > 64:
            ctx.fail(f"ports.{kind}", "must be a list of at most 64 ports")
        names = set()
        for i, port in enumerate(ports[kind]):
            place = f"ports.{kind}[{i}]"
            keys = {"name", "size", "parts"} | ({"mode"} if kind == "inputs" else set())
            if not isinstance(port, dict) or not keys <= set(port) or set(port) - keys - {"steps"}:
                ctx.fail(place, f"must hold {', '.join(sorted(keys))} (and steps for mode steps)")
            problem = text(port["name"], None) or integer(1, most)(port["size"], None)
            if problem:
                ctx.fail(place, problem)
            if port["name"] in names:
                ctx.fail(f"{place}.name", f"{port['name']!r} is a second {kind[:-1]} of that name")
            names.add(port["name"])
            place = f"ports.{kind}.{port['name']}"
            if kind == "inputs":
                mode = port["mode"]
                if mode not in ("hold", "steps") or (mode == "steps") != ("steps" in port):
                    ctx.fail(f"{place}.mode", f"must be hold, or steps with a steps field, got "
                             f"{mode!r}")
                if mode == "steps":
                    problem = integer(1, min(LIMITS["port_steps"],
                                             LIMITS["port_values"] // port["size"]))(
                        port["steps"], None)
                    if problem:
                        ctx.fail(f"{place}.steps", problem)
            elif "steps" in port:
                ctx.fail(f"{place}.steps", "an output has no steps")
            if not isinstance(port["parts"], list) or not port["parts"] or len(
                    port["parts"]) > chip.n_cores * 16:
                ctx.fail(f"{place}.parts", "must be a non-empty list of parts")
            for j, part in enumerate(port["parts"]):
                problem = part_problem(part, ctx, port["size"], f"parts[{j}]")
                if problem:
                    ctx.fail(place, problem)
                if kind == "inputs":
                    steps = port["steps"] if port["mode"] == "steps" else None
                    writes.append((part, f"input port {port['name']!r}", None, steps))
    return writes


def _check_writes(ctx):
    """No element is written by two routes, nor by a route and an input port (except a steps
    port under a route delayed by at least its steps)."""
    writes = _check_ports(ctx)
    for cid, phase, args in _sends(ctx):
        for to in args["to"]:
            writes.append((to, f"core {cid}'s send in phase {phase}", args["delay"], None))
    by_buffer: dict[tuple, list] = {}
    for to, who, delay, steps in writes:
        span = (to["at"], to["at"] + to["hi"] - to["lo"])
        by_buffer.setdefault((to["core"], to["buffer"]), []).append((span, who, delay, steps))
    for (cid, name), items in by_buffer.items():
        items.sort(key=lambda item: item[0])
        for i, (span, who, delay, steps) in enumerate(items):
            for other, who2, delay2, steps2 in items[i + 1:]:
                if other[0] >= span[1]:
                    break
                d = delay if delay is not None else delay2
                s = steps if steps is not None else steps2
                if d is not None and s is not None and s <= d:
                    continue  # the host's initial contents of a delay ring
                ctx.fail(f"core {cid}, buffers.{name}", f"elements {max(span[0], other[0])}:"
                         f"{min(span[1], other[1])} are written by {who} and by {who2}")


def _sends(ctx):
    """(core, phase, args) of every send instruction, in core, phase, block order."""
    for cid, core in ctx.cores.items():
        for key in sorted(core["phases"], key=int):
            for ins in core["phases"][key]:
                if ins["op"] == "send":
                    yield cid, int(key), ins["args"]


def _check_routes(ctx):
    routes = ctx.manifest["routes"]
    if not isinstance(routes, list):
        ctx.fail("routes", "must be a list")
    cores = [isa.CoreProgram.from_dict(c) for c in ctx.manifest["cores"]]
    want = isa.routes_of(cores, ctx.chip.packet_bytes)
    for i, (row, expected) in enumerate(zip(routes, want, strict=False)):
        if row != expected:
            diff = sorted(k for k in set(row) | set(expected) if isinstance(row, dict)
                          and row.get(k) != expected.get(k)) if isinstance(row, dict) else []
            ctx.fail(f"routes[{i}]", f"differs from the sends of the cores "
                     f"({', '.join(f'{k} {row.get(k)!r} != {expected.get(k)!r}' for k in diff)})"
                     if diff else f"must be a route row, got {row!r}")
    if len(routes) != len(want):
        ctx.fail("routes", f"{len(routes)} rows, the cores' sends give {len(want)}")


def _check_layers(ctx):
    layers = ctx.manifest["layers"]
    if not isinstance(layers, list) or not layers:
        ctx.fail("layers", "must be a non-empty list")
    owner: dict[int, str] = {}
    for i, entry in enumerate(layers):
        if not isinstance(entry, dict) or any(k not in entry for k in ("name", "kind", "cores")):
            ctx.fail(f"layers[{i}]", "must hold name, kind and cores")
        for key in ("name", "kind", "function"):
            if key in entry:
                problem = text(entry[key], None)
                if problem:
                    ctx.fail(f"layers[{i}].{key}", problem)
        cores = entry["cores"]
        if not isinstance(cores, list) or not all(is_int(c) and c in ctx.cores for c in cores):
            ctx.fail(f"layers[{i}].cores", f"must list cores of the program, got {cores!r}")
        for cid in cores:
            if cid in owner:
                ctx.fail(f"layers[{i}].cores", f"core {cid} is also in layer {owner[cid]!r}")
            owner[cid] = entry["name"]
        grid = entry.get("grid", [])
        if not isinstance(grid, list) or any(
                not isinstance(g, list) or len(g) != 3 or not all(is_int(v) and v >= 0 for v in g)
                or g[2] not in cores for g in grid):
            ctx.fail(f"layers[{i}].grid", "must list [a, b, core] tiles of the layer's cores")


def ring_bytes(manifest: dict) -> dict[int, int]:
    """Bytes of the delay rings of each core: for every delayed send destination, ``delay``
    slots of its ``hi - lo`` values of ``ceil(bits / 8)`` bytes."""
    rings: dict[int, int] = {}
    for core in manifest["cores"]:
        for instructions in core["phases"].values():
            for ins in instructions:
                if ins["op"] != "send" or not ins["args"]["delay"]:
                    continue
                a = ins["args"]
                for to in a["to"]:
                    rings[to["core"]] = rings.get(to["core"], 0) + (
                        (to["hi"] - to["lo"]) * math.ceil(a["bits"] / 8) * a["delay"])
    return rings


def core_memory_bytes(manifest: dict, arrays: dict, core: dict,
                      rings: dict[int, int] | None = None) -> int:
    """Bytes one core holds: its buffers (``ceil(size * bits / 8)`` each), the arrays its
    instructions name, and its delay rings (:func:`ring_bytes`; pass them to save recomputing)."""
    total = sum(math.ceil(spec["size"] * spec["bits"] / 8) for spec in core["buffers"].values())
    seen = set()
    for instructions in core["phases"].values():
        for ins in instructions:
            total += STATE_BYTES.get(ins["op"], lambda c, a: 0)(core, ins["args"])
            for value in ins["args"].values():
                if isinstance(value, str) and value in arrays and value not in seen:
                    total += arrays[value].nbytes
                    seen.add(value)
    rings = ring_bytes(manifest) if rings is None else rings
    return total + rings.get(core["core"], 0)


def _check_memory(ctx):
    chip = ctx.chip
    rings = ring_bytes(ctx.manifest)
    for cid, core in ctx.cores.items():
        need = core_memory_bytes(ctx.manifest, ctx.arrays, core, rings)
        if need > chip.memory_bytes_per_core:
            ctx.fail(f"core {cid}, memory", f"holds {need} bytes (buffers, arrays, delay rings), "
                     f"a core has {chip.memory_bytes_per_core}")
    memory = ctx.manifest.get("memory")
    if memory is None:
        return
    if not isinstance(memory, dict) or set(memory) != {str(c) for c in ctx.cores}:
        ctx.fail("memory", "must give the bytes of each core of the program")
    for key, value in memory.items():
        problem = integer(0, chip.memory_bytes_per_core)(value, None)
        if problem:
            ctx.fail(f"memory.{key}", problem)
