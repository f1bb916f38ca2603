r"""Dendritic-segment neuron (NeuTNN): proximal segments drive the soma, distal segments prime it.

Each neuron has ``n_proximal`` proximal and ``n_distal`` distal dendritic segments. A segment is an
exact coincidence detector (:mod:`hnnbio.neurons.coincidence`): it emits a *dendritic event* when
at least ``theta`` of its synapses were active within its ``window`` (box potentials: an input
counts for exactly ``window`` after it arrives), once per crossing. The soma

.. math::

    \tau_{mem}\, \frac{dv}{dt} = -v, \qquad
    v \leftarrow v + w_{proximal}\,(1 + g_{distal}\, P(t)) \text{ per proximal event}

fires when :math:`v \ge v_{threshold} - \Delta_{distal}\, P(t)`, where :math:`P(t) = 1` while a
distal plateau is on (for ``plateau`` after the last distal event: at the steps k after the event
step m with :math:`(k - m)\,dt < ` ``plateau``, a tie counting as over, see
:data:`PLATEAU_MARGIN`) and 0 otherwise; reset to
``v_reset``. Proximal events are required for firing: distal events never change ``v``, and
:math:`\Delta_{distal} < v_{threshold}` (checked) keeps the lowered threshold above the resting
potential 0, so context alone cannot fire the cell; with context the cell fires on fewer proximal
events, i.e. earlier (threshold lowering, ``distal_shift``) or with more drive per event (gain,
``distal_gain``). ``tau_mem = inf`` is not allowed; a long ``tau_mem`` approximates NeuTNN's
ramp-no-leak soma.

Latency in steps of ``dt`` (Brian2's order: state update, threshold, synapses, reset): an input
spike at step n reaches its segment at step n, the segment's event leaves at step n + 1 (the
input that completes the coincidence counts from the next threshold test), a proximal event
changes ``v`` in that step and the soma fires at the earliest at step n + 2; a distal event at
step m lowers the threshold from step m + 1 until ``plateau`` later.

Groups (one :class:`SegmentNeuron`): ``segments`` (``n_neurons * (n_proximal + n_distal)``
coincidence detectors; segment ``s`` of neuron ``i`` has index ``i * n_segments + s``, proximal
first), ``soma`` (``n_neurons``) and the two event pathways. Connect inputs with
:func:`connect_segments`, which refuses a segment with fewer synapses than its ``theta``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from brian2 import NeuronGroup, Synapses, ms, mV

from hnnbio.errors import ParameterError
from hnnbio.neurons._params import (
    check_integer,
    check_n_neurons,
    check_positive,
    check_units,
    quantity,
    resolve,
)
from hnnbio.neurons.coincidence import build_coincidence, connect_coincidence

SOMA_EQUATIONS = """
dv/dt = -v / tau_mem : volt (unless refractory)
plateau_until : second
tau_mem : second (constant)
v_threshold : volt (constant)
v_reset : volt (constant)
w_proximal : volt (constant)
distal_shift : volt (constant)
distal_gain : 1 (constant)
plateau : second (constant)
plateau_margin : second (constant)  # PLATEAU_MARGIN * dt
"""

#: A plateau is on while ``t < plateau_until - plateau_margin`` (``PLATEAU_MARGIN * dt``):
#: Brian2's clock time is the float ``step * dt``, so at ``k - m = plateau / dt`` the bare
#: ``t_k < t_m + plateau`` holds for some event steps m and not for others (dt 1 ms, plateau
#: 10 ms: m = 9, 17, 18, 34, ... give a 10-step plateau, every other m 9 steps). The margin
#: makes that tie always "off".
PLATEAU_MARGIN = 1e-3
_PLATEAU_ON = "int(t < plateau_until - plateau_margin)"

#: Threshold of the soma: lowered by ``distal_shift`` while a distal plateau is on.
SOMA_THRESHOLD = f"v >= v_threshold - distal_shift * {_PLATEAU_ON}"

#: State variables (soma).
STATE_VARIABLES = ("v", "plateau_until")


@dataclass(frozen=True, eq=False)
class SegmentParams:
    """Parameters of :func:`build_segment_neuron` (scalars: one kind of neuron per group).

    Attributes
    ----------
    n_proximal, n_distal : int
        Segments per neuron (``n_proximal >= 1``, ``n_distal >= 0``).
    theta_proximal, theta_distal : int
        Active synapses a segment needs within its window to emit an event (>= 1; at most the
        segment's synapse count, checked by :func:`connect_segments`).
    window : Quantity, second
        Coincidence window of every segment (> 0).
    plateau : Quantity, second
        How long a distal event keeps the soma primed (> 0).
    w_proximal : Quantity, volt
        Jump of ``v`` per proximal event (> 0).
    tau_mem : Quantity, second
        Soma leak (> 0).
    v_threshold : Quantity, volt
        Soma threshold without context (> 0, above ``v_reset``).
    v_reset : Quantity, volt
        Reset after a somatic spike (< ``v_threshold``).
    distal_shift : Quantity, volt
        Threshold lowering during a plateau (>= 0, < ``v_threshold``).
    distal_gain : float
        Extra gain of proximal events during a plateau (>= 0).
    refractory : Quantity, second
        Soma refractory period (>= 0).
    """

    n_proximal: object = 1
    n_distal: object = 1
    theta_proximal: object = 2
    theta_distal: object = 2
    window: object = quantity(3 * ms)
    plateau: object = quantity(20 * ms)
    w_proximal: object = quantity(10 * mV)
    tau_mem: object = quantity(20 * ms)
    v_threshold: object = quantity(15 * mV)
    v_reset: object = quantity(0 * mV)
    distal_shift: object = quantity(8 * mV)
    distal_gain: object = 0.0
    refractory: object = quantity(0 * ms)

    def __post_init__(self):
        check_units(self)
        for name in ("n_proximal", "n_distal", "theta_proximal", "theta_distal", "window",
                     "plateau", "w_proximal", "tau_mem", "v_threshold", "v_reset",
                     "distal_shift", "distal_gain", "refractory"):
            if np.ndim(getattr(self, name)) != 0:
                raise ParameterError(f"{name}: one value per group, got shape "
                                     f"{np.shape(getattr(self, name))}")
        check_integer(self, "n_proximal", low=1)
        check_integer(self, "n_distal", low=0)
        check_integer(self, "theta_proximal", low=1)
        check_integer(self, "theta_distal", low=1)
        check_positive(self, ("window", "plateau", "w_proximal", "tau_mem", "v_threshold"))
        check_positive(self, ("distal_shift", "distal_gain", "refractory"), allow_zero=True)
        if not float(self.v_reset) < float(self.v_threshold):
            raise ParameterError(f"v_reset: must be below v_threshold ({self.v_threshold}), "
                                 f"got {self.v_reset}")
        if not float(self.distal_shift) < float(self.v_threshold):
            raise ParameterError(f"distal_shift: must be below v_threshold ({self.v_threshold}) "
                                 f"so that distal events alone never fire, got {self.distal_shift}")

    @property
    def n_segments(self) -> int:
        return int(self.n_proximal) + int(self.n_distal)


@dataclass(eq=False)
class SegmentNeuron:
    """The groups of a population of dendritic-segment neurons (add :attr:`objects` to a
    ``Network``)."""

    params: SegmentParams
    n_neurons: int
    segments: NeuronGroup
    soma: NeuronGroup
    proximal_events: Synapses
    distal_events: Synapses

    @property
    def objects(self) -> list:
        return [self.segments, self.soma, self.proximal_events, self.distal_events]

    def segment_index(self, neuron, segment) -> np.ndarray:
        """Index in :attr:`segments` of segment ``segment`` (0 .. n_segments - 1, proximal first)
        of neuron ``neuron``."""
        neuron, segment = np.asarray(neuron), np.asarray(segment)
        n_seg = self.params.n_segments
        if np.any((neuron < 0) | (neuron >= self.n_neurons)):
            raise ParameterError(f"neuron: indices must lie in [0, {self.n_neurons}), "
                                 f"got {neuron.min()}..{neuron.max()}")
        if np.any((segment < 0) | (segment >= n_seg)):
            raise ParameterError(f"segment: indices must lie in [0, {n_seg}), "
                                 f"got {segment.min()}..{segment.max()}")
        return neuron * n_seg + segment


def build_segment_neuron(n_neurons: int, params: SegmentParams | None = None, *,
                         name: str | None = None, dt=None, **overrides) -> SegmentNeuron:
    """A population of dendritic-segment neurons (see the module docstring).

    Parameters
    ----------
    n_neurons : int
        Number of neurons (>= 1).
    params : SegmentParams, optional
    name : str, optional
        Prefix of the Brian2 names of the groups.
    dt : Quantity, second, optional
        Time step of the groups' clock (default: Brian2's ``defaultclock``).
    **overrides
        Fields of :class:`SegmentParams`.

    Returns
    -------
    SegmentNeuron
        Its ``soma.v`` starts at 0 and no plateau is on.
    """
    n = check_n_neurons(n_neurons)
    p = resolve(SegmentParams, params, overrides)
    prefix = name or "segment_neuron"
    n_seg = p.n_segments
    kind = np.tile(np.arange(n_seg) >= int(p.n_proximal), n)  # True: distal
    theta = np.where(kind, int(p.theta_distal), int(p.theta_proximal))
    segments = build_coincidence(n * n_seg, k_inputs=theta, window=p.window, w_in=1 * mV, dt=dt,
                                 name=f"{prefix}_segments*")
    soma = NeuronGroup(n, SOMA_EQUATIONS, threshold=SOMA_THRESHOLD, reset="v = v_reset",
                       refractory=p.refractory, method="exact", namespace={}, dt=dt,
                       name=f"{prefix}_soma*")
    for key in ("tau_mem", "v_threshold", "v_reset", "w_proximal", "distal_shift",
                "distal_gain", "plateau"):
        setattr(soma, key, getattr(p, key))
    soma.plateau_until = -1e9 * ms
    soma.plateau_margin = PLATEAU_MARGIN * soma.clock.dt
    owner = np.repeat(np.arange(n), n_seg)
    proximal = Synapses(segments, soma, on_pre="v_post += w_proximal_post * (1 + distal_gain_post"
                        " * int(t < plateau_until_post - plateau_margin_post))",
                        namespace={}, dt=soma.clock.dt, name=f"{prefix}_proximal*")
    proximal.connect(i=np.flatnonzero(~kind), j=owner[~kind])
    distal = Synapses(segments, soma, on_pre="plateau_until_post = t + plateau_post",
                      namespace={}, dt=soma.clock.dt, name=f"{prefix}_distal*")
    if kind.any():
        distal.connect(i=np.flatnonzero(kind), j=owner[kind])
    return SegmentNeuron(p, n, segments, soma, proximal, distal)


def connect_segments(source, neuron: SegmentNeuron, i, target, segment, *,
                     name: str | None = None) -> Synapses:
    """Synapses from ``source`` onto segments: input ``i[k]`` onto segment ``segment[k]`` of
    neuron ``target[k]`` (all connections of the population at once).

    Raises
    ------
    ParameterError
        If an index is out of range, or a segment that receives synapses has fewer than its
        ``theta`` (it could never emit an event). Segments without synapses stay silent.
    """
    i = np.asarray(i, dtype=int).ravel()
    index = neuron.segment_index(np.asarray(target, dtype=int).ravel(),
                                 np.asarray(segment, dtype=int).ravel())
    if index.shape != i.shape:
        raise ParameterError(f"i: {i.size} sources for {index.size} targets")
    if np.any((i < 0) | (i >= len(source))):
        raise ParameterError(f"i: source indices must lie in [0, {len(source)})")
    counts = np.bincount(index, minlength=len(neuron.segments))
    theta = np.asarray(neuron.segments.k_inputs[:])
    short = np.flatnonzero((counts > 0) & (counts < theta))
    if short.size:
        s = int(short[0])
        n_seg = neuron.params.n_segments
        kind = "distal" if s % n_seg >= int(neuron.params.n_proximal) else "proximal"
        raise ParameterError(f"theta_{kind}: {int(theta[s])} is greater than the "
                             f"{int(counts[s])} synapses of segment {s % n_seg} of neuron "
                             f"{s // n_seg}")
    return connect_coincidence(source, neuron.segments, i=i, j=index,
                               name=name or "segment_synapses*")
