"""Lowering: an HNN graph -> a small graph of chip-level nodes (the compiler's IR).

The chip runs one loop of the HNN graph (:mod:`hnnbio.hnn`): an input image drives a sheet of
stochastic gated units (``model = "stochastic"``), an SNN -> ANN coincidence window feeds a fully
connected autoencoder (:class:`hnnbio.ann.autoencoder.DenoisingAutoencoder`), and a delayed
ANN -> SNN modulation unit sets the sheet's ``gain``. Lowered, the loop is a ring of nodes run once
per time step in this order::

    modulation -> stochastic_unit -> window -> dense_1 -> lut_1 -> ... -> dense_L -> lut_L -> delay
        ^                                                                                   |
        +-------------------- attention c_t (the delay's output, D steps later) ------------+

- ``modulation``: ``m = x * c_t`` (Hadamard product of the binary image and the attention);
- ``stochastic_unit``: spike with probability ``m`` when not refractory; then silent for
  ``refractory_steps`` steps (the population's ``params.refractory_steps``);
- ``window``: the coincidence window (the window unit's ``keep`` and ``nested``): a spike of age
  ``k`` is passed on with probability ``keep[k]``, by independent or nested coins;
- ``dense_i``: ``z = W_i h + b_i`` (``W_i`` of shape (n_out, n_in) as in ``nn.Linear``);
- ``lut_i``: ``h = f_i(z)``, ``f_i`` in {sigmoid, relu} (sigmoid for the output layer);
- ``delay``: a ring of the attention unit's ``delay_steps`` slots; the output of step t is the
  attention of step t + delay_steps.

Everything is read from the graph's nodes and its ``[experiment]`` table: ``steps_per_cycle`` (D,
default the attention unit's delay), ``cycles`` (default the graph's steps / D, else 50),
``readout_cycles`` (default min(10, cycles)) and ``dataset`` (the images the quantiser calibrates
on and ``emulate_program`` generates). Layers, activations and weights come from the network's
module (its ``linears``), cast to float64. What the chip cannot run is refused by the graph rules
of :mod:`hnnbio.chip.rules` (:class:`~hnnbio.errors.DesignRuleError` naming the rule and the node).

A column sheet (``circuit = "column"``) that passes ``column-as-stochastic`` lowers to the same
ring (:func:`hnnbio.chip.rules.column_as_stochastic`): the output ``lut`` carries
``gate = [g, a]`` (its table holds the column's spike probability at the attention, not the
attention) and the delay ring is two slots longer (the column's two synaptic stages); the sheet
node's ``column`` parameter keeps ``attention_gain``, ``attention_scale``, ``latency_steps`` and
``input_steps`` for the host's first ring (:func:`hnnbio.chip.run.initial_attention`; a program
carries them as ``sheet.column``).

The IR's node names (``sheet``, ``window``, ``dense_1``, ...) are the chip's; the graph's own names
of the roles are kept in :attr:`Graph.names` (the emulator reports spikes and attention under them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from hnnbio.chip import rules
from hnnbio.errors import ModelSpecError

KINDS = ("modulation", "stochastic_unit", "window", "dense", "lut", "delay")
FUNCTIONS = ("sigmoid", "relu")
#: Run length of a graph whose [experiment] gives no cycles and that has no steps.
DEFAULT_CYCLES = 50
DEFAULT_READOUT_CYCLES = 10


@dataclass
class Node:
    """One node of the IR: a name, a kind, sizes, scalar parameters and float arrays."""

    name: str
    kind: str
    n_in: int
    n_out: int
    params: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ModelSpecError(f"kind: {self.kind!r} is not one of {', '.join(KINDS)}")

    def __repr__(self) -> str:
        return f"Node({self.name}: {self.kind} {self.n_in}->{self.n_out}, {self.params})"


@dataclass
class Graph:
    """The lowered model: nodes in step order plus the loop's settings.

    ``names`` maps the roles ``input``, ``sheet``, ``window``, ``network``, ``attention`` to the
    HNN graph's node names.
    """

    name: str
    dataset: str | None
    image_shape: tuple[int, int]
    steps_per_cycle: int
    cycles: int
    readout_cycles: int
    dt_ms: float
    nodes: list[Node]
    names: dict = field(default_factory=dict)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def of_kind(self, kind: str) -> list[Node]:
        return [n for n in self.nodes if n.kind == kind]


def shipped_models() -> dict[str, Path]:
    """The HNN files shipped with hnnbio (package data ``hnnbio.shipped_models``), by name."""
    folder = Path(str(resources.files("hnnbio.shipped_models")))
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def load_graph(model):
    """An HNN graph from a graph, a ``.toml`` path or the name of a shipped model file."""
    from hnnbio.hnn.files import load_hnn
    from hnnbio.hnn.graph import HNN

    if isinstance(model, HNN):
        return model
    if not isinstance(model, (str, Path)):
        raise ModelSpecError(f"model: expected an HNN graph, an HNN file (.toml) or a shipped "
                             f"model name, got {type(model).__name__}")
    path = Path(model)
    if path.suffix != ".toml" and not path.is_file():
        shipped = shipped_models()
        if str(model) not in shipped:
            raise ModelSpecError(f"unknown model {str(model)!r}: give an HNN file (.toml) or one "
                                 f"of {', '.join(shipped)}")
        path = shipped[str(model)]
    return load_hnn(path)


def _setting(graph, key: str, default) -> int:
    from hnnbio.hnn.nodes import check_int

    value = graph.experiment.get(key, default)
    return check_int("[experiment]", key, value, 1)


def lower(model) -> Graph:
    """Lower an HNN graph to the IR.

    Parameters
    ----------
    model : HNN or str or Path
        A graph (:class:`hnnbio.hnn.graph.HNN`), an HNN file, or a shipped model name
        (``"bars"``), loaded with :func:`hnnbio.hnn.files.load_hnn`.

    Returns
    -------
    Graph

    Raises
    ------
    DesignRuleError
        The graph has a part the chip cannot run (see :data:`hnnbio.chip.rules.GRAPH_RULES`).
    """
    graph = load_graph(model)
    roles = rules.check_graph(graph)
    sheet, window, network, attention = (roles[k] for k in ("sheet", "window", "network",
                                                             "attention"))
    n = sheet.size
    side = math.isqrt(n)
    if side * side != n:
        raise ModelSpecError(f"{sheet.name}: size {n} is not a square image")
    module = network.module
    layers, hidden = list(module.layers), list(module.hidden)
    d = _setting(graph, "steps_per_cycle", attention.delay_steps)
    steps = graph.steps
    cycles = _setting(graph, "cycles", math.ceil(steps / d) if steps else DEFAULT_CYCLES)
    readout_cycles = _setting(graph, "readout_cycles", min(DEFAULT_READOUT_CYCLES, cycles))
    if readout_cycles > cycles:
        raise ModelSpecError(f"[experiment]: readout_cycles ({readout_cycles}) exceeds cycles "
                             f"({cycles})")
    column = rules.column_as_stochastic(sheet) if rules.is_column(sheet) else None
    nodes = [
        Node("modulation", "modulation", n, n),
        Node("sheet", "stochastic_unit", n, n,
             params={"refractory_steps": rules.refractory_steps(sheet),
                     **({} if column is None else {"column": {
                         k: column[k] for k in ("attention_gain", "attention_scale",
                                                "latency_steps", "input_steps")}})}),
        Node("window", "window", n, n,
             params={"keep": [float(k) for k in window.keep], "nested": bool(window.nested)}),
    ]
    functions = hidden + ["sigmoid"]
    for i, linear in enumerate(module.linears):
        w = linear.weight.detach().cpu().double().numpy().copy()
        b = linear.bias.detach().cpu().double().numpy().copy()
        if w.shape != (layers[i + 1], layers[i]):
            raise ModelSpecError(f"{network.name}: linears.{i} has shape {w.shape}, expected "
                                 f"({layers[i + 1]}, {layers[i]})")
        nodes.append(Node(f"dense_{i + 1}", "dense", w.shape[1], w.shape[0],
                          arrays={"weight": w, "bias": b}))
        if functions[i] not in FUNCTIONS:
            raise ModelSpecError(f"{network.name}: hidden activation {functions[i]!r} is not one "
                                 f"of {', '.join(FUNCTIONS)}")
        lut = {"function": functions[i]}
        if column is not None and i == len(module.linears) - 1:
            # column-as-stochastic: the output table holds p(sigmoid(z)), the column's spike
            # probability at the attention sigmoid(z) (rules.column_gate)
            lut["gate"] = [column["attention_gain"], column["attention_scale"]]
        nodes.append(Node(f"lut_{i + 1}", "lut", w.shape[0], w.shape[0], params=lut))
    # a column's spikes leave it latency_steps after the attention that gates them: the chip's
    # sheet (latency 0) gets a ring that many slots longer, so the loop's period is the column's
    ring = attention.delay_steps + (column["latency_steps"] if column else 0)
    nodes.append(Node("delay", "delay", n, n, params={"delay_steps": ring}))
    dataset = graph.experiment.get("dataset")
    return Graph(name=graph.name, dataset=None if dataset is None else str(dataset),
                 image_shape=(side, side), steps_per_cycle=d, cycles=cycles,
                 readout_cycles=readout_cycles, dt_ms=float(graph.dt_ms), nodes=nodes,
                 names={k: v.name for k, v in roles.items()})
