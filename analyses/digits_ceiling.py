"""What the digits split allows: non-spiking classifiers on the same training and evaluation images.

The classification models of issue 11 (attention-digits) and 12 (hifi-, neutnn-digits) train on
scikit-learn's digits with index < 1400 and evaluate on index >= 1400 (other writers). This
script measures, on exactly that split, how far non-spiking classifiers get, as a reference for
the spiking models' accuracies (nothing here is a spiking model, nothing is tuned on the
evaluation split):

- nearest neighbours (k = 1, 3, Euclidean, grey / 16), an RBF support-vector machine (gamma 0.25,
  C 10: scikit-learn's digits example scaled to grey / 16), logistic regression: fit on all 1400
  training images;
- the float, non-spiking network of attention-digits' architecture (a 3 x 3 convolution of 32
  channels, ReLU, a linear readout of the 2048 features): PyTorch, Adam (lr 1e-3), cosine
  schedule, 60 epochs of batches of 64, trained on images 0..1199 with the shipped augmentation
  (``hnnbio.experiments.train_classification.augmented``: affine maps, pepper/salt noise up to
  0.3 on half of each batch), the epoch of best accuracy on images 1200..1399 kept, one run per
  seed;
- a deeper float network trained the same way, with and without the pepper/salt noise: two 3 x 3
  convolutions (32 and 64 channels, ReLU), 2 x 2 max pooling, a dense layer of 128 (ReLU,
  dropout 0.3), a linear readout; and the mean of its three seeds' softmax outputs (an
  ensemble). It shows what a float network of more depth than attention-digits' gets here.

    python analyses/digits_ceiling.py --out analyses/out [--seeds 0 1 2]

Writes ``digits_ceiling.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

N_FIT = 1200


def classical(x_train, y_train, x_eval, y_eval) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC

    models = {"nearest_neighbour_k1": KNeighborsClassifier(1),
              "nearest_neighbours_k3": KNeighborsClassifier(3),
              "svm_rbf": SVC(gamma=0.25, C=10.0),
              "logistic_regression": LogisticRegression(max_iter=3000)}
    return {name: float(np.mean(m.fit(x_train, y_train).predict(x_eval) == y_eval))
            for name, m in models.items()}


def network(architecture: str):
    from torch import nn

    if architecture == "shipped":  # attention-digits' encoding -> hidden -> readout, in float
        return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 32, 3, padding=1),
                             nn.ReLU(), nn.Flatten(), nn.Linear(2048, 10))
    return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 16, 128), nn.ReLU(), nn.Dropout(0.3),
                         nn.Linear(128, 10))


def float_conv(grey_train, y_train, grey_eval, y_eval, seed: int, epochs: int = 60,
               architecture: str = "shipped", noise: float = 0.3) -> dict:
    import torch
    from torch import nn

    from hnnbio.experiments.train_classification import augmented

    torch.manual_seed(seed)
    net = network(architecture)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    x = torch.tensor(grey_train, dtype=torch.float32)
    y = torch.tensor(y_train)
    xv, yv = x[N_FIT:] / 16, y[N_FIT:]
    xe = torch.tensor(grey_eval, dtype=torch.float32) / 16
    best, state = -1.0, None
    for _ in range(epochs):
        net.train()
        order = torch.randperm(N_FIT, generator=gen)
        for start in range(0, N_FIT, 64):
            batch = order[start:start + 64]
            xb = augmented(x[batch], gen, augment="affine", noise=noise) / 16
            loss = nn.functional.cross_entropy(net(xb), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
        schedule.step()
        net.eval()
        with torch.no_grad():
            val = float((net(xv).argmax(1) == yv).float().mean())
        if val >= best:
            best, state = val, {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(state)
    net.eval()
    with torch.no_grad():
        probabilities = net(xe).softmax(1)
    accuracy = float((probabilities.argmax(1) == torch.tensor(y_eval)).float().mean())
    return {"seed": seed, "validation": best, "accuracy": accuracy,
            "probabilities": probabilities.numpy()}


def runs(grey_train, y_train, grey_eval, y_eval, seeds, **kwargs) -> dict:
    """One run per seed, their mean and the accuracy of their mean softmax output."""
    out = [float_conv(grey_train, y_train, grey_eval, y_eval, s, **kwargs) for s in seeds]
    ensemble = np.mean([r.pop("probabilities") for r in out], axis=0).argmax(1)
    return {"runs": out, "mean": float(np.mean([r["accuracy"] for r in out])),
            "ensemble": float(np.mean(ensemble == y_eval))}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("analyses/out"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    import torch

    from hnnbio.data.digits import load_digits

    torch.set_num_threads(1)
    grey_train, y_train = load_digits("train")
    grey_eval, y_eval = load_digits("eval")
    grey_train = grey_train.reshape(len(grey_train), -1).astype(float)
    grey_eval = grey_eval.reshape(len(grey_eval), -1).astype(float)
    data = (grey_train, y_train, grey_eval, y_eval)
    result = {"split": {"train": len(y_train), "eval": len(y_eval)},
              "classical": classical(grey_train / 16, y_train, grey_eval / 16, y_eval),
              "float_conv": runs(*data, args.seeds),
              "float_deep_conv": runs(*data, args.seeds, architecture="deep"),
              "float_deep_conv_no_noise": runs(*data, args.seeds, architecture="deep",
                                               noise=0.0)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "digits_ceiling.json").write_text(json.dumps(result, indent=1))
    for name, value in result["classical"].items():
        print(f"{name:26s} {value:.4f}")
    for key in ("float_conv", "float_deep_conv", "float_deep_conv_no_noise"):
        accuracies = " ".join(f"{r['accuracy']:.4f}" for r in result[key]["runs"])
        print(f"{key:26s} seeds {accuracies}; mean {result[key]['mean']:.4f}, ensemble "
              f"{result[key]['ensemble']:.4f}")
    return result


if __name__ == "__main__":
    main()
