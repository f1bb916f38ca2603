"""How the engine runs the hybrid units and networks of a graph, one step at a time.

State lives in these small objects (flat arrays over ``B * size`` values, sample-major); the
stage arithmetic is that of :mod:`hnnbio.hybrid.units`. Per step ``t`` (end of the step):

1. each SNN -> ANN unit takes the flat indices that spiked and updates its window;
2. each network due at ``t`` reads its inputs (concatenated) and computes its output;
3. each ANN -> SNN unit passes that output through F and Q into its delay line and writes the
   value due at step ``t + 1`` into its target variable.

Delay line: a value made at step ``p`` with delay ``d`` applies at step ``p + d``. It is stored in
slot ``(p + d) mod R`` of a ring of ``R`` slots and the slot ``(t + 1) mod R`` is read for step
``t + 1``. A network fed by a population makes its value for ``p = t`` (so ``d >= 1``, ``R = d``);
a network fed only by inputs makes it for ``p = t + 1`` from the next step's input (``d >= 0``,
``R = d + 1``).
"""

from __future__ import annotations

import numpy as np
import torch

from hnnbio.hybrid.units import (
    NONLINEARITIES,
    coincidence_step_sparse,
    exponential_kernel,
    quantise,
    rate_kernel,
)


class SpikeWindow:
    """SNN -> ANN unit: spikes (flat indices) -> (B * n,) float32 values, or sparse indices."""

    def __init__(self, node, n_flat: int, rng: np.random.Generator):
        self.node, self.n_flat, self.rng = node, n_flat, rng
        self.coincidence = node.kernel == "coincidence"
        self.binary = (self.coincidence and node.nonlinearity is None) or node.quantiser in (
            "bernoulli", "threshold")
        if self.coincidence:
            self.keep = np.asarray(node.keep, dtype=float)
            self.past = [np.zeros(0, dtype=np.int64)] * (len(self.keep) - 1)
            self.kept = np.zeros(0, dtype=np.int64)
            self._mask = np.zeros(n_flat, dtype=bool)
        elif node.kernel == "learnable":
            self.module = node.module.eval()
            self.state = self.module.initial_state((n_flat,))
        else:
            length = node.window
            if node.kernel == "rate":
                k = rate_kernel(length)
            elif node.kernel == "exponential":
                k = exponential_kernel(length, node.tau_steps)
            elif node.kernel is None:
                k = torch.ones(length)
            else:
                k = torch.as_tensor(np.asarray(node.kernel, dtype=np.float32))
            self.kernel = k.numpy().astype(np.float32)
            self.history = np.zeros((length, n_flat), dtype=np.float32)
        self.t = 0

    def step(self, spikes: np.ndarray) -> None:
        if self.coincidence:
            # the window keeps this step's indices: a copy, since a population may hand over a
            # view of Brian2's spike space, which the next step overwrites
            spikes = np.array(spikes, dtype=np.int64)
            self.kept, self.past = coincidence_step_sparse(spikes, self.past, self.keep, self.rng,
                                                           **self._nested())
        elif self.node.kernel == "learnable":
            x = torch.zeros(self.n_flat)
            x[torch.from_numpy(np.asarray(spikes, dtype=np.int64))] = 1.0
            with torch.no_grad():
                self.value_t, self.state = self.module.step(x, self.state)
        else:
            row = self.history[self.t % len(self.kernel)]
            row.fill(0.0)
            row[spikes] = 1.0
        self.t += 1

    def _nested(self) -> dict:
        return {"nested": True} if self.node.nested else {}

    def active(self) -> np.ndarray:
        """Sorted unique flat indices whose (binary) output is 1."""
        if self.coincidence and self.node.quantiser is None:
            mask = self._mask
            mask[self.kept] = True
            active = np.flatnonzero(mask)
            mask[active] = False
            return active
        return np.flatnonzero(self.dense() > 0)

    def dense(self) -> np.ndarray:
        """The unit's output, shape (B * n,), float32."""
        if self.coincidence:
            out = np.zeros(self.n_flat, dtype=np.float32)
            out[self.kept] = 1.0
        elif self.node.kernel == "learnable":
            return self.value_t.numpy().astype(np.float32)
        else:
            length = len(self.kernel)
            order = (self.t + np.arange(length)) % length  # oldest first, newest last
            out = self.kernel @ self.history[order]
        return post_stages(self.node, out, self.rng)


def post_stages(node, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """F then Q of a unit on flat float32 values (numpy; the torch forms in hybrid.units)."""
    if node.nonlinearity is not None:
        y = NONLINEARITIES[node.nonlinearity](torch.from_numpy(np.asarray(y))).numpy()
    if node.quantiser == "bernoulli":
        y = (rng.random(y.shape, dtype=np.float32) < y).astype(np.float32)
    elif node.quantiser is not None:
        y = quantise(torch.from_numpy(np.asarray(y, dtype=np.float32)), node.quantiser,
                     theta=node.theta, bits=node.bits).numpy()
    return np.asarray(y, dtype=np.float32)


class NetworkStep:
    """A network in the loop: reads its inputs, keeps its last output (B, n_out) float32."""

    def __init__(self, node, n_samples: int, sizes: tuple, fed: bool, device: str):
        self.node, self.n_samples, self.fed = node, n_samples, fed
        self.device = torch.device(device)
        self.module = node.module.to(self.device).eval()
        self.n_in, self.n_out = sizes
        self.output = torch.zeros(n_samples, self.n_out)
        self.sparse = None
        if device == "cpu" and len(node.inputs) == 1:
            from hnnbio.ann.autoencoder import sparse_input_forward

            self.sparse = sparse_input_forward(self.module, n_samples, self.n_in)

    def due(self, step: int) -> bool:
        return step % self.node.every == 0

    def forward(self, inputs: list, out: torch.Tensor | None = None) -> torch.Tensor:
        """``inputs``: per input either ("sparse", flat active indices) or ("dense", (B, n))."""
        with torch.no_grad():
            if self.sparse is not None and inputs[0][0] == "sparse":
                y = self.sparse(inputs[0][1], out=out)
            else:
                parts = [torch.from_numpy(_dense(kind, v, self.n_samples)).to(self.device)
                         for kind, v in inputs]
                x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
                y = self.module(x.reshape(self.n_samples, -1)).float().cpu()
                if out is not None:
                    out.copy_(y)
                    y = out
        self.output = y
        return y


def _dense(kind: str, value, n_samples: int) -> np.ndarray:
    if kind == "dense":
        return np.asarray(value, dtype=np.float32).reshape(n_samples, -1)
    raise ValueError(kind)


class DelayedWrite:
    """ANN -> SNN unit: F, Q, a delay line, then a write into the target variable."""

    def __init__(self, node, n_flat: int, fed: bool, rng: np.random.Generator, base=None):
        self.node, self.rng, self.fed = node, rng, fed
        self.slots = max(node.delay_steps + (0 if fed else 1), 1)
        self.ring = initial_ring(node.initial, self.slots, n_flat, rng)
        self.base = None if base is None else np.asarray(base, dtype=np.float32)
        self.direct = node.nonlinearity is None and node.quantiser is None and node.gain == 1.0

    def slot_for(self, produced_step: int) -> torch.Tensor:
        """The ring slot (a tensor view) where the value made at ``produced_step`` goes."""
        return torch.from_numpy(self.ring[(produced_step + self.node.delay_steps) % self.slots])

    def put(self, produced_step: int, y: torch.Tensor) -> None:
        """Store the network output ``y`` (B, n) made at ``produced_step`` (after F and Q)."""
        slot = self.ring[(produced_step + self.node.delay_steps) % self.slots]
        value = y.reshape(-1).numpy()
        if not self.direct:
            value = post_stages(self.node, value, self.rng)
        if value is not slot and not np.shares_memory(value, slot):
            slot[:] = value

    def due(self, step: int) -> np.ndarray:
        """The values to apply at ``step``, shape (B * n,)."""
        return self.ring[step % self.slots]

    def apply(self, population, step: int) -> np.ndarray:
        """Write the values due at ``step`` into the target variable; return what was applied."""
        node, y = self.node, self.due(step)
        op = node.operation
        if op == "set":
            value = y if node.gain == 1.0 else node.gain * y
            population.write(node.variable, value)
            return value
        current = population.read(node.variable)
        if op == "add":
            value = current + node.gain * y
        elif op == "spikes":
            value = current + node.gain * (self.rng.random(y.shape) < y)
        elif op == "multiply":
            value = self.base * (node.gain * y)
        else:  # shift
            value = self.base - node.gain * y
        population.write(node.variable, value.astype(current.dtype, copy=False))
        return value


def initial_ring(initial, slots: int, n_flat: int, rng: np.random.Generator) -> np.ndarray:
    """The delay line's content before the first write, shape (slots, n_flat), float32.

    ``soft_assignment``: ``|N(0, 1)|`` normalised so that each value's slots sum to 1 (the
    binding loop's random soft assignment of pixels to the phases of a cycle).
    """
    if initial == "soft_assignment":
        c = np.abs(rng.standard_normal((slots, n_flat), dtype=np.float32))
        c /= c.sum(axis=0, keepdims=True)
        return c
    value = {"zeros": 0.0, "ones": 1.0}.get(initial, initial)
    return np.full((slots, n_flat), float(value), dtype=np.float32)
