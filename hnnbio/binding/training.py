"""Training a model spec's autoencoder: the spec's settings -> :mod:`hnnbio.ann.train` -> weights.

The spec gives the data set (``dataset``), the architecture (``[autoencoder]`` layers, hidden,
latent), the settings (``[training]``, see :class:`hnnbio.ann.train.TrainingSettings`) and where
the weights go (``[autoencoder]`` weights, beside the spec). Training itself knows no spec.
"""

from __future__ import annotations

from pathlib import Path

import torch

from hnnbio.ann.autoencoder import DenoisingAutoencoder, save_autoencoder
from hnnbio.ann.train import TrainingSettings, train_autoencoder
from hnnbio.binding.spec import ModelSpec, load_spec


def training_settings(
    spec: ModelSpec | str | Path,
    n_images: int | None = None,
    epochs: int | None = None,
    seed: int | None = None,
) -> TrainingSettings:
    """The spec's ``[training]`` settings, with the given (not ``None``) values overriding them."""
    spec = load_spec(spec)
    return TrainingSettings.from_dict(spec.training, n_images=n_images, epochs=epochs, seed=seed)


def train_spec(
    spec: ModelSpec | str | Path,
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
    model, history : see :func:`hnnbio.ann.train.train_autoencoder`
    """
    spec = load_spec(spec)
    settings = training_settings(spec, n_images=n_images, epochs=epochs, seed=seed)
    ae = spec.autoencoder
    return train_autoencoder(
        spec.dataset,
        list(ae["layers"]),
        list(ae["hidden"]),
        ae.get("latent", "deterministic"),
        settings=settings,
        progress=progress,
        device=device,
    )


def train_model(
    model: ModelSpec | str | Path,
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
    epochs, seed, n_images : int, optional
        Override the spec's ``[training]`` values.

    Returns
    -------
    dict : one summary row: model, epochs run, best epoch, best validation BCE, seconds, path.
    """
    spec = load_spec(model)
    net, history = train_spec(
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
