"""The no-spike loop: c_{t+D} = AE(x * c_t), by hand with stand-in networks."""

import numpy as np
import torch

from hnnbio.binding.nospike import run_nospike
from hnnbio.binding.spec import load_spec
from hnnbio.hybrid.delay import random_soft_assignment

D = 4


def _spec():
    return load_spec("bars").replace(
        loop={"steps_per_cycle": D, "cycles": 3, "readout_cycles": 1}, top_down={"delay_steps": D}
    )


class Identity(torch.nn.Module):
    def forward(self, x):
        return x.clone()


def test_identity_network_keeps_the_initial_attention_on_the_foreground():
    """With AE = identity, c_{t+D} = x * c_t: on foreground pixels the last cycle's attention equals
    the initial soft assignment, on background pixels it is 0."""
    images = np.zeros((2, 20, 20), np.uint8)
    images[:, 3, :] = 1
    result = run_nospike(images, Identity(), _spec(), seed=4)
    initial = random_soft_assignment(D, (2, 400), np.random.default_rng(4))
    att = result.attention.reshape(2, D, 400)
    fg = images.reshape(2, 400) > 0
    for k in range(D):
        np.testing.assert_allclose(att[:, k][fg], initial[k][fg], rtol=1e-6)
        assert (att[:, k][~fg] == 0).all()
    assert result.backend == "nospike" and result.spike_step.size == 0


def test_scores_with_truth():
    images = np.zeros((1, 20, 20), np.uint8)
    truth = np.zeros((1, 20, 20), int)
    images[0, 3, :] = 1
    truth[0, 3, :10] = 1
    truth[0, 3, 10:] = 2
    result = run_nospike(images, Identity(), _spec(), seed=0, truth=truth)
    assert set(result.metrics) == {"ami", "ami_auto", "ari_fg", "ari"}  # no spike scores
    assert result.labels.shape == (1, 20, 20)
    assert (result.labels[0][images[0] == 0] == 0).all()
