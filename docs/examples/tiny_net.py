"""A user's own torch module: feedback inhibition from the population's rate (docs/hnn.md)."""

import torch
from torch import nn


class MeanFeedback(nn.Module):
    """(batch, n) rates -> (batch, n) currents: each neuron gets -strength x the mean rate."""

    def __init__(self, n: int, strength: float):
        super().__init__()
        self.linear = nn.Linear(n, n, bias=False)  # a plain layer: trainable like any other
        with torch.no_grad():
            self.linear.weight.fill_(-strength / n)

    def forward(self, rates: torch.Tensor) -> torch.Tensor:
        return self.linear(rates)


def mean_feedback(n: int, strength: float) -> MeanFeedback:
    """The factory an HNN file names: ``factory = "tiny_net:mean_feedback"``."""
    return MeanFeedback(n, strength)
