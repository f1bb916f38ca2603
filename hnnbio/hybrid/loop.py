"""The closed loop: a Brian2 sheet and a PyTorch autoencoder co-simulated in one Brian2 run.

Per step ``t`` (D steps per cycle, I cycles; reference semantics):

1. the sheet spikes with probability ``x * c_t`` (reference sheet) or its own dynamics (column);
2. a network operation at the end of the step reads the step's spikes and applies the bottom-up
   hybrid unit (leaky coincidence window, :func:`hnnbio.hybrid.units.coincidence_step_sparse`)::

       a_t = OR_k ( s_{t-k} AND [u < keep[k]] )

3. runs the autoencoder on the whole (B, N) batch, ``r_t = AE(a_t)`` (no gradients);
4. writes ``r_t`` into slot ``t mod D`` of the delay ring buffer and sets the attention of step
   ``t + 1`` to slot ``(t + 1) mod D``: feedback from step t of a cycle applies at step t of the
   next cycle, ``c_{t+D} = r_t``.

Initially ``c[slot, p] = |N(0, 1)|`` normalised so that each pixel's D slots sum to 1.

One ``Network.run`` per batch; state is read and written through unit-less arrays; spikes are kept
as per-step index arrays (sparse). For hnnbio's own fully connected autoencoder the first layer is
computed from the active inputs only (``z = b_1 + sum_{p active} W_1[:, p]``, the same value as the
dense product of a binary input, a few active pixels per image instead of N); any other network
gets the dense (B, N) input. The loop reads only ``spec.steps_per_cycle``, ``spec.delay_steps``,
``spec.loop`` and ``spec.bottom_up`` (a :class:`hnnbio.binding.spec.ModelSpec` or any object with
those attributes).
"""

from __future__ import annotations

import gc

import numpy as np
import torch
from brian2 import Network, NetworkOperation, ms
from brian2 import seed as brian_seed

from hnnbio.errors import DataError, ParameterError
from hnnbio.hybrid.delay import DelayLine
from hnnbio.hybrid.units import CoincidenceWindow, coincidence_step_sparse


def run_loop(
    sheet,
    autoencoder: torch.nn.Module,
    images: np.ndarray,
    spec,
    seed: int = 0,
    cycles: int | None = None,
    progress: bool = False,
) -> dict:
    """Run the closed binding loop on one batch.

    Parameters
    ----------
    sheet : hnnbio.circuits.sheet.Sheet
        A fresh sheet of ``n_images = B`` and ``n_pixels = N``, with a ``dt`` attribute (ms).
    autoencoder : torch.nn.Module
        Maps (B, N) float32 in {0, 1} to (B, N) in [0, 1].
    images : ndarray, shape (B, N)
        Binary input images, flattened.
    spec : ModelSpec
    seed : int
        Seeds the window's draws, the initial attention and Brian2's ``rand()``.
    cycles : int, optional
        Overrides ``spec.loop["cycles"]``.

    Returns
    -------
    dict
        ``spike_image``, ``spike_step``, ``spike_pixel`` (int arrays, one row per spike; int32
        when ``B * N`` and the step count fit it, which halves the memory of millions of spikes),
        ``attention`` (B, D, N) float32 (attention applied at each step of the last cycle),
        ``n_steps`` (int) and ``steps_per_cycle`` (int).
    """
    images = np.asarray(images)
    if images.ndim != 2 or images.shape != (sheet.n_images, sheet.n_pixels):
        raise DataError(
            f"images: shape {images.shape} does not fit the sheet "
            f"({sheet.n_images}, {sheet.n_pixels})"
        )
    n_cycles = int(cycles if cycles is not None else spec.loop["cycles"])
    if n_cycles < 1:
        raise ParameterError(f"cycles: must be >= 1, got {n_cycles}")
    steps_per_cycle = int(spec.steps_per_cycle)
    delay_steps = int(spec.delay_steps)
    n_steps = n_cycles * steps_per_cycle
    n_images, n_pixels = images.shape
    rng = np.random.default_rng(seed)
    brian_seed(seed)

    keep = CoincidenceWindow(spec.bottom_up["keep"]).keep_np
    delay = DelayLine(
        delay_steps,
        (n_images, n_pixels),
        initial=_soft_assignment(delay_steps, (n_images, n_pixels), rng),
    )
    sheet.set_input(images.astype(float))
    sheet.set_attention(delay.read(0))
    first_recorded = n_steps - steps_per_cycle
    attention = np.zeros((n_images, steps_per_cycle, n_pixels), dtype=np.float32)
    if first_recorded == 0:
        attention[:, 0] = delay.read(0)

    flat_input = np.zeros(n_images * n_pixels, dtype=np.float32)
    net_input = torch.from_numpy(flat_input).view(n_images, n_pixels)
    active_mask = np.zeros(n_images * n_pixels, dtype=bool)  # the window's OR, reset each step
    slots = [torch.from_numpy(delay.buffer[k]).view(n_images, n_pixels) for k in range(delay_steps)]
    step_index = getattr(sheet, "step_indices", None)
    if step_index is None:  # a sheet without the fast accessor

        def step_index():
            return np.flatnonzero(sheet.step_spikes())

    recorded: list[np.ndarray] = []
    index_type = np.int32 if max(n_images * n_pixels, n_steps) < 2**31 else np.int64
    past = [np.zeros(0, dtype=index_type)] * (len(keep) - 1)
    state = {"t": 0, "past": past}
    bar = _progress(n_cycles, progress)
    autoencoder.eval()
    from hnnbio.ann.autoencoder import sparse_input_forward

    sparse_forward = sparse_input_forward(autoencoder, n_images, n_pixels)

    def operation():
        t = state["t"]
        idx = np.array(step_index(), dtype=index_type)
        recorded.append(idx)
        kept, state["past"] = coincidence_step_sparse(idx, state["past"], keep, rng)
        slot = slots[t % delay_steps]
        with torch.no_grad():
            if sparse_forward is not None:  # OR of the window: each active unit once, sorted
                active_mask[kept] = True
                active = np.flatnonzero(active_mask)
                active_mask[active] = False
                sparse_forward(active, out=slot)  # r_t straight into slot t mod D
            else:
                flat_input.fill(0.0)
                flat_input[kept] = 1.0
                slot.copy_(autoencoder(net_input))
        nxt = delay.read(t + 1)
        sheet.set_attention(nxt)
        if first_recorded <= t + 1 < n_steps:
            attention[:, t + 1 - first_recorded] = nxt
        state["t"] = t + 1
        if bar is not None and (t + 1) % steps_per_cycle == 0:
            bar.update(1)

    op = NetworkOperation(operation, dt=sheet.dt * ms, when="end")
    net = Network(*sheet.objects, op)
    gc.freeze()  # the many long-lived objects of the run stay out of the collector's scans
    try:
        net.run(n_steps * sheet.dt * ms)
    finally:
        gc.unfreeze()
        if bar is not None:
            bar.close()
    if state["t"] != n_steps:
        raise RuntimeError(f"loop ran {state['t']} of {n_steps} steps")

    counts = np.fromiter((r.size for r in recorded), dtype=np.int64, count=len(recorded))
    flat = np.concatenate(recorded) if recorded else np.zeros(0, dtype=index_type)
    return dict(
        spike_image=flat // n_pixels,
        spike_step=np.repeat(np.arange(n_steps, dtype=index_type), counts),
        spike_pixel=flat % n_pixels,
        attention=attention,
        n_steps=n_steps,
        steps_per_cycle=steps_per_cycle,
    )


def _soft_assignment(n_slots: int, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """|N(0, 1)| normalised over the slots, shape (n_slots, *shape), float32; the draws in float32
    (as :func:`hnnbio.hybrid.delay.random_soft_assignment`, half the time and memory)."""
    c = np.abs(rng.standard_normal((n_slots, *shape), dtype=np.float32))
    c /= c.sum(axis=0, keepdims=True)
    return c


def _progress(total: int, show: bool):
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="cycle", leave=False)
