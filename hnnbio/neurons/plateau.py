r"""NMDA-like plateau dendrite: a regenerative distal compartment that gates the soma.

The distal (apical) dendrite of a pyramidal neuron receives the top-down input through
glutamatergic synapses with a fast (AMPA-like) and a slow, voltage-dependent (NMDA-like) part.
The NMDA current needs both bound glutamate (gate ``g``) and depolarisation, which relieves its
magnesium block (gate ``m`` relaxing to the Mg-block sigmoid ``B``); depolarisation opens more
NMDA current, which depolarises more: the compartment is regenerative and bistable. Voltages are
relative to rest:

.. math::

    \tau_d \frac{dv_d}{dt} &= R_d\, i_{td} + E\, g\, m - v_d                                   \\
    \tau_m \frac{dm}{dt} &= B(v_d) - m, \qquad B(v) = \frac{1}{1 + e^{-(v - v_{half})/k}}   \\
    \tau_n \frac{dg}{dt} &= -g                                                               \\
    u &= E\, g\, m

``i_td`` is the fast top-down current; ``g`` in [0, 1] is the fraction of NMDA receptors with
glutamate bound: a top-down input of level ``c`` binds within the step (``g = max(g, c)``, written
by the caller, binding being much faster than a step) and unbinds with ``tau_nmda``. ``u``, the
depolarisation the NMDA current sustains, is the *plateau potential*: what the soma sees (the
pyramidal neuron's gain is a function of ``u``, :mod:`hnnbio.neurons.pyramidal`, ``distal =
"linked"``). Exponential Euler integrates each equation exactly for the other variables held
over a sub-step (every equation is linear in its own variable).

**Fixed points and folds.** With ``tau_d, tau_m`` much shorter than the input changes, the
dendrite sits at a stable fixed point of :math:`m = B(a + b\,m)` with :math:`a = R_d i_{td}`,
:math:`b = E g`. The map is increasing; it has three fixed points (two stable, the low and the
plateau branch) between two folds where it touches the diagonal, :math:`b\,B'(x) = 1` with
:math:`B' = B(1 - B)/k`, i.e. :math:`m(1 - m) = k/b`:

.. math::

    m_\mp = \tfrac12\big(1 \mp \sqrt{1 - 4k/b}\big), \qquad
    a_{on/off}(b) = v_{half} + k \ln\frac{m_\mp}{1 - m_\mp} - b\, m_\mp

(:func:`fold_inputs`; bistable only for ``b > 4 k``). From the low branch the dendrite jumps to
the plateau when ``a > a_on(b)``: the **onset threshold**. On the plateau it stays while
``a > a_off(b)`` (``a_off < a_on``: hysteresis). Once the top-down input stops (``a = 0``) the
plateau is held by the bound glutamate alone while ``b = E g > b_off``, the root of
``a_off(b) = 0`` (:func:`offset_binding`), so a plateau entered with ``g = g_0`` outlasts its input
by

.. math::

    T = \tau_n \ln\frac{E\, g_0}{b_{off}}

and then collapses (within a few ``tau_m``). Below onset, ``m`` stays on the low branch, near
``B(a) ~ e^{-(v_{half} - a)/k}``, and ``u`` is a small fraction of ``E g``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from brian2 import Mohm, NeuronGroup, ms, mV

from hnnbio.errors import ParameterError
from hnnbio.neurons._params import (
    check_lengths,
    check_n_neurons,
    check_positive,
    check_units,
    quantity,
    resolve,
    set_parameters,
)

EQUATIONS = """
dv_d/dt = (r_dist * i_td + e_nmda * g * m - v_d) / tau_dist : volt
dm/dt = (1 / (1 + exp(-(v_d - v_half) / v_slope)) - m) / tau_gate : 1
dg/dt = -g / tau_nmda : 1
u = e_nmda * g * m : volt
i_td : amp
tau_dist : second (constant)
tau_gate : second (constant)
tau_nmda : second (constant)
r_dist : ohm (constant)
e_nmda : volt (constant)
v_half : volt (constant)
v_slope : volt (constant)
"""

#: State variables (``i_td`` is the fast top-down input; ``g`` is raised by the caller on input).
STATE_VARIABLES = ("v_d", "m", "g")


@dataclass(frozen=True, eq=False)
class PlateauParams:
    """Parameters of :func:`build_plateau`; any field may be an array (n_neurons,).

    Attributes
    ----------
    tau_dist, tau_gate : Quantity, second
        Time constants of the dendritic potential and of the Mg-unblock gate (> 0).
    tau_nmda : Quantity, second
        Unbinding time constant of the NMDA gate ``g`` (> 0): sets the plateau's duration.
    r_dist : Quantity, ohm
        Distal input resistance (> 0).
    e_nmda : Quantity, volt
        Depolarisation of a fully bound, unblocked NMDA current (> 0).
    v_half : Quantity, volt
        Potential (above rest) of half Mg unblock (> 0).
    v_slope : Quantity, volt
        Slope k of the Mg-block sigmoid (> 0).
    """

    tau_dist: object = quantity(0.05 * ms)
    tau_gate: object = quantity(0.05 * ms)
    tau_nmda: object = quantity(3 * ms)
    r_dist: object = quantity(100 * Mohm)
    e_nmda: object = quantity(60 * mV)
    v_half: object = quantity(20 * mV)
    v_slope: object = quantity(1 * mV)

    def __post_init__(self):
        check_units(self)
        check_positive(self, ("tau_dist", "tau_gate", "tau_nmda", "r_dist", "e_nmda", "v_half",
                              "v_slope"))


def mg_block(v, v_half, v_slope):
    """The Mg-block sigmoid ``B(v) = 1 / (1 + exp(-(v - v_half) / k))`` (same units for all)."""
    return 1.0 / (1.0 + np.exp(-(np.asarray(v, dtype=float) - v_half) / v_slope))


def fold_inputs(b, v_half, v_slope):
    """The fast inputs ``(a_on, a_off)`` at the two folds of ``m = B(a + b m)``.

    ``b``, ``v_half`` and ``v_slope`` are plain numbers in one unit (e.g. mV); ``b > 4 v_slope``
    (otherwise there is one fixed point and no plateau: ParameterError naming ``b``).
    """
    b = float(b)
    if not b > 4 * v_slope:
        raise ParameterError(f"b: the dendrite is bistable only for E g > 4 v_slope "
                             f"({4 * v_slope}), got {b}")
    root = np.sqrt(1.0 - 4.0 * v_slope / b)
    out = []
    for m in ((1.0 - root) / 2, (1.0 + root) / 2):
        out.append(v_half + v_slope * np.log(m / (1.0 - m)) - b * m)
    return out[0], out[1]


def offset_binding(v_half, v_slope):
    """``b_off``: the least ``E g`` that holds the plateau with no fast input (``a_off(b) = 0``).

    ``a_off`` falls monotonically with ``b`` (from ``v_half + ...`` at ``b = 4k``), so bisection.
    """
    low, high = 4.0 * v_slope * (1 + 1e-12), 4.0 * v_slope + 10.0 * (v_half + v_slope)
    if fold_inputs(low, v_half, v_slope)[1] <= 0:
        return low
    for _ in range(200):
        mid = 0.5 * (low + high)
        if fold_inputs(mid, v_half, v_slope)[1] > 0:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


def build_plateau(n_neurons: int, params: PlateauParams | None = None, *,
                  name: str | None = None, dt=None, order: int = 0, **overrides) -> NeuronGroup:
    """A group of plateau dendrites at rest (``v_d = m = g = 0``).

    Parameters
    ----------
    n_neurons : int
        Number of dendrites (>= 1).
    params : PlateauParams, optional
    name : str, optional
        Brian2 name of the group.
    dt : Quantity, second, optional
        Time step of the group's own clock (a fraction of the loop's step: the fast gates relax
        within the step).
    order : int
        Brian2 scheduling order of the group (run before the soma that reads ``u`` in the same
        slot: a lower order).
    **overrides
        Fields of :class:`PlateauParams`, scalars or arrays of shape (n_neurons,).

    Returns
    -------
    NeuronGroup
        State ``v_d`` (volt), ``m``, ``g``; input ``i_td`` (amp); plateau potential ``u`` (volt).
    """
    n = check_n_neurons(n_neurons)
    p = resolve(PlateauParams, params, overrides)
    check_lengths(p, n)
    group = NeuronGroup(n, EQUATIONS, method="exponential_euler", namespace={}, dt=dt,
                        order=order, name=name or "plateau*")
    set_parameters(group, p)
    return group
