"""Train a hifi model's four networks (its weights file) on the training split of the digits.

``python -m hnnbio.experiments.train_hifi models/hifi-digits.toml [--seed 0] [--epochs 40]``
trains, for the static and the temporal task, the HIFI network (per-neuron leak, self-inhibition
and threshold) and its homogeneous baseline (the same three parameters shared by the layer), each
from the same initial weights (``seed``), on the same batches in the same order: the
:class:`hnnbio.hybrid.si_twin.HifiNetwork` twin, float32, cross-entropy of the readout,
Adam, ``--epochs`` passes over the 1400 training images (index < 1400; the evaluation split is
never read here), batches of 64, learning rate ``--lr`` for the weights and ``--neuron-lr`` for
the neuron parameters, both divided by 10 for the last quarter of the epochs.

Joint, not bi-level, learning: both kinds of parameters descend the same training loss at every
step, with their own learning rate. The bi-level scheme (neuron parameters on another split or
objective) would take images away from the weights on a training split of 1400 images; the two
learning rates keep the neuron parameters, which act on every input of their neuron, from moving
faster than the weights.

``--validate`` trains on training images 0..1099 only and prints the accuracy of each network on
training images 1100..1399 after every 5 epochs (the run behind the default epochs; writes
nothing).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from hnnbio.experiments.hifi import FORMAT, TASKS, VARIANTS, read_model, task_inputs, weights_path

N_FIT = 1100
#: The defaults of the command (the shipped weights were trained with them).
EPOCHS, LR, NEURON_LR = 40, 3e-3, 3e-2


def train_network(net, x: np.ndarray, labels: np.ndarray, epochs: int, seed: int, lr: float,
                  neuron_lr: float, batch: int = 64, report=None):
    """Train ``net`` in place on inputs ``x`` (B, T, n_in); ``report(epoch, net)`` after each."""
    import torch

    neuron = [p for name, p in net.named_parameters() if name.startswith("hidden.")]
    weights = [p for name, p in net.named_parameters() if not name.startswith("hidden.")]
    opt = torch.optim.Adam([{"params": weights, "lr": lr}, {"params": neuron, "lr": neuron_lr}])
    xt = torch.tensor(x, dtype=torch.float32)
    yt = torch.tensor(labels, dtype=torch.int64)
    g = torch.Generator().manual_seed(seed)
    net.float().train()
    for epoch in range(epochs):
        if epoch == (3 * epochs) // 4:
            for group in opt.param_groups:
                group["lr"] /= 10
        order = torch.randperm(len(xt), generator=g)
        for start in range(0, len(xt), batch):
            idx = order[start:start + batch]
            out = net(xt[idx])
            loss = torch.nn.functional.cross_entropy(out["logits"], yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if report is not None:
            report(epoch + 1, net)
    net.eval()
    return net


def accuracy(net, x, labels) -> float:
    import torch

    with torch.no_grad():
        out = net.float()(torch.tensor(x, dtype=torch.float32))
    return float((out["logits"].argmax(1).numpy() == np.asarray(labels)).mean())


def train(path, seed: int = 0, epochs: int = EPOCHS, lr: float = LR, neuron_lr: float = NEURON_LR,
          n_images: int | None = None, validate: bool = False, log=print, save: bool = True):
    """Train the four networks; write the weights file (``save``) and return its path, or return
    ``{task: {variant: net}}`` (``save=False``); ``validate``: log the validation runs, return
    None."""
    import torch

    from hnnbio.data.digits import load_digits

    torch.manual_seed(seed)
    model, settings, design = read_model(path)
    grey, labels = load_digits("train")
    grey = grey.reshape(len(grey), -1).astype(np.float64)
    if n_images is not None:
        grey, labels = grey[:n_images], labels[:n_images]
    fit, fit_labels = (grey[:N_FIT], labels[:N_FIT]) if validate else (grey, labels)
    data = {"model": model.name, "format": FORMAT}
    nets = {task: {} for task in TASKS}
    record = {"seed": seed, "epochs": epochs, "lr": lr, "neuron_lr": neuron_lr, "batch": 64,
              "n_images": len(fit), "validate": validate}
    for task in TASKS:
        data[task] = {}
        x = task_inputs(task, fit, design, model.steps)
        xv = task_inputs(task, grey[N_FIT:], design, model.steps) if validate else None
        for variant in VARIANTS:
            net = design.network(task, variant == "hifi", seed=seed)
            start = time.time()

            def report(epoch, net, task=task, variant=variant, x=x, xv=xv):
                if validate and epoch % 5 == 0:
                    log(json.dumps({"task": task, "variant": variant, "epoch": epoch,
                                    "validation_accuracy": accuracy(net, xv, labels[N_FIT:]),
                                    "train_accuracy": accuracy(net, x, fit_labels)}))
                    net.train()

            train_network(net, x, fit_labels, epochs, seed, lr, neuron_lr, report=report)
            wall = time.time() - start
            acc = accuracy(net, x, fit_labels)
            record[f"{task}_{variant}"] = {"train_accuracy": acc, "wall_s": round(wall, 1)}
            log(json.dumps({"task": task, "variant": variant, "train_accuracy": acc,
                            "wall_s": round(wall, 1)}))
            data[task][variant] = {k: v.detach().clone() for k, v in net.state_dict().items()}
            nets[task][variant] = net
    data["training"] = record
    if validate:
        return None
    if not save:
        return nets
    out = weights_path(model, settings)
    torch.save(data, out)
    return out


def main(argv=None) -> int:
    import torch

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--lr", type=float, default=LR)
    parser.add_argument("--neuron-lr", type=float, default=NEURON_LR)
    parser.add_argument("--validate", action="store_true",
                        help="fit on training images 0..1099, score 1100..1399 (writes nothing)")
    args = parser.parse_args(argv)
    out = train(Path(args.model), args.seed, args.epochs, args.lr, args.neuron_lr,
                validate=args.validate)
    if out is not None:
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
