r"""Continual learning on the HNN graph: the hybrid modulation network (hierarchical structure).

An ANN task encoder turns the task's identity (a one-hot input) into one gate per hidden LIF
neuron; a modulation unit (``kind = "modulation"``, operation ``multiply``, ``sigmoid``) writes
the gates into the hidden population's per-neuron ``gain``, which multiplies every synaptic jump
the neuron receives (``v_post += w * gain_post * mV``). A gate near 0 silences its neuron, so each
task runs on its own sub-network of the SNN, chosen by the ANN (Zhao et al., Nat. Commun. 2022,
hybrid modulation network). The baseline is the same graph without the encoder and its unit (every
gain stays 1: all neurons active), trained the same way on the same task sequence (weights in the
same file), run in the same call on the same images.

The tasks are permuted digits: task ``k`` shows scikit-learn's digits with the pixels reordered by
a fixed permutation (task 1 unpermuted, the others drawn from ``permutation_seed``), and the class
is still the digit; the network is told the task (the task encoder's input) and has one readout of
10 integrators shared by all tasks.

The shared discretisation of Brian2 and the twin (:class:`GatedTwin`) is that of
:mod:`hnnbio.hybrid.twin`: Brian2's schedule per step of ``dt`` (groups, thresholds, synapses,
resets, end), the encoding layer integrated by the exact exponential step of
``tau dv/dt = v_drive i_in - v``, the hidden layer by ``v <- v e^{-dt/tau}`` (its exact step),
strict thresholds, synaptic jumps ``gain_j sum_i w_ij s_i`` in the step of the presynaptic spike,
reset to ``v_reset`` after the jumps, and readout integrators started at ``bias``. The gates are
constant over a run (the encoder reads only its input: delay 0, written before step 0).

``[experiment]`` keys (every other key is refused by name):

- ``weights``: the weights file beside the model file, written by
  :mod:`hnnbio.experiments.train_continual`;
- ``dataset``: ``digits`` (evaluated on the ``eval`` split, index >= 1400);
- ``tasks``: the number of tasks (the size of the task input);
- ``permutation_seed``: the seed of the pixel permutations of tasks 2..;
- ``encoding``, ``hidden``, ``readout``: the three populations; ``encoder``: the network dropped
  (with its units) for the baseline;
- ``batch``: samples simulated together as one Brian2 group (default 1000).

Metrics: ``tasks``, ``per_task_accuracy`` (each task after the last one was learned),
``mean_accuracy`` (their mean), ``spikes_per_sample``, and the same under ``baseline``.

On the chip (``hnnbio run --backend emulator``, ``hnnbio export``): :func:`chip_graph` folds the
encoder's ``scale`` into its Linear layer; :mod:`hnnbio.chip.hybrid` runs it before the SNN in each
step (delay 0) and applies the gates as a hadamard of each hidden neuron's own copy of the
encoding spikes with its gate code, ``round(255 sigmoid)``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from hnnbio.errors import DataError, ModelSpecError, ParameterError
from hnnbio.experiments.classification import GREY_MAX, check_images
from hnnbio.experiments.files import check_owner, read_weights, weights_file

KEYS = {
    "kind": "continual",
    "weights": None,
    "dataset": "digits",
    "tasks": None,
    "permutation_seed": 0,
    "encoding": "enc",
    "hidden": "hid",
    "readout": "out",
    "encoder": "encoder",
    "batch": 1000,
}
DATASETS = ("digits",)
FORMAT = 1
TRAIN_MODULE = "hnnbio.experiments.train_continual"


class TaskEncoder(nn.Module):
    """(B, n_tasks) one-hot task identity -> (B, n_hidden) gate logits ``scale * e_task``.

    ``e`` is a learned embedding (a dense layer without bias); the modulation unit's sigmoid
    makes the logits gates in (0, 1). ``scale`` is the gate's sharpness at run time (``s_max``
    of hard attention to the task, Serra et al. 2018): training anneals it up to ``scale``.
    """

    def __init__(self, n_tasks: int, n_hidden: int, scale: float = 400.0):
        super().__init__()
        self.embedding = nn.Linear(n_tasks, n_hidden, bias=False)
        with torch.no_grad():
            self.embedding.weight.normal_(0.0, 1.0)
        self.scale = float(scale)

    def logits(self, onehot: torch.Tensor, scale: float | None = None) -> torch.Tensor:
        return (self.scale if scale is None else scale) * self.embedding(onehot)

    def forward(self, onehot: torch.Tensor) -> torch.Tensor:
        return self.logits(onehot)


def task_encoder(n_tasks: int, n_hidden: int, scale: float = 400.0) -> TaskEncoder:
    """The factory the model file names: ``hnnbio.experiments.continual:task_encoder``."""
    return TaskEncoder(n_tasks, n_hidden, scale)


# --- the model file ------------------------------------------------------------------------------

def _integer(key: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ModelSpecError(f"[experiment]: {key} must be an integer >= {low}, got {value!r}")
    return value


def experiment_settings(graph) -> dict:
    """The ``[experiment]`` table with defaults; unknown keys and bad values refused by name."""
    given = dict(graph.experiment)
    for key in given:
        if key not in KEYS:
            raise ModelSpecError(f"[experiment]: unknown key {key!r}; known: {', '.join(KEYS)}")
    out = {k: given.get(k, v) for k, v in KEYS.items()}
    for key in ("weights", "tasks"):
        if out[key] is None:
            raise ModelSpecError(f"[experiment]: missing key {key!r}")
    if out["dataset"] not in DATASETS:
        raise ModelSpecError(f"[experiment]: dataset must be one of {', '.join(DATASETS)}, got "
                             f"{out['dataset']!r}")
    _integer("tasks", out["tasks"], 2)
    _integer("permutation_seed", out["permutation_seed"], 0)
    _integer("batch", out["batch"], 1)
    pops = {p.name for p in graph.populations}
    for key in ("encoding", "hidden", "readout"):
        if out[key] not in pops:
            raise ModelSpecError(f"[experiment]: {key} {out[key]!r} is not a population")
    if out["encoder"] not in {n.name for n in graph.networks}:
        raise ModelSpecError(f"[experiment]: encoder {out['encoder']!r} is not a network")
    net = graph.node(out["encoder"])
    if len(net.inputs) != 1 or net.inputs[0] not in {i.name for i in graph.inputs}:
        raise ModelSpecError(f"[experiment]: the encoder {net.name!r} must read one input, the "
                             f"task identity")
    task_input = graph.node(net.inputs[0])
    if task_input.size != out["tasks"]:
        raise ModelSpecError(f"[experiment]: tasks {out['tasks']} but the encoder's input "
                             f"{task_input.name!r} has size {task_input.size}")
    out["task_input"] = task_input.name
    enc = graph.node(out["encoding"])
    if enc.input is None:
        raise ModelSpecError(f"[experiment]: the encoding population {enc.name!r} has no input")
    out["pixel_input"] = enc.input
    return out


def permutations(n_tasks: int, n_pixels: int, seed: int) -> np.ndarray:
    """(n_tasks, n_pixels) pixel orders: task 1 the identity, task k a permutation drawn from
    ``default_rng(seed)`` (the permuted image of task k is ``image[perm[k]]``)."""
    rng = np.random.default_rng(seed)
    return np.stack([np.arange(n_pixels)] + [rng.permutation(n_pixels)
                                             for _ in range(n_tasks - 1)])


def _synapse(graph, source: str, target: str):
    found = [s for s in graph.synapses if s.source == source and s.target == target]
    if len(found) != 1:
        raise ModelSpecError(f"{graph.name}: needs one synapse {source} -> {target}, found "
                             f"{len(found)}")
    return found[0]


def weight_sizes(graph, settings: dict) -> dict:
    return {settings[k]: graph.node(settings[k]).size for k in ("encoding", "hidden", "readout")}


def load_weights(graph, settings: dict) -> dict:
    """The weights file of the model: checked to be this model's and to fit the graph."""
    path = weights_file(settings, graph.path)
    data = read_weights(path, TRAIN_MODULE, graph.path)
    check_weights(data, graph, settings, path.name)
    return data


def check_weights(data, graph, settings: dict, where: str) -> None:
    """A weights dict is this model's, for its sizes, tasks and permutations (one line if not)."""
    check_owner(data, graph.name, where)
    sizes = weight_sizes(graph, settings)
    if data.get("format") != FORMAT or data.get("sizes") != sizes:
        raise DataError(f"{where}: weights for sizes {data.get('sizes')}, the model file has "
                        f"{sizes}")
    perms = permutations(settings["tasks"], sizes[settings["encoding"]],
                         settings["permutation_seed"])
    trained = data.get("permutations")
    if not isinstance(trained, torch.Tensor) or tuple(trained.shape) != perms.shape \
            or not np.array_equal(trained.numpy(), perms):
        raise DataError(f"{where}: weights trained on other tasks than the model file's "
                        f"({settings['tasks']} tasks, permutation_seed "
                        f"{settings['permutation_seed']})")


def model_graphs(path, weights: dict | None = None):
    """(modulated graph, baseline graph, settings) of a model file, trained weights in place.

    ``weights``: a weights dict to use instead of the file (a model being trained).
    """
    from brian2 import mV

    from hnnbio.hnn.files import load_hnn

    graph = load_hnn(path)
    settings = experiment_settings(graph)
    if weights is None:
        data = load_weights(graph, settings)
    else:
        check_weights(weights, graph, settings, "weights")
        data = weights
    net = graph.node(settings["encoder"])
    try:
        net.module.load_state_dict(data["modulated"]["encoder"])
    except (RuntimeError, KeyError) as exc:
        raise DataError(f"{graph.name}: the task encoder's weights do not fit "
                        f"({type(exc).__name__})") from None

    def with_weights(g, which: str, name: str, keep_encoder: bool):
        w = data[which]
        syn_in = _synapse(g, settings["encoding"], settings["hidden"])
        syn_out = _synapse(g, settings["hidden"], settings["readout"])
        values = {syn_in.name: np.asarray(w["w_in"], dtype=np.float64).reshape(-1),
                  syn_out.name: np.asarray(w["w_out"], dtype=np.float64).reshape(-1)}
        synapses = [dataclasses.replace(s, values={**s.values, "w": values[s.name]})
                    if s.name in values else s for s in g.synapses]
        bias = np.asarray(w["bias"], dtype=np.float64)
        pops = [dataclasses.replace(p, params={**p.params, "v": bias * mV})
                if p.name == settings["readout"] else p for p in g.populations]
        networks = g.networks if keep_encoder else [
            n for n in g.networks if n.name != settings["encoder"]]
        units = g.units if keep_encoder else [
            u for u in g.units if settings["encoder"] not in (u.source, u.target)]
        inputs = g.inputs if keep_encoder else [
            i for i in g.inputs if i.name != settings["task_input"]]
        return dataclasses.replace(g, name=name, synapses=synapses, populations=pops,
                                   networks=networks, units=units, inputs=inputs)

    modulated = with_weights(graph, "modulated", graph.name, True)
    baseline = with_weights(graph, "baseline", f"{graph.name}-baseline", False)
    return modulated, baseline, settings


def _plain_encoder(graph, settings: dict):
    """``graph`` with its task encoder as the chain the chip compiles: one Linear layer (no bias)
    whose weights are ``scale * e`` (the same logits; the unit's sigmoid follows on the chip)."""
    net = graph.node(settings["encoder"])
    module = net.module
    if not isinstance(module, TaskEncoder):
        return graph
    linear = nn.Linear(module.embedding.in_features, module.embedding.out_features, bias=False)
    with torch.no_grad():
        linear.weight.copy_(module.scale * module.embedding.weight)
    plain = dataclasses.replace(net, module=nn.Sequential(linear).eval())
    return dataclasses.replace(graph, networks=[plain if n.name == net.name else n
                                                for n in graph.networks])


def chip_graph(path):
    """The graph ``hnnbio export`` compiles: the modulated model with its trained weights, the
    task encoder folded to one Linear layer (:func:`_plain_encoder`)."""
    graph, _, settings = model_graphs(path)
    return _plain_encoder(graph, settings)


# --- the PyTorch twin ----------------------------------------------------------------------------

def twin_parameters(graph, settings: dict) -> dict:
    """The twin's parameters, read from the graph's populations (one source for both)."""
    from brian2 import ms, mV

    from hnnbio.hybrid.twin import LIFLayer

    def layer(name):
        p = graph.node(settings[name])
        ns = p.namespace
        try:
            return LIFLayer(p.size, float(ns["tau_mem"] / ms), float(ns["v_threshold"] / mV),
                            float(ns["v_reset"] / mV))
        except KeyError as exc:
            raise ModelSpecError(f"{p.name}: namespace needs {exc.args[0]}") from None

    enc = graph.node(settings["encoding"])
    return dict(encoding=layer("encoding"), hidden=layer("hidden"),
                n_out=graph.node(settings["readout"]).size, dt_ms=graph.dt_ms,
                v_drive_mv=float(enc.namespace["v_drive"] / mV))


class GatedTwin(nn.Module):
    """Encoding LIF layer -> gated hidden LIF layer -> readout integrators, stepped as Brian2
    steps the model file (see the module docstring); the twin of both graphs.

    ``forward(x, steps, gates)``: ``x`` (B, n_enc) pixels in [0, 1]; ``gates`` (B, n_hidden) the
    hidden gains (None: all 1, the baseline). Returns ``logits`` (B, n_out) readout ``v`` in mV,
    ``spikes_encoding`` and ``spikes_hidden`` (B, size) spike counts.
    """

    def __init__(self, encoding, hidden, n_out: int, dt_ms: float, v_drive_mv: float,
                 slope: float = 5.0):
        super().__init__()
        import math

        self.encoding, self.hidden, self.n_out = encoding, hidden, n_out
        self.dt_ms, self.v_drive_mv, self.slope = dt_ms, v_drive_mv, slope
        self.w_in = nn.Parameter(torch.randn(encoding.size, hidden.size)
                                 * (3.0 * hidden.v_threshold_mv / math.sqrt(encoding.size)))
        self.w_out = nn.Parameter(torch.randn(hidden.size, n_out) / math.sqrt(hidden.size))
        self.bias = nn.Parameter(torch.zeros(n_out), requires_grad=False)

    def forward(self, x: torch.Tensor, steps: int, gates: torch.Tensor | None = None) -> dict:
        from hnnbio.hybrid.twin import decay_factor, integrate, reset, spike

        enc, hid = self.encoding, self.hidden
        e_enc = decay_factor(enc.tau_mem_ms, self.dt_ms)
        e_hid = decay_factor(hid.tau_mem_ms, self.dt_ms)
        B, dtype = x.shape[0], x.dtype
        w_in, w_out = self.w_in.to(dtype), self.w_out.to(dtype)
        v_enc = torch.zeros(B, enc.size, dtype=dtype)
        v_hid = torch.zeros(B, hid.size, dtype=dtype)
        v_out = self.bias.to(dtype).expand(B, -1)
        count_enc = torch.zeros(B, enc.size, dtype=dtype)
        count_hid = torch.zeros(B, hid.size, dtype=dtype)
        drive = self.v_drive_mv * x
        for _ in range(steps):
            v_enc = integrate(v_enc, drive, e_enc)  # groups
            v_hid = v_hid * e_hid
            s_enc = spike(v_enc, enc.v_threshold_mv, self.slope)  # thresholds
            s_hid = spike(v_hid, hid.v_threshold_mv, self.slope)
            jump = s_enc @ w_in  # synapses: v_post += w * gain_post * mV
            v_hid = v_hid + (jump if gates is None else jump * gates.to(dtype))
            v_out = v_out + s_hid @ w_out
            v_enc = reset(v_enc, s_enc, enc.v_reset_mv)  # resets
            v_hid = reset(v_hid, s_hid, hid.v_reset_mv)
            count_enc = count_enc + s_enc
            count_hid = count_hid + s_hid
        return dict(logits=v_out, spikes_encoding=count_enc, spikes_hidden=count_hid)


def run_gates(encoder: TaskEncoder, tasks, n_tasks: int) -> torch.Tensor:
    """The gates the modulation unit writes for task indices ``tasks`` (B,): float32
    ``sigmoid(scale * e_task)``, as the engine computes them."""
    onehot = torch.nn.functional.one_hot(torch.as_tensor(tasks).long(), n_tasks).float()
    with torch.no_grad():
        return torch.sigmoid(encoder(onehot).float())


def twin_counts(graph, settings: dict, entry: dict, images: np.ndarray, tasks: np.ndarray,
                gated: bool, steps: int | None = None) -> dict:
    """The float64 twin of one trained model (``entry``: ``w_in``, ``w_out``, ``bias`` of the
    weights file) on permuted grey ``images`` of ``tasks``: ``predictions`` and per-neuron
    ``counts`` per population, the same keys as :func:`evaluate`'s. ``gated``: the gates of
    the graph's task encoder (its weights in place, :func:`model_graphs`), else all 1."""
    params = twin_parameters(graph, settings)
    twin = GatedTwin(params["encoding"], params["hidden"], params["n_out"], params["dt_ms"],
                     params["v_drive_mv"])
    with torch.no_grad():
        for name in ("w_in", "w_out", "bias"):
            getattr(twin, name).copy_(torch.as_tensor(entry[name]))
    gates = None
    if gated:
        gates = run_gates(graph.node(settings["encoder"]).module, tasks, settings["tasks"])
    with torch.no_grad():
        out = twin(torch.tensor(images / GREY_MAX, dtype=torch.float64),
                   steps if steps is not None else graph.steps, gates)
    return dict(predictions=out["logits"].argmax(1).numpy(),
                counts={settings["encoding"]: out["spikes_encoding"].numpy(),
                        settings["hidden"]: out["spikes_hidden"].numpy()})


# --- data ----------------------------------------------------------------------------------------

def task_samples(grey: np.ndarray, perms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every image under every task: (T * B, n) permuted grey images (task-major) and the task
    index of each row."""
    images = np.concatenate([grey[:, p] for p in perms])
    tasks = np.repeat(np.arange(len(perms)), len(grey))
    return images, tasks


# --- running on Brian2 ---------------------------------------------------------------------------

def evaluate(graph, settings: dict, images: np.ndarray, tasks: np.ndarray, labels=None,
             steps: int | None = None, seed: int = 0, device: str = "cpu") -> dict:
    """Run ``graph`` on permuted grey ``images`` (N, n) of tasks ``tasks`` (N,) in batches."""
    from hnnbio.hnn.engine import Simulation

    steps = steps if steps is not None else graph.steps
    x = images / GREY_MAX
    onehot = np.eye(settings["tasks"], dtype=np.float32)[tasks]
    has_task = any(i.name == settings["task_input"] for i in graph.inputs)
    pred, counts = [], {p.name: [] for p in graph.populations if p.record}
    for start in range(0, len(x), settings["batch"]):
        chunk = slice(start, start + settings["batch"])
        inputs = {settings["pixel_input"]: x[chunk]}
        if has_task:
            inputs[settings["task_input"]] = onehot[chunk]
        sim = Simulation(graph, inputs, seed=seed + start, device=device)
        result = sim.run(steps)
        n = len(x[chunk])
        v = sim.populations[settings["readout"]].read("v").reshape(n, -1)
        pred.append(np.argmax(v, axis=1))
        for name, c in result.spike_counts().items():
            counts[name].append(c)
    pred = np.concatenate(pred)
    counts = {k: np.concatenate(v) for k, v in counts.items()}
    total = sum(int(c.sum()) for c in counts.values())
    out = dict(predictions=pred, counts=counts, samples=len(x), steps=steps,
               spikes_per_sample=total / len(x),
               spikes_per_population={k: float(c.sum() / len(x)) for k, c in counts.items()})
    if labels is not None:
        hit = pred == np.asarray(labels)
        per_task = [float(hit[tasks == k].mean()) for k in range(settings["tasks"])]
        out["per_task_accuracy"] = per_task
        out["mean_accuracy"] = float(np.mean(per_task))
    return out


def _rows(res: dict, n_tasks: int) -> dict:
    rows = dict(tasks=n_tasks, samples=res["samples"], steps=res["steps"])
    if "mean_accuracy" in res:
        rows["mean_accuracy"] = res["mean_accuracy"]
        rows["per_task_accuracy"] = res["per_task_accuracy"]
    rows["spikes_per_sample"] = res["spikes_per_sample"]
    rows["spikes_per_population"] = res["spikes_per_population"]
    return rows


def run_continual(path, steps=None, values=None, out=None, seed: int = 0,
                  images: int | None = None, device: str = "cpu",
                  backend: str = "brian2") -> dict:
    """``hnnbio run`` of a continual model: every task after the last one was learned, the
    modulated model and its baseline on the same images (the first ``images`` of the evaluation
    split, or ``values``: grey images, each run under every task).

    ``backend``: ``brian2`` (the engine) or ``emulator`` (both graphs compiled for the chip and
    run on its interpreter, :func:`hnnbio.chip.hybrid.run_continual_on_chip`).
    """
    if backend not in ("brian2", "emulator"):
        raise ParameterError(f"backend: {backend!r} is not one of brian2, emulator")
    if out is not None:
        raise ParameterError("--out: continual models print their metrics (--json); they write "
                             "no result folder")
    graph, baseline, settings = model_graphs(path)
    n_pixels = graph.node(settings["encoding"]).size
    labels = None
    if values is None:
        from hnnbio.data.digits import first_eval_images

        grey, labels = first_eval_images(images)
        grey = check_images(grey, n_pixels)
    else:
        grey = check_images(values, n_pixels)
    perms = permutations(settings["tasks"], n_pixels, settings["permutation_seed"])
    x, tasks = task_samples(grey, perms)
    y = None if labels is None else np.tile(labels, len(perms))
    if backend == "emulator":
        from hnnbio.chip.hybrid import run_continual_on_chip

        mod, base = (run_continual_on_chip(g, settings, x, tasks, y, steps, GREY_MAX, seed=seed)
                     for g in (_plain_encoder(graph, settings), baseline))
    else:
        mod = evaluate(graph, settings, x, tasks, y, steps, seed, device)
        base = evaluate(baseline, settings, x, tasks, y, steps, seed, device)
    rows = dict(model=graph.name, split="eval" if labels is not None else "input",
                backend=backend, **_rows(mod, settings["tasks"]),
                baseline=_rows(base, settings["tasks"]))
    if labels is None:
        n = len(grey)
        rows["predictions"] = mod["predictions"].reshape(len(perms), n).tolist()
        rows["baseline"]["predictions"] = base["predictions"].reshape(len(perms), n).tolist()
    return rows
