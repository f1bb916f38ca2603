"""Checks shared by the analyses: a list of Neo spike trains on one time axis, in one unit.

Every analysis of :mod:`hnnbio.analysis` takes ``spiketrains``, a list of :class:`neo.SpikeTrain`
with the same ``t_start``, ``t_stop`` and units (as Elephant requires), and turns what does not fit
into a :class:`~hnnbio.errors.DataError` with a one-line message instead of an Elephant traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

import neo
import numpy as np
import quantities as pq

from hnnbio.errors import DataError, ParameterError


@dataclass(frozen=True)
class TrainSet:
    """Spike times of a checked list of spike trains, as plain floats in one unit.

    Attributes
    ----------
    times : list of ndarray, shape (n_spikes_i,), float64
        Spike times of each train in ``units`` (as stored, not sorted).
    units : quantities.Quantity
        The common time unit (e.g. ``pq.ms``).
    t_start, t_stop : float
        The common recording interval, in ``units``.
    """

    times: list
    units: pq.Quantity
    t_start: float
    t_stop: float

    @property
    def n_trains(self) -> int:
        return len(self.times)

    @property
    def counts(self) -> np.ndarray:
        """Spikes per train, shape (n_trains,), int."""
        return np.array([t.size for t in self.times], dtype=np.int64)


def check_spiketrains(spiketrains, name: str = "spiketrains", min_trains: int = 1) -> TrainSet:
    """Check a list of spike trains and return their times as plain arrays.

    Parameters
    ----------
    spiketrains : list of neo.SpikeTrain
        Trains with the same units, ``t_start`` and ``t_stop``; each spike inside
        ``[t_start, t_stop]``.
    name : str
        Parameter name used in error messages.
    min_trains : int
        Fewest trains accepted.

    Raises
    ------
    DataError
        Empty list, an element that is not a SpikeTrain, mismatched units or intervals, or a spike
        outside ``[t_start, t_stop]`` of its train.
    """
    if isinstance(spiketrains, neo.SpikeTrain):
        raise DataError(f"{name}: give a list of neo.SpikeTrain, not a single SpikeTrain")
    try:
        trains = list(spiketrains)
    except TypeError:
        raise DataError(
            f"{name}: expected a list of neo.SpikeTrain, got {type(spiketrains).__name__}"
        ) from None
    if len(trains) < min_trains:
        raise DataError(f"{name}: need at least {min_trains} spike train(s), got {len(trains)}")
    for i, st in enumerate(trains):
        if not isinstance(st, neo.SpikeTrain):
            raise DataError(f"{name}[{i}]: expected a neo.SpikeTrain, got {type(st).__name__}")
    units = trains[0].units
    unit_name = trains[0].dimensionality.string
    t_start = trains[0].t_start.item()
    t_stop = trains[0].t_stop.item()
    times = []
    for i, st in enumerate(trains):
        if st.dimensionality.string != unit_name:
            raise DataError(
                f"{name}[{i}]: units {st.units.dimensionality} differ from "
                f"{units.dimensionality} of {name}[0]; rescale them to one unit"
            )
        if st.t_start.item() != t_start or st.t_stop.item() != t_stop:
            raise DataError(
                f"{name}[{i}]: interval [{st.t_start}, {st.t_stop}] differs from "
                f"[{trains[0].t_start}, {trains[0].t_stop}] of {name}[0]"
            )
        t = np.asarray(st.magnitude, dtype=np.float64).ravel()
        if t.size and (t.max() > t_stop or t.min() < t_start):
            raise DataError(
                f"{name}[{i}]: spikes outside [t_start, t_stop] = "
                f"[{st.t_start}, {st.t_stop}] (last spike {t.max()} {st.dimensionality})"
            )
        if not np.all(np.isfinite(t)):
            raise DataError(f"{name}[{i}]: spike times must be finite")
        times.append(t)
    if not t_stop > t_start:
        raise DataError(f"{name}: t_stop ({t_stop}) must be after t_start ({t_start})")
    return TrainSet(times=times, units=units, t_start=t_start, t_stop=t_stop)


def positive_quantity(value, name: str, units: pq.Quantity, what: str = "time",
                      example: str = "5 * pq.ms") -> float:
    """Return one positive quantity of the kind ``what`` as a float in ``units``.

    Raises
    ------
    ParameterError
        ``value`` is not a quantity of that kind or is not > 0 (the message names ``name``).
    """
    if not isinstance(value, pq.Quantity):
        raise ParameterError(f"{name}: must be a {what} quantity such as {example}, got {value!r}")
    try:
        out = value.rescale(units)
    except ValueError:
        raise ParameterError(f"{name}: {value} is not a {what}") from None
    if out.size != 1 or not float(out.magnitude) > 0:
        raise ParameterError(f"{name}: must be one positive {what}, got {value}")
    return float(out.item())


def positive_time(value, name: str, units: pq.Quantity) -> float:
    """Return a positive time quantity as a float in ``units`` (see :func:`positive_quantity`)."""
    return positive_quantity(value, name, units)


def positive_frequency(value, name: str, units: pq.Quantity = pq.Hz) -> float:
    """Return a positive frequency quantity as a float in ``units`` (default Hz)."""
    return positive_quantity(value, name, units, what="frequency", example="1 * pq.kHz")
