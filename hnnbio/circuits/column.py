r"""Cortical column sheet: one column per pixel, B images as one group of B*N neurons per layer.

A column (pixel ``p`` of image ``b``, index ``b * N + p`` in every population) is a chain:

``input`` (stochastic units) -> ``pyramidal`` (apical gain) -> ``self_inhibiting`` (autapse)
-> ``coincidence`` (upward) -> the bottom-up hybrid unit of the loop.

1. **input**: feed-forward drive from the pixel. A stochastic gated unit
   (:mod:`hnnbio.neurons.stochastic`) spiking with probability ``x * input_probability`` per step
   (x the binary pixel), never for background pixels.
2. **pyramidal** (:mod:`hnnbio.neurons.pyramidal`): each input spike releases a proximal current
   jump ``w_ff U`` with a uniform release amplitude ``U ~ U(0, 1)`` (quantal variability). The
   top-down attention ``c`` sets the distal compartment, ``v_dist = attention_scale * c *
   v_dist_scale``, so the proximal gain is :math:`G(c) = 1 + g_{max} \tanh(\text{attention\_scale}
   \cdot c)`. Membrane and synapse are fast (``tau = fast_steps * dt``), so one step after an input
   spike :math:`v - v_{rest} = G\,U\,w_{ff} R (1 - e^{-dt/\tau_{mem}})`; with
   :math:`w_{ff} = \Delta / (R (1 - e^{-dt/\tau_{mem}}))` (:math:`\Delta = v_{threshold} -
   v_{rest}`) it fires iff :math:`G U > 1`:

   .. math::  P(\text{pyramidal spike} \mid \text{input spike}) = 1 - 1/G(c)
              = \frac{g_{max} \tanh(a c)}{1 + g_{max} \tanh(a c)}

   zero without attention, increasing with it: the multiplicative gating ``x * c`` of the
   reference sheet, bounded by :math:`g_{max}/(1 + g_{max})`.
3. **self_inhibiting** (:mod:`hnnbio.neurons.self_inhibiting`): relays each pyramidal spike (jump
   ``2 i_th``, :math:`i_{th} = \Delta / (R (1 - e^{-dt/\tau_{mem}}))`) unless its autapse current
   exceeds :math:`i_{th}`. Each own spike adds ``w_self = autapse_ratio * i_th`` decaying with
   :math:`\tau_{self} = (r - 1/2)\,dt / \ln(\text{autapse\_ratio})`, so after a spike it is
   silent for exactly ``r = refractory_steps`` steps (the refractoriness of the reference sheet),
   a little longer after bursts (residual autapse current: soft, graded refractoriness).
4. **coincidence** (:mod:`hnnbio.neurons.coincidence`): fires when ``up_inputs`` spikes of its
   column arrived within ``up_window_steps`` steps: the upward stage; its spikes are the sheet's
   output (``output = "coincidence"``, or choose another population).

Each synaptic stage adds one step: attention written at the end of step t gates the pyramidal
spikes of step t + 1, which leave the column at step t + 3 (output "coincidence").

Two more elements, off by default (the shipped ``*-column`` files have neither, the
``*-microcircuit`` files both: ``plateau_threshold = 0.07``, ``plateau_steps = 0``,
``inhibition_steps = 1``, ``interneuron_inputs = 3``):

5. **plateau** (``plateau_threshold`` = c_on > 0; :mod:`hnnbio.neurons.plateau`): the distal
   compartment becomes an NMDA-like regenerative dendrite, one per column (its M pyramidal
   neurons get the same top-down input and the dendrite is deterministic, so one stands for all),
   on a clock of 8 sub-steps per step (its gates, ``tau = fast / 2``, relax within the step):

   .. math::

       \tau_d \dot v_d = A c + E g m - v_d, \quad \tau_m \dot m = B(v_d) - m, \quad
       \tau_n \dot g = -g, \quad u = E g m

   with :math:`B(v) = 1/(1 + e^{-(v - v_{half})/k})` the Mg-block sigmoid (E = 60 mV,
   v_half = 20 mV, k = 1 mV above rest). The attention c of a step is its fast (AMPA-like) drive
   ``A c`` and binds the NMDA gate at once, ``g = max(g, c)``; ``g`` unbinds with ``tau_n``.
   ``A = a_on(E c_on) / c_on`` puts the onset fold of ``m = B(A c + E c m)`` at ``c = c_on``: a
   constant attention below it leaves the dendrite on its low branch (``m < m_-``, the fold's
   ``(1 - sqrt(1 - 4k / (E c))) / 2``), above it the dendrite jumps to the plateau (``m ~ 1``;
   since g unbinds a little within a step, the jump needs up to ``a_on(E c e^{-1/tau_n})``).
   Without input the plateau is held while ``E g > b_off`` (the root of ``a_off(b) = 0``), i.e.
   for ``T = tau_n ln(E c / b_off)`` after the last binding; ``tau_n = (plateau_steps + 1.5) /
   ln(E / b_off)`` steps, so full attention (c = 1) leaves a plateau that the soma still reads
   ``plateau_steps`` steps after the attended ones (then it collapses within a step). The soma's
   gain is set by the plateau potential, not by c: ``v_dist = u`` (a linked variable), with
   ``v_dist_scale = E e^{-1/tau_n} / attention_scale`` so that on the plateau of a constant c,
   read one step after its binding (``g = c e^{-1/tau_n}``),

   .. math::  P(\text{pyramidal spike} \mid \text{input spike}) = 1 - 1/G, \qquad
              G = 1 + g_{max} \tanh(a\, c\, m_+)

   (``m_+ ~ 1`` the plateau branch): the gain of item 2 above threshold, while below it
   :math:`G < 1 + g_{max} \tanh(a c m_-)` and far below ``P ~ g_max a c e^{-(v_{half} - A c)/k}
   ~ 0``: the dendrite gates the soma, and holds the gate open for ``plateau_steps`` after
   the attention ends (P then falls with g). In the binding loop the attention of the first
   cycle is the random soft assignment (about 1/D per slot), below any threshold the
   dendrite allows (``c_on > 4k / E``): a plateau model starts the loop from ``initial = "ones"``.
6. **interneurons** (``inhibition_steps`` = s > 0): one fast inhibitory interneuron per column
   (:mod:`hnnbio.neurons.lif`, tau as the fast stages) receives every self-inhibiting spike of the
   column's chains (jump ``i_th / (k - 1/2)``, k = ``interneuron_inputs``), so it fires in the step
   after k chains relayed in the same step, and its spike adds ``w_inh = i_th e^{(s - 1/2) dt /
   tau_self}`` to the autapse current of the column's M self-inhibiting neurons: each relays
   nothing for s steps (as after its own spike, with its autapse's decay), then a residual
   (soft) inhibition. The chains compete: the first to relay (and those relaying in the next
   step, the interneuron's one-step latency) silence the others: a volley of at most two steps,
   then s silent steps (tested against a hand recurrence of these equations).

Reads and writes in the loop go through unit-less ``_`` views and the output group's spike space.

Measured in the binding loop (``hnnbio bind --model <name> --images 32``, seed 0, numpy target):
mean AMI reference / column sheet: bars 0.998 / 0.999, corners 0.886 / 0.877, shapes 0.882 / 0.878
(models/*-column.toml; the column's extra latency of 2 steps made r = 10 better than 9 on shapes).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
from brian2 import Synapses, linked_var, ms, mV

from hnnbio.circuits._sheet import (
    check_batch,
    check_integers,
    check_numbers,
    foreground_units,
    node_params,
    params_from_dict,
    spiked,
    unit_pixels,
)
from hnnbio.errors import ParameterError
from hnnbio.neurons.coincidence import build_coincidence, connect_coincidence
from hnnbio.neurons.lif import LIFParams, build_lif
from hnnbio.neurons.plateau import PlateauParams, build_plateau
from hnnbio.neurons.pyramidal import PyramidalParams, build_pyramidal
from hnnbio.neurons.self_inhibiting import SelfInhibitingParams, build_self_inhibiting
from hnnbio.neurons.stochastic import build_stochastic

POPULATIONS = ("input", "pyramidal", "self_inhibiting", "coincidence")


class _ReleaseWarningFilter(logging.Filter):
    """Drop Brian2's order-of-execution warning for the release draw: the input -> pyramidal
    synapses are one-to-one, so no two synapses write the same neuron and the order is moot."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "release = rand()" not in record.getMessage()


logging.getLogger("brian2.codegen.generators.base").addFilter(_ReleaseWarningFilter())


@dataclass(frozen=True)
class ColumnParams:
    """Design parameters of a :class:`ColumnSheet` (the ``[sheet_params]`` of a model spec).

    Attributes
    ----------
    refractory_steps : int
        r, steps the column stays silent after an output spike (>= 0): sets the autapse.
    input_probability : float
        Spike probability per step of the input unit of a foreground pixel, in (0, 1].
    attention_gain : float
        g_max of the pyramidal distal gain (> 0).
    attention_scale : float
        a: attention c puts the distal potential at ``a * c`` times ``v_dist_scale`` (> 0).
    autapse_ratio : float
        Autapse jump over the current that blocks relaying (> 1).
    up_inputs : int
        k of the upward coincidence detector (>= 1).
    up_window_steps : int
        Window of the upward coincidence detector in steps (>= 1).
    fast_steps : float
        Membrane and synaptic time constants of the fast compartments, in steps (> 0).
    output : str
        Population whose spikes are the output: one of ``POPULATIONS`` except ``input``.
    plateau_threshold : float
        c_on: attention at which the pyramidal neurons' distal dendrite jumps to an NMDA-like
        plateau (element 5 of the module docstring), in (4 k / E, 1) = (0.0667, 1); 0: no
        plateau, the passive distal compartment (default).
    plateau_steps : float
        Steps (>= 0) the plateau of full attention outlasts it, as read by the soma.
    inhibition_steps : int
        s: steps each spike of the column's interneuron silences the column's self-inhibiting
        neurons (element 6); 0: no interneurons (default).
    interneuron_inputs : int
        k: chains relaying in one step that fire the interneuron, in [1, chains].
    chains : int
        M, parallel input -> pyramidal -> self-inhibiting chains per column (>= 1), each with its
        own input draws, release amplitudes and refractoriness, all gated by the column's
        attention and converging on the column's one coincidence detector (which then fires
        when ``up_inputs`` of its M chains spiked within ``up_window_steps``). M > 1 needs
        ``output = "coincidence"``.
    """

    refractory_steps: int = 6
    input_probability: float = 1.0
    attention_gain: float = 20.0
    attention_scale: float = 1.0
    autapse_ratio: float = 10.0
    up_inputs: int = 1
    up_window_steps: int = 1
    fast_steps: float = 0.1
    output: str = "coincidence"
    chains: int = 1
    plateau_threshold: float = 0.0
    plateau_steps: float = 1.0
    inhibition_steps: int = 0
    interneuron_inputs: int = 1

    def __post_init__(self):
        check_integers(self, {"refractory_steps": 0, "up_inputs": 1, "up_window_steps": 1,
                              "chains": 1, "interneuron_inputs": 1, "inhibition_steps": 0})
        check_numbers(self, ("plateau_threshold", "plateau_steps"), strict=False)
        if self.interneuron_inputs > self.chains:
            raise ParameterError(f"interneuron_inputs: {self.interneuron_inputs} chain spikes in "
                                 f"one step can never come from {self.chains} chain(s)")
        if self.plateau:
            plateau_design(self)  # raises ParameterError naming plateau_threshold if impossible
        check_numbers(self, ("input_probability", "attention_gain", "attention_scale",
                             "autapse_ratio", "fast_steps"))
        if self.input_probability > 1:
            raise ParameterError(f"input_probability: must be <= 1, got {self.input_probability}")
        if self.autapse_ratio <= 1:
            raise ParameterError(f"autapse_ratio: must be > 1, got {self.autapse_ratio}")
        if self.output not in POPULATIONS[1:]:
            raise ParameterError(f"output: must be one of {', '.join(POPULATIONS[1:])}, "
                                 f"got {self.output!r}")
        if self.chains > 1 and self.output != "coincidence":
            raise ParameterError(f"output: with chains = {self.chains} the output must be "
                                 f"'coincidence' (one neuron per column), got {self.output!r}")
        if self.up_inputs > self.chains * self.up_window_steps:
            raise ParameterError(f"up_inputs: {self.up_inputs} coincident spikes can never "
                                 f"arrive from {self.chains} chain(s) in a window of "
                                 f"{self.up_window_steps} step(s)")

    @property
    def plateau(self) -> bool:
        """Whether the pyramidal neurons have the plateau dendrite (``plateau_threshold > 0``)."""
        return self.plateau_threshold > 0

    @property
    def interneurons(self) -> bool:
        """Whether each column has an inhibitory interneuron (``inhibition_steps > 0``)."""
        return self.inhibition_steps > 0

    @classmethod
    def from_dict(cls, values: dict) -> ColumnParams:
        """Build from a spec's ``[sheet_params]``; an unknown key raises ParameterError naming it.
        """
        return params_from_dict(cls, values, "column sheet")


#: The plateau dendrite of the column (``plateau = true``), in mV above rest: NMDA drive E,
#: half Mg unblock, Mg-block slope k; sub-steps of the dendrite per loop step.
PLATEAU_E_MV, PLATEAU_V_HALF_MV, PLATEAU_SLOPE_MV, PLATEAU_SUBSTEPS = 60.0, 20.0, 1.0, 8


def plateau_design(params: ColumnParams) -> dict:
    """The plateau dendrite's constants for ``plateau_threshold`` and ``plateau_steps``.

    Returns ``a_mv`` (fast top-down depolarisation per unit attention, mV), ``tau_nmda_steps``
    (unbinding time constant in steps), ``b_off_mv`` (least ``E g`` holding the plateau without
    input) and ``u_scale_mv`` (the soma's gain scale). See the module docstring (**plateau**).
    """
    from hnnbio.neurons.plateau import fold_inputs, offset_binding

    e, v_half, k = PLATEAU_E_MV, PLATEAU_V_HALF_MV, PLATEAU_SLOPE_MV
    c_on = float(params.plateau_threshold)
    if not 4 * k / e < c_on < 1:
        raise ParameterError(f"plateau_threshold: must lie in ({4 * k / e:.4g}, 1) (the "
                             f"dendrite is bistable only for E c > 4 k), got {c_on!r}")
    a_on = fold_inputs(e * c_on, v_half, k)[0]
    b_off = offset_binding(v_half, k)
    tau_n = (float(params.plateau_steps) + 1.5) / np.log(e / b_off)
    return dict(a_mv=a_on / c_on, tau_nmda_steps=tau_n, b_off_mv=b_off,
                u_scale_mv=e * np.exp(-1.0 / tau_n) / float(params.attention_scale))


class ColumnSheet:
    """Cortical columns: B images as one group of B * N neurons per population.

    Parameters
    ----------
    n_images : int
        B, images simulated together.
    n_pixels : int
        N, pixels (columns) per image.
    params : ColumnParams, optional
    dt : float
        Time step in milliseconds (one loop step).
    foreground : ndarray, shape (n_images, n_pixels), bool, optional
        Columns of background pixels never fire (their input unit is silent), so given the
        foreground up front the groups hold only its columns; the sheet still speaks in flat
        indices ``image * N + pixel`` (``units`` maps neuron -> flat index).

    Attributes
    ----------
    populations : dict of str to NeuronGroup
        ``input``, ``pyramidal``, ``self_inhibiting``, ``coincidence``; each of B*N neurons
        (neuron = image * N + pixel), or one per foreground column with ``foreground`` (times M
        for the chains' populations, neuron ``column * M + chain``); with the plateau also
        ``dendrite``, with interneurons ``interneuron`` (one per column).
    plateau : dict or None
        The plateau dendrite's design constants (:func:`plateau_design`), None without it.
    units : ndarray of int or None
        Flat index of each neuron when built with ``foreground``, else None (identity).
    synapses : dict of str to Synapses
        ``input_pyramidal``, ``pyramidal_self_inhibiting``, ``self_inhibiting_coincidence``;
        with interneurons ``self_inhibiting_interneuron``, ``interneuron_self_inhibiting``.
    objects : list
        Every Brian2 object, to add to a Network.
    output : NeuronGroup
        The population named by ``params.output``.
    """

    def __init__(self, n_images: int, n_pixels: int, params: ColumnParams | None = None,
                 dt: float = 1.0, foreground: np.ndarray | None = None):
        check_batch(n_images, n_pixels, dt, params, ColumnParams)
        self.params = p = params or ColumnParams()
        self.n_images, self.n_pixels, self.dt = int(n_images), int(n_pixels), float(dt)
        self.units = foreground_units(foreground, self.n_images, self.n_pixels)
        n = self.n_images * self.n_pixels if self.units is None else int(self.units.size)
        step = self.dt * ms
        fast = p.fast_steps * step
        kappa = 1.0 - np.exp(-1.0 / p.fast_steps)  # fraction of the drive reached in one step

        pyr = PyramidalParams(tau_mem=fast, tau_syn=0.8 * fast, tau_dist=0.8 * fast, t_ref=0 * ms,
                              g_max=float(p.attention_gain))
        self.plateau = plateau_design(p) if p.plateau else None
        if self.plateau is not None:
            pyr = dataclasses.replace(pyr, v_dist_scale=self.plateau["u_scale_mv"] * mV)
        i_th = (pyr.v_threshold - pyr.v_rest) / (pyr.r_mem * kappa)
        self._v_dist_per_attention = float(p.attention_scale * pyr.v_dist_scale)  # volt per unit c
        self._r_dist = float(pyr.r_dist)
        r = p.refractory_steps
        tau_self = (r - 0.5) * step / np.log(p.autapse_ratio) if r > 0 else step
        hifi = SelfInhibitingParams(tau_mem=fast, tau_syn=0.8 * fast, tau_self=tau_self,
                                    w_self=p.autapse_ratio * i_th if r > 0 else 0 * i_th)

        m = self.chains = int(p.chains)
        self.populations = {
            "input": build_stochastic(n * m, gain=float(p.input_probability), name="input*",
                                      dt=step),
            "pyramidal": build_pyramidal(n * m, pyr, name="pyramidal*", dt=step,
                                         distal="linked" if p.plateau else "compartment"),
            "self_inhibiting": build_self_inhibiting(n * m, hifi, name="self_inhibiting*",
                                                     dt=step),
            "coincidence": build_coincidence(n, k_inputs=int(p.up_inputs),
                                             window=p.up_window_steps * step,
                                             name="coincidence*", dt=step),
        }
        pops = self.populations
        ff = Synapses(pops["input"], pops["pyramidal"], "w : amp (constant)\nrelease : 1",
                      on_pre="release = rand()\ni_prox_post += w * release", namespace={}, dt=step,
                      name="input_pyramidal*")
        ff.connect(j="i")
        ff.w = i_th
        up = Synapses(pops["pyramidal"], pops["self_inhibiting"], "w : amp (constant)",
                      on_pre="i_syn_post += w", namespace={}, dt=step,
                      name="pyramidal_self_inhibiting*")
        up.connect(j="i")
        up.w = 2 * i_th
        self.synapses = {
            "input_pyramidal": ff,
            "pyramidal_self_inhibiting": up,
            "self_inhibiting_coincidence": connect_coincidence(
                pops["self_inhibiting"], pops["coincidence"],
                *((None, None) if m == 1 else (np.arange(n * m), np.arange(n * m) // m)),
                name="self_inhibiting_coincidence*"),
        }
        if p.plateau:
            self._build_plateau(n, m, step, fast, pyr)
        if p.interneurons:
            self._build_interneurons(n, m, step, fast, i_th, hifi)
        self.objects = list(self.populations.values()) + list(self.synapses.values())
        self.output = pops[p.output]
        self._spikespace = self.output.variables["_spikespace"]
        self._drive = pops["input"].variables["drive"]
        if p.plateau:
            self._i_td = pops["dendrite"].variables["i_td"]
            self._g = pops["dendrite"].variables["g"]
            self._i_td_per_attention = float(self.plateau["a_mv"] * mV / pyr.r_dist)
        else:
            self._i_dist = pops["pyramidal"].variables["i_dist"]
            self._v_dist = pops["pyramidal"].variables["v_dist"]

    def _build_plateau(self, n: int, m: int, step, fast, pyr: PyramidalParams) -> None:
        """One plateau dendrite per column (its M pyramidal neurons get the same top-down input
        and the dendrite is deterministic, so one stands for all), on a clock of
        ``PLATEAU_SUBSTEPS`` sub-steps per step, scheduled before the somata that read ``u``."""
        design = self.plateau
        params = PlateauParams(tau_dist=0.5 * fast, tau_gate=0.5 * fast,
                               tau_nmda=design["tau_nmda_steps"] * step, r_dist=pyr.r_dist,
                               e_nmda=PLATEAU_E_MV * mV, v_half=PLATEAU_V_HALF_MV * mV,
                               v_slope=PLATEAU_SLOPE_MV * mV)
        dendrite = build_plateau(n, params, name="dendrite*", dt=step / PLATEAU_SUBSTEPS,
                                 order=-1)
        self.populations["dendrite"] = dendrite
        self.populations["pyramidal"].v_dist = linked_var(dendrite, "u",
                                                          index=np.arange(n * m) // m)

    def _build_interneurons(self, n: int, m: int, step, fast, i_th, hifi) -> None:
        """One fast inhibitory interneuron per column: fires in the step after
        ``interneuron_inputs`` of the column's self-inhibiting neurons spiked (jumps of
        ``i_th / (k - 1/2)``), and its spike adds to the autapse current of the column's M
        self-inhibiting neurons ``w_inh = i_th exp((s - 1/2) dt / tau_self)``: each of them then
        relays nothing for s = ``inhibition_steps`` steps."""
        p, pops = self.params, self.populations
        lif = LIFParams(tau_mem=fast, tau_syn=0.8 * fast, t_ref=0 * ms)
        inter = build_lif(n, lif, name="interneuron*", dt=step)
        pops["interneuron"] = inter
        chain, column = np.arange(n * m), np.arange(n * m) // m
        excite = Synapses(pops["self_inhibiting"], inter, "w : amp (constant)",
                          on_pre="i_syn_post += w", namespace={}, dt=step,
                          name="self_inhibiting_interneuron*")
        excite.connect(i=chain, j=column)
        excite.w = i_th / (p.interneuron_inputs - 0.5)
        inhibit = Synapses(inter, pops["self_inhibiting"], "w : amp (constant)",
                           on_pre="i_self_post += w", namespace={}, dt=step,
                           name="interneuron_self_inhibiting*")
        inhibit.connect(i=column, j=chain)
        inhibit.w = i_th * float(np.exp((p.inhibition_steps - 0.5) * step / hifi.tau_self))
        self.synapses["self_inhibiting_interneuron"] = excite
        self.synapses["interneuron_self_inhibiting"] = inhibit

    def set_input(self, images: np.ndarray) -> None:
        """Set the pixels, shape (n_images, n_pixels), values in [0, 1]."""
        flat = unit_pixels(images, self.n_images, self.n_pixels, self.units, "columns")
        self._drive.get_value()[:] = np.repeat(flat, self.chains)

    def set_attention(self, attention: np.ndarray) -> None:
        """Set the distal (top-down) input for the next step, shape (n_images, n_pixels), >= 0.

        The distal compartment is fast (``tau_dist < dt``): it is put directly at its steady
        state ``v_dist = attention_scale * c * v_dist_scale`` (and ``i_dist`` to match). With
        the plateau dendrite, c is its fast drive ``A c`` and binds its NMDA gate,
        ``g = max(g, min(c, 1))``.
        """
        flat = np.reshape(attention, -1)
        if self.units is not None:
            flat = flat[self.units]
        if self.plateau is not None:  # fast drive, and glutamate binds the NMDA gate at once
            self._i_td.get_value()[:] = flat * self._i_td_per_attention
            g = self._g.get_value()
            np.maximum(g, np.minimum(flat, 1.0), out=g)
            return
        v = np.repeat(flat * self._v_dist_per_attention, self.chains)
        self._v_dist.get_value()[:] = v
        self._i_dist.get_value()[:] = v / self._r_dist

    def step_indices(self) -> np.ndarray:
        """Flat indices (image * N + pixel) of the output neurons that spiked in the last step."""
        return spiked(self._spikespace, self.units)

    def step_spikes(self) -> np.ndarray:
        """Output spikes of the step just simulated, shape (n_images, n_pixels), bool."""
        out = np.zeros(self.n_images * self.n_pixels, dtype=bool)
        out[self.step_indices()] = True
        return out.reshape(self.n_images, self.n_pixels)

    def __repr__(self) -> str:
        return (f"ColumnSheet(n_images={self.n_images}, n_pixels={self.n_pixels}, dt={self.dt} ms, "
                f"output={self.params.output!r}, refractory_steps={self.params.refractory_steps})")


class ColumnPopulation:
    """A column sheet as one population of an HNN graph (``circuit = "column"``).

    The engine speaks to it as to any population (``objects``, ``output``, ``units``, ``write``,
    ``read``, ``spike_indices``); its variables are ``input`` (the pixels, written into the
    input units' drive) and ``attention`` (the distal top-down input of the pyramidal neurons).
    """

    VARIABLES = ("input", "attention")

    def __init__(self, node, n_samples: int, dt_ms: float, driven=None):
        params = node_params(ColumnParams, node)
        self.node, self.n_samples = node, n_samples
        self.sheet = ColumnSheet(n_samples, node.size, params, dt_ms, foreground=driven)
        self.objects, self.output, self.units = self.sheet.objects, self.sheet.output, \
            self.sheet.units
        self._values = {k: np.zeros(n_samples * node.size, dtype=np.float32)
                        for k in self.VARIABLES}

    def write(self, name: str, flat: np.ndarray) -> None:
        if name == "input":
            self.sheet.set_input(np.reshape(flat, (self.n_samples, self.node.size)))
        elif name == "attention":
            self.sheet.set_attention(flat)
        else:
            raise ParameterError(f"{self.node.name}: a column sheet has variables "
                                 f"{', '.join(self.VARIABLES)}, not {name!r}")
        self._values[name][:] = flat

    def read(self, name: str) -> np.ndarray:
        if name not in self._values:
            raise ParameterError(f"{self.node.name}: a column sheet has variables "
                                 f"{', '.join(self.VARIABLES)}, not {name!r}")
        return self._values[name].copy()

    def spike_indices(self) -> np.ndarray:
        return self.sheet.step_indices()
