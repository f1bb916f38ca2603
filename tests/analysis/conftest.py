"""Synthetic binding results with a known answer: objects firing at distinct phases of the cycle.

Object k (1..K) fires once per cycle at phase ``k * D // (K + 1)`` (steps), each spike shifted by a
jitter uniform in ``-jitter..jitter`` steps and kept with probability ``p_fire``; background pixels
are silent. Pixels of one object are therefore synchronous, pixels of two objects are not: the
ground truth of every within-versus-across test.
"""

import numpy as np
import pytest

from hnnbio.analysis.result import BindingResult


def make_result(
    n_images=2,
    height=6,
    width=6,
    n_objects=3,
    steps_per_cycle=24,
    cycles=8,
    jitter=1,
    p_fire=0.9,
    dt_ms=1.0,
    seed=0,
    metrics=True,
):
    rng = np.random.default_rng(seed)
    n_pixels = height * width
    truth = np.zeros((n_images, n_pixels), dtype=np.int64)
    for i in range(n_images):
        pixels = rng.permutation(n_pixels)[: n_objects * (n_pixels // (n_objects + 1))]
        for k, chunk in enumerate(np.array_split(pixels, n_objects)):
            truth[i, chunk] = k + 1
    images, steps, pixels = [], [], []
    n_steps = cycles * steps_per_cycle
    for i in range(n_images):
        for p in np.flatnonzero(truth[i]):
            phase = truth[i, p] * steps_per_cycle // (n_objects + 1)
            t = (
                np.arange(cycles) * steps_per_cycle
                + phase
                + rng.integers(-jitter, jitter + 1, cycles)
            )
            t = t[(rng.random(cycles) < p_fire) & (t >= 0) & (t < n_steps)]
            images.append(np.full(t.size, i))
            steps.append(t)
            pixels.append(np.full(t.size, p))
    out = BindingResult(
        images=(truth > 0).astype(np.uint8).reshape(n_images, height, width),
        spike_image=np.concatenate(images),
        spike_step=np.concatenate(steps),
        spike_pixel=np.concatenate(pixels),
        n_steps=n_steps,
        steps_per_cycle=steps_per_cycle,
        dt_ms=dt_ms,
        truth=truth.reshape(n_images, height, width),
        labels=truth.reshape(n_images, height, width).copy(),
        model="synthetic",
        backend="brian2",
    )
    if metrics:
        out.metrics = {
            "ami": rng.uniform(0.5, 1, n_images),
            "synchrony": rng.uniform(0, 1, n_images),
        }
    return out


@pytest.fixture
def synthetic():
    return make_result
