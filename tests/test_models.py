"""Every file in models/ is an HNN file: `hnnbio run` runs it, and a key it does not know is
refused by name (nothing in a model file is accepted and ignored)."""

import json
from pathlib import Path

import pytest

from hnnbio.cli import main

MODELS = sorted(Path(__file__).resolve().parents[1].joinpath("models").glob("*.toml"))


def test_models_folder_is_not_empty():
    assert len(MODELS) >= 6


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_hnnbio_run_runs_every_model(path, capsys):
    assert main(["run", str(path), "--steps", "60", "--images", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rows["steps"] >= 60
    if "ami" in rows:  # a binding model: scored on its data set (adjusted: below 0 by chance)
        assert -1 <= rows["ami"] <= 1 or rows["ami"] != rows["ami"]


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
@pytest.mark.parametrize("where", ["top", "population", "unit", "experiment"])
def test_an_unknown_key_is_refused_by_name(path, where, tmp_path, capsys):
    text = path.read_text()
    lines = text.splitlines()
    section = {"top": None, "population": "[populations.", "unit": "[units.",
               "experiment": "[experiment]"}[where]
    if section is None:
        lines.insert(0, "bogus_key = 1")
    else:
        at = next((i for i, line in enumerate(lines) if line.startswith(section)), None)
        if at is None:
            pytest.skip(f"{path.name} has no {section} section")
        lines.insert(at + 1, "bogus_key = 1")
    copy = tmp_path / path.name
    copy.write_text("\n".join(lines) + "\n")
    for weights in path.parent.glob("*.pt"):
        (tmp_path / weights.name).symlink_to(weights)
    assert main(["run", str(copy), "--steps", "5", "--images", "1"]) == 2
    err = capsys.readouterr().err
    assert "bogus_key" in err and len(err.strip().splitlines()) == 1
