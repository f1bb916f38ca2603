"""The core instruction set: what one core does in one phase of a time step.

A core program is a list of phases; every time step repeats it. A phase holds up to four
primitives, run in order by the core's four blocks: ``axon -> soma1 -> router -> soma2``
(TianjicX's phase structure). Operations, their fields and their integer semantics
(implemented in :mod:`hnnbio.chip.primitives`, documented in docs/chip.md):

========  ==============  =====================================================================
block     op              fields
========  ==============  =====================================================================
axon      ``hadamard``    ``a``, ``b`` (buffers), ``shift``: ``clamp((a*b) >> shift, 0, 255)``
axon      ``matvec``      ``weights`` (array key), ``axons`` (first, last): int8 tile product
axon      ``accumulate``  ``sources`` (cores), ``bias`` (array key): saturating partial-sum add
soma      ``lif``         ``alpha, v_leak, v_threshold, noise_mask, reset_mode, v_reset,
                          refractory_steps``: extended LIF with LFSR threshold offset
soma      ``lut``         ``shift``, ``table`` (array keys): per-neuron shift, 8-bit table
soma      ``window``      ``keep`` (list of 0..256), ``rand_shift``, optional ``nested``
                          (default false): coincidence window, independent or nested coins
router    ``send``        ``what`` (buffer), ``to`` (cores), ``bits`` per value, ``delay`` (steps)
========  ==============  =====================================================================

``soma`` ops may run in either soma block (soma1 before the router, soma2 after it). The router
sends a buffer of the core; receivers can use it from the next phase on (or, with ``delay = d``,
``d`` steps later through the receiving core's delay ring).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hnnbio.errors import ProgramError

BLOCKS = ("axon", "soma1", "router", "soma2")

#: Allowed ops per block, with their required fields.
_SOMA = {"lif": ("alpha", "v_leak", "v_threshold", "noise_mask", "reset_mode", "v_reset",
                 "refractory_steps"),
         "lut": ("shift", "table"),
         "window": ("keep", "rand_shift")}
#: Optional fields per op, with the value an instruction without them means (a program written
#: before the field existed reads as it did).
OPTIONAL: dict[str, dict[str, object]] = {"window": {"nested": False}}
OPS: dict[str, dict[str, tuple[str, ...]]] = {
    "axon": {"hadamard": ("a", "b", "shift"), "matvec": ("weights", "axons"),
             "accumulate": ("sources", "bias")},
    "soma1": _SOMA,
    "router": {"send": ("what", "to", "bits", "delay")},
    "soma2": _SOMA,
}


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

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.args.items())
        return f"{self.block:<6} {self.op}({args})"


@dataclass
class CoreProgram:
    """The program of one core: where it sits, which layer it serves, its phases.

    ``phases`` maps a phase index (0 .. max_phases-1) to its instructions, in block order.
    """

    core: int
    x: int
    y: int
    layer: str
    role: str
    neurons: tuple[int, int]
    axons: tuple[int, int]
    phases: dict[int, list[Instruction]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"core": self.core, "x": self.x, "y": self.y, "layer": self.layer, "role": self.role,
                "neurons": list(self.neurons), "axons": list(self.axons),
                "phases": {str(k): [i.to_dict() for i in v] for k, v in self.phases.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> CoreProgram:
        phases = {int(k): [Instruction(**i) for i in v] for k, v in d["phases"].items()}
        return cls(core=int(d["core"]), x=int(d["x"]), y=int(d["y"]), layer=str(d["layer"]),
                   role=str(d["role"]), neurons=tuple(d["neurons"]), axons=tuple(d["axons"]),
                   phases=phases)


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
