"""sensing-tracker: predicted against true boxes over time, and the IoU of the hybrid tracker and
of the frame-only baseline (Brian2 runs of the shipped weights on generated evaluation streams).

The streams are those of ``hnnbio run models/sensing-tracker.toml --seed SEED`` (seeds
``1_000_000 + 1000 SEED + k``, never used in training), run through
:func:`hnnbio.experiments.tracking.evaluate`. Writes ``sensing_tracker.png`` (an event snapshot
with the three boxes; the box centre over time; the IoU of one stream over time; the IoU against
the steps since the last frame, averaged over the streams) and ``sensing_tracker.json`` to
``--out``.

Run: ``python analyses/sensing_tracker.py [--streams 16] [--seed 0] [--out analyses/out]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

MODEL = Path(__file__).resolve().parents[1] / "models" / "sensing-tracker.toml"


def measure(n_streams: int = 16, seed: int = 0, model=MODEL) -> dict:
    from hnnbio.data.events import generate_streams
    from hnnbio.experiments import tracking as tr
    from hnnbio.hnn.files import load_hnn

    steps = load_hnn(model).steps
    graph, settings = tr.model_graph(model, steps=steps)
    streams = generate_streams(tr.eval_seeds(seed, n_streams), tr.stream_settings(settings, steps))
    boxes = np.stack([s.boxes for s in streams])
    res = tr.evaluate(graph, settings, tr.stream_inputs(streams, steps), boxes, seed=seed)
    return dict(steps=steps, frame_every=settings["frame_every"], boxes=boxes,
                fused=res["fused"], framed=res["framed"], iou=res["iou"],
                iou_baseline=res["iou_baseline"], events=np.stack([s.events for s in streams]),
                seeds=[s.seed for s in streams],
                mean_iou=float(res["iou"].mean(axis=1).mean()),
                mean_iou_baseline=float(res["iou_baseline"].mean(axis=1).mean()),
                spikes_per_stream=res["spikes_per_stream"])


def _rect(ax, box, color, label, style="-"):
    from matplotlib.patches import Rectangle

    x0, y0, x1, y1 = box
    ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec=color, lw=1.6,
                           ls=style, label=label))


def _centre(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 0] + boxes[:, 2]) / 2


def plot(data: dict, path: Path, stream: int = 0) -> None:
    """Write :func:`figure` to ``path`` (off screen)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = figure(data, stream)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def figure(data: dict, stream: int = 0):
    """The four panels for the measured ``data`` (:func:`measure`); ``stream``: the example."""
    import matplotlib.pyplot as plt

    n = data["frame_every"]
    steps = np.arange(data["steps"])
    truth, fused, framed = (data[k][stream] for k in ("boxes", "fused", "framed"))
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    ax = axes[0, 0]
    t = n + n - 2  # late in a frame interval, where the held frame box has fallen behind
    ev = data["events"][stream, t - 3:t + 1].sum(0)
    ax.imshow(ev[0] - ev[1], cmap="bwr", vmin=-4, vmax=4)
    _rect(ax, truth[t], "k", "true")
    _rect(ax, fused[t], "tab:green", "hybrid (SNN + ANN)")
    _rect(ax, framed[t], "tab:orange", "frames only (held)", "--")
    ax.set_title(f"stream {data['seeds'][stream]}, step {t}: ON - OFF events of steps "
                 f"{t - 3}..{t}", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    ax = axes[0, 1]
    ax.plot(steps, _centre(truth), "k", lw=2, label="true")
    ax.plot(steps[1:], _centre(fused)[1:], color="tab:green", label="hybrid (every step)")
    ax.step(steps, _centre(framed), where="post", color="tab:orange", label="frames only")
    for f in range(0, data["steps"], n):
        ax.axvline(f, color="0.85", lw=0.8, zorder=0)
    ax.set_xlabel("step (1 ms)")
    ax.set_ylabel("box centre x (pixels)")
    ax.set_title("box centre over time (grey: frame steps)", fontsize=9)
    ax.legend(fontsize=8)
    ax = axes[1, 0]
    ax.plot(steps[1:], data["iou"][stream], color="tab:green", label="hybrid")
    ax.plot(steps[1:], data["iou_baseline"][stream], color="tab:orange", label="frames only")
    ax.set_ylim(0, 1)
    ax.set_xlabel("step (1 ms)")
    ax.set_ylabel("IoU with the true box")
    ax.set_title("IoU of this stream over time", fontsize=9)
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    phase = steps[1:] % n
    for key, color, label in (("iou", "tab:green", "hybrid"),
                              ("iou_baseline", "tab:orange", "frames only")):
        per = [data[key][:, phase == k].mean() for k in range(n)]
        ax.plot(range(n), per, "o-", color=color,
                label=f"{label}: mean IoU {data[key].mean(axis=1).mean():.3f}")
    ax.set_ylim(0, 1)
    ax.set_xlabel("steps since the last frame")
    ax.set_ylabel("mean IoU")
    ax.set_title(f"{len(data['seeds'])} evaluation streams", fontsize=9)
    ax.legend(fontsize=8)
    fig.suptitle("sensing-tracker: hybrid (LIF events + frame ANN, 1000 boxes/s) vs frames only "
                 "(50 boxes/s, held)", fontsize=10)
    fig.tight_layout()
    return fig


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "out"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    data = measure(args.streams, args.seed)
    plot(data, out / "sensing_tracker.png")
    rows = {k: data[k] for k in ("steps", "frame_every", "mean_iou", "mean_iou_baseline",
                                 "spikes_per_stream", "seeds")}
    rows["seconds"] = time.time() - t0
    (out / "sensing_tracker.json").write_text(json.dumps(rows, indent=1))
    print(json.dumps({k: v for k, v in rows.items() if k != "seeds"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
