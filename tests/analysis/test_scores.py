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


def test_scores_do_not_depend_on_which_cycle_a_pattern_falls_in(synthetic):
    # the scores count steps from each cycle's start (integers): the same spikes one, two, ...
    # cycles later give the same scores exactly
    from dataclasses import replace

    r = synthetic(n_images=2, height=6, width=6, n_objects=3, cycles=1, jitter=2, p_fire=0.8)
    d, cycles = r.steps_per_cycle, 5
    repeated = replace(
        r,
        spike_image=np.tile(r.spike_image, cycles),
        spike_step=np.concatenate([r.spike_step + c * d for c in range(cycles)]),
        spike_pixel=np.tile(r.spike_pixel, cycles),
        n_steps=cycles * d,
    )
    out = scores_by_cycle(repeated)
    assert np.isfinite(out["synchrony"]).all()
    for key in ("synchrony", "rate"):
        np.testing.assert_array_equal(out[key], np.repeat(out[key][:, :1], cycles, axis=1))


@pytest.mark.parametrize("shift_s", [1e4, 1.7e9])
def test_victor_purpura_under_a_time_shift(rng, shift_s):
    from hnnbio.analysis.metrics import victor_purpura_matrix

    q = 1.0 / 3.0
    steps = [np.unique(rng.integers(0, 400, rng.integers(1, 12))) for _ in range(8)]
    ref = victor_purpura_matrix(steps, q)
    # in steps of dt = 0.1 ms the shift is an integer (1.7e13 < 2**53): exact, bit for bit
    offset = int(round(shift_s * 1e4))
    np.testing.assert_array_equal(victor_purpura_matrix([s + offset for s in steps], q), ref)
    # in ms, shift + 0.1 * k is rounded: each |a - b| is off by at most 2u (u = one spacing at
    # the shift), a distance sums at most min(n, m) shift costs q_ms |a - b| (q_ms = q / 0.1 ms),
    # and the sum's own roundings are below (n + m) spacings of the largest distance
    shift_ms, q_ms = shift_s * 1e3, q / 0.1
    ms = [shift_ms + 0.1 * s for s in steps]
    u = float(np.spacing(shift_ms + 40.0))
    counts = np.array([s.size for s in steps])
    tol = q_ms * 2 * u * np.minimum.outer(counts, counts) + np.add.outer(
        counts, counts
    ) * np.spacing(ref.max())
    assert (np.abs(victor_purpura_matrix(ms, q_ms) - ref) <= tol).all()
