"""What each element of the cortical column does: binding AMI with one element removed.

The column sheet (:mod:`hnnbio.circuits.column`) chains a stochastic input unit, a pyramidal neuron
whose distal (apical) compartment takes the top-down attention, a self-inhibiting neuron (autapse
refractoriness) and an upward coincidence detector. Each variant changes one parameter of the
shipped ``models/<name>-column.toml`` (``ModelSpec.replace(sheet_params=...)``) and binds the same
held-out images with the same seed:

- ``full``: the shipped model;
- ``no_self_inhibition``: ``refractory_steps = 0``, no autapse, so no refractoriness;
- ``output_pyramidal``: the sheet's output is the pyramidal spikes (the self-inhibiting and
  coincidence stages bypassed: no refractoriness and one step less latency);
- ``input_p0.5``: the input unit of a foreground pixel fires with probability 0.5 per step
  instead of 1 (a stochastic drive);
- ``weak_attention``: ``attention_gain`` / 10, the distal gain's ceiling g_max lowered tenfold
  (top-down attention opens the soma far less).

Printed and written (``column_ablation.json``, ``column_ablation.png``): AMI, ARI-FG and mean
spikes per pixel per step of each variant.

    python analyses/column_ablation.py --models bars --images 64 --out analyses/out
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

MODELS = Path(__file__).resolve().parents[1] / "models"


def variants(params: dict) -> dict:
    """Variant name -> the sheet parameters that change (a function of the shipped ones)."""
    return {
        "full": {},
        "no_self_inhibition": {"refractory_steps": 0},
        "output_pyramidal": {"output": "pyramidal"},
        "input_p0.5": {"input_probability": 0.5},
        "weak_attention": {"attention_gain": float(params.get("attention_gain", 20.0)) / 10},
    }


def measure(name: str, n_images: int, seed: int = 0) -> dict:
    from hnnbio.binding.bind import bind
    from hnnbio.binding.spec import load_spec
    from hnnbio.data import datasets

    spec = load_spec(MODELS / f"{name}-column.toml")
    images, truth = datasets.generate(spec.dataset, n_images, seed)  # as analyses/table1.py
    rows = {}
    for variant, change in variants(spec.sheet_params).items():
        start = time.time()
        s = spec.replace(sheet_params={**spec.sheet_params, **change})
        res = bind(images, s, seed=seed, truth=truth, scores=("ami", "ari_fg"))
        steps = s.steps_per_cycle * int(s.loop["cycles"])
        rows[variant] = dict(change=change, ami=float(np.mean(res.metrics["ami"])),
                             ari_fg=float(np.mean(res.metrics["ari_fg"])),
                             spikes_per_pixel_step=len(res.spike_image) / images[0].size
                             / n_images / steps,
                             seconds=round(time.time() - start, 1))
        print(f"{name} {variant:20s} AMI {rows[variant]['ami']:.4f}  ARI-FG "
              f"{rows[variant]['ari_fg']:.4f}  spikes/pixel/step "
              f"{rows[variant]['spikes_per_pixel_step']:.4f}  ({rows[variant]['seconds']} s)",
              flush=True)
    return rows


def plot(data: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    models = list(data["models"])
    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 3.8), squeeze=False)
    for ax, name in zip(axes[0], models, strict=True):
        rows = data["models"][name]
        names = list(rows)
        ax.barh(names, [rows[v]["ami"] for v in names], color="tab:blue")
        for i, v in enumerate(names):
            ax.text(rows[v]["ami"] + 0.01, i, f"{rows[v]['ami']:.3f}", va="center", fontsize=8)
        ax.set(xlim=(0, 1.1), xlabel="AMI", title=f"{name}-column, {data['images']} held-out "
               "images")
        ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="bars", help="comma-separated: bars,shapes,corners")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="analyses/out")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = dict(images=args.images, seed=args.seed,
                models={m: measure(m, args.images, args.seed) for m in args.models.split(",")})
    (out / "column_ablation.json").write_text(json.dumps(data, indent=1))
    plot(data, out / "column_ablation.png")
    print(f"wrote {out / 'column_ablation.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
