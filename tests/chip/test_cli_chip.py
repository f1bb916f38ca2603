"""The export, chip dump and emulate subcommands, end to end on the shipped Bars model."""

import json

import pytest

from hnnbio.cli import main

pytestmark = [pytest.mark.emulator, pytest.mark.slow]


def test_export_dump_emulate(tmp_path, capsys):
    program = tmp_path / "bars.hnnc"
    assert main(["export", "--model", "bars", "-o", str(program), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rows["cores"] == 6 and program.exists()
    assert main(["export", "--model", "bars", "-o", str(program)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["chip", "dump", str(program)]) == 0
    text = capsys.readouterr().out
    assert "core 5" in text and "attention" in text and "delay 54" in text
    assert main(["emulate", str(program), "--images", "2", "--seed", "1", "--quiet", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rows["backend"] == "emulator" and rows["images"] == 2
    for key in ("ami", "synchrony", "rate", "macs", "sops", "packets", "energy_uj_per_image",
                "latency_ms_per_image"):
        assert key in rows
    program.write_bytes(program.read_bytes()[:-10])
    assert main(["emulate", str(program), "--quiet"]) == 2
    assert "truncated" in capsys.readouterr().err
