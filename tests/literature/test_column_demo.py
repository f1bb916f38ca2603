"""The column demo behind ``hnnbio column``: counts, the raster PNG, the CLI."""

import pytest

from hnnbio.errors import ParameterError
from hnnbio.experiments.column_demo import run_column_demo


def test_demo_counts_and_plot(tmp_path):
    png = tmp_path / "raster.png"
    rows = run_column_demo("shapes", steps=40, plot=str(png), seed=1)
    assert png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert rows["pixels"] == 784 and rows["steps"] == 40
    # input units of foreground pixels fire every step (input_probability = 1)
    assert rows["spikes_input"] == rows["foreground"] * 40
    assert 0 < rows["spikes_coincidence"] <= rows["spikes_self_inhibiting"]
    assert rows["spikes_self_inhibiting"] <= rows["spikes_pyramidal"]
    # attention cycles over objects: most output spikes fall in their object's phase
    assert rows["sync_attended"] > 0.6


def test_cli_column(tmp_path, capsys):
    from hnnbio.cli import main

    assert main(["column", "--image", "bars", "--steps", "20", "--json"]) == 0
    assert '"spikes_coincidence"' in capsys.readouterr().out.splitlines()[-1]


@pytest.mark.parametrize("steps", [0, -5, 2.5])
def test_bad_steps_raise(steps):
    with pytest.raises(ParameterError, match="steps"):
        run_column_demo(steps=steps)
