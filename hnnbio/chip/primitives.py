"""Integer primitives of one core, vectorised over the batch and over neurons (numpy, no floats).

Every function takes and returns integer arrays; widths come from the arguments (which the
emulator reads from :class:`hnnbio.chip.spec.ChipSpec`), and each wrap or saturation is named
where it happens. ``sat(x, b)`` clamps to ``[-2**(b-1), 2**(b-1) - 1]``; ``x >> s`` is the
arithmetic shift, i.e. ``floor(x / 2**s)``. The exact semantics are documented in docs/chip.md.

Axon primitives
    ``matvec``:   ``acc[j] = sat(sum_i x[i] * w[i, j], acc_bits)`` (exact dot product of one tile)
    ``add_sat``:  ``acc = sat(acc + y, acc_bits)`` (partial sums, bias)
    ``hadamard``: ``y[i] = clamp((a[i] * b[i]) >> shift, out range)``
Soma primitives
    ``lut``:      ``y = table[clamp(acc >> shift, -128, 127) + 128]``
    ``lif_step``: extended LIF (multiplicative leak, constant, refractory counter, reset modes,
                  threshold plus a random offset)
    ``window_step``: the bottom-up coincidence window (age counter + survival bit; independent
                  or nested coins)
Random numbers
    ``lfsr_step``/``lfsr_advance``: 32-bit Galois LFSR, x^32 + x^22 + x^2 + x + 1 (mask 0x80200003)
"""

from __future__ import annotations

import functools
import sys

import numpy as np

from hnnbio.errors import ParameterError

#: Galois toggle mask of the polynomial x^32 + x^22 + x^2 + x + 1 (taps 32, 22, 2, 1).
LFSR_MASK = 0x80200003
#: Reset modes of the LIF primitive.
RESET_MODES = ("value", "subtract", "subtract_constant", "none")


def sat(x: np.ndarray, bits: int) -> np.ndarray:
    """Saturate to a signed ``bits``-bit range, as int64."""
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return np.clip(np.asarray(x, dtype=np.int64), low, high)


def matvec(x: np.ndarray, w: np.ndarray, acc_bits: int = 32) -> np.ndarray:
    """Integer matrix-vector product of one core tile with a saturating accumulator.

    Parameters
    ----------
    x : ndarray, shape (batch, n_axons), integer in [-255, 255] (uint8 or int8 axon inputs)
    w : ndarray, shape (n_axons, n_neurons), int8
    acc_bits : int
        Accumulator width; the dot product is saturated to it when written.

    Returns
    -------
    ndarray, shape (batch, n_neurons), int64 holding ``sat(x @ w, acc_bits)``.

    Notes
    -----
    The product is computed with a floating-point matmul, which is exact here: every term and every
    partial sum is an integer of magnitude ``<= n_axons * 255 * 128``; below 2**24 (n_axons <= 514)
    float32 represents all of them exactly, below 2**53 float64 does, so the order of additions
    cannot change the result.
    """
    x = np.asarray(x)
    w = np.asarray(w)
    dtype = np.float32 if x.shape[-1] <= 514 else np.float64
    return matvec_exact(x.astype(dtype), w.astype(dtype), acc_bits)


def matvec_exact(x: np.ndarray, w: np.ndarray, acc_bits: int = 32) -> np.ndarray:
    """:func:`matvec` on integer codes already held as floats (float32 for <= 514 axons).

    The emulator keeps its weight tiles as float32 so they are not converted every step.
    """
    acc = np.matmul(x, w).astype(np.int64)
    if x.shape[-1] * 255 * 128 < (1 << (acc_bits - 1)):
        return acc  # no tile product of 8-bit codes can reach the int32 limits: sat is the identity
    return sat(acc, acc_bits)


def add_sat(acc: np.ndarray, y: np.ndarray, acc_bits: int = 32) -> np.ndarray:
    """``sat(acc + y, acc_bits)``: adding a partial sum or a bias to the accumulator."""
    return sat(np.asarray(acc, dtype=np.int64) + np.asarray(y, dtype=np.int64), acc_bits)


def hadamard(a: np.ndarray, b: np.ndarray, shift: int = 0, signed: bool = False) -> np.ndarray:
    """Element-wise product of two 8-bit axon vectors, shifted and clamped to 8 bits.

    ``y = clamp((a * b) >> shift, 0, 255)`` (``signed=False``, uint8 result) or
    ``clamp(..., -128, 127)`` (``signed=True``, int8 result). Returns int64.
    """
    y = (np.asarray(a, dtype=np.int64) * np.asarray(b, dtype=np.int64)) >> shift
    return np.clip(y, -128, 127) if signed else np.clip(y, 0, 255)


def lut(acc: np.ndarray, shift: int, table: np.ndarray) -> np.ndarray:
    """Look-up-table non-linearity: ``table[clamp(acc >> shift, -128, 127) + 128]``.

    Parameters
    ----------
    acc : ndarray, int (int32 accumulator values)
    shift : int, >= 0
    table : ndarray, shape (256,), 8-bit values (uint8 or int8)
    """
    index = np.clip(np.asarray(acc, dtype=np.int64) >> shift, -128, 127) + 128
    return np.asarray(table, dtype=np.int64)[index]


def lif_step(v: np.ndarray, refractory: np.ndarray, inputs: np.ndarray, *, alpha: int, v_leak: int,
             v_threshold: int, threshold_noise: np.ndarray | int = 0, reset_mode: str = "value",
             v_reset: int = 0, refractory_steps: int = 0, membrane_bits: int = 28):
    """One step of the extended LIF soma primitive.

    Order: a neuron whose refractory counter is non-zero decrements it and neither integrates nor
    fires. Otherwise ``v = sat((v * alpha) >> 8 + v_leak + input, membrane_bits)``; the threshold is
    ``th = sat(v_threshold + noise, membrane_bits)``; it fires when ``v > th``; a spiking neuron is
    reset (``value``: ``v = v_reset``; ``subtract``: ``v = sat(v - th)``; ``subtract_constant``:
    ``v = sat(v - v_reset)``; ``none``) and its counter set to ``refractory_steps``.

    Parameters
    ----------
    v : ndarray, int, membrane (any shape)
    refractory : ndarray, int, same shape, counter in [0, 2**refractory_bits - 1]
    inputs : ndarray, int, same shape (int32 accumulator or 8-bit axon value)
    alpha : int in [0, 255], or int array of v's shape
        Multiplicative leak ``alpha / 256`` (floor); an array gives each neuron its own.
    v_leak : int
        Constant added every integrating step.
    v_threshold : int, or int array of v's shape (one threshold per neuron)
    threshold_noise : ndarray or int
        Random offset (already masked from the LFSR), same shape as ``v``.

    Returns
    -------
    (v, refractory, spikes) : int64, int64, bool arrays
    """
    if reset_mode not in RESET_MODES:
        raise ParameterError(f"reset_mode: {reset_mode!r} is not one of {', '.join(RESET_MODES)}")
    v = np.asarray(v, dtype=np.int64)
    refractory = np.asarray(refractory, dtype=np.int64)
    active = refractory == 0
    drive = np.asarray(inputs, dtype=np.int64) + v_leak
    alpha = np.asarray(alpha, dtype=np.int64)
    if alpha.any():  # alpha = 0 leaves no memory: (v * 0) >> 8 = 0
        drive = drive + ((v * alpha) >> 8)
    integrated = sat(drive, membrane_bits)
    v = np.where(active, integrated, v)
    threshold = sat(np.asarray(v_threshold, dtype=np.int64)
                    + np.asarray(threshold_noise, dtype=np.int64), membrane_bits)
    spikes = active & (v > threshold)
    if reset_mode == "value":
        v = np.where(spikes, v_reset, v)
    elif reset_mode == "subtract":
        v = np.where(spikes, sat(v - threshold, membrane_bits), v)
    elif reset_mode == "subtract_constant":
        v = np.where(spikes, sat(v - v_reset, membrane_bits), v)
    refractory = np.where(spikes, refractory_steps, np.where(active, 0, refractory - 1))
    return v, refractory, spikes


def window_step(spikes: np.ndarray, age: np.ndarray, rand: np.ndarray, keep: np.ndarray,
                age_max: int = 15, *, nested: bool = False, kept: np.ndarray | None = None):
    """One step of the coincidence-window soma primitive (bottom-up hybrid unit).

    ``age`` counts steps since the neuron's last spike and saturates at ``age_max``: a spike sets
    it to 0, otherwise ``age = min(age + 1, age_max)``. One coin ``rand`` per neuron and step.

    Independent coins (``nested=False``): the output is 1 when the last spike is young enough
    and passes a fresh coin, ``age < len(keep) and rand < keep[age]``. With a refractory period
    of at least ``len(keep) - 1`` steps a neuron has at most one spike in the window, so this
    equals the OR over ages ``k`` of ``s[t-k] and rand_k < keep[k]``.

    Nested coins (``nested=True``, the reference binding code): ``keep[a]`` are the thresholds
    of the conditional probabilities (``keep[0]`` for a new spike, ``keep[a] / keep[a-1]`` for a
    spike kept at age ``a - 1``, see :func:`hnnbio.chip.quantize.window_codes`), and the state
    ``kept`` is the kept set of the last spike: 1 when it was kept at its age of the previous
    step. The output and the new ``kept`` are ``rand < keep[age] and (age == 0 or kept)``: a spike
    kept at age a was kept at age a - 1. With one spike per window (the same design rule) this
    is ``K[t, 0] = s[t] and rand < keep[0]``, ``K[t, a] = K[t-1, a-1] and rand < keep[a]``,
    output ``OR_a K[t, a]``.

    Parameters
    ----------
    spikes : ndarray, bool
    age : ndarray, int, same shape (state, in [0, age_max])
    rand : ndarray, int in [0, 255], same shape (8 bits of the LFSR)
    keep : ndarray, shape (window,), int in [0, 256]
        Coin thresholds per age (256 always passes).
    age_max : int
        Saturation value of the age counter (4 bits: 15).
    nested : bool
    kept : ndarray, bool, same shape, optional
        Nested coins: the previous output (the state); all False when None.

    Returns
    -------
    (output, age) : bool, int64 arrays (with nested coins the output is also the new ``kept``)
    """
    age = np.where(np.asarray(spikes, dtype=bool), 0,
                   np.minimum(np.asarray(age, dtype=np.int64) + 1, age_max))
    table = np.zeros(age_max + 1, dtype=np.int64)
    table[:len(keep)] = np.asarray(keep, dtype=np.int64)
    out = np.asarray(rand, dtype=np.int64) < table[age]
    if nested:
        alive = age == 0
        if kept is not None:
            alive |= np.asarray(kept, dtype=bool)
        out &= alive
    return out, age


def lfsr_step(state: np.ndarray) -> np.ndarray:
    """One shift of the 32-bit Galois LFSR: ``s = (s >> 1) ^ (LFSR_MASK if s & 1 else 0)``."""
    state = np.asarray(state, dtype=np.uint32)
    return (state >> np.uint32(1)) ^ (np.uint32(LFSR_MASK) * (state & np.uint32(1)))


@functools.cache
def _jump_tables(shifts: int) -> np.ndarray:
    """Tables T (2, 65536) with ``advance(s, shifts) = T[0][s & 0xFFFF] ^ T[1][s >> 16]``.

    The LFSR is linear over GF(2), so advancing a state is the XOR of advancing its two halves.
    """
    tables = np.zeros((2, 1 << 16), dtype=np.uint32)
    for half in range(2):
        states = np.arange(1 << 16, dtype=np.uint32) << np.uint32(16 * half)
        for _ in range(shifts):
            states = lfsr_step(states)
        tables[half] = states
    return tables


def lfsr_advance(state: np.ndarray, shifts: int) -> np.ndarray:
    """The LFSR state after ``shifts`` single shifts (equal to ``shifts`` calls of lfsr_step)."""
    state = np.ascontiguousarray(state, dtype=np.uint32)
    t = _jump_tables(shifts)
    halves = state.view(np.uint16).reshape(-1, 2)  # the two 16-bit halves, in memory order
    low, high = (0, 1) if sys.byteorder == "little" else (1, 0)
    if shifts == 16:
        # the high half reaches bit 0 only after 16 shifts, so it feeds nothing back: it just
        # moves down (T[1][h] == h), and one table lookup is enough
        return (np.take(t[0], halves[:, low]) ^ halves[:, high]).reshape(state.shape)
    return (np.take(t[0], halves[:, low]) ^ np.take(t[1], halves[:, high])).reshape(state.shape)


def lfsr_seed(seed: int, stream: np.ndarray) -> np.ndarray:
    """Non-zero 32-bit LFSR start states, one per ``stream`` id (splitmix64 of seed and id)."""
    with np.errstate(over="ignore"):
        golden = np.uint64(0x9E3779B97F4A7C15)
        z = np.asarray(stream, dtype=np.uint64) + np.uint64(seed & 0xFFFFFFFF) * golden
        z = z + golden
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    state = (z & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    return np.where(state == 0, np.uint32(1), state)
