"""Train a tracking model's networks: the frame network, then the fusion network on the twin.

``python -m hnnbio.experiments.train_tracking models/sensing-tracker.toml`` writes the weights
file the model file names (``models/sensing-tracker.pt``).

- Data: generated streams (:mod:`hnnbio.data.events`, the model's settings, ``steps`` steps) of
  seeds ``0 .. n_train - 1`` (fit) and ``n_train .. n_train + n_val - 1`` (model selection), all
  below :data:`hnnbio.experiments.tracking.EVAL_SEED_BASE`: evaluation streams are never seen.
- The spiking pathway has fixed weights (the model file's); its projection spikes come from the
  PyTorch twin (:func:`hnnbio.experiments.tracking.twin_spikes`, the same discretisation as
  Brian2, tested spike for spike), and the rate unit's values from them.
- Frame network: L1 loss of the box (``/ side``) of the fit streams' intensity images every
  ``frame_stride`` steps (more images than their frame steps alone); Adam, cosine learning rate;
  the kept epoch is the one of the best validation IoU (the validation streams' frames).
- Fusion network: inputs the rates at the end of step ``t`` and the frame network's box held at
  step ``t`` (its own output, not the true box), target the true box of step ``t + 1`` (the box
  unit's delay); L1 loss; the kept epoch is the one of the best validation IoU.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from hnnbio.experiments.tracking import (
    EVAL_SEED_BASE,
    FORMAT,
    experiment_settings,
    model_sizes,
    snn_parameters,
    stream_settings,
    twin_spikes,
    window_rates,
)


def _fit(net, x, y, epochs: int, lr: float, seed: int, score, batch: int = 256, log=print):
    """Adam + cosine schedule on L1; keeps the state of the best ``score()`` (higher is better)."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    best, best_state = -np.inf, None
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(x), generator=gen)
        total = 0.0
        for start in range(0, len(x), batch):
            b = perm[start:start + batch]
            loss = (net(x[b]) - y[b]).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * len(b)
        sched.step()
        net.eval()
        value = score()
        if value > best:
            best, best_state = value, {k: v.clone() for k, v in net.state_dict().items()}
        log(f"  epoch {epoch + 1}/{epochs}: loss {total / len(x):.4f}, validation {value:.4f}")
    net.load_state_dict(best_state)
    return best


def frames_of_every(seeds, settings, stride: int):
    """Intensity images (n, P) and boxes / side (n, 4) of the fit streams every ``stride`` steps
    (more frames of the same training seeds than their frame steps alone)."""
    from hnnbio.data.events import render

    xs, ys = [], []
    for seed in seeds:
        intensity, boxes, _, _ = render(settings, int(seed))
        xs.append(intensity[::stride].reshape(-1, settings.side ** 2).astype(np.float32))
        ys.append((boxes[::stride] / settings.side).astype(np.float32))
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))


def _streams(seeds, settings):
    from hnnbio.data.events import generate_streams

    return generate_streams(seeds, settings)


def features(graph, settings: dict, streams, chunk: int = 50) -> np.ndarray:
    """The rate unit's values (B, T, n_proj) of the twin on ``streams``."""
    from hnnbio.experiments.tracking import stream_inputs

    params = snn_parameters(graph, settings)
    steps = streams[0].events.shape[0]
    out = []
    for start in range(0, len(streams), chunk):
        events = stream_inputs(streams[start:start + chunk], steps)["events"]
        _, proj = twin_spikes(params, events)
        out.append(window_rates(proj, params["window"]))
    return np.concatenate(out)


def train(path, n_train: int = 400, n_val: int = 50, seed: int = 0, frame_epochs: int = 30,
          fusion_epochs: int = 30, frame_stride: int = 4, log=print) -> dict:
    """Train the model of ``path``; return the weights dict (see the module docstring)."""
    from hnnbio.data.events import held_frames, iou
    from hnnbio.hnn.files import load_hnn

    if n_train + n_val > EVAL_SEED_BASE:
        raise SystemExit("train_tracking: training seeds must stay below the evaluation seeds")
    torch.manual_seed(seed)
    graph = load_hnn(path)
    settings = experiment_settings(graph)
    side, steps = settings["side"], graph.steps
    frame_net = graph.node(settings["frame_network"]).module
    fusion = graph.node(settings["fusion"]).module
    torch.manual_seed(seed)  # the factories' initial weights, from the seed
    for module in (frame_net, fusion):
        for layer in module:
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()
    ss = stream_settings(settings, steps)
    t0 = time.time()
    fit_s = _streams(range(n_train), ss)
    val_s = _streams(range(n_train, n_train + n_val), ss)
    log(f"streams: {n_train} fit, {n_val} validation, {steps} steps ({time.time() - t0:.0f} s)")

    def frames_of(streams):
        x = np.concatenate([s.frames.reshape(len(s.frames), -1) for s in streams])
        y = np.concatenate([s.boxes[s.frame_steps] / side for s in streams])
        return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)

    fx, fy = frames_of_every(range(n_train), ss, frame_stride)
    vx, vy = frames_of(val_s)
    log(f"frame network: {len(fx)} frames")

    def frame_score():
        with torch.no_grad():
            return float(iou(frame_net(vx).numpy(), vy.numpy()).mean())

    frame_iou = _fit(frame_net, fx, fy, frame_epochs, 1e-3, seed, frame_score, batch=128,
                     log=log)

    def fusion_data(streams):
        rates = features(graph, settings, streams)
        with torch.no_grad():
            held = np.stack([frame_net(torch.tensor(held_frames(s, steps).reshape(steps, -1),
                                                    dtype=torch.float32)).numpy()
                             for s in streams])
        boxes = np.stack([s.boxes for s in streams]) / side
        x = np.concatenate([rates[:, :-1], held[:, :-1]], axis=2).reshape(-1, rates.shape[2] + 4)
        y = boxes[:, 1:].reshape(-1, 4)
        return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)

    t0 = time.time()
    ux, uy = fusion_data(fit_s)
    wx, wy = fusion_data(val_s)
    log(f"fusion network: {len(ux)} steps of twin features ({time.time() - t0:.0f} s)")

    def fusion_score():
        with torch.no_grad():
            return float(iou(fusion(wx).numpy(), wy.numpy()).mean())

    fusion_iou = _fit(fusion, ux, uy, fusion_epochs, 1e-3, seed, fusion_score, log=log)
    log(f"validation IoU: frame network {frame_iou:.4f} (at frame steps), fusion {fusion_iou:.4f}")
    return dict(model=graph.name, format=FORMAT, sizes=model_sizes(graph, settings),
                fusion=fusion.state_dict(), frame_network=frame_net.state_dict(),
                training=dict(seed=seed, n_train=n_train, n_val=n_val, steps=steps,
                              frame_stride=frame_stride,
                              frame_epochs=frame_epochs, fusion_epochs=fusion_epochs,
                              validation_iou_frame=frame_iou, validation_iou_fusion=fusion_iou))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hnnbio.experiments.train_tracking",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the model file, e.g. models/sensing-tracker.toml")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-train", type=int, default=400)
    parser.add_argument("--n-val", type=int, default=50)
    parser.add_argument("--frame-epochs", type=int, default=30)
    parser.add_argument("--frame-stride", type=int, default=4,
                        help="frame network: fit images every so many steps of the fit streams")
    parser.add_argument("--fusion-epochs", type=int, default=30)
    parser.add_argument("--out", help="weights file (default: the one the model file names)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from hnnbio.errors import HnnbioError
    from hnnbio.hnn.files import load_hnn

    try:
        graph = load_hnn(args.model)
        settings = experiment_settings(graph)
        weights = train(args.model, args.n_train, args.n_val, args.seed, args.frame_epochs,
                        args.fusion_epochs, args.frame_stride)
    except HnnbioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path(args.model).parent / settings["weights"]
    torch.save(weights, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
