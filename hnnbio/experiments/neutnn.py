r"""NeuTNN on the digits: one dendritic-segment neuron per learned prototype, and synaptic pruning.

A model file with ``[experiment] kind = "neutnn"`` describes a network of
:mod:`hnnbio.neurons.segments` neurons; its learned part (the prototypes) is the weights file
beside it, written by :mod:`hnnbio.experiments.neutnn_train` from the training split only.

**Encoding (ON and OFF channels, gamma cycles).** Each pixel of grey level ``g`` (0..16) has an ON
channel (index ``p``) and an OFF channel (index ``64 + p``). Time is cut into cycles of
``cycle_steps`` steps; in every cycle an ON channel fires one spike with probability ``g / 16``
and an OFF channel with probability ``1 - g / 16``, at a step drawn uniformly among the first
``jitter_steps`` of the cycle (a jittered volley, one spike per line per cycle as in temporal
neural networks). With ``window >= jitter_steps * dt`` all the spikes of one cycle fall in one
coincidence window, and with ``cycle_steps >= 2 * jitter_steps`` the count returns to zero
between cycles, so a segment fires at most once per cycle, when at least theta of its channels
fired in that cycle.

**Neurons.** ``prototypes_per_class`` neurons per class; neuron ``k`` has prototype
:math:`c_k \in [0, 1]^{64}` (k-means centroid of its class's training images, grey / 16). Its ON
synapses are the pixels with :math:`c_{kp} \ge` ``on_level``, its OFF synapses the pixels with
:math:`c_{kp} \le` ``off_level``. The proximal segments are a ``segment_rows x segment_cols``
grid of the 8 x 8 image: segment ``s`` holds the ON and OFF synapses of the pixels in its block.
A segment with ``n`` synapses has :math:`\theta = \max(1, \lfloor f n + 1/2 \rfloor)` with
``f = theta_proximal``. One distal segment per neuron (when ``theta_distal > 0``) holds all the
neuron's synapses with threshold fraction ``theta_distal``: the whole-prototype match, a context
that lowers the soma threshold by ``distal_shift`` for ``plateau`` (the neuron then needs one
proximal event fewer). The soma fires on about ``v_threshold / w_proximal`` proximal events of one
cycle (``tau_mem`` forgets the previous cycles). A batch of B images is one group of B * N neurons
(neuron ``b * N + k``), fed by one generator of B * 128 channels.

**Readout.** The class whose neurons fired the most somatic spikes; ties are broken by the number
of proximal dendritic events of the class's neurons, then by the lower class.

**Pruning by usage.** A synapse from channel ``j`` onto neuron ``k`` is used with probability
:math:`u_{kj}` on images like its prototype (ON: :math:`c_{kp}`, OFF: :math:`1 - c_{kp}`) and
:math:`\bar u_j` on the training split as a whole (stored in the weights file). Its score is
:math:`|u_{kj} - \bar u_j|`: a synapse used as often on every image (e.g. an OFF synapse of a
border pixel, dark in every digit) adds the same count to the segments of every neuron and
carries no information about the class, yet it costs synaptic operations every cycle. In every
segment the :math:`\lfloor r n + 1/2 \rfloor` synapses of lowest score (``r = prune_fraction``;
ties: lower channel first) are removed, and theta is recomputed from the same fraction of the
remaining synapses. Magnitude pruning has nothing to remove here: every synapse of a segment has
the same weight (the coincidence detectors count inputs).

**Energy.** Synaptic operations counted in the run, every event Brian2 delivers: two per input
spike and synapse (a box potential: the rise on arrival and the fall ``window`` later), one per
dendritic event (onto the soma). Energy = SOPs x ``pj_per_sop`` of
:class:`hnnbio.chip.spec.ChipSpec` (0.9 pJ, docs/chip.md).

**References in the result.** ``reference.nearest_prototype``: the class of the nearest prototype
(Euclidean, grey / 16) with the same prototypes, an ANN-free reference of what the prototypes
hold; ``without_distal``: the same network with the distal segments removed.

**On the chip.** ``hnnbio export`` compiles the network ``chip_network`` names (full by
default, or without_distal, or pruned: the pruned synapses are then absent from the program;
:func:`compile_network`, :mod:`hnnbio.chip.segments`); ``hnnbio run --backend emulator`` runs
the three networks on the chip's interpreter on the same input spikes as Brian2 gets (segment
events and plateaus exact, the soma's leak and event weight rounded). SOPs are counted as above;
the interpreter's own counters (dense crossbars, which pruning barely lowers) are under
``chip_counters_per_sample``.

``[experiment]`` keys (every other key is refused by name): see :data:`KEYS`.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from hnnbio.errors import DataError, ModelSpecError, ParameterError
from hnnbio.experiments.files import (
    check_owner,
    experiment_table,
    read_experiment_file,
    read_weights,
    weights_file,
)

FORMAT = 1
N_PIXELS = 64
N_CHANNELS = 2 * N_PIXELS
SIDE = 8
GREY_MAX = 16.0
DATASETS = ("digits",)

#: ``[experiment]`` keys and defaults (``None``: required).
KEYS = {
    "kind": "neutnn",
    "weights": None,
    "dataset": "digits",
    "prototypes_per_class": 10,
    "on_level": 0.5,
    "off_level": 0.15,
    "segment_rows": 4,
    "segment_cols": 2,
    "theta_proximal": 0.85,
    "theta_distal": 0.9,
    "window": "4 ms",
    "cycle_steps": 10,
    "jitter_steps": 4,
    "w_proximal": "10 mV",
    "v_threshold": "65 mV",
    "tau_mem": "5 ms",
    "distal_shift": "10 mV",
    "plateau": "10 ms",
    "prune_fraction": 0.4,
    "batch": 100,
    "chip_network": "full",  # what hnnbio export compiles: full, without_distal or pruned
}
CHIP_NETWORKS = ("full", "without_distal", "pruned")
QUANTITIES = ("window", "w_proximal", "v_threshold", "tau_mem", "distal_shift", "plateau")


@dataclasses.dataclass(frozen=True)
class Design:
    """The network's design parameters (the ``[experiment]`` keys), checked at construction.

    Fractions: ``on_level``, ``off_level`` in [0, 1] with ``off_level < on_level``;
    ``theta_proximal`` in (0, 1]; ``theta_distal`` in [0, 1] (0: no distal segment);
    ``prune_fraction`` in [0, 1). Quantities as in :class:`hnnbio.neurons.segments.SegmentParams`
    (Brian2 quantities here). Integers >= 1: ``prototypes_per_class``, ``segment_rows``,
    ``segment_cols`` (divisors of 8), ``cycle_steps``, ``jitter_steps``, ``batch``.
    """

    prototypes_per_class: int = 10
    on_level: float = 0.5
    off_level: float = 0.15
    segment_rows: int = 4
    segment_cols: int = 2
    theta_proximal: float = 0.85
    theta_distal: float = 0.9
    window: object = None
    cycle_steps: int = 10
    jitter_steps: int = 4
    w_proximal: object = None
    v_threshold: object = None
    tau_mem: object = None
    distal_shift: object = None
    plateau: object = None
    prune_fraction: float = 0.4
    batch: int = 100

    def __post_init__(self):
        from brian2 import ms, mV

        defaults = {"window": 4 * ms, "w_proximal": 10 * mV, "v_threshold": 65 * mV,
                    "tau_mem": 5 * ms, "distal_shift": 10 * mV, "plateau": 10 * ms}
        for key, value in defaults.items():
            if getattr(self, key) is None:
                object.__setattr__(self, key, value)
        for key in ("prototypes_per_class", "segment_rows", "segment_cols", "cycle_steps",
                    "jitter_steps", "batch"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ParameterError(f"{key}: must be an integer >= 1, got {v!r}")
        for key in ("segment_rows", "segment_cols"):
            if SIDE % getattr(self, key):
                raise ParameterError(f"{key}: must divide {SIDE}, got {getattr(self, key)}")
        ranges = {"on_level": (0, 1, True), "off_level": (0, 1, True),
                  "theta_proximal": (0, 1, False), "theta_distal": (0, 1, True),
                  "prune_fraction": (0, 1, "right-open")}
        for key, (low, high, closed) in ranges.items():
            v = getattr(self, key)
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            if ok:
                ok = {True: low <= v <= high, False: low < v <= high,
                      "right-open": low <= v < high}[closed]
            if not ok:
                interval = {True: "[0, 1]", False: "(0, 1]", "right-open": "[0, 1)"}[closed]
                raise ParameterError(f"{key}: must be a fraction in {interval}, got {v!r}")
        if not self.off_level < self.on_level:
            raise ParameterError(f"off_level: must be below on_level ({self.on_level}), got "
                                 f"{self.off_level}")
        if self.cycle_steps < 2 * self.jitter_steps:
            raise ParameterError(f"cycle_steps: must be >= 2 * jitter_steps "
                                 f"({2 * self.jitter_steps}) so that a cycle's count returns to "
                                 f"zero before the next, got {self.cycle_steps}")
        # the neuron's own checks (units, signs, thresholds) raise by name here, at construction
        self.segment_params()

    @property
    def n_proximal(self) -> int:
        return self.segment_rows * self.segment_cols

    @property
    def n_distal(self) -> int:
        return 1 if self.theta_distal > 0 else 0

    def segment_params(self):
        from hnnbio.neurons.segments import SegmentParams

        return SegmentParams(n_proximal=self.n_proximal, n_distal=1, theta_proximal=1,
                             theta_distal=1, window=self.window, plateau=self.plateau,
                             w_proximal=self.w_proximal, tau_mem=self.tau_mem,
                             v_threshold=self.v_threshold, distal_shift=self.distal_shift)


def design_from_settings(settings: dict) -> Design:
    """A :class:`Design` from the ``[experiment]`` table (quantities parsed from strings)."""
    from hnnbio.hnn.files import parse_quantity

    kwargs = {}
    for key in Design.__dataclass_fields__:
        value = settings[key]
        if key in QUANTITIES:
            if not isinstance(value, str):
                raise ModelSpecError(f"[experiment]: {key} must be a quantity string such as "
                                     f"\"{KEYS[key]}\", got {value!r}")
            value = parse_quantity(value, f"[experiment]: {key}")
        kwargs[key] = value
    try:
        return Design(**kwargs)
    except ParameterError as exc:
        raise ModelSpecError(f"[experiment]: {exc}") from None


# --- structure: which channel onto which segment of which neuron ----------------------------------

@dataclasses.dataclass(frozen=True)
class Structure:
    """Synapses of one image's network: synapse ``m`` joins channel ``channel[m]`` to segment
    ``segment[m]`` (0 .. n_proximal - 1 proximal, n_proximal distal) of neuron ``neuron[m]``."""

    n_neurons: int
    n_proximal: int
    neuron: np.ndarray
    segment: np.ndarray
    channel: np.ndarray

    @property
    def n_segments(self) -> int:
        return self.n_proximal + 1

    @property
    def size(self) -> int:
        return int(self.channel.size)

    def counts(self) -> np.ndarray:
        """Synapses per segment, (n_neurons, n_segments)."""
        flat = np.bincount(self.neuron * self.n_segments + self.segment,
                           minlength=self.n_neurons * self.n_segments)
        return flat.reshape(self.n_neurons, self.n_segments)

    def select(self, keep: np.ndarray) -> Structure:
        return dataclasses.replace(self, neuron=self.neuron[keep], segment=self.segment[keep],
                                   channel=self.channel[keep])

    def without_distal(self) -> Structure:
        return self.select(self.segment < self.n_proximal)


def pixel_blocks(rows: int, cols: int) -> np.ndarray:
    """Proximal segment of every pixel: a ``rows x cols`` grid of the 8 x 8 image (row major)."""
    r, c = np.divmod(np.arange(N_PIXELS), SIDE)
    return (r // (SIDE // rows)) * cols + c // (SIDE // cols)


def build_structure(prototypes: np.ndarray, design: Design) -> Structure:
    """ON synapses where a prototype is >= on_level, OFF where <= off_level; proximal segments by
    pixel block; the distal segment (if any) holds all the neuron's synapses."""
    prototypes = np.asarray(prototypes, dtype=float)
    n = prototypes.shape[0]
    block = pixel_blocks(design.segment_rows, design.segment_cols)
    on = prototypes >= design.on_level
    off = prototypes <= design.off_level
    mask = np.concatenate([on, off], axis=1)  # (n, 128)
    k, ch = np.nonzero(mask)
    seg = block[ch % N_PIXELS]
    neuron, segment, channel = [k], [seg], [ch]
    if design.n_distal:
        neuron.append(k)
        segment.append(np.full_like(k, design.n_proximal))
        channel.append(ch)
    neuron, segment, channel = (np.concatenate(a).astype(np.int64)
                                for a in (neuron, segment, channel))
    order = np.lexsort((channel, segment, neuron))
    return Structure(n, design.n_proximal, neuron[order], segment[order], channel[order])


def theta_of(counts: np.ndarray, fraction: float) -> np.ndarray:
    """Theta of segments with ``counts`` synapses: ``max(1, floor(fraction * n + 1/2))``."""
    return np.maximum(1, np.floor(fraction * np.asarray(counts) + 0.5)).astype(np.int64)


def thetas(structure: Structure, design: Design) -> np.ndarray:
    """Per-segment theta, (n_neurons, n_segments): the design's fractions of the synapse counts."""
    counts = structure.counts()
    out = theta_of(counts, design.theta_proximal)
    out[:, structure.n_proximal] = theta_of(counts[:, structure.n_proximal],
                                            max(design.theta_distal, 1e-12))
    return out


def channel_usage(prototypes: np.ndarray) -> np.ndarray:
    """(n_neurons, 128): the probability that each channel fires in a cycle on the prototype."""
    c = np.clip(np.asarray(prototypes, dtype=float), 0, 1)
    return np.concatenate([c, 1 - c], axis=1)


def prune(structure: Structure, score: np.ndarray, fraction: float) -> Structure:
    """Remove, in every segment, the ``floor(fraction * n + 1/2)`` synapses of lowest
    ``score[neuron, channel]`` (ties: the lower channel goes first)."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) \
            or not 0 <= fraction < 1:
        raise ParameterError(f"prune_fraction: must be a fraction in [0, 1), got {fraction!r}")
    s = np.asarray(score, dtype=float)[structure.neuron, structure.channel]
    group = structure.neuron * structure.n_segments + structure.segment
    order = np.lexsort((structure.channel, s, group))
    g_sorted = group[order]
    counts = np.bincount(group, minlength=structure.n_neurons * structure.n_segments)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(order.size) - first[g_sorted]
    remove = np.floor(fraction * counts + 0.5).astype(np.int64)
    keep = np.ones(structure.size, dtype=bool)
    keep[order[rank < remove[g_sorted]]] = False
    return structure.select(keep)


def usage_scores(prototypes: np.ndarray, mean_usage: np.ndarray) -> np.ndarray:
    """|u_kj - mean u_j|: how differently synapse (k, j) is used on its prototype and overall."""
    return np.abs(channel_usage(prototypes) - np.asarray(mean_usage, dtype=float)[None, :])


# --- encoding ------------------------------------------------------------------------------------

def encode(grey: np.ndarray, steps: int, design: Design, rng) -> tuple[np.ndarray, np.ndarray]:
    """Spikes (channel index ``b * 128 + j``, step) of a (B, 64) grey batch, see the module
    docstring."""
    x = np.asarray(grey, dtype=float) / GREY_MAX
    p = np.concatenate([x, 1 - x], axis=1).ravel()
    idx, step = [], []
    for start in range(0, steps, design.cycle_steps):
        fire = np.flatnonzero(rng.random(p.size) < p)
        at = start + rng.integers(0, design.jitter_steps, fire.size)
        inside = at < steps
        idx.append(fire[inside])
        step.append(at[inside])
    idx = np.concatenate(idx) if idx else np.zeros(0, np.int64)
    step = np.concatenate(step) if step else np.zeros(0, np.int64)
    return idx.astype(np.int64), step.astype(np.int64)


# --- the Brian2 network --------------------------------------------------------------------------

def simulate(structure: Structure, theta: np.ndarray, design: Design, n_images: int,
             spike_index, spike_step, steps: int, dt=None) -> dict:
    """Run B = ``n_images`` copies of the network on the given input spikes.

    ``theta``: (n_neurons, n_segments) integers (a segment with synapses needs theta <= its
    synapse count: :func:`hnnbio.neurons.segments.connect_segments` refuses it by name).
    Returns per image and neuron: ``soma`` spikes, ``proximal`` and ``distal`` dendritic events
    (B, N) and ``soma_steps`` / ``segment_events`` lists, and ``sops`` per image (B,).
    """
    from brian2 import Network, SpikeGeneratorGroup, SpikeMonitor, ms

    from hnnbio.config import brian_target
    from hnnbio.neurons.segments import build_segment_neuron, connect_segments

    dt = 1 * ms if dt is None else dt
    n, n_seg = structure.n_neurons, structure.n_segments
    theta = np.asarray(theta)
    if theta.shape != (n, n_seg):
        raise ParameterError(f"theta: expected shape {(n, n_seg)}, got {theta.shape}")
    b = int(n_images)
    with brian_target():
        source = SpikeGeneratorGroup(b * N_CHANNELS, np.asarray(spike_index, dtype=int),
                                     np.asarray(spike_step, dtype=float) * dt, dt=dt,
                                     name="neutnn_channels*")
        neuron = build_segment_neuron(b * n, design.segment_params(), dt=dt, name="neutnn")
        flat_theta = np.tile(theta.ravel(), b)
        neuron.segments.k_inputs[:] = flat_theta
        neuron.segments.v_threshold_[:] = (flat_theta - 0.5) * float(neuron.segments.w_in_[0])
        offset = np.repeat(np.arange(b), structure.size)
        i = np.tile(structure.channel, b) + offset * N_CHANNELS
        target = np.tile(structure.neuron, b) + offset * n
        segment = np.tile(structure.segment, b)
        objects = [source, *neuron.objects]
        syn = None
        if i.size:
            syn = connect_segments(source, neuron, i=i, target=target, segment=segment,
                                   name="neutnn_synapses*")
            objects.append(syn)
        soma_mon, seg_mon, in_mon = (SpikeMonitor(neuron.soma), SpikeMonitor(neuron.segments),
                                     SpikeMonitor(source))
        Network(*objects, soma_mon, seg_mon, in_mon).run(steps * dt)
        soma_i = np.asarray(soma_mon.i[:], dtype=np.int64)
        soma_t = np.round(np.asarray(soma_mon.t[:] / dt)).astype(np.int64)
        seg_i = np.asarray(seg_mon.i[:], dtype=np.int64)
        seg_t = np.round(np.asarray(seg_mon.t[:] / dt)).astype(np.int64)
        in_count = np.bincount(np.asarray(in_mon.i[:], dtype=np.int64),
                               minlength=b * N_CHANNELS)
    soma = np.bincount(soma_i, minlength=b * n).reshape(b, n)
    seg_counts = np.bincount(seg_i, minlength=b * n * n_seg).reshape(b, n, n_seg)
    proximal = seg_counts[:, :, :structure.n_proximal].sum(axis=2)
    distal = seg_counts[:, :, structure.n_proximal]
    # SOPs: 2 per input spike per synapse (box rise and fall), 1 per dendritic event onto the soma
    degree = np.bincount(structure.channel, minlength=N_CHANNELS)
    has_syn = structure.counts().ravel() > 0
    input_sops = 2 * (in_count.reshape(b, N_CHANNELS) * degree[None, :]).sum(axis=1)
    event_sops = (seg_counts.reshape(b, -1) * has_syn[None, :]).sum(axis=1)
    return dict(soma=soma, proximal=proximal, distal=distal, soma_index=soma_i,
                soma_steps=soma_t, segment_index=seg_i, segment_steps=seg_t,
                sops=input_sops + event_sops, input_spikes=in_count.reshape(b, -1).sum(axis=1))


def readout(soma: np.ndarray, proximal: np.ndarray, labels: np.ndarray,
            n_classes: int = 10) -> np.ndarray:
    """Class with the most somatic spikes; ties: most proximal events; then the lower class."""
    labels = np.asarray(labels)
    one_hot = (labels[:, None] == np.arange(n_classes)[None, :]).astype(np.int64)
    spikes = np.asarray(soma) @ one_hot
    events = np.asarray(proximal) @ one_hot
    key = spikes * (int(events.max(initial=0)) + 1) + events
    return np.argmax(key, axis=1)


# --- the model file and its weights ---------------------------------------------------------------

def experiment_settings(raw: dict) -> dict:
    """The ``[experiment]`` table with defaults; unknown keys refused by name."""
    return experiment_table(raw, KEYS, DATASETS)


def read_model(path):
    """(model file, settings, design) of a model file; every key checked, no weights read."""
    return read_experiment_file(path, "neutnn", experiment_settings, design_from_settings,
                                N_PIXELS, "steps of the encoding", None)


def compile_network(structure: Structure, design: Design, steps: int, name: str, theta=None):
    """The chip program of one network (:func:`hnnbio.chip.segments.compile_segments`): the
    segment events and plateaus of Brian2 exactly, the soma with its leak and event weight
    rounded. ``theta``: (n_neurons, n_segments), default :func:`thetas`."""
    from hnnbio.chip.segments import compile_segments

    theta = thetas(structure, design) if theta is None else theta
    return compile_segments(structure.channel, structure.neuron, structure.segment,
                            theta, structure.n_neurons,
                            design.segment_params(), n_channels=N_CHANNELS, steps=int(steps),
                            name=name)


def chip_graph(path):
    """What ``hnnbio export`` compiles: the network ``[experiment] chip_network`` names (full,
    without_distal or pruned: the pruned synapses are absent from the program) of the model
    file, its weights read and checked, for the model file's steps."""
    graph, settings, design = read_model(path)
    which = settings["chip_network"]
    if which not in CHIP_NETWORKS:
        raise ModelSpecError(f"[experiment]: chip_network must be one of "
                             f"{', '.join(CHIP_NETWORKS)}, got {which!r}")
    weights = load_weights(graph, settings, design)
    nets = networks_of(weights["prototypes"], weights["labels"], weights["mean_usage"], design)
    steps = graph.steps if graph.steps is not None else 10 * design.cycle_steps
    return compile_network(nets.variants()[which], design, steps, graph.name).program


def weights_path(graph, settings) -> Path:
    return weights_file(settings, graph.path)


def load_weights(graph, settings: dict, design: Design) -> dict:
    """Prototypes, their labels and the channels' mean usage, checked to be this model's."""
    path = weights_path(graph, settings)
    data = read_weights(path, "hnnbio.experiments.neutnn_train", graph.path)
    check_owner(data, graph.name, path.name)
    n = 10 * design.prototypes_per_class
    try:
        prototypes = np.asarray(data["prototypes"], dtype=float)
        labels = np.asarray(data["labels"], dtype=np.int64)
        usage = np.asarray(data["mean_usage"], dtype=float)
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{path.name}: not a neutnn weights file (needs prototypes, labels, "
                        f"mean_usage)") from None
    if data.get("format") != FORMAT or prototypes.shape != (n, N_PIXELS) \
            or labels.shape != (n,) or usage.shape != (N_CHANNELS,):
        raise DataError(f"{path.name}: weights for {prototypes.shape[0]} prototypes of "
                        f"{prototypes.shape[1:]} pixels, the model file has {n} of "
                        f"({N_PIXELS},)")
    return dict(prototypes=prototypes, labels=labels, mean_usage=usage)


def check_images(values) -> np.ndarray:
    """(B, 8, 8) or (B, 64) grey levels 0..16 -> (B, 64) float; one line when wrong."""
    from hnnbio.experiments.classification import check_images as check

    return check(values, N_PIXELS)


@dataclasses.dataclass
class Networks:
    """The full, distal-ablated and pruned networks of a model file."""

    design: Design
    labels: np.ndarray
    prototypes: np.ndarray
    full: Structure
    pruned: Structure

    def variants(self) -> dict:
        return {"full": self.full, "without_distal": self.full.without_distal(),
                "pruned": self.pruned}


def networks_of(prototypes, labels, mean_usage, design: Design) -> Networks:
    full = build_structure(prototypes, design)
    pruned = prune(full, usage_scores(prototypes, mean_usage), design.prune_fraction)
    return Networks(design, np.asarray(labels), np.asarray(prototypes), full, pruned)


def evaluate(nets: Networks, grey: np.ndarray, labels=None, steps: int = 100, seed: int = 0,
             variants=("full", "without_distal", "pruned"), backend: str = "brian2") -> dict:
    """Each variant on the same input spikes (batches of ``design.batch``): predictions,
    accuracy, somatic spikes, SOPs and energy per sample. ``backend = "emulator"``: each
    variant compiled for the chip and run on its interpreter (SOPs counted from its events as
    in Brian2; the interpreter's own counters and the cores beside them)."""
    from hnnbio.chip.spec import ChipSpec

    design = nets.design
    pj = ChipSpec().pj_per_sop
    all_variants = nets.variants()
    out = {}
    for name in variants:
        structure = all_variants[name]
        theta = thetas(structure, design)
        compiled = None
        if backend == "emulator":
            compiled = compile_network(structure, design, steps, f"neutnn.{name}", theta)
        pred, soma, sops, inputs, counters = [], [], [], [], {}
        for start in range(0, len(grey), design.batch):
            chunk = grey[start:start + design.batch]
            rng = np.random.default_rng([seed, start])
            idx, step = encode(chunk, steps, design, rng)
            if compiled is None:
                res = simulate(structure, theta, design, len(chunk), idx, step, steps)
            else:
                res = simulate_on_chip(compiled, structure, len(chunk), idx, step, steps)
                for k, v in res["counters"].items():
                    counters[k] = counters.get(k, 0) + v
            pred.append(readout(res["soma"], res["proximal"], nets.labels))
            soma.append(res["soma"].sum(axis=1))
            sops.append(res["sops"])
            inputs.append(res["input_spikes"])
        pred, soma, sops = (np.concatenate(a) for a in (pred, soma, sops))
        row = dict(synapses=structure.size,
                   somatic_spikes_per_sample=float(soma.mean()),
                   input_spikes_per_sample=float(np.concatenate(inputs).mean()),
                   sops_per_sample=float(sops.mean()),
                   energy_nj_per_sample=float(sops.mean() * pj / 1e3), predictions=pred)
        if compiled is not None:
            row["cores"] = len(compiled.program.cores)
            row["chip_counters_per_sample"] = {k: v / len(grey) for k, v in counters.items()
                                               if k != "steps"}
        if labels is not None:
            row["accuracy"] = float(np.mean(pred == np.asarray(labels)))
        out[name] = row
    return out


def simulate_on_chip(compiled, structure: Structure, n_images: int, spike_index, spike_step,
                     steps: int) -> dict:
    """:func:`simulate`'s counts from the chip's interpreter on the same input spikes, ``sops``
    counted as :func:`simulate` counts them (the model's synaptic events, whatever the cores'
    dense matvecs cost: those are in ``counters``)."""
    from hnnbio.chip.segments import run_segments_on_chip

    x = np.zeros((int(n_images), int(steps), N_CHANNELS), dtype=np.int8)
    idx = np.asarray(spike_index, dtype=np.int64)
    x[idx // N_CHANNELS, np.asarray(spike_step, dtype=np.int64), idx % N_CHANNELS] = 1
    res = run_segments_on_chip(compiled, x)
    degree = np.bincount(structure.channel, minlength=N_CHANNELS)
    events = res["proximal_counts"].sum(axis=1) + res["distal_counts"].sum(axis=1)
    sops = 2 * (x.sum(axis=1, dtype=np.int64) * degree[None, :]).sum(axis=1) + events
    return dict(soma=res["soma_counts"], proximal=res["proximal_counts"],
                distal=res["distal_counts"], sops=sops, counters=res["counters"],
                input_spikes=x.sum(axis=(1, 2), dtype=np.int64))


def nearest_prototype(prototypes, labels, grey) -> np.ndarray:
    """Class of the nearest prototype (Euclidean distance, grey / 16)."""
    x = np.asarray(grey, dtype=float) / GREY_MAX
    d = ((x[:, None, :] - np.asarray(prototypes)[None, :, :]) ** 2).sum(axis=2)
    return np.asarray(labels)[np.argmin(d, axis=1)]


def run_neutnn(path, steps=None, values=None, out=None, seed: int = 0, images: int | None = None,
               device: str = "cpu", backend: str = "brian2") -> dict:
    """``hnnbio run`` of a neutnn model: the network, its distal ablation and its pruned copy on
    the same input spikes (the first ``images`` of the evaluation split, or ``values``), in
    Brian2 or (``backend = "emulator"``) on the chip's interpreter."""
    from hnnbio.hnn.engine import check_seed

    if backend not in ("brian2", "emulator"):
        raise ParameterError(f"backend: {backend!r} is not one of brian2, emulator")
    if out is not None:
        raise ParameterError("--out: neutnn models print their metrics (--json); they write no "
                             "result folder")
    check_seed(seed)
    graph, settings, design = read_model(path)
    weights = load_weights(graph, settings, design)
    steps = steps if steps is not None else graph.steps
    if steps is None:
        steps = 10 * design.cycle_steps
    labels = None
    if values is None:
        from hnnbio.data.digits import first_eval_images

        grey, labels = first_eval_images(images)
        grey = check_images(grey)
    else:
        grey = check_images(values)
    nets = networks_of(weights["prototypes"], weights["labels"], weights["mean_usage"], design)
    res = evaluate(nets, grey, labels, steps, seed, backend=backend)
    full, ablated, pruned = res["full"], res["without_distal"], res["pruned"]

    def strip(row):
        return {k: v for k, v in row.items() if k != "predictions"}

    rows = dict(model=graph.name, split="eval" if labels is not None else "input",
                backend=backend, samples=int(len(grey)), steps=int(steps), **strip(full))
    rows["without_distal"] = strip(ablated)
    rows["pruned"] = dict(
        fraction=design.prune_fraction,
        synapse_fraction=pruned["synapses"] / max(full["synapses"], 1),  # kept, of the full
        removed_fraction=1 - pruned["synapses"] / max(full["synapses"], 1),
        **({"accuracy": pruned["accuracy"]} if labels is not None else {}),
        energy_ratio=pruned["sops_per_sample"] / max(full["sops_per_sample"], 1e-12),
        **{k: v for k, v in strip(pruned).items() if k != "accuracy"})
    ref = nearest_prototype(weights["prototypes"], weights["labels"], grey)
    if labels is not None:
        rows["reference"] = {"nearest_prototype": float(np.mean(ref == labels))}
    else:
        rows["predictions"] = full["predictions"].tolist()
        rows["pruned"]["predictions"] = pruned["predictions"].tolist()
        rows["reference"] = {"nearest_prototype_predictions": ref.tolist()}
    return rows
