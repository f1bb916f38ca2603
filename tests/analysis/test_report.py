"""The synchrony report and `hnnbio analyze`: files written, numbers sensible, refusals."""

import json

import numpy as np
import pytest

from hnnbio.analysis.files import write_result_file
from hnnbio.analysis.report import REPORT_FILES, write_report
from hnnbio.cli import main
from hnnbio.errors import DataError


@pytest.fixture
def saved(synthetic, tmp_path):
    r = synthetic(n_images=3, height=8, width=8, n_objects=3, steps_per_cycle=24, cycles=8)
    r.metrics["rate"] = np.array([0.1, -0.05, 0.0])
    path = tmp_path / "result.npz"
    r.save(path)
    return path


def test_report_writes_figures_and_numbers(saved, tmp_path):
    out = tmp_path / "report"
    rows = write_report(saved, out, progress=False)
    for name in REPORT_FILES:
        assert (out / name).stat().st_size > 0, name
    text = (out / "report.md").read_text()
    assert "![Spike raster coloured by object](raster.png)" in text and "mean STTC" in text
    assert rows["images"] == 3 and rows["images_sttc_within_gt_across"] == 1.0
    assert rows["sttc_within"] > rows["sttc_across"] + 0.5
    assert rows["cch_peak_within"] > rows["cch_peak_across"]
    assert -1 <= rows["pearson_r_synchrony_ami"] <= 1


def test_existing_report_is_refused_unless_overwrite(saved, tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="out: .* not empty"):
        write_report(saved, out, progress=False)
    write_report(saved, out, overwrite=True, progress=False, images=[1], example_image=1)
    assert (out / "notes.txt").read_text() == "keep me" and (out / "report.md").exists()


def test_report_reads_nix_results(synthetic, tmp_path):
    r = synthetic(n_images=1, height=4, width=4, n_objects=2, steps_per_cycle=12, cycles=4)
    path = write_result_file(r, tmp_path / "result.nix")
    rows = write_report(path, tmp_path / "rep", progress=False)
    assert rows["images"] == 1 and rows["sttc_within"] > rows["sttc_across"]


def test_bad_inputs_raise(saved, tmp_path):
    with pytest.raises(DataError, match=r"r\.csv"):
        write_report(tmp_path / "r.csv", tmp_path / "a")
    with pytest.raises(DataError, match="not found"):
        write_report(tmp_path / "missing.npz", tmp_path / "b")
    with pytest.raises(DataError, match="images"):
        write_report(saved, tmp_path / "c", images=[7], progress=False)
    with pytest.raises(DataError, match="example_image"):
        write_report(saved, tmp_path / "d", example_image=5, progress=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="not a folder"):
        write_report(saved, tmp_path / "file")


def test_cli_analyze(saved, tmp_path, capsys):
    out = tmp_path / "cli_report"
    assert main(["analyze", str(saved), "--out", str(out), "--quiet", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rows["images"] == 3 and (out / "report.md").exists()
    assert main(["analyze", str(saved), "--out", str(out), "--quiet"]) == 2
    assert "not empty" in capsys.readouterr().err
