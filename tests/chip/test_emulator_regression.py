"""Speed work on the emulator changes no bit: checksums of small runs, pinned before that work.

The digests were computed with the emulator of commit d852789 (before the issue-5 speed-ups:
one-table LFSR jump, fancy-indexed LUT, kept work buffers, compare-chain window). They cover the
spike trains (image, step, pixel) and the recorded attention of each run. A change of the program
compiler, the model weights or the data generator also changes them; a change of the emulator
alone must not.
"""

import dataclasses
import hashlib

import numpy as np
import pytest

from hnnbio.chip.compiler import compile_model, export
from hnnbio.chip.run import emulate

pytestmark = pytest.mark.emulator


def _digest(result) -> tuple[int, str]:
    """Of an HNNResult (chip.run.emulate) or a BindingResult (binding.emulate): the same bytes."""
    if hasattr(result, "spike_image"):
        columns = (result.spike_image, result.spike_step, result.spike_pixel)
        attention = result.attention
    else:
        (spikes,), (attention,) = result.spikes.values(), result.applied.values()
        columns = (spikes.sample, spikes.step, spikes.neuron)
    h = hashlib.sha256()
    for a in columns:
        h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(attention, dtype=np.float32).tobytes())
    return int(columns[1].size), h.hexdigest()


TINY = (311, "f1eb577a6b24f588541bd91da8ac3fa845a573f2b743a71c3d9522161b340399")
BARS = (17851, "c78d68b40754eb37c428d080306922774cc1375e4216d951f3cf1deee92fb462")


@pytest.mark.parametrize("offset_lut", [True, False])
def test_tiny_program_run_is_unchanged(tiny_spec, small_chip, tiny_samples, monkeypatch,
                                       offset_lut):
    import hnnbio.chip.emulator as emulator_module

    if not offset_lut:  # the floor-and-clamp LUT path, taken when the offset is not provable
        fuse = emulator_module._fuse

        def fuse_without_offset(*args):
            fused = fuse(*args)
            return None if fused is None else {**fused, "offset_lut": None}

        monkeypatch.setattr(emulator_module, "_fuse", fuse_without_offset)
    program = compile_model(tiny_spec, small_chip, samples=tiny_samples)
    images = (np.random.default_rng(3).random((6, 16)) < 0.6).astype(np.int64).reshape(6, 4, 4)
    result = emulate(program, images, seed=7, batch_size=4, cycles=6)
    assert _digest(result) == TINY
    # the binding view of the same run: the same spikes and attention
    from hnnbio.binding.emulate import emulate as emulate_binding

    assert _digest(emulate_binding(program, images, seed=7, batch_size=4, cycles=6)) == TINY


def _independent_coins(graph):
    """The graph with its window's coins independent (the shipped models may turn nested on;
    the pinned digest is of the independent path)."""
    units = [dataclasses.replace(u, nested=False) if u.kernel == "coincidence" else u
             for u in graph.units]
    return dataclasses.replace(graph, units=units)


def test_bars_program_run_is_unchanged(tmp_path):
    from hnnbio.chip.lower import load_graph
    from hnnbio.data import datasets

    path = tmp_path / "bars.hnnc"
    export(_independent_coins(load_graph("bars")), path)
    images, _ = datasets.generate("bars", 12, 3)
    result = emulate(path, images, seed=5, batch_size=5, cycles=4)
    assert _digest(result) == BARS


@pytest.mark.parametrize("n_keep", [0, 1, 3, 4, 5, 15])
def test_window_bits_equal_the_window_primitive(n_keep):
    from hnnbio.chip import primitives as P
    from hnnbio.chip.emulator import _nested_window_bits, _window_bits

    rng = np.random.default_rng(n_keep)
    keep = rng.integers(0, 257, n_keep)
    keep[:1] = 256 if n_keep % 2 else keep[:1]  # a keep of 256 passes every coin
    table = np.zeros(16, dtype=np.int16)
    table[:n_keep] = keep
    age = rng.integers(0, 16, 5000).astype(np.int8)
    coin = rng.integers(0, 256, 5000).astype(np.uint8)
    # window_step ages first: a spike gives age 0, else it gets age - 1 and adds one
    expected, aged = P.window_step(age == 0, np.maximum(age.astype(np.int64) - 1, 0), coin, keep)
    assert np.array_equal(aged, age)
    t = 1000  # a spike at step t - age; age 15 stands for any older spike (or none)
    last = np.where(age < 15, t - age.astype(np.int32), t - 15 - rng.integers(0, 100, age.size))
    assert np.array_equal(_window_bits(last.astype(np.int32), t, coin, table, n_keep), expected)
    # nested coins: an older spike passes only if it was kept the step before
    kept = rng.random(age.size) < 0.5
    nested, _ = P.window_step(age == 0, np.maximum(age.astype(np.int64) - 1, 0), coin, keep,
                              nested=True, kept=kept)
    for n in (n_keep, 16):  # the compare chain and the table lookup
        assert np.array_equal(_nested_window_bits(last.astype(np.int32), t, coin, table, kept, n),
                              nested)


def test_lfsr_jump_of_16_equals_16_single_shifts():
    from hnnbio.chip import primitives as P

    states = P.lfsr_seed(9, np.arange(3000))
    expected = []
    for s in states.tolist():
        for _ in range(16):
            s = (s >> 1) ^ (0x80200003 if s & 1 else 0)
        expected.append(s)
    assert P.lfsr_advance(states, 16).tolist() == expected


def test_initial_attention_type_changes_no_code():
    from hnnbio.chip.run import initial_attention
    from hnnbio.errors import ParameterError

    wide = initial_attention(3, 54, 10, seed=4)
    narrow = initial_attention(3, 54, 10, seed=4, dtype=np.uint8)
    assert wide.dtype == np.int64 and narrow.dtype == np.uint8
    assert np.array_equal(wide, narrow)
    # codes round(256 c) of weights c summing to 1 over the 54 slots: sums within 27 of 256
    assert np.all(np.abs(wide.sum(axis=1) - 256) <= 27)
    for bad in (np.float32, np.int8, bool):
        with pytest.raises(ParameterError, match="dtype"):
            initial_attention(3, 54, 10, seed=4, dtype=bad)


def test_bits_matmul_sums_the_rows_of_active_inputs():
    import torch

    from hnnbio.chip.emulator import _bits_matmul

    rng = np.random.default_rng(2)
    weight = rng.integers(-2000, 2000, (30, 7))
    bits = rng.random((6, 30)) < 0.2
    bits[[1, 4]] = False  # images without any active input
    got = _bits_matmul(np.flatnonzero(bits), 6, 30,
                       torch.from_numpy(weight.astype(np.float32) / 4))
    expected = [[sum(int(weight[i, j]) for i in range(30) if bits[b, i]) / 4 for j in range(7)]
                for b in range(6)]
    assert got.tolist() == expected
