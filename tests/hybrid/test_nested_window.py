"""Nested coins of the leaky coincidence window against binomial statistics and hand sequences.

Statistical checks use 4 sigma of the binomial (or of the difference of two binomials); each
count is a sum of N independent neurons, each fed one spike at step 0.
"""

import hashlib
import math

import numpy as np
import pytest
import torch

from hnnbio.errors import ParameterError
from hnnbio.hybrid.units import (
    CoincidenceWindow,
    coincidence_step,
    coincidence_step_sparse,
    nested_coins,
)

N = 40000
KEEPS = [[1.0, 0.5, 0.25], [0.8, 0.5, 0.5, 0.2], [0.9, 0.3, 0.0]]


def _sigma(n, p):
    return math.sqrt(n * p * (1 - p))


def _within(count, n, p, sigmas=4.0):
    return abs(count - n * p) <= sigmas * _sigma(n, p) + 1e-9


def _dense(keep, nested, seed, n=N):
    """Window output (n, L + 2), bool, of n neurons that each spike once, at step 0."""
    spikes = torch.zeros(n, len(keep) + 2, dtype=torch.bool)
    spikes[:, 0] = True
    hu = CoincidenceWindow(keep, nested=nested)
    return hu(spikes, generator=torch.Generator().manual_seed(seed)).bool().numpy()


def _sparse(keep, nested, seed, n=N):
    rng = np.random.default_rng(seed)
    past = [np.zeros(0, np.int64)] * (len(keep) - 1)
    out = np.zeros((n, len(keep) + 2), bool)
    for t in range(out.shape[1]):
        idx = np.arange(n) if t == 0 else np.zeros(0, np.int64)
        kept, past = coincidence_step_sparse(idx, past, np.asarray(keep), rng, nested=nested)
        out[kept, t] = True
    return out


FORMS = {"dense": _dense, "sparse": _sparse}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("keep", KEEPS)
def test_nested_marginals_are_keep(form, keep):
    """P(a spike is output at age a) = keep[a], and never at ages >= L."""
    out = FORMS[form](keep, True, seed=1)
    counts = out.sum(0)
    for a, p in enumerate(keep):
        assert _within(counts[a], N, p), (a, counts[a], N * p)
    assert not counts[len(keep) :].any()


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("keep", KEEPS)
def test_nested_output_ages_form_a_prefix(form, keep):
    """With nested coins a spike kept at age a was kept at every age below: rows read 1..1 0..0."""
    out = FORMS[form](keep, True, seed=2)
    assert np.all(out[:, 1:] <= out[:, :-1])


@pytest.mark.parametrize("form", FORMS)
def test_independent_output_ages_are_not_a_prefix(form):
    """The contrast: independent coins output age 2 without age 1 w.p. (1 - 0.5) * 0.25."""
    out = FORMS[form]([1.0, 0.5, 0.25], False, seed=3)
    gaps = np.count_nonzero(out[:, 2] & ~out[:, 1])
    assert _within(gaps, N, 0.5 * 0.25)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("nested, expected", [(True, 0.25), (False, 0.5 * 0.25)])
def test_joint_statistic_separates_the_semantics(form, nested, expected):
    """P(out at t+1 and t+2 | spike at t): keep[2] nested, keep[1] * keep[2] independent."""
    out = FORMS[form]([1.0, 0.5, 0.25], nested, seed=4)
    both = np.count_nonzero(out[:, 1] & out[:, 2])
    assert _within(both, N, expected), (both, N * expected)


@pytest.mark.parametrize("nested", [True, False])
@pytest.mark.parametrize("keep", KEEPS)
def test_dense_and_sparse_give_the_same_pattern_statistics(keep, nested):
    """Each output pattern over ages 0..L-1 is as frequent in both forms (two-sample, 4 sigma)."""
    codes = 2 ** np.arange(len(keep))
    dense = np.bincount(_dense(keep, nested, seed=5)[:, : len(keep)] @ codes, minlength=codes.sum())
    sparse = np.bincount(
        _sparse(keep, nested, seed=6)[:, : len(keep)] @ codes, minlength=codes.sum()
    )
    p = (dense + sparse) / (2 * N)
    assert np.all(np.abs(dense - sparse) <= 4 * np.sqrt(2 * N * p * (1 - p)) + 1e-9)


class FixedCoins:
    """A stand-in for numpy's Generator whose ``random`` returns the given numbers in order."""

    def __init__(self, values):
        self.values = list(values)

    def random(self, size):
        taken, self.values = self.values[:size], self.values[size:]
        assert len(taken) == size, "ran out of coins"
        return np.array(taken, dtype=float)


def _run_sparse(steps, keep, coins, nested):
    rng = FixedCoins(coins)
    past = [np.zeros(0, np.int64)] * (len(keep) - 1)
    outs = []
    for idx in steps:
        kept, past = coincidence_step_sparse(
            np.array(idx, np.int64), past, np.asarray(keep), rng, nested=nested
        )
        outs.append(sorted(set(kept.tolist())))
    assert rng.values == [], "coins left over: the window drew fewer than expected"
    return outs


STEPS = [[0, 1, 2], [1], [], []]


def test_nested_hand_sequence():
    """keep = [1, 0.5, 0.25]: coins 1 (no draw), 0.5, 0.25 / 0.5 = 0.5.

    t=0: {0,1,2} kept at age 0 -> out {0,1,2}; state [{0,1,2}, {}]
    t=1: {1} at age 0; {0,1,2} at age 1 with u = .2 .7 .4 < .5 -> {0,2}; out {0,1,2};
         state [{1}, {0,2}]
    t=2: {1} at age 1 with u = .6 -> {}; {0,2} at age 2 with u = .1 .9 < .5 -> {0}; out {0};
         state [{}, {}]
    t=3: nothing left, out {}. Neuron 1, dropped at age 1, is never output at age 2.
    """
    coins = [0.2, 0.7, 0.4, 0.6, 0.1, 0.9]
    assert _run_sparse(STEPS, [1.0, 0.5, 0.25], coins, True) == [[0, 1, 2], [0, 1, 2], [0], []]


def test_independent_hand_sequence():
    """The same spikes, independent coins (raw spikes in the state), keep[2] = 0.25.

    t=1: {0,1,2} at age 1, u = .2 .7 .4 < .5 -> {0,2}; out {0,1,2}
    t=2: {1} at age 1, u = .6 -> {}; {0,1,2} at age 2, u = .1 .2 .9 < .25 -> {0,1}; out {0,1}:
         neuron 1 is output at age 2 though dropped at age 1.
    t=3: {} at age 1; {1} at age 2, u = .3 -> {}; out {}.
    """
    coins = [0.2, 0.7, 0.4, 0.6, 0.1, 0.2, 0.9, 0.3]
    assert _run_sparse(STEPS, [1.0, 0.5, 0.25], coins, False) == [[0, 1, 2], [0, 1, 2], [0, 1], []]


def test_dense_nested_matches_a_per_neuron_reference_on_the_same_uniforms():
    """The dense step against a loop over neurons fed the uniforms the step draws (L per step)."""
    keep = [0.9, 0.6, 0.3, 0.3]
    n, steps = 7, 30
    spikes = torch.from_numpy(np.random.default_rng(7).random((n, steps)) < 0.4)
    out = CoincidenceWindow(keep, nested=True)(spikes, generator=torch.Generator().manual_seed(8))
    replay = torch.Generator().manual_seed(8)
    uniforms = [[torch.rand((n,), generator=replay) for _ in keep] for _ in range(steps)]
    coins = [keep[0]] + [keep[a] / keep[a - 1] for a in range(1, len(keep))]
    expected = np.zeros((n, steps))
    for i in range(n):
        kept = [False] * len(keep)  # kept[a]: the spike of age a (at the last step) is kept
        for t in range(steps):
            kept = [bool(spikes[i, t])] + kept[:-1]  # each spike ages by one step
            kept = [k and float(uniforms[t][a][i]) < coins[a] for a, k in enumerate(kept)]
            expected[i, t] = any(kept)
    np.testing.assert_array_equal(out.numpy(), expected)


def test_independent_form_against_a_replay_of_its_coins():
    """Independent reference for the digest below: L uniforms per step (age 0 first, the order
    coincidence_step documents) replayed from the same generator; the output at t is the OR over
    ages a of ``spike[t - a] and u[t][a] < keep[a]``, each age's coin drawn anew every step."""
    rng = np.random.default_rng(5)
    spikes = rng.random((64, 40)) < 0.3
    for keep in ([1.0, 0.5, 0.25], [0.7, 0.9, 0.2, 0.4]):
        out = CoincidenceWindow(keep)(torch.from_numpy(spikes),
                                      generator=torch.Generator().manual_seed(11)).numpy()
        replay = torch.Generator().manual_seed(11)
        keep32 = np.float32(keep)  # the window holds keep as float32, as torch.rand draws
        expected = np.zeros(spikes.shape)
        for t in range(spikes.shape[1]):
            u = [torch.rand((64,), generator=replay).numpy() for _ in keep]
            for i in range(64):
                expected[i, t] = any(t - a >= 0 and spikes[i, t - a] and u[a][i] < keep32[a]
                                     for a in range(len(keep)))
        np.testing.assert_array_equal(out, expected)


def test_independent_form_is_unchanged_bit_for_bit():
    """Regression guard: digests of the independent window, computed with the units.py of commit
    ae34de2 (the behaviour itself is checked against a replay in the test above)."""
    rng = np.random.default_rng(5)
    spikes = torch.from_numpy(rng.random((64, 40)) < 0.3)
    keeps = ([1.0, 0.5, 0.25], [0.7, 0.9, 0.2, 0.4])
    h = hashlib.sha256()
    for keep in keeps:
        out = CoincidenceWindow(keep)(spikes, generator=torch.Generator().manual_seed(11))
        h.update(out.numpy().astype(np.uint8).tobytes())
    assert h.hexdigest() == "699572c9ddfebf839e072205c29096bf5966f5c778a5c950a8c95379fe32f6a0"
    h = hashlib.sha256()
    for keep in keeps:
        keep, r = np.asarray(keep), np.random.default_rng(12)
        past = [np.zeros(0, np.int64)] * (len(keep) - 1)
        for t in range(40):
            idx = np.flatnonzero(spikes[:, t].numpy()).astype(np.int64)
            kept, past = coincidence_step_sparse(idx, past, keep, r)
            h.update(kept.astype(np.int64).tobytes())
    assert h.hexdigest() == "2f5aa2e74298e9b7539affaf578562295c4f3eaab01e412e41c73c934d802bf3"


def test_nested_state_holds_the_kept_sets():
    """keep = [1, 0]: the spike is output at age 0 only, and the state holds nothing kept."""
    hu = CoincidenceWindow([1.0, 0.0], nested=True)
    state = hu.initial_state((3,))
    assert state.shape == (1, 3) and state.dtype == torch.bool
    y, state = hu.step(torch.tensor([True, False, True]), state)
    assert y.tolist() == [1.0, 0.0, 1.0] and state.tolist() == [[True, False, True]]
    y, state = hu.step(torch.zeros(3, dtype=torch.bool), state)
    assert y.tolist() == [0.0, 0.0, 0.0] and not state.any()


def test_window_of_one_step():
    hu = CoincidenceWindow([1.0], nested=True)
    out = hu(torch.tensor([[True, False, True]]))
    assert out.tolist() == [[1.0, 0.0, 1.0]]
    kept, past = coincidence_step_sparse(np.array([4]), [], np.array([1.0]), None, nested=True)
    assert kept.tolist() == [4] and past == []


def test_nested_coins_by_hand():
    np.testing.assert_allclose(nested_coins([1.0, 0.5, 0.25]), [1.0, 0.5, 0.5])
    np.testing.assert_allclose(nested_coins([0.8, 0.4, 0.0, 0.0]), [0.8, 0.5, 0.0, 0.0])
    assert "nested=True" in repr(CoincidenceWindow([1.0, 0.5], nested=True))


@pytest.mark.parametrize("keep", [[0.5, 1.0], [1.0, 0.0, 0.5], [1.2, 1.0], [], [[1.0]]])
def test_nested_refuses_a_keep_that_is_not_non_increasing_probabilities(keep):
    with pytest.raises(ParameterError, match="keep"):
        CoincidenceWindow(keep, nested=True)
    with pytest.raises(ParameterError, match="keep"):
        nested_coins(keep)


def test_step_functions_refuse_a_growing_keep_when_nested():
    keep = [0.5, 1.0]
    with pytest.raises(ParameterError, match="keep"):
        coincidence_step_sparse(
            np.array([0]), [np.zeros(0, int)], np.array(keep), np.random.default_rng(0), nested=True
        )
    with pytest.raises(ParameterError, match="keep"):
        coincidence_step(
            torch.ones(2, dtype=torch.bool),
            torch.zeros(1, 2, dtype=torch.bool),
            torch.tensor(keep),
            nested=True,
        )
    CoincidenceWindow(keep)  # independent coins accept any probabilities, as before
