"""The export pipeline: lowering, quantisation against its derived error bounds, design rules,
partitioning and the end-to-end export of a shipped model."""

import dataclasses

import numpy as np
import pytest

from hnnbio.chip import rules
from hnnbio.chip.compiler import compile_model, export
from hnnbio.chip.isa import CoreProgram, Instruction
from hnnbio.chip.lower import lower
from hnnbio.chip.mapping import map_to_cores
from hnnbio.chip.program import load_program
from hnnbio.chip.quantize import quantize, quantize_layer
from hnnbio.chip.spec import TIANJIC_LIKE, ChipSpec
from hnnbio.errors import (
    DesignRuleError,
    ModelSpecError,
    ParameterError,
    ProgramError,
)

from .conftest import write_tiny_model  # noqa: E402  (importlib mode: package-relative)


def test_lower_reads_the_graph(tiny_spec):
    import torch

    from hnnbio.hnn.files import load_hnn

    hnn = load_hnn(tiny_spec)
    for model in (tiny_spec, str(tiny_spec), hnn):  # a path or the graph itself
        graph = lower(model)
        assert [n.kind for n in graph.nodes] == ["modulation", "stochastic_unit", "window",
                                                 "dense", "lut", "dense", "lut", "delay"]
        assert graph.image_shape == (4, 4) and graph.steps_per_cycle == 5
        assert (graph.cycles, graph.readout_cycles, graph.dataset) == (3, 1, "bars")
        assert graph.node("lut_2").params["function"] == "sigmoid"
        assert graph.node("sheet").params == {"refractory_steps": 2}
        assert graph.node("window").params == {"keep": [1.0, 0.5, 0.25], "nested": False}
        assert graph.node("delay").params == {"delay_steps": 5}
        assert graph.names == {"input": "image", "sheet": "sheet", "window": "window",
                               "network": "autoencoder", "attention": "attention"}
    # the weights are the module's (the file's float16 values, exactly)
    stored = torch.load(tiny_spec.parent / "tiny.pt", weights_only=True)["state_dict"]
    assert np.array_equal(graph.node("dense_1").arrays["weight"],
                          stored["linears.0.weight"].double().numpy())
    assert np.array_equal(graph.node("dense_2").arrays["bias"],
                          stored["linears.1.bias"].double().numpy())


def test_lower_reads_nested_coins_and_the_experiment(tmp_path, small_chip, tiny_samples):
    path = write_tiny_model(tmp_path, keep=(0.9, 0.6, 0.2), nested=True)
    graph = lower(path)
    assert graph.node("window").params == {"keep": [0.9, 0.6, 0.2], "nested": True}
    q = quantize(graph, tiny_samples)
    assert q.nested and q.keep == [230, 171, 85]
    program = compile_model(graph, small_chip, samples=tiny_samples)
    assert program.manifest["sheet"]["nested"] is True
    assert program.manifest["sheet"]["keep"] == [230, 171, 85]
    windows = [ins.args for c in program.cores for ins in c.phases.get(1, [])
               if ins.op == "window"]
    assert windows and all(w == {"spikes": "spikes", "age": "age", "kept": "kept",
                                 "out": "window", "rand": "lfsr", "keep": [230, 171, 85],
                                 "rand_shift": 8, "nested": True} for w in windows)


def test_lower_defaults_without_an_experiment(tiny_spec):
    import dataclasses

    from hnnbio.hnn.files import load_hnn

    hnn = dataclasses.replace(load_hnn(tiny_spec), experiment={}, steps=12)
    graph = lower(hnn)
    # D: the attention's delay; cycles: the graph's steps / D, rounded up; readout <= 10
    assert (graph.steps_per_cycle, graph.cycles, graph.readout_cycles) == (5, 3, 3)
    assert graph.dataset is None
    with pytest.raises(ParameterError, match="samples"):
        quantize(graph)


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
                       {2: [Instruction("axon", "matvec", {"x": "x", "weights": "w", "out": "p"})]})
    mapping = type("M", (), {"cores": [core]})()
    with pytest.raises(DesignRuleError, match="'core-size' violated by layer 'dense_9'"):
        rules.core_size(mapping, small_chip)


def _edited(path, old, new):
    """A copy of the HNN file at ``path`` with ``old`` replaced by ``new`` (once, checked)."""
    text = path.read_text()
    assert old in text, old
    out = path.with_name("edited.toml")
    out.write_text(text.replace(old, new, 1))
    return out


@pytest.mark.parametrize("old, new, rule, node", [
    ('model = "stochastic"\nparams = { refractory_steps = 2 }',
     'model = "lif"', "sheet-model", "sheet"),
    ('[networks.autoencoder]', '[populations.other]\nsize = 3\nmodel = "lif"\n\n'
     '[networks.autoencoder]', "populations", "other"),
    ('[networks.autoencoder]', '[synapses.lateral]\nsource = "sheet"\ntarget = "sheet"\n'
     'on_pre = "gain += 0"\n\n[networks.autoencoder]', "synapses", "lateral"),
    ('kernel = "coincidence"\nkeep = [1.0, 0.5, 0.25]', 'kernel = "rate"', "window-unit",
     "window"),
    ('kernel = "coincidence"', 'kernel = "coincidence"\nquantiser = "threshold"', "window-unit",
     "window"),
    ('operation = "set"', 'operation = "multiply"', "attention-unit", "attention"),
    ('kind = "modulation"\nvariable = "gain"\noperation = "set"',
     'kind = "transmission"\nvariable = "gain"\noperation = "add"', "attention-unit",
     "attention"),
    ('initial = "soft_assignment"', 'initial = "ones"', "attention-unit", "attention"),
    ('record_steps', 'gain = 2.0\nrecord_steps', "attention-unit", "attention"),
    ('inputs = ["window"]', 'inputs = ["window"]\nevery = 2', "network-autoencoder",
     "autoencoder"),
])
def test_graph_rules_name_the_rule_and_the_node(tiny_spec, old, new, rule, node):
    path = _edited(tiny_spec, old, new)
    with pytest.raises(DesignRuleError, match=f"design rule '{rule}' violated by layer "
                                              f"'{node}'") as err:
        lower(path)
    assert err.value.rule == rule and err.value.layer == node


def test_network_rule_refuses_a_module_that_is_not_the_autoencoder(tiny_spec):
    import dataclasses

    import torch

    from hnnbio.hnn.files import load_hnn

    hnn = load_hnn(tiny_spec)
    net = dataclasses.replace(hnn.networks[0], module=torch.nn.Sequential(
        torch.nn.Linear(16, 16), torch.nn.Sigmoid()))
    with pytest.raises(DesignRuleError, match="'network-autoencoder' violated by layer "
                                              "'autoencoder'.*Sequential"):
        lower(dataclasses.replace(hnn, networks=[net]))
    from hnnbio.ann.autoencoder import DenoisingAutoencoder

    stochastic = DenoisingAutoencoder([16, 5, 3, 5, 16], ["sigmoid"] * 3, latent="stochastic")
    net = dataclasses.replace(hnn.networks[0], module=stochastic)
    with pytest.raises(DesignRuleError, match="'network-autoencoder'.*latent"):
        lower(dataclasses.replace(hnn, networks=[net]))


def test_sheet_rule_refuses_per_neuron_refractoriness(tiny_spec):
    path = _edited(tiny_spec, "params = { refractory_steps = 2 }",
                   "params = { refractory_steps = " + str([2] * 15 + [3]) + " }")
    with pytest.raises(DesignRuleError, match="'sheet-model'.*per-neuron"):
        lower(path)


def test_lower_refuses_what_it_cannot_read(tmp_path, tiny_spec):
    with pytest.raises(ModelSpecError, match="unknown model 'nothing'.*bars"):
        lower("nothing")
    with pytest.raises(ModelSpecError, match="ModelSpec|int"):
        lower(3)
    (tiny_spec.parent / "tiny.pt").unlink()  # weights are the graph's: load_hnn refuses
    with pytest.raises(ModelSpecError, match="not found"):
        lower(tiny_spec)
    (tmp_path / "other").mkdir()
    other = write_tiny_model(tmp_path / "other", layers=(9, 4, 9))
    graph = lower(other)
    assert graph.image_shape == (3, 3)
    odd = write_tiny_model(tmp_path / "other", layers=(10, 4, 10))
    with pytest.raises(ModelSpecError, match="square"):
        lower(odd)


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
