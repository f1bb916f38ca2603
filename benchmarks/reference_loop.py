"""The reference binding loop, one image at a time, in plain numpy + torch (the speed baseline).

A re-implementation of the published per-image algorithm (DASBE; see the reference notes in
docs/binding): per step, numpy operations on one image's N units and one autoencoder call on a
(1, N) batch, then the per-image readout (scikit-learn k-means with K = objects + 1 on the smoothed
spikes of the last 10 cycles) and AMI over object pixels. Run on one thread.

    u = x * c_t + xi,  xi ~ U(0, 1);  s_t = [u > 1] and not refractory (r silent steps)
    a_t = s_t OR (s_{t-1} AND [u' < 0.5]) OR (s_{t-2} AND [u'' < 0.25])
    c_{t+D} = AE(a_t)
"""

from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_mutual_info_score


def reference_run_one(
    image: np.ndarray,
    autoencoder,
    steps_per_cycle: int,
    refractory_steps: int,
    cycles: int,
    keep=(1.0, 0.5, 0.25),
    rng=None,
) -> np.ndarray:
    """Simulate one image; returns the spike raster, shape (cycles * D, N), bool."""
    rng = rng or np.random.default_rng(0)
    x = image.reshape(-1).astype(np.float64)
    n = x.size
    c = np.abs(rng.standard_normal((steps_per_cycle, n)))
    c /= c.sum(0, keepdims=True)
    n_steps = cycles * steps_per_cycle
    spikes = np.zeros((n_steps, n), dtype=bool)
    last_spike = np.full(n, -(10**9))
    with torch.no_grad():
        for t in range(n_steps):
            slot = t % steps_per_cycle
            u = x * c[slot] + rng.random(n)
            s = (u > 1) & (t - last_spike > refractory_steps)
            last_spike[s] = t
            spikes[t] = s
            window = s.copy()
            for k in range(1, len(keep)):
                if t - k >= 0:
                    window |= spikes[t - k] & (rng.random(n) < keep[k])
            out = autoencoder(torch.from_numpy(window.astype(np.float32))[None])
            c[slot] = out[0].numpy()
    return spikes


def reference_readout(
    spikes: np.ndarray,
    truth: np.ndarray,
    steps_per_cycle: int,
    readout_cycles: int = 10,
    seed: int = 0,
) -> float:
    """k-means (K = objects + 1) on the smoothed last cycles; AMI over object pixels."""
    last = spikes[-readout_cycles * steps_per_cycle :].astype(np.float32)
    smooth = last.copy()
    smooth[1:] += 0.5 * last[:-1]
    k = np.unique(truth[truth > 0]).size + 1
    labels = KMeans(n_clusters=k, init="k-means++", n_init=1, random_state=seed).fit_predict(
        smooth.T
    )
    fg = truth.reshape(-1) > 0
    return float(adjusted_mutual_info_score(truth.reshape(-1)[fg], labels[fg]))


def reference_bind(
    images, truth, autoencoder, spec, cycles=None, seed=0
) -> tuple[np.ndarray, float]:
    """Run the reference loop image by image; returns (AMI per image, seconds)."""
    torch.set_num_threads(1)
    cycles = cycles or spec.loop["cycles"]
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    scores = []
    for image, labels in zip(images, truth, strict=True):
        spikes = reference_run_one(
            image,
            autoencoder,
            spec.steps_per_cycle,
            int(spec.sheet_params["refractory_steps"]),
            cycles,
            spec.bottom_up["keep"],
            rng,
        )
        scores.append(
            reference_readout(
                spikes, labels, spec.steps_per_cycle, min(spec.loop["readout_cycles"], cycles)
            )
        )
    return np.array(scores), time.perf_counter() - start
