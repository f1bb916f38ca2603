"""Synchrony analyses: Elephant wrappers against hand-computed cases, CCH kernel against Elephant,
and the binding prediction (within-object pairs more synchronous than across-object pairs)."""

import neo
import numpy as np
import pytest
import quantities as pq

from hnnbio.analysis.cch import binned_counts, cch, cch_pairs, zero_lag_peak
from hnnbio.analysis.objects import image_spiketrains, object_pairs, phase_histogram, within_across
from hnnbio.analysis.sttc import sttc_matrix
from hnnbio.analysis.synchrony import spike_contrast, synchronous_events, unitary_events
from hnnbio.errors import DataError, ParameterError


def train(times, t_stop=100.0):
    return neo.SpikeTrain(np.asarray(times, dtype=float), units="ms", t_stop=t_stop)


def test_cch_pairs_equal_elephant(rng):
    trains = [
        train(np.unique(rng.integers(0, 200, rng.integers(0, 40))), t_stop=200) for _ in range(8)
    ]
    counts = binned_counts(trains, 2 * pq.ms)
    pairs = np.array([(i, j) for i in range(8) for j in range(8)])
    ours = cch_pairs(counts, pairs, max_lag=15)
    for p, (i, j) in enumerate(pairs):
        ref, lags = cch(trains[i], trains[j], bin_size=2 * pq.ms, max_lag=15)
        np.testing.assert_array_equal(ours[p], ref)
    np.testing.assert_array_equal(lags, np.arange(-15, 16))


def test_cch_hand_computed_lag():
    # j fires 3 ms after i, twice: one count at lag +3 bins (1 ms bins), nothing else
    a, b = train([10, 50]), train([13, 53])
    counts = binned_counts([a, b], 1 * pq.ms)
    h = cch_pairs(counts, [(0, 1)], max_lag=5)[0]
    expected = np.zeros(11)
    expected[5 + 3] = 2
    np.testing.assert_array_equal(h, expected)
    assert zero_lag_peak(h, window=2) == 0 and zero_lag_peak(h, window=3) == 2


def test_spike_contrast_extremes():
    # all trains fire together -> 1; Elephant's own definition gives exactly 1 for identical trains
    same = [train([10, 40, 70]) for _ in range(4)]
    assert spike_contrast(same) == pytest.approx(1.0)
    value, curve = spike_contrast(same, return_trace=True)
    assert (
        curve["bin_size"].shape == curve["synchrony"].shape
        and curve["bin_size"][0] > curve["bin_size"][-1]
    )
    # spread-out trains are far less synchronous
    spread = [train([10 + 20 * k, 15 + 20 * k]) for k in range(4)]
    assert spike_contrast(spread) < 0.5 * value


def test_synchronous_events_count_by_hand():
    trains = [train([1, 5, 9]), train([1, 6, 9]), train([1, 7])]
    ev = synchronous_events(trains, sampling_rate=1 * pq.kHz)
    # step 1: 3 trains; step 9: 2 trains; 5, 6, 7: alone
    assert [c.tolist() for c in ev["complexity"]] == [[3, 1, 2], [3, 1, 2], [3, 1]]
    assert ev["event_sizes"].tolist() == [3, 2] and ev["event_times"].tolist() == [1.0, 9.0]
    assert ev["fraction_synchronous"] == pytest.approx(5 / 8)
    # spread=1 joins 5, 6, 7 into one event of complexity 3
    ev1 = synchronous_events(trains, sampling_rate=1 * pq.kHz, spread=1)
    assert ev1["complexity"][0].tolist() == [3, 3, 2]


def test_unitary_events_detects_injected_coincidences(rng):
    # 20 trials of 2 neurons: 10 Hz independent background plus 10 coincidences in 100-200 ms
    trials = []
    for _ in range(20):
        common = rng.uniform(100, 200, 10).round(0)
        pair = [
            train(np.sort(np.r_[rng.uniform(0, 300, 3).round(0), common]), t_stop=300)
            for _ in range(2)
        ]
        trials.append(pair)
    out = unitary_events(trials, bin_size=1 * pq.ms, win_size=100 * pq.ms, win_step=50 * pq.ms)
    js = np.asarray(out["Js"]).ravel()
    t = out["window_times"]
    assert js[t == 100].item() > 3 > js[t == 0].item()  # surprise high only where injected


def test_phase_histogram_finds_each_objects_phase(synthetic):
    r = synthetic(n_images=1, n_objects=3, steps_per_cycle=24, cycles=6, jitter=0, p_fire=1.0)
    hist, objects = phase_histogram(r, 0)
    assert objects.tolist() == [1, 2, 3]
    # conftest: object k fires at phase k * 24 // 4 = 6, 12, 18 with no jitter
    assert hist.argmax(axis=1).tolist() == [6, 12, 18] and np.allclose(hist.max(axis=1), 1)


def test_object_pairs_by_hand():
    within, across = object_pairs([1, 1, 0, 2])
    assert within.tolist() == [[0, 1]] and across.tolist() == [[0, 3], [1, 3]]


@pytest.mark.parametrize("jitter", [0, 2])
def test_within_object_pairs_are_more_synchronous(synthetic, jitter):
    r = synthetic(
        n_images=3,
        height=8,
        width=8,
        n_objects=4,
        steps_per_cycle=40,
        cycles=10,
        jitter=jitter,
        p_fire=0.8,
    )
    for image in range(r.n_images):
        labels = r.truth[image].ravel()
        pixels = np.flatnonzero(labels > 0)
        trains = image_spiketrains(r, image, pixels)
        sttc = sttc_matrix(trains, dt=3 * pq.ms, sampling_rate=1 * pq.kHz)
        w, a = within_across(sttc, labels[pixels])
        assert np.nanmean(w) > np.nanmean(a) + 0.5
        within, across = object_pairs(labels[pixels])
        peaks = zero_lag_peak(
            cch_pairs(binned_counts(trains, 1 * pq.ms), np.vstack([within, across]), max_lag=10),
            window=jitter + 1,
        )
        assert peaks[: len(within)].mean() > 2 * peaks[len(within) :].mean()


def test_bad_arguments_raise(synthetic):
    trains = [train([1, 2]), train([3])]
    with pytest.raises(DataError, match="spiketrains"):
        spike_contrast(trains[:1])
    with pytest.raises(DataError, match="2 spikes"):
        spike_contrast([train([1]), train([3])])
    with pytest.raises(ParameterError, match="min_bin"):
        spike_contrast(trains, min_bin=80 * pq.ms)
    with pytest.raises(ParameterError, match="sampling_rate"):
        synchronous_events(trains, sampling_rate=1000)
    with pytest.raises(DataError, match="grid"):
        synchronous_events([train([1.5]), train([2])], sampling_rate=1 * pq.kHz)
    with pytest.raises(ParameterError, match="spread"):
        synchronous_events(trains, sampling_rate=1 * pq.kHz, spread=-1)
    with pytest.raises(ParameterError, match="min_size"):
        synchronous_events(trains, sampling_rate=1 * pq.kHz, min_size=1)
    with pytest.raises(DataError, match="trials"):
        unitary_events([])
    with pytest.raises(DataError, match=r"trials\[1\]"):
        unitary_events([trains, [trains[0], trains[1], trains[1]]])
    with pytest.raises(ParameterError, match="pattern"):
        unitary_events([trains], pattern=[1, 2])
    with pytest.raises(ParameterError, match="win_size"):
        unitary_events([trains], win_size=500 * pq.ms)
    with pytest.raises(ParameterError, match="bin_size"):
        binned_counts(trains, 0 * pq.ms)
    with pytest.raises(ParameterError, match="max_lag"):
        cch_pairs(np.zeros((2, 5)), [(0, 1)], max_lag=-1)
    with pytest.raises(DataError, match="pairs"):
        cch_pairs(np.zeros((2, 5)), [(0, 2)])
    with pytest.raises(ParameterError, match="window"):
        zero_lag_peak(np.zeros(5), window=3)
    r = synthetic(n_images=1)
    with pytest.raises(DataError, match="image"):
        phase_histogram(r, 1)
    with pytest.raises(ParameterError, match="cycles"):
        phase_histogram(r, 0, cycles=0)
    with pytest.raises(ParameterError, match="by"):
        phase_histogram(r, 0, by="colour")
    r.labels = None
    with pytest.raises(DataError, match="labels"):
        phase_histogram(r, 0, by="labels")
    with pytest.raises(DataError, match="matrix"):
        within_across(np.zeros((2, 2)), [1, 2, 3])
