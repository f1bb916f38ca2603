"""Synchrony organised by object: phase histograms, within- versus across-object pairs.

Binding by synchrony predicts that pixels of one object fire in the same phase of the cycle and
pixels of different objects in different phases. With ``phase = step mod D`` (D steps per cycle),
:func:`phase_histogram` gives, for each object, the distribution of its spikes over the D phases;
:func:`object_pairs` splits the pairs of object pixels into within-object and across-object pairs,
so any pairwise measure (STTC, CCH peak) can be compared between the two.
"""

from __future__ import annotations

import neo
import numpy as np
import quantities as pq

from hnnbio.errors import DataError, ParameterError


def _check_image(result, image) -> int:
    if (
        isinstance(image, bool)
        or not isinstance(image, (int, np.integer))
        or not 0 <= image < result.n_images
    ):
        raise DataError(f"image: must be an index in 0..{result.n_images - 1}, got {image!r}")
    return int(image)


def _object_labels(result, image: int, by: str) -> np.ndarray:
    if by not in ("truth", "labels"):
        raise ParameterError(f"by: {by!r} is not 'truth' or 'labels'")
    labels = result.truth if by == "truth" else result.labels
    if labels is None:
        raise DataError(f"result: has no {by}; use by='{'labels' if by == 'truth' else 'truth'}'")
    return np.asarray(labels[image]).reshape(-1)


def phase_histogram(result, image: int = 0, cycles: int | None = None, by: str = "truth"):
    """Distribution of each object's spikes over the phases of the cycle.

    Parameters
    ----------
    result : BindingResult
    image : int
        Image index.
    cycles : int, optional
        Use the last ``cycles`` cycles; default all.
    by : {"truth", "labels"}
        Group pixels by ground-truth objects or by predicted groups.

    Returns
    -------
    hist : ndarray, shape (n_objects, steps_per_cycle), float
        Fraction of the object's spikes at each phase (rows sum to 1; NaN for a silent object).
    objects : ndarray, shape (n_objects,), int
        The object labels (> 0) of the rows.
    """
    image = _check_image(result, image)
    d = int(result.steps_per_cycle)
    n_cycles = result.n_steps // d
    if cycles is None:
        cycles = n_cycles
    if (
        isinstance(cycles, bool)
        or not isinstance(cycles, (int, np.integer))
        or not 1 <= cycles <= n_cycles
    ):
        raise ParameterError(f"cycles: must be an integer in 1..{n_cycles}, got {cycles!r}")
    labels = _object_labels(result, image, by)
    objects = np.unique(labels[labels > 0])
    first = result.n_steps - cycles * d
    keep = (result.spike_image == image) & (result.spike_step >= first)
    obj = labels[result.spike_pixel[keep]]
    phase = result.spike_step[keep] % d
    row = np.searchsorted(objects, obj)
    valid = obj > 0
    hist = np.zeros((objects.size, d))
    np.add.at(hist, (row[valid], phase[valid]), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        hist /= hist.sum(axis=1, keepdims=True)
    return hist, objects


def object_pairs(labels) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) of labelled entries (> 0), split into same and different label.

    Parameters
    ----------
    labels : array of int, shape (n,)

    Returns
    -------
    within, across : ndarray, shape (n_pairs, 2), int
    """
    labels = np.asarray(labels).reshape(-1)
    i, j = np.triu_indices(labels.size, k=1)
    both = (labels[i] > 0) & (labels[j] > 0)
    i, j = i[both], j[both]
    same = labels[i] == labels[j]
    return np.stack([i[same], j[same]], 1), np.stack([i[~same], j[~same]], 1)


def within_across(matrix: np.ndarray, labels) -> tuple[np.ndarray, np.ndarray]:
    """Values of a symmetric pairwise matrix for within- and across-object pairs.

    Parameters
    ----------
    matrix : ndarray, shape (n, n)
    labels : array of int, shape (n,)

    Returns
    -------
    within, across : ndarray, shape (n_within,), (n_across,)
    """
    matrix = np.asarray(matrix)
    labels = np.asarray(labels).reshape(-1)
    if matrix.shape != (labels.size, labels.size):
        raise DataError(f"matrix: shape {matrix.shape} does not fit {labels.size} labels")
    within, across = object_pairs(labels)
    return matrix[within[:, 0], within[:, 1]], matrix[across[:, 0], across[:, 1]]


def image_trainset(result, image: int = 0, pixels=None):
    """Spike times (ms) of some pixels of one image as a :class:`~hnnbio.analysis.trains.TrainSet`.

    The array form of :func:`image_spiketrains` for the fast kernels (no Neo objects): times are
    ``step * dt_ms``, the interval is ``[0, n_steps * dt_ms]``.
    """
    from hnnbio.analysis.trains import TrainSet

    image = _check_image(result, image)
    pixels = np.arange(result.n_pixels) if pixels is None else np.asarray(pixels, dtype=np.int64)
    steps, lo, hi = _sorted_steps(result, image, pixels)
    dt = float(result.dt_ms)
    return TrainSet(
        times=[steps[a:b] * dt for a, b in zip(lo, hi, strict=False)],
        units=pq.ms,
        t_start=0.0,
        t_stop=result.n_steps * dt,
    )


def _sorted_steps(result, image: int, pixels: np.ndarray):
    keep = result.spike_image == image
    steps, pix = result.spike_step[keep], result.spike_pixel[keep]
    order = np.lexsort((steps, pix))
    steps, pix = steps[order], pix[order]
    return steps, np.searchsorted(pix, pixels), np.searchsorted(pix, pixels, side="right")


def image_spiketrains(result, image: int = 0, pixels=None) -> list:
    """Neo spike trains (ms) of some pixels of one image, without annotations (fast path).

    Parameters
    ----------
    result : BindingResult
    image : int
    pixels : array of int, optional
        Pixel indices (row-major); default all.

    Returns
    -------
    list of neo.SpikeTrain
        One per pixel, t_start 0, t_stop ``n_steps * dt_ms``, ``sampling_rate = 1 / dt``.
    """
    image = _check_image(result, image)
    pixels = np.arange(result.n_pixels) if pixels is None else np.asarray(pixels, dtype=np.int64)
    dt = float(result.dt_ms)
    steps, lo, hi = _sorted_steps(result, image, pixels)
    t_stop = result.n_steps * dt * pq.ms
    rate = (1.0 / (dt * pq.ms)).rescale(pq.Hz)
    return [
        neo.SpikeTrain(
            steps[a:b] * dt, units="ms", t_stop=t_stop, sampling_rate=rate, name=f"pixel {p}"
        )
        for p, a, b in zip(pixels.tolist(), lo, hi, strict=False)
    ]
