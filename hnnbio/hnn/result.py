"""The result of a simulation of any HNN graph: per-population spikes, monitored state.

Spikes are kept sparse, one row per spike (sample, step, neuron), per recorded population.
``to_neo`` gives one ``neo.Block``: a Segment per sample, a ``neo.Group`` per population, one
SpikeTrain per neuron (silent neurons as empty trains).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from hnnbio.errors import DataError


def read_result_npz(path, kind: str) -> tuple[dict, dict]:
    """The ``meta`` JSON and the arrays of a result ``.npz``; DataError naming the file when it is
    missing or not ``kind`` result file (zip, JSON or key errors)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            arrays = {k: f[k] for k in f.files if k != "meta"}
    except FileNotFoundError:
        raise DataError(f"result file not found: {path}") from None
    except Exception as exc:  # zip, json or key errors: the file is not a result
        raise DataError(f"not {kind} result file: {path} ({type(exc).__name__})") from None
    return meta, arrays


#: The meta keys of a saved HNNResult and their checks (type, lowest value).
_META = {"name": (str, None), "n_samples": (int, 1), "n_steps": (int, 0),
         "dt_ms": (float, 0.0), "start_step": (int, 0), "sizes": (dict, None)}


def _checked_meta(meta, path) -> dict:
    if not isinstance(meta, dict):
        raise DataError(f"{path}: meta is not a JSON object")
    missing = sorted(set(_META) - set(meta))
    unknown = sorted(set(meta) - set(_META))
    if missing or unknown:
        what = f"lacks {missing[0]!r}" if missing else f"has unknown key {unknown[0]!r}"
        raise DataError(f"{path}: meta {what}")
    for key, (kind, low) in _META.items():
        value = meta[key]
        ok = isinstance(value, kind) and not isinstance(value, bool)
        if kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and \
                np.isfinite(value) and value > 0
        elif low is not None and ok:
            ok = value >= low
        if not ok:
            raise DataError(f"{path}: meta {key} = {value!r} is not a valid {kind.__name__}")
    for name, size in meta["sizes"].items():
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise DataError(f"{path}: meta sizes[{name!r}] = {size!r} is not a size >= 1")
    return dict(meta)


@dataclass
class Spikes:
    """The spikes of one population: parallel arrays, one row per spike."""

    sample: np.ndarray
    step: np.ndarray
    neuron: np.ndarray
    size: int

    def counts(self, n_samples: int) -> np.ndarray:
        """Spikes per neuron, shape (n_samples, size)."""
        out = np.zeros(n_samples * self.size, dtype=np.int64)
        np.add.at(out, self.sample.astype(np.int64) * self.size + self.neuron, 1)
        return out.reshape(n_samples, self.size)


@dataclass(eq=False)
class HNNResult:
    """Spikes and monitored values of one run of a graph on B samples.

    Attributes
    ----------
    name : str
        The graph's name.
    n_samples, n_steps : int
        B and the steps of this run; ``start_step`` is the engine's step when it began.
    dt_ms : float
    spikes : dict of str to Spikes
        Per recorded population.
    applied : dict of str to ndarray, shape (n_samples, n_recorded_steps, size), float32
        Per ANN -> SNN unit with ``record_steps``: its values at the last recorded steps.
    monitors : dict of str to Brian2 monitor
        The monitors asked for (``SpikeMonitor``, ``StateMonitor``, ``PopulationRateMonitor``).
    metrics : dict
        The model's own metrics, when a caller fills them.
    """

    name: str
    n_samples: int
    n_steps: int
    dt_ms: float
    spikes: dict = field(default_factory=dict)
    applied: dict = field(default_factory=dict)
    monitors: dict = field(default_factory=dict)
    start_step: int = 0
    metrics: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    @classmethod
    def from_simulation(cls, sim, start: int, steps: int) -> HNNResult:
        spikes = {}
        for name, per_step in sim.recorded.items():
            size = sim.populations[name].node.size
            counts = np.fromiter((r.size for r in per_step), dtype=np.int64, count=len(per_step))
            flat = np.concatenate(per_step) if per_step else np.zeros(0, dtype=np.int32)
            index_type = flat.dtype
            spikes[name] = Spikes(
                sample=flat // size,
                step=np.repeat(np.arange(start, start + steps, dtype=index_type), counts),
                neuron=flat % size, size=size)
        applied = {}
        for name, rows in sim.applied.items():
            size = sim.populations[sim.writes[name].node.target].node.size
            stacked = np.stack(rows, axis=1) if rows else np.zeros((sim.n_samples * size, 0))
            applied[name] = stacked.reshape(sim.n_samples, size, -1).transpose(0, 2, 1)
        return cls(name=sim.graph.name, n_samples=sim.n_samples, n_steps=steps,
                   dt_ms=sim.graph.dt_ms, spikes=spikes, applied=applied,
                   monitors=dict(sim.monitors), start_step=start)

    def spike_counts(self) -> dict:
        """Per population, spikes per neuron, shape (n_samples, size)."""
        return {k: s.counts(self.n_samples) for k, s in self.spikes.items()}

    def summary(self) -> dict:
        """What ``hnnbio run`` prints: sizes, spike totals and rates, the model's metrics."""
        out = dict(model=self.name, samples=self.n_samples, steps=self.n_steps, dt_ms=self.dt_ms)
        seconds = self.n_steps * self.dt_ms / 1000.0
        for name, s in self.spikes.items():
            out[f"spikes.{name}"] = int(s.step.size)
            out[f"rate_hz.{name}"] = float(s.step.size / (self.n_samples * s.size * seconds))
        out.update({k: float(np.nanmean(v)) for k, v in self.metrics.items()})
        return out

    def to_neo(self):
        """One ``neo.Block``: a Segment per sample, a Group per population, a train per neuron."""
        import neo
        import quantities as pq

        block = neo.Block(name=self.name, model=self.name, dt_ms=self.dt_ms)
        t_stop = (self.start_step + self.n_steps) * self.dt_ms * pq.ms
        t_start = self.start_step * self.dt_ms * pq.ms
        groups = {k: neo.Group(name=k, population=k) for k in self.spikes}
        for b in range(self.n_samples):
            seg = neo.Segment(name=f"sample {b}", index=b)
            for name, s in self.spikes.items():
                mine = s.sample == b
                steps, neurons = s.step[mine], s.neuron[mine]
                order = np.argsort(neurons, kind="stable")
                bounds = np.searchsorted(neurons[order], np.arange(s.size + 1))
                for n in range(s.size):
                    times = steps[order[bounds[n]:bounds[n + 1]]] * self.dt_ms
                    train = neo.SpikeTrain(np.sort(times) * pq.ms, t_start=t_start,
                                           t_stop=t_stop, name=f"{name}[{n}]",
                                           population=name, neuron=n, sample=b)
                    seg.spiketrains.append(train)
                    groups[name].add(train)
            block.segments.append(seg)
        block.groups.extend(groups.values())
        return block

    def save(self, path) -> None:
        """Write spikes and recorded values to a compressed ``.npz`` (see :meth:`load`)."""
        arrays = {}
        for name, s in self.spikes.items():
            for key in ("sample", "step", "neuron"):
                arrays[f"spikes/{name}/{key}"] = getattr(s, key)
        for name, v in self.applied.items():
            arrays[f"applied/{name}"] = v
        for name, v in self.metrics.items():
            arrays[f"metric/{name}"] = np.asarray(v)
        meta = dict(name=self.name, n_samples=self.n_samples, n_steps=self.n_steps,
                    dt_ms=self.dt_ms, start_step=self.start_step,
                    sizes={k: s.size for k, s in self.spikes.items()})
        np.savez_compressed(path, meta=np.array(json.dumps(meta)), **arrays)

    @classmethod
    def load(cls, path) -> HNNResult:
        """Read a result written by :meth:`save`; DataError naming the file and the field when
        a key is missing, of the wrong type or out of range (spikes outside the samples, steps
        or neurons the result declares)."""
        meta, arrays = read_result_npz(path, "an HNN")
        meta = _checked_meta(meta, path)
        sizes = meta.pop("sizes")
        spikes = {}
        for name, size in sizes.items():
            parts = []
            for key, high in (("sample", meta["n_samples"]), ("step", None), ("neuron", size)):
                arr = arrays.get(f"spikes/{name}/{key}")
                if arr is None or arr.ndim != 1 or arr.dtype.kind not in "iu":
                    raise DataError(f"{path}: spikes/{name}/{key} missing or not a 1-D integer "
                                    "array")
                low = meta["start_step"] if key == "step" else 0
                high = meta["start_step"] + meta["n_steps"] if key == "step" else high
                if arr.size and (arr.min() < low or arr.max() >= high):
                    raise DataError(f"{path}: spikes/{name}/{key} outside [{low}, {high})")
                parts.append(arr)
            if len({a.size for a in parts}) != 1:
                raise DataError(f"{path}: spikes/{name}: sample, step and neuron of different "
                                "lengths")
            spikes[name] = Spikes(*parts, size)
        known = {f"spikes/{k}/{f}" for k in sizes for f in ("sample", "step", "neuron")}
        for key in arrays:
            if key not in known and not key.startswith(("applied/", "metric/")):
                raise DataError(f"{path}: unexpected array {key!r} (not written by "
                                "HNNResult.save)")
        applied = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("applied/")}
        metrics = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("metric/")}
        return cls(spikes=spikes, applied=applied, metrics=metrics, **meta)

    def __repr__(self) -> str:
        pops = ", ".join(f"{k}: {s.step.size} spikes" for k, s in self.spikes.items())
        return (f"HNNResult({self.name!r}, samples={self.n_samples}, steps={self.n_steps}, "
                f"{pops})")
