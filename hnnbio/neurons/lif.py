r"""Leaky integrate-and-fire neuron with current-based exponential synapses.

Equations (units on every line, names as in NIR's CubaLIF):

.. math::

    \tau_{mem} \frac{dv}{dt} = v_{rest} - v + R (i_{syn} + i_{bias})
    \qquad \tau_{syn} \frac{di_{syn}}{dt} = -i_{syn}

A spike is emitted when ``v > v_threshold``; then ``v = v_reset`` and ``v`` is clamped for
``t_ref``. Synapses deliver input as jumps of ``i_syn`` (``on_pre='i_syn_post += w'``).

Under a constant current :math:`I` (``i_bias``, no synaptic input) and :math:`v_{reset} = v_{rest}`
the neuron fires periodically with the rate (the f-I curve)

.. math::

    f(I) = \left[t_{ref} + \tau_{mem} \ln \frac{R I}{R I - (v_{threshold} - v_{reset})}\right]^{-1}

for :math:`R I > v_{threshold} - v_{reset}`, and not at all below.

Integration uses exponential Euler, which is exact for ``v`` whenever ``i_syn + i_bias`` is
constant over the step and exact for ``i_syn`` always (unlike Brian2's ``exact`` solver it does not
break down for ``tau_syn == tau_mem``).
"""

from __future__ import annotations

from dataclasses import dataclass

from brian2 import Mohm, NeuronGroup, ms, mV, nA

from hnnbio.neurons._params import (
    check_lengths,
    check_n_neurons,
    check_order,
    check_positive,
    check_units,
    quantity,
    resolve,
    set_parameters,
)

EQUATIONS = """
dv/dt = (v_rest - v + r_mem * (i_syn + i_bias)) / tau_mem : volt (unless refractory)
di_syn/dt = -i_syn / tau_syn : amp
tau_mem : second (constant)
tau_syn : second (constant)
r_mem : ohm (constant)
v_rest : volt (constant)
v_reset : volt (constant)
v_threshold : volt (constant)
t_ref : second (constant)
i_bias : amp
"""

#: State variables (change every step); the rest of the group's variables are parameters.
STATE_VARIABLES = ("v", "i_syn")


@dataclass(frozen=True, eq=False)
class LIFParams:
    """Parameters of :func:`build_lif`; any field may be an array of shape (n_neurons,).

    Attributes
    ----------
    tau_mem : Quantity, second
        Membrane time constant (> 0).
    tau_syn : Quantity, second
        Synaptic current time constant (> 0).
    r_mem : Quantity, ohm
        Membrane resistance (> 0).
    v_rest, v_reset, v_threshold : Quantity, volt
        Resting, reset and threshold potentials; ``v_reset < v_threshold``.
    t_ref : Quantity, second
        Absolute refractory period (>= 0).
    i_bias : Quantity, amp
        Constant bias current (may be changed later through ``group.i_bias``).
    """

    tau_mem: object = quantity(10 * ms)
    tau_syn: object = quantity(5 * ms)
    r_mem: object = quantity(100 * Mohm)
    v_rest: object = quantity(-70 * mV)
    v_reset: object = quantity(-70 * mV)
    v_threshold: object = quantity(-50 * mV)
    t_ref: object = quantity(2 * ms)
    i_bias: object = quantity(0 * nA)

    def __post_init__(self):
        check_units(self)
        check_positive(self, ("tau_mem", "tau_syn", "r_mem"))
        check_positive(self, ("t_ref",), allow_zero=True)
        check_order(self, "v_reset", "v_threshold")


def build_lif(n_neurons: int, params: LIFParams | None = None, *, name: str | None = None,
              dt=None, **overrides) -> NeuronGroup:
    """A group of LIF neurons with exponential current synapses, starting at rest.

    Parameters
    ----------
    n_neurons : int
        Number of neurons (>= 1).
    params : LIFParams, optional
        Parameters (defaults of :class:`LIFParams` when omitted).
    name : str, optional
        Brian2 name of the group.
    dt : Quantity, second, optional
        Time step of the group's own clock (default: Brian2's ``defaultclock``).
    **overrides
        Fields of :class:`LIFParams` to replace, scalars or arrays of shape (n_neurons,).

    Returns
    -------
    NeuronGroup
        State ``v`` (volt) and ``i_syn`` (amp); parameters as per-neuron constants.

    Examples
    --------
    >>> from brian2 import nA
    >>> group = build_lif(3, i_bias=[0.1, 0.3, 0.5] * nA)
    >>> group.N
    3
    """
    n = check_n_neurons(n_neurons)
    p = resolve(LIFParams, params, overrides)
    check_lengths(p, n)
    group = NeuronGroup(n, EQUATIONS, threshold="v > v_threshold", reset="v = v_reset",
                        refractory="t_ref", method="exponential_euler", namespace={}, dt=dt,
                        name=name or "lif*")
    set_parameters(group, p)
    group.v = p.v_rest
    return group
