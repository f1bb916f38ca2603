"""Restore Brian2's default clock after each test (a test may change ``defaultclock.dt``)."""

import pytest


@pytest.fixture(autouse=True)
def default_dt():
    from brian2 import defaultclock, ms

    defaultclock.dt = 0.1 * ms
    yield
    defaultclock.dt = 0.1 * ms
