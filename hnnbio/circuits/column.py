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
from brian2 import Synapses, ms

from hnnbio.errors import ParameterError
from hnnbio.neurons.coincidence import build_coincidence, connect_coincidence
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

    def __post_init__(self):
        for name in ("refractory_steps", "up_inputs", "up_window_steps", "chains"):
            value = getattr(self, name)
            low = 0 if name == "refractory_steps" else 1
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ParameterError(f"{name}: must be an integer >= {low}, got {value!r}")
        for name in ("input_probability", "attention_gain", "attention_scale", "autapse_ratio",
                     "fast_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                    or not np.isfinite(value) or value <= 0:
                raise ParameterError(f"{name}: must be a number > 0, got {value!r}")
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

    @classmethod
    def from_dict(cls, values: dict) -> ColumnParams:
        """Build from a spec's ``[sheet_params]``; an unknown key raises ParameterError naming it.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        for key in values:
            if key not in known:
                raise ParameterError(f"{key}: unknown column sheet parameter; known: "
                                     f"{', '.join(sorted(known))}")
        return cls(**values)


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
        (neuron = image * N + pixel), or one per foreground column with ``foreground``.
    units : ndarray of int or None
        Flat index of each neuron when built with ``foreground``, else None (identity).
    synapses : dict of str to Synapses
        ``input_pyramidal``, ``pyramidal_self_inhibiting``, ``self_inhibiting_coincidence``.
    objects : list
        Every Brian2 object, to add to a Network.
    output : NeuronGroup
        The population named by ``params.output``.
    """

    def __init__(self, n_images: int, n_pixels: int, params: ColumnParams | None = None,
                 dt: float = 1.0, foreground: np.ndarray | None = None):
        for name, value in (("n_images", n_images), ("n_pixels", n_pixels)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ParameterError(f"{name}: must be an integer >= 1, got {value!r}")
        if isinstance(dt, bool) or not isinstance(dt, (int, float, np.number)) or not dt > 0:
            raise ParameterError(f"dt: must be > 0 ms, got {dt!r}")
        if params is not None and not isinstance(params, ColumnParams):
            raise ParameterError(f"params: expected ColumnParams, got {type(params).__name__}")
        self.params = p = params or ColumnParams()
        self.n_images, self.n_pixels, self.dt = int(n_images), int(n_pixels), float(dt)
        n = self.n_images * self.n_pixels
        self.units = None
        if foreground is not None:
            foreground = np.asarray(foreground, dtype=bool)
            if foreground.shape != (self.n_images, self.n_pixels):
                raise ParameterError(f"foreground: shape {foreground.shape} != "
                                     f"{(self.n_images, self.n_pixels)}")
            self.units = np.flatnonzero(foreground.ravel())
            if self.units.size == 0:
                raise ParameterError("foreground: no foreground pixel at all")
            n = int(self.units.size)
        step = self.dt * ms
        fast = p.fast_steps * step
        kappa = 1.0 - np.exp(-1.0 / p.fast_steps)  # fraction of the drive reached in one step

        pyr = PyramidalParams(tau_mem=fast, tau_syn=0.8 * fast, tau_dist=0.8 * fast, t_ref=0 * ms,
                              g_max=float(p.attention_gain))
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
            "pyramidal": build_pyramidal(n * m, pyr, name="pyramidal*", dt=step),
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
        self.objects = list(self.populations.values()) + list(self.synapses.values())
        self.output = pops[p.output]
        self._spikespace = self.output.variables["_spikespace"]
        self._drive = pops["input"].variables["drive"]
        self._i_dist = pops["pyramidal"].variables["i_dist"]
        self._v_dist = pops["pyramidal"].variables["v_dist"]

    def set_input(self, images: np.ndarray) -> None:
        """Set the pixels, shape (n_images, n_pixels), values in [0, 1]."""
        images = np.asarray(images, dtype=float)
        if images.shape != (self.n_images, self.n_pixels):
            raise ParameterError(f"images: shape {images.shape} != "
                                 f"{(self.n_images, self.n_pixels)}")
        if np.any((images < 0) | (images > 1)):
            raise ParameterError("images: values must lie in [0, 1]")
        flat = images.ravel()
        if self.units is not None:
            outside = np.ones(flat.size, dtype=bool)
            outside[self.units] = False
            if flat[outside].any():
                raise ParameterError("images: input outside the sheet's foreground columns")
            flat = flat[self.units]
        self._drive.get_value()[:] = np.repeat(flat, self.chains)

    def set_attention(self, attention: np.ndarray) -> None:
        """Set the distal (top-down) input for the next step, shape (n_images, n_pixels), >= 0.

        The distal compartment is fast (``tau_dist < dt``): it is put directly at its steady
        state ``v_dist = attention_scale * c * v_dist_scale`` (and ``i_dist`` to match).
        """
        flat = np.reshape(attention, -1)
        if self.units is not None:
            flat = flat[self.units]
        v = np.repeat(flat * self._v_dist_per_attention, self.chains)
        self._v_dist.get_value()[:] = v
        self._i_dist.get_value()[:] = v / self._r_dist

    def step_indices(self) -> np.ndarray:
        """Flat indices (image * N + pixel) of the output neurons that spiked in the last step."""
        space = self._spikespace.get_value()
        fired = space[:space[-1]]
        return fired if self.units is None else self.units[fired]

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
        try:
            params = ColumnParams.from_dict(dict(node.params))
        except TypeError as exc:
            raise ParameterError(f"{node.name}: params: {exc}") from None
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
