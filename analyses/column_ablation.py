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

With ``--family microcircuit`` (``models/<name>-microcircuit.toml``: 4 chains per column, inputs
at probability 0.8, a 2-of-4 coincidence within 2 steps) the variants are ``full``,
``no_self_inhibition``, ``weak_attention`` as above and

- ``relay_coincidence``: ``up_inputs = 1``, the coincidence detector relays any chain's spike;
- ``certain_input``: ``input_probability = 1``, no stochastic input;
- ``one_chain``: ``chains = 1`` with ``up_inputs = 1`` (one chain cannot make a coincidence of 2);
- ``no_plateau`` / ``no_interneurons``: the NMDA-like plateau dendrite (``plateau_threshold =
  0``) or the column's interneuron (``inhibition_steps = 0``) removed, when the shipped file has
  it (the shipped ``*-microcircuit`` files have both; the loop keeps their start from full
  attention); when it does not, the variant adds it instead and is named ``plateau``
  (``plateau_threshold = 0.07``, ``plateau_steps = 0``, and the loop started from ``initial =
  "ones"``: the plateau gates out the first cycle's random soft assignment, about 1/D per slot,
  and the loop would never start) or ``interneurons`` (``inhibition_steps = 1``,
  ``interneuron_inputs = 3``: an interneuron firing when 3 of the 4 chains relay in one step
  silences them for a step; measured on 32 Shapes images, seed 0: AMI 0.768 with s = 3 and
  k = 1, 0.758 with s = 6 and k = 2, 0.822 with s = 1 and k = 1, 0.916 with s = 1 and k = 3,
  0.959 without; the plateau: 0.876 at c_on = 0.15, 0.899 at 0.1; with the interneurons, 64
  Corners images: 0.899 without the plateau, 0.847 at c_on 0.1 and plateau_steps 1, 0.878 at
  0.07 and 1, 0.882 at 0.07 and 0.5, 0.889 at 0.07 and 0, 0.885 at 0.08 and 0).

``--variants`` runs only the named ones (``full`` always first).

Printed and written (``column_ablation.json``, ``column_ablation.png``): AMI, ARI-FG and mean
spikes per pixel per step of each variant.

    python analyses/column_ablation.py --models bars --images 64 --out analyses/out
    python analyses/column_ablation.py --family microcircuit --models bars,shapes,corners
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

MODELS = Path(__file__).resolve().parents[1] / "models"


#: The elements a microcircuit variant adds when the shipped file lacks them.
ADDED_PLATEAU = {"plateau_threshold": 0.07, "plateau_steps": 0.0}
ADDED_INTERNEURONS = {"inhibition_steps": 1, "interneuron_inputs": 3}


def variants(params: dict) -> dict:
    """Variant name -> the sheet parameters that change (a function of the shipped ones)."""
    if int(params.get("chains", 1)) > 1:
        found = {
            "full": {},
            "no_self_inhibition": {"refractory_steps": 0},
            "relay_coincidence": {"up_inputs": 1},
            "certain_input": {"input_probability": 1.0},
            "one_chain": {"chains": 1, "up_inputs": 1, "interneuron_inputs": 1},
            "weak_attention": {"attention_gain": float(params.get("attention_gain", 20.0)) / 10},
        }
        if float(params.get("plateau_threshold", 0)) > 0:
            found["no_plateau"] = {"plateau_threshold": 0.0}
        else:
            found["plateau"] = dict(ADDED_PLATEAU)
        if int(params.get("inhibition_steps", 0)) > 0:
            found["no_interneurons"] = {"inhibition_steps": 0}
        else:
            found["interneurons"] = dict(ADDED_INTERNEURONS)
        return found
    return {
        "full": {},
        "no_self_inhibition": {"refractory_steps": 0},
        "output_pyramidal": {"output": "pyramidal"},
        "input_p0.5": {"input_probability": 0.5},
        "weak_attention": {"attention_gain": float(params.get("attention_gain", 20.0)) / 10},
    }


def variant_spec(spec, change: dict):
    """The spec of a variant: its sheet parameters changed; a variant that adds the plateau to a
    loop started from the soft assignment starts it from ``initial = "ones"`` instead."""
    from hnnbio.binding.spec import _from_raw

    s = spec.replace(sheet_params={**spec.sheet_params, **change})
    unit = s.raw["units"][s.attention_name]
    if float(change.get("plateau_threshold", 0)) > 0 and unit.get("initial") == "soft_assignment":
        raw = s.to_dict()
        raw["units"][s.attention_name]["initial"] = "ones"
        s = _from_raw(raw, s.path)
    return s


def measure(name: str, n_images: int, seed: int = 0, family: str = "column",
            only: list | None = None) -> dict:
    from hnnbio.binding.bind import bind
    from hnnbio.binding.spec import load_spec
    from hnnbio.data import datasets

    spec = load_spec(MODELS / f"{name}-{family}.toml")
    images, truth = datasets.generate(spec.dataset, n_images, seed)  # as analyses/table1.py
    rows = {}
    for variant, change in variants(spec.sheet_params).items():
        if only is not None and variant != "full" and variant not in only:
            continue
        start = time.time()
        s = variant_spec(spec, change)
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
        ax.set(xlim=(0, 1.1), xlabel="AMI", title=f"{name}-{data.get('family', 'column')}, "
               f"{data['images']} held-out images")
        ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="bars", help="comma-separated: bars,shapes,corners")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--family", default="column", choices=("column", "microcircuit"),
                        help="models/<name>-<family>.toml")
    parser.add_argument("--variants", default=None,
                        help="comma-separated variants to run besides full (default: all)")
    parser.add_argument("--out", default="analyses/out")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    only = args.variants.split(",") if args.variants else None
    data = dict(images=args.images, seed=args.seed, family=args.family,
                models={m: measure(m, args.images, args.seed, args.family, only)
                        for m in args.models.split(",")})
    stem = "column_ablation" if args.family == "column" else f"{args.family}_ablation"
    if only is not None:
        stem += "_" + "_".join(only)
    (out / f"{stem}.json").write_text(json.dumps(data, indent=1))
    plot(data, out / f"{stem}.png")
    print(f"wrote {out / stem}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
