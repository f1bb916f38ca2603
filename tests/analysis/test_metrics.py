"""Victor-Purpura distance vs Elephant, silhouette vs scikit-learn, AMI by hand."""

import neo
import numpy as np
import pytest
import quantities as pq
from elephant.spike_train_dissimilarity import victor_purpura_distance
from scipy.spatial.distance import pdist, squareform
from sklearn.metrics import silhouette_score

from hnnbio.analysis.metrics import (
    adjusted_rand,
    ami,
    distinct_rows,
    pad_trains,
    silhouette,
    silhouettes,
    spike_silhouette,
    victor_purpura_matrix,
    victor_purpura_pairs,
)
from hnnbio.errors import ParameterError


@pytest.mark.parametrize("q", [1 / 3, 0.0, 0.05, 2.0])
def test_victor_purpura_matches_elephant(q, rng):
    trains = [np.sort(rng.choice(54, size=rng.integers(0, 6), replace=False)) for _ in range(25)]
    neo_trains = [neo.SpikeTrain(t * pq.ms, t_stop=54 * pq.ms) for t in trains]
    reference = victor_purpura_distance(neo_trains, q / pq.ms)
    np.testing.assert_allclose(victor_purpura_matrix(trains, q), reference, rtol=0, atol=1e-12)


@pytest.mark.parametrize("q", [1 / 3, 0.0, 2.0])
def test_victor_purpura_repeated_trains(q, rng):
    """Trains drawn from a pool of 6 (as in a synchronous cycle): the distinct-train shortcut
    gives the DP over every pair, and Elephant's distances."""
    pool = [np.sort(rng.choice(30, size=rng.integers(0, 4), replace=False)) for _ in range(6)]
    pool[1] = pool[0][:-1] if pool[0].size else np.array([0])  # a prefix of another train
    trains = [pool[i] for i in rng.integers(0, 6, 40)] + [np.array([], dtype=int)]
    padded, counts = pad_trains(trains)
    rows, cols = np.triu_indices(len(trains), k=1)
    every_pair = np.zeros((len(trains), len(trains)))
    every_pair[rows, cols] = victor_purpura_pairs(
        padded[rows], counts[rows], padded[cols], counts[cols], q
    )
    every_pair += every_pair.T
    got = victor_purpura_matrix(trains, q)
    np.testing.assert_array_equal(got, every_pair)
    neo_trains = [neo.SpikeTrain(t * pq.ms, t_stop=30 * pq.ms) for t in trains]
    reference = victor_purpura_distance(neo_trains, q / pq.ms)
    np.testing.assert_allclose(got, reference, rtol=0, atol=1e-12)


def test_distinct_rows(rng):
    x = rng.integers(0, 2, (60, 3)).astype(np.float32)
    first, inverse = distinct_rows(x)
    unique = np.unique(x, axis=0)
    assert first.size == unique.shape[0]
    np.testing.assert_array_equal(x[first][inverse], x)
    assert np.all(np.diff(first) > 0)  # in order of first occurrence
    for u, at in enumerate(first):  # the first occurrence of each distinct row
        assert at == np.flatnonzero(inverse == u)[0]


def test_victor_purpura_by_hand():
    # q = 0: count difference; q large: delete + insert (2) instead of a costly shift
    assert victor_purpura_matrix([[1, 5], [2]], 0.0)[0, 1] == 1
    assert victor_purpura_matrix([[1], [11]], 1 / 3)[0, 1] == 2
    assert victor_purpura_matrix([[1], [4]], 1 / 3)[0, 1] == pytest.approx(1.0)
    with pytest.raises(ParameterError, match="q"):
        victor_purpura_matrix([[1], [2]], -1.0)


def test_silhouette_matches_sklearn(rng):
    for _ in range(5):
        x = rng.normal(size=(50, 3))
        labels = rng.integers(0, 4, 50)
        labels[0] = 9  # a cluster of one
        dist = squareform(pdist(x))
        assert silhouette(dist, labels) == pytest.approx(
            silhouette_score(dist, labels, metric="precomputed"), abs=1e-12
        )
    with pytest.raises(ParameterError, match="labels"):
        silhouette(np.zeros((3, 3)), np.zeros(3))


def test_silhouettes_of_several_labelings_match_sklearn(rng):
    """Labelings of 2..9 clusters (with clusters of one) scored together, each as scikit-learn
    scores it alone."""
    x = rng.normal(size=(40, 3))
    dist = squareform(pdist(x))
    labelings = [rng.integers(0, k, 40) * 3 + 1 for k in range(2, 10)]  # labels not 0..k-1
    labelings[0][5] = 99
    got = silhouettes(dist, labelings)
    want = [silhouette_score(dist, lab, metric="precomputed") for lab in labelings]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    with pytest.raises(ParameterError, match="labels"):
        silhouettes(dist, [labelings[1], np.zeros(40)])


def test_ami_over_objects_only():
    truth = np.array([[0, 1, 1], [2, 2, 0]])
    assert ami(truth, np.array([[5, 3, 3], [4, 4, 9]])) == pytest.approx(1.0)
    assert np.isnan(ami(np.zeros((2, 2), int), np.zeros((2, 2), int)))


def test_spike_silhouette_phase_vs_rate():
    """Two groups firing once per cycle 10 steps apart: VP(q=1/3) = 2 across, 0 within -> s = 1;
    equal counts -> q = 0 distances all 0 -> s = 0."""
    raster = np.zeros((20, 6), bool)
    raster[2, :3] = True
    raster[12, 3:] = True
    labels = np.array([1, 1, 1, 2, 2, 2])
    mask = np.ones(6, bool)
    assert spike_silhouette(raster, labels, mask, 1 / 3) == pytest.approx(1.0)
    assert spike_silhouette(raster, labels, mask, 0.0) == pytest.approx(0.0)
    assert np.isnan(spike_silhouette(raster, np.ones(6, int), mask, 1 / 3))


def test_adjusted_rand_is_scikit_learns_ari_and_the_hand_computed_pair_counts():
    """Against scikit-learn's adjusted_rand_score (correct: Hubert & Arabie) on random and
    mostly-right labelings, and by hand: truth [1, 1, 2, 2], labels [1, 2, 1, 2] have tp = 0,
    fp = fn = tn = 4 ordered pairs, ARI = 2 (0 - 16) / (4 * 8 + 4 * 8) = -0.5."""
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(5)
    for _ in range(300):
        n, r, c = int(rng.integers(1, 300)), int(rng.integers(1, 14)), int(rng.integers(1, 14))
        truth, labels = rng.integers(0, r, n), rng.integers(0, c, n)
        if rng.random() < 0.4:
            labels = np.where(rng.random(n) < 0.8, truth, labels)
        assert abs(adjusted_rand(truth, labels) - adjusted_rand_score(truth, labels)) < 1e-12
    assert adjusted_rand(np.array([1, 1, 2, 2]), np.array([1, 2, 1, 2])) == pytest.approx(-0.5)
    assert adjusted_rand(np.array([3, 3, 3]), np.array([0, 0, 0])) == 1.0  # one group each
    assert adjusted_rand(np.array([1, 2, 3]), np.array([7, 8, 9])) == 1.0  # singletons each
    assert adjusted_rand(np.array([1, 1, 2, 2]), np.array([5, 5, 6, 6])) == 1.0
