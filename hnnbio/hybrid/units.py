"""Hybrid units (HUs): the bridges between spiking and artificial networks.

A hybrid unit is a composition of four optional stages (Zhao et al., Nat. Commun. 2022)::

    Y = Q(F(H(W(X))))

with time the last tensor axis of ``X``:

- W, window: the last ``L`` steps of the input, ``W(X)[..., t, k] = X[..., t - L + 1 + k]``
  (zeros before the start);
- H, kernel: a weighted sum over the window, ``H(w) = sum_k kernel[k] * w[..., k]`` (``kernel[-1]``
  weighs the newest step). A rate window is ``kernel = 1/L``; an exponential trace of time constant
  ``tau`` (in steps) is ``kernel[k] = exp(-(L - 1 - k) / tau)``;
- F, a non-linearity (``sigmoid``, ``relu``, ``tanh`` or any callable; may carry parameters);
- Q, a quantiser: Bernoulli spikes ``Q(y) = [u < y]`` with ``u ~ U(0, 1)``, a threshold
  ``Q(y) = [y >= theta]``, or fixed point ``Q(y) = round(y * 2**bits) / 2**bits``.

SNN -> ANN, the leaky coincidence window of the binding loop: the output at step t is the OR of the
spikes at ``t - k`` for ``k < len(keep)``, where a spike of age ``k`` is kept with probability
``keep[k]`` (``[1, 0.5, 0.25]``: each older spike survives with probability 0.5 per step)::

    y_t = OR_k ( s_{t-k} AND [u_{t,k} < keep[k]] )

With ``nested=True`` the coins are nested, as in the reference binding code (``s_prre = s_pre *
coin; s_pre = s * coin``): a spike is kept at age 0 with probability ``keep[0]`` and a spike kept
at age ``a - 1`` is kept at age ``a`` with probability ``keep[a] / keep[a - 1]`` (0 where
``keep[a - 1] = 0``); ``keep`` must be non-increasing. The marginal is still ``keep[a]``, but the
kept sets shrink with age (a spike kept at age 2 was kept at age 1) and the state holds the kept
sets, not the raw spikes::

    K_{t,0} = s_t AND [u_{t,0} < keep[0]]
    K_{t,a} = K_{t-1,a-1} AND [u_{t,a} < keep[a] / keep[a-1]]
    y_t     = OR_a K_{t,a}

ANN -> SNN: transmission adds the HU output to the target's state (a current ``i = gain * y``, or
Bernoulli spikes); modulation changes the target's parameters (a multiplicative gain on a drive,
``drive * y``, or a threshold shift ``theta - scale * y``).

Pure step functions take the state and return the new state (house style rule 3); the modules of
the same name are thin wrappers that hold parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from hnnbio.errors import ParameterError

NONLINEARITIES: dict[str, Callable] = {
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "tanh": torch.tanh,
}
QUANTISERS = ("bernoulli", "threshold", "fixed_point")
SURROGATES = ("sigmoid", "straight_through")


# --- kernels ---------------------------------------------------------------------------------


def rate_kernel(length: int) -> torch.Tensor:
    """Mean-rate kernel ``1 / length`` over a window of ``length`` steps, shape (length,)."""
    _check_length(length)
    return torch.full((length,), 1.0 / length)


def exponential_kernel(length: int, tau_steps: float) -> torch.Tensor:
    """Exponential kernel ``exp(-(length - 1 - k) / tau_steps)``, newest last, shape (length,)."""
    _check_length(length)
    if not tau_steps > 0:
        raise ParameterError(f"tau_steps: must be > 0, got {tau_steps}")
    age = torch.arange(length - 1, -1, -1, dtype=torch.float32)
    return torch.exp(-age / tau_steps)


def _check_length(length) -> None:
    if not isinstance(length, (int, np.integer)) or length < 1:
        raise ParameterError(f"window_length: must be a positive integer, got {length!r}")


# --- pure step functions ---------------------------------------------------------------------


def window_step(x: torch.Tensor, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """W: append the step ``x`` (shape (...,)) to the window ``history`` (shape (..., L)).

    Returns the new window (oldest step first, newest last), which is also the new state.
    """
    window = torch.cat([history[..., 1:], x.unsqueeze(-1).to(history.dtype)], dim=-1)
    return window, window


def kernel_apply(window: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """H: weighted sum over the window's last axis, ``sum_k kernel[k] * window[..., k]``."""
    return (window * kernel).sum(-1)


def exponential_trace_step(x: torch.Tensor, trace: torch.Tensor, tau_steps: float) -> torch.Tensor:
    """Exponential trace with an unbounded window: ``trace_t = exp(-1/tau) trace_{t-1} + x_t``."""
    return trace * math.exp(-1.0 / tau_steps) + x


def quantise(
    y: torch.Tensor,
    kind: str,
    *,
    theta: float = 0.5,
    bits: int = 8,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Q: ``bernoulli`` spikes ``[u < y]``, ``threshold`` ``[y >= theta]`` or ``fixed_point``."""
    if kind == "bernoulli":
        return (torch.rand(y.shape, generator=generator) < y).to(y.dtype)
    if kind == "threshold":
        return (y >= theta).to(y.dtype)
    if kind == "fixed_point":
        scale = float(2**bits)
        return torch.round(y * scale) / scale
    raise ParameterError(f"quantiser: {kind!r} is not one of {', '.join(QUANTISERS)}")


def nested_coins(keep) -> np.ndarray:
    """Per-age coin probabilities of the nested window: ``keep[0]``, then ``keep[a] / keep[a-1]``.

    ``keep[a] / keep[a - 1]`` is 0 where ``keep[a - 1] = 0``. Raises :class:`ParameterError`
    unless ``keep`` is a non-empty, non-increasing list of probabilities in [0, 1].
    """
    keep = np.asarray(keep, dtype=float)
    if (
        keep.ndim != 1
        or keep.size < 1
        or not np.all((keep >= 0) & (keep <= 1))
        or np.any(np.diff(keep) > 0)
    ):
        raise ParameterError(
            "keep: nested coins need a non-increasing list of probabilities in [0, 1], "
            f"got {keep.tolist()}"
        )
    coins = keep.copy()
    older, younger = keep[1:], keep[:-1]
    coins[1:] = np.divide(older, younger, out=np.zeros_like(older), where=younger > 0)
    return coins


def threshold_surrogate(
    y: torch.Tensor,
    theta: torch.Tensor | float,
    temperature: float,
    kind: str = "sigmoid",
) -> torch.Tensor:
    """The threshold quantiser ``[y >= theta]`` as used while training a learnable HU.

    ``sigmoid``: the value is the soft step ``sigmoid((y - theta) / temperature)`` (a probability
    in (0, 1), which tends to the hard step as ``temperature -> 0``), and so is the gradient.
    ``straight_through``: the value is the hard step, the gradient that of the soft step (a
    straight-through estimator).
    """
    if kind not in SURROGATES:
        raise ParameterError(f"surrogate: {kind!r} is not one of {', '.join(SURROGATES)}")
    soft = torch.sigmoid((y - theta) / temperature)
    if kind == "sigmoid":
        return soft
    return (y >= theta).to(soft.dtype) + (soft - soft.detach())


def coincidence_step(
    spikes: torch.Tensor,
    history: torch.Tensor,
    keep: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    nested: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Leaky coincidence window, dense form.

    Parameters
    ----------
    spikes : Tensor, shape (...,), bool
        Spikes of this step.
    history : Tensor, shape (L - 1, ...), bool
        Spikes of the previous ``L - 1`` steps, ``history[k - 1]`` is step ``t - k``; with
        ``nested``, ``history[k - 1]`` holds the spikes of step ``t - k`` still kept at age
        ``k - 1``.
    keep : Tensor, shape (L,)
        Probability that a spike of age ``k`` is passed on (``keep[0]`` for this step).
    nested : bool
        Nested coins (see the module docstring); ``keep`` must be non-increasing.

    Returns
    -------
    out : Tensor, shape (...,), float32
        OR of the kept spikes, in {0, 1}.
    history : Tensor, shape (L - 1, ...), bool
        The new state.

    Notes
    -----
    Independent and nested coins both draw ``L`` uniform tensors of ``spikes.shape`` per step,
    age 0 first.
    """
    if nested:
        return _coincidence_step_nested(spikes, history, keep, generator)
    out = spikes & (torch.rand(spikes.shape, generator=generator) < keep[0])
    for k in range(1, keep.numel()):
        out |= history[k - 1] & (torch.rand(spikes.shape, generator=generator) < keep[k])
    new_history = torch.cat([spikes.unsqueeze(0), history[:-1]]) if history.shape[0] else history
    return out.float(), new_history


def _coincidence_step_nested(spikes, history, keep, generator):
    coins = nested_coins(keep.cpu() if isinstance(keep, torch.Tensor) else keep).tolist()
    kept = [spikes & (torch.rand(spikes.shape, generator=generator) < coins[0])]
    for a in range(1, len(coins)):
        kept.append(history[a - 1] & (torch.rand(spikes.shape, generator=generator) < coins[a]))
    out = kept[0].clone()
    for k in kept[1:]:
        out |= k
    new_history = torch.stack(kept[:-1]) if len(kept) > 1 else history
    return out.float(), new_history


def coincidence_step_sparse(
    spike_index: np.ndarray,
    past: list[np.ndarray],
    keep: np.ndarray,
    rng: np.random.Generator,
    *,
    nested: bool = False,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Leaky coincidence window on spike indices (the fast form of :func:`coincidence_step`).

    Parameters
    ----------
    spike_index : ndarray, shape (n_spikes,), int
        Flat indices of the neurons that spiked this step.
    past : list of ndarray
        ``past[k - 1]`` the indices that spiked at step ``t - k``, ``k = 1 .. L - 1``; with
        ``nested``, those of them still kept at age ``k - 1``.
    keep : ndarray, shape (L,)
        Keep probability per age.
    rng : numpy Generator
    nested : bool
        Nested coins (see the module docstring); ``keep`` must be non-increasing.

    Returns
    -------
    kept : ndarray, int
        Flat indices whose window output is 1 (may repeat).
    past : list of ndarray
        The new state.

    Notes
    -----
    Draws, per step and age 0 first: independent, one uniform per index of each age except at
    age 0 when ``keep[0] >= 1``; nested, one uniform per index for each coin strictly between 0
    and 1 (a coin of 1 keeps all, a coin of 0 none, without a draw).
    """
    if nested:
        coins = nested_coins(keep)
        kept = [_toss(spike_index, coins[0], rng)]
        kept += [_toss(past[a - 1], coins[a], rng) for a in range(1, coins.size)]
        return np.concatenate(kept), kept[:-1]
    parts = [spike_index if keep[0] >= 1 else spike_index[rng.random(spike_index.size) < keep[0]]]
    for k in range(1, len(keep)):
        idx = past[k - 1]
        parts.append(idx[rng.random(idx.size) < keep[k]])
    new_past = [spike_index] + past[:-1] if past else past
    return np.concatenate(parts), new_past


def _toss(index: np.ndarray, coin: float, rng) -> np.ndarray:
    if coin >= 1:
        return index
    if coin <= 0:
        return index[:0]
    return index[rng.random(index.size) < coin]


def gain_modulation(drive: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """ANN -> SNN modulation of a population's drive (or distal compartment): ``drive * y``."""
    return drive * y


def threshold_shift(
    v_threshold: torch.Tensor | float, y: torch.Tensor, scale: float
) -> torch.Tensor:
    """ANN -> SNN modulation of the threshold: ``v_threshold - scale * y``."""
    return v_threshold - scale * y


def transmission(
    y: torch.Tensor,
    gain: float = 1.0,
    spikes: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """ANN -> SNN transmission: a current ``gain * y`` or Bernoulli spikes of probability ``y``."""
    if spikes:
        return quantise(y.clamp(0, 1), "bernoulli", generator=generator)
    return gain * y


# --- modules ---------------------------------------------------------------------------------


class HybridUnit(nn.Module):
    """A hybrid unit ``Y = Q(F(H(W(X))))`` over sequences with time the last axis.

    Parameters
    ----------
    window_length : int or None
        L, steps in the window W; ``None`` means no window (each step alone, ``L = 1``).
    kernel : {"rate", "exponential"}, Tensor of shape (L,), or None
        H over the window; ``None`` sums nothing: with ``L = 1`` the step passes unchanged.
    tau_steps : float
        Time constant of the exponential kernel, in steps.
    learnable : bool
        Make the kernel and an affine gain/bias before F trainable (``nn.Parameter``), and with
        the threshold quantiser also ``theta``.
    nonlinearity : {"sigmoid", "relu", "tanh"}, callable or None
    quantiser : {"bernoulli", "threshold", "fixed_point"} or None
        Q is skipped while training (``self.training``) so that gradients flow, except for a
        learnable threshold, which is trained through ``surrogate``.
    theta : float
        Threshold of the threshold quantiser (in the units of F's output).
    bits : int
        Fractional bits of the fixed-point quantiser.
    temperature : float
        Width of the soft step that stands for a learnable threshold while training (> 0, in the
        units of F's output).
    surrogate : {"sigmoid", "straight_through"}
        How a learnable threshold is trained, see :func:`threshold_surrogate`: the soft step
        itself (default), or the hard step forward with the soft step's gradient.

    Examples
    --------
    >>> hu = HybridUnit(window_length=2, kernel=[0.5, 1.0], learnable=True,
    ...                 quantiser="threshold", theta=1.2)
    >>> hu.eval()(torch.tensor([1.0, 1.0, 0.0])).tolist()
    [0.0, 1.0, 0.0]
    >>> sorted(hu.export())
    ['bias', 'bits', 'gain', 'kernel', 'nonlinearity', 'quantiser', 'theta', 'window_length']
    """

    def __init__(
        self,
        window_length: int | None = None,
        kernel=None,
        tau_steps: float = 2.0,
        learnable: bool = False,
        nonlinearity=None,
        quantiser: str | None = None,
        theta: float = 0.5,
        bits: int = 8,
        temperature: float = 0.1,
        surrogate: str = "sigmoid",
    ):
        super().__init__()
        length = 1 if window_length is None else window_length
        _check_length(length)
        if kernel is None:
            k = torch.ones(length)
        elif isinstance(kernel, str):
            if kernel == "rate":
                k = rate_kernel(length)
            elif kernel == "exponential":
                k = exponential_kernel(length, tau_steps)
            else:
                raise ParameterError(f"kernel: {kernel!r} is not rate, exponential or a tensor")
        else:
            k = torch.as_tensor(kernel, dtype=torch.float32)
            if k.shape != (length,):
                raise ParameterError(
                    f"kernel: shape {tuple(k.shape)} does not match window_length {length}"
                )
        if isinstance(nonlinearity, str):
            if nonlinearity not in NONLINEARITIES:
                raise ParameterError(
                    f"nonlinearity: {nonlinearity!r} is not one of {', '.join(NONLINEARITIES)}"
                )
            nonlinearity = NONLINEARITIES[nonlinearity]
        if quantiser is not None and quantiser not in QUANTISERS:
            raise ParameterError(f"quantiser: {quantiser!r} is not one of {', '.join(QUANTISERS)}")
        if not temperature > 0:
            raise ParameterError(f"temperature: must be > 0, got {temperature}")
        if surrogate not in SURROGATES:
            raise ParameterError(f"surrogate: {surrogate!r} is not one of {', '.join(SURROGATES)}")
        self.window_length = length
        self.nonlinearity = nonlinearity
        self.quantiser = quantiser
        self.bits = bits
        self.temperature, self.surrogate = float(temperature), surrogate
        if learnable:
            self.kernel = nn.Parameter(k.clone())
            self.gain = nn.Parameter(torch.ones(()))
            self.bias = nn.Parameter(torch.zeros(()))
        else:
            self.register_buffer("kernel", k.clone())
            self.gain, self.bias = None, None
        if learnable and quantiser == "threshold":
            self.theta = nn.Parameter(torch.tensor(float(theta)))
        else:
            self.theta = theta

    def _post(self, h: torch.Tensor, generator=None) -> torch.Tensor:
        if self.gain is not None:
            h = self.gain * h + self.bias
        if self.nonlinearity is not None:
            h = self.nonlinearity(h)
        if self.quantiser is not None and not self.training:
            h = quantise(h, self.quantiser, theta=self.theta, bits=self.bits, generator=generator)
        elif self.quantiser == "threshold" and isinstance(self.theta, nn.Parameter):
            h = threshold_surrogate(h, self.theta, self.temperature, self.surrogate)
        return h

    def export(self) -> dict:
        """The unit frozen to plain numbers, e.g. for a Brian2 network operation.

        Returns
        -------
        dict
            ``window_length`` (int); ``kernel`` (ndarray of float64, shape (L,), oldest step
            first); ``gain`` and ``bias`` (float, the affine map before F: 1 and 0 when not
            learnable); ``nonlinearity`` (``"sigmoid"``, ``"relu"``, ``"tanh"`` or None);
            ``quantiser`` (str or None); ``theta`` (float); ``bits`` (int). The unit computes
            ``Q(F(gain * sum_k kernel[k] * window[k] + bias))``; see
            :func:`hnnbio.hybrid.learn.apply_exported`.
        """
        names = {id(f): name for name, f in NONLINEARITIES.items()}
        if self.nonlinearity is not None and id(self.nonlinearity) not in names:
            raise ParameterError(
                "nonlinearity: a custom callable cannot be exported; use sigmoid, relu or tanh"
            )
        return {
            "window_length": int(self.window_length),
            "kernel": self.kernel.detach().cpu().double().numpy().copy(),
            "gain": 1.0 if self.gain is None else float(self.gain.detach()),
            "bias": 0.0 if self.bias is None else float(self.bias.detach()),
            "nonlinearity": None if self.nonlinearity is None else names[id(self.nonlinearity)],
            "quantiser": self.quantiser,
            "theta": float(self.theta.detach() if torch.is_tensor(self.theta) else self.theta),
            "bits": int(self.bits),
        }

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Apply the HU to a whole sequence ``x`` of shape (..., T); returns shape (..., T)."""
        pad = torch.nn.functional.pad(x.float(), (self.window_length - 1, 0))
        windows = pad.unfold(-1, self.window_length, 1)  # (..., T, L)
        return self._post(kernel_apply(windows, self.kernel), generator)

    def initial_state(self, shape: tuple) -> torch.Tensor:
        """Empty window, shape (*shape, L)."""
        return torch.zeros(*shape, self.window_length)

    def step(self, x: torch.Tensor, state: torch.Tensor, generator=None):
        """One step: ``x`` shape (...,) -> (y shape (...,), new state)."""
        window, state = window_step(x.float(), state)
        return self._post(kernel_apply(window, self.kernel), generator), state


class CoincidenceWindow(nn.Module):
    """The leaky coincidence window (SNN -> ANN) of the binding loop; see :func:`coincidence_step`.

    Parameters
    ----------
    keep : sequence of float, length L
        Keep probability of a spike of age 0 .. L-1 steps, each in [0, 1] (default [1, 0.5, 0.25]).
    nested : bool
        Nested coins (a spike kept at age ``a`` was kept at every younger age), as in the
        reference binding code; ``keep`` must then be non-increasing. Default: independent coins.
    """

    def __init__(self, keep=(1.0, 0.5, 0.25), nested: bool = False):
        super().__init__()
        keep = np.asarray(keep, dtype=float)
        if keep.ndim != 1 or keep.size < 1 or not np.all((keep >= 0) & (keep <= 1)):
            raise ParameterError(
                f"keep: must be a non-empty list of probabilities in [0, 1], got {keep.tolist()}"
            )
        if nested:
            nested_coins(keep)  # refuses a keep that grows with age
        self.keep_np = keep
        self.nested = bool(nested)
        self.register_buffer("keep", torch.as_tensor(keep, dtype=torch.float32))

    def extra_repr(self) -> str:
        return f"keep={self.keep_np.tolist()}, nested={self.nested}"

    def initial_state(self, shape: tuple) -> torch.Tensor:
        """Empty window, shape (L - 1, *shape), bool.

        ``state[k - 1]`` holds the spikes of ``k`` steps ago; with ``nested``, only those still
        kept at age ``k - 1`` (the kept sets, not the raw spikes). Both start empty.
        """
        return torch.zeros((self.keep.numel() - 1, *shape), dtype=torch.bool)

    def step(self, spikes: torch.Tensor, state: torch.Tensor, generator=None):
        return coincidence_step(spikes.bool(), state, self.keep, generator, nested=self.nested)

    def forward(self, spikes: torch.Tensor, generator=None) -> torch.Tensor:
        """Whole sequence: ``spikes`` shape (..., T) -> window output shape (..., T), float."""
        state = self.initial_state(spikes.shape[:-1])
        out = []
        for t in range(spikes.shape[-1]):
            y, state = self.step(spikes[..., t], state, generator)
            out.append(y)
        return torch.stack(out, -1)


class Modulation(nn.Module):
    """ANN -> SNN modulation: ``target = "drive"`` (gain ``drive * y``) or ``"threshold"``."""

    def __init__(self, target: str = "drive", scale: float = 1.0):
        super().__init__()
        if target not in ("drive", "distal", "threshold"):
            raise ParameterError(f"target: {target!r} is not drive, distal or threshold")
        self.target, self.scale = target, scale

    def forward(self, base: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.target == "threshold":
            return threshold_shift(base, y, self.scale)
        return gain_modulation(base, y)


class Transmission(nn.Module):
    """ANN -> SNN transmission: a current ``gain * y``, or Bernoulli spikes when ``spikes``."""

    def __init__(self, gain: float = 1.0, spikes: bool = False):
        super().__init__()
        self.gain, self.spikes = gain, spikes

    def forward(self, y: torch.Tensor, generator=None) -> torch.Tensor:
        return transmission(y, self.gain, self.spikes, generator)
