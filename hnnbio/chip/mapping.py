"""Partition a quantised model across cores, place the cores on the mesh and route between them.

Partition. The sheet (stochastic units, modulation, window, delay ring) takes ``ceil(n / N)``
cores of at most N = ``neurons_per_core`` pixels. A dense layer of ``n_in x n_out`` becomes a grid
of tiles ``(a, b)`` of at most ``axons_per_core`` inputs x ``neurons_per_core`` outputs (a 784 x 512
layer: 4 x 2 tiles). Tile ``(a, b)`` computes the partial sum of output block ``b`` from input
block ``a`` and routes it to tile ``(0, b)``, which adds the partial sums (saturating), the bias,
applies the look-up table and routes the result on.

Phases of one step. 0: sheet cores ``hadamard -> lif``; 1: sheet cores ``window -> send``;
then for each dense layer i two phases: ``2i + 2`` all tiles ``matvec -> send partial``;
``2i + 3`` the reducing tiles ``accumulate -> lut -> send`` (to the next layer, or, from the last
layer, to the sheet cores' delay rings with ``delay = D``).

Buffers (:mod:`hnnbio.chip.isa`). Sheet cores: ``image`` (1 bit), ``attention`` (8 bits, fed by
the last layer with ``delay = D``), ``m``, ``v``, ``refractory``, ``spikes``, ``age`` (init 15),
``kept``, ``window``, ``lfsr`` (stream = the core's first pixel). Tiles: ``x`` (1 bit in the first
layer, 8 after), ``partial`` (the accumulator's width); reducing tiles also ``partial_{a}`` (the
partial sum routed from tile ``(a, b)``), ``acc`` and ``y`` (8 bits). Ports: inputs ``image``
(hold) and ``attention`` (steps = D: the host's initial ring); outputs ``spikes``, ``window`` and
``attention`` (the codes applied in the step).

Placement. Cores are numbered in that order and placed row-major on the mesh (x fastest);
packets take X-then-Y routes, so a route's hop count is ``|dx| + |dy|``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hnnbio.chip.isa import CoreProgram, Instruction, routes_of
from hnnbio.chip.quantize import QGraph
from hnnbio.chip.spec import ChipSpec

#: LFSR shifts per step: bits 0-7 draw the threshold offset, bits 8-15 the window's coin.
LFSR_SHIFTS_PER_STEP = 16
#: Bytes of state per sheet neuron: v (4), refractory (1), window age (1: 4 bits, and the kept
#: bit of nested coins), LFSR (4), image (1).
SHEET_STATE_BYTES = 11


@dataclass
class Mapping:
    """Cores with their programs, routes between them, per-core arrays and memory use."""

    cores: list[CoreProgram]
    routes: list[dict]
    arrays: dict[str, np.ndarray]
    memory: dict[int, int]
    n_phases: int
    layers: list[dict] = field(default_factory=list)
    ports: dict = field(default_factory=dict)


def _blocks(n: int, size: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def map_to_cores(q: QGraph, chip: ChipSpec) -> Mapping:
    """Partition, place and route (see the module docstring)."""
    n = q.graph.node("sheet").n_out
    cores: list[CoreProgram] = []
    arrays: dict[str, np.ndarray] = {}
    memory: dict[int, int] = {}
    layers: list[dict] = []

    def new_core(layer, role, neurons, axons):
        core_id = len(cores)
        x, y = chip.core_xy(core_id)
        core = CoreProgram(core_id, x, y, layer, role, neurons, axons)
        cores.append(core)
        return core

    sheet = [new_core("sheet", "sheet", blk, blk) for blk in _blocks(n, chip.neurons_per_core)]
    layers.append({"name": "sheet", "kind": "sheet", "cores": [c.core for c in sheet]})
    tiles_per_layer = []
    for layer in q.layers:
        grid = {}
        for a, ax in enumerate(_blocks(layer.n_in, chip.axons_per_core)):
            for b, nb in enumerate(_blocks(layer.n_out, chip.neurons_per_core)):
                grid[a, b] = new_core(layer.name, "reduce" if a == 0 else "tile", nb, ax)
        tiles_per_layer.append(grid)
        layers.append({"name": layer.name, "kind": "dense", "function": layer.function,
                       "cores": [c.core for c in grid.values()],
                       "grid": [[a, b, c.core] for (a, b), c in grid.items()]})

    acc_bits = chip.accumulator_bits

    def buffer(core, name, bits, signed=False, **extra):
        size = (core.axons if name == "x" else core.neurons)
        core.buffers[name] = {"size": size[1] - size[0], "bits": bits, "signed": signed, **extra}

    def destination(src_range, dst, buffer_name, dst_range):
        lo, hi = max(src_range[0], dst_range[0]), min(src_range[1], dst_range[1])
        return {"core": dst.core, "buffer": buffer_name, "lo": lo - src_range[0],
                "hi": hi - src_range[0], "at": lo - dst_range[0]}

    first = tiles_per_layer[0]
    for core in sheet:
        lo, hi = core.neurons
        memory[core.core] = (hi - lo) * (SHEET_STATE_BYTES + q.delay_steps)
        for name, bits in (("image", 1), ("attention", 8), ("m", 8), ("spikes", 1),
                           ("window", 1), ("kept", 1)):
            buffer(core, name, bits)
        buffer(core, "v", chip.membrane_bits, signed=True)
        buffer(core, "refractory", chip.refractory_bits)
        buffer(core, "age", 4, init=15)
        buffer(core, "lfsr", 32, stream=lo)
        core.phases[0] = [
            Instruction("axon", "hadamard", {"a": "image", "b": "attention", "out": "m",
                                             "shift": 0}),
            Instruction("soma1", "lif", {"input": "m", "v": "v", "refractory": "refractory",
                                         "spikes": "spikes", "rand": "lfsr",
                                         "alpha": 0, "v_leak": 0, "v_threshold": 0,
                                         "noise_mask": 255, "reset_mode": "value", "v_reset": 0,
                                         "refractory_steps": q.refractory_steps})]
        targets = [t for t in first.values() if _overlap(t.axons, core.neurons)]
        core.phases[1] = [
            Instruction("soma1", "window", {"spikes": "spikes", "age": "age",
                                            "kept": "kept" if q.nested else None, "out": "window",
                                            "rand": "lfsr", "keep": list(q.keep), "rand_shift": 8,
                                            "nested": bool(q.nested)}),
            Instruction("router", "send", {
                "what": "window", "to": [destination(core.neurons, t, "x", t.axons)
                                         for t in targets], "bits": 1, "delay": 0})]
    for i, (layer, grid) in enumerate(zip(q.layers, tiles_per_layer, strict=True)):
        p = 2 * i + 2
        last = i == len(q.layers) - 1
        nxt = sheet if last else list(tiles_per_layer[i + 1].values())
        for (a, b), core in grid.items():
            (alo, ahi), (nlo, nhi) = core.axons, core.neurons
            key = f"c{core.core}"
            arrays[f"{key}.weight"] = np.ascontiguousarray(layer.weight[alo:ahi, nlo:nhi])
            reducer = grid[0, b]
            buffer(core, "x", 1 if i == 0 else 8)
            buffer(core, "partial", acc_bits, signed=True)
            core.phases[p] = [Instruction("axon", "matvec", {"x": "x", "weights": f"{key}.weight",
                                                             "out": "partial"})]
            if a > 0:
                buffer(reducer, f"partial_{a}", acc_bits, signed=True)
                core.phases[p].append(Instruction("router", "send", {
                    "what": "partial", "to": [destination(core.neurons, reducer, f"partial_{a}",
                                                          reducer.neurons)],
                    "bits": acc_bits, "delay": 0}))
            memory[core.core] = (ahi - alo) * (nhi - nlo)
        for (a, b), core in grid.items():
            if a:
                continue
            key = f"c{core.core}"
            nb = core.neurons
            arrays[f"{key}.bias"] = layer.bias[nb[0]:nb[1]].astype(np.int32)
            arrays[f"{key}.table"] = layer.table.copy()
            arrays[f"{key}.shift"] = layer.shift[nb[0]:nb[1]].astype(np.uint8)
            sources = ["partial"] + [f"partial_{k[0]}" for k in sorted(grid)
                                     if k[1] == b and k[0] > 0]
            buffer(core, "acc", acc_bits, signed=True)
            buffer(core, "y", 8)
            if last:
                to = [destination(nb, t, "attention", t.neurons) for t in nxt
                      if _overlap(t.neurons, nb)]
            else:
                to = [destination(nb, t, "x", t.axons) for t in nxt if _overlap(t.axons, nb)]
            delay = q.delay_steps if last else 0
            core.phases[p + 1] = [
                Instruction("axon", "accumulate", {"sources": sources, "bias": f"{key}.bias",
                                                   "out": "acc"}),
                Instruction("soma1", "lut", {"x": "acc", "out": "y", "shift": f"{key}.shift",
                                             "table": f"{key}.table"}),
                Instruction("router", "send", {"what": "y", "to": to, "bits": 8, "delay": delay})]
            memory[core.core] += 5 * (nb[1] - nb[0]) + 4 * (nb[1] - nb[0]) * len(sources) + 256

    def port(name, buffer_name, **extra):
        parts = [{"core": c.core, "buffer": buffer_name, "lo": c.neurons[0], "hi": c.neurons[1],
                  "at": 0} for c in sheet]
        return {"name": name, "size": n, "parts": parts, **extra}

    ports = {"inputs": [port("image", "image", mode="hold"),
                        port("attention", "attention", mode="steps", steps=q.delay_steps)],
             "outputs": [port("spikes", "spikes"), port("window", "window"),
                         port("attention", "attention")]}
    routes = routes_of(cores, chip.packet_bytes)
    n_phases = 2 + 2 * len(q.layers)
    return Mapping(cores, routes, arrays, memory, n_phases, layers, ports)
