"""Learn the prototypes of a neutnn model (its weights file) on the training split of the digits.

``python -m hnnbio.experiments.neutnn_train models/neutnn-digits.toml [--seed 0]`` fits, for each
class, ``prototypes_per_class`` k-means centroids (scikit-learn ``KMeans``, ``n_init=10``,
``random_state=seed``) of that class's training images (grey / 16, index < 1400), and the mean
usage of every ON and OFF channel over the training split (what usage pruning compares with), and
writes the weights file the model file names. k-means stands in for the online clustering that
STDP converges to in the columns of temporal neural networks: it is not STDP. The evaluation split
(index >= 1400) is never read here.

The design values of ``models/neutnn-digits.toml`` (levels, segment grid, theta fractions, soma
threshold) were chosen by a sweep with prototypes fit on images 0..1099 and scored on images
1100..1399 of the training split.
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
    args = parser.parse_args(argv)
    print(train(args.model, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
