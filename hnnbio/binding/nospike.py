"""The no-spike baseline: the same loop without spikes ("same loop without spikes" of the paper).

The autoencoder receives the gated input directly, a continuous map instead of spikes::

    a_t = x * c_t,   r_t = AE(a_t),   c_{t+D} = r_t

with the same delay ring buffer and initial attention ``|N(0, 1)|`` normalised over the D slots as
the spiking loop. The readout clusters the continuous activity ``a_t`` of the last ``R`` cycles
(smoothed like spikes) with the same k-means and K = objects + 1.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from hnnbio.analysis.result import BindingResult
from hnnbio.binding.evaluate import evaluate
from hnnbio.binding.readout import smooth
from hnnbio.hybrid.delay import DelayLine, random_soft_assignment


def run_nospike(
    images: np.ndarray,
    autoencoder: torch.nn.Module,
    spec,
    seed: int = 0,
    truth: np.ndarray | None = None,
    cycles: int | None = None,
    n_objects=None,
) -> BindingResult:
    """Run the no-spike loop on all images at once and score it.

    Parameters
    ----------
    images : ndarray, shape (n_images, height, width), binary
    autoencoder : torch.nn.Module
        (B, N) -> (B, N) in [0, 1].
    spec : ModelSpec
    truth : ndarray, shape (n_images, height, width), optional
        Ground-truth labels; with them ``metrics["ami"]`` and ``metrics["ami_auto"]`` are filled.

    Returns
    -------
    BindingResult
        ``backend="nospike"``, no spikes; ``attention`` of the last cycle; labels and metrics.
    """
    start = time.perf_counter()
    n_images = images.shape[0]
    x = torch.as_tensor(images.reshape(n_images, -1), dtype=torch.float32)
    n_pixels = x.shape[1]
    steps_per_cycle = spec.steps_per_cycle
    n_cycles = int(cycles if cycles is not None else spec.loop["cycles"])
    readout_cycles = min(int(spec.loop["readout_cycles"]), n_cycles)
    n_steps = n_cycles * steps_per_cycle
    rng = np.random.default_rng(seed)
    delay = DelayLine(
        spec.delay_steps,
        (n_images, n_pixels),
        initial=random_soft_assignment(spec.delay_steps, (n_images, n_pixels), rng),
    )
    first = n_steps - readout_cycles * steps_per_cycle
    activity = np.zeros((n_images, n_steps - first, n_pixels), dtype=np.float32)
    attention = np.zeros((n_images, steps_per_cycle, n_pixels), dtype=np.float32)
    autoencoder.eval()
    with torch.no_grad():
        for t in range(n_steps):
            c = torch.from_numpy(delay.read(t))
            a = x * c
            if t >= first:
                activity[:, t - first] = a.numpy()
            if t >= n_steps - steps_per_cycle:
                attention[:, t - (n_steps - steps_per_cycle)] = c.numpy()
            delay.write(t, autoencoder(a).numpy())
    empty = np.zeros(0, dtype=np.int64)
    result = BindingResult(
        images=np.asarray(images, dtype=np.uint8),
        spike_image=empty,
        spike_step=empty,
        spike_pixel=empty,
        n_steps=n_steps,
        steps_per_cycle=steps_per_cycle,
        dt_ms=float(spec.loop["dt_ms"]),
        attention=attention.reshape(n_images, steps_per_cycle, *images.shape[1:]),
        truth=truth,
        model=spec.name,
        backend="nospike",
        info=dict(seed=seed, cycles=n_cycles, readout_cycles=readout_cycles),
    )
    features = np.ascontiguousarray(smooth(activity, spec.readout["smoothing"]).transpose(0, 2, 1))
    if truth is not None or n_objects is not None:
        evaluate(result, n_objects=n_objects, features=features, seed=seed)
    result.seconds = time.perf_counter() - start
    return result
