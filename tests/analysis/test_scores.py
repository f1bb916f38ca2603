"""Synchrony and rate scores per cycle on results whose answer is known by construction."""

import numpy as np
import pytest

from hnnbio.analysis.scores import pearson_with, scores_by_cycle
from hnnbio.errors import DataError, ParameterError


def test_phase_locked_objects_score_one_for_synchrony_zero_for_rate(synthetic):
    # every object pixel fires exactly once per cycle at its object's phase (6, 12, 18 of 24):
    # Victor-Purpura at q = 1/3 gives 0 within an object and min(2, 6/3) = 2 across -> silhouette 1;
    # at q = 0 every distance is |1 - 1| = 0 -> silhouette 0 (sklearn's value when a = b = 0)
    r = synthetic(
        n_images=2,
        height=6,
        width=6,
        n_objects=3,
        steps_per_cycle=24,
        cycles=4,
        jitter=0,
        p_fire=1.0,
    )
    out = scores_by_cycle(r, cycles=[0, 3])
    np.testing.assert_allclose(out["synchrony"], 1.0)
    np.testing.assert_allclose(out["rate"], 0.0)
    assert out["cycles"].tolist() == [0, 3] and out["synchrony"].shape == (2, 2)


def test_pearson_with_by_hand():
    assert pearson_with([1, 2, 3, 4], [2, 4, 6, 8]) == pytest.approx(1.0)
    assert pearson_with([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(pearson_with([1, 2, np.nan], [1, 2, 3]))  # fewer than 3 finite pairs
    assert np.isnan(pearson_with([1, 1, 1], [1, 2, 3]))
    with pytest.raises(DataError, match="values"):
        pearson_with([1, 2, 3], [1, 2])


def test_bad_arguments_raise(synthetic):
    r = synthetic(n_images=1, cycles=3)
    with pytest.raises(ParameterError, match="cycles"):
        scores_by_cycle(r, cycles=[3])
    with pytest.raises(DataError, match="images"):
        scores_by_cycle(r, images=[1])
    r.labels = None
    with pytest.raises(DataError, match="labels"):
        scores_by_cycle(r)
