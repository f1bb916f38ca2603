"""Training the denoising autoencoders on single-object images.

Corruption is "pepper" noise: for each mini-batch a drop probability ``p ~ U(p_low, p_high)`` is
drawn (default U(0.6, 0.8)) and every pixel is set to 0 independently with probability ``p``:

.. math::

    \\tilde x = x \\odot m, \\qquad m_j \\sim \\mathrm{Bernoulli}(1 - p)

The loss is the binary cross-entropy of the reconstruction to the clean image, averaged over pixels,

.. math::

    L = -\\frac{1}{N} \\sum_j x_j \\log \\hat x_j + (1 - x_j) \\log (1 - \\hat x_j),

minimised with Adam (lr 0.01, batch 1024) and a step decay of the learning rate (``lr_gamma``
every ``lr_step`` epochs). A fixed 10% of the images is held out; training stops when the
validation loss (on corruptions drawn once, so it is comparable across epochs) has not improved
for ``patience`` epochs, and the best epoch's weights are kept. Settings come from the spec's
``[training]`` section.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from hnnbio.ann.autoencoder import DenoisingAutoencoder, from_spec, save_autoencoder
from hnnbio.binding import datasets
from hnnbio.binding.spec import load_spec
from hnnbio.errors import ParameterError

#: A validation loss counts as an improvement when it is lower than the best by this fraction.
MIN_IMPROVEMENT = 1e-4


def corrupt(
    x: torch.Tensor, p: float | torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Pepper noise: each pixel of ``x`` set to 0 with probability ``p``.

    Parameters
    ----------
    x : Tensor, any shape, e.g. (batch, n_pixels)
    p : float, or Tensor broadcastable to ``x`` (e.g. one probability per image, (batch, 1))
    generator : torch.Generator, optional
        On the device of ``x``.
    """
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= p
    return x * keep


def _settings(spec, n_images, epochs, seed) -> dict:
    s = dict(spec.training)
    for key, value in (("n_images", n_images), ("epochs", epochs), ("seed", seed)):
        if value is not None:
            s[key] = value
    for key in ("n_images", "epochs", "batch_size", "patience", "lr_step"):
        v = s[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ParameterError(f"{key}: must be an integer >= 1, got {v!r}")
    if not isinstance(s["seed"], int) or isinstance(s["seed"], bool):
        raise ParameterError(f"seed: must be an integer, got {s['seed']!r}")
    if not s["lr"] > 0:
        raise ParameterError(f"lr: must be > 0, got {s['lr']!r}")
    if not 0 < s["lr_gamma"] <= 1:
        raise ParameterError(f"lr_gamma: must be in (0, 1], got {s['lr_gamma']!r}")
    low, high = s["noise"]
    if not 0 <= low <= high < 1:
        raise ParameterError(f"noise: need 0 <= low <= high < 1, got {s['noise']!r}")
    if not 0 < s["validation"] < 1:
        raise ParameterError(f"validation: must be in (0, 1), got {s['validation']!r}")
    n_val = int(round(s["n_images"] * s["validation"]))
    if n_val < 1 or n_val >= s["n_images"]:
        raise ParameterError(
            f"n_images: {s['n_images']} images leave no training or validation "
            f"set at validation = {s['validation']}"
        )
    return s


def fit(
    model: DenoisingAutoencoder,
    images: np.ndarray,
    settings: dict,
    progress: bool = True,
    device: str | torch.device = "cpu",
) -> dict:
    """Train ``model`` in place on single-object ``images``; returns the history.

    Parameters
    ----------
    model : DenoisingAutoencoder
    images : ndarray, shape (n_images, height, width) or (n_images, n_pixels), {0, 1}
    settings : dict
        The ``[training]`` keys: seed, epochs, batch_size, lr, noise, validation, patience,
        lr_step, lr_gamma.
    device : str or torch.device
        Where to train (``"cpu"`` or ``"cuda"``); the model is returned on the CPU.

    Returns
    -------
    dict with lists ``train_loss``, ``val_loss``, ``lr`` (one entry per epoch) and ``best_epoch``
    (1-based), ``epochs_run``, ``val_loss_best``, ``stopped_early``, ``seconds``.
    """
    start = time.perf_counter()
    torch.manual_seed(settings["seed"])
    gen = torch.Generator(device=device).manual_seed(settings["seed"])
    x = torch.as_tensor(images.reshape(len(images), -1), dtype=torch.float32, device=device)
    if x.shape[1] != model.layers[0]:
        raise ParameterError(
            f"images: {x.shape[1]} pixels do not fit the model's input of {model.layers[0]}"
        )
    n_val = int(round(len(x) * settings["validation"]))
    x_train, x_val = x[:-n_val], x[-n_val:]
    low, high = (float(v) for v in settings["noise"])
    p_val = low + (high - low) * torch.rand(len(x_val), 1, generator=gen, device=device)
    x_val_noisy = corrupt(x_val, p_val, gen)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"])
    scheduler = torch.optim.lr_scheduler.StepLR(
        optimizer, settings["lr_step"], settings["lr_gamma"]
    )
    bce = torch.nn.BCELoss()
    batch = settings["batch_size"]
    history = {"train_loss": [], "val_loss": [], "lr": []}
    best, best_state, best_epoch, waited = float("inf"), None, 0, 0
    bar = tqdm(
        range(1, settings["epochs"] + 1), desc="training", unit="epoch", disable=not progress
    )
    for epoch in bar:
        model.train()
        order = torch.randperm(len(x_train), generator=gen, device=device)
        total = 0.0
        for i in range(0, len(order), batch):
            clean = x_train[order[i : i + batch]]
            p = low + (high - low) * float(torch.rand(1, generator=gen, device=device))
            loss = bce(model(corrupt(clean, p, gen)), clean)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(clean)
        history["lr"].append(optimizer.param_groups[0]["lr"])
        scheduler.step()
        model.eval()
        with torch.no_grad():
            val = float(bce(model(x_val_noisy), x_val))
        history["train_loss"].append(total / len(x_train))
        history["val_loss"].append(val)
        bar.set_postfix(train=f"{total / len(x_train):.4f}", val=f"{val:.4f}")
        if val < best * (1 - MIN_IMPROVEMENT):
            best, best_epoch, waited = val, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if waited >= settings["patience"]:
                break
    model.load_state_dict(best_state)
    model.to("cpu").eval()
    history.update(
        best_epoch=best_epoch,
        epochs_run=len(history["val_loss"]),
        val_loss_best=best,
        stopped_early=len(history["val_loss"]) < settings["epochs"],
        seconds=time.perf_counter() - start,
    )
    return history


def train_autoencoder(
    spec,
    n_images: int | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
) -> tuple[DenoisingAutoencoder, dict]:
    """Train the autoencoder of a model spec on its data set's single-object images.

    Parameters
    ----------
    spec : ModelSpec, or a shipped model name / .toml path
    n_images, epochs, seed : int, optional
        Override the spec's ``[training]`` values.
    progress : bool
        Show a tqdm progress bar (one step per epoch).
    device : str or torch.device
        Where to train; the returned model is on the CPU, in eval mode.

    Returns
    -------
    model : DenoisingAutoencoder
    history : dict
        See :func:`fit`, plus ``settings`` (the training settings used).
    """
    spec = load_spec(spec)
    settings = _settings(spec, n_images, epochs, seed)
    images, _ = datasets.generate(
        spec.dataset, settings["n_images"], seed=settings["seed"], single=True
    )
    torch.manual_seed(settings["seed"])
    model = from_spec(spec)
    history = fit(model, images, settings, progress=progress, device=device)
    history["settings"] = settings
    return model, history


def train_model(
    model,
    out: str | Path | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    n_images: int | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
) -> dict:
    """Train a spec's autoencoder and write its weights file (what ``hnnbio train`` runs).

    Parameters
    ----------
    model : ModelSpec, or a shipped model name / .toml path
    out : str or Path, optional
        Weights file to write; default the spec's ``weights`` (beside the spec).

    Returns
    -------
    dict : one summary row: model, epochs run, best epoch, best validation BCE, seconds, path.
    """
    spec = load_spec(model)
    net, history = train_autoencoder(
        spec, n_images=n_images, epochs=epochs, seed=seed, progress=progress, device=device
    )
    path = Path(out) if out is not None else spec.weights_path
    record = {
        "settings": history["settings"],
        "seed": history["settings"]["seed"],
        "dataset": spec.dataset,
        "epochs_run": history["epochs_run"],
        "best_epoch": history["best_epoch"],
        "val_loss": history["val_loss_best"],
        "seconds": history["seconds"],
        "device": str(device),
        "torch": str(torch.__version__),
        "val_curve": history["val_loss"],
    }
    save_autoencoder(net, path, training=record)
    return {
        "model": spec.name,
        "epochs": history["epochs_run"],
        "best_epoch": history["best_epoch"],
        "val_loss": history["val_loss_best"],
        "seconds": round(history["seconds"], 1),
        "path": str(path),
    }
