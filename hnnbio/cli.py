"""The `hnnbio` command: thin subcommands over library functions.

Each subcommand parses its arguments and calls one library function. Results are printed as a table;
with ``--json`` the last line of stdout is one JSON object. Errors of hnnbio (``HnnbioError``) are
printed as one line on stderr, with exit status 2; output paths are checked before any work
starts. Ctrl+C (SIGINT) and SIGTERM end a command with status 130 and 143 through an exception, so
that every command's cleanup runs (``bind`` removes its hidden temporary folder).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading

from hnnbio.errors import HnnbioError


def _objects(text: str) -> int:
    """``--objects K``: a positive integer (argparse prints the message, exit status 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _print_table(rows: dict, title: str | None = None) -> None:
    if title:
        print(title)
    width = max((len(str(k)) for k in rows), default=0)
    for key, value in rows.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        print(f"  {str(key):<{width}}  {value}")


def _report(rows: dict, as_json: bool, title: str | None = None) -> None:
    _print_table(rows, title)
    if as_json:
        print(json.dumps(rows, default=float))


# --- subcommands -----------------------------------------------------------------------------


def cmd_info(args) -> int:
    from hnnbio.info import versions

    _report(versions(), args.json, "hnnbio")
    return 0


@contextlib.contextmanager
def _interrupts_end_runs():
    """Brian2 turns Ctrl+C during a run into "stop the run here"; a command would then score and
    write a truncated run. Interrupted is interrupted: while a command runs, the exception ends
    it (and its cleanup runs); the user's preference comes back after."""
    from brian2 import prefs

    stop = prefs.core.stop_on_keyboard_interrupt
    prefs.core.stop_on_keyboard_interrupt = False
    try:
        yield
    finally:
        prefs.core.stop_on_keyboard_interrupt = stop


def cmd_run(args) -> int:
    from hnnbio.run import run_file

    with _interrupts_end_runs():
        rows = run_file(args.file, steps=args.steps, input=args.input, backend=args.backend,
                        out=args.out, seed=args.seed, device=args.device, images=args.images)
    counts = rows.pop("spike_counts", None)
    _print_table(rows, f"run: {args.file}")
    if counts is not None:
        for name, c in counts.items():
            print(f"  spike_counts.{name}  {c}")
        rows["spike_counts"] = counts
    if args.json:
        print(json.dumps(rows, default=float))
    return 0


def cmd_column(args) -> int:
    from hnnbio.experiments.column_demo import run_column_demo
    from hnnbio.outputs import check_file

    if args.plot is not None:
        check_file(args.plot, args.overwrite, what="plot")
    with _interrupts_end_runs():
        rows = run_column_demo(image=args.image, steps=args.steps, plot=args.plot,
                               seed=args.seed, overwrite=args.overwrite)
    _report(rows, args.json, "column sheet")
    return 0


def cmd_train(args) -> int:
    from hnnbio.binding.training import train_model

    rows = train_model(
        args.model,
        dataset=args.dataset,
        out=args.out,
        overwrite=args.overwrite,
        epochs=args.epochs,
        seed=args.seed,
        n_images=args.n_images,
        progress=not args.quiet,
        device=args.device,
    )
    _report(rows, args.json, "training")
    return 0


def cmd_bind(args) -> int:
    from hnnbio.binding.bind import run_bind

    with _interrupts_end_runs():
        result = run_bind(
            args.model,
            n_images=args.images,
            seed=args.seed,
            out=args.out,
            batch_size=args.batch_size,
            cycles=args.cycles,
            progress=not args.quiet,
            overwrite=args.overwrite,
            input=args.input,
            objects=args.objects,
            truth=args.truth,
        )
    summary = result.summary()
    if args.input is not None:
        values = result.info["input"]["values"]
        if values != "binary values":
            print(f"hnnbio bind: {args.input}: {values}", file=sys.stderr)
        if "objects" in result.info:  # estimated from the spikes
            summary["objects_found"] = result.info["objects"]
    _report(summary, args.json, f"binding: {args.model}")
    return 0


def cmd_analyze(args) -> int:
    from hnnbio.analysis.report import write_report

    rows = write_report(args.result, args.out, overwrite=args.overwrite, progress=not args.quiet)
    _report(rows, args.json, "analysis report")
    return 0


def cmd_export(args) -> int:
    from hnnbio.chip.compiler import export
    from hnnbio.outputs import check_file
    from hnnbio.run import chip_model

    check_file(args.output, args.overwrite, what="output", parents=False)
    model = chip_model(args.model)  # an experiment's trained graph (its weights in place)
    if args.format == "nir":  # the spiking part, as `hnnbio nir export` writes it
        from hnnbio.chip.lower import load_graph
        from hnnbio.chip.program import Program
        from hnnbio.nir import write_nir

        # an experiment that compiles its own neurons gives a program: write_nir refuses it
        graph = model if isinstance(model, Program) else load_graph(model)
        rows = write_nir(graph, args.output, overwrite=args.overwrite)
    else:
        rows = export(model, args.output, overwrite=args.overwrite)
    _report(rows, args.json, "export")
    return 0


def _nir_model(path):
    """What ``hnnbio nir export FILE`` writes: the trained graph of an experiment model (its
    weights in place, as ``hnnbio export`` compiles it), else the file."""
    from pathlib import Path

    from hnnbio.nir.writer import check_graph_file
    from hnnbio.run import chip_model

    check_graph_file(Path(path))  # a model whose experiment builds its own neurons: by name
    return chip_model(path)


def cmd_emulate(args) -> int:
    from hnnbio.binding.emulate import emulate_program
    from hnnbio.hnn.engine import check_seed

    check_seed(args.seed)  # before the program is read (emulate_program's own check is not)
    _check_emulated_images(args.program, args.images)
    result = emulate_program(
        args.program,
        n_images=args.images,
        seed=args.seed,
        batch_size=args.batch_size,
        progress=not args.quiet,
        cycles=args.cycles,
    )
    rows = result.summary()
    rows.update(result.info.get("counters", {}))
    _report(rows, args.json, f"emulator: {args.program}")
    return 0


def _check_emulated_images(program, n_images) -> None:
    """``--images 10**9``: refused before the images are generated, as for bind."""
    import numpy as np

    from hnnbio.binding.bind import check_images_fit, image_bytes
    from hnnbio.chip.program import load_program

    if isinstance(n_images, int) and n_images >= 1:
        manifest = load_program(program).manifest
        n_pixels = int(np.prod(manifest["model"]["image_shape"]))
        each = image_bytes(n_pixels, int(manifest["loop"]["steps_per_cycle"]))
        check_images_fit(n_images, each, manifest["model"]["name"])


def cmd_chip_dump(args) -> int:
    from hnnbio.chip.program import dump

    print(dump(args.program))
    return 0


def cmd_sweep(args) -> int:
    from hnnbio.sweep import run_sweep

    rows = run_sweep(
        args.spec, args.out, scheduler=args.scheduler, resume=args.resume, progress=not args.quiet
    )
    _report(rows, args.json, "sweep")
    return 0


# --- parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hnnbio",
        description="Hybrid neural networks: Brian2 spiking sheets + PyTorch networks through "
        "hybrid units; cortical binding by synchrony; chip export and emulation.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, func, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        p.add_argument(
            "--json",
            action="store_true",
            help="also print the result as one JSON object on the last line",
        )
        return p

    add(
        "info",
        cmd_info,
        "print versions of hnnbio, Brian2, PyTorch, Elephant, Neo and the Brian2 target",
    )

    p = add("run", cmd_run, "run any HNN file (models/*.toml or your own) on its default input "
            "or yours")
    p.add_argument("file", help="an HNN file (.toml), e.g. models/bars.toml")
    p.add_argument("--steps", type=int, default=None,
                   help="run length in steps (binding: rounded up to whole cycles)")
    p.add_argument("--input", default=None, metavar="X.npy",
                   help="input array: (B, size) or (B, T, size); binding: (B, H, W) images")
    p.add_argument("--backend", default="brian2", choices=("brian2", "emulator"),
                   help="back end (default: brian2, the Brian2 + PyTorch engine; emulator: the "
                   "graph compiled and run on the chip emulator: spiking and hybrid graphs, "
                   "binding and the experiment models)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="write result.npz and result.nix into this new folder")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--device", default="cpu", help="torch device of the networks (default: cpu)")
    p.add_argument("--images", type=int, default=16,
                   help="binding models: images generated from the model's data set; digits "
                   "models: the first this many of the evaluation split (397 in all); tracking "
                   "models: evaluation streams (default: 16)")

    p = add("column", cmd_column, "run a cortical column sheet on a sample image and plot a raster")
    p.add_argument(
        "--image", default="shapes", help="data set of the sample image (default: shapes)"
    )
    p.add_argument("--steps", type=int, default=200, help="time steps to simulate (default: 200)")
    p.add_argument("--plot", default=None, metavar="PNG", help="write the spike raster to this PNG")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --plot file")

    p = add("train", cmd_train, "train a denoising autoencoder on single-object images")
    p.add_argument(
        "--dataset",
        default=None,
        help="data set with single-object images (bars, shapes, corners); the shipped model of "
        "that name gives the settings",
    )
    p.add_argument(
        "--model", default=None, help="model spec (name or .toml) whose autoencoder to train"
    )
    p.add_argument("--out", default=None, help="weights file to write (default: the spec's own, "
                   "e.g. the shipped weights: needs --overwrite)")
    p.add_argument("--epochs", type=int, default=None, help="override the spec's epochs")
    p.add_argument("--n-images", type=int, default=None, help="override the spec's training images")
    p.add_argument("--seed", type=int, default=None, help="override the spec's training seed")
    p.add_argument(
        "--device", default="cpu", help="torch device to train on, e.g. cpu or cuda (default: cpu)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing weights file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = add("bind", cmd_bind, "run binding by synchrony on generated multi-object images or "
            "your own")
    p.add_argument("--model", default="bars", help="model spec name or .toml path (default: bars)")
    p.add_argument("--images", type=int, default=16, help="number of images (default: 16)")
    p.add_argument("--input", default=None, metavar="FILE", help="your images instead of "
                   "generated ones: a .npy (B, H, W) of 0/1 (bool, or uint8 0/255), a PNG or a "
                   "folder of PNGs, of the model's image size")
    p.add_argument("--objects", type=_objects, default=None, metavar="K", help="objects per "
                   "image for the readout (default: from --truth, else estimated from the spikes)")
    p.add_argument("--truth", default=None, metavar="FILE", help="labels of --input (.npy of "
                   "the images' shape, 0 background, 1..K objects): the result is scored")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the images and the run (default: 0)"
    )
    p.add_argument("--batch-size", type=int, default=None, help="images simulated together")
    p.add_argument("--cycles", type=int, default=None, help="override the spec's number of cycles")
    p.add_argument(
        "--out", default=None, metavar="DIR", help="write the result, a NIX file and figures here "
        "(a new or empty folder)"
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace the result in an existing --out"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = add("analyze", cmd_analyze, "write a synchrony report (markdown + PNG) for a saved result")
    p.add_argument("result", help="a result file (result.npz written by `hnnbio bind --out`)")
    p.add_argument("--out", default="report", metavar="DIR", help="report folder (default: report)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = add("export", cmd_export, "compile a model into a chip program (or NIR)")
    p.add_argument("--model", default="bars", help="model spec name or .toml path (default: bars)")
    p.add_argument("-o", "--output", required=True, help="program file to write (.hnnc), or "
                   "NIR graph (.nir) of the spiking part with --format nir")
    p.add_argument("--format", choices=("hnnc", "nir"), default="hnnc", help="output format")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")

    p = add("emulate", cmd_emulate, "run a chip program on the bundled emulator and score binding")
    p.add_argument("program", help="a program file written by `hnnbio export`")
    p.add_argument("--images", type=int, default=16, help="number of images (default: 16)")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the images and the run (default: 0)"
    )
    p.add_argument("--batch-size", type=int, default=None, help="images emulated together")
    p.add_argument(
        "--cycles", type=int, default=None, help="override the program's number of cycles"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = add("chip", None, "chip program tools")
    chip_sub = p.add_subparsers(dest="chip_command", required=True, metavar="CHIP_COMMAND")
    d = chip_sub.add_parser(
        "dump",
        help="print a program file as readable text",
        description="print a program file as readable text",
    )
    d.add_argument("program", help="a program file written by `hnnbio export`")
    d.set_defaults(func=cmd_chip_dump)

    from hnnbio.nir.commands import add_parser as add_nir

    add_nir(sub, model=_nir_model)  # hnnbio nir import / export (hnnbio/nir/commands.py)

    p = add("sweep", cmd_sweep, "run many binding/emulation/analysis jobs on Dask")
    p.add_argument(
        "spec", help='sweep spec (TOML), e.g. models = ["bars"], seeds = [1, 2], images = 8'
    )
    p.add_argument(
        "--out", required=True, metavar="DIR", help="results folder (one file per shard)"
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="address of a running dask.distributed scheduler (default: a LocalCluster)",
    )
    p.add_argument("--resume", action="store_true", help="continue a sweep already in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as an exception so that cleanup code runs (status 143)."""


def _terminate(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def _sigterm_raises():
    """While a command runs, SIGTERM raises :class:`Terminated` (Python's default would end the
    process at once, leaving temporary files behind); the previous handler comes back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


_SIGINT = threading.Event()  # set when Ctrl+C reached this process during a command


@contextlib.contextmanager
def _sigint_noted():
    """While a command runs, note every SIGINT before the handler in place (Python's, or
    Brian2's wrapper of it) handles it. Ctrl+C reaches the whole process group, so the C
    compiler Brian2 may be running for its Cython target dies of it too, and Brian2 reports a
    failed compilation (an Exception) instead of the interrupt: with the note, main reads such
    an error as the interrupt it is."""
    _SIGINT.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def noted(signum, frame):
        _SIGINT.set()
        if callable(previous):
            return previous(signum, frame)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, noted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _quiet_unrun_objects() -> None:
    """A command that ends early leaves Brian2 objects built and never run; Brian2 warns about
    each one as it is deleted at exit, several lines of noise after the one-line error."""
    if "brian2" in sys.modules:
        from brian2.utils.logger import BrianLogger

        BrianLogger.suppress_name("unused_brian_object")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _sigterm_raises(), _sigint_noted():
            return args.func(args)
    except HnnbioError as exc:
        _quiet_unrun_objects()
        print(f"hnnbio {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Terminated:
        _quiet_unrun_objects()
        print("terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        _quiet_unrun_objects()
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `hnnbio chip dump X | head`
        sys.stderr.close()
        return 0
    except Exception:  # after BrokenPipeError, itself an Exception
        if _SIGINT.is_set():  # e.g. Brian2's compiler, killed by the same Ctrl+C
            print("interrupted", file=sys.stderr)
            return 130
        raise


if __name__ == "__main__":
    raise SystemExit(main())
