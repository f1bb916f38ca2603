"""Fully connected denoising autoencoders (the ANN side of the binding loop).

A network of layer sizes ``[n_0, n_1, ..., n_L]`` (``n_0 = n_L`` = pixels) computes

.. math::

    h_0 = x, \\qquad h_i = f_i(W_i h_{i-1} + b_i) \\;(i < L), \\qquad
    \\hat x = \\sigma(W_L h_{L-1} + b_L)

with hidden activations ``f_i`` from {sigmoid, relu} and a sigmoid output, so ``x_hat`` is in
(0, 1). With ``latent="stochastic"`` (the Multi-MNIST network's spiking latent) the middle hidden
layer ``m`` (a sigmoid) emits spikes instead of rates, with a straight-through gradient:

.. math::

    s_m \\sim \\mathrm{Bernoulli}(h_m), \\qquad h_m \\leftarrow h_m + \\mathrm{sg}(s_m - h_m)

(``sg``: stop gradient), so the forward value is the binary ``s_m`` and the gradient is that of
``h_m``.
``W_i`` has shape ``(n_i, n_{i-1})`` (PyTorch's ``nn.Linear``); the state-dict keys are
``linears.{i}.weight`` and ``linears.{i}.bias`` (the chip compiler reads these names).

Two forms (house style 3): the pure function :func:`autoencoder_forward` of an
:class:`AutoencoderParams` and a batch ``x``, and the module :class:`DenoisingAutoencoder` that
holds the parameters and calls it.

Weights file (``torch.save``; read with ``weights_only=True``)::

    {"format": "hnnbio-autoencoder", "version": 1, "layers": [...], "hidden": [...],
     "latent": "deterministic", "state_dict": {...}, "training": {...}}

The state dict may be stored as float16 (compact); loading casts it to float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from hnnbio.errors import ParameterError, WeightsError

ACTIVATIONS = {"sigmoid": torch.sigmoid, "relu": torch.relu}
LATENTS = ("deterministic", "stochastic")
FORMAT = "hnnbio-autoencoder"
VERSION = 1


class AutoencoderParams(NamedTuple):
    """Parameters of a fully connected autoencoder.

    weights : tuple of Tensor, shapes (n_i, n_{i-1})
    biases : tuple of Tensor, shapes (n_i,)
    hidden : tuple of str, one activation per hidden layer
    latent : {"deterministic", "stochastic"}, kind of the middle hidden layer
    """

    weights: tuple
    biases: tuple
    hidden: tuple
    latent: str = "deterministic"


def autoencoder_forward(
    params: AutoencoderParams, x: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Reconstruction of a batch.

    Parameters
    ----------
    params : AutoencoderParams
    x : Tensor, shape (batch, n_pixels), float in [0, 1]
    generator : torch.Generator, optional
        Source of the latent spikes when ``params.latent == "stochastic"``.

    Returns
    -------
    Tensor, shape (batch, n_pixels), float in (0, 1)
    """
    h = x
    last = len(params.weights) - 1
    middle = len(params.hidden) // 2 if params.latent == "stochastic" else -1
    for i, (w, b) in enumerate(zip(params.weights, params.biases, strict=True)):
        h = torch.nn.functional.linear(h, w, b)
        h = torch.sigmoid(h) if i == last else ACTIVATIONS[params.hidden[i]](h)
        if i == middle:
            spikes = torch.bernoulli(h.detach(), generator=generator)
            h = h + (spikes - h).detach()
    return h


def check_architecture(
    layers: Sequence[int], hidden: Sequence[str], latent: str = "deterministic"
) -> None:
    """Raise ParameterError naming the argument if ``layers``/``hidden``/``latent`` are nonsense."""
    layers, hidden = list(layers), list(hidden)
    if len(layers) < 2 or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in layers
    ):
        raise ParameterError(f"layers: need >= 2 positive integer sizes, got {layers!r}")
    if layers[0] != layers[-1]:
        raise ParameterError(
            f"layers: an autoencoder's input and output sizes must match, got {layers!r}"
        )
    if len(hidden) != len(layers) - 2:
        raise ParameterError(
            f"hidden: need {len(layers) - 2} activations for layers {layers}, got {len(hidden)}"
        )
    for name in hidden:
        if name not in ACTIVATIONS:
            raise ParameterError(
                f"hidden: unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}"
            )
    if latent not in LATENTS:
        raise ParameterError(
            f"latent: {latent!r} is not supported; choose from {', '.join(LATENTS)}"
        )
    if latent == "stochastic" and (len(hidden) % 2 == 0 or hidden[len(hidden) // 2] != "sigmoid"):
        raise ParameterError(
            f"latent: 'stochastic' needs an odd number of hidden layers with a sigmoid middle "
            f"layer, got hidden {hidden!r}"
        )


class DenoisingAutoencoder(nn.Module):
    """Fully connected autoencoder with sigmoid output (see the module docstring).

    Parameters
    ----------
    layers : list of int
        Layer sizes, input first, e.g. ``[400, 256, 400]``.
    hidden : list of str
        Activation of each hidden layer, ``len(layers) - 2`` of "sigmoid" / "relu".
    latent : {"deterministic", "stochastic"}
        Kind of the middle hidden layer: rates, or Bernoulli spikes of those rates.
    """

    def __init__(self, layers: list[int], hidden: list[str], latent: str = "deterministic"):
        super().__init__()
        check_architecture(layers, hidden, latent)
        self.layers = [int(n) for n in layers]
        self.hidden = list(hidden)
        self.latent = latent
        #: The ``training`` record of the weights file last loaded (settings, seed, val loss).
        self.training_info: dict = {}
        self.linears = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(self.layers[:-1], self.layers[1:], strict=True)
        )

    def params(self) -> AutoencoderParams:
        """The parameters as an :class:`AutoencoderParams` (shared tensors, not copies)."""
        return AutoencoderParams(
            tuple(m.weight for m in self.linears),
            tuple(m.bias for m in self.linears),
            tuple(self.hidden),
            self.latent,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction, shape (batch, n_pixels), of ``x``, shape (batch, n_pixels)."""
        return autoencoder_forward(self.params(), x)

    def __repr__(self) -> str:
        return (
            f"DenoisingAutoencoder(layers={self.layers}, hidden={self.hidden}, "
            f"latent={self.latent!r})"
        )


def from_spec(spec) -> DenoisingAutoencoder:
    """An untrained autoencoder with the architecture of a ModelSpec's ``[autoencoder]`` section."""
    ae = spec.autoencoder
    return DenoisingAutoencoder(
        list(ae["layers"]), list(ae["hidden"]), ae.get("latent", "deterministic")
    )


def save_autoencoder(
    model: DenoisingAutoencoder,
    path: str | Path,
    training: dict | None = None,
    dtype: torch.dtype = torch.float16,
) -> Path:
    """Write ``model`` to a weights file (state dict stored as ``dtype``); returns the path."""
    path = Path(path)
    state = {k: v.detach().to("cpu", dtype) for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "layers": list(model.layers),
        "hidden": list(model.hidden),
        "latent": model.latent,
        "state_dict": state,
        "training": dict(training or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def read_weights(path: str | Path) -> dict:
    """Read and check a weights file; raises WeightsError naming the file and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found; train it with `hnnbio train`")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise WeightsError(
            f"{path}: corrupt weights file ({type(exc).__name__}); "
            f"train it again with `hnnbio train`"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise WeightsError(f"{path}: not an hnnbio autoencoder weights file")
    if payload.get("version") != VERSION:
        raise WeightsError(
            f"{path}: weights format version {payload.get('version')!r} is not "
            f"supported (expected {VERSION})"
        )
    for key in ("layers", "hidden", "state_dict"):
        if key not in payload:
            raise WeightsError(f"{path}: weights file lacks {key!r}")
    return payload


def load_weights(model: DenoisingAutoencoder, path: str | Path) -> DenoisingAutoencoder:
    """Load a weights file into ``model`` (cast to float32); WeightsError if it does not fit."""
    payload = read_weights(path)
    latent = payload.get("latent", "deterministic")
    if (
        list(payload["layers"]) != model.layers
        or list(payload["hidden"]) != model.hidden
        or latent != model.latent
    ):
        raise WeightsError(
            f"{path}: architecture mismatch: file has layers {list(payload['layers'])} "
            f"hidden {list(payload['hidden'])} latent {latent!r}, model has {model.layers} "
            f"{model.hidden} {model.latent!r}"
        )
    state = {
        k: v.to(torch.float32)
        for k, v in payload["state_dict"].items()
        if isinstance(v, torch.Tensor)
    }
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1].strip()
        raise WeightsError(f"{path}: state dict does not fit the model ({first})") from None
    model.training_info = dict(payload.get("training", {}))
    return model


def autoencoder_from_file(path: str | Path) -> DenoisingAutoencoder:
    """The autoencoder a weights file describes (architecture and weights), in eval mode."""
    payload = read_weights(path)
    try:
        model = DenoisingAutoencoder(list(payload["layers"]), list(payload["hidden"]),
                                     payload.get("latent", "deterministic"))
    except ParameterError as exc:
        raise WeightsError(f"{path}: architecture in the file is not valid ({exc})") from None
    return load_weights(model, path).eval()


def load_autoencoder(spec) -> DenoisingAutoencoder:
    """The trained autoencoder of a ModelSpec, in eval mode, read from ``spec.weights_path``."""
    return load_weights(from_spec(spec), spec.weights_path).eval()


def sparse_input_forward(autoencoder, n_images: int, n_pixels: int):
    """For a DenoisingAutoencoder with a deterministic latent, on binary input: a function of
    the active flat indices (image * N + pixel, unique, sorted) returning the reconstruction
    (B, N), the same value as the dense forward; else None.

    The first layer is computed from the active inputs only, ``z = b_1 + sum_{p active} W_1[:, p]``
    (a few active pixels per image instead of N), with ``embedding_bag``; with one output layer
    the reconstruction is written in place into ``out``.
    """

    if type(autoencoder) is not DenoisingAutoencoder:
        return None
    params = autoencoder.params()
    if params.latent != "deterministic" or len(params.weights) < 2:
        return None
    w1t = params.weights[0].detach().t().contiguous()  # (N, H)
    b1 = params.biases[0].detach()
    activation = ACTIVATIONS[params.hidden[0]]
    rest = params._replace(
        weights=params.weights[1:], biases=params.biases[1:], hidden=params.hidden[1:]
    )

    starts = np.arange(n_images) * n_pixels
    last = None
    if len(rest.weights) == 1:  # one output layer: r = sigmoid(b_2 + h W_2^T), written in place
        w2t = rest.weights[0].detach().t().contiguous()  # (H, N)
        b2 = rest.biases[0].detach()

        def last(h: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid_(torch.addmm(b2, h, w2t, out=out))

    def forward(active: np.ndarray, out: torch.Tensor | None = None) -> torch.Tensor:
        # active is sorted, so each image's pixels are one contiguous bag: z_b = b_1 + sum W_1[:, p]
        index = torch.from_numpy(active % n_pixels)
        offsets = torch.from_numpy(np.searchsorted(active, starts))
        z = torch.nn.functional.embedding_bag(index, w1t, offsets, mode="sum") + b1
        if last is not None and out is not None:
            return last(activation(z), out)
        r = autoencoder_forward(rest, activation(z))
        return r if out is None else out.copy_(r)

    return forward
