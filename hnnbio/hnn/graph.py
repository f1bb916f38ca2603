"""The HNN graph: named nodes, the edges between them, and the checks that span nodes.

Edges follow from the nodes' fields: a synapse joins two populations, a population reads an
input, a network reads its ``inputs`` (SNN -> ANN units, networks, inputs), a hybrid unit joins a
population and a network in either direction. Serial, parallel and feedback topologies are all
graphs of these. :class:`HNN` validates on construction:

- every name is unique and every edge ends at a node of the right type;
- networks form no cycle among themselves (they are evaluated in order within a step);
- a feedback loop (a path population -> ... -> network -> unit -> population) has a delay of at
  least one step on the closing ANN -> SNN unit; ``delay_steps = 0`` is allowed only where no
  population feeds the network;
- sizes fit: a network's input is the sum of its inputs' sizes and its output the target
  population's size (found by calling the module once on zeros).

Each failure is one :class:`~hnnbio.errors.ModelSpecError` line naming the node.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hnnbio.errors import ModelSpecError
from hnnbio.hnn.nodes import HybridUnit, Input, Network, Population, Synapse, check_int


@dataclass(frozen=True)
class Edge:
    """One edge of the graph: ``source`` -> ``target`` through ``via`` (a node name or "")."""

    source: str
    target: str
    via: str = ""


@dataclass(eq=False)
class HNN:
    """A hybrid neural network: (ANNs, SNNs, HUs, graph).

    Parameters
    ----------
    name : str
    populations, synapses, networks, units, inputs : list of nodes
    dt_ms : float
        Simulation step in milliseconds.
    steps : int or None
        Default run length in steps.
    batch_size : int or None
        Samples simulated together as one group (None: all).
    n_samples : int
        Samples simulated when the graph has no input (default 1).
    monitors : list of dict
        Brian2 monitors to add, see :mod:`hnnbio.hnn.engine`.
    experiment : dict
        An experiment section read by the caller (e.g. binding), not by the graph.
    path : Path or None
        The file the graph came from (weights and relative paths are found beside it).
    """

    name: str
    populations: list = field(default_factory=list)
    synapses: list = field(default_factory=list)
    networks: list = field(default_factory=list)
    units: list = field(default_factory=list)
    inputs: list = field(default_factory=list)
    dt_ms: float = 1.0
    steps: int | None = None
    batch_size: int | None = None
    n_samples: int = 1
    monitors: list = field(default_factory=list)
    experiment: dict = field(default_factory=dict)
    description: str = ""
    path: object = None

    def __post_init__(self):
        self.validate()

    # --- lookup --------------------------------------------------------------------------------

    @property
    def nodes(self) -> dict:
        """Every node by name."""
        out = {}
        for group in (self.inputs, self.populations, self.synapses, self.networks, self.units):
            for node in group:
                out[node.name] = node
        return out

    def node(self, name: str):
        try:
            return self.nodes[name]
        except KeyError:
            raise ModelSpecError(f"{self.name}: no node named {name!r}") from None

    def unit_direction(self, unit: HybridUnit) -> str:
        return "snn_to_ann" if isinstance(self.nodes.get(unit.source), Population) else "ann_to_snn"

    @property
    def edges(self) -> list[Edge]:
        out = []
        for p in self.populations:
            if p.input:
                out.append(Edge(p.input, p.name))
        for s in self.synapses:
            out.append(Edge(s.source, s.target, s.name))
        for n in self.networks:
            out.extend(Edge(i, n.name) for i in n.inputs)
        for u in self.units:
            out.append(Edge(u.source, u.target, u.name))
        return out

    def network_order(self) -> list[Network]:
        """Networks in an order where each comes after the networks it reads."""
        nets = {n.name: n for n in self.networks}
        order, state = [], {}

        def visit(name, path):
            if state.get(name) == "done":
                return
            if state.get(name) == "active":
                raise ModelSpecError(f"{name}: networks form a cycle ({' -> '.join(path)})")
            state[name] = "active"
            for i in nets[name].inputs:
                if i in nets:
                    visit(i, [*path, i])
            state[name] = "done"
            order.append(nets[name])

        for name in nets:
            visit(name, [name])
        return order

    # --- validation ----------------------------------------------------------------------------

    def validate(self) -> None:
        """Check the whole graph; raises ModelSpecError naming the first bad node."""
        seen = {}
        for kind, group, cls in (("input", self.inputs, Input),
                                 ("population", self.populations, Population),
                                 ("synapse", self.synapses, Synapse),
                                 ("network", self.networks, Network),
                                 ("unit", self.units, HybridUnit)):
            for node in group:
                if not isinstance(node, cls):
                    raise ModelSpecError(f"{self.name}: {kind} {node!r} is not a {cls.__name__}")
                if node.name in seen:
                    raise ModelSpecError(f"{node.name}: name used twice ({seen[node.name]} and "
                                         f"{kind})")
                seen[node.name] = kind
        if not self.populations:
            raise ModelSpecError(f"{self.name}: the graph has no population")
        if not (isinstance(self.dt_ms, (int, float)) and not isinstance(self.dt_ms, bool)
                and 0 < self.dt_ms < float("inf")):
            raise ModelSpecError(f"{self.name}: dt must be a finite time > 0, got {self.dt_ms!r}")
        for key in ("steps", "batch_size"):
            if getattr(self, key) is not None:
                check_int(self.name, key, getattr(self, key), 1)
        check_int(self.name, "n_samples", self.n_samples, 1)
        nodes = self.nodes

        def expect(owner, key, name, types, what):
            if name not in nodes:
                raise ModelSpecError(f"{owner}: {key} names no node: {name!r}")
            if not isinstance(nodes[name], types):
                raise ModelSpecError(f"{owner}: {key} {name!r} is a {seen[name]}, not {what}")

        for p in self.populations:
            if p.input:
                expect(p.name, "input", p.input, Input, "an input")
        for s in self.synapses:
            expect(s.name, "source", s.source, Population, "a population")
            expect(s.name, "target", s.target, Population, "a population")
        for u in self.units:
            expect(u.name, "source", u.source, (Population, Network), "a population or network")
            src = nodes[u.source]
            if isinstance(src, Population):
                expect(u.name, "target", u.target, Network, "a network (source is a population)")
            else:
                expect(u.name, "target", u.target, Population,
                       "a population (source is a network)")
            u.check_direction(self.unit_direction(u))
        for n in self.networks:
            for i in n.inputs:
                expect(n.name, "inputs", i, (HybridUnit, Network, Input),
                       "a unit, network or input")
                if isinstance(nodes[i], HybridUnit) and nodes[i].target != n.name:
                    raise ModelSpecError(f"{n.name}: inputs names unit {i!r}, whose target is "
                                         f"{nodes[i].target!r}")
        for u in self.units:
            if self.unit_direction(u) == "snn_to_ann" and u.name not in nodes[u.target].inputs:
                raise ModelSpecError(f"{u.name}: its target network {u.target!r} does not list "
                                     f"it in inputs")
        self.network_order()
        self._check_feedback()
        self._check_sizes()

    def _fed_by_population(self) -> set[str]:
        """Networks that some population reaches (through units and other networks)."""
        fed, changed = set(), True
        while changed:
            changed = False
            for n in self.networks:
                if n.name in fed:
                    continue
                for i in n.inputs:
                    node = self.nodes[i]
                    if isinstance(node, HybridUnit) or i in fed:
                        fed.add(n.name)
                        changed = True
                        break
        return fed

    def _check_feedback(self) -> None:
        fed = self._fed_by_population()
        for u in self.units:
            if self.unit_direction(u) == "ann_to_snn" and u.delay_steps == 0 and u.source in fed:
                raise ModelSpecError(
                    f"{u.name}: closes a feedback loop (a population feeds network {u.source!r}) "
                    f"without a delay: give delay_steps >= 1")

    def size_of(self, name: str) -> int:
        """Values per sample that node ``name`` emits."""
        node = self.nodes[name]
        if isinstance(node, (Input, Population)):
            return node.size
        if isinstance(node, HybridUnit):
            return self.size_of(node.source)
        return self._network_sizes()[name][1]

    def _network_sizes(self) -> dict:
        if getattr(self, "_sizes", None) is None:
            self._sizes = {}
            for n in self.network_order():
                n_in = sum(self.size_of(i) for i in n.inputs)
                self._sizes[n.name] = (n_in, _probe(n, n_in))
        return self._sizes

    def _check_sizes(self) -> None:
        self._sizes = None
        sizes = self._network_sizes()
        for u in self.units:
            if self.unit_direction(u) == "ann_to_snn":
                out, size = sizes[u.source][1], self.nodes[u.target].size
                if out != size:
                    raise ModelSpecError(f"{u.name}: network {u.source!r} gives {out} values per "
                                         f"sample, population {u.target!r} has {size} neurons")

    def __repr__(self) -> str:
        return (f"HNN({self.name!r}: {len(self.populations)} populations, "
                f"{len(self.synapses)} synapses, {len(self.networks)} networks, "
                f"{len(self.units)} units, dt={self.dt_ms} ms)")


def _probe(network: Network, n_in: int) -> int:
    """Output size of ``network`` for ``n_in`` inputs, by one call on zeros (no gradients)."""
    import torch

    module = network.module
    try:
        param = next(iter(module.parameters()), None)
        x = torch.zeros(1, n_in, dtype=param.dtype if param is not None else torch.float32,
                        device=param.device if param is not None else "cpu")
        was = module.training
        module.eval()
        with torch.no_grad():
            y = module(x)
        module.train(was)
    except Exception as exc:  # any torch shape error: one line naming the network
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelSpecError(f"{network.name}: does not accept {n_in} inputs per sample, the "
                             f"sum of its inputs' sizes ({first})") from None
    if not isinstance(y, torch.Tensor) or y.ndim != 2 or y.shape[0] != 1:
        raise ModelSpecError(f"{network.name}: must return a (batch, n_out) tensor")
    return int(y.shape[1])
