r"""Stochastic gated unit: the spiking unit of the reference binding model.

Per time step a unit that is not refractory spikes with probability

.. math::

    P(\text{spike}) = \mathrm{drive} \times \mathrm{gain}

(Brian2 threshold ``rand() < drive * gain``: a fresh uniform number per unit and step). After a
spike the unit is silent for ``refractory_steps`` = r steps (Brian2 ``refractory`` of r + 1 steps,
since Brian2 counts the spike's own step). With r = 0 spikes are independent Bernoulli trials.

With constant probability p the inter-spike interval is r plus a geometric waiting time of mean
1/p, so the stationary rate in spikes per step is

.. math::

    \nu = \frac{1}{r + 1/p} = \frac{p}{1 + r\,p}.

In the binding loop ``drive`` is the binary pixel and ``gain`` the top-down attention.
"""

from __future__ import annotations

from dataclasses import dataclass

from brian2 import NeuronGroup

from hnnbio.neurons._params import (
    check_integer,
    check_lengths,
    check_n_neurons,
    check_positive,
    check_units,
    resolve,
    set_parameters,
)

EQUATIONS = """
drive : 1
gain : 1
refractory_steps : integer (constant)
"""

#: State variables (``drive`` and ``gain`` are inputs, written every step in the loop).
STATE_VARIABLES = ("drive", "gain")


@dataclass(frozen=True, eq=False)
class StochasticParams:
    """Parameters of :func:`build_stochastic`; any field may be an array (n_neurons,).

    Attributes
    ----------
    refractory_steps : int
        Silent steps after a spike (>= 0).
    drive : float
        Initial feed-forward drive (>= 0).
    gain : float
        Initial gain (>= 0); spike probability per step is ``drive * gain`` (clipped to 1).
    """

    refractory_steps: object = 0
    drive: object = 0.0
    gain: object = 1.0

    def __post_init__(self):
        check_units(self)
        check_integer(self, "refractory_steps", low=0)
        check_positive(self, ("drive", "gain"), allow_zero=True)


def build_stochastic(n_neurons: int, params: StochasticParams | None = None, *,
                     name: str | None = None, dt=None, **overrides) -> NeuronGroup:
    """A group of stochastic gated units.

    Parameters
    ----------
    n_neurons : int
        Number of units (>= 1).
    params : StochasticParams, optional
    name : str, optional
        Brian2 name of the group.
    dt : Quantity, second, optional
        Time step of the group's own clock (default: Brian2's ``defaultclock``).
    **overrides
        Fields of :class:`StochasticParams`, scalars or arrays of shape (n_neurons,).

    Returns
    -------
    NeuronGroup
        Variables ``drive``, ``gain`` (dimensionless) and ``refractory_steps``; works with any
        ``dt`` (the refractory period is counted in steps of the group's clock).
    """
    n = check_n_neurons(n_neurons)
    p = resolve(StochasticParams, params, overrides)
    check_lengths(p, n)
    group = NeuronGroup(n, EQUATIONS, threshold="rand() < drive * gain", reset="",
                        refractory="(refractory_steps + 1) * dt", namespace={}, dt=dt,
                        name=name or "stochastic*")
    set_parameters(group, p)
    return group
