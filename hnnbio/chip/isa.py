"""The core instruction set and its program semantics (format version 2).

A program is a set of cores; each core has **named buffers** and a list of **phases**; every time
step runs the phases ``0 .. n_phases - 1`` in order. A phase holds up to four instructions, run in
order by the core's four blocks ``axon -> soma1 -> router -> soma2`` (TianjicX's phase structure).
Every instruction names the buffers it reads and writes; values move between cores only through
``send`` instructions of the router. The interpreter (:mod:`hnnbio.chip.interpreter`) executes
exactly this and knows nothing of the model it runs; integer semantics of each op are in
:mod:`hnnbio.chip.primitives`, ``sat(x, b)`` clamps to ``[-2**(b-1), 2**(b-1) - 1]``, ``x >> s`` is
``floor(x / 2**s)``.

Buffers
-------
``core["buffers"]`` maps a name (``[a-z_][a-z0-9_]*``) to ``{"size": n, "bits": b, "signed": s}``
with optional ``"init"`` (the value of every element at reset, default 0) and ``"stream"``
(an LFSR buffer: ``bits = 32``, unsigned; element ``k`` of sample ``i`` is seeded with
``primitives.lfsr_seed(seed, i * lfsr_streams + stream + k)``, ``lfsr_streams`` a manifest key).
Every buffer holds B samples (one row each) and keeps its value until something writes it.
Range of a buffer: ``[0, 2**b - 1]`` unsigned, ``[-2**(b-1), 2**(b-1) - 1]`` signed. Every op writes
values of a known range (the table below); the program is refused at load (ProgramError naming
the core, the op and the field) unless that range fits the destination buffer and the sizes
match, so a buffer never holds a value outside its range.

Ops (block: op(fields) -> what it writes)
-----------------------------------------
========  ==============================================================================
block     op and semantics (``acc`` = ``chip.accumulator_bits``, ``mem`` = ``membrane_bits``)
========  ==============================================================================
axon      ``hadamard(a, b, out, shift)``: ``out = clamp((a * b) >> shift, 0, 255)``;
          a, b, out of one size; out unsigned >= 8 bits. Counts ``size`` MACs.
axon      ``matvec(x, weights, out)``: ``out[j] = sat(sum_i x[i] * W[i, j], acc)``, ``W`` the int8
          array ``weights`` of shape (size(x), size(out)); out signed >= acc bits. Counts, per
          sample, ``count(x != 0) * size(out)`` SOPs when x is a 1-bit buffer, else
          ``size(x) * size(out)`` MACs.
axon      ``accumulate(sources, bias, out)``: ``out = sources[0]``, then
          ``out = sat(out + s, acc)`` for each further source in order, then
          ``out = sat(out + bias, acc)`` (``bias`` an int32 array key, or null for none);
          sources: buffer names of the core, each of size(out) and with values within the
          accumulator's range; out signed >= acc bits.
soma      ``lif(input, v, refractory, spikes, rand, alpha, v_leak, v_threshold, noise_mask,
          reset_mode, v_reset, refractory_steps)``: per element, as
          ``primitives.lif_step`` with ``threshold_noise = rand & noise_mask`` (``rand`` an LFSR
          buffer, or null for no noise; then noise_mask must be 0); reads input, updates v
          (signed, ``mem`` bits) and refractory (unsigned >= ``refractory_bits``), writes the
          spikes (0/1) to ``spikes`` (>= 1 bit). ``alpha`` and ``v_threshold`` are registers
          (ints) or per-neuron arrays: the key of a uint8 array (alpha) or an int32 array
          within the membrane's range (v_threshold) of one value per element. Counts the
          spikes.
soma      ``lut(x, out, shift, table)``: ``out = table[clamp(x >> shift, -128, 127) + 128]``;
          ``shift`` a uint8 array key (one per element), ``table`` a uint8 array key of 256
          entries; out unsigned >= 8 bits.
soma      ``window(spikes, age, kept, out, rand, keep, rand_shift[, nested])``: as
          ``primitives.window_step`` with the coin ``(rand >> rand_shift) & 255`` (``rand`` an LFSR
          buffer); age unsigned >= 4 bits (declare ``init = 15``: no spike yet); ``kept`` the
          nested coins' state (1 bit; null when ``nested`` is false), out 1 bit.
router    ``send(what, to, bits, delay)``: see Routes.
========  ==============================================================================

``soma`` ops run in either soma block (soma1 before the router, soma2 after it).

Routes
------
``send(what, to, bits, delay)`` sends slices of the buffer ``what``; ``to`` is a list of
``{"core": c, "buffer": name, "lo": i, "hi": j, "at": k}``: elements ``what[i:j]`` of every sample
go to ``buffer[k : k + j - i]`` of core ``c`` (any core, the sender included). Each value is first
clamped to ``bits``: to ``[0, 2**bits - 1]`` from an unsigned buffer, to ``sat(., bits)`` from a
signed one; the destination's range must hold that range. A value sent in phase p of step t is
visible

- with ``delay = 0``: from phase p + 1 of step t on (deliveries of a phase are written when every
  core has run it, so cores of one phase can run in any order); a buffer read in a phase <= p
  therefore sees it at step t + 1;
- with ``delay = d`` (1 .. ``chip.delay_slots``): from phase 0 of step t + d on, through the
  receiving core's delay ring. At the start of each step, the elements a delayed route writes
  receive what was sent for this step; before anything was sent (t < d), 0.

Two routes (or a route and an input port) that write overlapping elements of one buffer are
refused at load, except a ``steps`` input port over a delayed route when ``steps <= delay``
(the host's initial ring contents). Counters: one send entry moves ``j - i`` values per sample in
``ceil((j - i) * bits / (8 * chip.packet_bytes))`` packets over ``|dx| + |dy|`` hops (X-then-Y);
``manifest["routes"]`` lists, for reports, one row per send entry (:func:`routes_of`).

One step, in order
------------------
1. every LFSR buffer advances ``lfsr_shifts_per_step`` shifts (``primitives.lfsr_advance``);
2. the delayed deliveries due at this step are written (0 where none was sent);
3. each ``steps`` input port with ``t < steps`` writes its values for step t;
4. the phases run in order; in each, every core with instructions in it runs its blocks in order,
   and the phase's ``delay = 0`` deliveries are written at its end.

Ports
-----
``manifest["ports"] = {"inputs": [...], "outputs": [...]}``; a port is ``{"name", "size",
"parts": [{"core", "buffer", "lo", "hi", "at"}, ...]}``, part = port elements ``[lo, hi)`` <->
buffer elements ``[at, at + hi - lo)``. Inputs have ``"mode"``: ``"hold"`` (written once at reset,
values (B, size)) or ``"steps"`` with ``"steps": k`` (values (B, k, size), written at the start of
steps 0 .. k - 1, after the delayed deliveries). Outputs are read after any step. Values given to
an input port must lie in the buffer's range (DataError otherwise).

Example: a LIF population with an input and synapses
----------------------------------------------------
Population Q (n_q neurons, core 2) projects with weights W (n_q x n, int8) and a delay of 2 steps
onto population P (n neurons, core 3), which also gets an 8-bit input current each step::

    core 3 buffers: drive {n, 8, unsigned}   <- input port "drive", mode "steps"
                    pre   {n_q, 1, unsigned} <- core 2's spikes, 2 steps late
                    syn, acc {n, 32, signed}; v {n, 28, signed}; ref {n, 4, unsigned}
                    spikes {n, 1, unsigned}  -> output port "P"
    phase 0  axon   matvec(x="pre", weights="c3.syn.weight", out="syn")
    phase 1  axon   accumulate(sources=["syn", "drive"], bias=null, out="acc")
             soma1  lif(input="acc", v="v", refractory="ref", spikes="spikes", rand=null,
                        alpha=240, v_leak=0, v_threshold=1000, noise_mask=0,
                        reset_mode="value", v_reset=0, refractory_steps=2)
    core 2 phase 1: soma1 lif(..., spikes="spikes"); router send(what="spikes",
                    to=[{"core": 3, "buffer": "pre", "lo": 0, "hi": n_q, "at": 0}], bits=1, delay=2)

So P's membrane at step t integrates ``W^T s_Q[t - 2] + drive[t]``. More than
``axons_per_core`` inputs are split into tiles: each tile core does ``matvec`` and sends its
partial sum (``bits = 32``, ``delay = 0``) to a buffer of the reducing core, whose ``accumulate``
lists them. A recurrent projection sends with delay d >= 1 (or 0 from a later phase: one step).

The binding program (mapping.py) is: sheet cores ``hadamard(image, attention) -> lif`` (phase 0),
``window -> send`` to the first layer's tiles (phase 1); per dense layer ``matvec -> send partial``
and ``accumulate -> lut -> send`` (to the next layer, the last one to the sheet cores'
``attention`` with ``delay = D``; the host's initial attention is a ``steps`` port of D steps).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from hnnbio.errors import ProgramError

BLOCKS = ("axon", "soma1", "router", "soma2")

#: Allowed ops per block, with their required fields (buffer fields first, then registers).
_SOMA = {"lif": ("input", "v", "refractory", "spikes", "rand", "alpha", "v_leak", "v_threshold",
                 "noise_mask", "reset_mode", "v_reset", "refractory_steps"),
         "lut": ("x", "out", "shift", "table"),
         "window": ("spikes", "age", "kept", "out", "rand", "keep", "rand_shift")}
#: Optional fields per op, with the value an instruction without them means.
OPTIONAL: dict[str, dict[str, object]] = {"window": {"nested": False}}
OPS: dict[str, dict[str, tuple[str, ...]]] = {
    "axon": {"hadamard": ("a", "b", "out", "shift"), "matvec": ("x", "weights", "out"),
             "accumulate": ("sources", "bias", "out")},
    "soma1": _SOMA,
    "router": {"send": ("what", "to", "bits", "delay")},
    "soma2": _SOMA,
}
#: Per op: the fields that name buffers the op reads, and those it writes (a null field names
#: none: ``rand`` of a noiseless lif, ``kept`` of an independent window).
READS: dict[str, tuple[str, ...]] = {
    "hadamard": ("a", "b"), "matvec": ("x",), "accumulate": ("sources",),
    "lif": ("input", "v", "refractory", "rand"), "lut": ("x",),
    "window": ("spikes", "age", "kept", "rand"), "send": ("what",)}
WRITES: dict[str, tuple[str, ...]] = {
    "hadamard": ("out",), "matvec": ("out",), "accumulate": ("out",),
    "lif": ("v", "refractory", "spikes"), "lut": ("out",), "window": ("age", "kept", "out"),
    "send": ()}
#: Fields of one send destination and of one port part.
DESTINATION_FIELDS = ("core", "buffer", "lo", "hi", "at")
BUFFER_FIELDS = ("size", "bits", "signed")
BUFFER_OPTIONAL = ("init", "stream")
_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")


@dataclass(frozen=True)
class Instruction:
    """One primitive: the block that runs it, its op name and its fields (JSON-able)."""

    block: str
    op: str
    args: dict = field(default_factory=dict)

    def __post_init__(self):
        check_instruction(self.block, self.op, self.args)

    def to_dict(self) -> dict:
        return {"block": self.block, "op": self.op, "args": self.args}

    def buffers(self, kind: str) -> list[str]:
        """Names of the buffers of this core the instruction reads (``kind="reads"``) or writes."""
        names = []
        for key in (READS if kind == "reads" else WRITES)[self.op]:
            value = self.args[key]
            names += value if isinstance(value, list) else [] if value is None else [value]
        return names

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.args.items())
        return f"{self.block:<6} {self.op}({args})"


@dataclass
class CoreProgram:
    """The program of one core: where it sits, its buffers and its phases.

    ``phases`` maps a phase index (0 .. max_phases-1) to its instructions, in block order;
    ``buffers`` maps a buffer name to ``{"size", "bits", "signed"[, "init", "stream"]}`` (see the
    module docstring). ``layer``, ``role``, ``neurons`` and ``axons`` are labels for reports
    (dumps, utilisation estimates); nothing executes them.
    """

    core: int
    x: int
    y: int
    layer: str
    role: str
    neurons: tuple[int, int]
    axons: tuple[int, int]
    phases: dict[int, list[Instruction]] = field(default_factory=dict)
    buffers: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self):
        for name, spec in self.buffers.items():
            check_buffer(self.core, name, spec)

    def to_dict(self) -> dict:
        return {"core": self.core, "x": self.x, "y": self.y, "layer": self.layer, "role": self.role,
                "neurons": list(self.neurons), "axons": list(self.axons),
                "buffers": {k: dict(v) for k, v in self.buffers.items()},
                "phases": {str(k): [i.to_dict() for i in v] for k, v in self.phases.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> CoreProgram:
        phases = {int(k): [Instruction(**i) for i in v] for k, v in d["phases"].items()}
        return cls(core=int(d["core"]), x=int(d["x"]), y=int(d["y"]), layer=str(d["layer"]),
                   role=str(d["role"]), neurons=tuple(d["neurons"]), axons=tuple(d["axons"]),
                   phases=phases, buffers={str(k): dict(v) for k, v in d["buffers"].items()})


def buffer_range(spec: dict) -> tuple[int, int]:
    """(min, max) of the values a buffer holds."""
    bits = spec["bits"]
    if spec["signed"]:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def check_buffer(core: int, name: str, spec) -> None:
    """Raise ProgramError unless ``spec`` declares a buffer (see the module docstring)."""
    where = f"core {core} buffer {name!r}"
    if not isinstance(name, str) or not _NAME.match(name):
        raise ProgramError(f"buffers: core {core} has a buffer named {name!r} "
                           "(want [a-z_][a-z0-9_]*)")
    if not isinstance(spec, dict) or not set(BUFFER_FIELDS) <= set(spec) \
            or set(spec) - set(BUFFER_FIELDS) - set(BUFFER_OPTIONAL):
        raise ProgramError(f"buffers: {where} needs fields {', '.join(BUFFER_FIELDS)} "
                           f"(optional: {', '.join(BUFFER_OPTIONAL)})")
    for key in ("size", "bits", *(k for k in BUFFER_OPTIONAL if k in spec)):
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProgramError(f"buffers: {where} field {key} must be an integer, got {value!r}")
    if not isinstance(spec["signed"], bool):
        raise ProgramError(f"buffers: {where} field signed must be true or false")
    if spec["size"] < 1 or not 1 <= spec["bits"] <= 32:
        raise ProgramError(f"buffers: {where} needs size >= 1 and bits in 1..32, got "
                           f"size {spec['size']}, bits {spec['bits']}")
    if "stream" in spec and (spec["bits"] != 32 or spec["signed"] or spec["stream"] < 0):
        raise ProgramError(f"buffers: {where} is an LFSR buffer (stream): it needs bits 32, "
                           f"unsigned and a stream >= 0")
    low, high = buffer_range(spec)
    if not low <= spec.get("init", 0) <= high:
        raise ProgramError(f"buffers: {where} init {spec['init']} is outside its range "
                           f"[{low}, {high}]")


def check_instruction(block: str, op: str, args: dict) -> None:
    """Raise ProgramError unless ``op`` exists in ``block`` and ``args`` has exactly its fields."""
    if block not in OPS:
        raise ProgramError(f"block: {block!r} is not one of {', '.join(BLOCKS)}")
    if op not in OPS[block]:
        raise ProgramError(f"op: {op!r} is not an op of the {block} block "
                           f"({', '.join(OPS[block])})")
    optional = OPTIONAL.get(op, {})
    if not isinstance(args, dict) or set(args) - set(optional) != set(OPS[block][op]):
        extra = f" (optional: {', '.join(optional)})" if optional else ""
        raise ProgramError(f"args: {block}.{op} needs fields {', '.join(OPS[block][op])}{extra}")
    for key, default in optional.items():
        if key in args and type(args[key]) is not type(default):
            raise ProgramError(f"args: {block}.{op} field {key} must be a "
                               f"{type(default).__name__}, got {args[key]!r}")


def packets(values: int, bits: int, packet_bytes: int) -> int:
    """Packets that carry ``values`` values of ``bits`` bits."""
    return math.ceil(values * bits / (8 * packet_bytes))


def routes_of(cores: list[CoreProgram], packet_bytes: int) -> list[dict]:
    """One row per send destination: ``src, dst, buffer, what, bits, values, packets, hops,
    phase, delay`` (the manifest's ``routes``, for reports and estimates)."""
    where = {c.core: c for c in cores}
    rows = []
    for core in cores:
        for phase in sorted(core.phases):
            for ins in core.phases[phase]:
                if ins.op != "send":
                    continue
                for to in ins.args["to"]:
                    dst = where[to["core"]]
                    values = to["hi"] - to["lo"]
                    rows.append({"src": core.core, "dst": dst.core, "buffer": to["buffer"],
                                 "what": ins.args["what"], "bits": ins.args["bits"],
                                 "values": values,
                                 "packets": packets(values, ins.args["bits"], packet_bytes),
                                 "hops": abs(core.x - dst.x) + abs(core.y - dst.y),
                                 "phase": phase, "delay": ins.args["delay"]})
    return rows
