"""Learn the prototypes of a neutnn model (its weights file) on the training split of the digits.

``python -m hnnbio.experiments.neutnn_train models/neutnn-digits.toml [--seed 0]`` fits, for each
class, ``prototypes_per_class`` k-means centroids (scikit-learn ``KMeans``, ``n_init=10``,
``random_state=seed``) of that class's training images (grey / 16, index < 1400), and the mean
usage of every ON and OFF channel over the training split (what usage pruning compares with), and
writes the weights file the model file names. k-means stands in for the online clustering that
STDP converges to in the columns of temporal neural networks: it is not STDP. The evaluation split
(index >= 1400) is never read here.

``--select`` runs the design sweep behind the values of ``models/neutnn-digits.toml``: prototypes
fit on training images 0..1099, every combination of :data:`GRID` (and of the pruning fractions)
run in Brian2 on training images 1100..1399, one JSON line per combination.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from hnnbio.experiments.neutnn import FORMAT, GREY_MAX, read_model, weights_path


def fit_prototypes(grey: np.ndarray, labels: np.ndarray, per_class: int, seed: int = 0):
    """(10 * per_class, 64) k-means centroids in [0, 1] and their labels, class by class."""
    from sklearn.cluster import KMeans

    x = np.asarray(grey, dtype=float).reshape(len(grey), -1) / GREY_MAX
    protos, owner = [], []
    for c in range(10):
        km = KMeans(per_class, n_init=10, random_state=seed).fit(x[labels == c])
        protos.append(km.cluster_centers_)
        owner += [c] * per_class
    return np.concatenate(protos), np.asarray(owner, dtype=np.int64)


def mean_usage(grey: np.ndarray) -> np.ndarray:
    """(128,) probability that each ON (grey / 16) and OFF (1 - grey / 16) channel fires in a
    cycle, averaged over the images."""
    x = np.asarray(grey, dtype=float).reshape(len(grey), -1) / GREY_MAX
    return np.concatenate([x, 1 - x], axis=1).mean(axis=0)


#: Design values swept by ``--select`` (every combination).
GRID = {"theta_proximal": [0.8, 0.85, 0.9], "v_threshold": ["45 mV", "55 mV", "65 mV"],
        "theta_distal": [0.0, 0.9]}
N_FIT = 1100  # --select: prototypes from training images 0..1099, scored on 1100..1399


def select(path, seed: int = 0, grid: dict | None = None, steps: int | None = None,
           fractions=(0.3, 0.4, 0.5)):
    """Yield one row per design of ``grid`` (and per pruning fraction): validation accuracy,
    SOPs and somatic spikes per sample, on the training split only."""
    import dataclasses
    import itertools

    from hnnbio.data.digits import load_digits
    from hnnbio.experiments.neutnn import (
        design_from_settings,
        evaluate,
        networks_of,
    )

    model, settings, design = read_model(path)
    grid = GRID if grid is None else grid
    steps = steps or model.steps or 10 * design.cycle_steps
    grey, labels = load_digits("train")
    grey = grey.reshape(len(grey), -1).astype(float)
    protos, owner = fit_prototypes(grey[:N_FIT], labels[:N_FIT], design.prototypes_per_class,
                                   seed)
    usage = mean_usage(grey[:N_FIT])
    val, val_labels = grey[N_FIT:], labels[N_FIT:]
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        chosen = dict(zip(keys, values, strict=True))
        d = design_from_settings({**settings, **chosen})
        for fraction in (0.0, *fractions):
            dd = dataclasses.replace(d, prune_fraction=fraction)
            nets = networks_of(protos, owner, usage, dd)
            res = evaluate(nets, val, val_labels, steps, seed, variants=("pruned",))["pruned"]
            yield {**chosen, "prune_fraction": fraction, "accuracy": res["accuracy"],
                   "synapses": res["synapses"], "sops_per_sample": res["sops_per_sample"],
                   "somatic_spikes_per_sample": res["somatic_spikes_per_sample"]}


def train(path, seed: int = 0, n_images: int | None = None) -> Path:
    import torch

    from hnnbio.data.digits import load_digits

    graph, settings, design = read_model(path)
    grey, labels = load_digits("train")
    if n_images is not None:
        grey, labels = grey[:n_images], labels[:n_images]
    protos, owner = fit_prototypes(grey, labels, design.prototypes_per_class, seed)
    data = {"model": graph.name, "format": FORMAT, "seed": seed, "n_images": len(grey),
            "prototypes": torch.tensor(protos, dtype=torch.float64),
            "labels": torch.tensor(owner), "mean_usage": torch.tensor(mean_usage(grey))}
    out = weights_path(graph, settings)
    torch.save(data, out)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--select", action="store_true",
                        help="run the design sweep on the training split (writes nothing)")
    args = parser.parse_args(argv)
    if args.select:
        import json

        for row in select(args.model, args.seed):
            print(json.dumps(row), flush=True)
        return 0
    print(train(args.model, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
