"""HIFI on the digits: the learned per-neuron parameter distributions.

Reads the shipped ``models/hifi-digits.toml`` networks (weights file ``hifi-digits.pt``, trained on
the training split by ``python -m hnnbio.experiments.train_hifi``) and plots, for the static and the
temporal task, histograms over the hidden neurons of the learned leak rate tau, self-inhibition
strength gamma and threshold theta of the HIFI network, with the value the homogeneous baseline
learned (shared by all its neurons, solid line) and the initial value of both (dashed line). No
simulation: the parameters are the ones Brian2 loads as per-neuron constants. Writes
``hifi_digits.png`` and ``hifi_digits.json`` (mean, std, min, max of each) into ``--out``.

    python analyses/hifi_digits.py --out analyses/out
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

MODEL = Path(__file__).resolve().parents[1] / "models" / "hifi-digits.toml"
PARAMETERS = (("leak", r"leak rate $\tau$"), ("w_self", r"self-inhibition $\gamma$"),
              ("v_threshold", r"threshold $\theta$"))


def measure(model=MODEL) -> dict:
    import torch

    from hnnbio.experiments.hifi import TASKS, load_networks, read_model

    graph, settings, design = read_model(model)
    nets = load_networks(graph, settings, design)
    out = {"model": graph.name, "initial": {k: settings[k] for k, _ in PARAMETERS}}
    for task in TASKS:
        with torch.no_grad():
            hifi = {k: v.numpy().tolist() for k, v in nets[task]["hifi"].hidden.values().items()}
            base = {k: float(v[0]) for k, v in nets[task]["baseline"].hidden.values().items()}
        out[task] = {"hifi": hifi, "baseline": base}
    return out


def summary(data: dict) -> dict:
    from hnnbio.experiments.hifi import TASKS

    rows = {"model": data["model"], "initial": data["initial"]}
    for task in TASKS:
        rows[task] = {}
        for key, _ in PARAMETERS:
            v = np.asarray(data[task]["hifi"][key])
            rows[task][key] = dict(mean=float(v.mean()), std=float(v.std()), min=float(v.min()),
                                   max=float(v.max()), baseline=data[task]["baseline"][key])
    return rows


def plot(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hnnbio.experiments.hifi import TASKS

    fig, axes = plt.subplots(len(TASKS), len(PARAMETERS), figsize=(12, 6.5))
    titles = {"static": "static digits", "temporal": "digits row by row"}
    for r, task in enumerate(TASKS):
        for c, (key, label) in enumerate(PARAMETERS):
            ax = axes[r, c]
            values = np.asarray(data[task]["hifi"][key])
            ax.hist(values, bins=30, color="tab:blue", alpha=0.8,
                    label=f"HIFI, per neuron (n = {values.size})")
            ax.axvline(data[task]["baseline"][key], color="tab:red", lw=2,
                       label="homogeneous baseline (shared)")
            ax.axvline(data["initial"][key], color="k", ls="--", lw=1, label="initial value")
            ax.set_xlabel(label)
            if c == 0:
                ax.set_ylabel(f"{titles[task]}\nneurons")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.suptitle(f"{data['model']}: learned neuron parameters of the hidden layer", y=0.99,
                 fontsize=11)
    fig.legend(handles, labels, loc="upper center", ncol=3, frameon=False,
               bbox_to_anchor=(0.5, 0.955))
    fig.tight_layout(rect=(0, 0, 1, 0.91))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(MODEL))
    parser.add_argument("--out", default="analyses/out", help="output folder")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = measure(args.model)
    plot(data, out / "hifi_digits.png")
    (out / "hifi_digits.json").write_text(json.dumps(summary(data), indent=1) + "\n")
    print(out / "hifi_digits.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
