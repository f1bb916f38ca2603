"""NeuTNN pruning: synapses and estimated energy against accuracy, for several pruning fractions.

Runs the shipped ``models/neutnn-digits.toml`` network (weights: its training-split prototypes) in
Brian2 on the evaluation split of the digits (index >= 1400) with usage pruning of each fraction
(:func:`hnnbio.experiments.neutnn.prune`, theta rescaled to the remaining synapses), all on the
same input spikes, and plots accuracy against the synapses kept and against the energy per image
(synaptic operations counted in the run x 0.9 pJ, :class:`hnnbio.chip.spec.ChipSpec`), with the
nearest-prototype reference and the unpruned network marked. Writes ``neutnn_pruning.png`` and
``neutnn_pruning.json`` into ``--out``.

With ``--backend emulator`` every pruned network is compiled for the chip
(:mod:`hnnbio.chip.segments`) and run on its interpreter on the same input spikes; a third panel
then shows the interpreter's synaptic operations per image (its crossbars), and the files are
``neutnn_pruning_emulator.png`` / ``.json``.

    python analyses/neutnn_pruning.py --out analyses/out [--backend emulator]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

MODEL = Path(__file__).resolve().parents[1] / "models" / "neutnn-digits.toml"
FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def measure(model=MODEL, fractions=FRACTIONS, n_images: int | None = None, seed: int = 0,
            steps: int | None = None, backend: str = "brian2") -> dict:
    from hnnbio.data.digits import load_digits
    from hnnbio.experiments.neutnn import (
        check_images,
        evaluate,
        load_weights,
        nearest_prototype,
        networks_of,
        read_model,
    )

    start = time.perf_counter()
    graph, settings, design = read_model(model)
    weights = load_weights(graph, settings, design)
    steps = steps or graph.steps or 10 * design.cycle_steps
    grey, labels = load_digits("eval")
    if n_images is not None:
        grey, labels = grey[:n_images], labels[:n_images]
    grey = check_images(grey)
    rows = []
    for fraction in fractions:
        d = dataclasses.replace(design, prune_fraction=fraction)
        nets = networks_of(weights["prototypes"], weights["labels"], weights["mean_usage"], d)
        res = evaluate(nets, grey, labels, steps, seed, variants=("pruned",),
                       backend=backend)["pruned"]
        rows.append({"prune_fraction": fraction,
                     **{k: v for k, v in res.items() if k != "predictions"}})
        print(json.dumps(rows[-1]), flush=True)
    ref = nearest_prototype(weights["prototypes"], weights["labels"], grey)
    return dict(model=graph.name, backend=backend, samples=len(grey), steps=steps,
                design_prune=design.prune_fraction, theta_distal=design.theta_distal, rows=rows,
                nearest_prototype=float(np.mean(ref == labels)),
                seconds=round(time.perf_counter() - start, 1))


def plot(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["rows"]
    acc = np.array([r["accuracy"] for r in rows]) * 100
    syn = np.array([r["synapses"] for r in rows])
    energy = np.array([r["energy_nj_per_sample"] for r in rows])
    frac = [r["prune_fraction"] for r in rows]
    panels = [(syn, "synapses kept (one image's network)"),
              (energy, "estimated energy per image, nJ (SOPs x 0.9 pJ)")]
    if "chip_counters_per_sample" in rows[0]:
        panels.append((np.array([r["chip_counters_per_sample"]["sops"] for r in rows]) / 1e6,
                       "interpreter SOPs per image, millions (the chip's crossbars)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2))
    for ax, (x, label) in zip(axes, panels, strict=True):
        ax.plot(x, acc, "o-", color="tab:blue", label="segment network, usage pruning")
        for xi, ai, f in zip(x, acc, frac, strict=True):
            ax.annotate(f"{f:.0%}", (xi, ai), textcoords="offset points", xytext=(4, 5),
                        fontsize=8)
        ax.axhline(acc[0] - 1, color="tab:blue", ls=":", lw=1, label="unpruned - 1 point")
        ax.axhline(data["nearest_prototype"] * 100, color="tab:gray", ls="--", lw=1,
                   label="nearest prototype (same prototypes)")
        ax.set_xlabel(label)
        ax.set_ylabel("accuracy on eval split, %")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{data['model']} ({data.get('backend', 'brian2')}): pruning (labels: fraction "
                 f"removed per segment), {data['samples']} eval images, {data['steps']} steps")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=None, help="first N evaluation images")
    parser.add_argument("--out", default="analyses/out", help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=("brian2", "emulator"), default="brian2")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = measure(n_images=args.images, seed=args.seed, backend=args.backend)
    stem = "neutnn_pruning" + ("_emulator" if args.backend == "emulator" else "")
    (out / f"{stem}.json").write_text(json.dumps(data, indent=1))
    plot(data, out / f"{stem}.png")
    print(f"wrote {out / f'{stem}.png'} ({data['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
