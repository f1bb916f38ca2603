"""Shared fixtures: every test is seeded (numpy, torch, Brian2) and runs Brian2 on one target.

Tests default to Brian2's numpy target (no compiler wait on a fresh machine); set
HNNBIO_TARGET=cython to run them on Cython.
"""

import os

import pytest

os.environ.setdefault("HNNBIO_TARGET", "numpy")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def seeded():
    """Seed numpy, torch and Brian2 with 0 before every test; reset Brian2's target."""
    from hnnbio.config import seed_everything, use_target

    use_target()
    seed_everything(0)
    yield


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)
