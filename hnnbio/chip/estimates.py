"""Energy, latency and utilisation estimates of a chip program (sources and table in docs/chip.md).

- energy: ``macs * pj_per_mac + sops * pj_per_sop`` (compute) plus
  ``packet_hops * pj_per_packet_hop`` (routing: every packet pays per hop of its X-then-Y path).
  The defaults of :class:`hnnbio.chip.spec.ChipSpec` are 4.6 pJ per 32-bit multiply-accumulate
  and 0.9 pJ per synaptic accumulate (the 45 nm figures of Horowitz, ISSCC 2014, used for SNN and
  hybrid estimates, e.g. HIFI); no per-hop router energy is published for Tianjic, so
  ``pj_per_packet_hop`` (1 pJ) is an assumed order of magnitude, reported apart
  (``energy_uj_per_image_routing``) so that it can be rescaled. LUT reads and static power are
  not counted;
- latency of one step of one image: per phase, the slowest core's compute cycles
  ``ceil(work / macs_per_cycle)`` (work = ``size(x) * size(out)`` for a matvec, the elements of
  the op's output for the other ops) plus the longest route's ``packets + hops`` cycles; phases
  run one after another at ``clock_hz``. Tianjic runs time steps synchronously, about 16.8 us
  each at 300 MHz (Pei et al., Nature 2019): :data:`TIANJIC_STEP_S` gives the step period of such
  a chip, ``max(estimate, 16.8 us)``;
- utilisation: per core, the neurons and axons it serves over ``neurons_per_core`` and
  ``axons_per_core``, and the bytes it holds (:func:`hnnbio.chip.validate.core_memory_bytes`:
  buffers, arrays, delay rings) over ``memory_bytes_per_core``.
"""

from __future__ import annotations

import math

import numpy as np

from hnnbio.chip import validate

#: Period of one synchronous time step of Tianjic at 300 MHz, s (Pei et al., Nature 572, 2019).
TIANJIC_STEP_S = 16.8e-6
#: Buffer field whose size is an op's element-wise work (the ops without one do no compute).
_WORK_FIELD = {"hadamard": "out", "accumulate": "out", "lif": "input", "lut": "out",
               "window": "out"}


def energy_pj(counters: dict, chip) -> dict:
    """``{"compute", "routing", "total"}`` energy in pJ of what ``counters`` counted."""
    compute = counters["macs"] * chip.pj_per_mac + counters["sops"] * chip.pj_per_sop
    routing = counters["packet_hops"] * chip.pj_per_packet_hop
    return {"compute": compute, "routing": routing, "total": compute + routing}


def _work(core, ins) -> int:
    """Multiply-accumulates (matvec) or elements (other ops) of one instruction."""
    sizes = {name: spec["size"] for name, spec in core.buffers.items()}
    if ins.op == "matvec":
        return sizes.get(ins.args["x"], 0) * sizes.get(ins.args["out"], 0)
    field = _WORK_FIELD.get(ins.op)
    return sizes.get(ins.args.get(field), 0) if field else 0


def latency_per_step_s(program) -> float:
    """Estimated chip time of one step of one image, s (see the module docstring)."""
    chip = program.chip
    by_phase: dict[int, int] = {}
    for core in program.cores:
        for phase, instructions in core.phases.items():
            work = sum(_work(core, i) for i in instructions)
            cycles = math.ceil(work / chip.macs_per_cycle)
            by_phase[phase] = max(by_phase.get(phase, 0), cycles)
    route_cycles: dict[int, int] = {}
    for r in program.routes:
        cycles = r["packets"] + r["hops"]
        route_cycles[r["phase"]] = max(route_cycles.get(r["phase"], 0), cycles)
    total = sum(by_phase.values()) + sum(route_cycles.values())
    return total / chip.clock_hz


def utilisation(program) -> list[dict]:
    """Per core: ``{"core", "layer", "axons", "neurons", "memory", "memory_bytes"}``: the
    fractions of the core's axons, neurons and memory used, and the bytes it holds."""
    chip, manifest = program.chip, program.manifest
    rows, rings = [], validate.ring_bytes(manifest)
    for c, raw in zip(program.cores, manifest["cores"], strict=True):
        held = validate.core_memory_bytes(manifest, program.arrays, raw, rings)
        rows.append({"core": c.core, "layer": c.layer,
                     "axons": (c.axons[1] - c.axons[0]) / chip.axons_per_core,
                     "neurons": (c.neurons[1] - c.neurons[0]) / chip.neurons_per_core,
                     "memory": held / chip.memory_bytes_per_core, "memory_bytes": held})
    return rows


def summary(counters: dict, program) -> dict:
    """Counters plus ``energy_uj`` (total: compute + routing), ``latency_us_per_step``,
    ``step_us_synchronous`` and the cores' use."""
    c = dict(counters)
    c["energy_uj"] = energy_pj(c, program.chip)["total"] * 1e-6
    latency = latency_per_step_s(program)
    c["latency_us_per_step"] = latency * 1e6
    c["step_us_synchronous"] = max(latency, TIANJIC_STEP_S) * 1e6
    util = utilisation(program)
    c["cores"] = len(util)
    c["mean_core_neuron_use"] = float(np.mean([u["neurons"] for u in util]))
    c["mean_core_axon_use"] = float(np.mean([u["axons"] for u in util]))
    c["max_core_memory_use"] = float(np.max([u["memory"] for u in util]))
    return c


def per_image(totals: dict, program, n_images: int, n_steps: int) -> dict:
    """The estimates of a run of ``n_images`` images of ``n_steps`` steps from its summed
    counters: the counters, ``energy_uj_per_image`` (compute + routing) with its
    ``_compute`` and ``_routing`` parts, ``latency_us_per_step``, ``step_us_synchronous``,
    ``latency_ms_per_image`` (steps one after another at the estimated latency) and the cores'
    use (what :func:`hnnbio.chip.run.emulate` reports in ``info["counters"]``)."""
    c = summary(totals, program)
    del c["energy_uj"]
    energy = energy_pj(totals, program.chip)
    for part, key in (("", "total"), ("_compute", "compute"), ("_routing", "routing")):
        c[f"energy_uj_per_image{part}"] = energy[key] * 1e-6 / n_images
    c["steps"] = n_steps
    c["latency_ms_per_image"] = c["latency_us_per_step"] * n_steps * 1e-3
    return c
