"""PING sheet: escape-noise release from inhibition, the interneuron's threshold and shunt, the
deterministic period against an iterated map, the gamma-cycle ring, the rhythm measurement."""

import numpy as np
import pytest
from brian2 import Network, NetworkOperation, SpikeMonitor, ms

from hnnbio.circuits.ping import PingParams, PingSheet, rhythm
from hnnbio.errors import ParameterError


def run(sheet, steps, *others):
    Network(*sheet.objects, *others).run(steps * sheet.dt * ms)


def uniform(sheet, c):
    sheet.set_ring(np.full(sheet.ring.shape, c, dtype=np.float32))


def test_release_from_inhibition_follows_c_minus_w_exp():
    # No interneuron spike (threshold out of reach) and one spike per unit (long refractoriness):
    # with g = w at the start, a unit fires first at step k with probability
    # p_k prod_{j<k} (1 - p_j), p_k = c - w exp(-(k + 1) / tau) (the state update before the
    # threshold decays g once per step, the first time in step 0).
    n, c, w, tau = 20000, 0.8, 2.0, 3.0
    params = PingParams(inhibitory_threshold=1e9, refractory_steps=1000, inhibition_tau_steps=tau)
    sheet = PingSheet(1, n, params)
    sheet.set_input(np.ones((1, n)))
    uniform(sheet, c)
    sheet.populations["excitatory"].g = w
    mon = SpikeMonitor(sheet.populations["excitatory"])
    steps = 12
    run(sheet, steps, mon)
    first = np.round(mon.t[:] / ms).astype(int)
    assert np.unique(mon.i[:]).size == mon.i[:].size  # one spike each
    measured = np.bincount(first, minlength=steps)[:steps] / n
    p = np.clip(c - w * np.exp(-(np.arange(steps) + 1) / tau), 0, 1)
    expected = p * np.concatenate([[1.0], np.cumprod(1 - p)[:-1]])
    assert expected[:2].sum() == 0 < expected[2]  # silent while g > c: two steps (w e^{-2/3} > c)
    sd = np.sqrt(expected * (1 - expected) / n)
    assert np.all(np.abs(measured - expected) <= 5 * sd + 1e-12), (measured, expected)


@pytest.mark.parametrize("n_units, fires", [(4, True), (3, False)])
def test_interneuron_fires_after_theta_coincident_spikes(n_units, fires):
    # theta = 4 excitatory spikes in step 0 (probability 1: c = 1, no inhibition) fire the
    # interneuron at step 1; 3 do not (v = 3/4 e^{1/tau} e^{-1/tau} = 3/4 < 1).
    params = PingParams(inhibitory_threshold=4.0, refractory_steps=1000, slope=2.0)
    sheet = PingSheet(1, n_units, params)
    sheet.set_input(np.ones((1, n_units)))
    uniform(sheet, 1.0)
    exc = SpikeMonitor(sheet.populations["excitatory"])
    inh = SpikeMonitor(sheet.populations["inhibitory"])
    run(sheet, 6, exc, inh)
    np.testing.assert_array_equal(np.round(exc.t[:] / ms), np.zeros(n_units))
    assert list(np.round(inh.t[:] / ms)) == ([1.0] if fires else [])


def test_interneuron_ignores_spikes_while_refractory():
    # Units firing every step (refractory 0, P = 1) for steps 0 and 1: the interneuron fires at
    # step 1; the spikes of step 1 arrive in its refractory period and are shunted, and from step
    # 2 the inhibition (w = 4) silences the units: exactly one interneuron spike.
    params = PingParams(inhibitory_threshold=4.0, refractory_steps=0, slope=2.0, inhibition=4.0,
                        inhibitory_refractory_steps=2)
    sheet = PingSheet(1, 8, params)
    sheet.set_input(np.ones((1, 8)))
    uniform(sheet, 1.0)
    exc = SpikeMonitor(sheet.populations["excitatory"])
    inh = SpikeMonitor(sheet.populations["inhibitory"])
    run(sheet, 4, exc, inh)
    assert sorted(set(np.round(exc.t[:] / ms).astype(int))) == [0, 1]
    assert list(np.round(inh.t[:] / ms)) == [1.0]


def period_by_map(c, w, tau, beta, cycles=50):
    """Steady-state PING period of deterministic units (beta (c - g) >= 1 fires, no refractory
    limit) by iterating the sequence by hand: the interneuron fires one step after the volley,
    its inhibition lands at the end of that step."""
    g, periods = 0.0, []
    for _ in range(cycles):
        g += w  # end of the interneuron's step
        j = 1
        while beta * (c - g * np.exp(-j / tau)) < 1:
            j += 1
        periods.append(j + 1)  # volley at step j after the spike, interneuron one step later
        g *= np.exp(-(j + 1) / tau)
    return periods[-1]


def test_deterministic_period_matches_the_iterated_map():
    c, w, tau, beta = 0.9, 6.0, 3.0, 1e6
    params = PingParams(inhibition=w, inhibition_tau_steps=tau, slope=beta, refractory_steps=0,
                        inhibitory_threshold=4.0)
    sheet = PingSheet(1, 10, params)
    sheet.set_input(np.ones((1, 10)))
    uniform(sheet, c)
    inh = SpikeMonitor(sheet.populations["inhibitory"])
    run(sheet, 200, inh)
    intervals = np.diff(np.round(inh.t[:] / ms))
    expected = period_by_map(c, w, tau, beta)
    assert expected >= 7  # ln(6.67) * 3 = 5.7 steps of silence, plus volley and interneuron
    assert set(intervals[5:].tolist()) == {expected}


def test_period_grows_with_the_inhibition():
    # PING: the period is set by the circuit (here the inhibition's strength), not given.
    periods = []
    for w in (3.0, 10.0, 30.0):
        sheet = PingSheet(1, 10, PingParams(inhibition=w, inhibition_tau_steps=3.0, slope=1e6,
                                            refractory_steps=0))
        sheet.set_input(np.ones((1, 10)))
        uniform(sheet, 0.9)
        inh = SpikeMonitor(sheet.populations["inhibitory"])
        run(sheet, 300, inh)
        periods.append(np.diff(np.round(inh.t[:] / ms))[5:].mean())
    assert periods[0] < periods[1] < periods[2]


def test_ring_delays_by_k_gamma_cycles():
    # Reconstruction y_n kept at the n-th interneuron spike of an image gates its gamma cycle
    # n + K; the other image, whose interneuron did not fire, keeps its attention.
    K, n_pix = 3, 4
    sheet = PingSheet(2, n_pix, PingParams(slots=K))
    initial = sheet.ring.copy()
    fired = {"now": np.array([0])}
    sheet.fired_images = lambda: fired["now"]
    applied = []
    for n in range(7):
        y = np.full((2, n_pix), 0.1 * (n + 1), dtype=np.float32)
        sheet.sample(y.ravel())
        applied.append(sheet.current_attention()[0].copy())
        np.testing.assert_array_equal(sheet.current_attention()[1], initial[0, 1])
    for n, a in enumerate(applied):  # after the spike of cycle n, cycle n + 1 runs
        expected = initial[(n + 1) % K, 0] if n + 1 < K else np.full(n_pix, 0.1 * (n + 2 - K))
        np.testing.assert_allclose(a, expected, rtol=1e-6)
    att = sheet.populations["excitatory"].attention[:]
    np.testing.assert_allclose(att[:n_pix], applied[-1], rtol=1e-6)
    assert sheet.cycles.tolist() == [7, 0]
    assert [s for s, _ in sheet.cycle_starts] == list(range(7))
    order = sheet.next_cycle()[0]
    np.testing.assert_allclose(order[0], applied[-1], rtol=1e-6)


def test_initial_ring_is_a_soft_assignment():
    sheet = PingSheet(3, 5, PingParams(slots=4))
    np.testing.assert_allclose(sheet.ring.sum(axis=0), 1.0, rtol=1e-5)
    assert (sheet.ring >= 0).all()


def test_rhythm_measures_mean_interval():
    starts = [(10, np.array([0, 1])), (22, np.array([0])), (25, np.array([1])),
              (34, np.array([0])), (40, np.array([1]))]
    r = rhythm(starts, 3, dt_ms=1.0)
    assert r["period_steps"] == pytest.approx((12.0 + 15.0) / 2)
    assert r["frequency_hz"] == pytest.approx(1000 / 13.5)
    assert r["cycles"].tolist() == [3, 3, 0]
    late = rhythm(starts, 3, first_step=20)
    assert late["period_steps"] == pytest.approx((12.0 + 15.0) / 2)
    assert np.isnan(rhythm([], 2)["period_steps"])


def test_foreground_only_units_and_input_outside_refused():
    fg = np.zeros((2, 6), dtype=bool)
    fg[0, 1] = fg[1, 4] = True
    sheet = PingSheet(2, 6, foreground=fg)
    assert sheet.populations["excitatory"].N == 2
    assert sheet.populations["inhibitory"].N == 2
    images = np.zeros((2, 6))
    images[0, 2] = 1
    with pytest.raises(ParameterError, match="outside"):
        sheet.set_input(images)


@pytest.mark.parametrize("key, value", [
    ("slots", 1), ("refractory_steps", -1), ("inhibition", 0.0), ("inhibition_tau_steps", -3.0),
    ("inhibitory_threshold", 0.5), ("inhibitory_tau_steps", float("nan")),
    ("inhibitory_refractory_steps", 0), ("slope", -1.0), ("floor", 1.5), ("adaptation", -0.1),
    ("adaptation_tau_steps", 0.0), ("max_period_steps", 1), ("inhibition_delay_steps", 2.5),
])
def test_bad_parameters_name_themselves(key, value):
    with pytest.raises(ParameterError, match=f"^{key}: "):
        PingParams(**{key: value})


def test_unknown_parameter_named():
    with pytest.raises(ParameterError, match="^tau: unknown ping sheet parameter"):
        PingParams.from_dict({"tau": 3})


def test_sample_runs_inside_a_network_each_step():
    # Driven through a network operation as the engine does: the sheet counts its gamma cycles.
    sheet = PingSheet(2, 30, PingParams(inhibition=10.0, inhibition_tau_steps=3.0))
    sheet.set_input(np.ones((2, 30)))
    op = NetworkOperation(lambda: sheet.sample(np.full(60, 0.9, dtype=np.float32)), dt=1 * ms,
                          when="end")
    run(sheet, 200, op)
    r = rhythm(sheet.cycle_starts, 2)
    assert (sheet.cycles >= 5).all()
    assert 3 < r["period_steps"] < 40
