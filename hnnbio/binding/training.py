"""Training a model spec's autoencoder: the spec's settings -> :mod:`hnnbio.ann.train` -> weights.

The spec gives the data set (``dataset``), the architecture (``[autoencoder]`` layers, hidden,
latent), the settings (``[training]``, see :class:`hnnbio.ann.train.TrainingSettings`) and where
the weights go (``[autoencoder]`` weights, beside the spec). Training itself knows no spec.
:func:`train_model` checks everything before it trains: the device, the settings and the weights
file, which it writes only if it is new or ``overwrite`` is given (the shipped weights too).
"""

from __future__ import annotations

from pathlib import Path

import torch

from hnnbio.ann.autoencoder import DenoisingAutoencoder, save_autoencoder
from hnnbio.ann.train import TrainingSettings, check_device, train_autoencoder
from hnnbio.binding.spec import ModelSpec, load_spec, model_dir
from hnnbio.errors import DataError, ParameterError
from hnnbio.outputs import atomic_file, check_file


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


def model_for_dataset(dataset: str) -> str:
    """The shipped model that gives the training settings of a data set (``hnnbio train
    --dataset``): the one of the same name; only data sets with single-object images have one."""
    from hnnbio.data import datasets

    if not isinstance(dataset, str) or dataset not in datasets.DATASETS:
        raise DataError(f"dataset: unknown data set {dataset!r}; choose one of "
                        f"{', '.join(datasets.DATASETS)}")
    try:  # the data layer's own rule of which sets have single-object images
        datasets.generate(dataset, 1, seed=0, single=True, cache=False)
    except DataError:
        raise DataError(f"dataset: {dataset} has no single-object images to train an "
                        "autoencoder on (bars, shapes and corners have); give --model FILE.toml "
                        "whose dataset has them") from None
    return dataset


def train_model(
    model: ModelSpec | str | Path | None = None,
    out: str | Path | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    n_images: int | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
    dataset: str | None = None,
    overwrite: bool = False,
) -> dict:
    """Train a spec's autoencoder and write its weights file (what ``hnnbio train`` runs).

    Parameters
    ----------
    model : ModelSpec, or a shipped model name / .toml path
    out : str or Path, optional
        Weights file to write; default the spec's ``weights`` (beside the spec).
    epochs, seed, n_images : int, optional
        Override the spec's ``[training]`` values.
    dataset : str, optional
        Instead of ``model``: the shipped model of this data set (:func:`model_for_dataset`).
    overwrite : bool
        Replace an existing weights file (without it, an existing file, e.g. the shipped
        weights, is refused before training starts).

    Returns
    -------
    dict : one summary row: model, epochs run, best epoch, best validation BCE, seconds, path.
    """
    if (model is None) == (dataset is None):
        raise ParameterError("give a model (--model) or a data set (--dataset), not "
                             f"{'both' if model is not None else 'neither'}")
    spec = load_spec(model if dataset is None else model_for_dataset(dataset))
    device = check_device(device)
    training_settings(spec, n_images=n_images, epochs=epochs, seed=seed)  # checked before training
    path = Path(out) if out is not None else spec.weights_path
    try:
        check_file(path, overwrite, what="out")
    except DataError as exc:
        if out is None and spec.weights_path.resolve().parent == model_dir().resolve() \
                and path.exists():
            raise DataError(f"out: {path} holds the shipped weights of {spec.name}; pass "
                            "--overwrite (overwrite=True) to replace them, or --out FILE") from None
        raise exc
    net, history = train_spec(
        spec, n_images=n_images, epochs=epochs, seed=seed, progress=progress, device=device
    )
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
    with atomic_file(path, what="out") as tmp:  # the old weights stay until the new are whole
        save_autoencoder(net, tmp, training=record)
    return {
        "model": spec.name,
        "epochs": history["epochs_run"],
        "best_epoch": history["best_epoch"],
        "val_loss": history["val_loss_best"],
        "seconds": round(history["seconds"], 1),
        "path": str(path),
    }
