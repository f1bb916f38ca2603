"""Energy, latency and utilisation estimates of a chip program (documented table in docs/chip.md).

- energy: ``macs * pj_per_mac + sops * pj_per_sop`` (4.6 pJ per 32-bit MAC, 0.9 pJ per synaptic
  accumulate: 45 nm figures used by HIFI and many SNN papers); LUT reads, routing and static power
  are not counted;
- latency of one step of one image: per phase, the slowest core's compute cycles
  ``ceil(work / macs_per_cycle)`` (work = axons x neurons for a matvec, neurons for element-wise
  primitives) plus the longest route's ``packets + hops`` cycles; phases run one after another,
  images one after another, at ``clock_hz``;
- utilisation: per core, the fraction of axons, neurons and memory used.
"""

from __future__ import annotations

import math

import numpy as np


def latency_per_step_s(program) -> float:
    """Estimated chip time of one step of one image, s."""
    chip = program.chip
    by_phase: dict[int, int] = {}
    for core in program.cores:
        n_neurons = core.neurons[1] - core.neurons[0]
        n_axons = core.axons[1] - core.axons[0]
        for phase, instructions in core.phases.items():
            work = sum(n_axons * n_neurons if i.op == "matvec" else n_neurons
                       for i in instructions if i.block != "router")
            cycles = math.ceil(work / chip.macs_per_cycle)
            by_phase[phase] = max(by_phase.get(phase, 0), cycles)
    route_cycles: dict[int, int] = {}
    for r in program.routes:
        cycles = r["packets"] + r["hops"]
        route_cycles[r["phase"]] = max(route_cycles.get(r["phase"], 0), cycles)
    total = sum(by_phase.values()) + sum(route_cycles.values())
    return total / chip.clock_hz


def utilisation(program) -> list[dict]:
    """Per core: ``{"core", "layer", "axons", "neurons", "memory"}`` as fractions of the limits."""
    chip, memory = program.chip, program.manifest["memory"]
    return [{"core": c.core, "layer": c.layer,
             "axons": (c.axons[1] - c.axons[0]) / chip.axons_per_core,
             "neurons": (c.neurons[1] - c.neurons[0]) / chip.neurons_per_core,
             "memory": memory[str(c.core)] / chip.memory_bytes_per_core}
            for c in program.cores]


def summary(counters: dict, program) -> dict:
    """Counters plus ``energy_uj`` (total), ``latency_us_per_step`` and core use."""
    c = dict(counters)
    chip = program.chip
    c["energy_uj"] = (c["macs"] * chip.pj_per_mac + c["sops"] * chip.pj_per_sop) * 1e-6
    c["latency_us_per_step"] = latency_per_step_s(program) * 1e6
    util = utilisation(program)
    c["cores"] = len(util)
    c["mean_core_neuron_use"] = float(np.mean([u["neurons"] for u in util]))
    c["max_core_memory_use"] = float(np.max([u["memory"] for u in util]))
    return c
