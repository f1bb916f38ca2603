"""Readout: smoothing by hand, batched k-means and the automatic K on separable data."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from hnnbio.binding.readout import auto_groups, batched_kmeans, predict_groups, smooth
from hnnbio.errors import DataError, ParameterError


def test_smoothing_by_hand():
    raster = np.zeros((1, 4, 2), bool)
    raster[0, 1, 0] = True
    out = smooth(raster, (1.0, 0.5))
    assert out[0, :, 0].tolist() == [0.0, 1.0, 0.5, 0.0]
    assert out[0, :, 1].tolist() == [0.0] * 4
    with pytest.raises(ParameterError, match="smoothing"):
        smooth(raster, [])


def _blobs(rng, n_sets, k, per, dim=20):
    centres = rng.normal(scale=10, size=(n_sets, k, dim))
    truth = np.repeat(np.arange(k), per)
    x = centres[:, truth] + rng.normal(scale=0.1, size=(n_sets, k * per, dim))
    return x, truth


def test_batched_kmeans_recovers_separated_clusters(rng):
    x, truth = _blobs(rng, 6, 4, 15)
    labels = batched_kmeans(x, 4, seed=0)
    for lab in labels:
        assert adjusted_rand_score(truth, lab) == 1.0


def test_batched_kmeans_per_set_k(rng):
    x, truth = _blobs(rng, 2, 4, 10)
    labels = batched_kmeans(x, np.array([4, 2]), seed=0)
    assert adjusted_rand_score(truth, labels[0]) == 1.0
    assert set(labels[1].tolist()) <= {0, 1}
    with pytest.raises(ParameterError, match="n_clusters"):
        batched_kmeans(x, 0)


def test_predict_groups_background_zero(rng):
    images = np.zeros((1, 2, 4), np.uint8)
    images[0, 0] = 1  # 4 foreground pixels, two objects
    features = np.zeros((1, 8, 3))
    features[0, 0:2] = [5, 0, 0]
    features[0, 2:4] = [0, 0, 5]
    labels = predict_groups(features, images, 2)
    assert (labels[0, 1] == 0).all()
    assert labels[0, 0, 0] == labels[0, 0, 1] != labels[0, 0, 2] == labels[0, 0, 3]
    assert labels[0, 0].min() >= 1
    with pytest.raises(DataError, match="n_objects"):
        predict_groups(features, images, 0)


def test_auto_groups_finds_three(rng):
    x, truth = _blobs(rng, 1, 3, 12)
    labels = auto_groups(x[0], np.ones(36, bool))
    assert adjusted_rand_score(truth, labels) == 1.0


def test_weighted_kmeans_equals_repeated_points(rng):
    """A point of weight 3 acts like 3 copies; weight-0 padding never becomes a centre."""
    x, truth = _blobs(rng, 1, 3, 6)
    pad = np.vstack([x[0], np.full((2, x.shape[2]), 1e3)])
    w = np.r_[np.ones(18), 0, 0][None]
    labels = batched_kmeans(pad[None], 3, weights=w)
    assert adjusted_rand_score(truth, labels[0, :18]) == 1.0


def test_spike_features_by_hand():
    from hnnbio.analysis.result import BindingResult
    from hnnbio.binding.readout import spike_features

    # 2 images of 3 pixels, 2 cycles of 4 steps; readout of the last cycle (steps 4..7)
    spikes = [(0, 3, 1), (0, 4, 1), (0, 7, 2), (1, 5, 0), (1, 6, 0), (1, 1, 2)]
    image, step, pixel = (np.array(v) for v in zip(*spikes, strict=True))
    result = BindingResult(
        images=np.ones((2, 1, 3), np.uint8),
        spike_image=image,
        spike_step=step,
        spike_pixel=pixel,
        n_steps=8,
        steps_per_cycle=4,
    )
    f = spike_features(result, readout_cycles=1, smoothing=(1.0, 0.5))
    assert f.shape == (2, 3, 4) and f.dtype == np.float32
    # f[p, t] = s[p, t] + 0.5 s[p, t - 1] inside the window (the spike at step 3 is outside it)
    assert f[0].tolist() == [[0, 0, 0, 0], [1, 0.5, 0, 0], [0, 0, 0, 1]]
    assert f[1].tolist() == [[0, 1, 1.5, 0.5], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert spike_features(result, 1, (1.0, 0.5), images=slice(1, 2))[0].tolist() == f[1].tolist()
    with pytest.raises(ParameterError, match="smoothing"):
        spike_features(result, 1, [])


def test_batched_kmeans_ends_at_a_lloyd_fixed_point(rng):
    # every point is nearest to the mean of its own cluster, checked in float64 with explicit means
    x = rng.integers(0, 3, size=(5, 40, 12)).astype(float) * 0.5
    labels = batched_kmeans(x, 4, seed=3)
    for points, lab in zip(x, labels, strict=True):
        used = np.unique(lab)
        means = np.stack([points[lab == k].mean(0) for k in used])
        d2 = ((points[:, None, :] - means[None]) ** 2).sum(-1)
        own = d2[np.arange(len(points)), np.searchsorted(used, lab)]
        assert np.all(own <= d2.min(1) + 1e-9)


def _canonical(labels):
    """Labels renumbered by first appearance: equal arrays <=> equal partitions."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse]


@pytest.mark.parametrize("levels", [2, 3, 50])
def test_maxclust_partitions_are_scipys_fcluster_partitions_with_ties(levels):
    """Smoothed spikes repeat: with 2 or 3 feature levels most distances and merge heights tie,
    so fcluster's maxclust gives fewer than k clusters; the one-pass partitions equal its, for
    every k."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    from hnnbio.binding.readout import maxclust_partitions

    rng = np.random.default_rng(levels)
    for _ in range(20):
        n = int(rng.integers(4, 120))
        points = rng.integers(0, levels, (n, 5)).astype(float)
        tree = linkage(pdist(points), method="ward")
        ks = range(2, 20)
        for k, lab in zip(ks, maxclust_partitions(tree, ks), strict=True):
            want = fcluster(tree, k, criterion="maxclust")
            assert np.array_equal(_canonical(lab), _canonical(want)), (n, k)


def test_auto_groups_equals_the_fcluster_loop(rng):
    """auto_groups against the loop it replaces (fcluster for every k, best silhouette)."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist, squareform

    from hnnbio.analysis.metrics import silhouette

    for trial in range(15):
        n = int(rng.integers(5, 90))
        feats = rng.integers(0, 2 + trial % 3, (n, 6)).astype(float)
        fg = rng.random(n) < 0.8
        points = feats[fg]
        want = np.zeros(n, dtype=np.int64)
        if points.shape[0] < 3:
            want[fg] = 1
        else:
            condensed = pdist(points)
            tree, dist = linkage(condensed, method="ward"), squareform(condensed)
            best, score = np.ones(points.shape[0], dtype=np.int64), -np.inf
            for k in range(2, min(16, points.shape[0] - 1) + 1):
                lab = fcluster(tree, k, criterion="maxclust")
                if np.unique(lab).size >= 2 and silhouette(dist, lab) > score:
                    best, score = lab, silhouette(dist, lab)
            want[fg] = best
        assert np.array_equal(auto_groups(feats, fg), want)
