"""Classification experiments on the HNN graph: the hybrid top-down attention network.

A model file with ``[experiment] kind = "classification"`` is a feedforward SNN (an encoding
population driven by the image, a hidden LIF population, a readout of non-leaky integrators) with
a feedback ANN: an SNN -> ANN unit (mean rate of the hidden spikes over a window) feeds a torch
network whose sigmoid output multiplies the encoding layer's drive (a modulation unit, operation
``multiply``). The baseline is the same graph without that network and its units (trained the
same way, weights in the same file), run in the same call on the same images.

``[experiment]`` keys (every other key is refused by name):

- ``weights``: the weights file beside the model file (``models/attention-digits.pt``), written
  by :mod:`hnnbio.experiments.train_classification`;
- ``dataset``: ``digits`` (scikit-learn's bundled digits, evaluated on the ``eval`` split,
  index >= 1400);
- ``encoding``, ``hidden``, ``readout``: the three populations; ``attention``: the network
  dropped (with its units) for the baseline;
- ``noise``: pepper/salt fraction applied to the evaluation images (default 0);
- ``batch``: images simulated together as one Brian2 group (default 100);
- ``conv``: 0 (the encoding -> hidden weights are trained as a dense matrix) or an odd kernel
  size ``k``: they are trained as ``hidden / encoding`` shared ``k x k`` kernels of a 2-D
  convolution of the image (:class:`hnnbio.hybrid.twin.ConvWeights`); either way the weights
  file holds, and Brian2 and the chip run, the dense matrix.

Metrics: ``accuracy`` (class = the readout neuron with the largest ``v`` at the end),
``spikes_per_sample`` (spikes of every recorded population per image).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from hnnbio.errors import DataError, ModelSpecError, ParameterError
from hnnbio.experiments.files import check_owner, read_weights, weights_file

KEYS = {
    "kind": "classification",
    "weights": None,
    "dataset": "digits",
    "encoding": "enc",
    "hidden": "hid",
    "readout": "out",
    "attention": "attention",
    "noise": 0.0,
    "batch": 100,
    "conv": 0,
}
DATASETS = ("digits",)
#: Grey levels of the digits (0..16); the encoding input is grey / GREY_MAX.
GREY_MAX = 16.0
FORMAT = 1


class AttentionNetwork(nn.Module):
    """(B, n_features) hidden rates -> (B, n_pixels) attention logits (the unit's sigmoid makes
    them multipliers in (0, 1))."""

    def __init__(self, n_features: int, n_hidden: int, n_pixels: int,
                 initial_bias: float = 3.0):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(n_features, n_hidden), nn.ReLU(),
                                    nn.Linear(n_hidden, n_pixels))
        with torch.no_grad():  # start open: attention ~ sigmoid(3) = 0.95 everywhere
            self.layers[2].bias.fill_(initial_bias)

    def forward(self, rates: torch.Tensor) -> torch.Tensor:
        return self.layers(rates)


def attention_network(n_features: int, n_hidden: int, n_pixels: int,
                      initial_bias: float = 3.0) -> AttentionNetwork:
    """The factory the model file names: ``hnnbio.experiments.classification:attention_network``
    (``initial_bias``: the output bias before training, sigmoid(3) = 0.95: open)."""
    return AttentionNetwork(n_features, n_hidden, n_pixels, initial_bias)


# --- the model file ------------------------------------------------------------------------------

def experiment_settings(graph) -> dict:
    """The ``[experiment]`` table with defaults; unknown keys and bad values refused by name."""
    given = dict(graph.experiment)
    for key in given:
        if key not in KEYS:
            raise ModelSpecError(f"[experiment]: unknown key {key!r}; known: {', '.join(KEYS)}")
    out = {k: given.get(k, v) for k, v in KEYS.items()}
    if out["weights"] is None:
        raise ModelSpecError("[experiment]: missing key 'weights'")
    if out["dataset"] not in DATASETS:
        raise ModelSpecError(f"[experiment]: dataset must be one of {', '.join(DATASETS)}, got "
                             f"{out['dataset']!r}")
    noise = out["noise"]
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise <= 1:
        raise ModelSpecError(f"[experiment]: noise must be a fraction in [0, 1], got {noise!r}")
    batch = out["batch"]
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ModelSpecError(f"[experiment]: batch must be an integer >= 1, got {batch!r}")
    conv = out["conv"]
    if isinstance(conv, bool) or not isinstance(conv, int) or conv < 0 \
            or (conv and conv % 2 == 0):
        raise ModelSpecError(f"[experiment]: conv must be 0 or an odd kernel size, got {conv!r}")
    pops = {p.name for p in graph.populations}
    for key in ("encoding", "hidden", "readout"):
        if out[key] not in pops:
            raise ModelSpecError(f"[experiment]: {key} {out[key]!r} is not a population")
    if out["attention"] not in {n.name for n in graph.networks}:
        raise ModelSpecError(f"[experiment]: attention {out['attention']!r} is not a network")
    return out


def _synapse(graph, source: str, target: str):
    found = [s for s in graph.synapses if s.source == source and s.target == target]
    if len(found) != 1:
        raise ModelSpecError(f"{graph.name}: needs one synapse {source} -> {target}, found "
                             f"{len(found)}")
    return found[0]


def load_weights(graph, settings: dict) -> dict:
    """The weights file of the model: checked to be this model's and to fit the graph."""
    path = weights_file(settings, graph.path)
    data = read_weights(path, "hnnbio.experiments.train_classification", graph.path)
    check_owner(data, graph.name, path.name)
    sizes = {settings[k]: graph.node(settings[k]).size for k in ("encoding", "hidden", "readout")}
    if data.get("format") != FORMAT or data.get("sizes") != sizes:
        raise DataError(f"{path.name}: weights for sizes {data.get('sizes')}, the model file has "
                        f"{sizes}")
    return data


def model_graphs(path, weights: dict | None = None):
    """(attention graph, baseline graph, settings) of a model file, trained weights in place.

    ``weights``: a weights dict to use instead of the file (a model being trained).
    """
    from brian2 import mV

    from hnnbio.hnn.files import load_hnn

    graph = load_hnn(path)
    settings = experiment_settings(graph)
    data = weights if weights is not None else load_weights(graph, settings)
    net = graph.node(settings["attention"])
    try:
        net.module.load_state_dict(data["attention"]["network"])
    except (RuntimeError, KeyError) as exc:
        raise DataError(f"{graph.name}: the attention network's weights do not fit "
                        f"({type(exc).__name__})") from None

    def with_weights(g, which: str, name: str, keep_network: bool):
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
        networks = g.networks if keep_network else [
            n for n in g.networks if n.name != settings["attention"]]
        units = g.units if keep_network else [
            u for u in g.units if settings["attention"] not in (u.source, u.target)]
        return dataclasses.replace(g, name=name, synapses=synapses, populations=pops,
                                   networks=networks, units=units)

    attention = with_weights(graph, "attention", graph.name, True)
    baseline = with_weights(graph, "baseline", f"{graph.name}-baseline", False)
    return attention, baseline, settings


def chip_graph(path):
    """The graph ``hnnbio export`` compiles: the attention model with its trained weights and its
    ReLU ranges calibrated on training digits (the calibration ``hnnbio run --backend emulator``
    uses too: :func:`hnnbio.chip.hybrid.classification_calibration`)."""
    from hnnbio.chip.hybrid import classification_calibration

    graph, _, settings = model_graphs(path)
    calibration = classification_calibration(graph, settings)
    return dataclasses.replace(graph, experiment={**graph.experiment,
                                                  "chip_calibration": calibration})


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
    windows = [u.window for u in graph.units if u.source == settings["hidden"]]
    return dict(encoding=layer("encoding"), hidden=layer("hidden"),
                n_out=graph.node(settings["readout"]).size, dt_ms=graph.dt_ms,
                v_drive_mv=float(enc.namespace["v_drive"] / mV),
                window=windows[0] if windows else 4)


# --- data ----------------------------------------------------------------------------------------

def salt_pepper(images: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Each pixel replaced with probability ``fraction`` by 0 or GREY_MAX (half each)."""
    rng = np.random.default_rng(seed)
    images = np.array(images, dtype=np.float64)
    hit = rng.random(images.shape) < fraction
    salt = rng.random(images.shape) < 0.5
    images[hit] = np.where(salt[hit], GREY_MAX, 0.0)
    return images


def check_images(values, n_pixels: int) -> np.ndarray:
    """(B, 8, 8) or (B, 64) grey levels 0..16 -> (B, 64) float64; one line when wrong."""
    arr = np.asarray(values)
    side = int(round(np.sqrt(n_pixels)))
    if arr.ndim == 3 and arr.shape[1:] == (side, side):
        arr = arr.reshape(arr.shape[0], -1)
    if arr.ndim != 2 or arr.shape[1] != n_pixels or arr.shape[0] < 1:
        raise DataError(f"input: expected images of shape (B, {side}, {side}) or "
                        f"(B, {n_pixels}), grey levels 0..{GREY_MAX:g}; got {arr.shape}")
    if arr.dtype.kind not in "biuf" or not np.isfinite(arr).all() or arr.min() < 0 \
            or arr.max() > GREY_MAX:
        raise DataError(f"input: grey levels must be finite numbers in 0..{GREY_MAX:g}")
    return arr.astype(np.float64)


# --- running on Brian2 ----------------------------------------------------------------------------

def evaluate(graph, settings: dict, images: np.ndarray, labels=None, steps: int | None = None,
             seed: int = 0, device: str = "cpu") -> dict:
    """Run ``graph`` on grey ``images`` (B, 64) in batches; predictions, spikes, accuracy."""
    from hnnbio.hnn.engine import Simulation

    steps = steps if steps is not None else graph.steps
    x = images / GREY_MAX
    pred, counts = [], {p.name: [] for p in graph.populations if p.record}
    applied = []
    for start in range(0, len(x), settings["batch"]):
        chunk = x[start:start + settings["batch"]]
        sim = Simulation(graph, chunk, seed=seed + start, device=device)
        result = sim.run(steps)
        v = sim.populations[settings["readout"]].read("v").reshape(len(chunk), -1)
        pred.append(np.argmax(v, axis=1))
        for name, c in result.spike_counts().items():
            counts[name].append(c)
        if result.applied:
            applied.append(next(iter(result.applied.values())))
    pred = np.concatenate(pred)
    counts = {k: np.concatenate(v) for k, v in counts.items()}
    total = sum(int(c.sum()) for c in counts.values())
    out = dict(predictions=pred, counts=counts, samples=len(x), steps=steps,
               spikes_per_sample=total / len(x),
               spikes_per_population={k: float(c.sum() / len(x)) for k, c in counts.items()})
    if applied:
        out["attention"] = np.concatenate(applied)
    if labels is not None:
        out["accuracy"] = float(np.mean(pred == np.asarray(labels)))
    return out


def _rows(res: dict) -> dict:
    rows = {k: res[k] for k in ("samples", "steps", "spikes_per_sample") if k in res}
    if "accuracy" in res:
        rows["accuracy"] = res["accuracy"]
    rows["spikes_per_population"] = res["spikes_per_population"]
    return rows


def run_classification(path, steps=None, values=None, out=None, seed: int = 0,
                       images: int | None = None, device: str = "cpu",
                       backend: str = "brian2") -> dict:
    """``hnnbio run`` of a classification model: the attention model and its baseline on the
    same images (the first ``images`` of the evaluation split, or ``values``).

    ``backend``: ``brian2`` (the engine) or ``emulator`` (both graphs compiled for the chip and
    run on its interpreter, :func:`hnnbio.chip.hybrid.run_classification_on_chip`).
    """
    if backend not in ("brian2", "emulator"):
        raise ParameterError(f"backend: {backend!r} is not one of brian2, emulator")
    if out is not None:
        raise ParameterError("--out: classification models print their metrics (--json); "
                             "they write no result folder")
    graph, baseline, settings = model_graphs(path)
    n_pixels = graph.node(settings["encoding"]).size
    labels = None
    if values is None:
        from hnnbio.data.digits import first_eval_images

        grey, labels = first_eval_images(images)
        grey = check_images(grey, n_pixels)
        if settings["noise"] > 0:
            grey = salt_pepper(grey, settings["noise"], seed)
    else:
        grey = check_images(values, n_pixels)
    if backend == "emulator":
        from hnnbio.chip.hybrid import run_classification_on_chip

        with_att, base = (run_classification_on_chip(g, settings, grey, labels, steps,
                                                     GREY_MAX, seed=seed)
                          for g in (graph, baseline))
    else:
        with_att = evaluate(graph, settings, grey, labels, steps, seed, device)
        base = evaluate(baseline, settings, grey, labels, steps, seed, device)
    rows = dict(model=graph.name, split="eval" if labels is not None else "input",
                backend=backend, noise=settings["noise"], **_rows(with_att),
                baseline=_rows(base))
    if labels is None:
        rows["predictions"] = with_att["predictions"].tolist()
        rows["baseline"]["predictions"] = base["predictions"].tolist()
    return rows
