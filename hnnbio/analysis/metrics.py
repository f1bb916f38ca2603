"""Metrics of binding: AMI of the predicted groups, synchrony and rate scores.

- AMI: ``sklearn.metrics.adjusted_mutual_info_score`` (default normalisation) between the ground
  truth and the predicted groups over the pixels with ``truth > 0`` (objects; overlaps and
  background carry 0 and are excluded).
- ARI-FG: the adjusted Rand index (:func:`adjusted_rand`, equal to
  ``sklearn.metrics.adjusted_rand_score``) over the same object pixels (what the
  complex-valued and rotating-feature binding papers report); ARI: over every pixel that is not an
  overlap (background pixels, label 0, form one more group; overlaps are on in the image but
  carry 0 in the truth and are excluded).
- Synchrony score: silhouette of the predicted groups over those pixels with the Victor-Purpura
  distance at ``q = 1/3`` per step on one cycle of spikes; rate score: the same at ``q = 0``, where
  the distance is ``|n_i - n_j|`` (spike counts only).

Victor-Purpura distance between trains ``a`` (n spikes) and ``b`` (m spikes), the cost of turning
one into the other by deleting/inserting spikes (cost 1) and shifting spikes (cost ``q |dt|``)::

    G[i, 0] = i,  G[0, j] = j
    G[i, j] = min(G[i-1, j] + 1, G[i, j-1] + 1, G[i-1, j-1] + q |a_i - b_j|)
    d(a, b) = G[n, m]

computed here for all pairs at once: the trains are padded to the longest one and the DP runs over
the (M + 1) x (M + 1) grid with every cell a vector over pairs.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_mutual_info_score

from hnnbio.errors import ParameterError


def pad_trains(trains: list) -> tuple[np.ndarray, np.ndarray]:
    """Pad spike trains (sorted times) into an array (n_trains, M) and their counts (n_trains,)."""
    counts = np.array([len(t) for t in trains], dtype=np.int64)
    width = max(int(counts.max(initial=0)), 1)
    padded = np.zeros((len(trains), width), dtype=float)
    for i, t in enumerate(trains):
        padded[i, : len(t)] = np.sort(np.asarray(t, dtype=float))
    return padded, counts


def distinct_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a 2-D array by their bytes: ``first`` (index of each distinct row's
    first occurrence) and ``inverse`` (the distinct row of each row), so ``x == x[first][inverse]``.

    A dict over row bytes; ``np.unique(axis=0)`` sorts the rows and is ~100x slower on the
    readout's (200, 540) feature rows.
    """
    rows = np.ascontiguousarray(x)
    seen: dict = {}
    inverse = np.fromiter(
        (seen.setdefault(row.tobytes(), len(seen)) for row in rows), dtype=np.int64, count=len(rows)
    )
    first = np.zeros(len(seen), dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(rows) - 1, -1, -1)
    return first, inverse


def victor_purpura_pairs(
    times_a: np.ndarray, counts_a: np.ndarray, times_b: np.ndarray, counts_b: np.ndarray, q: float
) -> np.ndarray:
    """Victor-Purpura distance of each pair (a[k], b[k]).

    Parameters
    ----------
    times_a, times_b : ndarray, shape (n_pairs, M)
        Padded sorted spike times (in steps, or any unit with ``q`` in its inverse).
    counts_a, counts_b : ndarray, shape (n_pairs,), int
        Spikes per train.
    q : float
        Cost per unit time of shifting a spike (>= 0).

    Returns
    -------
    ndarray, shape (n_pairs,)
    """
    if not q >= 0:
        raise ParameterError(f"q: must be >= 0, got {q}")
    if q == 0:  # shifts are free: match min(n_a, n_b) spikes, insert or delete the rest
        return np.abs(np.asarray(counts_a) - np.asarray(counts_b)).astype(float)
    n_pairs, width_a = times_a.shape
    width_b = times_b.shape[1]
    prev = np.broadcast_to(np.arange(width_b + 1, dtype=float), (n_pairs, width_b + 1)).copy()
    result = np.where(counts_a == 0, counts_b.astype(float), 0.0)
    for i in range(1, width_a + 1):
        cur = np.empty_like(prev)
        cur[:, 0] = i
        a_i = times_a[:, i - 1]
        for j in range(1, width_b + 1):
            shift = prev[:, j - 1] + q * np.abs(a_i - times_b[:, j - 1])
            cur[:, j] = np.minimum(np.minimum(prev[:, j] + 1.0, cur[:, j - 1] + 1.0), shift)
        done = counts_a == i
        result[done] = cur[done, counts_b[done]]
        prev = cur
    return result


def victor_purpura_matrix(trains: list, q: float) -> np.ndarray:
    """Victor-Purpura distances between all trains, shape (n_trains, n_trains), symmetric.

    The DP runs once per pair of *distinct* trains (identical trains are at distance 0 and share
    their rows): in a synchronous cycle most pixels repeat one of a few trains (Bars: ~15 distinct
    among ~200 object pixels).
    """
    padded, counts = pad_trains(trains)
    first, inverse = distinct_rows(np.column_stack([counts.astype(float), padded]))
    u_counts, u_padded = counts[first], padded[first]  # count + padded times: one key per train
    n = first.size
    rows, cols = np.triu_indices(n, k=1)
    distinct = np.zeros((n, n))
    if rows.size:
        d = victor_purpura_pairs(u_padded[rows], u_counts[rows], u_padded[cols], u_counts[cols], q)
        distinct[rows, cols] = d
        distinct[cols, rows] = d
    return distinct[np.ix_(inverse, inverse)]


def silhouette(dist: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette of ``labels`` under a precomputed distance matrix (vectorised).

    ``s_i = (b_i - a_i) / max(a_i, b_i)`` with ``a_i`` the mean distance to the other members of
    its cluster and ``b_i`` the lowest mean distance to another cluster; ``s_i = 0`` in a cluster of
    one (scikit-learn's convention). Needs 2 <= clusters < points.
    """
    return float(silhouettes(dist, [labels])[0])


def silhouettes(dist: np.ndarray, labelings) -> np.ndarray:
    """:func:`silhouette` of several labelings of the same points, shape (n_labelings,), from one
    matrix product (the summed distance of every point to every cluster of every labeling)."""
    labs = []
    for labels in labelings:
        _, lab = np.unique(labels, return_inverse=True)
        n_clusters = lab.max(initial=0) + 1
        if not 2 <= n_clusters < lab.size:
            raise ParameterError(
                f"labels: silhouette needs 2..{lab.size - 1} clusters, got {n_clusters}"
            )
        labs.append(lab.reshape(-1))
    lab = np.stack(labs)  # (m, n)
    m, n = lab.shape
    width = int(lab.max()) + 1
    onehot = np.zeros((n, m, width))
    onehot[np.arange(n)[None, :], np.arange(m)[:, None], lab] = 1.0
    sums = (dist @ onehot.reshape(n, m * width)).reshape(n, m, width).transpose(1, 0, 2)
    sizes = onehot.sum(0)  # (m, width); 0 for the padding clusters of labelings with fewer
    rows, points = np.arange(m)[:, None], np.arange(n)[None, :]
    own = sizes[rows, lab]
    a = sums[rows, points, lab] / np.maximum(own - 1, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_other = np.where(sizes[:, None, :] > 0, sums / sizes[:, None, :], np.inf)
    mean_other[rows, points, lab] = np.inf
    b = mean_other.min(2)
    denom = np.maximum(a, b)
    s = np.where((own > 1) & (denom > 0), (b - a) / np.where(denom > 0, denom, 1), 0.0)
    return s.mean(1)


def ami(truth: np.ndarray, labels: np.ndarray) -> float:
    """AMI over pixels with ``truth > 0``; ``nan`` when there are none."""
    fg = truth.reshape(-1) > 0
    if not fg.any():
        return float("nan")
    return float(adjusted_mutual_info_score(truth.reshape(-1)[fg], labels.reshape(-1)[fg]))


def adjusted_rand(truth: np.ndarray, labels: np.ndarray) -> float:
    """ARI of two labelings of the same points (1-D): the value of scikit-learn's
    ``adjusted_rand_score``, computed in numpy without its per-call checks (~3 ms a call, twice
    per image in the binding readout).

    Pair counts from the contingency table ``n_ij`` (row sums ``a_i``, column sums ``b_j``):
    pairs together in both ``tp = sum n_ij^2 - N``, in ``labels`` only ``fp = sum b_j^2 - sum
    n_ij^2``, in ``truth`` only ``fn = sum a_i^2 - sum n_ij^2``, in neither ``tn = N^2 - tp - fp
    - fn - N`` (ordered pairs); ``ARI = 2 (tp tn - fn fp) / ((tp + fn)(fn + tn) + (tp + fp)(fp +
    tn))``, 1 when ``fn = fp = 0`` (the two partitions agree).
    """
    _, t = np.unique(truth, return_inverse=True)
    _, p = np.unique(labels, return_inverse=True)
    cols = int(p.max()) + 1
    cont = np.bincount(t * cols + p, minlength=(int(t.max()) + 1) * cols).astype(np.float64)
    cont = cont.reshape(-1, cols)
    n = float(t.size)
    squares = float(np.sum(cont ** 2))
    tp = squares - n
    fp = float(np.sum(cont.sum(0) ** 2)) - squares
    fn = float(np.sum(cont.sum(1) ** 2)) - squares
    tn = n * n - tp - fp - fn - n
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


def ari_fg(truth: np.ndarray, labels: np.ndarray) -> float:
    """ARI over pixels with ``truth > 0``; ``nan`` when there are none."""
    fg = truth.reshape(-1) > 0
    if not fg.any():
        return float("nan")
    return adjusted_rand(truth.reshape(-1)[fg], labels.reshape(-1)[fg])


def ari(truth: np.ndarray, labels: np.ndarray, image: np.ndarray) -> float:
    """ARI over every pixel but the overlaps (``image`` on, ``truth == 0``), background a group.

    The readout labels background pixels 0; an image without any pixel left gives ``nan``.
    """
    truth, labels = truth.reshape(-1), labels.reshape(-1)
    keep = (truth > 0) | (image.reshape(-1) == 0)
    if not keep.any():
        return float("nan")
    return adjusted_rand(truth[keep], labels[keep])


def spike_silhouette(raster: np.ndarray, labels: np.ndarray, mask: np.ndarray, q: float) -> float:
    """Silhouette of ``labels`` over ``mask`` pixels with the Victor-Purpura distance.

    Parameters
    ----------
    raster : ndarray, shape (n_steps, n_pixels), bool
        Spikes of one cycle.
    labels, mask : ndarray, shape (n_pixels,)
        Predicted groups and which pixels to score.
    q : float
        Victor-Purpura cost per step.

    Returns
    -------
    float
        In [-1, 1]; ``nan`` when the scored pixels fall in fewer than 2 or as many groups as pixels.
    """
    idx = np.flatnonzero(mask)
    lab = labels[idx]
    n_groups = np.unique(lab).size
    if n_groups < 2 or n_groups >= idx.size:
        return float("nan")
    first, inverse = distinct_rows(raster[:, idx].T)  # few distinct trains in a synchronous cycle
    trains = [np.flatnonzero(raster[:, idx[i]]) for i in first]
    dist = victor_purpura_matrix(trains, q)[np.ix_(inverse, inverse)]
    return silhouette(dist, lab)
