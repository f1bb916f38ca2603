"""Simulation settings and the Brian2 code-generation target.

Simulation settings (time step, seed, code-generation target, batch size) are kept apart from model
parameters and state (house style, Rockpool's SimulationParameter). The code-generation target is
chosen once: the ``HNNBIO_TARGET`` environment variable if set, else ``cython`` when a C compiler
and Cython work, else ``numpy``.
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass

from hnnbio.errors import ParameterError

TARGETS = ("auto", "cython", "numpy")


@functools.cache
def _cython_works() -> bool:
    """Whether Brian2's Cython target can compile here (checked once per process)."""
    try:
        import Cython  # noqa: F401
        from brian2.codegen.runtime.cython_rt.cython_rt import CythonCodeObject

        return bool(CythonCodeObject.is_available())
    except Exception:
        return False


def codegen_target(requested: str | None = None) -> str:
    """Return the Brian2 code-generation target to use.

    Parameters
    ----------
    requested : {"auto", "cython", "numpy"} or None
        ``None`` reads ``HNNBIO_TARGET`` (default ``"auto"``). ``"auto"`` picks ``"cython"`` when a
        C compiler works, otherwise ``"numpy"``.
    """
    target = requested or os.environ.get("HNNBIO_TARGET", "auto")
    if target not in TARGETS:
        raise ParameterError(f"target: {target!r} is not one of {', '.join(TARGETS)}")
    if target == "auto":
        return "cython" if _cython_works() else "numpy"
    return target


@dataclass(frozen=True)
class SimulationSettings:
    """How a simulation is run (not what is simulated).

    Parameters
    ----------
    dt_ms : float
        Time step in milliseconds (the binding loop counts in steps; one step is ``dt_ms``).
    seed : int
        Seeds numpy, torch and Brian2 for the run.
    target : str
        Brian2 code-generation target, see :func:`codegen_target`.
    batch_size : int or None
        Images simulated together as one group; ``None`` takes all images at once.
    """

    dt_ms: float = 1.0
    seed: int = 0
    target: str = "auto"
    batch_size: int | None = None

    def __post_init__(self):
        if not self.dt_ms > 0:
            raise ParameterError(f"dt_ms: must be > 0, got {self.dt_ms}")
        if self.target not in TARGETS:
            raise ParameterError(f"target: {self.target!r} is not one of {', '.join(TARGETS)}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ParameterError(f"batch_size: must be >= 1, got {self.batch_size}")


def seed_everything(seed: int) -> None:
    """Seed numpy's global generator, torch and Brian2 (``brian2.seed``)."""
    import numpy as np
    import torch
    from brian2 import seed as brian_seed

    np.random.seed(seed)
    torch.manual_seed(seed)
    brian_seed(seed)


@contextlib.contextmanager
def brian_target(requested: str | None = None):
    """Use :func:`codegen_target` as Brian2's ``prefs.codegen.target`` inside the block only.

    hnnbio's engine builds and runs its networks inside this block; the caller's own preference
    is restored afterwards, whatever happens (hnnbio never changes it behind the user's back).
    """
    from brian2 import prefs

    before = prefs.codegen.target
    prefs.codegen.target = codegen_target(requested)
    try:
        yield prefs.codegen.target
    finally:
        prefs.codegen.target = before


def use_target(requested: str | None = None) -> str:
    """Set Brian2's ``prefs.codegen.target`` to :func:`codegen_target`, globally, and return it.

    For a user (or a test) who wants hnnbio's choice for their own Brian2 objects; hnnbio's own
    code never calls it (it uses :func:`brian_target`, which restores the preference).
    """
    from brian2 import prefs

    target = codegen_target(requested)
    prefs.codegen.target = target
    return target
