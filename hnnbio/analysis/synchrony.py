r"""Population synchrony with Elephant: spike contrast, synchronous events, unitary events.

- Spike contrast (Ciba et al. 2018, ``elephant.spike_train_synchrony.spike_contrast``): the
  population is binned at bin sizes from the recording length down to ``min_bin``; at each size
  the contrast :math:`\sum_k |n_{k+1} - n_k| / (2 \sum_k n_k)` of the population histogram times the
  fraction of active trains gives a synchrony curve; the score is its maximum (0 asynchronous,
  1 all spikes in one bin).
- Synchronous events (``elephant.spike_train_synchrony.Synchrotool``): the complexity of a spike is
  the number of trains with a spike in the same sampling period (``spread = 0``) or within
  ``spread`` periods; spike times must lie on the ``sampling_rate`` grid, so pass ``1 / dt`` of the
  simulation.
- Unitary events (Gruen et al. 2002, ``elephant.unitary_event_analysis.jointJ_window_analysis``):
  in sliding windows over trials, the surprise :math:`J = \log_{10}((1 - p) / p)` of the number of
  coincidences of a pattern of neurons against its expectation from the rates.

Elephant computes on absolute times: spike contrast lays its bin edges with
``np.arange(t_start, ...)``, Synchrotool and ``BinnedSpikeTrain`` bin with a tolerance of 1e-8 bins,
and the unitary-event windows are indexed by ``floor(window_start / bin_size)`` counted from 0, not
from ``t_start``. Far from t = 0 the first two move spikes across edges (one float64 spacing at
1.7e9 s is 2.4e-7 s), and the third looks up the wrong bins: every window is empty (NaN) as soon as
``t_start != 0``. Each wrapper therefore hands Elephant the recording shifted to start at 0
(:func:`hnnbio.analysis.timebase.shifted_spiketrains`), with grid spikes snapped to their ticks
(synchronous events) or spikes placed at the centres of their bins (unitary events, which use the
bins only); the results do not depend on where the recording lies in time (tested at 1e4 s and
1.7e9 s).
"""

from __future__ import annotations

import numpy as np
import quantities as pq

from hnnbio.analysis.timebase import (
    bin_indices,
    duration,
    grid_length,
    grid_ticks,
    relative_times,
    shifted_spiketrains,
    time_resolution,
)
from hnnbio.analysis.trains import check_spiketrains, positive_frequency, positive_time
from hnnbio.errors import DataError, ParameterError


def spike_contrast(spiketrains, min_bin: pq.Quantity = 10 * pq.ms, return_trace: bool = False):
    """Spike-contrast synchrony of a population (Elephant).

    Parameters
    ----------
    spiketrains : list of neo.SpikeTrain
        At least 2 trains with common units, ``t_start``, ``t_stop``.
    min_bin : quantities.Quantity, time
        Smallest bin size of the sweep (Elephant's ``min_bin``, default 10 ms).
    return_trace : bool
        Also return the curve.

    Returns
    -------
    float or (float, dict)
        The synchrony in [0, 1]; with ``return_trace`` also a dict with ``bin_size`` (ms, shape
        (n_bins,)), ``synchrony``, ``contrast`` and ``active_spiketrains`` (each (n_bins,)).
    """
    from elephant.spike_train_synchrony import spike_contrast as elephant_spike_contrast

    ts = check_spiketrains(spiketrains, min_trains=2)
    positive_time(min_bin, "min_bin", ts.units)
    if ts.counts.max() < 2:
        raise DataError("spiketrains: spike contrast needs a train with at least 2 spikes")
    if min_bin.rescale(ts.units).item() * 2 > ts.t_stop - ts.t_start:
        raise ParameterError(f"min_bin: {min_bin} is more than half the recording")
    trains = shifted_spiketrains(ts, relative_times(ts))
    value, trace = elephant_spike_contrast(trains, min_bin=min_bin, return_trace=True)
    if not return_trace:
        return float(value)
    curve = {
        "bin_size": np.asarray(pq.Quantity(trace.bin_size).rescale(pq.ms).magnitude, dtype=float),
        "synchrony": np.asarray(trace.synchrony, dtype=float),
        "contrast": np.asarray(trace.contrast, dtype=float),
        "active_spiketrains": np.asarray(trace.active_spiketrains, dtype=float),
    }
    return float(value), curve


def synchronous_events(
    spiketrains, sampling_rate: pq.Quantity, spread: int = 0, min_size: int = 2
) -> dict:
    """Spikes shared by several trains in one sampling period (Elephant's Synchrotool).

    Parameters
    ----------
    spiketrains : list of neo.SpikeTrain
        Trains whose spike times lie on the grid ``t_start + k / sampling_rate`` (within the time
        resolution of the recording, :func:`hnnbio.analysis.timebase.time_resolution`).
    sampling_rate : quantities.Quantity, frequency
        ``1 / dt`` of the simulation.
    spread : int
        Spikes up to ``spread`` sampling periods apart count as synchronous (0: same period).
    min_size : int
        Smallest complexity counted as a synchronous event (>= 2).

    Returns
    -------
    dict
        ``complexity``: list of ndarray (n_spikes_i,), the complexity of each spike of each train;
        ``event_times`` (ms, grid time of the event's first spike), ``event_steps`` (the same as
        an exact integer count of sampling periods from ``t_start``) and ``event_sizes``: the
        events with complexity >= ``min_size``;
        ``histogram``: ndarray, count of events per complexity 0..n_trains;
        ``fraction_synchronous``: fraction of spikes in events of size >= ``min_size``.
    """
    from elephant.spike_train_synchrony import Synchrotool

    ts = check_spiketrains(spiketrains)
    positive_frequency(sampling_rate, "sampling_rate")
    if isinstance(spread, bool) or not isinstance(spread, (int, np.integer)) or spread < 0:
        raise ParameterError(f"spread: must be a non-negative integer, got {spread!r}")
    if isinstance(min_size, bool) or not isinstance(min_size, (int, np.integer)) or min_size < 2:
        raise ParameterError(f"min_size: must be an integer >= 2, got {min_size!r}")
    step = (1 / sampling_rate).rescale(ts.units).item()
    ticks = grid_ticks(ts, step)
    for i, k in enumerate(ticks):
        if k is None:
            raise DataError(
                f"spiketrains[{i}]: spike times are not on the grid t_start + k / sampling_rate "
                f"of sampling_rate = {sampling_rate}"
            )
    n_steps = grid_length(ts, step)
    stop = duration(ts) if n_steps is None else n_steps * step
    trains = shifted_spiketrains(ts, [k * step for k in ticks], stop)  # annotated in place
    tool = Synchrotool(trains, sampling_rate=sampling_rate.rescale(pq.Hz), spread=spread)
    tool.annotate_synchrofacts()
    complexity = [
        np.asarray(st.array_annotations.get("complexity", np.zeros(0)), dtype=np.int64)
        for st in trains
    ]
    epoch = tool.epoch
    sizes = np.asarray(epoch.array_annotations["complexity"], dtype=np.int64)
    # an epoch starts half a sampling period before the grid time of its first spike (at 0 for 0)
    start = np.asarray(epoch.times.rescale(ts.units).magnitude, dtype=float).ravel()
    steps = np.ceil(start / step - 1e-9).astype(np.int64)
    to_ms = float(pq.Quantity(1.0, ts.units).rescale(pq.ms).magnitude)
    times = (ts.t_start + steps * step) * to_ms
    keep = sizes >= min_size
    n_spikes = int(ts.counts.sum())
    in_events = sum(int((c >= min_size).sum()) for c in complexity)
    return {
        "complexity": complexity,
        "event_times": times[keep],
        "event_steps": steps[keep],
        "event_sizes": sizes[keep],
        "histogram": np.bincount(sizes, minlength=ts.n_trains + 1),
        "fraction_synchronous": in_events / n_spikes if n_spikes else float("nan"),
    }


def unitary_events(
    trials,
    bin_size: pq.Quantity = 5 * pq.ms,
    win_size: pq.Quantity = 100 * pq.ms,
    win_step: pq.Quantity = 5 * pq.ms,
    pattern=None,
) -> dict:
    """Unitary-event analysis of a pattern of neurons over trials (Elephant).

    Parameters
    ----------
    trials : list (n_trials) of list (n_neurons) of neo.SpikeTrain
        The same neurons in every trial (e.g. the same pixels over several images or runs).
    bin_size, win_size, win_step : quantities.Quantity, time
        Coincidence bin, sliding window and its step.
    pattern : sequence of int (0/1), length n_neurons, optional
        Which neurons take part in the coincidence; default all.

    Returns
    -------
    dict
        Elephant's result: ``Js`` (surprise, shape (n_windows, 1)), ``n_emp``, ``n_exp``,
        ``rate_avg``, ``indices`` (bins with coincidences per trial) and ``input_parameters``;
        plus ``window_times`` (ms, window starts, shape (n_windows,)).
    """
    from elephant.unitary_event_analysis import hash_from_pattern, jointJ_window_analysis

    try:
        trials = [list(t) for t in trials]
    except TypeError:
        raise DataError(
            "trials: expected a list of trials, each a list of neo.SpikeTrain"
        ) from None
    if not trials:
        raise DataError("trials: need at least one trial")
    n_neurons = len(trials[0])
    sets = [check_spiketrains(t, name=f"trials[{k}]", min_trains=2) for k, t in enumerate(trials)]
    for k, s in enumerate(sets):
        if s.n_trains != n_neurons:
            raise DataError(f"trials[{k}]: {s.n_trains} neurons, trials[0] has {n_neurons}")
        if (s.units, s.t_start, s.t_stop) != (sets[0].units, sets[0].t_start, sets[0].t_stop):
            raise DataError(f"trials[{k}]: units or interval differ from trials[0]")
    units, span = sets[0].units, sets[0].t_stop - sets[0].t_start
    for name, value in (("bin_size", bin_size), ("win_size", win_size), ("win_step", win_step)):
        positive_time(value, name, units)
    if win_size.rescale(units).item() > span:
        raise ParameterError(f"win_size: {win_size} is longer than the recording")
    pattern = np.ones(n_neurons, dtype=int) if pattern is None else np.asarray(pattern)
    if pattern.shape != (n_neurons,) or not np.isin(pattern, (0, 1)).all():
        raise ParameterError(f"pattern: must be {n_neurons} values of 0 or 1, got {pattern!r}")
    pattern_hash = hash_from_pattern(pattern.reshape(-1, 1))
    shifted = [_bin_centre_trains(s, bin_size.rescale(units).item()) for s in sets]
    out = jointJ_window_analysis(
        shifted,
        bin_size=bin_size,
        win_size=win_size,
        win_step=win_step,
        pattern_hash=[int(np.asarray(pattern_hash).ravel()[0])],
    )
    start = sets[0].t_start
    n_windows = np.asarray(out["Js"]).shape[0]
    out["window_times"] = (start + np.arange(n_windows) * win_step.rescale(units).item()) * float(
        units.rescale(pq.ms).magnitude
    )
    return out


def _bin_centre_trains(ts, bin_size: float) -> list:
    """The recording shifted to start at 0, each spike at the centre of its bin.

    Unitary-event analysis uses the spikes only through their bins, so this changes nothing but
    makes Elephant's binning (1e-8 bins of tolerance, on whatever times it gets) agree with
    :func:`hnnbio.analysis.timebase.bin_indices`. ``t_stop`` is snapped to a whole number of bins
    when it lies on a bin edge, so the number of bins and windows does not depend on rounding.
    """
    bins, n_bins = bin_indices(ts, bin_size)
    length = duration(ts)
    if abs(length - n_bins * bin_size) <= time_resolution(ts):
        length = n_bins * bin_size
    return shifted_spiketrains(ts, [(b + 0.5) * bin_size for b in bins], length)
