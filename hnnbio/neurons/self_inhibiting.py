r"""Self-inhibiting heterogeneous neuron (HIFI): an autapse gives each neuron a soft refractoriness.

Continuous form (one group, per-neuron parameters):

.. math::

    \tau_{mem} \frac{dv}{dt} = v_{rest} - v + R\,(C\,(i_{syn} + i_{bias}) - i_{self})
    \qquad \tau_{syn} \frac{di_{syn}}{dt} = -i_{syn}
    \qquad \tau_{self} \frac{di_{self}}{dt} = -i_{self}

On ``v > v_threshold``: ``v = v_reset`` and ``i_self += w_self``: the neuron's own spike triggers an
inhibitory current of strength ``w_self`` that decays with its own time constant ``tau_self``
(``C`` is ``gain``). Successive spikes pile up ``i_self``, so later inter-spike intervals lengthen.

Discrete-step form, as published (Wang et al., National Science Review 2024), dimensionless:

.. math::

    \tilde U &= U (1 - s[t-1]) + U_{rest}\, s[t-1]                       \\
    U[t] &= (1 - \tau)\tilde U + \tau U_{rest} + C (I[t] - \gamma s[t-1]) \\
    s[t] &= 1 \text{ if } U[t] \ge \theta \text{ else } 0

with ``leak`` = :math:`\tau`, ``gain`` = C, ``w_self`` = :math:`\gamma`, ``v_rest`` =
:math:`U_{rest}`, ``v_threshold`` = :math:`\theta`, state ``v`` = U, ``s`` and input ``i_in`` =
I[t]. :func:`build_self_inhibiting_discrete` executes exactly these three lines once per time step
(a ``run_regularly`` operation in the ``start`` slot); the spike ``s[t]`` is also a Brian2 spike
(threshold ``s > 0.5``), so SpikeMonitors and Synapses work as usual.
"""

from __future__ import annotations

from dataclasses import dataclass

from brian2 import Mohm, NeuronGroup, ms, mV, nA

from hnnbio.neurons._params import (
    check_lengths,
    check_n_neurons,
    check_order,
    check_positive,
    check_range,
    check_units,
    quantity,
    resolve,
    set_parameters,
)

EQUATIONS = """
dv/dt = (v_rest - v + r_mem * (gain * (i_syn + i_bias) - i_self)) / tau_mem : volt
di_syn/dt = -i_syn / tau_syn : amp
di_self/dt = -i_self / tau_self : amp
tau_mem : second (constant)
tau_syn : second (constant)
tau_self : second (constant)
r_mem : ohm (constant)
gain : 1 (constant)
w_self : amp (constant)
v_rest : volt (constant)
v_reset : volt (constant)
v_threshold : volt (constant)
i_bias : amp
"""

#: State variables of the continuous form.
STATE_VARIABLES = ("v", "i_syn", "i_self")

DISCRETE_EQUATIONS = """
v : 1
s : 1
i_in : 1
leak : 1 (constant)
gain : 1 (constant)
w_self : 1 (constant)
v_rest : 1 (constant)
v_threshold : 1 (constant)
"""

#: The published update, executed once per step (statements run in order).
DISCRETE_UPDATE = """
v = (1 - leak) * (v * (1 - s) + v_rest * s) + leak * v_rest + gain * (i_in - w_self * s)
s = int(v >= v_threshold)
"""

#: State variables of the discrete form (``s`` is the spike of the last step).
DISCRETE_STATE_VARIABLES = ("v", "s")


@dataclass(frozen=True, eq=False)
class SelfInhibitingParams:
    """Parameters of :func:`build_self_inhibiting`; any field may be an array (n_neurons,).

    Attributes
    ----------
    tau_mem, tau_syn, tau_self : Quantity, second
        Membrane, synaptic and autapse time constants (> 0).
    r_mem : Quantity, ohm
        Membrane resistance (> 0).
    gain : float
        Input gain C (>= 0), multiplies synaptic and bias current.
    w_self : Quantity, amp
        Self-inhibition strength: jump of ``i_self`` per own spike (>= 0).
    v_rest, v_reset, v_threshold : Quantity, volt
        ``v_reset < v_threshold``.
    i_bias : Quantity, amp
        Constant input current.
    """

    tau_mem: object = quantity(10 * ms)
    tau_syn: object = quantity(5 * ms)
    tau_self: object = quantity(20 * ms)
    r_mem: object = quantity(100 * Mohm)
    gain: object = 1.0
    w_self: object = quantity(0.05 * nA)
    v_rest: object = quantity(-70 * mV)
    v_reset: object = quantity(-70 * mV)
    v_threshold: object = quantity(-50 * mV)
    i_bias: object = quantity(0 * nA)

    def __post_init__(self):
        check_units(self)
        check_positive(self, ("tau_mem", "tau_syn", "tau_self", "r_mem"))
        check_positive(self, ("gain", "w_self"), allow_zero=True)
        check_order(self, "v_reset", "v_threshold")


@dataclass(frozen=True, eq=False)
class DiscreteSelfInhibitingParams:
    """Parameters of the published discrete update (all dimensionless, scalars or (n_neurons,)).

    Attributes
    ----------
    leak : float
        Leak rate tau in (0, 1] (published init 0.2, range 0.1-0.3).
    gain : float
        Input gain C >= 0 (~0.9-1.0).
    w_self : float
        Self-inhibition strength gamma >= 0 (init 0.05, range 0.025-0.075).
    v_rest : float
        Resting value U_rest (range -0.5..0.5).
    v_threshold : float
        Threshold theta > v_rest (range 0.5-1.5).
    """

    leak: object = 0.2
    gain: object = 1.0
    w_self: object = 0.05
    v_rest: object = 0.0
    v_threshold: object = 1.0

    def __post_init__(self):
        check_units(self)
        check_range(self, "leak", 0.0, 1.0)
        check_positive(self, ("leak",))
        check_positive(self, ("gain", "w_self"), allow_zero=True)
        check_order(self, "v_rest", "v_threshold")


def build_self_inhibiting(n_neurons: int, params: SelfInhibitingParams | None = None, *,
                          name: str | None = None, dt=None, **overrides) -> NeuronGroup:
    """A group of continuous-time self-inhibiting neurons, starting at rest with no autapse current.

    Parameters
    ----------
    n_neurons : int
        Number of neurons (>= 1).
    params : SelfInhibitingParams, optional
    name : str, optional
        Brian2 name of the group.
    dt : Quantity, second, optional
        Time step of the group's own clock (default: Brian2's ``defaultclock``).
    **overrides
        Fields of :class:`SelfInhibitingParams`, scalars or arrays of shape (n_neurons,).

    Returns
    -------
    NeuronGroup
        State ``v`` (volt), ``i_syn`` and ``i_self`` (amp). Input through ``i_syn`` jumps.
    """
    n = check_n_neurons(n_neurons)
    p = resolve(SelfInhibitingParams, params, overrides)
    check_lengths(p, n)
    group = NeuronGroup(n, EQUATIONS, threshold="v > v_threshold",
                        reset="v = v_reset\ni_self += w_self", method="exponential_euler",
                        namespace={}, dt=dt, name=name or "self_inhibiting*")
    set_parameters(group, p)
    group.v = p.v_rest
    return group


def build_self_inhibiting_discrete(n_neurons: int,
                                   params: DiscreteSelfInhibitingParams | None = None, *,
                                   name: str | None = None, dt=None, **overrides) -> NeuronGroup:
    """A group stepping the published discrete HIFI update once per time step ``dt``.

    Parameters
    ----------
    n_neurons : int
        Number of neurons (>= 1).
    params : DiscreteSelfInhibitingParams, optional
    name : str, optional
        Brian2 name of the group.
    dt : Quantity, second, optional
        Time step of the group's own clock (default: Brian2's ``defaultclock``).
    **overrides
        Fields of :class:`DiscreteSelfInhibitingParams`, scalars or arrays of shape (n_neurons,).

    Returns
    -------
    NeuronGroup
        ``v`` starts at ``v_rest``, ``s`` at 0; set the input I[t] through ``group.i_in`` (it keeps
        its value until changed; Synapses may write it too).
    """
    n = check_n_neurons(n_neurons)
    p = resolve(DiscreteSelfInhibitingParams, params, overrides)
    check_lengths(p, n)
    group = NeuronGroup(n, DISCRETE_EQUATIONS, threshold="s > 0.5", reset="", namespace={}, dt=dt,
                        name=name or "self_inhibiting_discrete*")
    group.run_regularly(DISCRETE_UPDATE, when="start", order=0)
    set_parameters(group, p)
    group.v = p.v_rest
    return group
