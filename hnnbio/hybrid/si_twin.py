r"""A PyTorch twin of the discrete self-inhibiting (HIFI) neuron layer, with learnable per-neuron
parameters and surrogate gradients, stepped in the arithmetic order of Brian2's discrete form.

The update (:data:`hnnbio.neurons.self_inhibiting.DISCRETE_UPDATE`, the published form of Wang et
al., National Science Review 2024), for every neuron and step, with ``s`` the spike of the last
step:

.. math::

    v &\leftarrow (1 - \tau)\,(v (1 - s) + U_{rest}\, s) + \tau U_{rest}
           + C\,(I[t] - \gamma s) \\
    s &\leftarrow [v \ge \theta]

:meth:`SILayer.step` evaluates exactly that expression, term by term in the same order
(``(1 - leak) * (v * (1 - s) + v_rest * s) + leak * v_rest + gain * (i_in - w_self * s)``), then
the non-strict threshold ``v >= v_threshold`` (Brian2's ``int(v >= v_threshold)``), so in float64
the twin and Brian2 compute the same numbers and the same spikes.

Learned per neuron (``heterogeneous=True``) or shared by the layer (``heterogeneous=False``, the
homogeneous baseline, trained the same way):

- the leak rate :math:`\tau = \sigma(a)`, in (0, 1) for every real ``a`` (the update is a stable
  leaky integrator only there; ``leak = dt / tau_mem`` of the Euler-discretised membrane, so a
  negative time constant is a negative leak and is refused);
- the self-inhibition strength :math:`\gamma = \mathrm{softplus}(b) \ge 0` (a negative value would
  make the autapse excitatory);
- the threshold :math:`\theta = U_{rest} + \mathrm{softplus}(c) > U_{rest}` (the reset value of the
  discrete form is :math:`U_{rest}`, so this keeps the threshold above the reset).

The input gain C and the rest value :math:`U_{rest}` stay shared constants: C multiplies the input
current, which the learned weights already scale, and :math:`U_{rest}` shifts ``v`` like an input
bias, which the weights' bias already provides; learning them too adds parameters that the
weights make redundant. No self-inhibition decay is learned: in the published discrete form the
autapse acts for one step (:math:`\gamma s[t-1]`) and the Brian2 form has no decaying variable
for it (the continuous :func:`hnnbio.neurons.self_inhibiting.build_self_inhibiting` has
``tau_self``); the memory of the neuron is its leak, which is learned.

Gradients: the threshold's derivative is replaced by the fast-sigmoid surrogate
``1 / (1 + slope |v - theta|)^2`` (SuperSpike), with respect to both ``v`` and ``theta``; the
forward pass is the exact step. The spike ``s`` of the last step enters the reset and the
self-inhibition term as a constant (detached): gradients reach ``gamma`` through the product
``gamma * s`` and the weights through ``i_in``, not through the reset's switch.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hnnbio.errors import ParameterError


class _SpikeGE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, slope):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (1.0 + ctx.slope * x.abs()) ** 2, None


def spike_ge(x: torch.Tensor, slope: float = 5.0) -> torch.Tensor:
    """``1.0`` where ``x >= 0`` (Brian2's ``int(v >= v_threshold)`` for ``x = v - theta``);
    surrogate gradient ``1 / (1 + slope |x|)^2``."""
    return _SpikeGE.apply(x, slope)


def _number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParameterError(f"{name}: must be a finite number, got {value!r}")
    return float(value)


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _softplus_inverse(y: float) -> float:
    """``b`` with ``softplus(b) = y`` (``y > 0``)."""
    return y + math.log(-math.expm1(-y))


#: The learnable neuron parameters, in the order of :meth:`SILayer.values`.
NEURON_PARAMETERS = ("leak", "w_self", "v_threshold")


class SILayer(nn.Module):
    """A layer of ``size`` discrete self-inhibiting neurons with learnable leak, gamma, threshold.

    Parameters
    ----------
    size : int
        Neurons (>= 1).
    heterogeneous : bool or sequence of str
        True: one learnable value per neuron of each of :data:`NEURON_PARAMETERS`; False: one
        shared by the layer; a sequence: per neuron for the parameters it names only (ablations).
    leak : float
        Initial leak rate in (0, 1) (published init 0.2).
    w_self : float
        Initial self-inhibition strength gamma > 0 (published init 0.05; softplus keeps it > 0).
    v_threshold : float
        Initial threshold, > ``v_rest`` (the reset value).
    v_rest : float
        Rest and reset value (shared constant).
    gain : float
        Input gain C >= 0 (shared constant).
    slope : float
        Surrogate slope (> 0).

    Every bad value raises :class:`hnnbio.errors.ParameterError` naming the parameter.
    """

    def __init__(self, size: int, heterogeneous=True, leak: float = 0.2,
                 w_self: float = 0.05, v_threshold: float = 1.0, v_rest: float = 0.0,
                 gain: float = 1.0, slope: float = 5.0):
        super().__init__()
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ParameterError(f"size: must be an integer >= 1, got {size!r}")
        leak, w_self, v_threshold, v_rest, gain, slope = (
            _number(k, v) for k, v in (("leak", leak), ("w_self", w_self),
                                       ("v_threshold", v_threshold), ("v_rest", v_rest),
                                       ("gain", gain), ("slope", slope)))
        if not 0.0 < leak < 1.0:
            raise ParameterError(f"leak: must be in (0, 1) (leak = dt / tau_mem; a negative time "
                                 f"constant gives a negative leak), got {leak}")
        if not w_self > 0.0:
            raise ParameterError(f"w_self: must be > 0 (self-inhibition strength), got {w_self}")
        if not v_threshold > v_rest:
            raise ParameterError(f"v_threshold: must be above v_rest (the reset value, {v_rest}), "
                                 f"got {v_threshold}")
        if gain < 0:
            raise ParameterError(f"gain: must be >= 0, got {gain}")
        if not slope > 0:
            raise ParameterError(f"slope: must be > 0, got {slope}")
        if isinstance(heterogeneous, bool):
            per_neuron = NEURON_PARAMETERS if heterogeneous else ()
        else:
            per_neuron = tuple(heterogeneous)
            unknown = [k for k in per_neuron if k not in NEURON_PARAMETERS]
            if unknown:
                raise ParameterError(f"heterogeneous: unknown parameter(s) {unknown}; known: "
                                     f"{', '.join(NEURON_PARAMETERS)}")
        self.size, self.per_neuron = size, per_neuron
        self.heterogeneous = bool(per_neuron)
        self.v_rest, self.gain, self.slope = v_rest, gain, slope

        def raw(name, value):  # float64: the initial values are the given ones to ~1e-16
            n = size if name in per_neuron else 1
            return nn.Parameter(torch.full((n,), value, dtype=torch.float64))

        self.leak_raw = raw("leak", _logit(leak))
        self.w_self_raw = raw("w_self", _softplus_inverse(w_self))
        self.threshold_raw = raw("v_threshold", _softplus_inverse(v_threshold - v_rest))

    def values(self, dtype=torch.float64) -> dict:
        """Effective (leak, w_self, v_threshold), each (size,), in ``dtype``."""
        def full(t):
            return t.to(dtype).expand(self.size)

        return dict(leak=full(torch.sigmoid(self.leak_raw.to(dtype))),
                    w_self=full(nn.functional.softplus(self.w_self_raw.to(dtype))),
                    v_threshold=full(self.v_rest
                                     + nn.functional.softplus(self.threshold_raw.to(dtype))))

    def initial_state(self, batch: int, dtype=torch.float64):
        """``v = v_rest``, ``s = 0`` (as :func:`build_self_inhibiting_discrete` starts)."""
        return (torch.full((batch, self.size), self.v_rest, dtype=dtype),
                torch.zeros(batch, self.size, dtype=dtype))

    def step(self, v, s, i_in, values: dict):
        """One step of the published update; returns the new ``(v, s)``."""
        s0 = s.detach()
        leak, w_self, theta = values["leak"], values["w_self"], values["v_threshold"]
        v = ((1 - leak) * (v * (1 - s0) + self.v_rest * s0) + leak * self.v_rest
             + self.gain * (i_in - w_self * s0))
        return v, spike_ge(v - theta, self.slope)


class HifiNetwork(nn.Module):
    """Inputs -> one hidden :class:`SILayer` (optionally recurrent) -> readout integrators.

    At step ``t`` the hidden neurons get ``I[t] = x[t] W_in + b_in (+ s[t-1] W_rec)``; the readout
    adds ``s[t] W_out`` to its integrators, started at ``b_out``; the class is the largest.

    Parameters
    ----------
    n_in, n_hidden, n_out : int
    heterogeneous : bool or sequence of str
        Per-neuron (True) or shared (False) neuron parameters, see :class:`SILayer`.
    recurrent : bool
        Hidden-to-hidden weights (one step of delay, through ``i_in``).
    seed : int
        Seeds the initial weights.
    **neuron
        Initial neuron values, see :class:`SILayer`.
    """

    def __init__(self, n_in: int, n_hidden: int, n_out: int, heterogeneous=True,
                 recurrent: bool = False, seed: int = 0, **neuron):
        super().__init__()
        for name, v in (("n_in", n_in), ("n_hidden", n_hidden), ("n_out", n_out)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ParameterError(f"{name}: must be an integer >= 1, got {v!r}")
        self.hidden = SILayer(n_hidden, heterogeneous, **neuron)
        g = torch.Generator().manual_seed(seed)
        theta = self.hidden.values()["v_threshold"][0].item() - self.hidden.v_rest
        self.w_in = nn.Parameter(torch.randn(n_in, n_hidden, generator=g)
                                 * (2.0 * theta / math.sqrt(n_in)))
        self.b_in = nn.Parameter(torch.zeros(n_hidden))
        self.w_rec = nn.Parameter(torch.randn(n_hidden, n_hidden, generator=g)
                                  * (0.5 * theta / math.sqrt(n_hidden))) if recurrent else None
        self.w_out = nn.Parameter(torch.randn(n_hidden, n_out, generator=g)
                                  / math.sqrt(n_hidden))
        self.b_out = nn.Parameter(torch.zeros(n_out))
        self.n_in, self.n_out, self.recurrent = n_in, n_out, bool(recurrent)

    def currents(self, x: torch.Tensor) -> torch.Tensor:
        """Feed-forward input current ``x W_in + b_in`` of (B, T, n_in) inputs -> (B, T, N)."""
        return x @ self.w_in.to(x.dtype) + self.b_in.to(x.dtype)

    def forward(self, x: torch.Tensor, record: bool = False) -> dict:
        """Run on inputs ``x`` (B, T, n_in), one step per ``t``.

        Returns ``logits`` (B, n_out), ``counts`` (B, n_hidden) hidden spikes, and with ``record``
        ``spikes`` (B, T, n_hidden).
        """
        if x.dim() != 3 or x.shape[2] != self.n_in:
            raise ParameterError(f"x: expected shape (B, T, {self.n_in}), got {tuple(x.shape)}")
        dtype = x.dtype
        values = self.hidden.values(dtype)
        cur = self.currents(x)
        v, s = self.hidden.initial_state(x.shape[0], dtype)
        w_rec = None if self.w_rec is None else self.w_rec.to(dtype)
        w_out = self.w_out.to(dtype)
        logits = self.b_out.to(dtype).expand(x.shape[0], -1)
        counts = torch.zeros_like(v)
        spikes = []
        for t in range(x.shape[1]):
            i_in = cur[:, t] if w_rec is None else s @ w_rec + cur[:, t]
            v, s = self.hidden.step(v, s, i_in, values)
            logits = logits + s @ w_out
            counts = counts + s
            if record:
                spikes.append(s)
        out = dict(logits=logits, counts=counts)
        if record:
            out["spikes"] = torch.stack(spikes, dim=1)
        return out
