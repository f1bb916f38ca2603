"""Sweeps: spec checks, planning, refusal of foreign output folders, unreachable schedulers."""

import json
import time

import pytest

from hnnbio.errors import SweepError
from hnnbio.sweep import check_sweep_spec, plan_shards, read_sweep_spec, sweep

SMALL = {"models": ["bars"], "seeds": [1, 2], "images": 8}


def test_smallest_spec_plans_one_shard_per_model_and_seed():
    shards = plan_shards(check_sweep_spec(dict(SMALL)))
    assert [(s.model, s.seed, s.first_image, s.n_images) for s in shards] == [
        ("bars", 1, 0, 8),
        ("bars", 2, 0, 8),
    ]


def test_grid_and_shards_multiply():
    spec = check_sweep_spec(
        {
            **SMALL,
            "images": 10,
            "shard_images": 4,
            "grid": {"loop.cycles": [20, 30], "sheet_params.refractory_steps": [5]},
        }
    )
    shards = plan_shards(spec)
    assert len(shards) == 2 * 2 * 3  # seeds x cycles values x shards of 4, 4, 2 images
    assert sorted({s.n_images for s in shards}) == [2, 4]
    assert {s.params["loop.cycles"] for s in shards} == {20, 30}
    assert len({s.name for s in shards}) == len(shards)


@pytest.mark.parametrize(
    "bad, word",
    [
        ({**SMALL, "modles": ["bars"]}, "modles"),
        ({"seeds": [1], "images": 8}, "models"),
        ({**SMALL, "seeds": []}, "seeds"),
        ({**SMALL, "images": 0}, "images"),
        ({**SMALL, "kind": "dance"}, "kind"),
        ({**SMALL, "grid": {"loop.cycles": []}}, "loop.cycles"),
        ({**SMALL, "grid": {"cycles": [1]}}, "cycles"),
    ],
)
def test_bad_specs_name_the_problem(bad, word):
    with pytest.raises(SweepError, match=word):
        check_sweep_spec(bad)


def test_spec_file_errors(tmp_path):
    with pytest.raises(SweepError, match="not found"):
        read_sweep_spec(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("models = [")
    with pytest.raises(SweepError, match="not valid TOML"):
        read_sweep_spec(bad)


def test_output_of_another_sweep_is_refused(tmp_path):
    (tmp_path / "sweep.json").write_text(json.dumps({"fingerprint": "someone-else"}))
    with pytest.raises(SweepError, match="another sweep"):
        sweep(dict(SMALL), tmp_path, resume=True, progress=False)


def test_non_empty_folder_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SweepError, match="not empty"):
        sweep(dict(SMALL), tmp_path, progress=False)


def test_unreachable_scheduler_fails_within_seconds(tmp_path):
    start = time.perf_counter()
    with pytest.raises(SweepError, match="cannot reach"):
        sweep(dict(SMALL), tmp_path / "out", scheduler="tcp://127.0.0.1:9", progress=False)
    assert time.perf_counter() - start < 20


@pytest.mark.slow
def test_killed_sweep_resumes_to_the_same_table(tmp_path):
    """A sweep killed after its first shard, run again with resume, equals an uninterrupted one."""
    import os
    import signal
    import subprocess
    import sys

    spec = {"models": ["bars"], "seeds": [1, 2], "images": 4, "shard_images": 2, "cycles": 12}
    whole = sweep(dict(spec), tmp_path / "whole", progress=False, n_workers=1)
    assert len(whole) == 2 and all(row["images"] == 4 for row in whole)
    assert len(list((tmp_path / "whole" / "shards").glob("*.json"))) == 4

    spec_file = tmp_path / "sweep.toml"
    spec_file.write_text(
        'models = ["bars"]\nseeds = [1, 2]\nimages = 4\nshard_images = 2\ncycles = 12\n'
    )
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hnnbio", "sweep", str(spec_file), "--out", str(out), "--quiet"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not list((out / "shards").glob("*.json")):
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finished = {p.name: p.stat().st_mtime_ns for p in (out / "shards").glob("*.json")}
    assert 1 <= len(finished) < 4, "the sweep should have been killed part-way"

    with pytest.raises(SweepError, match="--resume"):
        sweep(dict(spec), out, progress=False)
    resumed = sweep(dict(spec), out, resume=True, progress=False, n_workers=1)
    for name, mtime in finished.items():  # finished shards were not redone
        assert (out / "shards" / name).stat().st_mtime_ns == mtime
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in resumed]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in whole]
