"""Every primitive bit-exact against a scalar reference in plain Python integers (loops, no numpy),
over random inputs that include the overflow and saturation edges, plus hand-computed sequences."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hnnbio.chip import primitives as P
from hnnbio.errors import ParameterError

pytestmark = pytest.mark.emulator

INT32 = (-(2 ** 31), 2 ** 31 - 1)
M28 = (-(2 ** 27), 2 ** 27 - 1)


def clamp(x, low, high):
    return low if x < low else high if x > high else x


def ref_sat(x, bits):
    return clamp(x, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


def ref_matvec(x, w, bits):
    rows, cols = len(w), len(w[0])
    out = []
    for b in range(len(x)):
        row = []
        for j in range(cols):
            total = 0
            for i in range(rows):
                total += x[b][i] * w[i][j]
            row.append(ref_sat(total, bits))
        out.append(row)
    return out


def ref_lfsr_step(s):
    lsb = s & 1
    s >>= 1
    if lsb:
        s ^= 0x80200003
    return s


def ref_lif(v, ref, inp, noise, alpha, v_leak, vth, mode, v_reset, r, bits=28):
    if ref > 0:
        return v, ref - 1, False
    v = ref_sat(((v * alpha) >> 8) + v_leak + inp, bits)
    th = ref_sat(vth + noise, bits)
    if v > th:
        if mode == "value":
            v = v_reset
        elif mode == "subtract":
            v = ref_sat(v - th, bits)
        elif mode == "subtract_constant":
            v = ref_sat(v - v_reset, bits)
        return v, r, True
    return v, 0, False


edge_int32 = st.one_of(st.integers(*INT32), st.sampled_from([INT32[0], INT32[1], 0, -1, 1]))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3), st.integers(1, 40), st.integers(1, 6), st.booleans(), st.data())
def test_matvec_exact_and_saturating(batch, n_axons, n_neurons, signed, data):
    lo = -128 if signed else 0
    x = [[data.draw(st.integers(lo, 255 if not signed else 127)) for _ in range(n_axons)]
         for _ in range(batch)]
    weight = st.sampled_from([-128, 127, 0]) | st.integers(-128, 127)
    w = [[data.draw(weight) for _ in range(n_neurons)] for _ in range(n_axons)]
    for bits in (32, 16):  # 16 bits: a narrow accumulator makes saturation reachable
        got = P.matvec(np.array(x), np.array(w, dtype=np.int8), bits)
        assert got.tolist() == ref_matvec(x, w, bits)


def test_matvec_saturates_at_the_accumulator_edges():
    x = np.full((1, 300), 255)
    w = np.full((300, 2), 127, dtype=np.int8)
    w[:, 1] = -128
    assert P.matvec(x, w, 16).tolist() == [[2 ** 15 - 1, -(2 ** 15)]]
    # float64 path (more than 514 axons): still exact
    x = np.full((1, 600), 255)
    w = np.full((600, 1), -128, dtype=np.int8)
    assert P.matvec(x, w, 32).tolist() == [[600 * 255 * -128]]


@settings(max_examples=80, deadline=None)
@given(edge_int32, edge_int32)
def test_add_sat(a, b):
    assert int(P.add_sat(np.array([a]), np.array([b]))[0]) == ref_sat(a + b, 32)


@settings(max_examples=80, deadline=None)
@given(st.integers(-128, 255), st.integers(-128, 255), st.integers(0, 9), st.booleans())
def test_hadamard(a, b, shift, signed):
    want = clamp((a * b) >> shift, -128, 127) if signed else clamp((a * b) >> shift, 0, 255)
    assert int(P.hadamard(np.array([a]), np.array([b]), shift, signed)[0]) == want


@settings(max_examples=80, deadline=None)
@given(edge_int32, st.integers(0, 31))
def test_lut_index_clamps(acc, shift):
    table = np.arange(256, dtype=np.int64)[::-1]  # value = 255 - index
    index = clamp(acc >> shift, -128, 127) + 128
    assert int(P.lut(np.array([acc]), shift, table)[0]) == 255 - index


def test_lut_golden():
    table = np.arange(256)
    # -300 >> 2 = -75 (floor), index 53; 1000 >> 2 = 250 -> clamp 127, index 255;
    # -1 >> 3 = -1 (floor, not 0), index 127
    assert P.lut(np.array([-300, 1000]), 2, table).tolist() == [53, 255]
    assert P.lut(np.array([-1]), 3, table).tolist() == [127]


@settings(max_examples=60, deadline=None)
@given(st.data(), st.sampled_from(P.RESET_MODES))
def test_lif_step_matches_reference(data, mode):
    n = 8
    v = [data.draw(st.integers(*M28) | st.sampled_from(M28)) for _ in range(n)]
    ref = [data.draw(st.integers(0, 15)) for _ in range(n)]
    inp = [data.draw(edge_int32) for _ in range(n)]
    noise = [data.draw(st.integers(0, 255)) for _ in range(n)]
    alpha = data.draw(st.integers(0, 255))
    v_leak = data.draw(st.integers(-1000, 1000))
    vth = data.draw(st.integers(*M28))
    v_reset = data.draw(st.integers(-1000, 1000))
    r = data.draw(st.integers(0, 15))
    gv, gref, gspk = P.lif_step(np.array(v), np.array(ref), np.array(inp), alpha=alpha,
                                v_leak=v_leak, v_threshold=vth, threshold_noise=np.array(noise),
                                reset_mode=mode, v_reset=v_reset, refractory_steps=r)
    for i in range(n):
        want = ref_lif(v[i], ref[i], inp[i], noise[i], alpha, v_leak, vth, mode, v_reset, r)
        assert (int(gv[i]), int(gref[i]), bool(gspk[i])) == want


def test_lif_golden_sequence_by_hand():
    # alpha = 128 (halve), v_leak = 1, input 10, threshold 15, reset to 0, refractory 2.
    # v: 0 -> 0 + 1 + 10 = 11 -> 5 + 11 = 16 > 15 spike, reset 0, counter 2 ->
    # counter 1 (v 0) -> counter 0 (v 0) -> 0 + 11 = 11 -> 5 + 11 = 16 spike
    v, ref = np.array([0]), np.array([0])
    seen = []
    for _ in range(6):
        v, ref, s = P.lif_step(v, ref, np.array([10]), alpha=128, v_leak=1, v_threshold=15,
                               refractory_steps=2)
        seen.append((int(v[0]), int(ref[0]), bool(s[0])))
    assert seen == [(11, 0, False), (0, 2, True), (0, 1, False), (0, 0, False), (11, 0, False),
                    (0, 2, True)]


def test_lif_membrane_saturates_at_28_bits():
    v, _, _ = P.lif_step(np.array([2 ** 27 - 5, -(2 ** 27) + 5]), np.array([0, 0]),
                         np.array([100, -100]), alpha=255, v_leak=0,
                         v_threshold=2 ** 27 - 1, reset_mode="none")
    # (v * 255) >> 8 then + input, saturated to +-2^27
    assert v.tolist() == [ref_sat(((2 ** 27 - 5) * 255 >> 8) + 100, 28),
                          ref_sat(((-(2 ** 27) + 5) * 255 >> 8) - 100, 28)]
    v, _, _ = P.lif_step(np.array([2 ** 27 - 1]), np.array([0]), np.array([2 ** 31 - 1]), alpha=255,
                         v_leak=0, v_threshold=2 ** 27 - 1, reset_mode="none")
    assert v.tolist() == [2 ** 27 - 1]


def test_lif_rejects_unknown_reset_mode():
    with pytest.raises(ParameterError, match="reset_mode"):
        P.lif_step(np.array([0]), np.array([0]), np.array([0]), alpha=0, v_leak=0, v_threshold=0,
                   reset_mode="explode")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 15), st.integers(0, 255)), min_size=1,
                max_size=10),
       st.lists(st.integers(0, 256), min_size=1, max_size=4))
def test_window_step(cases, keep):
    spikes = np.array([c[0] for c in cases])
    age = np.array([c[1] for c in cases])
    rand = np.array([c[2] for c in cases])
    out, new_age = P.window_step(spikes, age, rand, np.array(keep))
    for i, (s, a, r) in enumerate(cases):
        a = 0 if s else min(a + 1, 15)
        assert int(new_age[i]) == a
        assert bool(out[i]) == (a < len(keep) and r < keep[a])


def test_lfsr_golden_by_hand():
    # From 1: lsb 1 -> (1 >> 1) ^ 0x80200003 = 0x80200003; lsb 1 -> 0x40100001 ^ 0x80200003 =
    # 0xC0300002; lsb 0 -> 0x60180001; lsb 1 -> 0x300C0000 ^ 0x80200003 = 0xB02C0003
    s, seq = np.array([1], dtype=np.uint32), []
    for _ in range(4):
        s = P.lfsr_step(s)
        seq.append(int(s[0]))
    assert seq == [0x80200003, 0xC0300002, 0x60180001, 0xB02C0003]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 2 ** 32 - 1), min_size=1, max_size=6), st.integers(0, 40))
def test_lfsr_advance_equals_repeated_steps(states, shifts):
    got = P.lfsr_advance(np.array(states, dtype=np.uint32), shifts)
    for i, s in enumerate(states):
        for _ in range(shifts):
            s = ref_lfsr_step(s)
        assert int(got[i]) == s


def test_lfsr_seed_nonzero_and_distinct():
    s = P.lfsr_seed(3, np.arange(10000))
    assert s.dtype == np.uint32 and (s != 0).all()
    assert len(np.unique(s)) == 10000
    assert not np.array_equal(s, P.lfsr_seed(4, np.arange(10000)))


def test_lfsr_bytes_are_uniform():
    # 8-bit draws of 4096 streams over 50 steps of 16 shifts: mean 127.5, sd of mean ~0.16
    s = P.lfsr_seed(0, np.arange(4096))
    draws = []
    for _ in range(50):
        s = P.lfsr_advance(s, 16)
        draws.append(s & np.uint32(255))
    mean = float(np.mean(draws))
    assert abs(mean - 127.5) < 5 * 73.9 / np.sqrt(4096 * 50)


def ref_nested_window(spike_seq, coin_seq, codes):
    """Nested coins of one neuron over time, in the float unit's kept-set form (plain ints):
    ``K[t, 0] = s[t] and coin < code[0]``, ``K[t, a] = K[t-1, a-1] and coin < code[a]``,
    output ``OR_a K[t, a]``; one coin per step."""
    kept = [False] * len(codes)
    out = []
    for s, coin in zip(spike_seq, coin_seq, strict=True):
        kept = [bool(s) and coin < codes[0]] + [kept[a - 1] and coin < codes[a]
                                                 for a in range(1, len(codes))]
        out.append(any(kept))
    return out


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 4), st.integers(1, 40), st.data())
def test_nested_window_step_matches_the_kept_sets(n_keep, n_steps, data):
    codes = data.draw(st.lists(st.integers(0, 256), min_size=n_keep, max_size=n_keep))
    n = 6
    # at most one spike per window of n_keep steps (the window-refractory design rule)
    spikes = np.zeros((n_steps, n), dtype=bool)
    for p in range(n):
        t = data.draw(st.integers(0, n_keep))
        while t < n_steps:
            spikes[t, p] = True
            t += n_keep + data.draw(st.integers(0, 3))
    coins = np.array([[data.draw(st.integers(0, 255)) for _ in range(n)] for _ in range(n_steps)])
    age = np.full(n, 15)
    kept = None
    got = []
    for t in range(n_steps):
        kept, age = P.window_step(spikes[t], age, coins[t], np.array(codes), nested=True, kept=kept)
        got.append(kept.tolist())
    for p in range(n):
        want = ref_nested_window(spikes[:, p].tolist(), coins[:, p].tolist(), codes)
        assert [row[p] for row in got] == want


def test_nested_window_golden_by_hand():
    # codes [256, 128, 128] (keep [1, 0.5, 0.25]): a spike at step 0 is kept (256 passes any
    # coin); coin 200 at step 1 drops it (200 >= 128); coin 10 at step 2 would pass an
    # independent coin (10 < 128) but the spike was not kept at age 1, so nested gives 0
    codes = np.array([256, 128, 128])
    spikes = [True, False, False, False]
    coins = [99, 200, 10, 0]
    age, kept, nested, independent = np.array([15]), None, [], []
    age_i = np.array([15])
    for s, c in zip(spikes, coins, strict=True):
        kept, age = P.window_step(np.array([s]), age, np.array([c]), codes, nested=True, kept=kept)
        out, age_i = P.window_step(np.array([s]), age_i, np.array([c]), codes)
        nested.append(bool(kept[0]))
        independent.append(bool(out[0]))
    assert nested == [True, False, False, False]
    assert independent == [True, False, True, False]


def test_nested_codes_are_the_conditional_probabilities():
    from hnnbio.chip.quantize import window_codes

    assert window_codes([1.0, 0.5, 0.25]) == [256, 128, 64]
    assert window_codes([1.0, 0.5, 0.25], nested=True) == [256, 128, 128]
    # 0.9, 0.6 / 0.9 = 2/3, 0.2 / 0.6 = 1/3; a zero keep makes every later coin 0
    assert window_codes([0.9, 0.6, 0.2], nested=True) == [230, 171, 85]
    assert window_codes([0.5, 0.0, 0.0], nested=True) == [128, 0, 0]
    with pytest.raises(ParameterError, match="non-increasing"):
        window_codes([0.5, 0.6], nested=True)


def test_nested_window_marginals_with_lfsr_coins():
    # 200,000 neurons spike at step 0, then never again (as with the design rule); coins are the
    # chip's: bits 8-15 of each LFSR after 16 shifts a step. The fraction kept at age a must be
    # the product of the coin codes / 256 (within 5 binomial standard errors), which is within
    # the quantisation step of the float marginal keep[a]; a spike kept at age a was kept at
    # every younger age.
    keep = [0.9, 0.6, 0.2]
    codes = np.array([230, 171, 85])
    n = 200_000
    state = P.lfsr_seed(5, np.arange(n))
    age, kept = np.full(n, 15), None
    history = []
    for t in range(4):
        state = P.lfsr_advance(state, 16)
        coin = (state >> np.uint32(8)) & np.uint32(255)
        kept, age = P.window_step(np.full(n, t == 0), age, coin, codes, nested=True, kept=kept)
        history.append(kept.copy())
    for a in range(3):
        marginal = float(np.prod(codes[:a + 1] / 256))
        measured = history[a].mean()
        assert abs(measured - marginal) < 5 * np.sqrt(marginal * (1 - marginal) / n)
        # each code is within half a step (1/512) of its probability, and every factor is <= 1
        assert abs(marginal - keep[a]) <= (a + 1) / 512
        if a:
            assert not (history[a] & ~history[a - 1]).any()
            # the coin of age a is independent of having been kept: conditional = code / 256
            cond = history[a][history[a - 1]].mean()
            k = history[a - 1].sum()
            p = codes[a] / 256
            assert abs(cond - p) < 5 * np.sqrt(p * (1 - p) / k)
    assert not history[3].any()  # age 3 is outside the window
