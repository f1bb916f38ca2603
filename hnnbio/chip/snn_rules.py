"""Design rules of the spiking-graph compiler (:mod:`hnnbio.chip.snn`).

Each rule has a name; a graph that breaks one is refused with one
:class:`~hnnbio.errors.DesignRuleError` line naming the rule and the node, e.g.
``design rule 'delay_slots' violated by layer 'a_to_b': delay 80 steps (+1 on the chip) exceeds
the 64 delay slots``. :data:`RULES` lists them with their reasons (docs/chip.md,
"Compiling spiking graphs").
"""

from __future__ import annotations

from hnnbio.errors import DesignRuleError

#: rule name -> what it refuses and why.
RULES = {
    "hybrid_nodes": "networks and hybrid units (ANN parts, modulation) are not compiled by the "
                    "spiking compiler: hnnbio.chip.hybrid compiles them (compile_model and "
                    "export route such graphs there; binding graphs go to the binding "
                    "compiler)",
    "unsupported_model": "only models 'lif', 'self_inhibiting' and the LIF equations "
                         "hnnbio.nir writes compile; other models, equations, circuits and "
                         "Python groups do not",
    "input_variable": "an input may write only the LIF's input current (i_bias / i_in)",
    "synapse_form": "a synapse must jump v (v_post += w [* r / tau]); no on_post, no other "
                    "statements",
    "synaptic_current": "a jump of i_syn other than i_syn_post += w [/ tau_syn_post], or into "
                        "a population without i_syn",
    "random_connectivity": "connect = {p} is drawn by the engine's generator; give i and j",
    "heterogeneous_parameters": "the lif op's reset is one register and v's initial value one "
                                "buffer init: reset and initial v (relative to rest) must be "
                                "equal within a population (tau and threshold may differ)",
    "leak_resolution": "the leak alpha/256 changes the membrane time constant, hence the rates, "
                       "beyond the tolerance",
    "weight_range": "a weight rounds to 0 or a membrane code leaves the membrane's bits",
    "delay_slots": "a delay (in steps, +1 on the chip) beyond the chip's delay slots, or not a "
                   "whole number of steps",
    "refractory_counter": "refractory steps beyond the counter's bits",
    "refractory_with_synapses": "Brian2 lets synaptic jumps into v during refractoriness, the "
                                "chip's counter blocks its input: refused where both occur",
    "fan_in": "more presynaptic axons than a core has where they are not split over partial-"
              "sum cores (autapses in the spiking compiler, gated hybrid "
              "populations, a network's later layers), or partial sums that could saturate "
              "the accumulator",
    "mesh": "more cores than the mesh has",
    "core_memory": "a core's buffers, weights and delay rings exceed its memory",
    "hybrid_population": "in a hybrid graph (networks and units), populations compile in the "
                         "driven, leaky or integrator equation form (hnnbio.chip.hybrid)",
    "window_unit": "an SNN -> ANN unit compiles as a rate (or sum) window within the delay "
                   "slots, without nonlinearity or quantiser",
    "network_layers": "a torch network compiles as Linear [ReLU|Sigmoid] chains fed by one "
                      "window unit every step (optionally concatenated with networks that "
                      "read graph inputs only), or by one graph input (every = k allowed)",
    "modulation_unit": "an ANN -> SNN unit compiles as a modulation multiplying a driven "
                       "population's drive or a leaky one's jumps (sigmoid, delay "
                       "1..delay_slots, 0 from graph-input networks, constant initial), or "
                       "as set onto a passive population (an output port the host reads)",
    "fan_out": "a dense layer with more outputs than a core has neurons",
    "segment_neuron": "dendritic-segment neurons compile (hnnbio.chip.segments) with whole-step "
                      "windows, v_reset 0, no refractoriness and no distal gain",
    "rate_error": "the firing-rate error bound under the given constant drive exceeds the "
                  "tolerance",
}
#: The rules only the hybrid compiler (hnnbio.chip.hybrid) applies.
HYBRID_RULES = {"hybrid_population", "window_unit", "network_layers", "modulation_unit",
                "fan_out"}


def refuse(rule: str, node: str, detail: str):
    """Raise the DesignRuleError of ``rule`` (one of :data:`RULES`) for ``node``."""
    if rule not in RULES:
        raise KeyError(rule)
    raise DesignRuleError(rule, node, detail)


def check_graph(graph) -> None:
    """Graph-level rules (before any population is lowered)."""
    for node in [*graph.networks, *graph.units]:
        refuse("hybrid_nodes", node.name, f"{type(node).__name__} nodes are compiled by "
               "hnnbio.chip.hybrid.compile_hybrid, not the spiking compiler")
    if not graph.populations:
        refuse("unsupported_model", graph.name, "the graph has no population")


def check_delay(name: str, steps_float: float, chip) -> int:
    """The chip delay of a Brian2 delay of ``steps_float`` steps: ``round + 1`` (see snn)."""
    steps = round(steps_float)
    if abs(steps_float - steps) > 1e-6 or steps < 0:
        refuse("delay_slots", name, f"delay of {steps_float:g} steps is not a whole number >= 0")
    if steps + 1 > chip.delay_slots:
        refuse("delay_slots", name, f"delay {steps} steps (+1 on the chip) exceeds the "
               f"{chip.delay_slots} delay slots")
    return steps + 1


def check_refractory(name: str, steps: int, chip, has_synapses: bool) -> None:
    if steps > chip.refractory_max:
        refuse("refractory_counter", name, f"{steps} refractory steps exceed the "
               f"{chip.refractory_bits}-bit counter (at most {chip.refractory_max})")
    if steps and has_synapses:
        refuse("refractory_with_synapses", name, f"{steps} refractory steps and incoming "
               "synapses (Brian2 adds jumps during refractoriness, the chip does not)")


def check_leak(name: str, error: float, tolerance: float, tau_steps: float, alpha: int,
               what: str = "tau") -> None:
    if alpha < 1 or error > tolerance:
        refuse("leak_resolution", name, f"{what} = {tau_steps:.4g} steps gives alpha {alpha}/256: "
               f"rate error bound {100 * error:.2f} % > {100 * tolerance:g} %")


def check_fan_in(name: str, axons: int, chip) -> None:
    if axons > chip.axons_per_core:
        refuse("fan_in", name, f"{axons} presynaptic axons exceed the {chip.axons_per_core} of a "
               "core")


def check_mesh(name: str, cores: int, chip) -> None:
    if cores > chip.n_cores:
        refuse("mesh", name, f"needs {cores} cores, the mesh has {chip.n_cores}")
