"""Brian2 lowering of the graph's spiking nodes: populations and synapses as Brian2 objects.

B samples of a population of ``size`` neurons are one ``NeuronGroup`` of ``B * size`` neurons,
index ``sample * size + neuron`` (or, with ``drop_undriven``, one neuron per driven index and a
lookup table ``units`` from group index to that flat index). Synapses repeat the sample's
connection pattern in each of the B blocks, so samples never touch each other.

The one private Brian2 attribute hnnbio reads, the spike space of a group (the indices that
spiked in the step just simulated), is read in :func:`step_spike_indices` only;
``tests/hnn/test_brian.py`` checks it against a ``SpikeMonitor`` so a change in Brian2 fails
loudly there.
"""

from __future__ import annotations

import numpy as np
from brian2 import NeuronGroup, Synapses, ms

from hnnbio.errors import ModelSpecError, ParameterError
from hnnbio.hnn.nodes import Population, Synapse

#: Brian2's own default choice of integration methods, tried in order.
DEFAULT_METHODS = ("exact", "euler", "heun")


def step_spike_indices(group) -> np.ndarray:
    """Indices of the neurons of ``group`` that spiked in the step just simulated (a view).

    Reads Brian2's spike space (``_spikespace``: the spiking indices, then their count in the
    last element), which Brian2 fills during thresholding on the numpy and Cython targets.
    """
    space = group.variables["_spikespace"].get_value()
    return space[: space[-1]]


def named_models() -> dict:
    """The named neuron models: name -> (builder, parameter class)."""
    from hnnbio.neurons import coincidence, lif, pyramidal, self_inhibiting, stochastic

    return {
        "lif": (lif.build_lif, lif.LIFParams),
        "self_inhibiting": (self_inhibiting.build_self_inhibiting,
                            self_inhibiting.SelfInhibitingParams),
        "coincidence": (coincidence.build_coincidence, coincidence.CoincidenceParams),
        "pyramidal": (pyramidal.build_pyramidal, pyramidal.PyramidalParams),
        "stochastic": (stochastic.build_stochastic, stochastic.StochasticParams),
    }


class GroupPopulation:
    """A population lowered to one NeuronGroup (the interface the engine uses of every
    population, circuits included: ``objects``, ``output``, ``units``, ``write``, ``read``)."""

    def __init__(self, node: Population, n_samples: int, dt_ms: float, driven=None):
        self.node, self.n_samples = node, n_samples
        self.units = None if driven is None else np.flatnonzero(driven.ravel())
        if self.units is not None and self.units.size == 0:
            raise ParameterError(f"{node.name}: no driven neuron at all (every input is 0)")
        n = n_samples * node.size if self.units is None else int(self.units.size)
        dt = dt_ms * ms
        name = f"{node.name}*"
        if node.model is not None:
            models = named_models()
            if node.model not in models:
                raise ModelSpecError(f"{node.name}: model {node.model!r} is not one of "
                                     f"{', '.join(models)}")
            builder, _ = models[node.model]
            params = {k: self.per_neuron(v) for k, v in node.params.items()}
            self.group = builder(n, name=name, dt=dt, **params)
        elif node.group is not None:
            self.group = node.group(n)
            if not isinstance(self.group, NeuronGroup) or self.group.N != n:
                raise ModelSpecError(f"{node.name}: group(n) must return a NeuronGroup of n = "
                                     f"{n} neurons")
        else:
            refractory = node.refractory
            if node.refractory_steps is not None:
                refractory = (node.refractory_steps + 1) * dt
            try:
                self.group = NeuronGroup(
                    n, node.equations, threshold=node.threshold, reset=node.reset,
                    refractory=refractory if refractory is not None else False,
                    method=node.method or DEFAULT_METHODS, namespace=dict(node.namespace),
                    dt=dt, name=name,
                    dtype={k: np.dtype(v) for k, v in node.dtype.items()} or None)
                for key, value in node.params.items():
                    setattr(self.group, key, self.per_neuron(value))
            except ModelSpecError:
                raise
            except Exception as exc:  # Brian2's parse and unit errors: one line naming the node
                raise ModelSpecError(f"{node.name}: {_first_line(exc)}") from None
        self.output = self.group
        self.objects = [self.group]

    def per_neuron(self, value):
        """A value with one entry per neuron of a sample, shape (size,), repeated in every sample
        (and taken at the built neurons with ``drop_undriven``); any other value unchanged."""
        if isinstance(value, str):
            return value
        arr = np.asarray(value)
        if arr.ndim != 1 or arr.shape[0] != self.node.size:
            return value
        flat = np.arange(self.n_samples * self.node.size) if self.units is None else self.units
        index = flat % self.node.size
        return value[index] if hasattr(value, "dim") else arr[index]

    def variable(self, name: str):
        if name not in self.group.variables or name.startswith("_"):
            raise ModelSpecError(f"{self.node.name}: has no variable {name!r}")
        return self.group.variables[name]

    def write(self, name: str, flat: np.ndarray) -> None:
        """Set variable ``name`` from ``flat`` values, shape (n_samples * size,), unit-less."""
        target = self.variable(name).get_value()
        if self.units is None:
            target[:] = flat
        elif flat.dtype == target.dtype:
            np.take(flat, self.units, out=target, mode="clip")  # units < n_samples * size
        else:
            target[:] = flat[self.units]

    def read(self, name: str) -> np.ndarray:
        """Variable ``name`` as (n_samples * size,) unit-less values (0 for dropped neurons)."""
        values = self.variable(name).get_value()
        if self.units is None:
            return values.copy()
        out = np.zeros(self.n_samples * self.node.size, dtype=values.dtype)
        out[self.units] = values
        return out

    def spike_indices(self) -> np.ndarray:
        """Flat indices (sample * size + neuron) that spiked in the step just simulated."""
        fired = step_spike_indices(self.output)
        return fired if self.units is None else self.units[fired]


def build_synapses(node: Synapse, pre, post, n_samples: int, dt_ms: float,
                   rng: np.random.Generator) -> Synapses:
    """The Brian2 Synapses of ``node`` between two lowered populations, block-diagonal over the
    samples (the sample's pattern repeated in every sample)."""
    n_pre, n_post = pre.node.size, post.node.size
    i, j = local_pattern(node, n_pre, n_post, rng)
    offsets = np.repeat(np.arange(n_samples) * n_pre, i.size), np.repeat(
        np.arange(n_samples) * n_post, i.size)
    gi, gj = np.tile(i, n_samples) + offsets[0], np.tile(j, n_samples) + offsets[1]
    gi, gj, kept = _to_units(gi, gj, pre.units, post.units)
    try:
        syn = Synapses(pre.output, post.output,
                       model=node.model, on_pre=node.on_pre or None,
                       on_post=node.on_post or None, delay=node.delay,
                       method=node.method or DEFAULT_METHODS,
                       namespace=dict(node.namespace), dt=dt_ms * ms, name=f"{node.name}*")
        if gi.size:
            syn.connect(i=gi, j=gj)
        else:  # no pair at all (p = 0, an empty list): Brian2's connect(i=[], j=[]) fails
            syn.connect(False)
        for key, value in node.values.items():
            arr = np.asarray(value)
            if arr.ndim == 1 and arr.size == i.size:  # one value per connection of a sample
                index = np.tile(np.arange(i.size), n_samples)[kept]
                value = value[index] if hasattr(value, "dim") else arr[index]
            setattr(syn, key, value)
    except ModelSpecError:
        raise
    except Exception as exc:
        raise ModelSpecError(f"{node.name}: {_first_line(exc)}") from None
    return syn


def local_pattern(node: Synapse, n_pre: int, n_post: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """The connections within one sample, (i, j) neuron indices."""
    c = node.connect
    if c == "one_to_one":
        if n_pre != n_post:
            raise ModelSpecError(f"{node.name}: one_to_one needs equal sizes, got {n_pre} and "
                                 f"{n_post}")
        return np.arange(n_pre), np.arange(n_pre)
    if c == "all_to_all":
        return np.repeat(np.arange(n_pre), n_post), np.tile(np.arange(n_post), n_pre)
    if "p" in c:
        mask = rng.random((n_pre, n_post)) < float(c["p"])
        i, j = np.nonzero(mask)
        return i, j
    i, j = np.asarray(c["i"], dtype=np.int64), np.asarray(c["j"], dtype=np.int64)
    if i.size and (i.max() >= n_pre or j.max() >= n_post):
        raise ModelSpecError(f"{node.name}: connect indices out of range ({n_pre} x {n_post})")
    return i, j


def _to_units(gi, gj, pre_units, post_units):
    """Map flat indices to group indices of populations built with ``drop_undriven``; drop the
    connections of neurons that were not built (``keep``: which connections remain)."""
    keep = np.ones(gi.size, dtype=bool)
    out = []
    for idx, units in ((gi, pre_units), (gj, post_units)):
        if units is None:
            out.append(idx)
            continue
        pos = np.searchsorted(units, idx)
        pos_clip = np.minimum(pos, units.size - 1)
        keep &= units[pos_clip] == idx
        out.append(pos_clip)
    return out[0][keep], out[1][keep], keep


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
