"""attention-digits: accuracy and spikes of the attention model and its baseline under pepper/salt
noise, and the attention maps (Brian2 runs of the shipped weights on the evaluation split).

For each noise fraction p in 0, 0.1, 0.2, 0.3 every pixel of every evaluation image (index >= 1400)
is replaced with probability p by 0 or 16 (half each, seed 0), and both models run on the same
images in Brian2 (hnnbio.experiments.classification.evaluate). Writes ``attention_digits.png``
(accuracy vs noise, spikes per image vs noise, mean attention map per digit class at the last step)
and ``attention_digits.json`` to ``--out``.

Run: ``python analyses/attention_digits.py [--images 397] [--out analyses/out]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

NOISE = (0.0, 0.1, 0.2, 0.3)
MODEL = Path(__file__).resolve().parents[1] / "models" / "attention-digits.toml"


def measure(n_images: int | None, noise=NOISE, model=MODEL) -> dict:
    from hnnbio.data.digits import load_digits
    from hnnbio.experiments.classification import (
        check_images,
        evaluate,
        model_graphs,
        salt_pepper,
    )

    graph, baseline, settings = model_graphs(model)
    grey, labels = load_digits("eval")
    if n_images is not None:
        grey, labels = grey[:n_images], labels[:n_images]
    grey = check_images(grey, graph.node(settings["encoding"]).size)
    rows, maps = [], None
    for p in noise:
        images = salt_pepper(grey, p, seed=0) if p > 0 else grey
        row = dict(noise=p)
        for name, g in (("attention", graph), ("baseline", baseline)):
            res = evaluate(g, settings, images, labels, seed=0)
            row[name] = dict(accuracy=res["accuracy"], spikes_per_sample=res["spikes_per_sample"],
                             spikes_per_population=res["spikes_per_population"])
            if p == 0:
                row[name]["twin_correlation"] = twin_correlation(graph, settings, images, res,
                                                                 name)
            if name == "attention" and p == 0:
                last = res["attention"][:, -1]  # (images, pixels) multiplier at the last step
                maps = np.stack([last[labels == c].mean(0) if np.any(labels == c)
                                 else np.full(last.shape[1], np.nan) for c in range(10)])
        rows.append(row)
    return dict(images=int(len(labels)), rows=rows, maps=maps.tolist())


def twin_correlation(graph, settings, images, brian: dict, which: str) -> float:
    """Pearson r of the per-neuron spike counts (encoding and hidden) of the float64 PyTorch twin
    of model ``which`` and of Brian2 on the same images (``graph``: the attention graph, whose
    weights file holds both models)."""
    import torch

    from hnnbio.experiments.classification import load_weights, twin_parameters
    from hnnbio.experiments.train_classification import make_twin

    data = load_weights(graph, settings)[which]
    net = graph.node(settings["attention"]).module if which == "attention" else None
    kwargs = None if net is None else dict(
        n_features=net.layers[0].in_features, n_hidden=net.layers[0].out_features,
        n_pixels=net.layers[2].out_features)
    twin = make_twin(twin_parameters(graph, settings), kwargs, 0)
    state = dict(w_in=data["w_in"], w_out=data["w_out"], bias=data["bias"])
    if net is not None:
        state.update({f"attention.{k}": v for k, v in data["network"].items()})
    twin.load_state_dict(state)
    with torch.no_grad():
        out = twin(torch.tensor(images / 16.0, dtype=torch.float64), graph.steps)
    a = np.concatenate([out["spikes_encoding"].numpy().ravel(),
                        out["spikes_hidden"].numpy().ravel()])
    b = np.concatenate([brian["counts"][settings["encoding"]].ravel(),
                        brian["counts"][settings["hidden"]].ravel()])
    return float(np.corrcoef(a, b)[0, 1])


def plot(data: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    rows = data["rows"]
    noise = [r["noise"] for r in rows]
    fig = plt.figure(figsize=(12, 5.5))
    grid = fig.add_gridspec(4, 8)
    for row, (key, label) in enumerate((("accuracy", "accuracy"),
                                        ("spikes_per_sample", "spikes per image"))):
        ax = fig.add_subplot(grid[2 * row:2 * row + 2, 0:3])
        for name in ("attention", "baseline"):
            ax.plot(noise, [r[name][key] for r in rows], "o-", label=name)
        ax.set(xlabel="pepper/salt fraction", ylabel=label)
        ax.legend()
    maps = np.asarray(data["maps"])
    for c in range(10):
        ax = fig.add_subplot(grid[2 * (c // 5):2 * (c // 5) + 2, 3 + c % 5])
        im = ax.imshow(maps[c].reshape(8, 8), vmin=0, vmax=1, cmap="viridis")
        ax.set_title(f"digit {c}", fontsize=9)
        ax.axis("off")
    fig.colorbar(im, ax=fig.axes[-5:], fraction=0.05, label="attention")
    fig.suptitle(f"attention-digits, {data['images']} evaluation images (Brian2); maps: mean "
                 "attention multiplier at the last step")
    fig.savefig(path, dpi=100)
    plt.close(fig)


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
    (out / "attention_digits.json").write_text(json.dumps(data, indent=1))
    plot(data, out / "attention_digits.png")
    for name in ("attention", "baseline"):
        print(f"{name}: twin vs Brian2 spike-count correlation "
              f"{data['rows'][0][name]['twin_correlation']:.6f}")
    for r in data["rows"]:
        print(f"noise {r['noise']:.1f}: attention acc {r['attention']['accuracy']:.4f} spikes "
              f"{r['attention']['spikes_per_sample']:.1f} | baseline acc "
              f"{r['baseline']['accuracy']:.4f} spikes {r['baseline']['spikes_per_sample']:.1f}")
    print(f"wrote {out / 'attention_digits.png'} ({data['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
