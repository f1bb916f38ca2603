"""Column sheet: batching/indexing, step_spikes, attention gain against theory, background."""

import numpy as np
import pytest
from brian2 import Network, NetworkOperation, SpikeMonitor, ms

from hnnbio.circuits.column import POPULATIONS, ColumnParams, ColumnSheet
from hnnbio.errors import ParameterError


def run(sheet, steps, monitors=()):
    Network(*sheet.objects, *monitors).run(steps * sheet.dt * ms)


def test_batch_is_one_group_per_population():
    sheet = ColumnSheet(3, 7)
    assert set(sheet.populations) == set(POPULATIONS)
    for group in sheet.populations.values():
        assert group.N == 21
    for syn in sheet.synapses.values():
        assert len(syn) == 21
        np.testing.assert_array_equal(syn.i[:], syn.j[:])
    assert sheet.output is sheet.populations["coincidence"]


def test_index_is_image_times_n_plus_pixel():
    # Only pixel 3 of image 1 is foreground: only flat index 1 * 5 + 3 = 8 may ever spike.
    sheet = ColumnSheet(2, 5)
    images = np.zeros((2, 5))
    images[1, 3] = 1
    sheet.set_input(images)
    sheet.set_attention(np.ones((2, 5)))
    monitors = {k: SpikeMonitor(g) for k, g in sheet.populations.items()}
    run(sheet, 60, monitors.values())
    for name, mon in monitors.items():
        assert set(np.unique(mon.i[:]).tolist()) == {8}, name
    assert sheet.step_spikes().shape == (2, 5)


def test_step_spikes_agree_with_a_spike_monitor():
    sheet = ColumnSheet(2, 10, ColumnParams(refractory_steps=2))
    sheet.set_input(np.ones((2, 10)))
    sheet.set_attention(np.full((2, 10), 0.5))
    seen = []
    op = NetworkOperation(lambda: seen.append(sheet.step_spikes().copy()), dt=1 * ms, when="end")
    mon = SpikeMonitor(sheet.output)
    Network(*sheet.objects, mon, op).run(80 * ms)
    raster = np.array(seen).reshape(80, 20)
    expected = np.zeros((80, 20), dtype=bool)
    expected[np.round(np.asarray(mon.t / ms)).astype(int), mon.i[:]] = True
    assert raster.sum() > 50
    np.testing.assert_array_equal(raster, expected)


def test_attention_sets_pyramidal_probability_and_output_rate():
    # Theory (column docstring): one step after an input spike the pyramidal cell fires with
    # probability 1 - 1/G, G = 1 + g_max tanh(a c); with input probability 1 that is its rate per
    # step. The output relays it with r silent steps after each spike: rate P / (1 + r P).
    attention = np.array([0.0, 0.02, 0.1, 0.3, 1.0])
    n_per, steps, r = 40, 300, 3
    params = ColumnParams(refractory_steps=r, attention_gain=4.0, attention_scale=1.0)
    sheet = ColumnSheet(n_per, 5, params)
    sheet.set_input(np.ones((n_per, 5)))
    sheet.set_attention(np.tile(attention, (n_per, 1)))
    pyr = SpikeMonitor(sheet.populations["pyramidal"])
    out = SpikeMonitor(sheet.output)
    run(sheet, steps, [pyr, out])
    gain = 1 + 4.0 * np.tanh(attention)
    p = 1 - 1 / gain
    trials = n_per * (steps - 1)  # the first step has no input spike yet
    pyr_counts = np.bincount(pyr.i[:] % 5, minlength=5)
    sigma = np.sqrt(trials * p * (1 - p))
    assert np.all(np.abs(pyr_counts - trials * p) <= 4 * sigma + 1)
    rate = np.bincount(out.i[:] % 5, minlength=5) / (n_per * steps)
    assert np.all(np.diff(rate) > 0)
    expected = p / (1 + r * p)
    # soft refractoriness: the autapse's residual after a burst adds < 5 % to the intervals
    np.testing.assert_allclose(rate[1:], expected[1:], rtol=0.1)
    # never a spike inside the refractory period
    steps_of = np.round(np.asarray(out.t / ms)).astype(int)
    order = np.lexsort((steps_of, out.i[:]))
    same = np.diff(out.i[:][order]) == 0
    assert np.min(np.diff(steps_of[order])[same]) >= r + 1


def test_attention_increases_output_of_attended_pixels():
    sheet = ColumnSheet(4, 20)
    sheet.set_input(np.ones((4, 20)))
    attention = np.full((4, 20), 0.02)
    attention[:, :10] = 1.0
    sheet.set_attention(attention)
    mon = SpikeMonitor(sheet.output)
    run(sheet, 100, [mon])
    counts = np.bincount(mon.i[:] % 20, minlength=20)
    assert counts[:10].min() > counts[10:].max()


def test_background_pixels_never_spike():
    sheet = ColumnSheet(2, 30)
    images = (np.arange(60).reshape(2, 30) % 3 == 0).astype(float)
    sheet.set_input(images)
    sheet.set_attention(np.ones((2, 30)))
    monitors = [SpikeMonitor(g) for g in sheet.populations.values()]
    run(sheet, 50, monitors)
    for mon in monitors:
        assert mon.num_spikes > 0
        assert np.all(images.ravel()[mon.i[:]] == 1)


@pytest.mark.parametrize("values, name", [
    ({"refractory_step": 3}, "refractory_step"),
    ({"refractory_steps": -1}, "refractory_steps"),
    ({"refractory_steps": 2.5}, "refractory_steps"),
    ({"input_probability": 1.5}, "input_probability"),
    ({"input_probability": 0}, "input_probability"),
    ({"attention_gain": -2.0}, "attention_gain"),
    ({"attention_scale": "big"}, "attention_scale"),
    ({"autapse_ratio": 0.5}, "autapse_ratio"),
    ({"up_inputs": 0}, "up_inputs"),
    ({"up_window_steps": 0}, "up_window_steps"),
    ({"fast_steps": float("nan")}, "fast_steps"),
    ({"output": "input"}, "output"),
])
def test_bad_sheet_params_raise_naming_the_key(values, name):
    with pytest.raises(ParameterError, match=name) as info:
        ColumnParams.from_dict(values)
    assert str(info.value).startswith(name)


def test_from_dict_reads_a_spec_section():
    params = ColumnParams.from_dict({"refractory_steps": 9, "attention_gain": 5.0})
    assert params.refractory_steps == 9 and params.attention_gain == 5.0


@pytest.mark.parametrize("kwargs, name", [
    ({"n_images": 0, "n_pixels": 4}, "n_images"),
    ({"n_images": 2, "n_pixels": 2.5}, "n_pixels"),
    ({"n_images": 2, "n_pixels": 4, "dt": -1.0}, "dt"),
    ({"n_images": 2, "n_pixels": 4, "params": {"refractory_steps": 2}}, "params"),
])
def test_bad_sheet_arguments_raise(kwargs, name):
    with pytest.raises(ParameterError, match=name):
        ColumnSheet(**kwargs)


def test_bad_images_raise():
    sheet = ColumnSheet(2, 4)
    with pytest.raises(ParameterError, match="images"):
        sheet.set_input(np.ones((4, 2)))
    with pytest.raises(ParameterError, match="images"):
        sheet.set_input(np.full((2, 4), 2.0))


def test_foreground_only_sheet_speaks_flat_indices():
    # Foreground: pixels 1 and 4 of image 0, pixel 2 of image 1 -> flat indices 1, 4, 7 (N = 5).
    images = np.zeros((2, 5))
    images[0, [1, 4]] = 1
    images[1, 2] = 1
    sheet = ColumnSheet(2, 5, ColumnParams(refractory_steps=1), foreground=images > 0)
    assert sheet.output.N == 3
    np.testing.assert_array_equal(sheet.units, [1, 4, 7])
    sheet.set_input(images)
    attention = np.zeros((2, 5))
    attention[0, 4] = attention[1, 2] = 1.0  # pixel 1 of image 0 unattended
    sheet.set_attention(attention)
    seen = []
    op = NetworkOperation(lambda: seen.append(sheet.step_spikes().copy()), dt=1 * ms, when="end")
    Network(*sheet.objects, op).run(60 * ms)
    total = np.sum(seen, axis=0)
    assert total[0, 4] > 10 and total[1, 2] > 10
    assert total[0, 1] == 0
    assert total.sum() == total[0, 4] + total[1, 2]


def test_foreground_errors():
    with pytest.raises(ParameterError, match="foreground"):
        ColumnSheet(2, 5, foreground=np.zeros((2, 5), bool))
    with pytest.raises(ParameterError, match="foreground"):
        ColumnSheet(2, 5, foreground=np.ones((5, 2), bool))
    sheet = ColumnSheet(1, 3, foreground=np.array([[True, False, False]]))
    with pytest.raises(ParameterError, match="images"):
        sheet.set_input(np.array([[1.0, 1.0, 0.0]]))


def test_chains_are_m_neurons_per_column_converging_on_one_detector():
    sheet = ColumnSheet(2, 5, ColumnParams(chains=3, up_inputs=2))
    for name in ("input", "pyramidal", "self_inhibiting"):
        assert sheet.populations[name].N == 30
    assert sheet.populations["coincidence"].N == 10
    syn = sheet.synapses["self_inhibiting_coincidence"]
    np.testing.assert_array_equal(syn.j[:], syn.i[:] // 3)


def test_chain_coincidence_rate_is_the_binomial_theory():
    """M = 3 chains, each an input of probability p_in then a pyramidal cell of probability
    q_pyr = 1 - 1/G(c) per step, no refractoriness (r = 0), so each chain's relayed spike in a
    step is an independent coin of probability q = p_in q_pyr. The detector (k = 2, window 1)
    sees A = {>= 2 of 3 chains} with P(A) = 3 q^2 (1 - q) + q^3; it fires in the first step of
    each run of A steps (it stays refractory while its box potential holds the threshold), so its
    rate per step is P(A) (1 - P(A))."""
    attention = np.array([0.05, 0.2, 1.0])
    n_per, steps, p_in, g = 60, 300, 0.7, 4.0
    params = ColumnParams(refractory_steps=0, chains=3, up_inputs=2, up_window_steps=1,
                          input_probability=p_in, attention_gain=g)
    sheet = ColumnSheet(n_per, 3, params)
    sheet.set_input(np.ones((n_per, 3)))
    sheet.set_attention(np.tile(attention, (n_per, 1)))
    out = SpikeMonitor(sheet.output)
    run(sheet, steps, [out])
    q = p_in * (1 - 1 / (1 + g * np.tanh(attention)))
    pa = 3 * q**2 * (1 - q) + q**3
    expected = pa * (1 - pa)
    trials = n_per * (steps - 3)  # the chain's first three steps carry no spike yet
    counts = np.bincount(out.i[:] % 3, minlength=3)
    sigma = np.sqrt(trials * expected * (1 - expected))
    assert np.all(np.abs(counts - trials * expected) <= 4 * sigma + 2), (counts, trials * expected)


@pytest.mark.parametrize("values, name", [
    ({"chains": 0}, "chains"),
    ({"chains": 2, "output": "pyramidal"}, "output"),
    ({"chains": 1, "up_inputs": 2}, "up_inputs"),
])
def test_bad_chain_params_raise_naming_the_key(values, name):
    with pytest.raises(ParameterError, match=name):
        ColumnParams.from_dict(values)
