"""Design rules: small named checks that a quantised, mapped model fits the chip.

Each rule is a function that raises :class:`hnnbio.errors.DesignRuleError` (rule, layer, detail)
on the first violation, so a user reads which rule failed, for which layer, and by how much
(Rockpool's Xylo mapper does the same). :func:`check` runs them all, model rules first.

=====================  ====================================================================
rule                   what it checks
=====================  ====================================================================
refractory-counter     refractory steps fit the refractory counter (``<= 2**bits - 1``)
window-refractory      the coincidence window is no longer than refractory + 1 steps (one
                       spike per window) and shorter than the 4-bit age counter
delay-ring             the top-down delay fits the core's delay ring (``<= delay_slots``)
core-size              each core has at most ``axons_per_core`` inputs and
                       ``neurons_per_core`` neurons after partitioning
weight-memory          weights, biases, LUT, ring buffer and state fit a core's memory
core-count             the cores needed fit the mesh
phase-count            the phases of one step fit ``max_phases``
=====================  ====================================================================
"""

from __future__ import annotations

from hnnbio.chip.spec import ChipSpec
from hnnbio.errors import DesignRuleError


def refractory_counter(qgraph, chip: ChipSpec) -> None:
    r = qgraph.refractory_steps
    if not 0 <= r <= chip.refractory_max:
        raise DesignRuleError("refractory-counter", "sheet",
                              f"{r} refractory steps do not fit a {chip.refractory_bits}-bit "
                              f"counter "
                              f"(max {chip.refractory_max})")


def window_refractory(qgraph, chip: ChipSpec) -> None:
    length = len(qgraph.keep)
    if length - 1 > qgraph.refractory_steps:
        raise DesignRuleError("window-refractory", "window",
                              f"window of {length} steps needs refractory_steps >= {length - 1}, "
                              f"got {qgraph.refractory_steps} (more than one spike per window)")
    if length > 15:
        raise DesignRuleError("window-refractory", "window",
                              f"window of {length} steps exceeds the 4-bit age counter (max 15)")


def delay_ring(qgraph, chip: ChipSpec) -> None:
    if qgraph.delay_steps > chip.delay_slots:
        raise DesignRuleError("delay-ring", "delay",
                              f"delay of {qgraph.delay_steps} steps exceeds the ring of "
                              f"{chip.delay_slots} slots")


def core_size(mapping, chip: ChipSpec) -> None:
    for core in mapping.cores:
        n_axons = core.axons[1] - core.axons[0]
        n_neurons = core.neurons[1] - core.neurons[0]
        if n_axons > chip.axons_per_core or n_neurons > chip.neurons_per_core:
            raise DesignRuleError("core-size", core.layer,
                                  f"core {core.core} has {n_axons} axons x {n_neurons} neurons, "
                                  f"limit "
                                  f"{chip.axons_per_core} x {chip.neurons_per_core}")


def weight_memory(mapping, chip: ChipSpec) -> None:
    for core in mapping.cores:
        used = mapping.memory[core.core]
        if used > chip.memory_bytes_per_core:
            raise DesignRuleError("weight-memory", core.layer,
                                  f"core {core.core} needs {used} bytes, a core has "
                                  f"{chip.memory_bytes_per_core}")


def core_count(mapping, chip: ChipSpec) -> None:
    if len(mapping.cores) > chip.n_cores:
        first = mapping.cores[chip.n_cores].layer
        raise DesignRuleError("core-count", first,
                              f"the model needs {len(mapping.cores)} cores, the mesh has "
                              f"{chip.n_cores} "
                              f"({chip.mesh_x} x {chip.mesh_y}); layer '{first}' is the first that "
                              f"does not fit")


def phase_count(mapping, chip: ChipSpec) -> None:
    if mapping.n_phases > chip.max_phases:
        last = max(mapping.cores, key=lambda c: max(c.phases, default=0)).layer
        raise DesignRuleError("phase-count", last,
                              f"one step needs {mapping.n_phases} phases, a core program has at "
                              f"most "
                              f"{chip.max_phases}")


MODEL_RULES = (refractory_counter, window_refractory, delay_ring)
MAPPING_RULES = (core_size, weight_memory, core_count, phase_count)


def check_model(qgraph, chip: ChipSpec) -> None:
    """Run the rules that need only the quantised model (before mapping)."""
    for rule in MODEL_RULES:
        rule(qgraph, chip)


def check_mapping(mapping, chip: ChipSpec) -> None:
    """Run the rules on the partitioned, placed model."""
    for rule in MAPPING_RULES:
        rule(mapping, chip)
