"""The wheel a user installs carries the model specs and their weights (not only editable ones)."""

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_every_model_spec_and_its_weights(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    wheel = next(tmp_path.glob("hnnbio-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    specs = sorted((ROOT / "models").glob("*.toml"))
    assert specs
    for spec in specs:
        assert f"hnnbio/shipped_models/{spec.name}" in names
        raw = tomllib.loads(spec.read_text())
        files = {net["weights"] for net in raw.get("networks", {}).values() if "weights" in net}
        if isinstance(raw.get("experiment", {}).get("weights"), str):
            files.add(raw["experiment"]["weights"])
        assert files, f"{spec.name} names no weights file"
        for weights in files:
            shipped = f"hnnbio/shipped_models/{weights}" in names
            assert shipped, f"{weights} of {spec.name} not shipped"
