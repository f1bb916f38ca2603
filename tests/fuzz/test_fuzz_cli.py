"""Fuzzed command lines: ``main(argv)`` in-process with hostile arguments for bind, run,
analyze, sweep, train, export and column (tiny image counts, few cycles and epochs). Each ends in
status 0, or status 2 with one line on stderr and no temporary folder left (or argparse's usage
error), never a traceback. Sweeps always get a --scheduler (a wrong or unreachable one): a local
cluster per example would take the whole time budget."""

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from .conftest import bounded

ROOT = Path(__file__).resolve().parents[2]
INTS = ["0", "1", "2", "-1", "x", "1.5", "", str(2**32), str(10**23)]


def _files(tmp: Path) -> dict:
    """The paths an argument can name: new, existing file, existing folder, unwritable..."""
    from tests.analysis.conftest import make_result

    (tmp / "afile").write_text("x")
    (tmp / "full").mkdir()
    (tmp / "full" / "notes.txt").write_text("mine")
    (tmp / "garbage.toml").write_text("name = [")
    (tmp / "res").mkdir()
    make_result(n_images=1, height=4, width=4, n_objects=2, steps_per_cycle=8,
                cycles=2).save(tmp / "res" / "result.npz")
    np.save(tmp / "bad_shape.npy", np.ones((2, 7)))
    np.save(tmp / "nan.npy", np.full((1, 400), np.nan))
    np.save(tmp / "images.npy", (np.arange(800).reshape(2, 20, 20) % 3 == 0).astype(np.uint8))
    (tmp / "sweep.toml").write_text('models = ["bars"]\nseeds = [1]\nimages = 1\ncycles = 1\n')
    (tmp / "sweep0.toml").write_text('models = ["bars"]\nseeds = [1]\nimages = 1\n'
                                     'shard_images = 0\n')
    return {"new": str(tmp / "new"), "nested": str(tmp / "a" / "b"), "file": str(tmp / "afile"),
            "full": str(tmp / "full"), "proc": "/proc/hnnbio-fuzz", "sub": str(tmp / "afile/x"),
            "res": str(tmp / "res"), "npz": str(tmp / "res" / "result.npz"),
            "missing": str(tmp / "missing"), "garbage": str(tmp / "garbage.toml"),
            "bad_shape": str(tmp / "bad_shape.npy"), "nan": str(tmp / "nan.npy"),
            "images": str(tmp / "images.npy"), "sweep": str(tmp / "sweep.toml"),
            "sweep0": str(tmp / "sweep0.toml")}


def _opt(draw, name, values, p_absent=True):
    """[name, value] or [] (absent), the value drawn from ``values``."""
    if p_absent and draw(st.booleans()):
        return []
    return [name, draw(st.sampled_from(values))]


PATH = ["new", "nested", "file", "full", "proc", "sub", "missing"]


COMMANDS = ("bind", "run", "analyze", "sweep", "train", "export", "column")


@st.composite
def command_lines(draw, command):
    o = draw  # shorthand
    if command == "bind":
        argv = ["bind", "--images", o(st.sampled_from(["1", "2", "0", "-1", "abc",
                                                      str(10**9)])),
                "--cycles", o(st.sampled_from(["1", "2", "0", "-5", "x"])), "--quiet",
                *_opt(o, "--seed", INTS), *_opt(o, "--batch-size", ["1", "0", "-2", "x"]),
                *_opt(o, "--model", ["bars", "nope", "bars-column", "@garbage", "@missing"]),
                *_opt(o, "--out", ["@" + p for p in PATH])]
        argv += ["--overwrite"] if o(st.booleans()) else []
    elif command == "run":
        argv = ["run", o(st.sampled_from(["models/bars.toml", "@garbage", "@missing",
                                          "models/bars-column.toml"])),
                "--images", o(st.sampled_from(["1", "0", "-2"])),
                "--steps", o(st.sampled_from(["1", "54", "0", "-3", "x"])),
                *_opt(o, "--input", ["@bad_shape", "@nan", "@images", "@missing", "@file"]),
                *_opt(o, "--seed", INTS), *_opt(o, "--out", ["@" + p for p in PATH]),
                *_opt(o, "--device", ["cpu", "bogus"])]
    elif command == "analyze":
        argv = ["analyze", o(st.sampled_from(["@res", "@npz", "@missing", "@file", "@full"])),
                "--quiet", *_opt(o, "--out", ["@" + p for p in PATH], p_absent=False)]
        argv += ["--overwrite"] if o(st.booleans()) else []
    elif command == "sweep":
        argv = ["sweep", o(st.sampled_from(["@sweep", "@sweep0", "@garbage", "@missing"])),
                "--out", o(st.sampled_from(["@" + p for p in PATH])), "--quiet",
                "--scheduler", o(st.sampled_from(["notanaddress", "tcp://x:y", "", "::",
                                                  "tcp://[::1", "inproc://"]))]
        argv += ["--resume"] if o(st.booleans()) else []
    elif command == "train":
        argv = ["train", *_opt(o, "--dataset", ["bars", "nope", "mnist_shape", "corners"]),
                *_opt(o, "--model", ["bars", "@garbage", "nope"]),
                "--out", o(st.sampled_from(["@new.pt", "@file", "@full", "@proc", "@sub"])),
                "--epochs", o(st.sampled_from(["1", "0", "-1", "x"])),
                "--n-images", o(st.sampled_from(["20", "1", "0", "-5"])), "--quiet",
                *_opt(o, "--device", ["cpu", "bogus", "cuda", "cuda:9", "meta"]),
                *_opt(o, "--seed", INTS)]
        argv += ["--overwrite"] if o(st.booleans()) else []
    elif command == "export":
        argv = ["export", *_opt(o, "--model", ["bars", "nope", "@garbage"]),
                "-o", o(st.sampled_from(["@new.hnnc", "@file", "@full", "@proc", "@sub",
                                         "@nested"]))]
        argv += ["--overwrite"] if o(st.booleans()) else []
    else:
        argv = ["column", "--steps", o(st.sampled_from(["1", "5", "0", "-1", "x"])),
                *_opt(o, "--image", ["shapes", "bars", "nope", "multi_mnist"]),
                *_opt(o, "--plot", ["@new.png", "@file", "@full", "@new.txt", "@proc",
                                    "@sub"]),
                *_opt(o, "--seed", INTS)]
        argv += ["--overwrite"] if o(st.booleans()) else []
    if o(st.booleans()):
        argv.append("--json")
    return argv


def _resolve(argv, files):
    out = []
    for a in argv:
        if a.startswith("@"):
            name, dot, ext = a[1:].partition(".")
            a = files[name] + (dot + ext if dot else "")
        out.append(a)
    return out


@pytest.mark.parametrize("command", COMMANDS)
@bounded(15)
@given(data=st.data())
def test_fuzzed_command_lines_end_in_success_or_one_line(command, data):
    from hnnbio.cli import main

    argv = data.draw(command_lines(command), label="argv")
    with tempfile.TemporaryDirectory() as tmp:
        argv = _resolve(argv, _files(Path(tmp)))
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                status = main(argv)
            except SystemExit as exc:  # argparse: a usage error
                assert exc.code == 2, argv
                return
        lines = err.getvalue().strip().splitlines()
        assert status in (0, 2), (argv, status, lines)
        if status == 2:
            errors = [line for line in lines if line.startswith(f"hnnbio {argv[0]}: error: ")]
            assert len(errors) == 1 and lines[-1] == errors[0], (argv, lines)
        assert not list(Path(tmp).rglob(".hnnbio-*")), argv  # no temporary folder left
