"""Binding by synchrony, not rate: scores over the loop's cycles, per-image correlation with AMI.

For every data set whose trained weights are shipped, generate images, run ``hnnbio.bind`` and
compute (``hnnbio.analysis.scores``):

1. the synchrony score (Victor-Purpura silhouette, q = 1/3 per step) and the rate score (q = 0) of
   the final predicted groups on the spikes of each cycle: mean and s.d. over images per cycle;
2. per image, the Pearson r of the final synchrony score with AMI and of the rate score with AMI.

The published hybrid model shows synchrony rising to a plateau (Bars ~0.97, Shapes ~0.85, Corners
~0.78) with rate scores between -0.2 and 0.15, and synchrony tracking AMI image by image while rate
does not. Writes ``scores_over_cycles.png``, ``scores_vs_ami.png`` and ``results.json``
to ``--out``.

Run: ``python analyses/synchrony_vs_rate.py [--images 16] [--quick] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def analyse_model(
    model: str, n_images: int, seed: int, cycle_step: int, cycles: int | None, progress: bool
) -> dict | None:
    import hnnbio
    from hnnbio.analysis.scores import pearson_with, scores_by_cycle
    from hnnbio.binding.spec import load_spec
    from hnnbio.data import datasets

    spec = load_spec(model)
    if not spec.weights_path.exists():
        print(f"{model}: skipped, trained weights {spec.weights_path.name} not found")
        return None
    t0 = time.perf_counter()
    images, labels = datasets.generate(spec.dataset, n_images, seed)
    result = hnnbio.bind(
        images, model=spec, seed=seed, truth=labels, cycles=cycles, progress=progress
    )
    t_bind = time.perf_counter() - t0
    n_cycles = result.n_steps // result.steps_per_cycle
    chosen = sorted(set(range(0, n_cycles, cycle_step)) | {n_cycles - 1})
    by_cycle = scores_by_cycle(result, cycles=chosen, progress=progress)
    m = result.metrics
    return {
        "model": model,
        "images": n_images,
        "cycles": n_cycles,
        "bind_seconds": t_bind,
        "score_cycles": [int(c) + 1 for c in by_cycle["cycles"]],
        "synchrony_mean": np.nanmean(by_cycle["synchrony"], axis=0).tolist(),
        "synchrony_sd": np.nanstd(by_cycle["synchrony"], axis=0).tolist(),
        "rate_mean": np.nanmean(by_cycle["rate"], axis=0).tolist(),
        "rate_sd": np.nanstd(by_cycle["rate"], axis=0).tolist(),
        "ami": np.asarray(m["ami"]).tolist(),
        "synchrony": np.asarray(m["synchrony"]).tolist(),
        "rate": np.asarray(m["rate"]).tolist(),
        "mean_ami": float(np.nanmean(m["ami"])),
        "mean_synchrony": float(np.nanmean(m["synchrony"])),
        "mean_rate": float(np.nanmean(m["rate"])),
        "pearson_r_synchrony_ami": pearson_with(m["ami"], m["synchrony"]),
        "pearson_r_rate_ami": pearson_with(m["ami"], m["rate"]),
    }


def plot(rows: list, out: Path) -> list:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    paths = []
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for k, r in enumerate(rows):
        c = np.asarray(r["score_cycles"])
        for key, style in (("synchrony", "-"), ("rate", "--")):
            mean, sd = np.asarray(r[f"{key}_mean"]), np.asarray(r[f"{key}_sd"])
            ax.plot(c, mean, style, color=f"C{k}", label=f"{r['model']} {key}")
            ax.fill_between(c, mean - sd, mean + sd, color=f"C{k}", alpha=0.12)
    ax.axhline(0, color="0.7", lw=0.6)
    ax.set_xlabel("cycle (iteration of the loop)")
    ax.set_ylabel("silhouette score (-1 to 1)")
    ax.set_title(
        "Synchrony (solid, VP q = 1/3) and rate (dashed, q = 0) scores; mean ± s.d. over images"
    )
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    paths.append(out / "scores_over_cycles.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(rows), figsize=(4.2 * len(rows), 3.8), squeeze=False)
    for ax, r in zip(axes[0], rows, strict=False):
        ax.scatter(
            r["ami"],
            r["synchrony"],
            s=12,
            color="C3",
            label=f"synchrony (r = {r['pearson_r_synchrony_ami']:.2f})",
        )
        ax.scatter(
            r["ami"], r["rate"], s=12, color="C0", label=f"rate (r = {r['pearson_r_rate_ami']:.2f})"
        )
        ax.set_xlabel("AMI of predicted groups")
        ax.set_ylabel("silhouette score (-1 to 1)")
        ax.set_title(f"{r['model']}: scores vs AMI per image")
        ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "scores_vs_ami.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def main(argv=None) -> list:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["bars", "corners", "shapes"])
    parser.add_argument("--images", type=int, default=16, help="images per data set (default 16)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cycle-step", type=int, default=5, help="score every n-th cycle (default 5)"
    )
    parser.add_argument("--cycles", type=int, default=None, help="override the spec's cycles")
    parser.add_argument("--quick", action="store_true", help="2 images, 10 cycles (CI size)")
    parser.add_argument("--out", default="analyses/out/synchrony_vs_rate", help="output folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if args.quick:
        args.images, args.cycles, args.cycle_step = 2, 10, 3
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [
        r
        for r in (
            analyse_model(m, args.images, args.seed, args.cycle_step, args.cycles, not args.quiet)
            for m in args.models
        )
        if r is not None
    ]
    if not rows:
        print("no data set with trained weights: nothing to analyse")
        return rows
    plot(rows, out)
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    print("| data set | images | AMI | synchrony | rate | r(synchrony, AMI) | r(rate, AMI) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['images']} | {r['mean_ami']:.3f} | {r['mean_synchrony']:.3f} | "
            f"{r['mean_rate']:.3f} | {r['pearson_r_synchrony_ami']:.2f} | "
            f"{r['pearson_r_rate_ami']:.2f} |"
        )
    return rows


if __name__ == "__main__":
    main()
