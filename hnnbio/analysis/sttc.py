r"""Spike time tiling coefficient (STTC) of all pairs of spike trains at once.

For trains A and B on a recording :math:`[t_0, t_1]` and a window :math:`\Delta t`
(Cutts & Eglen 2014):

.. math::

    \mathrm{STTC} = \tfrac12\left(\frac{P_A - T_B}{1 - P_A T_B}
                    + \frac{P_B - T_A}{1 - P_B T_A}\right)

:math:`P_A` is the fraction of A's spikes with a spike of B within :math:`[-\Delta t, +\Delta t]`
(closed: spikes exactly :math:`\Delta t` apart are coincident), :math:`T_A` the fraction of
:math:`[t_0, t_1]` covered by the union of the windows :math:`[t - \Delta t, t + \Delta t]` around
A's spikes, clipped to the recording. A term whose :math:`P T = 1` counts as 1 (0/0 case); a pair
with an empty train is NaN.

The definition only involves differences of times, so it does not change when the whole recording
(spikes, :math:`t_0`, :math:`t_1`) is shifted; neither does this code, for any length and any
:math:`t_0` (0, 1e4 s, 1.7e9 s wall-clock times): every time is taken relative to ``t_start``, and
a window edge is decided at the resolution of the time axis,
:func:`hnnbio.analysis.timebase.time_resolution` (4 float64 spacings of the largest time: 9.5e-7 s
at 1.7e9 s, 4.5e-13 ms at 1 s), so that times meant to be :math:`\Delta t` apart count whatever
their rounding. Spikes on a grid (``sampling_rate``) are snapped to integer ticks and the window
test is integer arithmetic.

**Elephant.** ``elephant.spike_train_correlation.spike_time_tiling_coefficient`` (1.2) tests
closeness in its P terms with ``numpy.isclose(t_b, t_a, atol=dt)``, whose default ``rtol=1e-5``
widens the window to :math:`\Delta t + 10^{-5} |t|` (absolute time) while its T terms use
:math:`\Delta t` exactly (open upstream PR #706). Near :math:`t = 0` the widening is below the
spacing of the spikes (1e-5 * 1 s = 0.01 ms, less than a 0.1 ms simulation step) and the two agree
to the last bit (tested); far from 0 Elephant is wrong: a 5 ms window is ~11 ms at 600 s, and at
wall-clock times (1.7e9 s) every pair is coincident and STTC goes to ~1. Tested instead against a
brute-force implementation of the definition (``tests/analysis/test_sttc.py``).

Two methods give the same P and, to float rounding, the same T:

- ``method="grid"``: spikes at ``t_start + k / sampling_rate`` (Brian2 and the emulator); ticks k
  are integers, the window is ``floor(dt / step)`` ticks, a coverage raster of every train and a
  spike-count raster give all :math:`P` at once as one matrix product (in chunks of time, so a long
  recording does not need one raster of all its bins). T is computed from the ticks, so the whole
  result is bit-identical wherever the recording lies on the time axis.
- ``method="exact"``: any spike times; for every train B, ``searchsorted`` finds the nearest spike
  of B before and after every spike of every train and the window test is applied to those two.
"""

from __future__ import annotations

import numpy as np
import quantities as pq

from hnnbio.analysis.timebase import (
    duration,
    grid_length,
    grid_ticks,
    relative_times,
    time_resolution,
)
from hnnbio.analysis.trains import TrainSet, check_spiketrains, positive_frequency, positive_time
from hnnbio.errors import ParameterError

METHODS = ("auto", "grid", "exact")
# Cells (trains x bins) of one chunk of the grid rasters: 2**22 float32 cells are 16 MB each.
_CHUNK_CELLS = 2**22
# method="auto" takes the grid method when n_trains * n_bins <= _GRID_COST_RATIO * n_spikes:
# measured here (benchmarks/bench_sttc.py), one train-bin of the grid method costs ~1/500 of one
# train-spike of the exact method (a BLAS multiply-add against a searchsorted step).
_GRID_COST_RATIO = 500


def sttc_matrix(
    spiketrains,
    dt: pq.Quantity = 5 * pq.ms,
    sampling_rate: pq.Quantity | None = None,
    method: str = "auto",
) -> np.ndarray:
    """STTC of every pair of spike trains.

    Parameters
    ----------
    spiketrains : list of neo.SpikeTrain, length n_trains
        Trains with common units, ``t_start`` and ``t_stop``.
    dt : quantities.Quantity, time
        Coincidence window: spikes within ``[-dt, +dt]`` (closed) are coincident. Default 5 ms.
    sampling_rate : quantities.Quantity, frequency, optional
        Rate of the time grid ``t_start + k / sampling_rate`` the spikes lie on (``1 / dt`` of the
        simulation). Enables the grid method; spikes off that grid fall back to the exact method
        (``method="auto"``) or raise (``method="grid"``).
    method : {"auto", "grid", "exact"}
        ``"auto"`` uses the grid method when the spikes are on the grid and it is the cheaper of the
        two. All give the same result (the T terms to float rounding).

    Returns
    -------
    ndarray, shape (n_trains, n_trains), float64
        Symmetric; the diagonal is 1 for non-empty trains; rows and columns of empty trains are NaN.

    Raises
    ------
    DataError
        Malformed ``spiketrains`` (see :func:`hnnbio.analysis.trains.check_spiketrains`).
    ParameterError
        ``dt`` not a positive time, ``sampling_rate`` not a positive frequency, unknown ``method``,
        or ``method="grid"`` on spikes off the grid.

    Examples
    --------
    >>> import neo, quantities as pq
    >>> a = neo.SpikeTrain([10, 50, 90], units="ms", t_stop=100)
    >>> b = neo.SpikeTrain([12, 52, 70], units="ms", t_stop=100)
    >>> round(float(sttc_matrix([a, b], dt=5 * pq.ms)[0, 1]), 4)
    0.4583
    """
    ts = check_spiketrains(spiketrains)
    window = positive_time(dt, "dt", ts.units)
    step = None
    if sampling_rate is not None:
        positive_frequency(sampling_rate, "sampling_rate")
        step = float((1.0 / sampling_rate).rescale(ts.units).item())
    elif method == "grid":
        raise ParameterError("sampling_rate: required by method='grid'")
    return sttc_of_times(ts, window, step, method)


def sttc_of_times(
    ts: TrainSet, window: float, step: float | None = None, method: str = "auto"
) -> np.ndarray:
    """STTC matrix of checked spike times (the array core of :func:`sttc_matrix`).

    Parameters
    ----------
    ts : TrainSet
        Spike times in one unit (:func:`hnnbio.analysis.trains.check_spiketrains`, or built
        directly from a result's steps as ``steps * dt``).
    window : float
        Coincidence window in the unit of ``ts``.
    step : float, optional
        Grid step in the unit of ``ts`` (enables the grid method).
    method : {"auto", "grid", "exact"}
    """
    if method not in METHODS:
        raise ParameterError(f"method: {method!r} is not one of {', '.join(METHODS)}")
    tol = time_resolution(ts)
    ticks = None if step is None else grid_ticks(ts, step)
    if ticks is not None and any(k is None for k in ticks):
        ticks = None
    if ticks is None and method == "grid":
        raise ParameterError(
            f"sampling_rate: spikes are not on the grid t_start + k * {step}; use method='exact'"
        )
    if ticks is not None and (method == "grid" or (method == "auto" and _grid_cheaper(ticks))):
        near = _near_fraction_grid(ticks, int(np.floor((window + tol) / step)))
        n_steps = grid_length(ts, step)
        length = duration(ts) if n_steps is None else n_steps * step
        rel = [np.sort(k) * step for k in ticks]
    else:
        rel = [np.sort(r) for r in relative_times(ts)]
        near = _near_fraction_exact(rel, window + tol)
        length = duration(ts)
    tiling = np.array([_tiled_fraction(r, length, window) for r in rel])
    return _combine(near, tiling)


def _combine(near: np.ndarray, tiling: np.ndarray) -> np.ndarray:
    """STTC from P (``near[a, b]``: fraction of a's spikes near b) and T (``tiling[b]``).

    ``half[a, b] = 0.5 (P[a,b] - T[b]) / (1 - P[a,b] T[b])`` is one of the two terms of the pair,
    written with Elephant's order of operations; a term with ``P T == 1`` is 0.5 as in Elephant.
    """
    pt = near * tiling[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        half = 0.5 * (near - tiling[None, :]) / (1 - pt)
    half[pt == 1] = 0.5
    return half + half.T


def _tiled_fraction(rel: np.ndarray, length: float, dt: float) -> float:
    """T: fraction of [0, length] covered by the windows +-dt around the sorted times ``rel``.

    The union of the windows, clipped to the recording, is ``min(r_0, dt)`` before the first spike,
    ``min(gap, 2 dt)`` between neighbours and ``min(length - r_last, dt)`` after the last. Written
    with Elephant's sequence of operations (its ``run_t``), so that near t = 0 the two agree bit
    for bit; ``rel`` is relative to ``t_start``, so far from 0 no large time enters.
    """
    if rel.size == 0:
        return np.nan
    diff = np.diff(rel)
    covered_overlap = np.sum(diff[diff <= 2 * dt])
    covered_gap = len(diff[diff > 2 * dt]) * 2 * dt
    if rel[0] < dt:
        covered_overlap += rel[0]
    else:
        covered_gap += dt
    if length - rel[-1] < dt:
        covered_overlap += length - rel[-1]
    else:
        covered_gap += dt
    return (covered_overlap + covered_gap) / length


def _concat(per_train: list) -> tuple[np.ndarray, np.ndarray]:
    """All values of a list of arrays, and the index of the array each came from."""
    owner = np.repeat(np.arange(len(per_train)), [x.size for x in per_train])
    values = np.concatenate(per_train) if per_train else np.zeros(0)
    return values, owner


def _fractions(hits: np.ndarray, counts: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return hits / counts[:, None]


def _near_fraction_exact(rel: list, limit: float) -> np.ndarray:
    """P[a, b] for any (sorted, relative) times: a spike counts when ``|t_a - t_b| <= limit``.

    Only the nearest spike of b on each side of a spike of a can be within the window.
    """
    n = len(rel)
    counts = np.array([r.size for r in rel])
    times, owner = _concat(rel)
    order = np.argsort(times, kind="stable")  # sorted queries: searchsorted walks memory in order
    times, owner = times[order], owner[order]
    hits = np.zeros((n, n))
    for b, tb in enumerate(rel):
        if tb.size == 0 or times.size == 0:
            continue
        idx = np.searchsorted(tb, times)
        before = tb[np.maximum(idx - 1, 0)]
        after = tb[np.minimum(idx, tb.size - 1)]
        near = ((idx > 0) & (times - before <= limit)) | (
            (idx < tb.size) & (after - times <= limit)
        )
        hits[:, b] = np.bincount(owner, weights=near, minlength=n)
    return _fractions(hits, counts)


def _grid_cheaper(ticks: list) -> bool:
    k, _ = _concat(ticks)
    if k.size == 0:
        return True
    n_bins = int(k.max() - k.min()) + 1
    return len(ticks) * n_bins <= _GRID_COST_RATIO * k.size


def _near_fraction_grid(ticks: list, reach: int) -> np.ndarray:
    """P[a, b] on a grid: a spike of a at tick k counts when b has one in ``k - reach..k + reach``.

    Per chunk of ticks (one chunk for a short recording): spike counts of every train times the
    coverage raster of every train (which ticks lie within ``reach`` of one of its spikes), one
    float32 matrix product (exact: counts are far below 2**24).
    """
    n = len(ticks)
    counts = np.array([k.size for k in ticks])
    k, owner = _concat(ticks)
    if k.size == 0:
        return np.full((n, n), np.nan)
    width = max(1, _CHUNK_CELLS // n)
    first, last = int(k.min()), int(k.max())
    if last - first < width:  # one chunk: keep the trains' order (rows written in sequence)
        return _fractions(_chunk_hits(n, k, owner, k, owner, first, last + 1, reach), counts)
    order = np.argsort(k, kind="stable")
    k, owner = k[order], owner[order]
    hits = np.zeros((n, n))
    start = first
    while True:
        stop = min(start + width, last + 1)
        i0, i1 = np.searchsorted(k, [start, stop])
        j0, j1 = np.searchsorted(k, [start - reach, stop + reach])
        hits += _chunk_hits(
            n, k[i0:i1], owner[i0:i1], k[j0:j1], owner[j0:j1], start, stop, reach
        )
        if i1 >= k.size:
            break
        start = int(k[i1])  # the next chunk starts at the next spike: empty stretches are skipped
    return _fractions(hits, counts)


def _chunk_hits(n, ka, oa, kb, ob, start: int, stop: int, reach: int) -> np.ndarray:
    """Coincidence counts ``hits[a, b]`` of the spikes ``(ka, oa)`` of ticks ``start..stop - 1``.

    ``(kb, ob)`` are the spikes that can cover those ticks (ticks ``start - reach`` to
    ``stop + reach - 1``); ``oa``/``ob`` are the trains the spikes belong to.
    """
    span = stop - start
    spikes = np.bincount(oa * span + (ka - start), minlength=n * span)
    spikes = spikes.reshape(n, span).astype(np.float32)
    cover = np.zeros((n, span), dtype=np.float32)
    kb = kb - start
    for m in range(-reach, reach + 1):
        kc = kb + m
        inside = (kc >= 0) & (kc < span)
        cover[ob[inside], kc[inside]] = 1.0
    return (spikes @ cover.T).astype(np.float64)
