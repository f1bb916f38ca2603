"""ARI-FG and ARI against hand-computed values and a brute-force pair count."""

from itertools import combinations
from math import comb

import numpy as np
import pytest

from hnnbio.analysis.metrics import ari, ari_fg


def _ari_pairs(truth, labels):
    """ARI from counting every pair of pixels (Hubert & Arabie 1985), no contingency shortcut."""
    n = len(truth)
    same_t = same_l = both = 0
    for i, j in combinations(range(n), 2):
        st, sl = truth[i] == truth[j], labels[i] == labels[j]
        same_t += st
        same_l += sl
        both += st and sl
    expected = same_t * same_l / comb(n, 2)
    top = (same_t + same_l) / 2
    return (both - expected) / (top - expected)


def test_ari_fg_hand_computed():
    # contingency (1,1)=2 (1,2)=1 (2,2)=3: index 1+0+3 = 4, rows 3+3 = 6, cols 1+6 = 7, C(6,2) = 15
    # expected 6*7/15 = 2.8, max 6.5: ARI = 1.2 / 3.7
    truth = np.array([[1, 1, 1], [2, 2, 2]])
    labels = np.array([[5, 5, 7], [7, 7, 7]])
    assert ari_fg(truth, labels) == pytest.approx(1.2 / 3.7, abs=1e-12)


def test_ari_fg_ignores_background_and_overlaps():
    truth = np.array([[1, 1, 0, 2, 2, 0]])
    labels = np.array([[3, 3, 9, 4, 4, 3]])
    assert ari_fg(truth, labels) == pytest.approx(1.0)
    assert np.isnan(ari_fg(np.zeros((2, 2), int), np.zeros((2, 2), int)))


def test_ari_counts_background_and_drops_overlaps():
    image = np.array([1, 1, 1, 1, 0, 0, 0, 1])  # the last pixel is an overlap (on, truth 0)
    truth = np.array([1, 1, 2, 2, 0, 0, 0, 0])
    labels = np.array([1, 2, 2, 2, 0, 0, 0, 1])
    keep = slice(0, 7)
    assert ari(truth, labels, image) == pytest.approx(_ari_pairs(truth[keep], labels[keep]))
    # a perfect foreground with background labelled 0 is a perfect ARI
    assert ari(truth, np.array([4, 4, 6, 6, 0, 0, 0, 9]), image) == pytest.approx(1.0)


def test_ari_equals_pair_count_on_random_labels():
    rng = np.random.default_rng(4)
    for _ in range(20):
        truth = rng.integers(0, 4, 40)
        labels = rng.integers(0, 3, 40)
        fg = truth > 0
        assert ari_fg(truth, labels) == pytest.approx(_ari_pairs(truth[fg], labels[fg]), abs=1e-12)
