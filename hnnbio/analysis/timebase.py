r"""Times counted from ``t_start``; grid ticks and bins that rounding of large times cannot move.

A recording may start anywhere: at 0 (a simulation), at 1e4 s (a late segment), at ~1.7e9 s (Unix
wall-clock time). Every definition in :mod:`hnnbio.analysis` is invariant under a shift of all spike
times, ``t_start`` and ``t_stop``; the code must be too. Two rules make it so:

1. Work on times relative to ``t_start``: ``r = t - t_start``. For ``t`` and ``t_start`` within a
   factor 2 of each other (every recording far from 0) the subtraction is exact (Sterbenz), so no
   rounding is added; near 0 it is rounded at the scale of ``r`` itself.
2. Decide every boundary (a window edge, a bin edge, "is this spike on the grid?") with the
   *resolution of the time axis*, :func:`time_resolution`: ``RESOLUTION_ULPS`` float64 spacings of
   the largest time of the recording, ``max(|t_start|, |t_stop|)``. A time meant to be ``k * step``
   that was stored after one addition (``t_start + k * step``) is off by at most half a spacing, a
   difference of two such times and of ``t_start`` by at most one spacing each, and the window or
   step itself by a fraction of one: 4 spacings cover the sum. At 1.7e9 s one spacing is
   2.4e-7 s, so the resolution is 9.5e-7 s; at 600 s in ms it is 4.5e-10 ms.

Grid data (Brian2, the emulator: spikes at ``t_start + k * step``) are then snapped to integer ticks
``k`` and everything after is integer arithmetic: the results no longer depend on where the
recording lies on the time axis, bit for bit.
"""

from __future__ import annotations

import neo
import numpy as np

from hnnbio.analysis.trains import TrainSet

RESOLUTION_ULPS = 4
# Elephant's BinnedSpikeTrain moves a spike within 1e-8 bins below an edge into the next bin; keep
# that floor so binning near t = 0 stays Elephant's, and widen it to the time resolution far from 0.
ELEPHANT_BIN_TOLERANCE = 1e-8


def time_resolution(ts: TrainSet) -> float:
    """Smallest time difference the recording resolves, in its unit (see the module docstring)."""
    largest = max(abs(ts.t_start), abs(ts.t_stop))
    return RESOLUTION_ULPS * float(np.spacing(largest))


def relative_times(ts: TrainSet) -> list:
    """Spike times of each train counted from ``t_start``: list of ndarray (n_spikes_i,)."""
    return [t - ts.t_start for t in ts.times]


def duration(ts: TrainSet) -> float:
    """``t_stop - t_start`` in the unit of ``ts``."""
    return ts.t_stop - ts.t_start


def grid_ticks(ts: TrainSet, step: float) -> list:
    """Integer tick of every spike on the grid ``t_start + k * step``.

    A spike is on the grid when it lies within :func:`time_resolution` of a grid point.

    Returns
    -------
    list (n_trains) of ndarray (n_spikes_i,), int64, or None
        None for a train with a spike off the grid, and for every train when the grid is finer
        than four times the resolution (it cannot be told apart from rounding).
    """
    tol = time_resolution(ts)
    if not 4 * tol < step:
        return [None] * ts.n_trains
    out = []
    for r in relative_times(ts):
        k = np.rint(r / step)
        on_grid = r.size == 0 or np.abs(r - k * step).max() <= tol
        out.append(k.astype(np.int64) if on_grid else None)
    return out


def grid_length(ts: TrainSet, step: float) -> int | None:
    """``(t_stop - t_start) / step`` as an integer when ``t_stop`` is on the grid, else None."""
    d = duration(ts)
    k = round(d / step)
    return k if abs(d - k * step) <= time_resolution(ts) else None


def bin_tolerance(ts: TrainSet, bin_size: float) -> float:
    """How far below a bin edge (in bins) a spike still counts as on the edge.

    Elephant's ``1e-8`` bins near t = 0; :func:`time_resolution` in bins far from 0, where one
    float64 spacing of the times exceeds ``1e-8`` bins (at 1.7e9 s with 1 ms bins: 9.5e-4 bins).
    """
    return max(ELEPHANT_BIN_TOLERANCE, time_resolution(ts) / bin_size)


def bin_indices(ts: TrainSet, bin_size: float) -> tuple[list, int]:
    """Bins of width ``bin_size`` from ``t_start``: the bin of every spike and the number of bins.

    As Elephant's ``BinnedSpikeTrain``: ``n_bins`` whole bins fit in the recording, bin ``i`` is
    ``[t_start + i b, t_start + (i + 1) b)``, a spike within :func:`bin_tolerance` below an edge
    belongs to the bin above it, and spikes at or after ``t_start + n_bins b`` are dropped.

    Returns
    -------
    bins : list of ndarray (n_kept_i,), int64
        Bin index of each kept spike of each train (input order).
    n_bins : int
    """
    tol = bin_tolerance(ts, bin_size)
    n_bins = int(np.floor(duration(ts) / bin_size + tol))
    out = []
    for r in relative_times(ts):
        b = np.floor(r / bin_size + tol).astype(np.int64)
        out.append(b[b < n_bins])
    return out, n_bins


def shifted_spiketrains(ts: TrainSet, times: list, t_stop: float | None = None) -> list:
    """Neo spike trains of ``times`` (counted from ``t_start``) on ``[0, t_stop]`` in ``ts.units``.

    What the Elephant wrappers pass on, so that Elephant never sees a large absolute time.
    ``t_stop`` defaults to the duration of ``ts``.
    """
    stop = duration(ts) if t_stop is None else t_stop
    return [
        neo.SpikeTrain(np.asarray(t, dtype=np.float64), units=ts.units, t_start=0.0, t_stop=stop)
        for t in times
    ]
