"""The chip the compiler targets and the emulator models: one frozen object holds every limit.

Every bit width and every wrap or saturation of the emulator comes from a :class:`ChipSpec`
(house style 8). The default, :data:`TIANJIC_LIKE`, follows TianjicX as configured by its open
compiler stack: a 16 x 10 mesh of 160 cores, 256 axons x 256 neurons and 144 KB per core, int8
weights, int32 saturating accumulation, a 28-bit saturating membrane, 8-bit look-up tables, a 4-bit
refractory counter and a 32-bit LFSR for random thresholds.

Overflow behaviour, per quantity (``sat(x, b)`` clamps to ``[-2**(b-1), 2**(b-1) - 1]``):

=====================  ===============  ============================================
quantity               width            on overflow
=====================  ===============  ============================================
weight                 int8             clamped when quantised (compile time)
axon input / LUT value uint8 or int8    clamped by the primitive that writes it
accumulator            int32            saturates (``sat(x, 32)``) after every add
bias                   int32            clamped when quantised; added with saturation
membrane ``v``         28-bit signed    saturates (``sat(x, 28)``)
threshold              28-bit signed    saturates (``sat(x, 28)``)
LUT index              8-bit            ``acc >> shift`` clamped to [-128, 127]
refractory counter     4-bit unsigned   compile-time rule: ``r <= 15``
LFSR state             32-bit unsigned  wraps (it is a shift register)
window age             4-bit unsigned   saturates at 15
delay ring             ``delay_slots``  slot index wraps modulo the ring length D
=====================  ===============  ============================================
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from hnnbio.errors import ParameterError

#: Upper bounds of the size fields, above every chip modelled here (PAICORE: 1,024 cores of
#: 1,152 axons x 512 neurons; TianjicX: 160 cores of 144 KB): a program that declares its own chip
#: (the manifest's ``chip``) declares at most 1,024 cores of 4 MiB, and the load-time checks
#: (:mod:`hnnbio.chip.validate`) keep every core within its memory, so the state a valid program
#: describes is bounded by what such a chip holds.
MAXIMA = {"mesh_x": 32, "mesh_y": 32, "axons_per_core": 4096, "neurons_per_core": 4096,
          "memory_bytes_per_core": 4 << 20, "delay_slots": 4096, "max_phases": 256,
          "packet_bytes": 4096, "macs_per_cycle": 1 << 16}


@dataclass(frozen=True)
class ChipSpec:
    """Limits and bit widths of a hybrid neuromorphic chip.

    Parameters
    ----------
    name : str
        A label shown in dumps and reports.
    mesh_x, mesh_y : int
        Cores along x and y of the 2D mesh (``mesh_x * mesh_y`` cores).
    axons_per_core, neurons_per_core : int
        Inputs and outputs of one core (the size of one weight tile).
    memory_bytes_per_core : int
        Bytes of memory of one core (weights, biases, LUT, delay ring), bytes.
    weight_bits, accumulator_bits, membrane_bits, lut_bits, refractory_bits : int
        Widths of the quantities of the table in the module docstring.
    delay_slots : int
        Longest delay ring a core can hold, steps.
    lfsr_bits : int
        Width of the random-threshold shift register (32: polynomial x^32+x^22+x^2+x+1).
    max_phases : int
        Phases per step a core program may have.
    packet_bytes : int
        Payload of one router packet, bytes.
    clock_hz : float
        Core clock, Hz (for latency estimates).
    macs_per_cycle : int
        Multiply-accumulates one core does per clock cycle (4 x 32 array = 128).
    pj_per_mac, pj_per_sop, pj_per_packet_hop : float
        Energy per 32-bit multiply-accumulate, per synaptic accumulate and per packet-hop, pJ.
    """

    name: str = "tianjic-like"
    mesh_x: int = 16
    mesh_y: int = 10
    axons_per_core: int = 256
    neurons_per_core: int = 256
    memory_bytes_per_core: int = 144 * 1024
    weight_bits: int = 8
    accumulator_bits: int = 32
    membrane_bits: int = 28
    lut_bits: int = 8
    refractory_bits: int = 4
    delay_slots: int = 64
    lfsr_bits: int = 32
    max_phases: int = 32
    packet_bytes: int = 8
    clock_hz: float = 300e6
    macs_per_cycle: int = 128
    pj_per_mac: float = 4.6
    pj_per_sop: float = 0.9
    pj_per_packet_hop: float = 1.0

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ParameterError(f"name: must be a non-empty string, got {self.name!r}")
        for key, high in MAXIMA.items():
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ParameterError(f"{key}: must be a positive integer, got {value!r}")
            if value > high:
                raise ParameterError(f"{key}: {value} exceeds {high}, the largest this emulator "
                                     "models (see MAXIMA)")
        fixed = {"weight_bits": 8, "lut_bits": 8, "lfsr_bits": 32}
        for key, want in fixed.items():
            if getattr(self, key) != want:
                raise ParameterError(f"{key}: the emulator supports only {want}, got "
                                     f"{getattr(self, key)!r}")
        ranges = {"accumulator_bits": (16, 32), "membrane_bits": (8, 32), "refractory_bits": (1, 8)}
        for key, (low, high) in ranges.items():
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ParameterError(f"{key}: must be an integer in [{low}, {high}], got {value!r}")
        for key in ("clock_hz", "pj_per_mac", "pj_per_sop", "pj_per_packet_hop"):
            value = getattr(self, key)
            bad = (not isinstance(value, (int, float)) or isinstance(value, bool)
                   or not 0 <= value < math.inf)
            if bad or (key == "clock_hz" and value == 0):
                raise ParameterError(f"{key}: must be a finite non-negative number, got "
                                     f"{value!r}")

    @property
    def n_cores(self) -> int:
        """Cores on the mesh."""
        return self.mesh_x * self.mesh_y

    def signed_range(self, bits: int) -> tuple[int, int]:
        """(min, max) of a signed integer of ``bits`` bits."""
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    @property
    def accumulator_range(self) -> tuple[int, int]:
        return self.signed_range(self.accumulator_bits)

    @property
    def membrane_range(self) -> tuple[int, int]:
        return self.signed_range(self.membrane_bits)

    @property
    def refractory_max(self) -> int:
        return (1 << self.refractory_bits) - 1

    def core_xy(self, core: int) -> tuple[int, int]:
        """Mesh coordinates (x, y) of core number ``core`` (row-major: x runs fastest)."""
        return core % self.mesh_x, core // self.mesh_x

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ChipSpec:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ParameterError(f"{sorted(unknown)[0]}: not a ChipSpec field")
        return cls(**data)


#: The default chip: TianjicX as configured by its open compiler stack (see reference/chip.md).
TIANJIC_LIKE = ChipSpec()
