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
for ``patience`` epochs, and the best epoch's weights are kept. Settings are a
:class:`TrainingSettings`; :mod:`hnnbio.binding.training` reads them from a model spec's
``[training]`` section and writes the weights file (what ``hnnbio train`` runs).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
from tqdm.auto import tqdm

from hnnbio.ann.autoencoder import DenoisingAutoencoder
from hnnbio.data import datasets
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


@dataclass(frozen=True)
class TrainingSettings:
    """Settings of one training run, checked on construction (the defaults train the shipped nets).

    Attributes
    ----------
    seed : int
        Seeds the initial weights, the data set's images, the split order and the noise.
    n_images : int >= 1
        Single-object images generated for training and validation together.
    epochs : int >= 1
        At most this many passes over the training images.
    batch_size : int >= 1
    lr : float > 0
        Adam's initial learning rate.
    noise : (float, float)
        ``(low, high)`` of the drop probability ``p ~ U(low, high)``, ``0 <= low <= high < 1``.
    validation : float in (0, 1)
        Fraction of the images held out (the last ones) for early stopping.
    patience : int >= 1
        Epochs without a better validation loss before training stops.
    lr_step : int >= 1
        Epochs between two learning-rate decays.
    lr_gamma : float in (0, 1]
        Factor of each decay.

    Example
    -------
    >>> TrainingSettings(epochs=5, n_images=500).epochs
    5
    """

    seed: int = 0
    n_images: int = 60000
    epochs: int = 300
    batch_size: int = 1024
    lr: float = 0.01
    noise: tuple[float, float] = (0.6, 0.8)
    validation: float = 0.1
    patience: int = 10
    lr_step: int = 100
    lr_gamma: float = 0.5

    def __post_init__(self):
        for key in ("n_images", "epochs", "batch_size", "patience", "lr_step"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ParameterError(f"{key}: must be an integer >= 1, got {v!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) \
                or not 0 <= self.seed < 2**32:
            raise ParameterError(f"seed: must be an integer in [0, 2**32), got {self.seed!r}")
        for key in ("lr", "lr_gamma", "validation"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ParameterError(f"{key}: must be a number, got {v!r}")
        if not 0 < self.lr < float("inf"):
            raise ParameterError(f"lr: must be > 0, got {self.lr!r}")
        if not 0 < self.lr_gamma <= 1:
            raise ParameterError(f"lr_gamma: must be in (0, 1], got {self.lr_gamma!r}")
        try:
            low, high = self.noise
        except (TypeError, ValueError):
            raise ParameterError(
                f"noise: need two numbers (low, high), got {self.noise!r}"
            ) from None
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in (low, high)):
            raise ParameterError(f"noise: need two numbers (low, high), got {self.noise!r}")
        object.__setattr__(self, "noise", (low, high))  # a TOML file's list, stored as a tuple
        if not 0 <= low <= high < 1:
            raise ParameterError(f"noise: need 0 <= low <= high < 1, got {self.noise!r}")
        if not 0 < self.validation < 1:
            raise ParameterError(f"validation: must be in (0, 1), got {self.validation!r}")
        n_val = int(round(self.n_images * self.validation))
        if n_val < 1 or n_val >= self.n_images:
            raise ParameterError(
                f"n_images: {self.n_images} images leave no training or validation "
                f"set at validation = {self.validation}"
            )

    @classmethod
    def from_dict(cls, settings: Mapping, **overrides) -> TrainingSettings:
        """Settings from a mapping (e.g. a model file's ``[training]`` section).

        ``overrides`` that are ``None`` are ignored; unknown keys raise :class:`ParameterError`.
        """
        if not isinstance(settings, Mapping):
            raise ParameterError(f"training settings must be a table of key = value, got "
                                 f"{settings!r}")
        values = dict(settings)
        values.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in fields(cls)}
        unknown = [k for k in values if k not in known]
        if unknown:
            raise ParameterError(
                f"{unknown[0]}: not a training setting; known: {', '.join(sorted(known))}"
            )
        return cls(**values)

    def to_dict(self) -> dict:
        """The settings as a plain dict in field order, ``noise`` a list (as in weights files)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["noise"] = list(self.noise)
        return out


def check_device(device: str | torch.device) -> torch.device:
    """A torch device that exists here: ``"bogus"`` or ``"cuda"`` on a machine without CUDA raise
    :class:`ParameterError` (one line) before any work, not a RuntimeError deep in torch."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ParameterError(f"device: {device!r} is not a torch device; use cpu or cuda "
                             "(cuda:N for GPU N)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ParameterError(f"device: {device!r}: CUDA is not available here (torch "
                                 f"{torch.__version__}, built with CUDA {torch.version.cuda}); "
                                 "use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ParameterError(f"device: {device!r}: there are {torch.cuda.device_count()} "
                                 "CUDA devices here")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ParameterError(f"device: {device!r}: MPS is not available here; use cpu")
    elif dev.type != "cpu":
        raise ParameterError(f"device: {device!r}: hnnbio trains on cpu, cuda or mps")
    return dev


def fit(
    model: DenoisingAutoencoder,
    images: np.ndarray,
    settings: TrainingSettings | Mapping,
    progress: bool = True,
    device: str | torch.device = "cpu",
) -> dict:
    """Train ``model`` in place on single-object ``images``; returns the history.

    Parameters
    ----------
    model : DenoisingAutoencoder
    images : ndarray, shape (n_images, height, width) or (n_images, n_pixels), {0, 1}
    settings : TrainingSettings or dict
        Read: seed, epochs, batch_size, lr, noise, validation, patience, lr_step, lr_gamma
        (``n_images`` is not read: every image given is used). A dict is used as given, unchecked.
    device : str or torch.device
        Where to train (``"cpu"`` or ``"cuda"``); the model is returned on the CPU.

    Returns
    -------
    dict with lists ``train_loss``, ``val_loss``, ``lr`` (one entry per epoch) and ``best_epoch``
    (1-based), ``epochs_run``, ``val_loss_best``, ``stopped_early``, ``seconds``.
    """
    start = time.perf_counter()
    device = check_device(device)
    if isinstance(settings, TrainingSettings):
        settings = settings.to_dict()
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
    dataset: str,
    layers: Sequence[int],
    hidden: Sequence[str],
    latent: str = "deterministic",
    settings: TrainingSettings | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
) -> tuple[DenoisingAutoencoder, dict]:
    """Train a new autoencoder on single-object images of a data set.

    The images are ``hnnbio.data.datasets.generate(dataset, settings.n_images,
    seed=settings.seed, single=True)``; the initial weights are drawn after
    ``torch.manual_seed(settings.seed)``, so the same arguments give the same weights.

    Parameters
    ----------
    dataset : {"bars", "shapes", "corners"}
        A data set with single-object images (:func:`hnnbio.data.datasets.generate`).
    layers : list of int
        Layer sizes, input first; ``layers[0]`` must be the data set's pixels (e.g. 400 for bars).
    hidden : list of str
        Activation of each hidden layer ("sigmoid" / "relu").
    latent : {"deterministic", "stochastic"}
    settings : TrainingSettings, optional
        Default ``TrainingSettings()``.
    progress : bool
        Show a tqdm progress bar (one step per epoch).
    device : str or torch.device
        Where to train; the returned model is on the CPU, in eval mode.

    Returns
    -------
    model : DenoisingAutoencoder
    history : dict
        See :func:`fit`, plus ``settings`` (``settings.to_dict()``).

    Example
    -------
    >>> model, history = train_autoencoder(
    ...     "bars", [400, 16, 400], ["sigmoid"],
    ...     settings=TrainingSettings(n_images=200, epochs=1), progress=False)
    >>> history["epochs_run"]
    1
    """
    settings = TrainingSettings() if settings is None else settings
    device = check_device(device)
    if not isinstance(settings, TrainingSettings):
        raise ParameterError(
            f"settings: expected a TrainingSettings, got {type(settings).__name__}; "
            "use TrainingSettings.from_dict(...)"
        )
    images, _ = datasets.generate(dataset, settings.n_images, seed=settings.seed, single=True)
    torch.manual_seed(settings.seed)
    model = DenoisingAutoencoder(list(layers), list(hidden), latent)
    history = fit(model, images, settings, progress=progress, device=device)
    history["settings"] = settings.to_dict()
    return model, history
