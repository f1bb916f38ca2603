"""Sweeps: spec checks, planning, refusal of foreign output folders, unreachable schedulers."""

import contextlib
import json
import os

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


def test_unreachable_scheduler_leaves_nothing(tmp_path):
    """The client's connect timeout (5 s) bounds the wait; a sweep that fails before its first
    shard leaves no folder (a new --out) or leaves an empty one empty, so it can start there."""
    with pytest.raises(SweepError, match="cannot reach"):
        sweep(dict(SMALL), tmp_path / "a" / "out", scheduler="tcp://127.0.0.1:9", progress=False)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "empty").mkdir()
    with pytest.raises(SweepError, match="cannot reach"):
        sweep(dict(SMALL), tmp_path / "empty", scheduler="tcp://127.0.0.1:9", progress=False)
    assert list((tmp_path / "empty").iterdir()) == []


@pytest.mark.parametrize(
    "bad, word",
    [
        ({**SMALL, "shard_images": 0}, "shard_images must be a positive integer, got 0"),
        ({**SMALL, "shard_images": 2.5}, "shard_images"),
        ({**SMALL, "images": True}, "images"),
        ({**SMALL, "cycles": 0}, "cycles"),
        ({**SMALL, "batch_size": -1}, "batch_size"),
        ({**SMALL, "seeds": [-1]}, "seeds must be integers in 0.."),
        ({**SMALL, "seeds": [10**6]}, "seeds"),
        ({**SMALL, "seeds": ["1"]}, "seeds"),
        ({**SMALL, "models": [3]}, "models"),
        ({**SMALL, "grid": [1]}, "grid must be a table"),
    ],
)
def test_bad_values_refused(bad, word):
    with pytest.raises(SweepError, match=word):
        check_sweep_spec(bad)


def test_every_job_is_checked_before_any_work(tmp_path, monkeypatch):
    import hnnbio.sweep as sweep_module

    def never(*args, **kwargs):
        raise AssertionError("the cluster started before the jobs were checked")

    monkeypatch.setattr(sweep_module, "_connect", never)
    spec = {**SMALL, "grid": {"sheet_params.refractory_steps": [4, "six"]}}
    with pytest.raises(SweepError, match="refractory_steps = 'six'.*expected a number"):
        sweep(spec, tmp_path / "out", progress=False)
    with pytest.raises(SweepError, match="model nope: unknown model"):
        sweep({**SMALL, "models": ["bars", "nope"]}, tmp_path / "out", progress=False)
    with pytest.raises(SweepError, match="not a Dask scheduler address"):
        sweep(dict(SMALL), tmp_path / "out", scheduler="notanaddress", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_second_sweep_on_a_locked_folder_is_refused(tmp_path, monkeypatch):
    import hnnbio.sweep as sweep_module

    def never(*args, **kwargs):
        raise AssertionError("a second sweep started its work")

    monkeypatch.setattr(sweep_module, "_connect", never)
    out = tmp_path / "out"
    out.mkdir()
    with sweep_module.locked(out):  # an flock, per open file: this process counts as another
        owner = json.loads((out / "sweep.lock").read_text())
        with pytest.raises(SweepError, match=f"another sweep \\(pid {owner['pid']}"):
            sweep(dict(SMALL), out, resume=True, progress=False)
    assert list(out.iterdir()) == []  # the lock file goes with the lock


def test_the_lock_of_a_killed_sweep_is_taken_over(tmp_path):
    import subprocess
    import sys

    import hnnbio.sweep as sweep_module

    code = ("import os, signal, sys\nfrom pathlib import Path\nfrom hnnbio.sweep import locked\n"
            "with locked(Path(sys.argv[1])):\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    out = tmp_path / "out"
    out.mkdir()
    assert subprocess.run([sys.executable, "-c", code, str(out)]).returncode == -9
    assert (out / "sweep.lock").exists()  # left behind, but no longer locked
    with sweep_module.locked(out):
        assert json.loads((out / "sweep.lock").read_text())["pid"] == os.getpid()


def test_damaged_shard_file_is_one_line(tmp_path):
    from hnnbio.sweep import summarize

    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "x.json").write_text('{"shard": 1}')
    with pytest.raises(SweepError, match="x.json: not a shard file"):
        summarize(tmp_path)


_KILL_AFTER = """
import os, signal, sys
from hnnbio.sweep import sweep

def stop(path, count=[0]):  # the sweep is killed right after its k-th shard file is written
    count[0] += 1
    if count[0] == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)

sweep(sys.argv[1], sys.argv[2], progress=False, n_workers=1, on_shard=stop)
"""


@pytest.mark.slow
def test_killed_sweep_resumes_to_the_same_table(tmp_path):
    """A sweep SIGKILLed right after its first shard, run again with resume, equals an
    uninterrupted one; the finished shard is not redone."""
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
    proc = subprocess.Popen([sys.executable, "-c", _KILL_AFTER, str(spec_file), str(out), "1"],
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        assert proc.wait(timeout=600) == -signal.SIGKILL
    finally:
        with contextlib.suppress(ProcessLookupError):  # the local cluster's workers too
            os.killpg(proc.pid, signal.SIGKILL)
    finished = {p.name: p.stat().st_mtime_ns for p in (out / "shards").glob("*.json")}
    assert len(finished) == 1  # exactly the shards written before the kill

    with pytest.raises(SweepError, match="--resume"):
        sweep(dict(spec), out, progress=False)
    resumed = sweep(dict(spec), out, resume=True, progress=False, n_workers=1)
    for name, mtime in finished.items():  # finished shards were not redone
        assert (out / "shards" / name).stat().st_mtime_ns == mtime
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in resumed]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in whole]
