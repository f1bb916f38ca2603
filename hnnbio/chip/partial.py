"""Fan-in beyond a core's axons: axon blocks and partial-sum cores (used by
:mod:`hnnbio.chip.snn` and :mod:`hnnbio.chip.hybrid`).

A population whose presynaptic axons exceed ``axons_per_core`` gets them cut, in order, into
blocks of at most ``axons_per_core`` (slices of the source cores' spikes). Each further block
lives on a partial-sum core of its own, which receives the block's spikes by the same routes
(same delays), runs ``matvec`` and sends the partial sums with delay 0, as signed values of
:func:`partial_bits` bits, to a buffer of the target core, whose ``accumulate`` adds them in the
next phase. Spikes are 0/1 and weight parts int8, so a partial sum is bounded by the column's
sum of ``|w|`` (at most ``127 * 256 < 2**15``): the send's clamp is the identity and the sum of
the partial sums is the one-core matvec while the accumulator does not saturate.

A *segment* is ``(source core, delay, lo, hi, rows)``: elements ``lo:hi`` of the source core's
spikes, with the int8 weight rows they meet on the target core.
"""

from __future__ import annotations

import numpy as np

from hnnbio.chip.isa import Instruction


def axon_blocks(segments: list, axons: int) -> list[list]:
    """Consecutive slices of the axons, packed into blocks of at most ``axons`` elements (a
    slice longer than a core's axons is cut first)."""
    cut = []
    for sc, delay, lo, hi, rows in segments:
        for a in range(lo, hi, axons):
            b = min(hi, a + axons)
            cut.append((sc, delay, a, b, rows[a - lo:b - lo]))
    blocks, size = [[]], 0
    for seg in cut:
        if size + seg[3] - seg[2] > axons:
            blocks.append([])
            size = 0
        blocks[-1].append(seg)
        size += seg[3] - seg[2]
    return blocks


def route_block(block: list, core: int, buffer: str, sends: dict) -> int:
    """Send each slice of ``block`` to consecutive elements of ``buffer`` of ``core`` (``sends``:
    source core -> delay -> destinations); returns the elements used."""
    at = 0
    for sc, delay, lo, hi, _ in block:
        sends.setdefault(sc, {}).setdefault(delay, []).append(
            {"core": core, "buffer": buffer, "lo": lo, "hi": hi, "at": at})
        at += hi - lo
    return at


def partial_bits(rows: np.ndarray) -> int:
    """Bits of a signed packet that holds every partial sum of 0/1 spikes through ``rows``:
    ``|sum_i w_ij s_i| <= S = max_j sum_i |w_ij|``, so ``S.bit_length() + 1`` bits (at most 16
    for 256 int8 rows: ``127 * 256 < 2**15``)."""
    top = int(np.abs(rows.astype(np.int64)).sum(axis=0).max(initial=0))
    return max(1, top.bit_length()) + 1


def partial_sum_ops(core: int, target: int, buffer: str, n: int, bits: int) -> list:
    """The partial-sum core's phase: ``matvec(pre) -> part``, then ``part`` to ``buffer`` of
    the target core with delay 0 (read in the target's next phase)."""
    return [Instruction("axon", "matvec", {"x": "pre", "weights": f"c{core}.weight",
                                           "out": "part"}),
            Instruction("router", "send", {"what": "part", "to": [
                {"core": target, "buffer": buffer, "lo": 0, "hi": n, "at": 0}],
                "bits": bits, "delay": 0})]
