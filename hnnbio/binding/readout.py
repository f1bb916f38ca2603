"""Readout: which pixels fire together, as predicted groups.

Reference readout: the spikes of the last ``R`` cycles (``R * D`` steps) of each pixel, smoothed in
time with the causal kernel ``h = [1, 0.5]``::

    f[p, t] = sum_k h[k] * s[p, t - k]

then k-means (k-means++) over all pixels of the image with ``K = n_objects + 1`` clusters (one
cluster takes the silent background). All background pixels share the feature vector 0, so they are
clustered as one point weighted by their number (the same k-means objective, fewer points).

Automatic readout (no object count): Ward linkage over the foreground pixels' features, cut at every
``K`` in ``2 .. k_max``; the ``K`` of the highest silhouette (Euclidean) wins.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist, squareform
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from hnnbio.errors import DataError, ParameterError


def smooth(rasters: np.ndarray, kernel=(1.0, 0.5)) -> np.ndarray:
    """Causal smoothing over the time axis (axis -2) of ``rasters`` (..., T, N) -> float32 same shape."""
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim != 1 or kernel.size < 1:
        raise ParameterError(f"smoothing: must be a non-empty list of weights, got {kernel.tolist()}")
    x = rasters.astype(np.float32)
    out = kernel[0] * x
    for k in range(1, kernel.size):
        out[..., k:, :] += kernel[k] * x[..., :-k, :]
    return out


def spike_features(result, readout_cycles: int = 10, smoothing=(1.0, 0.5)) -> np.ndarray:
    """Smoothed spikes of the last ``readout_cycles`` cycles, shape (n_images, n_pixels, R * D)."""
    if readout_cycles < 1:
        raise ParameterError(f"readout_cycles: must be >= 1, got {readout_cycles}")
    first = max(0, result.n_steps - readout_cycles * result.steps_per_cycle)
    rasters = result.rasters(first, result.n_steps)  # (B, T, N)
    return np.ascontiguousarray(smooth(rasters, smoothing).transpose(0, 2, 1))


def kmeans_labels(features: np.ndarray, n_clusters: int, seed: int = 0, n_init: int = 2) -> np.ndarray:
    """k-means (k-means++) over the rows of ``features`` (n_points, n_features) -> labels 0..K-1.

    Identical rows of zeros (silent pixels) are merged into one weighted point first.
    """
    silent = ~features.any(axis=1)
    active = np.flatnonzero(~silent)
    points, weights = features[active], np.ones(active.size)
    if silent.any():
        points = np.vstack([points, np.zeros((1, features.shape[1]), features.dtype)])
        weights = np.append(weights, silent.sum())
    k = min(n_clusters, points.shape[0])
    out = np.zeros(features.shape[0], dtype=np.int64)
    if k < 2:
        return out
    km = KMeans(n_clusters=k, init="k-means++", n_init=n_init, random_state=seed)
    lab = km.fit_predict(points, sample_weight=weights)
    out[active] = lab[:active.size]
    if silent.any():
        out[silent] = lab[-1]
    return out


def predict_groups(features: np.ndarray, images: np.ndarray, n_objects, seed: int = 0,
                   n_init: int = 2) -> np.ndarray:
    """Reference readout: predicted group per pixel.

    Parameters
    ----------
    features : ndarray, shape (n_images, n_pixels, n_features)
    images : ndarray, shape (n_images, height, width), binary
    n_objects : int or array of int, shape (n_images,)
        Objects per image; k-means uses ``n_objects + 1`` clusters.

    Returns
    -------
    ndarray, shape (n_images, height, width), int
        0 on background pixels (``images == 0``), 1..K on foreground pixels.
    """
    n_images = images.shape[0]
    counts = np.broadcast_to(np.asarray(n_objects), (n_images,))
    if np.any(counts < 1):
        raise DataError(f"n_objects: must be >= 1 per image, got {counts.min()}")
    labels = np.zeros(images.shape, dtype=np.int64)
    for i in range(n_images):
        lab = kmeans_labels(features[i], int(counts[i]) + 1, seed=seed + i, n_init=n_init)
        fg = images[i].reshape(-1) > 0
        labels[i].reshape(-1)[fg] = lab[fg] + 1
    return labels


def auto_groups(features: np.ndarray, foreground: np.ndarray, k_max: int = 16) -> np.ndarray:
    """Groups of the foreground pixels with K chosen from the spikes alone.

    Ward linkage over ``features[foreground]`` (n_points, n_features), cut at each ``K`` in
    ``2 .. k_max``; returns the cut with the highest silhouette, labels 1..K on foreground pixels,
    0 elsewhere, shape (n_pixels,).
    """
    points = features[foreground]
    out = np.zeros(features.shape[0], dtype=np.int64)
    if points.shape[0] < 3:
        out[foreground] = 1
        return out
    tree = linkage(points, method="ward")
    dist = squareform(pdist(points))
    best, best_score = np.ones(points.shape[0], dtype=np.int64), -np.inf
    for k in range(2, min(k_max, points.shape[0] - 1) + 1):
        lab = fcluster(tree, k, criterion="maxclust")
        if np.unique(lab).size < 2:
            continue
        score = silhouette_score(dist, lab, metric="precomputed")
        if score > best_score:
            best, best_score = lab, score
    out[foreground] = best
    return out
