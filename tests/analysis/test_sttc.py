"""The vectorised STTC against Elephant's per-pair spike_time_tiling_coefficient and hand values."""

import neo
import numpy as np
import pytest
import quantities as pq
from elephant.spike_train_correlation import spike_time_tiling_coefficient

from hnnbio.analysis.sttc import sttc_matrix
from hnnbio.errors import DataError, ParameterError


def elephant_matrix(trains, dt):
    n = len(trains)
    out = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(n):
            out[i, j] = spike_time_tiling_coefficient(trains[i], trains[j], dt=dt)
    return out


def assert_same(ours, ref):
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_allclose(ours[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=0, atol=1e-12)


def train(times, t_stop=1000.0, t_start=0.0, units="ms"):
    return neo.SpikeTrain(
        np.asarray(times, dtype=float), units=units, t_start=t_start, t_stop=t_stop
    )


@pytest.mark.parametrize("method", ["exact", "auto"])
def test_random_continuous_trains_equal_elephant(rng, method):
    trains = [train(np.sort(rng.uniform(0, 1000, rng.integers(0, 40)))) for _ in range(25)]
    for dt in (5 * pq.ms, 0.02 * pq.s):
        assert_same(sttc_matrix(trains, dt=dt, method=method), elephant_matrix(trains, dt))


@pytest.mark.parametrize("step_ms", [1.0, 0.1])
def test_random_grid_trains_equal_elephant(rng, step_ms):
    # spikes at k * step as Brian2 produces them; windows that are exact multiples of the step
    # put many pairs exactly on the window's edge
    n_bins = int(round(500 / step_ms))
    trains = [
        train(np.unique(rng.integers(0, n_bins + 1, rng.integers(0, 60))) * step_ms, t_stop=500)
        for _ in range(25)
    ]
    rate = (1 / (step_ms * pq.ms)).rescale(pq.kHz)
    for dt in (5 * step_ms * pq.ms, 2 * step_ms * pq.ms, 1.5 * step_ms * pq.ms):
        ref = elephant_matrix(trains, dt)
        assert_same(sttc_matrix(trains, dt=dt, sampling_rate=rate, method="grid"), ref)
        assert_same(sttc_matrix(trains, dt=dt, method="exact"), ref)


def test_edge_cases_equal_elephant():
    trains = [
        train([]),  # empty: NaN row and column
        train([500.0]),  # single spike
        train([500.0]),  # identical to the previous
        train([0.0, 1000.0]),  # spikes at t_start and t_stop
        train([2.0, 998.0]),  # closer than dt to both edges
        train(np.arange(0, 1001, 10.0)),  # tiles the whole recording (T = 1)
        train(np.arange(3, 1000, 10.0)),  # every spike near one of the previous train (P = 1)
        train([100.0, 100.0, 103.0]),  # repeated spike time
    ]
    dt = 5 * pq.ms
    ref = elephant_matrix(trains, dt)
    ours = sttc_matrix(trains, dt=dt, sampling_rate=1 * pq.kHz)
    assert_same(ours, ref)
    assert_same(sttc_matrix(trains, dt=dt, method="exact"), ref)
    assert np.isnan(ours[0]).all() and np.isnan(ours[:, 0]).all()
    assert ours[1, 2] == 1.0


def test_hand_computed_value():
    # A = {10, 50, 90}, B = {12, 52, 70} in [0, 100] ms, dt = 5 ms.
    # P_A = 2/3 (10 and 50 have partners), P_B = 2/3; T_A = T_B = 3 * 10 / 100 = 0.3.
    # STTC = (2/3 - 0.3) / (1 - 0.2) = 0.458333...
    a = train([10, 50, 90], t_stop=100)
    b = train([12, 52, 70], t_stop=100)
    expected = (2 / 3 - 0.3) / (1 - 2 / 3 * 0.3)
    assert sttc_matrix([a, b], dt=5 * pq.ms)[0, 1] == pytest.approx(expected, abs=1e-15)


def test_units_are_converted_for_dt():
    trains = [
        train([0.010, 0.050], t_stop=0.1, units="s"),
        train([0.012, 0.07], t_stop=0.1, units="s"),
    ]
    np.testing.assert_allclose(
        sttc_matrix(trains, dt=5 * pq.ms), sttc_matrix(trains, dt=0.005 * pq.s)
    )


def test_grid_falls_back_to_exact_off_grid(rng):
    trains = [train(np.sort(rng.uniform(0, 1000, 20))) for _ in range(5)]
    ref = elephant_matrix(trains, 5 * pq.ms)
    assert_same(sttc_matrix(trains, sampling_rate=1 * pq.kHz), ref)
    with pytest.raises(ParameterError, match="sampling_rate"):
        sttc_matrix(trains, sampling_rate=1 * pq.kHz, method="grid")


def test_bad_arguments_raise():
    good = [train([1.0, 2.0])]
    with pytest.raises(DataError, match="spiketrains"):
        sttc_matrix([])
    with pytest.raises(DataError, match="spiketrains"):
        sttc_matrix(good[0])
    with pytest.raises(DataError, match=r"spiketrains\[1\]"):
        sttc_matrix([good[0], np.array([1.0])])
    with pytest.raises(DataError, match=r"spiketrains\[1\]: units"):
        sttc_matrix([good[0], train([0.001], t_stop=1.0, units="s")])
    with pytest.raises(DataError, match=r"spiketrains\[1\]: interval"):
        sttc_matrix([good[0], train([1.0], t_stop=500)])
    late = train([1.0, 900.0])
    late.t_stop = 100 * pq.ms  # neo allows this after construction
    with pytest.raises(DataError, match=r"spiketrains\[0\]: spikes outside"):
        sttc_matrix([late])
    with pytest.raises(ParameterError, match="dt"):
        sttc_matrix(good, dt=0 * pq.ms)
    with pytest.raises(ParameterError, match="dt"):
        sttc_matrix(good, dt=5)
    with pytest.raises(ParameterError, match="dt"):
        sttc_matrix(good, dt=5 * pq.mV)
    with pytest.raises(ParameterError, match="sampling_rate"):
        sttc_matrix(good, sampling_rate=-1 * pq.kHz)
    with pytest.raises(ParameterError, match="sampling_rate"):
        sttc_matrix(good, sampling_rate=1000)
    with pytest.raises(ParameterError, match="sampling_rate"):
        sttc_matrix(good, method="grid")
    with pytest.raises(ParameterError, match="method"):
        sttc_matrix(good, method="fast")
