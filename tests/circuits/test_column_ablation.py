"""analyses/column_ablation.py: each variant changes one element of the shipped column models,
and a tiny run binds with every variant (2 images, 3 cycles)."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "analyses" / "column_ablation.py"


def _module():
    spec = importlib.util.spec_from_file_location("column_ablation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["bars", "shapes", "corners"])
def test_every_variant_is_a_valid_column_spec_differing_in_one_element(name):
    from hnnbio.binding.spec import load_spec
    from hnnbio.circuits.column import ColumnParams

    mod = _module()
    spec = load_spec(mod.MODELS / f"{name}-column.toml")
    found = mod.variants(spec.sheet_params)
    assert found["full"] == {}
    assert found["weak_attention"]["attention_gain"] == pytest.approx(
        spec.sheet_params["attention_gain"] / 10)
    for change in found.values():
        assert len(change) <= 1
        s = spec.replace(sheet_params={**spec.sheet_params, **change})
        params = ColumnParams.from_dict(s.sheet_params)  # valid, checked parameters
        for key, value in change.items():
            assert getattr(params, key) == value


@pytest.mark.parametrize("name", ["bars", "shapes", "corners"])
def test_microcircuit_variants_are_valid_and_each_removes_one_element(name):
    from hnnbio.binding.spec import load_spec
    from hnnbio.circuits.column import ColumnParams

    mod = _module()
    spec = load_spec(mod.MODELS / f"{name}-microcircuit.toml")
    shipped = ColumnParams.from_dict(spec.sheet_params)
    assert shipped.chains == 4 and shipped.up_inputs == 2 and shipped.input_probability < 1
    found = mod.variants(spec.sheet_params)
    # the shipped files have the plateau (started from full attention) and the interneurons:
    # their variants remove them
    assert shipped.plateau and shipped.interneurons
    assert spec.raw["units"][spec.attention_name]["initial"] == "ones"
    assert set(found) == {"full", "no_self_inhibition", "relay_coincidence", "certain_input",
                          "one_chain", "weak_attention", "no_plateau", "no_interneurons"}
    for change in found.values():
        s = mod.variant_spec(spec, change)
        params = ColumnParams.from_dict(s.sheet_params)  # valid, checked parameters
        for key, value in change.items():
            assert getattr(params, key) == value
        assert s.raw["units"][s.attention_name]["initial"] == "ones"
    assert not ColumnParams.from_dict(
        mod.variant_spec(spec, found["no_plateau"]).sheet_params).plateau
    assert not ColumnParams.from_dict(
        mod.variant_spec(spec, found["no_interneurons"]).sheet_params).interneurons


def test_a_missing_element_is_added_by_its_variant_from_full_attention():
    from hnnbio.binding.spec import _from_raw, load_spec

    mod = _module()
    spec = load_spec(mod.MODELS / "bars-microcircuit.toml")
    bare = spec.replace(sheet_params={**spec.sheet_params, "plateau_threshold": 0.0,
                                      "inhibition_steps": 0})
    raw = bare.to_dict()
    raw["units"][spec.attention_name]["initial"] = "soft_assignment"
    bare = _from_raw(raw, spec.path)
    found = mod.variants(bare.sheet_params)
    assert found["plateau"] == mod.ADDED_PLATEAU
    assert found["interneurons"] == mod.ADDED_INTERNEURONS
    s = mod.variant_spec(bare, found["plateau"])
    assert s.raw["units"][s.attention_name]["initial"] == "ones"
    s = mod.variant_spec(bare, found["interneurons"])
    assert s.raw["units"][s.attention_name]["initial"] == "soft_assignment"


def test_a_shipped_element_is_removed_by_its_no_variant():
    mod = _module()
    params = {"chains": 4, "up_inputs": 2, "plateau_threshold": 0.2, "inhibition_steps": 2}
    found = mod.variants(params)
    assert found["no_plateau"] == {"plateau_threshold": 0.0}
    assert found["no_interneurons"] == {"inhibition_steps": 0}
    assert "plateau" not in found and "interneurons" not in found


def test_measure_binds_with_every_variant_and_writes_the_figure(tmp_path, monkeypatch):
    from hnnbio.binding.spec import ModelSpec

    mod = _module()
    original = ModelSpec.replace

    def short(self, **sections):  # 3 cycles, readout 2: the plumbing, not the science
        s = original(self, **sections)
        return original(s, loop={"cycles": 3, "readout_cycles": 2})

    monkeypatch.setattr(ModelSpec, "replace", short)
    rows = mod.measure("bars", 2)
    assert set(rows) == set(mod.variants({}))
    for r in rows.values():
        assert 0 <= r["spikes_per_pixel_step"] < 1 and -1 <= r["ami"] <= 1
    # removing the input's certainty lowers the sheet's spike rate (p = 0.5 instead of 1)
    assert rows["input_p0.5"]["spikes_per_pixel_step"] < rows["full"]["spikes_per_pixel_step"]
    mod.plot(dict(images=2, models={"bars": rows}), tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 1000
