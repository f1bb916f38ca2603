"""modulation-continual: the accuracy of every task after the last one was learned, for the gated
model and its baseline (Brian2 runs of the shipped weights on the evaluation split), and the
accuracy of task 1 as the later tasks are learned.

Final accuracies: every evaluation image (index >= 1400) under each of the 10 tasks, both models
in Brian2 (hnnbio.experiments.continual.evaluate), as ``hnnbio run`` measures them. Task 1 over
the sequence: the weights file keeps each model's weights after each task (``snapshots``); task
1's evaluation images run on the float64 PyTorch twin of those weights (the twin's spike counts
equal Brian2's, checked here on the final weights: Pearson r and agreement of predictions are
printed). Writes ``modulation_continual.png`` and ``modulation_continual.json`` to ``--out``.

Run: ``python analyses/modulation_continual.py [--images 397] [--out analyses/out]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

MODEL = Path(__file__).resolve().parents[1] / "models" / "modulation-continual.toml"
WHICH = (("modulated", "gated (HNN)", True), ("baseline", "baseline (SNN alone)", False))


def measure(n_images: int | None, model=MODEL) -> dict:
    from hnnbio.data.digits import load_digits
    from hnnbio.experiments import continual as c

    graph, baseline, settings = c.model_graphs(model)
    data = c.load_weights(graph, settings)
    grey, labels = load_digits("eval")
    if n_images is not None:
        grey, labels = grey[:n_images], labels[:n_images]
    grey = c.check_images(grey, graph.node(settings["encoding"]).size)
    perms = c.permutations(settings["tasks"], grey.shape[1], settings["permutation_seed"])
    x, tasks = c.task_samples(grey, perms)
    y = np.tile(labels, len(perms))
    out = dict(images=int(len(labels)), tasks=settings["tasks"])
    for (which, _, gated), g in zip(WHICH, (graph, baseline), strict=True):
        res = c.evaluate(g, settings, x, tasks, y, seed=0)
        twin = c.twin_counts(graph, settings, data[which], x, tasks, gated)
        a = np.concatenate([twin["counts"][k].ravel() for k in ("enc", "hid")])
        b = np.concatenate([res["counts"][k].ravel() for k in ("enc", "hid")])
        task1 = []
        first = tasks == 0
        for snap in data[which]["snapshots"]:
            entry = dict(data[which], w_in=snap["w_in"], w_out=snap["w_out"])
            p = c.twin_counts(graph, settings, entry, x[first], tasks[first], gated)
            task1.append(float(np.mean(p["predictions"] == y[first])))
        out[which] = dict(per_task_accuracy=res["per_task_accuracy"],
                          mean_accuracy=res["mean_accuracy"],
                          spikes_per_sample=res["spikes_per_sample"],
                          task1_after_each_task=task1,
                          twin_correlation=float(np.corrcoef(a, b)[0, 1]),
                          twin_prediction_agreement=float(np.mean(
                              twin["predictions"] == res["predictions"])))
    return out


def plot(data: dict, path: Path | None = None):
    """The figure; saved to ``path`` (and closed) when given, else returned."""
    import matplotlib.pyplot as plt

    n = data["tasks"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    k = np.arange(1, n + 1)
    for i, (which, label, _) in enumerate(WHICH):
        r = data[which]
        left.bar(k + (i - 0.5) * 0.4, r["per_task_accuracy"], width=0.4,
                 label=f"{label}: mean {r['mean_accuracy']:.3f}")
        right.plot(k, r["task1_after_each_task"], "o-", label=label)
    left.axhline(0.1, color="grey", lw=0.8, ls=":", label="chance")
    left.set(xlabel="task", ylabel="accuracy after the last task", xticks=k, ylim=(0, 1.18),
             title=f"every task after task {n} (Brian2, {data['images']} eval images each)")
    left.legend(loc="upper center", fontsize=8, ncol=3)
    right.axhline(0.1, color="grey", lw=0.8, ls=":")
    right.set(xlabel="tasks learned", ylabel="accuracy of task 1", xticks=k, ylim=(0, 1),
              title="task 1 as later tasks are learned (twin of each snapshot)")
    right.legend(fontsize=8)
    fig.suptitle("modulation-continual: permuted digits learned one task after the other, "
                 "no replay")
    fig.tight_layout()
    if path is None:
        return fig
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=None, help="first N evaluation images")
    parser.add_argument("--out", default="analyses/out", help="output folder")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    data = measure(args.images)
    data["seconds"] = round(time.time() - start, 1)
    (out / "modulation_continual.json").write_text(json.dumps(data, indent=1))
    plot(data, out / "modulation_continual.png")
    for which, label, _ in WHICH:
        r = data[which]
        print(f"{label}: mean accuracy {r['mean_accuracy']:.4f}, per task "
              f"{np.round(r['per_task_accuracy'], 3).tolist()}; task 1 over the sequence "
              f"{np.round(r['task1_after_each_task'], 3).tolist()}; twin vs Brian2 r "
              f"{r['twin_correlation']:.6f}, predictions agree "
              f"{r['twin_prediction_agreement']:.4f}")
    print(f"wrote {out / 'modulation_continual.png'} ({data['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
