r"""Coincidence detector: fires when at least ``k_inputs`` inputs arrive within a window ``window``.

Model: a non-leaky membrane whose every input adds a rectangular (box) postsynaptic potential of
height ``w_in`` and length ``window``: the input raises ``v`` by ``w_in`` on arrival and a second,
delayed pathway of the same synapse lowers it by ``w_in`` exactly ``window`` later. So at any time

.. math::

    v(t) = w_{in}\, n(t), \qquad n(t) = \#\{\text{inputs at } t_i \text{ with } t - w \le t_i < t\}

(in steps: the inputs of the last ``window / dt`` steps). Firing when ``n >= k`` and never for
``n <= k - 1`` needs a threshold strictly between :math:`(k-1) w_{in}` and :math:`k w_{in}`; the
midpoint is the most robust to rounding:

.. math::

    v_{threshold} = (k - \tfrac{1}{2})\, w_{in}

The cell fires once per coincidence: after a spike it stays refractory while ``v >= v_threshold``
(Brian2's boolean refractoriness), i.e. until the count drops below ``k`` again. This is the
limit of a fast membrane (``tau << window``) with ramp-no-leak synapses and makes the detector
exact: k inputs within ``window`` always fire, k - 1 never, k spread over ``window`` or more never.

Equations::

    v : volt                          # w_in times the number of inputs in the window
    v_threshold : volt (constant)     # (k_inputs - 1/2) * w_in
    w_in : volt (constant)
    window : second (constant)

Connect inputs with :func:`connect_coincidence`, which builds both pathways.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from brian2 import NeuronGroup, Synapses, ms, mV

from hnnbio.neurons._params import (
    check_integer,
    check_lengths,
    check_n_neurons,
    check_positive,
    check_units,
    quantity,
    resolve,
)

EQUATIONS = """
v : volt
v_threshold : volt (constant)
w_in : volt (constant)
window : second (constant)
k_inputs : integer (constant)
"""

#: State variables.
STATE_VARIABLES = ("v",)


@dataclass(frozen=True, eq=False)
class CoincidenceParams:
    """Parameters of :func:`build_coincidence`; any field may be an array (n_neurons,).

    Attributes
    ----------
    k_inputs : int
        Inputs needed within the window (>= 1).
    window : Quantity, second
        Coincidence window (> 0); with time step dt the window spans ``round(window / dt)`` steps.
    w_in : Quantity, volt
        Height of one input's box potential (> 0); sets the threshold ``(k_inputs - 1/2) w_in``.
    """

    k_inputs: object = 2
    window: object = quantity(3 * ms)
    w_in: object = quantity(1 * mV)

    def __post_init__(self):
        check_units(self)
        check_integer(self, "k_inputs", low=1)
        check_positive(self, ("window", "w_in"))

    @property
    def v_threshold(self):
        """The threshold ``(k_inputs - 1/2) * w_in`` (volt)."""
        return (np.asarray(self.k_inputs) - 0.5) * self.w_in


def build_coincidence(n_neurons: int, params: CoincidenceParams | None = None, *,
                      name: str | None = None, dt=None, **overrides) -> NeuronGroup:
    """A group of exact coincidence detectors (see the module docstring).

    Parameters
    ----------
    n_neurons : int
        Number of neurons (>= 1).
    params : CoincidenceParams, optional
    name : str, optional
        Brian2 name of the group.
    dt : Quantity, second, optional
        Time step of the group's own clock (default: Brian2's ``defaultclock``).
    **overrides
        Fields of :class:`CoincidenceParams`, scalars or arrays of shape (n_neurons,).

    Returns
    -------
    NeuronGroup
        ``v`` (volt) starts at 0; connect inputs with :func:`connect_coincidence`.
    """
    n = check_n_neurons(n_neurons)
    p = resolve(CoincidenceParams, params, overrides)
    check_lengths(p, n)
    group = NeuronGroup(n, EQUATIONS, threshold="v >= v_threshold", reset="",
                        refractory="v >= v_threshold", namespace={}, dt=dt,
                        name=name or "coincidence*")
    group.k_inputs = p.k_inputs
    group.w_in = p.w_in
    group.window = p.window
    group.v_threshold = p.v_threshold
    return group


def connect_coincidence(source, target: NeuronGroup, i=None, j=None, *,
                        name: str | None = None) -> Synapses:
    """Synapses from ``source`` onto coincidence detectors ``target`` (box potentials).

    Parameters
    ----------
    source : SpikeSource
        A Brian2 group emitting spikes.
    target : NeuronGroup
        A group built by :func:`build_coincidence`.
    i, j : array-like of int, optional
        Source and target indices of the connections (passed to ``Synapses.connect``); both
        omitted connects one-to-one (``i == j``).
    name : str, optional
        Brian2 name of the synapses.

    The synapses run on the target's clock.

    Returns
    -------
    Synapses
        Pathways ``up`` (no delay, ``v += w_in``) and ``down`` (delay ``window`` of the target,
        ``v -= w_in``).
    """
    on_pre = {"up": "v_post += w_in_post", "down": "v_post -= w_in_post"}
    syn = Synapses(source, target, on_pre=on_pre,
                   namespace={}, dt=target.clock.dt, name=name or "coincidence_synapses*")
    if i is None and j is None:
        syn.connect(j="i")
    else:
        syn.connect(i=i, j=j)
    syn.down.delay = "window_post"
    return syn
