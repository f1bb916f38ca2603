"""Fixtures of the chip tests: a tiny binding model (an HNN file) with random weights and a small
chip. Tests build files with binding's ``binding_toml``; the library chip/ never imports binding."""

import numpy as np
import pytest
import torch

from hnnbio.binding.spec import binding_toml
from hnnbio.chip.spec import ChipSpec


def write_tiny_model(folder, layers=(16, 12, 16), hidden=("sigmoid",), refractory=2, seed=0,
                     keep=(1.0, 0.5, 0.25), nested=False):
    """An HNN file (binding model) + weights file with random weights; returns the file's path."""
    from hnnbio.ann.autoencoder import FORMAT, VERSION

    gen = torch.Generator().manual_seed(seed)
    state = {}
    for i, (n_in, n_out) in enumerate(zip(layers[:-1], layers[1:], strict=True)):
        weight = torch.randn(n_out, n_in, generator=gen) * 2
        state[f"linears.{i}.weight"] = weight.to(torch.float16)
        state[f"linears.{i}.bias"] = torch.randn(n_out, generator=gen) * 0.5
    torch.save({"format": FORMAT, "version": VERSION, "layers": list(layers),
                "hidden": list(hidden), "state_dict": state}, folder / "tiny.pt")
    path = folder / "tiny.toml"
    path.write_text(binding_toml("tiny", "bars", list(layers), list(hidden), "tiny.pt",
                                 steps_per_cycle=5, refractory_steps=refractory, cycles=3,
                                 readout_cycles=1, keep=keep, nested=nested))
    return path


@pytest.fixture
def tiny_spec(tmp_path):
    return write_tiny_model(tmp_path)


@pytest.fixture
def small_chip():
    """8 axons x 8 neurons per core, so every layer of the tiny model is split into tiles."""
    return ChipSpec(name="small", mesh_x=4, mesh_y=4, axons_per_core=8, neurons_per_core=8,
                    memory_bytes_per_core=4096, delay_slots=8)


@pytest.fixture
def tiny_samples():
    rng = np.random.default_rng(1)
    return (rng.random((32, 16)) < 0.3).astype(np.int64)


@pytest.fixture(scope="module")
def tiny_blob(tmp_path_factory):
    """The encoded program of the tiny model on the small chip (module scope, for hypothesis)."""
    from hnnbio.chip.compiler import compile_model
    from hnnbio.chip.program import to_bytes

    folder = tmp_path_factory.mktemp("tiny")
    chip = ChipSpec(name="small", mesh_x=4, mesh_y=4, axons_per_core=8, neurons_per_core=8,
                    memory_bytes_per_core=4096, delay_slots=8)
    samples = (np.random.default_rng(1).random((32, 16)) < 0.3).astype(np.int64)
    return to_bytes(compile_model(write_tiny_model(folder), chip, samples=samples))
