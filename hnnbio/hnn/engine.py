"""The engine: co-simulate any valid HNN graph in one Brian2 run, PyTorch in network operations.

B samples are one group per population (never B networks). At the end of every step a single
``NetworkOperation`` reads the spikes of the recorded populations, steps the hybrid units, calls
each network that is due (``every``) and writes the ANN -> SNN units' values for the next step
(see :mod:`hnnbio.hnn.steps` for the order and the delay line). Per-step inputs (shape
(B, T, n)) are written for the next step there too.

Simulation settings stay the caller's: the Brian2 code-generation target is set only while the
network is built and run and restored afterwards; numpy's global generator (which Brian2's numpy
target draws ``rand()`` from) and torch's are seeded inside and restored afterwards.

>>> sim = Simulation(graph, inputs)            # doctest: +SKIP
>>> sim.store(); result = sim.run(100); sim.restore()   # doctest: +SKIP
"""

from __future__ import annotations

import collections
import contextlib
import copy
import gc

import numpy as np
import torch
from brian2 import Network, NetworkOperation, PopulationRateMonitor, SpikeMonitor, StateMonitor, ms
from brian2 import seed as brian_seed

from hnnbio.config import brian_target
from hnnbio.errors import DataError, ModelSpecError, ParameterError
from hnnbio.hnn.brian import GroupPopulation, build_synapses
from hnnbio.hnn.graph import HNN
from hnnbio.hnn.nodes import HybridUnit, Input, check_int
from hnnbio.hnn.result import HNNResult
from hnnbio.hnn.steps import DelayedWrite, NetworkStep, SpikeWindow

MONITORS = ("spikes", "state", "rate")


def check_seed(seed) -> int:
    """A seed must be an integer in [0, 2**32)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ParameterError(f"seed: must be an integer in [0, 2**32), got {seed!r}")
    return int(seed)


class Simulation:
    """One Brian2 network built from a graph for a batch of B samples.

    Parameters
    ----------
    graph : HNN
    inputs : ndarray or dict of str to ndarray, optional
        Per :class:`~hnnbio.hnn.nodes.Input` node, shape (B, size) (constant) or (B, T, size)
        (one row per step, T >= the steps run); a bare array when the graph has one input.
    n_samples : int, optional
        B when the graph has no inputs (default 1).
    seed : int
    device : str
        Torch device of the networks ("cpu", "cuda").
    target : str, optional
        Brian2 code-generation target for this simulation (default: ``HNNBIO_TARGET`` or auto).
    circuits : dict, optional
        Circuit name -> factory ``(node, n_samples, dt_ms, driven) -> population`` for
        populations with ``circuit``.
    monitors : list of dict, optional
        Extra Brian2 monitors: ``{"name": ..., "kind": "spikes" | "state" | "rate",
        "population": ..., "variables": [...], "record": True | [indices]}``; added to the
        graph's own ``monitors``.
    """

    def __init__(self, graph: HNN, inputs=None, *, n_samples: int | None = None, seed: int = 0,
                 device: str = "cpu", target: str | None = None, circuits: dict | None = None,
                 monitors: list | None = None):
        if not isinstance(graph, HNN):
            raise ParameterError(f"graph: expected an HNN, got {type(graph).__name__}")
        self.graph, self.seed, self.target = graph, check_seed(seed), target
        self.device = _check_device(device)
        self.inputs = _check_inputs(graph, inputs)
        sizes = {v.shape[0] for v in self.inputs.values()}
        if len(sizes) > 1:
            raise DataError(f"inputs: different numbers of samples {sorted(sizes)}")
        self.n_samples = sizes.pop() if sizes else check_int(
            "simulation", "n_samples", graph.n_samples if n_samples is None else n_samples, 1)
        self.rng = np.random.default_rng(self.seed)
        self.t = 0
        self._until, self._check_every = None, 1
        with self._seeded(), brian_target(target):
            self._build(circuits or {}, list(graph.monitors) + list(monitors or []))

    # --- building ------------------------------------------------------------------------------

    def _build(self, circuits: dict, monitors: list) -> None:
        g, B, dt = self.graph, self.n_samples, self.graph.dt_ms
        brian_seed(self.seed)
        self.populations = {}
        for p in g.populations:
            driven = None
            if p.drop_undriven:
                values = self.inputs[p.input]
                driven = (values if values.ndim == 2 else values.any(axis=1)) != 0
            if p.circuit is not None:
                if p.circuit not in circuits:
                    raise ModelSpecError(f"{p.name}: circuit {p.circuit!r} is not one of "
                                         f"{', '.join(circuits) or 'none given'}")
                self.populations[p.name] = circuits[p.circuit](p, B, dt, driven)
            else:
                self.populations[p.name] = GroupPopulation(p, B, dt, driven)
        fed = g._fed_by_population()
        for p in g.populations:  # before the units read the base of multiply / shift
            if p.input is not None:
                self.populations[p.name].write(p.input_variable, self._input_at(p.input, 0))
        # units: delay lines first, so the initial draws come first from the generator
        self.writes = {}
        for u in g.units:
            if g.unit_direction(u) == "ann_to_snn":
                pop = self.populations[u.target]
                base = pop.read(u.variable) if u.operation in ("multiply", "shift") else None
                self.writes[u.name] = DelayedWrite(u, B * pop.node.size, u.source in fed,
                                                   self.rng, base)
        for u in g.units:
            if g.unit_direction(u) == "snn_to_ann" and not _spiking(self.populations[u.source]):
                raise ModelSpecError(f"{u.name}: its source {u.source!r} has no threshold, so "
                                     "no spikes for the unit to read")
        self.windows = {u.name: SpikeWindow(u, B * self.populations[u.source].node.size, self.rng)
                        for u in g.units if g.unit_direction(u) == "snn_to_ann"}
        # networks fed by a population first, then the others: an input-only network makes the
        # value of step t + 1, so a fed network (step t) must read it before it is replaced
        order = g.network_order()
        order = [n for n in order if n.name in fed] + [n for n in order if n.name not in fed]
        self.networks = {n.name: NetworkStep(n, B, g._network_sizes()[n.name], n.name in fed,
                                             self.device) for n in order}
        self._consumers = {name: [u for u, w in self.writes.items() if w.node.source == name]
                           for name in self.networks}  # names: restore replaces the objects
        self.synapses = {}
        for s in g.synapses:
            pre, post = self.populations[s.source], self.populations[s.target]
            for end in (pre, post):
                if not isinstance(end, GroupPopulation):
                    raise ModelSpecError(f"{s.name}: synapses cannot end at circuit "
                                         f"{end.node.name!r}")
            self.synapses[s.name] = build_synapses(s, pre, post, B, dt, self.rng)
        # a population without a threshold (e.g. an integrator readout ``v : volt``) has no spikes
        self.recorded = {p.name: [] for p in g.populations
                         if p.record and _spiking(self.populations[p.name])}
        self.applied = {u: [] for u, w in self.writes.items() if w.node.record_steps}
        self._record_from = self._record_to = 0
        self._bar = None
        for name, net in self.networks.items():  # input-only networks make step 0's value now
            if not net.fed:
                self._produce(name, net, 0)
        self._apply(0)
        self.monitors = {m.get("name", f"monitor{k}"): self._monitor(m)
                         for k, m in enumerate(monitors)}
        objects = [o for pop in self.populations.values() for o in pop.objects]
        objects += list(self.synapses.values()) + list(self.monitors.values())
        objects.append(NetworkOperation(self._operation, dt=dt * ms, when="end"))
        self.network = Network(*objects)

    def _monitor(self, spec: dict):
        allowed = {"name", "kind", "population", "variables", "record"}
        unknown = set(spec) - allowed
        where = spec.get("name", "monitor")
        if unknown:
            raise ModelSpecError(f"{where}: unknown key {sorted(unknown)[0]!r}; known: "
                                 f"{', '.join(sorted(allowed))}")
        kind = spec.get("kind")
        if kind not in MONITORS:
            raise ModelSpecError(f"{where}: kind must be one of {', '.join(MONITORS)}, "
                                 f"got {kind!r}")
        if spec.get("population") not in self.populations:
            raise ModelSpecError(f"{where}: population names no population: "
                                 f"{spec.get('population')!r}")
        group = self.populations[spec["population"]].output
        if kind == "spikes":
            return SpikeMonitor(group, name=f"{where}*")
        if kind == "rate":
            return PopulationRateMonitor(group, name=f"{where}*")
        variables = spec.get("variables") or []
        if not variables or not all(isinstance(v, str) for v in variables):
            raise ModelSpecError(f"{where}: variables must list the state variables to record")
        for v in variables:
            if v not in group.variables:
                raise ModelSpecError(f"{where}: population {spec['population']!r} has no "
                                     f"variable {v!r}")
        return StateMonitor(group, variables, record=spec.get("record", True), name=f"{where}*")

    # --- running -------------------------------------------------------------------------------

    def _input_at(self, name: str, step: int) -> np.ndarray:
        values = self.inputs[name]
        return (values if values.ndim == 2 else values[:, step]).reshape(-1)

    def _apply(self, step: int) -> None:
        """Write the values due at ``step`` (ANN -> SNN units); keep the recorded ones."""
        for name, w in self.writes.items():
            w.apply(self.populations[w.node.target], step)
            if name in self.applied and self._record_from <= step < self._record_to:
                self.applied[name].append(np.array(w.due(step), dtype=np.float32))

    def _network_inputs(self, net: NetworkStep, step: int) -> list:
        out = []
        for i in net.node.inputs:
            node = self.graph.nodes[i]
            if isinstance(node, HybridUnit):
                w = self.windows[i]
                out.append(("sparse", w.active()) if w.binary and net.sparse is not None
                           else ("dense", w.dense()))
            elif isinstance(node, Input):
                out.append(("dense", self._input_at(i, min(step, self._n_input_steps(i) - 1))))
            else:
                out.append(("dense", self.networks[i].output.numpy()))
        return out

    def _n_input_steps(self, name: str) -> int:
        values = self.inputs[name]
        return 1 if values.ndim == 2 else values.shape[1]

    def _operation(self) -> None:
        t = self.t
        spikes = {}
        for name, pop in self.populations.items():
            if name in self.recorded or any(u.source == name for u in self.graph.units):
                idx = pop.spike_indices()
                spikes[name] = idx
                if name in self.recorded:
                    self.recorded[name].append(np.array(idx, dtype=self._index_type))
        for w in self.windows.values():
            w.step(spikes[w.node.source])
        for name, net in self.networks.items():
            self._produce(name, net, t if net.fed else t + 1)
        for p in self.graph.populations:
            values = self.inputs.get(p.input)
            if values is not None and values.ndim == 3 and t + 1 < values.shape[1]:
                self.populations[p.name].write(p.input_variable, values[:, t + 1].reshape(-1))
        self._apply(t + 1)
        self.t = t + 1
        if self._bar is not None and self.t % 100 == 0:
            self._bar.update(100)
        if self._until is not None and self.t % self._check_every == 0 and self._until(self):
            self.network.stop()  # Brian2 ends the run after this step

    def _produce(self, name: str, net: NetworkStep, produced: int) -> None:
        """The value of network ``name`` for step ``produced`` into its units' delay lines: a
        new call when due (``every``), else its last output, held between calls."""
        consumers = [self.writes[u] for u in self._consumers[name]]
        if net.due(produced):
            out = None
            if len(consumers) == 1 and consumers[0].direct and self.device == "cpu":
                out = consumers[0].slot_for(produced).view(net.n_samples, net.n_out)
            y = net.forward(self._network_inputs(net, produced), out=out)
        else:
            y = net.output
        for w in consumers:
            w.put(produced, y)

    def run(self, steps: int, progress: bool = False, until=None,
            check_every: int = 1) -> HNNResult:
        """Run ``steps`` more steps; return the result of this call's steps.

        ``until``: a callable ``until(sim) -> bool`` asked at the end of every step whose count
        ``sim.t`` is a multiple of ``check_every``; when it returns True the run ends after that
        step (fewer than ``steps``: the result's ``n_steps`` says how many ran). The recorded
        values of the ANN -> SNN units are then those of the last ``record_steps`` steps run.
        """
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ParameterError(f"steps: must be a positive integer, got {steps!r}")
        steps = int(steps)
        if until is not None and not callable(until):
            raise ParameterError(f"until: must be callable, got {until!r}")
        if isinstance(check_every, bool) or not isinstance(check_every, (int, np.integer)) or \
                check_every < 1:
            raise ParameterError(f"check_every: must be a positive integer, got {check_every!r}")
        for name, values in self.inputs.items():
            if values.ndim == 3 and values.shape[1] < self.t + steps:
                raise DataError(f"inputs: {name!r} has {values.shape[1]} steps, the run needs "
                                f"{self.t + steps}")
        start = self.t
        size = max(self.n_samples * max(p.size for p in self.graph.populations), start + steps)
        self._index_type = np.int32 if size < 2**31 else np.int64
        longest = max([w.node.record_steps for w in self.writes.values()] + [0])
        self._record_from, self._record_to = start + steps - longest, start + steps
        if until is not None:  # the last steps are not known in advance: keep a rolling window
            self._record_from = start
        self._until, self._check_every = until, check_every
        for name in self.recorded:
            self.recorded[name] = []
        for name in self.applied:
            self.applied[name] = [] if until is None else collections.deque(maxlen=longest + 1)
            if self._record_from <= start:
                self.applied[name].append(np.array(self.writes[name].due(start), np.float32))
        if progress:
            from tqdm import tqdm

            self._bar = tqdm(total=steps, unit="step", leave=False)
        gc.freeze()  # the run's many long-lived objects stay out of the collector's scans
        try:
            with self._seeded(), brian_target(self.target):
                self.network.run(steps * self.graph.dt_ms * ms)
        finally:
            gc.unfreeze()
            self._until = None
            if self._bar is not None:
                self._bar.close()
                self._bar = None
        if self.t != start + steps and (until is None or not start < self.t < start + steps):
            raise RuntimeError(f"engine ran {self.t - start} of {steps} steps")
        if until is not None:  # rows up to step t, whose row (not applied yet) a stop appends
            for name, rows in self.applied.items():
                rows = list(rows)[: None if self.t == start + steps else -1]
                self.applied[name] = rows[-self.writes[name].node.record_steps:]
        return HNNResult.from_simulation(self, start, self.t - start)

    def pending(self, unit: str) -> np.ndarray:
        """The delay line of ANN -> SNN unit ``unit``: the values it will apply, shape (slots,
        n_samples * size), slot ``s`` for the steps ``t`` with ``t mod slots == s`` (a view)."""
        if unit not in self.writes:
            raise ParameterError(f"unit: {unit!r} is not an ANN -> SNN unit of the graph "
                                 f"({', '.join(self.writes) or 'none'})")
        return self.writes[unit].ring

    # --- store / restore -----------------------------------------------------------------------

    def store(self, name: str = "default") -> None:
        """Brian2's ``Network.store`` plus the engine's own state (units, delay lines, step)."""
        self.network.store(name)
        self._stored = getattr(self, "_stored", {})
        self._stored[name] = self._copy_state(self._own_state())

    def restore(self, name: str = "default") -> None:
        """Go back to the state saved by :meth:`store` under ``name``."""
        if name not in getattr(self, "_stored", {}):
            raise ParameterError(f"restore: nothing stored under {name!r}")
        self.network.restore(name)
        state = self._copy_state(self._stored[name])
        for k, out in state.pop("outputs").items():
            self.networks[k].output = out
        for k, v in state.items():
            setattr(self, k, v)

    def _own_state(self) -> dict:
        return dict(t=self.t, rng=self.rng, windows=self.windows, writes=self.writes,
                    _np_state=self._np_state, _torch_state=self._torch_state,
                    outputs={k: n.output for k, n in self.networks.items()})

    def _copy_state(self, state: dict) -> dict:
        """A deep copy that shares the graph's nodes (and their torch modules)."""
        memo = {id(node): node for node in self.graph.nodes.values()}
        memo.update({id(n.module): n.module for n in self.graph.nodes.values()
                     if getattr(n, "module", None) is not None})
        return copy.deepcopy(state, memo)

    @contextlib.contextmanager
    def _seeded(self):
        """Seed numpy's global generator (Brian2's numpy ``rand()``) and torch for the run from
        the simulation's own stream; restore the caller's generators afterwards.

        Brian2's Cython ``rand()`` / ``randn()`` read buffers of numbers shared by the whole
        process, refilled from numpy's generator; they are emptied on the way in and out, so a
        simulation draws from its own stream only (store / restore, other simulations or the
        caller's Brian2 runs in between do not change its spikes).
        """
        state = np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            if not hasattr(self, "_np_state"):
                np.random.seed(self.seed)
                torch.manual_seed(self.seed)
            else:
                np.random.set_state(self._np_state)
                torch.set_rng_state(self._torch_state)
            _empty_random_buffers()
            try:
                yield
            finally:
                self._np_state = np.random.get_state()
                self._torch_state = torch.get_rng_state()
                np.random.set_state(state)
                _empty_random_buffers()


def simulate(graph: HNN, inputs=None, steps: int | None = None, **kwargs) -> HNNResult:
    """Build a :class:`Simulation` and run it for ``steps`` (default ``graph.steps``)."""
    steps = steps if steps is not None else graph.steps
    if steps is None:
        raise ParameterError("steps: not given and the graph has no default run length")
    progress = kwargs.pop("progress", False)
    return Simulation(graph, inputs, **kwargs).run(steps, progress=progress)


def _spiking(pop) -> bool:
    """Whether a lowered population's output group spikes (Brian2 gives a group a spike space
    only when it has a threshold)."""
    variables = getattr(pop.output, "variables", None)
    return variables is None or "_spikespace" in variables


def _empty_random_buffers() -> None:
    """Make Brian2's next Cython ``rand()`` / ``randn()`` refill its buffer from numpy's global
    generator (index 0: Brian2's own refill path, as after ``brian2.seed``); the numpy target
    has no buffer and is unaffected."""
    from brian2.devices.device import get_device

    device = get_device()
    for name in ("rand_buffer_index", "randn_buffer_index"):
        index = getattr(device, name, None)
        if index is not None:
            index[:] = 0


def _check_device(device: str) -> str:
    if not isinstance(device, str):
        raise ParameterError(f"device: expected a string such as 'cpu' or 'cuda', got {device!r}")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ParameterError(f"device: {device!r} is not a torch device (cpu, cuda)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError("device: cuda asked for, but no CUDA device is available here")
    if dev.type not in ("cpu", "cuda"):
        raise ParameterError(f"device: {device!r} is not supported (cpu, cuda)")
    return device


def _check_inputs(graph: HNN, inputs) -> dict:
    names = [i.name for i in graph.inputs]
    if inputs is None:
        inputs = {}
    elif not isinstance(inputs, dict):
        if len(names) != 1:
            raise DataError(f"inputs: the graph has {len(names)} inputs ({', '.join(names)}): "
                            f"give a dict by name")
        inputs = {names[0]: inputs}
    out = {}
    for name, values in inputs.items():
        if name not in names:
            raise DataError(f"inputs: {name!r} is not an input of the graph "
                            f"({', '.join(names) or 'none'})")
        arr = np.asarray(values)
        if arr.dtype == bool:
            arr = arr.astype(np.float32)
        if arr.dtype.kind not in "iuf":
            raise DataError(f"inputs: {name!r} must be numeric, got dtype {arr.dtype}")
        size = graph.nodes[name].size
        if arr.ndim not in (2, 3) or arr.shape[-1] != size or arr.shape[0] < 1:
            raise DataError(f"inputs: {name!r} must have shape (n_samples, {size}) or "
                            f"(n_samples, n_steps, {size}), got {arr.shape}")
        if not np.isfinite(arr).all():
            raise DataError(f"inputs: {name!r} contains NaN or infinite values")
        out[name] = arr
    missing = [n for n in names if n not in out]
    if missing:
        raise DataError(f"inputs: no values given for input {missing[0]!r}")
    return out
