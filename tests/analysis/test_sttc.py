"""STTC against a brute-force reference of its definition, on any length and any t_start.

The reference (:func:`reference_sttc`) is Cutts & Eglen (2014) written out with plain loops over
spikes in exact arithmetic: the test recordings are integer ticks (1 us or a grid step) counted from
t_start, the reference works on those integers and Fractions, and the code under test gets the float
times ``t_start + tick * unit`` as a user would. Elephant's per-pair STTC is only a reference on
short recordings near t = 0, where its ``np.isclose`` rtol does not reach a pair (see the module
docstring of hnnbio.analysis.sttc).
"""

from fractions import Fraction

import neo
import numpy as np
import pytest
import quantities as pq
from elephant.spike_train_correlation import spike_time_tiling_coefficient

from hnnbio.analysis import sttc as sttc_module
from hnnbio.analysis.sttc import sttc_matrix
from hnnbio.errors import DataError, ParameterError

# Offsets of the whole recording: a simulation, a late segment, Unix wall-clock time, across zero.
SHIFTS_S = [0.0, 1e4, 1.7e9, -300.0]


# --- the reference ----------------------------------------------------------------------------


def reference_terms(trains, t_start, t_stop, dt):
    """P[a][b] and T[a] of the definition, exact (ints or Fractions in; Fractions out).

    P[a][b]: fraction of a's spikes with a spike of b within [-dt, +dt] (closed);
    T[a]: length of the union of [x - dt, x + dt] over a's spikes, clipped to [t_start, t_stop],
    over the recording's length. None for an empty train.
    """
    n = len(trains)
    p = [[None] * n for _ in range(n)]
    t = [None] * n
    for a in range(n):
        if not trains[a]:
            continue
        covered, reached = 0, t_start
        for x in sorted(trains[a]):
            lo = max(x - dt, t_start, reached)
            hi = min(x + dt, t_stop)
            if hi > lo:
                covered += hi - lo
            reached = max(reached, hi)
        t[a] = Fraction(covered) / (t_stop - t_start)
        for b in range(n):
            if trains[b]:
                near = sum(1 for x in trains[a] if any(abs(x - y) <= dt for y in trains[b]))
                p[a][b] = Fraction(near, len(trains[a]))
    return p, t


def reference_sttc(trains, t_start, t_stop, dt):
    """STTC matrix of the definition; a term with P T = 1 is 1; NaN where a train is empty."""
    p, t = reference_terms(trains, t_start, t_stop, dt)
    n = len(trains)
    out = np.full((n, n), np.nan)

    def term(pa, tb):
        return Fraction(1) if pa * tb == 1 else (pa - tb) / (1 - pa * tb)

    for a in range(n):
        for b in range(n):
            if t[a] is not None and t[b] is not None:
                out[a, b] = float((term(p[a][b], t[b]) + term(p[b][a], t[a])) / 2)
    return out, p, t


def tolerance(trains, p, t, length, largest):
    """Largest STTC error float times can cause, derived from float64 spacing.

    With u = spacing(largest |time|), a relative time ``t - t_start`` is off its intended value by
    at most u (half a spacing for each of the two roundings), a gap between spikes by 2u; T sums
    n - 1 clipped gaps and two edges (min is 1-Lipschitz), plus n roundings of its sum and the
    recording length's own error: |dT| <= (2 (n + 1) + n + 1) u / length. P is exact (the test
    recordings keep every pair a resolvable distance from the window's edge). A term
    (P - T) / (1 - P T) moves by at most |dT| / (1 - P T)**2.
    """
    u = float(np.spacing(largest))
    d_t = (3 * max(len(x) for x in trains) + 3) * u / length

    def slope(pa, tb):  # |d/dT (P - T) / (1 - P T)| = (1 - P**2) / (1 - P T)**2; 0 at P = 1
        return 0.0 if pa == 1 else float((1 - pa * pa) / (1 - pa * tb) ** 2)

    worst = 0.0
    for a in range(len(trains)):
        for b in range(len(trains)):
            if t[a] is not None and t[b] is not None:
                worst = max(worst, 0.5 * d_t * (slope(p[a][b], t[b]) + slope(p[b][a], t[a])))
    return worst + 1e-15  # the last rounding of the quotients


# --- recordings -------------------------------------------------------------------------------


def coincident_ticks(rng, n_trains, length, n_source, jitter, p_copy, n_own):
    """Integer spike ticks in [0, length]: jittered copies of a common source plus own spikes."""
    source = rng.integers(0, length + 1, n_source)
    out = []
    for _ in range(n_trains):
        copy = source[rng.random(n_source) < p_copy]
        copy = copy + rng.integers(-jitter, jitter + 1, copy.size)
        own = rng.integers(0, length + 1, n_own)
        out.append(np.unique(np.clip(np.r_[copy, own], 0, length)))
    return out


def to_trains(ticks, unit, shift, length, units="s"):
    """Neo trains of ``shift + tick * unit`` on ``[shift, shift + length * unit]`` (as users do)."""
    return [
        neo.SpikeTrain(
            shift + np.asarray(k, dtype=np.int64) * unit,
            units=units,
            t_start=shift,
            t_stop=shift + length * unit,
        )
        for k in ticks
    ]


def as_lists(ticks):
    return [[int(x) for x in k] for k in ticks]


def assert_matches(ours, ref, tol):
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_allclose(ours[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=0, atol=tol)


def train(times, t_stop=1000.0, t_start=0.0, units="ms"):
    return neo.SpikeTrain(
        np.asarray(times, dtype=float), units=units, t_start=t_start, t_stop=t_stop
    )


# --- against the definition -------------------------------------------------------------------


@pytest.mark.parametrize("shift", SHIFTS_S)
def test_short_recordings_equal_the_definition(rng, shift):
    # 1 s, 8 trains on a 10 us grid (continuous for the exact method, a grid for the grid method);
    # 10 us is above the time resolution at 1.7e9 s (9.5e-7 s), so every intended distance survives
    unit, length, dt = 1e-5, 100_000, 500  # 10 us ticks, 1 s, 5 ms
    ticks = coincident_ticks(rng, 8, length, 40, 900, 0.6, 15)
    ticks[3] = ticks[3][:0]  # one empty train
    ref, p, t = reference_sttc(as_lists(ticks), 0, length, dt)
    trains = to_trains(ticks, unit, shift, length)
    tol = tolerance(as_lists(ticks), p, t, length * unit, abs(shift) + length * unit)
    for kwargs in ({"method": "exact"}, {"sampling_rate": 100 * pq.kHz, "method": "grid"}):
        assert_matches(sttc_matrix(trains, dt=dt * unit * pq.s, **kwargs), ref, tol)


@pytest.mark.parametrize("shift", SHIFTS_S)
def test_600_s_recording_equals_the_definition(rng, shift):
    # the case: 600 s, coincidences jittered by up to 9 ms around a 5 ms window, 1 ms grid
    length, dt = 600_000, 5  # 1 ms ticks
    ticks = coincident_ticks(rng, 3, length, 1000, 9, 0.7, 400)
    ref, p, t = reference_sttc(as_lists(ticks), 0, length, dt)
    tol = tolerance(as_lists(ticks), p, t, 600.0, abs(shift) + 600.0)
    trains = to_trains(ticks, 1e-3, shift, length)
    assert_matches(sttc_matrix(trains, dt=5 * pq.ms, method="exact"), ref, tol)
    grid = sttc_matrix(trains, dt=5 * pq.ms, sampling_rate=1 * pq.kHz, method="grid")
    assert_matches(grid, ref, tol)
    # and in ms, where 1.7e12 ms is still resolved to 2.4e-4 ms
    trains_ms = to_trains(ticks, 1.0, shift * 1e3, length, units="ms")
    assert_matches(
        sttc_matrix(trains_ms, dt=5 * pq.ms, method="exact"),
        ref,
        tolerance(as_lists(ticks), p, t, 600e3, abs(shift) * 1e3 + 600e3),
    )


def test_elephant_is_wrong_on_the_600_s_recording(rng):
    # documents why Elephant is not the reference here: its window is 5 ms + 1e-5 * t
    length = 600_000
    ticks = coincident_ticks(rng, 2, length, 1000, 9, 0.7, 400)
    ref, _, _ = reference_sttc(as_lists(ticks), 0, length, 5)
    trains = to_trains(ticks, 1.0, 0.0, length, units="ms")
    elephant = spike_time_tiling_coefficient(trains[0], trains[1], dt=5 * pq.ms)
    ours = sttc_matrix(trains, dt=5 * pq.ms)[0, 1]
    assert ours == pytest.approx(ref[0, 1], abs=1e-12)
    assert elephant > ref[0, 1] + 0.05


@pytest.mark.parametrize("shift", SHIFTS_S)
@pytest.mark.parametrize("units, unit", [("s", 1e-3), ("ms", 1.0)])
def test_edge_cases_equal_the_definition(shift, units, unit):
    length, dt = 1000, 5  # ticks of 1 ms
    ticks = [
        [],  # empty: NaN row and column
        [500],  # single spike
        [500],  # identical to the previous
        [0, 1000],  # spikes at t_start and t_stop
        [2, 998],  # closer than dt to both edges
        list(range(0, 1001, 10)),  # tiles the whole recording (T = 1)
        list(range(5, 1000, 10)),  # every spike exactly dt from one of the previous train
        [100, 100, 103],  # repeated spike time
        [495, 506],  # exactly dt before train 1's spike, and dt + 1 ms after it
        [700, 400, 650],  # unsorted
    ]
    ref, p, t = reference_sttc(ticks, 0, length, dt)
    offset = shift * 1e3 if units == "ms" else shift
    trains = to_trains(ticks, unit, offset, length, units)
    largest = abs(offset) + length * unit
    tol = tolerance(ticks, p, t, length * unit, largest)
    rate = (1 / (unit * pq.Quantity(1, units))).rescale(pq.kHz)
    ours = sttc_matrix(trains, dt=dt * unit * pq.Quantity(1, units), sampling_rate=rate)
    assert_matches(ours, ref, tol)
    exact = sttc_matrix(trains, dt=dt * unit * pq.Quantity(1, units), method="exact")
    assert_matches(exact, ref, tol)
    assert np.isnan(ours[0]).all() and np.isnan(ours[:, 0]).all()
    assert ours[1, 2] == 1.0
    # window closed: 495 is dt before 500 and counts, 506 does not
    assert p[8][1] == Fraction(1, 2) and p[1][8] == 1
    assert ours[1, 8] == pytest.approx(ref[1, 8], abs=1e-12)


def test_hand_computed_value():
    # A = {10, 50, 90}, B = {12, 52, 70} in [0, 100] ms, dt = 5 ms.
    # P_A = 2/3 (10 and 50 have partners), P_B = 2/3; T_A = T_B = 3 * 10 / 100 = 0.3.
    # STTC = (2/3 - 0.3) / (1 - 0.2) = 0.458333...
    a = train([10, 50, 90], t_stop=100)
    b = train([12, 52, 70], t_stop=100)
    expected = (2 / 3 - 0.3) / (1 - 2 / 3 * 0.3)
    assert sttc_matrix([a, b], dt=5 * pq.ms)[0, 1] == pytest.approx(expected, abs=1e-15)
    assert reference_sttc([[10, 50, 90], [12, 52, 70]], 0, 100, 5)[0][0, 1] == pytest.approx(
        expected, abs=1e-15
    )


# --- time-shift invariance --------------------------------------------------------------------


@pytest.mark.parametrize("shift", [1e4, 1.7e9, -300.0])
def test_grid_method_is_bit_identical_under_a_time_shift(rng, shift):
    # Brian2 at dt = 0.1 ms, in seconds: t_start + k * 1e-4 is rounded far from 0, the ticks are not
    step, length = 1e-4, 20_000  # 2 s
    ticks = coincident_ticks(rng, 30, length, 60, 60, 0.5, 20)
    at_zero = to_trains(ticks, step, 0.0, length)
    moved = to_trains(ticks, step, shift, length)
    for dt in (5 * pq.ms, 2 * pq.ms, 0.15 * pq.ms):
        a = sttc_matrix(at_zero, dt=dt, sampling_rate=10 * pq.kHz, method="grid")
        b = sttc_matrix(moved, dt=dt, sampling_rate=10 * pq.kHz, method="grid")
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shift", [1e4, 1.7e9])
def test_exact_method_is_bit_identical_when_the_shifted_times_are_exact(rng, shift):
    # times on a 2**-12 s grid: shift + t is exactly representable up to 2**41 s, so the moved
    # recording is the same recording and the relative-time computation returns the same bits
    unit, length = 2.0**-12, 4096 * 3
    ticks = coincident_ticks(rng, 12, length, 50, 40, 0.6, 20)
    a = sttc_matrix(to_trains(ticks, unit, 0.0, length), dt=5 * pq.ms, method="exact")
    b = sttc_matrix(to_trains(ticks, unit, shift, length), dt=5 * pq.ms, method="exact")
    np.testing.assert_array_equal(a, b)


def test_long_recordings_use_chunks_of_time(rng, monkeypatch):
    # a raster too long for one chunk is processed in pieces; the result does not change
    length = 60_000
    ticks = coincident_ticks(rng, 6, length, 300, 8, 0.6, 100)
    trains = to_trains(ticks, 1.0, 1e7, length, units="ms")
    whole = sttc_matrix(trains, dt=5 * pq.ms, sampling_rate=1 * pq.kHz, method="grid")
    monkeypatch.setattr(sttc_module, "_CHUNK_CELLS", 6 * 997)
    pieces = sttc_matrix(trains, dt=5 * pq.ms, sampling_rate=1 * pq.kHz, method="grid")
    np.testing.assert_array_equal(whole, pieces)
    ref, _, _ = reference_sttc(as_lists(ticks), 0, length, 5)
    assert_matches(pieces, ref, 1e-12)


def test_auto_takes_the_cheaper_method_with_the_same_result(rng):
    # 2 sparse trains on a 1 MHz grid: the grid method would multiply 10**6 bins; auto goes exact
    ticks = [np.unique(rng.integers(0, 1_000_000, 30)) for _ in range(2)]
    trains = to_trains(ticks, 1e-3, 0.0, 1_000_000, units="ms")
    assert not sttc_module._grid_cheaper(ticks)
    auto = sttc_matrix(trains, dt=5 * pq.ms, sampling_rate=1 * pq.MHz)
    grid = sttc_matrix(trains, dt=5 * pq.ms, sampling_rate=1 * pq.MHz, method="grid")
    np.testing.assert_array_equal(auto, grid)


# --- Elephant, near t = 0 only ----------------------------------------------------------------


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


def outside_elephants_band(trains, dt_ms):
    """Drop spikes with a partner in (dt, dt + 1e-5 t_stop], where Elephant's window is too wide."""
    widest = dt_ms + 1e-5 * max(float(st.t_stop) for st in trains)
    out = []
    for i, st in enumerate(trains):
        t = st.magnitude
        others = np.concatenate([o.magnitude for j, o in enumerate(trains) if j != i])
        gap = np.abs(t[:, None] - others[None, :])
        bad = ((gap > dt_ms) & (gap <= widest)).any(axis=1)
        out.append(train(t[~bad], t_stop=float(st.t_stop)))
    return out


@pytest.mark.parametrize("method", ["exact", "auto"])
def test_random_continuous_trains_equal_elephant_near_zero(rng, method):
    trains = [train(np.sort(rng.uniform(0, 1000, rng.integers(0, 40)))) for _ in range(25)]
    for dt in (5 * pq.ms, 0.02 * pq.s):
        safe = outside_elephants_band(trains, dt.rescale(pq.ms).item())
        assert_same(sttc_matrix(safe, dt=dt, method=method), elephant_matrix(safe, dt))


@pytest.mark.parametrize("step_ms", [1.0, 0.1])
def test_random_grid_trains_equal_elephant_near_zero(rng, step_ms):
    # spikes at k * step as Brian2 produces them; windows that are exact multiples of the step
    # put many pairs exactly on the window's edge (Elephant's 1e-5 * 500 ms is below one step)
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


def test_edge_cases_equal_elephant_near_zero():
    trains = [
        train([]),
        train([500.0]),
        train([500.0]),
        train([0.0, 1000.0]),
        train([2.0, 998.0]),
        train(np.arange(0, 1001, 10.0)),
        train(np.arange(3, 1000, 10.0)),
        train([100.0, 100.0, 103.0]),
    ]
    dt = 5 * pq.ms
    ref = elephant_matrix(trains, dt)
    assert_same(sttc_matrix(trains, dt=dt, sampling_rate=1 * pq.kHz), ref)
    assert_same(sttc_matrix(trains, dt=dt, method="exact"), ref)


# --- arguments --------------------------------------------------------------------------------


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
    exact = sttc_matrix(trains, method="exact")
    np.testing.assert_array_equal(sttc_matrix(trains, sampling_rate=1 * pq.kHz), exact)
    with pytest.raises(ParameterError, match="sampling_rate"):
        sttc_matrix(trains, sampling_rate=1 * pq.kHz, method="grid")
    # the grid is counted from t_start: spikes on k ms with t_start = 0.5 ms are off it
    shifted = [train([1.0, 7.0], t_start=0.5), train([3.0], t_start=0.5)]
    with pytest.raises(ParameterError, match="t_start"):
        sttc_matrix(shifted, sampling_rate=1 * pq.kHz, method="grid")
    np.testing.assert_array_equal(
        sttc_matrix(shifted, sampling_rate=1 * pq.kHz), sttc_matrix(shifted, method="exact")
    )


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
        sttc_matrix(good, sampling_rate=5 * pq.ms)
    with pytest.raises(ParameterError, match="sampling_rate"):
        sttc_matrix(good, method="grid")
    with pytest.raises(ParameterError, match="method"):
        sttc_matrix(good, method="fast")
