"""The delay ring buffer: a value written at step t is read at step t + D."""

import numpy as np
import pytest

from hnnbio.errors import ParameterError
from hnnbio.hybrid.delay import DelayLine, random_soft_assignment


def test_delay_is_exactly_d_steps():
    d = 5
    line = DelayLine(d, (2,), initial=np.full((d, 2), -1.0))
    applied = [line.read(0).copy()]
    for t in range(20):
        applied.append(line.push(t, np.full(2, float(t))).copy())
    # the value applied at step s is the one written at s - D, or the initial -1 before that
    for s, value in enumerate(applied):
        assert value.tolist() == [float(s - d) if s >= d else -1.0] * 2


def test_random_soft_assignment_sums_to_one():
    c = random_soft_assignment(7, (3, 11), np.random.default_rng(0))
    assert c.shape == (7, 3, 11)
    assert (c >= 0).all()
    np.testing.assert_allclose(c.sum(0), 1.0, rtol=1e-6)


@pytest.mark.parametrize("d", [0, -3, 2.5])
def test_bad_delay(d):
    with pytest.raises(ParameterError, match="delay_steps"):
        DelayLine(d, (2,))


def test_bad_initial_shape():
    with pytest.raises(ParameterError, match="initial"):
        DelayLine(3, (2,), initial=np.zeros((2, 2)))
