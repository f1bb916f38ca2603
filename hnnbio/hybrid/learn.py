"""Training learnable hybrid units, and running them frozen outside PyTorch.

A learnable HU (:class:`hnnbio.hybrid.units.HybridUnit` with ``learnable=True``) carries a kernel,
an affine gain/bias before F and, with the threshold quantiser, the threshold ``theta``. It is
trained end to end in PyTorch, alone or inside a larger module (``nn.Sequential(hu, ann)``), on
recorded or generated spike trains; while training, a learnable threshold is replaced by its
surrogate (:func:`hnnbio.hybrid.units.threshold_surrogate`). Once trained,
:meth:`HybridUnit.export` freezes it to plain numbers and :func:`apply_exported` evaluates those
numbers with numpy, as a Brian2 network operation would::

    y = Q(F(gain * sum_k kernel[k] * window[..., k] + bias))

with ``window[..., -1]`` the newest step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hnnbio.errors import DataError, ParameterError

LOSSES = ("mse", "bce")
_NUMPY_NONLINEARITIES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": lambda z: 0.5 * (1.0 + np.tanh(0.5 * z)),
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
}


@dataclass(frozen=True)
class FitResult:
    """What :func:`fit_hybrid_unit` did: ``losses`` (ndarray, shape (steps,)), one per step."""

    losses: np.ndarray

    @property
    def final_loss(self) -> float:
        """The loss of the last step (before its update)."""
        return float(self.losses[-1])


def fit_hybrid_unit(
    unit: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    loss: str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = "mse",
    steps: int = 1000,
    learning_rate: float = 0.05,
    batch_size: int | None = None,
    seed: int = 0,
) -> FitResult:
    """Fit the parameters of ``unit`` to ``targets`` with Adam.

    Parameters
    ----------
    unit : nn.Module
        A learnable :class:`~hnnbio.hybrid.units.HybridUnit`, or any module containing one (an
        HU and the ANN around it, trained jointly). All its trainable parameters are fitted.
    inputs : Tensor, shape (n_sequences, ..., T)
        Spike trains (or any input), time the last axis.
    targets : Tensor, same shape as ``unit(inputs)``
    loss : {"mse", "bce"} or callable
        Mean squared error, or binary cross-entropy (outputs must be probabilities, as the sigmoid
        surrogate of a learnable threshold is; with the straight-through surrogate use ``mse``);
        a callable ``loss(output, targets) -> scalar`` otherwise. Prefer ``bce`` for a threshold
        unit with the sigmoid surrogate: once fitted, the squared error of a saturated soft step
        underflows to subnormal floats, which are an order of magnitude slower on CPUs.
    steps : int
        Optimiser steps.
    learning_rate : float
        Adam's step size.
    batch_size : int, optional
        Sequences per step, drawn without replacement each epoch; all of them when None.
    seed : int
        Seeds the batch order and any randomness inside ``unit`` while training (dropout).

    Returns
    -------
    FitResult

    Notes
    -----
    No global state is changed: batches come from a local ``torch.Generator``, the global torch
    RNG is forked and restored (``torch.random.fork_rng``), and ``unit`` is left in the training
    mode it came in. The unit's parameters are updated in place.
    """
    loss_fn = _loss_function(loss)
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ParameterError(f"steps: must be a positive integer, got {steps!r}")
    if not learning_rate > 0:
        raise ParameterError(f"learning_rate: must be > 0, got {learning_rate}")
    inputs = torch.as_tensor(inputs).float()
    targets = torch.as_tensor(targets).float()
    if inputs.ndim < 1 or inputs.shape[0] < 1:
        raise DataError(f"inputs: need shape (n_sequences, ..., T), got {tuple(inputs.shape)}")
    n = inputs.shape[0]
    if batch_size is None:
        batch_size = n
    if not isinstance(batch_size, (int, np.integer)) or not 1 <= batch_size <= n:
        raise ParameterError(f"batch_size: must be an integer in 1..{n}, got {batch_size!r}")
    parameters = [p for p in unit.parameters() if p.requires_grad]
    if not parameters:
        raise ParameterError("unit: has no trainable parameters; build it with learnable=True")

    was_training = unit.training
    generator = torch.Generator().manual_seed(int(seed))
    optimiser = torch.optim.Adam(parameters, lr=learning_rate)
    losses = np.empty(steps)
    order, position = torch.randperm(n, generator=generator), 0
    try:
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            torch.manual_seed(int(seed))
            unit.train()
            for step in range(steps):
                if batch_size == n:
                    x, y = inputs, targets
                else:
                    if position + batch_size > n:
                        order, position = torch.randperm(n, generator=generator), 0
                    pick = order[position : position + batch_size]
                    position += batch_size
                    x, y = inputs[pick], targets[pick]
                out = unit(x)
                if out.shape != y.shape:
                    raise DataError(
                        f"targets: shape {tuple(y.shape)} does not match the unit's output "
                        f"{tuple(out.shape)}"
                    )
                value = loss_fn(out, y)
                optimiser.zero_grad()
                value.backward()
                optimiser.step()
                losses[step] = value.item()
    finally:
        unit.train(was_training)
    return FitResult(losses=losses)


def _loss_function(loss):
    if callable(loss):
        return loss
    if loss == "mse":
        return torch.nn.functional.mse_loss
    if loss == "bce":
        return torch.nn.functional.binary_cross_entropy
    raise ParameterError(f"loss: {loss!r} is not one of {', '.join(LOSSES)} or a callable")


def apply_exported(
    exported: dict, windows: np.ndarray, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Evaluate an exported HU (:meth:`HybridUnit.export`) on windows with numpy.

    Parameters
    ----------
    exported : dict
        As returned by ``HybridUnit.export()``.
    windows : ndarray, shape (..., L)
        The last ``L`` steps of the input, oldest first (a network operation keeps this buffer).
    rng : numpy Generator, optional
        Needed by the Bernoulli quantiser only.

    Returns
    -------
    ndarray, shape (...,), float64
        ``Q(F(gain * windows @ kernel + bias))``.
    """
    missing = {"kernel", "gain", "bias", "nonlinearity", "quantiser", "theta", "bits"}
    missing -= set(exported)
    if missing:
        raise ParameterError(f"exported: missing {', '.join(sorted(missing))}")
    kernel = np.asarray(exported["kernel"], dtype=float)
    windows = np.asarray(windows, dtype=float)
    if windows.ndim < 1 or windows.shape[-1] != kernel.size:
        raise DataError(
            f"windows: last axis {windows.shape[-1:]} does not match the kernel ({kernel.size},)"
        )
    y = exported["gain"] * (windows @ kernel) + exported["bias"]
    name = exported["nonlinearity"]
    if name is not None:
        if name not in _NUMPY_NONLINEARITIES:
            raise ParameterError(
                f"nonlinearity: {name!r} is not one of {', '.join(_NUMPY_NONLINEARITIES)}"
            )
        y = _NUMPY_NONLINEARITIES[name](y)
    kind = exported["quantiser"]
    if kind is None:
        return y
    if kind == "threshold":
        return (y >= exported["theta"]).astype(float)
    if kind == "fixed_point":
        scale = float(2 ** exported["bits"])
        return np.round(y * scale) / scale
    if kind == "bernoulli":
        if rng is None:
            raise ParameterError("rng: the Bernoulli quantiser needs a numpy Generator")
        return (rng.random(y.shape) < y).astype(float)
    raise ParameterError(f"quantiser: {kind!r} is not bernoulli, threshold or fixed_point")
