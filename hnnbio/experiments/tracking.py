r"""Tracking experiments on the HNN graph: the hybrid sensing network (parallel structure).

A model file with ``[experiment] kind = "tracking"`` (``models/sensing-tracker.toml``) tracks the
bright square of :mod:`hnnbio.data.events` with two pathways that run side by side:

- **fast, spiking** (every step, on the event stream): an encoding population of LIF neurons, one
  per pixel and polarity (ON, OFF), driven by the event counts of the step; fixed synapses pool
  its spikes into projection LIF neurons, one per row and one per column of each polarity; an
  SNN -> ANN unit gives their mean rate over the last ``window`` steps;
- **slow, artificial** (every ``N`` steps, on the frame stream): a frame network (Linear / ReLU)
  reads the latest frame and gives a box;
- **fusion**: a network (Linear / ReLU) reads the projection rates and the frame network's box
  every step and gives the box of the next step; ANN -> SNN units write both boxes into passive
  readout populations (``set``), where the run records them.

The baseline is the ANN-only tracker: the frame network alone, holding its box between frames
(its readout unit has no delay: a frame's box applies from that frame's own step on, its best
case); it is read from the same run on the same streams. Both are scored by the IoU of their box
with the true box at every step from step 1 on (step 0 has no fused box yet).

Shared discretisation of Brian2 and the twin (:func:`twin_spikes`, training): ``method = "exact"``
(``v = v_inf - v_inf e^{-dt/tau} + v e^{-dt/tau}``, :func:`hnnbio.hybrid.twin.integrate`), strict
thresholds ``v > v_threshold``, then the synapses' ``v_post += w mV`` for this step's spikes,
then the resets ``v = v_reset``, then the engine's units and networks (Brian2's schedule
``groups, thresholds, synapses, resets, end``); the event counts of step ``t`` drive step ``t``.

``[experiment]`` keys (every other key is refused by name): ``weights`` (written by
:mod:`hnnbio.experiments.train_tracking`), ``events`` / ``frames`` (the two inputs),
``encoding`` / ``projection`` (populations), ``rates`` (the SNN -> ANN unit), ``fusion`` /
``frame_network`` (networks), ``box`` / ``frame_box`` (their readout units), ``threshold`` (the
contrast threshold ``C`` of the generated events), ``streams`` (default number of evaluation
streams) and ``batch`` (streams simulated together).

Metrics: ``mean_iou`` (per stream, then averaged), ``frames_per_second`` (boxes per second of
simulated time: one per step), ``spikes_per_stream``; ``baseline`` has the same for the
frame-only tracker (``frames_per_second`` = 1000 / (N dt)).

Evaluation streams use seeds ``EVAL_SEED_BASE + 1000 * seed + k`` (stream ``k`` of ``hnnbio run
--seed seed``); training uses seeds below ``EVAL_SEED_BASE`` only.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from hnnbio.errors import DataError, ModelSpecError, ParameterError
from hnnbio.experiments.files import check_owner, read_weights, weights_file

KEYS = {
    "kind": "tracking",
    "weights": None,
    "events": "events",
    "frames": "frames",
    "encoding": "enc",
    "projection": "proj",
    "rates": "rates",
    "fusion": "fusion",
    "frame_network": "frame_net",
    "box": "box",
    "frame_box": "frame_box",
    "threshold": 0.15,
    "streams": 16,
    "batch": 16,
}
FORMAT = 1
#: Evaluation stream seeds start here; training and validation seeds are all below it.
EVAL_SEED_BASE = 1_000_000
MAX_SEED = 4000  # run seeds 0..3999: the evaluation seeds stay below 2**32 and above training


# --- the networks ---------------------------------------------------------------------------------

def frame_network(n_pixels: int, n_hidden: int) -> nn.Sequential:
    """Frame (B, n_pixels) intensities -> box (B, 4), ``(x0, y0, x1, y1) / side``."""
    return nn.Sequential(nn.Linear(n_pixels, n_hidden), nn.ReLU(), nn.Linear(n_hidden, 4))


def fusion_network(n_features: int, n_hidden: int) -> nn.Sequential:
    """[projection rates (B, n_features), frame box (B, 4)] -> next step's box (B, 4) / side."""
    return nn.Sequential(nn.Linear(n_features + 4, n_hidden), nn.ReLU(),
                         nn.Linear(n_hidden, n_hidden // 2), nn.ReLU(),
                         nn.Linear(n_hidden // 2, 4))


# --- the model file -------------------------------------------------------------------------------

def experiment_settings(graph) -> dict:
    """The ``[experiment]`` table with defaults; unknown keys and bad values refused by name."""
    given = dict(graph.experiment)
    for key in given:
        if key not in KEYS:
            raise ModelSpecError(f"[experiment]: unknown key {key!r}; known: {', '.join(KEYS)}")
    out = {k: given.get(k, v) for k, v in KEYS.items()}
    if out["weights"] is None:
        raise ModelSpecError("[experiment]: missing key 'weights'")
    for key in ("streams", "batch"):
        v = out[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ModelSpecError(f"[experiment]: {key} must be an integer >= 1, got {v!r}")
    c = out["threshold"]
    if isinstance(c, bool) or not isinstance(c, (int, float)) or not c > 0:
        raise ModelSpecError(f"[experiment]: threshold must be a number > 0, got {c!r}")
    kinds = {"events": "inputs", "frames": "inputs", "encoding": "populations",
             "projection": "populations", "rates": "units", "fusion": "networks",
             "frame_network": "networks", "box": "units", "frame_box": "units"}
    for key, kind in kinds.items():
        if out[key] not in {n.name for n in getattr(graph, kind)}:
            raise ModelSpecError(f"[experiment]: {key} {out[key]!r} is not one of the "
                                 f"graph's {kind}")
    n_events, n_frames = (graph.node(out[k]).size for k in ("events", "frames"))
    side = int(round(np.sqrt(n_frames)))
    if side * side != n_frames or n_events != 2 * n_frames:
        raise ModelSpecError(f"[experiment]: frames must be side x side pixels and events 2 x "
                             f"that (ON, OFF), got {n_frames} and {n_events}")
    out["side"] = side
    out["frame_every"] = graph.node(out["frame_network"]).every
    return out


def load_weights(graph, settings: dict) -> dict:
    """The weights file of the model: checked to be this model's and to fit the graph."""
    path = weights_file(settings, graph.path)
    data = read_weights(path, "hnnbio.experiments.train_tracking", graph.path)
    check_owner(data, graph.name, path.name)
    if data.get("format") != FORMAT or data.get("sizes") != model_sizes(graph, settings):
        raise DataError(f"{path.name}: weights for sizes {data.get('sizes')}, the model file has "
                        f"{model_sizes(graph, settings)}")
    return data


def model_sizes(graph, settings: dict) -> dict:
    """The sizes a weights file is checked against."""
    return {settings[k]: graph.node(settings[k]).size for k in ("encoding", "projection")} | {
        "frame_every": settings["frame_every"], "window": graph.node(settings["rates"]).window}


def model_graph(path, weights: dict | None = None, steps: int | None = None):
    """(graph with trained networks, settings); ``weights`` instead of the file (training).
    ``steps``: the readout units keep that many steps (default the graph's)."""
    from hnnbio.hnn.files import load_hnn

    graph = load_hnn(path)
    settings = experiment_settings(graph)
    data = weights if weights is not None else load_weights(graph, settings)
    for key in ("fusion", "frame_network"):
        try:
            graph.node(settings[key]).module.load_state_dict(data[key])
        except (RuntimeError, KeyError) as exc:
            raise DataError(f"{graph.name}: the {key} network's weights do not fit "
                            f"({type(exc).__name__})") from None
    keep = steps if steps is not None else graph.steps
    units = [dataclasses.replace(u, record_steps=keep)
             if u.name in (settings["box"], settings["frame_box"]) else u for u in graph.units]
    return dataclasses.replace(graph, units=units), settings


def stream_settings(settings: dict, steps: int):
    from hnnbio.data.events import StreamSettings

    return StreamSettings(side=settings["side"], steps=steps, frame_every=settings["frame_every"],
                          threshold=float(settings["threshold"]))


def eval_seeds(seed: int, n: int) -> list[int]:
    """The stream seeds of ``hnnbio run --seed seed`` (never used in training)."""
    if not 0 <= seed < MAX_SEED:
        raise ParameterError(f"seed: tracking evaluation seeds are 0..{MAX_SEED - 1}, got {seed}")
    if n > 1000:
        raise ParameterError(f"images: at most 1000 streams per seed, got {n}")
    return [EVAL_SEED_BASE + 1000 * seed + k for k in range(n)]


# --- inputs ---------------------------------------------------------------------------------------

def stream_inputs(streams, steps: int) -> dict:
    """The graph's inputs for generated streams: events (B, T, 2 P) and held frames (B, T, P)."""
    from hnnbio.data.events import held_frames

    events = np.stack([s.events[:steps].reshape(steps, -1) for s in streams]).astype(np.float32)
    frames = np.stack([held_frames(s, steps).reshape(steps, -1) for s in streams])
    return {"events": events, "frames": frames.astype(np.float32)}


def check_stream_array(values, side: int) -> dict:
    """A user's streams: (B, T, 3, side, side) or (B, T, 3 side^2), channels ON counts, OFF
    counts, frame intensity (read at frame steps) -> the inputs; one line when wrong."""
    arr = np.asarray(values)
    n = side * side
    if arr.ndim == 5 and arr.shape[2:] == (3, side, side):
        arr = arr.reshape(arr.shape[0], arr.shape[1], 3 * n)
    if arr.ndim != 3 or arr.shape[2] != 3 * n or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise DataError(f"input: a tracking model takes streams of shape (B, T, 3, {side}, "
                        f"{side}) or (B, T, {3 * n}) (ON events, OFF events, frame); got "
                        f"{arr.shape}")
    if arr.dtype.kind not in "biuf" or not np.isfinite(arr).all():
        raise DataError("input: streams must be finite numbers")
    if (arr[:, :, :2 * n] < 0).any():
        raise DataError("input: event counts must be >= 0")
    arr = arr.astype(np.float32)
    return {"events": arr[:, :, :2 * n], "frames": arr[:, :, 2 * n:]}


# --- the twin of the spiking pathway --------------------------------------------------------------

def snn_parameters(graph, settings: dict) -> dict:
    """The spiking pathway's parameters read from the graph (one source for Brian2 and twin)."""
    from brian2 import ms, mV

    enc, proj = (graph.node(settings[k]) for k in ("encoding", "projection"))
    found = [s for s in graph.synapses if s.source == enc.name and s.target == proj.name]
    if len(found) != 1 or not isinstance(found[0].connect, dict) or "i" not in found[0].connect:
        raise ModelSpecError(f"{graph.name}: needs one synapse {enc.name} -> {proj.name} with "
                             f"connect = {{i, j}}")
    syn = found[0]

    def lif(p):
        ns = p.namespace
        try:
            return dict(tau_ms=float(ns["tau_mem"] / ms), v_threshold=float(ns["v_threshold"] / mV),
                        v_reset=float(ns["v_reset"] / mV))
        except KeyError as exc:
            raise ModelSpecError(f"{p.name}: namespace needs {exc.args[0]}") from None

    w = np.broadcast_to(np.asarray(syn.values.get("w", 1.0), dtype=np.float64),
                        (len(syn.connect["i"]),))
    pool = np.zeros((enc.size, proj.size))
    np.add.at(pool, (np.asarray(syn.connect["i"]), np.asarray(syn.connect["j"])), w)
    rates = graph.node(settings["rates"])
    return dict(enc=lif(enc), proj=lif(proj), v_drive=float(enc.namespace["v_drive"] / mV),
                pool=pool, window=rates.window, dt_ms=graph.dt_ms)


def twin_spikes(params: dict, events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The twin on events (B, T, n_enc), stepped as Brian2 steps the graph (module docstring),
    in float64: encoding spike counts per neuron (B, n_enc) and projection spikes (B, T, n_proj)
    of 0 / 1."""
    from hnnbio.hybrid.twin import decay_factor, integrate, reset, spike

    x = torch.as_tensor(np.asarray(events), dtype=torch.float64)
    B, T, _ = x.shape
    e, p = params["enc"], params["proj"]
    d_enc, d_proj = (decay_factor(q["tau_ms"], params["dt_ms"]) for q in (e, p))
    pool = torch.as_tensor(params["pool"], dtype=torch.float64)
    v_enc = torch.zeros(B, pool.shape[0], dtype=torch.float64)
    v_proj = torch.zeros(B, pool.shape[1], dtype=torch.float64)
    count_enc = torch.zeros(B, pool.shape[0], dtype=torch.float64)
    out_proj = torch.zeros(B, T, pool.shape[1], dtype=torch.float64)
    with torch.no_grad():
        for t in range(T):
            v_enc = integrate(v_enc, params["v_drive"] * x[:, t], d_enc)  # groups
            v_proj = integrate(v_proj, 0.0, d_proj)
            s_enc = spike(v_enc, e["v_threshold"])  # thresholds
            s_proj = spike(v_proj, p["v_threshold"])
            v_proj = v_proj + s_enc @ pool  # synapses
            v_enc = reset(v_enc, s_enc, e["v_reset"])  # resets
            v_proj = reset(v_proj, s_proj, p["v_reset"])
            count_enc += s_enc
            out_proj[:, t] = s_proj
    return count_enc.numpy(), out_proj.numpy()


def window_rates(spikes: np.ndarray, window: int) -> np.ndarray:
    """Mean of the spikes (B, T, n) over the last ``window`` steps (zeros before the start), the
    rate unit's value at the end of each step."""
    c = np.cumsum(np.asarray(spikes, dtype=np.float64), axis=1)
    shifted = np.concatenate([np.zeros_like(c[:, :window]), c[:, :-window]], axis=1)
    return ((c - shifted[:, :c.shape[1]]) / window).astype(np.float32)


# --- the chip ------------------------------------------------------------------------------------

#: Training streams (seeds 0 .. CALIBRATION_STREAMS - 1, below EVAL_SEED_BASE) the chip's ReLU
#: and output ranges are calibrated on (:func:`chip_calibration`).
CALIBRATION_STREAMS = 8


def chip_calibration(graph, settings: dict, n_streams: int = CALIBRATION_STREAMS) -> dict:
    """Calibration samples of the chip compiler (:func:`hnnbio.chip.hybrid.compile_hybrid`) on
    training streams: the frame network's frames, and the fusion network's input of every step
    (the twin's window rates of the projections and the frame network's box of that step)."""
    from hnnbio.data.events import generate_streams

    steps = graph.steps
    streams = generate_streams(range(n_streams), stream_settings(settings, steps))
    inputs = stream_inputs(streams, steps)
    k = settings["frame_every"]
    frames = inputs["frames"][:, (np.arange(steps) // k) * k]
    _, proj = twin_spikes(snn_parameters(graph, settings), inputs["events"])
    rates = window_rates(proj, graph.node(settings["rates"]).window)
    frame_net = graph.node(settings["frame_network"]).module.eval()
    with torch.no_grad():
        box = frame_net(torch.as_tensor(frames.reshape(-1, frames.shape[-1]))).numpy()
    fused_in = np.concatenate([rates.reshape(len(box), -1), box], axis=1)
    return {settings["frame_network"]: frames[:, ::k].reshape(-1, frames.shape[-1]),
            settings["fusion"]: fused_in}


def chip_graph(path):
    """The graph ``hnnbio export`` compiles: the trained networks, the chip calibration
    (:func:`chip_calibration`) and both inputs per step over the file's steps."""
    graph, settings = model_graph(path)
    experiment = {**graph.experiment, "chip_calibration": chip_calibration(graph, settings),
                  "chip_sequences": {settings["events"]: graph.steps,
                                     settings["frames"]: graph.steps}}
    return dataclasses.replace(graph, experiment=experiment)


# --- running on Brian2 ----------------------------------------------------------------------------

def evaluate(graph, settings: dict, inputs: dict, boxes=None, seed: int = 0,
             device: str = "cpu") -> dict:
    """Run ``graph`` on ``inputs`` (events, frames: (B, T, n)) in batches; both trackers' boxes
    (B, T, 4) in pixels, spike counts, and with true ``boxes`` (B, T, 4) the IoUs."""
    from hnnbio.data.events import iou
    from hnnbio.hnn.engine import Simulation

    side = settings["side"]
    names = {settings["events"]: inputs["events"], settings["frames"]: inputs["frames"]}
    B, T = inputs["events"].shape[:2]
    fused, framed, counts = [], [], {}
    for start in range(0, B, settings["batch"]):
        chunk = {k: v[start:start + settings["batch"]] for k, v in names.items()}
        sim = Simulation(graph, chunk, seed=seed + start, device=device)
        result = sim.run(T)
        fused.append(result.applied[settings["box"]] * side)
        framed.append(result.applied[settings["frame_box"]] * side)
        for name, c in result.spike_counts().items():
            counts.setdefault(name, []).append(c)
    fused, framed = np.concatenate(fused), np.concatenate(framed)
    counts = {k: np.concatenate(v) for k, v in counts.items()}
    out = dict(fused=fused, framed=framed, streams=B, steps=T,
               spikes_per_stream=float(sum(c.sum() for c in counts.values()) / B),
               spikes_per_population={k: float(c.sum() / B) for k, c in counts.items()})
    if boxes is not None:
        out["iou"] = iou(fused[:, 1:], boxes[:, 1:])  # step 0: no fused box yet
        out["iou_baseline"] = iou(framed[:, 1:], boxes[:, 1:])
    return out


def run_tracking(path, steps=None, values=None, out=None, seed: int = 0,
                 images: int | None = None, device: str = "cpu", backend: str = "brian2") -> dict:
    """``hnnbio run`` of a tracking model: the hybrid tracker and the frame-only baseline on the
    same streams (``images`` generated evaluation streams of ``steps`` steps, or ``values``);
    ``backend = "emulator"``: both on the chip's interpreter
    (:func:`hnnbio.chip.hybrid.run_tracking_on_chip`, calibrated by :func:`chip_calibration`)."""
    if backend not in ("brian2", "emulator"):
        raise ParameterError(f"backend: tracking models run on brian2 or emulator, got "
                             f"{backend!r}")
    from hnnbio.data.events import generate_streams

    if out is not None:
        raise ParameterError("--out: tracking models print their metrics (--json); they write "
                             "no result folder")
    if images is not None and (isinstance(images, bool) or not isinstance(images, int)
                               or images < 1):
        raise ParameterError(f"images: must be a positive integer, got {images!r}")
    from hnnbio.hnn.files import load_hnn

    settings = experiment_settings(load_hnn(path))
    if steps is not None and steps < 2:
        raise ParameterError(f"steps: a tracking run needs >= 2 steps (step 0 has no fused box "
                             f"yet), got {steps}")
    boxes = None
    if values is None:
        steps = steps if steps is not None else load_hnn(path).steps
        n = images if images is not None else settings["streams"]
        streams = generate_streams(eval_seeds(seed, n), stream_settings(settings, steps))
        inputs = stream_inputs(streams, steps)
        boxes = np.stack([s.boxes for s in streams])
    else:
        inputs = check_stream_array(values, settings["side"])
        if steps is not None:
            if steps > inputs["events"].shape[1]:
                raise DataError(f"input: the streams have {inputs['events'].shape[1]} steps, "
                                f"--steps asks for {steps}")
            inputs = {k: v[:, :steps] for k, v in inputs.items()}
        steps = inputs["events"].shape[1]
        if steps < 2:
            raise DataError("input: a tracking run needs streams of >= 2 steps")
    graph, settings = model_graph(path, steps=steps)
    if backend == "emulator":
        from hnnbio.chip.hybrid import run_tracking_on_chip

        res = run_tracking_on_chip(graph, settings, inputs, boxes, settings["batch"], seed,
                                   calibration=chip_calibration(graph, settings))
    else:
        res = evaluate(graph, settings, inputs, boxes, seed, device)
    seconds = steps * graph.dt_ms / 1000.0
    rows = dict(model=graph.name, split="eval" if boxes is not None else "input",
                streams=res["streams"], steps=steps, dt_ms=graph.dt_ms,
                frames_per_second=steps / seconds, spikes_per_stream=res["spikes_per_stream"],
                spikes_per_population=res["spikes_per_population"], backend=backend)
    if backend == "emulator":
        rows["cores"] = res["cores"]
    n_frames = len(range(0, steps, settings["frame_every"]))
    base = dict(model=f"{graph.name}-frames-only", frames_per_second=n_frames / seconds)
    if boxes is not None:
        rows["mean_iou"] = float(res["iou"].mean(axis=1).mean())
        base["mean_iou"] = float(res["iou_baseline"].mean(axis=1).mean())
        rows["stream_seeds"] = [EVAL_SEED_BASE + 1000 * seed, EVAL_SEED_BASE + 1000 * seed
                                + res["streams"] - 1]
    else:
        rows["boxes"] = res["fused"].tolist()
        base["boxes"] = res["framed"].tolist()
    rows["baseline"] = base
    rows["speedup"] = rows["frames_per_second"] / base["frames_per_second"]
    return rows
