"""Column interneurons: the spikes of the self-inhibiting stage equal a hand recurrence of the
equations, step by step, in a deterministic column (certain input, saturated attention gain)."""

import numpy as np
import pytest
from brian2 import Network, SpikeMonitor, ms

from hnnbio.circuits.column import ColumnParams, ColumnSheet
from hnnbio.errors import ParameterError

RATIO = 10.0  # ColumnParams.autapse_ratio default


def reference(steps: int, chains: int, r: int, s: int, k: int):
    """Per step, the self-inhibiting spikes of one column's chains and its interneuron's.

    Every pyramidal neuron fires at every step t >= 1 (input at every step from 0, gain 1e9, so
    G U > 1 but for U < 1e-9). A self-inhibiting neuron relays (fires at t) the pyramidal spike of
    t - 1 iff its autapse current at the start of step t is below i_th (jump 2 i_th, threshold
    i_th). In units of i_th that current decays by exp(-1/tau') per step, tau' = (r - 1/2) /
    ln(ratio) steps (1 step without self-inhibition, r = 0), and gains ratio (r > 0) after the
    neuron's own spike and w_inh = exp((s - 1/2) / tau') after an interneuron spike of the same
    step. The interneuron fires at t iff >= k of its chains fired at t - 1 (jumps 1 / (k - 1/2))."""
    tau = (r - 0.5) / np.log(RATIO) if r > 0 else 1.0
    w_self = RATIO if r > 0 else 0.0
    w_inh = np.exp((s - 0.5) / tau) if s > 0 else 0.0
    current = np.zeros(chains)
    fired = np.zeros((steps, chains), dtype=bool)
    inter = np.zeros(steps, dtype=bool)
    margin = np.inf
    for t in range(steps):
        if t >= 2:
            margin = min(margin, float(np.min(np.abs(current - 1.0))))
            fired[t] = current < 1.0
        if t >= 1 and s > 0:
            inter[t] = fired[t - 1].sum() >= k
        current = current * np.exp(-1.0 / tau) + w_self * fired[t] + w_inh * inter[t]
    return fired, inter, margin


def simulate(steps: int, chains: int, r: int, s: int, k: int, n_columns: int = 4):
    params = ColumnParams(refractory_steps=r, chains=chains, up_inputs=1, input_probability=1.0,
                          attention_gain=1e9, inhibition_steps=s, interneuron_inputs=k)
    sheet = ColumnSheet(n_columns, 1, params)
    sheet.set_input(np.ones((n_columns, 1)))
    sheet.set_attention(np.ones((n_columns, 1)))
    relay = SpikeMonitor(sheet.populations["self_inhibiting"])
    monitors = [relay]
    if s > 0:
        monitors.append(SpikeMonitor(sheet.populations["interneuron"]))
    Network(*sheet.objects, *monitors).run(steps * ms)
    fired = np.zeros((steps, n_columns * chains), dtype=bool)
    fired[np.round(np.asarray(relay.t / ms)).astype(int), relay.i[:]] = True
    inter = None
    if s > 0:
        inter = np.zeros((steps, n_columns), dtype=bool)
        inter[np.round(np.asarray(monitors[1].t / ms)).astype(int), monitors[1].i[:]] = True
    return fired.reshape(steps, n_columns, chains), inter


@pytest.mark.parametrize("chains, r, s, k", [(3, 0, 2, 1), (3, 3, 2, 1), (4, 2, 5, 2),
                                             (4, 6, 3, 3)])
def test_relay_and_interneuron_spikes_are_the_hand_recurrence(chains, r, s, k):
    steps = 60
    expected, expected_inter, margin = reference(steps, chains, r, s, k)
    assert margin > 1e-3  # no step is decided by rounding
    fired, inter = simulate(steps, chains, r, s, k)
    for column in range(fired.shape[1]):
        np.testing.assert_array_equal(fired[:, column], expected)
        np.testing.assert_array_equal(inter[:, column], expected_inter)


def test_inhibition_limits_the_chains_firing_per_window():
    # Without interneurons (r = 0) all 3 chains relay at every step from step 2. With one
    # (k = 1, s = 3): the chains fire at steps 2 and 3 (the interneuron fires one step after the
    # first relay, the inhibition lands one step later), then the two interneuron spikes of
    # steps 3 and 4 silence them for steps 4..7 (s = 3 steps from each); the residual of both,
    # exp(-1/2 - 1) + exp(-1/2) = 0.83 i_th < i_th, lets them fire at step 8: period 6, 2 firing
    # steps in each.
    steps = 40
    free, _ = simulate(steps, 3, 0, 0, 1)
    assert free[2:].all()
    fired, _ = simulate(steps, 3, 0, 3, 1)
    column = fired[:, 0, :]
    active = np.flatnonzero(column.any(axis=1))
    assert active.tolist() == [t for t in range(2, steps) if (t - 2) % 6 in (0, 1)]
    assert np.all(column[active].all(axis=1))  # the chains fire together
    for start in range(2, steps - 6):  # at most 2 steps x 3 chains in any 6 steps
        assert column[start:start + 6].sum() <= 6
    assert free[:, 0].sum() > 2.5 * column.sum()


@pytest.mark.parametrize("values, name", [
    ({"inhibition_steps": -1}, "inhibition_steps"),
    ({"inhibition_steps": 1.5}, "inhibition_steps"),
    ({"inhibition_steps": 2, "interneuron_inputs": 0}, "interneuron_inputs"),
    ({"inhibition_steps": 2, "chains": 2, "up_inputs": 1, "interneuron_inputs": 3},
     "interneuron_inputs"),
])
def test_bad_interneuron_params_raise_naming_the_key(values, name):
    with pytest.raises(ParameterError, match=name) as info:
        ColumnParams.from_dict(values)
    assert str(info.value).startswith(name)


def test_interneurons_off_by_default_and_named_populations():
    sheet = ColumnSheet(2, 3)
    assert "interneuron" not in sheet.populations
    sheet = ColumnSheet(2, 3, ColumnParams(chains=2, up_inputs=1, inhibition_steps=2))
    assert sheet.populations["interneuron"].N == 6
    np.testing.assert_array_equal(sheet.synapses["interneuron_self_inhibiting"].i[:],
                                  np.arange(12) // 2)
