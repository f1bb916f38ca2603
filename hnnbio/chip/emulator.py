"""Bit-exact, integer-only emulator of a chip program, vectorised over the batch and over neurons.

One emulator state holds B images (batching is a dimension). Every step runs the program's phases
in order; cores of one phase are independent, so the emulator runs all cores of a layer together:

- phase 0, sheet cores: advance each neuron's LFSR by ``lfsr_shifts_per_step`` shifts;
  ``m = hadamard(image, ring[t mod D])``; ``lif`` with threshold offset ``lfsr & noise_mask``;
- phase 1, sheet cores: ``window`` with the coin ``(lfsr >> rand_shift) & 255``; send;
- per dense layer: every tile ``matvec``, partial sums sent to the reducing tile, which does
  ``accumulate`` (saturating, sources in program order, then the bias) and ``lut``; the last
  layer's output is written to ``ring[t mod D]`` (read again D steps later).

Counters per run (summed over images and steps): ``macs`` (8-bit multiplies: Hadamard products
and matvecs on 8-bit activations), ``sops`` (synaptic accumulates: matvecs on binary inputs count
one per active input per target neuron), ``packets`` and ``packet_hops`` (fixed-size route
messages), ``spikes``; energy ``macs * pj_per_mac + sops * pj_per_sop`` and a latency estimate
(see docs/chip.md).
"""

from __future__ import annotations

import math

import numpy as np

from hnnbio.chip import primitives as P
from hnnbio.chip.program import Program
from hnnbio.errors import DataError, ProgramError


class Emulator:
    """State and step of one program for a batch of images.

    Parameters
    ----------
    program : Program
    """

    def __init__(self, program: Program):
        self.program = program
        self.chip = program.chip
        m = program.manifest
        self.n_pixels = int(m["sheet"]["n_pixels"])
        self.ring_length = int(m["sheet"]["delay_steps"])
        self.shifts = int(m["lfsr_shifts_per_step"])
        cores = {c.core: c for c in program.cores}
        sheet = [c for c in program.cores if c.role == "sheet"]
        if not sheet:
            raise ProgramError("program: no sheet cores")
        lif = [_op(c, 0, "lif").args for c in sheet]
        window = [_op(c, 1, "window").args for c in sheet]
        if any(a != lif[0] for a in lif) or any(a != window[0] for a in window):
            raise ProgramError("program: the emulator needs the same registers on every sheet core")
        self.lif = dict(lif[0])
        self.keep = np.asarray(window[0]["keep"], dtype=np.int64)
        self.rand_shift = int(window[0]["rand_shift"])
        self.hadamard_shift = int(_op(sheet[0], 0, "hadamard").args["shift"])
        self.layers = []
        for entry in m["layers"][1:]:
            tiles, reducers = [], []
            for a, b, core_id in entry["grid"]:
                core = cores[core_id]
                w = program.arrays[_op(core, None, "matvec").args["weights"]]
                if w.shape != (core.axons[1] - core.axons[0], core.neurons[1] - core.neurons[0]):
                    raise ProgramError(f"program: core {core_id} weights of shape {w.shape} do not "
                                       f"match its axons {core.axons} x neurons {core.neurons}")
                # float32 holds every tile product exactly (see primitives.matvec)
                tiles.append((core_id, core.axons, core.neurons, w.astype(np.float32)))
                if a == 0:
                    acc = _op(core, None, "accumulate").args
                    lut = _op(core, None, "lut").args
                    reducers.append((core.neurons, list(acc["sources"]), program.arrays[acc["bias"]],
                                     int(lut["shift"]), program.arrays[lut["table"]]))
            n_out = max(r[0][1] for r in reducers)
            self.layers.append({"name": entry["name"], "tiles": tiles, "reducers": reducers,
                                "n_out": n_out})
        self.packets_per_step = sum(r["packets"] for r in m["routes"])
        self.packet_hops_per_step = sum(r["packets"] * r["hops"] for r in m["routes"])

    # --- state ----------------------------------------------------------------------------

    def reset(self, images: np.ndarray, attention: np.ndarray, seed: int, first_image: int = 0) -> None:
        """Load a batch.

        Parameters
        ----------
        images : ndarray, shape (batch, n_pixels), {0, 1}
        attention : ndarray, shape (batch, delay_steps, n_pixels), int in [0, 255]
            Initial contents of the delay ring (attention codes, value = code / 256).
        seed : int
            Seeds the LFSRs; image ``first_image + i`` of a run gets the same streams whatever the
            batch size.
        """
        images = np.asarray(images)
        if images.ndim != 2 or images.shape[1] != self.n_pixels:
            raise DataError(f"images: expected shape (batch, {self.n_pixels}), got {images.shape}")
        attention = np.asarray(attention)
        if attention.shape != (images.shape[0], self.ring_length, self.n_pixels):
            raise DataError(f"attention: expected shape ({images.shape[0]}, {self.ring_length}, "
                            f"{self.n_pixels}), got {attention.shape}")
        if attention.min(initial=0) < 0 or attention.max(initial=0) > 255:
            raise DataError("attention: codes must be in [0, 255]")
        batch = images.shape[0]
        self.image = np.clip(images.astype(np.int64), 0, 255)
        self.ring = attention.astype(np.int64).copy()
        self.v = np.zeros((batch, self.n_pixels), dtype=np.int64)
        self.refractory = np.zeros_like(self.v)
        self.age = np.full_like(self.v, 15)
        streams = (np.arange(batch)[:, None] + first_image) * self.n_pixels + np.arange(self.n_pixels)
        self.lfsr = P.lfsr_seed(seed, streams)
        self.t = 0
        self.counters = {"steps": 0, "macs": 0, "sops": 0, "packets": 0, "packet_hops": 0, "spikes": 0}

    def step(self) -> np.ndarray:
        """Run one time step; returns the sheet's spikes, shape (batch, n_pixels), bool."""
        chip, lif, c = self.chip, self.lif, self.counters
        batch = self.v.shape[0]
        slot = self.t % self.ring_length
        # phase 0: sheet cores, hadamard -> lif
        self.lfsr = P.lfsr_advance(self.lfsr, self.shifts)
        m = P.hadamard(self.image, self.ring[:, slot], self.hadamard_shift)
        noise = (self.lfsr & np.uint32(lif["noise_mask"])).astype(np.int64)
        self.v, self.refractory, spikes = P.lif_step(
            self.v, self.refractory, m, alpha=lif["alpha"], v_leak=lif["v_leak"],
            v_threshold=lif["v_threshold"], threshold_noise=noise, reset_mode=lif["reset_mode"],
            v_reset=lif["v_reset"], refractory_steps=lif["refractory_steps"],
            membrane_bits=chip.membrane_bits)
        # phase 1: sheet cores, window -> send
        coin = ((self.lfsr >> np.uint32(self.rand_shift)) & np.uint32(255)).astype(np.int64)
        x, self.age = P.window_step(spikes, self.age, coin, self.keep)
        x = x.astype(np.float32)
        binary = True
        c["macs"] += batch * self.n_pixels
        # dense layers: matvec on every tile, accumulate + lut on the reducing tiles
        for layer in self.layers:
            partial = {}
            for core_id, (alo, ahi), _, w in layer["tiles"]:
                xa = x[:, alo:ahi]
                partial[core_id] = P.matvec_exact(xa, w, chip.accumulator_bits)
                if binary:
                    c["sops"] += int(np.count_nonzero(xa)) * w.shape[1]
                else:
                    c["macs"] += batch * w.size
            y = np.empty((batch, layer["n_out"]), dtype=np.int64)
            for (nlo, nhi), sources, bias, shift, table in layer["reducers"]:
                acc = partial[sources[0]]
                for s in sources[1:]:
                    acc = P.add_sat(acc, partial[s], chip.accumulator_bits)
                acc = P.add_sat(acc, bias, chip.accumulator_bits)
                y[:, nlo:nhi] = P.lut(acc, shift, table)
            x, binary = y.astype(np.float32), False
        # the last layer's routers write the delay ring (read again ring_length steps later)
        self.ring[:, slot] = y
        c["steps"] += 1
        c["packets"] += batch * self.packets_per_step
        c["packet_hops"] += batch * self.packet_hops_per_step
        c["spikes"] += int(np.count_nonzero(spikes))
        self.t += 1
        return spikes

    # --- estimates --------------------------------------------------------------------------

    def latency_per_step_s(self) -> float:
        """Estimated chip time of one step of one image, s.

        Per phase: the slowest core's compute cycles (``ceil(values / macs_per_cycle)``, values =
        axons x neurons for a matvec, neurons for element-wise work) plus the longest route in
        cycles (packets + hops). Phases run one after another; images one after another.
        """
        chip = self.chip
        by_phase: dict[int, int] = {}
        for core in self.program.cores:
            n_neurons = core.neurons[1] - core.neurons[0]
            n_axons = core.axons[1] - core.axons[0]
            for phase, instructions in core.phases.items():
                work = sum(n_axons * n_neurons if i.op == "matvec" else n_neurons
                           for i in instructions if i.block != "router")
                cycles = math.ceil(work / chip.macs_per_cycle)
                by_phase[phase] = max(by_phase.get(phase, 0), cycles)
        route_cycles: dict[int, int] = {}
        for r in self.program.routes:
            route_cycles[r["phase"]] = max(route_cycles.get(r["phase"], 0), r["packets"] + r["hops"])
        total = sum(by_phase.values()) + sum(route_cycles.values())
        return total / chip.clock_hz

    def utilisation(self) -> list[dict]:
        """Per core: fraction of axons, neurons and memory used."""
        chip, memory = self.chip, self.program.manifest["memory"]
        return [{"core": c.core, "layer": c.layer,
                 "axons": (c.axons[1] - c.axons[0]) / chip.axons_per_core,
                 "neurons": (c.neurons[1] - c.neurons[0]) / chip.neurons_per_core,
                 "memory": memory[str(c.core)] / chip.memory_bytes_per_core}
                for c in self.program.cores]

    def summary(self) -> dict:
        """Counters with energy and latency (per image), for the CLI and BindingResult.info."""
        c = dict(self.counters)
        chip = self.chip
        c["energy_uj"] = (c["macs"] * chip.pj_per_mac + c["sops"] * chip.pj_per_sop) * 1e-6
        c["latency_us_per_step"] = self.latency_per_step_s() * 1e6
        util = self.utilisation()
        c["cores"] = len(util)
        c["mean_core_neuron_use"] = float(np.mean([u["neurons"] for u in util]))
        c["max_core_memory_use"] = float(np.max([u["memory"] for u in util]))
        return c


def _op(core, phase, op):
    phases = [phase] if phase is not None else sorted(core.phases)
    for p in phases:
        for ins in core.phases.get(p, []):
            if ins.op == op:
                return ins
    raise ProgramError(f"program: core {core.core} ({core.layer}) lacks a {op!r} primitive")
