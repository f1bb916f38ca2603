"""The export pipeline: lowering, quantisation against its derived error bounds, design rules,
partitioning and the end-to-end export of a shipped model."""

import dataclasses

import numpy as np
import pytest

from hnnbio.chip import rules
from hnnbio.chip.compiler import compile_model, export
from hnnbio.chip.isa import CoreProgram, Instruction
from hnnbio.chip.lower import lower, read_state_dict
from hnnbio.chip.mapping import map_to_cores
from hnnbio.chip.program import load_program
from hnnbio.chip.quantize import quantize, quantize_layer
from hnnbio.chip.spec import TIANJIC_LIKE, ChipSpec
from hnnbio.errors import (
    DesignRuleError,
    ModelSpecError,
    ParameterError,
    ProgramError,
    WeightsError,
)

from .conftest import write_tiny_model  # noqa: E402  (importlib mode: package-relative)


def test_lower_reads_the_state_dict(tiny_spec):
    graph = lower(tiny_spec)
    assert [n.kind for n in graph.nodes] == ["modulation", "stochastic_unit", "window", "dense",
                                             "lut", "dense", "lut", "delay"]
    weights = read_state_dict(tiny_spec.parent / "tiny.pt")
    assert np.array_equal(graph.node("dense_1").arrays["weight"], weights["weights"][0])
    assert graph.image_shape == (4, 4) and graph.steps_per_cycle == 5
    assert graph.node("lut_2").params["function"] == "sigmoid"


def test_quantize_layer_weights_and_lut_within_derived_bounds():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 10))
    w[0, 0] = 1.0 / 0.75  # row 0: max |w| = 1.33: e_w = floor(log2(127 / 1.33)) = 6
    w[1] *= 0.01          # row 1: small weights keep their precision (per-channel exponent)
    b = rng.normal(size=6)
    layer = quantize_layer("d", "sigmoid", w, b, e_in=8)
    e_w = np.floor(np.log2(127 / np.abs(w).max(axis=1))).astype(int)
    assert layer.e_w[0] == 6 and layer.e_w.tolist() == e_w.tolist() and e_w[1] >= 12
    want = np.clip(np.rint(w * 2.0 ** e_w[:, None]), -128, 127).astype(np.int8).T
    assert np.array_equal(layer.weight, want)
    assert np.array_equal(layer.bias, np.rint(b * 2.0 ** (8 + e_w)).astype(np.int32))
    assert layer.shift.tolist() == (8 + e_w - 4).tolist()  # bins of 1/16
    # LUT: z in bins of 1/16; decoded output within slope/4 * half a bin + half an LSB of sigmoid
    acc = rng.integers(-(2 ** 20), 2 ** 20, size=(5000, 6))
    z = acc * 2.0 ** -(8 + e_w)
    decoded = layer.table[np.clip(acc >> layer.shift, -128, 127) + 128] / 256.0
    inside = np.abs(z) < 8
    bound = 0.25 * (1 / 32) + 0.5 / 256
    assert np.max(np.abs(decoded - 1 / (1 + np.exp(-z)))[inside]) <= bound
    outside = np.abs(1 / (1 + np.exp(-z)) - decoded)[~inside]
    assert outside.size == 0 or outside.max() <= 1 / (1 + np.exp(8)) + 1 / 256


def test_quantize_report_lists_every_layer(tiny_spec, tiny_samples):
    q = quantize(lower(tiny_spec), tiny_samples)
    assert list(q.report) == ["dense_1", "dense_2"]
    assert all(0 <= r["rel_rms_error"] < 1 for r in q.report.values())
    assert q.keep == [256, 128, 64] and q.refractory_steps == 2 and q.delay_steps == 5


def test_partition_splits_784x512_into_4x2_tiles():
    rng = np.random.default_rng(0)
    layer = quantize_layer("big", "relu", rng.normal(size=(512, 784)), np.zeros(512), e_in=0,
                           z_max=4)
    from hnnbio.chip.quantize import QGraph

    graph = type("G", (), {"node": lambda self, name: type("N", (), {"n_out": 784})()})()
    mapping = map_to_cores(QGraph(graph, [layer], 6, [256, 128, 64], 32), TIANJIC_LIKE)
    grid = mapping.layers[1]["grid"]
    assert len(grid) == 8
    assert {(a, b) for a, b, _ in grid} == {(a, b) for a in range(4) for b in range(2)}
    shapes = sorted(mapping.arrays[f"c{c}.weight"].shape for _, _, c in grid)
    assert shapes == [(16, 256)] * 2 + [(256, 256)] * 6
    # partial sums of tiles a > 0 are routed to the reducing tile (0, b), with XY hop counts
    partial = [r for r in mapping.routes if r["what"] == "partial"]
    assert len(partial) == 6
    for r in partial:
        (sx, sy), (dx, dy) = TIANJIC_LIKE.core_xy(r["src"]), TIANJIC_LIKE.core_xy(r["dst"])
        assert r["hops"] == abs(sx - dx) + abs(sy - dy)


@pytest.mark.parametrize("change, rule, layer", [
    ({"delay_slots": 4}, "delay-ring", "delay"),
    ({"mesh_x": 2, "mesh_y": 2}, "core-count", "dense_1"),
    ({"memory_bytes_per_core": 130}, "weight-memory", "dense_1"),
    ({"max_phases": 4}, "phase-count", "dense_2"),
])
def test_design_rules_name_rule_and_layer(tiny_spec, small_chip, tiny_samples, change, rule, layer):
    chip = dataclasses.replace(small_chip, **change)
    message = f"design rule '{rule}' violated by layer '{layer}'"
    with pytest.raises(DesignRuleError, match=message) as err:
        compile_model(tiny_spec, chip, samples=tiny_samples)
    assert err.value.rule == rule and err.value.layer == layer


@pytest.mark.parametrize("refractory, rule, layer", [(16, "refractory-counter", "sheet"),
                                                     (1, "window-refractory", "window")])
def test_sheet_rules(tmp_path, small_chip, tiny_samples, refractory, rule, layer):
    spec = write_tiny_model(tmp_path, refractory=refractory)
    with pytest.raises(DesignRuleError, match=f"'{rule}' violated by layer '{layer}'"):
        compile_model(spec, small_chip, samples=tiny_samples)


def test_core_size_rule(small_chip):
    core = CoreProgram(0, 0, 0, "dense_9", "tile", (0, 8), (0, 300),
                       {2: [Instruction("axon", "matvec", {"weights": "w", "axons": [0, 300]})]})
    mapping = type("M", (), {"cores": [core]})()
    with pytest.raises(DesignRuleError, match="'core-size' violated by layer 'dense_9'"):
        rules.core_size(mapping, small_chip)


def test_lower_refuses_what_it_cannot_export(tmp_path, tiny_spec):
    from hnnbio.binding.spec import load_spec

    spec = load_spec(tiny_spec)
    with pytest.raises(ModelSpecError, match="sheet"):
        lower(spec.replace(sheet="column"))
    with pytest.raises(ModelSpecError, match="top_down.target"):
        lower(spec.replace(top_down={"target": "threshold"}))
    with pytest.raises(WeightsError, match="not found"):
        lower(spec, tmp_path / "nothing.pt")
    (tmp_path / "bad.pt").write_bytes(b"not torch")
    with pytest.raises(WeightsError, match="corrupt"):
        lower(spec, tmp_path / "bad.pt")
    (tmp_path / "other").mkdir()
    other = write_tiny_model(tmp_path / "other", layers=(16, 10, 16))
    with pytest.raises(WeightsError, match="architecture"):
        lower(spec, other.parent / "tiny.pt")


def test_chip_spec_validation():
    assert TIANJIC_LIKE.n_cores == 160 and TIANJIC_LIKE.memory_bytes_per_core == 144 * 1024
    assert TIANJIC_LIKE.membrane_range == (-(2 ** 27), 2 ** 27 - 1)
    assert TIANJIC_LIKE.core_xy(17) == (1, 1)
    assert ChipSpec.from_dict(TIANJIC_LIKE.to_dict()) == TIANJIC_LIKE
    for field, value in [("mesh_x", 0), ("axons_per_core", -3), ("weight_bits", 4),
                         ("membrane_bits", 40), ("lfsr_bits", 16), ("pj_per_mac", -1.0),
                         ("delay_slots", 2.5)]:
        with pytest.raises(ParameterError, match=field):
            ChipSpec(**{field: value})
    with pytest.raises(ParameterError, match="nonsense"):
        ChipSpec.from_dict({"nonsense": 1})


@pytest.mark.slow
def test_export_bars_end_to_end(tmp_path):
    out = tmp_path / "bars.hnnc"
    rows = export("bars", out)
    assert rows["cores"] == 6 and rows["phases"] == 6 and out.stat().st_size == rows["bytes"]
    program = load_program(out)
    assert program.manifest["loop"]["steps_per_cycle"] == 54
    assert sum(program.arrays[f"c{c}.weight"].size for c in (2, 3)) == 400 * 256
    with pytest.raises(ProgramError, match="exists"):
        export("bars", out)
    with pytest.raises(ParameterError, match="format"):
        export("bars", tmp_path / "x", format="onnx")
