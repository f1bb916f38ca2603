r"""Two-compartment pyramidal neuron with an active distal (apical) dendrite: apical amplification.

The soma integrates the proximal (basal) input; the distal compartment integrates the top-down
input and multiplies the gain of the proximal drive, never adding to it:

.. math::

    \tau_{mem} \frac{dv}{dt} &= v_{rest} - v + R\, G(v_{dist})\,(i_{prox} + i_{bias})     \\
    \tau_{syn} \frac{di_{prox}}{dt} &= -i_{prox}                                              \\
    \tau_{dist} \frac{dv_{dist}}{dt} &= R_{dist}\, i_{dist} - v_{dist}                       \\
    G(v_{dist}) &= 1 + g_{max} \tanh\!\big(\max(v_{dist}, 0) / v_{dist,scale}\big)

``G`` is the gain: 1 with a silent (or hyperpolarised) dendrite, rising smoothly and bounded by
``1 + g_max``. With a steady distal current the dendrite settles at
:math:`v_{dist} = R_{dist} i_{dist}` and the neuron is a LIF neuron driven by
:math:`G\,(i_{prox} + i_{bias})`: its f-I curve is the LIF's evaluated at the gained current.
Distal input alone (``i_prox = i_bias = 0``) leaves ``v`` at ``v_rest`` for any ``i_dist``: it
never fires the cell. A spike (``v > v_threshold``) resets ``v`` to ``v_reset`` for ``t_ref``.

Proximal synapses jump ``i_prox``; the top-down input is ``i_dist`` (a current set from outside,
e.g. by a network operation through ``group.i_dist_``). Exponential Euler is exact for each
compartment when its input is constant over the step.
"""

from __future__ import annotations

from dataclasses import dataclass

from brian2 import Mohm, NeuronGroup, ms, mV, nA

from hnnbio.errors import ParameterError
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
dv/dt = (v_rest - v + r_mem * gain * (i_prox + i_bias)) / tau_mem : volt (unless refractory)
di_prox/dt = -i_prox / tau_syn : amp
dv_dist/dt = (r_dist * i_dist - v_dist) / tau_dist : volt
gain = 1 + g_max * tanh(clip(v_dist / v_dist_scale, 0, inf)) : 1
i_dist : amp
i_bias : amp
tau_mem : second (constant)
tau_syn : second (constant)
tau_dist : second (constant)
r_mem : ohm (constant)
r_dist : ohm (constant)
g_max : 1 (constant)
v_dist_scale : volt (constant)
v_rest : volt (constant)
v_reset : volt (constant)
v_threshold : volt (constant)
t_ref : second (constant)
"""

#: The distal compartment read from another group (``distal="linked"``): ``v_dist`` is a linked
#: variable (e.g. the plateau potential ``u`` of :mod:`hnnbio.neurons.plateau`), no ``i_dist``.
LINKED_EQUATIONS = EQUATIONS.replace(
    "dv_dist/dt = (r_dist * i_dist - v_dist) / tau_dist : volt\n", "v_dist : volt (linked)\n"
).replace("i_dist : amp\n", "")

#: State variables (``i_dist`` and ``i_bias`` are inputs set from outside).
STATE_VARIABLES = ("v", "i_prox", "v_dist")

DISTAL = ("compartment", "linked")


@dataclass(frozen=True, eq=False)
class PyramidalParams:
    """Parameters of :func:`build_pyramidal`; any field may be an array (n_neurons,).

    Attributes
    ----------
    tau_mem, tau_syn, tau_dist : Quantity, second
        Somatic, proximal-synaptic and distal time constants (> 0).
    r_mem, r_dist : Quantity, ohm
        Somatic and distal input resistances (> 0).
    g_max : float
        Largest extra gain (>= 0): the gain lies in [1, 1 + g_max].
    v_dist_scale : Quantity, volt
        Distal depolarisation at which the gain reaches 1 + 0.76 g_max (tanh(1)) (> 0).
    v_rest, v_reset, v_threshold : Quantity, volt
        ``v_reset < v_threshold``.
    t_ref : Quantity, second
        Refractory period (>= 0).
    i_bias : Quantity, amp
        Constant proximal current.
    """

    tau_mem: object = quantity(10 * ms)
    tau_syn: object = quantity(5 * ms)
    tau_dist: object = quantity(20 * ms)
    r_mem: object = quantity(100 * Mohm)
    r_dist: object = quantity(100 * Mohm)
    g_max: object = 2.0
    v_dist_scale: object = quantity(10 * mV)
    v_rest: object = quantity(-70 * mV)
    v_reset: object = quantity(-70 * mV)
    v_threshold: object = quantity(-50 * mV)
    t_ref: object = quantity(2 * ms)
    i_bias: object = quantity(0 * nA)

    def __post_init__(self):
        check_units(self)
        check_positive(self, ("tau_mem", "tau_syn", "tau_dist", "r_mem", "r_dist", "v_dist_scale"))
        check_positive(self, ("g_max", "t_ref"), allow_zero=True)
        check_order(self, "v_reset", "v_threshold")


def distal_gain(v_dist, params: PyramidalParams):
    """The gain ``1 + g_max tanh(max(v_dist, 0) / v_dist_scale)`` for a distal potential (volt)."""
    import numpy as np

    x = np.clip(np.asarray(v_dist / params.v_dist_scale, dtype=float), 0, None)
    return 1 + np.asarray(params.g_max, dtype=float) * np.tanh(x)


def build_pyramidal(n_neurons: int, params: PyramidalParams | None = None, *,
                    name: str | None = None, dt=None, distal: str = "compartment",
                    **overrides) -> NeuronGroup:
    """A group of two-compartment pyramidal neurons at rest, distal compartment silent.

    Parameters
    ----------
    n_neurons : int
        Number of neurons (>= 1).
    params : PyramidalParams, optional
    name : str, optional
        Brian2 name of the group.
    dt : Quantity, second, optional
        Time step of the group's own clock (default: Brian2's ``defaultclock``).
    distal : str
        ``"compartment"``: the passive distal compartment of the module docstring, driven by
        ``i_dist``; ``"linked"``: ``v_dist`` is a linked variable the caller points at another
        group's potential (``group.v_dist = linked_var(dendrites, "u", index=...)``, before the
        first run), e.g. the plateau of :mod:`hnnbio.neurons.plateau`; ``tau_dist`` and
        ``r_dist`` are then unused.
    **overrides
        Fields of :class:`PyramidalParams`, scalars or arrays of shape (n_neurons,).

    Returns
    -------
    NeuronGroup
        State ``v``, ``v_dist`` (volt), ``i_prox`` (amp); inputs ``i_dist``, ``i_bias`` (amp);
        the gain as subexpression ``gain``.
    """
    if distal not in DISTAL:
        raise ParameterError(f"distal: must be one of {', '.join(DISTAL)}, got {distal!r}")
    n = check_n_neurons(n_neurons)
    p = resolve(PyramidalParams, params, overrides)
    check_lengths(p, n)
    group = NeuronGroup(n, EQUATIONS if distal == "compartment" else LINKED_EQUATIONS,
                        threshold="v > v_threshold", reset="v = v_reset",
                        refractory="t_ref", method="exponential_euler", namespace={}, dt=dt,
                        name=name or "pyramidal*")
    set_parameters(group, p)
    group.v = p.v_rest
    if distal == "compartment":
        group.v_dist = 0 * mV
    return group
