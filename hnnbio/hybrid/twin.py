r"""A PyTorch twin of Brian2 LIF populations: the same discretised equations, with surrogate
gradients, for training spiking networks that then run in Brian2 as trained.

The discretisation both share
-----------------------------
A population of the form

.. math::

    \tau_{mem} \frac{dv}{dt} = v_\infty - v, \qquad v_\infty = v_{drive}\, i_{in}\, a

(``v_inf`` held constant over a step, as Brian2 holds every variable a network operation writes)
is integrated by Brian2's ``method = "exact"``, which for this linear equation is the exact
exponential update (Brian2 2.9 generates, for the equations of
:mod:`hnnbio.experiments.classification`, ``_v = v_inf - v_inf*exp(-dt/tau_mem) +
v*exp(-dt/tau_mem)``; :func:`integrate` evaluates that same expression, in that order):

.. math::

    v[t] = v_\infty - v_\infty e^{-dt/\tau_{mem}} + v[t-1]\, e^{-dt/\tau_{mem}}

A step follows Brian2's schedule ``groups, thresholds, synapses, resets, end``: every population
integrates (:func:`integrate`), every population thresholds (``s = v > v_threshold``, strict,
:func:`spike`), every synapse adds its weight to its target's ``v`` for this step's presynaptic
spikes (``on_pre = "v_post += w * mV"``, no delay), every population that spiked resets
(``v = v_reset``, which overrides an input that arrived in the step of the spike,
:func:`reset`), and last the network operation (the HNN engine's hybrid units and networks)
writes the values of the next step. :class:`FeedforwardTwin` is that step for an encoding layer,
hidden LIF layers and a readout of non-leaky integrators, with an optional attention network that
multiplies the encoding layer's drive.

Under a constant drive ``v_inf > v_threshold`` from ``v = v_reset = 0`` the discrete neuron
fires every ``k`` steps, ``k`` the first integer with ``v_inf (1 - e^{-k dt / tau}) >
v_threshold``: ``k = floor(tau / dt * ln(v_inf / (v_inf - v_threshold))) + 1`` (the continuous
ISI rounded up to whole steps, one more step when it is an exact multiple), which
``tests/literature/test_twin.py`` checks for the twin and for Brian2.

Gradients: the threshold's derivative is replaced by the fast-sigmoid surrogate
``1 / (1 + slope |v - v_threshold| / v_threshold)^2`` (Zenke & Ganguli's SuperSpike); the
forward pass is the exact Heaviside step, so a trained twin and Brian2 give the same spikes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from hnnbio.errors import ParameterError


def decay_factor(tau_ms: float, dt_ms: float) -> float:
    """``exp(-dt / tau)``, the factor of one exact step of a leak with time constant ``tau``."""
    if not (tau_ms > 0 and dt_ms > 0 and math.isfinite(tau_ms) and math.isfinite(dt_ms)):
        raise ParameterError(f"tau_ms and dt_ms: must be finite and > 0, got {tau_ms}, {dt_ms}")
    return math.exp(-dt_ms / tau_ms)


def integrate(v: torch.Tensor, v_inf, decay: float) -> torch.Tensor:
    """One exact step of ``tau dv/dt = v_inf - v`` (Brian2's ``exact`` expression, same order)."""
    return v_inf - v_inf * decay + v * decay


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, slope):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (1.0 + ctx.slope * x.abs()) ** 2, None


def spike(v: torch.Tensor, v_threshold: float, slope: float = 5.0) -> torch.Tensor:
    """``1.0`` where ``v > v_threshold`` (Brian2's strict threshold); surrogate gradient
    ``1 / (1 + slope |v - v_threshold| / |v_threshold|)^2`` (slope per threshold distance)."""
    return _Spike.apply(v - v_threshold, slope / max(abs(v_threshold), 1e-12))


def reset(v: torch.Tensor, s: torch.Tensor, v_reset: float) -> torch.Tensor:
    """``v = v_reset`` where ``s`` (the reset path carries no gradient through ``s``)."""
    s = s.detach()
    return v * (1.0 - s) + v_reset * s


def isi_steps(v_inf: float, v_threshold: float, tau_ms: float, dt_ms: float) -> int | None:
    """Steps between spikes of the discrete neuron under a constant drive from ``v_reset = 0``
    (None when ``v_inf <= v_threshold``: it never fires); see the module docstring."""
    if v_inf <= v_threshold:
        return None
    return math.floor(tau_ms / dt_ms * math.log(v_inf / (v_inf - v_threshold))) + 1


@dataclass(frozen=True)
class LIFLayer:
    """Parameters of one twin layer (mV and ms; ``v_rest = 0``)."""

    size: int
    tau_mem_ms: float
    v_threshold_mv: float
    v_reset_mv: float = 0.0

    def __post_init__(self):
        if self.size < 1 or not self.tau_mem_ms > 0 or not self.v_reset_mv < self.v_threshold_mv:
            raise ParameterError(f"LIFLayer: bad parameters {self}")


class ConvWeights(nn.Module):
    """A 2-D convolution of a ``side x side`` image, as the dense matrix of its synapses.

    ``channels`` kernels of ``kernel x kernel`` (stride 1, zero padding ``kernel // 2``): hidden
    neuron ``(c, i, j)`` (index ``c * side**2 + i * side + j``) receives pixel ``(i + a, j + b)``
    with weight ``kernel[c, a + kernel // 2, b + kernel // 2]``. :meth:`forward` returns the
    (side**2, channels * side**2) matrix, computed as the convolution of the side**2 basis
    images, so it is linear in the kernels and the shared weights train as one parameter.
    """

    def __init__(self, side: int, channels: int, kernel: int, scale: float):
        super().__init__()
        if side < 1 or channels < 1 or kernel < 1 or kernel % 2 == 0:
            raise ParameterError(f"ConvWeights: side, channels >= 1 and an odd kernel, got "
                                 f"{side}, {channels}, {kernel}")
        self.side, self.channels, self.size = side, channels, kernel
        self.kernel = nn.Parameter(torch.randn(channels, 1, kernel, kernel) * scale)

    def forward(self) -> torch.Tensor:
        n = self.side * self.side
        basis = torch.eye(n, dtype=self.kernel.dtype).view(n, 1, self.side, self.side)
        out = torch.nn.functional.conv2d(basis, self.kernel, padding=self.size // 2)
        return out.reshape(n, -1)


class FeedforwardTwin(nn.Module):
    """Encoding layer -> hidden LIF layer -> readout integrators, stepped as Brian2 steps them.

    Parameters
    ----------
    encoding, hidden : LIFLayer
    n_out : int
        Readout neurons: non-leaky integrators ``v`` (mV), started at ``bias``; the class is the
        largest ``v`` after the run.
    dt_ms : float
    v_drive_mv : float
        ``v_inf`` of an encoding neuron at input 1 and attention 1.
    attention : nn.Module or None
        (B, hidden.size) rates -> (B, encoding.size) logits; its sigmoid multiplies the encoding
        drive from the next step on (delay 1 step, 1 before its first output).
    window : int
        Steps of the rate kernel (mean of the hidden spikes of the last ``window`` steps).
    conv : int
        0: ``w_in`` is a dense matrix; an odd ``k``: the encoding layer is a square image and
        ``w_in`` is a ``k x k`` convolution of it (:class:`ConvWeights`, ``hidden.size /
        encoding.size`` channels), trained as shared kernels and run as its dense matrix.
    """

    def __init__(self, encoding: LIFLayer, hidden: LIFLayer, n_out: int, dt_ms: float,
                 v_drive_mv: float, attention: nn.Module | None = None, window: int = 4,
                 slope: float = 5.0, conv: int = 0):
        super().__init__()
        self.encoding, self.hidden, self.n_out = encoding, hidden, n_out
        self.dt_ms, self.v_drive_mv, self.window, self.slope = dt_ms, v_drive_mv, window, slope
        if conv:
            side = math.isqrt(encoding.size)
            if side * side != encoding.size or hidden.size % encoding.size:
                raise ParameterError(f"conv: needs a square encoding layer and a hidden layer "
                                     f"of whole channels, got {encoding.size} -> {hidden.size}")
            self.conv = ConvWeights(side, hidden.size // encoding.size, conv,
                                    3.0 * hidden.v_threshold_mv / conv)
            self.w_in = None
        else:
            self.conv = None
            self.w_in = nn.Parameter(torch.randn(encoding.size, hidden.size)
                                     * (3.0 * hidden.v_threshold_mv / math.sqrt(encoding.size)))
        self.w_out = nn.Parameter(torch.randn(hidden.size, n_out) / math.sqrt(hidden.size))
        self.bias = nn.Parameter(torch.zeros(n_out))
        self.attention = attention

    def input_weights(self) -> torch.Tensor:
        """(encoding.size, hidden.size) encoding -> hidden weights in mV (dense or conv)."""
        return self.w_in if self.conv is None else self.conv()

    def forward(self, x: torch.Tensor, steps: int) -> dict:
        """Run ``steps`` steps on inputs ``x`` (B, encoding.size) in [0, 1].

        Returns a dict: ``logits`` (B, n_out) readout ``v`` in mV; ``spikes_encoding`` and
        ``spikes_hidden`` (B, size) spike counts; ``attention`` (B, steps, encoding.size), the
        multiplier applied at each step.
        """
        enc, hid = self.encoding, self.hidden
        e_enc, e_hid = decay_factor(enc.tau_mem_ms, self.dt_ms), decay_factor(hid.tau_mem_ms,
                                                                               self.dt_ms)
        B, dtype = x.shape[0], x.dtype
        w_in, w_out = self.input_weights().to(dtype), self.w_out.to(dtype)
        v_enc = torch.zeros(B, enc.size, dtype=dtype)
        v_hid = torch.zeros(B, hid.size, dtype=dtype)
        v_out = self.bias.to(dtype).expand(B, -1)
        att = torch.ones(B, enc.size, dtype=dtype)
        history = [torch.zeros(B, hid.size, dtype=dtype)] * self.window
        count_enc = torch.zeros(B, enc.size, dtype=dtype)
        count_hid = torch.zeros(B, hid.size, dtype=dtype)
        applied = []
        for _ in range(steps):
            applied.append(att)
            v_enc = integrate(v_enc, self.v_drive_mv * x * att, e_enc)  # groups
            v_hid = v_hid * e_hid
            s_enc = spike(v_enc, enc.v_threshold_mv, self.slope)  # thresholds
            s_hid = spike(v_hid, hid.v_threshold_mv, self.slope)
            v_hid = v_hid + s_enc @ w_in  # synapses
            v_out = v_out + s_hid @ w_out
            v_enc = reset(v_enc, s_enc, enc.v_reset_mv)  # resets
            v_hid = reset(v_hid, s_hid, hid.v_reset_mv)
            count_enc = count_enc + s_enc
            count_hid = count_hid + s_hid
            if self.attention is not None:  # end: the engine's units and network
                history = [*history[1:], s_hid]
                # detached: the feedback loop is cut for gradients (the attention network
                # learns through the drive it multiplies; the SNN's weights are not trained
                # back through the loop, whose 24-step gradients swamped the spike cost)
                rates = (sum(h.float() for h in history) / self.window).detach()
                att = torch.sigmoid(self.attention(rates).float()).to(dtype)
        return dict(logits=v_out, spikes_encoding=count_enc, spikes_hidden=count_hid,
                    attention=torch.stack(applied, dim=1))
