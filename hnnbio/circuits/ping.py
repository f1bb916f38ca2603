r"""PING sheet: excitatory and inhibitory populations make a gamma rhythm; the cycle is not set.

One excitatory unit per pixel (index ``b * N + p``, image ``b``), one inhibitory unit per image.
The rhythm is pyramidal-interneuron network gamma (PING): excitatory spikes fire the image's
interneuron, whose inhibition silences every excitatory unit of the image until it has decayed.

1. **excitatory** (escape-noise units with inhibition and adaptation, per step that is not
   refractory):

   .. math::

       P(\text{spike}) = \mathrm{clip}\big(\beta\,(x\,(c + c_0) - g - a), 0, 1\big), \qquad
       \tau_g \frac{dg}{dt} = -g, \qquad \tau_a \frac{da}{dt} = -a

   ``x`` the binary pixel, ``c`` the top-down attention of the current gamma cycle, ``c_0 =
   floor`` a spontaneous drive, ``beta = slope``; ``g`` the inhibition (a jump ``w_inh =
   inhibition`` per interneuron spike, decaying with ``tau_g = inhibition_tau_steps`` steps);
   ``a`` the unit's adaptation (a jump ``adaptation`` per own spike, decaying with
   ``adaptation_tau_steps``). After a spike the unit is silent for ``refractory_steps`` steps.
   With ``beta = 1``, no floor, no adaptation and no inhibition it is the reference sheet's unit
   (``P = x c``).
2. **inhibitory** (one leaky integrator per image): each excitatory spike of the image adds
   :math:`w = e^{1/\tau_I} / \theta` to ``v`` (:math:`\tau_I` = ``inhibitory_tau_steps``,
   :math:`\theta` = ``inhibitory_threshold``): ``theta`` excitatory spikes in one step fire it at
   the next step (``v >= 1``; reset 0, then ``inhibitory_refractory_steps`` steps in which its
   input is shunted, so one volley fires it once).

After an interneuron spike at step :math:`t_0` (inhibition arrives at the end of that step), an
excitatory unit with attention ``c`` fires at step :math:`t_0 + k` with probability
:math:`c - w_{inh} e^{-k/\tau_g}` (``beta = 1``, no floor or adaptation, plus any residue of
earlier cycles): silent until
:math:`k^* = \tau_g \ln(w_{inh} / c)`, so the most attended object fires first, fires the
interneuron, and the inhibition silences the rest. The period of the rhythm is :math:`k^*` plus
the volley and the two synaptic steps; it is set by the network (inhibition, the attention it
meets), not given, and the loop measures it (:func:`rhythm`). Refractoriness longer than a
period keeps an object from firing in consecutive gamma cycles; adaptation lowers the drive of
units that fire often, so an object the attention lost (silent, ``a`` decayed) regains the floor
and can take a gamma cycle back.

Measured (``hnnbio bind --model models/shapes-gamma.toml``, 128 images, seed 0, the settings
chosen on them): AMI 0.880 vs the reference sheet's 0.943; period 11.6 steps (86 Hz at dt = 1
ms), D = 93 steps. The held-out figures are in the README.

**The ANN is sampled at the rhythm's phase.** The attention unit of the HNN file writes the
autoencoder's output every step (``delay_steps = 1``: the value made at the end of step t,
from the window of steps t - 2 .. t); the sheet keeps it only at the step its interneuron
fires (the window then holds the volley just fired) and puts it in slot ``n mod K`` of a ring of
``K = slots`` gamma cycles (``n`` the image's gamma cycles so far); gamma cycle ``n + 1`` is gated
by slot ``(n + 1) mod K``, the reconstruction made K gamma cycles earlier. So the delay of the
top-down loop is K gamma cycles of whatever length the rhythm has; the cycle D in steps is K times
the measured period. The ring starts as the random soft assignment ``|N(0, 1)|`` normalised over
the K slots (numpy's global generator, which the engine seeds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from brian2 import NeuronGroup, Synapses, ms

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

POPULATIONS = ("excitatory", "inhibitory")


@dataclass(frozen=True)
class PingParams:
    """Design parameters of a :class:`PingSheet` (``params`` of a ``circuit = "ping"``
    population).

    Attributes
    ----------
    slots : int
        K, gamma cycles per attention cycle: the top-down delay in gamma cycles (>= 2).
    refractory_steps : int
        Silent steps of an excitatory unit after its spike (>= 0).
    inhibition : float
        Jump of the inhibition ``g`` per interneuron spike, in units of spike probability (> 0).
    inhibition_delay_steps : int
        Extra steps before an interneuron spike's inhibition reaches the excitatory units
        (synaptic delay, >= 0): the volley runs that much longer.
    inhibition_tau_steps : float
        Decay time constant of ``g`` in steps (> 0).
    inhibitory_threshold : float
        Excitatory spikes in one step that fire the interneuron (>= 1).
    inhibitory_tau_steps : float
        Membrane time constant of the interneuron in steps (> 0).
    inhibitory_refractory_steps : int
        Steps after an interneuron spike in which it ignores its input (>= 1).
    slope : float
        beta, steepness of the escape noise: P(spike) = clip(beta (x (c + floor) - g), 0, 1) (> 0).
        Above 1 an attended unit's probability climbs fast once the inhibition has fallen below
        its drive, so its object fires nearly whole before the next object's drive is reached.
    floor : float
        Spontaneous drive: every foreground unit is driven by ``x (c + floor)`` (>= 0), so an
        object the attention lost still fires once the inhibition has decayed below ``floor``.
    adaptation : float
        Jump of an excitatory unit's adaptation ``a`` per own spike (>= 0), subtracted from
        its drive: a unit that fired often is less excitable, one silent for long (an object
        the attention lost) regains ``floor``.
    adaptation_tau_steps : float
        Decay time constant of ``a`` in steps (> 0).
    max_period_steps : int
        Longest mean period the loop allows: a run ends after ``cycles * slots *
        max_period_steps`` steps even if the rhythm was slower (>= 2).
    """

    slots: int = 4
    refractory_steps: int = 4
    inhibition: float = 4.0
    inhibition_tau_steps: float = 8.0
    inhibition_delay_steps: int = 0
    inhibitory_threshold: float = 4.0
    inhibitory_tau_steps: float = 2.0
    inhibitory_refractory_steps: int = 2
    slope: float = 1.0
    floor: float = 0.0
    adaptation: float = 0.0
    adaptation_tau_steps: float = 100.0
    max_period_steps: int = 30

    def __post_init__(self):
        check_integers(self, {"slots": 2, "refractory_steps": 0,
                              "inhibitory_refractory_steps": 1, "inhibition_delay_steps": 0,
                              "max_period_steps": 2})
        check_numbers(self, ("inhibition", "inhibition_tau_steps", "inhibitory_threshold",
                             "inhibitory_tau_steps", "slope", "adaptation_tau_steps"))
        if isinstance(self.floor, bool) or not isinstance(self.floor, (int, float, np.number)) \
                or not np.isfinite(self.floor) or not 0 <= self.floor <= 1:
            raise ParameterError(f"floor: must be a number in [0, 1], got {self.floor!r}")
        check_numbers(self, ("adaptation",), strict=False)
        if self.inhibitory_threshold < 1:
            raise ParameterError(f"inhibitory_threshold: must be >= 1 spike, got "
                                 f"{self.inhibitory_threshold}")

    @classmethod
    def from_dict(cls, values: dict) -> PingParams:
        """Build from a population's ``params``; an unknown key raises ParameterError naming it."""
        return params_from_dict(cls, values, "ping sheet")


EXCITATORY = """
dg/dt = -g / tau_g : 1
da/dt = -a / tau_a : 1
tau_a : second (constant)
a_jump : 1 (constant, shared)
drive : 1
attention : 1
tau_g : second (constant)
c0 : 1 (constant, shared)
beta : 1 (constant, shared)
"""

THRESHOLD = "rand() < clip(beta * (drive * (attention + c0) - g - a), 0, 1)"

INHIBITORY = """
dv/dt = -v / tau_i : 1 (unless refractory)
tau_i : second (constant)
"""


class PingSheet:
    """Excitatory units (one per pixel) and one interneuron per image, B images as one group each.

    Parameters
    ----------
    n_images, n_pixels : int
    params : PingParams, optional
    dt : float
        Time step in milliseconds.
    foreground : ndarray (n_images, n_pixels) bool, optional
        Only the foreground's excitatory units are built (background units never fire);
        ``units`` maps neuron -> flat index.

    Attributes
    ----------
    populations : dict
        ``excitatory`` and ``inhibitory`` NeuronGroups.
    ring : ndarray, shape (slots, n_images, n_pixels), float32
        The reconstructions of the last K gamma cycles of each image (slot ``n mod K``).
    cycles : ndarray of int, shape (n_images,)
        Gamma cycles (interneuron spikes) of each image so far.
    """

    def __init__(self, n_images: int, n_pixels: int, params: PingParams | None = None,
                 dt: float = 1.0, foreground: np.ndarray | None = None):
        check_batch(n_images, n_pixels, dt, params, PingParams)
        self.params = p = params or PingParams()
        self.n_images, self.n_pixels, self.dt = int(n_images), int(n_pixels), float(dt)
        self.units = foreground_units(foreground, self.n_images, self.n_pixels)
        flat_image = np.repeat(np.arange(self.n_images), self.n_pixels)
        if self.units is not None:
            flat_image = flat_image[self.units]
        step = self.dt * ms
        exc = NeuronGroup(flat_image.size, EXCITATORY, threshold=THRESHOLD,
                          reset="a += a_jump",
                          refractory=(p.refractory_steps + 1) * step if p.refractory_steps
                          else 0 * ms, method="exact", namespace={}, dt=step, name="excitatory*")
        exc.tau_g = p.inhibition_tau_steps * step
        exc.c0 = float(p.floor)
        exc.tau_a = p.adaptation_tau_steps * step
        exc.a_jump = float(p.adaptation)
        exc.beta = float(p.slope)
        inh = NeuronGroup(self.n_images, INHIBITORY, threshold="v >= 1 - 1e-9", reset="v = 0",
                          refractory=p.inhibitory_refractory_steps * step, method="exact",
                          namespace={}, dt=step, name="inhibitory*")
        inh.tau_i = p.inhibitory_tau_steps * step
        to_inh = Synapses(exc, inh, on_pre="v_post += w * int(not_refractory_post)",
                          model="w : 1 (constant, shared)", namespace={}, dt=step,
                          name="excitatory_inhibitory*")
        to_inh.connect(i=np.arange(flat_image.size), j=flat_image)
        to_inh.w = np.exp(1.0 / p.inhibitory_tau_steps) / p.inhibitory_threshold
        to_exc = Synapses(inh, exc, on_pre="g_post += w", model="w : 1 (constant, shared)",
                          namespace={}, dt=step, name="inhibitory_excitatory*")
        to_exc.connect(i=flat_image, j=np.arange(flat_image.size))
        to_exc.w = float(p.inhibition)
        if p.inhibition_delay_steps:
            to_exc.delay = p.inhibition_delay_steps * step
        self.populations = {"excitatory": exc, "inhibitory": inh}
        self.synapses = {"excitatory_inhibitory": to_inh, "inhibitory_excitatory": to_exc}
        self.objects = list(self.populations.values()) + list(self.synapses.values())
        self.output = exc
        self._spikespace = exc.variables["_spikespace"]
        self._inh_spikespace = inh.variables["_spikespace"]
        self._drive = exc.variables["drive"]
        self._attention = exc.variables["attention"]
        K = p.slots
        c = np.abs(np.random.standard_normal((K, self.n_images, self.n_pixels))).astype(np.float32)
        self.ring = c / c.sum(axis=0, keepdims=True)
        self.cycles = np.zeros(self.n_images, dtype=np.int64)
        self.cycle_starts: list[tuple[int, np.ndarray]] = []  # (step, images) per trigger step
        self._step = 0
        self._put_attention()

    def set_input(self, images: np.ndarray) -> None:
        """Set the pixels, shape (n_images, n_pixels), values in [0, 1]."""
        self._drive.get_value()[:] = unit_pixels(images, self.n_images, self.n_pixels,
                                                 self.units, "units")

    def set_ring(self, ring: np.ndarray) -> None:
        """Replace the attention of the next K gamma cycles, shape (slots, n_images, n_pixels),
        values in [0, 1] (slot ``n mod K`` gates gamma cycle ``n``)."""
        ring = np.asarray(ring, dtype=np.float32)
        if ring.shape != self.ring.shape:
            raise ParameterError(f"ring: shape {ring.shape} != {self.ring.shape}")
        if not np.all((ring >= 0) & (ring <= 1)):
            raise ParameterError("ring: values must lie in [0, 1]")
        self.ring[:] = ring
        self._put_attention()

    def fired_images(self) -> np.ndarray:
        """Images whose interneuron spiked in the step just simulated."""
        space = self._inh_spikespace.get_value()
        return space[:space[-1]].astype(np.int64)

    def sample(self, reconstruction: np.ndarray) -> np.ndarray:
        """The step's autoencoder output (n_images * n_pixels,): kept for the images whose
        interneuron just fired (slot ``n mod K``), which then move to their next gamma cycle and
        its slot's attention. Returns those images."""
        fired = self.fired_images()
        if fired.size:
            K = self.params.slots
            y = np.reshape(reconstruction, (self.n_images, self.n_pixels))
            self.ring[self.cycles[fired] % K, fired] = y[fired]
            self.cycles[fired] += 1
            self._put_attention()
            self.cycle_starts.append((self._step, fired))
        self._step += 1
        return fired

    def current_attention(self) -> np.ndarray:
        """The attention gating each image's current gamma cycle, shape (n_images, n_pixels)."""
        K = self.params.slots
        return self.ring[self.cycles % K, np.arange(self.n_images)]

    def next_cycle(self) -> np.ndarray:
        """The attention of the next K gamma cycles of each image, in their order, shape
        (n_images, K, n_pixels): slot ``(n + k) mod K`` for k = 0 .. K - 1."""
        K = self.params.slots
        order = (self.cycles[:, None] + np.arange(K)[None, :]) % K
        return self.ring[order, np.arange(self.n_images)[:, None]]

    def _put_attention(self) -> None:
        c = self.current_attention().ravel()
        target = self._attention.get_value()
        if self.units is None:
            target[:] = c
        else:
            target[:] = c[self.units]

    def step_indices(self) -> np.ndarray:
        """Flat indices of the excitatory units that spiked in the last step."""
        return spiked(self._spikespace, self.units)

    def __repr__(self) -> str:
        return (f"PingSheet(n_images={self.n_images}, n_pixels={self.n_pixels}, dt={self.dt} ms, "
                f"slots={self.params.slots})")


def rhythm(cycle_starts, n_images: int, first_step: int = 0, dt_ms: float = 1.0) -> dict:
    """The measured rhythm: per image, the mean interval between its interneuron spikes at or
    after ``first_step``; ``period_steps`` (mean over images with >= 2 spikes), its standard
    deviation over images, ``frequency_hz`` and ``cycles`` (interneuron spikes per image)."""
    steps = [[] for _ in range(n_images)]
    for step, images in cycle_starts:
        if step >= first_step:
            for b in images:
                steps[int(b)].append(step)
    periods = np.array([np.diff(s).mean() for s in steps if len(s) >= 2])
    counts = np.array([len(s) for s in steps])
    if periods.size == 0:
        return dict(period_steps=float("nan"), period_sd=float("nan"),
                    frequency_hz=float("nan"), cycles=counts)
    period = float(periods.mean())
    return dict(period_steps=period, period_sd=float(periods.std()),
                frequency_hz=1000.0 / (period * dt_ms), cycles=counts,
                image_periods=periods)


class PingPopulation:
    """A PING sheet as one population of an HNN graph (``circuit = "ping"``): variables
    ``input`` (the pixels) and ``attention`` (the autoencoder's output of the step, kept at the
    rhythm's phase: :meth:`PingSheet.sample`)."""

    VARIABLES = ("input", "attention")

    def __init__(self, node, n_samples: int, dt_ms: float, driven=None):
        params = node_params(PingParams, node)
        self.node, self.n_samples = node, n_samples
        self.sheet = PingSheet(n_samples, node.size, params, dt_ms, foreground=driven)
        self.objects, self.output, self.units = self.sheet.objects, self.sheet.output, \
            self.sheet.units
        self._input = np.zeros(n_samples * node.size, dtype=np.float32)
        self._started = False

    def write(self, name: str, flat: np.ndarray) -> None:
        if name == "input":
            self.sheet.set_input(np.reshape(flat, (self.n_samples, self.node.size)))
            self._input[:] = flat
        elif name == "attention":
            if self._started:  # the engine's first write comes before any step
                self.sheet.sample(flat)
            self._started = True
        else:
            raise ParameterError(f"{self.node.name}: a ping sheet has variables "
                                 f"{', '.join(self.VARIABLES)}, not {name!r}")

    def read(self, name: str) -> np.ndarray:
        if name == "input":
            return self._input.copy()
        if name == "attention":
            return self.sheet.current_attention().ravel()
        raise ParameterError(f"{self.node.name}: a ping sheet has variables "
                             f"{', '.join(self.VARIABLES)}, not {name!r}")

    def spike_indices(self) -> np.ndarray:
        return self.sheet.step_indices()
