"""Binned and Elephant-backed analyses give the same result wherever the recording lies in time.

Shifting all spike times, t_start and t_stop by 1e4 s (a late segment) or 1.7e9 s (Unix wall-clock
time) must not change a result. Grid data (spikes at ``t_start + k * step``) are rounded when
shifted (one float64 spacing is 2.4e-7 s at 1.7e9 s), but their ticks and bins are not: those
results must be equal exactly. Times reported back on the absolute axis (event times, window starts)
are equal to within the rounding of ``t_start + k * step`` (two spacings at the shift). Spike
contrast puts its bin edges at arbitrary times, so the rounding of the inputs can move a spike
across one: it is tested on recordings whose shifted times are exactly representable (2**-19 s
ticks), where it must be bit-identical; Elephant on absolute times is not (see the last test).
"""

import neo
import numpy as np
import pytest
import quantities as pq
from elephant.conversion import BinnedSpikeTrain
from elephant.spike_train_synchrony import spike_contrast as elephant_spike_contrast

from hnnbio.analysis.cch import binned_counts, cch, cch_pairs
from hnnbio.analysis.synchrony import spike_contrast, synchronous_events, unitary_events
from hnnbio.errors import DataError

SHIFTS_S = [1e4, 1.7e9]


def grid_trains(ticks, step, shift, length, units="s"):
    return [
        neo.SpikeTrain(
            shift + np.asarray(k, dtype=np.int64) * step,
            units=units,
            t_start=shift,
            t_stop=shift + length * step,
        )
        for k in ticks
    ]


def random_ticks(rng, n_trains, length, n_spikes):
    return [np.unique(rng.integers(0, length + 1, n_spikes)) for _ in range(n_trains)]


# --- CCH: binned counts -----------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Binning discarded")
@pytest.mark.parametrize("step, bin_ms", [(1e-3, 1.0), (1e-4, 1.0), (1e-4, 0.5), (1e-4, 2.0)])
def test_binned_counts_equal_elephant_near_zero(rng, step, bin_ms):
    # spikes on a simulation grid, many on bin edges, some at t_stop (dropped, as in Elephant)
    length = int(round(0.5 / step))
    ticks = random_ticks(rng, 6, length, 80)
    ticks[0] = np.r_[ticks[0], length]
    trains = grid_trains(ticks, step, 0.0, length)
    ref = BinnedSpikeTrain(trains, bin_size=bin_ms * pq.ms, tolerance=1e-8).to_array()
    np.testing.assert_array_equal(binned_counts(trains, bin_ms * pq.ms), ref)


def test_binned_counts_equal_elephant_on_continuous_times(rng):
    trains = [
        neo.SpikeTrain(np.sort(rng.uniform(0, 300, 50)), units="ms", t_stop=300) for _ in range(5)
    ]
    ref = BinnedSpikeTrain(trains, bin_size=3 * pq.ms, tolerance=1e-8).to_array()
    np.testing.assert_array_equal(binned_counts(trains, 3 * pq.ms), ref)


@pytest.mark.parametrize("shift", SHIFTS_S + [-300.0])
def test_cch_is_exact_under_a_time_shift(rng, shift):
    step, length = 1e-4, 5000  # 0.5 s at 0.1 ms; 1 ms bins put every tenth tick on an edge
    ticks = random_ticks(rng, 6, length, 120)
    at_zero = grid_trains(ticks, step, 0.0, length)
    moved = grid_trains(ticks, step, shift, length)
    counts = binned_counts(at_zero, 1 * pq.ms)
    np.testing.assert_array_equal(binned_counts(moved, 1 * pq.ms), counts)
    pairs = [(0, 1), (2, 5), (3, 3)]
    np.testing.assert_array_equal(
        cch_pairs(binned_counts(moved, 1 * pq.ms), pairs, 10), cch_pairs(counts, pairs, 10)
    )
    for i, j in pairs:
        h0, lags0 = cch(at_zero[i], at_zero[j], bin_size=1 * pq.ms, max_lag=10)
        h1, lags1 = cch(moved[i], moved[j], bin_size=1 * pq.ms, max_lag=10)
        np.testing.assert_array_equal(h1, h0)
        np.testing.assert_array_equal(lags1, lags0)


def test_elephant_binning_moves_spikes_far_from_zero(rng):
    # why binned_counts does not call BinnedSpikeTrain: 1e-8 bins of tolerance is below one
    # float64 spacing of 1.7e9 s, and grid spikes on bin edges fall into the bin before
    ticks = random_ticks(rng, 2, 2000, 300)
    at_zero = BinnedSpikeTrain(grid_trains(ticks, 1e-3, 0.0, 2000), bin_size=1 * pq.ms)
    moved = BinnedSpikeTrain(grid_trains(ticks, 1e-3, 1.7e9, 2000), bin_size=1 * pq.ms)
    assert not np.array_equal(at_zero.to_array(), moved.to_array())


# --- spike contrast ---------------------------------------------------------------------------


@pytest.mark.parametrize("shift", SHIFTS_S)
def test_spike_contrast_is_bit_identical_under_an_exact_time_shift(rng, shift):
    # 2 s on 2**-19 s ticks: shift + k * unit is exactly representable (31 + 19 bits < 53), so the
    # moved recording is the same recording
    unit, length = 2.0**-19, 2**20
    rng = np.random.default_rng(1)
    failures_of_elephant = 0
    for _ in range(40):
        ticks = [np.sort(rng.integers(0, length, 40)) for _ in range(8)]
        at_zero = grid_trains(ticks, unit, 0.0, length)
        moved = grid_trains(ticks, unit, shift, length)
        value, trace = spike_contrast(at_zero, return_trace=True)
        value_moved, trace_moved = spike_contrast(moved, return_trace=True)
        assert value_moved == value
        for key in trace:
            np.testing.assert_array_equal(trace_moved[key], trace[key])
        failures_of_elephant += elephant_spike_contrast(moved) != value
    if shift == 1.7e9:
        # Elephant's absolute-time bin edges: at least one of these recordings comes out different
        assert failures_of_elephant > 0


# --- synchronous events (Synchrotool) ---------------------------------------------------------


@pytest.mark.parametrize("shift", SHIFTS_S)
@pytest.mark.parametrize("spread", [0, 1])
def test_synchronous_events_are_exact_under_a_time_shift(rng, shift, spread):
    step, length = 1e-4, 3000  # 10 kHz, 0.3 s
    common = rng.integers(0, length + 1, 30)
    ticks = [
        np.unique(np.r_[common[rng.random(30) < 0.5], rng.integers(0, length + 1, 20)])
        for _ in range(6)
    ]
    at_zero = synchronous_events(grid_trains(ticks, step, 0.0, length), 10 * pq.kHz, spread)
    moved = synchronous_events(grid_trains(ticks, step, shift, length), 10 * pq.kHz, spread)
    for a, b in zip(at_zero["complexity"], moved["complexity"], strict=True):
        np.testing.assert_array_equal(a, b)
    for key in ("event_steps", "event_sizes", "histogram"):
        np.testing.assert_array_equal(moved[key], at_zero[key])
    assert moved["fraction_synchronous"] == at_zero["fraction_synchronous"]
    shift_ms = shift * 1e3
    np.testing.assert_allclose(
        moved["event_times"] - shift_ms, at_zero["event_times"], rtol=0,
        atol=2 * np.spacing(shift_ms),
    )
    np.testing.assert_allclose(at_zero["event_times"], at_zero["event_steps"] * 0.1, atol=1e-12)


def test_synchronous_events_grid_is_counted_from_t_start():
    # spikes on whole ms with t_start = 0.5 ms are half a period off the grid t_start + k ms
    def trains(t_start, times):
        return [neo.SpikeTrain(t, units="ms", t_start=t_start, t_stop=20.0) for t in times]

    with pytest.raises(DataError, match=r"spiketrains\[0\]: .*t_start \+ k / sampling_rate"):
        synchronous_events(trains(0.5, [[1.0, 5.0], [1.0]]), 1 * pq.kHz)
    ev = synchronous_events(trains(0.5, [[1.5, 5.5], [1.5]]), 1 * pq.kHz)
    assert ev["event_steps"].tolist() == [1] and ev["event_times"].tolist() == [1.5]


# --- unitary events ---------------------------------------------------------------------------


def ue_trials(rng, shift_ms, units):
    factor = 1.0 if units == "ms" else 1e-3
    trials = []
    for _ in range(15):
        common = rng.integers(100, 200, 8)
        trial = []
        for _ in range(2):
            ms = np.unique(np.r_[rng.integers(0, 300, 4), common])  # whole ms: on 1 ms bin edges
            trial.append(
                neo.SpikeTrain(
                    (shift_ms + ms) * factor,
                    units=units,
                    t_start=shift_ms * factor,
                    t_stop=(shift_ms + 300) * factor,
                )
            )
        trials.append(trial)
    return trials


@pytest.mark.parametrize("units", ["ms", "s"])
@pytest.mark.parametrize("shift", SHIFTS_S)
def test_unitary_events_are_exact_under_a_time_shift(units, shift):
    kwargs = dict(bin_size=1 * pq.ms, win_size=100 * pq.ms, win_step=50 * pq.ms)
    at_zero = unitary_events(ue_trials(np.random.default_rng(5), 0.0, units), **kwargs)
    moved = unitary_events(ue_trials(np.random.default_rng(5), shift * 1e3, units), **kwargs)
    n_emp = np.asarray(at_zero["n_emp"]).ravel()
    assert n_emp.max() > 0  # coincidences found (Elephant alone finds none once t_start != 0)
    for key in ("Js", "n_emp", "n_exp", "rate_avg"):
        np.testing.assert_array_equal(np.asarray(moved[key]), np.asarray(at_zero[key]))
    assert sorted(moved["indices"]) == sorted(at_zero["indices"])
    for key in at_zero["indices"]:
        np.testing.assert_array_equal(moved["indices"][key], at_zero["indices"][key])
    np.testing.assert_allclose(
        moved["window_times"] - shift * 1e3, at_zero["window_times"], rtol=0,
        atol=2 * np.spacing(shift * 1e3),
    )
