"""Issue 14, parts 2 and 3: bad arguments and bad model files end in one line on stderr and exit
status 2, with nothing written; output paths are refused before any simulation starts."""

import os
from pathlib import Path

import pytest

from hnnbio.cli import main

ROOT = Path(__file__).resolve().parents[1]
BARS = (ROOT / "models" / "bars.toml").read_text()


def _model(tmp, old, new):
    text = BARS.replace(old, new)
    assert text != BARS, old
    path = tmp / "m.toml"
    path.write_text(text.replace('weights = "bars.pt"', f'weights = "{ROOT}/models/bars.pt"'))
    return str(path)


def _one_line(argv, tmp_path, capsys, match):
    """Run the CLI; it must fail with one line naming ``match`` and write nothing in tmp_path."""
    before = sorted(tmp_path.rglob("*"))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"hnnbio {argv[0]}: error: "), err
    assert match in err, err
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, no temporary folder left
    return err


BIND = ["bind", "--images", "1", "--cycles", "1", "--quiet"]
SEEDS = [("-1", "seed"), (str(10**23), "seed")]


@pytest.mark.parametrize("seed, match", SEEDS)
@pytest.mark.parametrize("command", [BIND, ["column", "--steps", "5"], ["run", "models/bars.toml"],
                                     ["emulate", "program.hnnc", "--images", "1"]])
def test_bad_seeds(command, seed, match, tmp_path, capsys):
    _one_line([*command, "--seed", seed], tmp_path, capsys, match)


def _outs(tmp_path):
    (tmp_path / "afile").write_text("x")
    places = {"/proc/x": "cannot write into /proc", f"{tmp_path}/afile/sub": "is not a folder"}
    if os.getuid() != 0:
        places["/sys/x"] = "cannot write into /sys"
    return places


OUT_COMMANDS = {
    "bind": lambda o, t: [*BIND, "--out", o],
    "run": lambda o, t: ["run", "models/bars.toml", "--images", "1", "--steps", "54", "--out", o],
    "analyze": lambda o, t: ["analyze", str(t / "r.npz"), "--out", o, "--quiet"],
    "sweep": lambda o, t: ["sweep", str(t / "s.toml"), "--out", o, "--quiet"],
    "export": lambda o, t: ["export", "-o", o + ".hnnc"],
    "train": lambda o, t: ["train", "--dataset", "bars", "--out", o + ".pt", "--epochs", "1",
                           "--n-images", "20", "--quiet"],
    "column": lambda o, t: ["column", "--steps", "5", "--plot", o + ".png"],
}


@pytest.mark.parametrize("command", sorted(OUT_COMMANDS))
def test_unwritable_outputs_refused_before_the_work(command, tmp_path, capsys, monkeypatch):
    """/proc/x, an existing file's sub-path, /sys/x: refused at once for every writing command;
    the simulation (or training, analysis, compilation) is never reached."""
    import hnnbio.ann.train
    import hnnbio.binding.bind
    import hnnbio.chip.compiler
    import hnnbio.experiments.column_demo
    import hnnbio.sweep

    def never(*args, **kwargs):
        raise AssertionError("the work started before the output was checked")

    monkeypatch.setattr(hnnbio.binding.bind, "bind", never)
    monkeypatch.setattr(hnnbio.ann.train, "fit", never)
    monkeypatch.setattr(hnnbio.sweep, "_run_shards", never)
    monkeypatch.setattr(hnnbio.experiments.column_demo, "ColumnSheet", never)
    monkeypatch.setattr(hnnbio.chip.compiler, "compile_model", never)
    (tmp_path / "s.toml").write_text('models = ["bars"]\nseeds = [1]\nimages = 2\ncycles = 1\n')
    (tmp_path / "r.npz").write_text("")
    for out, match in _outs(tmp_path).items():
        if command == "export" and "afile" in out:
            match = "make it first"
        if command == "sweep":  # a sweep's folder is made (and removed when nothing was written)
            match = "cannot make"
        _one_line(OUT_COMMANDS[command](out, tmp_path), tmp_path, capsys, match)


def test_existing_file_as_a_folder_is_refused(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    for argv in ([*BIND, "--out", str(tmp_path / "afile")],
                 ["sweep", "s.toml", "--out", str(tmp_path / "afile"), "--quiet"],
                 ["run", "models/bars.toml", "--out", str(tmp_path / "afile")]):
        if argv[0] == "sweep":
            (tmp_path / "s.toml").write_text('models = ["bars"]\nseeds = [1]\nimages = 2\n')
            argv[1] = str(tmp_path / "s.toml")
        _one_line(argv, tmp_path, capsys, "exists and is not a folder")


@pytest.mark.parametrize(
    "old, new, match",
    [
        ("refractory_steps = 6", 'refractory_steps = "six"', "expected a number, got 'six'"),
        ("refractory_steps = 6", "refractory_steps = nan", "must be finite"),
        ("refractory_steps = 6", "refractory_steps = 2.7", "must be an integer"),
        ("delay_steps = 54", "delay_steps = -4", "delay_steps must be >= 0"),
        ("delay_steps = 54", "delay_steps = 0", "without a delay"),
        ("delay_steps = 54", "delay_steps = 2.7", "delay_steps must be an integer"),
        ("delay_steps = 54", 'delay_steps = "10"', "delay_steps must be an integer"),
        ('dt = "1 ms"', 'dt = "inf ms"', "dt"),
        ('dt = "1 ms"', "dt_ms = inf", "unknown key 'dt_ms'"),
        ("cycles = 50", "cycles = true", "cycles must be an integer"),
        ("cycles = 50", "cycles = 0", "cycles must be >= 1"),
        ("keep = [1.0, 0.5, 0.25]", "keep = [1.0, nan, 0.25]", "keep"),
        ("seed = 0\n", "seed = -3\n", "seed"),
    ],
)
@pytest.mark.parametrize("command", ["run", "bind"])
def test_bad_model_values(command, old, new, match, tmp_path, capsys):
    path = _model(tmp_path, old, new)
    argv = (["run", path, "--images", "1", "--steps", "54"] if command == "run" else
            ["bind", "--model", path, "--images", "1", "--cycles", "1", "--quiet"])
    _one_line(argv, tmp_path, capsys, match)


@pytest.mark.parametrize(
    "argv, match",
    [
        ([*BIND, "--batch-size", "0"], "batch_size: must be a positive integer, got 0"),
        ([*BIND, "--batch-size", "-3"], "batch_size"),
        (["bind", "--images", "1", "--cycles", "0", "--quiet"], "cycles"),
        (["bind", "--images", "0", "--quiet"], "n_images"),
        (["bind", "--model", "nope", "--quiet"], "unknown model 'nope'"),
        (["run", "models/bars.toml", "--steps", "0"], "steps"),
        (["run", "models/bars.toml", "--images", "0", "--steps", "54"], "n_images"),
        (["column", "--steps", "0"], "steps"),
        (["column", "--steps", "5", "--image", "nope"], "unknown data set 'nope'"),
        (["train", "--dataset", "mnist_shape", "--quiet"], "no single-object images"),
        (["train", "--dataset", "nope", "--quiet"], "unknown data set 'nope'"),
        (["train", "--dataset", "bars", "--device", "bogus", "--quiet"], "not a torch device"),
        (["train", "--dataset", "bars", "--epochs", "0", "--quiet"], "epochs"),
        (["train", "--dataset", "bars", "--seed", "-1", "--quiet"], "seed"),
        (["train", "--dataset", "bars", "--model", "bars", "--quiet"], "not both"),
        (["train", "--quiet"], "neither"),
        (["sweep", "S", "--out", "O", "--scheduler", "notanaddress", "--quiet"],
         "not a Dask scheduler address"),
        (["sweep", "S", "--out", "O", "--scheduler", "tcp://x:notaport", "--quiet"],
         "not a Dask scheduler address"),
    ],
)
def test_bad_arguments(argv, match, tmp_path, capsys):
    (tmp_path / "s.toml").write_text('models = ["bars"]\nseeds = [1]\nimages = 2\n')
    argv = [{"S": str(tmp_path / "s.toml"), "O": str(tmp_path / "o")}.get(a, a) for a in argv]
    _one_line(argv, tmp_path, capsys, match)


def test_train_cuda_without_cuda(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    _one_line(["train", "--dataset", "bars", "--out", str(tmp_path / "w.pt"), "--device", "cuda",
               "--quiet"], tmp_path, capsys, "CUDA is not available")


def test_huge_image_count_refused_at_once_with_what_fits(tmp_path, capsys, monkeypatch):
    """--images 10**9: refused before any image is generated, naming the memory it needs (a
    lower bound: image, truth, labels and one cycle of float32 attention per pixel) and the most
    that fit in the memory available."""
    import hnnbio.binding.bind as bind_module
    import hnnbio.data.datasets

    program = tmp_path / "bars.hnnc"
    assert main(["export", "-o", str(program)]) == 0
    capsys.readouterr()

    def never(*args, **kwargs):
        raise AssertionError("images generated before the size was checked")

    monkeypatch.setattr(hnnbio.data.datasets, "generate", never)
    monkeypatch.setattr(bind_module, "available_memory", lambda: 8 * 10**9)
    err = _one_line(["bind", "--images", str(10**9), "--quiet"], tmp_path, capsys, "n_images")
    each = 400 * (1 + 2 + 8 + 4 * 54)  # Bars: 400 pixels, D = 54
    assert f"at most {8 * 10**9 // each} fit" in err and "8 GB are available" in err
    assert "90.8 TB" in err  # 10**9 * 90 800 bytes
    _one_line(["run", "models/bars.toml", "--images", str(10**9), "--steps", "54"], tmp_path,
              capsys, "at most")
    _one_line(["emulate", str(program), "--images", str(10**9), "--quiet"], tmp_path, capsys,
              f"at most {8 * 10**9 // each} fit")


def test_the_memory_check_and_the_batch_follow_the_memory_available():
    from hnnbio.binding.bind import SPIKE_BYTES, batch_fit, bytes_per_image, check_memory
    from hnnbio.binding.spec import load_spec
    from hnnbio.errors import ParameterError

    spec = load_spec("bars")
    each = bytes_per_image(spec)
    check_memory(spec, 100, available=100 * each)  # exactly fits
    with pytest.raises(ParameterError, match="at most 99 fit"):
        check_memory(spec, 100, available=100 * each - 1)
    worst = 400 * 50 * 54 * SPIKE_BYTES  # a spike in every step of every pixel, 50 cycles
    assert batch_fit(spec, 50, available=2 * worst * 7) == 7
    assert batch_fit(spec, 50, available=10) == 1


def test_column_plot_existing_folder_and_file(tmp_path, capsys):
    (tmp_path / "r.png").write_text("mine")
    _one_line(["column", "--steps", "5", "--plot", str(tmp_path)], tmp_path, capsys, "folder")
    _one_line(["column", "--steps", "5", "--plot", str(tmp_path / "r.png")], tmp_path, capsys,
              "--overwrite")
    _one_line(["column", "--steps", "5", "--plot", str(tmp_path / "r.txt")], tmp_path, capsys,
              ".png")
    assert (tmp_path / "r.png").read_text() == "mine"


@pytest.mark.parametrize("name", ["neutnn-digits", "hifi-digits"])
@pytest.mark.parametrize("how", ["nir", "export"])
def test_models_whose_experiment_builds_the_neurons_have_no_nir(name, how, tmp_path, capsys):
    # their files hold no populations: NIR refuses them by name instead of 'no population' or
    # 'got Program'
    model, out = str(ROOT / "models" / f"{name}.toml"), str(tmp_path / "m.nir")
    argv = (["nir", "export", model, "-o", out] if how == "nir" else
            ["export", "--model", model, "--format", "nir", "-o", out])
    err = _one_line(argv, tmp_path, capsys, "NIR cannot carry")
    assert "not populations of the graph" in err


def test_an_error_caused_by_ctrl_c_reads_as_the_interrupt(monkeypatch, capsys):
    # Ctrl+C also kills the C compiler Brian2 may be running; Brian2 then raises a compilation
    # error, not KeyboardInterrupt. The CLI notes the signal: status 130, "interrupted", as for
    # an interrupt anywhere else. Without the signal the same error is a bug and propagates.
    import signal

    import hnnbio.cli as cli

    def compiling(args):
        try:
            os.kill(os.getpid(), signal.SIGINT)  # the handler in place raises KeyboardInterrupt
        except KeyboardInterrupt:
            pass  # caught inside the library, which reports its own failure instead
        raise RuntimeError("error compiling extension")

    monkeypatch.setattr(cli, "cmd_info", compiling)
    assert main(["info"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"

    def failing(args):
        raise RuntimeError("error compiling extension")

    monkeypatch.setattr(cli, "cmd_info", failing)
    with pytest.raises(RuntimeError, match="compiling"):
        main(["info"])


def test_a_closed_pipe_ends_quietly(monkeypatch):
    # `hnnbio chip dump X | head`: the reader closes the pipe; the command ends with status 0
    # and nothing more on stderr (the Ctrl+C rule above must not take this exception first)
    import io

    import hnnbio.cli as cli

    def writing(args):
        raise BrokenPipeError

    monkeypatch.setattr(cli, "cmd_info", writing)
    stderr = io.StringIO()
    monkeypatch.setattr(cli.sys, "stderr", stderr)
    assert main(["info"]) == 0
    assert stderr.closed


def test_a_run_refused_after_its_groups_were_built_prints_one_line(tmp_path):
    """The engine refuses a window on a threshold-less population after Brian2 built the
    groups; at exit Brian2 used to add a warning per group never run (several lines each)."""
    import subprocess
    import sys

    import numpy as np

    model = tmp_path / "bad.toml"
    model.write_text('''name = "bad"
[simulation]
dt = "1 ms"
steps = 5
[inputs.img]
size = 2
[populations.drive]
size = 2
equations = "dv/dt = (60*mV * x - v) / (5*ms) : volt\\nx : 1"
threshold = "v > 20*mV"
reset = "v = 0*mV"
input = "img"
input_variable = "x"
[populations.total]
size = 2
equations = "v : volt"
[networks.net]
factory = "torch.nn:Identity"
inputs = ["win"]
[units.win]
source = "total"
target = "net"
window = 2
''')
    np.save(tmp_path / "x.npy", np.ones((1, 2)))
    run = subprocess.run([sys.executable, "-m", "hnnbio.cli", "run", str(model), "--input",
                          str(tmp_path / "x.npy")], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip() == ("hnnbio run: error: win: its source 'total' has no "
                                  "threshold, so no spikes for the unit to read"), run.stderr
