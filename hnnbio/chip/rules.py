"""Design rules: small named checks that a graph, then its quantised and mapped model, fit the
chip.

Each rule is a function that raises :class:`hnnbio.errors.DesignRuleError` (rule, node or layer,
detail) on the first violation, so a user reads which rule failed, for which node, and why
(Rockpool's Xylo mapper does the same). :func:`check_graph` runs the graph rules (what the chip's
loop can run, before lowering); :func:`check_model` and :func:`check_mapping` the rest.

Graph rules (on the HNN graph, :mod:`hnnbio.hnn`):

=====================  ====================================================================
rule                   what it checks
=====================  ====================================================================
populations            exactly one population, the sheet (``[experiment] sheet`` if given)
sheet-model            the sheet is ``model = "stochastic"`` with one refractory_steps for all,
                       or a ``circuit = "column"`` that passes ``column-as-stochastic``
column-as-stochastic   a column sheet runs as a stochastic sheet (:func:`column_gate`) only
                       with input_probability 1, up_inputs 1, up_window_steps 1, output
                       ``coincidence`` and fast_steps <= 0.1 (see docs/chip.md)
inputs                 the sheet reads one input node of its size into ``drive``
synapses               no synapses (the sheet's units are coupled only through the loop)
networks               exactly one network
units                  exactly one SNN -> ANN unit (the window) from the sheet to the network
                       and one ANN -> SNN unit (the attention) from the network to the sheet
window-unit            the window has ``kernel = "coincidence"``, no non-linearity, no quantiser
attention-unit         the attention is ``kind = "modulation"``, ``operation = "set"`` of
                       ``gain`` with gain 1, no non-linearity or quantiser, ``delay_steps >= 1``,
                       ``initial = "soft_assignment"``
network-autoencoder    the network is hnnbio's fully connected DenoisingAutoencoder with a
                       deterministic latent, reading only the window, every step
=====================  ====================================================================

Model and mapping rules:

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

Brian2 monitors of the graph are not lowered (they observe the float run; the emulator reports
the sheet's spikes and the attention).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hnnbio.chip.spec import ChipSpec
from hnnbio.errors import DesignRuleError

# --- graph rules ---------------------------------------------------------------------------------


def populations(graph) -> None:
    names = [p.name for p in graph.populations]
    wanted = graph.experiment.get("sheet")
    if wanted is not None and wanted not in names:
        raise DesignRuleError("populations", str(wanted),
                              f"[experiment] sheet names no population (have {', '.join(names)})")
    if len(names) != 1:
        extra = next(n for n in names if n != (wanted or names[0]))
        raise DesignRuleError("populations", extra,
                              f"the chip runs one population (the sheet), the graph has "
                              f"{len(names)}: {', '.join(names)}")


def inputs(graph) -> None:
    sheet = graph.populations[0]
    if sheet.input is None:
        raise DesignRuleError("inputs", sheet.name, "the sheet reads no input (the image)")
    source = graph.node(sheet.input)
    if source.size != sheet.size:
        raise DesignRuleError("inputs", source.name,
                              f"input of {source.size} values for a sheet of {sheet.size}")
    wanted = "input" if is_column(sheet) else "drive"
    if sheet.input_variable != wanted:
        raise DesignRuleError("inputs", sheet.name,
                              f"the image must drive {wanted!r}, not {sheet.input_variable!r}")
    extra = [i.name for i in graph.inputs if i.name != source.name]
    if extra:
        raise DesignRuleError("inputs", extra[0], "the chip's only input is the sheet's image")


def synapses(graph) -> None:
    if graph.synapses:
        raise DesignRuleError("synapses", graph.synapses[0].name,
                              "the chip's sheet has no synapses (its units are coupled only "
                              "through the window, the network and the attention)")


def networks(graph) -> None:
    if len(graph.networks) != 1:
        names = [n.name for n in graph.networks]
        raise DesignRuleError("networks", names[1] if names else graph.name,
                              f"the chip runs one network, the graph has {len(names)}")


def units(graph) -> None:
    sheet, network = graph.populations[0].name, graph.networks[0].name
    up = [u for u in graph.units if graph.unit_direction(u) == "snn_to_ann"]
    down = [u for u in graph.units if graph.unit_direction(u) == "ann_to_snn"]
    for group, what in ((up, "SNN -> ANN (the window)"), (down, "ANN -> SNN (the attention)")):
        if len(group) != 1:
            raise DesignRuleError("units", group[1].name if group else graph.name,
                                  f"the chip has one {what} unit, the graph has {len(group)}")
    wanted = graph.experiment.get("attention")
    if wanted is not None and wanted != down[0].name:
        raise DesignRuleError("units", str(wanted),
                              "[experiment] attention names no ANN -> SNN unit")
    if (up[0].source, up[0].target) != (sheet, network):
        raise DesignRuleError("units", up[0].name, f"must join the sheet {sheet!r} to the "
                              f"network {network!r}")
    if (down[0].source, down[0].target) != (network, sheet):
        raise DesignRuleError("units", down[0].name, f"must join the network {network!r} to the "
                              f"sheet {sheet!r}")


def refractory_steps(sheet) -> int:
    """The sheet's refractory steps, one for all units (``sheet-model`` otherwise)."""
    if is_column(sheet):
        return column_as_stochastic(sheet)["refractory_steps"]
    value = np.asarray(sheet.params.get("refractory_steps", 0))
    if value.ndim and value.size and not (value == value.flat[0]).all():
        raise DesignRuleError("sheet-model", sheet.name,
                              "per-neuron refractory_steps: the chip has one refractory register "
                              "per core")
    return int(value.flat[0]) if value.ndim else int(value)


#: Largest fast_steps for which a column's pyramidal neuron forgets the last step's drive: its
#: membrane and synapse keep exp(-1 / fast_steps) <= exp(-10) = 4.5e-5 of it one step later.
COLUMN_FAST_STEPS_MAX = 0.1
#: Steps from the attention a column's pyramidal neuron reads to the coincidence spike it causes
#: (pyramidal -> self_inhibiting -> coincidence: two synaptic stages of one step each).
COLUMN_LATENCY_STEPS = 2
#: Steps before a column's pyramidal neuron receives its first input (the input unit's first
#: spike crosses one synapse): the attention of the first step gates nothing.
COLUMN_INPUT_STEPS = 1


#: The defaults of hnnbio.circuits.column.ColumnParams (the chip sits on the circuits' floor and
#: may not import them; tests/chip/test_column_lowering.py checks they agree).
COLUMN_DEFAULTS = {"refractory_steps": 6, "input_probability": 1.0, "attention_gain": 20.0,
                   "attention_scale": 1.0, "autapse_ratio": 10.0, "up_inputs": 1,
                   "up_window_steps": 1, "fast_steps": 0.1, "output": "coincidence",
                   "chains": 1, "plateau_threshold": 0.0, "plateau_steps": 1.0,
                   "inhibition_steps": 0, "interneuron_inputs": 1}


@dataclass(frozen=True)
class _Column:
    refractory_steps: int
    input_probability: float
    attention_gain: float
    attention_scale: float
    autapse_ratio: float
    up_inputs: int
    up_window_steps: int
    fast_steps: float
    output: str
    chains: int
    plateau_threshold: float
    plateau_steps: float
    inhibition_steps: int
    interneuron_inputs: int


def is_column(sheet) -> bool:
    return not sheet.model and sheet.circuit == "column"


def column_as_stochastic(sheet) -> dict:
    """The column's parameters when it is, step by step, a stochastic unit (else
    DesignRuleError ``column-as-stochastic`` naming the parameter and why).

    With input_probability 1 a foreground pixel's input unit spikes every step; the pyramidal
    neuron fires with probability ``1 - 1 / G(c)``, ``G = 1 + g tanh(a c)`` (an independent
    release amplitude each step, a membrane that forgets within the step); the self-inhibiting
    neuron relays it unless it spiked in the last r steps; a coincidence detector with k = 1 and a
    window of one step relays every spike one step later. So the output is a stochastic unit of
    probability ``x * p(c)``, ``p = g tanh(a c) / (1 + g tanh(a c))``, refractory r, two steps
    late (:data:`COLUMN_LATENCY_STEPS`).
    """
    values = dict(sheet.params)
    unknown = sorted(set(values) - set(COLUMN_DEFAULTS))
    if unknown:
        raise DesignRuleError("column-as-stochastic", sheet.name,
                              f"{unknown[0]}: not a column parameter (known: "
                              f"{', '.join(sorted(COLUMN_DEFAULTS))})")
    p = _Column(**{**COLUMN_DEFAULTS, **values})
    checks = (("chains", p.chains == 1, "parallel chains per column converge on a coincidence "
               "count the sheet cores cannot compute"),
              ("input_probability", p.input_probability == 1,
               "the input unit must spike every step of a foreground pixel (1), else the chip "
               "needs a second random draw per step"),
              ("up_inputs", p.up_inputs == 1, "a coincidence of more than one spike needs a "
               "counting primitive the sheet cores do not have"),
              ("up_window_steps", p.up_window_steps == 1, "a window of more than one step "
               "needs a counting primitive the sheet cores do not have"),
              ("output", p.output == "coincidence", "the chip's sheet sends the coincidence "
               "stage (latency 2 steps)"),
              ("fast_steps", p.fast_steps <= COLUMN_FAST_STEPS_MAX,
               f"above {COLUMN_FAST_STEPS_MAX} the pyramidal neuron carries drive from one step to "
               f"the next (no longer one independent draw per step)"),
              ("plateau_threshold", p.plateau_threshold == 0, "a dendritic plateau is state "
               "carried across steps the sheet cores do not have (0 turns it off)"),
              ("inhibition_steps", p.inhibition_steps == 0, "interneuron feedback is a second "
               "population the chip's sheet does not have (0 turns it off)"))
    for name, ok, why in checks:
        if not ok:
            raise DesignRuleError("column-as-stochastic", sheet.name,
                                  f"{name} {getattr(p, name)!r}: {why}")
    return {"refractory_steps": int(p.refractory_steps), "attention_gain": float(p.attention_gain),
            "attention_scale": float(p.attention_scale), "latency_steps": COLUMN_LATENCY_STEPS,
            "input_steps": COLUMN_INPUT_STEPS}


def column_gate(c, attention_gain: float, attention_scale: float):
    """Spike probability per step of a column (pyramidal stage) at attention c:
    ``g tanh(a c) / (1 + g tanh(a c))`` for c >= 0 (0 at c = 0)."""
    t = attention_gain * np.tanh(attention_scale * np.maximum(np.asarray(c, dtype=float), 0.0))
    return t / (1.0 + t)


def sheet_model(graph) -> None:
    sheet = graph.populations[0]
    if is_column(sheet):
        column_as_stochastic(sheet)
        return
    if sheet.model != "stochastic":
        if sheet.model:
            kind = f"model {sheet.model!r}"
        elif sheet.circuit:
            kind = f"circuit {sheet.circuit!r}"
        else:
            kind = "the user's equations" if sheet.equations else "a Python group"
        raise DesignRuleError("sheet-model", sheet.name,
                              f"the chip's sheet is a stochastic model (hadamard + lif with a "
                              f"random threshold), not {kind}")
    refractory_steps(sheet)


def window_unit(graph) -> None:
    u = next(u for u in graph.units if graph.unit_direction(u) == "snn_to_ann")
    if u.kernel != "coincidence":
        raise DesignRuleError("window-unit", u.name,
                              f"the chip's window primitive is the coincidence kernel, not "
                              f"{u.kernel!r}")
    for key in ("nonlinearity", "quantiser"):
        if getattr(u, key) is not None:
            raise DesignRuleError("window-unit", u.name,
                                  f"{key} {getattr(u, key)!r}: the window sends its bits as they "
                                  f"are")


def attention_unit(graph) -> None:
    u = next(u for u in graph.units if graph.unit_direction(u) == "ann_to_snn")
    variable = "attention" if is_column(graph.populations[0]) else "gain"
    if u.kind != "modulation" or u.operation != "set" or u.variable != variable:
        raise DesignRuleError("attention-unit", u.name,
                              f"the chip modulates by a Hadamard product: kind 'modulation', "
                              f"operation 'set' of {variable!r}, not {u.kind} {u.operation} of "
                              f"{u.variable!r}")
    if u.gain != 1.0:
        raise DesignRuleError("attention-unit", u.name, f"gain {u.gain}: the chip writes the "
                              f"network's codes as they are (gain 1)")
    for key in ("nonlinearity", "quantiser"):
        if getattr(u, key) is not None:
            raise DesignRuleError("attention-unit", u.name,
                                  f"{key} {getattr(u, key)!r}: the network's codes go to the delay "
                                  f"ring as they are")
    if u.delay_steps < 1:
        raise DesignRuleError("attention-unit", u.name, "delay_steps 0: the delay ring needs at "
                              "least one slot")
    if u.initial != "soft_assignment":
        raise DesignRuleError("attention-unit", u.name,
                              f"initial {u.initial!r}: the host loads the ring with a soft "
                              f"assignment")


def network_autoencoder(graph) -> None:
    from hnnbio.ann.autoencoder import DenoisingAutoencoder

    net = graph.networks[0]
    module = net.module
    if not isinstance(module, DenoisingAutoencoder):
        raise DesignRuleError("network-autoencoder", net.name,
                              f"the chip's dense layers run hnnbio's fully connected "
                              f"DenoisingAutoencoder, not {type(module).__name__}")
    if module.latent != "deterministic":
        raise DesignRuleError("network-autoencoder", net.name,
                              f"latent {module.latent!r}: the chip's layers are deterministic")
    window = next(u for u in graph.units if graph.unit_direction(u) == "snn_to_ann")
    if tuple(net.inputs) != (window.name,):
        raise DesignRuleError("network-autoencoder", net.name,
                              f"inputs {list(net.inputs)}: the chip's network reads only the "
                              f"window {window.name!r}")
    if net.every != 1:
        raise DesignRuleError("network-autoencoder", net.name,
                              f"every {net.every}: the chip runs the network every step")


#: In this order: the later rules rely on one sheet (of the stochastic model), one network and
#: two units.
GRAPH_RULES = (populations, sheet_model, inputs, synapses, networks, units, window_unit,
               attention_unit, network_autoencoder)


def check_graph(graph) -> dict:
    """Run the graph rules on an HNN graph; returns its roles (``input``, ``sheet``, ``window``,
    ``network``, ``attention``: the nodes)."""
    for rule in GRAPH_RULES:
        rule(graph)
    sheet = graph.populations[0]
    return {"input": graph.node(sheet.input), "sheet": sheet,
            "window": next(u for u in graph.units if graph.unit_direction(u) == "snn_to_ann"),
            "network": graph.networks[0],
            "attention": next(u for u in graph.units if graph.unit_direction(u) == "ann_to_snn")}


# --- model and mapping rules ---------------------------------------------------------------------


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
