r"""Cross-correlation histograms (CCH) of spike-train pairs.

With spike counts :math:`b_i[t]` in bins of width ``bin_size`` (Elephant's ``BinnedSpikeTrain``),
the CCH of trains *i* and *j* at lag :math:`k` bins is

.. math::

    C_{ij}[k] = \sum_t b_i[t]\, b_j[t + k], \qquad -L \le k \le L,

the count of spike pairs with *j* firing :math:`k` bins after *i* (Elephant's
``cross_correlation_histogram`` with ``border_correction=False``, ``binary=False``). :func:`cch`
calls Elephant for one pair; :func:`cch_pairs` computes many pairs at once with array shifts and is
tested equal to Elephant.

Bins are counted from ``t_start`` as in Elephant's ``BinnedSpikeTrain``, but decided by
:func:`hnnbio.analysis.timebase.bin_indices`: Elephant moves a spike into the next bin only within
``1e-8`` bins below an edge, while one float64 spacing of a wall-clock time (1.7e9 s) is 2.4e-7 s,
2.4e-4 of a 1 ms bin, so spikes on bin edges (a simulation grid with bins of whole steps) land in
the bin before from one shift of the recording to the next. Here the tolerance is the time
resolution of the recording (equal to Elephant's near t = 0, tested), and the counts do not change
when the whole recording is shifted.

Pixels of one object, firing in one phase of the cycle, have a peak at lag 0; pixels of two
objects peak at the lag of their phase difference. :func:`zero_lag_peak` takes the
largest count within a small window around lag 0.
"""

from __future__ import annotations

import numpy as np
import quantities as pq

from hnnbio.analysis.timebase import bin_indices
from hnnbio.analysis.trains import check_spiketrains, positive_time
from hnnbio.errors import DataError, ParameterError


def binned_counts(spiketrains, bin_size: pq.Quantity) -> np.ndarray:
    """Spike counts per bin from ``t_start``, shape (n_trains, n_bins), int64.

    The binning of Elephant's ``BinnedSpikeTrain`` (whole bins from ``t_start``, spikes at or
    after the last whole bin's end dropped), made independent of where the recording lies in time
    (see the module docstring).
    """
    ts = check_spiketrains(spiketrains)
    b = positive_time(bin_size, "bin_size", ts.units)
    if b > ts.t_stop - ts.t_start:
        raise ParameterError(f"bin_size: {bin_size} is longer than the recording")
    bins, n_bins = bin_indices(ts, b)
    return np.stack([np.bincount(k, minlength=n_bins) for k in bins]).astype(np.int64)


def cch(spiketrain_i, spiketrain_j, bin_size: pq.Quantity = 1 * pq.ms, max_lag: int = 20):
    """CCH of one pair with Elephant (on the counts of :func:`binned_counts`).

    Parameters
    ----------
    spiketrain_i, spiketrain_j : neo.SpikeTrain
    bin_size : quantities.Quantity, time
    max_lag : int
        Largest lag L in bins.

    Returns
    -------
    counts : ndarray, shape (2 L + 1,), float
    lags : ndarray, shape (2 L + 1,), int (bins)
    """
    from elephant.conversion import BinnedSpikeTrain
    from elephant.spike_train_correlation import cross_correlation_histogram

    _check_lag(max_lag)
    counts = binned_counts([spiketrain_i, spiketrain_j], bin_size)
    start = 0 * spiketrain_i.units  # counts are relative to t_start: Elephant needs no clock
    bi, bj = (BinnedSpikeTrain(c[None, :], bin_size=bin_size, t_start=start) for c in counts)
    hist, lags = cross_correlation_histogram(
        bi, bj, window=[-max_lag, max_lag], border_correction=False, binary=False
    )
    return np.asarray(hist.magnitude, dtype=float).ravel(), np.asarray(lags, dtype=int)


def cch_pairs(counts: np.ndarray, pairs, max_lag: int = 20) -> np.ndarray:
    """CCHs of many pairs from binned counts (see :func:`binned_counts`).

    Parameters
    ----------
    counts : ndarray, shape (n_trains, n_bins)
        Spike counts per bin.
    pairs : array of int, shape (n_pairs, 2)
        Train indices (i, j) of each pair.
    max_lag : int
        Largest lag L in bins.

    Returns
    -------
    ndarray, shape (n_pairs, 2 L + 1), float
        ``out[p, L + k] = sum_t counts[i, t] * counts[j, t + k]``, lags -L..L.
    """
    _check_lag(max_lag)
    counts = np.asarray(counts)
    if counts.ndim != 2:
        raise DataError(f"counts: expected shape (n_trains, n_bins), got {counts.shape}")
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= counts.shape[0]):
        raise DataError(f"pairs: indices must be in 0..{counts.shape[0] - 1}")
    n_bins = counts.shape[1]
    a = counts[pairs[:, 0]].astype(np.float64)
    b = counts[pairs[:, 1]].astype(np.float64)
    out = np.zeros((pairs.shape[0], 2 * max_lag + 1))
    for k in range(-max_lag, max_lag + 1):
        if abs(k) >= n_bins:
            continue
        if k >= 0:
            out[:, max_lag + k] = np.einsum("pt,pt->p", a[:, : n_bins - k], b[:, k:])
        else:
            out[:, max_lag + k] = np.einsum("pt,pt->p", a[:, -k:], b[:, : n_bins + k])
    return out


def zero_lag_peak(histograms: np.ndarray, window: int = 1) -> np.ndarray:
    """Largest CCH count within ``window`` bins of lag 0.

    Parameters
    ----------
    histograms : ndarray, shape (..., 2 L + 1)
        CCHs with lags -L..L (:func:`cch_pairs`).
    window : int
        Half width in bins (0: the lag-0 bin only).

    Returns
    -------
    ndarray, shape (...,)
    """
    h = np.asarray(histograms)
    max_lag = (h.shape[-1] - 1) // 2
    if (
        isinstance(window, bool)
        or not isinstance(window, (int, np.integer))
        or not 0 <= window <= max_lag
    ):
        raise ParameterError(f"window: must be an integer in 0..{max_lag}, got {window!r}")
    return h[..., max_lag - window : max_lag + window + 1].max(axis=-1)


def _check_lag(max_lag) -> None:
    if isinstance(max_lag, bool) or not isinstance(max_lag, (int, np.integer)) or max_lag < 0:
        raise ParameterError(f"max_lag: must be a non-negative integer, got {max_lag!r}")
