"""Readout: which pixels fire together, as predicted groups.

Reference readout: the spikes of the last ``R`` cycles (``R * D`` steps) of each pixel, smoothed in
time with the causal kernel ``h = [1, 0.5]``::

    f[p, t] = sum_k h[k] * s[p, t - k]

then k-means (k-means++) over all pixels of the image with ``K = n_objects + 1`` clusters (one
cluster takes the silent background; the background pixels, all at 0, enter as one weighted
point). k-means minimises ``sum_p min_k |f_p - mu_k|^2``; here it runs on a whole batch of images
at once in torch (:func:`batched_kmeans`: greedy k-means++ seeding, then Lloyd iterations, each a
batched matrix product with the points' Gram matrix ``G = X X^T``: the centres are weighted means of
the points, ``mu_k = sum_j A_jk x_j``, so ``|x_i - mu_k|^2 = G_ii - 2 (G A)_ik + (A^T G A)_kk``),
the best of ``n_init`` seedings per image.

Automatic readout (no object count): Ward linkage over the foreground pixels' features, cut at every
``K`` in ``2 .. k_max``; the ``K`` of the highest silhouette (Euclidean) wins.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist, squareform

from hnnbio.analysis.metrics import distinct_rows, silhouettes
from hnnbio.errors import DataError, ParameterError


def smooth(rasters: np.ndarray, kernel=(1.0, 0.5)) -> np.ndarray:
    """Causal smoothing over time (axis -2) of ``rasters`` (..., T, N) -> float32, same shape."""
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim != 1 or kernel.size < 1:
        raise ParameterError(
            f"smoothing: must be a non-empty list of weights, got {kernel.tolist()}"
        )
    x = rasters.astype(np.float32)
    out = kernel[0] * x
    for k in range(1, kernel.size):
        out[..., k:, :] += kernel[k] * x[..., :-k, :]
    return out


def spike_features(
    result, readout_cycles: int = 10, smoothing=(1.0, 0.5), images: slice = slice(None)
) -> np.ndarray:
    """Smoothed spikes of the last ``readout_cycles`` cycles, shape (n_selected, n_pixels, R * D).

    ``images`` selects a contiguous range of images (to bound memory on large results).
    """
    if readout_cycles < 1:
        raise ParameterError(f"readout_cycles: must be >= 1, got {readout_cycles}")
    kernel = np.asarray(smoothing, dtype=np.float32)
    if kernel.ndim != 1 or kernel.size < 1:
        raise ParameterError(
            f"smoothing: must be a non-empty list of weights, got {kernel.tolist()}"
        )
    first = max(0, result.n_steps - readout_cycles * result.steps_per_cycle)
    n_steps = result.n_steps - first
    start, stop, _ = images.indices(result.n_images)
    image, step, pixel = _select_spikes(result, first, result.n_steps, start, stop)
    # straight from the sparse spikes: f[p, t] = sum_k h[k] s[p, t - k], the same float32 values
    # as smooth() of the dense rasters (a repeated spike counts once there and here: a buffered
    # fancy-index update adds once per distinct element)
    out = np.zeros((stop - start, result.n_pixels, n_steps), dtype=np.float32)
    flat = out.reshape(-1)
    at = (image.astype(np.int64) * result.n_pixels + pixel) * n_steps + step  # (image, pixel, step)
    flat[at] = kernel[0]
    for k in range(1, kernel.size):
        inside = step < n_steps - k
        flat[at[inside] + k] += kernel[k]
    return out


def _select_spikes(result, first_step: int, last_step: int, start: int, stop: int):
    """(image - start, step - first_step, pixel) of the spikes in the given ranges."""
    keep = (
        (result.spike_image >= start)
        & (result.spike_image < stop)
        & (result.spike_step >= first_step)
        & (result.spike_step < last_step)
    )
    return (
        result.spike_image[keep] - start,
        result.spike_step[keep] - first_step,
        result.spike_pixel[keep],
    )


def select_rasters(
    result, first_step: int, last_step: int, images: slice = slice(None)
) -> np.ndarray:
    """Dense rasters (n_selected, last_step - first_step, n_pixels), bool, of a range of images."""
    start, stop, _ = images.indices(result.n_images)
    image, step, pixel = _select_spikes(result, first_step, last_step, start, stop)
    out = np.zeros((stop - start, last_step - first_step, result.n_pixels), dtype=bool)
    out[image, step, pixel] = True
    return out


def batched_kmeans(
    features: np.ndarray,
    n_clusters,
    seed: int = 0,
    n_init: int = 2,
    max_iter: int = 100,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """k-means (k-means++ seeding + Lloyd) on many point sets at once.

    Parameters
    ----------
    features : ndarray, shape (n_sets, n_points, n_features)
    n_clusters : int or array of int, shape (n_sets,)
        K per set (``1 <= K``); sets with smaller K ignore the extra centres.
    seed : int
    n_init : int
        Seedings per set; the one of lowest inertia is kept.
    max_iter : int
        Lloyd iterations at most (stops when no assignment changes).
    weights : ndarray, shape (n_sets, n_points), optional
        Weight of each point (default 1): weighted means, weighted inertia, seeding draws
        proportional to ``w D^2``. A point of weight 0 is padding and never a centre.

    Returns
    -------
    labels : ndarray, shape (n_sets, n_points), int64 in 0..K-1

    Notes
    -----
    Works on the Gram matrices of the sets (``n_sets * n_points**2`` floats): centres are kept as
    weights over the points, so each Lloyd step is one (n, n) x (n, K) product per set whatever
    the number of features, and the seeding's distances are rows of the Gram matrix.
    """
    x = torch.as_tensor(features, dtype=torch.float32)
    n_sets, n_points, _ = x.shape
    k_per = torch.as_tensor(np.broadcast_to(np.asarray(n_clusters), (n_sets,)).copy()).long()
    if (k_per < 1).any():
        raise ParameterError(f"n_clusters: must be >= 1, got {int(k_per.min())}")
    w = (
        torch.ones(n_sets, n_points)
        if weights is None
        else torch.as_tensor(weights, dtype=torch.float32)
    )
    k_per = torch.minimum(k_per, (w > 0).sum(1)).clamp_min(1)
    k_max = int(k_per.max())
    gen = torch.Generator().manual_seed(int(seed))
    n_trials = 2 + int(np.log(max(k_max, 2)))
    # kernel form: every centre is a weighted mean of points, mu_k = sum_j A[j, k] x_j, so with the
    # Gram matrix G = X X^T (computed once) |x_i - mu_k|^2 = G_ii - 2 (G A)_ik + (A^T G A)_kk
    gram = torch.bmm(x, x.transpose(1, 2))  # (S, n, n)
    sq = gram.diagonal(dim1=1, dim2=2)  # (S, n)
    rows = torch.arange(n_sets)
    invalid = torch.arange(k_max)[None, :] >= k_per[:, None]  # (S, K)
    best_lab = torch.zeros(n_sets, n_points, dtype=torch.long)
    best_inertia = torch.full((n_sets,), float("inf"))
    for _ in range(max(1, n_init)):
        # k-means++ seeding: next centre drawn with probability proportional to D^2
        seeds = torch.empty(n_sets, k_max, dtype=torch.long)
        first = torch.multinomial(w, 1, generator=gen)[:, 0]
        seeds[:, 0] = first
        d2 = (sq - 2 * gram[rows, first] + sq[rows, first][:, None]).clamp_min(0)
        for k in range(1, k_max):  # greedy: the best of n_trials draws (as scikit-learn)
            prob = w * d2 + 1e-12 * w
            cand = torch.multinomial(
                prob / prob.sum(1, keepdim=True), n_trials, replacement=True, generator=gen
            )  # (S, L)
            new = (
                sq[:, None, :] - 2 * gram[rows[:, None], cand] + sq[rows[:, None], cand][..., None]
            ).clamp_min(0)  # (S, L, n)
            new = torch.minimum(d2[:, None, :], new)
            best = (new * w[:, None, :]).sum(-1).argmin(1)
            seeds[:, k] = cand[rows, best]
            d2 = new[rows, best]
        mix = torch.nn.functional.one_hot(seeds, n_points).transpose(1, 2).float()  # A (S, n, K)
        labels = None
        for _ in range(max_iter):
            cross = torch.bmm(gram, mix)  # (S, n, K): x_i . mu_k
            dist = sq[:, :, None] - 2 * cross + (mix * cross).sum(1)[:, None, :]
            dist.masked_fill_(invalid[:, None, :], float("inf"))
            new_labels = dist.argmin(-1)
            if labels is not None and torch.equal(new_labels, labels):
                break
            labels = new_labels
            onehot = torch.nn.functional.one_hot(labels, k_max).float() * w[..., None]  # (S, n, K)
            counts = onehot.sum(1)  # (S, K)
            filled = counts > 0  # an empty cluster keeps its centre
            mix = torch.where(filled[:, None, :], onehot / counts.clamp_min(1)[:, None, :], mix)
        inertia = (w * dist.gather(2, labels[..., None])[..., 0].clamp_min(0)).sum(1)
        better = inertia < best_inertia
        best_lab[better] = labels[better]
        best_inertia = torch.where(better, inertia, best_inertia)
    return best_lab.numpy()


def predict_groups(
    features: np.ndarray,
    images: np.ndarray,
    n_objects,
    seed: int = 0,
    n_init: int = 2,
    chunk: int = 64,
) -> np.ndarray:
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
    flat = labels.reshape(n_images, -1)
    fg = images.reshape(n_images, -1) > 0
    for first in range(0, n_images, chunk):
        part = range(first, min(first + chunk, n_images))
        # background pixels never spike: all share the feature vector 0, so they enter k-means as
        # one point weighted by their number (the same objective, far fewer points)
        width = int(fg[first : part.stop].sum(1).max()) + 1
        points = np.zeros((len(part), width, features.shape[2]), dtype=np.float32)
        weights = np.zeros((len(part), width), dtype=np.float32)
        for j, i in enumerate(part):
            idx = np.flatnonzero(fg[i])
            points[j, : idx.size] = features[i, idx]
            weights[j, : idx.size] = 1.0
            weights[j, idx.size] = fg.shape[1] - idx.size  # the background point (may be 0)
        lab = batched_kmeans(
            points, counts[first : part.stop] + 1, seed=seed + first, n_init=n_init, weights=weights
        )
        for j, i in enumerate(part):
            flat[i, fg[i]] = lab[j, : fg[i].sum()] + 1
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
    # pdist over the distinct rows only (in a synchronous cycle many pixels repeat a few rows),
    # expanded to every pair: the same float64 values as pdist(points)
    first, inverse = distinct_rows(points)
    dist = squareform(pdist(points[first]))[np.ix_(inverse, inverse)]
    condensed = squareform(dist, checks=False)
    tree = linkage(condensed, method="ward")  # Ward on Euclidean distances, as on the points
    best = np.ones(points.shape[0], dtype=np.int64)
    ks = range(2, min(k_max, points.shape[0] - 1) + 1)
    cuts = [(k, lab) for k, lab in zip(ks, maxclust_partitions(tree, ks), strict=True)
            if lab.max() >= 1]  # not one cluster (ties can merge everything)
    if cuts:
        scores = silhouettes(dist, [lab for _, lab in cuts])
        k = cuts[int(np.argmax(scores))][0]  # the first of equal scores, as a ">" loop keeps
        best = fcluster(tree, k, criterion="maxclust")  # scipy's own labels for the chosen cut
    out[foreground] = best
    return out


def maxclust_partitions(tree: np.ndarray, ks) -> list[np.ndarray]:
    """The flat clusters ``fcluster(tree, k, criterion="maxclust")`` forms, for each ``k`` of
    ``ks``, from one pass over a monotonic linkage (Ward's), as partitions (labels 0.., numbered
    otherwise than scipy's).

    For a monotonic linkage the smallest threshold that leaves at most ``k`` clusters is the
    height ``h`` of merge ``n - k`` (1-based); every merge of height <= ``h`` is made, so ties
    give fewer than ``k`` clusters, as in scipy. (fcluster validates the linkage on each call,
    ~0.4 ms, 15 calls per image here.)
    """
    n = tree.shape[0] + 1
    heights = tree[:, 2]
    if np.any(np.diff(heights) < 0):
        raise ParameterError("tree: the linkage is not monotonic")
    wanted = {}
    for k in ks:
        merges = 0 if k >= n else int(np.searchsorted(heights, heights[n - k - 1], "right"))
        wanted.setdefault(merges, []).append(k)
    leaf = np.arange(n)  # the cluster node of each leaf after the merges so far
    members = {i: [i] for i in range(n)}
    found = {}
    for m in range(max(wanted) + 1):
        if m in wanted:
            _, lab = np.unique(leaf, return_inverse=True)
            for k in wanted[m]:
                found[k] = lab
        if m < n - 1:
            a, b = int(tree[m, 0]), int(tree[m, 1])
            joined = members.pop(a) + members.pop(b)
            members[n + m] = joined
            leaf[joined] = n + m
    return [found[k] for k in ks]
