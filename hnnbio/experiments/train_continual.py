"""Train a continual model (the gated SNN and its task encoder) and its baseline on the twin.

``python -m hnnbio.experiments.train_continual models/modulation-continual.toml`` learns the
model file's tasks one after the other, for the modulated model and for the baseline the same way
(same initial SNN weights, data order, augmentation, loss, optimiser, epochs, selection), and
writes the weights file the model file names (default seed 0: the same file every time).

- Data: scikit-learn's digits, training split only (index < 1400): images 0..1199 train, images
  1200..1399 validate (model selection, on the current task only); the evaluation split
  (index >= 1400) is never read here. Task ``k`` is every image with its pixels in task ``k``'s
  order (:func:`hnnbio.experiments.continual.permutations`).
- Sequential, no replay: while task ``k`` is learned only task ``k``'s images are seen, by both
  models; nothing of an earlier task's data is kept.
- Augmentation: each training image shifted by -1, 0 or +1 pixel per axis (zero fill) before it
  is permuted.
- Loss: cross-entropy of the readout ``v`` (mV); Adam (restarted for each task), ``epochs`` epochs
  of batches of 64 per task; the kept weights of a task are those of the epoch with the best
  validation accuracy on that task. The readout bias stays 0 (a weight every task would share).

The gates are learned per task, as the modulation network of the HU paper learns a task's modulation
signal and as hard attention to the task (HAT; Serra et al., ICML 2018) learns a task embedding: the
task encoder's embedding ``e_k`` gives the gates ``sigmoid(s e_k)``, ``s`` annealed over each epoch
from ``1 / s_max`` to ``s_max`` (the encoder's ``scale``) so that the gates end near 0 or 1 (an
optional sparsity cost ``c * sum(g (1 - a)) / sum(1 - a)`` on the gates of neurons no earlier task
uses, ``a`` the largest gate of the earlier tasks; default ``c = 0``, as the blocks below already
bound the new neurons of a task). Capacity is shared out: task ``k`` starts with its gates open
(``e = +1``) on a block of ``n_hidden // tasks`` neurons no earlier task uses (the next ones of a
permutation drawn from the seed) and closed (``e = -1``) elsewhere, and it may learn to open any
neuron of an earlier task (reuse) or of its block, never one of a later task's reserve (HAT's random
start opened half of the neurons for task 1 and left later tasks none: tried, mean validation
accuracy 0.34). After a task its embedding is moved to at least ``MARGIN / s_max`` from 0
(:func:`run_embedding`; the validation that selects the epoch uses these gates), so its gates are 0
or 1 to float32 precision and the protection below is exact. Why per task and not a shared,
meta-learned encoder: with no replay an encoder trained on task ``k`` alone would move the gates of
tasks ``< k`` too; a per-task embedding keeps each task's sub-network fixed once learned. The gates
also protect the weights: the gradient of every weight into or out of hidden neuron ``j`` is
multiplied by ``1 - a_j``, so what an earlier task relies on (``a_j ~ 1``) is frozen while a new
task may still read it. The baseline has no gates, hence no such protection: it is the SNN alone,
fine-tuned task after task.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

from hnnbio.experiments.classification import GREY_MAX
from hnnbio.experiments.continual import (
    FORMAT,
    GatedTwin,
    experiment_settings,
    permutations,
    twin_parameters,
    weight_sizes,
)
from hnnbio.experiments.train_classification import shifted

N_FIT = 1200  # training images 0..1199; 1200..1399 are the validation part of the split
BATCH = 64
EMBEDDING_CLAMP = 6.0  # |e| bound (HAT): sigmoid(s_max * 6) is 1 to float precision
EMBEDDING_LR_SCALE = 10.0  # the embedding (|e| ~ 1) learns 10 times faster than w_out
MARGIN = 120.0  # after a task |s_max e| >= 120: sigmoid is exactly 0 or 1 in float32


def make_twin(params: dict, seed: int) -> GatedTwin:
    torch.manual_seed(seed)
    return GatedTwin(params["encoding"], params["hidden"], params["n_out"], params["dt_ms"],
                     params["v_drive_mv"])


def run_embedding(e: torch.Tensor, s_max: float) -> torch.Tensor:
    """``e`` moved to at least ``MARGIN / s_max`` from 0 (its sign kept, 0 counted as closed):
    the embedding a learned task keeps, whose gates ``sigmoid(s_max e)`` are exactly 0 or 1 in
    float32."""
    sign = torch.where(e > 0, 1.0, -1.0)
    return sign * e.abs().clamp_min(MARGIN / s_max)


def task_gates(embedding, task: int, s_max: float) -> torch.Tensor:
    """(1, n_hidden) run-time gates of ``task`` (its embedding as it will be kept)."""
    return torch.sigmoid(s_max * run_embedding(embedding.weight[:, task].detach(), s_max))[None]


def _accuracy(twin, x, y, steps, gates) -> float:
    with torch.no_grad():
        out = twin(x, steps, gates)
    return float((out["logits"].argmax(1) == y).float().mean())


def learn_task(twin, embedding, task: int, x, y, xv, yv, perm, steps: int, epochs: int,
               lr: float, s_max: float, sparsity: float, used, gen, allowed=None,
               log=print) -> dict:
    """Learn one task (``embedding`` None: the baseline, no gates); returns its summary."""
    p = torch.as_tensor(perm)
    params = [dict(params=[twin.w_in], lr=lr * twin.hidden.v_threshold_mv),
              dict(params=[twin.w_out], lr=lr)]
    if embedding is not None:
        params.append(dict(params=[embedding.weight], lr=lr * EMBEDDING_LR_SCALE))
    opt = torch.optim.Adam(params)
    free = None if used is None else 1.0 - used
    n_batches = (len(x) + BATCH - 1) // BATCH
    best = None
    xv_task = xv[:, p]
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for b, i in enumerate(range(0, len(x), BATCH)):
            idx = order[i:i + BATCH]
            xb = shifted(x[idx], gen)[:, p]
            gates, s = None, None
            if embedding is not None:
                s = 1.0 / s_max + (s_max - 1.0 / s_max) * b / max(n_batches - 1, 1)
                gates = torch.sigmoid(s * embedding.weight[:, task])[None, :]
            out = twin(xb, steps, gates)
            loss = torch.nn.functional.cross_entropy(out["logits"], y[idx])
            if gates is not None:
                g = gates[0]
                loss = loss + sparsity * (g * free).sum() / free.sum().clamp_min(1e-6)
            opt.zero_grad()
            loss.backward()
            if embedding is not None:
                twin.w_in.grad *= free[None, :]
                twin.w_out.grad *= free[:, None]
                e = embedding.weight.data[:, task]
                num = torch.cosh(torch.clamp(s * e, -50.0, 50.0)) + 1.0
                den = torch.cosh(e) + 1.0  # HAT's compensation of the annealed slope
                embedding.weight.grad[:, task] *= s_max / s * num / den * allowed
            opt.step()
            if embedding is not None:
                embedding.weight.data.clamp_(-EMBEDDING_CLAMP, EMBEDDING_CLAMP)
        gates = None if embedding is None else task_gates(embedding, task, s_max)
        acc = _accuracy(twin, xv_task, yv, steps, gates)
        if best is None or acc > best[0]:
            state = copy.deepcopy(twin.state_dict())
            emb = None if embedding is None else embedding.weight.detach().clone()
            best = (acc, epoch, state, emb)
    twin.load_state_dict(best[2])
    if embedding is not None:
        embedding.weight.data.copy_(best[3])
        embedding.weight.data[:, task] = run_embedding(embedding.weight.data[:, task], s_max)
    summary = dict(task=task + 1, val_accuracy=best[0], best_epoch=best[1])
    if embedding is not None:
        gate = torch.sigmoid(s_max * embedding.weight[:, task]).detach()
        summary["active_neurons"] = int((gate > 0.5).sum())
        summary["new_neurons"] = int(((gate > 0.5) & (used <= 0.5)).sum())
    log(f"  task {task + 1}: {summary}")
    return summary


def train(model_path, epochs: int = 15, seed: int = 0, lr: float = 5e-3,
          sparsity: float = 0.0, out=None, reuse: bool = True, log=print) -> dict:
    """Train both models of ``model_path`` on its task sequence; write and return the weights.

    ``reuse``: a task may open neurons of earlier tasks (else only its own block)."""
    from hnnbio.data.digits import load_digits
    from hnnbio.hnn.files import load_hnn

    torch.set_num_threads(1)
    graph = load_hnn(model_path)
    settings = experiment_settings(graph)
    params = twin_parameters(graph, settings)
    steps, n_tasks = graph.steps, settings["tasks"]
    encoder = graph.node(settings["encoder"]).module
    s_max = encoder.scale
    n_pixels = params["encoding"].size
    perms = permutations(n_tasks, n_pixels, settings["permutation_seed"])
    grey, labels = load_digits("train")
    x_all = torch.tensor(grey.reshape(len(grey), -1) / GREY_MAX, dtype=torch.float32)
    y_all = torch.tensor(labels)
    x, y, xv, yv = x_all[:N_FIT], y_all[:N_FIT], x_all[N_FIT:], y_all[N_FIT:]
    data = dict(model=graph.name, format=FORMAT, sizes=weight_sizes(graph, settings),
                permutations=torch.as_tensor(perms))
    data["training"] = dict(epochs_per_task=epochs, seed=seed, lr=lr, sparsity=sparsity,
                            batch=BATCH, fit_images=N_FIT, validation_images=len(xv),
                            steps=steps, s_max=s_max, tasks=n_tasks, reuse=reuse,
                            augmentation="shift -1..1 px per axis, then permute")
    for which in ("baseline", "modulated"):
        start = time.time()
        twin = make_twin(params, seed)
        torch.manual_seed(seed + 1)
        embedding = copy.deepcopy(encoder.embedding) if which == "modulated" else None
        used = torch.zeros(params["hidden"].size) if embedding is not None else None
        gen = torch.Generator().manual_seed(seed)
        reserve = torch.randperm(params["hidden"].size, generator=torch.Generator().manual_seed(
            seed))
        block = params["hidden"].size // n_tasks
        log(f"training {which}")
        summaries, snapshots, val_matrix = [], [], []
        for task in range(n_tasks):
            allowed = None
            if embedding is not None:  # open a block of unused neurons, close the rest
                fresh = reserve[used[reserve] <= 0.5]
                allowed = (used > 0.5).float() if reuse else torch.zeros_like(used)
                allowed[fresh[:block]] = 1.0
                with torch.no_grad():
                    embedding.weight[:, task] = -1.0
                    embedding.weight[fresh[:block], task] = 1.0
            summaries.append(learn_task(twin, embedding, task, x, y, xv, yv, perms[task], steps,
                                        epochs, lr, s_max, sparsity, used, gen, allowed, log))
            if embedding is not None:
                gate = torch.sigmoid(s_max * embedding.weight[:, task]).detach()
                used = torch.maximum(used, gate)
            row = []  # validation accuracy of every task learned so far (a record, not used)
            for k in range(task + 1):
                gates = None if embedding is None else torch.sigmoid(
                    s_max * embedding.weight[:, k]).detach()[None, :]
                row.append(_accuracy(twin, xv[:, torch.as_tensor(perms[k])], yv, steps, gates))
            val_matrix.append(row)
            snapshots.append(dict(w_in=twin.w_in.detach().clone(),
                                  w_out=twin.w_out.detach().clone()))
        entry = dict(w_in=snapshots[-1]["w_in"], w_out=snapshots[-1]["w_out"],
                     bias=twin.bias.detach().clone(), tasks=summaries,
                     validation_after_each_task=val_matrix,
                     snapshots=snapshots, seconds=round(time.time() - start, 1))
        if embedding is not None:
            entry["encoder"] = {"embedding.weight": embedding.weight.detach().clone()}
        data[which] = entry
        log(f"{which}: validation after the last task {np.round(val_matrix[-1], 3).tolist()}, "
            f"mean {np.mean(val_matrix[-1]):.3f} ({entry['seconds']} s)")
    target = Path(out) if out is not None else Path(model_path).parent / settings["weights"]
    torch.save(data, target)
    log(f"wrote {target}")
    return data


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hnnbio.experiments.train_continual")
    parser.add_argument("model", help="a continual model file, e.g. "
                        "models/modulation-continual.toml")
    parser.add_argument("--epochs", type=int, default=15, help="epochs per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--sparsity", type=float, default=0.0)
    parser.add_argument("--out", default=None, help="weights file (default: the model's)")
    parser.add_argument("--no-reuse", action="store_true",
                        help="a task opens only its own block of neurons")
    args = parser.parse_args(argv)
    from hnnbio.errors import HnnbioError

    try:
        train(args.model, args.epochs, args.seed, args.lr, args.sparsity, args.out,
              reuse=not args.no_reuse)
    except HnnbioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
