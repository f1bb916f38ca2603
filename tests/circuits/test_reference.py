"""The reference sheet vs renewal theory: spike probability x*c, r silent steps after a spike."""

import numpy as np
import pytest
from brian2 import Network, NetworkOperation, SpikeMonitor, ms

from hnnbio.circuits.reference import ReferenceSheet
from hnnbio.circuits.sheet import Sheet
from hnnbio.errors import ParameterError


def _run(sheet, steps):
    mon = SpikeMonitor(sheet.output)
    net = Network(*sheet.objects, mon)
    net.run(steps * sheet.dt * ms)
    return np.round(np.asarray(mon.t_) / (sheet.dt * 1e-3)).astype(int), np.asarray(mon.i)


def test_is_a_sheet():
    assert isinstance(ReferenceSheet(2, 3, 1), Sheet)


def test_full_drive_fires_every_r_plus_one_steps():
    r = 4
    sheet = ReferenceSheet(2, 3, r, dt=1.0)
    sheet.set_input(np.ones((2, 3)))
    sheet.set_attention(np.ones((2, 3)))
    steps, neurons = _run(sheet, 20)
    for n in range(6):
        assert steps[neurons == n].tolist() == list(range(0, 20, r + 1))


def test_rate_matches_renewal_theory():
    """Inter-spike interval = r + Geometric(p): mean rate p / (1 + r p) spikes per step."""
    p, r, n_units, steps = 0.3, 3, 2000, 200
    sheet = ReferenceSheet(4, n_units // 4, r, dt=0.5)
    x = np.ones((4, n_units // 4))
    x[:, ::2] = 0  # half the pixels are background: they never fire
    sheet.set_input(x)
    sheet.set_attention(np.full(x.shape, p))
    t, i = _run(sheet, steps)
    assert not np.isin(i, np.flatnonzero(x.ravel() == 0)).any()
    active = int(x.sum())
    rate = t.size / (active * steps)
    expected = p / (1 + r * p)
    # the count of a renewal process has variance ~ n * CV^2 * rate; CV^2 <= 1 here: 5 sigma bound
    assert abs(rate - expected) < 5 * np.sqrt(expected / (active * steps))
    # no unit fires within r steps of its previous spike
    order = np.lexsort((t, i))
    same = np.diff(i[order]) == 0
    assert (np.diff(t[order])[same] > r).all()


def test_step_spikes_and_indices():
    sheet = ReferenceSheet(2, 4, 0)
    x = np.array([[1, 0, 1, 0], [0, 0, 0, 1]], float)
    sheet.set_input(x)
    sheet.set_attention(np.ones((2, 4)))
    seen = []

    def read():  # valid inside a network operation at the end of the step
        seen.append((sheet.step_spikes().tolist(), sorted(sheet.step_indices().tolist())))

    Network(*sheet.objects, NetworkOperation(read, dt=sheet.dt * ms, when="end")).run(sheet.dt * ms)
    assert seen == [((x > 0).tolist(), [0, 2, 7])]


@pytest.mark.parametrize(
    "args, name",
    [
        ((0, 4, 1), "n_images"),
        ((2, 0, 1), "n_pixels"),
        ((2, 4, -1), "refractory_steps"),
        ((2, 4, 1.5), "refractory_steps"),
        ((2, 4, 1, 0.0), "dt"),
    ],
)
def test_bad_arguments(args, name):
    with pytest.raises(ParameterError, match=name):
        ReferenceSheet(*args)


def test_bad_input_shape():
    with pytest.raises(ParameterError, match="images"):
        ReferenceSheet(2, 4, 1).set_input(np.ones((4, 2)))


def test_foreground_only_sheet_speaks_flat_indices():
    x = np.array([[1, 0, 1, 0], [0, 0, 0, 1]], float)
    sheet = ReferenceSheet(2, 4, 0, foreground=x > 0)
    assert len(sheet.group) == 3
    sheet.set_input(x)
    sheet.set_attention(np.array([[1, 5, 0, 5], [5, 5, 5, 1]], float))  # only units' c is read
    seen = []

    def read():
        seen.append(sorted(sheet.step_indices().tolist()))

    Network(*sheet.objects, NetworkOperation(read, dt=sheet.dt * ms, when="end")).run(sheet.dt * ms)
    assert seen == [[0, 7]]
    with pytest.raises(ParameterError, match="images"):
        sheet.set_input(np.ones((2, 4)))
    with pytest.raises(ParameterError, match="foreground"):
        ReferenceSheet(2, 4, 0, foreground=np.zeros((2, 4), bool))
    with pytest.raises(ParameterError, match="foreground"):
        ReferenceSheet(2, 4, 0, foreground=np.ones((4, 2), bool))


def test_attention_reaches_the_foreground_units_in_any_dtype():
    x = np.array([[1, 0, 1, 0], [0, 0, 0, 1]], float)
    sheet = ReferenceSheet(2, 4, 0, foreground=x > 0)
    for dtype in (np.float32, np.float64):  # the direct gather (float32) and the converting one
        attention = np.array([[0.25, 9, 0.5, 9], [9, 9, 9, 0.75]], dtype)
        sheet.set_attention(attention)
        assert sheet.group.c[:].tolist() == [0.25, 0.5, 0.75]
    with pytest.raises(ParameterError, match="attention"):
        sheet.set_attention(np.ones(7, np.float32))
