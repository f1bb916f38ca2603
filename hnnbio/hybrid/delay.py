"""Delay hybrid unit (ANN -> SNN): a ring buffer of D steps.

The value written at step ``t`` is read back at step ``t + D``::

    buffer[t mod D] <- y_t          (write, end of step t)
    c_{t+1} = buffer[(t + 1) mod D] (read, for step t + 1: the value written at step t + 1 - D)

In the binding loop ``D`` is the cycle length, so the feedback produced at step ``t`` of a cycle is
applied at step ``t`` of the next cycle. Before the first write every slot holds the initial value.
"""

from __future__ import annotations

import numpy as np

from hnnbio.errors import ParameterError


def delay_write(buffer: np.ndarray, step: int, value: np.ndarray) -> np.ndarray:
    """Write ``value`` (shape buffer.shape[1:]) into slot ``step mod D`` in place; return buffer."""
    buffer[step % buffer.shape[0]] = value
    return buffer


def delay_read(buffer: np.ndarray, step: int) -> np.ndarray:
    """The value to apply at ``step``: slot ``step mod D`` (a view, shape buffer.shape[1:])."""
    return buffer[step % buffer.shape[0]]


def random_soft_assignment(
    n_slots: int, shape: tuple, rng: np.random.Generator, dtype=np.float32
) -> np.ndarray:
    """Initial attention ``|N(0, 1)|`` normalised so that each pixel's slots sum to 1.

    Returns
    -------
    ndarray, shape (n_slots, *shape)
    """
    c = np.abs(rng.standard_normal((n_slots, *shape)))
    c /= c.sum(axis=0, keepdims=True)
    return c.astype(dtype)


class DelayLine:
    """A ring buffer of ``delay_steps`` slots of shape ``shape``.

    Parameters
    ----------
    delay_steps : int
        D, the delay in steps (>= 1).
    shape : tuple
        Shape of one value, e.g. (n_images, n_pixels).
    initial : ndarray, shape (D, *shape), optional
        Initial content of the slots (default zeros).
    """

    def __init__(
        self, delay_steps: int, shape: tuple, initial: np.ndarray | None = None, dtype=np.float32
    ):
        if not isinstance(delay_steps, (int, np.integer)) or delay_steps < 1:
            raise ParameterError(f"delay_steps: must be a positive integer, got {delay_steps!r}")
        self.delay_steps = int(delay_steps)
        self.buffer = np.zeros((self.delay_steps, *shape), dtype=dtype)
        if initial is not None:
            if initial.shape != self.buffer.shape:
                raise ParameterError(f"initial: shape {initial.shape} != {self.buffer.shape}")
            self.buffer[:] = initial

    def write(self, step: int, value) -> None:
        delay_write(self.buffer, step, value)

    def read(self, step: int) -> np.ndarray:
        return delay_read(self.buffer, step)

    def push(self, step: int, value) -> np.ndarray:
        """Write ``value`` at ``step`` and return the value to apply at ``step + 1``."""
        self.write(step, value)
        return self.read(step + 1)
