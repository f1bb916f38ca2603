"""``hnnbio nir import`` and ``hnnbio nir export``: the command-line side of :mod:`hnnbio.nir`.

    hnnbio nir import FILE.nir --dt 0.1ms -o FILE.toml [--steps N] [--overwrite]
    hnnbio nir export FILE.toml -o FILE.nir [--strict] [--overwrite]

:func:`add_parser` adds the ``nir`` command to the CLI's subparsers; :func:`run` runs it (the
CLI prints an :class:`~hnnbio.errors.HnnbioError` as one line, exit status 2). Outputs are
checked before any work and written atomically, so a refused file writes nothing.
"""

from __future__ import annotations

import json
import warnings


def add_parser(subparsers, model=None) -> None:
    """Add ``nir`` (with ``import`` and ``export``) to an argparse subparsers object.
    ``model``: the function giving what ``export`` writes for a file (the CLI gives the
    experiment's trained graph, as ``hnnbio export`` compiles it); else the file itself."""
    text = "NIR both ways: import a NIR graph as an HNN file, export an HNN's spiking part"
    p = subparsers.add_parser("nir", help=text, description=text)
    sub = p.add_subparsers(dest="nir_command", required=True, metavar="NIR_COMMAND")
    i = sub.add_parser("import", help="NIR graph (.nir) -> HNN file (.toml)",
                       description="NIR graph (.nir) -> HNN file (.toml) that `hnnbio run` "
                       "simulates in Brian2")
    i.add_argument("file", help="a NIR file (HDF5, written by nir.write)")
    i.add_argument("--dt", required=True, help="simulation step (NIR carries none), e.g. 0.1ms")
    i.add_argument("-o", "--output", required=True, help="HNN file to write (.toml)")
    i.add_argument("--steps", type=int, default=None, help="default run length in steps")
    i.add_argument("--overwrite", action="store_true", help="replace an existing file")
    e = sub.add_parser("export", help="HNN file (.toml) -> NIR graph (.nir)",
                       description="HNN file (.toml) -> NIR graph (.nir) of its spiking part")
    e.add_argument("file", help="an HNN file (.toml)")
    e.add_argument("-o", "--output", required=True, help="NIR file to write (.nir)")
    e.add_argument("--strict", action="store_true",
                   help="refuse networks and hybrid units instead of leaving them out")
    e.add_argument("--overwrite", action="store_true", help="replace an existing file")
    e.set_defaults(model=model)
    for q in (i, e):
        q.add_argument("--json", action="store_true",
                       help="also print the result as one JSON object on the last line")
        q.set_defaults(func=run)


def run(args) -> int:
    """Run ``hnnbio nir import`` or ``hnnbio nir export``; print the summary; return 0."""
    if args.nir_command == "import":
        from hnnbio.nir.reader import import_nir

        rows = import_nir(args.file, args.dt, args.output, steps=args.steps,
                          overwrite=args.overwrite)
        title = f"nir import: {args.file}"
    else:
        from hnnbio.nir.writer import write_nir

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # left_out is printed below
            model = args.file if args.model is None else args.model(args.file)
            rows = write_nir(model, args.output, strict=args.strict,
                             overwrite=args.overwrite)
        rows["left_out"] = "; ".join(rows["left_out"]) or "nothing"
        title = f"nir export: {args.file}"
    print(title)
    width = max(len(k) for k in rows)
    for key, value in rows.items():
        print(f"  {key:<{width}}  {value}")
    if getattr(args, "json", False):
        print(json.dumps(rows, default=float))
    return 0
