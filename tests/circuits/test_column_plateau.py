"""Column with the plateau dendrite: P(pyramidal spike | input spike) below and above the
plateau threshold against the fixed points of the dendrite's equations; parameters."""

import numpy as np
import pytest
from brian2 import Network, NetworkOperation, SpikeMonitor, ms

from hnnbio.circuits.column import ColumnParams, ColumnSheet, plateau_design
from hnnbio.errors import ParameterError

E, V_HALF, K = 60.0, 20.0, 1.0  # mV, the column's plateau dendrite


def high_branch(a, b):
    """The plateau fixed point of m = B(a + b m), iterated from m = 1 (B increasing)."""
    m = 1.0
    for _ in range(200):
        m = 1.0 / (1.0 + np.exp(-(a + b * m - V_HALF) / K))
    return m


def test_pyramidal_probability_is_gated_by_the_plateau():
    """Constant attention c, written (and bound, g = max(g, c)) every step as the loop does.
    The soma reads u = E g m one step after each binding, g = c exp(-1/tau_n). Above threshold m
    is on the plateau branch of m = B(A c + E g m), and with u_scale = E exp(-1/tau_n) / a the
    gain is G = 1 + g_max tanh(a c m): P(pyramidal spike | input spike) = 1 - 1/G. Below, m stays
    under the onset fold, m < m_- = (1 - sqrt(1 - 4k/(E c))) / 2, so P < 1 - 1/G(c m_-)."""
    g_max, n_per, steps = 4.0, 40, 200
    attention = np.array([0.1, 0.25, 0.6, 1.0])
    params = ColumnParams(refractory_steps=0, attention_gain=g_max, plateau_threshold=0.3,
                          plateau_steps=1.0)
    design = plateau_design(params)
    sheet = ColumnSheet(n_per, 4, params)
    sheet.set_input(np.ones((n_per, 4)))
    values = np.tile(attention, (n_per, 1))
    sheet.set_attention(values)
    op = NetworkOperation(lambda: sheet.set_attention(values), dt=1 * ms, when="end")
    pyr = SpikeMonitor(sheet.populations["pyramidal"])
    Network(*sheet.objects, pyr, op).run(steps * ms)
    trials = n_per * (steps - 2)  # input from step 0, pyramidal from step 1; 1 step to settle
    counts = np.bincount(pyr.i[pyr.t > 1.5 * ms] % 4, minlength=4)
    g = attention * np.exp(-1.0 / design["tau_nmda_steps"])
    for k, c in enumerate(attention):
        if c > params.plateau_threshold:
            m = high_branch(design["a_mv"] * c, E * g[k])
            p = 1 - 1 / (1 + g_max * np.tanh(c * m))
            sigma = np.sqrt(trials * p * (1 - p))
            assert abs(counts[k] - trials * p) <= 4 * sigma + 1, (c, counts[k], trials * p)
        else:
            m_fold = 0.5 * (1 - np.sqrt(1 - 4 * K / (E * c)))
            bound = 1 - 1 / (1 + g_max * np.tanh(c * m_fold))
            assert counts[k] <= trials * bound, (c, counts[k], trials * bound)
    assert counts[0] <= 2  # far below: m ~ B(A c) ~ e^-14, P ~ 1e-7


def test_plateau_outlasts_the_attention_by_plateau_steps():
    """Full attention (c = 1) then none: the dendrite holds u for T = plateau_steps + 1.5 steps
    after the last binding (tau_n chosen so), the soma reads it after 1, 2, ... steps, so with
    plateau_steps = 2 it fires (P ~ 1, g_max 1e6) for 2 more steps after the attended ones and
    no more after T + 1 (the collapse takes < 1 step)."""
    params = ColumnParams(refractory_steps=0, attention_gain=1e6, plateau_threshold=0.3,
                          plateau_steps=2.0)
    n = 20
    sheet = ColumnSheet(n, 1, params)
    sheet.set_input(np.ones((n, 1)))
    on = np.ones((n, 1))
    t_last = 9  # the attention written for steps 1..9 (at the end of steps 0..8), then none
    seen = []

    def write():  # at the end of step t, the attention of step t + 1
        seen.append(len(seen))
        sheet.set_attention(on if seen[-1] + 1 <= t_last else 0 * on)

    sheet.set_attention(on)
    op = NetworkOperation(write, dt=1 * ms, when="end")
    pyr = SpikeMonitor(sheet.populations["pyramidal"])
    Network(*sheet.objects, pyr, op).run(20 * ms)
    steps = np.round(np.asarray(pyr.t / ms)).astype(int)
    per_step = np.bincount(steps, minlength=20)
    assert np.all(per_step[1:t_last + 1] == n)  # attended steps
    assert np.all(per_step[t_last + 1:t_last + 3] == n)  # the plateau: 2 more steps
    # gone after T + 1 = 4.5 steps (the collapse past the fold takes < 1 step): at most the
    # tail of the collapse opens a 1e6 gain at the next step, then nothing
    assert per_step[t_last + 4] <= 0.1 * n
    assert np.all(per_step[t_last + 5:] == 0)


def test_default_column_has_no_plateau():
    sheet = ColumnSheet(2, 3)
    assert "dendrite" not in sheet.populations and sheet.plateau is None
    assert "i_dist" in sheet.populations["pyramidal"].variables
    sheet = ColumnSheet(2, 3, ColumnParams(plateau_threshold=0.3, chains=2, up_inputs=1))
    assert sheet.populations["dendrite"].N == 6 and sheet.populations["pyramidal"].N == 12


@pytest.mark.parametrize("values, name", [
    ({"plateau_threshold": -0.1}, "plateau_threshold"),
    ({"plateau_threshold": 0.05}, "plateau_threshold"),  # E c < 4 k: no bistability
    ({"plateau_threshold": 1.0}, "plateau_threshold"),
    ({"plateau_threshold": "high"}, "plateau_threshold"),
    ({"plateau_threshold": 0.3, "plateau_steps": -1.0}, "plateau_steps"),
    ({"plateau_steps": float("inf")}, "plateau_steps"),
    ({"fast_steps": -0.1}, "fast_steps"),  # a negative time constant of the fast stages
])
def test_bad_plateau_params_raise_naming_the_key(values, name):
    with pytest.raises(ParameterError, match=name) as info:
        ColumnParams.from_dict(values)
    assert str(info.value).startswith(name)
