r"""HIFI on the digits: self-inhibiting neurons whose leak, self-inhibition and threshold are
learned per neuron together with the weights, run in Brian2 with the learned values as per-neuron
constants.

A model file with ``[experiment] kind = "hifi"`` describes two networks of the discrete
self-inhibiting neuron (:func:`hnnbio.neurons.self_inhibiting.build_self_inhibiting_discrete`),
each trained twice by :mod:`hnnbio.experiments.train_hifi` (the weights file beside the model): with
per-neuron parameters (*heterogeneous*, the HIFI network) and with parameters shared by the layer
(*homogeneous*, the ``baseline``: the same network, initialisation, data, epochs and optimiser).

**Static task.** An image's grey levels ``x = g / 16`` (64 values) drive the ``hidden``
self-inhibiting neurons with the constant current ``I = x W_in + b_in`` for ``steps`` steps
(direct encoding: the first layer is a matrix product, counted as MACs); every hidden spike adds
its row of ``W_out`` to 10 readout integrators started at ``b_out``; the class is the largest.

**Temporal task.** The image is presented row by row: row ``r`` (8 values) is the input for
``row_steps`` steps, rows 0..7 in order (``8 * row_steps`` steps); the hidden layer
(``temporal_hidden`` neurons, with recurrent weights when ``temporal_recurrent``) must carry the
earlier rows in its state: its leak, its self-inhibition and the recurrent spikes. Readout as above,
over the whole presentation.

**In Brian2.** B images are one group of B * N neurons (neuron ``b * N + k``); the learned leak,
``w_self`` and threshold are set per neuron (the group's ``(constant)`` variables). The input
current enters through ``i_in``: a ``run_regularly`` before the published update adds this step's
current (a ``TimedArray`` of ``x W_in + b_in``), one after it clears ``i_in``; recurrent synapses
(``on_pre = "i_in_post += w"``) add their weights in the step of the presynaptic spike, which the
next step's update reads: the one-step delay of :class:`hnnbio.hybrid.si_twin.HifiNetwork`. The
readout is a group of integrators ``v`` with synapses ``v_post += w``. The twin computes the same
expressions in the same order (float64), so the per-neuron spike counts of both agree
(``brian2_torch_spike_correlation``).

**Synaptic operations.** ``synaptic_ops_per_sample``: the spike-driven additions, hidden spikes
times their fan-out (10 readout synapses, plus ``N`` recurrent ones); ``input_macs_per_sample``:
the input layer's multiply-accumulates, ``n_in * N`` per input frame (once for a static image,
once per row: the current is held between changes). ``energy_nj_per_sample``
= SOPs x ``pj_per_sop`` + MACs x ``pj_per_mac`` (:class:`hnnbio.chip.spec.ChipSpec`, 0.9 and 4.6
pJ, the figures HIFI counts with).

``[experiment]`` keys (every other key is refused by name, defaults in :data:`KEYS`):
``weights`` (the weights file, beside the model file), ``dataset`` (``"digits"``), ``hidden`` and
``temporal_hidden`` (hidden neurons of each task), ``temporal_recurrent`` (hidden-to-hidden
weights in the temporal task; off in the shipped model, so that the rows are remembered only by
the neurons' own state, where the learned leak matters), ``row_steps``, the neurons' initial
``leak``, ``w_self`` and ``v_threshold`` and their fixed ``v_rest`` and ``gain``
(:class:`hnnbio.hybrid.si_twin.SILayer`), ``slope`` (surrogate), ``batch`` (images per Brian2
run). ``[simulation] steps`` is the static task's number of steps (``--steps`` overrides it; the
temporal task always runs ``8 * row_steps`` steps).
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
SIDE = 8
N_CLASSES = 10
GREY_MAX = 16.0
DATASETS = ("digits",)
TASKS = ("static", "temporal")
VARIANTS = ("hifi", "baseline")

#: ``[experiment]`` keys and defaults (``None``: required).
KEYS = {
    "kind": "hifi",
    "weights": None,
    "dataset": "digits",
    "hidden": 128,
    "temporal_hidden": 128,
    "temporal_recurrent": False,
    "row_steps": 2,
    "leak": 0.2,
    "w_self": 0.05,
    "v_threshold": 1.0,
    "v_rest": 0.0,
    "gain": 1.0,
    "slope": 5.0,
    "batch": 100,
}


@dataclasses.dataclass(frozen=True)
class Design:
    """The networks' design (the ``[experiment]`` keys), checked at construction.

    ``leak`` in (0, 1), ``w_self`` > 0 and ``v_threshold`` > ``v_rest`` are the neurons' initial
    values (see :class:`hnnbio.hybrid.si_twin.SILayer`); ``gain`` >= 0 and ``v_rest`` stay fixed;
    ``hidden``, ``temporal_hidden``, ``row_steps``, ``batch`` are integers >= 1.
    """

    hidden: int = 128
    temporal_hidden: int = 128
    temporal_recurrent: bool = False
    row_steps: int = 2
    leak: float = 0.2
    w_self: float = 0.05
    v_threshold: float = 1.0
    v_rest: float = 0.0
    gain: float = 1.0
    slope: float = 5.0
    batch: int = 100

    def __post_init__(self):
        for key in ("hidden", "temporal_hidden", "row_steps", "batch"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ParameterError(f"{key}: must be an integer >= 1, got {v!r}")
        if not isinstance(self.temporal_recurrent, bool):
            raise ParameterError(f"temporal_recurrent: must be true or false, got "
                                 f"{self.temporal_recurrent!r}")
        # the neuron's own checks (range of leak, sign of w_self, threshold above reset) by name
        self.network("static", True)
        from hnnbio.neurons.self_inhibiting import DiscreteSelfInhibitingParams

        DiscreteSelfInhibitingParams(leak=self.leak, gain=self.gain, w_self=self.w_self,
                                     v_rest=self.v_rest, v_threshold=self.v_threshold)

    def neuron(self) -> dict:
        return dict(leak=self.leak, w_self=self.w_self, v_threshold=self.v_threshold,
                    v_rest=self.v_rest, gain=self.gain, slope=self.slope)

    def shape(self, task: str) -> tuple[int, int, bool]:
        """(inputs, hidden neurons, recurrent) of a task's network."""
        if task == "static":
            return N_PIXELS, self.hidden, False
        return SIDE, self.temporal_hidden, self.temporal_recurrent

    def network(self, task: str, heterogeneous=True, seed: int = 0):
        """A fresh twin of a task's network (:class:`hnnbio.hybrid.si_twin.HifiNetwork`);
        ``heterogeneous`` as there (True, False or the names of the per-neuron parameters)."""
        from hnnbio.hybrid.si_twin import HifiNetwork

        n_in, n_hidden, recurrent = self.shape(task)
        return HifiNetwork(n_in, n_hidden, N_CLASSES, heterogeneous=heterogeneous,
                           recurrent=recurrent, seed=seed, **self.neuron())


def design_from_settings(settings: dict) -> Design:
    kwargs = {k: settings[k] for k in Design.__dataclass_fields__}
    for key in ("leak", "w_self", "v_threshold", "v_rest", "gain", "slope"):
        v = kwargs[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ModelSpecError(f"[experiment]: {key} must be a finite number, got {v!r}")
        kwargs[key] = float(v)
    try:
        return Design(**kwargs)
    except ParameterError as exc:
        raise ModelSpecError(f"[experiment]: {exc}") from None


# --- inputs of the two tasks ---------------------------------------------------------------------

def static_inputs(grey: np.ndarray, steps: int) -> np.ndarray:
    """(B, 64) grey levels -> (B, steps, 64) inputs ``g / 16``, the same at every step."""
    x = np.asarray(grey, dtype=np.float64).reshape(len(grey), -1) / GREY_MAX
    return np.repeat(x[:, None, :], steps, axis=1)


def temporal_inputs(grey: np.ndarray, row_steps: int) -> np.ndarray:
    """(B, 64) grey levels -> (B, 8 * row_steps, 8): row ``r`` for steps ``r * row_steps`` ..
    ``(r + 1) * row_steps - 1``."""
    x = np.asarray(grey, dtype=np.float64).reshape(len(grey), SIDE, SIDE) / GREY_MAX
    return np.repeat(x, row_steps, axis=1)


def task_inputs(task: str, grey, design: Design, steps: int) -> np.ndarray:
    return static_inputs(grey, steps) if task == "static" else temporal_inputs(grey,
                                                                               design.row_steps)


# --- the Brian2 network ---------------------------------------------------------------------------

def network_arrays(net) -> dict:
    """The numbers Brian2 needs from a twin: float64 numpy weights and per-neuron values."""
    import torch

    with torch.no_grad():
        values = {k: v.numpy().copy() for k, v in net.hidden.values(torch.float64).items()}
        out = dict(w_in=net.w_in.double().numpy().copy(), b_in=net.b_in.double().numpy().copy(),
                   w_out=net.w_out.double().numpy().copy(),
                   b_out=net.b_out.double().numpy().copy(),
                   w_rec=None if net.w_rec is None else net.w_rec.double().numpy().copy(),
                   v_rest=net.hidden.v_rest, gain=net.hidden.gain, **values)
    return out


def simulate(arrays: dict, x: np.ndarray, dt=None) -> dict:
    """Run B = ``len(x)`` copies of a network on inputs ``x`` (B, T, n_in) in Brian2.

    Returns ``counts`` (B, N) hidden spikes, ``logits`` (B, 10) readout ``v`` after the run,
    ``spike_index`` / ``spike_step`` (neuron ``b * N + k``, step) of the hidden spikes.
    """
    from brian2 import Network, NeuronGroup, SpikeMonitor, Synapses, TimedArray, ms

    from hnnbio.config import brian_target
    from hnnbio.neurons.self_inhibiting import build_self_inhibiting_discrete

    dt = 1 * ms if dt is None else dt
    x = np.asarray(x, dtype=np.float64)
    b, steps = x.shape[0], x.shape[1]
    w_in, w_out, w_rec = arrays["w_in"], arrays["w_out"], arrays["w_rec"]
    n, n_out = w_in.shape[1], w_out.shape[1]
    current = x @ w_in + arrays["b_in"]  # (B, T, N), the twin's x W_in + b_in
    with brian_target():
        hid = build_self_inhibiting_discrete(
            b * n, leak=np.tile(arrays["leak"], b), w_self=np.tile(arrays["w_self"], b),
            v_threshold=np.tile(arrays["v_threshold"], b), v_rest=arrays["v_rest"],
            gain=arrays["gain"], dt=dt, name="hifi_hidden*")
        hid.namespace["hifi_current"] = TimedArray(current.transpose(1, 0, 2).reshape(steps,
                                                                                    b * n),
                                                   dt=dt)
        feed = hid.run_regularly("i_in += hifi_current(t, i)", when="start", order=-1)
        clear = hid.run_regularly("i_in = 0", when="start", order=1)
        out = NeuronGroup(b * n_out, "v : 1", namespace={}, dt=dt, name="hifi_readout*")
        out.v = np.tile(arrays["b_out"], b)
        pre = np.repeat(np.arange(b * n), n_out)
        post = (np.repeat(np.arange(b), n * n_out) * n_out + np.tile(np.arange(n_out), b * n))
        readout = Synapses(hid, out, "w : 1", on_pre="v_post += w", namespace={}, dt=dt,
                           name="hifi_readout_synapses*")
        readout.connect(i=pre, j=post)
        readout.w = np.tile(w_out.ravel(), b)
        objects = [hid, feed, clear, out, readout]
        if w_rec is not None:
            pre = np.repeat(np.arange(b * n), n)
            post = np.repeat(np.arange(b), n * n) * n + np.tile(np.arange(n), b * n)
            rec = Synapses(hid, hid, "w : 1", on_pre="i_in_post += w", namespace={}, dt=dt,
                           name="hifi_recurrent*")
            rec.connect(i=pre, j=post)
            rec.w = np.tile(w_rec.ravel(), b)
            objects.append(rec)
        mon = SpikeMonitor(hid)
        Network(*objects, mon).run(steps * dt)
        index = np.asarray(mon.i[:], dtype=np.int64)
        step = np.round(np.asarray(mon.t[:] / dt)).astype(np.int64)
        logits = np.asarray(out.v[:], dtype=np.float64).reshape(b, n_out)
    counts = np.bincount(index, minlength=b * n).reshape(b, n)
    return dict(counts=counts, logits=logits, spike_index=index, spike_step=step)


def input_frames(x: np.ndarray) -> int:
    """Distinct consecutive input frames of ``x`` (B, T, n_in): 1 for a static image, 8 for the
    rows (the input current changes only there; a held current costs no new MACs)."""
    x = np.asarray(x)
    return 1 + int(np.count_nonzero(np.any(x[:, 1:] != x[:, :-1], axis=(0, 2))))


def operations(counts: np.ndarray, arrays: dict, frames: int) -> dict:
    """Per-sample SOPs (hidden spikes x fan-out), input MACs (``n_in * N`` per input frame) and
    energy (see the module docstring)."""
    from hnnbio.chip.spec import ChipSpec

    spec = ChipSpec()
    n_in, n = arrays["w_in"].shape
    fan_out = arrays["w_out"].shape[1] + (n if arrays["w_rec"] is not None else 0)
    sops = np.asarray(counts).sum(axis=1) * fan_out
    macs = n_in * n * frames
    return dict(synaptic_ops_per_sample=float(sops.mean()),
                input_macs_per_sample=float(macs),
                hidden_spikes_per_sample=float(np.asarray(counts).sum(axis=1).mean()),
                energy_nj_per_sample=float((sops.mean() * spec.pj_per_sop
                                            + macs * spec.pj_per_mac) / 1e3))


def twin_run(net, x: np.ndarray) -> dict:
    """The twin on the same inputs, float64: counts and logits as numpy."""
    import torch

    with torch.no_grad():
        res = net.double()(torch.tensor(x, dtype=torch.float64))
    return dict(counts=res["counts"].numpy(), logits=res["logits"].numpy())


def correlation(a, b) -> float:
    """Pearson correlation of two count arrays (1.0 when both are identical and constant)."""
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if np.array_equal(a, b):
        return 1.0
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def evaluate(net, x: np.ndarray, labels=None, batch: int = 100) -> dict:
    """A network in Brian2 (batches of ``batch``) and its twin on inputs ``x`` (B, T, n_in)."""
    arrays = network_arrays(net)
    counts, logits = [], []
    for start in range(0, len(x), batch):
        res = simulate(arrays, x[start:start + batch])
        counts.append(res["counts"])
        logits.append(res["logits"])
    counts, logits = np.concatenate(counts), np.concatenate(logits)
    twin = twin_run(net, x)
    pred = logits.argmax(axis=1)
    row = dict(**operations(counts, arrays, input_frames(x)),
               brian2_torch_spike_correlation=correlation(counts, twin["counts"]),
               twin_agreement=float(np.mean(pred == twin["logits"].argmax(axis=1))),
               predictions=pred)
    if labels is not None:
        row["accuracy"] = float(np.mean(pred == np.asarray(labels)))
    return row


def parameter_summary(net) -> dict:
    """Mean, std, min and max of each learned neuron parameter over the hidden neurons."""
    import torch

    with torch.no_grad():
        values = net.hidden.values(torch.float64)
    return {k: dict(mean=float(v.mean()), std=float(v.std(unbiased=False)), min=float(v.min()),
                    max=float(v.max())) for k, v in values.items()}


# --- the model file and its weights ---------------------------------------------------------------

def experiment_settings(raw: dict) -> dict:
    """The ``[experiment]`` table with defaults; unknown keys refused by name."""
    return experiment_table(raw, KEYS, DATASETS)


def read_model(path):
    """(model file, settings, design) of a model file; every key checked, no weights read."""
    return read_experiment_file(path, "hifi", experiment_settings, design_from_settings,
                                N_PIXELS, "one step of the discrete update", 8)


def weights_path(model, settings) -> Path:
    return weights_file(settings, model.path)


def load_networks(model, settings: dict, design: Design) -> dict:
    """``{task: {variant: twin}}`` from the weights file, checked to be this model's."""
    path = weights_path(model, settings)
    data = read_weights(path, "hnnbio.experiments.train_hifi", model.path)
    check_owner(data, model.name, path.name)
    if data.get("format") != FORMAT:
        raise DataError(f"{path.name}: weights format {data.get('format')!r}, expected {FORMAT}")
    nets = {}
    for task in TASKS:
        nets[task] = {}
        for variant in VARIANTS:
            net = design.network(task, variant == "hifi")
            try:
                net.load_state_dict(data[task][variant])
            except (KeyError, TypeError, RuntimeError):
                raise DataError(f"{path.name}: no {task}/{variant} network of the model file's "
                                f"shape {design.shape(task)[:2]} (retrain it)") from None
            nets[task][variant] = net.double()
    return nets


def check_images(values) -> np.ndarray:
    """(B, 8, 8) or (B, 64) grey levels 0..16 -> (B, 64) float; one line when wrong."""
    from hnnbio.experiments.classification import check_images as check

    return check(values, N_PIXELS)


def run_hifi(path, steps=None, values=None, out=None, seed: int = 0, images: int | None = None,
             device: str = "cpu", backend: str = "brian2") -> dict:
    """``hnnbio run`` of a hifi model: the HIFI network and its homogeneous baseline on both
    tasks, in Brian2 and in the twin (``backend = "emulator"``: compiled for the chip and run on
    its interpreter, beside the twin), on the first ``images`` of the evaluation split (or
    ``values``). Deterministic: ``seed`` is checked but nothing is random."""
    from hnnbio.hnn.engine import check_seed

    if backend not in ("brian2", "emulator"):
        raise ParameterError(f"backend: {backend!r} is not one of brian2, emulator")

    if out is not None:
        raise ParameterError("--out: hifi models print their metrics (--json); they write no "
                             "result folder")
    check_seed(seed)
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ParameterError(f"steps: must be a positive integer, got {steps!r}")
    model, settings, design = read_model(path)
    nets = load_networks(model, settings, design)
    steps = steps if steps is not None else model.steps
    labels = None
    if values is None:
        from hnnbio.data.digits import first_eval_images

        grey, labels = first_eval_images(images)
        grey = check_images(grey)
    else:
        grey = check_images(values)

    def strip(row):
        return {k: v for k, v in row.items() if k != "predictions"}

    res = {}
    for task in TASKS:
        x = task_inputs(task, grey, design, steps)
        if backend == "emulator":
            res[task] = {v: evaluate_on_chip(nets[task][v], task, design, x, labels,
                                             f"{model.name}.{task}.{v}") for v in VARIANTS}
        else:
            res[task] = {v: evaluate(nets[task][v], x, labels, design.batch) for v in VARIANTS}
    static, temporal = res["static"], res["temporal"]
    rows = dict(model=model.name, split="eval" if labels is not None else "input",
                backend=backend, samples=int(len(grey)), steps=int(steps),
                **strip(static["hifi"]))
    rows["baseline"] = strip(static["baseline"])
    rows["parameters"] = parameter_summary(nets["static"]["hifi"])
    rows["baseline"]["parameters"] = parameter_summary(nets["static"]["baseline"])
    rows["temporal"] = dict(steps=SIDE * design.row_steps, row_steps=design.row_steps,
                            **strip(temporal["hifi"]))
    rows["temporal"]["baseline"] = strip(temporal["baseline"])
    if labels is not None:
        rows["temporal"]["baseline_accuracy"] = temporal["baseline"]["accuracy"]
    else:
        rows["predictions"] = static["hifi"]["predictions"].tolist()
        rows["baseline"]["predictions"] = static["baseline"]["predictions"].tolist()
        rows["temporal"]["predictions"] = temporal["hifi"]["predictions"].tolist()
        rows["temporal"]["baseline"]["predictions"] = temporal["baseline"]["predictions"].tolist()
    return rows


def compile_network(arrays: dict, task: str, design: Design, name: str):
    """The chip program of one trained network (:func:`hnnbio.chip.hifi.compile_hifi`): the
    static task's input held, the temporal task's rows one frame per step."""
    from hnnbio.chip.hifi import compile_hifi

    frames = None if task == "static" else SIDE * design.row_steps
    return compile_hifi(arrays, name=name, levels=int(GREY_MAX), steps=frames)


def chip_graph(path):
    """What ``hnnbio export`` compiles: the static task's HIFI network (per-neuron leak and
    threshold as the lif op's arrays, self-inhibition as a one-step diagonal weight;
    :mod:`hnnbio.chip.hifi`). ``hnnbio run --backend emulator`` runs all four networks."""
    model, settings, design = read_model(path)
    nets = load_networks(model, settings, design)
    return compile_network(network_arrays(nets["static"]["hifi"]), "static", design,
                           model.name).program


def evaluate_on_chip(net, task: str, design: Design, x: np.ndarray, labels, name: str) -> dict:
    """A network compiled and run on the chip's interpreter, and its float64 twin (which equals
    Brian2 spike for spike) on the same inputs."""
    from hnnbio.chip.hifi import run_hifi_on_chip

    arrays = network_arrays(net)
    compiled = compile_network(arrays, task, design, name)
    res = run_hifi_on_chip(compiled, x)
    twin = twin_run(net, x)
    pred = res["logits"].argmax(axis=1)
    row = dict(**operations(res["counts"], arrays, input_frames(x)),
               chip_twin_spike_correlation=correlation(res["counts"], twin["counts"]),
               twin_agreement=float(np.mean(pred == twin["logits"].argmax(axis=1))),
               cores=len(compiled.program.cores),
               chip_counters_per_sample={k: v / len(x) for k, v in res["counters"].items()
                                         if k != "steps"},
               predictions=pred)
    if labels is not None:
        row["accuracy"] = float(np.mean(pred == np.asarray(labels)))
        row["twin_accuracy"] = float(np.mean(twin["logits"].argmax(axis=1)
                                             == np.asarray(labels)))
    return row
