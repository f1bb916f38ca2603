"""Plateau dendrite: folds against brute force, onset threshold and duration against the
equations, no plateau below threshold, bad parameters."""

import numpy as np
import pytest
from brian2 import Mohm, Network, ms, mV, nA

from hnnbio.errors import ParameterError
from hnnbio.neurons.plateau import (
    PlateauParams,
    build_plateau,
    fold_inputs,
    mg_block,
    offset_binding,
)

V_HALF, K, E = 20.0, 1.0, 60.0  # mV, the defaults


def stable_branches(a, b):
    """Brute force: the stable fixed points of m -> B(a + b m) on a fine grid of m in [0, 1]
    (sign changes of B(a + b m) - m from + to -)."""
    m = np.linspace(0, 1, 200001)
    f = mg_block(a + b * m, V_HALF, K) - m
    down = np.flatnonzero((f[:-1] > 0) & (f[1:] <= 0))
    return m[down]


@pytest.mark.parametrize("b", [6.0, 18.0, 30.0, 60.0])
def test_folds_bound_the_bistable_range_found_by_brute_force(b):
    a_on, a_off = fold_inputs(b, V_HALF, K)
    assert a_off < a_on
    for a, branches in ((a_off - 0.05, 1), (0.5 * (a_off + a_on), 2), (a_on + 0.05, 1)):
        assert len(stable_branches(a, b)) == branches, (a, b)
    # below the onset fold the one branch is the low one, above the plateau
    assert stable_branches(a_on + 0.05, b)[0] > 0.5 > stable_branches(a_off - 0.05, b)[0]


def test_offset_binding_is_where_the_plateau_branch_disappears_without_input():
    b_off = offset_binding(V_HALF, K)
    assert len(stable_branches(0.0, b_off + 0.02)) == 2
    assert len(stable_branches(0.0, b_off - 0.02)) == 1


def test_no_bistability_for_weak_binding():
    with pytest.raises(ParameterError, match="b"):
        fold_inputs(3.9, V_HALF, K)


def run_steps(group, inputs, step=1 * ms, substeps=8):
    """Per step: set the fast drive a (mV) and bind g = max(g, c); return u (mV) after it."""
    out = []
    net = Network(group)
    for a, c in inputs:
        group.i_td = a * mV / (100 * Mohm)
        group.g = np.maximum(group.g[:], c)
        net.run(step)
        out.append(np.array(group.u / mV))
    return np.array(out)


def test_onset_threshold_and_duration_from_the_equations():
    """A constant input (fast drive a = A c, binding c) below the onset fold of the *bound*
    level (A c < a_on(E c)) never leaves the low branch, whatever the unbinding during a step
    (g <= c only lowers b and a_on(b) falls with b). Above the onset fold of the level at the
    step's end (g = c exp(-1/tau_n)) the dendrite jumps to the plateau. After the input the
    plateau lasts while E g > b_off: T = tau_n ln(E c / b_off) after the last binding (and at
    least the 1 ms during which that step's fast drive is on)."""
    tau_n = 3.0  # ms, steps of 1 ms
    c_on = 0.3
    a_per_c = fold_inputs(E * c_on, V_HALF, K)[0] / c_on
    low_edge = c_on  # by construction A c_on = a_on(E c_on)
    decay = np.exp(-1.0 / tau_n)
    cs = np.linspace(0.1, 1.0, 181)
    high_edge = min(c for c in cs if a_per_c * c > fold_inputs(E * c * decay, V_HALF, K)[0])
    below = [0.1, 0.2, 0.9 * low_edge, 0.99 * low_edge]
    above = [1.02 * high_edge, 0.6, 1.0]
    levels = np.array(below + above)
    group = build_plateau(levels.size, tau_nmda=tau_n * ms, dt=1 * ms / 8)
    u = run_steps(group, [(a_per_c * levels, levels)] * 10 + [(0 * levels, 0 * levels)] * 6)
    n_below = len(below)
    # below: the low branch, m under the onset fold m_- = (1 - sqrt(1 - 4k/b)) / 2 of b = E c
    b = E * levels[:n_below]
    m_fold = 0.5 * (1 - np.sqrt(1 - 4 * K / b))
    assert np.all(u[:, :n_below] < b * m_fold)
    assert np.all(u[:, :2] < 1e-3 * E * levels[:2])  # far below: m ~ B(A c) < e^-9
    # above: on the plateau (m ~ 1) from the second step at the latest
    on = u[1:10, n_below:] / (E * levels[n_below:] * decay)
    assert np.all(on > 0.9)
    # u[i] is read 1 ms after the binding of step i; the last binding is step 9's, so u[8 + j]
    # is read j ms after it: plateau iff j < T
    b_off = offset_binding(V_HALF, K)
    checked = 0
    for col, c in enumerate(levels[n_below:], start=n_below):
        # ms after the last binding; the fast drive of its step holds the plateau 1 ms anyway
        duration = max(tau_n * np.log(E * c / b_off), 1.0)
        for j in range(1, 8):
            value = u[8 + j, col]
            checked += j == 1 or j < duration - 0.2 or j > duration + 1
            if j == 1 or j < duration - 0.2:
                assert value > 0.8 * E * c * np.exp(-j / tau_n), (c, j, value)
            elif j > duration + 1:  # the collapse: slow passage past the fold, < 1 ms
                assert value < 0.01 * E, (c, j, value)
    assert checked >= 15


def test_plateau_starts_at_rest():
    group = build_plateau(2)
    for name in ("v_d", "m", "g"):
        np.testing.assert_array_equal(np.asarray(getattr(group, name)[:]), 0.0)
    assert group.i_td[0] == 0 * nA


@pytest.mark.parametrize("kwargs, name", [
    ({"tau_nmda": -3 * ms}, "tau_nmda"),
    ({"tau_dist": 0 * ms}, "tau_dist"),
    ({"tau_gate": -1 * ms}, "tau_gate"),
    ({"v_half": -5 * mV}, "v_half"),  # half unblock below rest
    ({"v_slope": 0 * mV}, "v_slope"),
    ({"e_nmda": 5 * ms}, "e_nmda"),
    ({"r_dist": -1 * Mohm}, "r_dist"),
    ({"nmda": 1.0}, "nmda"),
])
def test_bad_plateau_params_raise_naming_them(kwargs, name):
    with pytest.raises(ParameterError, match=name) as info:
        build_plateau(3, **kwargs)
    assert str(info.value).startswith(name)


def test_pyramidal_distal_mode_is_checked():
    from hnnbio.neurons.pyramidal import build_pyramidal

    with pytest.raises(ParameterError, match="distal"):
        build_pyramidal(2, distal="active")
    _ = PlateauParams()
