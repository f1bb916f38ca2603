"""HIFI on the digits: the learned per-neuron parameter distributions.

Reads the shipped ``models/hifi-digits.toml`` networks (weights file ``hifi-digits.pt``, trained on
the training split by ``python -m hnnbio.experiments.train_hifi``) and plots, for the static and the
temporal task, histograms over the hidden neurons of the learned leak rate tau, self-inhibition
strength gamma and threshold theta of the HIFI network, with the value the homogeneous baseline
learned (shared by all its neurons, solid line) and the initial value of both (dashed line). No
simulation: the parameters are the ones Brian2 loads as per-neuron constants. Writes
``hifi_digits.png`` and ``hifi_digits.json`` (mean, std, min, max of each) into ``--out``.

Also (the twin, float64, which gives Brian2's spikes: ``brian2_torch_spike_correlation`` 1.0 and
the same predictions in ``hnnbio run``): ``hifi_latency.png``, the static task's evaluation
accuracy of both shipped networks against the number of steps the image is held (1..16), and with
``--seeds 0 1 2`` the evaluation accuracy of both networks of both tasks retrained from each seed
by the trainer's defaults (training split only; ``seeds`` in the JSON, about 30 s a seed), and with
``--ablation`` the temporal task's evaluation accuracy when only one of the three parameters is
learned per neuron (the others shared), seed 0, the trainer's defaults (``ablation``, ~25 s).

    python analyses/hifi_digits.py --out analyses/out [--seeds 0 1 2] [--ablation]
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


LATENCY_STEPS = (1, 2, 3, 4, 6, 8, 12, 16)


def eval_accuracy(net, task, design, steps, grey, labels) -> float:
    from hnnbio.experiments.hifi import task_inputs, twin_run

    x = task_inputs(task, grey, design, steps)
    return float(np.mean(twin_run(net, x)["logits"].argmax(1) == labels))


def latency(model=MODEL, steps=LATENCY_STEPS) -> dict:
    """Static task: evaluation accuracy of the shipped HIFI and baseline networks per run length."""
    from hnnbio.data.digits import load_digits
    from hnnbio.experiments.hifi import VARIANTS, load_networks, read_model

    graph, settings, design = read_model(model)
    nets = load_networks(graph, settings, design)
    grey, labels = load_digits("eval")
    grey = grey.reshape(len(grey), -1)
    return {"steps": list(steps),
            **{v: [eval_accuracy(nets["static"][v], "static", design, t, grey, labels)
                   for t in steps] for v in VARIANTS}}


def seeds(model=MODEL, seed_list=(0, 1, 2)) -> dict:
    """Evaluation accuracy of both networks of both tasks, retrained from each seed."""
    import torch

    from hnnbio.data.digits import load_digits
    from hnnbio.experiments.hifi import TASKS, VARIANTS, read_model
    from hnnbio.experiments.train_hifi import train

    graph, settings, design = read_model(model)
    grey, labels = load_digits("eval")
    grey = grey.reshape(len(grey), -1)
    out = {}
    for seed in seed_list:
        nets = train(model, seed=seed, log=lambda line: None, save=False)
        out[str(seed)] = {task: {v: eval_accuracy(nets[task][v].double(), task, design,
                                                  graph.steps, grey, labels)
                                 for v in VARIANTS} for task in TASKS}
        torch.manual_seed(0)
    return out


def ablation(model=MODEL, seed: int = 0) -> dict:
    """Temporal task: evaluation accuracy with one parameter per neuron, the others shared."""
    from hnnbio.data.digits import load_digits
    from hnnbio.experiments.hifi import read_model, task_inputs
    from hnnbio.experiments.train_hifi import EPOCHS, LR, NEURON_LR, train_network
    from hnnbio.hybrid.si_twin import NEURON_PARAMETERS

    graph, settings, design = read_model(model)
    train_grey, train_labels = load_digits("train")
    x = task_inputs("temporal", train_grey.reshape(len(train_grey), -1), design, graph.steps)
    grey, labels = load_digits("eval")
    grey = grey.reshape(len(grey), -1)
    out = {}
    for name in NEURON_PARAMETERS:
        net = design.network("temporal", (name,), seed=seed)
        train_network(net, x, train_labels, EPOCHS, seed, LR, NEURON_LR)
        out[f"only_{name}_per_neuron"] = eval_accuracy(net.double(), "temporal", design,
                                                       graph.steps, grey, labels)
    return out


def plot_latency(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot(data["steps"], data["hifi"], "o-", label="HIFI (per-neuron parameters)")
    ax.plot(data["steps"], data["baseline"], "s--", color="tab:red",
            label="homogeneous baseline")
    ax.axvline(8, color="0.6", lw=1, ls=":")
    ax.text(8.2, min(data["baseline"] + data["hifi"]), "trained at 8 steps", fontsize=8,
            color="0.4")
    ax.set_xlabel("steps the image is held")
    ax.set_ylabel("evaluation accuracy (397 digits)")
    ax.set_title("hifi-digits, static task: accuracy against latency", fontsize=10)
    ax.legend(loc="center right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


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
    parser.add_argument("--seeds", type=int, nargs="*", default=[],
                        help="retrain from these seeds and score them (about 30 s each)")
    parser.add_argument("--ablation", action="store_true",
                        help="temporal task with one parameter per neuron at a time (~25 s)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = measure(args.model)
    plot(data, out / "hifi_digits.png")
    rows = summary(data)
    rows["latency"] = latency(args.model)
    plot_latency(rows["latency"], out / "hifi_latency.png")
    if args.seeds:
        rows["seeds"] = seeds(args.model, args.seeds)
    if args.ablation:
        rows["ablation"] = ablation(args.model)
    (out / "hifi_digits.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(out / "hifi_digits.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
