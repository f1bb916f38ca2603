"""Validation shared by the neuron models: units, ranges, per-neuron arrays, unknown names.

Every check raises :class:`hnnbio.errors.ParameterError` with a one-line message that starts with
the name of the offending parameter, e.g. ``tau_mem: must be > 0 s, got -5. ms``.

A parameter dataclass declares its defaults with :func:`quantity`; :func:`check_units` compares
every field with the unit of its default (Brian2's ``have_same_dimensions``), so a time given
where a voltage is expected is caught on construction. Any field may hold a scalar or an array of
length ``n_neurons`` (a heterogeneous population); :func:`check_lengths` checks the length when
the builder knows ``n_neurons``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
from brian2 import Quantity, have_same_dimensions

from hnnbio.errors import ParameterError


def quantity(value):
    """A dataclass field whose default is ``value`` (Brian2 quantities cannot be plain defaults)."""
    return dataclasses.field(default_factory=lambda: value)


def _show(value) -> str:
    text = repr(value) if not isinstance(value, np.ndarray) else np.array2string(value, threshold=5)
    return text if len(text) < 80 else text[:77] + "..."


def check_units(params) -> None:
    """Check that every field of a parameter dataclass has the unit of its default.

    Raises
    ------
    ParameterError
        Naming the first field whose value has other physical dimensions than its default, or
        that is not numeric.
    """
    for f in dataclasses.fields(params):
        if f.default_factory is dataclasses.MISSING and f.default is dataclasses.MISSING:
            continue
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        value = getattr(params, f.name)
        try:
            numeric = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise ParameterError(f"{f.name}: expected a number, got {_show(value)}") from None
        if not have_same_dimensions(value, default):
            unit = default.get_best_unit() if isinstance(default, Quantity) else "dimensionless"
            raise ParameterError(f"{f.name}: expected a value in units of {unit}, "
                                 f"got {_show(value)}")
        if not np.all(np.isfinite(numeric)):
            raise ParameterError(f"{f.name}: must be finite, got {_show(value)}")


def check_positive(params, names: Iterable[str], allow_zero: bool = False) -> None:
    """Check that the named fields are > 0 (or >= 0 with ``allow_zero``)."""
    for name in names:
        value = np.asarray(getattr(params, name), dtype=float)
        ok = np.all(value >= 0) if allow_zero else np.all(value > 0)
        if not ok:
            relation = ">= 0" if allow_zero else "> 0"
            raise ParameterError(f"{name}: must be {relation}, got {_show(getattr(params, name))}")


def check_range(params, name: str, low: float, high: float) -> None:
    """Check ``low <= value <= high`` for a dimensionless field."""
    value = np.asarray(getattr(params, name), dtype=float)
    if not np.all((value >= low) & (value <= high)):
        raise ParameterError(f"{name}: must lie in [{low}, {high}], "
                             f"got {_show(getattr(params, name))}")


def check_integer(params, name: str, low: int = 0) -> None:
    """Check that a field holds integers >= ``low`` (a scalar or an array)."""
    value = np.asarray(getattr(params, name))
    whole = (value.dtype.kind == "f" and np.all(np.isfinite(value))
             and np.all(value == np.round(value)))
    if value.dtype.kind not in "iu" and not whole:
        raise ParameterError(f"{name}: must be an integer, got {_show(getattr(params, name))}")
    if not np.all(value >= low):
        raise ParameterError(f"{name}: must be >= {low}, got {_show(getattr(params, name))}")


def check_order(params, low: str, high: str) -> None:
    """Check ``params.low < params.high`` elementwise (e.g. ``v_reset < v_threshold``)."""
    a = np.asarray(getattr(params, low), dtype=float)
    b = np.asarray(getattr(params, high), dtype=float)
    if not np.all(a < b):
        raise ParameterError(f"{high}: must be above {low} ({_show(getattr(params, low))}), "
                             f"got {_show(getattr(params, high))}")


def check_n_neurons(n_neurons) -> int:
    """Return ``n_neurons`` as an int, or raise unless it is an integer >= 1."""
    if isinstance(n_neurons, bool) or not isinstance(n_neurons, (int, np.integer)) or n_neurons < 1:
        raise ParameterError(f"n_neurons: must be an integer >= 1, got {n_neurons!r}")
    return int(n_neurons)


def resolve(cls, params, overrides: dict):
    """The parameters a builder uses: ``params`` (or the defaults of ``cls``) with ``overrides``.

    Raises
    ------
    ParameterError
        If ``params`` is not a ``cls`` or an override names no field of ``cls``.
    """
    if params is None:
        params = cls() if not overrides else None
    elif not isinstance(params, cls):
        raise ParameterError(f"params: expected {cls.__name__}, got {type(params).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ParameterError(f"{unknown[0]}: unknown parameter of {cls.__name__}; known: "
                             f"{', '.join(sorted(known))}")
    if params is None:
        return cls(**overrides)
    return dataclasses.replace(params, **overrides) if overrides else params


def check_lengths(params, n_neurons: int) -> None:
    """Check that every array-valued field has length ``n_neurons`` (scalars broadcast)."""
    for f in dataclasses.fields(params):
        shape = np.shape(getattr(params, f.name))
        if shape not in ((), (n_neurons,)):
            raise ParameterError(f"{f.name}: per-neuron values need shape ({n_neurons},), "
                                 f"got {shape}")


def set_parameters(group, params, names: Iterable[str] | None = None) -> None:
    """Write the fields of ``params`` into the group's per-neuron variables of the same name."""
    for f in dataclasses.fields(params):
        if names is None or f.name in names:
            setattr(group, f.name, getattr(params, f.name))
