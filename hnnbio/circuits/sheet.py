"""The interface every spiking sheet offers to the closed binding loop.

A sheet simulates ``n_images`` images of ``n_pixels`` pixels as Brian2 groups of
``n_images * n_pixels`` neurons (index = image * n_pixels + pixel): batching is a dimension, not a
loop. The loop (``hnnbio.hybrid.loop``) adds ``sheet.objects`` to one Brian2 ``Network``, sets the
image once, and in a network operation at the end of every step reads the step's output spikes and
writes the top-down attention for the next step. Reads and writes go through unit-less ``_`` views.

Two sheets implement it: ``hnnbio.circuits.reference.ReferenceSheet`` (stochastic gated units, the
reference binding model) and ``hnnbio.circuits.column.ColumnSheet`` (cortical columns).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Sheet(Protocol):
    """What the binding loop needs of a spiking sheet."""

    n_images: int
    n_pixels: int
    #: Every Brian2 object of the sheet (groups, synapses, own monitors), to add to a Network.
    objects: list
    #: The population whose spikes are the sheet's output (fed to the bottom-up hybrid unit).
    output: object

    def set_input(self, images: np.ndarray) -> None:
        """Set the feed-forward input, shape (n_images, n_pixels), values in [0, 1]."""

    def set_attention(self, attention: np.ndarray) -> None:
        """Set the top-down gain applied during the next step, shape (n_images, n_pixels), >= 0."""

    def step_spikes(self) -> np.ndarray:
        """Output spikes of the step just simulated, shape (n_images, n_pixels), bool.

        Called from a network operation scheduled at the end of the step.
        """
