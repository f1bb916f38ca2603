"""`hnnbio analyze`: a result folder accepted, damaged results refused in one line, the report
written atomically (issue 14, parts 2, 3, 4 and 6)."""

import json

import numpy as np
import pytest

from hnnbio.analysis.report import REPORT_FILES, load_result, write_report
from hnnbio.cli import main
from hnnbio.errors import DataError


@pytest.fixture
def result(synthetic):
    return synthetic(n_images=2, height=6, width=6, n_objects=2, steps_per_cycle=12, cycles=4)


def _save(result, path, drop=(), **replace):
    """Save ``result`` to ``path`` with arrays or meta keys dropped or replaced."""
    result.save(path)
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    for key in drop:
        arrays.pop(key, None)
        meta.pop(key, None)
    for key, value in replace.items():
        if key in meta:
            meta[key] = value
        else:
            arrays[key] = value
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(path, **arrays)
    return path


def test_analyze_accepts_the_folder_bind_wrote(result, tmp_path, capsys):
    folder = tmp_path / "bind_out"
    folder.mkdir()
    result.save(folder / "result.npz")
    out = tmp_path / "rep"
    assert main(["analyze", str(folder), "--out", str(out), "--quiet", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rows["images"] == 2 and (out / "report.md").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["analyze", str(empty), "--out", str(tmp_path / "rep2"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "without a result" in err
    assert not (tmp_path / "rep2").exists()


def test_analyze_reads_a_real_bind_folder(tmp_path):
    from hnnbio.binding.bind import run_bind

    run_bind("bars", n_images=1, cycles=2, out=tmp_path / "b", nix=False)
    rows = write_report(tmp_path / "b", tmp_path / "rep", progress=False)
    assert rows["images"] == 1 and rows["model"] == "bars"


def _bad_pixel(r):
    v = r.spike_pixel.copy()
    v[0] = 36  # 6 x 6 pixels: 0..35
    return v


def _negative_step(r):
    v = r.spike_step.copy()
    v[0] = -1
    return v


@pytest.mark.parametrize(
    "drop, replace, match",
    [
        (("spike_step",), {}, "spike_step"),
        (("images",), {}, "images"),
        (("n_steps",), {}, "n_steps"),
        ((), {"spike_pixel": _bad_pixel}, "spike_pixel 36 is outside 0..35"),
        ((), {"spike_step": _negative_step}, "spike_step -1 is outside"),
        ((), {"attention": lambda r: np.full_like(r.attention, np.nan)}, "NaN"),
        ((), {"attention": lambda r: np.ones((1, 2))}, "attention must have shape"),
        ((), {"images": lambda r: np.full(r.images.shape, 2, np.uint8)}, "binary"),
        ((), {"n_steps": -5}, "n_steps"),
        ((), {"dt_ms": "fast"}, "dt_ms"),
        ((), {"steps_per_cycle": 0}, "steps_per_cycle"),
        ((), {"unknown_key": np.zeros(2)}, "not a complete binding result"),
        ((), {"metric_ami": np.zeros(5)}, "metric ami"),
    ],
)
def test_damaged_results_are_one_line(result, tmp_path, capsys, drop, replace, match):
    if result.attention is None:
        result.attention = np.zeros((2, 12, 6, 6), np.float32)
    replace = {k: v(result) if callable(v) else v for k, v in replace.items()}
    path = _save(result, tmp_path / "result.npz", drop, **replace)
    with pytest.raises(DataError, match=match):
        load_result(path)
    assert main(["analyze", str(path), "--out", str(tmp_path / "rep"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match.split()[0] in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.npz"]  # nothing written


def test_a_failed_analysis_leaves_no_half_report(result, tmp_path, monkeypatch):
    import hnnbio.analysis.figures as figures

    path = tmp_path / "result.npz"
    result.save(path)
    out = tmp_path / "rep"
    write_report(path, out, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(before) == set(REPORT_FILES)

    def broken(*args, **kwargs):
        raise DataError("figures: broken on purpose")

    monkeypatch.setattr(figures, "plot_cch", broken)
    with pytest.raises(DataError, match="broken"):
        write_report(path, out, overwrite=True, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the old report, intact
    with pytest.raises(DataError, match="broken"):
        write_report(path, tmp_path / "new", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep", "result.npz"]
